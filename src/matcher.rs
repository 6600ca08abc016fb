//! Pairs the records of two snapshots: links first, then the match key,
//! into a deterministic split (rclone's march, in memory).
//!
//! Linked records are paired by id whatever their fields say, so editing an
//! email never breaks a link. A linked record merged into another (it is
//! named by a live record's merged ids, or a vanished record's match value
//! now sits on exactly one other record) is followed: its link moves to the
//! merge's result, or is spent, or its partner becomes a second partner of
//! a record another link holds; it is never gone. Unlinked records are
//! paired by every value of the match key they hold (a secondary email as
//! much as the primary; trimmed, lowercased); records held together only by
//! different values are reported, never paired by a guess. Several records sharing a key on one side are
//! duplicates: the oldest (lowest id) is paired, the others are reported and
//! left alone; they are never merged, and never created on the other side,
//! where they would collide with the record already paired. A source whose
//! create was journaled but never confirmed is paired with the target record
//! holding exactly the values sent, instead of being created again. Then,
//! with `match = ["domain", "name"]`, each further key pairs what is left
//! where the keys before it are missing on one side. Pure.

use crate::config::{FieldMap, PairConfig};
use crate::model::{
    Duplicate, Fnv, IdMap, MatchKey, Record, Side, Sided, comparable_value, id_order,
    values_equivalent,
};
use crate::state::{Link, PairState, PendingCreate};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;

/// A link whose record disappeared from one side (or both).
#[derive(Debug)]
pub struct Gone<'a> {
    pub link: &'a Link,
    pub left: Option<&'a Record>,
    pub right: Option<&'a Record>,
    /// The record still there is the result of a merge (of the link's
    /// record or another): whatever became of the other, it is not deleted.
    pub merged: bool,
}

/// The split of one pair's records.
#[derive(Debug, Default)]
pub struct Pairing<'a> {
    /// Already linked, both present.
    pub linked: Vec<(&'a Record, &'a Record, &'a Link)>,
    /// Newly paired by the match key.
    pub matched: Vec<(&'a Record, &'a Record)>,
    /// Found as the record a journaled create made, its answer lost: the
    /// source, the target, and the create as it was sent.
    pub recovered: Vec<(&'a Record, &'a Record, &'a PendingCreate)>,
    pub left_only: Vec<&'a Record>,
    pub right_only: Vec<&'a Record>,
    /// Links whose record is missing on at least one side, with the record
    /// that is still there, if any.
    pub gone: Vec<Gone<'a>>,
    /// Links touched by a merge on either side.
    pub merges: Vec<Merge<'a>>,
    pub duplicates: Vec<Duplicate>,
    /// Unlinked records known by values that pair them with more than one
    /// record (reported among `duplicates`): neither paired nor created.
    pub ambiguous: Vec<&'a Record>,
}

/// Record id → position in `records`.
fn positions<'a>(records: impl ExactSizeIterator<Item = &'a Record>) -> IdMap<&'a str, usize> {
    let mut by_id = IdMap::with_capacity_and_hasher(records.len(), Default::default());
    by_id.extend(records.enumerate().map(|(i, r)| (r.id.as_str(), i)));
    by_id
}

/// The records whose mark is false, in order.
fn unmarked<'a>(records: impl IntoIterator<Item = &'a Record>, marks: &[bool]) -> Vec<&'a Record> {
    records
        .into_iter()
        .zip(marks)
        .filter(|(_, marked)| !**marked)
        .map(|(r, _)| r)
        .collect()
}

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
fn recover_lost_creates<'s, 'r>(
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
        crate::connector::write_rules(endpoint.kind, endpoint.object).joined
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

/// Where a linked id stands in its side's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Listed under its own id.
    Live(usize),
    /// Merged into the record at this position.
    Merged(usize),
    /// Neither: gone, as far as the records tell.
    Missing,
}

impl Found {
    fn position(self) -> Option<usize> {
        match self {
            Found::Live(i) | Found::Merged(i) => Some(i),
            Found::Missing => None,
        }
    }
}

/// One side's records as the matcher looks them up: by id, and (for the
/// few records that name ids merged into them) by those merged ids.
struct SideIndex<'a> {
    records: &'a [Record],
    by_id: IdMap<&'a str, usize>,
    /// Merged id → the position of the live record it went into (chains of
    /// merges followed).
    merged_into: IdMap<&'a str, usize>,
}

