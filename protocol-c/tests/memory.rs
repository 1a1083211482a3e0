//! The memory one session holds, measured with a counting allocator (this test file runs one
//! test, so nothing else allocates meanwhile): the figure docs/c-abi.md gives.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

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

/// Counts the bytes allocated and not yet freed, to measure a session.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The AGV's enrolled key.
struct Store(u32, [u8; 32], Arc<CachedVerifier>);

impl KeyStore for Store {
    fn lookup(&self, agv_id: u32, key_id: &[u8; 32]) -> Option<Arc<CachedVerifier>> {
        (agv_id == self.0 && *key_id == self.1).then(|| self.2.clone())
    }
}

/// The RCS end of a normal-mode session.
fn normal_rcs() -> RcsSession<NoCrypto> {
    RcsSession::new(
        SessionConfig::default(),
        RcsPolicy::default(),
        NoCrypto,
        config_push(),
        1,
        T0,
    )
}

#[test]
fn memory_per_session() {
    let live = || LIVE.load(Ordering::SeqCst);
    // One session first: what the code allocates once for the process (statics set up on first
    // use, such as `tracing`'s registry of call sites when the workspace's feature unification
    // turns its events on: 900 bytes in `cargo test --workspace`) is not the session's.
    {
        let agv = normal_agv();
        let mut rcs = normal_rcs();
        established(&agv, &mut rcs);
        exchange(&agv, &mut rcs);
    }
    let before = live();
    let agv = normal_agv();
    let created = live() - before;
    let mut rcs = normal_rcs();
    established(&agv, &mut rcs);
    exchange(&agv, &mut rcs);
    // what freeing the AGV's session gives back is what it held, its buffers included
    let held = live();
    drop(agv);
    let running = held - live();
    drop(rcs);
    let leaked = live() - before;
    println!(
        "memory per normal-mode session: {created} bytes created, {running} bytes registered \
         and running (the RcsAgv itself {} bytes)",
        std::mem::size_of::<RcsAgv>()
    );
    assert!(created < 16 * 1024, "{created}");
    assert!(running < 64 * 1024, "{running}");
    assert_eq!(leaked, 0, "nothing leaks");

    // secure mode, the guide profile (every frame signed)
    let mut rng = system_rng();
    let own = SigningKey::generate(DEFAULT_ID, &mut rng).unwrap();
    let rcs_key = Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap());
    let store = Store(
        AGV,
        own.verifying_key().key_id(),
        Arc::new(CachedVerifier::new(own.verifying_key().clone())),
    );
    let mut rcs = RcsSession::new(
        SessionConfig::default(),
        RcsPolicy::default(),
        RcsHandshake::new(rcs_key.clone(), DEFAULT_ID, store, system_rng()),
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
    let c = config(&modes);
    let before = live();
    let mut out = ptr::null_mut();
    // SAFETY: valid config, keys and out pointer.
    let status = unsafe { rcs_agv_new_secure(&c, &keys, T0, &mut out) };
    assert_eq!(status, RcsStatus::Ok);
    let agv = Agv(out);
    let created = live() - before;
    established(&agv, &mut rcs);
    exchange(&agv, &mut rcs);
    let held = live();
    drop(agv);
    let running = held - live();
    println!(
        "memory per secure-mode session: {created} bytes created, {running} bytes registered \
         and running"
    );
    assert!(running < 128 * 1024, "{running}");
}
