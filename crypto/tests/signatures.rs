//! SM2 signatures against the GB/T 32918 example and other implementations' signatures
//! (../shared/crypto-vectors.md sections 3 and 7), the cached verifier against the stock one,
//! PEM key files, and a round trip with the `openssl` binary when it is installed.

use std::path::Path;
use std::process::Command;

use crypto::sign::{CachedVerifier, Signature, SigningKey, VerifyingKey};
use crypto::{DEFAULT_ID, Error, keys};
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn sig(r: &str, s: &str) -> Signature {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&h(r));
    out[32..].copy_from_slice(&h(s));
    Signature(out)
}

fn standard_key() -> SigningKey {
    let secret = sm2::SecretKey::from_slice(&h(
        "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8",
    ))
    .unwrap();
    SigningKey::new(DEFAULT_ID, secret).unwrap()
}

#[test]
fn gb_t_32918_example_signature_verifies() {
    let key = standard_key();
    let vk = key.verifying_key();
    assert_eq!(
        hex::encode_upper(&vk.to_sec1()[1..]),
        "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020\
         CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
    );
    assert_eq!(
        hex::encode_upper(vk.z()),
        "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
    );
    let standard = sig(
        "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
        "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA",
    );
    let cached = CachedVerifier::new(vk.clone());
    vk.verify(b"message digest", &standard).unwrap();
    cached.verify(b"message digest", &standard).unwrap();
    assert_eq!(
        vk.verify(b"message digesT", &standard),
        Err(Error::BadSignature)
    );
    assert_eq!(
        cached.verify(b"message digesT", &standard),
        Err(Error::BadSignature)
    );
}

#[test]
fn the_signature_tag_is_r_then_s_each_32_bytes_big_endian() {
    // docs/protocol.md 10.2 prints this tag: GB/T 32918.2's example signature.
    let tag = h(
        "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3\
                 b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa",
    );
    let vk = standard_key().verifying_key().clone();
    let as_sent = Signature(tag.clone().try_into().unwrap());
    vk.verify(b"message digest", &as_sent).unwrap();
    // r and s each little-endian, or s before r: not the signature
    let mut le = tag.clone();
    le[..32].reverse();
    le[32..].reverse();
    let mut swapped = tag[32..].to_vec();
    swapped.extend_from_slice(&tag[..32]);
    for wrong in [le, swapped] {
        let wrong = Signature(wrong.try_into().unwrap());
        assert_eq!(
            vk.verify(b"message digest", &wrong),
            Err(Error::BadSignature)
        );
    }
    // the DER form OpenSSL writes holds the same two big-endian integers
    let der = as_sent.to_der().unwrap();
    assert!(der.windows(32).any(|w| w == &tag[..32]));
    assert!(der.windows(32).any(|w| w == &tag[32..]));
    assert_eq!(Signature::from_der(&der).unwrap(), as_sent);
}

#[test]
fn other_implementations_signatures_verify() {
    let vk = standard_key().verifying_key().clone();
    let cached = CachedVerifier::new(vk.clone());
    for (who, s) in [
        (
            "OpenSSL",
            sig(
                "7966F70A9B9E18BA12363A99E25CC77F49E964F914C0D61B048F2B6F1772FB78",
                "C5AFF96C2FBAD25D433BD19A513C83BC8A1790E539B1E9E27E142B74A7F09EEE",
            ),
        ),
        (
            "Bouncy Castle",
            sig(
                "A6C6127002B1B0C1133B111CA4FED0BA67D902A186824E584DFFF37733127B59",
                "859D2C26C104A7E2526B40D36C6CC9EB4A3B1B384A99F3FF441D81B5A20A85A2",
            ),
        ),
        (
            "sm2 0.14",
            sig(
                "24858EE71D63E687FEEFE41F5AF80A59F0791EB1DABC2BBE71DAF0E57F06C367",
                "3D15550DE52785A435004C937256AC715C0E04176AC57062C6722FA692F7A491",
            ),
        ),
    ] {
        vk.verify(b"message digest", &s)
            .unwrap_or_else(|_| panic!("{who}"));
        cached
            .verify(b"message digest", &s)
            .unwrap_or_else(|_| panic!("{who} cached"));
    }
}

