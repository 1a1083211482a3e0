//! Replays every committed fuzz input through its target on the stable toolchain: the
//! minimized corpora of the campaigns (`protocol/fuzz/corpora/<target>/`), the inputs of every
//! crash found (`protocol/fuzz/regressions/<target>/`) and the seeds. A target panics on a bug,
//! so this fails when one comes back.

use std::path::{Path, PathBuf};

use fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs each file through `run`, naming the file that panics.
fn replay(run: fn(&[u8]), files: &[PathBuf]) {
    for file in files {
        let data = std::fs::read(file).expect("readable");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{} fails", file.display());
        }
    }
}

#[test]
fn every_corpus_input_passes() {
    for (name, run) in TARGETS {
        let files = inputs(&fuzz_dir().join("corpora").join(name));
        assert!(
            !files.is_empty(),
            "no committed corpus for {name} in protocol/fuzz/corpora (scripts/fuzz minimize)"
        );
        replay(*run, &files);
    }
}

#[test]
fn every_regression_input_passes() {
    let dir = fuzz_dir().join("regressions");
    for (name, run) in TARGETS {
        replay(*run, &inputs(&dir.join(name)));
    }
    // no directory of a target that does not exist
    for entry in std::fs::read_dir(&dir).expect("protocol/fuzz/regressions") {
        let name = entry.expect("an entry").file_name();
        assert!(
            TARGETS
                .iter()
                .any(|(t, _)| *t == name.to_str().unwrap_or_default()),
            "regressions for an unknown target {name:?}"
        );
    }
}

#[test]
fn every_seed_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (name, seeds) in fuzz_targets::seeds::seeds(&root).expect("seeds") {
        let (_, run) = TARGETS.iter().find(|(t, _)| *t == name).expect("a target");
        assert!(!seeds.is_empty(), "{name}");
        for seed in seeds {
            run(&seed);
        }
    }
}
