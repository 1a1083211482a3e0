//! Sans-IO session state machines for both ends: [`AgvSession`] and [`RcsSession`].
//!
//! In the style of quinn-proto: no sockets, no clock reads. Time is UTC milliseconds passed in
//! on every call. Each session's methods fall into four groups, used in this order by a driver
//! loop:
//!
//! 1. **input** — `handle_input(now, bytes)` with bytes read from the connection, and
//!    `handle_timeout(now)` when the time from `poll_timeout` has come;
//! 2. **commands** — `connect`, `send`, `ack`, `respond`, `close`... from the application;
//! 3. **output** — `poll_transmit()` until `None` (write each to the connection),
//!    `poll_event()` until `None` (hand each to the application), then `poll_timeout()` for the
//!    next wake-up;
//! 4. when `is_closed()`, flush the transmits and close the connection.
//!
//! The sessions run access (normal or secure, with the SM2 key exchange), registration,
//! configuration, heartbeats and liveness in both directions, sequence numbers, the replay
//! window, acknowledgement tracking and retransmission of commands. Cryptography comes through
//! [`AgvCrypto`] / [`RcsCrypto`] (the `crypto` crate implements them; firmware may use its own).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::address::RcsAddress;
use crate::message::{
    ConfigPush, KeyExchangeInit, KeyExchangeReply, Message, MessageType, RegisterRequest,
};
use crate::secure::ChannelCrypto;
use crate::types::{CloseReason, ErrorCode, ResultCode};

mod agv;
mod link;
mod rcs;
#[cfg(feature = "arbitrary")]
pub mod testing;

pub use agv::AgvSession;
pub use rcs::{RcsPolicy, RcsSession, not_active_frame};

/// The capacity a session's event or transmit queue keeps once it has emptied (see
/// `pop_bounded`): the room a queue first takes (4 entries, the standard library's least for
/// entries of these sizes), which steady traffic (an entry or two at a time) never outgrows, so
/// it never reallocates. (With room for 8 kept, every short pause of the server still grew the
/// queues it caught from 4 entries to 8, for good: 1 MB over 1,000 connections in 6 minutes of
/// a soak.)
pub const QUEUE_CAPACITY_KEPT: usize = 4;

/// The front of `queue`; when that empties it, capacity beyond [`QUEUE_CAPACITY_KEPT`] is given
/// back. A burst (the frames of several seconds read at once after the peer or this end
/// stalled) grows a queue to hold all of its events; without this, every session would keep
/// the room of the largest burst it has seen for its whole life (20 kB per connection after a
/// 4-second stall under 10 Hz reports, docs/performance.md, soak).
fn pop_bounded<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if queue.is_empty() && queue.capacity() > QUEUE_CAPACITY_KEPT {
        queue.shrink_to(QUEUE_CAPACITY_KEPT);
    }
    front
}

/// Timing and limits of a session. The liveness values are replaced by those of the
/// configuration the RCS pushes.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Heartbeat period, ms (the AGV sends one when it sent nothing for this long).
    pub heartbeat_period_ms: u64,
    /// Liveness timeout, ms: hearing nothing for this long loses the link.
    pub link_timeout_ms: u64,
    /// Time allowed from connect to registration, ms.
    pub handshake_timeout_ms: u64,
    /// Time to wait for an answer to a command before resending it, ms.
    pub command_timeout_ms: u64,
    /// How often a command is resent before it is reported failed.
    pub max_retransmits: u8,
    /// Commands awaiting an answer at once; more are refused with [`SessionError::Busy`].
    pub max_pending: usize,
    /// Frame size limit.
    pub max_frame_len: usize,
    /// Bad frames tolerated within `error_window_ms` before the session closes.
    pub max_errors: usize,
    /// The window for `max_errors`, ms.
    pub error_window_ms: u64,
    /// Allowed clock skew of protected frames, ms.
    pub max_skew_ms: u64,
    /// Session key lifetime, ms (docs/protocol.md 10.5; default 24 h).
    pub key_lifetime_ms: u64,
    /// Session key frame limit per direction (default and maximum 2^31).
    pub key_max_frames: u32,
    /// Largest receive buffer kept between calls (a peer flooding faster than frames can be
    /// decoded is closed).
    pub max_buffered: usize,
    /// Frames the peer may send per second, on average (0: no limit). A frame beyond the rate
    /// and the burst is dropped and answered with an `Error` (`RateLimited`), which counts
    /// toward `max_errors` like any bad frame (docs/protocol.md 5).
    pub max_frames_per_sec: u32,
    /// Frames the peer may send at once above the rate (the token bucket's size; at least 1).
    pub frame_burst: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            heartbeat_period_ms: 1000,
            link_timeout_ms: 5000,
            handshake_timeout_ms: 10_000,
            command_timeout_ms: 2000,
            max_retransmits: 3,
            max_pending: 64,
            max_frame_len: crate::frame::DEFAULT_MAX_FRAME_LEN,
            max_errors: 5,
            error_window_ms: 10_000,
            max_skew_ms: crate::secure::DEFAULT_MAX_SKEW_MS,
            key_lifetime_ms: crate::secure::REKEY_AFTER_MS,
            key_max_frames: crate::secure::REKEY_AFTER_FRAMES,
            max_buffered: 4 * crate::frame::DEFAULT_MAX_FRAME_LEN,
            max_frames_per_sec: 0,
            frame_burst: 0,
        }
    }
}

