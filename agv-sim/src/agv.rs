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

use crate::failover::Failover;
use crate::monitor::{Held, Monitor, Position};
use crate::report::Stats;

/// UTC ms now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Access mode of the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Plaintext.
    Normal,
    /// SM2/SM4 secure mode.
    Secure,
}

/// Secure profile asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Every frame signed.
    Guide,
    /// MAC per frame, signatures on safety-critical ones.
    Fast,
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
const TOP_SPEED: f64 = 1.5;
const ACCEL: f64 = 0.8;
const TURN_RATE: f64 = 1.5;
const ACTION_S: f64 = 2.0;
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

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    /// An exponentially distributed gap with `per_hour` events per hour.
    fn exp_gap(&mut self, per_hour: f64) -> Duration {
        let u = ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        Duration::from_secs_f64((-u.ln() * 3600.0 / per_hour).min(1e9))
    }
}

/// What the AGV is doing with space it asked for.
#[derive(Debug, Clone, PartialEq)]
enum Obstacle {
    None,
    /// Asked; waiting for the answer.
    Asking,
    /// Denied; ask again at this time (ms).
    RetryAt(u64),
    /// Granted: manoeuvring out and back until `until`, then release.
    Manoeuvre {
        grant: u32,
        until: u64,
        cx: f64,
        cy: f64,
    },
}

/// The simulated machine.
struct Body {
    map_id: u16,
    x: f64,
    y: f64,
    theta: f64,
    v: f64,
    navigation: NavigationMode,
    battery: f64,
    charging: bool,
    last_node_id: u32,
    task_id: u32,
    path: Vec<PathNode>,
    released: usize,
    next: usize,
    paused: bool,
    action_until: Option<f64>,
    state_override: Option<AgvState>,
    obstacle: Obstacle,
    /// Where it stood when its current path arrived.
    origin: (f64, f64),
    /// Stopped by a SafetyStop until its Clear.
    safety_stopped: bool,
    /// Registered in the current session.
    registered: bool,
    /// How many sessions registered so far.
    sessions: u32,
    /// Since when it has been offline (its registered session ended; not before the first).
    offline_since: Option<Instant>,
    /// Its parameters (ParamSet / ParamQuery): the top speed among them.
    params: crate::params::Params,
    /// Moved by hand while its link is down: put down as the link comes back (`relocate`).
    relocate: bool,
}

impl Body {
    fn new(spec: &Spec, battery: f64) -> Self {
        Self {
            map_id: spec.map_id,
            x: spec.x,
            y: spec.y,
            theta: 0.0,
            v: 0.0,
            navigation: NavigationMode::Slam,
            battery,
            charging: false,
            last_node_id: spec.node,
            task_id: 0,
            path: Vec::new(),
            released: 0,
            next: 0,
            paused: false,
            action_until: None,
            state_override: None,
            obstacle: Obstacle::None,
            origin: (spec.x, spec.y),
            safety_stopped: false,
            registered: false,
            sessions: 0,
            offline_since: None,
            params: crate::params::Params::new(TOP_SPEED, ACCEL, format!("sim-{}", spec.id)),
            relocate: false,
        }
    }

    fn position(&self) -> Position {
        Position {
            map: self.map_id,
            x: self.x,
            y: self.y,
            theta: self.theta,
        }
    }

    /// What it holds as it sees it: the released nodes ahead, or its grant.
    fn held(&self) -> Held {
        let ahead = self.next.min(self.path.len())..self.released.min(self.path.len());
        Held {
            task_id: self.task_id,
            released_ahead: self.path[ahead].iter().map(|n| n.node_id).collect(),
            grant: match self.obstacle {
                Obstacle::Manoeuvre { grant, .. } => Some(grant),
                _ => None,
            },
        }
    }

