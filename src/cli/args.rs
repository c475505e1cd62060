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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Hash {
    Findings,
    All,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files and folders to scan (folders: model files, recursively, honouring .gitignore and
    /// .picklegateignore; files named here are always scanned).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Output format on stdout (or in --output).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Write a JSON report to this file as well.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Lowest severity that fails the gate (exit 1): critical, high, medium, low, none
    /// [default: high, or the config's fail_on].
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    /// Always exit 0 unless picklegate itself fails (for jobs that must publish reports).
    #[arg(long)]
    pub exit_zero: bool,
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
    /// Which files get a SHA-256 in reports: those with high or critical findings, or all (reads every byte).
    #[arg(long, value_enum, default_value_t = Hash::Findings)]
    pub hash: Hash,
    /// Colour in text output: auto, always, never.
    #[arg(long, default_value = "auto")]
    pub color: String,
    /// No progress bar and no summary line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}
