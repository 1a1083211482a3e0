//! The tokio-util codec adapter over an in-memory duplex pipe: frames written with the encoder
//! come out of the decoder, and a corrupt frame is an error item that does not end the stream.

use futures_util::SinkExt;
use protocol::frame::{Flags, Header};
use protocol::message::{Heartbeat, HeartbeatAck, Message, MessageType};
use protocol::tokio_codec::{FrameCodec, Outgoing};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

#[tokio::test]
async fn frames_cross_a_pipe_and_errors_do_not_end_the_stream() {
    // A hang (e.g. a pipe too small for what is written before reading) fails, not blocks CI.
    tokio::time::timeout(std::time::Duration::from_secs(10), pipe_roundtrip())
        .await
        .expect("finished in time");
}

async fn pipe_roundtrip() {
    use tokio_stream_ext::next;
    let (client, server) = tokio::io::duplex(4096);
    let (_, client_w) = tokio::io::split(client);
    let (server_r, _) = tokio::io::split(server);
    let mut writer = FramedWrite::new(client_w, FrameCodec::default());
    let mut reader = FramedRead::new(server_r, FrameCodec::default());

    let hb: Message = Heartbeat {}.into();
    let header = Header::new(MessageType::HEARTBEAT, Flags::ACK_REQUESTED, 1, 9, 5);
    writer.send(Outgoing::Plain(header, &hb)).await.unwrap();
    // garbage between frames
    writer.get_mut().write_all(b"\x00\x01\x02").await.unwrap();
    let ack: Message = HeartbeatAck {
        request_seq: 1,
        server_time_ms: 6,
    }
    .into();
    let header = Header::new(MessageType::HEARTBEAT_ACK, Flags::RESPONSE, 2, 9, 6);
    writer.send(Outgoing::Plain(header, &ack)).await.unwrap();
    drop(writer);

    let first = next(&mut reader).await.unwrap().unwrap().unwrap();
    assert_eq!(first.message().unwrap(), hb);
    assert!(
        next(&mut reader).await.unwrap().unwrap().is_err(),
        "garbage is an error item"
    );
    let third = next(&mut reader).await.unwrap().unwrap().unwrap();
    assert_eq!(third.message().unwrap(), ack);
    assert!(
        next(&mut reader).await.is_none(),
        "stream ends with the pipe"
    );
}

/// `StreamExt::next` without pulling in another crate.
mod tokio_stream_ext {
    use std::future::poll_fn;
    use std::pin::Pin;

    use futures_util::Stream;

    pub async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
        poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
    }
}
