//! `forged-tensor`: a PyTorch archive whose tensors are not what `torch.save` writes — a view
//! that reaches past its storage, or a storage that declares more bytes than its record holds.
//! Only allowlisted globals are involved, so weights-only loaders accept the file; reading past
//! a storage is the memory-corruption family (CVE-2026-24747) and a forged size makes the loader
//! allocate what the file does not hold.

use super::{rule_meta, StreamContext};
use crate::analyze::facts::StorageDecl;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "forged-tensor",
    "Tensor metadata torch.save never writes",
    High,
    "A tensor view reaches past its storage, or a storage declares more bytes than its archive record holds: an out-of-bounds read or a forged size aimed at weights-only loaders."
);

const EXPLANATION: &str = "torch.save writes each tensor as a view (offset, sizes, strides) into a storage of exactly the size it needs, and each storage's record holds exactly numel × element size bytes. A view past its storage makes a loader read memory it does not own (weights_only=True accepts it: only allowlisted rebuild functions are involved); a storage larger than its record makes it allocate what the file does not hold. Legitimate checkpoints never do either.";

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    for view in cx.facts.overreaching_views.iter().take(16) {
        let message = format!(
            "a tensor view reads {} elements of storage '{}', which holds {}: an out-of-bounds view",
            view.needed, view.key, view.numel
        );
        let mut finding = cx
            .finding(
                &META,
                Severity::High,
                Confidence::High,
                message,
                Some(view.offset),
                Some("REDUCE"),
            )
            .with_explanation(EXPLANATION);
        finding.target = Some("torch._utils._rebuild_tensor_v2".into());
        out.push(finding);
    }
}

/// A storage whose declared size exceeds the record that holds it.
pub fn oversized_storage(member: Option<&str>, storage: &StorageDecl, record: &str, record_size: u64) -> Finding {
    let declared = u128::from(storage.numel) * u128::from(storage.itemsize);
    let mut finding = Finding::new(
        META.id,
        Severity::High,
        Confidence::High,
        format!(
            "storage '{}' ({}) declares {} elements ({declared} bytes), but its record `{record}` holds {record_size} bytes: a forged size",
            storage.key, storage.class, storage.numel
        ),
    )
    .at(member, Some(storage.offset), Some("BINPERSID"))
    .with_explanation(EXPLANATION);
    finding.target = Some(storage.class.to_string());
    finding
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::findings_of;

    /// `_rebuild_tensor_v2(persistent_load(('storage', FloatStorage, '0', 'cpu', 4)), 0, (3, 3), (3, 1), False, OrderedDict())`
    fn view(numel: u8) -> Vec<u8> {
        let mut data = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(".to_vec();
        data.extend_from_slice(
            b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK",
        );
        data.push(numel);
        data.extend_from_slice(b"tQK\x00K\x03K\x03\x86K\x03K\x01\x86\x89ccollections\nOrderedDict\n)RtR.");
        data
    }

    #[test]
    fn views_past_their_storage_are_reported() {
        let within = findings_of(&view(9));
        assert!(!within.iter().any(|f| f.rule == "forged-tensor"), "{within:#?}");
        let past = findings_of(&view(4));
        let f = past.iter().find(|f| f.rule == "forged-tensor").expect("reported");
        assert!(
            f.message.contains("reads 9 elements of storage '0', which holds 4"),
            "{}",
            f.message
        );
    }
}
