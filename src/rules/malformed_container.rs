//! `malformed-container`: a container (zip, tar, npy, safetensors, compressed stream) that
//! cannot be read. The file is never reported clean.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "malformed-container",
    "Container could not be read",
    Low,
    "A zip, tar, .npy, safetensors or compressed stream is corrupt or truncated, so what it holds could not be analysed; the file is not reported clean."
);

pub fn finding(member: Option<&str>, format: &str, why: &str) -> Finding {
    Finding::new(META.id, Severity::Low, Confidence::High, format!("the {format} data could not be read: {why}"))
        .at(member, None, None)
        .with_explanation("A loader may still read part of a damaged file, and what it reads was not analysed. Re-download or re-export the file; do not load it until it scans cleanly.")
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::analysis_of;
    use crate::model::Verdict;

    #[test]
    fn truncated_gzip_is_not_clean() {
        let a = analysis_of(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage");
        assert!(
            a.findings.iter().any(|f| f.rule == "malformed-container"),
            "{:#?}",
            a.findings
        );
        assert_eq!(a.verdict(), Verdict::Error);
    }
}
