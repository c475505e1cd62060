//! Deep analysis as users see it: `picklegate decompile`, the decompiled excerpt on findings,
//! and behaviours in JSON and SARIF.

use crate::common::{manifest, picklegate};
use serde_json::Value;

fn decompile(path: &str) -> String {
    let output = picklegate().args(["decompile", path]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The report of the file whose path ends with `suffix`.
fn file_ending<'r>(report: &'r Value, suffix: &str) -> &'r Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no report for {suffix}"))
}

fn behaviour_ids(file: &Value) -> Vec<&str> {
    file["behaviours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect()
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
fn findings_made_after_their_stream_was_read_carry_excerpts_too() {
    // The oversized storage is found by comparing the archive's records with the storages the
    // pickle declared, after the pickle was read; its excerpt needs a second reading.
    let report = scan_json(&["fixtures/containers/torch/forged_storage_size.pt"]);
    let finding = report["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "forged-tensor")
        .expect("a forged-tensor finding");
    let excerpt = finding["excerpt"].as_str().expect("an excerpt");
    assert!(
        excerpt.contains("persistent_load(('storage', torch.FloatStorage"),
        "{excerpt}"
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
        let file = file_ending(&report, fixture);
        let ids = behaviour_ids(file);
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

/// A temporary git repository holding a copy of `fixtures/repos/<tree>`.
fn repo_with(tree: &str) -> crate::common::Repo {
    repo_with_in(tree, "")
}

/// A temporary git repository holding a copy of `fixtures/repos/<tree>` in `folder`.
fn repo_with_in(tree: &str, folder: &str) -> crate::common::Repo {
    let repo = crate::common::Repo::new();
    let source = crate::common::root().join("fixtures/repos").join(tree);
    for entry in walk(&source) {
        let rel = entry
            .strip_prefix(&source)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        repo.put(&format!("{folder}{rel}"), &std::fs::read(&entry).unwrap());
    }
    repo
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn scan_in(repo: &crate::common::Repo, args: &[&str]) -> Value {
    let output = picklegate()
        .current_dir(repo.path())
        .args(["scan", "--quiet", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

fn file<'r>(report: &'r Value, path: &str) -> &'r Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["repo_path"] == path)
        .unwrap_or_else(|| panic!("{path} not in {report:#}"))
}

fn findings_of<'r>(file: &'r Value, rule: &str) -> Vec<&'r Value> {
    file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

#[test]
fn a_benign_looking_pickle_that_loads_a_payload_is_reported_with_the_chain() {
    let repo = repo_with("crossref");
    // Only the outer file is named: the scan still reaches the payload.
    let report = scan_in(&repo, &["model.pkl"]);
    let inner = file(&report, "extra/cfg.bin");
    assert_eq!(inner["verdict"], "malicious");
    assert_eq!(inner["reached_from"], "model.pkl");
    let chain = findings_of(file(&report, "model.pkl"), "cross-file-reference");
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0]["severity"], "critical");
    let message = chain[0]["message"].as_str().unwrap();
    assert!(
        message.contains("loads `extra/cfg.bin` (torch.load at byte"),
        "{message}"
    );
    assert!(
        message.contains("which is malicious: loading this file calls os.system('true')"),
        "{message}"
    );

    let loader = scan_in(&repo, &["loader.pkl"]);
    let missing = findings_of(file(&loader, "loader.pkl"), "cross-file-reference");
    assert_eq!(missing[0]["severity"], "medium");
    assert!(
        missing[0]["message"]
            .as_str()
            .unwrap()
            .contains("`missing.pkl` (pickle.load at byte"),
        "{missing:?}"
    );
}

#[test]
fn references_outside_the_repository_are_reported_and_never_read() {
    let repo = crate::common::Repo::new();
    repo.put("m.pkl", b"ctorch\nload\n(S'../../../../etc/passwd'\ntR.");
    repo.put("n.pkl", b"ctorch\nload\n(S'/etc/passwd'\ntR.");
    let report = scan_in(&repo, &["."]);
    assert_eq!(
        report["files"].as_array().unwrap().len(),
        2,
        "nothing outside was scanned"
    );
    for path in ["m.pkl", "n.pkl"] {
        let chain = findings_of(file(&report, path), "cross-file-reference");
        assert!(
            chain[0]["message"]
                .as_str()
                .unwrap()
                .contains("outside the repository: it was not read"),
            "{chain:?}"
        );
    }
}

#[test]
fn a_sharded_checkpoint_index_with_a_smuggled_shard_is_reported() {
    let repo = repo_with("sharded");
    let report = scan_in(&repo, &["."]);
    let smuggled = file(&report, "extra_weights.cache");
    assert_eq!(
        smuggled["verdict"], "malicious",
        "scanned although .cache is no model extension"
    );
    assert_eq!(smuggled["reached_from"], "pytorch_model.bin.index.json");
    let index = file(&report, "pytorch_model.bin.index.json");
    assert_eq!(index["format"], "shard-index");
    assert_eq!(index["verdict"], "malicious");
    let messages: Vec<&str> = findings_of(index, "cross-file-reference")
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m
            .contains("lists `extra_weights.cache` as a shard, outside the series `pytorch_model-NNNNN-of-00002.bin`")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`pytorch_model-00003-of-00002.bin`") && m.contains("not in the repository")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`extra_weights.cache`") && m.contains("which is malicious")),
        "{messages:#?}"
    );
    assert_eq!(file(&report, "pytorch_model-00001-of-00002.bin")["verdict"], "clean");
}

#[test]
fn auto_map_modules_are_reported_as_code_that_runs_on_load() {
    let repo = repo_with("remote_code");
    let report = scan_in(&repo, &["."]);
    let config = file(&report, "config.json");
    assert_eq!(config["format"], "hf-config");
    let messages: Vec<&str> = findings_of(config, "remote-code")
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("`modeling_x.py`, in this repository")));
    assert!(messages
        .iter()
        .any(|m| m.contains("`configuration_x.py`, which is not in the repository")));
    assert_eq!(config["verdict"], "suspicious");
}

