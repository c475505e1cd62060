//! Shared helpers: paths, running the binary.

use std::path::{Path, PathBuf};

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
    pub path: String,
    pub expect: String,
    pub call: Option<String>,
    pub pickletools: bool,
    pub what: String,
}

pub fn manifest() -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(root().join("fixtures/manifest.json")).expect("fixtures/manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

pub fn python3_available() -> bool {
    std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success())
}

pub fn rel(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).to_string_lossy().into_owned()
}
