//! Forward references: the stand-in a later pair of a plan holds for a
//! record an earlier pair creates in the same run, and their resolution
//! once the create has answered. Only this file knows their spelling; it
//! does not apply anything.

use super::model::{Change, Conflict, Item, MergeStep, Settle};
use crate::model::{Side, join_set, set_members};

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
    set_members(value).filter(|token| is_forward_ref(token))
}

/// `value` with each forward reference replaced by the id `known` gives it;
/// a set is sorted again, as the planner keeps it. `Err` names the first
/// reference `known` has no id for.
fn resolved(value: &str, known: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if refs_in(value).next().is_none() {
        return Ok(value.to_string());
    }
    let mut ids = set_members(value)
        .map(|token| {
            if is_forward_ref(token) {
                known(token).ok_or_else(|| token.to_string())
            } else {
                Ok(token.to_string())
            }
        })
        .collect::<Result<Vec<String>, String>>()?;
    ids.sort_by(|a, b| crate::model::id_order(a, b));
    Ok(join_set(&ids))
}

impl Item {
    /// Every id and value the item holds that a forward reference can
    /// stand in: record ids, and the values written, compared or recorded
    /// in a relation field (`is_relation`, by either side's field name). A
    /// text field's value is never a reference, whatever it looks like.
    fn ids_and_values_mut(&mut self, is_relation: &dyn Fn(&str) -> bool) -> Vec<&mut String> {
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
            Item::Kept(k) => (
                vec![&mut k.ids.left, &mut k.ids.right],
                &mut [],
                &mut [],
                &mut k.settle,
            ),
            Item::Scope(s) => (
                vec![&mut s.ids.left, &mut s.ids.right],
                &mut [],
                &mut [],
                &mut [],
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
            Item::Property(_) => (Vec::new(), &mut [], &mut [], &mut []),
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
            Item::Waiting(w) => (
                w.ids
                    .left
                    .iter_mut()
                    .chain(w.ids.right.iter_mut())
                    .collect(),
                &mut [],
                &mut [],
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
            if is_relation(&c.field) || is_relation(&c.source_field) {
                held.extend([&mut c.from, &mut c.to, &mut c.source_value]);
            }
        }
        for c in conflicts {
            if is_relation(&c.field) {
                held.extend([&mut c.left, &mut c.right]);
            }
        }
        for s in settle {
            if is_relation(&s.left_field) || is_relation(&s.right_field) {
                held.extend([&mut s.left, &mut s.right]);
            }
        }
        held
    }

    /// Returns true if and only if the item holds a forward reference, in
    /// a record id or in a relation field (`is_relation`).
    pub fn has_forward_refs(&self, is_relation: &dyn Fn(&str) -> bool) -> bool {
        let ids: Vec<&str> = match self {
            Item::Link(a) | Item::Baseline(a) => vec![&a.ids.left, &a.ids.right],
            Item::Create(c) => vec![&c.source_id],
            Item::Update(w) | Item::Associate(w) => vec![&w.ids.left, &w.ids.right],
            Item::Conflict(h) => vec![&h.ids.left, &h.ids.right],
            Item::Kept(k) => vec![&k.ids.left, &k.ids.right],
            Item::Unlink(u) => vec![&u.ids.left, &u.ids.right],
            Item::Scope(s) => vec![&s.ids.left, &s.ids.right],
            Item::Delete(d) => vec![&d.ids.left, &d.ids.right],
            Item::Invalid(i) => i.ids.iter().filter_map(|(_, id)| id.as_deref()).collect(),
            Item::Waiting(w) => w.ids.iter().filter_map(|(_, id)| id.as_deref()).collect(),
            Item::Property(_) => Vec::new(),
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
            .filter(|c| is_relation(&c.field) || is_relation(&c.source_field))
            .flat_map(|c| [&c.from, &c.to, &c.source_value])
            .chain(
                self.conflicts()
                    .iter()
                    .filter(|c| is_relation(&c.field))
                    .flat_map(|c| [&c.left, &c.right]),
            )
            .chain(
                self.settle()
                    .iter()
                    .filter(|s| is_relation(&s.left_field) || is_relation(&s.right_field))
                    .flat_map(|s| [&s.left, &s.right]),
            );
        ids.into_iter()
            .chain(values.map(String::as_str))
            .any(|value| refs_in(value).next().is_some())
    }

    /// The forward references the item holds (`has_forward_refs`), each once.
    pub fn forward_refs(&self, is_relation: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut item = self.clone();
        let mut refs: Vec<String> = item
            .ids_and_values_mut(is_relation)
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
    /// or is not in the plan): such an item must not be applied. Only
    /// record ids and relation fields (`is_relation`) can hold one.
    pub fn resolve(
        &self,
        known: &dyn Fn(&str) -> Option<String>,
        is_relation: &dyn Fn(&str) -> bool,
    ) -> Result<Item, String> {
        let mut item = self.clone();
        for value in item.ids_and_values_mut(is_relation) {
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
