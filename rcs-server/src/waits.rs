//! Explained waits (docs/traffic.md, "Explained waits"): why a task that does not move waits,
//! as a [`traffic::Wait`] on the task (`wait` in the task and AGV JSON, `GET /api/v1/waits`);
//! the waits by reason as metrics; one alarm per task blocked by an offline AGV; deadlock cycles
//! that nobody can break logged once while they last.
//!
//! The dispatcher re-establishes every wait on each pass ([`begin_pass`], then [`set`] where a
//! task cannot go on, then [`end_pass`]): a running task whose wait was not set again in a pass
//! is moving, and its wait ends (the wait's duration goes to `rcs_wait_seconds`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::json;

use crate::dispatch::{Step, Task, TaskState};
use crate::metrics::{Metrics, kind};
use crate::state::{Shared, now_ms};

pub use traffic::{Wait, WaitReason};

/// What the dispatcher keeps about waits between passes.
#[derive(Debug, Default)]
pub struct Waits {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Tasks whose wait was set in the current pass.
    touched: HashSet<u32>,
    /// (task, offline AGV) alarms raised, kept while that wait lasts.
    alarmed: BTreeSet<(u32, u32)>,
    /// Deadlock cycles (their AGVs, sorted) nobody can break, kept while they last.
    stuck: BTreeSet<Vec<u32>>,
}

impl Waits {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("not poisoned")
    }
}

/// A wait as the API documents it (`reason` names the variant; the other fields are those of
/// that reason): the schema of [`traffic::Wait`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitDoc {
    /// Why.
    pub reason: ReasonName,
    /// The AGV it waits for (`for_agv`, `blocked_by_offline`, `for_grant`).
    pub agv: Option<u32>,
    /// The first node it waits to be released (`for_agv`, `blocked_by_offline`).
    pub node: Option<u32>,
    /// The lift (`for_lift`).
    pub lift: Option<u16>,
    /// The grant (`for_grant`).
    pub grant: Option<u32>,
    /// The AGV let through (`yielding`).
    pub to: Option<u32>,
    /// Since when, UTC ms.
    pub since_ms: u64,
}

/// The reasons of a wait ([`WaitReason::name`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonName {
    /// Space it needs next is held by AGV `agv`; `node` is the first node it waits to be
    /// released (it may still drive up to the node before).
    ForAgv,
    /// The same, and the AGV holding it is offline: it keeps its space until it returns or an
    /// operator clears it.
    BlockedByOffline,
    /// Lift `lift` carries another AGV (`door`: where it waits).
    ForLift,
    /// Space it needs is in safe-space grant `grant` of AGV `agv`.
    ForGrant,
    /// Its own AGV is offline (the task is queued for it).
    Offline,
    /// It backed off out of a deadlock and lets AGV `to` pass first.
    Yielding,
    /// A motion command is unanswered while its AGV stands, or its AGV is stopped for safety
    /// or manoeuvres in a safe space.
    Settling,
}

/// One current wait (`GET /api/v1/waits`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaitEntry {
    /// The task.
    pub task_id: u32,
    /// The waiting AGV: the task's (running), or the one asked for (queued).
    pub agv_id: Option<u32>,
    /// Why and since when.
    #[serde(flatten)]
    #[schema(inline, value_type = WaitDoc)]
    pub wait: Wait,
    /// How long so far, ms.
    pub waited_ms: u64,
    /// For `for_lift`: the lift door the AGV waits at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub door: Option<u32>,
}

/// The AGV a reason makes a task wait on in the wait-for graph (for a lift: its rider,
/// `rider`); none for its own AGV offline, yielding or settling.
fn holder_of(reason: &WaitReason, rider: Option<u32>) -> Option<u32> {
    match reason {
        WaitReason::ForAgv { agv, .. }
        | WaitReason::BlockedByOffline { agv, .. }
        | WaitReason::ForGrant { agv, .. } => Some(*agv),
        WaitReason::ForLift { .. } => rider,
        WaitReason::Offline | WaitReason::Yielding { .. } | WaitReason::Settling => None,
    }
}

/// Ends the wait of `t`, if any: its duration is recorded by reason.
pub(crate) fn end(metrics: &Metrics, t: &mut Task) {
    if let Some(w) = t.wait.take() {
        let secs = now_ms().saturating_sub(w.since_ms) as f64 / 1000.0;
        metrics
            .wait_seconds
            .get_or_create(&kind("reason", w.reason.name()))
            .observe(secs);
    }
    t.waiting_for = None;
}