#[test]
fn our_signature_of_the_standard_message_is_pinned() {
    // Our nonce is a keyed SM3 of the message (crypto::nonce, docs/security.md), not RFC 6979's:
    // this vector was recomputed from that description alone by `scripts/sm2-nonce-reference`
    // (Python, OpenSSL's SM3, textbook curve arithmetic). It verifies like any SM2 signature.
    let s = standard_key().sign(b"message digest");
    let pinned = sig(
        "13F8B8EB6C50B2382F039DD690390F94F590C412E9272365A446D421DE7E9705",
        "FE3FFD1F43944395B375E3374C26A4D6ED003C63BF184FBAD6F66AFD3FD4AC99",
    );
    assert_eq!(s, pinned);
    use sm2::dsa::signature::Verifier;
    let stock = sm2::dsa::VerifyingKey::new(
        "1234567812345678",
        *standard_key().verifying_key().public_key(),
    )
    .unwrap();
    let theirs = sm2::dsa::Signature::from_slice(&pinned.0).unwrap();
    stock.verify(b"message digest", &theirs).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever our nonce, the `sm2` crate's verifier accepts our signatures for any key,
    /// identifier and message, and refuses them for another message. (With RFC 6979's nonce
    /// our signer gives exactly the crate's signatures: `crypto::sign::tests`.)
    #[test]
    fn our_signatures_verify_with_the_sm2_crate_for_any_key_id_and_message(
        seed in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..200),
        id in "[ -~]{0,40}",
    ) {
        use sm2::dsa::signature::Verifier;
        let Ok(secret) = sm2::SecretKey::from_slice(&seed) else {
            return Ok(());
        };
        let Ok(stock) = sm2::dsa::VerifyingKey::new(&id, secret.public_key()) else {
            return Ok(());
        };
        let ours = SigningKey::new(id.as_bytes(), secret).unwrap().sign(&msg);
        let ours = sm2::dsa::Signature::from_slice(&ours.0).unwrap();
        prop_assert!(stock.verify(&msg, &ours).is_ok());
        let mut other = msg.clone();
        other.push(1);
        prop_assert!(stock.verify(&other, &ours).is_err());
    }
}

#[test]
fn der_round_trip_and_malformed_signatures() {
    let key = standard_key();
    let s = key.sign(b"abc");
    assert_eq!(Signature::from_der(&s.to_der().unwrap()).unwrap(), s);
    assert_eq!(
        Signature::from_der(b"\x30\x02\x01"),
        Err(Error::BadSignature)
    );
    // r = 0 and s >= n are rejected by both verifiers, never panic
    let vk = key.verifying_key();
    let cached = CachedVerifier::new(vk.clone());
    for bad in [Signature([0; 64]), Signature([0xff; 64])] {
        assert_eq!(vk.verify(b"abc", &bad), Err(Error::BadSignature));
        assert_eq!(cached.verify(b"abc", &bad), Err(Error::BadSignature));
    }
}

#[test]
fn the_verifier_builds_its_table_on_the_first_cached_verification_only() {
    let key = standard_key();
    let vk = key.verifying_key();
    let cached = CachedVerifier::new(vk.clone());
    let good = key.sign(b"handshake");
    let mut bad = good;
    bad.0[5] ^= 1;
    // a handshake's one-off verification: same verdicts, no table
    assert!(
        cached
            .verify_parts_once(&[b"hand", b"shake"], &good)
            .is_ok()
    );
    assert_eq!(
        cached.verify_parts_once(&[b"handshake"], &bad),
        Err(Error::BadSignature)
    );
    assert!(!cached.has_table());
    // per-frame verification builds it, once; a clone keeps it
    assert!(cached.verify(b"handshake", &good).is_ok());
    assert!(cached.has_table());
    assert_eq!(cached.verify(b"handshake", &bad), Err(Error::BadSignature));
    assert!(cached.verify_parts_once(&[b"handshake"], &good).is_ok());
    let copy = cached.clone();
    assert!(copy.has_table() && copy.verify(b"handshake", &good).is_ok());
    assert!(!CachedVerifier::new(vk.clone()).clone().has_table());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn cached_verify_equals_stock_verify(
        seed in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<(usize, u8)>(),
        random_sig in any::<[u8; 32]>(),
        id in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let secret = match sm2::SecretKey::from_slice(&seed) {
            Ok(s) => s,
            Err(_) => return Ok(()),
        };
        let key = SigningKey::new(&id, secret).unwrap();
        let vk = key.verifying_key();
        let cached = CachedVerifier::new(vk.clone());
        let good = key.sign(&msg);
        prop_assert!(vk.verify(&msg, &good).is_ok());
        prop_assert!(cached.verify(&msg, &good).is_ok());
        // a flipped signature byte, a flipped message byte, a random signature: same verdicts
        let mut bad = good;
        bad.0[flip.0 % 64] ^= flip.1 | 1;
        prop_assert_eq!(vk.verify(&msg, &bad), cached.verify(&msg, &bad));
        let mut other = msg.clone();
        other.push(flip.1);
        prop_assert_eq!(vk.verify(&other, &good), cached.verify(&other, &good));
        let mut rnd = [0u8; 64];
        rnd[..32].copy_from_slice(&random_sig);
        rnd[32..].copy_from_slice(&seed);
        prop_assert_eq!(vk.verify(&msg, &Signature(rnd)), cached.verify(&msg, &Signature(rnd)));
    }
}

