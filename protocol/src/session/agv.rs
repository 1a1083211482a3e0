//! The AGV end of a session.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::link::Link;
use super::{AgvCrypto, AgvEvent, CloseCause, SessionConfig, SessionError, Transcript};
use crate::address::RcsAddress;
use crate::frame::{Flags, PROTOCOL_VERSION};
use crate::message::{
    AccessConfirm, AccessMode, AccessRequest, Ack, Heartbeat, Message, MessageType,
    RegisterRequest, SecureProfile,
};
use crate::types::{CloseReason, ResultCode};

/// The status reports that asked the RCS for an answer (docs/protocol.md 4.1): an AGV that
/// has heard nothing for three quarters of a heartbeat period asks on its next report, so an
/// AGV streaming reports hears the RCS before its heartbeat would be due and sends none. An
/// RCS that leaves [`Questions::GIVE_UP`] questions in a row unanswered is asked no more in the
/// session: the heartbeats, whose timer never changed, carry the link as before.
#[derive(Debug, Default)]
struct Questions {
    /// The latest questions' sequence numbers (their Acks are the session's own).
    recent: [u32; 4],
    /// Where the next one goes in `recent`.
    next: usize,
    /// When the last one went out.
    last: u64,
    /// Whether the last one is still unanswered.
    awaiting: bool,
    /// Questions in a row that went unanswered.
    missed: u8,
}

impl Questions {
    /// Unanswered questions in a row after which the session asks no more.
    const GIVE_UP: u8 = 3;

    /// Whether a report sent at `now` asks, given the heartbeat period and when the AGV last
    /// heard the RCS; if so, it counts as sent (its sequence number follows in [`Self::sent`]).
    fn ask(&mut self, now: u64, period: u64, last_rx: u64) -> bool {
        let quiet = period - period / 4;
        if self.missed >= Self::GIVE_UP || now < (last_rx + quiet).max(self.last + quiet) {
            return false;
        }
        if self.awaiting {
            self.missed += 1;
            self.awaiting = false;
            if self.missed >= Self::GIVE_UP {
                return false;
            }
        }
        true
    }

    /// The report that asked went out as `seq` at `now`.
    fn sent(&mut self, now: u64, seq: u32) {
        self.recent[self.next] = seq;
        self.next = (self.next + 1) % self.recent.len();
        self.last = now;
        self.awaiting = true;
    }

    /// Whether `ack` answers a question (then it is taken: the RCS answers).
    fn answered(&mut self, ack: &Ack) -> bool {
        let ours = ack.request_type == MessageType::STATUS_REPORT
            && ack.request_seq != 0
            && self.recent.contains(&ack.request_seq);
        if ours {
            self.awaiting = false;
            self.missed = 0;
        }
        ours
    }
}

#[derive(Debug)]
enum State {
    Idle,
    AwaitAccess { request_seq: u32 },
    AwaitRegistration { request_seq: u32 },
    Established,
    Closed,
}

/// The AGV end of a session (see the [module docs](super) for the driving contract).
#[derive(Debug)]
pub struct AgvSession<K: AgvCrypto> {
    link: Link<K::Channel>,
    crypto: Option<K>,
    mode: AccessMode,
    profile: SecureProfile,
    registration: RegisterRequest,
    state: State,
    transcript: Transcript,
    connected_at: u64,
    /// When the last Heartbeat went out.
    last_heartbeat: u64,
    /// How a streaming AGV hears the RCS without heartbeats (docs/protocol.md 4.1).
    questions: Questions,
    events: VecDeque<AgvEvent>,
    rcs_addresses: Vec<RcsAddress>,
    redirect: Option<RcsAddress>,
}

impl<K: AgvCrypto> AgvSession<K> {
    /// A session for AGV `agv_id` that will ask for `mode` (secure needs `crypto`) and
    /// `profile`, and register with `registration`.
    pub fn new(
        config: SessionConfig,
        agv_id: u32,
        mode: AccessMode,
        profile: SecureProfile,
        crypto: Option<K>,
        registration: RegisterRequest,
        now: u64,
    ) -> Self {
        Self {
            link: Link::new(config, agv_id, now),
            crypto,
            mode,
            profile,
            registration,
            state: State::Idle,
            transcript: Transcript::default(),
            connected_at: now,
            last_heartbeat: now,
            questions: Questions::default(),
            events: VecDeque::new(),
            rcs_addresses: Vec::new(),
            redirect: None,
        }
    }

    // --- getters

