//! Protected frames end to end with the real primitives: a key exchange, channel keys from its
//! `K` and transcript, then `protocol::secure::SecureChannel` on both sides in both profiles,
//! and every refusal of docs/protocol.md 10.3.

use std::sync::Arc;

use bytes::BytesMut;
use crypto::channel::ChannelKeys;
use crypto::kex::{Initiator, Responder};
use crypto::session::SessionCrypto;
use crypto::sign::{CachedVerifier, SigningKey};
use crypto::{DEFAULT_ID, system_rng};
use protocol::frame::{self, Flags, FrameDecoder, FrameRef, Header, MAC_LEN};
use protocol::message::{
    Heartbeat, Message, MessageType, MotionCommand, PathNode, SecureProfile, StatusReport,
    TaskControl, TaskOp,
};
use protocol::secure::{ChannelCrypto, OpenError, SecureChannel};
use protocol::types::{ErrorCode, Pose, TargetAttribute, TaskType};

const AGV: u32 = 42;
const NOW: u64 = 1_764_000_000_000;

struct Pair {
    agv: SecureChannel<SessionCrypto>,
    rcs: SecureChannel<SessionCrypto>,
    agv_crypto: SessionCrypto,
}

/// Static keys of an AGV and an RCS.
type StaticKeys = (Arc<SigningKey>, Arc<SigningKey>);

fn static_keys() -> StaticKeys {
    let mut rng = system_rng();
    (
        Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap()),
        Arc::new(SigningKey::generate(DEFAULT_ID, &mut rng).unwrap()),
    )
}

fn pair(profile: SecureProfile) -> Pair {
    session(&static_keys(), profile)
}

/// A session of these static keys: a fresh key exchange.
fn session((agv_key, rcs_key): &StaticKeys, profile: SecureProfile) -> Pair {
    let mut rng = system_rng();
    let (init, ra) = Initiator::start(&mut rng);
    let (resp, rb, sb) =
        Responder::respond(rcs_key, agv_key.verifying_key(), &ra, &mut rng).unwrap();
    let (ka, sa) = init
        .finish(agv_key, rcs_key.verifying_key(), &rb, &sb)
        .unwrap();
    let kb = resp.confirm(&sa).unwrap();
    // The request and response bodies carry R_A and R_B: every session's transcript differs.
    let transcript: [&[u8]; 2] = [&ra, &rb];
    let agv_crypto = SessionCrypto::new(
        ChannelKeys::derive(&ka, &transcript, true),
        agv_key.clone(),
        Arc::new(CachedVerifier::new(rcs_key.verifying_key().clone())),
    );
    let rcs_crypto = SessionCrypto::new(
        ChannelKeys::derive(&kb, &transcript, false),
        rcs_key.clone(),
        Arc::new(CachedVerifier::new(agv_key.verifying_key().clone())),
    );
    Pair {
        agv: SecureChannel::new(agv_crypto.clone(), profile, AGV, NOW),
        rcs: SecureChannel::new(rcs_crypto, profile, AGV, NOW),
        agv_crypto,
    }
}

fn status() -> Message {
    Message::StatusReport(StatusReport {
        map_id: 1,
        pose: Pose {
            x: 1.0,
            y: 2.0,
            theta: 0.5,
        },
        localisation_quality: 90,
        navigation_mode: protocol::types::NavigationMode::Slam,
        velocity: protocol::message::Velocity {
            vx: 1.0,
            vy: 0.0,
            omega: 0.0,
        },
        state: protocol::types::AgvState::Working,
        battery_pct: 80.0,
        battery_voltage: 48.0,
        charging: false,
        e_stop: false,
        loads: vec![],
        actuators: vec![],
        task_id: 7,
        segment: 0,
        last_node_id: 3,
        last_node_sequence: 2,
        edge_id: 0,
        distance_since_last_node: 0.0,
        grant_id: 0,
        alarms: vec![],
        extensions: vec![],
    })
}

fn motion() -> Message {
    Message::MotionCommand(MotionCommand {
        task_id: 7,
        task_type: TaskType::Move,
        segment: 0,
        map_id: 1,
        nodes: vec![PathNode {
            node_id: 3,
            sequence: 0,
            pose: Pose {
                x: 1.0,
                y: 2.0,
                theta: 0.0,
            },
            attribute: TargetAttribute::Destination,
            actions: vec![],
        }],
        edges: vec![],
        released_nodes: 1,
        max_speed: 1.0,
        extensions: vec![],
    })
}

