//! `picklegate decompile`: every pickle stream of a file as the Python program a load would run.

use crate::analyze::Analysis;

pub fn render(path: &str, analysis: &Analysis) -> String {
    let mut out = format!(
        "# picklegate decompile: {path} ({})\n# Nothing here ran: this is what loading the file would do, reconstructed from its opcodes.\n",
        analysis.format
    );
    if analysis.programs.is_empty() {
        out.push_str("# The file holds no pickle stream.\n");
    }
    for program in &analysis.programs {
        let place = match &program.member {
            Some(member) => format!("{member}, stream at byte {}", program.offset),
            None => format!("stream at byte {}", program.offset),
        };
        out.push_str(&format!("\n# ── {place} ({} opcodes) ──\n", program.opcodes));
        out.push_str(&program.to_python());
    }
    let verdict = analysis.verdict();
    out.push_str(&format!("\n# verdict: {}", verdict.as_str()));
    let mut rules: Vec<&str> = analysis.findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    if !rules.is_empty() {
        out.push_str(&format!(" ({}; `picklegate scan` explains them)", rules.join(", ")));
    }
    out.push('\n');
    out
}
