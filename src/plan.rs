//! The plan: every change a run would make, as data.
//!
//! `diff` prints it (`Display`, read like `terraform plan`), `--out` and
//! `--json` serialise it (a versioned document), `push` loads it and applies
//! exactly what it says, and `sync` applies it straight away. Each item
//! carries what apply needs: the values to write, the base to record once the
//! write succeeds, and the modified times it was planned on (its
//! precondition). Building or printing a plan never touches the network.

use crate::config::ConflictPolicy;
use crate::files;
use crate::model::{Duplicate, Side, Sided};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

pub const FORMAT: &str = "crmsync-plan";
/// The newest format version this crmsync writes and reads. A plan is
/// written in the oldest version that can hold it, so an older crmsync
/// still applies what it understands and refuses, by the version, what it
/// does not: version 2 adds `merge` items; a plan without one is version 1.
pub const VERSION: u32 = 2;
/// The format version of plans without `merge` items.
const VERSION_WITHOUT_MERGES: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub created_at_ms: i64,
    /// The mapping file's fingerprint when the plan was made.
    pub config_fingerprint: String,
    pub pairs: Vec<PairPlan>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairPlan {
    pub name: String,
    /// `system.object`
    pub left: String,
    pub right: String,
    pub items: Vec<Item>,
    pub duplicates: Vec<Duplicate>,
    /// The records the pair held when planned (the larger side): what the
    /// percentage limits are taken of, by `sync` and by a later `push` alike.
    #[serde(default)]
    pub records: usize,
}

/// What an item does, as the report and the JSON plan name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Link,
    Create,
    Update,
    Associate,
    Conflict,
    Unlink,
    Delete,
    Invalid,
    Baseline,
    Merge,
}

/// One thing a plan does to one record or pair of records. Each variant
/// holds exactly what it needs: an item that cannot be carried out cannot
/// be built (or loaded from a saved plan). Its `Display` line is in this
/// file, its apply step in `apply.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireItem", try_from = "WireItem")]
pub enum Item {
    /// Pair two records found by the match key (state only), recording the
    /// fields both already agree on.
    Link(Agreement),
    /// Create the source's record on the target.
    Create(Create),
    /// Write changed fields to a linked record.
    Update(Write),
    /// Change a record's associations (fields mapped through `link:PAIR`):
    /// an item of its own, since it does not move the modified time.
    Associate(Write),
    /// A conflict left for a human (`skip`) or settled without a write.
    Conflict(Held),
    /// A linked record disappeared from one side: forget the link.
    Unlink(Unlink),
    /// A linked record was deleted on one side (`deletes = "propagate"`):
    /// delete its partner (HubSpot archives, Pipedrive deletes).
    Delete(Delete),
    /// A record that cannot be synced as mapped (a value with no
    /// translation, a value its target cannot take); reported as a failure.
    Invalid(Invalid),
    /// Record the base only (both sides already agree); not shown.
    Baseline(Agreement),
    /// Records merged in one account, as a link found them: the link
    /// follows the merge, or is spent, or its partner faces the same record
    /// as another link's partner (reported, or merged too with
    /// `merges = "propagate"`).
    Merge(Merge),
}

/// Two linked (or newly matched) records whose agreeing values become the
/// base.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    pub ids: Sided<String>,
    /// What a human recognises the record by (email, deal name).
    pub label: String,
    pub settle: Vec<Settle>,
    /// The modified times the item was planned on.
    pub expect: Sided<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    pub target: Side,
    /// The id of the record copied, on the other side.
    pub source_id: String,
    pub label: String,
    pub changes: Vec<Change>,
    /// The source's modified time when planned.
    pub expect: i64,
}

/// An update or association write to one side of a linked pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub target: Side,
    pub ids: Sided<String>,
    pub label: String,
    pub changes: Vec<Change>,
    /// Conflicts this write settles (the winner's value is written).
    pub conflicts: Vec<Conflict>,
    pub expect: Sided<i64>,
}

/// Conflicts not written anywhere: left for a human, or kept on the side
/// the direction allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub ids: Sided<String>,
    pub label: String,
    pub conflicts: Vec<Conflict>,
    /// Base entries recorded for conflicts settled by the direction.
    pub settle: Vec<Settle>,
    pub expect: Sided<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unlink {
    pub ids: Sided<String>,
    pub label: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    /// The side whose record is deleted (the survivor of the pair).
    pub target: Side,
    pub ids: Sided<String>,
    pub label: String,
    pub reason: String,
    /// The target's modified time when planned.
    pub expect: i64,
}

/// A link whose records were merged into others (see `MergeStep`).
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// The records the link held.
    pub was: Sided<String>,
    /// The records those are part of now (the same id where a side was
    /// not merged).
    pub now: Sided<String>,
    pub label: String,
    pub step: MergeStep,
    /// The modified times of `now` when planned.
    pub expect: Sided<i64>,
}

/// What a merge item does.
#[derive(Debug, Clone, PartialEq)]
pub enum MergeStep {
    /// The link moves to `now`, keeping its base (state only).
    Follow,
    /// Another link holds `now` already: this one is dropped (state only).
    Spent,
    /// Another link holds `now[side]`, with `kept` as its partner:
    /// `now[side.other()]` faces the same record as `kept`. Reported, or
    /// with `propagate` merged into `kept` (whose values win).
    Partners {
        side: Side,
        kept: String,
        propagate: bool,
    },
    /// One side's record is gone (`now` holds its old id there): the link
    /// is dropped and, as for a delete, neither record is copied across
    /// again; nothing is deleted (state only).
    Orphaned,
}

impl Merge {
    /// Returns true if and only if the item only reports (partners left
    /// for a human).
    pub fn is_notice(&self) -> bool {
        matches!(
            self.step,
            MergeStep::Partners {
                propagate: false,
                ..
            }
        )
    }

