//! Records present on one side only: the create that copies one across (or
//! the invalid item that says why it cannot be), and the base of a record
//! found through the create journal, as its lost create answer would have
//! left it. Pure; it does not pair records (the matcher does).

use super::{label, syncs_notes, too_long};
use crate::config::PairConfig;
use crate::mapping::Translator;
use crate::model::{Record, Side, Sided, values_equivalent};
use crate::plan::{Change, Create, Invalid, Item, Settle, Waiting};
use crate::state::{Base, PendingCreate};
use crate::vendor::WriteRules;

/// The base of a record found through the create journal, its create's
/// answer lost: what an answered create records (`apply.rs`), the target's
/// values as the server holds them, defaults it set included (Pipedrive's
/// owner of a person created without one), against the source values the
/// create was made from. Left out, and so merged as for a first match: a
/// relation the target does not hold as sent (associations are written
/// after the record), and a field whose source value no longer translates
/// to what was sent (it changed since).
pub(super) fn found_base(
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
pub(super) fn settled(pair: &PairConfig, base: &Base) -> Vec<Settle> {
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

/// The record on `source` copied to the other side, or, when a value cannot
/// be translated or a required one is empty, an invalid item saying why.
pub(super) fn create(
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
    let mut ids = Sided::new(None, None);
    ids[source] = Some(record.id.clone());
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    let mut waits = Vec::new();
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
            // A note lands with its records or not at all: it waits for
            // their partners.
            Err(problem) if syncs_notes(pair) && pair.is_relation(&f.left) => waits.push(problem),
            Err(problem) => problems.push(problem),
        }
    }
    if syncs_notes(pair) && problems.is_empty() {
        let attached = pair
            .fields
            .iter()
            .any(|f| pair.is_relation(&f.left) && !record.get(&f[source]).trim().is_empty());
        if !attached {
            waits.push(format!(
                "attached to no record the pair's relations carry; it waits until {} {} is attached to one",
                pair.endpoint(source),
                record.id
            ));
        }
        if !waits.is_empty() {
            return Item::Waiting(Waiting {
                ids,
                label,
                reason: waits.join("; "),
            });
        }
        if let Some(time) = &rules.time_on_create {
            // The target requires the note's time: unmapped, it is the
            // source's own.
            let source_time = pair.endpoint(source).kind.profile().notes.time;
            if !changes.iter().any(|c| &c.field == time) {
                let value = record.get(source_time);
                changes.push(Change {
                    field: time.clone(),
                    from: String::new(),
                    to: value.to_string(),
                    source_field: source_time.to_string(),
                    source_value: value.to_string(),
                });
            }
        }
    }
    problems.extend(too_long(pair, target, rules, &changes));
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
        notes: Vec::new(),
    })
}
