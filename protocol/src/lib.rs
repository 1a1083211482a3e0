//! The rcs wire format: frames, every message of the AGV <-> cloud-control interface guide, a
//! streaming decoder and an encoder.
//!
//! The byte-level specification is `docs/protocol.md`; this crate is its reference
//! implementation. It is sans-IO: no sockets, no clocks. The core is `#![no_std]` + `alloc` so
//! AGV firmware can link it (`default-features = false`).
//!
//! ```
//! use bytes::BytesMut;
//! use protocol::frame::{self, Flags, FrameDecoder, Header};
//! use protocol::message::{Heartbeat, Message, MessageType};
//!
//! let mut wire = BytesMut::new();
//! let header = Header::new(MessageType::HEARTBEAT, Flags::NONE, 1, 42, 1_700_000_000_000);
//! frame::encode_message(&mut wire, header, &Heartbeat {}.into(), frame::DEFAULT_MAX_FRAME_LEN)?;
//!
//! let frame = FrameDecoder::default().decode(&mut wire)?.expect("a whole frame");
//! assert_eq!(frame.header.agv_id, 42);
//! assert_eq!(frame.message()?, Message::Heartbeat(Heartbeat {}));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`frame`] (header, checksums, size limit, streaming decoder, encoder), [`message`]
//! (one module per message family), [`types`] (wire enumerations and shared fields),
//! [`address`] (RCS addresses for failover), [`error`].
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod address;
#[cfg(feature = "arbitrary")]
pub mod arb;
#[cfg(not(feature = "arbitrary"))]
mod arb {}
mod checksum;
mod codec;
pub mod error;
pub mod frame;
pub mod message;
pub mod secure;
pub mod session;
#[cfg(feature = "tokio")]
pub mod tokio_codec;
pub mod types;

pub use error::{DecodeError, EncodeError, FrameError};
pub use frame::{Frame, FrameDecoder, FrameRef, Header, PROTOCOL_VERSION};
pub use message::{Message, MessageType};
