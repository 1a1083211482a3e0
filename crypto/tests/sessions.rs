//! `protocol::session` driven end to end through an in-memory network with a virtual clock
//! (latency, drops, duplicates, reordering), in normal mode and in secure mode with both
//! profiles and the real crypto; and every refusal: tampered frame, wrong key, replay, skewed
//! clock, downgrade, a handshake that never completes, a peer that goes silent.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use crypto::session::{AgvHandshake, KeyStore, RcsHandshake};
use crypto::sign::{CachedVerifier, SigningKey};
use crypto::{DEFAULT_ID, system_rng};
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::*;
use protocol::session::{
    AgvCrypto, AgvEvent, AgvSession, CloseCause, NoCrypto, RcsCrypto, RcsEvent, RcsPolicy,
    RcsSession, SessionConfig,
};
use protocol::types::*;

type Rng = rand_core::UnwrapErr<getrandom::SysRng>;

const AGV: u32 = 1001;
const T0: u64 = 1_764_000_000_000;

/// Enrolled keys, and per-AGV policy overrides.
#[derive(Clone, Default)]
struct Store(
    HashMap<(u32, [u8; 32]), Arc<CachedVerifier>>,
    HashMap<u32, RcsPolicy>,
);

impl KeyStore for Store {
    fn lookup(&self, agv_id: u32, key_id: &[u8; 32]) -> Option<Arc<CachedVerifier>> {
        self.0.get(&(agv_id, *key_id)).cloned()
    }

    fn policy(&self, agv_id: u32, default: RcsPolicy) -> RcsPolicy {
        self.1.get(&agv_id).copied().unwrap_or(default)
    }
}

fn registration() -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Jacking,
        vendor: "Acme".into(),
        model: "J1".into(),
        serial: "S1".into(),
        firmware: "1.0".into(),
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
        navigation_modes: vec![NavigationMode::Slam],
        maps: vec![],
        actuators: vec![],
        battery: BatteryInfo {
            capacity_wh: 1000.0,
            nominal_voltage: 48.0,
        },
        extensions: vec![],
    }
}

fn config_push() -> ConfigPush {
    ConfigPush {
        config_version: 1,
        status_period_ms: 100,
        heartbeat_period_ms: 1000,
        link_timeout_ms: 3000,
        operation_report_period_s: 0,
        alarms: AlarmParams {
            battery_low_pct: 20.0,
            battery_critical_pct: 10.0,
            min_localisation_quality: 50,
            max_path_deviation: 0.2,
        },
        max_linear_speed: 1.5,
        max_angular_speed: 1.0,
        extensions: vec![],
    }
}

fn status(seq_hint: u32) -> Message {
    StatusReport {
        localisation_quality: 90,
        velocity: Velocity {
            vx: 1.0,
            vy: 0.0,
            omega: 0.0,
        },
        state: AgvState::Working,
        battery_pct: 80.0,
        battery_voltage: 48.0,
        ..StatusReport::standing(
            1,
            Pose {
                x: f64::from(seq_hint),
                y: 0.0,
                theta: 0.0,
            },
        )
    }
    .into()
}

fn pause() -> Message {
    TaskControl {
        task_id: 9,
        op: TaskOp::Pause,
    }
    .into()
}

/// What the network does to a frame in flight.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

/// Decides each frame's fate: (from the AGV?, frame).
type FateFn = Box<dyn FnMut(bool, &Bytes) -> Fate>;

struct Pair<A: AgvCrypto, R: RcsCrypto> {
    now: u64,
    rcs_clock_offset: i64,
    latency: u64,
    agv: AgvSession<A>,
    rcs: RcsSession<R>,
    /// (deliver at, to the AGV?, frame)
    wire: Vec<(u64, bool, Bytes)>,
    agv_events: Vec<AgvEvent>,
    rcs_events: Vec<RcsEvent>,
    fate: FateFn,
    auto_answer: bool,
    seen_from_agv: Vec<Bytes>,
}

impl<A: AgvCrypto, R: RcsCrypto> Pair<A, R> {
    fn new(agv: AgvSession<A>, rcs: RcsSession<R>) -> Self {
        Self {
            now: T0,
            rcs_clock_offset: 0,
            latency: 5,
            agv,
            rcs,
            wire: Vec::new(),
            agv_events: Vec::new(),
            rcs_events: Vec::new(),
            fate: Box::new(|_, _| Fate::Deliver),
            auto_answer: true,
            seen_from_agv: Vec::new(),
        }
    }

    fn rcs_now(&self) -> u64 {
        (self.now as i64 + self.rcs_clock_offset) as u64
    }

    fn flush(&mut self) {
        while let Some(b) = self.agv.poll_transmit() {
            self.seen_from_agv.push(b.clone());
            self.ship(true, b);
        }
        while let Some(b) = self.rcs.poll_transmit() {
            self.ship(false, b);
        }
    }

