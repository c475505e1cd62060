//! `unknown-global`: a global that is neither on a framework allowlist nor dangerous.

use super::{rule_meta, StreamContext};
use crate::kb::Class;
use crate::model::{Confidence, Finding, Severity};
use std::collections::BTreeMap;

rule_meta!(
    "unknown-global",
    "Callable outside the knowledge base",
    Medium,
    "The file imports (low) or calls (medium) a callable that no framework allowlist covers and that is not known to be dangerous."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let mut by_path: BTreeMap<String, (&crate::formats::pickle::Global, u32)> = BTreeMap::new();
    for (global, class) in &cx.facts.globals {
        if matches!(class, Class::Unknown) && !cx.facts.kb.is_decoder(&global.module, &global.name) {
            by_path.entry(global.path()).or_insert((global, 0)).1 += 1;
        }
    }
    for (path, (global, count)) in by_path {
        let invoked = cx.facts.invoked_paths.contains(&path);
        let user_class = &*global.module == "__main__";
        let severity = if invoked && !user_class {
            Severity::Medium
        } else {
            Severity::Low
        };
        let what = if invoked { "calls" } else { "imports" };
        let explanation = if user_class {
            "The class was defined in the script that saved the file (__main__). Loading needs that same class, and picklegate cannot verify what it does. If you trust the class, allowlist it with an [[allow]] entry in picklegate.toml; better, save the model's weights only (state_dict + safetensors).".to_string()
        } else {
            format!(
                "{path} is not part of a framework allowlist and not known to be dangerous. If your project defines it, allowlist it in picklegate.toml ([[allow]] with a reason); otherwise find out what it does before loading the file."
            )
        };
        let mut finding = cx
            .finding(
                &META,
                severity,
                Confidence::Medium,
                format!("the file {what} {path}, which is not on any framework allowlist"),
                Some(global.offset),
                Some(global.opcode.name()),
            )
            .with_explanation(explanation);
        finding.target = Some(path);
        finding.occurrences = count;
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;
    use crate::model::Severity;

    #[test]
    fn invoked_unknown_is_medium_imported_is_low() {
        let f = findings_of(b"cmytools\nThing\n)R.");
        assert!(f
            .iter()
            .any(|f| f.rule == "unknown-global" && f.severity == Severity::Medium));
        let f = findings_of(b"(cmytools\nThing\nl.");
        assert!(f
            .iter()
            .any(|f| f.rule == "unknown-global" && f.severity == Severity::Low));
    }

    #[test]
    fn main_module_classes_are_low() {
        let f = findings_of(b"c__main__\nNet\n)R.");
        let hit = f.iter().find(|f| f.rule == "unknown-global").expect("reported");
        assert_eq!(hit.severity, Severity::Low);
        assert!(hit.explanation.as_deref().unwrap_or_default().contains("__main__"));
    }
}
