//! Fingerprint algorithm `picklegate/v1` (docs/baseline.md): the identity of an alert, that is
//! of one rule's findings in one member of one file. Stable across runs, machines, thread
//! counts and benign re-serialisation (no byte offsets, no file hash); different as soon as the
//! dangerous call or its arguments change, so an accepted alert never covers a swapped payload.

use crate::model::Finding;
use crate::scan::FileReport;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Name and version of the algorithm, as written in reports and baselines.
pub const ALGORITHM: &str = "picklegate/v1";

/// The alert a finding belongs to: its rule and its member, with offsets removed from member
/// names such as `nested@120` (a payload that moves is the same payload).
pub fn alert_key(finding: &Finding) -> (String, String) {
    (finding.rule.clone(), member_key(finding.location.member.as_deref()))
}

/// A member name without the byte offsets some logical streams carry (`nested@120`,
/// `frame-reading@40`).
pub fn member_key(member: Option<&str>) -> String {
    let Some(member) = member else {
        return String::new();
    };
    let mut out = String::with_capacity(member.len());
    let mut chars = member.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '@' {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        }
    }
    out
}

/// Computes the fingerprint of every alert of a file and stores it on its findings.
/// `repo_path` is the file's path relative to the repository root, with `/` separators.
pub fn assign(file: &mut FileReport) {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, finding) in file.findings.iter().enumerate() {
        groups.entry(alert_key(finding)).or_default().push(i);
    }
    for ((rule, member), indices) in groups {
        let evidence: BTreeSet<String> = indices.iter().filter_map(|&i| evidence(&file.findings[i])).collect();
        let value = compute(&rule, &file.repo_path, &member, &evidence);
        for i in indices {
            file.findings[i].fingerprint = Some(value.clone());
        }
    }
}

/// `callable NUL opcode NUL args-digest` for a finding about a callable; nothing for findings
/// about the file's structure (their identity is the rule, the path and the member).
fn evidence(finding: &Finding) -> Option<String> {
    let target = finding.target.as_deref()?;
    let opcode = finding.location.opcode.as_deref().unwrap_or("");
    let args = finding.call.as_deref().map_or_else(|| "?".to_string(), digest);
    Some(format!("{target}\0{opcode}\0{args}"))
}

fn compute(rule: &str, path: &str, member: &str, evidence: &BTreeSet<String>) -> String {
    let mut hasher = Sha256::new();
    for field in ["pgfp1", rule, path, member] {
        hasher.update(field.as_bytes());
        hasher.update([0]);
    }
    for item in evidence {
        hasher.update(item.as_bytes());
        hasher.update([0]);
    }
    crate::scan::hex(&hasher.finalize())
}

fn digest(text: &str) -> String {
    crate::scan::hex(&Sha256::digest(text.as_bytes()))
}

/// GitHub's `primaryLocationLineHash`: 16 hex digits of the fingerprint and an occurrence
/// counter, the shape CodeQL uses (there is one alert per fingerprint, so always `:1`).
pub fn primary_location_line_hash(fingerprint: &str) -> String {
    format!("{}:1", &fingerprint[..16.min(fingerprint.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Confidence, Severity};

    fn call(text: &str) -> Finding {
        let mut f = Finding::new("dangerous-call", Severity::Critical, Confidence::High, "m".into()).at(
            Some("data.pkl"),
            Some(10),
            Some("REDUCE"),
        );
        f.target = Some("os.system".into());
        f.call = Some(text.into());
        f
    }

    fn fingerprint(findings: Vec<Finding>, path: &str) -> String {
        let mut file = FileReport::for_test(path, findings);
        assign(&mut file);
        file.findings[0].fingerprint.clone().unwrap()
    }

    #[test]
    fn changes_with_the_arguments_but_not_with_offsets() {
        let a = fingerprint(vec![call("os.system('true')")], "m.pt");
        let mut moved = call("os.system('true')");
        moved.location.offset = Some(999);
        assert_eq!(a, fingerprint(vec![moved], "m.pt"));
        assert_ne!(a, fingerprint(vec![call("os.system('false')")], "m.pt"));
        assert_ne!(a, fingerprint(vec![call("os.system('true')")], "other.pt"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn one_fingerprint_per_rule_and_member() {
        let mut second = call("os.system('id')");
        second.location.offset = Some(50);
        let mut file = FileReport::for_test("m.pt", vec![call("os.system('true')"), second]);
        assign(&mut file);
        assert_eq!(file.findings[0].fingerprint, file.findings[1].fingerprint);
    }

    #[test]
    fn member_offsets_are_dropped() {
        assert_eq!(member_key(Some("data.pkl/nested@120")), "data.pkl/nested@");
        assert_eq!(member_key(Some("a@b")), "a@b");
        assert_eq!(member_key(None), "");
    }
}
