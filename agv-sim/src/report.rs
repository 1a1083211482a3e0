//! Run statistics, collected lock-free where they are hot, and the final report (printed as a
//! table, or written as JSON with `--report-json`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde::Serialize;

use crate::monitor::Violation;

/// Counters shared by every simulated AGV.
#[derive(Debug, Default)]
pub struct Stats {
    /// AGVs registered now (each counted while its session lasts).
    pub connected: AtomicU64,
    /// Sessions that ended while the run went on (the RCS restarted, a link failed).
    pub disconnects: AtomicU64,
    /// Registrations after the first one of an AGV.
    pub reconnects: AtomicU64,
    /// Standby RCS instances that sent an AGV elsewhere (`Close` `NotActive`).
    pub redirects: AtomicU64,
    /// AGVs that came back at another place (moved by hand while offline).
    pub relocated: AtomicU64,
    /// Connections the fleet broke on purpose (`--churn`).
    pub churn_drops: AtomicU64,
    /// The run is over: no more connections are broken on purpose (those broken come back
    /// before the final count).
    pub churn_over: std::sync::atomic::AtomicBool,
    /// Reconnections refused because the RCS still held the AGV's previous connection (it had
    /// not yet seen that one end); the AGV tries again.
    pub refused_held: AtomicU64,
    /// Frames the fleet sent.
    pub frames_sent: AtomicU64,
    /// Commands and answers the fleet received.
    pub frames_received: AtomicU64,
    /// Commands received.
    pub commands: AtomicU64,
    /// Map switches received (lift rides, links).
    pub map_switches: AtomicU64,
    /// Of them, by VDA 5050 vehicles (`initPosition`).
    pub vda5050_map_switches: AtomicU64,
    /// Safe-space requests.
    pub grants_requested: AtomicU64,
    /// Granted.
    pub grants_granted: AtomicU64,
    /// Denied.
    pub grants_denied: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Every grant received: (AGV, grant id).
    granted: Mutex<Vec<AcknowledgedGrant>>,
    latencies_us: Mutex<Vec<u64>>,
    offline: Mutex<BTreeMap<u32, Offline>>,
}

/// One AGV's time offline: from the end of a registered session to the next registration.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Offline {
    /// Times it went offline.
    pub periods: u64,
    /// Time offline in all, s (a period still open at the end counts to the end).
    pub total_s: f64,
    /// The longest period, s.
    pub max_s: f64,
    /// Still offline at the end of the run: it never came back.
    pub offline_at_end: bool,
    /// It never registered at all.
    pub never_connected: bool,
}

impl Offline {
    fn add(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        self.periods += 1;
        self.total_s += s;
        self.max_s = self.max_s.max(s);
    }
}

impl Stats {
    /// Counts an error of `kind`.
    pub fn error(&self, kind: &str) {
        *self
            .errors
            .lock()
            .expect("not poisoned")
            .entry(kind.to_owned())
            .or_default() += 1;
    }

    /// AGV `agv` received grant `grant`.
    pub fn granted(&self, agv: u32, grant: u32) {
        self.granted
            .lock()
            .expect("not poisoned")
            .push(AcknowledgedGrant { agv, grant });
    }

    /// Every grant received so far, in the order received.
    pub fn grants_received(&self) -> Vec<AcknowledgedGrant> {
        self.granted.lock().expect("not poisoned").clone()
    }

    /// Records a request→answer latency.
    pub fn latency(&self, d: Duration) {
        self.latencies_us
            .lock()
            .expect("not poisoned")
            .push(d.as_micros() as u64);
    }

    /// AGV `id` came back after `d` offline.
    pub fn offline(&self, id: u32, d: Duration) {
        self.offline
            .lock()
            .expect("not poisoned")
            .entry(id)
            .or_default()
            .add(d);
    }

