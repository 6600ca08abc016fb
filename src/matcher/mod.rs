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
//!
//! This file holds the split (`Pairing`) and the order of the join
//! (`pair_records`); `index` looks a linked id up on its side (under its own
//! id or as merged into another record), `merges` settles the links a merge
//! touched, `recover` finds the records of creates whose answer was lost,
//! and `keys` pairs unlinked records by their match keys (every email a
//! record is known by, then the fallback keys); `content` pairs records
//! without a natural key (notes) by what they hold. None of it decides what to
//! write: that is the three-way merge (`diff`).

mod content;
mod index;
mod keys;
mod merges;
mod recover;

#[cfg(test)]
mod tests;

pub use content::pair_by_content;
pub use keys::match_values;
pub use merges::{Merge, MergeOutcome, merged_by_gained_value};

use crate::config::PairConfig;
use crate::model::{Duplicate, IdMap, Record, Side, Sided, id_order};
use crate::state::{Link, PairState, PendingCreate};
use index::{Found, SideIndex};
use keys::{match_unlinked, pair_by_fallback};
use merges::{find_by_match_value, follow_merges};
use recover::recover_lost_creates;

/// A link whose record disappeared from one side (or both).
#[derive(Debug)]
pub struct Gone<'a> {
    pub link: &'a Link,
    pub left: Option<&'a Record>,
    pub right: Option<&'a Record>,
    /// The record still there is the result of a merge (of the link's
    /// record or another): whatever became of the other, it is not deleted.
    pub merged: bool,
    /// With `merged`: every merge seen was confirmed (see `Merge`).
    pub confirmed: bool,
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
pub(super) fn positions<'a>(
    records: impl ExactSizeIterator<Item = &'a Record>,
) -> IdMap<&'a str, usize> {
    let mut by_id = IdMap::with_capacity_and_hasher(records.len(), Default::default());
    by_id.extend(records.enumerate().map(|(i, r)| (r.id.as_str(), i)));
    by_id
}

/// The records whose mark is false, in order.
pub(super) fn unmarked<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    marks: &[bool],
) -> Vec<&'a Record> {
    records
        .into_iter()
        .zip(marks)
        .filter(|(_, marked)| !**marked)
        .map(|(r, _)| r)
        .collect()
}

/// Splits one pair's records: links first (followed through merges), then
/// the creates whose answer was lost, then the match keys; what is left
/// is on one side only. Deterministic: the same records and state give the
/// same split.
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
