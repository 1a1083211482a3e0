//! The task table as the API and storage see it: the traffic core's tasks (queued and running
//! live in [`traffic::Core`]) with what the server keeps about each (who submitted it, its
//! reference, when), and the tasks that ended (kept as they ended; read back from storage after
//! a restart).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::json;

pub use traffic::{TaskKind, TaskState};

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

impl Step {
    fn of(site: &maps::Site, s: &traffic::Step) -> Self {
        match s {
            traffic::Step::Drive { map, nodes, edges } => Self::Drive {
                map: *map,
                nodes: nodes.clone(),
                edges: edges.clone(),
            },
            traffic::Step::NavSwitch { map, node, to } => Self::NavSwitch {
                map: *map,
                node: *node,
                to: serde_json::to_value(to)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            },
            traffic::Step::Lift {
                lift,
                enter,
                to_map,
                exit,
            } => Self::MapSwitch {
                lift: *lift,
                from_map: site.node(*enter).map_or(0, |n| n.map),
                from_node: *enter,
                to_map: *to_map,
                to_node: *exit,
            },
        }
    }
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
    pub wait: Option<traffic::Wait>,
    /// The AGV it waits for (holding the space it needs, or riding the lift), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<u32>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who submitted it (`dispatcher`: the traffic core's own, for idle parking, charging or
    /// clearing the way).
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
    /// How many times it was replanned around others (deadlocks, AGVs in the way).
    pub replans: u32,
    /// The AGV and destination it was submitted with (the destination as a node id, none when
    /// the server chose it): a resubmission with its reference must match them.
    #[serde(skip)]
    submitted: (Option<u32>, Option<u32>),
}

impl Task {
    /// Whether a submission of `kind` to `destination` (none: the server's choice) for `agv`
    /// asks for what this task was submitted for.
    pub fn same_request(&self, kind: TaskKind, destination: Option<u32>, agv: Option<u32>) -> bool {
        self.kind == kind && self.submitted == (agv, destination)
    }

    /// `late` as of `now`.
    fn at(mut self, now: u64) -> Self {
        let end = if self.state.is_final() {
            self.updated_at_ms
        } else {
            now
        };
        self.late = self.deadline_ms.is_some_and(|d| end > d);
        self
    }

    /// A stored task as the API answers it as of `now` (an ended task no longer in memory); none
    /// for a row that cannot be read.
    pub(crate) fn stored(row: crate::db::TaskRow, now: u64) -> Option<Self> {
        Self::from_row(row).map(|(task, _)| task.at(now))
    }

    /// A stored task as it was stored; none for a row that cannot be read.
    fn from_row(row: crate::db::TaskRow) -> Option<(Self, Meta)> {
        let kind = serde_json::from_value::<TaskKind>(json!(row.kind)).ok()?;
        let state = serde_json::from_value::<TaskState>(json!(row.state)).ok()?;
        let spec: serde_json::Value = serde_json::from_str(&row.spec).unwrap_or_default();
        let node = |v: &serde_json::Value| v.as_u64().and_then(|d| u32::try_from(d).ok());
        // (rows stored before these were kept: 0)
        let count = |v: &serde_json::Value| {
            v.as_u64()
                .and_then(|c| usize::try_from(c).ok())
                .unwrap_or(0)
        };
        let destination = node(&spec["destination"])?;
        let requested_agv = node(&spec["requested_agv"]);
        let submitted_agv = match spec.get("submitted_agv") {
            Some(v) => node(v),
            None => requested_agv,
        };
        let given = spec["destination_given"].as_bool().unwrap_or(true);
        let meta = Meta {
            created_by: row.created_by,
            created_at_ms: row.created_at.max(0) as u64,
            reference: row.reference,
            submitted: (submitted_agv, given.then_some(destination)),
        };
        let task = Self {
            id: row.task_id,
            kind,
            destination,
            requested_agv,
            agv: row.agv_id,
            state,
            steps: serde_json::from_value(spec["steps"].clone()).unwrap_or_default(),
            step: count(&spec["step"]),
            released: count(&spec["released"]),
            wait: None,
            waiting_for: None,
            error: spec["error"].as_str().map(str::to_owned),
            created_by: meta.created_by.clone(),
            created_at_ms: meta.created_at_ms,
            updated_at_ms: row.updated_at.max(0) as u64,
            reference: meta.reference.clone(),
            priority: spec["priority"]
                .as_u64()
                .and_then(|p| u8::try_from(p).ok())
                .unwrap_or(crate::task_rules::DEFAULT_PRIORITY),
            deadline_ms: spec["deadline_ms"].as_u64(),
            late: false,
            replans: u32::try_from(count(&spec["replans"])).unwrap_or(u32::MAX),
            submitted: meta.submitted,
        };
        Some((task, meta))
    }

