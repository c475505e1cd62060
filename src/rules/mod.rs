//! Detection rules. Each rule is one file with a stable kebab-case id, a default severity, a
//! docs page under `docs/rules/`, unit tests and a fixture. Rules read the facts of one pickle
//! stream and write findings; they never lower a finding because of anything inside the file.

use crate::analyze::facts::{Facts, KeptCall};
use crate::formats::pickle::{render, Call, CallKind, RenderLimits, StreamReport, Value};
use crate::model::{Confidence, Finding, Severity};
use std::collections::{HashMap, HashSet};

mod archive_anomaly;
pub mod arguments;
mod code_object;
mod computed_global;
pub(crate) mod cross_file_reference;
mod dangerous_call;
mod dangerous_import;
pub(crate) mod forged_tensor;
mod global_tampering;
pub(crate) mod lfs_pointer;
mod limit_exceeded;
mod malformed_container;
mod malformed_pickle;
mod multiple_pickles;
mod nested_pickle;
mod not_a_model;
mod obfuscated_call;
mod parser_divergence;
mod protocol_anomaly;
pub(crate) mod remote_code;
mod resource_expansion;
mod suspicious_argument;
mod suspicious_name;
mod torchscript_code;
mod trailing_data;
mod unknown_global;
mod unscannable_content;

/// A rule's fixed description.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable kebab-case id: never renamed, only retired.
    pub id: &'static str,
    pub title: &'static str,
    pub default_severity: Severity,
    /// One line: what it catches.
    pub summary: &'static str,
    /// The docs page (`docs/rules/<id>.md`), compiled in for `rules explain` and SARIF help.
    pub doc: &'static str,
}

macro_rules! rule_meta {
    ($id:literal, $title:literal, $severity:ident, $summary:literal) => {
        pub const META: $crate::rules::RuleMeta = $crate::rules::RuleMeta {
            id: $id,
            title: $title,
            default_severity: $crate::model::Severity::$severity,
            summary: $summary,
            doc: include_str!(concat!("../../docs/rules/", $id, ".md")),
        };
    };
}
pub(crate) use rule_meta;

/// Every rule, in the order they run and are listed.
pub const ALL: &[&RuleMeta] = &[
    &dangerous_call::META,
    &obfuscated_call::META,
    &dangerous_import::META,
    &code_object::META,
    &nested_pickle::META,
    &computed_global::META,
    &global_tampering::META,
    &suspicious_argument::META,
    &unknown_global::META,
    &suspicious_name::META,
    &parser_divergence::META,
    &protocol_anomaly::META,
    &multiple_pickles::META,
    &trailing_data::META,
    &malformed_pickle::META,
    &limit_exceeded::META,
    &resource_expansion::META,
    &archive_anomaly::META,
    &malformed_container::META,
    &unscannable_content::META,
    &not_a_model::META,
    &lfs_pointer::META,
    &torchscript_code::META,
    &cross_file_reference::META,
    &remote_code::META,
    &forged_tensor::META,
];

pub fn find(id: &str) -> Option<&'static RuleMeta> {
    ALL.iter().copied().find(|m| m.id == id)
}

/// Analyses a nested pickle found inside a stream: returns its findings and whether the nested
/// analysis was incomplete.
pub type NestedAnalyzer<'f> = dyn Fn(&[u8], &str) -> (Vec<Finding>, bool) + 'f;

/// Everything a rule may look at for one stream.
pub struct StreamContext<'c, 'a, 'k> {
    pub facts: &'c Facts<'a, 'k>,
    pub report: &'c StreamReport,
    /// Member or stream label for locations.
    pub member: Option<&'c str>,
    pub nested: &'c NestedAnalyzer<'c>,
    /// Calls that are links of a reported chain (so the chain is reported once, at its end).
    pub chain_links: HashSet<u32>,
}

impl StreamContext<'_, '_, '_> {
    pub fn finding(
        &self,
        meta: &RuleMeta,
        severity: Severity,
        confidence: Confidence,
        message: String,
        offset: Option<usize>,
        opcode: Option<&str>,
    ) -> Finding {
        Finding::new(meta.id, severity, confidence, message).at(self.member, offset, opcode)
    }
}

