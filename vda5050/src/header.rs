//! The header every VDA 5050 message starts with.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::MessageError;
use crate::version::Version;

/// `headerId`, `timestamp`, `version`, `manufacturer`, `serialNumber`: the same five fields at
/// the top of every message (flattened into it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// Counts up by one per message on the topic, per sender.
    pub header_id: u32,
    /// When the message was created: ISO 8601 in UTC (`2017-04-15T11:40:03.12Z`).
    pub timestamp: String,
    /// The protocol version, `major.minor.patch`.
    pub version: String,
    /// The vehicle's manufacturer.
    pub manufacturer: String,
    /// The vehicle's serial number.
    pub serial_number: String,
}

impl Header {
    /// A header of `version` for a vehicle, stamped at `now_ms` (UTC ms since the epoch).
    pub fn new(
        version: Version,
        header_id: u32,
        now_ms: u64,
        manufacturer: &str,
        serial_number: &str,
    ) -> Header {
        Header {
            header_id,
            timestamp: timestamp(now_ms),
            version: version.as_str().to_owned(),
            manufacturer: manufacturer.to_owned(),
            serial_number: serial_number.to_owned(),
        }
    }

    /// The version the message is written in.
    pub fn version(&self) -> Result<Version, MessageError> {
        Ok(Version::parse(&self.version)?)
    }

    /// The timestamp as UTC ms since the epoch (`None` when it is not ISO 8601 / RFC 3339
    /// with a zone).
    pub fn timestamp_ms(&self) -> Option<u64> {
        let t = OffsetDateTime::parse(&self.timestamp, &Rfc3339).ok()?;
        u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
    }
}

/// UTC ms since the epoch as VDA 5050 writes it: `YYYY-MM-DDTHH:mm:ss.sssZ`.
pub fn timestamp(ms: u64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601_utc_and_read_back() {
        let ms = 1_764_745_203_120;
        let h = Header::new(Version::V2_1, 7, ms, "KIT", "0001");
        assert_eq!(h.timestamp, "2025-12-03T07:00:03.120Z");
        assert_eq!(h.timestamp_ms(), Some(ms));
        let spec = Header {
            timestamp: "2017-04-15T11:40:03.12Z".into(),
            ..h.clone()
        };
        assert_eq!(spec.timestamp_ms(), Some(1_492_256_403_120));
        let bad = Header {
            timestamp: "yesterday".into(),
            ..h
        };
        assert_eq!(bad.timestamp_ms(), None);
    }
}
