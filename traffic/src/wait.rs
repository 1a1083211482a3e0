//! Explained waits: why an AGV with a task is not moving.

use serde::Serialize;

/// A wait: its reason and since when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wait {
    /// Why.
    #[serde(flatten)]
    pub reason: WaitReason,
    /// Since when, ms.
    pub since_ms: u64,
}

/// Why a task does not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum WaitReason {
    /// Space it needs next is held by another AGV (its footprint, reservation or grant).
    ForAgv {
        /// That AGV.
        agv: u32,
        /// The first node it waits to be released.
        node: u32,
    },
    /// The AGV holding what it needs is offline: it keeps its space until it returns or an
    /// operator clears it.
    BlockedByOffline {
        /// That AGV.
        agv: u32,
        /// The first node it waits to be released.
        node: u32,
    },
    /// The lift is in use.
    ForLift {
        /// The lift.
        lift: u16,
    },
    /// Space it needs is in a safe-space grant.
    ForGrant {
        /// The AGV holding the grant.
        agv: u32,
        /// The grant.
        grant: u32,
    },
    /// Its own AGV is offline.
    Offline,
    /// A deadlock is being resolved: it backs off and lets `to` pass first.
    Yielding {
        /// The AGV let through.
        to: u32,
    },
    /// Its AGV still drives the path of an earlier task, or a command is unanswered.
    Settling,
    /// Its own AGV charges first (queued for it): its battery is below the charge threshold,
    /// or it charges and is not yet above the threshold for work.
    Charging,
}

impl WaitReason {
    /// A short name for metrics and lists.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ForAgv { .. } => "for_agv",
            Self::BlockedByOffline { .. } => "blocked_by_offline",
            Self::ForLift { .. } => "for_lift",
            Self::ForGrant { .. } => "for_grant",
            Self::Offline => "offline",
            Self::Yielding { .. } => "yielding",
            Self::Settling => "settling",
            Self::Charging => "charging",
        }
    }

    /// The AGV it waits for, if any.
    pub fn agv(&self) -> Option<u32> {
        match self {
            Self::ForAgv { agv, .. }
            | Self::BlockedByOffline { agv, .. }
            | Self::ForGrant { agv, .. }
            | Self::Yielding { to: agv } => Some(*agv),
            _ => None,
        }
    }

    /// Every reason's name.
    pub const NAMES: [&'static str; 8] = [
        "for_agv",
        "blocked_by_offline",
        "for_lift",
        "for_grant",
        "offline",
        "yielding",
        "settling",
        "charging",
    ];
}
