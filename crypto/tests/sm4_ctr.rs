//! `crypto::sm4ctr` against the reference SM4-CTR (RustCrypto `ctr::Ctr128BE<sm4::Sm4>`, whose
//! output the GB/T 32907 and OpenSSL vectors in `channel.rs` also fix): every implementation
//! this CPU runs (GFNI, AES-NI with and without AVX, portable), random keys, IVs (including
//! counters about to carry across 64 and 128 bits) and lengths (across the 4-block and 8-block
//! batches, and not multiples of 16).

use crypto::sm4ctr::{Backend, Sm4Ctr};
use ctr::cipher::{KeyIvInit, StreamCipher};
use proptest::prelude::*;

fn reference(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let mut c = ctr::Ctr128BE::<sm4::Sm4>::new_from_slices(key, iv).unwrap();
    c.apply_keystream(data);
}

/// The benchmarks and the channel measure and run the accelerated path wherever the CPU has it:
/// fails if detection finds GFNI or AES-NI (and SSSE3) but `Sm4Ctr::new` does not take that path.
#[test]
fn the_accelerated_path_is_taken_where_the_cpu_has_it() {
    let c = Sm4Ctr::new(&[1; 16]);
    #[cfg(target_arch = "x86_64")]
    let expected = {
        let ssse3 = std::is_x86_feature_detected!("ssse3");
        let avx = std::is_x86_feature_detected!("avx");
        let gfni = ssse3 && avx && std::is_x86_feature_detected!("gfni");
        let aesni = ssse3 && std::is_x86_feature_detected!("aes");
        assert_eq!(Backend::Gfni.available(), gfni);
        assert_eq!(Backend::AesNiAvx.available(), aesni && avx);
        assert_eq!(Backend::AesNi.available(), aesni);
        if gfni {
            Backend::Gfni
        } else if aesni && avx {
            Backend::AesNiAvx
        } else if aesni {
            Backend::AesNi
        } else {
            Backend::Portable
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let expected = Backend::Portable;
    assert_eq!(Backend::detect(), expected);
    assert_eq!(c.backend(), expected);
    assert_eq!(Sm4Ctr::portable(&[1; 16]).backend(), Backend::Portable);
    for b in Backend::ALL {
        assert_eq!(
            Sm4Ctr::with_backend(&[1; 16], b).map(|c| c.backend()),
            b.available().then_some(b)
        );
    }
}

proptest! {
    #[test]
    fn equals_the_reference(
        key in any::<[u8; 16]>(),
        iv in any::<[u8; 16]>(),
        carry in 0u8..3,
        data in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut iv = iv;
        match carry {
            // the low 64 bits about to wrap, then all 128
            1 => iv[8..].copy_from_slice(&[0xff; 8]),
            2 => iv = [0xff; 16],
            _ => {}
        }
        iv[15] = iv[15].max(0xf9 * u8::from(carry > 0));
        let mut theirs = data.clone();
        reference(&key, &iv, &mut theirs);
        // every implementation this CPU runs (the portable one everywhere)
        for ours in Backend::ALL.into_iter().filter_map(|b| Sm4Ctr::with_backend(&key, b)) {
            let mut out = data.clone();
            ours.apply_keystream(&iv, &mut out);
            prop_assert_eq!(&out, &theirs, "{:?}", ours.backend());
        }
    }
}
