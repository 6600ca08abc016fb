//! crmsync: keep CRM contacts and deals in step between HubSpot accounts
//! (and Pipedrive).
//!
//! This file lists the modules and holds `run`, which dispatches each
//! subcommand to a small function that runs the pipeline
//! (`pipeline.rs`) up to its stopping point and prints the result: `pull`
//! stops after the snapshots, `diff` after the plan, `push` applies a saved
//! plan, `sync` goes all the way. Printing goes to stdout, through
//! `Progress::print` so that no bar is drawn over it; logs and bars to
//! stderr. Under `-q` a run with nothing to report prints nothing at all
//! (`worth_printing`), so cron mails only what changed or needs a look.
//! Exit codes are chosen in `exit.rs` only. `init` (a mapping file
//! from the accounts' metadata, `init/`) and `completions` run before any
//! mapping file is loaded.

pub mod alert;
pub mod apply;
pub mod cli;
pub mod config;
pub mod connector;
pub mod diff;
pub mod exit;
pub mod fields;
pub mod files;
pub mod init;
pub mod interrupt;
pub mod mapping;
pub mod matcher;
pub mod model;
pub mod par;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod report;
pub mod schema;
pub mod scope;
pub mod secret;
pub mod snapshot;
pub mod state;
pub mod timestamp;
pub mod validate;
pub mod vendor;

use anyhow::{Context, Result};
use cli::{Cli, Command};
use config::Config;
use exit::Outcome;
use plan::Plan;
use progress::Progress;
use report::{Report, Stop};
use serde_json::json;
use state::{RunLock, State};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What every subcommand runs with.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    cli: &'a Cli,
    config: &'a Config,
    progress: &'a Progress,
    /// When the run began, for the duration the summary prints.
    started: Instant,
}

/// Runs one command line: the subcommand, then the `--report` file and the
/// alert, whatever the outcome.
pub fn run(cli: &Cli, progress: &Progress) -> Result<Outcome> {
    cli.check()?;
    match &cli.command {
        Command::Init {
            write,
            direction,
            schema,
        } => {
            return settle_interrupt(
                progress,
                init::run(&cli.config, *write, *direction, *schema),
                &mut Report::default(),
            );
        }
        Command::Completions { shell } => return completions(*shell),
        _ => {}
    }
    let config = Config::load(&cli.config)?;
    let started = Instant::now();
    let mut report = Report::default();
    let ctx = Ctx {
        cli,
        config: &config,
        progress,
        started,
    };
    let result = match &cli.command {
        Command::Pull { pairs, full } => pull(&ctx, &mut report, pairs, *full),
        Command::Diff {
            pairs,
            out,
            offline,
            full,
        } => diff(&ctx, &mut report, pairs, out.as_deref(), *offline, *full),
        Command::Push {
            plan,
            dry_run,
            limits,
        } => push(&ctx, &mut report, plan.clone(), *dry_run, limits_of(limits)),
        Command::Sync {
            pairs,
            dry_run,
            full,
            limits,
        } => sync(&ctx, &mut report, pairs, *dry_run, *full, limits_of(limits)),
        Command::Init { .. } | Command::Completions { .. } => {
            unreachable!("run dispatches these before loading a mapping file")
        }
    };
    let result = settle_interrupt(progress, result, &mut report);
    report.duration_ms = timestamp::millis(started.elapsed());
    let status = exit::status_of(&result);
    if status == exit::ExitStatus::Skipped {
        // The run still going owns the report and alerts; this one did
        // nothing, says so in one line (none under -q: cron would mail it
        // every interval) and exits 8.
        if let Err(e) = &result {
            log::info!("{e:#}");
        }
        return Ok(Outcome::Skipped);
    }
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    if let Some(path) = &cli.report
        && let Err(e) = report.write(path, cli.command.name(), status as u8, error.as_deref())
    {
        log::warn!("cannot write the report: {e:#}");
    }
    if let Some(alerts) = &config.alerts {
        let text = alert::summary(
            cli.command.name(),
            &config.path.display().to_string(),
            status,
            &report,
            error.as_deref(),
        );
        alert::notify(alerts, status, &text);
    }
    result
}

