//! The versions of VDA 5050 spoken: 2.0, 2.1 and 3.0 (any patch level).

use core::fmt;

/// A version of VDA 5050 (major and minor; patch levels do not change the messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// 2.0.x.
    V2_0,
    /// 2.1.x.
    V2_1,
    /// 3.0.x.
    V3_0,
}

/// The major version, the second level of every topic (`v2`, `v3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Major {
    /// `v2`: 2.0 and 2.1 share their topics.
    V2,
    /// `v3`.
    V3,
}

/// A version this crate does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("VDA 5050 version {0:?} is not supported (2.0.x, 2.1.x and 3.0.x are)")]
pub struct VersionError(pub String);

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 3] = [Version::V2_0, Version::V2_1, Version::V3_0];

    /// The version as written in a header's `version` field (`2.0.0`, `2.1.0`, `3.0.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2_0 => "2.0.0",
            Version::V2_1 => "2.1.0",
            Version::V3_0 => "3.0.0",
        }
    }

    /// The version without its patch level (`2.0`, `2.1`, `3.0`), as agv-sim's
    /// `--vda-version` and the API name it.
    pub fn major_minor(self) -> &'static str {
        match self {
            Version::V2_0 => "2.0",
            Version::V2_1 => "2.1",
            Version::V3_0 => "3.0",
        }
    }

    /// The major version of its topics.
    pub fn major(self) -> Major {
        match self {
            Version::V2_0 | Version::V2_1 => Major::V2,
            Version::V3_0 => Major::V3,
        }
    }

    /// Reads a header's `version` (`major.minor.patch`; `major.minor` is accepted too).
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        let mut parts = s.split('.');
        let number = |p: Option<&str>| {
            p.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u32>().ok())
        };
        let major = number(parts.next());
        let minor = number(parts.next());
        let patch = parts.next();
        let patch_ok = patch.is_none_or(|p| number(Some(p)).is_some());
        if !patch_ok || parts.next().is_some() {
            return Err(VersionError(s.to_owned()));
        }
        match (major, minor) {
            (Some(2), Some(0)) => Ok(Version::V2_0),
            (Some(2), Some(1)) => Ok(Version::V2_1),
            (Some(3), Some(0)) => Ok(Version::V3_0),
            _ => Err(VersionError(s.to_owned())),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Major {
    /// The topic level (`v2`, `v3`).
    pub fn as_str(self) -> &'static str {
        match self {
            Major::V2 => "v2",
            Major::V3 => "v3",
        }
    }

    /// Reads a topic level (`v2`, `v3`).
    pub fn parse(s: &str) -> Option<Major> {
        match s {
            "v2" => Some(Major::V2),
            "v3" => Some(Major::V3),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_with_any_patch_and_refuse_the_rest() {
        assert_eq!(Version::parse("2.0.0"), Ok(Version::V2_0));
        assert_eq!(Version::parse("2.1.3"), Ok(Version::V2_1));
        assert_eq!(Version::parse("3.0"), Ok(Version::V3_0));
        for bad in [
            "", "2", "1.3.2", "2.2.0", "3.1.0", "2.0.x", "2.0.0.0", "v2.0.0", "2..0",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Ok(v));
        }
        assert_eq!(Version::V2_1.major().as_str(), "v2");
        assert_eq!(Major::parse("v3"), Some(Major::V3));
        assert_eq!(Major::parse("v1"), None);
    }
}