fn seal(ch: &mut SecureChannel<SessionCrypto>, seq: u32, ts: u64, msg: &Message) -> BytesMut {
    let mut out = BytesMut::new();
    let header = Header::new(msg.message_type(), Flags::ACK_REQUESTED, seq, AGV, ts);
    ch.seal(header, msg, &mut out).unwrap();
    out
}

fn decode(wire: &BytesMut) -> protocol::Frame {
    let mut buf = wire.clone();
    FrameDecoder::default().decode(&mut buf).unwrap().unwrap()
}

fn open(
    ch: &mut SecureChannel<SessionCrypto>,
    f: &protocol::Frame,
    now: u64,
) -> Result<Message, OpenError> {
    let mut slot = Message::Heartbeat(Heartbeat {});
    ch.open(&f.as_ref(), now, &mut slot).map(|_| slot)
}

#[test]
fn every_profile_round_trips_both_ways_with_the_right_tags() {
    for profile in [
        SecureProfile::Guide,
        SecureProfile::Fast,
        SecureProfile::Gcm,
    ] {
        let mut p = pair(profile);
        let wire = seal(&mut p.agv, 1, NOW, &status());
        let f = decode(&wire);
        assert!(f.header.flags.contains(Flags::ENCRYPTED));
        let expect_sig = profile == SecureProfile::Guide;
        assert_eq!(
            f.header.flags.contains(Flags::SIGNED),
            expect_sig,
            "{profile:?}"
        );
        assert_eq!(
            f.header.flags.contains(Flags::MAC),
            !expect_sig,
            "{profile:?}"
        );
        assert!(f.header.flags.contains(Flags::ACK_REQUESTED));
        assert_ne!(&f.body[..2], &[1, 0], "body is encrypted");
        assert_eq!(open(&mut p.rcs, &f, NOW + 5).unwrap(), status());

        // safety-critical commands are signed in every profile
        let wire = seal(&mut p.rcs, 1, NOW, &motion());
        let f = decode(&wire);
        assert!(f.header.flags.contains(Flags::SIGNED), "{profile:?}");
        assert_eq!(open(&mut p.agv, &f, NOW).unwrap(), motion());
    }
}

#[test]
fn tampered_frames_are_refused_and_change_nothing() {
    for profile in [SecureProfile::Fast, SecureProfile::Gcm] {
        let mut p = pair(profile);
        let wire = seal(&mut p.agv, 1, NOW, &status());
        let f = decode(&wire);
        let mut slot = Message::Heartbeat(Heartbeat {});
        // a bit of the body, of the tag, or of the header's timestamp changed
        for at in [0, 3, f.body.len() - 1] {
            let mut body = f.body.to_vec();
            body[at] ^= 1;
            let tampered = FrameRef {
                header: f.header,
                body: &body,
                auth: &f.auth,
            };
            let err = p.rcs.open(&tampered, NOW, &mut slot).unwrap_err();
            assert_eq!(err, OpenError::BadTag, "{profile:?} body[{at}]");
            assert_eq!(err.code(), ErrorCode::BadSignature);
        }
        let mut auth = f.auth.to_vec();
        auth[15] ^= 0x80;
        let tampered = FrameRef {
            header: f.header,
            body: &f.body,
            auth: &auth,
        };
        let err = p.rcs.open(&tampered, NOW, &mut slot).unwrap_err();
        assert_eq!(err, OpenError::BadTag, "{profile:?} tag");
        let mut header = f.header;
        header.timestamp_ms += 1;
        let tampered = FrameRef {
            header,
            body: &f.body,
            auth: &f.auth,
        };
        let err = p.rcs.open(&tampered, NOW, &mut slot).unwrap_err();
        assert_eq!(err, OpenError::BadTag, "{profile:?} header");
        // the refused frames did not consume the sequence number: the genuine one still opens
        assert_eq!(open(&mut p.rcs, &f, NOW).unwrap(), status(), "{profile:?}");
    }
}

