//! The write-behind writer: every `telemetry_flush_ms` it takes the fleet snapshots that changed
//! and the queued event-log rows and writes each set in one transaction, so the AGV hot path
//! never waits on the database. A crash loses at most the last interval of telemetry; commands,
//! grants and operator actions are not written here (they are committed before they are sent).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::db::{EventRow, TelemetryRow};
use crate::metrics::Metrics;
use crate::state::{Shared, now_ms};

/// Telemetry older than this is pruned.
pub const RETENTION_MS: u64 = 24 * 3600 * 1000;
/// How often pruning runs.
const PRUNE_EVERY_MS: u64 = 60_000;

/// Runs until `stop` turns true, then writes what is left and returns.
pub async fn run(
    shared: Arc<Shared>,
    mut log: mpsc::Receiver<EventRow>,
    mut stop: watch::Receiver<bool>,
) {
    let period = Duration::from_millis(shared.config.telemetry_flush_ms.max(10));
    let mut rows: Vec<TelemetryRow> = Vec::new();
    let mut events: Vec<EventRow> = Vec::new();
    let mut last_prune = 0u64;
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(period) => false,
            _ = stop.changed() => true,
        };
        flush(&shared, &mut rows, &mut events, &mut log, &shared.metrics).await;
        let now = now_ms();
        if now.saturating_sub(last_prune) > PRUNE_EVERY_MS {
            last_prune = now;
            match shared
                .db
                .prune_telemetry(now.saturating_sub(RETENTION_MS) as i64)
                .await
            {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "telemetry pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "telemetry pruning failed"),
            }
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}

async fn flush(
    shared: &Shared,
    rows: &mut Vec<TelemetryRow>,
    events: &mut Vec<EventRow>,
    log: &mut mpsc::Receiver<EventRow>,
    metrics: &Metrics,
) {
    rows.clear();
    shared.fleet.take_dirty(rows);
    if !rows.is_empty() {
        match shared.db.insert_telemetry(rows).await {
            Ok(()) => {
                metrics.telemetry_rows.inc_by(rows.len() as u64);
                metrics.telemetry_batches.inc();
            }
            Err(e) => {
                metrics.db_errors.inc();
                tracing::warn!(error = %e, rows = rows.len(), "telemetry batch not written");
            }
        }
    }
    events.clear();
    while let Ok(e) = log.try_recv() {
        events.push(e);
    }
    for e in events.iter() {
        if let Err(err) = shared.db.insert_event(e).await {
            metrics.db_errors.inc();
            tracing::warn!(error = %err, kind = %e.kind, "event not logged");
        }
    }
}
