//! SM2 signatures (GB/T 32918.2) with a distinguishing identifier.
//!
//! The message hash is `e = SM3(Z ‖ M)` with `Z` computed by [`crate::hash::z`] from the
//! signer's identifier and public key. Signing derives `k` deterministically, as a keyed SM3
//! of the message scalar ([`crate::nonce`]; RFC 6979's HMAC-DRBG, which the `sm2` crate uses,
//! cost a sixth of a signature). Signatures travel as raw `r ‖ s` (64 bytes) in frames
//! and convert to and from DER for other tools.

use core::fmt;

use sm2::AffinePoint;
use sm2::elliptic_curve::Generate;
use sm2::elliptic_curve::bigint::ArrayEncoding;
use sm2::elliptic_curve::group::Group;
use sm2::elliptic_curve::ops::{LinearCombination, MulByGeneratorVartime, Reduce};
use sm2::elliptic_curve::point::DecompressPoint;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::subtle::{Choice, ConstantTimeEq};
use sm2::elliptic_curve::{Curve, PrimeField};
use sm2::{FieldBytes, NonZeroScalar, ProjectivePoint, PublicKey, Scalar, SecretKey, Sm2, U256};
use zeroize::Zeroize;

use crate::Error;
use crate::field::Fe;
use crate::generator;
use crate::hash;
use crate::nonce::{self, NonceKey};
use crate::point::{Affine, Jacobian};

/// Length of a raw signature `r ‖ s`.
pub const SIGNATURE_LEN: usize = 64;

/// A raw SM2 signature `r ‖ s`, each 32 bytes big-endian.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}

impl Signature {
    /// Parses a DER `SEQUENCE { r INTEGER, s INTEGER }` (what OpenSSL writes).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let sig = sm2::dsa::Signature::from_der(der).map_err(|_| Error::BadSignature)?;
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(&sig.to_bytes());
        Ok(Signature(out))
    }

    /// The DER encoding. Fails for a value that is not a valid signature (r or s zero or not
    /// below the group order).
    pub fn to_der(&self) -> Result<alloc::vec::Vec<u8>, Error> {
        let sig = sm2::dsa::Signature::from_slice(&self.0).map_err(|_| Error::BadSignature)?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    /// `r` and `s` as scalars, both in `[1, n-1]`.
    fn scalars(&self) -> Result<(Scalar, Scalar), Error> {
        let scalar = |b: &[u8]| -> Result<Scalar, Error> {
            let s = Option::<Scalar>::from(Scalar::from_repr(
                FieldBytes::try_from(b).map_err(|_| Error::BadSignature)?,
            ))
            .ok_or(Error::BadSignature)?;
            if bool::from(s.is_zero()) {
                return Err(Error::BadSignature);
            }
            Ok(s)
        };
        Ok((scalar(&self.0[..32])?, scalar(&self.0[32..])?))
    }
}

/// `e = SM3(Z ‖ M)` reduced into a scalar; `M` is the concatenation of `parts`.
fn message_scalar(z: &[u8; 32], parts: &[&[u8]]) -> Scalar {
    let mut h = <sm3::Sm3 as sm3::Digest>::new_with_prefix(z);
    for p in parts {
        sm3::Digest::update(&mut h, p);
    }
    let e: [u8; 32] = sm3::Digest::finalize(h).into();
    <Scalar as Reduce<U256>>::reduce(&U256::from_be_slice(&e))
}

/// Uncompressed coordinates of a public key.
fn coordinates(key: &PublicKey) -> ([u8; 32], [u8; 32]) {
    let point = key.as_affine().to_sec1_point(false);
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    x.copy_from_slice(point.x().expect("not identity"));
    y.copy_from_slice(point.y().expect("uncompressed"));
    (x, y)
}

