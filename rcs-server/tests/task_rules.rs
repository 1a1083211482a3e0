//! Task submission policies end to end: the task rules (a task to a place that does not fit its
//! kind, a lift door, a forbidden area or an unreachable node is refused with 400 and a code),
//! idempotent submission by the submitter's reference (also across restarts and for tasks
//! finished long ago), and priorities and deadlines (validated, shown, and the order queued
//! tasks are assigned in).

use maps::file::{
    AreaFile, AreaKind, Bounds, EdgeFile, MapFile, MapRef, Movement, Navigation, NodeFile,
    NodeKind, SiteFile, SiteFiles, Trajectory,
};
use maps::generate::grid_node;
use protocol::message::Message;
use rcs_server::Config;
use serde_json::{Value, json};

mod support;
use support::Running;
use support::fleet::{call, driving, submit, wait_task};

async fn post(s: &Running, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::POST, "/api/v1/tasks", Some(body)).await
}

/// Asserts a refusal: 400, the code, and a message for people.
async fn refused(s: &Running, body: Value, code: &str) {
    let (status, answer) = post(s, body.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some(code)),
        "{body} → {answer}"
    );
    assert!(
        answer["message"].as_str().is_some_and(|m| m.len() > 10),
        "{answer}"
    );
}

async fn task_count(s: &Running) -> usize {
    let (_, all) = call(s, reqwest::Method::GET, "/api/v1/tasks", None).await;
    all.as_array().unwrap().len()
}

fn warehouse(dir: &std::path::Path) -> Config {
    let mut config = Config::for_tests(&dir.join("data"));
    config.site =
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/warehouse-3f"));
    config
}

#[tokio::test]
async fn each_kind_of_task_goes_only_to_its_kind_of_place() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    // the demo hall: node 20 is a plain waypoint
    let waypoint = grid_node(0, 8, 3, 2);
    assert_eq!(
        s.server.state.site.node(waypoint).unwrap().kind,
        NodeKind::Waypoint
    );
    refused(
        &s,
        json!({ "kind": "charge", "destination": waypoint }),
        "not_a_charger",
    )
    .await;
    refused(
        &s,
        json!({ "kind": "charge", "destination": "park-1" }),
        "not_a_charger",
    )
    .await;
    refused(
        &s,
        json!({ "kind": "park", "destination": "dock-A" }),
        "not_a_parking_place",
    )
    .await;
    refused(
        &s,
        json!({ "kind": "pick", "destination": "charger-2" }),
        "not_a_load_place",
    )
    .await;
    refused(
        &s,
        json!({ "kind": "drop", "destination": "park-2" }),
        "not_a_load_place",
    )
    .await;
    assert_eq!(task_count(&s).await, 0, "nothing refused was queued");
    for body in [
        json!({ "kind": "charge", "destination": "charger-1" }),
        json!({ "kind": "charge" }),
        json!({ "kind": "park", "destination": "park-1" }),
        json!({ "kind": "pick", "destination": "dock-A" }),
        json!({ "kind": "drop", "destination": waypoint }),
        json!({ "kind": "move", "destination": "charger-2" }),
        json!({ "kind": "move", "destination": "park-2" }),
    ] {
        submit(&s, body).await;
    }
    assert_eq!(task_count(&s).await, 7);
    s.stop().await;
}

#[tokio::test]
async fn lift_doors_and_forbidden_areas_are_never_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(warehouse(dir.path())).await;
    let door = grid_node(1, 20, 0, 5);
    assert!(
        s.server
            .state
            .site
            .lifts()
            .iter()
            .any(|l| l.doors.iter().any(|d| d.1 == door))
    );
    refused(
        &s,
        json!({ "kind": "move", "destination": door }),
        "destination_lift_door",
    )
    .await;
    // floor 2's storage block (forbidden) covers column 8, row 4
    refused(
        &s,
        json!({ "kind": "move", "destination": grid_node(2, 20, 8, 4) }),
        "destination_forbidden",
    )
    .await;
    refused(
        &s,
        json!({ "kind": "pick", "destination": grid_node(2, 20, 9, 5) }),
        "destination_forbidden",
    )
    .await;
    // the same place one floor up is fine, and so is the node beside the door
    submit(
        &s,
        json!({ "kind": "move", "destination": grid_node(3, 20, 8, 4) }),
    )
    .await;
    submit(
        &s,
        json!({ "kind": "move", "destination": grid_node(1, 20, 1, 5) }),
    )
    .await;
    assert_eq!(task_count(&s).await, 2);
    s.stop().await;
}

