//! Link control: heartbeat, the generic acknowledgement with a result code, and the error report.

use alloc::string::String;

use crate::codec::wire_struct;
use crate::message::MessageType;
use crate::types::{ErrorCode, ResultCode};

wire_struct! {
    /// AGV → RCS: keeps the link alive. Sent every heartbeat period when no other frame was sent.
    pub struct Heartbeat {}
}

wire_struct! {
    /// RCS → AGV: answers a heartbeat with the RCS clock.
    pub struct HeartbeatAck {
        /// Sequence number of the heartbeat.
        pub request_seq: u32,
        /// The RCS clock, UTC ms.
        pub server_time_ms: u64,
    }
}

wire_struct! {
    /// Either side: the application-level acknowledgement of a command that has no response
    /// message of its own (configuration push, motion command, task control, release...).
    /// Every frame sent with `ACK_REQUESTED` gets exactly one Ack or response.
    pub struct Ack {
        /// Sequence number of the acknowledged frame.
        pub request_seq: u32,
        /// Its message type.
        pub request_type: MessageType,
        /// The outcome.
        pub result: ResultCode,
        /// Human-readable detail (may be empty).
        pub detail: String,
    }
}

wire_struct! {
    /// The message `Error` (`0x0F02`; named `ErrorReport` in Rust, not to clash with error
    /// types). Either side: the frame `request_seq` broke the protocol. Sent instead of an Ack
    /// when the frame could not be processed at all.
    pub struct ErrorReport {
        /// Sequence number of the offending frame (0 when its header was unreadable).
        pub request_seq: u32,
        /// What was wrong.
        pub code: ErrorCode,
        /// Human-readable detail, e.g. the offset (may be empty).
        pub detail: String,
    }
}
