//! Tasks end to end: AGVs that drive (they follow released path nodes over TCP) get tasks
//! through the API; paths are released piece by piece only onto reserved space, navigation
//! switches happen at zone borders, two AGVs never come close, a single lane is never entered
//! head-on, and cancel stops a running task.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use maps::file::{
    Bounds, EdgeFile, MapFile, MapRef, Movement, Navigation, NodeFile, NodeKind, SiteFile,
    SiteFiles, Trajectory,
};
use protocol::message::*;
use rcs_server::Config;
use serde_json::{Value, json};

mod support;
use support::fleet::{call, driving, grid_server, monitor, reservation_monitor, submit, wait_task};
use support::{BackgroundAgv, Driver, Running, eventually, normal_agv};

#[tokio::test]
async fn a_task_runs_piece_by_piece_and_switches_navigation_at_the_qr_zone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let agv = driving(&s, 1, 0.0, 0.0).await;
    let (status, task) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "pick", "destination": "dock-B" })),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let id = task["id"].as_u64().unwrap();
    let done = wait_task(&s, id, "completed").await;
    assert_eq!(done["agv"], 1);
    let (x, y, node) = agv.position().unwrap();
    assert_eq!((x, y), (21.0, 6.0));
    assert_eq!(node, 24, "dock-B");
    let cmds = agv.commands.lock().unwrap().clone();
    let motions: Vec<&MotionCommand> = cmds
        .iter()
        .filter_map(|m| match m {
            Message::MotionCommand(c) => Some(c),
            _ => None,
        })
        .collect();
    assert!(
        motions.len() >= 3,
        "released piece by piece: {} commands",
        motions.len()
    );
    // never more than the lookahead (plus the node it stands on) released at once
    assert!(motions.iter().all(|c| c.released_nodes <= 1 + 3 + 4));
    // segments count up, each starting at the last released node of the one before
    for w in motions.windows(2) {
        if w[0].task_id == w[1].task_id
            && w[0].map_id == w[1].map_id
            && w[1].segment == w[0].segment + 1
        {
            let last_released = &w[0].nodes[usize::from(w[0].released_nodes) - 1];
            assert_eq!(w[1].nodes[0].node_id, last_released.node_id);
        }
    }
    // docs/protocol.md 6.6: a later segment of one path starts at the last released node of
    // the one before (same node id and sequence); the drive after the navigation switch is a
    // new path of the same task: a higher segment, starting where the AGV stands (the last
    // node of the drive before), at sequence 0
    let mut prev: Option<&MotionCommand> = None;
    let mut switched = false;
    let mut new_paths = 0;
    for m in &cmds {
        match m {
            Message::NavSwitch(_) => switched = true,
            Message::MotionCommand(c) => {
                if let Some(p) = prev.filter(|p| p.task_id == c.task_id) {
                    assert!(c.segment > p.segment, "{p:?} then {c:?}");
                    let first = (c.nodes[0].node_id, c.nodes[0].sequence);
                    if switched {
                        assert_eq!(usize::from(p.released_nodes), p.nodes.len());
                        let end = p.nodes.last().unwrap();
                        assert_eq!(first, (end.node_id, 0), "a new path after the switch");
                        new_paths += 1;
                    } else {
                        let last_released = &p.nodes[usize::from(p.released_nodes) - 1];
                        assert_eq!(first, (last_released.node_id, last_released.sequence));
                    }
                }
                prev = Some(c);
                switched = false;
            }
            _ => {}
        }
    }
    assert_eq!(new_paths, 1, "one drive after the switch");
    // the pick action at the destination
    let last = motions.last().unwrap();
    let dest = last.nodes.last().unwrap();
    assert_eq!(dest.node_id, 24);
    assert!(
        dest.actions
            .iter()
            .any(|a| a.adjustment == protocol::types::LiftAdjustment::Raise)
    );
    // a navigation switch into the QR zone
    assert!(cmds.iter().any(|m| matches!(m, Message::NavSwitch(n) if n.target == protocol::types::NavigationMode::QrCode)));
    // reservations are gone, only its footprint stays
    let holds = s.server.state.space().holds(1).len();
    assert_eq!(holds, 1, "only the footprint");
    agv.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn two_agvs_crossing_never_come_close_and_both_finish() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = driving(&s, 1, 0.0, 0.0).await;
    let b = driving(&s, 2, 0.0, 12.0).await;
    let (stop, watch) = monitor(
        vec![a.driver.clone().unwrap(), b.driver.clone().unwrap()],
        1.3,
    );
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-C", "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-A", "agv_id": 2 }),
    )
    .await;
    wait_task(&s, ta["id"].as_u64().unwrap(), "completed").await;
    wait_task(&s, tb["id"].as_u64().unwrap(), "completed").await;
    stop.store(true, Ordering::Relaxed);
    let closest = watch.await.unwrap();
    assert!(closest >= 1.3, "{closest}");
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