#[test]
fn pem_files_round_trip_with_private_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(DEFAULT_ID, &mut crypto::system_rng()).unwrap();
    let private = dir.path().join("agv.key");
    let public = dir.path().join("agv.pub");
    keys::write_private_pem(&private, key.secret()).unwrap();
    keys::write_public_pem(&public, key.verifying_key().public_key()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let back = keys::read_private_pem(&private).unwrap();
    assert_eq!(back.to_bytes(), key.secret().to_bytes());
    assert_eq!(
        &keys::read_public_pem(&public).unwrap(),
        key.verifying_key().public_key()
    );
    assert!(keys::read_private_pem(&public).is_err());
}

#[test]
fn debug_output_never_shows_secrets() {
    let key = standard_key();
    let text = format!("{key:?}");
    assert!(!text.to_uppercase().contains("3945208F"), "{text}");
}

fn openssl() -> Option<()> {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => Some(()),
        _ => {
            eprintln!(
                "SKIPPED: the openssl binary is not installed; the OpenSSL round trip did not run"
            );
            None
        }
    }
}

fn run(args: &[&str], dir: &Path) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn openssl_reads_our_keys_and_signatures_and_we_read_its() {
    if openssl().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = "1234567812345678";
    let key = SigningKey::generate(id.as_bytes(), &mut crypto::system_rng()).unwrap();
    keys::write_private_pem(&d.join("k.pem"), key.secret()).unwrap();
    keys::write_public_pem(&d.join("p.pem"), key.verifying_key().public_key()).unwrap();
    run(&["pkey", "-in", "k.pem", "-noout"], d);
    run(&["pkey", "-pubin", "-in", "p.pem", "-noout"], d);
    std::fs::write(d.join("m"), b"frame header and body").unwrap();

    // ours -> OpenSSL
    let ours = key.sign(b"frame header and body");
    std::fs::write(d.join("ours.der"), ours.to_der().unwrap()).unwrap();
    let distid = format!("distid:{id}");
    run(
        &[
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", &distid, "-pubin",
            "-inkey", "p.pem", "-in", "m", "-sigfile", "ours.der",
        ],
        d,
    );

    // OpenSSL -> ours (stock and cached)
    run(
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            &distid,
            "-inkey",
            "k.pem",
            "-in",
            "m",
            "-out",
            "theirs.der",
        ],
        d,
    );
    let theirs = Signature::from_der(&std::fs::read(d.join("theirs.der")).unwrap()).unwrap();
    let vk = key.verifying_key();
    vk.verify(b"frame header and body", &theirs).unwrap();
    CachedVerifier::new(vk.clone())
        .verify(b"frame header and body", &theirs)
        .unwrap();

    // a key OpenSSL generated is read by us
    run(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            "o.pem",
        ],
        d,
    );
    let secret = keys::read_private_pem(&d.join("o.pem")).unwrap();
    let _ = VerifyingKey::new(id.as_bytes(), secret.public_key()).unwrap();
}