    /// Its link is lost: it stops where it is and drives nothing more until a new release
    /// (docs/protocol.md 8, LinkLost); a manoeuvre in a grant ends back where it began.
    fn on_link_lost(&mut self) {
        if let Obstacle::Manoeuvre { cx, cy, .. } = self.obstacle {
            self.x = cx;
            self.y = cy;
        }
        self.obstacle = Obstacle::None;
        self.path.clear();
        self.released = 0;
        self.next = 0;
        self.v = 0.0;
        self.paused = false;
        self.action_until = None;
        self.origin = (self.x, self.y);
        // a stop ends with its session
        self.safety_stopped = false;
    }

    fn moving(&self) -> bool {
        self.next < self.released && !self.paused && !self.safety_stopped
    }

    /// Whether it has a task to pause or resume: a path not driven to its end, or actions
    /// running.
    fn has_task(&self) -> bool {
        self.next < self.path.len() || self.action_until.is_some()
    }

    fn state(&self) -> AgvState {
        if let Some(s) = self.state_override {
            return s;
        }
        if self.safety_stopped {
            return AgvState::SafetyStop;
        }
        if matches!(self.obstacle, Obstacle::Manoeuvre { .. }) {
            return AgvState::InSafeSpace;
        }
        if self.charging {
            return AgvState::Charging;
        }
        if self.paused {
            return AgvState::Paused;
        }
        if self.action_until.is_some() || self.moving() {
            AgvState::Working
        } else if self.next < self.path.len() {
            AgvState::WaitingForRelease
        } else {
            AgvState::Idle
        }
    }

    fn status(&self) -> Message {
        StatusReport {
            map_id: self.map_id,
            pose: Pose {
                x: self.x,
                y: self.y,
                theta: self.theta,
            },
            localisation_quality: 95,
            navigation_mode: self.navigation,
            velocity: Velocity {
                vx: self.v as f32,
                vy: 0.0,
                omega: 0.0,
            },
            state: self.state(),
            battery_pct: self.battery as f32,
            battery_voltage: 48.0,
            charging: self.charging,
            e_stop: false,
            loads: vec![],
            // The lift it registered, reported as a real AGV reports its actuators.
            actuators: vec![ActuatorStatus {
                actuator_id: 0,
                kind: ActuatorType::Lift,
                state: ActuatorState::Idle,
                position: 0.0,
            }],
            task_id: self.task_id,
            segment: 0,
            last_node_id: self.last_node_id,
            last_node_sequence: 0,
            edge_id: 0,
            distance_since_last_node: 0.0,
            grant_id: match self.obstacle {
                Obstacle::Manoeuvre { grant, .. } => grant,
                _ => 0,
            },
            alarms: vec![],
            extensions: vec![],
        }
        .into()
    }

    /// Whether it is inside space it was given: its granted circle while manoeuvring, else on
    /// the released part of its path (from where it stood when the path arrived), or where it
    /// stands with no path.
    fn inside_held(&self) -> bool {
        if let Obstacle::Manoeuvre { cx, cy, .. } = self.obstacle {
            return (self.x - cx).hypot(self.y - cy) <= GRANT_RADIUS + 0.01;
        }
        if self.path.is_empty() {
            return true;
        }
        let mut points = vec![self.origin];
        points.extend(
            self.path[..self.released.min(self.path.len())]
                .iter()
                .map(|n| (n.pose.x, n.pose.y)),
        );
        if points.len() == 1 {
            return (self.x - points[0].0).hypot(self.y - points[0].1) < 0.05;
        }
        points.windows(2).any(|w| {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len2 = dx * dx + dy * dy;
            let t = if len2 < 1e-12 {
                0.0
            } else {
                (((self.x - a.0) * dx + (self.y - a.1) * dy) / len2).clamp(0.0, 1.0)
            };
            (self.x - (a.0 + t * dx)).hypot(self.y - (a.1 + t * dy)) < 0.05
        })
    }

