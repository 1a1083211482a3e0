//! `crypto::sm4ctr` against the reference SM4-CTR (RustCrypto `ctr::Ctr128BE<sm4::Sm4>`, whose
//! output the GB/T 32907 and OpenSSL vectors in `channel.rs` also fix): random keys, IVs
//! (including counters about to carry across 64 and 128 bits) and lengths.

use crypto::sm4ctr::Sm4Ctr;
use ctr::cipher::{KeyIvInit, StreamCipher};
use proptest::prelude::*;

fn reference(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let mut c = ctr::Ctr128BE::<sm4::Sm4>::new_from_slices(key, iv).unwrap();
    c.apply_keystream(data);
}

proptest! {
    #[test]
    fn equals_the_reference(
        key in any::<[u8; 16]>(),
        iv in any::<[u8; 16]>(),
        carry in 0u8..3,
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut iv = iv;
        match carry {
            // the low 64 bits about to wrap, then all 128
            1 => iv[8..].copy_from_slice(&[0xff; 8]),
            2 => iv = [0xff; 16],
            _ => {}
        }
        iv[15] = iv[15].max(0xfd * u8::from(carry > 0));
        let mut ours = data.clone();
        Sm4Ctr::new(&key).apply_keystream(&iv, &mut ours);
        let mut theirs = data;
        reference(&key, &iv, &mut theirs);
        prop_assert_eq!(ours, theirs);
    }
}
