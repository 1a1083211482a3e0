//! The AGV port's answers to bad input (docs/security.md): every framing error gets its error
//! code and costs only its frame; access the server cannot grant is refused in the access
//! response; messages out of place are refused and the session goes on; forged secure
//! handshakes are refused; the connection limits hold.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use crypto::session::AgvHandshake;
use crypto::sign::{CachedVerifier, SigningKey};
use protocol::frame::{Flags, FrameDecoder, Header, encode_raw};
use protocol::message::*;
use protocol::session::{AgvEvent, AgvSession, CloseCause, SessionConfig};
use protocol::types::*;
use rcs_server::Config;
use rcs_server::state::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::wire::*;
use support::{Running, eventually, registration, run_agv, status};

/// What a bad frame is answered with, and the sequence number the `Error` names.
struct Case {
    what: &'static str,
    bytes: Vec<u8>,
    code: ErrorCode,
    names_seq: u32,
}

fn framing_cases(agv: u32) -> Vec<Case> {
    let good_heartbeat = heartbeat(2, agv).to_vec();
    let mut cases = Vec::new();
    // bytes that are no frame at all
    cases.push(Case {
        what: "garbage before a frame",
        bytes: vec![0x00; 40],
        code: ErrorCode::MalformedFrame,
        names_seq: 0,
    });
    // a header whose CRC fails: its length cannot be trusted, nor its sequence number
    let mut f = good_heartbeat.clone();
    f[6] ^= 0x01;
    cases.push(Case {
        what: "a corrupt header",
        bytes: f,
        code: ErrorCode::ChecksumMismatch,
        names_seq: 0,
    });
    // an intact header, a body that does not match the frame CRC
    let mut f = frame(
        &SpaceRelease { grant_id: 9 }.into(),
        Flags::ACK_REQUESTED,
        2,
        agv,
    )
    .to_vec();
    f[32] ^= 0xFF;
    cases.push(Case {
        what: "a corrupt body",
        bytes: f,
        code: ErrorCode::ChecksumMismatch,
        names_seq: 2,
    });
    // version 2
    let mut f = good_heartbeat.clone();
    patch_header(&mut f, 2, 2);
    cases.push(Case {
        what: "protocol version 2",
        bytes: f,
        code: ErrorCode::UnsupportedVersion,
        names_seq: 2,
    });
    // a reserved flag bit; ENCRYPTED without a tag; SIGNED with MAC (and the 64-byte tag
    // SIGNED implies, which is what the receiver skips)
    let mut signed = BytesMut::new();
    let h = Header::new(
        MessageType::HEARTBEAT,
        Flags::SIGNED | Flags::ACK_REQUESTED,
        2,
        agv,
        now_ms(),
    );
    encode_raw(&mut signed, h, &[], &[0x11; 64], 65536).unwrap();
    for (what, flags, frame) in [
        ("a reserved flag bit", 0x80u8 | 0x08, good_heartbeat.clone()),
        ("ENCRYPTED alone", 0x01 | 0x08, good_heartbeat.clone()),
        ("SIGNED and MAC", 0x02 | 0x04 | 0x08, signed.to_vec()),
    ] {
        let mut f = frame;
        patch_header(&mut f, 3, flags);
        cases.push(Case {
            what,
            bytes: f,
            code: ErrorCode::MalformedFrame,
            names_seq: 2,
        });
    }
    // a header announcing more than 64 KiB: refused from the header, its bytes skipped
    let mut f = BytesMut::new();
    let mut h = Header::new(MessageType::HEARTBEAT, Flags::NONE, 2, agv, now_ms());
    h.body_len = 70_000;
    f.extend_from_slice(&h.to_bytes());
    f.extend_from_slice(&vec![0x5A; 70_000 + 4]);
    cases.push(Case {
        what: "a frame over 64 KiB",
        bytes: f.to_vec(),
        code: ErrorCode::FrameTooLarge,
        names_seq: 2,
    });
    cases.push(Case {
        what: "an unknown message type",
        bytes: raw_frame(MessageType(0x0777), &[1, 2, 3], 2, agv).to_vec(),
        code: ErrorCode::UnknownMessageType,
        names_seq: 2,
    });
    let report = body_of(&status());
    cases.push(Case {
        what: "a truncated body",
        bytes: raw_frame(MessageType::STATUS_REPORT, &report[..20], 2, agv).to_vec(),
        code: ErrorCode::MalformedFrame,
        names_seq: 2,
    });
    cases.push(Case {
        what: "bytes after the body",
        bytes: raw_frame(MessageType::HEARTBEAT, &[0], 2, agv).to_vec(),
        code: ErrorCode::MalformedFrame,
        names_seq: 2,
    });
    let mut list = report.clone();
    // `loads`, a list<LoadInfo>, claims 65,535 elements (offset: map, pose, quality, mode,
    // velocity, state, battery, voltage, charging, e-stop)
    let loads = 2 + 24 + 1 + 1 + 12 + 1 + 4 + 4 + 1 + 1;
    list[loads..loads + 2].copy_from_slice(&[0xFF, 0xFF]);
    cases.push(Case {
        what: "a list longer than its body",
        bytes: raw_frame(MessageType::STATUS_REPORT, &list, 2, agv).to_vec(),
        code: ErrorCode::MalformedFrame,
        names_seq: 2,
    });
    let mut undefined = report.clone();
    undefined[27] = 0xEE; // navigation_mode
    cases.push(Case {
        what: "an undefined enumeration value",
        bytes: raw_frame(MessageType::STATUS_REPORT, &undefined, 2, agv).to_vec(),
        code: ErrorCode::InvalidField,
        names_seq: 2,
    });
    let mut nan = report.clone();
    nan[2..10].copy_from_slice(&f64::NAN.to_le_bytes()); // pose.x
    cases.push(Case {
        what: "a float that is not finite",
        bytes: raw_frame(MessageType::STATUS_REPORT, &nan, 2, agv).to_vec(),
        code: ErrorCode::InvalidField,
        names_seq: 2,
    });
    let mut battery = report.clone();
    battery[41..45].copy_from_slice(&150f32.to_le_bytes()); // battery_pct
    cases.push(Case {
        what: "a battery level of 150 %",
        bytes: raw_frame(MessageType::STATUS_REPORT, &battery, 2, agv).to_vec(),
        code: ErrorCode::InvalidField,
        names_seq: 2,
    });
    let ack: Message = Ack {
        request_seq: 1,
        request_type: MessageType::CONFIG_PUSH,
        result: ResultCode::Ok,
        detail: "ab".into(),
    }
    .into();
    let mut utf8 = body_of(&ack);
    let n = utf8.len();
    utf8[n - 2..].copy_from_slice(&[0xFF, 0xFE]);
    cases.push(Case {
        what: "a string that is not UTF-8",
        bytes: raw_frame(MessageType::ACK, &utf8, 2, agv).to_vec(),
        code: ErrorCode::InvalidField,
        names_seq: 2,
    });
    cases
}

