//! The three-way merge: from a pairing of two snapshots and the stored base,
//! decide per record and per field what to write where.
//!
//! Per field of a linked pair: unchanged on both sides → nothing; changed on
//! one side only → copy it across if the direction allows; changed on both
//! to different values → a conflict settled by the pair's policy. A field
//! with no base yet (a fresh match, a newly mapped field) is reconciled: equal
//! values are recorded as the base, a value against a blank fills the blank,
//! two different values are a conflict. Each side's `WriteRules` (what its
//! vendor requires of a write) turn a create without a required value, or an
//! update that clears what the vendor cannot clear, into `invalid` items
//! rather than requests bound to fail. A link a merge touched becomes a
//! `merge` item (it follows, is spent, or names a second partner: reported,
//! or merged too with `merges = "propagate"`), never a delete. Pure: no
//! I/O, deterministic order.

use crate::config::{ConflictPolicy, DeletePolicy, FieldMap, MergePolicy, PairConfig};
use crate::connector::WriteRules;
use crate::mapping::Translator;
use crate::matcher::{Gone, MergeOutcome, Pairing};
use crate::model::{Record, Side, Sided, values_equivalent};
use crate::plan::{
    Agreement, Change, Conflict, Create, Delete, Held, Invalid, Item, Merge, MergeStep, PairPlan,
    Settle, Unlink, Write,
};
use crate::state::{Base, PendingCreate};

/// The three-way merge of one pair: from its pairing of the two snapshots
/// and the base, the items that bring both sides into step; `rules` are the
/// left and the right side's write rules.
pub fn merge_pair(
    pair: &PairConfig,
    pairing: &Pairing,
    translator: &Translator,
    rules: &Sided<WriteRules>,
) -> PairPlan {
    let mut items = Vec::new();
    // A record found through the create journal starts from the base its
    // create's answer would have given it; one paired by the match key
    // starts from none.
    let found = pairing.matched.iter().map(|(l, r)| (*l, *r, None)).chain(
        pairing
            .recovered
            .iter()
            .map(|(l, r, pending)| (*l, *r, Some(found_base(pair, translator, l, r, pending)))),
    );
    for (l, r, base) in found {
        let mut rest = merge(pair, translator, rules, l, r, base.as_ref());
        // The link item records the fields both sides already agree on.
        let mut settle = base.map_or_else(Vec::new, |b| settled(pair, &b));
        if let Some(pos) = rest.iter().position(|i| matches!(i, Item::Baseline(_))) {
            match rest.remove(pos) {
                Item::Baseline(agreed) => settle.extend(agreed.settle),
                _ => unreachable!("the position of a baseline"),
            }
        }
        items.push(Item::Link(Agreement {
            ids: Sided::new(l.id.clone(), r.id.clone()),
            label: label(pair, Some(l), Some(r)),
            settle,
            expect: Sided::new(l.updated_ms, r.updated_ms),
        }));
        items.extend(rest);
    }
    items.extend(crate::par::flat_map(&pairing.linked, |(l, r, link)| {
        merge(pair, translator, rules, l, r, Some(&link.base))
    }));
    for (source, records) in [
        (Side::Left, &pairing.left_only),
        (Side::Right, &pairing.right_only),
    ] {
        if !pair.direction.writes(source.other()) {
            continue;
        }
        for record in records.iter() {
            items.push(create(
                pair,
                translator,
                &rules[source.other()],
                source,
                record,
            ));
        }
    }
    items.extend(pairing.merges.iter().map(|m| merge_item(pair, m)));
    for gone in &pairing.gone {
        items.push(vanished(pair, gone));
    }
    PairPlan {
        name: pair.name.clone(),
        left: pair.left.to_string(),
        right: pair.right.to_string(),
        items,
        duplicates: pairing.duplicates.clone(),
        records: 0,
    }
}

/// The base of a record found through the create journal, its create's
/// answer lost: what an answered create records (`apply.rs`), the target's
/// values as the server holds them, defaults it set included (Pipedrive's
/// owner of a person created without one), against the source values the
/// create was made from. Left out, and so merged as for a first match: a
/// relation the target does not hold as sent (associations are written
/// after the record), and a field whose source value no longer translates
/// to what was sent (it changed since).
fn found_base(
    pair: &PairConfig,
    translator: &Translator,
    l: &Record,
    r: &Record,
    pending: &PendingCreate,
) -> Base {
    let (target, source) = (pending.target, pending.target.other());
    let records = Sided::new(l, r);
    let mut base = Base::default();
    for f in &pair.fields {
        let sent = pending.fields.get(&f[target]).unwrap_or_default();
        let held = records[target].get(&f[target]);
        let source_value = records[source].get(&f[source]);
        let unchanged = translator
            .translate(source, &f.left, source_value)
            .is_ok_and(|to| values_equivalent(&to, sent));
        let made = !pair.is_relation(&f.left) || values_equivalent(held, sent);
        if unchanged && made {
            base[target].insert(&f[target], held);
            base[source].insert(&f[source], source_value);
        }
    }
    base
}

