//! The `crypto` crate's implementation of [`protocol::secure::ChannelCrypto`]: the channel keys
//! of one session, this side's signing key and the peer's cached verifier.

use alloc::sync::Arc;

use protocol::frame::{MAC_LEN, SIGNATURE_LEN};
use protocol::secure::ChannelCrypto;

use crate::channel::ChannelKeys;
use crate::sign::{CachedVerifier, Signature, SigningKey};

/// The primitives of one established session, seen from one side.
#[derive(Clone, Debug)]
pub struct SessionCrypto {
    keys: ChannelKeys,
    own: Arc<SigningKey>,
    peer: Arc<CachedVerifier>,
}

impl SessionCrypto {
    /// A session's primitives: its channel keys, this side's key, the peer's verifier (shared:
    /// a server keeps one verifier per enrolled AGV across sessions).
    pub fn new(keys: ChannelKeys, own: Arc<SigningKey>, peer: Arc<CachedVerifier>) -> Self {
        Self { keys, own, peer }
    }
}

impl ChannelCrypto for SessionCrypto {
    fn apply_keystream(&self, send: bool, seq: u32, data: &mut [u8]) {
        let keys = if send {
            &self.keys.send
        } else {
            &self.keys.recv
        };
        keys.apply_keystream(seq, data);
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        self.keys.send.mac(parts)
    }

    fn verify_mac(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.keys.recv.verify_mac(parts, tag).is_ok()
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; SIGNATURE_LEN] {
        self.own.sign_parts(parts).0
    }

    fn verify_peer(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; SIGNATURE_LEN]>::try_from(sig) else {
            return false;
        };
        self.peer.verify_parts(parts, &Signature(sig)).is_ok()
    }
}
