//! Feeds arbitrary input to an `RcsSession` (with a provider that accepts every signature, so
//! the fuzzer gets past the handshake) in arbitrary chunks with arbitrary time steps, polling
//! everything after each step as a driver would. Nothing may panic, the session must stay
//! within its bounds, and once closed it stays closed. The first byte also picks a configuration
//! with RCS addresses and a standby session (refusing with `NotActive`, before any input or
//! halfway).
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::address::RcsAddress;
use protocol::message::{AlarmParams, ConfigPush};
use protocol::session::testing::AcceptAll;
use protocol::session::{RcsEvent, RcsPolicy, RcsSession, SessionConfig};
use protocol::types::ResultCode;

fuzz_target!(|data: &[u8]| {
    let mode = data.first().copied().unwrap_or_default();
    let active: RcsAddress = "10.0.1.12:7700".parse().expect("an address");
    let mut push = ConfigPush {
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
    };
    if mode & 2 != 0 {
        push.set_rcs_addresses(&[
            active.clone(),
            "[fd00::11]:7700".parse().expect("an address"),
        ])
        .expect("two addresses");
    }
    let policy = RcsPolicy {
        secure_required: data.first().is_some_and(|b| b & 1 == 1),
        secure_offered: true,
        allow_fast: true,
    };
    let mut now = 1_764_000_000_000u64;
    let mut s = RcsSession::new(SessionConfig::default(), policy, AcceptAll, push, 1, now);
    let mut closed = false;
    if mode & 4 != 0 {
        s.refuse_not_active(now, Some(&active));
    }
    let mut halfway = mode & 8 != 0;
    // Chunks: [len, time step, bytes...]
    let mut rest = data.get(1..).unwrap_or_default();
    while rest.len() >= 2 {
        let len = usize::from(rest[0]).min(rest.len() - 2);
        now += u64::from(rest[1]) * 10;
        let chunk = &rest[2..2 + len];
        rest = &rest[2 + len..];
        s.handle_input(now, chunk);
        if halfway && rest.len() < data.len() / 2 {
            halfway = false;
            s.refuse_not_active(now, None);
        }
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        while s.poll_transmit().is_some() {}
        while let Some(e) = s.poll_event() {
            match e {
                RcsEvent::RegistrationRequested(_) => {
                    // Refused only when the session ended after the request arrived.
                    if let Err(e) = s.accept_registration(now, ResultCode::Ok) {
                        assert!(s.is_closed(), "{e}");
                    }
                }
                RcsEvent::Closed(_) => closed = true,
                _ => {}
            }
        }
        assert_eq!(closed, s.is_closed());
    }
});