/// The base's fields as a link item settles them.
fn settled(pair: &PairConfig, base: &Base) -> Vec<Settle> {
    pair.fields
        .iter()
        .filter_map(|f| {
            Some(Settle {
                left_field: f.left.clone(),
                left: base.left.get(&f.left)?.to_string(),
                right_field: f.right.clone(),
                right: base.right.get(&f.right)?.to_string(),
            })
        })
        .collect()
}

/// What a human recognises a record by: the match value, else a name or
/// title field, else the first mapped value, else the id.
fn label(pair: &PairConfig, left: Option<&Record>, right: Option<&Record>) -> String {
    let value = |f: &FieldMap| {
        [(left, &f.left), (right, &f.right)]
            .into_iter()
            .find_map(|(record, field)| record.map(|r| r.get(field)).filter(|v| !v.is_empty()))
            .map(|v| v.trim().to_string())
    };
    let is_name = |f: &&FieldMap| {
        ["name", "title"]
            .iter()
            .any(|n| f.left.contains(n) || f.right.contains(n))
    };
    let by_match = pair
        .match_field
        .as_ref()
        .and_then(|m| pair.fields.iter().find(|f| &f.left == m));
    by_match
        .into_iter()
        .chain(pair.fields.iter().filter(is_name))
        .chain(pair.fields.iter())
        .find_map(value)
        .or_else(|| left.or(right).map(|r| r.id.clone()))
        .unwrap_or_default()
}

/// The record on `source` copied to the other side, or, when a value cannot
/// be translated or a required one is empty, an invalid item saying why.
fn create(
    pair: &PairConfig,
    translator: &Translator,
    rules: &WriteRules,
    source: Side,
    record: &Record,
) -> Item {
    let target = source.other();
    let (l, r) = if source == Side::Left {
        (Some(record), None)
    } else {
        (None, Some(record))
    };
    let label = label(pair, l, r);
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for f in &pair.fields {
        let (source_field, target_field) = (&f[source], &f[target]);
        let value = record.get(source_field);
        match translator.translate(source, &f.left, value) {
            Ok(to) => changes.push(Change {
                field: target_field.clone(),
                from: String::new(),
                to,
                source_field: source_field.clone(),
                source_value: value.to_string(),
            }),
            Err(problem) => problems.push(problem),
        }
    }
    for group in &rules.required_on_create {
        let given = changes
            .iter()
            .any(|c| group.fields.contains(&c.field) && !c.to.trim().is_empty());
        if !given && problems.is_empty() {
            let fields = format!("`{}`", group.fields.join("`, `"));
            problems.push(format!(
                "cannot be created on {} with {} empty: {}",
                pair.endpoint(target),
                if group.fields.len() == 1 {
                    fields
                } else {
                    format!("all of {fields}")
                },
                group.reason
            ));
        }
    }
    if !problems.is_empty() {
        let mut ids = Sided::new(None, None);
        ids[source] = Some(record.id.clone());
        return Item::Invalid(Invalid {
            ids,
            label,
            problems,
            conflicts: Vec::new(),
        });
    }
    Item::Create(Create {
        target,
        source_id: record.id.clone(),
        label,
        changes,
        expect: record.updated_ms,
    })
}

/// Moves the changes of relation fields (mapped through `link:PAIR`, such as
/// a deal's contacts) out of an update into an association write of its
/// own: an association is written by its own API and moves no modified time.
fn split_relations(pair: &PairConfig, update: &mut Write) -> Write {
    let (relations, properties) = update
        .changes
        .drain(..)
        .partition(|c: &Change| pair.is_relation(&c.field));
    update.changes = properties;
    let (conflicts, rest) = update.conflicts.drain(..).partition(|c: &Conflict| {
        relations
            .iter()
            .any(|ch: &Change| ch.source_field == c.field || ch.field == c.field)
    });
    update.conflicts = rest;
    Write {
        changes: relations,
        conflicts,
        ..update.clone()
    }
}

/// The item of a link a merge touched: the link follows the merge, is
/// spent, or its partner is a second partner of the merged record: reported,
/// or with `merges = "propagate"` (where the direction allows writing that
/// side) merged into the partner the survivor kept, whose values win.
fn merge_item(pair: &PairConfig, merge: &crate::matcher::Merge) -> Item {
    let step = match merge.outcome {
        MergeOutcome::Follows => MergeStep::Follow,
        MergeOutcome::Spent => MergeStep::Spent,
        MergeOutcome::SecondPartner { side, kept } => MergeStep::Partners {
            side,
            kept: kept.id.clone(),
            propagate: pair.merges == MergePolicy::Propagate && pair.direction.writes(side.other()),
        },
    };
    // A second partner is named by what it holds itself.
    let shown = match merge.outcome {
        MergeOutcome::SecondPartner { side, .. } => {
            let mut shown = merge.now.map(Some);
            shown[side] = None;
            shown
        }
        _ => merge.now.map(Some),
    };
    Item::Merge(Merge {
        was: Sided::new(merge.link.left.clone(), merge.link.right.clone()),
        now: merge.now.map(|r| r.id.clone()),
        label: label(pair, shown.left, shown.right),
        step,
        expect: merge.now.map(|r| r.updated_ms),
    })
}