#[tokio::test]
async fn every_framing_error_gets_its_code_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let addr = s.server.agv_addr;
    let n = framing_cases(1).len();
    assert_eq!(n, 16);
    let runs = (0..n).map(|i| async move {
        let agv = 300 + i as u32;
        let case = framing_cases(agv).into_iter().nth(i).unwrap();
        let mut bytes = case.bytes;
        let (mut stream, response) = accessed(addr, agv).await;
        assert_eq!(response.result, ResultCode::Ok, "{}", case.what);
        // the bad frame, then a heartbeat that must still be answered
        bytes.extend_from_slice(&heartbeat(3, agv));
        stream.write_all(&bytes).await.unwrap();
        let (messages, ended) = read_until(&mut stream, Duration::from_secs(5), |m| {
            heartbeat_answered(m, 3)
        })
        .await;
        assert_eq!(
            errors(&messages),
            vec![(case.code, case.names_seq)],
            "{}: {messages:?}",
            case.what
        );
        assert!(
            heartbeat_answered(&messages, 3) && !ended && closes(&messages).is_empty(),
            "{}: one bad frame costs only itself: {messages:?}",
            case.what
        );
    });
    futures_util::future::join_all(runs).await;
    s.stop().await;
}

#[tokio::test]
async fn access_the_server_cannot_grant_is_refused_in_the_response() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();
    let request = |min_version, max_version| -> Message {
        AccessRequest {
            mode: AccessMode::Normal,
            profile: SecureProfile::Guide,
            min_version,
            max_version,
            key_exchange: None,
        }
        .into()
    };
    for (what, agv, msg, result) in [
        ("AGV id 0", 0, request(1, 1), ResultCode::InvalidParameter),
        (
            "versions 2 to 3",
            401,
            request(2, 3),
            ResultCode::Unsupported,
        ),
    ] {
        let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
        stream
            .write_all(&frame(&msg, Flags::ACK_REQUESTED, 1, agv))
            .await
            .unwrap();
        let (messages, ended) = read_messages(&mut stream, Duration::from_secs(5)).await;
        assert!(
            matches!(&messages[0], Message::AccessResponse(r) if r.result == result && r.session_id == 0),
            "{what}: {messages:?}"
        );
        assert_eq!(closes(&messages), vec![CloseReason::AccessDenied], "{what}");
        assert!(ended, "{what}: closed cleanly");
    }
    assert!(state.fleet.get(0).is_none() && state.fleet.get(401).is_none());
    s.stop().await;
}

