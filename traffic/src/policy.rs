//! Fleet policies: idle AGVs leave stations, chargers and lift doors for parking places or
//! out-of-the-way nodes; low batteries charge; idle AGVs charge when a charger is free.

use std::collections::{BTreeMap, BTreeSet};

use maps::Shape;
use maps::file::NodeKind;
use maps::space::disc;

use crate::agv::{Agv, Mode};
use crate::core::Core;
use crate::task::{Spec, TaskKind};

/// Node kinds by node id, for sites whose ids are dense (else empty: looked up in the site).
pub(crate) fn kinds(site: &maps::Site) -> Vec<Option<NodeKind>> {
    let max = site.nodes().iter().map(|n| n.id).max().unwrap_or(0) as usize;
    if max > 4 * site.nodes().len() + 1024 {
        return Vec::new();
    }
    let mut kinds = vec![None; max + 1];
    for n in site.nodes() {
        kinds[n.id as usize] = Some(n.kind);
    }
    kinds
}

/// The AGVs of `agvs` whose ids `ids` names, both in id order (a walk beside the AGVs,
/// no look-ups).
fn beside<'a>(
    ids: impl Iterator<Item = &'a u32>,
    agvs: impl Iterator<Item = (&'a u32, &'a Agv)>,
) -> impl Iterator<Item = (&'a u32, &'a Agv)> {
    let mut agvs = agvs.peekable();
    ids.filter_map(move |id| {
        while agvs.next_if(|(k, _)| *k < id).is_some() {}
        agvs.next_if(|(k, _)| *k == id)
    })
}

