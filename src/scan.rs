//! Orchestration: find the files, read them, analyse them in parallel, and put the results in a
//! deterministic order. The only module that combines I/O with analysis.

use crate::analyze::{analyze_named, AllowPattern, AnalyzeOptions};
use crate::config::LfsPolicy;
use crate::formats::{self, lfs, Kind};
use crate::model::{Finding, Severity, Verdict};
use crate::suppress::{self, Notice, NoticeLevel, Policy};
use crate::walk::{Candidate, FolderListing, Source};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub analyze: AnalyzeOptions,
    pub fail_on: Option<Severity>,
    /// Worker threads (0: one per core), when `workers` is not given. The walk runs on the
    /// calling thread beside them.
    pub jobs: usize,
    pub hash: HashPolicy,
    pub lfs: LfsPolicy,
    /// Files larger than this are reported as not scanned (0: no cap).
    pub max_file_size: u64,
    /// What the team accepted: `[[allow]]`, `[[suppress]]` and the baseline.
    pub policy: Policy,
    /// The repository root (or the folder scanned from): report and fingerprint paths are
    /// relative to it, whatever folder picklegate runs in.
    pub root: Option<PathBuf>,
    /// Follow references to other files (loader calls on constant paths).
    pub follow_references: bool,
    /// Also read checkpoint indexes and Hugging Face configurations in the folders of scanned
    /// models (scans of folders and of repository changes, not of files named one by one).
    pub folder_metadata: bool,
    /// Threads to scan on, started ahead (the command line starts them before the walk, the
    /// first on the knowledge base). When `None`, `jobs` threads are started for the scan.
    pub workers: Option<std::sync::Arc<rayon::ThreadPool>>,
}

/// An `[[allow]]` entry as the scan applies it.
#[derive(Debug, Clone)]
pub struct ProjectAllow {
    pub pattern: AllowPattern,
    /// Files the entry applies to (every file when `None`).
    pub paths: Option<globset::GlobSet>,
    /// How the entry is named in messages.
    pub label: String,
}

/// Which files get a whole-file SHA-256. Hashing reads every byte, which a scan otherwise never
/// does for tensor data, so by default only files with high or critical findings (the ones
/// baselines pin to their exact content) are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPolicy {
    WithHighFindings,
    /// Files with any finding (what a baseline records).
    WithFindings,
    All,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            analyze: AnalyzeOptions::default(),
            fail_on: Some(Severity::High),
            jobs: 0,
            hash: HashPolicy::WithHighFindings,
            lfs: LfsPolicy::Fail,
            max_file_size: 0,
            policy: Policy::default(),
            root: None,
            follow_references: true,
            folder_metadata: true,
            workers: None,
        }
    }
}

/// One scanned file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileReport {
    /// The path as given or found (relative to the working folder).
    pub path: String,
    /// The path from the repository root, `/`-separated: what SARIF, fingerprints and
    /// baselines use.
    pub repo_path: String,
    /// SHA-256 of the content (for a Git LFS pointer: the oid of the content it stands for).
    pub sha256: Option<String>,
    pub size: u64,
    pub format: String,
    pub verdict: Verdict,
    /// Part of the file could not be analysed (never clean).
    pub incomplete: bool,
    pub findings: Vec<Finding>,
    /// Frameworks whose legitimate globals the file uses (ids from the knowledge base).
    pub frameworks: Vec<String>,
    /// Project `[[allow]]` patterns that covered a global in this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// What loading the file would do, in a reviewer's words.
    #[serde(default)]
    pub behaviours: Vec<crate::analyze::behaviours::Behaviour>,
    /// One line: "on load: starts a process: os.system('…'); …".
    #[serde(default)]
    pub on_load: Option<String>,
    /// What loading the file would cost, predicted without loading it.
    #[serde(default)]
    pub load_estimate: crate::analyze::LoadEstimate,
    /// The file another scanned file reaches this one from (a loader's constant path, a
    /// checkpoint index), when it was scanned for that reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached_from: Option<String>,
    /// Why the file could not be read, when it could not.
    pub error: Option<String>,
    /// The canonical path, when the walk already knew it (for following references).
    #[serde(skip)]
    pub canonical: Option<PathBuf>,
}

