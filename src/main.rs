//! The `picklegate` command: parse arguments, run, map the result to an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = <cli::args::Cli as clap::Parser>::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!("picklegate: error: {error:#}");
            }
            ExitCode::from(2)
        }
    }
}
