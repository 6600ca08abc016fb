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
use std::collections::{BTreeSet, HashMap, HashSet};

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
    fn key(item: &Item) -> (u8, Option<&str>, Option<&str>, Option<u8>) {
        (
            item.action() as u8,
            item.id(Side::Left),
            item.id(Side::Right),
            item.target().map(|side| side as u8),
        )
    }
    {
        let position: HashMap<_, usize> = whole
            .items
            .iter()
            .enumerate()
            .map(|(n, item)| (key(item), n))
            .collect();
        let at = |item: &Item| position.get(&key(item)).copied().unwrap_or(usize::MAX);
        streamed.items.sort_by_cached_key(at);
    }
    // Nearly always the same items: then no record differs.
    if streamed.items == whole.items {
        return 0;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{Identity, ObjectKind, set_field};

    fn config() -> Config {
        Config::from_str(
            r#"
[systems.a]
kind = "hubspot"
token_env = "A"
[systems.b]
kind = "hubspot"
token_env = "B"

[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"
"#,
            std::path::Path::new("t.toml"),
        )
        .unwrap()
    }

    /// A contact with an email, a first name and further emails.
    fn person(id: &str, email: &str, first: &str, also: &[&str]) -> Record {
        let mut r = Record::new(id, Default::default(), 1);
        set_field(&mut r.fields, "email", email);
        set_field(&mut r.fields, "firstname", first);
        if !also.is_empty() {
            r.set_identity(Identity {
                also: also
                    .iter()
                    .map(|a| ("email".into(), a.to_string()))
                    .collect(),
                ..Default::default()
            });
        }
        r
    }

    fn snapshot(system: &str, records: Vec<Record>) -> Snapshot {
        Snapshot::new(system, ObjectKind::Contacts, Vec::new(), records, 1)
    }

    /// The left side in three pages: a duplicate across pages (1 and 3),
    /// a record with two emails and a later one holding its second (4, 5:
    /// held back), one whose partner has a second email (6: held back),
    /// and one matched on its page (2).
    fn left_pages() -> Vec<Vec<Record>> {
        vec![
            vec![
                person("1", "x@a.io", "Xa", &[]),
                person("2", "y@a.io", "Ya", &[]),
            ],
            vec![
                person("3", "X@a.io", "Xb", &[]),
                person("4", "z@a.io", "Za", &["w@a.io"]),
            ],
            vec![
                person("5", "w@a.io", "Wa", &[]),
                person("6", "v@a.io", "Va", &[]),
            ],
        ]
    }

    fn right() -> Vec<Record> {
        vec![
            person("10", "y@a.io", "Yb", &[]),
            person("11", "u@a.io", "Ub", &[]),
            person("12", "v@a.io", "Vb", &["t@a.io"]),
        ]
    }

    #[test]
    fn pages_decide_what_the_whole_plan_decides_and_hold_back_what_a_later_page_could_change() {
        let config = config();
        let pair = &config.pairs[0];
        let state = State::default();
        let target = snapshot("b", right());
        let mut paged = Paged::new(pair, Side::Left, snapshot("a", Vec::new()), &target, &state);
        let mut items = Vec::new();
        for page in left_pages() {
            items.extend(paged.page(page).items);
        }
        let (listed, decided) = paged.finish();
        let mut ids: Vec<&str> = decided.iter().map(String::as_str).collect();
        ids.sort();
        assert_eq!(
            ids,
            ["1", "2", "3"],
            "4, 5 and 6 wait for the whole listing"
        );
        let source = snapshot("a", listed);
        let whole = plan_pair(pair, [&source, &target], &state, &PlannedLinks::default());
        // Every item the pages gave is the whole plan's, and the duplicate
        // on page 2 got none.
        for item in &items {
            assert!(whole.items.contains(item), "{item:?}");
        }
        assert!(!items.iter().any(|i| i.id(Side::Left) == Some("3")));
        let of = |id: &str| {
            whole
                .items
                .iter()
                .filter(|i| i.id(Side::Left) == Some(id))
                .count()
        };
        assert_eq!(items.len(), of("1") + of("2"));

        let mut plan = PairPlan {
            items: items.clone(),
            ..whole.clone()
        };
        // Nothing written in this test: the rest is planned on the state as
        // found, less what the pages decided.
        let rest = rest(pair, [&source, &target], &state, Side::Left, &decided);
        plan.items.extend(rest.items);
        plan.items.reverse();
        assert_eq!(in_order_of(&whole, &mut plan, Side::Left, &decided), 0);
        assert_eq!(
            plan.items, whole.items,
            "the pages and the rest are the whole plan, in order"
        );
    }
}
