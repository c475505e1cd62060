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
    fn unregistered_extension_code() {
        let f = findings_of(b"\x80\x02\x82\x01)R.");
        assert!(
            f.iter()
                .any(|f| f.rule == "computed-global" && f.severity == Severity::Medium),
            "{f:#?}"
        );
    }
}
