//! Shared helpers: paths, running the binary.

use std::path::PathBuf;

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
