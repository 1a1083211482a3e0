//! Hostile and broken clients against a real server: each gets the documented error frame or a
//! clean close, the server stays up, and a well-behaved AGV beside them keeps being served.

use std::time::Duration;

use bytes::BytesMut;
use protocol::MessageType;
use protocol::frame::{Flags, FrameDecoder, Header, encode_message};
use protocol::message::*;
use protocol::session::AgvEvent;
use protocol::types::*;
use rcs_server::Config;
use rcs_server::dispatch::TaskKind;
use rcs_server::state::now_ms;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::{ADMIN, BackgroundAgv, Running, ack_all, eventually, get, normal_agv, request};

fn access_frame(agv_id: u32, seq: u32) -> BytesMut {
    let msg: Message = AccessRequest {
        mode: AccessMode::Normal,
        profile: SecureProfile::Guide,
        min_version: 1,
        max_version: 1,
        key_exchange: None,
    }
    .into();
    frame(&msg, Flags::ACK_REQUESTED, seq, agv_id)
}

fn frame(msg: &Message, flags: Flags, seq: u32, agv_id: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    let header = Header::new(msg.message_type(), flags, seq, agv_id, now_ms());
    encode_message(&mut buf, header, msg, 65536).unwrap();
    buf
}

/// Reads until the server ends the connection or `wait` passes: every message received, and
/// whether the stream ended cleanly (EOF, not a reset or the deadline).
async fn read_messages(stream: &mut TcpStream, wait: Duration) -> (Vec<Message>, bool) {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let eof = match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_) | Ok(Err(_)) => return (messages, false),
            Ok(Ok(0)) => true,
            Ok(Ok(_)) => false,
        };
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            if let Ok(m) = Message::decode_body(frame.header.message_type, &frame.body) {
                messages.push(m);
            }
        }
        if eof {
            return (messages, true);
        }
    }
}

fn closes(messages: &[Message]) -> Vec<CloseReason> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Close(c) => Some(c.reason),
            _ => None,
        })
        .collect()
}

/// Reads until the server closes the connection or 10 s pass; returns the error codes of the
/// Error frames received and whether the server closed (EOF or a Close frame).
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<ErrorCode>, bool) {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut codes = Vec::new();
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_) => return (codes, closed),
            Ok(Ok(0)) | Ok(Err(_)) => return (codes, true),
            Ok(Ok(_)) => {}
        }
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            let Ok(message) = Message::decode_body(frame.header.message_type, &frame.body) else {
                continue;
            };
            match message {
                Message::ErrorReport(e) => codes.push(e.code),
                Message::Close(_) => closed = true,
                _ => {}
            }
        }
    }
}

