//! Feeds arbitrary bytes, in arbitrary chunks, to the frame decoder and decodes every frame's
//! body. Nothing may panic; every frame that decodes must re-encode to the same bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::frame::{self, FrameDecoder, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    // The first byte picks the chunk size, so split points are explored too.
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
                        frame::encode_message(&mut again, f.header, &msg, 4096).unwrap();
                        assert_eq!(&again[HEADER_LEN..HEADER_LEN + f.body.len()], &f.body[..]);
                    }
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        assert!(buf.len() < 4096);
    }
});
