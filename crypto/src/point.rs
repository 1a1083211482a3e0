//! Points of the SM2 curve `y² = x³ − 3x + b` over [`Fe`], for what the `sm2` crate's point
//! API cannot do cheaply (docs/performance.md, "Signing and verifying on our own point
//! arithmetic"):
//!
//! - [`Affine`]: table entries, converted once from the `sm2` crate's points;
//! - [`Jacobian`]: Jacobian coordinates with Bernstein and Lange's `madd-2007-bl` (a sum with
//!   an affine point, 7M + 4S) and `dbl-2001-b` (3M + 5S): in variable time, their exceptional
//!   cases branched on, for public scalars (a verification), and in constant time for a
//!   secret scalar whose sums provably never meet them (a signature's nonce over the comb of
//!   `G`, `crate::generator`).

use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::subtle::Choice;

use crate::field::Fe;

/// A point in affine coordinates (never the identity).
#[derive(Clone, Copy)]
pub(crate) struct Affine {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
}

impl Affine {
    /// A word of each end of the entry (the first of `x`, the last of `y`), read from memory:
    /// a load of each cache line the entry may span, for [`crate::generator::warm`].
    pub(crate) fn touch(&self) -> usize {
        let (first, _) = self.x.ends();
        let (_, last) = self.y.ends();
        (first ^ last) as usize
    }

    /// The `sm2` crate's affine point, which must not be the identity.
    pub(crate) fn from_sm2(point: &sm2::AffinePoint) -> Affine {
        let sec1 = point.to_sec1_point(false);
        let coordinate = |c: Option<&sm2::FieldBytes>| {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(c.expect("a point of a table is not the identity"));
            Fe::from_be_bytes(&bytes)
        };
        Affine {
            x: coordinate(sec1.x()),
            y: coordinate(sec1.y()),
        }
    }

    /// The `sm2` crate's projective points, none the identity, in affine form (one inversion).
    pub(crate) fn batch_from_sm2(points: &[sm2::ProjectivePoint]) -> alloc::vec::Vec<Affine> {
        use sm2::elliptic_curve::group::Curve as _;
        let mut affine = alloc::vec![sm2::AffinePoint::IDENTITY; points.len()];
        sm2::ProjectivePoint::batch_normalize(points, &mut affine);
        affine.iter().map(Affine::from_sm2).collect()
    }

    /// `−self`.
    pub(crate) fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

/// A point `(X : Y : Z)` in Jacobian coordinates, `x = X/Z²`, `y = Y/Z³`; `Z = 0` is the
/// identity. `add_affine_ct`, `select`, `x` and `zeroize` run in constant time; the others
/// (`double`, `add_affine`, `has_x`, `is_identity`) in variable time, for public data only.
#[derive(Clone, Copy)]
pub(crate) struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl From<&Affine> for Jacobian {
    fn from(q: &Affine) -> Jacobian {
        Jacobian {
            x: q.x,
            y: q.y,
            z: Fe::ONE,
        }
    }
}

impl Jacobian {
    /// The identity.
    pub(crate) const IDENTITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    /// Whether this is the identity.
    pub(crate) fn is_identity(&self) -> bool {
        self.z.is_zero_vartime()
    }

    /// `2·self` (`dbl-2001-b`, `a = −3`: 3M + 5S); the identity stays the identity (`Z3` is 0),
    /// and the curve has no point of order 2.
    pub(crate) fn double(&self) -> Jacobian {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let alpha = self.x.sub(&delta).mul(&self.x.add(&delta)).triple();
        let beta4 = beta.double().double();
        let x = alpha.square().sub(&beta4.double());
        let z = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma_sq8 = gamma.square().double().double().double();
        let y = alpha.mul(&beta4.sub(&x)).sub(&gamma_sq8);
        Jacobian { x, y, z }
    }

    /// `madd-2007-bl`: `self + q` with its `H` and `r`, no branch. The sum is right unless
    /// `self` is the identity (`Z = 0`) or `q = ±self` (`H = 0`: the sum's `Z` is then 0, the
    /// identity, right for `q = −self` only).
    fn madd(&self, q: &Affine) -> (Jacobian, Fe, Fe) {
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y).double();
        let hh = h.square();
        let i = hh.double().double();
        let j = h.mul(&i);
        let v = self.x.mul(&i);
        let x = r.square().sub(&j).sub(&v.double());
        let y = r.mul(&v.sub(&x)).sub(&self.y.mul(&j).double());
        let z = self.z.add(&h).square().sub(&z1z1).sub(&hh);
        (Jacobian { x, y, z }, h, r)
    }

