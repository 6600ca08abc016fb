//! The partners out of scope: before planning, the records on a scoped
//! side that the vendor's narrowed listing left out but that share a match
//! key with a record the pair would create there, read so the plan sees
//! them (and creates no second record, nor upserts onto them). Only the
//! connectors know how (`Connector::lookup`); this stage decides which keys
//! to ask for, adds what is found to the snapshots, and plans nothing.

use super::{Connectors, Snapshots};
use crate::config::PairConfig;
use crate::matcher::match_values;
use crate::model::Side;
use crate::snapshot::Snapshot;
use crate::state::State;
use anyhow::{Context, Result};
use std::collections::{BTreeSet, HashSet};

/// For each scoped side a pair can create into, the match keys of the
/// other side's unlinked records (in their own scope) that no record of
/// the scoped side's snapshot holds: the would-be creates. Those keys are
/// looked up in the account, unscoped, and the records found join the
/// snapshot as out of its listing (a saved filter does not hold them), so
/// planning sees them as partners out of scope. Nothing is asked where
/// there is no would-be create; a snapshot holds what it found until its
/// next full pull, so incremental runs ask only for new keys. Changed
/// snapshots are saved.
pub fn find_blockers(
    config: &crate::config::Config,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    snapshots: &mut Snapshots,
    state: &State,
) -> Result<()> {
    for pair in pairs {
        let Some(match_field) = pair.match_fields() else {
            continue;
        };
        for target in Side::BOTH {
            let Some(scope) = &pair.scope[target] else {
                continue;
            };
            if !pair.direction.writes(target) {
                continue;
            }
            let source = target.other();
            let endpoint = pair.endpoint(target).clone();
            let wanted = {
                let (Some(from), Some(into)) = (
                    snapshots.get(&pair.endpoint(source).to_string()),
                    snapshots.get(&endpoint.to_string()),
                ) else {
                    continue;
                };
                // A listing of the whole object (no condition went to the
                // vendor) holds every key already: the records out of
                // scope among it are the blockers.
                if into.selected.is_none() {
                    continue;
                }
                would_be_creates(pair, source, from, into, state)
            };
            if wanted.is_empty() {
                continue;
            }
            let snapshot = snapshots
                .get_mut(&endpoint.to_string())
                .expect("the snapshot read above");
            // Fields the account lacks yet (a property still to create)
            // cannot be read.
            let fields: Vec<String> = snapshot
                .fields
                .iter()
                .filter(|f| !matches!(snapshot.properties.get(*f), Some(None)))
                .cloned()
                .collect();
            let values: Vec<String> = wanted.iter().cloned().collect();
            let found = connectors[&endpoint.system]
                .lookup(endpoint.object, &fields, &match_field[target], &values)
                .with_context(|| {
                    format!("looking up records out of the scope of {endpoint} by their keys")
                })?;
            let held: HashSet<String> = snapshot.records.iter().map(|r| r.id.clone()).collect();
            let mut added = 0;
            for record in found {
                if held.contains(&record.id)
                    || !match_values(pair, &record, target)
                        .iter()
                        .any(|k| wanted.contains(k))
                {
                    continue;
                }
                // Not in the listing narrowed to the scopes: outside a
                // saved filter, whatever its fields say.
                if scope.saved_filter.is_some() {
                    snapshot.unselected.insert(record.id.clone());
                }
                snapshot.records.push(record);
                added += 1;
            }
            log::info!(
                "looked up {} key(s) out of the scope of {endpoint}: {added} record(s) found",
                values.len()
            );
            if added > 0 {
                snapshot.save(&Snapshot::path(&config.state_dir, &endpoint))?;
            }
        }
    }
    Ok(())
}

/// The match keys of `source`'s unlinked records in the pair's scope there
/// that no record of `target` holds. Pure.
fn would_be_creates(
    pair: &PairConfig,
    source: Side,
    from: &Snapshot,
    into: &Snapshot,
    state: &State,
) -> BTreeSet<String> {
    let target = source.other();
    let links = state.pair(&pair.name);
    let held: HashSet<String> = into
        .records
        .iter()
        .flat_map(|r| match_values(pair, r, target))
        .collect();
    from.records
        .iter()
        .filter(|r| links.is_none_or(|l| l.by(source, &r.id).is_none()))
        .filter(|r| {
            pair.scope[source]
                .as_ref()
                .is_none_or(|s| s.holds(r, &from.unselected))
        })
        .flat_map(|r| match_values(pair, r, source))
        .filter(|k| !held.contains(k))
        .collect()
}