    fn ship(&mut self, from_agv: bool, b: Bytes) {
        let at = self.now + self.latency;
        match (self.fate)(from_agv, &b) {
            Fate::Deliver => self.wire.push((at, !from_agv, b)),
            Fate::Drop => {}
            Fate::Duplicate => {
                self.wire.push((at, !from_agv, b.clone()));
                self.wire.push((at + 1, !from_agv, b));
            }
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.agv.poll_event() {
            if self.auto_answer
                && let AgvEvent::Command { seq, message } = &e
            {
                let _ = self
                    .agv
                    .ack(self.now, *seq, message.message_type(), ResultCode::Ok);
            }
            self.agv_events.push(e);
        }
        let rnow = self.rcs_now();
        while let Some(e) = self.rcs.poll_event() {
            if self.auto_answer
                && let RcsEvent::RegistrationRequested(_) = &e
            {
                self.rcs.accept_registration(rnow, ResultCode::Ok).unwrap();
            }
            self.rcs_events.push(e);
        }
    }

    /// Advances the virtual clock by `ms`, one millisecond at a time.
    fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.flush();
            self.events();
            self.flush();
            let now = self.now;
            let due: Vec<_> = self
                .wire
                .iter()
                .filter(|(t, _, _)| *t <= now)
                .cloned()
                .collect();
            self.wire.retain(|(t, _, _)| *t > now);
            for (_, to_agv, bytes) in due {
                if to_agv {
                    self.agv.handle_input(now, &bytes);
                } else {
                    let rnow = self.rcs_now();
                    self.rcs.handle_input(rnow, &bytes);
                }
            }
            if self.agv.poll_timeout().is_some_and(|t| t <= now) {
                self.agv.handle_timeout(now);
            }
            let rnow = self.rcs_now();
            if self.rcs.poll_timeout().is_some_and(|t| t <= rnow) {
                self.rcs.handle_timeout(rnow);
            }
            self.events();
            self.now += 1;
        }
        self.flush();
        self.events();
    }

    fn established(&self) -> bool {
        self.agv.is_established() && self.rcs.is_established()
    }
}

fn normal_pair(policy: RcsPolicy) -> Pair<NoCrypto, NoCrypto> {
    let mut agv = AgvSession::new(
        SessionConfig::default(),
        AGV,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        registration(),
        T0,
    );
    agv.connect(T0).unwrap();
    let rcs = RcsSession::new(
        SessionConfig::default(),
        policy,
        NoCrypto,
        config_push(),
        7,
        T0,
    );
    Pair::new(agv, rcs)
}

struct Keys {
    agv: Arc<SigningKey>,
    rcs: Arc<SigningKey>,
}

fn keys() -> Keys {
    let mut rng = system_rng();
    Keys {
        agv: Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap()),
        rcs: Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap()),
    }
}

fn secure_pair_with(
    k: &Keys,
    enrolled: bool,
    profile: SecureProfile,
    policy: RcsPolicy,
) -> Pair<AgvHandshake<Rng>, RcsHandshake<Store, Rng>> {
    secure_pair_config(k, enrolled, profile, policy, SessionConfig::default())
}

fn secure_pair_config(
    k: &Keys,
    enrolled: bool,
    profile: SecureProfile,
    policy: RcsPolicy,
    config: SessionConfig,
) -> Pair<AgvHandshake<Rng>, RcsHandshake<Store, Rng>> {
    let rcs_verifier = Arc::new(CachedVerifier::new(k.rcs.verifying_key().clone()));
    let hs = AgvHandshake::new(k.agv.clone(), DEFAULT_ID, rcs_verifier, system_rng());
    let mut agv = AgvSession::new(
        config.clone(),
        AGV,
        AccessMode::Secure,
        profile,
        Some(hs),
        registration(),
        T0,
    );
    agv.connect(T0).unwrap();
    let mut store = Store::default();
    if enrolled {
        store.0.insert(
            (AGV, k.agv.verifying_key().key_id()),
            Arc::new(CachedVerifier::new(k.agv.verifying_key().clone())),
        );
    }
    let rcs_hs = RcsHandshake::new(k.rcs.clone(), DEFAULT_ID, store, system_rng());
    let rcs = RcsSession::new(
        SessionConfig::default(),
        policy,
        rcs_hs,
        config_push(),
        7,
        T0,
    );
    Pair::new(agv, rcs)
}

const OPEN: RcsPolicy = RcsPolicy {
    secure_required: false,
    secure_offered: true,
    allow_fast: true,
};
const STRICT: RcsPolicy = RcsPolicy {
    secure_required: true,
    secure_offered: true,
    allow_fast: false,
};

