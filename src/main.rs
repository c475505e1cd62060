//! The `picklegate` command: parse arguments, run, map the result to an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(name) = cli::option_that_is_a_file(std::env::args_os().skip(1)) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "picklegate: error: the argument {name:?} is also the name of a file here; put `--` before file names (a file named like an option must not change how the others are scanned)"
            );
        }
        return ExitCode::from(2);
    }
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