/// An SM2 private key with its identifier, for signing. Zeroized on drop; `Debug` is redacted.
pub struct SigningKey {
    secret: SecretKey,
    /// `(1 + d)^-1`, precomputed (secret too).
    d_plus_1_inv: Scalar,
    /// The key of the nonce function (secret; zeroized on drop).
    nonces: NonceKey,
    verifying: VerifyingKey,
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.d_plus_1_inv.zeroize();
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.verifying)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key for `secret` under identifier `id`.
    pub fn new(id: &[u8], secret: SecretKey) -> Result<Self, Error> {
        let d = *secret.to_nonzero_scalar();
        let d_plus_1_inv =
            Option::<Scalar>::from((d + Scalar::ONE).invert()).ok_or(Error::InvalidKey)?;
        let verifying = VerifyingKey::new(id, secret.public_key())?;
        Ok(Self {
            nonces: NonceKey::new(&d),
            secret,
            d_plus_1_inv,
            verifying,
        })
    }

    /// A fresh random key under identifier `id`.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(
        id: &[u8],
        rng: &mut R,
    ) -> Result<Self, Error> {
        Self::new(id, SecretKey::generate_from_rng(rng))
    }

    /// The private key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Signs the concatenation of `parts`.
    pub fn sign_parts(&self, parts: &[&[u8]]) -> Signature {
        let e = message_scalar(&self.verifying.z, parts);
        self.sign_scalar(&e)
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.sign_parts(&[msg])
    }

    fn sign_scalar(&self, e: &Scalar) -> Signature {
        self.sign_with_nonces(e, |counter| self.nonces.k(e, counter))
    }

    /// The signature of `e` with the first nonce `nonce(0), nonce(1), …` that gives one (a
    /// `None` or a degenerate `r` or `s` moves on to the next).
    fn sign_with_nonces(
        &self,
        e: &Scalar,
        mut nonce: impl FnMut(u32) -> Option<Scalar>,
    ) -> Signature {
        let d: NonZeroScalar = self.secret.to_nonzero_scalar();
        let mut counter = 0u32;
        loop {
            let attempt = counter;
            counter = counter.wrapping_add(1);
            let Some(mut k) = nonce(attempt) else {
                continue;
            };
            let mut beta = nonce::blind(&k);
            let x = generator::mul_generator_x(&k, &beta);
            beta.zeroize();
            let r = *e + <Scalar as Reduce<FieldBytes>>::reduce(&x);
            if bool::from(r.is_zero() | (r + k).ct_eq(&Scalar::ZERO)) {
                k.zeroize();
                continue;
            }
            let s = self.d_plus_1_inv * (k - r * *d);
            k.zeroize();
            if bool::from(s.is_zero()) {
                continue;
            }
            let mut out = [0u8; SIGNATURE_LEN];
            out[..32].copy_from_slice(&r.to_bytes());
            out[32..].copy_from_slice(&s.to_bytes());
            return Signature(out);
        }
    }
}

/// An SM2 public key with its identifier, for verifying.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    key: PublicKey,
    z: [u8; 32],
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey(key id ")?;
        self.key_id()[..8]
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "…)")
    }
}

impl VerifyingKey {
    /// The key `key` under identifier `id`.
    pub fn new(id: &[u8], key: PublicKey) -> Result<Self, Error> {
        let (x, y) = coordinates(&key);
        Ok(Self {
            z: hash::z(id, &x, &y)?,
            key,
        })
    }

    /// Parses a SEC1 point (uncompressed `04 ‖ x ‖ y` or compressed).
    pub fn from_sec1(id: &[u8], bytes: &[u8]) -> Result<Self, Error> {
        Self::new(
            id,
            PublicKey::from_sec1_bytes(bytes).map_err(|_| Error::InvalidPoint)?,
        )
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The user hash `Z`.
    pub fn z(&self) -> &[u8; 32] {
        &self.z
    }

    /// The SEC1 uncompressed encoding `04 ‖ x ‖ y`.
    pub fn to_sec1(&self) -> [u8; 65] {
        let (x, y) = coordinates(&self.key);
        let mut out = [0u8; 65];
        out[0] = 4;
        out[1..33].copy_from_slice(&x);
        out[33..].copy_from_slice(&y);
        out
    }

    /// The key id used in access requests: SM3 of the SEC1 uncompressed encoding.
    pub fn key_id(&self) -> [u8; 32] {
        hash::sm3(&[&self.to_sec1()])
    }

    /// Verifies `sig` over the concatenation of `parts` with the `sm2` crate's constant-time
    /// arithmetic.
    pub fn verify_parts(&self, parts: &[&[u8]], sig: &Signature) -> Result<(), Error> {
        let e = message_scalar(&self.z, parts);
        let (r, s) = sig.scalars()?;
        let t = r + s;
        if bool::from(t.is_zero()) {
            return Err(Error::BadSignature);
        }
        let point = ProjectivePoint::lincomb(&[
            (ProjectivePoint::generator(), s),
            (ProjectivePoint::from(*self.key.as_affine()), t),
        ]);
        check_r(&point, &e, &r)
    }

    /// Verifies `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), Error> {
        self.verify_parts(&[msg], sig)
    }
}

