//! SM4-GCM: NIST SP 800-38D's Galois/Counter Mode with SM4 as the block cipher, as RFC 8998
//! uses it in TLS 1.3 (`TLS_SM4_GCM_SM3`), with 12-byte nonces and 16-byte tags. The `gcm`
//! secure profile authenticates and encrypts its frames with it (docs/protocol.md 10.2).
//!
//! ```text
//! H  = SM4(K, 0^128)                      (the GHASH key, computed once per key)
//! J0 = nonce ‖ 00 00 00 01
//! C  = P ⊕ keystream from J0 + 1          (the counter's low 32 bits; never carries here)
//! T  = GHASH_H(A, C) ⊕ SM4(K, J0)
//! ```
//!
//! The encryption is [`Sm4Ctr`] (its accelerated backends), the tag's mask comes out of the same
//! run of the rounds ([`Sm4Ctr::apply_keystream_masked`]), and GHASH is RustCrypto's `ghash`
//! (carry-less multiplication where the CPU has it, chosen at run time). Checked against RFC
//! 8998's SM4-GCM vector and, by a property test, against RustCrypto's generic `aes-gcm` over
//! its `sm4` (crypto/tests/sm4_gcm.rs).

use core::fmt;

use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::Error;
use crate::sm4ctr::Sm4Ctr;

/// Length of an SM4-GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Length of an SM4-GCM tag.
pub const TAG_LEN: usize = 16;

/// The most data one nonce may protect: the 32-bit block counter starts at 2 and must not wrap
/// (SP 800-38D's limit, 2^39 − 256 bits).
pub const MAX_DATA_LEN: u64 = ((1 << 32) - 2) * 16;

/// An SM4-GCM key: the expanded SM4 key and the keyed GHASH. Zeroized on drop (the SM4 round
/// keys by [`Sm4Ctr`], the GHASH key by `ghash`'s `zeroize` feature).
#[derive(Clone)]
pub struct Sm4Gcm {
    cipher: Sm4Ctr,
    ghash: GHash,
}

impl fmt::Debug for Sm4Gcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm4Gcm").finish_non_exhaustive()
    }
}

impl Sm4Gcm {
    /// Expands a 16-byte key (SM4 for the fastest backend this CPU runs).
    pub fn new(key: &[u8; 16]) -> Self {
        Self::from_cipher(Sm4Ctr::new(key))
    }

    /// Keys GCM with an expanded SM4 key (whatever its backend).
    pub fn from_cipher(cipher: Sm4Ctr) -> Self {
        let mut h = [0u8; 16];
        cipher.encrypt_block(&mut h);
        let ghash = GHash::new(&h.into());
        h.zeroize();
        Self { cipher, ghash }
    }

    /// The SM4 key, for counter-mode use of the same key elsewhere.
    pub fn cipher(&self) -> &Sm4Ctr {
        &self.cipher
    }

    /// Encrypts `data` in place under `nonce` and returns the tag over `aad` and the ciphertext.
    ///
    /// # Panics
    /// If `data` is longer than [`MAX_DATA_LEN`] (never for a frame of this protocol).
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], data: &mut [u8]) -> [u8; TAG_LEN] {
        assert!(data.len() as u64 <= MAX_DATA_LEN, "SM4-GCM data too long");
        let mut mask = self.cipher.apply_keystream_masked(&j0(nonce), data);
        let tag = self.tag(aad, data, &mask);
        mask.zeroize();
        tag
    }

    /// Checks `tag` over `aad` and the ciphertext `data` (in constant time) and decrypts `data`
    /// in place. On a wrong tag (or one not [`TAG_LEN`] bytes long) `data` is zeroed and
    /// [`Error::BadMac`] returned.
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8],
    ) -> Result<(), Error> {
        if tag.len() != TAG_LEN || data.len() as u64 > MAX_DATA_LEN {
            data.zeroize();
            return Err(Error::BadMac);
        }
        // GHASH over the ciphertext, then the mask and the plaintext from one keystream run
        let mut g = self.ghash(aad, data);
        let mut mask = self.cipher.apply_keystream_masked(&j0(nonce), data);
        for (g, m) in g.iter_mut().zip(mask) {
            *g ^= m;
        }
        mask.zeroize();
        if bool::from(g.ct_eq(tag)) {
            Ok(())
        } else {
            data.zeroize();
            Err(Error::BadMac)
        }
    }

    fn tag(&self, aad: &[u8], ciphertext: &[u8], mask: &[u8; 16]) -> [u8; TAG_LEN] {
        let mut t = self.ghash(aad, ciphertext);
        for (t, m) in t.iter_mut().zip(mask) {
            *t ^= m;
        }
        t
    }

    /// `GHASH_H(A, C)`: both zero-padded to whole blocks, then their lengths in bits.
    fn ghash(&self, aad: &[u8], ciphertext: &[u8]) -> [u8; 16] {
        let mut g = self.ghash.clone();
        g.update_padded(aad);
        g.update_padded(ciphertext);
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(aad.len() as u64 * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(ciphertext.len() as u64 * 8).to_be_bytes());
        g.update(&[lengths.into()]);
        g.finalize().into()
    }
}

