//! The stages of the one pipeline the subcommands stop along:
//! connect → pull (snapshots) → plan (match + merge) → check freshness →
//! apply. Each stage is a function of data in, data out; the subcommands in
//! `lib.rs` only choose where to stop and what to print.

use crate::apply::Applier;
use crate::config::{Config, ConfigError, Endpoint, Limit, PairConfig, ValueMap};
use crate::connector::{self, Connector};
use crate::diff;
use crate::exit::SafetyStop;
use crate::mapping::{OwnerDirectory, Translator};
use crate::matcher;
use crate::model::{Owner, Side, Sided, set_field};
use crate::plan::{Action, Item, PairPlan, Plan};
use crate::progress::Progress;
use crate::report::Report;
use crate::snapshot::{Snapshot, Written};
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
            &config.pairs,
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

/// The snapshots of a run, one per account object, by `system.object`.
pub type Snapshots = BTreeMap<String, Snapshot>;

/// The account objects the pairs name, each once, in file order.
pub fn account_objects(pairs: &[&PairConfig]) -> Vec<Endpoint> {
    let mut objects: Vec<Endpoint> = Vec::new();
    for pair in pairs {
        for side in [Side::Left, Side::Right] {
            let endpoint = pair.endpoint(side);
            if !objects.contains(endpoint) {
                objects.push(endpoint.clone());
            }
        }
    }
    objects
}

/// Every side of every pair in the file that names `object`: a snapshot
/// holds what all of them map, whichever pairs a run selects, so one pair's
/// `--pair` run does not cost the others a full pull.
fn sides_on<'a>(
    config: &'a Config,
    object: &'a Endpoint,
) -> impl Iterator<Item = (&'a PairConfig, Side)> {
    config.pairs.iter().flat_map(move |pair| {
        [Side::Left, Side::Right]
            .into_iter()
            .filter(move |side| pair.endpoint(*side) == object)
            .map(move |side| (pair, side))
    })
}

/// The fields a snapshot of `object` holds: the union of what every pair
/// maps on it, sorted.
fn object_fields(config: &Config, object: &Endpoint) -> Vec<String> {
    let fields: std::collections::BTreeSet<String> = sides_on(config, object)
        .flat_map(|(pair, side)| pair.field_names(side))
        .collect();
    fields.into_iter().collect()
}

/// The two snapshots a pair plans on.
pub fn pair_snapshots<'a>(snapshots: &'a Snapshots, pair: &PairConfig) -> [&'a Snapshot; 2] {
    [Side::Left, Side::Right].map(|side| &snapshots[&pair.endpoint(side).to_string()])
}