fn pull(ctx: &Ctx, report: &mut Report, names: &[String], full: bool) -> Result<Outcome> {
    let Ctx {
        cli,
        config,
        progress,
        ..
    } = *ctx;
    with_accounts(config, names, report, |pairs, connectors, _| {
        let snapshots = pipeline::pull(config, pairs, connectors, progress, full)?;
        let sizes = |pair: &config::PairConfig| {
            pipeline::pair_snapshots(&snapshots, pair).map(|s| s.records.len())
        };
        if cli.json {
            let counts: Vec<_> = pairs
                .iter()
                .map(|p| {
                    let [left, right] = sizes(p);
                    json!({"pair": p.name, "left": left, "right": right})
                })
                .collect();
            let requests = pipeline::request_counts(connectors);
            print_json(
                progress,
                &json!({"format": "crmsync-pull", "version": 1, "pairs": counts, "requests": requests}),
            )?;
        } else if !cli.quiet {
            // A pull changes nothing: under -q it has nothing to say.
            let mut text = String::new();
            for p in pairs {
                let [left, right] = sizes(p);
                let records = |n: usize| plan::counted(n as u64, "record", "records");
                text.push_str(&format!(
                    "Pulled {}: {} {}, {} {}.\n",
                    p.name,
                    p.left,
                    records(left),
                    p.right,
                    records(right)
                ));
            }
            progress.print(&text).context("writing to stdout")?;
        }
        Ok(Outcome::Done)
    })
}

fn diff(
    ctx: &Ctx,
    report: &mut Report,
    names: &[String],
    out: Option<&Path>,
    offline: bool,
    full: bool,
) -> Result<Outcome> {
    let Ctx {
        cli,
        config,
        progress,
        ..
    } = *ctx;
    let plan = if offline {
        let pairs = config.select_pairs(names)?;
        let (snapshots, state) = pipeline::load_saved(config, &pairs)?;
        let mut plan = pipeline::plan(config, &pairs, &snapshots, &state);
        plan.cost = pipeline::estimate(config, &pairs, &plan, None);
        pipeline::warn_if_over_budget(config, &plan, None)?;
        plan
    } else {
        with_accounts(config, names, report, |pairs, connectors, _| {
            let mut plan = pipeline::fresh_plan(config, pairs, connectors, progress, full)?.plan;
            plan.cost = pipeline::estimate(config, pairs, &plan, Some(connectors));
            pipeline::warn_if_over_budget(config, &plan, Some(connectors))?;
            Ok(plan)
        })?
    };
    plan.save(&last_plan_path(config))?;
    if let Some(out) = out {
        plan.save(out)?;
        log::info!(
            "plan saved to {}; apply it with `crmsync push {}`",
            out.display(),
            out.display()
        );
    }
    print_plan(cli, progress, &plan)?;
    Ok(drift_of(&plan))
}

fn push(
    ctx: &Ctx,
    report: &mut Report,
    plan_path: Option<PathBuf>,
    dry_run: bool,
    limits: pipeline::Limits,
) -> Result<Outcome> {
    let Ctx {
        config, progress, ..
    } = *ctx;
    let plan = Plan::load(&plan_path.unwrap_or_else(|| last_plan_path(config)))?;
    let names: Vec<String> = plan.pairs.iter().map(|p| p.name.clone()).collect();
    let applied = with_accounts(config, &names, report, |pairs, connectors, report| {
        let mut state = State::load(&State::path(&config.state_dir))?;
        pipeline::check_fresh(config, &plan, pairs, connectors, &state)?;
        for pair_plan in &plan.pairs {
            if let Some(pair) = pairs.iter().find(|p| p.name == pair_plan.name) {
                pipeline::check_limits(pair, pair_plan, limits)?;
            }
        }
        if dry_run || plan.is_empty() {
            return Ok(false);
        }
        let out = pipeline::Output {
            config,
            connectors,
            progress,
        };
        pipeline::apply(&out, &plan, pairs, &mut state, report)?;
        Ok(true)
    })?;
    finish(ctx, report, &plan, applied)
}

