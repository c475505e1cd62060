//! Loader paths: which way of loading the file reaches a payload. PyTorch, NumPy and joblib
//! each have a restricted path and an unrestricted one, and code that catches the restricted
//! path's error and retries unrestricted (the "exception-oriented" fallback) reaches payloads the
//! restricted path refuses. Every high or critical finding says which paths run it.

use crate::model::{Finding, Severity};

/// The loader path of a finding in a file read as `format`, by the member it is in.
pub fn path_for(format: &str, member: Option<&str>) -> String {
    let member = member.unwrap_or_default();
    let outer = format.rsplit('/').next().unwrap_or(format);
    if member.contains("nested@") {
        return "runs when the outer payload deserializes the embedded bytes (any loader that runs the outer pickle)"
            .into();
    }
    if outer.ends_with("torchscript") {
        return "torch.jit.load runs it, and so does torch.load, which hands TorchScript archives to torch.jit.load whatever weights_only says (PyTorch ≤ 2.5.1 also with weights_only=True: CVE-2025-32434)".into();
    }
    if outer.ends_with("torch-zip") {
        if member.is_empty() || member.ends_with("data.pkl") {
            return TORCH_UNRESTRICTED.into();
        }
        return format!(
            "torch.load never reads `{member}`: it runs only when other code unpickles that record (torch.load(..., pickle_file=...), or a loader of the archive's extra files)"
        );
    }
    if outer.starts_with("torch-legacy") {
        return format!("{TORCH_UNRESTRICTED}; the legacy format is read by torch.load's legacy path");
    }
    if outer.starts_with("numpy") {
        return "numpy.load(allow_pickle=True) runs it; the default allow_pickle=False raises ValueError instead, so it is reached by code that retries with allow_pickle=True (or by pickle.load of the array)".into();
    }
    if outer == "joblib" {
        if member == "pickle-reading" {
            return "pickle.load runs it (it reads joblib's inline array bytes as opcodes); joblib.load skips them"
                .into();
        }
        return "joblib.load runs it (joblib has no restricted mode), and so does pickle.load".into();
    }
    if matches!(outer, "tar" | "zip" | "7z") || !member.is_empty() {
        return format!("runs when something unpacks the archive and loads `{member}` (pickle.load, torch.load(weights_only=False), joblib.load)");
    }
    format!(
        "pickle.load runs it, and so does any loader of {}",
        if outer == "pickle" {
            "pickles: torch.load(weights_only=False), joblib.load, pandas.read_pickle; torch.load(weights_only=True) refuses it"
        } else {
            "the decompressed pickle"
        }
    )
}

const TORCH_UNRESTRICTED: &str = "torch.load(weights_only=False) runs it, and so does code that retries with weights_only=False when torch.load(weights_only=True) (the default since PyTorch 2.6) refuses the file: that fallback is the exception-oriented path";

/// Adds the loader path to every high or critical finding.
pub fn annotate(findings: &mut [Finding], format: &str) {
    for finding in findings
        .iter_mut()
        .filter(|f| f.severity >= Severity::High && f.loader_path.is_none())
    {
        finding.loader_path = Some(path_for(format, finding.location.member.as_deref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_by_format_and_member() {
        assert!(path_for("torch-zip", Some("archive/data.pkl")).starts_with("torch.load(weights_only=False) runs it"));
        assert!(path_for("torch-zip", Some("archive/extra.pkl")).contains("pickle_file="));
        assert!(path_for("torchscript", Some("archive/constants.pkl")).contains("torch.jit.load"));
        assert!(path_for("numpy-npy", Some("<object array>")).contains("allow_pickle=True"));
        assert!(path_for("gzip/joblib", None).starts_with("joblib.load runs it"));
        assert!(path_for("joblib", Some("pickle-reading")).starts_with("pickle.load runs it"));
        assert!(path_for("pickle", None).contains("weights_only=True) refuses it"));
        assert!(path_for("tar", Some("payload.pkl")).contains("unpacks the archive"));
        assert!(path_for("torch-zip", Some("archive/data.pkl/nested@12")).contains("embedded bytes"));
    }
}
