//! Hostile input never panics, hangs or passes as clean when it cannot be read. (Full fuzzing
//! with cargo-fuzz is its own piece of work; these property tests run on every `cargo test`.)

use crate::common::root;
use picklegate::analyze::analyze;
use picklegate::model::Verdict;
use proptest::prelude::*;

fn fixture_bytes() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in [
        "fixtures/pickle/malicious",
        "fixtures/pickle/benign",
        "fixtures/containers/torch",
        "fixtures/containers/joblib",
    ] {
        let mut entries: Vec<_> = std::fs::read_dir(root().join(dir))
            .expect("fixture dir")
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries.into_iter().take(12) {
            out.push(std::fs::read(entry.path()).expect("fixture"));
        }
    }
    out
}

/// A file that could not be fully analysed says why, and is never clean.
fn explained(analysis: &picklegate::analyze::Analysis) -> bool {
    !analysis.incomplete || (!analysis.findings.is_empty() && analysis.verdict() != Verdict::Clean)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let analysis = analyze(&data);
        prop_assert!(explained(&analysis));
    }

    #[test]
    fn mutated_fixtures_never_panic(index in 0usize..48, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let corpus = fixture_bytes();
        let mut data = corpus[index % corpus.len()].clone();
        for (at, byte) in edits {
            if !data.is_empty() {
                let i = at % data.len();
                data[i] = byte;
            }
        }
        if !data.is_empty() && cut % 3 == 0 {
            data.truncate(cut % data.len());
        }
        let analysis = analyze(&data);
        prop_assert!(explained(&analysis));
    }

    #[test]
    fn opcode_soup_never_panics(ops in proptest::collection::vec(prop_oneof![
        Just(b"(".to_vec()), Just(b".".to_vec()), Just(b"0".to_vec()), Just(b"1".to_vec()), Just(b"2".to_vec()),
        Just(b"N".to_vec()), Just(b"R".to_vec()), Just(b"b".to_vec()), Just(b"a".to_vec()), Just(b"e".to_vec()),
        Just(b"s".to_vec()), Just(b"u".to_vec()), Just(b"t".to_vec()), Just(b"l".to_vec()), Just(b"d".to_vec()),
        Just(b"o".to_vec()), Just(b"}".to_vec()), Just(b"]".to_vec()), Just(b")".to_vec()), Just(b"\x85".to_vec()),
        Just(b"\x86".to_vec()), Just(b"\x87".to_vec()), Just(b"\x81".to_vec()), Just(b"\x92".to_vec()), Just(b"\x93".to_vec()),
        Just(b"\x94".to_vec()), Just(b"h\x00".to_vec()), Just(b"q\x00".to_vec()), Just(b"K\x07".to_vec()),
        Just(b"cos\nsystem\n".to_vec()), Just(b"cbuiltins\ngetattr\n".to_vec()), Just(b"\x8c\x02os".to_vec()),
        Just(b"\x8c\x06system".to_vec()), Just(b"Q".to_vec()), Just(b"\x82\x01".to_vec()), Just(b"\x90".to_vec()),
        Just(b"\x91".to_vec()), Just(b"\x8f".to_vec()), Just(b"\x95\x03\x00\x00\x00\x00\x00\x00\x00".to_vec()),
    ], 0..200)) {
        let mut data = b"\x80\x04".to_vec();
        for op in ops {
            data.extend_from_slice(&op);
        }
        let analysis = analyze(&data);
        prop_assert!(explained(&analysis));
    }
}