    /// Whether access, registration and configuration are done.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    /// Whether the session ended (flush the transmits, then close the connection).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The RCS addresses of the latest configuration in this session that carried them, in
    /// order of preference (empty: none did; the AGV keeps the list it had). The driver keeps
    /// them across sessions: they say where to go when this link is lost.
    pub fn rcs_addresses(&self) -> &[RcsAddress] {
        &self.rcs_addresses
    }

    /// Where a standby RCS sent this AGV: the active instance named by its `NotActive` close
    /// (`None` when the session did not end that way, or the standby knew no active one).
    pub fn redirect(&self) -> Option<&RcsAddress> {
        self.redirect.as_ref()
    }

    // --- commands

    /// Starts the session: queues the access request.
    pub fn connect(&mut self, now: u64) -> Result<(), SessionError> {
        if !matches!(self.state, State::Idle) {
            return Err(SessionError::NotEstablished);
        }
        self.connected_at = now;
        let mut request = AccessRequest {
            mode: self.mode,
            profile: self.profile,
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            key_exchange: None,
        };
        let seq = match (self.mode, self.crypto.as_mut()) {
            (AccessMode::Secure, Some(crypto)) => {
                request.key_exchange = Some(crypto.start());
                let crypto = self.crypto.as_ref().expect("present");
                let (seq, body) = self.link.send_signed(
                    now,
                    &request.into(),
                    Flags::ACK_REQUESTED,
                    |signed| crypto.sign(&[signed]),
                )?;
                self.transcript.request = body;
                seq
            }
            (AccessMode::Secure, None) => return Err(SessionError::NotEstablished),
            (AccessMode::Normal, _) => {
                self.link.send(now, &request.into(), Flags::ACK_REQUESTED)?
            }
        };
        self.link.answered(seq);
        self.state = State::AwaitAccess { request_seq: seq };
        Ok(())
    }

