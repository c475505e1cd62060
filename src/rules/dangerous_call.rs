//! `dangerous-call`: a callable from the knowledge base invoked by any call form, named directly.

use super::{
    arguments, call_text, category_explanation, is_direct, owned_by_other_rule, push_merged, resolves_to_allowed,
    rule_meta, target_path, StreamContext,
};
use crate::kb::Class;
use crate::model::{Confidence, Finding};
use std::collections::HashMap;

rule_meta!(
    "dangerous-call",
    "Dangerous callable invoked",
    Critical,
    "Loading the file calls a function that runs code, starts processes, reaches the network or the file system, or loads native code."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let mut added = HashMap::new();
    for kept in &cx.facts.calls {
        let Class::Dangerous(danger) = kept.class else { continue };
        if owned_by_other_rule(&danger.category.id)
            || cx.chain_links.contains(&kept.call.id)
            || resolves_to_allowed(kept, cx.facts.kb)
            || !is_direct(kept)
        {
            continue;
        }
        let call = call_text(kept);
        let discarded = if kept.call.discarded.get() {
            " (its result is discarded, which hides it from AST-based scanners)"
        } else {
            ""
        };
        let mut finding = cx.finding(
            &META,
            danger.severity,
            Confidence::High,
            format!("loading this file calls {call}: {}{discarded}", danger.entry.why),
            Some(kept.call.offset),
            Some(kept.call.opcode.name()),
        );
        finding.call = Some(call);
        finding.target = Some(target_path(kept));
        finding.category = Some(danger.category.id.to_string());
        finding.explanation = category_explanation(kept);
        arguments::enrich(&mut finding, kept);
        push_merged(out, &mut added, finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;
    use crate::model::Severity;

    #[test]
    fn global_reduce_os_system() {
        let f = findings_of(b"cos\nsystem\n(S'true'\ntR.");
        let hit = f.iter().find(|f| f.rule == "dangerous-call").expect("flagged");
        assert_eq!(hit.severity, Severity::Critical);
        assert_eq!(hit.call.as_deref(), Some("os.system('true')"));
        assert_eq!(hit.target.as_deref(), Some("os.system"));
    }

    #[test]
    fn inst_and_obj_forms() {
        let inst = findings_of(b"(S'true'\nios\nsystem\n.");
        assert!(inst
            .iter()
            .any(|f| f.rule == "dangerous-call" && f.location.opcode.as_deref() == Some("INST")));
        let obj = findings_of(b"(cos\nsystem\nS'true'\no.");
        assert!(obj
            .iter()
            .any(|f| f.rule == "dangerous-call" && f.location.opcode.as_deref() == Some("OBJ")));
    }

    #[test]
    fn popped_call_is_still_reported() {
        let f = findings_of(b"cbuiltins\neval\n(S'1+1'\ntR0N.");
        let hit = f.iter().find(|f| f.rule == "dangerous-call").expect("flagged");
        assert!(hit.message.contains("discarded"));
    }

    #[test]
    fn plain_data_is_not_flagged() {
        assert!(findings_of(b"\x80\x04}\x94(\x8c\x01a\x94K\x01u.").is_empty());
    }
}
