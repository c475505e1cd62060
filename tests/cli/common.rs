//! Shared helpers: paths, running the binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

pub fn picklegate() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("picklegate").expect("binary built");
    cmd.current_dir(root());
    cmd
}

#[derive(Debug, serde::Deserialize)]
pub struct ManifestEntry {
    /// Relative to `fixtures/`.
    pub path: String,
    pub expect: String,
    pub call: Option<String>,
    pub pickletools: bool,
    pub what: String,
    /// Outermost format a correct scanner reports (container fixtures only).
    #[serde(default)]
    pub format: Option<String>,
    /// Member the finding is in (container fixtures only).
    #[serde(default)]
    pub member: Option<String>,
}

fn read_manifest(rel: &str) -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap_or_else(|_| panic!("{rel}"));
    serde_json::from_str(&text).expect("manifest parses")
}

/// The raw-pickle fixtures.
pub fn manifest() -> Vec<ManifestEntry> {
    read_manifest("fixtures/manifest.json")
}

/// The container fixtures.
pub fn container_manifest() -> Vec<ManifestEntry> {
    read_manifest("fixtures/containers/manifest.json")
}

pub fn python3_available() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A temporary git repository.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?} failed");
    }

    pub fn put(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn copy(&self, fixture_rel: &str, rel: &str) -> PathBuf {
        self.put(rel, &std::fs::read(fixture(fixture_rel)).unwrap())
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// Runs `picklegate scan --format json ARGS` in the repository; returns (exit code, report).
    pub fn scan(&self, args: &[&str]) -> (i32, Value) {
        let output = picklegate()
            .current_dir(self.path())
            .args(["scan", "--format", "json", "--quiet"])
            .args(args)
            .output()
            .expect("runs");
        let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (output.status.code().unwrap_or(-1), report)
    }
}
