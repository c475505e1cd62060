//! The analysis core: bytes in, findings out. No file system, no printing, no threads.
//!
//! [`analyze`] decides what the bytes are ([`crate::formats::sniff`]), opens containers down to
//! every pickle they hold, runs the symbolic machine on each pickle stream and the rules on what
//! it reports.

pub mod behaviours;
mod containers;
mod context;
pub mod facts;
pub mod loaders;
pub mod program;

use crate::formats::pickle::{run_stream, run_stream_without_inline_arrays, DivergenceKind, Limits, Value};
use crate::formats::torch;
use crate::kb::Kb;
use crate::model::{Finding, Severity, Verdict};
use crate::rules::{self, StreamContext};
use facts::Facts;
use rustc_hash::FxHashMap;
use std::rc::Rc;

/// Options for one analysis.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub limits: Limits,
    /// How deep nested pickles (pickle.loads of embedded bytes) are followed.
    pub max_nesting: usize,
    /// How many consecutive pickles one member may hold before analysis stops.
    pub max_streams: usize,
    /// How deep containers may nest (zip in tar in gzip…).
    pub max_container_depth: usize,
    /// Members read per archive.
    pub max_members: usize,
    /// Largest decompressed member or stream.
    pub max_decompressed: usize,
    /// Decompressed output allowed per compressed byte…
    pub max_compression_ratio: usize,
    /// …but never less than this.
    pub min_decompression_cap: usize,
    /// Globals the project declares legitimate (`[[allow]]` in picklegate.toml). They never
    /// override the dangerous list: configuration refuses such entries.
    pub allow: Vec<AllowPattern>,
    /// Also build the decompiled view of every stream ([`Analysis::programs`]).
    pub programs: bool,
    /// Keep the decompiled view of the streams with findings of medium or above (for their
    /// excerpts). Cheap: a stream's statements are written as code only when it is kept.
    pub excerpts: bool,
}

/// A project allowlist pattern: `module:name`, or `module:*` for a module and its submodules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowPattern {
    pub module: String,
    /// `None` for every name in the module and its submodules.
    pub name: Option<String>,
}

impl AllowPattern {
    pub fn parse(pattern: &str) -> Option<AllowPattern> {
        let (module, name) = pattern.split_once(':')?;
        Some(AllowPattern {
            module: module.to_string(),
            name: (name != "*").then(|| name.to_string()),
        })
    }

    pub fn matches(&self, module: &str, name: &str) -> bool {
        match &self.name {
            Some(n) => self.module == module && n == name,
            None => {
                module == self.module
                    || module
                        .strip_prefix(self.module.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            }
        }
    }
}

impl std::fmt::Display for AllowPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.module, self.name.as_deref().unwrap_or("*"))
    }
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            limits: Limits::default(),
            max_nesting: 4,
            max_streams: 4_096,
            max_container_depth: 6,
            max_members: 100_000,
            max_decompressed: 1 << 30,
            max_compression_ratio: 100,
            min_decompression_cap: 32 << 20,
            allow: Vec::new(),
            programs: false,
            excerpts: false,
        }
    }
}

/// The result of analysing one file's bytes.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// What the bytes were read as ("pickle", "torch-zip", "gzip/joblib", …).
    pub format: String,
    pub findings: Vec<Finding>,
    /// Some part could not be analysed: the file is never clean.
    pub incomplete: bool,
    pub streams: usize,
    pub opcodes: u64,
    /// Frameworks whose allowlisted globals the file uses, by id (sorted).
    pub frameworks: Vec<String>,
    /// Project `[[allow]]` patterns that covered a global in this file (sorted).
    pub allowed: Vec<String>,
    /// The decompiled streams, in the order they were read: every stream when `programs` was
    /// asked for, the streams with findings of medium or above when `excerpts` was.
    pub programs: Vec<program::Program>,
    /// With `excerpts`: a finding of medium or above lies in a stream whose program was not
    /// kept (a container check reported it after the stream was read). Analysing again with
    /// `programs` gives its excerpt.
    pub programs_missing: bool,
    /// What loading the file would cost, predicted without loading it.
    pub estimate: LoadEstimate,
}

/// The work and memory a load would need, predicted from the streams: opcodes to run, objects
/// built (memo and DUP sharing counted each time it is reachable), memo entries, and the bytes
/// the tensor storages declare. The findings say when it is out of proportion
/// (resource-expansion, limit-exceeded, forged-tensor).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadEstimate {
    pub opcodes: u64,
    pub objects: u64,
    pub memo_entries: u64,
    pub tensor_bytes: u64,
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
    analyze_named(bytes, None, options)
}

