//! `torchscript-code`: TorchScript archives carry Python-like source under `code/`. TorchScript
//! code can only call `torch` operators; source that reaches the operating system, the Python
//! interpreter or the file system is reported.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "torchscript-code",
    "TorchScript source reaching the system",
    Medium,
    "A TorchScript archive's code/ source calls something outside TorchScript's operator set (os, subprocess, builtins eval/exec, file I/O)."
);

/// Markers of code that leaves TorchScript's sandbox of tensor operators.
const MARKERS: &[(&str, &str)] = &[
    ("os.system", "runs a shell command"),
    ("os.popen", "runs a shell command"),
    ("subprocess", "starts processes"),
    ("__import__", "imports arbitrary modules"),
    ("importlib", "imports arbitrary modules"),
    ("builtins.eval", "evaluates Python source"),
    ("builtins.exec", "executes Python source"),
    ("eval(", "evaluates source"),
    ("exec(", "executes source"),
    ("socket.", "opens network connections"),
    ("urllib", "reaches the network"),
    ("open(", "opens files"),
    ("ops.aten.system", "names no real operator (a disguised call)"),
    ("torch.ops.load_library", "loads native code"),
    ("ctypes", "loads native code"),
];

pub fn check_source(member: &str, source: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (line_no, line) in source.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default();
        if let Some((marker, why)) = MARKERS.iter().find(|(m, _)| code.contains(m)) {
            let snippet: String = line.trim().chars().take(160).collect();
            out.push(
                Finding::new(META.id, Severity::Medium, Confidence::Medium, format!("line {}: `{snippet}` uses {marker}, which {why}", line_no + 1))
                    .at(Some(member), None, None)
                    .with_explanation("Scripted models are compiled to TorchScript, whose code calls tensor operators only; TorchScript cannot compile calls like these, so torch.jit.load fails on them. Source that reaches the system was written into the archive by hand: find out who did, and why."),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_system_calls_not_tensor_code() {
        assert!(check_source("code/__torch__/m.py", "def forward(self, x):\n  return torch.relu(x)\n").is_empty());
        let f = check_source(
            "code/__torch__/m.py",
            "def forward(self, x):\n  os.system('true')\n  return x\n",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.starts_with("line 2"));
    }
}
