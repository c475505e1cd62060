//! SARIF 2.1.0 for GitHub code scanning and GitLab (docs/output-formats.md). One run; one
//! result per alert (rule, file, member); `partialFingerprints` from the `picklegate/v1`
//! fingerprint; binary files located by `startLine: 1` plus the opcode's byte offset; archive
//! members as nested artifacts. serde-sarif stays inside this module.

use super::{alerts, rule_help_uri, security_severity, Alert, INFORMATION_URI};
use crate::model::{Severity, SuppressionKind};
use crate::rules::RuleMeta;
use crate::scan::ScanOutcome;
use serde_json::{json, Value};
use serde_sarif::sarif::{
    Artifact, ArtifactLocation, Invocation, Location, Message, MultiformatMessageString, Notification,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor, Result as SarifResult,
    ResultLevel, Run, RunAutomationDetails, Sarif, Suppression, Tool, ToolComponent,
};
use std::collections::BTreeMap;

pub struct SarifOptions {
    /// Code-scanning category; `automationDetails.id` is `<category>/`.
    pub category: String,
    /// Add suppressed and baselined alerts, marked with `suppressions[]`.
    pub include_suppressed: bool,
    /// Absolute `file://` URI of the repository root for `originalUriBaseIds` (left out by
    /// default so reports do not reveal local paths).
    pub src_root: Option<String>,
}

impl Default for SarifOptions {
    fn default() -> Self {
        SarifOptions {
            category: "picklegate".into(),
            include_suppressed: false,
            src_root: None,
        }
    }
}

const SRCROOT: &str = "%SRCROOT%";
/// The OASIS schema (errata 01): the `id` of the copy vendored in tests/schemas.
const SCHEMA_URI: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// GitLab drops results whose message exceeds 2,048 characters; GitHub shows about 1,000.
const MESSAGE_LIMIT: usize = 1_000;
/// GitLab keeps at most 5,000 results per run; GitHub the 5,000 most severe.
const MAX_RESULTS: usize = 5_000;

pub fn render(outcome: &ScanOutcome, options: &SarifOptions) -> String {
    let mut out = serde_json::to_string_pretty(&document(outcome, options)).expect("SARIF types serialize");
    out.push('\n');
    out
}

