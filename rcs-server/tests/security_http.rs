//! The HTTP API's and the start-up's answers to bad input (docs/security.md): bodies over the
//! limit, event streams over the limit, misuse of routes, methods, headers and tokens, bad
//! values in enrollments and commands; start-up inputs the server cannot use are errors, never
//! a panic or a silent fallback. And the check that keeps docs/security.md honest: every test
//! it names exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcs_server::{Config, ServerError};
use reqwest::Method;
use serde_json::{Value, json};

mod support;
use support::{ADMIN, Running, client, eventually, request};

/// `POST path` with `body` as given and `content_type`: the status and the JSON body.
async fn post_raw(
    s: &Running,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut r = client()
        .post(s.url(path))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.max_body_bytes = 4096;
    let s = Running::start(config).await;
    let padded = |n: usize| {
        // a valid task submission, padded with blanks to n bytes
        let task = r#"{"kind":"move","destination":"nowhere"}"#;
        format!("{task}{}", " ".repeat(n - task.len()))
    };
    // just under the limit: read and judged on its content
    let (status, body) = post_raw(
        &s,
        "/api/v1/tasks",
        Some(ADMIN),
        "application/json",
        padded(4000),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unknown_destination"))
    );
    // over it, with a Content-Length
    let (status, body) = post_raw(
        &s,
        "/api/v1/tasks",
        Some(ADMIN),
        "application/json",
        padded(8192),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("body_too_large")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--max-body-bytes")
    );
    // over it, chunked (no length announced): cut off as it arrives
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..16).map(|_| Ok(vec![b' '; 1024])).collect();
    let (status, body) = post_raw(
        &s,
        "/api/v1/agvs/enroll",
        Some(ADMIN),
        "application/json",
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("body_too_large")),
        "{body}"
    );
    // without a token it is never read: 401
    let (status, body) =
        post_raw(&s, "/api/v1/tasks", None, "application/json", padded(8192)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    s.stop().await;
}

#[tokio::test]
async fn event_streams_over_the_limit_are_refused_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.max_event_streams = 2;
    let s = Running::start(config).await;
    let open = |path: &'static str| {
        let url = s.url(path);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
        }
    };
    let events = open("/api/v1/events").await;
    let live = open("/api/v1/live?interval_ms=100").await;
    assert_eq!(
        (events.status().as_u16(), live.status().as_u16()),
        (200, 200)
    );
    for path in ["/api/v1/events", "/api/v1/live"] {
        let third = open(path).await;
        assert_eq!(third.status().as_u16(), 503, "{path}");
        let body: Value = third.json().await.unwrap();
        assert_eq!(body["error"], "too_many_streams", "{body}");
    }
    assert_eq!(s.server.state.metrics.refused_streams.get(), 2);
    // other requests are served meanwhile
    let (status, _) = support::get(&s, "/api/v1/agvs", Some(ADMIN)).await;
    assert_eq!(status, 200);
    // a stream that ends gives its place back
    drop(events);
    let started = std::time::Instant::now();
    loop {
        let again = open("/api/v1/events").await;
        if again.status().as_u16() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(live);
    s.stop().await;
}

