//! Tasks: what is asked, its plan and where it stands.

use serde::{Deserialize, Serialize};

use crate::wait::Wait;

/// What a task does at its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Drive there.
    Move,
    /// Drive there and pick a load.
    Pick,
    /// Drive there and drop a load.
    Drop,
    /// Drive to a charger and charge.
    Charge,
    /// Drive to a parking place (or an out-of-the-way node) and stay.
    Park,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for an AGV.
    Queued,
    /// Being done.
    Running,
    /// Done.
    Completed,
    /// Could not be done (see `error`).
    Failed,
    /// Cancelled.
    Cancelled,
}

impl TaskState {
    /// Whether it has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// Drive on one map through `nodes` along `edges` (`edges.len() + 1 == nodes.len()`).
    Drive {
        /// The map.
        map: u16,
        /// Node ids.
        nodes: Vec<u32>,
        /// Directed edge ids.
        edges: Vec<u32>,
    },
    /// Switch navigation mode at `node`.
    NavSwitch {
        /// The map.
        map: u16,
        /// Where.
        node: u32,
        /// The new mode.
        to: maps::file::Navigation,
    },
    /// Ride lift `lift` from door `enter` to door `exit` on map `to_map`.
    Lift {
        /// The lift.
        lift: u16,
        /// Door on the floor it leaves.
        enter: u32,
        /// The map it arrives on.
        to_map: u16,
        /// Door on the floor it arrives on.
        exit: u32,
    },
}

/// What is asked: the input of [`crate::Core::submit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// What to do.
    pub kind: TaskKind,
    /// Destination node.
    pub destination: u32,
    /// The AGV to use (none: the core picks).
    pub agv: Option<u32>,
    /// Higher first (0..=100; 50 by default).
    pub priority: u8,
    /// Wanted done by, ms (virtual or UTC: the caller's clock).
    pub deadline_ms: Option<u64>,
}

impl Spec {
    /// A task of `kind` to `destination`, any AGV, default priority, no deadline.
    pub fn new(kind: TaskKind, destination: u32) -> Self {
        Self {
            kind,
            destination,
            agv: None,
            priority: 50,
            deadline_ms: None,
        }
    }
}

/// Why an AGV cannot be forgotten ([`crate::Core::forget`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// A session is up.
    #[error("the AGV is online")]
    Online,
    /// Tasks not ended run on it or name it.
    #[error("tasks {0:?} run on the AGV or name it: cancel them first")]
    Tasks(Vec<u32>),
    /// It holds safe-space grants.
    #[error("the AGV holds grants {0:?}: revoke them or let them expire first")]
    Grants(Vec<u32>),
}

/// Why a task is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such node.
    #[error("no node {0} on the site")]
    UnknownNode(u32),
    /// No such AGV.
    #[error("no AGV {0} is known")]
    UnknownAgv(u32),
    /// A charge task to a node that is not a charger (or a park task to a lift door...).
    #[error("a {kind} task cannot go to node {node}: it is a {found}")]
    WrongKind {
        /// The task kind.
        kind: &'static str,
        /// The node.
        node: u32,
        /// What the node is.
        found: &'static str,
    },
    /// A lift door: no AGV may be sent to wait in a cabin.
    #[error("node {0} is a lift door: tasks never end in a lift")]
    LiftDoor(u32),
    /// Inside a forbidden area.
    #[error("node {node} lies in forbidden area {area}")]
    Forbidden {
        /// The node.
        node: u32,
        /// The area.
        area: u32,
    },
    /// No edge leads there.
    #[error("node {0} cannot be reached: no edge leads there")]
    Unreachable(u32),
    /// Priority over 100.
    #[error("priority {0} is over 100")]
    Priority(u8),
}

