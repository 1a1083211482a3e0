//! The suite's AGV side for the binary protocol: a client session over TCP, the frames the
//! checks send (registration, status, raw and hand-made frames) and the secure handshake.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crypto::session::AgvHandshake;
use crypto::sign::{CachedVerifier, SigningKey, VerifyingKey};
use protocol::frame::{Flags, FrameDecoder, Header, encode_message};
use protocol::message::*;
use protocol::session::{AgvCrypto, AgvEvent, AgvSession, NoCrypto, SessionConfig};
use protocol::types::*;
use sm2::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{CheckResult, Target};
use crate::agv::now_ms;

/// The handshake's random source.
pub(super) type HsRng = rand_core::UnwrapErr<getrandom::SysRng>;

pub(super) struct Client<K: AgvCrypto> {
    pub(super) stream: TcpStream,
    pub(super) session: AgvSession<K>,
    pub(super) events: Vec<AgvEvent>,
    /// Frames the session sent, as written.
    pub(super) sent: Vec<bytes::Bytes>,
    pub(super) closed_by_peer: bool,
}

pub(super) fn registration(id: u32) -> RegisterRequest {
    RegisterRequest {
        agv_type: AgvType::Jacking,
        vendor: "rcs conformance".into(),
        model: "C-1".into(),
        serial: format!("C-{id}"),
        firmware: env!("CARGO_PKG_VERSION").into(),
        footprint: crate::agv::FOOTPRINT,
        speeds: SpeedLimits {
            forward: 1.0,
            reverse: 0.5,
            lateral: 0.0,
            angular: 1.0,
            acceleration: 0.5,
            deceleration: 1.0,
        },
        load_capacity_kg: 100.0,
        navigation_modes: vec![NavigationMode::Slam],
        maps: vec![],
        actuators: vec![],
        battery: BatteryInfo {
            capacity_wh: 500.0,
            nominal_voltage: 24.0,
        },
        extensions: vec![],
    }
}

pub(super) fn status(x: f64, y: f64) -> Message {
    StatusReport {
        localisation_quality: 95,
        battery_pct: 80.0,
        battery_voltage: 24.0,
        ..StatusReport::standing(1, Pose { x, y, theta: 0.0 })
    }
    .into()
}

impl<K: AgvCrypto> Client<K> {
    pub(super) async fn connect(
        target: &Target,
        mut session: AgvSession<K>,
    ) -> Result<Self, String> {
        let stream = TcpStream::connect(target.server)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        session.connect(now_ms()).map_err(|e| e.to_string())?;
        Ok(Self {
            stream,
            session,
            events: Vec::new(),
            sent: Vec::new(),
            closed_by_peer: false,
        })
    }

    /// Runs the session until `done` holds for the events so far, it closes, or `wait` passes.
    pub(super) async fn pump(
        &mut self,
        wait: Duration,
        mut done: impl FnMut(&[AgvEvent]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + wait;
        let mut buf = vec![0u8; 65536];
        loop {
            while let Some(e) = self.session.poll_event() {
                if let AgvEvent::Command { seq, message } = &e {
                    let ack = Ack {
                        request_seq: *seq,
                        request_type: message.message_type(),
                        result: ResultCode::Ok,
                        detail: String::new(),
                    };
                    let _ = self.session.respond(now_ms(), ack.into());
                }
                self.events.push(e);
            }
            while let Some(f) = self.session.poll_transmit() {
                self.sent.push(f.clone());
                if self.stream.write_all(&f).await.is_err() {
                    self.closed_by_peer = true;
                }
            }
            if done(&self.events) {
                return true;
            }
            if self.session.is_closed() || self.closed_by_peer || Instant::now() >= deadline {
                return done(&self.events);
            }
            let wake = self.session.poll_timeout().unwrap_or(now_ms() + 100);
            let sleep = Duration::from_millis(wake.saturating_sub(now_ms()).min(50));
            tokio::select! {
                r = self.stream.read(&mut buf) => match r {
                    Ok(0) | Err(_) => self.closed_by_peer = true,
                    Ok(n) => self.session.handle_input(now_ms(), &buf[..n]),
                },
                () = tokio::time::sleep(sleep) => self.session.handle_timeout(now_ms()),
            }
        }
    }

    pub(super) async fn establish(&mut self) -> CheckResult {
        let ok = self
            .pump(Duration::from_secs(10), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::Configured(_)))
            })
            .await;
        if ok {
            Ok(())
        } else {
            Err(format!("not established: {:?}", self.events))
        }
    }

    /// The link timeout the RCS's configuration push gave (5 s, the default, before one).
    pub(super) fn link_timeout(&self) -> u64 {
        self.events
            .iter()
            .find_map(|e| match e {
                AgvEvent::Configured(cfg) => Some(u64::from(cfg.link_timeout_ms)),
                _ => None,
            })
            .unwrap_or(5000)
    }

    pub(super) fn peer_error(&self, code: ErrorCode) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, AgvEvent::PeerError { code: c, .. } if *c == code))
    }
}

pub(super) fn normal(id: u32) -> AgvSession<NoCrypto> {
    AgvSession::new(
        SessionConfig::default(),
        id,
        AccessMode::Normal,
        SecureProfile::Guide,
        None,
        registration(id),
        now_ms(),
    )
}

pub(super) fn raw_frame(message: &Message, agv: u32, seq: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    let h = Header::new(
        message.message_type(),
        Flags::ACK_REQUESTED,
        seq,
        agv,
        now_ms(),
    );
    encode_message(&mut buf, h, message, 65536).expect("valid message");
    buf
}

/// Reads raw frames until the peer closes or `wait` passes: the error codes received and
/// whether it closed.
pub(super) async fn raw_errors(stream: &mut TcpStream, wait: Duration) -> (Vec<ErrorCode>, bool) {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut codes = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_) => return (codes, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (codes, true),
            Ok(Ok(_)) => {}
        }
        while let Ok(Some(f)) = decoder.decode(&mut buf) {
            match Message::decode_body(f.header.message_type, &f.body) {
                Ok(Message::ErrorReport(e)) => codes.push(e.code),
                Ok(Message::Close(_)) => return (codes, true),
                _ => {}
            }
        }
    }
}

pub(super) async fn secure_session(
    target: &Target,
    id: u32,
    profile: SecureProfile,
    enroll: bool,
) -> Result<AgvSession<AgvHandshake<HsRng>>, String> {
    let key = Arc::new(
        SigningKey::generate(crypto::DEFAULT_ID, &mut crypto::system_rng())
            .map_err(|e| e.to_string())?,
    );
    let api = target.api.as_ref().ok_or("needs --api")?;
    let pem = api.server_key().await.map_err(|e| e.to_string())?;
    let public = sm2::PublicKey::from_public_key_pem(pem.trim()).map_err(|e| e.to_string())?;
    let rcs = Arc::new(CachedVerifier::new(
        VerifyingKey::new(crypto::DEFAULT_ID, public).map_err(|e| e.to_string())?,
    ));
    if enroll {
        let agv_pem = key
            .verifying_key()
            .public_key()
            .to_public_key_pem(sm2::pkcs8::LineEnding::LF)
            .map_err(|e| e.to_string())?;
        api.enroll(id, &agv_pem).await.map_err(|e| e.to_string())?;
    }
    let hs = AgvHandshake::new(key, crypto::DEFAULT_ID, rcs, crypto::system_rng());
    Ok(AgvSession::new(
        SessionConfig::default(),
        id,
        AccessMode::Secure,
        profile,
        Some(hs),
        registration(id),
        now_ms(),
    ))
}
