//! `include/rcs_protocol.h` is generated from this crate's source with cbindgen (settings in
//! `cbindgen.toml`). This test regenerates it and fails when the committed header differs; run
//! it with `RCS_UPDATE_GENERATED=1` to write the new header.

use std::path::Path;

#[test]
fn the_committed_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen reads the crate")
        .write(&mut fresh);
    let fresh = String::from_utf8(fresh).unwrap();
    let path = crate_dir.join("include/rcs_protocol.h");
    if std::env::var_os("RCS_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is out of date: run `RCS_UPDATE_GENERATED=1 cargo test -p protocol-c --test header`",
        path.display()
    );
}