/// The flows every mode must carry: registration and configuration, a report, a command with
/// its Ack, a request with its response.
fn exercise<A: AgvCrypto, R: RcsCrypto>(p: &mut Pair<A, R>) {
    p.run(100);
    assert!(
        p.established(),
        "agv {:?} rcs {:?}",
        p.agv_events,
        p.rcs_events
    );
    assert!(
        p.agv_events
            .iter()
            .any(|e| matches!(e, AgvEvent::Registered))
    );
    assert!(
        p.agv_events
            .iter()
            .any(|e| matches!(e, AgvEvent::Configured(c) if c.link_timeout_ms == 3000))
    );

    let now = p.now;
    p.agv.send(now, status(1), false).unwrap();
    let cmd = p.rcs.send_command(p.rcs_now(), pause()).unwrap();
    let space = SpaceRequest {
        map_id: 1,
        region: Region::Circle {
            center: Point { x: 1.0, y: 1.0 },
            radius: 1.0,
        },
        limit: SpaceLimit::Free,
        duration_ms: 1000,
        reason: SpaceReason::ObstacleAvoidance,
    };
    let req = p.agv.send(now, space.into(), true).unwrap();
    p.run(50);
    assert!(p.rcs_events.iter().any(|e| matches!(
        e,
        RcsEvent::Message {
            message: Message::StatusReport(_),
            ..
        }
    )));
    assert!(p.agv_events.iter().any(|e| matches!(
        e,
        AgvEvent::Command {
            message: Message::TaskControl(_),
            ..
        }
    )));
    assert!(p.rcs_events.iter().any(|e| matches!(e,
        RcsEvent::Response { request_seq, message: Message::Ack(a) } if *request_seq == cmd && a.result == ResultCode::Ok)));
    let got = p.rcs_events.iter().find_map(|e| match e {
        RcsEvent::Message {
            seq,
            ack_requested: true,
            message: Message::SpaceRequest(_),
        } => Some(*seq),
        _ => None,
    });
    assert_eq!(got, Some(req));
    let grant = SpaceGrant {
        request_seq: req,
        grant_id: 5,
        map_id: 1,
        region: Region::Circle {
            center: Point { x: 1.0, y: 1.0 },
            radius: 1.0,
        },
        limit: SpaceLimit::Free,
        expires_at_ms: p.now + 1000,
    };
    p.rcs.respond(p.rcs_now(), grant.into()).unwrap();
    p.run(20);
    assert!(p.agv_events.iter().any(|e| matches!(e,
        AgvEvent::Response { request_seq, message: Message::SpaceGrant(g) } if *request_seq == req && g.grant_id == 5)));
    // nothing left unanswered, no errors either way
    p.run(10_000);
    assert!(
        p.established(),
        "heartbeats keep the link: {:?}",
        p.agv_events
    );
    assert!(
        !p.agv_events.iter().any(|e| matches!(
            e,
            AgvEvent::Unanswered { .. } | AgvEvent::PeerError { .. } | AgvEvent::LinkLost
        )),
        "{:?}",
        p.agv_events
    );
    assert!(
        !p.rcs_events.iter().any(|e| matches!(
            e,
            RcsEvent::Unanswered { .. } | RcsEvent::PeerError { .. } | RcsEvent::LinkLost
        )),
        "{:?}",
        p.rcs_events
    );
}

#[test]
fn normal_mode_flows() {
    let mut p = normal_pair(OPEN);
    exercise(&mut p);
    assert!(p.rcs_events.iter().any(|e| matches!(
        e,
        RcsEvent::AccessGranted {
            mode: AccessMode::Normal,
            ..
        }
    )));
}

#[test]
fn secure_mode_flows_in_both_profiles_and_every_frame_is_protected() {
    let k = keys();
    for (asked, policy, granted) in [
        (SecureProfile::Guide, OPEN, SecureProfile::Guide),
        (SecureProfile::Fast, OPEN, SecureProfile::Fast),
        (SecureProfile::Fast, STRICT, SecureProfile::Guide),
    ] {
        let mut p = secure_pair_with(&k, true, asked, policy);
        exercise(&mut p);
        assert!(p.agv_events.iter().any(|e| matches!(e, AgvEvent::Connected { mode: AccessMode::Secure, profile, .. } if *profile == granted)));
        // After AccessRequest and AccessConfirm (signed plaintext), everything is encrypted.
        for (i, bytes) in p.seen_from_agv.iter().enumerate() {
            let mut b = BytesMut::from(&bytes[..]);
            let f = FrameDecoder::default().decode(&mut b).unwrap().unwrap();
            if i < 2 {
                assert!(
                    f.header.flags.contains(Flags::SIGNED),
                    "handshake frame {i} is signed"
                );
            } else {
                assert!(
                    f.header.flags.contains(Flags::ENCRYPTED),
                    "frame {i} is encrypted"
                );
                let expect_mac = granted == SecureProfile::Fast;
                assert_eq!(f.header.flags.contains(Flags::MAC), expect_mac, "frame {i}");
            }
        }
    }
}