/// Two bays joined by a single lane of four nodes:
/// ```text
///  10          20
///   \         /
///   11 - 1 - 2 - 3 - 4 - 21
///   /                     \
///  12                      22
/// ```
fn lane_site(dir: &std::path::Path) {
    let node = |id, x: f64, y: f64| NodeFile {
        id,
        x,
        y,
        theta: None,
        kind: NodeKind::Waypoint,
        qr: None,
        name: None,
    };
    let edge = |id, from, to| EdgeFile {
        id,
        from,
        to,
        bidirectional: true,
        max_speed: None,
        length: None,
        trajectory: Trajectory::Line,
        movement: vec![Movement::Forward],
        navigation: vec![],
        width: None,
    };
    let nodes = vec![
        node(10, 0.0, 6.0),
        node(11, 0.0, 3.0),
        node(12, 0.0, 0.0),
        node(1, 3.0, 3.0),
        node(2, 6.0, 3.0),
        node(3, 9.0, 3.0),
        node(4, 12.0, 3.0),
        node(20, 15.0, 6.0),
        node(21, 15.0, 3.0),
        node(22, 15.0, 0.0),
    ];
    let edges = vec![
        edge(1, 10, 11),
        edge(2, 11, 12),
        edge(3, 11, 1),
        edge(4, 1, 2),
        edge(5, 2, 3),
        edge(6, 3, 4),
        edge(7, 4, 21),
        edge(8, 20, 21),
        edge(9, 21, 22),
    ];
    let files = SiteFiles {
        site: Some(SiteFile {
            name: "lane".into(),
            maps: vec![MapRef {
                id: 1,
                name: "Lane".into(),
                file: "lane.toml".into(),
                building: String::new(),
                floor: 0,
                navigation: Navigation::Slam,
                version: 1,
            }],
            lifts: vec![],
            links: vec![],
            vehicles: Default::default(),
        }),
        maps: vec![(
            "lane.toml".into(),
            MapFile {
                bounds: Bounds {
                    min: [-1.0, -1.0],
                    max: [16.0, 7.0],
                },
                max_speed: 1.5,
                nodes,
                edges,
                areas: vec![],
            },
        )],
    };
    files.write(dir).unwrap();
}