    /// The side a propagated merge writes to.
    pub fn target(&self) -> Option<Side> {
        match self.step {
            MergeStep::Partners {
                side,
                propagate: true,
                ..
            } => Some(side.other()),
            _ => None,
        }
    }

    /// "us 1 was merged into us 9" for each side whose record was merged.
    pub fn describe(&self, names: &Sided<&str>) -> String {
        let moved: Vec<String> = Side::BOTH
            .into_iter()
            .filter(|side| self.was[*side] != self.now[*side])
            .map(|side| {
                let system = names[side];
                format!(
                    "{system} {} was merged into {system} {}",
                    self.was[side], self.now[side]
                )
            })
            .collect();
        let mut text = moved.join(" and ");
        match &self.step {
            MergeStep::Follow => text.push_str(&format!(
                "; the link follows: {} {} = {} {}",
                names.left, self.now.left, names.right, self.now.right
            )),
            MergeStep::Spent => text.push_str("; they are linked already, the old link is dropped"),
            MergeStep::Orphaned => {
                let gone: Vec<String> = Side::BOTH
                    .into_iter()
                    .filter(|side| self.expect[*side] == 0)
                    .map(|side| format!("{} {}", names[side], self.was[side]))
                    .collect();
                text.push_str(&format!(
                    "; {} is gone: the link is dropped, nothing is deleted or copied across",
                    gone.join(" and ")
                ));
            }
            MergeStep::Partners {
                side,
                kept,
                propagate,
            } => {
                let other = side.other();
                let system = names[other];
                text.push_str(&format!(
                    "; {system} {} faces the same record as {system} {kept}",
                    self.now[other]
                ));
                if *propagate {
                    text.push_str(&format!(": merging it into {system} {kept}"));
                } else {
                    text.push_str(&format!(
                        ": left alone (merge them in {system}, or set merges = \"propagate\")"
                    ));
                }
            }
        }
        text
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The records concerned: one (a record that cannot be created) or both.
    pub ids: Sided<Option<String>>,
    pub label: String,
    pub problems: Vec<String>,
    pub conflicts: Vec<Conflict>,
}

impl Item {
    pub fn action(&self) -> Action {
        match self {
            Item::Link(_) => Action::Link,
            Item::Create(_) => Action::Create,
            Item::Update(_) => Action::Update,
            Item::Associate(_) => Action::Associate,
            Item::Conflict(_) => Action::Conflict,
            Item::Unlink(_) => Action::Unlink,
            Item::Delete(_) => Action::Delete,
            Item::Invalid(_) => Action::Invalid,
            Item::Baseline(_) => Action::Baseline,
            Item::Merge(_) => Action::Merge,
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Item::Link(a) | Item::Baseline(a) => &a.label,
            Item::Create(c) => &c.label,
            Item::Update(w) | Item::Associate(w) => &w.label,
            Item::Conflict(h) => &h.label,
            Item::Unlink(u) => &u.label,
            Item::Delete(d) => &d.label,
            Item::Invalid(i) => &i.label,
            Item::Merge(m) => &m.label,
        }
    }

    /// The id of the record on `side` the item concerns, if it names one.
    pub fn id(&self, side: Side) -> Option<&str> {
        match self {
            Item::Link(a) | Item::Baseline(a) => Some(&a.ids[side]),
            Item::Create(c) => (side != c.target).then_some(c.source_id.as_str()),
            Item::Update(w) | Item::Associate(w) => Some(&w.ids[side]),
            Item::Conflict(h) => Some(&h.ids[side]),
            Item::Unlink(u) => Some(&u.ids[side]),
            Item::Delete(d) => Some(&d.ids[side]),
            Item::Invalid(i) => i.ids[side].as_deref(),
            Item::Merge(m) => Some(&m.now[side]),
        }
    }

    /// The side written, for the items that write.
    pub fn target(&self) -> Option<Side> {
        match self {
            Item::Create(c) => Some(c.target),
            Item::Update(w) | Item::Associate(w) => Some(w.target),
            Item::Delete(d) => Some(d.target),
            Item::Merge(m) => m.target(),
            _ => None,
        }
    }

    /// The modified time of the record on `side` the item was planned on.
    pub fn expect(&self, side: Side) -> Option<i64> {
        match self {
            Item::Link(a) | Item::Baseline(a) => Some(a.expect[side]),
            Item::Create(c) => (side != c.target).then_some(c.expect),
            Item::Update(w) | Item::Associate(w) => Some(w.expect[side]),
            Item::Conflict(h) => Some(h.expect[side]),
            Item::Delete(d) => (side == d.target).then_some(d.expect),
            // A record an orphaned merge found gone has no modified time.
            Item::Merge(m) => (m.expect[side] != 0).then_some(m.expect[side]),
            Item::Unlink(_) | Item::Invalid(_) => None,
        }
    }

    /// The conflicts the item reports.
    pub fn conflicts(&self) -> &[Conflict] {
        match self {
            Item::Update(w) | Item::Associate(w) => &w.conflicts,
            Item::Conflict(h) => &h.conflicts,
            Item::Invalid(i) => &i.conflicts,
            _ => &[],
        }
    }

    /// Returns true if and only if applying the item settles a conflict:
    /// a write of the winner's value, or a conflict item no field of which
    /// is left for a human.
    pub fn settles_conflict(&self) -> bool {
        match self {
            Item::Update(w) | Item::Associate(w) => w.conflicts.iter().any(|c| c.applied),
            Item::Conflict(h) => h.conflicts.iter().all(|c| c.winner.is_some()),
            _ => false,
        }
    }

