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
    /// Grant the fast profile when asked (otherwise grant the guide profile).
    pub allow_fast: bool,
}

impl Default for RcsPolicy {
    /// Both modes, both profiles.
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
        super::pop_bounded(&mut self.events)
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
    fn on_message(&mut self, now: u64, frame: &crate::FrameRef<'_>, message: Message) {
        self.handle_message(now, frame, message);
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
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::frame::{FrameDecoder, Header, encode_message};
    use crate::message::Heartbeat;
    use crate::session::NoCrypto;

    const T0: u64 = 1_700_000_000_000;

    fn frame(message: &Message, seq: u32, agv_id: u32) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        let header = Header::new(
            message.message_type(),
            Flags::ACK_REQUESTED,
            seq,
            agv_id,
            T0,
        );
        encode_message(&mut out, header, message, 65536).unwrap();
        out.to_vec()
    }

    fn access(seq: u32, agv_id: u32) -> Vec<u8> {
        let request = AccessRequest {
            mode: AccessMode::Normal,
            profile: SecureProfile::Guide,
            min_version: 1,
            max_version: 1,
            key_exchange: None,
        };
        frame(&request.into(), seq, agv_id)
    }

    fn session(config: SessionConfig) -> RcsSession<NoCrypto> {
        RcsSession::new(
            config,
            RcsPolicy::default(),
            NoCrypto,
            ConfigPush {
                config_version: 1,
                status_period_ms: 100,
                heartbeat_period_ms: 1000,
                link_timeout_ms: 5000,
                operation_report_period_s: 60,
                alarms: crate::message::AlarmParams {
                    battery_low_pct: 20.0,
                    battery_critical_pct: 10.0,
                    min_localisation_quality: 50,
                    max_path_deviation: 0.2,
                },
                max_linear_speed: 2.0,
                max_angular_speed: 1.0,
                extensions: Vec::new(),
            },
            9,
            T0,
        )
    }

    fn sent(s: &mut RcsSession<NoCrypto>) -> Vec<Message> {
        let mut decoder = FrameDecoder::default();
        let mut out = Vec::new();
        while let Some(bytes) = s.poll_transmit() {
            let mut buf = bytes::BytesMut::from(&bytes[..]);
            while let Ok(Some(f)) = decoder.decode(&mut buf) {
                out.push(f.message().unwrap());
            }
        }
        out
    }

    #[test]
    fn frames_over_the_rate_are_refused_then_the_session_closes() {
        let config = SessionConfig {
            max_frames_per_sec: 10,
            frame_burst: 4,
            ..SessionConfig::default()
        };
        let mut s = session(config.clone());
        let mut input = access(1, 7);
        for seq in 2..=20 {
            input.extend(frame(&Heartbeat {}.into(), seq, 7));
        }
        s.handle_input(T0, &input);
        let out = sent(&mut s);
        let answered = out
            .iter()
            .filter(|m| matches!(m, Message::HeartbeatAck(_)))
            .count();
        // the burst: the access request and three heartbeats
        assert_eq!(answered, 3, "{out:?}");
        let limited: Vec<u32> = out
            .iter()
            .filter_map(|m| match m {
                Message::ErrorReport(e) if e.code == ErrorCode::RateLimited => Some(e.request_seq),
                _ => None,
            })
            .collect();
        assert_eq!(limited, [5, 6, 7, 8, 9]);
        assert!(s.is_closed());
        assert_eq!(s.rate_limited(), 5);
        assert!(
            matches!(out.last(), Some(Message::Close(c)) if c.reason == CloseReason::ProtocolViolation)
        );

        // at the rate, nothing is refused
        let mut s = session(config);
        s.handle_input(T0, &access(1, 7));
        for seq in 2..=50u32 {
            s.handle_input(
                T0 + u64::from(seq) * 100,
                &frame(&Heartbeat {}.into(), seq, 7),
            );
        }
        assert_eq!(s.rate_limited(), 0);
        assert!(!s.is_closed());
    }

    #[test]
    fn the_access_check_refuses_in_the_access_response_and_a_second_request_closes() {
        let mut s = session(SessionConfig::default());
        s.set_access_check(|agv_id| {
            if agv_id == 7 {
                Err(ResultCode::Rejected)
            } else {
                Ok(())
            }
        });
        s.handle_input(T0, &access(1, 7));
        let out = sent(&mut s);
        assert!(
            matches!(&out[0], Message::AccessResponse(r) if r.result == ResultCode::Rejected && r.session_id == 0),
            "{out:?}"
        );
        assert!(matches!(&out[1], Message::Close(c) if c.reason == CloseReason::AccessDenied));
        assert!(s.is_closed());

        let mut s = session(SessionConfig::default());
        s.set_access_check(|_| Ok(()));
        s.handle_input(T0, &access(1, 8));
        assert!(
            matches!(&sent(&mut s)[0], Message::AccessResponse(r) if r.result == ResultCode::Ok)
        );
        s.handle_input(T0, &access(2, 8));
        let out = sent(&mut s);
        assert!(
            matches!(&out[0], Message::ErrorReport(e) if e.code == ErrorCode::UnexpectedMessage && e.request_seq == 2),
            "{out:?}"
        );
        assert!(matches!(&out[1], Message::Close(c) if c.reason == CloseReason::ProtocolViolation));
        assert!(s.is_closed());
    }
}