/// Records that task `id` waits for `reason` (for a lift, `rider` rides it) in this pass: a new
/// reason ends the previous wait, starts a new one and is published (`task.waiting`); the
/// same reason keeps its start.
pub(crate) fn set(shared: &Shared, id: u32, reason: WaitReason, rider: Option<u32>) {
    shared.waits.lock().touched.insert(id);
    let holder = holder_of(&reason, rider);
    let changed = shared.tasks.with(id, |t| {
        if t.wait.as_ref().is_some_and(|w| w.reason == reason) {
            t.waiting_for = holder; // (a lift's rider may change)
            return None;
        }
        end(&shared.metrics, t);
        t.waiting_for = holder;
        let wait = Wait {
            reason,
            since_ms: now_ms(),
        };
        t.wait = Some(wait.clone());
        Some((t.agv.or(t.requested_agv), wait))
    });
    if let Some(Some((agv, wait))) = changed {
        let mut detail = serde_json::to_value(&wait).unwrap_or_default();
        detail["task_id"] = json!(id);
        detail["for"] = json!(holder);
        shared
            .events
            .publish("task.waiting", agv, "dispatcher", detail);
    }
}

/// The first piece in `pieces` (node id, shapes) that `agv` cannot have on `map` because
/// another AGV holds some of it, and the conflict.
pub(crate) fn first_blocked(
    shared: &Shared,
    agv: u32,
    map: u16,
    pieces: impl Iterator<Item = (u32, Vec<(u64, maps::Shape)>)>,
) -> Option<(u32, maps::Conflict)> {
    for (node, shapes) in pieces {
        let space = shared.space.lock().expect("not poisoned");
        let held = |c: &maps::Conflict| {
            matches!(
                c,
                maps::Conflict::Occupied { .. }
                    | maps::Conflict::Reserved { .. }
                    | maps::Conflict::Granted { .. }
            )
        };
        if let Some(c) = shapes
            .iter()
            .find_map(|(_, s)| space.check(agv, map, s).err().filter(held))
        {
            return Some((node, c));
        }
    }
    None
}

/// Task `id` cannot have the space at `node` because of conflict `c`: it waits for the AGV
/// holding it (offline or not) or for its grant.
pub(crate) fn blocked(shared: &Shared, id: u32, c: maps::Conflict, node: u32) {
    let reason = match c {
        maps::Conflict::Granted { agv, grant } => WaitReason::ForGrant { agv, grant },
        maps::Conflict::Occupied { agv } | maps::Conflict::Reserved { agv } => {
            if shared.fleet.get(agv).is_some_and(|v| v.online) {
                WaitReason::ForAgv { agv, node }
            } else {
                WaitReason::BlockedByOffline { agv, node }
            }
        }
        // (not about another AGV: nothing to wait for; the caller decides)
        _ => return,
    };
    set(shared, id, reason, None);
}

/// Starts a dispatcher pass.
pub(crate) fn begin_pass(shared: &Shared) {
    shared.waits.lock().touched.clear();
}

/// What [`end_pass`] does to a task.
enum Verdict {
    Keep,
    End,
    Set(WaitReason),
}

/// Ends a dispatcher pass: a running task whose wait was not set again is moving (its wait
/// ends), unless a motion command for it is unanswered while its AGV stands (`settling`); a
/// queued task for an offline AGV waits for it (`offline`). Then the gauges by reason, and the
/// alarms for tasks blocked by an offline AGV for `offline_alarm_after_ms`.
pub(crate) async fn end_pass(shared: &Shared) {
    let touched = std::mem::take(&mut shared.waits.lock().touched);
    let verdicts: Vec<(u32, Verdict)> = {
        let tasks = shared.tasks.tasks.lock().expect("not poisoned");
        tasks
            .values()
            .filter(|t| t.wait.is_some() || t.busy || t.state == TaskState::Queued)
            .map(|t| (t.id, verdict(shared, t, touched.contains(&t.id))))
            .collect()
    };
    for (id, v) in verdicts {
        match v {
            Verdict::Keep => {}
            Verdict::End => {
                shared.tasks.with(id, |t| end(&shared.metrics, t));
            }
            Verdict::Set(reason) => set(shared, id, reason, None),
        }
    }
    let now = now_ms();
    let waits = list(shared, now);
    for name in WaitReason::NAMES {
        let n = waits
            .iter()
            .filter(|w| w.wait.reason.name() == name)
            .count();
        shared
            .metrics
            .waiting
            .get_or_create(&kind("reason", name))
            .set(n as i64);
    }
    alarms(shared, &waits).await;
}

fn verdict(shared: &Shared, t: &Task, touched: bool) -> Verdict {
    let online = |agv: u32| shared.fleet.get(agv).is_some_and(|v| v.online);
    match t.state {
        TaskState::Running if touched => Verdict::Keep,
        TaskState::Running if t.busy => {
            let driving = matches!(t.steps.get(t.step), Some(Step::Drive { .. }));
            let standing = t
                .agv
                .and_then(|a| shared.fleet.get(a))
                .and_then(|v| v.status)
                .is_some_and(|s| {
                    s.velocity.vx.abs() < 0.01
                        && s.velocity.vy.abs() < 0.01
                        && s.velocity.omega.abs() < 0.01
                });
            if driving && standing {
                Verdict::Set(WaitReason::Settling)
            } else {
                Verdict::End
            }
        }
        TaskState::Queued => match t.requested_agv {
            Some(agv) if !online(agv) => {
                if t.wait
                    .as_ref()
                    .is_some_and(|w| w.reason == WaitReason::Offline)
                {
                    Verdict::Keep
                } else {
                    Verdict::Set(WaitReason::Offline)
                }
            }
            _ if t.wait.is_some() => Verdict::End,
            _ => Verdict::Keep,
        },
        _ if t.wait.is_some() => Verdict::End,
        _ => Verdict::Keep,
    }
}