/// One map:
/// ```text
///  1 - 2 - 3 <- 4        10 - 11
///          |
///          5 - [forbidden] - 6
/// ```
fn islands_site(dir: &std::path::Path) {
    let node = |id, x: f64, y: f64| NodeFile {
        id,
        x,
        y,
        theta: None,
        kind: NodeKind::Waypoint,
        qr: None,
        name: None,
    };
    let edge = |id, from, to, bidirectional| EdgeFile {
        id,
        from,
        to,
        bidirectional,
        max_speed: None,
        length: None,
        trajectory: Trajectory::Line,
        movement: vec![Movement::Forward],
        navigation: vec![],
        width: None,
    };
    let map = MapFile {
        bounds: Bounds {
            min: [-1.0, -10.0],
            max: [40.0, 10.0],
        },
        max_speed: 1.5,
        nodes: vec![
            node(1, 0.0, 0.0),
            node(2, 3.0, 0.0),
            node(3, 6.0, 0.0),
            node(4, 9.0, 0.0),
            node(5, 6.0, -3.0),
            node(6, 12.0, -3.0),
            node(10, 30.0, 0.0),
            node(11, 33.0, 0.0),
        ],
        edges: vec![
            edge(1, 1, 2, true),
            edge(2, 2, 3, true),
            edge(3, 4, 3, false),
            edge(4, 3, 5, true),
            edge(5, 5, 6, true),
            edge(6, 10, 11, true),
        ],
        areas: vec![AreaFile {
            id: 1,
            kind: AreaKind::Forbidden,
            polygon: vec![[8.5, -4.0], [9.5, -4.0], [9.5, -2.0], [8.5, -2.0]],
            speed: None,
            direction: None,
        }],
    };
    SiteFiles {
        site: Some(SiteFile {
            name: "islands".into(),
            maps: vec![MapRef {
                id: 1,
                name: "Islands".into(),
                file: "islands.toml".into(),
                building: String::new(),
                floor: 0,
                navigation: Navigation::Slam,
                version: 1,
            }],
            lifts: vec![],
            links: vec![],
            vehicles: Default::default(),
        }),
        maps: vec![("islands.toml".into(), map)],
    }
    .write(dir)
    .unwrap();
}

#[tokio::test]
async fn unreachable_destinations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    islands_site(&site);
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(site);
    let s = Running::start(config).await;
    let agv = driving(&s, 1, 0.0, 0.0).await; // at node 1
    // from where AGV 1 stands, the island is out of reach
    refused(
        &s,
        json!({ "kind": "move", "destination": 11, "agv_id": 1 }),
        "destination_unreachable",
    )
    .await;
    // node 4 only leads out, node 6 is entered only across the forbidden area: nobody gets there
    refused(
        &s,
        json!({ "kind": "move", "destination": 4 }),
        "destination_unreachable",
    )
    .await;
    refused(
        &s,
        json!({ "kind": "move", "destination": 6, "agv_id": 1 }),
        "destination_unreachable",
    )
    .await;
    refused(
        &s,
        json!({ "kind": "move", "destination": 6 }),
        "destination_unreachable",
    )
    .await;
    // the island itself can be reached from its other node (an AGV may be put there)
    submit(&s, json!({ "kind": "move", "destination": 11 })).await;
    // and AGV 1 gets where it can
    let t = submit(&s, json!({ "kind": "move", "destination": 5, "agv_id": 1 })).await;
    let done = wait_task(&s, t["id"].as_u64().unwrap(), "completed").await;
    assert_eq!(done["agv"], 1);
    assert_eq!(agv.position().unwrap().2, 5);
    agv.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn priority_deadline_and_reference_are_checked_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    for priority in [
        json!(101),
        json!(-1),
        json!(2.5),
        json!("high"),
        json!(1000),
    ] {
        refused(
            &s,
            json!({ "kind": "move", "destination": "dock-A", "priority": priority }),
            "invalid_priority",
        )
        .await;
    }
    for reference in [String::new(), "x".repeat(129)] {
        refused(
            &s,
            json!({ "kind": "move", "destination": "dock-A", "reference": reference }),
            "invalid_reference",
        )
        .await;
    }
    let t = submit(&s, json!({ "kind": "move", "destination": "dock-A" })).await;
    assert_eq!(t["priority"], 50, "{t}");
    assert_eq!(t["late"], false, "{t}");
    assert!(
        t.get("reference").is_none() && t.get("deadline_ms").is_none(),
        "{t}"
    );
    let far = rcs_server::state::now_ms() + 24 * 3_600_000;
    let long = "é".repeat(128); // 128 characters, 256 bytes
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-B", "priority": 0, "deadline_ms": far,
                "reference": long }),
    )
    .await;
    assert_eq!(
        (
            &t["priority"],
            &t["deadline_ms"],
            &t["late"],
            &t["reference"]
        ),
        (&json!(0), &json!(far), &json!(false), &json!(long))
    );
    // a deadline already past: late while it waits
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-C", "priority": 100, "deadline_ms": 1_000 }),
    )
    .await;
    assert_eq!((&t["priority"], &t["late"]), (&json!(100), &json!(true)));
    let (_, again) = call(
        &s,
        reqwest::Method::GET,
        &format!("/api/v1/tasks/{}", t["id"]),
        None,
    )
    .await;
    assert_eq!(again["late"], true, "{again}");
    assert_eq!(task_count(&s).await, 3);
    s.stop().await;
}

