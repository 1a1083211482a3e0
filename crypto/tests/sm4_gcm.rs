//! `crypto::gcm::Sm4Gcm` against RustCrypto's generic GCM (`aes_gcm::AesGcm<sm4::Sm4, U12>`,
//! whose SM4 is the `sm4` crate's and whose GHASH the same construction reaches by another
//! path): every SM4 backend this CPU runs, random keys, nonces, associated data and lengths
//! (across the 240 bytes the mask's first run of the rounds covers, and not multiples of 16).

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use crypto::gcm::Sm4Gcm;
use crypto::sm4ctr::{Backend, Sm4Ctr};
use proptest::prelude::*;

type Reference = aes_gcm::AesGcm<sm4::Sm4, U12>;

proptest! {
    #[test]
    fn equals_the_reference(
        key in any::<[u8; 16]>(),
        nonce in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..80),
        data in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let reference = Reference::new(&key.into());
        let mut expected = data.clone();
        let tag = reference
            .encrypt_inout_detached(&nonce.into(), &aad, expected.as_mut_slice().into())
            .unwrap();
        for backend in Backend::ALL.into_iter().filter(|b| b.available()) {
            let gcm = Sm4Gcm::from_cipher(Sm4Ctr::with_backend(&key, backend).unwrap());
            let mut sealed = data.clone();
            let ours = gcm.seal(&nonce, &aad, &mut sealed);
            prop_assert_eq!(&sealed, &expected, "{:?}", backend);
            prop_assert_eq!(&ours[..], &tag[..], "{:?}", backend);
            gcm.open(&nonce, &aad, &mut sealed, &tag).unwrap();
            prop_assert_eq!(&sealed, &data, "{:?}", backend);
        }
    }
}
