//! Global configuration pushed by the RCS.

use alloc::vec::Vec;

use crate::codec::wire_struct;
use crate::types::Extension;

wire_struct! {
    /// Alarm thresholds.
    pub struct AlarmParams {
        /// Battery level that raises a low-battery alarm, %.
        pub battery_low_pct: f32,
        /// Battery level at which the AGV refuses new tasks, %.
        pub battery_critical_pct: f32,
        /// Localisation quality (0..=100) below which the AGV stops and raises an alarm.
        pub min_localisation_quality: u8,
        /// Position deviation from the path that raises an alarm, m.
        pub max_path_deviation: f32,
    }
}

wire_struct! {
    check = ConfigPush::check;
    /// RCS → AGV: the global configuration, sent after registration and whenever it changes.
    /// Acknowledged with an [`Ack`](crate::message::Ack); the AGV applies it before acking.
    pub struct ConfigPush {
        /// Configuration version (increases with each change).
        pub config_version: u32,
        /// Status report period, ms (> 0).
        pub status_period_ms: u32,
        /// Heartbeat period, ms (> 0).
        pub heartbeat_period_ms: u32,
        /// Liveness timeout on both sides, ms (> heartbeat period): a side that hears nothing
        /// for this long declares the link lost (the AGV stops).
        pub link_timeout_ms: u32,
        /// Operation-data report period, s (0: only on request).
        pub operation_report_period_s: u32,
        /// Alarm thresholds.
        pub alarms: AlarmParams,
        /// Site-wide maximum linear speed, m/s.
        pub max_linear_speed: f32,
        /// Site-wide maximum angular speed, rad/s.
        pub max_angular_speed: f32,
        /// Extensions.
        pub extensions: Vec<Extension>,
    }
}

impl ConfigPush {
    fn check(&self) -> Result<(), &'static str> {
        if self.status_period_ms == 0 || self.heartbeat_period_ms == 0 {
            return Err("periods must be positive");
        }
        if self.link_timeout_ms <= self.heartbeat_period_ms {
            return Err("link timeout must exceed the heartbeat period");
        }
        Ok(())
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for ConfigPush {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::arb::Gen;
        let heartbeat_period_ms = u.int_in_range(1..=60_000)?;
        Ok(Self {
            config_version: Gen::generate(u)?,
            status_period_ms: u.int_in_range(1..=60_000)?,
            heartbeat_period_ms,
            link_timeout_ms: heartbeat_period_ms + u.int_in_range(1..=60_000)?,
            operation_report_period_s: Gen::generate(u)?,
            alarms: Gen::generate(u)?,
            max_linear_speed: Gen::generate(u)?,
            max_angular_speed: Gen::generate(u)?,
            extensions: Gen::generate(u)?,
        })
    }
}
#[cfg(feature = "arbitrary")]
crate::arb::arbitrary_via_gen!(ConfigPush);
