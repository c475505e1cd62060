//! `malformed-pickle`: the stream breaks before STOP (truncated, invalid opcode, bad operand,
//! stack or memo misuse). What came before the break was analysed; the file is never clean.

use super::{rule_meta, StreamContext};
use crate::formats::pickle::MachineErrorKind;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "malformed-pickle",
    "Pickle could not be read to the end",
    Low,
    "The pickle stream is truncated or invalid. Everything before the error was analysed (a payload followed by a broken tail still counts); the file is never reported clean."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let Some(error) = &cx.report.error else { return };
    if matches!(error.kind, MachineErrorKind::Limit(_)) {
        return;
    }
    let finding = cx
        .finding(
            &META,
            Severity::Low,
            Confidence::High,
            format!("the pickle could not be read to the end: {error}"),
            Some(error.offset),
            error.opcode.map(|o| o.name()),
        )
        .with_explanation("pickle.load runs every opcode up to the error before it fails, so whatever came first still executes (the nullifAI technique hides payloads this way). A file that cannot be read completely is never reported as clean.");
    out.push(finding);
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::{analysis_of, findings_of};
    use crate::model::Verdict;

    #[test]
    fn truncated_benign_is_error_not_clean() {
        let a = analysis_of(b"\x80\x04]\x94(K\x01K\x02");
        assert!(a.findings.iter().any(|f| f.rule == "malformed-pickle"));
        assert_eq!(a.verdict(), Verdict::Error);
    }

    #[test]
    fn payload_then_garbage_is_malicious() {
        let a = analysis_of(b"cos\nsystem\n(S'true'\ntR\xff\xff");
        assert_eq!(a.verdict(), Verdict::Malicious);
        assert!(findings_of(b"cos\nsystem\n(S'true'\ntR\xff\xff")
            .iter()
            .any(|f| f.rule == "malformed-pickle"));
    }
}