/// A linked record is gone from one side: with `deletes = "propagate"` (and a
/// direction that allows writing there) its partner is deleted too; else the
/// link is dropped and nothing is deleted. A record that is the result of a
/// merge is never deleted.
fn vanished(pair: &PairConfig, gone: &Gone) -> Item {
    let ids = Sided::new(gone.link.left.clone(), gone.link.right.clone());
    let label = label(pair, gone.left, gone.right);
    if gone.merged {
        let now = |side: Side, record: Option<&Record>| {
            record.map_or((ids[side].clone(), 0), |r| (r.id.clone(), r.updated_ms))
        };
        let (left, right) = (now(Side::Left, gone.left), now(Side::Right, gone.right));
        return Item::Merge(Merge {
            was: ids,
            now: Sided::new(left.0, right.0),
            label,
            step: MergeStep::Orphaned,
            expect: Sided::new(left.1, right.1),
        });
    }
    let survivor = match (gone.left, gone.right) {
        (Some(l), None) => Some((Side::Left, l)),
        (None, Some(r)) => Some((Side::Right, r)),
        _ => None,
    };
    let reason = match survivor {
        Some((side, record))
            if pair.deletes == DeletePolicy::Propagate && pair.direction.writes(side) =>
        {
            return Item::Delete(Delete {
                target: side,
                ids,
                label,
                reason: format!("deleted on the {} side", side.other()),
                expect: record.updated_ms,
            });
        }
        Some((side, _)) => format!(
            "deleted on the {} side; the link is dropped, nothing is deleted",
            side.other()
        ),
        None => "deleted on both sides; the link is dropped".into(),
    };
    Item::Unlink(Unlink { ids, label, reason })
}

/// The decision for one field.
enum Decision {
    Nothing,
    Settle,
    Copy(Side),
    Clash,
}

fn decide(lv: &str, rv: &str, translated: &str, base: Option<(&str, &str)>) -> Decision {
    match base {
        None => {
            if values_equivalent(translated, rv) {
                Decision::Settle
            } else if lv.is_empty() {
                Decision::Copy(Side::Right)
            } else if rv.is_empty() {
                Decision::Copy(Side::Left)
            } else {
                Decision::Clash
            }
        }
        Some((bl, br)) => match (lv != bl, rv != br) {
            (false, false) => Decision::Nothing,
            (true, false) => Decision::Copy(Side::Left),
            (false, true) => Decision::Copy(Side::Right),
            (true, true) if values_equivalent(translated, rv) => Decision::Settle,
            (true, true) => Decision::Clash,
        },
    }
}

/// Takes out of an update each clearing its target cannot take (the
/// vendor's `uncleared` rules) and reports it on the invalid item instead:
/// it is not sent, and, its base unchanged, it is reported on every run until
/// the source has a value again. A group is broken only when every field of
/// it would be empty after the write; a field the pair does not map may hold
/// a value, so it counts as given.
fn hold_uncleared(
    pair: &PairConfig,
    rules: &WriteRules,
    target: &Record,
    update: &mut Write,
    invalid: &mut Invalid,
) {
    let side = update.target;
    for group in &rules.uncleared {
        let clears = |c: &Change| group.fields.contains(&c.field) && c.to.trim().is_empty();
        if !update.changes.iter().any(clears) {
            continue;
        }
        let empty_after =
            group
                .fields
                .iter()
                .all(|g| match update.changes.iter().find(|c| &c.field == g) {
                    Some(c) => c.to.trim().is_empty(),
                    None => {
                        pair.fields.iter().any(|f| &f[side] == g) && target.get(g).trim().is_empty()
                    }
                });
        if !empty_after {
            continue;
        }
        let (held, kept): (Vec<Change>, Vec<Change>) = update.changes.drain(..).partition(clears);
        update.changes = kept;
        for change in held {
            let left = pair
                .fields
                .iter()
                .find(|f| f[side] == change.field)
                .map(|f| f.left.clone());
            let (moved, stay) = update
                .conflicts
                .drain(..)
                .partition(|c| Some(&c.field) == left.as_ref());
            update.conflicts = stay;
            invalid.conflicts.extend::<Vec<Conflict>>(moved);
            invalid.problems.push(format!(
                "{} `{}` is not cleared: {}",
                pair.endpoint(side),
                change.field,
                group.reason
            ));
        }
    }
}

/// The items one merge builds, at most one of each per target.
struct Merged {
    writes: Sided<Write>,
    unresolved: Held,
    invalid: Invalid,
    baseline: Agreement,
}

