//! Shared test fixtures: a server on 127.0.0.1:0 and simulated AGVs speaking the protocol over
//! TCP through `protocol::session::AgvSession`.
#![allow(dead_code)]

pub mod fleet;
pub mod postgres;
pub mod sse;
pub mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::message::*;
use protocol::session::{AgvCrypto, AgvEvent, AgvSession, NoCrypto, SessionConfig};
use protocol::types::*;
use rcs_server::state::now_ms;
use rcs_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The admin token `Config::for_tests` sets.
pub const ADMIN: &str = "test-admin-token";

pub fn registration() -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Jacking,
        vendor: "Acme".into(),
        model: "J1".into(),
        serial: "SN-7".into(),
        firmware: "1.0".into(),
        footprint: Footprint {
            front: 0.5,
            rear: 0.5,
            left: 0.4,
            right: 0.4,
            height: 0.3,
        },
        speeds: SpeedLimits {
            forward: 1.5,
            reverse: 0.5,
            lateral: 0.0,
            angular: 1.0,
            acceleration: 0.5,
            deceleration: 1.0,
        },
        load_capacity_kg: 500.0,
        navigation_modes: vec![NavigationMode::Slam],
        maps: vec![],
        actuators: vec![],
        battery: BatteryInfo {
            capacity_wh: 1000.0,
            nominal_voltage: 48.0,
        },
        extensions: vec![],
    }
}

pub fn status_at(x: f64, state: AgvState) -> Message {
    StatusReport {
        localisation_quality: 95,
        state,
        battery_pct: 88.0,
        battery_voltage: 48.5,
        ..StatusReport::standing(
            1,
            Pose {
                x,
                y: 1.25,
                theta: 0.0,
            },
        )
    }
    .into()
}

pub fn status() -> Message {
    status_at(3.5, AgvState::Idle)
}

/// A running server: stop it with `stop`.
pub struct Running {
    pub server: Server,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    pub async fn start(config: Config) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let (server, serve) = rcs_server::start(config, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let task = tokio::spawn(serve);
        Self {
            server,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("the server stops within 20 s")
                .unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.http_addr)
    }
}

pub fn normal_agv(agv_id: u32) -> AgvSession<NoCrypto> {
    AgvSession::new(
        SessionConfig::default(),
        agv_id,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        registration(),
        now_ms(),
    )
}

/// A new AGV key, and its public key as PEM (written under `dir` as `agv{agv_id}.pub`, read
/// back), for enrolling it through the API.
pub fn agv_key(dir: &std::path::Path, agv_id: u32) -> (Arc<crypto::sign::SigningKey>, String) {
    let key = Arc::new(
        crypto::sign::SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng()).unwrap(),
    );
    let path = dir.join(format!("agv{agv_id}.pub"));
    crypto::keys::write_public_pem(&path, key.verifying_key().public_key()).unwrap();
    let pem = std::fs::read_to_string(&path).unwrap();
    (key, pem)
}

/// A secure-mode AGV session (fast profile) with `key`, trusting `server`'s key.
pub fn secure_agv(
    agv_id: u32,
    key: &Arc<crypto::sign::SigningKey>,
    server: &rcs_server::Server,
) -> AgvSession<crypto::session::AgvHandshake<rcs_server::keys::Rng>> {
    secure_agv_asking(agv_id, key, server, SecureProfile::Fast)
}

/// As [`secure_agv`], asking for `profile`.
pub fn secure_agv_asking(
    agv_id: u32,
    key: &Arc<crypto::sign::SigningKey>,
    server: &rcs_server::Server,
    profile: SecureProfile,
) -> AgvSession<crypto::session::AgvHandshake<rcs_server::keys::Rng>> {
    let rcs = Arc::new(crypto::sign::CachedVerifier::new(
        server.state.server_key.verifying_key().clone(),
    ));
    let hs = crypto::session::AgvHandshake::new(
        key.clone(),
        crypto::DEFAULT_ID,
        rcs,
        crypto::system_rng(),
    );
    AgvSession::new(
        SessionConfig::default(),
        agv_id,
        AccessMode::Secure,
        profile,
        Some(hs),
        registration(),
        now_ms(),
    )
}

