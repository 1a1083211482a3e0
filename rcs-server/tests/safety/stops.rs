//! An AGV where the RCS did not put it is stopped at once with every AGV whose space it
//! touches; implausible registrations and reports are refused.

use super::*;

/// An AGV that appears inside another AGV's released path (it reconnected at a pose the RCS did
/// not put it at) is an intruder: within a status period the AGV whose released space it
/// touches and the intruder itself get a SafetyStop, an alarm names both, the episode is in the
/// audit log, and nothing overlapping the intruder is released. The stopped AGV's path is then
/// withdrawn, the stops are cleared, and its task completes around the intruder. (Before: the
/// server only logged, and the first AGV drove into the second.)
#[tokio::test]
async fn an_intruder_stops_every_agv_whose_space_it_touches_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 9, 3).await;
    let state = s.server.state.clone();
    let a = driving(&s, 1, 0.0, 2.0).await;
    let da = a.driver.clone().unwrap();
    da.lock().unwrap().speed = 0.4;
    let t = submit(
        &s,
        json!({ "kind": "move", "destination": grid(8, 1), "agv_id": 1 }),
    )
    .await;
    let id = t["id"].as_u64().unwrap();
    eventually("node (6, 2) released to AGV 1", || {
        reservations(&state, 1).contains(&u64::from(grid(3, 1)))
    })
    .await;
    // AGV 2 turns up at (6, 2), in the middle of AGV 1's released path.
    let mut events = state.events.subscribe();
    let appeared = Instant::now();
    let b = BackgroundAgv::spawn_driving(&s.server, normal_agv(2), Driver::at(6.0, 2.0));
    let db = b.driver.clone().unwrap();
    let (stop_mon, watch) = monitor(vec![da.clone(), db.clone()], 1.0);
    eventually("AGV 1 stopped", || da.lock().unwrap().safety_stopped).await;
    let latency = appeared.elapsed();
    println!("AGV 1 stopped {latency:?} after AGV 2 connected and reported");
    let (op, episode, other) = da.lock().unwrap().stops[0];
    assert_eq!((op, other), (StopOp::Stop, 2));
    eventually("AGV 2 stopped too", || {
        db.lock()
            .unwrap()
            .stops
            .contains(&(StopOp::Stop, episode, 1))
    })
    .await;
    // the alarm names both AGVs
    let mut alarm = None;
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        if e.kind == "safety.overlap" {
            alarm = Some(e);
            break;
        }
    }
    let alarm = alarm.expect("a safety.overlap alarm");
    assert_eq!(alarm.agv_id, Some(2), "{alarm:?}");
    assert_eq!(alarm.detail["others"], json!([1]), "{alarm:?}");
    assert_eq!(alarm.detail["episode"], json!(episode), "{alarm:?}");
    assert!(
        alarm.detail["stopped"]
            .as_array()
            .is_some_and(|a| a.len() == 2),
        "{alarm:?}"
    );
    // resolved: both cleared, the task goes on around AGV 2 and completes
    eventually("AGV 1 cleared", || {
        da.lock()
            .unwrap()
            .stops
            .contains(&(StopOp::Clear, episode, 2))
    })
    .await;
    eventually("AGV 2 cleared", || !db.lock().unwrap().safety_stopped).await;
    da.lock().unwrap().speed = 3.0; // the way around is longer
    wait_task(&s, id, "completed").await;
    stop_mon.store(true, Ordering::Relaxed);
    let closest = watch.await.unwrap();
    println!("closest approach {closest:.2} m");
    // in the audit log
    let (_, log) = call(&s, reqwest::Method::GET, "/api/v1/audit?limit=500", None).await;
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"safety.overlap") && kinds.contains(&"safety.resolved"),
        "{kinds:?}"
    );
    a.stop().await;
    b.stop().await;
    s.stop().await;
}

