//! The mapping between the guide's binary messages and VDA 5050's (docs/vda5050.md): what lets
//! the gateway drive a VDA 5050 vehicle with the commands the dispatcher gives a guide AGV, and
//! read its state as a guide status report.
//!
//! | guide | VDA 5050 |
//! |---|---|
//! | `MotionCommand` (task id, segment, nodes, edges, released nodes) | `order` (orderId, orderUpdateId, nodes, edges, `released`) |
//! | `TaskControl` Pause / Resume / Cancel | `instantActions` `startPause` / `stopPause` / `cancelOrder` |
//! | `MapSwitch` (the lift car is at the target floor) | `instantActions` `initPosition` (x, y, theta, mapId, lastNodeId) |
//! | `StatusReport` | `state` |
//!
//! Both ways: the gateway maps the first column to the second and back what the vehicle sends;
//! the simulated VDA 5050 vehicle (agv-sim) maps orders and instant actions to the commands its
//! guide vehicle model runs ([`motion_of`], [`control_of`]) and its reports to states
//! ([`state_of`]).
//!
//! Ids: a task id is the order id in decimal; node and edge ids (the site's) are written in
//! decimal; a map id becomes the site map's name ([`MapNames`]).

use protocol::message::{
    Action as GuideAction, Alarm, BatteryInfo, LoadInfo, MotionCommand, PathEdge, PathNode,
    RegisterRequest, SpeedLimits, StatusReport, TaskControl, TaskOp, Velocity as GuideVelocity,
};
use protocol::types::{
    ActuatorType, AgvState, AgvType, AlarmLevel, LiftAdjustment, MovementType, NavigationMode,
    Pose, TargetAttribute, TaskType, TrajectoryType,
};

use crate::action::{self, Action, ActionParameter, BlockingType};
use crate::factsheet::Factsheet;
use crate::header::Header;
use crate::instant::InstantActions;
use crate::order::{Edge, Node, NodePosition, Order};
use crate::state::{
    ActionStatus, Battery, EStop, EdgeState, ErrorLevel, Load, NodeState, OperatingMode, Position,
    Safety, State, Velocity,
};

mod map_switch;

pub use map_switch::{InitPosition, init_position, init_position_of};

/// The alarm code a VDA 5050 error becomes in a status report (its type is logged by the
/// gateway; the alarm's reference is the node or edge it names, when one).
pub const VDA5050_ERROR_ALARM: u16 = 0x5050;

/// The site's map names: VDA 5050 names maps by string, the guide by number.
pub trait MapNames {
    /// The name of map `map_id`, if the site has it.
    fn name(&self, map_id: u16) -> Option<&str>;
    /// The map named `name`, if the site has it.
    fn id(&self, name: &str) -> Option<u16>;
}

/// A site's maps by their names (`mapId` is the map's name in the site, docs/vda5050.md).
impl MapNames for maps::Site {
    fn name(&self, map_id: u16) -> Option<&str> {
        self.map(map_id).map(|m| m.name.as_str())
    }

    fn id(&self, name: &str) -> Option<u16> {
        self.maps().iter().find(|m| m.name == name).map(|m| m.id)
    }
}

