//! Safe-space grants end to end on the demo site: AGVs over TCP ask for space; the server
//! grants only space nobody else holds, denies with the documented reason otherwise, ends
//! grants on release, expiry and operator revoke, and keeps an offline AGV's footprint blocked
//! until an operator clears it, across a restart too.

use std::time::Duration;

use protocol::message::*;
use protocol::types::*;
use rcs_server::Config;
use serde_json::{Value, json};

mod support;
use support::{ADMIN, BackgroundAgv, Running, ack_all, eventually, normal_agv};

fn circle(x: f64, y: f64, radius: f32, duration_ms: u32) -> Message {
    SpaceRequest {
        map_id: 1,
        region: Region::Circle {
            center: Point { x, y },
            radius,
        },
        limit: SpaceLimit::Free,
        duration_ms,
        reason: SpaceReason::ObstacleAvoidance,
    }
    .into()
}

fn denied(m: &Message) -> Option<(DenyReason, u32)> {
    match m {
        Message::SpaceDeny(d) => Some((d.reason, d.retry_after_ms)),
        _ => None,
    }
}

fn granted(m: &Message) -> u32 {
    match m {
        Message::SpaceGrant(g) => g.grant_id,
        other => panic!("expected a grant, got {other:?}"),
    }
}

async fn api(s: &Running, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, s.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn reporting(s: &Running, agv: BackgroundAgv, id: u32) -> BackgroundAgv {
    let state = s.server.state.clone();
    eventually("reports", || {
        state.fleet.get(id).is_some_and(|v| v.status.is_some())
    })
    .await;
    agv
}

#[tokio::test]
async fn grants_only_free_space_and_end_them_on_release_revoke_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    // A stands at (3.5, 1.25), B at (15.5, 1.25) on the demo hall
    let a = reporting(
        &s,
        BackgroundAgv::spawn_at(&s.server, normal_agv(1), ack_all(), 3.5),
        1,
    )
    .await;
    let b = reporting(
        &s,
        BackgroundAgv::spawn_at(&s.server, normal_agv(2), ack_all(), 15.5),
        2,
    )
    .await;

    let g1 = granted(&a.request(circle(4.5, 3.0, 1.0, 30_000)).await);
    // B asks for an overlapping space: denied, retry later
    assert_eq!(
        denied(&b.request(circle(5.0, 3.5, 1.0, 30_000)).await),
        Some((DenyReason::Granted, 2_000))
    );
    // ... and for space where A stands
    assert_eq!(
        denied(&b.request(circle(3.5, 1.25, 0.5, 30_000)).await),
        Some((DenyReason::Occupied, 2_000))
    );
    // the pillar, another map, too large, malformed: denied for good
    assert_eq!(
        denied(&b.request(circle(10.5, 4.5, 0.5, 30_000)).await),
        Some((DenyReason::ForbiddenArea, 0))
    );
    let mut other_map = circle(15.5, 3.0, 0.5, 30_000);
    if let Message::SpaceRequest(r) = &mut other_map {
        r.map_id = 2;
    }
    assert_eq!(
        denied(&b.request(other_map).await),
        Some((DenyReason::WrongMap, 0))
    );
    assert_eq!(
        denied(&b.request(circle(15.5, 6.0, 4.0, 30_000)).await),
        Some((DenyReason::TooLarge, 0))
    );
    // small, but reaching beyond the map's bounds (x up to 22 m): TooLarge too
    assert_eq!(
        denied(&b.request(circle(21.8, 6.0, 0.5, 30_000)).await),
        Some((DenyReason::TooLarge, 0))
    );
    let bow_tie = SpaceRequest {
        map_id: 1,
        region: Region::Polygon {
            points: vec![
                Point { x: 14.0, y: 5.0 },
                Point { x: 16.0, y: 7.0 },
                Point { x: 16.0, y: 5.0 },
                Point { x: 14.0, y: 7.0 },
            ],
        },
        limit: SpaceLimit::Free,
        duration_ms: 1_000,
        reason: SpaceReason::Other,
    };
    assert_eq!(
        denied(&b.request(bow_tie.into()).await),
        Some((DenyReason::InvalidRegion, 0))
    );
    // B gets free space
    let g2 = granted(&b.request(circle(15.5, 4.0, 1.0, 30_000)).await);

    // the API lists both; an operator revokes A's: A is told, acks, the space is free
    let (status, list) = api(&s, reqwest::Method::GET, "/api/v1/grants").await;
    assert_eq!(status, 200);
    let ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![u64::from(g1), u64::from(g2)]);
    let (status, body) = api(&s, reqwest::Method::DELETE, &format!("/api/v1/grants/{g1}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(a.commands.lock().unwrap().iter().any(|m| matches!(
        m,
        Message::SpaceRevoke(r) if r.grant_id == g1 && r.reason == RevokeReason::Operator
    )));
    assert_eq!(
        api(&s, reqwest::Method::DELETE, &format!("/api/v1/grants/{g1}"))
            .await
            .0,
        404
    );
    // now B may have that space
    let g3 = granted(&b.request(circle(5.0, 3.5, 1.0, 30_000)).await);

    // B releases it: acknowledged, gone; releasing again is an unknown object
    let ack = b.request(SpaceRelease { grant_id: g3 }.into()).await;
    assert!(
        matches!(&ack, Message::Ack(a) if a.result == ResultCode::Ok),
        "{ack:?}"
    );
    let ack = b.request(SpaceRelease { grant_id: g3 }.into()).await;
    assert!(matches!(ack, Message::Ack(a) if a.result == ResultCode::UnknownObject));
    // A may not release B's grant
    let ack = a.request(SpaceRelease { grant_id: g2 }.into()).await;
    assert!(matches!(ack, Message::Ack(a) if a.result == ResultCode::Rejected));

    // a short grant expires: the AGV is told, the space is free
    let g4 = granted(&a.request(circle(7.0, 9.0, 1.0, 300)).await);
    eventually("expiry revoke", || {
        a.commands.lock().unwrap().iter().any(|m| {
            matches!(m, Message::SpaceRevoke(r) if r.grant_id == g4 && r.reason == RevokeReason::Expired)
        })
    })
    .await;
    granted(&b.request(circle(7.5, 9.0, 1.0, 1_000)).await);

    // the audit log and the metrics saw it
    let (_, log) = api(&s, reqwest::Method::GET, "/api/v1/audit?limit=500").await;
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"grant.revoke"), "{kinds:?}");
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn an_offline_agv_keeps_its_space_until_an_operator_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = reporting(
        &s,
        BackgroundAgv::spawn_at(&s.server, normal_agv(1), ack_all(), 3.5),
        1,
    )
    .await;
    let b = reporting(
        &s,
        BackgroundAgv::spawn_at(&s.server, normal_agv(2), ack_all(), 15.5),
        2,
    )
    .await;
    a.stop().await;
    let state = s.server.state.clone();
    eventually("A offline", || {
        state.fleet.get(1).is_some_and(|v| !v.online)
    })
    .await;
    // A's last footprint still blocks
    assert_eq!(
        denied(&b.request(circle(3.5, 1.25, 0.5, 5_000)).await),
        Some((DenyReason::Occupied, 2_000))
    );
    // across a restart too (telemetry flushed first)
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.stop().await;
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let b = reporting(
        &s,
        BackgroundAgv::spawn_at(&s.server, normal_agv(2), ack_all(), 15.5),
        2,
    )
    .await;
    assert_eq!(
        denied(&b.request(circle(3.5, 1.25, 0.5, 5_000)).await),
        Some((DenyReason::Occupied, 2_000))
    );
    // an online AGV's space cannot be cleared; an offline one's can, by an operator
    assert_eq!(
        api(&s, reqwest::Method::DELETE, "/api/v1/agvs/2/space")
            .await
            .0,
        409
    );
    let (status, body) = api(&s, reqwest::Method::DELETE, "/api/v1/agvs/1/space").await;
    assert_eq!((status, &body["footprint"]), (200, &json!(true)));
    granted(&b.request(circle(3.5, 1.25, 0.5, 5_000)).await);
    b.stop().await;
    s.stop().await;
}

