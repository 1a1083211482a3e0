//! Liveness without heartbeats while reports flow (docs/protocol.md 4.1): an AGV streaming
//! status reports asks for an answer on a report once it has heard nothing for three quarters
//! of a heartbeat period, instead of sending a Heartbeat; an idle AGV still sends heartbeats;
//! an RCS that leaves three questions in a row unanswered is asked no more and heard through
//! heartbeats as before, and a report is never resent. Both session state machines, joined by
//! a lossless link on a virtual clock.

#[path = "support/samples.rs"]
mod samples;

use bytes::BytesMut;
use protocol::frame::{Flags, FrameDecoder};
use protocol::message::*;
use protocol::session::{
    AgvEvent, AgvSession, NoCrypto, RcsEvent, RcsPolicy, RcsSession, SessionConfig,
};
use protocol::types::*;

use samples::AGV;
use samples::T0;
/// The samples' configuration push: status every 100 ms, heartbeat every 1 s, link timeout 3 s.
const HEARTBEAT_MS: u64 = 1000;

/// What went from the AGV to the RCS, by kind.
#[derive(Debug, Default)]
struct Sent {
    heartbeats: usize,
    reports: usize,
    reports_asking: usize,
}

/// An AGV session and an RCS session on a lossless, instant link, driven on a virtual clock.
struct Pair {
    agv: AgvSession<NoCrypto>,
    rcs: RcsSession<NoCrypto>,
    now: u64,
    /// Whether the RCS answers a report that asks (as rcs-server does; docs/protocol.md 4.1).
    answer_reports: bool,
    sent: Sent,
    agv_events: Vec<AgvEvent>,
}

impl Pair {
    fn established(answer_reports: bool) -> Self {
        let mut agv = AgvSession::new(
            SessionConfig::default(),
            AGV,
            AccessMode::Normal,
            SecureProfile::Guide,
            None,
            samples::register_request(),
            T0,
        );
        let rcs = RcsSession::new(
            SessionConfig::default(),
            RcsPolicy::default(),
            NoCrypto,
            samples::config_push(),
            7,
            T0,
        );
        agv.connect(T0).unwrap();
        let mut pair = Self {
            agv,
            rcs,
            now: T0,
            answer_reports,
            sent: Sent::default(),
            agv_events: Vec::new(),
        };
        pair.pump();
        assert!(pair.agv.is_established() && pair.rcs.is_established());
        pair.sent = Sent::default();
        pair.agv_events.clear();
        pair
    }

    /// Moves frames both ways until nothing moves, answering as the RCS application would.
    fn pump(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            while let Some(b) = self.agv.poll_transmit() {
                let mut buf = BytesMut::from(&b[..]);
                let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
                match frame.message().unwrap() {
                    Message::Heartbeat(_) => self.sent.heartbeats += 1,
                    Message::StatusReport(_) => {
                        self.sent.reports += 1;
                        if frame.header.flags.contains(Flags::ACK_REQUESTED) {
                            self.sent.reports_asking += 1;
                        }
                    }
                    _ => {}
                }
                self.rcs.handle_input(now, &b);
                moved = true;
            }
            while let Some(e) = self.rcs.poll_event() {
                match e {
                    RcsEvent::RegistrationRequested(_) => {
                        self.rcs.accept_registration(now, ResultCode::Ok).unwrap()
                    }
                    RcsEvent::Message {
                        seq,
                        ack_requested: true,
                        message: Message::StatusReport(_),
                    } if self.answer_reports => self
                        .rcs
                        .ack(now, seq, MessageType::STATUS_REPORT, ResultCode::Ok)
                        .unwrap(),
                    _ => {}
                }
            }
            while let Some(b) = self.rcs.poll_transmit() {
                self.agv.handle_input(now, &b);
                moved = true;
            }
            while let Some(e) = self.agv.poll_event() {
                self.agv_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs `ms` of virtual time in 10 ms steps, the AGV sending a report every
    /// `report_every_ms` (none when 0) and acting on its timers.
    fn run(&mut self, ms: u64, report_every_ms: u64) {
        let end = self.now + ms;
        let mut next_report = self.now;
        while self.now < end {
            self.now += 10;
            if self.agv.poll_timeout().is_some_and(|t| t <= self.now) {
                self.agv.handle_timeout(self.now);
            }
            if self.rcs.poll_timeout().is_some_and(|t| t <= self.now) {
                self.rcs.handle_timeout(self.now);
            }
            if report_every_ms > 0 && self.now >= next_report && self.agv.is_established() {
                next_report = self.now + report_every_ms;
                self.agv
                    .send(
                        self.now,
                        Message::StatusReport(samples::status_report()),
                        false,
                    )
                    .unwrap();
            }
            self.pump();
        }
    }

    /// The session events that are not the application's business here (there should be none:
    /// the answer to a report that asked is the session's own).
    fn stray_events(&self) -> Vec<&AgvEvent> {
        self.agv_events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    AgvEvent::Response { .. }
                        | AgvEvent::Unanswered { .. }
                        | AgvEvent::Closed(_)
                        | AgvEvent::LinkLost
                )
            })
            .collect()
    }
}