#[tokio::test]
async fn messages_out_of_place_are_refused_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();
    let agv = 410;
    let answered = |seq| move |m: &[Message]| heartbeat_answered(m, seq);
    let wait = Duration::from_secs(5);

    // before access: anything but an access request is UnexpectedMessage
    let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let mut bytes = heartbeat(1, agv).to_vec();
    bytes.extend_from_slice(&access_frame(agv, 2));
    bytes.extend_from_slice(&heartbeat(3, agv));
    stream.write_all(&bytes).await.unwrap();
    let (messages, _) = read_until(&mut stream, wait, answered(3)).await;
    assert_eq!(
        errors(&messages),
        vec![(ErrorCode::UnexpectedMessage, 1)],
        "{messages:?}"
    );
    assert!(messages.iter().any(
        |m| matches!(m, Message::AccessResponse(r) if r.result == ResultCode::Ok && r.request_seq == 2)
    ));

    // accessed, not registered: a request is answered NotRegistered, and nothing is done
    let release: Message = SpaceRelease { grant_id: 1 }.into();
    let mut bytes = frame(&release, Flags::ACK_REQUESTED, 4, agv).to_vec();
    // a frame naming another AGV: AgvIdMismatch
    bytes.extend_from_slice(&heartbeat(5, agv + 1));
    // a sequence number seen before: Replay
    bytes.extend_from_slice(&heartbeat(3, agv));
    bytes.extend_from_slice(&heartbeat(6, agv));
    stream.write_all(&bytes).await.unwrap();
    let (messages, _) = read_until(&mut stream, wait, answered(6)).await;
    assert!(
        messages.iter().any(|m| matches!(m, Message::Ack(a)
            if a.request_seq == 4 && a.result == ResultCode::NotRegistered)),
        "{messages:?}"
    );
    assert_eq!(
        errors(&messages),
        vec![(ErrorCode::AgvIdMismatch, 5), (ErrorCode::Replay, 3)],
        "{messages:?}"
    );
    assert!(state.fleet.get(agv + 1).is_none());

    // registered: a message the RCS does not serve is answered Unsupported; an answer to
    // nothing sent is dropped without a word
    stream
        .write_all(&frame(
            &Message::from(registration()),
            Flags::ACK_REQUESTED,
            7,
            agv,
        ))
        .await
        .unwrap();
    let (messages, _) = read_until(&mut stream, wait, |m| {
        m.iter().any(|m| matches!(m, Message::RegisterResponse(_)))
    })
    .await;
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, Message::RegisterResponse(r) if r.result == ResultCode::Ok)),
        "{messages:?}"
    );
    let query: Message = ParamQuery { params: vec![] }.into();
    let stray: Message = Ack {
        request_seq: 999_999,
        request_type: MessageType::MOTION_COMMAND,
        result: ResultCode::Ok,
        detail: String::new(),
    }
    .into();
    let mut bytes = frame(&query, Flags::ACK_REQUESTED, 8, agv).to_vec();
    bytes.extend_from_slice(&frame(&stray, Flags::RESPONSE, 9, agv));
    bytes.extend_from_slice(&heartbeat(10, agv));
    stream.write_all(&bytes).await.unwrap();
    // the Ack comes from the server's handling of the message, after the session answered
    // the heartbeat
    let (messages, ended) = read_until(&mut stream, wait, |m| {
        heartbeat_answered(m, 10)
            && m.iter()
                .any(|m| matches!(m, Message::Ack(a) if a.request_seq == 8))
    })
    .await;
    assert!(
        messages.iter().any(|m| matches!(m, Message::Ack(a)
            if a.request_seq == 8 && a.result == ResultCode::Unsupported)),
        "{messages:?}"
    );
    assert!(errors(&messages).is_empty(), "{messages:?}");
    assert!(!ended && closes(&messages).is_empty());
    assert!(state.fleet.get(agv).is_some_and(|v| v.registered));
    s.stop().await;
}