/// Like [`analyze_with`], with the file's name as a hint: content that is no recognisable
/// format but starts with a pickle opcode, in a file named like a pickle, is read as a
/// (malformed) pickle rather than dismissed as unknown data.
pub fn analyze_named(bytes: &[u8], file_name: Option<&str>, options: &AnalyzeOptions) -> Analysis {
    let mut session = Session::new(options, file_name);
    session.programs = (options.programs || options.excerpts).then(Vec::new);
    let format = session.artifact(bytes, None, 0);
    let frameworks: Vec<String> = session.frameworks.keys().cloned().collect();
    let mut findings = session.findings;
    let programs_missing = findings.iter().any(|f| {
        let (Some(spans), Some(offset), true) = (
            session.unkept_streams.get(&f.location.member),
            f.location.offset,
            f.severity >= Severity::Medium,
        ) else {
            return false;
        };
        // Spans are in reading order: the last one starting at or before the offset.
        let after = spans.partition_point(|&(start, _)| start as u64 <= offset);
        after > 0 && offset <= spans[after - 1].1 as u64
    });
    context::explain(&mut findings, &session.frameworks);
    loaders::annotate(&mut findings, &format);
    finish(Analysis {
        format,
        findings,
        incomplete: session.incomplete,
        streams: session.streams,
        opcodes: session.opcodes,
        frameworks,
        allowed: session.allowed.into_iter().collect(),
        programs: session.programs.unwrap_or_default(),
        programs_missing,
        estimate: LoadEstimate {
            opcodes: session.opcodes,
            tensor_bytes: session
                .storages
                .iter()
                .map(|(_, s)| s.numel.saturating_mul(s.itemsize))
                .fold(0u64, u64::saturating_add),
            ..session.estimate
        },
    })
}

/// Sorts and merges findings so that the same input always gives the same output.
fn finish(mut analysis: Analysis) -> Analysis {
    analysis.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let mut merged: Vec<Finding> = Vec::with_capacity(analysis.findings.len());
    let mut index: std::collections::HashMap<(String, Option<String>, Option<String>, String), usize> =
        std::collections::HashMap::new();
    for finding in analysis.findings {
        let key = (
            finding.rule.clone(),
            finding.location.member.clone(),
            finding.target.clone(),
            finding.message.clone(),
        );
        match index.get(&key) {
            Some(&i) => merged[i].occurrences = merged[i].occurrences.saturating_add(finding.occurrences),
            None => {
                index.insert(key, merged.len());
                merged.push(finding);
            }
        }
    }
    analysis.findings = merged;
    analysis
}

/// State of one file's analysis.
pub(crate) struct Session<'o> {
    pub options: &'o AnalyzeOptions,
    /// The scanned file's name, a hint for content no magic identifies.
    pub file_name: Option<&'o str>,
    pub findings: Vec<Finding>,
    pub incomplete: bool,
    pub streams: usize,
    pub opcodes: u64,
    /// Allowlisted globals seen, per framework id.
    pub frameworks: std::collections::BTreeMap<String, u32>,
    /// Project `[[allow]]` patterns that covered a global.
    pub allowed: std::collections::BTreeSet<String>,
    /// Decompiled streams, when asked for.
    pub programs: Option<Vec<program::Program>>,
    /// Streams decompiled for excerpts but not kept (no finding of medium or above when they
    /// were read), by member: start and end offsets, in reading order.
    pub unkept_streams: FxHashMap<Option<String>, Vec<(usize, usize)>>,
    /// Storages PyTorch pickles declared, by the member they were declared in.
    pub storages: Vec<(Option<Rc<str>>, facts::StorageDecl)>,
    /// Objects and memo entries over all streams.
    pub estimate: LoadEstimate,
    /// Embedded pickles that may still be analysed in this file (shared by nested sessions).
    pub nested_budget: std::rc::Rc<std::cell::Cell<usize>>,
    /// Frame-honouring and plain re-readings that may still be made in this file: each reads
    /// on to a STOP, through every later stream.
    pub readings_left: usize,
}

/// Embedded pickles analysed per file, over all nesting levels.
const MAX_NESTED_ANALYSES: usize = 64;
/// Frame-honouring re-readings per stream.
const MAX_ALTERNATE_READINGS: usize = 4;
/// Re-readings per file.
const MAX_READINGS_PER_FILE: usize = 16;
/// Decompiled statements kept per file (each up to a few kilobytes of code).
const MAX_PROGRAM_STATEMENTS: usize = 10_000;

