//! A harness for instruction counts (callgrind), which the shared machine's timing noise does
//! not move: runs one decode path `N` times over the golden status report.
//!
//! `valgrind --tool=callgrind --toggle-collect='*measured*' target/release/examples/decode_cost
//! PATH N` with N = 1 and N = 10001: the difference of the totals over 10,000 is the path's
//! instructions per frame.
//! PATH: `lent` (an established `RcsSession`: handle_input, then the report read where the
//! session decoded it, `peek_message` + `consume_message`: what rcs-server does per status
//! frame), `session` (handle_input + poll_event, a new message per frame), `recycled` (the
//! same, each message given back with `RcsSession::recycle`), `borrowed` (`decode_slice` +
//! `message_into`), `owned`
//! (`FrameDecoder::decode` + `message`), `json` (serde_json of the VDA 5050 state, the
//! baseline).

#[path = "../tests/support/samples.rs"]
mod samples;
#[path = "../benches/vda5050/mod.rs"]
mod vda5050;

use std::hint::black_box;

use bytes::BytesMut;
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::Message;
use protocol::session::RcsEvent;

fn wire(message: &Message, seq: u32, now: u64) -> BytesMut {
    let h = Header::new(message.message_type(), Flags::NONE, seq, samples::AGV, now);
    let mut wire = BytesMut::new();
    frame::encode_message(&mut wire, h, message, 65536).unwrap();
    wire
}

/// The measured part: callgrind counts only inside it (`--toggle-collect='*measured*'`).
#[inline(never)]
fn measured(mut f: impl FnMut()) {
    f()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "session".into());
    let n: u32 = args.next().map_or(1, |n| n.parse().unwrap());
    let message: Message = samples::status_report().into();
    // Frames made before the measured loop (each with its own sequence number and time).
    let frames: Vec<(u64, BytesMut)> = (0..n)
        .map(|i| {
            let now = samples::T0 + 1000 + 100 * u64::from(i);
            (now, wire(&message, 100 + i, now))
        })
        .collect();
    match path.as_str() {
        "lent" => {
            // As rcs-server's connection loop (rcs-server/src/net.rs): a status report is read
            // where the session decoded it, then consumed (no move, no allocation).
            let mut s = samples::established_session();
            measured(|| {
                for (now, w) in &frames {
                    s.handle_input(*now, black_box(w));
                    match s.peek_message() {
                        Some((_, _, Message::StatusReport(status))) => {
                            black_box(status);
                        }
                        _ => panic!("no status report lent"),
                    }
                    s.consume_message();
                }
            });
        }
        "session" | "recycled" => {
            let recycle = path == "recycled";
            let mut s = samples::established_session();
            // As rcs-server's connection loop (rcs-server/src/net.rs): the event is matched by
            // reference, the report handled in place, then the message given back.
            measured(|| {
                for (now, w) in &frames {
                    s.handle_input(*now, black_box(w));
                    let Some(mut event) = s.poll_event() else {
                        panic!("no event")
                    };
                    let RcsEvent::Message {
                        message: Message::StatusReport(status),
                        ..
                    } = &mut event
                    else {
                        panic!("unexpected {event:?}")
                    };
                    black_box(status);
                    if let RcsEvent::Message { message, .. } = event
                        && recycle
                    {
                        s.recycle(message);
                    }
                }
            });
        }
        "borrowed" => {
            let mut dec = FrameDecoder::default();
            let mut slot = message.clone();
            measured(|| {
                for (_, w) in &frames {
                    let (_, f) = dec.decode_slice(black_box(w));
                    f.unwrap().unwrap().message_into(&mut slot).unwrap();
                    black_box(&slot);
                }
            });
        }
        "owned" => {
            let mut dec = FrameDecoder::default();
            let mut frames = frames;
            measured(|| {
                for (_, w) in frames.iter_mut() {
                    let f = dec.decode(black_box(w)).unwrap().unwrap();
                    black_box(f.message().unwrap());
                }
            });
        }
        "json" => {
            let compact = vda5050::compact(vda5050::STATE_JSON);
            measured(|| {
                for _ in 0..n {
                    black_box(serde_json::from_str::<vda5050::State>(black_box(&compact)).unwrap());
                }
            });
        }
        other => panic!("unknown path {other}"),
    }
}