    /// The row that stores it.
    pub(crate) fn row(&self) -> crate::db::TaskRow {
        let name = |v: serde_json::Result<serde_json::Value>| {
            v.ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let spec = json!({
            "destination": self.destination, "requested_agv": self.requested_agv,
            "steps": self.steps, "error": self.error, "priority": self.priority,
            "deadline_ms": self.deadline_ms, "submitted_agv": self.submitted.0,
            "destination_given": self.submitted.1.is_some(),
            "step": self.step, "released": self.released, "replans": self.replans,
        });
        crate::db::TaskRow {
            task_id: self.id,
            kind: name(serde_json::to_value(self.kind)),
            agv_id: self.agv,
            state: name(serde_json::to_value(self.state)),
            spec: spec.to_string(),
            created_by: self.created_by.clone(),
            created_at: self.created_at_ms as i64,
            updated_at: self.updated_at_ms as i64,
            reference: self.reference.clone(),
        }
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

    /// What the traffic core is asked.
    pub(crate) fn spec(&self) -> traffic::Spec {
        traffic::Spec {
            kind: self.kind,
            destination: self.destination,
            agv: self.agv,
            priority: self.priority,
            deadline_ms: self.deadline_ms,
        }
    }
}

/// What a submission did.
#[derive(Debug, Clone)]
pub enum Submission {
    /// The task was added.
    Added(Task),
    /// Its reference was taken: the task that has it (nothing was added).
    ReferenceTaken(Task),
    /// It could not be stored (the database failed, or this instance lost its lease): it was
    /// cancelled and its reference freed, so it is not acknowledged and may be submitted again.
    NotStored(String),
}

/// Why a task was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// No such node or named node.
    #[error("unknown destination {0}")]
    UnknownDestination(String),
}

/// What the server keeps about a task beside the core.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub created_by: String,
    pub created_at_ms: u64,
    pub reference: Option<String>,
    pub submitted: (Option<u32>, Option<u32>),
}

impl Meta {
    /// A task the core submitted itself.
    fn internal(t: &traffic::Task) -> Self {
        Self {
            created_by: "dispatcher".to_owned(),
            created_at_ms: t.created_ms,
            reference: None,
            submitted: (t.spec.agv, Some(t.spec.destination)),
        }
    }
}

/// How long an ended task is listed (it stays in storage, and is read back by its reference).
pub const KEEP_ENDED_MS: u64 = 24 * 3600 * 1000;

/// How many ended tasks are listed at most (the newest by id): a busy site ends 170,000 tasks
/// a day. Older ones stay in storage and are read back by id or reference.
pub const KEEP_ENDED_MAX: usize = 10_000;

/// How many ended tasks are kept in memory (the newest by id; about 0.6 kB each): the listing's
/// older ones (up to [`KEEP_ENDED_MAX`]) are read from storage, as are older ones by id or
/// reference, so a full table does not cost the server 6 MB.
pub const KEEP_ENDED_IN_MEMORY: usize = 1_000;

/// The server's side of the task table.
#[derive(Debug, Default)]
pub struct Tasks {
    /// Task ids by their submitter's reference (locked first).
    references: Mutex<HashMap<String, u32>>,
    /// Who submitted each task the core has, and when.
    meta: Mutex<HashMap<u32, Meta>>,
    /// Tasks that ended, as they ended, and when they came into the table (UTC ms).
    ended: Mutex<BTreeMap<u32, (Task, u64)>>,
    /// Ended tasks went beyond [`KEEP_ENDED_IN_MEMORY`] (or were left in storage at a
    /// restart): the listing reads the older ones from storage.
    spilled: AtomicBool,
}