#[test]
fn a_frame_of_one_mac_profile_does_not_open_in_the_other() {
    // The fast and gcm profiles set the same flags (ENCRYPTED | MAC); the session's profile
    // decides how the tag is checked, and neither's frame passes the other's check under the
    // same keys.
    for (sent, opened) in [
        (SecureProfile::Gcm, SecureProfile::Fast),
        (SecureProfile::Fast, SecureProfile::Gcm),
    ] {
        let mut p = pair(opened);
        let mut other = SecureChannel::new(p.agv_crypto.clone(), sent, AGV, NOW);
        let f = decode(&seal(&mut other, 1, NOW, &status()));
        assert!(f.header.flags.contains(Flags::MAC));
        assert_eq!(
            open(&mut p.rcs, &f, NOW).unwrap_err(),
            OpenError::BadTag,
            "{sent:?} opened as {opened:?}"
        );
        let f = decode(&seal(&mut p.agv, 1, NOW, &status()));
        assert_eq!(open(&mut p.rcs, &f, NOW).unwrap(), status());
        let replay = open(&mut p.rcs, &f, NOW).unwrap_err();
        assert_eq!(replay, OpenError::Replay { seq: 1 });
    }
}

#[test]
fn replay_skew_agv_id_and_plaintext_are_refused() {
    let mut p = pair(SecureProfile::Guide);
    let f = decode(&seal(&mut p.agv, 1, NOW, &status()));
    open(&mut p.rcs, &f, NOW).unwrap();
    let replay = open(&mut p.rcs, &f, NOW).unwrap_err();
    assert_eq!(replay, OpenError::Replay { seq: 1 });
    assert_eq!(replay.code(), ErrorCode::Replay);

    let late = decode(&seal(&mut p.agv, 2, NOW, &status()));
    let err = open(&mut p.rcs, &late, NOW + 31_000).unwrap_err();
    assert!(matches!(
        err,
        OpenError::TimestampSkew {
            skew_ms: 31_000,
            ..
        }
    ));
    assert_eq!(err.code(), ErrorCode::TimestampSkew);

    let mut other = decode(&seal(&mut p.agv, 3, NOW, &status()));
    other.header.agv_id = 43;
    assert_eq!(
        open(&mut p.rcs, &other, NOW).unwrap_err().code(),
        ErrorCode::AgvIdMismatch
    );

    let mut plain = BytesMut::new();
    let header = Header::new(MessageType::STATUS_REPORT, Flags::NONE, 4, AGV, NOW);
    frame::encode_message(&mut plain, header, &status(), 65536).unwrap();
    let err = open(&mut p.rcs, &decode(&plain), NOW).unwrap_err();
    assert_eq!(err, OpenError::Plaintext);
    assert_eq!(err.code(), ErrorCode::SecureModeRequired);
}

#[test]
fn a_mac_where_a_signature_is_required_is_refused() {
    // A fast-profile peer (or an attacker holding only MAC keys) cannot send motion with a MAC.
    let mut p = pair(SecureProfile::Fast);
    let msg = Message::TaskControl(TaskControl {
        task_id: 7,
        op: TaskOp::Resume,
    });
    let mut body = BytesMut::new();
    msg.encode_body(&mut body).unwrap();
    p.agv_crypto.apply_keystream(true, 1, &mut body);
    let header = Header::new(
        MessageType::TASK_CONTROL,
        Flags::ENCRYPTED | Flags::MAC,
        1,
        AGV,
        NOW,
    );
    let mut signed = BytesMut::new();
    frame::signed_bytes(&mut signed, &header, &body);
    let mac: [u8; MAC_LEN] = p.agv_crypto.mac(&[&signed]);
    let mut wire = BytesMut::new();
    frame::encode_raw(&mut wire, header, &body, &mac, 65536).unwrap();
    let err = open(&mut p.rcs, &decode(&wire), NOW).unwrap_err();
    assert!(matches!(err, OpenError::WrongProtection { .. }));
    assert_eq!(err.code(), ErrorCode::BadSignature);
}

#[test]
fn a_frame_signed_by_another_key_is_refused() {
    let mut p = pair(SecureProfile::Guide);
    let mut q = pair(SecureProfile::Guide);
    let f = decode(&seal(&mut q.agv, 1, NOW, &status()));
    assert_eq!(open(&mut p.rcs, &f, NOW).unwrap_err(), OpenError::BadTag);
}