/// Why a message could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// A map the site does not have.
    #[error("map {0:?} is not a map of the site")]
    UnknownMap(String),
    /// An id that is not one of ours (not a decimal number in range).
    #[error("{field} {value:?} is not an id of this RCS")]
    ForeignId {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// A command the mapping does not carry.
    #[error("{0} has no VDA 5050 counterpart")]
    Unsupported(&'static str),
    /// An action's parameter missing, or not of its type (or a pose not finite).
    #[error("{action}: parameter {key:?} missing or not valid")]
    Parameter {
        /// The action type.
        action: &'static str,
        /// The parameter.
        key: &'static str,
    },
}

fn node_name(id: u32) -> String {
    id.to_string()
}

fn parse_id(field: &'static str, value: &str) -> Result<u32, TranslateError> {
    if value.is_empty() {
        return Ok(0);
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| TranslateError::ForeignId {
            field,
            value: value.to_owned(),
        })
}

/// The order id of a new path of task `task_id` that starts at `segment` (docs/protocol.md 6.6:
/// after a step between two drives, or a replan, a task drives a new path starting again at
/// sequence 0). VDA 5050 lets an order update only extend the base of its order, so a new path
/// is a new order: `"<task>.<segment>"` (`"41.3"`), where the task's first path is `"<task>"`.
pub fn path_order_id(task_id: u32, segment: u16) -> String {
    format!("{task_id}.{segment}")
}

/// The task an order id names: `"41"` or a later path of it, `"41.3"` ([`path_order_id`]).
pub fn task_of_order(order_id: &str) -> Result<u32, TranslateError> {
    let task = order_id.split_once('.').map_or(order_id, |(task, path)| {
        if task.is_empty() || path.is_empty() || !path.bytes().all(|b| b.is_ascii_digit()) {
            // not ours: refused below whole
            order_id
        } else {
            task
        }
    });
    parse_id("orderId", task).map_err(|_| TranslateError::ForeignId {
        field: "orderId",
        value: order_id.to_owned(),
    })
}

/// The VDA 5050 action a guide action at a node becomes: raising a lift or fork picks, lowering
/// it drops; anything else keeps the actuator's name under the `rcs` prefix.
fn action_type(actuator: ActuatorType, adjustment: LiftAdjustment) -> String {
    match adjustment {
        LiftAdjustment::Raise => action::PICK.to_owned(),
        LiftAdjustment::Lower => action::DROP.to_owned(),
        _ => format!("rcs{actuator:?}{adjustment:?}"),
    }
}

/// The order (or order update) a motion command becomes, with `header` (its version decides the
/// spelling). The released nodes and the edges between them are the base; the rest the horizon.
/// A charging task's last node gets `startCharging`.
pub fn order_of(
    cmd: &MotionCommand,
    header: Header,
    maps: &impl MapNames,
) -> Result<Order, TranslateError> {
    let map = maps
        .name(cmd.map_id)
        .ok_or_else(|| TranslateError::UnknownMap(cmd.map_id.to_string()))?
        .to_owned();
    let released = usize::from(cmd.released_nodes);
    let last = cmd.nodes.len().saturating_sub(1);
    let nodes = cmd
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let heading = matches!(
                n.attribute,
                TargetAttribute::StopWithHeading
                    | TargetAttribute::ActionPoint
                    | TargetAttribute::ChargePoint
            );
            let mut actions: Vec<Action> = n
                .actions
                .iter()
                .map(|a| Action {
                    action_type: action_type(a.actuator, a.adjustment),
                    action_id: a.action_id.to_string(),
                    description: None,
                    blocking_type: if a.blocking {
                        BlockingType::Hard
                    } else {
                        BlockingType::None
                    },
                    parameters: a
                        .params
                        .iter()
                        .map(|p| ActionParameter {
                            key: format!("{:?}", p.param),
                            value: serde_json::json!(p.value),
                        })
                        .collect(),
                    retriable: None,
                })
                .collect();
            if cmd.task_type == TaskType::Charge
                && i == last
                && n.attribute == TargetAttribute::ChargePoint
            {
                actions.push(Action {
                    action_type: action::START_CHARGING.to_owned(),
                    action_id: format!("charge-{}-{}", cmd.task_id, n.sequence),
                    description: None,
                    blocking_type: BlockingType::Hard,
                    parameters: Vec::new(),
                    retriable: None,
                });
            }
            Node {
                node_id: node_name(n.node_id),
                sequence_id: u32::from(n.sequence),
                released: i < released,
                description: None,
                position: Some(NodePosition {
                    x: n.pose.x,
                    y: n.pose.y,
                    theta: heading.then_some(n.pose.theta),
                    allowed_deviation_xy: None,
                    allowed_deviation_theta: None,
                    map_id: map.clone(),
                }),
                actions,
            }
        })
        .collect();
    let edges = cmd
        .edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let limits = [e.max_speed, cmd.max_speed]
                .into_iter()
                .filter(|v| *v > 0.0)
                .map(f64::from);
            Edge {
                edge_id: e.edge_id.to_string(),
                sequence_id: u32::from(e.sequence),
                released: i + 1 < released,
                description: None,
                start_node_id: node_name(cmd.nodes[i].node_id),
                end_node_id: node_name(cmd.nodes[i + 1].node_id),
                max_speed: limits.reduce(f64::min),
                max_rotation_speed: None,
                length: None,
                orientation: None,
                direction: None,
                actions: Vec::new(),
            }
        })
        .collect();
    Ok(Order {
        header,
        order_id: cmd.task_id.to_string(),
        order_update_id: u32::from(cmd.segment),
        description: None,
        zone_set_id: None,
        nodes,
        edges,
    })
}

