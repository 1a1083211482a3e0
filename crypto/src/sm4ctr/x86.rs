//! SM4-CTR on x86-64 without secret-indexed tables: the S-box by GFNI (`GF2P8AFFINEQB` and
//! `GF2P8AFFINEINVQB`) where the CPU has it (with AVX), else by AES-NI (`AESENCLAST`, with or
//! without AVX), SSSE3 for the rest.
//!
//! SM4's S-box is affine-equivalent to inversion in GF(2^8): `S(x) = A·inv(A·x + c) + c` with
//! `inv` taken modulo `x^8+x^7+x^6+x^5+x^4+x^2+1` (0x1f5), `A` the circulant bit matrix whose
//! rows are the rotations of 0xa7 and `c = 0xd3`. AES's S-box is `Saes(y) = B·inv'(y) + 0x63`
//! with `inv'` modulo 0x11b. A field isomorphism `M` (the powers of 0x23, a root of 0x1f5 in
//! AES's field) maps one inversion onto the other: `inv(z) = M⁻¹·inv'(M·z)`, so
//!
//! ```text
//! S(x) = A·M⁻¹·inv'(M·A·x + M·c) + c                                  (GFNI: two instructions)
//!      = Q·Saes(P·x + p) + q,   P = M·A, p = M·c, Q = A·M⁻¹·B⁻¹, q = Q·0x63 + c   (AES-NI)
//! ```
//!
//! GFNI's `GF2P8AFFINEQB` is the affine map `M·A·x + M·c`, `GF2P8AFFINEINVQB` inversion modulo
//! 0x11b followed by `A·M⁻¹·y + c`. With AES-NI, `Saes` is what `AESENCLAST` with a zero round
//! key computes (after ShiftRows, undone below together with the rotations of L), and the
//! affine maps before and after are two 16-entry nibble tables each, looked up with `PSHUFB` (a
//! register shuffle: no memory access depends on the data). The constants were derived with the
//! equations above and are checked against [`super::SBOX`] for all 256 inputs
//! (`sbox_equals_the_table` below). The AES-NI technique is that of the Linux kernel's
//! `sm4-aesni-avx` (which uses another isomorphism, hence other constants).
//!
//! Four counter blocks sit transposed in four registers (register `k` holds word `k` of each
//! block); up to sixteen blocks (four such groups) go through the rounds together, so that the
//! groups' instructions overlap (one group alone waits on each round's latency).

use core::arch::x86_64::{
    __m128i, _mm_aesenclast_si128, _mm_and_si128, _mm_cvtsi32_si128, _mm_cvtsi128_si32,
    _mm_gf2p8affine_epi64_epi8, _mm_gf2p8affineinv_epi64_epi8, _mm_set_epi32, _mm_set_epi64x,
    _mm_set1_epi8, _mm_set1_epi32, _mm_setzero_si128, _mm_shuffle_epi8, _mm_slli_epi32,
    _mm_srli_epi32, _mm_storeu_si128, _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi32,
    _mm_unpacklo_epi64, _mm_xor_si128,
};

use zeroize::Zeroize;

cpufeatures::new!(aes_ssse3, "aes", "ssse3");
cpufeatures::new!(aes_avx, "aes", "avx", "ssse3");
cpufeatures::new!(gfni_avx, "gfni", "avx", "ssse3");

/// Whether this CPU has AES-NI and SSSE3 (CPUID, checked once and cached).
pub(super) fn has_aesni() -> bool {
    aes_ssse3::get()
}

/// Whether this CPU has AES-NI, AVX (enabled by the OS) and SSSE3.
pub(super) fn has_aesni_avx() -> bool {
    aes_avx::get()
}

/// Whether this CPU has GFNI, AVX (enabled by the OS) and SSSE3.
pub(super) fn has_gfni() -> bool {
    gfni_avx::get()
}

/// GFNI: `M·A` as `GF2P8AFFINEQB`'s matrix (byte `7 - i` is row `i`), and `M·c`.
const GFNI_PRE: i64 = 0x4c28_7db9_1a22_505d;
const GFNI_PRE_C: i32 = 0x3e;
/// GFNI: `A·M⁻¹`, applied by `GF2P8AFFINEINVQB` after the inversion, and `c`.
const GFNI_POST: i64 = 0xf3ab_34a9_74a6_b589_u64 as i64;
const GFNI_POST_C: i32 = 0xd3;

