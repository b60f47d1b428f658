//! Replays every committed input of every fuzz target on stable: the corpus libFuzzer grew
//! (`fuzz/corpus/<target>/`) and each crash it found, kept as a regression
//! (`fuzz/regressions/<target>/`). A target that panics on one of them fails here, in CI,
//! without nightly or libFuzzer.

use std::path::Path;

#[test]
fn every_kept_input_passes_its_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, target) in returnhub_fuzz_targets::TARGETS {
        let corpus = fuzz.join("corpus").join(name);
        let mut replayed = 0;
        for folder in [corpus.clone(), fuzz.join("regressions").join(name)] {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a corpus entry").path();
                let data = std::fs::read(&path).expect("a corpus file reads");
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name} fails on {}", path.display());
                replayed += 1;
            }
        }
        assert!(
            replayed > 0,
            "{name} has no corpus in {}: seed it (fuzz/README.md)",
            corpus.display()
        );
    }
}
