//! `secure_handshake`: both ends of a secure session with the real cryptography (`crypto`: SM2
//! signatures and key exchange, SM4-CTR, HMAC-SM3) and fixed test keys, joined by a network the
//! fuzzer runs: it delivers, drops, replays, splits and tampers with frames, injects its own
//! bytes, lets time pass, and has either application send. The genuine frames carry valid
//! signatures, so the fuzzer gets through the handshake whenever it delivers them; what it
//! makes itself cannot be authenticated, and the oracles check that nothing it made is ever
//! taken for the peer's.
//!
//! The fuzzer may also alter one handshake value *before* it is signed (`R_A`, the key id,
//! `ID_A`, `R_B`, `S_B`, `ID_B`, `S_A`): a validly signed but wrong value must fail the key
//! exchange, never establish a session.
//!
//! Input: `[config, skew, tweak, tweak index, tweak xor]`, then operations (see
//! [`secure_handshake`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use crypto::session::{AgvHandshake, KeyStore, RcsHandshake, SessionCrypto};
use crypto::sign::{CachedVerifier, SigningKey};
use protocol::message::{
    AccessMode, Ack, KeyExchangeInit, KeyExchangeReply, Message, MessageType, SecureProfile,
    TaskControl, TaskOp,
};
use protocol::session::{
    AgvCrypto, AgvEvent, AgvSession, RcsCrypto, RcsEvent, RcsPolicy, RcsSession, SessionConfig,
};
use protocol::types::ResultCode;

use crate::Bytes;
use crate::sessions::{AGV, Reached, T0, config_push, registration, status};

/// The AGV's distinguishing identifier.
const AGV_ID: &[u8] = b"agv-1001@fuzz";
/// The RCS's distinguishing identifier.
const RCS_ID: &[u8] = b"rcs@fuzz";
/// Frames kept in flight per direction (older ones are lost).
const MAX_IN_FLIGHT: usize = 64;

/// A deterministic generator (SplitMix64) for the key exchange's ephemeral keys, seeded from
/// the input: a fuzz run must be reproducible. **Not random: for fuzzing only.**
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

impl TestRng {
    fn step(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl rand_core::TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.step() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.step())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}

/// The fixed test keys, made once (the verifiers' tables are the costly part).
pub(crate) struct Keys {
    pub(crate) agv: Arc<SigningKey>,
    pub(crate) rcs: Arc<SigningKey>,
    pub(crate) agv_verifier: Arc<CachedVerifier>,
    pub(crate) rcs_verifier: Arc<CachedVerifier>,
}

/// The fixed test keys.
pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = TestRng(1);
        let agv = SigningKey::generate(AGV_ID, &mut rng).expect("a key");
        let rcs = SigningKey::generate(RCS_ID, &mut rng).expect("a key");
        Keys {
            agv_verifier: Arc::new(CachedVerifier::new(agv.verifying_key().clone())),
            rcs_verifier: Arc::new(CachedVerifier::new(rcs.verifying_key().clone())),
            agv: Arc::new(agv),
            rcs: Arc::new(rcs),
        }
    })
}

/// The RCS's enrolled keys: the AGV's, or none.
struct Store(Option<Arc<CachedVerifier>>);

impl KeyStore for Store {
    fn lookup(&self, agv_id: u32, key_id: &[u8; 32]) -> Option<Arc<CachedVerifier>> {
        self.0
            .as_ref()
            .filter(|v| agv_id == AGV && *key_id == v.key().key_id())
            .cloned()
    }
}

/// A handshake value the fuzzer alters after it was computed and before it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tweak {
    None,
    /// The AGV's ephemeral point `R_A`.
    AgvEphemeral,
    /// The AGV's key id.
    KeyId,
    /// The AGV's identifier `ID_A`.
    AgvId,
    /// The RCS's ephemeral point `R_B`.
    RcsEphemeral,
    /// The RCS's confirmation `S_B`.
    RcsConfirm,
    /// The RCS's identifier `ID_B`.
    RcsId,
    /// The AGV's confirmation `S_A`.
    AgvConfirm,
}

/// Where and how the tweak flips bits.
#[derive(Debug, Clone, Copy)]
struct Alter {
    tweak: Tweak,
    index: usize,
    xor: u8,
}

impl Alter {
    fn apply(&self, what: Tweak, bytes: &mut [u8]) {
        if self.tweak == what && !bytes.is_empty() {
            bytes[self.index % bytes.len()] ^= self.xor;
        }
    }

