//! Every reporter on a fixed set of fixtures: validated against the vendored schemas
//! (tests/schemas), byte-identical whatever the thread count, and pinned by snapshots.

use crate::common::{picklegate, root};
use serde_json::Value;

/// A malicious pickle, a torch zip with a payload member, a benign pickle, a truncated one.
const FILES: &[&str] = &[
    "fixtures/pickle/malicious/os_system_p2.pkl",
    "fixtures/containers/torch/payload_data_pkl.pt",
    "fixtures/pickle/benign/data_p2.pkl",
    "fixtures/pickle/evasive/truncated_benign_p4.pkl",
];

/// Runs a scan of FILES writing every report; returns them by format name.
fn reports(jobs: &str) -> std::collections::BTreeMap<&'static str, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let output = picklegate()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        .args([
            "scan", "--quiet", "--color", "never", "--jobs", jobs, "--format", "github",
        ])
        .args([
            "--sarif",
            &path("r.sarif"),
            "--junit",
            &path("r.xml"),
            "--json",
            &path("r.json"),
        ])
        .args([
            "--gitlab-sast",
            &path("gl.json"),
            "--markdown",
            &path("r.md"),
            "--output",
            &path("r.gh"),
        ])
        .args(FILES)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = picklegate()
        .args(["scan", "--quiet", "--color", "never", "--jobs", jobs])
        .args(FILES)
        .output()
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    std::collections::BTreeMap::from([
        ("sarif", read("r.sarif")),
        ("junit", read("r.xml")),
        ("json", read("r.json")),
        ("gitlab", read("gl.json")),
        ("markdown", read("r.md")),
        ("github", read("r.gh")),
        ("text", String::from_utf8(text.stdout).unwrap()),
    ])
}

fn validator(schema: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("tests/schemas").join(schema)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options().build(&schema).expect("schema compiles")
}

fn assert_valid(schema: &str, document: &str) {
    let value: Value = serde_json::from_str(document).unwrap();
    let validator = validator(schema);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema}: {errors:#?}");
}

#[test]
fn sarif_and_gitlab_reports_follow_their_schemas() {
    let reports = reports("2");
    assert_valid("sarif-schema-2.1.0.json", &reports["sarif"]);
    assert_valid("gitlab-sast-report-format-15.2.1.json", &reports["gitlab"]);
    // The schemas are not vacuous: a broken document fails.
    let mut broken: Value = serde_json::from_str(&reports["sarif"]).unwrap();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!validator("sarif-schema-2.1.0.json").is_valid(&broken));
    let mut broken: Value = serde_json::from_str(&reports["gitlab"]).unwrap();
    broken["scan"]["start_time"] = Value::from("2023-11-14T22:13:20Z");
    assert!(!validator("gitlab-sast-report-format-15.2.1.json").is_valid(&broken));
}

#[test]
fn reports_are_the_same_bytes_whatever_the_thread_count() {
    assert_eq!(reports("1"), reports("2"));
}

#[test]
fn sarif_alerts_carry_fingerprints_regions_and_members() {
    let reports = reports("2");
    let sarif: Value = serde_json::from_str(&reports["sarif"]).unwrap();
    let run = &sarif["runs"][0];
    assert_eq!(run["automationDetails"]["id"], "picklegate/");
    let results = run["results"].as_array().unwrap();
    let torch = results
        .iter()
        .find(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                == "fixtures/containers/torch/payload_data_pkl.pt"
        })
        .expect("torch alert");
    assert_eq!(torch["ruleId"], "dangerous-call");
    assert_eq!(torch["properties"]["picklegate/member"], "archive/data.pkl");
    let member_index = torch["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["index"]
        .as_u64()
        .unwrap();
    assert_eq!(
        run["artifacts"][member_index as usize]["location"]["uri"],
        "archive/data.pkl"
    );
    assert!(run["artifacts"][member_index as usize]["parentIndex"].is_u64());
    let fingerprints: Vec<&str> = results
        .iter()
        .map(|r| r["partialFingerprints"]["picklegate/v1"].as_str().unwrap())
        .collect();
    let mut unique = fingerprints.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), fingerprints.len(), "one alert per fingerprint");
    // The truncated file is reported as not fully analysed.
    let notes = run["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["message"]["text"]
        .as_str()
        .unwrap()
        .contains("truncated_benign_p4.pkl")));
}

#[test]
fn category_and_suppressed_results_are_options() {
    let output = picklegate()
        .args(["scan", "--quiet", "--format", "sarif", "--sarif-category", "models/a"])
        .arg(FILES[0])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["runs"][0]["automationDetails"]["id"], "models/a/");
}

#[test]
fn reports_are_written_even_when_one_cannot_be() {
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("r.sarif");
    let output = picklegate()
        .args(["scan", "--quiet", "--format", "json"])
        .arg("--junit")
        .arg(dir.path().join("missing-folder/r.xml"))
        .arg("--sarif")
        .arg(&sarif)
        .arg(FILES[0])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a failing reporter is an error exit");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot write"));
    assert!(sarif.is_file(), "the other reports are still written");
}

#[test]
fn github_format_writes_step_summary_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let outputs = dir.path().join("outputs");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let output = picklegate()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .args(["scan", "--quiet", "--format", "github"])
        .args(FILES)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.lines().all(|l| l.starts_with("::")), "{stdout}");
    assert!(stdout.contains(
        "::error file=fixtures/pickle/malicious/os_system_p2.pkl,line=1,title=picklegate dangerous-call (critical)::"
    ));
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("earlier step\n## picklegate: gate failed"),
        "{summary}"
    );
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        outputs.contains("gate=failed\n") && outputs.contains("files=4\n"),
        "{outputs}"
    );
}

#[test]
fn snapshots() {
    let reports = reports("2");
    let sarif: Value = serde_json::from_str(&reports["sarif"]).unwrap();
    // The rule descriptors are the rule pages (pinned elsewhere); the snapshot keeps their ids.
    let mut run = sarif["runs"][0].clone();
    let ids: Vec<Value> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    run["tool"]["driver"]["rules"] = Value::from(ids);
    let version = env!("CARGO_PKG_VERSION");
    let settings = {
        let mut s = insta::Settings::clone_current();
        s.add_filter(&regex_escape(version), "[VERSION]");
        s
    };
    settings.bind(|| {
        insta::assert_snapshot!("sarif_run", serde_json::to_string_pretty(&run).unwrap());
        insta::assert_snapshot!("junit", reports["junit"]);
        insta::assert_snapshot!("gitlab_sast", reports["gitlab"]);
        insta::assert_snapshot!("github_annotations", reports["github"]);
        insta::assert_snapshot!("markdown_summary", reports["markdown"]);
        insta::assert_snapshot!("text", reports["text"]);
        insta::assert_snapshot!("json", reports["json"]);
    });
}

fn regex_escape(text: &str) -> String {
    text.replace('.', "\\.")
}
