//! Unlinked records paired by their match keys: every value of the match
//! field a record is known by (a primary and secondary emails), records held
//! together only by different values reported and never paired by a guess,
//! duplicates kept apart; then each fallback key (`match = ["domain",
//! "name"]`) pairs what is left. It never touches links.

use super::{Pairing, unmarked};
use crate::config::{FieldMap, PairConfig};
use crate::model::{Duplicate, MatchKey, Record, Side};
use std::collections::{BTreeMap, HashMap};

/// Every value of the pair's (first) match field `record` of `side` is
/// known by, as the matcher compares them (trimmed, lowercased), sorted;
/// none without a match field.
pub fn match_values(pair: &PairConfig, record: &Record, side: Side) -> Vec<String> {
    match pair.match_fields() {
        Some(field) => keys_on(&field, &pair.match_key(), record, side),
        None => Vec::new(),
    }
}

fn keys_on(field: &FieldMap, key: &MatchKey, record: &Record, side: Side) -> Vec<String> {
    let mut keys: Vec<String> = record
        .values_of(&field[side])
        .map(|v| key.of(v))
        .filter(|k| !k.is_empty())
        .collect();
    if keys.len() > 1 {
        keys.sort();
        keys.dedup();
    }
    keys
}

/// Pairs unlinked records by every value of the match field they are known
/// by (a primary and any secondary emails): records sharing any of them
/// are one group. A group whose records all share one value pairs as one
/// match value does: the oldest record of each side is kept, the rest are
/// duplicates, and a value only one side has that a linked pair carries
/// makes the group duplicates of that pair. A group held together by
/// different values (a record known by two records of the other side) is
/// never guessed at: nothing in it is paired or created, and it is
/// reported.
pub(super) fn match_unlinked<'a>(
    pair: &PairConfig,
    unlinked_left: Vec<&'a Record>,
    unlinked_right: Vec<&'a Record>,
    pairing: &mut Pairing<'a>,
) {
    let match_field = pair.match_fields().expect("called with a match field");
    let match_key = pair.match_key();
    let keys_of = |r: &Record, side: Side| keys_on(&match_field, &match_key, r, side);
    // Keys already taken by a linked pair: an unlinked record carrying one
    // is a duplicate of that pair, not a new record. A pair found through
    // the create journal is one too (its link is only being recorded): a
    // run killed after the create of the oldest of two duplicates was sent
    // must not create the other on the next run.
    // Any key of a linked pair's records → the pair's (left id, right id).
    let mut linked_keys: HashMap<String, (&'a str, &'a str)> = HashMap::new();
    let anything_unlinked = !unlinked_left.is_empty() || !unlinked_right.is_empty();
    let linked = pairing.linked.iter().map(|(l, r, _)| (*l, *r));
    let recovered = pairing.recovered.iter().map(|(l, r, _)| (*l, *r));
    for (l, r) in linked.chain(recovered).filter(|_| anything_unlinked) {
        for key in keys_of(l, Side::Left)
            .into_iter()
            .chain(keys_of(r, Side::Right))
        {
            linked_keys
                .entry(key)
                .or_insert((l.id.as_str(), r.id.as_str()));
        }
    }
    // Every unlinked record, left then right, with its keys; records
    // sharing a key are joined into one group (union-find).
    let members: Vec<(Side, &'a Record, Vec<String>)> = unlinked_left
        .into_iter()
        .map(|r| (Side::Left, r))
        .chain(unlinked_right.into_iter().map(|r| (Side::Right, r)))
        .map(|(side, r)| (side, r, keys_of(r, side)))
        .collect();
    let mut parent: Vec<usize> = (0..members.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_holder: HashMap<&str, usize> = HashMap::with_capacity(members.len());
    for (i, (_, _, keys)) in members.iter().enumerate() {
        for key in keys {
            match first_holder.get(key.as_str()) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    first_holder.insert(key, i);
                }
            }
        }
    }
    drop(first_holder);
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (side, record, keys)) in members.iter().enumerate() {
        if keys.is_empty() {
            match side {
                Side::Left => pairing.left_only.push(record),
                Side::Right => pairing.right_only.push(record),
            }
            continue;
        }
        groups.entry(root(&mut parent, i)).or_default().push(i);
    }
    // A group's key: the one value all its records share (the smallest),
    // else all of them joined (a group no value holds together).
    let mut keyed: Vec<(String, bool, Vec<usize>)> = groups
        .into_values()
        .map(|group| {
            let first = &members[group[0]].2;
            let common = first
                .iter()
                .find(|k| group.iter().all(|&i| members[i].2.contains(k)));
            match common {
                Some(key) => (key.clone(), true, group),
                None => {
                    let mut all: Vec<&str> = group
                        .iter()
                        .flat_map(|&i| members[i].2.iter().map(String::as_str))
                        .collect();
                    all.sort_unstable();
                    all.dedup();
                    (all.join(", "), false, group)
                }
            }
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, whole, group) in keyed {
        let of_side = |side: Side| -> Vec<&'a Record> {
            group
                .iter()
                .filter(|&&i| members[i].0 == side)
                .map(|&i| members[i].1)
                .collect()
        };
        let (lefts, rights) = (of_side(Side::Left), of_side(Side::Right));
        if !whole {
            for (side, records) in [(Side::Left, &lefts), (Side::Right, &rights)] {
                if let Some((kept, extra)) = records.split_first().filter(|(_, e)| !e.is_empty()) {
                    pairing.duplicates.push(Duplicate {
                        side,
                        key: key.clone(),
                        kept: kept.id.clone(),
                        extra: extra.iter().map(|r| r.id.clone()).collect(),
                    });
                }
            }
            pairing
                .ambiguous
                .extend(lefts.iter().chain(&rights).copied());
            continue;
        }
        // With records on both sides the key pairs them; a key on one side
        // only that a linked pair already carries marks duplicates of the
        // linked record on that side.
        let taken = if lefts.is_empty() || rights.is_empty() {
            group
                .iter()
                .flat_map(|&i| &members[i].2)
                .find_map(|k| linked_keys.get(k).copied())
        } else {
            None
        };
        let kept =
            |records: &[&'a Record], side: Side, pairing: &mut Pairing<'a>| -> Option<&'a Record> {
                let (first, rest) = records.split_first()?;
                let (kept, kept_id, extra) = match taken {
                    Some((l, r)) => (None, if side == Side::Left { l } else { r }, records),
                    None => (Some(*first), first.id.as_str(), rest),
                };
                if !extra.is_empty() {
                    pairing.duplicates.push(Duplicate {
                        side,
                        key: key.clone(),
                        kept: kept_id.to_string(),
                        extra: extra.iter().map(|r| r.id.clone()).collect(),
                    });
                }
                kept
            };
        let l = kept(&lefts, Side::Left, pairing);
        let r = kept(&rights, Side::Right, pairing);
        match (l, r) {
            (Some(l), Some(r)) => pairing.matched.push((l, r)),
            (Some(l), None) => pairing.left_only.push(l),
            (None, Some(r)) => pairing.right_only.push(r),
            (None, None) => {}
        }
    }
}

