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
        self.own.sign_parts(&self.bound(parts)).0
    }

    fn verify_peer(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; SIGNATURE_LEN]>::try_from(sig) else {
            return false;
        };
        self.peer
            .verify_parts(&self.bound(parts), &Signature(sig))
            .is_ok()
    }

    fn gcm_seal(&self, seq: u32, aad: &[u8], data: &mut [u8]) -> [u8; MAC_LEN] {
        self.keys.send.gcm_seal(seq, aad, data)
    }

    fn gcm_open(&self, seq: u32, aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        self.keys.recv.gcm_open(seq, aad, data, tag).is_ok()
    }
}

impl SessionCrypto {
    /// `parts` followed by the session's identity: what a protected frame's signature covers
    /// (docs/protocol.md 10.2).
    fn bound<'a>(&'a self, parts: &[&'a [u8]]) -> alloc::vec::Vec<&'a [u8]> {
        let mut all = alloc::vec::Vec::with_capacity(parts.len() + 1);
        all.extend_from_slice(parts);
        all.push(&self.keys.session[..]);
        all
    }
}

/// The AGV's handshake: its key, the provisioned RCS key, the exchange in progress.
pub struct AgvHandshake<R> {
    own: Arc<SigningKey>,
    rcs: Arc<CachedVerifier>,
    id: alloc::vec::Vec<u8>,
    rng: R,
    pending: Option<crate::kex::Initiator>,
}

impl<R> core::fmt::Debug for AgvHandshake<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AgvHandshake").finish_non_exhaustive()
    }
}

impl<R: rand_core::CryptoRng> AgvHandshake<R> {
    /// The AGV's key `own` (with its identifier `id`) and the RCS's verifier.
    pub fn new(own: Arc<SigningKey>, id: &[u8], rcs: Arc<CachedVerifier>, rng: R) -> Self {
        Self {
            own,
            rcs,
            id: id.to_vec(),
            rng,
            pending: None,
        }
    }
}

impl<R: rand_core::CryptoRng> protocol::session::AgvCrypto for AgvHandshake<R> {
    type Channel = SessionCrypto;

    fn start(&mut self) -> protocol::message::KeyExchangeInit {
        let (init, ephemeral) = crate::kex::Initiator::start(&mut self.rng);
        self.pending = Some(init);
        protocol::message::KeyExchangeInit {
            id: self.id.clone(),
            key_id: self.own.verifying_key().key_id(),
            ephemeral,
        }
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; SIGNATURE_LEN] {
        self.own.sign_parts(parts).0
    }

    fn verify_rcs(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        <[u8; SIGNATURE_LEN]>::try_from(sig)
            .is_ok_and(|s| self.rcs.verify_parts_once(parts, &Signature(s)).is_ok())
    }

    fn finish(
        &mut self,
        reply: &protocol::message::KeyExchangeReply,
        transcript: &[&[u8]],
    ) -> Option<([u8; 32], SessionCrypto)> {
        let init = self.pending.take()?;
        // The RCS's identifier comes in the reply: its Z must be computed with it.
        let rcs_key =
            crate::sign::VerifyingKey::new(&reply.id, *self.rcs.key().public_key()).ok()?;
        let (key, confirm) = init
            .finish(&self.own, &rcs_key, &reply.ephemeral, &reply.confirm)
            .ok()?;
        let keys = ChannelKeys::derive(&key, transcript, true);
        Some((
            confirm,
            SessionCrypto::new(keys, self.own.clone(), self.rcs.clone()),
        ))
    }
}

/// Where the RCS finds enrolled AGV keys.
pub trait KeyStore {
    /// The verifier of the key enrolled for `agv_id` whose key id is `key_id`, if any, built
    /// with the distinguishing identifier the key was enrolled with: the AGV must announce and
    /// sign with that identifier.
    fn lookup(&self, agv_id: u32, key_id: &[u8; 32]) -> Option<Arc<CachedVerifier>>;
    /// The access policy of `agv_id`, where it overrides the server's `default`.
    fn policy(
        &self,
        agv_id: u32,
        default: protocol::session::RcsPolicy,
    ) -> protocol::session::RcsPolicy {
        let _ = agv_id;
        default
    }
}

