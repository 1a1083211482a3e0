//! Actions: what an order's nodes and edges, and an instant action message, ask a vehicle to do.

use serde::{Deserialize, Serialize};

use crate::MessageError;
use crate::version::Version;

/// `startPause`: the vehicle stops where it is, keeping its order (instant action).
pub const START_PAUSE: &str = "startPause";
/// `stopPause`: the vehicle resumes its order (instant action).
pub const STOP_PAUSE: &str = "stopPause";
/// `cancelOrder`: the vehicle stops and drops its order (instant action).
pub const CANCEL_ORDER: &str = "cancelOrder";
/// `pick`: the vehicle takes a load (node action).
pub const PICK: &str = "pick";
/// `drop`: the vehicle sets a load down (node action).
pub const DROP: &str = "drop";
/// `startCharging`: the vehicle starts charging (node action).
pub const START_CHARGING: &str = "startCharging";
/// `stopCharging`: the vehicle stops charging (node or instant action).
pub const STOP_CHARGING: &str = "stopCharging";
/// `factsheetRequest`: the vehicle publishes its factsheet (instant action).
pub const FACTSHEET_REQUEST: &str = "factsheetRequest";
/// `initPosition`: the vehicle takes the given pose on the given map as where it stands, and
/// the given node as its last (instant action; rcs sends it when a lift car has carried the
/// vehicle to another map).
pub const INIT_POSITION: &str = "initPosition";

/// Whether other actions and driving may run while an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockingType {
    /// Driving and other actions may go on.
    None,
    /// Other actions may go on, driving may not.
    Soft,
    /// 3.0 only: driving may go on, other actions may not.
    Single,
    /// Nothing else, no driving.
    Hard,
}

impl BlockingType {
    fn as_str(self) -> &'static str {
        match self {
            BlockingType::None => "NONE",
            BlockingType::Soft => "SOFT",
            BlockingType::Single => "SINGLE",
            BlockingType::Hard => "HARD",
        }
    }

    /// Whether `version` allows it in an order (`instant`: false) or an instant action
    /// message (3.0 allows only `NONE` there).
    fn allowed(self, version: Version, instant: bool) -> bool {
        match (version, self) {
            (Version::V3_0, BlockingType::None) => true,
            (Version::V3_0, _) => !instant,
            (_, BlockingType::Single) => false,
            _ => true,
        }
    }

    fn parse(s: &str) -> Option<BlockingType> {
        [
            BlockingType::None,
            BlockingType::Soft,
            BlockingType::Single,
            BlockingType::Hard,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

/// One parameter of an action: a key and any JSON value but `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionParameter {
    /// The parameter's name (`loadId`, `stationType`, ...).
    pub key: String,
    /// Its value.
    pub value: serde_json::Value,
}

/// An action, as every version writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// What to do (`pick`, `startPause`, a manufacturer's own type, ...).
    pub action_type: String,
    /// Unique per action (the state reports the action's progress under it).
    pub action_id: String,
    /// Free text for people (`actionDescription` in 2.x, `actionDescriptor` in 3.0).
    pub description: Option<String>,
    /// What may run meanwhile.
    pub blocking_type: BlockingType,
    /// The parameters (none: the field is left out).
    pub parameters: Vec<ActionParameter>,
    /// 3.0, in orders only: whether the vehicle may offer to retry it after it failed.
    pub retriable: Option<bool>,
}

/// An action as the JSON of any version holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAction {
    action_type: String,
    action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_descriptor: Option<String>,
    blocking_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_parameters: Option<Vec<ActionParameter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retriable: Option<bool>,
}

impl Action {
    /// An instant action of `action_type` with no parameters (blocking `NONE`, which every
    /// version allows there).
    pub fn instant(action_type: &str, action_id: &str) -> Action {
        Action {
            action_type: action_type.to_owned(),
            action_id: action_id.to_owned(),
            description: None,
            blocking_type: BlockingType::None,
            parameters: Vec::new(),
            retriable: None,
        }
    }

    /// The action as `version` writes it, at `path` (for errors); `instant`: in an instant
    /// action message rather than an order.
    pub(crate) fn to_wire(
        &self,
        version: Version,
        instant: bool,
        path: &str,
    ) -> Result<WireAction, MessageError> {
        if !self.blocking_type.allowed(version, instant) {
            return Err(MessageError::NotInVersion {
                field: format!("{path}.blockingType"),
                value: self.blocking_type.as_str().to_owned(),
                version,
            });
        }
        if self.retriable.is_some() && (version != Version::V3_0 || instant) {
            return Err(MessageError::NotInVersion {
                field: format!("{path}.retriable"),
                value: format!("{:?}", self.retriable),
                version,
            });
        }
        check_parameters(&self.parameters, path)?;
        let v3 = version == Version::V3_0;
        Ok(WireAction {
            action_type: self.action_type.clone(),
            action_id: self.action_id.clone(),
            action_description: self.description.clone().filter(|_| !v3),
            action_descriptor: self.description.clone().filter(|_| v3),
            blocking_type: self.blocking_type.as_str().to_owned(),
            action_parameters: (!self.parameters.is_empty()).then(|| self.parameters.clone()),
            retriable: self.retriable,
        })
    }

    /// Reads an action of `version` (see [`Action::to_wire`]).
    pub(crate) fn from_wire(
        w: WireAction,
        version: Version,
        instant: bool,
        path: &str,
    ) -> Result<Action, MessageError> {
        let blocking_type = BlockingType::parse(&w.blocking_type)
            .filter(|b| b.allowed(version, instant))
            .ok_or_else(|| MessageError::NotInVersion {
                field: format!("{path}.blockingType"),
                value: w.blocking_type.clone(),
                version,
            })?;
        if w.action_id.is_empty() || w.action_type.is_empty() {
            return Err(MessageError::Invalid {
                field: path.to_owned(),
                reason: "an action needs an actionType and an actionId".into(),
            });
        }
        let parameters = w.action_parameters.unwrap_or_default();
        check_parameters(&parameters, path)?;
        let v3 = version == Version::V3_0;
        Ok(Action {
            action_type: w.action_type,
            action_id: w.action_id,
            description: if v3 {
                w.action_descriptor
            } else {
                w.action_description
            },
            blocking_type,
            parameters,
            // only 3.0's orders have it; elsewhere an unknown field, ignored
            retriable: w.retriable.filter(|_| v3 && !instant),
        })
    }
}

/// Parameters must have a value: the schemas allow any JSON type but `null`.
fn check_parameters(parameters: &[ActionParameter], path: &str) -> Result<(), MessageError> {
    match parameters.iter().position(|p| p.value.is_null()) {
        Some(i) => Err(MessageError::Invalid {
            field: format!("{path}.actionParameters[{i}].value"),
            reason: "null is not a parameter value".into(),
        }),
        None => Ok(()),
    }
}
