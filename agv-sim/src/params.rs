//! A simulated AGV's parameters (docs/protocol.md, ParamQuery / ParamSet): what `ParamSet`
//! writes is what `ParamQuery` then reads, and the top speed is the one the AGV drives at.

use protocol::message::{Param, ParamResult, ParamValue};
use protocol::types::{ParamType, ResultCode};

/// The parameters of one simulated AGV.
#[derive(Debug, Clone)]
pub struct Params {
    values: Vec<Param>,
}

impl Params {
    /// The defaults of an AGV with top speed `top_speed` (m/s), acceleration `accel` (m/s²)
    /// and the name `name`.
    pub fn new(top_speed: f64, accel: f64, name: String) -> Self {
        use ParamValue::*;
        let values = [
            (ParamType::MaxLinearSpeed, F32(top_speed as f32)),
            (ParamType::MaxReverseSpeed, F32(0.5)),
            (ParamType::MaxAngularSpeed, F32(1.0)),
            (ParamType::LinearAcceleration, F32(accel as f32)),
            (ParamType::LinearDeceleration, F32(1.0)),
            (ParamType::ObstacleStopDistance, F32(0.3)),
            (ParamType::PositionTolerance, F32(0.02)),
            (ParamType::StatusPeriod, U32(100)),
            (ParamType::HeartbeatPeriod, U32(1000)),
            (ParamType::BatteryLowThreshold, F32(20.0)),
            (ParamType::MotionWarning, Bool(true)),
            (
                ParamType::FirmwareVersion,
                Text(env!("CARGO_PKG_VERSION").into()),
            ),
            (ParamType::DisplayName, Text(name)),
        ]
        .into_iter()
        .map(|(param, value)| Param { param, value })
        .collect();
        Self { values }
    }

    /// The values of `wanted` it has (every one for an empty list), in the order asked.
    pub fn query(&self, wanted: &[ParamType]) -> Vec<Param> {
        if wanted.is_empty() {
            return self.values.clone();
        }
        wanted
            .iter()
            .filter_map(|w| self.values.iter().find(|p| p.param == *w).cloned())
            .collect()
    }

    /// Writes `values`, all or nothing: each must be a parameter it has, of its type, not read
    /// only, and (numbers) finite and not negative. Returns the outcome and each one's.
    pub fn set(&mut self, values: &[Param]) -> (ResultCode, Vec<ParamResult>) {
        let results: Vec<ParamResult> = values
            .iter()
            .map(|v| ParamResult {
                param: v.param,
                result: self.check(v),
            })
            .collect();
        if results.iter().any(|r| r.result != ResultCode::Ok) {
            return (ResultCode::InvalidParameter, results);
        }
        for v in values {
            if let Some(p) = self.values.iter_mut().find(|p| p.param == v.param) {
                p.value = v.value.clone();
            }
        }
        (ResultCode::Ok, results)
    }

    fn check(&self, v: &Param) -> ResultCode {
        let Some(current) = self.values.iter().find(|p| p.param == v.param) else {
            return ResultCode::Unsupported;
        };
        if v.param == ParamType::FirmwareVersion {
            return ResultCode::Rejected;
        }
        let same_type = std::mem::discriminant(&current.value) == std::mem::discriminant(&v.value);
        let sane = match v.value {
            ParamValue::F32(x) => x.is_finite() && x >= 0.0,
            _ => true,
        };
        if same_type && sane {
            ResultCode::Ok
        } else {
            ResultCode::InvalidParameter
        }
    }

    /// The top speed it drives at, m/s.
    pub fn top_speed(&self) -> f64 {
        match self.query(&[ParamType::MaxLinearSpeed]).first() {
            Some(Param {
                value: ParamValue::F32(v),
                ..
            }) => f64::from(*v),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_set_is_read_back_and_a_bad_write_changes_nothing() {
        let mut p = Params::new(1.5, 0.8, "sim-7".into());
        assert_eq!(p.top_speed(), 1.5);
        let fast = Param {
            param: ParamType::MaxLinearSpeed,
            value: ParamValue::F32(1.2),
        };
        assert_eq!(p.set(std::slice::from_ref(&fast)).0, ResultCode::Ok);
        assert_eq!(p.query(&[ParamType::MaxLinearSpeed]), vec![fast]);
        assert!((p.top_speed() - 1.2).abs() < 1e-6);
        // all or nothing: one wrong type refuses both
        let (code, results) = p.set(&[
            Param {
                param: ParamType::MaxLinearSpeed,
                value: ParamValue::F32(0.3),
            },
            Param {
                param: ParamType::StatusPeriod,
                value: ParamValue::F32(50.0),
            },
        ]);
        assert_eq!(code, ResultCode::InvalidParameter);
        assert_eq!(results[0].result, ResultCode::Ok);
        assert_eq!(results[1].result, ResultCode::InvalidParameter);
        assert!((p.top_speed() - 1.2).abs() < 1e-6);
        let read_only = Param {
            param: ParamType::FirmwareVersion,
            value: ParamValue::Text("9".into()),
        };
        assert_eq!(p.set(&[read_only]).1[0].result, ResultCode::Rejected);
        assert_eq!(p.query(&[]).len(), 13);
    }
}
