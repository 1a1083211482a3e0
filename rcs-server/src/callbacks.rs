//! Task progress callbacks to the business system (GB/T 43047 style): every `task.*` event is
//! POSTed as JSON to `--callback-url`, in order, with retries (0.5 s, 1 s, 2 s; 5 s timeout
//! each). The queue is bounded: if the business system is down for long, the oldest
//! callbacks are dropped and counted (the tasks' state stays queryable through the API).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::state::Shared;

/// Tries per callback.
const TRIES: u32 = 4;

/// Runs until the server stops (only when a callback URL is configured).
pub async fn run(shared: Arc<Shared>, url: String) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "callback client not built: callbacks off");
            return;
        }
    };
    let mut events = shared.events.subscribe();
    let mut stop = shared.stop_signal();
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = stop.changed() => return,
        };
        let event = match event {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                shared.metrics.callbacks_dropped.inc_by(n);
                tracing::warn!(missed = n, "callbacks fell behind: dropped");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if !event.kind.starts_with("task.") {
            continue;
        }
        let body = json!({
            "event": event.kind,
            "task_id": event.detail.get("task_id"),
            "agv_id": event.agv_id,
            "at_ms": event.at_ms,
            "seq": event.seq,
            "detail": event.detail,
        });
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=TRIES {
            match client.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    shared.metrics.callbacks_sent.inc();
                    break;
                }
                outcome => {
                    let why = match outcome {
                        Ok(r) => format!("status {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    if attempt == TRIES {
                        shared.metrics.callbacks_dropped.inc();
                        tracing::warn!(kind = event.kind, %why, "callback dropped after retries");
                    } else {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
    }
}
