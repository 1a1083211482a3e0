//! Assignment: the queue in order (priority, deadline, submission), the available AGV nearest
//! each task's destination, routes from where AGVs stand.

use crate::action::{Action, Event};
use crate::agv::Mode;
use crate::core::Core;
use crate::task::{Step, TaskState};
use crate::wait::{Wait, WaitReason};

impl Core<'_> {
    /// Whether `agv` can take a task of `kind` now.
    pub(crate) fn available(&self, agv: u32, charge: bool) -> bool {
        self.agvs
            .get(&agv)
            .is_some_and(|a| self.available_agv(&agv, a, charge))
    }

    /// [`Self::available`] for an AGV at hand.
    pub(crate) fn available_agv(&self, agv: &u32, a: &crate::agv::Agv, charge: bool) -> bool {
        let rested = a.standing()
            && match a.mode {
                Mode::Idle | Mode::WaitingForRelease => true,
                Mode::Charging => a.battery_pct >= self.settings.work_above_pct || charge,
                _ => false,
            };
        a.task.is_none()
            && !a.held
            && rested
            && !self.settling.contains(agv)
            && (charge || a.battery_pct >= self.settings.charge_below_pct)
    }

    /// Why a task queued for `agv` (a charge task: `charge`) cannot have it now, as far as a
    /// wait says it: offline; charging first (below the charge threshold, or charging and not
    /// yet above the threshold for work); stopped for safety or not yet seen standing. None
    /// while it runs another task (or is unknown).
    pub(crate) fn unavailable(&self, agv: u32, charge: bool) -> Option<WaitReason> {
        let a = self.agvs.get(&agv)?;
        if !a.online {
            return Some(WaitReason::Offline);
        }
        if a.task.is_some() {
            return None;
        }
        if !charge
            && (a.battery_pct < self.settings.charge_below_pct
                || (a.mode == Mode::Charging && a.battery_pct < self.settings.work_above_pct))
        {
            return Some(WaitReason::Charging);
        }
        if a.held || self.settling.contains(&agv) || !a.standing() {
            return Some(WaitReason::Settling);
        }
        None
    }

    /// The node an AGV's routes start from: the nearest to its pose on its map.
    pub(crate) fn current_node(&self, agv: u32) -> Option<u32> {
        self.node_of(self.agvs.get(&agv)?)
    }

    /// [`Self::current_node`] of an AGV at hand.
    pub(crate) fn node_of(&self, a: &crate::agv::Agv) -> Option<u32> {
        a.near.get(a.map, a.pose[0], a.pose[1], || {
            self.site
                .nearest_node(a.map, a.pose[0], a.pose[1])
                .map(|(n, _)| n.id)
        })
    }

    /// Plans task `id` for `agv` from where it stands; returns the steps.
    /// The steps of a route for `agv` (its speed and width) from node `from` to node `to`.
    pub(crate) fn route_steps(&mut self, agv: u32, from: u32, to: u32) -> Option<Vec<Step>> {
        let a = self.agvs.get(&agv)?;
        let vehicle = maps::Vehicle {
            max_speed: a.max_speed,
            width: a.dims[2] + a.dims[3],
            ..maps::Vehicle::default()
        };
        let route = self.planner.route(from, to, &vehicle).ok()?;
        Some(steps_of(&route))
    }

    pub(crate) fn plan(&mut self, agv: u32, to: u32) -> Option<Vec<Step>> {
        let from = self.current_node(agv)?;
        let mut steps = self.route_steps(agv, from, to)?;
        if steps.is_empty() {
            // Already there: a drive of one node (it may stand off it: the approach).
            let map = self.site.node(from)?.map;
            steps.push(Step::Drive {
                map,
                nodes: vec![from],
                edges: vec![],
            });
        }
        Some(steps)
    }

    /// Queued tasks in order (priority, deadline, submission) get AGVs: a task naming an AGV
    /// waits for it; any other gets the available AGV nearest its destination (straight line,
    /// other maps 1 km a map away; equally near: the one idle longest, then the lowest id), found
    /// by [`Self::nearest_available`].
    pub(crate) fn assign(&mut self, now: u64) {
        if self.queue.is_empty() {
            return;
        }
        let mut pool = Pool::default();
        let order: Vec<(std::cmp::Reverse<u8>, u64, u32)> = self.queue.iter().copied().collect();
        // Bounded work per tick: at most this many routes are planned; the rest wait a tick.
        let mut budget = self.settings.routes_per_tick;
        for key in order {
            if budget == 0 {
                break;
            }
            let id = key.2;
            let Some(t) = self.tasks.get(&id) else {
                self.queue.remove(&key);
                continue;
            };
            let charge = t.spec.kind == crate::task::TaskKind::Charge;
            let dest = t.spec.destination;
            let agv = match t.spec.agv {
                Some(a) => {
                    if !self.available(a, charge) {
                        // queued for an AGV that cannot take it now: why it waits
                        let reason = self.unavailable(a, charge);
                        if t.wait.as_ref().map(|w| w.reason) != reason {
                            self.tasks.get_mut(&id).expect("task").wait =
                                reason.map(|reason| Wait {
                                    reason,
                                    since_ms: now,
                                });
                        }
                        continue;
                    }
                    a
                }
                None => {
                    if self.congested {
                        // a jam is not fed more AGVs (tasks naming theirs may still go)
                        continue;
                    }
                    let Some(n) = self.site.node(dest) else {
                        continue;
                    };
                    let Some(agv) = self.nearest_available(&mut pool, n) else {
                        // (tasks naming their AGV further down may still go)
                        continue;
                    };
                    agv
                }
            };
            budget -= 1;
            let named = t.spec.agv.is_some();
            let Some(steps) = self.plan(agv, dest) else {
                if !named {
                    // That AGV cannot get there (another may): the task stays queued.
                    continue;
                }
                self.queue_remove(id);
                self.tasks.get_mut(&id).expect("task").agv = Some(agv);
                self.end(
                    now,
                    id,
                    TaskState::Failed,
                    Some(format!("no route for AGV {agv} to node {dest}")),
                );
                continue;
            };
            self.queue_remove(id);
            let t = self.tasks.get_mut(&id).expect("task");
            t.agv = Some(agv);
            t.state = TaskState::Running;
            t.set_plan(steps, now);
            t.started_ms.get_or_insert(now);
            let a = self.agvs.get_mut(&agv).expect("agv");
            a.task = Some(id);
            self.idle.remove(&agv);
            if self.running.insert(id) {
                self.target(dest);
            }
            self.dirty.insert(id);
            self.actions.push_back(Action::StoreTask { task: id });
            self.actions
                .push_back(Action::Publish(Event::Assigned { task: id, agv }));
        }
    }

    /// The available AGV nearest node `n` (see [`Self::assign`]), not taken yet this tick
    /// (`pool`). With many idle AGVs (a large fleet, most of it waiting for work) it is found
    /// in the grid of AGVs, ring by ring of cells around the node, until no cell left can hold
    /// a nearer one; else (few idle AGVs, or none within [`RINGS`] rings: then for the rest
    /// of the tick) by a walk of the idle AGVs, collected once a tick. Both give the same AGV:
    /// ties are broken the same way.
    fn nearest_available(&self, pool: &mut Pool, n: &maps::site::Node) -> Option<u32> {
        let at = [n.x, n.y, f64::from(n.map) * 1000.0];
        if self.idle.len() >= RINGS_FROM && !pool.rings_failed {
            match self.nearest_in_rings(pool, n.map, at) {
                Some(agv) => {
                    pool.take(agv);
                    return Some(agv);
                }
                // (the idle AGVs are far from the work: walked for the rest of this tick)
                None => pool.rings_failed = true,
            }
        }
        let candidates = pool.walked.get_or_insert_with(|| {
            // the idle AGVs in id order, walked beside the AGVs (no look-ups)
            let mut agvs = self.agvs.iter().peekable();
            self.idle
                .iter()
                .filter_map(|id| {
                    while agvs.next_if(|(k, _)| *k < id).is_some() {}
                    agvs.next_if(|(k, _)| *k == id)
                })
                .filter(|(a, v)| self.candidate(a, v) && !pool.taken.contains(a))
                .map(|(a, v)| Candidate {
                    at: [v.pose[0], v.pose[1], f64::from(v.map) * 1000.0],
                    idle_since_ms: v.idle_since_ms,
                    agv: *a,
                })
                .collect()
        });
        let i = nearest(candidates, at)?;
        let agv = candidates.swap_remove(i).agv;
        pool.taken.push(agv);
        Some(agv)
    }

    /// Whether `a` (`v`) may be given a task naming no AGV: available, and not named by one.
    fn candidate(&self, a: &u32, v: &crate::agv::Agv) -> bool {
        self.available_agv(a, v, false) && !self.requested.contains_key(a)
    }

    /// [`Self::nearest_available`] in the grid of AGVs: rings of cells around `at` on `map`,
    /// at most [`RINGS`]; None when none of them holds a candidate nearer than every cell
    /// beyond.
    fn nearest_in_rings(&self, pool: &Pool, map: u16, at: [f64; 3]) -> Option<u32> {
        let mut best: Option<(f64, u64, u32)> = None;
        for ring in 0..=RINGS {
            for id in self.nearby.ring(map, at[0], at[1], ring) {
                let Some(v) = self.agvs.get(&id) else {
                    continue;
                };
                if !self.idle.contains(&id) || !self.candidate(&id, v) || pool.taken.contains(&id) {
                    continue;
                }
                // (as `nearest` computes it, the map's term included: the same value)
                let from = [v.pose[0], v.pose[1], f64::from(v.map) * 1000.0];
                let key = (d2(from, at), v.idle_since_ms, id);
                if best.is_none_or(|b| nearer(key, b)) {
                    best = Some(key);
                }
            }
            // Every cell not looked at yet is at least `beyond` away (less a millimetre for
            // rounding at the cells' edges): a candidate nearer than that is the nearest.
            let beyond = self.nearby.beyond(at[0], at[1], ring) - 0.001;
            if let Some(b) = best
                && beyond > 0.0
                && b.0 < beyond * beyond
            {
                return Some(b.2);
            }
        }
        None
    }

    /// Puts task `id` in the queue.
    pub(crate) fn queue_insert(&mut self, id: u32) {
        let Some(t) = self.tasks.get(&id) else { return };
        if !self.queue.insert(t.order()) {
            return;
        }
        let (dest, named) = (t.spec.destination, t.spec.agv);
        self.target(dest);
        if let Some(a) = named {
            *self.requested.entry(a).or_default() += 1;
        }
    }

    /// Takes task `id` out of the queue.
    pub(crate) fn queue_remove(&mut self, id: u32) {
        let Some(t) = self.tasks.get(&id) else { return };
        if !self.queue.remove(&t.order()) {
            return;
        }
        let (dest, named) = (t.spec.destination, t.spec.agv);
        self.untarget(dest);
        if let Some(a) = named
            && let Some(n) = self.requested.get_mut(&a)
        {
            *n -= 1;
            if *n == 0 {
                self.requested.remove(&a);
            }
        }
    }
}