/// `J0 = nonce ‖ 00 00 00 01` (a 96-bit nonce).
fn j0(nonce: &[u8; NONCE_LEN]) -> [u8; 16] {
    let mut j = [0u8; 16];
    j[..NONCE_LEN].copy_from_slice(nonce);
    j[15] = 1;
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm4ctr::Backend;

    /// RFC 8998, Appendix A.1: the SM4-GCM test vector.
    #[test]
    fn rfc_8998_vector_on_every_backend() {
        let key: [u8; 16] = hex::decode("0123456789ABCDEFFEDCBA9876543210")
            .unwrap()
            .try_into()
            .unwrap();
        let nonce: [u8; 12] = hex::decode("00001234567800000000ABCD")
            .unwrap()
            .try_into()
            .unwrap();
        let aad = hex::decode("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2").unwrap();
        let plain = hex::decode(concat!(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
            "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
        ))
        .unwrap();
        let cipher = hex::decode(concat!(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735",
            "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        ))
        .unwrap();
        let tag = hex::decode("83DE3541E4C2B58177E065A9BF7B62EC").unwrap();
        for backend in Backend::ALL.into_iter().filter(|b| b.available()) {
            let gcm = Sm4Gcm::from_cipher(Sm4Ctr::with_backend(&key, backend).unwrap());
            let mut data = plain.clone();
            assert_eq!(gcm.seal(&nonce, &aad, &mut data), tag[..], "{backend:?}");
            assert_eq!(data, cipher, "{backend:?}");
            gcm.open(&nonce, &aad, &mut data, &tag).unwrap();
            assert_eq!(data, plain, "{backend:?}");
        }
    }

    #[test]
    fn a_changed_byte_anywhere_fails_and_zeroes_the_data() {
        let gcm = Sm4Gcm::new(&[9; 16]);
        let nonce = [3; 12];
        let mut sealed = *b"a status report, longer than one block";
        let tag = gcm.seal(&nonce, b"header", &mut sealed);
        let mut data = sealed;
        gcm.open(&nonce, b"header", &mut data, &tag).unwrap();
        assert_eq!(&data, b"a status report, longer than one block");
        for i in 0..sealed.len() {
            let mut data = sealed;
            data[i] ^= 0x40;
            assert_eq!(
                gcm.open(&nonce, b"header", &mut data, &tag),
                Err(Error::BadMac)
            );
            assert!(data.iter().all(|&b| b == 0), "zeroed after a bad tag");
        }
        let mut data = sealed;
        assert!(gcm.open(&nonce, b"headeR", &mut data, &tag).is_err());
        let mut data = sealed;
        assert!(gcm.open(&[4; 12], b"header", &mut data, &tag).is_err());
        let mut data = sealed;
        assert!(gcm.open(&nonce, b"header", &mut data, &tag[..15]).is_err());
        let mut bad = tag;
        bad[15] ^= 1;
        let mut data = sealed;
        assert!(gcm.open(&nonce, b"header", &mut data, &bad).is_err());
    }
}
