//! The RCS end of a session.

use alloc::collections::VecDeque;
use alloc::string::String;
use bytes::Bytes;

use super::link::Link;
use super::{CloseCause, RcsCrypto, RcsEvent, SessionConfig, SessionError, Transcript};
use crate::address::RcsAddress;
use crate::error::EncodeError;
use crate::frame::{Flags, PROTOCOL_VERSION};
use crate::message::{
    AccessMode, AccessRequest, AccessResponse, Ack, Close, ConfigPush, HeartbeatAck, Message,
    MessageType, RegisterResponse, SecureProfile,
};
use crate::types::{CloseReason, ErrorCode, ResultCode};

/// What the RCS accepts, for all AGVs or (through [`RcsCrypto::policy`]) for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RcsPolicy {
    /// Refuse normal-mode access (the downgrade rule).
    pub secure_required: bool,
    /// Offer secure mode at all (`false`: secure access requests are refused `Unsupported`;
    /// never together with `secure_required`).
    pub secure_offered: bool,
    /// Grant the fast or the gcm profile when asked (both sign only safety-critical frames;
    /// otherwise grant the guide profile).
    pub allow_fast: bool,
}

impl Default for RcsPolicy {
    /// Both modes, every profile.
    fn default() -> Self {
        Self {
            secure_required: false,
            secure_offered: true,
            allow_fast: true,
        }
    }
}

#[derive(Debug)]
enum State {
    AwaitAccess,
    AwaitConfirm {
        response_seq: u32,
        profile: SecureProfile,
    },
    AwaitRegistration,
    Registering {
        request_seq: u32,
    },
    Established,
    Closed,
}

/// A [`RcsEvent::Message`] whose message waits in the link (`RcsSession::on_message`).
#[derive(Debug, Clone, Copy)]
struct Deferred {
    /// Events queued before it.
    before: usize,
    seq: u32,
    ack_requested: bool,
}

/// Whether an established session hands `message` to the application as it is
/// ([`RcsEvent::Message`]): what `handle_message` does not answer itself or deliver as a
/// response.
fn for_the_application(message: &Message) -> bool {
    !matches!(
        message,
        Message::AccessRequest(_)
            | Message::Close(_)
            | Message::Heartbeat(_)
            | Message::ErrorReport(_)
    ) && message.request_seq().is_none()
}

/// The application's say on a normal-mode access request ([`RcsSession::set_access_check`]).
type AccessCheck = alloc::boxed::Box<dyn FnMut(u32) -> Result<(), ResultCode> + Send>;

/// Holds the access check (a closure has no `Debug`).
struct Check(Option<AccessCheck>);

impl core::fmt::Debug for Check {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

/// The RCS end of a session (see the [module docs](super) for the driving contract).
#[derive(Debug)]
pub struct RcsSession<K: RcsCrypto> {
    link: Link<K::Channel>,
    crypto: K,
    policy: RcsPolicy,
    config_push: ConfigPush,
    state: State,
    transcript: Transcript,
    session_id: u32,
    accepted_at: u64,
    events: VecDeque<RcsEvent>,
    /// The message of the last frame, when it is an event for the application: left where the
    /// link decoded it, `poll_event` hands it out after the events queued before it.
    deferred: Option<Deferred>,
    /// Set by `refuse_not_active` before the access request arrived: the close to answer it
    /// with.
    not_active: Option<Close>,
    access_check: Check,
}

impl<K: RcsCrypto> RcsSession<K> {
    /// A session for a newly accepted connection. `config_push` is sent after registration;
    /// `session_id` names the session in the access response.
    pub fn new(
        config: SessionConfig,
        policy: RcsPolicy,
        crypto: K,
        config_push: ConfigPush,
        session_id: u32,
        now: u64,
    ) -> Self {
        let mut link = Link::new(config, 0, now);
        link.config.link_timeout_ms = u64::from(config_push.link_timeout_ms);
        Self {
            link,
            crypto,
            policy,
            config_push,
            state: State::AwaitAccess,
            transcript: Transcript::default(),
            session_id,
            accepted_at: now,
            events: VecDeque::new(),
            deferred: None,
            not_active: None,
            access_check: Check(None),
        }
    }