#[test]
fn a_tracked_configuration_is_read_whatever_gitignore_says() {
    let repo = repo_with("remote_code");
    repo.put(".gitignore", b"*.json\n");
    repo.git(&["add", "-f", "."]);
    repo.commit("configuration committed past .gitignore");
    let report = scan_in(&repo, &["."]);
    assert_eq!(file(&report, "config.json")["verdict"], "suspicious");
}

#[test]
fn the_configuration_beside_a_tracked_model_in_an_ignored_folder_is_read() {
    // The walk skips `models/`; the model there is tracked, so it is scanned, and following
    // reads its folder's configuration as it would a walked folder's.
    let repo = repo_with_in("remote_code", "models/");
    repo.put(".gitignore", b"models/\n");
    repo.git(&["add", "-f", "."]);
    repo.commit("models committed past .gitignore");
    let report = scan_in(&repo, &["."]);
    assert_eq!(file(&report, "models/pytorch_model.bin")["format"], "pickle");
    assert_eq!(file(&report, "models/config.json")["verdict"], "suspicious");
}

#[test]
fn the_configuration_beside_a_model_named_one_by_one_is_read() {
    let repo = repo_with_in("remote_code", "other/");
    repo.put("models/README.md", b"models\n");
    let report = scan_in(&repo, &["models", "other/pytorch_model.bin"]);
    assert_eq!(file(&report, "other/config.json")["verdict"], "suspicious");
}

#[test]
fn payloads_say_which_loader_path_runs_them() {
    let report = scan_json(&[
        "fixtures/containers/torch/payload_data_pkl.pt",
        "fixtures/containers/torch/extra_pickle_member.pt",
    ]);
    let path_of = |file: &str| {
        file_ending(&report, file)["findings"][0]["loader_path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(path_of("payload_data_pkl.pt").contains("retries with weights_only=False"));
    assert!(path_of("extra_pickle_member.pt").contains("torch.load never reads `archive/extra.pkl`"));
}

#[test]
fn load_estimates_predict_what_a_load_would_cost() {
    let report = scan_json(&[
        "fixtures/pickle/evasive/billion_laughs_memo_p2.pkl",
        "fixtures/containers/torch/forged_storage_size.pt",
        "fixtures/containers/torch/state_dict.pt",
    ]);
    let estimate = |name: &str| file_ending(&report, name)["load_estimate"].clone();
    assert!(estimate("billion_laughs_memo_p2.pkl")["objects"].as_u64().unwrap() > 100_000_000);
    assert_eq!(estimate("forged_storage_size.pt")["tensor_bytes"], 4u64 << 30);
    // nn.Linear(2, 2): 4 + 2 floats.
    assert_eq!(estimate("state_dict.pt")["tensor_bytes"], 24);
}

#[test]
fn serialized_code_is_rated_by_what_it_can_reach() {
    let cases = [
        ("cloudpickle_lambda_numpy_p4.pkl", "medium", "builds-code"),
        ("cloudpickle_lambda_os_system_p4.pkl", "high", "runs-code"),
        ("cloudpickle_lambda_subclasses_p4.pkl", "high", "runs-code"),
        ("cloudpickle_lambda_handed_p4.pkl", "high", "runs-code"),
        ("cloudpickle_lambda_called_p4.pkl", "critical", "runs-code"),
    ];
    let paths: Vec<String> = cases
        .iter()
        .map(|(f, ..)| format!("fixtures/pickle/code/{f}"))
        .collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let report = scan_json(&refs);
    for (fixture, severity, behaviour) in cases {
        let file = file_ending(&report, fixture);
        let finding = file["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "code-object")
            .unwrap_or_else(|| panic!("{fixture}: no code-object finding"));
        assert_eq!(finding["severity"], severity, "{fixture}: {finding}");
        let ids = behaviour_ids(file);
        assert_eq!(ids, [behaviour], "{fixture}");
    }
    let plain = &file_ending(&report, "numpy_p4.pkl")["findings"][0]["message"];
    assert!(plain.as_str().unwrap().contains("log1p, np"), "{plain}");
}
