//! crmsync: keep CRM contacts and deals in step between HubSpot accounts
//! (and Pipedrive).
//!
//! This file lists the modules and holds `run`, which dispatches each
//! subcommand to a small function that runs the pipeline
//! (`pipeline.rs`) up to its stopping point and prints the result: `pull`
//! stops after the snapshots, `diff` after the plan, `push` applies a saved
//! plan, `sync` goes all the way. Printing goes to stdout; logs and bars to
//! stderr. Exit codes are chosen in `exit.rs` only.

pub mod apply;
pub mod cli;
pub mod config;
pub mod connector;
pub mod diff;
pub mod exit;
pub mod files;
pub mod mapping;
pub mod matcher;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod report;
pub mod secret;
pub mod snapshot;
pub mod state;
pub mod timestamp;

use anyhow::Result;
use cli::{Cli, Command};
use config::Config;
use exit::Outcome;
use plan::Plan;
use progress::Progress;
use report::Report;
use serde_json::json;
use state::{RunLock, State};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs one command line.
pub fn run(cli: &Cli, progress: &Progress) -> Result<Outcome> {
    let config = Config::load(&cli.config)?;
    match &cli.command {
        Command::Pull { pairs } => pull(cli, &config, pairs, progress),
        Command::Diff {
            pairs,
            out,
            offline,
        } => diff(cli, &config, pairs, out.as_deref(), *offline, progress),
        Command::Push { plan, dry_run } => push(cli, &config, plan.clone(), *dry_run, progress),
        Command::Sync { pairs, dry_run } => sync(cli, &config, pairs, *dry_run, progress),
    }
}

fn pull(cli: &Cli, config: &Config, names: &[String], progress: &Progress) -> Result<Outcome> {
    let pairs = config.select_pairs(names)?;
    let connectors = pipeline::connect(config, &pairs)?;
    let _lock = RunLock::acquire(&config.state_dir)?;
    let snapshots = pipeline::pull(config, &pairs, &connectors, progress)?;
    let counts: Vec<_> = pairs
        .iter()
        .zip(&snapshots)
        .map(|(p, [l, r])| json!({"pair": p.name, "left": l.records.len(), "right": r.records.len()}))
        .collect();
    if cli.json {
        print_json(
            &json!({"format": "crmsync-pull", "version": 1, "pairs": counts, "requests": pipeline::request_counts(&connectors)}),
        );
    } else {
        for (p, [l, r]) in pairs.iter().zip(&snapshots) {
            println!(
                "Pulled {}: {} {} records, {} {} records.",
                p.name,
                p.left,
                l.records.len(),
                p.right,
                r.records.len()
            );
        }
    }
    Ok(Outcome::Done)
}

fn diff(
    cli: &Cli,
    config: &Config,
    names: &[String],
    out: Option<&Path>,
    offline: bool,
    progress: &Progress,
) -> Result<Outcome> {
    let pairs = config.select_pairs(names)?;
    let (plan, _lock) = if offline {
        let snapshots = pipeline::load_snapshots(config, &pairs)?;
        (
            pipeline::plan(
                config,
                &pairs,
                &snapshots,
                &State::load(&State::path(&config.state_dir))?,
            ),
            None,
        )
    } else {
        let connectors = pipeline::connect(config, &pairs)?;
        let lock = RunLock::acquire(&config.state_dir)?;
        let snapshots = pipeline::pull(config, &pairs, &connectors, progress)?;
        (
            pipeline::plan(
                config,
                &pairs,
                &snapshots,
                &State::load(&State::path(&config.state_dir))?,
            ),
            Some(lock),
        )
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
    if cli.json {
        print_json(&serde_json::to_value(&plan)?);
    } else {
        print!("{plan}");
    }
    Ok(if plan.is_empty() {
        Outcome::Done
    } else {
        Outcome::Drift
    })
}

fn push(
    cli: &Cli,
    config: &Config,
    plan_path: Option<PathBuf>,
    dry_run: bool,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let plan_path = plan_path.unwrap_or_else(|| last_plan_path(config));
    let plan = Plan::load(&plan_path)?;
    let names: Vec<String> = plan.pairs.iter().map(|p| p.name.clone()).collect();
    let pairs = config.select_pairs(&names)?;
    let connectors = pipeline::connect(config, &pairs)?;
    let _lock = RunLock::acquire(&config.state_dir)?;
    let mut state = State::load(&State::path(&config.state_dir))?;
    pipeline::check_fresh(config, &plan, &pairs, &connectors, &state)?;
    if dry_run || plan.is_empty() {
        print_plan_only(cli, &plan)?;
        return Ok(if plan.is_empty() {
            Outcome::Done
        } else {
            Outcome::Drift
        });
    }
    let mut report = pipeline::apply(config, &plan, &pairs, &connectors, &mut state, progress)?;
    finish_report(&mut report, &connectors, started);
    print_run(cli, &plan, &report)?;
    Ok(report.outcome())
}

fn sync(
    cli: &Cli,
    config: &Config,
    names: &[String],
    dry_run: bool,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let pairs = config.select_pairs(names)?;
    let connectors = pipeline::connect(config, &pairs)?;
    let _lock = RunLock::acquire(&config.state_dir)?;
    let mut state = State::load(&State::path(&config.state_dir))?;
    let snapshots = pipeline::pull(config, &pairs, &connectors, progress)?;
    if dry_run {
        let plan = pipeline::plan(config, &pairs, &snapshots, &state);
        print_plan_only(cli, &plan)?;
        return Ok(if plan.is_empty() {
            Outcome::Done
        } else {
            Outcome::Drift
        });
    }
    let (plan, mut report) = pipeline::plan_and_apply(
        config,
        &pairs,
        &snapshots,
        &connectors,
        &mut state,
        progress,
    )?;
    finish_report(&mut report, &connectors, started);
    print_run(cli, &plan, &report)?;
    Ok(report.outcome())
}

/// Where `diff` keeps its last plan for a bare `push`.
fn last_plan_path(config: &Config) -> PathBuf {
    config.state_dir.join("last-plan.json")
}

fn finish_report(report: &mut Report, connectors: &pipeline::Connectors, started: Instant) {
    report.requests = pipeline::request_counts(connectors);
    report.duration_ms = started.elapsed().as_millis() as u64;
    log::info!(
        "{} requests in {:.1}s",
        report.total_requests(),
        report.duration_ms as f64 / 1000.0
    );
}

fn print_plan_only(cli: &Cli, plan: &Plan) -> Result<()> {
    if cli.json {
        print_json(&serde_json::to_value(plan)?);
    } else {
        print!("{plan}");
    }
    Ok(())
}

fn print_run(cli: &Cli, plan: &Plan, report: &Report) -> Result<()> {
    if cli.json {
        print_json(&json!({"format": "crmsync-run", "version": 1, "plan": plan, "report": report}));
    } else {
        print!("{plan}{report}");
    }
    Ok(())
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}
