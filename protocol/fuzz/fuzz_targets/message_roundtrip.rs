//! Decodes arbitrary bodies for every message type (and re-encodes what decodes, which must give
//! the same bytes), and round-trips arbitrary valid messages through a frame.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::frame::{self, Flags, FrameDecoder, Header};
use protocol::message::{Message, MessageType};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let ty = MessageType(u16::from_le_bytes([data[0], data[1]]) % 0x0C00);
    if let Ok(msg) = Message::decode_body(ty, &data[2..]) {
        let mut again = BytesMut::new();
        msg.encode_body(&mut again).unwrap();
        assert_eq!(&again[..], &data[2..]);
    }

    let mut u = Unstructured::new(data);
    if let Ok(msg) = Message::arbitrary(&mut u) {
        let mut wire = BytesMut::new();
        let header = Header::new(msg.message_type(), Flags::ACK_REQUESTED, 1, 2, 3);
        frame::encode_message(&mut wire, header, &msg, frame::MAX_FRAME_LEN_LIMIT).unwrap();
        let f = FrameDecoder::new(frame::MAX_FRAME_LEN_LIMIT)
            .decode(&mut wire)
            .unwrap()
            .unwrap();
        assert_eq!(f.message().unwrap(), msg);
    }
});
