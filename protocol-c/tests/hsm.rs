//! Secure mode with the cryptography behind C callbacks (`rcs_agv_new_with_crypto`, and
//! `rcs_agv_new_with_crypto_gcm` with SM4-GCM), as a hardware security module would provide
//! it: here the callbacks are `extern "C"` functions over the `crypto` crate, and the session
//! runs the whole secure exchange (every profile) against an in-memory RCS. Incomplete
//! callbacks are refused; a module whose signatures fail is refused access; one whose SM4-GCM
//! fails gets nothing through.

use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use crypto::session::{AgvHandshake, KeyStore, RcsHandshake, SessionCrypto};
use crypto::sign::{CachedVerifier, SigningKey};
use crypto::{DEFAULT_ID, system_rng};
use protocol::message::{KeyExchangeReply, SecureProfile};
use protocol::secure::ChannelCrypto;
use protocol::session::{AgvCrypto, RcsEvent, RcsPolicy, RcsSession, SessionConfig};
use rcs_protocol::RcsStatus;
use rcs_protocol::enums::*;
use rcs_protocol::ffi::*;
use rcs_protocol::hsm::{RcsBytes, RcsCryptoCallbacks, RcsGcmCallbacks};
use rcs_protocol::types::*;

mod support;
use support::*;

type Rng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The "module": a software handshake and, once keyed, its channel.
struct Module {
    handshake: AgvHandshake<Rng>,
    channel: Option<SessionCrypto>,
    /// Fail every signature (a broken module).
    broken: bool,
    /// Fail every SM4-GCM seal and open.
    broken_gcm: bool,
    /// SM4-GCM seals and opens done.
    gcm_calls: usize,
}

/// # Safety
/// `user` is the `Module` the test made; it outlives the session.
unsafe fn module<'a>(user: *mut c_void) -> &'a mut Module {
    // SAFETY: the caller's contract.
    unsafe { &mut *user.cast::<Module>() }
}

/// # Safety
/// `parts` holds `len` live byte strings.
unsafe fn parts<'a>(parts: *const RcsBytes, len: usize) -> Vec<&'a [u8]> {
    // SAFETY: the caller's contract.
    let list = unsafe { std::slice::from_raw_parts(parts, len) };
    list.iter()
        // SAFETY: each names a live slice.
        .map(|b| unsafe { std::slice::from_raw_parts(b.ptr, b.len) })
        .collect()
}

unsafe extern "C" fn start(user: *mut c_void, key_id: *mut u8, ephemeral: *mut u8) -> bool {
    // SAFETY: the callbacks' contract (`user` is the module; 32 and 65 writable bytes).
    unsafe {
        let init = module(user).handshake.start();
        ptr::copy_nonoverlapping(init.key_id.as_ptr(), key_id, 32);
        ptr::copy_nonoverlapping(init.ephemeral.as_ptr(), ephemeral, 65);
    }
    true
}

unsafe extern "C" fn sign(user: *mut c_void, p: *const RcsBytes, n: usize, sig: *mut u8) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        let m = module(user);
        if m.broken {
            return false;
        }
        let s = m.handshake.sign(&parts(p, n));
        ptr::copy_nonoverlapping(s.as_ptr(), sig, 64);
    }
    true
}

unsafe extern "C" fn verify_rcs(
    user: *mut c_void,
    p: *const RcsBytes,
    n: usize,
    sig: *const u8,
    len: usize,
) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        module(user)
            .handshake
            .verify_rcs(&parts(p, n), std::slice::from_raw_parts(sig, len))
    }
}

unsafe extern "C" fn finish(
    user: *mut c_void,
    rcs_id: RcsBytes,
    rcs_ephemeral: *const u8,
    rcs_confirm: *const u8,
    transcript: *const RcsBytes,
    transcript_len: usize,
    confirm: *mut u8,
) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        let reply = KeyExchangeReply {
            id: std::slice::from_raw_parts(rcs_id.ptr, rcs_id.len).to_vec(),
            ephemeral: *rcs_ephemeral.cast::<[u8; 65]>(),
            confirm: *rcs_confirm.cast::<[u8; 32]>(),
        };
        let m = module(user);
        let Some((s_a, channel)) = m
            .handshake
            .finish(&reply, &parts(transcript, transcript_len))
        else {
            return false;
        };
        ptr::copy_nonoverlapping(s_a.as_ptr(), confirm, 32);
        m.channel = Some(channel);
    }
    true
}

