//! Secure mode with the cryptography in C: a hardware security module, or a vendor library,
//! behind callbacks (`rcs_agv_new_with_crypto`). They implement the two traits through which
//! `protocol` takes its cryptography: the handshake (`AgvCrypto`: the SM2 key exchange of
//! GB/T 32918.3 and the AGV's signatures) and the channel (`ChannelCrypto`: SM4 keystream, MAC,
//! signatures bound to the session; SM4-GCM with `rcs_agv_new_with_crypto_gcm` and an
//! [`RcsGcmCallbacks`]), so the AGV's private key and the session keys never need to leave the
//! module.

use core::ffi::c_void;

use protocol::frame::MAC_LEN;
use protocol::message::{KeyExchangeInit, KeyExchangeReply};
use protocol::secure::ChannelCrypto;
use protocol::session::AgvCrypto;

/// A byte string handed to a callback (valid for the call only).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsBytes {
    /// The bytes.
    pub ptr: *const u8,
    /// Their number.
    pub len: usize,
}

/// The cryptography of a secure session, in C. Every callback gets `user` first; `parts` is a
/// list of `parts_len` byte strings whose concatenation is the data (signed, MACed...). A
/// callback returning `false` fails the operation: the handshake is refused, the frame dropped.
/// Callbacks must not unwind (no `longjmp` out of them) and must not call back into the
/// session. All are required.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsCryptoCallbacks {
    /// Passed to every callback.
    pub user: *mut c_void,
    /// Starts a key exchange: writes the key id of the AGV's key (SM3 of its public key,
    /// docs/protocol.md 10) to `key_id` (32 bytes) and a fresh ephemeral point `R_A`, SEC1
    /// uncompressed, to `ephemeral` (65 bytes).
    pub start: Option<
        unsafe extern "C" fn(user: *mut c_void, key_id: *mut u8, ephemeral: *mut u8) -> bool,
    >,
    /// Signs `parts` with the AGV's private key (SM2 with its identifier): 64 bytes `r || s`
    /// to `signature`.
    pub sign: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            parts: *const RcsBytes,
            parts_len: usize,
            signature: *mut u8,
        ) -> bool,
    >,
    /// Whether `signature` (`signature_len` bytes) is the RCS's over `parts`, with the
    /// provisioned RCS key.
    pub verify_rcs: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            parts: *const RcsBytes,
            parts_len: usize,
            signature: *const u8,
            signature_len: usize,
        ) -> bool,
    >,
    /// Finishes the key exchange with the RCS's reply (`rcs_id`, its ephemeral point `R_B`, 65
    /// bytes, and confirmation `S_B`, 32 bytes): checks `S_B`, derives the session keys from
    /// the shared key and the transcript `parts` (docs/protocol.md 10), keeps them for the
    /// channel callbacks, and writes `S_A` (32 bytes) to `confirm`.
    pub finish: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            rcs_id: RcsBytes,
            rcs_ephemeral: *const u8,
            rcs_confirm: *const u8,
            transcript: *const RcsBytes,
            transcript_len: usize,
            confirm: *mut u8,
        ) -> bool,
    >,
    /// Encrypts or decrypts (SM4-CTR) `len` bytes at `data` in place, for a frame sent
    /// (`send`) or received, with its sequence number.
    pub apply_keystream: Option<
        unsafe extern "C" fn(user: *mut c_void, send: bool, seq: u32, data: *mut u8, len: usize),
    >,
    /// The MAC (16 bytes) of a frame sent, over `parts`, to `tag`.
    pub mac: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            parts: *const RcsBytes,
            parts_len: usize,
            tag: *mut u8,
        ) -> bool,
    >,
    /// Whether `tag` is the MAC of a received frame over `parts` (in constant time).
    pub verify_mac: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            parts: *const RcsBytes,
            parts_len: usize,
            tag: *const u8,
            tag_len: usize,
        ) -> bool,
    >,
    /// The AGV's signature (64 bytes) over `parts` followed by the session's identity, to
    /// `signature` (docs/protocol.md 10.2).
    pub channel_sign: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            parts: *const RcsBytes,
            parts_len: usize,
            signature: *mut u8,
        ) -> bool,
    >,
    /// Whether `signature` is the RCS's over `parts` followed by the session's identity.
    pub verify_peer: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            parts: *const RcsBytes,
            parts_len: usize,
            signature: *const u8,
            signature_len: usize,
        ) -> bool,
    >,
}

