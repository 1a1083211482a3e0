//! A real server on 127.0.0.1:0 with a temporary SQLite database, and AGVs speaking the
//! protocol over TCP through `protocol::session::AgvSession`: normal and secure access,
//! registration persisted, status reports in the fleet state, an unenrolled key refused.

use std::sync::Arc;

use crypto::session::AgvHandshake;
use crypto::sign::{CachedVerifier, SigningKey};
use protocol::message::*;
use protocol::session::{AgvCrypto, AgvEvent, AgvSession, CloseCause, NoCrypto, SessionConfig};
use protocol::types::*;
use rcs_server::state::now_ms;
use rcs_server::{Config, Server};

mod support;
use support::{Running, registration, run_agv, status};

async fn start(dir: &std::path::Path) -> (Server, Running) {
    let running = Running::start(Config::for_tests(dir)).await;
    (running.server.clone(), running)
}

/// Registers, sends one status report, then waits until the server has it.
async fn register_and_report<K: AgvCrypto>(
    server: &Server,
    agv_id: u32,
    agv: AgvSession<K>,
) -> Vec<AgvEvent> {
    let state = server.state.clone();
    run_agv(server, agv, move |agv, e| {
        if matches!(e, Some(AgvEvent::Configured(_))) {
            agv.send(now_ms(), status(), false).unwrap();
        }
        state.fleet.get(agv_id).is_some_and(|v| v.status.is_some())
    })
    .await
}

#[tokio::test]
async fn normal_mode_agv_registers_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (server, stop) = start(dir.path()).await;
    let agv = AgvSession::<NoCrypto>::new(
        SessionConfig::default(),
        7,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        registration(),
        now_ms(),
    );
    let events = register_and_report(&server, 7, agv).await;
    assert!(events.contains(&AgvEvent::Registered), "{events:?}");
    // Answers go out at once: a registration answered only after the AGV's retransmission
    // (the server waiting for its next timer) shows as a second configuration.
    let configured = events
        .iter()
        .filter(|e| matches!(e, AgvEvent::Configured(_)))
        .count();
    assert_eq!(configured, 1, "{events:?}");
    let view = server.state.fleet.get(7).unwrap();
    assert!(view.online && view.registered);
    assert_eq!(view.status.unwrap().pose.x, 3.5);
    let stored = server.state.db.registration(7).await.unwrap();
    assert_eq!(stored, Some(("Acme".into(), "J1".into(), "SN-7".into())));
    stop.stop().await;
}

#[tokio::test]
async fn secure_mode_agv_with_an_enrolled_key_registers_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (server, stop) = start(dir.path()).await;
    let key =
        Arc::new(SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng()).unwrap());
    for id in [9, 10] {
        server
            .state
            .keys
            .insert(id, crypto::DEFAULT_ID, *key.verifying_key().public_key())
            .unwrap();
    }
    let rcs = Arc::new(CachedVerifier::new(
        server.state.server_key.verifying_key().clone(),
    ));
    for (agv_id, profile) in [(9, SecureProfile::Fast), (10, SecureProfile::Guide)] {
        let hs = AgvHandshake::new(
            key.clone(),
            crypto::DEFAULT_ID,
            rcs.clone(),
            crypto::system_rng(),
        );
        let agv = AgvSession::new(
            SessionConfig::default(),
            agv_id,
            AccessMode::Secure,
            profile,
            Some(hs),
            registration(),
            now_ms(),
        );
        let events = register_and_report(&server, agv_id, agv).await;
        assert!(
            events.iter().any(|e| matches!(e, AgvEvent::Connected { mode: AccessMode::Secure, profile: p, .. } if *p == profile)),
            "{events:?}"
        );
        assert_eq!(server.state.fleet.get(agv_id).unwrap().profile, profile);
    }
    stop.stop().await;
}

#[tokio::test]
async fn an_unenrolled_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, stop) = start(dir.path()).await;
    let key =
        Arc::new(SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng()).unwrap());
    let rcs = Arc::new(CachedVerifier::new(
        server.state.server_key.verifying_key().clone(),
    ));
    let hs = AgvHandshake::new(key, crypto::DEFAULT_ID, rcs, crypto::system_rng());
    let agv = AgvSession::new(
        SessionConfig::default(),
        11,
        AccessMode::Secure,
        SecureProfile::Guide,
        Some(hs),
        registration(),
        now_ms(),
    );
    let events = run_agv(&server, agv, |_, _| false).await;
    assert!(
        events.contains(&AgvEvent::Closed(CloseCause::Refused(
            ResultCode::AuthenticationFailed
        ))),
        "{events:?}"
    );
    assert!(server.state.fleet.get(11).is_none_or(|v| !v.registered));
    stop.stop().await;
}

