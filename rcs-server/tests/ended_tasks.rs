//! Ended tasks beyond those kept in memory (`rcs_server::tasks::KEEP_ENDED_IN_MEMORY`) are
//! answered from storage exactly as they were answered from memory: by id, by reference and in
//! the list (which holds the ended tasks of the last day up to `KEEP_ENDED_MAX`), before and
//! after a restart.

use rcs_server::Config;
use rcs_server::tasks::{KEEP_ENDED_IN_MEMORY, KEEP_ENDED_MAX};
use serde_json::{Value, json};

mod support;
use support::Running;
use support::fleet::{call, driving, submit, wait_task};

async fn get(s: &Running, path: &str) -> (u16, Value) {
    call(s, reqwest::Method::GET, path, None).await
}

/// The task list's entry for task `id`.
async fn listed(s: &Running, id: u64) -> (usize, Option<Value>) {
    let (status, all) = get(s, "/api/v1/tasks").await;
    assert_eq!(status, 200, "{all}");
    let all = all.as_array().unwrap();
    let entry = all.iter().find(|t| t["id"] == id).cloned();
    (all.len(), entry)
}

#[tokio::test]
async fn a_task_beyond_those_kept_in_memory_is_answered_from_storage_as_it_ended() {
    const { assert!(KEEP_ENDED_IN_MEMORY < KEEP_ENDED_MAX) };
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    // one task driven to its end (steps, released nodes), with a reference
    let a = driving(&s, 1, 0.0, 0.0).await;
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": "park-1", "reference": "order-1" }),
    )
    .await;
    let id = t["id"].as_u64().unwrap();
    wait_task(&s, id, "completed").await;
    a.stop().await;
    let path = format!("/api/v1/tasks/{id}");
    let (_, first) = get(&s, &path).await;
    assert!(
        first["steps"].as_array().is_some_and(|s| !s.is_empty()),
        "{first}"
    );
    // then more ended tasks than memory keeps (cancelled while queued: no AGV is online)
    for _ in 0..KEEP_ENDED_IN_MEMORY + 1 {
        let t = submit(&s, json!({ "kind": "move", "destination": "dock-A" })).await;
        let (status, cancelled) = call(
            &s,
            reqwest::Method::DELETE,
            &format!("/api/v1/tasks/{}", t["id"]),
            None,
        )
        .await;
        assert_eq!(status, 200, "{cancelled}");
    }
    let total = KEEP_ENDED_IN_MEMORY + 2;
    assert_eq!(get(&s, &path).await, (200, first.clone()));
    assert_eq!(listed(&s, id).await, (total, Some(first.clone())));
    let (status, again) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "move", "destination": "park-1", "reference": "order-1" })),
    )
    .await;
    assert_eq!((status, &again), (200, &first));
    s.stop().await;

    // after a restart only the newest ended tasks are read into memory: the first one comes
    // from storage, the same
    let s = Running::start(Config::for_tests(dir.path())).await;
    assert_eq!(get(&s, &path).await, (200, first.clone()));
    assert_eq!(listed(&s, id).await, (total, Some(first.clone())));
    let (status, again) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/tasks",
        Some(json!({ "kind": "move", "destination": "park-1", "reference": "order-1" })),
    )
    .await;
    assert_eq!((status, &again), (200, &first));
    // the newest first, and a limit, as before
    let (_, newest) = get(&s, "/api/v1/tasks?limit=2").await;
    let newest: Vec<u64> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(newest.len(), 2);
    assert!(newest[0] > newest[1] && newest[1] > id, "{newest:?}");
    let (_, done) = get(&s, "/api/v1/tasks?state=completed").await;
    assert_eq!(done, json!([first]));
    // a limit reaching down to the stored task includes it, one less does not (storage is
    // read only when a stored task can be in the answer)
    let (_, reaching) = get(&s, &format!("/api/v1/tasks?limit={total}")).await;
    assert_eq!(reaching.as_array().unwrap().last(), Some(&first));
    let (_, short) = get(&s, &format!("/api/v1/tasks?limit={}", total - 1)).await;
    assert_eq!(short.as_array().unwrap().len(), total - 1);
    assert!(!short.as_array().unwrap().contains(&first));
    let (_, open) = get(&s, "/api/v1/tasks?state=queued,running").await;
    assert_eq!(open, json!([]));
    s.stop().await;
}
