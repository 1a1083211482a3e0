//! The VDA 5050 gateway against a real broker (Mosquitto at 127.0.0.1:1883; without one the
//! server's embedded broker), and the embedded broker itself: a vehicle's AGV id (set through the API, or given), online and offline from
//! `connection` and its last will, registration from the factsheet, its state as the fleet's
//! status, and bad input: invalid messages and a state off the site's maps are counted and
//! refused whole, and the gateway carries on.

mod support;

use std::time::Duration;

use rcs_server::Config;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{Value, json};
use support::{ADMIN, Running};
use vda5050::Version;
use vda5050::connection::{Connection, ConnectionState};
use vda5050::factsheet::Factsheet;
use vda5050::header::Header;
use vda5050::state::{Battery, EStop, OperatingMode, Position, Safety, State};

const BROKER: u16 = 1883;

fn broker_present() -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], BROKER)),
        Duration::from_secs(1),
    )
    .is_ok()
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The broker the test runs on: Mosquitto at 127.0.0.1:1883 when it is there (every machine of
/// this project has it), otherwise the server's embedded one on a free port. Returns its port.
fn broker_for(config: &mut Config) -> u16 {
    if broker_present() {
        config.mqtt_url = Some(format!("mqtt://127.0.0.1:{BROKER}"));
        BROKER
    } else {
        let port = free_port();
        eprintln!("no MQTT broker at 127.0.0.1:{BROKER}: the server's embedded broker on {port}");
        config.mqtt_listen = Some(([127, 0, 0, 1], port).into());
        port
    }
}

struct Vehicle {
    interface: String,
    serial: String,
    version: Version,
    header_id: u32,
}

impl Vehicle {
    fn topic(&self, kind: &str) -> String {
        let major = if self.version == Version::V3_0 {
            "v3"
        } else {
            "v2"
        };
        format!("{}/{major}/Acme/{}/{kind}", self.interface, self.serial)
    }

    fn header(&mut self) -> Header {
        self.header_id += 1;
        Header::new(
            self.version,
            self.header_id,
            rcs_server::state::now_ms(),
            "Acme",
            &self.serial,
        )
    }

    fn connection(&mut self, state: ConnectionState) -> Vec<u8> {
        Connection {
            header: self.header(),
            connection_state: state,
        }
        .to_json()
        .unwrap()
    }

    fn factsheet(&mut self) -> Vec<u8> {
        Factsheet {
            header: self.header(),
            series_name: "Carrier-7".into(),
            kinematics: Some("DIFF".into()),
            class: "CARRIER".into(),
            max_load_kg: 500.0,
            localization_types: vec!["NATURAL".into()],
            navigation_types: vec!["AUTONOMOUS".into()],
            length: 1.0,
            width: 0.8,
            height_max: 0.4,
            speed_max: 1.5,
            acceleration_max: 0.8,
            deceleration_max: 1.0,
            actions: vec!["pick".into(), "drop".into()],
        }
        .to_json()
        .unwrap()
    }

    fn state(&mut self, x: f64, y: f64) -> Vec<u8> {
        State {
            header: self.header(),
            order_id: String::new(),
            order_update_id: 0,
            last_node_id: String::new(),
            last_node_sequence_id: 0,
            node_states: vec![],
            edge_states: vec![],
            position: Some(Position {
                x,
                y,
                theta: 0.0,
                map_id: "Hall".into(),
                localized: true,
                localization_score: Some(0.9),
                deviation_range: None,
            }),
            velocity: None,
            driving: false,
            paused: Some(false),
            new_base_request: None,
            distance_since_last_node: None,
            action_states: vec![],
            instant_action_states: vec![],
            loads: vec![],
            battery: Battery {
                charge_pct: 80.0,
                voltage: Some(48.0),
                charging: false,
                reach_m: None,
            },
            operating_mode: OperatingMode::Automatic,
            errors: vec![],
            safety: Safety {
                e_stop: EStop::None,
                field_violation: false,
            },
        }
        .to_json()
        .unwrap()
    }
}

async fn get(server: &Running, path: &str) -> Value {
    reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn metric(server: &Running, name: &str) -> f64 {
    let text = reqwest::Client::new()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (up to 10 s) until `check` holds.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 10 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_join_the_fleet_and_bad_messages_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    vehicles_join(Config::for_tests(dir.path()), "sqlite").await;
}

/// The same on PostgreSQL (the vehicles' table, its ids and their conflicts), when one answers
/// at 127.0.0.1:5432.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_join_the_fleet_on_postgresql() {
    let Some((db, url)) = support::postgres::throwaway("the VDA 5050 gateway test", "vda").await
    else {
        return;
    };
    db.close().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.database_url = Some(url.clone());
    vehicles_join(config, "pg").await;
    support::postgres::drop(&url).await;
}

async fn vehicles_join(mut config: Config, tag: &str) {
    let broker = broker_for(&mut config);
    let interface = format!(
        "rcs-gw-{tag}-{}-{}",
        std::process::id(),
        rcs_server::state::now_ms()
    );
    config.vda5050_interface = interface.clone();
    config.vda5050_first_id = 700;
    let server = Running::start(config).await;
    let http = reqwest::Client::new();
    let put = |body: Value| {
        http.put(server.url("/api/v1/vda5050/vehicles"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };

    // ids through the API: a topic level cannot hold `/`; one id, one vehicle
    let r = put(json!({"manufacturer": "Acme", "serial_number": "SN/A", "agv_id": 9})).await;
    assert_eq!(r.unwrap().status(), 400);
    let r = put(json!({"manufacturer": "Acme", "serial_number": "SN-A", "agv_id": 701})).await;
    assert_eq!(r.unwrap().status(), 200);
    let r = put(json!({"manufacturer": "Acme", "serial_number": "SN-B", "agv_id": 701})).await;
    let r = r.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "agv_id_taken");

    let mut options = MqttOptions::new(format!("{interface}-test"), "127.0.0.1", broker);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let publish = |topic: String, payload: Vec<u8>| {
        let client = client.clone();
        async move {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
    };

    // SN-A (2.1): online, factsheet, then a state at node 3 (6, 0)
    let mut a = Vehicle {
        interface: interface.clone(),
        serial: "SN-A".into(),
        version: Version::V2_1,
        header_id: 0,
    };
    publish(a.topic("connection"), a.connection(ConnectionState::Online)).await;
    publish(a.topic("factsheet"), a.factsheet()).await;
    // (registered once a state shows it standing without an order)
    publish(a.topic("state"), a.state(6.0, 0.0)).await;
    until("SN-A registered as AGV 701", || async {
        get(&server, "/api/v1/agvs/701").await["session"]["registered"] == true
    })
    .await;
    let agv = get(&server, "/api/v1/agvs/701").await;
    assert_eq!(agv["session"]["protocol"], "vda5050/2.1", "{agv}");
    assert_eq!(agv["identity"]["vendor"], "Acme", "{agv}");
    publish(a.topic("state"), a.state(6.0, 0.0)).await;
    until("SN-A's state is its pose", || async {
        get(&server, "/api/v1/agvs/701").await["pose"]["x"] == 6.0
    })
    .await;

    // bad input: not JSON, another version's header on this topic, a state off the site's map
    let invalid_before = metric(
        &server,
        "rcs_protocol_errors_total{kind=\"vda5050:invalid\"}",
    )
    .await;
    publish(a.topic("state"), b"{not json".to_vec()).await;
    let mut wrong = Vehicle {
        interface: interface.clone(),
        serial: "SN-A".into(),
        version: Version::V3_0,
        header_id: 0,
    };
    let v3_state = wrong.state(6.0, 0.0);
    publish(a.topic("state"), v3_state).await;
    publish(a.topic("state"), a.state(1_000.0, 0.0)).await;
    until("the invalid messages counted", || async {
        metric(
            &server,
            "rcs_protocol_errors_total{kind=\"vda5050:invalid\"}",
        )
        .await
            >= invalid_before + 2.0
    })
    .await;
    until("the state off the map refused", || async {
        metric(
            &server,
            "rcs_protocol_errors_total{kind=\"vda5050:state_refused\"}",
        )
        .await
            >= 1.0
    })
    .await;
    // nothing of them was used: the vehicle stands where it stood, and the gateway carries on
    assert_eq!(get(&server, "/api/v1/agvs/701").await["pose"]["x"], 6.0);
    publish(a.topic("state"), a.state(9.0, 0.0)).await;
    until("a valid state after the bad ones is taken", || async {
        get(&server, "/api/v1/agvs/701").await["pose"]["x"] == 9.0
    })
    .await;

    // SN-C (3.0), never given an id: the first free one at or above 700
    let mut c = Vehicle {
        interface: interface.clone(),
        serial: "SN-C".into(),
        version: Version::V3_0,
        header_id: 0,
    };
    publish(c.topic("connection"), c.connection(ConnectionState::Online)).await;
    until("SN-C given AGV id 700", || async {
        get(&server, "/api/v1/vda5050/vehicles")
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["serial_number"] == "SN-C" && v["agv_id"] == 700 && v["online"] == true)
    })
    .await;
    // its id cannot move while it is online
    let r = put(json!({"manufacturer": "Acme", "serial_number": "SN-C", "agv_id": 750})).await;
    let r = r.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "vehicle_online");

    // SN-E's id is held by a guide AGV that is online: refused, once per episode (its states
    // do not each cost a claim, a database read and an event)
    let r = put(json!({"manufacturer": "Acme", "serial_number": "SN-E", "agv_id": 730})).await;
    assert_eq!(r.unwrap().status(), 200);
    let guide =
        support::BackgroundAgv::spawn(&server.server, support::normal_agv(730), support::ack_all());
    until("guide AGV 730 online", || async {
        get(&server, "/api/v1/agvs/730").await["online"] == true
    })
    .await;
    let refused_before = metric(&server, "rcs_refused_claims_total").await;
    let mut e = Vehicle {
        interface: interface.clone(),
        serial: "SN-E".into(),
        version: Version::V2_0,
        header_id: 0,
    };
    publish(e.topic("connection"), e.connection(ConnectionState::Online)).await;
    for _ in 0..5 {
        publish(e.topic("state"), e.state(3.5, 1.25)).await;
    }
    until("SN-E refused", || async {
        metric(&server, "rcs_refused_claims_total").await > refused_before
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        metric(&server, "rcs_refused_claims_total").await,
        refused_before + 1.0,
        "a refused vehicle's repeated states are not each a new claim"
    );
    assert_eq!(
        get(&server, "/api/v1/agvs/730").await["session"]["protocol"],
        "guide",
        "the guide AGV keeps its id"
    );
    guide.stop().await;

    // SN-D comes online driving an order from before (its link was down, or the RCS
    // restarted): the gateway cancels it, and the fleet takes the vehicle only once it stands
    let (watcher, mut watch_loop) = AsyncClient::new(
        MqttOptions::new(format!("{interface}-watch"), "127.0.0.1", broker),
        64,
    );
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<String>();
    let watch = tokio::spawn(async move {
        while let Ok(event) = watch_loop.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                let _ = seen_tx.send(String::from_utf8_lossy(&p.payload).into_owned());
            }
        }
    });
    let mut d = Vehicle {
        interface: interface.clone(),
        serial: "SN-D".into(),
        version: Version::V2_0,
        header_id: 0,
    };
    watcher
        .subscribe(d.topic("instantActions"), QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let put_d = put(json!({"manufacturer": "Acme", "serial_number": "SN-D", "agv_id": 720}));
    assert_eq!(put_d.await.unwrap().status(), 200);
    publish(d.topic("connection"), d.connection(ConnectionState::Online)).await;
    publish(d.topic("factsheet"), d.factsheet()).await;
    let mut driving: State = State::from_json(&d.state(12.0, 0.0)).unwrap();
    driving.order_id = "77".into();
    driving.driving = true;
    driving.node_states = vec![vda5050::state::NodeState {
        node_id: "5".into(),
        sequence_id: 2,
        released: true,
    }];
    publish(d.topic("state"), driving.to_json().unwrap()).await;
    let cancel = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let m = seen.recv().await.unwrap();
            if m.contains("cancelOrder") {
                return m;
            }
        }
    })
    .await
    .expect("the gateway cancels the order a vehicle came online with");
    assert!(cancel.contains("SN-D"), "{cancel}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(
        get(&server, "/api/v1/agvs/720").await["session"]["registered"],
        true,
        "not in the fleet while it drives an order the fleet did not give"
    );
    publish(d.topic("state"), d.state(12.0, 0.0)).await;
    until("SN-D, standing, registered", || async {
        get(&server, "/api/v1/agvs/720").await["session"]["registered"] == true
    })
    .await;
    watch.abort();

    // SN-A's connection breaks (the broker's last will): offline, its place still held
    publish(
        a.topic("connection"),
        a.connection(ConnectionState::ConnectionBroken),
    )
    .await;
    until("SN-A offline", || async {
        get(&server, "/api/v1/agvs/701").await["online"] == false
    })
    .await;
    let space = get(&server, "/api/v1/space").await;
    assert!(
        space.as_array().unwrap().iter().any(|s| s["agv_id"] == 701),
        "an offline vehicle's space stays blocked: {space}"
    );
    pump.abort();
    server.stop().await;
}