    /// Whether the AGV must not get access: a value the AGV's side of the exchange checks was
    /// altered.
    fn breaks_agv(&self) -> bool {
        !matches!(self.tweak, Tweak::None | Tweak::AgvConfirm)
    }
}

/// The AGV's real handshake with the tweak applied.
struct FuzzAgv {
    inner: AgvHandshake<TestRng>,
    alter: Alter,
}

impl AgvCrypto for FuzzAgv {
    type Channel = SessionCrypto;

    fn start(&mut self) -> KeyExchangeInit {
        let mut init = self.inner.start();
        self.alter.apply(Tweak::AgvEphemeral, &mut init.ephemeral);
        self.alter.apply(Tweak::KeyId, &mut init.key_id);
        self.alter.apply(Tweak::AgvId, &mut init.id);
        init
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; 64] {
        self.inner.sign(parts)
    }

    fn verify_rcs(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        self.inner.verify_rcs(parts, sig)
    }

    fn finish(
        &mut self,
        reply: &KeyExchangeReply,
        transcript: &[&[u8]],
    ) -> Option<([u8; 32], SessionCrypto)> {
        let (mut confirm, channel) = self.inner.finish(reply, transcript)?;
        self.alter.apply(Tweak::AgvConfirm, &mut confirm);
        Some((confirm, channel))
    }
}

/// The RCS's real handshake with the tweak applied.
struct FuzzRcs {
    inner: RcsHandshake<Store, TestRng>,
    alter: Alter,
}

impl RcsCrypto for FuzzRcs {
    type Channel = SessionCrypto;

    fn verify_request(
        &mut self,
        agv_id: u32,
        init: &KeyExchangeInit,
        parts: &[&[u8]],
        sig: &[u8],
    ) -> bool {
        self.inner.verify_request(agv_id, init, parts, sig)
    }

    fn respond(&mut self, init: &KeyExchangeInit) -> Option<KeyExchangeReply> {
        let mut reply = self.inner.respond(init)?;
        self.alter.apply(Tweak::RcsEphemeral, &mut reply.ephemeral);
        self.alter.apply(Tweak::RcsConfirm, &mut reply.confirm);
        self.alter.apply(Tweak::RcsId, &mut reply.id);
        Some(reply)
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; 64] {
        self.inner.sign(parts)
    }

    fn verify_agv(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        self.inner.verify_agv(parts, sig)
    }

    fn confirm(&mut self, confirm: &[u8; 32], transcript: &[&[u8]]) -> Option<SessionCrypto> {
        self.inner.confirm(confirm, transcript)
    }
}

/// How far each end got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The AGV.
    pub agv: Reached,
    /// The RCS.
    pub rcs: Reached,
}

/// The two ends, the frames in flight and what each application sent.
struct Net {
    now: u64,
    skew_ms: i64,
    agv: AgvSession<FuzzAgv>,
    rcs: RcsSession<FuzzRcs>,
    agv_mode: AccessMode,
    /// The mode the RCS granted (a request the fuzzer injected may get normal mode).
    rcs_mode: Option<AccessMode>,
    policy: RcsPolicy,
    /// The AGV must not get access / the RCS must not grant it (a wrong key or value).
    agv_denied: bool,
    rcs_denied: bool,
    to_rcs: VecDeque<Vec<u8>>,
    to_agv: VecDeque<Vec<u8>>,
    last_to_rcs: Vec<u8>,
    last_to_agv: Vec<u8>,
    agv_sent: Vec<Message>,
    rcs_sent: Vec<Message>,
    /// Status reports sent without ACK_REQUESTED that the RCS received (never twice).
    once: Vec<u32>,
    counter: u32,
    outcome: Outcome,
}

impl Net {
    fn rcs_now(&self) -> u64 {
        self.now.saturating_add_signed(self.skew_ms)
    }

    fn queue(&mut self, to_agv: bool) -> &mut VecDeque<Vec<u8>> {
        if to_agv {
            &mut self.to_agv
        } else {
            &mut self.to_rcs
        }
    }

    fn deliver(&mut self, to_agv: bool, bytes: &[u8]) {
        if to_agv {
            self.last_to_agv = bytes.to_vec();
            self.agv.handle_input(self.now, bytes);
        } else {
            self.last_to_rcs = bytes.to_vec();
            let now = self.rcs_now();
            self.rcs.handle_input(now, bytes);
        }
    }