    /// AGV `id` stopped at the end of the run after `sessions` registrations, offline since
    /// `offline_since` if it was.
    pub fn finished(&self, id: u32, sessions: u32, offline_since: Option<std::time::Instant>) {
        if sessions > 0 && offline_since.is_none() {
            return;
        }
        let mut map = self.offline.lock().expect("not poisoned");
        let entry = map.entry(id).or_default();
        if let Some(since) = offline_since {
            entry.add(since.elapsed());
            entry.offline_at_end = true;
        }
        entry.never_connected = sessions == 0;
    }

    /// Time offline by AGV (only AGVs that were offline, or never connected).
    pub fn offline_by_agv(&self) -> BTreeMap<u32, Offline> {
        self.offline.lock().expect("not poisoned").clone()
    }

    /// Errors by kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().expect("not poisoned").clone()
    }

    /// p50, p99, max of the latencies, ms.
    pub fn latency_ms(&self) -> Option<(f64, f64, f64)> {
        let mut v = self.latencies_us.lock().expect("not poisoned").clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        Some((
            at(0.5),
            at(0.99),
            *v.last().expect("not empty") as f64 / 1000.0,
        ))
    }
}

/// The tasks of a run: how many the rate asked for, and how each ended. Every task asked for
/// is either submitted or not submitted for a counted reason (`requested = submitted + the sum
/// of not_submitted`), and every task submitted is completed, failed, cancelled or still open
/// at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskFigures {
    /// The rate asked for, per minute.
    pub per_minute: f64,
    /// Tasks the rate asked for while the run submitted (`--duration`).
    pub requested: u64,
    /// Tasks the server accepted.
    pub submitted: u64,
    /// Of them, by kind (`move`, `pick`, `drop`, `park`, `charge`).
    pub submitted_by_kind: BTreeMap<String, u64>,
    /// Of them, how many named an AGV (the rest were the dispatcher's to assign).
    pub named: u64,
    /// Tasks not submitted, by reason: the server's error code for a task it refused (e.g.
    /// `destination_lift_door`), `api_unreachable` (no answer until the next task was due),
    /// `standby` (only standby instances answered until then), `no_destination` (every
    /// destination had an open task or an AGV on it), `run_stopped` (the run stopped before
    /// their time was over, `--fail-fast`), `outcome_unknown` (the run stopped while a
    /// submission that may have reached the server was still being tried again).
    pub not_submitted: BTreeMap<String, u64>,
    /// Submission attempts that found the API unavailable (each retried until the next task was
    /// due, or until an answer came when it may have reached the server).
    pub api_unreachable_attempts: u64,
    /// Submissions whose outcome was unknown (the connection was lost after sending) that were
    /// sent again under the same reference and then taken: the server answered the task the
    /// first attempt created, or created it then.
    pub resubmitted: u64,
    /// Submitted tasks completed.
    pub completed: u64,
    /// Submitted tasks failed.
    pub failed: u64,
    /// Why they failed, counted (the server's reason up to its first `:`, digits as `#`).
    pub failed_reasons: BTreeMap<String, u64>,
    /// Submitted tasks cancelled.
    pub cancelled: u64,
    /// Submitted tasks still queued or running at the end of the run.
    pub open: u64,
    /// Of them, still queued (never assigned an AGV).
    pub open_queued: u64,
    /// The first ten of them by id, with where they go, their AGV and why they wait (as the
    /// server last said): what a stuck run needs first.
    pub open_tasks: Vec<String>,
    /// Seconds from submission to completion (the server's clock), p50, p90, max.
    pub seconds_to_complete: Option<(f64, f64, f64)>,
}

/// What the fleet was told was accepted: the tasks the API answered with an id and the
/// safe-space grants the AGVs received. The RCS must have stored each (it commits a task before
/// it answers and a grant before it sends it): `rcs-server check --acknowledged` reads this
/// from the JSON report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Acknowledged {
    /// Ids of the tasks the API accepted, in the order accepted.
    pub tasks: Vec<u64>,
    /// The grants received, in the order received.
    pub grants: Vec<AcknowledgedGrant>,
}