/// The AGV side's handshake cryptography.
pub trait AgvCrypto {
    /// The established channel's primitives.
    type Channel: ChannelCrypto;
    /// Starts a key exchange: `ID_A`, the key id and a fresh `R_A`.
    fn start(&mut self) -> KeyExchangeInit;
    /// The AGV's signature over `parts`.
    fn sign(&self, parts: &[&[u8]]) -> [u8; 64];
    /// Whether `sig` is the RCS's signature over `parts` (with the provisioned RCS key).
    fn verify_rcs(&self, parts: &[&[u8]], sig: &[u8]) -> bool;
    /// Finishes the exchange with the RCS's reply: checks `S_B`, returns `S_A` and the channel
    /// keyed with `K` and the transcript (request body, response body). `None` on failure.
    fn finish(
        &mut self,
        reply: &KeyExchangeReply,
        transcript: &[&[u8]],
    ) -> Option<([u8; 32], Self::Channel)>;
}

/// The RCS side's handshake cryptography.
pub trait RcsCrypto {
    /// The established channel's primitives.
    type Channel: ChannelCrypto;
    /// Finds the key enrolled for `agv_id` under `init.key_id` and checks the request's
    /// signature with it. `false` for an unknown key, a key of another AGV, a bad signature.
    fn verify_request(
        &mut self,
        agv_id: u32,
        init: &KeyExchangeInit,
        parts: &[&[u8]],
        sig: &[u8],
    ) -> bool;
    /// Answers the AGV's key-exchange values (after `verify_request`): `ID_B`, `R_B`, `S_B`.
    fn respond(&mut self, init: &KeyExchangeInit) -> Option<KeyExchangeReply>;
    /// The RCS's signature over `parts`.
    fn sign(&self, parts: &[&[u8]]) -> [u8; 64];
    /// Whether `sig` is the (already identified) AGV's signature over `parts`.
    fn verify_agv(&self, parts: &[&[u8]], sig: &[u8]) -> bool;
    /// Checks `S_A`, returns the channel keyed with `K` and the transcript.
    fn confirm(&mut self, confirm: &[u8; 32], transcript: &[&[u8]]) -> Option<Self::Channel>;
    /// The access policy for `agv_id` (a per-AGV override of `default`, which is the
    /// session's). The default implementation has no overrides.
    fn policy(&self, agv_id: u32, default: RcsPolicy) -> RcsPolicy {
        let _ = agv_id;
        default
    }
}

/// A crypto provider for sessions that only ever run in normal mode: every secure operation
/// fails, so a secure access attempt is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCrypto;

impl ChannelCrypto for NoCrypto {
    fn apply_keystream(&self, _: bool, _: u32, _: &mut [u8]) {}
    fn mac(&self, _: &[&[u8]]) -> [u8; crate::frame::MAC_LEN] {
        [0; crate::frame::MAC_LEN]
    }
    fn verify_mac(&self, _: &[&[u8]], _: &[u8]) -> bool {
        false
    }
    fn sign(&self, _: &[&[u8]]) -> [u8; 64] {
        [0; 64]
    }
    fn verify_peer(&self, _: &[&[u8]], _: &[u8]) -> bool {
        false
    }
    fn gcm_seal(&self, _: u32, _: &[u8], _: &mut [u8]) -> [u8; crate::frame::MAC_LEN] {
        [0; crate::frame::MAC_LEN]
    }
    fn gcm_open(&self, _: u32, _: &[u8], _: &mut [u8], _: &[u8]) -> bool {
        false
    }
}

