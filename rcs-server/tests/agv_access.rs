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
