//! The server's shared state: configuration, database, keys, fleet, connections, events,
//! tokens, metrics, the site, the traffic core (with the space table) and the tasks, as one [`Shared`] that the AGV
//! listener, the dispatcher, the grant expiry and the API all hold (behind an `Arc`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crypto::sign::SigningKey;
use protocol::message::{AlarmParams, ConfigPush};
use protocol::session::SessionConfig;
use tokio::sync::{Semaphore, watch};

use crate::auth::Tokens;
use crate::config::Config;
use crate::connections::Connections;
use crate::db::Db;
use crate::events::Events;
use crate::fleet::Fleet;
use crate::keys::EnrolledKeys;
use crate::metrics::Metrics;

/// A map keyed by AGV id, for the tables a status frame looks up (the fleet, the connections,
/// the policies): hashed with foldhash, seeded per process (AGV ids are chosen by whoever
/// connects, so not the site's unseeded id hasher; `std`'s SipHash was 6 % of the server's
/// instructions per status frame, scripts/callgrind-status).
pub type ByAgv<V> = std::collections::HashMap<u32, V, foldhash::fast::RandomState>;

/// State shared by the listeners, every connection and the API.
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
    /// Which connection serves which AGV.
    pub connections: Connections,
    /// The event stream.
    pub events: Events,
    /// API tokens.
    pub tokens: Tokens,
    /// Metrics.
    pub metrics: Metrics,
    /// The site (maps).
    pub site: Arc<maps::Site>,
    /// The traffic core (tasks, AGVs as it sees them, and the space table: footprints,
    /// reservations, grants) and its driver's state.
    pub traffic: crate::dispatch::Traffic,
    /// What the server keeps about tasks beside the core (submitters, references, ended tasks).
    pub tasks: crate::tasks::Tasks,
    /// What the task rules need of the site (built once).
    pub task_rules: crate::task_rules::TaskRules,
    /// Safety episodes and stopped AGVs.
    pub safety: crate::safety::Safety,
    /// Wait bookkeeping between dispatcher passes (alarms raised, stuck deadlocks).
    pub waits: crate::waits::Waits,
    /// The cluster term this instance is active in (none: the one instance, SQLite).
    pub term: Option<crate::cluster::Term>,
    /// Connections that have not completed access, by peer address.
    pub admission: crate::admission::Admission,
    /// Session-log writes running in the background (a session's end): shutdown waits for
    /// them before it closes the database, so a graceful stop leaves no session open.
    pub(crate) session_rows: tokio_util::task::TaskTracker,
    stop: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
    /// Places for the API's event streams (`--max-event-streams`; none: no limit).
    streams: Option<Arc<Semaphore>>,
    next_session: AtomicU32,
    /// Faults injected by tests ([`crate::supervise::Faults`]).
    #[doc(hidden)]
    pub faults: crate::supervise::Faults,
    /// The critical task that panicked, if one did ([`crate::supervise`]).
    failed: std::sync::OnceLock<&'static str>,
    /// Woken when one did.
    failing: tokio::sync::Notify,
}

/// The parts [`Shared`] is made of.
pub(crate) struct Parts {
    pub config: Config,
    pub db: Db,
    pub server_key: Arc<SigningKey>,
    pub keys: EnrolledKeys,
    pub fleet: Fleet,
    pub events: Events,
    pub tokens: Tokens,
    pub site: Arc<maps::Site>,
    pub traffic: crate::dispatch::Traffic,
    pub tasks: crate::tasks::Tasks,
    pub term: Option<crate::cluster::Term>,
    pub stop: watch::Receiver<bool>,
    /// The first session id to give: past every id the database has.
    pub first_session: u32,
}

impl Shared {
    /// The last status report of `agv` if it is online and not moving (no velocity), and the
    /// report came after the answer to every command sent to it (one that came before may show
    /// it standing just before a motion set it going).
    pub fn still_status(&self, agv: u32) -> Option<protocol::message::StatusReport> {
        let view = self.fleet.get(agv)?;
        let issued = self.connections.issued(agv)?;
        let s = view
            .status
            .filter(|_| view.online && view.covers >= issued)?;
        let still = s.velocity.vx.abs() < 0.01
            && s.velocity.vy.abs() < 0.01
            && s.velocity.omega.abs() < 0.01;
        still.then_some(s)
    }