impl<'a> SideIndex<'a> {
    fn new(records: &'a [Record]) -> SideIndex<'a> {
        let mut merged_into = IdMap::default();
        for (i, r) in records.iter().enumerate() {
            if r.identity.is_some() {
                merged_into.extend(r.merged_from().iter().map(|id| (id.as_str(), i)));
            }
        }
        SideIndex {
            records,
            by_id: positions(records.iter()),
            merged_into,
        }
    }

    /// The live record `id` now is part of, if it was merged into one.
    fn survivor(&self, id: &str) -> Option<usize> {
        // Nearly always no record names a merge: a million links are
        // looked up without hashing anything twice.
        if self.merged_into.is_empty() {
            return None;
        }
        let mut at = *self.merged_into.get(id)?;
        // A record merged again lists its merged ids on the next result;
        // a few steps reach the live one whatever the vendor lists.
        for _ in 0..8 {
            match self.merged_into.get(self.records[at].id.as_str()) {
                Some(&next) if next != at => at = next,
                _ => break,
            }
        }
        (self.records[at].id != id).then_some(at)
    }

    fn find(&self, id: &str) -> Found {
        match (self.survivor(id), self.by_id.get(id)) {
            (Some(at), _) => Found::Merged(at),
            (None, Some(&at)) => Found::Live(at),
            (None, None) => Found::Missing,
        }
    }

    /// Returns true if and only if the record at `at` was merged into
    /// another (an incremental snapshot may still list it).
    fn merged_away(&self, at: usize) -> bool {
        self.survivor(&self.records[at].id).is_some()
    }
}

/// A link one of whose records was merged into another record of its
/// account: an identity event, never a delete and never a new partner.
#[derive(Debug)]
pub struct Merge<'a> {
    pub link: &'a Link,
    /// The records the link's ids are part of now, on each side (the
    /// link's own record where that side was not merged).
    pub now: Sided<&'a Record>,
    pub outcome: MergeOutcome<'a>,
}

/// What a merge does to the link it touched.
#[derive(Debug, Clone, Copy)]
pub enum MergeOutcome<'a> {
    /// No other link holds the records: the link moves to them with its
    /// base (the pair is also in `linked`, so their edits flow).
    Follows,
    /// Another link holds exactly these two records (both sides merged):
    /// this one is spent.
    Spent,
    /// The record on `side` is held by another link, with `kept` as its
    /// partner: `now[side.other()]` faces the same record as `kept` does.
    SecondPartner { side: Side, kept: &'a Record },
}

/// How well `record` still holds the base values a link recorded for
/// `side`: the record whose values won a merge holds most of its own
/// (the match field counts twice, as a merge keeps the winner's).
fn agreement(pair: &PairConfig, link: &Link, side: Side, record: &Record) -> usize {
    let match_field = pair.match_field.as_deref();
    pair.fields
        .iter()
        .filter(|f| {
            link.base[side].get(&f[side]).is_some_and(|base| {
                !base.is_empty() && values_equivalent(base, record.get(&f[side]))
            })
        })
        .map(|f| {
            if Some(f.left.as_str()) == match_field {
                2
            } else {
                1
            }
        })
        .sum()
}

/// The links whose records are not both listed under their own ids: for
/// each side that is `Missing`, a record now holding the match value the
/// link last synced there (an email a merge moved onto the survivor, as
/// Pipedrive's merges leave no other trace) counts as the one it was
/// merged into, when exactly one record holds it.
fn find_by_match_value(
    pair: &PairConfig,
    sides: &Sided<SideIndex>,
    unsettled: &mut [(&Link, Sided<Found>)],
) {
    let Some(match_field) = pair.match_fields() else {
        return;
    };
    let match_key = pair.match_key();
    for side in Side::BOTH {
        let field = &match_field[side];
        let wanted: HashMap<String, Vec<usize>> = unsettled
            .iter()
            .filter(|(_, found)| found[side] == Found::Missing)
            .filter_map(|(link, _)| link.base[side].get(field))
            .map(|value| (match_key.of(value), Vec::new()))
            .filter(|(key, _)| !key.is_empty())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut holders = wanted;
        let index = &sides[side];
        for (i, record) in index.records.iter().enumerate() {
            for value in record.values_of(field) {
                if let Some(at) = holders.get_mut(&match_key.of(value))
                    && at.last() != Some(&i)
                    && !index.merged_away(i)
                {
                    at.push(i);
                }
            }
        }
        for (link, found) in unsettled.iter_mut() {
            if found[side] != Found::Missing {
                continue;
            }
            let key = link.base[side].get(field).map(|v| match_key.of(v));
            if let Some([only]) = key.and_then(|k| holders.get(&k)).map(Vec::as_slice) {
                found[side] = Found::Merged(*only);
            }
        }
    }
}

