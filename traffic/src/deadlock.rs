//! Deadlocks: cycles in the wait-for graph (AGV → the AGV holding the space it needs) and
//! AGVs parked in someone's way. A cycle is broken by the task that gave way least often (then
//! the youngest): it replans around the space the others hold, or backs off to a free
//! neighbouring node and lets the AGV waiting for it pass first; if it can do neither the next
//! tries. An idle AGV in the way is sent to a free node off the waiting AGV's path
//! (docs/traffic.md).

use std::collections::{BTreeMap, BTreeSet};

use maps::Shape;
use maps::space::{corridor, disc};

use crate::action::{Action, Event};
use crate::core::Core;
use crate::task::{Spec, Step, TaskKind};
use crate::wait::WaitReason;

/// A knot the deadlock pass found: untied on that tick or one of the next (looked at again
/// first: it may have come loose by itself).
#[derive(Debug, Clone)]
pub(crate) enum Knot {
    /// `agv` (at rest, its task `task`) waits for `other`, online without a task.
    Idle {
        /// The waiting AGV.
        agv: u32,
        /// Its task.
        task: u32,
        /// The idle AGV in its way.
        other: u32,
        /// The tasks of every AGV at rest waiting for `other` (`task` among them): it is sent
        /// off all of their ways, not into the way of the next.
        waiters: Vec<u32>,
    },
    /// A cycle of waits, in the order walked: (AGV, its task, the AGV it waits for).
    Cycle(Vec<(u32, u32, u32)>),
    /// `agv` (at rest, its task `task`) has waited for `other` a long time, in a chain.
    Long {
        /// The waiting AGV.
        agv: u32,
        /// Its task.
        task: u32,
        /// The AGV it waits for.
        other: u32,
    },
}

impl Knot {
    /// The AGVs of the knot.
    fn agvs(&self) -> impl Iterator<Item = u32> + '_ {
        let (pair, members) = match self {
            Self::Idle { agv, other, .. } | Self::Long { agv, other, .. } => {
                (Some([*agv, *other]), &[][..])
            }
            Self::Cycle(members) => (None, &members[..]),
        };
        pair.into_iter()
            .flatten()
            .chain(members.iter().map(|m| m.0))
    }
}

