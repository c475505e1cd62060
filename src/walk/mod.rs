//! Which files to scan: folders walked with `.gitignore`, `.git/info/exclude`, global excludes
//! and `.picklegateignore` honoured, include/exclude globs, a default list of model extensions
//! (or every file, sniffed, with `all_files`), explicit files as given, and — from [`git`] —
//! the files a branch changes or a commit stages.

pub mod git;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    "pkl3",
    "h5ad",
];

/// The ignore file picklegate reads in every folder, with `.gitignore` syntax.
pub const IGNORE_FILE: &str = ".picklegateignore";

#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Globs of files to scan in addition to model extensions.
    pub include: Vec<String>,
    /// Globs of files never to scan.
    pub exclude: Vec<String>,
    /// Consider every file, not only model extensions (content decides; see `sniff_only`).
    pub all_files: bool,
    /// Apply excludes to files named explicitly too (pre-commit passes every staged file).
    pub force_exclude: bool,
}

/// Where a candidate's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// Content already in memory (a staged blob from the index).
    Bytes(Arc<Vec<u8>>),
}

/// A file to scan.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The path as reported.
    pub display: String,
    pub source: Source,
    /// Found by walking a folder with `all_files`: skip it silently unless its bytes are a
    /// format picklegate reads.
    pub sniff_only: bool,
    /// The canonical path, when the walker knows it without resolving the file again (files
    /// found below a folder it canonicalized once).
    pub canonical: Option<PathBuf>,
}

impl Candidate {
    /// The file it reads (staged content has none: its display path stands in).
    pub fn path(&self) -> &Path {
        match &self.source {
            Source::File(path) => path,
            Source::Bytes(_) => Path::new(&self.display),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    // The reason is part of the message, not a source: reported once.
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("invalid glob `{glob}`: {message}")]
    Glob { glob: String, message: String },
    #[error(transparent)]
    Git(#[from] git::GitError),
}

/// Compiled include/exclude globs. A pattern without `/` matches a file name anywhere; with
/// `/` it matches the path relative to the scanned folder.
#[derive(Debug, Clone)]
pub struct Filters {
    include: GlobSet,
    exclude: GlobSet,
}

/// A glob over `/`-separated paths where `*` and `?` stay within one folder (as in
/// `.gitignore`); `**` crosses folders.
fn path_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

fn globset(patterns: &[String]) -> Result<GlobSet, WalkError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let anchored = if pattern.contains('/') {
            pattern.trim_start_matches("./").to_string()
        } else {
            format!("**/{pattern}")
        };
        let glob = path_glob(&anchored).map_err(|e| WalkError::Glob {
            glob: pattern.clone(),
            message: e.to_string(),
        })?;
        builder.add(glob);
        if pattern.ends_with('/') || !pattern.contains('*') {
            // `dir` or `dir/` also excludes everything below it.
            let below = path_glob(&format!("{}/**", anchored.trim_end_matches('/'))).map_err(|e| WalkError::Glob {
                glob: pattern.clone(),
                message: e.to_string(),
            })?;
            builder.add(below);
        }
    }
    builder.build().map_err(|e| WalkError::Glob {
        glob: patterns.join(", "),
        message: e.to_string(),
    })
}

impl Filters {
    pub fn new(options: &WalkOptions) -> Result<Filters, WalkError> {
        Ok(Filters {
            include: globset(&options.include)?,
            exclude: globset(&options.exclude)?,
        })
    }

    pub fn excluded(&self, relative: &Path) -> bool {
        self.exclude.is_match(relative)
    }

    pub fn included(&self, relative: &Path) -> bool {
        self.include.is_match(relative)
    }
}

pub fn has_model_extension(path: &Path) -> bool {
    // By the bytes after the name's last dot: `Path::extension` sees none in a name such as
    // `.pkl`, and the rest of the name need not be UTF-8.
    let Some(name) = path.file_name().map(std::ffi::OsStr::as_encoded_bytes) else {
        return false;
    };
    name.iter().rposition(|&b| b == b'.').is_some_and(|dot| {
        let extension = &name[dot + 1..];
        MODEL_EXTENSIONS
            .iter()
            .any(|m| m.as_bytes().eq_ignore_ascii_case(extension))
    })
}

/// The folder-metadata files (`config.json`, `*.index.json`: see [`is_folder_metadata`]) of
/// every folder a walk listed, and of the ignored folders of tracked files it found, by the
/// folder's canonical path: following reads them without listing each folder a second time.
pub type FolderListing = std::collections::HashMap<PathBuf, Vec<PathBuf>>;