/// A grant an AGV received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AcknowledgedGrant {
    /// The AGV.
    pub agv: u32,
    /// The grant's id.
    pub grant: u32,
}

/// The reasons for not submitting a task that are no refusal by the server.
const NOT_REFUSALS: [&str; 5] = [
    "api_unreachable",
    "standby",
    "no_destination",
    "run_stopped",
    "outcome_unknown",
];

impl TaskFigures {
    /// Tasks the server refused (answered with an error code).
    pub fn refused(&self) -> u64 {
        self.not_submitted
            .iter()
            .filter(|(k, _)| !NOT_REFUSALS.contains(&k.as_str()))
            .map(|(_, v)| v)
            .sum()
    }

    /// Tasks not submitted, whatever the reason.
    pub fn not_submitted_total(&self) -> u64 {
        self.not_submitted.values().sum()
    }

    /// Whether every task is accounted for: each one asked for submitted or not submitted for
    /// a counted reason, each one submitted completed, failed, cancelled or still open.
    pub fn accounted(&self) -> bool {
        self.requested == self.submitted + self.not_submitted_total()
            && self.submitted == self.completed + self.failed + self.cancelled + self.open
    }

    /// The table's rows about tasks.
    fn rows(&self, row: &mut impl FnMut(&str, String)) {
        let share = |n: u64, of: u64| {
            if of == 0 {
                "-".to_owned()
            } else {
                format!("{:.1} %", 100.0 * n as f64 / of as f64)
            }
        };
        let counted = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        row(
            "tasks requested",
            format!("{} ({} per minute)", self.requested, self.per_minute),
        );
        let kinds = self
            .submitted_by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        row(
            "tasks submitted",
            format!("{} ({kinds}; {} named an AGV)", self.submitted, self.named),
        );
        row(
            "tasks not submitted",
            if self.not_submitted.is_empty() {
                "0".into()
            } else {
                format!(
                    "{} ({})",
                    self.not_submitted_total(),
                    counted(&self.not_submitted)
                )
            },
        );
        if self.api_unreachable_attempts > 0 {
            row(
                "API unreachable (attempts)",
                format!(
                    "{} ({} submissions sent again under their reference)",
                    self.api_unreachable_attempts, self.resubmitted
                ),
            );
        }
        row(
            "tasks completed",
            format!(
                "{} ({} of submitted, {} of requested)",
                self.completed,
                share(self.completed, self.submitted),
                share(self.completed, self.requested)
            ),
        );
        row(
            "tasks failed",
            if self.failed_reasons.is_empty() {
                self.failed.to_string()
            } else {
                format!("{} ({})", self.failed, counted(&self.failed_reasons))
            },
        );
        row("tasks cancelled", self.cancelled.to_string());
        row(
            "tasks open at the end",
            format!("{} ({} still queued)", self.open, self.open_queued),
        );
        for t in &self.open_tasks {
            row("  open", t.clone());
        }
        row(
            "task time p50/p90/max",
            self.seconds_to_complete.map_or("-".into(), |(a, b, c)| {
                format!("{a:.1} / {b:.1} / {c:.1} s (submitted to completed)")
            }),
        );
    }
}

