//! What the browser dashboard stands on, over real HTTP: the page and its assets (served without
//! a token, locked down by a content security policy), `whoami`, the live fleet stream (every AGV
//! first, then only what changed), the held-space overlays and the task list filters. The page
//! itself is tested in headless Chromium in `agv-sim/tests/dashboard.rs`.

use std::time::Duration;

use rcs_server::Config;
use serde_json::{Value, json};

mod support;
use support::sse::Stream;
use support::{ADMIN, BackgroundAgv, Running, ack_all, client, get, normal_agv};

#[tokio::test]
async fn the_page_and_its_assets_are_served_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<canvas id=\"map\""),
        (
            "/dashboard/app.js",
            "text/javascript; charset=utf-8",
            "window.rcsDashboard",
        ),
        (
            "/dashboard/waits.js",
            "text/javascript; charset=utf-8",
            "window.rcsWaits",
        ),
        (
            "/dashboard/i18n.js",
            "text/javascript; charset=utf-8",
            "window.rcsI18n",
        ),
        (
            "/dashboard/style.css",
            "text/css; charset=utf-8",
            "#map-pane",
        ),
        ("/dashboard/icon.svg", "image/svg+xml", "<svg"),
    ] {
        let resp = client().get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], content_type, "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let body = resp.text().await.unwrap();
        assert!(body.contains(marker), "{path} serves the asset");
    }
    // Nothing from elsewhere: no CDN, no external font or script.
    let page = support::text(&s, "/").await;
    assert!(!page.contains("http://") && !page.contains("https://"));
    // The API under it still wants a token, and unknown paths still get the JSON 404.
    assert_eq!(get(&s, "/api/v1/agvs", None).await.0, 401);
    let (status, body) = get(&s, "/dashboard/nope.js", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    s.stop().await;
}

