//! Repository scanning on temporary git repositories: walker, git selections, LFS pointers,
//! configuration, unreadable files, exit codes.

use crate::common::{fixture, picklegate, Repo};
use serde_json::Value;
use std::process::Command;

const MALICIOUS: &str = "pickle/malicious/os_system_p2.pkl";
const BENIGN: &str = "pickle/benign/data_p4.pkl";

fn paths(report: &Value) -> Vec<String> {
    report["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|f| f["path"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn verdict<'r>(report: &'r Value, path: &str) -> &'r str {
    report["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["path"] == path))
        .and_then(|f| f["verdict"].as_str())
        .unwrap_or("absent")
}

#[test]
fn diff_base_scans_only_what_the_branch_changes() {
    let repo = Repo::new();
    repo.copy(BENIGN, "models/old.pkl");
    repo.copy(BENIGN, "models/changed.pkl");
    repo.copy(MALICIOUS, "models/untouched_bad.pkl");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.copy(MALICIOUS, "models/new.pkl");
    repo.put("models/changed.pkl", b"\x80\x04K\x07.");
    repo.git(&["mv", "models/old.pkl", "models/renamed.pkl"]);
    repo.commit("feature");
    let (code, report) = repo.scan(&["--diff-base", "main"]);
    assert_eq!(
        paths(&report),
        vec!["models/changed.pkl", "models/new.pkl", "models/renamed.pkl"]
    );
    assert_eq!(code, 1, "new.pkl is malicious");
    assert_eq!(verdict(&report, "models/new.pkl"), "malicious");
}

#[test]
fn diff_base_scans_everything_when_a_change_can_rewrite_other_files() {
    let repo = Repo::new();
    repo.copy(MALICIOUS, "models/untouched_bad.pkl");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    // `text eol=crlf` rewrites the unchanged model on every checkout.
    repo.put(".gitattributes", b"*.pkl text eol=crlf\n");
    repo.commit("attributes");
    let (code, report) = repo.scan(&["--diff-base", "main"]);
    assert_eq!(paths(&report), vec!["models/untouched_bad.pkl"]);
    assert_eq!(code, 1);
}

#[test]
fn diff_base_and_folder_scans_read_models_through_links_inside_the_tree() {
    let repo = Repo::new();
    repo.copy(BENIGN, "weights.txt");
    std::os::unix::fs::symlink("weights.txt", repo.path().join("model.pkl")).unwrap();
    std::os::unix::fs::symlink(fixture(MALICIOUS), repo.path().join("outside.pkl")).unwrap();
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.copy(MALICIOUS, "weights.txt");
    repo.commit("the link's target changes");
    let (code, report) = repo.scan(&["--diff-base", "main"]);
    assert_eq!((code, verdict(&report, "model.pkl")), (1, "malicious"));
    // A folder scan follows the link inside the tree, never the one out of it.
    let (_, report) = repo.scan(&["."]);
    assert_eq!(paths(&report), vec!["model.pkl"]);
}

#[test]
fn all_files_applies_to_changed_and_staged_files() {
    let repo = Repo::new();
    repo.put("README.md", b"# notes\n");
    repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.copy(MALICIOUS, "hub/blobs/3f2a9c");
    repo.git(&["add", "-A"]);
    let (code, report) = repo.scan(&["--staged", "--all-files"]);
    assert_eq!((code, paths(&report)), (1, vec!["hub/blobs/3f2a9c".to_string()]));
    repo.commit("a blob without extension");
    let (code, report) = repo.scan(&["--diff-base", "main", "--all-files"]);
    assert_eq!((code, paths(&report)), (1, vec!["hub/blobs/3f2a9c".to_string()]));
}

#[test]
fn diff_base_with_unknown_reference_is_a_usage_error() {
    let repo = Repo::new();
    repo.copy(BENIGN, "a.pkl");
    repo.commit("base");
    let (code, _) = repo.scan(&["--diff-base", "no-such-branch"]);
    assert_eq!(code, 2);
}

#[test]
fn staged_scans_the_index_not_the_working_tree() {
    let repo = Repo::new();
    repo.copy(BENIGN, "model.pkl");
    repo.commit("base");
    repo.copy(MALICIOUS, "model.pkl");
    repo.git(&["add", "model.pkl"]);
    repo.copy(BENIGN, "model.pkl"); // the working tree looks harmless again
    let (code, report) = repo.scan(&["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "model.pkl"), "malicious");
    // And the working tree alone is clean.
    let (code, report) = repo.scan(&["model.pkl"]);
    assert_eq!((code, verdict(&report, "model.pkl")), (0, "clean"));
}

#[test]
fn lfs_pointers_fail_warn_or_skip() {
    let repo = Repo::new();
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 4096\n",
        "ab".repeat(32)
    );
    repo.put("weights/model.bin", pointer.as_bytes());
    let (code, report) = repo.scan(&["."]);
    assert_eq!((code, verdict(&report, "weights/model.bin")), (1, "error"));
    assert_eq!(report["files"][0]["findings"][0]["rule"], "lfs-pointer");
    let (code, report) = repo.scan(&[".", "--lfs", "warn"]);
    assert_eq!(code, 0);
    assert_eq!(report["files"][0]["findings"][0]["rule"], "lfs-pointer");
    let (code, report) = repo.scan(&[".", "--lfs", "skip"]);
    assert_eq!((code, paths(&report).len()), (0, 0));
}

#[test]
fn lfs_object_in_the_local_store_is_scanned_instead() {
    let repo = Repo::new();
    let content = std::fs::read(fixture(MALICIOUS)).unwrap();
    let oid = picklegate::scan::hex(&<sha2::Sha256 as sha2::Digest>::digest(&content));
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
        content.len()
    );
    repo.put("model.bin", pointer.as_bytes());
    repo.put(
        &format!(".git/lfs/objects/{}/{}/{oid}", &oid[..2], &oid[2..4]),
        &content,
    );
    let (code, report) = repo.scan(&["."]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "model.bin"), "malicious");
    assert!(report["files"][0]["format"]
        .as_str()
        .unwrap()
        .starts_with("lfs-object/"));
    // The excerpt is decompiled from the object, not from its pointer.
    let excerpt = report["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f["excerpt"].as_str())
        .expect("an excerpt of the object's code");
    assert!(excerpt.contains("system"), "{excerpt}");
}

#[test]
fn ignore_files_and_globs_are_honoured() {
    let repo = Repo::new();
    repo.copy(MALICIOUS, "ignored/by_gitignore.pkl");
    repo.copy(MALICIOUS, "vendor/by_picklegateignore.pkl");
    repo.copy(MALICIOUS, "tmp/by_exclude.pkl");
    repo.copy(BENIGN, "keep/model.pkl");
    repo.copy(BENIGN, "keep/weights.custom");
    repo.put(".gitignore", b"ignored/\n");
    repo.put(".picklegateignore", b"vendor/\n");
    let (code, report) = repo.scan(&[".", "--exclude", "tmp/", "--include", "*.custom"]);
    assert_eq!(paths(&report), vec!["keep/model.pkl", "keep/weights.custom"]);
    assert_eq!(code, 0);
}

#[test]
fn tracked_files_are_scanned_whatever_gitignore_says() {
    // `.gitignore` hides untracked files from git; a model committed with `git add -f` is in
    // every clone and must not slip past the gate.
    let repo = Repo::new();
    repo.put(".gitignore", b"*.pkl\nmodels/\n");
    repo.put(".picklegateignore", b"reviewed/\n");
    repo.copy(MALICIOUS, "forced.pkl");
    repo.copy(MALICIOUS, "models/sub/forced.pt");
    repo.copy(MALICIOUS, "reviewed/forced.pkl");
    repo.git(&[
        "add",
        "-f",
        ".gitignore",
        ".picklegateignore",
        "forced.pkl",
        "models",
        "reviewed",
    ]);
    repo.commit("models committed past .gitignore");
    repo.copy(MALICIOUS, "untracked.pkl");
    let (code, report) = repo.scan(&["."]);
    assert_eq!(paths(&report), vec!["forced.pkl", "models/sub/forced.pt"]);
    assert_eq!(code, 1);
    let (_, report) = repo.scan(&["models"]);
    assert_eq!(paths(&report), vec!["models/sub/forced.pt"]);
}

#[test]
fn tracked_files_of_submodules_are_scanned_whatever_their_gitignore_says() {
    let library = Repo::new();
    library.put(".gitignore", b"*.pkl\n");
    library.copy(MALICIOUS, "evil.pkl");
    library.git(&["add", "-f", ".gitignore", "evil.pkl"]);
    library.commit("library");
    let repo = Repo::new();
    repo.put("README.md", b"# app\n");
    let url = library.path().to_str().unwrap();
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        url,
        "vendor/lib",
    ]);
    repo.commit("with a submodule");
    let (code, report) = repo.scan(&["."]);
    assert_eq!(paths(&report), vec!["vendor/lib/evil.pkl"]);
    assert_eq!(code, 1);
}

