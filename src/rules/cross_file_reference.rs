//! `cross-file-reference`: a load reaches another file — a loader called on a constant path
//! (`torch.load('extra/cfg.bin')`, `pickle.load(open(…))`), or a shard a sharded checkpoint's
//! index lists. The scan follows the reference inside the repository, scans what it reaches
//! whatever its name, and reports the chain; missing, out-of-tree and out-of-series references
//! are reported too. The findings are made by the scan (`src/crossfile.rs`), which reads files.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "cross-file-reference",
    "Load reaches another file",
    High,
    "Loading the file loads another file (a loader called on a constant path, or a shard listed by a checkpoint index); the other file is scanned and the chain reported."
);

/// What the referenced file turned out to be.
pub enum Reached<'r> {
    /// Scanned: its path, its worst severity and its worst finding's message.
    Scanned {
        path: &'r str,
        worst: Option<Severity>,
        what: Option<&'r str>,
        incomplete: bool,
    },
    Missing,
    /// Outside the repository (absolute, or escaping with `..`): not read.
    Outside,
}

/// `via`: how the file is reached ("torch.load at byte 23 of archive/data.pkl").
pub fn finding(reference: &str, via: &str, reached: Reached<'_>) -> Finding {
    let (severity, message) = match reached {
        Reached::Scanned {
            path,
            worst,
            what,
            incomplete,
        } => {
            let what = what.unwrap_or("no findings");
            match worst {
                Some(s @ (Severity::High | Severity::Critical)) => {
                    (s, format!("loading this file loads `{path}` ({via}), which is malicious: {what}"))
                }
                Some(Severity::Medium) => (
                    Severity::Medium,
                    format!("loading this file loads `{path}` ({via}), which is suspicious: {what}"),
                ),
                _ if incomplete => (
                    Severity::Medium,
                    format!("loading this file loads `{path}` ({via}), which could not be fully analysed"),
                ),
                _ => (
                    Severity::Info,
                    format!("loading this file loads `{path}` ({via}); it was scanned too"),
                ),
            }
        }
        Reached::Missing => (
            Severity::Medium,
            format!("loading this file loads `{reference}` ({via}), which is not in the repository: whatever is there at load time was not scanned"),
        ),
        Reached::Outside => (
            Severity::Medium,
            format!("loading this file loads `{reference}` ({via}), outside the repository: it was not read"),
        ),
    };
    Finding::new(META.id, severity, Confidence::High, message).with_explanation(
        "A model file that loads another file at load time splits its payload across files: each file can look harmless to a scanner that reads them one at a time. picklegate follows constant paths and checkpoint indexes inside the repository and scans what they reach, whatever its extension. Legitimate checkpoints do not load other files from inside their pickle; sharded checkpoints list shards in an index that follows one naming series.",
    )
}

/// A shard listed by an index outside the series its other shards follow.
pub fn off_series(index: &str, shard: &str, series: &str) -> Finding {
    Finding::new(
        META.id,
        Severity::Medium,
        Confidence::Medium,
        format!("`{index}` lists `{shard}` as a shard, outside the series `{series}` its other shards follow: the loader loads it like any shard"),
    )
    .with_explanation(
        "transformers and accelerate load every file a checkpoint index names. An extra entry outside the numbered series is how a payload rides along with legitimate shards; it was scanned like the others.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_takes_the_severity_of_what_it_reaches() {
        let reached = |worst| Reached::Scanned {
            path: "extra/cfg.bin",
            worst,
            what: Some("calls os.system('true')"),
            incomplete: false,
        };
        let f = finding(
            "extra/cfg.bin",
            "torch.load at byte 23",
            reached(Some(Severity::Critical)),
        );
        assert_eq!(f.severity, Severity::Critical);
        assert!(
            f.message.contains("which is malicious: calls os.system('true')"),
            "{}",
            f.message
        );
        assert_eq!(finding("x", "v", reached(None)).severity, Severity::Info);
        assert_eq!(finding("x", "v", Reached::Missing).severity, Severity::Medium);
        assert_eq!(finding("/etc/x", "v", Reached::Outside).severity, Severity::Medium);
    }
}
