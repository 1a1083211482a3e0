//! Both ends' sessions exchanging frames in normal mode and in both secure profiles: what
//! flows, what is resent and reported, reports given back, per-AGV policy.

use super::*;

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
fn secure_mode_flows_in_every_profile_and_every_frame_is_protected() {
    let k = keys();
    for (asked, policy, granted) in [
        (SecureProfile::Guide, OPEN, SecureProfile::Guide),
        (SecureProfile::Fast, OPEN, SecureProfile::Fast),
        (SecureProfile::Fast, STRICT, SecureProfile::Guide),
        (SecureProfile::Gcm, OPEN, SecureProfile::Gcm),
        (SecureProfile::Gcm, STRICT, SecureProfile::Guide),
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
                let expect_mac = granted != SecureProfile::Guide;
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
fn a_report_given_back_is_decoded_into_in_every_profile() {
    // The RCS gives each report back (`recycle`): the next one is opened (decrypted,
    // authenticated) into it, its lists' capacity reused, and comes out as sent.
    let k = keys();
    for profile in [
        SecureProfile::Guide,
        SecureProfile::Fast,
        SecureProfile::Gcm,
    ] {
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
