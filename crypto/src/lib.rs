//! The cryptography of the rcs secure mode, on the RustCrypto `sm2`, `sm3` and `sm4` crates:
//!
//! - [`hash`]: SM3, the SM3 key-derivation function and the user hash `Z` of GB/T 32918;
//! - [`sign`]: SM2 signatures with a distinguishing identifier, raw `r ‖ s` and DER, and a
//!   [`sign::CachedVerifier`] that verifies a fixed key's signatures faster (variable time, for
//!   public data only); both on the crate's own point arithmetic over fiat-crypto's SM2 field
//!   (private modules `field`, `point`, `generator`), which the `sm2` crate does not expose;
//! - [`kex`]: the SM2 key exchange of GB/T 32918.3 with both confirmation values;
//! - [`channel`]: the session keys derived from the exchange, SM4-CTR encryption and the
//!   HMAC-SM3 frame MAC;
//! - [`session`]: the implementation of `protocol::secure::ChannelCrypto` on the above;
//! - [`keys`] (feature `std`): key pairs as PKCS#8 / SPKI PEM files written with mode 0600.
//!
//! Secrets (private keys, ephemeral scalars, session keys) are zeroized on drop and never
//! printed: their `Debug` output is redacted.
#![cfg_attr(not(feature = "std"), no_std)]
// `unsafe` only in `sm4ctr` (the AES-NI intrinsics: calls into `#[target_feature]` code after
// run-time detection, unaligned stores), each block with a `// SAFETY:` comment.
#![deny(unsafe_code)]

extern crate alloc;

pub mod channel;
mod field;
pub mod gcm;
mod generator;
pub mod hash;
pub mod kex;
#[cfg(feature = "std")]
pub mod keys;
mod nonce;
mod point;
pub mod session;
pub mod sign;
pub mod sm4ctr;

pub use sm2::{PublicKey, SecretKey};

/// The default distinguishing identifier of GB/T 32918 (`1234567812345678`).
pub const DEFAULT_ID: &[u8] = b"1234567812345678";

/// Errors of this crate. Deliberately coarse for verification failures: which check failed is
/// not told to a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A signature did not verify (or was malformed).
    #[error("signature verification failed")]
    BadSignature,
    /// A key-exchange confirmation value did not match.
    #[error("key confirmation failed")]
    BadConfirmation,
    /// A public key or ephemeral point is not a valid point of the curve.
    #[error("invalid point")]
    InvalidPoint,
    /// A private key is not a valid scalar.
    #[error("invalid private key")]
    InvalidKey,
    /// A distinguishing identifier longer than 8,191 bytes.
    #[error("distinguishing identifier too long")]
    IdTooLong,
    /// A MAC did not verify.
    #[error("MAC verification failed")]
    BadMac,
    /// Reading or writing a key file failed.
    #[error("key file: {0}")]
    KeyFile(alloc::string::String),
}

/// The operating system's random number generator (feature `std`).
#[cfg(feature = "std")]
pub fn system_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