/// The field's modulus `p` less the group's order `n` (both public SM2 parameters): an x
/// coordinate (below `p`) reduces modulo `n` to `c` when it is `c`, or `c + n` if `c` is below
/// this.
const P_MINUS_N: U256 =
    U256::from_be_hex("000000000000000000000000000000008dfc2093de39fad5ac440bf6c62abedc");
/// The group's order `n`.
fn order() -> U256 {
    <Sm2 as Curve>::ORDER.get()
}

/// The last step of a verification: `(e + x(P)) mod n == r` for the sum point `P`.
///
/// Without converting `P` to affine coordinates, whose constant-time inversion cost 12.5 µs of a
/// 65 µs verification (docs/performance.md): `x(P) mod n` must be `c = r − e`, so `x(P)` is `c`
/// or `c + n` (below `p`). Each candidate that is an x coordinate of the curve gives the points
/// `±A`, and `P` is one of them exactly when its x coordinate is the candidate (projective
/// comparison: no inversion). Everything here is public, so variable time is fine.
fn check_r(point: &ProjectivePoint, e: &Scalar, r: &Scalar) -> Result<(), Error> {
    if bool::from(point.is_identity()) {
        return Err(Error::BadSignature);
    }
    let c = *r - *e;
    let c_bytes = c.to_bytes();
    let has_x = |x: &FieldBytes| {
        let candidate: Option<AffinePoint> = AffinePoint::decompress(x, Choice::from(0)).into();
        candidate.is_some_and(|a| {
            let a = ProjectivePoint::from(a);
            *point == a || *point == -a
        })
    };
    if has_x(&c_bytes) {
        return Ok(());
    }
    let c_int = U256::from_be_slice(&c_bytes);
    if c_int < P_MINUS_N {
        let x = c_int.wrapping_add(&order()).to_be_byte_array();
        if has_x(&x) {
            return Ok(());
        }
    }
    Err(Error::BadSignature)
}

/// The comb's spread: a row for every `SPREAD`-th digit, the digits between reached by
/// doubling. 2: 32 rows (16 KiB a key) and 4 doublings a multiplication, a verification 1-2 %
/// slower than with 64 rows and none; 4 (16 rows) was 8.5 % slower. Measured side by side in
/// docs/performance.md ("The verifier's table").
const SPREAD: usize = 2;
/// Rows of a comb table: the digits 0 to 63; the 65th (the carry, 0 or 1) has a point of its
/// own, so the rows are exactly 16 KiB, one allocator size class (with a 33rd row for it,
/// 16.5 KiB took a 20 KiB class).
const ROWS: usize = (generator::DIGITS - 1) / SPREAD;
const _: () = assert!(ROWS * SPREAD == generator::DIGITS - 1);

/// A fixed-base comb for one point `P`: row `r` holds `[j·16^(SPREAD·r)]P` for `j = 1..=8` in
/// affine form, and `top` is `[16^64]P`, so `[k]P` is at most 65 mixed additions and
/// `4·(SPREAD − 1)` doublings.
#[derive(Clone)]
struct Comb {
    rows: alloc::boxed::Box<[[Affine; 8]]>,
    top: Affine,
}

impl Comb {
    fn new(point: &ProjectivePoint) -> Self {
        let (rows, top) = generator::comb_rows(point, ROWS, 4 * SPREAD);
        Self { rows, top }
    }

    /// [`generator::warm`] for the entries that `digits` (of a public scalar) will add.
    fn warm(&self, digits: &[i8; generator::DIGITS]) {
        let row_of = |(i, d): (usize, &i8)| (i / SPREAD, *d);
        generator::warm(
            &self.rows,
            digits[..ROWS * SPREAD].iter().enumerate().map(row_of),
        );
    }

    /// `[k]P` in variable time from the digits `d` of a public `k` ([`generator::digits`]):
    /// `Σ_j 16^j · Σ_r d[SPREAD·r + j] · row[r]`, by Horner in `j`, then `d[64]·top` (`d[64]`,
    /// the carry of a reduced scalar, is 0 or 1).
    fn mul_digits(&self, digits: &[i8; generator::DIGITS]) -> Jacobian {
        let mut acc = Jacobian::IDENTITY;
        for j in (0..SPREAD).rev() {
            if j + 1 < SPREAD {
                acc = acc.double().double().double().double();
            }
            for (r, row) in self.rows.iter().enumerate() {
                acc = generator::add_digit(&acc, row, digits[r * SPREAD + j]);
            }
        }
        // 0 or 1 for any scalar (they are reduced below n < 2^256)
        if digits[generator::DIGITS - 1] == 0 {
            acc
        } else {
            acc.add_affine(&self.top)
        }
    }
}

