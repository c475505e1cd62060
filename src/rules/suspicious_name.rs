//! `suspicious-name`: module or attribute names with whitespace, control characters, non-ASCII
//! characters or empty parts: names no Python module has, written to fool string matching.

use super::{rule_meta, StreamContext};
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "suspicious-name",
    "Malformed module or attribute name",
    Medium,
    "A global's module or name contains whitespace, control or non-ASCII characters, or empty dotted parts."
);

fn odd(part: &str) -> Option<&'static str> {
    if part.chars().any(|c| c.is_control()) {
        Some("control characters")
    } else if part.chars().any(char::is_whitespace) {
        Some("whitespace")
    } else if !part.is_ascii() {
        Some("non-ASCII characters")
    } else if part.is_empty() || part.split('.').any(str::is_empty) {
        Some("an empty part")
    } else {
        None
    }
}

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    for (global, _) in &cx.facts.globals {
        let Some(why) = odd(&global.module).or_else(|| odd(&global.name)) else {
            continue;
        };
        let finding = cx
            .finding(
                &META,
                Severity::Medium,
                Confidence::Medium,
                format!("the global {:?}.{:?} has {why} in its name", &*global.module, &*global.name),
                Some(global.offset),
                Some(global.opcode.name()),
            )
            .with_explanation("Python modules and attributes never carry such names. They appear in pickles crafted to slip past scanners that compare names as strings.");
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn trailing_space_and_control_characters() {
        assert!(findings_of(b"cos \nsystem\n(S'true'\ntR.")
            .iter()
            .any(|f| f.rule == "suspicious-name"));
        assert!(findings_of(b"cos\x00\nsystem\n(S'true'\ntR.")
            .iter()
            .any(|f| f.rule == "suspicious-name"));
        assert!(!findings_of(b"ccollections\nOrderedDict\n)R.")
            .iter()
            .any(|f| f.rule == "suspicious-name"));
    }
}
