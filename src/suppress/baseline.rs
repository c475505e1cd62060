//! The baseline file (`.picklegate-baseline.json`): alerts a team reviewed and accepted. A scan
//! with a baseline fails only on alerts that are not in it. High and critical alerts match only
//! when the file's SHA-256 matches too (strict); lower ones match by fingerprint (semantic).

use crate::model::{Severity, Suppression, SuppressionKind};
use crate::scan::FileReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FILE_NAME: &str = ".picklegate-baseline.json";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    /// Fingerprint algorithm of the entries.
    pub fingerprint: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub fingerprint: String,
    pub rule: String,
    /// Path from the repository root.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    pub severity: Severity,
    /// Callables the alert is about (dotted paths), for the reader.
    #[serde(default)]
    pub callables: Vec<String>,
    /// SHA-256 of the file's content when the entry was made (a Git LFS pointer's oid).
    pub sha256: Option<String>,
    /// Day the alert was first accepted (YYYY-MM-DD).
    pub first_seen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BaselineError {
    pub path: String,
    pub message: String,
}

impl Baseline {
    pub fn new(entries: Vec<Entry>) -> Baseline {
        let mut baseline = Baseline {
            version: VERSION,
            fingerprint: super::fingerprint::ALGORITHM.to_string(),
            entries,
        };
        baseline.sort();
        baseline
    }

    /// Parses a baseline; anything malformed is an error naming the file and the entry.
    pub fn parse(text: &str, path: &str) -> Result<Baseline, BaselineError> {
        let error = |message: String| BaselineError {
            path: path.to_string(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| error(format!("not a baseline file (invalid JSON: {e})")))?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => {
                return Err(error(format!(
                    "baseline version {v} is not supported (this picklegate reads version {VERSION}); upgrade picklegate or recreate the baseline"
                )))
            }
            None => return Err(error("no `version`: not a picklegate baseline".into())),
        }
        match value.get("fingerprint").and_then(serde_json::Value::as_str) {
            Some(super::fingerprint::ALGORITHM) => {}
            other => {
                return Err(error(format!(
                    "fingerprint algorithm `{}` is not `{}`; recreate the baseline",
                    other.unwrap_or("(none)"),
                    super::fingerprint::ALGORITHM
                )))
            }
        }
        let entries = value
            .get("entries")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| error("no `entries` array".into()))?;
        let mut parsed = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let entry: Entry = serde_json::from_value(entry.clone())
                .map_err(|e| error(format!("entry {} is malformed: {e}", i + 1)))?;
            let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !hex(&entry.fingerprint) {
                return Err(error(format!(
                    "entry {} ({}): `fingerprint` is not 64 lowercase hex digits",
                    i + 1,
                    entry.path
                )));
            }
            if entry.sha256.as_deref().is_some_and(|s| !hex(s)) {
                return Err(error(format!(
                    "entry {} ({}): `sha256` is not 64 lowercase hex digits",
                    i + 1,
                    entry.path
                )));
            }
            if entry.severity >= Severity::High && entry.sha256.is_none() {
                return Err(error(format!(
                    "entry {} ({}): a {} entry needs the file's `sha256`",
                    i + 1,
                    entry.path,
                    entry.severity
                )));
            }
            parsed.push(entry);
        }
        Ok(Baseline::new(parsed))
    }

    pub fn render(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("baseline types serialize");
        out.push('\n');
        out
    }

    fn sort(&mut self) {
        self.entries.sort_by(|a, b| {
            (&a.path, &a.member, &a.rule, &a.fingerprint).cmp(&(&b.path, &b.member, &b.rule, &b.fingerprint))
        });
        self.entries.dedup();
    }

    /// The entry that accepts an alert, if any. `strict` (high and critical alerts, and every
    /// alert of a file that could not be fully analysed) also needs the same file content.
    pub fn find(&self, fingerprint: &str, strict: bool, sha256: Option<&str>) -> Option<usize> {
        self.entries.iter().position(|e| {
            e.fingerprint == fingerprint && (!strict || (sha256.is_some() && e.sha256.as_deref() == sha256))
        })
    }

    /// Whether any entry is about `path` (entries are sorted by path).
    pub fn covers(&self, path: &str) -> bool {
        let i = self.entries.partition_point(|e| e.path.as_str() < path);
        self.entries.get(i).is_some_and(|e| e.path == path)
    }

    /// Entries of `path` made when its content had this SHA-256.
    pub fn reviewed_content(&self, path: &str, sha256: &str) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].path == path && self.entries[i].sha256.as_deref() == Some(sha256))
            .collect()
    }

    pub fn suppression(&self, index: usize, source: &str) -> Suppression {
        let entry = &self.entries[index];
        Suppression {
            kind: SuppressionKind::Baseline,
            reason: entry
                .reason
                .clone()
                .unwrap_or_else(|| format!("in the baseline since {}", entry.first_seen)),
            source: source.to_string(),
            owner: None,
            expires: None,
            ticket: None,
        }
    }
}