/// The last step of a cached verification: `(e + x(P)) mod n == r` for the sum point `P` in
/// Jacobian coordinates, without an inversion: `x(P)` must be `c = r − e` or `c + n` (below
/// `p`), and `x(P) = c` exactly when `X = c·Z²`. Public data: variable time.
fn check_r_jacobian(point: &Jacobian, e: &Scalar, r: &Scalar) -> Result<(), Error> {
    let c = *r - *e;
    let c_bytes: [u8; 32] = c.to_bytes().into();
    if point.has_x(&Fe::from_be_bytes(&c_bytes)) {
        return Ok(());
    }
    let c_int = U256::from_be_slice(&c_bytes);
    if c_int < P_MINUS_N
        && point.has_x(&Fe::from_be_bytes(
            &c_int.wrapping_add(&order()).to_be_byte_array().into(),
        ))
    {
        return Ok(());
    }
    Err(Error::BadSignature)
}

/// A verifier for one fixed public key with precomputed tables: `[s]G` from the comb of `G`
/// (`crate::generator`, one per process) and `[t]P` from a comb table of `P`, summed in
/// Jacobian coordinates in variable time (`crate::point`), `x` compared without an inversion.
///
/// The comb table (16 KiB) is built on the first [`CachedVerifier::verify_parts`], not
/// before: a server keeps a verifier for every enrolled key, and only the keys that sign every
/// frame (the guide profile) need the table; one-off verifications (handshakes) use
/// [`CachedVerifier::verify_parts_once`], which does not build it.
///
/// **Variable time**: its timing depends on the signature and message, which is fine for what
/// it is for — verifying public data (frames on the wire) under public keys — and never to be
/// used with secrets. Results equal [`VerifyingKey::verify`]'s (tested on random keys and
/// messages and on the GB/T vectors).
pub struct CachedVerifier {
    key: VerifyingKey,
    comb: once_cell::race::OnceBox<Comb>,
}

impl Clone for CachedVerifier {
    fn clone(&self) -> Self {
        let comb = once_cell::race::OnceBox::new();
        if let Some(built) = self.comb.get() {
            let _ = comb.set(alloc::boxed::Box::new(built.clone()));
        }
        Self {
            key: self.key.clone(),
            comb,
        }
    }
}

impl fmt::Debug for CachedVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CachedVerifier").field(&self.key).finish()
    }
}

impl CachedVerifier {
    /// A verifier for `key` (its table is built on first use).
    pub fn new(key: VerifyingKey) -> Self {
        Self {
            key,
            comb: once_cell::race::OnceBox::new(),
        }
    }

    /// Whether the comb table is built (by a [`CachedVerifier::verify_parts`]).
    pub fn has_table(&self) -> bool {
        self.comb.get().is_some()
    }

    /// The key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies `sig` over the concatenation of `parts`.
    pub fn verify_parts(&self, parts: &[&[u8]], sig: &Signature) -> Result<(), Error> {
        let e = message_scalar(&self.key.z, parts);
        let (r, s) = sig.scalars()?;
        let t = r + s;
        if bool::from(t.is_zero()) {
            return Err(Error::BadSignature);
        }
        let comb = self.comb.get_or_init(|| {
            alloc::boxed::Box::new(Comb::new(&ProjectivePoint::from(*self.key.key.as_affine())))
        });
        // every table entry the two sums add is loaded first, so that a cold table's cache
        // misses overlap (`generator::warm`)
        let (t_digits, s_digits) = (generator::digits(&t), generator::generator_digits(&s));
        comb.warm(&t_digits);
        generator::warm_generator(&s_digits);
        let point = generator::add_generator_digits(&comb.mul_digits(&t_digits), &s_digits);
        check_r_jacobian(&point, &e, &r)
    }

    /// Verifies `sig` over the concatenation of `parts` without building the comb table
    /// (with it when it is built): for a verification the key may never need again.
    pub fn verify_parts_once(&self, parts: &[&[u8]], sig: &Signature) -> Result<(), Error> {
        if self.has_table() {
            self.verify_parts(parts, sig)
        } else {
            self.key.verify_parts(parts, sig)
        }
    }

