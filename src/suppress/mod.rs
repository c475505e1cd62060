//! What a team accepted: fingerprints of alerts, `[[allow]]`/`[[suppress]]` entries and the
//! baseline file, applied to a finished scan. Suppressed findings stay in the outcome, marked,
//! so reports can show them when asked; only the gate ignores them.

pub mod baseline;
pub mod config_rules;
pub mod fingerprint;

use crate::model::Severity;
use crate::scan::FileReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Something about the team's accepted entries that the user must hear: an expired or unused
/// entry, one that could not accept a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeLevel {
    Warning,
    /// Fails the gate (`--strict-suppressions`).
    Error,
}

/// Everything that can accept a finding.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: config_rules::ConfigRules,
    /// The baseline and the file it came from.
    pub baseline: Option<(baseline::Baseline, String)>,
    /// Entries that matched nothing fail the gate.
    pub strict: bool,
    /// Report entries that matched nothing (off when only changed or staged files are
    /// scanned: most entries then have nothing to match).
    pub report_unused: bool,
}

/// Marks the findings the policy accepts and returns the notices about the policy itself.
/// Expects fingerprints already assigned.
pub fn apply(files: &mut [FileReport], policy: &Policy) -> Vec<Notice> {
    let mut notices = policy.rules.notices.clone();
    let mut suppress_used = vec![false; policy.rules.suppress.len()];
    let mut baseline_used = vec![false; policy.baseline.as_ref().map_or(0, |(b, _)| b.entries.len())];
    for file in files.iter_mut() {
        let mut alerts: BTreeMap<String, (String, Severity)> = BTreeMap::new();
        for finding in &file.findings {
            if let Some(fp) = &finding.fingerprint {
                let slot = alerts
                    .entry(fp.clone())
                    .or_insert((finding.rule.clone(), finding.severity));
                slot.1 = slot.1.max(finding.severity);
            }
        }
        let mut decided = std::collections::HashMap::with_capacity(alerts.len());
        for (fingerprint, (rule, severity)) in alerts {
            let by_entry = policy
                .rules
                .suppress
                .iter()
                .enumerate()
                .find(|(_, r)| r.matches(&rule, &file.repo_path, &fingerprint, severity));
            let suppression = if let Some((i, entry)) = by_entry {
                suppress_used[i] = true;
                Some(entry.suppression.clone())
            } else if let Some((baseline, source)) = &policy.baseline {
                let strict = baseline::strict(severity, file);
                let found = baseline.find(&fingerprint, strict, file.sha256.as_deref()).map(|i| {
                    baseline_used[i] = true;
                    baseline.suppression(i, source)
                });
                // A Git LFS pointer names its content by SHA-256: content reviewed into the
                // baseline is recognised without fetching it.
                found.or_else(|| {
                    let oid = file
                        .sha256
                        .as_deref()
                        .filter(|_| rule == crate::rules::lfs_pointer::META.id)?;
                    let reviewed: Vec<usize> = baseline.reviewed_content(&file.repo_path, oid);
                    for &i in &reviewed {
                        baseline_used[i] = true;
                    }
                    let first = *reviewed.first()?;
                    let mut suppression = baseline.suppression(first, source);
                    suppression.reason = format!(
                        "the pointer's content (sha256 {}) was reviewed into the baseline on {}",
                        &oid[..16.min(oid.len())],
                        baseline.entries[first].first_seen
                    );
                    Some(suppression)
                })
            } else {
                None
            };
            if suppression.is_none() {
                for entry in policy
                    .rules
                    .suppress
                    .iter()
                    .filter(|r| r.blocked_by_severity(&rule, &file.repo_path, severity))
                {
                    notices.push(Notice {
                        level: NoticeLevel::Warning,
                        message: format!(
                            "{}: {} does not accept the {severity} {rule} alert in {}: high and critical alerts are accepted only by fingerprint ({})",
                            entry.suppression.source, entry.label, file.repo_path, fingerprint
                        ),
                    });
                }
            }
            decided.insert(fingerprint, suppression);
        }
        // One pass over the findings: a zip of 16,000 members has 16,000 fingerprints.
        for finding in file.findings.iter_mut() {
            if let Some(suppression) = finding.fingerprint.as_ref().and_then(|fp| decided.get(fp)) {
                finding.suppression = suppression.clone();
            }
        }
    }
    if !policy.report_unused {
        return notices;
    }
    let unused_level = if policy.strict {
        NoticeLevel::Error
    } else {
        NoticeLevel::Warning
    };
    for (entry, used) in policy.rules.suppress.iter().zip(&suppress_used) {
        if !used {
            notices.push(Notice {
                level: unused_level,
                message: format!(
                    "{}: {} matched no finding; remove it if the file is gone",
                    entry.suppression.source, entry.label
                ),
            });
        }
    }
    for allow in &policy.rules.allow {
        let pattern = allow.pattern.to_string();
        if !files.iter().any(|f| f.allowed.contains(&pattern)) {
            notices.push(Notice {
                level: unused_level,
                message: format!(
                    "{}: {} matched no global in the scanned files",
                    policy.rules.source, allow.label
                ),
            });
        }
    }
    if let Some((baseline, source)) = &policy.baseline {
        // Only entries of files this scan read can be known to be stale.
        let scanned: std::collections::HashSet<&str> = files.iter().map(|f| f.repo_path.as_str()).collect();
        let unused: Vec<&baseline::Entry> = baseline
            .entries
            .iter()
            .zip(&baseline_used)
            .filter(|(e, used)| !**used && scanned.contains(e.path.as_str()))
            .map(|(e, _)| e)
            .collect();
        if !unused.is_empty() {
            let mut listed: Vec<String> = unused
                .iter()
                .take(10)
                .map(|e| format!("{} in {}", e.rule, e.path))
                .collect();
            if unused.len() > 10 {
                listed.push(format!("and {} more", unused.len() - 10));
            }
            notices.push(Notice {
                level: unused_level,
                message: format!(
                    "{source}: {} matched nothing in this scan ({}); `picklegate baseline prune` removes {}",
                    if unused.len() == 1 {
                        "1 baseline entry".to_string()
                    } else {
                        format!("{} baseline entries", unused.len())
                    },
                    listed.join(", "),
                    if unused.len() == 1 { "it" } else { "them" }
                ),
            });
        }
    }
    notices
}
