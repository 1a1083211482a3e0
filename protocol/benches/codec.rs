//! Codec benchmarks: encode and decode of a status report and a motion command frame, with the
//! baseline in the same run: serde_json parsing the VDA 5050 state and order carrying the same
//! information into typed structs. Sizes are printed once at the start.
//!
//! `cargo bench -p protocol --bench codec`; figures go to docs/performance.md.

#[path = "../tests/support/samples.rs"]
mod samples;
mod vda5050;

use std::hint::black_box;

use bytes::{Buf, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::{Message, MessageType};
use protocol::session::RcsEvent;

fn frame_of(message: Message) -> (Header, Message, BytesMut) {
    let header = Header::new(
        message.message_type(),
        Flags::NONE,
        50,
        samples::AGV,
        samples::T0,
    );
    let mut wire = BytesMut::new();
    frame::encode_message(&mut wire, header, &message, frame::DEFAULT_MAX_FRAME_LEN).unwrap();
    (header, message, wire)
}

fn bench_pair(c: &mut Criterion, name: &str, message: Message, json: &str, parse: fn(&str)) {
    let (header, message, wire) = frame_of(message);
    let compact = vda5050::compact(json);
    println!(
        "{name}: rcs frame {} B, VDA 5050 compact JSON {} B, ratio {:.1} %",
        wire.len(),
        compact.len(),
        100.0 * wire.len() as f64 / compact.len() as f64
    );

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut out = BytesMut::with_capacity(4096);
    group.bench_function("rcs encode", |b| {
        b.iter(|| {
            out.clear();
            frame::encode_message(&mut out, header, black_box(&message), 65536).unwrap();
            black_box(out.len())
        })
    });
    let mut dec = FrameDecoder::default();
    let mut buf = BytesMut::with_capacity(4096);
    group.bench_function("rcs decode (owned frame, new message)", |b| {
        b.iter(|| {
            // Refilling the receive buffer is the copy a socket read does anyway; the buffer is
            // reused as a connection's would be.
            buf.extend_from_slice(black_box(&wire[..]));
            let f = dec.decode(&mut buf).unwrap().unwrap();
            black_box(f.message().unwrap())
        })
    });
    let mut slot = message.clone();
    group.bench_function("rcs decode (borrowed frame, reused message)", |b| {
        b.iter(|| {
            buf.extend_from_slice(black_box(&wire[..]));
            let (consumed, f) = dec.decode_slice(&buf);
            f.unwrap().unwrap().message_into(&mut slot).unwrap();
            buf.advance(consumed);
            black_box(&slot);
        })
    });
    // Like the baseline, which parses a string already in memory: no receive-buffer copy.
    group.bench_function(
        "rcs decode from memory (borrowed frame, reused message)",
        |b| {
            b.iter(|| {
                let (_, f) = dec.decode_slice(black_box(&wire[..]));
                f.unwrap().unwrap().message_into(&mut slot).unwrap();
                black_box(&slot);
            })
        },
    );
    let body = wire[frame::HEADER_LEN..wire.len() - frame::CRC_LEN].to_vec();
    let ty = message.message_type();
    group.bench_function("rcs body only, reused message (no header, no CRC)", |b| {
        b.iter(|| {
            slot.decode_body_into(ty, black_box(&body)).unwrap();
            black_box(&slot);
        })
    });
    if ty == MessageType::STATUS_REPORT {
        // What rcs-server does per status frame (rcs-server/src/net.rs): the bytes of a read
        // handed to an established normal-mode `RcsSession`, then its event taken. Each frame
        // has the next sequence number (the replay window) and comes 100 ms after the last.
        // The same with the message given back after each frame (`RcsSession::recycle`), as
        // rcs-server gives back the report each new one replaces.
        // And the way rcs-server takes a status report since 2026-12-03: lent where the session
        // decoded it (`peek_message`), then consumed: no move, no allocation.
        for way in ["new", "recycled", "lent"] {
            let recycle = way == "recycled";
            let mut session = samples::established_session();
            let mut seq = 100;
            let mut now = samples::T0 + 1000;
            let name = match way {
                "new" => "rcs session: handle_input + poll_event (a new message per frame)",
                "recycled" => "rcs session, message recycled: handle_input + poll_event + recycle",
                _ => {
                    "rcs session, message lent: handle_input + peek_message + consume_message (the server's receive path)"
                }
            };
            group.bench_function(name, |b| {
                // `_ref`: the frame's buffer is dropped outside the timing (a `free`, which the
                // baseline's parse of a string already in memory does not pay).
                b.iter_batched_ref(
                    || {
                        seq += 1;
                        now += 100;
                        let h = Header::new(ty, Flags::NONE, seq, samples::AGV, now);
                        let mut wire = BytesMut::new();
                        frame::encode_message(&mut wire, h, &message, 65536).unwrap();
                        (now, wire)
                    },
                    |(now, wire)| {
                        session.handle_input(*now, black_box(&wire[..]));
                        if way == "lent" {
                            match session.peek_message() {
                                Some((_, _, Message::StatusReport(status))) => {
                                    black_box(status);
                                }
                                other => panic!("unexpected {other:?}"),
                            }
                            session.consume_message();
                            return;
                        }
                        match black_box(session.poll_event()) {
                            Some(RcsEvent::Message { message, .. }) if recycle => {
                                session.recycle(message)
                            }
                            Some(RcsEvent::Message { .. }) => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    },
                    criterion::BatchSize::SmallInput,
                )
            });
        }
        // The frame checksum over this body: the `crc` crate's slice-by-16 tables against the
        // `crc32c` crate (SSE4.2 instruction); and the header's CRC-16 over 30 bytes.
        let covered = &wire[frame::HEADER_LEN..wire.len() - frame::CRC_LEN];
        group.bench_function("crc-32c of the body: crc crate (tables)", |b| {
            b.iter(|| frame::frame_crc_table(black_box(covered)))
        });
        group.bench_function("crc-32c of the body: crc32c crate (hardware)", |b| {
            b.iter(|| frame::frame_crc(black_box(covered)))
        });
    }
    group.bench_function("serde_json parse (VDA 5050, baseline)", |b| {
        b.iter(|| parse(black_box(&compact)))
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_pair(
        c,
        "status report",
        samples::status_report().into(),
        vda5050::STATE_JSON,
        |s| {
            black_box(serde_json::from_str::<vda5050::State>(s).unwrap());
        },
    );
    bench_pair(
        c,
        "motion command",
        samples::motion_command().into(),
        vda5050::ORDER_JSON,
        |s| {
            black_box(serde_json::from_str::<vda5050::Order>(s).unwrap());
        },
    );
}

criterion_group!(benches, codec);
criterion_main!(benches);
