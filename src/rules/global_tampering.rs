//! `global-tampering`: BUILD applied to a module, class or function rather than to a fresh
//! instance: `setattr` on shared program state, the "poisoning" step of module-tampering and
//! Sleepy-Pickle style payloads.

use super::{rule_meta, StreamContext, MESSAGE_RENDER};
use crate::formats::pickle::render;
use crate::formats::pickle::semantics::{self, Resolved};
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "global-tampering",
    "Module or class attributes overwritten",
    High,
    "The file uses BUILD to set attributes on an imported module, class or function, changing code that other parts of the program share."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    for build in &cx.facts.global_builds {
        let target = render(&build.target, MESSAGE_RENDER);
        let state = render(&build.state, MESSAGE_RENDER);
        let mut finding = cx
            .finding(
                &META,
                Severity::High,
                Confidence::High,
                format!("loading this file overwrites attributes of {target} with {state}"),
                Some(build.offset),
                Some("BUILD"),
            )
            .with_explanation("BUILD normally fills in the state of an object the pickle just created. Applied to an imported module, class or function it patches shared code: a later lookup or call then reaches whatever the file stored there.");
        finding.target = match semantics::resolve(&build.target) {
            Some(Resolved::Callable(t)) => Some(t.path()),
            Some(Resolved::Module(m)) => Some(m.to_string()),
            _ => None,
        };
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn build_on_imported_function() {
        let f = findings_of(b"\x80\x04\x8c\x05numpy\x8c\x04prod\x93N}\x8c\x01a\x8c\x02oss\x86b.");
        assert!(f.iter().any(|f| f.rule == "global-tampering"), "{f:#?}");
    }
}
