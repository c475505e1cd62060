//! `parser-divergence`: bytes that CPython's C unpickler, the pure-Python unpickler and
//! `pickletools` read differently. picklegate reads them as `_pickle` does, and reports them
//! because they exist to hide opcodes from pickletools-based scanners.

use super::{rule_meta, StreamContext};
use crate::formats::pickle::{DivergenceKind, MachineErrorKind, ReadErrorKind};
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "parser-divergence",
    "Bytes that unpicklers read differently",
    Medium,
    "The stream uses encodings that CPython's unpicklers and pickletools disagree on (a FRAME that an opcode overruns, non-decimal INT literals, lone surrogates)."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let truncated = matches!(&cx.report.error, Some(e) if matches!(e.kind, MachineErrorKind::Read(ReadErrorKind::Truncated { .. })));
    for divergence in &cx.report.divergences {
        if truncated && matches!(divergence.kind, DivergenceKind::FrameOverrun { .. }) {
            // A truncated file's last frame always overruns: that is the truncation, reported
            // as such, not a differential.
            continue;
        }
        let (severity, opcode, message) = match &divergence.kind {
            DivergenceKind::FrameStraddle { frame_end } => (
                Severity::Medium,
                None,
                format!(
                    "an opcode runs past the end of its FRAME (which ends at byte {}): the C unpickler reads straight through while pickle.py rejects the stream and frame-aware tools resume at the frame end; both readings were analysed",
                    frame_end
                ),
            ),
            DivergenceKind::FrameOverrun { declared, available } => (
                Severity::Medium,
                Some("FRAME"),
                format!("a FRAME declares {declared} bytes but only {available} follow: the C unpickler refuses the stream, pickle.py loads it (it was analysed as pickle.py reads it)"),
            ),
            DivergenceKind::FrameBeforeEndOfFrame => (
                Severity::Medium,
                Some("FRAME"),
                "a FRAME starts before the previous frame was consumed (pickle.py rejects this; the C unpickler does not)".to_string(),
            ),
            DivergenceKind::NonDecimalInt => (
                Severity::Medium,
                Some("INT"),
                "an INT literal (0x…, 0o…, or a leading-zero octal like 010) means one number to the C unpickler and another, or nothing, to pickletools".to_string(),
            ),
            DivergenceKind::LoneSurrogate => (
                Severity::Low,
                None,
                "text contains UTF-8-encoded lone surrogates, accepted by CPython with surrogatepass".to_string(),
            ),
        };
        let finding = cx
            .finding(&META, severity, Confidence::High, message, Some(divergence.offset), opcode)
            .with_explanation("Python's own pickler never writes these forms. They appear in files crafted so that scanners built on pickletools see different opcodes from the ones pickle.load runs.");
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;
    use crate::model::Severity;

    #[test]
    fn frame_straddle_is_reported_and_both_readings_are_scanned() {
        // FRAME(2) then SHORT_BINBYTES whose length swallows a GLOBAL+REDUCE in the linear reading.
        let mut data = b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00".to_vec();
        let hidden = b"cos\nsystem\n(S'true'\ntR.";
        data.push(b'C');
        data.push(hidden.len() as u8);
        data.extend_from_slice(hidden);
        data.push(b'.');
        let f = findings_of(&data);
        assert!(
            f.iter()
                .any(|f| f.rule == "parser-divergence" && f.severity == Severity::Medium),
            "{f:#?}"
        );
        assert!(f.iter().any(|f| f.severity == Severity::Critical), "{f:#?}");
        let hidden_call = f
            .iter()
            .find(|f| f.rule == "dangerous-call")
            .expect("frame-honouring reading analysed");
        assert!(hidden_call
            .location
            .member
            .as_deref()
            .unwrap_or_default()
            .starts_with("frame-reading@"));
    }

    #[test]
    fn hex_int_literal() {
        let f = findings_of(b"I0x10\n.");
        assert!(f.iter().any(|f| f.rule == "parser-divergence"));
    }
}
