//! AGV motion control: paths with actions, released piece by piece; task control and progress.

use alloc::vec::Vec;

use crate::codec::{wire_enum, wire_struct};
use crate::types::{
    ActuatorParam, ActuatorState, ActuatorType, Extension, LiftAdjustment, MovementType, Point,
    Pose, ResultCode, TargetAttribute, TaskType, TrajectoryType,
};

wire_struct! {
    /// One parameter of an action.
    pub struct ActionParam {
        /// Which parameter.
        pub param: ActuatorParam,
        /// Its value, in the parameter's unit.
        pub value: f32,
    }
}

wire_struct! {
    /// An actuator action at a node.
    pub struct Action {
        /// Action id, unique within the task; progress reports name it.
        pub action_id: u32,
        /// Which actuator (its id from the registration).
        pub actuator_id: u8,
        /// Its type.
        pub actuator: ActuatorType,
        /// The lifting operation (for lifts, forks and rotary tables; `None` otherwise).
        pub adjustment: LiftAdjustment,
        /// Whether motion waits for the action to finish.
        pub blocking: bool,
        /// Parameters.
        pub params: Vec<ActionParam>,
    }
}

wire_struct! {
    /// A node of a path.
    pub struct PathNode {
        /// Node id in the site model.
        pub node_id: u32,
        /// Position of the node in the task's sequence (even numbers; edges take the odd ones
        /// between, as in VDA 5050), unique within the task across updates.
        pub sequence: u16,
        /// Target pose (the heading matters for `StopWithHeading` and action points).
        pub pose: Pose,
        /// What the AGV does here.
        pub attribute: TargetAttribute,
        /// Actions to run here, in order.
        pub actions: Vec<Action>,
    }
}

wire_struct! {
    /// An edge of a path: from the node before it to the node after it in the command.
    pub struct PathEdge {
        /// Edge id in the site model.
        pub edge_id: u32,
        /// Position in the task's sequence (odd).
        pub sequence: u16,
        /// Geometry.
        pub trajectory: TrajectoryType,
        /// Control points: none for a line, one for an arc (a point on it), one or two for a
        /// Bézier curve.
        pub control_points: Vec<Point>,
        /// How the AGV moves along it.
        pub movement: MovementType,
        /// Speed limit on this edge, m/s (0: no edge-specific limit).
        pub max_speed: f32,
    }
}

impl PathEdge {
    fn check(&self) -> Result<(), &'static str> {
        let n = self.control_points.len();
        let ok = match self.trajectory {
            TrajectoryType::Line => n == 0,
            TrajectoryType::Arc => n == 1,
            TrajectoryType::Bezier => n == 1 || n == 2,
        };
        if !ok {
            return Err("control point count does not fit the trajectory type");
        }
        if self.max_speed < 0.0 {
            return Err("negative edge speed");
        }
        Ok(())
    }
}

wire_struct! {
    check = MotionCommand::check;
    /// RCS → AGV: a path for a task. `nodes[i]` and `nodes[i + 1]` are joined by `edges[i]`.
    /// The first `released_nodes` nodes (and the edges between them) are released: the AGV may
    /// drive them. The rest is preview, for planning only. A later command with the same
    /// `task_id` and a higher `segment` replaces the path from its first node on (which must be
    /// the last released node of the previous one): this is how the RCS releases a path piece by
    /// piece. Acknowledged with an [`Ack`](crate::message::Ack).
    pub struct MotionCommand {
        /// Task id.
        pub task_id: u32,
        /// What the task does.
        pub task_type: TaskType,
        /// Update counter within the task: 0, 1, 2...
        pub segment: u16,
        /// Map the path lies on.
        pub map_id: u16,
        /// Nodes, at least one.
        pub nodes: Vec<PathNode>,
        /// Edges: exactly one fewer than nodes.
        pub edges: Vec<PathEdge>,
        /// How many nodes are released (1..=nodes).
        pub released_nodes: u16,
        /// Task-wide speed limit, m/s (0: none).
        pub max_speed: f32,
        /// Extensions.
        pub extensions: Vec<Extension>,
    }
}

