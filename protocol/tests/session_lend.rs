//! `RcsSession::peek_message` lends the message of the next event where the session decoded it
//! (no move); `consume_message` drops that event. Whatever way and whenever the application
//! takes its events (lent, moved out with `poll_event`, given back or not, after each read or
//! after several), it gets every message the AGV sent, once, in order.

#[path = "support/samples.rs"]
mod samples;

use arbitrary::Unstructured;
use bytes::BytesMut;
use proptest::prelude::*;
use protocol::frame::{self, Flags, Header};
use protocol::message::{Heartbeat, Message, MessageType, ParamQueryResponse, StatusReport};
use protocol::session::testing::AcceptAll;
use protocol::session::{RcsEvent, RcsSession};

fn wire(out: &mut BytesMut, message: &Message, seq: u32) {
    let now = samples::T0 + 1000 + 100 * u64::from(seq);
    let h = Header::new(message.message_type(), Flags::NONE, seq, samples::AGV, now);
    frame::encode_message(out, h, message, 65536).unwrap();
}

fn now() -> u64 {
    samples::T0 + 100_000
}

fn report(task_id: u32, load: &str) -> StatusReport {
    let mut r = samples::status_report();
    r.task_id = task_id;
    r.loads[0].load_id = load.into();
    r
}

#[test]
fn a_report_is_lent_where_it_was_decoded_and_the_next_one_decoded_into_it() {
    let mut s = samples::established_session();
    let mut first_buffers = None;
    for (seq, load) in [(10, "pallet-0001"), (11, "pallet-0001"), (12, "p2")] {
        let sent = report(seq, load);
        let mut w = BytesMut::new();
        wire(&mut w, &sent.clone().into(), seq);
        s.handle_input(now(), &w);
        let (got_seq, ack_requested, message) = s.peek_message().expect("a report lent");
        assert_eq!((got_seq, ack_requested), (seq, false));
        let Message::StatusReport(got) = message else {
            panic!("not a report: {message:?}")
        };
        assert_eq!(*got, sent);
        let buffers = (got.loads.as_ptr(), got.loads[0].load_id.as_ptr());
        match first_buffers {
            None => first_buffers = Some(buffers),
            Some(first) => assert_eq!(buffers, first, "decoded into the report lent before"),
        }
        s.consume_message();
        assert!(s.peek_message().is_none(), "consumed: lent once");
        assert!(s.poll_event().is_none(), "consumed: no event left");
    }
}

#[test]
fn a_report_not_consumed_comes_out_of_poll_event() {
    let mut s = samples::established_session();
    let sent = report(7, "pallet-0007");
    let mut w = BytesMut::new();
    wire(&mut w, &sent.clone().into(), 10);
    s.handle_input(now(), &w);
    assert!(s.peek_message().is_some());
    s.consume_message();
    // Nothing lent now: consuming again drops nothing.
    s.consume_message();
    let mut w = BytesMut::new();
    wire(&mut w, &sent.clone().into(), 12);
    s.handle_input(now(), &w);
    assert!(s.peek_message().is_some());
    match s.poll_event() {
        Some(RcsEvent::Message {
            seq: 12,
            ack_requested: false,
            message: Message::StatusReport(got),
        }) => assert_eq!(got, sent),
        other => panic!("expected the report, got {other:?}"),
    }
    assert!(s.peek_message().is_none());
    s.consume_message();
    assert!(s.poll_event().is_none());
}

#[test]
fn nothing_is_lent_while_another_event_comes_first() {
    let mut s = samples::established_session();
    // One read: a report, an answer (a Response event), another report.
    let answer: Message = ParamQueryResponse {
        request_seq: 77,
        result: protocol::types::ResultCode::Ok,
        values: vec![],
    }
    .into();
    let mut w = BytesMut::new();
    wire(&mut w, &report(1, "a").into(), 10);
    wire(&mut w, &answer, 11);
    wire(&mut w, &report(2, "b").into(), 12);
    s.handle_input(now(), &w);
    // The first report waits in the queue (a frame after it was decoded), and so comes out of
    // `poll_event`; the last one is lent only once the events before it are taken.
    assert!(s.peek_message().is_none());
    match s.poll_event() {
        Some(RcsEvent::Message {
            seq: 10,
            message: Message::StatusReport(r),
            ..
        }) => assert_eq!(r, report(1, "a")),
        other => panic!("expected the first report, got {other:?}"),
    }
    assert!(s.peek_message().is_none());
    match s.poll_event() {
        Some(RcsEvent::Response {
            request_seq: 77,
            message,
        }) => assert_eq!(message, answer),
        other => panic!("expected the answer, got {other:?}"),
    }
    let (seq, _, message) = s.peek_message().expect("the last report, lent");
    assert_eq!((seq, &*message), (12, &Message::from(report(2, "b"))));
    s.consume_message();
    assert!(s.poll_event().is_none());
}

