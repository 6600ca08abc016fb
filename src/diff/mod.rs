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
//!
//! This file plans a pair (`merge_pair`) and names its records; `record`
//! merges one pair of linked records field by field, `conflict` decides a
//! field and settles a clash by the pair's policy, `create` copies an
//! unpaired record across (and rebuilds the base of one found through the
//! create journal), and `gone` turns a link whose records vanished or were
//! merged into an unlink, delete or merge item.

mod conflict;
mod create;
mod gone;
mod record;

#[cfg(test)]
mod tests;

use crate::config::{FieldMap, PairConfig};
use crate::mapping::Translator;
use crate::matcher::Pairing;
use crate::model::{ObjectKind, Record, Side, Sided};
use crate::plan::{Agreement, Item, PairPlan};
use crate::vendor::WriteRules;
use create::{create, found_base, settled};
use gone::{merge_item, vanished};
use record::merge_records;

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
        let mut rest = merge_records(pair, translator, rules, l, r, base.as_ref());
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
        merge_records(pair, translator, rules, l, r, Some(&link.base))
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
        scope: Vec::new(),
    }
}

/// A note's body as a plan line names it: its text without HTML tags,
/// spaces collapsed, cut at 48 characters.
pub(super) fn note_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if in_tag => {}
            c => text.push(c),
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let text = words.join(" ");
    match text.char_indices().nth(48) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Returns true if and only if the pair syncs notes, which wait for the
/// records they are attached to instead of being invalid without them.
pub(super) fn syncs_notes(pair: &PairConfig) -> bool {
    pair.left.object == ObjectKind::Notes
}

/// The values of `changes` longer than their target takes (`max_chars`),
/// one problem each.
pub(super) fn too_long(
    pair: &PairConfig,
    target: Side,
    rules: &WriteRules,
    changes: &[crate::plan::Change],
) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            let (_, max) = rules.max_chars.iter().find(|(f, _)| *f == c.field)?;
            let length = c.to.chars().count();
            (length > *max).then(|| {
                format!(
                    "`{}` holds {length} characters; {} takes at most {max}",
                    c.field,
                    pair.endpoint(target)
                )
            })
        })
        .collect()
}

/// What a human recognises a record by: the match value, else a name or
/// title field, else the first mapped value, else the id.
pub fn label(pair: &PairConfig, left: Option<&Record>, right: Option<&Record>) -> String {
    if syncs_notes(pair) {
        let body = pair.left.kind.profile().notes.body;
        let text = [
            (
                left,
                pair.fields.iter().find(|f| f.left == body).map(|f| &f.left),
            ),
            (
                right,
                pair.fields
                    .iter()
                    .find(|f| f.left == body)
                    .map(|f| &f.right),
            ),
        ]
        .into_iter()
        .find_map(|(record, field)| Some(note_text(record?.get(field?))).filter(|t| !t.is_empty()));
        if let Some(text) = text {
            return text;
        }
    }
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
