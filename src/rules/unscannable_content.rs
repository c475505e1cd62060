//! `unscannable-content`: content picklegate cannot open (zstd streams, encrypted archive
//! members, exotic compression methods, 7z archives it cannot decode). Never clean.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "unscannable-content",
    "Content that could not be opened",
    Low,
    "Part of the file uses a format or compression picklegate cannot open, so it was not analysed; the file is not reported clean."
);

pub fn finding(member: Option<&str>, what: &str) -> Finding {
    Finding::new(META.id, Severity::Low, Confidence::High, format!("not analysed: {what}"))
        .at(member, None, None)
        .with_explanation("A scanner that skips what it cannot open must not call the file clean: a payload may be inside. Unpack or convert the content to a format picklegate reads (zip, 7z, tar, gzip, bz2, xz, lzma, zlib, lz4) and scan it again.")
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::analysis_of;
    use crate::model::Verdict;

    #[test]
    fn broken_seven_zip_is_not_clean() {
        let a = analysis_of(b"7z\xbc\xaf\x27\x1c\x00\x04rest-of-archive");
        assert!(a.findings.iter().any(|f| f.rule == "unscannable-content"));
        assert_eq!(a.verdict(), Verdict::Error);
    }
}