    /// The fields the item writes.
    pub fn changes(&self) -> &[Change] {
        match self {
            Item::Create(c) => &c.changes,
            Item::Update(w) | Item::Associate(w) => &w.changes,
            _ => &[],
        }
    }

    /// The base entries the item records without a write.
    pub fn settle(&self) -> &[Settle] {
        match self {
            Item::Link(a) | Item::Baseline(a) => &a.settle,
            Item::Conflict(h) => &h.settle,
            _ => &[],
        }
    }

    /// Why the item is what it is: an invalid item's problems, or what an
    /// unlink or delete follows from.
    pub fn problems(&self) -> Vec<&str> {
        match self {
            Item::Invalid(i) => i.problems.iter().map(String::as_str).collect(),
            Item::Unlink(u) => vec![u.reason.as_str()],
            Item::Delete(d) => vec![d.reason.as_str()],
            _ => Vec::new(),
        }
    }

    /// Returns true if and only if applying the item writes to a CRM.
    pub fn writes(&self) -> bool {
        self.target().is_some()
    }

    /// Returns true if and only if applying the item changes a record or
    /// the link table (what `diff` calls drift). Partners of a merge left
    /// for a human are a notice, as duplicates are: reported on every run,
    /// and no drift.
    pub fn is_change(&self) -> bool {
        match self {
            Item::Baseline(_) => false,
            Item::Merge(m) => !m.is_notice(),
            _ => true,
        }
    }

    /// Returns true if and only if the plan shows the item: it is a change,
    /// or a notice.
    pub fn is_shown(&self) -> bool {
        self.is_change() || matches!(self, Item::Merge(m) if m.is_notice())
    }
}

/// What a forward reference starts with. Record ids of the systems crmsync
/// speaks are digits, so no id is taken for one.
const FORWARD_PREFIX: &str = "new:";

/// The forward reference to the record pair `pair` creates on its `target`
/// side from `source_id` in this run: `new:PAIR:SIDE:SOURCE_ID`. A later pair
/// of the same plan holds it where the record's id will be (a relation, or
/// the record it links or copies); the apply step puts the id in once the
/// create has answered. It names the create by what it copies, not by its
/// place in the plan, so a plan edited by hand cannot make it name another.
pub fn forward_ref(pair: &str, target: Side, source_id: &str) -> String {
    format!("{FORWARD_PREFIX}{pair}:{target}:{source_id}")
}

/// Returns true if and only if `id` is a forward reference (`forward_ref`):
/// a record of this run that has no id yet.
pub fn is_forward_ref(id: &str) -> bool {
    id.strip_prefix(FORWARD_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(pair, rest)| {
            !pair.is_empty()
                && pair
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && (rest.starts_with("left:") || rest.starts_with("right:"))
        })
}

/// The forward references a value holds: the value itself, or members of
/// a set of ids joined by `;` (a deal's contacts).
fn refs_in(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(';')
        .map(str::trim)
        .filter(|token| is_forward_ref(token))
}

/// `value` with each forward reference replaced by the id `known` gives it;
/// a set is sorted again, as the planner keeps it. `Err` names the first
/// reference `known` has no id for.
fn resolved(value: &str, known: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if refs_in(value).next().is_none() {
        return Ok(value.to_string());
    }
    let mut ids = value
        .split(';')
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .map(|token| {
            if is_forward_ref(token) {
                known(token).ok_or_else(|| token.to_string())
            } else {
                Ok(token.to_string())
            }
        })
        .collect::<Result<Vec<String>, String>>()?;
    ids.sort_by(|a, b| crate::model::id_order(a, b));
    Ok(ids.join(";"))
}

impl Item {
    /// Every id and value the item holds that a forward reference can
    /// stand in: record ids, and the values written, compared or recorded.
    fn ids_and_values_mut(&mut self) -> Vec<&mut String> {
        let mut held: Vec<&mut String> = Vec::new();
        let (ids, changes, conflicts, settle): (
            Vec<&mut String>,
            &mut [Change],
            &mut [Conflict],
            &mut [Settle],
        ) = match self {
            Item::Link(a) | Item::Baseline(a) => (
                vec![&mut a.ids.left, &mut a.ids.right],
                &mut [],
                &mut [],
                &mut a.settle,
            ),
            Item::Create(c) => (vec![&mut c.source_id], &mut c.changes, &mut [], &mut []),
            Item::Update(w) | Item::Associate(w) => (
                vec![&mut w.ids.left, &mut w.ids.right],
                &mut w.changes,
                &mut w.conflicts,
                &mut [],
            ),
            Item::Conflict(h) => (
                vec![&mut h.ids.left, &mut h.ids.right],
                &mut [],
                &mut h.conflicts,
                &mut h.settle,
            ),
            Item::Unlink(u) => (
                vec![&mut u.ids.left, &mut u.ids.right],
                &mut [],
                &mut [],
                &mut [],
            ),
            Item::Delete(d) => (
                vec![&mut d.ids.left, &mut d.ids.right],
                &mut [],
                &mut [],
                &mut [],
            ),
            Item::Invalid(i) => (
                i.ids
                    .left
                    .iter_mut()
                    .chain(i.ids.right.iter_mut())
                    .collect(),
                &mut [],
                &mut i.conflicts,
                &mut [],
            ),
            Item::Merge(m) => {
                let mut ids = vec![
                    &mut m.was.left,
                    &mut m.was.right,
                    &mut m.now.left,
                    &mut m.now.right,
                ];
                if let MergeStep::Partners { kept, .. } = &mut m.step {
                    ids.push(kept);
                }
                (ids, &mut [], &mut [], &mut [])
            }
        };
        held.extend(ids);
        for c in changes {
            held.extend([&mut c.from, &mut c.to, &mut c.source_value]);
        }
        for c in conflicts {
            held.extend([&mut c.left, &mut c.right]);
        }
        for s in settle {
            held.extend([&mut s.left, &mut s.right]);
        }
        held
    }

