//! The per-record merge of two linked (or newly matched) records: per
//! field, what to copy where, settle as base, hold as a conflict or report
//! as invalid; relation changes split into an association write; clearings
//! the target vendor refuses held back. Pure; it knows no vendor and sends
//! nothing.

use super::conflict::{Decision, clash, decide};
use super::{label, syncs_notes, too_long};
use crate::config::PairConfig;
use crate::mapping::Translator;
use crate::model::{Record, Side, Sided};
use crate::plan::{Agreement, Change, Conflict, Held, Invalid, Item, Settle, Waiting, Write};
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
    /// Why a note's move waits (its new records have no partner yet).
    waiting: Vec<String>,
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
        let to = match to {
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
            records[target],
            &mut merged.writes[target],
            &mut merged.invalid,
        );
    }
    merged.into_items(pair)
}
