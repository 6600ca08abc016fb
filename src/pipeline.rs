//! The stages of the one pipeline the subcommands stop along:
//! connect → pull (snapshots) → plan (match + merge) → check freshness →
//! apply. Each stage is a function of data in, data out; the subcommands in
//! `lib.rs` only choose where to stop and what to print.

use crate::apply::Applier;
use crate::config::{Config, ConfigError, Endpoint, Limit, PairConfig, ValueMap};
use crate::connector::{self, Connector};
use crate::diff;
use crate::exit::SafetyStop;
use crate::mapping::{OwnerDirectory, PlannedLinks, Translator};
use crate::matcher;
use crate::model::{Owner, Record, Side, Sided, set_field};
use crate::plan::{Action, Item, MergeStep, PairPlan, Plan, forward_ref};
use crate::progress::Progress;
use crate::report::RecordOutcome;
use crate::report::Report;
use crate::snapshot::{Snapshot, Written};
use crate::state::State;
use crate::validate;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

pub type Connectors = BTreeMap<String, Box<dyn Connector>>;

/// Where an apply writes to and reports through.
#[derive(Clone, Copy)]
pub struct Output<'a> {
    pub config: &'a Config,
    pub connectors: &'a Connectors,
    pub progress: &'a Progress,
}

/// Builds a connector for every system the pairs use; missing tokens fail
/// here, all named at once, before any request.
pub fn connect(config: &Config, pairs: &[&PairConfig]) -> Result<Connectors> {
    let mut names: Vec<&str> = Vec::new();
    for endpoint in pairs.iter().flat_map(|p| [&p.left, &p.right]) {
        if !names.contains(&endpoint.system.as_str()) {
            names.push(&endpoint.system);
        }
    }
    let systems: Vec<_> = names.iter().map(|name| config.system(name)).collect();
    let connectors = connector::connect(&systems)?;
    Ok(names
        .into_iter()
        .map(str::to_string)
        .zip(connectors)
        .collect())
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
                log::info!(
                    "pulled {} from {object}",
                    crate::plan::counted(changed.len() as u64, "changed record", "changed records")
                );
                previous.merge_changes(changed, started_ms);
                previous
            }
            _ => {
                let records = connector.list(object.object, &fields, &|listed| {
                    crate::progress::advance(&bar, listed.done, listed.total)
                })?;
                log::info!(
                    "pulled {} from {object}",
                    crate::plan::counted(records.len() as u64, "record", "records")
                );
                let mut fresh =
                    Snapshot::new(&object.system, object.object, fields, records, started_ms);
                if let Some(previous) = &previous {
                    fresh.keep_merges_of(previous);
                }
                fresh
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

/// Settles what a listing cannot show about identity, before planning:
/// a linked record a full listing no longer holds is asked for by its id
/// (a merged id resolves to the record it went into, which then names it,
/// so the planner follows the merge instead of taking it for a delete),
/// and a merge whose answer was lost is looked up (a record merged away no
/// longer answers under its own id), so it is found, never sent again.
/// Changed snapshots are saved; the pending merges looked up are settled.
pub fn follow_identities(
    config: &Config,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    snapshots: &mut Snapshots,
    state: &mut State,
) -> Result<()> {
    for pair in pairs {
        for side in Side::BOTH {
            let endpoint = pair.endpoint(side);
            let Some(snapshot) = snapshots.get(&endpoint.to_string()) else {
                continue;
            };
            let Some(links) = state.pair(&pair.name) else {
                continue;
            };
            let pending: Vec<String> = links
                .pending_merges()
                .iter()
                .filter(|m| m.target == side)
                .map(|m| m.merged.clone())
                .collect();
            let vanished: Vec<String> = if snapshot.complete && !links.is_empty() {
                let listed: std::collections::HashSet<&str> = snapshot
                    .records
                    .iter()
                    .flat_map(|r| std::iter::once(&r.id).chain(r.merged_from()))
                    .map(String::as_str)
                    .collect();
                links
                    .links()
                    .map(|l| l.id(side))
                    .filter(|id| !listed.contains(id))
                    .map(str::to_string)
                    .collect()
            } else {
                Vec::new()
            };
            if pending.is_empty() && vanished.is_empty() {
                continue;
            }
            let connector = &connectors[&endpoint.system];
            let fields = snapshot.fields.clone();
            let mut found: Vec<(String, Record)> = Vec::new();
            for chunk in vanished.chunks(connector.capabilities().max_batch.max(1)) {
                found.extend(
                    connector
                        .resolve_merged(endpoint.object, chunk, &fields)
                        .with_context(|| format!("looking up records gone from {endpoint}"))?,
                );
            }
            let unresolved: Vec<&String> = vanished
                .iter()
                .filter(|id| !found.iter().any(|(old, _)| old == *id))
                .collect();
            if !unresolved.is_empty() {
                let moved = merged_by_relations(config, pair, side, &unresolved, snapshots, state);
                found.extend(moved.into_iter().filter_map(|(old, into)| {
                    let survivor = snapshot.records.iter().find(|r| r.id == into)?;
                    Some((old, survivor.clone()))
                }));
            }
            let snapshot = snapshots
                .get_mut(&endpoint.to_string())
                .expect("the snapshot read above");
            let mut merged_away = Vec::new();
            if !pending.is_empty() {
                let answered = connector
                    .read(endpoint.object, &pending, &fields)
                    .with_context(|| format!("looking up merges sent to {endpoint}"))?;
                for id in &pending {
                    if answered.iter().any(|r| r.id == *id) {
                        log::info!("{endpoint} {id} was not merged; the merge is planned again");
                    } else {
                        log::info!("{endpoint} {id} was merged (its answer was lost)");
                        merged_away.push(id.clone());
                        found.extend(
                            answered
                                .iter()
                                .filter(|r| r.merged_from().contains(id))
                                .map(|r| (id.clone(), r.clone())),
                        );
                    }
                }
                let links = state.pair_mut(&pair.name);
                for id in &pending {
                    links.remove_pending_merge(side, id);
                }
            }
            if found.is_empty() && merged_away.is_empty() {
                continue;
            }
            snapshot.records.retain(|r| !merged_away.contains(&r.id));
            for (old, survivor) in found {
                log::info!("{endpoint} {old} was merged into {}", survivor.id);
                match snapshot.records.iter_mut().find(|r| r.id == survivor.id) {
                    Some(record) => {
                        let mut identity = record.identity.take().map(|i| *i).unwrap_or_default();
                        if !identity.merged_from.contains(&old) {
                            identity.merged_from.push(old);
                        }
                        record.set_identity(identity);
                    }
                    None => {
                        let mut record = survivor;
                        let mut identity = record.identity.take().map(|i| *i).unwrap_or_default();
                        if !identity.merged_from.contains(&old) {
                            identity.merged_from.push(old);
                        }
                        record.set_identity(identity);
                        snapshot.records.push(record);
                    }
                }
            }
            snapshot.save(&Snapshot::path(&config.state_dir, endpoint))?;
        }
    }
    Ok(())
}

/// Records a full pull no longer lists whose related records moved: a
/// vendor that merges a record into another moves what related to it to
/// the survivor (Pipedrive moves an organization's persons and deals, which
/// leaves no other trace of the merge). For each id of `vanished`, records
/// of `pair`'s `side`, the relation fields translated through `pair`
/// (`link:PAIR`) are read on the other pairs' links: where a link's base
/// held the vanished id and its record now holds, instead, one other live
/// record of that account, and every such record agrees on which, the
/// vanished record was merged into that one. Returns (old id, survivor id).
fn merged_by_relations(
    config: &Config,
    pair: &PairConfig,
    side: Side,
    vanished: &[&String],
    snapshots: &Snapshots,
    state: &State,
) -> Vec<(String, String)> {
    let ids = |value: &str| -> Vec<String> {
        value
            .split(';')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect()
    };
    let live: std::collections::HashSet<&str> = snapshots[&pair.endpoint(side).to_string()]
        .records
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    let wanted: std::collections::HashSet<&str> = vanished.iter().map(|id| id.as_str()).collect();
    // Old id → where its related records went ("" for nowhere or unclear).
    let mut votes: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let link = ValueMap::Link(pair.name.clone());
    for other in &config.pairs {
        let Some(links) = state.pair(&other.name) else {
            continue;
        };
        let Some(related) = snapshots
            .get(&other.endpoint(side).to_string())
            .filter(|s| s.complete)
        else {
            continue;
        };
        let fields: Vec<&String> = other
            .fields
            .iter()
            .filter(|f| other.values.get(&f.left) == Some(&link))
            .map(|f| &f[side])
            .collect();
        if fields.is_empty() {
            continue;
        }
        let by_id: HashMap<&str, &Record> =
            related.records.iter().map(|r| (r.id.as_str(), r)).collect();
        for l in links.links() {
            for field in &fields {
                let Some(was) = l.base[side].get(field).map(ids) else {
                    continue;
                };
                if !was.iter().any(|id| wanted.contains(id.as_str())) {
                    continue;
                }
                let Some(record) = by_id.get(l.id(side)) else {
                    continue;
                };
                let now = ids(record.get(field));
                let arrived: Vec<&String> = now
                    .iter()
                    .filter(|id| !was.contains(id) && live.contains(id.as_str()))
                    .collect();
                for old in was.iter().filter(|id| wanted.contains(id.as_str())) {
                    if now.contains(old) {
                        continue;
                    }
                    let into = match arrived.as_slice() {
                        [one] => (*one).clone(),
                        _ => String::new(),
                    };
                    votes.entry(old.clone()).or_default().insert(into);
                }
            }
        }
    }
    votes
        .into_iter()
        .filter_map(
            |(old, into)| match into.into_iter().collect::<Vec<_>>().as_slice() {
                [one] if !one.is_empty() => Some((old, one.clone())),
                _ => None,
            },
        )
        .collect()
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
/// its percentage limits are taken of. Relations translate through the
/// links in `state` and those `planned` (the pairs before this one in the
/// run). Pure.
pub fn plan_pair(
    pair: &PairConfig,
    [left, right]: [&Snapshot; 2],
    state: &State,
    planned: &PlannedLinks,
) -> PairPlan {
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
    )
    .with_planned(planned);
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

/// The one planning path: what `diff` shows, `diff --out` saves, `sync
/// --dry-run` prints, `push` applies and `sync` applies. Plans pair after
/// pair, in file order, as a run applies them: each pair plans on the
/// accounts and links as the pairs before it will leave them. A record an
/// earlier pair creates is in the later pairs' snapshots under its forward
/// reference (`plan::forward_ref`), which stands in for its id wherever a
/// later item needs it (a relation, a link, a copy) until the apply step
/// knows it; a record an earlier pair links is a relation target at once;
/// one it unlinks or deletes no longer is. Snapshots are copied only where
/// a later pair reads what an earlier one writes, and the state never.
/// Pure.
pub fn plan(config: &Config, pairs: &[&PairConfig], snapshots: &Snapshots, state: &State) -> Plan {
    let mut foreseen = Snapshots::new();
    let mut planned = PlannedLinks::default();
    let mut pair_plans = Vec::new();
    for (n, pair) in pairs.iter().enumerate() {
        let view = [Side::Left, Side::Right].map(|side| {
            let object = pair.endpoint(side).to_string();
            foreseen.get(&object).unwrap_or(&snapshots[&object])
        });
        let plan = plan_pair(pair, view, state, &planned);
        let read_later = |object: &str| {
            pairs[n + 1..]
                .iter()
                .any(|later| later.left.to_string() == object || later.right.to_string() == object)
        };
        for item in &plan.items {
            match item {
                Item::Link(a) => planned.link(&pair.name, &a.ids.left, &a.ids.right),
                Item::Create(c) => {
                    let mut ids = Sided::new(c.source_id.clone(), c.source_id.clone());
                    ids[c.target] = forward_ref(&pair.name, c.target, &c.source_id);
                    planned.link(&pair.name, &ids.left, &ids.right);
                }
                Item::Unlink(u) => planned.drop_link(&pair.name, &u.ids.left, &u.ids.right),
                // A link that follows a merge is one to the merge's result.
                Item::Merge(m) => match m.step {
                    MergeStep::Follow => {
                        planned.drop_link(&pair.name, &m.was.left, &m.was.right);
                        planned.link(&pair.name, &m.now.left, &m.now.right);
                    }
                    MergeStep::Spent | MergeStep::Orphaned => {
                        planned.drop_link(&pair.name, &m.was.left, &m.was.right)
                    }
                    MergeStep::Partners { .. } => {}
                },
                Item::Delete(d) => {
                    planned.drop_link(&pair.name, &d.ids.left, &d.ids.right);
                    for (object, field) in relations_through(config, pair, d.target) {
                        if read_later(&object) {
                            forget_in(
                                foreseen_mut(&mut foreseen, snapshots, &object),
                                &field,
                                &d.ids[d.target],
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        let written = by_side(
            plan.items
                .iter()
                .filter_map(|item| Some((item.target()?, planned_write(&pair.name, item)?)))
                .collect(),
        );
        for (side, records) in written {
            let object = pair.endpoint(side).to_string();
            if read_later(&object) {
                foreseen_mut(&mut foreseen, snapshots, &object).absorb(records);
            }
        }
        pair_plans.push(plan);
    }
    Plan::new(&config.fingerprint, pair_plans)
}

/// The snapshot of `object` as the pairs planned so far leave it: copied
/// from the pulled one the first time a pair writes to it.
fn foreseen_mut<'s>(
    foreseen: &'s mut Snapshots,
    snapshots: &Snapshots,
    object: &str,
) -> &'s mut Snapshot {
    foreseen
        .entry(object.to_string())
        .or_insert_with(|| snapshots[object].clone())
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
    // A forward reference must name a create of an earlier pair of the
    // plan, or the item waiting on it could never be applied.
    let mut stale = plan.dangling_refs();
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
                // A record this run creates cannot have changed.
                .filter(|(id, _)| !crate::plan::is_forward_ref(id))
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
        "the plan is stale ({} changed since it was made: {}{}); nothing written: run `crmsync diff --out PLAN` again and review it",
        crate::plan::counted(stale.len() as u64, "record", "records"),
        shown.join(", "),
        if stale.len() > 5 { ", …" } else { "" }
    ))
    .into())
}

/// Applies a saved plan (`push`) as it stands, pair by pair through the
/// same door as `sync`; outcomes go into `report` as they happen, so a run
/// that stops midway still reports what it did. The state is saved as it
/// goes. Forward references are resolved as the creates they wait on
/// answer. A signal stops it after the batch in flight (`report.interrupted`).
pub fn apply(
    out: &Output,
    plan: &Plan,
    pairs: &[&PairConfig],
    state: &mut State,
    report: &mut Report,
) -> Result<()> {
    let bar = out.progress.pending_bar("writing");
    let mut created = Created::new();
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
            .and_then(|()| apply_pair(out, pair, pair_plan, &mut created, state, report, &bar).1);
        if stopped_by_signal(applied, report)? {
            break;
        }
    }
    out.progress.finish(&bar);
    Ok(())
}

/// The ids of the records this run created, by their forward reference.
type Created = std::collections::HashMap<String, String>;

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
/// snapshots the later pairs plan on, and how it ended. Each item's forward
/// references are first replaced by the ids `created` holds; an item
/// waiting on a create that did not answer with an id (refused, unknown) is
/// a failed outcome, never a write with a wrong or empty relation. The ids
/// this pair's creates answer with go into `created`.
fn apply_pair(
    out: &Output,
    pair: &PairConfig,
    plan: &PairPlan,
    created: &mut Created,
    state: &mut State,
    report: &mut Report,
    bar: &indicatif::ProgressBar,
) -> (Vec<(Side, Written)>, Result<()>) {
    let resolved;
    // The plan's own item behind each item applied, by position.
    let mut planned_items: Vec<&Item> = plan.items.iter().collect();
    let plan = if plan.items.iter().any(Item::has_forward_refs) {
        let mut items = Vec::with_capacity(plan.items.len());
        planned_items.clear();
        for item in &plan.items {
            match item.resolve(&|reference| created.get(reference).cloned()) {
                Ok(ready) => {
                    items.push(ready);
                    planned_items.push(item);
                }
                Err(_) if !item.is_change() => {}
                Err(reference) => report.outcomes.push(RecordOutcome::of(
                    &pair.name,
                    item,
                    crate::report::Result::Failed,
                    Some(format!(
                        "waits for {reference}, which this run did not create; the next run plans it again"
                    )),
                )),
            }
        }
        resolved = PairPlan {
            name: plan.name.clone(),
            left: plan.left.clone(),
            right: plan.right.clone(),
            items,
            duplicates: plan.duplicates.clone(),
            records: plan.records,
        };
        &resolved
    } else {
        plan
    };
    let writes = plan.items.iter().filter(|i| i.writes()).count();
    bar.inc_length(writes as u64);
    out.progress.reveal(bar);
    let state_path = State::path(&out.config.state_dir);
    let mut applier = Applier::new(out.connectors, state, &state_path);
    let applied = applier.apply_pair(pair, plan, report, bar);
    for (at, id) in std::mem::take(&mut applier.created) {
        if let Some(reference) = planned_items[at].created_ref(&pair.name) {
            created.insert(reference, id);
        }
    }
    (std::mem::take(&mut applier.written), applied)
}

/// Applies the plan `plan` made (`predicted`), pair after pair in file
/// order, and returns the plan applied. Every pair's limits are checked on
/// the predicted plan before the first write of the run. A signal stops the
/// run after the batch in flight (`report.interrupted`, the snapshots still
/// saved); the plan returned then holds the pairs not reached too, as
/// predicted, so the run shows what it set out to do.
///
/// A pair is applied as predicted unless a pair before it that it depends
/// on wrote to a CRM: then it is planned again on the state and the
/// snapshots as those writes left them, and checked against its limits
/// again. That is where a prediction can be wrong: the server answered with
/// the created records' ids and its own spelling of the values written
/// (normalised, defaults filled in), or refused some. Replanning on the
/// answers keeps the base exactly what the accounts hold, so the next run
/// finds nothing to do; on accounts that answer as predicted it plans the
/// same items. Links, unlinks and conflicts settled without a write are
/// predicted exactly and never cause a second planning. The written
/// records are folded into the snapshots, which are saved when all pairs
/// are done.
pub fn plan_and_apply(
    out: &Output,
    pairs: &[&PairConfig],
    predicted: Plan,
    snapshots: &mut Snapshots,
    state: &mut State,
    report: &mut Report,
    limits: Limits,
) -> Result<Plan> {
    let Output {
        config, progress, ..
    } = *out;
    for (pair, plan) in pairs.iter().zip(&predicted.pairs) {
        check_limits(pair, plan, limits)?;
    }
    let mut predicted: Vec<Option<PairPlan>> = predicted.pairs.into_iter().map(Some).collect();
    let mut pair_plans: Vec<PairPlan> = Vec::new();
    let mut created = Created::new();
    let mut touched = std::collections::BTreeSet::new();
    let bar = progress.pending_bar("writing");
    for (n, pair) in pairs.iter().enumerate() {
        if stopped_by_signal(crate::interrupt::check().map_err(Into::into), report)? {
            break;
        }
        let upstream_wrote = pairs[..n].iter().zip(&pair_plans).any(|(earlier, plan)| {
            depends_on(pair, earlier) && plan.items.iter().any(Item::writes)
        });
        let pair_plan = match predicted[n].take() {
            Some(plan) if !upstream_wrote => plan,
            _ => {
                let plan = plan_pair(
                    pair,
                    pair_snapshots(snapshots, pair),
                    state,
                    &PlannedLinks::default(),
                );
                check_limits(pair, &plan, limits)?;
                plan
            }
        };
        let (written, result) =
            apply_pair(out, pair, &pair_plan, &mut created, state, report, &bar);
        for (side, write) in &written {
            let into = match write {
                Written::Deleted { id } => Some((id, None)),
                Written::Merged { id, into } => Some((id, Some(into.as_str()))),
                Written::Saved { .. } => None,
            };
            if let Some((id, into)) = into {
                for (object, field) in relations_through(config, pair, *side) {
                    if let Some(snapshot) = snapshots.get_mut(&object)
                        && replace_in(snapshot, &field, id, into)
                    {
                        touched.insert(object);
                    }
                }
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

/// What an item will leave in its target account if it is applied as
/// planned; a create's record goes under its forward reference.
fn planned_write(pair: &str, item: &Item) -> Option<Written> {
    let values = |changes: &[crate::plan::Change]| {
        changes
            .iter()
            .map(|c| (c.field.clone(), c.to.clone()))
            .collect()
    };
    match item {
        Item::Create(c) => Some(Written::Saved {
            id: forward_ref(pair, c.target, &c.source_id),
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
        Item::Merge(m) => {
            let target = m.target()?;
            match &m.step {
                crate::plan::MergeStep::Partners { kept, .. } => Some(Written::Merged {
                    id: m.now[target].clone(),
                    into: kept.clone(),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A record this run deletes is gone from the relations that held it: the
/// vendors unlink (Pipedrive) or stop listing (HubSpot) associations to a
/// deleted record themselves, but the snapshots the later pairs plan on
/// were pulled before. Returns the relation fields translated through
/// `pair` (`link:PAIR`) that hold records of its `side`, each as the
/// account object whose snapshot holds it and that object's field name.
fn relations_through(config: &Config, pair: &PairConfig, side: Side) -> Vec<(String, String)> {
    let link = &ValueMap::Link(pair.name.clone());
    config
        .pairs
        .iter()
        .flat_map(|other| {
            other
                .fields
                .iter()
                .filter(move |f| other.values.get(&f.left) == Some(link))
                .map(move |f| (other.endpoint(side).to_string(), f[side].clone()))
        })
        .collect()
}

/// Removes `id` from `field` of every record of `snapshot`; returns true
/// if any record held it.
fn forget_in(snapshot: &mut Snapshot, field: &str, id: &str) -> bool {
    replace_in(snapshot, field, id, None)
}

/// Removes `id` from `field` of every record of `snapshot`, putting `into`
/// in its place where given (a record merged into another: the vendors
/// move its relations to the result); returns true if any record held it.
fn replace_in(snapshot: &mut Snapshot, field: &str, id: &str, into: Option<&str>) -> bool {
    let mut any = false;
    for record in &mut snapshot.records {
        let value = record.get(field);
        if !value.split(';').any(|held| held.trim() == id) {
            continue;
        }
        let mut kept: Vec<&str> = value
            .split(';')
            .map(str::trim)
            .filter(|held| !held.is_empty() && *held != id)
            .collect();
        if let Some(into) = into
            && !kept.contains(&into)
        {
            kept.push(into);
            kept.sort_by(|a, b| crate::model::id_order(a, b));
        }
        let kept = kept.join(";");
        set_field(&mut record.fields, field, &kept);
        any = true;
    }
    any
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
    // A merge counts when it writes (`merges = "propagate"`).
    let count = |actions: &[Action]| {
        plan.items
            .iter()
            .filter(|i| {
                actions.contains(&i.action()) && (i.action() != Action::Merge || i.writes())
            })
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
                Action::Merge,
            ]),
            "change",
        ),
    ];
    for (key, flag, limit, planned, verb) in checks {
        if let Some(limit) = limit
            && planned > limit.of(total)
        {
            return Err(SafetyStop(format!(
                "pair `{}` would {verb} {planned} of {}, over {key} = {limit}; nothing written: check both accounts, and if it is meant, rerun with {flag} {planned}",
                pair.name,
                crate::plan::counted(total as u64, "record", "records")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fields, ObjectKind, Record};
    use crate::plan::is_forward_ref;
    use std::path::Path;

    /// Companies (matched by name), then contacts whose primary company is
    /// translated through the companies pair's links.
    fn config() -> Config {
        Config::from_str(
            r#"
[systems.a]
kind = "hubspot"
token_env = "A"
[systems.b]
kind = "hubspot"
token_env = "B"

[[pairs]]
name = "companies"
left = "a.companies"
right = "b.companies"
match = "name"
[pairs.fields]
name = "name"

[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
match = "email"
[pairs.fields]
email = "email"
primary_company = "primary_company"
[pairs.values]
primary_company = "link:companies"
"#,
            Path::new("t.toml"),
        )
        .unwrap()
    }

    fn rec(id: &str, fields: &[(&str, &str)]) -> Record {
        let mut f = Fields::new();
        for (k, v) in fields {
            set_field(&mut f, k, v);
        }
        Record::new(id, f, 1)
    }

    fn snapshots(config: &Config, records: [(&str, Vec<Record>); 4]) -> Snapshots {
        records
            .into_iter()
            .map(|(object, records)| {
                let (system, kind) = object.split_once('.').unwrap();
                let kind = match kind {
                    "companies" => ObjectKind::Companies,
                    _ => ObjectKind::Contacts,
                };
                let endpoint = account_objects(&config.pairs.iter().collect::<Vec<_>>())
                    .into_iter()
                    .find(|e| e.to_string() == object)
                    .unwrap();
                let fields = object_fields(config, &endpoint);
                (
                    object.to_string(),
                    Snapshot::new(system, kind, fields, records, 0),
                )
            })
            .collect()
    }

    /// a: Acme (1, new), Globex (2, also on b as 50), Initech (3, linked to
    /// b's 60, which is gone); contacts at each, and one at a company no
    /// pair knows.
    fn accounts(config: &Config) -> (Snapshots, State) {
        let snapshots = snapshots(
            config,
            [
                (
                    "a.companies",
                    vec![
                        rec("1", &[("name", "Acme")]),
                        rec("2", &[("name", "Globex")]),
                        rec("3", &[("name", "Initech")]),
                    ],
                ),
                ("b.companies", vec![rec("50", &[("name", "Globex")])]),
                (
                    "a.contacts",
                    vec![
                        rec("10", &[("email", "x@a.io"), ("primary_company", "1")]),
                        rec("11", &[("email", "y@a.io"), ("primary_company", "2")]),
                        rec("12", &[("email", "z@a.io"), ("primary_company", "3")]),
                        rec("13", &[("email", "w@a.io"), ("primary_company", "4")]),
                    ],
                ),
                ("b.contacts", vec![]),
            ],
        );
        let mut state = State::default();
        state.pair_mut("companies").link("3", "60");
        (snapshots, state)
    }

    fn item<'a>(plan: &'a Plan, pair: usize, label: &str) -> &'a Item {
        plan.pairs[pair]
            .items
            .iter()
            .find(|i| i.label() == label)
            .unwrap_or_else(|| panic!("no item {label}"))
    }

    fn written(item: &Item, field: &str) -> String {
        let change = item.changes().iter().find(|c| c.field == field).unwrap();
        change.to.clone()
    }

    #[test]
    fn a_later_pair_refers_to_what_an_earlier_pair_creates_or_links_and_not_to_what_it_unlinks() {
        let config = config();
        let pairs: Vec<&PairConfig> = config.pairs.iter().collect();
        let (snapshots, state) = accounts(&config);
        let plan = plan(&config, &pairs, &snapshots, &state);
        assert_eq!(item(&plan, 0, "Acme").action(), Action::Create);
        assert_eq!(item(&plan, 0, "Globex").action(), Action::Link);
        assert_eq!(item(&plan, 0, "Initech").action(), Action::Unlink);

        // Acme is created in the run: x's company is a forward reference to
        // that create; Globex is linked in the run: y's is its id at once.
        let x = item(&plan, 1, "x@a.io");
        assert_eq!(x.action(), Action::Create);
        let acme = written(x, "primary_company");
        assert_eq!(acme, "new:companies:right:1");
        assert!(is_forward_ref(&acme));
        assert_eq!(
            item(&plan, 0, "Acme").created_ref("companies").as_deref(),
            Some(acme.as_str())
        );
        assert_eq!(written(item(&plan, 1, "y@a.io"), "primary_company"), "50");
        // Initech's link is dropped in the run, and company 4 is in no pair.
        for label in ["z@a.io", "w@a.io"] {
            let invalid = item(&plan, 1, label);
            assert_eq!(invalid.action(), Action::Invalid, "{label}");
            assert!(
                invalid.problems()[0].contains("not synced by pair `companies`"),
                "{label}: {:?}",
                invalid.problems()
            );
        }
        assert!(plan.dangling_refs().is_empty());

        // Applied: the reference becomes the id Acme's create answered with;
        // with no answer the item cannot be resolved, and says what it waits on.
        let known = |r: &str| (r == "new:companies:right:1").then(|| "77".to_string());
        assert_eq!(
            written(&x.resolve(&known).unwrap(), "primary_company"),
            "77"
        );
        assert_eq!(x.resolve(&|_| None).unwrap_err(), "new:companies:right:1");
        // Planned alone, as `diff` did before, x would have been invalid.
        let alone = plan_pair(
            pairs[1],
            pair_snapshots(&snapshots, pairs[1]),
            &state,
            &PlannedLinks::default(),
        );
        let x_alone = alone.items.iter().find(|i| i.label() == "x@a.io").unwrap();
        assert_eq!(x_alone.action(), Action::Invalid);
    }

    #[test]
    fn a_plan_missing_the_create_a_reference_names_has_a_dangling_reference() {
        let config = config();
        let pairs: Vec<&PairConfig> = config.pairs.iter().collect();
        let (snapshots, state) = accounts(&config);
        let mut plan = plan(&config, &pairs, &snapshots, &state);
        plan.pairs[0].items.retain(|i| i.label() != "Acme");
        let dangling = plan.dangling_refs();
        assert_eq!(dangling.len(), 1, "{dangling:?}");
        assert!(dangling[0].contains("x@a.io"), "{dangling:?}");
        assert!(
            dangling[0].contains("new:companies:right:1"),
            "{dangling:?}"
        );
        // The order counts too: a reference to a later pair's create dangles.
        let mut plan = super::plan(&config, &pairs, &snapshots, &state);
        plan.pairs.reverse();
        assert_eq!(plan.dangling_refs().len(), 1);
    }

    #[test]
    fn a_record_an_earlier_pair_creates_is_copied_on_by_a_later_pair_under_its_reference() {
        // A hub: a.contacts ↔ b.contacts, then a.contacts ↔ c.contacts.
        let config = Config::from_str(
            r#"
[systems.a]
kind = "hubspot"
token_env = "A"
[systems.b]
kind = "hubspot"
token_env = "B"
[systems.c]
kind = "hubspot"
token_env = "C"
[[pairs]]
name = "ab"
left = "a.contacts"
right = "b.contacts"
match = "email"
[pairs.fields]
email = "email"
[[pairs]]
name = "ac"
left = "a.contacts"
right = "c.contacts"
match = "email"
[pairs.fields]
email = "email"
"#,
            Path::new("t.toml"),
        )
        .unwrap();
        let pairs: Vec<&PairConfig> = config.pairs.iter().collect();
        let snapshot = |system: &str, records| {
            Snapshot::new(
                system,
                ObjectKind::Contacts,
                vec!["email".into()],
                records,
                0,
            )
        };
        let snapshots = Snapshots::from([
            ("a.contacts".to_string(), snapshot("a", vec![])),
            (
                "b.contacts".to_string(),
                snapshot("b", vec![rec("7", &[("email", "new@b.io")])]),
            ),
            (
                "c.contacts".to_string(),
                snapshot("c", vec![rec("9", &[("email", "new@b.io")])]),
            ),
        ]);
        let plan = plan(&config, &pairs, &snapshots, &State::default());
        assert_eq!(item(&plan, 0, "new@b.io").action(), Action::Create);
        // ac links c's record to the one ab creates in a.
        let link = item(&plan, 1, "new@b.io");
        assert_eq!(link.action(), Action::Link);
        assert_eq!(link.id(Side::Left), Some("new:ab:left:7"));
        assert_eq!(link.id(Side::Right), Some("9"));
        let known = |r: &str| (r == "new:ab:left:7").then(|| "1001".to_string());
        assert_eq!(link.resolve(&known).unwrap().id(Side::Left), Some("1001"));
    }
}
