//! The write-behind writer: every `telemetry_flush_ms` it takes the fleet snapshots that came
//! in since the last batch and the queued event-log rows and writes them, so the AGV hot path
//! never waits on the database. Each AGV's last snapshot is replaced with every batch (what a
//! restart restores); the history gets a row for an AGV only when its snapshot changed since the
//! row before (an AGV standing still, reporting the same, writes none), and loses rows older than
//! `telemetry_retention_h` a slice at a time with every batch. A crash loses at most the last
//! interval of telemetry; commands, grants and operator actions are not written here (they are
//! committed before they are sent). An event-log queue half full is written at once. On SQLite
//! a batch's transactions are spread over half the interval, so that SQLite's thread never
//! holds the server's core for long ([`crate::db::Db::write_telemetry_over`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::db::{EventRow, TelemetryRow};
use crate::metrics::Metrics;
use crate::state::{ByAgv, Shared, now_ms};

/// How much of the history one batch prunes at most, in batch intervals: a backlog (after a
/// stop longer than the retention, or a retention made shorter) goes at three intervals a
/// batch net, each statement short.
const PRUNE_SPAN_BATCHES: u64 = 4;

/// Runs until `stop` turns true, then writes what is left and returns.
pub async fn run(
    shared: Arc<Shared>,
    mut log: mpsc::Receiver<EventRow>,
    mut stop: watch::Receiver<bool>,
) {
    let period_ms = shared.config.telemetry_flush_ms.max(10);
    let period = Duration::from_millis(period_ms);
    let retention_ms = shared
        .config
        .telemetry_retention_h
        .saturating_mul(3_600_000);
    let mut telemetry = Telemetry {
        keep_history: retention_ms > 0,
        ..Telemetry::default()
    };
    let mut events: Vec<EventRow> = Vec::new();
    // batches start every period, however long the last took (at 10,000 AGVs on PostgreSQL
    // a third of it: after a sleep the interval was that much longer); one that overran it
    // skips the starts it missed, so the database is never written to without a pause
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let stopping = tokio::select! {
            _ = every.tick() => false,
            () = shared.events.log_pressure() => {
                // the event log half full: written now, the telemetry at its interval
                flush_events(&shared, &mut events, &mut log, &shared.metrics).await;
                continue;
            }
            _ = stop.changed() => true,
        };
        let started = Instant::now();
        // spread over half the interval (at once when stopping), the event log written
        // meanwhile whenever its queue is half full (the pass is half an interval long)
        let spread = if stopping { Duration::ZERO } else { period / 2 };
        let pass = telemetry.flush(&shared, spread);
        tokio::pin!(pass);
        loop {
            tokio::select! {
                () = &mut pass => break,
                () = shared.events.log_pressure() => {
                    flush_events(&shared, &mut events, &mut log, &shared.metrics).await;
                }
            }
        }
        flush_events(&shared, &mut events, &mut log, &shared.metrics).await;
        if !stopping {
            let now = now_ms();
            match shared
                .db
                .prune_telemetry(
                    now.saturating_sub(retention_ms).min(i64::MAX as u64) as i64,
                    period_ms
                        .saturating_mul(PRUNE_SPAN_BATCHES)
                        .min(i64::MAX as u64) as i64,
                )
                .await
            {
                Ok(n) => {
                    shared.metrics.telemetry_pruned.inc_by(n);
                }
                Err(e) => {
                    shared.metrics.db_errors.inc();
                    tracing::warn!(error = %e, "telemetry pruning failed");
                }
            }
        }
        shared
            .metrics
            .telemetry_batch_seconds
            .observe(started.elapsed().as_secs_f64());
        if stopping || *stop.borrow() {
            return;
        }
    }
}

/// The telemetry half of the writer: the buffers it reuses and each AGV's last history row.
#[derive(Default)]
struct Telemetry {
    /// Whether history is written (`--telemetry-retention-h` above 0).
    keep_history: bool,
    /// The snapshots that came in since the last batch.
    latest: Vec<TelemetryRow>,
    /// Last snapshots of a batch that was not written, written with the next one unless it
    /// has newer ones of the same AGVs.
    retry: Vec<TelemetryRow>,
    /// Those of them that differ from their AGV's last history row.
    history: Vec<TelemetryRow>,
    /// Each AGV's last history row written (or about to be).
    written: ByAgv<TelemetryRow>,
}

impl Telemetry {
    /// Writes the snapshots that came in, on SQLite its transactions spread over `spread`.
    async fn flush(&mut self, shared: &Shared, spread: Duration) {
        let metrics = &shared.metrics;
        self.latest.clear();
        self.history.clear();
        shared.fleet.take_dirty(&mut self.latest);
        if !self.retry.is_empty() {
            let fresh: ByAgv<()> = self.latest.iter().map(|r| (r.agv_id, ())).collect();
            self.latest.extend(
                self.retry
                    .drain(..)
                    .filter(|r| !fresh.contains_key(&r.agv_id)),
            );
        }
        if self.latest.is_empty() {
            return;
        }
        for row in self.latest.iter().filter(|_| self.keep_history) {
            let changed = self
                .written
                .get(&row.agv_id)
                .is_none_or(|w| !same_but_time(w, row));
            if changed {
                self.history.push(*row);
                self.written.insert(row.agv_id, *row);
            }
        }
        match shared
            .db
            .write_telemetry_over(&self.latest, &self.history, spread)
            .await
        {
            Ok(()) => {
                metrics.telemetry_rows.inc_by(self.history.len() as u64);
                metrics.telemetry_batches.inc();
            }
            Err(e) => {
                metrics.db_errors.inc();
                tracing::warn!(error = %e, rows = self.latest.len(), "telemetry batch not written");
                // the last snapshots again with the next batch (a batch's transactions that
                // went through are written again harmlessly); an AGV of a history row not
                // written gets one with the next batch that has a snapshot of it
                for row in &self.history {
                    self.written.remove(&row.agv_id);
                }
                core::mem::swap(&mut self.retry, &mut self.latest);
            }
        }
    }
}

/// Whether two snapshots of one AGV say the same, whenever they were taken.
fn same_but_time(a: &TelemetryRow, b: &TelemetryRow) -> bool {
    TelemetryRow { at_ms: 0, ..*a } == TelemetryRow { at_ms: 0, ..*b }
}

async fn flush_events(
    shared: &Shared,
    events: &mut Vec<EventRow>,
    log: &mut mpsc::Receiver<EventRow>,
    metrics: &Metrics,
) {
    events.clear();
    while let Ok(e) = log.try_recv() {
        events.push(e);
    }
    if events.is_empty() {
        return;
    }
    if let Err(err) = shared.db.insert_events(events).await {
        metrics.db_errors.inc();
        tracing::warn!(error = %err, entries = events.len(), "event log entries not written");
    }
}
