//! Pairs unlinked records that have no natural key by what they hold
//! (notes: body, time and the partners of the records they are attached
//! to), so a rerun after a lost state directory, or two accounts that
//! already share history, never doubles them. Pure; the key is the
//! caller's (it needs the pair's links to put both sides in one set of
//! terms).

use super::Pairing;
use crate::model::{Record, Side, id_order};
use std::collections::BTreeMap;

/// Moves records of `left_only` and `right_only` whose `key` is equal into
/// `matched`; a record without a key stays where it is. Several records of
/// one side sharing a key pair one for one with those of the other, in id
/// order, and the rest stay unpaired.
pub fn pair_by_content<'a>(
    pairing: &mut Pairing<'a>,
    key: impl Fn(Side, &Record) -> Option<String>,
) {
    let mut right_by_key: BTreeMap<String, Vec<&'a Record>> = BTreeMap::new();
    let mut right_sorted = pairing.right_only.clone();
    right_sorted.sort_by(|a, b| id_order(&a.id, &b.id));
    for record in right_sorted {
        if let Some(k) = key(Side::Right, record) {
            right_by_key.entry(k).or_default().push(record);
        }
    }
    if right_by_key.is_empty() {
        return;
    }
    let mut left_sorted = pairing.left_only.clone();
    left_sorted.sort_by(|a, b| id_order(&a.id, &b.id));
    let mut paired: Vec<(&'a Record, &'a Record)> = Vec::new();
    for record in left_sorted {
        let Some(k) = key(Side::Left, record) else {
            continue;
        };
        if let Some(candidates) = right_by_key.get_mut(&k).filter(|c| !c.is_empty()) {
            paired.push((record, candidates.remove(0)));
        }
    }
    if paired.is_empty() {
        return;
    }
    let taken = |side: Side, r: &Record| {
        paired.iter().any(|(l, rr)| {
            let held = if side == Side::Left { l } else { rr };
            std::ptr::eq(*held, r)
        })
    };
    pairing.left_only.retain(|r| !taken(Side::Left, r));
    pairing.right_only.retain(|r| !taken(Side::Right, r));
    pairing.matched.extend(paired);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Fields;

    fn note(id: &str, body: &str) -> Record {
        let mut fields = Fields::new();
        fields.insert("body", body);
        Record::new(id.to_string(), fields, 1)
    }

    #[test]
    fn equal_keys_pair_one_for_one_in_id_order_and_the_rest_stay() {
        let left = [note("1", "a"), note("2", "a"), note("3", "b")];
        let right = [note("20", "a"), note("10", "c"), note("30", "")];
        let mut pairing = Pairing {
            left_only: left.iter().collect(),
            right_only: right.iter().collect(),
            ..Pairing::default()
        };
        let key = |_: Side, r: &Record| Some(r.get("body").to_string()).filter(|b| !b.is_empty());
        pair_by_content(&mut pairing, key);
        let matched: Vec<(&str, &str)> = pairing
            .matched
            .iter()
            .map(|(l, r)| (l.id.as_str(), r.id.as_str()))
            .collect();
        assert_eq!(matched, [("1", "20")]);
        let ids = |records: &[&Record]| records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&pairing.left_only), ["2", "3"]);
        assert_eq!(ids(&pairing.right_only), ["10", "30"]);
    }
}
