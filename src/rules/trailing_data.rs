//! `trailing-data`: bytes after the last STOP that are not a pickle.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "trailing-data",
    "Data after the pickle",
    Low,
    "Bytes follow the last STOP and do not form a pickle; pickle.load never reads them, but they can hide a second format (a zip appended to a pickle)."
);

pub fn finding(member: Option<&str>, offset: usize, len: usize) -> Finding {
    Finding::new(
        META.id,
        Severity::Low,
        Confidence::High,
        format!("{len} bytes follow the end of the pickle and are not another pickle"),
    )
    .at(member, Some(offset), None)
    .with_explanation("pickle.load stops at STOP and ignores what follows, but other readers may not: a file can be a pickle and a zip at once (a polyglot). The trailing bytes were not executed by the analysis and are reported so that a reviewer can look.")
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn junk_after_stop() {
        let f = findings_of(b"\x80\x02N.\xff\xfe\xfd");
        assert!(f.iter().any(|f| f.rule == "trailing-data"));
    }
}