impl FileReport {
    /// A report with no analysis results yet: clean, complete, nothing found.
    pub fn new(path: String, repo_path: String, size: u64, format: &str) -> FileReport {
        FileReport {
            path,
            repo_path,
            sha256: None,
            size,
            format: format.to_string(),
            verdict: Verdict::Clean,
            incomplete: false,
            findings: Vec::new(),
            frameworks: Vec::new(),
            allowed: Vec::new(),
            behaviours: Vec::new(),
            on_load: None,
            load_estimate: Default::default(),
            reached_from: None,
            error: None,
            canonical: None,
        }
    }

    /// The most severe finding that was not accepted.
    pub fn worst(&self) -> Option<Severity> {
        self.active().map(|f| f.severity).max()
    }

    /// Findings no suppression or baseline entry accepted.
    pub fn active(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppression.is_none())
    }

    /// Whether the file holds the gate: an active finding at or above `fail_on`, a read error,
    /// or an incomplete analysis. An incomplete file passes only when the baseline accepted
    /// every finding on it, which pins its exact content (SHA-256); a `[[suppress]]` entry
    /// cannot vouch for bytes nobody could read.
    pub fn fails_gate(&self, fail_on: Option<Severity>) -> bool {
        let over = fail_on.is_some_and(|level| self.worst().is_some_and(|w| w >= level));
        let accepted_incomplete = !self.findings.is_empty()
            && self.findings.iter().all(|f| {
                f.suppression
                    .as_ref()
                    .is_some_and(|s| s.kind == crate::model::SuppressionKind::Baseline)
            });
        over || self.error.is_some() || (self.incomplete && !accepted_incomplete)
    }

    #[cfg(test)]
    pub fn for_test(path: &str, findings: Vec<Finding>) -> FileReport {
        FileReport {
            verdict: Verdict::from_findings(&findings, false),
            findings,
            ..FileReport::new(path.to_string(), path.to_string(), 0, "pickle")
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub files: usize,
    pub clean: usize,
    pub suspicious: usize,
    pub malicious: usize,
    pub error: usize,
    /// Findings no suppression or baseline entry accepted, by severity.
    pub findings: SeverityCounts,
    /// Findings accepted by `[[suppress]]` entries or the baseline.
    pub suppressed: usize,
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
    /// About the accepted entries: expired, expiring, unused.
    pub notices: Vec<Notice>,
}

/// Scans, in parallel, the files `find` hands over as it finds them: a folder walk goes on while
/// the first files are analysed. `find` returns the folder metadata of the folders it walked
/// (for following references), or its error, which ends the scan. Results come back sorted by
/// path, whatever order the threads finished in. `progress` is called once per file, from
/// worker threads.
pub fn scan<E>(
    find: impl FnOnce(&mut dyn FnMut(Candidate)) -> Result<FolderListing, E>,
    options: &ScanOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ScanOutcome, E> {
    let scanned = Mutex::new(Vec::new());
    let started;
    let pool = match &options.workers {
        Some(pool) => Some(&**pool),
        None => {
            started = workers(options.jobs).ok();
            started.as_ref()
        }
    };
    let failed = AtomicBool::new(false);
    let folders = match pool {
        Some(pool) => pool.in_place_scope(|scope| hand_over(scope, find, options, progress, &scanned, &failed)),
        None => rayon::in_place_scope(|scope| hand_over(scope, find, options, progress, &scanned, &failed)),
    }?;
    let mut scanned = scanned.into_inner().expect("scan results");
    // The order of a sorted list of the candidates, not the order they were found or finished.
    scanned.sort_by(|(i, a, _), (j, b, _)| {
        a.display
            .cmp(&b.display)
            .then_with(|| a.path().cmp(b.path()))
            .then(i.cmp(j))
    });
    let mut files: Vec<FileReport> = scanned.into_iter().filter_map(|(_, _, report)| report).collect();
    if options.follow_references {
        crate::crossfile::follow(&mut files, options, &folders);
    }
    // Files scanned here have their fingerprints; following adds findings and files.
    for file in files
        .iter_mut()
        .filter(|f| f.findings.iter().any(|f| f.fingerprint.is_none()))
    {
        suppress::fingerprint::assign(file);
    }
    let notices = suppress::apply(&mut files, &options.policy);
    let summary = summarize(&files, options.fail_on, &notices);
    Ok(ScanOutcome {
        files,
        summary,
        notices,
    })
}

/// `jobs` worker threads (0: one per core). They start without being waited for: on a virtual
/// machine an idle core can take milliseconds to wake up, and the walk need not wait for it.
pub fn workers(jobs: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .start_handler(|_| reserve_heap())
        .build()
}

/// Each file scanned: the order it was found in, the candidate, its report.
type Scanned = Mutex<Vec<(usize, Candidate, Option<FileReport>)>>;

/// Runs `find`, scanning each file it finds on a task of its own (files differ in cost by
/// orders of magnitude: idle workers should take single files). Once `find` fails, files not
/// yet started are skipped: the scan ends with the error.
fn hand_over<'scope, E>(
    scope: &rayon::Scope<'scope>,
    find: impl FnOnce(&mut dyn FnMut(Candidate)) -> Result<FolderListing, E>,
    options: &'scope ScanOptions,
    progress: &'scope (dyn Fn() + Sync),
    scanned: &'scope Scanned,
    failed: &'scope AtomicBool,
) -> Result<FolderListing, E> {
    let mut found = 0;
    let result = find(&mut |candidate| {
        let order = found;
        found += 1;
        scope.spawn(move |_| {
            if failed.load(Ordering::Relaxed) {
                return;
            }
            let report = scan_candidate(&candidate, options);
            progress();
            scanned.lock().expect("scan results").push((order, candidate, report));
        });
    });
    if result.is_err() {
        failed.store(true, Ordering::Relaxed);
    }
    result
}

/// [`scan`] of files listed up front.
pub fn scan_listed(candidates: &[Candidate], options: &ScanOptions, progress: &(dyn Fn() + Sync)) -> ScanOutcome {
    let listed = |found: &mut dyn FnMut(Candidate)| {
        candidates.iter().cloned().for_each(found);
        Ok::<_, std::convert::Infallible>(FolderListing::new())
    };
    match scan(listed, options, progress) {
        Ok(outcome) => outcome,
        Err(never) => match never {},
    }
}

/// Grows this thread's share of the heap in large steps up front. glibc gives each thread its
/// own heap and grows it one page per system call (`mprotect`) as allocations reach its end:
/// some 700 calls in a run over a few hundred models, each taking the process's memory-map
/// lock that the other threads' page faults wait for. Blocks below the `mmap` threshold
/// (128 KiB) come from that heap; freed, they leave it grown (6 MiB, in 64 calls), and its
/// pages untouched. Measured: 0.4 to 1 ms of a 20 to 25 ms run over the corpora
/// (docs/benchmarks.md).
pub fn reserve_heap() {
    const BLOCK: usize = 96 << 10;
    const BLOCKS: usize = 64;
    let blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|_| Vec::with_capacity(BLOCK)).collect();
    drop(std::hint::black_box(blocks));
}

