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
    /// AGVs that came back at another place (moved by hand while offline).
    pub relocated: AtomicU64,
    /// Frames the fleet sent.
    pub frames_sent: AtomicU64,
    /// Commands and answers the fleet received.
    pub frames_received: AtomicU64,
    /// Commands received.
    pub commands: AtomicU64,
    /// Map switches received (lift rides, links).
    pub map_switches: AtomicU64,
    /// Safe-space requests.
    pub grants_requested: AtomicU64,
    /// Granted.
    pub grants_granted: AtomicU64,
    /// Denied.
    pub grants_denied: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    latencies_us: Mutex<Vec<u64>>,
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

    /// Records a request→answer latency.
    pub fn latency(&self, d: Duration) {
        self.latencies_us
            .lock()
            .expect("not poisoned")
            .push(d.as_micros() as u64);
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
    /// AGVs that came back at another place than where their link was lost.
    pub relocated: u64,
    /// Frames sent by the fleet.
    pub frames_sent: u64,
    /// Commands and answers received by the fleet.
    pub messages_received: u64,
    /// Commands received (motion, switches, task control...).
    pub commands_received: u64,
    /// Map switches among them (lift rides and links between buildings).
    pub map_switches: u64,
    /// Errors by kind (protocol errors, unexpected closes, unanswered requests).
    pub errors: BTreeMap<String, u64>,
    /// Tasks submitted.
    pub tasks_submitted: u64,
    /// Tasks completed.
    pub tasks_completed: u64,
    /// Tasks failed or cancelled.
    pub tasks_failed: u64,
    /// Tasks still running at the end.
    pub tasks_unfinished: u64,
    /// Safe-space requests.
    pub grants_requested: u64,
    /// Granted.
    pub grants_granted: u64,
    /// Denied.
    pub grants_denied: u64,
    /// Request→answer latency of the AGVs' space requests, ms: p50, p99, max.
    pub request_latency_ms: Option<(f64, f64, f64)>,
    /// Task submissions the API did not take because it was unreachable (retried).
    pub api_unavailable: u64,
    /// Monitor checks that found a violation (one per pair per 50 ms check).
    pub violation_samples: u64,
    /// The first sample of each distinct violation (kind and pair of AGVs).
    pub violations: Vec<Violation>,
    /// Seconds the run took.
    pub seconds: f64,
}

impl Report {
    /// Whether the run was clean: no errors, no violations, no failed or unfinished tasks.
    pub fn clean(&self) -> bool {
        self.errors.is_empty()
            && self.violations.is_empty()
            && self.violation_samples == 0
            && self.tasks_failed == 0
            && self.tasks_unfinished == 0
            && self.agvs_connected as usize == self.agvs
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
        if self.api_unavailable > 0 {
            row(
                "API unreachable (retried)",
                self.api_unavailable.to_string(),
            );
        }
        if self.disconnects > 0 || self.reconnects > 0 {
            row(
                "disconnects / reconnects",
                format!(
                    "{} / {} ({} moved while offline)",
                    self.disconnects, self.reconnects, self.relocated
                ),
            );
        }
        row("commands received", self.commands_received.to_string());
        row("map switches", self.map_switches.to_string());
        row(
            "tasks done / failed / open",
            format!(
                "{} / {} / {} (of {})",
                self.tasks_completed,
                self.tasks_failed,
                self.tasks_unfinished,
                self.tasks_submitted
            ),
        );
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
