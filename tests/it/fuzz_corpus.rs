//! The fuzz corpus (`fuzz/corpus/<target>/`), replayed on every test run with the same code
//! the fuzz targets run (`plaza::fuzz_targets`): every input the fuzzers kept, including
//! those that once found a bug, must still go through without a panic.

use std::path::Path;

#[test]
fn every_fuzz_corpus_input_is_handled_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, run) in plaza::fuzz_targets::TARGETS {
        let dir = root.join(target);
        let inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!("the corpus of {target} ({}) is missing: {e}", dir.display())
            })
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        assert!(!inputs.is_empty(), "the corpus of {target} is empty");
        for input in inputs {
            let data = std::fs::read(&input).expect("a corpus file");
            run(&data);
        }
    }
}
