//! `x([k]G)` for a secret nonce `k`, in constant time: the one point multiplication an SM2
//! signature needs.
//!
//! Through the `sm2` crate that is `ProjectivePoint::mul_by_generator` (66 complete projective
//! additions over its half-size basepoint table, 4 doublings) and `to_affine`, whose
//! constant-time inversion (fiat-crypto's divsteps) is a third of a signature's instructions
//! (docs/performance.md, "Signing"). The crate exposes neither its field elements nor a point's
//! projective coordinates, so neither step can be done differently through it. Here, on the same
//! formally verified field arithmetic the `sm2` crate is built on (fiat-crypto's `sm2_64`, or
//! `sm2_32` on 32-bit targets):
//!
//! - a fixed-base comb of `G`: 65 rows, row `i` holding `[j·16^i]G` for `j = 1..=8` in affine
//!   coordinates (33 KiB, built once per process on first use from the `sm2` crate's points);
//! - `[k]G` as 65 complete mixed additions (Renes, Costello, Batina 2015, algorithm 5, for
//!   `a = −3`) of the entries picked by the signed radix-16 digits of `k`, each picked by
//!   scanning its whole row; no doubling;
//! - `Z^-1` by Fermat's little theorem, `Z^(p−2)`: a fixed chain of 256 squarings and 15
//!   multiplications.
//!
//! Nothing here branches on, or indexes memory by, anything derived from `k`; its digits are
//! zeroized after use.

use once_cell::race::OnceBox;
use sm2::elliptic_curve::group::Curve as _;
use sm2::elliptic_curve::group::Group as _;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::subtle::{Choice, ConstantTimeEq};
use sm2::{FieldBytes, ProjectivePoint, Scalar};
use zeroize::Zeroize;

#[cfg(not(target_pointer_width = "64"))]
use fiat_crypto::sm2_32 as fiat;
#[cfg(target_pointer_width = "64")]
use fiat_crypto::sm2_64 as fiat;

use fiat::{
    fiat_sm2_montgomery_domain_field_element as Mont,
    fiat_sm2_non_montgomery_domain_field_element as NonMont,
};

/// Limbs of a field element.
#[cfg(target_pointer_width = "64")]
const LIMBS: usize = 4;
#[cfg(not(target_pointer_width = "64"))]
const LIMBS: usize = 8;

/// An element of SM2's prime field, in Montgomery form (fully reduced, as fiat-crypto keeps it).
#[derive(Clone, Copy)]
struct Fe(Mont);

impl Fe {
    /// From 32 big-endian bytes of a value below `p`.
    const fn from_be_bytes(bytes: &[u8; 32]) -> Self {
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

    /// 32 big-endian bytes.
    fn to_be_bytes(self) -> [u8; 32] {
        let mut plain = NonMont([0; LIMBS]);
        fiat::fiat_sm2_from_montgomery(&mut plain, &self.0);
        let mut out = [0u8; 32];
        fiat::fiat_sm2_to_bytes(&mut out, &plain.0);
        out.reverse();
        out
    }

    fn mul(&self, other: &Fe) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_mul(&mut out, &self.0, &other.0);
        Fe(out)
    }

    fn square(&self) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_square(&mut out, &self.0);
        Fe(out)
    }

    /// `self^(2^n)`.
    fn square_n(&self, n: u32) -> Fe {
        let mut out = *self;
        for _ in 0..n {
            out = out.square();
        }
        out
    }

    fn add(&self, other: &Fe) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_add(&mut out, &self.0, &other.0);
        Fe(out)
    }

    fn sub(&self, other: &Fe) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_sub(&mut out, &self.0, &other.0);
        Fe(out)
    }

    fn neg(&self) -> Fe {
        let mut out = Mont([0; LIMBS]);
        fiat::fiat_sm2_opp(&mut out, &self.0);
        Fe(out)
    }

    fn triple(&self) -> Fe {
        self.add(self).add(self)
    }

    /// `b` when `choice` is set, else `a`, in constant time.
    fn select(a: &Fe, b: &Fe, choice: Choice) -> Fe {
        let mut out = [0; LIMBS];
        fiat::fiat_sm2_selectznz(&mut out, choice.unwrap_u8(), &a.0.0, &b.0.0);
        Fe(Mont(out))
    }

    /// `self^(p−2)`: the inverse of a nonzero element (0 for 0), in constant time.
    ///
    /// `p − 2` is, from its top bit, 31 ones, a zero, 128 ones, 32 zeros, 62 ones, a zero and a
    /// one. With `x_m = self^(2^m − 1)`: `x_31`, then a square (the zero), four times 32
    /// squarings and `·x_32` (128 ones), 32 squarings (the zeros), 32 squarings `·x_32` and 30
    /// squarings `·x_30` (62 ones), 2 squarings `·x_1` (zero, one).
    fn invert(&self) -> Fe {
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

    fn zeroize(&mut self) {
        self.0.0.zeroize();
    }
}