impl<'o> Session<'o> {
    pub(crate) fn new(options: &'o AnalyzeOptions, file_name: Option<&'o str>) -> Self {
        Session {
            options,
            file_name,
            findings: Vec::new(),
            incomplete: false,
            streams: 0,
            opcodes: 0,
            frameworks: Default::default(),
            allowed: Default::default(),
            programs: None,
            unkept_streams: FxHashMap::default(),
            storages: Vec::new(),
            estimate: LoadEstimate::default(),
            nested_budget: std::rc::Rc::new(std::cell::Cell::new(MAX_NESTED_ANALYSES)),
            readings_left: MAX_READINGS_PER_FILE,
        }
    }
}

/// What a pickle stream returned, reduced to owned data a container layout needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Returned {
    Int(i64),
    BigInt(String),
    Str(String),
    Global(String),
    Seq(Vec<Returned>),
    Other,
}

impl Returned {
    fn of(value: &Value<'_>, depth: usize) -> Returned {
        match value {
            Value::Int(i) => Returned::Int(*i),
            Value::BigInt(s) => Returned::BigInt(s.to_string()),
            Value::Str(s) => Returned::Str(s.to_string()),
            Value::Global(g) => Returned::Global(g.path()),
            Value::Tuple(_) | Value::List(_) if depth < 2 => Returned::Seq(
                value
                    .items()
                    .unwrap_or_default()
                    .iter()
                    .map(|v| Returned::of(v, depth + 1))
                    .collect(),
            ),
            _ => Returned::Other,
        }
    }
}

/// One stream's outcome as the container layouts see it.
pub(crate) struct StreamStep {
    /// Where the stream ended (past STOP), or `None` when it broke.
    pub end: Option<usize>,
    pub returned: Option<Returned>,
    pub inline_arrays: u32,
    /// The bytes broke at their first opcode without importing or calling anything: data after
    /// a pickle, not another pickle (limits and later errors do not count).
    pub not_a_pickle: bool,
}