/// Checkpoint indexes and Hugging Face configurations: files whose references are followed.
pub fn is_folder_metadata(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name == b"config.json" || name.ends_with(b".index.json")
}

/// Files named explicitly are scanned as given (unless `force_exclude` and excluded); folders
/// are walked. The result is sorted and free of duplicates.
pub fn collect(inputs: &[PathBuf], options: &WalkOptions) -> Result<Vec<Candidate>, WalkError> {
    let mut out = Vec::new();
    find(inputs, options, &mut |candidate| out.push(candidate))?;
    out.sort_by(|a, b| a.display.cmp(&b.display).then_with(|| a.path().cmp(b.path())));
    Ok(out)
}

/// Hands each file to scan to `found` as soon as the walk reaches it (the scan starts on the
/// first ones while the walk goes on), each once, in walk order; returns the folder metadata
/// of the folders walked.
pub fn find(
    inputs: &[PathBuf],
    options: &WalkOptions,
    found: &mut dyn FnMut(Candidate),
) -> Result<FolderListing, WalkError> {
    let filters = Filters::new(options)?;
    let mut out = Found {
        found,
        seen: HashSet::new(),
        walked: HashSet::new(),
    };
    let mut folders = FolderListing::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|error| WalkError::Io {
            path: input.display().to_string(),
            error,
        })?;
        if meta.is_dir() {
            walk_dir(input, options, &filters, &mut out, &mut folders)?;
        } else {
            if options.force_exclude && filters.excluded(input) {
                continue;
            }
            out.push(Candidate {
                display: display(input),
                source: Source::File(input.clone()),
                sniff_only: false,
                canonical: None,
            });
        }
    }
    for files in folders.values_mut() {
        files.sort();
        files.dedup();
    }
    Ok(folders)
}

/// The candidates a walk has handed over so far.
struct Found<'f> {
    found: &'f mut dyn FnMut(Candidate),
    /// Display and path (without `.` parts) of each: a file named twice is scanned once, and
    /// two different non-UTF-8 names that display alike are both scanned.
    seen: HashSet<(String, PathBuf)>,
    /// Canonical paths of the files found below a walked folder.
    walked: HashSet<PathBuf>,
}

impl Found<'_> {
    fn push(&mut self, candidate: Candidate) {
        if !self
            .seen
            .insert((candidate.display.clone(), without_dots(candidate.path())))
        {
            return;
        }
        if let Some(canonical) = &candidate.canonical {
            self.walked.insert(canonical.clone());
        }
        (self.found)(candidate);
    }
}

/// The path without its `.` parts: `./x` and `x` name the same file as given.
pub fn without_dots(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// `config.json` and `*.index.json` in a folder, sorted (what following reads of a folder the
/// walk did not list).
pub fn metadata_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| is_folder_metadata(&e.file_name()))
        .map(|e| e.path())
        .collect();
    names.sort();
    names
}

