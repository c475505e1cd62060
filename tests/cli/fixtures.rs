//! Every fixture gets the verdict its manifest states, through the real binary.

use crate::common::{container_manifest, manifest, picklegate, ManifestEntry};
use serde_json::Value;

fn scan_all(entries: &[ManifestEntry]) -> Vec<Value> {
    let mut cmd = picklegate();
    cmd.args(["scan", "--format", "json", "--fail-on", "none"]);
    for entry in entries {
        cmd.arg(format!("fixtures/{}", entry.path));
    }
    let output = cmd.output().expect("runs");
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    report["files"].as_array().expect("files").clone()
}

fn check(entries: &[ManifestEntry]) -> Vec<String> {
    let files = scan_all(entries);
    let mut failures = Vec::new();
    for entry in entries {
        let path = format!("fixtures/{}", entry.path);
        let Some(file) = files.iter().find(|f| f["path"] == path.as_str()) else {
            failures.push(format!("{path}: not scanned"));
            continue;
        };
        let verdict = file["verdict"].as_str().unwrap_or_default();
        if verdict != entry.expect {
            failures.push(format!(
                "{path}: expected {}, got {verdict} ({})",
                entry.expect, entry.what
            ));
        }
        let findings: Vec<&Value> = file["findings"].as_array().into_iter().flatten().collect();
        if let Some(call) = &entry.call {
            let canonical = call.replace("posix.", "os.");
            let named = findings
                .iter()
                .filter_map(|f| f["target"].as_str())
                .any(|t| t.replace("posix.", "os.").ends_with(&canonical));
            if !named {
                failures.push(format!("{path}: no finding names {call}"));
            }
        }
        if let Some(format) = &entry.format {
            let got = file["format"].as_str().unwrap_or_default();
            let outermost = got.split(['/', '+']).next().unwrap_or_default();
            if outermost != format && got != format {
                failures.push(format!("{path}: read as {got}, expected {format}"));
            }
        }
        if let (Some(member), "malicious") = (&entry.member, entry.expect.as_str()) {
            let wanted = member.replace('!', "/");
            let located = findings
                .iter()
                .filter(|f| matches!(f["severity"].as_str(), Some("high" | "critical")))
                .filter_map(|f| f["member"].as_str())
                .any(|m| m.starts_with(&wanted) || wanted.starts_with(m));
            if !located {
                failures.push(format!("{path}: no high or critical finding located in {member}"));
            }
        }
    }
    failures
}

#[test]
fn pickle_fixture_verdicts_match_the_manifest() {
    let failures = check(&manifest());
    assert!(
        failures.is_empty(),
        "{} fixtures disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn container_fixture_verdicts_formats_and_members_match_the_manifest() {
    let entries = container_manifest();
    assert!(entries.len() >= 80, "only {} container fixtures", entries.len());
    let failures = check(&entries);
    assert!(
        failures.is_empty(),
        "{} fixtures disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