impl Tasks {
    fn meta_of(&self, t: &traffic::Task) -> Meta {
        self.meta
            .lock()
            .expect("not poisoned")
            .get(&t.id)
            .cloned()
            .unwrap_or_else(|| Meta::internal(t))
    }

    /// The view of a core task.
    pub(crate) fn view(&self, core: &traffic::Core<'_>, t: &traffic::Task, now: u64) -> Task {
        let meta = self.meta_of(t);
        view(core, t, meta, now)
    }

    /// The view of a core task as the API answers it; none for a task the core still holds
    /// (it forgets finished ones a minute later) that already went through [`Self::ended`]:
    /// its metadata is gone with it, the ended table or storage answers it.
    pub(crate) fn answer(
        &self,
        core: &traffic::Core<'_>,
        t: &traffic::Task,
        now: u64,
    ) -> Option<Task> {
        let meta = self.meta.lock().expect("not poisoned").get(&t.id).cloned();
        let meta = match meta {
            Some(meta) => meta,
            None if t.internal || !t.state.is_final() => Meta::internal(t),
            None => return None,
        };
        Some(view(core, t, meta, now))
    }

    /// The references table, locked (held while a submission checks and takes a reference).
    pub(crate) fn references(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.references.lock().expect("not poisoned")
    }

    pub(crate) fn meta_insert(&self, id: u32, meta: Meta) {
        self.meta.lock().expect("not poisoned").insert(id, meta);
    }

    /// Task `id` gives its reference up (it was not accepted): stored later, as cancelled, it
    /// does not hold the reference a new submission takes.
    pub(crate) fn forget_reference(&self, id: u32) {
        if let Some(m) = self.meta.lock().expect("not poisoned").get_mut(&id) {
            m.reference = None;
        }
    }

    /// Task `id` ended as `view`: kept as it is (the oldest ended task goes beyond
    /// [`KEEP_ENDED_IN_MEMORY`]; storage answers it).
    pub(crate) fn ended(&self, view: Task) {
        self.meta.lock().expect("not poisoned").remove(&view.id);
        self.ended
            .lock()
            .expect("not poisoned")
            .insert(view.id, (view, crate::state::now_ms()));
        self.bound();
    }

    /// Forgets the oldest ended tasks beyond [`KEEP_ENDED_IN_MEMORY`] (and their references):
    /// storage answers them.
    fn bound(&self) {
        let evicted = {
            let mut ended = self.ended.lock().expect("not poisoned");
            let mut out = Vec::new();
            while ended.len() > KEEP_ENDED_IN_MEMORY {
                match ended.pop_first() {
                    Some((id, (t, _))) => out.push(t.reference.map(|r| (r, id))),
                    None => break,
                }
            }
            out
        };
        if !evicted.is_empty() {
            self.spilled.store(true, Ordering::Relaxed);
            self.forget_references(evicted.into_iter().flatten());
        }
    }

    /// Where the listing's older ended tasks are, if some are only in storage: the lowest id of
    /// the ended tasks in memory (those below it are read from storage; none: all) and how many
    /// ended tasks are in memory.
    pub(crate) fn stored_below(&self) -> Option<(Option<u32>, usize)> {
        if !self.spilled.load(Ordering::Relaxed) {
            return None;
        }
        let ended = self.ended.lock().expect("not poisoned");
        let mut finals = ended.iter().filter(|(_, (t, _))| t.state.is_final());
        let lowest = finals.next().map(|(id, _)| *id);
        Some((lowest, usize::from(lowest.is_some()) + finals.count()))
    }

    /// Forgets the references of these tasks, no longer in the table (storage answers them).
    fn forget_references(&self, gone: impl Iterator<Item = (String, u32)>) {
        let mut references = self.references.lock().expect("not poisoned");
        for (r, id) in gone {
            if references.get(&r) == Some(&id) {
                references.remove(&r);
            }
        }
    }