pub fn summarize(files: &[FileReport], fail_on: Option<Severity>, notices: &[Notice]) -> Summary {
    let mut summary = Summary {
        files: files.len(),
        clean: 0,
        suspicious: 0,
        malicious: 0,
        error: 0,
        findings: SeverityCounts::default(),
        suppressed: 0,
        fail_on: fail_on.map(|s| s.as_str().to_string()).unwrap_or_else(|| "none".into()),
        failed: notices.iter().any(|n| n.level == NoticeLevel::Error),
    };
    for file in files {
        match file.verdict {
            Verdict::Clean => summary.clean += 1,
            Verdict::Suspicious => summary.suspicious += 1,
            Verdict::Malicious => summary.malicious += 1,
            Verdict::Error => summary.error += 1,
        }
        summary.suppressed += file.findings.len() - file.active().count();
        for finding in file.active() {
            let slot = match finding.severity {
                Severity::Critical => &mut summary.findings.critical,
                Severity::High => &mut summary.findings.high,
                Severity::Medium => &mut summary.findings.medium,
                Severity::Low => &mut summary.findings.low,
                Severity::Info => &mut summary.findings.info,
            };
            *slot += 1;
        }
        if file.fails_gate(fail_on) {
            summary.failed = true;
        }
    }
    summary
}