fn walk_dir(
    root: &Path,
    options: &WalkOptions,
    filters: &Filters,
    out: &mut Found<'_>,
    folders: &mut FolderListing,
) -> Result<(), WalkError> {
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .follow_links(false)
        // ripgrep's own `.ignore` files are not ours to honour (and probing for them in every
        // folder is a good part of a walk's cost).
        .ignore(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    // Links are not followed, so below the canonical root every path is already canonical.
    let canonical_root = std::fs::canonicalize(root).ok();
    for entry in walker {
        let entry = entry.map_err(|e| WalkError::Io {
            path: root.display().to_string(),
            error: std::io::Error::other(e.to_string()),
        })?;
        let Some(file_type) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if let Some(canonical_root) = &canonical_root {
            let canonical = canonical_root.join(path.strip_prefix(root).unwrap_or(path));
            if file_type.is_dir() {
                folders.entry(canonical).or_default();
            } else if is_folder_metadata(entry.file_name()) {
                if let Some(folder) = canonical.parent() {
                    folders.entry(folder.to_path_buf()).or_default().push(canonical.clone());
                }
            }
        }
        // A link is scanned (as the file it names, which loaders open through it) when it names
        // a file inside the tree: a link out of the tree must not pull other files in.
        if !(file_type.is_file() || file_type.is_symlink() && links_inside(path, canonical_root.as_deref())) {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(path);
        if filters.excluded(relative) {
            continue;
        }
        let by_extension = has_model_extension(path) || filters.included(relative);
        if by_extension || options.all_files {
            out.push(Candidate {
                display: display(path),
                source: Source::File(path.to_path_buf()),
                sniff_only: !by_extension,
                canonical: canonical_root.as_ref().map(|r| r.join(relative)),
            });
        }
    }
    add_tracked(root, canonical_root.as_deref(), options, filters, out, folders);
    Ok(())
}

/// Whether a symlink resolves to a regular file inside `root` (canonical).
fn links_inside(link: &Path, root: Option<&Path>) -> bool {
    let (Ok(target), Some(root)) = (std::fs::canonicalize(link), root) else {
        return false;
    };
    target.starts_with(root) && target.is_file()
}

/// Adds the files git tracks under `root` that the walk skipped for a `.gitignore`,
/// `.git/info/exclude` or global exclude pattern. Those patterns only hide untracked files from
/// git: a model committed with `git add -f` is in every clone, whatever `.gitignore` says.
/// `.picklegateignore`, `--exclude` and the model extensions still apply.
fn add_tracked(
    root: &Path,
    canonical_root: Option<&Path>,
    options: &WalkOptions,
    filters: &Filters,
    out: &mut Found<'_>,
    folders: &mut FolderListing,
) {
    let (Ok(repo), Some(canonical_root)) = (git2::Repository::discover(root), canonical_root) else {
        return;
    };
    let mut tracked = Tracked {
        root,
        canonical_root,
        options,
        filters,
        picklegate_ignores: PicklegateIgnores::default(),
        out,
        folders,
    };
    tracked.add_from(&repo, 0);
}

/// How deep submodules are read for their tracked files.
const MAX_SUBMODULE_DEPTH: usize = 8;

struct Tracked<'w, 'f> {
    root: &'w Path,
    canonical_root: &'w Path,
    options: &'w WalkOptions,
    filters: &'w Filters,
    picklegate_ignores: PicklegateIgnores,
    out: &'w mut Found<'f>,
    folders: &'w mut FolderListing,
}

impl Tracked<'_, '_> {
    /// The tracked files of `repo` (and of its submodules) that lie under the root.
    fn add_from(&mut self, repo: &git2::Repository, depth: usize) {
        let (Some(workdir), Ok(index)) = (repo.workdir().and_then(|w| std::fs::canonicalize(w).ok()), repo.index())
        else {
            return;
        };
        for entry in index.iter() {
            let absolute = workdir.join(index_path(&entry.path));
            let kind = entry.mode & 0o170000;
            if kind == 0o160000 {
                // A submodule: its files are in its own index.
                let inside = absolute.starts_with(self.canonical_root) || self.canonical_root.starts_with(&absolute);
                if inside && depth < MAX_SUBMODULE_DEPTH {
                    if let Ok(submodule) = git2::Repository::open(&absolute) {
                        self.add_from(&submodule, depth + 1);
                    }
                }
                continue;
            }
            let link = kind == 0o120000;
            if kind != 0o100000 && !link {
                continue;
            }
            let Ok(relative) = absolute.strip_prefix(self.canonical_root) else {
                continue;
            };
            // Tracked metadata is in every clone, whatever `.gitignore` hid from the walk.
            if let (Some(folder), Some(name)) = (absolute.parent(), absolute.file_name()) {
                if is_folder_metadata(name) {
                    if let Some(files) = self.folders.get_mut(folder) {
                        files.push(absolute.clone());
                    }
                }
            }
            let by_extension = has_model_extension(relative) || self.filters.included(relative);
            if !(by_extension || self.options.all_files) || self.filters.excluded(relative) {
                continue;
            }
            let present = if link {
                links_inside(&absolute, Some(self.canonical_root))
            } else {
                std::fs::symlink_metadata(&absolute).is_ok_and(|m| m.is_file())
            };
            if self.out.walked.contains(&absolute)
                || !present
                || self.picklegate_ignores.ignored(self.canonical_root, relative)
            {
                continue;
            }
            // The walk skipped its folder: following reads that folder's metadata all the same.
            if let Some(folder) = absolute.parent() {
                if !self.folders.contains_key(folder) {
                    self.folders.insert(folder.to_path_buf(), metadata_files(folder));
                }
            }
            let path = self.root.join(relative);
            self.out.push(Candidate {
                display: display(&path),
                source: Source::File(path),
                sniff_only: !by_extension,
                canonical: Some(absolute),
            });
        }
    }
}

/// A path as the index stores it (bytes, `/`-separated).
#[cfg(unix)]
pub(crate) fn index_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes))
}

#[cfg(not(unix))]
pub(crate) fn index_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// `.picklegateignore` files read on demand, by folder.
#[derive(Default)]
struct PicklegateIgnores {
    by_folder: std::collections::HashMap<PathBuf, Option<ignore::gitignore::Gitignore>>,
}

