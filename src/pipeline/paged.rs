//! A pair planned page by page while its source side is still being
//! listed: each page is planned by `plan_pair`, the same call that plans a
//! whole pair, on the page's records and only the records it can pair with
//! (the target records and the earlier source records sharing a match
//! value), and yields the items of the records it can decide for good; the
//! rest of the pair (the target's records no source record took, and the
//! records held back) is planned at the end on everything (`rest`). Pure:
//! it reads no network and writes nothing.
//!
//! A record is decided on its page when its match group cannot change
//! with the pages still to come: it has at most one match value, and every
//! target record holding that value holds no other (no secondary email that
//! could join it to another group), and no record held back holds it. A
//! later record sharing that value is then a duplicate of the one decided
//! (the oldest, as the listings come in id order). Anything else is held
//! back for the end. `whole` plans the pair as a run that does not stream
//! would, to order the items as it does and to count the records a late
//! page decided differently (possible only where the listing is out of id
//! order, or a late record joins two groups by two emails).

use super::planning::plan_pair;
use crate::config::PairConfig;
use crate::mapping::PlannedLinks;
use crate::matcher::match_values;
use crate::model::{Record, Side, Sided};
use crate::plan::{Item, PairPlan};
use crate::snapshot::Snapshot;
use crate::state::State;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The planning of one pair as its source side's pages arrive.
pub struct Paged<'a> {
    pair: &'a PairConfig,
    /// The side being listed page by page; the other was read whole.
    source: Side,
    /// The source object's snapshot without records (its owners, labels).
    source_part: Snapshot,
    target: &'a Snapshot,
    /// Target record positions by every match value they hold.
    target_by_value: HashMap<String, Vec<usize>>,
    /// The state as the run found it: every page is planned on it, as a
    /// run that does not stream plans the whole pair on it.
    state: &'a State,
    /// Every source record listed so far, in order.
    listed: Vec<Record>,
    /// The records decided so far, by id, and by their one match value.
    decided: HashSet<String>,
    decided_by_value: HashMap<String, Vec<usize>>,
    /// Match values of records held back: later records holding one are
    /// held back too.
    held_values: HashSet<String>,
}

impl<'a> Paged<'a> {
    /// `source_part` is the source object's snapshot holding no record yet
    /// (its owners and labels); `target` the other side, read whole.
    pub fn new(
        pair: &'a PairConfig,
        source: Side,
        source_part: Snapshot,
        target: &'a Snapshot,
        state: &'a State,
    ) -> Paged<'a> {
        let mut target_by_value: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, record) in target.records.iter().enumerate() {
            for value in match_values(pair, record, source.other()) {
                target_by_value.entry(value).or_default().push(at);
            }
        }
        Paged {
            pair,
            source,
            source_part,
            target,
            target_by_value,
            state,
            listed: Vec::new(),
            decided: HashSet::new(),
            decided_by_value: HashMap::new(),
            held_values: HashSet::new(),
        }
    }

    /// Plans one page: the items of the page's records decided now (in
    /// plan order); the others wait for `rest`. Duplicates are reported by
    /// `rest`, which sees them all.
    pub fn page(&mut self, records: Vec<Record>) -> PairPlan {
        let first = self.listed.len();
        self.listed.extend(records);
        let values: Vec<Vec<String>> = self.listed[first..]
            .iter()
            .map(|r| match_values(self.pair, r, self.source))
            .collect();
        // Held back first, so a record of this page holding a value of a
        // later one on the same page waits as well.
        let open = |value: &String| {
            self.target_by_value.get(value).is_some_and(|targets| {
                targets.iter().any(|&t| {
                    match_values(self.pair, &self.target.records[t], self.source.other()).len() > 1
                })
            })
        };
        let held: Vec<bool> = values
            .iter()
            .map(|v| v.len() > 1 || v.iter().any(open))
            .collect();
        for (v, _) in values.iter().zip(&held).filter(|(_, h)| **h) {
            self.held_values.extend(v.iter().cloned());
        }
        let mut now = Vec::new();
        let mut earlier: BTreeSet<usize> = BTreeSet::new();
        let mut targets: BTreeSet<usize> = BTreeSet::new();
        for (n, v) in values.iter().enumerate() {
            if held[n] || v.iter().any(|value| self.held_values.contains(value)) {
                continue;
            }
            now.push(first + n);
            if let Some(value) = v.first() {
                earlier.extend(self.decided_by_value.get(value).into_iter().flatten());
                targets.extend(self.target_by_value.get(value).into_iter().flatten());
            }
        }
        let ids: HashSet<&str> = now.iter().map(|&at| self.listed[at].id.as_str()).collect();
        let source_records = now
            .iter()
            .chain(&earlier)
            .map(|&at| self.listed[at].clone())
            .collect();
        let target_records: Vec<Record> = targets
            .iter()
            .map(|&at| self.target.records[at].clone())
            .collect();
        let mut sides = Sided::new(
            self.source_part.part(source_records),
            self.target.part(target_records),
        );
        if self.source == Side::Right {
            sides = Sided::new(sides.right, sides.left);
        }
        let mut plan = plan_pair(
            self.pair,
            [&sides.left, &sides.right],
            self.state,
            &PlannedLinks::default(),
        );
        plan.items
            .retain(|item| item.id(self.source).is_some_and(|id| ids.contains(id)));
        plan.duplicates.clear();
        for (at, v) in now.iter().map(|&at| (at, &values[at - first])) {
            self.decided.insert(self.listed[at].id.clone());
            if let Some(value) = v.first() {
                self.decided_by_value
                    .entry(value.clone())
                    .or_default()
                    .push(at);
            }
        }
        plan
    }

    /// The source records listed, and the ids of those decided on their
    /// page, once the listing is done.
    pub fn finish(self) -> (Vec<Record>, HashSet<String>) {
        (self.listed, self.decided)
    }
}

