//! The VDA 5050 gateway (docs/vda5050.md): VDA 5050 vehicles on an MQTT broker become AGVs of
//! the fleet, beside the guide's binary protocol. One task drives [`vda5050::Master`] (the
//! sans-I/O master-control end) with what the broker delivers and publishes what it hands back;
//! a second task pumps the MQTT connection.
//!
//! Each vehicle online holds its AGV id in [`crate::connections::Connections`] exactly as a
//! binary connection does, so the dispatcher, safety stops and the API reach it through the same
//! bounded queue of orders. What the dispatcher sends becomes VDA 5050 (motion commands become
//! orders and order updates, task controls and safety stops instant actions), and the vehicle's
//! `state` becomes a status report that goes through [`crate::agv_link`], the same path as a
//! guide AGV's: one space table, one traffic core, one safety check for both kinds of vehicle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::message::{Message, MessageType, StatusReport};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use vda5050::action::{self, Action};
use vda5050::factsheet::Factsheet;
use vda5050::guide;
use vda5050::master::{Master, MasterEvent, Sent, VehicleKey};
use vda5050::state::State;
use vda5050::version::Version;

mod commands;

use crate::connections::{CommandError, Order, QUEUE};
use crate::db::Vda5050Vehicle;
use crate::fleet::Protocol;
use crate::metrics::kind;
use crate::state::{Shared, now_ms};

/// The largest MQTT packet taken or sent (a state of a long order is a few tens of KiB).
const MAX_PACKET: usize = 1024 * 1024;
/// Messages from the broker waiting for the gateway: the pump waits (and the broker's TCP
/// connection with it) when the gateway falls behind.
const INPUT_QUEUE: usize = 4096;
/// Orders from the fleet's side (every vehicle's queue feeds this one).
const ORDER_QUEUE: usize = 1024;
/// How often vehicles' liveness and the answers' deadlines are looked at, at least.
const TICK: Duration = Duration::from_secs(1);
/// How long a repeated complaint about the same sender stays quiet (and a refused vehicle waits
/// before its claim is tried again).
const QUIET_MS: u64 = 10_000;

type Reply = oneshot::Sender<Result<Message, CommandError>>;

/// What the MQTT pump hands the gateway.
enum Input {
    /// Connected (again) to the broker, subscriptions made.
    Connected,
    /// The connection to the broker is lost: every vehicle is offline until it is back.
    Lost,
    /// A message.
    Message(String, bytes::Bytes),
}

/// A command waiting for the vehicle's state to answer it.
struct Waiting {
    generation: u64,
    reply: Reply,
    message_type: MessageType,
    /// What was sent for it, not answered yet.
    pending: Vec<Sent>,
    /// Refused: the first reason given.
    refused: Option<String>,
    /// `cancelOrder` may fail for want of an order (nothing to cancel): not a refusal.
    cancel_may_fail: bool,
}

/// The order a vehicle runs, as sent.
struct SentOrder {
    task_id: u32,
    order_id: String,
    /// The last node of its base: (node id, sequence id). An update starts there.
    base_end: (u32, u16),
}

/// A vehicle online in the fleet.
struct Vehicle {
    agv_id: u32,
    session_id: u32,
    registered: bool,
    last_seen_ms: u64,
    waiting: Vec<Waiting>,
    /// The generation of the last command taken.
    taken: u64,
    order: Option<SentOrder>,
    /// In an episode of states refused (not mapped, or off the site): logged once.
    refusing: bool,
    /// Just came (back) online: not registered until a state shows it standing without an
    /// order. A VDA 5050 vehicle, unlike a guide AGV, may go on driving an order while its link
    /// is down (or from before a restart of the RCS); the fleet takes it only once that order
    /// is cancelled and it stands.
    settling: Settling,
    /// When its factsheet was last asked for (0: never), and how often in this episode.
    factsheet_asked: (u64, u32),
}

