//! A crypto provider that accepts every signature and MAC and encrypts nothing (feature
//! `arbitrary`), for either end: it lets a fuzzer reach the session logic behind the signature
//! checks. **Never use it outside tests.**

use alloc::vec::Vec;

use super::{AgvCrypto, RcsCrypto};
use crate::frame::MAC_LEN;
use crate::message::{KeyExchangeInit, KeyExchangeReply};
use crate::secure::ChannelCrypto;

/// Accepts everything, protects nothing. For fuzzing only.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl ChannelCrypto for AcceptAll {
    fn apply_keystream(&self, _: bool, _: u32, _: &mut [u8]) {}
    fn mac(&self, _: &[&[u8]]) -> [u8; MAC_LEN] {
        [0; MAC_LEN]
    }
    fn verify_mac(&self, _: &[&[u8]], _: &[u8]) -> bool {
        true
    }
    fn sign(&self, _: &[&[u8]]) -> [u8; 64] {
        [0; 64]
    }
    fn verify_peer(&self, _: &[&[u8]], _: &[u8]) -> bool {
        true
    }
    fn gcm_seal(&self, _: u32, _: &[u8], _: &mut [u8]) -> [u8; MAC_LEN] {
        [0; MAC_LEN]
    }
    fn gcm_open(&self, _: u32, _: &[u8], _: &mut [u8], _: &[u8]) -> bool {
        true
    }
}

impl RcsCrypto for AcceptAll {
    type Channel = AcceptAll;
    fn verify_request(&mut self, _: u32, _: &KeyExchangeInit, _: &[&[u8]], _: &[u8]) -> bool {
        true
    }
    fn respond(&mut self, init: &KeyExchangeInit) -> Option<KeyExchangeReply> {
        Some(KeyExchangeReply {
            id: Vec::from(&init.id[..]),
            ephemeral: init.ephemeral,
            confirm: [0; 32],
        })
    }
    fn sign(&self, _: &[&[u8]]) -> [u8; 64] {
        [0; 64]
    }
    fn verify_agv(&self, _: &[&[u8]], _: &[u8]) -> bool {
        true
    }
    fn confirm(&mut self, _: &[u8; 32], _: &[&[u8]]) -> Option<AcceptAll> {
        Some(AcceptAll)
    }
}

impl AgvCrypto for AcceptAll {
    type Channel = AcceptAll;
    fn start(&mut self) -> KeyExchangeInit {
        KeyExchangeInit {
            id: Vec::from(&b"agv"[..]),
            key_id: [0; 32],
            ephemeral: [4; 65],
        }
    }
    fn sign(&self, _: &[&[u8]]) -> [u8; 64] {
        [0; 64]
    }
    fn verify_rcs(&self, _: &[&[u8]], _: &[u8]) -> bool {
        true
    }
    fn finish(&mut self, _: &KeyExchangeReply, _: &[&[u8]]) -> Option<([u8; 32], AcceptAll)> {
        Some(([0; 32], AcceptAll))
    }
}
