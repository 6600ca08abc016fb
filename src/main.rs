//! The `crmsync` binary: parse the command line, set up logging, run, and
//! turn the result into an exit status. Nothing else lives here.

use clap::Parser;
use crmsync::cli::Cli;
use crmsync::exit;
use crmsync::progress::Progress;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = Progress::init(
        cli.verbose,
        cli.quiet,
        cli.progress,
        cli.log_file.as_deref(),
    );
    if let Err(e) = crmsync::interrupt::install(|signal| exit::of_signal(signal) as i32) {
        log::warn!("cannot catch SIGINT and SIGTERM ({e}); an interrupt stops the run at once");
    }
    let result = crmsync::run(&cli, &progress);
    if let Err(error) = &result {
        // A run that stops midway may leave a bar up: the error goes below it.
        progress.eprint(&if cli.verbose > 0 {
            format!("crmsync: error: {error:?}")
        } else {
            format!("crmsync: error: {error:#}")
        });
    }
    exit::status_of(&result).into()
}
