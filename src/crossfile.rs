//! Files that scanned files reach: loader calls on constant paths, the shards a checkpoint
//! index lists, the Python modules a Hugging Face `config.json` maps. References are resolved
//! inside the repository, what they reach is scanned whatever its name, and the chain is
//! reported on the file that reaches it. With `scan.rs`, the only module that reads files.

use crate::model::{Finding, Severity, Verdict};
use crate::rules::cross_file_reference::{self, Reached};
use crate::rules::remote_code;
use crate::scan::{scan_candidate, FileReport, ScanOptions};
use crate::walk::{metadata_files, Candidate, FolderListing, Source};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};

/// Files scanned because something reached them, per scan.
const MAX_FOLLOWED: usize = 256;
/// References followed from a file the user named, through files reached that way.
const MAX_DEPTH: usize = 4;
/// Indexes and configurations larger than this are not read.
const MAX_METADATA: u64 = 16 << 20;

/// Where following looks for references: the scan's root, else the working folder.
fn following_root(options: &ScanOptions) -> PathBuf {
    options
        .root
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}

/// Follows every reference of `files` (sorted by path on return). `walked` holds the metadata
/// files of the folders a walk listed; other folders are listed here.
pub fn follow(files: &mut Vec<FileReport>, options: &ScanOptions, walked: &FolderListing) {
    let root = following_root(options);
    let mut follower = Follower {
        walked,
        known: FxHashMap::default(),
        canonical_dirs: FxHashMap::default(),
        queue: (0..files.len()).map(|i| (i, 0)).collect(),
        followed: 0,
        root,
        options,
        files,
    };
    for i in 0..follower.files.len() {
        if let Some(path) = follower.canonical(i) {
            follower.known.insert(path, i);
        }
    }
    follower.run();
    for file in files.iter_mut() {
        file.verdict = Verdict::from_findings(&file.findings, file.incomplete || file.error.is_some());
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
}

/// The state of one scan's following: the reports, which file each canonical path is, what is
/// left to visit (with its depth) and how many files were scanned for being reached.
struct Follower<'f, 'o> {
    files: &'f mut Vec<FileReport>,
    walked: &'o FolderListing,
    known: FxHashMap<PathBuf, usize>,
    /// Canonical form of each folder seen (resolving every file's full path again costs a
    /// readlink per path component).
    canonical_dirs: FxHashMap<PathBuf, Option<PathBuf>>,
    queue: VecDeque<(usize, usize)>,
    followed: usize,
    root: PathBuf,
    options: &'o ScanOptions,
}

impl Follower<'_, '_> {
    fn run(&mut self) {
        let mut dirs: FxHashSet<PathBuf> = FxHashSet::default();
        while let Some((i, depth)) = self.queue.pop_front() {
            let Some(path) = self.canonical(i) else {
                continue;
            };
            let base = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.root.clone());
            let references: Vec<(String, String)> = self.files[i]
                .findings
                .iter()
                .filter_map(|f| Some((f.reference.clone()?, via(f))))
                .collect();
            let from = self.files[i].repo_path.clone();
            let mut chain = Vec::new();
            for (reference, via) in references {
                if let Some(target) = self.target(&reference, &base, &from, depth) {
                    chain.push(chain_finding(self.files, &reference, &via, target));
                }
            }
            self.files[i].findings.extend(chain);
            if self.options.folder_metadata && !dirs.contains(&base) && base.starts_with(&self.root) {
                self.directory_metadata(&base, depth);
                dirs.insert(base);
            }
        }
    }

    /// The canonical path of a scanned file: as the walk found it, or its folder's canonical
    /// form (cached) and its name, unless the file itself is a link.
    fn canonical(&mut self, i: usize) -> Option<PathBuf> {
        if let Some(known) = &self.files[i].canonical {
            return Some(known.clone());
        }
        let path = PathBuf::from(&self.files[i].path);
        let path = path.as_path();
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return std::fs::canonicalize(path).ok();
        };
        if std::fs::symlink_metadata(path).ok()?.file_type().is_symlink() {
            return std::fs::canonicalize(path).ok();
        }
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let dir = self
            .canonical_dirs
            .entry(parent.to_path_buf())
            .or_insert_with(|| std::fs::canonicalize(parent).ok())
            .as_ref()?;
        Some(dir.join(name))
    }

    /// What a reference from a file in `base` reaches; `None` past the following limits.
    fn target(&mut self, reference: &str, base: &Path, from: &str, depth: usize) -> Option<Target> {
        Some(match resolve(reference, base, &self.root) {
            Resolved::Outside => Target::Outside,
            Resolved::Missing => Target::Missing,
            Resolved::Found(path) => Target::Report(self.reach(&path, from, depth)?),
        })
    }

    /// The report of `target`, scanning it first if nobody has.
    fn reach(&mut self, target: &Path, from: &str, depth: usize) -> Option<usize> {
        if let Some(&j) = self.known.get(target) {
            return Some(j);
        }
        if depth >= MAX_DEPTH || self.followed >= MAX_FOLLOWED {
            return None;
        }
        self.followed += 1;
        let cwd = std::env::current_dir().unwrap_or_default();
        let shown = target.strip_prefix(&cwd).unwrap_or(target);
        let candidate = Candidate {
            display: crate::walk::display(shown),
            source: Source::File(target.to_path_buf()),
            sniff_only: false,
            canonical: None,
        };
        let mut report = scan_candidate(&candidate, self.options)?;
        report.reached_from = Some(from.to_string());
        self.files.push(report);
        let j = self.files.len() - 1;
        self.known.insert(target.to_path_buf(), j);
        self.queue.push_back((j, depth + 1));
        Some(j)
    }

    /// Checkpoint indexes and Hugging Face configurations in a folder that holds scanned models.
    fn directory_metadata(&mut self, dir: &Path, depth: usize) {
        let names = match self.walked.get(dir) {
            Some(names) => names.clone(),
            None => metadata_files(dir),
        };
        for path in names {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() || meta.len() > MAX_METADATA || self.known.contains_key(&path) {
                continue;
            }
            let Some(json) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            else {
                continue;
            };
            let repo_path = relative(&path, &self.root);
            let config = path.ends_with("config.json");
            let findings = if config {
                auto_map(&json, &repo_path, dir)
            } else {
                self.shard_index(&json, &repo_path, dir, depth)
            };
            if findings.is_empty() {
                continue;
            }
            let cwd = std::env::current_dir().unwrap_or_default();
            let shown = crate::walk::display(path.strip_prefix(&cwd).unwrap_or(&path));
            let format = if config { "hf-config" } else { "shard-index" };
            let report = FileReport {
                verdict: Verdict::from_findings(&findings, false),
                findings,
                ..FileReport::new(shown, repo_path, meta.len(), format)
            };
            self.known.insert(path, self.files.len());
            self.files.push(report);
        }
    }

    /// `weight_map` of a sharded checkpoint index: every shard is scanned; missing ones and
    /// ones outside the numbered series are reported.
    fn shard_index(&mut self, json: &serde_json::Value, index: &str, dir: &Path, depth: usize) -> Vec<Finding> {
        let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else {
            return Vec::new();
        };
        let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        let series = series_of(&shards);
        let mut out = Vec::new();
        for shard in &shards {
            let Some(target) = self.target(shard, dir, index, depth) else {
                continue;
            };
            let finding = chain_finding(self.files, shard, &format!("listed in {index}"), target);
            if finding.severity > Severity::Info {
                out.push(finding);
            }
            if let Some((prefix, total, ext)) = &series {
                if !in_series(shard, prefix, *total, ext) {
                    out.push(cross_file_reference::off_series(
                        index,
                        shard,
                        &format!("{prefix}-NNNNN-of-{total:05}.{ext}"),
                    ));
                }
            }
        }
        out
    }
}

