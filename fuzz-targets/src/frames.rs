//! The wire format's targets: the streaming frame decoder and every message's codec.

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use protocol::frame::{self, Flags, FrameDecoder, HEADER_LEN, Header};
use protocol::message::{Message, MessageType};

/// `frame_decoder`: arbitrary bytes fed to the frame decoder in chunks of a size the first byte
/// picks (so split points are explored too), and every frame's body decoded. Nothing may panic,
/// the buffer stays below the frame limit, and every frame whose body decodes re-encodes to the
/// same bytes.
pub fn frame_decoder(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first).max(1);
    let mut dec = FrameDecoder::new(4096);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => {
                    if let Ok(msg) = f.message() {
                        let mut again = BytesMut::new();
                        frame::encode_message(&mut again, f.header, &msg, 4096)
                            .expect("a decoded message encodes");
                        assert_eq!(&again[HEADER_LEN..HEADER_LEN + f.body.len()], &f.body[..]);
                    }
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        assert!(buf.len() < 4096);
    }
}

/// `message_roundtrip`: arbitrary bodies decoded as the message type the first two bytes name
/// (what decodes must re-encode to the same bytes), and an arbitrary valid message built from
/// the same bytes round-tripped through a frame.
pub fn message_roundtrip(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let ty = MessageType(u16::from_le_bytes([data[0], data[1]]) % 0x0C00);
    if let Ok(msg) = Message::decode_body(ty, &data[2..]) {
        let mut again = BytesMut::new();
        msg.encode_body(&mut again)
            .expect("a decoded message encodes");
        assert_eq!(&again[..], &data[2..]);
    }

    let mut u = Unstructured::new(data);
    if let Ok(msg) = Message::arbitrary(&mut u) {
        let mut wire = BytesMut::new();
        let header = Header::new(msg.message_type(), Flags::ACK_REQUESTED, 1, 2, 3);
        frame::encode_message(&mut wire, header, &msg, frame::MAX_FRAME_LEN_LIMIT)
            .expect("a valid message encodes");
        let f = FrameDecoder::new(frame::MAX_FRAME_LEN_LIMIT)
            .decode(&mut wire)
            .expect("its frame decodes")
            .expect("whole");
        assert_eq!(f.message().expect("its body decodes"), msg);
    }
}
