//! The core: its settings, the fleet state and the tick. Inputs from the driver live in
//! `input`, task life and held space in `lifecycle`, assignment in `assign`, releasing space in
//! `release`, deadlocks in `deadlock` (on dense maps first `pibt`), idle parking and charging in
//! `policy`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use maps::file::NodeKind;
use maps::hash::IdMap;
use maps::{Planner, Site, SpaceTable};
use serde::Serialize;

use crate::action::Action;
use crate::agv::Agv;
use crate::task::Task;
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
    /// The gate never closes while fewer than this share of the online AGVs run tasks (a knot
    /// the rules have not untied yet must not stop the rest of the site).
    pub congestion_floor: f64,
    /// Nor while no task has completed for this long, ms: held-back work waits for the jam to
    /// flow, not for a jam that does not.
    pub congestion_stall_ms: u64,
    /// An idle AGV sent off a node to clear another's way is not sent back onto it for this
    /// long, ms.
    pub cleared_memory_ms: u64,
    /// A task waiting this long for an AGV in a chain (no cycle) looks for a way around, and
    /// again after each such period, ms.
    pub long_wait_ms: u64,
    /// Where the online AGVs of a map stand on at least this share of the nodes they may stand
    /// on, its knots are untied by moving every AGV at rest there together, a node at a time
    /// (`pibt`: priority inheritance with backtracking); `None`: never.
    pub dense_share: Option<f64>,
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
            congestion_floor: 0.1,
            congestion_stall_ms: 30_000,
            cleared_memory_ms: 60_000,
            long_wait_ms: 60_000,
            dense_share: Some(0.15),
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
    /// Tasks that waited long in a chain and found a way around.
    pub long_replans: u64,
    /// Idle AGVs moved out of someone's way.
    pub cleared: u64,
    /// Footprints reported over space held by another AGV (the driver's safety business).
    pub overlaps: u64,
    /// Alarms raised.
    pub alarms: u64,
    /// Motions sent.
    pub motions: u64,
    /// Tasks running before a restart that their AGV had finished while the RCS was down
    /// (completed on its report, not driven again).
    pub finished_while_away: u64,
    /// Half-second passes that found the fleet congested (no new assignments, see
    /// [`Settings::congestion_gate`]).
    pub congested_passes: u64,
    /// Steps of PIBT on dense maps that moved AGVs.
    pub shuffles: u64,
    /// AGVs those steps moved.
    pub shuffled: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Motion {
        task: u32,
        /// The pieces it reserved that its AGV did not hold before.
        fresh: Vec<u64>,
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
    /// Blocking AGV → tasks waiting for it: woken by any change of it (its footprint moved,
    /// it gave up space, went on- or offline, its task ended).
    pub(crate) waiters: BTreeMap<u32, BTreeSet<u32>>,
    /// Blocking AGV → tasks whose next piece one of its reservations takes: woken when it
    /// gives up space or changes otherwise, not when only its footprint moves (that frees
    /// nothing they wait for).
    pub(crate) reservation_waiters: BTreeMap<u32, BTreeSet<u32>>,
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
    /// The nodes a drive edge leads from to each node.
    pub(crate) predecessors: IdMap<u32, Vec<u32>>,
    /// The nodes AGVs may stand on (a drive edge leaves them; not lift doors), per map.
    pub(crate) places: BTreeMap<u16, usize>,
    /// The moves steps of PIBT handed out and not made yet: AGV → (from, to, until ms).
    pub(crate) moves_given: BTreeMap<u32, (u32, u32, u64)>,
    /// The maps the last deadlock pass found dense (where AGVs waited).
    pub(crate) dense: BTreeSet<u16>,
    /// Hops to goals of steps of PIBT (the graph never changes).
    pub(crate) hops: std::cell::RefCell<crate::pibt::HopsCache>,
    pub(crate) lift_doors: BTreeSet<u32>,
    pub(crate) chargers: Places,
    pub(crate) parking: Places,
    /// (task, offline AGV) alarms raised.
    pub(crate) alarmed: BTreeSet<(u32, u32)>,
    pub(crate) actions: VecDeque<Action>,
    /// When the deadlock pass last ran.
    pub(crate) last_slow_ms: u64,
    /// When the last tick ran.
    pub(crate) last_tick_ms: u64,
    /// The idle-AGV policies' round robin: when they last looked at a share of the idle AGVs,
    /// the id from which they look next, and when the round (every idle AGV looked at) ends.
    pub(crate) policies_at: (u64, u32, u64),
    /// The idle policies' list of AGVs to look at, kept between ticks (its allocation).
    pub(crate) idle_scratch: Vec<(u32, f32, u32, Option<maps::file::NodeKind>)>,
    pub(crate) stats: Stats,
    /// The AGVs by where they last reported (replans look for AGVs standing nearby).
    pub(crate) nearby: crate::nearby::Nearby,
    /// Knots the last deadlock pass found and has not untied yet (untied on the next ticks).
    pub(crate) knots: VecDeque<crate::deadlock::Knot>,
    /// How many more knots the last deadlock pass may untie.
    pub(crate) knots_left: usize,
    /// The last half-second pass found more running tasks waiting for AGVs than
    /// [`Settings::congestion_gate`] allows.
    pub(crate) congested: bool,
    /// When a task (not internal) last completed, ms: congestion control holds new work back
    /// only while the work already running flows.
    pub(crate) last_completed_ms: u64,
    /// Shapes of node and edge pieces by (resource, radius bits), at most
    /// [`pieces_capacity`] of the AGVs known (set again on a miss), the least recently used
    /// dropped first (one at a time: clearing the whole cache when full made the next tick
    /// rebuild every piece in use, a 40-60 ms tick about every 48 simulated seconds at 10,000
    /// AGVs).
    pub(crate) pieces: std::cell::RefCell<Pieces>,
    /// Node kinds by node id (dense; empty for sites with sparse ids).
    pub(crate) kinds: Vec<Option<NodeKind>>,
}

