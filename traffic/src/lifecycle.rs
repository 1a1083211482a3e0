//! Task life and held space: queued, running, waiting (and who is woken for it), ended or
//! put back; reservations given up; the count of tasks per destination.

use crate::action::{Action, Command, Event};
use crate::core::{Core, Pending};
use crate::task::{Spec, Task, TaskState};
use crate::wait::{Wait, WaitReason};

impl Core<'_> {
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
        self.wake_for_footprint(agv);
        if let Some(w) = self.reservation_waiters.remove(&agv) {
            self.dirty.extend(w);
        }
    }

    /// Only `agv`'s footprint moved: tasks waiting for it are looked at again, but not those
    /// whose next piece one of its reservations takes (it still does: reservations are given
    /// up only by [`Self::release`], which wakes them).
    pub(crate) fn wake_for_footprint(&mut self, agv: u32) {
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
            TaskState::Completed if !internal => {
                self.stats.completed += 1;
                self.last_completed_ms = now;
            }
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
        self.set_wait_on(now, id, reason, false);
    }

    /// [`Self::set_wait`]; `reserved`: what it waits for is taken by a reservation of the AGV
    /// it names (not woken when only that AGV's footprint moves).
    pub(crate) fn set_wait_on(&mut self, now: u64, id: u32, reason: WaitReason, reserved: bool) {
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        if let Some(other) = reason.agv() {
            let waiters = if reserved {
                &mut self.reservation_waiters
            } else {
                &mut self.waiters
            };
            waiters.entry(other).or_default().insert(id);
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
}

#[cfg(test)]
mod tests {
    use crate::action::{Action, Command};
    use crate::agv::{Mode, Report};
    use crate::core::{Core, Settings};
    use crate::task::{Spec, TaskKind};
    use crate::wait::WaitReason;

    fn report_at(site: &maps::Site, node: u32, dx: f64, mode: Mode, moving: bool) -> Report {
        let n = site.node(node).expect("node");
        Report {
            map: n.map,
            pose: [n.x + dx, n.y, 0.0],
            moving,
            mode,
            last_node: node,
            battery_pct: 90.0,
            settled: true,
            task: 0,
        }
    }

    /// A task waiting for another AGV's reservation is not looked at again when only that
    /// AGV's footprint moves (it frees nothing the task waits for), but is when the AGV gives
    /// space up.
    #[test]
    fn a_wait_for_a_reservation_is_woken_when_space_is_given_up_not_when_the_holder_moves() {
        let site = maps::Site::compile(
            &maps::generate::rack_warehouse(4, 3, false),
            std::path::Path::new("."),
        )
        .expect("site");
        let mut core = Core::new(&site, Settings::default(), 0);
        // AGV 1 on a parking place, a task to a station far off: its first drive released.
        let kind = |k: maps::file::NodeKind| {
            site.nodes()
                .iter()
                .filter(|n| n.kind == k)
                .map(|n| n.id)
                .collect::<Vec<_>>()
        };
        let start = kind(maps::file::NodeKind::Parking)[0];
        let station = *kind(maps::file::NodeKind::Station)
            .last()
            .expect("a station");
        core.online(0, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
        core.report(0, 1, &report_at(&site, start, 0.0, Mode::Idle, false));
        core.submit(0, Spec::new(TaskKind::Move, station)).unwrap();
        core.tick(100);
        core.tick(150);
        let released = std::iter::from_fn(|| core.poll_action())
            .find_map(|a| match a {
                Action::Motion {
                    command: Command::Motion { nodes, .. },
                    ..
                } => Some(nodes),
                _ => None,
            })
            .expect("a motion");
        assert!(released.len() >= 4, "{released:?}");
        // AGV 2 next to AGV 1's way, off it and free, with a task onto it.
        let (near, onto) = released[2..]
            .iter()
            .find_map(|&n| {
                core.neighbours[&n]
                    .iter()
                    .map(|&(_, m)| m)
                    .find(|m| {
                        let x = site.node(*m).expect("node");
                        !released.contains(m)
                            && core
                                .space
                                .check(
                                    2,
                                    x.map,
                                    &maps::Shape::new(vec![maps::space::disc(x.x, x.y, 0.5)]),
                                )
                                .is_ok()
                    })
                    .map(|m| (m, n))
            })
            .expect("a free node next to the released way");
        core.online(150, 2, [0.5, 0.5, 0.4, 0.4], 1.5);
        core.report(150, 2, &report_at(&site, near, 0.0, Mode::Idle, false));
        let mut spec = Spec::new(TaskKind::Move, onto);
        spec.agv = Some(2);
        let task = core.submit(150, spec).unwrap();
        core.tick(200);
        core.tick(250);
        let reason = core
            .task(task)
            .and_then(|t| t.wait.as_ref())
            .map(|w| w.reason);
        assert!(
            matches!(reason, Some(WaitReason::ForAgv { agv: 1, .. })),
            "{reason:?}"
        );
        assert!(core.reservation_waiters[&1].contains(&task));
        // AGV 1 starts (its state changed: looked at again), then only its footprint moves.
        core.report(260, 1, &report_at(&site, start, 0.0, Mode::Driving, true));
        assert!(core.dirty.contains(&task));
        core.tick(300);
        assert!(core.reservation_waiters[&1].contains(&task));
        core.report(310, 1, &report_at(&site, start, 0.3, Mode::Driving, true));
        assert!(
            !core.dirty.contains(&task),
            "woken by a footprint that moved"
        );
        // It gives space up: looked at again.
        core.release_all(1);
        assert!(core.dirty.contains(&task), "not woken by space given up");
    }

    /// The grid of AGVs follows their reports and forgets a forgotten AGV (a replan looking
    /// for AGVs standing nearby would otherwise find one the core no longer knows).
    #[test]
    fn the_grid_of_agvs_follows_reports_and_forgets() {
        let site = maps::Site::compile(
            &maps::generate::rack_warehouse(4, 3, false),
            std::path::Path::new("."),
        )
        .expect("site");
        let mut core = Core::new(&site, Settings::default(), 0);
        let nodes = site.nodes();
        let (a, b) = (&nodes[0], &nodes[nodes.len() - 1]);
        let near = |core: &Core<'_>, n: &maps::site::Node| {
            let mut v: Vec<u32> = core.nearby.around(n.map, n.x, n.y, 1.0).collect();
            v.sort_unstable();
            v
        };
        core.online(0, 1, [0.5, 0.5, 0.4, 0.4], 1.5);
        assert_eq!(
            near(&core, a),
            Vec::<u32>::new(),
            "placed before it reported"
        );
        core.report(0, 1, &report_at(&site, a.id, 0.0, Mode::Idle, false));
        assert_eq!(near(&core, a), vec![1]);
        core.report(100, 1, &report_at(&site, b.id, 0.0, Mode::Idle, false));
        assert_eq!(near(&core, a), Vec::<u32>::new(), "left behind");
        assert_eq!(near(&core, b), vec![1]);
        core.offline(200, 1);
        assert_eq!(
            near(&core, b),
            vec![1],
            "an offline AGV stays where it was seen"
        );
        assert_eq!(core.forget(1), Ok(true));
        assert_eq!(near(&core, b), Vec::<u32>::new(), "forgotten");
    }
}