#[test]
fn a_signed_frame_of_another_session_of_the_same_keys_is_refused() {
    // Found by fuzzing (protocol/fuzz/regressions/secure_channel): the signature covered the
    // header and the encrypted body only, so a signed frame recorded in one session verified
    // in the next one of the same AGV, within the clock skew; there it decrypted to noise, which
    // is a valid message for short bodies (every Heartbeat, a TaskControl one time in 85).
    let keys = static_keys();
    for profile in [
        SecureProfile::Guide,
        SecureProfile::Fast,
        SecureProfile::Gcm,
    ] {
        let mut old = session(&keys, profile);
        let mut new = session(&keys, profile);
        let pause = Message::TaskControl(TaskControl {
            task_id: 7,
            op: TaskOp::Pause,
        });
        for (seq, msg) in [(5, Message::Heartbeat(Heartbeat {})), (6, pause)] {
            let f = decode(&seal(&mut old.rcs, seq, NOW, &msg));
            if profile != SecureProfile::Guide && seq == 5 {
                assert!(f.header.flags.contains(Flags::MAC));
            } else {
                assert!(f.header.flags.contains(Flags::SIGNED));
            }
            assert_eq!(open(&mut old.agv, &f, NOW).unwrap(), msg);
            assert_eq!(open(&mut new.agv, &f, NOW).unwrap_err(), OpenError::BadTag);
        }
    }
}

#[test]
fn rekey_is_due_after_a_day() {
    let p = pair(SecureProfile::Fast);
    assert!(!p.agv.needs_rekey(NOW + 1000));
    assert!(p.agv.needs_rekey(NOW + protocol::secure::REKEY_AFTER_MS));
}

/// The gcm profile's worked example of docs/protocol.md 10.2: a frame sealed by the session
/// (`SecureChannel`) is, byte for byte, the documented vector, and its body and tag are what
/// RustCrypto's generic SM4-GCM (`aes_gcm::AesGcm<sm4::Sm4, U12>`, another implementation)
/// gives for the enc key the KDF of 10.1 derives, the nonce and the header as associated data.
#[test]
fn a_gcm_profile_frame_is_the_documented_vector() {
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use crypto::hash::{kdf, sm3};
    use crypto::kex::SharedKey;
    use protocol::message::Ack;
    use protocol::types::ResultCode;

    let k = SharedKey([0x11; 16]);
    let transcript: [&[u8]; 2] = [b"request body", b"response body"];
    let crypto = SessionCrypto::new(
        ChannelKeys::derive(&k, &transcript, true),
        Arc::new(SigningKey::generate(DEFAULT_ID, &mut system_rng()).unwrap()),
        Arc::new(CachedVerifier::new(
            SigningKey::generate(DEFAULT_ID, &mut system_rng())
                .unwrap()
                .verifying_key()
                .clone(),
        )),
    );
    let mut agv = SecureChannel::new(crypto, SecureProfile::Gcm, 1001, NOW);
    let ack = Message::Ack(Ack {
        request_seq: 7,
        request_type: MessageType::CONFIG_PUSH,
        result: ResultCode::Ok,
        detail: String::new(),
    });
    let header = Header::new(MessageType::ACK, Flags::RESPONSE, 9, 1001, NOW);
    let mut wire = BytesMut::new();
    agv.seal(header, &ack, &mut wire).unwrap();
    let frame = decode(&wire);
    assert_eq!(
        hex::encode(&wire[..]),
        concat!(
            "a55a0115010f09000000e903000000e897b69a0100000900000000000000adc6",
            "ca99acbbf0c6871ecd1760ec9266dc0ac4fcfa365ea720ec6963b61cbf"
        ),
        "the documented frame"
    );

    // the same body and tag from another SM4-GCM
    let mut material = [0u8; 96];
    kdf(&[&k.0, &sm3(&transcript), b"rcs v1 keys"], &mut material);
    let enc: [u8; 16] = material[..16].try_into().unwrap();
    let mut nonce = [0u8; 12];
    nonce[0] = 0x01;
    nonce[4..8].copy_from_slice(&9u32.to_be_bytes());
    let mut aad_header = frame.header;
    aad_header.body_len = frame.body.len() as u32;
    let mut body = BytesMut::new();
    ack.encode_body(&mut body).unwrap();
    let tag = aes_gcm::AesGcm::<sm4::Sm4, U12>::new(&enc.into())
        .encrypt_inout_detached(
            &nonce.into(),
            &aad_header.to_bytes(),
            (&mut body[..]).into(),
        )
        .unwrap();
    assert_eq!(&body[..], &frame.body[..]);
    assert_eq!(&tag[..], &frame.auth[..]);
    assert_eq!(
        frame.header.flags,
        Flags::ENCRYPTED | Flags::MAC | Flags::RESPONSE
    );
}
