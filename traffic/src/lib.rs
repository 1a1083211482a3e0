//! The traffic core of rcs: every fleet rule as a pure, deterministic state machine.
//!
//! [`Core`] holds the fleet (AGVs as they report, tasks, reservations in a
//! [`maps::SpaceTable`], lifts, waits) and decides. It has no sockets, no database and no clock:
//! the caller feeds it timed inputs (a task submitted or cancelled, an AGV report, online,
//! offline, a command answered or lost, a tick) and takes its [`Action`]s in order, as
//! `rcs-server` drives `protocol::session::RcsSession` (the model is quinn-proto).
//!
//! The contract at the boundary:
//! - An [`Action::Motion`] carries the reservations it relies on; the caller commits them
//!   before it sends the command and, if it cannot, reports the command lost without sending
//!   it ([`Core::answered`] with [`Outcome::NotStored`]): space is never driven that was not
//!   committed first.
//! - Reservations are given up only when an AGV is seen standing on a report that describes
//!   it after every command it was sent ([`Report::settled`]); an offline AGV keeps all it held.
//! - The same inputs at the same times give the same actions (no hashing order, no clock, no
//!   randomness inside).
//!
//! [`sim`] runs the core against simulated AGVs in virtual time (10,000 AGVs for an hour).

pub mod action;
pub mod agv;
mod assign;
pub mod core;
mod deadlock;
mod input;
mod lifecycle;
mod nearby;
mod pibt;
mod policy;
mod release;
pub mod sim;
pub mod task;
pub mod wait;

pub use action::{Action, Command, Event, Outcome};
pub use agv::{Agv, Mode, Report};
pub use core::{Core, Settings, Stats};
pub use task::{Busy, Refusal, Spec, Step, Task, TaskKind, TaskState};
pub use wait::{Wait, WaitReason};
