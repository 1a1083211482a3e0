//! SM4-CTR (GB/T 32907 SM4 in counter mode with a 128-bit big-endian counter, as OpenSSL's
//! `sm4-ctr` and RustCrypto's `ctr::Ctr128BE<sm4::Sm4>`), the implementation chosen at run
//! time ([`Backend`]):
//!
//! - [`Backend::Gfni`], [`Backend::AesNiAvx`] and [`Backend::AesNi`] (x86-64 with GFNI or
//!   AES-NI, SSSE3 and for the first two AVX, detected by CPUID through `cpufeatures`, which
//!   works without `std`): the S-box evaluated by `GF2P8AFFINEQB` + `GF2P8AFFINEINVQB`, or by
//!   `AESENCLAST` between two affine maps, up to sixteen blocks at a time in SSE registers
//!   (module `x86`). No table is indexed by secret data, in the key schedule either.
//! - [`Backend::Portable`] (every other CPU, and [`Sm4Ctr::portable`]): each round is four
//!   lookups in tables that hold S-box and L combined (`T0[x] = L(S(x) << 24)`, `T1..T3` its
//!   rotations, 4 KiB in all), and four independent counter blocks go through the rounds
//!   together so their lookups overlap. These tables are indexed by secret data, like the
//!   S-box lookups of the RustCrypto `sm4` crate and OpenSSL's C SM4 (cache timing: the same
//!   exposure as those; see docs/security.md).
//!
//! Each is checked against the GB/T 32907 vectors and OpenSSL's SM4-CTR vector (`channel.rs`)
//! and, by a property test, against each other and `ctr::Ctr128BE<sm4::Sm4>` for random keys,
//! IVs and lengths (crypto/tests/sm4_ctr.rs).

use zeroize::{Zeroize, ZeroizeOnDrop};

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

/// Which implementation an [`Sm4Ctr`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The portable table-based code (secret-indexed tables).
    Portable,
    /// x86-64 AES-NI + SSSE3: the S-box by `AESENCLAST`, no secret-indexed tables.
    AesNi,
    /// The same, compiled for AVX (three-operand instructions: fewer register copies).
    AesNiAvx,
    /// x86-64 GFNI + AVX + SSSE3: the S-box by two affine instructions, no secret-indexed
    /// tables.
    Gfni,
}

impl Backend {
    /// Every implementation, fastest first.
    pub const ALL: [Self; 4] = [Self::Gfni, Self::AesNiAvx, Self::AesNi, Self::Portable];

    /// The fastest implementation this CPU can run.
    pub fn detect() -> Self {
        Self::ALL
            .into_iter()
            .find(|b| b.available())
            .unwrap_or(Self::Portable)
    }

    /// Whether this CPU can run this implementation.
    pub fn available(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::AesNi => x86::has_aesni(),
            #[cfg(target_arch = "x86_64")]
            Self::AesNiAvx => x86::has_aesni_avx(),
            #[cfg(target_arch = "x86_64")]
            Self::Gfni => x86::has_gfni(),
            #[cfg(not(target_arch = "x86_64"))]
            Self::AesNi | Self::AesNiAvx | Self::Gfni => false,
        }
    }
}

