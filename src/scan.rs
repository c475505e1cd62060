//! Orchestration: find the files, read them, analyse them in parallel, and put the results in a
//! deterministic order. The only module that combines I/O with analysis.

use crate::analyze::{analyze_named, AllowPattern, AnalyzeOptions};
use crate::config::LfsPolicy;
use crate::formats::{self, lfs, Kind};
use crate::model::{Finding, Severity, Verdict};
use crate::walk::{Candidate, Source};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub analyze: AnalyzeOptions,
    pub fail_on: Option<Severity>,
    /// Worker threads (0: one per core).
    pub jobs: usize,
    pub hash: HashPolicy,
    pub lfs: LfsPolicy,
    /// Files larger than this are reported as not scanned (0: no cap).
    pub max_file_size: u64,
    /// The project allowlist, each entry limited to files matching its path globs.
    pub allow: Vec<ProjectAllow>,
}

/// An `[[allow]]` entry as the scan applies it.
#[derive(Debug, Clone)]
pub struct ProjectAllow {
    pub pattern: AllowPattern,
    /// Files the entry applies to (every file when `None`).
    pub paths: Option<globset::GlobSet>,
}

/// Which files get a whole-file SHA-256. Hashing reads every byte, which a scan otherwise never
/// does for tensor data, so by default only files with high or critical findings (the ones
/// baselines pin to their exact content) are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPolicy {
    WithFindings,
    All,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            analyze: AnalyzeOptions::default(),
            fail_on: Some(Severity::High),
            jobs: 0,
            hash: HashPolicy::WithFindings,
            lfs: LfsPolicy::Fail,
            max_file_size: 0,
            allow: Vec::new(),
        }
    }
}

/// One scanned file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub sha256: Option<String>,
    pub size: u64,
    pub format: String,
    pub verdict: Verdict,
    /// Part of the file could not be analysed (never clean).
    pub incomplete: bool,
    pub findings: Vec<Finding>,
    /// Frameworks whose legitimate globals the file uses (ids from the knowledge base).
    pub frameworks: Vec<String>,
    /// Why the file could not be read, when it could not.
    pub error: Option<String>,
}

impl FileReport {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub files: usize,
    pub clean: usize,
    pub suspicious: usize,
    pub malicious: usize,
    pub error: usize,
    pub findings: SeverityCounts,
    pub fail_on: String,
    /// Whether the gate fails: a finding at or above `fail_on`, or a file not fully analysed.
    pub failed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanOutcome {
    pub files: Vec<FileReport>,
    pub summary: Summary,
}

/// Scans the candidates in parallel; results come back sorted by path. `progress` is called
/// once per file, from worker threads.
pub fn scan(candidates: &[Candidate], options: &ScanOptions, progress: &(dyn Fn() + Sync)) -> ScanOutcome {
    let work = || {
        candidates
            .par_iter()
            .filter_map(|c| {
                let report = scan_candidate(c, options);
                progress();
                report
            })
            .collect::<Vec<_>>()
    };
    let mut files = match rayon::ThreadPoolBuilder::new().num_threads(options.jobs).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    };
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let summary = summarize(&files, options.fail_on);
    ScanOutcome { files, summary }
}

pub fn summarize(files: &[FileReport], fail_on: Option<Severity>) -> Summary {
    let mut summary = Summary {
        files: files.len(),
        clean: 0,
        suspicious: 0,
        malicious: 0,
        error: 0,
        findings: SeverityCounts::default(),
        fail_on: fail_on.map(|s| s.as_str().to_string()).unwrap_or_else(|| "none".into()),
        failed: false,
    };
    for file in files {
        match file.verdict {
            Verdict::Clean => summary.clean += 1,
            Verdict::Suspicious => summary.suspicious += 1,
            Verdict::Malicious => summary.malicious += 1,
            Verdict::Error => summary.error += 1,
        }
        for finding in &file.findings {
            let slot = match finding.severity {
                Severity::Critical => &mut summary.findings.critical,
                Severity::High => &mut summary.findings.high,
                Severity::Medium => &mut summary.findings.medium,
                Severity::Low => &mut summary.findings.low,
                Severity::Info => &mut summary.findings.info,
            };
            *slot += 1;
        }
        let over = fail_on.is_some_and(|level| file.worst().is_some_and(|w| w >= level));
        if over || file.incomplete || file.error.is_some() {
            summary.failed = true;
        }
    }
    summary
}

