//! CLI behaviour: exit codes, formats, output files.

use crate::common::{fixture, picklegate};
use predicates::prelude::*;

#[test]
fn malicious_file_exits_1_and_names_the_call() {
    picklegate()
        .args(["scan", "--format", "text"])
        .arg(fixture("pickle/malicious/os_system_p2.pkl"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("system('true')"))
        .stdout(predicate::str::contains("[dangerous-call]"));
}

#[test]
fn benign_file_exits_0() {
    picklegate()
        .args(["scan"])
        .arg(fixture("pickle/benign/data_p4.pkl"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("clean"));
}

#[test]
fn unreadable_stream_fails_the_gate_even_without_findings() {
    picklegate()
        .args(["scan", "--fail-on", "none"])
        .arg(fixture("pickle/evasive/truncated_benign_p4.pkl"))
        .assert()
        .code(1);
}

#[test]
fn fail_on_threshold() {
    // A medium-only file passes at the default threshold (high) and fails at medium.
    let file = fixture("pickle/evasive/int_base_prefixes_p0.pkl");
    picklegate().arg("scan").arg(&file).assert().code(0);
    picklegate()
        .args(["scan", "--fail-on", "medium"])
        .arg(&file)
        .assert()
        .code(1);
}

#[test]
fn json_v1_single_file_shape() {
    let output = picklegate()
        .args(["scan", "--format", "json"])
        .arg(fixture("pickle/malicious/os_system_p0.pkl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["tool"]["name"], "picklegate");
    let file = &v["files"][0];
    assert_eq!(file["verdict"], "malicious");
    assert_eq!(file["sha256"].as_str().map(str::len), Some(64));
    let finding = &file["findings"][0];
    for key in ["rule", "severity", "confidence", "message", "offset", "call"] {
        assert!(!finding[key].is_null(), "finding lacks {key}: {finding}");
    }
    assert_eq!(v["summary"]["failed"], true);
}

#[test]
fn output_file_and_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.txt");
    let json = dir.path().join("report.json");
    picklegate()
        .args(["scan", "--output"])
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .arg(fixture("pickle/malicious/inst_os_system_p0.pkl"))
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty());
    assert!(std::fs::read_to_string(&out).unwrap().contains("malicious"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["files"][0]["verdict"], "malicious");
}

#[test]
fn a_path_that_is_missing_ends_the_scan_without_a_report() {
    // The walk of the first folder has handed files to the workers when the second path fails.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let run = picklegate()
        .args(["scan", "--json"])
        .arg(&report)
        .arg(fixture("pickle"))
        .arg("/nonexistent/models")
        .assert()
        .code(2);
    assert!(run.get_output().stdout.is_empty());
    assert!(!report.exists());
}

#[test]
fn usage_errors_exit_2() {
    picklegate().args(["scan", "--fail-on", "sometimes"]).assert().code(2);
    let missing = picklegate().args(["scan", "/nonexistent/path/x.pkl"]).assert().code(2);
    let message = String::from_utf8_lossy(&missing.get_output().stderr).into_owned();
    assert!(message.contains("/nonexistent/path/x.pkl: "), "{message}");
    assert_eq!(message.matches("os error").count(), 1, "the reason, once: {message}");
    picklegate().args(["rules", "explain", "no-such-rule"]).assert().code(2);
}

#[test]
fn json_output_is_byte_identical_across_runs_and_thread_counts() {
    let run = |jobs: &str| {
        picklegate()
            .args(["scan", "fixtures/pickle", "--format", "json", "--jobs", jobs])
            .output()
            .unwrap()
            .stdout
    };
    let first = run("1");
    assert_eq!(first, run("2"));
    assert_eq!(first, run("2"));
}

#[test]
fn disasm_annotates_calls() {
    picklegate()
        .arg("disasm")
        .arg(fixture("pickle/malicious/getattr_import_chain_p2.pkl"))
        .assert()
        .success()
        .stdout(predicate::str::contains("REDUCE"))
        .stdout(predicate::str::contains("[runs os.system]"));
}

#[test]
fn rules_list_and_explain() {
    picklegate()
        .args(["rules", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("dangerous-call"));
    picklegate()
        .args(["rules", "explain", "dangerous-call"])
        .assert()
        .success()
        .stdout(predicate::str::contains("dangerous-call"));
}

#[test]
fn a_report_that_cannot_be_written_is_an_error_exit() {
    picklegate()
        .args(["scan", "--output", "/nonexistent-dir/report.txt"])
        .arg(fixture("pickle/benign/data_p4.pkl"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot write"));
    picklegate()
        .args(["scan", "--json", "/nonexistent-dir/report.json"])
        .arg(fixture("pickle/benign/data_p4.pkl"))
        .assert()
        .code(2);
}
