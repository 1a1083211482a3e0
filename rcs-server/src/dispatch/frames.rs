//! The frames of the traffic core's commands: a motion command for a released piece of a
//! drive (its nodes and edges from the site, the rest of the drive as preview, the load action
//! at the end), and the task, navigation, lift and charge controls.

use protocol::message::{
    Action as NodeAction, ChargeControl, ChargeOp, MapSwitch, Message, MotionCommand, NavSwitch,
    PathEdge, PathNode, TaskControl, TaskOp,
};
use protocol::types::{
    ActuatorType, LiftAdjustment, MovementType, Point, Pose, TargetAttribute, TaskType,
    TrajectoryType,
};
use traffic::{Command, Core};

use super::TaskKind;
use crate::state::Shared;

/// The frame of a command (none for one the site cannot say).
pub(super) fn message(shared: &Shared, command: &Command) -> Option<Message> {
    let site = &shared.site;
    Some(match command {
        Command::Cancel { task } => TaskControl {
            task_id: *task,
            op: TaskOp::Cancel,
        }
        .into(),
        Command::NavSwitch { map, to, .. } => NavSwitch {
            target: to.to_wire(),
            map_id: *map,
            initial_pose: None,
        }
        .into(),
        Command::Lift {
            lift, to_map, exit, ..
        } => {
            let n = site.node(*exit)?;
            let m = site.map(*to_map)?;
            MapSwitch {
                target_map_id: *to_map,
                target_map_version: m.version,
                initial_pose: Pose {
                    x: n.x,
                    y: n.y,
                    theta: n.theta.unwrap_or(0.0),
                },
                lift_id: *lift,
                floor: m.floor,
                navigation: n.navigation.to_wire(),
            }
            .into()
        }
        Command::Charge { node } => ChargeControl {
            op: ChargeOp::Start,
            charger_node_id: *node,
            target_pct: 100.0,
        }
        .into(),
        Command::Motion { .. } => return None,
    })
}

fn task_type(kind: TaskKind) -> TaskType {
    match kind {
        TaskKind::Move => TaskType::Move,
        TaskKind::Pick => TaskType::Pick,
        TaskKind::Drop => TaskType::Drop,
        TaskKind::Charge => TaskType::Charge,
        TaskKind::Park => TaskType::Park,
    }
}

/// The motion frame of a released piece: the released nodes, then the rest of the drive as
/// preview (`released_nodes` says how many are released), the load action at the end of the
/// task's last drive.
pub(super) fn motion(
    shared: &Shared,
    core: &Core<'_>,
    task: u32,
    command: &Command,
) -> Option<MotionCommand> {
    let Command::Motion {
        map, nodes: piece, ..
    } = command
    else {
        return None;
    };
    let t = core.task(task)?;
    let kind = t.spec.kind;
    let (nodes, edges) = match t.steps.get(t.step) {
        Some(traffic::Step::Drive { nodes, edges, .. }) => (nodes, edges),
        _ => return None,
    };
    // the piece ends at the released index; it starts where the previous one ended
    let target = t.released;
    let start = (target + 1).checked_sub(piece.len())?;
    if nodes.get(start..=target) != Some(piece.as_slice()) {
        return None;
    }
    let last = nodes.len() - 1;
    let is_final_drive = !t.steps[t.step + 1..]
        .iter()
        .any(|s| matches!(s, traffic::Step::Drive { .. }));
    let site = &shared.site;
    let path_nodes = (start..=last)
        .map(|i| {
            let n = site.node(nodes[i])?;
            let at_end = i == last && is_final_drive;
            let actions = match (at_end, kind) {
                (true, TaskKind::Pick | TaskKind::Drop) => vec![NodeAction {
                    action_id: 1,
                    actuator_id: 0,
                    actuator: ActuatorType::Lift,
                    adjustment: if kind == TaskKind::Pick {
                        LiftAdjustment::Raise
                    } else {
                        LiftAdjustment::Lower
                    },
                    blocking: true,
                    params: vec![],
                }],
                _ => vec![],
            };
            Some(PathNode {
                node_id: n.id,
                sequence: (i * 2) as u16,
                pose: Pose {
                    x: n.x,
                    y: n.y,
                    theta: n.theta.unwrap_or(0.0),
                },
                attribute: if at_end {
                    TargetAttribute::Destination
                } else if i == last {
                    TargetAttribute::Stop
                } else {
                    TargetAttribute::PassThrough
                },
                actions,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let path_edges = (start..last)
        .map(|i| {
            let e = site.edge(edges[i])?;
            let (trajectory, control_points) = match &e.trajectory {
                maps::file::Trajectory::Line => (TrajectoryType::Line, vec![]),
                maps::file::Trajectory::Arc { .. } => {
                    let mid = e.polyline[e.polyline.len() / 2];
                    (
                        TrajectoryType::Arc,
                        vec![Point {
                            x: mid[0],
                            y: mid[1],
                        }],
                    )
                }
                maps::file::Trajectory::Bezier { controls } => (
                    TrajectoryType::Bezier,
                    controls
                        .iter()
                        .map(|c| Point { x: c[0], y: c[1] })
                        .collect(),
                ),
            };
            Some(PathEdge {
                edge_id: e.id,
                sequence: (i * 2 + 1) as u16,
                trajectory,
                control_points,
                movement: MovementType::Forward,
                max_speed: e.max_speed as f32,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let segment = {
        let mut segments = shared.traffic.segments.lock().expect("not poisoned");
        let s = segments.entry(task).or_insert(0);
        *s = s.wrapping_add(1);
        *s
    };
    Some(MotionCommand {
        task_id: task,
        task_type: task_type(kind),
        segment,
        map_id: *map,
        nodes: path_nodes,
        edges: path_edges,
        released_nodes: (target - start + 1) as u16,
        max_speed: 0.0,
        extensions: vec![],
    })
}
