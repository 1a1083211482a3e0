//! An AGV's life in the fleet: decommissioned through the API (admin, only offline, without
//! work or grants), its space cleared for good (across a restart too), its history kept; back
//! in service when it registers again. Clearing an offline AGV's space also holds across a
//! restart.

use std::time::Duration;

use protocol::message::*;
use protocol::types::*;
use rcs_server::Config;
use reqwest::Method;
use serde_json::{Value, json};

mod support;
use support::fleet::call;
use support::{ADMIN, BackgroundAgv, Running, ack_all, eventually, normal_agv, request};

fn circle(x: f64, y: f64) -> Message {
    SpaceRequest {
        map_id: 1,
        region: Region::Circle {
            center: Point { x, y },
            radius: 0.5,
        },
        limit: SpaceLimit::Free,
        duration_ms: 5_000,
        reason: SpaceReason::ObstacleAvoidance,
    }
    .into()
}

/// Asks for space at A's spot and gives it back at once: whether it was free.
async fn free_at_a(b: &BackgroundAgv) -> bool {
    match b.request(circle(3.5, 1.25)).await {
        Message::SpaceGrant(g) => {
            let ack = b
                .request(
                    SpaceRelease {
                        grant_id: g.grant_id,
                    }
                    .into(),
                )
                .await;
            assert!(matches!(ack, Message::Ack(a) if a.result == ResultCode::Ok));
            true
        }
        Message::SpaceDeny(d) => {
            assert_eq!(d.reason, DenyReason::Occupied);
            false
        }
        other => panic!("{other:?}"),
    }
}

async fn reporting(s: &Running, id: u32, x: f64) -> BackgroundAgv {
    let agv = BackgroundAgv::spawn_at(&s.server, normal_agv(id), ack_all(), x);
    let state = s.server.state.clone();
    eventually("reports", || {
        state.fleet.get(id).is_some_and(|v| v.status.is_some())
    })
    .await;
    agv
}

