//! The command line (a contract, documented in the README "Subcommands"): global options, the four
//! subcommands that are stopping points of one pipeline, `init` and
//! `completions`. The `///` comments are the `--help` text, and every
//! option has one (a unit test walks them). Parsing only, and `check`, which
//! refuses a global option the subcommand cannot honour rather than
//! ignoring it; no behaviour here.

use crate::config::{Direction, Limit, SchemaPolicy};
use crate::progress::ProgressMode;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Keep CRM contacts and deals in step between HubSpot accounts (and Pipedrive).
///
/// Exit status: 0 success (diff: in step), 1 error, 2 usage or invalid mapping
/// file, 3 drift (diff / --dry-run found changes), 4 some records failed or
/// their outcome is unknown, 5 try later (rate limit, outage), 6 safety stop
/// (nothing written), 7 auth (token missing, rejected or lacking a scope),
/// 8 skipped (the previous run is still going; not an error), 130/143
/// stopped by SIGINT/SIGTERM after the request in flight (run again to finish).
#[derive(Debug, Parser)]
#[command(name = "crmsync", version, about, long_about)]
pub struct Cli {
    /// The mapping file.
    #[arg(
        long,
        global = true,
        env = "CRMSYNC_CONFIG",
        default_value = "sync.toml"
    )]
    pub config: PathBuf,

    /// More log detail on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only what changed or needs a look: a run with nothing to do
    /// prints nothing; warnings and errors always; no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print one versioned JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Also write the run's per-record report here, as JSON (0600).
    #[arg(long, global = true, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Also append the log lines, with timestamps, to this file.
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Progress bars on stderr: auto draws them only on a terminal.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub progress: ProgressMode,

    #[command(subcommand)]
    pub command: Command,
}

/// A combination of options the command cannot honour (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl Cli {
    /// Refuses a global option that the subcommand cannot honour (or two
    /// that contradict each other), so that nobody counts on a `--report`
    /// or a JSON document that never comes.
    pub fn check(&self) -> Result<(), UsageError> {
        if self.quiet && self.progress == ProgressMode::Always {
            return Err(UsageError(
                "-q draws no progress bars: drop -q or --progress always".into(),
            ));
        }
        let prints = match self.command {
            Command::Init { .. } => "a mapping file (TOML)",
            Command::Completions { .. } => "a shell script",
            _ => return Ok(()),
        };
        let name = self.command.name();
        let refused = if self.json {
            Some(("--json", format!("it prints {prints}")))
        } else if self.report.is_some() {
            Some(("--report", "it makes no run report".to_string()))
        } else {
            None
        };
        match refused {
            Some((flag, why)) => Err(UsageError(format!(
                "{flag} does not apply to `{name}`: {why}; drop {flag}"
            ))),
            None => Ok(()),
        }
    }
}

impl Command {
    /// The subcommand's name, for reports and alerts.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Pull { .. } => "pull",
            Command::Diff { .. } => "diff",
            Command::Push { .. } => "push",
            Command::Sync { .. } => "sync",
            Command::Init { .. } => "init",
            Command::Completions { .. } => "completions",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch both sides of each pair into snapshots under state_dir.
    Pull {
        /// Only this pair (repeatable); default all.
        #[arg(long = "pair", value_name = "NAME")]
        pairs: Vec<String>,
        /// Fetch every record, not only what changed since the last pull.
        #[arg(long)]
        full: bool,
    },
    /// Pull, then print the plan: what sync would change. Writes nothing to any CRM.
    Diff {
        /// Only this pair (repeatable); default all.
        #[arg(long = "pair", value_name = "NAME")]
        pairs: Vec<String>,
        /// Also save the plan as JSON here, for review and `push`.
        #[arg(long, value_name = "PLAN")]
        out: Option<PathBuf>,
        /// Plan from the last snapshots, making no API call.
        #[arg(long)]
        offline: bool,
        /// Fetch every record, not only what changed since the last pull.
        #[arg(long, conflicts_with = "offline")]
        full: bool,
    },
    /// Apply a saved plan exactly; refuse it if any record changed since it was made.
    Push {
        /// The plan file (default: the last plan diff saved in state_dir).
        plan: Option<PathBuf>,
        /// Check the plan against both accounts and print it; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Pull, plan and apply in one run.
    Sync {
        /// Only this pair (repeatable); default all.
        #[arg(long = "pair", value_name = "NAME")]
        pairs: Vec<String>,
        /// Stop after printing the plan (exit 3 if there is drift).
        #[arg(long)]
        dry_run: bool,
        /// Fetch every record (and detect deletes), not only what changed.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// From a file holding only [systems.*], print a complete mapping file
    /// read from the accounts' metadata. Reads metadata only; writes to no CRM.
    Init {
        /// Replace the --config file with the result (the old one is kept
        /// beside it with a .bak suffix).
        #[arg(long)]
        write: bool,
        /// The direction of every pair written: both ways, or one way for a
        /// migration (left is the first system in the file).
        #[arg(long, value_enum, default_value = "both")]
        direction: Direction,
        /// `create`: also map every custom property of a side read from
        /// that the side written lacks, for the first sync to create there
        /// (`schema = "create"` on those pairs).
        #[arg(long, value_enum, default_value = "existing")]
        schema: SchemaPolicy,
    },
    /// Print a shell completion script for crmsync on stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Safety limits that override the mapping file's, for every pair.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LimitArgs {
    /// Stop (exit 6, nothing written) if a pair would delete more records
    /// than this: a count, or a percentage such as 5%.
    #[arg(long, value_name = "N|P%", value_parser = parse_limit)]
    pub max_deletes: Option<Limit>,
    /// Stop (exit 6, nothing written) if a pair would create, update or
    /// delete more records than this.
    #[arg(long, value_name = "N|P%", value_parser = parse_limit)]
    pub max_changes: Option<Limit>,
}

fn parse_limit(text: &str) -> Result<Limit, String> {
    Limit::parse(text).ok_or_else(|| format!("`{text}` is not a count (10) or a percentage (5%)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of every subcommand, as `command path: --long`, that
    /// has no help line.
    fn undocumented(command: &clap::Command, path: &str) -> Vec<String> {
        let mut missing: Vec<String> = command
            .get_arguments()
            .filter(|a| a.get_id() != "help" && a.get_id() != "version")
            .filter(|a| a.get_help().is_none())
            .map(|a| format!("{path}: {}", a.get_id()))
            .collect();
        for sub in command.get_subcommands() {
            missing.extend(undocumented(sub, &format!("{path} {}", sub.get_name())));
        }
        missing
    }

    #[test]
    fn every_option_and_subcommand_has_a_help_line() {
        let cli = Cli::command();
        assert_eq!(undocumented(&cli, "crmsync"), Vec::<String>::new());
        for sub in cli.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no about", sub.get_name());
        }
    }
}
