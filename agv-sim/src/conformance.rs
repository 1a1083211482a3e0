//! The conformance suite: scenario checks of docs/protocol.md against any RCS over TCP. Each
//! check names the spec section it verifies. Checks that need the RCS's HTTP API (enrolling a
//! key, setting a per-AGV policy, reading a map) are skipped without `--api`. With
//! `--mqtt-url`, master-side VDA 5050 checks follow ([`vda5050`]).

/// Runs one check (`$body`: a future of its [`CheckResult`]) and records its outcome in `$out`
/// (a check that needs the API and has none is skipped).
macro_rules! check {
    ($out:expr, $section:expr, $name:expr, $body:expr) => {{
        let started = std::time::Instant::now();
        let r: Result<(), String> = $body.await;
        let (result, detail) = match r {
            Ok(()) => ("pass", String::new()),
            Err(e) if e.starts_with("needs --api") => ("skip", e),
            Err(e) => ("fail", e),
        };
        tracing::info!(
            section = $section,
            check = $name,
            result,
            ms = started.elapsed().as_millis() as u64
        );
        $out.push($crate::conformance::Outcome {
            section: $section,
            check: $name.to_string(),
            result,
            detail,
        });
    }};
}

mod client;
mod secure;
mod vda5050;

use self::client::*;
pub use self::vda5050::MqttTarget;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use protocol::frame::{Flags, FrameDecoder, Header};
use protocol::message::*;
use protocol::session::{AgvEvent, CloseCause};
use protocol::types::*;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::agv::now_ms;
use crate::api::Api;

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Spec section.
    pub section: &'static str,
    /// What is checked.
    pub check: String,
    /// `pass`, `fail` or `skip`.
    pub result: &'static str,
    /// Why it failed or was skipped.
    pub detail: String,
}

/// Where the RCS is.
#[derive(Debug, Clone)]
pub struct Target {
    /// AGV protocol address.
    pub server: SocketAddr,
    /// HTTP API and an admin token, if available.
    pub api: Option<Api>,
    /// AGV ids the suite may use start here (it uses [`IDS_USED`]).
    pub first_id: u32,
    /// Leave the AGVs the suite created in the fleet (else, with the API, they are
    /// decommissioned at the end).
    pub keep_agvs: bool,
    /// The MQTT broker of the RCS's VDA 5050 master control (none: those checks are skipped).
    pub mqtt: Option<MqttTarget>,
}

/// How many AGV ids from [`Target::first_id`] the suite uses (the binary checks', then one
/// VDA 5050 vehicle per version).
pub const IDS_USED: u32 = vda5050::FIRST + vda5050::VEHICLES;

/// How long the clean-up waits for the suite's AGVs to go offline and their grants to end.
const CLEAN_UP_WITHIN: Duration = Duration::from_secs(20);

type CheckResult = Result<(), String>;

