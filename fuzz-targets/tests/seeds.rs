//! The seeds take the fuzzer where it should start: behind the handshakes, with each altered
//! key-exchange value refused.

use std::path::Path;

use fuzz_targets::{secure, seeds, sessions};

fn seeds_of(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    seeds::seeds(&root)
        .expect("seeds")
        .into_iter()
        .find(|(t, _)| *t == target)
        .expect("a target")
        .1
}

#[test]
fn the_session_seeds_register_and_exchange_messages() {
    for seed in seeds_of("rcs_session") {
        let reached = sessions::rcs_session(&seed);
        if seed[0] & 8 == 0 {
            assert!(reached.registered && reached.messages > 0, "{reached:?}");
        }
        assert!(reached.closed, "{reached:?}");
    }
    for seed in seeds_of("agv_session") {
        let reached = sessions::agv_session(&seed);
        assert!(reached.registered && reached.messages > 0, "{reached:?}");
        assert!(reached.closed, "{reached:?}");
    }
}

#[test]
fn the_secure_seeds_pass_the_real_handshake_or_are_refused() {
    let seeds = seeds_of("secure_handshake");
    // guide and fast profile: both ends through access, registration and messages
    for seed in &seeds[..2] {
        let o = secure::secure_handshake(seed);
        assert!(o.agv.registered && o.rcs.registered, "{o:?}");
        assert!(o.agv.messages > 0 && o.rcs.messages > 0, "{o:?}");
        assert!(!o.agv.closed && !o.rcs.closed, "{o:?}");
    }
    // normal mode where secure mode is required: refused
    let o = secure::secure_handshake(&seeds[3]);
    assert!(!o.rcs.access && o.agv.closed, "{o:?}");
    // a key not enrolled, the wrong RCS key: refused
    for seed in &seeds[5..7] {
        let o = secure::secure_handshake(seed);
        assert!(!o.rcs.access && !o.agv.access, "{o:?}");
    }
    // every handshake value altered before signing (the last, S_A, after the AGV checked S_B)
    for (i, seed) in seeds[8..15].iter().enumerate() {
        let o = secure::secure_handshake(seed);
        assert!(!o.rcs.access, "tweak {}: {o:?}", i + 1);
        assert_eq!(o.agv.access, i + 1 == 7, "tweak {}: {o:?}", i + 1);
    }
}

#[test]
fn the_site_seeds_compile_and_route_between_maps() {
    let seeds = seeds_of("site_files");
    let demo = fuzz_targets::site::site_files(&seeds[0]);
    assert!(demo.site && demo.routes > 0, "{demo:?}");
    let small = fuzz_targets::site::site_files(&seeds[1]);
    assert!(small.site && small.between_maps > 0, "{small:?}");
}

#[test]
fn the_channel_seeds_open_frames_both_ways_but_none_of_an_earlier_session() {
    let seeds = seeds_of("secure_channel");
    for seed in &seeds[..2] {
        let opened = fuzz_targets::channel::secure_channel(seed);
        assert!(opened >= 4, "{opened}");
    }
    assert_eq!(fuzz_targets::channel::secure_channel(&seeds[2]), 0);
}

#[test]
fn the_vda5050_seeds_read_as_their_messages() {
    let seeds = seeds_of("vda5050");
    assert_eq!(seeds.len(), 10);
    for seed in &seeds {
        assert!(
            fuzz_targets::vda5050::vda5050(seed).read,
            "{}",
            String::from_utf8_lossy(seed)
        );
    }
}
