//! Dense maps: many AGVs moved one node at a time together, by priority inheritance with
//! backtracking (PIBT; Okumura et al., "Priority inheritance with backtracking for iterative
//! multi-agent path finding", 2022), fed through the same reservations as every other move.
//!
//! Where AGVs stand on most nodes, the knots of [`crate::deadlock`] (one cycle untied at a time,
//! by a way around or a back-off onto a free neighbour) rarely find the free node they need:
//! the fleet ends up a sliding puzzle, every AGV waiting for another. One step of PIBT looks at
//! every AGV at rest on such a map at once, in priority order (user tasks before internal ones,
//! then the task started longest ago: a stable order, which in PIBT gets the first task where it
//! goes): each takes the neighbouring node nearest its goal; an AGV at rest on that node
//! inherits the priority and must move on to a node of its own (never back onto the node of the
//! AGV pushing it), recursively; if it cannot, the pusher tries its next node. The moves found
//! are handed to the tasks as plans (a one-node drive, then the way on from there) and to idle
//! AGVs as parking tasks: every one of them is then released piece by piece like any other
//! drive, so a chain of moves runs from its free end and nothing is ever given space another
//! AGV holds. A cycle of moves (each onto the node the next leaves) cannot run that way and is
//! never chosen.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use maps::Shape;
use maps::space::{corridor, disc};

use crate::core::Core;
use crate::task::{Step, TaskKind, TaskState};
use crate::wait::WaitReason;

/// How deep pushes go (AGVs pushed in a row by one move).
const MAX_DEPTH: usize = 64;

/// Node visits a step may spend on searching the hops to the AGVs' goals.
const HOPS_BUDGET: usize = 50_000;

/// Hop tables kept: at most this many entries in all (the tables of a map's nodes).
pub(crate) const HOPS_CACHED: usize = 1 << 20;

/// Hops from each node to a goal.
pub(crate) type Hops = maps::hash::IdMap<u32, u32>;

/// Hop tables of goals, least recently used out.
pub(crate) type HopsCache =
    hashlink::LruCache<u32, Arc<Hops>, std::hash::BuildHasherDefault<maps::hash::IdHasher>>;

/// A move's rank, lowest first: hops to the goal, whether an AGV stands there, whether it is
/// off the way planned, the node.
type Rank = (u32, u8, u8, u32);

/// An AGV at rest taking part in a step.
struct Agent {
    agv: u32,
    node: u32,
    /// Its task, when it has one that may be replanned.
    task: Option<u32>,
    /// The nodes it may take, best first: (node, the edge there, the agent standing on it).
    /// Its own node is among them: staying.
    moves: Vec<(u32, u32, Option<usize>)>,
}

/// One round of PIBT over `agents`, in the order of `order`: the node each takes next.
struct Round<'a> {
    agents: &'a [Agent],
    /// The agent standing on each node.
    at: &'a BTreeMap<u32, usize>,
    next: Vec<Option<u32>>,
    claimed: BTreeMap<u32, usize>,
}

impl Round<'_> {
    fn run(agents: &[Agent], at: &BTreeMap<u32, usize>, order: &[usize]) -> Vec<Option<u32>> {
        let mut s = Round {
            agents,
            at,
            next: vec![None; agents.len()],
            claimed: BTreeMap::new(),
        };
        for &i in order {
            if s.next[i].is_none() {
                s.pibt(i, None, MAX_DEPTH);
            }
        }
        s.next
    }

    /// Finds a node for agent `i` (pushed by `pusher`); false if it has to stay.
    fn pibt(&mut self, i: usize, pusher: Option<usize>, depth: usize) -> bool {
        let me = &self.agents[i];
        for &(v, _, occupant) in &me.moves {
            if self.claimed.contains_key(&v) {
                continue;
            }
            // never onto the node of the AGV pushing it (the two would swap)
            if pusher.is_some_and(|p| self.agents[p].node == v) {
                continue;
            }
            let occupant = occupant.filter(|k| *k != i);
            if let Some(k) = occupant
                && ((self.next[k].is_some() && self.leads_to(k, i))
                    || (self.next[k].is_none() && depth == 0))
            {
                // a cycle of moves (none of them could start), or a push too deep
                continue;
            }
            self.claimed.insert(v, i);
            self.next[i] = Some(v);
            if let Some(k) = occupant
                && self.next[k].is_none()
                && !self.pibt(k, Some(i), depth - 1)
            {
                // it stays on `v` (its claim replaced this one)
                continue;
            }
            return true;
        }
        // stay, even where it should not (its pusher tries elsewhere)
        self.next[i] = Some(me.node);
        self.claimed.insert(me.node, i);
        false
    }

    /// Whether the moves decided so far lead from agent `k` onto the node of agent `i`: `k`
    /// moves onto the node of an agent that moves on, and so on, to `i`'s.
    fn leads_to(&self, mut k: usize, i: usize) -> bool {
        for _ in 0..self.agents.len() {
            let Some(v) = self.next[k] else { return false };
            if v == self.agents[k].node {
                return false;
            }
            if v == self.agents[i].node {
                return true;
            }
            match self.at.get(&v) {
                Some(&n) => k = n,
                None => return false,
            }
        }
        false
    }
}