fn sync(
    ctx: &Ctx,
    report: &mut Report,
    names: &[String],
    dry_run: bool,
    full: bool,
    limits: pipeline::Limits,
) -> Result<Outcome> {
    let Ctx {
        config, progress, ..
    } = *ctx;
    let plan = with_accounts(config, names, report, |pairs, connectors, report| {
        if dry_run {
            let mut plan = pipeline::fresh_plan(config, pairs, connectors, progress, full)?.plan;
            plan.cost = pipeline::estimate(config, pairs, &plan, Some(connectors));
            pipeline::warn_if_over_budget(config, &plan, Some(connectors))?;
            return Ok(plan);
        }
        let out = pipeline::Output {
            config,
            connectors,
            progress,
        };
        pipeline::sync(&out, pairs, full, limits, report)
    })?;
    finish(ctx, report, &plan, !dry_run)
}

/// How `push` and `sync` end: a plan that was not applied (a dry run, or
/// nothing to do) is printed as `diff` prints it; an applied one with its
/// report, and how far it got when it stopped early: after a signal one
/// line on stderr says so (exit 130 or 143), after a limit that lifts
/// later (a daily limit, a rate limit) the run ends with the limit's
/// error, how far it got folded in (exit 5).
fn finish(ctx: &Ctx, report: &mut Report, plan: &Plan, applied: bool) -> Result<Outcome> {
    let Ctx { cli, progress, .. } = *ctx;
    if !applied {
        print_plan(cli, progress, plan)?;
        return Ok(drift_of(plan));
    }
    report.duration_ms = timestamp::millis(ctx.started.elapsed());
    print_run(cli, progress, plan, report)?;
    match report.stopped.take() {
        Some(Stop::Limit(error)) => {
            return Err(error.context(format!("stopped after {}", how_far(plan, report))));
        }
        Some(Stop::Signal(signal)) => {
            progress.eprint(&format!(
                "crmsync: interrupted: {}; run again to finish",
                how_far(plan, report)
            ));
            report.stopped = Some(Stop::Signal(signal));
        }
        None => {}
    }
    Ok(report.outcome())
}

/// A run a signal stopped before it applied anything (pulling, checking a
/// plan) ends as interrupted, with one line saying nothing was written; so
/// does one whose signal came during its last request, which stopped
/// nothing: its status still tells a calling script it was interrupted (a
/// shell loop stops on 130, not on 0). Other results pass unchanged.
fn settle_interrupt(
    progress: &Progress,
    result: Result<Outcome>,
    report: &mut Report,
) -> Result<Outcome> {
    let signal = match &result {
        Err(e) => interrupt::signal_of(e),
        Ok(Outcome::Interrupted(_)) => None,
        Ok(_) => interrupt::requested(),
    };
    let Some(signal) = signal else {
        return result;
    };
    report.stopped = Some(Stop::Signal(signal));
    let applied = report.writes_done();
    if applied == 0 {
        progress.eprint(&format!(
            "crmsync: interrupted by {signal} before any write; nothing was written"
        ));
    } else {
        progress.eprint(&format!(
            "crmsync: interrupted by {signal}: {} applied; run again to finish",
            plan::counted(applied as u64, "item", "items")
        ));
    }
    Ok(Outcome::Interrupted(signal))
}

/// How far an apply that stopped early got: `60 of 120 items applied`.
fn how_far(plan: &Plan, report: &Report) -> String {
    let planned = plan
        .pairs
        .iter()
        .flat_map(|p| &p.items)
        .filter(|i| i.writes())
        .count();
    let noun = if planned == 1 { "item" } else { "items" };
    format!("{} of {planned} {noun} applied", report.writes_done())
}

