//! The frame's two checksums: the header's CRC-16/IBM-3740 over its first 30 bytes, and the
//! CRC-32C (Castagnoli) trailer over the body and the authentication tag (docs/protocol.md 2).

use crc::{CRC_16_XMODEM, CRC_32_ISCSI, Crc, Table};

use crate::frame::HEADER_LEN;

// Slice-by-16 tables: 8 KiB (CRC-16) and 16 KiB (CRC-32) of flash, several times faster than
// byte-at-a-time on every frame.
//
// The header's CRC-16/IBM-3740 (initial value 0xFFFF) over its 30 bytes is computed as
// CRC-16/XMODEM (the same polynomial and bit order, initial value 0) over 32 bytes: the two
// bytes `HEADER_CRC_PREFIX`, which take XMODEM's register from 0 to 0xFFFF, then the 30. Two
// whole 16-byte blocks of the slice-by-16 tables instead of one block and 14 bytes one at a
// time, each waiting for the last: 15.5 ns against 27 ns here (docs/performance.md); the same
// checksum (a test holds it to `CRC_16_IBM_3740` on random headers).
const HEADER_CRC: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_XMODEM);
const HEADER_CRC_PREFIX: [u8; 2] = [0x84, 0xcf];

/// The header checksum, CRC-16/IBM-3740, of the first 30 bytes of `header` (the last two are
/// where it goes).
#[inline]
pub(crate) fn header_crc(header: &[u8; HEADER_LEN]) -> u16 {
    let mut block = [0u8; HEADER_LEN];
    block[..2].copy_from_slice(&HEADER_CRC_PREFIX);
    block[2..].copy_from_slice(&header[..HEADER_LEN - 2]);
    HEADER_CRC.checksum(&block)
}

// With std the frame CRC is the `crc32c` crate's (the CPU's CRC-32C instruction where it has
// one, detected at run time): the same checksum, measured about 6x faster on a status report
// (docs/performance.md). The table is the no_std path and the reference in tests.
const FRAME_CRC: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// The frame checksum, CRC-32C (Castagnoli, as iSCSI), of `data`.
#[inline]
pub fn frame_crc(data: &[u8]) -> u32 {
    #[cfg(feature = "std")]
    {
        crc32c::crc32c(data)
    }
    #[cfg(not(feature = "std"))]
    {
        FRAME_CRC.checksum(data)
    }
}

/// The frame checksum computed with the `crc` crate's slice-by-16 tables (the no_std path),
/// for comparisons.
#[doc(hidden)]
pub fn frame_crc_table(data: &[u8]) -> u32 {
    FRAME_CRC.checksum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_crc_is_crc_16_ibm_3740_of_the_first_30_bytes() {
        const IBM_3740: Crc<u16, Table<1>> = Crc::<u16, Table<1>>::new(&crc::CRC_16_IBM_3740);
        // Its check value, then random headers (a small xorshift generator, fixed seed).
        let mut check = [0u8; HEADER_LEN];
        check[..9].copy_from_slice(b"123456789");
        assert_eq!(IBM_3740.checksum(b"123456789"), 0x29B1);
        assert_eq!(
            IBM_3740.checksum(&check[..HEADER_LEN - 2]),
            header_crc(&check)
        );
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..10_000 {
            let mut h = [0u8; HEADER_LEN];
            for b in h.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            assert_eq!(header_crc(&h), IBM_3740.checksum(&h[..HEADER_LEN - 2]));
        }
    }

    #[test]
    fn hardware_and_table_crc_agree() {
        // The check value of CRC-32C, then every length up to a few blocks of the fast paths.
        assert_eq!(frame_crc(b"123456789"), 0xE306_9283);
        let data: alloc::vec::Vec<u8> = (0..600u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in 0..data.len() {
            for start in 0..3.min(len + 1) {
                let d = &data[start..len];
                assert_eq!(frame_crc(d), FRAME_CRC.checksum(d), "{start}..{len}");
            }
        }
    }
}
