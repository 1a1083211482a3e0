//! Inputs from the driver: sessions up and down, reports, tasks submitted, cancelled and
//! restored, commands answered, safety holds.

use std::collections::BTreeSet;

use maps::SpaceTable;

use crate::action::{Action, Outcome};
use crate::agv::{Agv, Mode, Report};
use crate::core::{Core, Pending};
use crate::task::{Busy, Refusal, Spec, Step, Task, TaskState, validate};
use crate::wait::WaitReason;

impl Core<'_> {
    /// An AGV's session is up (it registered) with this footprint and top speed. Each call is a
    /// new session: an AGV online already (a session that took over another, with no
    /// [`Core::offline`] between) first goes offline, because it forgot on its link loss what
    /// the earlier session released to it (docs/protocol.md 4.1): its task goes back to the
    /// queue and what it holds stays until it is seen standing. A command the core produced
    /// before this call belongs to the earlier session: the driver never hands it to this one,
    /// and its answer (whatever [`Outcome`]) changes nothing.
    pub fn online(&mut self, now: u64, id: u32, dims: [f64; 4], max_speed: f64) {
        if self.agvs.get(&id).is_some_and(|a| a.online) {
            self.offline(now, id);
        }
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
    /// for it (replanned from where it stands once it is back and seen standing), and the
    /// answers to commands sent to it before are ignored.
    pub fn offline(&mut self, now: u64, id: u32) {
        let Some(agv) = self.agvs.get_mut(&id) else {
            return;
        };
        agv.online = false;
        agv.offline_since_ms = Some(now);
        let task = agv.task;
        self.idle.remove(&id);
        // Its commands' answers change nothing now: what it holds goes once it is seen
        // standing (a motion never handed giving its pieces back later could give up pieces
        // the AGV holds again by then, for a new path).
        self.pending.retain(|_, (a, _)| *a != id);
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

    /// Why `agv` cannot be forgotten now ([`Core::forget`]), if it cannot: online, tasks not
    /// ended that run on it or name it, grants it holds.
    pub fn busy(&self, agv: u32) -> Option<Busy> {
        let running = self.agvs.get(&agv).and_then(|a| a.task);
        if self.agvs.get(&agv).is_some_and(|a| a.online) {
            return Some(Busy::Online);
        }
        let tasks: Vec<u32> = self
            .tasks
            .values()
            .filter(|t| {
                !t.state.is_final()
                    && (t.agv == Some(agv) || t.spec.agv == Some(agv) || running == Some(t.id))
            })
            .map(|t| t.id)
            .collect();
        if !tasks.is_empty() {
            return Some(Busy::Tasks(tasks));
        }
        let grants: Vec<u32> = self
            .space
            .grants()
            .iter()
            .filter(|g| g.agv == agv)
            .map(|g| g.id)
            .collect();
        (!grants.is_empty()).then_some(Busy::Grants(grants))
    }

    /// Forgets `agv` (decommissioned): its footprint and reservations leave the space table
    /// (the release told to storage), lift holds and alarms naming it go, and tasks waiting
    /// for it look again. Refused, changing nothing, while [`Core::busy`] says why. Answers
    /// whether there was anything to forget (`false`: never known, or forgotten already).
    pub fn forget(&mut self, agv: u32) -> Result<bool, Busy> {
        if let Some(busy) = self.busy(agv) {
            return Err(busy);
        }
        let held = !self.space.holds(agv).is_empty();
        self.release_all(agv);
        self.space.clear_footprint(agv);
        let known = match self.agvs.remove(&agv) {
            Some(mut a) => {
                self.nearby.remove(agv, &mut a.cell);
                true
            }
            None => false,
        };
        self.idle.remove(&agv);
        self.settling.remove(&agv);
        self.lifts.retain(|_, rider| *rider != agv);
        self.alarmed.retain(|(_, blocker)| *blocker != agv);
        self.pending.retain(|_, (a, _)| *a != agv);
        self.wake(agv);
        Ok(known || held)
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

    /// `agv` reports task `r.task` as its own: if that task was running before a restart of
    /// the RCS and nothing was sent for it since, and the AGV stands settled and idle (charging,
    /// for a charge task) on its destination, it finished the task while the RCS was down (the
    /// completion was not stored): the task is completed, not driven again (a pick or drop
    /// done twice, or a drive back to a station the AGV had left).
    fn finished_while_away(&mut self, now: u64, agv: u32, r: &Report) {
        let Some(t) = self.tasks.get(&r.task) else {
            return;
        };
        let untouched = t.restored && !t.sent && t.busy.is_none() && t.step == 0;
        // (a charge task is done once it charges: idle on the charger, it is driven there
        // again, which is a one-node drive and a charge command)
        let mode_done = match t.spec.kind {
            crate::TaskKind::Charge => r.mode == Mode::Charging,
            _ => r.mode == Mode::Idle,
        };
        if !untouched
            || t.spec.agv != Some(agv)
            || t.state.is_final()
            || t.agv.is_some_and(|a| a != agv)
            || r.last_node != t.spec.destination
            || r.moving
            || !r.settled
            || !mode_done
        {
            return;
        }
        let id = r.task;
        self.stats.finished_while_away += 1;
        if let Some(t) = self.tasks.get_mut(&id) {
            t.restored = false;
        }
        self.end(now, id, TaskState::Completed, None);
    }

    /// Restores a task stored before a restart, queued (for the AGV that had it, if it was
    /// running: `spec.agv` and `was_running`), with its id and submission time. A task that was
    /// running is completed, not driven again, when its AGV's first reports show that it
    /// finished it while the RCS was down ([`Core::report`]).
    pub fn restore_task(
        &mut self,
        id: u32,
        spec: Spec,
        internal: bool,
        created_ms: u64,
        was_running: bool,
    ) {
        if self.tasks.contains_key(&id) {
            return;
        }
        if let Some(a) = spec.agv {
            self.agvs
                .entry(a)
                .or_insert_with(|| Agv::new(a, [0.5, 0.5, 0.4, 0.4], 1.5));
        }
        let mut task = Task::new(id, spec, internal, created_ms);
        task.restored = was_running && task.spec.agv.is_some();
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
        self.nearby
            .place(id, &mut agv.cell, r.map, r.pose[0], r.pose[1]);
        agv.moving = r.moving;
        agv.mode = r.mode;
        agv.last_node = r.last_node;
        agv.battery_pct = r.battery_pct;
        agv.settled = r.settled;
        agv.reported = true;
        let (dims, task) = (agv.dims, agv.task);
        if r.task != 0 {
            self.finished_while_away(now, id, r);
        }
        if moved && self.settings.track_footprints {
            let overlaps = self.space.set_footprint_rect(id, r.map, r.pose, dims);
            self.stats.overlaps += overlaps.len() as u64;
        }
        if progressed {
            self.wake(id);
        } else if moved {
            // its footprint moved: what waits for it may fit now (not what waits for its
            // reservations: they stay until it gives them up, and that wakes)
            self.wake_for_footprint(id);
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
                fresh,
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
                        // (only what it added: what the AGV held before it may still need)
                        self.release(agv, &fresh);
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
}