/// Drives `agv` over `stream` until `done` or `wait`, passing each frame it sends through
/// `tamper` (which may change it, or drop it with `None`); returns its events.
async fn drive(
    stream: &mut TcpStream,
    agv: &mut AgvSession<AgvHandshake<rcs_server::keys::Rng>>,
    wait: Duration,
    mut tamper: impl FnMut(Bytes) -> Option<Vec<u8>>,
    mut done: impl FnMut(&[AgvEvent]) -> bool,
) -> Vec<AgvEvent> {
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        while let Some(f) = agv.poll_transmit() {
            if let Some(bytes) = tamper(f) {
                stream.write_all(&bytes).await.unwrap();
            }
        }
        while let Some(e) = agv.poll_event() {
            events.push(e);
        }
        if done(&events) || agv.is_closed() || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => return events,
                Ok(n) => agv.handle_input(now_ms(), &buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(50)) => agv.handle_timeout(now_ms()),
        }
    }
}

/// `bytes` decoded as one frame.
fn decoded(bytes: &[u8]) -> protocol::frame::Frame {
    FrameDecoder::default()
        .decode(&mut BytesMut::from(bytes))
        .unwrap()
        .unwrap()
}

/// The frame with one bit of its authentication tag flipped (CRC written again).
fn bad_tag(bytes: &[u8]) -> Vec<u8> {
    let mut f = bytes.to_vec();
    let n = f.len();
    f[n - 10] ^= 0x01;
    fix_frame_crc(&mut f);
    f
}

#[tokio::test]
async fn forged_secure_handshakes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();
    let key =
        Arc::new(SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng()).unwrap());
    state
        .keys
        .insert(420, crypto::DEFAULT_ID, *key.verifying_key().public_key())
        .unwrap();
    let rcs = Arc::new(CachedVerifier::new(
        state.server_key.verifying_key().clone(),
    ));
    let secure = |agv_id| {
        let mut agv = secure_unconnected(&key, &rcs, agv_id);
        agv.connect(now_ms()).unwrap();
        agv
    };
    let wait = Duration::from_secs(5);

    // the access request's signature broken, or the request not signed at all
    let request = secure(420).poll_transmit().unwrap();
    let f = decoded(&request);
    let mut unsigned = BytesMut::new();
    let mut h = f.header;
    h.flags = Flags::ACK_REQUESTED;
    encode_raw(&mut unsigned, h, &f.body, &[], 65536).unwrap();
    for (what, bytes) in [
        ("a broken signature", bad_tag(&request)),
        ("no signature", unsigned.to_vec()),
    ] {
        let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let (messages, ended) = read_messages(&mut stream, wait).await;
        assert!(
            matches!(&messages[0], Message::AccessResponse(r) if r.result == ResultCode::AuthenticationFailed),
            "{what}: {messages:?}"
        );
        assert_eq!(closes(&messages), vec![CloseReason::AccessDenied], "{what}");
        assert!(ended);
    }

    // the key of AGV 420, presented as AGV 421
    let events = run_agv(&s.server, secure_unconnected(&key, &rcs, 421), |_, _| false).await;
    assert!(
        events.contains(&AgvEvent::Closed(CloseCause::Refused(
            ResultCode::AuthenticationFailed
        ))),
        "{events:?}"
    );

    // the access confirmation's signature broken: Close(AccessDenied), in plaintext
    let mut agv = secure(420);
    let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
    drive(
        &mut stream,
        &mut agv,
        wait,
        |f| {
            let h = decoded(&f).header;
            match h.message_type {
                MessageType::ACCESS_REQUEST => Some(f.to_vec()),
                MessageType::ACCESS_CONFIRM => Some(bad_tag(&f)),
                _ => None,
            }
        },
        |e| e.iter().any(|e| matches!(e, AgvEvent::Connected { .. })),
    )
    .await;
    let (messages, ended) = read_messages(&mut stream, wait).await;
    assert_eq!(closes(&messages), vec![CloseReason::AccessDenied]);
    assert!(ended);
    assert!(state.fleet.get(420).is_none_or(|v| !v.online));

    // after the handshake, a plaintext frame is a downgrade attempt: Error(SecureModeRequired),
    // dropped, and the session goes on
    let mut agv = secure(420);
    let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let events = drive(
        &mut stream,
        &mut agv,
        wait,
        |f| Some(f.to_vec()),
        |e| e.contains(&AgvEvent::Registered),
    )
    .await;
    assert!(events.contains(&AgvEvent::Registered), "{events:?}");
    stream.write_all(&heartbeat(500, 420)).await.unwrap();
    let events = drive(
        &mut stream,
        &mut agv,
        wait,
        |f| Some(f.to_vec()),
        |e| e.iter().any(|e| matches!(e, AgvEvent::PeerError { .. })),
    )
    .await;
    assert!(
        events.contains(&AgvEvent::PeerError {
            code: ErrorCode::SecureModeRequired,
            request_seq: 500
        }),
        "{events:?}"
    );
    agv.send(now_ms(), status(), false).unwrap();
    drive(
        &mut stream,
        &mut agv,
        wait,
        |f| Some(f.to_vec()),
        |_| state.fleet.get(420).is_some_and(|v| v.status.is_some()),
    )
    .await;
    assert!(
        state.fleet.get(420).is_some_and(|v| v.status.is_some()),
        "the session goes on: its report arrives"
    );
    s.stop().await;
}

