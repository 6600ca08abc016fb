//! The stages of the one pipeline the subcommands stop along:
//! connect → pull (snapshots) → plan (match + merge) → check freshness →
//! apply. Each stage is a function of data in, data out; the subcommands in
//! `lib.rs` only choose where to stop and what to print.

use crate::apply::Applier;
use crate::config::{Config, ConfigError, Limit, PairConfig};
use crate::connector::{self, Connector};
use crate::diff;
use crate::exit::SafetyStop;
use crate::mapping::{OwnerDirectory, Translator};
use crate::matcher;
use crate::model::{Owner, Side};
use crate::plan::{Action, PairPlan, Plan};
use crate::progress::Progress;
use crate::report::Report;
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::validate;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub type Connectors = BTreeMap<String, Box<dyn Connector>>;

/// Where an apply writes to and reports through.
#[derive(Clone, Copy)]
pub struct Output<'a> {
    pub config: &'a Config,
    pub connectors: &'a Connectors,
    pub progress: &'a Progress,
}

/// Builds a connector for every system the pairs use; a missing token fails
/// here, before any request.
pub fn connect(config: &Config, pairs: &[&PairConfig]) -> Result<Connectors> {
    let mut connectors = Connectors::new();
    for pair in pairs {
        for endpoint in [&pair.left, &pair.right] {
            if !connectors.contains_key(&endpoint.system) {
                connectors.insert(
                    endpoint.system.clone(),
                    connector::connect(config.system(&endpoint.system))?,
                );
            }
        }
    }
    Ok(connectors)
}

/// Checks every pair's mapping against both accounts' metadata and stops
/// with exit 2 (one line per problem) before any write. The check is
/// remembered for the mapping file's fingerprint for a day, so an unchanged
/// cron run does not pay for the metadata every few minutes.
pub fn validate(config: &Config, pairs: &[&PairConfig], connectors: &Connectors) -> Result<()> {
    let stamp = config.state_dir.join("validated.json");
    let fresh = std::fs::read(&stamp)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| {
            v["fingerprint"] == config.fingerprint.as_str()
                && v["at_ms"]
                    .as_i64()
                    .is_some_and(|at| crate::timestamp::now_ms() - at < 86_400_000)
        });
    if fresh {
        return Ok(());
    }
    let mut problems = Vec::new();
    for pair in pairs {
        let describe = |side: Side| {
            let endpoint = pair.endpoint(side);
            connectors[&endpoint.system]
                .describe(endpoint.object, &pair.field_names(side))
                .with_context(|| format!("reading the fields of {endpoint}"))
        };
        problems.extend(validate::check_pair(
            pair,
            &describe(Side::Left)?,
            &describe(Side::Right)?,
        ));
    }
    if !problems.is_empty() {
        return Err(ConfigError(format!(
            "{} does not fit the accounts; nothing written:\n  {}",
            config.path.display(),
            problems.join("\n  ")
        ))
        .into());
    }
    let body =
        serde_json::json!({"fingerprint": config.fingerprint, "at_ms": crate::timestamp::now_ms()});
    crate::files::ensure_private_dir(&config.state_dir)?;
    crate::files::write_atomic(&stamp, body.to_string().as_bytes())
}

