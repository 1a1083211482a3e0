//! One simulated AGV: a `protocol::session::AgvSession` over its own TCP connection, driven by
//! a tokio task. It accesses, registers, applies the pushed configuration, heartbeats, reports
//! status, follows released path pieces with simple kinematics (acceleration, top speed,
//! rotation in place), runs blocking lift actions, switches navigation mode and map, drains and
//! charges its battery, and now and then meets an obstacle: it stops, asks for a safe space,
//! manoeuvres inside the grant and releases it, or waits and retries when denied.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crypto::session::AgvHandshake;
use crypto::sign::{CachedVerifier, SigningKey};
use protocol::message::*;
use protocol::session::{AgvCrypto, AgvEvent, AgvSession, CloseCause, NoCrypto, SessionConfig};
use protocol::types::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

mod body;
pub mod vda;

use body::{ACCEL, Body, Obstacle, Rng, TOP_SPEED, TURN_RATE};

use crate::failover::Failover;
use crate::monitor::Monitor;
use crate::report::Stats;

/// UTC ms now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Notes whether a wait polled was pending (its waker taken: it will wake the task), so that
/// the next polls can look at its state first and skip it when nothing happened (as
/// rcs-server's connection loop does). Both such waits are polled outside tokio's cooperative
/// budget (`unconstrained`): with the budget spent, tokio's waits answer `Pending` without
/// taking the waker, and a skipped wait would then never wake the task.
fn noting<T>(poll: std::task::Poll<T>, waiting: &mut bool) -> std::task::Poll<T> {
    *waiting = poll.is_pending();
    poll
}

/// UTC ms from the monotonic clock: one reading gives both (a connection's loop reads the
/// clock once per wake-up).
#[derive(Debug, Clone, Copy)]
struct Clock {
    at: Instant,
    ms: u64,
}

impl Clock {
    fn new() -> Self {
        Self {
            at: Instant::now(),
            ms: now_ms(),
        }
    }

    /// UTC ms at `t`.
    fn ms(&self, t: Instant) -> u64 {
        self.ms + t.saturating_duration_since(self.at).as_millis() as u64
    }

    /// The instant of UTC ms `ms`.
    fn instant(&self, ms: u64) -> Instant {
        self.at + Duration::from_millis(ms.saturating_sub(self.ms))
    }
}

/// Access mode of the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Plaintext.
    Normal,
    /// SM2/SM4 secure mode.
    Secure,
    /// VDA 5050 over MQTT, through the RCS's gateway (`--mqtt-url`, `--vda-version`).
    Vda5050,
}

/// Secure profile asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Every frame signed.
    Guide,
    /// MAC per frame, signatures on safety-critical ones.
    Fast,
    /// SM4-GCM per frame (its tag in the MAC's place), signatures on safety-critical ones.
    Gcm,
}

/// What one AGV is given.
#[derive(Clone)]
pub struct Spec {
    /// AGV id.
    pub id: u32,
    /// Start map, pose.
    pub map_id: u16,
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Start node.
    pub node: u32,
    /// Secure-mode keys: its own and the server's verifier.
    pub keys: Option<(Arc<SigningKey>, Arc<CachedVerifier>)>,
    /// Profile.
    pub profile: Profile,
    /// Time scale: speeds, action and battery times are multiplied by it.
    pub time_scale: f64,
    /// Obstacles per minute of driving.
    pub obstacles_per_min: f64,
    /// Random seed.
    pub seed: u64,
    /// Whether (and where) it may be moved by hand while its link is down: it then comes
    /// back at another place than the one the RCS last saw.
    pub relocate: Option<Relocate>,
    /// Reconnection churn: drop-outs per hour (exponential gaps, seeded); 0: none.
    pub churn_per_hour: f64,
    /// Status at most this often (ms), whatever the RCS configures; 0: as configured.
    pub min_status_period_ms: u64,
}

/// Moves by hand while the link is down: an operator pushing an AGV out of the way while the
/// RCS is restarting.
#[derive(Debug, Clone)]
pub struct Relocate {
    /// Chance, per reconnection, that the AGV was moved.
    pub probability: f64,
    /// Where it may be put: map, x, y, node (the nearest free one is not required).
    pub places: Arc<Vec<(u16, f64, f64, u32)>>,
    /// Every node of the site by id: map, x, y (to keep clear of paths released to AGVs).
    pub nodes: Arc<std::collections::HashMap<u32, (u16, f64, f64)>>,
}