    fn deliver_front(&mut self, to_agv: bool) {
        if let Some(frame) = self.queue(to_agv).pop_front() {
            self.deliver(to_agv, &frame);
        }
    }

    /// Delivers everything in flight, both ways, until nothing is (a bounded number of rounds).
    fn deliver_all(&mut self) {
        for _ in 0..16 {
            if self.to_rcs.is_empty() && self.to_agv.is_empty() {
                break;
            }
            while !self.to_rcs.is_empty() {
                self.deliver_front(false);
            }
            while !self.to_agv.is_empty() {
                self.deliver_front(true);
            }
            self.pump();
        }
    }

    fn replay(&mut self, to_agv: bool) {
        let last = if to_agv {
            self.last_to_agv.clone()
        } else {
            self.last_to_rcs.clone()
        };
        self.deliver(to_agv, &last);
    }

    fn tamper(&mut self, to_agv: bool, at: u8, xor: u8) {
        if let Some(mut frame) = self.queue(to_agv).pop_front() {
            if !frame.is_empty() {
                let i = usize::from(at) * 7 % frame.len();
                frame[i] ^= xor;
            }
            self.deliver(to_agv, &frame);
        }
    }

    fn split(&mut self, to_agv: bool, at: u8) {
        if let Some(frame) = self.queue(to_agv).pop_front() {
            let (a, b) = frame.split_at(usize::from(at).min(frame.len()));
            self.deliver(to_agv, a);
            self.deliver(to_agv, b);
        }
    }

    /// The application at one end sends: the RCS a command, the AGV a status report (every
    /// other one with ACK_REQUESTED).
    fn app_send(&mut self, rcs: bool) {
        self.counter += 1;
        let n = self.counter;
        if rcs && self.rcs.is_established() {
            let command: Message = TaskControl {
                task_id: n,
                op: TaskOp::Pause,
            }
            .into();
            if self
                .rcs
                .send_command(self.rcs_now(), command.clone())
                .is_ok()
            {
                self.rcs_sent.push(command);
            }
        } else if !rcs && self.agv.is_established() {
            let report = status(n);
            if self.agv.send(self.now, report.clone(), n % 2 == 0).is_ok() {
                self.agv_sent.push(report);
            }
        }
    }

    /// What a driver does after any input: timeouts, events (with the applications' answers and
    /// the oracles), transmits.
    fn pump(&mut self) {
        if self.agv.poll_timeout().is_some_and(|t| t <= self.now) {
            self.agv.handle_timeout(self.now);
        }
        let rcs_now = self.rcs_now();
        if self.rcs.poll_timeout().is_some_and(|t| t <= rcs_now) {
            self.rcs.handle_timeout(rcs_now);
        }
        while let Some(e) = self.agv.poll_event() {
            self.agv_event(e);
        }
        while let Some(e) = self.rcs.poll_event() {
            self.rcs_event(e);
        }
        while let Some(frame) = self.agv.poll_transmit() {
            push_bounded(&mut self.to_rcs, frame.to_vec());
        }
        while let Some(frame) = self.rcs.poll_transmit() {
            push_bounded(&mut self.to_agv, frame.to_vec());
        }
        assert_eq!(self.outcome.agv.closed, self.agv.is_closed());
        assert_eq!(self.outcome.rcs.closed, self.rcs.is_closed());
    }

    fn agv_event(&mut self, e: AgvEvent) {
        let secure = self.agv_mode == AccessMode::Secure;
        let reached = &mut self.outcome.agv;
        assert!(!reached.closed, "AGV event after the close: {e:?}");
        match e {
            AgvEvent::Connected { mode, .. } => {
                assert!(!reached.access, "connected twice");
                assert_eq!(mode, self.agv_mode, "access granted in another mode");
                assert!(
                    !(secure && self.agv_denied),
                    "the AGV accepted a key exchange it should have refused"
                );
                reached.access = true;
            }
            AgvEvent::Registered => reached.registered = true,
            AgvEvent::Configured(config) => {
                assert!(!secure || config == config_push(), "forged configuration");
            }
            AgvEvent::Command { seq, message } => {
                assert!(
                    !secure || self.rcs_sent.contains(&message),
                    "forged command {message:?}"
                );
                reached.messages += 1;
                let ack: Message = Ack {
                    request_seq: seq,
                    request_type: message.message_type(),
                    result: ResultCode::Ok,
                    detail: String::new(),
                }
                .into();
                if self.agv.respond(self.now, ack.clone()).is_ok() {
                    self.agv_sent.push(ack);
                }
            }
            AgvEvent::Response { message, .. } => {
                let internal =
                    matches!(&message, Message::Ack(a) if a.result == ResultCode::NotRegistered);
                assert!(
                    !secure || internal || self.rcs_sent.contains(&message),
                    "forged response {message:?}"
                );
                reached.messages += 1;
            }
            AgvEvent::Closed(_) => reached.closed = true,
            _ => {}
        }
    }