pub fn pair_records<'a>(
    pair: &PairConfig,
    left: &'a [Record],
    right: &'a [Record],
    state: &'a PairState,
) -> Pairing<'a> {
    let (left_index, right_index) =
        crate::par::join(|| SideIndex::new(left), || SideIndex::new(right));
    let sides = Sided::new(left_index, right_index);
    let records = Sided::new(left, right);
    // Whether a link (or a merge) holds the record at each position.
    let mut held = Sided::new(vec![false; left.len()], vec![false; right.len()]);
    let mut pairing = Pairing::default();
    // Links whose records are not both listed under their own ids.
    let mut unsettled: Vec<(&'a Link, Sided<Found>)> = Vec::new();

    for link in state.links() {
        let found = Sided::new(sides.left.find(&link.left), sides.right.find(&link.right));
        match (found.left, found.right) {
            (Found::Live(l), Found::Live(r)) => {
                held.left[l] = true;
                held.right[r] = true;
                pairing.linked.push((&left[l], &right[r], link));
            }
            _ => unsettled.push((link, found)),
        }
    }
    if !unsettled.is_empty() {
        find_by_match_value(pair, &sides, &mut unsettled);
        follow_merges(pair, &sides, records, unsettled, &mut held, &mut pairing);
    }

    let unlinked = |side: Side, held: &[bool]| {
        let index = &sides[side];
        let mut unlinked: Vec<&'a Record> = records[side]
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                !held[*i] && !index.merged_away(*i) && !state.is_tombstoned(side, &r.id)
            })
            .map(|(_, r)| r)
            .collect();
        unlinked.sort_by(|a, b| id_order(&a.id, &b.id));
        unlinked
    };
    let mut unlinked_left = unlinked(Side::Left, &held.left);
    let mut unlinked_right = unlinked(Side::Right, &held.right);

    // A create whose answer was lost may have made its record: pair the
    // source with the unlinked target record holding exactly what was sent.
    // A run killed mid-migration leaves thousands of them and a million
    // unlinked records: sources are found by id and targets through a hash
    // of the values sent, never by a scan per pending create.
    if !state.pending().is_empty() {
        let recovered = recover_lost_creates(pair, state, &unlinked_left, &unlinked_right);
        let mut taken = [
            vec![false; unlinked_left.len()],
            vec![false; unlinked_right.len()],
        ];
        for (l, r, pending) in recovered {
            taken[0][l] = true;
            taken[1][r] = true;
            pairing
                .recovered
                .push((unlinked_left[l], unlinked_right[r], pending));
        }
        let [taken_left, taken_right] = &taken;
        unlinked_left = unmarked(unlinked_left, taken_left);
        unlinked_right = unmarked(unlinked_right, taken_right);
    }

    if pair.match_fields().is_none() {
        pairing.left_only = unlinked_left;
        pairing.right_only = unlinked_right;
        return pairing;
    }
    match_unlinked(pair, unlinked_left, unlinked_right, &mut pairing);
    pairing.left_only.sort_by(|a, b| id_order(&a.id, &b.id));
    pairing.right_only.sort_by(|a, b| id_order(&a.id, &b.id));
    // Further keys (`match = ["domain", "name"]`) pair what is left.
    if let Some(match_field) = pair.match_fields() {
        let mut earlier = vec![(match_field, pair.match_key())];
        for fallback in pair.fallback_match_fields() {
            pair_by_fallback(&mut pairing, &earlier, &fallback);
            earlier.push(fallback);
        }
    }
    pairing
}