/// `P·x + p` for the nibble `x` (low) and `P·(x << 4)` (high).
const PRE_LO: [u8; 16] = [
    0x3e, 0xb2, 0x0e, 0x82, 0xbb, 0x37, 0x8b, 0x07, 0xa1, 0x2d, 0x91, 0x1d, 0x24, 0xa8, 0x14, 0x98,
];
const PRE_HI: [u8; 16] = [
    0x00, 0xdc, 0x2e, 0xf2, 0xc5, 0x19, 0xeb, 0x37, 0x08, 0xd4, 0x26, 0xfa, 0xcd, 0x11, 0xe3, 0x3f,
];
/// `Q·y + q` for the nibble `y` (low) and `Q·(y << 4)` (high).
const POST_LO: [u8; 16] = [
    0x6c, 0xd4, 0xa6, 0x1e, 0x52, 0xea, 0x98, 0x20, 0x0b, 0xb3, 0xc1, 0x79, 0x35, 0x8d, 0xff, 0x47,
];
const POST_HI: [u8; 16] = [
    0x00, 0xe0, 0x50, 0xb0, 0x9d, 0x7d, 0xcd, 0x2d, 0xc0, 0x20, 0x90, 0x70, 0x5d, 0xbd, 0x0d, 0xed,
];

/// AES's InvShiftRows as a byte shuffle: `AESENCLAST` applies ShiftRows, SM4 wants the bytes
/// where they were.
const INV_SHIFT_ROWS: [u8; 16] = [0, 13, 10, 7, 4, 1, 14, 11, 8, 5, 2, 15, 12, 9, 6, 3];

/// InvShiftRows (if `shifted`) followed by a left rotation of each 32-bit lane by `8 * r` bits.
const fn inv_shift_rows_rotl(r: usize, shifted: bool) -> [u8; 16] {
    let mut m = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        // byte `j` of a lane rotated left by 8r comes from byte `j - r` (little-endian lanes)
        let lane = i & !3;
        let from = lane + ((i + 4 - r) & 3);
        m[i] = if shifted {
            INV_SHIFT_ROWS[from]
        } else {
            from as u8
        };
        i += 1;
    }
    m
}

/// Each 32-bit lane's bytes reversed (big-endian words to lanes and back).
const BSWAP32: [u8; 16] = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];

#[inline]
#[target_feature(enable = "sse2")]
fn vector(b: [u8; 16]) -> __m128i {
    let lo = i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let hi = i64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    _mm_set_epi64x(hi, lo)
}

/// The constants of the round function, in registers.
#[derive(Clone, Copy)]
struct Consts {
    pre_lo: __m128i,
    pre_hi: __m128i,
    post_lo: __m128i,
    post_hi: __m128i,
    nibble: __m128i,
    gfni_pre: __m128i,
    gfni_post: __m128i,
    rot0: __m128i,
    rot8: __m128i,
    rot16: __m128i,
    rot24: __m128i,
}

impl Consts {
    #[inline]
    #[target_feature(enable = "sse2")]
    fn new(shifted: bool) -> Self {
        Self {
            pre_lo: vector(PRE_LO),
            pre_hi: vector(PRE_HI),
            post_lo: vector(POST_LO),
            post_hi: vector(POST_HI),
            nibble: _mm_set1_epi8(0x0f),
            gfni_pre: _mm_set_epi64x(GFNI_PRE, GFNI_PRE),
            gfni_post: _mm_set_epi64x(GFNI_POST, GFNI_POST),
            rot0: vector(inv_shift_rows_rotl(0, shifted)),
            rot8: vector(inv_shift_rows_rotl(1, shifted)),
            rot16: vector(inv_shift_rows_rotl(2, shifted)),
            rot24: vector(inv_shift_rows_rotl(3, shifted)),
        }
    }
}

/// A bytewise GF(2)-affine map given by its two nibble tables.
#[inline]
#[target_feature(enable = "ssse3")]
fn affine(x: __m128i, lo: __m128i, hi: __m128i, nibble: __m128i) -> __m128i {
    let l = _mm_and_si128(x, nibble);
    let h = _mm_and_si128(_mm_srli_epi32(x, 4), nibble);
    _mm_xor_si128(_mm_shuffle_epi8(lo, l), _mm_shuffle_epi8(hi, h))
}