    /// Returns true if and only if the item holds a forward reference.
    pub fn has_forward_refs(&self) -> bool {
        let ids: Vec<&str> = match self {
            Item::Link(a) | Item::Baseline(a) => vec![&a.ids.left, &a.ids.right],
            Item::Create(c) => vec![&c.source_id],
            Item::Update(w) | Item::Associate(w) => vec![&w.ids.left, &w.ids.right],
            Item::Conflict(h) => vec![&h.ids.left, &h.ids.right],
            Item::Unlink(u) => vec![&u.ids.left, &u.ids.right],
            Item::Delete(d) => vec![&d.ids.left, &d.ids.right],
            Item::Invalid(i) => i.ids.iter().filter_map(|(_, id)| id.as_deref()).collect(),
            Item::Merge(m) => {
                let mut ids = vec![&m.was.left, &m.was.right, &m.now.left, &m.now.right];
                if let MergeStep::Partners { kept, .. } = &m.step {
                    ids.push(kept);
                }
                ids.into_iter().map(String::as_str).collect()
            }
        };
        let values = self
            .changes()
            .iter()
            .flat_map(|c| [&c.from, &c.to, &c.source_value])
            .chain(self.conflicts().iter().flat_map(|c| [&c.left, &c.right]))
            .chain(self.settle().iter().flat_map(|s| [&s.left, &s.right]));
        ids.into_iter()
            .chain(values.map(String::as_str))
            .any(|value| refs_in(value).next().is_some())
    }

    /// The forward references the item holds, each once.
    pub fn forward_refs(&self) -> Vec<String> {
        let mut item = self.clone();
        let mut refs: Vec<String> = item
            .ids_and_values_mut()
            .into_iter()
            .flat_map(|value| refs_in(value).map(str::to_string).collect::<Vec<_>>())
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// The item with every forward reference replaced by the id of the
    /// record it stands for, as `known` gives it; `Err` names a reference
    /// `known` has no id for (the create it waits on failed, is unknown,
    /// or is not in the plan): such an item must not be applied.
    pub fn resolve(&self, known: &dyn Fn(&str) -> Option<String>) -> Result<Item, String> {
        let mut item = self.clone();
        for value in item.ids_and_values_mut() {
            *value = resolved(value, known)?;
        }
        Ok(item)
    }

    /// The forward reference a later pair holds for the record this item
    /// creates; `None` for an item that creates nothing.
    pub fn created_ref(&self, pair: &str) -> Option<String> {
        match self {
            Item::Create(c) => Some(forward_ref(pair, c.target, &c.source_id)),
            _ => None,
        }
    }
}

/// One field written on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The target's field name.
    pub field: String,
    /// The target's value now (empty for a create).
    pub from: String,
    /// The value to write.
    pub to: String,
    /// Where it comes from: the source's field and value, recorded as the
    /// source's base once the write succeeds.
    pub source_field: String,
    pub source_value: String,
}

/// A field changed on both sides since the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The left field name.
    pub field: String,
    pub left: String,
    pub right: String,
    pub policy: ConflictPolicy,
    /// The side whose value is kept; `None` when the policy is `skip`.
    pub winner: Option<Side>,
    /// True when the winner's value is written to the other side.
    pub applied: bool,
}

/// A base entry recorded without a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settle {
    pub left_field: String,
    pub left: String,
    pub right_field: String,
    pub right: String,
}

/// Counts of what a plan would do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub associate: usize,
    pub link: usize,
    pub conflict: usize,
    pub unlink: usize,
    pub delete: usize,
    pub invalid: usize,
    pub duplicate: usize,
    /// Merge items: links following merges and partners of merged records.
    pub merge: usize,
}

impl Plan {
    pub fn new(config_fingerprint: &str, pairs: Vec<PairPlan>) -> Plan {
        let merges = pairs
            .iter()
            .flat_map(|p| &p.items)
            .any(|i| matches!(i, Item::Merge(_)));
        Plan {
            format: FORMAT.into(),
            version: if merges {
                VERSION
            } else {
                VERSION_WITHOUT_MERGES
            },
            created_at_ms: crate::timestamp::now_ms(),
            config_fingerprint: config_fingerprint.into(),
            pairs,
        }
    }

    /// Returns true if and only if applying the plan would change nothing.
    pub fn is_empty(&self) -> bool {
        !self
            .pairs
            .iter()
            .flat_map(|p| &p.items)
            .any(Item::is_change)
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for pair in &self.pairs {
            s.duplicate += pair.duplicates.iter().map(|d| d.extra.len()).sum::<usize>();
            for item in &pair.items {
                match item.action() {
                    Action::Create => s.create += 1,
                    Action::Update => s.update += 1,
                    Action::Associate => s.associate += 1,
                    Action::Link => s.link += 1,
                    Action::Conflict => s.conflict += 1,
                    Action::Unlink => s.unlink += 1,
                    Action::Delete => s.delete += 1,
                    Action::Invalid => s.invalid += 1,
                    Action::Merge => s.merge += 1,
                    Action::Baseline => {}
                }
                // A write that settles a conflict counts once, as a
                // conflict item does: both are one record's conflict.
                if item.settles_conflict() && item.writes() {
                    s.conflict += 1;
                }
            }
        }
        s
    }