    /// Sends a message (status report, progress, a request such as a SpaceRequest). Requests
    /// that need an answer go with `ack_requested` and are resent until answered (a
    /// StatusReport never is: the next one replaces it).
    ///
    /// A StatusReport sent when the AGV has heard nothing from the RCS for three quarters of a
    /// heartbeat period asks for an answer by itself (ACK_REQUESTED): the RCS's Ack, which the
    /// session takes (no event), is what the AGV hears, so an AGV streaming reports sends no
    /// Heartbeat (docs/protocol.md 4.1).
    pub fn send(
        &mut self,
        now: u64,
        message: Message,
        ack_requested: bool,
    ) -> Result<u32, SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        let question = !ack_requested
            && matches!(message, Message::StatusReport(_))
            && self
                .questions
                .ask(now, self.link.config.heartbeat_period_ms, self.link.last_rx);
        let flags = if ack_requested || question {
            Flags::ACK_REQUESTED
        } else {
            Flags::NONE
        };
        let seq = self.link.send(now, &message, flags)?;
        if question {
            self.questions.sent(now, seq);
        }
        Ok(seq)
    }

    /// Answers command `request_seq` of type `request_type` with an Ack and `result`.
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

    /// Sends a response message (its `request_seq` names the command it answers).
    pub fn respond(&mut self, now: u64, message: Message) -> Result<(), SessionError> {
        if matches!(self.state, State::Idle | State::Closed) {
            return Err(SessionError::NotEstablished);
        }
        self.link.send(now, &message, Flags::RESPONSE).map(|_| ())
    }

    /// Closes the session with `reason`.
    pub fn close(&mut self, now: u64, reason: CloseReason) {
        self.finish(now, reason, CloseCause::Local(reason));
    }

    // --- input

    /// Handles bytes received from the RCS.
    pub fn handle_input(&mut self, now: u64, bytes: &[u8]) {
        super::drive_input(self, now, bytes);
    }

    fn handle_message(&mut self, now: u64, frame: &crate::FrameRef<'_>, message: Message) {
        let seq = frame.header.seq;
        match (&self.state, message) {
            (State::AwaitAccess { request_seq }, Message::AccessResponse(resp))
                if resp.request_seq == *request_seq =>
            {
                self.on_access_response(now, frame, resp)
            }
            // A close is taken in any state: a standby RCS answers the access request with one.
            (_, Message::Close(close)) => {
                self.link.clear();
                self.state = State::Closed;
                if close.reason == CloseReason::NotActive {
                    self.redirect = close.active_address();
                    self.events.push_back(AgvEvent::Redirected {
                        active: self.redirect.clone(),
                    });
                }
                self.events
                    .push_back(AgvEvent::Closed(CloseCause::Peer(close.reason)));
            }
            (State::AwaitAccess { .. }, _) => {}
            // The answer may name any transmission of the request (it is resent until answered).
            (State::AwaitRegistration { request_seq }, Message::RegisterResponse(resp))
                if self.link.command(resp.request_seq) == *request_seq =>
            {
                self.link.answered(resp.request_seq);
                if resp.result == ResultCode::Ok {
                    self.state = State::Established;
                    self.events.push_back(AgvEvent::Registered);
                } else {
                    self.finish(
                        now,
                        CloseReason::AccessDenied,
                        CloseCause::Refused(resp.result),
                    );
                }
            }
            (_, Message::ConfigPush(config)) => {
                self.link.config.heartbeat_period_ms = u64::from(config.heartbeat_period_ms);
                self.link.config.link_timeout_ms = u64::from(config.link_timeout_ms);
                let _ = self.ack(now, seq, MessageType::CONFIG_PUSH, ResultCode::Ok);
                // the decoder checked the extension: a push that got here has a valid list
                let addresses = config.rcs_addresses().unwrap_or_default();
                self.events.push_back(AgvEvent::Configured(config));
                if !addresses.is_empty() {
                    self.rcs_addresses.clone_from(&addresses);
                    self.events.push_back(AgvEvent::RcsAddresses(addresses));
                }
            }
            (_, Message::HeartbeatAck(_)) => {}
            // The answer to a report that asked to hear the RCS: like a HeartbeatAck.
            (_, Message::Ack(ack)) if self.questions.answered(&ack) => {}
            (_, Message::ErrorReport(e)) => {
                self.link.answered(e.request_seq);
                self.events.push_back(AgvEvent::PeerError {
                    code: e.code,
                    request_seq: e.request_seq,
                })
            }
            (_, message) => match message.request_seq() {
                Some(request_seq) => {
                    let request_seq = self.link.answered(request_seq);
                    self.events.push_back(AgvEvent::Response {
                        request_seq,
                        message,
                    })
                }
                None => self.events.push_back(AgvEvent::Command { seq, message }),
            },
        }
    }

    fn on_access_response(
        &mut self,
        now: u64,
        frame: &crate::FrameRef<'_>,
        resp: crate::message::AccessResponse,
    ) {
        if resp.result != ResultCode::Ok {
            self.finish(
                now,
                CloseReason::AccessDenied,
                CloseCause::Refused(resp.result),
            );
            return;
        }
        if self.mode == AccessMode::Secure {
            // Downgrade rule: only a signed secure-mode answer with a key exchange is accepted.
            let signed = frame.header.flags.contains(Flags::SIGNED);
            let mut bytes = bytes::BytesMut::new();
            crate::frame::signed_bytes(&mut bytes, &frame.header, frame.body);
            let crypto = self.crypto.as_mut().expect("secure mode has crypto");
            let genuine = signed && crypto.verify_rcs(&[&bytes], frame.auth);
            let (Some(reply), true, AccessMode::Secure) =
                (resp.key_exchange.as_ref(), genuine, resp.mode)
            else {
                self.finish(now, CloseReason::AccessDenied, CloseCause::Downgrade);
                return;
            };
            self.transcript.response = frame.body.to_vec();
            let transcript = [&self.transcript.request[..], &self.transcript.response[..]];
            let Some((confirm, channel)) = crypto.finish(reply, &transcript) else {
                self.finish(
                    now,
                    CloseReason::AccessDenied,
                    CloseCause::ProtocolViolation,
                );
                return;
            };
            let confirm = AccessConfirm {
                request_seq: frame.header.seq,
                confirm,
            };
            let crypto = self.crypto.as_ref().expect("present");
            if self
                .link
                .send_signed(now, &confirm.into(), Flags::RESPONSE, |signed| {
                    crypto.sign(&[signed])
                })
                .is_err()
            {
                self.finish(
                    now,
                    CloseReason::ProtocolViolation,
                    CloseCause::ProtocolViolation,
                );
                return;
            }
            self.link.secure(channel, resp.profile, now);
        } else if resp.mode != AccessMode::Normal {
            self.finish(
                now,
                CloseReason::AccessDenied,
                CloseCause::ProtocolViolation,
            );
            return;
        }
        self.events.push_back(AgvEvent::Connected {
            mode: resp.mode,
            profile: resp.profile,
            session_id: resp.session_id,
            server_time_ms: resp.server_time_ms,
        });
        match self
            .link
            .send(now, &self.registration.clone().into(), Flags::ACK_REQUESTED)
        {
            Ok(request_seq) => self.state = State::AwaitRegistration { request_seq },
            Err(_) => self.finish(
                now,
                CloseReason::ProtocolViolation,
                CloseCause::ProtocolViolation,
            ),
        }
    }

    /// Handles the passing of time: heartbeats, liveness, retransmissions, handshake timeout.
    pub fn handle_timeout(&mut self, now: u64) {
        if matches!(self.state, State::Idle | State::Closed) {
            return;
        }
        if now.saturating_sub(self.link.last_rx) >= self.link.config.link_timeout_ms {
            self.events.push_back(AgvEvent::LinkLost);
            self.finish(now, CloseReason::LivenessTimeout, CloseCause::LinkTimeout);
            return;
        }
        if !self.is_established() {
            if now.saturating_sub(self.connected_at) >= self.link.config.handshake_timeout_ms {
                self.finish(
                    now,
                    CloseReason::LivenessTimeout,
                    CloseCause::HandshakeTimeout,
                );
                return;
            }
        } else if now >= self.next_heartbeat() {
            // Sent when the AGV has sent nothing, or heard nothing, for a heartbeat period: an
            // AGV streaming status reports hears the RCS through the reports that ask
            // (`Questions`) before it is due, and sends none.
            self.last_heartbeat = now;
            let _ = self
                .link
                .send(now, &Heartbeat {}.into(), Flags::ACK_REQUESTED);
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
                .push_back(AgvEvent::Unanswered { seq, message_type });
        }
    }

    /// When the next Heartbeat is due: a heartbeat period after the last frame sent or the last
    /// frame heard, whichever is earlier, but not within a period of the last Heartbeat.
    fn next_heartbeat(&self) -> u64 {
        let period = self.link.config.heartbeat_period_ms;
        let quiet = self.link.last_tx.min(self.link.last_rx) + period;
        quiet.max(self.last_heartbeat + period)
    }

    // --- output

    /// The next frame to write to the connection.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.link.poll_transmit()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<AgvEvent> {
        super::pop_bounded(&mut self.events)
    }

    /// Gives back a message the application is done with (a report it has replaced, say):
    /// the next frame of the same type is decoded into it, reusing the heap capacity of its
    /// strings and lists, so a peer streaming reports costs no allocation per frame. Optional;
    /// the latest message given back is kept, one at a time.
    pub fn recycle(&mut self, message: Message) {
        self.link.recycle(message);
    }

    /// When `handle_timeout` must be called next (UTC ms), or `None` when idle or closed.
    pub fn poll_timeout(&self) -> Option<u64> {
        if matches!(self.state, State::Idle | State::Closed) {
            return None;
        }
        let mut t = self.link.last_rx + self.link.config.link_timeout_ms;
        if self.is_established() {
            t = t.min(self.next_heartbeat());
        } else {
            t = t.min(self.connected_at + self.link.config.handshake_timeout_ms);
        }
        Some(self.link.next_deadline().map_or(t, |d| d.min(t)))
    }

    fn finish(&mut self, now: u64, reason: CloseReason, cause: CloseCause) {
        if self.is_closed() {
            return;
        }
        self.link.close(now, reason);
        self.state = State::Closed;
        self.events.push_back(AgvEvent::Closed(cause));
    }
}

