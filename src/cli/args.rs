//! Command-line arguments.

use clap::{Parser, Subcommand, ValueEnum};
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
    Scan(ScanArgs),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
    None,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files and folders to scan (folders: files with model extensions, recursively).
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
    /// Lowest severity that fails the gate (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::High)]
    pub fail_on: FailOn,
    /// Worker threads (default: one per core).
    #[arg(long, short, default_value_t = 0)]
    pub jobs: usize,
    /// Which files get a SHA-256 in reports: those with findings, or all (reads every byte).
    #[arg(long, value_enum, default_value_t = Hash::Findings)]
    pub hash: Hash,
    /// Colour in text output: auto, always, never.
    #[arg(long, default_value = "auto")]
    pub color: String,
}