/// The registration a vehicle's factsheet stands for (a VDA 5050 vehicle does not register:
/// its factsheet says what a guide AGV's `RegisterRequest` says). The footprint is the
/// factsheet's bounding box, centred on the vehicle's reference point (VDA 5050 gives no offset
/// in the parts rcs reads); the class picks the AGV type; the rest is what the factsheet has.
pub fn register_of(factsheet: &Factsheet, serial_number: &str) -> RegisterRequest {
    let agv_type = match factsheet.class.as_str() {
        "FORKLIFT" => AgvType::Forklift,
        "TUGGER" => AgvType::Tugger,
        "CONVEYOR" => AgvType::Conveyor,
        "CARRIER" => AgvType::UnitLoad,
        _ => AgvType::Jacking,
    };
    RegisterRequest {
        agv_type,
        vendor: factsheet.header.manufacturer.clone(),
        model: factsheet.series_name.clone(),
        serial: serial_number.to_owned(),
        firmware: String::new(),
        footprint: factsheet.footprint(),
        speeds: SpeedLimits {
            forward: factsheet.speed_max as f32,
            reverse: 0.0,
            lateral: 0.0,
            angular: 0.0,
            acceleration: factsheet.acceleration_max as f32,
            deceleration: factsheet.deceleration_max as f32,
        },
        load_capacity_kg: factsheet.max_load_kg as f32,
        navigation_modes: vec![NavigationMode::Slam],
        maps: Vec::new(),
        actuators: Vec::new(),
        battery: BatteryInfo {
            capacity_wh: 0.0,
            nominal_voltage: 0.0,
        },
        extensions: Vec::new(),
    }
}

/// The instant action a task control becomes (`action_id` names it in the vehicle's state).
pub fn instant_of(control: &TaskControl, header: Header, action_id: &str) -> InstantActions {
    let kind = match control.op {
        TaskOp::Pause => action::START_PAUSE,
        TaskOp::Resume => action::STOP_PAUSE,
        TaskOp::Cancel => action::CANCEL_ORDER,
    };
    InstantActions {
        header,
        actions: vec![Action::instant(kind, action_id)],
    }
}

