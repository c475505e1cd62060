//! `code-object`: the load builds functions or code objects (marshal, types.CodeType/FunctionType,
//! cloudpickle/dill function rebuilders).

use super::{arguments, call_text, rule_meta, target_path, StreamContext};
use crate::kb::Class;
use crate::model::{Confidence, Finding};

rule_meta!(
    "code-object",
    "Serialized code",
    High,
    "Loading the file rebuilds Python functions or code objects; whatever code they hold runs when they are called."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let mut seen = std::collections::HashSet::new();
    for kept in &cx.facts.calls {
        let Class::Dangerous(danger) = kept.class else { continue };
        if danger.category.id != "code-objects" || cx.chain_links.contains(&kept.call.id) {
            continue;
        }
        let path = target_path(kept);
        if !seen.insert(path.clone()) {
            continue;
        }
        let writer = if path.starts_with("cloudpickle") {
            "This is how cloudpickle stores functions and lambdas: the file is serialized code, not data. "
        } else if path.starts_with("dill") {
            "This is how dill stores functions: the file is serialized code, not data. "
        } else {
            ""
        };
        let call = call_text(kept);
        let mut finding = cx.finding(
            &META,
            danger.severity,
            Confidence::High,
            format!("loading this file builds code with {call}: {}", danger.entry.why),
            Some(kept.call.offset),
            Some(kept.call.opcode.name()),
        );
        finding.call = Some(call);
        finding.target = Some(path);
        finding.category = Some(danger.category.id.clone());
        finding.explanation = Some(format!(
            "{writer}Loading it recreates Python code that runs with your privileges when it is called; only load it if you trust its author as you would trust a script. Prefer formats that hold data only (safetensors, ONNX, plain arrays)."
        ));
        arguments::enrich(&mut finding, kept);
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn marshal_loads_is_code() {
        let f = findings_of(b"\x80\x03cmarshal\nloads\nC\x03abc\x85R.");
        assert!(f.iter().any(|f| f.rule == "code-object"), "{f:#?}");
    }

    #[test]
    fn cloudpickle_function_rebuild_says_so() {
        let f = findings_of(b"\x80\x04\x8c\x17cloudpickle.cloudpickle\x8c\x0e_make_function\x93)R.");
        let hit = f.iter().find(|f| f.rule == "code-object").expect("flagged");
        assert!(hit.explanation.as_deref().unwrap_or_default().contains("cloudpickle"));
    }
}