    /// An ended task.
    pub(crate) fn ended_task(&self, id: u32, now: u64) -> Option<Task> {
        self.ended
            .lock()
            .expect("not poisoned")
            .get(&id)
            .map(|(t, _)| t.clone().at(now))
    }

    /// Every ended task.
    pub(crate) fn ended_tasks(&self, now: u64) -> Vec<Task> {
        self.ended
            .lock()
            .expect("not poisoned")
            .values()
            .map(|(t, _)| t.clone().at(now))
            .collect()
    }

    /// Forgets ended tasks that came into the table before `before` (and their references:
    /// storage answers those).
    pub(crate) fn prune(&self, before: u64) {
        let gone: Vec<(String, u32)> = {
            let mut ended = self.ended.lock().expect("not poisoned");
            let old: Vec<u32> = ended
                .iter()
                .filter(|(_, (_, added))| *added < before)
                .map(|(id, _)| *id)
                .collect();
            old.into_iter()
                .filter_map(|id| ended.remove(&id).map(|(t, _)| (t, id)))
                .filter_map(|(t, id)| t.reference.map(|r| (r, id)))
                .collect()
        };
        self.forget_references(gone.into_iter());
    }

    /// The id of the task with `reference`, if it is in the table.
    pub(crate) fn by_reference(&self, reference: &str) -> Option<u32> {
        self.references
            .lock()
            .expect("not poisoned")
            .get(reference)
            .copied()
    }

    /// Every task of `rows` answered exactly as stored, none given to a core (a standby's
    /// read-only view, [`crate::standby`]).
    pub(crate) fn restore_as_stored(&self, rows: Vec<crate::db::TaskRow>) {
        let now = crate::state::now_ms();
        self.spill_if_full(&rows);
        for (task, meta) in rows.into_iter().filter_map(Task::from_row) {
            self.remember_reference(&meta, task.id);
            self.ended
                .lock()
                .expect("not poisoned")
                .insert(task.id, (task, now));
        }
    }

    /// Storage may hold more ended tasks than `rows` brings back (as many ended ones as memory
    /// keeps were read): the listing reads the older ones from storage.
    fn spill_if_full(&self, rows: &[crate::db::TaskRow]) {
        let ended = rows
            .iter()
            .filter(|r| !matches!(r.state.as_str(), "queued" | "running"))
            .count();
        if ended >= KEEP_ENDED_IN_MEMORY {
            self.spilled.store(true, Ordering::Relaxed);
        }
    }

    /// Keeps a restored task's reference, so a submission under it returns the task.
    fn remember_reference(&self, meta: &Meta, id: u32) {
        if let Some(r) = &meta.reference {
            self.references
                .lock()
                .expect("not poisoned")
                .entry(r.clone())
                .or_insert(id);
        }
    }

    /// Takes stored tasks back after a restart: ended ones into the table as they ended,
    /// unfinished ones into the core, queued (a running one for the AGV that had it), to be
    /// planned from where their AGV stands.
    pub(crate) fn restore(&self, core: &mut traffic::Core<'_>, rows: Vec<crate::db::TaskRow>) {
        self.spill_if_full(&rows);
        for (task, meta) in rows.into_iter().filter_map(Task::from_row) {
            self.remember_reference(&meta, task.id);
            if task.state.is_final() {
                self.ended
                    .lock()
                    .expect("not poisoned")
                    .entry(task.id)
                    .or_insert((task, crate::state::now_ms()));
                continue;
            }
            let spec = traffic::Spec {
                kind: task.kind,
                destination: task.destination,
                agv: task.requested_agv.or(task.agv),
                priority: task.priority.min(100),
                deadline_ms: task.deadline_ms,
            };
            let internal = meta.created_by == "dispatcher";
            let was_running = task.state == traffic::TaskState::Running;
            core.restore_task(task.id, spec, internal, meta.created_at_ms, was_running);
            self.meta_insert(task.id, meta);
        }
        self.bound();
    }
}