    fn rcs_event(&mut self, e: RcsEvent) {
        let secure = self.rcs_mode == Some(AccessMode::Secure);
        let now = self.rcs_now();
        let reached = &mut self.outcome.rcs;
        assert!(!reached.closed, "RCS event after the close: {e:?}");
        match e {
            RcsEvent::AccessGranted { mode, .. } => {
                assert!(!reached.access, "access granted twice");
                assert!(
                    mode == AccessMode::Secure || !self.policy.secure_required,
                    "normal mode granted where secure mode is required"
                );
                assert!(
                    !(mode == AccessMode::Secure && self.rcs_denied),
                    "the RCS accepted a key exchange it should have refused"
                );
                reached.access = true;
                self.rcs_mode = Some(mode);
            }
            RcsEvent::RegistrationRequested(request) => {
                assert!(!secure || request == registration(), "forged registration");
                reached.registered = true;
                if let Err(e) = self.rcs.accept_registration(now, ResultCode::Ok) {
                    assert!(self.rcs.is_closed(), "{e}");
                }
            }
            RcsEvent::Message {
                seq,
                ack_requested,
                message,
            } => {
                // The AGV resends its registration until answered.
                let allowed = self.agv_sent.contains(&message) || message == registration().into();
                assert!(!secure || allowed, "forged message {message:?}");
                if let Message::StatusReport(r) = &message
                    && r.task_id % 2 == 1
                {
                    assert!(
                        !self.once.contains(&r.task_id),
                        "status {} twice",
                        r.task_id
                    );
                    self.once.push(r.task_id);
                }
                reached.messages += 1;
                if ack_requested {
                    let ack: Message = Ack {
                        request_seq: seq,
                        request_type: message.message_type(),
                        result: ResultCode::Ok,
                        detail: String::new(),
                    }
                    .into();
                    if self.rcs.respond(now, ack.clone()).is_ok() {
                        self.rcs_sent.push(ack);
                    }
                }
            }
            RcsEvent::Response { message, .. } => {
                // The AGV acknowledges the configuration itself.
                let internal = matches!(&message, Message::Ack(a) if a.request_type == MessageType::CONFIG_PUSH);
                assert!(
                    !secure || internal || self.agv_sent.contains(&message),
                    "forged response {message:?}"
                );
                reached.messages += 1;
            }
            RcsEvent::Closed(_) => reached.closed = true,
            _ => {}
        }
    }
}

fn push_bounded(queue: &mut VecDeque<Vec<u8>>, frame: Vec<u8>) {
    if queue.len() == MAX_IN_FLIGHT {
        queue.pop_front();
    }
    queue.push_back(frame);
}

