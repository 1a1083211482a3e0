//! SM2 verification, differentially: the cached verifier (`crypto::sign::CachedVerifier`:
//! variable time, on crypto's own point arithmetic, with its exceptional cases branched on)
//! against the stock one (`VerifyingKey`: the `sm2` crate's constant-time arithmetic). Both must
//! give the same verdict on any signature and message, and a signature the key made must pass.
//!
//! Input: a first byte (bits 0-1: one of four fixed keys, whose tables are built once; bit 2:
//! the signature is the key's own over the message, XORed with the next 64 bytes, else those
//! 64 bytes are the signature as they stand), 64 signature bytes, then the message.

use std::sync::OnceLock;

use crypto::sign::{CachedVerifier, Signature, SigningKey};

/// The four keys and their verifiers (tables built on their first verification).
fn keys() -> &'static [(SigningKey, CachedVerifier)] {
    static KEYS: OnceLock<Vec<(SigningKey, CachedVerifier)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (1..=4u8)
            .map(|i| {
                let mut secret = [0x5au8; 32];
                secret[0] = i;
                let secret = sm2::SecretKey::from_slice(&secret).expect("a valid key");
                let key = SigningKey::new(b"1234567812345678", secret).expect("a valid key");
                let verifier = CachedVerifier::new(key.verifying_key().clone());
                (key, verifier)
            })
            .collect()
    })
}

/// The target's body: panics when the two verifiers disagree, or a genuine signature fails.
pub fn sm2_verify(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if rest.len() < 64 {
        return;
    }
    let (bytes, msg) = rest.split_at(64);
    let (key, cached) = &keys()[usize::from(first & 3)];
    let own = first & 4 != 0;
    let mut sig = [0u8; 64];
    if own {
        sig = key.sign(msg).0;
        for (s, d) in sig.iter_mut().zip(bytes) {
            *s ^= d;
        }
    } else {
        sig.copy_from_slice(bytes);
    }
    let sig = Signature(sig);
    let stock = key.verifying_key().verify(msg, &sig).is_ok();
    let fast = cached.verify(msg, &sig).is_ok();
    assert_eq!(stock, fast, "the verifiers disagree on {sig:?}");
    if own && bytes.iter().all(|&b| b == 0) {
        assert!(fast, "the key's own signature fails");
    }
}

/// Seeds: each key's genuine signature over a few messages, one with a bit flipped, and a
/// signature given as it stands.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for key in 0..4u8 {
        for msg in [&b""[..], b"status", &[0xa5; 150]] {
            let mut genuine = vec![key | 4];
            genuine.extend_from_slice(&[0; 64]);
            genuine.extend_from_slice(msg);
            out.push(genuine.clone());
            genuine[1 + usize::from(key) * 9] ^= 1;
            out.push(genuine);
        }
        let mut raw = vec![key];
        raw.extend_from_slice(&keys()[usize::from(key)].0.sign(b"raw").0);
        raw.extend_from_slice(b"raw");
        out.push(raw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genuine_flipped_and_raw_signatures_agree() {
        for seed in seeds() {
            sm2_verify(&seed);
        }
        sm2_verify(&[]);
        sm2_verify(&[4; 10]);
    }
}
