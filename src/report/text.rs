//! Human-readable output, grouped by file, most severe first.

use crate::model::{Severity, Verdict};
use crate::scan::ScanOutcome;
use std::fmt::Write as _;

pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(&self, s: Severity) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.paint(code, &format!("{:<8}", s.as_str()))
    }

    fn verdict(&self, v: Verdict) -> String {
        let code = match v {
            Verdict::Malicious => "1;31",
            Verdict::Suspicious => "33",
            Verdict::Error => "35",
            Verdict::Clean => "32",
        };
        self.paint(code, v.as_str())
    }
}

pub fn render(outcome: &ScanOutcome, style: &Style) -> String {
    let mut out = String::new();
    for file in &outcome.files {
        let _ = writeln!(out, "{}  {} ({})", style.verdict(file.verdict), file.path, file.format);
        if let Some(error) = &file.error {
            let _ = writeln!(out, "  could not read the file: {error}");
        }
        if let Some(from) = &file.reached_from {
            let _ = writeln!(out, "  scanned because `{from}` loads it");
        }
        if let Some(on_load) = &file.on_load {
            let _ = writeln!(out, "  {}", style.paint("1", on_load));
        }
        let mut findings: Vec<_> = file.findings.iter().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        for finding in findings {
            let mut place = String::new();
            if let Some(member) = &finding.location.member {
                let _ = write!(place, "{member} ");
            }
            if let Some(offset) = finding.location.offset {
                let _ = write!(place, "@{offset}");
            }
            let times = if finding.occurrences > 1 {
                format!(" (×{})", finding.occurrences)
            } else {
                String::new()
            };
            let line = format!(
                "  {} {} [{}] {}{}",
                style.severity(finding.severity),
                finding.message,
                finding.rule,
                place.trim_end(),
                times
            );
            let _ = writeln!(out, "{}", line.trim_end());
            for link in &finding.chain {
                let _ = writeln!(out, "           via {link}");
            }
            if let Some(path) = &finding.loader_path {
                let _ = writeln!(out, "           loaded by: {path}");
            }
            if let Some(excerpt) = &finding.excerpt {
                for line in excerpt.lines() {
                    let _ = writeln!(out, "           | {line}");
                }
            }
            if let Some(suppression) = &finding.suppression {
                let by = match suppression.kind {
                    crate::model::SuppressionKind::Suppress => "suppressed",
                    crate::model::SuppressionKind::Baseline => "baselined",
                };
                let _ = writeln!(
                    out,
                    "           {}",
                    style.paint(
                        "32",
                        &format!("accepted ({by} in {}): {}", suppression.source, suppression.reason)
                    )
                );
                continue;
            }
            if let Some(explanation) = &finding.explanation {
                let _ = writeln!(out, "           {}", style.paint("2", explanation));
            }
        }
    }
    for notice in &outcome.notices {
        let _ = writeln!(out, "{} {}", style.paint("33", "note:"), notice.message);
    }
    let s = &outcome.summary;
    let _ = writeln!(
        out,
        "{} {}: {} malicious, {} suspicious, {} could not be fully analysed, {} clean{} — gate (fail-on {}) {}",
        s.files,
        if s.files == 1 { "file" } else { "files" },
        s.malicious,
        s.suspicious,
        s.error,
        s.clean,
        if s.suppressed > 0 {
            match s.suppressed {
                1 => "; 1 finding accepted".to_string(),
                n => format!("; {n} findings accepted"),
            }
        } else {
            String::new()
        },
        s.fail_on,
        if s.failed {
            style.paint("1;31", "FAILED")
        } else {
            style.paint("32", "passed")
        }
    );
    out
}