/// An AGV offline for longer than the telemetry history is kept still blocks its space after a
/// restart: its last snapshot is kept apart from the history and never pruned. (And an AGV
/// standing still writes one history row, not one a batch.) (Before: the
/// restart restored the last snapshots from the history, and an AGV whose rows had all been
/// pruned came back with no pose: its space was free.)
#[tokio::test]
async fn an_agv_offline_for_longer_than_the_history_still_blocks_its_space() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let a = reporting(
        &s,
        BackgroundAgv::spawn_at(&s.server, normal_agv(1), ack_all(), 3.5),
        1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await; // telemetry written
    a.stop().await;
    s.stop().await;
    // a day and more later: the history pruned whole
    let db = rcs_server::db::Db::open(&Config::for_tests(dir.path()).database_url())
        .await
        .unwrap();
    // standing still, reporting the same at 10 Hz over two batches and more: one history row
    let history = db.telemetry_history(1, 0, u64::MAX).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    db.prune_telemetry(i64::MAX, i64::MAX).await.unwrap();
    assert!(
        db.telemetry_history(1, 0, u64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    db.close().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let b = reporting(
        &s,
        BackgroundAgv::spawn_at(&s.server, normal_agv(2), ack_all(), 15.5),
        2,
    )
    .await;
    assert_eq!(
        denied(&b.request(circle(3.5, 1.25, 0.5, 5_000)).await),
        Some((DenyReason::Occupied, 2_000))
    );
    b.stop().await;
    s.stop().await;
}