/// Pulls both sides of every pair (the two sides concurrently) and saves the
/// snapshots. After a first full pull a side fetches only what changed since
/// its snapshot's watermark and merges it in; every `full_pull_every` runs
/// (or with `full`) it fetches everything again, which is when deletes are
/// seen. Owners and labels are fetched on full pulls and only when a value
/// map needs them, once per system (connectors cache their metadata).
pub fn pull(
    config: &Config,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    progress: &Progress,
    full: bool,
) -> Result<Vec<[Snapshot; 2]>> {
    let owners: Mutex<BTreeMap<String, Vec<Owner>>> = Mutex::new(BTreeMap::new());
    let owners_of = |system: &str| -> Result<Vec<Owner>> {
        if let Some(o) = owners.lock().unwrap_or_else(|e| e.into_inner()).get(system) {
            return Ok(o.clone());
        }
        let fetched = connectors[system].owners()?;
        owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(system.to_string(), fetched.clone());
        Ok(fetched)
    };
    let mut all = Vec::new();
    for pair in pairs {
        let pull_side = |side: Side| -> Result<Snapshot> {
            let endpoint = pair.endpoint(side);
            let fields = pair.field_names(side);
            let connector = &connectors[&endpoint.system];
            let path = Snapshot::path(&config.state_dir, &pair.name, side);
            // A snapshot taken under another mapping does not load: full pull.
            let previous = Snapshot::load(&path, &endpoint.system, endpoint.object, &fields).ok();
            let bar = progress.bar(&format!("{} {endpoint}", pair.name), None);
            let started_ms = crate::timestamp::now_ms();
            let mut snapshot = match previous {
                Some(mut previous)
                    if !full && previous.incremental_runs + 1 < config.full_pull_every =>
                {
                    let since = previous.watermark_ms() - connector.capabilities().lookback_ms;
                    let changed =
                        connector.list_changed(endpoint.object, &fields, since, &|listed| {
                            crate::progress::advance(&bar, listed.done, listed.total)
                        })?;
                    log::info!("pulled {} changed records from {endpoint}", changed.len());
                    previous.merge_changes(changed, started_ms);
                    previous
                }
                _ => {
                    let records = connector.list(endpoint.object, &fields, &|listed| {
                        crate::progress::advance(&bar, listed.done, listed.total)
                    })?;
                    log::info!("pulled {} records from {endpoint}", records.len());
                    Snapshot::new(
                        &endpoint.system,
                        endpoint.object,
                        fields,
                        records,
                        started_ms,
                    )
                }
            };
            progress.finish(&bar);
            if pair.uses_owners() && (snapshot.complete || snapshot.owners.is_empty()) {
                snapshot.owners = owners_of(&endpoint.system)?;
            }
            for map in pair.label_fields() {
                let field = if side == Side::Left {
                    &map.left
                } else {
                    &map.right
                };
                if snapshot.complete || !snapshot.labels.contains_key(field) {
                    let options = connector.labels(endpoint.object, field)?;
                    snapshot.labels.insert(field.clone(), options);
                }
            }
            Ok(snapshot)
        };
        let (left, right) = std::thread::scope(|s| {
            let left = s.spawn(|| pull_side(Side::Left));
            let right = pull_side(Side::Right);
            (left.join().expect("pull thread panicked"), right)
        });
        let (left, right) = (left?, right?);
        for (side, snapshot) in [(Side::Left, &left), (Side::Right, &right)] {
            snapshot.save(&Snapshot::path(&config.state_dir, &pair.name, side))?;
        }
        all.push([left, right]);
    }
    Ok(all)
}

/// The last saved snapshots, for an offline diff.
fn load_snapshots(config: &Config, pairs: &[&PairConfig]) -> Result<Vec<[Snapshot; 2]>> {
    pairs
        .iter()
        .map(|pair| {
            let load = |side: Side| {
                let endpoint = pair.endpoint(side);
                Snapshot::load(
                    &Snapshot::path(&config.state_dir, &pair.name, side),
                    &endpoint.system,
                    endpoint.object,
                    &pair.field_names(side),
                )
            };
            Ok([load(Side::Left)?, load(Side::Right)?])
        })
        .collect()
}

/// The last saved snapshots and the state, for an offline diff: read on two
/// threads, as each can be hundreds of MB of JSON for a million records.
pub fn load_saved(config: &Config, pairs: &[&PairConfig]) -> Result<(Vec<[Snapshot; 2]>, State)> {
    let (state, snapshots) = crate::par::join(
        || State::load(&State::path(&config.state_dir)),
        || load_snapshots(config, pairs),
    );
    Ok((snapshots?, state?))
}