#[test]
fn the_secure_handshake_frames_are_signed_as_the_golden_vectors_show() {
    // docs/protocol.md 6.1 and 10.1: AccessRequest SIGNED | ACK_REQUESTED, AccessResponse and
    // AccessConfirm SIGNED | RESPONSE, each with a 64-byte signature; the vectors of 6.1 (and
    // protocol/tests/vectors/) carry the same flags and tag length as the session sends.
    let k = keys();
    let mut p = secure_pair_with(&k, true, SecureProfile::Fast, OPEN);
    let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = sent.clone();
    p.fate = Box::new(move |_, b| {
        let mut buf = BytesMut::from(&b[..]);
        if let Ok(Some(f)) = FrameDecoder::default().decode(&mut buf) {
            log.borrow_mut()
                .push((f.header.message_type, f.header.flags, f.auth.len()));
        }
        Fate::Deliver
    });
    p.run(100);
    assert!(p.established());
    let sent = sent.borrow();
    for (ty, vector) in [
        (MessageType::ACCESS_REQUEST, "access_request_secure"),
        (MessageType::ACCESS_RESPONSE, "access_response_secure"),
        (MessageType::ACCESS_CONFIRM, "access_confirm"),
    ] {
        let path = format!(
            "{}/../protocol/tests/vectors/{vector}.hex",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let digits: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let mut buf = BytesMut::from(&hex::decode(digits).unwrap()[..]);
        let golden = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        let (_, flags, tag) = sent
            .iter()
            .find(|(t, _, _)| *t == ty)
            .unwrap_or_else(|| panic!("no {vector} sent"));
        assert!(flags.contains(Flags::SIGNED), "{vector}: {flags:?}");
        assert_eq!(*tag, 64, "{vector}");
        assert_eq!(golden.header.flags, *flags, "{vector}: flags");
        assert_eq!(golden.auth.len(), *tag, "{vector}: tag");
    }
}

#[test]
fn dropped_commands_are_resent_and_eventually_reported() {
    let mut p = normal_pair(OPEN);
    p.run(100);
    assert!(p.established());
    // drop the first two frames the RCS sends from now on
    let mut dropped = 0;
    p.fate = Box::new(move |from_agv, _| {
        if !from_agv && dropped < 2 {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let seq = p.rcs.send_command(p.rcs_now(), pause()).unwrap();
    p.run(7_000);
    let acked: Vec<(u32, u32)> = p
        .rcs_events
        .iter()
        .filter_map(|e| match e {
            RcsEvent::Response {
                request_seq,
                message: Message::Ack(a),
            } if a.request_type == MessageType::TASK_CONTROL => Some((*request_seq, a.request_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(
        acked.len(),
        1,
        "answered once, after two resends: {:?}",
        p.rcs_events
    );
    assert_ne!(acked[0].1, seq, "the resend carries a new sequence number");
    assert_eq!(
        acked[0].0, seq,
        "the answer is reported under the command's first sequence number"
    );

    // now drop every command: after the retries it is reported unanswered
    p.fate = Box::new(|from_agv, b| {
        let mut buf = BytesMut::from(&b[..]);
        let f = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        if !from_agv && f.header.message_type == MessageType::TASK_CONTROL {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let lost = p.rcs.send_command(p.rcs_now(), pause()).unwrap();
    p.run(10_000);
    assert!(p.rcs_events.iter().any(|e| matches!(
        e,
        RcsEvent::Unanswered {
            message_type: MessageType::TASK_CONTROL,
            seq,
        } if *seq == lost
    )));
    assert!(p.established(), "a lost command does not end the session");
}

#[test]
fn the_rcs_resends_an_unanswered_command_after_2_s_three_times_then_reports_it() {
    // docs/protocol.md 4.3: the RCS's command timeout is 2 s, a command is sent at most 4 times.
    let mut p = normal_pair(OPEN);
    p.run(100);
    assert!(p.established());
    let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = sent.clone();
    p.fate = Box::new(move |from_agv, b| {
        let mut buf = BytesMut::from(&b[..]);
        let f = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        if !from_agv && f.header.message_type == MessageType::TASK_CONTROL {
            log.borrow_mut().push((f.header.seq, f.header.timestamp_ms));
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let t0 = p.rcs_now();
    let lost = p.rcs.send_command(t0, pause()).unwrap();
    p.run(7_990);
    assert!(
        !p.rcs_events
            .iter()
            .any(|e| matches!(e, RcsEvent::Unanswered { .. })),
        "not reported before 8 s"
    );
    p.run(20);
    let sent = sent.borrow();
    let after: Vec<u64> = sent.iter().map(|(_, t)| t - t0).collect();
    assert_eq!(after, [0, 2000, 4000, 6000], "sent at t0, then every 2 s");
    let mut seqs: Vec<u32> = sent.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs[0], lost);
    seqs.dedup();
    assert_eq!(seqs.len(), 4, "each resend has a new sequence number");
    assert!(p.rcs_events.iter().any(|e| matches!(
        e,
        RcsEvent::Unanswered {
            message_type: MessageType::TASK_CONTROL,
            seq,
        } if *seq == lost
    )));
    assert_eq!(SessionConfig::default().command_timeout_ms, 2000);
    assert_eq!(SessionConfig::default().max_retransmits, 3);
}

#[test]
fn duplicated_frames_are_refused_as_replays_and_reordered_ones_accepted() {
    let k = keys();
    let mut p = secure_pair_with(&k, true, SecureProfile::Fast, OPEN);
    p.run(100);
    assert!(p.established());
    p.fate = Box::new(|from_agv, _| {
        if from_agv {
            Fate::Duplicate
        } else {
            Fate::Deliver
        }
    });
    p.agv.send(p.now, status(1), false).unwrap();
    p.run(20);
    let reports = p
        .rcs_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RcsEvent::Message {
                    message: Message::StatusReport(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(reports, 1, "the duplicate is not delivered twice");
    assert!(p.agv_events.iter().any(|e| matches!(
        e,
        AgvEvent::PeerError {
            code: ErrorCode::Replay,
            ..
        }
    )));

    // reorder: hold back one report, deliver the next first
    p.fate = Box::new(|_, _| Fate::Deliver);
    p.agv.send(p.now, status(2), false).unwrap();
    p.agv.send(p.now, status(3), false).unwrap();
    let a = p.agv.poll_transmit().unwrap();
    let b = p.agv.poll_transmit().unwrap();
    p.wire.push((p.now + 10, false, a));
    p.wire.push((p.now + 5, false, b));
    p.run(20);
    let xs: Vec<f64> = p
        .rcs_events
        .iter()
        .filter_map(|e| match e {
            RcsEvent::Message {
                message: Message::StatusReport(s),
                ..
            } => Some(s.pose.x),
            _ => None,
        })
        .collect();
    assert_eq!(xs, vec![1.0, 3.0, 2.0], "both arrive, in arrival order");
}

#[test]
fn a_tampered_frame_is_refused_with_bad_signature() {
    let k = keys();
    let mut p = secure_pair_with(&k, true, SecureProfile::Guide, OPEN);
    p.run(100);
    assert!(p.established());
    p.agv.send(p.now, status(1), false).unwrap();
    let wire = p.agv.poll_transmit().unwrap();
    let mut buf = BytesMut::from(&wire[..]);
    let f = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
    let mut body = f.body.to_vec();
    body[0] ^= 0x80;
    let mut forged = BytesMut::new();
    frame::encode_raw(&mut forged, f.header, &body, &f.auth, 65536).unwrap(); // valid CRC
    p.wire.push((p.now + 1, false, forged.freeze()));
    p.run(20);
    assert!(!p.rcs_events.iter().any(|e| matches!(
        e,
        RcsEvent::Message {
            message: Message::StatusReport(_),
            ..
        }
    )));
    assert!(
        p.agv_events.iter().any(|e| matches!(
            e,
            AgvEvent::PeerError {
                code: ErrorCode::BadSignature,
                ..
            }
        )),
        "{:?}",
        p.agv_events
    );
}

#[test]
fn an_unknown_agv_key_is_refused() {
    let k = keys();
    let mut p = secure_pair_with(&k, false, SecureProfile::Guide, OPEN);
    p.run(100);
    assert!(p.agv.is_closed() && p.rcs.is_closed());
    assert!(
        p.agv_events.contains(&AgvEvent::Closed(CloseCause::Refused(
            ResultCode::AuthenticationFailed
        ))),
        "{:?}",
        p.agv_events
    );
}

/// A secure pair whose AGV key is enrolled with the identifier `enrolled_id` and whose AGV
/// announces and signs with `agv_id`.
fn secure_pair_ids(
    enrolled_id: &[u8],
    agv_id: &[u8],
) -> Pair<AgvHandshake<Rng>, RcsHandshake<Store, Rng>> {
    let mut rng = system_rng();
    let secret = SigningKey::generate(DEFAULT_ID, &mut rng)
        .unwrap()
        .secret()
        .clone();
    let k = Keys {
        agv: Arc::new(SigningKey::new(agv_id, secret.clone()).unwrap()),
        rcs: Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap()),
    };
    let mut p = secure_pair_with(&k, false, SecureProfile::Guide, OPEN);
    let rcs_verifier = Arc::new(CachedVerifier::new(k.rcs.verifying_key().clone()));
    let hs = AgvHandshake::new(k.agv.clone(), agv_id, rcs_verifier, system_rng());
    p.agv = AgvSession::new(
        SessionConfig::default(),
        AGV,
        AccessMode::Secure,
        SecureProfile::Guide,
        Some(hs),
        registration(),
        T0,
    );
    p.agv.connect(T0).unwrap();
    let enrolled = SigningKey::new(enrolled_id, secret).unwrap();
    let mut store = Store::default();
    store.0.insert(
        (AGV, enrolled.verifying_key().key_id()),
        Arc::new(CachedVerifier::new(enrolled.verifying_key().clone())),
    );
    let rcs_hs = RcsHandshake::new(k.rcs.clone(), DEFAULT_ID, store, system_rng());
    p.rcs = RcsSession::new(SessionConfig::default(), OPEN, rcs_hs, config_push(), 7, T0);
    p
}

#[test]
fn an_agv_signing_with_another_identifier_than_it_was_enrolled_with_is_refused() {
    // Enrolled as `AGV-5017-Z`, signing (and announcing) the default identifier: refused.
    let mut p = secure_pair_ids(b"AGV-5017-Z", DEFAULT_ID);
    p.run(100);
    assert!(p.agv.is_closed() && p.rcs.is_closed());
    assert!(
        p.agv_events.contains(&AgvEvent::Closed(CloseCause::Refused(
            ResultCode::AuthenticationFailed
        ))),
        "{:?}",
        p.agv_events
    );
    // The other way round too: enrolled with the default, signing with its own identifier.
    let mut p = secure_pair_ids(DEFAULT_ID, b"AGV-5017-Z");
    p.run(100);
    assert!(!p.rcs.is_established());
    assert!(
        p.agv_events.contains(&AgvEvent::Closed(CloseCause::Refused(
            ResultCode::AuthenticationFailed
        ))),
        "{:?}",
        p.agv_events
    );
    // Signing with the enrolled identifier: accepted, and the session works.
    let mut p = secure_pair_ids(b"AGV-5017-Z", b"AGV-5017-Z");
    exercise(&mut p);
}

#[test]
fn a_wrong_rcs_key_fails_the_handshake_on_the_agv() {
    let k = keys();
    let impostor = keys();
    // The AGV trusts `k.rcs`, but the RCS it reaches signs with another key.
    let mut p = secure_pair_with(&k, true, SecureProfile::Guide, OPEN);
    let mut store = Store::default();
    store.0.insert(
        (AGV, k.agv.verifying_key().key_id()),
        Arc::new(CachedVerifier::new(k.agv.verifying_key().clone())),
    );
    let rcs_hs = RcsHandshake::new(impostor.rcs.clone(), DEFAULT_ID, store, system_rng());
    p.rcs = RcsSession::new(SessionConfig::default(), OPEN, rcs_hs, config_push(), 7, T0);
    p.run(100);
    assert!(
        p.agv_events
            .contains(&AgvEvent::Closed(CloseCause::Downgrade)),
        "{:?}",
        p.agv_events
    );
    assert!(!p.rcs.is_established());
}

#[test]
fn downgrade_attempts_are_refused_on_both_sides() {
    // The RCS requires secure mode: normal access is refused.
    let mut p = normal_pair(STRICT);
    p.run(100);
    assert!(p.agv_events.contains(&AgvEvent::Closed(CloseCause::Refused(
        ResultCode::SecureModeRequired
    ))));

    // The AGV asked for secure mode; a man in the middle answers in normal mode.
    let k = keys();
    let mut p = secure_pair_with(&k, true, SecureProfile::Guide, OPEN);
    p.agv.poll_transmit().unwrap(); // the access request never reaches the RCS
    let forged = AccessResponse {
        request_seq: 1,
        result: ResultCode::Ok,
        mode: AccessMode::Normal,
        profile: SecureProfile::Guide,
        version: 1,
        session_id: 1,
        server_time_ms: T0,
        key_exchange: None,
    };
    let mut wire = BytesMut::new();
    let h = Header::new(MessageType::ACCESS_RESPONSE, Flags::RESPONSE, 1, AGV, T0);
    frame::encode_message(&mut wire, h, &forged.into(), 65536).unwrap();
    p.agv.handle_input(T0 + 1, &wire);
    p.events();
    assert!(
        p.agv_events
            .contains(&AgvEvent::Closed(CloseCause::Downgrade)),
        "{:?}",
        p.agv_events
    );
}

#[test]
fn a_skewed_clock_or_a_stale_frame_is_refused() {
    let k = keys();
    let mut p = secure_pair_with(&k, true, SecureProfile::Fast, OPEN);
    // The RCS's clock is a minute ahead of the AGV's.
    p.rcs_clock_offset = 60_000;
    let mut store = Store::default();
    store.0.insert(
        (AGV, k.agv.verifying_key().key_id()),
        Arc::new(CachedVerifier::new(k.agv.verifying_key().clone())),
    );
    let rcs_hs = RcsHandshake::new(k.rcs.clone(), DEFAULT_ID, store, system_rng());
    p.rcs = RcsSession::new(
        SessionConfig::default(),
        OPEN,
        rcs_hs,
        config_push(),
        7,
        T0 + 60_000,
    );
    p.run(200);
    // Neither side can open the other's protected frames (not even the Error replies): no
    // registration happens and the session ends cleanly once the error budget is spent.
    assert!(
        !p.rcs.is_established(),
        "the registration (first protected frame) is refused"
    );
    assert!(
        !p.rcs_events
            .iter()
            .any(|e| matches!(e, RcsEvent::RegistrationRequested(_)))
    );
    assert!(p.agv.is_closed() || p.rcs.is_closed());
    let server_time = p.agv_events.iter().find_map(|e| match e {
        AgvEvent::Connected { server_time_ms, .. } => Some(*server_time_ms),
        _ => None,
    });
    assert!(
        server_time.is_some_and(|t| t >= T0 + 60_000),
        "the AGV learns the RCS clock to correct its own"
    );

    // A frame held back 31 s in the network arrives stale, while the link stays alive.
    let mut p = secure_pair_with(&k, true, SecureProfile::Fast, OPEN);
    p.run(100);
    assert!(p.established());
    p.agv.send(p.now, status(7), false).unwrap();
    let late = p.agv.poll_transmit().unwrap();
    p.wire.push((p.now + 31_000, false, late));
    p.run(31_100);
    assert!(p.established(), "{:?}", p.agv_events);
    assert!(!p.rcs_events.iter().any(|e| matches!(
        e,
        RcsEvent::Message {
            message: Message::StatusReport(_),
            ..
        }
    )));
    assert!(
        p.agv_events.iter().any(|e| matches!(
            e,
            AgvEvent::PeerError {
                code: ErrorCode::TimestampSkew,
                ..
            }
        )),
        "{:?}",
        p.agv_events
    );
}

#[test]
fn a_handshake_that_never_completes_times_out() {
    // The AGV's frames never arrive: the RCS gives up, the AGV loses the link and stops.
    let mut p = normal_pair(OPEN);
    p.fate = Box::new(|from_agv, _| if from_agv { Fate::Drop } else { Fate::Deliver });
    p.run(12_000);
    assert!(
        p.rcs_events
            .contains(&RcsEvent::Closed(CloseCause::HandshakeTimeout))
            || p.rcs_events
                .contains(&RcsEvent::Closed(CloseCause::LinkTimeout)),
        "{:?}",
        p.rcs_events
    );
    assert!(p.agv.is_closed());
}

#[test]
fn a_silent_rcs_makes_the_agv_stop_and_a_silent_agv_goes_offline() {
    let mut p = normal_pair(OPEN);
    p.run(100);
    assert!(p.established());
    // Partition: nothing crosses any more.
    p.fate = Box::new(|_, _| Fate::Drop);
    p.run(3_500);
    let lost = p.agv_events.iter().position(|e| *e == AgvEvent::LinkLost);
    assert!(lost.is_some(), "{:?}", p.agv_events);
    assert!(
        p.agv_events
            .contains(&AgvEvent::Closed(CloseCause::LinkTimeout))
    );
    assert!(p.rcs_events.contains(&RcsEvent::LinkLost));
    assert!(
        p.rcs_events
            .contains(&RcsEvent::Closed(CloseCause::LinkTimeout))
    );
}

#[test]
fn a_garbage_spewing_peer_is_closed_after_five_bad_frames() {
    let mut p = normal_pair(OPEN);
    p.run(100);
    assert!(p.established());
    for i in 0..5u8 {
        let mut garbage = BytesMut::new();
        let h = Header::new(
            MessageType::STATUS_REPORT,
            Flags::NONE,
            100 + u32::from(i),
            AGV,
            p.now,
        );
        frame::encode_raw(&mut garbage, h, &[0xEE; 7], &[], 65536).unwrap(); // valid frame, bad body
        let now = p.now;
        p.rcs.handle_input(now, &garbage);
    }
    p.events();
    assert!(p.rcs.is_closed());
    assert!(
        p.rcs_events
            .contains(&RcsEvent::Closed(CloseCause::ProtocolViolation)),
        "{:?}",
        p.rcs_events
    );
}

#[test]
fn a_key_past_its_lifetime_is_retired_with_rekey() {
    let k = keys();
    let config = SessionConfig {
        key_lifetime_ms: 5_000,
        ..SessionConfig::default()
    };
    let mut p = secure_pair_config(&k, true, SecureProfile::Fast, OPEN, config);
    p.run(4_000);
    assert!(p.established(), "{:?}", p.agv_events);
    p.run(1_500);
    let rekeyed = |c: &CloseCause| {
        matches!(
            c,
            CloseCause::Local(CloseReason::Rekey) | CloseCause::Peer(CloseReason::Rekey)
        )
    };
    assert!(
        p.agv_events
            .iter()
            .any(|e| matches!(e, AgvEvent::Closed(c) if rekeyed(c))),
        "{:?}",
        p.agv_events
    );
    assert!(
        p.rcs_events
            .iter()
            .any(|e| matches!(e, RcsEvent::Closed(c) if rekeyed(c))),
        "{:?}",
        p.rcs_events
    );
}

#[test]
fn a_report_given_back_is_decoded_into_in_both_profiles() {
    // The RCS gives each report back (`recycle`): the next one is opened (decrypted,
    // authenticated) into it, its lists' capacity reused, and comes out as sent.
    let k = keys();
    for profile in [SecureProfile::Guide, SecureProfile::Fast] {
        let mut p = secure_pair_with(&k, true, profile, OPEN);
        p.run(200);
        assert!(p.established());
        let mut reused = 0;
        let mut given_back: Option<*const LoadInfo> = None;
        for i in 0..20u32 {
            let Message::StatusReport(mut sent) = status(i) else {
                unreachable!()
            };
            sent.loads = (0..1 + i % 3)
                .map(|n| LoadInfo {
                    load_id: format!("load-{i}-{n}"),
                    weight_kg: 5.0,
                })
                .collect();
            let now = p.now;
            p.agv.send(now, sent.clone().into(), false).unwrap();
            p.run(100);
            let at = p
                .rcs_events
                .iter()
                .rposition(|e| {
                    matches!(
                        e,
                        RcsEvent::Message {
                            message: Message::StatusReport(_),
                            ..
                        }
                    )
                })
                .expect("the report arrived");
            let RcsEvent::Message {
                message: Message::StatusReport(got),
                ..
            } = p.rcs_events.remove(at)
            else {
                unreachable!()
            };
            assert_eq!(got, sent, "{profile:?} report {i}");
            if given_back == Some(got.loads.as_ptr()) {
                reused += 1;
            }
            // Capacity for the most loads any report here carries: always reusable.
            let mut got = got;
            got.loads.reserve(3);
            given_back = Some(got.loads.as_ptr());
            p.rcs.recycle(got.into());
        }
        assert_eq!(
            reused, 19,
            "{profile:?}: every report after the first reused the list"
        );
    }
}

#[test]
fn an_agv_streaming_status_reports_still_hears_the_rcs() {
    // Status reports need no answer: without heartbeats the AGV would hear nothing and stop.
    let mut p = normal_pair(OPEN);
    p.run(100);
    assert!(p.established());
    let heard_before = p
        .rcs_events
        .iter()
        .filter(|e| matches!(e, RcsEvent::Message { .. }))
        .count();
    for i in 0..150 {
        let now = p.now;
        p.agv.send(now, status(i), false).unwrap();
        p.run(100);
    }
    assert!(p.established(), "15 s of status reports, link timeout 5 s");
    assert!(
        !p.agv_events.iter().any(|e| matches!(e, AgvEvent::LinkLost)),
        "{:?}",
        p.agv_events
    );
    // and heartbeats stay rare: about one per heartbeat period, not one per report
    let heartbeats = p
        .seen_from_agv
        .iter()
        .filter(|b| {
            let mut buf = BytesMut::from(&b[..]);
            FrameDecoder::default()
                .decode(&mut buf)
                .ok()
                .flatten()
                .is_some_and(|f| f.header.message_type == MessageType::HEARTBEAT)
        })
        .count();
    assert!(
        (10..=20).contains(&heartbeats),
        "{heartbeats} heartbeats in 15 s"
    );
    assert!(heard_before < 150);
}

#[test]
fn per_agv_policy_overrides_the_servers() {
    let k = keys();
    // The server offers secure mode, but not to this AGV: refused `Unsupported`.
    let mut p = secure_pair_with(&k, true, SecureProfile::Guide, OPEN);
    let no_secure = RcsPolicy {
        secure_required: false,
        secure_offered: false,
        allow_fast: false,
    };
    p.rcs = {
        let mut store = Store::default();
        store.0.insert(
            (AGV, k.agv.verifying_key().key_id()),
            Arc::new(CachedVerifier::new(k.agv.verifying_key().clone())),
        );
        store.1.insert(AGV, no_secure);
        let hs = RcsHandshake::new(k.rcs.clone(), DEFAULT_ID, store, system_rng());
        RcsSession::new(SessionConfig::default(), OPEN, hs, config_push(), 7, T0)
    };
    p.run(200);
    assert!(
        p.agv_events.contains(&AgvEvent::Closed(CloseCause::Refused(
            ResultCode::Unsupported
        ))),
        "{:?}",
        p.agv_events
    );

    // The server allows normal mode, but this AGV must use secure mode.
    let mut agv = AgvSession::<NoCrypto>::new(
        SessionConfig::default(),
        AGV,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        registration(),
        T0,
    );
    agv.connect(T0).unwrap();
    let mut store = Store::default();
    store.1.insert(AGV, STRICT);
    let hs = RcsHandshake::new(k.rcs.clone(), DEFAULT_ID, store, system_rng());
    let rcs = RcsSession::new(SessionConfig::default(), OPEN, hs, config_push(), 7, T0);
    let mut p = Pair::new(agv, rcs);
    p.run(200);
    assert!(p.agv_events.contains(&AgvEvent::Closed(CloseCause::Refused(
        ResultCode::SecureModeRequired
    ))));
    // ...while another AGV without an override gets in.
    let mut p = normal_pair(OPEN);
    p.run(200);
    assert!(p.established());
}

#[test]
fn an_implausible_registration_is_refused_with_invalid_field_and_may_be_retried() {
    let mut p = normal_pair(OPEN);
    p.auto_answer = false;
    p.run(50);
    assert!(
        p.rcs_events
            .iter()
            .any(|e| matches!(e, RcsEvent::RegistrationRequested(_)))
    );
    let now = p.rcs_now();
    p.rcs
        .refuse_registration(now, "footprint over the site's limits".into())
        .unwrap();
    assert!(
        p.rcs.refuse_registration(now, "twice".into()).is_err(),
        "only a pending registration can be refused"
    );
    p.run(50);
    assert!(
        p.agv_events.iter().any(|e| matches!(
            e,
            AgvEvent::PeerError {
                code: ErrorCode::InvalidField,
                ..
            }
        )),
        "{:?}",
        p.agv_events
    );
    assert!(!p.agv.is_established() && !p.rcs.is_established());
    assert!(!p.rcs.is_closed(), "one refusal does not close the session");
    // The AGV (or a corrected firmware) registers again: the RCS takes it.
    p.rcs_events.clear();
    let now = p.now;
    let mut wire = BytesMut::new();
    let h = Header::new(
        MessageType::REGISTER_REQUEST,
        Flags::ACK_REQUESTED,
        90,
        AGV,
        now,
    );
    frame::encode_message(&mut wire, h, &registration().into(), 65536).unwrap();
    let rnow = p.rcs_now();
    p.rcs.handle_input(rnow, &wire);
    p.events();
    assert!(
        p.rcs_events
            .iter()
            .any(|e| matches!(e, RcsEvent::RegistrationRequested(_))),
        "a corrected registration is taken: {:?}",
        p.rcs_events
    );
    p.rcs.accept_registration(rnow, ResultCode::Ok).unwrap();
    assert!(p.rcs.is_established());
}

#[test]
fn an_application_refusal_answers_the_frame_and_counts_toward_the_limit() {
    let mut p = normal_pair(OPEN);
    p.run(100);
    assert!(p.established());
    for seq in 0..4 {
        let now = p.rcs_now();
        p.rcs.reject(
            now,
            500 + seq,
            ErrorCode::InvalidField,
            "pose off the map".into(),
        );
    }
    p.run(20);
    let refusals = p
        .agv_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                AgvEvent::PeerError {
                    code: ErrorCode::InvalidField,
                    request_seq
                } if (500..504).contains(request_seq)
            )
        })
        .count();
    assert_eq!(refusals, 4);
    assert!(!p.rcs.is_closed());
    let now = p.rcs_now();
    p.rcs
        .reject(now, 504, ErrorCode::InvalidField, "pose off the map".into());
    p.events();
    assert!(p.rcs.is_closed(), "the fifth refusal within 10 s closes");
}
