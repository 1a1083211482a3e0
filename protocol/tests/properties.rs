//! Property tests of the codec: round trips for every message, arbitrary input never panics,
//! a valid stream split anywhere decodes the same, encoding is canonical, one corrupt frame
//! costs at most that frame.

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use proptest::prelude::*;
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::{Message, MessageType};

/// A message built from proptest's bytes (through the crate's generators of valid values).
fn message_from(bytes: &[u8]) -> Message {
    let mut u = Unstructured::new(bytes);
    Message::arbitrary(&mut u).expect("generators never fail")
}

/// A message of the `index`-th type, built from proptest's bytes.
fn message_of_type(index: usize, bytes: &[u8]) -> Message {
    let ty = MessageType::ALL[index].0;
    let mut u = Unstructured::new(bytes);
    Message::arbitrary_of_type(ty, &mut u)
        .expect("defined type")
        .expect("generators never fail")
}

fn flags_from(bits: u8) -> Flags {
    [
        Flags::NONE,
        Flags::ACK_REQUESTED,
        Flags::RESPONSE,
        Flags::ACK_REQUESTED | Flags::RESPONSE,
    ][usize::from(bits % 4)]
}

fn encode(msg: &Message, seq: u32, agv: u32, ts: u64, flags: u8) -> BytesMut {
    let mut out = BytesMut::new();
    let header = Header::new(msg.message_type(), flags_from(flags), seq, agv, ts);
    frame::encode_message(&mut out, header, msg, frame::MAX_FRAME_LEN_LIMIT).expect("encodes");
    out
}

/// Decodes everything in `buf`, returning the frames' messages and the number of errors.
fn drain(dec: &mut FrameDecoder, buf: &mut BytesMut, out: &mut Vec<Message>) -> usize {
    let mut errors = 0;
    loop {
        match dec.decode(buf) {
            Ok(Some(f)) => out.push(f.message().expect("intact frame decodes")),
            Ok(None) => return errors,
            Err(_) => errors += 1,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_type_round_trips(
        index in 0..MessageType::ALL.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        seq: u32, agv: u32, ts: u64, flags: u8,
    ) {
        let msg = message_of_type(index, &bytes);
        let mut wire = encode(&msg, seq, agv, ts, flags);
        let encoded = wire.clone();
        let frame = FrameDecoder::new(frame::MAX_FRAME_LEN_LIMIT).decode(&mut wire).unwrap().unwrap();
        prop_assert!(wire.is_empty());
        prop_assert_eq!(frame.header.seq, seq);
        prop_assert_eq!(frame.header.agv_id, agv);
        prop_assert_eq!(frame.header.timestamp_ms, ts);
        prop_assert_eq!(frame.header.flags, flags_from(flags));
        let decoded = frame.message().unwrap();
        prop_assert_eq!(&decoded, &msg);
        // and re-encoding the decoded value gives the same bytes
        prop_assert_eq!(encode(&decoded, seq, agv, ts, flags), encoded);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoder(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
        max in 36usize..100_000,
    ) {
        let mut dec = FrameDecoder::new(max);
        let mut buf = BytesMut::new();
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
            let mut sink = Vec::new();
            // no frame survives a random CRC in practice, but it must never panic
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(f)) => { let _ = f.message(); sink.push(()); }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            prop_assert!(buf.len() < max, "decoder buffers no more than a frame");
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic_and_valid_ones_are_canonical(
        index in 0..MessageType::ALL.len() + 1,
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let ty = MessageType::ALL.get(index).map_or(MessageType(0x8000), |t| t.0);
        if let Ok(msg) = Message::decode_body(ty, &body) {
            let mut again = BytesMut::new();
            msg.encode_body(&mut again).unwrap();
            prop_assert_eq!(&again[..], &body[..], "decode then encode gives the same bytes");
        }
    }

    #[test]
    fn decode_into_a_reused_message_equals_decode(
        prev_index in 0..MessageType::ALL.len(),
        prev_bytes in proptest::collection::vec(any::<u8>(), 0..256),
        next_index in 0..MessageType::ALL.len(),
        next_bytes in proptest::collection::vec(any::<u8>(), 0..256),
        same_type: bool,
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let next_index = if same_type { prev_index } else { next_index };
        let mut slot = message_of_type(prev_index, &prev_bytes);
        let next = message_of_type(next_index, &next_bytes);
        let ty = next.message_type();
        // a failed decode first must not poison the slot
        let _ = slot.decode_body_into(ty, &garbage);
        let mut body = BytesMut::new();
        next.encode_body(&mut body).unwrap();
        slot.decode_body_into(ty, &body).unwrap();
        prop_assert_eq!(&slot, &next);
        // and errors are the same as decode_body's
        let mut cut = body.clone();
        cut.truncate(body.len() / 2);
        let mut slot2 = next.clone();
        prop_assert_eq!(
            slot2.decode_body_into(ty, &cut).err(),
            Message::decode_body(ty, &cut).err()
        );
    }

    #[test]
    fn a_stream_split_anywhere_decodes_the_same(
        seeds in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..128), 1..5),
    ) {
        let messages: Vec<Message> = seeds.iter().map(|s| message_from(s)).collect();
        let mut stream = BytesMut::new();
        for (i, m) in messages.iter().enumerate() {
            stream.extend_from_slice(&encode(m, i as u32 + 1, 7, 1_000, 0));
        }
        for split in 0..=stream.len() {
            let mut dec = FrameDecoder::new(frame::MAX_FRAME_LEN_LIMIT);
            let mut got = Vec::new();
            let mut buf = BytesMut::from(&stream[..split]);
            prop_assert_eq!(drain(&mut dec, &mut buf, &mut got), 0);
            buf.extend_from_slice(&stream[split..]);
            prop_assert_eq!(drain(&mut dec, &mut buf, &mut got), 0);
            prop_assert_eq!(&got, &messages, "split at {}", split);
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn one_corrupt_byte_costs_at_most_its_frame(
        seeds in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 3..6),
        victim_pick: usize, offset_pick: usize, xor in 1u8..=255,
    ) {
        let messages: Vec<Message> = seeds.iter().map(|s| message_from(s)).collect();
        let frames: Vec<BytesMut> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| encode(m, i as u32 + 1, 7, 1_000, 0))
            .collect();
        let victim = victim_pick % frames.len();
        let mut stream = BytesMut::new();
        for (i, f) in frames.iter().enumerate() {
            let mut f = f.clone();
            if i == victim {
                let at = offset_pick % f.len();
                f[at] ^= xor;
            }
            stream.extend_from_slice(&f);
        }
        let mut dec = FrameDecoder::new(frame::MAX_FRAME_LEN_LIMIT);
        let mut got = Vec::new();
        let errors = drain(&mut dec, &mut stream, &mut got);
        let expected: Vec<Message> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, m)| m.clone())
            .collect();
        prop_assert!(errors >= 1, "the corruption is detected");
        prop_assert_eq!(got, expected, "every other frame decodes");
    }
}

#[test]
fn byte_at_a_time_decodes_every_sample_type() {
    let mut stream = BytesMut::new();
    let mut messages = Vec::new();
    for index in 0..MessageType::ALL.len() {
        let m = message_of_type(index, &[index as u8; 64]);
        stream.extend_from_slice(&encode(&m, index as u32 + 1, 1, 2, 1));
        messages.push(m);
    }
    let mut dec = FrameDecoder::new(frame::MAX_FRAME_LEN_LIMIT);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in stream.iter() {
        buf.extend_from_slice(&[*b]);
        assert_eq!(drain(&mut dec, &mut buf, &mut got), 0);
    }
    assert_eq!(got, messages);
}
