//! Multiples of the generator `G` from fixed-base combs: `x([k]G)` for a secret nonce `k` in
//! constant time (a signature), and `[s]G` added to a sum in variable time (a verification).
//!
//! Through the `sm2` crate a signature's `[k]G` is `ProjectivePoint::mul_by_generator` (66
//! complete projective additions over its half-size basepoint table, 4 doublings) and
//! `to_affine`, whose constant-time inversion (fiat-crypto's divsteps) was a third of a
//! signature's instructions (docs/performance.md, "Signing and verifying on our own point
//! arithmetic"); the crate exposes neither its field elements nor a point's coordinates. Here,
//! on [`crate::field`] and [`crate::point`]:
//!
//! - the comb of `G`: signed digits of `W =` [`WIDTH`] bits (6 on 64-bit targets, 4 on
//!   others, whose RAM is a microcontroller's), `R` rows, row `i` holding `[j·2^(W·i)]G` for
//!   `j = 1..=2^(W−1)` in affine coordinates (W = 6: 43 rows of 32 points, 88 KiB; W = 4: 65
//!   rows of 8, 33 KiB; built once per process on first use);
//! - `[k]G` as `R` mixed additions in Jacobian coordinates of the entries picked by the signed
//!   digits `d_i` of `k`, each picked by scanning its whole row, with no doubling; then
//!   `Z^-1` as `(Z·β)^-1·β` with a secret uniformly random `β` ([`crate::nonce`]), the
//!   blinded inversion in variable time. Nothing else branches on, or indexes memory by,
//!   anything derived from `k`; its digits and the partial sums are zeroized after use;
//! - `[s]G` for a verification from the same comb in variable time: at most `R` additions of
//!   the entries the digits of `s` name (43 on 64-bit targets, 14 % of a verification's
//!   instructions fewer than radix 16's 65).
//!
//! **Why the incomplete addition never meets its exceptional case** (`q = ±acc`, which it
//! would get wrong) for `k ∈ [1, n − 1]`. The digits are `d_i ∈ [−2^(W−1), 2^(W−1)]` with
//! `k = Σ d_i·2^(W·i)`; the last row is `L = R − 1`. Before row `r` the sum is `[a]G` with the
//! integer `a = Σ_{i<r} d_i·2^(W·i)`, `|a| ≤ 2^(W−1)·(2^(W·r) − 1)/(2^W − 1) < 2^(W·r)`, and the
//! entry is `[d_r·2^(W·r)]G`, `d_r ≠ 0` (a zero digit adds nothing). So `a ∓ d_r·2^(W·r)` is a
//! nonzero integer of magnitude below `2^(W·r)·(2^(W−1) + 1)`:
//!
//! - for `r < L` that is below `n` (W = 6: `2^246·33 < 2^252`; W = 4: `2^252·9 < 2^256 − 2^225
//!   < n`), so it is not `0 mod n`: no collision;
//! - for `r = L`, `a = k − d_L·2^(W·L)`: `a ≡ −d_L·2^(W·L)` means `k ≡ 0` (excluded), and
//!   `a ≡ d_L·2^(W·L)` means `k ≡ d_L·2^(W·L + 1)`. W = 4 (`L = 64`, `d_64 ∈ {0, 1}`, the
//!   carry): `k ≡ 2^257`, whose representative `2^257 − 2n < 2^226` has `d_64 = 0`. W = 6
//!   (`L = 42`, `d_42 ∈ [0, 16]`, bits 252-255 and a carry): `k ≡ d·2^253`; for `d ≤ 7` that
//!   is `k = d·2^253`, whose `d_42` is `2d ≠ d`; for `8 ≤ d ≤ 15`, `k = (d − 8)·2^253 +
//!   (2^256 − n)` with `2^256 − n < 2^225`, so no carry reaches digit 42 and `d_42 = 2(d − 8)
//!   ≠ d`; for `d = 16`, `k = 2^257 − 2n < 2^227` has `d_42 = 0`. No collision.
//!
//! The sum starting from the identity is handled apart (a selection). Tested at these edges
//! (`tests::x_of_k_g_equals_the_sm2_crates_for_edge_and_random_scalars`).

use once_cell::race::OnceBox;
use sm2::elliptic_curve::group::Group as _;
use sm2::elliptic_curve::subtle::{Choice, ConstantTimeEq};
use sm2::{FieldBytes, ProjectivePoint, Scalar};
use zeroize::Zeroize;

use crate::field::{Fe, Mask};
use crate::point::{Affine, Jacobian};

/// Signed radix-16 digits of a scalar below `2^256` (a key's comb, `crate::sign`): 64 nibbles
/// and a carry.
pub(crate) const DIGITS: usize = 65;