/// Reads frames until one answers `seq` with an Error; returns its code.
async fn error_for(stream: &mut TcpStream, seq: u32) -> Option<ErrorCode> {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(_)) => {}
        }
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            if let Ok(Message::ErrorReport(e)) =
                Message::decode_body(frame.header.message_type, &frame.body)
                && e.request_seq == seq
            {
                return Some(e.code);
            }
        }
    }
}

/// A valid body of `message` with the f32 `from` replaced by `to` at its first occurrence.
fn patched(message: &Message, from: f32, to: f32) -> Vec<u8> {
    let mut body = BytesMut::new();
    message.encode_body(&mut body).unwrap();
    let mut body = body.to_vec();
    let at = body
        .windows(4)
        .position(|w| w == from.to_le_bytes())
        .expect("the value is in the body");
    body[at..at + 4].copy_from_slice(&to.to_le_bytes());
    body
}

/// Implausible values never become held space: a footprint larger than the site takes or with
/// a negative side, a pose off the site's maps, a battery of −5 % are refused with
/// `InvalidField`. (Before: all were accepted, and one report blocked that space for every
/// task.)
#[tokio::test]
async fn implausible_registrations_and_reports_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Running::start(Config::for_tests(dir.path())).await;
    let state = s.server.state.clone();

    // 30 m on every side: over the site's limits
    let events = run_agv(&s.server, agv_with_footprint(7, 30.0), |_, e| {
        matches!(e, Some(AgvEvent::PeerError { .. }))
    })
    .await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            AgvEvent::PeerError {
                code: ErrorCode::InvalidField,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, AgvEvent::Registered)));
    assert!(state.fleet.get(7).is_none_or(|v| v.footprint.is_none()));

    // front −1 m, rear 1e30 m: against the rules of the message (raw bytes: our encoder refuses)
    let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let access: Message = AccessRequest {
        mode: AccessMode::Normal,
        profile: SecureProfile::Guide,
        min_version: 1,
        max_version: 1,
        key_exchange: None,
    }
    .into();
    let mut wire = BytesMut::new();
    let mut body = BytesMut::new();
    access.encode_body(&mut body).unwrap();
    let h = Header::new(access.message_type(), Flags::ACK_REQUESTED, 1, 8, now_ms());
    encode_raw(&mut wire, h, &body, &[], 65536).unwrap();
    let reg: Message = registration().into();
    let mut body = patched(&reg, 0.5, -1.0);
    let at = body
        .windows(4)
        .position(|w| w == 0.5f32.to_le_bytes())
        .unwrap();
    body[at..at + 4].copy_from_slice(&1e30f32.to_le_bytes());
    let h = Header::new(reg.message_type(), Flags::ACK_REQUESTED, 2, 8, now_ms());
    encode_raw(&mut wire, h, &body, &[], 65536).unwrap();
    stream.write_all(&wire).await.unwrap();
    assert_eq!(
        error_for(&mut stream, 2).await,
        Some(ErrorCode::InvalidField)
    );
    assert!(state.fleet.get(8).is_none_or(|v| v.footprint.is_none()));

    // a pose off the map and a battery of −5 %, from a registered AGV
    let agv = BackgroundAgv::spawn_at(&s.server, normal_agv(9), support::ack_all(), 6.0);
    eventually("AGV 9 holds its footprint", || {
        footprint_width(&state, 9).is_some()
    })
    .await;
    let before = state.fleet.get(9).unwrap().footprint_at;
    let mut off_map = match support::status_at(1000.0, AgvState::Idle) {
        Message::StatusReport(s) => s,
        _ => unreachable!(),
    };
    off_map.pose.y = 1000.0;
    let low: Message = match support::status_at(6.0, AgvState::Idle) {
        Message::StatusReport(mut s) => {
            s.battery_pct = 42.0;
            s.into()
        }
        _ => unreachable!(),
    };
    let bad_battery = patched(&low, 42.0, -5.0);
    agv.silent.store(true, Ordering::Relaxed);
    agv.stop().await;
    // a plain connection as AGV 10 sends both
    let mut stream = TcpStream::connect(s.server.agv_addr).await.unwrap();
    let mut wire = BytesMut::new();
    let h = Header::new(access.message_type(), Flags::ACK_REQUESTED, 1, 10, now_ms());
    let mut body = BytesMut::new();
    access.encode_body(&mut body).unwrap();
    encode_raw(&mut wire, h, &body, &[], 65536).unwrap();
    let h = Header::new(reg.message_type(), Flags::ACK_REQUESTED, 2, 10, now_ms());
    let mut body = BytesMut::new();
    reg.encode_body(&mut body).unwrap();
    encode_raw(&mut wire, h, &body, &[], 65536).unwrap();
    stream.write_all(&wire).await.unwrap();
    eventually_async(|| state.fleet.get(10).is_some_and(|v| v.registered)).await;
    let mut wire = BytesMut::new();
    let off: Message = off_map.into();
    let mut body = BytesMut::new();
    off.encode_body(&mut body).unwrap();
    let h = Header::new(off.message_type(), Flags::NONE, 3, 10, now_ms());
    encode_raw(&mut wire, h, &body, &[], 65536).unwrap();
    stream.write_all(&wire).await.unwrap();
    assert_eq!(
        error_for(&mut stream, 3).await,
        Some(ErrorCode::InvalidField)
    );
    let mut wire = BytesMut::new();
    let h = Header::new(off.message_type(), Flags::NONE, 4, 10, now_ms());
    encode_raw(&mut wire, h, &bad_battery, &[], 65536).unwrap();
    stream.write_all(&wire).await.unwrap();
    assert_eq!(
        error_for(&mut stream, 4).await,
        Some(ErrorCode::InvalidField)
    );
    assert!(
        footprint_width(&state, 10).is_none(),
        "no held space from refused reports"
    );
    assert!(state.fleet.get(10).is_some_and(|v| v.status.is_none()));
    assert_eq!(state.fleet.get(9).unwrap().footprint_at, before);
    s.stop().await;
}

