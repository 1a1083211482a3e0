//! Tasks and their dispatch (docs/traffic.md): a task is queued, assigned to an AGV (the one
//! asked for, or the idle AGV with the fastest route), planned with `maps::Planner`, and run
//! step by step. Drives are released piece by piece: only nodes and edges the AGV holds in the
//! space table are released to it, the rest of the leg travels as preview; each reservation is
//! committed to the database before the motion frame relying on it is sent. Navigation and map
//! switches are sent at their step and their results awaited.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maps::space::{corridor, disc};
use maps::{Leg, Planner, Shape, Vehicle};
use protocol::message::{
    Action, MapSwitch, Message, MotionCommand, NavSwitch, PathEdge, PathNode, TaskControl, TaskOp,
};
use protocol::types::{
    ActuatorType, AgvState, LiftAdjustment, MovementType, Point, Pose, ResultCode, TargetAttribute,
    TaskType, TrajectoryType,
};
use serde::Serialize;
use serde_json::json;

use crate::connections::CommandError;
use crate::state::{Shared, now_ms};
use crate::waits::WaitReason::{self, ForLift, Settling};

/// How many nodes beyond the AGV's last node are kept released (at least; a single lane is
/// released to its end in one piece).
pub const LOOKAHEAD: usize = 3;
/// How often the dispatcher runs.
pub const TICK: Duration = Duration::from_millis(100);
/// How many idle AGVs (nearest first) are routed when a task is assigned.
pub const ASSIGN_CANDIDATES: usize = 8;
/// Margin around an AGV's circumscribed radius for reservations, m.
pub const MARGIN: f64 = 0.05;

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Drive to the destination.
    Move,
    /// Drive there and lift the load (jacking up).
    Pick,
    /// Drive there and set the load down.
    Drop,
    /// Drive to a charger (the destination, or the nearest) and charge.
    Charge,
    /// Drive to a parking place (the destination, or the nearest).
    Park,
}

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for an AGV.
    Queued,
    /// An AGV is on it.
    Running,
    /// Done.
    Completed,
    /// Failed (see `error`).
    Failed,
    /// Cancelled.
    Cancelled,
}

/// One step of a task's plan.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Drive along nodes on a map.
    Drive {
        /// Map.
        map: u16,
        /// Node ids.
        nodes: Vec<u32>,
        /// Directed edge ids.
        edges: Vec<u32>,
    },
    /// Switch navigation mode at a node.
    NavSwitch {
        /// Map.
        map: u16,
        /// Node.
        node: u32,
        /// Target mode (`slam`, `qr_code`, ...).
        to: String,
    },
    /// Ride a lift (or pass a link) and switch map.
    MapSwitch {
        /// Lift id (0 for a link).
        lift: u16,
        /// From map.
        from_map: u16,
        /// Door node on the start map.
        from_node: u32,
        /// Target map.
        to_map: u16,
        /// Door node on the target map.
        to_node: u32,
    },
}

/// A task.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Task {
    /// Task id.
    pub id: u32,
    /// Kind.
    pub kind: TaskKind,
    /// Destination node.
    pub destination: u32,
    /// The AGV asked for, if any.
    pub requested_agv: Option<u32>,
    /// The AGV doing it.
    pub agv: Option<u32>,
    /// State.
    pub state: TaskState,
    /// The plan.
    pub steps: Vec<Step>,
    /// Index of the step being executed.
    pub step: usize,
    /// Nodes of the current drive released to the AGV (index of the last released node).
    pub released: usize,
    /// Why it does not move, since when (`crate::waits`), if it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::waits::WaitDoc>)]
    pub wait: Option<crate::waits::Wait>,
    /// The AGV it waits for (holding the space it needs, or riding the lift), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<u32>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who submitted it.
    pub created_by: String,
    /// Submitted at, UTC ms.
    pub created_at_ms: u64,
    /// Last change, UTC ms.
    pub updated_at_ms: u64,
    /// The submitter's reference (idempotent submission), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Priority, 0 to 100: queued tasks are assigned higher priority first.
    pub priority: u8,
    /// When it should be done, UTC ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Its deadline passed before it ended (computed when read: an unfinished task is late once
    /// the deadline is past, a finished one if it ended after it).
    pub late: bool,
    /// The AGV and destination it was submitted with (the destination as a node id, none when
    /// the server chose it): a resubmission with its reference must match them.
    #[serde(skip)]
    submitted: (Option<u32>, Option<u32>),
    #[serde(skip)]
    segment: u16,
    /// A command for the current step is in flight.
    #[serde(skip)]
    pub(crate) busy: bool,
    /// The current step was sent (switch steps).
    #[serde(skip)]
    sent: bool,
    /// After backing off for a deadlock: the AGV it lets pass first, until when (UTC ms).
    #[serde(skip)]
    yield_to: Option<(u32, u64)>,
    /// The last node of the current drive the AGV is known to have reached (none: not even its
    /// first yet; its last node may be a stale one that comes later in this path).
    #[serde(skip)]
    reached: Option<usize>,
    /// The AGV's last node when the current drive's first piece was sent.
    #[serde(skip)]
    stale_node: u32,
}

impl Task {
    /// Whether a submission of `kind` to `destination` (none: the server's choice) for `agv`
    /// asks for what this task was submitted for.
    pub fn same_request(&self, kind: TaskKind, destination: Option<u32>, agv: Option<u32>) -> bool {
        self.kind == kind && self.submitted == (agv, destination)
    }

    /// A new task in the queue.
    fn queued(id: u32, new: NewTask, created_by: String, created_at_ms: u64) -> Self {
        Self {
            id,
            kind: new.kind,
            destination: new.destination,
            requested_agv: new.agv,
            agv: None,
            state: TaskState::Queued,
            steps: Vec::new(),
            step: 0,
            released: 0,
            wait: None,
            waiting_for: None,
            error: None,
            created_by,
            created_at_ms,
            updated_at_ms: now_ms(),
            submitted: (new.agv, new.destination_given.then_some(new.destination)),
            reference: new.reference,
            priority: new.priority,
            deadline_ms: new.deadline_ms,
            late: false,
            segment: 0,
            busy: false,
            sent: false,
            yield_to: None,
            reached: None,
            stale_node: 0,
        }
    }

    /// A stored task as it was stored (state, AGV, steps, error); none for a row that cannot
    /// be read.
    fn from_row(row: crate::db::TaskRow) -> Option<Self> {
        let kind = serde_json::from_value::<TaskKind>(json!(row.kind)).ok()?;
        let state = serde_json::from_value::<TaskState>(json!(row.state)).ok()?;
        let spec: serde_json::Value = serde_json::from_str(&row.spec).unwrap_or_default();
        let node = |v: &serde_json::Value| v.as_u64().and_then(|d| u32::try_from(d).ok());
        let destination = node(&spec["destination"])?;
        let requested_agv = node(&spec["requested_agv"]);
        let submitted_agv = match spec.get("submitted_agv") {
            Some(v) => node(v),
            None => requested_agv,
        };
        let given = spec["destination_given"].as_bool().unwrap_or(true);
        let mut task = Self::queued(
            row.task_id,
            NewTask {
                kind,
                destination,
                destination_given: given,
                agv: submitted_agv,
                reference: row.reference,
                priority: spec["priority"]
                    .as_u64()
                    .and_then(|p| u8::try_from(p).ok())
                    .unwrap_or(crate::task_rules::DEFAULT_PRIORITY),
                deadline_ms: spec["deadline_ms"].as_u64(),
            },
            row.created_by,
            row.created_at.max(0) as u64,
        );
        task.requested_agv = requested_agv;
        task.agv = row.agv_id;
        task.state = state;
        task.steps = serde_json::from_value(spec["steps"].clone()).unwrap_or_default();
        task.error = spec["error"].as_str().map(str::to_owned);
        task.updated_at_ms = row.updated_at.max(0) as u64;
        Some(task)
    }

