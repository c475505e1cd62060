//! Orchestration: find the files, read them, analyse them in parallel, and put the results in a
//! deterministic order. The only module that combines I/O with analysis.

use crate::analyze::{analyze_named, AnalyzeOptions};
use crate::model::{Finding, Severity, Verdict};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Extensions scanned when walking a folder (files named explicitly are always scanned).
pub const MODEL_EXTENSIONS: &[&str] = &[
    "pkl",
    "pickle",
    "pt",
    "pth",
    "bin",
    "ckpt",
    "joblib",
    "npy",
    "npz",
    "dill",
    "mar",
    "pt2",
    "safetensors",
    "tar",
    "zip",
    "gz",
    "bz2",
    "xz",
    "lzma",
    "lz4",
    "z",
    "zlib",
    "7z",
    "ptl",
    "data",
    "dat",
    "model",
    "sav",
    "pyt",
    "p",
];

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub analyze: AnalyzeOptions,
    pub fail_on: Option<Severity>,
    /// Worker threads (0: one per core).
    pub jobs: usize,
    pub hash: HashPolicy,
}

/// Which files get a whole-file SHA-256. Hashing reads every byte, which a scan otherwise never
/// does for tensor data, so by default only files with findings (the ones baselines and
/// fingerprints need) are hashed.
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

/// Collects the files to scan: files as given, folders recursively by model extension.
pub fn collect_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input)?;
        if meta.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_type = entry.file_type()?;
        let path = entry.path();
        if file_type.is_dir() {
            if entry.file_name() != ".git" {
                walk(&path, out)?;
            }
        } else if file_type.is_file() && has_model_extension(&path) {
            out.push(path);
        }
    }
    Ok(())
}

pub fn has_model_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODEL_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(e)))
}

/// Scans the given files in parallel; results come back sorted by path.
pub fn scan_files(paths: &[PathBuf], options: &ScanOptions) -> ScanOutcome {
    let work = || paths.par_iter().map(|p| scan_file(p, options)).collect::<Vec<_>>();
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

/// Reads and analyses one file. Read failures are data, not errors: the scan goes on.
pub fn scan_file(path: &Path, options: &ScanOptions) -> FileReport {
    let display = path.to_string_lossy().into_owned();
    match read(path) {
        Ok(bytes) => {
            let name = path.file_name().and_then(|n| n.to_str());
            let analysis = analyze_named(&bytes, name, &options.analyze);
            let verdict = analysis.verdict();
            let hash = options.hash == HashPolicy::All || !analysis.findings.is_empty() || analysis.incomplete;
            FileReport {
                path: display,
                sha256: hash.then(|| hex(&Sha256::digest(&bytes[..]))),
                size: bytes.len() as u64,
                format: analysis.format,
                verdict,
                incomplete: analysis.incomplete,
                findings: analysis.findings,
                frameworks: analysis.frameworks,
                error: None,
            }
        }
        Err(e) => FileReport {
            path: display,
            sha256: None,
            size: 0,
            format: "unreadable".into(),
            verdict: Verdict::Error,
            incomplete: true,
            findings: Vec::new(),
            frameworks: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

/// File contents: memory-mapped when large, so that container formats read only the pickle
/// parts they need.
pub enum Bytes {
    Heap(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Heap(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

const MMAP_THRESHOLD: u64 = 1 << 20;

pub fn read(path: &Path) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
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
