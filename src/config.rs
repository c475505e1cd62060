//! `picklegate.toml`: found from the scanned path up to the repository root, or named with
//! `--config`. Unknown keys and bad values are errors that name the key and the file.

use crate::formats::pickle::Limits;
use crate::kb::{Class, Kb};
use crate::model::Severity;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const FILE_NAMES: &[&str] = &["picklegate.toml", ".picklegate.toml"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Lowest severity that fails the gate: critical, high, medium, low, none.
    pub fail_on: Option<FailOn>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub all_files: Option<bool>,
    /// What to do with Git LFS pointers: fail, warn, skip.
    pub lfs: Option<LfsPolicy>,
    pub jobs: Option<usize>,
    /// Files larger than this many bytes are reported as not scanned.
    pub max_file_size: Option<u64>,
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Globals that are legitimate in this project.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
    /// Reviewed findings that no longer fail the gate.
    #[serde(default)]
    pub suppress: Vec<SuppressEntry>,
    /// Days before an entry's `expires` date from which picklegate warns (default 14).
    pub expiry_warning_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
    None,
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<FailOn, String> {
        Ok(match s {
            "critical" => FailOn::Critical,
            "high" => FailOn::High,
            "medium" => FailOn::Medium,
            "low" => FailOn::Low,
            "none" => FailOn::None,
            other => return Err(format!("`{other}` is not one of critical, high, medium, low, none")),
        })
    }
}

impl std::str::FromStr for LfsPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<LfsPolicy, String> {
        Ok(match s {
            "fail" => LfsPolicy::Fail,
            "warn" => LfsPolicy::Warn,
            "skip" => LfsPolicy::Skip,
            other => return Err(format!("`{other}` is not one of fail, warn, skip")),
        })
    }
}

impl FailOn {
    pub fn severity(self) -> Option<Severity> {
        match self {
            FailOn::Critical => Some(Severity::Critical),
            FailOn::High => Some(Severity::High),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::Low => Some(Severity::Low),
            FailOn::None => None,
        }
    }
}

/// What a Git LFS pointer means for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LfsPolicy {
    /// Not scanned, so the gate fails (the default: never counted as clean).
    #[default]
    Fail,
    /// Reported, but the gate passes.
    Warn,
    /// Left out of the results.
    Skip,
}

/// An `[[allow]]` entry: a global that is legitimate in this project.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    /// `module:name`, or `module:*` for a module and its submodules.
    pub pattern: String,
    /// Only for files matching these globs (all files when empty).
    #[serde(default)]
    pub paths: Vec<String>,
    pub reason: String,
    pub owner: Option<String>,
    /// Last day the entry applies (YYYY-MM-DD).
    pub expires: Option<String>,
    pub ticket: Option<String>,
}

/// A `[[suppress]]` entry: reviewed findings, named by fingerprint or by rule and path globs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressEntry {
    /// A `picklegate/v1` fingerprint (all 64 hex digits, or a prefix of at least 16).
    pub fingerprint: Option<String>,
    /// A rule id; with `paths`, every finding of the rule in matching files (below high).
    pub rule: Option<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    pub reason: String,
    pub owner: Option<String>,
    /// Last day the entry applies (YYYY-MM-DD).
    pub expires: Option<String>,
    pub ticket: Option<String>,
}