/// The curve's `b` (`a` is −3).
const B: Fe = Fe::from_be_bytes(&[
    0x28, 0xe9, 0xfa, 0x9e, 0x9d, 0x9f, 0x5e, 0x34, 0x4d, 0x5a, 0x9e, 0x4b, 0xcf, 0x65, 0x09, 0xa7,
    0xf3, 0x97, 0x89, 0xf5, 0x15, 0xab, 0x8f, 0x92, 0xdd, 0xbc, 0xbd, 0x41, 0x4d, 0x94, 0x0e, 0x93,
]);

/// A point `(X : Y : Z)` in homogeneous projective coordinates; `(0 : 1 : 0)` is the identity.
#[derive(Clone, Copy)]
struct Projective {
    x: Fe,
    y: Fe,
    z: Fe,
}

/// A point in affine coordinates (never the identity).
#[derive(Clone, Copy)]
struct Affine {
    x: Fe,
    y: Fe,
}

impl Projective {
    const IDENTITY: Projective = Projective {
        x: Fe::from_be_bytes(&[0; 32]),
        y: Fe::from_be_bytes(&{
            let mut one = [0; 32];
            one[31] = 1;
            one
        }),
        z: Fe::from_be_bytes(&[0; 32]),
    };

    /// `self + q`: Renes, Costello, Batina 2015, algorithm 5 (complete mixed addition for
    /// `a = −3`; `self` may be the identity, `q` may not).
    fn add_mixed(&self, q: &Affine) -> Projective {
        let xx = self.x.mul(&q.x);
        let yy = self.y.mul(&q.y);
        let xy = self.x.add(&self.y).mul(&q.x.add(&q.y)).sub(&xx.add(&yy));
        let yz = q.y.mul(&self.z).add(&self.y);
        let xz = q.x.mul(&self.z).add(&self.x);
        let bz3 = xz.sub(&B.mul(&self.z)).triple();
        let yy_minus = yy.sub(&bz3);
        let yy_plus = yy.add(&bz3);
        let z3 = self.z.triple();
        let bxz3 = B.mul(&xz).sub(&z3.add(&xx)).triple();
        let xx3_minus_z3 = xx.triple().sub(&z3);
        Projective {
            x: yy_plus.mul(&xy).sub(&yz.mul(&bxz3)),
            y: yy_plus.mul(&yy_minus).add(&xx3_minus_z3.mul(&bxz3)),
            z: yy_minus.mul(&yz).add(&xy.mul(&xx3_minus_z3)),
        }
    }

    /// `b` when `choice` is set, else `a`, in constant time.
    fn select(a: &Projective, b: &Projective, choice: Choice) -> Projective {
        Projective {
            x: Fe::select(&a.x, &b.x, choice),
            y: Fe::select(&a.y, &b.y, choice),
            z: Fe::select(&a.z, &b.z, choice),
        }
    }

    fn zeroize(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
        self.z.zeroize();
    }
}

/// Signed radix-16 digits of a scalar below `2^256`: 64 nibbles and a carry.
const DIGITS: usize = 65;

/// The digits `d_i ∈ [−8, 8]` with `k = Σ d_i·16^i`, in constant time.
fn digits(k: &Scalar) -> [i8; DIGITS] {
    let mut bytes: FieldBytes = k.to_bytes();
    let mut out = [0i8; DIGITS];
    for (i, b) in bytes.iter().rev().enumerate() {
        out[2 * i] = (b & 0xf) as i8;
        out[2 * i + 1] = (b >> 4) as i8;
    }
    bytes.zeroize();
    for i in 0..DIGITS - 1 {
        let carry = (out[i] + 8) >> 4;
        out[i] -= carry << 4;
        out[i + 1] += carry;
    }
    out
}

/// The comb: row `i` holds `[j·16^i]G` for `j = 1..=8`.
struct Comb {
    rows: alloc::vec::Vec<[Affine; 8]>,
}

impl Comb {
    fn new() -> Self {
        let mut projective = alloc::vec::Vec::with_capacity(DIGITS * 8);
        let mut base = ProjectivePoint::GENERATOR;
        for _ in 0..DIGITS {
            let mut acc = base;
            for _ in 0..8 {
                projective.push(acc);
                acc += base;
            }
            for _ in 0..4 {
                base = base.double();
            }
        }
        let mut affine = alloc::vec![sm2::AffinePoint::IDENTITY; DIGITS * 8];
        ProjectivePoint::batch_normalize(&projective, &mut affine);
        let entry = |p: &sm2::AffinePoint| {
            let sec1 = p.to_sec1_point(false);
            let coordinate = |c: Option<&FieldBytes>| {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(c.expect("a multiple of G below n is not the identity"));
                Fe::from_be_bytes(&bytes)
            };
            Affine {
                x: coordinate(sec1.x()),
                y: coordinate(sec1.y()),
            }
        };
        let rows = affine
            .chunks_exact(8)
            .map(|c| core::array::from_fn(|j| entry(&c[j])))
            .collect();
        Self { rows }
    }