/// Raises one alarm per task and offline AGV that has blocked it for `offline_alarm_after_ms`
/// (committed to the audit log as `task.blocked_by_offline`), and forgets those whose wait
/// ended (a new episode raises a new alarm).
async fn alarms(shared: &Shared, waits: &[WaitEntry]) {
    let after = shared.config.offline_alarm_after_ms;
    let blocked: Vec<(u32, u32, u32, Option<u32>, u64)> = waits
        .iter()
        .filter_map(|w| match w.wait.reason {
            WaitReason::BlockedByOffline { agv, node } => {
                Some((w.task_id, agv, node, w.agv_id, w.waited_ms))
            }
            _ => None,
        })
        .collect();
    let raise: Vec<_> = {
        let mut inner = shared.waits.lock();
        inner
            .alarmed
            .retain(|k| blocked.iter().any(|b| (b.0, b.1) == *k));
        blocked
            .into_iter()
            .filter(|b| b.4 >= after && inner.alarmed.insert((b.0, b.1)))
            .collect()
    };
    for (task, blocker, node, agv, waited_ms) in raise {
        let who = agv.map_or_else(|| "its AGV".to_owned(), |a| format!("AGV {a}"));
        let action = format!(
            "bring AGV {blocker} back online; or check the floor and clear its space \
             (DELETE /api/v1/agvs/{blocker}/space); or cancel task {task} \
             (DELETE /api/v1/tasks/{task})"
        );
        tracing::warn!(
            task_id = task,
            agv_id = agv,
            blocker,
            node,
            waited_ms,
            "task {task} of {who} waits at node {node} for offline AGV {blocker}: {action}"
        );
        shared.metrics.wait_alarms.inc();
        let detail = json!({
            "task_id": task, "blocker": blocker, "node": node, "waited_ms": waited_ms,
            "action": action,
        });
        if let Err(e) = shared
            .events
            .audit(
                &shared.db,
                "task.blocked_by_offline",
                agv,
                "dispatcher",
                detail.clone(),
            )
            .await
        {
            tracing::error!(error = %e, "alarm not stored");
            shared
                .events
                .publish("task.blocked_by_offline", agv, "dispatcher", detail);
        }
    }
}

/// Deadlock cycles (the AGVs of each) that nobody could break in this pass: each is logged
/// once, when it first shows, and forgotten once it is gone.
pub(crate) fn stuck_cycles(shared: &Shared, cycles: Vec<Vec<u32>>) {
    let cycles: BTreeSet<Vec<u32>> = cycles
        .into_iter()
        .map(|mut c| {
            c.sort_unstable();
            c
        })
        .collect();
    let mut inner = shared.waits.lock();
    for c in cycles.difference(&inner.stuck) {
        tracing::info!(
            cycle = ?c,
            "deadlock: nobody in the cycle has a way around or a free neighbour; waiting"
        );
    }
    inner.stuck = cycles;
}

/// Every current wait, longest first.
pub fn list(shared: &Shared, now: u64) -> Vec<WaitEntry> {
    let tasks = shared.tasks.tasks.lock().expect("not poisoned");
    let mut out: Vec<WaitEntry> = tasks
        .values()
        .filter(|t| matches!(t.state, TaskState::Running | TaskState::Queued))
        .filter_map(|t| {
            let wait = t.wait.clone()?;
            let door = match (&wait.reason, t.steps.get(t.step)) {
                (WaitReason::ForLift { .. }, Some(Step::MapSwitch { from_node, .. })) => {
                    Some(*from_node)
                }
                _ => None,
            };
            Some(WaitEntry {
                task_id: t.id,
                agv_id: t.agv.or(t.requested_agv),
                waited_ms: now.saturating_sub(wait.since_ms),
                wait,
                door,
            })
        })
        .collect();
    out.sort_by_key(|w| (w.wait.since_ms, w.task_id));
    out
}

/// The current wait of each AGV's task (running, or queued for it), by AGV.
pub fn by_agv(shared: &Shared) -> HashMap<u32, WaitEntry> {
    let mut out = HashMap::new();
    for w in list(shared, now_ms()) {
        if let Some(agv) = w.agv_id {
            out.entry(agv).or_insert(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ReasonName::*;
    use super::WaitReason;

    #[test]
    fn the_documented_reasons_are_the_reasons() {
        let names: Vec<String> = [
            ForAgv,
            BlockedByOffline,
            ForLift,
            ForGrant,
            Offline,
            Yielding,
            Settling,
        ]
        .iter()
        .map(|r| {
            serde_json::to_value(r)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        assert_eq!(names, WaitReason::NAMES);
    }
}
