//! The conformance suite's master-side VDA 5050 checks: an RCS that drives VDA 5050 vehicles
//! (master control) is checked through what it publishes to one simulated vehicle per version
//! (`--vda-version`), on the broker of `--mqtt-url`. The vehicle is agv-sim's simulated VDA 5050
//! vehicle; beside it an observer records every `order` and `instantActions` master control
//! publishes to it. The checks need the RCS's API (to give the vehicle its AGV id, a task,
//! pause, resume and cancel); without `--api` or `--mqtt-url` they are skipped.
//!
//! What is checked, per version: the vehicle joins the fleet from its `connection`, factsheet
//! and state; every message master control publishes reads as that version (the `vda5050`
//! crate's reader: required fields, types, sequence ids, the base a prefix of the order) with a
//! header naming the version and the vehicle of its topic; header ids count up by one per topic;
//! a new order starts at the node the vehicle stands on, an update at the last node of the base
//! before it; the task completes through the vehicle's state; pause, resume and cancel come as
//! `startPause`, `stopPause` and `cancelOrder`; a vehicle whose connection broke (its last will)
//! is given no order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use vda5050::instant::InstantActions;
use vda5050::order::Order;
use vda5050::topic::{Topic, TopicKind};
use vda5050::version::Version;

use super::{CheckResult, Outcome, Target};
use crate::agv::vda::{MANUFACTURER, VdaSpec, serial_number};
use crate::agv::{Profile, Spec};
use crate::api::Api;

/// The ids of the VDA 5050 vehicles start here, after the binary checks' ([`super::IDS_USED`]
/// counts them).
pub(super) const FIRST: u32 = 25;
/// One vehicle per version at most.
pub(super) const VEHICLES: u32 = 3;

/// Where master control's broker is.
#[derive(Debug, Clone)]
pub struct MqttTarget {
    /// The broker's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The interface name (first topic level) the RCS uses.
    pub interface: String,
    /// The versions to check, a vehicle each.
    pub versions: Vec<Version>,
}

/// How long the vehicle may take to join the fleet, and a task to complete.
const JOIN_WITHIN: Duration = Duration::from_secs(20);
const TASK_WITHIN: Duration = Duration::from_secs(60);
/// How long an instant action may take to be published after the API call.
const ACTION_WITHIN: Duration = Duration::from_secs(10);
/// How long the suite watches for an order that must not come.
const QUIET: Duration = Duration::from_secs(3);

/// A message master control published to the vehicle.
struct Seen {
    kind: TopicKind,
    payload: Bytes,
}

