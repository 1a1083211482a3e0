//! Every refusal: replays, tampered frames, unknown or mismatched keys, downgrades, skewed
//! clocks, garbage, implausible registrations and application refusals.

use super::*;

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
