//! The seed inputs of every target: the golden vectors, the sample sites, and sessions run end
//! to end (recorded as each end's input) so the fuzzer starts behind the handshake.
//! `cargo run -p fuzz-targets --example seeds -- DIR` writes them to `DIR/<target>/`.

use std::path::Path;

use bytes::BytesMut;
use protocol::frame::FrameDecoder;
use protocol::message::{AccessMode, Message, SecureProfile, TaskControl, TaskOp};
use protocol::session::testing::AcceptAll;
use protocol::session::{AgvEvent, AgvSession, RcsEvent, RcsPolicy, RcsSession, SessionConfig};
use protocol::types::{CloseReason, ResultCode};

use crate::sessions::{AGV, T0, config_push, registration, status};

/// A target's name and its seeds.
pub type Seeds = (&'static str, Vec<Vec<u8>>);

/// The seeds of every target, by target name. `root` is the workspace's directory (the golden
/// vectors and sample sites are read from it).
pub fn seeds(root: &Path) -> std::io::Result<Vec<Seeds>> {
    let vectors = golden_vectors(root)?;
    Ok(vec![
        ("frame_decoder", frame_decoder(&vectors)),
        ("message_roundtrip", message_roundtrip(&vectors)),
        ("rcs_session", rcs_session()),
        ("agv_session", agv_session()),
        ("secure_handshake", secure_handshake()),
        ("secure_channel", secure_channel()),
        ("site_files", site_files(root)?),
        ("vda5050", vda5050(root)?),
        ("sm2_verify", crate::signatures::seeds()),
    ])
}

/// Every frame of `protocol/tests/vectors/*.hex`, in name order.
pub fn golden_vectors(root: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let dir = root.join("protocol/tests/vectors");
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "hex"));
    paths.sort();
    paths
        .iter()
        .map(|p| Ok(from_hex(&std::fs::read_to_string(p)?)))
        .collect()
}

fn from_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .chars()
        .filter_map(|c| c.to_digit(16))
        .map(|d| d as u8)
        .collect();
    digits.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect()
}

fn frame_decoder(vectors: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vectors.iter().map(|v| [&[255][..], v].concat()).collect();
    // all of them in one stream, fed 7 bytes at a time
    out.push([vec![7], vectors.concat()].concat());
    out
}

fn message_roundtrip(vectors: &[Vec<u8>]) -> Vec<Vec<u8>> {
    vectors
        .iter()
        .filter_map(|v| {
            let mut buf = BytesMut::from(&v[..]);
            let f = FrameDecoder::default().decode(&mut buf).ok()??;
            Some([&f.header.message_type.0.to_le_bytes()[..], &f.body].concat())
        })
        .collect()
}

/// Input in the sessions' chunk format: `[len, step]` headers, steps in 10 ms.
#[derive(Default)]
struct Recording {
    bytes: Vec<u8>,
    last: u64,
}

impl Recording {
    fn record(&mut self, now: u64, frame: &[u8]) {
        let mut step = (now - self.last) / 10;
        self.last = now;
        for piece in frame.chunks(255) {
            // longer pauses become empty chunks
            while step > 255 {
                self.bytes.extend_from_slice(&[0, 255]);
                step -= 255;
            }
            self.bytes.push(piece.len() as u8);
            self.bytes.push(step as u8);
            self.bytes.extend_from_slice(piece);
            step = 0;
        }
    }
}

