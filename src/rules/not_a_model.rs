//! `not-a-model`: the bytes are another kind of file (an image, an executable, a document) or
//! hold no pickle at all, whatever the extension says.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "not-a-model",
    "Not a model file",
    Medium,
    "The content is not a model format picklegate knows (for example a PNG or an executable named .pt); it is reported rather than passed as clean."
);

pub fn finding(member: Option<&str>, what: &str, known_other_format: bool) -> Finding {
    let (severity, message) = if known_other_format {
        (
            Severity::Medium,
            format!("this is not a model file: the content is a {what}"),
        )
    } else {
        (
            Severity::Low,
            format!("no pickle or known model container found ({what})"),
        )
    };
    Finding::new(META.id, severity, Confidence::High, message)
        .at(member, None, None)
        .with_explanation("The file extension says model, the bytes say otherwise. A mislabeled file in a model directory is worth a look: it may be a mistake, or something placed where loaders and reviewers do not expect it.")
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::analysis_of;
    use crate::model::Verdict;

    #[test]
    fn png_named_as_model_is_suspicious() {
        let a = analysis_of(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
        assert_eq!(a.format, "not-a-model");
        assert_eq!(a.verdict(), Verdict::Suspicious);
    }
}