impl Merged {
    fn new(l: &Record, r: &Record, label: String) -> Merged {
        let ids = Sided::new(l.id.clone(), r.id.clone());
        let expect = Sided::new(l.updated_ms, r.updated_ms);
        Merged {
            writes: Sided::from_fn(|target| Write {
                target,
                ids: ids.clone(),
                label: label.clone(),
                changes: Vec::new(),
                conflicts: Vec::new(),
                expect,
            }),
            unresolved: Held {
                ids: ids.clone(),
                label: label.clone(),
                conflicts: Vec::new(),
                settle: Vec::new(),
                expect,
            },
            invalid: Invalid {
                ids: ids.clone().map(Some),
                label: label.clone(),
                problems: Vec::new(),
                conflicts: Vec::new(),
            },
            baseline: Agreement {
                ids,
                label,
                settle: Vec::new(),
                expect,
            },
        }
    }

    /// The items that do something, in plan order: the right side's update
    /// and association writes, the left side's, conflicts held, invalid
    /// values, and the agreed base.
    fn into_items(mut self, pair: &PairConfig) -> Vec<Item> {
        let associations = Sided::from_fn(|target| split_relations(pair, &mut self.writes[target]));
        let written = |w: &Write| !w.changes.is_empty() || !w.conflicts.is_empty();
        let Sided { left, right } = self.writes;
        let mut items = Vec::new();
        for (update, associate) in [(right, associations.right), (left, associations.left)] {
            if written(&update) {
                items.push(Item::Update(update));
            }
            if written(&associate) {
                items.push(Item::Associate(associate));
            }
        }
        if !self.unresolved.conflicts.is_empty() || !self.unresolved.settle.is_empty() {
            items.push(Item::Conflict(self.unresolved));
        }
        if !self.invalid.problems.is_empty() || !self.invalid.conflicts.is_empty() {
            items.push(Item::Invalid(self.invalid));
        }
        if !self.baseline.settle.is_empty() {
            items.push(Item::Baseline(self.baseline));
        }
        items
    }
}

/// A field changed on both sides: the pair's policy for it names the side
/// kept (none for `skip`), written across where the direction allows.
fn clash(pair: &PairConfig, field: &str, l: &Record, r: &Record, values: (&str, &str)) -> Conflict {
    let policy = pair.conflict_for(field);
    let winner = match policy {
        ConflictPolicy::Left => Some(Side::Left),
        ConflictPolicy::Right => Some(Side::Right),
        ConflictPolicy::Skip => None,
        ConflictPolicy::Newest if r.updated_ms > l.updated_ms => Some(Side::Right),
        ConflictPolicy::Newest => Some(Side::Left),
    };
    Conflict {
        field: field.to_string(),
        left: values.0.into(),
        right: values.1.into(),
        policy,
        winner,
        applied: winner.is_some_and(|w| pair.direction.writes(w.other())),
    }
}

