//! Every fixture gets the verdict its manifest states, through the real binary.

use crate::common::{manifest, picklegate};

#[test]
fn fixture_verdicts_match_the_manifest() {
    let output = picklegate().args(["scan", "fixtures/pickle", "--format", "json", "--fail-on", "none"]).output().expect("runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let files = report["files"].as_array().expect("files");
    let mut failures = Vec::new();
    for entry in manifest() {
        let path = format!("fixtures/{}", entry.path);
        let Some(file) = files.iter().find(|f| f["path"] == path.as_str()) else {
            failures.push(format!("{path}: not scanned"));
            continue;
        };
        let verdict = file["verdict"].as_str().unwrap_or_default();
        if verdict != entry.expect {
            failures.push(format!("{path}: expected {}, got {verdict} ({})", entry.expect, entry.what));
        }
        if let Some(call) = &entry.call {
            let targets: Vec<&str> = file["findings"].as_array().into_iter().flatten().filter_map(|f| f["target"].as_str()).collect();
            let canonical = call.replace("posix.", "os.");
            if !targets.iter().any(|t| t.ends_with(&canonical) || t.replace("posix.", "os.").ends_with(&canonical)) {
                failures.push(format!("{path}: no finding names {call} (targets: {targets:?})"));
            }
        }
    }
    assert!(failures.is_empty(), "{} fixtures disagree:\n{}", failures.len(), failures.join("\n"));
}
