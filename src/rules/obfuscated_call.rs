//! `obfuscated-call`: a dangerous callable reached through lookups, wrappers, computed names,
//! extension codes, attribute paths or functions that call their arguments.

use super::{
    arguments, call_text, category_explanation, indirection, is_direct, owned_by_other_rule, push_merged,
    render_effective, resolves_to_allowed, rule_meta, target_path, StreamContext,
};
use crate::kb::Class;
use crate::model::{Confidence, Finding, Severity};
use std::collections::HashMap;

rule_meta!(
    "obfuscated-call",
    "Dangerous callable reached through indirection",
    Critical,
    "Loading the file calls a dangerous function that is never named directly: it is reached through getattr/__import__/importlib chains, functools.partial, operator getters, computed names, EXT codes, attribute paths or trampolines."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let mut added = HashMap::new();
    for kept in &cx.facts.calls {
        let Class::Dangerous(danger) = kept.class else { continue };
        if owned_by_other_rule(&danger.category.id)
            || cx.chain_links.contains(&kept.call.id)
            || resolves_to_allowed(kept, cx.facts.kb)
            || is_direct(kept)
        {
            continue;
        }
        let effective = render_effective(kept);
        let chain = indirection(kept);
        let mut finding = cx.finding(
            &META,
            if danger.severity >= Severity::High { Severity::Critical } else { Severity::High },
            Confidence::High,
            format!(
                "loading this file calls {effective} ({}), reached as {}; hiding the callable this way has no use in a legitimate model file",
                danger.entry.why,
                call_text(kept)
            ),
            Some(kept.call.offset),
            Some(kept.call.opcode.name()),
        );
        finding.call = Some(effective);
        finding.target = Some(target_path(kept));
        finding.chain = chain;
        finding.category = Some(danger.category.id.to_string());
        finding.explanation = category_explanation(kept);
        arguments::enrich(&mut finding, kept);
        push_merged(out, &mut added, finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    fn obfuscated(data: &[u8]) -> crate::model::Finding {
        let f = findings_of(data);
        f.iter()
            .find(|f| f.rule == "obfuscated-call")
            .cloned()
            .unwrap_or_else(|| panic!("not flagged: {f:#?}"))
    }

    #[test]
    fn getattr_import_chain() {
        let hit = obfuscated(b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'true'\ntR.");
        assert_eq!(hit.target.as_deref(), Some("os.system"));
        assert!(
            hit.message.contains("getattr(__import__('os'), 'system')('true')"),
            "{}",
            hit.message
        );
        // The chain's links are not reported separately.
        let all = findings_of(b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'true'\ntR.");
        assert_eq!(
            all.iter()
                .filter(|f| f.severity >= crate::model::Severity::High)
                .count(),
            1,
            "{all:#?}"
        );
    }

    #[test]
    fn computed_stack_global_operands() {
        // codecs.decode('bf', 'rot13') + codecs.decode('flfgrz', 'rot13') -> STACK_GLOBAL
        let data = b"\x80\x04\x8c\x06codecs\x8c\x06decode\x93\x8c\x02bf\x8c\x05rot13\x86R\x8c\x06codecs\x8c\x06decode\x93\x8c\x06flfgrz\x8c\x05rot13\x86R\x93\x8c\x04true\x85R.";
        let hit = obfuscated(data);
        assert_eq!(hit.target.as_deref(), Some("os.system"));
    }

    #[test]
    fn functools_partial_wrapper() {
        let hit = obfuscated(b"cfunctools\npartial\n(cos\nsystem\nS'true'\ntR)R.");
        assert_eq!(hit.call.as_deref(), Some("os.system('true')"));
    }

    #[test]
    fn dotted_path_through_harmless_module() {
        let hit = obfuscated(b"\x80\x04\x8c\x07pathlib\x8c\tos.system\x93\x8c\x04true\x85R.");
        assert_eq!(hit.target.as_deref(), Some("pathlib.os.system"));
        assert!(hit.chain.iter().any(|c| c.contains("reaches os.system")));
    }

    #[test]
    fn trampoline_through_allowlisted_rebuild() {
        let data = b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(cos\nsystem\nctorch\nTensor\nX\x04\x00\x00\x00true\x85}tR.";
        let hit = obfuscated(data);
        assert!(hit.chain.iter().any(|c| c.contains("_rebuild_from_type_v2")));
    }
}