/// `completions`: the shell completion script, from the same clap
/// definitions that parse the command line.
fn completions(shell: clap_complete::Shell) -> Result<Outcome> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "crmsync", &mut std::io::stdout());
    Ok(Outcome::Done)
}

/// Connects the systems of the named pairs and runs `body` under the run
/// lock; the requests made are recorded in the report whatever the outcome.
fn with_accounts<T>(
    config: &Config,
    names: &[String],
    report: &mut Report,
    body: impl FnOnce(&[&config::PairConfig], &pipeline::Connectors, &mut Report) -> Result<T>,
) -> Result<T> {
    let pairs = config.select_pairs(names)?;
    let connectors = pipeline::connect(config, &pairs)?;
    let run = RunLock::acquire(&config.state_dir).map(|lock| {
        if let Some(holder) = &lock.taken_over {
            log::warn!(
                "the previous run ({holder}) ended without letting go of the lock (killed, or the machine stopped); taking it over and recovering its work from the journal"
            );
        }
        let result = body(&pairs, &connectors, report);
        (lock, result)
    });
    report.requests = pipeline::request_counts(&connectors);
    report.tokens = pipeline::tokens_spent(&connectors);
    // The connectors settle the day's token spend as they drop: while the
    // lock is still held, so a run that starts next reads this run's count
    // instead of having it overwritten.
    drop(connectors);
    let (_lock, result) = run?;
    result
}

fn limits_of(args: &cli::LimitArgs) -> pipeline::Limits {
    pipeline::Limits {
        max_deletes: args.max_deletes,
        max_changes: args.max_changes,
    }
}

/// Where `diff` keeps its last plan for a bare `push`.
fn last_plan_path(config: &Config) -> PathBuf {
    config.state_dir.join("last-plan.json")
}

fn drift_of(plan: &Plan) -> Outcome {
    if plan.is_empty() {
        Outcome::Done
    } else {
        Outcome::Drift
    }
}

/// Returns true if and only if a run's text is to be printed: always,
/// except under `-q` when the plan changes nothing, names no duplicate and
/// no merged record left for a human, and no record failed or was left
/// unknown, or when a limit that lifts later stopped the apply: its error
/// line says how far it got, so a migration that stops at its daily limit
/// every day mails one line, not its plan. (`--json` always prints: a
/// script asked for a document.)
fn worth_printing(cli: &Cli, plan: &Plan, report: Option<&Report>) -> bool {
    let stopped_by_limit = report.is_some_and(|r| matches!(r.stopped, Some(Stop::Limit(_))));
    if cli.quiet && stopped_by_limit {
        return false;
    }
    !cli.quiet
        || !plan.is_empty()
        || plan
            .pairs
            .iter()
            .any(|p| !p.duplicates.is_empty() || p.items.iter().any(plan::Item::is_shown))
        || report.is_some_and(|r| r.failures().next().is_some() || !r.duplicates.is_empty())
}

fn print_plan(cli: &Cli, progress: &Progress, plan: &Plan) -> Result<()> {
    if cli.json {
        print_json(progress, &serde_json::to_value(plan)?)
    } else if worth_printing(cli, plan, None) {
        progress
            .print(&plan.to_string())
            .context("writing to stdout")
    } else {
        Ok(())
    }
}

fn print_run(cli: &Cli, progress: &Progress, plan: &Plan, report: &Report) -> Result<()> {
    if cli.json {
        return print_json(
            progress,
            &json!({"format": "crmsync-run", "version": 1, "plan": plan, "report": report}),
        );
    }
    if worth_printing(cli, plan, Some(report)) {
        progress
            .print(&format!("{plan}{report}"))
            .context("writing to stdout")?;
    }
    log::info!(
        "{} in {:.2}s",
        report.requests_and_tokens(),
        report.duration_ms as f64 / 1000.0
    );
    Ok(())
}

fn print_json(progress: &Progress, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    progress
        .print(&format!("{text}\n"))
        .context("writing to stdout")
}