/// The rest of a streamed pair, once its source side is listed whole:
/// planned on both whole snapshots (the target holding what the pages
/// wrote) and the state as the pages left it, less the items of the
/// records decided on their pages. That is the target records no source
/// record took, the records held back, and every duplicate.
pub fn rest(
    pair: &PairConfig,
    snapshots: [&Snapshot; 2],
    state: &State,
    source: Side,
    decided: &HashSet<String>,
) -> PairPlan {
    let mut plan = plan_pair(pair, snapshots, state, &PlannedLinks::default());
    plan.items
        .retain(|item| !item.id(source).is_some_and(|id| decided.contains(id)));
    plan
}

/// Puts a streamed pair's items (`streamed`: the pages' then the rest's)
/// in the order of `whole`, the plan of the pair made on both sides as
/// they were read (what a run that does not stream applies), and counts
/// the records decided on their page whose items differ from it.
pub fn in_order_of(
    whole: &PairPlan,
    streamed: &mut PairPlan,
    source: Side,
    decided: &HashSet<String>,
) -> usize {
    let key = |item: &Item| {
        (
            item.action(),
            item.id(Side::Left).map(str::to_string),
            item.id(Side::Right).map(str::to_string),
            item.target(),
        )
    };
    let position: BTreeMap<_, usize> = whole
        .items
        .iter()
        .enumerate()
        .map(|(n, item)| (key(item), n))
        .collect();
    let mut items: Vec<(usize, Item)> = std::mem::take(&mut streamed.items)
        .into_iter()
        .map(|item| {
            (
                position.get(&key(&item)).copied().unwrap_or(usize::MAX),
                item,
            )
        })
        .collect();
    items.sort_by_key(|(at, _)| *at);
    streamed.items = items.into_iter().map(|(_, item)| item).collect();
    // The decided records' items, each side's in order: equal, or differ.
    let of_decided = |plan: &PairPlan| {
        let mut by_record: HashMap<String, Vec<Item>> = HashMap::new();
        for item in &plan.items {
            if let Some(id) = item.id(source).filter(|id| decided.contains(*id)) {
                by_record
                    .entry(id.to_string())
                    .or_default()
                    .push(item.clone());
            }
        }
        by_record
    };
    let (theirs, ours) = (of_decided(whole), of_decided(streamed));
    decided
        .iter()
        .filter(|id| theirs.get(*id) != ours.get(*id))
        .count()
}