    /// `[d]·row`'s first entry for a digit `d ∈ [−8, 8]`, scanning the whole row, and whether
    /// `d` is 0 (then the entry returned is meaningless).
    fn select(row: &[Affine; 8], d: i8) -> (Affine, Choice) {
        let sign = d >> 7;
        let abs = ((d + sign) ^ sign) as u8;
        let mut t = row[0];
        for (j, entry) in (1u8..).zip(row.iter()) {
            let hit = abs.ct_eq(&j);
            t.x = Fe::select(&t.x, &entry.x, hit);
            t.y = Fe::select(&t.y, &entry.y, hit);
        }
        t.y = Fe::select(&t.y, &t.y.neg(), Choice::from((sign & 1) as u8));
        (t, abs.ct_eq(&0))
    }

    /// `[k]G`.
    fn mul(&self, k: &Scalar) -> Projective {
        let mut d = digits(k);
        let mut acc = Projective::IDENTITY;
        for (row, &digit) in self.rows.iter().zip(d.iter()) {
            let (mut entry, zero) = Self::select(row, digit);
            let mut sum = acc.add_mixed(&entry);
            acc = Projective::select(&sum, &acc, zero);
            entry.x.zeroize();
            entry.y.zeroize();
            sum.zeroize();
        }
        d.zeroize();
        acc
    }
}

/// The comb, built by the first signature of the process.
static COMB: OnceBox<Comb> = OnceBox::new();

/// The affine x coordinate of `[k]G` as 32 big-endian bytes, in constant time; `k` must not be
/// zero (a nonce never is).
pub(crate) fn mul_generator_x(k: &Scalar) -> FieldBytes {
    let comb = COMB.get_or_init(|| alloc::boxed::Box::new(Comb::new()));
    let mut point = comb.mul(k);
    let mut z_inv = point.z.invert();
    let x = point.x.mul(&z_inv).to_be_bytes();
    point.zeroize();
    z_inv.zeroize();
    x.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm2::elliptic_curve::PrimeField;
    use sm2::elliptic_curve::point::AffineCoordinates;

    fn reference_x(k: &Scalar) -> FieldBytes {
        (ProjectivePoint::GENERATOR * k).to_affine().x()
    }

    fn scalar_from_u64(v: u64) -> Scalar {
        Scalar::from(v)
    }

    #[test]
    fn the_inverse_by_fermat_is_the_inverse() {
        let one = Fe::from_be_bytes(&{
            let mut b = [0; 32];
            b[31] = 1;
            b
        });
        assert_eq!(one.invert().to_be_bytes(), one.to_be_bytes());
        assert_eq!(Fe::from_be_bytes(&[0; 32]).invert().to_be_bytes(), [0; 32]);
        let mut seed = [0x3cu8; 32];
        for i in 0..64u8 {
            seed[0] = i % 0xf0;
            seed[31] = i;
            let a = Fe::from_be_bytes(&seed);
            assert_eq!(a.mul(&a.invert()).to_be_bytes(), one.to_be_bytes(), "{i}");
        }
        // p − 1 (its own inverse)
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[3] = 0xfe;
        p_minus_1[20..24].copy_from_slice(&[0; 4]);
        p_minus_1[31] = 0xfe;
        let a = Fe::from_be_bytes(&p_minus_1);
        assert_eq!(a.invert().to_be_bytes(), p_minus_1);
    }

    #[test]
    fn the_digits_sum_to_the_scalar() {
        for k in [
            Scalar::ONE,
            scalar_from_u64(8),
            scalar_from_u64(0x88),
            -Scalar::ONE,
            -scalar_from_u64(8),
            Scalar::from_str_vartime("12345678901234567890123456789").unwrap(),
        ] {
            let d = digits(&k);
            assert!(d.iter().all(|d| (-8..=8).contains(d)));
            let sixteen = scalar_from_u64(16);
            let sum = d.iter().rev().fold(Scalar::ZERO, |acc, &d| {
                let term = scalar_from_u64(u64::from(d.unsigned_abs()));
                acc * sixteen + if d < 0 { -term } else { term }
            });
            assert_eq!(sum, k);
        }
    }

    #[test]
    fn x_of_k_g_equals_the_sm2_crates_for_edge_and_random_scalars() {
        let mut ks = alloc::vec::Vec::new();
        for v in 1..=40u64 {
            ks.push(scalar_from_u64(v));
            ks.push(-scalar_from_u64(v));
        }
        // every digit position at its extremes: 8·16^i and −8·16^i (a digit ±8 in place i),
        // 16^i − 1 (every lower nibble 15: a carry through all of them)
        let sixteen = scalar_from_u64(16);
        let mut power = Scalar::ONE;
        for _ in 0..64 {
            ks.push(power * scalar_from_u64(8));
            ks.push(-(power * scalar_from_u64(8)));
            ks.push(power - Scalar::ONE);
            power *= sixteen;
        }
        let mut state = [0x11u8; 32];
        for _ in 0..200 {
            state = <sm3::Sm3 as sm3::Digest>::digest(state).into();
            ks.push(
                <Scalar as sm2::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(&state.into()),
            );
        }
        for k in ks {
            if bool::from(k.is_zero()) {
                continue;
            }
            assert_eq!(mul_generator_x(&k), reference_x(&k), "k = {k:?}");
        }
    }
}