const SBOX: [u8; 256] = [
    0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c, 0x05,
    0x2b, 0x67, 0x9a, 0x76, 0x2a, 0xbe, 0x04, 0xc3, 0xaa, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99,
    0x9c, 0x42, 0x50, 0xf4, 0x91, 0xef, 0x98, 0x7a, 0x33, 0x54, 0x0b, 0x43, 0xed, 0xcf, 0xac, 0x62,
    0xe4, 0xb3, 0x1c, 0xa9, 0xc9, 0x08, 0xe8, 0x95, 0x80, 0xdf, 0x94, 0xfa, 0x75, 0x8f, 0x3f, 0xa6,
    0x47, 0x07, 0xa7, 0xfc, 0xf3, 0x73, 0x17, 0xba, 0x83, 0x59, 0x3c, 0x19, 0xe6, 0x85, 0x4f, 0xa8,
    0x68, 0x6b, 0x81, 0xb2, 0x71, 0x64, 0xda, 0x8b, 0xf8, 0xeb, 0x0f, 0x4b, 0x70, 0x56, 0x9d, 0x35,
    0x1e, 0x24, 0x0e, 0x5e, 0x63, 0x58, 0xd1, 0xa2, 0x25, 0x22, 0x7c, 0x3b, 0x01, 0x21, 0x78, 0x87,
    0xd4, 0x00, 0x46, 0x57, 0x9f, 0xd3, 0x27, 0x52, 0x4c, 0x36, 0x02, 0xe7, 0xa0, 0xc4, 0xc8, 0x9e,
    0xea, 0xbf, 0x8a, 0xd2, 0x40, 0xc7, 0x38, 0xb5, 0xa3, 0xf7, 0xf2, 0xce, 0xf9, 0x61, 0x15, 0xa1,
    0xe0, 0xae, 0x5d, 0xa4, 0x9b, 0x34, 0x1a, 0x55, 0xad, 0x93, 0x32, 0x30, 0xf5, 0x8c, 0xb1, 0xe3,
    0x1d, 0xf6, 0xe2, 0x2e, 0x82, 0x66, 0xca, 0x60, 0xc0, 0x29, 0x23, 0xab, 0x0d, 0x53, 0x4e, 0x6f,
    0xd5, 0xdb, 0x37, 0x45, 0xde, 0xfd, 0x8e, 0x2f, 0x03, 0xff, 0x6a, 0x72, 0x6d, 0x6c, 0x5b, 0x51,
    0x8d, 0x1b, 0xaf, 0x92, 0xbb, 0xdd, 0xbc, 0x7f, 0x11, 0xd9, 0x5c, 0x41, 0x1f, 0x10, 0x5a, 0xd8,
    0x0a, 0xc1, 0x31, 0x88, 0xa5, 0xcd, 0x7b, 0xbd, 0x2d, 0x74, 0xd0, 0x12, 0xb8, 0xe5, 0xb4, 0xb0,
    0x89, 0x69, 0x97, 0x4a, 0x0c, 0x96, 0x77, 0x7e, 0x65, 0xb9, 0xf1, 0x09, 0xc5, 0x6e, 0xc6, 0x84,
    0x18, 0xf0, 0x7d, 0xec, 0x3a, 0xdc, 0x4d, 0x20, 0x79, 0xee, 0x5f, 0x3e, 0xd7, 0xcb, 0x39, 0x48,
];

const FK: [u32; 4] = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc];

const CK: [u32; 32] = [
    0x00070e15, 0x1c232a31, 0x383f464d, 0x545b6269, 0x70777e85, 0x8c939aa1, 0xa8afb6bd, 0xc4cbd2d9,
    0xe0e7eef5, 0xfc030a11, 0x181f262d, 0x343b4249, 0x50575e65, 0x6c737a81, 0x888f969d, 0xa4abb2b9,
    0xc0c7ced5, 0xdce3eaf1, 0xf8ff060d, 0x141b2229, 0x30373e45, 0x4c535a61, 0x686f767d, 0x848b9299,
    0xa0a7aeb5, 0xbcc3cad1, 0xd8dfe6ed, 0xf4fb0209, 0x10171e25, 0x2c333a41, 0x484f565d, 0x646b7279,
];

/// The linear map L of the round function.
const fn el(b: u32) -> u32 {
    b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24)
}

/// `T[i][x] = L(S(x) << (24 - 8 i))`: S-box and L of one byte position.
const TABLES: [[u32; 256]; 4] = {
    let mut t = [[0u32; 256]; 4];
    let mut x = 0;
    while x < 256 {
        let v = el((SBOX[x] as u32) << 24);
        t[0][x] = v;
        t[1][x] = v.rotate_right(8);
        t[2][x] = v.rotate_right(16);
        t[3][x] = v.rotate_right(24);
        x += 1;
    }
    t
};

/// The round function's T: S-box on each byte, then L.
#[inline(always)]
fn t(a: u32) -> u32 {
    TABLES[0][(a >> 24) as usize]
        ^ TABLES[1][((a >> 16) & 0xff) as usize]
        ^ TABLES[2][((a >> 8) & 0xff) as usize]
        ^ TABLES[3][(a & 0xff) as usize]
}

/// The S-box on each byte of a word, by table (the portable path).
fn tau(a: u32) -> u32 {
    u32::from_be_bytes(a.to_be_bytes().map(|x| SBOX[x as usize]))
}