    /// A copy as answered at `now` (with `late` computed).
    fn view(&self, now: u64) -> Self {
        let mut t = self.clone();
        let end = match t.state {
            TaskState::Queued | TaskState::Running => now,
            _ => t.updated_at_ms,
        };
        t.late = t.deadline_ms.is_some_and(|d| end > d);
        t
    }
}

/// A task to add to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// What to do.
    pub kind: TaskKind,
    /// Where.
    pub destination: u32,
    /// Whether the destination was given (not chosen by the server).
    pub destination_given: bool,
    /// The AGV asked for, if any.
    pub agv: Option<u32>,
    /// The submitter's reference, if any (at most one task each).
    pub reference: Option<String>,
    /// Priority, 0 to 100.
    pub priority: u8,
    /// Deadline, UTC ms.
    pub deadline_ms: Option<u64>,
}

impl NewTask {
    /// A task of `kind` to the given `destination` with the default priority, no deadline and no
    /// reference.
    pub fn new(kind: TaskKind, destination: u32, agv: Option<u32>) -> Self {
        Self {
            kind,
            destination,
            destination_given: true,
            agv,
            reference: None,
            priority: crate::task_rules::DEFAULT_PRIORITY,
            deadline_ms: None,
        }
    }
}

/// What [`Tasks::submit`] did.
#[derive(Debug, Clone)]
pub enum Submission {
    /// The task was added.
    Added(Task),
    /// Its reference was taken: the task that has it (nothing was added).
    ReferenceTaken(Task),
}

/// The task table.
#[derive(Debug, Default)]
pub struct Tasks {
    pub(crate) tasks: Mutex<BTreeMap<u32, Task>>,
    /// Task ids by their submitter's reference (locked before `tasks`).
    references: Mutex<std::collections::HashMap<String, u32>>,
    next_id: Mutex<u32>,
    /// Who rides each lift (capacity 1).
    lifts: Mutex<std::collections::HashMap<u16, u32>>,
}

/// Why a task was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// No such node or named node.
    #[error("unknown destination {0}")]
    UnknownDestination(String),
    /// No such AGV.
    #[error("unknown AGV {0}")]
    UnknownAgv(u32),
    /// No charger or parking place.
    #[error("the site has no {0}")]
    NoneOnSite(&'static str),
}

