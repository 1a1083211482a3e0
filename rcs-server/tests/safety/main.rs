//! Safety end to end (docs/traffic.md, "Safety"): every way in which space held by or released
//! to one AGV could come to overlap another AGV is closed — going offline, a failed or cancelled
//! task, a new footprint at registration, space restored after a restart, an AGV back on another
//! map, an expired grant, two AGVs in one lift cabin — and an AGV that is where the RCS did not
//! put it is stopped at once, with every AGV whose released space it touches, until the overlap
//! is resolved. Implausible registrations and reports are refused with `InvalidField`.
//!
//! Each test fails on the server as it was before these rules (the reason is in its comment).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use protocol::frame::{Flags, FrameDecoder, Header, encode_raw};
use protocol::message::*;
use protocol::session::{AgvEvent, AgvSession, NoCrypto, SessionConfig};
use protocol::types::*;
use rcs_server::Config;
use rcs_server::state::now_ms;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "../support/mod.rs"]
mod support;
use support::fleet::{
    call, driving, grid_server, lift_server, monitor, reservation_monitor, submit, wait_task,
};
use support::{BackgroundAgv, Driver, Running, eventually, normal_agv, registration, run_agv};

mod held;
mod stops;

fn grid(c: u32, r: u32) -> u32 {
    maps::generate::grid_node(1, 9, c, r)
}

fn reservations(state: &rcs_server::state::Shared, agv: u32) -> Vec<u64> {
    let mut r: Vec<u64> = state
        .space()
        .holds(agv)
        .iter()
        .filter_map(|(h, ..)| match h {
            maps::Hold::Reservation { resource } => Some(*resource),
            _ => None,
        })
        .collect();
    r.sort_unstable();
    r
}

fn agv_with_footprint(id: u32, side: f32) -> AgvSession<NoCrypto> {
    let mut reg = registration();
    reg.footprint = Footprint {
        front: side,
        rear: side,
        left: side,
        right: side,
        height: 0.3,
    };
    AgvSession::new(
        SessionConfig::default(),
        id,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        reg,
        now_ms(),
    )
}

fn footprint_width(state: &rcs_server::state::Shared, agv: u32) -> Option<f64> {
    use geo::BoundingRect as _;
    state
        .space()
        .holds(agv)
        .iter()
        .find(|(h, ..)| *h == maps::Hold::Footprint)
        .and_then(|(_, _, shape)| shape.bounding_rect())
        .map(|r| r.width())
}