/// The embedded broker (`--mqtt-listen`), whatever else runs on the machine: a vehicle's
/// retained `ONLINE`, its factsheet and state reach the gateway through it, and when the
/// vehicle's connection drops without a word the broker publishes its last will and the vehicle
/// goes offline with its space held. An address already in use stops the server at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_carries_vehicles_in_and_their_last_will() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.mqtt_listen = Some(taken.local_addr().unwrap());
    let refused = rcs_server::start(config.clone(), std::future::pending()).await;
    assert!(
        matches!(refused, Err(rcs_server::ServerError::Broker(_))),
        "an address in use is refused at start"
    );
    drop(taken);

    let port = free_port();
    config.mqtt_listen = Some(([0, 0, 0, 0], port).into());
    config.vda5050_first_id = 900;
    let interface = config.vda5050_interface.clone();
    let server = Running::start(config).await;
    let mut v = Vehicle {
        interface,
        serial: "EMB-1".into(),
        version: Version::V2_0,
        header_id: 0,
    };
    let mut options = MqttOptions::new("emb-1", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_last_will(rumqttc::LastWill::new(
        v.topic("connection"),
        v.connection(ConnectionState::ConnectionBroken),
        QoS::AtLeastOnce,
        true,
    ));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
        .publish(
            v.topic("connection"),
            QoS::AtLeastOnce,
            true,
            v.connection(ConnectionState::Online),
        )
        .await
        .unwrap();
    // factsheet and states until the gateway (connecting on its own schedule: what was published
    // before it subscribed, other than the retained `connection`, did not reach it) took them
    let mut registered = false;
    for _ in 0..100 {
        client
            .publish(v.topic("factsheet"), QoS::AtLeastOnce, false, v.factsheet())
            .await
            .unwrap();
        client
            .publish(v.topic("state"), QoS::AtLeastOnce, false, v.state(6.0, 0.0))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if get(&server, "/api/v1/agvs/900").await["session"]["registered"] == true {
            registered = true;
            break;
        }
    }
    assert!(
        registered,
        "EMB-1 registered as AGV 900 through the embedded broker"
    );
    client
        .publish(v.topic("state"), QoS::AtLeastOnce, false, v.state(6.0, 0.0))
        .await
        .unwrap();
    until("EMB-1's state is its pose", || async {
        get(&server, "/api/v1/agvs/900").await["pose"]["x"] == 6.0
    })
    .await;

    // the connection drops without DISCONNECT: the broker's last will takes the vehicle offline
    pump.abort();
    drop(client);
    until("EMB-1 offline by its last will", || async {
        get(&server, "/api/v1/agvs/900").await["online"] == false
    })
    .await;
    let space = get(&server, "/api/v1/space").await;
    assert!(
        space.as_array().unwrap().iter().any(|s| s["agv_id"] == 900),
        "an offline vehicle's space stays blocked: {space}"
    );

    // EMB-2 sends no factsheet (one it published before the gateway subscribed is lost): the
    // gateway asks again until one comes, and then the vehicle joins
    let mut w = Vehicle {
        interface: v.interface.clone(),
        serial: "EMB-2".into(),
        version: Version::V2_0,
        header_id: 0,
    };
    let (watcher, mut watch_loop) =
        AsyncClient::new(MqttOptions::new("emb-watch", "127.0.0.1", port), 64);
    let (asked_tx, mut asked) = tokio::sync::mpsc::unbounded_channel::<String>();
    let watch = tokio::spawn(async move {
        while let Ok(event) = watch_loop.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                let _ = asked_tx.send(String::from_utf8_lossy(&p.payload).into_owned());
            }
        }
    });
    watcher
        .subscribe(w.topic("instantActions"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new("emb-2", "127.0.0.1", port), 64);
    let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .publish(
            w.topic("connection"),
            QoS::AtLeastOnce,
            true,
            w.connection(ConnectionState::Online),
        )
        .await
        .unwrap();
    let requests = tokio::time::timeout(Duration::from_secs(20), async {
        let mut n = 0;
        while n < 2 {
            if asked.recv().await.unwrap().contains("factsheetRequest") {
                n += 1;
            }
        }
    })
    .await;
    assert!(requests.is_ok(), "the factsheet asked for again");
    assert_ne!(
        get(&server, "/api/v1/agvs/901").await["session"]["registered"],
        true,
        "no factsheet, no registration"
    );
    client
        .publish(w.topic("factsheet"), QoS::AtLeastOnce, false, w.factsheet())
        .await
        .unwrap();
    client
        .publish(w.topic("state"), QoS::AtLeastOnce, false, w.state(9.0, 0.0))
        .await
        .unwrap();
    until("EMB-2 registered once its factsheet came", || async {
        get(&server, "/api/v1/agvs/901").await["session"]["registered"] == true
    })
    .await;
    watch.abort();
    pump.abort();
    server.stop().await;
}