#[test]
fn a_file_named_like_an_option_is_refused_before_it_changes_the_scan() {
    // What a hook without `--` would run when a file named `--exclude=*.pkl` is committed.
    let repo = Repo::new();
    repo.copy(MALICIOUS, "evil.pkl");
    repo.copy(BENIGN, "--exclude=*.pkl");
    let (code, report) = repo.scan(&["--force-exclude", "--exclude=*.pkl", "evil.pkl"]);
    assert_eq!((code, report), (2, Value::Null));
    // After `--` it is a file name like any other.
    let (code, report) = repo.scan(&["--force-exclude", "--", "--exclude=*.pkl", "evil.pkl"]);
    assert_eq!(code, 1);
    assert_eq!(paths(&report), vec!["--exclude=*.pkl", "evil.pkl"]);
}

#[test]
fn explicit_files_are_scanned_unless_force_excluded() {
    let repo = Repo::new();
    repo.copy(MALICIOUS, "data/notes.txt");
    let (code, report) = repo.scan(&["data/notes.txt", "--exclude", "data/"]);
    assert_eq!((code, verdict(&report, "data/notes.txt")), (1, "malicious"));
    let (code, report) = repo.scan(&["data/notes.txt", "--exclude", "data/", "--force-exclude"]);
    assert_eq!((code, paths(&report).len()), (0, 0));
}