/// The SM4 S-box on each of the 16 bytes by AES-NI, left in AES's ShiftRows order.
#[inline]
#[target_feature(enable = "aes,ssse3")]
fn sbox_aesni(x: __m128i, c: &Consts) -> __m128i {
    let y = affine(x, c.pre_lo, c.pre_hi, c.nibble);
    let y = _mm_aesenclast_si128(y, _mm_setzero_si128());
    affine(y, c.post_lo, c.post_hi, c.nibble)
}

/// The SM4 S-box on each of the 16 bytes by GFNI, bytes in place.
#[inline]
#[target_feature(enable = "gfni,ssse3")]
fn sbox_gfni(x: __m128i, c: &Consts) -> __m128i {
    let y = _mm_gf2p8affine_epi64_epi8::<GFNI_PRE_C>(x, c.gfni_pre);
    _mm_gf2p8affineinv_epi64_epi8::<GFNI_POST_C>(y, c.gfni_post)
}

/// Transposes four registers of four 32-bit lanes.
#[inline]
#[target_feature(enable = "sse2")]
fn transpose(x: [__m128i; 4]) -> [__m128i; 4] {
    let t0 = _mm_unpacklo_epi32(x[0], x[1]);
    let t1 = _mm_unpacklo_epi32(x[2], x[3]);
    let t2 = _mm_unpackhi_epi32(x[0], x[1]);
    let t3 = _mm_unpackhi_epi32(x[2], x[3]);
    [
        _mm_unpacklo_epi64(t0, t1),
        _mm_unpackhi_epi64(t0, t1),
        _mm_unpacklo_epi64(t2, t3),
        _mm_unpackhi_epi64(t2, t3),
    ]
}

#[inline]
#[target_feature(enable = "sse2")]
fn xor4(a: __m128i, b: __m128i, c: __m128i, d: __m128i) -> __m128i {
    _mm_xor_si128(_mm_xor_si128(a, b), _mm_xor_si128(c, d))
}