/// Where a vehicle that came online is in settling ([`Vehicle::settling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settling {
    /// Waiting for a state.
    Waiting,
    /// Its order is being cancelled.
    Cancelling,
    /// Settled: it stands without an order.
    Done,
}

/// The gateway's state.
struct Gateway {
    shared: Arc<Shared>,
    master: Master,
    client: AsyncClient,
    /// AGV ids by vehicle (persisted).
    ids: HashMap<VehicleKey, u32>,
    /// Factsheets received, by vehicle.
    factsheets: HashMap<VehicleKey, Box<Factsheet>>,
    online: HashMap<VehicleKey, Vehicle>,
    by_agv: HashMap<u32, VehicleKey>,
    orders_tx: mpsc::Sender<(u32, u32, Order)>,
    next_action: u64,
    invalid_seen: u64,
    /// Invalid messages from unknown senders: logged again from (UTC ms), and how many were
    /// not logged since.
    unknown_invalid: (u64, u64),
    /// Vehicles refused their AGV id (a guide AGV holds it), and when: tried again after
    /// [`QUIET_MS`], reported once per episode.
    refused: HashMap<VehicleKey, u64>,
}

/// Runs the gateway until the server stops (nothing without `--mqtt-url` or `--mqtt-listen`).
pub async fn run(shared: Arc<Shared>) {
    let (host, port) = match shared.config.mqtt_broker() {
        None => return,
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            tracing::error!("VDA 5050 gateway not started: {e}");
            return;
        }
    };
    // unique per gateway: a broker drops a client whose id another connection takes (two
    // servers of one process, tests and a standby taking over, each have their own)
    static GATEWAYS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let client_id = format!(
        "rcs-{}-{}-{}-{}",
        shared.config.instance_id.as_deref().unwrap_or("server"),
        shared.config.vda5050_interface,
        std::process::id(),
        GATEWAYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut options = MqttOptions::new(client_id, host.clone(), port);
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_clean_session(true);
    let (client, eventloop) = AsyncClient::new(options, 1024);
    let mut master = Master::new(&shared.config.vda5050_interface);
    master.answer_timeout_ms = shared.config.command_timeout_ms;
    let ids = match shared.db.vda5050_vehicles().await {
        Ok(rows) => ids_of(rows),
        Err(e) => {
            tracing::error!(error = %e, "VDA 5050 gateway not started: its vehicle table cannot be read");
            return;
        }
    };
    let (in_tx, mut in_rx) = mpsc::channel(INPUT_QUEUE);
    let pump = tokio::spawn(pump(
        eventloop,
        client.clone(),
        master.subscriptions(),
        in_tx,
    ));
    let (orders_tx, mut orders_rx) = mpsc::channel(ORDER_QUEUE);
    let mut gateway = Gateway {
        shared: shared.clone(),
        master,
        client,
        ids,
        factsheets: HashMap::new(),
        online: HashMap::new(),
        by_agv: HashMap::new(),
        orders_tx,
        next_action: 0,
        invalid_seen: 0,
        unknown_invalid: (0, 0),
        refused: HashMap::new(),
    };
    tracing::info!(broker = %format!("{host}:{port}"), interface = %shared.config.vda5050_interface, "VDA 5050 gateway started");
    let mut stop = shared.stop_signal();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            input = in_rx.recv() => match input {
                Some(Input::Message(topic, payload)) => {
                    gateway.master.handle_message(now_ms(), &topic, &payload);
                }
                Some(Input::Connected) => tracing::info!("VDA 5050 gateway: connected to the broker"),
                Some(Input::Lost) => gateway.all_offline("broker connection lost").await,
                None => break,
            },
            Some((agv, session, order)) = orders_rx.recv() => gateway.order(agv, session, order),
            _ = tick.tick() => {
                gateway.master.handle_timeout(now_ms());
                gateway.check_liveness().await;
            }
            _ = stop.changed() => break,
        }
        gateway.handle_events().await;
        gateway.publish().await;
    }
    gateway.all_offline("server stopping").await;
    let _ = gateway.client.try_disconnect();
    pump.abort();
}