    /// Who holds which space (footprints, reservations, grants): the traffic core's table,
    /// locked (the whole core is: never held across an await, nor while taking another lock).
    pub fn space(&self) -> parking_lot::MappedMutexGuard<'_, maps::SpaceTable> {
        parking_lot::MutexGuard::map(self.traffic.lock(), |core| core.space_mut())
    }

    pub(crate) fn new(p: Parts) -> Self {
        let permits = Arc::new(Semaphore::new(p.config.max_connections));
        let streams = (p.config.max_event_streams > 0)
            .then(|| Arc::new(Semaphore::new(p.config.max_event_streams)));
        Self {
            config: p.config,
            db: p.db,
            server_key: p.server_key,
            keys: p.keys,
            fleet: p.fleet,
            connections: Connections::default(),
            events: p.events,
            tokens: p.tokens,
            metrics: Metrics::default(),
            task_rules: crate::task_rules::TaskRules::new(&p.site),
            site: p.site,
            traffic: p.traffic,
            tasks: p.tasks,
            safety: crate::safety::Safety::default(),
            waits: crate::waits::Waits::default(),
            term: p.term,
            admission: crate::admission::Admission::default(),
            session_rows: tokio_util::task::TaskTracker::new(),
            stop: p.stop,
            permits,
            streams,
            next_session: AtomicU32::new(p.first_session.max(1)),
            faults: crate::supervise::Faults::default(),
            failed: std::sync::OnceLock::new(),
            failing: tokio::sync::Notify::new(),
        }
    }

    /// The configuration pushed to every AGV after registration (with `--rcs-addresses`, the
    /// RCS instances to fail over to).
    pub fn config_push(&self) -> ConfigPush {
        let mut push = ConfigPush {
            config_version: 1,
            status_period_ms: 100,
            heartbeat_period_ms: self.session_config().heartbeat_period_ms as u32,
            link_timeout_ms: self.config.link_timeout_ms as u32,
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
        };
        let addresses = &self.config.rcs_addresses;
        let first = &addresses[..addresses.len().min(protocol::address::MAX_RCS_ADDRESSES)];
        push.set_rcs_addresses(first)
            .expect("at most MAX_RCS_ADDRESSES well-formed addresses encode");
        push
    }

    /// The session parameters of every AGV connection.
    pub fn session_config(&self) -> SessionConfig {
        let link = self.config.link_timeout_ms.max(100);
        SessionConfig {
            handshake_timeout_ms: self.config.handshake_timeout_ms,
            link_timeout_ms: link,
            heartbeat_period_ms: (link / 5).clamp(20, 1000),
            max_frames_per_sec: self.config.max_frames_per_sec,
            frame_burst: self.config.max_frames_per_sec.saturating_mul(2),
            ..SessionConfig::default()
        }
    }

    /// Critical task `name` failed: the server stops ([`crate::supervise`]).
    pub(crate) fn fail(&self, name: &'static str) {
        let _ = self.failed.set(name);
        self.failing.notify_one();
    }

    /// The critical task that failed, if one did: the server stopped for it.
    pub fn failure(&self) -> Option<&'static str> {
        self.failed.get().copied()
    }

    /// Resolves once a critical task failed.
    pub(crate) async fn failed(&self) {
        self.failing.notified().await;
    }

    /// Whether the server is shutting down.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// The connection permits (at most `max_connections` at once).
    pub(crate) fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
    }

    /// The places for the API's event streams (none: no limit).
    pub(crate) fn stream_places(&self) -> Option<Arc<Semaphore>> {
        self.streams.clone()
    }

    /// A new session id: they continue after the highest one stored, so a restart never gives
    /// an id the sessions table has (0 is never given).
    pub(crate) fn next_session_id(&self) -> u32 {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            self.next_session.fetch_add(1, Ordering::Relaxed)
        } else {
            id
        }
    }
}

/// UTC milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
