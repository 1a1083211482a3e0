//! The secure channel's frame layer (docs/protocol.md section 10): sealing and opening
//! protected frames with the profile rules, the replay window and the timestamp check.
//!
//! Sans-IO and crypto-agnostic: the primitives come through [`ChannelCrypto`], which the
//! `crypto` crate implements with RustCrypto and firmware may implement with hardware. Time comes
//! in as an argument.

use alloc::vec::Vec;
use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::frame::{self, Flags, FrameRef, HEADER_LEN, Header, MAC_LEN, SIGNATURE_LEN};
use crate::message::{AccessMode, Message, MessageType, SecureProfile};
use crate::types::ErrorCode;

/// The cryptographic primitives of one established session, seen from one side.
pub trait ChannelCrypto {
    /// Encrypts (or decrypts: the same operation) `data` of a frame this side sends (`send`)
    /// or receives, with the frame's sequence number.
    fn apply_keystream(&self, send: bool, seq: u32, data: &mut [u8]);
    /// The MAC of a frame this side sends, over the concatenation of `parts`.
    fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN];
    /// Whether `tag` is the MAC of a received frame over `parts` (constant time).
    fn verify_mac(&self, parts: &[&[u8]], tag: &[u8]) -> bool;
    /// This side's SM2 signature over the concatenation of `parts` followed by the session's
    /// identity (`SM3` of the handshake transcript, docs/protocol.md 10.2), which binds a signed
    /// frame to its session.
    fn sign(&self, parts: &[&[u8]]) -> [u8; SIGNATURE_LEN];
    /// Whether `sig` is the peer's SM2 signature over `parts` followed by the session's
    /// identity (as [`sign`](Self::sign)).
    fn verify_peer(&self, parts: &[&[u8]], sig: &[u8]) -> bool;
    /// The gcm profile (docs/protocol.md 10.2): encrypts `data` of a frame this side sends in
    /// place with SM4-GCM under the nonce of `seq` and returns the 16-byte tag over `aad` (the
    /// frame's header) and the ciphertext.
    fn gcm_seal(&self, seq: u32, aad: &[u8], data: &mut [u8]) -> [u8; MAC_LEN];
    /// The gcm profile: whether `tag` is the SM4-GCM tag of a received frame over `aad` and
    /// the ciphertext `data` (constant time); if so `data` is decrypted in place, if not its
    /// contents are meaningless.
    fn gcm_open(&self, seq: u32, aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool;
}

/// Whether a message type must be signed even in the fast and gcm profiles (it moves robots or
/// grants space).
pub fn is_safety_critical(ty: MessageType) -> bool {
    matches!(
        ty,
        MessageType::MOTION_COMMAND
            | MessageType::TASK_CONTROL
            | MessageType::SAFETY_STOP
            | MessageType::MAP_SWITCH
            | MessageType::NAV_SWITCH
            | MessageType::SPACE_GRANT
            | MessageType::SPACE_REVOKE
    )
}

/// Limits of one session key (docs/protocol.md 10.5).
pub const REKEY_AFTER_FRAMES: u32 = 1 << 31;
/// Key lifetime, ms (24 h).
pub const REKEY_AFTER_MS: u64 = 24 * 60 * 60 * 1000;
/// Default allowed clock skew, ms.
pub const DEFAULT_MAX_SKEW_MS: u64 = 30_000;

/// The receive-side replay window: the highest sequence number accepted and a bitmap of the
/// 64 below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: u32,
    seen: u64,
}

impl ReplayWindow {
    /// Width of the window.
    pub const WIDTH: u32 = 64;

    /// Whether `seq` would be accepted (not marked yet). Sequence number 0 is never valid.
    pub fn check(&self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.highest {
            return true;
        }
        let back = self.highest - seq;
        back > 0 && back <= Self::WIDTH && self.seen & (1 << (back - 1)) == 0
    }