impl Tasks {
    /// Starts ids after `last`.
    pub fn new(last: u32) -> Self {
        Self {
            tasks: Mutex::new(BTreeMap::new()),
            references: Mutex::new(std::collections::HashMap::new()),
            next_id: Mutex::new(last + 1),
            lifts: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Adds a queued task; if its reference is already taken, nothing is added and the task
    /// that has it is returned.
    pub fn submit(&self, new: NewTask, created_by: &str) -> Submission {
        let mut references = self.references.lock().expect("not poisoned");
        if let Some(existing) = new
            .reference
            .as_ref()
            .and_then(|r| references.get(r))
            .and_then(|id| self.get(*id))
        {
            return Submission::ReferenceTaken(existing);
        }
        let mut next = self.next_id.lock().expect("not poisoned");
        let id = *next;
        *next = next.wrapping_add(1).max(1);
        if let Some(r) = &new.reference {
            references.insert(r.clone(), id);
        }
        let now = now_ms();
        let task = Task::queued(id, new, created_by.to_owned(), now);
        self.tasks
            .lock()
            .expect("not poisoned")
            .insert(id, task.clone());
        Submission::Added(task.view(now))
    }

    /// The task submitted with `reference`, if it is in the table.
    pub fn by_reference(&self, reference: &str) -> Option<Task> {
        let id = *self
            .references
            .lock()
            .expect("not poisoned")
            .get(reference)?;
        self.get(id)
    }

    /// Restores unfinished tasks after a restart: each goes back to the queue (a running one
    /// for the AGV that had it), to be planned from where its AGV stands.
    pub fn restore(&self, rows: Vec<crate::db::TaskRow>) {
        self.insert_stored(rows.into_iter().filter_map(Task::from_row).map(|mut t| {
            t.requested_agv = t.requested_agv.or(t.agv);
            t.agv = None;
            t.state = TaskState::Queued;
            t.steps.clear();
            t.error = None;
            t.updated_at_ms = now_ms();
            t
        }));
    }

    /// Restores tasks that had finished before a restart, so that they are listed and answered
    /// as they ended (a task already in the table stays as it is).
    pub fn restore_finished(&self, rows: Vec<crate::db::TaskRow>) {
        self.insert_stored(rows.into_iter().filter_map(Task::from_row));
    }

    /// Adds stored tasks (a task already in the table stays as it is) with their references.
    fn insert_stored(&self, stored: impl Iterator<Item = Task>) {
        let mut references = self.references.lock().expect("not poisoned");
        let mut tasks = self.tasks.lock().expect("not poisoned");
        for t in stored {
            if let Some(r) = &t.reference {
                references.entry(r.clone()).or_insert(t.id);
            }
            tasks.entry(t.id).or_insert(t);
        }
    }

    /// A copy of one task.
    pub fn get(&self, id: u32) -> Option<Task> {
        let now = now_ms();
        self.tasks
            .lock()
            .expect("not poisoned")
            .get(&id)
            .map(|t| t.view(now))
    }

    /// Copies of every task, by id.
    pub fn list(&self) -> Vec<Task> {
        let now = now_ms();
        self.tasks
            .lock()
            .expect("not poisoned")
            .values()
            .map(|t| t.view(now))
            .collect()
    }

    pub(crate) fn with<R>(&self, id: u32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
        self.tasks.lock().expect("not poisoned").get_mut(&id).map(f)
    }

    /// The active task of `agv`, if any.
    pub fn active_of(&self, agv: u32) -> Option<u32> {
        self.tasks
            .lock()
            .expect("not poisoned")
            .values()
            .find(|t| t.agv == Some(agv) && t.state == TaskState::Running)
            .map(|t| t.id)
    }
}

/// Resolves a destination given as a node id or a node name.
pub fn resolve_destination(site: &maps::Site, dest: &str) -> Result<u32, TaskError> {
    if let Ok(id) = dest.parse::<u32>()
        && site.node(id).is_some()
    {
        return Ok(id);
    }
    site.nodes()
        .iter()
        .find(|n| n.name.as_deref() == Some(dest))
        .map(|n| n.id)
        .ok_or_else(|| TaskError::UnknownDestination(dest.to_owned()))
}

/// Checks a task against the task rules (`crate::task_rules`): for a task naming `agv`, the
/// route from where it stands (if that is known) with its vehicle.
pub fn check_task(
    shared: &Shared,
    kind: TaskKind,
    destination: u32,
    agv: Option<u32>,
) -> Result<(), crate::task_rules::TaskRefusal> {
    let vehicle = agv.map(|a| vehicle_of(shared, a));
    let start = agv.zip(vehicle.as_ref()).and_then(|(agv, vehicle)| {
        Some(crate::task_rules::Start {
            agv,
            node: current_node(shared, agv)?,
            vehicle,
        })
    });
    shared
        .task_rules
        .check(&shared.site, kind, destination, start)
}

/// The shape of a reserved resource (a node, a directed edge, or the approach from where the
/// AGV stood, `from`, to a node) for an AGV of `footprint`.
pub fn resource_shape(
    site: &maps::Site,
    resource: u64,
    footprint: Option<[f64; 4]>,
    from: Option<(f64, f64)>,
) -> Option<Shape> {
    let r = radius(footprint);
    if resource >= APPROACH {
        let n = site.node(u32::try_from(resource - APPROACH).ok()?)?;
        let (x, y) = from.unwrap_or((n.x, n.y));
        Some(corridor(&[[x, y], [n.x, n.y]], r))
    } else if resource >= EDGE {
        let e = site.edge(u32::try_from(resource - EDGE).ok()?)?;
        Some(corridor(&e.polyline, r))
    } else {
        let n = site.node(u32::try_from(resource).ok()?)?;
        Some(Shape::new(vec![disc(n.x, n.y, r)]))
    }
}

/// Edge resources are `EDGE + edge id`.
const EDGE: u64 = 1 << 40;
/// The approach to the first node of a drive from where the AGV stands off it: `APPROACH +
/// node id`.
const APPROACH: u64 = 1 << 41;

/// The resource id of a node or a directed edge in the space table.
fn node_resource(id: u32) -> u64 {
    u64::from(id)
}

fn edge_resource(id: u32) -> u64 {
    EDGE | u64::from(id)
}

/// An AGV's circumscribed radius plus the margin.
fn radius(fp: Option<[f64; 4]>) -> f64 {
    let [f, r, l, rt] = fp.unwrap_or([0.5, 0.5, 0.4, 0.4]);
    f.max(r).hypot(l.max(rt)) + MARGIN
}

fn vehicle_of(shared: &Shared, agv: u32) -> Vehicle {
    let view = shared.fleet.get(agv);
    let fp = view.as_ref().and_then(|v| v.footprint);
    Vehicle {
        width: fp.map_or(0.8, |f| f[2] + f[3]),
        ..Vehicle::default()
    }
}

/// The node an AGV is at, or nearest to, on the map it reports (its last node may lie on
/// another map after a lift ride); none while it does not know where it is.
fn current_node(shared: &Shared, agv: u32) -> Option<u32> {
    let view = shared.fleet.get(agv)?;
    let status = view.status.as_ref()?;
    if status.localisation_quality == 0 {
        return None;
    }
    shared
        .site
        .nearest_node(status.map_id, status.pose.x, status.pose.y)
        .map(|(n, _)| n.id)
}

/// The approach to `node` (the first of a drive on `map`) when `agv` stands farther than 5 cm
/// off it: a corridor from where it stands.
fn approach(shared: &Shared, agv: u32, map: u16, node: u32) -> Option<(u64, Shape)> {
    let view = shared.fleet.get(agv)?;
    let s = view.status.as_ref().filter(|s| s.map_id == map)?;
    let n = shared.site.node(node)?;
    if (n.x - s.pose.x).hypot(n.y - s.pose.y) <= 0.05 {
        return None;
    }
    let resource = APPROACH | u64::from(node);
    let shape = resource_shape(
        &shared.site,
        resource,
        view.footprint,
        Some((s.pose.x, s.pose.y)),
    )?;
    Some((resource, shape))
}

fn steps_of(route: &maps::Route) -> Vec<Step> {
    route
        .legs
        .iter()
        .map(|leg| match leg {
            Leg::Drive { map, nodes, edges } => Step::Drive {
                map: *map,
                nodes: nodes.clone(),
                edges: edges.clone(),
            },
            Leg::NavSwitch { map, node, to, .. } => Step::NavSwitch {
                map: *map,
                node: *node,
                to: serde_json::to_value(to)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            },
            Leg::Lift {
                lift, enter, exit, ..
            } => Step::MapSwitch {
                lift: *lift,
                from_map: enter.map,
                from_node: enter.node,
                to_map: exit.map,
                to_node: exit.node,
            },
            Leg::Link { from, to, .. } => Step::MapSwitch {
                lift: 0,
                from_map: from.map,
                from_node: from.node,
                to_map: to.map,
                to_node: to.node,
            },
        })
        .collect()
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

/// Runs the dispatcher until the server stops.
pub async fn run(shared: Arc<Shared>) {
    let mut stop = shared.stop_signal();
    loop {
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
        tick(&shared).await;
    }
}

/// One dispatcher pass: assign queued tasks, advance running ones.
pub async fn tick(shared: &Arc<Shared>) {
    crate::waits::begin_pass(shared);
    send_low_batteries_to_chargers(shared).await;
    let tasks = shared.tasks.list();
    let mut queued: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Queued)
        .collect();
    queued.sort_by_key(|t| crate::task_rules::queue_key(t.priority, t.deadline_ms, t.id));
    for t in queued {
        assign(shared, t).await;
    }
    for t in tasks
        .iter()
        .filter(|t| t.state == TaskState::Running && !t.busy)
    {
        advance(shared, t.id).await;
    }
    resolve_deadlocks(shared).await;
    release_settled(shared).await;
    crate::waits::end_pass(shared).await;
}

/// Below this charge (%), an idle AGV without a task is sent to the nearest charger.
pub const BATTERY_LOW_PCT: f32 = 20.0;

async fn send_low_batteries_to_chargers(shared: &Arc<Shared>) {
    let now = now_ms();
    // AGVs with a task, or sent to charge within the last 30 s (charging may not show yet).
    let pending: Vec<u32> = shared
        .tasks
        .list()
        .iter()
        .filter(|t| {
            matches!(t.state, TaskState::Queued | TaskState::Running)
                || (t.kind == TaskKind::Charge && now.saturating_sub(t.updated_at_ms) < 30_000)
        })
        .filter_map(|t| t.agv.or(t.requested_agv))
        .collect();
    for (agv, view) in shared.fleet.snapshot() {
        let low = view
            .status
            .as_ref()
            .is_some_and(|s| s.battery_pct < BATTERY_LOW_PCT && !s.charging);
        if !low || pending.contains(&agv) || !is_idle(shared, agv) {
            continue;
        }
        let Some(charger) = nearest_of_kind(shared, Some(agv), maps::file::NodeKind::Charger)
        else {
            continue;
        };
        submit_own(shared, TaskKind::Charge, charger, agv, "battery low".into()).await;
    }
}

/// How long AGVs must wait on each other in a cycle before it counts as a deadlock, ms.
pub const DEADLOCK_AFTER_MS: u64 = 500;
/// How long an AGV that backed off out of a deadlock lets the other AGV pass first, at most, ms.
pub const YIELD_MS: u64 = 10_000;

/// Finds cycles in the wait-for graph (AGV → the AGV holding the space it needs) and breaks
/// each: the AGV with the youngest task replans around the space the others hold, or, if it
/// cannot, backs off to a free neighbouring node first (docs/traffic.md).
async fn resolve_deadlocks(shared: &Arc<Shared>) {
    let now = now_ms();
    let tasks = shared.tasks.list();
    // Only AGVs standing at the end of what was released to them count as waiting: the path of
    // an AGV still driving its released pieces must not be taken away (it has the right to
    // drive there, and another AGV would be given that space while it is still on it).
    let waits: std::collections::HashMap<u32, (u32, u32)> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running && !t.busy)
        .filter(|t| {
            t.wait
                .as_ref()
                .is_some_and(|w| now >= w.since_ms + DEADLOCK_AFTER_MS)
        })
        .filter_map(|t| Some((t.agv?, (t.id, t.waiting_for?))))
        .filter(|(agv, _)| at_rest(shared, *agv))
        .collect();
    let (mut handled, mut stuck) = (Vec::new(), Vec::new());
    // Waiting on an AGV that has no task (parked in the way) is no cycle but never ends by
    // itself: the waiting AGV replans around it.
    for (&agv, &(task_id, other)) in &waits {
        if shared.tasks.active_of(other).is_none()
            && !shared
                .tasks
                .list()
                .iter()
                .any(|t| t.state == TaskState::Queued && t.requested_agv == Some(other))
        {
            handled.push(agv);
            let on_destination = shared
                .tasks
                .get(task_id)
                .is_some_and(|t| current_node(shared, other) == Some(t.destination));
            if on_destination || !replan_around(shared, task_id, agv, None).await {
                clear_the_way(shared, other, task_id).await;
            }
        }
    }
    let mut starts: Vec<u32> = waits.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        if handled.contains(&start) {
            continue;
        }
        let mut cycle = vec![start];
        let mut at = start;
        let found = loop {
            let Some(&(_, next)) = waits.get(&at) else {
                break false;
            };
            if next == start {
                break true;
            }
            if cycle.contains(&next) || cycle.len() > waits.len() {
                break false;
            }
            cycle.push(next);
            at = next;
        };
        if !found {
            continue;
        }
        handled.extend(&cycle);
        // The AGV with the youngest task gives way; if it has no way around and no free
        // neighbour, the next youngest does, and so on.
        let mut order = cycle.clone();
        order.sort_by_key(|a| std::cmp::Reverse(waits[a].0));
        let mut resolved = false;
        for victim in order {
            let task_id = waits[&victim].0;
            // the AGV waiting for it in the cycle: it goes first once the victim backed off
            let waiting_for_victim = cycle
                .iter()
                .copied()
                .find(|a| waits[a].1 == victim)
                .unwrap_or(waits[&victim].1);
            if replan_around(shared, task_id, victim, Some(waiting_for_victim)).await {
                tracing::info!(?cycle, victim, task_id, "deadlock: replanned");
                shared.events.publish(
                    "traffic.deadlock",
                    Some(victim),
                    "dispatcher",
                    json!({ "cycle": cycle, "task_id": task_id }),
                );
                resolved = true;
                break;
            }
        }
        if !resolved {
            stuck.push(cycle);
        }
    }
    crate::waits::stuck_cycles(shared, stuck);
}