#[test]
fn all_files_sniffs_extensionless_blobs() {
    let repo = Repo::new();
    repo.copy(MALICIOUS, "hub/blobs/3f2a9c");
    repo.put("README.md", b"# just text\n");
    let (_, report) = repo.scan(&["."]);
    assert!(paths(&report).is_empty(), "no model extension, not scanned by default");
    let (code, report) = repo.scan(&[".", "--all-files"]);
    assert_eq!(paths(&report), vec!["hub/blobs/3f2a9c"]);
    assert_eq!(code, 1);
}

#[test]
fn a_folder_configuration_applies_only_to_scans_inside_that_folder() {
    let repo = Repo::new();
    repo.put("aaa/picklegate.toml", b"exclude = [\"*\"]\n");
    repo.copy(BENIGN, "aaa/ok.pkl");
    repo.copy(MALICIOUS, "models/evil.pkl");
    // A hook lists aaa/ok.pkl first: the folder's file must not switch the check off for models/.
    let (code, report) = repo.scan(&["--force-exclude", "--", "aaa/ok.pkl", "models/evil.pkl"]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "models/evil.pkl"), "malicious");
    // Inside aaa/ it is the configuration.
    let (code, report) = repo.scan(&["aaa"]);
    assert_eq!((code, paths(&report).len()), (0, 0));
}

#[test]
fn configuration_is_discovered_and_validated() {
    let repo = Repo::new();
    repo.copy("pickle/benign/inst_fixturemod_p0.pkl", "m/user_class.pkl");
    // unknown-global (medium) passes the default gate...
    let (code, _) = repo.scan(&["."]);
    assert_eq!(code, 0);
    // ...fails with fail_on = medium from picklegate.toml...
    repo.put("picklegate.toml", b"fail_on = \"medium\"\n");
    let (code, _) = repo.scan(&["m"]);
    assert_eq!(code, 1);
    // ...and passes again once the project allowlists its own class.
    repo.put(
        "picklegate.toml",
        b"fail_on = \"medium\"\n[[allow]]\npattern = \"fixturemod:Point\"\nreason = \"our own data class\"\n",
    );
    let (code, report) = repo.scan(&["m"]);
    assert_eq!((code, verdict(&report, "m/user_class.pkl")), (0, "clean"));
    // A typo is an error naming the key and the file.
    repo.put("picklegate.toml", b"fail_onn = \"medium\"\n");
    let output = picklegate()
        .current_dir(repo.path())
        .args(["scan", "."])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("picklegate.toml") && stderr.contains("fail_onn"),
        "{stderr}"
    );
}

#[test]
fn unreadable_files_are_reported_and_the_scan_goes_on() {
    let repo = Repo::new();
    repo.copy(BENIGN, "good.pkl");
    let fifo = repo.path().join("pipe.pkl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (code, report) = repo.scan(&["good.pkl", "pipe.pkl"]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "good.pkl"), "clean");
    assert_eq!(verdict(&report, "pipe.pkl"), "error");
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "pipe.pkl")
        .unwrap();
    assert!(file["error"].as_str().is_some_and(|e| !e.is_empty()));
}

#[test]
fn exit_zero_always_writes_reports_and_exits_0() {
    let repo = Repo::new();
    repo.copy(MALICIOUS, "bad.pkl");
    let report = repo.path().join("out.json");
    let output = picklegate()
        .current_dir(repo.path())
        .args(["scan", "--exit-zero", "--quiet", "--json"])
        .arg(&report)
        .arg("bad.pkl")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(written["summary"]["failed"], true);
}

#[test]
fn size_cap_reports_large_files_as_not_scanned() {
    let repo = Repo::new();
    repo.put("small.pkl", b"\x80\x04K\x07.");
    repo.put("large.pkl", &vec![b'N'; 4096]);
    let (code, report) = repo.scan(&[".", "--max-file-size", "1000"]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "small.pkl"), "clean");
    assert_eq!(verdict(&report, "large.pkl"), "error");
}

#[test]
fn non_utf8_file_names_are_scanned_and_reported() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new();
    let name = std::ffi::OsStr::from_bytes(b"mod\xffel.pkl");
    std::fs::write(repo.path().join(name), std::fs::read(fixture(MALICIOUS)).unwrap()).unwrap();
    let (code, report) = repo.scan(&["."]);
    assert_eq!(code, 1);
    // Bytes that are not UTF-8 are written as escapes, so different names never look alike.
    assert_eq!(paths(&report), vec!["mod\\xffel.pkl"]);
}