fn secure_unconnected(
    key: &Arc<SigningKey>,
    rcs: &Arc<CachedVerifier>,
    agv_id: u32,
) -> AgvSession<AgvHandshake<rcs_server::keys::Rng>> {
    let hs = AgvHandshake::new(
        key.clone(),
        crypto::DEFAULT_ID,
        rcs.clone(),
        crypto::system_rng(),
    );
    AgvSession::new(
        SessionConfig::default(),
        agv_id,
        AccessMode::Secure,
        SecureProfile::Guide,
        Some(hs),
        registration(),
        now_ms(),
    )
}

#[tokio::test]
async fn beyond_max_connections_a_connection_waits_for_a_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.max_connections = 1;
    config.access_timeout_ms = 1_000;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    // one silent socket holds the only permit until the access timeout closes it
    let mut silent = TcpStream::connect(s.server.agv_addr).await.unwrap();
    eventually("the silent socket is served", || {
        state.metrics.connections.get() == 1
    })
    .await;
    let started = std::time::Instant::now();
    let mut waiting = TcpStream::connect(s.server.agv_addr).await.unwrap();
    waiting.write_all(&access_frame(430, 1)).await.unwrap();
    let (messages, _) = read_until(&mut waiting, Duration::from_secs(5), |m| {
        m.iter().any(|m| matches!(m, Message::AccessResponse(_)))
    })
    .await;
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, Message::AccessResponse(r) if r.result == ResultCode::Ok)),
        "{messages:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "answered only once the permit was free: {:?}",
        started.elapsed()
    );
    let (messages, ended) = read_messages(&mut silent, Duration::from_secs(1)).await;
    assert_eq!(closes(&messages), vec![CloseReason::LivenessTimeout]);
    assert!(ended);
    assert!(state.metrics.connections.get() <= 1);
    s.stop().await;
}

#[tokio::test]
async fn an_agv_that_stops_reading_is_closed_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    // no rate limit: the flood of heartbeats is what fills the way back
    config.max_frames_per_sec = 0;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    let good =
        support::BackgroundAgv::spawn(&s.server, support::normal_agv(441), support::ack_all());
    // a small receive buffer that is never read
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(s.server.agv_addr).await.unwrap();
    stream.write_all(&access_frame(440, 1)).await.unwrap();
    let mut batch = Vec::new();
    let mut seq = 2u32;
    let started = std::time::Instant::now();
    // heartbeats until the server stops taking them (it waits on its answers), then until it
    // has closed the connection (the write fails)
    let cut = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            batch.clear();
            for _ in 0..1000 {
                batch.extend_from_slice(&heartbeat(seq, 440));
                seq += 1;
            }
            if stream.write_all(&batch).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "the connection was never closed");
    assert!(
        started.elapsed() >= rcs_server::net::WRITE_TIMEOUT,
        "closed after {:?}",
        started.elapsed()
    );
    eventually("AGV 440 is offline", || {
        state.fleet.get(440).is_none_or(|v| !v.online)
    })
    .await;
    // the AGV that reads was served throughout
    eventually("AGV 441 reports", || {
        state
            .fleet
            .get(441)
            .is_some_and(|v| v.online && v.status.is_some())
    })
    .await;
    assert!(!good.has_event(|e| matches!(e, AgvEvent::Closed(_) | AgvEvent::LinkLost)));
    good.stop().await;
    s.stop().await;
}
