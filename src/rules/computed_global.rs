//! `computed-global`: STACK_GLOBAL whose module or name is not a constant string, or an EXT code
//! that no `copyreg.add_extension` in the stream registered: the imported callable cannot be
//! known before the load.

use super::{rule_meta, StreamContext, MESSAGE_RENDER};
use crate::formats::pickle::{render, Value};
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "computed-global",
    "Callable chosen at load time",
    High,
    "The file imports a callable whose name is computed while loading (or comes from the extension registry), so no scanner can know what it is in advance."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    for call in &cx.facts.unresolved_calls {
        // Calling the result of a computed global is reported with that global below.
        if matches!(call.callee, Value::ComputedGlobal(_)) {
            continue;
        }
        // High when the callable comes out of a lookup the knowledge base marks dangerous
        // (getattr, operator getters, format-string walks…), medium otherwise.
        let from_lookup = match &call.callee {
            Value::Call(maker) => maker
                .target
                .as_ref()
                .is_some_and(|t| matches!(cx.facts.kb.classify(&t.module, &t.name), crate::kb::Class::Dangerous(_))),
            _ => false,
        };
        let severity = if from_lookup { Severity::High } else { Severity::Medium };
        let text = render(&Value::Call(call.clone()), MESSAGE_RENDER);
        let mut finding = cx
            .finding(
                &META,
                severity,
                Confidence::Medium,
                format!("loading this file calls a callable that is only known at load time: {text}"),
                Some(call.offset),
                Some(call.opcode.name()),
            )
            .with_explanation("The file calls the result of another call. What that result is cannot be known without running the file; legitimate model files call classes and functions they name.");
        finding.call = Some(text);
        out.push(finding);
    }
    for global in &cx.facts.computed_globals {
        let from_registry = matches!(global.module, Value::Opaque(_));
        let (severity, opcode, message) = if from_registry {
            (
                Severity::Medium,
                "EXT",
                format!(
                    "the file imports extension code {} from copyreg's registry, which is empty unless the loading program filled it; what it names depends on that program",
                    render(&global.name, MESSAGE_RENDER)
                ),
            )
        } else {
            (
                Severity::High,
                "STACK_GLOBAL",
                format!(
                    "the file imports a callable whose module and name are computed while loading: find_class({}, {})",
                    render(&global.module, MESSAGE_RENDER),
                    render(&global.name, MESSAGE_RENDER)
                ),
            )
        };
        let finding = cx
            .finding(&META, severity, Confidence::Medium, message, Some(global.offset), Some(opcode))
            .with_explanation("Legitimate pickles always name the classes they need with constant strings. A name built at load time is there to hide the callable from scanners.");
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;
    use crate::model::Severity;

    #[test]
    fn names_read_from_a_dict_past_the_container_limit_are_unknown() {
        // {'m': 'collections', 'n': 'OrderedDict', 0: 0, … 1021: 1021, 'm': 'os', 'n': 'system'}:
        // the dict keeps the last 'm' and 'n', which lie past the 1,024 kept items.
        let su = |s: &str| [&[0x8c, s.len() as u8][..], s.as_bytes()].concat();
        let mut data = b"\x80\x04}(".to_vec();
        for s in ["m", "collections", "n", "OrderedDict"] {
            data.extend(su(s));
        }
        for i in 0..1022u32 {
            data.push(b'J');
            data.extend(i.to_le_bytes());
            data.push(b'J');
            data.extend(i.to_le_bytes());
        }
        for s in ["m", "os", "n", "system"] {
            data.extend(su(s));
        }
        data.extend_from_slice(b"uq\x000coperator\ngetitem\nq\x010");
        data.extend_from_slice(b"h\x01h\x00");
        data.extend(su("m"));
        data.extend_from_slice(b"\x86Rh\x01h\x00");
        data.extend(su("n"));
        data.extend_from_slice(b"\x86R\x93");
        data.extend(su("true"));
        data.extend_from_slice(b"\x85R.");
        let f = findings_of(&data);
        assert!(f.iter().any(|f| f.severity >= Severity::High), "{f:#?}");
    }

    #[test]
    fn stack_global_on_unknown_call_results() {
        // STACK_GLOBAL fed by the results of calls the analysis cannot model.
        let data = b"\x80\x04\x8c\x03foo\x8c\x03bar\x93)R\x8c\x03foo\x8c\x03baz\x93)R\x93).";
        let f = findings_of(data);
        assert!(
            f.iter()
                .any(|f| f.rule == "computed-global" && f.severity == Severity::High),
            "{f:#?}"
        );
    }

    #[test]
    fn calling_a_lookup_result_that_cannot_be_resolved() {
        // getattr(mytools.thing(), mytools.name())('x'): the attribute name is computed.
        let f = findings_of(b"cbuiltins\ngetattr\n(cmytools\nthing\n)Rcmytools\nname\n)RtR(S'x'\ntR.");
        assert!(
            f.iter()
                .any(|f| f.rule == "computed-global" && f.severity == Severity::High),
            "{f:#?}"
        );
    }

    #[test]
    fn unregistered_extension_code() {
        let f = findings_of(b"\x80\x02\x82\x01)R.");
        assert!(
            f.iter()
                .any(|f| f.rule == "computed-global" && f.severity == Severity::Medium),
            "{f:#?}"
        );
    }
}