impl SuppressEntry {
    /// How the entry is named in messages.
    pub fn label(&self, index: usize) -> String {
        match (&self.fingerprint, &self.rule) {
            (Some(fp), _) => format!(
                "[[suppress]] entry {} (fingerprint {})",
                index + 1,
                &fp[..fp.len().min(16)]
            ),
            (None, Some(rule)) => format!("[[suppress]] entry {} (rule {rule})", index + 1),
            (None, None) => format!("[[suppress]] entry {}", index + 1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let error = |message: String| ConfigError {
            path: path.display().to_string(),
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| error(e.to_string().trim_end().to_string()))?;
        let kb = Kb::builtin();
        for (i, entry) in config.allow.iter().enumerate() {
            let at = format!("[[allow]] entry {} (pattern = {:?})", i + 1, entry.pattern);
            let Some((module, name)) = entry.pattern.split_once(':') else {
                return Err(error(format!("{at}: pattern must be `module:name` or `module:*`")));
            };
            if module.is_empty() || name.is_empty() {
                return Err(error(format!("{at}: pattern must be `module:name` or `module:*`")));
            }
            review_fields(&at, &entry.reason, entry.expires.as_deref(), "the global is legitimate").map_err(error)?;
            if name != "*" {
                if let Class::Dangerous(d) = kb.classify(module, name) {
                    return Err(error(format!(
                        "{at}: {} is dangerous ({}); an allowlist cannot make a dangerous callable legitimate",
                        entry.pattern.replace(':', "."),
                        d.category.title
                    )));
                }
            }
        }
        for (i, entry) in config.suppress.iter().enumerate() {
            let at = entry.label(i);
            match (&entry.fingerprint, &entry.rule) {
                (Some(fp), None) => {
                    if fp.len() < 16
                        || fp.len() > 64
                        || !fp.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                    {
                        return Err(error(format!(
                            "{at}: `fingerprint` must be 16 to 64 lowercase hex digits of a picklegate/v1 fingerprint"
                        )));
                    }
                    if !entry.paths.is_empty() {
                        return Err(error(format!(
                            "{at}: a fingerprint already names the file; drop `paths`"
                        )));
                    }
                }
                (None, Some(rule)) => {
                    if crate::rules::find(rule).is_none() {
                        return Err(error(format!(
                            "{at}: no rule `{rule}` (`picklegate rules list` shows them)"
                        )));
                    }
                    if entry.paths.is_empty() {
                        return Err(error(format!(
                            "{at}: a rule suppression needs `paths` (globs of the files it covers)"
                        )));
                    }
                    for glob in &entry.paths {
                        globset::Glob::new(glob)
                            .map_err(|e| error(format!("{at}: invalid path glob {glob:?}: {e}")))?;
                    }
                }
                _ => {
                    return Err(error(format!(
                        "{at}: give either `fingerprint`, or `rule` with `paths`"
                    )))
                }
            }
            review_fields(&at, &entry.reason, entry.expires.as_deref(), "the finding is accepted").map_err(error)?;
        }
        for (i, entry) in config.allow.iter().enumerate() {
            for glob in &entry.paths {
                globset::Glob::new(glob).map_err(|e| {
                    error(format!(
                        "[[allow]] entry {} (pattern = {:?}): invalid path glob {glob:?}: {e}",
                        i + 1,
                        entry.pattern
                    ))
                })?;
            }
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Config::parse(&text, path)
    }
}

/// What every `[[allow]]` and `[[suppress]]` entry needs: a reason, and an expiry that is a date.
fn review_fields(at: &str, reason: &str, expires: Option<&str>, why: &str) -> Result<(), String> {
    if reason.trim().is_empty() {
        return Err(format!("{at}: `reason` must say why {why}"));
    }
    if let Some(expires) = expires {
        if parse_date(expires).is_none() {
            return Err(format!(
                "{at}: `expires` must be a date like 2027-01-31, not {expires:?}"
            ));
        }
    }
    Ok(())
}

/// The configuration file for a scan of `start`: the nearest `picklegate.toml` in `start` or a
/// parent folder, stopping at the repository root (the folder holding `.git`).
pub fn discover(start: &Path) -> Option<PathBuf> {
    let absolute = std::fs::canonicalize(start).ok()?;
    let mut dir = if absolute.is_dir() {
        absolute
    } else {
        absolute.parent()?.to_path_buf()
    };
    loop {
        for name in FILE_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
        if dir.join(".git").exists() {
            return None;
        }
        dir = dir.parent()?.to_path_buf();
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let (y, m, d) = (
        parts.next()?.parse::<i64>().ok()?,
        parts.next()?.parse::<i64>().ok()?,
        parts.next()?.parse::<i64>().ok()?,
    );
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub fn format_date(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today, in days since 1970-01-01 (UTC).
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for text in ["1970-01-01", "2000-02-29", "2026-11-26", "2100-12-31"] {
            assert_eq!(format_date(parse_date(text).unwrap()), text);
        }
    }

    #[test]
    fn suppress_entries_are_validated() {
        let path = Path::new("p.toml");
        let ok = "[[suppress]]\nrule = \"unknown-global\"\npaths = [\"m/**\"]\nreason = \"reviewed\"\n";
        assert_eq!(Config::parse(ok, path).unwrap().suppress.len(), 1);
        for (bad, needle) in [
            ("[[suppress]]\nreason = \"r\"\n", "either `fingerprint`"),
            (
                "[[suppress]]\nrule = \"no-such-rule\"\npaths=[\"*\"]\nreason = \"r\"\n",
                "no rule",
            ),
            (
                "[[suppress]]\nrule = \"unknown-global\"\nreason = \"r\"\n",
                "needs `paths`",
            ),
            ("[[suppress]]\nfingerprint = \"abc\"\nreason = \"r\"\n", "16 to 64"),
            (
                "[[suppress]]\nfingerprint = \"0123456789abcdef\"\nreason = \" \"\n",
                "`reason`",
            ),
            (
                "[[suppress]]\nfingerprint = \"0123456789abcdef\"\nreason = \"r\"\nexpires = \"soon\"\n",
                "`expires`",
            ),
        ] {
            let err = Config::parse(bad, path).unwrap_err().to_string();
            assert!(err.contains("[[suppress]] entry 1"), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn unknown_keys_name_the_key_and_file() {
        let err = Config::parse("fail_on = \"high\"\nfail_onn = 1\n", Path::new("repo/picklegate.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("repo/picklegate.toml:"), "{text}");
        assert!(text.contains("fail_onn"), "{text}");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::parse("fail_on = \"sometimes\"\n", Path::new("p.toml")).is_err());
        assert!(Config::parse("[limits]\nmax_opcodes = -1\n", Path::new("p.toml")).is_err());
        assert!(Config::parse("[limits]\nmax_opcodess = 1\n", Path::new("p.toml")).is_err());
        let no_reason = "[[allow]]\npattern = \"mypkg.models:Net\"\nreason = \"\"\n";
        assert!(Config::parse(no_reason, Path::new("p.toml"))
            .unwrap_err()
            .message
            .contains("reason"));
    }

    #[test]
    fn dangerous_globals_cannot_be_allowlisted() {
        let text = "[[allow]]\npattern = \"os:system\"\nreason = \"we need it\"\n";
        let err = Config::parse(text, Path::new("p.toml")).unwrap_err();
        assert!(err.message.contains("dangerous"), "{}", err.message);
    }

    #[test]
    fn full_config_parses() {
        let text = r#"
fail_on = "medium"
include = ["*.weights"]
exclude = ["tests/fixtures/"]
all_files = true
lfs = "warn"
jobs = 2

[limits]
max_opcodes = 1000000

[[allow]]
pattern = "mypkg.models:Net"
paths = ["models/**"]
reason = "our own model class, reviewed"
owner = "ml-team"
expires = "2027-06-30"
ticket = "ML-12"
"#;
        let config = Config::parse(text, Path::new("p.toml")).unwrap();
        assert_eq!(config.fail_on, Some(FailOn::Medium));
        assert_eq!(config.lfs, Some(LfsPolicy::Warn));
        assert_eq!(config.limits.unwrap().max_opcodes, 1_000_000);
        assert_eq!(config.allow.len(), 1);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("soon"), None);
    }
}