/// Connects as `agv_id` in normal mode, waits for the access response, and leaves without
/// registering.
async fn access_and_leave(server: &Server, agv_id: u32) -> ResultCode {
    use protocol::frame::{Flags, FrameDecoder, Header, encode_message};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let msg: Message = AccessRequest {
        mode: AccessMode::Normal,
        profile: SecureProfile::Guide,
        min_version: 1,
        max_version: 1,
        key_exchange: None,
    }
    .into();
    let mut buf = bytes::BytesMut::new();
    let header = Header::new(
        msg.message_type(),
        Flags::ACK_REQUESTED,
        1,
        agv_id,
        now_ms(),
    );
    encode_message(&mut buf, header, &msg, 65536).unwrap();
    let mut stream = tokio::net::TcpStream::connect(server.agv_addr)
        .await
        .unwrap();
    stream.write_all(&buf).await.unwrap();
    let mut decoder = FrameDecoder::default();
    let mut input = bytes::BytesMut::new();
    loop {
        assert!(stream.read_buf(&mut input).await.unwrap() > 0, "no answer");
        if let Some(f) = decoder.decode(&mut input).unwrap()
            && let Ok(Message::AccessResponse(r)) = f.message()
        {
            return r.result;
        }
    }
}

#[tokio::test]
async fn sessions_that_come_and_go_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (server, stop) = start(dir.path()).await;
    let state = server.state.clone();
    for cycle in 0..3u32 {
        // 30 AGVs register, report and leave
        let agvs: Vec<_> = (201..231)
            .map(|id| {
                support::BackgroundAgv::spawn(&server, support::normal_agv(id), support::ack_all())
            })
            .collect();
        for id in 201..231 {
            support::eventually("reports", || {
                state.fleet.get(id).is_some_and(|v| v.status.is_some())
            })
            .await;
        }
        // 20 connections claim ids never seen before and leave without registering
        for k in 0..20 {
            let result = access_and_leave(&server, 5_000 + cycle * 100 + k).await;
            assert_eq!(result, ResultCode::Ok);
        }
        for agv in agvs {
            agv.stop().await;
        }
        support::eventually("every connection is gone", || {
            state.connections.is_empty()
                && state.metrics.connections.get() == 0
                && state.metrics.online.get() == 0
                && state.admission.addresses() == 0
        })
        .await;
        assert_eq!(state.fleet.online(), 0);
        assert_eq!(
            state.fleet.len(),
            30,
            "cycle {cycle}: only the AGVs that registered are kept"
        );
    }
    stop.stop().await;
}

/// Log lines at WARN and above, written by the server while `f` runs.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime: the server's tasks run on this thread, under its log subscriber.
#[tokio::test(flavor = "current_thread")]
async fn only_agvs_that_completed_access_are_reported_offline_at_warn() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.link_timeout_ms = 1000;
    config.access_timeout_ms = 10_000;
    let s = Running::start(config).await;
    let state = s.server.state.clone();
    // sockets that never complete access: their link is lost too, and nothing went offline
    let mut mute = Vec::new();
    for _ in 0..3 {
        mute.push(
            tokio::net::TcpStream::connect(s.server.agv_addr)
                .await
                .unwrap(),
        );
    }
    // an AGV that registers, then goes silent: it goes offline, and that is a warning
    let agv = support::BackgroundAgv::spawn(&s.server, support::normal_agv(77), support::ack_all());
    support::eventually("AGV 77 reports", || {
        state.fleet.get(77).is_some_and(|v| v.status.is_some())
    })
    .await;
    agv.silent.store(true, std::sync::atomic::Ordering::Relaxed);
    support::eventually("every link lost", || state.metrics.connections.get() == 0).await;
    drop(mute);
    agv.stop().await;
    s.stop().await;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lost: Vec<&str> = log.lines().filter(|l| l.contains("link lost")).collect();
    assert_eq!(lost.len(), 1, "{log}");
    assert!(lost[0].contains("agv_id=77"), "{log}");
    assert!(!log.contains("agv_id=0"), "{log}");
}