async fn eventually_async(mut cond: impl FnMut() -> bool) {
    eventually("condition", &mut cond).await;
}

/// Two AGVs whose footprints touch cannot be sorted out by withdrawing space: both stay
/// stopped, the episode is listed at `GET /api/v1/safety`, until one is moved away by hand;
/// then both are cleared.
#[tokio::test]
async fn agvs_in_contact_stay_stopped_until_moved_apart() {
    let dir = tempfile::tempdir().unwrap();
    let s = grid_server(&dir, 9, 3).await;
    let state = s.server.state.clone();
    let a = driving(&s, 1, 4.0, 2.0).await;
    let b = BackgroundAgv::spawn_driving(&s.server, normal_agv(2), Driver::at(4.6, 2.0));
    let (da, db) = (a.driver.clone().unwrap(), b.driver.clone().unwrap());
    eventually("both stopped", || {
        da.lock().unwrap().safety_stopped && db.lock().unwrap().safety_stopped
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, open) = call(&s, reqwest::Method::GET, "/api/v1/safety", None).await;
    assert_eq!(status, 200);
    assert_eq!(open.as_array().map(Vec::len), Some(1), "{open}");
    assert_eq!(open[0]["intruder"], 2, "{open}");
    assert_eq!(open[0]["stopped"], json!([2, 1]), "{open}");
    assert!(
        da.lock().unwrap().safety_stopped && db.lock().unwrap().safety_stopped,
        "still stopped: their footprints touch"
    );
    // an operator pushes AGV 2 onto the next node
    db.lock().unwrap().x = 6.0;
    eventually("both cleared", || {
        !da.lock().unwrap().safety_stopped && !db.lock().unwrap().safety_stopped
    })
    .await;
    eventually("no episode open", || state.safety.open().is_empty()).await;
    a.stop().await;
    b.stop().await;
    s.stop().await;
}
