//! Differential test against CPython's `pickletools`: for every fixture, the opcode sequence
//! (name, offset, argument) our reader produces equals what `pickletools.genops` reports, except
//! where `_pickle` and `pickletools` are known to disagree — and those fixtures must keep
//! disagreeing in exactly the documented way.

use crate::common::{manifest, python3_available, root};
use picklegate::formats::pickle::reader::long_to_decimal;
use picklegate::formats::pickle::{Arg, Opcode, Reader};
use serde_json::Value as Json;

/// Fixtures whose bytes `_pickle` (which picklegate follows) and `pickletools` read differently.
const DOCUMENTED_DIVERGENCES: &[(&str, &str)] = &[
    (
        "pickle/evasive/int_base_prefixes_p0.pkl",
        "INT is read with C strtol in base 0 (0x1F, 010 octal); pickletools uses int(s) in base 10",
    ),
    (
        "pickle/evasive/int_bool_forms_p0.pkl",
        "C's load_int makes any 3-byte line holding 0 or 1 (+1, -0) a bool; pickletools only 00 and 01",
    ),
    (
        "pickle/evasive/global_backslash_escape_p0.pkl",
        "pickletools escape-decodes GLOBAL operands; _pickle takes them verbatim",
    ),
];

#[derive(Debug, PartialEq)]
enum Line {
    Op { op: String, pos: u64, arg: Json },
    StreamEnd(u64),
    Error,
}

fn reference(path: &std::path::Path) -> Vec<Line> {
    let output = std::process::Command::new("python3")
        .arg(root().join("tests/support/pickletools_ops.py"))
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "pickletools_ops.py failed on {}",
        path.display()
    );
    parse_lines(&String::from_utf8(output.stdout).expect("utf-8"))
}

fn parse_lines(text: &str) -> Vec<Line> {
    text.lines()
        .map(|line| {
            let v: Json = serde_json::from_str(line).expect("json line");
            if let Some(end) = v.get("stream_end") {
                Line::StreamEnd(end.as_u64().expect("offset"))
            } else if v.get("error").is_some() {
                Line::Error
            } else {
                Line::Op {
                    op: v["op"].as_str().expect("op").to_string(),
                    pos: v["pos"].as_u64().expect("pos"),
                    arg: v["arg"].clone(),
                }
            }
        })
        .collect()
}

fn ours(data: &[u8]) -> Vec<(String, u64, Arg<'_>, bool)> {
    let mut out = Vec::new();
    let mut reader = Reader::new(data, 0);
    loop {
        match reader.next_op() {
            Ok(op) => {
                let stop = op.opcode == Opcode::STOP;
                out.push((op.opcode.name().to_string(), op.offset as u64, op.arg, stop));
                if stop && reader.position() >= data.len() {
                    return out;
                }
            }
            Err(_) => return out,
        }
    }
}

/// Whether our argument equals the rendering pickletools_ops.py gives.
fn same_arg(ours: &Arg<'_>, theirs: &Json) -> bool {
    let int_json = |i: i64| {
        if i.unsigned_abs() < (1 << 53) {
            Json::from(i)
        } else {
            Json::from(i.to_string())
        }
    };
    match ours {
        Arg::None => theirs.is_null(),
        Arg::Int(i) => *theirs == int_json(*i),
        Arg::Index(i) => *theirs == int_json(*i as i64) || (*i <= 1 && theirs.as_bool() == Some(*i == 1)),
        Arg::Proto(p) => theirs.as_u64() == Some(u64::from(*p)),
        Arg::FrameLen(n) => theirs.as_u64() == Some(*n),
        Arg::BigInt(s) => theirs.as_str() == Some(s),
        Arg::LongBytes(b) => theirs.as_str() == Some(&long_to_decimal(b)),
        Arg::Bool(b) => theirs.as_bool() == Some(*b),
        Arg::Float(f) => theirs
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(|t| t == *f || (t.is_nan() && f.is_nan())),
        Arg::Text(t) => match theirs {
            Json::String(s) => s == &**t,
            Json::Object(o) => o.contains_key("str_hex") && t.contains('\u{fffd}'),
            _ => false,
        },
        Arg::Str8(b) => theirs
            .as_str()
            .is_some_and(|s| s.chars().map(|c| c as u32).eq(b.iter().map(|&x| u32::from(x)))),
        Arg::Bytes(b) => theirs.get("hex").and_then(Json::as_str) == Some(&picklegate::scan::hex(b)),
        Arg::Global { module, name } => theirs.as_str() == Some(&format!("{module} {name}")),
    }
}

