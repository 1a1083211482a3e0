//! Explained waits (docs/traffic.md, "Explained waits"): why a task that does not move waits,
//! as a [`traffic::Wait`] on the task (`wait` in the task and AGV JSON, `GET /api/v1/waits`);
//! the waits by reason as metrics; one alarm per task blocked by an offline AGV; deadlock cycles
//! that nobody can break logged once while they last.
//!
//! The waits are the traffic core's (`traffic::Wait` on each task); the driver looks at them
//! after every tick ([`observe`]): the gauges by reason, and the duration of every wait that
//! ended (`rcs_wait_seconds`). The core raises the alarms; [`alarm`] logs and stores them.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::json;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::kind;
use crate::state::{Shared, now_ms};

pub use traffic::{Wait, WaitReason};

/// The waits seen at the last look (task → reason, since), to time those that end.
#[derive(Debug, Default)]
pub struct Waits {
    seen: Mutex<Seen>,
}

/// What [`observe`] keeps between ticks: no allocation or label lookup per tick once warm.
#[derive(Debug, Default)]
struct Seen {
    /// The waits at the last look.
    last: HashMap<u32, (WaitReason, u64)>,
    /// Room for the waits of the next look (swapped with `last`).
    next: HashMap<u32, (WaitReason, u64)>,
    /// The gauge and the histogram of each reason, in [`WaitReason::NAMES`]' order.
    handles: Vec<(Gauge, Histogram)>,
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
    /// or manoeuvres in a safe space (or, queued for it, was not yet seen standing).
    Settling,
    /// Its own AGV charges first (the task is queued for it): its battery is below
    /// `--charge-below-pct`, or it charges and is not yet above the threshold for work.
    Charging,
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

/// Every current wait of the core's tasks (running, or queued for an AGV), longest first.
fn entries(core: &traffic::Core<'_>, now: u64) -> Vec<WaitEntry> {
    let mut out: Vec<WaitEntry> = core
        .tasks()
        .filter(|t| !t.state.is_final())
        .filter_map(|t| {
            let wait = t.wait.clone()?;
            let door = match (&wait.reason, t.steps.get(t.step)) {
                (WaitReason::ForLift { .. }, Some(traffic::Step::Lift { enter, .. })) => {
                    Some(*enter)
                }
                _ => None,
            };
            Some(WaitEntry {
                task_id: t.id,
                agv_id: t.agv.or(t.spec.agv),
                waited_ms: now.saturating_sub(wait.since_ms),
                wait,
                door,
            })
        })
        .collect();
    out.sort_by_key(|w| (w.wait.since_ms, w.task_id));
    out
}

/// After a tick: the gauges of waits by reason, and the duration of every wait that ended or
/// changed reason since the last look.
pub(crate) fn observe(shared: &Shared, core: &traffic::Core<'_>, now: u64) {
    let mut seen = shared.waits.seen.lock().expect("not poisoned");
    let Seen {
        last,
        next,
        handles,
    } = &mut *seen;
    if handles.is_empty() {
        // Every reason's gauge and histogram there from the start, for dashboards.
        *handles = WaitReason::NAMES
            .iter()
            .map(|name| {
                let m = &shared.metrics;
                let gauge = m.waiting.get_or_create(&kind("reason", *name)).clone();
                let histogram = m.wait_seconds.get_or_create(&kind("reason", *name)).clone();
                (gauge, histogram)
            })
            .collect();
    }
    let at = |reason: &WaitReason| {
        WaitReason::NAMES
            .iter()
            .position(|n| *n == reason.name())
            .unwrap_or(0)
    };
    let mut counts = [0i64; WaitReason::NAMES.len()];
    next.clear();
    for t in core.tasks().filter(|t| !t.state.is_final()) {
        if let Some(w) = &t.wait {
            counts[at(&w.reason)] += 1;
            next.insert(t.id, (w.reason, w.since_ms));
        }
    }
    for ((gauge, _), count) in handles.iter().zip(counts) {
        gauge.set(count);
    }
    for (task, (reason, since)) in last.iter() {
        if next.get(task) != Some(&(*reason, *since)) {
            handles[at(reason)]
                .1
                .observe(now.saturating_sub(*since) as f64 / 1000.0);
        }
    }
    std::mem::swap(last, next);
}

/// An alarm of the core: task `task` of `agv` has waited `waited_ms` at `node` for offline
/// AGV `blocker` (committed to the audit log as `task.blocked_by_offline`, once per episode).
pub(crate) async fn alarm(
    shared: &Shared,
    task: u32,
    agv: u32,
    blocker: u32,
    node: u32,
    waited_ms: u64,
    remedy: String,
) {
    tracing::warn!(
        task_id = task,
        agv_id = agv,
        blocker,
        node,
        waited_ms,
        "task {task} of AGV {agv} waits at node {node} for offline AGV {blocker}: {remedy}"
    );
    shared.metrics.wait_alarms.inc();
    let detail = json!({
        "task_id": task, "agv_id": agv, "blocker": blocker, "node": node,
        "waited_ms": waited_ms, "action": remedy,
    });
    if let Err(e) = shared
        .events
        .audit(
            &shared.db,
            "task.blocked_by_offline",
            Some(agv),
            "dispatcher",
            detail.clone(),
        )
        .await
    {
        tracing::error!(error = %e, "alarm not stored");
        shared
            .events
            .publish("task.blocked_by_offline", Some(agv), "dispatcher", detail);
    }
}

/// Every current wait, longest first.
pub fn list(shared: &Shared, now: u64) -> Vec<WaitEntry> {
    entries(&shared.traffic.lock(), now)
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
            Charging,
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