/// One implementation of the rounds and the CTR loop per S-box (`$sbox`, compiled with
/// `$features`; `$shifted`: its output is in AES's ShiftRows order).
macro_rules! backend {
    ($name:ident, $features:tt, $sbox:ident, $shifted:expr) => {
        pub(super) mod $name {
            use super::*;

            /// The round function's T (S-box, then L) on four words, one per 32-bit lane.
            #[inline]
            #[target_feature(enable = $features)]
            fn t(x: __m128i, c: &Consts) -> __m128i {
                let s = $sbox(x, c);
                // L(b) = b ^ (b <<< 2) ^ (b <<< 10) ^ (b <<< 18) ^ (b <<< 24)
                //      = b ^ (b <<< 24) ^ ((b ^ (b <<< 8) ^ (b <<< 16)) <<< 2)
                let b = _mm_shuffle_epi8(s, c.rot0);
                let a = _mm_xor_si128(
                    _mm_xor_si128(b, _mm_shuffle_epi8(s, c.rot8)),
                    _mm_shuffle_epi8(s, c.rot16),
                );
                let a = _mm_xor_si128(_mm_slli_epi32(a, 2), _mm_srli_epi32(a, 30));
                _mm_xor_si128(_mm_xor_si128(b, _mm_shuffle_epi8(s, c.rot24)), a)
            }

            /// The keystream of the `4 * G` counter blocks from `counter` on, into `out`.
            #[inline]
            #[target_feature(enable = $features)]
            fn keystream<const G: usize>(rk: &[u32; 32], counter: u128, out: &mut [[u8; 64]; G]) {
                let c = Consts::new($shifted);
                let zero = _mm_setzero_si128();
                let mut x = [[zero; 4]; G];
                for (g, x) in x.iter_mut().enumerate() {
                    let base = counter.wrapping_add(4 * g as u128);
                    let ctr = [0u128, 1, 2, 3].map(|j| base.wrapping_add(j));
                    for (k, x) in x.iter_mut().enumerate() {
                        // word k (big-endian) of each of the four counter blocks, one per lane
                        let w = |j: usize| (ctr[j] >> (96 - 32 * k)) as u32 as i32;
                        *x = _mm_set_epi32(w(3), w(2), w(1), w(0));
                    }
                }
                for r in rk.chunks_exact(4) {
                    let [k0, k1, k2, k3] =
                        [r[0], r[1], r[2], r[3]].map(|k| _mm_set1_epi32(k as i32));
                    for x in x.iter_mut() {
                        x[0] = _mm_xor_si128(x[0], t(xor4(x[1], x[2], x[3], k0), &c));
                    }
                    for x in x.iter_mut() {
                        x[1] = _mm_xor_si128(x[1], t(xor4(x[2], x[3], x[0], k1), &c));
                    }
                    for x in x.iter_mut() {
                        x[2] = _mm_xor_si128(x[2], t(xor4(x[3], x[0], x[1], k2), &c));
                    }
                    for x in x.iter_mut() {
                        x[3] = _mm_xor_si128(x[3], t(xor4(x[0], x[1], x[2], k3), &c));
                    }
                }
                let bswap = vector(BSWAP32);
                for (x, out) in x.iter().zip(out.iter_mut()) {
                    // the output block is X35 X34 X33 X32: words in reverse order
                    let blocks = transpose([x[3], x[2], x[1], x[0]]);
                    for (b, out) in blocks.iter().zip(out.chunks_exact_mut(16)) {
                        let b = _mm_shuffle_epi8(*b, bswap);
                        // SAFETY: `out` is a 16-byte chunk of a `[u8; 64]`, valid for a 16-byte write;
                        // `_mm_storeu_si128` has no alignment requirement.
                        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), b) };
                    }
                }
            }

            /// The S-box on each byte of a word (the key schedule's, without tables). Only
            /// callable where the CPU has the target features.
            #[target_feature(enable = $features)]
            pub(in crate::sm4ctr) fn sbox_word(a: u32) -> u32 {
                let c = Consts::new($shifted);
                let s = $sbox(_mm_cvtsi32_si128(a as i32), &c);
                _mm_cvtsi128_si32(_mm_shuffle_epi8(s, c.rot0)) as u32
            }

            /// XORs the keystream of counter block `iv` (128-bit big-endian, incremented per block) into
            /// `data`. Only callable where the CPU has the target features.
            #[target_feature(enable = $features)]
            pub(in crate::sm4ctr) fn apply_keystream(
                rk: &[u32; 32],
                iv: &[u8; 16],
                data: &mut [u8],
            ) {
                let mut counter = u128::from_be_bytes(*iv);
                let mut ks = [[0u8; 64]; 4];
                // how much of `ks` held keystream: only that is zeroized (byte by byte, a
                // tenth of a status frame's SM4 when it was all 256 bytes)
                let mut written = 0;
                let mut chunks = data.chunks_exact_mut(256);
                for chunk in &mut chunks {
                    keystream::<4>(rk, counter, &mut ks);
                    written = 256;
                    counter = counter.wrapping_add(16);
                    for (d, k) in chunk.iter_mut().zip(ks.as_flattened()) {
                        *d ^= k;
                    }
                }
                // The tail: as many groups of four blocks as it needs.
                let rest = chunks.into_remainder();
                let groups = rest.len().div_ceil(64);
                written = written.max(groups.min(4) * 64);
                match groups {
                    0 => {}
                    1 => keystream::<1>(rk, counter, ks.first_chunk_mut().expect("1 group")),
                    2 => keystream::<2>(rk, counter, ks.first_chunk_mut().expect("2 groups")),
                    3 => keystream::<3>(rk, counter, ks.first_chunk_mut().expect("3 groups")),
                    _ => keystream::<4>(rk, counter, &mut ks),
                }
                for (d, k) in rest.iter_mut().zip(ks.as_flattened()) {
                    *d ^= k;
                }
                ks.as_flattened_mut()[..written].zeroize();
            }

            /// Returns the keystream of counter block `iv` and XORs the keystream from `iv + 1`
            /// on into `data` (SM4-GCM: the tag's mask and the data's keystream from one run
            /// of the rounds). Only callable where the CPU has the target features.
            #[target_feature(enable = $features)]
            pub(in crate::sm4ctr) fn apply_keystream_masked(
                rk: &[u32; 32],
                iv: &[u8; 16],
                data: &mut [u8],
            ) -> [u8; 16] {
                let counter = u128::from_be_bytes(*iv);
                let mut ks = [[0u8; 64]; 4];
                // the mask block and up to fifteen data blocks: one to four groups
                let (head, tail) = data.split_at_mut(data.len().min(240));
                let groups = (16 + head.len()).div_ceil(64);
                match groups {
                    1 => keystream::<1>(rk, counter, ks.first_chunk_mut().expect("1 group")),
                    2 => keystream::<2>(rk, counter, ks.first_chunk_mut().expect("2 groups")),
                    3 => keystream::<3>(rk, counter, ks.first_chunk_mut().expect("3 groups")),
                    _ => keystream::<4>(rk, counter, &mut ks),
                }
                let (mask, rest) = ks.as_flattened().split_at(16);
                let mask: [u8; 16] = mask.try_into().expect("16 bytes");
                for (d, k) in head.iter_mut().zip(rest) {
                    *d ^= k;
                }
                ks.as_flattened_mut()[..groups * 64].zeroize();
                if !tail.is_empty() {
                    apply_keystream(rk, &counter.wrapping_add(16).to_be_bytes(), tail);
                }
                mask
            }
        }
    };
}