impl Core<'_> {
    /// The maps where the online AGVs stand on at least [`crate::Settings::dense_share`] of the
    /// nodes AGVs may stand on, among `maps`.
    pub(crate) fn dense_among(&self, maps: &BTreeSet<u16>) -> BTreeSet<u16> {
        let Some(share) = self.settings.dense_share else {
            return BTreeSet::new();
        };
        let mut on: BTreeMap<u16, usize> = maps.iter().map(|m| (*m, 0)).collect();
        for a in self.agvs.values().filter(|a| a.online) {
            if let Some(n) = on.get_mut(&a.map) {
                *n += 1;
            }
        }
        on.into_iter()
            .filter(|(m, n)| {
                let places = self.places.get(m).copied().unwrap_or(0);
                places > 0 && *n as f64 >= share * places as f64
            })
            .map(|(m, _)| m)
            .collect()
    }

    /// One step of PIBT on `map` (see the module); returns the AGVs it moved.
    pub(crate) fn shuffle(&mut self, now: u64, map: u16) -> Vec<u32> {
        let agents_here = |c: &Self, agv: &u32, from: u32| {
            c.agvs.get(agv).and_then(|a| c.node_of(a)) == Some(from)
        };
        // moves handed out that ran out or were made
        let stale: Vec<u32> = self
            .moves_given
            .iter()
            .filter(|(agv, g)| now >= g.2 || !agents_here(self, agv, g.0))
            .map(|(agv, _)| *agv)
            .collect();
        for agv in stale {
            self.moves_given.remove(&agv);
        }
        let (agents, at) = self.agents_on(now, map);
        if agents.is_empty() {
            return Vec::new();
        }
        // Priority: user tasks, then internal ones, then idle AGVs; a higher task priority,
        // then the task started first.
        let mut order: Vec<usize> = (0..agents.len()).collect();
        order.sort_by_key(|&i| {
            let a = &agents[i];
            match a.task.and_then(|t| self.tasks.get(&t)) {
                Some(t) => (
                    u8::from(t.internal),
                    std::cmp::Reverse(t.spec.priority),
                    t.started_ms.unwrap_or(t.created_ms),
                    a.agv,
                ),
                None => (2, std::cmp::Reverse(0), u64::MAX, a.agv),
            }
        });
        let next = Round::run(&agents, &at, &order);
        let mut moved = Vec::new();
        for &i in &order {
            let a = &agents[i];
            if next[i] == Some(a.node) {
                // a move handed out before that cannot be made now is decided afresh next time
                self.moves_given.remove(&a.agv);
            }
            let Some(v) = next[i].filter(|v| *v != a.node) else {
                continue;
            };
            let edge = a.moves.iter().find(|m| m.0 == v).map_or(0, |m| m.1);
            let done = match a.task {
                Some(task) => self.step_task(now, task, a.agv, map, [a.node, v], edge),
                None => self.step_idle(now, a.agv, v),
            };
            if done {
                moved.push(a.agv);
                // (a move handed out before keeps its time: renewed, two moves promised
                // against each other would never run out)
                self.moves_given
                    .entry(a.agv)
                    .and_modify(|g| {
                        if (g.0, g.1) != (a.node, v) {
                            *g = (a.node, v, now + self.settings.yield_ms);
                        }
                    })
                    .or_insert((a.node, v, now + self.settings.yield_ms));
            }
        }
        if !moved.is_empty() {
            self.stats.shuffles += 1;
            self.stats.shuffled += moved.len() as u64;
        }
        moved
    }

    /// The AGVs at rest on `map` that a step may move, with the moves open to them.
    fn agents_on(&self, now: u64, map: u16) -> (Vec<Agent>, BTreeMap<u32, usize>) {
        let mut agents = Vec::new();
        let mut at: BTreeMap<u32, usize> = BTreeMap::new();
        // goals, for the distances to them
        let mut goals: Vec<Option<u32>> = Vec::new();
        for a in self.agvs.values() {
            if a.map != map || !a.online || a.held || !a.at_rest() {
                continue;
            }
            let Some(node) = self.node_of(a) else {
                continue;
            };
            let Some(n) = self.site.node(node) else {
                continue;
            };
            // standing on its node (not off it, on an approach)
            if (n.x - a.pose[0]).hypot(n.y - a.pose[1]) > 0.25 || self.lift_doors.contains(&node) {
                continue;
            }
            let (task, goal) = match a.task {
                None => {
                    if self.queued_for(a.id) || self.settling.contains(&a.id) {
                        continue;
                    }
                    (None, None)
                }
                Some(id) => {
                    let Some(t) = self.tasks.get(&id) else {
                        continue;
                    };
                    let waits = t.wait.as_ref().is_some_and(|w| {
                        matches!(
                            w.reason,
                            WaitReason::ForAgv { .. }
                                | WaitReason::Yielding { .. }
                                | WaitReason::BlockedByOffline { .. }
                        )
                    });
                    let goal = match t.steps.get(t.step) {
                        Some(Step::Drive { map: m, nodes, .. }) if *m == map => nodes.last(),
                        _ => None,
                    };
                    match goal {
                        Some(g) if waits && t.state == TaskState::Running && t.busy.is_none() => {
                            // An AGV sent off to park (out of someone's way) has nowhere it
                            // must be: it moves when pushed, as an idle one, and never pushes.
                            (Some(id), (!parking(t)).then_some(*g))
                        }
                        _ => continue,
                    }
                }
            };
            at.insert(node, agents.len());
            agents.push(Agent {
                agv: a.id,
                node,
                task,
                moves: Vec::new(),
            });
            goals.push(goal);
        }
        // Hops to each goal, searched back from it over the map: on a large map, only as many
        // goals as `HOPS_BUDGET` node visits allow; for the rest, the straight line.
        let places = self.places.get(&map).copied().unwrap_or(0).max(1);
        let mut searches = HOPS_BUDGET / places;
        let mut distances: BTreeMap<u32, Arc<Hops>> = BTreeMap::new();
        for (i, goal) in goals.iter().enumerate() {
            if let Some(g) = goal
                && !distances.contains_key(g)
            {
                // (the graph does not change: a goal's table is kept, least recently used out)
                let known = self.hops.borrow_mut().get(g).cloned();
                let hops = match known {
                    Some(h) => Some(h),
                    None if searches > 0 => {
                        searches -= 1;
                        let h = Arc::new(self.hops_to(*g, map));
                        self.hops.borrow_mut().insert(*g, Arc::clone(&h));
                        Some(h)
                    }
                    None => None,
                };
                if let Some(h) = hops {
                    distances.insert(*g, h);
                }
            }
            let (agv, here) = (agents[i].agv, agents[i].node);
            let r = self.reach(agv);
            let straight = |n: u32, g: u32| match (self.site.node(n), self.site.node(g)) {
                // (in centimetres: a ranking, not hops)
                (Some(a), Some(b)) => ((a.x - b.x).hypot(a.y - b.y) * 100.0) as u32,
                _ => u32::MAX,
            };
            let dist = |n: u32| {
                goal.map_or(0, |g| match distances.get(&g) {
                    Some(hops) => hops.get(&n).copied().unwrap_or(u32::MAX),
                    None => straight(n, g),
                })
            };
            let station = |n: u32| {
                self.site.node(n).is_some_and(|x| {
                    matches!(
                        x.kind,
                        maps::file::NodeKind::Station | maps::file::NodeKind::Charger
                    )
                })
            };
            let route_next = agents[i].task.and_then(|t| self.next_node(t));
            // A move handed out by an earlier step and not made yet is kept (a chain takes
            // longer than a step: changed every step, none of it would run).
            let promised = self
                .moves_given
                .get(&agv)
                .filter(|g| g.0 == here && now < g.2)
                .map(|g| g.1);
            // (node, edge, occupant, rank)
            let mut moves: Vec<(u32, u32, Option<usize>, Rank)> = Vec::new();
            moves.push((here, 0, Some(i), (dist(here), 0, 0, here)));
            let from = self.site.node(here).expect("a node of the site");
            for &(edge, m) in self.neighbours.get(&here).map(Vec::as_slice).unwrap_or(&[]) {
                let Some(to) = self.site.node(m) else {
                    continue;
                };
                if to.map != map || self.lift_doors.contains(&m) {
                    continue;
                }
                // idle AGVs go where a parking task may end
                if goal.is_none() && station(m) {
                    continue;
                }
                let occupant = at.get(&m).copied();
                let beside = occupant.map_or(agv, |k| agents[k].agv);
                let shape = Shape::new(vec![disc(to.x, to.y, r)]);
                let way = corridor(&[[from.x, from.y], [to.x, to.y]], r);
                if self.space.check_beside(agv, beside, map, &shape).is_err()
                    || self.space.check_beside(agv, beside, map, &way).is_err()
                {
                    continue;
                }
                let d = dist(m);
                if d == u32::MAX {
                    continue;
                }
                // nearer its goal first; then free nodes, then the way it planned
                moves.push((
                    m,
                    edge,
                    occupant,
                    (
                        d,
                        u8::from(occupant.is_some()),
                        u8::from(route_next != Some(m)),
                        m,
                    ),
                ));
            }
            if let Some(p) = promised
                && moves.iter().any(|m| m.0 == p)
            {
                moves.retain(|m| m.0 == p || m.0 == here);
            }
            moves.sort_by_key(|m| m.3);
            agents[i].moves = moves.into_iter().map(|(n, e, o, _)| (n, e, o)).collect();
        }
        (agents, at)
    }

    /// Hops from every node of `map` to `goal` (over the drive edges, backwards).
    fn hops_to(&self, goal: u32, map: u16) -> Hops {
        let places = self.places.get(&map).copied().unwrap_or(0);
        let mut out = Hops::with_capacity_and_hasher(places, Default::default());
        out.insert(goal, 0);
        let mut queue = VecDeque::from([goal]);
        while let Some(n) = queue.pop_front() {
            let d = out[&n];
            for &m in self.predecessors.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
                if !out.contains_key(&m) && self.site.node(m).is_some_and(|x| x.map == map) {
                    out.insert(m, d + 1);
                    queue.push_back(m);
                }
            }
        }
        out
    }

    /// The next node task `task` drives to (its drive not passed yet), if any.
    fn next_node(&self, task: u32) -> Option<u32> {
        let t = self.tasks.get(&task)?;
        match t.steps.get(t.step)? {
            Step::Drive { nodes, .. } => nodes.get(t.released + 1).copied(),
            _ => None,
        }
    }

    /// Task `task` of `agv` takes the one-node move `hop` (over `edge`), then goes on to its
    /// destination from there; returns whether it could.
    fn step_task(
        &mut self,
        now: u64,
        task: u32,
        agv: u32,
        map: u16,
        hop: [u32; 2],
        edge: u32,
    ) -> bool {
        let t = &self.tasks[&task];
        if matches!(t.steps.get(t.step), Some(Step::Drive { nodes, .. }) if nodes[..] == hop) {
            // given by an earlier step: it goes once the AGV there has left
            return true;
        }
        let drive = Step::Drive {
            map,
            nodes: hop.to_vec(),
            edges: vec![edge],
        };
        if parking(t) {
            // parks there instead
            let old = t.spec.destination;
            self.untarget(old);
            self.target(hop[1]);
            self.release_all(agv);
            let t = self.tasks.get_mut(&task).expect("task");
            t.spec.destination = hop[1];
            t.set_plan(vec![drive], now);
            t.yield_to = None;
            self.dirty.insert(task);
            self.actions
                .push_back(crate::action::Action::StoreTask { task });
            return true;
        }
        // A drive of its own even where the move is the way it planned: that one is released
        // a few nodes at once, all or nothing, and the nodes after the next are taken.
        let dest = self.tasks[&task].spec.destination;
        let Some(on) = self.route_steps(agv, hop[1], dest) else {
            return false;
        };
        let mut steps = vec![drive];
        steps.extend(on);
        self.release_all(agv);
        let t = self.tasks.get_mut(&task).expect("task");
        t.set_plan(steps, now);
        t.yield_to = None;
        t.replans += 1;
        self.stats.replans += 1;
        self.dirty.insert(task);
        self.actions
            .push_back(crate::action::Action::StoreTask { task });
        true
    }

    /// Idle `agv` moves to `node` (a parking task); returns whether it was sent.
    fn step_idle(&mut self, now: u64, agv: u32, node: u32) -> bool {
        if self.queued_for(agv) {
            return false;
        }
        self.send_to_park(now, agv, node);
        true
    }
}

/// Whether task `t` only takes its AGV out of the way (an internal parking task): it need not
/// get where it goes.
fn parking(t: &crate::task::Task) -> bool {
    t.internal && t.spec.kind == TaskKind::Park
}

#[cfg(test)]
#[path = "pibt_tests.rs"]
mod tests;