/// The comb of `G`'s digit width `W` in bits: 6 where pointers are 64-bit (88 KiB of table, 43
/// additions a signature), 4 elsewhere (33 KiB, 65 additions: a microcontroller's RAM).
#[cfg(target_pointer_width = "64")]
pub(crate) const WIDTH: usize = 6;
/// The comb of `G`'s digit width `W` in bits (see the 64-bit definition).
#[cfg(not(target_pointer_width = "64"))]
pub(crate) const WIDTH: usize = 4;
/// Points in a row of the comb of `G`: `[j]·row` for `j = 1..=2^(W−1)`.
const ENTRIES: usize = 1 << (WIDTH - 1);
/// Rows of the comb of `G`: a digit for each `W` bits of 256, and one more for the carry when
/// `W` divides 256 (when it does not, the top digit has room for it: `2^(256 mod W) ≤ 2^(W−1)`).
const ROWS: usize = 256 / WIDTH + 1;
const _: () = assert!(256 % WIDTH == 0 || 256 % WIDTH < WIDTH);

/// The signed digits `d_i ∈ [−2^(W−1), 2^(W−1)]` of `k` in radix `2^W`, `k = Σ d_i·2^(W·i)`, in
/// constant time (the bits each digit takes depend on `i` only).
fn signed_digits<const W: usize, const N: usize>(k: &Scalar) -> [i8; N] {
    let mut bytes: FieldBytes = k.to_bytes();
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let mut be = [0u8; 8];
        be.copy_from_slice(&bytes[32 - 8 * (i + 1)..32 - 8 * i]);
        *limb = u64::from_be_bytes(be);
        be.zeroize();
    }
    bytes.zeroize();
    let mut out = [0i8; N];
    for (i, digit) in out.iter_mut().enumerate() {
        let bit = W * i;
        if bit >= 256 {
            break;
        }
        let (limb, shift) = (bit / 64, bit % 64);
        let mut v = limbs[limb] >> shift;
        if shift + W > 64 && limb + 1 < 4 {
            v |= limbs[limb + 1] << (64 - shift);
        }
        *digit = (v & ((1 << W) - 1)) as i8;
    }
    limbs.zeroize();
    for i in 0..N - 1 {
        let carry = (out[i] + (1 << (W - 1))) >> W;
        out[i] -= carry << W;
        out[i + 1] += carry;
    }
    out
}

/// The digits `d_i ∈ [−8, 8]` with `k = Σ d_i·16^i`, in constant time.
pub(crate) fn digits(k: &Scalar) -> [i8; DIGITS] {
    signed_digits::<4, DIGITS>(k)
}

/// Loads the entries that the public digits `digits` (`(row, digit)`) will add, all of them
/// before the first addition (variable time, public data). A key's comb table is cold in the
/// caches when its AGV's next frame comes (a fleet's tables, 16 KiB a key, do not fit), and
/// the additions would otherwise wait for its entries one at a time; these loads do not
/// depend on each other, so their misses overlap. Measured in docs/performance.md ("Cold
/// tables").
pub(crate) fn warm<const E: usize>(
    rows: &[[Affine; E]],
    digits: impl Iterator<Item = (usize, i8)>,
) {
    let mut acc = 0usize;
    for (r, d) in digits {
        if d != 0 {
            acc ^= rows[r][usize::from(d.unsigned_abs()) - 1].touch();
        }
    }
    core::hint::black_box(acc);
}

/// `acc + [d]·row[0]` for a public digit `d ∈ [−E, E]` of a comb row (variable time).
pub(crate) fn add_digit<const E: usize>(acc: &Jacobian, row: &[Affine; E], d: i8) -> Jacobian {
    match d {
        0 => *acc,
        1.. => acc.add_affine(&row[(d - 1) as usize]),
        _ => acc.add_affine(&row[(-d - 1) as usize].neg()),
    }
}

/// The rows of a fixed-base comb of `point`: row `r` holds `[j·2^(shift·r)]point` for
/// `j = 1..=E`, in affine form (one inversion), and the point after the last row,
/// `[2^(shift·rows)]point`. Shared by the comb of `G` and a key's comb (`crate::sign`).
pub(crate) fn comb_rows<const E: usize>(
    point: &ProjectivePoint,
    rows: usize,
    shift: usize,
) -> (alloc::boxed::Box<[[Affine; E]]>, Affine) {
    let mut projective = alloc::vec::Vec::with_capacity(rows * E + 1);
    let mut base = *point;
    for _ in 0..rows {
        let mut acc = base;
        for _ in 0..E {
            projective.push(acc);
            acc += base;
        }
        for _ in 0..shift {
            base = base.double();
        }
    }
    projective.push(base);
    let affine = Affine::batch_from_sm2(&projective);
    let table = affine[..rows * E]
        .chunks_exact(E)
        .map(|c| core::array::from_fn(|j| c[j]))
        .collect();
    (table, affine[rows * E])
}

