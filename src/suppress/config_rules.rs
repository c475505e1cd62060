//! `[[allow]]` and `[[suppress]]` from picklegate.toml as a scan applies them: expiry, matching,
//! and which entries were never used.

use super::{Notice, NoticeLevel};
use crate::analyze::AllowPattern;
use crate::config::{self, Config, ConfigError, SuppressEntry};
use crate::model::{Severity, Suppression, SuppressionKind};
use crate::scan::ProjectAllow;
use globset::{Glob, GlobSet, GlobSetBuilder};

/// The configuration's entries, ready to apply, with what the user must hear about them.
#[derive(Debug, Clone, Default)]
pub struct ConfigRules {
    pub suppress: Vec<SuppressRule>,
    /// `[[allow]]` entries in force, for the scan's analysis.
    pub allow: Vec<ProjectAllow>,
    /// Expired entries and entries close to expiry.
    pub notices: Vec<Notice>,
    /// The configuration file, as shown in messages.
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct SuppressRule {
    pub label: String,
    matcher: Matcher,
    pub suppression: Suppression,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// A fingerprint or a prefix of one (at least 16 hex digits).
    Fingerprint(String),
    Rule {
        rule: String,
        paths: GlobSet,
    },
}

impl SuppressRule {
    /// Whether the entry accepts an alert. Rule-and-path entries never accept high or critical
    /// alerts: only a fingerprint pins the exact call and arguments that were reviewed.
    pub fn matches(&self, rule: &str, repo_path: &str, fingerprint: &str, severity: Severity) -> bool {
        match &self.matcher {
            Matcher::Fingerprint(prefix) => fingerprint.starts_with(prefix.as_str()),
            Matcher::Rule { rule: r, paths } => r == rule && severity < Severity::High && paths.is_match(repo_path),
        }
    }

    /// Whether the entry would match but for the severity cap (so the user can be told why).
    pub fn blocked_by_severity(&self, rule: &str, repo_path: &str, severity: Severity) -> bool {
        matches!(&self.matcher, Matcher::Rule { rule: r, paths } if r == rule && severity >= Severity::High && paths.is_match(repo_path))
    }
}

/// Builds the rules of a parsed configuration read from `source`. `today` is in days since
/// 1970-01-01; entries that expire within `warn_days` days are warned about.
pub fn build(config: &Config, source: &str, today: i64) -> Result<ConfigRules, ConfigError> {
    let warn_days = i64::from(config.expiry_warning_days.unwrap_or(14));
    let error = |message: String| ConfigError {
        path: source.to_string(),
        message,
    };
    let mut out = ConfigRules {
        source: source.to_string(),
        ..ConfigRules::default()
    };
    for (i, entry) in config.allow.iter().enumerate() {
        let label = format!("[[allow]] entry {} (pattern = {:?})", i + 1, entry.pattern);
        if expired(
            &label,
            entry.expires.as_deref(),
            source,
            today,
            warn_days,
            &mut out.notices,
        ) {
            continue;
        }
        let pattern = AllowPattern::parse(&entry.pattern).ok_or_else(|| error(format!("{label}: invalid pattern")))?;
        let paths = if entry.paths.is_empty() {
            None
        } else {
            Some(globs(&entry.paths).map_err(|e| error(format!("{label}: {e}")))?)
        };
        out.allow.push(ProjectAllow { pattern, paths, label });
    }
    for (i, entry) in config.suppress.iter().enumerate() {
        let label = entry.label(i);
        if expired(
            &label,
            entry.expires.as_deref(),
            source,
            today,
            warn_days,
            &mut out.notices,
        ) {
            continue;
        }
        let matcher = match (&entry.fingerprint, &entry.rule) {
            (Some(fp), _) => Matcher::Fingerprint(fp.clone()),
            (None, Some(rule)) => Matcher::Rule {
                rule: rule.clone(),
                paths: globs(&entry.paths).map_err(|e| error(format!("{label}: {e}")))?,
            },
            (None, None) => {
                return Err(error(format!(
                    "{label}: give either `fingerprint`, or `rule` with `paths`"
                )))
            }
        };
        out.suppress.push(SuppressRule {
            label,
            matcher,
            suppression: suppression(entry, source),
        });
    }
    Ok(out)
}

fn suppression(entry: &SuppressEntry, source: &str) -> Suppression {
    Suppression {
        kind: SuppressionKind::Suppress,
        reason: entry.reason.clone(),
        source: source.to_string(),
        owner: entry.owner.clone(),
        expires: entry.expires.clone(),
        ticket: entry.ticket.clone(),
    }
}

/// True when the entry has expired (and says so); warns when it expires soon.
fn expired(
    label: &str,
    expires: Option<&str>,
    source: &str,
    today: i64,
    warn_days: i64,
    notices: &mut Vec<Notice>,
) -> bool {
    let Some(text) = expires else {
        return false;
    };
    let Some(day) = config::parse_date(text) else {
        return false;
    };
    if day < today {
        notices.push(Notice {
            level: NoticeLevel::Warning,
            message: format!("{source}: {label} expired on {text}; it no longer applies"),
        });
        return true;
    }
    if day - today <= warn_days {
        notices.push(Notice {
            level: NoticeLevel::Warning,
            message: format!(
                "{source}: {label} expires on {text} (in {} days); review it or extend `expires`",
                day - today
            ),
        });
    }
    false
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern).map_err(|e| format!("invalid path glob {pattern:?}: {e}"))?);
    }
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rules(text: &str, today: &str) -> ConfigRules {
        let config = Config::parse(text, Path::new("picklegate.toml")).unwrap();
        build(&config, "picklegate.toml", config::parse_date(today).unwrap()).unwrap()
    }

    const ENTRY: &str = "[[suppress]]\nrule = \"unknown-global\"\npaths = [\"models/**\"]\nreason = \"reviewed\"\nexpires = \"2027-01-10\"\n";

    #[test]
    fn expired_entries_stop_applying_and_say_so() {
        let r = rules(ENTRY, "2027-01-11");
        assert!(r.suppress.is_empty());
        assert!(
            r.notices[0].message.contains("expired on 2027-01-10"),
            "{:?}",
            r.notices
        );
    }

    #[test]
    fn entries_close_to_expiry_warn_but_apply() {
        let r = rules(ENTRY, "2027-01-01");
        assert_eq!(r.suppress.len(), 1);
        assert!(r.notices[0].message.contains("in 9 days"), "{:?}", r.notices);
        assert!(rules(ENTRY, "2026-06-01").notices.is_empty());
    }

    #[test]
    fn rule_entries_never_accept_high_findings() {
        let r = rules(ENTRY, "2026-06-01");
        let rule = &r.suppress[0];
        assert!(rule.matches("unknown-global", "models/a.pkl", "ff", Severity::Medium));
        assert!(!rule.matches("unknown-global", "other/a.pkl", "ff", Severity::Medium));
        assert!(!rule.matches("unknown-global", "models/a.pkl", "ff", Severity::High));
        assert!(rule.blocked_by_severity("unknown-global", "models/a.pkl", Severity::High));
    }
}