/// Matches and merges one pair. Pure.
pub fn plan_pair(pair: &PairConfig, [left, right]: &[Snapshot; 2], state: &State) -> PairPlan {
    let started = std::time::Instant::now();
    let empty = Default::default();
    let links = state.pair(&pair.name).unwrap_or(&empty);
    let mut pairing = matcher::pair_records(pair, &left.records, &right.records, links);
    // A record missing from a snapshot that is not a full listing may just
    // not have changed: deletes are inferred from full pulls only.
    if !(left.complete && right.complete) {
        pairing.gone.clear();
    }
    let owners = OwnerDirectory::new(&left.owners, &right.owners);
    let translator = Translator::new(pair, &owners, state, [&left.labels, &right.labels]);
    let rules = [Side::Left, Side::Right].map(|side| {
        let endpoint = pair.endpoint(side);
        connector::write_rules(endpoint.kind, endpoint.object)
    });
    let plan = diff::plan_pair(pair, &pairing, &translator, &rules);
    log::debug!(
        "planned {}: {} + {} records, {} links, {} items in {:.2} s",
        pair.name,
        left.records.len(),
        right.records.len(),
        links.len(),
        plan.items.len(),
        started.elapsed().as_secs_f64()
    );
    plan
}

/// Plans every pair against the state as it is. Pure.
pub fn plan(
    config: &Config,
    pairs: &[&PairConfig],
    snapshots: &[[Snapshot; 2]],
    state: &State,
) -> Plan {
    let pair_plans = pairs
        .iter()
        .zip(snapshots)
        .map(|(pair, snaps)| plan_pair(pair, snaps, state))
        .collect();
    Plan::new(&config.fingerprint, pair_plans)
}