#[tokio::test]
async fn a_reference_makes_submission_idempotent_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let first = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-A", "reference": "order-1", "priority": 70 }),
    )
    .await;
    let id = first["id"].as_u64().unwrap();
    assert_eq!(first["reference"], "order-1");
    let dock_a = first["destination"].clone();
    // the same request again, by name or by node id: the same task, 200
    for destination in [json!("dock-A"), dock_a.clone()] {
        let (status, again) = post(
            &s,
            json!({ "kind": "move", "destination": destination, "reference": "order-1" }),
        )
        .await;
        assert_eq!((status, &again["id"]), (200, &json!(id)), "{again}");
        assert_eq!(
            again["priority"], 70,
            "the first submission's priority stays"
        );
    }
    // another request with that reference: 409 naming the task
    for body in [
        json!({ "kind": "move", "destination": "dock-B", "reference": "order-1" }),
        json!({ "kind": "pick", "destination": "dock-A", "reference": "order-1" }),
        json!({ "kind": "move", "destination": "dock-A", "reference": "order-1", "agv_id": 1 }),
    ] {
        let (status, answer) = post(&s, body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (409, Some("reference_conflict")),
            "{body} → {answer}"
        );
        assert_eq!(answer["detail"]["task_id"], id);
    }
    // the same reference twice at once: one task
    let body = json!({ "kind": "charge", "reference": "order-2" });
    let (a, b) = tokio::join!(post(&s, body.clone()), post(&s, body.clone()));
    assert_eq!(a.1["id"], b.1["id"], "{} {}", a.1, b.1);
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201]);
    // a charge task left to the server's choice is not the same as one to a named charger
    let (status, _) = post(
        &s,
        json!({ "kind": "charge", "destination": a.1["destination"], "reference": "order-2" }),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(task_count(&s).await, 2);
    s.stop().await;

    // after a restart the references are still answered
    let s = Running::start(Config::for_tests(dir.path())).await;
    let (status, again) = post(
        &s,
        json!({ "kind": "move", "destination": "dock-A", "reference": "order-1" }),
    )
    .await;
    assert_eq!((status, &again["id"]), (200, &json!(id)), "{again}");
    assert_eq!(
        (&again["reference"], &again["priority"], &again["state"]),
        (&json!("order-1"), &json!(70), &json!("queued"))
    );
    let (status, _) = post(
        &s,
        json!({ "kind": "move", "destination": "dock-B", "reference": "order-1" }),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = post(&s, json!({ "kind": "charge", "reference": "order-2" })).await;
    assert_eq!(status, 200);
    let (status, cancelled) = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/api/v1/tasks/{id}"),
        None,
    )
    .await;
    assert_eq!((status, &cancelled["state"]), (200, &json!("cancelled")));
    let newer = submit(
        &s,
        json!({ "kind": "move", "destination": "dock-C", "reference": "order-3" }),
    )
    .await;
    assert!(newer["id"].as_u64().unwrap() > id);
    s.stop().await;

    // a task that ended more than a day before the restart is not loaded, but it and its
    // reference are still answered (from the database)
    let db = rcs_server::db::Db::open(&Config::for_tests(dir.path()).database_url())
        .await
        .unwrap();
    db.execute_raw("UPDATE tasks SET updated_at = 1 WHERE reference = 'order-1'")
        .await
        .unwrap();
    db.close().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let path = format!("/api/v1/tasks/{id}");
    let (status, ended) = call(&s, reqwest::Method::GET, &path, None).await;
    assert_eq!(
        (status, &ended["state"]),
        (200, &json!("cancelled")),
        "{ended}"
    );
    let (status, again) = post(
        &s,
        json!({ "kind": "move", "destination": "dock-A", "reference": "order-1" }),
    )
    .await;
    assert_eq!(
        (status, &again["id"], &again["state"]),
        (200, &json!(id), &json!("cancelled")),
        "{again}"
    );
    assert_eq!(call(&s, reqwest::Method::GET, &path, None).await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn queued_tasks_run_by_priority_then_deadline_then_submission() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let now = rcs_server::state::now_ms();
    // No AGV yet: everything waits in the queue.
    let mut ids = std::collections::HashMap::new();
    for (name, body) in [
        (
            "low",
            json!({ "kind": "move", "destination": "dock-A", "priority": 10 }),
        ),
        ("plain", json!({ "kind": "move", "destination": "dock-B" })),
        (
            "urgent",
            json!({ "kind": "move", "destination": "dock-C", "priority": 90 }),
        ),
        (
            "later",
            json!({ "kind": "move", "destination": "line-1", "deadline_ms": now + 7_200_000 }),
        ),
        (
            "sooner",
            json!({ "kind": "move", "destination": "park-1", "priority": 50,
                    "deadline_ms": now + 3_600_000 }),
        ),
        (
            "plain-2",
            json!({ "kind": "move", "destination": "park-2" }),
        ),
    ] {
        let t = submit(&s, body).await;
        assert_eq!(t["state"], "queued");
        ids.insert(t["id"].as_u64().unwrap(), name);
    }
    let agv = driving(&s, 1, 0.0, 0.0).await;
    for id in ids.keys() {
        wait_task(&s, *id, "completed").await;
    }
    let mut order: Vec<&str> = Vec::new();
    for m in agv.commands.lock().unwrap().iter() {
        if let Message::MotionCommand(c) = m {
            let name = ids[&u64::from(c.task_id)];
            if order.last() != Some(&name) {
                order.push(name);
            }
        }
    }
    assert_eq!(
        order,
        ["urgent", "sooner", "later", "plain", "plain-2", "low"]
    );
    agv.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn a_node_inside_or_on_the_outline_of_a_forbidden_area_is_never_a_destination() {
    let dir = tempfile::tempdir().unwrap();
    // the demo hall (nodes 3 m apart) with two more forbidden areas: one around the node at
    // (6, 3), one with the node at (12, 9) on its outline
    let mut files = maps::generate::demo();
    for (id, [x0, y0, x1, y1]) in [(10, [5.0, 2.0, 7.0, 4.0]), (11, [12.0, 8.0, 13.0, 10.0])] {
        files.maps[0].1.areas.push(AreaFile {
            id,
            kind: AreaKind::Forbidden,
            polygon: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
            speed: None,
            direction: None,
        });
    }
    files.write(&dir.path().join("site")).unwrap();
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(dir.path().join("site"));
    let s = Running::start(config).await;
    let site = s.server.state.site.clone();
    let at = |x: f64, y: f64| {
        site.nodes()
            .iter()
            .find(|n| (n.x - x).abs() < 1e-9 && (n.y - y).abs() < 1e-9)
            .unwrap()
            .id
    };
    let inside = [at(6.0, 3.0), at(12.0, 9.0)];
    let agv = support::BackgroundAgv::spawn(&s.server, support::normal_agv(98), support::ack_all());
    let state = s.server.state.clone();
    support::eventually("AGV 98 reports", || {
        state.fleet.get(98).is_some_and(|v| v.status.is_some())
    })
    .await;
    for id in &inside {
        // by id, by id as text, and for the AGV standing nearby
        for body in [
            json!({ "kind": "move", "destination": id }),
            json!({ "kind": "move", "destination": id.to_string() }),
            json!({ "kind": "pick", "destination": id, "agv_id": 98 }),
        ] {
            let (status, answer) = post(&s, body.clone()).await;
            assert_eq!(status, 400, "{body}: {answer}");
            assert_eq!(answer["error"], "destination_forbidden", "{body}: {answer}");
            assert!(
                answer["message"]
                    .as_str()
                    .unwrap()
                    .contains("forbidden area"),
                "{answer}"
            );
        }
    }
    assert_eq!(task_count(&s).await, 0, "nothing was queued");
    agv.stop().await;
    s.stop().await;
}

/// A task the database does not store is not acknowledged: 503 `not_stored`, no task left
/// queued, its reference free; submitted again once the database stores it, it is accepted.
#[tokio::test]
async fn a_task_that_is_not_stored_is_not_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let db = &s.server.state.db;
    db.execute_raw(
        "CREATE TRIGGER refuse_tasks BEFORE INSERT ON tasks \
         BEGIN SELECT RAISE(ABORT, 'refused for the test'); END",
    )
    .await
    .unwrap();
    let body = json!({ "kind": "move", "destination": "dock-A", "reference": "order-9" });
    let (status, answer) = post(&s, body.clone()).await;
    assert_eq!(
        (status, &answer["error"]),
        (503, &json!("not_stored")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("refused for the test"),
        "{answer}"
    );
    let (_, open) = call(
        &s,
        reqwest::Method::GET,
        "/api/v1/tasks?state=queued,running",
        None,
    )
    .await;
    assert_eq!(open, json!([]), "nothing left queued");
    db.execute_raw("DROP TRIGGER refuse_tasks").await.unwrap();
    let (status, task) = post(&s, body).await;
    assert_eq!(status, 201, "the reference was freed: {task}");
    assert_eq!(task["reference"], "order-9");
    s.stop().await;
}