impl MotionCommand {
    fn check(&self) -> Result<(), &'static str> {
        if self.nodes.is_empty() {
            return Err("a path needs at least one node");
        }
        if self.edges.len() + 1 != self.nodes.len() {
            return Err("edges must number one fewer than nodes");
        }
        if self.released_nodes == 0 || usize::from(self.released_nodes) > self.nodes.len() {
            return Err("released_nodes must be between 1 and the node count");
        }
        if self.max_speed < 0.0 {
            return Err("negative task speed");
        }
        self.edges.iter().try_for_each(PathEdge::check)
    }
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for MotionCommand {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::arb::Gen;
        let nodes: Vec<PathNode> = (0..u.int_in_range(1..=5)?)
            .map(|_| PathNode::generate(u))
            .collect::<arbitrary::Result<_>>()?;
        let edges = (1..nodes.len())
            .map(|_| {
                let trajectory = TrajectoryType::generate(u)?;
                let points = match trajectory {
                    TrajectoryType::Line => 0,
                    TrajectoryType::Arc => 1,
                    TrajectoryType::Bezier => u.int_in_range(1..=2)?,
                };
                Ok(PathEdge {
                    edge_id: Gen::generate(u)?,
                    sequence: Gen::generate(u)?,
                    trajectory,
                    control_points: (0..points)
                        .map(|_| Point::generate(u))
                        .collect::<arbitrary::Result<_>>()?,
                    movement: Gen::generate(u)?,
                    max_speed: f32::generate(u)?.abs(),
                })
            })
            .collect::<arbitrary::Result<_>>()?;
        Ok(Self {
            task_id: Gen::generate(u)?,
            task_type: Gen::generate(u)?,
            segment: Gen::generate(u)?,
            map_id: Gen::generate(u)?,
            released_nodes: u.int_in_range(1..=nodes.len() as u16)?,
            nodes,
            edges,
            max_speed: f32::generate(u)?.abs(),
            extensions: Gen::generate(u)?,
        })
    }
}
#[cfg(feature = "arbitrary")]
crate::arb::arbitrary_via_gen!(MotionCommand);

wire_enum! {
    /// Task control operations.
    pub enum TaskOp: u8 {
        /// Stop at the next safe point and drop the task.
        Cancel = 0,
        /// Stop at the next safe point and keep the task.
        Pause = 1,
        /// Continue a paused task.
        Resume = 2,
    }
}

wire_struct! {
    /// RCS → AGV: cancels, pauses or resumes a task. Acknowledged with an Ack.
    pub struct TaskControl {
        /// Task id (0: whatever the AGV is doing).
        pub task_id: u32,
        /// Operation.
        pub op: TaskOp,
    }
}

wire_enum! {
    /// What a safety stop does.
    pub enum StopOp: u8 {
        /// Brake to a standstill at once (not at the next safe point) and stay stopped: no motion, no manoeuvre, no moving action until `Clear`; the released path is void.
        Stop = 0,
        /// The stop is lifted: the AGV keeps its task and moves again only on a new release.
        Clear = 1,
    }
}

wire_enum! {
    /// Why the RCS stops an AGV.
    pub enum StopReason: u8 {
        /// An AGV is where the RCS did not put it: its footprint overlaps space held by another AGV (this AGV, or one in or next to this AGV's released space).
        Overlap = 0,
        /// An operator stopped it.
        Operator = 1,
    }
}

wire_struct! {
    /// RCS → AGV: a safety stop, or its end. Unlike `TaskControl(Pause)`, which stops at the
    /// next safe point, a stop brakes at once and voids the released path; only `Clear` (from
    /// the RCS, in the same session) lifts it. Acknowledged with an Ack (`Ok` once braking).
    pub struct SafetyStop {
        /// Stop or clear.
        pub op: StopOp,
        /// Why.
        pub reason: StopReason,
        /// The safety episode (the RCS's alarm) this stop belongs to; `Clear` names the same.
        pub episode: u32,
        /// The other AGV involved (0: none).
        pub other_agv_id: u32,
    }
}

wire_enum! {
    /// Task states in progress reports.
    pub enum TaskState: u8 {
        /// Accepted, not started.
        Accepted = 0,
        /// Driving or running actions.
        Running = 1,
        /// Paused.
        Paused = 2,
        /// At the end of the released path, waiting for the next piece.
        WaitingForRelease = 3,
        /// Finished successfully.
        Completed = 4,
        /// Cancelled.
        Cancelled = 5,
        /// Failed (see the result code).
        Failed = 6,
    }
}

wire_struct! {
    /// The state of one action.
    pub struct ActionStatus {
        /// Action id.
        pub action_id: u32,
        /// Its state.
        pub state: ActuatorState,
    }
}

wire_struct! {
    /// AGV → RCS: task progress, sent on every node reached, every action state change and
    /// every task state change.
    pub struct TaskProgress {
        /// Task id.
        pub task_id: u32,
        /// Segment being executed.
        pub segment: u16,
        /// Task state.
        pub state: TaskState,
        /// Last node reached.
        pub last_node_id: u32,
        /// Its sequence number.
        pub last_node_sequence: u16,
        /// Distance driven since it, m.
        pub distance_since_last_node: f32,
        /// Actions of the task that have started or finished.
        pub actions: Vec<ActionStatus>,
        /// Outcome (for `Failed`: why).
        pub result: ResultCode,
    }
}