/// Reads and analyses one candidate. Read failures are data, not errors: the scan goes on.
/// `None` when the candidate was only sniffed (`--all-files`) and is not a format picklegate
/// reads, or is a Git LFS pointer and the policy is to skip them.
pub fn scan_candidate(candidate: &Candidate, options: &ScanOptions) -> Option<FileReport> {
    let bytes = match &candidate.source {
        Source::File(path) => match open_regular(path) {
            Ok((_, len)) if options.max_file_size > 0 && len > options.max_file_size => {
                return Some(too_large(
                    candidate,
                    options.root.as_deref(),
                    len,
                    options.max_file_size,
                ));
            }
            Ok((file, len)) => match read_open(file, len) {
                Ok(bytes) => bytes,
                Err(e) => return Some(unreadable(candidate, options.root.as_deref(), e.to_string())),
            },
            Err(e) => return Some(unreadable(candidate, options.root.as_deref(), e.to_string())),
        },
        Source::Bytes(bytes) => Bytes::Shared(bytes.clone()),
    };
    if candidate.sniff_only {
        let head = &bytes[..bytes.len().min(1 << 16)];
        if matches!(formats::sniff(head), Kind::Unknown | Kind::NotModel(_)) && !formats::also_pickle(head) {
            return None;
        }
    }
    let repo_path = repo_path(candidate, options.root.as_deref());
    let mut analyze = options.analyze.clone();
    analyze.allow = options
        .policy
        .rules
        .allow
        .iter()
        .filter(|a| a.paths.as_ref().is_none_or(|globs| globs.is_match(&repo_path)))
        .map(|a| a.pattern.clone())
        .collect();
    analyze.excerpts = true;
    let name = Path::new(&candidate.display).file_name().and_then(|n| n.to_str());
    let mut analysis = analyze_named(&bytes, name, &analyze);
    let mut lfs_oid = None;
    let mut lfs_content = None;
    if analysis.format == "lfs-pointer" {
        if options.lfs == LfsPolicy::Skip {
            return None;
        }
        // The real content may be in the local LFS store: scan that instead.
        if let Ok(pointer) = lfs::parse(&bytes) {
            lfs_oid = Some(pointer.oid_sha256.clone());
        }
        if let (Source::File(path), Some(oid)) = (&candidate.source, &lfs_oid) {
            if let Some(object) = lfs_object(path, oid) {
                if let Ok(content) = read(&object) {
                    analysis = analyze_named(&content, name, &analyze);
                    analysis.format = format!("lfs-object/{}", analysis.format);
                    lfs_content = Some(content);
                }
            }
        }
        if analysis.format == "lfs-pointer" && options.lfs == LfsPolicy::Warn {
            analysis.incomplete = false;
        }
    }
    // Excerpts come from what was analysed: the LFS object when there is one, not its pointer.
    add_excerpts(lfs_content.as_deref().unwrap_or(&bytes), name, &analyze, &mut analysis);
    let behaviours = crate::analyze::behaviours::derive(&analysis.findings);
    let verdict = analysis.verdict();
    // A baseline with entries for this file may need its exact content (strict matching).
    let in_baseline = options
        .policy
        .baseline
        .as_ref()
        .is_some_and(|(b, _)| b.covers(&repo_path));
    let hash = in_baseline
        || match options.hash {
            HashPolicy::All => true,
            HashPolicy::WithFindings => !analysis.findings.is_empty(),
            HashPolicy::WithHighFindings => analysis.findings.iter().any(|f| f.severity >= Severity::High),
        };
    let sha256 = match (lfs_oid, hash) {
        (Some(oid), _) => Some(oid),
        (None, true) => Some(sha256_of(&candidate.source, &bytes)),
        (None, false) => None,
    };
    let mut report = FileReport {
        path: candidate.display.clone(),
        repo_path,
        sha256,
        size: bytes.len() as u64,
        format: analysis.format,
        verdict,
        incomplete: analysis.incomplete,
        findings: analysis.findings,
        frameworks: analysis.frameworks,
        allowed: analysis.allowed,
        on_load: crate::analyze::behaviours::summary(&behaviours),
        load_estimate: analysis.estimate.clone(),
        behaviours,
        reached_from: None,
        error: None,
        canonical: candidate.canonical.clone(),
    };
    suppress::fingerprint::assign(&mut report);
    Some(report)
}

