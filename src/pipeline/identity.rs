//! Identity settled before planning: linked records a full listing no
//! longer holds are looked up by id (a merged id names its survivor) or
//! found by the match value their survivor took since the full pull before
//! (confirmed), or through the relations that moved to the survivor (only
//! inferred: a delete after a move leaves that too), and merges whose
//! answer was lost are looked up rather than sent again. It edits the
//! snapshots and the pending merges of the state; it plans nothing.

use super::{Connectors, Snapshots};
use crate::config::{Config, PairConfig, ValueMap};
use crate::model::{Record, Side, set_members};
use crate::snapshot::Snapshot;
use crate::state::State;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};

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
            // A listing narrowed to the pairs' scopes leaves out the linked
            // records that left them: those still there are read back and
            // kept (outside the narrowed listing), so they are not taken for
            // deleted.
            let vanished = if snapshot.selected.is_some() && !vanished.is_empty() {
                let mut back = Vec::new();
                for chunk in vanished.chunks(connector.capabilities().max_batch.max(1)) {
                    back.extend(
                        connector
                            .read(endpoint.object, chunk, &fields)
                            .with_context(|| {
                                format!(
                                    "reading back linked records outside the scope of {endpoint}"
                                )
                            })?
                            .into_iter()
                            .filter(|r| chunk.contains(&r.id)),
                    );
                }
                let kept: std::collections::HashSet<String> =
                    back.iter().map(|r| r.id.clone()).collect();
                if !back.is_empty() {
                    let snapshot = snapshots
                        .get_mut(&endpoint.to_string())
                        .expect("the snapshot read above");
                    snapshot.unselected.extend(kept.iter().cloned());
                    snapshot.records.extend(back);
                    snapshot.save(&Snapshot::path(&config.state_dir, endpoint))?;
                }
                let rest: Vec<String> = vanished
                    .into_iter()
                    .filter(|id| !kept.contains(id))
                    .collect();
                if pending.is_empty() && rest.is_empty() {
                    continue;
                }
                rest
            } else {
                vanished
            };
            let snapshot = &snapshots[&endpoint.to_string()];
            // (old id, the record it went into, whether a vendor said so).
            let mut found: Vec<(String, Record, bool)> = Vec::new();
            for chunk in vanished.chunks(connector.capabilities().max_batch.max(1)) {
                found.extend(
                    connector
                        .resolve_merged(endpoint.object, chunk, &fields)
                        .with_context(|| format!("looking up records gone from {endpoint}"))?
                        .into_iter()
                        .map(|(old, into)| (old, into, true)),
                );
            }
            let unresolved: Vec<&String> = vanished
                .iter()
                .filter(|id| !found.iter().any(|(old, ..)| old == *id))
                .collect();
            if !unresolved.is_empty() {
                // A value the vanished record held, taken by one record
                // since: the merge's own footprint, kept as confirmed so
                // later runs know it when the footprint is old.
                let wanted: std::collections::HashSet<&str> =
                    unresolved.iter().map(|id| id.as_str()).collect();
                let gone: Vec<(&crate::state::Link, &str)> = links
                    .links()
                    .filter(|l| wanted.contains(l.id(side)))
                    .map(|l| (l, l.id(side)))
                    .collect();
                let taken =
                    crate::matcher::merged_by_gained_value(pair, side, &snapshot.records, &gone);
                found.extend(taken.into_iter().filter_map(|(old, into)| {
                    let survivor = snapshot.records.iter().find(|r| r.id == into)?;
                    Some((old, survivor.clone(), true))
                }));
            }
            let unresolved: Vec<&String> = vanished
                .iter()
                .filter(|id| !found.iter().any(|(old, ..)| old == *id))
                .collect();
            if !unresolved.is_empty() {
                let moved = merged_by_relations(config, pair, side, &unresolved, snapshots, state);
                found.extend(moved.into_iter().filter_map(|(old, into)| {
                    let survivor = snapshot.records.iter().find(|r| r.id == into)?;
                    // Persons moved and their organization deleted leave
                    // the same trace: a merge inferred, never confirmed.
                    Some((old, survivor.clone(), false))
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
                                .map(|r| (id.clone(), r.clone(), true)),
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
            for (old, survivor, confirmed) in found {
                if confirmed {
                    log::info!("{endpoint} {old} was merged into {}", survivor.id);
                } else {
                    log::info!(
                        "{endpoint} {old} looks merged into {} (its related records moved there; not confirmed)",
                        survivor.id
                    );
                }
                let at = match snapshot.records.iter().position(|r| r.id == survivor.id) {
                    Some(at) => at,
                    None => {
                        snapshot.records.push(survivor);
                        snapshot.records.len() - 1
                    }
                };
                let record = &mut snapshot.records[at];
                let mut identity = record.identity.take().map(|i| *i).unwrap_or_default();
                identity.add_merged(&old, confirmed);
                record.set_identity(identity);
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
    let ids = |value: &str| -> Vec<String> { set_members(value).map(str::to_string).collect() };
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
