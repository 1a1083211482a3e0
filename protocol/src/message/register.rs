//! AGV registration: identity, dimensions, capabilities.

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::wire_struct;
use crate::types::{ActuatorType, AgvType, Extension, NavigationMode, ResultCode};

wire_struct! {
    check = Footprint::check, generated = Footprint::make_valid;
    /// The AGV's footprint: the rectangle enclosing body and load, relative to its control
    /// point (rotation centre), metres. `front` and `rear` are along the heading, `left` and
    /// `right` across it; all are non-negative distances from the control point, and the
    /// rectangle has a length (`front + rear > 0`) and a width (`left + right > 0`).
    pub struct Footprint {
        /// Distance to the front edge, m.
        pub front: f32,
        /// Distance to the rear edge, m.
        pub rear: f32,
        /// Distance to the left edge, m.
        pub left: f32,
        /// Distance to the right edge, m.
        pub right: f32,
        /// Height, m.
        pub height: f32,
    }
}

impl Footprint {
    fn check(&self) -> Result<(), &'static str> {
        let dims = [self.front, self.rear, self.left, self.right, self.height];
        if dims.iter().any(|d| *d < 0.0) {
            return Err("negative footprint dimension");
        }
        if self.front + self.rear <= 0.0 || self.left + self.right <= 0.0 {
            return Err("a footprint needs a length and a width");
        }
        Ok(())
    }

    #[cfg(feature = "arbitrary")]
    fn make_valid(&mut self) {
        for d in [
            &mut self.front,
            &mut self.rear,
            &mut self.left,
            &mut self.right,
            &mut self.height,
        ] {
            *d = d.abs();
        }
        if self.front + self.rear <= 0.0 {
            self.front = 0.5;
        }
        if self.left + self.right <= 0.0 {
            self.left = 0.4;
        }
    }
}

wire_struct! {
    /// Kinematic limits.
    pub struct SpeedLimits {
        /// Maximum forward speed, m/s.
        pub forward: f32,
        /// Maximum reverse speed, m/s.
        pub reverse: f32,
        /// Maximum lateral speed, m/s (0 for non-holonomic AGVs).
        pub lateral: f32,
        /// Maximum angular speed, rad/s.
        pub angular: f32,
        /// Maximum linear acceleration, m/s².
        pub acceleration: f32,
        /// Maximum linear deceleration, m/s².
        pub deceleration: f32,
    }
}

wire_struct! {
    /// A map the AGV has on board.
    pub struct MapInfo {
        /// Map id (site model).
        pub map_id: u16,
        /// Map version.
        pub version: u32,
    }
}

wire_struct! {
    /// One actuator of the AGV.
    pub struct ActuatorInfo {
        /// Actuator id, unique on this AGV.
        pub actuator_id: u8,
        /// What it is.
        pub kind: ActuatorType,
        /// Lowest position (m or rad as the actuator moves).
        pub min: f32,
        /// Highest position.
        pub max: f32,
    }
}

wire_struct! {
    /// Battery characteristics.
    pub struct BatteryInfo {
        /// Capacity, Wh.
        pub capacity_wh: f32,
        /// Nominal voltage, V.
        pub nominal_voltage: f32,
    }
}

wire_struct! {
    /// AGV → RCS: registers the AGV. Sent after access; the RCS answers with
    /// [`RegisterResponse`] and then pushes the configuration.
    pub struct RegisterRequest {
        /// AGV type.
        pub agv_type: AgvType,
        /// Manufacturer.
        pub vendor: String,
        /// Model.
        pub model: String,
        /// Serial number.
        pub serial: String,
        /// Firmware version.
        pub firmware: String,
        /// Footprint.
        pub footprint: Footprint,
        /// Kinematic limits.
        pub speeds: SpeedLimits,
        /// Maximum load, kg.
        pub load_capacity_kg: f32,
        /// Navigation modes supported.
        pub navigation_modes: Vec<NavigationMode>,
        /// Maps on board.
        pub maps: Vec<MapInfo>,
        /// Actuators.
        pub actuators: Vec<ActuatorInfo>,
        /// Battery.
        pub battery: BatteryInfo,
        /// Vendor extensions.
        pub extensions: Vec<Extension>,
    }
}

wire_struct! {
    /// RCS → AGV: answers a registration.
    pub struct RegisterResponse {
        /// Sequence number of the registration request.
        pub request_seq: u32,
        /// `Ok`, or why registration is refused.
        pub result: ResultCode,
        /// Version of the configuration that will follow.
        pub config_version: u32,
        /// The RCS clock, UTC ms.
        pub server_time_ms: u64,
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::codec::{Reader, Wire};
    use crate::error::{DecodeError, EncodeError};

    fn bytes(dims: [f32; 5]) -> BytesMut {
        let mut w = BytesMut::new();
        for d in dims {
            d.encode(&mut w).unwrap();
        }
        w
    }

    #[test]
    fn an_implausible_footprint_is_refused_both_ways() {
        for dims in [
            [-1.0, 1e30, 0.4, 0.4, 0.3],
            [0.5, 0.5, -0.1, 0.4, 0.3],
            [0.5, 0.5, 0.4, 0.4, -0.3],
            [0.0, 0.0, 0.4, 0.4, 0.3],
            [0.5, 0.5, 0.0, 0.0, 0.3],
        ] {
            let w = bytes(dims);
            assert!(
                matches!(
                    Footprint::decode(&mut Reader::new(&w)),
                    Err(DecodeError::InvalidValue { .. })
                ),
                "{dims:?}"
            );
            let f = Footprint {
                front: dims[0],
                rear: dims[1],
                left: dims[2],
                right: dims[3],
                height: dims[4],
            };
            assert!(matches!(
                f.encode(&mut BytesMut::new()),
                Err(EncodeError::InvalidValue { .. })
            ));
        }
        // The control point may sit at an edge: zero on one side is fine.
        let w = bytes([0.0, 1.0, 0.4, 0.4, 0.0]);
        assert!(Footprint::decode(&mut Reader::new(&w)).is_ok());
    }
}