/// Lines of the decompiled program per finding of medium or above, from the programs the
/// analysis kept; when a finding lies in a stream whose program was not kept (a container
/// check reported it after the stream was read), the file is read again with every stream
/// decompiled, which is rare.
fn add_excerpts(
    bytes: &[u8],
    name: Option<&str>,
    options: &crate::analyze::AnalyzeOptions,
    analysis: &mut crate::analyze::Analysis,
) {
    let wanted = |f: &Finding| f.severity >= Severity::Medium && f.location.offset.is_some();
    if !analysis.findings.iter().any(wanted) {
        return;
    }
    let programs = if analysis.programs_missing {
        let mut with_programs = options.clone();
        with_programs.programs = true;
        analyze_named(bytes, name, &with_programs).programs
    } else {
        std::mem::take(&mut analysis.programs)
    };
    for finding in analysis.findings.iter_mut().filter(|f| wanted(f)) {
        let Some(offset) = finding.location.offset else {
            continue;
        };
        finding.excerpt = programs
            .iter()
            .filter(|p| p.member == finding.location.member)
            .find_map(|p| p.excerpt(offset, MAX_EXCERPT_LINES));
    }
}

const MAX_EXCERPT_LINES: usize = 8;

/// The candidate's path from `root`, `/`-separated. Staged blobs already carry it; files
/// outside the root keep the path they were given.
fn repo_path(candidate: &Candidate, root: Option<&Path>) -> String {
    let (Source::File(path), Some(root)) = (&candidate.source, root) else {
        return slashed(&candidate.display);
    };
    let relative = candidate
        .canonical
        .clone()
        .or_else(|| std::fs::canonicalize(path).ok())
        .and_then(|p| p.strip_prefix(root).ok().map(Path::to_path_buf));
    match relative {
        Some(r) => r
            .components()
            .map(|c| crate::walk::display(Path::new(c.as_os_str())))
            .collect::<Vec<_>>()
            .join("/"),
        None => slashed(&candidate.display),
    }
}

/// A displayed path with `/` separators (Windows paths use `\`; elsewhere it is a name's byte).
fn slashed(display: &str) -> String {
    if cfg!(windows) {
        display.replace('\\', "/")
    } else {
        display.to_string()
    }
}

fn too_large(candidate: &Candidate, root: Option<&Path>, size: u64, cap: u64) -> FileReport {
    let finding = crate::rules::limit_exceeded_finding(
        None,
        format!(
            "not scanned: the file has {size} bytes, more than max_file_size ({cap}); raise max_file_size to scan it"
        ),
    );
    FileReport {
        verdict: Verdict::Error,
        incomplete: true,
        findings: vec![finding],
        ..FileReport::new(
            candidate.display.clone(),
            repo_path(candidate, root),
            size,
            "not-scanned",
        )
    }
}

