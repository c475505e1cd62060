//! `nested-pickle`: a deserializer (pickle, dill, joblib, torch, numpy, pandas…) applied during
//! the load to constant bytes (decoded through base64/hex/zlib/codecs first when wrapped) or to
//! another file. Embedded payloads are scanned recursively.

use super::{call_text, rule_meta, target_path, StreamContext};
use crate::formats::pickle::semantics::settle;
use crate::formats::pickle::Value;
use crate::kb::Class;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "nested-pickle",
    "Nested deserialization",
    High,
    "Loading the file calls another deserializer on embedded bytes or on another file; the inner payload is decoded and scanned too."
);

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    for kept in &cx.facts.calls {
        let Class::Dangerous(danger) = kept.class else { continue };
        if danger.category.id != "nested-loaders" || cx.chain_links.contains(&kept.call.id) {
            continue;
        }
        let target = kept
            .target
            .as_ref()
            .expect("kept calls classified dangerous have a target");
        let loader = cx.facts.kb.loader_for(&target.module, &target.name);
        let args: Vec<Value<'_>> = kept
            .call
            .effective_args
            .as_ref()
            .unwrap_or(&kept.call.args)
            .items()
            .unwrap_or_default()
            .iter()
            .map(settle)
            .collect();
        let input = loader.map(|l| l.arg).and_then(|i| args.get(i)).or_else(|| args.first());
        let call = call_text(kept);
        let offset = Some(kept.call.offset);
        let opcode = Some(kept.call.opcode.name());
        let (severity, message, inner) = match input {
            Some(Value::Bytes(payload) | Value::ByteArray(payload)) => {
                let label = format!(
                    "{}nested@{}",
                    cx.member.map(|m| format!("{m}/")).unwrap_or_default(),
                    kept.call.offset
                );
                let (inner, incomplete) = (cx.nested)(payload, &label);
                let worst = inner.iter().map(|f| f.severity).max();
                // The embedded payload was analysed like any file: the loader call is as
                // dangerous as what it loads.
                // A framework's own rebuild of analysed, data-only bytes is data; any other
                // deserializer called during a load is reported at its knowledge-base severity.
                let rebuild = loader.is_some_and(|l| l.framework_rebuild);
                let (severity, summary) = match worst {
                    Some(Severity::High | Severity::Critical) => (
                        Severity::Critical,
                        "the embedded pickle is malicious (see the findings under it)",
                    ),
                    _ if incomplete => (danger.severity, "the embedded pickle could not be fully analysed"),
                    Some(Severity::Medium) => (
                        Severity::Medium,
                        "the embedded pickle has findings of its own (see the findings under it)",
                    ),
                    _ if rebuild => (Severity::Low, "the embedded pickle was analysed and holds only data"),
                    _ => (
                        danger.severity,
                        "the embedded pickle was analysed (see any findings under it)",
                    ),
                };
                (
                    severity,
                    format!(
                        "loading this file deserializes {} embedded bytes with {}: {summary}",
                        payload.len(),
                        target_path(kept)
                    ),
                    inner,
                )
            }
            Some(input) if referenced_path(input).is_some() => (
                danger.severity.max(Severity::High),
                format!(
                    "loading this file loads another file, {:?}, with {}",
                    referenced_path(input).unwrap_or_default(),
                    target_path(kept)
                ),
                Vec::new(),
            ),
            _ => (
                danger.severity.max(Severity::High),
                format!(
                    "loading this file calls the deserializer {} on data the analysis cannot see",
                    target_path(kept)
                ),
                Vec::new(),
            ),
        };
        let mut finding = cx.finding(&META, severity, Confidence::High, message, offset, opcode);
        finding.reference = input.and_then(referenced_path);
        finding.call = Some(call);
        finding.target = Some(target_path(kept));
        finding.category = Some(danger.category.id.to_string());
        finding.explanation = Some(format!(
            "{} — {}. {}",
            danger.entry.target.replace(':', "."),
            danger.entry.why,
            danger.category.description
        ));
        out.push(finding);
        out.extend(inner);
    }
}

/// The file a loader's input names: a constant path, or `open(<constant path>, …)`.
fn referenced_path(input: &Value<'_>) -> Option<String> {
    match input {
        Value::Str(path) => Some(path.to_string()),
        Value::Call(call) => {
            let target = call.target.as_ref()?;
            let opener = matches!(
                target.path().as_str(),
                "builtins.open" | "io.open" | "codecs.open" | "gzip.open" | "bz2.open" | "lzma.open" | "io.FileIO"
            );
            match call.args.items()?.first().map(settle) {
                Some(Value::Str(path)) if opener => Some(path.to_string()),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;
    use crate::model::Severity;

    #[test]
    fn loads_of_embedded_malicious_pickle() {
        let inner = b"cos\nsystem\n(S'true'\ntR.";
        let mut data = b"\x80\x03c_pickle\nloads\nC".to_vec();
        data.push(inner.len() as u8);
        data.extend_from_slice(inner);
        data.extend_from_slice(b"\x85R.");
        let f = findings_of(&data);
        let outer = f.iter().find(|f| f.rule == "nested-pickle").expect("flagged");
        assert_eq!(outer.severity, Severity::Critical);
        let inner = f
            .iter()
            .find(|f| f.rule == "dangerous-call")
            .expect("inner payload scanned");
        assert!(inner
            .location
            .member
            .as_deref()
            .unwrap_or_default()
            .starts_with("nested@"));
    }

    #[test]
    fn data_only_payload_is_low_only_for_framework_rebuilds() {
        let inner = b"\x80\x04]\x94(K\x01K\x02e.";
        let wrap = |loader: &[u8]| {
            let mut data = b"\x80\x03c".to_vec();
            data.extend_from_slice(loader);
            data.push(b'C');
            data.push(inner.len() as u8);
            data.extend_from_slice(inner);
            data.extend_from_slice(b"\x85R.");
            data
        };
        let f = findings_of(&wrap(b"torch.storage\n_load_from_bytes\n"));
        assert_eq!(
            f.iter().find(|f| f.rule == "nested-pickle").expect("reported").severity,
            Severity::Low,
            "{f:#?}"
        );
        let f = findings_of(&wrap(b"_pickle\nloads\n"));
        assert!(
            f.iter().find(|f| f.rule == "nested-pickle").expect("reported").severity >= Severity::High,
            "{f:#?}"
        );
    }

    #[test]
    fn base64_wrapped_payload_is_decoded() {
        // pickle.loads(base64.b64decode('<b64 of os.system payload>'))
        let b64 = b"Y29zCnN5c3RlbQooUyd0cnVlJwp0Ui4=";
        let mut data = b"cpickle\nloads\n(cbase64\nb64decode\n(S'".to_vec();
        data.extend_from_slice(b64);
        data.extend_from_slice(b"'\ntRtR.");
        let f = findings_of(&data);
        assert!(
            f.iter()
                .any(|f| f.rule == "dangerous-call" && f.target.as_deref() == Some("os.system")),
            "{f:#?}"
        );
    }
}
