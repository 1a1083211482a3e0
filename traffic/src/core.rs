//! The core: fleet state, inputs, the tick and assignment. Releasing space lives in
//! `release`, deadlocks in `deadlock`, idle parking and charging in `policy`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use maps::file::NodeKind;
use maps::hash::IdMap;
use maps::{Planner, Site, SpaceTable};
use serde::Serialize;

use crate::action::{Action, Command, Event, Outcome};
use crate::agv::{Agv, Report};
use crate::task::{Refusal, Spec, Step, Task, TaskState, validate};
use crate::wait::{Wait, WaitReason};

/// Resource id of a directed edge (node ids are their own resource ids).
pub const EDGE: u64 = 1 << 40;
/// Resource id of the approach from where an AGV stands to the first node of a drive.
pub const APPROACH: u64 = 1 << 41;

/// The rules' settings (per site).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Nodes released ahead of the AGV (more when that would end inside a single lane).
    pub lookahead: usize,
    /// Added to an AGV's circumscribed radius for its reservations, m.
    pub margin: f64,
    /// Waiting this long in a cycle counts as a deadlock, ms.
    pub deadlock_after_ms: u64,
    /// An AGV that backed off lets the other pass for at most this long, ms.
    pub yield_ms: u64,
    /// A waiting task is retried at least this often, ms.
    pub retry_ms: u64,
    /// Idle this long on a station, charger, lift door or in the way, an AGV leaves for a
    /// parking place or an out-of-the-way node, ms (none: idle AGVs stay).
    pub park_after_ms: Option<u64>,
    /// Below this charge an idle AGV goes to charge, %.
    pub charge_below_pct: f32,
    /// Idle with less than this and a charger free: it charges instead of parking, %.
    pub opportunity_below_pct: f32,
    /// A charging AGV takes work again above this, %.
    pub work_above_pct: f32,
    /// A task blocked this long by an offline AGV raises an alarm, ms.
    pub offline_alarm_after_ms: u64,
    /// At most this many tasks are assigned (routes planned) in one tick.
    pub routes_per_tick: usize,
    /// At most this many deadlocks (or AGVs in the way) are resolved in one pass.
    pub resolutions_per_pass: usize,
    /// When more than this share of the running tasks wait for another AGV (counted every
    /// half second), tasks that name no AGV are not assigned until it falls again: a jam is
    /// not fed more AGVs (congestion control; `None`: off).
    pub congestion_gate: Option<f64>,
    /// Reports move AGVs' footprints in the space table. A driver that places footprints
    /// itself (with its own safety monitor on the same table) turns this off.
    pub track_footprints: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lookahead: 3,
            margin: 0.05,
            deadlock_after_ms: 500,
            yield_ms: 10_000,
            retry_ms: 2_000,
            park_after_ms: Some(5_000),
            charge_below_pct: 20.0,
            opportunity_below_pct: 60.0,
            work_above_pct: 40.0,
            offline_alarm_after_ms: 30_000,
            routes_per_tick: 32,
            resolutions_per_pass: 16,
            congestion_gate: Some(0.5),
            track_footprints: true,
        }
    }
}

/// Counters of what the core did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Tasks completed (user tasks).
    pub completed: u64,
    /// Tasks failed.
    pub failed: u64,
    /// Tasks cancelled.
    pub cancelled: u64,
    /// Internal park tasks submitted.
    pub parks: u64,
    /// Internal charge tasks submitted.
    pub charges: u64,
    /// Deadlock cycles found.
    pub deadlocks: u64,
    /// Replans around others.
    pub replans: u64,
    /// Back-offs to a free neighbour.
    pub backoffs: u64,
    /// Idle AGVs moved out of someone's way.
    pub cleared: u64,
    /// Footprints reported over space held by another AGV (the driver's safety business).
    pub overlaps: u64,
    /// Alarms raised.
    pub alarms: u64,
    /// Motions sent.
    pub motions: u64,
    /// Half-second passes that found the fleet congested (no new assignments, see
    /// [`Settings::congestion_gate`]).
    pub congested_passes: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Motion {
        task: u32,
        reserve: Vec<(u16, Vec<u64>)>,
        before: (usize, bool),
    },
    Step {
        task: u32,
    },
    Other,
}

/// Nodes of one kind (chargers, parking places) in an R-tree, for the nearest free one.
pub(crate) struct Places {
    pub(crate) tree: rstar::RTree<rstar::primitives::GeomWithData<[f64; 3], u32>>,
}

