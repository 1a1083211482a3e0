//! Time on the link: a handshake that never completes, a silent peer, a key past its lifetime.

use super::*;

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
