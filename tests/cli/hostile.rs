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

/// A plain-data value and the opcodes protocol 4 would use for it.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Flag(Option<bool>),
    List(Vec<Data>),
    Tuple(Vec<Data>),
    Dict(Vec<(String, Data)>),
}

pub(crate) fn data_strategy() -> impl Strategy<Value = Data> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Data::Int),
        any::<f64>().prop_map(Data::Float),
        ".{0,40}".prop_map(Data::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Data::Bytes),
        any::<Option<bool>>().prop_map(Data::Flag),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Data::List),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Data::Tuple),
            proptest::collection::vec(("[a-z]{1,8}", inner), 0..6).prop_map(Data::Dict),
        ]
    })
}

/// Encodes `value`, returning how many opcodes were written.
pub(crate) fn encode(value: &Data, out: &mut Vec<u8>) -> usize {
    match value {
        Data::Int(i) if (0..=255).contains(i) => {
            out.extend_from_slice(&[b'K', *i as u8]);
            1
        }
        Data::Int(i) if i32::try_from(*i).is_ok() => {
            out.push(b'J');
            out.extend_from_slice(&(*i as i32).to_le_bytes());
            1
        }
        Data::Int(i) => {
            out.extend_from_slice(&[0x8a, 8]);
            out.extend_from_slice(&i.to_le_bytes());
            1
        }
        Data::Float(f) => {
            out.push(b'G');
            out.extend_from_slice(&f.to_be_bytes());
            1
        }
        Data::Text(s) => {
            out.push(b'X');
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            1
        }
        Data::Bytes(b) => {
            out.push(b'B');
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
            1
        }
        Data::Flag(flag) => {
            out.push(match flag {
                None => b'N',
                Some(true) => 0x88,
                Some(false) => 0x89,
            });
            1
        }
        Data::List(items) => {
            out.extend_from_slice(b"](");
            let n: usize = items.iter().map(|i| encode(i, out)).sum();
            out.push(b'e');
            3 + n
        }
        Data::Tuple(items) => {
            out.push(b'(');
            let n: usize = items.iter().map(|i| encode(i, out)).sum();
            out.push(b't');
            2 + n
        }
        Data::Dict(pairs) => {
            out.extend_from_slice(b"}(");
            let mut n = 0;
            for (k, v) in pairs {
                n += encode(&Data::Text(k.clone()), out) + encode(v, out);
            }
            out.push(b'u');
            3 + n
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any plain-data pickle built by the generator reads back opcode for opcode, and is clean.
    #[test]
    fn generated_data_pickles_round_trip_and_are_clean(value in data_strategy()) {
        let mut data = b"\x80\x04".to_vec();
        let written = encode(&value, &mut data) + 2; // PROTO and STOP
        data.push(b'.');
        let mut reader = picklegate::formats::pickle::Reader::new(&data, 0);
        let mut read = 0;
        loop {
            let op = reader.next_op().expect("generated pickles are valid");
            read += 1;
            if op.opcode == picklegate::formats::pickle::Opcode::STOP {
                break;
            }
        }
        prop_assert_eq!(read, written);
        prop_assert_eq!(reader.position(), data.len());
        let analysis = analyze(&data);
        prop_assert_eq!(analysis.verdict(), Verdict::Clean);
        prop_assert!(analysis.findings.is_empty(), "{:?}", analysis.findings);
    }
}