enum Resolved {
    Found(PathBuf),
    Missing,
    Outside,
}

enum Target {
    Report(usize),
    Missing,
    Outside,
}

/// A reference as the loading process would open it: relative to the referencing file's folder
/// or to the repository root (the usual working folder). Never outside the repository.
fn resolve(reference: &str, base: &Path, root: &Path) -> Resolved {
    let relative = Path::new(reference);
    if relative.is_absolute() || reference.starts_with('~') || reference.contains("://") {
        return Resolved::Outside;
    }
    let mut escaped = false;
    for dir in [base, root] {
        let candidate = dir.join(relative);
        if let Ok(found) = std::fs::canonicalize(&candidate) {
            if !found.starts_with(root) {
                escaped = true;
                continue;
            }
            if found.is_file() {
                return Resolved::Found(found);
            }
        } else if normalized_escapes(&candidate, root) {
            escaped = true;
        }
    }
    if escaped {
        Resolved::Outside
    } else {
        Resolved::Missing
    }
}

/// Whether a path that does not exist would still leave the root (`../..`).
fn normalized_escapes(path: &Path, root: &Path) -> bool {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    !out.starts_with(root)
}

fn via(finding: &Finding) -> String {
    let loader = finding.target.as_deref().unwrap_or("a loader");
    match (&finding.location.member, finding.location.offset) {
        (Some(m), Some(o)) => format!("{loader} at byte {o} of {m}"),
        (None, Some(o)) => format!("{loader} at byte {o}"),
        _ => loader.to_string(),
    }
}

