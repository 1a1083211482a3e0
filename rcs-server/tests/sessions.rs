//! A command belongs to the session it was made for (docs/protocol.md 4.1): an AGV back in a
//! new session (after a link loss, or taking over a connection not yet seen ending) forgot what
//! the earlier one was released, so nothing made for the earlier one reaches it.

use protocol::message::*;
use protocol::session::AgvEvent;
use serde_json::json;

mod support;
use support::fleet::{call, grid_server, submit, wait_task};
use support::{BackgroundAgv, Driver, agv_key, eventually, secure_agv};

/// A session that takes over another (the AGV rebooted mid-drive, before its old connection
/// was seen ending) starts from nothing: the AGV forgot the path it was driving, so its task
/// goes back to the queue, the space it held stays until it reports standing, and its first
/// release in the new session is a new path (sequence 0) from where it stands; no command made
/// for the old session reaches it. (Before: the task ran on as if nothing had happened, and the
/// next segment of the forgotten path went to the new session, which drove it as a new path
/// on space the RCS had given up: the soak's AGVs 453 and 803 met so.)
#[tokio::test]
async fn a_session_that_takes_over_gets_nothing_made_for_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 9, 3).await;
    let (key, pem) = agv_key(dir.path(), 42);
    let (status, body) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/agvs/enroll",
        Some(json!({ "agv_id": 42, "public_key_pem": pem })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let state = s.server.state.clone();
    let mut driver = Driver::at(0.0, 2.0);
    driver.speed = 1.0;
    let first = BackgroundAgv::spawn_driving(&s.server, secure_agv(42, &key, &s.server), driver);
    eventually("AGV 42 reports", || {
        state
            .fleet
            .get(42)
            .is_some_and(|v| v.registered && v.status.is_some())
    })
    .await;
    let first_session = state.fleet.get(42).unwrap().session_id;
    let task = submit(
        &s,
        json!({ "kind": "move", "destination": maps::generate::grid_node(1, 9, 8, 1), "agv_id": 42 }),
    )
    .await;
    let id = task["id"].as_u64().unwrap();
    let d1 = first.driver.clone().unwrap();
    eventually("driving its second piece", || {
        let d = d1.lock().unwrap();
        d.x > 3.0 && d.released > 2
    })
    .await;
    // it reboots where it is: the old connection goes quiet, the new one knows no path
    first
        .silent
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut back = {
        let mut d = d1.lock().unwrap();
        d.speed = 0.0;
        let mut back = Driver::at(d.x, d.y);
        back.last_node_id = d.last_node_id;
        back
    };
    back.speed = 1.0;
    let second = BackgroundAgv::spawn_driving(&s.server, secure_agv(42, &key, &s.server), back);
    eventually("the second session owns 42", || {
        state
            .fleet
            .get(42)
            .is_some_and(|v| v.online && v.session_id != first_session && v.status.is_some())
    })
    .await;
    let done = wait_task(&s, id, "completed").await;
    assert_eq!(done["agv"], 42, "{done}");
    let motions: Vec<MotionCommand> = second
        .commands
        .lock()
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            Message::MotionCommand(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert!(!motions.is_empty());
    assert_eq!(
        motions[0].nodes[0].sequence, 0,
        "the first release in the new session continues the forgotten path: {:?}",
        motions[0]
    );
    assert!(
        !second.has_event(|e| matches!(e, AgvEvent::Closed(_))),
        "the second session closed"
    );
    second.stop().await;
    first.stop().await;
    s.stop().await;
}
