//! `agv-sim`: a simulated AGV fleet that drives an RCS end to end over the protocol (each AGV a
//! `protocol::session::AgvSession` on its own TCP connection), plays the business system
//! through the HTTP API, checks the no-overlap invariant as it runs, and reports.
//!
//! - [`agv`]: one simulated AGV.
//! - [`failover`]: where it connects next (the RCS address list, redirects, backoff).
//! - [`fleet`]: a run of many.
//! - [`api`]: the HTTP API client.
//! - [`business`]: the simulated business system (tasks at a rate, where the RCS takes them).
//! - [`monitor`]: the invariant monitor.
//! - [`report`]: statistics and the report.
//! - [`capacity`]: the server's cost per AGV against fleet size (`agv-sim capacity`).
//! - [`conformance`]: scenario checks of docs/protocol.md against any RCS.

pub mod agv;
pub mod api;
pub mod business;
pub mod capacity;
pub mod conformance;
pub mod failover;
pub mod fleet;
pub mod monitor;
pub mod params;
pub mod report;

pub use business::Naming;
pub use fleet::{Destinations, RunOptions, VdaFleet, run};
pub use report::Report;