#[tokio::test]
async fn a_single_lane_is_never_entered_head_on() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    lane_site(&site);
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(site);
    let s = Running::start(config).await;
    let a = driving(&s, 1, 0.0, 6.0).await; // node 10
    let b = driving(&s, 2, 15.0, 0.0).await; // node 22
    let (stop, watch) = monitor(
        vec![a.driver.clone().unwrap(), b.driver.clone().unwrap()],
        1.3,
    );
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": 20, "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": 12, "agv_id": 2 }),
    )
    .await;
    wait_task(&s, ta["id"].as_u64().unwrap(), "completed").await;
    wait_task(&s, tb["id"].as_u64().unwrap(), "completed").await;
    stop.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    assert_eq!(a.position().unwrap().2, 20);
    assert_eq!(b.position().unwrap().2, 12);
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn a_running_task_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = driving(&s, 1, 0.0, 0.0).await;
    a.driver.as_ref().unwrap().lock().unwrap().speed = 1.0;
    let t = submit(&s, json!({ "kind": "move", "destination": "dock-C" })).await;
    let id = t["id"].as_u64().unwrap();
    wait_task(&s, id, "running").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, t) = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/api/v1/tasks/{id}"),
        None,
    )
    .await;
    assert_eq!((status, &t["state"]), (200, &json!("cancelled")));
    assert!(a.commands.lock().unwrap().iter().any(|m| matches!(m, Message::TaskControl(c) if c.op == TaskOp::Cancel && u64::from(c.task_id) == id)));
    // What it can still reach while stopping stays held until it is seen at rest, then only
    // its footprint is left.
    let state = s.server.state.clone();
    eventually("reservations released once it stands", || {
        state.space().holds(1).len() == 1
    })
    .await;
    let (status, _) = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/api/v1/tasks/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    // unknown destinations and AGVs are refused
    let (status, body) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "move", "destination": "nowhere" })),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unknown_destination"))
    );
    let (status, _) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "move", "destination": 3, "agv_id": 99 })),
    )
    .await;
    assert_eq!(status, 404);
    a.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn four_agvs_swapping_through_a_crossing_resolve_the_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 5, 5).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 5, c, r);
    // west, east, south, north of the centre, each bound for the opposite side
    let starts = [(0, 2, 4, 2), (4, 2, 0, 2), (2, 0, 2, 4), (2, 4, 2, 0)];
    let mut agvs = Vec::new();
    for (i, (c, r, _, _)) in starts.iter().enumerate() {
        let id = i as u32 + 1;
        agvs.push(driving(&s, id, f64::from(*c) * 2.0, f64::from(*r) * 2.0).await);
    }
    let (stop, watch) = monitor(
        agvs.iter().map(|a| a.driver.clone().unwrap()).collect(),
        1.3,
    );
    let mut ids = Vec::new();
    for (i, (_, _, c, r)) in starts.iter().enumerate() {
        let (status, t) = call(
            &s,
            reqwest::Method::POST,
            "/api/v1/tasks",
            Some(json!({ "kind": "move", "destination": node(*c, *r), "agv_id": i + 1 })),
        )
        .await;
        assert_eq!(status, 201, "{t}");
        ids.push(t["id"].as_u64().unwrap());
    }
    for id in &ids {
        wait_task(&s, *id, "completed").await;
    }
    stop.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    for (i, (_, _, c, r)) in starts.iter().enumerate() {
        assert_eq!(
            agvs[i].position().unwrap().2,
            node(*c, *r),
            "AGV {} arrived",
            i + 1
        );
    }
    let (_, log) = call(&s, reqwest::Method::GET, "/api/v1/audit?limit=2000", None).await;
    let _ = log;
    for a in agvs {
        a.stop().await;
    }
    s.stop().await;
}