/// The comb of `G`: row `i` holds `[j·2^(W·i)]G` for `j = 1..=2^(W−1)`.
struct Comb {
    rows: alloc::boxed::Box<[[Affine; ENTRIES]]>,
}

impl Comb {
    fn new() -> Self {
        let (rows, _) = comb_rows(&ProjectivePoint::GENERATOR, ROWS, WIDTH);
        Self { rows }
    }

    /// The entry for a digit `d ∈ [−2^(W−1), 2^(W−1)]` (`[d]` times the row's first point),
    /// found by scanning the whole row, and whether `d` is 0 (then the entry returned is
    /// meaningless).
    fn select(row: &[Affine; ENTRIES], d: i8) -> (Affine, Choice) {
        let sign = d >> 7;
        let abs = ((d + sign) ^ sign) as u8;
        let mut t = row[0];
        for (j, entry) in (1u8..).zip(row.iter()) {
            let hit = Mask::eq(abs, j);
            t.x.assign_masked(&entry.x, hit);
            t.y.assign_masked(&entry.y, hit);
        }
        t.y = Fe::select(&t.y, &t.y.neg(), Choice::from((sign & 1) as u8));
        (t, abs.ct_eq(&0))
    }

    /// `[k]G` in constant time, for `k ≠ 0` (the module's doc: why the sums are right).
    fn mul(&self, k: &Scalar) -> Jacobian {
        let mut d = signed_digits::<WIDTH, ROWS>(k);
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

/// The digits of a public `s` on the comb of `G`, for [`warm_generator`] and
/// [`add_generator_digits`].
pub(crate) fn generator_digits(s: &Scalar) -> [i8; ROWS] {
    signed_digits::<WIDTH, ROWS>(s)
}

/// [`warm`] for the entries of the comb of `G` that `digits` will add.
pub(crate) fn warm_generator(digits: &[i8; ROWS]) {
    warm(&comb().rows, digits.iter().copied().enumerate());
}

/// `acc + [s]G` from the digits of a public `s` ([`generator_digits`]), in variable time: at
/// most [`ROWS`] mixed additions over the same comb as signing (43 on 64-bit targets).
pub(crate) fn add_generator_digits(acc: &Jacobian, digits: &[i8; ROWS]) -> Jacobian {
    comb()
        .rows
        .iter()
        .zip(digits)
        .fold(*acc, |acc, (row, &d)| add_digit(&acc, row, d))
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
        // the comb's digits at their extremes: ±2^(W−1)·2^(W·i), 2^(W·i) − 1
        let radix = scalar_from_u64(1 << WIDTH);
        let half = scalar_from_u64(1 << (WIDTH - 1));
        let mut power = Scalar::ONE;
        for _ in 0..ROWS {
            ks.push(power * half);
            ks.push(-(power * half));
            ks.push(power - Scalar::ONE);
            power *= radix;
        }
        // d·2^(W·L + 1) mod n for every top digit d: the last row's cases in the module's doc
        let mut top = Scalar::ONE;
        for _ in 0..WIDTH * (ROWS - 1) + 1 {
            top = top.double();
        }
        for d in 1..=(1u64 << (WIDTH - 1)) {
            ks.push(top * scalar_from_u64(d));
            ks.push(-(top * scalar_from_u64(d)));
        }
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
    fn the_combs_digits_sum_to_the_scalar() {
        let radix = scalar_from_u64(1 << WIDTH);
        let bound = 1i8 << (WIDTH - 1);
        for k in scalars() {
            let d = signed_digits::<WIDTH, ROWS>(&k);
            assert!(d.iter().all(|d| (-bound..=bound).contains(d)), "{d:?}");
            assert!(d[ROWS - 1] >= 0);
            let sum = d.iter().rev().fold(Scalar::ZERO, |acc, &d| {
                let term = scalar_from_u64(u64::from(d.unsigned_abs()));
                acc * radix + if d < 0 { -term } else { term }
            });
            assert_eq!(sum, k);
        }
        // the radix-16 digits through the same code
        assert_eq!(
            digits(&scalar_from_u64(0x8f)),
            core::array::from_fn(|i| [-1, -7, 1][..].get(i).copied().unwrap_or(0))
        );
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
            let digits = generator_digits(&k);
            warm_generator(&digits);
            let point = add_generator_digits(&Jacobian::IDENTITY, &digits);
            let x = Fe::from_be_bytes(&reference_x(&k).into());
            assert!(point.has_x(&x), "k = {k:?}");
            assert!(!point.has_x(&x.add(&Fe::ONE)), "k = {k:?}");
        }
        let zero = generator_digits(&Scalar::ZERO);
        assert!(add_generator_digits(&Jacobian::IDENTITY, &zero).is_identity());
    }
}