/// Nodes other AGVs stand on or hold reservations of.
fn held_by_others(shared: &Shared, agv: u32) -> Vec<u32> {
    let mut nodes: Vec<u32> = shared
        .space
        .lock()
        .expect("not poisoned")
        .all()
        .filter_map(|(a, _, hold, _)| match hold {
            maps::Hold::Reservation { resource } if a != agv && resource < (1 << 40) => {
                u32::try_from(resource).ok()
            }
            _ => None,
        })
        .collect();
    for (other, _) in shared.fleet.snapshot() {
        if other != agv
            && let Some(n) = current_node(shared, other)
        {
            nodes.push(n);
        }
    }
    // A lift's doors are one cabin: one of them taken takes them all.
    for lift in shared.site.lifts() {
        if lift.doors.iter().any(|d| nodes.contains(&d.1)) {
            nodes.extend(lift.doors.iter().map(|d| d.1));
        }
    }
    nodes
}

/// Whether `agv` is online and stands still in a state that does not move it (idle, waiting,
/// paused, charging, faulted or emergency-stopped; not under manual control), wherever it is.
fn stopped(shared: &Shared, agv: u32) -> bool {
    still_status(shared, agv).is_some_and(|s| {
        matches!(
            s.state,
            AgvState::Idle
                | AgvState::WaitingForRelease
                | AgvState::Paused
                | AgvState::Charging
                | AgvState::Fault
                | AgvState::EmergencyStop
                | AgvState::SafetyStop
        )
    })
}

/// See [`Shared::still_status`].
fn still_status(shared: &Shared, agv: u32) -> Option<protocol::message::StatusReport> {
    shared.still_status(agv)
}

/// Whether `agv` stands still at the end of what was released to it: online, reporting
/// `WaitingForRelease` (at the end of its released path) or `Idle` (nothing released: it may
/// stand off a node, after a cancel, a lost link or a move by hand), not moving. Only then may
/// its reservations be given up and its path replanned (from the nearest node, with the
/// approach to it).
fn at_rest(shared: &Shared, agv: u32) -> bool {
    still_status(shared, agv)
        .is_some_and(|s| matches!(s.state, AgvState::WaitingForRelease | AgvState::Idle))
}

/// Replans a waiting task around the space others hold; returns whether it did. Never for an
/// AGV that is not [`at_rest`]: its reservations are all given up. With `backoff_for`, an AGV
/// with no way around backs off to a free neighbour first and lets that AGV (the one waiting
/// for it) pass before it goes on.
async fn replan_around(
    shared: &Arc<Shared>,
    task_id: u32,
    agv: u32,
    backoff_for: Option<u32>,
) -> bool {
    let Some(task) = shared.tasks.get(task_id) else {
        return false;
    };
    if !at_rest(shared, agv) {
        return false;
    }
    let Some(here) = current_node(shared, agv) else {
        return false;
    };
    let blocked = held_by_others(shared, agv);
    let vehicle = vehicle_of(shared, agv);
    let site = &shared.site;
    let mut planner = Planner::new(site);
    for e in site.edges() {
        let (_, to) = site.ends(e);
        if blocked.contains(&to) {
            planner.exclude_edge(e.id, true);
        }
    }
    let mut backed_off = false;
    let route = planner
        .route(here, task.destination, &vehicle)
        .ok()
        .or_else(|| {
            backoff_for?;
            backed_off = true;
            // No way around: back off to a free neighbour, then take the normal route from there.
            let neighbour = site
                .edges()
                .iter()
                .filter(|e| e.kind == maps::EdgeKind::Drive && !e.blocked)
                .map(|e| site.ends(e))
                .filter(|(from, to)| *from == here && !blocked.contains(to))
                .map(|(_, to)| to)
                .next()?;
            let mut plain = Planner::new(site);
            let back = plain.route(here, neighbour, &vehicle).ok()?;
            let on = plain.route(neighbour, task.destination, &vehicle).ok()?;
            Some(maps::Route {
                time_s: back.time_s + on.time_s,
                length_m: back.length_m + on.length_m,
                legs: back.legs.into_iter().chain(on.legs).collect(),
            })
        });
    let Some(route) = route else {
        return false; // (a cycle nobody can break is logged once: `waits::stuck_cycles`)
    };
    release_all(shared, agv).await;
    // Backed off: it lets the AGV it waited for pass before it goes on (or it would take the
    // freed space back at once, and both would wait again).
    let yield_to = backoff_for
        .filter(|_| backed_off)
        .map(|other| (other, now_ms() + YIELD_MS));
    shared.tasks.with(task_id, |t| {
        t.steps = steps_of(&route);
        t.step = 0;
        t.released = 0;
        t.reached = None;
        t.sent = false;
        crate::waits::end(&shared.metrics, t);
        t.yield_to = yield_to;
        t.updated_at_ms = now_ms();
    });
    persist(shared, task_id).await;
    shared.events.publish(
        "task.replanned",
        Some(agv),
        "dispatcher",
        json!({ "task_id": task_id, "route_time_s": route.time_s }),
    );
    true
}