    /// Marks `seq` as seen (call only after [`check`](Self::check) and authentication).
    pub fn mark(&mut self, seq: u32) {
        if seq > self.highest {
            let shift = seq - self.highest;
            self.seen = if self.highest == 0 || shift > Self::WIDTH {
                0
            } else if shift == Self::WIDTH {
                1 << 63
            } else {
                // the old highest becomes bit shift-1, older ones move up with it
                (self.seen << shift) | (1 << (shift - 1))
            };
            self.highest = seq;
        } else {
            let back = self.highest - seq;
            if back > 0 && back <= Self::WIDTH {
                self.seen |= 1 << (back - 1);
            }
        }
    }
}

/// Why a protected frame was refused. Each maps to the [`ErrorCode`] sent back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The header names another AGV.
    #[error("frame for AGV {found}, session is AGV {expected}")]
    AgvIdMismatch {
        /// The session's AGV.
        expected: u32,
        /// The header's AGV.
        found: u32,
    },
    /// A plaintext frame inside the secure session.
    #[error("plaintext frame in a secure session")]
    Plaintext,
    /// The tag kind does not fit the profile and message type.
    #[error("flags {flags:#04x} do not fit the profile for type {message_type:#06x}")]
    WrongProtection {
        /// The frame's flags.
        flags: u8,
        /// Its type.
        message_type: u16,
    },
    /// The sequence number was seen or is outside the window.
    #[error("replayed or stale sequence number {seq}")]
    Replay {
        /// The sequence number.
        seq: u32,
    },
    /// The timestamp is too far from the receiver's clock.
    #[error("timestamp {timestamp_ms} is {skew_ms} ms off the receiver's clock")]
    TimestampSkew {
        /// The frame's timestamp.
        timestamp_ms: u64,
        /// How far off.
        skew_ms: u64,
    },
    /// The signature or MAC does not verify.
    #[error("bad signature or MAC")]
    BadTag,
    /// The decrypted body is not a valid message.
    #[error("decrypted body: {0}")]
    Decode(DecodeError),
}

impl OpenError {
    /// The error code to report to the peer.
    pub fn code(&self) -> ErrorCode {
        match self {
            OpenError::AgvIdMismatch { .. } => ErrorCode::AgvIdMismatch,
            OpenError::Plaintext => ErrorCode::SecureModeRequired,
            OpenError::WrongProtection { .. } | OpenError::BadTag => ErrorCode::BadSignature,
            OpenError::Replay { .. } => ErrorCode::Replay,
            OpenError::TimestampSkew { .. } => ErrorCode::TimestampSkew,
            OpenError::Decode(DecodeError::UnknownMessageType { .. }) => {
                ErrorCode::UnknownMessageType
            }
            OpenError::Decode(
                DecodeError::UnknownEnumValue { .. }
                | DecodeError::InvalidBool { .. }
                | DecodeError::InvalidUtf8 { .. }
                | DecodeError::NonFinite { .. }
                | DecodeError::InvalidValue { .. },
            ) => ErrorCode::InvalidField,
            OpenError::Decode(_) => ErrorCode::MalformedFrame,
        }
    }
}

/// One side of an established secure session: seals what it sends, opens what it receives.
#[derive(Debug)]
pub struct SecureChannel<C> {
    crypto: C,
    profile: SecureProfile,
    agv_id: u32,
    window: ReplayWindow,
    max_skew_ms: u64,
    established_ms: u64,
    rekey_after_frames: u32,
    rekey_after_ms: u64,
    sent: u32,
    scratch: BytesMut,
    plain: BytesMut,
    body: Vec<u8>,
}

impl<C: ChannelCrypto> SecureChannel<C> {
    /// A channel for AGV `agv_id` with the profile granted, established at `now_ms`.
    pub fn new(crypto: C, profile: SecureProfile, agv_id: u32, now_ms: u64) -> Self {
        Self {
            crypto,
            profile,
            agv_id,
            window: ReplayWindow::default(),
            max_skew_ms: DEFAULT_MAX_SKEW_MS,
            established_ms: now_ms,
            rekey_after_frames: REKEY_AFTER_FRAMES,
            rekey_after_ms: REKEY_AFTER_MS,
            sent: 0,
            scratch: BytesMut::new(),
            plain: BytesMut::new(),
            body: Vec::new(),
        }
    }

