//! Multiples of the generator `G` from a fixed-base comb: `x([k]G)` for a secret nonce `k` in
//! constant time (a signature), and `[s]G` added to a sum in variable time (a verification).
//!
//! Through the `sm2` crate a signature's `[k]G` is `ProjectivePoint::mul_by_generator` (66
//! complete projective additions over its half-size basepoint table, 4 doublings) and
//! `to_affine`, whose constant-time inversion (fiat-crypto's divsteps) was a third of a
//! signature's instructions (docs/performance.md, "Signing and verifying on our own point
//! arithmetic"); the crate exposes neither its field elements nor a point's coordinates. Here,
//! on [`crate::field`] and [`crate::point`]:
//!
//! - the comb: 65 rows, row `i` holding `[j·16^i]G` for `j = 1..=8` in affine coordinates
//!   (33 KiB, built once per process on first use from the `sm2` crate's points);
//! - `[k]G` as 65 mixed additions in Jacobian coordinates of the entries picked by the signed
//!   radix-16 digits `d_i` of `k`, each picked by scanning its whole row, with no doubling;
//!   then `Z^-1` as `(Z·β)^-1·β` with a secret uniformly random `β` ([`crate::nonce`]), the
//!   blinded inversion in variable time. Nothing else branches on, or indexes memory by,
//!   anything derived from `k`; its digits and the partial sums are zeroized after use.
//!
//! **Why the incomplete addition never meets its exceptional case** (`q = ±acc`, which it
//! would get wrong) for `k ∈ [1, n − 1]`: before row `r` the sum is `[a]G` with the integer
//! `a = Σ_{i<r} d_i·16^i`, `|a| ≤ 8·(16^r − 1)/15 < 16^r`, and the entry is `[d_r·16^r]G`,
//! `d_r ≠ 0` (a zero digit adds nothing). For `r ≤ 63`, `a ∓ d_r·16^r` is a nonzero integer of
//! magnitude below `16^r·(8 + 8/15) < 2^256 − 2^225 < n`, so it is not `0 mod n`: no
//! collision. For `r = 64` (`d_64 ∈ {0, 1}`, the carry), `a = k − 2^256`, so `a ≡ −2^256`
//! means `k ≡ 0` (excluded), and `a ≡ 2^256` means `k ≡ 2^257 mod n`, whose representative
//! `2^257 − 2n` is below `2^226` and so has `d_64 = 0`: no addition at that row. The sum
//! starting from the identity is handled apart (a selection). Tested at these edges
//! (`tests::x_of_k_g_equals_the_sm2_crates_for_edge_and_random_scalars`).

use once_cell::race::OnceBox;
use sm2::elliptic_curve::group::Group as _;
use sm2::elliptic_curve::subtle::{Choice, ConstantTimeEq};
use sm2::{FieldBytes, ProjectivePoint, Scalar};
use zeroize::Zeroize;

use crate::field::Fe;
use crate::point::{Affine, Jacobian};

/// Signed radix-16 digits of a scalar below `2^256`: 64 nibbles and a carry.
pub(crate) const DIGITS: usize = 65;