#[tokio::test]
async fn whoami_names_the_token_and_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    assert_eq!(get(&s, "/api/v1/whoami", None).await.0, 401);
    assert_eq!(get(&s, "/api/v1/whoami", Some("wrong")).await.0, 401);
    let (status, me) = get(&s, "/api/v1/whoami", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "admin");
    let created: Value = client()
        .post(s.url("/api/v1/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({ "name": "wall", "role": "viewer" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, me) = get(&s, "/api/v1/whoami", created["token"].as_str()).await;
    assert_eq!(me, json!({ "name": "wall", "role": "viewer" }));
    s.stop().await;
}

/// The AGVs of the next `n` `agvs` events of a live stream.
async fn live_events(stream: &mut Stream, n: usize) -> Vec<Vec<Value>> {
    events_of(stream, n, "agvs").await
}

/// The lists of the next `n` `kind` events of a live stream (others are skipped).
async fn events_of(stream: &mut Stream, n: usize, kind: &str) -> Vec<Vec<Value>> {
    let events = stream.next_named(n, kind).await;
    events
        .into_iter()
        .map(|e| match e {
            Value::Array(list) => list,
            other => panic!("a list: {other}"),
        })
        .collect()
}

#[tokio::test]
async fn the_live_stream_sends_every_agv_then_only_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let first = BackgroundAgv::spawn_at(&s.server, normal_agv(41), ack_all(), 3.5);
    support::eventually("AGV 41 reports", || {
        s.server
            .state
            .fleet
            .get(41)
            .is_some_and(|v| v.status.is_some())
    })
    .await;

    assert_eq!(get(&s, "/api/v1/live", None).await.0, 401);
    let (status, err) = get(&s, "/api/v1/live?interval_ms=soon", Some(ADMIN)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_query"))
    );
    let resp = client()
        .get(s.url(&format!(
            "/api/v1/live?access_token={ADMIN}&interval_ms=100"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = Stream::of(resp);
    let events = live_events(&mut stream, 1).await;
    let a = &events[0][0];
    assert_eq!(events[0].len(), 1);
    assert_eq!(a["id"], 41);
    assert_eq!(a["online"], true);
    assert_eq!(a["map"], 1);
    assert_eq!(a["x"], 3.5);
    assert_eq!(a["y"], 1.25);
    assert_eq!(a["state"], "idle");
    assert_eq!(a["secure"], false);
    assert!(a["footprint"].as_array().is_some_and(|f| f.len() == 4));
    // its session is counted under a lower-case label
    let metrics = support::text(&s, "/metrics").await;
    assert!(
        metrics.contains("rcs_sessions_total{mode=\"normal\"} 1"),
        "{metrics}"
    );

    // A second AGV: the next update has it, and not the first one, which did not change.
    let second = BackgroundAgv::spawn_at(&s.server, normal_agv(42), ack_all(), 6.5);
    let mut seen_42 = false;
    for _ in 0..20 {
        let update = live_events(&mut stream, 1).await.remove(0);
        assert!(
            update.iter().all(|a| a["id"] != 41),
            "AGV 41 did not change: {update:?}"
        );
        if update.iter().any(|a| a["id"] == 42 && a["x"] == 6.5) {
            seen_42 = true;
            break;
        }
    }
    assert!(seen_42, "the second AGV shows up");

    // The first goes offline: that is a change.
    first.stop().await;
    let mut offline = false;
    for _ in 0..40 {
        let update = live_events(&mut stream, 1).await.remove(0);
        if update.iter().any(|a| a["id"] == 41 && a["online"] == false) {
            offline = true;
            break;
        }
    }
    assert!(offline, "AGV 41 going offline is streamed");

    // Decommissioned: it leaves the fleet, and the stream says so.
    let resp = client()
        .delete(s.url("/api/v1/agvs/41"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let gone = events_of(&mut stream, 1, "gone").await.remove(0);
    assert_eq!(gone, [json!(41)]);
    second.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn held_space_by_map_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let agv = BackgroundAgv::spawn_at(&s.server, normal_agv(51), ack_all(), 3.5);
    let mut held = Value::Null;
    for _ in 0..100 {
        held = get(&s, "/api/v1/space?map_id=1", Some(ADMIN)).await.1;
        if held.as_array().is_some_and(|h| !h.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fp = held
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["agv_id"] == 51)
        .expect("AGV 51's footprint is held");
    assert_eq!(fp["kind"], "footprint");
    assert_eq!(fp["map_id"], 1);
    let ring = fp["polygons"][0].as_array().unwrap();
    assert!(ring.len() >= 4);
    // The footprint surrounds the AGV's reported position (3.5, 1.25).
    let xs: Vec<f64> = ring.iter().map(|p| p[0].as_f64().unwrap()).collect();
    let ys: Vec<f64> = ring.iter().map(|p| p[1].as_f64().unwrap()).collect();
    let within = |v: &[f64], c: f64| {
        v.iter().copied().fold(f64::MAX, f64::min) < c
            && v.iter().copied().fold(f64::MIN, f64::max) > c
    };
    assert!(within(&xs, 3.5) && within(&ys, 1.25), "{ring:?}");

    let (_, grants) = get(&s, "/api/v1/space?kind=grant", Some(ADMIN)).await;
    assert_eq!(grants, json!([]));
    let (_, other_map) = get(&s, "/api/v1/space?map_id=99", Some(ADMIN)).await;
    assert_eq!(other_map, json!([]));
    let (status, err) = get(&s, "/api/v1/space?map_id=first", Some(ADMIN)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, err) = get(&s, "/api/v1/space?kind=bogus", Some(ADMIN)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_query"))
    );
    assert_eq!(get(&s, "/api/v1/space", None).await.0, 401);
    agv.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn the_task_list_filters_by_state_agv_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    // No AGV: the tasks stay queued.
    for dest in ["dock-A", "dock-B", "dock-A"] {
        let resp = client()
            .post(s.url("/api/v1/tasks"))
            .bearer_auth(ADMIN)
            .json(&json!({ "kind": "move", "destination": dest }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
    }
    let ids = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    let (_, all) = get(&s, "/api/v1/tasks", Some(ADMIN)).await;
    let all = ids(&all);
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "by id: {all:?}");
    let (_, newest) = get(&s, "/api/v1/tasks?limit=2", Some(ADMIN)).await;
    assert_eq!(ids(&newest), vec![all[2], all[1]], "newest first");
    let (_, queued) = get(&s, "/api/v1/tasks?state=queued,running", Some(ADMIN)).await;
    assert_eq!(ids(&queued).len(), 3);
    let (_, done) = get(&s, "/api/v1/tasks?state=completed", Some(ADMIN)).await;
    assert_eq!(done, json!([]));
    let (_, none) = get(&s, "/api/v1/tasks?agv_id=7", Some(ADMIN)).await;
    assert_eq!(none, json!([]));
    let (status, err) = get(&s, "/api/v1/tasks?limit=-1", Some(ADMIN)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, err) = get(&s, "/api/v1/tasks?state=sleeping", Some(ADMIN)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_query"))
    );
    s.stop().await;
}