/// An idle AGV stands where a task must go and there is no way around: it is sent to the
/// nearest free parking place or waypoint off that task's path.
async fn clear_the_way(shared: &Arc<Shared>, blocker: u32, for_task: u32) {
    let Some(here) = current_node(shared, blocker) else {
        return;
    };
    let Some(from) = shared.site.node(here) else {
        return;
    };
    let mut avoid: Vec<u32> = held_by_others(shared, blocker);
    if let Some(t) = shared.tasks.get(for_task) {
        avoid.push(t.destination);
        for step in &t.steps {
            if let Step::Drive { nodes, .. } = step {
                avoid.extend(nodes);
            }
        }
    }
    let target = shared
        .site
        .nodes()
        .iter()
        .filter(|n| n.map == from.map && n.id != here && !avoid.contains(&n.id))
        .filter(|n| {
            matches!(
                n.kind,
                maps::file::NodeKind::Parking | maps::file::NodeKind::Waypoint
            )
        })
        // (never into a forbidden or no-stop area, nor where there is no way in)
        .filter(|n| {
            shared
                .task_rules
                .check(&shared.site, TaskKind::Move, n.id, None)
                .is_ok()
        })
        .min_by(|a, b| {
            let da = (a.x - from.x).hypot(a.y - from.y)
                + if a.kind == maps::file::NodeKind::Parking {
                    0.0
                } else {
                    0.5
                };
            let db = (b.x - from.x).hypot(b.y - from.y)
                + if b.kind == maps::file::NodeKind::Parking {
                    0.0
                } else {
                    0.5
                };
            da.total_cmp(&db)
        })
        .map(|n| (n.id, n.kind));
    let Some((target, kind)) = target else {
        return;
    };
    // a park task goes to a parking place only (task_rules); elsewhere it is a move
    let kind = if kind == maps::file::NodeKind::Parking {
        TaskKind::Park
    } else {
        TaskKind::Move
    };
    submit_own(
        shared,
        kind,
        target,
        blocker,
        format!("clearing the way for task {for_task}"),
    )
    .await;
}

/// Submits a task of the dispatcher's own for `agv`, stored and announced.
async fn submit_own(shared: &Shared, kind: TaskKind, destination: u32, agv: u32, why: String) {
    let task = shared
        .tasks
        .submit(NewTask::new(kind, destination, Some(agv)), "dispatcher");
    let (Submission::Added(task) | Submission::ReferenceTaken(task)) = task;
    persist(shared, task.id).await;
    shared.events.publish(
        "task.submitted",
        Some(agv),
        "dispatcher",
        json!({ "task_id": task.id, "kind": kind, "destination": destination, "why": why }),
    );
}

fn is_idle(shared: &Shared, agv: u32) -> bool {
    shared.fleet.get(agv).is_some_and(|v| {
        v.online
            && v.registered
            && v.status.as_ref().is_some_and(|s| {
                s.state == AgvState::Idle && !s.e_stop && s.localisation_quality > 0
            })
    }) && shared.tasks.active_of(agv).is_none()
        && !shared.safety.is_stopped(agv)
}