    /// Advances `dt` simulated seconds; returns the node ids reached.
    fn step(&mut self, dt: f64, now: f64) -> Vec<u32> {
        let mut reached = Vec::new();
        if self.charging {
            self.battery = (self.battery + 0.5 * dt).min(100.0);
            if self.battery >= 99.9 {
                self.charging = false;
            }
            return reached;
        }
        if let Some(until) = self.action_until {
            if now >= until {
                self.action_until = None;
            } else {
                return reached;
            }
        }
        self.battery = (self.battery - if self.moving() { 0.05 } else { 0.005 } * dt).max(0.0);
        if !self.moving() {
            self.v = 0.0;
            return reached;
        }
        let mut budget = dt;
        while budget > 1e-9 && self.moving() {
            let target = &self.path[self.next];
            let (dx, dy) = (target.pose.x - self.x, target.pose.y - self.y);
            let d = dx.hypot(dy);
            if d < 1e-6 {
                self.last_node_id = target.node_id;
                reached.push(target.node_id);
                let actions = !target.actions.is_empty();
                self.next += 1;
                if actions {
                    self.action_until = Some(now + ACTION_S);
                    self.v = 0.0;
                    return reached;
                }
                continue;
            }
            // rotate in place first when the heading is far off
            let heading = dy.atan2(dx);
            let mut err = heading - self.theta;
            while err > std::f64::consts::PI {
                err -= std::f64::consts::TAU;
            }
            while err < -std::f64::consts::PI {
                err += std::f64::consts::TAU;
            }
            if err.abs() > 0.05 {
                self.v = 0.0;
                let turn = (TURN_RATE * budget).min(err.abs());
                self.theta += turn * err.signum();
                budget -= turn / TURN_RATE;
                continue;
            }
            self.theta = heading;
            self.v = (self.v + ACCEL * budget).min(self.params.top_speed().max(0.01));
            let travel = self.v * budget;
            if travel >= d {
                budget -= d / self.v.max(1e-6);
                self.x = target.pose.x;
                self.y = target.pose.y;
            } else {
                self.x += dx / d * travel;
                self.y += dy / d * travel;
                budget = 0.0;
            }
        }
        reached
    }