/// Polls the MQTT connection: subscribes on every (re)connection, hands messages on, and waits
/// a little before reconnecting after an error.
async fn pump(
    mut eventloop: EventLoop,
    client: AsyncClient,
    subscriptions: Vec<String>,
    tx: mpsc::Sender<Input>,
) {
    let mut connected = false;
    let mut pause = Duration::from_millis(200);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                pause = Duration::from_millis(200);
                for topic in &subscriptions {
                    // the connection topic at QoS 1 (VDA 5050), the rest at 0
                    let qos = if topic.ends_with("/connection") {
                        QoS::AtLeastOnce
                    } else {
                        QoS::AtMostOnce
                    };
                    if client.subscribe(topic, qos).await.is_err() {
                        return;
                    }
                }
                if tx.send(Input::Connected).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if tx.send(Input::Message(p.topic, p.payload)).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if std::mem::replace(&mut connected, false) {
                    tracing::warn!(error = %e, "VDA 5050 gateway: broker connection lost");
                    if tx.send(Input::Lost).await.is_err() {
                        return;
                    }
                } else {
                    tracing::debug!(error = %e, "VDA 5050 gateway: broker not reachable");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

impl Gateway {
    /// Handles what the master made of the messages.
    async fn handle_events(&mut self) {
        let invalid = self.master.invalid_count();
        if invalid > self.invalid_seen {
            self.shared
                .metrics
                .protocol_errors
                .get_or_create(&kind("kind", "vda5050:invalid"))
                .inc_by(invalid - self.invalid_seen);
            self.invalid_seen = invalid;
        }
        while let Some(event) = self.master.poll_event() {
            match event {
                MasterEvent::Online { vehicle, version } => {
                    self.came_online(&vehicle, version).await;
                }
                MasterEvent::Offline { vehicle, broken } => {
                    let why = if broken {
                        "connection broken (last will)"
                    } else {
                        "went offline"
                    };
                    self.went_offline(&vehicle, why).await;
                }
                MasterEvent::State { vehicle, state } => self.on_state(&vehicle, &state).await,
                MasterEvent::Factsheet { vehicle, factsheet } => {
                    self.factsheets.insert(vehicle.clone(), factsheet);
                    self.try_register(&vehicle).await;
                }
                MasterEvent::Accepted { vehicle, sent } => self.answered(&vehicle, &sent, None),
                MasterEvent::Refused {
                    vehicle,
                    sent,
                    reason,
                } => self.answered(&vehicle, &sent, Some(reason)),
                MasterEvent::Unanswered { vehicle, sent } => self.unanswered(&vehicle, &sent),
                MasterEvent::Invalid {
                    vehicle,
                    topic,
                    error,
                } => {
                    // the master reports a known vehicle's once per episode; anything else
                    // (no vehicle in the topic, or one never valid) at most once per interval
                    let known = vehicle
                        .as_ref()
                        .is_some_and(|v| self.master.version(v).is_some());
                    let now = now_ms();
                    if !known && now < self.unknown_invalid.0 {
                        self.unknown_invalid.1 += 1;
                        continue;
                    }
                    let suppressed = if known {
                        0
                    } else {
                        self.unknown_invalid = (now + QUIET_MS, 0);
                        std::mem::take(&mut self.unknown_invalid.1)
                    };
                    let agv_id = vehicle.as_ref().and_then(|v| self.ids.get(v)).copied();
                    tracing::warn!(?agv_id, %topic, suppressed, "VDA 5050 message refused: {error}");
                }
            }
        }
    }

    /// Publishes what the master has to send (waiting for room in the client's queue: the pump
    /// drains it).
    async fn publish(&mut self) {
        while let Some(p) = self.master.poll_publish() {
            tracing::trace!(topic = %p.topic, payload = %String::from_utf8_lossy(&p.payload), "publish");
            if let Err(e) = self
                .client
                .publish(p.topic, QoS::AtMostOnce, false, p.payload)
                .await
            {
                tracing::error!(error = %e, "VDA 5050 gateway: publish failed");
            }
        }
    }

    /// The AGV id of `vehicle`: its stored one, or the next free one (stored first).
    async fn agv_id(&mut self, vehicle: &VehicleKey, version: Version) -> Option<u32> {
        if let Some(id) = self.ids.get(vehicle) {
            return Some(*id);
        }
        let taken: std::collections::HashSet<u32> = self.ids.values().copied().collect();
        let mut id = self.shared.config.vda5050_first_id;
        while taken.contains(&id) || self.shared.fleet.get(id).is_some() {
            id = id.checked_add(1)?;
        }
        let row = Vda5050Vehicle {
            manufacturer: vehicle.manufacturer.clone(),
            serial_number: vehicle.serial_number.clone(),
            agv_id: id,
            version: version.major_minor().to_owned(),
            updated_at: now_ms() as i64,
        };
        if let Err(e) = self.shared.db.set_vda5050_vehicle(&row).await {
            tracing::error!(error = %e, ?vehicle, "VDA 5050 vehicle not stored: not admitted");
            return None;
        }
        tracing::info!(agv_id = id, manufacturer = %vehicle.manufacturer, serial = %vehicle.serial_number, "VDA 5050 vehicle given an AGV id");
        self.ids.insert(vehicle.clone(), id);
        Some(id)
    }

    /// The vehicle is there: it takes its AGV id (refused while a guide AGV holds it).
    async fn came_online(&mut self, vehicle: &VehicleKey, version: Version) {
        if self.online.contains_key(vehicle) {
            return;
        }
        let now = now_ms();
        let refused_at = self.refused.get(vehicle).copied();
        if refused_at.is_some_and(|t| now.saturating_sub(t) < QUIET_MS) {
            return;
        }
        // the table may have changed through the API
        if let Ok(rows) = self.shared.db.vda5050_vehicles().await {
            self.ids = ids_of(rows);
        }
        let Some(agv_id) = self.agv_id(vehicle, version).await else {
            return;
        };
        let session_id = self.shared.next_session_id();
        let (tx, mut rx) = mpsc::channel::<Order>(QUEUE);
        if let Err(claimed) = self.shared.connections.claim(agv_id, session_id, false, tx) {
            self.shared.metrics.refused_claims.inc();
            if refused_at.is_none() {
                tracing::warn!(agv_id, ?vehicle, "VDA 5050 vehicle refused: {claimed}");
                self.shared.events.publish(
                    "agv.refused",
                    Some(agv_id),
                    "server",
                    json!({ "reason": "already connected", "peer": peer(vehicle) }),
                );
            }
            self.refused.insert(vehicle.clone(), now);
            return;
        }
        self.refused.remove(vehicle);
        // this vehicle's orders into the gateway's queue (ends when its id is released)
        let orders = self.orders_tx.clone();
        tokio::spawn(async move {
            while let Some(order) = rx.recv().await {
                if orders.send((agv_id, session_id, order)).await.is_err() {
                    return;
                }
            }
        });
        tracing::info!(agv_id, ?vehicle, %version, "VDA 5050 vehicle online");
        let link = crate::agv_link::LinkInfo {
            mode: protocol::message::AccessMode::Normal,
            profile: protocol::message::SecureProfile::Guide,
            protocol: Protocol::Vda5050(version),
            peer: peer(vehicle),
        };
        crate::agv_link::came_online(&self.shared, agv_id, session_id, &link).await;
        self.online.insert(
            vehicle.clone(),
            Vehicle {
                agv_id,
                session_id,
                registered: false,
                last_seen_ms: now_ms(),
                waiting: Vec::new(),
                taken: 0,
                order: None,
                refusing: false,
                settling: Settling::Waiting,
                factsheet_asked: (0, 0),
            },
        );
        self.by_agv.insert(agv_id, vehicle.clone());
        if self.factsheets.contains_key(vehicle) {
            self.try_register(vehicle).await;
        } else {
            self.ask_factsheet(vehicle);
        }
    }

    /// Asks an online vehicle for its factsheet. A factsheet is not retained: one published
    /// before the gateway subscribed (a 2.0 vehicle may publish it only as it connects, and not
    /// know `factsheetRequest`) is lost, and the vehicle would stay without tasks. So it is
    /// asked again every [`QUIET_MS`] until one comes (from the second time with a warning).
    fn ask_factsheet(&mut self, vehicle: &VehicleKey) {
        let now = now_ms();
        let Some(v) = self.online.get_mut(vehicle) else {
            return;
        };
        v.factsheet_asked = (now, v.factsheet_asked.1 + 1);
        if v.factsheet_asked.1 == 2 {
            tracing::warn!(
                agv_id = v.agv_id,
                ?vehicle,
                "VDA 5050 vehicle has sent no factsheet: no tasks until it does (asked again every 10 s)"
            );
        }
        self.next_action += 1;
        let id = format!("rcs-factsheet-{}", self.next_action);
        let _ = self.master.send_instant(
            now,
            vehicle,
            vec![Action::instant(action::FACTSHEET_REQUEST, &id)],
        );
    }

    /// Registers an online vehicle from its factsheet.
    async fn try_register(&mut self, vehicle: &VehicleKey) {
        let (Some(v), Some(factsheet)) = (self.online.get(vehicle), self.factsheets.get(vehicle))
        else {
            return;
        };
        if v.registered || v.settling != Settling::Done {
            return;
        }
        let (agv_id, session_id) = (v.agv_id, v.session_id);
        let req = guide::register_of(factsheet, &vehicle.serial_number);
        match crate::agv_link::register(&self.shared, agv_id, session_id, &req).await {
            Ok(()) => {
                if let Some(v) = self.online.get_mut(vehicle) {
                    v.registered = true;
                }
                tracing::info!(agv_id, "VDA 5050 vehicle registered from its factsheet");
            }
            Err(e) => tracing::warn!(agv_id, "VDA 5050 vehicle not registered: {e}"),
        }
    }

    /// The vehicle is gone (it said so, its last will came, it fell silent, or the broker
    /// connection broke): offline, its space kept blocked ([`crate::agv_link::went_offline`]).
    async fn went_offline(&mut self, vehicle: &VehicleKey, why: &str) {
        // a refused vehicle's episode ends when it goes
        self.refused.remove(vehicle);
        let Some(v) = self.online.remove(vehicle) else {
            return;
        };
        self.by_agv.remove(&v.agv_id);
        tracing::warn!(
            agv_id = v.agv_id,
            ?vehicle,
            "VDA 5050 vehicle offline: {why}"
        );
        for w in v.waiting {
            let _ = w.reply.send(Err(CommandError::Disconnected));
        }
        if self.shared.connections.release(v.agv_id, v.session_id) {
            crate::agv_link::went_offline(&self.shared, v.agv_id, v.session_id).await;
        }
        crate::agv_link::close_session_row(&self.shared, v.session_id, "closed");
    }

    async fn all_offline(&mut self, why: &str) {
        let keys: Vec<VehicleKey> = self.online.keys().cloned().collect();
        for key in keys {
            self.went_offline(&key, why).await;
        }
    }

    /// Vehicles silent for longer than `--vda5050-timeout-ms` are offline.
    async fn check_liveness(&mut self) {
        let limit = self.shared.config.vda5050_timeout_ms;
        let now = now_ms();
        let silent: Vec<VehicleKey> = self
            .online
            .iter()
            .filter(|(_, v)| now.saturating_sub(v.last_seen_ms) > limit)
            .map(|(k, _)| k.clone())
            .collect();
        for key in silent {
            self.went_offline(&key, "silent for longer than --vda5050-timeout-ms")
                .await;
        }
        // online without a factsheet: asked again
        let unsheeted: Vec<VehicleKey> = self
            .online
            .iter()
            .filter(|(k, v)| {
                !self.factsheets.contains_key(*k)
                    && now.saturating_sub(v.factsheet_asked.0) >= QUIET_MS
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in unsheeted {
            self.ask_factsheet(&key);
        }
        // refused vehicles that fell silent: their episode is over
        let master = &self.master;
        self.refused.retain(|k, _| {
            master
                .last_seen_ms(k)
                .is_some_and(|t| now.saturating_sub(t) <= limit)
        });
    }

    /// A state: the vehicle's status report, through the path a guide AGV's takes.
    async fn on_state(&mut self, vehicle: &VehicleKey, state: &State) {
        if !self.online.contains_key(vehicle) {
            // a state comes only from a vehicle that is there (its `connection` may have been
            // missed, or it came before the broker connection was back)
            let Some(version) = self.master.version(vehicle) else {
                return;
            };
            self.came_online(vehicle, version).await;
        }
        let shared = self.shared.clone();
        let Some(v) = self.online.get_mut(vehicle) else {
            return;
        };
        v.last_seen_ms = now_ms();
        if v.settling != Settling::Done {
            if state.driving || !state.node_states.is_empty() {
                if v.settling == Settling::Waiting {
                    // an order the fleet did not give in this session: cancelled first
                    tracing::warn!(
                        agv_id = v.agv_id,
                        order = %state.order_id,
                        "VDA 5050 vehicle came online running an order: cancelling it before it joins the fleet"
                    );
                    v.settling = Settling::Cancelling;
                    self.next_action += 1;
                    let id = format!("rcs-{}-settle", self.next_action);
                    let _ = self.master.send_instant(
                        now_ms(),
                        vehicle,
                        vec![Action::instant(action::CANCEL_ORDER, &id)],
                    );
                }
                return;
            }
            v.settling = Settling::Done;
            self.try_register(vehicle).await;
            return;
        }
        if !v.registered {
            // where a vehicle is counts once its footprint is known (its factsheet)
            return;
        }
        let received = std::time::Instant::now();
        let mut status: StatusReport = match guide::status_of(state, &*shared.site) {
            Ok(s) => s,
            Err(e) => {
                refuse_state(&shared, v, &e.to_string());
                return;
            }
        };
        if let Err(detail) = crate::agv_link::admit_status(&shared, v.agv_id, &mut status) {
            refuse_state(&shared, v, &detail);
            return;
        }
        v.refusing = false;
        // What this state can tell: the vehicle after every command answered before it.
        let covers = v
            .waiting
            .iter()
            .map(|w| w.generation - 1)
            .min()
            .unwrap_or(v.taken);
        crate::agv_link::take_status(
            &shared,
            v.agv_id,
            v.session_id,
            now_ms(),
            covers,
            &mut status,
            Some(received),
        );
    }
}

/// A refused state: counted, logged once per episode, nothing of it used.
fn refuse_state(shared: &Shared, v: &mut Vehicle, why: &str) {
    shared
        .metrics
        .protocol_errors
        .get_or_create(&kind("kind", "vda5050:state_refused"))
        .inc();
    if !std::mem::replace(&mut v.refusing, true) {
        tracing::warn!(agv_id = v.agv_id, "VDA 5050 state refused: {why}");
        shared.events.publish(
            "agv.refused",
            Some(v.agv_id),
            "server",
            json!({ "reason": "state refused", "detail": why }),
        );
    }
}

/// The stored AGV ids by vehicle.
fn ids_of(rows: Vec<Vda5050Vehicle>) -> HashMap<VehicleKey, u32> {
    rows.into_iter()
        .map(|r| {
            let key = VehicleKey {
                manufacturer: r.manufacturer,
                serial_number: r.serial_number,
            };
            (key, r.agv_id)
        })
        .collect()
}

fn peer(vehicle: &VehicleKey) -> String {
    format!("mqtt:{}/{}", vehicle.manufacturer, vehicle.serial_number)
}
