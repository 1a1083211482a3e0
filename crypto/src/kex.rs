//! The SM2 key exchange of GB/T 32918.3, with both confirmation values, on the `sm2` crate's
//! arithmetic (it has no key exchange of its own).
//!
//! The AGV is the initiator A, the RCS the responder B. Each side has a static key pair (a
//! [`SigningKey`] with its identifier) and knows the peer's static public key and identifier
//! (a [`VerifyingKey`]); `Z` values are those of [`crate::hash::z`].
//!
//! ```text
//! A: rA, RA = [rA]G                     --- RA --->
//! B: rB, RB = [rB]G, V = [tB](PA + [x̄1]RA), KB, SB   <--- RB, SB ---
//! A: U = [tA](PB + [x̄2]RB), KA, checks S1 = SB, SA   --- SA --->
//! B: checks S2 = SA
//! ```

use core::fmt;

use sm2::elliptic_curve::PrimeField;
use sm2::elliptic_curve::group::Group;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::{FieldBytes, NonZeroScalar, ProjectivePoint, PublicKey, Scalar};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;
use crate::hash::{kdf, sm3};
use crate::sign::{SigningKey, VerifyingKey};

/// Length of the shared key `K` (klen = 128 bits, as in the standard's example).
pub const SHARED_KEY_LEN: usize = 16;

/// A SEC1 uncompressed point `04 ‖ x ‖ y`.
pub type Point = [u8; 65];

/// The shared key `K` agreed by the exchange. Zeroized on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SharedKey(pub [u8; SHARED_KEY_LEN]);

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedKey(..)")
    }
}

/// An ephemeral scalar, zeroized on drop.
struct Ephemeral(NonZeroScalar);

impl Drop for Ephemeral {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn random_ephemeral<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Ephemeral {
    use sm2::elliptic_curve::Generate;
    Ephemeral(NonZeroScalar::generate_from_rng(rng))
}

fn encode(point: &ProjectivePoint) -> Point {
    let mut out = [0u8; 65];
    out.copy_from_slice(point.to_affine().to_sec1_point(false).as_bytes());
    out
}

fn decode(point: &Point) -> Result<ProjectivePoint, Error> {
    if point[0] != 4 {
        return Err(Error::InvalidPoint);
    }
    PublicKey::from_sec1_bytes(point)
        .map(|p| ProjectivePoint::from(*p.as_affine()))
        .map_err(|_| Error::InvalidPoint)
}

/// `x̄ = 2^w + (x mod 2^w)` with `w = 127`, from the point's encoding.
fn x_bar(point: &Point) -> Scalar {
    let mut bytes = FieldBytes::default();
    bytes[16..].copy_from_slice(&point[1 + 16..33]);
    bytes[16] |= 0x80;
    Option::from(Scalar::from_repr(bytes)).expect("below 2^128 < n")
}

/// What both sides derive from the shared point: `K` and the two confirmation values.
struct Derived {
    key: SharedKey,
    s_02: [u8; 32],
    s_03: [u8; 32],
}

/// `t = d + x̄·r`, then `[t](P_peer + [x̄_peer]R_peer)` and the derivations.
#[allow(clippy::too_many_arguments)]
fn derive(
    own: &SigningKey,
    own_ephemeral: &Ephemeral,
    own_point: &Point,
    peer: &VerifyingKey,
    peer_point: &Point,
    za: &[u8; 32],
    zb: &[u8; 32],
    (ra, rb): (&Point, &Point),
) -> Result<Derived, Error> {
    let peer_r = decode(peer_point)?;
    let d = *own.secret().to_nonzero_scalar();
    let mut t = d + x_bar(own_point) * *own_ephemeral.0;
    let peer_p = ProjectivePoint::from(*peer.public_key().as_affine());
    let shared = (peer_p + peer_r * x_bar(peer_point)) * t;
    t.zeroize();
    if bool::from(shared.is_identity()) {
        return Err(Error::InvalidPoint);
    }
    let mut xy = encode(&shared);
    let (x, y) = (&xy[1..33], &xy[33..]);
    let mut key = SharedKey([0; SHARED_KEY_LEN]);
    kdf(&[x, y, za, zb], &mut key.0);
    let inner = sm3(&[x, za, zb, &ra[1..33], &ra[33..], &rb[1..33], &rb[33..]]);
    let s_02 = sm3(&[&[0x02], y, &inner]);
    let s_03 = sm3(&[&[0x03], y, &inner]);
    xy.zeroize();
    Ok(Derived { key, s_02, s_03 })
}

/// Constant-time comparison of confirmation values.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use sm2::elliptic_curve::subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

/// The initiator (AGV) between sending `R_A` and receiving `R_B`, `S_B`.
pub struct Initiator {
    ephemeral: Ephemeral,
    point: Point,
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator").finish_non_exhaustive()
    }
}