#[tokio::test]
async fn tasks_resume_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = driving(&s, 1, 0.0, 0.0).await;
    a.driver.as_ref().unwrap().lock().unwrap().speed = 2.0;
    let t = submit(&s, json!({ "kind": "move", "destination": "dock-C" })).await;
    let id = t["id"].as_u64().unwrap();
    let state = s.server.state.clone();
    eventually("on its way", || {
        state
            .fleet
            .get(1)
            .and_then(|v| v.status.map(|s| s.pose.x))
            .is_some_and(|x| x > 4.0)
    })
    .await;
    s.stop().await;
    let (x, y, node) = a.position().unwrap();
    a.stop().await;

    let s = Running::start(Config::for_tests(dir.path())).await;
    let (_, t) = call(
        &s,
        reqwest::Method::GET,
        &format!("/api/v1/tasks/{id}"),
        None,
    )
    .await;
    assert_eq!(t["state"], "queued", "{t}");
    assert_eq!(t["requested_agv"], 1);
    // the AGV comes back where it stopped and the task goes on from there
    let mut driver = Driver::at(x, y);
    driver.last_node_id = node;
    let a = BackgroundAgv::spawn_driving(&s.server, normal_agv(1), driver);
    wait_task(&s, id, "completed").await;
    assert_eq!(a.position().unwrap().2, 40, "dock-C");
    a.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn a_cross_floor_task_rides_a_lift_and_switches_map() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site =
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/warehouse-3f"));
    let s = Running::start(config).await;
    let floor = |f: u32, c: u32, r: u32| maps::generate::grid_node(f, 20, c, r);
    // AGV 1 on floor 2 at column 8, row 2; AGV 2 on floor 2 too, both bound for floor 3
    let mut d1 = Driver::at(16.0, 4.0);
    d1.map_id = 2;
    let mut d2 = Driver::at(24.0, 4.0);
    d2.map_id = 2;
    let a = BackgroundAgv::spawn_driving(&s.server, normal_agv(1), d1);
    let b = BackgroundAgv::spawn_driving(&s.server, normal_agv(2), d2);
    let state = s.server.state.clone();
    eventually("both report", || {
        [1, 2].iter().all(|id| {
            state
                .fleet
                .get(*id)
                .is_some_and(|v| v.registered && v.status.is_some())
        })
    })
    .await;
    let t1 = submit(
        &s,
        json!({ "kind": "move", "destination": floor(3, 12, 7), "agv_id": 1 }),
    )
    .await;
    let t2 = submit(
        &s,
        json!({ "kind": "move", "destination": floor(3, 14, 2), "agv_id": 2 }),
    )
    .await;
    wait_task(&s, t1["id"].as_u64().unwrap(), "completed").await;
    wait_task(&s, t2["id"].as_u64().unwrap(), "completed").await;
    for (agv, dest) in [(&a, floor(3, 12, 7)), (&b, floor(3, 14, 2))] {
        let d = agv.driver.as_ref().unwrap().lock().unwrap().clone();
        assert_eq!((d.map_id, d.last_node_id), (3, dest));
        let switches: Vec<_> = agv
            .commands
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                Message::MapSwitch(ms) => Some((ms.target_map_id, ms.lift_id, ms.floor)),
                _ => None,
            })
            .collect();
        assert_eq!(switches.len(), 1, "{switches:?}");
        assert_eq!(switches[0].0, 3);
        assert_eq!(switches[0].2, 3);
        assert!(switches[0].1 > 0, "by lift");
    }
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn a_low_battery_sends_an_idle_agv_to_the_nearest_charger() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let mut d = Driver::at(21.0, 12.0); // dock-C, far corner
    d.battery_pct = 15.0;
    let a = BackgroundAgv::spawn_driving(&s.server, normal_agv(1), d);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, tasks) = call(&s, reqwest::Method::GET, "/api/v1/tasks", None).await;
        if let Some(t) = tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["kind"] == "charge")
        {
            if t["state"] == "completed" {
                assert_eq!(t["created_by"], "dispatcher");
                assert_eq!(t["destination"], 33, "charger-2 is the nearer one");
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no charge task: {tasks}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually("charging started", || {
        a.commands.lock().unwrap().iter().any(|m| {
            matches!(
                m,
                Message::ChargeControl(c) if c.op == ChargeOp::Start && c.charger_node_id == 33
            )
        })
    })
    .await;
    a.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn task_progress_is_posted_to_the_business_system() {
    use axum::routing::post;
    const SECRET: &str = "a-shared-secret-of-32-characters";
    // (headers, body) of every try; the first try of each delivery is answered 500
    type Tries = Vec<(axum::http::HeaderMap, axum::body::Bytes)>;
    let received: Arc<std::sync::Mutex<Tries>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/rcs/callback",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let mut tries = sink.lock().unwrap();
                    let first = !tries
                        .iter()
                        .any(|(h, _)| h["x-rcs-delivery"] == headers["x-rcs-delivery"]);
                    tries.push((headers, body));
                    if first {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.callback_url = Some(format!("http://{addr}/rcs/callback"));
    config.callback_secret = Some(SECRET.into());
    let s = Running::start(config).await;
    let a = driving(&s, 1, 0.0, 0.0).await;
    let t = submit(&s, json!({ "kind": "move", "destination": 3 })).await;
    let id = t["id"].as_u64().unwrap();
    wait_task(&s, id, "completed").await;
    let body_of = |b: &axum::body::Bytes| serde_json::from_slice::<Value>(b).unwrap();
    eventually("completion posted", || {
        let tries = received.lock().unwrap();
        tries
            .iter()
            .filter(|(_, b)| body_of(b)["event"] == "task.completed")
            .count()
            == 2
    })
    .await;
    let tries = received.lock().unwrap().clone();
    // every try is signed: HMAC-SHA256 of "{timestamp}.{body}" with the shared secret
    for (h, body) in &tries {
        let at: u64 = h["x-rcs-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(
            h["x-rcs-signature"].to_str().unwrap(),
            rcs_server::callbacks::sign(SECRET.as_bytes(), at, body),
        );
        assert_eq!(h["content-type"], "application/json");
    }
    // a retry carries the same delivery id, another event another one
    let deliveries: Vec<(String, String)> = tries
        .iter()
        .map(|(h, b)| {
            (
                h["x-rcs-delivery"].to_str().unwrap().to_owned(),
                body_of(b)["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (d, event) in &deliveries {
        assert_eq!(
            deliveries.iter().filter(|(e, _)| e == d).count(),
            2,
            "{deliveries:?}"
        );
        assert!(deliveries.iter().all(|(e, ev)| e != d || ev == event));
    }
    let events: Vec<String> = tries
        .iter()
        .map(|(_, b)| body_of(b))
        .filter(|v| v["task_id"] == id)
        .map(|v| v["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events.first().map(String::as_str),
        Some("task.submitted"),
        "{events:?}"
    );
    assert!(events.contains(&"task.assigned".to_owned()));
    assert_eq!(events.last().map(String::as_str), Some("task.completed"));
    a.stop().await;
    s.stop().await;
}

/// The signature is HMAC-SHA256 over "{timestamp}.{body}": pinned by a vector computed with
/// Python's `hmac` (the verification example in docs/operations.md).
#[test]
fn the_callback_signature_is_hmac_sha256_of_the_timestamp_and_the_body() {
    assert_eq!(
        rcs_server::callbacks::sign(
            b"a-shared-secret-of-32-characters",
            1_700_000_000_000,
            br#"{"event":"task.completed"}"#
        ),
        "v1=d11e86e9207514437fddebdd2b8f3133305b03a914104a0049994a18d1c2c1c7"
    );
}

/// Without a configured secret one is generated into the data dir (0600) and kept; a short
/// configured one is refused at start.
#[cfg(unix)]
#[tokio::test]
async fn the_callback_secret_is_generated_once_into_a_0600_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = rcs_server::callbacks::secret(None, dir.path()).unwrap();
    let path = dir.path().join(rcs_server::callbacks::SECRET_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(secret.len() >= 32);
    assert_eq!(
        *rcs_server::callbacks::secret(None, dir.path()).unwrap(),
        *secret,
        "a new secret on the second start"
    );
    assert!(rcs_server::callbacks::secret(Some("short"), dir.path()).is_err());
}

/// Two AGVs head on along one row: the deadlock is resolved by replanning one of them, both
/// arrive, they never come close, and neither ever drives on space not reserved for it.
#[tokio::test]
async fn a_head_on_deadlock_is_resolved_only_with_the_agvs_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 9, 3).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 9, c, r);
    let a = driving(&s, 1, 0.0, 2.0).await;
    let b = driving(&s, 2, 16.0, 2.0).await;
    for agv in [&a, &b] {
        agv.driver.as_ref().unwrap().lock().unwrap().speed = 1.5;
    }
    let (stop, watch) = monitor(
        vec![a.driver.clone().unwrap(), b.driver.clone().unwrap()],
        1.3,
    );
    let (stop_held, watch_held) = reservation_monitor(
        s.server.state.clone(),
        vec![
            (1, a.driver.clone().unwrap()),
            (2, b.driver.clone().unwrap()),
        ],
    );
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": node(8, 1), "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": node(0, 1), "agv_id": 2 }),
    )
    .await;
    for t in [&ta, &tb] {
        wait_task(&s, t["id"].as_u64().unwrap(), "completed").await;
    }
    stop.store(true, Ordering::Relaxed);
    stop_held.store(true, Ordering::Relaxed);
    let closest = watch.await.unwrap();
    let checks = watch_held.await.unwrap();
    assert!(
        checks > 100,
        "the reservation monitor ran ({checks} checks)"
    );
    println!("closest approach {closest:.2} m");
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

/// An AGV whose path is blocked by an idle AGV is replanned around it, but only once it stands
/// at the end of what it was released: while it still drives its released pieces, the space
/// under it stays reserved for it (the reservation monitor fails otherwise).
#[tokio::test]
async fn an_agv_is_replanned_around_a_parked_one_only_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 9, 3).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 9, c, r);
    let mover = driving(&s, 1, 0.0, 2.0).await;
    let parked = driving(&s, 2, 10.0, 2.0).await;
    mover.driver.as_ref().unwrap().lock().unwrap().speed = 1.2;
    let (stop, watch) = monitor(
        vec![
            mover.driver.clone().unwrap(),
            parked.driver.clone().unwrap(),
        ],
        1.3,
    );
    let (stop_held, watch_held) = reservation_monitor(
        s.server.state.clone(),
        vec![(1, mover.driver.clone().unwrap())],
    );
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": node(8, 1), "agv_id": 1 }),
    )
    .await;
    wait_task(&s, t["id"].as_u64().unwrap(), "completed").await;
    stop.store(true, Ordering::Relaxed);
    stop_held.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    assert!(watch_held.await.unwrap() > 100);
    mover.stop().await;
    parked.stop().await;
    s.stop().await;
}

