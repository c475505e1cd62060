//! `suspicious-name`: module or attribute names with whitespace, control characters, non-ASCII
//! characters or empty parts: names no Python module has, written to fool string matching.

use super::{rule_meta, StreamContext};
use crate::formats::pickle::value::MAX_NAME_BYTES;
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
        if let Some(written) = global.elided_from {
            let finding = cx
                .finding(
                    &META,
                    Severity::High,
                    Confidence::High,
                    format!(
                        "the global {} is named by {written} bytes (shown by its ends); only its first and last {} bytes were analysed",
                        global.path(),
                        MAX_NAME_BYTES / 2
                    ),
                    Some(global.offset),
                    Some(global.opcode.name()),
                )
                .with_explanation("No Python module or attribute has a name this long. A name of thousands of dotted parts can hide a dangerous attribute walk in its middle, and makes scanners that compare names part by part slow to a halt.");
            out.push(finding);
            continue;
        }
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
    fn over_long_names_are_reported_high_and_cheaply() {
        // `os` + 400,000 dotted parts: a find_class attribute walk no file needs.
        let mut data = b"\x80\x02cos\n".to_vec();
        data.extend(b"path.".repeat(400_000));
        data.extend_from_slice(b"system\nq\x00");
        // ... memoized and called 100,000 times.
        data.extend(b"h\x00)R0".repeat(100_000));
        data.extend_from_slice(b"N.");
        let f = findings_of(&data);
        let long = f
            .iter()
            .find(|f| f.rule == "suspicious-name")
            .expect("over-long name reported");
        assert_eq!(long.severity, crate::model::Severity::High);
        assert!(long.message.contains("2000008 bytes"), "{}", long.message);
        assert!(f.iter().all(|f| f.message.len() < 4_000), "{f:#?}");
    }

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