/// Runs an AGV session over TCP until `on_event` says done (it is asked on every event and once
/// per loop with `None`), the session closes, or 10 s pass; returns its events.
pub async fn run_agv<K: AgvCrypto>(
    server: &Server,
    mut agv: AgvSession<K>,
    mut on_event: impl FnMut(&mut AgvSession<K>, Option<&AgvEvent>) -> bool,
) -> Vec<AgvEvent> {
    let mut stream = TcpStream::connect(server.agv_addr).await.unwrap();
    agv.connect(now_ms()).unwrap();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(f) = agv.poll_transmit() {
            stream.write_all(&f).await.unwrap();
        }
        let mut done = on_event(&mut agv, None);
        while let Some(e) = agv.poll_event() {
            done |= on_event(&mut agv, Some(&e));
            events.push(e);
        }
        while let Some(f) = agv.poll_transmit() {
            stream.write_all(&f).await.unwrap();
        }
        if done || agv.is_closed() || tokio::time::Instant::now() > deadline {
            return events;
        }
        let wake = agv.poll_timeout().unwrap_or(now_ms() + 100);
        let sleep = Duration::from_millis(wake.saturating_sub(now_ms()).min(100));
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => return events,
                Ok(n) => agv.handle_input(now_ms(), &buf[..n]),
            },
            () = tokio::time::sleep(sleep) => agv.handle_timeout(now_ms()),
        }
    }
}

/// A simulated AGV's motion: it follows released path nodes at `speed` m/s.
#[derive(Debug, Clone)]
pub struct Driver {
    pub map_id: u16,
    pub x: f64,
    pub y: f64,
    pub theta: f64,
    pub speed: f64,
    pub navigation: NavigationMode,
    pub battery_pct: f32,
    pub charging: bool,
    pub last_node_id: u32,
    pub task_id: u32,
    pub path: Vec<PathNode>,
    pub released: usize,
    /// Index in `path` of the node it drives to.
    pub next: usize,
    /// Stopped by a SafetyStop until its Clear.
    pub safety_stopped: bool,
    /// SafetyStop commands received: (op, episode, other AGV).
    pub stops: Vec<(StopOp, u32, u32)>,
    /// On cancel it drives on to the end of its released path before it stops (a reading of
    /// "the next safe point"); otherwise it stops where it is.
    pub cancel_at_released_end: bool,
    /// Commands of these types get no answer (and are not carried out).
    pub mute: Vec<MessageType>,
    /// Commands of these types are carried out but their answers are lost.
    pub answers_lost: Vec<MessageType>,
    /// The grant it reports using.
    pub grant_id: u32,
    /// Its status period, ms.
    pub report_every_ms: u64,
}

impl Driver {
    pub fn at(x: f64, y: f64) -> Self {
        Self {
            map_id: 1,
            x,
            y,
            theta: 0.0,
            speed: 8.0,
            navigation: NavigationMode::Slam,
            battery_pct: 88.0,
            charging: false,
            last_node_id: 0,
            task_id: 0,
            path: vec![],
            released: 0,
            next: 0,
            safety_stopped: false,
            stops: vec![],
            cancel_at_released_end: false,
            mute: vec![],
            answers_lost: vec![],
            grant_id: 0,
            report_every_ms: 100,
        }
    }

    fn moving(&self) -> bool {
        self.next < self.released && !self.safety_stopped
    }

    fn state(&self) -> AgvState {
        if self.safety_stopped {
            AgvState::SafetyStop
        } else if self.moving() {
            AgvState::Working
        } else if self.next < self.path.len() {
            AgvState::WaitingForRelease
        } else {
            AgvState::Idle
        }
    }

    /// Takes a command; returns the answer (none for a muted type).
    fn command(&mut self, seq: u32, m: &Message) -> Option<Message> {
        if self.mute.contains(&m.message_type()) {
            return None;
        }
        let answer = self.answer(seq, m);
        (!self.answers_lost.contains(&m.message_type())).then_some(answer)
    }