/// A task that finished before a restart is listed and answered as it ended.
#[tokio::test]
async fn a_finished_task_is_answered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = driving(&s, 1, 0.0, 0.0).await;
    let t = submit(&s, json!({ "kind": "move", "destination": "park-1" })).await;
    let id = t["id"].as_u64().unwrap();
    wait_task(&s, id, "completed").await;
    a.stop().await;
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let (status, t) = call(
        &s,
        reqwest::Method::GET,
        &format!("/api/v1/tasks/{id}"),
        None,
    )
    .await;
    assert_eq!((status, &t["state"]), (200, &json!("completed")), "{t}");
    assert_eq!(t["agv"], 1);
    assert!(t["steps"].as_array().is_some_and(|s| !s.is_empty()), "{t}");
    let (_, all) = call(&s, reqwest::Method::GET, "/api/v1/tasks", None).await;
    assert!(all.as_array().unwrap().iter().any(|x| x["id"] == id));
    s.stop().await;
}

/// An AGV that came out of a lift on floor 3 and an AGV waiting in front of that lift to ride
/// it wait on each other: the deadlock is resolved (one of them goes another way) and both
/// tasks complete.
#[tokio::test]
async fn an_agv_leaving_a_lift_and_one_waiting_for_it_do_not_block_each_other() {
    lift_exit_deadlock(14.0).await;
}