impl RcsCrypto for NoCrypto {
    type Channel = NoCrypto;
    fn verify_request(&mut self, _: u32, _: &KeyExchangeInit, _: &[&[u8]], _: &[u8]) -> bool {
        false
    }
    fn respond(&mut self, _: &KeyExchangeInit) -> Option<KeyExchangeReply> {
        None
    }
    fn sign(&self, _: &[&[u8]]) -> [u8; 64] {
        [0; 64]
    }
    fn verify_agv(&self, _: &[&[u8]], _: &[u8]) -> bool {
        false
    }
    fn confirm(&mut self, _: &[u8; 32], _: &[&[u8]]) -> Option<NoCrypto> {
        None
    }
}

impl AgvCrypto for NoCrypto {
    type Channel = NoCrypto;
    fn start(&mut self) -> KeyExchangeInit {
        KeyExchangeInit {
            id: Vec::new(),
            key_id: [0; 32],
            ephemeral: [0; 65],
        }
    }
    fn sign(&self, _: &[&[u8]]) -> [u8; 64] {
        [0; 64]
    }
    fn verify_rcs(&self, _: &[&[u8]], _: &[u8]) -> bool {
        false
    }
    fn finish(&mut self, _: &KeyExchangeReply, _: &[&[u8]]) -> Option<([u8; 32], NoCrypto)> {
        None
    }
}

/// Errors of session commands (not of the peer: those are events).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The session is not established (or already closed).
    #[error("session not established")]
    NotEstablished,
    /// Too many commands await an answer.
    #[error("too many commands awaiting an answer")]
    Busy,
    /// The message could not be encoded.
    #[error("encode: {0}")]
    Encode(#[from] crate::error::EncodeError),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseCause {
    /// This side closed it (the reason sent).
    Local(CloseReason),
    /// The peer sent `Close`.
    Peer(CloseReason),
    /// Access or registration was refused with this result.
    Refused(ResultCode),
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// Nothing heard from the peer within the link timeout.
    LinkTimeout,
    /// The peer kept sending bad frames, or authentication failed.
    ProtocolViolation,
    /// The peer answered a secure request in normal mode, or without a valid signature.
    Downgrade,
}

/// What an [`AgvSession`] tells the AGV application.
#[derive(Debug, Clone, PartialEq)]
pub enum AgvEvent {
    /// Access granted (and in secure mode the channel is up).
    Connected {
        /// Mode granted.
        mode: crate::message::AccessMode,
        /// Profile granted.
        profile: crate::message::SecureProfile,
        /// Session id.
        session_id: u32,
        /// The RCS clock when it answered (UTC ms): protected frames are refused when the
        /// clocks differ by more than the skew bound, so the AGV corrects its clock with it.
        server_time_ms: u64,
    },
    /// Registration accepted.
    Registered,
    /// A configuration was applied (and acknowledged).
    Configured(ConfigPush),
    /// The configuration just applied carries the RCS addresses (docs/protocol.md 4.4): from
    /// now on the AGV fails over along this list, in this order (also
    /// [`AgvSession::rcs_addresses`]). Follows the `Configured` event of that push.
    RcsAddresses(Vec<RcsAddress>),
    /// The RCS is a standby instance (it closed with `NotActive`): connect to `active` at once,
    /// or, when it names none, to the next address of the list (also
    /// [`AgvSession::redirect`]). The `Closed` event follows.
    Redirected {
        /// The active instance's address, when the standby knows it.
        active: Option<RcsAddress>,
    },
    /// A command or request from the RCS: answer with `ack` or `respond`.
    Command {
        /// Its sequence number.
        seq: u32,
        /// The message.
        message: Message,
    },
    /// An answer to something this AGV sent (SpaceGrant, SpaceDeny, Ack...).
    Response {
        /// The request it answers: the sequence number `send` returned, whichever
        /// retransmission was answered.
        request_seq: u32,
        /// The message.
        message: Message,
    },
    /// A request got no answer after all retransmissions.
    Unanswered {
        /// The sequence number the send call returned.
        seq: u32,
        /// Its type.
        message_type: MessageType,
    },
    /// The RCS reported a protocol error in a frame of ours.
    PeerError {
        /// What was wrong.
        code: ErrorCode,
        /// Which frame.
        request_seq: u32,
    },
    /// **Stop the AGV**: nothing heard from the RCS within the link timeout.
    LinkLost,
    /// The session ended.
    Closed(CloseCause),
}