/// From how many idle AGVs the nearest is looked for in the grid first.
const RINGS_FROM: usize = 256;

/// How many rings of cells around a destination are looked at, at most, before the idle
/// AGVs are walked.
const RINGS: u32 = 8;

/// What a tick's assignment took and collected.
#[derive(Debug, Default)]
struct Pool {
    /// The AGVs taken by this tick's tasks.
    taken: Vec<u32>,
    /// The available AGVs not taken yet, collected the first time they are walked.
    walked: Option<Vec<Candidate>>,
    /// A search in the grid found none near enough this tick: the rest are walked (a grid
    /// search costs a few hundred cells, the walk once collected costs less).
    rings_failed: bool,
}

impl Pool {
    /// `agv` is taken.
    fn take(&mut self, agv: u32) {
        self.taken.push(agv);
        if let Some(w) = &mut self.walked
            && let Some(i) = w.iter().position(|c| c.agv == agv)
        {
            w.swap_remove(i);
        }
    }
}

/// An available AGV in a tick's assignment pool.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Where it stands: x, y and its map 1 km a map away.
    at: [f64; 3],
    idle_since_ms: u64,
    agv: u32,
}

/// The index in `pool` of the candidate nearest `at` (straight line); equally near, the one
/// idle longest, then the lowest id: the choice does not depend on the pool's order.
fn nearest(pool: &[Candidate], at: [f64; 3]) -> Option<usize> {
    let mut best: Option<((f64, u64, u32), usize)> = None;
    for (i, c) in pool.iter().enumerate() {
        let key = (d2(c.at, at), c.idle_since_ms, c.agv);
        if best.is_none_or(|b| nearer(key, b.0)) {
            best = Some((key, i));
        }
    }
    best.map(|b| b.1)
}

