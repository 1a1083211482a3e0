//! Frames: the 32-byte header, the body, the authentication tag and the CRC-32C trailer; the
//! streaming [`FrameDecoder`] with its resynchronisation rules, and the frame encoders.
//!
//! ```text
//! offset  size  field
//!      0     2  magic A5 5A
//!      2     1  protocol version (1)
//!      3     1  flags
//!      4     2  message type
//!      6     4  sequence number
//!     10     4  AGV id
//!     14     8  timestamp, UTC ms since 1970-01-01
//!     22     4  body length
//!     26     4  reserved (0)
//!     30     2  header CRC-16/IBM-3740 over bytes 0..30
//!     32     n  body
//!   32+n     a  authentication tag (a = 0, 16 with MAC, 64 with SIGNED)
//! 32+n+a     4  CRC-32C over bytes 32..32+n+a (body and tag; the header has its own CRC)
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::checksum::header_crc;
pub use crate::checksum::{frame_crc, frame_crc_table};
use crate::error::{DecodeError, EncodeError, FrameError};
use crate::message::{Message, MessageType};

/// The two bytes every frame starts with.
pub const MAGIC: [u8; 2] = [0xA5, 0x5A];
/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 32;
/// Length of the CRC-32C trailer.
pub const CRC_LEN: usize = 4;
/// Length of the SM2 signature (r ‖ s) carried by a frame with [`Flags::SIGNED`].
pub const SIGNATURE_LEN: usize = 64;
/// Length of the MAC carried by a frame with [`Flags::MAC`].
pub const MAC_LEN: usize = 16;
/// Default limit on a whole frame (header, body, tag and CRC): 64 KiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 * 1024;
/// The largest limit a receiver may configure: 16 MiB.
pub const MAX_FRAME_LEN_LIMIT: usize = 16 * 1024 * 1024;

/// The flags byte of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// The body is SM4 ciphertext (requires [`Flags::SIGNED`] or [`Flags::MAC`]).
    pub const ENCRYPTED: Flags = Flags(0x01);
    /// A 64-byte SM2 signature precedes the CRC.
    pub const SIGNED: Flags = Flags(0x02);
    /// A 16-byte session MAC precedes the CRC (excludes [`Flags::SIGNED`]).
    pub const MAC: Flags = Flags(0x04);
    /// The sender wants an [`Ack`](crate::message::Ack) or a response for this frame.
    pub const ACK_REQUESTED: Flags = Flags(0x08);
    /// This frame answers the frame whose sequence number its body names.
    pub const RESPONSE: Flags = Flags(0x10);
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    const DEFINED: u8 = 0x1f;

    /// The flags for a raw byte, if it is valid: no reserved bit, not both SIGNED and MAC,
    /// and ENCRYPTED only together with SIGNED or MAC.
    pub const fn from_bits(bits: u8) -> Option<Flags> {
        let f = Flags(bits);
        let signed = bits & Self::SIGNED.0 != 0;
        let mac = bits & Self::MAC.0 != 0;
        if bits & !Self::DEFINED != 0 || (signed && mac) {
            return None;
        }
        if bits & Self::ENCRYPTED.0 != 0 && !signed && !mac {
            return None;
        }
        Some(f)
    }
    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Length of the authentication tag these flags call for.
    pub const fn auth_len(self) -> usize {
        if self.contains(Self::SIGNED) {
            SIGNATURE_LEN
        } else if self.contains(Self::MAC) {
            MAC_LEN
        } else {
            0
        }
    }
    /// Whether the body is protected by the secure channel (encrypted or authenticated).
    pub const fn is_protected(self) -> bool {
        self.0 & (Self::ENCRYPTED.0 | Self::SIGNED.0 | Self::MAC.0) != 0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// The fixed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub version: u8,
    /// Flags.
    pub flags: Flags,
    /// What the body holds.
    pub message_type: MessageType,
    /// The sender's sequence number: starts at 1 and increases by one per frame sent in the
    /// session, each direction on its own.
    pub seq: u32,
    /// The AGV this frame is from or for (0 before access is granted only in an access request).
    pub agv_id: u32,
    /// When the sender built the frame, UTC milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Body length in bytes.
    pub body_len: u32,
    /// Reserved for extension: senders write zeros, receivers of version 1 ignore them.
    pub reserved: [u8; 4],
}

