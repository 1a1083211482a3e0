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