#[test]
fn a_streaming_agv_asks_on_a_report_about_once_a_period_and_sends_no_heartbeat() {
    let mut pair = Pair::established(true);
    pair.run(20_000, 100);
    let sent = &pair.sent;
    assert_eq!(sent.heartbeats, 0, "{sent:?}");
    assert!((195..=205).contains(&sent.reports), "{sent:?}");
    // a question on the first report after 750 ms without hearing: one every 800 ms
    assert!((24..=26).contains(&sent.reports_asking), "{sent:?}");
    assert!(pair.stray_events().is_empty(), "{:?}", pair.stray_events());
    assert!(pair.agv.is_established() && pair.rcs.is_established());
}

#[test]
fn an_idle_agv_sends_a_heartbeat_every_period() {
    let mut pair = Pair::established(true);
    pair.run(20_000, 0);
    assert!((19..=20).contains(&pair.sent.heartbeats), "{:?}", pair.sent);
    assert!(pair.stray_events().is_empty(), "{:?}", pair.stray_events());
    assert!(pair.agv.is_established());
}

#[test]
fn an_agv_reporting_about_once_a_period_hears_the_rcs_about_once_a_period() {
    // its reports and its heartbeat timer fall due together: whichever goes first asks
    for every in [HEARTBEAT_MS - 100, HEARTBEAT_MS, HEARTBEAT_MS + 300] {
        let mut pair = Pair::established(true);
        pair.run(20_000, every);
        let questions = pair.sent.heartbeats + pair.sent.reports_asking;
        assert!(
            (18..=27).contains(&questions),
            "every {every} ms: {:?}",
            pair.sent
        );
        assert!(pair.stray_events().is_empty(), "{:?}", pair.stray_events());
        assert!(pair.agv.is_established());
    }
}

#[test]
fn an_rcs_that_leaves_reports_unanswered_is_heard_through_heartbeats_and_no_report_is_resent() {
    let mut pair = Pair::established(false);
    pair.run(20_000, 100);
    let sent = &pair.sent;
    // three questions left unanswered, then none; the heartbeats (every period, as for an
    // AGV that never asks) carry the 3 s link throughout
    assert_eq!(sent.reports_asking, 3, "{sent:?}");
    assert!((19..=20).contains(&sent.heartbeats), "{sent:?}");
    // sent once each: a report that asked is not resent, and nothing was unanswered
    assert!((195..=205).contains(&sent.reports), "{sent:?}");
    assert!(pair.stray_events().is_empty(), "{:?}", pair.stray_events());
    assert!(pair.agv.is_established() && pair.rcs.is_established());
}

#[test]
fn a_report_the_application_asks_about_is_answered_to_the_application() {
    // ack_requested by the application: its answer is the application's (a Response event),
    // not taken by the session
    let mut pair = Pair::established(true);
    pair.run(50, 0);
    let seq = pair
        .agv
        .send(
            pair.now,
            Message::StatusReport(samples::status_report()),
            true,
        )
        .unwrap();
    pair.pump();
    assert!(
        pair.agv_events.iter().any(|e| matches!(
            e,
            AgvEvent::Response { request_seq, message: Message::Ack(a) }
                if *request_seq == seq && a.result == ResultCode::Ok
        )),
        "{:?}",
        pair.agv_events
    );
}
