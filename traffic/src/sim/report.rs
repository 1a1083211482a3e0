//! What a run of the simulation measured.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::Stats;

/// What a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimReport {
    /// AGVs.
    pub agvs: usize,
    /// Nodes on the site.
    pub nodes: usize,
    /// Simulated seconds (with the drain).
    pub simulated_s: f64,
    /// Tasks the generator asked for.
    pub requested: u64,
    /// Tasks the core accepted.
    pub submitted: u64,
    /// Refused by the core, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Completed user tasks.
    pub completed: u64,
    /// Lift rides (a lift's capacity bounds what a site with lifts can carry).
    pub lift_rides: u64,
    /// Completed in the submission window, per hour.
    pub throughput_per_hour: f64,
    /// User tasks completed in each simulated minute (a jam shows as a falling rate).
    pub completed_by_minute: Vec<u64>,
    /// Failed, with their reasons.
    pub failed: BTreeMap<String, u64>,
    /// Open at the end (queued or running).
    pub open: u64,
    /// Task time (submitted to completed), s: p50.
    pub task_p50_s: f64,
    /// p99.
    pub task_p99_s: f64,
    /// Time running (started to completed: queueing left out), s: p50.
    pub run_p50_s: f64,
    /// p99.
    pub run_p99_s: f64,
    /// Waits by reason: (episodes, total s).
    pub waits: BTreeMap<String, (u64, f64)>,
    /// The longest single wait by reason, s (ended episodes and those still going at the end).
    pub wait_max_s: BTreeMap<String, f64>,
    /// The oldest task still queued at the end: its age, s (0 when none).
    pub oldest_queued_s: f64,
    /// The oldest task still running at the end: time since it started, s (0 when none).
    pub oldest_running_s: f64,
    /// What the core did.
    pub core: Stats,
    /// Footprint overlaps seen (pairs × steps).
    pub footprint_overlaps: u64,
    /// Reservation overlaps seen.
    pub reservation_overlaps: u64,
    /// Samples of an AGV driving outside its reservations.
    pub outside: u64,
    /// The first violations, described.
    pub violations: Vec<String>,
    /// The first tasks still open at the end: why each waits.
    pub stuck: Vec<String>,
    /// CPU time of the core (inputs, ticks), s.
    pub core_cpu_s: f64,
    /// CPU time of the whole run (simulated AGVs and checks too), s.
    pub run_cpu_s: f64,
    /// Core CPU per simulated second, ms.
    pub core_ms_per_sim_s: f64,
    /// One decision step (`tick`) for the whole fleet: p50, µs.
    pub tick_p50_us: f64,
    /// p99, µs.
    pub tick_p99_us: f64,
    /// max, µs.
    pub tick_max_us: f64,
    /// When the slowest tick ran, simulated s.
    pub tick_max_at_s: f64,
    /// Ticks over 10 ms.
    pub ticks_over_10ms: u64,
    /// One step's status reports of the whole fleet into the core: p99, µs.
    pub reports_p99_us: f64,
}

impl SimReport {
    /// Counts a wait for `reason` that lasted `ms`.
    pub(super) fn wait_ended(&mut self, reason: &str, ms: u64) {
        let s = ms as f64 / 1000.0;
        let tally = self.waits.entry(reason.to_owned()).or_default();
        tally.0 += 1;
        tally.1 += s;
        let longest = self.wait_max_s.entry(reason.to_owned()).or_default();
        *longest = longest.max(s);
    }
}

/// The value at `p` (0..=1) of `sorted`; 0 when empty.
pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