    /// `self + q` in variable time, every case handled (the identity, `q = ±self`).
    pub(crate) fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_identity() {
            return Jacobian::from(q);
        }
        let (sum, h, r) = self.madd(q);
        if h.is_zero_vartime() && r.is_zero_vartime() {
            return self.double();
        }
        sum
    }

    /// `self + q` in constant time, `self` may be the identity; **`q` must not be `±self`**,
    /// which the caller proves (`crate::generator`: it never happens over the comb of `G`).
    pub(crate) fn add_affine_ct(&self, q: &Affine) -> Jacobian {
        let (sum, _, _) = self.madd(q);
        Jacobian::select(&sum, &Jacobian::from(q), self.z.is_zero())
    }

    /// `b` when `choice` is set, else `a`, in constant time.
    pub(crate) fn select(a: &Jacobian, b: &Jacobian, choice: Choice) -> Jacobian {
        Jacobian {
            x: Fe::select(&a.x, &b.x, choice),
            y: Fe::select(&a.y, &b.y, choice),
            z: Fe::select(&a.z, &b.z, choice),
        }
    }

    /// The affine x coordinate `X/Z²` of a point other than the identity, with `Z` inverted as
    /// `(Z·β)^-1·β` in variable time: `beta` must be a secret, uniformly random nonzero factor
    /// when the point is secret (`crate::nonce`: then `Z·β` tells nothing about `Z`).
    pub(crate) fn x_blinded(&self, beta: &Fe) -> Fe {
        let mut blinded = self.z.mul(beta);
        let mut z_inv = blinded.invert_vartime().mul(beta);
        let x = self.x.mul(&z_inv.square());
        blinded.zeroize();
        z_inv.zeroize();
        x
    }

    /// Overwrites the coordinates with zeros.
    pub(crate) fn zeroize(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
        self.z.zeroize();
    }

    /// Whether the point's affine x coordinate is `x` (`X = x·Z²`: no inversion); never for the
    /// identity.
    pub(crate) fn has_x(&self, x: &Fe) -> bool {
        !self.is_identity() && self.x.eq_vartime(&x.mul(&self.z.square()))
    }

    /// Affine coordinates as big-endian bytes, `None` for the identity (tests).
    #[cfg(test)]
    fn to_affine_bytes(self) -> Option<([u8; 32], [u8; 32])> {
        if self.is_identity() {
            return None;
        }
        let z_inv = self.z.invert();
        let z_inv2 = z_inv.square();
        Some((
            self.x.mul(&z_inv2).to_be_bytes(),
            self.y.mul(&z_inv2).mul(&z_inv).to_be_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm2::elliptic_curve::group::Group as _;
    use sm2::{ProjectivePoint, Scalar};

    /// The `sm2` crate's point's affine coordinates, `None` for the identity.
    fn reference(p: &ProjectivePoint) -> Option<([u8; 32], [u8; 32])> {
        if bool::from(p.is_identity()) {
            return None;
        }
        let a = Affine::from_sm2(&p.to_affine());
        Some((a.x.to_be_bytes(), a.y.to_be_bytes()))
    }

    fn points() -> alloc::vec::Vec<ProjectivePoint> {
        let mut k = Scalar::from(0x1234_5678_9abc_def0u64);
        (0..12)
            .map(|i| {
                k = k.square() + Scalar::from(i as u64);
                ProjectivePoint::GENERATOR * k
            })
            .collect()
    }

    #[test]
    fn jacobian_sums_and_doublings_equal_the_sm2_crates_exceptional_cases_included() {
        let points = points();
        let affine = Affine::batch_from_sm2(&points);
        for (p, pa) in points.iter().zip(&affine) {
            let pj = Jacobian::IDENTITY.add_affine(pa);
            assert_eq!(pj.to_affine_bytes(), reference(p), "O + P");
            assert_eq!(pj.double().to_affine_bytes(), reference(&p.double()), "2P");
            assert_eq!(
                pj.add_affine(pa).to_affine_bytes(),
                reference(&p.double()),
                "P + P"
            );
            assert_eq!(pj.add_affine(&pa.neg()).to_affine_bytes(), None, "P − P");
            assert!(Jacobian::IDENTITY.double().is_identity());
            // a Jacobian point with Z ≠ 1 (3P), plus every other point, plus itself, minus itself
            let p3 = pj.double().add_affine(pa);
            assert_eq!(p3.to_affine_bytes(), reference(&(*p * Scalar::from(3u64))));
            for (q, qa) in points.iter().zip(&affine) {
                let want = reference(&(*p * Scalar::from(3u64) + q));
                assert_eq!(p3.add_affine(qa).to_affine_bytes(), want, "3P + Q");
            }
            let p3a = Affine::from_sm2(&(*p * Scalar::from(3u64)).to_affine());
            assert_eq!(
                p3.add_affine(&p3a).to_affine_bytes(),
                reference(&(*p * Scalar::from(6u64)))
            );
            assert!(p3.add_affine(&p3a.neg()).is_identity());
            let (x, _) = reference(&(*p * Scalar::from(3u64))).unwrap();
            assert!(p3.has_x(&Fe::from_be_bytes(&x)));
            assert!(!p3.has_x(&Fe::from_be_bytes(&x).add(&Fe::ONE)));
            assert!(!Jacobian::IDENTITY.has_x(&Fe::ONE));
        }
    }

    #[test]
    fn constant_time_sums_equal_the_variable_time_ones_and_start_from_the_identity() {
        let points = points();
        let affine = Affine::batch_from_sm2(&points);
        for (p, pa) in points.iter().zip(&affine) {
            let pj = Jacobian::IDENTITY.add_affine_ct(pa);
            assert_eq!(pj.to_affine_bytes(), reference(p), "O + P");
            let beta = Fe::from_be_bytes_reduced(&[0x9d; 32]);
            assert_eq!(
                pj.x_blinded(&beta).to_be_bytes(),
                reference(p).unwrap().0,
                "x(P)"
            );
            assert_eq!(
                pj.double().x_blinded(&Fe::ONE).to_be_bytes(),
                reference(&p.double()).unwrap().0,
                "x(2P), β = 1"
            );
            let p3 = pj.double().add_affine(pa);
            for (q, qa) in points.iter().zip(&affine) {
                let want = reference(&(*p * Scalar::from(3u64) + q));
                assert_eq!(p3.add_affine_ct(qa).to_affine_bytes(), want, "3P + Q");
                assert_eq!(p3.add_affine(qa).to_affine_bytes(), want, "3P + Q");
            }
        }
    }
}