async fn command_ok(s: &Running, agv_id: u32) {
    let resp = reqwest::Client::new()
        .post(s.url(&format!("/api/v1/agvs/{agv_id}/commands")))
        .bearer_auth(ADMIN)
        .json(&json!({ "command": "pause" }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 200, "the good AGV is still served: {body}");
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_a_close_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.link_timeout_ms = 1500;
    config.handshake_timeout_ms = 1000;
    let s = Running::start(config).await;
    let good = BackgroundAgv::spawn(&s.server, normal_agv(61), ack_all());
    let state = s.server.state.clone();
    eventually("AGV 61 reports", || {
        state.fleet.get(61).is_some_and(|v| v.status.is_some())
    })
    .await;

    // 1. corrupted frames (body CRC): one Error frame each, closed after the error budget
    let mut bad = TcpStream::connect(s.server.agv_addr).await.unwrap();
    for seq in 1..=6u32 {
        let mut f = access_frame(62, seq);
        let n = f.len();
        f[n - 5] ^= 0xFF; // a body byte: the CRC-32C no longer matches
        if bad.write_all(&f).await.is_err() {
            break;
        }
    }
    let (codes, closed) = read_until_closed(&mut bad).await;
    assert!(closed, "closed after repeated bad frames");
    assert!(
        codes.contains(&ErrorCode::ChecksumMismatch),
        "error frames: {codes:?}"
    );
    command_ok(&s, 61).await;

    // 2. a header announcing an oversized body: refused before buffering, then closed
    let mut big = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let mut header = Header::new(
        MessageType::ACCESS_REQUEST,
        Flags::ACK_REQUESTED,
        1,
        63,
        now_ms(),
    );
    header.body_len = 50 * 1024 * 1024;
    big.write_all(&header.to_bytes()).await.unwrap();
    let _ = big.write_all(&[0u8; 4096]).await;
    let (codes, closed) = read_until_closed(&mut big).await;
    assert!(
        codes.contains(&ErrorCode::FrameTooLarge),
        "error frames: {codes:?}"
    );
    assert!(closed);

    // 3. a flood of garbage: closed, the server does not buffer it
    let mut flood = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let junk = vec![0xA5u8; 64 * 1024];
    let mut sent = 0usize;
    let flooded = async {
        while sent < 16 * 1024 * 1024 {
            if flood.write_all(&junk).await.is_err() {
                return true;
            }
            sent += junk.len();
        }
        false
    };
    let cut_off = tokio::time::timeout(Duration::from_secs(10), flooded)
        .await
        .unwrap_or(false);
    assert!(
        cut_off,
        "the flooding client is cut off (sent {sent} bytes)"
    );
    command_ok(&s, 61).await;

    // 4. a connection that never speaks: closed by the liveness or handshake timeout
    let mut mute = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let started = std::time::Instant::now();
    let (_, closed) = read_until_closed(&mut mute).await;
    assert!(closed, "a mute connection is closed");
    assert!(started.elapsed() < Duration::from_secs(5));

    // 5. access then silence (never registers): closed by the handshake timeout
    let mut half = TcpStream::connect(s.server.agv_addr).await.unwrap();
    half.write_all(&access_frame(64, 1)).await.unwrap();
    let (_, closed) = read_until_closed(&mut half).await;
    assert!(closed, "an AGV that never registers is closed");
    assert!(state.fleet.get(64).is_none_or(|v| !v.online));

    // the good AGV never noticed
    command_ok(&s, 61).await;
    assert!(!good.has_event(|e| matches!(e, AgvEvent::Closed(_) | AgvEvent::LinkLost)));
    good.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn normal_access_is_refused_when_secure_mode_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.secure = rcs_server::config::SecurePolicy::Required;
    let s = Running::start(config).await;
    let agv = BackgroundAgv::spawn(&s.server, normal_agv(71), ack_all());
    eventually("refused", || agv.is_finished()).await;
    assert!(
        agv.has_event(|e| matches!(
            e,
            AgvEvent::Closed(protocol::session::CloseCause::Refused(
                ResultCode::SecureModeRequired
            ))
        )),
        "{:?}",
        agv.events.lock().unwrap()
    );
    assert!(s.server.state.fleet.get(71).is_none_or(|v| !v.online));
    s.stop().await;
}

#[tokio::test]
async fn shutdown_tells_every_agv_and_writes_the_last_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    // no periodic flush during the test: only the final one can write the row
    config.telemetry_flush_ms = 60_000;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    let agvs: Vec<_> = (81..84)
        .map(|id| BackgroundAgv::spawn(&s.server, normal_agv(id), ack_all()))
        .collect();
    for id in 81..84 {
        eventually("reports", || {
            state.fleet.get(id).is_some_and(|v| v.status.is_some())
        })
        .await;
    }
    s.stop().await;
    for agv in &agvs {
        eventually("told to close", || {
            agv.has_event(|e| {
                matches!(
                    e,
                    AgvEvent::Closed(protocol::session::CloseCause::Peer(CloseReason::Shutdown))
                )
            })
        })
        .await;
    }
    let db = rcs_server::db::Db::open(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("rcs.sqlite").display()
    ))
    .await
    .unwrap();
    let rows = db.latest_telemetry().await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.agv_id).collect::<Vec<_>>(),
        vec![81, 82, 83]
    );
    db.close().await;
}

