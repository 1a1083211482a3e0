//! Unit tests of the RCS end's state machine.

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
    assert!(matches!(&sent(&mut s)[0], Message::AccessResponse(r) if r.result == ResultCode::Ok));
    s.handle_input(T0, &access(2, 8));
    let out = sent(&mut s);
    assert!(
        matches!(&out[0], Message::ErrorReport(e) if e.code == ErrorCode::UnexpectedMessage && e.request_seq == 2),
        "{out:?}"
    );
    assert!(matches!(&out[1], Message::Close(c) if c.reason == CloseReason::ProtocolViolation));
    assert!(s.is_closed());
}