    fn answer(&mut self, seq: u32, m: &Message) -> Message {
        match m {
            Message::SafetyStop(stop) => {
                self.stops.push((stop.op, stop.episode, stop.other_agv_id));
                if stop.op == StopOp::Stop {
                    // brakes at once; the released path is void
                    self.safety_stopped = true;
                    self.path.clear();
                    self.released = 0;
                    self.next = 0;
                } else {
                    self.safety_stopped = false;
                }
                ack(seq, m, ResultCode::Ok)
            }
            Message::MotionCommand(_) if self.safety_stopped => {
                ack(seq, m, ResultCode::StateConflict)
            }
            Message::MotionCommand(c) if c.map_id != self.map_id => {
                ack(seq, m, ResultCode::MapMismatch)
            }
            Message::MotionCommand(c) => {
                let first = &c.nodes[0];
                let at_first = (first.pose.x - self.x).hypot(first.pose.y - self.y) < 0.05;
                // A later segment continues the current path from its first node, a released
                // node not yet passed (docs/protocol.md 6.6).
                let continues = (c.task_id == self.task_id && c.map_id == self.map_id && !at_first)
                    .then(|| {
                        let from = self.next.saturating_sub(1);
                        (from..self.released.min(self.path.len()))
                            .rev()
                            .find(|&k| self.path[k].node_id == first.node_id)
                    })
                    .flatten();
                // neither a continuation nor a new path (sequence 0, or where it stands at the
                // end of its path): a segment of a path it forgot (docs/protocol.md 6.6)
                if continues.is_none() && first.sequence != 0 && (self.path.is_empty() || !at_first)
                {
                    return ack(seq, m, ResultCode::StateConflict);
                }
                match continues {
                    Some(k) => {
                        self.path.truncate(k);
                        self.path.extend(c.nodes.iter().cloned());
                        self.released = k + usize::from(c.released_nodes);
                    }
                    None => {
                        // a new path: it starts where it stands (or drives straight to it)
                        self.task_id = c.task_id;
                        self.map_id = c.map_id;
                        self.next = usize::from(at_first);
                        if at_first {
                            self.last_node_id = first.node_id;
                        }
                        self.path = c.nodes.clone();
                        self.released = usize::from(c.released_nodes);
                    }
                }
                ack(seq, m, ResultCode::Ok)
            }
            Message::TaskControl(t) if t.op == TaskOp::Cancel => {
                if self.cancel_at_released_end {
                    // it stops at the end of what was released; nothing more comes
                    self.path.truncate(self.released);
                } else {
                    self.path.clear();
                    self.released = 0;
                    self.next = 0;
                }
                self.task_id = 0;
                ack(seq, m, ResultCode::Ok)
            }
            Message::ChargeControl(c) => {
                self.charging = c.op == ChargeOp::Start;
                ack(seq, m, ResultCode::Ok)
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
            Message::MapSwitch(ms) => {
                self.map_id = ms.target_map_id;
                self.x = ms.initial_pose.x;
                self.y = ms.initial_pose.y;
                self.navigation = ms.navigation;
                self.path.clear();
                self.released = 0;
                self.next = 0;
                MapSwitchResult {
                    request_seq: seq,
                    result: ResultCode::Ok,
                    map_id: ms.target_map_id,
                    localisation_quality: 90,
                    pose: ms.initial_pose.clone(),
                }
                .into()
            }
            other => ack(seq, other, ResultCode::Ok),
        }
    }

    /// Drives for `dt` seconds.
    fn step(&mut self, dt: f64) {
        let mut budget = self.speed * dt;
        while self.moving() && budget > 0.0 {
            let target = &self.path[self.next];
            let (dx, dy) = (target.pose.x - self.x, target.pose.y - self.y);
            let d = dx.hypot(dy);
            if d <= budget {
                self.x = target.pose.x;
                self.y = target.pose.y;
                self.last_node_id = target.node_id;
                self.next += 1;
                budget -= d;
            } else {
                self.theta = dy.atan2(dx);
                self.x += dx / d * budget;
                self.y += dy / d * budget;
                budget = 0.0;
            }
        }
        if !self.moving() && self.next >= self.path.len() && !self.path.is_empty() {
            // done: the task is over on the AGV's side
        }
    }

    fn status(&self) -> Message {
        let Message::StatusReport(mut s) = status_at(self.x, self.state()) else {
            unreachable!()
        };
        s.map_id = self.map_id;
        s.pose = Pose {
            x: self.x,
            y: self.y,
            theta: self.theta,
        };
        s.navigation_mode = self.navigation;
        s.battery_pct = self.battery_pct;
        s.charging = self.charging;
        s.last_node_id = self.last_node_id;
        s.task_id = self.task_id;
        s.grant_id = self.grant_id;
        if self.moving() {
            s.velocity.vx = self.speed as f32;
        }
        s.into()
    }
}

/// How a background AGV answers a command: `Some(message)` to respond with it, `None` to stay
/// silent.
pub type Answer = Box<dyn Fn(u32, &Message) -> Option<Message> + Send>;

/// Acks every command with `Ok`.
pub fn ack_all() -> Answer {
    Box::new(|seq, m| Some(ack(seq, m, ResultCode::Ok)))
}

pub fn ack(seq: u32, m: &Message, result: ResultCode) -> Message {
    Ack {
        request_seq: seq,
        request_type: m.message_type(),
        result,
        detail: String::new(),
    }
    .into()
}

/// An AGV running in the background: it registers, reports status every 100 ms and answers
/// commands with `answer`, until stopped; `silence` makes it stop sending anything (its TCP
/// connection stays open).
pub struct BackgroundAgv {
    pub driver: Option<Arc<Mutex<Driver>>>,
    requests: tokio::sync::mpsc::UnboundedSender<(Message, oneshot::Sender<Message>)>,
    pub events: Arc<Mutex<Vec<AgvEvent>>>,
    pub commands: Arc<Mutex<Vec<Message>>>,
    pub silent: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl BackgroundAgv {
    pub fn spawn<K: AgvCrypto + Send + 'static>(
        server: &Server,
        agv: AgvSession<K>,
        answer: Answer,
    ) -> Self
    where
        K::Channel: Send,
    {
        Self::spawn_at(server, agv, answer, 3.5)
    }