unsafe extern "C" fn apply_keystream(
    user: *mut c_void,
    send: bool,
    seq: u32,
    data: *mut u8,
    len: usize,
) {
    // SAFETY: the callbacks' contract.
    unsafe {
        if let Some(c) = &module(user).channel {
            c.apply_keystream(send, seq, std::slice::from_raw_parts_mut(data, len));
        }
    }
}

unsafe extern "C" fn mac(user: *mut c_void, p: *const RcsBytes, n: usize, tag: *mut u8) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        let Some(c) = &module(user).channel else {
            return false;
        };
        let t = c.mac(&parts(p, n));
        ptr::copy_nonoverlapping(t.as_ptr(), tag, t.len());
    }
    true
}

unsafe extern "C" fn verify_mac(
    user: *mut c_void,
    p: *const RcsBytes,
    n: usize,
    tag: *const u8,
    len: usize,
) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        module(user)
            .channel
            .as_ref()
            .is_some_and(|c| c.verify_mac(&parts(p, n), std::slice::from_raw_parts(tag, len)))
    }
}

unsafe extern "C" fn channel_sign(
    user: *mut c_void,
    p: *const RcsBytes,
    n: usize,
    sig: *mut u8,
) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        let Some(c) = &module(user).channel else {
            return false;
        };
        let s = c.sign(&parts(p, n));
        ptr::copy_nonoverlapping(s.as_ptr(), sig, 64);
    }
    true
}

unsafe extern "C" fn verify_peer(
    user: *mut c_void,
    p: *const RcsBytes,
    n: usize,
    sig: *const u8,
    len: usize,
) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        module(user)
            .channel
            .as_ref()
            .is_some_and(|c| c.verify_peer(&parts(p, n), std::slice::from_raw_parts(sig, len)))
    }
}

unsafe extern "C" fn gcm_seal(
    user: *mut c_void,
    seq: u32,
    aad: *const u8,
    aad_len: usize,
    data: *mut u8,
    len: usize,
    tag: *mut u8,
) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        let m = module(user);
        m.gcm_calls += 1;
        let Some(c) = m.channel.as_ref().filter(|_| !m.broken_gcm) else {
            return false;
        };
        let t = c.gcm_seal(
            seq,
            std::slice::from_raw_parts(aad, aad_len),
            std::slice::from_raw_parts_mut(data, len),
        );
        ptr::copy_nonoverlapping(t.as_ptr(), tag, t.len());
    }
    true
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn gcm_open(
    user: *mut c_void,
    seq: u32,
    aad: *const u8,
    aad_len: usize,
    data: *mut u8,
    len: usize,
    tag: *const u8,
    tag_len: usize,
) -> bool {
    // SAFETY: the callbacks' contract.
    unsafe {
        let m = module(user);
        m.gcm_calls += 1;
        m.channel
            .as_ref()
            .filter(|_| !m.broken_gcm)
            .is_some_and(|c| {
                c.gcm_open(
                    seq,
                    std::slice::from_raw_parts(aad, aad_len),
                    std::slice::from_raw_parts_mut(data, len),
                    std::slice::from_raw_parts(tag, tag_len),
                )
            })
    }
}

const GCM: RcsGcmCallbacks = RcsGcmCallbacks {
    seal: Some(gcm_seal),
    open: Some(gcm_open),
};

fn callbacks(module: &mut Module) -> RcsCryptoCallbacks {
    RcsCryptoCallbacks {
        user: (module as *mut Module).cast(),
        start: Some(start),
        sign: Some(sign),
        verify_rcs: Some(verify_rcs),
        finish: Some(finish),
        apply_keystream: Some(apply_keystream),
        mac: Some(mac),
        verify_mac: Some(verify_mac),
        channel_sign: Some(channel_sign),
        verify_peer: Some(verify_peer),
    }
}