/// An AGV and an RCS session (accept-all provider) run through access, registration,
/// configuration, status reports, commands, heartbeats and a close by the other end; returns
/// what `to_agv` (else the RCS) received.
fn record(
    to_agv: bool,
    agv_mode: AccessMode,
    profile: SecureProfile,
    push_addresses: bool,
) -> Vec<u8> {
    let mut now = T0;
    let mut agv = AgvSession::new(
        SessionConfig::default(),
        AGV,
        agv_mode,
        profile,
        Some(AcceptAll),
        registration(),
        now,
    );
    let mut push = config_push();
    if push_addresses {
        push.set_rcs_addresses(&[
            "10.0.1.12:7700".parse().expect("an address"),
            "[fd00::11]:7700".parse().expect("an address"),
        ])
        .expect("two addresses");
    }
    let policy = RcsPolicy {
        secure_required: agv_mode == AccessMode::Secure,
        ..RcsPolicy::default()
    };
    let mut rcs = RcsSession::new(SessionConfig::default(), policy, AcceptAll, push, 1, now);
    let (mut to_agv_rec, mut to_rcs_rec) = (Recording::default(), Recording::default());
    to_agv_rec.last = now;
    to_rcs_rec.last = now;
    agv.connect(now).expect("connects");
    let mut exchange =
        |now: u64, agv: &mut AgvSession<AcceptAll>, rcs: &mut RcsSession<AcceptAll>| {
            for _ in 0..8 {
                if agv.poll_timeout().is_some_and(|t| t <= now) {
                    agv.handle_timeout(now);
                }
                if rcs.poll_timeout().is_some_and(|t| t <= now) {
                    rcs.handle_timeout(now);
                }
                while let Some(frame) = agv.poll_transmit() {
                    to_rcs_rec.record(now, &frame);
                    rcs.handle_input(now, &frame);
                }
                while let Some(frame) = rcs.poll_transmit() {
                    to_agv_rec.record(now, &frame);
                    agv.handle_input(now, &frame);
                }
                while let Some(e) = rcs.poll_event() {
                    match e {
                        RcsEvent::RegistrationRequested(_) => {
                            rcs.accept_registration(now, ResultCode::Ok)
                                .expect("registering");
                        }
                        RcsEvent::Message {
                            seq,
                            ack_requested: true,
                            message,
                        } => {
                            let _ = rcs.ack(now, seq, message.message_type(), ResultCode::Ok);
                        }
                        _ => {}
                    }
                }
                while let Some(e) = agv.poll_event() {
                    if let AgvEvent::Command { seq, message } = e {
                        let _ = agv.ack(now, seq, message.message_type(), ResultCode::Ok);
                    }
                }
            }
        };
    exchange(now, &mut agv, &mut rcs);
    for n in 1..=4 {
        now += 100;
        let _ = agv.send(now, status(n), n % 2 == 0);
        if n == 2 {
            let command: Message = TaskControl {
                task_id: 9,
                op: TaskOp::Pause,
            }
            .into();
            let _ = rcs.send_command(now, command);
        }
        exchange(now, &mut agv, &mut rcs);
    }
    // quiet: heartbeats
    for _ in 0..3 {
        now += 1000;
        exchange(now, &mut agv, &mut rcs);
    }
    if to_agv {
        rcs.close(now, CloseReason::Shutdown);
    } else {
        agv.close(now, CloseReason::Shutdown);
    }
    exchange(now, &mut agv, &mut rcs);
    if to_agv {
        to_agv_rec.bytes
    } else {
        to_rcs_rec.bytes
    }
}

fn rcs_session() -> Vec<Vec<u8>> {
    let normal = record(false, AccessMode::Normal, SecureProfile::Guide, false);
    let secure = record(false, AccessMode::Secure, SecureProfile::Guide, false);
    let fast = record(false, AccessMode::Secure, SecureProfile::Fast, false);
    vec![
        [&[0][..], &normal].concat(),
        [&[2][..], &normal].concat(),
        [&[8][..], &normal].concat(),
        [&[1][..], &secure].concat(),
        [&[1][..], &fast].concat(),
    ]
}

fn agv_session() -> Vec<Vec<u8>> {
    let normal = record(true, AccessMode::Normal, SecureProfile::Guide, false);
    let addresses = record(true, AccessMode::Normal, SecureProfile::Guide, true);
    let secure = record(true, AccessMode::Secure, SecureProfile::Guide, false);
    let fast = record(true, AccessMode::Secure, SecureProfile::Fast, false);
    vec![
        [&[0][..], &normal].concat(),
        [&[8][..], &addresses].concat(),
        [&[1][..], &secure].concat(),
        [&[3][..], &fast].concat(),
        [&[5][..], &secure].concat(),
    ]
}

/// Operation bytes of `secure_handshake` (direction bit 0).
mod op {
    pub const DELIVER_ALL: u8 = 7 << 1;
    pub const AGV_SENDS: u8 = 6 << 1;
    pub const RCS_SENDS: u8 = 6 << 1 | 1;
    pub const WAIT: u8 = 5 << 1;
    pub const TAMPER_TO_RCS: u8 = 3 << 1;
    pub const REPLAY_TO_RCS: u8 = 2 << 1;
    pub const INJECT_TO_AGV: u8 = 4 << 1 | 1;
}

fn secure_handshake() -> Vec<Vec<u8>> {
    use op::*;
    let session = [
        DELIVER_ALL,
        AGV_SENDS,
        AGV_SENDS,
        RCS_SENDS,
        DELIVER_ALL,
        WAIT,
        20,
        DELIVER_ALL,
        AGV_SENDS,
        RCS_SENDS,
        DELIVER_ALL,
        WAIT,
        40,
        DELIVER_ALL,
    ];
    let mut out = Vec::new();
    // [config, skew, tweak, index, xor]: guide and fast profile, normal mode, a skewed clock,
    // keys not enrolled or wrong, tiny key limits
    for header in [
        [0, 0, 8, 0, 0],
        [3, 0, 8, 0, 0],
        [8, 0, 8, 0, 0],
        [12, 0, 8, 0, 0],
        [3, 40, 8, 0, 0],
        [32, 0, 8, 0, 0],
        [64, 0, 8, 0, 0],
        [19, 0, 8, 0, 0],
    ] {
        out.push([&header[..], &session].concat());
    }
    // each handshake value altered
    for tweak in 1..=7 {
        out.push([&[3, 0, tweak, 5, 1][..], &session].concat());
    }
    // a tampered and a replayed frame after the handshake, an injected heartbeat
    let mut attacks = vec![3, 0, 8, 0, 0, DELIVER_ALL, AGV_SENDS, TAMPER_TO_RCS, 9, 1];
    attacks.extend([AGV_SENDS, DELIVER_ALL, REPLAY_TO_RCS, INJECT_TO_AGV, 36]);
    attacks.extend(from_hex(
        "a55a0108010404000000e9030000e8eb97b69a010000000000000000000000ce8200000000",
    ));
    attacks.push(DELIVER_ALL);
    out.push(attacks);
    out
}