impl PicklegateIgnores {
    /// Whether the `.picklegateignore` files from `root` down to the file's folder ignore it;
    /// the deepest file with a matching pattern decides, as in the walk.
    fn ignored(&mut self, root: &Path, relative: &Path) -> bool {
        let path = root.join(relative);
        let mut folder = path.parent();
        while let Some(dir) = folder.filter(|d| d.starts_with(root)) {
            let matcher = self.by_folder.entry(dir.to_path_buf()).or_insert_with(|| {
                let file = dir.join(IGNORE_FILE);
                file.is_file().then(|| ignore::gitignore::Gitignore::new(&file).0)
            });
            if let Some(matcher) = matcher {
                let found = matcher.matched_path_or_any_parents(&path, false);
                if !found.is_none() {
                    return found.is_ignore();
                }
            }
            folder = dir.parent();
        }
        false
    }
}

/// How a path is reported: as given, `./` removed, bytes that are not UTF-8 written `\xNN`.
pub fn display(path: &Path) -> String {
    // Bytes that are not UTF-8 are written `\xNN`: two different names must not display alike.
    let mut text = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_display_without_losing_bytes_and_extensions_are_read_from_bytes() {
        use super::{display, has_model_extension};
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let name = |b: &[u8]| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b));
            assert_eq!(display(&name(b"./m/\xfe.pkl")), "m/\\xfe.pkl");
            assert_ne!(display(&name(b"\xfe.pkl")), display(&name(b"\xff.pkl")));
            assert!(has_model_extension(&name(b"\xff.PKL")));
        }
        assert!(has_model_extension(std::path::Path::new("models/.pkl")));
        assert!(!has_model_extension(std::path::Path::new("models/pkl")));
    }

    #[test]
    fn pre_commit_hook_matches_the_model_extensions() {
        let hooks = include_str!("../../.pre-commit-hooks.yaml");
        let files = hooks
            .lines()
            .find_map(|l| l.trim().strip_prefix("files: "))
            .expect("files pattern");
        let inner = files
            .trim_matches('\'')
            .strip_prefix("(?i)\\.(")
            .and_then(|p| p.strip_suffix(")$"))
            .expect("(?i)\\.(…)$ pattern");
        let mut hook: Vec<&str> = inner.split('|').collect();
        let mut walker: Vec<&str> = MODEL_EXTENSIONS.to_vec();
        hook.sort_unstable();
        walker.sort_unstable();
        assert_eq!(hook, walker);
    }

    use super::*;

    #[test]
    fn find_hands_over_each_file_once_in_walk_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b.pkl", "a.pkl", "sub/c.pt", "notes.txt", "sub/config.json"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let root = dir.path().to_path_buf();
        let named = root.join("b.pkl");
        let mut handed = Vec::new();
        let folders = find(
            &[root.clone(), named.clone(), named],
            &WalkOptions::default(),
            &mut |c| handed.push(c.display),
        )
        .unwrap();
        let shown = display(&root);
        assert_eq!(
            handed,
            ["a.pkl", "b.pkl", "sub/c.pt"].map(|name| format!("{shown}/{name}"))
        );
        let canonical = std::fs::canonicalize(&root).unwrap();
        assert_eq!(folders[&canonical], Vec::<PathBuf>::new());
        assert_eq!(folders[&canonical.join("sub")], vec![canonical.join("sub/config.json")]);
    }

    #[test]
    fn globs_match_names_anywhere_and_anchored_paths() {
        let options = WalkOptions {
            exclude: vec![
                "*.tmp.pkl".into(),
                "vendor/".into(),
                "data/raw/*.bin".into(),
                "test_*.pkl".into(),
            ],
            ..Default::default()
        };
        let filters = Filters::new(&options).unwrap();
        assert!(filters.excluded(Path::new("a/b/x.tmp.pkl")));
        assert!(filters.excluded(Path::new("vendor/m/model.pt")));
        assert!(filters.excluded(Path::new("data/raw/w.bin")));
        assert!(!filters.excluded(Path::new("data/w.bin")));
        assert!(!filters.excluded(Path::new("model.pkl")));
        // `*` stays within a folder, as the documentation says (and as in `.gitignore`).
        assert!(!filters.excluded(Path::new("data/raw/deeper/w.bin")));
        assert!(filters.excluded(Path::new("a/test_x.pkl")));
        assert!(!filters.excluded(Path::new("test_helpers/models/evil.pkl")));
    }

    #[test]
    fn bad_glob_is_an_error() {
        let options = WalkOptions {
            include: vec!["a[".into()],
            ..Default::default()
        };
        assert!(matches!(Filters::new(&options), Err(WalkError::Glob { .. })));
    }
}
