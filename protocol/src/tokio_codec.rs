//! tokio-util `Decoder`/`Encoder` adapter over [`FrameDecoder`] and the frame encoders
//! (feature `tokio`).
//!
//! A decode error does not end the stream: the item is `Result<Frame, FrameError>` so the
//! connection driver can answer with an error frame, count it and decide when to close.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{EncodeError, FrameError};
use crate::frame::{self, Frame, FrameDecoder, Header};
use crate::message::Message;

/// The frame codec for `tokio_util::codec::Framed`.
#[derive(Debug, Clone, Default)]
pub struct FrameCodec {
    decoder: FrameDecoder,
}

impl FrameCodec {
    /// A codec with a frame size limit (see [`FrameDecoder::new`]).
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            decoder: FrameDecoder::new(max_frame_len),
        }
    }
}

/// What the codec can write: a plaintext message, or a prepared (protected) frame.
#[derive(Debug, Clone)]
pub enum Outgoing<'a> {
    /// A plaintext frame: header and message.
    Plain(Header, &'a Message),
    /// A prepared frame: header, body (ciphertext) and authentication tag.
    Raw(Header, &'a [u8], &'a [u8]),
}

/// Errors of the codec: the transport's, or an unencodable frame.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The frame could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl Decoder for FrameCodec {
    type Item = Result<Frame, FrameError>;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.decoder.decode(src) {
            Ok(Some(frame)) => Ok(Some(Ok(frame))),
            Ok(None) => Ok(None),
            Err(e) => Ok(Some(Err(e))),
        }
    }
}

impl Encoder<Outgoing<'_>> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Outgoing<'_>, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let max = self.decoder.max_frame_len();
        match item {
            Outgoing::Plain(header, message) => frame::encode_message(dst, header, message, max)?,
            Outgoing::Raw(header, body, auth) => frame::encode_raw(dst, header, body, auth, max)?,
        }
        Ok(())
    }
}
