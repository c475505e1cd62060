//! Command dispatch (binary only: the library has no clap and no anyhow).

pub mod args;

use anyhow::{bail, Context, Result};
use args::{BaselineCommand, Cli, Command, Format, GateArgs, Hash, RulesCommand, ScanArgs, SelectArgs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use picklegate::analyze::AnalyzeOptions;
use picklegate::config::{self, Config};
use picklegate::model::Severity;
use picklegate::report::{self, gitlab::GitlabOptions, sarif::SarifOptions};
use picklegate::scan::{self, ScanOptions};
use picklegate::suppress;
use picklegate::suppress::baseline::{self, Baseline};
use picklegate::walk::{self, git, Candidate, WalkOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An argument before `--` that looks like an option and names an existing file. Hooks append
/// file names to a command line: a committed file named `--exclude=*.pkl` would otherwise be
/// read as that option and hide every other model from the scan.
pub fn option_that_is_a_file(args: impl Iterator<Item = std::ffi::OsString>) -> Option<std::ffi::OsString> {
    args.take_while(|a| a != "--")
        .find(|a| a.as_encoded_bytes().starts_with(b"-") && a.len() > 1 && std::fs::symlink_metadata(a).is_ok())
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan_command(*args),
        Command::Baseline { command } => baseline_command(command),
        Command::Gate(args) => gate_command(args),
        Command::Decompile { file } => {
            let bytes = scan::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let options = AnalyzeOptions {
                programs: true,
                ..AnalyzeOptions::default()
            };
            let name = file.file_name().and_then(|n| n.to_str());
            let analysis = picklegate::analyze::analyze_named(&bytes, name, &options);
            write_stdout(&report::decompile::render(&walk::display(&file), &analysis))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Disasm { file } => {
            let bytes = scan::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let text = picklegate::disasm::disassemble(&bytes, &Default::default());
            write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules {
            command: RulesCommand::List,
        } => {
            let mut out = String::new();
            for rule in picklegate::rules::ALL {
                out.push_str(&format!(
                    "{:<22} {:<9} {}\n",
                    rule.id,
                    rule.default_severity.as_str(),
                    rule.summary
                ));
            }
            write_stdout(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules {
            command: RulesCommand::Explain { id },
        } => match picklegate::rules::find(&id) {
            Some(rule) => {
                write_stdout(rule.doc)?;
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("no rule `{id}`; `picklegate rules list` shows them all"),
        },
    }
}

fn scan_command(args: ScanArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let started_at = unix_now();
    let mut setup = prepare(&args.select)?;
    if let Some(level) = args.fail_on {
        setup.options.fail_on = level.severity();
    }
    setup.options.hash = match args.hash {
        Hash::Findings => scan::HashPolicy::WithHighFindings,
        Hash::All => scan::HashPolicy::All,
    };
    setup.options.policy.strict = args.strict_suppressions;
    if let Some(path) = &args.baseline {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read baseline {}", path.display()))?;
        let shown = shown(path, &setup.root);
        let baseline = Baseline::parse(&text, &shown)?;
        setup.options.policy.baseline = Some((baseline, shown));
    }
    let outcome = run_scan(&setup, &args.select)?;
    let finished_at = unix_now().max(started_at);

    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        "auto" => args.output.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        other => bail!("--color takes auto, always or never, not `{other}`"),
    };
    let render = |format: Format| -> String {
        match format {
            Format::Json => report::json::render(&outcome),
            Format::Text => report::text::render(&outcome, &report::text::Style { color }),
            Format::Sarif => report::sarif::render(
                &outcome,
                &SarifOptions {
                    category: args.sarif_category.clone(),
                    include_suppressed: args.sarif_include_suppressed,
                    src_root: args.sarif_src_root.clone(),
                },
            ),
            Format::Junit => report::junit::render(&outcome),
            Format::Github => report::github::annotations(&outcome),
            Format::GitlabSast => report::gitlab::render(
                &outcome,
                &GitlabOptions {
                    start: started_at,
                    end: finished_at,
                },
            ),
            Format::Markdown => report::github::summary_markdown(&outcome),
        }
    };
    // Every report is written, even when the gate fails or another report cannot be.
    let mut failures: Vec<String> = Vec::new();
    let files = [
        (&args.json, Format::Json),
        (&args.sarif, Format::Sarif),
        (&args.junit, Format::Junit),
        (&args.gitlab_sast, Format::GitlabSast),
        (&args.markdown, Format::Markdown),
    ];
    for (path, format) in files {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(path, render(format)) {
                failures.push(format!("cannot write {}: {e}", path.display()));
            }
        }
    }
    if args.format == Format::Github {
        for (variable, text) in [
            ("GITHUB_STEP_SUMMARY", report::github::summary_markdown(&outcome)),
            ("GITHUB_OUTPUT", report::github::outputs(&outcome)),
        ] {
            if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
                if let Err(e) = append(Path::new(&path), &text) {
                    failures.push(format!(
                        "cannot write ${variable} ({}): {e}",
                        Path::new(&path).display()
                    ));
                }
            }
        }
    }
    let rendered = render(args.format);
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, rendered) {
                failures.push(format!("cannot write {}: {e}", path.display()));
            }
        }
        None => write_stdout(&rendered)?,
    }
    if !args.select.quiet {
        let s = &outcome.summary;
        #[allow(clippy::print_stderr)]
        {
            for notice in &outcome.notices {
                eprintln!("picklegate: {}: {}", notice_level(notice), notice.message);
            }
            eprintln!(
                "picklegate: {} in {:.2}s: {} malicious, {} suspicious, {} not fully analysed, {} clean{}; gate {}",
                count(s.files, "file", "files"),
                started.elapsed().as_secs_f64(),
                s.malicious,
                s.suspicious,
                s.error,
                s.clean,
                if s.suppressed > 0 {
                    format!("; {} accepted", count(s.suppressed, "finding", "findings"))
                } else {
                    String::new()
                },
                if s.failed { "failed" } else { "passed" }
            );
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(if outcome.summary.failed && !args.exit_zero {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What a scan needs: the files and the options, from the command line and the config.
struct Setup {
    files: Files,
    options: ScanOptions,
    root: PathBuf,
}

/// The files of a scan: what a walk of the paths finds, or what a repository change lists.
enum Files {
    Walk { paths: Vec<PathBuf>, options: WalkOptions },
    Listed(Vec<Candidate>),
}

fn prepare(select: &SelectArgs) -> Result<Setup> {
    let root = scan_root(&select.paths);
    let (config, config_path) = load_config(select, &root)?;
    let jobs = select.jobs.or(config.jobs).unwrap_or(0);
    let workers = start_workers(jobs);
    let rules = suppress::config_rules::build(&config, &config_path, config::today())?;
    let mut analyze = AnalyzeOptions::default();
    if let Some(limits) = &config.limits {
        analyze.limits = limits.clone();
    }
    let options = ScanOptions {
        analyze,
        fail_on: config.fail_on.map_or(Some(Severity::High), |f| f.severity()),
        jobs,
        hash: scan::HashPolicy::WithHighFindings,
        lfs: select.lfs.or(config.lfs).unwrap_or_default(),
        max_file_size: select.max_file_size.or(config.max_file_size).unwrap_or(0),
        policy: suppress::Policy {
            rules,
            baseline: None,
            strict: false,
            report_unused: select.diff_base.is_none() && !select.staged,
        },
        root: Some(root.clone()),
        follow_references: true,
        folder_metadata: select.diff_base.is_some() || select.staged || select.paths.iter().any(|p| p.is_dir()),
        workers,
    };
    let walk_options = WalkOptions {
        include: config.include.iter().chain(&select.include).cloned().collect(),
        exclude: config.exclude.iter().chain(&select.exclude).cloned().collect(),
        all_files: select.all_files || config.all_files.unwrap_or(false),
        force_exclude: select.force_exclude,
    };
    let files = if select.diff_base.is_none() && !select.staged {
        Files::Walk {
            paths: select.paths.clone(),
            options: walk_options,
        }
    } else {
        Files::Listed(changed_files(select, &walk_options)?)
    };
    Ok(Setup { files, options, root })
}

/// Starts the worker threads before the walk, the first of them on the knowledge base: files
/// are analysed while the walk goes on, and a worker started late first waits (on a virtual
/// machine, for milliseconds) for an idle core to wake up. `None` if threads cannot be started
/// (the scan then tries again).
fn start_workers(jobs: usize) -> Option<std::sync::Arc<rayon::ThreadPool>> {
    let workers = scan::workers(jobs).ok()?;
    workers.spawn(|| {
        picklegate::kb::Kb::builtin();
    });
    Some(std::sync::Arc::new(workers))
}

fn run_scan(setup: &Setup, select: &SelectArgs) -> Result<scan::ScanOutcome> {
    let progress = Progress::new(select.quiet);
    let scanned = || progress.bar.inc(1);
    let outcome = match &setup.files {
        Files::Walk { paths, options } => scan::scan(
            |found| {
                walk::find(paths, options, &mut |candidate| {
                    progress.found(1);
                    found(candidate)
                })
            },
            &setup.options,
            &scanned,
        ),
        Files::Listed(candidates) => {
            progress.found(candidates.len());
            Ok(scan::scan_listed(candidates, &setup.options, &scanned))
        }
    };
    progress.bar.finish_and_clear();
    Ok(outcome?)
}

fn baseline_command(command: BaselineCommand) -> Result<ExitCode> {
    let (args, mode) = match command {
        BaselineCommand::Create(a) => (a, "create"),
        BaselineCommand::Update(a) => (a, "update"),
        BaselineCommand::Prune(a) => (a, "prune"),
    };
    let mut setup = prepare(&args.select)?;
    // Entries pin the content of every file they cover.
    setup.options.hash = scan::HashPolicy::WithFindings;
    setup.options.policy.report_unused = false;
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| setup.root.join(baseline::FILE_NAME));
    let shown = shown(&path, &setup.root);
    let previous = if mode == "create" {
        if path.exists() && !args.force {
            bail!("{shown} exists; `picklegate baseline update` adds new findings to it, --force replaces it");
        }
        None
    } else {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read baseline {shown}"))?;
        Some(Baseline::parse(&text, &shown)?)
    };
    let outcome = run_scan(&setup, &args.select)?;
    let today = config::format_date(config::today());
    let (baseline, message) = match (mode, previous) {
        ("prune", Some(previous)) => {
            let root = setup.root.clone();
            let (kept, removed) = previous.prune(&outcome.files, |p| root.join(p).is_file());
            (
                kept,
                format!("removed {}", count(removed, "stale entry", "stale entries")),
            )
        }
        (_, previous) => {
            let mut entries = baseline::entries_for(&outcome.files, previous.as_ref(), &today);
            if let Some(reason) = &args.reason {
                for entry in entries.iter_mut().filter(|e| e.reason.is_none()) {
                    entry.reason = Some(reason.clone());
                }
            }
            let before = previous.as_ref().map_or(0, |b| b.entries.len());
            if let Some(previous) = previous {
                entries.extend(previous.entries);
            }
            let baseline = Baseline::new(entries);
            let added = baseline.entries.len() - before;
            (baseline, format!("{} added", count(added, "entry", "entries")))
        }
    };
    std::fs::write(&path, baseline.render()).with_context(|| format!("cannot write {shown}"))?;
    let incomplete = outcome
        .files
        .iter()
        .filter(|f| f.incomplete || f.error.is_some())
        .count();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "picklegate: {shown}: {} ({message}) from {}",
            count(baseline.entries.len(), "entry", "entries"),
            count(outcome.summary.files, "file", "files")
        );
        if incomplete > 0 && mode != "prune" {
            eprintln!(
                "picklegate: warning: {} not fully analysed; the entries pin the exact content (SHA-256): any change fails the gate again",
                count(incomplete, "file was", "files were")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn gate_command(args: GateArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("cannot read report {}", args.report.display()))?;
    let gate = report::json::parse_gate(&text)
        .with_context(|| format!("{} is not a picklegate JSON v1 report", args.report.display()))?;
    let fail_on = match args.fail_on {
        Some(level) => level.severity(),
        None => Severity::parse(&gate.fail_on),
    };
    let failing: Vec<&str> = gate
        .files
        .iter()
        .filter(|f| f.fails_gate(fail_on))
        .map(|f| f.path.as_str())
        .collect();
    let notice_failure = gate.notices.iter().any(|n| n.level == suppress::NoticeLevel::Error);
    #[allow(clippy::print_stderr)]
    {
        for path in failing.iter().take(20) {
            eprintln!("picklegate: gate: {path}");
        }
        for notice in gate.notices.iter().filter(|n| n.level == suppress::NoticeLevel::Error) {
            eprintln!("picklegate: gate: {}", notice.message);
        }
        eprintln!(
            "picklegate: gate {} ({} of {} fail at {})",
            if failing.is_empty() && !notice_failure {
                "passed"
            } else {
                "failed"
            },
            failing.len(),
            count(gate.files.len(), "file", "files"),
            fail_on.map_or("none", Severity::as_str)
        );
    }
    Ok(if failing.is_empty() && !notice_failure {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `n thing` or `n things`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn notice_level(notice: &suppress::Notice) -> &'static str {
    match notice.level {
        suppress::NoticeLevel::Warning => "warning",
        suppress::NoticeLevel::Error => "error",
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// Seconds since 1970 (or `SOURCE_DATE_EPOCH`, for reproducible reports).
fn unix_now() -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.parse().ok()) {
        return epoch;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The configuration and the path it was read from (as shown in messages).
fn load_config(args: &SelectArgs, root: &Path) -> Result<(Config, String)> {
    if args.no_config {
        return Ok((Config::default(), String::new()));
    }
    let path = match &args.config {
        Some(path) => Some(path.clone()),
        None => config::discover(&common_folder(&args.paths)),
    };
    match path {
        Some(path) => Ok((Config::load(&path)?, shown(&path, root))),
        None => Ok((Config::default(), String::new())),
    }
}

/// The deepest folder holding every scanned path. A configuration applies to a scan only when
/// everything scanned lies below it: a `picklegate.toml` committed in one folder must not
/// decide how files in another are scanned because a hook happened to list it first.
fn common_folder(paths: &[PathBuf]) -> PathBuf {
    let folders = paths.iter().filter_map(|p| {
        let absolute = std::fs::canonicalize(p).ok()?;
        if absolute.is_dir() {
            Some(absolute)
        } else {
            absolute.parent().map(Path::to_path_buf)
        }
    });
    folders
        .reduce(|common, folder| {
            common
                .ancestors()
                .find(|a| folder.starts_with(a))
                .map(Path::to_path_buf)
                .unwrap_or_default()
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A path as reports show it: from the repository root when it is inside it (reports must not
/// reveal where the checkout lives), else as given.
fn shown(path: &Path, root: &Path) -> String {
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.strip_prefix(root).ok().map(walk::display))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| walk::display(path))
}

/// The folder report paths are relative to: the repository holding the first scanned path,
/// else the working folder (or the scanned folder, when it lies outside the working folder).
fn scan_root(paths: &[PathBuf]) -> PathBuf {
    let start = paths.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    if let Some(root) = git::open(start)
        .ok()
        .and_then(|repo| repo.workdir().and_then(|w| std::fs::canonicalize(w).ok()))
    {
        return root;
    }
    // Outside a repository: the working folder, unless the scan is of a folder elsewhere.
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .unwrap_or_default();
    let Ok(start) = std::fs::canonicalize(start) else {
        return cwd;
    };
    let folder = if start.is_dir() {
        start
    } else {
        start.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    if folder.starts_with(&cwd) {
        cwd
    } else {
        folder
    }
}

/// The files a repository change (`--diff-base`, `--staged`) asks to scan.
fn changed_files(args: &SelectArgs, walk_options: &WalkOptions) -> Result<Vec<Candidate>> {
    let start = args.paths.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    let repo = git::open(start)?;
    let root = repo
        .workdir()
        .context("the repository has no working tree")?
        .to_path_buf();
    let filters = walk::Filters::new(walk_options)?;
    // Limit to the paths asked for, relative to the repository root.
    let scopes: Vec<PathBuf> = args
        .paths
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter_map(|p| {
            p.strip_prefix(std::fs::canonicalize(&root).ok()?)
                .ok()
                .map(Path::to_path_buf)
        })
        .collect();
    // Some(sniff only) for a path to scan.
    let wanted = |relative: &Path| -> Option<bool> {
        let in_scope = scopes.is_empty() || scopes.iter().any(|s| relative.starts_with(s));
        let by_extension = walk::has_model_extension(relative) || filters.included(relative);
        (in_scope && !filters.excluded(relative) && (by_extension || walk_options.all_files)).then_some(!by_extension)
    };
    let cwd = std::env::current_dir()?;
    let on_disk = |path: PathBuf, sniff_only: bool| {
        let shown = path.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or(path.clone());
        Candidate {
            display: walk::display(&shown),
            source: walk::Source::File(path),
            sniff_only,
            canonical: None,
        }
    };
    let (mut found, alters_others) = if args.staged {
        git::staged_candidates(&repo, |p| wanted(p))?
    } else {
        let reference = args.diff_base.as_deref().unwrap_or_default();
        let changes = git::changed_since(&repo, reference)?;
        let mut found = Vec::new();
        for path in &changes.files {
            if let Some(sniff_only) = path.strip_prefix(&root).ok().and_then(&wanted) {
                if path.is_file() {
                    found.push(on_disk(path.clone(), sniff_only));
                }
            }
        }
        // A model that is a link to a changed file changed too.
        for link in git::links_to(&repo, &changes.files)? {
            if let Some(sniff_only) = link.strip_prefix(&root).ok().and_then(&wanted) {
                found.push(on_disk(link, sniff_only));
            }
        }
        (found, changes.alters_others)
    };
    if let Some(why) = alters_others {
        // The change can rewrite files it does not list: everything in scope is scanned.
        #[allow(clippy::print_stderr)]
        if !args.quiet {
            eprintln!("picklegate: {why}: scanning every model file in scope, not only the changed ones");
        }
        let paths = if args.paths.is_empty() {
            vec![root.clone()]
        } else {
            args.paths.clone()
        };
        found.extend(walk::collect(&paths, walk_options)?);
        // The change's own entries first (stable sort): staged content stands for the file on
        // disk it replaces. Two files on disk that merely display alike are both kept.
        found.sort_by(|a, b| a.display.cmp(&b.display));
        found.dedup_by(|a, b| a.display == b.display && same_file(a, b, &cwd));
    }
    Ok(found)
}

/// Whether two candidates of one display are the same file (staged content and the file it
/// replaces count as one).
fn same_file(a: &Candidate, b: &Candidate, cwd: &Path) -> bool {
    let (walk::Source::File(a), walk::Source::File(b)) = (&a.source, &b.source) else {
        return true;
    };
    walk::without_dots(&cwd.join(a)) == walk::without_dots(&cwd.join(b))
}

/// A bar on a terminal, whose length grows as the walk finds files; shown from the second file.
struct Progress {
    bar: ProgressBar,
    terminal: bool,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{spinner} scanning {pos}/{len} files {wide_bar} {elapsed}") {
            bar.set_style(style);
        }
        Progress {
            bar,
            terminal: !quiet && std::io::stderr().is_terminal(),
        }
    }

    fn found(&self, files: usize) {
        let before = self.bar.length().unwrap_or(0);
        self.bar.inc_length(files as u64);
        if self.terminal && before < 2 && before + files as u64 >= 2 {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_disk(path: PathBuf) -> Candidate {
        Candidate {
            display: walk::display(&path),
            source: walk::Source::File(path),
            sniff_only: false,
            canonical: None,
        }
    }

    #[test]
    fn files_that_display_alike_are_one_only_when_they_are_one() {
        let cwd = Path::new("/repo");
        let relative = on_disk(PathBuf::from("models/x.pkl"));
        let absolute = on_disk(PathBuf::from("/repo/./models/x.pkl"));
        assert!(same_file(&relative, &absolute, cwd));
        let staged = Candidate {
            source: walk::Source::Bytes(std::sync::Arc::new(Vec::new())),
            ..relative.clone()
        };
        assert!(same_file(&staged, &absolute, cwd));
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let byte = on_disk(PathBuf::from(std::ffi::OsStr::from_bytes(b"models/x\xff.pkl")));
            let escaped = on_disk(PathBuf::from("models/x\\xff.pkl"));
            assert_eq!(byte.display, escaped.display);
            assert!(!same_file(&byte, &escaped, cwd));
        }
    }
}
