//! Framework context: which frameworks' legitimate globals a file uses, turned into plain
//! advice on its findings ("a PyTorch checkpoint normally imports only …; this one also calls
//! os.system"). Context only ever explains; it never lowers a finding, since an attacker
//! controls everything inside the file, including framework-looking imports.

use crate::kb::Kb;
use crate::model::{Finding, Severity};
use std::collections::BTreeMap;

/// What to do about a dangerous finding, by the framework the file otherwise looks like.
fn advice(framework: &str) -> &'static str {
    match framework {
        "torch" | "torchvision" | "transformers" | "accelerate" | "peft" | "timm" | "lightning" | "trl"
        | "sentence-transformers" => {
            "Do not torch.load this file. If you need the weights, get them as safetensors from a trusted source, or load only with torch.load(weights_only=True), which refuses any callable outside PyTorch's allowlist."
        }
        "torchscript" => "Do not torch.jit.load this file; re-export the model yourself from trusted source code.",
        "sklearn" | "joblib" | "gradient-boosting" | "scipy" => {
            "Do not joblib.load or pickle.load this file. Retrain or re-export the estimator yourself; for sharing, prefer skops.io (which refuses unknown types) or ONNX."
        }
        "numpy" => "Load arrays with numpy.load(allow_pickle=False), which refuses object arrays, or use .npy files without object dtype.",
        "pandas" | "pyarrow" | "xarray" => "Do not pd.read_pickle this file; exchange data frames as Parquet or Arrow instead.",
        _ => "Do not load this file with pickle or any pickle-based loader; ask its author for a format that holds data only (safetensors, ONNX, Parquet, .npy without objects).",
    }
}

/// Adds framework context and advice to every finding of high severity or above.
pub fn explain(findings: &mut [Finding], frameworks: &BTreeMap<String, u32>) {
    let kb = Kb::builtin();
    let main = frameworks
        .iter()
        .filter(|(id, _)| id.as_str() != "python")
        .max_by_key(|(id, count)| (**count, std::cmp::Reverse((*id).clone())))
        .map(|(id, _)| id.as_str());
    let described = main.and_then(|id| kb.frameworks.iter().find(|f| f.id == id));
    for finding in findings.iter_mut().filter(|f| f.severity >= Severity::High) {
        let mut text = finding.explanation.take().unwrap_or_default();
        if let Some(framework) = described {
            let what = finding
                .target
                .as_deref()
                .map(|t| format!("calls {t}"))
                .unwrap_or_else(|| "does more".to_string());
            text.push_str(&format!(
                " Context: the rest of this file looks like a {} file. {} This file also {what}, which no {} file needs.",
                framework.title, framework.context, framework.title
            ));
        }
        text.push_str(&format!(" What to do: {}", advice(main.unwrap_or(""))));
        finding.explanation = Some(text.trim_start().to_string());
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::testing::zip;
    use crate::analyze::{analyze, analyze_with, AnalyzeOptions};

    #[test]
    fn torch_context_explains_but_never_lowers() {
        // A torch-like data.pkl (OrderedDict + tensor rebuild) that also calls os.system.
        let data_pkl = b"\x80\x02ccollections\nOrderedDict\n)Rctorch._utils\n_rebuild_tensor_v2\n0cos\nsystem\nX\x04\x00\x00\x00true\x85R0.";
        let archive = zip(&[("m/data.pkl", data_pkl.as_slice()), ("m/version", b"3\n")]);
        let a = analyze_with(&archive, &AnalyzeOptions::default());
        let hit = a.findings.iter().find(|f| f.rule == "dangerous-call").expect("flagged");
        assert_eq!(hit.severity, crate::model::Severity::Critical);
        let explanation = hit.explanation.as_deref().unwrap_or_default();
        assert!(explanation.contains("PyTorch"), "{explanation}");
        assert!(explanation.contains("weights_only=True"), "{explanation}");
        assert!(a.frameworks.contains(&"torch".to_string()));
    }

    #[test]
    fn plain_payload_gets_generic_advice() {
        let a = analyze(b"cos\nsystem\n(S'true'\ntR.");
        let hit = a.findings.iter().find(|f| f.rule == "dangerous-call").expect("flagged");
        assert!(hit.explanation.as_deref().unwrap_or_default().contains("What to do"));
    }
}