#[test]
fn a_message_given_back_while_one_is_lent_does_not_replace_it() {
    let mut s = samples::established_session();
    let mut w = BytesMut::new();
    wire(&mut w, &report(1, "a").into(), 10);
    s.handle_input(now(), &w);
    let Some(RcsEvent::Message { message, .. }) = s.poll_event() else {
        panic!("a report")
    };
    s.recycle(message);
    let mut w = BytesMut::new();
    wire(&mut w, &report(2, "b").into(), 11);
    s.handle_input(now(), &w);
    // The report is lent from the message given back; another given back now must not
    // overwrite it.
    s.recycle(report(99, "zz").into());
    let (_, _, message) = s.peek_message().expect("a report lent");
    assert_eq!(*message, Message::from(report(2, "b")));
}

/// What the AGV sends in the property below.
#[derive(Debug, Clone)]
enum Sent {
    /// A status report (an event, lent when it is the last of a read).
    Report(Vec<u8>),
    /// A task progress report: another message for the application.
    Progress(Vec<u8>),
    /// An answer to a command (a `Response` event).
    Answer(u32),
    /// A heartbeat: answered by the session, no event.
    Heartbeat,
    /// The previous frame again: refused as a replay, no event.
    Replay,
}

fn sent_strategy() -> impl Strategy<Value = Sent> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..96).prop_map(Sent::Report),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Sent::Progress),
        1 => (1u32..1000).prop_map(Sent::Answer),
        1 => Just(Sent::Heartbeat),
        1 => Just(Sent::Replay),
    ]
}

fn arbitrary(ty: MessageType, bytes: &[u8]) -> Message {
    Message::arbitrary_of_type(ty, &mut Unstructured::new(bytes))
        .expect("defined type")
        .expect("generators never fail")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The byte stream cut anywhere, the events taken after any read in any of the ways the
    /// API allows: the application gets exactly the messages sent, in order.
    #[test]
    fn every_message_comes_out_once_in_order_however_it_is_taken(
        sent in proptest::collection::vec(sent_strategy(), 1..32),
        cuts in proptest::collection::vec(1usize..400, 1..40),
        ways in proptest::collection::vec(0u8..5, 1..40),
    ) {
        let mut s: RcsSession<AcceptAll> = samples::established_session();
        let mut stream = BytesMut::new();
        let mut expected = Vec::new();
        let mut seq = 10;
        let mut last: Option<Message> = None;
        let mut replays = 0;
        for item in &sent {
            let message = match item {
                Sent::Report(b) => arbitrary(MessageType::STATUS_REPORT, b),
                Sent::Progress(b) => arbitrary(MessageType::TASK_PROGRESS, b),
                Sent::Answer(request_seq) => ParamQueryResponse {
                    request_seq: *request_seq,
                    result: protocol::types::ResultCode::Ok,
                    values: vec![],
                }
                .into(),
                Sent::Heartbeat => Heartbeat {}.into(),
                Sent::Replay => {
                    // At most two (the error budget is five), and only after a frame.
                    if let Some(m) = last.clone().filter(|_| replays < 2) {
                        replays += 1;
                        wire(&mut stream, &m, seq - 1);
                    }
                    continue;
                }
            };
            if !matches!(item, Sent::Heartbeat) {
                expected.push(message.clone());
            }
            wire(&mut stream, &message, seq);
            seq += 1;
            last = Some(message);
        }

        let mut got: Vec<Message> = Vec::new();
        let mut at = 0;
        let mut step = 0;
        while at < stream.len() {
            let n = cuts[step % cuts.len()].min(stream.len() - at);
            s.handle_input(now(), &stream[at..at + n]);
            at += n;
            let way = ways[step % ways.len()];
            step += 1;
            take(&mut s, way, &mut got, at == stream.len());
            while s.poll_transmit().is_some() {}
        }
        prop_assert!(!s.is_closed());
        prop_assert_eq!(got, expected);
    }
}

/// Takes the session's events one way (`way`), or leaves them for later (way 4), except after
/// the last read.
fn take(s: &mut RcsSession<AcceptAll>, way: u8, got: &mut Vec<Message>, last_read: bool) {
    let way = if last_read && way == 4 { 0 } else { way };
    loop {
        match way {
            // Lent when it can be, consumed.
            0 | 1 => {
                if let Some((_, _, message)) = s.peek_message() {
                    got.push(message.clone());
                    s.consume_message();
                    continue;
                }
            }
            // Looked at, not consumed: `poll_event` then moves it out.
            2 => {
                let _ = s.peek_message();
            }
            4 => return,
            _ => {}
        }
        match s.poll_event() {
            Some(RcsEvent::Message { message, .. }) => {
                got.push(message.clone());
                if way == 1 || way == 3 {
                    s.recycle(message);
                }
            }
            Some(RcsEvent::Response { message, .. }) => got.push(message),
            Some(other) => panic!("unexpected {other:?}"),
            None => return,
        }
    }
}
