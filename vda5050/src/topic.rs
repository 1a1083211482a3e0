//! MQTT topics: `interfaceName/majorVersion/manufacturer/serialNumber/topic`.

use core::fmt;

use crate::version::Major;

/// The last level of a topic: which message it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// `order`: master control → vehicle.
    Order,
    /// `instantActions`: master control → vehicle.
    InstantActions,
    /// `state`: vehicle → master control.
    State,
    /// `visualization`: vehicle → master control (higher rate, not for control).
    Visualization,
    /// `connection`: vehicle (and its broker's last will) → master control.
    Connection,
    /// `factsheet`: vehicle → master control.
    Factsheet,
    /// `responses` (3.0 only): master control → vehicle, answers to the vehicle's requests.
    Responses,
    /// `zoneSet` (3.0 only): master control → vehicle.
    ZoneSet,
}

impl TopicKind {
    /// Every kind.
    pub const ALL: [TopicKind; 8] = [
        TopicKind::Order,
        TopicKind::InstantActions,
        TopicKind::State,
        TopicKind::Visualization,
        TopicKind::Connection,
        TopicKind::Factsheet,
        TopicKind::Responses,
        TopicKind::ZoneSet,
    ];

    /// The topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Order => "order",
            TopicKind::InstantActions => "instantActions",
            TopicKind::State => "state",
            TopicKind::Visualization => "visualization",
            TopicKind::Connection => "connection",
            TopicKind::Factsheet => "factsheet",
            TopicKind::Responses => "responses",
            TopicKind::ZoneSet => "zoneSet",
        }
    }

    /// Whether the major version has this topic (`responses` and `zoneSet` came with 3.0).
    pub fn exists_in(self, major: Major) -> bool {
        !matches!(
            (self, major),
            (TopicKind::Responses | TopicKind::ZoneSet, Major::V2)
        )
    }

    /// Whether the vehicle publishes it (else master control does).
    pub fn from_vehicle(self) -> bool {
        matches!(
            self,
            TopicKind::State
                | TopicKind::Visualization
                | TopicKind::Connection
                | TopicKind::Factsheet
        )
    }

    fn parse(s: &str) -> Option<TopicKind> {
        TopicKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A topic of one vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The first level, the same for a whole installation (`uagv` in the specification's
    /// examples).
    pub interface_name: String,
    /// The major version.
    pub major: Major,
    /// The vehicle's manufacturer.
    pub manufacturer: String,
    /// The vehicle's serial number.
    pub serial_number: String,
    /// Which message.
    pub kind: TopicKind,
}

/// Why a topic was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not five levels.
    #[error("topic {0:?}: not interfaceName/majorVersion/manufacturer/serialNumber/topic")]
    Shape(String),
    /// The second level is not `v2` or `v3`.
    #[error("topic {0:?}: major version not v2 or v3")]
    Major(String),
    /// The last level is not a VDA 5050 topic of that major version.
    #[error("topic {0:?}: not a VDA 5050 topic of its major version")]
    Kind(String),
    /// A level is empty or holds an MQTT wildcard or a NUL.
    #[error("{what} {value:?}: empty, or holds '/', '+', '#' or NUL")]
    Level {
        /// Which level.
        what: &'static str,
        /// Its value.
        value: String,
    },
}

/// Checks one topic level (no separators, no wildcards, not empty).
fn level(what: &'static str, value: &str) -> Result<(), TopicError> {
    if value.is_empty() || value.contains(['/', '+', '#', '\0']) {
        return Err(TopicError::Level {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

impl Topic {
    /// A vehicle's topic; refused when a level is empty or holds a separator or wildcard, or the
    /// kind does not exist in the major version.
    pub fn new(
        interface_name: &str,
        major: Major,
        manufacturer: &str,
        serial_number: &str,
        kind: TopicKind,
    ) -> Result<Topic, TopicError> {
        level("interface name", interface_name)?;
        level("manufacturer", manufacturer)?;
        level("serial number", serial_number)?;
        let topic = Topic {
            interface_name: interface_name.to_owned(),
            major,
            manufacturer: manufacturer.to_owned(),
            serial_number: serial_number.to_owned(),
            kind,
        };
        if !kind.exists_in(major) {
            return Err(TopicError::Kind(topic.to_string()));
        }
        Ok(topic)
    }

    /// Reads a topic name as received from the broker.
    pub fn parse(name: &str) -> Result<Topic, TopicError> {
        let levels: Vec<&str> = name.split('/').collect();
        let [interface, major, manufacturer, serial, kind] = levels[..] else {
            return Err(TopicError::Shape(name.to_owned()));
        };
        let major = Major::parse(major).ok_or_else(|| TopicError::Major(name.to_owned()))?;
        let kind = TopicKind::parse(kind).ok_or_else(|| TopicError::Kind(name.to_owned()))?;
        Topic::new(interface, major, manufacturer, serial, kind)
    }

    /// The subscription to one kind of message of every vehicle of a major version
    /// (`uagv/v2/+/+/state`).
    pub fn subscription(interface_name: &str, major: Major, kind: TopicKind) -> String {
        format!("{interface_name}/{}/+/+/{}", major.as_str(), kind.as_str())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/{}",
            self.interface_name,
            self.major.as_str(),
            self.manufacturer,
            self.serial_number,
            self.kind.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_reads_back_what_it_writes() {
        for kind in TopicKind::ALL {
            for major in [Major::V2, Major::V3] {
                let t = Topic::new("uagv", major, "Acme Robotics", "SN-0001", kind);
                if !kind.exists_in(major) {
                    assert!(matches!(t, Err(TopicError::Kind(_))));
                    continue;
                }
                let t = t.unwrap();
                assert_eq!(Topic::parse(&t.to_string()), Ok(t));
            }
        }
        assert_eq!(
            Topic::parse("uagv/v2/KIT/0001/state").unwrap().to_string(),
            "uagv/v2/KIT/0001/state"
        );
        assert_eq!(
            Topic::subscription("uagv", Major::V3, TopicKind::Connection),
            "uagv/v3/+/+/connection"
        );
    }

    #[test]
    fn malformed_topics_are_refused() {
        for bad in [
            "",
            "uagv/v2/KIT/0001",
            "uagv/v2/KIT/0001/state/extra",
            "uagv/v1/KIT/0001/state",
            "uagv/v2/KIT/0001/State",
            "uagv/v2/KIT/0001/zoneSet",
            "uagv/v2//0001/state",
            "uagv/v2/KIT/+/state",
            "uagv/v2/KIT/#/state",
            "/v2/KIT/0001/state",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
        assert!(TopicKind::State.from_vehicle() && !TopicKind::Order.from_vehicle());
    }
}