/// `secure_handshake`. The header bytes pick:
///
/// - `config`: bit 0 the AGV asks for the fast profile; bit 1 the RCS allows it; bit 2 the RCS
///   requires secure mode; bit 3 the AGV asks for normal mode instead; bit 4 tiny key limits
///   (the rekey close); bit 5 the AGV's key is not enrolled; bit 6 the AGV holds the wrong RCS
///   key; bit 7 with bit 0: the gcm profile instead of the fast one;
/// - `skew`: the RCS clock's offset, signed, in seconds;
/// - `tweak` (low nibble; 8 and above: none), `tweak index`, `tweak xor`: the handshake value
///   altered before signing.
///
/// Then each operation byte: bit 0 the direction (1: to the AGV), bits 1.. modulo 9 the
/// operation: deliver the next frame; drop it; deliver the last delivered bytes again; deliver
/// the next frame with a byte flipped (`[at, xor]` follow); inject bytes (`[len, bytes]`
/// follow); let time pass (`[step]` follows, 50 ms units); the application sends (the RCS a
/// command, the AGV a status report); deliver everything in flight both ways; deliver the next
/// frame in two pieces (`[at]` follows).
///
/// Nothing may panic; in a secure session neither end accepts a message, command,
/// configuration or registration the other did not send, nor a status report twice; the AGV
/// gets access in the mode it asked; the RCS never grants normal mode where secure mode is
/// required (the fuzzer may inject a normal-mode request of its own elsewhere), and neither end
/// completes a key exchange after a wrong key or an altered value; once closed, an end stays
/// closed and says nothing more.
pub fn secure_handshake(data: &[u8]) -> Outcome {
    let mut input = Bytes(data);
    let config = input.next().unwrap_or(0);
    let skew = input.next().unwrap_or(0) as i8;
    let tweak = match input.next().unwrap_or(0) & 0x0F {
        1 => Tweak::AgvEphemeral,
        2 => Tweak::KeyId,
        3 => Tweak::AgvId,
        4 => Tweak::RcsEphemeral,
        5 => Tweak::RcsConfirm,
        6 => Tweak::RcsId,
        7 => Tweak::AgvConfirm,
        _ => Tweak::None,
    };
    let alter = Alter {
        tweak,
        index: usize::from(input.next().unwrap_or(0)),
        xor: input.next().unwrap_or(0).max(1),
    };
    let profile = match config & 129 {
        1 => SecureProfile::Fast,
        129 => SecureProfile::Gcm,
        _ => SecureProfile::Guide,
    };
    let policy = RcsPolicy {
        secure_required: config & 4 != 0,
        secure_offered: true,
        allow_fast: config & 2 != 0,
    };
    let agv_mode = if config & 8 != 0 {
        AccessMode::Normal
    } else {
        AccessMode::Secure
    };
    let mut session = SessionConfig::default();
    if config & 16 != 0 {
        session.key_max_frames = 8;
        session.key_lifetime_ms = 5_000;
    }
    let enrolled = config & 32 == 0;
    let right_rcs_key = config & 64 == 0;

    let k = keys();
    // Ephemeral keys differ per input: no frame of one run is genuine in another.
    let seed = crate::input_hash(data);
    let rcs_key = if right_rcs_key {
        k.rcs_verifier.clone()
    } else {
        k.agv_verifier.clone()
    };
    let agv_crypto = FuzzAgv {
        inner: AgvHandshake::new(k.agv.clone(), AGV_ID, rcs_key, TestRng(seed)),
        alter,
    };
    let mut agv = AgvSession::new(
        session.clone(),
        AGV,
        agv_mode,
        profile,
        Some(agv_crypto),
        registration(),
        T0,
    );
    agv.connect(T0).expect("an idle session connects");
    let store = Store(enrolled.then(|| k.agv_verifier.clone()));
    let rcs_crypto = FuzzRcs {
        inner: RcsHandshake::new(k.rcs.clone(), RCS_ID, store, TestRng(!seed)),
        alter,
    };
    let skew_ms = i64::from(skew) * 1000;
    let rcs = RcsSession::new(
        session,
        policy,
        rcs_crypto,
        config_push(),
        7,
        T0.saturating_add_signed(skew_ms),
    );
    let mut net = Net {
        now: T0,
        skew_ms,
        agv,
        rcs,
        agv_mode,
        rcs_mode: None,
        policy,
        agv_denied: !enrolled || !right_rcs_key || alter.breaks_agv(),
        rcs_denied: !enrolled || !right_rcs_key || tweak != Tweak::None,
        to_rcs: VecDeque::new(),
        to_agv: VecDeque::new(),
        last_to_rcs: Vec::new(),
        last_to_agv: Vec::new(),
        agv_sent: Vec::new(),
        rcs_sent: Vec::new(),
        once: Vec::new(),
        counter: 0,
        outcome: Outcome::default(),
    };
    net.pump();
    while let Some(op) = input.next() {
        let to_agv = op & 1 == 1;
        match (op >> 1) % 9 {
            0 => net.deliver_front(to_agv),
            1 => {
                net.queue(to_agv).pop_front();
            }
            2 => net.replay(to_agv),
            3 => {
                let at = input.next().unwrap_or(0);
                let xor = input.next().unwrap_or(0).max(1);
                net.tamper(to_agv, at, xor);
            }
            4 => {
                let len = usize::from(input.next().unwrap_or(0));
                let bytes = input.take(len).to_vec();
                net.deliver(to_agv, &bytes);
            }
            5 => net.now += u64::from(input.next().unwrap_or(0)) * 50,
            6 => net.app_send(to_agv),
            7 => net.deliver_all(),
            _ => {
                let at = input.next().unwrap_or(0);
                net.split(to_agv, at);
            }
        }
        net.pump();
    }
    net.outcome
}