    /// As `spawn`, reporting `x` as its position.
    pub fn spawn_at<K: AgvCrypto + Send + 'static>(
        server: &Server,
        agv: AgvSession<K>,
        answer: Answer,
        x: f64,
    ) -> Self
    where
        K::Channel: Send,
    {
        Self::spawn_with(server, agv, answer, Driver::at(x, 1.25), false)
    }

    /// An AGV that drives: it follows released path nodes, answers motion, task-control,
    /// navigation- and map-switch commands, and reports its pose and last node.
    pub fn spawn_driving<K: AgvCrypto + Send + 'static>(
        server: &Server,
        agv: AgvSession<K>,
        driver: Driver,
    ) -> Self
    where
        K::Channel: Send,
    {
        Self::spawn_with(server, agv, ack_all(), driver, true)
    }

    fn spawn_with<K: AgvCrypto + Send + 'static>(
        server: &Server,
        mut agv: AgvSession<K>,
        answer: Answer,
        driver: Driver,
        driving: bool,
    ) -> Self
    where
        K::Channel: Send,
    {
        let driver = Arc::new(Mutex::new(driver));
        let drv = driver.clone();
        let (requests, mut incoming) =
            tokio::sync::mpsc::unbounded_channel::<(Message, oneshot::Sender<Message>)>();
        let events = Arc::new(Mutex::new(Vec::new()));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let silent = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let addr = server.agv_addr;
        let (ev, cmds, quiet) = (events.clone(), commands.clone(), silent.clone());
        let task = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            agv.connect(now_ms()).unwrap();
            let mut buf = vec![0u8; 65536];
            let mut next_report = 0u64;
            let mut last_step = now_ms();
            let mut waiting: std::collections::HashMap<u32, oneshot::Sender<Message>> =
                std::collections::HashMap::new();
            let mut cut = false;
            loop {
                let quiet = quiet.load(Ordering::Relaxed);
                while let Some(e) = agv.poll_event() {
                    if let AgvEvent::Command { seq, message } = &e {
                        cmds.lock().unwrap().push(message.clone());
                        let reply = if driving {
                            drv.lock().unwrap().command(*seq, message)
                        } else {
                            answer(*seq, message)
                        };
                        if let Some(reply) = reply {
                            let _ = agv.respond(now_ms(), reply);
                        }
                    }
                    if let AgvEvent::Response {
                        request_seq,
                        message,
                    } = &e
                        && let Some(reply) = waiting.remove(request_seq)
                    {
                        let _ = reply.send(message.clone());
                    }
                    ev.lock().unwrap().push(e);
                }
                if driving {
                    let now = now_ms();
                    drv.lock().unwrap().step((now - last_step) as f64 / 1000.0);
                    last_step = now;
                }
                if agv.is_established() && now_ms() >= next_report && !quiet {
                    let (report, every) = {
                        let d = drv.lock().unwrap();
                        (d.status(), d.report_every_ms)
                    };
                    let _ = agv.send(now_ms(), report, false);
                    next_report = now_ms() + every;
                }
                while let Some(f) = agv.poll_transmit() {
                    if quiet {
                        continue;
                    }
                    if stream.write_all(&f).await.is_err() {
                        return;
                    }
                }
                if agv.is_closed() {
                    return;
                }
                let sleep = Duration::from_millis(50);
                tokio::select! {
                    r = stream.read(&mut buf), if !cut => match r {
                        Ok(0) | Err(_) => {
                            ev.lock().unwrap().push(AgvEvent::LinkLost);
                            if !quiet {
                                return;
                            }
                            // a silent AGV behind a broken network does not see the close:
                            // it drives on what it was released
                            cut = true;
                        }
                        Ok(n) => if !quiet { agv.handle_input(now_ms(), &buf[..n]) },
                    },
                    () = tokio::time::sleep(sleep) => if !quiet { agv.handle_timeout(now_ms()) },
                    Some((message, reply)) = incoming.recv() => {
                        if let Ok(seq) = agv.send(now_ms(), message, true) {
                            waiting.insert(seq, reply);
                        }
                    }
                    _ = &mut stopped => {
                        agv.close(now_ms(), CloseReason::Shutdown);
                        while let Some(f) = agv.poll_transmit() {
                            let _ = stream.write_all(&f).await;
                        }
                        return;
                    }
                }
            }
        });
        Self {
            driver: driving.then_some(driver),
            requests,
            events,
            commands,
            silent,
            stop: Some(stop),
            task,
        }
    }

    /// Sends `message` as a request (ACK_REQUESTED) and waits up to 5 s for the answer.
    pub async fn request(&self, message: Message) -> Message {
        let (tx, rx) = oneshot::channel();
        self.requests.send((message, tx)).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("an answer within 5 s")
            .expect("the AGV task is running")
    }

    /// Where a driving AGV is: `(x, y, last node)`.
    pub fn position(&self) -> Option<(f64, f64, u32)> {
        self.driver
            .as_ref()
            .map(|d| d.lock().unwrap())
            .map(|d| (d.x, d.y, d.last_node_id))
    }

    pub fn has_event(&self, f: impl Fn(&AgvEvent) -> bool) -> bool {
        self.events.lock().unwrap().iter().any(f)
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Waits up to 10 s for `cond`.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP client with a 20 s timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The text of `GET path` without a token (a page, `/metrics`).
pub async fn text(s: &Running, path: &str) -> String {
    client()
        .get(s.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `GET path` with an optional bearer token: the status and the JSON body (null if none).
pub async fn get(s: &Running, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut r = client().get(s.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// `method path` with an optional token and JSON body: the status and the JSON body.
pub async fn request(
    s: &Running,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut r = client().request(method, s.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}
