//! Command dispatch (binary only: the library has no clap and no anyhow).

pub mod args;

use anyhow::{bail, Context, Result};
use args::{Cli, Command, Format, Hash, RulesCommand, ScanArgs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use picklegate::analyze::AnalyzeOptions;
use picklegate::config::{self, Config};
use picklegate::model::Severity;
use picklegate::report;
use picklegate::scan::{self, ScanOptions};
use picklegate::suppress;
use picklegate::walk::{self, git, Candidate, WalkOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan_command(*args),
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
    let (config, config_path) = load_config(&args)?;
    let root = scan_root(&args.paths);
    let rules = suppress::config_rules::build(&config, &config_path, config::today())?;
    let policy = suppress::Policy {
        rules,
        baseline: None,
        strict: false,
        report_unused: args.diff_base.is_none() && !args.staged,
    };
    let fail_on = args
        .fail_on
        .or(config.fail_on)
        .map_or(Some(Severity::High), |f| f.severity());
    let lfs = args.lfs.or(config.lfs).unwrap_or_default();
    let mut analyze = AnalyzeOptions::default();
    if let Some(limits) = &config.limits {
        analyze.limits = limits.clone();
    }
    let options = ScanOptions {
        analyze,
        fail_on,
        jobs: args.jobs.or(config.jobs).unwrap_or(0),
        hash: match args.hash {
            Hash::Findings => scan::HashPolicy::WithHighFindings,
            Hash::All => scan::HashPolicy::All,
        },
        lfs,
        max_file_size: args.max_file_size.or(config.max_file_size).unwrap_or(0),
        policy,
        root: Some(root),
    };
    let walk_options = WalkOptions {
        include: config.include.iter().chain(&args.include).cloned().collect(),
        exclude: config.exclude.iter().chain(&args.exclude).cloned().collect(),
        all_files: args.all_files || config.all_files.unwrap_or(false),
        force_exclude: args.force_exclude,
    };
    let candidates = candidates(&args, &walk_options)?;

    let progress = progress_bar(&args, candidates.len());
    let outcome = scan::scan(&candidates, &options, &|| progress.inc(1));
    progress.finish_and_clear();

    if let Some(path) = &args.json {
        std::fs::write(path, report::json::render(&outcome))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        "auto" => args.output.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        other => bail!("--color takes auto, always or never, not `{other}`"),
    };
    let rendered = match args.format {
        Format::Json => report::json::render(&outcome),
        Format::Text => report::text::render(&outcome, &report::text::Style { color }),
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered).with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout(&rendered)?,
    }
    if !args.quiet {
        let s = &outcome.summary;
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "picklegate: {} files in {:.2}s: {} malicious, {} suspicious, {} not fully analysed, {} clean; gate {}",
                s.files,
                started.elapsed().as_secs_f64(),
                s.malicious,
                s.suspicious,
                s.error,
                s.clean,
                if s.failed { "failed" } else { "passed" }
            );
        }
    }
    Ok(if outcome.summary.failed && !args.exit_zero {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The configuration and the path it was read from (as shown in messages).
fn load_config(args: &ScanArgs) -> Result<(Config, String)> {
    if args.no_config {
        return Ok((Config::default(), String::new()));
    }
    let path = match &args.config {
        Some(path) => Some(path.clone()),
        None => config::discover(args.paths.first().map(PathBuf::as_path).unwrap_or(Path::new("."))),
    };
    match path {
        Some(path) => Ok((Config::load(&path)?, walk::display(&path))),
        None => Ok((Config::default(), String::new())),
    }
}

/// The folder report paths are relative to: the repository holding the first scanned path,
/// else the working folder.
fn scan_root(paths: &[PathBuf]) -> PathBuf {
    let start = paths.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    git::open(start)
        .ok()
        .and_then(|repo| repo.workdir().map(Path::to_path_buf))
        .or_else(|| std::env::current_dir().ok())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .unwrap_or_default()
}

fn candidates(args: &ScanArgs, walk_options: &WalkOptions) -> Result<Vec<Candidate>> {
    if args.diff_base.is_none() && !args.staged {
        return Ok(walk::collect(&args.paths, walk_options)?);
    }
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
    let wanted = |relative: &Path| {
        let in_scope = scopes.is_empty() || scopes.iter().any(|s| relative.starts_with(s));
        in_scope && !filters.excluded(relative) && (walk::has_model_extension(relative) || filters.included(relative))
    };
    if args.staged {
        return Ok(git::staged_candidates(&repo, wanted)?);
    }
    let reference = args.diff_base.as_deref().unwrap_or_default();
    let changed = git::changed_since(&repo, reference)?;
    let cwd = std::env::current_dir()?;
    Ok(changed
        .into_iter()
        .filter(|path| path.strip_prefix(&root).is_ok_and(&wanted))
        .filter(|path| path.is_file())
        .map(|path| {
            let shown = path.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or(path.clone());
            Candidate {
                display: walk::display(&shown),
                source: walk::Source::File(path),
                sniff_only: false,
            }
        })
        .collect())
}

fn progress_bar(args: &ScanArgs, files: usize) -> ProgressBar {
    if args.quiet || files < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(files as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} scanning {pos}/{len} files {wide_bar} {elapsed}") {
        bar.set_style(style);
    }
    bar
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
