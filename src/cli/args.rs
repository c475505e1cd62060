//! Command-line arguments.

use clap::{Parser, Subcommand, ValueEnum};
use picklegate::config::{FailOn, LfsPolicy};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "picklegate",
    version,
    about = "Find the code a pickle-based model file would run, without loading it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files and folders.
    Scan(Box<ScanArgs>),
    /// Accept the current findings so that scans fail only on new ones.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
    /// Decide the gate from a JSON report written earlier (a CI step after the one that
    /// published the reports).
    Gate(GateArgs),
    /// Print what loading a file would do, as a Python program (one per pickle stream, in
    /// every member), reconstructed without loading anything.
    Decompile { file: PathBuf },
    /// Print an annotated disassembly of a pickle file.
    Disasm { file: PathBuf },
    /// List the rules or explain one.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List every rule with its id, default severity and summary.
    List,
    /// Print a rule's documentation.
    Explain { id: String },
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Write a baseline of every finding in the scanned files.
    Create(BaselineArgs),
    /// Add the findings that are not in the baseline yet (existing entries are kept).
    Update(BaselineArgs),
    /// Drop the entries that no longer match: their finding is gone, their file changed or
    /// was removed.
    Prune(BaselineArgs),
}

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The baseline file [default: .picklegate-baseline.json at the repository root].
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// `create`: replace an existing baseline.
    #[arg(long)]
    pub force: bool,
    /// Reason recorded on new entries.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// A JSON report (`scan --json FILE`).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Lowest severity that fails the gate [default: the report's].
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
    /// Workflow-command annotations; with $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT set, also
    /// the Markdown summary and the step outputs.
    Github,
    GitlabSast,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Hash {
    Findings,
    All,
}

/// Which files to scan and how to read them (shared by `scan` and `baseline`).
#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// Files and folders to scan (folders: model files, recursively, honouring .gitignore and
    /// .picklegateignore; files named here are always scanned).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Also scan files matching this glob when walking folders (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Never scan files matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Apply --exclude and the config's excludes to files named on the command line too.
    #[arg(long)]
    pub force_exclude: bool,
    /// Consider every file in walked folders and keep those whose bytes are a model format
    /// (extensionless Hugging Face cache blobs, odd names).
    #[arg(long)]
    pub all_files: bool,
    /// Scan only files added or changed between the merge base of HEAD and REF, and HEAD.
    #[arg(long, value_name = "REF", conflicts_with = "staged")]
    pub diff_base: Option<String>,
    /// Scan what is staged for commit (the index content, not the working tree).
    #[arg(long)]
    pub staged: bool,
    /// What a Git LFS pointer does to the gate: fail, warn, skip [default: fail, or the
    /// config's lfs].
    #[arg(long, value_name = "POLICY")]
    pub lfs: Option<LfsPolicy>,
    /// Configuration file (default: the nearest picklegate.toml up to the repository root).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore any picklegate.toml.
    #[arg(long)]
    pub no_config: bool,
    /// Report files larger than this many bytes as not scanned (default: no cap).
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Worker threads (default: one per core, or the config's jobs).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// No progress bar and no summary line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format on stdout (or in --output).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the --format report to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write a JSON report (v1) to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a SARIF 2.1.0 report to this file.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Also write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a GitLab SAST report (gl-sast-report.json, schema 15.2.1) to this file.
    #[arg(long, value_name = "FILE")]
    pub gitlab_sast: Option<PathBuf>,
    /// Also write the Markdown summary to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// SARIF category (`automationDetails.id` is `<category>/`); one per scan root in a matrix.
    #[arg(long, value_name = "NAME", default_value = "picklegate")]
    pub sarif_category: String,
    /// Put suppressed and baselined alerts in the SARIF too, marked with `suppressions`.
    #[arg(long)]
    pub sarif_include_suppressed: bool,
    /// Absolute URI of the repository root recorded in the SARIF (default: not recorded).
    #[arg(long, value_name = "URI")]
    pub sarif_src_root: Option<String>,
    /// Lowest severity that fails the gate (exit 1): critical, high, medium, low, none
    /// [default: high, or the config's fail_on].
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    /// Always exit 0 unless picklegate itself fails (for jobs that must publish reports).
    #[arg(long)]
    pub exit_zero: bool,
    /// Fail only on findings not in this baseline file (`picklegate baseline create`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Suppression, allowlist and baseline entries that matched nothing fail the gate.
    #[arg(long)]
    pub strict_suppressions: bool,
    /// Which files get a SHA-256 in reports: those with high or critical findings, or all (reads every byte).
    #[arg(long, value_enum, default_value_t = Hash::Findings)]
    pub hash: Hash,
    /// Colour in text output: auto, always, never.
    #[arg(long, default_value = "auto")]
    pub color: String,
}