async fn offline(s: &Running, agv: BackgroundAgv, id: u32) {
    agv.stop().await;
    let state = s.server.state.clone();
    eventually("offline", || state.fleet.get(id).is_some_and(|v| !v.online)).await;
    // its last snapshot stored (the telemetry writer runs every 250 ms)
    tokio::time::sleep(Duration::from_millis(400)).await;
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_decommissioned_agv_leaves_the_fleet_and_its_space_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = reporting(&s, 1, 3.5).await;
    let b = reporting(&s, 2, 15.5).await;
    let (_, made) = request(
        &s,
        Method::POST,
        "/api/v1/tokens",
        Some(ADMIN),
        Some(json!({ "name": "floor", "role": "operator" })),
    )
    .await;
    let operator = made["token"].as_str().unwrap().to_owned();

    // online: refused; an operator may not; unknown ids and 0 answer as such
    let (status, body) = call(&s, Method::DELETE, "/api/v1/agvs/1", None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("agv_online")));
    let (status, _) = request(&s, Method::DELETE, "/api/v1/agvs/1", Some(&operator), None).await;
    assert_eq!(status, 403);
    let (status, body) = call(&s, Method::DELETE, "/api/v1/agvs/4242", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_agv")));
    let (status, body) = call(&s, Method::DELETE, "/api/v1/agvs/0", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_agv_id"))
    );

    // offline with a task naming it: refused, naming the task
    offline(&s, a, 1).await;
    assert!(!free_at_a(&b).await, "an offline AGV's space is free");
    let (status, task) = call(
        &s,
        Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "move", "destination": "dock-B", "agv_id": 1 })),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_u64().unwrap();
    let (status, body) = call(&s, Method::DELETE, "/api/v1/agvs/1", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("agv_has_tasks"))
    );
    assert_eq!(body["detail"]["tasks"], json!([task_id]));
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/api/v1/tasks/{task_id}"),
            None
        )
        .await
        .0,
        200
    );

    // decommissioned: gone from the fleet, its space free, a task cannot name it
    let (status, body) = call(&s, Method::DELETE, "/api/v1/agvs/1", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "decommissioned");
    assert_eq!(body["footprint_cleared"], true);
    assert!(free_at_a(&b).await, "its footprint still blocks");
    assert_eq!(call(&s, Method::GET, "/api/v1/agvs/1", None).await.0, 404);
    assert_eq!(
        ids(&call(&s, Method::GET, "/api/v1/agvs", None).await.1),
        [2]
    );
    let (status, _) = call(
        &s,
        Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "move", "destination": "dock-B", "agv_id": 1 })),
    )
    .await;
    assert!((400..500).contains(&status), "a task for it: {status}");
    let (status, body) = call(&s, Method::DELETE, "/api/v1/agvs/1", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_agv")));
    // its history stays: the task, the audit entry
    let (status, t) = call(&s, Method::GET, &format!("/api/v1/tasks/{task_id}"), None).await;
    assert_eq!((status, t["state"].as_str()), (200, Some("cancelled")));
    let (_, log) = call(&s, Method::GET, "/api/v1/audit?limit=100", None).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "agv.decommissioned" && e["detail"]["agv_id"] == 1),
        "{log}"
    );

    // after a restart: still gone, its space still free
    b.stop().await;
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let b = reporting(&s, 2, 15.5).await;
    assert_eq!(call(&s, Method::GET, "/api/v1/agvs/1", None).await.0, 404);
    assert!(free_at_a(&b).await, "its space came back after a restart");

    // it registers again: back in service
    let a = reporting(&s, 1, 3.5).await;
    assert_eq!(call(&s, Method::GET, "/api/v1/agvs/1", None).await.0, 200);
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn space_an_operator_cleared_stays_cleared_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = reporting(&s, 1, 3.5).await;
    let b = reporting(&s, 2, 15.5).await;
    offline(&s, a, 1).await;
    assert!(!free_at_a(&b).await);
    let (status, body) = call(&s, Method::DELETE, "/api/v1/agvs/1/space", None).await;
    assert_eq!((status, &body["footprint"]), (200, &json!(true)));
    assert!(free_at_a(&b).await);
    b.stop().await;
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let b = reporting(&s, 2, 15.5).await;
    // still known (not decommissioned), its space not blocked again
    assert_eq!(call(&s, Method::GET, "/api/v1/agvs/1", None).await.0, 200);
    assert!(
        free_at_a(&b).await,
        "cleared space came back after a restart"
    );
    // it returns and reports: its footprint blocks again, and after the next restart too
    let a = reporting(&s, 1, 3.5).await;
    assert!(!free_at_a(&b).await);
    offline(&s, a, 1).await;
    b.stop().await;
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let b = reporting(&s, 2, 15.5).await;
    assert!(
        !free_at_a(&b).await,
        "a later pose is not blocked after a restart"
    );
    b.stop().await;
    s.stop().await;
}

/// `rcs-server agv decommission` asks the running server, with the admin token; a refusal
/// comes back as an error naming its reason.
#[tokio::test]
async fn the_cli_decommissions_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = reporting(&s, 1, 3.5).await;
    let api = s.url("");
    let run = move |id: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcs-server"))
            .args(["agv", "decommission", "--id", id, "--api", &api])
            .env("RCS_API_TOKEN", ADMIN)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let online = run.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || online("1"))
        .await
        .unwrap();
    assert!(!ok && err.contains("agv_online"), "{err}");
    offline(&s, a, 1).await;
    let (ok, out, err) = tokio::task::spawn_blocking(move || run("1")).await.unwrap();
    assert!(ok && out.contains("decommissioned AGV 1"), "{out} {err}");
    assert_eq!(call(&s, Method::GET, "/api/v1/agvs/1", None).await.0, 404);
    s.stop().await;
}