/// The digits `d_i ∈ [−8, 8]` with `k = Σ d_i·16^i`, in constant time.
pub(crate) fn digits(k: &Scalar) -> [i8; DIGITS] {
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

/// `acc + [d]·row[0]` for a public digit `d ∈ [−8, 8]` of a comb row (variable time).
pub(crate) fn add_digit(acc: &Jacobian, row: &[Affine; 8], d: i8) -> Jacobian {
    match d {
        0 => *acc,
        1.. => acc.add_affine(&row[(d - 1) as usize]),
        _ => acc.add_affine(&row[(-d - 1) as usize].neg()),
    }
}

/// The rows of a fixed-base comb of `point`: row `r` holds `[j·2^(shift·r)]point` for
/// `j = 1..=8`, in affine form (one inversion), and the point after the last row,
/// `[2^(shift·rows)]point`. Shared by the comb of `G` and a key's comb (`crate::sign`).
pub(crate) fn comb_rows(
    point: &ProjectivePoint,
    rows: usize,
    shift: usize,
) -> (alloc::boxed::Box<[[Affine; 8]]>, Affine) {
    let mut projective = alloc::vec::Vec::with_capacity(rows * 8 + 1);
    let mut base = *point;
    for _ in 0..rows {
        let mut acc = base;
        for _ in 0..8 {
            projective.push(acc);
            acc += base;
        }
        for _ in 0..shift {
            base = base.double();
        }
    }
    projective.push(base);
    let affine = Affine::batch_from_sm2(&projective);
    let table = affine[..rows * 8]
        .chunks_exact(8)
        .map(|c| core::array::from_fn(|j| c[j]))
        .collect();
    (table, affine[rows * 8])
}

/// The comb: row `i` holds `[j·16^i]G` for `j = 1..=8`.
struct Comb {
    rows: alloc::boxed::Box<[[Affine; 8]]>,
}

impl Comb {
    fn new() -> Self {
        let (rows, _) = comb_rows(&ProjectivePoint::GENERATOR, DIGITS, 4);
        Self { rows }
    }

    /// The entry for a digit `d ∈ [−8, 8]` (`[d]` times the row's first point), found by
    /// scanning the whole row, and whether `d` is 0 (then the entry returned is meaningless).
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

    /// `[k]G` in constant time, for `k ≠ 0` (the module's doc: why the sums are right).
    fn mul(&self, k: &Scalar) -> Jacobian {
        let mut d = digits(k);
        let mut acc = Jacobian::IDENTITY;
        for (row, &digit) in self.rows.iter().zip(d.iter()) {
            let (mut entry, zero) = Self::select(row, digit);
            let mut sum = acc.add_affine_ct(&entry);
            acc = Jacobian::select(&sum, &acc, zero);
            entry.x.zeroize();
            entry.y.zeroize();
            sum.zeroize();
        }
        d.zeroize();
        acc
    }
}

/// The comb, built by the first signature or cached verification of the process.
static COMB: OnceBox<Comb> = OnceBox::new();

fn comb() -> &'static Comb {
    COMB.get_or_init(|| alloc::boxed::Box::new(Comb::new()))
}

/// The affine x coordinate of `[k]G` as 32 big-endian bytes; `k` must not be zero (a nonce
/// never is). `[k]G` in constant time, its `Z` inverted in variable time under the secret
/// uniformly random blinding factor `beta` ([`crate::nonce::blind`]).
pub(crate) fn mul_generator_x(k: &Scalar, beta: &Fe) -> FieldBytes {
    let mut point = comb().mul(k);
    let x = point.x_blinded(beta).to_be_bytes();
    point.zeroize();
    x.into()
}

/// `acc + [s]G` for a public `s`, in variable time: at most 65 mixed additions.
pub(crate) fn add_mul_generator_vartime(acc: &Jacobian, s: &Scalar) -> Jacobian {
    let digits = digits(s);
    comb()
        .rows
        .iter()
        .zip(digits)
        .fold(*acc, |acc, (row, d)| add_digit(&acc, row, d))
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

    /// Scalars at the comb's edges and pseudo-random ones.
    fn scalars() -> alloc::vec::Vec<Scalar> {
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
        // 2^256 and 2^257 mod n: the last row's case in the module's doc
        ks.push(power);
        ks.push(power.double());
        ks.push(-power.double());
        let mut state = [0x11u8; 32];
        for _ in 0..200 {
            state = <sm3::Sm3 as sm3::Digest>::digest(state).into();
            ks.push(
                <Scalar as sm2::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(&state.into()),
            );
        }
        ks.retain(|k| !bool::from(k.is_zero()));
        ks
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
        for k in scalars() {
            let beta = crate::nonce::blind(&k);
            assert_eq!(mul_generator_x(&k, &beta), reference_x(&k), "k = {k:?}");
        }
    }

    #[test]
    fn s_g_in_variable_time_equals_the_sm2_crates() {
        for k in scalars() {
            let point = add_mul_generator_vartime(&Jacobian::IDENTITY, &k);
            let x = Fe::from_be_bytes(&reference_x(&k).into());
            assert!(point.has_x(&x), "k = {k:?}");
            assert!(!point.has_x(&x.add(&Fe::ONE)), "k = {k:?}");
        }
        assert!(add_mul_generator_vartime(&Jacobian::IDENTITY, &Scalar::ZERO).is_identity());
    }
}