/// SM4-GCM in C, for the gcm profile (docs/protocol.md 10.2), beside an [`RcsCryptoCallbacks`]
/// whose `user` both get first (`rcs_agv_new_with_crypto_gcm`). The key is the module's SM4 key
/// of the direction (the one `apply_keystream` uses for it), the 12-byte nonce the first 12
/// bytes of the frame's IV (docs/protocol.md 10.2: direction ‖ 00 00 00 ‖ `seq` big-endian ‖
/// 00 00 00 00), the associated data `aad` the frame's 32-byte header, the tag 16 bytes.
/// Both are required; returning `false` fails the operation (the frame is not sent, or dropped).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RcsGcmCallbacks {
    /// Encrypts `len` bytes at `data` in place, a frame sent with sequence number `seq`, and
    /// writes the tag over `aad` (`aad_len` bytes) and the ciphertext to `tag` (16 bytes).
    pub seal: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            seq: u32,
            aad: *const u8,
            aad_len: usize,
            data: *mut u8,
            len: usize,
            tag: *mut u8,
        ) -> bool,
    >,
    /// Whether `tag` (`tag_len` bytes) is the tag of a received frame with sequence number
    /// `seq` over `aad` and the ciphertext `data` (in constant time); if so, decrypts `data` in
    /// place. On `false` the contents of `data` do not matter (the frame is dropped).
    pub open: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            seq: u32,
            aad: *const u8,
            aad_len: usize,
            data: *mut u8,
            len: usize,
            tag: *const u8,
            tag_len: usize,
        ) -> bool,
    >,
}

impl RcsGcmCallbacks {
    /// Whether both callbacks are set.
    pub fn complete(&self) -> bool {
        self.seal.is_some() && self.open.is_some()
    }
}

impl RcsCryptoCallbacks {
    /// Whether every callback is set.
    pub fn complete(&self) -> bool {
        self.start.is_some()
            && self.sign.is_some()
            && self.verify_rcs.is_some()
            && self.finish.is_some()
            && self.apply_keystream.is_some()
            && self.mac.is_some()
            && self.verify_mac.is_some()
            && self.channel_sign.is_some()
            && self.verify_peer.is_some()
    }
}

/// `parts` as a list of [`RcsBytes`].
/// A callback that writes a signature or a tag over the parts (`true`: written).
type WriteOver = unsafe extern "C" fn(*mut c_void, *const RcsBytes, usize, *mut u8) -> bool;

/// A callback that checks a signature or a tag over the parts.
type CheckOver =
    unsafe extern "C" fn(*mut c_void, *const RcsBytes, usize, *const u8, usize) -> bool;

/// The `N` bytes (a signature or a tag) callback `f` writes over `parts`; zeros when it is not
/// set (a session refuses incomplete callbacks at creation).
fn written<const N: usize>(f: Option<WriteOver>, user: *mut c_void, parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    let list = list(parts);
    if let Some(f) = f {
        // SAFETY: the parts are live slices; `N` writable bytes, the length the callback's
        // contract names for the signature (64) or the tag (MAC_LEN) it writes.
        unsafe { f(user, list.as_ptr(), list.len(), out.as_mut_ptr()) };
    }
    out
}

/// Whether callback `f` accepts `sig` (a signature or a tag) over `parts`; false when not set.
fn checked(f: Option<CheckOver>, user: *mut c_void, parts: &[&[u8]], sig: &[u8]) -> bool {
    let list = list(parts);
    f.is_some_and(|f| {
        // SAFETY: the parts and the signature are live slices.
        unsafe { f(user, list.as_ptr(), list.len(), sig.as_ptr(), sig.len()) }
    })
}

fn list(parts: &[&[u8]]) -> Vec<RcsBytes> {
    parts
        .iter()
        .map(|p| RcsBytes {
            ptr: p.as_ptr(),
            len: p.len(),
        })
        .collect()
}

/// The handshake through the callbacks.
#[derive(Debug)]
pub struct Callbacks {
    cb: RcsCryptoCallbacks,
    gcm: Option<RcsGcmCallbacks>,
    /// `ID_A`, the AGV key's distinguishing identifier.
    id: Vec<u8>,
}

impl Callbacks {
    /// Callbacks checked complete ([`RcsCryptoCallbacks::complete`],
    /// [`RcsGcmCallbacks::complete`]) and the identifier.
    pub fn new(cb: RcsCryptoCallbacks, gcm: Option<RcsGcmCallbacks>, id: Vec<u8>) -> Self {
        Self { cb, gcm, id }
    }
}