// The same code compiled three ways: with AVX the compiler uses the three-operand (VEX) forms,
// which save the register copies the two-operand SSE forms need (a quarter of the
// instructions).
backend!(aesni, "aes,ssse3", sbox_aesni, true);
backend!(aesni_avx, "aes,avx,ssse3", sbox_aesni, true);
backend!(gfni, "gfni,avx,ssse3", sbox_gfni, false);

#[cfg(test)]
mod tests {
    use super::*;

    fn check_sbox(name: &str, sbox16: impl Fn([u8; 16]) -> [u8; 16]) {
        for hi in 0..16u8 {
            let x: [u8; 16] = core::array::from_fn(|i| hi * 16 + i as u8);
            for (x, s) in x.iter().zip(sbox16(x)) {
                assert_eq!(s, super::super::SBOX[*x as usize], "{name}: S({x:#04x})");
            }
        }
    }

    /// Stores a register's 16 bytes.
    fn bytes(v: __m128i) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: `out` is 16 bytes; `_mm_storeu_si128` has no alignment requirement.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) };
        out
    }

    #[test]
    fn sbox_equals_the_table() {
        /// The S-box through AES-NI, bytes back in their places.
        #[target_feature(enable = "aes,ssse3")]
        fn by_aesni(x: [u8; 16]) -> [u8; 16] {
            let c = Consts::new(true);
            bytes(_mm_shuffle_epi8(sbox_aesni(vector(x), &c), c.rot0))
        }
        #[target_feature(enable = "gfni,ssse3")]
        fn by_gfni(x: [u8; 16]) -> [u8; 16] {
            bytes(sbox_gfni(vector(x), &Consts::new(false)))
        }
        if has_aesni() {
            // SAFETY: `has_aesni()` said the CPU has AES-NI and SSSE3.
            check_sbox("AES-NI", |x| unsafe { by_aesni(x) });
        }
        if has_gfni() {
            // SAFETY: `has_gfni()` said the CPU has GFNI, AVX and SSSE3.
            check_sbox("GFNI", |x| unsafe { by_gfni(x) });
        }
    }

    #[test]
    fn shuffles_rotate_after_undoing_shift_rows() {
        // rot8 applied to ShiftRows(v) is v with each lane rotated left by 8 bits
        let v: [u8; 16] = core::array::from_fn(|i| i as u8);
        let shifted: [u8; 16] = core::array::from_fn(|i| {
            let (col, row) = (i / 4, i % 4);
            v[4 * ((col + row) % 4) + row]
        });
        for r in 0..4 {
            let m = inv_shift_rows_rotl(r, true);
            let got: [u8; 16] = core::array::from_fn(|i| shifted[m[i] as usize]);
            for lane in 0..4 {
                let w = |b: &[u8; 16]| {
                    u32::from_le_bytes(b[4 * lane..4 * lane + 4].try_into().unwrap())
                };
                assert_eq!(
                    w(&got),
                    w(&v).rotate_left(8 * r as u32),
                    "r {r} lane {lane}"
                );
                let plain = inv_shift_rows_rotl(r, false);
                let got: [u8; 16] = core::array::from_fn(|i| v[plain[i] as usize]);
                assert_eq!(
                    w(&got),
                    w(&v).rotate_left(8 * r as u32),
                    "r {r} lane {lane}"
                );
            }
        }
    }
}
