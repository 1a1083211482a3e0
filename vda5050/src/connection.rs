//! `connection`: whether a vehicle is online, published by the vehicle and, as its last will,
//! by the broker when the vehicle's connection breaks.

use serde::{Deserialize, Serialize};

use crate::MessageError;
use crate::header::Header;
use crate::version::Version;

/// A vehicle's connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Connected and working.
    Online,
    /// Disconnected in an orderly way (shutting down, sleeping).
    Offline,
    /// 3.0 only: asleep, reachable for waking.
    Hibernating,
    /// The connection broke (the broker's last will): the vehicle is unreachable.
    ConnectionBroken,
}

impl ConnectionState {
    /// The spelling of `version` (`CONNECTIONBROKEN` in 2.x, `CONNECTION_BROKEN` in 3.0), or
    /// `None` when the version has no such state.
    pub fn as_str(self, version: Version) -> Option<&'static str> {
        let v3 = version == Version::V3_0;
        Some(match self {
            ConnectionState::Online => "ONLINE",
            ConnectionState::Offline => "OFFLINE",
            ConnectionState::Hibernating if v3 => "HIBERNATING",
            ConnectionState::Hibernating => return None,
            ConnectionState::ConnectionBroken if v3 => "CONNECTION_BROKEN",
            ConnectionState::ConnectionBroken => "CONNECTIONBROKEN",
        })
    }

    fn parse(s: &str, version: Version) -> Option<ConnectionState> {
        [
            ConnectionState::Online,
            ConnectionState::Offline,
            ConnectionState::Hibernating,
            ConnectionState::ConnectionBroken,
        ]
        .into_iter()
        .find(|c| c.as_str(version) == Some(s))
    }
}

/// A `connection` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The header; its version decides the state's spelling.
    pub header: Header,
    /// The state.
    pub connection_state: ConnectionState,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(flatten)]
    header: Header,
    connection_state: String,
}

impl Connection {
    /// Reads a message; refused when the state is not one of its version.
    pub fn from_json(bytes: &[u8]) -> Result<Connection, MessageError> {
        let wire: Wire = serde_json::from_slice(bytes)?;
        let version = wire.header.version()?;
        let connection_state =
            ConnectionState::parse(&wire.connection_state, version).ok_or_else(|| {
                MessageError::NotInVersion {
                    field: "connectionState".into(),
                    value: wire.connection_state.clone(),
                    version,
                }
            })?;
        Ok(Connection {
            header: wire.header,
            connection_state,
        })
    }

    /// Writes the message in its header's version.
    pub fn to_json(&self) -> Result<Vec<u8>, MessageError> {
        let version = self.header.version()?;
        let state =
            self.connection_state
                .as_str(version)
                .ok_or_else(|| MessageError::NotInVersion {
                    field: "connectionState".into(),
                    value: format!("{:?}", self.connection_state),
                    version,
                })?;
        Ok(serde_json::to_vec(&Wire {
            header: self.header.clone(),
            connection_state: state.to_owned(),
        })?)
    }
}