impl<K: AgvCrypto> super::Endpoint for AgvSession<K> {
    type Channel = K::Channel;
    fn link(&mut self) -> &mut Link<K::Channel> {
        &mut self.link
    }
    fn closed(&self) -> bool {
        self.is_closed()
    }
    fn on_message(&mut self, now: u64, frame: &crate::FrameRef<'_>) {
        if let Some(message) = self.link.take_message() {
            self.handle_message(now, frame, message);
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
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::frame::{FrameDecoder, Header, encode_message};
    use crate::message::{AccessResponse, RegisterResponse};
    use crate::session::NoCrypto;

    const T0: u64 = 1_700_000_000_000;
    const AGV: u32 = 7;

    fn from_rcs(message: Message, seq: u32, now: u64) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        let header = Header::new(message.message_type(), Flags::RESPONSE, seq, AGV, now);
        encode_message(&mut out, header, &message, 65536).unwrap();
        out.to_vec()
    }

    fn registration() -> RegisterRequest {
        use crate::message::{BatteryInfo, Footprint, SpeedLimits};
        RegisterRequest {
            agv_type: crate::types::AgvType::Jacking,
            vendor: String::from("Acme"),
            model: String::from("J1"),
            serial: String::from("S1"),
            firmware: String::from("1.0"),
            footprint: Footprint {
                front: 0.5,
                rear: 0.5,
                left: 0.4,
                right: 0.4,
                height: 0.3,
            },
            speeds: SpeedLimits {
                forward: 1.5,
                reverse: 0.5,
                lateral: 0.0,
                angular: 1.0,
                acceleration: 0.5,
                deceleration: 1.0,
            },
            load_capacity_kg: 500.0,
            navigation_modes: Vec::new(),
            maps: Vec::new(),
            actuators: Vec::new(),
            battery: BatteryInfo {
                capacity_wh: 1000.0,
                nominal_voltage: 48.0,
            },
            extensions: Vec::new(),
        }
    }

    /// The sequence numbers of the RegisterRequests the AGV sent.
    fn registrations(s: &mut AgvSession<NoCrypto>) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(bytes) = s.poll_transmit() {
            let mut buf = bytes::BytesMut::from(&bytes[..]);
            let f = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
            if let Message::RegisterRequest(_) = f.message().unwrap() {
                out.push(f.header.seq);
            }
        }
        out
    }