/// The end-of-run report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// AGVs asked for.
    pub agvs: usize,
    /// AGVs registered at the end of the run.
    pub agvs_connected: u64,
    /// Sessions lost during the run (restarts of the RCS, failed links).
    pub disconnects: u64,
    /// Registrations after an AGV's first.
    pub reconnects: u64,
    /// Standby RCS instances that sent an AGV to the active one (`Close` `NotActive`).
    pub redirects: u64,
    /// Times the business system's API client moved to another RCS instance (the one it used
    /// could not be reached or was a standby).
    pub api_failovers: u64,
    /// Time offline by AGV, for every AGV that went offline (or never connected).
    pub offline: BTreeMap<u32, Offline>,
    /// AGVs whose link was lost and that were not registered again by the end of the run.
    pub never_came_back: Vec<u32>,
    /// AGVs that never registered at all.
    pub never_connected: Vec<u32>,
    /// AGVs that came back at another place than where their link was lost.
    pub relocated: u64,
    /// Connections broken on purpose (`--churn`).
    pub churn_drops: u64,
    /// Reconnections refused because the RCS still held the AGV's previous connection (tried
    /// again; an AGV that never got back is in `never_came_back`).
    pub refused_held: u64,
    /// Frames sent by the fleet.
    pub frames_sent: u64,
    /// Commands and answers received by the fleet.
    pub messages_received: u64,
    /// Commands received (motion, switches, task control...).
    pub commands_received: u64,
    /// Map switches among them (lift rides and links between buildings).
    pub map_switches: u64,
    /// Of them, by VDA 5050 vehicles (`initPosition` after a lift ride).
    pub vda5050_map_switches: u64,
    /// Errors by kind (protocol errors, unexpected closes, unanswered requests).
    pub errors: BTreeMap<String, u64>,
    /// The tasks asked for and how each ended.
    pub tasks: TaskFigures,
    /// Safe-space requests.
    pub grants_requested: u64,
    /// Granted.
    pub grants_granted: u64,
    /// Denied.
    pub grants_denied: u64,
    /// Request→answer latency of the AGVs' space requests, ms: p50, p99, max.
    pub request_latency_ms: Option<(f64, f64, f64)>,
    /// Monitor checks that found a violation (one per pair per 50 ms check).
    pub violation_samples: u64,
    /// The first sample of each distinct violation (kind and pair of AGVs).
    pub violations: Vec<Violation>,
    /// What the fleet was told was accepted (tasks, grants).
    pub acknowledged: Acknowledged,
    /// Seconds the run took.
    pub seconds: f64,
}

impl Report {
    /// Whether the run was clean: no errors, no violations, no task refused by the server, none
    /// failed, cancelled or still open, every AGV connected at the end.
    pub fn clean(&self) -> bool {
        self.errors.is_empty()
            && self.violations.is_empty()
            && self.violation_samples == 0
            && self.tasks.failed == 0
            && self.tasks.cancelled == 0
            && self.tasks.open == 0
            && self.tasks.refused() == 0
            && self.agvs_connected as usize == self.agvs
    }