#[derive(Clone, Default)]
struct Store(HashMap<(u32, [u8; 32]), Arc<CachedVerifier>>);

impl KeyStore for Store {
    fn lookup(&self, agv_id: u32, key_id: &[u8; 32]) -> Option<Arc<CachedVerifier>> {
        self.0.get(&(agv_id, *key_id)).cloned()
    }
}

/// An RCS that knows the AGV's key, and the module holding that key.
fn setup(broken: bool) -> (RcsSession<RcsHandshake<Store, Rng>>, Box<Module>) {
    let mut rng = system_rng();
    let own = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap());
    let rcs_key = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap());
    let mut store = Store::default();
    store.0.insert(
        (AGV, own.verifying_key().key_id()),
        Arc::new(CachedVerifier::new(own.verifying_key().clone())),
    );
    let rcs = RcsSession::new(
        SessionConfig::default(),
        RcsPolicy::default(),
        RcsHandshake::new(rcs_key.clone(), DEFAULT_ID, store, system_rng()),
        config_push(),
        1,
        T0,
    );
    let verifier = Arc::new(CachedVerifier::new(rcs_key.verifying_key().clone()));
    let module = Box::new(Module {
        handshake: AgvHandshake::new(own, DEFAULT_ID, verifier, system_rng()),
        channel: None,
        broken,
        broken_gcm: false,
        gcm_calls: 0,
    });
    (rcs, module)
}

#[test]
fn a_session_with_its_cryptography_in_callbacks_runs_the_secure_exchange() {
    // (profile, with the SM4-GCM callbacks)
    let runs = [
        (SecureProfile::Guide, false),
        (SecureProfile::Fast, false),
        (SecureProfile::Guide, true),
        (SecureProfile::Fast, true),
        (SecureProfile::Gcm, true),
    ];
    for (profile, with_gcm) in runs {
        let (mut rcs, mut module) = setup(false);
        let cb = callbacks(&mut module);
        let modes = [RCS_NAVIGATION_MODE_SLAM];
        let mut c = config(&modes);
        c.profile = profile.to_raw();
        let mut out = ptr::null_mut();
        // SAFETY: valid config, callbacks and out pointer; the module outlives the session.
        let s = unsafe {
            if with_gcm {
                rcs_agv_new_with_crypto_gcm(&c, &cb, &GCM, ptr::null(), T0, &mut out)
            } else {
                rcs_agv_new_with_crypto(&c, &cb, ptr::null(), T0, &mut out)
            }
        };
        assert_eq!(s, RcsStatus::Ok);
        let agv = Agv(out);
        // SAFETY: a live session.
        assert_eq!(unsafe { rcs_agv_connect(agv.0, T0) }, RcsStatus::Ok);
        pump(&agv, &mut rcs, T0);
        let e = events(&agv);
        assert_eq!(
            kinds(&e)[..2],
            [RcsEventKind::Connected, RcsEventKind::Registered],
            "{profile:?}"
        );
        assert_eq!(e[0].connected.mode, RCS_ACCESS_MODE_SECURE);
        assert_eq!(e[0].connected.profile, profile.to_raw(), "granted as asked");
        exchange(&agv, &mut rcs);
        assert!(module.channel.is_some(), "the module holds the channel");
        // the gcm profile's frames went through the module's SM4-GCM, and only its frames
        assert_eq!(
            module.gcm_calls > 0,
            profile == SecureProfile::Gcm,
            "{profile:?}: {} SM4-GCM calls",
            module.gcm_calls
        );
    }
}