impl Header {
    /// A version-1 header with no body yet (`body_len` is set by the encoder).
    pub fn new(
        message_type: MessageType,
        flags: Flags,
        seq: u32,
        agv_id: u32,
        timestamp_ms: u64,
    ) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            flags,
            message_type,
            seq,
            agv_id,
            timestamp_ms,
            body_len: 0,
            reserved: [0; 4],
        }
    }

    /// Length of the whole frame this header announces.
    pub fn frame_len(&self) -> u64 {
        (HEADER_LEN + self.flags.auth_len() + CRC_LEN) as u64 + u64::from(self.body_len)
    }

    /// The 32 header bytes, with the header CRC computed.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut w = &mut out[..];
        w.put_slice(&MAGIC);
        w.put_u8(self.version);
        w.put_u8(self.flags.bits());
        w.put_u16_le(self.message_type.0);
        w.put_u32_le(self.seq);
        w.put_u32_le(self.agv_id);
        w.put_u64_le(self.timestamp_ms);
        w.put_u32_le(self.body_len);
        w.put_slice(&self.reserved);
        let crc = header_crc(&out);
        out[HEADER_LEN - 2..].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

/// Header fields as read, before validation.
struct RawHeader {
    version: u8,
    flags: u8,
    message_type: u16,
    seq: u32,
    agv_id: u32,
    timestamp_ms: u64,
    body_len: u32,
    reserved: [u8; 4],
    crc: u16,
}

type NomErr<'a> = nom::error::Error<&'a [u8]>;

/// Streaming header parser: `Incomplete` asks for more bytes, `Error` means bad magic. nom's
/// streaming `tag` and `take` find the header; the fields are read at their fixed offsets.
fn raw_header(i: &[u8]) -> nom::IResult<&[u8], RawHeader, NomErr<'_>> {
    use nom::Parser;
    let (i, _) = nom::bytes::streaming::tag(&MAGIC[..]).parse(i)?;
    let (i, h) = nom::bytes::streaming::take(HEADER_LEN - MAGIC.len()).parse(i)?;
    let u16_at = |o: usize| u16::from_le_bytes([h[o - 2], h[o - 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([h[o - 2], h[o - 1], h[o], h[o + 1]]);
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&h[14 - 2..22 - 2]);
    let mut reserved = [0u8; 4];
    reserved.copy_from_slice(&h[26 - 2..30 - 2]);
    // Offsets below are the frame offsets of docs/protocol.md (h starts at offset 2).
    Ok((
        i,
        RawHeader {
            version: h[0],
            flags: h[1],
            message_type: u16_at(4),
            seq: u32_at(6),
            agv_id: u32_at(10),
            timestamp_ms: u64::from_le_bytes(ts),
            body_len: u32_at(22),
            reserved,
            crc: u16_at(30),
        },
    ))
}

/// A complete frame as received: header, body and authentication tag, CRC already verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header.
    pub header: Header,
    /// The body: plaintext, or ciphertext when [`Flags::ENCRYPTED`] is set.
    pub body: Bytes,
    /// The authentication tag (empty, a MAC or an SM2 signature as the flags say).
    pub auth: Bytes,
}

impl Frame {
    /// The frame as borrowed parts.
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            header: self.header,
            body: &self.body,
            auth: &self.auth,
        }
    }

    /// Decodes the body of a plaintext frame. Offsets in errors count from the frame start.
    pub fn message(&self) -> Result<Message, DecodeError> {
        self.as_ref().message()
    }

    /// Decodes the body of a plaintext frame into `message`, reusing its capacity (see
    /// [`Message::decode_body_into`]). Offsets in errors count from the frame start.
    pub fn message_into(&self, message: &mut Message) -> Result<(), DecodeError> {
        self.as_ref().message_into(message)
    }
}

/// A frame borrowed from the receive buffer (see [`FrameDecoder::decode_slice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The header.
    pub header: Header,
    /// The body: plaintext, or ciphertext when [`Flags::ENCRYPTED`] is set.
    pub body: &'a [u8],
    /// The authentication tag (empty, a MAC or an SM2 signature as the flags say).
    pub auth: &'a [u8],
}

impl FrameRef<'_> {
    /// Decodes the body of a plaintext frame. Offsets in errors count from the frame start.
    pub fn message(&self) -> Result<Message, DecodeError> {
        check_plain(&self.header)?;
        Message::decode_body(self.header.message_type, self.body).map_err(|e| e.shifted(HEADER_LEN))
    }

    /// Decodes the body of a plaintext frame into `message`, reusing its capacity (see
    /// [`Message::decode_body_into`]). Offsets in errors count from the frame start.
    pub fn message_into(&self, message: &mut Message) -> Result<(), DecodeError> {
        check_plain(&self.header)?;
        message
            .decode_body_into(self.header.message_type, self.body)
            .map_err(|e| e.shifted(HEADER_LEN))
    }
}