/// Pairs the records no earlier key paired on one more key (`match =
/// ["domain", "name"]`): a left and a right record holding the same value
/// of it are paired unless both hold some earlier key, which then decided
/// (they differ in it: two companies of one name and two domains are two
/// companies). Records sharing a value on one side are not duplicates here
/// (a name is not an identity): each is paired at most once, in id order,
/// and the rest stay unpaired.
pub(super) fn pair_by_fallback<'a>(
    pairing: &mut Pairing<'a>,
    earlier: &[(FieldMap, MatchKey)],
    (field, key): &(FieldMap, MatchKey),
) {
    let holds =
        |r: &Record, side: Side, (f, k): &(FieldMap, MatchKey)| !k.of(r.get(&f[side])).is_empty();
    let sides = [&pairing.left_only, &pairing.right_only];
    let mut groups: BTreeMap<String, [Vec<usize>; 2]> = BTreeMap::new();
    for (slot, side) in [Side::Left, Side::Right].into_iter().enumerate() {
        for (i, r) in sides[slot].iter().enumerate() {
            let value = key.of(r.get(&field[side]));
            if !value.is_empty() {
                groups.entry(value).or_default()[slot].push(i);
            }
        }
    }
    let mut taken = [
        vec![false; pairing.left_only.len()],
        vec![false; pairing.right_only.len()],
    ];
    for [lefts, rights] in groups.into_values() {
        for l in lefts {
            let left = pairing.left_only[l];
            let partner = rights.iter().copied().find(|&r| {
                let right = pairing.right_only[r];
                !taken[1][r]
                    && !earlier
                        .iter()
                        .any(|k| holds(left, Side::Left, k) && holds(right, Side::Right, k))
            });
            if let Some(r) = partner {
                taken[0][l] = true;
                taken[1][r] = true;
                pairing.matched.push((left, pairing.right_only[r]));
            }
        }
    }
    pairing.left_only = unmarked(pairing.left_only.iter().copied(), &taken[0]);
    pairing.right_only = unmarked(pairing.right_only.iter().copied(), &taken[1]);
}
