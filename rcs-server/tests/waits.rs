//! Explained waits end to end (docs/traffic.md, "Explained waits"): a task that does not move
//! says why, in the task JSON, the AGV JSON, `GET /api/v1/waits` and the metrics; a task blocked
//! by an offline AGV raises one alarm per episode.

use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::MessageType;
use rcs_server::Config;
use serde_json::{Value, json};

mod support;
use support::fleet::{call, driving, submit, wait_task};
use support::{BackgroundAgv, Driver, Running, eventually, normal_agv};

/// A server on a generated one-floor grid of `cols` × `rows` nodes 2 m apart, with `tune`
/// applied to its configuration.
async fn server(
    dir: &tempfile::TempDir,
    cols: u32,
    rows: u32,
    tune: impl FnOnce(&mut Config),
) -> Running {
    let site = dir.path().join("site");
    maps::generate::grid_site("grid", 1, cols, rows)
        .write(&site)
        .unwrap();
    let mut config = Config::for_tests(&dir.path().join("data"));
    config.site = Some(site);
    tune(&mut config);
    Running::start(config).await
}

async fn get(s: &Running, path: &str) -> Value {
    let (status, body) = call(s, reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Polls `path` until `check` holds for its JSON (10 s at most); returns that JSON.
async fn until(s: &Running, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = get(s, path).await;
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {path} is {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics(s: &Running) -> String {
    reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the metric line starting with `series` (0 if there is none).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// How many `kind` events the audit log holds.
async fn logged(s: &Running, kind: &str) -> Vec<Value> {
    get(s, "/api/v1/audit?limit=10000")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// AGV 1 follows AGV 2 along a row; AGV 2 has a task but its motion command is never answered,
/// so it stands on what was reserved for it. AGV 1 waits for AGV 2 at the first node of the
/// piece it cannot have, and says so in its task, its AGV, the list of waits and the metrics;
/// AGV 2's task is settling (its command unanswered while it stands). Once AGV 2's task is
/// cancelled the wait ends, AGV 1's task completes, and the wait is counted as finished.
#[tokio::test]
async fn a_task_behind_another_agv_says_which_agv_and_node_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, 9, 3, |c| c.command_timeout_ms = 120_000).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 9, c, r);
    let a = driving(&s, 1, 0.0, 2.0).await;
    let mut d2 = Driver::at(8.0, 2.0);
    d2.mute = vec![MessageType::MOTION_COMMAND];
    let b = BackgroundAgv::spawn_driving(&s.server, normal_agv(2), d2);
    let state = s.server.state.clone();
    eventually("AGV 2 reports", || {
        state
            .fleet
            .get(2)
            .is_some_and(|v| v.registered && v.status.is_some())
    })
    .await;
    let t2 = submit(
        &s,
        json!({ "kind": "move", "destination": node(8, 1), "agv_id": 2 }),
    )
    .await;
    let id2 = t2["id"].as_u64().unwrap();
    let path2 = format!("/api/v1/tasks/{id2}");
    until(&s, &path2, "AGV 2's task settling", |t| {
        t["wait"]["reason"] == "settling"
    })
    .await;
    let t1 = submit(
        &s,
        json!({ "kind": "move", "destination": node(8, 1), "agv_id": 1 }),
    )
    .await;
    let id1 = t1["id"].as_u64().unwrap();
    let path1 = format!("/api/v1/tasks/{id1}");
    let t = until(&s, &path1, "AGV 1's task waiting for AGV 2", |t| {
        t["wait"]["reason"] == "for_agv"
    })
    .await;
    // the first node of the piece it could not get: AGV 2 holds (4, 1) to (7, 1)
    assert_eq!(t["wait"]["agv"], 2, "{t}");
    assert_eq!(t["wait"]["node"], node(4, 1), "{t}");
    assert!(t["wait"]["since_ms"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(t["waiting_for"], 2, "{t}");
    // (it waits from when it cannot have the next piece; it drives up to the one before)
    eventually("AGV 1 at (3, 1)", || a.position().unwrap().2 == node(3, 1)).await;

    // the AGV's JSON, one and in the list
    let agv = get(&s, "/api/v1/agvs/1").await;
    assert_eq!(agv["wait"]["reason"], "for_agv", "{agv}");
    assert_eq!(agv["wait"]["agv"], 2, "{agv}");
    assert_eq!(agv["wait"]["node"], node(4, 1), "{agv}");
    assert_eq!(agv["wait"]["task_id"], id1, "{agv}");
    let all = get(&s, "/api/v1/agvs").await;
    let listed = all
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 1)
        .unwrap();
    assert_eq!(listed["wait"]["reason"], "for_agv", "{listed}");
    assert_eq!(listed["wait"]["node"], node(4, 1), "{listed}");
    let agv2 = get(&s, "/api/v1/agvs/2").await;
    assert_eq!(agv2["wait"]["reason"], "settling", "{agv2}");

    // the list of waits, longest first: AGV 2's settling began before AGV 1's wait
    let waits = get(&s, "/api/v1/waits").await;
    let waits = waits.as_array().unwrap();
    let tasks: Vec<u64> = waits
        .iter()
        .map(|w| w["task_id"].as_u64().unwrap())
        .collect();
    assert_eq!(tasks, vec![id2, id1], "{waits:?}");
    assert_eq!(waits[1]["agv_id"], 1);
    assert_eq!(waits[1]["reason"], "for_agv");
    assert!(waits[0]["waited_ms"].as_u64() >= waits[1]["waited_ms"].as_u64());

    // documented: the wait in a task's and an AGV's schema, and the list of waits
    let doc = get(&s, "/api/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [("Task", "wait"), ("AgvDto", "wait"), ("WaitDoc", "reason")] {
        assert!(
            schemas[schema]["properties"][field].is_object(),
            "{schema}.{field}: {}",
            schemas[schema]
        );
    }
    assert!(doc["paths"]["/api/v1/waits"]["get"].is_object());

    // the gauges by reason
    let m = metrics(&s).await;
    assert_eq!(
        metric(&m, "rcs_waiting_agvs{reason=\"for_agv\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "rcs_waiting_agvs{reason=\"settling\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "rcs_waiting_agvs{reason=\"blocked_by_offline\"}"),
        0.0,
        "{m}"
    );

    // AGV 2's task cancelled: AGV 1 goes on (around it or once it is out of the way)
    let (status, _) = call(&s, reqwest::Method::DELETE, &path2, None).await;
    assert_eq!(status, 200);
    let done = wait_task(&s, id1, "completed").await;
    assert!(done.get("wait").is_none(), "{done}");
    let m = metrics(&s).await;
    assert!(
        metric(&m, "rcs_wait_seconds_count{reason=\"for_agv\"}") >= 1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "rcs_waiting_agvs{reason=\"for_agv\"}"),
        0.0,
        "{m}"
    );
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

/// A single lane; AGV 2 stands in it and goes offline, keeping its space. AGV 1's task through
/// the lane is blocked by the offline AGV: its wait says so, and after
/// `offline_alarm_after_ms` exactly one alarm is raised for it, naming the offline AGV, the node
/// and what an operator can do; it is not raised again while the wait goes on. Once an operator
/// clears AGV 2's space, AGV 1's task completes.
#[tokio::test]
async fn a_task_blocked_by_an_offline_agv_raises_one_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, 9, 1, |c| {
        c.link_timeout_ms = 600;
        c.offline_alarm_after_ms = 300;
    })
    .await;
    let node = |c: u32| maps::generate::grid_node(1, 9, c, 0);
    let a = driving(&s, 1, 0.0, 0.0).await;
    let b = driving(&s, 2, 8.0, 0.0).await;
    let state = s.server.state.clone();
    b.silent.store(true, Ordering::Relaxed);
    eventually("AGV 2 offline", || {
        state.fleet.get(2).is_some_and(|v| !v.online)
    })
    .await;
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": node(8), "agv_id": 1 }),
    )
    .await;
    let id = t["id"].as_u64().unwrap();
    let path = format!("/api/v1/tasks/{id}");
    let t = until(&s, &path, "blocked by the offline AGV", |t| {
        t["wait"]["reason"] == "blocked_by_offline"
    })
    .await;
    assert_eq!(t["wait"]["agv"], 2, "{t}");
    assert_eq!(t["wait"]["node"], node(4), "{t}");
    let agv = get(&s, "/api/v1/agvs/1").await;
    assert_eq!(agv["wait"]["reason"], "blocked_by_offline", "{agv}");
    assert_eq!(agv["wait"]["agv"], 2, "{agv}");

    // one alarm, in the audit log
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let alarms = loop {
        let alarms = logged(&s, "task.blocked_by_offline").await;
        if !alarms.is_empty() {
            break alarms;
        }
        assert!(tokio::time::Instant::now() < deadline, "no alarm");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let alarm = &alarms[0]["detail"];
    assert_eq!(alarm["task_id"], id, "{alarm}");
    assert_eq!(alarm["agv_id"], 1, "{alarm}");
    assert_eq!(alarm["blocker"], 2, "{alarm}");
    assert_eq!(alarm["node"], node(4), "{alarm}");
    assert!(alarm["waited_ms"].as_u64().unwrap() >= 300, "{alarm}");
    let action = alarm["action"].as_str().unwrap();
    for says in [
        "bring AGV 2 back online",
        "DELETE /api/v1/agvs/2/space",
        &format!("cancel task {id}"),
    ] {
        assert!(action.contains(says), "{action}");
    }
    // still blocked many dispatcher passes later, and still one alarm
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = get(&s, &path).await;
    assert_eq!(t["wait"]["reason"], "blocked_by_offline", "{t}");
    assert_eq!(logged(&s, "task.blocked_by_offline").await.len(), 1);
    let m = metrics(&s).await;
    assert_eq!(metric(&m, "rcs_wait_alarms_total"), 1.0, "{m}");
    assert_eq!(
        metric(&m, "rcs_waiting_agvs{reason=\"blocked_by_offline\"}"),
        1.0,
        "{m}"
    );

    // the operator checked the floor and clears AGV 2's space: the task goes on
    let (status, body) = call(&s, reqwest::Method::DELETE, "/api/v1/agvs/2/space", None).await;
    assert_eq!(status, 200, "{body}");
    wait_task(&s, id, "completed").await;
    assert_eq!(logged(&s, "task.blocked_by_offline").await.len(), 1);
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

/// An AGV that goes offline: its task goes back to the queue for it and waits for it
/// (`offline`), in the task and the AGV JSON; once it is back the task runs and completes.
#[tokio::test]
async fn a_task_whose_agv_is_offline_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, 9, 3, |c| c.link_timeout_ms = 600).await;
    let node = |c: u32, r: u32| maps::generate::grid_node(1, 9, c, r);
    let a = driving(&s, 1, 0.0, 2.0).await;
    a.driver.as_ref().unwrap().lock().unwrap().speed = 1.0;
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": node(8, 1), "agv_id": 1 }),
    )
    .await;
    let id = t["id"].as_u64().unwrap();
    wait_task(&s, id, "running").await;
    a.silent.store(true, Ordering::Relaxed);
    let path = format!("/api/v1/tasks/{id}");
    let t = until(&s, &path, "waiting for its offline AGV", |t| {
        t["wait"]["reason"] == "offline"
    })
    .await;
    assert_eq!(t["state"], "queued", "{t}");
    let agv = get(&s, "/api/v1/agvs/1").await;
    assert_eq!(agv["online"], false, "{agv}");
    assert_eq!(agv["wait"]["reason"], "offline", "{agv}");
    assert_eq!(agv["wait"]["task_id"], id, "{agv}");
    let m = metrics(&s).await;
    assert_eq!(
        metric(&m, "rcs_waiting_agvs{reason=\"offline\"}"),
        1.0,
        "{m}"
    );
    // back: a new session, where the old one stopped
    let (x, y, _) = a.position().unwrap();
    a.stop().await;
    let back = driving(&s, 1, x, y).await;
    let done = wait_task(&s, id, "completed").await;
    assert!(done.get("wait").is_none(), "{done}");
    let m = metrics(&s).await;
    assert!(
        metric(&m, "rcs_wait_seconds_count{reason=\"offline\"}") >= 1.0,
        "{m}"
    );
    back.stop().await;
    s.stop().await;
}

/// A single lane; AGV 2 holds a safe-space grant across it. AGV 1's task through the lane
/// waits for that grant (`for_grant`, naming AGV 2 and the grant), and goes on once AGV 2
/// releases it.
#[tokio::test]
async fn a_task_behind_a_safe_space_grant_names_the_grant() {
    use protocol::message::*;
    use protocol::types::*;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, 9, 1, |_| {}).await;
    let node = |c: u32| maps::generate::grid_node(1, 9, c, 0);
    let a = driving(&s, 1, 0.0, 0.0).await;
    let b = driving(&s, 2, 16.0, 0.0).await;
    let answer = b
        .request(
            SpaceRequest {
                map_id: 1,
                region: Region::Circle {
                    center: Point { x: 8.0, y: 0.0 },
                    radius: 0.5,
                },
                limit: SpaceLimit::Free,
                duration_ms: 60_000,
                reason: SpaceReason::ObstacleAvoidance,
            }
            .into(),
        )
        .await;
    let Message::SpaceGrant(grant) = answer else {
        panic!("expected a grant, got {answer:?}");
    };
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": node(6), "agv_id": 1 }),
    )
    .await;
    let id = t["id"].as_u64().unwrap();
    let t = until(
        &s,
        &format!("/api/v1/tasks/{id}"),
        "waiting for the grant",
        |t| t["wait"]["reason"] == "for_grant",
    )
    .await;
    assert_eq!(t["wait"]["agv"], 2, "{t}");
    assert_eq!(t["wait"]["grant"], grant.grant_id, "{t}");
    assert_eq!(t["waiting_for"], 2, "{t}");
    let m = metrics(&s).await;
    assert_eq!(
        metric(&m, "rcs_waiting_agvs{reason=\"for_grant\"}"),
        1.0,
        "{m}"
    );
    let released = b
        .request(
            SpaceRelease {
                grant_id: grant.grant_id,
            }
            .into(),
        )
        .await;
    assert!(matches!(released, Message::Ack(_)), "{released:?}");
    wait_task(&s, id, "completed").await;
    a.stop().await;
    b.stop().await;
    s.stop().await;
}
