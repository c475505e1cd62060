//! Inputs that once made picklegate miss a payload, crash or hang, kept as tests. Each names the
//! weakness it exercised.

use picklegate::analyze::analyze;
use picklegate::model::{Severity, Verdict};

const PAYLOAD: &[u8] = b"cos\nsystem\n(S'id'\ntR.";

fn flags_payload(data: &[u8]) {
    let analysis = analyze(data);
    assert!(
        analysis.findings.iter().any(|f| f.severity >= Severity::High),
        "no high finding ({:?}): {:#?}",
        analysis.verdict(),
        analysis.findings
    );
}

#[test]
fn kept_record_cap_is_not_a_hiding_place() {
    // 10,000 trampoline calls through an allowlisted function, then os.system.
    let mut data = b"\x80\x02ccopyreg\n_reconstructor\nq\x000(cbuiltins\ndict\n2)tq\x010".to_vec();
    for _ in 0..10_000 {
        data.extend_from_slice(b"h\x00h\x01R0");
    }
    data.extend_from_slice(PAYLOAD);
    flags_payload(&data);
}

#[test]
fn calls_in_lookup_arguments_are_not_chain_links() {
    // getattr(__import__('builtins', os.system('id')), 'getattr')(zoneinfo.ZoneInfo, '_unpickle')
    flags_payload(b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\n(S'builtins'\ncos\nsystem\n(S'id'\ntRtRS'getattr'\n\x86Rczoneinfo\nZoneInfo\nS'_unpickle'\n\x86R.");
}

#[test]
fn a_limit_in_a_later_stream_is_not_trailing_data() {
    let mut data = b"N.".to_vec();
    data.extend(std::iter::repeat_n(b'(', 100_001));
    data.extend_from_slice(PAYLOAD);
    let analysis = analyze(&data);
    assert_ne!(analysis.verdict(), Verdict::Clean);
    assert!(analysis.incomplete);
}

#[test]
fn nul_terminated_numeric_lines_parse_like_c() {
    let mut data = b"I1\x00\n0".to_vec();
    data.extend_from_slice(PAYLOAD);
    flags_payload(&data);
}

#[test]
fn stack_global_operands_that_may_be_str_at_run_time() {
    // STACK_GLOBAL(builtins.__name__, 'eval')('1+1')
    flags_payload(b"\x80\x04cbuiltins\n__name__\n\x8c\x04eval\x93\x8c\x031+1\x85R.");
}

#[test]
fn magic_numbers_do_not_hide_a_pickle() {
    let mut gguf = b"GGUF\x00\x00\x00\x00\x30".to_vec();
    gguf.extend_from_slice(PAYLOAD);
    flags_payload(&gguf);
}

#[test]
fn joblib_array_bytes_are_also_read_as_pickle_load_reads_them() {
    // A uint8 NumpyArrayWrapper whose "array bytes" are a payload for plain pickle.load.
    let payload = [b"0".as_slice(), PAYLOAD].concat();
    let mut data = b"\x80\x04\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81}(\x8c\x05dtype\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02u1\x85R\x8c\x05shape".to_vec();
    data.push(b'K');
    data.push(payload.len() as u8);
    data.extend_from_slice(b"\x85ub");
    data.extend_from_slice(&payload);
    data.push(b'.');
    flags_payload(&data);
}

#[test]
fn an_xz_index_size_that_overflows_is_a_broken_file_not_a_crash() {
    // Found by the `analyze` fuzz target (2026-11-26): the xz decoder then in use (lzma-rs)
    // overflowed on a backward size near u32::MAX. xz and lzma now go through lzma-rust2.
    let data: Vec<u8> = [
        &b"\xfd\x37\x7a\x58\x5a\x00\x00\x04\xe6\xd6\xb4\x46\x02\x00\x21\x01\x16\x00\x00\x00\x74\x2f"[..],
        &b"\xe5\xa3\xe0\x00\x46\x00\x39\x5d\x00\x40\x01\x0e\x71\x4a\x04\xc8\xf9\x04\x9e\xcb\xdb\x42"[..],
        &b"\x4b\xd8\xa7\x34\xef\x05\x75\xa3\x0a\x4c\x85\xfa\x43\xcf\xa9\xef\x39\x3d\xa5\x67\x20\x6c"[..],
        &b"\xae\x5f\x2f\xda\x60\xdd\x31\x4b\xbd\x85\x9a\x7f\x77\x8a\x47\x40\xee\x5d\xc7\x6c\x00\x00"[..],
        &b"\x00\x00\x00\x00\x6b\x34\xc8\x26\x58\xfa\xdb\x05\x00\x01\x55\x47\x09\xc8\xf2\x0f\x1f\xb6"[..],
        &b"\xf3\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        &b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        &b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7d\x01\x00\x00\x00\x00\x04\x59\x5a"[..],
    ]
    .concat();
    assert_eq!(data.len(), 173);
    let analysis = analyze(&data);
    assert!(analysis.incomplete);
    assert_eq!(analysis.verdict(), Verdict::Error);
}