    /// Checks that every forward reference names a create of an earlier
    /// pair of this plan, as planning makes them; returns one line per
    /// reference that does not (the create was removed, or the plan was
    /// put together by hand).
    pub fn dangling_refs(&self) -> Vec<String> {
        let mut creates = std::collections::HashSet::new();
        let mut dangling = Vec::new();
        for pair in &self.pairs {
            for item in pair.items.iter().filter(|i| i.has_forward_refs()) {
                for reference in item.forward_refs() {
                    if !creates.contains(&reference) {
                        dangling.push(format!(
                            "{} {} waits for {reference}, which no earlier pair of the plan creates",
                            pair.name,
                            item.label()
                        ));
                    }
                }
            }
            creates.extend(pair.items.iter().filter_map(|i| i.created_ref(&pair.name)));
        }
        dangling
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        files::write_atomic(path, &bytes)
    }

    pub fn load(path: &Path) -> Result<Plan> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read plan {}; make one with `crmsync diff --out {}`",
                path.display(),
                path.display()
            )
        })?;
        let plan: Plan = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a crmsync plan (or is damaged); make a new one with `crmsync diff --out`", path.display()))?;
        if plan.format != FORMAT || !(VERSION_WITHOUT_MERGES..=VERSION).contains(&plan.version) {
            bail!(
                "{} is a {} v{} document; this crmsync applies {FORMAT} v{VERSION}",
                path.display(),
                plan.format,
                plan.version
            );
        }
        Ok(plan)
    }
}

fn system_of(endpoint: &str) -> &str {
    endpoint.split('.').next().unwrap_or(endpoint)
}

fn quoted(v: &str) -> String {
    format!("{v:?}")
}

impl fmt::Display for PairPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = Sided::new(system_of(&self.left), system_of(&self.right));
        writeln!(f, "{}  ({} <-> {})", self.name, self.left, self.right)?;
        for item in self.items.iter().filter(|i| i.is_shown()) {
            item.write_line(f, &names)?;
            for c in item.conflicts() {
                let outcome = match (c.winner, c.applied) {
                    (None, _) => "left for you (conflict = skip)".to_string(),
                    (Some(w), true) => format!("{} wins ({:?})", names[w], c.policy).to_lowercase(),
                    (Some(w), false) => format!(
                        "{} kept; direction forbids writing the other side",
                        names[w]
                    ),
                };
                writeln!(
                    f,
                    "        ! {}: {} {} | {} {} -> {outcome}",
                    c.field,
                    names.left,
                    quoted(&c.left),
                    names.right,
                    quoted(&c.right)
                )?;
            }
        }
        for d in &self.duplicates {
            let system = names[d.side];
            writeln!(
                f,
                "  ? {system:<6} duplicate {}  {system} {} share it with {system} {}; left alone (merge them in {system})",
                d.key,
                d.extra.join(", "),
                d.kept
            )?;
        }
        Ok(())
    }
}

impl Item {
    /// The item's line in the printed plan; `names` are the two systems.
    fn write_line(&self, f: &mut fmt::Formatter<'_>, names: &Sided<&str>) -> fmt::Result {
        let ids = |ids: Sided<Option<&str>>| {
            ids.iter()
                .filter_map(|(side, id)| id.map(|id| format!("{} {id}", names[side])))
                .collect::<Vec<_>>()
                .join(" = ")
        };
        let both = |pair: &Sided<String>| ids(pair.as_ref().map(|id| Some(id.as_str())));
        match self {
            Item::Create(c) => {
                let values: Vec<_> = c
                    .changes
                    .iter()
                    .filter(|ch| !ch.to.is_empty())
                    .map(|ch| format!("{}={}", ch.field, quoted(&ch.to)))
                    .collect();
                writeln!(
                    f,
                    "  + {:<6} create    {}  (from {} {})  {}",
                    names[c.target],
                    c.label,
                    names[c.target.other()],
                    c.source_id,
                    values.join(" ")
                )
            }
            Item::Update(w) | Item::Associate(w) => {
                let verb = if matches!(self, Item::Update(_)) {
                    "update   "
                } else {
                    "associate"
                };
                writeln!(
                    f,
                    "  ~ {:<6} {verb} {} ({})",
                    names[w.target], w.label, w.ids[w.target]
                )?;
                for c in &w.changes {
                    writeln!(
                        f,
                        "        {}: {} -> {}",
                        c.field,
                        quoted(&c.from),
                        quoted(&c.to)
                    )?;
                }
                Ok(())
            }
            Item::Link(a) => writeln!(f, "  = {:<6} link      {}  {}", "", a.label, both(&a.ids)),
            Item::Conflict(h) => {
                writeln!(f, "  ! {:<6} conflict  {}  {}", "", h.label, both(&h.ids))
            }
            Item::Unlink(u) => writeln!(
                f,
                "  x {:<6} unlink    {}  {}  ({})",
                "",
                u.label,
                both(&u.ids),
                u.reason
            ),
            Item::Delete(d) => writeln!(
                f,
                "  - {:<6} delete    {} ({})  ({})",
                names[d.target], d.label, d.ids[d.target], d.reason
            ),
            Item::Invalid(i) => writeln!(
                f,
                "  ! {:<6} invalid   {}  {}: {}",
                "",
                i.label,
                ids(i.ids.as_ref().map(|id| id.as_deref())),
                i.problems.join("; ")
            ),
            Item::Merge(m) => {
                let shown = match m.target() {
                    Some(target) => names[target],
                    None => "",
                };
                writeln!(
                    f,
                    "  > {shown:<6} merge     {}  {}",
                    m.label,
                    m.describe(names)
                )
            }
            Item::Baseline(_) => Ok(()),
        }
    }
}

/// An item as the JSON plan writes it (format version 1): one shape for
/// every action, with the fields an action does not use left out. Only
/// this type knows that shape; loading checks that each action has what
/// it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireItem {
    action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    right_id: Option<String>,
    label: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conflicts: Vec<Conflict>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    settle: Vec<Settle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
    /// A `merge` item's link as it was and what it does (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merge: Option<WireMerge>,
}

