//! `lfs-pointer`: a Git LFS pointer stands where the model should be. The content was not
//! fetched, so nothing was scanned; the file is never clean.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "lfs-pointer",
    "Git LFS pointer, content not scanned",
    Low,
    "The file is a Git LFS pointer, not the model: its content was not scanned. Fetch the LFS objects (git lfs pull) and scan again."
);

pub fn finding(member: Option<&str>, detail: &str) -> Finding {
    Finding::new(META.id, Severity::Low, Confidence::High, format!("not scanned: this is a Git LFS pointer ({detail}); fetch the LFS content and scan it"))
        .at(member, None, None)
        .with_explanation("CI checkouts often skip LFS content. Add `lfs: true` to actions/checkout (or run `git lfs pull`) before scanning so the real file is analysed.")
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::analysis_of;
    use crate::model::Verdict;

    #[test]
    fn pointer_is_never_clean() {
        let pointer = format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 1234\n",
            "a".repeat(64)
        );
        let a = analysis_of(pointer.as_bytes());
        assert_eq!(a.format, "lfs-pointer");
        assert!(a.findings.iter().any(|f| f.rule == "lfs-pointer"));
        assert_eq!(a.verdict(), Verdict::Error);
    }
}
