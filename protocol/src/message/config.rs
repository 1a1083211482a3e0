//! Global configuration pushed by the RCS.

use alloc::vec::Vec;

use crate::address::RcsAddress;
use crate::codec::wire_struct;
use crate::error::{DecodeError, EncodeError};
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
        /// Extensions. [`Extension::RCS_ADDRESSES`] (at most once) carries the RCS addresses:
        /// read and write it with [`rcs_addresses`](Self::rcs_addresses) and
        /// [`set_rcs_addresses`](Self::set_rcs_addresses).
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
        crate::address::check_extensions(&self.extensions)
    }

    /// The RCS instances the AGV may connect to, in order of preference (the
    /// [`Extension::RCS_ADDRESSES`] extension; docs/protocol.md 4.4). Empty when the push
    /// carries none: the AGV keeps the list it has. Fails only for a value built by hand with a
    /// malformed extension (the decoder refuses those).
    pub fn rcs_addresses(&self) -> Result<Vec<RcsAddress>, DecodeError> {
        match self
            .extensions
            .iter()
            .find(|e| e.key == Extension::RCS_ADDRESSES)
        {
            Some(e) => crate::address::decode_list(&e.value),
            None => Ok(Vec::new()),
        }
    }

    /// Sets the RCS addresses (replacing any there were); an empty list removes the extension.
    /// At most [`MAX_RCS_ADDRESSES`](crate::address::MAX_RCS_ADDRESSES).
    pub fn set_rcs_addresses(&mut self, addresses: &[RcsAddress]) -> Result<(), EncodeError> {
        let extension = if addresses.is_empty() {
            None
        } else {
            Some(crate::address::encode_list(addresses)?)
        };
        self.extensions
            .retain(|e| e.key != Extension::RCS_ADDRESSES);
        self.extensions.extend(extension);
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
            extensions: {
                // any extension but a malformed RcsAddresses, then perhaps a well-formed one
                let mut extensions: Vec<Extension> = Gen::generate(u)?;
                extensions.retain(|e| e.key != Extension::RCS_ADDRESSES);
                if u.arbitrary()? {
                    let list: Vec<RcsAddress> = Gen::generate(u)?;
                    let at = u.int_in_range(0..=extensions.len())?;
                    let ext = crate::address::encode_list(&list).expect("at most 4 addresses");
                    extensions.insert(at, ext);
                }
                extensions
            },
        })
    }
}
#[cfg(feature = "arbitrary")]
crate::arb::arbitrary_via_gen!(ConfigPush);