/// What a `merge` item holds beyond the ids it names now.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireMerge {
    /// `follow`, `spent` or `partners`.
    step: String,
    was_left_id: String,
    was_right_id: String,
    /// For `partners`: the side whose record another link holds, and that
    /// link's partner on the other side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    side: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    propagate: bool,
}

/// The modified times an item was planned on, as the JSON plan writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left_updated_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    right_updated_ms: Option<i64>,
}

impl From<Item> for WireItem {
    fn from(item: Item) -> WireItem {
        let action = item.action();
        let expect = Sided::from_fn(|side| item.expect(side));
        let expect = (expect.left.is_some() || expect.right.is_some()).then_some(Expect {
            left_updated_ms: expect.left,
            right_updated_ms: expect.right,
        });
        let mut wire = WireItem {
            action,
            target: item.target(),
            left_id: item.id(Side::Left).map(str::to_string),
            right_id: item.id(Side::Right).map(str::to_string),
            label: item.label().to_string(),
            changes: Vec::new(),
            conflicts: item.conflicts().to_vec(),
            settle: Vec::new(),
            expect,
            problems: Vec::new(),
            merge: None,
        };
        match item {
            Item::Link(a) | Item::Baseline(a) => wire.settle = a.settle,
            Item::Create(c) => wire.changes = c.changes,
            Item::Update(w) | Item::Associate(w) => wire.changes = w.changes,
            Item::Conflict(h) => wire.settle = h.settle,
            Item::Unlink(u) => wire.problems = vec![u.reason],
            Item::Delete(d) => wire.problems = vec![d.reason],
            Item::Invalid(i) => wire.problems = i.problems,
            Item::Merge(m) => {
                let (step, side, kept_id, propagate) = match m.step {
                    MergeStep::Follow => ("follow", None, None, false),
                    MergeStep::Spent => ("spent", None, None, false),
                    MergeStep::Orphaned => ("orphaned", None, None, false),
                    MergeStep::Partners {
                        side,
                        kept,
                        propagate,
                    } => ("partners", Some(side), Some(kept), propagate),
                };
                wire.merge = Some(WireMerge {
                    step: step.to_string(),
                    was_left_id: m.was.left,
                    was_right_id: m.was.right,
                    side,
                    kept_id,
                    propagate,
                });
            }
        }
        wire
    }
}

impl TryFrom<WireItem> for Item {
    type Error = String;

    fn try_from(w: WireItem) -> Result<Item, String> {
        let action = format!("{:?}", w.action).to_lowercase();
        let missing = |what: &str| format!("a `{action}` item without {what}");
        let ids = || match (&w.left_id, &w.right_id) {
            (Some(l), Some(r)) => Ok(Sided::new(l.clone(), r.clone())),
            _ => Err(missing("both record ids")),
        };
        let stamp = |side: Side| {
            w.expect
                .and_then(|e| match side {
                    Side::Left => e.left_updated_ms,
                    Side::Right => e.right_updated_ms,
                })
                .ok_or_else(|| missing("the modified times it was planned on"))
        };
        let stamps = || Ok::<_, String>(Sided::new(stamp(Side::Left)?, stamp(Side::Right)?));
        let target = || w.target.ok_or_else(|| missing("a target side"));
        let reason = || w.problems.join("; ");
        let agreement = || {
            Ok::<_, String>(Agreement {
                ids: ids()?,
                label: w.label.clone(),
                settle: w.settle.clone(),
                expect: stamps()?,
            })
        };
        let write = || {
            Ok::<_, String>(Write {
                target: target()?,
                ids: ids()?,
                label: w.label.clone(),
                changes: w.changes.clone(),
                conflicts: w.conflicts.clone(),
                expect: stamps()?,
            })
        };
        Ok(match w.action {
            Action::Link => Item::Link(agreement()?),
            Action::Baseline => Item::Baseline(agreement()?),
            Action::Create => {
                let target = target()?;
                let source = match target {
                    Side::Left => &w.right_id,
                    Side::Right => &w.left_id,
                };
                Item::Create(Create {
                    target,
                    source_id: source.clone().ok_or_else(|| missing("its source id"))?,
                    label: w.label.clone(),
                    changes: w.changes.clone(),
                    expect: stamp(target.other())?,
                })
            }
            Action::Update => Item::Update(write()?),
            Action::Associate => Item::Associate(write()?),
            Action::Conflict => Item::Conflict(Held {
                ids: ids()?,
                label: w.label.clone(),
                conflicts: w.conflicts.clone(),
                settle: w.settle.clone(),
                expect: stamps()?,
            }),
            Action::Unlink => Item::Unlink(Unlink {
                ids: ids()?,
                label: w.label.clone(),
                reason: reason(),
            }),
            Action::Delete => {
                let target = target()?;
                Item::Delete(Delete {
                    target,
                    ids: ids()?,
                    label: w.label.clone(),
                    reason: reason(),
                    expect: stamp(target)?,
                })
            }
            Action::Invalid => Item::Invalid(Invalid {
                ids: Sided::new(w.left_id.clone(), w.right_id.clone()),
                label: w.label.clone(),
                problems: w.problems.clone(),
                conflicts: w.conflicts.clone(),
            }),
            Action::Merge => {
                let merge = w
                    .merge
                    .as_ref()
                    .ok_or_else(|| missing("the link it found merged"))?;
                let step = match merge.step.as_str() {
                    "follow" => MergeStep::Follow,
                    "spent" => MergeStep::Spent,
                    "orphaned" => MergeStep::Orphaned,
                    "partners" => MergeStep::Partners {
                        side: merge
                            .side
                            .ok_or_else(|| missing("the side of the kept partner"))?,
                        kept: merge
                            .kept_id
                            .clone()
                            .ok_or_else(|| missing("the kept partner"))?,
                        propagate: merge.propagate,
                    },
                    other => return Err(format!("a `merge` item with an unknown step `{other}`")),
                };
                let stamp_or_gone = |side| match step {
                    MergeStep::Orphaned => Ok(stamp(side).unwrap_or(0)),
                    _ => stamp(side),
                };
                let item = Merge {
                    was: Sided::new(merge.was_left_id.clone(), merge.was_right_id.clone()),
                    now: ids()?,
                    label: w.label.clone(),
                    expect: Sided::new(stamp_or_gone(Side::Left)?, stamp_or_gone(Side::Right)?),
                    step,
                };
                if item.target() != w.target {
                    return Err(missing("the side it writes to"));
                }
                Item::Merge(item)
            }
        })
    }
}

