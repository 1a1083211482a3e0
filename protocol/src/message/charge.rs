//! AGV charging control.

use crate::codec::{wire_enum, wire_struct};
use crate::types::ResultCode;

wire_enum! {
    /// Charging operations.
    pub enum ChargeOp: u8 {
        /// Dock and start charging.
        Start = 0,
        /// Stop charging and undock.
        Stop = 1,
    }
}

wire_struct! {
    /// RCS → AGV: starts or stops charging. The AGV must be at the charger node (a motion
    /// command with a `ChargePoint` node brings it there).
    pub struct ChargeControl {
        /// Operation.
        pub op: ChargeOp,
        /// Charger node.
        pub charger_node_id: u32,
        /// Level at which to stop charging by itself, % (100: full).
        pub target_pct: f32,
    }
}

wire_struct! {
    /// AGV → RCS: the outcome of a charging command (sent when charging started or stopped, or
    /// failed).
    pub struct ChargeResult {
        /// Sequence number of the charging command.
        pub request_seq: u32,
        /// Outcome.
        pub result: ResultCode,
        /// Battery level, %.
        pub battery_pct: f32,
        /// Whether it is charging now.
        pub charging: bool,
    }
}
