//! GitHub Actions: workflow-command annotations (`::error file=…::…`) for the most severe
//! alerts, a Markdown summary for `$GITHUB_STEP_SUMMARY`, and step outputs. GitHub shows only
//! ten annotations of each level per step, so each level gets its ten most severe and the rest
//! is counted in the summary.

use super::{alerts, incomplete_reason, Alert};
use crate::model::Severity;
use crate::scan::ScanOutcome;

const PER_LEVEL: usize = 10;
/// Rows of the summary's alert table (the step summary holds at most 1 MiB).
const SUMMARY_ROWS: usize = 100;

pub fn annotations(outcome: &ScanOutcome) -> String {
    let mut errors: Vec<(Severity, String)> = Vec::new();
    let mut warnings: Vec<(Severity, String)> = Vec::new();
    let mut notices: Vec<(Severity, String)> = Vec::new();
    for file in &outcome.files {
        if let Some(reason) = incomplete_reason(file) {
            if file.fails_gate(None) {
                errors.push((
                    Severity::High,
                    command(
                        "error",
                        &file.repo_path,
                        "picklegate: not fully analysed",
                        &format!("{reason}; never counted as clean"),
                    ),
                ));
            }
        }
    }
    let mut active = alerts(outcome, false);
    active.sort_by_key(|a| std::cmp::Reverse(a.severity));
    for alert in &active {
        let title = format!("picklegate {} ({})", alert.rule, alert.severity);
        let line = command(
            level(alert.severity),
            &alert.file.repo_path,
            &title,
            &annotation_text(alert),
        );
        match alert.severity {
            Severity::Critical | Severity::High => errors.push((alert.severity, line)),
            Severity::Medium => warnings.push((alert.severity, line)),
            Severity::Low => notices.push((alert.severity, line)),
            Severity::Info => {}
        }
    }
    let mut out = String::new();
    let mut hidden = 0;
    for mut group in [errors, warnings, notices] {
        group.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
        hidden += group.len().saturating_sub(PER_LEVEL);
        for (_, line) in group.into_iter().take(PER_LEVEL) {
            out.push_str(&line);
        }
    }
    if hidden > 0 {
        out.push_str(&format!(
            "::notice title=picklegate::{hidden} more findings are not annotated (GitHub shows ten per level); the step summary and the reports list them all\n"
        ));
    }
    out
}

fn annotation_text(alert: &Alert<'_>) -> String {
    let mut text = alert.message(900);
    if let Some(excerpt) = alert.excerpt() {
        text.push_str("\n\n");
        text.push_str(excerpt);
    }
    if let Some(explanation) = alert.explanation() {
        text.push_str("\n\n");
        text.push_str(&super::truncate(explanation, 1_500));
    }
    text.push_str(&format!("\n\npicklegate rules explain {}", alert.rule));
    text
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "notice",
    }
}

/// `::level file=…,line=1,title=…::message`, escaped as the runner expects.
fn command(level: &str, path: &str, title: &str, message: &str) -> String {
    format!(
        "::{level} file={},line=1,title={}::{}\n",
        escape_property(path),
        escape_property(title),
        escape_data(message)
    )
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The Markdown summary: the gate, the counts, the alerts most severe first, the notices.
pub fn summary_markdown(outcome: &ScanOutcome) -> String {
    let s = &outcome.summary;
    let mut out = format!(
        "## picklegate: gate {} (fail on {})\n\n",
        if s.failed { "failed ❌" } else { "passed ✅" },
        s.fail_on
    );
    out.push_str("| files | malicious | suspicious | not fully analysed | clean | accepted findings |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} |\n\n",
        s.files, s.malicious, s.suspicious, s.error, s.clean, s.suppressed
    ));
    let mut active = alerts(outcome, false);
    active.sort_by_key(|a| std::cmp::Reverse(a.severity));
    if !active.is_empty() {
        out.push_str("| severity | file | rule | what loading would do |\n|---|---|---|---|\n");
        for alert in active.iter().take(SUMMARY_ROWS) {
            let place = match alert.member {
                Some(member) => format!("{} ({member})", alert.file.repo_path),
                None => alert.file.repo_path.clone(),
            };
            out.push_str(&format!(
                "| {} | `{}` | [{}]({}) | {} |\n",
                alert.severity,
                cell(&place).replace('`', "'"),
                alert.rule,
                super::rule_help_uri(alert.rule),
                cell(&alert.message(300))
            ));
        }
        if active.len() > SUMMARY_ROWS {
            out.push_str(&format!(
                "\n…and {} more in the reports.\n",
                active.len() - SUMMARY_ROWS
            ));
        }
        out.push('\n');
    }
    let incomplete: Vec<String> = outcome
        .files
        .iter()
        .filter_map(|f| {
            incomplete_reason(f).map(|r| format!("- `{}`: {}\n", cell(&f.repo_path).replace('`', "'"), cell(&r)))
        })
        .collect();
    if !incomplete.is_empty() {
        out.push_str("**Not fully analysed** (never counted as clean):\n\n");
        out.extend(incomplete.into_iter().take(SUMMARY_ROWS));
        out.push('\n');
    }
    if !outcome.notices.is_empty() {
        out.push_str("**About accepted findings:**\n\n");
        for notice in &outcome.notices {
            out.push_str(&format!("- {}\n", cell(&notice.message)));
        }
        out.push('\n');
    }
    out
}

/// `key=value` lines for `$GITHUB_OUTPUT`.
pub fn outputs(outcome: &ScanOutcome) -> String {
    let s = &outcome.summary;
    let findings = s.findings.critical + s.findings.high + s.findings.medium + s.findings.low + s.findings.info;
    format!(
        "files={}\nfindings={findings}\ncritical={}\nhigh={}\nmedium={}\nsuppressed={}\nnot-fully-analysed={}\ngate={}\n",
        s.files,
        s.findings.critical,
        s.findings.high,
        s.findings.medium,
        s.suppressed,
        s.error,
        if s.failed { "failed" } else { "passed" }
    )
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => "\\|".to_string(),
            '\n' | '\r' => " ".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            c if c.is_control() => format!("\\x{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_escaped_and_limited_to_active_alerts() {
        let text = annotations(&super::super::sample::outcome());
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(
                "::error file=models/evil.pt,line=1,title=picklegate dangerous-call (critical)::2 findings"
            ),
            "{text}"
        );
        assert!(lines.iter().all(|l| l.starts_with("::")), "{text}");
        assert!(
            !text.contains("own class"),
            "suppressed alerts are not annotated: {text}"
        );
        assert!(text.contains("title=picklegate%3A not fully analysed"), "{text}");
    }

    #[test]
    fn summary_and_outputs() {
        let outcome = super::super::sample::outcome();
        let md = summary_markdown(&outcome);
        assert!(md.starts_with("## picklegate: gate failed"), "{md}");
        assert!(
            md.contains("| critical | `models/evil.pt (archive/data.pkl)` | [dangerous-call]"),
            "{md}"
        );
        assert!(md.contains("tr\\x01unc&lt;ated&gt;.pkl"), "{md}");
        let out = outputs(&outcome);
        assert!(out.contains("gate=failed\n") && out.contains("suppressed=1\n"), "{out}");
    }
}