impl Initiator {
    /// Starts an exchange: returns the state and `R_A` to send.
    pub fn start<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> (Self, Point) {
        Self::with_ephemeral(random_ephemeral(rng))
    }

    fn with_ephemeral(ephemeral: Ephemeral) -> (Self, Point) {
        let point = encode(&(ProjectivePoint::generator() * *ephemeral.0));
        (Self { ephemeral, point }, point)
    }

    /// Finishes with the responder's `R_B` and `S_B`: checks `S_B` and returns `K` and `S_A`
    /// to send.
    pub fn finish(
        self,
        own: &SigningKey,
        peer: &VerifyingKey,
        peer_point: &Point,
        peer_confirm: &[u8; 32],
    ) -> Result<(SharedKey, [u8; 32]), Error> {
        let za = own.verifying_key().z();
        let zb = peer.z();
        let d = derive(
            own,
            &self.ephemeral,
            &self.point,
            peer,
            peer_point,
            za,
            zb,
            (&self.point, peer_point),
        )?;
        if !same(&d.s_02, peer_confirm) {
            return Err(Error::BadConfirmation);
        }
        Ok((d.key.clone(), d.s_03))
    }
}

/// The responder (RCS) between sending `R_B`, `S_B` and receiving `S_A`.
pub struct Responder {
    key: SharedKey,
    expected: [u8; 32],
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder").finish_non_exhaustive()
    }
}

impl Responder {
    /// Answers an initiator's `R_A`: returns the state, `R_B` and `S_B` to send.
    pub fn respond<R: rand_core::CryptoRng + ?Sized>(
        own: &SigningKey,
        peer: &VerifyingKey,
        peer_point: &Point,
        rng: &mut R,
    ) -> Result<(Self, Point, [u8; 32]), Error> {
        Self::respond_with(own, peer, peer_point, random_ephemeral(rng))
    }

    fn respond_with(
        own: &SigningKey,
        peer: &VerifyingKey,
        peer_point: &Point,
        ephemeral: Ephemeral,
    ) -> Result<(Self, Point, [u8; 32]), Error> {
        let point = encode(&(ProjectivePoint::generator() * *ephemeral.0));
        let za = peer.z();
        let zb = own.verifying_key().z();
        let d = derive(
            own,
            &ephemeral,
            &point,
            peer,
            peer_point,
            za,
            zb,
            (peer_point, &point),
        )?;
        let state = Self {
            key: d.key.clone(),
            expected: d.s_03,
        };
        Ok((state, point, d.s_02))
    }

