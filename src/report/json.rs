//! JSON output, version 1 (documented in docs/output-formats.md; additions only).

use crate::kb::Kb;
use crate::scan::ScanOutcome;
use serde::Serialize;

#[derive(Serialize)]
struct Document<'o> {
    version: u32,
    tool: Tool,
    files: &'o [crate::scan::FileReport],
    summary: &'o crate::scan::Summary,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
    knowledge_base: KnowledgeBase,
}

#[derive(Serialize)]
struct KnowledgeBase {
    dangerous: String,
    frameworks: String,
}

pub fn render(outcome: &ScanOutcome) -> String {
    let kb = Kb::builtin();
    let doc = Document {
        version: 1,
        tool: Tool {
            name: "picklegate",
            version: env!("CARGO_PKG_VERSION"),
            knowledge_base: KnowledgeBase {
                dangerous: kb.dangerous_version.clone(),
                frameworks: kb.frameworks_version.clone(),
            },
        },
        files: &outcome.files,
        summary: &outcome.summary,
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("report types serialize");
    out.push('\n');
    out
}