/// Runs every check; returns the outcomes in order.
pub async fn run(target: &Target) -> Vec<Outcome> {
    let mut out = Vec::new();
    let id = |n: u32| target.first_id + n;

    check!(
        out,
        "6.1–6.3",
        "normal access, registration and configuration push",
        async {
            let mut c = Client::connect(target, normal(id(0))).await?;
            c.establish().await?;
            if !c.events.iter().any(|e| {
                matches!(
                    e,
                    AgvEvent::Connected {
                        mode: AccessMode::Normal,
                        ..
                    }
                )
            }) {
                return Err("no access response".into());
            }
            Ok(())
        }
    );

    check!(
        out,
        "4.4, 6.3, 9.1",
        "the configuration push's RCS addresses are absent or well-formed",
        async {
            let mut c = Client::connect(target, normal(id(22))).await?;
            // the session's decoder refuses a malformed RcsAddresses extension (InvalidField),
            // so such a push never shows as configured
            c.establish().await.map_err(|e| {
                format!("{e} (a malformed RcsAddresses extension is refused as InvalidField)")
            })?;
            let push = c
                .events
                .iter()
                .find_map(|e| match e {
                    AgvEvent::Configured(p) => Some(p.clone()),
                    _ => None,
                })
                .ok_or("no configuration push")?;
            let list = push.rcs_addresses().map_err(|e| e.to_string())?;
            let twice = push
                .extensions
                .iter()
                .filter(|e| e.key == Extension::RCS_ADDRESSES)
                .count()
                > 1;
            if twice || list.len() > protocol::address::MAX_RCS_ADDRESSES {
                return Err(format!(
                    "{} RcsAddresses extensions, {} addresses",
                    u8::from(twice) + 1,
                    list.len()
                ));
            }
            if !list.is_empty() && c.session.rcs_addresses() != list.as_slice() {
                return Err(format!("the session did not take the list {list:?}"));
            }
            Ok(())
        }
    );

    check!(
        out,
        "6.11",
        "status reports are taken without error",
        async {
            let mut c = Client::connect(target, normal(id(1))).await?;
            c.establish().await?;
            for i in 0..5 {
                c.session
                    .send(now_ms(), status(1.0 + f64::from(i) * 0.01, 1.0), false)
                    .map_err(|e| e.to_string())?;
            }
            c.pump(Duration::from_millis(500), |_| false).await;
            match c
                .events
                .iter()
                .find(|e| matches!(e, AgvEvent::PeerError { .. } | AgvEvent::Closed(_)))
            {
                Some(e) => Err(format!("{e:?}")),
                None => Ok(()),
            }
        }
    );

    check!(
        out,
        "4.1, 6.4",
        "heartbeats keep the link alive past the link timeout",
        async {
            let mut c = Client::connect(target, normal(id(2))).await?;
            c.establish().await?;
            let timeout = c.link_timeout();
            c.pump(Duration::from_millis(timeout + 1000), |_| false)
                .await;
            if c.session.is_closed() || c.closed_by_peer {
                return Err(format!("link dropped: {:?}", c.events));
            }
            Ok(())
        }
    );

    check!(
        out,
        "4.1, 6.11",
        "a streaming AGV is answered on the report that asks and needs no heartbeat",
        async {
            let mut c = Client::connect(target, normal(id(23))).await?;
            c.establish().await?;
            let timeout = c.link_timeout();
            let sent_before = c.sent.len();
            // reports at 10 Hz past the link timeout: the session asks on one report a
            // heartbeat period; an RCS that does not answer gets heartbeats instead
            let until = Instant::now() + Duration::from_millis(timeout + 1000);
            while Instant::now() < until && !c.session.is_closed() && !c.closed_by_peer {
                c.session
                    .send(now_ms(), status(1.0, 1.0), false)
                    .map_err(|e| e.to_string())?;
                c.pump(Duration::from_millis(100), |_| false).await;
            }
            if c.session.is_closed() || c.closed_by_peer {
                return Err(format!("link dropped: {:?}", c.events));
            }
            let (mut asked, mut heartbeats) = (0, 0);
            for f in &c.sent[sent_before..] {
                let mut buf = BytesMut::from(&f[..]);
                let Ok(Some(frame)) = FrameDecoder::default().decode(&mut buf) else {
                    continue;
                };
                match frame.header.message_type {
                    MessageType::HEARTBEAT => heartbeats += 1,
                    MessageType::STATUS_REPORT
                        if frame.header.flags.contains(Flags::ACK_REQUESTED) =>
                    {
                        asked += 1
                    }
                    _ => {}
                }
            }
            if let Some(e) = c
                .events
                .iter()
                .find(|e| matches!(e, AgvEvent::PeerError { .. }))
            {
                return Err(format!("{e:?}"));
            }
            if asked == 0 || heartbeats > 0 {
                return Err(format!(
                    "{asked} reports asked for an answer, {heartbeats} heartbeats followed: \
                     the RCS leaves a StatusReport with ACK_REQUESTED unanswered (4.3)"
                ));
            }
            Ok(())
        }
    );

    check!(
        out,
        "5",
        "a frame with a bad CRC is answered ChecksumMismatch",
        async {
            let mut c = Client::connect(target, normal(id(3))).await?;
            c.establish().await?;
            let mut f = raw_frame(&status(1.0, 1.0), id(3), 9_000);
            let n = f.len();
            f[n - 5] ^= 0x5A;
            c.stream.write_all(&f).await.map_err(|e| e.to_string())?;
            c.pump(Duration::from_secs(2), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::PeerError { .. }))
            })
            .await;
            if c.peer_error(ErrorCode::ChecksumMismatch) {
                Ok(())
            } else {
                Err(format!("{:?}", c.events))
            }
        }
    );

    check!(
        out,
        "5",
        "an unknown message type is answered UnknownMessageType",
        async {
            let mut c = Client::connect(target, normal(id(4))).await?;
            c.establish().await?;
            // a valid frame of an undefined type: an empty body with its CRC
            let mut f = BytesMut::new();
            let mut h = Header::new(
                MessageType(0x7A7A),
                Flags::ACK_REQUESTED,
                9_001,
                id(4),
                now_ms(),
            );
            h.body_len = 0;
            protocol::frame::encode_raw(&mut f, h, &[], &[], 65536).map_err(|e| e.to_string())?;
            c.stream.write_all(&f).await.map_err(|e| e.to_string())?;
            c.pump(Duration::from_secs(2), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::PeerError { .. }))
            })
            .await;
            if c.peer_error(ErrorCode::UnknownMessageType) {
                Ok(())
            } else {
                Err(format!("{:?}", c.events))
            }
        }
    );

    check!(
        out,
        "5",
        "a truncated frame costs at most itself: the stream resynchronises",
        async {
            let mut c = Client::connect(target, normal(id(15))).await?;
            c.establish().await?;
            let f = raw_frame(&status(1.0, 1.0), id(15), 9_100);
            c.stream
                .write_all(&f[..f.len() / 2])
                .await
                .map_err(|e| e.to_string())?;
            // the next frames complete the broken one's announced length, then the decoder
            // resynchronises on the next header
            for i in 0..3 {
                c.session
                    .send(now_ms(), status(1.0 + f64::from(i) * 0.01, 1.0), false)
                    .map_err(|e| e.to_string())?;
            }
            c.pump(Duration::from_millis(800), |_| false).await;
            c.session
                .send(now_ms(), status(1.1, 1.0), false)
                .map_err(|e| e.to_string())?;
            c.pump(Duration::from_millis(800), |_| false).await;
            if c.session.is_closed() || c.closed_by_peer {
                return Err(format!("the session did not survive: {:?}", c.events));
            }
            if !c.peer_error(ErrorCode::ChecksumMismatch) {
                return Err(format!("the broken frame was not reported: {:?}", c.events));
            }
            Ok(())
        }
    );

    for (n, secure, name) in [
        (
            16,
            false,
            "operator commands reach the AGV and its answers come back, normal mode",
        ),
        (
            17,
            true,
            "operator commands reach the AGV and its answers come back, secure mode",
        ),
    ] {
        check!(out, "4.3, 6.5–6.9", name, async {
            let api = target.api.clone().ok_or("needs --api")?;
            let agv = id(n);
            let commands = [
                (
                    serde_json::json!({ "command": "pause" }),
                    MessageType::TASK_CONTROL,
                ),
                (
                    serde_json::json!({ "command": "resume" }),
                    MessageType::TASK_CONTROL,
                ),
                (
                    serde_json::json!({ "command": "cancel" }),
                    MessageType::TASK_CONTROL,
                ),
                (
                    serde_json::json!({ "command": "charge", "charger_node_id": 1 }),
                    MessageType::CHARGE_CONTROL,
                ),
                (
                    serde_json::json!({ "command": "stop_charging" }),
                    MessageType::CHARGE_CONTROL,
                ),
                (
                    serde_json::json!({ "command": "nav_switch", "target": "qr_code", "map_id": 1 }),
                    MessageType::NAV_SWITCH,
                ),
                (
                    serde_json::json!({ "command": "map_switch", "target_map_id": 1, "navigation": "slam",
                    "initial_pose": { "x": 1.0, "y": 1.0, "theta": 0.0 } }),
                    MessageType::MAP_SWITCH,
                ),
                (
                    serde_json::json!({ "command": "param_set", "values": [{ "param": "max_linear_speed", "value": 1.2 }] }),
                    MessageType::PARAM_SET,
                ),
                (
                    serde_json::json!({ "command": "param_query", "params": ["max_linear_speed"] }),
                    MessageType::PARAM_QUERY,
                ),
            ];
            macro_rules! drive_commands {
                ($c:expr) => {{
                    let c = $c;
                    for (body, expected) in commands.iter() {
                        let api = api.clone();
                        let body = body.clone();
                        let call = tokio::spawn(async move { api.command(agv, &body).await });
                        let before = c.events.len();
                        c.pump(Duration::from_secs(3), |ev| {
                            ev[before..].iter().any(|e| matches!(e, AgvEvent::Command { message, .. } if message.message_type() == *expected))
                        })
                        .await;
                        c.pump(Duration::from_millis(200), |_| false).await;
                        let status = call.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
                        if status != 200 {
                            return Err(format!("{expected:?}: HTTP {status}"));
                        }
                    }
                    Ok::<(), String>(())
                }};
            }
            if secure {
                let session = secure_session(target, agv, SecureProfile::Fast, true).await?;
                let mut c = Client::connect(target, session).await?;
                c.establish().await?;
                drive_commands!(&mut c)?;
            } else {
                let mut c = Client::connect(target, normal(agv)).await?;
                c.establish().await?;
                drive_commands!(&mut c)?;
            }
            Ok(())
        });
    }

    check!(
        out,
        "2, 5",
        "an oversized frame is refused from its header (FrameTooLarge) and skipped unbuffered",
        async {
            let mut s = TcpStream::connect(target.server)
                .await
                .map_err(|e| e.to_string())?;
            let mut h = Header::new(
                MessageType::ACCESS_REQUEST,
                Flags::ACK_REQUESTED,
                1,
                id(5),
                now_ms(),
            );
            h.body_len = 16 * 1024 * 1024;
            s.write_all(&h.to_bytes())
                .await
                .map_err(|e| e.to_string())?;
            // a megabyte of the announced body: skipped as it arrives, never buffered
            let filler = vec![0u8; 64 * 1024];
            for _ in 0..16 {
                if s.write_all(&filler).await.is_err() {
                    break;
                }
            }
            let (codes, _) = raw_errors(&mut s, Duration::from_secs(3)).await;
            if codes.contains(&ErrorCode::FrameTooLarge) {
                Ok(())
            } else {
                Err(format!("errors {codes:?}"))
            }
        }
    );

    check!(
        out,
        "4.1",
        "a message before access is refused UnexpectedMessage",
        async {
            let mut s = TcpStream::connect(target.server)
                .await
                .map_err(|e| e.to_string())?;
            s.write_all(&raw_frame(&status(1.0, 1.0), id(6), 1))
                .await
                .map_err(|e| e.to_string())?;
            let (codes, _) = raw_errors(&mut s, Duration::from_secs(2)).await;
            if codes.contains(&ErrorCode::UnexpectedMessage) {
                Ok(())
            } else {
                Err(format!("errors {codes:?}"))
            }
        }
    );

    check!(
        out,
        "4.1",
        "a silent AGV is closed after the link timeout",
        async {
            let mut s = TcpStream::connect(target.server)
                .await
                .map_err(|e| e.to_string())?;
            let (_, closed) = raw_errors(&mut s, Duration::from_secs(12)).await;
            if closed {
                Ok(())
            } else {
                Err("still open after 12 s".into())
            }
        }
    );

    secure::run(target, &mut out).await;

    check!(
        out,
        "6.10",
        "a safe space is granted, and the same space denied to another AGV",
        async {
            let api = target.api.as_ref().ok_or("needs --api")?;
            let (x, y) = api.free_spot(1).await.map_err(|e| e.to_string())?;
            let mut a = Client::connect(target, normal(id(13))).await?;
            a.establish().await?;
            let mut b = Client::connect(target, normal(id(14))).await?;
            b.establish().await?;
            a.session
                .send(now_ms(), status(x, y), false)
                .map_err(|e| e.to_string())?;
            b.session
                .send(now_ms(), status(x + 6.0, y), false)
                .map_err(|e| e.to_string())?;
            a.pump(Duration::from_millis(300), |_| false).await;
            b.pump(Duration::from_millis(300), |_| false).await;
            let ask = |cx: f64| -> Message {
                SpaceRequest {
                    map_id: 1,
                    region: Region::Circle {
                        center: Point { x: cx, y },
                        radius: 1.0,
                    },
                    limit: SpaceLimit::Free,
                    duration_ms: 5_000,
                    reason: SpaceReason::ObstacleAvoidance,
                }
                .into()
            };
            a.session
                .send(now_ms(), ask(x + 1.5), true)
                .map_err(|e| e.to_string())?;
            a.pump(Duration::from_secs(3), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::Response { .. }))
            })
            .await;
            let granted = a.events.iter().find_map(|e| match e {
                AgvEvent::Response {
                    message: Message::SpaceGrant(g),
                    ..
                } => Some(g.grant_id),
                _ => None,
            });
            let Some(grant) = granted else {
                return Err(format!("A not granted: {:?}", a.events));
            };
            b.session
                .send(now_ms(), ask(x + 2.0), true)
                .map_err(|e| e.to_string())?;
            b.pump(Duration::from_secs(3), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::Response { .. }))
            })
            .await;
            let denied = b.events.iter().any(|e| matches!(
            e,
            AgvEvent::Response { message: Message::SpaceDeny(d), .. } if d.reason == DenyReason::Granted
        ));
            a.session
                .send(now_ms(), SpaceRelease { grant_id: grant }.into(), true)
                .map_err(|e| e.to_string())?;
            a.pump(Duration::from_millis(300), |_| false).await;
            if denied {
                Ok(())
            } else {
                Err(format!("B not denied: {:?}", b.events))
            }
        }
    );

    check!(
        out,
        "5",
        "implausible values (a negative footprint side, a battery level of 150 %) are answered InvalidField",
        async {
            // Raw frames: a conforming encoder refuses to write them.
            let patch = |message: &Message, from: f32, to: f32| -> Vec<u8> {
                let mut body = BytesMut::new();
                message.encode_body(&mut body).expect("valid message");
                let mut body = body.to_vec();
                if let Some(at) = body.windows(4).position(|w| w == from.to_le_bytes()) {
                    body[at..at + 4].copy_from_slice(&to.to_le_bytes());
                }
                body
            };
            let raw = |message: &Message, body: &[u8], agv: u32, seq: u32| -> BytesMut {
                let mut f = BytesMut::new();
                let h = Header::new(
                    message.message_type(),
                    Flags::ACK_REQUESTED,
                    seq,
                    agv,
                    now_ms(),
                );
                protocol::frame::encode_raw(&mut f, h, body, &[], 65536).expect("fits");
                f
            };
            let mut stream = TcpStream::connect(target.server)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let mut wire = raw_frame(
                &AccessRequest {
                    mode: AccessMode::Normal,
                    profile: SecureProfile::Guide,
                    min_version: 1,
                    max_version: 1,
                    key_exchange: None,
                }
                .into(),
                id(18),
                1,
            );
            let reg: Message = registration(id(18)).into();
            wire.extend_from_slice(&raw(&reg, &patch(&reg, 0.5, -1.0), id(18), 2));
            stream.write_all(&wire).await.map_err(|e| e.to_string())?;
            let (codes, _) = raw_errors(&mut stream, Duration::from_secs(2)).await;
            if !codes.contains(&ErrorCode::InvalidField) {
                return Err(format!("negative footprint side: {codes:?}"));
            }
            let mut c = Client::connect(target, normal(id(19))).await?;
            c.establish().await?;
            let report = status(1.0, 1.0);
            let f = raw(&report, &patch(&report, 80.0, 150.0), id(19), 9_200);
            c.stream.write_all(&f).await.map_err(|e| e.to_string())?;
            c.pump(Duration::from_secs(2), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::PeerError { .. }))
            })
            .await;
            if c.peer_error(ErrorCode::InvalidField) {
                Ok(())
            } else {
                Err(format!("battery 150 %: {:?}", c.events))
            }
        }
    );

    check!(
        out,
        "6.6",
        "two AGVs reported in one place are both stopped at once (SafetyStop), and cleared once apart",
        async {
            let api = target.api.as_ref().ok_or("needs --api")?;
            let (x, y) = api.free_spot(1).await.map_err(|e| e.to_string())?;
            // between the places the 6.10 check used (x and x + 6)
            let mut a = Client::connect(target, normal(id(20))).await?;
            a.establish().await?;
            a.session
                .send(now_ms(), status(x + 2.5, y), false)
                .map_err(|e| e.to_string())?;
            a.pump(Duration::from_millis(300), |_| false).await;
            let mut b = Client::connect(target, normal(id(21))).await?;
            b.establish().await?;
            b.session
                .send(now_ms(), status(x + 3.0, y), false)
                .map_err(|e| e.to_string())?;
            let stopped = |ev: &[AgvEvent], op: StopOp, other: u32| {
                ev.iter().any(|e| matches!(e, AgvEvent::Command { message: Message::SafetyStop(s), .. } if s.op == op && s.other_agv_id == other))
            };
            b.pump(Duration::from_secs(2), |ev| {
                stopped(ev, StopOp::Stop, id(20))
            })
            .await;
            a.pump(Duration::from_secs(2), |ev| {
                stopped(ev, StopOp::Stop, id(21))
            })
            .await;
            if !stopped(&a.events, StopOp::Stop, id(21))
                || !stopped(&b.events, StopOp::Stop, id(20))
            {
                return Err(format!(
                    "not both stopped: A {:?}; B {:?}",
                    a.events, b.events
                ));
            }
            // B moves (by hand) clear of A
            b.session
                .send(now_ms(), status(x + 4.2, y), false)
                .map_err(|e| e.to_string())?;
            b.pump(Duration::from_secs(3), |ev| {
                stopped(ev, StopOp::Clear, id(20))
            })
            .await;
            a.pump(Duration::from_secs(3), |ev| {
                stopped(ev, StopOp::Clear, id(21))
            })
            .await;
            if stopped(&a.events, StopOp::Clear, id(21))
                && stopped(&b.events, StopOp::Clear, id(20))
            {
                Ok(())
            } else {
                Err(format!(
                    "not both cleared: A {:?}; B {:?}",
                    a.events, b.events
                ))
            }
        }
    );

    if !target.keep_agvs {
        check!(
            out,
            "—",
            "the AGVs the suite created are decommissioned (DELETE /api/v1/agvs/{id})",
            clean_up(target, 0..vda5050::FIRST)
        );
    }
    // (after the clean-up: the VDA 5050 vehicle starts on the free spot the binary checks used)
    vda5050::run(target, &mut out).await;
    if !target.keep_agvs && target.mqtt.is_some() {
        check!(
            out,
            "—",
            "the VDA 5050 vehicles the suite created are decommissioned",
            clean_up(target, vda5050::FIRST..IDS_USED)
        );
    }
    out
}

