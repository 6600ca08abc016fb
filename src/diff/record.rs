//! The per-record merge of two linked (or newly matched) records: per
//! field, what to copy where, settle as base, hold as a conflict or report
//! as invalid; relation changes split into an association write; clearings
//! the target vendor refuses held back (a relation kept, anything else
//! invalid). Pure; it knows no vendor and sends
//! nothing.

use super::conflict::{Decision, clash, decide};
use super::{label, syncs_notes, too_long};
use crate::config::PairConfig;
use crate::mapping::Translator;
use crate::model::{Record, Side, Sided};
use crate::plan::{Agreement, Change, Conflict, Held, Invalid, Item, Kept, Settle, Waiting, Write};
use crate::state::Base;
use crate::vendor::WriteRules;

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

/// Takes out of an update each clearing its target cannot take (the
/// vendor's `uncleared` rules). A relation (a field mapped through
/// `link:PAIR`) is kept on the target: the record stays attached to what it
/// has, and the base records both sides as they are, so it is reported once
/// (`kept`) and not planned again until one side changes it. Any other
/// field is reported on the invalid item instead: it is not sent, and, its
/// base unchanged, it is reported on every run until the source has a value
/// again. A group is broken only when every field of it would be empty
/// after the write; a field the pair does not map may hold a value, so it
/// counts as given, except in a group of relations (see below).
fn hold_uncleared(
    pair: &PairConfig,
    rules: &WriteRules,
    records: Sided<&Record>,
    update: &mut Write,
    invalid: &mut Invalid,
    kept: &mut Kept,
) {
    let side = update.target;
    let target = records[side];
    for group in &rules.uncleared {
        let clears = |c: &Change| group.fields.contains(&c.field) && c.to.trim().is_empty();
        if !update.changes.iter().any(clears) {
            continue;
        }
        let mapped = |g: &String| pair.fields.iter().any(|f| &f[side] == g);
        // A relation the pair does not map may hold a record too, but
        // crmsync cannot see it: a group of relations counts it as empty,
        // so a record is never written to hang on nothing.
        let of_relations = group
            .fields
            .iter()
            .filter(|g| mapped(g))
            .all(|g| pair.is_relation(g));
        let empty_after =
            group
                .fields
                .iter()
                .all(|g| match update.changes.iter().find(|c| &c.field == g) {
                    Some(c) => c.to.trim().is_empty(),
                    None if mapped(g) => target.get(g).trim().is_empty(),
                    None => of_relations,
                });
        if !empty_after {
            continue;
        }
        let (held, rest): (Vec<Change>, Vec<Change>) = update.changes.drain(..).partition(clears);
        update.changes = rest;
        for change in held {
            let Some(map) = pair.fields.iter().find(|f| f[side] == change.field) else {
                continue;
            };
            let (conflicts, stay) = update
                .conflicts
                .drain(..)
                .partition(|c| c.field == map.left);
            update.conflicts = stay;
            if pair.is_relation(&change.field) {
                // Keeping the relation settles a conflict over it too.
                kept.settle.push(Settle {
                    left_field: map.left.clone(),
                    left: records.left.get(&map.left).into(),
                    right_field: map.right.clone(),
                    right: records.right.get(&map.right).into(),
                });
                kept.reasons.push(format!(
                    "{} keeps `{}` {}: {}",
                    pair.endpoint(side),
                    change.field,
                    change.from,
                    group.reason
                ));
                continue;
            }
            invalid.conflicts.extend::<Vec<Conflict>>(conflicts);
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
    /// Why a note's move waits (its new records have no partner yet).
    waiting: Vec<String>,
    /// Relations each target keeps because it cannot clear them.
    kept: Sided<Kept>,
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
            waiting: Vec::new(),
            kept: Sided::from_fn(|target| Kept {
                target,
                ids: ids.clone(),
                label: label.clone(),
                reasons: Vec::new(),
                settle: Vec::new(),
                expect,
            }),
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
            items.push(Item::Invalid(self.invalid.clone()));
        }
        let Sided { left, right } = self.kept;
        items.extend(
            [right, left]
                .into_iter()
                .filter(|k| !k.reasons.is_empty())
                .map(Item::Kept),
        );
        if !self.waiting.is_empty() {
            items.push(Item::Waiting(Waiting {
                ids: self.invalid.ids,
                label: self.invalid.label,
                reason: self.waiting.join("; "),
            }));
        }
        if !self.baseline.settle.is_empty() {
            items.push(Item::Baseline(self.baseline));
        }
        items
    }
}

/// Merges one pair of records; returns its update, association, conflict,
/// invalid and baseline items (at most one of each per target).
pub(super) fn merge_records(
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
        // A relation to records deleted since (their links buried) reads
        // without them: they will never have a partner to wait for.
        let to = match to {
            Err(problem) if pair.is_relation(&f.left) => {
                let live = translator.without_buried(from, &f.left, values[from]);
                if live == values[from] {
                    Err(problem)
                } else {
                    translator.translate(from, &f.left, &live)
                }
            }
            to => to,
        };
        let to = match to {
            // What the other side holds already (a note on a deleted person
            // whose partner lost it): both are recorded as they are.
            Ok(v) if conflict.is_none() && v == values[from.other()] => {
                merged.baseline.settle.push(settle);
                continue;
            }
            Ok(v) => v,
            // A note moved to records without partners yet waits for them.
            Err(problem) if syncs_notes(pair) && pair.is_relation(&f.left) => {
                merged.waiting.push(problem);
                continue;
            }
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
        let write = &mut merged.writes[target];
        let long = too_long(pair, target, &rules[target], &write.changes);
        if !long.is_empty() {
            // Too long for the target: not sent, reported until shortened.
            let max = |c: &Change| {
                rules[target]
                    .max_chars
                    .iter()
                    .any(|(f, max)| *f == c.field && c.to.chars().count() > *max)
            };
            write.changes.retain(|c| !max(c));
            merged.invalid.problems.extend(long);
        }
        hold_uncleared(
            pair,
            &rules[target],
            records,
            &mut merged.writes[target],
            &mut merged.invalid,
            &mut merged.kept[target],
        );
    }
    merged.into_items(pair)
}
