//! The part both ends share: framing (plain or through the secure channel), sequence numbers,
//! the replay window, error replies and counting, commands awaiting an answer with
//! retransmission, liveness timestamps, and the transmit queue.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::{SessionConfig, SessionError};
use crate::error::DecodeError;
use crate::frame::{self, Flags, FrameDecoder, FrameRef, Header};
use crate::message::{ErrorReport, Message, MessageType, SecureProfile};
use crate::secure::{ChannelCrypto, OpenError, ReplayWindow, SecureChannel};
use crate::types::ErrorCode;

/// A command awaiting its answer.
#[derive(Debug, Clone)]
struct Pending {
    /// The sequence number `send` returned: the command's identity across retransmissions.
    id: u32,
    /// The sequence numbers of all its transmissions (the first is `id`): the peer may answer
    /// any of them (an answer to the first can arrive after a retransmission).
    seqs: Vec<u32>,
    message: Message,
    deadline: u64,
    tries: u8,
}

/// How many transmissions of retired commands a link remembers.
const RETIRED_MAX: usize = 256;

/// The answer to a plaintext body that does not decode (offsets counted from the frame start).
fn plain_error(e: DecodeError) -> (ErrorCode, String) {
    (
        error_code(&e),
        alloc::format!("{}", e.shifted(frame::HEADER_LEN)),
    )
}

/// The error code for a decode error.
pub(super) fn error_code(e: &DecodeError) -> ErrorCode {
    match e {
        DecodeError::HeaderChecksum { .. } | DecodeError::Checksum { .. } => {
            ErrorCode::ChecksumMismatch
        }
        DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
        DecodeError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
        DecodeError::UnknownMessageType { .. } => ErrorCode::UnknownMessageType,
        DecodeError::UnknownEnumValue { .. }
        | DecodeError::InvalidBool { .. }
        | DecodeError::InvalidUtf8 { .. }
        | DecodeError::NonFinite { .. }
        | DecodeError::InvalidValue { .. } => ErrorCode::InvalidField,
        DecodeError::Protected { .. } => ErrorCode::UnexpectedMessage,
        _ => ErrorCode::MalformedFrame,
    }
}

/// Room made in the outgoing buffer before each frame (most frames are smaller: one
/// allocation per frame only for larger ones, until the buffer has grown to them).
const OUTBUF_RESERVE: usize = 256;

#[derive(Debug)]
pub(super) struct Link<C> {
    pub(super) config: SessionConfig,
    pub(super) agv_id: u32,
    decoder: FrameDecoder,
    /// Received bytes not yet decoded: the tail of a frame that has not fully arrived (frames
    /// that arrive whole are decoded straight from the caller's bytes, see `drive_input`).
    pub(super) inbuf: BytesMut,
    out: VecDeque<Bytes>,
    /// Where frames are encoded, each split off as it is queued: once the frames sent before
    /// are dropped, the next frame reuses the same memory (no allocation per frame sent).
    outbuf: BytesMut,
    next_seq: u32,
    window: ReplayWindow,
    pub(super) channel: Option<SecureChannel<C>>,
    pub(super) last_rx: u64,
    pub(super) last_tx: u64,
    errors: VecDeque<u64>,
    pending: VecDeque<Pending>,
    /// `(transmission, command)` of the latest commands no longer pending (answered or given
    /// up), so a late answer to any of their transmissions still names the command.
    retired: VecDeque<(u32, u32)>,
    /// The frame-rate token bucket: thousandths of a frame the peer may still send at once.
    tokens: u64,
    /// When the bucket was last refilled, UTC ms.
    refilled: u64,
    /// Frames dropped for the rate limit so far.
    pub(super) rate_limited: u64,
    /// A message the application gave back (`recycle`): the next frame of its type is decoded
    /// into it, reusing its strings' and lists' heap capacity.
    spare: Option<Message>,
    /// A frame's message decoded into a new message (no spare of its type), until taken.
    fresh: Option<Message>,
    /// Whether the message of the frame `incoming` returned last was decoded into `spare`.
    in_spare: bool,
}

impl<C: ChannelCrypto> Link<C> {
    pub(super) fn new(config: SessionConfig, agv_id: u32, now: u64) -> Self {
        let tokens = u64::from(config.frame_burst.max(1)) * 1000;
        Self {
            decoder: FrameDecoder::new(config.max_frame_len),
            config,
            agv_id,
            inbuf: BytesMut::new(),
            out: VecDeque::new(),
            outbuf: BytesMut::new(),
            next_seq: 1,
            window: ReplayWindow::default(),
            channel: None,
            last_rx: now,
            last_tx: now,
            errors: VecDeque::new(),
            pending: VecDeque::new(),
            retired: VecDeque::new(),
            tokens,
            refilled: now,
            rate_limited: 0,
            spare: None,
            fresh: None,
            in_spare: false,
        }
    }

