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
    let builders: Vec<_> = cx
        .facts
        .calls
        .iter()
        .filter(|kept| {
            matches!(kept.class, Class::Dangerous(d) if d.category.id == "code-objects")
                && !cx.chain_links.contains(&kept.call.id)
        })
        .collect();
    let Some(first) = builders.first() else { return };
    let Class::Dangerous(danger) = first.class else { return };
    let mut paths: Vec<String> = builders.iter().map(|k| target_path(k)).collect();
    paths.sort();
    paths.dedup();
    let writer = if paths.iter().all(|p| p.starts_with("cloudpickle")) {
        "This is how cloudpickle stores functions and lambdas: the file is serialized code, not data. "
    } else if paths.iter().all(|p| p.starts_with("dill")) {
        "This is how dill stores functions: the file is serialized code, not data. "
    } else {
        ""
    };
    let call = call_text(first);
    let mut finding = cx.finding(
        &META,
        builders
            .iter()
            .filter_map(|k| {
                if let Class::Dangerous(d) = k.class {
                    Some(d.severity)
                } else {
                    None
                }
            })
            .max()
            .unwrap_or(danger.severity),
        Confidence::High,
        format!(
            "loading this file builds Python code: {} ({} call{}, first {call})",
            paths.join(", "),
            builders.len(),
            if builders.len() == 1 { "" } else { "s" }
        ),
        Some(first.call.offset),
        Some(first.call.opcode.name()),
    );
    finding.call = Some(call);
    finding.target = Some(target_path(first));
    finding.category = Some(danger.category.id.clone());
    finding.explanation = Some(format!(
        "{writer}Loading it recreates Python code that runs with your privileges when it is called; only load it if you trust its author as you would trust a script. Prefer formats that hold data only (safetensors, ONNX, plain arrays)."
    ));
    arguments::enrich(&mut finding, first);
    out.push(finding);
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
        assert_eq!(f.iter().filter(|f| f.rule == "code-object").count(), 1);
    }
}
