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

/// Files added, modified, renamed, copied or retyped between the merge base of HEAD and
/// `reference`, and HEAD, as paths in the working tree (deleted files are not listed).
pub fn changed_since(repo: &Repository, reference: &str) -> Result<Vec<PathBuf>, GitError> {
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
    let mut out = Vec::new();
    for delta in diff.deltas() {
        if matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange
        ) {
            if let Some(path) = delta.new_file().path() {
                out.push(workdir.join(path));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What is staged for the next commit: files added or changed in the index relative to HEAD,
/// with the staged bytes (which may differ from the working tree).
pub fn staged(repo: &Repository) -> Result<Vec<(PathBuf, Vec<u8>)>, GitError> {
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
    for delta in diff.deltas() {
        if !matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange
        ) {
            continue;
        }
        let file = delta.new_file();
        let (Some(path), false) = (file.path(), file.id().is_zero()) else {
            continue;
        };
        let blob = repo.find_blob(file.id()).map_err(other)?;
        out.push((path.to_path_buf(), blob.content().to_vec()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Candidates for staged content, under paths relative to the repository root.
pub fn staged_candidates(repo: &Repository, wanted: impl Fn(&Path) -> bool) -> Result<Vec<Candidate>, GitError> {
    Ok(staged(repo)?
        .into_iter()
        .filter(|(path, _)| wanted(path))
        .map(|(path, bytes)| Candidate {
            display: super::display(&path),
            source: Source::Bytes(Arc::new(bytes)),
            sniff_only: false,
            canonical: None,
        })
        .collect())
}
