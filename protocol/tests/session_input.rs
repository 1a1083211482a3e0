//! The session's receive path decodes frames borrowed from the bytes handed to `handle_input`,
//! keeping only an incomplete tail: whatever way a stream of frames is cut into reads, the same
//! messages come out, in order, once each.

#[path = "support/samples.rs"]
mod samples;

use bytes::BytesMut;
use protocol::frame::{self, Flags, Header};
use protocol::message::{Message, MessageType};
use protocol::session::testing::AcceptAll;
use protocol::session::{RcsEvent, RcsSession};

fn established() -> RcsSession<AcceptAll> {
    samples::established_session()
}

#[test]
fn every_cut_of_the_stream_gives_the_same_messages() {
    let mut report = samples::status_report();
    let mut stream = BytesMut::new();
    let mut sent = Vec::new();
    for seq in 10..16u32 {
        report.task_id = seq;
        let h = Header::new(
            MessageType::STATUS_REPORT,
            Flags::NONE,
            seq,
            samples::AGV,
            samples::T0,
        );
        frame::encode_message(&mut stream, h, &report.clone().into(), 65536).unwrap();
        sent.push(report.clone());
    }
    let frame_len = stream.len() / sent.len();
    for cut in [
        1usize,
        2,
        7,
        31,
        32,
        33,
        frame_len - 1,
        frame_len,
        frame_len + 1,
        500,
        stream.len(),
    ] {
        let mut s = established();
        let mut got = Vec::new();
        for (i, read) in stream.chunks(cut).enumerate() {
            s.handle_input(samples::T0 + 1 + i as u64, read);
            while let Some(event) = s.poll_event() {
                if let RcsEvent::Message {
                    message: Message::StatusReport(r),
                    ..
                } = event
                {
                    got.push(r);
                }
            }
        }
        assert_eq!(got, sent, "reads of {cut} bytes");
        assert!(!s.is_closed());
    }
}
