//! Deep analysis as users see it: `picklegate decompile`, the decompiled excerpt on findings,
//! and behaviours in JSON and SARIF.

use crate::common::{manifest, picklegate};
use serde_json::Value;

fn decompile(path: &str) -> String {
    let output = picklegate().args(["decompile", path]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn scan_json(paths: &[&str]) -> Value {
    let output = picklegate()
        .args(["scan", "--quiet", "--format", "json"])
        .args(paths)
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

/// One fixture per call form the machine models.
const CALL_FORMS: &[&str] = &[
    "pickle/malicious/os_system_p0.pkl",
    "pickle/malicious/inst_os_system_p0.pkl",
    "pickle/malicious/obj_os_system_p1.pkl",
    "pickle/malicious/newobj_popen_p2.pkl",
    "pickle/malicious/newobj_ex_popen_p4.pkl",
    "pickle/malicious/build_setstate_hijack_p2.pkl",
    "pickle/malicious/functools_partial_p2.pkl",
    "pickle/malicious/getattr_import_chain_p2.pkl",
    "pickle/malicious/stack_global_memo_text_p4.pkl",
    "pickle/malicious/operator_methodcaller_p2.pkl",
    "pickle/malicious/nested_pickle_base64_p2.pkl",
    "pickle/malicious/call_result_popped_p2.pkl",
    "pickle/malicious/ext1_call_p2.pkl",
    "pickle/malicious/payload_no_stop_p2.pkl",
    "containers/torch/payload_data_pkl.pt",
];

#[test]
fn decompiled_programs_are_pinned() {
    for fixture in CALL_FORMS {
        let text = decompile(&format!("fixtures/{fixture}"));
        let name = fixture.replace(['/', '.'], "_");
        insta::assert_snapshot!(format!("decompile_{name}"), text);
    }
}

#[test]
fn every_malicious_fixture_decompiles_to_the_call_it_makes() {
    for entry in manifest().iter().filter(|e| e.expect == "malicious") {
        let text = decompile(&format!("fixtures/{}", entry.path));
        let call = entry.call.as_deref().unwrap();
        let builtin = call.strip_prefix("builtins.").map(|name| format!("{name}("));
        assert!(
            text.contains(call) || builtin.is_some_and(|b| text.contains(&b)),
            "{}: {call} is not in\n{text}",
            entry.path
        );
    }
}

#[test]
fn decompile_is_deterministic_and_answers_non_pickles() {
    let path = "fixtures/containers/torch/payload_data_pkl.pt";
    assert_eq!(decompile(path), decompile(path));
    let text = decompile("fixtures/README.md");
    assert!(text.contains("holds no pickle stream"), "{text}");
}

#[test]
fn findings_carry_the_decompiled_lines_they_are_about() {
    let report = scan_json(&["fixtures/pickle/malicious/getattr_import_chain_p2.pkl"]);
    let excerpt = report["files"][0]["findings"][0]["excerpt"].as_str().unwrap();
    assert_eq!(
        excerpt
            .lines()
            .map(|l| l.split("  #").next().unwrap())
            .collect::<Vec<_>>(),
        ["v0 = __import__('os')", "v1 = getattr(v0, 'system')", "v2 = v1('true')"]
    );
}

#[test]
fn behaviours_per_category_in_json_and_sarif() {
    let cases = [
        ("behaviour_open_write_p2.pkl", "writes-files"),
        ("behaviour_linecache_p2.pkl", "reads-files"),
        ("behaviour_getenv_p2.pkl", "environment"),
        ("behaviour_atexit_p2.pkl", "persists"),
        ("behaviour_ctypes_p2.pkl", "native-code"),
        ("behaviour_sys_exit_p2.pkl", "disrupts-loader"),
        ("behaviour_scanner_p2.pkl", "evades-scanners"),
        ("socket_create_connection_p2.pkl", "network"),
        ("os_system_p2.pkl", "starts-process"),
        ("builtins_eval_p2.pkl", "runs-code"),
        ("nested_pickle_loads_p3.pkl", "loads-pickle"),
        ("computed_global_p4.pkl", "dynamic-import"),
        ("global_tampering_p4.pkl", "tampers-model"),
    ];
    let paths: Vec<String> = cases
        .iter()
        .map(|(f, _)| format!("fixtures/pickle/malicious/{f}"))
        .collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let report = scan_json(&refs);
    let dir = tempfile::tempdir().unwrap();
    let sarif_path = dir.path().join("r.sarif");
    picklegate()
        .args(["scan", "--quiet", "--format", "json", "--sarif"])
        .arg(&sarif_path)
        .args(&refs)
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&std::fs::read(&sarif_path).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    for (fixture, behaviour) in cases {
        let file = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(fixture))
            .unwrap();
        let ids: Vec<&str> = file["behaviours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&behaviour), "{fixture}: {ids:?}");
        let on_load = file["on_load"].as_str().unwrap();
        assert!(on_load.starts_with("on load: "), "{on_load}");
        let tagged = results.iter().any(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with(fixture)
                && r["properties"]["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == &Value::from(format!("behaviour/{behaviour}"))))
        });
        assert!(tagged, "{fixture}: no SARIF result tagged behaviour/{behaviour}");
    }
    let clean = scan_json(&["fixtures/pickle/benign/data_p2.pkl"]);
    assert_eq!(clean["files"][0]["behaviours"], serde_json::json!([]));
    assert!(clean["files"][0]["on_load"].is_null());
}
