//! `instantActions`: actions the vehicle runs at once, beside or instead of its order (pause,
//! resume, cancel, ...).

use serde::{Deserialize, Serialize};

use crate::MessageError;
use crate::action::{Action, WireAction};
use crate::header::Header;

/// An `instantActions` message.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantActions {
    /// The header; its version decides how the message is written.
    pub header: Header,
    /// The actions, run in this order.
    pub actions: Vec<Action>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(flatten)]
    header: Header,
    actions: Vec<WireAction>,
}

impl InstantActions {
    /// Reads a message; refused whole when anything in it is wrong for its version.
    pub fn from_json(bytes: &[u8]) -> Result<InstantActions, MessageError> {
        let wire: Wire = serde_json::from_slice(bytes)?;
        let version = wire.header.version()?;
        let actions = wire
            .actions
            .into_iter()
            .enumerate()
            .map(|(i, a)| Action::from_wire(a, version, true, &format!("actions[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(InstantActions {
            header: wire.header,
            actions,
        })
    }

    /// Writes the message in its header's version; refused when an action cannot be written in
    /// that version (3.0 runs instant actions only with blocking type `NONE`).
    pub fn to_json(&self) -> Result<Vec<u8>, MessageError> {
        let version = self.header.version()?;
        let actions = self
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| a.to_wire(version, true, &format!("actions[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(serde_json::to_vec(&Wire {
            header: self.header.clone(),
            actions,
        })?)
    }
}