    /// A session whose RegisterRequest went out twice (the first got no answer in time).
    fn resent_registration() -> (AgvSession<NoCrypto>, [u32; 2]) {
        let mut s = AgvSession::new(
            SessionConfig::default(),
            AGV,
            AccessMode::Normal,
            SecureProfile::Guide,
            None::<NoCrypto>,
            registration(),
            T0,
        );
        s.connect(T0).unwrap();
        let response = AccessResponse {
            request_seq: 1,
            result: ResultCode::Ok,
            mode: AccessMode::Normal,
            profile: SecureProfile::Guide,
            version: PROTOCOL_VERSION,
            session_id: 1,
            server_time_ms: T0,
            key_exchange: None,
        };
        s.handle_input(T0, &from_rcs(response.into(), 1, T0));
        let first = registrations(&mut s);
        let later = T0 + SessionConfig::default().command_timeout_ms;
        s.handle_timeout(later);
        let second = registrations(&mut s);
        assert_eq!(first.len(), 1);
        assert_eq!(second.len(), 1);
        assert_ne!(first[0], second[0]);
        (s, [first[0], second[0]])
    }

    fn registered(s: &mut AgvSession<NoCrypto>, answering: u32, now: u64) -> bool {
        let response = RegisterResponse {
            request_seq: answering,
            result: ResultCode::Ok,
            config_version: 1,
            server_time_ms: now,
        };
        s.handle_input(now, &from_rcs(response.into(), 3, now));
        core::iter::from_fn(|| s.poll_event()).any(|e| e == AgvEvent::Registered)
    }

    #[test]
    fn an_answer_to_a_resent_registration_registers() {
        // Found by fuzzing (protocol/fuzz/regressions/secure_handshake): the AGV compared the
        // answer with the first transmission only and never registered.
        let (mut s, [_, resent]) = resent_registration();
        let now = T0 + 2500;
        assert!(registered(&mut s, resent, now));
        assert!(s.is_established());
        // nothing is resent any more
        s.handle_timeout(now + 10 * SessionConfig::default().command_timeout_ms / 4);
        assert!(registrations(&mut s).is_empty());
    }

    #[test]
    fn a_refusal_of_one_transmission_does_not_lose_the_registration() {
        // Found by fuzzing (protocol/fuzz/regressions/secure_handshake): the RCS, registering
        // the AGV, refused its other transmission with `NotRegistered`; that answer retired the
        // request, after which the RegisterResponse naming the other one was not recognised.
        let (mut s, [first, resent]) = resent_registration();
        let now = T0 + 2500;
        let refusal = crate::message::Ack {
            request_seq: first,
            request_type: MessageType::REGISTER_REQUEST,
            result: ResultCode::NotRegistered,
            detail: String::new(),
        };
        s.handle_input(now, &from_rcs(refusal.into(), 2, now));
        assert!(registered(&mut s, resent, now));
        assert!(s.is_established());
    }

    #[test]
    fn a_late_answer_to_the_first_registration_registers_and_ends_the_resending() {
        let (mut s, [first, _]) = resent_registration();
        let now = T0 + 2500;
        assert!(registered(&mut s, first, now));
        s.handle_timeout(now + SessionConfig::default().command_timeout_ms);
        assert!(registrations(&mut s).is_empty(), "still resending");
        assert!(
            !core::iter::from_fn(|| s.poll_event())
                .any(|e| matches!(e, AgvEvent::Unanswered { .. }))
        );
    }
}