fn unreadable(candidate: &Candidate, root: Option<&Path>, error: String) -> FileReport {
    FileReport {
        verdict: Verdict::Error,
        incomplete: true,
        error: Some(error),
        ..FileReport::new(candidate.display.clone(), repo_path(candidate, root), 0, "unreadable")
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

/// SHA-256 of a candidate's content. Large files are read through a small buffer rather than
/// through the map, so hashing a multi-gigabyte checkpoint does not fill memory.
fn sha256_of(source: &Source, bytes: &[u8]) -> String {
    use std::io::Read;
    if let (Source::File(path), true) = (source, bytes.len() as u64 >= MMAP_THRESHOLD) {
        if let Ok(mut file) = std::fs::File::open(path) {
            let mut hasher = Sha256::new();
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                match file.read(&mut buffer) {
                    Ok(0) => return hex(&hasher.finalize()),
                    Ok(n) => hasher.update(&buffer[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }
    hex(&Sha256::digest(bytes))
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

const MMAP_THRESHOLD: u64 = 64 << 10;

pub fn read(path: &Path) -> std::io::Result<Bytes> {
    let (file, len) = open_regular(path)?;
    read_open(file, len)
}

/// Opens a regular file and returns it with its length. Checked before opening: opening a
/// FIFO blocks until a writer appears, and opening a device can act on it.
fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a FIFO, socket, device or folder)",
        ));
    }
    Ok((std::fs::File::open(path)?, meta.len()))
}

fn read_open(mut file: std::fs::File, len: u64) -> std::io::Result<Bytes> {
    if len >= MMAP_THRESHOLD {
        // SAFETY: the map is read-only and private to this process; a file truncated by another
        // process while mapped can raise SIGBUS, the same risk every mmap-based scanner takes.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::Mapped(map))
    } else {
        // Read through `take`: `File::read_to_end` would stat and seek the file again to size
        // a buffer that already has the right size.
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, len), &mut bytes)?;
        Ok(Bytes::Heap(bytes))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pickles(names: &[&str]) -> (tempfile::TempDir, Vec<Candidate>) {
        let dir = tempfile::tempdir().unwrap();
        let candidates = names
            .iter()
            .map(|name| {
                let path = dir.path().join(name);
                // Protocol 2: the integer 1.
                std::fs::write(&path, b"\x80\x02K\x01.").unwrap();
                Candidate {
                    display: (*name).to_string(),
                    source: Source::File(path),
                    sniff_only: false,
                    canonical: None,
                }
            })
            .collect();
        (dir, candidates)
    }

    #[test]
    fn reports_come_in_path_order_whatever_order_files_are_found_in() {
        let names = ["e.pkl", "a.pkl", "d.pkl", "b.pkl", "c.pkl"];
        let (_dir, candidates) = pickles(&names);
        let options = ScanOptions::default();
        let reversed: Vec<Candidate> = candidates.iter().rev().cloned().collect();
        for found in [candidates, reversed] {
            let outcome = scan_listed(&found, &options, &|| {});
            let paths: Vec<&str> = outcome.files.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(paths, ["a.pkl", "b.pkl", "c.pkl", "d.pkl", "e.pkl"]);
            assert!(outcome.files.iter().all(|f| f.verdict == Verdict::Clean));
        }
    }

    #[test]
    fn an_error_of_the_walk_ends_the_scan() {
        let (_dir, candidates) = pickles(&["a.pkl"]);
        let options = ScanOptions::default();
        let outcome = scan(
            |found| {
                candidates.iter().cloned().for_each(&mut *found);
                Err("the walk failed half-way")
            },
            &options,
            &|| {},
        );
        assert_eq!(outcome.err(), Some("the walk failed half-way"));
    }
}
