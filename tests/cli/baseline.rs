//! Baselines and suppressions on temporary repositories: accepted findings stop failing the
//! gate, a swapped payload fails it again, stale entries are pruned, expired and unused entries
//! are reported, and broken files are errors.

use crate::common::{picklegate, Repo};
use serde_json::Value;

/// `os.system(<command>)` as a protocol-0 pickle, written by hand.
fn system(command: &str) -> Vec<u8> {
    format!("cos\nsystem\n(S'{command}'\ntR.").into_bytes()
}

/// A benign pickle that imports a class no allowlist covers (an unknown-global, medium).
fn own_class() -> Vec<u8> {
    b"cmypkg.models\nNet\n)R.".to_vec()
}

fn run(repo: &Repo, args: &[&str]) -> (i32, String, String) {
    let output = picklegate().current_dir(repo.path()).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn baseline(repo: &Repo) -> Value {
    serde_json::from_slice(&std::fs::read(repo.path().join(".picklegate-baseline.json")).unwrap()).unwrap()
}

#[test]
fn baseline_accepts_reviewed_findings_and_never_a_swapped_payload() {
    let repo = Repo::new();
    repo.put("models/legacy.pkl", &system("true"));
    repo.put("models/own.pkl", &own_class());
    repo.commit("models");
    assert_eq!(run(&repo, &["scan", "--quiet", "--fail-on", "medium"]).0, 1);

    let (code, _, stderr) = run(&repo, &["baseline", "create", "--reason", "reviewed in ML-7"]);
    assert_eq!(code, 0, "{stderr}");
    let entries = baseline(&repo)["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let legacy = entries.iter().find(|e| e["path"] == "models/legacy.pkl").unwrap();
    assert_eq!(legacy["rule"], "dangerous-call");
    assert_eq!(legacy["callables"], serde_json::json!(["os.system"]));
    assert_eq!(legacy["reason"], "reviewed in ML-7");
    assert_eq!(legacy["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        run(&repo, &["baseline", "create"]).0,
        2,
        "create never overwrites silently"
    );

    let (code, stdout, _) = run(
        &repo,
        &[
            "scan",
            "--quiet",
            "--fail-on",
            "medium",
            "--baseline",
            ".picklegate-baseline.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["summary"]["suppressed"], 2);
    assert_eq!(report["files"][0]["findings"][0]["suppression"]["kind"], "baseline");

    // The same call with another argument is a new finding.
    repo.put("models/legacy.pkl", &system("false"));
    let (code, stdout, _) = run(
        &repo,
        &[
            "scan",
            "--quiet",
            "--baseline",
            ".picklegate-baseline.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let finding = &report["files"][0]["findings"][0];
    assert_eq!(finding["call"], "os.system('false')");
    assert!(finding.get("suppression").is_none());

    // A critical finding also needs the very same bytes: the same call in a changed file fails.
    let mut padded = system("true");
    padded.extend_from_slice(b"\n");
    repo.put("models/legacy.pkl", &padded);
    assert_eq!(
        run(&repo, &["scan", "--quiet", "--baseline", ".picklegate-baseline.json"]).0,
        1
    );

    // Prune drops the entry that no longer matches; a removed file's entries go too.
    repo.put("models/legacy.pkl", &system("false"));
    std::fs::remove_file(repo.path().join("models/own.pkl")).unwrap();
    let (code, _, stderr) = run(&repo, &["baseline", "prune"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("removed 2 stale entries"), "{stderr}");
    assert_eq!(baseline(&repo)["entries"].as_array().unwrap().len(), 0);

    // Update adds what is new and keeps what was there.
    let (code, _, stderr) = run(&repo, &["baseline", "update"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        baseline(&repo)["entries"][0]["callables"],
        serde_json::json!(["os.system"])
    );
    assert_eq!(
        run(&repo, &["scan", "--quiet", "--baseline", ".picklegate-baseline.json"]).0,
        0
    );
}

#[test]
fn an_lfs_pointer_to_reviewed_content_is_recognised() {
    use sha2::Digest;
    let repo = Repo::new();
    let content = system("true");
    repo.put("models/big.pkl", &content);
    assert_eq!(run(&repo, &["baseline", "create"]).0, 0);
    let oid = picklegate::scan::hex(&sha2::Sha256::digest(&content));
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
        content.len()
    );
    repo.put("models/big.pkl", pointer.as_bytes());
    let (code, stdout, _) = run(
        &repo,
        &[
            "scan",
            "--quiet",
            "--format",
            "json",
            "--baseline",
            ".picklegate-baseline.json",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("was reviewed into the baseline"), "{stdout}");
    // Another oid is unreviewed content: the gate fails.
    repo.put("models/big.pkl", pointer.replace(&oid[..8], "00000000").as_bytes());
    assert_eq!(
        run(&repo, &["scan", "--quiet", "--baseline", ".picklegate-baseline.json"]).0,
        1
    );
}

fn fingerprint_of(repo: &Repo, path: &str) -> String {
    let (_, stdout, _) = run(repo, &["scan", "--quiet", "--format", "json", path]);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    report["files"][0]["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn suppressions_apply_until_they_expire_and_unused_ones_are_reported() {
    let repo = Repo::new();
    repo.put("models/legacy.pkl", &system("true"));
    repo.put("models/own.pkl", &own_class());
    let fp = fingerprint_of(&repo, "models/legacy.pkl");
    let config = |expires: &str| {
        format!(
            "fail_on = \"medium\"\n\
             [[suppress]]\nfingerprint = \"{fp}\"\nreason = \"reviewed payload\"\nexpires = \"{expires}\"\nowner = \"ml\"\n\
             [[suppress]]\nrule = \"unknown-global\"\npaths = [\"models/own.pkl\"]\nreason = \"our class\"\n\
             [[suppress]]\nrule = \"unknown-global\"\npaths = [\"gone/**\"]\nreason = \"old folder\"\n"
        )
    };
    repo.put("picklegate.toml", config("2999-01-01").as_bytes());
    let sarif = repo.path().join("r.sarif");
    let sarif_arg = sarif.to_string_lossy().into_owned();
    let (code, _, stderr) = run(&repo, &["scan", "--sarif", &sarif_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("[[suppress]] entry 3 (rule unknown-global) matched no finding"),
        "{stderr}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    assert_eq!(
        doc["runs"][0]["results"].as_array().unwrap().len(),
        0,
        "suppressed results are left out"
    );

    let (code, _, _) = run(
        &repo,
        &["scan", "--quiet", "--sarif", &sarif_arg, "--sarif-include-suppressed"],
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let legacy = results.iter().find(|r| r["ruleId"] == "dangerous-call").unwrap();
    assert_eq!(legacy["suppressions"][0]["kind"], "external");
    assert_eq!(legacy["suppressions"][0]["status"], "accepted");
    assert_eq!(legacy["suppressions"][0]["justification"], "reviewed payload");
    assert_eq!(legacy["suppressions"][0]["properties"]["owner"], "ml");

    assert_eq!(
        run(&repo, &["scan", "--quiet", "--strict-suppressions"]).0,
        1,
        "unused entries fail when strict"
    );

    repo.put("picklegate.toml", config("2020-01-01").as_bytes());
    let (code, _, stderr) = run(&repo, &["scan"]);
    assert_eq!(code, 1, "an expired suppression no longer applies");
    assert!(
        stderr.contains("expired on 2020-01-01; it no longer applies"),
        "{stderr}"
    );
}

#[test]
fn rule_suppressions_cannot_accept_high_findings() {
    let repo = Repo::new();
    repo.put("models/legacy.pkl", &system("true"));
    repo.put(
        "picklegate.toml",
        b"[[suppress]]\nrule = \"dangerous-call\"\npaths = [\"models/**\"]\nreason = \"all of them\"\n",
    );
    let (code, _, stderr) = run(&repo, &["scan"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("accepted only by fingerprint"), "{stderr}");
}

#[test]
fn broken_baselines_and_suppressions_are_errors_that_say_where() {
    let repo = Repo::new();
    repo.put("models/legacy.pkl", &system("true"));
    for (text, needle) in [
        ("{not json", "invalid JSON"),
        (
            "{\"version\": 9, \"fingerprint\": \"picklegate/v1\", \"entries\": []}",
            "version 9 is not supported",
        ),
        (
            "{\"version\": 1, \"fingerprint\": \"picklegate/v1\", \"entries\": [{\"rule\": \"x\"}]}",
            "entry 1 is malformed",
        ),
    ] {
        repo.put("b.json", text.as_bytes());
        let (code, _, stderr) = run(&repo, &["scan", "--baseline", "b.json"]);
        assert_eq!(code, 2, "{text}");
        assert!(stderr.contains("b.json") && stderr.contains(needle), "{stderr}");
    }
    repo.put(
        "picklegate.toml",
        b"[[suppress]]\nfingerprint = \"xyz\"\nreason = \"r\"\n",
    );
    let (code, _, stderr) = run(&repo, &["scan"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("picklegate.toml") && stderr.contains("[[suppress]] entry 1"),
        "{stderr}"
    );
}

#[test]
fn fingerprints_do_not_depend_on_where_picklegate_runs() {
    let repo = Repo::new();
    repo.put("models/sub/legacy.pkl", &system("true"));
    let from_root = fingerprint_of(&repo, "models/sub/legacy.pkl");
    let output = picklegate()
        .current_dir(repo.path().join("models"))
        .args(["scan", "--quiet", "--format", "json", "sub/legacy.pkl"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["files"][0]["repo_path"], "models/sub/legacy.pkl");
    assert_eq!(report["files"][0]["findings"][0]["fingerprint"], from_root.as_str());
}

#[test]
fn gate_decides_from_a_saved_report() {
    let repo = Repo::new();
    repo.put("models/own.pkl", &own_class());
    let (code, _, _) = run(&repo, &["scan", "--quiet", "--exit-zero", "--json", "r.json"]);
    assert_eq!(code, 0);
    assert_eq!(
        run(&repo, &["gate", "--report", "r.json"]).0,
        0,
        "medium passes at high"
    );
    assert_eq!(run(&repo, &["gate", "--report", "r.json", "--fail-on", "medium"]).0, 1);
    repo.put("r.json", b"{}");
    assert_eq!(run(&repo, &["gate", "--report", "r.json"]).0, 2);
}

#[test]
fn a_file_that_could_not_be_read_is_accepted_only_with_its_exact_content() {
    let repo = Repo::new();
    // Truncated before STOP: not fully analysed, so never clean.
    repo.put("models/cut.pkl", b"\x80\x02]q\x00(K\x01K\x02");
    let (_, stdout, _) = run(&repo, &["scan", "--quiet", "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["files"][0]["incomplete"], true);
    let fp = report["files"][0]["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();

    // A [[suppress]] entry does not vouch for bytes nobody could read.
    repo.put(
        "picklegate.toml",
        format!("[[suppress]]\nfingerprint = \"{fp}\"\nreason = \"known broken export\"\n").as_bytes(),
    );
    assert_eq!(run(&repo, &["scan", "--quiet"]).0, 1);
    std::fs::remove_file(repo.path().join("picklegate.toml")).unwrap();

    // A baseline entry pins the content: the same file passes, any other bytes fail.
    let (code, _, stderr) = run(&repo, &["baseline", "create"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("1 file was not fully analysed"), "{stderr}");
    assert_eq!(
        run(&repo, &["scan", "--quiet", "--baseline", ".picklegate-baseline.json"]).0,
        0
    );
    repo.put("models/cut.pkl", b"\x80\x02]q\x00(K\x01K\x03");
    assert_eq!(
        run(&repo, &["scan", "--quiet", "--baseline", ".picklegate-baseline.json"]).0,
        1
    );
}

#[test]
fn allow_and_suppress_paths_are_from_the_repository_root() {
    let repo = Repo::new();
    repo.put("models/own.pkl", &own_class());
    repo.put(
        "picklegate.toml",
        b"fail_on = \"medium\"\n[[allow]]\npattern = \"mypkg.models:Net\"\npaths = [\"models/**\"]\nreason = \"our class\"\n",
    );
    assert_eq!(run(&repo, &["scan", "--quiet"]).0, 0);
    let output = picklegate()
        .current_dir(repo.path().join("models"))
        .args(["scan", "own.pkl"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Messages name the configuration by its path in the repository, not where it lives.
    repo.put("other/x.pkl", &own_class());
    std::fs::remove_file(repo.path().join("models/own.pkl")).unwrap();
    let (_, _, stderr) = run(&repo, &["scan"]);
    assert!(stderr.contains("picklegate.toml: [[allow]] entry 1"), "{stderr}");
    assert!(!stderr.contains(&repo.path().display().to_string()), "{stderr}");
}