    /// Verifies `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), Error> {
        self.verify_parts(&[msg], sig)
    }
}

/// `[s]G` in variable time (used by tests comparing backends).
#[doc(hidden)]
pub fn mul_generator_vartime(s: &Scalar) -> ProjectivePoint {
    ProjectivePoint::mul_by_generator_vartime(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm2::elliptic_curve::point::AffineCoordinates;

    /// The affine x coordinate's residue modulo `n`, the slow way.
    fn x_mod_n(point: &ProjectivePoint) -> Scalar {
        <Scalar as Reduce<FieldBytes>>::reduce(&point.to_affine().x())
    }

    /// RFC 6979's nonce for `e`, as the `sm2` crate derives it.
    fn rfc6979_nonces(key: &SigningKey, e: &Scalar) -> impl FnMut(u32) -> Option<Scalar> {
        let d = key.secret.to_nonzero_scalar().to_repr();
        let mut kgen = rfc6979::KGenerator::<sm3::Sm3, U256>::new(
            &d,
            &e.to_bytes(),
            &[],
            &<Sm2 as Curve>::ORDER,
        );
        move |_| {
            let mut k = FieldBytes::default();
            kgen.fill_next_k(&mut k);
            Scalar::from_repr(k).into_option()
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Our signer (its comb, the blinded inversion, the scalar arithmetic) given RFC 6979's
        /// nonce gives the `sm2` crate's signature, for any key, identifier and message: only
        /// the nonce function differs between the two.
        #[test]
        fn with_rfc6979s_nonce_our_signature_is_the_sm2_crates(
            seed in proptest::prelude::any::<[u8; 32]>(),
            msg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            id in "[ -~]{0,40}",
        ) {
            use sm2::dsa::signature::Signer;
            let Ok(secret) = SecretKey::from_slice(&seed) else {
                return Ok(());
            };
            let Ok(theirs) = sm2::dsa::SigningKey::new(&id, &secret) else {
                return Ok(());
            };
            let ours = SigningKey::new(id.as_bytes(), secret).unwrap();
            let e = message_scalar(&ours.verifying.z, &[&msg]);
            let with_rfc6979 = ours.sign_with_nonces(&e, rfc6979_nonces(&ours, &e));
            let theirs: sm2::dsa::Signature = theirs.sign(&msg);
            proptest::prop_assert_eq!(&with_rfc6979.0[..], &theirs.to_bytes()[..]);
        }
    }

    #[test]
    fn a_rejected_nonce_moves_on_to_the_next() {
        let key = SigningKey::new(b"id", SecretKey::from_slice(&[7; 32]).unwrap()).unwrap();
        let e = message_scalar(&key.verifying.z, &[b"m"]);
        let mut asked = alloc::vec::Vec::new();
        let sig = key.sign_with_nonces(&e, |c| {
            asked.push(c);
            (c == 2).then(|| Scalar::from(5u64))
        });
        assert_eq!(asked, [0, 1, 2]);
        key.verifying.verify(b"m", &sig).unwrap();
    }

    #[test]
    fn a_keys_comb_multiplies_by_every_extreme_digit_after_warming() {
        let mut rng = crate::system_rng();
        let key = SigningKey::generate(crate::DEFAULT_ID, &mut rng).expect("a key");
        let point = ProjectivePoint::from(*key.verifying_key().key.as_affine());
        let comb = Comb::new(&point);
        let sixteen = Scalar::from(16u64);
        let mut ks = alloc::vec![Scalar::ONE, -Scalar::ONE, Scalar::from(7u64)];
        let mut place = Scalar::ONE;
        for _ in 0..64 {
            // the digit 8 or −8 in this place (the extremes of a row) and 7 below it
            ks.push(place * Scalar::from(8u64));
            ks.push(-(place * Scalar::from(8u64)) + Scalar::from(7u64));
            place *= sixteen;
        }
        ks.extend((0u8..16).map(|i| {
            // pseudo-random scalars: a hash reduced modulo n
            <Scalar as Reduce<FieldBytes>>::reduce(&<sm3::Sm3 as sm3::Digest>::digest([i]))
        }));
        for k in ks {
            let digits = generator::digits(&k);
            comb.warm(&digits);
            let want = (point * k).to_affine();
            let x = Fe::from_be_bytes(&want.x().into());
            let got = comb.mul_digits(&digits);
            assert!(got.has_x(&x), "k = {k:?}");
            assert!(!got.has_x(&x.add(&Fe::ONE)), "k = {k:?}");
        }
    }

    #[test]
    fn a_keys_comb_rows_are_exactly_16_kib() {
        let comb = Comb::new(&ProjectivePoint::generator());
        assert_eq!(core::mem::size_of_val(&*comb.rows), 16 * 1024);
        // [16^64]G, the carry digit's point
        let top =
            ProjectivePoint::generator() * (Scalar::from(1u64 << 32).square().square().square());
        let want = Affine::from_sm2(&top.to_affine());
        assert_eq!(comb.top.x.to_be_bytes(), want.x.to_be_bytes());
        assert_eq!(comb.top.y.to_be_bytes(), want.y.to_be_bytes());
    }

    #[test]
    fn the_constants_are_sm2s() {
        let p =
            U256::from_be_hex("fffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffff");
        assert_eq!(p.wrapping_sub(&order()), P_MINUS_N);
        assert_eq!(
            Scalar::from_repr(order().wrapping_sub(&U256::ONE).to_be_byte_array())
                .into_option()
                .map(|s| s + Scalar::ONE),
            Some(Scalar::ZERO),
            "n is the group's order"
        );
    }

    fn affine(point: &ProjectivePoint) -> Affine {
        Affine::from_sm2(&point.to_affine())
    }

    #[test]
    fn the_check_agrees_with_the_affine_x_coordinate() {
        let mut point = ProjectivePoint::generator();
        // the same point in Jacobian coordinates, built alike (Z ≠ 1)
        let mut jacobian = Jacobian::IDENTITY.add_affine(&affine(&point));
        for i in 0..64u64 {
            let step = ProjectivePoint::generator() * Scalar::from(i + 3);
            point = point.double() + step;
            jacobian = jacobian.double().add_affine(&affine(&step));
            let e = Scalar::from(i * 7919 + 1);
            let r = e + x_mod_n(&point);
            assert!(check_r(&point, &e, &r).is_ok(), "{i}");
            assert!(
                check_r(&-point, &e, &r).is_ok(),
                "{i}: the negated point, same x"
            );
            assert!(check_r(&point, &e, &(r + Scalar::ONE)).is_err(), "{i}");
            assert!(check_r(&point, &(e + Scalar::ONE), &r).is_err(), "{i}");
            assert!(check_r_jacobian(&jacobian, &e, &r).is_ok(), "{i}");
            let negated = Jacobian::IDENTITY.add_affine(&affine(&point).neg());
            assert!(check_r_jacobian(&negated, &e, &r).is_ok(), "{i}");
            assert!(check_r_jacobian(&jacobian, &e, &(r + Scalar::ONE)).is_err());
            assert!(check_r_jacobian(&jacobian, &(e + Scalar::ONE), &r).is_err());
        }
        assert!(check_r(&ProjectivePoint::IDENTITY, &Scalar::ONE, &Scalar::ONE).is_err());
        let identity = Jacobian::IDENTITY;
        assert!(check_r_jacobian(&identity, &Scalar::ONE, &Scalar::ONE).is_err());
    }

    #[test]
    fn an_x_coordinate_above_the_order_is_found_as_c_plus_n() {
        // the first x at or above n that is on the curve: its residue is x − n
        let mut x = order();
        let point = loop {
            let bytes = x.to_be_byte_array();
            if let Some(a) =
                Option::<AffinePoint>::from(AffinePoint::decompress(&bytes, Choice::from(0)))
            {
                break ProjectivePoint::from(a);
            }
            x = x.wrapping_add(&U256::ONE);
        };
        let residue = x_mod_n(&point);
        assert_eq!(
            U256::from_be_slice(&residue.to_bytes()),
            x.wrapping_sub(&order())
        );
        let e = Scalar::from(12_345u64);
        assert!(check_r(&point, &e, &(e + residue)).is_ok());
        assert!(check_r(&point, &e, &(e + residue + Scalar::ONE)).is_err());
        // the same point in Jacobian coordinates with Z ≠ 1: (P + G) − G
        let g = affine(&ProjectivePoint::generator());
        let jacobian = Jacobian::IDENTITY
            .add_affine(&affine(&point))
            .add_affine(&g)
            .add_affine(&g.neg());
        assert!(check_r_jacobian(&jacobian, &e, &(e + residue)).is_ok());
        assert!(check_r_jacobian(&jacobian, &e, &(e + residue + Scalar::ONE)).is_err());
    }
}