/// First point where the two readings differ, as a description.
fn first_difference(data: &[u8], reference: &[Line]) -> Option<String> {
    let ours = ours(data);
    let ref_ops: Vec<&Line> = reference.iter().filter(|l| matches!(l, Line::Op { .. })).collect();
    for (i, theirs) in ref_ops.iter().enumerate() {
        let Line::Op { op, pos, arg } = theirs else {
            unreachable!()
        };
        let Some((our_op, our_pos, our_arg, _)) = ours.get(i) else {
            return Some(format!("pickletools reads {op} at {pos}; picklegate stopped before it"));
        };
        if our_op != op || our_pos != pos || !same_arg(our_arg, arg) {
            return Some(format!(
                "at {pos}: pickletools {op} {arg}, picklegate {our_op} {our_arg:?} at {our_pos}"
            ));
        }
    }
    let reference_failed = reference.last() == Some(&Line::Error);
    if !reference_failed && ours.len() != ref_ops.len() {
        return Some(format!(
            "picklegate reads {} opcodes, pickletools {}",
            ours.len(),
            ref_ops.len()
        ));
    }
    None
}

#[test]
fn opcode_sequences_match_pickletools() {
    if !python3_available() {
        panic!("python3 is needed for the differential test");
    }
    let mut compared = 0;
    let mut failures = Vec::new();
    for entry in manifest() {
        let path = root().join("fixtures").join(&entry.path);
        let data = std::fs::read(&path).expect("fixture readable");
        let reference = reference(&path);
        let read_completely = !reference.contains(&Line::Error);
        if read_completely != entry.pickletools {
            failures.push(format!(
                "{}: manifest says pickletools reads it completely: {}, it does: {read_completely}",
                entry.path, entry.pickletools
            ));
        }
        let difference = first_difference(&data, &reference);
        let documented = DOCUMENTED_DIVERGENCES.iter().find(|(p, _)| *p == entry.path);
        match (difference, documented) {
            (None, None) => compared += 1,
            (Some(diff), None) => failures.push(format!("{}: {diff}", entry.path)),
            (None, Some((_, why))) => failures.push(format!(
                "{}: documented divergence ({why}) no longer occurs",
                entry.path
            )),
            (Some(_), Some(_)) => compared += 1,
        }
    }
    assert!(
        failures.is_empty(),
        "differences from pickletools:\n{}",
        failures.join("\n")
    );
    assert!(compared >= 100, "only {compared} fixtures compared");
}

#[test]
fn every_opcode_is_covered_by_the_fixtures() {
    let mut seen = std::collections::BTreeSet::new();
    for entry in manifest() {
        let data = std::fs::read(root().join("fixtures").join(&entry.path)).expect("fixture readable");
        for (op, ..) in ours(&data) {
            seen.insert(op);
        }
    }
    let missing: Vec<_> = Opcode::ALL
        .iter()
        .map(|o| o.name())
        .filter(|n| !seen.contains(*n))
        .collect();
    assert!(missing.is_empty(), "opcodes without a fixture: {missing:?}");
}

/// Pickles built by the property-test generator read the same in picklegate and pickletools.
#[test]
fn generated_pickles_match_pickletools() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = crate::hostile::data_strategy();
    let mut files = Vec::new();
    for i in 0..200 {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        let mut data = b"\x80\x04".to_vec();
        crate::hostile::encode(&value, &mut data);
        data.push(b'.');
        let path = dir.path().join(format!("g{i}.pkl"));
        std::fs::write(&path, &data).unwrap();
        files.push((path, data));
    }
    let output = std::process::Command::new("python3")
        .arg(root().join("tests/support/pickletools_ops.py"))
        .args(files.iter().map(|(p, _)| p))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut sections = text.split("{\"file\":").skip(1);
    for (path, data) in &files {
        let section = sections.next().expect("one section per file");
        let body = section.split_once('\n').map(|(_, rest)| rest).unwrap_or_default();
        let reference = parse_lines(body);
        assert_eq!(first_difference(data, &reference), None, "{}", path.display());
    }
}
