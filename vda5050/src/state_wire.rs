//! How each version writes a [`State`](crate::state::State): the JSON shapes and the mapping.

use serde::{Deserialize, Serialize};

use crate::MessageError;
use crate::header::Header;
use crate::state::{
    ActionState, ActionStatus, Battery, EStop, EdgeState, ErrorLevel, Load, NodeState,
    OperatingMode, Position, Safety, State, VehicleError, Velocity,
};
use crate::version::Version;

/// An enumeration whose spelling depends on the version (or that a version lacks).
trait Spelled: Copy + core::fmt::Debug + 'static {
    const ALL: &'static [Self];
    fn spell(self, version: Version) -> Option<&'static str>;
}

fn parse<T: Spelled>(s: &str, version: Version, field: &str) -> Result<T, MessageError> {
    T::ALL
        .iter()
        .copied()
        .find(|t| t.spell(version) == Some(s))
        .ok_or_else(|| MessageError::NotInVersion {
            field: field.to_owned(),
            value: s.to_owned(),
            version,
        })
}

fn write<T: Spelled>(t: T, version: Version, field: &str) -> Result<String, MessageError> {
    t.spell(version)
        .map(str::to_owned)
        .ok_or_else(|| MessageError::NotInVersion {
            field: field.to_owned(),
            value: format!("{t:?}"),
            version,
        })
}

impl Spelled for ActionStatus {
    const ALL: &'static [Self] = &[
        ActionStatus::Waiting,
        ActionStatus::Initializing,
        ActionStatus::Running,
        ActionStatus::Paused,
        ActionStatus::Retriable,
        ActionStatus::Finished,
        ActionStatus::Failed,
    ];
    fn spell(self, version: Version) -> Option<&'static str> {
        Some(match self {
            ActionStatus::Waiting => "WAITING",
            ActionStatus::Initializing => "INITIALIZING",
            ActionStatus::Running => "RUNNING",
            ActionStatus::Paused if version != Version::V2_1 => "PAUSED",
            ActionStatus::Retriable if version == Version::V3_0 => "RETRIABLE",
            ActionStatus::Finished => "FINISHED",
            ActionStatus::Failed => "FAILED",
            _ => return None,
        })
    }
}

impl Spelled for OperatingMode {
    const ALL: &'static [Self] = &[
        OperatingMode::Startup,
        OperatingMode::Automatic,
        OperatingMode::Semiautomatic,
        OperatingMode::Intervened,
        OperatingMode::Manual,
        OperatingMode::Service,
        OperatingMode::TeachIn,
    ];
    fn spell(self, version: Version) -> Option<&'static str> {
        let v3 = version == Version::V3_0;
        Some(match self {
            OperatingMode::Startup if v3 => "STARTUP",
            OperatingMode::Automatic => "AUTOMATIC",
            OperatingMode::Semiautomatic => "SEMIAUTOMATIC",
            OperatingMode::Intervened if v3 => "INTERVENED",
            OperatingMode::Manual => "MANUAL",
            OperatingMode::Service => "SERVICE",
            OperatingMode::TeachIn if v3 => "TEACH_IN",
            OperatingMode::TeachIn => "TEACHIN",
            _ => return None,
        })
    }
}

impl Spelled for ErrorLevel {
    const ALL: &'static [Self] = &[
        ErrorLevel::Warning,
        ErrorLevel::Urgent,
        ErrorLevel::Critical,
        ErrorLevel::Fatal,
    ];
    fn spell(self, version: Version) -> Option<&'static str> {
        let v3 = version == Version::V3_0;
        Some(match self {
            ErrorLevel::Warning => "WARNING",
            ErrorLevel::Urgent if v3 => "URGENT",
            ErrorLevel::Critical if v3 => "CRITICAL",
            ErrorLevel::Fatal => "FATAL",
            _ => return None,
        })
    }
}