/// What an [`RcsSession`] tells the RCS application.
#[derive(Debug, Clone, PartialEq)]
pub enum RcsEvent {
    /// Access granted to an AGV.
    AccessGranted {
        /// The AGV.
        agv_id: u32,
        /// Mode.
        mode: crate::message::AccessMode,
        /// Profile.
        profile: crate::message::SecureProfile,
    },
    /// The AGV asks to register: answer with `accept_registration`.
    RegistrationRequested(RegisterRequest),
    /// A message from the AGV (reports, progress, requests): requests with `ACK_REQUESTED`
    /// are answered with `ack` or `respond`.
    Message {
        /// Its sequence number.
        seq: u32,
        /// Whether the AGV wants an answer.
        ack_requested: bool,
        /// The message.
        message: Message,
    },
    /// An answer to a command (Ack with its result, or a result message).
    Response {
        /// The command it answers: the sequence number `send_command` returned, whichever
        /// retransmission was answered.
        request_seq: u32,
        /// The message.
        message: Message,
    },
    /// A command got no answer after all retransmissions.
    Unanswered {
        /// The sequence number the send call returned.
        seq: u32,
        /// Its type.
        message_type: MessageType,
    },
    /// The AGV reported a protocol error in a frame of ours.
    PeerError {
        /// What was wrong.
        code: ErrorCode,
        /// Which frame.
        request_seq: u32,
    },
    /// Nothing heard from the AGV within the link timeout: it is offline (keep its space
    /// blocked).
    LinkLost,
    /// The session ended.
    Closed(CloseCause),
}

/// What the shared input loop needs of each end.
trait Endpoint {
    type Channel: ChannelCrypto;
    fn link(&mut self) -> &mut link::Link<Self::Channel>;
    fn closed(&self) -> bool;
    /// Handles the frame whose message the link holds (`Link::take_message`).
    fn on_message(&mut self, now: u64, frame: &crate::FrameRef<'_>);
    /// Called before the link decodes another frame's message: a message an end left in the
    /// link for its application must be taken out first (the next one may be decoded over it).
    fn settle(&mut self) {}
    fn fail(&mut self, now: u64);
}

/// Handles every complete frame in received bytes, stopping once the session closes. A peer
/// that floods past the buffer limit or spends its error budget is closed.
///
/// Zero-copy: frames are decoded borrowed from the bytes they arrived in. When nothing is
/// buffered (the usual case: a read brings whole frames) they are decoded straight from
/// `bytes`, and only an incomplete frame at the end is copied into the link's buffer; otherwise
/// `bytes` is appended to that buffer and the frames are decoded from it.
fn drive_input<E: Endpoint>(end: &mut E, now: u64, bytes: &[u8]) {
    if end.closed() {
        return;
    }
    if !end.link().receive(now, bytes.len()) {
        return end.fail(now);
    }
    if end.link().inbuf.is_empty() {
        let used = drain(end, now, bytes);
        if used < bytes.len() && !end.closed() {
            end.link().inbuf.extend_from_slice(&bytes[used..]);
        }
        return;
    }
    // Taken out of the link while its frames are borrowed (the handlers may use the link).
    let mut buf = core::mem::take(&mut end.link().inbuf);
    buf.extend_from_slice(bytes);
    let used = drain(end, now, &buf);
    if !end.closed() {
        bytes::Buf::advance(&mut buf, used);
        end.link().inbuf = buf;
    }
}

/// Decodes and handles the frames at the front of `buf` until more bytes are needed or the
/// session closes; returns how many bytes were used.
fn drain<E: Endpoint>(end: &mut E, now: u64, buf: &[u8]) -> usize {
    let mut used = 0;
    loop {
        if used == buf.len() {
            // Nothing left (a read usually ends with a whole frame): an empty buffer never
            // holds a frame.
            return used;
        }
        let (consumed, frame) = end.link().next_frame(&buf[used..]);
        used += consumed;
        let fatal = match frame {
            Ok(None) => return used,
            Err(e) => end.link().refuse(now, &e),
            Ok(Some(frame)) => {
                end.settle();
                match end.link().accept(now, &frame) {
                    Ok(()) => {
                        end.on_message(now, &frame);
                        false
                    }
                    Err(fatal) => fatal,
                }
            }
        };
        if fatal {
            end.fail(now);
        }
        if end.closed() {
            return used;
        }
    }
}

/// Bodies kept for the key derivation's transcript.
#[derive(Debug, Clone, Default)]
struct Transcript {
    request: Vec<u8>,
    response: Vec<u8>,
}
