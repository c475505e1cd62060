//! `archive-anomaly`: irregular archive structure that strict readers refuse and PyTorch's
//! reader accepts — CRC mismatches, encryption and unusual flag bits, local/central name
//! disagreement, duplicate names, unsafe names, data before or after the archive, polyglots.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "archive-anomaly",
    "Irregular archive structure",
    Medium,
    "The archive has structure that scanners built on strict zip readers choke on while PyTorch still loads it (CRC mismatch, flag bits, name disagreement, duplicates, unsafe names, prefix data, pickle/zip polyglot)."
);

pub fn finding(member: Option<&str>, severity: Severity, message: String) -> Finding {
    Finding::new(META.id, severity, Confidence::High, message)
        .at(member, None, None)
        .with_explanation("Archives written by torch.save, numpy.savez and joblib are regular. These irregularities are known ways to make scanners skip a member or read a different one from the one the loader uses. picklegate reads the archive the way PyTorch's reader does and analyses every member it could load.")
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn duplicate_member_names_are_reported_and_both_scanned() {
        let zip = crate::analyze::testing::zip(&[
            ("m/data.pkl", b"\x80\x02N."),
            ("m/data.pkl", b"cos\nsystem\n(S'true'\ntR."),
            ("m/version", b"3\n"),
        ]);
        let f = findings_of(&zip);
        assert!(
            f.iter()
                .any(|f| f.rule == "archive-anomaly" && f.message.contains("duplicate")),
            "{f:#?}"
        );
        assert!(f.iter().any(|f| f.rule == "dangerous-call"), "{f:#?}");
    }
}
