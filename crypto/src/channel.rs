//! The secure channel's keys and primitives: per-direction keys derived from the exchange's
//! shared key and the handshake transcript, SM4-CTR encryption with a nonce made of direction
//! and sequence number, and the HMAC-SM3 frame MAC (fast profile), or SM4-GCM with the same
//! nonce (gcm profile).
//!
//! ```text
//! keys = KDF(K ‖ SM3(transcript) ‖ "rcs v1 keys", 96 bytes)
//!      = enc(A→B) 16 ‖ enc(B→A) 16 ‖ mac(A→B) 32 ‖ mac(B→A) 32
//! session = SM3(transcript)   (signed frames sign it too)
//! IV   = direction (1 byte: 0x01 A→B, 0x02 B→A) ‖ 00 00 00 ‖ sequence (u32 BE) ‖ 8 zero bytes
//! GCM nonce = the IV's first 12 bytes (gcm profile: SM4-GCM under the direction's SM4 key)
//! ```
//!
//! The IV's low 64 bits count the 16-byte blocks of one frame, so two frames never share
//! keystream: the key differs per direction and the sequence number never repeats under one key
//! (a session rekeys before it could wrap).

use core::fmt;

use hmac::{Hmac, Mac};
use sm3::Sm3;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;
use crate::gcm::Sm4Gcm;
use crate::hash::{kdf, sm3};
use crate::kex::SharedKey;
use crate::sm4ctr::Sm4Ctr;

/// Length of the frame MAC (HMAC-SM3 truncated to its leftmost 16 bytes).
pub const MAC_LEN: usize = 16;

/// Who sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The AGV (initiator A) sends to the RCS.
    AgvToRcs,
    /// The RCS (responder B) sends to the AGV.
    RcsToAgv,
}

impl Direction {
    fn byte(self) -> u8 {
        match self {
            Direction::AgvToRcs => 1,
            Direction::RcsToAgv => 2,
        }
    }
}

/// The keys of one direction: SM4 (expanded, with its GHASH key for SM4-GCM) and the keyed
/// HMAC-SM3 state. Zeroized on drop.
#[derive(Clone)]
pub struct DirectionKeys {
    direction: Direction,
    gcm: Sm4Gcm,
    mac: Hmac<Sm3>,
}

impl fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectionKeys")
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

impl DirectionKeys {
    fn new(direction: Direction, enc: &[u8], mac: &[u8]) -> Self {
        Self {
            direction,
            gcm: Sm4Gcm::from_cipher(Sm4Ctr::new(enc.try_into().expect("16-byte key"))),
            mac: <Hmac<Sm3> as hmac::KeyInit>::new_from_slice(mac).expect("any length"),
        }
    }

    /// The direction these keys protect.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Encrypts or decrypts (the same operation) `data` of the frame with sequence number `seq`.
    pub fn apply_keystream(&self, seq: u32, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..12].copy_from_slice(&self.nonce(seq));
        self.gcm.cipher().apply_keystream(&iv, data);
    }

    /// The frame's nonce: direction ‖ 00 00 00 ‖ sequence number (u32 BE) ‖ 00 00 00 00.
    fn nonce(&self, seq: u32) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[0] = self.direction.byte();
        n[4..8].copy_from_slice(&seq.to_be_bytes());
        n
    }

    /// SM4-GCM (gcm profile): encrypts `data` of the frame with sequence number `seq` in place
    /// and returns the tag over `aad` (the frame's header) and the ciphertext.
    pub fn gcm_seal(&self, seq: u32, aad: &[u8], data: &mut [u8]) -> [u8; MAC_LEN] {
        self.gcm.seal(&self.nonce(seq), aad, data)
    }

    /// SM4-GCM (gcm profile): checks the tag in constant time and decrypts `data` in place;
    /// on a bad tag `data` is zeroed.
    pub fn gcm_open(&self, seq: u32, aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<(), Error> {
        self.gcm.open(&self.nonce(seq), aad, data, tag)
    }

    /// The MAC of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut m = self.mac.clone();
        for p in parts {
            m.update(p);
        }
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// Checks a MAC in constant time.
    pub fn verify_mac(&self, parts: &[&[u8]], tag: &[u8]) -> Result<(), Error> {
        let mut m = self.mac.clone();
        for p in parts {
            m.update(p);
        }
        m.verify_truncated_left(tag).map_err(|_| Error::BadMac)
    }
}

/// Both directions' keys of a session, seen from one side.
#[derive(Clone, Debug)]
pub struct ChannelKeys {
    /// Keys for frames this side sends.
    pub send: DirectionKeys,
    /// Keys for frames this side receives.
    pub recv: DirectionKeys,
    /// The session's identity, `SM3(transcript)` (public): a signed frame's signature covers it
    /// after the frame's bytes, so a signed frame of one session never verifies in another
    /// (docs/protocol.md 10.2).
    pub session: [u8; 32],
}

/// Key material before it is split. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Material([u8; 96]);

