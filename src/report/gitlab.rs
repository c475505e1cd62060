//! GitLab security report (`gl-sast-report.json`, schema 15.2.1) for instances without SARIF
//! ingestion. One vulnerability per active alert; its id is derived from the alert's
//! fingerprint, so the same alert keeps its identity across pipelines.

use super::{alerts, incomplete_reason, rule_help_uri, Alert, INFORMATION_URI};
use crate::model::Severity;
use crate::scan::ScanOutcome;
use serde_json::{json, Value};

pub const SCHEMA_VERSION: &str = "15.2.1";

/// When the scan ran, in seconds since 1970-01-01 UTC (the schema requires both times; the CLI
/// honours `SOURCE_DATE_EPOCH` for reproducible reports).
pub struct GitlabOptions {
    pub start: u64,
    pub end: u64,
}

pub fn render(outcome: &ScanOutcome, options: &GitlabOptions) -> String {
    let mut out = serde_json::to_string_pretty(&document(outcome, options)).expect("JSON values serialize");
    out.push('\n');
    out
}

pub fn document(outcome: &ScanOutcome, options: &GitlabOptions) -> Value {
    let tool = json!({
        "id": "picklegate",
        "name": "picklegate",
        "version": env!("CARGO_PKG_VERSION"),
        "vendor": { "name": "picklegate" },
        "url": INFORMATION_URI,
    });
    let mut messages: Vec<Value> = outcome
        .files
        .iter()
        .filter_map(|f| {
            incomplete_reason(f).map(
                |r| json!({ "level": "warn", "value": format!("{}: {r}; it is not counted as clean", f.repo_path) }),
            )
        })
        .collect();
    messages.extend(
        outcome
            .notices
            .iter()
            .map(|n| json!({ "level": "warn", "value": n.message })),
    );
    let vulnerabilities: Vec<Value> = alerts(outcome, false).iter().map(vulnerability).collect();
    json!({
        "version": SCHEMA_VERSION,
        "schema": format!(
            "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v{SCHEMA_VERSION}/dist/sast-report-format.json"
        ),
        "scan": {
            "analyzer": tool,
            "scanner": tool,
            "type": "sast",
            "start_time": timestamp(options.start),
            "end_time": timestamp(options.end),
            "status": "success",
            "messages": messages,
        },
        "vulnerabilities": vulnerabilities,
    })
}

fn vulnerability(alert: &Alert<'_>) -> Value {
    let rule = crate::rules::find(alert.rule);
    let title = rule.map_or(alert.rule, |r| r.title);
    let calls = alert.calls();
    let name = match calls.first() {
        Some(call) => format!("{title}: {call}"),
        None => title.to_string(),
    };
    let mut description = alert.message(20_000);
    if let Some(member) = alert.member {
        description.push_str(&format!("\n\nArchive member: {member}."));
    }
    if let Some(excerpt) = alert.excerpt() {
        description.push_str(&format!(
            "\n\nWhat loading does (decompiled):\n\n```python\n{excerpt}\n```"
        ));
    }
    if let Some(on_load) = &alert.file.on_load {
        description.push_str(&format!("\n\n{on_load}."));
    }
    let mut out = json!({
        "id": uuid(alert.fingerprint),
        "name": super::truncate(&name, 255),
        "description": description,
        "severity": severity(alert.severity),
        "identifiers": [
            {
                "type": "picklegate_rule",
                "name": format!("picklegate {}", alert.rule),
                "value": alert.rule,
                "url": rule_help_uri(alert.rule),
            },
            {
                "type": "cwe",
                "name": "CWE-502",
                "value": "502",
                "url": "https://cwe.mitre.org/data/definitions/502.html",
            }
        ],
        "location": { "file": alert.file.repo_path, "start_line": 1 },
        "links": [ { "name": format!("picklegate rule {}", alert.rule), "url": rule_help_uri(alert.rule) } ],
    });
    if let Some(explanation) = alert.explanation() {
        out["solution"] = json!(super::truncate(explanation, 7_000));
    }
    out
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Info",
    }
}

/// A UUID (version 8, RFC 9562 "custom") made of the fingerprint's first 128 bits.
fn uuid(fingerprint: &str) -> String {
    let mut hex: Vec<u8> = fingerprint.bytes().chain(std::iter::repeat(b'0')).take(32).collect();
    hex[12] = b'8';
    hex[16] = match hex[16] {
        b'0'..=b'3' => b'8',
        b'4'..=b'7' => b'9',
        b'8' | b'9' | b'a' | b'b' => b'a',
        _ => b'b',
    };
    let h = String::from_utf8(hex).unwrap_or_default();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `YYYY-MM-DDTHH:MM:SS`, UTC, no zone suffix: the schema's pattern.
fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}",
        crate::config::format_date(days),
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vulnerabilities_per_active_alert() {
        let doc = document(
            &super::super::sample::outcome(),
            &GitlabOptions { start: 0, end: 86_399 },
        );
        assert_eq!(doc["scan"]["start_time"], "1970-01-01T00:00:00");
        assert_eq!(doc["scan"]["end_time"], "1970-01-01T23:59:59");
        let v = doc["vulnerabilities"].as_array().unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0]["severity"], "Critical");
        assert_eq!(v[0]["identifiers"][0]["value"], "dangerous-call");
        assert_eq!(v[0]["name"], "Dangerous callable invoked: os.system('true')");
        let id = v[0]["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
    }
}
