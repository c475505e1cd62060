//! The analysis core: bytes in, findings out. No file system, no printing, no threads.

pub mod facts;

use crate::formats::pickle::{run_stream, DivergenceKind, Limits};
use crate::kb::Kb;
use crate::model::{Confidence, Finding, Severity, Verdict};
use crate::rules::{self, StreamContext};
use facts::Facts;

/// Options for one analysis.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub limits: Limits,
    /// How deep nested pickles (pickle.loads of embedded bytes) are followed.
    pub max_nesting: usize,
    /// How many consecutive pickles one member may hold before analysis stops.
    pub max_streams: usize,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions { limits: Limits::default(), max_nesting: 4, max_streams: 4_096 }
    }
}

/// The result of analysing one file's bytes.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// What the bytes were read as ("pickle", "torch-zip", …).
    pub format: String,
    pub findings: Vec<Finding>,
    /// Some part could not be analysed: the file is never clean.
    pub incomplete: bool,
    pub streams: usize,
    pub opcodes: u64,
}

impl Analysis {
    pub fn verdict(&self) -> Verdict {
        Verdict::from_findings(&self.findings, self.incomplete)
    }
}

/// Analyses a file's bytes with default options.
pub fn analyze(bytes: &[u8]) -> Analysis {
    analyze_with(bytes, &AnalyzeOptions::default())
}

pub fn analyze_with(bytes: &[u8], options: &AnalyzeOptions) -> Analysis {
    let mut findings = Vec::new();
    let member = analyze_pickle(bytes, None, 0, options, 0, &mut findings);
    finish(Analysis { format: "pickle".into(), findings, incomplete: member.incomplete, streams: member.streams, opcodes: member.opcodes })
}

/// Sorts and merges findings so that the same input always gives the same output.
pub(crate) fn finish(mut analysis: Analysis) -> Analysis {
    analysis.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let mut merged: Vec<Finding> = Vec::with_capacity(analysis.findings.len());
    for finding in analysis.findings {
        match merged.iter_mut().find(|m| {
            m.rule == finding.rule && m.location.member == finding.location.member && m.target == finding.target && m.message == finding.message
        }) {
            Some(existing) => existing.occurrences = existing.occurrences.saturating_add(finding.occurrences),
            None => merged.push(finding),
        }
    }
    analysis.findings = merged;
    analysis
}

/// What analysing one pickle-bearing member produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberOutcome {
    pub incomplete: bool,
    pub streams: usize,
    pub opcodes: u64,
}

/// Analyses every pickle stream in `data` (one after another), appending findings.
pub fn analyze_pickle(
    data: &[u8],
    member: Option<&str>,
    base_offset: usize,
    options: &AnalyzeOptions,
    depth: usize,
    out: &mut Vec<Finding>,
) -> MemberOutcome {
    let kb = Kb::builtin();
    let mut outcome = MemberOutcome::default();
    let mut pos = 0;
    let mut second_stream_at = None;
    let nested = |payload: &[u8], label: &str| -> (Vec<Finding>, bool) {
        let mut inner = Vec::new();
        if depth + 1 > options.max_nesting {
            inner.push(
                Finding::new("limit-exceeded", Severity::Low, Confidence::High, format!("nested pickles deeper than {} levels were not analysed", options.max_nesting))
                    .at(Some(label), None, None),
            );
            return (inner, true);
        }
        let result = analyze_pickle(payload, Some(label), 0, options, depth + 1, &mut inner);
        (inner, result.incomplete)
    };
    loop {
        let mut facts = Facts::new(kb);
        let report = run_stream(data, pos, &options.limits, &mut facts);
        let index = outcome.streams;
        outcome.streams += 1;
        outcome.opcodes += report.opcodes;
        if index > 0 && report.error.is_some() && facts.is_empty() {
            out.push(rules::trailing_data_finding(member, pos + base_offset, data.len() - pos));
            outcome.streams -= 1;
            break;
        }
        if index == 1 {
            second_stream_at = Some(pos + base_offset);
        }
        let chain_links = rules::chain_links(&facts);
        let cx = StreamContext { facts: &facts, report: &report, member, stream_index: index, base_offset, nested: &nested, chain_links };
        rules::check_stream(&cx, out);
        for divergence in &report.divergences {
            if let DivergenceKind::FrameStraddle { frame_end } = divergence.kind {
                analyze_alternate_reading(data, frame_end, member, base_offset, options, &nested, out);
            }
        }
        if report.error.is_some() || report.budget_exhausted {
            outcome.incomplete = true;
            break;
        }
        pos = report.end;
        if pos >= data.len() {
            break;
        }
        if outcome.streams >= options.max_streams {
            out.push(
                Finding::new("limit-exceeded", Severity::Low, Confidence::High, format!("more than {} pickles in one stream; the rest was not analysed", options.max_streams))
                    .at(member, Some(pos + base_offset), None),
            );
            outcome.incomplete = true;
            break;
        }
    }
    if let Some(at) = second_stream_at {
        out.push(rules::multiple_pickles_finding(member, outcome.streams, at));
    }
    outcome
}

/// After a FRAME straddle, reads the stream again from the frame end, as a frame-honouring
/// reader would, so that opcodes hidden inside the overrunning argument are analysed too.
fn analyze_alternate_reading(
    data: &[u8],
    frame_end: usize,
    member: Option<&str>,
    base_offset: usize,
    options: &AnalyzeOptions,
    nested: &rules::NestedAnalyzer<'_>,
    out: &mut Vec<Finding>,
) {
    let mut facts = Facts::new(Kb::builtin());
    let report = run_stream(data, frame_end, &options.limits, &mut facts);
    let label = format!("{}frame-reading@{}", member.map(|m| format!("{m}/")).unwrap_or_default(), frame_end + base_offset);
    let chain_links = rules::chain_links(&facts);
    let cx = StreamContext { facts: &facts, report: &report, member: Some(&label), stream_index: 0, base_offset, nested, chain_links };
    let mut found = Vec::new();
    rules::check_stream(&cx, &mut found);
    // Only what the alternate reading would run matters; its parse errors are expected.
    out.extend(found.into_iter().filter(|f| f.severity >= Severity::Medium));
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn analysis_of(data: &[u8]) -> Analysis {
        analyze(data)
    }

    pub fn findings_of(data: &[u8]) -> Vec<Finding> {
        analyze(data).findings
    }
}
