//! The pull stage: every account object the pairs name, pulled once (all
//! concurrently) into a snapshot, incrementally or in full, with the owners
//! and labels the value maps need; and the saved snapshots loaded again
//! for an offline diff. It plans nothing and writes to no CRM.

use super::{Connectors, Snapshots, account_objects, object_fields, sides_on};
use crate::config::{Config, Endpoint, PairConfig};
use crate::model::{Owner, Side};
use crate::progress::Progress;
use crate::snapshot::Snapshot;
use crate::state::State;
use anyhow::Result;
use std::collections::BTreeMap;
use std::sync::Mutex;

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
    let owners = OwnersCache::default();
    let objects = account_objects(pairs);
    let pulled: Vec<Result<Snapshot>> = std::thread::scope(|s| {
        let threads: Vec<_> = objects
            .iter()
            .map(|object| {
                s.spawn(|| pull_object(config, connectors, progress, object, full, &owners))
            })
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
    forget_pair_snapshots(config, pairs)?;
    Ok(snapshots)
}

/// Snapshots per pair, from before snapshots per account object: the
/// objects just pulled replace them.
pub(super) fn forget_pair_snapshots(config: &Config, pairs: &[&PairConfig]) -> Result<()> {
    crate::state::legacy::remove_pair_snapshots(
        &config.state_dir,
        pairs.iter().map(|p| p.name.as_str()),
    )
}

/// The owners of each system, fetched at most once per run whichever
/// thread asks first.
#[derive(Default)]
pub(super) struct OwnersCache(Mutex<BTreeMap<String, Vec<Owner>>>);

impl OwnersCache {
    fn of(&self, connectors: &Connectors, system: &str) -> Result<Vec<Owner>> {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = cache.get(system) {
            return Ok(o.clone());
        }
        let fetched = connectors[system].owners()?;
        cache.insert(system.to_string(), fetched.clone());
        Ok(fetched)
    }
}

/// The last snapshot of `object`, if one was saved under this mapping (one
/// taken under another does not load), and whether this run pulls the
/// object in full: with no usable snapshot, with `full`, when the scopes
/// the listing is narrowed to changed, or when `full_pull_every` says so
/// (so many runs, or a last full pull so old). `selected` is what
/// `narrowed_to` gives for this run.
pub(super) fn previous_snapshot(
    config: &Config,
    object: &Endpoint,
    full: bool,
    started_ms: i64,
    selected: &Option<String>,
) -> (Option<Snapshot>, bool) {
    let fields = object_fields(config, object);
    let path = Snapshot::path(&config.state_dir, object);
    let previous = Snapshot::load(&path, &object.system, object.object, &fields).ok();
    let in_full = match &previous {
        Some(previous) => {
            full || previous.selected != *selected
                || config.full_pull_every.is_due(
                    previous.incremental_runs,
                    previous.last_full_ms(),
                    started_ms,
                )
        }
        None => true,
    };
    (previous, in_full)
}

/// A full listing of `object` made into its snapshot: the merges and
/// gained values the snapshot before it recorded are carried over.
pub(super) fn full_snapshot(
    object: &Endpoint,
    fields: Vec<String>,
    records: Vec<crate::model::Record>,
    started_ms: i64,
    previous: Option<&Snapshot>,
) -> Snapshot {
    let mut fresh = Snapshot::new(&object.system, object.object, fields, records, started_ms);
    if let Some(previous) = previous {
        fresh.keep_merges_of(previous);
        fresh.note_gains_since(previous);
    }
    fresh
}

/// Pulls one account object into its snapshot (see `pull`), with the
/// owners and labels its pairs' value maps need and the property
/// definitions its schema-creating pairs need, and saves it.
/// The fingerprint of the scopes `object`'s full listing is narrowed to at
/// the vendor, or `None` where the listing is the whole object (no scopes,
/// or conditions the vendor's list cannot take, checked after the read):
/// such a listing holds every record, so it counts the whole and infers
/// deletes as an unscoped one does.
fn narrowed_to(
    connector: &dyn crate::connector::Connector,
    object: &Endpoint,
    selection: Option<&[&crate::scope::Scope]>,
) -> Option<String> {
    selection
        .filter(|scopes| connector.narrows(object.object, scopes))
        .map(crate::scope::fingerprint)
}

pub(super) fn pull_object(
    config: &Config,
    connectors: &Connectors,
    progress: &Progress,
    object: &Endpoint,
    full: bool,
    owners: &OwnersCache,
) -> Result<Snapshot> {
    let fields = object_fields(config, object);
    let connector = &connectors[&object.system];
    // Pairs that create schema need the definitions of their fields;
    // a field the account lacks yet is not asked for.
    let described: Vec<String> = {
        let names: std::collections::BTreeSet<String> = sides_on(config, object)
            .flat_map(|(pair, side)| crate::schema::fields_to_describe(pair, side))
            .collect();
        names.into_iter().collect()
    };
    let properties: BTreeMap<String, Option<crate::connector::PropertySpec>> =
        if described.is_empty() {
            BTreeMap::new()
        } else {
            described
                .iter()
                .cloned()
                .zip(connector.properties(object.object, &described)?)
                .collect()
        };
    let lacks = |field: &String| matches!(properties.get(field), Some(None));
    let listed: Vec<String> = fields.iter().filter(|f| !lacks(f)).cloned().collect();
    let started_ms = crate::timestamp::now_ms();
    // Every pair reading the object is scoped: the vendor narrows the
    // full listing to their scopes where it can.
    let selection = crate::scope::selection(config, object);
    let selected = narrowed_to(connector.as_ref(), object, selection.as_deref());
    let (previous, in_full) = previous_snapshot(config, object, full, started_ms, &selected);
    let bar = progress.bar(&object.to_string(), None);
    let advance = |listed: crate::connector::Listed| {
        crate::progress::advance(&bar, listed.done, listed.total)
    };
    let mut snapshot = match previous {
        Some(mut previous) if !in_full => {
            let since = previous.watermark_ms() - connector.capabilities().lookback_ms;
            let changed = connector.list_changed(object.object, &listed, since, &advance)?;
            log::info!(
                "pulled {} from {object}",
                crate::plan::counted(changed.len() as u64, "changed record", "changed records")
            );
            // The changes are read unnarrowed, so a record that left a
            // scope is seen; which of them a saved filter still holds
            // only the vendor can say.
            let saved_filter = selection
                .as_deref()
                .filter(|scopes| scopes.iter().any(|s| s.saved_filter.is_some()));
            if let (Some(scopes), false) = (saved_filter, changed.is_empty()) {
                let members: std::collections::HashSet<String> = connector
                    .list_selected(object.object, &listed, scopes, Some(since), &|_| {})?
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                for record in &changed {
                    if members.contains(&record.id) {
                        previous.unselected.remove(&record.id);
                    } else {
                        previous.unselected.insert(record.id.clone());
                    }
                }
            }
            previous.merge_changes(changed, started_ms);
            previous
        }
        previous => {
            let records = match &selection {
                Some(scopes) => {
                    connector.list_selected(object.object, &listed, scopes, None, &advance)?
                }
                None => connector.list(object.object, &listed, &advance)?,
            };
            log::info!(
                "pulled {} from {object}",
                crate::plan::counted(records.len() as u64, "record", "records")
            );
            let mut fresh = full_snapshot(object, fields, records, started_ms, previous.as_ref());
            fresh.selected = selected;
            fresh
        }
    };
    progress.finish(&bar);
    fill_metadata(
        config,
        connectors,
        object,
        &mut snapshot,
        owners,
        &properties,
    )?;
    snapshot.properties = properties;
    snapshot.save(&Snapshot::path(&config.state_dir, object))?;
    Ok(snapshot)
}

/// The owners and option labels the value maps of `object`'s pairs need:
/// fetched on full pulls, or where the snapshot has none yet; none for a
/// field the account lacks (a property a pair is still to create), and a
/// property's options as its definition read this run (`properties`)
/// gives them.
pub(super) fn fill_metadata(
    config: &Config,
    connectors: &Connectors,
    object: &Endpoint,
    snapshot: &mut Snapshot,
    owners: &OwnersCache,
    properties: &BTreeMap<String, Option<crate::connector::PropertySpec>>,
) -> Result<()> {
    let lacks = |field: &String| matches!(properties.get(field), Some(None));
    let sides: Vec<(&PairConfig, Side)> = sides_on(config, object).collect();
    if sides.iter().any(|(pair, _)| pair.uses_owners())
        && (snapshot.complete || snapshot.owners.is_empty())
    {
        snapshot.owners = owners.of(connectors, &object.system)?;
    }
    for (pair, side) in sides {
        for map in pair.label_fields() {
            let field = &map[side];
            // A custom property's definition, read this run, holds its
            // options as they are now (an incremental pull keeps the
            // labels of the last full one otherwise).
            let defined = properties
                .get(field)
                .and_then(Option::as_ref)
                .filter(|spec| spec.not_copyable.is_none() && spec.kind.has_options());
            if lacks(field) {
                snapshot.labels.remove(field);
            } else if let Some(spec) = defined {
                let options = spec.options.iter();
                let labels = options.map(|o| (o.value.clone(), o.label.clone()));
                snapshot.labels.insert(field.clone(), labels.collect());
            } else if snapshot.complete || !snapshot.labels.contains_key(field) {
                let options = connectors[&object.system].labels(object.object, field)?;
                snapshot.labels.insert(field.clone(), options);
            }
        }
    }
    Ok(())
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