/// The channel through the callbacks (the session keys stay on the C side).
#[derive(Debug)]
pub struct Channel {
    cb: RcsCryptoCallbacks,
    gcm: Option<RcsGcmCallbacks>,
}

// In the four impls below every callback is `Some` (checked by `complete` before a session is
// made), and each gets pointers to live Rust buffers of the lengths its contract names.

impl AgvCrypto for Callbacks {
    type Channel = Channel;

    fn start(&mut self) -> KeyExchangeInit {
        let mut key_id = [0u8; 32];
        let mut ephemeral = [0u8; 65];
        if let Some(f) = self.cb.start {
            // SAFETY: 32 and 65 writable bytes; the C contract of `start`.
            unsafe { f(self.cb.user, key_id.as_mut_ptr(), ephemeral.as_mut_ptr()) };
        }
        KeyExchangeInit {
            id: self.id.clone(),
            key_id,
            ephemeral,
        }
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; 64] {
        written(self.cb.sign, self.cb.user, parts)
    }

    fn verify_rcs(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        checked(self.cb.verify_rcs, self.cb.user, parts, sig)
    }

    fn finish(
        &mut self,
        reply: &KeyExchangeReply,
        transcript: &[&[u8]],
    ) -> Option<([u8; 32], Channel)> {
        let f = self.cb.finish?;
        let list = list(transcript);
        let mut confirm = [0u8; 32];
        let id = RcsBytes {
            ptr: reply.id.as_ptr(),
            len: reply.id.len(),
        };
        // SAFETY: every pointer is a live slice of the length the contract names (65, 32 and
        // 32 bytes for the points and confirmations).
        let ok = unsafe {
            f(
                self.cb.user,
                id,
                reply.ephemeral.as_ptr(),
                reply.confirm.as_ptr(),
                list.as_ptr(),
                list.len(),
                confirm.as_mut_ptr(),
            )
        };
        ok.then_some((
            confirm,
            Channel {
                cb: self.cb,
                gcm: self.gcm,
            },
        ))
    }
}

impl ChannelCrypto for Channel {
    fn apply_keystream(&self, send: bool, seq: u32, data: &mut [u8]) {
        if let Some(f) = self.cb.apply_keystream {
            // SAFETY: `data` is a live, writable slice.
            unsafe { f(self.cb.user, send, seq, data.as_mut_ptr(), data.len()) }
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        written(self.cb.mac, self.cb.user, parts)
    }

    fn verify_mac(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        checked(self.cb.verify_mac, self.cb.user, parts, tag)
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; 64] {
        written(self.cb.channel_sign, self.cb.user, parts)
    }

    fn verify_peer(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        checked(self.cb.verify_peer, self.cb.user, parts, sig)
    }

    // Without SM4-GCM callbacks a session never asks for the gcm profile
    // (`rcs_agv_new_with_crypto` refuses it) and is never granted it (the RCS grants only what
    // was asked, or the guide profile). Where there are none, or the module fails the seal,
    // the frame goes out as zeros under a tag of zeros, which the RCS refuses; and nothing
    // received is accepted.
    fn gcm_seal(&self, seq: u32, aad: &[u8], data: &mut [u8]) -> [u8; MAC_LEN] {
        let mut tag = [0u8; MAC_LEN];
        let sealed = self.gcm.and_then(|g| g.seal).is_some_and(|f| {
            // SAFETY: `aad` and `data` are live slices (`data` writable), `tag` MAC_LEN
            // writable bytes, the 16 the contract names.
            unsafe {
                f(
                    self.cb.user,
                    seq,
                    aad.as_ptr(),
                    aad.len(),
                    data.as_mut_ptr(),
                    data.len(),
                    tag.as_mut_ptr(),
                )
            }
        });
        if !sealed {
            data.fill(0);
            tag = [0; MAC_LEN];
        }
        tag
    }

    fn gcm_open(&self, seq: u32, aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        self.gcm.and_then(|g| g.open).is_some_and(|f| {
            // SAFETY: `aad`, `data` (writable) and `tag` are live slices.
            unsafe {
                f(
                    self.cb.user,
                    seq,
                    aad.as_ptr(),
                    aad.len(),
                    data.as_mut_ptr(),
                    data.len(),
                    tag.as_ptr(),
                    tag.len(),
                )
            }
        })
    }
}