/// Footprint of every simulated AGV: 1.0 × 0.8 m.
pub const FOOTPRINT: Footprint = Footprint {
    front: 0.5,
    rear: 0.5,
    left: 0.4,
    right: 0.4,
    height: 0.3,
};
/// Radius of the safe space asked for around an obstacle, m.
const GRANT_RADIUS: f64 = 1.2;

fn registration(id: u32) -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Jacking,
        vendor: "rcs agv-sim".into(),
        model: "SIM-1".into(),
        serial: format!("SIM-{id:05}"),
        firmware: env!("CARGO_PKG_VERSION").into(),
        footprint: FOOTPRINT,
        speeds: SpeedLimits {
            forward: TOP_SPEED as f32,
            reverse: 0.5,
            lateral: 0.0,
            angular: TURN_RATE as f32,
            acceleration: ACCEL as f32,
            deceleration: 1.0,
        },
        load_capacity_kg: 500.0,
        navigation_modes: vec![NavigationMode::Slam, NavigationMode::QrCode],
        maps: vec![],
        actuators: vec![ActuatorInfo {
            actuator_id: 0,
            kind: ActuatorType::Lift,
            min: 0.0,
            max: 60.0,
        }],
        battery: BatteryInfo {
            capacity_wh: 1000.0,
            nominal_voltage: 48.0,
        },
        extensions: vec![],
    }
}

/// How one connection ended.
enum Ended {
    /// The run is over.
    Stop,
    /// The connection or session ended: reconnect.
    Lost,
    /// A standby closed with `NotActive`, naming the active instance (or none).
    Redirected(Option<String>),
}