fn chain_finding(files: &[FileReport], reference: &str, via: &str, target: Target) -> Finding {
    match target {
        Target::Outside => cross_file_reference::finding(reference, via, Reached::Outside),
        Target::Missing => cross_file_reference::finding(reference, via, Reached::Missing),
        Target::Report(j) => {
            let reached = &files[j];
            let worst = reached.findings.iter().max_by_key(|f| f.severity);
            cross_file_reference::finding(
                reference,
                via,
                Reached::Scanned {
                    path: &reached.repo_path,
                    worst: worst.map(|f| f.severity),
                    what: worst
                        .filter(|f| f.severity >= Severity::Medium)
                        .map(|f| f.message.as_str()),
                    incomplete: reached.incomplete || reached.error.is_some(),
                },
            )
        }
    }
}

/// The `<prefix>-NNNNN-of-MMMMM.<ext>` series most shards follow.
fn series_of(shards: &BTreeSet<&str>) -> Option<(String, u32, String)> {
    let mut counts: HashMap<(String, u32, String), usize> = HashMap::new();
    for shard in shards {
        if let Some((prefix, _, total, ext)) = parse_shard(shard) {
            *counts.entry((prefix, total, ext)).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(k, n)| (*n, k.clone())).map(|(k, _)| k)
}

fn parse_shard(name: &str) -> Option<(String, u32, u32, String)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (prefix, number) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(number) || !digits(total) {
        return None;
    }
    Some((
        prefix.to_string(),
        number.parse().ok()?,
        total.parse().ok()?,
        ext.to_string(),
    ))
}

fn in_series(shard: &str, prefix: &str, total: u32, ext: &str) -> bool {
    parse_shard(shard).is_some_and(|(p, n, t, e)| p == prefix && t == total && e == ext && (1..=total).contains(&n))
}

/// `auto_map` of a Hugging Face configuration: one finding per Python module it names.
fn auto_map(json: &serde_json::Value, config: &str, dir: &Path) -> Vec<Finding> {
    let Some(map) = json.get("auto_map").and_then(|m| m.as_object()) else {
        return Vec::new();
    };
    let mut references: BTreeSet<String> = BTreeSet::new();
    for value in map.values() {
        match value {
            serde_json::Value::String(s) => {
                references.insert(s.clone());
            }
            serde_json::Value::Array(items) => {
                references.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
            _ => {}
        }
    }
    let mut seen_modules: BTreeSet<(Option<String>, String)> = BTreeSet::new();
    let mut out = Vec::new();
    for reference in references {
        let (hub_repo, dotted) = match reference.split_once("--") {
            Some((repo, rest)) => (Some(repo.to_string()), rest.to_string()),
            None => (None, reference.clone()),
        };
        let Some((module, class)) = dotted.rsplit_once('.') else {
            continue;
        };
        if !seen_modules.insert((hub_repo.clone(), module.to_string())) {
            continue;
        }
        let module_file = format!("{}.py", module.replace('.', "/"));
        let present = hub_repo.is_none() && dir.join(&module_file).is_file();
        out.push(remote_code::finding(
            config,
            &module_file,
            class,
            present,
            hub_repo.as_deref(),
        ));
    }
    out
}

fn relative(path: &Path, root: &Path) -> String {
    let shown = path.strip_prefix(root).unwrap_or(path);
    shown
        .components()
        .map(|c| crate::walk::display(Path::new(c.as_os_str())))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_series() {
        let shards: BTreeSet<&str> = [
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model-00002-of-00002.bin",
            "extra.pkl",
        ]
        .into_iter()
        .collect();
        let (prefix, total, ext) = series_of(&shards).unwrap();
        assert_eq!((prefix.as_str(), total, ext.as_str()), ("pytorch_model", 2, "bin"));
        assert!(in_series("pytorch_model-00002-of-00002.bin", &prefix, total, &ext));
        assert!(!in_series("pytorch_model-00003-of-00002.bin", &prefix, total, &ext));
        assert!(!in_series("extra.pkl", &prefix, total, &ext));
    }

    #[test]
    fn references_never_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("a.bin"), b"x").unwrap();
        assert!(matches!(resolve("a.bin", &root, &root), Resolved::Found(_)));
        assert!(matches!(resolve("b.bin", &root, &root), Resolved::Missing));
        assert!(matches!(resolve("/etc/passwd", &root, &root), Resolved::Outside));
        assert!(matches!(resolve("../../etc/passwd", &root, &root), Resolved::Outside));
        assert!(matches!(
            resolve("https://example.com/x", &root, &root),
            Resolved::Outside
        ));
    }
}