#[tokio::test]
async fn a_duplicate_agv_id_is_refused_in_the_access_response() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();
    let good = BackgroundAgv::spawn(&s.server, normal_agv(91), ack_all());
    eventually("AGV 91 reports", || {
        state.fleet.get(91).is_some_and(|v| v.status.is_some())
    })
    .await;
    let session = state.fleet.get(91).unwrap().session_id;

    let mut twin = TcpStream::connect(s.server.agv_addr).await.unwrap();
    twin.write_all(&access_frame(91, 1)).await.unwrap();
    let (messages, ended) = read_messages(&mut twin, Duration::from_secs(5)).await;
    let response = messages.iter().find_map(|m| match m {
        Message::AccessResponse(r) => Some(r.clone()),
        _ => None,
    });
    let response = response.unwrap_or_else(|| panic!("an access response: {messages:?}"));
    assert_eq!(response.result, ResultCode::Rejected, "{messages:?}");
    assert_eq!(response.session_id, 0);
    assert_eq!(closes(&messages), vec![CloseReason::AccessDenied]);
    assert!(ended, "the server closed cleanly");
    // the AGV that held the id keeps its session and is served
    assert_eq!(state.fleet.get(91).unwrap().session_id, session);
    command_ok(&s, 91).await;
    assert_eq!(state.metrics.refused_claims.get(), 1);
    good.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn a_second_access_request_is_a_protocol_violation_and_the_close_is_read_despite_unread_input()
 {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;

    // access granted, then asked again: Error(UnexpectedMessage), Close(ProtocolViolation)
    let mut agv = TcpStream::connect(s.server.agv_addr).await.unwrap();
    agv.write_all(&access_frame(93, 1)).await.unwrap();
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let granted = loop {
        agv.read_buf(&mut buf).await.unwrap();
        if let Ok(Some(f)) = decoder.decode(&mut buf) {
            break Message::decode_body(f.header.message_type, &f.body).unwrap();
        }
    };
    assert!(
        matches!(&granted, Message::AccessResponse(r) if r.result == ResultCode::Ok),
        "{granted:?}"
    );
    // the second request comes with 32 KiB more that the server will never read as frames:
    // closing with them unread would reset the connection under the Close
    let mut second = access_frame(93, 2).to_vec();
    second.extend(std::iter::repeat_n(0x5Au8, 32 * 1024));
    agv.write_all(&second).await.unwrap();
    let (messages, ended) = read_messages(&mut agv, Duration::from_secs(5)).await;
    let errors: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            Message::ErrorReport(e) => Some((e.code, e.request_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        vec![(ErrorCode::UnexpectedMessage, 2)],
        "{messages:?}"
    );
    assert_eq!(closes(&messages), vec![CloseReason::ProtocolViolation]);
    assert!(ended, "end of stream after the Close, no reset");
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, Message::Ack(a) if a.result == ResultCode::NotRegistered)),
        "{messages:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_heartbeat_flood_is_rate_limited_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.max_frames_per_sec = 50;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    let good = BackgroundAgv::spawn(&s.server, normal_agv(95), ack_all());

    let mut flood = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let mut bytes = access_frame(96, 1).to_vec();
    // 1,500 frames (51 KB, under what the server drains after its Close)
    for seq in 2..=1500u32 {
        bytes.extend_from_slice(&frame(&Heartbeat {}.into(), Flags::ACK_REQUESTED, seq, 96));
    }
    // the server may close before it took everything
    let _ = flood.write_all(&bytes).await;
    let (messages, _) = read_messages(&mut flood, Duration::from_secs(5)).await;
    let answered = messages
        .iter()
        .filter(|m| matches!(m, Message::HeartbeatAck(_)))
        .count();
    // a burst of twice the rate (100 frames, the access request among them), then refusals
    assert!(answered < 110, "{answered} heartbeats answered");
    let limited = messages
        .iter()
        .filter(|m| matches!(m, Message::ErrorReport(e) if e.code == ErrorCode::RateLimited))
        .count();
    assert_eq!(limited, 5, "five refusals spend the error budget");
    assert_eq!(closes(&messages), vec![CloseReason::ProtocolViolation]);
    assert!(state.metrics.rate_limited_frames.get() >= 5);
    // an AGV at its normal pace is never limited
    eventually("AGV 95 reports", || {
        state.fleet.get(95).is_some_and(|v| v.status.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    command_ok(&s, 95).await;
    assert!(!good.has_event(|e| matches!(e, AgvEvent::PeerError { .. } | AgvEvent::Closed(_))));
    good.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn silent_sockets_from_one_address_do_not_starve_real_agvs() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.max_connections = 50;
    config.max_pending_per_peer = 8;
    config.access_timeout_ms = 1000;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    // 50 sockets from 127.0.0.2 that never send a byte
    let mut silent = Vec::new();
    for _ in 0..50 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        silent.push(socket.connect(s.server.agv_addr).await.unwrap());
    }
    eventually("the connections beyond 8 are closed at once", || {
        state.metrics.refused_connections.get() == 42
    })
    .await;
    // a real AGV (from 127.0.0.1) gets in at once
    let started = std::time::Instant::now();
    let agv = BackgroundAgv::spawn(&s.server, normal_agv(97), ack_all());
    eventually("AGV 97 registers", || {
        state.fleet.get(97).is_some_and(|v| v.registered)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "registered after {:?}",
        started.elapsed()
    );
    // the 8 admitted ones are closed by the access timeout
    let mut ended = 0;
    for mut socket in silent {
        let (messages, eof) = read_messages(&mut socket, Duration::from_secs(3)).await;
        if eof {
            ended += 1;
        }
        assert!(
            closes(&messages)
                .iter()
                .all(|r| *r == CloseReason::LivenessTimeout),
            "{messages:?}"
        );
    }
    assert_eq!(ended, 50);
    eventually("nothing pending", || {
        state.admission.addresses() == 0 && state.metrics.connections.get() == 1
    })
    .await;
    agv.stop().await;
    s.stop().await;
}

/// Connects AGVs `ids`, waits until each registered, disconnects them; their session ids.
async fn sessions_of(s: &Running, ids: std::ops::Range<u32>) -> Vec<u32> {
    let agvs: Vec<_> = ids
        .clone()
        .map(|id| BackgroundAgv::spawn(&s.server, normal_agv(id), ack_all()))
        .collect();
    let state = s.server.state.clone();
    for id in ids.clone() {
        eventually("registered", || {
            state.fleet.get(id).is_some_and(|v| v.registered)
        })
        .await;
    }
    let sessions = ids
        .map(|id| state.fleet.get(id).unwrap().session_id)
        .collect();
    for agv in agvs {
        agv.stop().await;
    }
    sessions
}

async fn sqlite(dir: &std::path::Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", dir.join("rcs.sqlite").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

#[tokio::test]
async fn session_ids_stay_unique_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let first = sessions_of(&s, 101..121).await;
    s.stop().await;
    let s = Running::start(Config::for_tests(dir.path())).await;
    let second = sessions_of(&s, 101..121).await;
    s.stop().await;
    let highest = *first.iter().max().unwrap();
    assert!(
        second.iter().all(|id| *id > highest),
        "{first:?} then {second:?}"
    );
    let mut all = [first, second].concat();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 40);
    let db = sqlite(dir.path()).await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows, 40, "every session row was stored");
    db.close().await;
}