/// The status report a VDA 5050 state becomes. Refused when the vehicle is on a map the site
/// does not have, or reports an order or node that is not this RCS's; a vehicle that does not
/// know where it is reports localisation quality 0 (on map 0, at the origin).
pub fn status_of(state: &State, maps: &impl MapNames) -> Result<StatusReport, TranslateError> {
    let (map_id, pose, quality) = match &state.position {
        Some(p) => {
            let map = maps
                .id(&p.map_id)
                .ok_or_else(|| TranslateError::UnknownMap(p.map_id.clone()))?;
            let quality = if !p.localized {
                0
            } else {
                p.localization_score
                    .map_or(100, |s| (s * 100.0).round().clamp(1.0, 100.0) as u8)
            };
            (
                map,
                Pose {
                    x: p.x,
                    y: p.y,
                    theta: p.theta,
                },
                quality,
            )
        }
        None => (
            0,
            Pose {
                x: 0.0,
                y: 0.0,
                theta: 0.0,
            },
            0,
        ),
    };
    let last_node_id = parse_id("lastNodeId", &state.last_node_id)?;
    let task_id = task_of_order(&state.order_id)?;
    let segment = u16::try_from(state.order_update_id).map_err(|_| TranslateError::ForeignId {
        field: "orderUpdateId",
        value: state.order_update_id.to_string(),
    })?;
    let last_node_sequence =
        u16::try_from(state.last_node_sequence_id).map_err(|_| TranslateError::ForeignId {
            field: "lastNodeSequenceId",
            value: state.last_node_sequence_id.to_string(),
        })?;
    // the edge being driven: the one after the last node, while driving
    let edge_id = match state
        .edge_states
        .iter()
        .find(|e| e.sequence_id == state.last_node_sequence_id + 1)
    {
        Some(e) if state.driving => parse_id("edgeId", &e.edge_id)?,
        _ => 0,
    };
    let e_stop = state.safety.e_stop != EStop::None;
    let order_open = !state.node_states.is_empty();
    let agv_state = if e_stop {
        AgvState::EmergencyStop
    } else {
        match state.operating_mode {
            OperatingMode::Startup => AgvState::Initializing,
            OperatingMode::Manual | OperatingMode::Service | OperatingMode::TeachIn => {
                AgvState::Manual
            }
            _ if state.paused == Some(true) => AgvState::Paused,
            _ if state.driving => AgvState::Working,
            // at work at a node (a pick or drop running): not done there
            _ if state.action_states.iter().any(|a| {
                matches!(
                    a.status,
                    ActionStatus::Initializing | ActionStatus::Running | ActionStatus::Paused
                )
            }) =>
            {
                AgvState::Working
            }
            _ if state.battery.charging => AgvState::Charging,
            _ if order_open && state.node_states.iter().all(|n| !n.released) => {
                AgvState::WaitingForRelease
            }
            _ if order_open => AgvState::Working,
            _ => AgvState::Idle,
        }
    };
    let velocity = state.velocity.map_or(
        GuideVelocity {
            vx: 0.0,
            vy: 0.0,
            omega: 0.0,
        },
        |v| GuideVelocity {
            vx: v.vx.unwrap_or(0.0) as f32,
            vy: v.vy.unwrap_or(0.0) as f32,
            omega: v.omega.unwrap_or(0.0) as f32,
        },
    );
    let alarms = state
        .errors
        .iter()
        .map(|e| Alarm {
            code: VDA5050_ERROR_ALARM,
            level: match e.level {
                ErrorLevel::Warning => AlarmLevel::Warning,
                ErrorLevel::Urgent | ErrorLevel::Critical => AlarmLevel::Error,
                ErrorLevel::Fatal => AlarmLevel::Fatal,
            },
            reference: e
                .references
                .iter()
                .find(|(k, _)| k == "nodeId" || k == "edgeId")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0),
        })
        .collect();
    Ok(StatusReport {
        map_id,
        pose,
        localisation_quality: quality,
        navigation_mode: NavigationMode::Slam,
        velocity,
        state: agv_state,
        battery_pct: state.battery.charge_pct as f32,
        battery_voltage: state.battery.voltage.unwrap_or(0.0) as f32,
        charging: state.battery.charging,
        e_stop,
        loads: state
            .loads
            .iter()
            .map(|l| LoadInfo {
                load_id: l.load_id.clone().unwrap_or_default(),
                weight_kg: l.weight.unwrap_or(0.0) as f32,
            })
            .collect(),
        actuators: Vec::new(),
        task_id,
        segment,
        last_node_id,
        last_node_sequence,
        edge_id,
        distance_since_last_node: state.distance_since_last_node.unwrap_or(0.0) as f32,
        grant_id: 0,
        alarms,
        extensions: Vec::new(),
    })
}

fn sequence(field: &'static str, value: u32) -> Result<u16, TranslateError> {
    u16::try_from(value).map_err(|_| TranslateError::ForeignId {
        field,
        value: value.to_string(),
    })
}