/// `n` and the noun, in the singular for one ("1 conflict", "2 conflicts").
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |n: usize| n as u64;
        write!(
            f,
            "{} to create, {} to update, {} to associate, {} to delete, {} to link, {}, {} to unlink, {} invalid, {}",
            self.create,
            self.update,
            self.associate,
            self.delete,
            self.link,
            counted(n(self.conflict), "conflict", "conflicts"),
            self.unlink,
            self.invalid,
            counted(n(self.duplicate), "duplicate", "duplicates"),
        )?;
        if self.merge > 0 {
            write!(f, ", {}", counted(n(self.merge), "merge", "merges"))?;
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A pair with nothing to show is left out, so cron mail stays short.
        for pair in self
            .pairs
            .iter()
            .filter(|p| p.items.iter().any(Item::is_shown) || !p.duplicates.is_empty())
        {
            write!(f, "{pair}")?;
        }
        let summary = self.summary();
        if self.is_empty() && summary.merge > 0 {
            writeln!(
                f,
                "Plan: nothing to do; {} merged records left for you (>).",
                summary.merge
            )
        } else if self.is_empty() {
            writeln!(f, "Plan: nothing to do, both sides are in step.")
        } else {
            writeln!(f, "Plan: {summary}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Sided<String> {
        Sided::new("1".to_string(), "9".to_string())
    }

    fn change() -> Change {
        Change {
            field: "email".into(),
            from: String::new(),
            to: "a@x.io".into(),
            source_field: "email".into(),
            source_value: "a@x.io".into(),
        }
    }

    fn every_kind() -> Vec<Item> {
        let agreement = Agreement {
            ids: ids(),
            label: "a@x.io".into(),
            settle: vec![Settle {
                left_field: "email".into(),
                left: "a@x.io".into(),
                right_field: "email".into(),
                right: "a@x.io".into(),
            }],
            expect: Sided::new(5, 6),
        };
        let write = Write {
            target: Side::Right,
            ids: ids(),
            label: "a@x.io".into(),
            changes: vec![change()],
            conflicts: Vec::new(),
            expect: Sided::new(5, 6),
        };
        vec![
            Item::Link(agreement.clone()),
            Item::Create(Create {
                target: Side::Left,
                source_id: "9".into(),
                label: "a@x.io".into(),
                changes: vec![change()],
                expect: 6,
            }),
            Item::Update(write.clone()),
            Item::Associate(write),
            Item::Conflict(Held {
                ids: ids(),
                label: "a@x.io".into(),
                conflicts: Vec::new(),
                settle: Vec::new(),
                expect: Sided::new(5, 6),
            }),
            Item::Unlink(Unlink {
                ids: ids(),
                label: "a@x.io".into(),
                reason: "deleted on both sides".into(),
            }),
            Item::Delete(Delete {
                target: Side::Left,
                ids: ids(),
                label: "a@x.io".into(),
                reason: "deleted on the right side".into(),
                expect: 5,
            }),
            Item::Invalid(Invalid {
                ids: Sided::new(Some("1".into()), None),
                label: "a@x.io".into(),
                problems: vec!["no translation".into()],
                conflicts: Vec::new(),
            }),
            Item::Baseline(agreement),
            Item::Merge(merge(MergeStep::Follow)),
            Item::Merge(merge(MergeStep::Spent)),
            Item::Merge(Merge {
                expect: Sided::new(5, 0),
                ..merge(MergeStep::Orphaned)
            }),
            Item::Merge(merge(MergeStep::Partners {
                side: Side::Left,
                kept: "8".into(),
                propagate: true,
            })),
        ]
    }

    /// us 2 (linked to eu 9) was merged into us 1.
    fn merge(step: MergeStep) -> Merge {
        Merge {
            was: Sided::new("2".into(), "9".into()),
            now: ids(),
            label: "a@x.io".into(),
            step,
            expect: Sided::new(5, 6),
        }
    }

    #[test]
    fn merges_read_as_what_happened_and_only_plans_with_them_are_version_2() {
        let plain = Plan::new("x", Vec::new());
        assert_eq!(plain.version, 1, "older crmsync still applies it");
        let pair = |step| PairPlan {
            name: "people".into(),
            left: "us.contacts".into(),
            right: "eu.contacts".into(),
            items: vec![Item::Merge(merge(step))],
            duplicates: Vec::new(),
            records: 2,
        };
        let partners = |propagate| MergeStep::Partners {
            side: Side::Left,
            kept: "8".into(),
            propagate,
        };
        let reported = Plan::new("x", vec![pair(partners(false))]);
        assert_eq!(reported.version, 2);
        assert!(
            reported.is_empty(),
            "partners left for a human are no drift"
        );
        assert_eq!(
            reported.to_string(),
            "people  (us.contacts <-> eu.contacts)\n  >        merge     a@x.io  us 2 was merged into us 1; eu 9 faces the same record as eu 8: left alone (merge them in eu, or set merges = \"propagate\")\nPlan: nothing to do; 1 merged records left for you (>).\n"
        );
        let propagated = Plan::new("x", vec![pair(partners(true))]);
        let text = propagated.to_string();
        assert!(
            !propagated.is_empty() && propagated.pairs[0].items[0].target() == Some(Side::Right)
        );
        assert!(text.contains("  > eu     merge     a@x.io  us 2 was merged into us 1; eu 9 faces the same record as eu 8: merging it into eu 8"), "{text}");
        let follow = Plan::new("x", vec![pair(MergeStep::Follow)]).to_string();
        assert!(
            follow.contains("us 2 was merged into us 1; the link follows: us 1 = eu 9"),
            "{follow}"
        );
    }

    #[test]
    fn every_kind_of_item_survives_the_json_plan_unchanged() {
        for item in every_kind() {
            let json = serde_json::to_value(&item).unwrap();
            assert_eq!(json["action"], serde_json::to_value(item.action()).unwrap());
            let back: Item = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back, item, "{json}");
        }
        let create = serde_json::to_value(&every_kind()[1]).unwrap();
        assert_eq!(
            create,
            serde_json::json!({
                "action": "create", "target": "left", "right_id": "9", "label": "a@x.io",
                "changes": [{"field": "email", "from": "", "to": "a@x.io", "source_field": "email", "source_value": "a@x.io"}],
                "expect": {"right_updated_ms": 6},
            })
        );
    }

    #[test]
    fn forward_references_in_ids_and_sets_resolve_and_survive_the_json_plan() {
        let reference = forward_ref("companies", Side::Right, "12");
        assert_eq!(reference, "new:companies:right:12");
        assert!(is_forward_ref(&reference));
        for not_one in [
            "12",
            "new:",
            "new:a b:left:1",
            "new:x:up:1",
            "renew:x:left:1",
        ] {
            assert!(!is_forward_ref(not_one), "{not_one}");
        }
        let nested = forward_ref(
            "contacts",
            Side::Left,
            &forward_ref("people", Side::Left, "3"),
        );
        assert!(is_forward_ref(&nested));
        let mut associate = every_kind()[3].clone();
        let Item::Associate(w) = &mut associate else {
            unreachable!()
        };
        w.changes[0].to = format!("900;{reference};15");
        w.ids.left = nested.clone();
        assert!(associate.has_forward_refs());
        assert_eq!(
            associate.forward_refs(),
            vec![reference.clone(), nested.clone()]
        );
        let json = serde_json::to_value(&associate).unwrap();
        let back: Item = serde_json::from_value(json).unwrap();
        assert_eq!(back, associate, "a reference is kept as written");
        let known = |r: &str| match r {
            "new:companies:right:12" => Some("20".to_string()),
            "new:contacts:left:new:people:left:3" => Some("5".to_string()),
            _ => None,
        };
        let ready = back.resolve(&known).unwrap();
        assert!(!ready.has_forward_refs());
        assert_eq!(ready.id(Side::Left), Some("5"));
        // A set stays sorted as the planner keeps it.
        assert_eq!(ready.changes()[0].to, "15;20;900");
        let only_one = |r: &str| (r == reference).then(|| "20".to_string());
        assert_eq!(back.resolve(&only_one).unwrap_err(), nested);
        // Items with no reference are returned as they are.
        for item in every_kind() {
            assert!(!item.has_forward_refs());
            assert_eq!(item.resolve(&|_| None).unwrap(), item);
        }
    }

    #[test]
    fn summary_counts_a_record_conflict_once_and_speaks_in_the_singular_for_one() {
        let conflict = |winner: Option<Side>, applied: bool| Conflict {
            field: "firstname".into(),
            left: "A".into(),
            right: "B".into(),
            policy: ConflictPolicy::Newest,
            winner,
            applied,
        };
        let mut settled = every_kind()[2].clone();
        if let Item::Update(w) = &mut settled {
            w.conflicts = vec![
                conflict(Some(Side::Left), true),
                conflict(Some(Side::Left), true),
            ];
        }
        assert!(settled.settles_conflict());
        let held = |winner| {
            Item::Conflict(Held {
                ids: ids(),
                label: "a@x.io".into(),
                conflicts: vec![conflict(winner, false)],
                settle: Vec::new(),
                expect: Sided::new(5, 6),
            })
        };
        assert!(held(Some(Side::Right)).settles_conflict());
        assert!(!held(None).settles_conflict());
        let plan = |items: Vec<Item>| {
            Plan::new(
                "f",
                vec![PairPlan {
                    name: "p".into(),
                    left: "a.contacts".into(),
                    right: "b.contacts".into(),
                    items,
                    duplicates: Vec::new(),
                    records: 1,
                }],
            )
        };
        assert_eq!(
            plan(vec![settled.clone()]).summary().to_string(),
            "0 to create, 1 to update, 0 to associate, 0 to delete, 0 to link, 1 conflict, 0 to unlink, 0 invalid, 0 duplicates"
        );
        assert_eq!(plan(vec![settled, held(None)]).summary().conflict, 2);
        assert_eq!(counted(1u64, "record", "records"), "1 record");
        assert_eq!(counted(0u64, "record", "records"), "0 records");
    }

    #[test]
    fn a_saved_item_missing_what_its_action_needs_is_refused() {
        for broken in [
            serde_json::json!({"action": "update", "target": "right", "left_id": "1", "label": "x", "expect": {"left_updated_ms": 1, "right_updated_ms": 2}}),
            serde_json::json!({"action": "create", "left_id": "1", "label": "x", "expect": {"left_updated_ms": 1}}),
            serde_json::json!({"action": "delete", "target": "left", "left_id": "1", "right_id": "9", "label": "x"}),
        ] {
            let error = serde_json::from_value::<Item>(broken.clone()).unwrap_err();
            assert!(
                error.to_string().contains("item without"),
                "{broken}: {error}"
            );
        }
    }
}
