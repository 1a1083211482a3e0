//! A runtime's lag: how late it runs a timer, the backlog of its queues that a task woken on it
//! waits behind: the AGVs' runtime's (`rcs_runtime_lag_seconds`) and the HTTP API's
//! ([`crate::runtime::Http`], `rcs_api_runtime_lag_seconds`). Sockets still waiting in the
//! kernel's ready list for the runtime's next poll are not in it: an AGV's answer read from one
//! may wait longer.
//!
//! One task on the runtime sleeps until a deadline [`EVERY`] ahead, again and again, and
//! records how late it woke: the wait of a timer due at a moment that falls anywhere in the
//! runtime's periodic work (97 ms and the dispatcher's 100 ms tick coincide only every 9.7 s,
//! so the samples fall evenly over the tick's phases). On a
//! runtime with time to spare that is at most the timer's granularity (1 ms); a runtime
//! saturated, or stalled by a long step, wakes it late by as much. About ten samples a second
//! cost the server nothing it would notice. The
//! figure is the operator's early warning (an alert on its p99 comes before commands time
//! out) and, beside `rcs_command_audit_seconds` and `rcs_command_answer_seconds`, says where a
//! command's time went.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;
use tokio::time::Instant;

use crate::state::Shared;

/// How often the lag is sampled.
pub const EVERY: Duration = Duration::from_millis(97);

/// Samples the lag of the runtime it runs on into `lag` until the server stops.
pub async fn run(shared: Arc<Shared>, lag: Histogram) {
    let mut stop = shared.stop_signal();
    let mut due = Instant::now() + EVERY;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            _ = stop.changed() => return,
        }
        let now = Instant::now();
        lag.observe(now.saturating_duration_since(due).as_secs_f64());
        // the next deadline from now: a stall is counted once, not as many late ticks
        due = now + EVERY;
    }
}
