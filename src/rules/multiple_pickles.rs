//! `multiple-pickles`: one file or member holds several pickles back to back. A loader that
//! calls `load()` repeatedly (legacy torch, joblib, custom loaders) runs every one of them; each
//! is analysed.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "multiple-pickles",
    "Several pickles in one stream",
    Low,
    "Another pickle follows the first STOP; loaders that call load() more than once run it too. Every stream is analysed."
);

pub fn finding(member: Option<&str>, count: usize, second_offset: usize) -> Finding {
    Finding::new(
        META.id,
        Severity::Low,
        Confidence::High,
        format!("{count} pickles follow one another; pickle.load runs the first, loaders that call load() repeatedly run them all (each was analysed)"),
    )
    .at(member, Some(second_offset), None)
    .with_explanation("A single pickle.dump writes one stream. Extra streams after the first STOP are a classic place to hide a payload from scanners that stop at the first STOP.")
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn benign_then_malicious_second_stream() {
        let f = findings_of(b"\x80\x02N.cos\nsystem\n(S'true'\ntR.");
        assert!(f.iter().any(|f| f.rule == "multiple-pickles"));
        assert!(f.iter().any(|f| f.rule == "dangerous-call"));
    }
}