    /// Lets the application refuse a normal-mode access request that passed every protocol
    /// check, before the access response goes out: `check(agv_id)` returns `Err(result)` to
    /// refuse it with that result (the response carries it, `Close` (`AccessDenied`) follows),
    /// e.g. `Rejected` while another connection holds the AGV id. Secure-mode requests are not
    /// asked: they prove the AGV's identity and may replace another connection.
    pub fn set_access_check(
        &mut self,
        check: impl FnMut(u32) -> Result<(), ResultCode> + Send + 'static,
    ) {
        self.access_check = Check(Some(alloc::boxed::Box::new(check)));
    }

    /// Frames dropped so far because the AGV sent faster than
    /// [`SessionConfig::max_frames_per_sec`].
    pub fn rate_limited(&self) -> u64 {
        self.link.rate_limited
    }

    // --- getters

    /// The AGV's id once access was granted (0 before).
    pub fn agv_id(&self) -> u32 {
        self.link.agv_id
    }

    /// Whether access, registration and configuration push are done.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    /// Whether the session ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    // --- commands

    /// Answers a registration request: `Ok` sends the response and the configuration.
    pub fn accept_registration(
        &mut self,
        now: u64,
        result: ResultCode,
    ) -> Result<(), SessionError> {
        let State::Registering { request_seq } = self.state else {
            return Err(SessionError::NotEstablished);
        };
        let response = RegisterResponse {
            request_seq,
            result,
            config_version: self.config_push.config_version,
            server_time_ms: now,
        };
        self.link.send(now, &response.into(), Flags::RESPONSE)?;
        if result != ResultCode::Ok {
            self.finish(now, CloseReason::AccessDenied, CloseCause::Refused(result));
            return Ok(());
        }
        self.link
            .send(now, &self.config_push.clone().into(), Flags::ACK_REQUESTED)?;
        self.state = State::Established;
        Ok(())
    }

    /// Refuses the pending registration because a value is implausible (a footprint larger
    /// than the site takes...): answers it with an `Error` naming the RegisterRequest
    /// (`InvalidField`, `detail` saying which) and waits for another registration. Refusals
    /// count toward the bad-frame limit (docs/protocol.md 5); at the limit the session closes.
    pub fn refuse_registration(&mut self, now: u64, detail: String) -> Result<(), SessionError> {
        let State::Registering { request_seq } = self.state else {
            return Err(SessionError::NotEstablished);
        };
        self.state = State::AwaitRegistration;
        self.reject(now, request_seq, ErrorCode::InvalidField, detail);
        Ok(())
    }

    /// Refuses a message the application found implausible (a pose off the site's maps...):
    /// answers frame `seq` with an `Error` of `code`. Refusals count toward the bad-frame limit
    /// (docs/protocol.md 5); at the limit the session closes with `ProtocolViolation`.
    pub fn reject(&mut self, now: u64, seq: u32, code: ErrorCode, detail: String) {
        if self.is_closed() {
            return;
        }
        if self.link.reject(now, seq, code, detail) {
            self.finish(
                now,
                CloseReason::ProtocolViolation,
                CloseCause::ProtocolViolation,
            );
        }
    }

    /// Sends a command (motion, task control, grant...) with ACK_REQUESTED; it is resent until
    /// answered and reported `Unanswered` after the last try.
    pub fn send_command(&mut self, now: u64, message: Message) -> Result<u32, SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        self.link.send(now, &message, Flags::ACK_REQUESTED)
    }