impl Baseline {
    /// The baseline without its stale entries: entries of scanned files that no alert
    /// matches any more (the finding is gone or, for high and critical ones, the content
    /// changed), and entries of files that no longer exist. Returns it and how many went.
    pub fn prune(&self, files: &[FileReport], exists: impl Fn(&str) -> bool) -> (Baseline, usize) {
        let scanned: BTreeMap<&str, &FileReport> = files.iter().map(|f| (f.repo_path.as_str(), f)).collect();
        let kept: Vec<Entry> = self
            .entries
            .iter()
            .filter(|entry| match scanned.get(entry.path.as_str()) {
                // A Git LFS pointer to the reviewed content keeps its entries.
                Some(file) if file.format == "lfs-pointer" => file.sha256.is_some() && file.sha256 == entry.sha256,
                Some(file) => file_matches(file, entry),
                None => exists(&entry.path),
            })
            .cloned()
            .collect();
        let removed = self.entries.len() - kept.len();
        (Baseline::new(kept), removed)
    }
}

fn file_matches(file: &FileReport, entry: &Entry) -> bool {
    let mut severity = None;
    for finding in &file.findings {
        if finding.fingerprint.as_deref() == Some(entry.fingerprint.as_str()) {
            severity = severity.max(Some(finding.severity));
        }
    }
    let single = Baseline {
        version: VERSION,
        fingerprint: super::fingerprint::ALGORITHM.to_string(),
        entries: vec![entry.clone()],
    };
    severity.is_some_and(|s| {
        single
            .find(&entry.fingerprint, strict(s, file), file.sha256.as_deref())
            .is_some()
    })
}

/// Whether an alert needs the file's exact content to match a baseline entry.
pub fn strict(severity: Severity, file: &FileReport) -> bool {
    severity >= Severity::High || file.incomplete
}

/// Entries for every alert of the files that is not suppressed, keeping `first_seen` (and
/// reasons) of alerts already in `previous`.
pub fn entries_for(files: &[FileReport], previous: Option<&Baseline>, today: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for file in files {
        let mut alerts: BTreeMap<&str, Vec<&crate::model::Finding>> = BTreeMap::new();
        for finding in &file.findings {
            if let (Some(fp), None) = (&finding.fingerprint, &finding.suppression) {
                alerts.entry(fp).or_default().push(finding);
            }
        }
        for (fingerprint, findings) in alerts {
            let severity = findings.iter().map(|f| f.severity).max().unwrap_or(Severity::Info);
            let mut callables: Vec<String> = findings.iter().filter_map(|f| f.target.clone()).collect();
            callables.sort();
            callables.dedup();
            // The same alert on the same content keeps its history; new content is a new review.
            let earlier = previous.and_then(|b| {
                b.find(fingerprint, strict(severity, file), file.sha256.as_deref())
                    .map(|i| &b.entries[i])
            });
            out.push(Entry {
                fingerprint: fingerprint.to_string(),
                rule: findings[0].rule.clone(),
                path: file.repo_path.clone(),
                member: findings[0].location.member.clone(),
                severity,
                callables,
                sha256: file.sha256.clone(),
                first_seen: earlier.map_or_else(|| today.to_string(), |e| e.first_seen.clone()),
                reason: earlier.and_then(|e| e.reason.clone()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(severity: Severity) -> Entry {
        Entry {
            fingerprint: "a".repeat(64),
            rule: "dangerous-call".into(),
            path: "m.pkl".into(),
            member: None,
            severity,
            callables: vec!["os.system".into()],
            sha256: Some("b".repeat(64)),
            first_seen: "2026-11-26".into(),
            reason: None,
        }
    }

    #[test]
    fn high_alerts_need_the_same_content() {
        let baseline = Baseline::new(vec![entry(Severity::Critical)]);
        let fp = "a".repeat(64);
        assert_eq!(baseline.find(&fp, true, Some(&"b".repeat(64))), Some(0));
        assert_eq!(baseline.find(&fp, true, Some(&"c".repeat(64))), None);
        assert_eq!(baseline.find(&fp, true, None), None);
        assert_eq!(baseline.find(&fp, false, Some(&"c".repeat(64))), Some(0));
    }

    #[test]
    fn round_trips_and_rejects_what_it_cannot_trust() {
        let baseline = Baseline::new(vec![entry(Severity::Critical)]);
        let text = baseline.render();
        assert_eq!(Baseline::parse(&text, "b.json").unwrap().entries, baseline.entries);
        for (bad, needle) in [
            ("{", "invalid JSON"),
            (
                "{\"version\": 2, \"fingerprint\": \"picklegate/v1\", \"entries\": []}",
                "version 2",
            ),
            ("{\"entries\": []}", "no `version`"),
            (
                "{\"version\": 1, \"fingerprint\": \"picklegate/v0\", \"entries\": []}",
                "algorithm",
            ),
            (&text.replace("\"rule\"", "\"rulez\""), "entry 1 is malformed"),
            (&text.replace(&"b".repeat(64), "xyz"), "entry 1 (m.pkl): `sha256`"),
            (
                &text.replace(&format!("\"sha256\": \"{}\"", "b".repeat(64)), "\"sha256\": null"),
                "needs the file's `sha256`",
            ),
        ] {
            let err = Baseline::parse(bad, "b.json").unwrap_err().to_string();
            assert!(err.starts_with("b.json: "), "{err}");
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