    /// Continues the replay window of frames received before the channel (the handshake's):
    /// sequence numbers run on across the handshake.
    pub fn set_window(&mut self, window: ReplayWindow) {
        self.window = window;
    }

    /// Sets the key limits (at most [`REKEY_AFTER_FRAMES`] frames; the time is free).
    pub fn with_key_limits(mut self, frames: u32, ms: u64) -> Self {
        self.rekey_after_frames = frames.min(REKEY_AFTER_FRAMES);
        self.rekey_after_ms = ms;
        self
    }

    /// Sets the allowed clock skew.
    pub fn with_max_skew(mut self, ms: u64) -> Self {
        self.max_skew_ms = ms;
        self
    }

    /// The profile in force.
    pub fn profile(&self) -> SecureProfile {
        self.profile
    }

    /// Whether the key reached its frame or time limit (docs/protocol.md 10.5): the session
    /// must then close with `Rekey`.
    pub fn needs_rekey(&self, now_ms: u64) -> bool {
        self.sent >= self.rekey_after_frames
            || self.window.highest >= self.rekey_after_frames
            || now_ms.saturating_sub(self.established_ms) >= self.rekey_after_ms
    }

    /// The tag kind a frame of type `ty` carries under this profile.
    fn tag_flag(&self, ty: MessageType) -> Flags {
        if self.profile == SecureProfile::Guide || is_safety_critical(ty) {
            Flags::SIGNED
        } else {
            Flags::MAC
        }
    }

    /// Encrypts and authenticates `message` into a frame appended to `dst`. The header's
    /// ENCRYPTED/SIGNED/MAC flags are set here; ACK_REQUESTED and RESPONSE are kept.
    pub fn seal(
        &mut self,
        mut header: Header,
        message: &Message,
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        header.message_type = message.message_type();
        let keep = header.flags.bits() & (Flags::ACK_REQUESTED | Flags::RESPONSE).bits();
        let tag_flag = self.tag_flag(header.message_type);
        header.flags = Flags::from_bits(keep | Flags::ENCRYPTED.bits() | tag_flag.bits())
            .expect("valid combination");
        self.plain.clear();
        message.encode_body(&mut self.plain)?;
        if self.profile == SecureProfile::Gcm && tag_flag == Flags::MAC {
            let tag = self.crypto.gcm_seal(
                header.seq,
                &frame::signed_header(&header, &self.plain),
                &mut self.plain[..],
            );
            frame::encode_raw(dst, header, &self.plain, &tag, frame::MAX_FRAME_LEN_LIMIT)?;
            self.sent = self.sent.saturating_add(1);
            return Ok(());
        }
        self.crypto
            .apply_keystream(true, header.seq, &mut self.plain[..]);
        frame::signed_bytes(&mut self.scratch, &header, &self.plain);
        let signed = &self.scratch[..];
        if tag_flag == Flags::SIGNED {
            let sig = self.crypto.sign(&[signed]);
            frame::encode_raw(dst, header, &self.plain, &sig, frame::MAX_FRAME_LEN_LIMIT)?;
        } else {
            let mac = self.crypto.mac(&[signed]);
            frame::encode_raw(dst, header, &self.plain, &mac, frame::MAX_FRAME_LEN_LIMIT)?;
        }
        self.sent = self.sent.saturating_add(1);
        Ok(())
    }