/// The motion command an order (or order update) becomes on a guide vehicle: the inverse of
/// [`order_of`]. `pick` and `drop` become lift actions (on actuator 0), `startCharging` makes its
/// node a charge point; an order whose nodes lie on several maps, has nodes without a position
/// or asks for another action is refused (a VDA 5050 vehicle answers it with an `orderError`).
pub fn motion_of(order: &Order, maps: &impl MapNames) -> Result<MotionCommand, TranslateError> {
    let map_name = order
        .nodes
        .first()
        .and_then(|n| n.position.as_ref())
        .map(|p| p.map_id.as_str())
        .ok_or(TranslateError::Unsupported("a node without a position"))?;
    let map_id = maps
        .id(map_name)
        .ok_or_else(|| TranslateError::UnknownMap(map_name.to_owned()))?;
    let mut task_type = TaskType::Move;
    let last = order.nodes.len() - 1;
    let mut nodes = Vec::with_capacity(order.nodes.len());
    for (i, n) in order.nodes.iter().enumerate() {
        let p = n
            .position
            .as_ref()
            .ok_or(TranslateError::Unsupported("a node without a position"))?;
        if p.map_id != map_name {
            return Err(TranslateError::Unsupported("an order across maps"));
        }
        let mut actions = Vec::new();
        let mut charge = false;
        for a in &n.actions {
            let adjustment = match a.action_type.as_str() {
                action::PICK => {
                    task_type = TaskType::Pick;
                    LiftAdjustment::Raise
                }
                action::DROP => {
                    task_type = TaskType::Drop;
                    LiftAdjustment::Lower
                }
                action::START_CHARGING => {
                    task_type = TaskType::Charge;
                    charge = true;
                    continue;
                }
                _ => {
                    return Err(TranslateError::Unsupported(
                        "an action other than pick, drop or startCharging",
                    ));
                }
            };
            actions.push(GuideAction {
                action_id: parse_id("actionId", &a.action_id)?,
                actuator_id: 0,
                actuator: ActuatorType::Lift,
                adjustment,
                blocking: a.blocking_type != BlockingType::None,
                params: Vec::new(),
            });
        }
        let attribute = if charge {
            TargetAttribute::ChargePoint
        } else if !actions.is_empty() {
            TargetAttribute::ActionPoint
        } else if i == last {
            TargetAttribute::Destination
        } else {
            TargetAttribute::PassThrough
        };
        nodes.push(PathNode {
            node_id: parse_id("nodeId", &n.node_id)?,
            sequence: sequence("sequenceId", n.sequence_id)?,
            pose: Pose {
                x: p.x,
                y: p.y,
                theta: p.theta.unwrap_or(0.0),
            },
            attribute,
            actions,
        });
    }
    let edges = order
        .edges
        .iter()
        .map(|e| {
            Ok(PathEdge {
                edge_id: parse_id("edgeId", &e.edge_id)?,
                sequence: sequence("sequenceId", e.sequence_id)?,
                trajectory: TrajectoryType::Line,
                control_points: Vec::new(),
                movement: MovementType::Forward,
                max_speed: e.max_speed.unwrap_or(0.0) as f32,
            })
        })
        .collect::<Result<_, TranslateError>>()?;
    let released = order.nodes.iter().filter(|n| n.released).count();
    Ok(MotionCommand {
        task_id: task_of_order(&order.order_id)?,
        task_type,
        segment: sequence("orderUpdateId", order.order_update_id)?,
        map_id,
        nodes,
        edges,
        released_nodes: u16::try_from(released).unwrap_or(u16::MAX),
        max_speed: 0.0,
        extensions: Vec::new(),
    })
}

/// The task control an instant action becomes (`None`: not pause, resume or cancel).
pub fn control_of(action: &Action) -> Option<TaskControl> {
    let op = match action.action_type.as_str() {
        action::START_PAUSE => TaskOp::Pause,
        action::STOP_PAUSE => TaskOp::Resume,
        action::CANCEL_ORDER => TaskOp::Cancel,
        _ => return None,
    };
    Some(TaskControl { task_id: 0, op })
}

