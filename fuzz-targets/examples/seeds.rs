//! Writes every fuzz target's seeds to `DIR/<target>/seed-N` (default `protocol/fuzz/corpus`,
//! cargo-fuzz's working corpus): `cargo run -p fuzz-targets --example seeds [-- DIR]`.

use std::path::{Path, PathBuf};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| root.join("protocol/fuzz/corpus"), PathBuf::from);
    for (target, seeds) in fuzz_targets::seeds::seeds(&root)? {
        let out = dir.join(target);
        std::fs::create_dir_all(&out)?;
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(out.join(format!("seed-{i}")), seed)?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), out.display());
    }
    Ok(())
}