/// The RCS's handshake: its key, the enrolled AGV keys, the exchange in progress.
pub struct RcsHandshake<S, R> {
    own: Arc<SigningKey>,
    id: alloc::vec::Vec<u8>,
    store: S,
    rng: R,
    agv: Option<Arc<CachedVerifier>>,
    pending: Option<crate::kex::Responder>,
}

impl<S, R> core::fmt::Debug for RcsHandshake<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RcsHandshake").finish_non_exhaustive()
    }
}

impl<S: KeyStore, R: rand_core::CryptoRng> RcsHandshake<S, R> {
    /// The RCS key `own` with its identifier `id`, the enrolled AGV keys.
    pub fn new(own: Arc<SigningKey>, id: &[u8], store: S, rng: R) -> Self {
        Self {
            own,
            id: id.to_vec(),
            store,
            rng,
            agv: None,
            pending: None,
        }
    }
}

impl<S: KeyStore, R: rand_core::CryptoRng> protocol::session::RcsCrypto for RcsHandshake<S, R> {
    type Channel = SessionCrypto;

    fn policy(
        &self,
        agv_id: u32,
        default: protocol::session::RcsPolicy,
    ) -> protocol::session::RcsPolicy {
        self.store.policy(agv_id, default)
    }

    fn verify_request(
        &mut self,
        agv_id: u32,
        init: &protocol::message::KeyExchangeInit,
        parts: &[&[u8]],
        sig: &[u8],
    ) -> bool {
        let Some(verifier) = self.store.lookup(agv_id, &init.key_id) else {
            return false;
        };
        // The AGV signs with the identifier it was enrolled with, and announces that one as
        // `ID_A` (docs/protocol.md 10.1): an announced identifier other than the enrolled one
        // is refused, and the signature is verified with the enrolled identifier only. (The
        // key and the identifier make Z together: the same key announced with another
        // identifier gives another Z.)
        let Ok(announced) = crate::sign::VerifyingKey::new(&init.id, *verifier.key().public_key())
        else {
            return false;
        };
        if announced.z() != verifier.key().z() {
            return false;
        }
        let ok = <[u8; SIGNATURE_LEN]>::try_from(sig)
            .is_ok_and(|s| verifier.verify_parts_once(parts, &Signature(s)).is_ok());
        if ok {
            self.agv = Some(verifier);
        }
        ok
    }

    fn respond(
        &mut self,
        init: &protocol::message::KeyExchangeInit,
    ) -> Option<protocol::message::KeyExchangeReply> {
        let agv = self.agv.as_ref()?;
        let (state, ephemeral, confirm) =
            crate::kex::Responder::respond(&self.own, agv.key(), &init.ephemeral, &mut self.rng)
                .ok()?;
        self.pending = Some(state);
        Some(protocol::message::KeyExchangeReply {
            id: self.id.clone(),
            ephemeral,
            confirm,
        })
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; SIGNATURE_LEN] {
        self.own.sign_parts(parts).0
    }

    fn verify_agv(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        let Some(agv) = self.agv.as_ref() else {
            return false;
        };
        <[u8; SIGNATURE_LEN]>::try_from(sig)
            .is_ok_and(|s| agv.verify_parts_once(parts, &Signature(s)).is_ok())
    }

    fn confirm(&mut self, confirm: &[u8; 32], transcript: &[&[u8]]) -> Option<SessionCrypto> {
        let key = self.pending.take()?.confirm(confirm).ok()?;
        let keys = ChannelKeys::derive(&key, transcript, false);
        Some(SessionCrypto::new(
            keys,
            self.own.clone(),
            self.agv.clone()?,
        ))
    }
}
