//! What happens when a task of the server panics (a bug): it is never silent.
//!
//! - An AGV connection's task ([`crate::net`]) is contained: the panic is logged and counted
//!   (`rcs_panics_total{task="connection"}`), the session ends as if its link was lost (the AGV
//!   id is released, the AGV goes offline keeping its space), and every other AGV carries on.
//! - A task the whole server depends on (the dispatcher, the safety monitor, the grant expiry,
//!   the telemetry writer, the AGV listener, ...) is started with [`critical`]: if it panics,
//!   the server fails stop: it logs the panic, counts it, closes every AGV session, writes
//!   what it holds and exits with an error (a service manager restarts it; everything the
//!   fleet needs is in the database, as after a kill). A server without its dispatcher or its
//!   safety monitor must not go on looking healthy.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use crate::metrics::kind;
use crate::state::Shared;

/// The message a panic carried.
pub fn message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "no message"
    }
}

/// Spawns `task`, one the server cannot run without, named `name`: if it panics, the server
/// stops ([`Shared::failure`] names it). The handle resolves when the task ended, either way.
pub fn critical<F>(shared: &Arc<Shared>, name: &'static str, task: F) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let shared = shared.clone();
    tokio::spawn(async move {
        if let Err(panic) = std::panic::AssertUnwindSafe(task).catch_unwind().await {
            tracing::error!(
                task = name,
                "task panicked ({}): the server stops",
                message(&*panic)
            );
            count(&shared, name);
            shared.fail(name);
        }
    })
}

/// Counts a panic of task `name` in `rcs_panics_total`.
pub(crate) fn count(shared: &Shared, name: &'static str) {
    shared
        .metrics
        .panics
        .get_or_create(&kind("task", name.to_owned()))
        .inc();
}

/// Faults injected by the tests of what this module promises; nothing an operator can set.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Faults {
    panic_on_status_of: AtomicU32,
    session_end_delay_ms: AtomicU32,
}

impl Faults {
    /// Every session end is written to the log `ms` later (a slow database).
    #[doc(hidden)]
    pub fn delay_session_ends(&self, ms: u32) {
        self.session_end_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// How long a session end's write waits first (0: it does not).
    pub(crate) fn session_end_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.session_end_delay_ms.load(Ordering::Relaxed).into())
    }

    /// The next status report of `agv_id` panics its connection task.
    #[doc(hidden)]
    pub fn panic_on_next_status_of(&self, agv_id: u32) {
        self.panic_on_status_of.store(agv_id, Ordering::Relaxed);
    }

    /// Called with every status report (one relaxed load when nothing is injected).
    pub(crate) fn on_status(&self, agv_id: u32) {
        if agv_id != 0
            && self.panic_on_status_of.load(Ordering::Relaxed) == agv_id
            && self
                .panic_on_status_of
                .compare_exchange(agv_id, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            panic!("injected fault: AGV {agv_id}'s connection task panics");
        }
    }
}