/// Pulls every account object the pairs name once (all of them
/// concurrently), with the fields all its pairs map, and saves the
/// snapshots. After a first full pull an object fetches only what changed
/// since its snapshot's watermark and merges it in; when `full_pull_every`
/// says so (so many runs, or a last full pull so old) or with `full`, it
/// fetches everything again, which is when deletes are seen. Owners and
/// labels are fetched on full pulls and only when a value map needs them,
/// once per system (connectors cache their metadata).
pub fn pull(
    config: &Config,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    progress: &Progress,
    full: bool,
) -> Result<Snapshots> {
    let owners: Mutex<BTreeMap<String, Vec<Owner>>> = Mutex::new(BTreeMap::new());
    let owners_of = |system: &str| -> Result<Vec<Owner>> {
        let mut cache = owners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = cache.get(system) {
            return Ok(o.clone());
        }
        let fetched = connectors[system].owners()?;
        cache.insert(system.to_string(), fetched.clone());
        Ok(fetched)
    };
    let pull_object = |object: &Endpoint| -> Result<Snapshot> {
        let fields = object_fields(config, object);
        let connector = &connectors[&object.system];
        let path = Snapshot::path(&config.state_dir, object);
        // A snapshot taken under another mapping does not load: full pull.
        let previous = Snapshot::load(&path, &object.system, object.object, &fields).ok();
        let bar = progress.bar(&object.to_string(), None);
        let started_ms = crate::timestamp::now_ms();
        let mut snapshot = match previous {
            Some(mut previous)
                if !full
                    && !config.full_pull_every.is_due(
                        previous.incremental_runs,
                        previous.last_full_ms(),
                        started_ms,
                    ) =>
            {
                let since = previous.watermark_ms() - connector.capabilities().lookback_ms;
                let changed = connector.list_changed(object.object, &fields, since, &|listed| {
                    crate::progress::advance(&bar, listed.done, listed.total)
                })?;
                log::info!("pulled {} changed records from {object}", changed.len());
                previous.merge_changes(changed, started_ms);
                previous
            }
            _ => {
                let records = connector.list(object.object, &fields, &|listed| {
                    crate::progress::advance(&bar, listed.done, listed.total)
                })?;
                log::info!("pulled {} records from {object}", records.len());
                Snapshot::new(&object.system, object.object, fields, records, started_ms)
            }
        };
        progress.finish(&bar);
        let sides: Vec<(&PairConfig, Side)> = sides_on(config, object).collect();
        if sides.iter().any(|(pair, _)| pair.uses_owners())
            && (snapshot.complete || snapshot.owners.is_empty())
        {
            snapshot.owners = owners_of(&object.system)?;
        }
        for (pair, side) in sides {
            for map in pair.label_fields() {
                let field = &map[side];
                if snapshot.complete || !snapshot.labels.contains_key(field) {
                    let options = connector.labels(object.object, field)?;
                    snapshot.labels.insert(field.clone(), options);
                }
            }
        }
        snapshot.save(&path)?;
        Ok(snapshot)
    };
    let objects = account_objects(pairs);
    let pulled: Vec<Result<Snapshot>> = std::thread::scope(|s| {
        let threads: Vec<_> = objects
            .iter()
            .map(|object| s.spawn(|| pull_object(object)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("pull thread panicked"))
            .collect()
    });
    let mut snapshots = Snapshots::new();
    for (object, snapshot) in objects.iter().zip(pulled) {
        snapshots.insert(object.to_string(), snapshot?);
    }
    // Snapshots per pair, from before snapshots per account object: the
    // objects just pulled replace them.
    for pair in pairs {
        for side in [Side::Left, Side::Right] {
            let legacy = Snapshot::legacy_path(&config.state_dir, &pair.name, side);
            if legacy.exists() {
                std::fs::remove_file(&legacy)
                    .with_context(|| format!("removing the old snapshot {}", legacy.display()))?;
            }
        }
    }
    Ok(snapshots)
}

/// The last saved snapshots of the objects the pairs name, for an offline diff.
fn load_snapshots(config: &Config, pairs: &[&PairConfig]) -> Result<Snapshots> {
    account_objects(pairs)
        .iter()
        .map(|object| {
            let snapshot = Snapshot::load(
                &Snapshot::path(&config.state_dir, object),
                &object.system,
                object.object,
                &object_fields(config, object),
            )?;
            Ok((object.to_string(), snapshot))
        })
        .collect()
}

/// The last saved snapshots and the state, for an offline diff: read on two
/// threads, as each can be hundreds of MB of JSON for a million records.
pub fn load_saved(config: &Config, pairs: &[&PairConfig]) -> Result<(Snapshots, State)> {
    let (state, snapshots) = crate::par::join(
        || State::load(&State::path(&config.state_dir)),
        || load_snapshots(config, pairs),
    );
    Ok((snapshots?, state?))
}

/// Matches and merges one pair, and notes its size (the larger side), which
/// its percentage limits are taken of. Pure.
pub fn plan_pair(pair: &PairConfig, [left, right]: [&Snapshot; 2], state: &State) -> PairPlan {
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
    let translator = Translator::new(
        pair,
        &owners,
        state,
        Sided::new(&left.labels, &right.labels),
    );
    let rules = Sided::from_fn(|side| {
        let endpoint = pair.endpoint(side);
        connector::write_rules(endpoint.kind, endpoint.object)
    });
    let mut plan = diff::plan_pair(pair, &pairing, &translator, &rules);
    plan.records = left.records.len().max(right.records.len());
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

/// Plans every pair on the snapshots as pulled and the state as it is: what
/// `diff` shows and `push` applies. Pure.
pub fn plan(config: &Config, pairs: &[&PairConfig], snapshots: &Snapshots, state: &State) -> Plan {
    let pair_plans = pairs
        .iter()
        .map(|pair| plan_pair(pair, pair_snapshots(snapshots, pair), state))
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
                .filter_map(|i| Some((i.id(side)?, i.expect(side)?)))
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
            // A record this plan would link or create was linked since.
            let relinked = match item {
                Item::Create(_) | Item::Link(_) => Side::BOTH
                    .into_iter()
                    .any(|side| item.id(side).is_some_and(|id| links.by(side, id).is_some())),
                _ => false,
            };
            if relinked {
                stale.push(format!("{} {} was synced since", pair.name, item.label()));
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

/// Applies a saved plan (`push`), pair by pair through the same door as
/// `sync`; outcomes go into `report` as they happen, so a run that stops
/// midway still reports what it did. The state is saved as it goes. A
/// signal stops it after the batch in flight (`report.interrupted`).
pub fn apply(
    out: &Output,
    plan: &Plan,
    pairs: &[&PairConfig],
    state: &mut State,
    report: &mut Report,
) -> Result<()> {
    let bar = out.progress.pending_bar("writing");
    for pair_plan in &plan.pairs {
        let pair = *pairs
            .iter()
            .find(|p| p.name == pair_plan.name)
            .with_context(|| {
                format!(
                    "the plan names pair `{}`, which the mapping file no longer has",
                    pair_plan.name
                )
            })?;
        let applied = crate::interrupt::check()
            .map_err(anyhow::Error::new)
            .and_then(|()| apply_pair(out, pair, pair_plan, state, report, &bar).1);
        if stopped_by_signal(applied, report)? {
            break;
        }
    }
    out.progress.finish(&bar);
    Ok(())
}

/// Returns true if a signal stopped the apply (noted in the report: the
/// state of every batch answered is saved, and the run ends with what it
/// applied); passes any other error on.
fn stopped_by_signal(applied: Result<()>, report: &mut Report) -> Result<bool> {
    match applied {
        Ok(()) => Ok(false),
        Err(e) => match crate::interrupt::signal_of(&e) {
            Some(signal) => {
                report.interrupted = Some(signal);
                Ok(true)
            }
            None => Err(e),
        },
    }
}

/// The one door to the applier, for `push` and `sync`: applies one pair's
/// plan and returns what it wrote (also when it stopped midway), for the
/// snapshots the later pairs plan on, and how it ended.
fn apply_pair(
    out: &Output,
    pair: &PairConfig,
    plan: &PairPlan,
    state: &mut State,
    report: &mut Report,
    bar: &indicatif::ProgressBar,
) -> (Vec<(Side, Written)>, Result<()>) {
    let writes = plan.items.iter().filter(|i| i.writes()).count();
    bar.inc_length(writes as u64);
    out.progress.reveal(bar);
    let state_path = State::path(&out.config.state_dir);
    let mut applier = Applier::new(out.connectors, state, &state_path);
    let applied = applier.apply_pair(pair, plan, report, bar);
    (std::mem::take(&mut applier.written), applied)
}

/// Plans and applies pair after pair, in file order, so a pair sees the
/// links the pairs before it made in this run (a deal's new contact) and
/// the records they wrote to its account objects (a person Pipedrive
/// brought into the hub goes on to the other HubSpot account). The written
/// records are folded into the snapshots, which are saved when all pairs
/// are done. Returns the plan that was applied. A signal stops the run
/// after the batch in flight (`report.interrupted`, the snapshots still
/// saved); the plan returned then holds the pairs not reached too, as
/// predicted, so the run shows what it set out to do.
///
/// Every pair's limits are checked before the first write of the run, on
/// the plan it is predicted to have when its turn comes (the pairs before
/// it applied as planned); each pair is checked again on the plan actually
/// applied. A pair is planned a second time only when a pair before it
/// changed something it plans on.
pub fn plan_and_apply(
    out: &Output,
    pairs: &[&PairConfig],
    snapshots: &mut Snapshots,
    state: &mut State,
    report: &mut Report,
    limits: Limits,
) -> Result<Plan> {
    let Output {
        config, progress, ..
    } = *out;
    let mut predicted: Vec<Option<PairPlan>> = Vec::new();
    for (pair, plan) in predict(pairs, snapshots, state) {
        check_limits(pair, &plan, limits)?;
        predicted.push(Some(plan));
    }
    let mut pair_plans: Vec<PairPlan> = Vec::new();
    let mut touched = std::collections::BTreeSet::new();
    let bar = progress.pending_bar("writing");
    for (n, pair) in pairs.iter().enumerate() {
        if stopped_by_signal(crate::interrupt::check().map_err(Into::into), report)? {
            break;
        }
        let upstream_changed = pairs[..n].iter().zip(&pair_plans).any(|(earlier, plan)| {
            depends_on(pair, earlier) && plan.items.iter().any(|i| i.is_change())
        });
        let pair_plan = match predicted[n].take() {
            Some(plan) if !upstream_changed => plan,
            _ => {
                let plan = plan_pair(pair, pair_snapshots(snapshots, pair), state);
                check_limits(pair, &plan, limits)?;
                plan
            }
        };
        let (written, result) = apply_pair(out, pair, &pair_plan, state, report, &bar);
        for (side, write) in &written {
            if let Written::Deleted { id } = write {
                touched.extend(forget_relations_to(config, pair, *side, id, snapshots));
            }
        }
        for (side, records) in by_side(written) {
            let object = pair.endpoint(side).to_string();
            if let Some(snapshot) = snapshots.get_mut(&object) {
                snapshot.absorb(records);
                touched.insert(object);
            }
        }
        pair_plans.push(pair_plan);
        if stopped_by_signal(result, report)? {
            break;
        }
    }
    progress.finish(&bar);
    if report.interrupted.is_some() {
        // The plan shows the whole run: the pairs not reached as predicted.
        pair_plans.extend(
            predicted[pair_plans.len()..]
                .iter_mut()
                .filter_map(Option::take),
        );
    }
    for object in touched {
        let snapshot = &snapshots[&object];
        let endpoint = Endpoint {
            system: snapshot.system.clone(),
            kind: config.system(&snapshot.system).kind,
            object: snapshot.object,
        };
        snapshot.save(&Snapshot::path(&config.state_dir, &endpoint))?;
    }
    Ok(Plan::new(&config.fingerprint, pair_plans))
}

/// Each pair's plan as it will be when its turn comes: the pairs before it are taken
/// to write what they plan (a create as a new record with the values sent),
/// so a record one pair brings into an account counts against the limits of
/// the pairs that carry it on, before anything is written. Snapshots are
/// copied only when a later pair reads what an earlier one writes. Pure.
fn predict<'a>(
    pairs: &[&'a PairConfig],
    snapshots: &Snapshots,
    state: &State,
) -> Vec<(&'a PairConfig, PairPlan)> {
    let mut foreseen: Snapshots = Snapshots::new();
    let mut predicted = Vec::new();
    for (n, pair) in pairs.iter().enumerate() {
        let view = [Side::Left, Side::Right].map(|side| {
            let object = pair.endpoint(side).to_string();
            foreseen.get(&object).unwrap_or(&snapshots[&object])
        });
        let plan = plan_pair(pair, view, state);
        let written = by_side(
            plan.items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| Some((item.target()?, planned_write(&pair.name, i, item)?)))
                .collect(),
        );
        for (side, records) in written {
            let object = pair.endpoint(side);
            let read_later = pairs[n + 1..]
                .iter()
                .any(|later| later.left == *object || later.right == *object);
            if read_later {
                let key = object.to_string();
                foreseen
                    .entry(key.clone())
                    .or_insert_with(|| snapshots[&key].clone())
                    .absorb(records);
            }
        }
        predicted.push((*pair, plan));
    }
    predicted
}

/// What an item will leave in its target account if it is applied as
/// planned; a create gets a stand-in id, unique in the run.
fn planned_write(pair: &str, index: usize, item: &Item) -> Option<Written> {
    let values = |changes: &[crate::plan::Change]| {
        changes
            .iter()
            .map(|c| (c.field.clone(), c.to.clone()))
            .collect()
    };
    match item {
        Item::Create(c) => Some(Written::Saved {
            id: format!("planned:{pair}:{index}"),
            values: values(&c.changes),
            updated_ms: crate::timestamp::now_ms(),
        }),
        Item::Update(w) | Item::Associate(w) => Some(Written::Saved {
            id: w.ids[w.target].clone(),
            values: values(&w.changes),
            updated_ms: crate::timestamp::now_ms(),
        }),
        Item::Delete(d) => Some(Written::Deleted {
            id: d.ids[d.target].clone(),
        }),
        _ => None,
    }
}

/// A record this run deleted is gone from the relations that held it: the
/// vendors unlink (Pipedrive) or stop listing (HubSpot) associations to a
/// deleted record themselves, but the snapshots the later pairs plan on
/// were pulled before. Removes `id`, a record `pair` deleted on `side`,
/// from every relation field translated through `pair` (`link:PAIR`) that
/// holds records of that account object, and returns the snapshots changed.
fn forget_relations_to(
    config: &Config,
    pair: &PairConfig,
    side: Side,
    id: &str,
    snapshots: &mut Snapshots,
) -> Vec<String> {
    let link = ValueMap::Link(pair.name.clone());
    let mut changed = Vec::new();
    for other in &config.pairs {
        let fields = other
            .fields
            .iter()
            .filter(|f| other.values.get(&f.left) == Some(&link));
        for f in fields {
            let object = other.endpoint(side).to_string();
            let Some(snapshot) = snapshots.get_mut(&object) else {
                continue;
            };
            let field = &f[side];
            let mut any = false;
            for record in &mut snapshot.records {
                let value = record.get(field);
                if !value.split(';').any(|held| held.trim() == id) {
                    continue;
                }
                let kept: Vec<&str> = value
                    .split(';')
                    .map(str::trim)
                    .filter(|held| !held.is_empty() && *held != id)
                    .collect();
                let kept = kept.join(";");
                set_field(&mut record.fields, field, &kept);
                any = true;
            }
            if any {
                changed.push(object);
            }
        }
    }
    changed
}

fn by_side(written: Vec<(Side, Written)>) -> BTreeMap<Side, Vec<Written>> {
    let mut sides: BTreeMap<Side, Vec<Written>> = BTreeMap::new();
    for (side, record) in written {
        sides.entry(side).or_default().push(record);
    }
    sides
}

/// Returns true if and only if what `earlier` applies can change the plan
/// of `pair`: they share an account object, or `pair` translates ids
/// through `earlier`'s links.
fn depends_on(pair: &PairConfig, earlier: &PairConfig) -> bool {
    let shares = |e: &Endpoint| *e == earlier.left || *e == earlier.right;
    shares(&pair.left)
        || shares(&pair.right)
        || pair
            .values
            .values()
            .any(|v| *v == ValueMap::Link(earlier.name.clone()))
}

/// Command-line overrides of the pairs' safety limits.
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits {
    pub max_deletes: Option<Limit>,
    pub max_changes: Option<Limit>,
}

/// The one place a plan is counted against its pair's limits: stops before
/// any write (exit 6) when it deletes or changes more records than
/// `max_deletes`/`max_changes` (or their command-line overrides) allow,
/// percentages taken of the records the pair held when it was planned.
pub fn check_limits(pair: &PairConfig, plan: &PairPlan, overrides: Limits) -> Result<()> {
    let count = |actions: &[Action]| {
        plan.items
            .iter()
            .filter(|i| actions.contains(&i.action()))
            .count() as u64
    };
    let total = plan.records;
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

/// Requests made so far by every connector.
pub fn request_counts(connectors: &Connectors) -> BTreeMap<String, BTreeMap<String, u64>> {
    connectors
        .iter()
        .map(|(name, c)| (name.clone(), c.request_counts()))
        .collect()
}
