//! Errors of the wire format.
//!
//! Every error that bad input can cause is a variant here, carrying the offending value and the
//! byte offset where it was found. Offsets inside a message body are relative to the start of the
//! body; [`crate::frame::FrameDecoder`] reports frame-level errors relative to the frame start.

use crate::frame::Header;

/// Why a frame or message body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a complete value: `needed` more bytes were expected at `offset`.
    #[error("truncated at offset {offset}: {needed} more byte(s) needed")]
    Truncated {
        /// Where the incomplete value starts.
        offset: usize,
        /// How many more bytes the value needed.
        needed: usize,
    },
    /// The frame does not start with the magic `A5 5A`; `skipped` bytes were dropped while
    /// resynchronising.
    #[error("bad magic: {skipped} byte(s) skipped to resynchronise")]
    BadMagic {
        /// Bytes dropped before the next candidate magic.
        skipped: usize,
    },
    /// The header checksum does not match: the header (and so its length) cannot be trusted.
    #[error("header checksum mismatch: computed {computed:#06x}, frame says {found:#06x}")]
    HeaderChecksum {
        /// CRC-16 computed over the received header.
        computed: u16,
        /// CRC-16 carried by the frame.
        found: u16,
    },
    /// The frame's protocol version is not one this implementation speaks.
    #[error("unsupported protocol version {version}")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
    /// Reserved flag bits are set, or flags that exclude each other are combined.
    #[error("invalid flags {flags:#04x}")]
    InvalidFlags {
        /// The flags byte received.
        flags: u8,
    },
    /// The frame is longer than the receiver's limit (checked before anything is allocated).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Total frame length the header announces.
        len: u64,
        /// The receiver's limit.
        max: usize,
    },
    /// The frame trailer checksum does not match.
    #[error("frame checksum mismatch: computed {computed:#010x}, frame says {found:#010x}")]
    Checksum {
        /// CRC-32C computed over the received body and tag.
        computed: u32,
        /// CRC-32C carried by the frame.
        found: u32,
    },
    /// The message type is not defined by this protocol version.
    #[error("unknown message type {value:#06x}")]
    UnknownMessageType {
        /// The message type received.
        value: u16,
    },
    /// An enumeration field holds a value its table does not define.
    #[error("unknown {name} value {value} at offset {offset}")]
    UnknownEnumValue {
        /// The enumeration's name.
        name: &'static str,
        /// The value received.
        value: u32,
        /// Where the field starts.
        offset: usize,
    },
    /// A boolean or presence byte is neither 0 nor 1.
    #[error("invalid boolean {value} at offset {offset}")]
    InvalidBool {
        /// The byte received.
        value: u8,
        /// Where the byte is.
        offset: usize,
    },
    /// A string field is not valid UTF-8.
    #[error("invalid UTF-8 in string at offset {offset}")]
    InvalidUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A floating-point field is NaN or infinite.
    #[error("non-finite number at offset {offset}")]
    NonFinite {
        /// Where the field starts.
        offset: usize,
    },
    /// A field violates a rule of its message (the reason names the rule).
    #[error("invalid value at offset {offset}: {reason}")]
    InvalidValue {
        /// The rule that was broken.
        reason: &'static str,
        /// Where the offending field (or message) starts.
        offset: usize,
    },
    /// The body holds bytes after its last field.
    #[error("{count} trailing byte(s) after the message at offset {offset}")]
    TrailingBytes {
        /// Where the unexpected bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// The frame is encrypted or authenticated: its body must go through the secure channel
    /// before it can be decoded as a message.
    #[error("the frame body is protected (flags {flags:#04x}); decrypt it before decoding")]
    Protected {
        /// The frame's flags.
        flags: u8,
    },
}

impl DecodeError {
    /// The same error with its offset moved by `by` bytes (body offset to frame offset).
    pub fn shifted(self, by: usize) -> Self {
        use DecodeError::*;
        match self {
            Truncated { offset, needed } => Truncated {
                offset: offset + by,
                needed,
            },
            UnknownEnumValue {
                name,
                value,
                offset,
            } => UnknownEnumValue {
                name,
                value,
                offset: offset + by,
            },
            InvalidBool { value, offset } => InvalidBool {
                value,
                offset: offset + by,
            },
            InvalidUtf8 { offset } => InvalidUtf8 {
                offset: offset + by,
            },
            NonFinite { offset } => NonFinite {
                offset: offset + by,
            },
            InvalidValue { reason, offset } => InvalidValue {
                reason,
                offset: offset + by,
            },
            TrailingBytes { offset, count } => TrailingBytes {
                offset: offset + by,
                count,
            },
            other => other,
        }
    }
}

/// A decode error found by the stream decoder, with what is known of the frame it hit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct FrameError {
    /// What was wrong.
    pub error: DecodeError,
    /// The frame's header when it was intact (its checksum matched), so the receiver can name the
    /// sequence number and message type in its error reply.
    pub header: Option<Header>,
}

/// Why a value could not be encoded. Encoding never writes a frame the decoder would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string longer than 255 bytes (its length prefix is one byte).
    #[error("string of {len} bytes exceeds 255")]
    StringTooLong {
        /// The string's length in bytes.
        len: usize,
    },
    /// A list with more than 65,535 elements (its count prefix is two bytes).
    #[error("list of {len} elements exceeds 65535")]
    ListTooLong {
        /// The number of elements.
        len: usize,
    },
    /// A NaN or infinite number.
    #[error("non-finite number")]
    NonFinite,
    /// A field violates a rule of its message (the reason names the rule).
    #[error("invalid value: {reason}")]
    InvalidValue {
        /// The rule that was broken.
        reason: &'static str,
    },
    /// The frame would exceed the size limit (or the 32-bit body length field).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Length of the frame that was being built.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The authentication tag has the wrong length for the frame's flags.
    #[error("authentication tag of {len} bytes, the flags require {expected}")]
    AuthTagLength {
        /// Length given.
        len: usize,
        /// Length the flags require.
        expected: usize,
    },
    /// Reserved flag bits are set, or flags that exclude each other are combined.
    #[error("invalid flags {flags:#04x}")]
    InvalidFlags {
        /// The flags given.
        flags: u8,
    },
}