fn check_plain(header: &Header) -> Result<(), DecodeError> {
    if header.flags.is_protected() {
        Err(DecodeError::Protected {
            flags: header.flags.bits(),
        })
    } else {
        Ok(())
    }
}

/// The streaming frame decoder: feed it the received bytes, take frames out.
///
/// Resynchronisation rules (docs/protocol.md, "Errors and resynchronisation"):
/// - bytes that do not start with the magic, or a header whose CRC-16 fails, are dropped up to
///   the next `A5 5A`, reported once as [`DecodeError::BadMagic`] or
///   [`DecodeError::HeaderChecksum`];
/// - a frame whose header is intact but which is unacceptable (version, flags, size) or whose
///   CRC-32C fails is skipped whole, using the length from its trusted header; an oversized frame
///   is skipped as its bytes arrive, never buffered.
///
/// After an error the decoder is ready for the next call; the caller decides whether to answer
/// with an error frame or close.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_len: usize,
    discard: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder accepting frames up to `max_frame_len` bytes (capped at
    /// [`MAX_FRAME_LEN_LIMIT`], at least a header and trailer).
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            max_frame_len: max_frame_len.clamp(HEADER_LEN + CRC_LEN, MAX_FRAME_LEN_LIMIT),
            discard: 0,
        }
    }

    /// The frame size limit in force.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Takes the next frame from the front of `buf`, as an owned [`Frame`] sharing `buf`'s
    /// memory. `Ok(None)`: more bytes are needed (the buffer keeps what it has). `Err`: bytes
    /// were dropped as the rules above say.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let (consumed, result) = self.decode_slice(buf);
        let result = result.map(|f| f.map(|f| f.header));
        match result {
            Ok(Some(header)) => {
                let auth_len = header.flags.auth_len();
                let mut frame = buf.split_to(consumed).freeze();
                frame.advance(HEADER_LEN);
                let body = frame.split_to(header.body_len as usize);
                let auth = frame.split_to(auth_len);
                Ok(Some(Frame { header, body, auth }))
            }
            other => {
                buf.advance(consumed);
                other.map(|_| None)
            }
        }
    }

    /// Looks at the front of `buf` without copying: returns how many bytes the caller must drop
    /// from the front of its buffer once it is done with the result, and the result: a frame
    /// borrowed from `buf`, `None` when more bytes are needed, or an error (the bytes to drop
    /// then are the ones the rules above skip).
    pub fn decode_slice<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> (usize, Result<Option<FrameRef<'a>>, FrameError>) {
        let mut skipped = 0;
        if self.discard > 0 {
            skipped = usize::try_from(self.discard).map_or(buf.len(), |d| d.min(buf.len()));
            self.discard -= skipped as u64;
            if self.discard > 0 {
                return (skipped, Ok(None));
            }
        }
        let (consumed, result) = self.decode_at(&buf[skipped..]);
        (skipped + consumed, result)
    }

    fn decode_at<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> (usize, Result<Option<FrameRef<'a>>, FrameError>) {
        let raw = match raw_header(buf) {
            Ok((_, raw)) => raw,
            Err(nom::Err::Incomplete(_)) => return (0, Ok(None)),
            Err(_) => {
                let skipped = resync(buf, 1);
                let error = DecodeError::BadMagic { skipped };
                return (
                    skipped,
                    Err(FrameError {
                        error,
                        header: None,
                    }),
                );
            }
        };
        let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
            return (0, Ok(None)); // never: the header was read from these bytes
        };
        let computed = header_crc(head);
        if computed != raw.crc {
            let error = DecodeError::HeaderChecksum {
                computed,
                found: raw.crc,
            };
            return (
                resync(buf, 1),
                Err(FrameError {
                    error,
                    header: None,
                }),
            );
        }
        let header = Header {
            version: raw.version,
            flags: Flags(raw.flags),
            message_type: MessageType(raw.message_type),
            seq: raw.seq,
            agv_id: raw.agv_id,
            timestamp_ms: raw.timestamp_ms,
            body_len: raw.body_len,
            reserved: raw.reserved,
        };
        // Invalid flags are still used for the length (the header CRC vouches for them): the
        // tag length they imply is the best guess, and the magic scan takes over if it is wrong.
        let frame_len = header.frame_len();
        let error = if frame_len > self.max_frame_len as u64 {
            Some(DecodeError::FrameTooLarge {
                len: frame_len,
                max: self.max_frame_len,
            })
        } else if header.version != PROTOCOL_VERSION {
            Some(DecodeError::UnsupportedVersion {
                version: header.version,
            })
        } else if Flags::from_bits(raw.flags).is_none() {
            Some(DecodeError::InvalidFlags { flags: raw.flags })
        } else {
            None
        };
        if let Some(error) = error {
            let now = usize::try_from(frame_len).map_or(buf.len(), |l| l.min(buf.len()));
            self.discard = frame_len - now as u64;
            let header = Some(header);
            return (now, Err(FrameError { error, header }));
        }
        let frame_len = frame_len as usize;
        if buf.len() < frame_len {
            return (0, Ok(None));
        }
        let crc_at = frame_len - CRC_LEN;
        let computed = frame_crc(&buf[HEADER_LEN..crc_at]);
        let mut found = [0u8; CRC_LEN];
        found.copy_from_slice(&buf[crc_at..frame_len]);
        let found = u32::from_le_bytes(found);
        if computed != found {
            let error = DecodeError::Checksum { computed, found };
            let header = Some(header);
            return (frame_len, Err(FrameError { error, header }));
        }
        let body_end = HEADER_LEN + header.body_len as usize;
        let frame = FrameRef {
            header,
            body: &buf[HEADER_LEN..body_end],
            auth: &buf[body_end..crc_at],
        };
        (frame_len, Ok(Some(frame)))
    }
}