fn document(outcome: &ScanOutcome, options: &SarifOptions) -> Sarif {
    let rule_index: BTreeMap<&str, usize> = crate::rules::ALL.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut artifacts: Vec<Artifact> = Vec::new();
    let mut artifact_index: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    let mut index_of = |file: &crate::scan::FileReport, member: Option<&str>| -> usize {
        let path = file.repo_path.as_str();
        let parent = *artifact_index.entry((path.to_string(), None)).or_insert_with(|| {
            artifacts.push(Artifact {
                location: Some(artifact_location(path, None)),
                length: Some(file.size as i64),
                hashes: file
                    .sha256
                    .as_ref()
                    .map(|sha| BTreeMap::from([("sha-256".to_string(), sha.clone())])),
                ..Default::default()
            });
            artifacts.len() - 1
        });
        let Some(member) = member else { return parent };
        *artifact_index
            .entry((path.to_string(), Some(member.to_string())))
            .or_insert_with(|| {
                artifacts.push(Artifact {
                    location: Some(ArtifactLocation {
                        uri: Some(uri_encode(member)),
                        ..Default::default()
                    }),
                    parent_index: Some(parent as i64),
                    ..Default::default()
                });
                artifacts.len() - 1
            })
    };

    let mut all = alerts(outcome, options.include_suppressed);
    // Keep the most severe when there are too many (stable: ties keep path order).
    all.sort_by_key(|a| std::cmp::Reverse(a.severity));
    let dropped = all.len().saturating_sub(MAX_RESULTS);
    all.truncate(MAX_RESULTS);
    all.sort_by(|a, b| (&a.file.path, a.member, a.rule).cmp(&(&b.file.path, b.member, b.rule)));

    let results: Vec<SarifResult> = all
        .iter()
        .map(|alert| {
            let file_index = index_of(alert.file, None);
            let member_index = alert.member.map(|m| index_of(alert.file, Some(m)));
            result(alert, rule_index[alert.rule], file_index, member_index)
        })
        .collect();

    let mut notifications: Vec<Notification> = outcome
        .files
        .iter()
        .filter_map(|file| {
            let reason = super::incomplete_reason(file)?;
            let index = index_of(file, None);
            Some(
                Notification::builder()
                    .level(json!("warning"))
                    .message(text_message(&format!(
                        "{}: {reason}; it is not counted as clean",
                        file.repo_path
                    )))
                    .locations(vec![Location {
                        physical_location: Some(PhysicalLocation {
                            artifact_location: Some(ArtifactLocation {
                                index: Some(index as i64),
                                ..artifact_location(&file.repo_path, None)
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }])
                    .build(),
            )
        })
        .collect();
    if dropped > 0 {
        notifications.push(
            Notification::builder()
                .level(json!("warning"))
                .message(text_message(&format!(
                    "{dropped} less severe alerts were left out: code scanning keeps at most {MAX_RESULTS} per run; the JSON report has them all"
                )))
                .build(),
        );
    }
    let configuration_notices: Vec<Notification> = outcome
        .notices
        .iter()
        .map(|n| {
            Notification::builder()
                .level(json!(match n.level {
                    crate::suppress::NoticeLevel::Warning => "warning",
                    crate::suppress::NoticeLevel::Error => "error",
                }))
                .message(text_message(&n.message))
                .build()
        })
        .collect();

    let mut invocation = Invocation::builder().execution_successful(true).build();
    if !notifications.is_empty() {
        invocation.tool_execution_notifications = Some(notifications);
    }
    if !configuration_notices.is_empty() {
        invocation.tool_configuration_notifications = Some(configuration_notices);
    }

    let mut base = ArtifactLocation {
        description: Some(text_message("The repository root")),
        ..Default::default()
    };
    if let Some(root) = &options.src_root {
        base.uri = Some(if root.ends_with('/') {
            root.clone()
        } else {
            format!("{root}/")
        });
    }

    let driver = ToolComponent::builder()
        .name("picklegate")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .organization("picklegate")
        .information_uri(INFORMATION_URI)
        .rules(crate::rules::ALL.iter().map(|r| rule_descriptor(r)).collect::<Vec<_>>())
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .automation_details(RunAutomationDetails {
            id: Some(format!("{}/", options.category)),
            ..Default::default()
        })
        .original_uri_base_ids(BTreeMap::from([(SRCROOT.to_string(), base)]))
        .artifacts(artifacts)
        .invocations(vec![invocation])
        .results(results)
        .build();
    Sarif::builder()
        .schema(SCHEMA_URI)
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build()
}

fn result(alert: &Alert<'_>, rule_index: usize, file_index: usize, member_index: Option<usize>) -> SarifResult {
    let file = alert.file;
    // Offsets inside a member are not offsets in the file: the file location gets the line
    // only, the member's nested artifact gets the offset.
    let opcode_region = |offset: Option<u64>| Region {
        start_line: Some(1),
        byte_offset: offset.map(|o| o as i64),
        byte_length: offset.map(|_| 1),
        ..Default::default()
    };
    let file_region = if alert.member.is_some() {
        opcode_region(None)
    } else {
        opcode_region(alert.offset())
    };
    let primary = Location {
        physical_location: Some(PhysicalLocation {
            artifact_location: Some(ArtifactLocation {
                index: Some(file_index as i64),
                ..artifact_location(&file.repo_path, None)
            }),
            region: Some(file_region),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut properties = BTreeMap::from([
        (
            "security-severity".to_string(),
            json!(security_severity(alert.severity)),
        ),
        ("picklegate/severity".to_string(), json!(alert.severity.as_str())),
        ("picklegate/verdict".to_string(), json!(file.verdict.as_str())),
        ("picklegate/format".to_string(), json!(file.format)),
        ("picklegate/calls".to_string(), json!(alert.calls())),
        ("picklegate/findings".to_string(), json!(alert.findings.len())),
    ]);
    if let Some(member) = alert.member {
        properties.insert("picklegate/member".into(), json!(member));
        properties.insert(
            "picklegate/offsets".into(),
            json!("relative to the member's uncompressed bytes"),
        );
    }
    if let Some(sha) = &file.sha256 {
        properties.insert("picklegate/sha256".into(), json!(sha));
    }
    if let Some(explanation) = alert.explanation() {
        properties.insert("picklegate/explanation".into(), json!(explanation));
    }
    if let Some(excerpt) = alert.excerpt() {
        properties.insert("picklegate/decompiled".into(), json!(excerpt));
    }
    if let Some(path) = alert.findings.iter().find_map(|f| f.loader_path.as_deref()) {
        properties.insert("picklegate/loader-path".into(), json!(path));
    }
    if let Some(on_load) = &file.on_load {
        properties.insert("picklegate/on-load".into(), json!(on_load));
    }
    let behaviours = alert.behaviours();
    if !behaviours.is_empty() {
        properties.insert("picklegate/behaviours".into(), json!(behaviours));
    }
    let tags: Vec<String> = behaviours.iter().map(|b| format!("behaviour/{b}")).collect();
    let mut result = SarifResult::builder()
        .rule_id(alert.rule)
        // GitLab reads `rank` before the rule's default score: the alert's own severity.
        .rank(security_severity(alert.severity).parse::<f64>().unwrap_or(0.0) * 10.0)
        .rule_index(rule_index as i64)
        .level(level(alert.severity))
        .message(text_message(&alert.message(MESSAGE_LIMIT)))
        .locations(vec![primary])
        .partial_fingerprints(BTreeMap::from([
            (
                "primaryLocationLineHash".to_string(),
                crate::suppress::fingerprint::primary_location_line_hash(alert.fingerprint),
            ),
            (
                crate::suppress::fingerprint::ALGORITHM.to_string(),
                alert.fingerprint.to_string(),
            ),
        ]))
        .properties(PropertyBag {
            tags: (!tags.is_empty()).then_some(tags),
            additional_properties: properties,
        })
        .build();
    if let (Some(member), Some(index)) = (alert.member, member_index) {
        result.related_locations = Some(vec![Location {
            id: Some(1),
            message: Some(text_message(&format!("archive member {member}"))),
            physical_location: Some(PhysicalLocation {
                artifact_location: Some(ArtifactLocation {
                    uri: Some(uri_encode(member)),
                    index: Some(index as i64),
                    ..Default::default()
                }),
                region: alert.offset().map(|o| Region {
                    byte_offset: Some(o as i64),
                    byte_length: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    }
    if let Some(suppression) = alert.suppression {
        let by = match suppression.kind {
            SuppressionKind::Suppress => "suppress",
            SuppressionKind::Baseline => "baseline",
        };
        let mut extra = BTreeMap::from([
            ("source".to_string(), json!(suppression.source)),
            ("picklegate/by".to_string(), json!(by)),
        ]);
        for (key, value) in [
            ("owner", &suppression.owner),
            ("expires", &suppression.expires),
            ("ticket", &suppression.ticket),
        ] {
            if let Some(value) = value {
                extra.insert(key.to_string(), json!(value));
            }
        }
        result.suppressions = Some(vec![Suppression::builder()
            .kind(json!("external"))
            .status(json!("accepted"))
            .justification(suppression.reason.clone())
            .properties(PropertyBag {
                tags: None,
                additional_properties: extra,
            })
            .build()]);
        result.baseline_state = Some(json!("unchanged"));
    }
    result
}

fn rule_descriptor(rule: &RuleMeta) -> ReportingDescriptor {
    let topic = if rule.id == "torchscript-code" {
        "torch"
    } else {
        "pickle"
    };
    ReportingDescriptor::builder()
        .id(rule.id)
        .name(camel_case(rule.id))
        .short_description(plain(rule.summary))
        .full_description(plain(&super::truncate(&full_description(rule), 1_000)))
        .help(
            MultiformatMessageString::builder()
                .text(rule.doc)
                .markdown(rule.doc)
                .build(),
        )
        .help_uri(rule_help_uri(rule.id))
        .default_configuration(ReportingConfiguration {
            level: Some(json!(level_name(rule.default_severity))),
            ..Default::default()
        })
        .properties(PropertyBag {
            tags: Some(vec![
                "security".into(),
                "external/cwe/cwe-502".into(),
                "cwe-502".into(),
                topic.into(),
            ]),
            additional_properties: BTreeMap::from([
                (
                    "security-severity".to_string(),
                    json!(security_severity(rule.default_severity)),
                ),
                ("precision".to_string(), json!("high")),
            ]),
        })
        .build()
}

/// The summary plus the first paragraph of the rule page's "What it catches".
fn full_description(rule: &RuleMeta) -> String {
    let body = rule
        .doc
        .split("## What it catches")
        .nth(1)
        .and_then(|section| section.split("\n\n").map(str::trim).find(|p| !p.is_empty()))
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "));
    match body {
        Some(body) => format!("{} {body}", rule.summary),
        None => rule.summary.to_string(),
    }
}

fn camel_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn level(severity: Severity) -> ResultLevel {
    match severity {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low | Severity::Info => ResultLevel::Note,
    }
}

fn level_name(severity: Severity) -> &'static str {
    match level(severity) {
        ResultLevel::Error => "error",
        ResultLevel::Warning => "warning",
        ResultLevel::Note => "note",
        ResultLevel::None => "none",
    }
}

fn plain(text: &str) -> MultiformatMessageString {
    MultiformatMessageString::builder().text(text).build()
}

fn text_message(text: &str) -> Message {
    Message {
        text: Some(text.to_string()),
        ..Default::default()
    }
}

fn artifact_location(path: &str, index: Option<usize>) -> ArtifactLocation {
    ArtifactLocation {
        uri: Some(uri_encode(path)),
        uri_base_id: Some(SRCROOT.to_string()),
        index: index.map(|i| i as i64),
        ..Default::default()
    }
}

/// A relative path as a URI reference: `/` kept, everything outside the unreserved and
/// sub-delimiter sets percent-encoded (spaces, `%`, `#`, `?`, non-ASCII).
fn uri_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'@' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The SARIF document as a JSON value (for tests that inspect it).
pub fn to_value(outcome: &ScanOutcome, options: &SarifOptions) -> Value {
    serde_json::to_value(document(outcome, options)).expect("SARIF types serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_result_per_alert_with_fingerprints_and_regions() {
        let outcome = super::super::sample::outcome();
        let doc = to_value(&outcome, &SarifOptions::default());
        let run = &doc["runs"][0];
        assert_eq!(run["automationDetails"]["id"], "picklegate/");
        let results = run["results"].as_array().unwrap();
        // evil.pt: dangerous-call (2 calls, one alert) + unknown-global; the truncated file's
        // malformed-pickle; the suppressed alert is left out.
        assert_eq!(results.len(), 3, "{results:#?}");
        let first = &results[0];
        assert_eq!(first["ruleId"], "dangerous-call");
        assert_eq!(first["level"], "error");
        assert!(first["message"]["text"].as_str().unwrap().starts_with("2 findings"));
        assert_eq!(first["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
        assert_eq!(
            first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "models/evil.pt"
        );
        assert_eq!(
            first["relatedLocations"][0]["physicalLocation"]["region"]["byteOffset"],
            23
        );
        let hash = first["partialFingerprints"]["primaryLocationLineHash"]
            .as_str()
            .unwrap();
        assert!(hash.ends_with(":1") && hash.len() == 18, "{hash}");
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().unwrap().len(),
            crate::rules::ALL.len()
        );
        assert_eq!(
            results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "weird/tr%01unc%3Cated%3E.pkl"
        );
    }

    #[test]
    fn suppressed_alerts_only_when_asked() {
        let outcome = super::super::sample::outcome();
        let options = SarifOptions {
            include_suppressed: true,
            ..Default::default()
        };
        let doc = to_value(&outcome, &options);
        let suppressed: Vec<&Value> = doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("suppressions").is_some())
            .collect();
        assert_eq!(suppressed.len(), 1);
        assert_eq!(suppressed[0]["suppressions"][0]["kind"], "external");
        assert_eq!(suppressed[0]["suppressions"][0]["status"], "accepted");
        assert_eq!(
            suppressed[0]["suppressions"][0]["justification"],
            "our own class, reviewed"
        );
    }
}
