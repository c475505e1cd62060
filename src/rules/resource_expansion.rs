//! `resource-expansion`: memo/DUP sharing that makes the loaded object explode in size (the
//! "billion laughs" of pickle), predicted from the stream without building it.

use super::{rule_meta, StreamContext};
use crate::formats::pickle::{LimitKind, MachineErrorKind};
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "resource-expansion",
    "Expansion bomb",
    Medium,
    "Shared references (memo GET, DUP) make the loaded object far larger than the file: loading or using it can exhaust memory or CPU."
);

/// Logical size above which sharing is reported even when below the hard limit.
const REPORT_SIZE: u64 = 10_000_000;
/// Nesting depth above which a structure is reported (real models nest a few dozen levels).
const REPORT_DEPTH: u32 = 1_000;

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let hit_limit = cx
        .report
        .error
        .as_ref()
        .is_some_and(|e| e.kind == MachineErrorKind::Limit(LimitKind::LogicalSize));
    let size = cx.report.max_logical_size;
    let out_of_proportion = size > REPORT_SIZE && size / cx.report.opcodes.max(1) > 100;
    let depth = cx.report.max_depth.max(cx.report.max_marks as u32);
    if depth > REPORT_DEPTH {
        let finding = cx
            .finding(&META, Severity::Medium, Confidence::High, format!("objects nest {depth} levels deep"), None, None)
            .with_explanation("Model files nest containers a few dozen levels at most. Structures thousands of levels deep crash recursive code (repr, copy, comparison) in the program that loads them.");
        out.push(finding);
    }
    if !hit_limit && !out_of_proportion {
        return;
    }
    let message = if hit_limit {
        format!("shared references make the loaded object grow past {size} elements from {} opcodes; analysis stopped there", cx.report.opcodes)
    } else {
        format!(
            "shared references make the loaded object hold about {size} elements from only {} opcodes",
            cx.report.opcodes
        )
    };
    let at = cx.report.error.as_ref().map(|e| e.offset);
    let finding = cx
        .finding(&META, Severity::Medium, Confidence::High, message, at, None)
        .with_explanation("Serialized models share tensors by reference, but never nest containers into themselves thousands of times. Code that walks such an object (printing, copying, comparing) expands it and exhausts memory.");
    out.push(finding);
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn deep_nesting_is_reported_without_overflowing() {
        let mut data = b"\x80\x02".to_vec();
        for _ in 0..200_000 {
            data.extend_from_slice(b"]");
        }
        for _ in 0..199_999 {
            data.extend_from_slice(b"a");
        }
        data.push(b'.');
        let f = findings_of(&data);
        assert!(
            f.iter()
                .any(|f| f.rule == "resource-expansion" && f.message.contains("nest")),
            "{f:#?}"
        );
    }

    #[test]
    fn long_chains_through_computed_globals_drop_without_overflow() {
        let mut data = b"\x80\x04\x8c\x01a\x8c\x01b\x93)R".to_vec();
        for _ in 0..200_000 {
            data.extend_from_slice(b"2\x93)R");
        }
        data.push(b'.');
        let f = findings_of(&data);
        assert!(f.iter().any(|f| f.rule == "computed-global"), "{}", f.len());
    }

    #[test]
    fn long_chains_of_calls_drop_without_overflow() {
        // A call whose callee is a call, 200,000 deep: `len()()()…`.
        let mut callees = b"\x80\x02c__builtin__\nlen\n)R".to_vec();
        // A call whose argument is a call, 200,000 deep: `len(len(…len()))`.
        let mut arguments = b"\x80\x02".to_vec();
        for _ in 0..200_000 {
            callees.extend_from_slice(b")R");
            arguments.extend_from_slice(b"c__builtin__\nlen\n");
        }
        arguments.extend_from_slice(b"c__builtin__\nlen\n)R");
        for _ in 0..200_000 {
            arguments.extend_from_slice(b"\x85R");
        }
        for mut data in [callees, arguments] {
            data.push(b'.');
            let f = findings_of(&data);
            assert!(!f.iter().any(|f| f.rule == "malformed-pickle"), "{f:#?}");
        }
    }

    #[test]
    fn dup_doubling_bomb() {
        // A list, then 40 times: DUP, TUPLE2 — each level doubles the logical size.
        let mut data = b"\x80\x02]".to_vec();
        for _ in 0..40 {
            data.extend_from_slice(b"2\x86");
        }
        data.push(b'.');
        let f = findings_of(&data);
        assert!(f.iter().any(|f| f.rule == "resource-expansion"), "{f:#?}");
    }
}