/// Merges one pair of records; returns its update, association, conflict,
/// invalid and baseline items (at most one of each per target).
fn merge(
    pair: &PairConfig,
    translator: &Translator,
    rules: &Sided<WriteRules>,
    l: &Record,
    r: &Record,
    base: Option<&Base>,
) -> Vec<Item> {
    // Nearly every linked pair is in step with its base: tell that without
    // allocating anything (a million links are merged in one run).
    let in_step = |b: &Base| {
        pair.fields.iter().all(|f| {
            b.left.holds_value_of(&f.left, &l.fields) && b.right.holds_value_of(&f.right, &r.fields)
        })
    };
    if base.is_some_and(in_step) {
        return Vec::new();
    }
    let mut merged = Merged::new(l, r, label(pair, Some(l), Some(r)));
    for f in &pair.fields {
        let (lv, rv) = (l.get(&f.left), r.get(&f.right));
        let field_base = base.and_then(|b| Some((b.left.get(&f.left)?, b.right.get(&f.right)?)));
        let settle = Settle {
            left_field: f.left.clone(),
            left: lv.into(),
            right_field: f.right.clone(),
            right: rv.into(),
        };
        let l_to_r = translator.translate(Side::Left, &f.left, lv);
        let translated = l_to_r.as_deref().unwrap_or(lv);
        // Records first paired by their match field hold the same key in
        // it, though perhaps written two ways (`Acme.io` and
        // `https://www.acme.io/`), or as one side's secondary value (a
        // person whose work email comes first): each side keeps its own.
        let same_key = field_base.is_none()
            && pair.match_field.as_ref() == Some(&f.left)
            && !lv.trim().is_empty()
            && !rv.trim().is_empty()
            && {
                let key = pair.match_key();
                let holds = |record: &Record, field: &str, value: &str| {
                    let wanted = key.of(value);
                    record.values_of(field).any(|v| key.of(v) == wanted)
                };
                holds(r, &f.right, lv) || holds(l, &f.left, rv)
            };
        let decision = if same_key {
            Decision::Settle
        } else {
            decide(lv, rv, translated, field_base)
        };
        let (copy_from, conflict) = match decision {
            Decision::Nothing => continue,
            Decision::Settle => {
                merged.baseline.settle.push(settle);
                continue;
            }
            Decision::Copy(from) => (Some(from), None),
            Decision::Clash => {
                let conflict = clash(pair, &f.left, l, r, (lv, rv));
                (conflict.winner, Some(conflict))
            }
        };
        let Some(from) = copy_from else {
            // `skip`: leave both values and the base as they are.
            merged.unresolved.conflicts.extend(conflict);
            continue;
        };
        if !pair.direction.writes(from.other()) {
            // The direction forbids writing where this value would go: a
            // one-sided change is left alone; in a conflict the kept side
            // wins, so both values become the base.
            if let Some(c) = conflict {
                merged.unresolved.conflicts.push(c);
                merged.unresolved.settle.push(settle);
            }
            continue;
        }
        let values = Sided::new(lv, rv);
        let to = match from {
            Side::Left => l_to_r.clone(),
            Side::Right => translator.translate(Side::Right, &f.left, rv),
        };
        let to = match to {
            Ok(v) => v,
            Err(problem) => {
                merged.invalid.problems.push(problem);
                continue;
            }
        };
        let write = &mut merged.writes[from.other()];
        write.changes.push(Change {
            field: f[from.other()].clone(),
            from: values[from.other()].into(),
            to,
            source_field: f[from].clone(),
            source_value: values[from].into(),
        });
        write.conflicts.extend(conflict);
    }
    let records = Sided::new(l, r);
    for target in [Side::Right, Side::Left] {
        hold_uncleared(
            pair,
            &rules[target],
            records[target],
            &mut merged.writes[target],
            &mut merged.invalid,
        );
    }
    merged.into_items(pair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Direction};
    use crate::mapping::OwnerDirectory;
    use crate::matcher::pair_records;
    use crate::model::{Fields, set_field};
    use crate::plan::{Action, Plan};
    use crate::state::PairState;
    use std::path::Path;

    fn pair(extra: &str) -> PairConfig {
        pair_of(&format!(
            r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
{extra}
[pairs.fields]
email = "email"
firstname = "firstname"
phone = "phone"
"#
        ))
    }

    /// The one pair of `pairs` between two HubSpot accounts `us` and `eu`.
    fn pair_of(pairs: &str) -> PairConfig {
        let text = format!(
            r#"
[systems.us]
kind = "hubspot"
token_env = "A"
[systems.eu]
kind = "hubspot"
token_env = "B"
{pairs}"#
        );
        Config::from_str(&text, Path::new("t.toml"))
            .unwrap()
            .pairs
            .remove(0)
    }

    fn rec(id: &str, updated_ms: i64, fields: &[(&str, &str)]) -> Record {
        let mut f = Fields::new();
        for (k, v) in fields {
            set_field(&mut f, k, v);
        }
        Record::new(id, f, updated_ms)
    }

    fn base(left: &Record, right: &Record) -> Base {
        let all = |r: &Record| {
            ["email", "firstname", "phone"]
                .iter()
                .map(|f| (f.to_string(), r.get(f).to_string()))
                .collect()
        };
        Base {
            left: all(left),
            right: all(right),
        }
    }

    fn plan(pair: &PairConfig, left: &[Record], right: &[Record], state: &PairState) -> PairPlan {
        plan_with_rules(pair, left, right, state, WriteRules::default())
    }

    fn plan_with_rules(
        pair: &PairConfig,
        left: &[Record],
        right: &[Record],
        state: &PairState,
        right_rules: WriteRules,
    ) -> PairPlan {
        let owners = OwnerDirectory::default();
        let links = crate::state::State::default();
        let labels = crate::model::Labels::new();
        let translator = Translator::new(pair, &owners, &links, Sided::new(&labels, &labels));
        let pairing = pair_records(pair, left, right, state);
        merge_pair(
            pair,
            &pairing,
            &translator,
            &Sided::new(WriteRules::default(), right_rules),
        )
    }

    fn group(fields: &[&str], reason: &str) -> crate::connector::Required {
        crate::connector::Required {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            reason: reason.into(),
        }
    }

    fn linked(l: &Record, r: &Record, b: Base) -> PairState {
        let mut state = PairState::default();
        state.link(&l.id, &r.id).base = b;
        state
    }

    /// Ann, linked and in step: left 1 and right 9 with email, firstname
    /// and phone, and the state holding them as the base.
    fn linked_ann() -> (Record, Record, PairState) {
        let fields = [("email", "a@x.io"), ("firstname", "Ann"), ("phone", "1")];
        let (l, r) = (rec("1", 5, &fields), rec("9", 6, &fields));
        let state = linked(&l, &r, base(&l, &r));
        (l, r, state)
    }

    #[test]
    fn in_step_records_plan_nothing() {
        let p = pair("");
        let l = rec("1", 5, &[("email", "a@x.io"), ("firstname", "Ann")]);
        let r = rec("9", 6, &[("email", "a@x.io"), ("firstname", "Ann")]);
        let out = plan(
            &p,
            std::slice::from_ref(&l),
            std::slice::from_ref(&r),
            &linked(&l, &r, base(&l, &r)),
        );
        assert!(out.items.is_empty(), "{out:#?}");
    }

    #[test]
    fn one_sided_edits_flow_across_in_both_directions() {
        let p = pair("");
        let (_, _, state) = linked_ann();
        let l = rec(
            "1",
            7,
            &[("email", "a@x.io"), ("firstname", "Anne"), ("phone", "1")],
        );
        let r = rec(
            "9",
            8,
            &[("email", "a@x.io"), ("firstname", "Ann"), ("phone", "2")],
        );
        let out = plan(&p, &[l], &[r], &state);
        let updates: Vec<_> = out
            .items
            .iter()
            .map(|i| {
                (
                    i.target(),
                    i.changes()[0].field.as_str(),
                    i.changes()[0].to.as_str(),
                )
            })
            .collect();
        assert_eq!(
            updates,
            [
                (Some(Side::Right), "firstname", "Anne"),
                (Some(Side::Left), "phone", "2")
            ]
        );
    }

    #[test]
    fn conflicts_follow_the_policy() {
        let l0 = rec("1", 5, &[("email", "a@x.io"), ("phone", "1")]);
        let r0 = rec("9", 5, &[("email", "a@x.io"), ("phone", "1")]);
        let l = rec("1", 10, &[("email", "a@x.io"), ("phone", "L")]);
        let r = rec("9", 20, &[("email", "a@x.io"), ("phone", "R")]);
        for (policy, target, to) in [
            ("newest", Some(Side::Left), Some("R")),
            ("left", Some(Side::Right), Some("L")),
            ("right", Some(Side::Left), Some("R")),
            ("skip", None, None),
        ] {
            let p = pair(&format!("conflict = \"{policy}\""));
            let out = plan(
                &p,
                std::slice::from_ref(&l),
                std::slice::from_ref(&r),
                &linked(&l0, &r0, base(&l0, &r0)),
            );
            assert_eq!(out.items.len(), 1, "{policy}: {out:#?}");
            let item = &out.items[0];
            assert_eq!(item.target(), target, "{policy}");
            assert_eq!(
                item.changes().first().map(|c| c.to.as_str()),
                to,
                "{policy}"
            );
            assert_eq!(
                item.conflicts().len(),
                1,
                "{policy}: the plan shows the conflict"
            );
            if policy == "skip" {
                assert_eq!(item.action(), Action::Conflict);
                assert!(
                    item.settle().is_empty(),
                    "skip leaves the base alone so it is reported again"
                );
            }
        }
    }

    #[test]
    fn a_one_way_pair_never_writes_the_source() {
        let mut p = pair("direction = \"left-to-right\"\nconflict = \"right\"");
        assert_eq!(p.direction, Direction::LeftToRight);
        let l0 = rec(
            "1",
            5,
            &[("email", "a@x.io"), ("phone", "1"), ("firstname", "A")],
        );
        let r0 = l0.clone();
        let l = rec(
            "1",
            10,
            &[("email", "a@x.io"), ("phone", "L"), ("firstname", "A")],
        );
        let r = rec(
            "9",
            20,
            &[("email", "a@x.io"), ("phone", "R"), ("firstname", "B")],
        );
        let mut r0 = r0;
        r0.id = "9".into();
        let out = plan(
            &p,
            std::slice::from_ref(&l),
            std::slice::from_ref(&r),
            &linked(&l0, &r0, base(&l0, &r0)),
        );
        assert!(
            out.items.iter().all(|i| i.target() != Some(Side::Left)),
            "{out:#?}"
        );
        let conflict = out
            .items
            .iter()
            .find(|i| i.action() == Action::Conflict)
            .unwrap();
        assert!(!conflict.conflicts()[0].applied);
        p.direction = Direction::RightToLeft;
        let out = plan(&p, &[l], &[r], &PairState::default());
        assert!(out.items.iter().all(|i| i.target() != Some(Side::Right)));
    }

    #[test]
    fn companies_paired_by_domain_keep_each_spelling_of_it() {
        let p = pair_of(
            r#"
[[pairs]]
name = "companies"
left = "us.companies"
right = "eu.companies"
match = "domain"
[pairs.fields]
name = "name"
domain = "domain"
"#,
        );
        let l = rec("1", 5, &[("name", "Acme"), ("domain", "acme.io")]);
        let r = rec(
            "9",
            6,
            &[("name", "Acme"), ("domain", "https://www.Acme.io/")],
        );
        let out = plan(&p, &[l], &[r], &PairState::default());
        let actions: Vec<_> = out.items.iter().map(|i| i.action()).collect();
        assert_eq!(actions, [Action::Link], "no update, no conflict");
        assert_eq!(out.items[0].settle().len(), 2, "name and domain settled");
    }

    #[test]
    fn new_matches_link_fill_blanks_and_creates_carry_every_field() {
        let p = pair("");
        let l = rec("1", 5, &[("email", "A@x.io"), ("firstname", "Ann")]);
        let r = rec("9", 6, &[("email", "a@x.io"), ("phone", "7")]);
        let new = rec("2", 5, &[("email", "new@x.io"), ("firstname", "Neo")]);
        let out = plan(&p, &[l, new], &[r], &PairState::default());
        let actions: Vec<_> = out.items.iter().map(|i| (i.action(), i.target())).collect();
        assert_eq!(
            actions,
            [
                (Action::Link, None),
                (Action::Update, Some(Side::Right)),
                (Action::Update, Some(Side::Left)),
                (Action::Create, Some(Side::Right))
            ]
        );
        assert_eq!(
            out.items[0].settle().len(),
            1,
            "emails equal but for case are settled"
        );
        let create = &out.items[3];
        assert_eq!(
            create
                .changes()
                .iter()
                .map(|c| (c.field.as_str(), c.to.as_str()))
                .collect::<Vec<_>>(),
            [("email", "new@x.io"), ("firstname", "Neo"), ("phone", "")]
        );
        let text = Plan::new("x", vec![out]).to_string();
        assert!(text.contains("+ eu     create    new@x.io"), "{text}");
        assert!(text.contains("firstname: \"\" -> \"Ann\""), "{text}");
        assert!(
            text.contains("Plan: 1 to create, 2 to update, 0 to associate, 0 to delete, 1 to link"),
            "{text}"
        );
    }

    #[test]
    fn a_create_without_a_required_value_is_invalid_and_names_the_reason() {
        let p = pair("");
        let rules = WriteRules {
            required_on_create: vec![group(&["firstname"], "names are required")],
            uncleared: Vec::new(),
            joined: Vec::new(),
        };
        let nameless = rec("1", 5, &[("email", "a@x.io")]);
        let named = rec("2", 5, &[("email", "b@x.io"), ("firstname", "Bo")]);
        let out = plan_with_rules(&p, &[nameless, named], &[], &PairState::default(), rules);
        let actions: Vec<_> = out.items.iter().map(|i| (i.action(), i.target())).collect();
        assert_eq!(
            actions,
            [(Action::Invalid, None), (Action::Create, Some(Side::Right))]
        );
        assert!(out.items[0].changes().is_empty(), "nothing is sent");
        assert_eq!(
            out.items[0].problems(),
            ["cannot be created on eu.contacts with `firstname` empty: names are required"]
        );
    }

    #[test]
    fn clearing_a_field_the_target_cannot_clear_is_held_as_invalid_and_the_rest_is_written() {
        let p = pair("");
        let rules = WriteRules {
            required_on_create: Vec::new(),
            uncleared: vec![
                group(&["phone"], "phones stay"),
                // A group clears only when every field of it ends up empty.
                group(&["firstname", "email"], "one of them stays"),
            ],
            joined: Vec::new(),
        };
        let (_, r0, state) = linked_ann();
        let l = rec("1", 7, &[("email", "a@x.io")]);
        let out = plan_with_rules(&p, &[l], std::slice::from_ref(&r0), &state, rules);
        let update = out
            .items
            .iter()
            .find(|i| i.action() == Action::Update)
            .expect("the firstname is cleared");
        assert_eq!(
            update
                .changes()
                .iter()
                .map(|c| (c.field.as_str(), c.to.as_str()))
                .collect::<Vec<_>>(),
            [("firstname", "")]
        );
        let invalid = out
            .items
            .iter()
            .find(|i| i.action() == Action::Invalid)
            .expect("the phone is held");
        assert_eq!(
            invalid.problems(),
            ["eu.contacts `phone` is not cleared: phones stay"]
        );
        assert!(invalid.changes().is_empty() && invalid.target().is_none());
    }
    #[test]
    fn merges_follow_report_or_propagate_and_are_never_deletes() {
        for (extra, propagate) in [
            ("deletes = \"propagate\"", false),
            ("deletes = \"propagate\"\nmerges = \"propagate\"", true),
            (
                "direction = \"right-to-left\"\nmerges = \"propagate\"",
                false,
            ),
        ] {
            let p = pair(extra);
            let ann = [("email", "a@x.io"), ("firstname", "Ann")];
            let bo = [("email", "b@x.io"), ("firstname", "Bo")];
            let (p1, p2) = (rec("1", 5, &ann), rec("2", 5, &bo));
            let (e1, e2) = (rec("10", 5, &ann), rec("20", 5, &bo));
            let mut state = linked(&p1, &e1, base(&p1, &e1));
            state.link("2", "20").base = base(&p2, &e2);
            // 2 merged into 1 on the left: a new record 9, renamed since.
            let mut merged = rec("9", 7, &[("email", "a@x.io"), ("firstname", "Anne")]);
            merged.set_identity(crate::model::Identity {
                merged_from: vec!["1".into(), "2".into()],
                also: vec![("email".into(), "b@x.io".into())],
            });
            let out = plan(&p, &[merged], &[e1, e2], &state);
            let actions: Vec<_> = out.items.iter().map(|i| (i.action(), i.target())).collect();
            let merge_target = propagate.then_some(Side::Right);
            if extra.contains("right-to-left") {
                assert_eq!(
                    actions,
                    [(Action::Merge, None), (Action::Merge, None)],
                    "{extra}"
                );
                continue;
            }
            assert_eq!(
                actions,
                [
                    (Action::Update, Some(Side::Right)),
                    (Action::Merge, None),
                    (Action::Merge, merge_target)
                ],
                "{extra}: {out:#?}"
            );
            assert_eq!(out.items[0].id(Side::Left), Some("9"));
            assert_eq!(
                out.items[0].changes()[0].to,
                "Anne",
                "the survivor's edit flows"
            );
        }
    }
    #[test]
    fn records_paired_by_a_secondary_email_keep_each_sides_primary() {
        let p = pair("");
        let l = rec("1", 5, &[("email", "p1@x.io"), ("firstname", "Ann")]);
        let mut r = rec("9", 6, &[("email", "work@corp.io"), ("firstname", "Ann")]);
        r.set_identity(crate::model::Identity {
            merged_from: Vec::new(),
            also: vec![("email".into(), "P1@x.io".into())],
        });
        let out = plan(&p, &[l], &[r], &PairState::default());
        let actions: Vec<_> = out.items.iter().map(|i| i.action()).collect();
        assert_eq!(actions, [Action::Link], "no email is overwritten: {out:#?}");
        assert_eq!(out.items[0].settle().len(), 3, "email, firstname and phone");
    }

    /// Contacts with owners by email, both ways: us owner 10 is sam, eu
    /// users 77 (sam) and 1 (the admin, who owns what is created without
    /// an owner, and has no us owner).
    fn owned_contacts() -> (PairConfig, OwnerDirectory) {
        let pair = pair_of(
            r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"
hubspot_owner_id = "hubspot_owner_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
"#,
        );
        let owner = |id: &str, email: &str| crate::model::Owner {
            id: id.into(),
            email: email.into(),
        };
        let owners = OwnerDirectory::new(
            &[owner("10", "sam@x.io")],
            &[owner("77", "sam@x.io"), owner("1", "admin@x.io")],
        );
        (pair, owners)
    }

    fn plan_owned(left: &[Record], right: &[Record], state: &PairState) -> PairPlan {
        let (pair, owners) = owned_contacts();
        let links = crate::state::State::default();
        let labels = crate::model::Labels::new();
        let translator = Translator::new(&pair, &owners, &links, Sided::new(&labels, &labels));
        let pairing = pair_records(&pair, left, right, state);
        let rules = Sided::new(WriteRules::default(), WriteRules::default());
        merge_pair(&pair, &pairing, &translator, &rules)
    }

    #[test]
    fn a_create_found_through_the_journal_is_settled_like_an_answered_one() {
        // Ann was created on eu without an owner, and the server gave her
        // its default one (the admin, unknown to us); the answer was lost.
        // Bo was created with sam, and his answer was lost too.
        let ann = rec("5", 1, &[("email", "ann@x.io"), ("firstname", "Ann")]);
        let bo = rec(
            "6",
            1,
            &[
                ("email", "bo@x.io"),
                ("firstname", "Bo"),
                ("hubspot_owner_id", "10"),
            ],
        );
        let made_ann = rec(
            "900",
            2,
            &[
                ("email", "ann@x.io"),
                ("firstname", "Ann"),
                ("hubspot_owner_id", "1"),
            ],
        );
        let made_bo = rec(
            "901",
            2,
            &[
                ("email", "BO@x.io"),
                ("firstname", "Bo"),
                ("hubspot_owner_id", "77"),
            ],
        );
        let mut state = PairState::default();
        for (source, sent) in [
            ("5", vec![("email", "ann@x.io"), ("firstname", "Ann")]),
            (
                "6",
                vec![
                    ("email", "bo@x.io"),
                    ("firstname", "Bo"),
                    ("hubspot_owner_id", "77"),
                ],
            ),
        ] {
            state.add_pending(crate::state::PendingCreate {
                target: Side::Right,
                source: source.into(),
                fields: sent
                    .iter()
                    .map(|(f, v)| (f.to_string(), v.to_string()))
                    .collect(),
            });
        }
        let (left, right) = ([ann, bo], [made_ann, made_bo]);
        let out = plan_owned(&left, &right, &state);
        let actions: Vec<_> = out.items.iter().map(|i| i.action()).collect();
        assert_eq!(actions, [Action::Link, Action::Link], "{out:#?}");
        for item in &out.items {
            assert_eq!(item.settle().len(), 3, "every field settled: {item:#?}");
        }
        // Applied, the links hold every value as it is: nothing to do again.
        for item in &out.items {
            if let Item::Link(agreed) = item {
                let link = state.link(&agreed.ids.left, &agreed.ids.right);
                for s in &agreed.settle {
                    link.base.left.insert(s.left_field.clone(), s.left.clone());
                    link.base
                        .right
                        .insert(s.right_field.clone(), s.right.clone());
                }
            }
        }
        assert!(state.pending().is_empty());
        let again = plan_owned(&left, &right, &state);
        assert!(again.items.is_empty(), "{again:#?}");
    }
}
