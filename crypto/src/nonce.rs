//! A signature's secret values, derived deterministically from the private key and the message:
//! the nonce `k`, and the blinding factor `β` under which `[k]G`'s `Z` is inverted.
//!
//! `k = SM3(K ‖ e ‖ c)` read as a big-endian integer and taken only when it lies in `[1, n − 1]`
//! (otherwise `c` counts on: a rejection happens with probability about 2^-32), where `K` is the
//! key's 32-byte nonce key `SM3("rcs/crypto SM2 signing nonce key" ‖ d)`, `e` the message scalar
//! (32 bytes big-endian) and `c` the attempt (4 bytes big-endian, from 0). This is a keyed
//! pseudo-random function of the message, as EdDSA's nonce is: the same message gives the same
//! signature, different ones independent nonces, without a random number generator (the AGV
//! firmware's `no_std` build has none), and rejection sampling keeps `k` exactly uniform in
//! `[1, n − 1]`. Any `k` so chosen gives a valid SM2 signature: a verifier cannot tell it from
//! RFC 6979's, which the `sm2` crate uses and this replaced (its HMAC-DRBG took 90,000 of a
//! signature's 560,000 instructions; this takes two SM3 compressions, about 9,500).
//!
//! `β = SM3(k ‖ "rcs/crypto blind")` reduced into SM2's prime field (1 in the impossible case of
//! 0). `[k]G`'s `Z` is secret; `Z·β` is uniformly distributed and independent of `Z` for anyone
//! who does not know `k`, so `Z·β` may be inverted in variable time (crypto-bigint's safegcd,
//! 28,000 instructions against 94,000 for the constant-time Fermat chain) and `Z^-1 = (Z·β)^-1·β`
//! learned without the timing telling anything about `Z` (docs/security.md).

use sm2::elliptic_curve::PrimeField;
use sm2::elliptic_curve::subtle::ConstantTimeEq;
use sm2::{FieldBytes, Scalar};
use zeroize::Zeroize;

use crate::field::Fe;

/// The label hashed with the private key into the nonce key (32 bytes: one SM3 block with `d`).
const NONCE_KEY_LABEL: &[u8; 32] = b"rcs/crypto SM2 signing nonce key";

/// The label hashed after `k` into the blinding factor.
const BLIND_LABEL: &[u8; 16] = b"rcs/crypto blind";

/// A signing key's secret nonce key `K`. Zeroized on drop.
pub(crate) struct NonceKey([u8; 32]);

impl Drop for NonceKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl NonceKey {
    /// `K = SM3(label ‖ d)` for the private scalar `d`.
    pub(crate) fn new(d: &Scalar) -> Self {
        let mut d_bytes = d.to_repr();
        let mut h = <sm3::Sm3 as sm3::Digest>::new_with_prefix(NONCE_KEY_LABEL);
        sm3::Digest::update(&mut h, d_bytes);
        d_bytes.zeroize();
        Self(sm3::Digest::finalize(h).into())
    }

    /// The nonce for message scalar `e` at attempt `counter`, or `None` when this attempt's hash
    /// is 0 or not below `n` (then the caller tries `counter + 1`).
    pub(crate) fn k(&self, e: &Scalar, counter: u32) -> Option<Scalar> {
        let mut h = <sm3::Sm3 as sm3::Digest>::new_with_prefix(self.0);
        sm3::Digest::update(&mut h, e.to_repr());
        sm3::Digest::update(&mut h, counter.to_be_bytes());
        let mut bytes: FieldBytes = sm3::Digest::finalize(h);
        let k = Scalar::from_repr(bytes);
        bytes.zeroize();
        let k = Option::<Scalar>::from(k)?;
        if bool::from(k.ct_eq(&Scalar::ZERO)) {
            return None;
        }
        Some(k)
    }
}

/// The blinding factor `β` for nonce `k` (nonzero).
pub(crate) fn blind(k: &Scalar) -> Fe {
    let mut k_bytes = k.to_repr();
    let mut h = <sm3::Sm3 as sm3::Digest>::new_with_prefix(k_bytes);
    k_bytes.zeroize();
    sm3::Digest::update(&mut h, BLIND_LABEL);
    let mut bytes: [u8; 32] = sm3::Digest::finalize(h).into();
    let beta = Fe::from_be_bytes_reduced(&bytes);
    bytes.zeroize();
    Fe::select(&beta, &Fe::ONE, beta.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(byte: u8) -> Scalar {
        Option::from(Scalar::from_repr([byte; 32].into())).unwrap()
    }

    #[test]
    fn the_nonce_depends_on_the_key_the_message_and_the_attempt() {
        let a = NonceKey::new(&scalar(1));
        let b = NonceKey::new(&scalar(2));
        let e = scalar(7);
        let k = a.k(&e, 0).unwrap();
        assert_eq!(a.k(&e, 0).unwrap(), k, "deterministic");
        assert_ne!(b.k(&e, 0).unwrap(), k, "another key");
        assert_ne!(a.k(&scalar(8), 0).unwrap(), k, "another message");
        assert_ne!(a.k(&e, 1).unwrap(), k, "another attempt");
        assert_ne!(a.0, b.0);
    }

    #[test]
    fn the_nonce_is_the_documented_hash() {
        // SM3(K ‖ e ‖ c), K = SM3(label ‖ d), with the `sm3` crate's one-shot digest
        let d = scalar(0x11);
        let e = scalar(0x22);
        let mut key_input = NONCE_KEY_LABEL.to_vec();
        key_input.extend_from_slice(&[0x11; 32]);
        let key: [u8; 32] = <sm3::Sm3 as sm3::Digest>::digest(&key_input).into();
        let mut input = key.to_vec();
        input.extend_from_slice(&[0x22; 32]);
        input.extend_from_slice(&[0, 0, 0, 3]);
        let expected = <sm3::Sm3 as sm3::Digest>::digest(&input);
        let k = NonceKey::new(&d).k(&e, 3).unwrap();
        assert_eq!(k.to_repr(), expected);
    }

    #[test]
    fn the_blinding_factor_is_nonzero_and_depends_on_k() {
        let one = blind(&scalar(1));
        let two = blind(&scalar(2));
        assert!(!one.is_zero_vartime() && !two.is_zero_vartime());
        assert!(!one.eq_vartime(&two));
    }
}