impl Session<'_> {
    fn add(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Runs one pickle stream at `pos` and the rules on it.
    pub(crate) fn stream(&mut self, data: &[u8], pos: usize, member: Option<&str>, depth: usize) -> StreamStep {
        let options = self.options;
        let mut nested_findings = Vec::new();
        let nested_incomplete = std::cell::Cell::new(false);
        let nested_budget = self.nested_budget.clone();
        let seen_payloads = std::cell::RefCell::new(std::collections::HashSet::new());
        let nested = |payload: &[u8], label: &str| -> (Vec<Finding>, bool) {
            // The same memoised payload handed to many loader calls is analysed once.
            if !seen_payloads
                .borrow_mut()
                .insert((payload.as_ptr() as usize, payload.len()))
            {
                return (Vec::new(), false);
            }
            let out_of_budget = nested_budget.get() == 0;
            if depth + 1 > options.max_nesting || out_of_budget {
                let why = if out_of_budget {
                    format!("more than {MAX_NESTED_ANALYSES} embedded pickles in one file; the rest were not analysed")
                } else {
                    format!(
                        "nested pickles deeper than {} levels were not analysed",
                        options.max_nesting
                    )
                };
                nested_incomplete.set(true);
                return (vec![rules::limit_exceeded_finding(Some(label), why)], true);
            }
            nested_budget.set(nested_budget.get() - 1);
            let mut inner = Session::new(options, None);
            inner.nested_budget = nested_budget.clone();
            // Loaders such as torch.load accept archives as well as raw pickles.
            inner.artifact(payload, Some(label), depth + 1);
            if inner.incomplete {
                nested_incomplete.set(true);
            }
            (inner.findings, inner.incomplete)
        };
        let mut facts = Facts::new(Kb::builtin(), &options.allow);
        // Later streams go undecompiled once the file holds enough statements.
        let decompile = self.programs.as_ref().is_some_and(|programs| {
            programs.iter().map(|p| p.statements.len()).sum::<usize>() < MAX_PROGRAM_STATEMENTS
        });
        let mut decompiler = program::Decompiler::default();
        let report = if decompile {
            run_stream(
                data,
                pos,
                &options.limits,
                &mut program::Tee {
                    first: &mut facts,
                    second: &mut decompiler,
                },
            )
        } else {
            run_stream(data, pos, &options.limits, &mut facts)
        };
        self.streams += 1;
        self.opcodes += report.opcodes;
        self.estimate.objects = self.estimate.objects.saturating_add(report.max_logical_size);
        self.estimate.memo_entries = self.estimate.memo_entries.saturating_add(report.memo_entries as u64);
        let chain_links = rules::chain_links(&facts);
        let cx = StreamContext {
            facts: &facts,
            report: &report,
            member,
            nested: &nested,
            chain_links,
        };
        rules::check_stream(&cx, &mut nested_findings);
        let straddles = report.divergences.iter().filter_map(|d| match d.kind {
            DivergenceKind::FrameStraddle { frame_end } => Some(frame_end),
            _ => None,
        });
        let mut readings: Vec<(usize, bool)> = straddles
            .take(MAX_ALTERNATE_READINGS)
            .map(|frame_end| (frame_end, true))
            .collect();
        if report.inline_arrays > 0 {
            // pickle.load (not joblib.load) reads array bytes as opcodes: what that reading
            // would run is reported too.
            readings.push((pos, false));
        }
        if readings.len() > self.readings_left {
            self.incomplete = true;
            nested_findings.push(rules::limit_exceeded_finding(
                member,
                format!("more than {MAX_READINGS_PER_FILE} alternate readings (FRAME straddles, joblib array bytes) in one file; the rest were not analysed"),
            ));
        }
        readings.truncate(self.readings_left);
        self.readings_left -= readings.len();
        for (start, honour_frames) in readings {
            nested_findings.extend(alternate_reading(data, start, member, options, &nested, honour_frames));
        }
        if facts.overflowed {
            nested_findings.push(rules::limit_exceeded_finding(
                member,
                "the stream makes more distinct imports and calls than the analysis keeps; the rest was not analysed"
                    .into(),
            ));
        }
        let step = StreamStep {
            end: report.completed().then_some(report.end),
            returned: facts.result.as_ref().map(|v| Returned::of(v, 0)),
            inline_arrays: report.inline_arrays,
            not_a_pickle: facts.is_empty()
                && report.opcodes <= 1
                && report
                    .error
                    .as_ref()
                    .is_some_and(|e| !matches!(e.kind, crate::formats::pickle::MachineErrorKind::Limit(_))),
        };
        if report.error.is_some() || report.budget_exhausted || nested_incomplete.get() || facts.overflowed {
            self.incomplete = true;
        }
        for (framework, count) in &facts.frameworks_seen {
            *self.frameworks.entry(framework.clone()).or_default() += count;
        }
        self.allowed.extend(facts.allow_hits.iter().cloned());
        if !facts.storages.is_empty() {
            let member: Option<Rc<str>> = member.map(Rc::from);
            self.storages
                .extend(facts.storages.iter().map(|s| (member.clone(), s.clone())));
        }
        if let Some(programs) = self.programs.as_mut().filter(|_| decompile) {
            let wanted = options.programs
                || nested_findings.iter().any(|f| {
                    f.severity >= Severity::Medium
                        && f.location.offset.is_some()
                        && f.location.member.as_deref() == member
                });
            if wanted {
                programs.push(decompiler.finish(member, pos, &report));
            } else {
                self.unkept_streams
                    .entry(member.map(str::to_string))
                    .or_default()
                    .push((pos, report.end));
            }
        }
        self.findings.append(&mut nested_findings);
        step
    }

    /// Every pickle in `data`, one after another, with the legacy torch layout recognised by
    /// its magic number. Returns the format name.
    pub(crate) fn pickle_streams(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> String {
        let mut pos = 0;
        let mut index = 0;
        let mut legacy = false;
        let mut joblib = false;
        let mut second_stream_at = None;
        // Where each stream's findings start, to name legacy streams by their role.
        let mut stream_findings = Vec::new();
        loop {
            let incomplete_before = self.incomplete;
            let findings_before = self.findings.len();
            stream_findings.push(findings_before);
            let label = if legacy {
                Some(legacy_label(member, index))
            } else {
                member.map(str::to_string)
            };
            let step = self.stream(data, pos, label.as_deref(), depth);
            if index > 0 && step.not_a_pickle && !legacy {
                // Not another pickle: bytes pickle.load never reads.
                self.findings.truncate(findings_before);
                self.incomplete = incomplete_before;
                self.streams -= 1;
                self.add(rules::trailing_data_finding(member, pos, data.len() - pos));
                break;
            }
            joblib |= step.inline_arrays > 0;
            // torch's legacy layout: the magic number, then protocol 1001 (also when the magic
            // itself is computed by a call, as in picklescan's magic bypass).
            let legacy_now = (index == 0
                && matches!(&step.returned, Some(Returned::BigInt(m)) if m == torch::LEGACY_MAGIC))
                || (index == 1 && step.returned == Some(Returned::Int(torch::LEGACY_PROTOCOL)));
            if legacy_now && !legacy {
                legacy = true;
                second_stream_at = None;
                for (stream, &start) in stream_findings.iter().enumerate() {
                    let end = stream_findings.get(stream + 1).copied().unwrap_or(self.findings.len());
                    for finding in &mut self.findings[start..end] {
                        finding.location.member = Some(legacy_label(member, stream));
                    }
                }
            }
            if index == 1 && !legacy {
                second_stream_at = Some(pos);
            }
            let Some(end) = step.end else { break };
            pos = end;
            index += 1;
            if legacy && index == torch::LEGACY_PICKLES {
                // The rest is raw storage data, read by size and never unpickled.
                break;
            }
            if pos >= data.len() {
                break;
            }
            if index >= self.options.max_streams {
                self.add(rules::limit_exceeded_finding(
                    member,
                    format!(
                        "more than {} pickles in one stream; the rest was not analysed",
                        self.options.max_streams
                    ),
                ));
                self.incomplete = true;
                break;
            }
        }
        if let Some(at) = second_stream_at {
            self.add(rules::multiple_pickles_finding(member, index.max(2), at));
        }
        if legacy {
            "torch-legacy".into()
        } else if joblib {
            "joblib".into()
        } else {
            "pickle".into()
        }
    }
}

/// `legacy:<role>` for the pickles of torch's legacy format (under the member, if any).
fn legacy_label(member: Option<&str>, index: usize) -> String {
    let role = torch::LEGACY_ROLES.get(index).copied().unwrap_or("extra");
    match member {
        Some(m) => format!("{m}/legacy:{role}"),
        None => format!("legacy:{role}"),
    }
}

/// Reads the stream again the way another loader would: after a FRAME straddle, from the frame
/// end (a frame-honouring reader); or, for joblib files, without joblib's inline arrays (plain
/// `pickle.load`). What that reading would run is reported; its parse errors are expected.
fn alternate_reading(
    data: &[u8],
    start: usize,
    member: Option<&str>,
    options: &AnalyzeOptions,
    nested: &rules::NestedAnalyzer<'_>,
    frame_reading: bool,
) -> Vec<Finding> {
    let mut facts = Facts::new(Kb::builtin(), &options.allow);
    let report = if frame_reading {
        run_stream(data, start, &options.limits, &mut facts)
    } else {
        run_stream_without_inline_arrays(data, start, &options.limits, &mut facts)
    };
    let label = if frame_reading {
        format!("frame-reading@{start}")
    } else {
        "pickle-reading".to_string()
    };
    let label = format!("{}{label}", member.map(|m| format!("{m}/")).unwrap_or_default());
    let chain_links = rules::chain_links(&facts);
    let cx = StreamContext {
        facts: &facts,
        report: &report,
        member: Some(&label),
        nested,
        chain_links,
    };
    let mut found = Vec::new();
    rules::check_stream(&cx, &mut found);
    if frame_reading {
        found.retain(|f| f.severity >= Severity::Medium && f.rule != "limit-exceeded");
    } else {
        // Array bytes read as opcodes are mostly noise: only a call of a callable the knowledge
        // base names as dangerous counts there.
        found.retain(|f| f.severity >= Severity::High && f.category.is_some());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpts() -> AnalyzeOptions {
        AnalyzeOptions {
            excerpts: true,
            ..AnalyzeOptions::default()
        }
    }

    #[test]
    fn excerpts_keep_only_the_programs_of_streams_with_findings() {
        // A benign stream, then os.system('true'): the second alone is kept.
        let data = b"\x80\x02K\x01.\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.";
        let analysis = analyze_with(data, &excerpts());
        assert_eq!(analysis.programs.len(), 1, "{:#?}", analysis.programs);
        assert_eq!(analysis.programs[0].offset, 5);
        assert!(analysis.programs[0].to_python().contains("os.system('true')"));
        assert!(!analysis.programs_missing);
        let all = analyze_with(
            data,
            &AnalyzeOptions {
                programs: true,
                ..AnalyzeOptions::default()
            },
        );
        assert_eq!(all.programs.len(), 2);
        assert_eq!(all.programs[1], analysis.programs[0]);
    }

    #[test]
    fn a_finding_outside_the_kept_programs_asks_for_them_all() {
        let data = std::fs::read("fixtures/containers/torch/forged_storage_size.pt").unwrap();
        let analysis = analyze_with(&data, &excerpts());
        assert!(analysis.findings.iter().any(|f| f.rule == "forged-tensor"));
        assert!(analysis.programs.is_empty());
        assert!(analysis.programs_missing);
        assert!(!analyze(&data).programs_missing, "without excerpts nothing is missing");
    }
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

    pub(crate) use crate::formats::zip::build as zip;
}