/// Refuses a saved plan whose records changed since it was made, before any
/// write: a reviewed plan is applied exactly, or not at all.
pub fn check_fresh(
    config: &Config,
    plan: &Plan,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    state: &State,
) -> Result<()> {
    if plan.config_fingerprint != config.fingerprint {
        return Err(SafetyStop(format!(
            "the plan was made with a different {}; nothing written: run `crmsync diff --out PLAN` again and review it",
            config.path.display()
        ))
        .into());
    }
    let mut stale = Vec::new();
    let empty = Default::default();
    for pair_plan in &plan.pairs {
        let Some(pair) = pairs.iter().find(|p| p.name == pair_plan.name) else {
            continue;
        };
        let links = state.pair(&pair.name).unwrap_or(&empty);
        for side in [Side::Left, Side::Right] {
            let endpoint = pair.endpoint(side);
            let expected: BTreeMap<&str, i64> = pair_plan
                .items
                .iter()
                .filter(|i| i.is_change())
                .filter_map(|i| Some((i.id(side)?, i.expect?.get(side)?)))
                .collect();
            let ids: Vec<String> = expected.keys().map(|s| s.to_string()).collect();
            let current: BTreeMap<String, i64> = connectors[&endpoint.system]
                .read(endpoint.object, &ids, &pair.field_names(side))
                .with_context(|| format!("checking the plan against {endpoint}"))?
                .into_iter()
                .map(|r| (r.id, r.updated_ms))
                .collect();
            for (id, when) in &expected {
                match current.get(*id) {
                    Some(now) if now == when => {}
                    Some(_) => stale.push(format!("{endpoint} {id} changed")),
                    None => stale.push(format!("{endpoint} {id} is gone")),
                }
            }
        }
        for item in &pair_plan.items {
            let relinked = match item.action {
                Action::Create => {
                    item.left_id
                        .as_deref()
                        .is_some_and(|id| links.by_left(id).is_some())
                        || item
                            .right_id
                            .as_deref()
                            .is_some_and(|id| links.by_right(id).is_some())
                }
                Action::Link => item
                    .left_id
                    .as_deref()
                    .is_some_and(|id| links.by_left(id).is_some()),
                _ => false,
            };
            if relinked {
                stale.push(format!("{} {} was synced since", pair.name, item.label));
            }
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let shown: Vec<_> = stale.iter().take(5).cloned().collect();
    Err(SafetyStop(format!(
        "the plan is stale ({} records changed since it was made: {}{}); nothing written: run `crmsync diff --out PLAN` again and review it",
        stale.len(),
        shown.join(", "),
        if stale.len() > 5 { ", …" } else { "" }
    ))
    .into())
}

/// Applies a saved plan; outcomes go into `report` as they happen, so a run
/// that stops midway still reports what it did. The state is saved as it goes.
pub fn apply(
    out: &Output,
    plan: &Plan,
    pairs: &[&PairConfig],
    state: &mut State,
    report: &mut Report,
) -> Result<()> {
    let Output {
        config,
        connectors,
        progress,
    } = *out;
    let state_path = State::path(&config.state_dir);
    let bar = progress.pending_bar("writing");
    let summary = plan.summary();
    bar.set_length((summary.create + summary.update + summary.associate + summary.delete) as u64);
    progress.reveal(&bar);
    let mut applier = Applier::new(pairs.to_vec(), connectors, state, &state_path);
    let result = applier.apply(plan, report, &bar);
    progress.finish(&bar);
    result
}

/// Plans and applies pair after pair, in file order, so a pair sees the
/// links the pairs before it made in this run (a deal's new contact).
/// Returns the plan that was applied.
pub fn plan_and_apply(
    out: &Output,
    pairs: &[&PairConfig],
    snapshots: &[[Snapshot; 2]],
    state: &mut State,
    report: &mut Report,
    limits: Limits,
) -> Result<Plan> {
    let Output {
        config,
        connectors,
        progress,
    } = *out;
    // Every pair's limits are checked before the first write of the run ...
    for (pair, snaps) in pairs.iter().zip(snapshots) {
        check_limits(
            pair,
            &plan_pair(pair, snaps, state),
            pair_total(snaps),
            limits,
        )?;
    }
    let mut pair_plans = Vec::new();
    let state_path = State::path(&config.state_dir);
    let bar = progress.pending_bar("writing");
    for (pair, snaps) in pairs.iter().zip(snapshots) {
        let pair_plan = plan_pair(pair, snaps, state);
        // ... and again on the plan actually applied, which may differ once
        // earlier pairs have linked records.
        check_limits(pair, &pair_plan, pair_total(snaps), limits)?;
        let writes = pair_plan.items.iter().filter(|i| i.writes()).count();
        bar.inc_length(writes as u64);
        progress.reveal(&bar);
        let mut applier = Applier::new(vec![*pair], connectors, state, &state_path);
        applier.apply_pair(pair, &pair_plan, report, &bar)?;
        pair_plans.push(pair_plan);
    }
    progress.finish(&bar);
    Ok(Plan::new(&config.fingerprint, pair_plans))
}

/// Command-line overrides of the pairs' safety limits.
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits {
    pub max_deletes: Option<Limit>,
    pub max_changes: Option<Limit>,
}

/// Stops before any write (exit 6) when a pair's plan deletes or changes
/// more records than its limits allow. `total` is the pair's record count,
/// which percentages are taken of.
pub fn check_limits(
    pair: &PairConfig,
    plan: &PairPlan,
    total: usize,
    overrides: Limits,
) -> Result<()> {
    let count = |actions: &[Action]| {
        plan.items
            .iter()
            .filter(|i| actions.contains(&i.action))
            .count() as u64
    };
    let checks = [
        (
            "max_deletes",
            "--max-deletes",
            overrides.max_deletes.or(pair.max_deletes),
            count(&[Action::Delete]),
            "delete",
        ),
        (
            "max_changes",
            "--max-changes",
            overrides.max_changes.or(pair.max_changes),
            count(&[
                Action::Create,
                Action::Update,
                Action::Associate,
                Action::Delete,
            ]),
            "change",
        ),
    ];
    for (key, flag, limit, planned, verb) in checks {
        if let Some(limit) = limit
            && planned > limit.of(total)
        {
            return Err(SafetyStop(format!(
                "pair `{}` would {verb} {planned} of {total} records, over {key} = {limit}; nothing written: check both accounts, and if it is meant, rerun with {flag} {planned}",
                pair.name
            ))
            .into());
        }
    }
    Ok(())
}

/// The records a pair holds, for percentage limits: the larger side.
pub fn pair_total([left, right]: &[Snapshot; 2]) -> usize {
    left.records.len().max(right.records.len())
}

/// Requests made so far by every connector.
pub fn request_counts(connectors: &Connectors) -> BTreeMap<String, BTreeMap<String, u64>> {
    connectors
        .iter()
        .map(|(name, c)| (name.clone(), c.request_counts()))
        .collect()
}
