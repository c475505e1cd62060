//! `limit-exceeded`: the analysis stopped at a resource limit (opcodes, stack, MARK depth, memo,
//! decoded-value budget). Findings up to that point stand; the file is never clean.

use super::{rule_meta, StreamContext};
use crate::formats::pickle::{LimitKind, MachineErrorKind};
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "limit-exceeded",
    "Analysis limit reached",
    Low,
    "The stream exceeded one of picklegate's resource limits; the analysis stopped there and the file is not reported clean."
);

const EXPLANATION: &str = "Limits keep the scanner safe from hostile files. Defaults are far above what real models need; raise them in picklegate.toml only for a file you have reason to trust. A file that was not fully analysed is never counted as clean.";

/// A limit reached outside a pickle stream (container depth, member counts, decompression
/// caps, file size).
pub fn finding(member: Option<&str>, message: String) -> Finding {
    Finding::new(META.id, Severity::Low, Confidence::High, message)
        .at(member, None, None)
        .with_explanation(EXPLANATION)
}

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let explanation = EXPLANATION;
    if let Some(error) = &cx.report.error {
        if let MachineErrorKind::Limit(kind) = error.kind {
            if kind != LimitKind::LogicalSize {
                let finding = cx
                    .finding(
                        &META,
                        Severity::Low,
                        Confidence::High,
                        format!("analysis stopped: the {} limit was reached", kind.describe()),
                        Some(error.offset),
                        error.opcode.map(|o| o.name()),
                    )
                    .with_explanation(explanation);
                out.push(finding);
            }
        }
    }
    if cx.report.budget_exhausted {
        let finding = cx
            .finding(&META, Severity::Low, Confidence::High, "a value decoded during the load (an embedded payload) was larger than the decoding budget and was not analysed".to_string(), None, None)
            .with_explanation(explanation);
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze_with, AnalyzeOptions};
    use crate::formats::pickle::Limits;
    use crate::model::Verdict;

    #[test]
    fn opcode_limit_is_reported_and_not_clean() {
        let options = AnalyzeOptions {
            limits: Limits {
                max_opcodes: 3,
                ..Limits::default()
            },
            ..AnalyzeOptions::default()
        };
        let a = analyze_with(b"(K\x01K\x02K\x03l.", &options);
        assert!(a.findings.iter().any(|f| f.rule == "limit-exceeded"));
        assert_eq!(a.verdict(), Verdict::Error);
    }

    #[test]
    fn chains_deeper_than_the_depth_limit_stop_the_analysis() {
        // getattr(getattr(…getattr(os.path, 'path')…, 'path'), 'path'), 30,000 deep: every
        // link stays alive through the next, so the depth limit is what bounds memory.
        let mut data = b"\x80\x03".to_vec();
        data.extend(b"cbuiltins\ngetattr\n".repeat(30_000));
        data.extend_from_slice(b"cos\npath\n");
        data.extend(b"X\x04\x00\x00\x00path\x86R".repeat(30_000));
        data.push(b'.');
        let a = analyze_with(&data, &AnalyzeOptions::default());
        let limit = a
            .findings
            .iter()
            .find(|f| f.rule == "limit-exceeded")
            .expect("depth limit reported");
        assert!(limit.message.contains("nesting depth"), "{}", limit.message);
        assert!(a.incomplete);
    }
}
