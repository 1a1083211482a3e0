//! VDA 5050 for rcs: the topics and messages of VDA 5050 2.0, 2.1 and 3.0 (JSON over MQTT),
//! typed, for the gateway that drives VDA 5050 vehicles from the same traffic core as the
//! guide's AGVs (docs/vda5050.md).
//!
//! Pure: no broker, no clock, no I/O. A message is read with its `from_json` and written with
//! its `to_json`; the version it is read or written in comes from its header (`version`), and
//! what differs between the versions (enumeration spellings, fields that one version renamed or
//! does not have) is mapped here, so the rest of rcs sees one type per message. Every message
//! written validates against the official schema of its version (tests/schemas.rs); one received
//! is refused whole, with a [`MessageError`] naming what is wrong, never applied half.

pub mod action;
pub mod connection;
pub mod factsheet;
pub mod guide;
pub mod header;
pub mod instant;
pub mod master;
pub mod order;
pub mod state;
mod state_wire;
pub mod topic;
pub mod vehicle;
pub mod version;

pub use action::{Action, ActionParameter, BlockingType};
pub use connection::{Connection, ConnectionState};
pub use factsheet::Factsheet;
pub use header::{Header, timestamp};
pub use instant::InstantActions;
pub use master::{Master, MasterEvent, Publish, Sent, VehicleKey};
pub use order::{Edge, Node, NodePosition, Order};
pub use state::State;
pub use topic::{Topic, TopicError, TopicKind};
pub use vehicle::{VehicleEnd, VehicleEvent};
pub use version::{Major, Version, VersionError};

/// Why a received message was refused, or a message could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not JSON, or not the message's shape (a required field missing, a wrong type).
    #[error("not a valid message: {0}")]
    Json(#[from] serde_json::Error),
    /// The header's `version` is not one this crate speaks.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// A value the message's version does not have (an enumeration spelling of another
    /// version, a value 3.0 no longer allows in this place, ...).
    #[error("{field}: {value:?} is not a value of VDA 5050 {version}")]
    NotInVersion {
        /// The field, as a JSON path (`actions[0].blockingType`).
        field: String,
        /// The value found or asked for.
        value: String,
        /// The message's version.
        version: Version,
    },
    /// A field whose value breaks a rule of the specification beyond its type.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as a JSON path.
        field: String,
        /// What is wrong.
        reason: String,
    },
}