/// How many bytes to drop from the front of `buf` so it starts with the magic (searching from
/// `from`), keeping a trailing `A5` that may begin one.
fn resync(buf: &[u8], from: usize) -> usize {
    let start = from.min(buf.len());
    let next = buf[start..]
        .windows(2)
        .position(|w| w == MAGIC)
        .map(|p| p + start);
    match next {
        Some(p) => p,
        None if buf.last() == Some(&MAGIC[0]) && buf.len() > start => buf.len() - 1,
        None => buf.len(),
    }
}

/// Encodes a plaintext frame carrying `message` into `dst`: the header's message type and body
/// length are set from the message. The body is written in place, with no intermediate buffer.
/// On error `dst` is left as it was.
pub fn encode_message(
    dst: &mut BytesMut,
    mut header: Header,
    message: &Message,
    max_frame_len: usize,
) -> Result<(), EncodeError> {
    if header.flags.is_protected() || Flags::from_bits(header.flags.bits()).is_none() {
        return Err(EncodeError::InvalidFlags {
            flags: header.flags.bits(),
        });
    }
    let start = dst.len();
    dst.put_bytes(0, HEADER_LEN);
    if let Err(e) = message.encode_body(dst) {
        dst.truncate(start);
        return Err(e);
    }
    let body_len = dst.len() - start - HEADER_LEN;
    let frame_len = HEADER_LEN + body_len + CRC_LEN;
    if frame_len > max_frame_len.min(MAX_FRAME_LEN_LIMIT) {
        dst.truncate(start);
        return Err(EncodeError::FrameTooLarge {
            len: frame_len,
            max: max_frame_len.min(MAX_FRAME_LEN_LIMIT),
        });
    }
    header.message_type = message.message_type();
    header.body_len = body_len as u32;
    dst[start..start + HEADER_LEN].copy_from_slice(&header.to_bytes());
    let crc = frame_crc(&dst[start + HEADER_LEN..]);
    dst.put_u32_le(crc);
    Ok(())
}

/// Encodes a frame from an already prepared body (ciphertext for encrypted frames) and
/// authentication tag, whose length must match the flags. The header's body length is set
/// from `body`. The tag is computed by the secure channel over [`signed_bytes`].
pub fn encode_raw(
    dst: &mut BytesMut,
    mut header: Header,
    body: &[u8],
    auth: &[u8],
    max_frame_len: usize,
) -> Result<(), EncodeError> {
    if Flags::from_bits(header.flags.bits()).is_none() {
        return Err(EncodeError::InvalidFlags {
            flags: header.flags.bits(),
        });
    }
    let expected = header.flags.auth_len();
    if auth.len() != expected {
        return Err(EncodeError::AuthTagLength {
            len: auth.len(),
            expected,
        });
    }
    let frame_len = HEADER_LEN + body.len() + auth.len() + CRC_LEN;
    let max = max_frame_len.min(MAX_FRAME_LEN_LIMIT);
    if frame_len > max {
        return Err(EncodeError::FrameTooLarge {
            len: frame_len,
            max,
        });
    }
    header.body_len = body.len() as u32;
    let start = dst.len();
    dst.reserve(frame_len);
    dst.put_slice(&header.to_bytes());
    dst.put_slice(body);
    dst.put_slice(auth);
    let crc = frame_crc(&dst[start + HEADER_LEN..]);
    dst.put_u32_le(crc);
    Ok(())
}

