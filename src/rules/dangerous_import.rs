//! `dangerous-import`: a dangerous global that the stream references but never provably calls.

use super::{rule_meta, StreamContext};
use crate::kb::Class;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "dangerous-import",
    "Dangerous callable referenced",
    High,
    "The file imports a dangerous callable without a call the analysis can prove (stored in a container, passed as an argument, returned): its consumer may call it."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let mut seen = std::collections::HashSet::new();
    for (global, class) in &cx.facts.globals {
        let Class::Dangerous(danger) = class else { continue };
        let path = global.path();
        if cx.facts.invoked_paths.contains(&path) || !seen.insert(path.clone()) {
            continue;
        }
        let mut finding = cx.finding(
            &META,
            danger.severity.min(Severity::High),
            Confidence::Medium,
            format!(
                "the file imports {path} ({}) but no call to it could be proven; whatever consumes the loaded object may call it",
                danger.entry.why
            ),
            Some(global.offset),
            Some(global.opcode.name()),
        );
        finding.target = Some(path);
        finding.category = Some(danger.category.id.to_string());
        finding.explanation = Some(danger.category.description.to_string());
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn global_stored_in_a_list() {
        let f = findings_of(b"(cos\nsystem\nl.");
        assert!(f
            .iter()
            .any(|f| f.rule == "dangerous-import" && f.target.as_deref() == Some("os.system")));
    }

    #[test]
    fn invoked_global_is_not_also_an_import() {
        let f = findings_of(b"cos\nsystem\n(S'true'\ntR.");
        assert!(!f.iter().any(|f| f.rule == "dangerous-import"));
    }
}