    /// Checks, authenticates, decrypts and decodes a received frame into `message` (reusing
    /// its capacity), in the order of docs/protocol.md 10.3. On error nothing of the session
    /// changed.
    pub fn open(
        &mut self,
        frame: &FrameRef<'_>,
        now_ms: u64,
        message: &mut Message,
    ) -> Result<(), OpenError> {
        let h = &frame.header;
        if h.agv_id != self.agv_id {
            return Err(OpenError::AgvIdMismatch {
                expected: self.agv_id,
                found: h.agv_id,
            });
        }
        if !h.flags.contains(Flags::ENCRYPTED) {
            return Err(OpenError::Plaintext);
        }
        let want = self.tag_flag(h.message_type);
        // A MAC where a signature is required is refused; a signature where a MAC would do is
        // accepted (it is stronger).
        let has_sig = h.flags.contains(Flags::SIGNED);
        if want == Flags::SIGNED && !has_sig {
            return Err(OpenError::WrongProtection {
                flags: h.flags.bits(),
                message_type: h.message_type.0,
            });
        }
        if !self.window.check(h.seq) {
            return Err(OpenError::Replay { seq: h.seq });
        }
        let skew_ms = h.timestamp_ms.abs_diff(now_ms);
        if skew_ms > self.max_skew_ms {
            return Err(OpenError::TimestampSkew {
                timestamp_ms: h.timestamp_ms,
                skew_ms,
            });
        }
        if self.profile == SecureProfile::Gcm && !has_sig {
            self.body.clear();
            self.body.extend_from_slice(frame.body);
            if !self.crypto.gcm_open(
                h.seq,
                &frame::signed_header(h, frame.body),
                &mut self.body,
                frame.auth,
            ) {
                return Err(OpenError::BadTag);
            }
            self.window.mark(h.seq);
            return message
                .decode_body_into(h.message_type, &self.body)
                .map_err(|e| OpenError::Decode(e.shifted(HEADER_LEN)));
        }
        frame::signed_bytes(&mut self.scratch, h, frame.body);
        let signed = &self.scratch[..];
        let ok = if has_sig {
            self.crypto.verify_peer(&[signed], frame.auth)
        } else {
            self.crypto.verify_mac(&[signed], frame.auth)
        };
        if !ok {
            return Err(OpenError::BadTag);
        }
        self.window.mark(h.seq);
        self.body.clear();
        self.body.extend_from_slice(frame.body);
        self.crypto.apply_keystream(false, h.seq, &mut self.body);
        message
            .decode_body_into(h.message_type, &self.body)
            .map_err(|e| OpenError::Decode(e.shifted(HEADER_LEN)))
    }
}

/// Whether an access request in `mode` is acceptable under a server policy requiring secure
/// mode (the downgrade rule, docs/protocol.md 10.4).
pub fn access_allowed(mode: AccessMode, secure_required: bool) -> bool {
    mode == AccessMode::Secure || !secure_required
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_accepts_new_and_in_window_once() {
        let mut w = ReplayWindow::default();
        assert!(!w.check(0));
        for seq in [1, 2, 5, 3] {
            assert!(w.check(seq), "{seq}");
            w.mark(seq);
            assert!(!w.check(seq), "{seq} twice");
        }
        assert!(w.check(4));
        w.mark(100);
        assert!(!w.check(35), "outside the window");
        assert!(w.check(36), "the oldest number inside the window");
        assert!(!w.check(100));
        assert!(!w.check(5), "old");
    }

    #[test]
    fn replay_window_matches_a_set_model() {
        // Deterministic pseudo-random walk compared with the obvious model.
        let mut w = ReplayWindow::default();
        let mut seen = alloc::collections::BTreeSet::new();
        let mut highest = 0u32;
        let mut x = 12345u32;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let seq = (highest + 3).saturating_sub(x % 80).max(1);
            let model = seq > highest || (highest - seq <= 64 && !seen.contains(&seq));
            assert_eq!(w.check(seq), model, "seq {seq} highest {highest}");
            if model {
                w.mark(seq);
                seen.insert(seq);
                highest = highest.max(seq);
            }
        }
    }

    #[test]
    fn safety_critical_types() {
        assert!(is_safety_critical(MessageType::MOTION_COMMAND));
        assert!(is_safety_critical(MessageType::SAFETY_STOP));
        assert!(!is_safety_critical(MessageType::STATUS_REPORT));
    }

    #[test]
    fn downgrade_rule() {
        assert!(!access_allowed(AccessMode::Normal, true));
        assert!(access_allowed(AccessMode::Normal, false));
        assert!(access_allowed(AccessMode::Secure, true));
    }
}
