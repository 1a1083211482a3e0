//! The AGV listener and the per-connection driver: one tokio task per connection (no thread per
//! AGV) feeding an `RcsSession` with what it reads and writing what it transmits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use crypto::session::RcsHandshake;
use crypto::sign::SigningKey;
use protocol::message::{AlarmParams, ConfigPush, Message};
use protocol::session::{CloseCause, RcsEvent, RcsPolicy, RcsSession, SessionConfig};
use protocol::types::{CloseReason, ResultCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::config::{Config, SecurePolicy};
use crate::db::Db;
use crate::fleet::Fleet;
use crate::keys::EnrolledKeys;

/// State shared by the listener and every connection.
#[derive(Debug)]
pub struct Shared {
    /// Configuration.
    pub config: Config,
    /// Database.
    pub db: Db,
    /// The server key pair.
    pub server_key: Arc<SigningKey>,
    /// Enrolled AGV keys.
    pub keys: EnrolledKeys,
    /// Fleet state.
    pub fleet: Fleet,
    stop: watch::Receiver<bool>,
    connections: Arc<Semaphore>,
    next_session: AtomicU32,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        db: Db,
        server_key: Arc<SigningKey>,
        keys: EnrolledKeys,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let connections = Arc::new(Semaphore::new(config.max_connections));
        // Session ids continue across restarts: seconds since the epoch, low bits.
        let seed = (now_ms() / 1000) as u32;
        Self {
            config,
            db,
            server_key,
            keys,
            fleet: Fleet::default(),
            stop,
            connections,
            next_session: AtomicU32::new(seed.max(1)),
        }
    }

    /// The configuration pushed to every AGV after registration.
    pub fn config_push(&self) -> ConfigPush {
        ConfigPush {
            config_version: 1,
            status_period_ms: 100,
            heartbeat_period_ms: 1000,
            link_timeout_ms: 5000,
            operation_report_period_s: 60,
            alarms: AlarmParams {
                battery_low_pct: 20.0,
                battery_critical_pct: 10.0,
                min_localisation_quality: 50,
                max_path_deviation: 0.2,
            },
            max_linear_speed: 2.0,
            max_angular_speed: 1.0,
            extensions: vec![],
        }
    }
}

/// UTC milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Accepts connections until the stop signal; each runs in its own task.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    loop {
        let permit = tokio::select! {
            p = shared.connections.clone().acquire_owned() => p.expect("never closed"),
            _ = stop.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            drive(stream, peer, shared).await;
            drop(permit);
        });
    }
}

/// Drives one connection's session to its end.
async fn drive(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let policy = RcsPolicy {
        secure_required: shared.config.secure == SecurePolicy::Required,
        allow_fast: shared.config.allow_fast,
    };
    let session_id = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let handshake = RcsHandshake::new(
        shared.server_key.clone(),
        crypto::DEFAULT_ID,
        shared.keys.clone(),
        crypto::system_rng(),
    );
    let mut session = RcsSession::new(
        SessionConfig::default(),
        policy,
        handshake,
        shared.config_push(),
        session_id,
        now_ms(),
    );
    let mut stop = shared.stop.clone();
    let mut buf = BytesMut::with_capacity(8192);
    let mut agv_id = 0u32;
    loop {
        // Events first: answering them queues frames, which must go out before we wait.
        while let Some(event) = session.poll_event() {
            handle_event(&shared, &mut session, &mut agv_id, session_id, peer, event).await;
        }
        while let Some(frame) = session.poll_transmit() {
            if stream.write_all(&frame).await.is_err() {
                session.close(now_ms(), CloseReason::Shutdown);
            }
        }
        if session.is_closed() {
            while let Some(frame) = session.poll_transmit() {
                let _ = stream.write_all(&frame).await;
            }
            break;
        }
        let wake = session.poll_timeout().unwrap_or(now_ms() + 1000);
        let sleep = Duration::from_millis(wake.saturating_sub(now_ms()));
        tokio::select! {
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    tracing::info!(agv_id, %peer, "connection closed by the peer");
                    break;
                }
                Ok(_) => {
                    session.handle_input(now_ms(), &buf);
                    buf.clear();
                }
            },
            () = tokio::time::sleep(sleep) => session.handle_timeout(now_ms()),
            _ = stop.changed() => session.close(now_ms(), CloseReason::Shutdown),
        }
    }
    if agv_id != 0 {
        // Offline: the space it physically occupies stays blocked (traffic control keeps it).
        shared.fleet.update(agv_id, |v| v.online = false);
        let _ = shared
            .db
            .close_session(session_id, "closed", now_ms() as i64)
            .await;
    }
}

async fn handle_event(
    shared: &Shared,
    session: &mut RcsSession<RcsHandshake<EnrolledKeys, crate::keys::Rng>>,
    agv_id: &mut u32,
    session_id: u32,
    peer: SocketAddr,
    event: RcsEvent,
) {
    let now = now_ms();
    match event {
        RcsEvent::AccessGranted {
            agv_id: id,
            mode,
            profile,
        } => {
            *agv_id = id;
            tracing::info!(agv_id = id, %peer, ?mode, ?profile, "access granted");
            shared.fleet.update(id, |v| {
                v.online = true;
                v.mode = mode;
                v.profile = profile;
                v.registered = false;
                v.last_seen_ms = now;
            });
            let (mode, profile) = (format!("{mode:?}"), format!("{profile:?}"));
            if let Err(e) = shared
                .db
                .open_session(
                    session_id,
                    id,
                    &mode,
                    &profile,
                    &peer.to_string(),
                    now as i64,
                )
                .await
            {
                tracing::error!(error = %e, "session log failed");
            }
        }
        RcsEvent::RegistrationRequested(req) => {
            // Persisted before it is acknowledged.
            let result = match shared.db.register(*agv_id, &req, now as i64).await {
                Ok(()) => ResultCode::Ok,
                Err(e) => {
                    tracing::error!(error = %e, "registration not stored");
                    ResultCode::InternalError
                }
            };
            let _ = session.accept_registration(now, result);
            shared
                .fleet
                .update(*agv_id, |v| v.registered = result == ResultCode::Ok);
        }
        RcsEvent::Message {
            message: Message::StatusReport(status),
            ..
        } => shared.fleet.update(*agv_id, |v| {
            v.status = Some(status);
            v.last_seen_ms = now;
        }),
        RcsEvent::Message {
            seq,
            ack_requested: true,
            message,
        } => {
            // Requests this server does not serve yet (safe space: the traffic issue) are
            // refused, never left unanswered: the AGV holds.
            let _ = session.ack(now, seq, message.message_type(), ResultCode::Unsupported);
        }
        RcsEvent::LinkLost => tracing::warn!(agv_id = *agv_id, "link lost: AGV offline"),
        RcsEvent::Closed(cause) => {
            let level = matches!(cause, CloseCause::Peer(_) | CloseCause::Local(_));
            if level {
                tracing::info!(agv_id = *agv_id, ?cause, "session closed");
            } else {
                tracing::warn!(agv_id = *agv_id, ?cause, "session closed");
            }
        }
        other => tracing::debug!(agv_id = *agv_id, event = ?other, "event"),
    }
}
