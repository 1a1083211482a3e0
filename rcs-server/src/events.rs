//! The event stream: state changes, command outcomes and operator actions, broadcast to the
//! API's server-sent-event subscribers and logged to the `events` table. Operator actions are
//! audited (committed before the action goes out); the rest are logged write-behind.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::db::{Db, EventRow};
use crate::state::now_ms;

/// How many events a slow subscriber may fall behind before it is told it lagged.
pub const SUBSCRIBER_BACKLOG: usize = 4096;
/// How many log rows may wait for the writer.
pub const LOG_QUEUE: usize = 16_384;
/// How many of the latest events are kept in memory for subscribers that resume
/// (`Last-Event-ID`); older ones come from the stored log.
pub const RECENT: usize = 4096;

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FleetEvent {
    /// Increasing within a server run.
    pub seq: u64,
    /// When, UTC ms.
    pub at_ms: u64,
    /// What happened: `agv.online`, `agv.offline`, `agv.registered`, `agv.state`,
    /// `agv.link_lost`, `agv.refused`, `command.sent`, `command.result`, `agv.enrolled`,
    /// `token.created`.
    pub kind: &'static str,
    /// The AGV concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agv_id: Option<u32>,
    /// Who caused it: a token's name, `agv` or `server`.
    pub actor: String,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// What a resuming subscriber gets ([`Events::resume`]).
#[derive(Debug)]
pub struct Resumed {
    /// The recent events after the one it saw last, in order.
    pub recent: Vec<Arc<FleetEvent>>,
    /// The first `seq` kept in memory: events before it come from the stored log.
    pub first_kept: u64,
    /// Every later event.
    pub rx: broadcast::Receiver<Arc<FleetEvent>>,
}

/// The event hub.
#[derive(Debug)]
pub struct Events {
    tx: broadcast::Sender<Arc<FleetEvent>>,
    /// The latest [`RECENT`] events, in `seq` order: sent and pushed under this lock, so a
    /// subscriber that resumes gets each event once, from here or from the channel.
    recent: Mutex<VecDeque<Arc<FleetEvent>>>,
    seq: AtomicU64,
    log: mpsc::Sender<EventRow>,
    /// Told when the log queue is half full, so the writer drains it before its interval.
    pressure: tokio::sync::Notify,
    dropped: AtomicU64,
}

impl Events {
    /// A hub and the receiving end of its write-behind log queue (for the writer task).
    pub fn new() -> (Self, mpsc::Receiver<EventRow>) {
        let (tx, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let (log, rx) = mpsc::channel(LOG_QUEUE);
        // Sequence numbers continue across restarts: the events table keys on (at_ms, seq).
        let seq = AtomicU64::new(now_ms().saturating_mul(1000));
        (
            Self {
                tx,
                recent: Mutex::new(VecDeque::with_capacity(RECENT)),
                seq,
                log,
                pressure: tokio::sync::Notify::new(),
                dropped: AtomicU64::new(0),
            },
            rx,
        )
    }

    fn make(
        &self,
        kind: &'static str,
        agv_id: Option<u32>,
        actor: &str,
        detail: serde_json::Value,
    ) -> FleetEvent {
        FleetEvent {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            at_ms: now_ms(),
            kind,
            agv_id,
            actor: actor.to_owned(),
            detail,
        }
    }

    fn row(e: &FleetEvent) -> EventRow {
        let mut detail = e.detail.clone();
        if let (Some(id), Some(map)) = (e.agv_id, detail.as_object_mut()) {
            map.insert("agv_id".into(), id.into());
        }
        EventRow {
            at_ms: e.at_ms as i64,
            seq: e.seq as i64,
            actor: e.actor.clone(),
            kind: e.kind.to_owned(),
            detail: detail.to_string(),
        }
    }

    /// Broadcasts an event and queues it for the log (dropped, and counted, if the writer is
    /// that far behind: the log is not on the hot path). A queue half full wakes the writer
    /// ([`log_pressure`](Self::log_pressure)).
    pub fn publish(
        &self,
        kind: &'static str,
        agv_id: Option<u32>,
        actor: &str,
        detail: serde_json::Value,
    ) {
        let e = self.make(kind, agv_id, actor, detail);
        if self.log.try_send(Self::row(&e)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else if self.log.capacity() <= LOG_QUEUE / 2 {
            self.pressure.notify_one();
        }
        self.send(e);
    }

    /// Resolves once the log queue has been half full or more since the last time it did
    /// (the writer then writes the log at once instead of at its next interval: a connection
    /// storm of 10,000 AGVs queues more than the queue holds within one interval).
    pub fn log_pressure(&self) -> tokio::sync::futures::Notified<'_> {
        self.pressure.notified()
    }

    /// Sends `e` to the subscribers and keeps it with the recent ones (in `seq` order: an
    /// event made earlier on another thread and sent later is put in its place).
    fn send(&self, e: FleetEvent) {
        let e = Arc::new(e);
        let mut recent = self.recent.lock().expect("not poisoned");
        if recent.len() == RECENT {
            recent.pop_front();
        }
        let at = recent.partition_point(|r| r.seq < e.seq);
        recent.insert(at, e.clone());
        let _ = self.tx.send(e);
    }

    /// A subscriber that resumes after the event `after` (its `Last-Event-ID`): the recent
    /// events after it, in order; the first `seq` kept in memory (events after `after` and
    /// before it are only in the stored log); and the channel for every later event.
    pub fn resume(&self, after: u64) -> Resumed {
        let recent = self.recent.lock().expect("not poisoned");
        let rx = self.tx.subscribe();
        let first_kept = recent
            .front()
            .map_or_else(|| self.seq.load(Ordering::Relaxed), |e| e.seq);
        let from = recent.partition_point(|e| e.seq <= after);
        Resumed {
            recent: recent.range(from..).cloned().collect(),
            first_kept,
            rx,
        }
    }

    /// Logs an operator action, committed before this returns, then broadcasts it.
    pub async fn audit(
        &self,
        db: &Db,
        kind: &'static str,
        agv_id: Option<u32>,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        let e = self.make(kind, agv_id, actor, detail);
        db.insert_event(&Self::row(&e)).await?;
        self.send(e);
        Ok(())
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FleetEvent>> {
        self.tx.subscribe()
    }

    /// Log rows waiting for the writer.
    pub fn log_queued(&self) -> usize {
        LOG_QUEUE - self.log.capacity()
    }

    /// Log rows dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
