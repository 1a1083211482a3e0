//! The memory one session holds, measured with a counting allocator (this test file runs one
//! test, so nothing else allocates meanwhile): the figure docs/c-abi.md gives.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use protocol::session::{NoCrypto, RcsPolicy, RcsSession, SessionConfig};
use rcs_protocol::RcsAgv;

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

#[test]
fn memory_per_session() {
    let live = || LIVE.load(Ordering::SeqCst);
    let before = live();
    let agv = normal_agv();
    let created = live() - before;
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
}
