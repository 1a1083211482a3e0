//! The sans-IO sessions, each end fed arbitrary bytes from its peer in arbitrary chunks with
//! arbitrary time steps, driven as a driver would drive it (timeouts, transmits, events, the
//! application's answers). The accept-all test provider stands in for the cryptography, so the
//! fuzzer passes the secure handshake too; `secure_handshake` runs the real one.
//!
//! Input: a mode byte, then chunks `[len, time step (10 ms units), len bytes]`.

use protocol::address::RcsAddress;
use protocol::message::{
    AccessMode, AlarmParams, BatteryInfo, ConfigPush, Footprint, Message, RegisterRequest,
    SecureProfile, SpeedLimits, StatusReport, Velocity,
};
use protocol::session::testing::AcceptAll;
use protocol::session::{
    AgvEvent, AgvSession, RcsEvent, RcsPolicy, RcsSession, SessionConfig, SessionError,
};
use protocol::types::{AgvState, AgvType, NavigationMode, Pose, ResultCode};

use crate::Bytes;

/// The AGV id of the sessions' AGV.
pub const AGV: u32 = 1001;
/// The start time of every run (UTC ms).
pub const T0: u64 = 1_764_000_000_000;

/// How far a run got: lets tests check that the seeds reach the states behind the handshake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reached {
    /// Access granted (the AGV's `Connected`, the RCS's `AccessGranted`).
    pub access: bool,
    /// Registration done (the AGV's `Registered`, the RCS's `RegistrationRequested`).
    pub registered: bool,
    /// Application messages received after registration.
    pub messages: usize,
    /// The session closed.
    pub closed: bool,
}

/// The configuration the RCS pushes.
pub fn config_push() -> ConfigPush {
    ConfigPush {
        config_version: 1,
        status_period_ms: 100,
        heartbeat_period_ms: 1000,
        link_timeout_ms: 3000,
        operation_report_period_s: 0,
        alarms: AlarmParams {
            battery_low_pct: 20.0,
            battery_critical_pct: 10.0,
            min_localisation_quality: 50,
            max_path_deviation: 0.2,
        },
        max_linear_speed: 1.5,
        max_angular_speed: 1.0,
        extensions: vec![],
    }
}

/// The AGV's registration.
pub fn registration() -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Jacking,
        vendor: "Acme".into(),
        model: "J1".into(),
        serial: "S1".into(),
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

/// A status report telling `n` apart (in its pose and task id).
pub fn status(n: u32) -> Message {
    StatusReport {
        localisation_quality: 90,
        velocity: Velocity {
            vx: 1.0,
            vy: 0.0,
            omega: 0.0,
        },
        state: AgvState::Working,
        battery_pct: 80.0,
        battery_voltage: 48.0,
        task_id: n,
        ..StatusReport::standing(
            1,
            Pose {
                x: f64::from(n),
                y: 0.0,
                theta: 0.0,
            },
        )
    }
    .into()
}

/// The session configuration a mode byte picks: bit 2 sets tiny key limits (so the rekey close
/// is reached), otherwise the defaults.
fn session_config(mode: u8) -> SessionConfig {
    let mut config = SessionConfig::default();
    if mode & 4 != 0 {
        config.key_max_frames = 6;
        config.key_lifetime_ms = 5_000;
    }
    config
}

/// Splits the input after the mode byte into `(time step ms, bytes)` chunks.
fn chunks(data: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut input = Bytes(data.get(1..).unwrap_or_default());
    std::iter::from_fn(move || {
        let len = input.next()?;
        let step = input.next()?;
        let (chunk, rest) = input.0.split_at(usize::from(len).min(input.0.len()));
        input.0 = rest;
        Some((u64::from(step) * 10, chunk))
    })
}