/// The squared distance between two places (x, y, and the map 1 km a map away).
fn d2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (dx, dy, dz) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    dx * dx + dy * dy + dz * dz
}

/// Whether candidate `a` (squared distance, idle since, id) goes before `b`: nearer, then idle
/// longer, then the lower id.
fn nearer(a: (f64, u64, u32), b: (f64, u64, u32)) -> bool {
    a.0.total_cmp(&b.0)
        .then(a.1.cmp(&b.1))
        .then(a.2.cmp(&b.2))
        .is_lt()
}

/// The steps of a route.
pub(crate) fn steps_of(route: &maps::Route) -> Vec<Step> {
    route
        .legs
        .iter()
        .map(|leg| match leg {
            maps::Leg::Drive { map, nodes, edges } => Step::Drive {
                map: *map,
                nodes: nodes.clone(),
                edges: edges.clone(),
            },
            maps::Leg::NavSwitch { map, node, to, .. } => Step::NavSwitch {
                map: *map,
                node: *node,
                to: *to,
            },
            maps::Leg::Lift {
                lift, enter, exit, ..
            } => Step::Lift {
                lift: *lift,
                enter: enter.node,
                to_map: exit.map,
                exit: exit.node,
            },
            maps::Leg::Link { from, to, .. } => Step::Lift {
                lift: 0,
                enter: from.node,
                to_map: to.map,
                exit: to.node,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Candidate, nearest};

    fn c(x: f64, map: u16, idle_since_ms: u64, agv: u32) -> Candidate {
        Candidate {
            at: [x, 0.0, f64::from(map) * 1000.0],
            idle_since_ms,
            agv,
        }
    }

    #[test]
    fn the_nearest_then_the_longest_idle_then_the_lowest_id_whatever_the_order() {
        let pool = [
            c(5.0, 1, 0, 1),
            c(-2.0, 1, 900, 7),
            c(2.0, 1, 300, 9),
            c(2.0, 1, 300, 4),
            c(0.5, 2, 0, 2),
        ];
        // 2 m away: AGVs 7, 9 and 4; 9 and 4 idle since 300 ms (longer than 7), 4 the lower id
        for rotation in 0..pool.len() {
            let mut p = pool.to_vec();
            p.rotate_left(rotation);
            let i = nearest(&p, [0.0, 0.0, 1000.0]).unwrap();
            assert_eq!(p[i].agv, 4, "rotation {rotation}");
        }
        // another map counts 1 km a map away
        let i = nearest(&pool, [0.0, 0.0, 2000.0]).unwrap();
        assert_eq!(pool[i].agv, 2);
        assert_eq!(nearest(&[], [0.0; 3]), None);
    }

    /// The AGVs the old walk picks for `dests` one after another (the nearest of the idle
    /// AGVs collected once, each taken), as `assign` picked them before the grid.
    fn walked(core: &crate::Core<'_>, dests: &[u32]) -> Vec<Option<u32>> {
        let mut pool: Vec<Candidate> = core
            .idle
            .iter()
            .filter_map(|a| core.agvs.get(a).map(|v| (a, v)))
            .filter(|(a, v)| core.candidate(a, v))
            .map(|(a, v)| Candidate {
                at: [v.pose[0], v.pose[1], f64::from(v.map) * 1000.0],
                idle_since_ms: v.idle_since_ms,
                agv: *a,
            })
            .collect();
        dests
            .iter()
            .map(|d| {
                let n = core.site.node(*d).expect("node");
                let i = nearest(&pool, [n.x, n.y, f64::from(n.map) * 1000.0])?;
                Some(pool.swap_remove(i).agv)
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Found ring by ring in the grid or by the walk, each destination gets the AGV the
        /// old walk of every idle AGV gave: the same decisions, whatever the fleet.
        #[test]
        fn the_grid_finds_the_agv_the_walk_finds(
            agvs in proptest::collection::vec(
                (0usize..7200, -3.0f64..3.0, -3.0f64..3.0, 0u64..4, 0u8..10),
                1..700,
            ),
            dests in proptest::collection::vec(0usize..7200, 1..40),
        ) {
            use crate::agv::{Mode, Report};
            let site = maps::Site::compile(
                &maps::generate::grid_site("rings", 2, 60, 60),
                std::path::Path::new("."),
            )
            .expect("site");
            let mut core = crate::Core::new(&site, crate::Settings::default(), 0);
            let nodes = site.nodes();
            for (i, (node, dx, dy, since, kind)) in agvs.iter().enumerate() {
                let id = i as u32 + 1;
                let n = &nodes[*node % nodes.len()];
                // idle since one of four moments: ties in distance and in time both happen
                let now = since * 1_000;
                core.online(now, id, [0.5, 0.5, 0.4, 0.4], 1.5);
                // some on the node itself (equal distances), some busy, low or moving
                let (dx, dy) = if *kind < 3 { (0.0, 0.0) } else { (*dx, *dy) };
                let report = Report {
                    map: n.map,
                    pose: [n.x + dx, n.y + dy, 0.0],
                    moving: *kind == 9,
                    mode: if *kind == 8 { Mode::Driving } else { Mode::Idle },
                    last_node: n.id,
                    battery_pct: if *kind == 7 { 10.0 } else { 90.0 },
                    settled: true,
                    task: 0,
                };
                core.report(now, id, &report);
            }
            let dests: Vec<u32> = dests.iter().map(|d| nodes[*d % nodes.len()].id).collect();
            let expected = walked(&core, &dests);
            let mut pool = super::Pool::default();
            let got: Vec<Option<u32>> = dests
                .iter()
                .map(|d| core.nearest_available(&mut pool, site.node(*d).expect("node")))
                .collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
