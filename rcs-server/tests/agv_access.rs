//! A real server on 127.0.0.1:0 with a temporary SQLite database, and AGVs speaking the
//! protocol over TCP through `protocol::session::AgvSession`: normal and secure access,
//! registration persisted, status reports in the fleet state, an unenrolled key refused.

use std::sync::Arc;
use std::time::Duration;

use crypto::session::AgvHandshake;
use crypto::sign::{CachedVerifier, SigningKey};
use protocol::message::*;
use protocol::session::{AgvCrypto, AgvEvent, AgvSession, CloseCause, NoCrypto, SessionConfig};
use protocol::types::*;
use rcs_server::net::now_ms;
use rcs_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn registration() -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Jacking,
        vendor: "Acme".into(),
        model: "J1".into(),
        serial: "SN-7".into(),
        firmware: "1.0".into(),
        footprint: Footprint {
            front: 0.5,
            rear: 0.5,
            left: 0.4,
            right: 0.4,
            height: 0.3,
        },
        speeds: SpeedLimits {
            forward: 1.5,
            reverse: 0.5,
            lateral: 0.0,
            angular: 1.0,
            acceleration: 0.5,
            deceleration: 1.0,
        },
        load_capacity_kg: 500.0,
        navigation_modes: vec![NavigationMode::Slam],
        maps: vec![],
        actuators: vec![],
        battery: BatteryInfo {
            capacity_wh: 1000.0,
            nominal_voltage: 48.0,
        },
        extensions: vec![],
    }
}

fn status() -> Message {
    StatusReport {
        map_id: 1,
        pose: Pose {
            x: 3.5,
            y: 1.25,
            theta: 0.0,
        },
        localisation_quality: 95,
        navigation_mode: NavigationMode::Slam,
        velocity: Velocity {
            vx: 0.0,
            vy: 0.0,
            omega: 0.0,
        },
        state: AgvState::Idle,
        battery_pct: 88.0,
        battery_voltage: 48.5,
        charging: false,
        e_stop: false,
        loads: vec![],
        actuators: vec![],
        task_id: 0,
        segment: 0,
        last_node_id: 0,
        last_node_sequence: 0,
        edge_id: 0,
        distance_since_last_node: 0.0,
        grant_id: 0,
        alarms: vec![],
        extensions: vec![],
    }
    .into()
}

async fn start(dir: &std::path::Path) -> (Server, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (server, serve) = rcs_server::start(Config::for_tests(dir), async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    tokio::spawn(serve);
    (server, tx)
}

/// Runs an AGV session over TCP until `on_event` says done (it is asked on every event and once
/// per loop with `None`), the session closes, or 10 s pass; returns its events.
async fn run_agv<K: AgvCrypto>(
    server: &Server,
    mut agv: AgvSession<K>,
    mut on_event: impl FnMut(&mut AgvSession<K>, Option<&AgvEvent>) -> bool,
) -> Vec<AgvEvent> {
    let mut stream = TcpStream::connect(server.agv_addr).await.unwrap();
    agv.connect(now_ms()).unwrap();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(f) = agv.poll_transmit() {
            stream.write_all(&f).await.unwrap();
        }
        let mut done = on_event(&mut agv, None);
        while let Some(e) = agv.poll_event() {
            done |= on_event(&mut agv, Some(&e));
            events.push(e);
        }
        while let Some(f) = agv.poll_transmit() {
            stream.write_all(&f).await.unwrap();
        }
        if done || agv.is_closed() || tokio::time::Instant::now() > deadline {
            return events;
        }
        let wake = agv.poll_timeout().unwrap_or(now_ms() + 100);
        let sleep = Duration::from_millis(wake.saturating_sub(now_ms()).min(100));
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => return events,
                Ok(n) => agv.handle_input(now_ms(), &buf[..n]),
            },
            () = tokio::time::sleep(sleep) => agv.handle_timeout(now_ms()),
        }
    }
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
    let _ = stop.send(());
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
    let _ = stop.send(());
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
    let _ = stop.send(());
}