impl ChannelKeys {
    /// Derives the keys from the exchange's `K` and the handshake transcript (the access request
    /// and response bodies as sent), for the AGV side (`agv = true`) or the RCS side.
    pub fn derive(key: &SharedKey, transcript: &[&[u8]], agv: bool) -> Self {
        let transcript_hash = sm3(transcript);
        let mut m = Material([0u8; 96]);
        kdf(&[&key.0, &transcript_hash, b"rcs v1 keys"], &mut m.0);
        let a2b = DirectionKeys::new(Direction::AgvToRcs, &m.0[..16], &m.0[32..64]);
        let b2a = DirectionKeys::new(Direction::RcsToAgv, &m.0[16..32], &m.0[64..]);
        let (send, recv) = if agv { (a2b, b2a) } else { (b2a, a2b) };
        Self {
            send,
            recv,
            session: transcript_hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (ChannelKeys, ChannelKeys) {
        let k = SharedKey([7; 16]);
        (
            ChannelKeys::derive(&k, &[b"req", b"resp"], true),
            ChannelKeys::derive(&k, &[b"req", b"resp"], false),
        )
    }

    #[test]
    fn each_side_decrypts_what_the_other_encrypts() {
        let (agv, rcs) = pair();
        let mut data = *b"status report body, more than one block long";
        agv.send.apply_keystream(9, &mut data);
        assert_ne!(&data[..], b"status report body, more than one block long");
        rcs.recv.apply_keystream(9, &mut data);
        assert_eq!(&data[..], b"status report body, more than one block long");
        let tag = rcs.send.mac(&[b"hdr", b"body"]);
        agv.recv.verify_mac(&[b"hdr", b"body"], &tag).unwrap();
        assert_eq!(
            agv.recv.verify_mac(&[b"hdr", b"bodY"], &tag),
            Err(Error::BadMac)
        );
    }

    #[test]
    fn directions_and_sequence_numbers_give_different_keystreams() {
        let (agv, _) = pair();
        let ks = |keys: &DirectionKeys, seq| {
            let mut z = [0u8; 32];
            keys.apply_keystream(seq, &mut z);
            z
        };
        assert_ne!(ks(&agv.send, 1), ks(&agv.recv, 1));
        assert_ne!(ks(&agv.send, 1), ks(&agv.send, 2));
        // block 1 of frame 1 is not block 0 of any other frame number
        assert_ne!(ks(&agv.send, 1)[16..], ks(&agv.send, 2)[..16]);
    }

    #[test]
    fn the_counter_is_the_iv_plus_the_block_number_big_endian() {
        // docs/protocol.md 10.2: block i is XORed with SM4(key, IV + i), the IV a 128-bit
        // big-endian integer; across 256 blocks the carry reaches byte 14.
        let enc = [0x5a; 16];
        let keys = DirectionKeys::new(Direction::RcsToAgv, &enc, &[1; 32]);
        let cipher = Sm4Ctr::new(&enc);
        let mut data = alloc::vec![0u8; 16 * 300 + 5];
        keys.apply_keystream(0x0102_0304, &mut data);
        let iv = [2, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        for (i, tail) in [
            (0usize, [0u8, 0]),
            (1, [0, 1]),
            (255, [0, 0xff]),
            (256, [1, 0]),
            (300, [1, 0x2c]),
        ] {
            let mut block = iv;
            block[14..].copy_from_slice(&tail);
            cipher.encrypt_block(&mut block);
            let got = &data[16 * i..(16 * i + 16).min(data.len())];
            assert_eq!(got, &block[..got.len()], "block {i}");
        }
    }

    #[test]
    fn transcript_changes_every_key() {
        let k = SharedKey([7; 16]);
        let a = ChannelKeys::derive(&k, &[b"req", b"resp"], true);
        let b = ChannelKeys::derive(&k, &[b"req", b"resp (fast)"], true);
        assert_ne!(a.send.mac(&[b"x"]), b.send.mac(&[b"x"]));
    }

    /// crypto-vectors.md section 2: GB/T 32907 examples, and SM4-CTR as OpenSSL computes it.
    #[test]
    fn gb_t_32907_sm4_vectors() {
        use sm4::Sm4;
        use sm4::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
        let key = hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let cipher = Sm4::new_from_slice(&key).unwrap();
        let mut block = sm4::cipher::Block::<Sm4>::try_from(key.as_slice()).unwrap();
        cipher.encrypt_block(&mut block);
        assert_eq!(hex::encode_upper(block), "681EDF34D206965E86B3E94F536E4246");
        let mut block = sm4::cipher::Block::<Sm4>::try_from(key.as_slice()).unwrap();
        for _ in 0..1_000_000 {
            cipher.encrypt_block(&mut block);
        }
        assert_eq!(hex::encode_upper(block), "595298C7C6FD271F0402F804C33D3F66");

        let iv = hex::decode("000102030405060708090A0B0C0D0E0F").unwrap();
        let mut data: alloc::vec::Vec<u8> = (0u8..64).collect();
        let mut ctr = ctr::Ctr128BE::<Sm4>::new_from_slices(&key, &iv).unwrap();
        ctr.apply_keystream(&mut data);
        let expected = "06999E6239A36EAA2284FD89EDA5F7657F161F5854B6EA16C28809FE9D1DB3053CFB70C3EE0AD1492AC453E5DF31AA42F4996449643F266E08ABB2059A04C090";
        assert_eq!(hex::encode_upper(data), expected);

        // The same vectors through this crate's own SM4-CTR, each implementation.
        let key16: [u8; 16] = key.as_slice().try_into().unwrap();
        let backends = crate::sm4ctr::Backend::ALL.into_iter();
        for fast in backends.filter_map(|b| Sm4Ctr::with_backend(&key16, b)) {
            let mut block = key16;
            fast.encrypt_block(&mut block);
            assert_eq!(hex::encode_upper(block), "681EDF34D206965E86B3E94F536E4246");
            for _ in 1..1_000_000 {
                fast.encrypt_block(&mut block);
            }
            assert_eq!(hex::encode_upper(block), "595298C7C6FD271F0402F804C33D3F66");
            let mut data: alloc::vec::Vec<u8> = (0u8..64).collect();
            fast.apply_keystream(iv.as_slice().try_into().unwrap(), &mut data);
            assert_eq!(hex::encode_upper(data), expected, "{:?}", fast.backend());
        }
    }
}