    fn command(&mut self, seq: u32, m: &Message) -> Message {
        let ok = |m: &Message| -> Message {
            Ack {
                request_seq: seq,
                request_type: m.message_type(),
                result: ResultCode::Ok,
                detail: String::new(),
            }
            .into()
        };
        let conflict = |m: &Message| -> Message {
            Ack {
                request_seq: seq,
                request_type: m.message_type(),
                result: ResultCode::StateConflict,
                detail: "safety stop".into(),
            }
            .into()
        };
        match m {
            Message::SafetyStop(stop) => {
                if stop.op == StopOp::Stop {
                    // brakes at once; its released path is void
                    self.safety_stopped = true;
                    self.v = 0.0;
                    self.path.clear();
                    self.released = 0;
                    self.next = 0;
                    self.origin = (self.x, self.y);
                } else {
                    self.safety_stopped = false;
                }
                ok(m)
            }
            Message::MotionCommand(_)
            | Message::MapSwitch(_)
            | Message::NavSwitch(_)
            | Message::TaskControl(TaskControl {
                op: TaskOp::Resume, ..
            }) if self.safety_stopped => conflict(m),
            Message::MotionCommand(c) => {
                if c.map_id != self.map_id {
                    return Ack {
                        request_seq: seq,
                        request_type: m.message_type(),
                        result: ResultCode::MapMismatch,
                        detail: String::new(),
                    }
                    .into();
                }
                let first = &c.nodes[0];
                let at_first = (first.pose.x - self.x).hypot(first.pose.y - self.y) < 0.01;
                // A later segment of the same task replaces the path from its first node on,
                // which is a node of the released part not yet passed (docs/protocol.md 6.6):
                // the AGV keeps driving its current path up to there.
                let continues = (c.task_id == self.task_id && !at_first)
                    .then(|| {
                        let from = self.next.saturating_sub(1);
                        self.path[..self.released.min(self.path.len())]
                            .iter()
                            .enumerate()
                            .skip(from)
                            .rev()
                            .find(|(_, n)| n.node_id == first.node_id)
                            .map(|(k, _)| k)
                    })
                    .flatten();
                // Neither a continuation nor a new path (which starts at sequence 0, or where it
                // stands at the end of its path): a later segment of a path it no longer has (it
                // forgot it on a link loss, a safety stop or a cancel), which the RCS made for
                // space it may have given up since.
                if continues.is_none() && first.sequence != 0 && (self.path.is_empty() || !at_first)
                {
                    return Ack {
                        request_seq: seq,
                        request_type: m.message_type(),
                        result: ResultCode::StateConflict,
                        detail: format!(
                            "node {} (sequence {}) continues no released path of task {}",
                            first.node_id, first.sequence, c.task_id
                        ),
                    }
                    .into();
                }
                match continues {
                    Some(k) => {
                        self.path.truncate(k);
                        self.path.extend(c.nodes.iter().cloned());
                        self.released = k + usize::from(c.released_nodes);
                    }
                    None => {
                        // A new path: from where it stands (or straight to its first node);
                        // in a manoeuvre, from where it returns to.
                        self.task_id = c.task_id;
                        self.next = usize::from(at_first);
                        if at_first {
                            self.last_node_id = first.node_id;
                        }
                        self.origin = match self.obstacle {
                            Obstacle::Manoeuvre { cx, cy, .. } => (cx, cy),
                            _ => (self.x, self.y),
                        };
                        self.path = c.nodes.clone();
                        self.released = usize::from(c.released_nodes);
                    }
                }
                self.charging = false;
                ok(m)
            }
            // Pause and resume need a task (docs/protocol.md 6.6, TaskControl): without one,
            // StateConflict and nothing changes; pausing a paused AGV or resuming a running one
            // is Ok (the answer a resend gets).
            Message::TaskControl(TaskControl {
                op: TaskOp::Pause | TaskOp::Resume,
                ..
            }) if !self.has_task() => conflict(m),
            Message::TaskControl(t) => {
                match t.op {
                    TaskOp::Pause => self.paused = true,
                    TaskOp::Resume => self.paused = false,
                    TaskOp::Cancel => {
                        self.path.clear();
                        self.released = 0;
                        self.next = 0;
                        self.task_id = 0;
                        self.paused = false;
                    }
                }
                ok(m)
            }
            Message::ChargeControl(c) => {
                self.charging = c.op == ChargeOp::Start;
                ok(m)
            }
            Message::NavSwitch(n) => {
                self.navigation = n.target;
                NavSwitchResult {
                    request_seq: seq,
                    result: ResultCode::Ok,
                    mode: n.target,
                    localisation_quality: 90,
                }
                .into()
            }
            Message::MapSwitch(s) => {
                self.map_id = s.target_map_id;
                self.x = s.initial_pose.x;
                self.y = s.initial_pose.y;
                self.theta = s.initial_pose.theta;
                self.navigation = s.navigation;
                self.path.clear();
                self.released = 0;
                self.next = 0;
                MapSwitchResult {
                    request_seq: seq,
                    result: ResultCode::Ok,
                    map_id: s.target_map_id,
                    localisation_quality: 90,
                    pose: s.initial_pose.clone(),
                }
                .into()
            }
            Message::SpaceRevoke(r) => {
                if matches!(self.obstacle, Obstacle::Manoeuvre { grant, .. } if grant == r.grant_id)
                    && let Obstacle::Manoeuvre { cx, cy, .. } = self.obstacle
                {
                    // back to where it stood, then hold
                    self.x = cx;
                    self.y = cy;
                    self.obstacle = Obstacle::None;
                }
                ok(m)
            }
            Message::ParamQuery(q) => ParamQueryResponse {
                request_seq: seq,
                result: ResultCode::Ok,
                values: self.params.query(&q.params),
            }
            .into(),
            Message::ParamSet(w) => {
                let (result, results) = self.params.set(&w.values);
                ParamSetResponse {
                    request_seq: seq,
                    result,
                    results,
                }
                .into()
            }
            other => ok(other),
        }
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
    let started = Instant::now();
    let mut last = Instant::now();
    let mut status_period = 1000u64;
    let mut next_status = 0u64;
    let mut space_sent_at: Option<(u32, Instant)> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let tick = Duration::from_millis(50);
    let mut held = body.held();
    monitor.held(spec.id, held.clone());
    let mut redirect: Option<Option<String>> = None;
    // reconnection churn: this connection breaks at a seeded random time
    let drop_at =
        (spec.churn_per_hour > 0.0).then(|| Instant::now() + rng.exp_gap(spec.churn_per_hour));
    loop {
        if drop_at.is_some_and(|t| Instant::now() >= t)
            && session.is_established()
            && !stats.churn_over.load(Ordering::Relaxed)
        {
            stats.churn_drops.fetch_add(1, Ordering::Relaxed);
            return Ok(Ended::Lost);
        }
        // the machine
        let sim_now = started.elapsed().as_secs_f64() * scale;
        let dt = last.elapsed().as_secs_f64() * scale;
        last = Instant::now();
        if matches!(body.obstacle, Obstacle::None | Obstacle::RetryAt(_)) {
            body.step(dt, sim_now);
        }
        monitor.set(spec.id, body.position());
        let now_held = body.held();
        if now_held != held {
            held = now_held;
            monitor.held(spec.id, held.clone());
        }
        if !body.inside_held() {
            monitor.outside(spec.id, body.position(), held.clone());
        }
        // obstacles: only when stopped at a node between pieces, so it never leaves held space
        let now = now_ms();
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
            next_status = now + status_period;
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
                    let _ = session.respond(now_ms(), answer);
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
                                    until: now_ms() + (1_500.0 / scale).max(200.0) as u64,
                                    cx: body.x,
                                    cy: body.y,
                                };
                            }
                            Message::SpaceDeny(d) => {
                                stats.grants_denied.fetch_add(1, Ordering::Relaxed);
                                body.obstacle = if d.retry_after_ms > 0 {
                                    Obstacle::RetryAt(now_ms() + u64::from(d.retry_after_ms))
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
        let wake = session.poll_timeout().unwrap_or(now_ms() + 1000);
        let until_timer = Duration::from_millis(wake.saturating_sub(now_ms()));
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => return Ok(Ended::Lost),
                Ok(n) => session.handle_input(now_ms(), &buf[..n]),
            },
            () = tokio::time::sleep(until_timer.min(tick)) => session.handle_timeout(now_ms()),
            _ = stop.changed() => {
                session.close(now_ms(), CloseReason::Shutdown);
                while let Some(frame) = session.poll_transmit() {
                    let _ = stream.write_all(&frame).await;
                }
                return Ok(Ended::Stop);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        let spec = Spec {
            id: 1,
            map_id: 1,
            x: 0.0,
            y: 0.0,
            node: 1,
            keys: None,
            profile: Profile::Guide,
            time_scale: 1.0,
            obstacles_per_min: 0.0,
            seed: 1,
            relocate: None,
            churn_per_hour: 0.0,
            min_status_period_ms: 0,
        };
        Body::new(&spec, 80.0)
    }

    fn answer(b: &mut Body, op: TaskOp) -> ResultCode {
        let m: Message = TaskControl { task_id: 0, op }.into();
        match b.command(7, &m) {
            Message::Ack(a) => a.result,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pause_and_resume_without_a_task_are_state_conflicts() {
        // docs/protocol.md 6.6, TaskControl
        let mut b = body();
        assert_eq!(answer(&mut b, TaskOp::Pause), ResultCode::StateConflict);
        assert_eq!(answer(&mut b, TaskOp::Resume), ResultCode::StateConflict);
        assert_eq!(b.state(), AgvState::Idle, "nothing changed");
        assert_eq!(answer(&mut b, TaskOp::Cancel), ResultCode::Ok);
        // with a task: Ok, twice (a resend gets the same answer)
        let node = |id: u32, x: f64| PathNode {
            node_id: id,
            sequence: 0,
            pose: Pose {
                x,
                y: 0.0,
                theta: 0.0,
            },
            attribute: TargetAttribute::PassThrough,
            actions: Vec::new(),
        };
        b.path = vec![node(1, 0.0), node(2, 1.0)];
        b.released = 2;
        b.next = 1;
        for _ in 0..2 {
            assert_eq!(answer(&mut b, TaskOp::Pause), ResultCode::Ok);
            assert_eq!(b.state(), AgvState::Paused);
        }
        for _ in 0..2 {
            assert_eq!(answer(&mut b, TaskOp::Resume), ResultCode::Ok);
            assert_eq!(b.state(), AgvState::Working);
        }
        // a cancelled task is no task: its id is no longer reported (6.11)
        b.task_id = 5;
        assert_eq!(answer(&mut b, TaskOp::Cancel), ResultCode::Ok);
        assert_eq!(b.task_id, 0);
        assert_eq!(answer(&mut b, TaskOp::Pause), ResultCode::StateConflict);
    }

    fn motion(task: u32, nodes: &[(u32, u16, f64)], released: u16) -> Message {
        MotionCommand {
            task_id: task,
            task_type: TaskType::Move,
            segment: 1,
            map_id: 1,
            nodes: nodes
                .iter()
                .map(|&(node_id, sequence, x)| PathNode {
                    node_id,
                    sequence,
                    pose: Pose {
                        x,
                        y: 0.0,
                        theta: 0.0,
                    },
                    attribute: TargetAttribute::PassThrough,
                    actions: Vec::new(),
                })
                .collect(),
            edges: Vec::new(),
            released_nodes: released,
            max_speed: 0.0,
            extensions: Vec::new(),
        }
        .into()
    }

    fn result(m: Message) -> ResultCode {
        match m {
            Message::Ack(a) => a.result,
            other => panic!("{other:?}"),
        }
    }

    /// A later segment of a path the AGV no longer has (it forgot it on a link loss) is refused
    /// with `StateConflict` (docs/protocol.md 6.6), not driven as a new path: the RCS made it
    /// for space it may have given up since, when the AGV reported standing after its link came
    /// back (the soak's AGVs 453 and 803 met so).
    #[test]
    fn a_segment_of_a_path_forgotten_on_a_link_loss_is_refused() {
        let mut b = body();
        let path = [(1, 0, 0.0), (2, 2, 1.0), (3, 4, 2.0), (4, 6, 3.0)];
        assert_eq!(
            result(b.command(1, &motion(9, &path[..3], 2))),
            ResultCode::Ok
        );
        b.on_link_lost();
        // the segment from its last released node on, made before the link broke
        let stale = motion(9, &path[1..], 3);
        assert_eq!(result(b.command(2, &stale)), ResultCode::StateConflict);
        assert!(!b.moving(), "it drives nothing");
        assert!(b.path.is_empty());
        // a new path (sequence 0) from where it stands is taken
        let new = [(2, 0, 1.0), (3, 2, 2.0)];
        assert_eq!(result(b.command(3, &motion(9, &new, 2))), ResultCode::Ok);
        assert!(b.moving());
        // and a segment continuing it too
        let next = [(3, 2, 2.0), (4, 4, 3.0)];
        assert_eq!(result(b.command(4, &motion(9, &next, 2))), ResultCode::Ok);
        assert_eq!(b.released, 3);
        // standing at the end of its released part, the next segment starts where it stands
        b.x = 3.0;
        b.next = 3;
        let on = [(4, 4, 3.0), (5, 6, 4.0)];
        assert_eq!(result(b.command(5, &motion(9, &on, 2))), ResultCode::Ok);
        assert!(b.moving());
        // standing on the first node of a stale segment after a link loss: refused all the same
        b.on_link_lost();
        b.x = 4.0;
        let stale = [(5, 6, 4.0), (6, 8, 5.0)];
        assert_eq!(
            result(b.command(6, &motion(9, &stale, 2))),
            ResultCode::StateConflict
        );
    }
}
