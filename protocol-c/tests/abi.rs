//! The C ABI driven as C drives it (through the exported functions and raw pointers) against
//! a `protocol` RCS session in memory, with a virtual clock: access, registration and
//! configuration in normal and secure mode, status reports, a motion command read through the
//! event's pointers and acknowledged, a safe space asked for, granted and released; every
//! pointer argument NULL, every enumerated value out of range, a buffer too small.

use std::collections::HashMap;
use std::ffi::CStr;
use std::ptr;
use std::sync::Arc;

use crypto::session::{KeyStore, RcsHandshake};
use crypto::sign::{CachedVerifier, SigningKey};
use crypto::{DEFAULT_ID, system_rng};
use protocol::session::{NoCrypto, RcsPolicy, RcsSession, SessionConfig};
use rcs_protocol::enums::*;
use rcs_protocol::ffi::*;
use rcs_protocol::types::*;
use rcs_protocol::{RcsAgv, RcsStatus};

mod support;
use support::*;

#[test]
fn a_normal_session_registers_reports_follows_a_command_and_gets_a_space() {
    let agv = normal_agv();
    let mut rcs = RcsSession::new(
        SessionConfig::default(),
        RcsPolicy::default(),
        NoCrypto,
        config_push(),
        1,
        T0,
    );
    established(&agv, &mut rcs);
    exchange(&agv, &mut rcs);
    // close: a Close frame, then the Closed event
    // SAFETY: a live session.
    let status = unsafe { rcs_agv_close(agv.0, T0 + 20, RCS_CLOSE_REASON_SHUTDOWN) };
    assert_eq!(status, RcsStatus::Ok);
    pump(&agv, &mut rcs, T0 + 20);
    let e = events(&agv);
    assert_eq!(kinds(&e), [RcsEventKind::Closed]);
    assert_eq!(e[0].closed.cause, RcsCloseCause::Local);
    // SAFETY: a live session.
    assert!(unsafe { rcs_agv_is_closed(agv.0) });
}

#[derive(Clone, Default)]
struct Store(HashMap<(u32, [u8; 32]), Arc<CachedVerifier>>);

impl KeyStore for Store {
    fn lookup(&self, agv_id: u32, key_id: &[u8; 32]) -> Option<Arc<CachedVerifier>> {
        self.0.get(&(agv_id, *key_id)).cloned()
    }
}

#[test]
fn a_secure_session_runs_the_same_exchange_in_every_profile() {
    let mut rng = system_rng();
    for profile in [
        RCS_SECURE_PROFILE_GUIDE,
        RCS_SECURE_PROFILE_FAST,
        RCS_SECURE_PROFILE_GCM,
    ] {
        let own = SigningKey::generate(DEFAULT_ID, &mut rng).unwrap();
        let rcs_key = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap());
        let mut store = Store::default();
        let verifier = Arc::new(CachedVerifier::new(own.verifying_key().clone()));
        store
            .0
            .insert((AGV, own.verifying_key().key_id()), verifier);
        let handshake = RcsHandshake::new(rcs_key.clone(), DEFAULT_ID, store, system_rng());
        let mut rcs = RcsSession::new(
            SessionConfig::default(),
            RcsPolicy::default(),
            handshake,
            config_push(),
            1,
            T0,
        );
        let private: [u8; 32] = own.secret().to_bytes().into();
        let public = rcs_key.verifying_key().to_sec1();
        let keys = RcsSecureKeys {
            agv_private_key: private.as_ptr(),
            rcs_public_key: public.as_ptr(),
            id: ptr::null(),
        };
        let modes = [RCS_NAVIGATION_MODE_SLAM];
        let mut c = config(&modes);
        c.profile = profile;
        let mut out = ptr::null_mut();
        // SAFETY: valid config, keys and out pointer.
        let status = unsafe { rcs_agv_new_secure(&c, &keys, T0, &mut out) };
        assert_eq!(status, RcsStatus::Ok);
        let agv = Agv(out);
        // SAFETY: a live session.
        assert_eq!(unsafe { rcs_agv_connect(agv.0, T0) }, RcsStatus::Ok);
        pump(&agv, &mut rcs, T0);
        let e = events(&agv);
        assert_eq!(
            kinds(&e)[..2],
            [RcsEventKind::Connected, RcsEventKind::Registered]
        );
        assert_eq!(
            (e[0].connected.mode, e[0].connected.profile),
            (RCS_ACCESS_MODE_SECURE, profile)
        );
        exchange(&agv, &mut rcs);
    }
    // a key that is not one is refused
    let modes = [RCS_NAVIGATION_MODE_SLAM];
    let c = config(&modes);
    let zero = [0u8; 65];
    let keys = RcsSecureKeys {
        agv_private_key: zero.as_ptr(),
        rcs_public_key: zero.as_ptr(),
        id: ptr::null(),
    };
    let mut out = ptr::null_mut();
    // SAFETY: valid config, keys (65 readable bytes each) and out pointer.
    let status = unsafe { rcs_agv_new_secure(&c, &keys, T0, &mut out) };
    assert_eq!(status, RcsStatus::InvalidKey);
    assert!(out.is_null());
}

