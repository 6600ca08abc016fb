//! Links a merge touched: a linked record merged into another (named by a
//! survivor's merged ids, or its last synced match value now on exactly one
//! other record) is followed; the link moves to the merge's result, is
//! spent, or its partner becomes a second partner of a record another link
//! holds. Never a delete; what to do about it is the three-way merge's job.
//! Each merge says whether it is confirmed (the vendor named it, or the
//! survivor took the merged record's match value since the full pull
//! before the last one) or only inferred from traces a delete can leave
//! too, which is followed but never written.

use super::index::{Found, SideIndex};
use super::{Gone, Pairing};
use crate::config::PairConfig;
use crate::model::{Record, Side, Sided, id_order, values_equivalent};
use crate::state::Link;
use std::collections::HashMap;

/// A link one of whose records was merged into another record of its
/// account: an identity event, never a delete and never a new partner.
#[derive(Debug)]
pub struct Merge<'a> {
    pub link: &'a Link,
    /// True if and only if every merge seen is confirmed: a vendor named
    /// it, or the survivor took the merged record's match value since the
    /// full pull before the last one. An unconfirmed merge may be a delete
    /// (its traces are the same): followed, never written.
    pub confirmed: bool,
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
pub(super) fn find_by_match_value(
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
            let Some(key) = link.base[side].get(field).map(|v| match_key.of(v)) else {
                continue;
            };
            if let Some([only]) = holders.get(&key).map(Vec::as_slice) {
                // A merge moves the value onto the survivor; a value the
                // survivor held already (two records sharing an email, one
                // then deleted) is no footprint of a merge.
                let confirmed = index.records[*only].gained(field, |v| match_key.of(v), &key);
                found[side] = Found::Merged {
                    at: *only,
                    confirmed,
                };
            }
        }
    }
}

/// The vanished records of `side` (linked ids `vanished`, none listed in
/// `records`) that a merge since the full pull before the last one took
/// in: the one live record holding the match value the link last synced
/// there took it since (the footprint Pipedrive's merge leaves on its
/// survivor, which keeps its id and takes the other's emails). Returns
/// (vanished id, survivor id). A value the survivor held before is no
/// footprint: two records may share an email, and one may then be
/// deleted. Pure.
pub fn merged_by_gained_value(
    pair: &PairConfig,
    side: Side,
    records: &[Record],
    vanished: &[(&Link, &str)],
) -> Vec<(String, String)> {
    let Some(match_field) = pair.match_fields() else {
        return Vec::new();
    };
    let (field, match_key) = (&match_field[side], pair.match_key());
    // Every key wanted, then one pass over the records for their holders.
    let wanted: Vec<(&str, String)> = vanished
        .iter()
        .filter_map(|(link, id)| Some((*id, match_key.of(link.base[side].get(field)?))))
        .filter(|(_, key)| !key.is_empty())
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut holders: HashMap<&str, Vec<usize>> = wanted
        .iter()
        .map(|(_, key)| (key.as_str(), Vec::new()))
        .collect();
    let index = SideIndex::new(records);
    for (i, record) in records.iter().enumerate() {
        for value in record.values_of(field) {
            if let Some(at) = holders.get_mut(match_key.of(value).as_str())
                && at.last() != Some(&i)
                && !index.merged_away(i)
            {
                at.push(i);
            }
        }
    }
    let mut found = Vec::new();
    for (id, key) in &wanted {
        if let Some([only]) = holders.get(key.as_str()).map(Vec::as_slice)
            && records[*only].gained(field, |v| match_key.of(v), key)
        {
            found.push((id.to_string(), records[*only].id.clone()));
        }
    }
    found
}

/// Settles the links whose records were merged (or are gone): where a
/// record went into another, the link follows it unless another link holds
/// that record already, in which case the link's partner is a second
/// partner of it, or the link is spent. Links are settled best first: the
/// one whose record's values won the merge (it holds the most of the
/// link's base) follows, so the survivor keeps the partner of the winner.
pub(super) fn follow_merges<'a>(
    pair: &PairConfig,
    sides: &Sided<SideIndex<'a>>,
    records: Sided<&'a [Record]>,
    unsettled: Vec<(&'a Link, Sided<Found>)>,
    held: &mut Sided<Vec<bool>>,
    pairing: &mut Pairing<'a>,
) {
    let mut candidates = Vec::new();
    for (link, found) in unsettled {
        let merged = found.iter().any(|(_, f)| matches!(f, Found::Merged { .. }));
        let confirmed = found.iter().all(|(_, f)| {
            !matches!(
                f,
                Found::Merged {
                    confirmed: false,
                    ..
                }
            )
        });
        match (found.left.position(), found.right.position()) {
            (Some(l), Some(r)) if merged => {
                candidates.push((link, found, Sided::new(l, r), confirmed))
            }
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
                    confirmed,
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
            .filter(|side| matches!(found[*side], Found::Merged { .. }))
            .map(|side| agreement(pair, link, side, &records[side][at[side]]))
            .sum()
    };
    candidates.sort_by(|(a, fa, pa, _), (b, fb, pb, _)| {
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
    for (link, _, at, confirmed) in candidates {
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
        pairing.merges.push(Merge {
            link,
            confirmed,
            now,
            outcome,
        });
    }
}
