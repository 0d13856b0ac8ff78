//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the same target
//! bodies the cargo-fuzz binaries run, on stable: every input the fuzzer kept (and every
//! crash it found, once fixed) stays a test in `cargo test --workspace`.

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_corpus_file_passes_its_target() {
    let mut total = 0;
    for (name, target) in winkube_fuzz_targets::TARGETS {
        let dir = corpus_dir().join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "{name} has no corpus in {}",
            dir.display()
        );
        for f in &files {
            let data = std::fs::read(f).expect("a corpus file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} fails its target", f.display());
        }
        total += files.len();
    }
    assert!(total >= winkube_fuzz_targets::TARGETS.len());
}

#[test]
fn every_target_has_a_binary_and_a_corpus() {
    let fuzz = corpus_dir().join("..");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in winkube_fuzz_targets::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "no [[bin]] {name}"
        );
        assert!(
            fuzz.join(format!("fuzz_targets/{name}.rs")).is_file(),
            "no fuzz_targets/{name}.rs"
        );
        assert!(
            fuzz.join(format!("corpus/{name}")).is_dir(),
            "no corpus/{name}"
        );
    }
}
