//! The items of a plan and their data: what each action does to which
//! records, with the values it writes and the times it was planned on, and
//! the counts of a plan. It knows neither the printed nor the JSON form
//! (`text`, `wire`) and never touches the network or the state.

use crate::config::ConflictPolicy;
use crate::connector::{OptionSpec, PropertyKind, PropertySpec};
use crate::model::{Side, Sided};
use serde::{Deserialize, Serialize};

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
    Waiting,
    /// A linked record left the pair's scope (the link sleeps) or came back.
    Scope,
    /// A property created on an account, or given options it lacks.
    Property,
    /// Relations a target cannot clear, kept there and recorded as settled.
    Kept,
}

/// One thing a plan does to one record or pair of records. Each variant
/// holds exactly what it needs: an item that cannot be carried out cannot
/// be built (or loaded from a saved plan). Its `Display` line is in
/// `text.rs`, its JSON form in `wire.rs`, its apply step in `apply.rs`.
#[derive(Debug, Clone, PartialEq)]
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
    /// A record that waits for the records it is attached to (a note whose
    /// contact or deal has no partner yet), or for its partner, found by
    /// the match key out of the pair's scope, to enter it: nothing is
    /// written, and it lands in the run that links them. Reported, never
    /// failed.
    Waiting(Waiting),
    /// A linked record left the pair's scope: its link is kept and nothing
    /// is written either way until it is back (state only); or it came
    /// back, and is merged against the stored base again.
    Scope(ScopeChange),
    /// A property the side written lacks, created there (or options added
    /// to it) before any record is written (`schema = "create"`); with a
    /// problem, one that cannot be made, reported as invalid.
    Property(Property),
    /// Relations the target cannot clear, kept there: the other side's
    /// record lost them (a contact removed from a HubSpot note whose
    /// Pipedrive partner cannot be detached from its person). Nothing is
    /// written; the base records both sides' values as they are, so it is
    /// reported once and not planned again (state only).
    Kept(Kept),
}

/// Relations kept on `target` that the other side's record no longer has.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// The side that keeps them.
    pub target: Side,
    pub ids: Sided<String>,
    pub label: String,
    /// One line per relation kept: which record it stays on, and why.
    pub reasons: Vec<String>,
    /// The base entries recorded: both sides' values as they are.
    pub settle: Vec<Settle>,
    pub expect: Sided<i64>,
}

/// A record waiting for its records' partners, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// The records concerned: one (a record not created yet) or both.
    pub ids: Sided<Option<String>>,
    pub label: String,
    pub reason: String,
}

/// A linked record that left the pair's scope on `side`, or came back.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeChange {
    pub ids: Sided<String>,
    pub label: String,
    /// The side whose record left (or, `entered`, the side it had left).
    pub side: Side,
    pub entered: bool,
}

/// A change to the schema of the side a pair writes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub target: Side,
    /// The target's name for the field.
    pub field: String,
    /// `object.field`, as the plan shows it.
    pub label: String,
    pub step: PropertyStep,
    /// For a create: the source's kind, where the target has no field of
    /// that kind and the copy is made as the nearest one.
    pub from_kind: Option<PropertyKind>,
    /// Why it cannot be made (the item is then invalid and writes nothing).
    pub problem: Option<String>,
}

/// What a property item does.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyStep {
    /// Create the property as described (copied from the other side).
    Create(PropertySpec),
    /// Add these options to the property; `had` is how many it held when
    /// planned (a plan made on other options is stale).
    AddOptions {
        options: Vec<OptionSpec>,
        had: usize,
    },
}

impl Property {
    /// Returns true if and only if applying the item writes to a CRM.
    pub fn writes(&self) -> bool {
        self.problem.is_none()
    }
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
    /// What the item cannot do that a reader should know (a scope the
    /// created record cannot be written into).
    pub notes: Vec<String>,
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
    /// True if and only if crmsync is sure there was a merge: the vendor
    /// said so, or the survivor took the merged record's match value. An
    /// unconfirmed merge (its traces are those of a delete too) is
    /// followed but never written: `propagate` is then always false.
    pub confirmed: bool,
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
    /// for a human, among them those of a merge crmsync could not confirm).
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
            Item::Waiting(_) => Action::Waiting,
            Item::Scope(_) => Action::Scope,
            Item::Property(p) if p.problem.is_some() => Action::Invalid,
            Item::Property(_) => Action::Property,
            Item::Kept(_) => Action::Kept,
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
            Item::Waiting(w) => &w.label,
            Item::Scope(s) => &s.label,
            Item::Property(p) => &p.label,
            Item::Kept(k) => &k.label,
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
            Item::Waiting(w) => w.ids[side].as_deref(),
            Item::Scope(s) => Some(&s.ids[side]),
            Item::Property(_) => None,
            Item::Kept(k) => Some(&k.ids[side]),
        }
    }

    /// The side written, for the items that write.
    pub fn target(&self) -> Option<Side> {
        match self {
            Item::Create(c) => Some(c.target),
            Item::Update(w) | Item::Associate(w) => Some(w.target),
            Item::Delete(d) => Some(d.target),
            Item::Merge(m) => m.target(),
            Item::Property(p) => p.writes().then_some(p.target),
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
            Item::Kept(k) => Some(k.expect[side]),
            Item::Delete(d) => (side == d.target).then_some(d.expect),
            // A record an orphaned merge found gone has no modified time.
            Item::Merge(m) => (m.expect[side] != 0).then_some(m.expect[side]),
            Item::Unlink(_)
            | Item::Invalid(_)
            | Item::Waiting(_)
            | Item::Property(_)
            | Item::Scope(_) => None,
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
            Item::Kept(k) => &k.settle,
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
            Item::Waiting(w) => vec![w.reason.as_str()],
            Item::Kept(k) => k.reasons.iter().map(String::as_str).collect(),
            Item::Property(p) => p.problem.iter().map(String::as_str).collect(),
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
            Item::Baseline(_) | Item::Waiting(_) => false,
            Item::Merge(m) => !m.is_notice(),
            _ => true,
        }
    }

    /// Returns true if and only if the plan shows the item: it is a change,
    /// or a notice.
    pub fn is_shown(&self) -> bool {
        self.is_change()
            || matches!(self, Item::Waiting(_))
            || matches!(self, Item::Merge(m) if m.is_notice())
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
    /// Records waiting for the records they are attached to.
    pub waiting: usize,
    /// Records keeping relations their target cannot clear.
    #[serde(skip_serializing_if = "is_zero")]
    pub kept: usize,
    /// Linked records that left the pair's scope, and that came back.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_scope: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub back_in_scope: usize,
    /// Properties to create or give options (`schema = "create"`).
    #[serde(default)]
    pub property: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