/// The bytes an authentication tag covers: the 32 header bytes (as they will be sent, with
/// `body_len` set) followed by the body. Written into `dst` (cleared first) so the caller can
/// reuse one buffer.
pub fn signed_bytes(dst: &mut BytesMut, header: &Header, body: &[u8]) {
    dst.clear();
    dst.reserve(HEADER_LEN + body.len());
    dst.put_slice(&signed_header(header, body));
    dst.put_slice(body);
}

/// The 32 header bytes a tag covers before `body` (as they will be sent, with `body_len` that
/// of `body`): the start of [`signed_bytes`], and the gcm profile's associated data.
pub fn signed_header(header: &Header, body: &[u8]) -> [u8; HEADER_LEN] {
    let mut header = *header;
    header.body_len = body.len() as u32;
    header.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Heartbeat, Message};

    fn hb_frame(seq: u32) -> BytesMut {
        let mut b = BytesMut::new();
        let h = Header::new(
            MessageType::HEARTBEAT,
            Flags::NONE,
            seq,
            7,
            1_700_000_000_000,
        );
        encode_message(
            &mut b,
            h,
            &Message::Heartbeat(Heartbeat {}),
            DEFAULT_MAX_FRAME_LEN,
        )
        .unwrap();
        b
    }

    #[test]
    fn flags_validation() {
        assert!(Flags::from_bits(0x20).is_none());
        assert!(Flags::from_bits(0x06).is_none()); // signed and MAC
        assert!(Flags::from_bits(0x01).is_none()); // encrypted, unauthenticated
        assert_eq!(Flags::from_bits(0x03).unwrap().auth_len(), SIGNATURE_LEN);
        assert_eq!(Flags::from_bits(0x05).unwrap().auth_len(), MAC_LEN);
    }

    #[test]
    fn incomplete_header_and_body_ask_for_more() {
        let full = hb_frame(1);
        let mut dec = FrameDecoder::default();
        for cut in 0..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            assert_eq!(dec.decode(&mut b), Ok(None), "cut at {cut}");
            assert_eq!(b.len(), cut, "nothing consumed at {cut}");
        }
    }

    #[test]
    fn garbage_before_a_frame_is_skipped_once() {
        let mut b = BytesMut::from(&b"\x00\x01\xa5\x02"[..]);
        b.extend_from_slice(&hb_frame(1));
        let mut dec = FrameDecoder::default();
        let err = dec.decode(&mut b).unwrap_err();
        assert_eq!(err.error, DecodeError::BadMagic { skipped: 4 });
        assert_eq!(dec.decode(&mut b).unwrap().unwrap().header.seq, 1);
        assert!(b.is_empty());
    }

    #[test]
    fn bad_crc_skips_exactly_one_frame() {
        let mut b = hb_frame(1);
        let n = b.len();
        b[n - 1] ^= 0xff;
        b.extend_from_slice(&hb_frame(2));
        let mut dec = FrameDecoder::default();
        let err = dec.decode(&mut b).unwrap_err();
        assert!(matches!(err.error, DecodeError::Checksum { .. }));
        assert_eq!(err.header.unwrap().seq, 1);
        assert_eq!(dec.decode(&mut b).unwrap().unwrap().header.seq, 2);
    }

    #[test]
    fn corrupt_header_resyncs_on_next_magic() {
        let mut b = hb_frame(1);
        b[22] ^= 0x40; // body length
        b.extend_from_slice(&hb_frame(2));
        let mut dec = FrameDecoder::default();
        assert!(matches!(
            dec.decode(&mut b).unwrap_err().error,
            DecodeError::HeaderChecksum { .. }
        ));
        assert_eq!(dec.decode(&mut b).unwrap().unwrap().header.seq, 2);
    }

    #[test]
    fn oversized_frame_is_skipped_without_buffering() {
        let mut h = Header::new(MessageType::STATUS_REPORT, Flags::NONE, 9, 1, 0);
        h.body_len = 1_000_000;
        let mut b = BytesMut::from(&h.to_bytes()[..]);
        b.extend_from_slice(&[0u8; 100]);
        let mut dec = FrameDecoder::new(4096);
        let err = dec.decode(&mut b).unwrap_err();
        assert!(matches!(err.error, DecodeError::FrameTooLarge { .. }));
        assert!(b.is_empty());
        // the rest of the oversized frame arrives and is dropped, then a good frame decodes
        let mut part = BytesMut::from(&vec![0u8; 500_000][..]);
        assert_eq!(dec.decode(&mut part), Ok(None));
        assert!(part.is_empty());
        let mut rest = BytesMut::from(&vec![0u8; 1_000_000 + 4 - 100 - 500_000][..]);
        rest.extend_from_slice(&hb_frame(3));
        assert_eq!(dec.decode(&mut rest).unwrap().unwrap().header.seq, 3);
    }

    #[test]
    fn decode_slice_borrows_and_says_what_to_consume() {
        let mut stream = hb_frame(1).to_vec();
        let first_len = stream.len();
        stream.extend_from_slice(&hb_frame(2)[..10]);
        let mut dec = FrameDecoder::default();
        let (consumed, f) = dec.decode_slice(&stream);
        let f = f.unwrap().unwrap();
        assert_eq!((consumed, f.header.seq), (first_len, 1));
        assert_eq!(f.message().unwrap(), Message::Heartbeat(Heartbeat {}));
        assert_eq!(dec.decode_slice(&stream[consumed..]), (0, Ok(None)));
    }

    #[test]
    fn decode_slice_skips_an_oversized_frame_across_calls() {
        let mut h = Header::new(MessageType::STATUS_REPORT, Flags::NONE, 9, 1, 0);
        h.body_len = 10_000;
        let mut dec = FrameDecoder::new(1024);
        let head = h.to_bytes();
        let (consumed, r) = dec.decode_slice(&head);
        assert_eq!(consumed, HEADER_LEN);
        assert!(matches!(
            r.unwrap_err().error,
            DecodeError::FrameTooLarge { .. }
        ));
        let rest = vec![0u8; 10_000 + CRC_LEN];
        let (consumed, r) = dec.decode_slice(&rest[..5000]);
        assert_eq!((consumed, r), (5000, Ok(None)));
        let mut tail = rest[5000..].to_vec();
        tail.extend_from_slice(&hb_frame(4));
        let (consumed, r) = dec.decode_slice(&tail);
        assert_eq!(r.unwrap().unwrap().header.seq, 4);
        assert_eq!(consumed, tail.len());
    }

    #[test]
    fn unsupported_version_and_bad_flags_skip_the_frame() {
        for (version, flags) in [(2u8, 0u8), (1, 0x20)] {
            let mut h = Header::new(MessageType::HEARTBEAT, Flags::NONE, 1, 1, 0);
            h.version = version;
            h.flags = Flags(flags);
            let mut b = BytesMut::from(&h.to_bytes()[..]);
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(&hb_frame(2));
            let mut dec = FrameDecoder::default();
            let err = dec.decode(&mut b).unwrap_err();
            assert!(matches!(
                err.error,
                DecodeError::UnsupportedVersion { version: 2 }
                    | DecodeError::InvalidFlags { flags: 0x20 }
            ));
            assert_eq!(dec.decode(&mut b).unwrap().unwrap().header.seq, 2);
        }
    }

    #[test]
    fn encode_raw_checks_tag_length_and_flags() {
        let h = Header::new(
            MessageType::STATUS_REPORT,
            Flags::ENCRYPTED | Flags::MAC,
            1,
            1,
            0,
        );
        let mut b = BytesMut::new();
        assert_eq!(
            encode_raw(&mut b, h, b"xx", &[0; 3], DEFAULT_MAX_FRAME_LEN),
            Err(EncodeError::AuthTagLength {
                len: 3,
                expected: MAC_LEN
            })
        );
        encode_raw(&mut b, h, b"xx", &[0; MAC_LEN], DEFAULT_MAX_FRAME_LEN).unwrap();
        let f = FrameDecoder::default().decode(&mut b).unwrap().unwrap();
        assert_eq!(&f.body[..], b"xx");
        assert_eq!(f.auth.len(), MAC_LEN);
        assert!(matches!(f.message(), Err(DecodeError::Protected { .. })));
    }
}