/// The same with the waiting AGV standing off its node (stopped on an edge, moved by hand):
/// it counts as at rest too. (Before: only AGVs on a node did, and this cycle was never
/// broken.)
#[tokio::test]
async fn a_deadlock_with_an_agv_standing_off_its_node_is_resolved() {
    lift_exit_deadlock(13.6).await;
}

async fn lift_exit_deadlock(b_x: f64) {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    maps::generate::grid_site("grid3", 3, 9, 3)
        .write(&site)
        .unwrap();
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(site);
    let s = Running::start(config).await;
    let node = |f: u32, c: u32, r: u32| maps::generate::grid_node(f, 9, c, r);
    // A in the east cabin on floor 3, B just in front of it
    let mut da = Driver::at(16.0, 2.0);
    da.map_id = 3;
    let a = BackgroundAgv::spawn_driving(&s.server, normal_agv(1), da);
    let mut db = Driver::at(b_x, 2.0);
    db.map_id = 3;
    let b = BackgroundAgv::spawn_driving(&s.server, normal_agv(2), db);
    let state = s.server.state.clone();
    eventually("both report", || {
        [1, 2].iter().all(|id| {
            state
                .fleet
                .get(*id)
                .is_some_and(|v| v.registered && v.status.is_some())
        })
    })
    .await;
    let ta = submit(
        &s,
        json!({ "kind": "move", "destination": node(3, 1, 1), "agv_id": 1 }),
    )
    .await;
    let tb = submit(
        &s,
        json!({ "kind": "move", "destination": node(2, 5, 1), "agv_id": 2 }),
    )
    .await;
    for t in [&ta, &tb] {
        wait_task(&s, t["id"].as_u64().unwrap(), "completed").await;
    }
    a.stop().await;
    b.stop().await;
    s.stop().await;
}
