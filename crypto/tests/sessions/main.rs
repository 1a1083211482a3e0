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

mod flows;
mod refusals;
mod timeouts;

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
