//! The server's driver of the traffic core (`traffic::Core`, docs/traffic.md): it feeds the
//! core what happens (AGVs online, offline and reporting, tasks submitted and cancelled,
//! commands answered, safety stops, the tick) and carries out the core's actions in order:
//! reservations committed to the database before the motion frame relying on them is sent,
//! commands sent to the AGVs and their answers fed back, tasks stored, events published,
//! alarms raised. Every fleet rule lives in the core; this module only turns its actions into
//! frames, rows and events (as `net.rs` drives `protocol::session::RcsSession`).

mod frames;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maps::Shape;
use maps::space::{corridor, disc};
use protocol::message::{Message, MotionCommand, StatusReport};
use protocol::types::{AgvState, ResultCode};
use serde_json::json;
use traffic::{Action, Core, Event, Outcome};

use crate::connections::CommandError;
use crate::state::{Shared, now_ms};
pub use crate::tasks::{
    NewTask, Step, Submission, Task, TaskError, TaskKind, TaskState, resolve_destination,
};

/// How often the core ticks.
pub const TICK: Duration = Duration::from_millis(100);

/// The traffic core of the server's site and what the driver keeps beside it.
pub struct Traffic {
    core: parking_lot::Mutex<Core<'static>>,
    wake: tokio::sync::Notify,
    /// Motion segment counter per running task.
    segments: Mutex<HashMap<u32, u16>>,
    /// AGVs the core was told are held (safety stops).
    held: Mutex<BTreeSet<u32>>,
    /// The session each AGV is online with, as the core was told (changed only with the core
    /// locked, taken after it): each command the core makes goes to that session or nowhere.
    sessions: Mutex<HashMap<u32, u32>>,
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic").finish_non_exhaustive()
    }
}

