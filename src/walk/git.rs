//! Git: the files a branch changes since its merge base with a reference (`--diff-base`), and
//! the content being committed (`--staged`, read from the index, not the working tree).

use super::{Candidate, Source};
use git2::{Delta, DiffFindOptions, DiffOptions, Repository};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("not inside a git repository ({0})")]
    NotARepository(String),
    #[error("cannot resolve `{reference}`: {message}")]
    BadReference { reference: String, message: String },
    #[error("HEAD and `{reference}` have no merge base{hint}")]
    NoMergeBase { reference: String, hint: String },
    #[error("git: {0}")]
    Other(String),
}

fn other(e: git2::Error) -> GitError {
    GitError::Other(e.message().to_string())
}

/// Opens the repository that contains `start`.
pub fn open(start: &Path) -> Result<Repository, GitError> {
    Repository::discover(start).map_err(|e| GitError::NotARepository(e.message().to_string()))
}

/// What a branch changes.
#[derive(Debug, Default)]
pub struct Changes {
    /// Files added, modified, renamed, copied or retyped, as paths in the working tree (deleted
    /// files are not listed).
    pub files: Vec<PathBuf>,
    /// A change that alters files it does not list: a `.gitattributes` (its `text`, `eol`,
    /// `ident` or `filter` rewrite files on checkout) or a submodule (it brings a whole tree).
    pub alters_others: Option<String>,
}

/// Whether a changed path can alter the checkout of files it does not name.
fn alters_others(path: &Path, mode: git2::FileMode) -> Option<String> {
    if mode == git2::FileMode::Commit {
        return Some(format!("submodule {} changed", path.display()));
    }
    (path.file_name()? == ".gitattributes").then(|| format!("{} changed", path.display()))
}

/// What changed between the merge base of HEAD and `reference`, and HEAD.
pub fn changed_since(repo: &Repository, reference: &str) -> Result<Changes, GitError> {
    let bad = |e: git2::Error| GitError::BadReference {
        reference: reference.to_string(),
        message: e.message().to_string(),
    };
    let base = repo
        .revparse_single(reference)
        .map_err(bad)?
        .peel_to_commit()
        .map_err(bad)?;
    let head = repo.head().map_err(other)?.peel_to_commit().map_err(other)?;
    let merge_base = repo.merge_base(base.id(), head.id()).map_err(|_| GitError::NoMergeBase {
        reference: reference.to_string(),
        hint: if repo.is_shallow() {
            " (this is a shallow clone: fetch the history, e.g. actions/checkout with fetch-depth: 0, or GIT_DEPTH: 0 on GitLab)".to_string()
        } else {
            String::new()
        },
    })?;
    let old_tree = repo.find_commit(merge_base).map_err(other)?.tree().map_err(other)?;
    let new_tree = head.tree().map_err(other)?;
    let mut options = DiffOptions::new();
    options.include_typechange(true);
    let mut diff = repo
        .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut options))
        .map_err(other)?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true).copies(true)))
        .map_err(other)?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| GitError::Other("the repository has no working tree".into()))?;
    let mut changes = Changes::default();
    for delta in diff.deltas() {
        if matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange | Delta::Deleted
        ) {
            for file in [delta.old_file(), delta.new_file()] {
                if let Some(why) = file.path().and_then(|p| alters_others(p, file.mode())) {
                    changes.alters_others.get_or_insert(why);
                }
            }
        }
        if matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange
        ) {
            if let Some(path) = delta.new_file().path() {
                changes.files.push(workdir.join(path));
            }
        }
    }
    changes.files.sort();
    changes.files.dedup();
    Ok(changes)
}

/// Tracked links that resolve to one of `files` (working-tree paths), as working-tree paths.
pub fn links_to(repo: &Repository, files: &[PathBuf]) -> Result<Vec<PathBuf>, GitError> {
    let Some(workdir) = repo.workdir() else {
        return Ok(Vec::new());
    };
    let targets: std::collections::HashSet<PathBuf> =
        files.iter().filter_map(|f| std::fs::canonicalize(f).ok()).collect();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let index = repo.index().map_err(other)?;
    let mut links = Vec::new();
    for entry in index.iter() {
        if entry.mode & 0o170000 != 0o120000 {
            continue;
        }
        let link = workdir.join(super::index_path(&entry.path));
        if std::fs::canonicalize(&link).is_ok_and(|target| targets.contains(&target)) {
            links.push(link);
        }
    }
    Ok(links)
}

/// What is staged for the next commit.
#[derive(Debug, Default)]
pub struct Staged {
    /// Files added or changed in the index relative to HEAD, with the staged bytes (which may
    /// differ from the working tree).
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// A staged change that alters other files (see [`Changes::alters_others`]).
    pub alters_others: Option<String>,
}

pub fn staged(repo: &Repository) -> Result<Staged, GitError> {
    let index = repo.index().map_err(other)?;
    let head_tree = match repo.head() {
        Ok(head) => Some(head.peel_to_tree().map_err(other)?),
        Err(_) => None, // no commit yet: everything in the index is new
    };
    let mut options = DiffOptions::new();
    options.include_typechange(true);
    let mut diff = repo
        .diff_tree_to_index(head_tree.as_ref(), Some(&index), Some(&mut options))
        .map_err(other)?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))
        .map_err(other)?;
    let mut out = Vec::new();
    let mut alters = None;
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(why) = file.path().and_then(|p| alters_others(p, file.mode())) {
                alters.get_or_insert(why);
            }
        }
        if !matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange
        ) {
            continue;
        }
        let file = delta.new_file();
        // A submodule's entry is a commit of another repository, not a blob.
        let (Some(path), false, false) = (file.path(), file.id().is_zero(), file.mode() == git2::FileMode::Commit)
        else {
            continue;
        };
        let blob = repo.find_blob(file.id()).map_err(other)?;
        out.push((path.to_path_buf(), blob.content().to_vec()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Staged {
        files: out,
        alters_others: alters,
    })
}

/// Candidates for staged content, under paths relative to the repository root, and a staged
/// change that alters other files. `wanted` says whether a path is scanned, and whether only
/// by its content (`Some(true)`: `--all-files` and no model extension).
pub fn staged_candidates(
    repo: &Repository,
    wanted: impl Fn(&Path) -> Option<bool>,
) -> Result<(Vec<Candidate>, Option<String>), GitError> {
    let Staged { files, alters_others } = staged(repo)?;
    let candidates = files
        .into_iter()
        .filter_map(|(path, bytes)| {
            let sniff_only = wanted(&path)?;
            Some(Candidate {
                display: super::display(&path),
                source: Source::Bytes(Arc::new(bytes)),
                sniff_only,
                canonical: None,
            })
        })
        .collect();
    Ok((candidates, alters_others))
}
