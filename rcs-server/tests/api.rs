//! The HTTP API end to end: a real server on 127.0.0.1:0, AGVs speaking the protocol over TCP,
//! and an HTTP client. Tokens and roles, commands that wait for the AGV's answer (ok, refused,
//! unanswered, offline), the event stream, enrollment, the takeover rule, liveness, a restart
//! on the same data directory, and the OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use crypto::sign::SigningKey;
use protocol::message::*;
use protocol::session::{AgvEvent, CloseCause};
use protocol::types::*;
use rcs_server::Config;
use serde_json::{Value, json};

mod support;
use support::{
    ADMIN, BackgroundAgv, Running, ack, ack_all, agv_key, client, eventually, get, normal_agv,
    request, secure_agv, secure_agv_asking,
};

async fn post(s: &Running, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = client().post(s.url(path)).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn token(s: &Running, name: &str, role: &str) -> String {
    let (status, body) = post(
        s,
        "/api/v1/tokens",
        Some(ADMIN),
        &json!({ "name": name, "role": role }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tokens_roles_and_the_open_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;

    // healthz and metrics need no token
    let (status, body) = get(&s, "/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let metrics = support::text(&s, "/metrics").await;
    assert!(metrics.contains("rcs_agv_connections"), "{metrics}");
    // Prometheus text 0.0.4 unless OpenMetrics is asked for
    let resp = client().get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        metrics.contains("# TYPE rcs_status_reports_total counter") && !metrics.contains("# EOF"),
        "{metrics}"
    );
    let resp = client()
        .get(s.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let open = resp.text().await.unwrap();
    assert!(
        open.contains("# TYPE rcs_status_reports counter") && open.ends_with("# EOF\n"),
        "{open}"
    );

    // the API does
    let (status, body) = get(&s, "/api/v1/agvs", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = get(&s, "/api/v1/agvs", Some("rcs_nope")).await;
    assert_eq!(status, 401);

    // a viewer reads but may not command, enroll or create tokens
    let viewer = token(&s, "wall screen", "viewer").await;
    let operator = token(&s, "shift lead", "operator").await;
    let (status, body) = get(&s, "/api/v1/agvs", Some(&viewer)).await;
    assert_eq!((status, body), (200, json!([])));
    let pause = json!({ "command": "pause" });
    let (status, body) = post(&s, "/api/v1/agvs/1/commands", Some(&viewer), &pause).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let enroll = json!({ "agv_id": 1, "public_key_pem": "x" });
    let (status, _) = post(&s, "/api/v1/agvs/enroll", Some(&operator), &enroll).await;
    assert_eq!(status, 403, "enrolling is for admins");
    let new_token = json!({ "name": "x", "role": "admin" });
    let (status, _) = post(&s, "/api/v1/tokens", Some(&operator), &new_token).await;
    assert_eq!(status, 403, "operators cannot mint admins");
    // an operator may command: this AGV is unknown
    let (status, body) = post(&s, "/api/v1/agvs/1/commands", Some(&operator), &pause).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_agv")));

    // bad input: JSON errors are JSON
    let resp = client()
        .post(s.url("/api/v1/agvs/1/commands"))
        .bearer_auth(&operator)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_json");
    let (status, body) = post(
        &s,
        "/api/v1/agvs/1/commands",
        Some(&operator),
        &json!({ "command": "fly" }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_json"))
    );
    let (status, body) = get(&s, "/api/v1/agvs/seven", Some(&viewer)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_path"))
    );
    let (status, body) = get(&s, "/api/v1/nothing", Some(&viewer)).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));

    // no safety episode open
    let (status, body) = get(&s, "/api/v1/safety", Some(&viewer)).await;
    assert_eq!((status, body), (200, serde_json::json!([])));

    // the OpenAPI document names every route
    let (status, doc) = get(&s, "/api/openapi.json", None).await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/agvs",
        "/api/v1/agvs/{id}",
        "/api/v1/agvs/{id}/commands",
        "/api/v1/agvs/enroll",
        "/api/v1/events",
        "/api/v1/live",
        "/api/v1/space",
        "/api/v1/safety",
        "/api/v1/whoami",
        "/api/v1/tokens",
        "/api/v1/waits",
        "/healthz",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }

    // tokens survive a restart (stored as digests)
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let (status, _) = get(&s, "/api/v1/agvs", Some(&viewer)).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn without_rcs_api_token_an_admin_token_is_generated_into_a_0600_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.api_token = None;
    let s = Running::start(config.clone()).await;
    let path = dir.path().join("api-token");
    assert_eq!(
        s.server.admin_token,
        rcs_server::AdminTokenSource::File(path.clone())
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let t = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert!(t.starts_with("rcs_") && t.len() == 68, "{t}");
    assert_eq!(get(&s, "/api/v1/agvs", Some(&t)).await.0, 200);
    assert_eq!(get(&s, "/api/v1/agvs", Some(ADMIN)).await.0, 401);
    s.stop().await;
    // the same token after a restart
    let s = Running::start(config).await;
    assert_eq!(get(&s, "/api/v1/agvs", Some(&t)).await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn commands_reach_the_agv_and_wait_for_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.command_timeout_ms = 1500;
    let s = Running::start(config).await;
    let answer: support::Answer = Box::new(|seq, m| match m {
        Message::TaskControl(t) if t.op == TaskOp::Pause => Some(ack(seq, m, ResultCode::Ok)),
        Message::TaskControl(t) if t.op == TaskOp::Resume => Some(ack(seq, m, ResultCode::Busy)),
        Message::TaskControl(_) => None, // cancel: never answered
        Message::ParamQuery(q) => Some(
            ParamQueryResponse {
                request_seq: seq,
                result: ResultCode::Ok,
                values: q
                    .params
                    .iter()
                    .map(|p| Param {
                        param: *p,
                        value: ParamValue::F32(1.5),
                    })
                    .collect(),
            }
            .into(),
        ),
        _ => Some(ack(seq, m, ResultCode::Ok)),
    });
    let agv = BackgroundAgv::spawn(&s.server, normal_agv(21), answer);
    let state = s.server.state.clone();
    eventually("AGV 21 reports", || {
        state.fleet.get(21).is_some_and(|v| v.status.is_some())
    })
    .await;

    // a normal-mode session has no secure profile
    let (_, body) = get(&s, "/api/v1/agvs/21", Some(ADMIN)).await;
    assert_eq!(body["session"]["mode"], "normal", "{body}");
    assert_eq!(body["session"]["profile"], "none", "{body}");

    let op = token(&s, "shift lead", "operator").await;
    let url = "/api/v1/agvs/21/commands";
    let (status, body) = post(&s, url, Some(&op), &json!({ "command": "pause" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "acknowledged");
    assert_eq!(body["answer_type"], "ack");
    assert!(
        agv.commands.lock().unwrap().iter().any(
            |m| matches!(m, Message::TaskControl(t) if t.op == TaskOp::Pause && t.task_id == 0)
        )
    );

    let (status, body) = post(&s, url, Some(&op), &json!({ "command": "resume" })).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "agv_refused");
    assert_eq!(body["detail"]["result"], "busy");

    let (status, body) = post(
        &s,
        url,
        Some(&op),
        &json!({ "command": "param_query", "params": ["max_linear_speed"] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["answer"]["values"],
        json!([{ "param": "max_linear_speed", "value": 1.5 }])
    );

    let started = std::time::Instant::now();
    let (status, body) = post(&s, url, Some(&op), &json!({ "command": "cancel" })).await;
    assert_eq!((status, body["error"].as_str()), (504, Some("timeout")));
    assert!(started.elapsed() >= Duration::from_millis(1400));
    // the AGV's three answers are timed (pause, the refused resume, param_query); the
    // command it never answered is not; every command's audit row is, the unanswered one too
    let metrics = support::text(&s, "/metrics").await;
    assert!(
        metrics.contains("rcs_command_answer_seconds_count 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rcs_command_audit_seconds_count 4"),
        "{metrics}"
    );

    let (status, body) = post(
        &s,
        url,
        Some(&op),
        &json!({ "command": "nav_switch", "target": "warp", "map_id": 1 }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_command"))
    );

    // the audit log names who sent what
    let (status, log) = get(&s, "/api/v1/audit?limit=50", Some(&op)).await;
    assert_eq!(status, 200);
    let sent: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "command.sent")
        .collect();
    assert_eq!(sent.len(), 4, "{log}");
    assert!(sent.iter().all(|e| e["actor"] == "shift lead"));
    assert!(sent.iter().all(|e| e["detail"]["agv_id"] == 21));

    // an AGV that left: 409 agv_offline, and it shows offline
    agv.stop().await;
    eventually("AGV 21 offline", || {
        state.fleet.get(21).is_some_and(|v| !v.online)
    })
    .await;
    let (status, body) = post(&s, url, Some(&op), &json!({ "command": "pause" })).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("agv_offline")));
    let (status, body) = get(&s, "/api/v1/agvs/21", Some(&op)).await;
    assert_eq!(status, 200);
    assert_eq!(body["online"], false);
    assert_eq!(body["pose"]["x"], 3.5);
    s.stop().await;
}

#[tokio::test]
async fn the_event_stream_shows_sessions_and_state_changes() {
    use futures_util::StreamExt as _;
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let viewer = token(&s, "wall", "viewer").await;
    // browsers' EventSource cannot set headers: the token may come in the query
    let resp = client()
        .get(s.url(&format!("/api/v1/events?access_token={viewer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut body = resp.bytes_stream();
    let agv = BackgroundAgv::spawn(&s.server, normal_agv(31), ack_all());
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(text.contains("event: agv.online")
        && text.contains("event: agv.registered")
        && text.contains("event: agv.state"))
    {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events within 10 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let state_line = text
        .lines()
        .skip_while(|l| *l != "event: agv.state")
        .find(|l| l.starts_with("data: "))
        .unwrap();
    let online_line = text
        .lines()
        .skip_while(|l| *l != "event: agv.online")
        .find(|l| l.starts_with("data: "))
        .unwrap();
    let e: Value = serde_json::from_str(&online_line[6..]).unwrap();
    assert_eq!(e["detail"]["mode"], "normal", "{e}");
    assert_eq!(e["detail"]["profile"], "none", "{e}");
    let e: Value = serde_json::from_str(&state_line[6..]).unwrap();
    assert_eq!(e["agv_id"], 31);
    assert_eq!(e["detail"]["to"], "idle");
    assert_eq!(e["detail"]["from"], Value::Null);
    agv.stop().await;
    // no token, no stream
    let resp = client().get(s.url("/api/v1/events")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    s.stop().await;
}

#[tokio::test]
async fn enrolled_through_the_api_then_secure_access_and_the_takeover_rule() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let (key, pem) = agv_key(dir.path(), 41);

    let (status, body) = post(
        &s,
        "/api/v1/agvs/enroll",
        Some(ADMIN),
        &json!({ "agv_id": 41, "public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_key")));
    let (status, body) = post(
        &s,
        "/api/v1/agvs/enroll",
        Some(ADMIN),
        &json!({ "agv_id": 41, "public_key_pem": pem }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["key_id"],
        hex::encode(key.verifying_key().key_id()),
        "{body}"
    );

    let state = s.server.state.clone();
    let first = BackgroundAgv::spawn(&s.server, secure_agv(41, &key, &s.server), ack_all());
    eventually("secure AGV 41 reports", || {
        state.fleet.get(41).is_some_and(|v| v.status.is_some())
    })
    .await;
    let (_, body) = get(&s, "/api/v1/agvs/41", Some(ADMIN)).await;
    assert_eq!(body["session"]["mode"], "secure");
    assert_eq!(body["session"]["profile"], "fast");
    assert_eq!(body["enrolled"], true);
    let first_session = body["session"]["session_id"].as_u64().unwrap();

    // a normal-mode connection claiming id 41 cannot prove it is 41: refused in the access
    // response itself (`Rejected`), the first stays
    let impostor = BackgroundAgv::spawn(&s.server, normal_agv(41), ack_all());
    eventually("impostor closed", || impostor.is_finished()).await;
    assert!(
        impostor.has_event(|e| matches!(
            e,
            AgvEvent::Closed(CloseCause::Refused(ResultCode::Rejected))
        )),
        "{:?}",
        impostor.events.lock().unwrap()
    );
    assert!(!first.is_finished());
    let (_, body) = get(&s, "/api/v1/agvs/41", Some(ADMIN)).await;
    assert_eq!(body["session"]["session_id"], first_session);

    // a second secure connection with the enrolled key is 41 (rebooted): it takes over, here
    // in the gcm profile (its reports and the command below sealed with SM4-GCM)
    let second = BackgroundAgv::spawn(
        &s.server,
        secure_agv_asking(41, &key, &s.server, SecureProfile::Gcm),
        ack_all(),
    );
    eventually("first closed as replaced", || {
        first.has_event(|e| matches!(e, AgvEvent::Closed(CloseCause::Peer(CloseReason::Replaced))))
    })
    .await;
    eventually("second owns 41", || {
        state
            .fleet
            .get(41)
            .is_some_and(|v| v.online && v.session_id != first_session as u32 && v.status.is_some())
    })
    .await;
    let (_, body) = get(&s, "/api/v1/agvs/41", Some(ADMIN)).await;
    assert_eq!(body["session"]["profile"], "gcm", "{body}");
    // and commands go to the new session
    let (status, body) = post(
        &s,
        "/api/v1/agvs/41/commands",
        Some(ADMIN),
        &json!({ "command": "charge", "charger_node_id": 4 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(second.commands.lock().unwrap().iter().any(|m| matches!(
        m,
        Message::ChargeControl(c) if c.op == ChargeOp::Start && c.charger_node_id == 4 && c.target_pct == 100.0
    )));
    assert!(first.commands.lock().unwrap().is_empty());
    second.stop().await;
    first.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn a_silent_agv_goes_offline_and_the_fleet_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.link_timeout_ms = 600;
    let s = Running::start(config.clone()).await;
    let state = s.server.state.clone();
    let agv = BackgroundAgv::spawn(&s.server, normal_agv(51), ack_all());
    eventually("AGV 51 reports", || {
        state.fleet.get(51).is_some_and(|v| v.status.is_some())
    })
    .await;
    // the pushed configuration carries the link timeout
    assert!(agv.has_event(|e| matches!(e, AgvEvent::Configured(c) if c.link_timeout_ms == 600)));
    agv.silent.store(true, std::sync::atomic::Ordering::Relaxed);
    let silent_at = std::time::Instant::now();
    eventually("AGV 51 offline", || {
        state.fleet.get(51).is_some_and(|v| !v.online)
    })
    .await;
    let took = silent_at.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "offline only after the link timeout: {took:?}"
    );
    let (_, body) = get(&s, "/api/v1/agvs/51", Some(ADMIN)).await;
    assert_eq!(body["online"], false);
    // give the writer a flush, then restart on the same data directory
    tokio::time::sleep(Duration::from_millis(300)).await;
    agv.stop().await;
    s.stop().await;

    let s = Running::start(config).await;
    let (status, body) = get(&s, "/api/v1/agvs/51", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["online"], false);
    assert_eq!(body["identity"]["vendor"], "Acme");
    assert_eq!(body["identity"]["agv_type"], "jacking");
    assert_eq!(body["pose"]["x"], 3.5);
    assert_eq!(body["state"], "idle");
    assert_eq!(body["battery_pct"], 88.0);
    // and it comes back online
    let state = s.server.state.clone();
    let agv = BackgroundAgv::spawn(&s.server, normal_agv(51), ack_all());
    eventually("AGV 51 back", || {
        state
            .fleet
            .get(51)
            .is_some_and(|v| v.online && v.status.is_some())
    })
    .await;
    let (_, log) = get(&s, "/api/v1/audit?limit=1000", Some(ADMIN)).await;
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "agv.online",
        "agv.registered",
        "agv.link_lost",
        "agv.offline",
    ] {
        assert!(
            kinds.contains(&k),
            "{k} logged before the restart: {kinds:?}"
        );
    }
    agv.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn per_agv_secure_policy_and_secure_mode_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let put = |body: Value| {
        client()
            .put(s.url("/api/v1/agvs/91/policy"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let resp = put(json!({ "secure": "sometimes" })).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = put(json!({ "secure": "required" })).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["secure_policy"], "required");

    let agv = BackgroundAgv::spawn(&s.server, normal_agv(91), ack_all());
    eventually("refused", || agv.is_finished()).await;
    assert!(agv.has_event(|e| matches!(
        e,
        AgvEvent::Closed(CloseCause::Refused(ResultCode::SecureModeRequired))
    )));
    // another AGV is not affected
    let other = BackgroundAgv::spawn(&s.server, normal_agv(92), ack_all());
    let state = s.server.state.clone();
    eventually("92 in", || state.fleet.get(92).is_some_and(|v| v.online)).await;
    other.stop().await;

    // back to the server's policy
    assert_eq!(put(json!({ "secure": null })).await.unwrap().status(), 200);
    let agv = BackgroundAgv::spawn(&s.server, normal_agv(91), ack_all());
    eventually("91 in", || state.fleet.get(91).is_some_and(|v| v.online)).await;
    agv.stop().await;
    s.stop().await;

    // secure mode off: a secure access request is refused as unsupported
    let mut config = Config::for_tests(dir.path());
    config.secure = rcs_server::config::SecurePolicy::Off;
    let s = Running::start(config).await;
    let key =
        Arc::new(SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng()).unwrap());
    s.server
        .state
        .keys
        .insert(93, crypto::DEFAULT_ID, *key.verifying_key().public_key())
        .unwrap();
    let agv = BackgroundAgv::spawn(&s.server, secure_agv(93, &key, &s.server), ack_all());
    eventually("refused", || agv.is_finished()).await;
    assert!(
        agv.has_event(|e| matches!(
            e,
            AgvEvent::Closed(CloseCause::Refused(ResultCode::Unsupported))
        )),
        "{:?}",
        agv.events.lock().unwrap()
    );
    s.stop().await;
}

#[tokio::test]
async fn the_site_is_served_built_in_or_from_site() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let (status, maps) = get(&s, "/api/v1/maps", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(maps[0]["name"], "Hall");
    assert_eq!(maps[0]["nodes"], 40);
    let (status, map) = get(&s, "/api/v1/maps/1", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(map["node_list"].as_array().unwrap().len(), 40);
    assert!(
        map["areas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "forbidden")
    );
    assert_eq!(get(&s, "/api/v1/maps/9", Some(ADMIN)).await.0, 404);
    s.stop().await;

    let mut config = Config::for_tests(dir.path());
    config.site =
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../maps/sites/warehouse-3f"));
    let s = Running::start(config).await;
    let (_, maps) = get(&s, "/api/v1/maps", Some(ADMIN)).await;
    assert_eq!(maps.as_array().unwrap().len(), 3);
    let (_, floor) = get(&s, "/api/v1/maps/2", Some(ADMIN)).await;
    assert_eq!(floor["lifts"].as_array().unwrap().len(), 2);
    s.stop().await;

    // a broken site is an error at start, naming the file
    let mut config = Config::for_tests(dir.path());
    config.site = Some(dir.path().join("no-such-site"));
    let err = rcs_server::start(config, async {}).await.err().unwrap();
    assert!(err.to_string().contains("site.toml"), "{err}");
}

#[tokio::test]
async fn authentication_comes_before_the_path_query_and_body_are_read() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let bad = [
        (Method::GET, "/api/v1/agvs/abc", None),
        (Method::GET, "/api/v1/agvs/99999999999", None),
        (
            Method::POST,
            "/api/v1/agvs/x/commands",
            Some(json!({ "command": "pause" })),
        ),
        (Method::PUT, "/api/v1/agvs/-1/policy", Some(json!({}))),
        (Method::DELETE, "/api/v1/agvs/zz/space", None),
        (Method::GET, "/api/v1/tasks/nine", None),
        (Method::DELETE, "/api/v1/tasks/1.5", None),
        (
            Method::POST,
            "/api/v1/tasks",
            Some(json!({ "nonsense": true })),
        ),
        (Method::DELETE, "/api/v1/grants/q", None),
        (Method::GET, "/api/v1/maps/w", None),
        (Method::GET, "/api/v1/audit?limit=abc", None),
        (Method::GET, "/api/v1/tasks?limit=-3", None),
        (Method::POST, "/api/v1/tokens", Some(json!({ "name": 3 }))),
        (Method::GET, "/api/v1/no-such-route", None),
    ];
    for (method, path, body) in bad {
        for token in [None, Some("not-a-token")] {
            let (status, answer) = request(&s, method.clone(), path, token, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {answer}");
            assert_eq!(answer["error"], "unauthorized", "{method} {path}: {answer}");
        }
    }
    // with a valid token the same requests are judged on their content
    let (status, answer) = request(&s, Method::GET, "/api/v1/agvs/abc", Some(ADMIN), None).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_path"))
    );
    // the public endpoints stay public
    let (status, _) = request(&s, Method::GET, "/api/v1/cluster", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = request(&s, Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
    // the event stream's query token still works
    let resp = client()
        .get(s.url(&format!("/api/v1/events?access_token={ADMIN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    drop(resp);
    s.stop().await;
}

/// The sample of a runtime's lag histogram (`series`: a bucket with its bound, or the count).
fn lag_series(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} in {metrics}"))
}

/// The runtime's lag is sampled about ten times a second (`rcs_runtime_lag_seconds`), and a
/// stall of the runtime shows as a sample as late as the stall: here this test's runtime,
/// which is the server's, is blocked for 400 ms. The HTTP API's runtime, threads of its own, is
/// sampled likewise (`rcs_api_runtime_lag_seconds`) and goes on undisturbed.
#[tokio::test]
async fn the_runtimes_lag_is_sampled_and_a_stall_shows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = support::text(&s, "/metrics").await;
    let count = lag_series(&before, "rcs_runtime_lag_seconds_count");
    assert!(count >= 3, "{before}");
    let late_before = count - lag_series(&before, "rcs_runtime_lag_seconds_bucket{le=\"0.2\"}");
    let api = |m: &str| {
        let count = lag_series(m, "rcs_api_runtime_lag_seconds_count");
        let late = count - lag_series(m, "rcs_api_runtime_lag_seconds_bucket{le=\"0.2\"}");
        (count, late)
    };
    let (api_count, api_late) = api(&before);
    assert!(api_count >= 3, "{before}");
    std::thread::sleep(Duration::from_millis(400));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = support::text(&s, "/metrics").await;
    let count_after = lag_series(&after, "rcs_runtime_lag_seconds_count");
    assert!(count_after >= count + 2, "{after}");
    let late_after = count_after - lag_series(&after, "rcs_runtime_lag_seconds_bucket{le=\"0.2\"}");
    assert_eq!(
        late_after,
        late_before + 1,
        "one sample over 200 ms late: {after}"
    );
    let (api_count_after, api_late_after) = api(&after);
    assert!(
        api_count_after >= api_count + 3,
        "sampled through the stall: {after}"
    );
    assert_eq!(
        api_late_after, api_late,
        "the API's runtime did not stall: {after}"
    );
    s.stop().await;
}