impl Traffic {
    /// A core for `site` (which lives as long as the process) with `settings`.
    pub fn new(site: &'static maps::Site, settings: traffic::Settings, last_task: u32) -> Self {
        Self {
            core: parking_lot::Mutex::new(Core::new(site, settings, last_task)),
            wake: tokio::sync::Notify::new(),
            segments: Mutex::new(HashMap::new()),
            held: Mutex::new(BTreeSet::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The core, locked. Never held across an await, never while taking another lock but the
    /// task table's.
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, Core<'static>> {
        self.core.lock()
    }

    /// The session AGV `agv` is online with as the core knows it (call with the core locked).
    fn session(&self, agv: u32) -> Option<u32> {
        self.sessions
            .lock()
            .expect("not poisoned")
            .get(&agv)
            .copied()
    }

    /// Lets the driver take the core's actions now (an input produced some).
    pub fn poke(&self) {
        self.wake.notify_one();
    }
}

/// The core's settings from the server's configuration.
pub fn settings(config: &crate::config::Config) -> traffic::Settings {
    traffic::Settings {
        offline_alarm_after_ms: config.offline_alarm_after_ms,
        park_after_ms: (config.park_after_ms > 0).then_some(config.park_after_ms),
        charge_below_pct: config.charge_below_pct,
        opportunity_below_pct: config.opportunity_below_pct,
        congestion_gate: (config.congestion_gate > 0.0).then_some(config.congestion_gate),
        dense_share: (config.dense_share > 0.0).then_some(config.dense_share),
        // footprints are placed by `grants::on_status`, which watches them for safety
        track_footprints: false,
        ..traffic::Settings::default()
    }
}

/// Runs the driver until the server stops.
pub async fn run(shared: Arc<Shared>) {
    let mut stop = shared.stop_signal();
    let mut next_tick = tokio::time::Instant::now();
    let mut last_prune = 0u64;
    loop {
        let ticked = tokio::select! {
            () = tokio::time::sleep_until(next_tick) => true,
            () = shared.traffic.wake.notified() => false,
            _ = stop.changed() => return,
        };
        if ticked {
            next_tick += TICK;
            let now = tokio::time::Instant::now();
            if next_tick < now {
                next_tick = now + TICK; // (behind: no burst of ticks)
            }
        }
        pass(&shared, ticked).await;
        let now = now_ms();
        if now.saturating_sub(last_prune) >= 60_000 {
            last_prune = now;
            shared
                .traffic
                .lock()
                .forget_finished(now.saturating_sub(60_000));
            shared
                .tasks
                .prune(now.saturating_sub(crate::tasks::KEEP_ENDED_MS));
        }
    }
}

/// What an action needs from the core to be carried out, taken while it is locked.
enum Prepared {
    /// The frame, the bounding box of each reserved piece (for the database's own check
    /// that no two AGVs' space overlaps: [`crate::db::Db::insert_reservations`]) and the
    /// session it is for.
    Motion(Option<MotionCommand>, BTreeMap<u64, [f64; 4]>, Option<u32>),
    /// The frame and the session it is for.
    Send(Option<Message>, Option<u32>),
    Store(Option<Task>),
    Nothing,
}

/// One pass: the safety stops, the tick (when `tick`), then every action in order (only the
/// driver runs passes: actions are carried out in the order the core produced them).
async fn pass(shared: &Arc<Shared>, tick: bool) {
    let stopped = shared.safety.stopped();
    let actions: Vec<(Action, Prepared)> = {
        let mut held = shared.traffic.held.lock().expect("not poisoned");
        let now = now_ms();
        let mut core = shared.traffic.lock();
        for agv in held.difference(&stopped) {
            core.hold(now, *agv, false);
        }
        for agv in stopped.difference(&held) {
            core.hold(now, *agv, true);
        }
        *held = stopped;
        drop(held);
        if tick {
            core.tick(now);
        }
        let mut out = Vec::new();
        while let Some(a) = core.poll_action() {
            let p = prepare(shared, &core, &a, now);
            out.push((a, p));
        }
        if tick {
            crate::waits::observe(shared, &core, now);
        }
        out
    };
    for (action, prepared) in actions {
        carry_out(shared, action, prepared).await;
    }
}

fn prepare(shared: &Shared, core: &Core<'_>, action: &Action, now: u64) -> Prepared {
    match action {
        Action::Motion {
            task,
            command,
            agv,
            reserve,
            ..
        } => {
            let wanted: BTreeSet<u64> = reserve
                .iter()
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            let extents = core
                .space()
                .holds(*agv)
                .into_iter()
                .filter_map(|(hold, _, shape)| match hold {
                    maps::Hold::Reservation { resource } if wanted.contains(&resource) => {
                        Some((resource, maps::space::extent(shape)?))
                    }
                    _ => None,
                })
                .collect();
            Prepared::Motion(
                frames::motion(shared, core, *task, command),
                extents,
                shared.traffic.session(*agv),
            )
        }
        Action::Send { command, agv, .. } => Prepared::Send(
            frames::message(shared, command),
            shared.traffic.session(*agv),
        ),
        Action::StoreTask { task } => {
            Prepared::Store(core.task(*task).map(|t| shared.tasks.view(core, t, now)))
        }
        _ => Prepared::Nothing,
    }
}

async fn carry_out(shared: &Arc<Shared>, action: Action, prepared: Prepared) {
    match (action, prepared) {
        (
            Action::Motion {
                id,
                agv,
                reserve,
                task,
                ..
            },
            Prepared::Motion(command, extents, session),
        ) => {
            // Committed before the motion frame that relies on it.
            let mut stored = Ok(());
            for (map, resources) in &reserve {
                let boxes: Vec<Option<[f64; 4]>> =
                    resources.iter().map(|r| extents.get(r).copied()).collect();
                stored = shared
                    .db
                    .insert_reservations(agv, *map, task, resources, &boxes)
                    .await;
                if stored.is_err() {
                    break;
                }
            }
            let Some(command) = command.filter(|_| stored.is_ok()) else {
                if let Err(e) = stored {
                    tracing::error!(error = %e, agv_id = agv, "reservations not stored: not released");
                }
                // Never sent: the core takes the space back and tells storage to forget
                // what reached it (a `Released` on the next pass).
                answered(shared, id, Outcome::NotStored);
                return;
            };
            send(shared, id, agv, session, command.into(), true);
        }
        (Action::Send { id, agv, .. }, Prepared::Send(Some(message), session)) => {
            send(shared, id, agv, session, message, false);
        }
        (Action::Send { id, .. }, Prepared::Send(None, _)) => {
            answered(shared, id, Outcome::Refused);
        }
        (Action::Released { agv, resources }, _) => {
            if !resources.is_empty()
                && let Err(e) = shared.db.release_reservations(agv, &resources).await
            {
                tracing::warn!(error = %e, "reservation release not stored");
            }
        }
        (Action::StoreTask { .. }, Prepared::Store(Some(view))) => {
            if let Err(e) = shared.db.upsert_task(&view.row()).await {
                tracing::error!(error = %e, task_id = view.id, "task not stored");
            }
            if view.state.is_final() {
                shared
                    .traffic
                    .segments
                    .lock()
                    .expect("not poisoned")
                    .remove(&view.id);
                shared.tasks.ended(view);
            }
        }
        (Action::Publish(event), _) => publish(shared, event),
        (
            Action::Alarm {
                agv,
                task,
                blocker,
                node,
                waited_ms,
                remedy,
            },
            _,
        ) => crate::waits::alarm(shared, task, agv, blocker, node, waited_ms, remedy).await,
        _ => {}
    }
}

fn answered(shared: &Shared, id: u64, outcome: Outcome) {
    shared.traffic.lock().answered(now_ms(), id, outcome);
    shared.traffic.poke();
}

/// Hands command `id` to `agv` in `session` (the one the core knew when it made the command;
/// none: the AGV was offline) now, in the order the core made its actions, and feeds its answer
/// to the core: at once when it could not be handed, in the background when the AGV answers. A
/// command made before a link loss is never handed to a later session: that AGV forgot its
/// released path (docs/protocol.md 4.1), and a motion continuing it would drive it on space the
/// core gives up once it reports standing on its new session. Handed here, not in the
/// background, a command is counted before the next pass: a status report that does not cover
/// it never shows the AGV settled to the core's next tick.
fn send(
    shared: &Arc<Shared>,
    id: u64,
    agv: u32,
    session: Option<u32>,
    message: Message,
    motion: bool,
) {
    let handed = match session {
        Some(session) => shared.connections.start_command_in(agv, session, message),
        None => Err(CommandError::Offline),
    };
    let answer = match handed {
        Ok(answer) => answer,
        Err(e) => {
            let outcome = outcome(&Err(e), motion);
            tracing::warn!(agv_id = agv, ?outcome, "command not handed to the AGV");
            answered(shared, id, outcome);
            return;
        }
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let wait = Duration::from_millis(shared.config.command_timeout_ms);
        let answer = match tokio::time::timeout(wait, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(CommandError::Disconnected),
            Err(_) => Err(CommandError::Timeout),
        };
        let outcome = outcome(&answer, motion);
        if outcome != Outcome::Ok {
            tracing::warn!(agv_id = agv, ?answer, ?outcome, "command not carried out");
        }
        answered(&shared, id, outcome);
    });
}

/// What the core makes of a command's answer (`motion`: the command is a motion).
fn outcome(answer: &Result<Message, CommandError>, motion: bool) -> Outcome {
    match answer {
        Ok(Message::Ack(a)) if a.result == ResultCode::Ok => Outcome::Ok,
        Ok(Message::NavSwitchResult(r)) if r.result == ResultCode::Ok => Outcome::Ok,
        Ok(Message::MapSwitchResult(r)) if r.result == ResultCode::Ok => Outcome::Ok,
        Ok(Message::ChargeResult(r)) if r.result == ResultCode::Ok => Outcome::Ok,
        // never handed to the AGV
        Err(
            CommandError::Busy
            | CommandError::NotRegistered
            | CommandError::Offline
            | CommandError::OtherSession,
        ) if motion => Outcome::NotStored,
        Err(
            CommandError::Busy
            | CommandError::NotRegistered
            | CommandError::Offline
            | CommandError::OtherSession,
        ) => Outcome::Offline,
        // handed, and the connection ended before the answer: it may have reached the AGV
        Err(CommandError::Disconnected) => Outcome::Offline,
        Err(CommandError::Timeout) => Outcome::Lost,
        _ => Outcome::Refused,
    }
}

fn publish(shared: &Shared, event: Event) {
    let (kind, agv, detail) = match event {
        Event::Submitted { task, internal } => {
            let Some((kind, destination, agv)) = shared
                .traffic
                .lock()
                .task(task)
                .map(|t| (t.spec.kind, t.spec.destination, t.spec.agv))
            else {
                return;
            };
            (
                "task.submitted",
                agv,
                json!({ "task_id": task, "kind": kind, "destination": destination,
                        "internal": internal }),
            )
        }
        Event::Assigned { task, agv } => ("task.assigned", Some(agv), json!({ "task_id": task })),
        Event::Waiting { task, agv, reason } => (
            "task.waiting",
            Some(agv),
            json!({ "task_id": task, "wait": reason }),
        ),
        Event::Replanned { task, agv } => ("task.replanned", Some(agv), json!({ "task_id": task })),
        Event::Deadlock { cycle, how } => (
            "traffic.deadlock",
            cycle.first().copied(),
            json!({ "cycle": cycle, "how": how }),
        ),
        Event::Ended { task, state } => {
            let (agv, error, created_ms, internal) = shared
                .traffic
                .lock()
                .task(task)
                .map(|t| (t.agv, t.error.clone(), t.created_ms, t.internal))
                .unwrap_or_default();
            let kind = match state {
                traffic::TaskState::Completed => "task.completed",
                traffic::TaskState::Cancelled => "task.cancelled",
                _ => "task.failed",
            };
            if !internal {
                let name = &kind["task.".len()..];
                let m = &shared.metrics;
                m.tasks_ended
                    .get_or_create(&crate::metrics::kind("state", name))
                    .inc();
                if state == traffic::TaskState::Completed {
                    let took = now_ms().saturating_sub(created_ms) as f64 / 1000.0;
                    m.task_seconds.observe(took);
                }
            }
            (kind, agv, json!({ "task_id": task, "error": error }))
        }
    };
    shared.events.publish(kind, agv, "dispatcher", detail);
}

// ---- inputs ----

/// AGV `agv` registered in session `session`: the core may give it work (a new session of an
/// AGV online in another goes offline there first: [`traffic::Core::online`]).
pub fn online(shared: &Shared, agv: u32, session: u32) {
    let dims = shared
        .fleet
        .get_footprint(agv)
        .unwrap_or([0.5, 0.5, 0.4, 0.4]);
    let mut core = shared.traffic.lock();
    core.online(now_ms(), agv, dims, maps::Vehicle::default().max_speed);
    shared
        .traffic
        .sessions
        .lock()
        .expect("not poisoned")
        .insert(agv, session);
    drop(core);
    shared.traffic.poke();
}

/// What the core makes of an AGV's state.
fn mode(state: AgvState) -> traffic::Mode {
    use traffic::Mode;
    match state {
        AgvState::Idle => Mode::Idle,
        AgvState::WaitingForRelease => Mode::WaitingForRelease,
        AgvState::Working => Mode::Driving,
        AgvState::Charging => Mode::Charging,
        AgvState::SwitchingMap | AgvState::SwitchingNavigation => Mode::Switching,
        AgvState::InSafeSpace | AgvState::Manual => Mode::Manual,
        AgvState::Paused
        | AgvState::EmergencyStop
        | AgvState::Fault
        | AgvState::SafetyStop
        | AgvState::LinkLost => Mode::Stopped,
        // (initialising, or a state this server does not know: it may move)
        _ => Mode::Manual,
    }
}

/// A status report of `agv`, taken at `now` (UTC ms), from the session serving it; `settled`:
/// it tells the AGV after the answers to every command handed to that session
/// ([`crate::connections::Connections::issued_to`]).
pub fn report(shared: &Shared, agv: u32, now: u64, status: &StatusReport, settled: bool) {
    let moving = status.velocity.vx.abs() >= 0.01
        || status.velocity.vy.abs() >= 0.01
        || status.velocity.omega.abs() >= 0.01;
    let mut r = traffic::Report {
        map: status.map_id,
        pose: [status.pose.x, status.pose.y, status.pose.theta],
        moving,
        mode: mode(status.state),
        last_node: status.last_node_id,
        battery_pct: status.battery_pct,
        settled,
        task: status.task_id,
    };
    if status.e_stop {
        r.mode = traffic::Mode::Stopped;
    }
    if status.localisation_quality == 0 && r.mode == traffic::Mode::Idle {
        // lost: it stays where it was last seen and takes no work
        r.mode = traffic::Mode::Stopped;
    }
    let mut core = shared.traffic.lock();
    core.report(now, agv, &r);
}

/// Session `session` of AGV `agv` ended: if the core knew the AGV online in it (or in another
/// session that no longer serves it: one taken over by a session that never registered),
/// everything it holds stays held (it may still drive what was released to it until its own
/// link timeout stops it), and its running task goes back to the queue for it, replanned from
/// where it stands when it returns and is seen standing. The end of a session the core did not
/// know while the one it knows still serves the AGV (a session that never registered, or one a
/// later session took over) changes nothing.
pub async fn on_offline(shared: &Shared, agv: u32, session: u32) {
    let mut core = shared.traffic.lock();
    {
        let mut sessions = shared.traffic.sessions.lock().expect("not poisoned");
        let Some(&known) = sessions.get(&agv) else {
            return;
        };
        if known != session && shared.connections.session(agv).map(|s| s.0) == Some(known) {
            return;
        }
        sessions.remove(&agv);
    }
    core.offline(now_ms(), agv);
    drop(core);
    shared.traffic.poke();
}

/// An AGV stopped for safety episode `episode` stands still with a void released path: its
/// running task goes back to the queue (replanned from where it stands once it is cleared), its
/// reservations are withdrawn and its grants revoked (freed once it acknowledges).
pub async fn withdraw(shared: &Arc<Shared>, agv: u32, episode: u32) {
    let task = shared.traffic.lock().withdraw(now_ms(), agv);
    shared.traffic.poke();
    if let Some(id) = task {
        shared.events.publish(
            "task.interrupted",
            Some(agv),
            "server",
            json!({ "task_id": id, "episode": episode, "why": "safety stop" }),
        );
    }
    let grants: Vec<u32> = shared
        .space()
        .holds(agv)
        .iter()
        .filter_map(|h| match h.0 {
            maps::Hold::Grant { id } => Some(id),
            _ => None,
        })
        .collect();
    for id in grants {
        if shared.safety.start_revoke(id) {
            let shared = shared.clone();
            tokio::spawn(async move {
                let info = shared.space().grant_info(id);
                if let Some(g) = info {
                    crate::grants::revoke(
                        &shared,
                        &g,
                        protocol::message::RevokeReason::Safety,
                        "server",
                    )
                    .await;
                }
                shared.safety.end_revoke(id);
            });
        }
    }
}

/// Space of `agv` changed outside the core (a grant ended, an operator cleared it): tasks
/// waiting for it look again.
pub fn space_changed(shared: &Shared, agv: u32) {
    shared.traffic.lock().space_changed(agv);
    shared.traffic.poke();
}

/// Submits a task (checked by the caller against the task rules); a reference already taken
/// answers the task that has it. Stored before it returns, and given to the dispatcher only
/// then; a task that could not be stored is cancelled and answered [`Submission::NotStored`].
pub async fn submit(
    shared: &Shared,
    new: NewTask,
    created_by: &str,
) -> Result<Submission, traffic::Refusal> {
    let now = now_ms();
    let (submission, row) = {
        let mut references = shared.tasks.references();
        if let Some(id) = new
            .reference
            .as_ref()
            .and_then(|r| references.get(r))
            .copied()
            && let Some(t) = task(shared, id)
        {
            return Ok(Submission::ReferenceTaken(t));
        }
        let footprint = new.agv.and_then(|a| shared.fleet.get_footprint(a));
        let mut core = shared.traffic.lock();
        if let Some(a) = new.agv {
            // known to the fleet (enrolled, registered before): the task waits for it
            core.known(
                a,
                footprint.unwrap_or([0.5, 0.5, 0.4, 0.4]),
                maps::Vehicle::default().max_speed,
            );
        }
        let id = core.submit(now, new.spec())?;
        if let Some(r) = &new.reference {
            references.insert(r.clone(), id);
        }
        drop(references);
        let meta = crate::tasks::Meta {
            created_by: created_by.to_owned(),
            created_at_ms: now,
            reference: new.reference.clone(),
            submitted: (new.agv, new.destination_given.then_some(new.destination)),
        };
        shared.tasks.meta_insert(id, meta);
        let t = core.task(id).expect("just submitted");
        let view = shared.tasks.view(&core, t, now);
        let row = view.row();
        (Submission::Added(view), row)
    };
    if let Err(e) = shared.db.upsert_task(&row).await {
        // Not acknowledged: nothing that is not stored may be answered as accepted (another
        // instance taking over would not know it). Undone, so it may be submitted again.
        tracing::error!(error = %e, task_id = row.task_id, "task not stored: not accepted");
        if let Some(r) = &row.reference {
            shared.tasks.references().remove(r);
        }
        // (the cancelled task is stored later, when the database takes it again: without the
        // reference, which a new submission may take)
        shared.tasks.forget_reference(row.task_id);
        shared.traffic.lock().cancel(now_ms(), row.task_id);
        shared.traffic.poke();
        return Ok(Submission::NotStored(e.to_string()));
    }
    shared.traffic.poke();
    Ok(submission)
}

/// Cancels a task: a running one is cancelled on its AGV, whose path stays held until it is
/// seen standing. Returns its state after, or why the cancellation could not be stored (then
/// it is not acknowledged: an instance taking over would not know it).
pub async fn cancel(shared: &Arc<Shared>, id: u32) -> Result<Option<TaskState>, sqlx::Error> {
    let state = shared.traffic.lock().cancel(now_ms(), id);
    shared.traffic.poke();
    // stored before the answer (the driver stores it again with what follows)
    if let Some(t) = task(shared, id)
        && let Err(e) = shared.db.upsert_task(&t.row()).await
    {
        tracing::error!(error = %e, task_id = id, "task cancellation not stored");
        return Err(e);
    }
    Ok(state)
}

/// One task as the API answers it.
pub fn task(shared: &Shared, id: u32) -> Option<Task> {
    let now = now_ms();
    if let Some(t) = shared.tasks.ended_task(id, now) {
        return Some(t);
    }
    {
        let core = shared.traffic.lock();
        if let Some(t) = core
            .task(id)
            .and_then(|t| shared.tasks.answer(&core, t, now))
        {
            return Some(t);
        }
    }
    shared.tasks.ended_task(id, now)
}

/// Every task, by id.
pub fn tasks(shared: &Shared) -> Vec<Task> {
    let now = now_ms();
    let mut out: std::collections::BTreeMap<u32, Task> = shared
        .tasks
        .ended_tasks(now)
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let core = shared.traffic.lock();
    for t in core.tasks() {
        if let std::collections::btree_map::Entry::Vacant(e) = out.entry(t.id)
            && let Some(view) = shared.tasks.answer(&core, t, now)
        {
            e.insert(view);
        }
    }
    out.into_values().collect()
}

/// The task submitted with `reference`, if it is in the table.
pub fn by_reference(shared: &Shared, reference: &str) -> Option<Task> {
    task(shared, shared.tasks.by_reference(reference)?)
}

/// The running task of `agv`, if any.
pub fn active_of(shared: &Shared, agv: u32) -> Option<u32> {
    shared.traffic.lock().agv(agv).and_then(|a| a.task)
}

/// Checks a task against the task rules (`crate::task_rules`): for a task naming `agv`, the
/// route from where it stands (if that is known) with its vehicle.
pub fn check_task(
    shared: &Shared,
    kind: TaskKind,
    destination: u32,
    agv: Option<u32>,
) -> Result<(), crate::task_rules::TaskRefusal> {
    let vehicle = agv.map(|a| vehicle_of(shared, a));
    let start = agv.zip(vehicle.as_ref()).and_then(|(agv, vehicle)| {
        Some(crate::task_rules::Start {
            agv,
            node: current_node(shared, agv)?,
            vehicle,
        })
    });
    shared
        .task_rules
        .check(&shared.site, kind, destination, start)
}

fn vehicle_of(shared: &Shared, agv: u32) -> maps::Vehicle {
    let fp = shared.fleet.get(agv).and_then(|v| v.footprint);
    maps::Vehicle {
        width: fp.map_or(0.8, |f| f[2] + f[3]),
        ..maps::Vehicle::default()
    }
}

/// The node an AGV is at, or nearest to, on the map it reports; none while it does not know
/// where it is.
fn current_node(shared: &Shared, agv: u32) -> Option<u32> {
    let view = shared.fleet.get(agv)?;
    let status = view.status.as_ref()?;
    if status.localisation_quality == 0 {
        return None;
    }
    shared
        .site
        .nearest_node(status.map_id, status.pose.x, status.pose.y)
        .map(|(n, _)| n.id)
}

/// Nearest node of a kind to an AGV (for charge and park tasks without a destination).
pub fn nearest_of_kind(
    shared: &Shared,
    agv: Option<u32>,
    kind: maps::file::NodeKind,
) -> Option<u32> {
    let here = agv
        .and_then(|a| shared.fleet.get(a))
        .and_then(|v| v.last.map(|l| (l.map_id, l.x, l.y)));
    let mut best: Option<(f64, u32)> = None;
    for n in shared.site.nodes().iter().filter(|n| n.kind == kind) {
        let d = match here {
            Some((m, x, y)) if m == n.map => (n.x - x).hypot(n.y - y),
            Some(_) => 1e9,
            None => 0.0,
        };
        if best.is_none_or(|b| d < b.0) {
            best = Some((d, n.id));
        }
    }
    best.map(|b| b.1)
}

/// The shape of a reserved resource (a node, a directed edge, or the approach from where the
/// AGV stood, `from`, to a node) for an AGV of `footprint` (as the core reserves it).
pub fn resource_shape(
    site: &maps::Site,
    resource: u64,
    footprint: Option<[f64; 4]>,
    from: Option<(f64, f64)>,
) -> Option<Shape> {
    let [f, r, l, rt] = footprint.unwrap_or([0.5, 0.5, 0.4, 0.4]);
    let r = f.max(r).hypot(l.max(rt)) + traffic::Settings::default().margin;
    if resource >= traffic::core::APPROACH {
        let n = site.node(u32::try_from(resource - traffic::core::APPROACH).ok()?)?;
        let (x, y) = from.unwrap_or((n.x, n.y));
        Some(corridor(&[[x, y], [n.x, n.y]], r))
    } else if resource >= traffic::core::EDGE {
        let e = site.edge(u32::try_from(resource - traffic::core::EDGE).ok()?)?;
        Some(corridor(&e.polyline, r))
    } else {
        let n = site.node(u32::try_from(resource).ok()?)?;
        Some(Shape::new(vec![disc(n.x, n.y, r)]))
    }
}
