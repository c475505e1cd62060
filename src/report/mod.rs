//! Reporters: each renders a finished [`ScanOutcome`] and never re-opens files. Code-scanning
//! formats report alerts (one per rule, file and member, listing every offending call); JSON and
//! text keep every finding.

pub mod decompile;
pub mod github;
pub mod gitlab;
pub mod json;
pub mod junit;
pub mod sarif;
pub mod text;

use crate::model::{Finding, Severity, Suppression};
use crate::scan::{FileReport, ScanOutcome};

/// Where rule pages are published, per release.
pub fn rule_help_uri(id: &str) -> String {
    format!(
        "https://github.com/picklegate/picklegate/blob/v{}/docs/rules/{id}.md",
        env!("CARGO_PKG_VERSION")
    )
}

pub const INFORMATION_URI: &str = "https://github.com/picklegate/picklegate";

/// One rule's findings in one member of one file: the unit code scanning tracks.
pub struct Alert<'o> {
    pub file: &'o FileReport,
    pub rule: &'o str,
    pub member: Option<&'o str>,
    /// In location order.
    pub findings: Vec<&'o Finding>,
    pub severity: Severity,
    pub fingerprint: &'o str,
    pub suppression: Option<&'o Suppression>,
}

impl Alert<'_> {
    /// What the alert says: the finding's message, or each distinct message in turn, cut to
    /// `limit` characters (code-scanning consumers truncate or drop longer messages).
    pub fn message(&self, limit: usize) -> String {
        let mut messages: Vec<&str> = Vec::new();
        for finding in &self.findings {
            if !messages.contains(&finding.message.as_str()) {
                messages.push(&finding.message);
            }
        }
        let mut text = if messages.len() == 1 {
            messages[0].to_string()
        } else {
            format!("{} findings: {}", messages.len(), messages.join("; "))
        };
        if let Some(member) = self.member {
            text.push_str(&format!(" (in {member})"));
        }
        truncate(&text, limit)
    }

    /// The reconstructed calls (or callables) the alert is about, distinct, in order.
    pub fn calls(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for finding in &self.findings {
            if let Some(call) = finding.call.as_deref().or(finding.target.as_deref()) {
                if !out.contains(&call) {
                    out.push(call);
                }
            }
        }
        out
    }

    /// The first finding with an explanation: why it matters and what to do.
    pub fn explanation(&self) -> Option<&str> {
        self.findings.iter().find_map(|f| f.explanation.as_deref())
    }

    /// The decompiled lines of the alert's first finding that has them.
    pub fn excerpt(&self) -> Option<&str> {
        self.findings.iter().find_map(|f| f.excerpt.as_deref())
    }

    /// Ids of the behaviours the alert's findings show.
    pub fn behaviours(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self
            .findings
            .iter()
            .filter_map(|f| crate::analyze::behaviours::of_finding(f))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The first finding's offset, when it has one.
    pub fn offset(&self) -> Option<u64> {
        self.findings.iter().find_map(|f| f.location.offset)
    }
}

/// Every alert of the outcome, ordered by path, member and rule. Suppressed alerts are left out
/// unless `include_suppressed`.
pub fn alerts(outcome: &ScanOutcome, include_suppressed: bool) -> Vec<Alert<'_>> {
    let mut out = Vec::new();
    for file in &outcome.files {
        out.extend(
            file_alerts(file)
                .into_iter()
                .filter(|a| include_suppressed || a.suppression.is_none()),
        );
    }
    out
}

/// The alerts of one file, ordered by member and rule.
pub fn file_alerts(file: &FileReport) -> Vec<Alert<'_>> {
    let mut groups: std::collections::BTreeMap<(String, &str, &str), Vec<&Finding>> = Default::default();
    for finding in &file.findings {
        let member = crate::suppress::fingerprint::member_key(finding.location.member.as_deref());
        let fingerprint = finding.fingerprint.as_deref().unwrap_or("");
        groups
            .entry((member, &finding.rule, fingerprint))
            .or_default()
            .push(finding);
    }
    groups
        .into_iter()
        .map(|((_, rule, fingerprint), findings)| Alert {
            file,
            rule,
            member: findings[0].location.member.as_deref(),
            severity: findings.iter().map(|f| f.severity).max().unwrap_or(Severity::Info),
            suppression: findings[0].suppression.as_ref(),
            fingerprint,
            findings,
        })
        .collect()
}