#[tokio::test]
async fn finished_tasks_are_answered_from_the_database_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();
    let destination = state
        .site
        .nodes()
        .iter()
        .map(|n| n.id)
        .find(|id| {
            state
                .task_rules
                .check(&state.site, TaskKind::Move, *id, None)
                .is_ok()
        })
        .unwrap();
    let http = support::client();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let resp = http
            .post(s.url("/api/v1/tasks"))
            .bearer_auth(ADMIN)
            .json(&json!({ "kind": "move", "destination": destination }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let id = resp.json::<serde_json::Value>().await.unwrap()["id"]
            .as_u64()
            .unwrap();
        let resp = http
            .delete(s.url(&format!("/api/v1/tasks/{id}")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        ids.push(id);
    }
    s.stop().await;
    // the first ended two days ago: it is not among the tasks kept in memory at start
    let db = sqlite(dir.path()).await;
    sqlx::query("UPDATE tasks SET updated_at = updated_at - 172800000 WHERE task_id = $1")
        .bind(ids[0] as i64)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    let s = Running::start(Config::for_tests(dir.path())).await;
    for id in &ids {
        let (status, body) = get(&s, &format!("/api/v1/tasks/{id}"), Some(ADMIN)).await;
        assert_eq!(status, 200, "task {id}: {body}");
        assert_eq!(body["state"], "cancelled", "{body}");
        assert_eq!(body["destination"], destination, "{body}");
    }
    let resp = http
        .delete(s.url(&format!("/api/v1/tasks/{}", ids[0])))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        409,
        "an ended task is not cancelled"
    );
    let (status, body) = get(&s, "/api/v1/tasks/999999", Some(ADMIN)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_task"))
    );
    s.stop().await;
}

#[tokio::test]
async fn invalid_agv_ids_policies_token_names_and_audit_limits_are_refused() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();

    // AGV id 0 is no AGV's: 400, and nothing is created
    for (method, path, body) in [
        (
            Method::PUT,
            "/api/v1/agvs/0/policy",
            Some(json!({ "secure": "required" })),
        ),
        (Method::DELETE, "/api/v1/agvs/0/space", None),
        (Method::GET, "/api/v1/agvs/0", None),
        (
            Method::POST,
            "/api/v1/agvs/0/commands",
            Some(json!({ "command": "pause" })),
        ),
    ] {
        let (status, answer) = request(&s, method.clone(), path, Some(ADMIN), body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(
            answer["error"], "invalid_agv_id",
            "{method} {path}: {answer}"
        );
    }
    assert!(state.fleet.get(0).is_none());
    assert!(state.keys.policy_of(0).is_none());
    // clearing the space of an AGV nobody knows: 404
    let (status, answer) = request(
        &s,
        Method::DELETE,
        "/api/v1/agvs/4242/space",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("unknown_agv")),
        "{answer}"
    );

    // a policy must be named: `{}` is refused, `null` is the server's policy
    let (status, answer) = request(
        &s,
        Method::PUT,
        "/api/v1/agvs/5/policy",
        Some(ADMIN),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_policy")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("secure"),
        "{answer}"
    );
    let (status, answer) = request(
        &s,
        Method::PUT,
        "/api/v1/agvs/5/policy",
        Some(ADMIN),
        Some(json!({ "secure": "required" })),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        state.keys.policy_of(5),
        Some(rcs_server::config::SecurePolicy::Required)
    );
    let (status, answer) = request(
        &s,
        Method::PUT,
        "/api/v1/agvs/5/policy",
        Some(ADMIN),
        Some(json!({ "secure": null })),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(state.keys.policy_of(5), None);

    // token names without control characters
    for name in ["evil\u{0}name", "tab\tname", "line\nbreak", "bell\u{7}"] {
        let (status, answer) = request(
            &s,
            Method::POST,
            "/api/v1/tokens",
            Some(ADMIN),
            Some(json!({ "name": name, "role": "viewer" })),
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_name")),
            "{name:?}"
        );
    }

    // the audit limit is 1 to 10,000
    for limit in ["-1", "0", "10001", "-9223372036854775808"] {
        let (status, answer) = request(
            &s,
            Method::GET,
            &format!("/api/v1/audit?limit={limit}"),
            Some(ADMIN),
            None,
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_query")),
            "{limit}: {answer}"
        );
    }
    let (status, answer) =
        request(&s, Method::GET, "/api/v1/audit?limit=2", Some(ADMIN), None).await;
    assert_eq!(status, 200);
    assert_eq!(answer.as_array().unwrap().len(), 2, "{answer}");
    s.stop().await;
}

/// A status report sent with ACK_REQUESTED (how an AGV streaming reports hears the RCS instead
/// of sending heartbeats, docs/protocol.md 4.1) is answered with an Ack once taken; one refused
/// (a pose off the site's maps) with an Error only.
#[tokio::test]
async fn a_report_that_asks_is_answered_and_a_refused_one_gets_only_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();
    let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let mut wire = access_frame(31, 1);
    wire.extend_from_slice(&frame(
        &support::registration().into(),
        Flags::ACK_REQUESTED,
        2,
        31,
    ));
    stream.write_all(&wire).await.unwrap();
    eventually("AGV 31 registered", || {
        state.fleet.get(31).is_some_and(|v| v.registered)
    })
    .await;
    let on_map = support::status_at(6.0, AgvState::Idle);
    let mut off_map = on_map.clone();
    if let Message::StatusReport(r) = &mut off_map {
        r.pose.y = 1000.0;
    }
    let mut wire = frame(&on_map, Flags::ACK_REQUESTED, 3, 31);
    wire.extend_from_slice(&frame(&off_map, Flags::ACK_REQUESTED, 4, 31));
    stream.write_all(&wire).await.unwrap();
    let (messages, _) = read_messages(&mut stream, Duration::from_secs(2)).await;
    let answers = |seq: u32| {
        messages
            .iter()
            .filter(|m| match m {
                Message::Ack(a) => a.request_seq == seq,
                Message::ErrorReport(e) => e.request_seq == seq,
                _ => false,
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        matches!(&answers(3)[..], [Message::Ack(a)]
            if a.request_type == MessageType::STATUS_REPORT && a.result == ResultCode::Ok),
        "{messages:?}"
    );
    assert!(
        matches!(&answers(4)[..], [Message::ErrorReport(e)] if e.code == ErrorCode::InvalidField),
        "{messages:?}"
    );
    assert!(state.fleet.get(31).unwrap().status.is_some());
    s.stop().await;
}