    /// Sends a message that needs no answer.
    pub fn send(&mut self, now: u64, message: Message) -> Result<u32, SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        self.link.send(now, &message, Flags::NONE)
    }

    /// Sends a response (SpaceGrant, SpaceDeny...) to the AGV's request.
    pub fn respond(&mut self, now: u64, message: Message) -> Result<(), SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        self.link.send(now, &message, Flags::RESPONSE).map(|_| ())
    }

    /// Answers the AGV's request `request_seq` with an Ack.
    pub fn ack(
        &mut self,
        now: u64,
        request_seq: u32,
        request_type: MessageType,
        result: ResultCode,
    ) -> Result<(), SessionError> {
        let ack = Ack {
            request_seq,
            request_type,
            result,
            detail: String::new(),
        };
        self.respond(now, ack.into())
    }

    /// Closes the session with `reason`.
    pub fn close(&mut self, now: u64, reason: CloseReason) {
        self.finish(now, reason, CloseCause::Local(reason));
    }

    /// Refuses this connection because this RCS instance is a standby, not the active one
    /// (docs/protocol.md 4.4): the AGV gets `Close` (`NotActive`) naming `active` (or none) and
    /// goes there at once. One call, at any time:
    ///
    /// - right after [`new`](Self::new), before any input (a standby's every connection): the
    ///   session waits for the access request and answers it with the close instead of an
    ///   access response (the close needs the AGV id the request brings);
    /// - later (access under way or done; an active instance that lost its leadership): the
    ///   close is sent now.
    ///
    /// Either way the session ends (`Closed(Local(NotActive))`) once the close is queued: flush
    /// the transmits and close the connection, as for any close. Nothing happens on a closed
    /// session.
    pub fn refuse_not_active(&mut self, now: u64, active: Option<&RcsAddress>) {
        if self.is_closed() {
            return;
        }
        let close = Close::not_active(active);
        if matches!(self.state, State::AwaitAccess) {
            self.not_active = Some(close);
        } else {
            self.finish_with(now, close);
        }
    }

    // --- input

    /// Handles bytes received from the AGV.
    pub fn handle_input(&mut self, now: u64, bytes: &[u8]) {
        super::drive_input(self, now, bytes);
    }

    fn unexpected(&mut self, now: u64, seq: u32) {
        if self
            .link
            .reject(now, seq, ErrorCode::UnexpectedMessage, String::new())
        {
            self.finish(
                now,
                CloseReason::ProtocolViolation,
                CloseCause::ProtocolViolation,
            );
        }
    }

    fn handle_message(&mut self, now: u64, frame: &crate::FrameRef<'_>, message: Message) {
        let h = frame.header;
        match (&self.state, message) {
            (State::AwaitAccess, Message::AccessRequest(_)) if self.not_active.is_some() => {
                self.link.agv_id = h.agv_id;
                let close = self.not_active.take().expect("checked");
                self.finish_with(now, close);
            }
            (State::AwaitAccess, Message::AccessRequest(req)) => self.on_access(now, frame, req),
            (State::AwaitAccess, _) => self.unexpected(now, h.seq),
            (
                State::AwaitConfirm {
                    response_seq,
                    profile,
                },
                Message::AccessConfirm(c),
            ) if c.request_seq == *response_seq && h.flags.contains(Flags::SIGNED) => {
                let profile = *profile;
                let mut bytes = bytes::BytesMut::new();
                crate::frame::signed_bytes(&mut bytes, &h, frame.body);
                let transcript = [&self.transcript.request[..], &self.transcript.response[..]];
                let channel = if self.crypto.verify_agv(&[&bytes], frame.auth) {
                    self.crypto.confirm(&c.confirm, &transcript)
                } else {
                    None
                };
                match channel {
                    Some(channel) => {
                        self.link.secure(channel, profile, now);
                        self.state = State::AwaitRegistration;
                        self.events.push_back(RcsEvent::AccessGranted {
                            agv_id: self.link.agv_id,
                            mode: AccessMode::Secure,
                            profile,
                        });
                    }
                    None => self.finish(
                        now,
                        CloseReason::AccessDenied,
                        CloseCause::ProtocolViolation,
                    ),
                }
            }
            (State::AwaitConfirm { .. }, _) => self.unexpected(now, h.seq),
            (_, Message::AccessRequest(_)) => {
                // Access is granted once per connection: an AGV asking again has lost the
                // session's state. Told so, and closed: it reconnects afresh.
                let _ = self.link.reject(
                    now,
                    h.seq,
                    ErrorCode::UnexpectedMessage,
                    String::from("access was already granted in this session"),
                );
                self.finish(
                    now,
                    CloseReason::ProtocolViolation,
                    CloseCause::ProtocolViolation,
                );
            }
            (_, Message::Close(close)) => {
                self.link.clear();
                self.state = State::Closed;
                self.events
                    .push_back(RcsEvent::Closed(CloseCause::Peer(close.reason)));
            }
            (_, Message::Heartbeat(_)) => {
                let ack = HeartbeatAck {
                    request_seq: h.seq,
                    server_time_ms: now,
                };
                let _ = self.link.send(now, &ack.into(), Flags::RESPONSE);
            }
            (State::AwaitRegistration, Message::RegisterRequest(req)) => {
                self.state = State::Registering { request_seq: h.seq };
                self.events.push_back(RcsEvent::RegistrationRequested(req));
            }
            (State::AwaitRegistration | State::Registering { .. }, other) => {
                // Not registered yet: refuse what asks for an answer, ignore the rest.
                if h.flags.contains(Flags::ACK_REQUESTED) {
                    let ack = Ack {
                        request_seq: h.seq,
                        request_type: other.message_type(),
                        result: ResultCode::NotRegistered,
                        detail: String::new(),
                    };
                    let _ = self.link.send(now, &ack.into(), Flags::RESPONSE);
                }
            }
            (_, Message::ErrorReport(e)) => {
                self.link.answered(e.request_seq);
                self.events.push_back(RcsEvent::PeerError {
                    code: e.code,
                    request_seq: e.request_seq,
                });
            }
            (_, message) => match message.request_seq() {
                Some(request_seq) => {
                    let request_seq = self.link.answered(request_seq);
                    self.events.push_back(RcsEvent::Response {
                        request_seq,
                        message,
                    });
                }
                None => self.events.push_back(RcsEvent::Message {
                    seq: h.seq,
                    ack_requested: h.flags.contains(Flags::ACK_REQUESTED),
                    message,
                }),
            },
        }
    }

    fn refuse_access(
        &mut self,
        now: u64,
        request_seq: u32,
        req: &AccessRequest,
        result: ResultCode,
    ) {
        let resp = AccessResponse {
            request_seq,
            result,
            mode: req.mode,
            profile: req.profile,
            version: PROTOCOL_VERSION,
            session_id: 0,
            server_time_ms: now,
            key_exchange: None,
        };
        let _ = self.link.send(now, &resp.into(), Flags::RESPONSE);
        self.finish(now, CloseReason::AccessDenied, CloseCause::Refused(result));
    }

    fn on_access(&mut self, now: u64, frame: &crate::FrameRef<'_>, req: AccessRequest) {
        let h = frame.header;
        self.link.agv_id = h.agv_id;
        if h.agv_id == 0 {
            return self.refuse_access(now, h.seq, &req, ResultCode::InvalidParameter);
        }
        if !(req.min_version..=req.max_version).contains(&PROTOCOL_VERSION) {
            return self.refuse_access(now, h.seq, &req, ResultCode::Unsupported);
        }
        let policy = self.crypto.policy(h.agv_id, self.policy);
        if !crate::secure::access_allowed(req.mode, policy.secure_required) {
            return self.refuse_access(now, h.seq, &req, ResultCode::SecureModeRequired);
        }
        if req.mode == AccessMode::Secure && !policy.secure_offered {
            return self.refuse_access(now, h.seq, &req, ResultCode::Unsupported);
        }
        if req.mode == AccessMode::Normal
            && let Some(check) = self.access_check.0.as_mut()
            && let Err(result) = check(h.agv_id)
        {
            return self.refuse_access(now, h.seq, &req, result);
        }
        let profile = match req.profile {
            SecureProfile::Fast if policy.allow_fast => SecureProfile::Fast,
            SecureProfile::Gcm if policy.allow_fast => SecureProfile::Gcm,
            _ => SecureProfile::Guide,
        };
        let mut resp = AccessResponse {
            request_seq: h.seq,
            result: ResultCode::Ok,
            mode: req.mode,
            profile,
            version: PROTOCOL_VERSION,
            session_id: self.session_id,
            server_time_ms: now,
            key_exchange: None,
        };
        if req.mode == AccessMode::Normal {
            if self.link.send(now, &resp.into(), Flags::RESPONSE).is_err() {
                return self.finish(
                    now,
                    CloseReason::ProtocolViolation,
                    CloseCause::ProtocolViolation,
                );
            }
            self.state = State::AwaitRegistration;
            self.events.push_back(RcsEvent::AccessGranted {
                agv_id: h.agv_id,
                mode: AccessMode::Normal,
                profile,
            });
            return;
        }
        let init = req.key_exchange.as_ref().expect("checked by the decoder");
        let mut bytes = bytes::BytesMut::new();
        crate::frame::signed_bytes(&mut bytes, &h, frame.body);
        let verified = h.flags.contains(Flags::SIGNED)
            && self
                .crypto
                .verify_request(h.agv_id, init, &[&bytes], frame.auth);
        let reply = if verified {
            self.crypto.respond(init)
        } else {
            None
        };
        let Some(reply) = reply else {
            return self.refuse_access(now, h.seq, &req, ResultCode::AuthenticationFailed);
        };
        resp.key_exchange = Some(reply);
        self.transcript.request = frame.body.to_vec();
        let crypto = &self.crypto;
        match self
            .link
            .send_signed(now, &resp.into(), Flags::RESPONSE, |signed| {
                crypto.sign(&[signed])
            }) {
            Ok((response_seq, body)) => {
                self.transcript.response = body;
                self.state = State::AwaitConfirm {
                    response_seq,
                    profile,
                };
            }
            Err(_) => self.finish(
                now,
                CloseReason::ProtocolViolation,
                CloseCause::ProtocolViolation,
            ),
        }
    }

    /// Handles the passing of time: liveness, retransmissions, handshake timeout.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.is_closed() {
            return;
        }
        if now.saturating_sub(self.link.last_rx) >= self.link.config.link_timeout_ms {
            self.events.push_back(RcsEvent::LinkLost);
            self.finish(now, CloseReason::LivenessTimeout, CloseCause::LinkTimeout);
            return;
        }
        if !self.is_established()
            && now.saturating_sub(self.accepted_at) >= self.link.config.handshake_timeout_ms
        {
            self.finish(
                now,
                CloseReason::LivenessTimeout,
                CloseCause::HandshakeTimeout,
            );
            return;
        }
        if self.link.needs_rekey(now) {
            self.finish(
                now,
                CloseReason::Rekey,
                CloseCause::Local(CloseReason::Rekey),
            );
            return;
        }
        for (seq, message_type) in self.link.retransmit(now) {
            self.events
                .push_back(RcsEvent::Unanswered { seq, message_type });
        }
    }

    // --- output

    /// The next frame to write to the connection.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.link.poll_transmit()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<RcsEvent> {
        if let Some(d) = self.deferred {
            if d.before == 0 {
                self.deferred = None;
                if let Some(message) = self.link.take_message() {
                    return Some(RcsEvent::Message {
                        seq: d.seq,
                        ack_requested: d.ack_requested,
                        message,
                    });
                }
            } else {
                let event = super::pop_bounded(&mut self.events);
                if event.is_some() {
                    self.deferred = Some(Deferred {
                        before: d.before - 1,
                        ..d
                    });
                }
                return event;
            }
        }
        super::pop_bounded(&mut self.events)
    }

    /// The next event when it is a message still where it was decoded (a status report from
    /// an established AGV, say), lent instead of moved out (a message is a few hundred bytes,
    /// each move a copy): its sequence number, whether the AGV asked for an answer, and the
    /// message. [`RcsSession::consume_message`] then drops that event and keeps the message's
    /// capacity for the next frame of its type (as [`RcsSession::recycle`] would); without it,
    /// `poll_event` hands the same message out as an [`RcsEvent::Message`]. `None` when the
    /// next event is another one, or there is none: `poll_event` takes it.
    pub fn peek_message(&mut self) -> Option<(u32, bool, &mut Message)> {
        match self.deferred {
            Some(d) if d.before == 0 => {
                let message = self.link.message_mut()?;
                Some((d.seq, d.ack_requested, message))
            }
            _ => None,
        }
    }

    /// Drops the event [`RcsSession::peek_message`] lent, keeping its message for decoding the
    /// next frame of its type into. Does nothing when the next event is not such a message.
    pub fn consume_message(&mut self) {
        if let Some(d) = self.deferred
            && d.before == 0
        {
            self.deferred = None;
            self.link.consume_message();
        }
    }

    /// Gives back a message the application is done with (a report it has replaced, say):
    /// the next frame of the same type is decoded into it, reusing the heap capacity of its
    /// strings and lists, so a peer streaming reports costs no allocation per frame. Optional;
    /// the latest message given back is kept, one at a time.
    pub fn recycle(&mut self, message: Message) {
        self.link.recycle(message);
    }

    /// When `handle_timeout` must be called next (UTC ms), or `None` once closed.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.is_closed() {
            return None;
        }
        let mut t = self.link.last_rx + self.link.config.link_timeout_ms;
        if !self.is_established() {
            t = t.min(self.accepted_at + self.link.config.handshake_timeout_ms);
        }
        Some(self.link.next_deadline().map_or(t, |d| d.min(t)))
    }

    fn finish(&mut self, now: u64, reason: CloseReason, cause: CloseCause) {
        if self.is_closed() {
            return;
        }
        self.link.close(now, reason);
        self.state = State::Closed;
        self.events.push_back(RcsEvent::Closed(cause));
    }

    /// Ends the session with `close` (its reason and detail).
    fn finish_with(&mut self, now: u64, close: Close) {
        let reason = close.reason;
        self.link.close_with(now, close);
        self.state = State::Closed;
        self.events
            .push_back(RcsEvent::Closed(CloseCause::Local(reason)));
    }
}