impl Places {
    fn new(site: &Site, ids: &[u32]) -> Self {
        Self {
            tree: rstar::RTree::bulk_load(
                ids.iter()
                    .filter_map(|id| site.node(*id))
                    .map(|n| {
                        rstar::primitives::GeomWithData::new(
                            [n.x, n.y, f64::from(n.map) * 1000.0],
                            n.id,
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// The traffic core of one site.
pub struct Core<'s> {
    pub(crate) site: &'s Site,
    pub(crate) planner: Planner<'s>,
    pub(crate) space: SpaceTable,
    pub(crate) settings: Settings,
    pub(crate) agvs: BTreeMap<u32, Agv>,
    pub(crate) tasks: BTreeMap<u32, Task>,
    pub(crate) queue: BTreeSet<(std::cmp::Reverse<u8>, u64, u32)>,
    /// Queued tasks naming each AGV: how many.
    pub(crate) requested: BTreeMap<u32, u32>,
    pub(crate) running: BTreeSet<u32>,
    /// Destinations of the queued and running tasks: node → how many.
    pub(crate) targets: BTreeMap<u32, u32>,
    pub(crate) dirty: BTreeSet<u32>,
    /// Blocking AGV → tasks waiting for it.
    pub(crate) waiters: BTreeMap<u32, BTreeSet<u32>>,
    /// AGVs that hold reservations without a running task: given up once seen standing.
    pub(crate) settling: BTreeSet<u32>,
    /// Online AGVs without a task.
    pub(crate) idle: BTreeSet<u32>,
    pub(crate) lifts: BTreeMap<u16, u32>,
    pub(crate) pending: BTreeMap<u64, (u32, Pending)>,
    pub(crate) next_task: u32,
    pub(crate) next_command: u64,
    /// Out-neighbours by drive edges: node → (edge id, node id).
    pub(crate) neighbours: IdMap<u32, Vec<(u32, u32)>>,
    /// Incoming edges (drives and transitions, not blocked): node → edge ids.
    pub(crate) incoming: IdMap<u32, Vec<u32>>,
    pub(crate) lift_doors: BTreeSet<u32>,
    pub(crate) chargers: Places,
    pub(crate) parking: Places,
    /// (task, offline AGV) alarms raised.
    pub(crate) alarmed: BTreeSet<(u32, u32)>,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) last_slow_ms: u64,
    pub(crate) stats: Stats,
    /// The AGVs standing still as (map, x, id), sorted: built by a deadlock pass that needs
    /// it (replans look for AGVs standing nearby), dropped at its end.
    pub(crate) still: Option<Vec<(u16, f64, u32)>>,
    /// The last half-second pass found more running tasks waiting for AGVs than
    /// [`Settings::congestion_gate`] allows.
    pub(crate) congested: bool,
    /// Shapes of node and edge pieces by (resource, radius bits), at most
    /// [`PIECES_CACHED`] (then it starts afresh).
    pub(crate) pieces: std::cell::RefCell<IdMap<(u64, u64), std::sync::Arc<maps::Shape>>>,
    /// Node kinds by node id (dense; empty for sites with sparse ids).
    pub(crate) kinds: Vec<Option<NodeKind>>,
}

/// Piece shapes kept at most (a few hundred bytes each).
pub(crate) const PIECES_CACHED: usize = 1 << 16;

impl<'s> Core<'s> {
    /// A core for `site` with `settings`; task ids start after `last_task`.
    pub fn new(site: &'s Site, settings: Settings, last_task: u32) -> Self {
        let mut neighbours: IdMap<u32, Vec<(u32, u32)>> = IdMap::default();
        let mut incoming: IdMap<u32, Vec<u32>> = IdMap::default();
        for e in site.edges() {
            let (a, b) = site.ends(e);
            if !e.blocked {
                incoming.entry(b).or_default().push(e.id);
            }
            if e.kind == maps::EdgeKind::Drive && !e.blocked {
                neighbours.entry(a).or_default().push((e.id, b));
            }
        }
        let of_kind = |k: NodeKind| -> Vec<u32> {
            site.nodes()
                .iter()
                .filter(|n| n.kind == k)
                .filter(|n| {
                    !site
                        .areas_at(n.map, n.x, n.y)
                        .any(|a| a.kind == maps::file::AreaKind::Forbidden)
                })
                .map(|n| n.id)
                .collect()
        };
        let mut lift_doors: BTreeSet<u32> = of_kind(NodeKind::LiftDoor).into_iter().collect();
        lift_doors.extend(
            site.lifts()
                .iter()
                .flat_map(|l| l.doors.iter().map(|d| d.1)),
        );
        Self {
            site,
            planner: Planner::new(site),
            space: SpaceTable::new(site, 1),
            chargers: Places::new(site, &of_kind(NodeKind::Charger)),
            parking: Places::new(site, &of_kind(NodeKind::Parking)),
            settings,
            agvs: BTreeMap::new(),
            tasks: BTreeMap::new(),
            queue: BTreeSet::new(),
            requested: BTreeMap::new(),
            running: BTreeSet::new(),
            targets: BTreeMap::new(),
            dirty: BTreeSet::new(),
            waiters: BTreeMap::new(),
            settling: BTreeSet::new(),
            idle: BTreeSet::new(),
            lifts: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_task: last_task + 1,
            next_command: 1,
            neighbours,
            incoming,
            lift_doors,
            alarmed: BTreeSet::new(),
            actions: VecDeque::new(),
            last_slow_ms: 0,
            stats: Stats::default(),
            still: None,
            congested: false,
            pieces: Default::default(),
            kinds: crate::policy::kinds(site),
        }
    }

    /// The site it runs.
    pub fn site(&self) -> &'s Site {
        self.site
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The space table (footprints, reservations).
    pub fn space(&self) -> &SpaceTable {
        &self.space
    }

    /// Mutable access to the space table, for what the core does not own (safe-space grants).
    pub fn space_mut(&mut self) -> &mut SpaceTable {
        &mut self.space
    }

    /// One task.
    pub fn task(&self, id: u32) -> Option<&Task> {
        self.tasks.get(&id)
    }

    /// Every task, by id.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    /// One AGV.
    pub fn agv(&self, id: u32) -> Option<&Agv> {
        self.agvs.get(&id)
    }

    /// Every AGV, by id.
    pub fn agvs(&self) -> impl Iterator<Item = &Agv> {
        self.agvs.values()
    }

    /// What the core did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Why AGV `id` waits, if it has a task and waits.
    pub fn wait_of(&self, id: u32) -> Option<&Wait> {
        let task = self.agvs.get(&id)?.task?;
        self.tasks.get(&task)?.wait.as_ref()
    }

    /// Forgets finished tasks that ended before `before_ms` (the caller keeps its history).
    pub fn forget_finished(&mut self, before_ms: u64) {
        self.tasks
            .retain(|_, t| !(t.state.is_final() && t.updated_ms < before_ms));
    }

    /// Queues a command for an AGV: its last report no longer describes it after every
    /// command it was sent, so it does not count as standing until a report that does.
    pub(crate) fn push_command(&mut self, action: Action) {
        if let Action::Motion { agv, .. } | Action::Send { agv, .. } = &action
            && let Some(a) = self.agvs.get_mut(agv)
        {
            a.settled = false;
        }
        self.actions.push_back(action);
    }

    pub(crate) fn command_id(&mut self) -> u64 {
        let id = self.next_command;
        self.next_command += 1;
        id
    }

    /// An AGV's session is up (it registered) with this footprint and top speed.
    pub fn online(&mut self, now: u64, id: u32, dims: [f64; 4], max_speed: f64) {
        let agv = self
            .agvs
            .entry(id)
            .or_insert_with(|| Agv::new(id, dims, max_speed));
        agv.online = true;
        agv.dims = dims;
        agv.max_speed = max_speed;
        agv.reported = false;
        agv.settled = false;
        agv.offline_since_ms = None;
        if agv.task.is_none() {
            agv.idle_since_ms = now;
            self.idle.insert(id);
        }
        self.wake(id);
    }

    /// An AGV's session ended: it keeps everything it held, its task goes back to the queue
    /// for it (replanned from where it stands once it is back and seen standing).
    pub fn offline(&mut self, now: u64, id: u32) {
        let Some(agv) = self.agvs.get_mut(&id) else {
            return;
        };
        agv.online = false;
        agv.offline_since_ms = Some(now);
        let task = agv.task;
        self.idle.remove(&id);
        if let Some(t) = task {
            self.requeue(now, t, true);
        }
        if self
            .space
            .holds(id)
            .iter()
            .any(|h| matches!(h.0, maps::Hold::Reservation { .. }))
        {
            self.settling.insert(id);
        }
        self.wake(id);
    }

    /// An AGV known from storage (registered before) that is not online: tasks may name it,
    /// and it is assigned once it comes online.
    pub fn known(&mut self, id: u32, dims: [f64; 4], max_speed: f64) {
        self.agvs
            .entry(id)
            .or_insert_with(|| Agv::new(id, dims, max_speed));
    }

    /// The driver holds `agv` still (a safety stop) or lets it go again. A held AGV gets no
    /// motion, no new task and no step; what it holds stays until [`Core::withdraw`].
    pub fn hold(&mut self, now: u64, agv: u32, held: bool) {
        let Some(a) = self.agvs.get_mut(&agv) else {
            return;
        };
        if a.held == held {
            return;
        }
        a.held = held;
        if !held {
            a.idle_since_ms = now;
        }
        if let Some(t) = a.task {
            self.dirty.insert(t);
        }
        self.wake(agv);
    }

    /// The driver vouches that `agv` stands still with a void released path (it acknowledged
    /// a safety stop and stands): its running task goes back to the queue for it (replanned
    /// from where it stands once it may move) and its reservations are given up now.
    pub fn withdraw(&mut self, now: u64, agv: u32) -> Option<u32> {
        let task = self.agvs.get(&agv)?.task;
        if let Some(t) = task {
            self.requeue(now, t, false);
        }
        self.settling.remove(&agv);
        self.release_all(agv);
        task
    }

    /// Restores a task stored before a restart, queued (for the AGV that had it, if it was
    /// running: `spec.agv`), with its id and submission time.
    pub fn restore_task(&mut self, id: u32, spec: Spec, internal: bool, created_ms: u64) {
        if self.tasks.contains_key(&id) {
            return;
        }
        if let Some(a) = spec.agv {
            self.agvs
                .entry(a)
                .or_insert_with(|| Agv::new(a, [0.5, 0.5, 0.4, 0.4], 1.5));
        }
        let task = Task::new(id, spec, internal, created_ms);
        self.tasks.insert(id, task);
        self.queue_insert(id);
        if id >= self.next_task {
            self.next_task = id.wrapping_add(1).max(1);
        }
    }

    /// Takes `space` as the space table (rebuilt from storage after a restart): every AGV
    /// holding reservations in it keeps them until it is seen standing.
    pub fn restore_space(&mut self, space: SpaceTable) {
        self.space = space;
        let holders: BTreeSet<u32> = self
            .space
            .all()
            .filter(|(_, _, h, _)| matches!(h, maps::Hold::Reservation { .. }))
            .map(|(a, ..)| a)
            .collect();
        self.settling.extend(holders);
    }

    /// The driver changed what `agv` holds in the space table (an operator cleared it, a
    /// grant ended): tasks waiting for it look again.
    pub fn space_changed(&mut self, agv: u32) {
        self.wake(agv);
    }

    /// The AGV riding lift `lift` (or holding it for its ride), if any.
    pub fn lift_rider(&self, lift: u16) -> Option<u32> {
        self.lifts.get(&lift).copied()
    }

    /// Whether any action waits to be taken.
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// A status report of AGV `id`.
    pub fn report(&mut self, now: u64, id: u32, r: &Report) {
        let Some(agv) = self.agvs.get_mut(&id) else {
            return;
        };
        if !agv.online {
            return;
        }
        let moved = agv.map != r.map
            || (agv.pose[0] - r.pose[0]).abs() > 0.01
            || (agv.pose[1] - r.pose[1]).abs() > 0.01
            || (agv.pose[2] - r.pose[2]).abs() > 0.02
            || !agv.reported;
        let progressed = agv.last_node != r.last_node
            || agv.mode != r.mode
            || agv.moving != r.moving
            || agv.settled != r.settled;
        agv.map = r.map;
        agv.pose = r.pose;
        agv.moving = r.moving;
        agv.mode = r.mode;
        agv.last_node = r.last_node;
        agv.battery_pct = r.battery_pct;
        agv.settled = r.settled;
        agv.reported = true;
        let (dims, task) = (agv.dims, agv.task);
        if moved && self.settings.track_footprints {
            let shape = maps::Shape::new(vec![maps::space::oriented_rect(
                r.pose[0], r.pose[1], r.pose[2], dims[0], dims[1], dims[2], dims[3],
            )]);
            let overlaps = self.space.set_footprint(id, r.map, shape);
            self.stats.overlaps += overlaps.len() as u64;
        }
        if moved || progressed {
            // its footprint moved: what waits for it may fit now
            self.wake(id);
        }
        if progressed && let Some(t) = task {
            self.dirty.insert(t);
        }
        let _ = now;
    }

    /// Submits a task (checked against the site); returns its id.
    pub fn submit(&mut self, now: u64, spec: Spec) -> Result<u32, Refusal> {
        validate(self.site, &spec, |n| self.incoming.contains_key(&n))?;
        if let Some(a) = spec.agv
            && !self.agvs.contains_key(&a)
        {
            return Err(Refusal::UnknownAgv(a));
        }
        Ok(self.enqueue(now, spec, false))
    }

    pub(crate) fn enqueue(&mut self, now: u64, spec: Spec, internal: bool) -> u32 {
        let id = self.next_task;
        self.next_task = self.next_task.wrapping_add(1).max(1);
        let task = Task::new(id, spec, internal, now);
        self.tasks.insert(id, task);
        self.queue_insert(id);
        self.actions.push_back(Action::StoreTask { task: id });
        self.actions
            .push_back(Action::Publish(Event::Submitted { task: id, internal }));
        id
    }

    /// Cancels a task; returns its state after. A running one is cancelled on its AGV, whose
    /// path stays held until it is seen standing.
    pub fn cancel(&mut self, now: u64, id: u32) -> Option<TaskState> {
        let state = self.tasks.get(&id)?.state;
        if !state.is_final() {
            self.end(now, id, TaskState::Cancelled, None);
        }
        self.tasks.get(&id).map(|t| t.state)
    }

    /// The answer to command `id` (or why there was none).
    pub fn answered(&mut self, now: u64, id: u64, outcome: Outcome) {
        let Some((agv, pending)) = self.pending.remove(&id) else {
            return;
        };
        match pending {
            Pending::Motion {
                task,
                reserve,
                before,
            } => {
                let Some(t) = self.tasks.get_mut(&task) else {
                    return;
                };
                if t.busy == Some(id) {
                    t.busy = None;
                }
                match outcome {
                    Outcome::Ok | Outcome::Offline => {
                        if t.wait
                            .as_ref()
                            .is_some_and(|w| w.reason == WaitReason::Settling)
                        {
                            t.wait = None;
                        }
                        self.dirty.insert(task);
                    }
                    Outcome::NotStored => {
                        // Never sent: the release is undone and the space goes back (storage
                        // is told too: part of it may have been stored before the failure).
                        if t.state == TaskState::Running {
                            (t.released, t.sent) = before;
                            self.dirty.insert(task);
                        }
                        let gone: Vec<u64> = reserve.iter().flat_map(|(_, r)| r.clone()).collect();
                        self.release(agv, &gone);
                        self.wake(agv);
                    }
                    Outcome::Refused | Outcome::Lost => {
                        if t.state == TaskState::Running {
                            self.end(
                                now,
                                task,
                                TaskState::Failed,
                                Some(format!("motion command {outcome:?}")),
                            );
                        }
                    }
                }
            }
            Pending::Step { task } => {
                let Some(t) = self.tasks.get_mut(&task) else {
                    return;
                };
                if t.busy == Some(id) {
                    t.busy = None;
                }
                if t.state != TaskState::Running {
                    return;
                }
                match outcome {
                    Outcome::Ok => self.step_done(now, task),
                    Outcome::Offline => {
                        t.sent = false;
                    }
                    _ => self.end(
                        now,
                        task,
                        TaskState::Failed,
                        Some(format!("switch command {outcome:?}")),
                    ),
                }
            }
            Pending::Other => {}
        }
    }

    /// A map, navigation or lift step was carried out: the next step.
    fn step_done(&mut self, now: u64, task: u32) {
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        let step = t.steps.get(t.step).cloned();
        t.step += 1;
        t.released = 0;
        t.reached = None;
        t.sent = false;
        t.updated_ms = now;
        let agv = t.agv;
        if let (Some(Step::Lift { lift, to_map, .. }), Some(agv)) = (step, agv) {
            self.lifts.remove(&lift);
            // Off the floor it left: all it held there goes (the way out stays held).
            let old: Vec<u64> = self
                .space
                .holds(agv)
                .iter()
                .filter_map(|(h, m, _)| match h {
                    maps::Hold::Reservation { resource } if *m != to_map => Some(*resource),
                    _ => None,
                })
                .collect();
            self.release(agv, &old);
            if let Some(a) = self.agvs.get_mut(&agv) {
                a.map = to_map;
            }
        }
        self.dirty.insert(task);
        self.actions.push_back(Action::StoreTask { task });
    }

    /// Gives up `resources` of `agv` and tells storage and the waiting.
    pub(crate) fn release(&mut self, agv: u32, resources: &[u64]) {
        if resources.is_empty() {
            return;
        }
        let n = self
            .space
            .release_reservations(agv, |r| resources.contains(&r));
        if n > 0 {
            self.actions.push_back(Action::Released {
                agv,
                resources: resources.to_vec(),
            });
            self.wake(agv);
        }
    }

    /// Gives up every reservation of `agv`.
    pub(crate) fn release_all(&mut self, agv: u32) {
        let all: Vec<u64> = self
            .space
            .holds(agv)
            .iter()
            .filter_map(|(h, ..)| match h {
                maps::Hold::Reservation { resource } => Some(*resource),
                _ => None,
            })
            .collect();
        self.release(agv, &all);
    }

    /// A queued or running task goes to `node`.
    pub(crate) fn target(&mut self, node: u32) {
        *self.targets.entry(node).or_default() += 1;
    }

    /// A task going to `node` left the queue or ended.
    pub(crate) fn untarget(&mut self, node: u32) {
        if let Some(n) = self.targets.get_mut(&node) {
            *n -= 1;
            if *n == 0 {
                self.targets.remove(&node);
            }
        }
    }

    /// Tasks waiting for `agv` are looked at again.
    pub(crate) fn wake(&mut self, agv: u32) {
        if let Some(w) = self.waiters.remove(&agv) {
            self.dirty.extend(w);
        }
    }

    /// Ends a task. Its AGV keeps what it was released until it is seen standing (a cancel
    /// lets it drive on to a safe point; a lost motion may have reached it).
    pub(crate) fn end(&mut self, now: u64, id: u32, state: TaskState, error: Option<String>) {
        self.queue_remove(id);
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        let was = t.state;
        t.state = state;
        t.error = error;
        t.wait = None;
        t.updated_ms = now;
        t.busy = None;
        let agv = t.agv;
        let sent_any = t.sent || t.step > 0;
        let internal = t.internal;
        let dest = t.spec.destination;
        if self.running.remove(&id) {
            self.untarget(dest);
        }
        self.dirty.remove(&id);
        match state {
            TaskState::Completed if !internal => self.stats.completed += 1,
            TaskState::Failed => self.stats.failed += 1,
            TaskState::Cancelled if !internal => self.stats.cancelled += 1,
            _ => {}
        }
        if let Some(agv) = agv
            && was == TaskState::Running
        {
            self.lifts.retain(|_, a| *a != agv);
            if let Some(a) = self.agvs.get_mut(&agv) {
                a.task = None;
                a.idle_since_ms = now;
                if a.online {
                    self.idle.insert(agv);
                }
            }
            if state == TaskState::Completed {
                self.release_all(agv);
            } else {
                if sent_any {
                    let id_cmd = self.command_id();
                    self.pending.insert(id_cmd, (agv, Pending::Other));
                    self.push_command(Action::Send {
                        id: id_cmd,
                        agv,
                        command: Command::Cancel { task: id },
                    });
                }
                self.settling.insert(agv);
            }
            self.wake(agv);
        }
        self.actions.push_back(Action::StoreTask { task: id });
        self.actions
            .push_back(Action::Publish(Event::Ended { task: id, state }));
    }

    /// Puts a running task back in the queue for its AGV (it went offline, or its plan is
    /// void); what the AGV holds stays until it is seen standing.
    pub(crate) fn requeue(&mut self, now: u64, id: u32, offline: bool) {
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        if t.state != TaskState::Running {
            return;
        }
        let agv = t.agv;
        t.state = TaskState::Queued;
        t.spec.agv = agv;
        t.agv = None;
        t.steps.clear();
        t.step = 0;
        t.released = 0;
        t.reached = None;
        t.sent = false;
        t.busy = None;
        t.yield_to = None;
        t.updated_ms = now;
        t.wait = offline.then_some(Wait {
            reason: WaitReason::Offline,
            since_ms: now,
        });
        let dest = t.spec.destination;
        self.queue_insert(id);
        if self.running.remove(&id) {
            self.untarget(dest);
        }
        self.dirty.remove(&id);
        if let Some(agv) = agv {
            self.lifts.retain(|_, a| *a != agv);
            if let Some(a) = self.agvs.get_mut(&agv) {
                a.task = None;
            }
            self.settling.insert(agv);
        }
        self.actions.push_back(Action::StoreTask { task: id });
    }

    /// Sets why a task waits; tells the event stream when the reason changes.
    pub(crate) fn set_wait(&mut self, now: u64, id: u32, reason: WaitReason) {
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        if let Some(other) = reason.agv() {
            self.waiters.entry(other).or_default().insert(id);
        }
        if t.wait.as_ref().is_some_and(|w| w.reason == reason) {
            return;
        }
        t.wait = Some(Wait {
            reason,
            since_ms: now,
        });
        if let Some(agv) = t.agv {
            self.actions.push_back(Action::Publish(Event::Waiting {
                task: id,
                agv,
                reason,
            }));
        }
    }

    /// One pass: settle, advance what changed, assign, and every half second resolve
    /// deadlocks and apply the idle and charging policies.
    pub fn tick(&mut self, now: u64) {
        self.settle(now);
        // Waiting tasks are looked at again at least every `retry_ms` (spread over the ticks by
        // id): a wait whose blocker changed in a way not woken for ends soon.
        let retry = self.settings.retry_ms.max(100);
        let slot = (now / 100) % (retry / 100);
        let due: Vec<u32> = self
            .running
            .iter()
            .copied()
            .filter(|id| {
                u64::from(*id) % (retry / 100) == slot && {
                    let t = &self.tasks[id];
                    t.wait.is_some() || t.busy.is_some()
                }
            })
            .collect();
        self.dirty.extend(due);
        let dirty = std::mem::take(&mut self.dirty);
        for id in dirty {
            self.advance(now, id);
        }
        self.assign(now);
        if now.saturating_sub(self.last_slow_ms) >= 500 {
            self.last_slow_ms = now;
            self.resolve_deadlocks(now);
            self.policies(now);
            self.alarms(now);
        }
    }

    /// AGVs without a running task give up their reservations once seen standing.
    fn settle(&mut self, now: u64) {
        let ready: Vec<u32> = self
            .settling
            .iter()
            .copied()
            .filter(|a| {
                self.agvs
                    .get(a)
                    .is_some_and(|v| v.task.is_none() && v.standing())
            })
            .collect();
        for agv in ready {
            self.settling.remove(&agv);
            self.release_all(agv);
            if let Some(a) = self.agvs.get_mut(&agv) {
                a.idle_since_ms = now;
            }
        }
    }

    /// Raises one alarm per task and offline AGV blocking it for long.
    fn alarms(&mut self, now: u64) {
        let after = self.settings.offline_alarm_after_ms;
        // An episode ends when its wait does: a later one raises a new alarm.
        let tasks = &self.tasks;
        self.alarmed.retain(|(task, blocker)| {
            tasks.get(task).and_then(|t| t.wait.as_ref()).is_some_and(
                |w| matches!(w.reason, WaitReason::BlockedByOffline { agv, .. } if agv == *blocker),
            )
        });
        let mut raise = Vec::new();
        for id in &self.running {
            let t = &self.tasks[id];
            if let Some(Wait {
                reason: WaitReason::BlockedByOffline { agv, node },
                since_ms,
            }) = t.wait
                && now.saturating_sub(since_ms) >= after
                && !self.alarmed.contains(&(*id, agv))
            {
                raise.push((*id, agv, node, t.agv.unwrap_or(0), since_ms));
            }
        }
        for (task, blocker, node, agv, since) in raise {
            self.alarmed.insert((task, blocker));
            self.stats.alarms += 1;
            self.actions.push_back(Action::Alarm {
                agv,
                task,
                blocker,
                node,
                waited_ms: now.saturating_sub(since),
                remedy: format!(
                    "bring AGV {blocker} back online; or check the floor and clear its space \
                     (DELETE /api/v1/agvs/{blocker}/space); or cancel task {task} \
                     (DELETE /api/v1/tasks/{task})"
                ),
            });
        }
    }
}
