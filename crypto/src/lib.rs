//! SM2 key exchange and signatures, SM4 and SM3 for the secure mode of the rcs protocol.
//!
//! Not filled yet: the crypto issue builds this crate. It exists so the workspace layout is
//! final from the first commit.
#![no_std]
