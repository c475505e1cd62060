//! Criterion micro-benchmarks of the analysis core: the opcode reader, the symbolic machine, the
//! whole analysis with every rule, and the container readers. Inputs are built here or read from
//! the committed fixtures; nothing is loaded. `cargo bench` runs them; results and the
//! whole-run comparisons with the peers are in docs/benchmarks.md.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use picklegate::analyze::{analyze, analyze_with, AnalyzeOptions};
use picklegate::formats::pickle::{run_stream, Limits, Observer, Op, Opcode, Reader};

/// A protocol-4 pickle of `n` ints and `n` memoized short strings in one list, the shape of a
/// large data pickle: about 3 `n` opcodes, appended in batches of 1,000 items as CPython's
/// pickler writes lists (one mark over all items would hit the stack limit half-way).
fn data_pickle(n: u32) -> Vec<u8> {
    let mut out = b"\x80\x04]\x94(".to_vec();
    for i in 0..n {
        if i > 0 && i % 500 == 0 {
            out.extend_from_slice(b"e(");
        }
        out.push(b'J');
        out.extend_from_slice(&(i as i32).to_le_bytes());
        let s = format!("s{i}");
        out.push(0x8c);
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
        out.push(0x94);
    }
    out.extend_from_slice(b"e.");
    out
}

struct Quiet;
impl Observer<'_> for Quiet {}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn reader(c: &mut Criterion) {
    let data = data_pickle(1_000_000);
    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("3M opcodes", |b| {
        b.iter(|| {
            // As the machine reads: into one reused slot.
            let mut reader = Reader::new(black_box(&data), 0);
            let mut op = Op::default();
            let mut ops = 0u64;
            while reader.read_into(&mut op).is_ok() {
                ops += 1;
                if op.opcode == Opcode::STOP {
                    break;
                }
            }
            ops
        })
    });
    group.finish();
}

fn machine(c: &mut Criterion) {
    let data = data_pickle(1_000_000);
    let limits = Limits::default();
    let complete = run_stream(&data, 0, &limits, &mut Quiet);
    assert!(complete.error.is_none(), "{:?}", complete.error);
    let mut group = c.benchmark_group("machine");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("3M opcodes", |b| {
        b.iter(|| run_stream(black_box(&data), 0, &limits, &mut Quiet).opcodes)
    });
    group.finish();
}

fn rules(c: &mut Criterion) {
    let data = data_pickle(1_000_000);
    // Measured only if the analysis reads the whole stream: a run stopped by a limit would
    // report a throughput for bytes it never read.
    let complete = analyze(&data);
    assert!(complete.findings.is_empty(), "{:?}", complete.findings);
    assert!(complete.opcodes > 3_000_000, "{}", complete.opcodes);
    let payload = fixture("pickle/malicious/getattr_import_chain_p2.pkl");
    let mut group = c.benchmark_group("analyze");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("3M opcodes, every rule", |b| {
        b.iter(|| analyze(black_box(&data)).findings.len())
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("small malicious pickle", |b| {
        b.iter(|| analyze(black_box(&payload)).findings.len())
    });
    let options = AnalyzeOptions {
        programs: true,
        ..AnalyzeOptions::default()
    };
    group.bench_function("small malicious pickle, decompiled", |b| {
        b.iter(|| analyze_with(black_box(&payload), &options).programs.len())
    });
    group.finish();
}

fn containers(c: &mut Criterion) {
    let mut group = c.benchmark_group("containers");
    for path in [
        "containers/torch/state_dict.pt",
        "containers/torch/payload_data_pkl.pt",
        "containers/legacy/state_dict_legacy.pt",
        "containers/joblib/dict_array.xz.joblib",
        "containers/numpy/npz_deflated.npz",
    ] {
        let bytes = fixture(path);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(path, |b| {
            b.iter_batched(
                || (),
                |()| analyze(black_box(&bytes)).format.len(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, reader, machine, rules, containers);
criterion_main!(benches);
