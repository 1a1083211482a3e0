//! SM3, the SM3 key-derivation function and the user hash `Z` (GB/T 32918.2 / .3).

use sm3::{Digest, Sm3};

use crate::Error;

/// Length of an SM3 digest.
pub const DIGEST_LEN: usize = 32;

/// SM3 of the concatenation of `parts`.
pub fn sm3(parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut h = Sm3::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The SM3 key-derivation function: fills `out` with
/// `SM3(Z ‖ 1) ‖ SM3(Z ‖ 2) ‖ ...` truncated, where `Z` is the concatenation of `z` and the
/// counter is 32-bit big-endian.
pub fn kdf(z: &[&[u8]], out: &mut [u8]) {
    for (i, chunk) in out.chunks_mut(DIGEST_LEN).enumerate() {
        let mut h = Sm3::new();
        for p in z {
            h.update(p);
        }
        h.update((i as u32 + 1).to_be_bytes());
        let block: [u8; DIGEST_LEN] = h.finalize().into();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

// Curve parameters of sm2p256v1 (GB/T 32918.5), big-endian.
const A: [u8; 32] = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC");
const B: [u8; 32] = hex32("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");
const GX: [u8; 32] = hex32("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7");
const GY: [u8; 32] = hex32("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0");

const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("uppercase hex only"),
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// The user hash `Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ x ‖ y)` for identifier `id` and public
/// key coordinates `x`, `y` (big-endian).
pub fn z(id: &[u8], x: &[u8; 32], y: &[u8; 32]) -> Result<[u8; DIGEST_LEN], Error> {
    let entl = u16::try_from(id.len() * 8).map_err(|_| Error::IdTooLong)?;
    Ok(sm3(&[&entl.to_be_bytes(), id, &A, &B, &GX, &GY, x, y]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb_t_32905_sm3_examples() {
        assert_eq!(
            hex::encode_upper(sm3(&[b"abc"])),
            "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0"
        );
        assert_eq!(
            hex::encode_upper(sm3(&[&b"abcd".repeat(16)])),
            "DEBE9FF92275B8A138604889C18E5A4D6FDB70E5387E5765293DCBA39C0C5732"
        );
    }

    #[test]
    fn kdf_is_prefix_stable_and_counts_from_one() {
        let mut long = [0u8; 80];
        kdf(&[b"z"], &mut long);
        let mut short = [0u8; 16];
        kdf(&[b"z"], &mut short);
        assert_eq!(&long[..16], &short);
        assert_eq!(&long[..32], &sm3(&[b"z", &1u32.to_be_bytes()]));
        assert_eq!(&long[32..64], &sm3(&[b"z", &2u32.to_be_bytes()]));
    }
}