impl Core<'_> {
    /// The kind of node `id`.
    pub(crate) fn node_kind(&self, id: u32) -> Option<NodeKind> {
        match self.kinds.get(id as usize) {
            Some(k) => *k,
            None if self.kinds.is_empty() => self.site.node(id).map(|n| n.kind),
            None => None,
        }
    }

    /// The policies for a share of the idle AGVs, round robin by id: in a round of half a
    /// second every AGV idle all of it is looked at once; each tick looks at those left in
    /// the round in proportion to the time since the last share against the time left.
    pub(crate) fn policies(&mut self, now: u64) {
        let park_after = self.settings.park_after_ms;
        let (last, next, end) = self.policies_at;
        let (elapsed, left) = (now.saturating_sub(last), end.saturating_sub(last));
        // At most this many internal tasks: 200 a half second.
        let budget = (200 * elapsed.min(500)).div_ceil(500);
        // The idle AGVs left in this round, walked beside the AGVs (no look-ups), not
        // collected (no allocation per tick: most of them have nothing to do here).
        let share = if elapsed >= left {
            usize::MAX
        } else {
            (self.idle.range(next..).count() as u64 * elapsed).div_ceil(left) as usize
        };
        let mut looked_last: Option<u32> = None;
        // The cheap tests first: most idle AGVs have nothing to do here. (What the pass does
        // for one AGV changes none of them for another.) Those left: (id, battery, node, its
        // kind), in the core's scratch list (no allocation per tick once it has grown: AGVs
        // idle past `park_after_ms` on a waypoint are left every round, and stay).
        let mut idle = std::mem::take(&mut self.idle_scratch);
        idle.clear();
        idle.extend(
            beside(self.idle.range(next..), self.agvs.range(next..))
                .take(share)
                .inspect(|(id, _)| looked_last = Some(**id))
                .filter(|&(id, a)| {
                    let low = a.battery_pct < self.settings.charge_below_pct;
                    let idle_for = now.saturating_sub(a.idle_since_ms);
                    // (an AGV a queued task names waits for it, but not on a flat battery:
                    // that task is not given to it below the charge threshold, so it charges
                    // first, once)
                    !(a.mode == Mode::Charging
                        || (!low && park_after.is_none_or(|after| idle_for < after))
                        || (self.requested.contains_key(id) && (!low || self.charge_queued(*id)))
                        || !self.available_agv(id, a, true))
                })
                .filter_map(|(id, a)| {
                    let here = self.node_of(a)?;
                    Some((*id, a.battery_pct, here, self.node_kind(here)))
                }),
        );
        let after = looked_last.map(|id| id.wrapping_add(1));
        self.policies_at = match after {
            Some(after) if after != 0 && self.idle.range(after..).next().is_some() => {
                (now, after, end)
            }
            // the round is done: the next starts
            _ => (now, 0, now + 500),
        };
        if !idle.is_empty() {
            self.send_idle(now, budget, &idle);
        }
        self.idle_scratch = idle;
    }

    /// The policies for the idle AGVs left by the cheap tests (`idle`: id, battery, node, its
    /// kind), at most `budget` internal tasks.
    fn send_idle(&mut self, now: u64, mut budget: u64, idle: &[(u32, f32, u32, Option<NodeKind>)]) {
        // Nodes taken: the destinations of unfinished tasks (`targets`; the places chosen in
        // this pass are queued at once, so they are among them).
        // Once a search for a free charger or parking place fails, none is tried again in this
        // pass (each is a few R-tree and space-table queries).
        let (mut chargers_left, mut parking_left) = (true, true);
        for &(agv, battery, here, kind) in idle {
            if budget == 0 {
                // the rest first in the next share (in this round, or the next from the start)
                if self.policies_at.1 == 0 || agv < self.policies_at.1 {
                    self.policies_at.1 = agv;
                }
                break;
            }
            let low = battery < self.settings.charge_below_pct;
            if low {
                if chargers_left {
                    match self.free_node(agv, &self.chargers, &self.targets) {
                        Some(c) => {
                            self.internal(now, agv, TaskKind::Charge, c);
                            self.stats.charges += 1;
                            budget -= 1;
                        }
                        None => chargers_left = false,
                    }
                }
                continue;
            }
            let opportunity = battery < self.settings.opportunity_below_pct
                && kind != Some(NodeKind::Charger)
                && chargers_left;
            if !opportunity && kind == Some(NodeKind::Parking) {
                continue;
            }
            if opportunity {
                match self.free_node(agv, &self.chargers, &self.targets) {
                    Some(c) => {
                        self.internal(now, agv, TaskKind::Charge, c);
                        self.stats.charges += 1;
                        budget -= 1;
                        continue;
                    }
                    None => chargers_left = false,
                }
            }
            // On a station, charger or lift door it blocks work: to a free parking place, or
            // with none free to an out-of-the-way node. Elsewhere it stays where it is, ready
            // for the next task nearby; if it stands in someone's way, the deadlock rules move
            // it (`clear_the_way`). (Parking every idle AGV cost a fifth of the throughput on
            // warehouse-3f at 60 tasks a minute: AGVs on their way to park take no work.)
            if kind == Some(NodeKind::Parking) {
                continue;
            }
            let on_work = matches!(
                kind,
                Some(NodeKind::Station | NodeKind::Charger | NodeKind::LiftDoor)
            ) || self.lift_doors.contains(&here);
            if !on_work {
                continue;
            }
            let parking = if parking_left {
                let p = self.free_node(agv, &self.parking, &self.targets);
                parking_left = p.is_some();
                p
            } else {
                None
            };
            let place = parking.or_else(|| self.free_waypoint(agv, here, &self.targets));
            if let Some(p) = place {
                self.internal(now, agv, TaskKind::Park, p);
                self.stats.parks += 1;
                budget -= 1;
            }
        }
    }

    /// Whether a charge task for `agv` is queued.
    fn charge_queued(&self, agv: u32) -> bool {
        self.queue.iter().any(|k| {
            self.tasks
                .get(&k.2)
                .is_some_and(|t| t.spec.agv == Some(agv) && t.spec.kind == TaskKind::Charge)
        })
    }

    fn internal(&mut self, now: u64, agv: u32, kind: TaskKind, node: u32) {
        let mut spec = Spec::new(kind, node);
        spec.agv = Some(agv);
        spec.priority = 0;
        self.enqueue(now, spec, true);
        // Its own idle clock restarts: it is not sent again while this one is pending.
        if let Some(a) = self.agvs.get_mut(&agv) {
            a.idle_since_ms = now;
        }
    }

    /// The nearest node of `places` on `agv`'s map that nobody targets and is free for it
    /// (among the 64 nearest).
    fn free_node(
        &self,
        agv: u32,
        places: &crate::core::Places,
        taken: &BTreeMap<u32, u32>,
    ) -> Option<u32> {
        let a = &self.agvs[&agv];
        let r = self.reach(agv);
        let at = [a.pose[0], a.pose[1], f64::from(a.map) * 1000.0];
        places
            .tree
            .nearest_neighbor_iter(&at)
            .take(64)
            .map(|p| p.data)
            .filter(|c| !taken.contains_key(c))
            .find(|c| {
                self.site.node(*c).is_some_and(|n| {
                    n.map == a.map
                        && self
                            .space
                            .check(agv, n.map, &Shape::new(vec![disc(n.x, n.y, r)]))
                            .is_ok()
                })
            })
    }

    /// A free waypoint near `from` that is no station, charger or lift door and not next to
    /// one (out of the way), breadth first a few hops out.
    fn free_waypoint(&self, agv: u32, from: u32, taken: &BTreeMap<u32, u32>) -> Option<u32> {
        let map = self.agvs[&agv].map;
        let r = self.reach(agv);
        let plain = |n: u32| {
            self.site
                .node(n)
                .is_some_and(|x| x.kind == NodeKind::Waypoint && x.map == map)
                && !self.lift_doors.contains(&n)
        };
        let mut seen = BTreeSet::from([from]);
        let mut frontier = vec![from];
        for _ in 0..10 {
            let mut next = Vec::new();
            for n in frontier {
                for &(_, m) in self.neighbours.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
                    if !seen.insert(m) {
                        continue;
                    }
                    next.push(m);
                    let quiet = plain(m)
                        && self
                            .neighbours
                            .get(&m)
                            .is_some_and(|ns| ns.iter().all(|(_, k)| plain(*k)));
                    if quiet && !taken.contains_key(&m) {
                        let x = self.site.node(m).expect("node");
                        if self
                            .space
                            .check(agv, map, &Shape::new(vec![disc(x.x, x.y, r)]))
                            .is_ok()
                        {
                            return Some(m);
                        }
                    }
                }
            }
            frontier = next;
        }
        None
    }
}