#[test]
fn a_module_whose_sm4_gcm_fails_gets_nothing_through() {
    let (mut rcs, mut module) = setup(false);
    let cb = callbacks(&mut module);
    let modes = [RCS_NAVIGATION_MODE_SLAM];
    let mut c = config(&modes);
    c.profile = RCS_SECURE_PROFILE_GCM;
    let mut out = ptr::null_mut();
    // SAFETY: valid pointers; the module outlives the session.
    let s = unsafe { rcs_agv_new_with_crypto_gcm(&c, &cb, &GCM, ptr::null(), T0, &mut out) };
    assert_eq!(s, RcsStatus::Ok);
    let agv = Agv(out);
    // SAFETY: a live session.
    assert_eq!(unsafe { rcs_agv_connect(agv.0, T0) }, RcsStatus::Ok);
    // the handshake is signed, not sealed: access is granted, then the module breaks
    module.broken_gcm = true;
    let got = pump(&agv, &mut rcs, T0);
    let e = events(&agv);
    assert_eq!(kinds(&e)[0], RcsEventKind::Connected);
    assert_eq!(e[0].connected.profile, RCS_SECURE_PROFILE_GCM);
    assert!(module.gcm_calls > 0, "the registration went to the module");
    // the registration, sealed as zeros under a zero tag, never reached the RCS as a message
    assert!(
        !got.iter().any(|e| matches!(
            e,
            RcsEvent::RegistrationRequested(_) | RcsEvent::Message { .. }
        )),
        "nothing sealed by a failed module is taken: {got:?}"
    );
    assert!(!kinds(&e).contains(&RcsEventKind::Registered));
}

#[test]
fn incomplete_callbacks_and_a_failing_module_are_refused() {
    let (mut rcs, mut module) = setup(true);
    let modes = [RCS_NAVIGATION_MODE_SLAM];
    let c = config(&modes);
    let mut cb = callbacks(&mut module);
    cb.verify_peer = None;
    let mut out = ptr::null_mut();
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(
            rcs_agv_new_with_crypto(&c, &cb, ptr::null(), T0, &mut out),
            RcsStatus::InvalidArgument
        );
        assert_eq!(
            rcs_agv_new_with_crypto(&c, ptr::null(), ptr::null(), T0, &mut out),
            RcsStatus::NullPointer
        );
        // the callbacks have no SM4-GCM operation: the gcm profile is refused with them
        let mut gcm = c;
        gcm.profile = RCS_SECURE_PROFILE_GCM;
        let cb = callbacks(&mut module);
        assert_eq!(
            rcs_agv_new_with_crypto(&gcm, &cb, ptr::null(), T0, &mut out),
            RcsStatus::InvalidArgument
        );
        // with SM4-GCM callbacks both are required, and the structure itself
        let half = RcsGcmCallbacks {
            seal: Some(gcm_seal),
            open: None,
        };
        assert_eq!(
            rcs_agv_new_with_crypto_gcm(&gcm, &cb, &half, ptr::null(), T0, &mut out),
            RcsStatus::InvalidArgument
        );
        assert_eq!(
            rcs_agv_new_with_crypto_gcm(&gcm, &cb, ptr::null(), ptr::null(), T0, &mut out),
            RcsStatus::NullPointer
        );
        assert_eq!(
            rcs_agv_new_with_crypto_gcm(&gcm, ptr::null(), &GCM, ptr::null(), T0, &mut out),
            RcsStatus::NullPointer
        );
        assert!(out.is_null(), "nothing made");
    }
    let cb = callbacks(&mut module);
    // SAFETY: valid pointers; the module outlives the session.
    let s = unsafe { rcs_agv_new_with_crypto(&c, &cb, ptr::null(), T0, &mut out) };
    assert_eq!(s, RcsStatus::Ok);
    let agv = Agv(out);
    // SAFETY: a live session.
    assert_eq!(unsafe { rcs_agv_connect(agv.0, T0) }, RcsStatus::Ok);
    pump(&agv, &mut rcs, T0);
    let e = events(&agv);
    assert_eq!(
        kinds(&e),
        [RcsEventKind::Closed],
        "refused: a zero signature"
    );
    assert_eq!(e[0].closed.cause, RcsCloseCause::Refused);
}
