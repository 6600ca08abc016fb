//! Creates whose answer was lost: a journaled create's source is paired
//! with the unlinked target record holding exactly the values sent, through
//! a hash of those values, so it is never created twice. It reads the
//! journal; it does not settle it.

use super::positions;
use crate::config::PairConfig;
use crate::model::{Fnv, Record, Side, comparable_value, values_equivalent};
use crate::state::{PairState, PendingCreate};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hasher;

/// Hash of some fields' comparable values → positions of the records
/// holding them.
type ValueIndex = HashMap<u64, Vec<usize>>;

/// What the record a pending create made must hold, as (fields, value):
/// each field sent with a value, in name order, then each group of fields
/// the target's vendor stores as one value and splits again its own way
/// (`WriteRules::joined`: Pipedrive's first and last name) as one value,
/// the group's values joined by spaces. Relations are left out.
fn sent_values<'p>(
    pair: &PairConfig,
    joined: &'p [Vec<String>],
    pending: &'p PendingCreate,
) -> Vec<(Vec<&'p str>, String)> {
    let grouped = |field: &str| joined.iter().flatten().any(|g| g == field);
    let mut sent: Vec<(Vec<&str>, String)> = pending
        .fields
        .iter()
        .filter(|(field, value)| !value.is_empty() && !pair.is_relation(field) && !grouped(field))
        .map(|(field, value)| (vec![field], value.to_string()))
        .collect();
    for group in joined {
        let value = joined_value(
            group
                .iter()
                .map(|f| pending.fields.get(f).unwrap_or_default()),
        );
        if !value.is_empty() {
            sent.push((group.iter().map(String::as_str).collect(), value));
        }
    }
    sent
}

/// Values trimmed and joined by single spaces, empty ones left out.
fn joined_value<'v>(values: impl Iterator<Item = &'v str>) -> String {
    values
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The (left, right) positions in the unlinked lists of every pending create
/// whose source is still unlinked and whose target holds exactly the values
/// sent, with that create. Relation fields are left out of the comparison: a
/// create's associations are written after it, so a lost answer may leave
/// them unmade.
pub(super) fn recover_lost_creates<'s, 'r>(
    pair: &PairConfig,
    state: &'s PairState,
    unlinked_left: &[&'r Record],
    unlinked_right: &[&'r Record],
) -> Vec<(usize, usize, &'s PendingCreate)> {
    let sides = [unlinked_left, unlinked_right];
    let at = [
        positions(unlinked_left.iter().copied()),
        positions(unlinked_right.iter().copied()),
    ];
    let slot = |side: Side| usize::from(side == Side::Right);
    let key_of = |values: &mut dyn Iterator<Item = &str>| -> u64 {
        let mut hasher = Fnv::default();
        for value in values {
            hasher.write(comparable_value(value).as_bytes());
            hasher.write_u8(0);
        }
        hasher.finish()
    };
    // One index per target side and set of field names sent (a pair's
    // creates send a handful of distinct sets): hash of those fields'
    // values → the unlinked targets holding them.
    let mut indexes: HashMap<(usize, Vec<Vec<&str>>), ValueIndex> = HashMap::new();
    let mut taken = [
        vec![false; unlinked_left.len()],
        vec![false; unlinked_right.len()],
    ];
    let joined = [Side::Left, Side::Right].map(|side| {
        let endpoint = pair.endpoint(side);
        endpoint.kind.write_rules(endpoint.object).joined
    });
    // A single field is read in place: a million unlinked records are indexed.
    let held = |record: &'r Record, fields: &[&str]| -> Cow<'r, str> {
        match fields {
            [field] => Cow::Borrowed(record.get(field)),
            _ => Cow::Owned(joined_value(fields.iter().map(|f| record.get(f)))),
        }
    };
    let mut found = Vec::new();
    for pending in state.pending() {
        let (source_side, target_side) = (slot(pending.target.other()), slot(pending.target));
        let Some(&source) = at[source_side].get(pending.source.as_str()) else {
            continue;
        };
        let sent = sent_values(pair, &joined[target_side], pending);
        if taken[source_side][source] || sent.is_empty() {
            continue;
        }
        let names: Vec<Vec<&str>> = sent.iter().map(|(f, _)| f.clone()).collect();
        let index = indexes
            .entry((target_side, names.clone()))
            .or_insert_with(|| {
                let mut index = ValueIndex::new();
                for (t, target) in sides[target_side].iter().enumerate() {
                    let values: Vec<Cow<str>> = names.iter().map(|f| held(target, f)).collect();
                    let key = key_of(&mut values.iter().map(|v| v.as_ref()));
                    index.entry(key).or_default().push(t);
                }
                index
            });
        let candidates = index.get(&key_of(&mut sent.iter().map(|(_, v)| v.as_str())));
        let made = candidates.into_iter().flatten().copied().find(|&t| {
            !taken[target_side][t]
                && sent
                    .iter()
                    .all(|(f, v)| values_equivalent(&held(sides[target_side][t], f), v))
        });
        if let Some(target) = made {
            taken[source_side][source] = true;
            taken[target_side][target] = true;
            found.push(match pending.target {
                Side::Right => (source, target, pending),
                Side::Left => (target, source, pending),
            });
        }
    }
    found
}
