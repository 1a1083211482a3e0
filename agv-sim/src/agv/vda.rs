//! One simulated VDA 5050 vehicle: the same simulated machine as a guide AGV ([`Body`]), spoken
//! to over MQTT through [`vda5050::VehicleEnd`]. Orders and order updates become the motion
//! commands the machine runs ([`vda5050::guide::motion_of`]), instant actions its pause,
//! resume, cancel and charging, and its status becomes a VDA 5050 `state`
//! ([`vda5050::guide::state_of`]) published every half second (or every `--min-status-period-ms`)
//! and after every order or instant action. It publishes `connection` (`ONLINE` retained, `CONNECTIONBROKEN` as its last will)
//! and its factsheet when it connects and when asked (`factsheetRequest`). No safe-space
//! requests: VDA 5050 has none.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocol::message::*;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::watch;
use vda5050::action::{self, Action};
use vda5050::connection::ConnectionState;
use vda5050::factsheet::Factsheet;
use vda5050::master::VehicleKey;
use vda5050::order::Order;
use vda5050::state::{ActionState, ActionStatus, ErrorLevel, VehicleError};
use vda5050::topic::TopicKind;
use vda5050::vehicle::{VehicleEnd, VehicleEvent};
use vda5050::version::Version;

use super::body::{ACCEL, Body, TOP_SPEED};
use super::{Spec, now_ms};
use crate::monitor::Monitor;
use crate::report::Stats;

/// The manufacturer simulated vehicles give (their serial number is `SIM-<id>`).
pub const MANUFACTURER: &str = "rcs-sim";

/// How often a state is published at least (unless the run's `min_status_period_ms` says
/// otherwise).
const STATE_PERIOD: Duration = Duration::from_millis(500);
/// Instant action states kept in the state (the latest).
const KEEP_INSTANT: usize = 16;

/// What a VDA 5050 vehicle is given besides its [`Spec`].
#[derive(Debug, Clone)]
pub struct VdaSpec {
    /// The broker's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The interface name (first topic level).
    pub interface: String,
    /// The version it speaks.
    pub version: Version,
}

/// The serial number of simulated vehicle `id`.
pub fn serial_number(id: u32) -> String {
    format!("SIM-{id:05}")
}

fn factsheet(end: &mut VehicleEnd) -> Factsheet {
    Factsheet {
        header: end.header(TopicKind::Factsheet, now_ms()),
        series_name: "SIM-1".into(),
        kinematics: Some("DIFF".into()),
        class: "CARRIER".into(),
        max_load_kg: 500.0,
        localization_types: vec!["NATURAL".into()],
        navigation_types: vec!["AUTONOMOUS".into()],
        length: f64::from(super::FOOTPRINT.front + super::FOOTPRINT.rear),
        width: f64::from(super::FOOTPRINT.left + super::FOOTPRINT.right),
        height_max: f64::from(super::FOOTPRINT.height),
        speed_max: TOP_SPEED,
        acceleration_max: ACCEL,
        deceleration_max: 1.0,
        actions: [
            action::PICK,
            action::DROP,
            action::START_PAUSE,
            action::STOP_PAUSE,
            action::CANCEL_ORDER,
            action::START_CHARGING,
            action::STOP_CHARGING,
            action::FACTSHEET_REQUEST,
            action::INIT_POSITION,
        ]
        .map(str::to_owned)
        .to_vec(),
    }
}

/// The simulated vehicle's protocol side.
struct Vehicle<'a> {
    spec: &'a Spec,
    site: &'a maps::Site,
    end: VehicleEnd,
    client: AsyncClient,
    stats: &'a Stats,
    /// The order the machine runs (as last applied).
    applied: Option<Order>,
    /// Instant actions done, latest last.
    instant: Vec<ActionState>,
    /// Errors of orders the machine refused (reported until the next order it takes).
    errors: Vec<VehicleError>,
    /// In pause mode (`startPause` until `stopPause`).
    paused: bool,
    /// A state is due now.
    state_due: bool,
    seq: u32,
}

