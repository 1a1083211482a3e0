//! SM2's prime field `p = 2^256 − 2^224 − 2^96 + 2^64 − 1`, on fiat-crypto's formally verified
//! arithmetic (`sm2_64`, or `sm2_32` on 32-bit targets): the field the `sm2` crate is built on,
//! which it does not expose. Used by [`crate::point`] for what the `sm2` crate's API cannot do
//! cheaply (docs/performance.md, "Signing and verifying on our own point arithmetic").
//!
//! Every operation runs in constant time except those named `_vartime`.

use sm2::elliptic_curve::bigint::{ArrayEncoding, Odd, U256};
use sm2::elliptic_curve::subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

#[cfg(not(target_pointer_width = "64"))]
use fiat_crypto::sm2_32 as fiat;
#[cfg(target_pointer_width = "64")]
use fiat_crypto::sm2_64 as fiat;

use fiat::{
    fiat_sm2_montgomery_domain_field_element as Mont,
    fiat_sm2_non_montgomery_domain_field_element as NonMont,
};

/// `p` for crypto-bigint's inversion ([`Fe::invert_vartime`]).
const P: Odd<U256> =
    Odd::<U256>::from_be_hex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF");

/// Limbs of a field element.
#[cfg(target_pointer_width = "64")]
const LIMBS: usize = 4;
#[cfg(not(target_pointer_width = "64"))]
const LIMBS: usize = 8;

/// A limb: fiat-crypto's word.
#[cfg(target_pointer_width = "64")]
type Word = u64;
#[cfg(not(target_pointer_width = "64"))]
type Word = u32;

/// All ones or all zeros in a word, for [`Fe::assign_masked`].
#[derive(Clone, Copy)]
pub(crate) struct Mask(Word);

impl Mask {
    /// All ones when `a == b`, else all zeros, with no branch: `(a ^ b) − 1` has its top bit set
    /// exactly when `a ^ b` is 0; the bit goes through `black_box` (as `subtle` does) so that
    /// the compiler cannot turn the selects it drives into branches.
    pub(crate) fn eq(a: u8, b: u8) -> Mask {
        let bit = (u32::from(a ^ b).wrapping_sub(1) >> 31) as Word;
        Mask(core::hint::black_box(bit).wrapping_neg())
    }
}

/// An element of SM2's prime field, in Montgomery form (fully reduced, as fiat-crypto keeps it).
#[derive(Clone, Copy)]
pub(crate) struct Fe(Mont);

impl Fe {
    /// Its first and last limbs, read from memory (for [`crate::point::Affine::touch`]).
    pub(crate) fn ends(&self) -> (Word, Word) {
        (self.0.0[0], self.0.0[LIMBS - 1])
    }

    /// 0.
    pub(crate) const ZERO: Fe = Fe::from_be_bytes(&[0; 32]);
    /// 1.
    pub(crate) const ONE: Fe = Fe::from_be_bytes(&{
        let mut one = [0; 32];
        one[31] = 1;
        one
    });

