//! The scan's data model: findings, verdicts and per-file reports. Plain data with serde.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// The verdict on one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fully analysed, nothing above low.
    Clean,
    /// Fully or partly analysed; at most medium findings.
    Suspicious,
    /// Analysis incomplete and nothing of medium or above found: never reported as clean.
    Error,
    /// A high or critical finding (whatever else went wrong).
    Malicious,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
            Verdict::Error => "error",
            Verdict::Malicious => "malicious",
        }
    }

    /// Malicious wins over broken; broken is never clean. Suppressed findings count: a verdict
    /// says what the file is, the gate says whether that was accepted.
    pub fn from_findings(findings: &[Finding], incomplete: bool) -> Verdict {
        let worst = findings.iter().map(|f| f.severity).max();
        match worst {
            Some(Severity::High | Severity::Critical) => Verdict::Malicious,
            Some(Severity::Medium) => Verdict::Suspicious,
            _ if incomplete => Verdict::Error,
            _ => Verdict::Clean,
        }
    }
}

/// Where a finding is, inside the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// Archive member or logical stream ("data.pkl", "legacy:model", "nested@120"), if any.
    pub member: Option<String>,
    /// Byte offset of the opcode inside the member (or the file).
    pub offset: Option<u64>,
    /// Opcode name at that offset.
    pub opcode: Option<String>,
}

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub message: String,
    #[serde(flatten)]
    pub location: Location,
    /// The reconstructed call as Python, e.g. `os.system('true')`.
    pub call: Option<String>,
    /// Dotted path of the callable that would actually run.
    pub target: Option<String>,
    /// How the target was reached, outermost first (getattr, partial, decoders…).
    #[serde(default)]
    pub chain: Vec<String>,
    /// Knowledge-base category of the target.
    pub category: Option<String>,
    /// Why it matters and what to do.
    pub explanation: Option<String>,
    /// How many times the same (rule, target) occurred in this member.
    pub occurrences: u32,
    /// The lines of the decompiled program that perform the finding's call, with the lines it
    /// depends on (`picklegate decompile` shows the whole program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    /// Another file the load would read, named by a constant (`torch.load('extra/cfg.bin')`):
    /// the scan follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Which ways of loading the file run it (high and critical findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loader_path: Option<String>,
    /// `picklegate/v1` fingerprint of the alert this finding belongs to (one alert per rule,
    /// file and member); set by the scan, which knows the file's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Why the finding does not count: a `[[suppress]]` entry or a baseline entry accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
}

/// Who accepted a finding, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub kind: SuppressionKind,
    pub reason: String,
    /// The file that holds the accepting entry.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuppressionKind {
    /// A `[[suppress]]` entry in picklegate.toml.
    Suppress,
    /// An entry of the baseline file.
    Baseline,
}

impl Finding {
    pub fn new(rule: &str, severity: Severity, confidence: Confidence, message: String) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity,
            confidence,
            message,
            location: Location::default(),
            call: None,
            target: None,
            chain: Vec::new(),
            category: None,
            explanation: None,
            occurrences: 1,
            excerpt: None,
            reference: None,
            loader_path: None,
            fingerprint: None,
            suppression: None,
        }
    }

    pub fn at(mut self, member: Option<&str>, offset: Option<usize>, opcode: Option<&str>) -> Finding {
        self.location = Location {
            member: member.map(str::to_string),
            offset: offset.map(|o| o as u64),
            opcode: opcode.map(str::to_string),
        };
        self
    }

    pub fn with_explanation(mut self, text: impl Into<String>) -> Finding {
        self.explanation = Some(text.into());
        self
    }

    /// Sort key that makes reports deterministic.
    pub fn sort_key(&self) -> (&Location, &str, &str) {
        (&self.location, &self.rule, &self.message)
    }
}