/// The view of core task `t` with its server metadata, as of `now`.
fn view(core: &traffic::Core<'_>, t: &traffic::Task, meta: Meta, now: u64) -> Task {
    let site = core.site();
    let waiting_for = t.wait.as_ref().and_then(|w| match w.reason {
        traffic::WaitReason::ForLift { lift } => core.lift_rider(lift),
        traffic::WaitReason::Yielding { .. }
        | traffic::WaitReason::Offline
        | traffic::WaitReason::Settling
        | traffic::WaitReason::Charging => None,
        r => r.agv(),
    });
    Task {
        id: t.id,
        kind: t.spec.kind,
        destination: t.spec.destination,
        requested_agv: t.spec.agv,
        agv: t.agv,
        state: t.state,
        steps: t.steps.iter().map(|s| Step::of(site, s)).collect(),
        step: t.step,
        released: t.released,
        wait: t.wait.clone(),
        waiting_for,
        error: t.error.clone(),
        created_by: meta.created_by,
        created_at_ms: meta.created_at_ms,
        updated_at_ms: t.updated_ms.max(meta.created_at_ms),
        reference: meta.reference,
        priority: t.spec.priority,
        deadline_ms: t.spec.deadline_ms,
        late: false,
        replans: t.replans,
        submitted: meta.submitted,
    }
    .at(now)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(id: u32, reference: Option<&str>) -> Task {
        Task {
            id,
            kind: TaskKind::Move,
            destination: 1,
            requested_agv: None,
            agv: Some(1),
            state: TaskState::Completed,
            steps: Vec::new(),
            step: 0,
            released: 0,
            wait: None,
            waiting_for: None,
            error: None,
            created_by: "test".to_owned(),
            created_at_ms: 0,
            updated_at_ms: 0,
            reference: reference.map(str::to_owned),
            priority: 0,
            deadline_ms: None,
            late: false,
            replans: 0,
            submitted: (None, Some(1)),
        }
    }

    /// The table of ended tasks is bounded by count, not only by age: the oldest go (and their
    /// references), storage answers them; the listing then reads those below the lowest kept.
    #[test]
    fn ended_tasks_beyond_the_bound_are_forgotten_oldest_first() {
        let tasks = Tasks::default();
        let n = KEEP_ENDED_IN_MEMORY as u32 + 5;
        for id in 1..=n {
            let reference = format!("ref-{id}");
            tasks.references().insert(reference.clone(), id);
            tasks.ended(ended(id, Some(&reference)));
            let spilled = tasks.stored_below();
            assert_eq!(spilled.is_some(), id > KEEP_ENDED_IN_MEMORY as u32, "{id}");
        }
        assert_eq!(tasks.ended_tasks(0).len(), KEEP_ENDED_IN_MEMORY);
        for id in 1..=5 {
            assert!(tasks.ended_task(id, 0).is_none(), "task {id} kept");
            assert_eq!(tasks.by_reference(&format!("ref-{id}")), None);
        }
        assert!(tasks.ended_task(6, 0).is_some());
        assert_eq!(tasks.by_reference("ref-6"), Some(6));
        assert_eq!(tasks.by_reference(&format!("ref-{n}")), Some(n));
        assert_eq!(tasks.stored_below(), Some((Some(6), KEEP_ENDED_IN_MEMORY)));
        // an old task ending late goes to storage at once
        tasks.ended(ended(3, None));
        assert!(tasks.ended_task(3, 0).is_none());
        assert_eq!(tasks.stored_below(), Some((Some(6), KEEP_ENDED_IN_MEMORY)));
    }

    /// A stored task reads back as it was answered: its steps, the step it ended on, the nodes
    /// released and its replans too.
    #[test]
    fn a_stored_task_reads_back_as_it_ended() {
        let mut task = ended(7, Some("order-7"));
        task.steps = vec![Step::Drive {
            map: 1,
            nodes: vec![1, 2, 3],
            edges: vec![12, 23],
        }];
        task.step = 1;
        task.released = 2;
        task.replans = 3;
        task.error = Some("why".to_owned());
        task.deadline_ms = Some(5);
        task.updated_at_ms = 9;
        let task = task.at(100);
        let back = Task::stored(task.row(), 100).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&task).unwrap()
        );
        assert!(back.late);
    }
}