/// Records what master control publishes to one vehicle.
struct Observer {
    rx: mpsc::UnboundedReceiver<Seen>,
    seen: Vec<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// Subscribes to the vehicle's `order` and `instantActions`; returns once subscribed.
    async fn start(mqtt: &MqttTarget, version: Version, serial: &str) -> Result<Self, String> {
        let id = format!(
            "{}-conformance-{serial}-{}",
            mqtt.interface,
            std::process::id()
        );
        let mut options = MqttOptions::new(id, mqtt.host.clone(), mqtt.port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        for kind in [TopicKind::Order, TopicKind::InstantActions] {
            let topic = Topic::new(&mqtt.interface, version.major(), MANUFACTURER, serial, kind)
                .map_err(|e| e.to_string())?;
            client
                .subscribe(topic.to_string(), QoS::AtLeastOnce)
                .await
                .map_err(|e| e.to_string())?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut acks = 0;
            let mut subscribed_tx = Some(subscribed_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        acks += 1;
                        if acks == 2
                            && let Some(s) = subscribed_tx.take()
                        {
                            let _ = s.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let Ok(topic) = Topic::parse(&p.topic) else {
                            continue;
                        };
                        let _ = tx.send(Seen {
                            kind: topic.kind,
                            payload: p.payload,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed)
            .await
            .map_err(|_| format!("no SUBACK from the broker at {}:{}", mqtt.host, mqtt.port))?
            .map_err(|_| "the observer stopped".to_owned())?;
        Ok(Observer {
            rx,
            seen: Vec::new(),
            task,
        })
    }

    /// Takes what came so far.
    fn drain(&mut self) {
        while let Ok(s) = self.rx.try_recv() {
            self.seen.push(s);
        }
    }

    /// Waits (up to `within`) for an instant action of `action_type` after the first `from`
    /// messages.
    async fn instant(&mut self, from: usize, action_type: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            self.drain();
            let found = self.seen[from.min(self.seen.len())..].iter().any(|s| {
                s.kind == TopicKind::InstantActions
                    && InstantActions::from_json(&s.payload)
                        .is_ok_and(|m| m.actions.iter().any(|a| a.action_type == action_type))
            });
            if found {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn orders(&self) -> Vec<Result<Order, String>> {
        self.seen
            .iter()
            .filter(|s| s.kind == TopicKind::Order)
            .map(|s| Order::from_json(&s.payload).map_err(|e| e.to_string()))
            .collect()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The simulated vehicle of one version, and what the suite knows of it.
struct Vehicle {
    id: u32,
    version: Version,
    serial: String,
    start_node: u32,
    map_name: String,
    site: Arc<maps::Site>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the checks, one vehicle per version, appending their outcomes.
pub(super) async fn run(target: &Target, out: &mut Vec<Outcome>) {
    let versions = target
        .mqtt
        .as_ref()
        .map_or_else(|| vec![Version::V2_0], |m| m.versions.clone());
    for (k, version) in versions.into_iter().take(VEHICLES as usize).enumerate() {
        let id = target.first_id + FIRST + k as u32;
        for (check, result) in checks(target, version, id).await {
            let (result, detail) = match result {
                Ok(()) => ("pass", String::new()),
                Err(e) if e.starts_with("needs --") => ("skip", e),
                Err(e) => ("fail", e),
            };
            tracing::info!(section = "VDA 5050", check = %check, result);
            out.push(Outcome {
                section: "VDA 5050",
                check,
                result,
                detail,
            });
        }
    }
}

/// The checks' names, per version (in the order they run).
const CHECKS: [&str; 7] = [
    "a vehicle joins the fleet from its connection, factsheet and state",
    "orders read as the vehicle's version, with a header of their topic",
    "header ids count up by one per topic",
    "a new order starts where the vehicle stands, an update at the end of the base",
    "the task completes through the vehicle's state",
    "pause, resume and cancel come as startPause, stopPause and cancelOrder",
    "a vehicle whose connection broke (last will) is given no order",
];

async fn checks(target: &Target, version: Version, id: u32) -> Vec<(String, CheckResult)> {
    // (the version in the name: one row per version)
    let named = |results: Vec<CheckResult>| {
        CHECKS
            .iter()
            .map(|c| format!("{version}: {c}"))
            .zip(results)
            .collect::<Vec<_>>()
    };
    let all = |e: &str| named(vec![Err(e.to_owned()); CHECKS.len()]);
    let Some(api) = target.api.clone() else {
        return all("needs --api");
    };
    let Some(mqtt) = target.mqtt.clone() else {
        return all("needs --mqtt-url");
    };
    if target.keep_agvs {
        return all("needs --api without --keep-agvs (the binary checks' AGVs hold the free spot)");
    }
    let mut results = Vec::new();
    let (vehicle, mut observer) = match start(&api, &mqtt, version, id).await {
        Ok(v) => v,
        Err(e) => return all(&format!("the vehicle could not be started: {e}")),
    };

    // 1: it joins
    let joined = wait_for(JOIN_WITHIN, || async {
        api.agv(id)
            .await
            .is_ok_and(|a| a["online"] == true && a["session"]["registered"] == true)
    })
    .await;
    results.push(if joined {
        Ok(())
    } else {
        Err(format!(
            "AGV {id} not online and registered within {JOIN_WITHIN:?}"
        ))
    });
    if !joined {
        stop(vehicle, false).await;
        while results.len() < CHECKS.len() {
            results.push(Err("the vehicle did not join".into()));
        }
        return named(results);
    }

    // 2-5: a task there and back
    let done = match destination(&vehicle) {
        Ok(dest) => drive(&api, id, dest).await,
        Err(e) => Err(e),
    };
    observer.drain();
    let orders = observer.orders();
    results.push(readable(&observer, &vehicle, &orders));
    results.push(header_ids(&observer));
    results.push(continuity(&vehicle, &orders));
    results.push(done);

    // 6: pause, resume, cancel on a task back to where it started
    results.push(pause_resume_cancel(&api, &mut observer, &vehicle).await);

    // 7: its connection breaks: no order
    results.push(no_order_when_broken(&api, &mut observer, vehicle).await);
    // out of the fleet before the next version's vehicle takes the same spot
    let _ = wait_for(Duration::from_secs(20), || async {
        api.decommission(id).await.is_ok()
    })
    .await;
    named(results)
}

/// Gives the vehicle its id and starts it and the observer, at the API's free spot.
async fn start(
    api: &Api,
    mqtt: &MqttTarget,
    version: Version,
    id: u32,
) -> Result<(Vehicle, Observer), String> {
    let files = api.site_files().await.map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("agv-sim-conformance-{}", std::process::id()));
    files.write(&dir).map_err(|e| e.to_string())?;
    let site = maps::Site::load(&dir).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let site = Arc::new(site?);
    let map = site.maps().first().ok_or("the site has no map")?;
    let (map_id, map_name) = (map.id, map.name.clone());
    let (x, y) = api.free_spot(map_id).await.map_err(|e| e.to_string())?;
    let (node, _) = site
        .nearest_node(map_id, x, y)
        .ok_or("no node at the free spot")?;
    let serial = serial_number(id);
    api.set_vda5050_vehicle(MANUFACTURER, &serial, id)
        .await
        .map_err(|e| e.to_string())?;
    let observer = Observer::start(mqtt, version, &serial).await?;
    let spec = Spec {
        id,
        map_id,
        x: node.x,
        y: node.y,
        node: node.id,
        keys: None,
        profile: Profile::Fast,
        // (twice real speed: a drive of a few metres lasts long enough to pause)
        time_scale: 2.0,
        obstacles_per_min: 0.0,
        seed: u64::from(id),
        relocate: None,
        churn_per_hour: 0.0,
        min_status_period_ms: 0,
    };
    let vda = VdaSpec {
        host: mqtt.host.clone(),
        port: mqtt.port,
        interface: mqtt.interface.clone(),
        version,
    };
    let start_node = node.id;
    let monitor = Arc::new(crate::monitor::Monitor::for_site(&site));
    let stats = Arc::new(crate::report::Stats::default());
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(crate::agv::vda::run(
        spec,
        vda,
        site.clone(),
        monitor,
        stats,
        stop_rx,
    ));
    Ok((
        Vehicle {
            id,
            version,
            serial,
            start_node,
            map_name,
            site,
            stop,
            task,
        },
        observer,
    ))
}

/// A node 2–8 m east of where the vehicle starts, nearest 6 m (the free spot has 9 m of room
/// there).
fn destination(v: &Vehicle) -> Result<u32, String> {
    let start = v
        .site
        .node(v.start_node)
        .ok_or("the start node is not on the map")?;
    v.site
        .nodes()
        .iter()
        .filter(|n| n.map == start.map && n.id != start.id)
        .filter(|n| n.x - start.x > 2.0 && n.x - start.x < 8.0)
        .min_by(|a, b| {
            let da = (a.x - start.x - 6.0).abs() + (a.y - start.y).abs();
            let db = (b.x - start.x - 6.0).abs() + (b.y - start.y).abs();
            da.total_cmp(&db)
        })
        .map(|n| n.id)
        .ok_or_else(|| "no node 2–8 m east of the start".to_owned())
}

/// A move task for AGV `id` to `dest`, until it ends.
async fn drive(api: &Api, id: u32, dest: u32) -> CheckResult {
    let task = api
        .submit("move", dest, Some(id), None)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + TASK_WITHIN;
    loop {
        let t = api.task(task).await.map_err(|e| e.to_string())?;
        match t.state.as_str() {
            "completed" => return Ok(()),
            "failed" | "cancelled" => {
                return Err(format!(
                    "task {task} {}: {}",
                    t.state,
                    t.error.unwrap_or_default()
                ));
            }
            _ if Instant::now() >= deadline => {
                return Err(format!(
                    "task {task} still {} after {TASK_WITHIN:?}",
                    t.state
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn readable(o: &Observer, v: &Vehicle, orders: &[Result<Order, String>]) -> CheckResult {
    if orders.is_empty() {
        return Err("no order published for the task".into());
    }
    for (k, order) in orders.iter().enumerate() {
        let order = order
            .as_ref()
            .map_err(|e| format!("order #{k} does not read: {e}"))?;
        let h = &order.header;
        if h.version != v.version.as_str()
            || h.manufacturer != MANUFACTURER
            || h.serial_number != v.serial
        {
            return Err(format!(
                "order #{k}: header {} {}/{} on the topic of {} {MANUFACTURER}/{}",
                h.version,
                h.manufacturer,
                h.serial_number,
                v.version.as_str(),
                v.serial
            ));
        }
    }
    for (k, s) in o.seen.iter().enumerate() {
        if s.kind == TopicKind::InstantActions
            && let Err(e) = InstantActions::from_json(&s.payload)
        {
            return Err(format!("instantActions #{k} does not read: {e}"));
        }
    }
    Ok(())
}

fn header_ids(o: &Observer) -> CheckResult {
    for kind in [TopicKind::Order, TopicKind::InstantActions] {
        let ids: Vec<u64> = o
            .seen
            .iter()
            .filter(|s| s.kind == kind)
            .filter_map(|s| serde_json::from_slice::<Value>(&s.payload).ok())
            .filter_map(|m| m["headerId"].as_u64())
            .collect();
        if let Some(w) = ids.windows(2).find(|w| w[1] != w[0] + 1) {
            return Err(format!(
                "{}: headerId {} after {} (all: {ids:?})",
                kind.as_str(),
                w[1],
                w[0]
            ));
        }
    }
    Ok(())
}

fn continuity(v: &Vehicle, orders: &[Result<Order, String>]) -> CheckResult {
    let orders: Vec<&Order> = orders.iter().filter_map(|o| o.as_ref().ok()).collect();
    let first = orders.first().ok_or("no order")?;
    let start = first.nodes.first().ok_or("an order without nodes")?;
    if start.node_id != v.start_node.to_string() {
        return Err(format!(
            "the first order starts at node {:?}, the vehicle stands on {}",
            start.node_id, v.start_node
        ));
    }
    if let Some(p) = &start.position
        && p.map_id != v.map_name
    {
        return Err(format!(
            "the first node is on map {:?}, the vehicle on {:?}",
            p.map_id, v.map_name
        ));
    }
    for w in orders.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.order_id != b.order_id {
            continue;
        }
        if b.order_update_id <= a.order_update_id {
            return Err(format!(
                "order {}: update {} after {}",
                b.order_id, b.order_update_id, a.order_update_id
            ));
        }
        let base_end = a.nodes.iter().rev().find(|n| n.released);
        let b0 = b.nodes.first();
        if base_end.map(|n| (&n.node_id, n.sequence_id)) != b0.map(|n| (&n.node_id, n.sequence_id))
        {
            return Err(format!(
                "order {} update {} starts at {:?}, the base before it ended at {:?}",
                b.order_id,
                b.order_update_id,
                b0.map(|n| (&n.node_id, n.sequence_id)),
                base_end.map(|n| (&n.node_id, n.sequence_id))
            ));
        }
    }
    Ok(())
}

async fn pause_resume_cancel(api: &Api, o: &mut Observer, v: &Vehicle) -> CheckResult {
    o.drain();
    let from = o.seen.len();
    let task = api
        .submit("move", v.start_node, Some(v.id), None)
        .await
        .map_err(|e| e.to_string())?;
    let running = wait_for(Duration::from_secs(10), || async {
        api.task(task).await.is_ok_and(|t| t.state == "running")
    })
    .await;
    if !running {
        return Err(format!("task {task} did not start"));
    }
    for (command, action) in [("pause", "startPause"), ("resume", "stopPause")] {
        let status = api
            .command(v.id, &serde_json::json!({ "command": command }))
            .await
            .map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{command}: HTTP {status}"));
        }
        if !o.instant(from, action, ACTION_WITHIN).await {
            return Err(format!("{command}: no {action} published"));
        }
    }
    let _ = api.cancel_task(task).await;
    if !o.instant(from, "cancelOrder", ACTION_WITHIN).await {
        // (a task that completed before the cancel has nothing to cancel)
        let t = api.task(task).await.map_err(|e| e.to_string())?;
        if t.state != "completed" {
            return Err(format!(
                "cancel: no cancelOrder published (task {})",
                t.state
            ));
        }
    }
    Ok(())
}

async fn no_order_when_broken(api: &Api, o: &mut Observer, v: Vehicle) -> CheckResult {
    let id = v.id;
    let start = v.start_node;
    // gone without a word: the broker publishes its last will
    stop(v, true).await;
    let offline = wait_for(Duration::from_secs(15), || async {
        api.agv(id).await.is_ok_and(|a| a["online"] == false)
    })
    .await;
    if !offline {
        return Err(format!("AGV {id} still online after its last will"));
    }
    o.drain();
    let from = o.seen.len();
    let task = api.submit("move", start, Some(id), None).await;
    tokio::time::sleep(QUIET).await;
    o.drain();
    if let Ok(task) = task {
        let _ = api.cancel_task(task).await;
    }
    match o.seen[from..].iter().find(|s| s.kind == TopicKind::Order) {
        Some(s) => Err(format!(
            "an order for a vehicle offline: {}",
            String::from_utf8_lossy(&s.payload)
        )),
        None => Ok(()),
    }
}

/// Stops the vehicle: an orderly goodbye, or (`abruptly`) its connection dropped so that the
/// broker publishes its last will.
async fn stop(v: Vehicle, abruptly: bool) {
    if abruptly {
        v.task.abort();
    } else {
        let _ = v.stop.send(true);
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), v.task).await;
}

async fn wait_for<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
