//! `state`: what a vehicle reports about itself and its order (on every change and at least
//! every 30 s): where it is, how far along its order it got (the last node passed, the nodes
//! and edges still to go), its actions' progress, battery, errors, safety.
//!
//! 2.x and 3.0 spell much of it differently (`agvPosition` / `mobileRobotPosition`,
//! `batteryState` / `powerSupply`, `eStop` / `activeEmergencyStop`, 3.0's separate
//! `instantActionStates`); this is one type for all three. Not carried: `information`,
//! trajectories, node positions within `nodeStates`, 3.0's zone, edge and path requests (read
//! and ignored; written as left out, or empty where 3.0 requires them).

use serde::{Deserialize, Serialize};

use crate::MessageError;
use crate::header::Header;
use crate::state_wire::Wire;

/// A `state` message.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The header; its version decides how the message is written.
    pub header: Header,
    /// The current (or last) order; empty when the vehicle has had none.
    pub order_id: String,
    /// The update of that order last accepted.
    pub order_update_id: u32,
    /// The last node reached (or the node the vehicle stands on); empty if none.
    pub last_node_id: String,
    /// That node's sequence id in the order (0 when none).
    pub last_node_sequence_id: u32,
    /// The order's nodes still to be reached.
    pub node_states: Vec<NodeState>,
    /// The order's edges still to be driven (or being driven).
    pub edge_states: Vec<EdgeState>,
    /// Where the vehicle is, when it knows.
    pub position: Option<Position>,
    /// Its velocity in its own frame.
    pub velocity: Option<Velocity>,
    /// Whether it is moving (driving or turning).
    pub driving: bool,
    /// Whether it is paused (by an instant action or a button).
    pub paused: Option<bool>,
    /// Whether it asks for more base (it nears the end of its released nodes).
    pub new_base_request: Option<bool>,
    /// m along the current edge since the last node.
    pub distance_since_last_node: Option<f64>,
    /// The order's actions (2.x: the instant actions' too).
    pub action_states: Vec<ActionState>,
    /// 3.0: the instant actions' states (2.x writes them among `action_states`).
    pub instant_action_states: Vec<ActionState>,
    /// The loads carried.
    pub loads: Vec<Load>,
    /// Battery.
    pub battery: Battery,
    /// Who controls the vehicle.
    pub operating_mode: OperatingMode,
    /// Its errors.
    pub errors: Vec<VehicleError>,
    /// Emergency stop and protective field.
    pub safety: Safety,
}

/// A node still to be reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    /// The node.
    pub node_id: String,
    /// Its sequence id in the order.
    pub sequence_id: u32,
    /// In the base or the horizon.
    pub released: bool,
}

/// An edge still to be driven.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeState {
    /// The edge.
    pub edge_id: String,
    /// Its sequence id in the order.
    pub sequence_id: u32,
    /// In the base or the horizon.
    pub released: bool,
}

/// Where the vehicle is.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// m.
    pub x: f64,
    /// m.
    pub y: f64,
    /// rad.
    pub theta: f64,
    /// The map.
    pub map_id: String,
    /// Whether the vehicle is localised (`positionInitialized` in 2.x, `localized` in 3.0).
    pub localized: bool,
    /// 0..1, how sure the localisation is.
    pub localization_score: Option<f64>,
    /// m, how far off the position may be.
    pub deviation_range: Option<f64>,
}

/// Velocity in the vehicle's frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Velocity {
    /// m/s forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vx: Option<f64>,
    /// m/s sideways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vy: Option<f64>,
    /// rad/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omega: Option<f64>,
}

/// An action's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionState {
    /// The action.
    pub action_id: String,
    /// Its type.
    pub action_type: Option<String>,
    /// Where it is.
    pub status: ActionStatus,
    /// Its result or why it failed (`resultDescription` in 2.x, `actionResult` in 3.0).
    pub result: Option<String>,
}

/// An action's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionStatus {
    /// Received, not started.
    Waiting,
    /// Getting ready.
    Initializing,
    /// Running.
    Running,
    /// Paused (2.0 and 3.0; 2.1 has no such status).
    Paused,
    /// 3.0: failed, and may be retried.
    Retriable,
    /// Done.
    Finished,
    /// Failed.
    Failed,
}

