//! A task from the API to its end: piece by piece, cancelled, across a restart, across floors
//! by lift, to a charger, answered after a restart.

use super::*;

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