    /// Keeps `message` for decoding the next frame of its type into (one is kept: the latest),
    /// unless the spare holds a message not taken yet.
    pub(super) fn recycle(&mut self, message: Message) {
        if !self.in_spare {
            self.spare = Some(message);
        }
    }

    /// The message of the frame [`Link::accept`] took last, while it is not taken.
    pub(super) fn message(&self) -> Option<&Message> {
        if self.in_spare {
            self.spare.as_ref()
        } else {
            self.fresh.as_ref()
        }
    }

    /// [`Link::message`], to lend out.
    pub(super) fn message_mut(&mut self) -> Option<&mut Message> {
        if self.in_spare {
            self.spare.as_mut()
        } else {
            self.fresh.as_mut()
        }
    }

    /// Done with the message not taken: it stays, as the spare, for the next frame of its type.
    pub(super) fn consume_message(&mut self) {
        if self.in_spare {
            self.in_spare = false;
        } else if let Some(message) = self.fresh.take() {
            self.spare = Some(message);
        }
    }

    /// The message of the frame [`Link::accept`] took last (once). Decoded in place
    /// (the message is moved once, to whoever takes it: it is a few hundred bytes).
    pub(super) fn take_message(&mut self) -> Option<Message> {
        if self.in_spare {
            self.in_spare = false;
            self.spare.take()
        } else {
            self.fresh.take()
        }
    }

    /// Decodes `frame`'s body (decrypted and authenticated in secure mode) in place: into the
    /// spare when it has the frame's type (another type would be overwritten whole, freeing its
    /// capacity: it stays for a later frame of its own type), else into a new message. On error
    /// the message is left valid (a spare stays a spare).
    fn open_in_place(&mut self, frame: &FrameRef<'_>, now: u64) -> Result<(), (ErrorCode, String)> {
        let ty = frame.header.message_type;
        self.in_spare = matches!(&self.spare, Some(m) if m.message_type() == ty);
        if self.channel.is_none() {
            self.check_plain(frame)?;
        }
        let slot = if self.in_spare {
            &mut self.spare
        } else if self.channel.is_none() {
            // Decoded straight into the new message (no placeholder to overwrite).
            return match Message::decode_body(ty, frame.body) {
                Ok(message) => {
                    self.fresh = Some(message);
                    Ok(())
                }
                Err(e) => Err(plain_error(e)),
            };
        } else {
            &mut self.fresh
        };
        let message = slot.get_or_insert_with(|| Message::Heartbeat(crate::message::Heartbeat {}));
        let result = match self.channel.as_mut() {
            Some(channel) => channel.open(frame, now, message).map_err(|e| match e {
                OpenError::Decode(d) => (error_code(&d), alloc::format!("{d}")),
                other => (other.code(), alloc::format!("{other}")),
            }),
            None => message
                .decode_body_into(ty, frame.body)
                .map_err(plain_error),
        };
        if result.is_err() {
            self.in_spare = false;
            self.fresh = None;
        }
        result
    }

    /// Takes one frame from the rate limit's bucket; `false` when the peer is over the limit.
    fn within_rate(&mut self, now: u64) -> bool {
        let rate = u64::from(self.config.max_frames_per_sec);
        if rate == 0 {
            return true;
        }
        let capacity = u64::from(self.config.frame_burst.max(1)) * 1000;
        let elapsed = now.saturating_sub(self.refilled);
        self.refilled = self.refilled.max(now);
        // `rate` frames per second are `rate` thousandths of a frame per millisecond.
        self.tokens = self
            .tokens
            .saturating_add(elapsed.saturating_mul(rate))
            .min(capacity);
        if self.tokens >= 1000 {
            self.tokens -= 1000;
            true
        } else {
            false
        }
    }

    fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.checked_add(1).unwrap_or(1);
        seq
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Bytes> {
        super::pop_bounded(&mut self.out)
    }

    /// Sends `message`; a command (ACK_REQUESTED without RESPONSE) is tracked until answered,
    /// except a Heartbeat or a StatusReport (the next one replaces it: never resent).
    pub(super) fn send(
        &mut self,
        now: u64,
        message: &Message,
        flags: Flags,
    ) -> Result<u32, SessionError> {
        let tracked = flags.contains(Flags::ACK_REQUESTED)
            && !flags.contains(Flags::RESPONSE)
            && message.message_type() != MessageType::HEARTBEAT
            && message.message_type() != MessageType::STATUS_REPORT;
        if tracked && self.pending.len() >= self.config.max_pending {
            return Err(SessionError::Busy);
        }
        let seq = self.transmit(now, message, flags)?;
        if tracked {
            self.pending.push_back(Pending {
                id: seq,
                seqs: alloc::vec![seq],
                message: message.clone(),
                deadline: now + self.config.command_timeout_ms,
                tries: 0,
            });
        }
        Ok(seq)
    }