    /// From 32 big-endian bytes of a value below `p`.
    pub(crate) const fn from_be_bytes(bytes: &[u8; 32]) -> Self {
        let mut le = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            le[i] = bytes[31 - i];
            i += 1;
        }
        let mut limbs = [0; LIMBS];
        fiat::fiat_sm2_from_bytes(&mut limbs, &le);
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_to_montgomery(&mut out, &NonMont(limbs));
        Fe(out)
    }

    /// From 32 big-endian bytes of any value, reduced mod `p`, in constant time: the high and
    /// the low 128 bits, each below `p`, as `high·2^128 + low`.
    pub(crate) fn from_be_bytes_reduced(bytes: &[u8; 32]) -> Self {
        let mut high = [0u8; 32];
        let mut low = [0u8; 32];
        high[16..].copy_from_slice(&bytes[..16]);
        low[16..].copy_from_slice(&bytes[16..]);
        let two_128 = Fe::from_be_bytes(&{
            let mut b = [0u8; 32];
            b[15] = 1;
            b
        });
        let mut h = Fe::from_be_bytes(&high);
        let mut l = Fe::from_be_bytes(&low);
        let out = h.mul(&two_128).add(&l);
        high.zeroize();
        low.zeroize();
        h.zeroize();
        l.zeroize();
        out
    }

    /// 32 big-endian bytes.
    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        let mut plain = NonMont([0; LIMBS]);
        fiat::fiat_sm2_from_montgomery(&mut plain, &self.0);
        let mut out = [0u8; 32];
        fiat::fiat_sm2_to_bytes(&mut out, &plain.0);
        out.reverse();
        out
    }

    /// `self · other`.
    pub(crate) fn mul(&self, other: &Fe) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_mul(&mut out, &self.0, &other.0);
        Fe(out)
    }

    /// `self²`.
    pub(crate) fn square(&self) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_square(&mut out, &self.0);
        Fe(out)
    }

    /// `self^(2^n)`.
    #[cfg(test)]
    pub(crate) fn square_n(&self, n: u32) -> Fe {
        let mut out = *self;
        for _ in 0..n {
            out = out.square();
        }
        out
    }

    /// `self + other`.
    pub(crate) fn add(&self, other: &Fe) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_add(&mut out, &self.0, &other.0);
        Fe(out)
    }

    /// `self − other`.
    pub(crate) fn sub(&self, other: &Fe) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_sub(&mut out, &self.0, &other.0);
        Fe(out)
    }

    /// `−self`.
    pub(crate) fn neg(&self) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_opp(&mut out, &self.0);
        Fe(out)
    }

    /// `3·self`.
    pub(crate) fn triple(&self) -> Fe {
        self.add(self).add(self)
    }

    /// `b` when `choice` is set, else `a`, in constant time.
    pub(crate) fn select(a: &Fe, b: &Fe, choice: Choice) -> Fe {
        let mut out = [0; LIMBS];
        fiat::fiat_sm2_selectznz(&mut out, choice.unwrap_u8(), &a.0.0, &b.0.0);
        Fe(Mont(out))
    }

    /// `self = other` where `mask` is all ones, unchanged where it is 0, in constant time: a
    /// table row's scan (`crate::generator`), which the compiler vectorizes: a signature 5 %
    /// cheaper than with a [`Fe::select`] per coordinate.
    #[inline(always)]
    pub(crate) fn assign_masked(&mut self, other: &Fe, mask: Mask) {
        for (a, b) in self.0.0.iter_mut().zip(other.0.0.iter()) {
            *a ^= mask.0 & (*a ^ *b);
        }
    }

    /// `2·self`.
    pub(crate) fn double(&self) -> Fe {
        self.add(self)
    }

    /// `self^(p−2)`: the inverse of a nonzero element (0 for 0), in constant time. Signing
    /// inverted `[k]G`'s `Z` so until it took the blinded [`Fe::invert_vartime`] (a third of
    /// the cost); kept as the reference the tests check that against.
    ///
    /// `p − 2` is, from its top bit, 31 ones, a zero, 128 ones, 32 zeros, 62 ones, a zero and a
    /// one. With `x_m = self^(2^m − 1)`: `x_31`, then a square (the zero), four times 32
    /// squarings and `·x_32` (128 ones), 32 squarings (the zeros), 32 squarings `·x_32` and 30
    /// squarings `·x_30` (62 ones), 2 squarings `·x_1` (zero, one).
    #[cfg(test)]
    pub(crate) fn invert(&self) -> Fe {
        let x1 = *self;
        let x2 = x1.square().mul(&x1);
        let x3 = x2.square().mul(&x1);
        let x6 = x3.square_n(3).mul(&x3);
        let x12 = x6.square_n(6).mul(&x6);
        let x24 = x12.square_n(12).mul(&x12);
        let x30 = x24.square_n(6).mul(&x6);
        let x31 = x30.square().mul(&x1);
        let x32 = x31.square().mul(&x1);
        let mut t = x31.square();
        for _ in 0..4 {
            t = t.square_n(32).mul(&x32);
        }
        t = t.square_n(32);
        t = t.square_n(32).mul(&x32);
        t = t.square_n(30).mul(&x30);
        t.square_n(2).mul(&x1)
    }

    /// The inverse of a nonzero element (0 for 0) by crypto-bigint's safegcd, in **variable
    /// time**: for public values, or for a secret one multiplied by a secret uniformly random
    /// factor, which leaves the timing nothing to tell (`crate::nonce`). About 30,000
    /// instructions against [`Fe::invert`]'s 94,000.
    pub(crate) fn invert_vartime(&self) -> Fe {
        let mut bytes = self.to_be_bytes();
        let value = U256::from_be_slice(&bytes);
        let inverse = Option::<U256>::from(value.invert_odd_mod_vartime(&P)).unwrap_or(U256::ZERO);
        bytes.copy_from_slice(&inverse.to_be_byte_array());
        let out = Fe::from_be_bytes(&bytes);
        bytes.zeroize();
        out
    }

    /// Whether this is 0, in constant time.
    pub(crate) fn is_zero(&self) -> Choice {
        let mut nonzero = 0;
        fiat::fiat_sm2_nonzero(&mut nonzero, &self.0.0);
        nonzero.ct_eq(&0)
    }

    /// Whether this is 0 (variable time: for public values only).
    pub(crate) fn is_zero_vartime(&self) -> bool {
        let mut nonzero = 0;
        fiat::fiat_sm2_nonzero(&mut nonzero, &self.0.0);
        nonzero == 0
    }

    /// Whether `self == other` (variable time: for public values only).
    pub(crate) fn eq_vartime(&self, other: &Fe) -> bool {
        self.sub(other).is_zero_vartime()
    }

    /// Overwrites the element with zeros.
    pub(crate) fn zeroize(&mut self) {
        self.0.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: [u8; 32] = {
        let mut b = [0; 32];
        b[31] = 1;
        b
    };

    #[test]
    fn the_inverse_by_fermat_is_the_inverse() {
        let one = Fe::from_be_bytes(&ONE);
        assert_eq!(one.invert().to_be_bytes(), ONE);
        assert_eq!(Fe::from_be_bytes(&[0; 32]).invert().to_be_bytes(), [0; 32]);
        let mut seed = [0x3cu8; 32];
        for i in 0..64u8 {
            seed[0] = i % 0xf0;
            seed[31] = i;
            let a = Fe::from_be_bytes(&seed);
            assert_eq!(a.mul(&a.invert()).to_be_bytes(), ONE, "{i}");
        }
        // p − 1 is its own inverse
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[3] = 0xfe;
        p_minus_1[20..24].copy_from_slice(&[0; 4]);
        p_minus_1[31] = 0xfe;
        let a = Fe::from_be_bytes(&p_minus_1);
        assert_eq!(a.invert().to_be_bytes(), p_minus_1);
        assert!(a.add(&one).is_zero_vartime());
    }

    #[test]
    fn the_inverse_in_variable_time_equals_fermats() {
        assert_eq!(Fe::ZERO.invert_vartime().to_be_bytes(), [0; 32]);
        assert_eq!(Fe::ONE.invert_vartime().to_be_bytes(), ONE);
        let mut seed = [0xa7u8; 32];
        for i in 0..200u32 {
            seed = <sm3::Sm3 as sm3::Digest>::digest(seed).into();
            let a = Fe::from_be_bytes_reduced(&seed);
            assert_eq!(
                a.invert_vartime().to_be_bytes(),
                a.invert().to_be_bytes(),
                "{i}"
            );
        }
        let p_minus_1 = Fe::ONE.neg();
        assert_eq!(
            p_minus_1.invert_vartime().to_be_bytes(),
            p_minus_1.to_be_bytes()
        );
    }

    #[test]
    fn reduction_of_any_32_bytes() {
        // p itself is 0, p + 1 is 1, 2^256 − 1 is 2^256 − 1 − p = 2^224 + 2^96 − 2^64
        let p = P.get_copy().to_be_byte_array();
        let p: [u8; 32] = p.into();
        assert!(Fe::from_be_bytes_reduced(&p).is_zero_vartime());
        let p_plus_1: [u8; 32] = P
            .get_copy()
            .wrapping_add(&U256::ONE)
            .to_be_byte_array()
            .into();
        assert_eq!(Fe::from_be_bytes_reduced(&p_plus_1).to_be_bytes(), ONE);
        let mut expected = [0u8; 32];
        expected[3] = 1; // 2^224
        expected[20] = 0xff; // 2^96 − 2^64: bits 64..95
        expected[21] = 0xff;
        expected[22] = 0xff;
        expected[23] = 0xff;
        assert_eq!(
            Fe::from_be_bytes_reduced(&[0xff; 32]).to_be_bytes(),
            expected
        );
        // below p: unchanged
        let mut seed = [0x5cu8; 32];
        seed[0] = 0x7f;
        assert_eq!(
            Fe::from_be_bytes_reduced(&seed).to_be_bytes(),
            Fe::from_be_bytes(&seed).to_be_bytes()
        );
    }

    #[test]
    fn a_masked_assignment_takes_the_other_exactly_when_equal() {
        let two = Fe::ONE.double();
        for (a, b) in [
            (0u8, 0u8),
            (5, 5),
            (255, 255),
            (0, 1),
            (1, 0),
            (32, 31),
            (255, 0),
        ] {
            let mut x = Fe::ONE;
            x.assign_masked(&two, Mask::eq(a, b));
            let want = if a == b { two } else { Fe::ONE };
            assert!(x.eq_vartime(&want), "{a} {b}");
        }
    }

    #[test]
    fn equality_and_zero() {
        let one = Fe::from_be_bytes(&ONE);
        let two = one.double();
        assert!(Fe::from_be_bytes(&[0; 32]).is_zero_vartime());
        assert!(bool::from(Fe::ZERO.is_zero()) && !bool::from(one.is_zero()));
        assert!(!one.is_zero_vartime());
        assert!(two.sub(&one).eq_vartime(&one));
        assert!(!two.eq_vartime(&one));
        assert!(one.triple().eq_vartime(&two.add(&one)));
        assert!(one.neg().add(&one).is_zero_vartime());
    }
}