/// Both profiles: each end seals a few messages (the golden vectors' bodies, as arbitrary
/// input), then everything is delivered, one frame replayed, one tampered with, one late.
fn secure_channel() -> Vec<Vec<u8>> {
    const SEAL: u8 = 0;
    const DELIVER: u8 = 1 << 1;
    const TAMPER: u8 = 2 << 1;
    const WAIT: u8 = 3 << 1;
    const INJECT: u8 = 4 << 1;
    const DELIVER_ALL: u8 = 5 << 1;
    let bodies: Vec<&[u8]> = vec![
        b"\x05\x00\x01\x00\x00\x00status",
        b"\x11\x00\x07\x00\x00\x00\x01\x00\x00\x00motion-command-bytes",
        b"\x20\x00\x09\x00\x00\x00\x02grant",
        b"\x02\x00heartbeat",
    ];
    let mut ops = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        ops.extend([SEAL | (i as u8 & 1), 0, i as u8, body.len() as u8]);
        ops.extend_from_slice(body);
    }
    ops.extend([
        DELIVER,
        0,
        DELIVER | 1,
        1,
        DELIVER_ALL,
        DELIVER,
        0,
        TAMPER,
        2,
        5,
        1,
    ]);
    ops.extend([
        SEAL,
        1,
        1,
        4,
        1,
        2,
        3,
        4,
        WAIT,
        40,
        DELIVER_ALL,
        INJECT | 1,
        3,
        0xA5,
        0x5A,
        1,
    ]);
    let mut out = vec![[&[0][..], &ops].concat(), [&[1][..], &ops].concat()];
    // one message of each type sealed by the RCS of an earlier session, all sent to this one
    let mut earlier = vec![0];
    for ty in 0..40 {
        earlier.extend([SEAL | 1, 0, 0x80, 1, ty]);
    }
    earlier.push(DELIVER_ALL);
    out.push(earlier);
    out
}

/// The demo site and `fuzz-targets/seeds/site` (small, with every kind of node, edge, area, a
/// lift and a link; the larger sample site is too slow to fuzz).
fn site_files(root: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for (dir, maps) in [
        ("maps/sites/demo", &["hall.toml"][..]),
        (
            "fuzz-targets/seeds/site",
            &["a.toml", "b.toml", "c.toml"][..],
        ),
    ] {
        let dir = root.join(dir);
        let site = std::fs::read_to_string(dir.join("site.toml"))?;
        let maps = maps
            .iter()
            .map(|m| std::fs::read_to_string(dir.join(m)))
            .collect::<Result<Vec<_>, _>>()?;
        let maps: Vec<&str> = maps.iter().map(String::as_str).collect();
        out.push(crate::site::join(&site, &maps));
    }
    Ok(out)
}

/// The official example messages (`../shared/vda5050/` beside the workspace: states and orders
/// of 2.1 and 3.0), and a connection and an instant action message of every version.
fn vda5050(root: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    use crate::vda5050::selector;
    use vda5050::action::{self, Action};
    use vda5050::{Connection, ConnectionState, Header, InstantActions, Version};
    let shared = root.join("../shared/vda5050");
    let mut out = Vec::new();
    for (file, version, kind) in [
        ("state_example.json", Version::V2_1, 0),
        ("state_example_v3.json", Version::V3_0, 0),
        ("order_example.json", Version::V2_1, 3),
        ("order_example_v3.json", Version::V3_0, 3),
    ] {
        let mut seed = vec![selector(version, kind)];
        seed.extend(std::fs::read(shared.join(file))?);
        out.push(seed);
    }
    for version in Version::ALL {
        let header = Header::new(version, 1, 1_764_745_203_120, "Acme", "SN-1");
        let connection = Connection {
            header: header.clone(),
            connection_state: ConnectionState::Online,
        };
        let instant = InstantActions {
            header,
            actions: vec![Action::instant(action::CANCEL_ORDER, "c-1")],
        };
        for (kind, json) in [(1, connection.to_json()), (4, instant.to_json())] {
            let mut seed = vec![selector(version, kind)];
            seed.extend(json.map_err(std::io::Error::other)?);
            out.push(seed);
        }
    }
    Ok(out)
}