/// Piece shapes kept at most (a few hundred bytes each).
pub(crate) const PIECES_CACHED: usize = 1 << 16;
/// Piece shapes kept per AGV the core knows (and at least [`PIECES_MIN`]): the pieces a
/// waiting or driving AGV checks again are those just ahead of it, so the cache follows the
/// fleet instead of filling to [`PIECES_CACHED`] with every piece of a large site (a 1,000-AGV
/// fleet on a 4,900-node grid grew it by about 0.5 MB a minute for half an hour).
pub(crate) const PIECES_PER_AGV: usize = 8;
/// Piece shapes kept at least.
pub(crate) const PIECES_MIN: usize = 4096;

/// How many piece shapes are kept for a fleet of `agvs`.
pub(crate) fn pieces_capacity(agvs: usize) -> usize {
    agvs.saturating_mul(PIECES_PER_AGV)
        .clamp(PIECES_MIN, PIECES_CACHED)
}

/// The cache of piece shapes: least recently used first out.
pub(crate) type Pieces = hashlink::LruCache<
    (u64, u64),
    std::sync::Arc<maps::Shape>,
    std::hash::BuildHasherDefault<maps::hash::IdHasher>,
>;

impl<'s> Core<'s> {
    /// A core for `site` with `settings`; task ids start after `last_task`.
    pub fn new(site: &'s Site, settings: Settings, last_task: u32) -> Self {
        let mut neighbours: IdMap<u32, Vec<(u32, u32)>> = IdMap::default();
        let mut incoming: IdMap<u32, Vec<u32>> = IdMap::default();
        let mut predecessors: IdMap<u32, Vec<u32>> = IdMap::default();
        for e in site.edges() {
            let (a, b) = site.ends(e);
            if !e.blocked {
                incoming.entry(b).or_default().push(e.id);
            }
            if e.kind == maps::EdgeKind::Drive && !e.blocked {
                neighbours.entry(a).or_default().push((e.id, b));
                predecessors.entry(b).or_default().push(a);
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
        let mut places: BTreeMap<u16, usize> = BTreeMap::new();
        for n in site.nodes() {
            if neighbours.contains_key(&n.id) && !lift_doors.contains(&n.id) {
                *places.entry(n.map).or_default() += 1;
            }
        }
        let largest = places.values().copied().max().unwrap_or(1).max(1);
        let hops_kept = (crate::pibt::HOPS_CACHED / largest).max(16);
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
            reservation_waiters: BTreeMap::new(),
            settling: BTreeSet::new(),
            idle: BTreeSet::new(),
            lifts: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_task: last_task + 1,
            next_command: 1,
            neighbours,
            incoming,
            predecessors,
            places,
            moves_given: BTreeMap::new(),
            dense: BTreeSet::new(),
            hops: std::cell::RefCell::new(crate::pibt::HopsCache::with_hasher(
                hops_kept,
                Default::default(),
            )),
            lift_doors,
            alarmed: BTreeSet::new(),
            actions: VecDeque::new(),
            last_slow_ms: 0,
            last_tick_ms: 0,
            policies_at: (0, 0, 0),
            idle_scratch: Vec::new(),
            stats: Stats::default(),
            nearby: crate::nearby::Nearby::default(),
            knots: VecDeque::new(),
            knots_left: 0,
            congested: false,
            last_completed_ms: 0,
            pieces: std::cell::RefCell::new(Pieces::with_hasher(PIECES_MIN, Default::default())),
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

    /// The AGV riding lift `lift` (or holding it for its ride), if any.
    pub fn lift_rider(&self, lift: u16) -> Option<u32> {
        self.lifts.get(&lift).copied()
    }

    /// Whether any action waits to be taken.
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// One pass: settle, advance what changed, assign; every half second find deadlocks,
    /// untied over this and the next ticks, and on the other ticks apply the idle and charging
    /// policies to a share of the idle AGVs (each looked at every half second).
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
        // The half-second work is spread: no tick carries all of it. The deadlock pass (the
        // waits counted for congestion control, the knots in them found; the alarms) runs on
        // one tick, and every tick unties its share of the knots found (half a second's share
        // of the time since the last tick). The policies look at the idle AGVs round robin on
        // the ticks without a deadlock pass, each idle AGV once a round of half a second
        // (a round overdue also on a deadlock tick).
        let share = now.saturating_sub(self.last_tick_ms).min(500);
        self.last_tick_ms = now;
        let deadlocks = now.saturating_sub(self.last_slow_ms) >= 500;
        if deadlocks {
            self.last_slow_ms = now;
            self.find_knots(now);
            self.alarms(now);
        }
        self.untie_knots(now, share);
        if now > self.policies_at.0 && (!deadlocks || now >= self.policies_at.2) {
            self.policies(now);
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