#[tokio::test]
async fn misuse_of_routes_methods_headers_and_values_gets_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let key_pem = {
        use sm2::pkcs8::EncodePublicKey as _;
        let key = crypto::sign::SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng())
            .unwrap();
        key.verifying_key()
            .public_key()
            .to_public_key_pem(sm2::pkcs8::LineEnding::LF)
            .unwrap()
    };
    let cases: Vec<(Method, &str, Option<Value>, u16, &str)> = vec![
        (Method::PUT, "/api/v1/agvs", None, 405, "method_not_allowed"),
        (
            Method::DELETE,
            "/api/v1/tokens",
            None,
            405,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/v1/agvs/4294967296",
            None,
            400,
            "invalid_path",
        ),
        (
            Method::GET,
            "/api/v1/tasks?state=flying",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/v1/events?agv_id=-1",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::POST,
            "/api/v1/agvs/enroll",
            Some(json!({ "agv_id": 0, "public_key_pem": key_pem })),
            400,
            "invalid_agv_id",
        ),
        (
            Method::POST,
            "/api/v1/agvs/enroll",
            Some(
                json!({ "agv_id": 5, "public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }),
            ),
            400,
            "invalid_key",
        ),
        (
            Method::POST,
            "/api/v1/agvs/enroll",
            Some(json!({ "agv_id": 5, "public_key_pem": key_pem, "distid": "x".repeat(9000) })),
            400,
            "invalid_key",
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({ "name": "n".repeat(65), "role": "viewer" })),
            400,
            "invalid_name",
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({ "name": "root", "role": "root" })),
            422,
            "invalid_json",
        ),
        (
            Method::POST,
            "/api/v1/tasks",
            Some(json!({ "kind": "move", "destination": 1, "priority": 101 })),
            400,
            "invalid_priority",
        ),
        (
            Method::POST,
            "/api/v1/tasks",
            Some(json!({ "kind": "move", "destination": 1, "reference": "r".repeat(129) })),
            400,
            "invalid_reference",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = request(&s, method.clone(), path, Some(ADMIN), body).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{method} {path}: {answer}"
        );
        assert!(answer["message"].is_string(), "{method} {path}: {answer}");
    }
    // no refused enrollment left anything behind
    assert!(s.server.state.fleet.get(0).is_none() && s.server.state.fleet.get(5).is_none());
    // a command the AGV is never sent: refused before the AGV is looked up
    for command in [
        json!({ "command": "charge", "charger_node_id": 1, "target_pct": 150.0 }),
        json!({ "command": "nav_switch", "target": "telepathy", "map_id": 1 }),
        json!({ "command": "param_set", "values": [{ "param": "max_linear_speed", "value": 1e40 }] }),
        json!({ "command": "param_set", "values": [{ "param": "no_such", "value": 1 }] }),
        json!({ "command": "param_set", "values": [{ "param": "max_linear_speed", "value": "t".repeat(256) }] }),
        json!({ "command": "param_query", "params": [] }),
    ] {
        let (status, answer) = request(
            &s,
            Method::POST,
            "/api/v1/agvs/1/commands",
            Some(ADMIN),
            Some(command.clone()),
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_command")),
            "{command}: {answer}"
        );
    }
    // a body that is not JSON by its content type
    let (status, answer) = post_raw(
        &s,
        "/api/v1/tasks",
        Some(ADMIN),
        "text/plain",
        r#"{"kind":"move","destination":1}"#,
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    // tokens: another scheme, an empty query token, a token with blanks around it
    for (header, path) in [
        (Some("Basic YWRtaW46YWRtaW4="), "/api/v1/agvs"),
        (None, "/api/v1/events?access_token="),
        (Some("Bearer"), "/api/v1/agvs"),
    ] {
        let mut r = client().get(s.url(path));
        if let Some(h) = header {
            r = r.header("authorization", h);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{header:?} {path}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"], "unauthorized");
    }
    let resp = client()
        .get(s.url("/api/v1/agvs"))
        .header("authorization", format!("Bearer   {ADMIN}  "))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "blanks around a token are not part of it"
    );
    // headers beyond hyper's limit: 431 before any handler
    let resp = client()
        .get(s.url("/api/v1/agvs"))
        .bearer_auth(ADMIN)
        .header("x-padding", "p".repeat(512 * 1024))
        .send()
        .await;
    match resp {
        Ok(r) => assert_eq!(r.status().as_u16(), 431),
        // hyper may close before the client finished sending
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
    // paths naming files of the data directory: the API serves no files (the dashboard's
    // assets are compiled in), whatever the path says
    let token = std::fs::read_to_string(dir.path().join("server.key")).unwrap_or_default();
    for path in [
        "/api-token",
        "/server.key",
        "/dashboard/../server.key",
        "/dashboard/%2e%2e/server.key",
        "//server.key",
    ] {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut http = tokio::net::TcpStream::connect(s.server.http_addr)
            .await
            .unwrap();
        let ask = format!("GET {path} HTTP/1.1\r\nHost: rcs\r\nConnection: close\r\n\r\n");
        http.write_all(ask.as_bytes()).await.unwrap();
        let mut answer = String::new();
        http.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(answer.contains("not_found"), "{path}: {answer}");
        assert!(
            !answer.contains("PRIVATE KEY") && !token.is_empty(),
            "{path}"
        );
    }
    // the server is still there
    let (status, _) = support::get(&s, "/healthz", None).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn an_agv_with_every_command_slot_taken_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.command_timeout_ms = 2_000;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    // an AGV that never answers a task control
    let mute: support::Answer = Box::new(|seq, m| match m {
        protocol::message::Message::TaskControl(_) => None,
        _ => Some(support::ack(seq, m, protocol::types::ResultCode::Ok)),
    });
    let agv = support::BackgroundAgv::spawn(&s.server, support::normal_agv(450), mute);
    eventually("AGV 450 registers", || {
        state.fleet.get(450).is_some_and(|v| v.registered)
    })
    .await;
    // 64 unanswered commands fill its session's window (its order queue holds 32 more):
    // the rest are refused at once
    let pauses = (0..120).map(|_| {
        request(
            &s,
            Method::POST,
            "/api/v1/agvs/450/commands",
            Some(ADMIN),
            Some(json!({ "command": "pause" })),
        )
    });
    let answers = futures_util::future::join_all(pauses).await;
    let busy = answers
        .iter()
        .filter(|(status, body)| *status == 409 && body["error"] == "agv_busy")
        .count();
    let timed_out = answers
        .iter()
        .filter(|(status, body)| *status == 504 && body["error"] == "timeout")
        .count();
    assert_eq!(busy + timed_out, 120, "{answers:?}");
    assert!(busy >= 120 - 64 - 32, "{busy} refused busy");
    assert!(timed_out >= 1);
    agv.stop().await;
    s.stop().await;
}

// A current-thread runtime: the events below are published before the log writer can run
// (the subscriber's stream runs on the API's own runtime).
#[tokio::test(flavor = "current_thread")]
async fn a_slow_event_subscriber_is_told_what_it_missed_and_the_log_counts_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();
    let (status, stream) = support::sse::Stream::open(&s, "", None).await;
    assert_eq!(status, 200);
    let mut stream = stream.unwrap();
    let queue = rcs_server::events::LOG_QUEUE;
    // The API serves the stream on a runtime of its own, while this test publishes: the
    // subscriber is slow because this client does not read, and the sockets' buffers (a few
    // MB on loopback) hold far fewer than `n` events.
    let n = 150_000;
    state
        .events
        .publish("agv.state", Some(1), "test", json!({ "i": "first" }));
    let first = stream.next(1).await.remove(0);
    for i in 0..n {
        state
            .events
            .publish("agv.state", Some(1), "test", json!({ "i": i }));
    }
    // the subscriber gets a `lagged` event saying how many it missed each time it fell behind,
    // then the rest: every event comes right after the one before it or the ones missed
    let missed = tokio::time::timeout(Duration::from_secs(60), async {
        let (mut last, mut missed, mut total) = (first.1.expect("an id"), 0, 0);
        let end = last + n as u64;
        while last < end {
            let (kind, id, data) = stream.next(1).await.remove(0);
            if kind == "lagged" {
                missed += data["missed"].as_u64().unwrap();
                continue;
            }
            let id = id.expect("an id");
            assert_eq!(id, last + missed + 1, "after {last}, {missed} missed");
            (last, total, missed) = (id, total + missed, 0);
        }
        total
    })
    .await
    .expect("every event or its lagged count");
    assert!(missed > 0, "the subscriber never fell behind");
    let n = n + 1;
    // the log queue held `queue` rows: the others were dropped, and the metrics say so
    let metrics = support::text(&s, "/metrics").await;
    let dropped = state.events.dropped() as usize;
    assert!(dropped >= n - queue, "{dropped} dropped");
    assert!(
        metrics.contains(&format!("rcs_event_log_dropped {dropped}")),
        "{metrics}"
    );
    drop(stream);
    s.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_storm_of_events_is_logged_before_the_writers_interval_and_none_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    // no interval within the test: only a queue half full makes the writer write the log
    config.telemetry_flush_ms = 3_600_000;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    let queue = rcs_server::events::LOG_QUEUE;
    let burst = queue * 3 / 4;
    let mut i = 0;
    for _ in 0..3 {
        // more than half the queue at once (nothing else runs meanwhile), then the writer
        for _ in 0..burst {
            state
                .events
                .publish("agv.state", Some(1), "test", json!({ "i": i }));
            i += 1;
        }
        eventually(
            "the writer draining a queue half full without waiting for its interval",
            || state.events.log_queued() == 0,
        )
        .await;
    }
    assert!(i > 2 * queue, "more than the queue holds: {i}");
    assert_eq!(state.events.dropped(), 0);
    // the last one is in the stored log (the writer is done with it once the queue is empty)
    tokio::time::timeout(Duration::from_secs(10), async {
        while support::get(&s, "/api/v1/audit?limit=1", Some(ADMIN))
            .await
            .1[0]["detail"]["i"]
            != json!(i - 1)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the last event is stored");
    s.stop().await;
}

/// The telemetry writer spreads a SQLite batch over half its interval; a storm of events in
/// that time is still written as soon as the log's queue is half full, not after the pass, so
/// none is dropped.
#[tokio::test(flavor = "current_thread")]
async fn a_storm_of_events_during_a_telemetry_pass_is_logged_at_once() {
    use protocol::message::Message;
    use protocol::types::AgvState;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    // the first pass 4 s after the start, spread over 2 s
    config.telemetry_flush_ms = 4_000;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    // 2,100 AGVs' new snapshots: three transactions a table, five pauses of 400 ms
    let Message::StatusReport(report) = support::status_at(1.0, AgvState::Idle) else {
        unreachable!()
    };
    for id in 1..=2_100 {
        state.fleet.update(id, |v| v.session_id = 1);
        let mut status = report.clone();
        state.fleet.report(id, 1, 1_000, 0, &mut status);
    }
    tokio::time::sleep(Duration::from_millis(4_400)).await;
    let queue = rcs_server::events::LOG_QUEUE;
    for i in 0..queue * 3 / 4 {
        state
            .events
            .publish("agv.state", Some(1), "test", json!({ "i": i }));
    }
    eventually(
        "the writer draining a queue half full during its pass",
        || state.events.log_queued() == 0,
    )
    .await;
    assert_eq!(
        state.metrics.telemetry_batches.get(),
        0,
        "the telemetry pass was still going"
    );
    assert_eq!(state.events.dropped(), 0);
    s.stop().await;
}

/// Starts a server on `config` and returns its start-up error.
async fn start_error(config: Config) -> ServerError {
    match rcs_server::start(config, std::future::pending()).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn start_up_input_the_server_cannot_use_is_an_error() {
    // an empty api-token file (a crash between creating and writing it): no empty admin token
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.api_token = None;
    std::fs::write(dir.path().join("api-token"), "\n").unwrap();
    let err = start_error(config.clone()).await;
    assert!(matches!(err, ServerError::Token(_)), "{err}");
    assert!(err.to_string().contains("api-token"), "{err}");
    // a blank RCS_API_TOKEN
    config.api_token = Some("   ".into());
    let err = start_error(config.clone()).await;
    assert!(matches!(err, ServerError::Token(_)), "{err}");

    // a server key that is not a key: an error, and the file is left as it was (AGVs hold its
    // public half: a new one would lock every secure AGV out)
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_tests(dir.path());
    let key = dir.path().join("server.key");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let before = std::fs::read(&key).unwrap();
    let err = start_error(config.clone()).await;
    assert!(matches!(err, ServerError::Keys(_)), "{err}");
    assert_eq!(std::fs::read(&key).unwrap(), before);

    // a site that is not there
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.site = Some(dir.path().join("no-site"));
    let err = start_error(config).await;
    assert!(matches!(err, ServerError::Site(_)), "{err}");
    assert!(err.to_string().contains("site.toml"), "{err}");

    // values the server cannot work with
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.max_connections = 0;
    let err = start_error(config).await;
    assert!(matches!(err, ServerError::Config(_)), "{err}");
    assert!(err.to_string().contains("--max-connections"), "{err}");

    // a database URL of no supported kind; a schema on SQLite
    let mut config = Config::for_tests(dir.path());
    config.database_url = Some("mysql://localhost/rcs".into());
    let err = start_error(config).await;
    assert!(matches!(err, ServerError::DbOpen { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("database mysql://localhost/rcs: "),
        "{err}"
    );
    let mut config = Config::for_tests(dir.path());
    config.db_schema = Some("site_a".into());
    let err = start_error(config).await;
    assert!(err.to_string().contains("schema"), "{err}");
    // on PostgreSQL a schema name goes into SQL: only plain identifiers are taken
    for bad in [
        "a\"; DROP TABLE agvs; --",
        "Site",
        "1site",
        "",
        &"s".repeat(64),
    ] {
        assert!(!rcs_server::db::valid_schema(bad), "{bad:?}");
    }
    assert!(rcs_server::db::valid_schema("site_a"));
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every test reference in `text`: `crate/tests/file.rs::name` or
/// `crate/src/file.rs::tests::name`, as (file, module path, test name).
fn references(text: &str) -> Vec<(String, String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| {
            let (file, path) = code.split_once(".rs::")?;
            let (modules, name) = path.rsplit_once("::").unwrap_or(("", path));
            Some((format!("{file}.rs"), modules.to_owned(), name.to_owned()))
        })
        .collect()
}

/// Whether `source` has a test function `name` (a `#[test]` or `#[tokio::test]` attribute
/// just above it, or inside a `proptest!` block).
fn has_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let Some(at) = lines.iter().position(|l| {
        let l = l.trim_start();
        l.starts_with(&format!("fn {name}(")) || l.starts_with(&format!("async fn {name}("))
    }) else {
        return false;
    };
    let attributes = lines[at.saturating_sub(4)..at]
        .iter()
        .any(|l| l.contains("#[test]") || l.contains("#[tokio::test"));
    attributes || source[..source.find(&format!("fn {name}(")).unwrap()].contains("proptest!")
}

#[test]
fn every_test_the_security_catalogue_names_exists() {
    let doc = std::fs::read_to_string(root().join("docs/security.md")).unwrap();
    let refs = references(&doc);
    assert!(refs.len() >= 50, "{} references", refs.len());
    let mut missing = Vec::new();
    for (file, modules, name) in &refs {
        let path = root().join(file);
        let Ok(source) = std::fs::read_to_string(&path) else {
            missing.push(format!("{file}: no such file"));
            continue;
        };
        if !has_test(&source, name) {
            missing.push(format!("{file}: no test fn {name}"));
        }
        if modules == "tests" && !source.contains("mod tests") {
            missing.push(format!("{file}: no mod tests"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/security.md names:\n{}",
        missing.join("\n")
    );

    // every class row (`| A1 | ...`) has an id of its own and names at least one test
    let mut ids = std::collections::HashSet::new();
    let mut classes = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(id) = cells.get(1) else { continue };
        let is_class = id.len() >= 2
            && id.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && id[1..].chars().all(|c| c.is_ascii_digit());
        if !is_class {
            continue;
        }
        classes += 1;
        assert!(ids.insert(id.to_string()), "class {id} twice");
        assert!(
            !references(line).is_empty(),
            "class {id} names no test: {line}"
        );
    }
    assert!(classes >= 50, "{classes} classes");

    // every flag the catalogue names is one the server has, and is in docs/operations.md
    let operations = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    let flags: Vec<String> = {
        use clap::CommandFactory as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: Config,
        }
        Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect()
    };
    for code in doc.split('`').skip(1).step_by(2) {
        if let Some(flag) = code.strip_prefix("--") {
            let name: String = flag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let flag = format!("--{name}");
            assert!(flags.contains(&flag), "{flag} is no flag of the server");
            let documented = operations
                .match_indices(&format!("`{flag}"))
                .any(|(at, m)| {
                    operations[at + m.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| !c.is_ascii_alphanumeric() && c != '-')
                });
            assert!(documented, "{flag} is not in docs/operations.md");
        }
    }
}
