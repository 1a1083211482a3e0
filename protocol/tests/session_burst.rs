//! A burst (the frames of seconds read at once, after the peer or the server stalled) grows a
//! session's event and transmit queues to hold it; once they are drained the session keeps no
//! more than [`QUEUE_CAPACITY_KEPT`] entries of room, so 1,000 connections do not each hold
//! the room of the largest burst they have seen (docs/performance.md, soak: 16 MB after one
//! 4-second stall of a 1,000-AGV fleet).

#[path = "support/samples.rs"]
mod samples;

use bytes::{Bytes, BytesMut};
use protocol::frame::{self, Flags, Header};
use protocol::message::{Heartbeat, Message};
use protocol::session::testing::AcceptAll;
use protocol::session::{QUEUE_CAPACITY_KEPT, RcsEvent, RcsSession};

fn wire(out: &mut BytesMut, message: &Message, flags: Flags, seq: u32, now: u64) {
    let h = Header::new(message.message_type(), flags, seq, samples::AGV, now);
    frame::encode_message(out, h, message, 65536).unwrap();
}

/// Hands `input` to the session and drains it as a server does; returns the reports given out.
fn feed(s: &mut RcsSession<AcceptAll>, now: u64, input: &[u8]) -> usize {
    s.handle_input(now, input);
    let mut reports = 0;
    while let Some(event) = s.poll_event() {
        if let RcsEvent::Message {
            message: message @ Message::StatusReport(_),
            ..
        } = event
        {
            reports += 1;
            s.recycle(message);
        }
    }
    while s.poll_transmit().is_some() {}
    reports
}

#[test]
fn a_drained_burst_leaves_no_queue_room_behind() {
    let mut s = samples::established_session();
    let report: Message = samples::status_report().into();
    let mut seq = 10;
    let mut now = samples::T0 + 1000;
    // Steady traffic first: a report and a heartbeat at a time (the queues' usual room).
    for _ in 0..5 {
        let mut input = BytesMut::new();
        wire(&mut input, &report, Flags::NONE, seq, now);
        wire(&mut input, &Heartbeat {}.into(), Flags::NONE, seq + 1, now);
        seq += 2;
        now += 100;
        assert_eq!(feed(&mut s, now, &input), 1);
    }
    // 10 s of reports and heartbeats read at once: 100 events and 100 answers queued.
    let mut burst = BytesMut::new();
    for _ in 0..100 {
        wire(&mut burst, &report, Flags::NONE, seq, now);
        wire(&mut burst, &Heartbeat {}.into(), Flags::NONE, seq + 1, now);
        seq += 2;
    }
    now += 100;
    let mut reports = 0;
    let info = allocation_counter::measure(|| reports = feed(&mut s, now, &burst));
    assert_eq!(reports, 100);
    assert!(!s.is_closed());
    // The queues did grow for the burst...
    let burst_room = 100 * (size_of::<RcsEvent>() + size_of::<Bytes>());
    assert!(info.bytes_max >= burst_room as u64, "{info:?}");
    // ...and hold at most their kept room afterwards (the answers' frames are all freed).
    let kept_room = QUEUE_CAPACITY_KEPT * (size_of::<RcsEvent>() + size_of::<Bytes>());
    assert!(
        info.bytes_current <= kept_room as i64,
        "{} bytes still held after the burst (at most {kept_room}): {info:?}",
        info.bytes_current
    );
    // Steady traffic afterwards reallocates nothing.
    let mut input = BytesMut::new();
    wire(&mut input, &report, Flags::NONE, seq, now);
    wire(&mut input, &Heartbeat {}.into(), Flags::NONE, seq + 1, now);
    let steady = allocation_counter::measure(|| assert_eq!(feed(&mut s, now + 100, &input), 1));
    assert_eq!(steady.bytes_current, 0, "{steady:?}");
    // Nor allocates at all, its answer included: a frame sent is encoded into the memory of
    // those sent and dropped before (one allocation per heartbeat answered, before).
    let mut input = BytesMut::new();
    for k in 0..10 {
        wire(&mut input, &report, Flags::NONE, seq + 2 + 2 * k, now);
        wire(
            &mut input,
            &Heartbeat {}.into(),
            Flags::NONE,
            seq + 3 + 2 * k,
            now,
        );
    }
    let steady = allocation_counter::measure(|| {
        let mut reports = 0;
        for frame in input.chunks(input.len() / 10) {
            reports += feed(&mut s, now + 200, frame);
        }
        assert_eq!(reports, 10);
    });
    assert_eq!(steady.count_total, 0, "{steady:?}");
}