pub use archive_anomaly::finding as archive_anomaly_finding;
pub use forged_tensor::oversized_storage as oversized_storage_finding;
pub use lfs_pointer::finding as lfs_pointer_finding;
pub use limit_exceeded::finding as limit_exceeded_finding;
pub use malformed_container::finding as malformed_container_finding;
pub use multiple_pickles::finding as multiple_pickles_finding;
pub use not_a_model::finding as not_a_model_finding;
pub use torchscript_code::check_source as torchscript_code_findings;
pub use trailing_data::finding as trailing_data_finding;
pub use unscannable_content::finding as unscannable_content_finding;

/// Runs every rule over one stream.
pub fn check_stream(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    dangerous_call::check(cx, out);
    obfuscated_call::check(cx, out);
    dangerous_import::check(cx, out);
    code_object::check(cx, out);
    nested_pickle::check(cx, out);
    computed_global::check(cx, out);
    global_tampering::check(cx, out);
    suspicious_argument::check(cx, out);
    unknown_global::check(cx, out);
    suspicious_name::check(cx, out);
    parser_divergence::check(cx, out);
    protocol_anomaly::check(cx, out);
    malformed_pickle::check(cx, out);
    limit_exceeded::check(cx, out);
    resource_expansion::check(cx, out);
    forged_tensor::check(cx, out);
}

/// Adds `finding`, or counts it on the equal one (same target and message) this rule already
/// added for the stream: a stream that makes the same call 100,000 times holds one finding, not
/// 100,000 until the file's findings are merged.
pub fn push_merged(out: &mut Vec<Finding>, added: &mut HashMap<(Option<String>, String), usize>, finding: Finding) {
    match added.entry((finding.target.clone(), finding.message.clone())) {
        std::collections::hash_map::Entry::Occupied(at) => {
            let merged = &mut out[*at.get()];
            merged.occurrences = merged.occurrences.saturating_add(finding.occurrences);
        }
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(out.len());
            out.push(finding);
        }
    }
}

/// Whether a lookup call (getattr, import_module…) resolved to a callable the allowlist covers:
/// `getattr(zoneinfo.ZoneInfo, '_unpickle')` is how pandas pickles time zones.
pub fn resolves_to_allowed(kept: &KeptCall<'_, '_>, kb: &crate::kb::Kb) -> bool {
    let Some(folded) = &kept.call.folded else { return false };
    match crate::formats::pickle::semantics::resolve(folded) {
        Some(crate::formats::pickle::semantics::Resolved::Callable(t)) => {
            matches!(kb.classify(&t.module, &t.name), crate::kb::Class::Allowed { .. })
        }
        _ => false,
    }
}

/// Ids of the calls whose results feed a reported dangerous call's callee (getattr results,
/// partial and methodcaller makers, import calls): reported as the chain of that call, not on
/// their own. Only the callee and the operand a lookup works on are followed; other arguments
/// (where a real call could hide) are not links.
pub fn chain_links(facts: &Facts<'_, '_>) -> HashSet<u32> {
    let mut links = HashSet::new();
    for kept in &facts.calls {
        if matches!(kept.class, crate::kb::Class::Dangerous(_)) && !resolves_to_allowed(kept, facts.kb) {
            collect_links(&kept.call.callee, &mut links, 0);
        }
    }
    links
}

fn collect_links(value: &Value<'_>, links: &mut HashSet<u32>, depth: usize) {
    if depth > 16 {
        return;
    }
    match value {
        Value::Call(c) => {
            // Calls are shared through the memo: visiting each once keeps this linear.
            if !links.insert(c.id) {
                return;
            }
            collect_links(&c.callee, links, depth + 1);
            if let Some(first) = c.args.items().and_then(|items| items.into_iter().next()) {
                collect_links(&first, links, depth + 1);
            }
        }
        Value::Bound(b) => collect_links(&b.receiver, links, depth + 1),
        _ => {}
    }
}

/// Limits for the call text in messages.
pub const MESSAGE_RENDER: RenderLimits = RenderLimits {
    max_str: 120,
    max_items: 8,
    max_depth: 6,
    name_calls: false,
};