/// Runs one VDA 5050 vehicle until `stop` turns true.
pub async fn run(
    spec: Spec,
    vda: VdaSpec,
    site: Arc<maps::Site>,
    monitor: Arc<Monitor>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let key = VehicleKey {
        manufacturer: MANUFACTURER.into(),
        serial_number: serial_number(spec.id),
    };
    let mut end = VehicleEnd::new(&vda.interface, key, vda.version);
    let will = match end.connection(now_ms(), ConnectionState::ConnectionBroken) {
        Ok(w) => w,
        Err(e) => {
            stats.error(&format!("vda5050 last will: {e}"));
            return;
        }
    };
    // (a client id of its own per run: a broker drops a client whose id another takes)
    let mut options = MqttOptions::new(
        format!(
            "{}-{}-{}-{}",
            vda.interface,
            MANUFACTURER,
            serial_number(spec.id),
            std::process::id()
        ),
        vda.host.clone(),
        vda.port,
    );
    options
        .set_keep_alive(Duration::from_secs(5))
        .set_max_packet_size(1 << 20, 1 << 20)
        .set_last_will(LastWill::new(
            will.topic,
            will.payload,
            QoS::AtLeastOnce,
            true,
        ));
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let mut body = Body::new(&spec, 80.0);
    monitor.set(spec.id, body.position());
    let mut v = Vehicle {
        spec: &spec,
        site: &site,
        end,
        client,
        stats: &stats,
        applied: None,
        instant: Vec::new(),
        errors: Vec::new(),
        paused: false,
        state_due: false,
        seq: 0,
    };
    let scale = spec.time_scale.max(0.01);
    let started = Instant::now();
    let mut last = Instant::now();
    let mut held = body.held();
    monitor.held(spec.id, held.clone());
    let mut connected = false;
    let mut next_state = Instant::now();
    let state_period = match spec.min_status_period_ms {
        0 => STATE_PERIOD,
        ms => Duration::from_millis(ms),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(50).min(state_period));
    loop {
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    v.on_connected(&mut body);
                    if !connected {
                        connected = true;
                        body.sessions += 1;
                        stats.connected.fetch_add(1, Ordering::Relaxed);
                        if let Some(since) = body.offline_since.take() {
                            stats.offline(spec.id, since.elapsed());
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    stats.frames_received.fetch_add(1, Ordering::Relaxed);
                    v.end.handle_message(&p.topic, &p.payload);
                    v.handle_events(&mut body);
                }
                Ok(_) => {}
                Err(_) => {
                    if std::mem::replace(&mut connected, false) {
                        stats.connected.fetch_sub(1, Ordering::Relaxed);
                        stats.disconnects.fetch_add(1, Ordering::Relaxed);
                        body.offline_since = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        // the machine
        let sim_now = started.elapsed().as_secs_f64() * scale;
        let dt = last.elapsed().as_secs_f64() * scale;
        last = Instant::now();
        let was_moving = body.moving();
        body.step(dt, sim_now);
        if was_moving != body.moving() {
            v.state_due = true;
        }
        monitor.set(spec.id, body.position());
        let now_held = body.held();
        if now_held != held {
            held = now_held;
            monitor.held(spec.id, held.clone());
            v.state_due = true;
        }
        if !body.inside_held() {
            monitor.outside(spec.id, body.position(), held.clone());
        }
        if connected && (v.state_due || Instant::now() >= next_state) {
            v.publish_state(&body);
            next_state = Instant::now() + state_period;
        }
    }
    // an orderly goodbye: OFFLINE (retained), then disconnect
    if connected && let Ok(p) = v.end.connection(now_ms(), ConnectionState::Offline) {
        let _ = v
            .client
            .try_publish(p.topic, QoS::AtLeastOnce, true, p.payload);
        let _ = v.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while eventloop.poll().await.is_ok() {}
        })
        .await;
    }
    stats.finished(spec.id, body.sessions, body.offline_since);
}

impl Vehicle<'_> {
    fn send(&self, p: vda5050::master::Publish, retain: bool) {
        let qos = if retain {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        if self
            .client
            .try_publish(p.topic, qos, retain, p.payload)
            .is_ok()
        {
            self.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.error("vda5050 publish queue full");
        }
    }

    /// Connected (again): subscribes, says it is online, publishes its factsheet and state.
    fn on_connected(&mut self, body: &mut Body) {
        if let Ok(topics) = self.end.subscriptions() {
            for t in topics {
                let _ = self.client.try_subscribe(t, QoS::AtMostOnce);
            }
        }
        match self.end.connection(now_ms(), ConnectionState::Online) {
            Ok(p) => self.send(p, true),
            Err(e) => self.stats.error(&format!("vda5050 connection: {e}")),
        }
        self.publish_factsheet();
        self.publish_state(body);
    }

    fn publish_factsheet(&mut self) {
        let sheet = factsheet(&mut self.end);
        if let Err(e) = self.end.publish_factsheet(now_ms(), sheet) {
            self.stats.error(&format!("vda5050 factsheet: {e}"));
        }
        while let Some(p) = self.end.poll_publish() {
            self.send(p, false);
        }
    }

    fn publish_state(&mut self, body: &Body) {
        self.state_due = false;
        let Message::StatusReport(report) = body.status() else {
            return;
        };
        let header = self.end.header(TopicKind::State, now_ms());
        let order = self.applied.as_ref().filter(|_| report.task_id != 0);
        let mut state = match vda5050::guide::state_of(&report, header, self.site, order) {
            Ok(s) => s,
            Err(e) => {
                self.stats.error(&format!("vda5050 state: {e}"));
                return;
            }
        };
        if let Some(o) = order {
            // the order's own id (a later path of a task has one of its own)
            state.order_id = o.order_id.clone();
            state.order_update_id = o.order_update_id;
        }
        state.paused = Some(self.paused || report.state == protocol::types::AgvState::Paused);
        state.instant_action_states = self.instant.clone();
        state.errors = self.errors.clone();
        if let Err(e) = self.end.publish_state(now_ms(), state) {
            self.stats.error(&format!("vda5050 state: {e}"));
        }
        while let Some(p) = self.end.poll_publish() {
            self.send(p, false);
        }
    }

    fn handle_events(&mut self, body: &mut Body) {
        while let Some(event) = self.end.poll_event() {
            self.state_due = true;
            match event {
                VehicleEvent::Order(order) => self.take_order(body, *order),
                VehicleEvent::Instant(a) => self.instant_action(body, a),
                VehicleEvent::Invalid { topic, error } => {
                    self.stats
                        .error(&format!("vda5050 invalid message on {topic}"));
                    tracing::warn!(agv = self.spec.id, %topic, "invalid message: {error}");
                }
            }
        }
    }

    /// An order (the whole order, updates stitched on): the machine gets the part it has not
    /// run yet as a motion command (an update starts at the last node of the base so far, as a
    /// guide AGV's continuation does).
    fn take_order(&mut self, body: &mut Body, order: Order) {
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let mut piece = order.clone();
        if let Some(prev) = self
            .applied
            .as_ref()
            .filter(|p| p.order_id == order.order_id)
            && let Some(at) = prev.nodes.iter().rposition(|n| n.released)
        {
            piece.nodes.drain(..at);
            piece.edges.drain(..at.min(piece.edges.len()));
        }
        let command = match vda5050::guide::motion_of(&piece, self.site) {
            Ok(c) => c,
            Err(e) => return self.refuse_order(&order, "orderError", &e.to_string()),
        };
        self.seq += 1;
        let answer = body.command(self.seq, &Message::MotionCommand(command));
        match answer {
            Message::Ack(a) if a.result == protocol::types::ResultCode::Ok => {
                self.errors.clear();
                if self.paused {
                    body.paused = true;
                }
                self.applied = Some(order);
            }
            Message::Ack(a) => {
                let why = format!("{:?}: {}", a.result, a.detail);
                self.refuse_order(&order, "orderUpdateError", &why);
            }
            _ => {}
        }
    }

    /// An `initPosition`: the machine switches to the map, at the pose, as after a lift ride
    /// (the guide's `MapSwitch`), and the node given is its last.
    fn init_position(&mut self, body: &mut Body, seq: u32, a: &Action) -> bool {
        let Some(Ok(at)) = vda5050::guide::init_position(a, self.site) else {
            self.stats.error("vda5050 initPosition not valid");
            return false;
        };
        let Some(map) = self.site.map(at.map_id) else {
            return false;
        };
        let navigation = self
            .site
            .node(at.last_node_id)
            .map_or(body.navigation, |n| n.navigation.to_wire());
        let switch = MapSwitch {
            target_map_id: at.map_id,
            target_map_version: map.version,
            initial_pose: at.pose,
            lift_id: 0,
            floor: map.floor,
            navigation,
        };
        let done = matches!(
            body.command(seq, &switch.into()),
            Message::MapSwitchResult(ref r) if r.result == protocol::types::ResultCode::Ok
        );
        if done {
            self.stats.map_switches.fetch_add(1, Ordering::Relaxed);
            self.stats
                .vda5050_map_switches
                .fetch_add(1, Ordering::Relaxed);
            if at.last_node_id != 0 {
                body.last_node_id = at.last_node_id;
            }
        }
        done
    }

    fn refuse_order(&mut self, order: &Order, kind: &str, why: &str) {
        self.stats.error(&format!("vda5050 order refused ({kind})"));
        tracing::warn!(agv = self.spec.id, order = %order.order_id, "order refused: {why}");
        self.errors = vec![VehicleError {
            error_type: kind.into(),
            level: ErrorLevel::Warning,
            description: Some(why.into()),
            hint: None,
            references: vec![
                ("orderId".into(), order.order_id.clone()),
                ("orderUpdateId".into(), order.order_update_id.to_string()),
            ],
        }];
    }

    fn instant_action(&mut self, body: &mut Body, a: Action) {
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        self.seq += 1;
        let seq = self.seq;
        let ok = |m: Message| matches!(m, Message::Ack(ref a) if a.result == protocol::types::ResultCode::Ok);
        let done = match a.action_type.as_str() {
            action::START_PAUSE => {
                // at once, wherever it is
                self.paused = true;
                body.paused = true;
                true
            }
            action::STOP_PAUSE => {
                self.paused = false;
                body.paused = false;
                true
            }
            action::CANCEL_ORDER => {
                if body.has_task() || body.task_id != 0 {
                    let cancel = TaskControl {
                        task_id: body.task_id,
                        op: TaskOp::Cancel,
                    };
                    let _ = body.command(seq, &cancel.into());
                }
                body.paused = self.paused;
                self.applied = None;
                self.end.cancel_order();
                true
            }
            action::START_CHARGING | action::STOP_CHARGING => ok(body.command(
                seq,
                &ChargeControl {
                    op: if a.action_type == action::START_CHARGING {
                        ChargeOp::Start
                    } else {
                        ChargeOp::Stop
                    },
                    charger_node_id: body.last_node_id,
                    target_pct: 100.0,
                }
                .into(),
            )),
            action::FACTSHEET_REQUEST => {
                self.publish_factsheet();
                true
            }
            // carried by a lift car to another map: it stands at the lift's exit there
            action::INIT_POSITION => self.init_position(body, seq, &a),
            _ => false,
        };
        self.instant.push(ActionState {
            action_id: a.action_id,
            action_type: Some(a.action_type),
            status: if done {
                ActionStatus::Finished
            } else {
                ActionStatus::Failed
            },
            result: (!done).then(|| "not supported by this vehicle".to_owned()),
        });
        if self.instant.len() > KEEP_INSTANT {
            self.instant.remove(0);
        }
    }
}