/// Reads and analyses one candidate. Read failures are data, not errors: the scan goes on.
/// `None` when the candidate was only sniffed (`--all-files`) and is not a format picklegate
/// reads, or is a Git LFS pointer and the policy is to skip them.
pub fn scan_candidate(candidate: &Candidate, options: &ScanOptions) -> Option<FileReport> {
    if let (Source::File(path), cap @ 1..) = (&candidate.source, options.max_file_size) {
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.len() > cap {
                return Some(too_large(candidate, meta.len(), cap));
            }
        }
    }
    let bytes = match &candidate.source {
        Source::File(path) => match read(path) {
            Ok(bytes) => bytes,
            Err(e) => return Some(unreadable(candidate, e.to_string())),
        },
        Source::Bytes(bytes) => Bytes::Shared(bytes.clone()),
    };
    if candidate.sniff_only {
        let head = &bytes[..bytes.len().min(1 << 16)];
        if matches!(formats::sniff(head), Kind::Unknown | Kind::NotModel(_)) && !formats::also_pickle(head) {
            return None;
        }
    }
    let mut analyze = options.analyze.clone();
    analyze.allow = options
        .allow
        .iter()
        .filter(|a| a.paths.as_ref().is_none_or(|globs| globs.is_match(&candidate.display)))
        .map(|a| a.pattern.clone())
        .collect();
    let name = Path::new(&candidate.display).file_name().and_then(|n| n.to_str());
    let mut analysis = analyze_named(&bytes, name, &analyze);
    if analysis.format == "lfs-pointer" {
        if options.lfs == LfsPolicy::Skip {
            return None;
        }
        // The real content may be in the local LFS store: scan that instead.
        if let (Source::File(path), Ok(pointer)) = (&candidate.source, lfs::parse(&bytes)) {
            if let Some(object) = lfs_object(path, &pointer.oid_sha256) {
                if let Ok(content) = read(&object) {
                    analysis = analyze_named(&content, name, &analyze);
                    analysis.format = format!("lfs-object/{}", analysis.format);
                }
            }
        }
        if analysis.format == "lfs-pointer" && options.lfs == LfsPolicy::Warn {
            analysis.incomplete = false;
        }
    }
    let verdict = analysis.verdict();
    let hash = options.hash == HashPolicy::All || analysis.findings.iter().any(|f| f.severity >= Severity::High);
    Some(FileReport {
        path: candidate.display.clone(),
        sha256: hash.then(|| hex(&Sha256::digest(&bytes[..]))),
        size: bytes.len() as u64,
        format: analysis.format,
        verdict,
        incomplete: analysis.incomplete,
        findings: analysis.findings,
        frameworks: analysis.frameworks,
        error: None,
    })
}

fn too_large(candidate: &Candidate, size: u64, cap: u64) -> FileReport {
    let finding = crate::rules::limit_exceeded_finding(
        None,
        format!(
            "not scanned: the file has {size} bytes, more than max_file_size ({cap}); raise max_file_size to scan it"
        ),
    );
    FileReport {
        path: candidate.display.clone(),
        sha256: None,
        size,
        format: "not-scanned".into(),
        verdict: Verdict::Error,
        incomplete: true,
        findings: vec![finding],
        frameworks: Vec::new(),
        error: None,
    }
}

fn unreadable(candidate: &Candidate, error: String) -> FileReport {
    FileReport {
        path: candidate.display.clone(),
        sha256: None,
        size: 0,
        format: "unreadable".into(),
        verdict: Verdict::Error,
        incomplete: true,
        findings: Vec::new(),
        frameworks: Vec::new(),
        error: Some(error),
    }
}

/// `.git/lfs/objects/<aa>/<bb>/<oid>` of the repository holding `path`, when present.
fn lfs_object(path: &Path, oid: &str) -> Option<PathBuf> {
    let absolute = std::fs::canonicalize(path).ok()?;
    let git_dir = absolute
        .ancestors()
        .skip(1)
        .map(|d| d.join(".git"))
        .find(|d| d.is_dir())?;
    let object = git_dir.join("lfs/objects").join(&oid[..2]).join(&oid[2..4]).join(oid);
    object.is_file().then_some(object)
}

/// File contents: memory-mapped when large, so that container formats read only the pickle
/// parts they need.
pub enum Bytes {
    Heap(Vec<u8>),
    Mapped(memmap2::Mmap),
    Shared(std::sync::Arc<Vec<u8>>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Heap(v) => v,
            Bytes::Mapped(m) => m,
            Bytes::Shared(b) => b,
        }
    }
}

const MMAP_THRESHOLD: u64 = 1 << 20;

pub fn read(path: &Path) -> std::io::Result<Bytes> {
    // Checked before opening: opening a FIFO blocks until a writer appears.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a FIFO, socket, device or folder)",
        ));
    }
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.len() >= MMAP_THRESHOLD {
        // SAFETY: the map is read-only and private to this process; a file truncated by another
        // process while mapped can raise SIGBUS, the same risk every mmap-based scanner takes.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::Mapped(map))
    } else {
        Ok(Bytes::Heap(std::fs::read(path)?))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
