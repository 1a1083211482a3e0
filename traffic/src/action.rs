//! What the core asks its driver to do, in order.

use serde::Serialize;

use crate::wait::WaitReason;

/// A command for an AGV.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Drive: the released piece `nodes[0..]` of task `task`'s drive on `map` (the first node
    /// continues the path already released, or is where a new path starts).
    Motion {
        /// The task.
        task: u32,
        /// The map.
        map: u16,
        /// Node ids released in this piece (a continuation starts with the last node already
        /// released).
        nodes: Vec<u32>,
        /// Directed edges between them.
        edges: Vec<u32>,
        /// A new path (the first piece of a drive) or a continuation.
        new_path: bool,
        /// The last node is the end of the drive.
        last: bool,
    },
    /// Stop at the next safe point (at the latest the end of what was released) and drop the
    /// task.
    Cancel {
        /// The task.
        task: u32,
    },
    /// Switch navigation mode.
    NavSwitch {
        /// The task.
        task: u32,
        /// The map.
        map: u16,
        /// The mode.
        to: maps::file::Navigation,
    },
    /// Ride a lift to another floor (the AGV stands in its cabin).
    Lift {
        /// The task.
        task: u32,
        /// The lift.
        lift: u16,
        /// The map it arrives on.
        to_map: u16,
        /// The door node it arrives at.
        exit: u32,
    },
    /// Start charging at a charger.
    Charge {
        /// The charger node.
        node: u32,
    },
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Carried out (or being carried out).
    Ok,
    /// The AGV refused it.
    Refused,
    /// No answer after every retransmission: it may or may not have reached the AGV.
    Lost,
    /// The AGV went offline before answering.
    Offline,
    /// The driver could not commit the reservations of an [`Action::Motion`]: it did not send it.
    NotStored,
}

/// Something worth telling operators and business systems.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// A task was queued.
    Submitted {
        /// Task.
        task: u32,
        /// Submitted by the core (idle parking, charging).
        internal: bool,
    },
    /// A task got its AGV.
    Assigned {
        /// Task.
        task: u32,
        /// AGV.
        agv: u32,
    },
    /// A task started waiting, or waits for something else now.
    Waiting {
        /// Task.
        task: u32,
        /// AGV.
        agv: u32,
        /// Why.
        reason: WaitReason,
    },
    /// A task was replanned around others (a deadlock or an AGV parked in the way).
    Replanned {
        /// Task.
        task: u32,
        /// AGV.
        agv: u32,
    },
    /// A deadlock was found and is being resolved.
    Deadlock {
        /// The AGVs of the cycle.
        cycle: Vec<u32>,
        /// What was done: `replanned`, `backed_off`, `cleared_way`.
        how: &'static str,
    },
    /// A task ended.
    Ended {
        /// Task.
        task: u32,
        /// How.
        state: crate::task::TaskState,
    },
}

/// One action, in the order the core produced them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Commit these reservations, then send `command` (id `id`) to `agv`; answer it with
    /// [`crate::Core::answered`]. If they cannot be committed, do not send it and answer
    /// [`Outcome::NotStored`].
    Motion {
        /// Command id.
        id: u64,
        /// The AGV.
        agv: u32,
        /// Reservations to commit first: (map, resource ids).
        reserve: Vec<(u16, Vec<u64>)>,
        /// The task.
        task: u32,
        /// The command.
        command: Command,
    },
    /// Send `command` (id `id`) to `agv` and answer it with [`crate::Core::answered`].
    Send {
        /// Command id.
        id: u64,
        /// The AGV.
        agv: u32,
        /// The command.
        command: Command,
    },
    /// These reservations of `agv` were given up: forget them in storage.
    Released {
        /// The AGV.
        agv: u32,
        /// Resource ids.
        resources: Vec<u64>,
    },
    /// Task `task` changed: store it.
    StoreTask {
        /// The task.
        task: u32,
    },
    /// Tell the event stream.
    Publish(Event),
    /// Raise an alarm (once per episode): task `task` of `agv` waits at `node` for offline
    /// AGV `blocker`.
    Alarm {
        /// The AGV concerned.
        agv: u32,
        /// The task concerned.
        task: u32,
        /// The offline AGV it waits for.
        blocker: u32,
        /// Where it waits.
        node: u32,
        /// How long so far, ms.
        waited_ms: u64,
        /// What an operator can do.
        remedy: String,
    },
}