/// Settles the links whose records were merged (or are gone): where a
/// record went into another, the link follows it unless another link holds
/// that record already, in which case the link's partner is a second
/// partner of it, or the link is spent. Links are settled best first: the
/// one whose record's values won the merge (it holds the most of the
/// link's base) follows, so the survivor keeps the partner of the winner.
fn follow_merges<'a>(
    pair: &PairConfig,
    sides: &Sided<SideIndex<'a>>,
    records: Sided<&'a [Record]>,
    unsettled: Vec<(&'a Link, Sided<Found>)>,
    held: &mut Sided<Vec<bool>>,
    pairing: &mut Pairing<'a>,
) {
    let mut candidates = Vec::new();
    for (link, found) in unsettled {
        let merged = found.iter().any(|(_, f)| matches!(f, Found::Merged(_)));
        match (found.left.position(), found.right.position()) {
            (Some(l), Some(r)) if merged => candidates.push((link, found, Sided::new(l, r))),
            (l, r) => {
                // A merged record whose partner is gone is not deleted.
                for (side, at) in [(Side::Left, l), (Side::Right, r)] {
                    if let Some(at) = at {
                        held[side][at] = true;
                    }
                }
                pairing.gone.push(Gone {
                    link,
                    left: l.map(|i| &records.left[i]),
                    right: r.map(|i| &records.right[i]),
                    merged,
                });
            }
        }
    }
    if candidates.is_empty() {
        return;
    }
    let score = |link: &Link, found: &Sided<Found>, at: &Sided<usize>| -> usize {
        Side::BOTH
            .into_iter()
            .filter(|side| matches!(found[*side], Found::Merged(_)))
            .map(|side| agreement(pair, link, side, &records[side][at[side]]))
            .sum()
    };
    candidates.sort_by(|(a, fa, pa), (b, fb, pb)| {
        score(b, fb, pb)
            .cmp(&score(a, fa, pa))
            .then_with(|| id_order(&a.left, &b.left))
    });
    // Which record of the other side holds each record, by position.
    const NONE: usize = usize::MAX;
    let mut partner = Sided::new(
        vec![NONE; records.left.len()],
        vec![NONE; records.right.len()],
    );
    for (l, r, _) in &pairing.linked {
        let (l, r) = (
            sides.left.by_id[l.id.as_str()],
            sides.right.by_id[r.id.as_str()],
        );
        partner.left[l] = r;
        partner.right[r] = l;
    }
    for (link, _, at) in candidates {
        let now = Sided::new(&records.left[at.left], &records.right[at.right]);
        held.left[at.left] = true;
        held.right[at.right] = true;
        let outcome = match (partner.left[at.left], partner.right[at.right]) {
            (NONE, NONE) => {
                partner.left[at.left] = at.right;
                partner.right[at.right] = at.left;
                pairing.linked.push((now.left, now.right, link));
                MergeOutcome::Follows
            }
            (r, l) if r == at.right && l == at.left => MergeOutcome::Spent,
            (NONE, l) => MergeOutcome::SecondPartner {
                side: Side::Right,
                kept: &records.left[l],
            },
            (r, _) => MergeOutcome::SecondPartner {
                side: Side::Left,
                kept: &records.right[r],
            },
        };
        pairing.merges.push(Merge { link, now, outcome });
    }
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
fn match_unlinked<'a>(
    pair: &PairConfig,
    unlinked_left: Vec<&'a Record>,
    unlinked_right: Vec<&'a Record>,
    pairing: &mut Pairing<'a>,
) {
    let match_field = pair.match_fields().expect("called with a match field");
    let match_key = pair.match_key();
    let keys_of = |r: &Record, side: Side| -> Vec<String> {
        let mut keys: Vec<String> = r
            .values_of(&match_field[side])
            .map(|v| match_key.of(v))
            .filter(|k| !k.is_empty())
            .collect();
        if keys.len() > 1 {
            keys.sort();
            keys.dedup();
        }
        keys
    };
    // Keys already taken by a linked pair: an unlinked record carrying one
    // is a duplicate of that pair, not a new record.
    // Any key of a linked pair's records → the pair's (left id, right id).
    let mut linked_keys: HashMap<String, (&'a str, &'a str)> = HashMap::new();
    let anything_unlinked = !unlinked_left.is_empty() || !unlinked_right.is_empty();
    for (l, r, _) in pairing.linked.iter().filter(|_| anything_unlinked) {
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
fn pair_by_fallback<'a>(
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn contacts_pair() -> PairConfig {
        crate::config::test_pairs(
            r#"
[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"
"#,
        )
        .remove(0)
    }

    fn rec(id: &str, email: &str) -> Record {
        let mut fields = crate::model::Fields::new();
        crate::model::set_field(&mut fields, "email", email);
        Record::new(id, fields, 1)
    }

    fn company(id: &str, domain: &str, name: &str) -> Record {
        let mut fields = crate::model::Fields::new();
        crate::model::set_field(&mut fields, "domain", domain);
        crate::model::set_field(&mut fields, "name", name);
        Record::new(id, fields, 1)
    }

    #[test]
    fn companies_pair_on_their_domain_where_both_have_one_else_on_their_name() {
        let pair = crate::config::test_pairs(
            r#"
[[pairs]]
name = "companies"
left = "a.companies"
right = "b.companies"
match = ["domain", "name"]
[pairs.fields]
domain = "domain"
name = "name"
"#,
        )
        .remove(0);
        let left = vec![
            company("1", "acme.io", "Acme"),
            company("2", "", "Globex"),
            company("3", "initech.com", "Initech"),
            company("4", "umbrella.com", "Umbrella"),
            company("5", "", "Hooli"),
            company("6", "", "Hooli"),
        ];
        let right = vec![
            company("10", "https://www.Acme.io/", "Acme Inc."),
            company("20", "globex.com", "globex "),
            company("30", "", "Initech"),
            company("40", "umbrella.de", "Umbrella"),
            company("50", "", "Hooli"),
        ];
        let state = PairState::default();
        let p = pair_records(&pair, &left, &right, &state);
        let mut matched: Vec<(&str, &str)> = p
            .matched
            .iter()
            .map(|(l, r)| (l.id.as_str(), r.id.as_str()))
            .collect();
        matched.sort();
        // By domain whatever the names; by name where one side has no
        // domain; never by name against two different domains.
        assert_eq!(
            matched,
            [("1", "10"), ("2", "20"), ("3", "30"), ("5", "50")]
        );
        let ids = |records: &[&Record]| records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&p.left_only), ["4", "6"]);
        assert_eq!(ids(&p.right_only), ["40"]);
        assert!(p.duplicates.is_empty(), "a shared name is not a duplicate");
    }

    #[test]
    fn links_win_then_keys_pair_case_insensitively() {
        let pair = contacts_pair();
        let left = vec![
            rec("1", "a@x.io"),
            rec("2", " B@X.io "),
            rec("3", "c@x.io"),
            rec("4", ""),
        ];
        let right = vec![
            rec("10", "changed@x.io"),
            rec("20", "b@x.io"),
            rec("40", ""),
        ];
        let mut state = PairState::default();
        state.link("1", "10");
        let p = pair_records(&pair, &left, &right, &state);
        assert_eq!(
            p.linked.len(),
            1,
            "the link holds although the emails differ"
        );
        assert_eq!(
            p.matched
                .iter()
                .map(|(l, r)| (l.id.as_str(), r.id.as_str()))
                .collect::<Vec<_>>(),
            [("2", "20")]
        );
        assert_eq!(
            p.left_only
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["3", "4"]
        );
        assert_eq!(
            p.right_only
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["40"]
        );
        assert!(p.duplicates.is_empty() && p.gone.is_empty());
    }

    #[test]
    fn duplicates_pair_the_oldest_and_report_the_rest() {
        let pair = contacts_pair();
        let left = vec![
            rec("9", "d@x.io"),
            rec("5", "D@x.io"),
            rec("7", "solo@x.io"),
            rec("8", "SOLO@x.io"),
        ];
        let right = vec![rec("30", "d@x.io")];
        let state = PairState::default();
        let p = pair_records(&pair, &left, &right, &state);
        assert_eq!(p.matched.len(), 1);
        assert_eq!(p.matched[0].0.id, "5", "lowest id is kept");
        assert_eq!(
            p.left_only
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["7"]
        );
        let extras: Vec<_> = p
            .duplicates
            .iter()
            .map(|d| (d.kept.as_str(), d.extra.clone()))
            .collect();
        assert_eq!(
            extras,
            [("5", vec!["9".to_string()]), ("7", vec!["8".to_string()])]
        );
    }

    #[test]
    fn an_unlinked_record_with_a_linked_key_is_a_duplicate_not_a_create() {
        let pair = contacts_pair();
        let left = vec![rec("1", "a@x.io"), rec("2", "A@x.io")];
        let right = vec![rec("10", "a@x.io")];
        let mut state = PairState::default();
        state.link("1", "10");
        let p = pair_records(&pair, &left, &right, &state);
        assert!(p.left_only.is_empty());
        assert_eq!(p.duplicates.len(), 1);
        assert_eq!(p.duplicates[0].extra, ["2"]);
    }

    #[test]
    fn a_lost_create_is_found_instead_of_made_again() {
        let pair = contacts_pair();
        let mut state = PairState::default();
        let sent = crate::model::Fields::from([("email".to_string(), "X@y.io".to_string())]);
        state.add_pending(crate::state::PendingCreate {
            target: Side::Right,
            source: "1".into(),
            fields: sent,
        });
        let left = vec![rec("1", "x@y.io")];
        let right = vec![rec("10", "other@y.io"), rec("11", "x@y.io")];
        let p = pair_records(&pair, &left, &right, &state);
        assert_eq!(p.recovered.len(), 1);
        assert_eq!(
            (p.recovered[0].0.id.as_str(), p.recovered[0].1.id.as_str()),
            ("1", "11")
        );
        assert!(p.left_only.is_empty());
    }

    #[test]
    fn a_lost_person_is_found_though_pipedrive_split_its_name_its_own_way() {
        let text = r#"
[systems.hs]
kind = "hubspot"
token_env = "A"
[systems.pd]
kind = "pipedrive"
token_env = "B"
base_url = "https://acme.pipedrive.com"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
"#;
        let pair = crate::config::Config::from_str(text, std::path::Path::new("t.toml"))
            .unwrap()
            .pairs
            .remove(0);
        let person = |id: &str, first: &str, last: &str| {
            let mut fields = crate::model::Fields::new();
            crate::model::set_field(&mut fields, "email", "mary@x.io");
            crate::model::set_field(&mut fields, "first_name", first);
            crate::model::set_field(&mut fields, "last_name", last);
            Record::new(id, fields, 1)
        };
        let mut state = PairState::default();
        state.add_pending(crate::state::PendingCreate {
            target: Side::Right,
            source: "1".into(),
            fields: crate::model::Fields::from([
                ("email".to_string(), "mary@x.io".to_string()),
                ("first_name".to_string(), "Mary Ann".to_string()),
                ("last_name".to_string(), "Smith".to_string()),
            ]),
        });
        let left = vec![rec("1", "mary@x.io")];
        // Written as the name "Mary Ann Smith", split at its first space;
        // a Mary Ann Smythe is not the one.
        let right = vec![
            person("8", "Mary", "Ann Smythe"),
            person("9", "Mary", "Ann Smith"),
        ];
        let p = pair_records(&pair, &left, &right, &state);
        let found: Vec<_> = p
            .recovered
            .iter()
            .map(|(l, r, _)| (l.id.as_str(), r.id.as_str()))
            .collect();
        assert_eq!(found, [("1", "9")]);
    }

    #[test]
    fn lost_creates_are_found_by_their_values_whatever_the_relations_say() {
        let pair = crate::config::test_pairs(
            r#"
[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
[pairs.fields]
email = "email"

[[pairs]]
name = "deals"
left = "a.deals"
right = "b.deals"
[pairs.fields]
dealname = "dealname"
amount = "amount"
contact = "contact"
[pairs.values]
contact = "link:contacts"
"#,
        )
        .remove(1);
        let deal = |id: &str, name: &str, amount: &str| {
            let mut fields = crate::model::Fields::new();
            crate::model::set_field(&mut fields, "dealname", name);
            crate::model::set_field(&mut fields, "amount", amount);
            Record::new(id, fields, 1)
        };
        let mut state = PairState::default();
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for i in 0..500 {
            left.push(deal(&i.to_string(), &format!("Deal {i}"), &format!("{i}")));
            // Every other create was made (its amount normalised by the
            // server); its association was not, as a lost answer leaves it.
            if i % 2 == 0 {
                right.push(deal(
                    &(10_000 + i).to_string(),
                    &format!("Deal {i}"),
                    &format!("{i}.0"),
                ));
            }
            let sent = crate::model::Fields::from([
                ("dealname".to_string(), format!("Deal {i}")),
                ("amount".to_string(), format!("{i}")),
                ("contact".to_string(), "77".to_string()),
            ]);
            state.add_pending(crate::state::PendingCreate {
                target: Side::Right,
                source: i.to_string(),
                fields: sent,
            });
        }
        let p = pair_records(&pair, &left, &right, &state);
        assert_eq!(p.recovered.len(), 250);
        assert!(
            p.recovered
                .iter()
                .all(|(l, r, _)| r.id == format!("{}", 10_000 + l.id.parse::<u32>().unwrap()))
        );
        assert_eq!(p.left_only.len(), 250, "the creates never made are made");
        assert!(p.right_only.is_empty());
    }

    #[test]
    fn a_vanished_record_is_reported_gone() {
        let pair = contacts_pair();
        let mut state = PairState::default();
        state.link("1", "10");
        let left = vec![rec("1", "a@x.io")];
        let p = pair_records(&pair, &left, &[], &state);
        assert_eq!(p.gone.len(), 1);
        assert!(p.left_only.is_empty(), "a linked record is not re-created");
    }
    /// A record with an email, a first name, and what else it is known by.
    fn known(id: &str, email: &str, first: &str, merged: &[&str], also: &[&str]) -> Record {
        let mut r = rec(id, email);
        crate::model::set_field(&mut r.fields, "firstname", first);
        r.set_identity(crate::model::Identity {
            merged_from: merged.iter().map(|m| m.to_string()).collect(),
            also: also
                .iter()
                .map(|a| ("email".to_string(), a.to_string()))
                .collect(),
        });
        r
    }

    /// Links left ↔ right with a base holding both records' email and name.
    fn linked_as(state: &mut PairState, l: &Record, r: &Record) {
        let link = state.link(&l.id, &r.id);
        for (side, record) in [(Side::Left, l), (Side::Right, r)] {
            for f in ["email", "firstname"] {
                link.base[side].insert(f, record.get(f));
            }
        }
    }

    fn outcomes(p: &Pairing) -> Vec<(String, String, String)> {
        p.merges
            .iter()
            .map(|m| {
                let what = match m.outcome {
                    MergeOutcome::Follows => "follows".to_string(),
                    MergeOutcome::Spent => "spent".to_string(),
                    MergeOutcome::SecondPartner { side, kept } => {
                        format!("second partner of {} on {side}", kept.id)
                    }
                };
                (
                    format!("{}={}", m.link.left, m.link.right),
                    format!("{}={}", m.now.left.id, m.now.right.id),
                    what,
                )
            })
            .collect()
    }

    fn row(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.to_string(), b.to_string(), c.to_string())
    }

    #[test]
    fn a_merge_with_a_new_id_moves_the_winners_link_and_makes_the_other_partner_a_second_one() {
        let pair = contacts_pair();
        let (p1, p2) = (
            known("1", "a@x.io", "Ann", &[], &[]),
            known("2", "b@x.io", "Bo", &[], &[]),
        );
        let (pd1, pd2) = (
            known("10", "a@x.io", "Ann", &[], &[]),
            known("20", "b@x.io", "Bo", &[], &[]),
        );
        let mut state = PairState::default();
        linked_as(&mut state, &p1, &pd1);
        linked_as(&mut state, &p2, &pd2);
        // p2 merged into p1 (the primary): a new record 9 with p1's values
        // and p2's email as a secondary one, listed after both (whatever
        // order the vendor lists the merged ids in).
        let merged = known("9", "a@x.io", "Ann", &["2", "1"], &["b@x.io"]);
        for left in [
            vec![merged.clone()],
            vec![p1.clone(), p2.clone(), merged.clone()],
        ] {
            let right = vec![pd1.clone(), pd2.clone()];
            let p = pair_records(&pair, &left, &right, &state);
            assert_eq!(
                outcomes(&p),
                [
                    row("1=10", "9=10", "follows"),
                    row("2=20", "9=20", "second partner of 10 on left")
                ]
            );
            let linked: Vec<_> = p
                .linked
                .iter()
                .map(|(l, r, _)| (l.id.as_str(), r.id.as_str()))
                .collect();
            assert_eq!(
                linked,
                [("9", "10")],
                "the survivor's edits flow to its partner"
            );
            assert!(p.left_only.is_empty() && p.right_only.is_empty(), "{p:#?}");
            assert!(p.gone.is_empty() && p.duplicates.is_empty() && p.matched.is_empty());
        }
    }

    #[test]
    fn a_vanished_record_whose_email_another_record_took_was_merged_into_it() {
        let pair = contacts_pair();
        let (p1, p2) = (
            known("1", "a@x.io", "Ann", &[], &[]),
            known("2", "b@x.io", "Bo", &[], &[]),
        );
        let (pd1, pd2) = (
            known("10", "a@x.io", "Ann", &[], &[]),
            known("20", "b@x.io", "Bo", &[], &[]),
        );
        let mut state = PairState::default();
        linked_as(&mut state, &p1, &pd1);
        linked_as(&mut state, &p2, &pd2);
        // Pipedrive: 20 merged into 10, which keeps its id and takes its emails.
        let survivor = known("10", "a@x.io", "Ann", &[], &["b@x.io"]);
        let left = vec![p1.clone(), p2.clone()];
        let p = pair_records(&pair, &left, std::slice::from_ref(&survivor), &state);
        assert_eq!(
            outcomes(&p),
            [row("2=20", "2=10", "second partner of 1 on right")]
        );
        assert!(
            p.gone.is_empty() && p.left_only.is_empty(),
            "p2 is neither deleted nor created"
        );
        // Once p2 is merged into p1 too (a new id 9), the old link is spent.
        let merged = known("9", "a@x.io", "Ann", &["1", "2"], &["b@x.io"]);
        let p = pair_records(
            &pair,
            std::slice::from_ref(&merged),
            std::slice::from_ref(&survivor),
            &state,
        );
        assert_eq!(
            outcomes(&p),
            [row("1=10", "9=10", "follows"), row("2=20", "9=10", "spent")]
        );
        // A vanished record whose email nobody holds is gone, as before;
        // one whose email two records hold is not guessed at.
        let only = [pd1.clone()];
        let p = pair_records(&pair, &left, &only, &state);
        assert_eq!(p.gone.len(), 1);
        assert!(!p.gone[0].merged && p.merges.is_empty());
        let twice = [
            pd1.clone(),
            known("30", "c@x.io", "C", &[], &["b@x.io"]),
            known("40", "b@x.io", "D", &[], &[]),
        ];
        let p = pair_records(&pair, &left, &twice, &state);
        assert_eq!(p.gone.len(), 1, "{p:#?}");
    }

    #[test]
    fn a_merged_record_whose_partner_is_gone_is_never_deleted() {
        let pair = contacts_pair();
        let (p1, pd1) = (
            known("1", "a@x.io", "Ann", &[], &[]),
            known("10", "a@x.io", "Ann", &[], &[]),
        );
        let mut state = PairState::default();
        linked_as(&mut state, &p1, &pd1);
        let merged = known("9", "z@x.io", "Zed", &["1"], &[]);
        let left = [merged];
        let p = pair_records(&pair, &left, &[], &state);
        assert_eq!(p.gone.len(), 1);
        assert!(p.gone[0].merged && p.gone[0].left.is_some_and(|r| r.id == "9"));
        assert!(p.left_only.is_empty(), "the survivor is not copied across");
    }

    #[test]
    fn every_email_of_a_record_pairs_it_and_one_known_by_two_records_is_never_guessed() {
        let pair = contacts_pair();
        let left = vec![
            known("1", "p1@x.io", "", &[], &[]),
            known("2", "c@x.io", "", &[], &["old0@x.io"]),
            known("3", "a@x.io", "", &[], &[]),
            known("4", "b@x.io", "", &[], &[]),
        ];
        let right = vec![
            // A work email first, the HubSpot email second.
            known("10", "work@corp.io", "", &[], &["P1@x.io"]),
            // Only the other record's secondary email.
            known("20", "old0@x.io", "", &[], &[]),
            // Known by the emails of two different records.
            known("30", "a@x.io", "", &[], &["b@x.io"]),
        ];
        let state = PairState::default();
        let p = pair_records(&pair, &left, &right, &state);
        let matched: Vec<_> = p
            .matched
            .iter()
            .map(|(l, r)| (l.id.as_str(), r.id.as_str()))
            .collect();
        assert_eq!(matched, [("2", "20"), ("1", "10")]);
        assert!(p.left_only.is_empty() && p.right_only.is_empty(), "{p:#?}");
        let ambiguous: Vec<_> = p.ambiguous.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ambiguous, ["3", "4", "30"]);
        assert_eq!(p.duplicates.len(), 1);
        let d = &p.duplicates[0];
        assert_eq!(
            (d.side, d.key.as_str(), d.kept.as_str(), d.extra.clone()),
            (Side::Left, "a@x.io, b@x.io", "3", vec!["4".to_string()])
        );
    }

    #[test]
    fn an_unlinked_record_with_any_email_of_a_linked_record_is_its_duplicate() {
        let pair = contacts_pair();
        let mut state = PairState::default();
        state.link("1", "10");
        let left = vec![
            known("1", "a@x.io", "", &[], &[]),
            known("2", "y@x.io", "", &[], &[]),
        ];
        let right = vec![known("10", "a@x.io", "", &[], &["Y@x.io"])];
        let p = pair_records(&pair, &left, &right, &state);
        assert!(p.left_only.is_empty(), "{p:#?}");
        assert_eq!(p.duplicates.len(), 1);
        assert_eq!(
            (p.duplicates[0].kept.as_str(), p.duplicates[0].extra.clone()),
            ("1", vec!["2".to_string()])
        );
    }
}