/// The key schedule's T': S-box on each byte (`tau`), then L'.
fn t_prime(a: u32, tau: impl Fn(u32) -> u32) -> u32 {
    let b = tau(a);
    b ^ b.rotate_left(13) ^ b.rotate_left(23)
}

/// An expanded SM4 key (encryption round keys). Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Sm4Ctr {
    rk: [u32; 32],
    #[zeroize(skip)]
    backend: Backend,
}

impl core::fmt::Debug for Sm4Ctr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sm4Ctr").finish_non_exhaustive()
    }
}

impl Sm4Ctr {
    /// Expands a 16-byte key, for the fastest implementation this CPU runs
    /// ([`Backend::detect`]).
    pub fn new(key: &[u8; 16]) -> Self {
        Self::expand(key, Backend::detect())
    }

    /// Expands a 16-byte key for the portable implementation whatever the CPU (tests and
    /// benchmarks compare it with the accelerated one).
    pub fn portable(key: &[u8; 16]) -> Self {
        Self::expand(key, Backend::Portable)
    }

    /// Expands a 16-byte key for `backend`, if this CPU can run it.
    pub fn with_backend(key: &[u8; 16], backend: Backend) -> Option<Self> {
        backend.available().then(|| Self::expand(key, backend))
    }

    /// The implementation this key runs.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    #[allow(unsafe_code)] // the x86 S-box, after run-time detection
    fn expand(key: &[u8; 16], backend: Backend) -> Self {
        // The key schedule's S-box by the backend's own means: no secret-indexed table on x86.
        let sbox = |a: u32| match backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `backend` is `AesNi` only where `x86::has_aesni()` said the CPU has
            // AES-NI and SSSE3, the target features of `x86::aesni::sbox_word`.
            Backend::AesNi => unsafe { x86::aesni::sbox_word(a) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `backend` is `Gfni` only where `x86::has_gfni()` said the CPU has GFNI,
            // AVX and SSSE3, the target features of `x86::gfni::sbox_word`.
            Backend::Gfni => unsafe { x86::gfni::sbox_word(a) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `backend` is `AesNiAvx` only where `x86::has_aesni_avx()` said the CPU
            // has AES-NI, AVX and SSSE3, the target features of `x86::aesni_avx::sbox_word`.
            Backend::AesNiAvx => unsafe { x86::aesni_avx::sbox_word(a) },
            _ => tau(a),
        };
        let word = |i: usize| u32::from_be_bytes([key[i], key[i + 1], key[i + 2], key[i + 3]]);
        let mut k = [
            word(0) ^ FK[0],
            word(4) ^ FK[1],
            word(8) ^ FK[2],
            word(12) ^ FK[3],
        ];
        let mut rk = [0u32; 32];
        for (i, rk) in rk.iter_mut().enumerate() {
            let next = k[i % 4]
                ^ t_prime(
                    k[(i + 1) % 4] ^ k[(i + 2) % 4] ^ k[(i + 3) % 4] ^ CK[i],
                    sbox,
                );
            k[i % 4] = next;
            *rk = next;
        }
        k.zeroize();
        Self { rk, backend }
    }

    /// Encrypts `N` blocks side by side (each round of all of them before the next round).
    #[inline(always)]
    fn encrypt_blocks<const N: usize>(&self, blocks: &mut [[u8; 16]; N]) {
        let mut x = [[0u32; 4]; N];
        for (x, b) in x.iter_mut().zip(blocks.iter()) {
            for (j, w) in x.iter_mut().enumerate() {
                *w = u32::from_be_bytes([b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]]);
            }
        }
        for r in self.rk.chunks_exact(4) {
            for x in x.iter_mut() {
                x[0] ^= t(x[1] ^ x[2] ^ x[3] ^ r[0]);
            }
            for x in x.iter_mut() {
                x[1] ^= t(x[2] ^ x[3] ^ x[0] ^ r[1]);
            }
            for x in x.iter_mut() {
                x[2] ^= t(x[3] ^ x[0] ^ x[1] ^ r[2]);
            }
            for x in x.iter_mut() {
                x[3] ^= t(x[0] ^ x[1] ^ x[2] ^ r[3]);
            }
        }
        for (x, b) in x.iter().zip(blocks.iter_mut()) {
            for j in 0..4 {
                b[4 * j..4 * j + 4].copy_from_slice(&x[3 - j].to_be_bytes());
            }
        }
        x.zeroize();
    }