/// The state a guide vehicle's status report becomes, with `header`: the inverse of
/// [`status_of`]. `order` is the order it runs (its nodes and edges after the last node
/// reached are the states still to go; its actions at nodes reached are finished, the rest
/// waiting).
pub fn state_of(
    report: &StatusReport,
    header: Header,
    maps: &impl MapNames,
    order: Option<&Order>,
) -> Result<State, TranslateError> {
    let map = maps
        .name(report.map_id)
        .ok_or_else(|| TranslateError::UnknownMap(report.map_id.to_string()))?;
    let reached = u32::from(report.last_node_sequence);
    let mut node_states = Vec::new();
    let mut edge_states = Vec::new();
    let mut action_states = Vec::new();
    if let Some(order) = order {
        for n in &order.nodes {
            if n.sequence_id > reached {
                node_states.push(NodeState {
                    node_id: n.node_id.clone(),
                    sequence_id: n.sequence_id,
                    released: n.released,
                });
            }
            for a in &n.actions {
                action_states.push(crate::state::ActionState {
                    action_id: a.action_id.clone(),
                    action_type: Some(a.action_type.clone()),
                    status: if n.sequence_id > reached {
                        ActionStatus::Waiting
                    } else if n.sequence_id == reached && report_busy(report) {
                        ActionStatus::Running
                    } else {
                        ActionStatus::Finished
                    },
                    result: None,
                });
            }
        }
        for e in &order.edges {
            if e.sequence_id > reached {
                edge_states.push(EdgeState {
                    edge_id: e.edge_id.clone(),
                    sequence_id: e.sequence_id,
                    released: e.released,
                });
            }
        }
    }
    let name = |id: u32| {
        if id == 0 {
            String::new()
        } else {
            id.to_string()
        }
    };
    Ok(State {
        header,
        order_id: name(report.task_id),
        order_update_id: u32::from(report.segment),
        last_node_id: name(report.last_node_id),
        last_node_sequence_id: reached,
        node_states,
        edge_states,
        position: Some(Position {
            x: report.pose.x,
            y: report.pose.y,
            theta: report.pose.theta,
            map_id: map.to_owned(),
            localized: report.localisation_quality > 0,
            localization_score: Some(f64::from(report.localisation_quality) / 100.0),
            deviation_range: None,
        }),
        velocity: Some(Velocity {
            vx: Some(f64::from(report.velocity.vx)),
            vy: Some(f64::from(report.velocity.vy)),
            omega: Some(f64::from(report.velocity.omega)),
        }),
        driving: report.velocity.vx != 0.0
            || report.velocity.vy != 0.0
            || report.velocity.omega != 0.0,
        paused: Some(report.state == AgvState::Paused),
        new_base_request: Some(report.state == AgvState::WaitingForRelease),
        distance_since_last_node: Some(f64::from(report.distance_since_last_node)),
        action_states,
        instant_action_states: Vec::new(),
        loads: report
            .loads
            .iter()
            .map(|l| Load {
                load_id: (!l.load_id.is_empty()).then(|| l.load_id.clone()),
                load_type: None,
                weight: (l.weight_kg > 0.0).then_some(f64::from(l.weight_kg)),
            })
            .collect(),
        battery: Battery {
            charge_pct: f64::from(report.battery_pct),
            voltage: Some(f64::from(report.battery_voltage)),
            charging: report.charging,
            reach_m: None,
        },
        operating_mode: match report.state {
            AgvState::Manual => OperatingMode::Manual,
            _ => OperatingMode::Automatic,
        },
        errors: Vec::new(),
        safety: Safety {
            e_stop: if report.e_stop {
                EStop::Manual
            } else {
                EStop::None
            },
            field_violation: false,
        },
    })
}

/// Whether the vehicle is still at work at its last node (its actions there not done).
fn report_busy(report: &StatusReport) -> bool {
    report
        .actuators
        .iter()
        .any(|a| a.state == protocol::types::ActuatorState::Running)
}