/// `rcs_session`: an [`RcsSession`] fed arbitrary AGV bytes. The mode byte picks: bit 0 secure
/// mode required; bit 1 a configuration with RCS addresses; bit 2 a standby session refusing
/// with `NotActive` before any input; bit 3 the same halfway through the input; bit 4 the
/// application takes a message lent (`peek_message`, `consume_message`) before polling events,
/// as rcs-server does with status reports. Nothing may
/// panic; the session stays within its bounds; an accepted registration is answered; once
/// closed it stays closed and says nothing more.
pub fn rcs_session(data: &[u8]) -> Reached {
    let mode = data.first().copied().unwrap_or_default();
    let active: RcsAddress = "10.0.1.12:7700".parse().expect("an address");
    let mut push = config_push();
    if mode & 2 != 0 {
        push.set_rcs_addresses(&[
            active.clone(),
            "[fd00::11]:7700".parse().expect("an address"),
        ])
        .expect("two addresses");
    }
    let policy = RcsPolicy {
        secure_required: mode & 1 != 0,
        secure_offered: true,
        allow_fast: true,
    };
    let mut now = T0;
    let mut s = RcsSession::new(SessionConfig::default(), policy, AcceptAll, push, 1, now);
    let mut reached = Reached::default();
    if mode & 4 != 0 {
        s.refuse_not_active(now, Some(&active));
    }
    let mut halfway = mode & 8 != 0;
    let total = data.len();
    let mut consumed = 1;
    for (step, chunk) in chunks(data) {
        now += step;
        consumed += 2 + chunk.len();
        s.handle_input(now, chunk);
        if halfway && consumed > total / 2 {
            halfway = false;
            s.refuse_not_active(now, None);
        }
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        while s.poll_transmit().is_some() {}
        if mode & 16 != 0
            && let Some((_, _, message)) = s.peek_message()
        {
            assert!(
                !reached.closed,
                "a message lent after the close: {message:?}"
            );
            assert!(reached.registered, "a message lent before registration");
            s.consume_message();
        }
        while let Some(e) = s.poll_event() {
            assert!(!reached.closed, "event after the close: {e:?}");
            match e {
                RcsEvent::AccessGranted { mode, .. } => {
                    assert!(!reached.access, "access granted twice");
                    assert!(
                        mode == AccessMode::Secure || !policy.secure_required,
                        "normal mode granted where secure mode is required"
                    );
                    reached.access = true;
                }
                RcsEvent::RegistrationRequested(_) => {
                    assert!(reached.access, "registration before access");
                    reached.registered = true;
                    // Refused only when the session ended after the request arrived.
                    if let Err(e) = s.accept_registration(now, ResultCode::Ok) {
                        assert!(s.is_closed(), "{e}");
                    }
                }
                RcsEvent::Message { .. } | RcsEvent::Response { .. } => {
                    assert!(reached.registered, "a message before registration");
                    reached.messages += 1;
                }
                RcsEvent::Closed(_) => reached.closed = true,
                _ => {}
            }
        }
        assert_eq!(reached.closed, s.is_closed());
        assert_eq!(s.poll_timeout().is_none(), s.is_closed());
    }
    reached
}

/// `agv_session`: an [`AgvSession`] that connected, fed arbitrary RCS bytes. The mode byte
/// picks: bit 0 secure mode (accept-all provider); bit 1 the fast profile (the gcm profile with
/// bit 5); bit 2 tiny key limits; bit 3 an application that sends status reports (every other one acknowledged) once
/// registered. Commands are acknowledged. Nothing may panic; access is granted in the mode
/// asked or not at all; the RCS addresses are those of the last event; a redirect closes; once
/// closed the session stays closed and says nothing more.
pub fn agv_session(data: &[u8]) -> Reached {
    let mode = data.first().copied().unwrap_or_default();
    let access_mode = if mode & 1 != 0 {
        AccessMode::Secure
    } else {
        AccessMode::Normal
    };
    let profile = match mode & 34 {
        2 => SecureProfile::Fast,
        34 => SecureProfile::Gcm,
        _ => SecureProfile::Guide,
    };
    let mut now = T0;
    let mut s = AgvSession::new(
        session_config(mode),
        AGV,
        access_mode,
        profile,
        Some(AcceptAll),
        registration(),
        now,
    );
    s.connect(now).expect("an idle session connects");
    assert!(s.connect(now).is_err(), "connected twice");
    let mut reached = Reached::default();
    let mut addresses: Option<Vec<RcsAddress>> = None;
    let mut sent = 0u32;
    for (step, chunk) in chunks(data) {
        now += step;
        s.handle_input(now, chunk);
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        if mode & 8 != 0 && s.is_established() {
            sent += 1;
            match s.send(now, status(sent), sent % 2 == 0) {
                Ok(_) | Err(SessionError::Busy) => {}
                Err(e) => panic!("an established session refused to send: {e}"),
            }
        }
        while s.poll_transmit().is_some() {}
        while let Some(e) = s.poll_event() {
            assert!(!reached.closed, "event after the close: {e:?}");
            match e {
                AgvEvent::Connected { mode, .. } => {
                    assert!(!reached.access, "connected twice");
                    assert_eq!(mode, access_mode, "access granted in another mode");
                    reached.access = true;
                }
                AgvEvent::Registered => {
                    assert!(reached.access, "registered before access");
                    reached.registered = true;
                }
                AgvEvent::RcsAddresses(list) => {
                    assert!(!list.is_empty());
                    addresses = Some(list);
                }
                AgvEvent::Redirected { active } => {
                    assert_eq!(s.redirect(), active.as_ref());
                    assert!(s.is_closed(), "redirected but still open");
                }
                AgvEvent::Command { seq, message } => {
                    assert!(reached.access, "a command before access");
                    reached.messages += 1;
                    if let Err(e) = s.ack(now, seq, message.message_type(), ResultCode::Ok) {
                        assert!(s.is_closed(), "{e}");
                    }
                }
                AgvEvent::Response { .. } | AgvEvent::Configured(_) => {
                    assert!(reached.access, "a message before access");
                    reached.messages += 1;
                }
                AgvEvent::Closed(_) => reached.closed = true,
                _ => {}
            }
        }
        if let Some(list) = &addresses {
            assert_eq!(s.rcs_addresses(), &list[..]);
        }
        assert_eq!(reached.closed, s.is_closed());
        assert_eq!(s.poll_timeout().is_none(), s.is_closed());
    }
    reached
}