/// A load carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    /// Its id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_id: Option<String>,
    /// Its type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_type: Option<String>,
    /// kg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// Battery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
    /// % (`batteryCharge` in 2.x, `stateOfCharge` in 3.0).
    pub charge_pct: f64,
    /// V.
    pub voltage: Option<f64>,
    /// Whether it charges.
    pub charging: bool,
    /// m it can still go (`reach` in 2.x, `range` in 3.0).
    pub reach_m: Option<f64>,
}

/// Who controls the vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatingMode {
    /// 3.0: starting up, not yet under master control.
    Startup,
    /// Master control drives it.
    Automatic,
    /// Master control drives it, a person sets its speed.
    Semiautomatic,
    /// 3.0: a person intervened; master control keeps the order.
    Intervened,
    /// A person drives it.
    Manual,
    /// Being serviced.
    Service,
    /// Being taught (`TEACHIN` in 2.x, `TEACH_IN` in 3.0).
    TeachIn,
}

/// An error of the vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleError {
    /// Its type (the manufacturer's, or the specification's like `orderUpdateError`).
    pub error_type: String,
    /// How bad.
    pub level: ErrorLevel,
    /// Free text.
    pub description: Option<String>,
    /// 2.1 and 3.0: what to do about it.
    pub hint: Option<String>,
    /// What it is about (`nodeId`, `actionId`, ... and their values).
    pub references: Vec<(String, String)>,
}

/// How bad an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorLevel {
    /// The vehicle goes on.
    Warning,
    /// 3.0: it needs attention soon.
    Urgent,
    /// 3.0: it stopped its order.
    Critical,
    /// It cannot go on without a person.
    Fatal,
}

/// Emergency stop and protective field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Safety {
    /// Which emergency stop is active, if any.
    pub e_stop: EStop,
    /// Whether a protective field is violated.
    pub field_violation: bool,
}

/// Which emergency stop is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EStop {
    /// None.
    None,
    /// 2.x: one that releases itself once its cause is gone.
    AutoAck,
    /// One a person must release at the vehicle.
    Manual,
    /// One released remotely.
    Remote,
}

impl State {
    /// Checks what the schemas cannot: every number finite, the charge a percentage, the
    /// listed nodes, edges and actions named.
    pub fn check(&self) -> Result<(), MessageError> {
        let invalid = |field: &str, reason: &str| {
            Err(MessageError::Invalid {
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if let Some(p) = &self.position {
            let numbers = [p.x, p.y, p.theta]
                .into_iter()
                .chain(p.localization_score)
                .chain(p.deviation_range);
            if numbers.into_iter().any(|v| !v.is_finite()) || p.map_id.is_empty() {
                return invalid("position", "finite coordinates and a map id");
            }
        }
        if let Some(v) = &self.velocity {
            if [v.vx, v.vy, v.omega]
                .into_iter()
                .flatten()
                .any(|v| !v.is_finite())
            {
                return invalid("velocity", "finite");
            }
        }
        if self
            .distance_since_last_node
            .is_some_and(|d| !d.is_finite())
        {
            return invalid("distanceSinceLastNode", "finite");
        }
        let b = &self.battery;
        if !(0.0..=100.0).contains(&b.charge_pct)
            || b.voltage
                .into_iter()
                .chain(b.reach_m)
                .any(|v| !v.is_finite())
        {
            return invalid("battery", "a charge of 0-100 %, finite values");
        }
        if self.node_states.iter().any(|n| n.node_id.is_empty())
            || self.edge_states.iter().any(|e| e.edge_id.is_empty())
        {
            return invalid("nodeStates/edgeStates", "every node and edge named");
        }
        if self
            .action_states
            .iter()
            .chain(&self.instant_action_states)
            .any(|a| a.action_id.is_empty())
        {
            return invalid("actionStates", "every action named");
        }
        if self
            .loads
            .iter()
            .any(|l| l.weight.is_some_and(|w| !w.is_finite()))
        {
            return invalid("loads", "finite weights");
        }
        Ok(())
    }

    /// Reads a message; refused whole when anything in it is wrong for its version or breaks
    /// [`State::check`].
    pub fn from_json(bytes: &[u8]) -> Result<State, MessageError> {
        serde_json::from_slice::<Wire>(bytes)?.into_state()
    }

    /// Writes the message in its header's version; refused when a value does not exist in that
    /// version (a 3.0 operating mode in 2.x, `PAUSED` in 2.1, ...) or it breaks
    /// [`State::check`].
    pub fn to_json(&self) -> Result<Vec<u8>, MessageError> {
        Ok(serde_json::to_vec(&Wire::from_state(self)?)?)
    }
}
