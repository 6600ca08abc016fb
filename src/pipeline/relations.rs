//! Relation values in the snapshots a run plans on: which fields hold
//! records of a pair (through `link:PAIR`), and a deleted or merged record
//! taken out of them (or replaced by its survivor), as the vendors do on
//! their side. It edits snapshots in memory only.

use crate::config::{Config, PairConfig, ValueMap};
use crate::model::{Side, join_set, set_field, set_members};
use crate::snapshot::Snapshot;

/// A record this run deletes is gone from the relations that held it: the
/// vendors unlink (Pipedrive) or stop listing (HubSpot) associations to a
/// deleted record themselves, but the snapshots the later pairs plan on
/// were pulled before. Returns the relation fields translated through
/// `pair` (`link:PAIR`) that hold records of its `side`, each as the
/// account object whose snapshot holds it and that object's field name.
pub(super) fn relations_through(
    config: &Config,
    pair: &PairConfig,
    side: Side,
) -> Vec<(String, String)> {
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
pub(super) fn forget_in(snapshot: &mut Snapshot, field: &str, id: &str) -> bool {
    replace_in(snapshot, field, id, None)
}

/// Removes `id` from `field` of every record of `snapshot`, putting `into`
/// in its place where given (a record merged into another: the vendors
/// move its relations to the result); returns true if any record held it.
pub(super) fn replace_in(
    snapshot: &mut Snapshot,
    field: &str,
    id: &str,
    into: Option<&str>,
) -> bool {
    let mut any = false;
    for record in &mut snapshot.records {
        let value = record.get(field);
        if !set_members(value).any(|held| held == id) {
            continue;
        }
        let mut kept: Vec<&str> = set_members(value).filter(|held| *held != id).collect();
        if let Some(into) = into
            && !kept.contains(&into)
        {
            kept.push(into);
            kept.sort_by(|a, b| crate::model::id_order(a, b));
        }
        let kept = join_set(&kept);
        set_field(&mut record.fields, field, &kept);
        any = true;
    }
    any
}