impl Core<'_> {
    /// The deadlock pass (every half second): counts the waits (congestion control) and
    /// finds the knots in them, untied by [`Self::untie_knots`] on this and the next ticks.
    pub(crate) fn find_knots(&mut self, now: u64) {
        let (mut knots, maps) = self.knots_in_waits(now);
        // On dense maps where AGVs wait, every AGV at rest there moves together first
        // (`pibt`); the knots none of whose AGVs it moved are untied by the rules below.
        if self.settings.dense_share.is_some() && !maps.is_empty() {
            let mut moved = BTreeSet::new();
            self.dense = self.dense_among(&maps);
            for map in self.dense.clone() {
                moved.extend(self.shuffle(now, map));
            }
            // the knots it left as they were: the rules below
            if !moved.is_empty() {
                knots.retain(|k| k.agvs().all(|a| !moved.contains(&a)));
            }
        } else {
            self.dense.clear();
        }
        self.knots = knots.into();
        self.knots_left = self.settings.resolutions_per_pass;
    }

    /// Unties the next knots found by the last deadlock pass: the share of `share_ms` of half
    /// a second of [`crate::Settings::resolutions_per_pass`] (rounded up; at most that many
    /// in one pass).
    pub(crate) fn untie_knots(&mut self, now: u64, share_ms: u64) {
        if self.knots.is_empty() {
            return;
        }
        // Ways around and back are short or of no use: searches stop early.
        self.planner.set_limit(Some(5_000));
        let mut budget = (self.settings.resolutions_per_pass as u64 * share_ms).div_ceil(500);
        while budget > 0 && self.knots_left > 0 {
            let Some(knot) = self.knots.pop_front() else {
                break;
            };
            if self.untie(now, knot) {
                budget -= 1;
                self.knots_left -= 1;
            }
        }
        if self.knots_left == 0 {
            // the rest: the next pass finds them again
            self.knots.clear();
        }
        self.planner.set_limit(None);
    }

    /// Whether `agv`, at rest with task `task`, still waits for `other` long enough to count.
    fn still_waits(&self, now: u64, agv: u32, task: u32, other: u32) -> bool {
        self.agvs
            .get(&agv)
            .is_some_and(|a| a.task == Some(task) && a.at_rest())
            && self
                .tasks
                .get(&task)
                .and_then(|t| t.wait.as_ref())
                .is_some_and(|w| {
                    waited_for(w.reason) == Some(other)
                        && now.saturating_sub(w.since_ms) >= self.settings.deadlock_after_ms
                })
    }

    /// The knots in the waits of the running tasks, in the order they are untied; counts the
    /// waits for congestion control.
    fn knots_in_waits(&mut self, now: u64) -> (Vec<Knot>, BTreeSet<u16>) {
        // Only AGVs standing at the end of what was released to them count as waiting: the
        // path of an AGV still driving its released pieces is never taken away.
        let mut waits: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
        // the maps they wait on
        let mut maps = BTreeSet::new();
        let (mut user, mut blocked) = (0usize, 0usize);
        for id in &self.running {
            let t = &self.tasks[id];
            if !t.internal {
                user += 1;
            }
            let Some(agv) = t.agv else { continue };
            let Some(w) = &t.wait else { continue };
            let Some(other) = waited_for(w.reason) else {
                continue;
            };
            if !t.internal {
                blocked += 1;
            }
            if now.saturating_sub(w.since_ms) < self.settings.deadlock_after_ms {
                continue;
            }
            if let Some(a) = self.agvs.get(&agv).filter(|a| a.at_rest()) {
                maps.insert(a.map);
                waits.insert(agv, (*id, other));
            }
        }
        // Never below a floor of the fleet at work (a jam that does not clear by itself, a
        // knot the rules below have not untied yet, must not stop the rest of the site), and
        // open while nothing completes: held-back work waits for a jam that flows.
        let online = self.agvs.values().filter(|a| a.online).count();
        let flows = now.saturating_sub(self.last_completed_ms) < self.settings.congestion_stall_ms;
        self.congested = self.settings.congestion_gate.is_some_and(|share| {
            blocked as f64 > share * user as f64
                && user as f64 > self.settings.congestion_floor * online as f64
                && flows
        });
        if self.congested {
            self.stats.congested_passes += 1;
        }
        let mut knots = Vec::new();
        let mut handled: BTreeSet<u32> = BTreeSet::new();
        // Waiting on an AGV without a task: it never ends by itself. One knot per idle AGV,
        // for the first AGV waiting for it (by id), with every waiter's task.
        let mut idle: BTreeMap<u32, usize> = BTreeMap::new();
        for (&agv, &(task, other)) in &waits {
            let o = &self.agvs[&other];
            if o.task.is_some() || !o.online || self.queued_for(other) {
                continue;
            }
            handled.insert(agv);
            match idle.get(&other) {
                Some(&k) => {
                    if let Knot::Idle { waiters, .. } = &mut knots[k] {
                        waiters.push(task);
                    }
                }
                None => {
                    idle.insert(other, knots.len());
                    knots.push(Knot::Idle {
                        agv,
                        task,
                        other,
                        waiters: vec![task],
                    });
                }
            }
        }
        // Each AGV is walked once over all starts (a walk stops where an earlier one went):
        // linear in the waits, also with long queues behind a cycle.
        let mut walked: BTreeMap<u32, usize> = BTreeMap::new();
        for (walk, &start) in waits.keys().enumerate() {
            if handled.contains(&start) || walked.contains_key(&start) {
                continue;
            }
            let mut seen = vec![start];
            walked.insert(start, walk);
            let mut at = start;
            let cycle = loop {
                let Some(&(_, next)) = waits.get(&at) else {
                    break None;
                };
                match walked.get(&next) {
                    // back on this walk: a cycle
                    Some(&w) if w == walk => {
                        let i = seen.iter().position(|a| *a == next).unwrap_or(0);
                        break Some(seen[i..].to_vec());
                    }
                    // an earlier walk went on from here: nothing new
                    Some(_) => break None,
                    None => {}
                }
                walked.insert(next, walk);
                seen.push(next);
                at = next;
            };
            let Some(cycle) = cycle else { continue };
            if cycle.iter().any(|a| handled.contains(a)) {
                continue;
            }
            handled.extend(cycle.iter().copied());
            knots.push(Knot::Cycle(
                cycle.iter().map(|a| (*a, waits[a].0, waits[a].1)).collect(),
            ));
        }
        // Long waits in a chain (no cycle, nobody idle at its end): once every
        // `long_wait_ms` of its wait, a task looks for a way around (a chain that flows,
        // however slowly, is not a knot the rules above see; it must not hold a task for ever).
        let period = self.settings.long_wait_ms.max(1);
        let mut long = 0;
        for (&agv, &(task, other)) in &waits {
            if long >= self.settings.resolutions_per_pass.div_ceil(4) {
                break;
            }
            if handled.contains(&agv) {
                continue;
            }
            let waited = self.tasks[&task]
                .wait
                .as_ref()
                .map_or(0, |w| now.saturating_sub(w.since_ms));
            if waited >= period && waited % period < 500 {
                long += 1;
                knots.push(Knot::Long { agv, task, other });
            }
        }
        (knots, maps)
    }

    /// Unties `knot` if it is still tied; returns whether it was.
    fn untie(&mut self, now: u64, knot: Knot) -> bool {
        match knot {
            Knot::Idle {
                agv,
                task,
                other,
                waiters,
            } => {
                let idle = self
                    .agvs
                    .get(&other)
                    .is_some_and(|o| o.task.is_none() && o.online);
                if !idle || self.queued_for(other) || !self.still_waits(now, agv, task, other) {
                    return false;
                }
                let dest = self.tasks[&task].spec.destination;
                let on_dest = self.current_node(other) == Some(dest);
                if on_dest || !self.replan_around(now, task, agv) {
                    self.clear_the_way(now, other, &waiters);
                }
                true
            }
            Knot::Long { agv, task, other } => {
                if !self.still_waits(now, agv, task, other) {
                    return false;
                }
                if self.replan_around(now, task, agv) {
                    self.stats.long_replans += 1;
                }
                true
            }
            Knot::Cycle(members) => {
                if !members
                    .iter()
                    .all(|&(agv, task, other)| self.still_waits(now, agv, task, other))
                {
                    return false;
                }
                self.untie_cycle(now, &members);
                true
            }
        }
    }

    /// Breaks a cycle of waits (AGV, its task, the AGV it waits for).
    fn untie_cycle(&mut self, now: u64, members: &[(u32, u32, u32)]) {
        let cycle: Vec<u32> = members.iter().map(|m| m.0).collect();
        self.stats.deadlocks += 1;
        // On a dense map an AGV sent off to park need not go anywhere: a cycle it is in (one
        // the step of `pibt` left: nobody pushed it, it wants nowhere) ends with its parking
        // task, where it stands. (Two parking tasks waiting for each other around an AGV
        // stopped between two nodes held a task for 72 minutes on the demo site.)
        let parking = members.iter().find(|&&(agv, task, _)| {
            self.tasks[&task].internal
                && self.tasks[&task].spec.kind == TaskKind::Park
                && self
                    .agvs
                    .get(&agv)
                    .is_some_and(|a| self.dense.contains(&a.map))
        });
        if let Some(&(_, task, _)) = parking {
            self.end(now, task, crate::task::TaskState::Cancelled, None);
            self.publish_deadlock(&cycle, "parking_dropped");
            return;
        }
        // The member of the cycle waiting for `agv`.
        let waiter_for = |agv: u32| members.iter().find(|m| m.2 == agv).map_or(agv, |m| m.0);
        let mut victims: Vec<(u64, u32, u32)> = members
            .iter()
            .map(|&(a, task, _)| (self.tasks[&task].created_ms, task, a))
            .collect();
        // The task that gave way least often first, then the youngest: giving way turns
        // about (one AGV sent back and forth between two others is a livelock).
        victims.sort_by_key(|&(created, task, _)| {
            (
                self.tasks[&task].replans,
                std::cmp::Reverse(created),
                std::cmp::Reverse(task),
            )
        });
        for &(_, task, agv) in &victims {
            if self.replan_around(now, task, agv) {
                self.publish_deadlock(&cycle, "replanned");
                return;
            }
            if self.back_off(now, task, agv, waiter_for(agv)) {
                self.publish_deadlock(&cycle, "backed_off");
                return;
            }
        }
        // Nobody can move: make room next to one of them (youngest first).
        for &(_, _, agv) in &victims {
            if self.make_room(now, agv, waiter_for(agv)) {
                self.publish_deadlock(&cycle, "made_room");
                return;
            }
        }
    }

    fn publish_deadlock(&mut self, cycle: &[u32], how: &'static str) {
        self.actions.push_back(Action::Publish(Event::Deadlock {
            cycle: cycle.to_vec(),
            how,
        }));
    }

    /// Whether a queued task names `agv`.
    pub(crate) fn queued_for(&self, agv: u32) -> bool {
        self.requested.contains_key(&agv)
    }

    /// The nodes of task `task`'s current and later drives not yet passed.
    fn remaining_nodes(&self, task: u32) -> BTreeSet<u32> {
        let t = &self.tasks[&task];
        let mut out = BTreeSet::new();
        for (i, s) in t.steps.iter().enumerate().skip(t.step) {
            if let Step::Drive { nodes, .. } = s {
                let from = if i == t.step {
                    t.released.min(nodes.len() - 1)
                } else {
                    0
                };
                out.extend(nodes[from..].iter().copied());
            }
        }
        out
    }

    /// Whether node `node` (on `map`) and the way to it are free for `agv`.
    fn free_for(&self, agv: u32, map: u16, node: u32, via: Option<&[[f64; 2]]>, r: f64) -> bool {
        let Some(n) = self.site.node(node) else {
            return false;
        };
        if self
            .space
            .check(agv, map, &Shape::new(vec![disc(n.x, n.y, r)]))
            .is_err()
        {
            return false;
        }
        via.is_none_or(|line| self.space.check(agv, map, &corridor(line, r)).is_ok())
    }

    /// Replans task `task` of `agv` (at rest) around the space others hold on its way; returns
    /// whether it did.
    pub(crate) fn replan_around(&mut self, now: u64, task: u32, agv: u32) -> bool {
        let Some(a) = self.agvs.get(&agv) else {
            return false;
        };
        if !a.at_rest() {
            return false;
        }
        let map = a.map;
        let r = self.reach(agv);
        let dest = self.tasks[&task].spec.destination;
        // Around the nodes ahead that are not free for it now, and every node where another
        // AGV stands still nearby (it will not clear the way by itself soon).
        let mut blocked: BTreeSet<u32> = self
            .remaining_nodes(task)
            .into_iter()
            .filter(|n| {
                self.site.node(*n).is_some_and(|node| node.map == map)
                    && !self.free_for(agv, map, *n, None, r)
            })
            .collect();
        if blocked.is_empty() {
            return false;
        }
        let (x, y) = (a.pose[0], a.pose[1]);
        // (the grid gives the AGVs in the cells around; the exact test is below)
        for o in self
            .nearby
            .around(map, x, y, 40.0)
            .filter_map(|id| self.agvs.get(&id))
        {
            if o.id != agv
                && o.map == map
                && !o.moving
                && (o.pose[0] - x).abs() < 40.0
                && (o.pose[1] - y).abs() < 40.0
                && let Some(n) = o.near.get(map, o.pose[0], o.pose[1], || {
                    self.site
                        .nearest_node(map, o.pose[0], o.pose[1])
                        .map(|(n, _)| n.id)
                })
            {
                blocked.insert(n);
            }
        }
        if blocked.contains(&dest) {
            return false;
        }
        if let Some(here) = self.current_node(agv) {
            blocked.remove(&here);
        }
        let excluded: Vec<u32> = blocked
            .iter()
            .flat_map(|n| self.incoming.get(n).map(Vec::as_slice).unwrap_or(&[]))
            .copied()
            .collect();
        for e in &excluded {
            self.planner.exclude_edge(*e, true);
        }
        let steps = self.plan(agv, dest);
        for e in &excluded {
            self.planner.exclude_edge(*e, false);
        }
        // Only a way that is free to start on now resolves anything.
        let steps = steps.filter(|steps| match steps.first() {
            Some(Step::Drive { map, nodes, edges }) => {
                let target = self.release_target(nodes, 0);
                self.shapes(nodes, edges, 0, target, r)
                    .iter()
                    .all(|(_, s)| self.space.check(agv, *map, s).is_ok())
            }
            _ => true,
        });
        let Some(steps) = steps else {
            return false;
        };
        self.release_all(agv);
        let t = self.tasks.get_mut(&task).expect("task");
        t.set_plan(steps, now);
        t.replans += 1;
        self.stats.replans += 1;
        self.dirty.insert(task);
        self.actions.push_back(Action::StoreTask { task });
        self.actions
            .push_back(Action::Publish(Event::Replanned { task, agv }));
        true
    }

    /// `agv` (at rest) backs off to the nearest node off `waiter`'s way that it can reach over
    /// free space (a few hops at most), then lets `waiter` pass before it goes on; returns
    /// whether it could.
    fn back_off(&mut self, now: u64, task: u32, agv: u32, waiter: u32) -> bool {
        let avoid = self
            .agvs
            .get(&waiter)
            .and_then(|w| w.task)
            .map(|t| self.remaining_nodes(t))
            .unwrap_or_default();
        self.back_off_avoiding(now, task, agv, waiter, &avoid)
    }

    /// As [`Self::back_off`], to a node not in `avoid`.
    fn back_off_avoiding(
        &mut self,
        now: u64,
        task: u32,
        agv: u32,
        waiter: u32,
        avoid: &BTreeSet<u32>,
    ) -> bool {
        let Some(a) = self.agvs.get(&agv) else {
            return false;
        };
        if !a.at_rest() {
            return false;
        }
        let map = a.map;
        let Some(here) = self.current_node(agv) else {
            return false;
        };
        let r = self.reach(agv);
        let dest = self.tasks[&task].spec.destination;
        // Not back onto a node it backed off from lately, when another one as near (or one
        // hop further) will do: backing off from one waiter's way into another's, and back,
        // shuttled an AGV between two nodes every 8 s for ten minutes while the fleet stood
        // (the demo site with 30 AGVs). Only a preference: forbidding those nodes left tasks
        // waiting for 40 minutes at 10,000 AGVs (docs/performance.md).
        let lately = now.saturating_sub(self.settings.cleared_memory_ms);
        let backed = self.agvs[&agv].backed_from;
        let left_lately = |n: u32| remembered(&backed, n, lately);
        // Breadth first over free nodes and edges.
        let mut parent: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
        let mut frontier = vec![here];
        // The nearest node off the way, and the hop it was found at.
        let mut fallback: Option<(u32, usize)> = None;
        let mut found = None;
        'search: for hop in 0..6 {
            if fallback.is_some_and(|(_, at)| hop > at + 1) {
                break;
            }
            let mut next_frontier = Vec::new();
            for n in frontier {
                let out = self.neighbours.get(&n).cloned().unwrap_or_default();
                for (edge, m) in out {
                    if m == here || parent.contains_key(&m) || self.lift_doors.contains(&m) {
                        continue;
                    }
                    let (Some(from), Some(to)) = (self.site.node(n), self.site.node(m)) else {
                        continue;
                    };
                    if !self.free_for(agv, map, m, Some(&[[from.x, from.y], [to.x, to.y]]), r) {
                        continue;
                    }
                    parent.insert(m, (n, edge));
                    if !avoid.contains(&m) {
                        if !left_lately(m) {
                            found = Some(m);
                            break 'search;
                        }
                        fallback.get_or_insert((m, hop));
                    }
                    next_frontier.push(m);
                }
            }
            frontier = next_frontier;
        }
        let Some(target) = found.or(fallback.map(|f| f.0)) else {
            return false;
        };
        let mut nodes = vec![target];
        let mut edges = Vec::new();
        let mut at = target;
        while at != here {
            let (p, e) = parent[&at];
            nodes.push(p);
            edges.push(e);
            at = p;
        }
        nodes.reverse();
        edges.reverse();
        let Some(on) = self.route_steps(agv, target, dest) else {
            return false;
        };
        let mut steps = vec![Step::Drive { map, nodes, edges }];
        steps.extend(on);
        self.release_all(agv);
        let until = now + self.settings.yield_ms;
        let t = self.tasks.get_mut(&task).expect("task");
        t.set_plan(steps, now);
        t.yield_to = Some((waiter, until));
        t.replans += 1;
        self.stats.backoffs += 1;
        let a = self.agvs.get_mut(&agv).expect("agv");
        a.backed_from.rotate_right(1);
        a.backed_from[0] = (here, now.max(1));
        self.dirty.insert(task);
        self.actions.push_back(Action::StoreTask { task });
        true
    }

    /// Sends idle `blocker` to a free node off the ways of the tasks `for_tasks` (nearest
    /// first): off one waiter's way only, it would be sent into the next one's and back.
    fn clear_the_way(&mut self, now: u64, blocker: u32, for_tasks: &[u32]) {
        let mut avoid = BTreeSet::new();
        for t in for_tasks {
            if self.tasks.get(t).is_some_and(|t| !t.state.is_final()) {
                avoid.extend(self.remaining_nodes(*t));
            }
        }
        self.clear_avoiding(now, blocker, &avoid);
    }

    /// Sends idle `blocker` to the nearest free node not in `avoid`; returns whether it did.
    fn clear_avoiding(&mut self, now: u64, blocker: u32, avoid: &BTreeSet<u32>) -> bool {
        if self.queued_for(blocker) || !self.agvs[&blocker].at_rest() {
            return false;
        }
        let Some(start) = self.current_node(blocker) else {
            return false;
        };
        let map = self.agvs[&blocker].map;
        let r = self.reach(blocker);
        // Not back onto a node it was cleared from lately.
        let lately = now.saturating_sub(self.settings.cleared_memory_ms);
        let recent = self.agvs[&blocker].cleared_from;
        let was_cleared_from = |n: u32| remembered(&recent, n, lately);
        // Breadth first over the graph from where it stands, a few hops out.
        let mut seen = BTreeSet::from([start]);
        let mut frontier = vec![start];
        for _ in 0..8 {
            let mut next_frontier = Vec::new();
            for n in frontier {
                for &(_, m) in self.neighbours.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
                    if !seen.insert(m) {
                        continue;
                    }
                    next_frontier.push(m);
                    let ok = !avoid.contains(&m)
                        && !was_cleared_from(m)
                        && !self.lift_doors.contains(&m)
                        && !self.targeted(m)
                        && self.site.node(m).is_some_and(|x| {
                            x.map == map && x.kind != maps::file::NodeKind::Station
                        })
                        && self.free_for(blocker, map, m, None, r);
                    if ok {
                        self.send_to_park(now, blocker, m);
                        let a = self.agvs.get_mut(&blocker).expect("agv");
                        a.cleared_from.rotate_right(1);
                        a.cleared_from[0] = (start, now.max(1));
                        return true;
                    }
                }
            }
            frontier = next_frontier;
        }
        false
    }

    /// Makes room next to `agv` (at rest, its way blocked by `waiter`'s cycle): an AGV at rest
    /// on a neighbouring node off `waiter`'s way is moved on (backed off, or sent off if idle)
    /// so that `agv` can back off there next; if it cannot move either, room is made next to
    /// it in turn, up to a few AGVs away (a queue unwinds from its free end, one AGV a pass).
    /// Returns whether one was moved.
    fn make_room(&mut self, now: u64, agv: u32, waiter: u32) -> bool {
        let Some(here) = self.current_node(agv) else {
            return false;
        };
        let mut avoid = self
            .agvs
            .get(&waiter)
            .and_then(|w| w.task)
            .map(|t| self.remaining_nodes(t))
            .unwrap_or_default();
        avoid.insert(here);
        self.make_room_at(now, agv, here, &avoid, 4)
    }

    fn make_room_at(
        &mut self,
        now: u64,
        agv: u32,
        here: u32,
        avoid: &BTreeSet<u32>,
        depth: u32,
    ) -> bool {
        let map = self.agvs[&agv].map;
        let out = self.neighbours.get(&here).cloned().unwrap_or_default();
        let mut behind = Vec::new();
        for (_, m) in out {
            if avoid.contains(&m) || self.lift_doors.contains(&m) {
                continue;
            }
            let Some(x) = self.standing_at(agv, map, m) else {
                continue;
            };
            if !self.agvs[&x].at_rest() {
                continue;
            }
            let mut keep_off = avoid.clone();
            keep_off.insert(m);
            let moved = match self.agvs[&x].task {
                Some(tx) => self.back_off_avoiding(now, tx, x, agv, &keep_off),
                None => self.clear_avoiding(now, x, &keep_off),
            };
            if moved {
                return true;
            }
            behind.push((x, m, keep_off));
        }
        if depth > 0 {
            for (x, m, keep_off) in behind {
                if self.make_room_at(now, x, m, &keep_off, depth - 1) {
                    return true;
                }
            }
        }
        false
    }

    /// The AGV other than `agv` standing on node `node` of `map`, if any.
    fn standing_at(&self, agv: u32, map: u16, node: u32) -> Option<u32> {
        let n = self.site.node(node)?;
        let shape = maps::Shape::new(vec![disc(n.x, n.y, 0.1)]);
        match self.space.check(agv, map, &shape) {
            Err(maps::Conflict::Occupied { agv: x }) => Some(x),
            _ => None,
        }
    }

    /// Sends idle `agv` out of the way to `node` (an internal parking task, first in the
    /// queue).
    pub(crate) fn send_to_park(&mut self, now: u64, agv: u32, node: u32) {
        let mut spec = Spec::new(TaskKind::Park, node);
        spec.agv = Some(agv);
        spec.priority = 100;
        self.enqueue(now, spec, true);
        self.stats.cleared += 1;
    }

    /// Whether an unfinished task goes to `node`.
    pub(crate) fn targeted(&self, node: u32) -> bool {
        self.targets.contains_key(&node)
    }
}

/// Whether `node` is in `memory` (nodes an AGV was sent off, with when, ms; 0: no entry) after
/// `lately`.
fn remembered(memory: &[(u32, u64)], node: u32, lately: u64) -> bool {
    memory
        .iter()
        .any(|&(m, at)| m == node && at > lately && at > 0)
}

/// The AGV a wait is for, as the deadlock rules count it.
fn waited_for(reason: WaitReason) -> Option<u32> {
    match reason {
        WaitReason::ForAgv { agv, .. } => Some(agv),
        // making way for an AGV that waits in turn: part of the same knot
        WaitReason::Yielding { to } => Some(to),
        _ => None,
    }
}

#[cfg(test)]
#[path = "deadlock_tests.rs"]
mod tests;
