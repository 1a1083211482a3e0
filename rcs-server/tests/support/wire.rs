//! Raw frames on the AGV port, for tests that send what no well-behaved AGV sends: frames built
//! by hand (and broken on purpose), and readers that collect what the server answers.

use std::time::Duration;

use bytes::BytesMut;
use protocol::frame::{Flags, FrameDecoder, HEADER_LEN, Header, encode_message, encode_raw};
use protocol::message::*;
use protocol::types::*;
use rcs_server::state::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A normal-mode access request, as AGV `agv_id` with sequence number `seq`.
pub fn access_frame(agv_id: u32, seq: u32) -> BytesMut {
    let msg: Message = AccessRequest {
        mode: AccessMode::Normal,
        profile: SecureProfile::Guide,
        min_version: 1,
        max_version: 1,
        key_exchange: None,
    }
    .into();
    frame(&msg, Flags::ACK_REQUESTED, seq, agv_id)
}

/// `msg` as a plaintext frame.
pub fn frame(msg: &Message, flags: Flags, seq: u32, agv_id: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    let header = Header::new(msg.message_type(), flags, seq, agv_id, now_ms());
    encode_message(&mut buf, header, msg, 65536).unwrap();
    buf
}

/// A heartbeat asking for its answer.
pub fn heartbeat(seq: u32, agv_id: u32) -> BytesMut {
    frame(&Heartbeat {}.into(), Flags::ACK_REQUESTED, seq, agv_id)
}

/// A frame of type `message_type` around `body` as given (which need not decode), with intact
/// CRCs.
pub fn raw_frame(message_type: MessageType, body: &[u8], seq: u32, agv_id: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    let header = Header::new(message_type, Flags::NONE, seq, agv_id, now_ms());
    encode_raw(&mut buf, header, body, &[], 65536).unwrap();
    buf
}

/// The body of `msg` as encoded.
pub fn body_of(msg: &Message) -> Vec<u8> {
    let mut body = BytesMut::new();
    msg.encode_body(&mut body).unwrap();
    body.to_vec()
}

/// Sets header byte `offset` of `frame` to `value` and writes the header CRC again, so the
/// header is intact but says what no sender may (a reserved flag, another version).
pub fn patch_header(frame: &mut [u8], offset: usize, value: u8) {
    frame[offset] = value;
    let crc = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740).checksum(&frame[..HEADER_LEN - 2]);
    frame[HEADER_LEN - 2..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// Writes the frame CRC of `frame` again (after its body or tag was changed).
pub fn fix_frame_crc(frame: &mut [u8]) {
    let n = frame.len();
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&frame[HEADER_LEN..n - 4]);
    frame[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

/// Reads until the server ends the connection, `wait` passes, or `done` says so: every
/// message received, and whether the stream ended cleanly (EOF, not a reset or the deadline).
pub async fn read_until(
    stream: &mut TcpStream,
    wait: Duration,
    mut done: impl FnMut(&[Message]) -> bool,
) -> (Vec<Message>, bool) {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let eof = match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_) | Ok(Err(_)) => return (messages, false),
            Ok(Ok(0)) => true,
            Ok(Ok(_)) => false,
        };
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            if let Ok(m) = Message::decode_body(frame.header.message_type, &frame.body) {
                messages.push(m);
            }
        }
        if eof {
            return (messages, true);
        }
        if done(&messages) {
            return (messages, false);
        }
    }
}

/// Reads until the server ends the connection or `wait` passes.
pub async fn read_messages(stream: &mut TcpStream, wait: Duration) -> (Vec<Message>, bool) {
    read_until(stream, wait, |_| false).await
}

/// The reasons of the `Close` frames among `messages`.
pub fn closes(messages: &[Message]) -> Vec<CloseReason> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Close(c) => Some(c.reason),
            _ => None,
        })
        .collect()
}

/// The `(code, request_seq)` of the `Error` frames among `messages`.
pub fn errors(messages: &[Message]) -> Vec<(ErrorCode, u32)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::ErrorReport(e) => Some((e.code, e.request_seq)),
            _ => None,
        })
        .collect()
}

/// Whether `messages` hold the answer to heartbeat `seq`.
pub fn heartbeat_answered(messages: &[Message], seq: u32) -> bool {
    messages
        .iter()
        .any(|m| matches!(m, Message::HeartbeatAck(a) if a.request_seq == seq))
}

/// Connects as AGV `agv_id` in normal mode and waits for the access response: the stream and
/// the response.
pub async fn accessed(addr: std::net::SocketAddr, agv_id: u32) -> (TcpStream, AccessResponse) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&access_frame(agv_id, 1)).await.unwrap();
    let (messages, _) = read_until(&mut stream, Duration::from_secs(5), |m| {
        m.iter().any(|m| matches!(m, Message::AccessResponse(_)))
    })
    .await;
    let response = messages
        .iter()
        .find_map(|m| match m {
            Message::AccessResponse(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no access response: {messages:?}"));
    (stream, response)
}