/// The whole frame with which a standby RCS instance without a session refuses an AGV
/// (docs/protocol.md 4.4): `Close` (`NotActive`) naming `active` (or none), sequence number 1,
/// for the AGV `agv_id` (the header's AGV id of the AGV's first frame, its access request: an
/// AGV drops frames naming another AGV). Write it, then close the connection. A server that
/// runs an [`RcsSession`] per connection calls [`RcsSession::refuse_not_active`] instead.
pub fn not_active_frame(
    agv_id: u32,
    now: u64,
    active: Option<&RcsAddress>,
) -> Result<Bytes, EncodeError> {
    let message = Message::Close(Close::not_active(active));
    let header = crate::frame::Header::new(MessageType::CLOSE, Flags::NONE, 1, agv_id, now);
    let mut out = bytes::BytesMut::new();
    crate::frame::encode_message(
        &mut out,
        header,
        &message,
        crate::frame::DEFAULT_MAX_FRAME_LEN,
    )?;
    Ok(out.freeze())
}

impl<K: RcsCrypto> super::Endpoint for RcsSession<K> {
    type Channel = K::Channel;
    fn link(&mut self) -> &mut Link<K::Channel> {
        &mut self.link
    }
    fn closed(&self) -> bool {
        self.is_closed()
    }
    fn on_message(&mut self, now: u64, frame: &crate::FrameRef<'_>) {
        // The common case (a status report, once registered) stays where it was decoded until
        // `poll_event` hands it out: a message is a few hundred bytes, each move a memcpy.
        if matches!(self.state, State::Established)
            && self.link.message().is_some_and(for_the_application)
        {
            self.deferred = Some(Deferred {
                before: self.events.len(),
                seq: frame.header.seq,
                ack_requested: frame.header.flags.contains(Flags::ACK_REQUESTED),
            });
        } else if let Some(message) = self.link.take_message() {
            self.handle_message(now, frame, message);
        }
    }
    fn settle(&mut self) {
        if let Some(d) = self.deferred.take()
            && let Some(message) = self.link.take_message()
        {
            let event = RcsEvent::Message {
                seq: d.seq,
                ack_requested: d.ack_requested,
                message,
            };
            self.events.insert(d.before, event);
        }
    }
    fn fail(&mut self, now: u64) {
        self.finish(
            now,
            CloseReason::ProtocolViolation,
            CloseCause::ProtocolViolation,
        );
    }
}

#[cfg(test)]
mod tests;