/// The call as Python, with the arguments the target really receives.
pub fn call_text(kept: &KeptCall<'_, '_>) -> String {
    render(&Value::Call(kept.call.clone()), MESSAGE_RENDER)
}

/// The dotted path of a call's effective target.
pub fn target_path(kept: &KeptCall<'_, '_>) -> String {
    kept.target
        .as_ref()
        .map(|t| t.path())
        .unwrap_or_else(|| "<unknown>".into())
}

/// How the target was reached when it was not named directly.
pub fn indirection(kept: &KeptCall<'_, '_>) -> Vec<String> {
    let mut chain = Vec::new();
    if let Some(outer) = &kept.trampoline_of {
        chain.push(format!("called by {} with its own arguments", outer.path()));
    }
    match &kept.call.callee {
        Value::Global(g) => {
            use crate::formats::pickle::GlobalOrigin;
            match g.origin {
                GlobalOrigin::Stack { computed: true } => {
                    chain.push(format!("name computed at load time: {}", g.path()))
                }
                GlobalOrigin::Extension(code) => chain.push(format!(
                    "EXT code {code}, registered in copyreg's extension table earlier in this stream"
                )),
                GlobalOrigin::Lookup => chain.push(format!("looked up as {}", g.path())),
                _ => {}
            }
            if let Some((m, n)) = &g.renamed_from {
                chain.push(format!("{m}.{n} renamed by _compat_pickle"));
            }
            if let crate::kb::Class::Dangerous(d) = kept.class {
                if d.via_attribute_path {
                    chain.push(format!(
                        "attribute path {} reaches {}",
                        g.path(),
                        d.entry.target.replace(':', ".")
                    ));
                }
            }
        }
        other @ (Value::Call(_) | Value::Bound(_)) => chain.push(render(other, MESSAGE_RENDER)),
        _ => {}
    }
    if let (Value::Call(maker), CallKind::Reduce | CallKind::Obj | CallKind::Inst) = (&kept.call.callee, kept.call.kind)
    {
        if is_wrapper(maker) {
            chain.push(format!(
                "wrapped by {}",
                maker.target.as_ref().map(|t| t.path()).unwrap_or_default()
            ));
        }
    }
    chain
}

fn is_wrapper(call: &Call<'_>) -> bool {
    call.target.as_ref().is_some_and(|t| {
        let m = crate::formats::pickle::semantics::canonical_module(&t.module);
        matches!(
            (m, &*t.name),
            ("functools", "partial" | "partialmethod") | ("operator", "methodcaller" | "attrgetter" | "itemgetter")
        )
    })
}

/// Whether the call names its target directly (GLOBAL/INST/plain STACK_GLOBAL then a call).
pub fn is_direct(kept: &KeptCall<'_, '_>) -> bool {
    indirection(kept).is_empty()
}

/// The category explanation to attach to a dangerous finding.
pub fn category_explanation(kept: &KeptCall<'_, '_>) -> Option<String> {
    match kept.class {
        crate::kb::Class::Dangerous(d) => Some(format!(
            "{} — {} ({}). {}",
            d.entry.target.replace(':', "."),
            d.entry.why,
            d.category.title,
            d.category.description
        )),
        _ => None,
    }
}

/// Whether a KB category is reported by a rule other than dangerous-call.
pub fn owned_by_other_rule(category: &str) -> bool {
    matches!(category, "code-objects" | "nested-loaders")
}

/// `target(args)` with the arguments the target really receives (after partial/methodcaller).
pub fn render_effective(kept: &KeptCall<'_, '_>) -> String {
    let args = kept.call.effective_args.as_ref().unwrap_or(&kept.call.args);
    let rendered = render(args, MESSAGE_RENDER);
    let inner = match args {
        Value::Tuple(_) => {
            let trimmed = rendered.trim_start_matches('(').trim_end_matches(')');
            trimmed.strip_suffix(',').unwrap_or(trimmed).to_string()
        }
        _ => format!("*{rendered}"),
    };
    format!("{}({inner})", target_path(kept))
}