    /// Checks the initiator's `S_A` and returns `K`.
    pub fn confirm(self, confirm: &[u8; 32]) -> Result<SharedKey, Error> {
        if same(&self.expected, confirm) {
            Ok(self.key.clone())
        } else {
            Err(Error::BadConfirmation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> alloc::vec::Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn scalar(s: &str) -> Ephemeral {
        let bytes = FieldBytes::try_from(h(s).as_slice()).unwrap();
        Ephemeral(Option::from(NonZeroScalar::from_repr(bytes)).unwrap())
    }

    fn key(id: &[u8], d: &str) -> SigningKey {
        let secret = sm2::SecretKey::from_slice(&h(d)).unwrap();
        SigningKey::new(id, secret).unwrap()
    }

    fn point(x: &str, y: &str) -> Point {
        let mut p = [4u8; 65];
        p[1..33].copy_from_slice(&h(x));
        p[33..].copy_from_slice(&h(y));
        p
    }

    /// crypto-vectors.md section 4: GB/T 32918.5-2017 example on the recommended curve.
    #[test]
    fn gb_t_32918_5_key_exchange_example() {
        let id = crate::DEFAULT_ID;
        let a = key(
            id,
            "81EB26E941BB5AF16DF116495F90695272AE2CD63D6C4AE1678418BE48230029",
        );
        let b = key(
            id,
            "785129917D45A9EA5437A59356B82338EAADDA6CEB199088F14AE10DEFA229B5",
        );
        assert_eq!(
            hex::encode_upper(a.verifying_key().z()),
            "3B85A57179E11E7E513AA622991F2CA74D1807A0BD4D4B38F90987A17AC245B1"
        );
        assert_eq!(
            hex::encode_upper(b.verifying_key().z()),
            "79C988D63229D97EF19FE02CA1056E01E6A7411ED24694AA8F834F4A4AB022F7"
        );
        let (init, ra) = Initiator::with_ephemeral(scalar(
            "D4DE15474DB74D06491C440D305E012400990F3E390C7E87153C12DB2EA60BB3",
        ));
        assert_eq!(
            ra,
            point(
                "64CED1BDBC99D590049B434D0FD73428CF608A5DB8FE5CE07F15026940BAE40E",
                "376629C7AB21E7DB260922499DDB118F07CE8EAAE3E7720AFEF6A5CC062070C0"
            )
        );
        let (resp, rb, sb) = Responder::respond_with(
            &b,
            a.verifying_key(),
            &ra,
            scalar("7E07124814B309489125EAED101113164EBF0F3458C5BD88335C1F9D596243D6"),
        )
        .unwrap();
        assert_eq!(
            rb,
            point(
                "ACC27688A6F7B706098BC91FF3AD1BFF7DC2802CDB14CCCCDB0A90471F9BD707",
                "2FEDAC0494B2FFC4D6853876C79B8F301C6573AD0AA50F39FC87181E1A1B46FE"
            )
        );
        assert_eq!(
            hex::encode_upper(sb),
            "D3A0FE15DEE185CEAE907A6B595CC32A266ED7B3367E9983A896DC32FA20F8EB"
        );
        let (ka, sa) = init.finish(&a, b.verifying_key(), &rb, &sb).unwrap();
        assert_eq!(hex::encode_upper(ka.0), "6C89347354DE2484C60B4AB1FDE4C6E5");
        assert_eq!(
            hex::encode_upper(sa),
            "18C7894B3816DF16CF07B05C5EC0BEF5D655D58F779CC1B400A4F3884644DB88"
        );
        let kb = resp.confirm(&sa).unwrap();
        assert_eq!(ka, kb);
    }

    /// crypto-vectors.md section 6: the section-5 keys and identifiers on the recommended
    /// curve (cross-checked with Bouncy Castle).
    #[test]
    fn cross_implementation_case() {
        let a = key(
            b"ALICE123@YAHOO.COM",
            "6FCBA2EF9AE0AB902BC3BDE3FF915D44BA4CC78F88E2F8E7F8996D3B8CCEEDEE",
        );
        let b = key(
            b"BILL456@YAHOO.COM",
            "5E35D7D3F3C54DBAC72E61819E730B019A84208CA3A35E4C2E353DFCCB2A3B53",
        );
        let (init, ra) = Initiator::with_ephemeral(scalar(
            "83A2C9C8B96E5AF70BD480B472409A9A327257F1EBB73F5B073354B248668563",
        ));
        let (resp, rb, sb) = Responder::respond_with(
            &b,
            a.verifying_key(),
            &ra,
            scalar("33FE21940342161C55619C4A0C060293D543C80AF19748CE176D83477DE71C80"),
        )
        .unwrap();
        assert_eq!(
            hex::encode_upper(sb),
            "B93374ADE30A74E12DDB40E4C03D0C6FCF61BADBF2C2C5CC39A91201D9228E2E"
        );
        let (ka, sa) = init.finish(&a, b.verifying_key(), &rb, &sb).unwrap();
        assert_eq!(hex::encode_upper(ka.0), "F02F9068AD13E14F2B2602E0DFB2504F");
        assert_eq!(
            hex::encode_upper(sa),
            "DAEFCA6C32F53C48444D4EF35F98471E5D1CD1E3B5B8E3322DEDE310306689F6"
        );
        assert_eq!(resp.confirm(&sa).unwrap(), ka);
    }

    #[test]
    fn wrong_peer_key_fails_confirmation_both_ways() {
        let mut rng = crate::system_rng();
        let a = SigningKey::generate(crate::DEFAULT_ID, &mut rng).unwrap();
        let b = SigningKey::generate(crate::DEFAULT_ID, &mut rng).unwrap();
        let mallory = SigningKey::generate(crate::DEFAULT_ID, &mut rng).unwrap();
        let (init, ra) = Initiator::start(&mut rng);
        // B believes it talks to mallory: its S_B cannot match what A computes.
        let (resp, rb, sb) =
            Responder::respond(&b, mallory.verifying_key(), &ra, &mut rng).unwrap();
        assert_eq!(
            init.finish(&a, b.verifying_key(), &rb, &sb).unwrap_err(),
            Error::BadConfirmation
        );
        assert_eq!(resp.confirm(&[0; 32]).unwrap_err(), Error::BadConfirmation);
    }

    #[test]
    fn invalid_points_are_rejected() {
        let mut rng = crate::system_rng();
        let a = SigningKey::generate(crate::DEFAULT_ID, &mut rng).unwrap();
        let b = SigningKey::generate(crate::DEFAULT_ID, &mut rng).unwrap();
        let mut off_curve = [4u8; 65];
        off_curve[64] = 5;
        assert_eq!(
            Responder::respond(&b, a.verifying_key(), &off_curve, &mut rng).unwrap_err(),
            Error::InvalidPoint
        );
        let compressed_tag = [2u8; 65];
        assert_eq!(
            Responder::respond(&b, a.verifying_key(), &compressed_tag, &mut rng).unwrap_err(),
            Error::InvalidPoint
        );
    }
}