    /// Encrypts one 16-byte block (the GB/T 32907 test vectors), through this key's backend:
    /// the block is the keystream of counter `block`.
    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        let mut out = [0u8; 16];
        self.apply_keystream(block, &mut out);
        *block = out;
        out.zeroize();
    }

    /// XORs the keystream of counter block `iv` (a 128-bit big-endian counter, incremented per
    /// 16-byte block) into `data`: encrypts and decrypts.
    #[allow(unsafe_code)] // the calls into the x86 code, after run-time detection
    pub fn apply_keystream(&self, iv: &[u8; 16], data: &mut [u8]) {
        match self.backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `backend` is `AesNi` only where `x86::has_aesni()` said the CPU has
            // AES-NI and SSSE3, the target features `x86::aesni::apply_keystream` is compiled for.
            Backend::AesNi => unsafe { x86::aesni::apply_keystream(&self.rk, iv, data) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `backend` is `Gfni` only where `x86::has_gfni()` said the CPU has GFNI, AVX
            // and SSSE3, the target features `x86::gfni::apply_keystream` is compiled for.
            Backend::Gfni => unsafe { x86::gfni::apply_keystream(&self.rk, iv, data) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `backend` is `AesNiAvx` only where `x86::has_aesni_avx()` said the CPU
            // has AES-NI, AVX and SSSE3, the target features of
            // `x86::aesni_avx::apply_keystream`.
            Backend::AesNiAvx => unsafe { x86::aesni_avx::apply_keystream(&self.rk, iv, data) },
            _ => self.apply_keystream_portable(iv, data),
        }
    }

    /// Returns the keystream of counter block `iv` and XORs the keystream from `iv + 1` on
    /// into `data`: SM4-GCM's tag mask `E(K, J0)` and its encryption from `inc32(J0)`, in one
    /// run of the rounds where the backend batches blocks (a status report's mask costs no
    /// extra group of blocks).
    #[allow(unsafe_code)] // the calls into the x86 code, after run-time detection
    pub fn apply_keystream_masked(&self, iv: &[u8; 16], data: &mut [u8]) -> [u8; 16] {
        match self.backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `apply_keystream`: `AesNi` only where the CPU has AES-NI and SSSE3.
            Backend::AesNi => unsafe { x86::aesni::apply_keystream_masked(&self.rk, iv, data) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `apply_keystream`: `Gfni` only where the CPU has GFNI, AVX and SSSE3.
            Backend::Gfni => unsafe { x86::gfni::apply_keystream_masked(&self.rk, iv, data) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `apply_keystream`: `AesNiAvx` only where the CPU has AES-NI, AVX and
            // SSSE3.
            Backend::AesNiAvx => unsafe {
                x86::aesni_avx::apply_keystream_masked(&self.rk, iv, data)
            },
            _ => {
                let mut mask = *iv;
                self.encrypt_block(&mut mask);
                let next = u128::from_be_bytes(*iv).wrapping_add(1).to_be_bytes();
                self.apply_keystream_portable(&next, data);
                mask
            }
        }
    }

    fn apply_keystream_portable(&self, iv: &[u8; 16], data: &mut [u8]) {
        const WIDE: usize = 4;
        let mut counter = u128::from_be_bytes(*iv);
        let mut chunks = data.chunks_exact_mut(16 * WIDE);
        let mut ks = [[0u8; 16]; WIDE];
        for chunk in &mut chunks {
            for k in ks.iter_mut() {
                *k = counter.to_be_bytes();
                counter = counter.wrapping_add(1);
            }
            self.encrypt_blocks(&mut ks);
            for (d, k) in chunk.iter_mut().zip(ks.as_flattened()) {
                *d ^= k;
            }
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let blocks = rest.len().div_ceil(16);
            for k in ks.iter_mut().take(blocks) {
                *k = counter.to_be_bytes();
                counter = counter.wrapping_add(1);
            }
            // A short tail goes through the same four-wide path (the unused blocks are waste).
            self.encrypt_blocks(&mut ks);
            for (d, k) in rest.iter_mut().zip(ks.as_flattened()) {
                *d ^= k;
            }
        }
        ks.zeroize();
    }
}