/// Decommissions the AGVs of the suite's id range that the RCS knows, waiting (up to
/// [`CLEAN_UP_WITHIN`]) for their sessions to end and their grants to expire: nothing the
/// suite made stays in the fleet to block real work.
async fn clean_up(target: &Target, ids: std::ops::Range<u32>) -> CheckResult {
    let api = target.api.as_ref().ok_or("needs --api")?;
    let deadline = Instant::now() + CLEAN_UP_WITHIN;
    let mut left = Vec::new();
    for n in ids {
        let agv = target.first_id.saturating_add(n);
        loop {
            match api.decommission(agv).await {
                Ok(_) => break,
                // still online (its session closing) or holding a grant: it ends soon
                Err(crate::api::ApiError::Status { status: 409, body })
                    if Instant::now() < deadline && !body.contains("agv_has_tasks") =>
                {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    left.push(format!("AGV {agv}: {e}"));
                    break;
                }
            }
        }
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("left in the fleet: {}", left.join("; ")))
    }
}

/// The outcomes as a table.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = format!("{:<13} {:<6} {}\n", "section", "result", "check");
    for o in outcomes {
        s.push_str(&format!("{:<13} {:<6} {}", o.section, o.result, o.check));
        if !o.detail.is_empty() {
            let d: String = o.detail.chars().take(160).collect();
            s.push_str(&format!(" — {d}"));
        }
        s.push('\n');
    }
    let failed = outcomes.iter().filter(|o| o.result == "fail").count();
    let skipped = outcomes.iter().filter(|o| o.result == "skip").count();
    s.push_str(&format!(
        "{} checks: {} passed, {failed} failed, {skipped} skipped\n",
        outcomes.len(),
        outcomes.len() - failed - skipped
    ));
    s
}
