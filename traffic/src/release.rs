//! Advancing running tasks: releasing a drive piece by piece (all or nothing, never ending
//! inside a single lane, into a lift only with the way out reserved), releasing behind the
//! AGV, switch and lift steps, completion.

use std::sync::Arc;

use maps::Shape;
use maps::space::{corridor, disc};

use crate::action::{Action, Command};
use crate::agv::Mode;
use crate::core::{APPROACH, Core, EDGE, Pending};
use crate::task::{Step, TaskKind, TaskState};
use crate::wait::WaitReason;

impl Core<'_> {
    /// Looks at running task `id` again: next piece, next step, completion.
    pub(crate) fn advance(&mut self, now: u64, id: u32) {
        let Some(t) = self.tasks.get(&id) else {
            return;
        };
        if t.state != TaskState::Running {
            return;
        }
        if t.busy.is_some() {
            // A command of it is unanswered: while its AGV stands, that is why it waits.
            let standing = t
                .agv
                .and_then(|a| self.agvs.get(&a))
                .is_some_and(|a| a.online && !a.moving);
            if standing && t.wait.is_none() {
                self.set_wait(now, id, WaitReason::Settling);
            }
            return;
        }
        let Some(agv) = t.agv else { return };
        let Some(a) = self.agvs.get(&agv) else { return };
        if !a.online {
            self.set_wait(now, id, WaitReason::Offline);
            return;
        }
        if !a.reported {
            return;
        }
        if a.held {
            // Stopped by the driver: nothing new until it lets the AGV go.
            self.set_wait(now, id, WaitReason::Settling);
            return;
        }
        let sent = t.sent;
        match t.steps.get(t.step).cloned() {
            None => self.complete(now, id),
            Some(Step::Drive { map, nodes, edges }) => {
                self.drive(now, id, agv, map, &nodes, &edges);
            }
            Some(Step::NavSwitch { map, to, .. }) => {
                if sent {
                    return;
                }
                self.send_step(id, agv, Command::NavSwitch { task: id, map, to });
            }
            Some(Step::Lift {
                lift, to_map, exit, ..
            }) => {
                if sent {
                    return;
                }
                // (lift 0 is a link between maps: no cabin to share)
                if lift != 0 {
                    if let Some(&who) = self.lifts.get(&lift)
                        && who != agv
                    {
                        self.set_wait(now, id, WaitReason::ForLift { lift });
                        return;
                    }
                    self.lifts.insert(lift, agv);
                }
                self.send_step(
                    id,
                    agv,
                    Command::Lift {
                        task: id,
                        lift,
                        to_map,
                        exit,
                    },
                );
            }
        }
    }

    fn send_step(&mut self, task: u32, agv: u32, command: Command) {
        let id = self.command_id();
        self.pending.insert(id, (agv, Pending::Step { task }));
        if let Some(t) = self.tasks.get_mut(&task) {
            t.sent = true;
            t.busy = Some(id);
            t.wait = None;
        }
        self.push_command(Action::Send { id, agv, command });
    }

    fn complete(&mut self, now: u64, id: u32) {
        let (kind, dest, agv) = {
            let t = &self.tasks[&id];
            (t.spec.kind, t.spec.destination, t.agv)
        };
        self.end(now, id, TaskState::Completed, None);
        if kind == TaskKind::Charge
            && let Some(agv) = agv
        {
            let cmd = self.command_id();
            self.pending.insert(cmd, (agv, Pending::Other));
            self.push_command(Action::Send {
                id: cmd,
                agv,
                command: Command::Charge { node: dest },
            });
        }
    }

    /// The reservation radius of `agv`, m.
    pub(crate) fn reach(&self, agv: u32) -> f64 {
        self.agvs[&agv].radius() + self.settings.margin
    }

    /// Node and edge pieces `from..=to` of a drive, with their shapes.
    pub(crate) fn shapes(
        &self,
        nodes: &[u32],
        edges: &[u32],
        from: usize,
        to: usize,
        r: f64,
    ) -> Vec<(u64, Shape)> {
        let mut items = Vec::with_capacity(2 * (to + 1 - from));
        for i in from..=to {
            self.push_shapes(&mut items, nodes, edges, i, r);
        }
        items
            .into_iter()
            .map(|(res, shape)| (res, Shape::clone(&shape)))
            .collect()
    }

    /// The pieces of node `i` of a drive (the node and the edge into it) onto `items`, their
    /// shapes from the cache of pieces.
    fn push_shapes(
        &self,
        items: &mut Vec<(u64, Arc<Shape>)>,
        nodes: &[u32],
        edges: &[u32],
        i: usize,
        r: f64,
    ) {
        // (the site is looked up only to build a piece not cached: a piece in the cache is of
        // a node or edge of the site)
        let res = u64::from(nodes[i]);
        if let Some(s) = self.piece(res, r, || {
            let n = self.site.node(nodes[i])?;
            Some(Shape::new(vec![disc(n.x, n.y, r)]))
        }) {
            items.push((res, s));
        }
        if i > 0 {
            let res = EDGE | u64::from(edges[i - 1]);
            if let Some(s) = self.piece(res, r, || {
                let e = self.site.edge(edges[i - 1])?;
                Some(corridor(&e.polyline, r))
            }) {
                items.push((res, s));
            }
        }
    }

    /// The shape of node or edge piece `res` at reservation radius `r`, built once: a task
    /// waiting to go on checks the same pieces again whenever the AGV it waits for moves.
    /// None when `make` finds no such node or edge.
    fn piece(&self, res: u64, r: f64, make: impl FnOnce() -> Option<Shape>) -> Option<Arc<Shape>> {
        let mut cache = self.pieces.borrow_mut();
        if let Some(s) = cache.get(&(res, r.to_bits())) {
            return Some(Arc::clone(s));
        }
        let s = Arc::new(make()?);
        let capacity = crate::core::pieces_capacity(self.agvs.len());
        if cache.capacity() != capacity {
            cache.set_capacity(capacity);
        }
        // full: the least recently used goes
        cache.insert((res, r.to_bits()), Arc::clone(&s));
        Some(s)
    }

    /// Whether an AGV may stop and wait at `node` without blocking a single lane: not a plain
    /// corridor node (exactly two neighbours).
    pub(crate) fn is_stop_point(&self, node: u32) -> bool {
        self.neighbours.get(&node).map_or(0, Vec::len) != 2
    }

    /// The end of the next release from `here`: `lookahead` nodes on, extended to the next stop
    /// point.
    pub(crate) fn release_target(&self, nodes: &[u32], here: usize) -> usize {
        let last = nodes.len() - 1;
        let mut target = (here + self.settings.lookahead).min(last);
        while target < last && !self.is_stop_point(nodes[target]) {
            target += 1;
        }
        target
    }

    fn drive(&mut self, now: u64, id: u32, agv: u32, map: u16, nodes: &[u32], edges: &[u32]) {
        let t = &self.tasks[&id];
        let a = &self.agvs[&agv];
        let last = nodes.len() - 1;
        let (sent, released, step, yield_to) = (t.sent, t.released, t.step, t.yield_to);
        // Where the AGV is along the drive: nowhere before it reached the first node (its last
        // node may be a stale one that comes later in this path: it stopped short of the first
        // node, coming from there); then only forwards from where it was.
        let here = if sent && a.map == map {
            // it reports the first node, or a later one that is not the node it had when the
            // drive was sent (it passed the first without reporting it)
            let reached = t.reached.or_else(|| {
                if a.last_node == nodes[0] {
                    Some(0)
                } else if a.last_node != t.stale_node {
                    nodes[..=released].iter().position(|n| *n == a.last_node)
                } else {
                    None
                }
            });
            match reached {
                None => 0,
                Some(from) => {
                    let upto = released.max(from);
                    let here = nodes[from..=upto]
                        .iter()
                        .rposition(|n| *n == a.last_node)
                        .map_or(from, |i| from + i);
                    self.tasks.get_mut(&id).expect("task").reached = Some(here);
                    here
                }
            }
        } else {
            0
        };
        let a = &self.agvs[&agv];
        if sent
            && here == last
            && released == last
            && !a.moving
            && a.settled
            && a.mode != Mode::Driving
        {
            self.release_behind(agv, nodes, edges, here);
            let t = self.tasks.get_mut(&id).expect("task");
            t.step += 1;
            t.released = 0;
            t.reached = None;
            t.sent = false;
            t.updated_ms = now;
            self.dirty.insert(id);
            return;
        }
        let manual = a.mode == Mode::Manual;
        self.release_behind(agv, nodes, edges, here);
        if !sent && manual {
            // Manoeuvring in a safe space: a new path starts once it is back.
            return;
        }
        if !sent
            && step > 0
            && let Some((other, until)) = yield_to
        {
            let still_waits = self
                .agvs
                .get(&other)
                .and_then(|o| o.task)
                .and_then(|o| self.tasks.get(&o))
                .and_then(|o| o.wait.as_ref())
                .is_some_and(|w| w.reason.agv() == Some(agv));
            if still_waits && now < until {
                self.set_wait(now, id, WaitReason::Yielding { to: other });
                return;
            }
            self.tasks.get_mut(&id).expect("task").yield_to = None;
        }
        let target = self.release_target(nodes, here);
        let from = if !sent {
            0
        } else if target > released {
            released + 1
        } else {
            return;
        };
        let r = self.reach(agv);
        // The pieces are checked as the reservation checks them (in order, those it holds
        // already skipped), each as soon as its shape is built: a waiting task, retried
        // whenever the AGV it waits for moves, usually finds the first piece taken and builds
        // no more. Node `from + k` has its pieces at `items[ends[k - 1]..ends[k]]`.
        let mut items: Vec<(u64, Arc<Shape>)> = Vec::with_capacity(2 * (target + 1 - from) + 1);
        let mut ends: Vec<usize> = Vec::with_capacity(target + 1 - from);
        let free = |space: &maps::SpaceTable, map: u16, item: (u64, &Shape)| {
            if space.holds_reservation(agv, item.0) {
                Ok(())
            } else {
                space.check(agv, map, item.1)
            }
        };
        let mut taken: Option<maps::Conflict> = None;
        // The node (counted from `from`) whose pieces were found taken here.
        let mut taken_at: Option<usize> = None;
        'pieces: for i in from..=target {
            let start = items.len();
            self.push_shapes(&mut items, nodes, edges, i, r);
            ends.push(items.len());
            for (res, shape) in &items[start..] {
                if let Err(c) = free(&self.space, map, (*res, shape)) {
                    taken = Some(c);
                    taken_at = Some(i - from);
                    break 'pieces;
                }
            }
        }
        let mut exit = None;
        if taken.is_none() {
            if !sent {
                items.extend(
                    self.approach(agv, map, nodes[0], r)
                        .map(|(res, shape)| (res, Arc::new(shape))),
                );
            }
            exit = if target == last {
                self.exit_items(id, r)
            } else {
                None
            };
            let tail = items[ends.last().copied().unwrap_or(0)..]
                .iter()
                .map(|(res, shape)| (map, *res, &**shape))
                .chain(
                    exit.iter()
                        .flat_map(|(m, out)| out.iter().map(move |(res, shape)| (*m, *res, shape))),
                );
            for (m, res, shape) in tail {
                if let Err(c) = free(&self.space, m, (res, shape)) {
                    taken = Some(c);
                    break;
                }
            }
        }
        let owned = || -> Vec<(u64, Shape)> {
            items
                .iter()
                .map(|(res, shape)| (*res, Shape::clone(shape)))
                .collect()
        };
        // The pieces this motion adds (a new path may start on pieces it holds already): only
        // those go back if it is never handed to the AGV.
        let fresh: Vec<u64> = if taken.is_none() {
            items
                .iter()
                .map(|(res, _)| *res)
                .chain(
                    exit.iter()
                        .flat_map(|(_, out)| out.iter().map(|(res, _)| *res)),
                )
                .filter(|res| !self.space.holds_reservation(agv, *res))
                .collect()
        } else {
            Vec::new()
        };
        let reserved = match (taken, &exit) {
            (Some(c), _) => Err(c),
            (None, Some((to_map, out))) => self
                .space
                .reserve_on_maps(agv, &[(map, &owned()), (*to_map, out)]),
            (None, None) => self.space.reserve(agv, map, &owned()),
        };
        match reserved {
            Err(c @ maps::Conflict::Forbidden { .. }) => {
                self.end(
                    now,
                    id,
                    TaskState::Failed,
                    Some(format!("the path passes too close to a {c} for this AGV")),
                );
            }
            Err(maps::Conflict::WrongMap | maps::Conflict::TooLarge) => {
                self.end(
                    now,
                    id,
                    TaskState::Failed,
                    Some("the path leaves the map".to_owned()),
                );
            }
            Err(c) => {
                // the first node of the piece that is not free (where it waits to go on): its
                // pieces checked (held or not) up to the one found taken, which is
                // the last built (or all of them when the approach or the way out was taken).
                // Before the node found taken above, only pieces it holds were not checked
                // (the others were free, and nothing changed since).
                let k = taken_at.unwrap_or(ends.len());
                let node = ends[..k]
                    .iter()
                    .enumerate()
                    .find(|&(k, &end)| {
                        let start = if k == 0 { 0 } else { ends[k - 1] };
                        items[start..end].iter().any(|(res, s)| {
                            (taken_at.is_none() || self.space.holds_reservation(agv, *res))
                                && self.space.check(agv, map, s).is_err()
                        })
                    })
                    .map(|(k, _)| k)
                    .or(taken_at)
                    .map_or(nodes[from], |k| nodes[from + k]);
                let reason = match c {
                    maps::Conflict::Granted { agv, grant } => WaitReason::ForGrant { agv, grant },
                    maps::Conflict::Occupied { agv: o } | maps::Conflict::Reserved { agv: o } => {
                        if self.agvs.get(&o).is_some_and(|v| !v.online) {
                            WaitReason::BlockedByOffline { agv: o, node }
                        } else {
                            WaitReason::ForAgv { agv: o, node }
                        }
                    }
                    _ => unreachable!("handled above"),
                };
                // Taken by a reservation of an online AGV: it stays taken until that AGV gives
                // space up (which wakes), whatever its footprint does.
                let reserved = matches!(c, maps::Conflict::Reserved { .. })
                    && matches!(reason, WaitReason::ForAgv { .. });
                self.set_wait_on(now, id, reason, reserved);
            }
            Ok(()) => {
                let mut reserve = vec![(map, items.iter().map(|(r, _)| *r).collect::<Vec<_>>())];
                if let Some((to_map, out)) = &exit {
                    reserve.push((*to_map, out.iter().map(|(r, _)| *r).collect()));
                }
                let start = if sent { released } else { 0 };
                let command = Command::Motion {
                    task: id,
                    map,
                    nodes: nodes[start..=target].to_vec(),
                    edges: edges[start..target].to_vec(),
                    new_path: !sent,
                    last: target == last,
                };
                let cmd = self.command_id();
                self.pending.insert(
                    cmd,
                    (
                        agv,
                        Pending::Motion {
                            task: id,
                            fresh,
                            before: (released, sent),
                        },
                    ),
                );
                let last_node = self.agvs[&agv].last_node;
                let t = self.tasks.get_mut(&id).expect("task");
                if !sent {
                    t.stale_node = last_node;
                }
                t.released = target;
                t.sent = true;
                t.busy = Some(cmd);
                t.wait = None;
                t.updated_ms = now;
                self.stats.motions += 1;
                self.push_command(Action::Motion {
                    id: cmd,
                    agv,
                    reserve,
                    task: id,
                    command,
                });
            }
        }
    }

    /// The approach to `node` (the first of a drive on `map`) when `agv` stands farther than
    /// 5 cm off it: a corridor from where it stands.
    fn approach(&self, agv: u32, map: u16, node: u32, r: f64) -> Option<(u64, Shape)> {
        let a = self.agvs.get(&agv)?;
        let n = self.site.node(node)?;
        if a.map != map || (n.x - a.pose[0]).hypot(n.y - a.pose[1]) <= 0.05 {
            return None;
        }
        Some((
            APPROACH | u64::from(node),
            corridor(&[[a.pose[0], a.pose[1]], [n.x, n.y]], r),
        ))
    }

    /// When the current drive of task `id` ends at a lift door: the target map and the way out
    /// on it (the exit door and the first release of the drive that follows).
    fn exit_items(&self, id: u32, r: f64) -> Option<(u16, Vec<(u64, Shape)>)> {
        let t = &self.tasks[&id];
        let Some(Step::Lift { to_map, .. }) = t.steps.get(t.step + 1) else {
            return None;
        };
        let Some(Step::Drive { map, nodes, edges }) = t.steps.get(t.step + 2) else {
            return None;
        };
        if map != to_map || nodes.is_empty() {
            return None;
        }
        let target = self.release_target(nodes, 0);
        Some((*to_map, self.shapes(nodes, edges, 0, target, r)))
    }

    fn release_behind(&mut self, agv: u32, nodes: &[u32], edges: &[u32], here: usize) {
        if here == 0 {
            return;
        }
        // Usually all of it went when the AGV passed: nothing to look up or give up.
        let approach = APPROACH | u64::from(nodes[0]);
        let holds_behind = self.space.reservations(agv).any(|r| {
            r == approach
                || nodes[..here].iter().any(|n| u64::from(*n) == r)
                || edges[..here].iter().any(|e| EDGE | u64::from(*e) == r)
        });
        if !holds_behind {
            return;
        }
        let mut behind: Vec<u64> = nodes[..here].iter().map(|n| u64::from(*n)).collect();
        behind.extend(edges[..here].iter().map(|e| EDGE | u64::from(*e)));
        behind.push(APPROACH | u64::from(nodes[0]));
        self.release(agv, &behind);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::Settings;
    use crate::core::{Core, PIECES_CACHED, PIECES_MIN, PIECES_PER_AGV, pieces_capacity};

    /// A full cache of piece shapes drops the least recently used one at a time: a piece in
    /// use keeps its shape (not rebuilt) while the cache turns over many times its size.
    #[test]
    fn a_full_piece_cache_drops_the_least_recently_used_not_everything() {
        let site = maps::Site::compile(
            &maps::generate::rack_warehouse(2, 2, false),
            std::path::Path::new("."),
        )
        .expect("site");
        let mut core = Core::new(&site, Settings::default(), 0);
        // a fleet that keeps the cache at its largest
        for agv in 1..=(PIECES_CACHED / PIECES_PER_AGV) as u32 {
            core.known(agv, [0.5, 0.5, 0.4, 0.4], 1.0);
        }
        let shape = || Some(maps::Shape::new(vec![maps::space::disc(0.0, 0.0, 0.5)]));
        let hot = core.piece(u64::MAX, 0.5, shape).expect("built");
        let mut built = 0;
        for res in 0..(3 * PIECES_CACHED) as u64 {
            let _ = core.piece(res, 0.5, || {
                built += 1;
                shape()
            });
            if res % 1000 == 0 {
                let again = core.piece(u64::MAX, 0.5, || panic!("the hot piece was rebuilt"));
                assert!(Arc::ptr_eq(&hot, &again.expect("cached")));
            }
        }
        assert_eq!(built, 3 * PIECES_CACHED);
        assert_eq!(core.pieces.borrow().len(), PIECES_CACHED);
        // the oldest cold piece went, the newest stayed
        assert!(!core.pieces.borrow().contains_key(&(0, 0.5f64.to_bits())));
        let last = (3 * PIECES_CACHED - 1) as u64;
        assert!(core.pieces.borrow().contains_key(&(last, 0.5f64.to_bits())));
    }

    /// The cache follows the fleet: [`PIECES_PER_AGV`] pieces per AGV known, between
    /// [`PIECES_MIN`] and [`PIECES_CACHED`]; a small fleet on a large site does not fill it with
    /// every piece of the site.
    #[test]
    fn the_piece_cache_is_sized_by_the_fleet() {
        assert_eq!(pieces_capacity(0), PIECES_MIN);
        assert_eq!(pieces_capacity(1000), 1000 * PIECES_PER_AGV);
        assert_eq!(pieces_capacity(100_000), PIECES_CACHED);
        let site = maps::Site::compile(
            &maps::generate::rack_warehouse(2, 2, false),
            std::path::Path::new("."),
        )
        .expect("site");
        let mut core = Core::new(&site, Settings::default(), 0);
        let shape = || Some(maps::Shape::new(vec![maps::space::disc(0.0, 0.0, 0.5)]));
        for res in 0..(2 * PIECES_MIN) as u64 {
            let _ = core.piece(res, 0.5, shape);
        }
        assert_eq!(core.pieces.borrow().len(), PIECES_MIN);
        // 1,000 AGVs come: room for 8,000
        for agv in 1..=1000 {
            core.known(agv, [0.5, 0.5, 0.4, 0.4], 1.0);
        }
        for res in 0..(2 * PIECES_CACHED) as u64 {
            let _ = core.piece(res, 0.5, shape);
        }
        assert_eq!(core.pieces.borrow().len(), 1000 * PIECES_PER_AGV);
    }
}
