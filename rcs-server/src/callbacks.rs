//! Task progress callbacks to the business system (GB/T 43047 style): every `task.*` event is
//! POSTed as JSON to `--callback-url`, in order, with retries (0.5 s, 1 s, 2 s; 5 s timeout
//! each). The queue is bounded: if the business system is down for long, the oldest
//! callbacks are dropped and counted (the tasks' state stays queryable through the API).
//!
//! Each is signed so that the receiver can tell it from a forgery, and carries a delivery id
//! so that it can drop a duplicate (a retry after an answer that was lost): headers
//! [`DELIVERY`] (the event's `seq`, the same on every try), [`TIMESTAMP`] (UTC ms when sent)
//! and [`SIGNATURE`]: `v1=` and the hex HMAC-SHA256, keyed with the shared secret's bytes, of
//! the timestamp, a `.` and the body's bytes (docs/operations.md, "Callbacks").

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::broadcast::error::RecvError;
use zeroize::Zeroizing;

use crate::ServerError;
use crate::state::{Shared, now_ms};

/// Tries per callback.
const TRIES: u32 = 4;

/// Header: the delivery id (the event's `seq`), the same on every try.
pub const DELIVERY: &str = "x-rcs-delivery";
/// Header: when this try was sent, UTC ms (part of what is signed).
pub const TIMESTAMP: &str = "x-rcs-timestamp";
/// Header: `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`.
pub const SIGNATURE: &str = "x-rcs-signature";

/// The file in the data dir that holds the callback secret when none is configured.
pub const SECRET_FILE: &str = "callback-secret";

/// The shared secret callbacks are signed with: `--callback-secret` (`RCS_CALLBACK_SECRET`),
/// else the data dir's [`SECRET_FILE`], created (0600) on first use.
pub fn secret(
    configured: Option<&str>,
    data_dir: &Path,
) -> Result<Zeroizing<Vec<u8>>, ServerError> {
    if let Some(s) = configured {
        let s = s.trim();
        if s.len() < 16 {
            return Err(ServerError::CallbackSecret(
                "RCS_CALLBACK_SECRET (--callback-secret) must be at least 16 characters".into(),
            ));
        }
        return Ok(Zeroizing::new(s.as_bytes().to_vec()));
    }
    let path = data_dir.join(SECRET_FILE);
    if !path.exists() {
        let made = Zeroizing::new(crate::auth::generate());
        crate::auth::write_secret(&path, &made)?;
        tracing::info!(path = %path.display(), "callback secret created");
    }
    let text = Zeroizing::new(std::fs::read_to_string(&path)?);
    let s = text.trim();
    if s.len() < 16 {
        return Err(ServerError::CallbackSecret(format!(
            "{} holds fewer than 16 characters: delete it and a new secret is generated, or \
             write one into it",
            path.display()
        )));
    }
    Ok(Zeroizing::new(s.as_bytes().to_vec()))
}

/// The [`SIGNATURE`] header's value for `body` sent at `timestamp_ms`.
pub fn sign(secret: &[u8], timestamp_ms: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs until the server stops (only when a callback URL is configured).
pub async fn run(shared: Arc<Shared>, url: String, secret: Zeroizing<Vec<u8>>) {
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
        let body = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let delivery = event.seq.to_string();
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=TRIES {
            let at = now_ms();
            let sent = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(DELIVERY, &delivery)
                .header(TIMESTAMP, at.to_string())
                .header(SIGNATURE, sign(&secret, at, &body))
                .body(body.clone())
                .send()
                .await;
            match sent {
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
