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
    /// About accepted findings: expired, expiring or unused entries.
    notices: &'o [crate::suppress::Notice],
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
                dangerous: kb.dangerous_version.to_string(),
                frameworks: kb.frameworks_version.to_string(),
            },
        },
        files: &outcome.files,
        summary: &outcome.summary,
        notices: &outcome.notices,
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("report types serialize");
    out.push('\n');
    out
}

/// What the gate needs from a JSON v1 report.
#[derive(serde::Deserialize)]
pub struct GateInput {
    pub files: Vec<crate::scan::FileReport>,
    #[serde(default)]
    pub notices: Vec<crate::suppress::Notice>,
    pub fail_on: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GateError(String);

/// Reads a JSON v1 report back for `picklegate gate`.
pub fn parse_gate(text: &str) -> Result<GateInput, GateError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        version: u32,
        files: Vec<crate::scan::FileReport>,
        #[serde(default)]
        notices: Vec<crate::suppress::Notice>,
        summary: SummaryFailOn,
    }
    #[derive(serde::Deserialize)]
    struct SummaryFailOn {
        fail_on: String,
    }
    let doc: Doc = serde_json::from_str(text).map_err(|e| GateError(e.to_string()))?;
    if doc.version != 1 {
        return Err(GateError(format!("report version {} is not 1", doc.version)));
    }
    Ok(GateInput {
        files: doc.files,
        notices: doc.notices,
        fail_on: doc.summary.fail_on,
    })
}
