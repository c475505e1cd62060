//! `protocol-anomaly`: PROTO not first in a stream, or repeated. A later PROTO changes how the
//! unpickler resolves names (dotted paths from 4, `_compat_pickle` renames below 3).

use super::{rule_meta, StreamContext};
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "protocol-anomaly",
    "PROTO out of place",
    Low,
    "A PROTO opcode appears after the start of the stream or more than once; switching across protocols 3 and 4 changes how names resolve."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let protocols = &cx.report.protocols;
    for (i, &(offset, proto)) in protocols.iter().enumerate() {
        let first_opcode = offset == cx.report.start;
        if first_opcode && i == 0 {
            continue;
        }
        let previous = if i > 0 { Some(protocols[i - 1].1) } else { None };
        let crosses = previous.is_some_and(|p| (p < 3) != (proto < 3) || (p < 4) != (proto < 4));
        let severity = if crosses { Severity::Medium } else { Severity::Low };
        let message = match previous {
            Some(p) if crosses => {
                format!("PROTO switches from {p} to {proto} mid-stream, changing how later names are resolved")
            }
            Some(p) => format!("PROTO {proto} repeated (previously {p})"),
            None => format!("PROTO {proto} is not the first opcode of the stream"),
        };
        let finding = cx
            .finding(&META, severity, Confidence::High, message, Some(offset), Some("PROTO"))
            .with_explanation("Python's pickler writes one PROTO, first. Tools that read only the first PROTO mis-model what follows a second one.");
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;
    use crate::model::Severity;

    #[test]
    fn proto_switch_is_medium() {
        let f = findings_of(b"\x80\x02\x80\x04N.");
        assert!(f
            .iter()
            .any(|f| f.rule == "protocol-anomaly" && f.severity == Severity::Medium));
        let f = findings_of(b"\x80\x02N.");
        assert!(!f.iter().any(|f| f.rule == "protocol-anomaly"));
    }
}
