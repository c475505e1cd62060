//! Command dispatch (binary only: the library has no clap and no anyhow).

pub mod args;

use anyhow::{bail, Context, Result};
use args::{Cli, Command, FailOn, Format, Hash, RulesCommand, ScanArgs};
use picklegate::model::Severity;
use picklegate::report;
use picklegate::scan::{self, ScanOptions};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan_command(args),
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
    let fail_on = match args.fail_on {
        FailOn::Critical => Some(Severity::Critical),
        FailOn::High => Some(Severity::High),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::Low => Some(Severity::Low),
        FailOn::None => None,
    };
    let hash = match args.hash {
        Hash::Findings => scan::HashPolicy::WithFindings,
        Hash::All => scan::HashPolicy::All,
    };
    let options = ScanOptions {
        fail_on,
        jobs: args.jobs,
        hash,
        ..ScanOptions::default()
    };
    let paths = scan::collect_paths(&args.paths).context("cannot list the files to scan")?;
    let outcome = scan::scan_files(&paths, &options);
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
    Ok(if outcome.summary.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