    fn transmit(&mut self, now: u64, message: &Message, flags: Flags) -> Result<u32, SessionError> {
        let seq = self.take_seq();
        let header = Header::new(message.message_type(), flags, seq, self.agv_id, now);
        let buf = &mut self.outbuf;
        // (reclaims the memory of the frames sent before once they are dropped: the buffer is
        // then unique again)
        buf.reserve(OUTBUF_RESERVE);
        let sealed = match self.channel.as_mut() {
            Some(channel) => channel.seal(header, message, buf),
            None => frame::encode_message(buf, header, message, self.config.max_frame_len),
        };
        if let Err(e) = sealed {
            buf.clear();
            return Err(e.into());
        }
        self.out.push_back(buf.split().freeze());
        self.last_tx = now;
        Ok(seq)
    }

    /// Sends a handshake frame signed by `sign` (plaintext body, SIGNED flag). Returns the
    /// sequence number and the body as sent (for the transcript).
    pub(super) fn send_signed(
        &mut self,
        now: u64,
        message: &Message,
        flags: Flags,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Result<(u32, Vec<u8>), SessionError> {
        let seq = self.take_seq();
        let header = Header::new(
            message.message_type(),
            flags | Flags::SIGNED,
            seq,
            self.agv_id,
            now,
        );
        let mut body = BytesMut::new();
        message.encode_body(&mut body)?;
        let mut signed = BytesMut::new();
        frame::signed_bytes(&mut signed, &header, &body);
        let sig = sign(&signed);
        let mut buf = BytesMut::new();
        frame::encode_raw(&mut buf, header, &body, &sig, self.config.max_frame_len)?;
        self.out.push_back(buf.freeze());
        self.last_tx = now;
        Ok((seq, body.to_vec()))
    }

    /// Starts protecting every frame with `channel`.
    pub(super) fn secure(&mut self, crypto: C, profile: SecureProfile, now: u64) {
        // The replay window carries over: sequence numbers continue across the handshake.
        let mut channel = SecureChannel::new(crypto, profile, self.agv_id, now)
            .with_max_skew(self.config.max_skew_ms)
            .with_key_limits(self.config.key_max_frames, self.config.key_lifetime_ms);
        channel.set_window(self.window);
        self.channel = Some(channel);
    }

    /// Notes that `incoming` bytes arrived. Returns false when the peer floods past the buffer
    /// limit (what is buffered plus what arrived).
    pub(super) fn receive(&mut self, now: u64, incoming: usize) -> bool {
        self.last_rx = now;
        self.inbuf.len().saturating_add(incoming) <= self.config.max_buffered
    }

    /// Answers a bad frame with an `Error` and counts it.
    pub(super) fn reject(&mut self, now: u64, seq: u32, code: ErrorCode, detail: String) -> bool {
        let report = Message::ErrorReport(ErrorReport {
            request_seq: seq,
            code,
            detail,
        });
        let _ = self.transmit(now, &report, Flags::NONE);
        self.errors.push_back(now);
        while self
            .errors
            .front()
            .is_some_and(|t| now.saturating_sub(*t) > self.config.error_window_ms)
        {
            self.errors.pop_front();
        }
        self.errors.len() >= self.config.max_errors
    }

    /// The next complete frame at the front of `buf`, borrowing `buf` (no copy), and how many
    /// bytes of `buf` it took: the caller drops them once done with the frame. `Ok(None)`: more
    /// bytes are needed (the count is of bytes skipped, e.g. the rest of an oversized frame).
    /// [`Link::accept`] checks it and decodes its message.
    pub(super) fn next_frame<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> (
        usize,
        Result<Option<FrameRef<'a>>, crate::error::FrameError>,
    ) {
        self.decoder.decode_slice(buf)
    }

    /// Answers a frame [`Link::next_frame`] could not take with an `Error`; returns whether
    /// the error budget is spent (the session closes).
    pub(super) fn refuse(&mut self, now: u64, e: &crate::error::FrameError) -> bool {
        let seq = e.header.map_or(0, |h| h.seq);
        let detail = alloc::format!("{}", e.error);
        self.reject(now, seq, error_code(&e.error), detail)
    }

    /// Checks a frame [`Link::next_frame`] found (rate, replay, identity, in secure mode its
    /// protection) and decodes its message, which then waits in the link
    /// ([`Link::take_message`]; for the signed handshake frames the caller checks the signature
    /// with the frame). `Err(fatal)`: a bad frame, already answered with an `Error`; `fatal`
    /// when the error budget is spent.
    pub(super) fn accept(&mut self, now: u64, frame: &FrameRef<'_>) -> Result<(), bool> {
        let seq = frame.header.seq;
        if !self.within_rate(now) {
            // Dropped before any decryption or decoding: a flood costs the receiver little.
            self.rate_limited += 1;
            let detail = alloc::format!(
                "more than {} frames per second: frame dropped",
                self.config.max_frames_per_sec
            );
            return Err(self.reject(now, seq, ErrorCode::RateLimited, detail));
        }
        match self.open_in_place(frame, now) {
            Ok(()) => {
                if self.channel.is_none() {
                    self.window.mark(seq);
                }
                Ok(())
            }
            Err((code, detail)) => Err(self.reject(now, seq, code, detail)),
        }
    }

    /// Checks a frame before the secure channel: plaintext, or a signed handshake frame (body
    /// in plaintext; the caller verifies the signature).
    fn check_plain(&self, frame: &FrameRef<'_>) -> Result<(), (ErrorCode, String)> {
        let h = &frame.header;
        if h.flags.contains(Flags::ENCRYPTED) || h.flags.contains(Flags::MAC) {
            return Err((
                ErrorCode::UnexpectedMessage,
                String::from("no secure channel yet"),
            ));
        }
        if self.agv_id != 0 && h.agv_id != self.agv_id {
            return Err((
                ErrorCode::AgvIdMismatch,
                alloc::format!("AGV id {}", h.agv_id),
            ));
        }
        if !self.window.check(h.seq) {
            return Err((
                ErrorCode::Replay,
                alloc::format!("sequence number {}", h.seq),
            ));
        }
        Ok(())
    }

    /// Removes the command answered by `request_seq` (any of its transmissions); returns the
    /// command's identity (the sequence number `send` returned), or `request_seq` itself when
    /// nothing was waiting (a late duplicate answer).
    pub(super) fn answered(&mut self, request_seq: u32) -> u32 {
        match self
            .pending
            .iter()
            .position(|p| p.seqs.contains(&request_seq))
        {
            Some(i) => {
                let p = self.pending.remove(i).expect("index in range");
                self.retire(&p);
                p.id
            }
            None => self.command(request_seq),
        }
    }

    /// The command an answer to `request_seq` answers (the sequence number `send` returned,
    /// whichever transmission it names, pending or recently retired), or `request_seq` itself
    /// for an unknown one.
    pub(super) fn command(&self, request_seq: u32) -> u32 {
        self.pending
            .iter()
            .find(|p| p.seqs.contains(&request_seq))
            .map(|p| p.id)
            .or_else(|| {
                self.retired
                    .iter()
                    .find(|(seq, _)| *seq == request_seq)
                    .map(|(_, id)| *id)
            })
            .unwrap_or(request_seq)
    }

    /// Remembers the transmissions of a command no longer pending (a bounded number).
    fn retire(&mut self, p: &Pending) {
        for seq in &p.seqs {
            if self.retired.len() == RETIRED_MAX {
                self.retired.pop_front();
            }
            self.retired.push_back((*seq, p.id));
        }
    }

    /// Resends overdue commands; returns those that ran out of tries.
    pub(super) fn retransmit(&mut self, now: u64) -> Vec<(u32, MessageType)> {
        let mut failed = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].deadline > now {
                i += 1;
                continue;
            }
            if self.pending[i].tries >= self.config.max_retransmits {
                let p = self.pending.remove(i).expect("index in range");
                self.retire(&p);
                failed.push((p.id, p.message.message_type()));
                continue;
            }
            let message = self.pending[i].message.clone();
            match self.transmit(now, &message, Flags::ACK_REQUESTED) {
                Ok(seq) => {
                    let p = &mut self.pending[i];
                    p.seqs.push(seq);
                    p.tries += 1;
                    p.deadline = now + self.config.command_timeout_ms;
                    i += 1;
                }
                Err(_) => {
                    let p = self.pending.remove(i).expect("index in range");
                    self.retire(&p);
                    failed.push((p.id, p.message.message_type()));
                }
            }
        }
        failed
    }

    /// The earliest retransmission deadline.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Whether the session key reached its frame or time limit (docs/protocol.md 10.5).
    pub(super) fn needs_rekey(&self, now: u64) -> bool {
        self.channel.as_ref().is_some_and(|c| c.needs_rekey(now))
    }

    /// Sends `Close` with `reason` and forgets what was pending.
    pub(super) fn close(&mut self, now: u64, reason: crate::types::CloseReason) {
        let close = crate::message::Close {
            reason,
            detail: String::new(),
        };
        self.close_with(now, close);
    }

    /// Sends `close` and forgets what was pending.
    pub(super) fn close_with(&mut self, now: u64, close: crate::message::Close) {
        let _ = self.send(now, &close.into(), Flags::NONE);
        self.clear();
    }

    /// Forgets pending commands (the session closed).
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.inbuf.clear();
    }
}