async fn assign(shared: &Arc<Shared>, t: &Task) {
    let candidates: Vec<u32> = match t.requested_agv {
        Some(a) => vec![a],
        None => shared
            .fleet
            .snapshot()
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    // Route only the few idle AGVs nearest the destination (straight line, same map first):
    // with thousands of AGVs, routing every one per task would stall the dispatcher.
    let Some(goal) = shared.site.node(t.destination) else {
        return;
    };
    let mut near: Vec<(f64, u32, u32)> = candidates
        .into_iter()
        .filter(|a| is_idle(shared, *a))
        .filter_map(|a| {
            let from = current_node(shared, a)?;
            let n = shared.site.node(from)?;
            let d = (n.x - goal.x).hypot(n.y - goal.y) + if n.map == goal.map { 0.0 } else { 1e6 };
            Some((d, a, from))
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    near.truncate(ASSIGN_CANDIDATES);
    let mut best: Option<(f64, u32, maps::Route)> = None;
    {
        let mut planner = Planner::new(&shared.site);
        for (_, agv, from) in near {
            if let Ok(route) = planner.route(from, t.destination, &vehicle_of(shared, agv))
                && best.as_ref().is_none_or(|b| route.time_s < b.0)
            {
                best = Some((route.time_s, agv, route));
            }
        }
    }
    let Some((_, agv, route)) = best else {
        return;
    };
    let steps = steps_of(&route);
    let updated = shared.tasks.with(t.id, |task| {
        if task.state != TaskState::Queued {
            return false;
        }
        task.agv = Some(agv);
        task.state = TaskState::Running;
        task.steps = steps;
        task.step = 0;
        task.released = 0;
        task.reached = None;
        task.updated_at_ms = now_ms();
        true
    });
    if updated == Some(true) {
        persist(shared, t.id).await;
        shared.events.publish(
            "task.assigned",
            Some(agv),
            "dispatcher",
            json!({ "task_id": t.id, "route_time_s": route.time_s, "length_m": route.length_m }),
        );
    }
}

/// Stores a task's state (committed: tasks survive restarts).
pub async fn persist(shared: &Shared, id: u32) {
    let Some(t) = shared.tasks.get(id) else {
        return;
    };
    let name = |v: serde_json::Result<serde_json::Value>| {
        v.ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let spec = json!({
        "destination": t.destination, "requested_agv": t.requested_agv, "steps": t.steps,
        "error": t.error, "priority": t.priority, "deadline_ms": t.deadline_ms,
        "submitted_agv": t.submitted.0, "destination_given": t.submitted.1.is_some(),
    });
    let row = crate::db::TaskRow {
        task_id: t.id,
        kind: name(serde_json::to_value(t.kind)),
        agv_id: t.agv,
        state: name(serde_json::to_value(t.state)),
        spec: spec.to_string(),
        created_by: t.created_by,
        created_at: t.created_at_ms as i64,
        updated_at: t.updated_at_ms as i64,
        reference: t.reference,
    };
    if let Err(e) = shared.db.upsert_task(&row).await {
        tracing::error!(error = %e, task_id = id, "task not stored");
    }
}

async fn finish(shared: &Arc<Shared>, id: u32, state: TaskState, error: Option<String>) {
    let agv = shared.tasks.with(id, |t| {
        t.state = state;
        t.error = error.clone();
        t.busy = false;
        crate::waits::end(&shared.metrics, t);
        t.updated_at_ms = now_ms();
        t.agv
    });
    if let Some(Some(agv)) = agv {
        // A completed task ended with the AGV at its destination. A cancelled or failed one may
        // end with the AGV still driving what was released to it (it may have got a piece
        // whose answer was lost, or drive on to where it can stop): all of it stays held until
        // it is seen standing (`release_settled`). A failed task is cancelled on the AGV too,
        // so that it stops and drops it.
        if state == TaskState::Completed {
            release_all(shared, agv).await;
        } else if state == TaskState::Failed {
            let shared = shared.clone();
            tokio::spawn(async move {
                let wait = Duration::from_millis(shared.config.command_timeout_ms);
                let cancel = TaskControl {
                    task_id: id,
                    op: TaskOp::Cancel,
                };
                let _ = shared.connections.command(agv, cancel.into(), wait).await;
            });
        }
        shared
            .tasks
            .lifts
            .lock()
            .expect("not poisoned")
            .retain(|_, a| *a != agv);
    }
    persist(shared, id).await;
    let kind = match state {
        TaskState::Completed => "task.completed",
        TaskState::Cancelled => "task.cancelled",
        _ => "task.failed",
    };
    shared.events.publish(
        kind,
        agv.flatten(),
        "dispatcher",
        json!({ "task_id": id, "error": error }),
    );
}

/// Releases every reservation of `agv` (its footprint stays).
async fn release_all(shared: &Shared, agv: u32) {
    shared
        .space
        .lock()
        .expect("not poisoned")
        .release_reservations(agv, |_| true);
    if let Err(e) = shared.db.release_reservations(agv, &[]).await {
        tracing::warn!(error = %e, "reservation release not stored");
    }
}

/// Cancels a task: a running one is cancelled on the AGV first.
pub async fn cancel(shared: &Arc<Shared>, id: u32) -> Option<TaskState> {
    let t = shared.tasks.get(id)?;
    match t.state {
        TaskState::Queued => {
            finish(shared, id, TaskState::Cancelled, None).await;
        }
        TaskState::Running => {
            if let Some(agv) = t.agv {
                let wait = Duration::from_millis(shared.config.command_timeout_ms);
                let _ = shared
                    .connections
                    .command(
                        agv,
                        TaskControl {
                            task_id: id,
                            op: TaskOp::Cancel,
                        }
                        .into(),
                        wait,
                    )
                    .await;
            }
            finish(shared, id, TaskState::Cancelled, None).await;
        }
        _ => {}
    }
    shared.tasks.get(id).map(|t| t.state)
}

async fn advance(shared: &Arc<Shared>, id: u32) {
    let Some(t) = shared.tasks.get(id) else {
        return;
    };
    let Some(agv) = t.agv else { return };
    let online = shared.fleet.get(agv).is_some_and(|v| v.online);
    if !online || shared.safety.is_stopped(agv) {
        // Its space stays blocked; the task waits for it to return (or to be cleared).
        let why = if online {
            Settling
        } else {
            WaitReason::Offline
        };
        return crate::waits::set(shared, id, why, None);
    }
    let Some(step) = t.steps.get(t.step).cloned() else {
        finish(shared, id, TaskState::Completed, None).await;
        return;
    };
    match step {
        Step::Drive { map, nodes, edges } => drive(shared, &t, agv, map, &nodes, &edges).await,
        Step::NavSwitch { map, node, to } => {
            if t.sent {
                return;
            }
            let target = match to.as_str() {
                "qr_code" => protocol::types::NavigationMode::QrCode,
                "magnetic" => protocol::types::NavigationMode::Magnetic,
                "reflector" => protocol::types::NavigationMode::Reflector,
                _ => protocol::types::NavigationMode::Slam,
            };
            let _ = node;
            send_switch(
                shared,
                id,
                agv,
                NavSwitch {
                    target,
                    map_id: map,
                    initial_pose: None,
                }
                .into(),
            );
        }
        Step::MapSwitch {
            lift,
            to_map,
            to_node,
            ..
        } => {
            if t.sent {
                return;
            }
            // The lift is a resource (capacity 1): wait while another AGV rides it.
            if lift != 0 {
                let mut lifts = shared.tasks.lifts.lock().expect("not poisoned");
                match lifts.get(&lift) {
                    Some(&other) if other != agv => {
                        drop(lifts);
                        return crate::waits::set(shared, id, ForLift { lift }, Some(other));
                    }
                    _ => {
                        lifts.insert(lift, agv);
                    }
                }
            }
            // Never ride into an occupied door: the exit node is reserved first.
            let Some(exit) = shared.site.node(to_node) else {
                return;
            };
            let fp = shared.fleet.get(agv).and_then(|v| v.footprint);
            let item = (
                node_resource(to_node),
                Shape::new(vec![disc(exit.x, exit.y, radius(fp))]),
            );
            let reserved = shared.space.lock().expect("not poisoned").reserve(
                agv,
                to_map,
                std::slice::from_ref(&item),
            );
            if let Err(c) = reserved {
                return crate::waits::blocked(shared, id, c, to_node);
            }
            if let Err(e) = shared
                .db
                .insert_reservations(agv, to_map, id, &[item.0])
                .await
            {
                tracing::error!(error = %e, "reservation not stored: not riding");
                return;
            }
            let Some(n) = shared.site.node(to_node) else {
                return;
            };
            let floor = shared.site.map(to_map).map_or(0, |m| m.floor);
            send_switch(
                shared,
                id,
                agv,
                MapSwitch {
                    target_map_id: to_map,
                    target_map_version: shared.site.map(to_map).map_or(0, |m| m.version),
                    initial_pose: Pose {
                        x: n.x,
                        y: n.y,
                        theta: n.theta.unwrap_or(0.0),
                    },
                    lift_id: lift,
                    floor,
                    navigation: n.navigation.to_wire(),
                }
                .into(),
            );
        }
    }
}

/// Sends a switch command in the background; the step advances when the AGV answers `Ok`.
fn send_switch(shared: &Arc<Shared>, id: u32, agv: u32, message: Message) {
    shared.tasks.with(id, |t| {
        t.busy = true;
        t.sent = true;
    });
    let shared = shared.clone();
    tokio::spawn(async move {
        let wait = Duration::from_millis(shared.config.command_timeout_ms);
        let answer = shared.connections.command(agv, message, wait).await;
        let ok = match &answer {
            Ok(Message::NavSwitchResult(r)) => r.result == ResultCode::Ok,
            Ok(Message::MapSwitchResult(r)) => r.result == ResultCode::Ok,
            Ok(Message::Ack(a)) => a.result == ResultCode::Ok,
            _ => false,
        };
        if matches!(
            answer,
            Err(CommandError::Disconnected | CommandError::Offline)
        ) {
            // offline: requeued by `on_offline`, not failed
            shared.tasks.with(id, |t| {
                t.busy = false;
                t.sent = false;
            });
            return;
        }
        if ok {
            let switched = shared.tasks.with(id, |t| {
                let step = t.steps.get(t.step).cloned();
                t.step += 1;
                t.released = 0;
                t.reached = None;
                t.sent = false;
                t.busy = false;
                crate::waits::end(&shared.metrics, t);
                t.updated_at_ms = now_ms();
                step
            });
            if let Some(Some(Step::MapSwitch { lift, to_map, .. })) = switched {
                shared
                    .tasks
                    .lifts
                    .lock()
                    .expect("not poisoned")
                    .remove(&lift);
                // The old map's space is left behind; the way out on the new map stays.
                let behind: Vec<u64> = shared
                    .space
                    .lock()
                    .expect("not poisoned")
                    .holds(agv)
                    .iter()
                    .filter_map(|(h, m, _)| match h {
                        maps::Hold::Reservation { resource } if *m != to_map => Some(*resource),
                        _ => None,
                    })
                    .collect();
                shared
                    .space
                    .lock()
                    .expect("not poisoned")
                    .release_reservations(agv, |r| behind.contains(&r));
                let _ = shared.db.release_reservations(agv, &behind).await;
            }
            persist(&shared, id).await;
        } else {
            finish(
                &shared,
                id,
                TaskState::Failed,
                Some(format!("switch refused or unanswered: {answer:?}")),
            )
            .await;
        }
    });
}

/// The shapes of nodes `from..=to` of a drive and the edges leading to them.
fn shapes(
    shared: &Shared,
    nodes: &[u32],
    edges: &[u32],
    from: usize,
    to: usize,
    r: f64,
) -> Vec<(u64, Shape)> {
    let mut items = Vec::new();
    for i in from..=to {
        if let Some(n) = shared.site.node(nodes[i]) {
            items.push((node_resource(n.id), Shape::new(vec![disc(n.x, n.y, r)])));
        }
        if i > 0
            && let Some(e) = shared.site.edge(edges[i - 1])
        {
            items.push((edge_resource(e.id), corridor(&e.polyline, r)));
        }
    }
    items
}

/// Whether node `i` of a drive is a place an AGV may stop and wait without blocking a single
/// lane: not a plain corridor node (a node with exactly two neighbours).
fn is_stop_point(shared: &Shared, node: u32, last: bool) -> bool {
    if last {
        return true;
    }
    let degree = shared
        .site
        .edges()
        .iter()
        .filter(|e| e.kind == maps::EdgeKind::Drive && shared.site.ends(e).0 == node)
        .count();
    degree != 2
}

async fn drive(shared: &Arc<Shared>, t: &Task, agv: u32, map: u16, nodes: &[u32], edges: &[u32]) {
    let Some(view) = shared.fleet.get(agv) else {
        return;
    };
    let Some(status) = view.status.as_ref() else {
        return;
    };
    let last_index = nodes.len() - 1;
    // Where the AGV is along the drive: nowhere before it reached the first node (its last node
    // may be a stale one that comes later in this path: it stopped short of the first node,
    // coming from there); then only forwards from where it was.
    let here = if t.sent && status.map_id == map {
        let reached = t.reached.or_else(|| {
            // it reports the first node, or a later one that is not the node it had when the
            // drive was sent (it passed the first without reporting it)
            if status.last_node_id == nodes[0] {
                Some(0)
            } else if status.last_node_id != t.stale_node {
                let upto = t.released.min(last_index);
                nodes[..=upto]
                    .iter()
                    .position(|n| *n == status.last_node_id)
            } else {
                None
            }
        });
        match reached {
            None => 0,
            Some(from) => {
                let upto = t.released.max(from).min(last_index);
                let here = nodes[from..=upto]
                    .iter()
                    .rposition(|n| *n == status.last_node_id)
                    .map_or(from, |i| from + i);
                shared.tasks.with(t.id, |task| task.reached = Some(here));
                here
            }
        }
    } else {
        0
    };
    // Reached the end of the drive: next step.
    if t.sent
        && here == last_index
        && t.released == last_index
        && status.state != AgvState::Working
        && status.task_id == t.id
    {
        release_behind(shared, agv, nodes, edges, here).await;
        let done = shared.tasks.with(t.id, |task| {
            task.step += 1;
            task.released = 0;
            task.reached = None;
            task.sent = false;
            task.updated_at_ms = now_ms();
            task.step >= task.steps.len()
        });
        persist(shared, t.id).await;
        if done == Some(true) {
            if t.kind == TaskKind::Charge {
                let wait = Duration::from_millis(shared.config.command_timeout_ms);
                let start = protocol::message::ChargeControl {
                    op: protocol::message::ChargeOp::Start,
                    charger_node_id: t.destination,
                    target_pct: 100.0,
                };
                let shared2 = shared.clone();
                tokio::spawn(async move {
                    let answer = shared2.connections.command(agv, start.into(), wait).await;
                    if !matches!(&answer, Ok(Message::Ack(a)) if a.result == ResultCode::Ok)
                        && !matches!(&answer, Ok(Message::ChargeResult(c)) if c.result == ResultCode::Ok)
                    {
                        tracing::warn!(agv, ?answer, "charging did not start");
                    }
                });
            }
            finish(shared, t.id, TaskState::Completed, None).await;
        }
        return;
    }
    release_behind(shared, agv, nodes, edges, here).await;
    if !t.sent && status.state == AgvState::InSafeSpace {
        // Manoeuvring in a safe space: a new path starts once it is back where it stands.
        return crate::waits::set(shared, t.id, Settling, None);
    }
    if !t.sent
        && t.step > 0
        && let Some((other, until)) = t.yield_to
    {
        let still_waits = shared
            .tasks
            .active_of(other)
            .and_then(|o| shared.tasks.get(o))
            .is_some_and(|o| o.waiting_for == Some(agv));
        if still_waits && now_ms() < until {
            return crate::waits::set(shared, t.id, WaitReason::Yielding { to: other }, None);
        }
        shared.tasks.with(t.id, |task| task.yield_to = None);
    }
    // Extend the release: LOOKAHEAD nodes ahead, and never ending inside a single lane (a
    // lane is released to its end in one piece, so two AGVs never meet head-on in it).
    let mut target = (here + LOOKAHEAD).min(last_index);
    while target < last_index && !is_stop_point(shared, nodes[target], false) {
        target += 1;
    }
    let from = if !t.sent {
        0
    } else if target > t.released {
        t.released + 1
    } else {
        return;
    };
    let r = radius(view.footprint);
    let mut items = shapes(shared, nodes, edges, from, target, r);
    if !t.sent {
        // Standing off its first node (stopped on an edge, moved by hand): it drives there
        // straight, over space it must hold too.
        items.extend(approach(shared, agv, map, nodes[0]));
    }
    // Into a lift only with the way out of it on the other floor: the exit door and the first
    // piece beyond it, so that an AGV never stands in a cabin it cannot leave.
    let exit = (target == last_index)
        .then(|| exit_items(shared, t, r))
        .flatten();
    let reserved = {
        let mut space = shared.space.lock().expect("not poisoned");
        match &exit {
            Some((to_map, out)) => space.reserve_on_maps(agv, &[(map, &items), (*to_map, out)]),
            None => space.reserve(agv, map, &items),
        }
    };
    if let Err(c @ maps::Conflict::Forbidden { .. }) = reserved {
        // The path passes too close to a forbidden area for this AGV's size: it can never be
        // released. Fail clearly rather than wait forever.
        finish(
            shared,
            t.id,
            TaskState::Failed,
            Some(format!("the path passes too close to a {c} for this AGV")),
        )
        .await;
        return;
    }
    if let Err(c) = reserved {
        // where it waits: the first node of the first piece it cannot have
        let pieces = (from..=target).map(|i| (nodes[i], shapes(shared, nodes, edges, i, i, r)));
        let (node, c) =
            crate::waits::first_blocked(shared, agv, map, pieces).unwrap_or((nodes[from], c));
        return crate::waits::blocked(shared, t.id, c, node);
    }
    // Committed before the motion frame that relies on it.
    let resources: Vec<u64> = items.iter().map(|(r, _)| *r).collect();
    let mut stored = shared
        .db
        .insert_reservations(agv, map, t.id, &resources)
        .await;
    let mut exit_resources = Vec::new();
    if let (Ok(()), Some((to_map, out))) = (&stored, &exit) {
        exit_resources = out.iter().map(|(r, _)| *r).collect();
        stored = shared
            .db
            .insert_reservations(agv, *to_map, t.id, &exit_resources)
            .await;
    }
    if let Err(e) = stored {
        tracing::error!(error = %e, "reservations not stored: not released");
        shared
            .space
            .lock()
            .expect("not poisoned")
            .release_reservations(agv, |r| {
                resources.contains(&r) || exit_resources.contains(&r)
            });
        return;
    }
    let start = if t.sent { t.released } else { 0 };
    let command = motion(shared, t, map, nodes, edges, start, target);
    let last_node = status.last_node_id;
    let first_piece = !t.sent;
    shared.tasks.with(t.id, |task| {
        if first_piece {
            task.stale_node = last_node;
        }
        task.released = target;
        task.sent = true;
        task.segment = task.segment.wrapping_add(1);
        crate::waits::end(&shared.metrics, task);
        task.busy = true;
        task.updated_at_ms = now_ms();
    });
    let shared = shared.clone();
    let id = t.id;
    tokio::spawn(async move {
        let wait = Duration::from_millis(shared.config.command_timeout_ms);
        let answer = shared.connections.command(agv, command.into(), wait).await;
        match answer {
            Ok(Message::Ack(a)) if a.result == ResultCode::Ok => {
                shared.tasks.with(id, |t| t.busy = false);
            }
            // The AGV went offline: not the task's failure; going offline requeues it.
            Err(CommandError::Disconnected | CommandError::Offline) => {
                shared.tasks.with(id, |t| t.busy = false);
            }
            other => {
                finish(
                    &shared,
                    id,
                    TaskState::Failed,
                    Some(format!("motion command refused or unanswered: {other:?}")),
                )
                .await;
            }
        }
    });
}

/// When the drive of task `t` ends at a lift (or link) door: the target map and the way out on
/// it (the exit door and the first release of the drive that follows).
fn exit_items(shared: &Shared, t: &Task, r: f64) -> Option<(u16, Vec<(u64, Shape)>)> {
    let Some(Step::MapSwitch { to_map, .. }) = t.steps.get(t.step + 1) else {
        return None;
    };
    let Some(Step::Drive { map, nodes, edges }) = t.steps.get(t.step + 2) else {
        return None;
    };
    if map != to_map || nodes.is_empty() {
        return None;
    }
    let last = nodes.len() - 1;
    let mut target = LOOKAHEAD.min(last);
    while target < last && !is_stop_point(shared, nodes[target], false) {
        target += 1;
    }
    Some((*to_map, shapes(shared, nodes, edges, 0, target, r)))
}

async fn release_behind(shared: &Shared, agv: u32, nodes: &[u32], edges: &[u32], here: usize) {
    if here == 0 {
        return;
    }
    let mut behind: Vec<u64> = nodes[..here].iter().map(|n| node_resource(*n)).collect();
    behind.extend(edges[..here].iter().map(|e| edge_resource(*e)));
    behind.push(APPROACH | u64::from(nodes[0]));
    let n = shared
        .space
        .lock()
        .expect("not poisoned")
        .release_reservations(agv, |r| behind.contains(&r));
    if n > 0
        && let Err(e) = shared.db.release_reservations(agv, &behind).await
    {
        tracing::warn!(error = %e, "reservation release not stored");
    }
}

fn motion(
    shared: &Shared,
    t: &Task,
    map: u16,
    nodes: &[u32],
    edges: &[u32],
    start: usize,
    released_to: usize,
) -> MotionCommand {
    let last = nodes.len() - 1;
    let is_final_drive = !t.steps[t.step + 1..]
        .iter()
        .any(|s| matches!(s, Step::Drive { .. }));
    let path_nodes = (start..=last)
        .map(|i| {
            let n = shared.site.node(nodes[i]).expect("planned node");
            let at_end = i == last && is_final_drive;
            let actions = match (at_end, t.kind) {
                (true, TaskKind::Pick | TaskKind::Drop) => vec![Action {
                    action_id: 1,
                    actuator_id: 0,
                    actuator: ActuatorType::Lift,
                    adjustment: if t.kind == TaskKind::Pick {
                        LiftAdjustment::Raise
                    } else {
                        LiftAdjustment::Lower
                    },
                    blocking: true,
                    params: vec![],
                }],
                _ => vec![],
            };
            PathNode {
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
            }
        })
        .collect();
    let path_edges = (start..last)
        .map(|i| {
            let e = shared.site.edge(edges[i]).expect("planned edge");
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
            PathEdge {
                edge_id: e.id,
                sequence: (i * 2 + 1) as u16,
                trajectory,
                control_points,
                movement: MovementType::Forward,
                max_speed: e.max_speed as f32,
            }
        })
        .collect();
    MotionCommand {
        task_id: t.id,
        task_type: task_type(t.kind),
        segment: t.segment,
        map_id: map,
        nodes: path_nodes,
        edges: path_edges,
        released_nodes: (released_to - start + 1) as u16,
        max_speed: 0.0,
        extensions: vec![],
    }
}

/// Nearest node of a kind to an AGV (for charge and park tasks without a destination).
pub fn nearest_of_kind(
    shared: &Shared,
    agv: Option<u32>,
    kind: maps::file::NodeKind,
) -> Option<u32> {
    let here = agv
        .and_then(|a| shared.fleet.get(a))
        .and_then(|v| v.last.map(|l| (l.map_id, l.x, l.y)));
    let mut best: Option<(f64, u32)> = None;
    for n in shared.site.nodes().iter().filter(|n| n.kind == kind) {
        let d = match here {
            Some((m, x, y)) if m == n.map => (n.x - x).hypot(n.y - y),
            Some(_) => 1e9,
            None => 0.0,
        };
        if best.is_none_or(|b| d < b.0) {
            best = Some((d, n.id));
        }
    }
    best.map(|b| b.1)
}

/// An AGV went offline: everything it holds stays held (it may still be driving what was
/// released to it until its own link timeout stops it, and nobody sees where it stands), and
/// its running task goes back to the queue for it, to be replanned from where it stands when it
/// returns and is seen standing.
pub async fn on_offline(shared: &Shared, agv: u32) {
    if let Some(id) = shared.tasks.active_of(agv) {
        requeue(shared, id);
        persist(shared, id).await;
    }
}

/// An AGV stopped for safety episode `episode` stands still with a void released path: its
/// running task goes back to the queue (replanned from where it stands once it is cleared), its
/// reservations are withdrawn and its grants revoked (freed once it acknowledges).
pub async fn withdraw(shared: &Arc<Shared>, agv: u32, episode: u32) {
    if let Some(id) = shared.tasks.active_of(agv) {
        requeue(shared, id);
        persist(shared, id).await;
        shared.events.publish(
            "task.interrupted",
            Some(agv),
            "server",
            json!({ "task_id": id, "episode": episode, "why": "safety stop" }),
        );
    }
    let holds = shared
        .space
        .lock()
        .expect("not poisoned")
        .holds(agv)
        .iter()
        .map(|h| h.0)
        .collect::<Vec<_>>();
    if holds
        .iter()
        .any(|h| matches!(h, maps::Hold::Reservation { .. }))
    {
        release_all(shared, agv).await;
    }
    for hold in holds {
        if let maps::Hold::Grant { id } = hold
            && shared.safety.start_revoke(id)
        {
            let shared = shared.clone();
            tokio::spawn(async move {
                let info = shared.space.lock().expect("not poisoned").grant_info(id);
                if let Some(g) = info {
                    crate::grants::revoke(
                        &shared,
                        &g,
                        protocol::message::RevokeReason::Safety,
                        "server",
                    )
                    .await;
                }
                shared.safety.end_revoke(id);
            });
        }
    }
}

/// Releases what AGVs without a running task still hold of their last path once they are seen
/// stopped (a cancelled or failed task keeps its stopping envelope until then; an offline AGV
/// keeps it until it returns).
async fn release_settled(shared: &Shared) {
    let running: Vec<u32> = shared
        .tasks
        .list()
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .filter_map(|t| t.agv)
        .collect();
    let mut holding: Vec<u32> = shared
        .space
        .lock()
        .expect("not poisoned")
        .all()
        .filter(|(_, _, hold, _)| matches!(hold, maps::Hold::Reservation { .. }))
        .map(|(agv, ..)| agv)
        .collect();
    holding.sort_unstable();
    holding.dedup();
    for agv in holding {
        if !running.contains(&agv) && stopped(shared, agv) {
            release_all(shared, agv).await;
        }
    }
}

/// Puts a running task back in the queue for its AGV: it is replanned from where the AGV
/// stands once the AGV is idle again.
fn requeue(shared: &Shared, id: u32) {
    shared.tasks.with(id, |t| {
        t.state = TaskState::Queued;
        t.requested_agv = t.agv;
        t.steps.clear();
        t.step = 0;
        t.released = 0;
        t.reached = None;
        t.sent = false;
        t.busy = false;
        t.updated_at_ms = now_ms(); // (its wait: `waits::end_pass`)
    });
}