#[test]
fn null_pointers_bad_values_and_short_buffers_are_errors_not_crashes() {
    let null = ptr::null_mut::<RcsAgv>();
    let mut n = 0usize;
    let mut buf = [0u8; 8];
    let report = status_report(50.0);
    // SAFETY: in every call below, NULL or valid pointers, as each case says.
    unsafe {
        assert_eq!(rcs_agv_config_init(ptr::null_mut()), RcsStatus::NullPointer);
        assert_eq!(
            rcs_agv_new(ptr::null(), T0, &mut ptr::null_mut()),
            RcsStatus::NullPointer
        );
        let modes = [RCS_NAVIGATION_MODE_SLAM];
        let c = config(&modes);
        assert_eq!(rcs_agv_new(&c, T0, ptr::null_mut()), RcsStatus::NullPointer);
        assert_eq!(
            rcs_agv_new_secure(&c, ptr::null(), T0, &mut ptr::null_mut()),
            RcsStatus::NullPointer
        );
        rcs_agv_free(null);
        assert_eq!(rcs_agv_connect(null, T0), RcsStatus::NullPointer);
        assert_eq!(
            rcs_agv_handle_input(null, T0, buf.as_ptr(), 8),
            RcsStatus::NullPointer
        );
        assert_eq!(rcs_agv_handle_timeout(null, T0), RcsStatus::NullPointer);
        assert_eq!(
            rcs_agv_poll_transmit(null, buf.as_mut_ptr(), 8, &mut n),
            RcsStatus::NullPointer
        );
        assert_eq!(
            rcs_agv_poll_event(null, ptr::null_mut()),
            RcsStatus::NullPointer
        );
        assert_eq!(
            rcs_agv_poll_timeout(null, ptr::null_mut()),
            RcsStatus::NullPointer
        );
        assert!(!rcs_agv_is_established(null));
        assert!(rcs_agv_is_closed(null));
        assert_eq!(rcs_agv_close(null, T0, 0), RcsStatus::NullPointer);
        assert_eq!(
            rcs_agv_send_status(null, T0, &report, ptr::null_mut()),
            RcsStatus::NullPointer
        );
        assert_eq!(
            rcs_agv_release_space(null, T0, 1, ptr::null_mut()),
            RcsStatus::NullPointer
        );
        assert_eq!(rcs_agv_ack(null, T0, 1, 0x0601, 0), RcsStatus::NullPointer);
        assert_eq!(CStr::from_ptr(rcs_agv_last_error(null)), c"");

        // a registration with a navigation mode the protocol does not define
        let bad_modes = [200u8];
        let c = config(&bad_modes);
        let mut out = ptr::null_mut();
        assert_eq!(rcs_agv_new(&c, T0, &mut out), RcsStatus::InvalidArgument);
        assert!(out.is_null());
        // a list pointer NULL with a length
        let mut c = config(&modes);
        c.navigation_modes = ptr::null();
        assert_eq!(rcs_agv_new(&c, T0, &mut out), RcsStatus::NullPointer);
        // a list longer than the limit is refused before anything of it is read
        let mut c = config(&modes);
        c.navigation_modes_len = 70_000;
        assert_eq!(rcs_agv_new(&c, T0, &mut out), RcsStatus::InvalidArgument);
        // a string that is not UTF-8
        let mut c = config(&modes);
        c.vendor = c"\xff\xfe".as_ptr();
        assert_eq!(rcs_agv_new(&c, T0, &mut out), RcsStatus::InvalidArgument);
        // a misaligned list
        let maps = [RcsMapInfo::default(); 2];
        let mut c = config(&modes);
        c.maps = maps.as_ptr().cast::<u8>().add(1).cast::<RcsMapInfo>();
        c.maps_len = 1;
        assert_eq!(rcs_agv_new(&c, T0, &mut out), RcsStatus::InvalidArgument);
        assert!(out.is_null());
    }

    let agv = normal_agv();
    // SAFETY: in every call below, a live session and pointers as each case says.
    unsafe {
        // nothing to send before connect; no timer
        assert_eq!(
            rcs_agv_poll_transmit(agv.0, buf.as_mut_ptr(), 8, &mut n),
            RcsStatus::Empty
        );
        let mut at = 0u64;
        assert_eq!(rcs_agv_poll_timeout(agv.0, &mut at), RcsStatus::Empty);
        // not established
        assert_eq!(
            rcs_agv_send_status(agv.0, T0, &report, ptr::null_mut()),
            RcsStatus::NotEstablished
        );
        assert_eq!(rcs_agv_connect(agv.0, T0), RcsStatus::Ok);
        assert_eq!(rcs_agv_connect(agv.0, T0), RcsStatus::State);
        assert_eq!(rcs_agv_poll_timeout(agv.0, &mut at), RcsStatus::Ok);
        assert!(at > T0);
        // the access request does not fit 8 bytes: the size it needs, and it stays queued
        assert_eq!(
            rcs_agv_poll_transmit(agv.0, buf.as_mut_ptr(), 8, &mut n),
            RcsStatus::BufferTooSmall
        );
        assert!(n > 32, "{n}");
        let msg = CStr::from_ptr(rcs_agv_last_error(agv.0)).to_str().unwrap();
        assert!(msg.contains("needs"), "{msg}");
        let mut big = vec![0u8; n];
        let need = n;
        assert_eq!(
            rcs_agv_poll_transmit(agv.0, big.as_mut_ptr(), big.len(), &mut n),
            RcsStatus::Ok
        );
        assert_eq!(n, need);
        assert_eq!(
            rcs_agv_poll_transmit(agv.0, big.as_mut_ptr(), big.len(), ptr::null_mut()),
            RcsStatus::NullPointer
        );
        assert_eq!(
            rcs_agv_poll_transmit(agv.0, ptr::null_mut(), 8, &mut n),
            RcsStatus::NullPointer
        );
        assert_eq!(
            rcs_agv_handle_input(agv.0, T0, ptr::null(), 3),
            RcsStatus::NullPointer
        );
        assert_eq!(
            rcs_agv_handle_input(agv.0, T0, ptr::null(), 0),
            RcsStatus::Ok
        );
        // garbage from the peer is the session's business, not a crash
        let garbage = [0xAAu8; 100];
        assert_eq!(
            rcs_agv_handle_input(agv.0, T0, garbage.as_ptr(), garbage.len()),
            RcsStatus::Ok
        );
        assert_eq!(rcs_agv_close(agv.0, T0, 99), RcsStatus::InvalidArgument);
        assert_eq!(
            rcs_agv_ack(agv.0, T0, 1, 0x0601, 999),
            RcsStatus::InvalidArgument
        );
        let msg = CStr::from_ptr(rcs_agv_last_error(agv.0)).to_str().unwrap();
        assert!(msg.contains("ResultCode"), "{msg}");
        assert_eq!(
            rcs_agv_answer_map_switch(agv.0, T0, 1, 0, 1, 90, ptr::null()),
            RcsStatus::NullPointer
        );
        assert_eq!(
            CStr::from_ptr(rcs_status_name(3)),
            c"RCS_STATUS_INVALID_ARGUMENT"
        );
        assert_eq!(CStr::from_ptr(rcs_status_name(-1)), c"RCS_STATUS_UNKNOWN");
    }

    // an established session refuses values the message's rules refuse
    let agv = normal_agv();
    let mut rcs = RcsSession::new(
        SessionConfig::default(),
        RcsPolicy::default(),
        NoCrypto,
        config_push(),
        1,
        T0,
    );
    established(&agv, &mut rcs);
    let mut bad = status_report(150.0);
    // SAFETY: in every call below, a live session and valid pointers.
    unsafe {
        assert_eq!(
            rcs_agv_send_status(agv.0, T0, &bad, ptr::null_mut()),
            RcsStatus::InvalidArgument
        );
        bad.battery_pct = 50.0;
        bad.state = 77;
        assert_eq!(
            rcs_agv_send_status(agv.0, T0, &bad, ptr::null_mut()),
            RcsStatus::InvalidArgument
        );
        bad.state = RCS_AGV_STATE_IDLE;
        bad.alarms_len = 3;
        assert_eq!(
            rcs_agv_send_status(agv.0, T0, &bad, ptr::null_mut()),
            RcsStatus::NullPointer
        );
        let mut request = RcsSpaceRequest {
            map_id: 1,
            region: RcsRegion::default(),
            limit: RCS_SPACE_LIMIT_FREE,
            duration_ms: 1000,
            reason: RCS_SPACE_REASON_OTHER,
        };
        // a circle of radius 0
        assert_eq!(
            rcs_agv_request_space(agv.0, T0, &request, ptr::null_mut()),
            RcsStatus::InvalidArgument
        );
        request.region.kind = 9;
        assert_eq!(
            rcs_agv_request_space(agv.0, T0, &request, ptr::null_mut()),
            RcsStatus::InvalidArgument
        );
        assert_eq!(
            rcs_agv_request_space(agv.0, T0, ptr::null(), ptr::null_mut()),
            RcsStatus::NullPointer
        );
    }
}