    /// What is wrong with a run through restarts or crashes of the RCS, one sentence each
    /// (empty: it recovered): an AGV not connected at the end (never back after its link was
    /// lost, or never connected), an invariant violation, a task the API accepted still open
    /// after the drain, lost (unknown to the server) or failed without a reason, a task not
    /// accounted for, or no task accepted at all. Tasks that failed with a reason, tasks the
    /// server refused and errors of lost links are no failure of recovery.
    pub fn recovery_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let t = &self.tasks;
        if self.agvs_connected as usize != self.agvs {
            out.push(format!(
                "{} of {} AGVs connected at the end",
                self.agvs_connected, self.agvs
            ));
        }
        if !self.never_came_back.is_empty() {
            out.push(format!(
                "{} AGVs never came back: {:?}",
                self.never_came_back.len(),
                self.never_came_back
            ));
        }
        if !self.never_connected.is_empty() {
            out.push(format!(
                "{} AGVs never connected: {:?}",
                self.never_connected.len(),
                self.never_connected
            ));
        }
        if self.violation_samples > 0 || !self.violations.is_empty() {
            out.push(format!(
                "{} invariant violation samples ({} distinct), the first: {}",
                self.violation_samples,
                self.violations.len(),
                self.violations
                    .first()
                    .map_or_else(String::new, ToString::to_string)
            ));
        }
        if t.submitted == 0 {
            out.push("no task was accepted: the run shows nothing about tasks".into());
        }
        if t.open > 0 {
            out.push(format!(
                "{} accepted tasks still open after the drain ({} queued)",
                t.open, t.open_queued
            ));
        }
        for (reason, what) in [
            (
                "unknown to the server",
                "accepted tasks lost (unknown to the server)",
            ),
            ("no reason given", "tasks failed without a reason"),
        ] {
            if let Some(n) = t.failed_reasons.get(reason) {
                out.push(format!("{n} {what}"));
            }
        }
        if !t.accounted() {
            out.push(format!(
                "tasks not accounted for: {} requested, {} submitted, {} not submitted; {} \
                 completed, {} failed, {} cancelled, {} open",
                t.requested,
                t.submitted,
                t.not_submitted_total(),
                t.completed,
                t.failed,
                t.cancelled,
                t.open
            ));
        }
        out
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |k: &str, v: String| out.push_str(&format!("{k:<28} {v}\n"));
        row(
            "AGVs connected",
            format!("{} / {}", self.agvs_connected, self.agvs),
        );
        row("frames sent", self.frames_sent.to_string());
        row("messages received", self.messages_received.to_string());
        if self.disconnects > 0 || self.reconnects > 0 || self.redirects > 0 {
            row(
                "disconnects / reconnects",
                format!(
                    "{} / {} ({} moved while offline, {} broken on purpose)",
                    self.disconnects, self.reconnects, self.relocated, self.churn_drops
                ),
            );
            row("redirects by a standby", self.redirects.to_string());
            row(
                "refused, previous link held",
                format!(
                    "{} (reconnections refused while the RCS still held the AGV's previous connection; tried again)",
                    self.refused_held
                ),
            );
        }
        if self.api_failovers > 0 {
            row("API failovers", self.api_failovers.to_string());
        }
        if let Some((id, longest)) = self
            .offline
            .iter()
            .max_by(|a, b| a.1.max_s.total_cmp(&b.1.max_s))
            .filter(|(_, o)| o.periods > 0)
        {
            let went = self.offline.values().filter(|o| o.periods > 0).count();
            let total: f64 = self.offline.values().map(|o| o.total_s).sum();
            row(
                "time offline",
                format!(
                    "{went} AGVs, {total:.1} s in all ({:.1} s per AGV that went offline), longest {:.1} s (AGV {id})",
                    total / went as f64,
                    longest.max_s
                ),
            );
        }
        let ids = |v: &[u32]| {
            let mut text = v
                .iter()
                .take(20)
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            if v.len() > 20 {
                text += ", …";
            }
            text
        };
        row(
            "never came back",
            if self.never_came_back.is_empty() {
                "0 (every AGV that lost its link registered again)".into()
            } else {
                format!(
                    "{} AGVs offline at the end: {}",
                    self.never_came_back.len(),
                    ids(&self.never_came_back)
                )
            },
        );
        if !self.never_connected.is_empty() {
            row(
                "never connected",
                format!(
                    "{} AGVs: {}",
                    self.never_connected.len(),
                    ids(&self.never_connected)
                ),
            );
        }
        row("commands received", self.commands_received.to_string());
        row("map switches", self.map_switches.to_string());
        if self.vda5050_map_switches > 0 {
            row(
                "  by VDA 5050 vehicles",
                self.vda5050_map_switches.to_string(),
            );
        }
        self.tasks.rows(&mut row);
        row(
            "grants req / ok / denied",
            format!(
                "{} / {} / {}",
                self.grants_requested, self.grants_granted, self.grants_denied
            ),
        );
        row(
            "request latency p50/p99/max",
            self.request_latency_ms.map_or("-".into(), |(a, b, c)| {
                format!("{a:.1} / {b:.1} / {c:.1} ms")
            }),
        );
        row(
            "invariant violations",
            format!(
                "{} samples, {} distinct",
                self.violation_samples,
                self.violations.len()
            ),
        );
        for v in self.violations.iter().take(10) {
            row("violation", v.to_string());
        }
        if self.errors.is_empty() {
            row("errors", "none".into());
        }
        for (k, v) in &self.errors {
            row("error", format!("{v} × {k}"));
        }
        row("seconds", format!("{:.1}", self.seconds));
        out
    }
}
