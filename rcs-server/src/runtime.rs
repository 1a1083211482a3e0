//! The server's tokio runtime, built with how much I/O one poll of its driver may wake.
//!
//! A busy worker polls the I/O driver every 61 tasks, and every connection that poll finds
//! readable goes to the worker's local queue, which holds 256. With tokio's default of up to
//! 1,024 events a poll, a fleet at high load overflowed it: the excess moved to the runtime's
//! shared queue, which is first in, first out. A task woken from another thread (a database
//! answer from SQLite's thread, so every command's audit row) goes to the back of that queue,
//! behind every connection that overflowed before it: at 8,000 AGVs on one core its p99 was
//! 128 ms while the runtime ran its timers within 5 ms. Polled with at most
//! [`BUSY_EVENTS`] events while it has tasks to run (and [`IDLE_EVENTS`] when it has none), the
//! worker never overflows its queue; the sockets not taken stay ready in the kernel for the
//! next poll, 61 tasks later (docs/performance.md, "The shared queue, the probe AGVs and the
//! runtime's lag").
//!
//! The HTTP API runs on a runtime of its own ([`Http`]), with an I/O driver of its own: on the
//! server's runtime an operator's request, like an AGV's answer, was read only when its socket's
//! turn came behind every AGV socket ready before it (docs/performance.md, "A command's
//! answer read early, and the API on a runtime of its own").

/// I/O events a worker takes when it polls the driver while it still has tasks to run: under
/// the 61 tasks it runs between two such polls, so its queue does not grow.
pub const BUSY_EVENTS: usize = 32;

/// I/O events a worker takes when it has nothing else to run: its queue is empty, and it
/// holds 256.
pub const IDLE_EVENTS: usize = 128;

/// The multi-thread runtime the server runs on: a worker per CPU it may use, time and I/O,
/// the I/O batches above.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_io_events_per_tick(IDLE_EVENTS)
        .max_io_events_per_busy_tick(BUSY_EVENTS)
        .build()
}

/// The HTTP API's runtime: a multi-thread runtime of its own, with half the CPUs the server may
/// use as workers (at least one), threads named `rcs-http`. Dropped, it shuts down without
/// waiting for its tasks (it may be dropped inside the server's runtime).
pub struct Http(Option<tokio::runtime::Runtime>);

impl Http {
    /// Builds the runtime.
    pub fn build() -> std::io::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("rcs-http")
            .enable_all()
            .build()?;
        Ok(Self(Some(runtime)))
    }

    /// `listener`, moved to this runtime's I/O driver.
    pub fn adopt(
        &self,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<tokio::net::TcpListener> {
        let listener = listener.into_std()?;
        let _in = self.runtime().enter();
        tokio::net::TcpListener::from_std(listener)
    }

    /// Runs `task` on this runtime.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime().spawn(task)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.0
            .as_ref()
            .expect("the runtime is taken only when dropped")
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
