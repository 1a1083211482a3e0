//! A message given back with `RcsSession::recycle` is decoded into by the next frame of its
//! type, reusing its heap capacity: what comes out is exactly what a fresh decode gives,
//! whatever was given back, and a bad frame or a frame of another type does not lose it.

#[path = "support/samples.rs"]
mod samples;

use arbitrary::Unstructured;
use bytes::BytesMut;
use proptest::prelude::*;
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::{Heartbeat, LoadInfo, Message, MessageType, StatusReport};
use protocol::session::testing::AcceptAll;
use protocol::session::{RcsEvent, RcsSession};

fn established() -> RcsSession<AcceptAll> {
    samples::established_session()
}

fn wire(message: &Message, seq: u32, now: u64) -> BytesMut {
    let h = Header::new(message.message_type(), Flags::NONE, seq, samples::AGV, now);
    let mut w = BytesMut::new();
    frame::encode_message(&mut w, h, message, 65536).unwrap();
    w
}

/// Hands one frame to the session; returns the status report it gave out, if any.
fn receive(s: &mut RcsSession<AcceptAll>, message: &Message, seq: u32) -> Option<StatusReport> {
    let now = samples::T0 + 1000 + 100 * u64::from(seq);
    s.handle_input(now, &wire(message, seq, now));
    let mut got = None;
    while let Some(event) = s.poll_event() {
        if let RcsEvent::Message {
            message: Message::StatusReport(r),
            ..
        } = event
        {
            got = Some(r);
        }
    }
    got
}

fn report_with_loads(task_id: u32, loads: &[&str]) -> StatusReport {
    let mut r = samples::status_report();
    r.task_id = task_id;
    r.loads = loads
        .iter()
        .map(|id| LoadInfo {
            load_id: (*id).into(),
            weight_kg: 10.0,
        })
        .collect();
    r
}

#[test]
fn the_next_report_is_decoded_into_the_one_given_back() {
    let mut s = established();
    let first = report_with_loads(1, &["pallet-0001", "pallet-0002", "pallet-0003"]);
    let got = receive(&mut s, &first.clone().into(), 10).expect("a report");
    assert_eq!(got, first);
    let lists = got.loads.as_ptr();
    let load_id = got.loads[0].load_id.as_ptr();
    s.recycle(got.into());

    // Fewer loads with a shorter id: nothing of the old report may show through.
    let second = report_with_loads(2, &["p9"]);
    let got = receive(&mut s, &second.clone().into(), 11).expect("a report");
    assert_eq!(got, second);
    assert_eq!(got.loads.as_ptr(), lists, "the list's buffer was reused");
    assert_eq!(got.loads[0].load_id.as_ptr(), load_id, "the string's too");

    // Not given back: a new report in new buffers, still the same content.
    let third = report_with_loads(3, &["pallet-0004"]);
    let got = receive(&mut s, &third.clone().into(), 12).expect("a report");
    assert_eq!(got, third);
}

#[test]
fn a_bad_frame_or_a_frame_of_another_type_keeps_what_was_given_back() {
    let mut s = established();
    let report = report_with_loads(1, &["pallet-0001", "pallet-0002"]);
    let got = receive(&mut s, &report.clone().into(), 10).expect("a report");
    let lists = got.loads.as_ptr();
    s.recycle(got.into());

    // A replay of sequence number 10: refused with an Error frame, nothing given out.
    assert_eq!(receive(&mut s, &report.clone().into(), 10), None);
    let error = s.poll_transmit().expect("an Error frame");
    let error = FrameDecoder::default()
        .decode(&mut BytesMut::from(&error[..]))
        .expect("a valid frame")
        .expect("a whole frame");
    assert_eq!(error.header.message_type, MessageType::ERROR);
    // A heartbeat (answered, no event) between two reports.
    assert_eq!(receive(&mut s, &Heartbeat {}.into(), 11), None);
    assert!(s.poll_transmit().is_some(), "the heartbeat is answered");

    let next = report_with_loads(2, &["pallet-0003"]);
    let got = receive(&mut s, &next.clone().into(), 12).expect("a report");
    assert_eq!(got, next);
    assert_eq!(
        got.loads.as_ptr(),
        lists,
        "still decoded into what was given back"
    );
    assert!(!s.is_closed());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the application gives back (a message of any type, or nothing), the reports
    /// that come out are the reports that were sent.
    #[test]
    fn recycling_never_changes_what_is_decoded(
        steps in proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..256),
                0..MessageType::ALL.len() + 1,
                proptest::collection::vec(any::<u8>(), 0..128),
            ),
            1..24,
        ),
    ) {
        let mut s = established();
        for (i, (report_bytes, give_back, back_bytes)) in steps.iter().enumerate() {
            let sent = Message::arbitrary_of_type(
                MessageType::STATUS_REPORT,
                &mut Unstructured::new(report_bytes),
            )
            .expect("defined type")
            .expect("generators never fail");
            let seq = 10 + i as u32;
            let got = receive(&mut s, &sent, seq).expect("a report");
            prop_assert_eq!(Message::StatusReport(got.clone()), sent);
            // Given back: the report just decoded, or an arbitrary message of any type.
            match MessageType::ALL.get(*give_back) {
                None => s.recycle(got.into()),
                Some(ty) => {
                    let back = Message::arbitrary_of_type(ty.0, &mut Unstructured::new(back_bytes))
                        .expect("defined type")
                        .expect("generators never fail");
                    s.recycle(back);
                }
            }
            while s.poll_transmit().is_some() {}
        }
        prop_assert!(!s.is_closed());
    }
}