impl Spelled for EStop {
    const ALL: &'static [Self] = &[EStop::None, EStop::AutoAck, EStop::Manual, EStop::Remote];
    fn spell(self, version: Version) -> Option<&'static str> {
        Some(match self {
            EStop::None => "NONE",
            EStop::AutoAck if version != Version::V3_0 => "AUTOACK",
            EStop::Manual => "MANUAL",
            EStop::Remote => "REMOTE",
            EStop::AutoAck => return None,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Wire {
    #[serde(flatten)]
    header: Header,
    order_id: String,
    order_update_id: u32,
    last_node_id: String,
    last_node_sequence_id: u32,
    node_states: Vec<NodeState>,
    edge_states: Vec<EdgeState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agv_position: Option<WirePosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mobile_robot_position: Option<WirePosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    velocity: Option<Velocity>,
    driving: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_base_request: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    distance_since_last_node: Option<f64>,
    action_states: Vec<WireActionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instant_action_states: Option<Vec<WireActionState>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    loads: Vec<Load>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    battery_state: Option<WireBattery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    power_supply: Option<WireBattery>,
    operating_mode: String,
    errors: Vec<WireError>,
    safety_state: WireSafety,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePosition {
    x: f64,
    y: f64,
    theta: f64,
    map_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    position_initialized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    localized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    localization_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deviation_range: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireActionState {
    action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_type: Option<String>,
    action_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_result: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBattery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    battery_charge: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_of_charge: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    battery_voltage: Option<f64>,
    charging: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reach: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireError {
    error_type: String,
    error_level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    error_references: Vec<WireReference>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReference {
    reference_key: String,
    reference_value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSafety {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e_stop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active_emergency_stop: Option<String>,
    field_violation: bool,
}

fn missing(field: &str) -> MessageError {
    MessageError::Invalid {
        field: field.to_owned(),
        reason: "required in this version".into(),
    }
}

fn action_state_from(
    w: WireActionState,
    version: Version,
    field: &str,
) -> Result<ActionState, MessageError> {
    let v3 = version == Version::V3_0;
    Ok(ActionState {
        status: parse(&w.action_status, version, &format!("{field}.actionStatus"))?,
        action_id: w.action_id,
        action_type: w.action_type,
        result: if v3 {
            w.action_result
        } else {
            w.result_description
        },
    })
}

fn action_state_to(
    a: &ActionState,
    version: Version,
    field: &str,
) -> Result<WireActionState, MessageError> {
    let v3 = version == Version::V3_0;
    Ok(WireActionState {
        action_id: a.action_id.clone(),
        action_type: a.action_type.clone(),
        action_status: write(a.status, version, &format!("{field}.actionStatus"))?,
        result_description: a.result.clone().filter(|_| !v3),
        action_result: a.result.clone().filter(|_| v3),
    })
}

impl Wire {
    pub(crate) fn into_state(self) -> Result<State, MessageError> {
        let version = self.header.version()?;
        let v3 = version == Version::V3_0;
        let (position, position_field) = if v3 {
            (self.mobile_robot_position, "mobileRobotPosition")
        } else {
            (self.agv_position, "agvPosition")
        };
        let position = position
            .map(|p| {
                let localized = if v3 {
                    p.localized
                } else {
                    p.position_initialized
                };
                Ok::<_, MessageError>(Position {
                    localized: localized.ok_or_else(|| missing(position_field))?,
                    x: p.x,
                    y: p.y,
                    theta: p.theta,
                    map_id: p.map_id,
                    localization_score: p.localization_score,
                    deviation_range: p.deviation_range,
                })
            })
            .transpose()?;
        let battery = if v3 {
            self.power_supply
        } else {
            self.battery_state
        }
        .ok_or_else(|| missing(if v3 { "powerSupply" } else { "batteryState" }))?;
        let battery = Battery {
            charge_pct: if v3 {
                battery.state_of_charge
            } else {
                battery.battery_charge
            }
            .ok_or_else(|| missing("battery charge"))?,
            voltage: battery.battery_voltage,
            charging: battery.charging,
            reach_m: if v3 { battery.range } else { battery.reach },
        };
        let action_states = self
            .action_states
            .into_iter()
            .enumerate()
            .map(|(i, a)| action_state_from(a, version, &format!("actionStates[{i}]")))
            .collect::<Result<_, _>>()?;
        let instant_action_states = match self.instant_action_states {
            Some(list) if v3 => list
                .into_iter()
                .enumerate()
                .map(|(i, a)| action_state_from(a, version, &format!("instantActionStates[{i}]")))
                .collect::<Result<_, _>>()?,
            None if v3 => return Err(missing("instantActionStates")),
            _ => Vec::new(),
        };
        let errors = self
            .errors
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                Ok(VehicleError {
                    level: parse(&e.error_level, version, &format!("errors[{i}].errorLevel"))?,
                    error_type: e.error_type,
                    description: e.error_description,
                    hint: e.error_hint.filter(|_| version != Version::V2_0),
                    references: e
                        .error_references
                        .into_iter()
                        .map(|r| (r.reference_key, r.reference_value))
                        .collect(),
                })
            })
            .collect::<Result<_, MessageError>>()?;
        let e_stop = if v3 {
            self.safety_state.active_emergency_stop
        } else {
            self.safety_state.e_stop
        }
        .ok_or_else(|| missing("safetyState"))?;
        let state = State {
            operating_mode: parse(&self.operating_mode, version, "operatingMode")?,
            safety: Safety {
                e_stop: parse(&e_stop, version, "safetyState")?,
                field_violation: self.safety_state.field_violation,
            },
            header: self.header,
            order_id: self.order_id,
            order_update_id: self.order_update_id,
            last_node_id: self.last_node_id,
            last_node_sequence_id: self.last_node_sequence_id,
            node_states: self.node_states,
            edge_states: self.edge_states,
            position,
            velocity: self.velocity,
            driving: self.driving,
            paused: self.paused,
            new_base_request: self.new_base_request,
            distance_since_last_node: self.distance_since_last_node,
            action_states,
            instant_action_states,
            loads: self.loads,
            battery,
            errors,
        };
        state.check()?;
        Ok(state)
    }

    pub(crate) fn from_state(s: &State) -> Result<Wire, MessageError> {
        s.check()?;
        let version = s.header.version()?;
        let v3 = version == Version::V3_0;
        let position = s.position.as_ref().map(|p| WirePosition {
            x: p.x,
            y: p.y,
            theta: p.theta,
            map_id: p.map_id.clone(),
            position_initialized: (!v3).then_some(p.localized),
            localized: v3.then_some(p.localized),
            localization_score: p.localization_score,
            deviation_range: p.deviation_range,
        });
        let battery = WireBattery {
            battery_charge: (!v3).then_some(s.battery.charge_pct),
            state_of_charge: v3.then_some(s.battery.charge_pct),
            battery_voltage: s.battery.voltage,
            charging: s.battery.charging,
            reach: s.battery.reach_m.filter(|_| !v3),
            range: s.battery.reach_m.filter(|_| v3),
        };
        let mut action_states: Vec<WireActionState> = s
            .action_states
            .iter()
            .enumerate()
            .map(|(i, a)| action_state_to(a, version, &format!("actionStates[{i}]")))
            .collect::<Result<_, _>>()?;
        let instant: Vec<WireActionState> = s
            .instant_action_states
            .iter()
            .enumerate()
            .map(|(i, a)| action_state_to(a, version, &format!("instantActionStates[{i}]")))
            .collect::<Result<_, _>>()?;
        let instant_action_states = if v3 {
            Some(instant)
        } else {
            action_states.extend(instant);
            None
        };
        let errors = s
            .errors
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Ok(WireError {
                    error_type: e.error_type.clone(),
                    error_level: write(e.level, version, &format!("errors[{i}].errorLevel"))?,
                    error_description: e.description.clone(),
                    error_hint: e.hint.clone().filter(|_| version != Version::V2_0),
                    error_references: e
                        .references
                        .iter()
                        .map(|(k, v)| WireReference {
                            reference_key: k.clone(),
                            reference_value: v.clone(),
                        })
                        .collect(),
                })
            })
            .collect::<Result<_, MessageError>>()?;
        let e_stop = write(s.safety.e_stop, version, "safetyState")?;
        let (agv_position, mobile_robot_position) = if v3 {
            (None, position)
        } else {
            (position, None)
        };
        let (battery_state, power_supply) = if v3 {
            (None, Some(battery))
        } else {
            (Some(battery), None)
        };
        Ok(Wire {
            header: s.header.clone(),
            order_id: s.order_id.clone(),
            order_update_id: s.order_update_id,
            last_node_id: s.last_node_id.clone(),
            last_node_sequence_id: s.last_node_sequence_id,
            node_states: s.node_states.clone(),
            edge_states: s.edge_states.clone(),
            agv_position,
            mobile_robot_position,
            velocity: s.velocity,
            driving: s.driving,
            paused: s.paused,
            new_base_request: s.new_base_request,
            distance_since_last_node: s.distance_since_last_node,
            action_states,
            instant_action_states,
            loads: s.loads.clone(),
            battery_state,
            power_supply,
            operating_mode: write(s.operating_mode, version, "operatingMode")?,
            errors,
            safety_state: WireSafety {
                e_stop: (!v3).then(|| e_stop.clone()),
                active_emergency_stop: v3.then_some(e_stop),
                field_violation: s.safety.field_violation,
            },
        })
    }
}