/// A task as the core keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    /// Id.
    pub id: u32,
    /// What was asked.
    pub spec: Spec,
    /// Submitted by the core itself (idle parking, charging), not by a user.
    pub internal: bool,
    /// The AGV doing it.
    pub agv: Option<u32>,
    /// Where it stands.
    pub state: TaskState,
    /// The plan.
    pub steps: Vec<Step>,
    /// The step being done.
    pub step: usize,
    /// Index of the last node of the current drive released to the AGV.
    pub released: usize,
    /// Why it does not move, if it does not.
    pub wait: Option<Wait>,
    /// Why it failed.
    pub error: Option<String>,
    /// Submitted at, ms.
    pub created_ms: u64,
    /// Started at, ms.
    pub started_ms: Option<u64>,
    /// Last change, ms.
    pub updated_ms: u64,
    /// The current step was sent to the AGV.
    #[serde(skip)]
    pub(crate) sent: bool,
    /// A command of it is in flight.
    #[serde(skip)]
    pub(crate) busy: Option<u64>,
    /// The last node of the current drive the AGV is known to have reached (none: not even
    /// its first yet; its `last_node` may be a stale one of the same path).
    #[serde(skip)]
    pub(crate) reached: Option<usize>,
    /// The AGV's last node when the current drive's first piece was sent.
    #[serde(skip)]
    pub(crate) stale_node: u32,
    /// After backing off for a deadlock: the AGV it lets pass first, until when.
    #[serde(skip)]
    pub(crate) yield_to: Option<(u32, u64)>,
    /// How many times it was replanned around others.
    pub replans: u32,
    /// Stored as running before a restart of the RCS, and nothing sent for it since: its AGV
    /// may have finished it while the RCS was down (see [`crate::Core::report`]).
    pub restored: bool,
}

impl Task {
    pub(crate) fn new(id: u32, spec: Spec, internal: bool, now: u64) -> Self {
        Self {
            id,
            spec,
            internal,
            agv: None,
            state: TaskState::Queued,
            steps: Vec::new(),
            step: 0,
            released: 0,
            wait: None,
            error: None,
            created_ms: now,
            started_ms: None,
            updated_ms: now,
            sent: false,
            busy: None,
            reached: None,
            stale_node: 0,
            yield_to: None,
            replans: 0,
            restored: false,
        }
    }

    /// Starts the plan `steps` from its first step (nothing released, nothing sent).
    pub(crate) fn set_plan(&mut self, steps: Vec<Step>, now: u64) {
        self.steps = steps;
        self.step = 0;
        self.released = 0;
        self.reached = None;
        self.sent = false;
        self.wait = None;
        self.updated_ms = now;
    }

    /// Queue order: higher priority, then earlier deadline, then submission.
    pub(crate) fn order(&self) -> (std::cmp::Reverse<u8>, u64, u32) {
        (
            std::cmp::Reverse(self.spec.priority),
            self.spec.deadline_ms.unwrap_or(u64::MAX),
            self.id,
        )
    }
}

/// Checks a task against the site: the rules of docs/traffic.md ("Task validation").
/// `reachable` says whether an edge that is not blocked leads to a node.
pub fn validate(
    site: &maps::Site,
    spec: &Spec,
    reachable: impl Fn(u32) -> bool,
) -> Result<(), Refusal> {
    use maps::file::NodeKind;
    if spec.priority > 100 {
        return Err(Refusal::Priority(spec.priority));
    }
    let node = site
        .node(spec.destination)
        .ok_or(Refusal::UnknownNode(spec.destination))?;
    let name = |k: NodeKind| match k {
        NodeKind::Waypoint => "waypoint",
        NodeKind::Station => "station",
        NodeKind::Charger => "charger",
        NodeKind::LiftDoor => "lift door",
        NodeKind::Parking => "parking place",
    };
    if node.kind == NodeKind::LiftDoor
        || site
            .lifts()
            .iter()
            .any(|l| l.doors.iter().any(|d| d.1 == node.id))
    {
        return Err(Refusal::LiftDoor(node.id));
    }
    let wrong = |kind: &'static str| Refusal::WrongKind {
        kind,
        node: node.id,
        found: name(node.kind),
    };
    match spec.kind {
        TaskKind::Charge if node.kind != NodeKind::Charger => return Err(wrong("charge")),
        TaskKind::Park if !matches!(node.kind, NodeKind::Parking | NodeKind::Waypoint) => {
            return Err(wrong("park"));
        }
        _ => {}
    }
    if let Some(area) = site
        .areas_at(node.map, node.x, node.y)
        .find(|a| a.kind == maps::file::AreaKind::Forbidden)
    {
        return Err(Refusal::Forbidden {
            node: node.id,
            area: area.id,
        });
    }
    if !reachable(node.id) {
        return Err(Refusal::Unreachable(node.id));
    }
    Ok(())
}