/// `text` cut to at most `limit` characters, marked with an ellipsis when cut.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The files whose analysis did not finish (never clean), with why.
pub fn incomplete_reason(file: &FileReport) -> Option<String> {
    if let Some(error) = &file.error {
        return Some(format!("could not be read: {error}"));
    }
    if !file.incomplete {
        return None;
    }
    let coverage: Vec<&str> = file
        .findings
        .iter()
        .filter(|f| COVERAGE_RULES.contains(&f.rule.as_str()))
        .map(|f| f.message.as_str())
        .collect();
    Some(if coverage.is_empty() {
        "not fully analysed".to_string()
    } else {
        format!("not fully analysed: {}", coverage.join("; "))
    })
}

/// Rules that say a part of the file could not be analysed.
const COVERAGE_RULES: &[&str] = &[
    "malformed-pickle",
    "malformed-container",
    "limit-exceeded",
    "unscannable-content",
    "lfs-pointer",
    "resource-expansion",
];

/// A severity as GitHub and GitLab score it (`security-severity`, 0.1–10).
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.8",
        Severity::High => "8.1",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.5",
    }
}

/// A `ScanOutcome` of hand-made findings for reporter tests and snapshots.
#[cfg(test)]
pub(crate) mod sample {
    use crate::model::{Confidence, Finding, Severity, Suppression, SuppressionKind};
    use crate::scan::{FileReport, ScanOutcome};

    pub fn outcome() -> ScanOutcome {
        let mut system = Finding::new(
            "dangerous-call",
            Severity::Critical,
            Confidence::High,
            "loading this file calls os.system('true'): runs a shell command".into(),
        )
        .at(Some("archive/data.pkl"), Some(23), Some("REDUCE"))
        .with_explanation("os.system — runs a shell command. Loading weights never needs to run a program.");
        system.target = Some("os.system".into());
        system.call = Some("os.system('true')".into());
        let mut eval = system.clone();
        eval.message = "loading this file calls builtins.eval('1+1'): evaluates Python".into();
        eval.target = Some("builtins.eval".into());
        eval.call = Some("builtins.eval('1+1')".into());
        eval.location.offset = Some(60);
        let mut unknown = Finding::new(
            "unknown-global",
            Severity::Medium,
            Confidence::Medium,
            "calls mypkg.Net, which no framework allowlist covers".into(),
        )
        .at(Some("archive/data.pkl"), Some(80), Some("REDUCE"));
        unknown.target = Some("mypkg.Net".into());
        unknown.call = Some("mypkg.Net()".into());
        let mut accepted = unknown.clone();
        accepted.suppression = Some(Suppression {
            kind: SuppressionKind::Suppress,
            reason: "our own class, reviewed".into(),
            source: "picklegate.toml".into(),
            owner: Some("ml-platform".into()),
            expires: Some("2027-06-30".into()),
            ticket: None,
        });
        let truncated = Finding::new(
            "malformed-pickle",
            Severity::Info,
            Confidence::High,
            "the pickle ends at byte 12 before STOP\u{0}<&>\"".into(),
        )
        .at(None, Some(12), None);

        let mut files = vec![
            FileReport::for_test("models/evil.pt", vec![system, eval, unknown]),
            FileReport::for_test("models/ok.pkl", Vec::new()),
            FileReport::for_test("models/own class.pkl", vec![accepted]),
            FileReport::for_test("weird/tr\u{1}unc<ated>.pkl", vec![truncated]),
        ];
        files[0].sha256 = Some("ab".repeat(32));
        files[0].format = "torch-zip".into();
        files[0].frameworks = vec!["pytorch".into()];
        files[3].incomplete = true;
        files[3].verdict = crate::model::Verdict::Error;
        for file in &mut files {
            crate::suppress::fingerprint::assign(file);
        }
        let notices = vec![crate::suppress::Notice {
            level: crate::suppress::NoticeLevel::Warning,
            message: "picklegate.toml: [[suppress]] entry 2 (rule unknown-global) matched no finding".into(),
        }];
        let summary = crate::scan::summarize(&files, Some(Severity::High), &notices);
        ScanOutcome {
            files,
            summary,
            notices,
        }
    }
}