/// How long a connection attempt may take before the next address is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs one AGV until `stop` turns true: it connects to the first of `servers`, and whenever
/// its connection is lost (the RCS restarted, the network failed) or refused it stops where it
/// is, forgets its path and tries the next address of its list (round robin, with a pause of
/// 0.2 s doubling to 2 s); the list is replaced by the one a configuration push carries, and a
/// standby's `NotActive` close sends it straight to the active instance
/// ([`Failover`], docs/protocol.md 4.4). With `relocate` it may come back at another place, as
/// if moved by hand while the link was down.
pub async fn run(
    servers: Vec<String>,
    spec: Spec,
    monitor: Arc<Monitor>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = Rng(spec.seed ^ u64::from(spec.id).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut body = Body::new(&spec, 60.0 + (rng.next() % 40) as f64);
    monitor.set(spec.id, body.position());
    let mut failover = Failover::new(servers).with_seed(rng.next());
    loop {
        let target = failover.attempt().to_owned();
        let ended = connect(
            &target,
            &spec,
            &mut body,
            &mut failover,
            &mut rng,
            &monitor,
            &stats,
            &mut stop,
        )
        .await;
        let lost = std::mem::replace(&mut body.registered, false);
        if lost {
            stats.connected.fetch_sub(1, Ordering::Relaxed);
            if !*stop.borrow() {
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
                body.offline_since = Some(Instant::now());
            }
        }
        // An RCS that is down, restarting or a standby refuses connections: keep trying, along
        // the list.
        if matches!(ended, Ok(Ended::Stop)) || *stop.borrow() {
            if std::env::var_os("SIM_DEBUG").is_some() {
                let b = &body;
                eprintln!(
                    "BODY agv {} task {} obstacle {:?} next {} released {} path {:?} paused {} \
                     action_until {:?} charging {} safety_stopped {} pose ({:.2}, {:.2}, {:.3})",
                    spec.id,
                    b.task_id,
                    b.obstacle,
                    b.next,
                    b.released,
                    b.path.iter().map(|n| n.node_id).collect::<Vec<_>>(),
                    b.paused,
                    b.action_until,
                    b.charging,
                    b.safety_stopped,
                    b.x,
                    b.y,
                    b.theta
                );
            }
            stats.finished(spec.id, body.sessions, body.offline_since);
            return;
        }
        let pause = match ended {
            Ok(Ended::Redirected(active)) => {
                stats.redirects.fetch_add(1, Ordering::Relaxed);
                failover.redirected(active)
            }
            _ => failover.failed(),
        };
        let ahead = body.held().released_ahead;
        body.on_link_lost();
        monitor.held(spec.id, body.held());
        monitor.link_lost(spec.id, ahead);
        // moved by hand (at most once per lost session) while the link is down: put down
        // when the link comes back (see `relocate`)
        if let Some(r) = &spec.relocate
            && lost
            && rng.chance(r.probability)
            && !r.places.is_empty()
        {
            body.relocate = true;
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {
                stats.finished(spec.id, body.sessions, body.offline_since);
                return;
            }
        }
    }
}

/// One connection: a new session over a new TCP connection.
#[allow(clippy::too_many_arguments)]
async fn connect(
    server: &str,
    spec: &Spec,
    body: &mut Body,
    failover: &mut Failover,
    rng: &mut Rng,
    monitor: &Monitor,
    stats: &Stats,
    stop: &mut watch::Receiver<bool>,
) -> std::io::Result<Ended> {
    let config = SessionConfig::default();
    let reg = registration(spec.id);
    match &spec.keys {
        Some((key, rcs)) => {
            let hs = AgvHandshake::new(
                key.clone(),
                crypto::DEFAULT_ID,
                rcs.clone(),
                crypto::system_rng(),
            );
            let profile = match spec.profile {
                Profile::Guide => SecureProfile::Guide,
                Profile::Fast => SecureProfile::Fast,
                Profile::Gcm => SecureProfile::Gcm,
            };
            let session = AgvSession::new(
                config,
                spec.id,
                AccessMode::Secure,
                profile,
                Some(hs),
                reg,
                now_ms(),
            );
            drive(
                server, session, spec, body, failover, rng, monitor, stats, stop,
            )
            .await
        }
        None => {
            let session = AgvSession::<NoCrypto>::new(
                config,
                spec.id,
                AccessMode::Normal,
                SecureProfile::Guide,
                None,
                reg,
                now_ms(),
            );
            drive(
                server, session, spec, body, failover, rng, monitor, stats, stop,
            )
            .await
        }
    }
}

/// An AGV moved by hand while its link was down ([`Body::relocate`]) is put down now, as its
/// link comes back (before it registers), where a careful person would put it: a free place
/// not on another AGV, nor on a path released ahead of one, nor on a path an AGV had released
/// when its link broke (the RCS keeps it for that AGV). Put down any earlier (when the link
/// broke), a path released to another AGV in between would run through it while the RCS
/// cannot see it. Stays where it is when no such place is found.
fn relocate(spec: &Spec, body: &mut Body, rng: &mut Rng, monitor: &Monitor, stats: &Stats) {
    let Some(r) = &spec.relocate else { return };
    if !std::mem::take(&mut body.relocate) || r.places.is_empty() {
        return;
    }
    let start = (rng.next() % r.places.len() as u64) as usize;
    let released = monitor.released_ahead();
    let free = (0..r.places.len())
        .map(|i| r.places[(start + i) % r.places.len()])
        .find(|(map, x, y, _)| {
            !monitor.occupied(*map, *x, *y, 1.6)
                && !released.iter().any(|n| {
                    r.nodes
                        .get(n)
                        .is_some_and(|(m, nx, ny)| m == map && (nx - x).hypot(ny - y) < 1.6)
                })
        });
    if let Some((map, x, y, node)) = free {
        body.map_id = map;
        body.x = x;
        body.y = y;
        body.theta = 0.0;
        body.last_node_id = node;
        body.origin = (x, y);
        stats.relocated.fetch_add(1, Ordering::Relaxed);
        monitor.set(spec.id, body.position());
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive<K: AgvCrypto>(
    server: &str,
    mut session: AgvSession<K>,
    spec: &Spec,
    body: &mut Body,
    failover: &mut Failover,
    rng: &mut Rng,
    monitor: &Monitor,
    stats: &Stats,
    stop: &mut watch::Receiver<bool>,
) -> std::io::Result<Ended> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let _ = stream.set_nodelay(true);
    relocate(spec, body, rng, monitor, stats);
    session
        .connect(now_ms())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let scale = spec.time_scale.max(0.01);
    let clock = Clock::new();
    let started = clock.at;
    let mut last = started;
    // the clock, read once per wake-up
    let mut t = started;
    let mut status_period = 1000u64;
    let mut next_status = 0u64;
    let mut space_sent_at: Option<(u32, Instant)> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let tick = Duration::from_millis(50);
    let mut held = body.held();
    monitor.held(spec.id, held.clone());
    let mut shown = body.position();
    monitor.set(spec.id, shown);
    let mut redirect: Option<Option<String>> = None;
    // reconnection churn: this connection breaks at a seeded random time
    let drop_at =
        (spec.churn_per_hour > 0.0).then(|| Instant::now() + rng.exp_gap(spec.churn_per_hour));
    // one timer and one wait for the stop for the connection's life: the timer is moved only
    // when its deadline changes
    let timer = tokio::time::sleep(tick);
    tokio::pin!(timer);
    let mut armed = None;
    let probe = stop.clone();
    let stopped = stop.changed();
    tokio::pin!(stopped);
    // whether the timer and the stop's wait, polled last, were pending (their wakers taken):
    // they are then polled again only when they have something (an atomic look first)
    let (mut timer_waiting, mut stop_waiting) = (false, false);
    loop {
        if drop_at.is_some_and(|d| t >= d)
            && session.is_established()
            && !stats.churn_over.load(Ordering::Relaxed)
        {
            stats.churn_drops.fetch_add(1, Ordering::Relaxed);
            return Ok(Ended::Lost);
        }
        // the machine
        let sim_now = (t - started).as_secs_f64() * scale;
        let dt = (t - last).as_secs_f64() * scale;
        last = t;
        if matches!(body.obstacle, Obstacle::None | Obstacle::RetryAt(_)) {
            body.step(dt, sim_now);
        }
        if body.position() != shown {
            shown = body.position();
            monitor.set(spec.id, shown);
        }
        let now_held = body.held();
        if now_held != held {
            held = now_held;
            monitor.held(spec.id, held.clone());
        }
        if !body.inside_held() {
            monitor.outside(spec.id, body.position(), held.clone());
        }
        // obstacles: only when stopped at a node between pieces, so it never leaves held space
        let now = clock.ms(t);
        // (a safety stop freezes everything: no request, no manoeuvre)
        if session.is_established() && !body.safety_stopped {
            let at_rest = !body.moving() && body.action_until.is_none() && !body.charging;
            let ask = match body.obstacle {
                Obstacle::None => {
                    at_rest
                        && spec.obstacles_per_min > 0.0
                        && rng.chance(spec.obstacles_per_min / 60.0 * 0.05 * scale)
                }
                Obstacle::RetryAt(t) => now >= t,
                _ => false,
            };
            if ask {
                let request = SpaceRequest {
                    map_id: body.map_id,
                    region: Region::Circle {
                        center: Point {
                            x: body.x,
                            y: body.y,
                        },
                        radius: GRANT_RADIUS as f32,
                    },
                    limit: SpaceLimit::Free,
                    duration_ms: (5_000.0 / scale).max(500.0) as u32,
                    reason: SpaceReason::ObstacleAvoidance,
                };
                if let Ok(seq) = session.send(now, request.into(), true) {
                    stats.grants_requested.fetch_add(1, Ordering::Relaxed);
                    space_sent_at = Some((seq, Instant::now()));
                    body.obstacle = Obstacle::Asking;
                }
            }
            if let Obstacle::Manoeuvre {
                grant,
                until,
                cx,
                cy,
            } = body.obstacle
            {
                // a small excursion inside the granted circle and back
                let phase = ((until.saturating_sub(now)) as f64 / 1000.0 * scale)
                    .sin()
                    .abs();
                body.x = cx + 0.3 * phase;
                body.y = cy;
                if now >= until {
                    body.x = cx;
                    body.y = cy;
                    let _ = session.send(now, SpaceRelease { grant_id: grant }.into(), true);
                    body.obstacle = Obstacle::None;
                }
            }
        }
        // the protocol
        if session.is_established()
            && now >= next_status
            && session.send(now, body.status(), false).is_ok()
        {
            // on a fixed grid, as a firmware timer sends: the period is the configured one
            // however late this loop woke (it was about 6 % longer with `now + period`)
            next_status = if now >= next_status + status_period {
                now + status_period
            } else {
                next_status + status_period
            };
        }
        while let Some(event) = session.poll_event() {
            match event {
                AgvEvent::Connected { .. } => {}
                AgvEvent::Registered => {
                    if !body.registered {
                        body.registered = true;
                        body.sessions += 1;
                        if body.sessions > 1 {
                            stats.reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(since) = body.offline_since.take() {
                            stats.offline(spec.id, since.elapsed());
                        }
                        failover.registered();
                        stats.connected.fetch_add(1, Ordering::Relaxed);
                    }
                }
                AgvEvent::Configured(c) => {
                    status_period = u64::from(c.status_period_ms)
                        .max(50)
                        .max(spec.min_status_period_ms);
                }
                AgvEvent::RcsAddresses(list) => {
                    failover.learn(list.iter().map(|a| a.as_str().to_owned()).collect());
                }
                AgvEvent::Redirected { active } => {
                    redirect = Some(active.map(|a| a.as_str().to_owned()));
                }
                AgvEvent::Command { seq, message } => {
                    stats.commands.fetch_add(1, Ordering::Relaxed);
                    stats.frames_received.fetch_add(1, Ordering::Relaxed);
                    if matches!(message, Message::MapSwitch(_)) {
                        stats.map_switches.fetch_add(1, Ordering::Relaxed);
                    }
                    let answer = body.command(seq, &message);
                    let _ = session.respond(now, answer);
                }
                AgvEvent::Response {
                    request_seq,
                    message,
                } => {
                    stats.frames_received.fetch_add(1, Ordering::Relaxed);
                    if let Some((seq, at)) = space_sent_at
                        && seq == request_seq
                    {
                        stats.latency(at.elapsed());
                        space_sent_at = None;
                        match message {
                            Message::SpaceGrant(g) => {
                                stats.grants_granted.fetch_add(1, Ordering::Relaxed);
                                stats.granted(spec.id, g.grant_id);
                                body.obstacle = Obstacle::Manoeuvre {
                                    grant: g.grant_id,
                                    until: now + (1_500.0 / scale).max(200.0) as u64,
                                    cx: body.x,
                                    cy: body.y,
                                };
                            }
                            Message::SpaceDeny(d) => {
                                stats.grants_denied.fetch_add(1, Ordering::Relaxed);
                                body.obstacle = if d.retry_after_ms > 0 {
                                    Obstacle::RetryAt(now + u64::from(d.retry_after_ms))
                                } else {
                                    Obstacle::None
                                };
                            }
                            _ => body.obstacle = Obstacle::None,
                        }
                    }
                }
                AgvEvent::Unanswered { message_type, .. } => {
                    stats.error(&format!("unanswered {message_type:?}"))
                }
                AgvEvent::PeerError { code, .. } => stats.error(&format!("peer error {code:?}")),
                AgvEvent::LinkLost => {}
                AgvEvent::Closed(CloseCause::Refused(ResultCode::Rejected))
                    if body.sessions > 0 =>
                {
                    // A reconnection while the RCS has not yet seen the previous connection
                    // end (normal mode: the id is not taken over, docs/operations.md); the
                    // AGV tries again after its backoff.
                    stats.refused_held.fetch_add(1, Ordering::Relaxed);
                }
                AgvEvent::Closed(cause) => {
                    if !matches!(
                        cause,
                        CloseCause::Local(CloseReason::Shutdown)
                            | CloseCause::Peer(CloseReason::Shutdown | CloseReason::NotActive)
                            | CloseCause::LinkTimeout
                    ) {
                        stats.error(&format!("closed: {cause:?}"));
                    }
                }
            }
        }
        while let Some(frame) = session.poll_transmit() {
            stats.frames_sent.fetch_add(1, Ordering::Relaxed);
            if stream.write_all(&frame).await.is_err() {
                return Ok(Ended::Lost);
            }
        }
        if session.is_closed() {
            return Ok(match redirect {
                Some(active) => Ended::Redirected(active),
                None => Ended::Lost,
            });
        }
        let mut wake = session.poll_timeout().unwrap_or(now + 1000);
        if session.is_established() {
            // (a status the session would not take is tried again a millisecond later)
            wake = wake.min(next_status.max(now + 1));
        }
        let mut deadline = clock.instant(wake);
        // A body that changes with time (driving, an action, charging, an obstacle, or one
        // that may meet an obstacle) is stepped every tick; one that stands idle only when it
        // reports or hears something.
        let busy = body.moving()
            || body.action_until.is_some()
            || body.charging
            || !matches!(body.obstacle, Obstacle::None)
            || spec.obstacles_per_min > 0.0;
        if busy {
            deadline = deadline.min(t + tick);
        }
        if let Some(d) = drop_at {
            deadline = deadline.min(d);
        }
        if armed != Some(deadline) {
            timer
                .as_mut()
                .reset(tokio::time::Instant::from_std(deadline));
            armed = Some(deadline);
            timer_waiting = false;
        }
        tokio::select! {
            r = stream.read(&mut buf) => {
                t = Instant::now();
                match r {
                    Ok(0) | Err(_) => return Ok(Ended::Lost),
                    Ok(n) => session.handle_input(clock.ms(t), &buf[..n]),
                }
            }
            () = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                if timer_waiting && !timer.is_elapsed() {
                    return std::task::Poll::Pending;
                }
                noting(timer.as_mut().poll(cx), &mut timer_waiting)
            })) => {
                t = Instant::now();
                // (fired: armed again whatever the next deadline)
                armed = None;
                session.handle_timeout(clock.ms(t));
            }
            _ = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                if stop_waiting && !probe.has_changed().unwrap_or(true) {
                    return std::task::Poll::Pending;
                }
                noting(stopped.as_mut().poll(cx), &mut stop_waiting)
            })) => {
                session.close(now_ms(), CloseReason::Shutdown);
                while let Some(frame) = session.poll_transmit() {
                    let _ = stream.write_all(&frame).await;
                }
                return Ok(Ended::Stop);
            }
        }
    }
}
