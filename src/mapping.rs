//! Value translation between the two sides of a pair: explicit value tables
//! (`[pairs.values.dealstage]`) and owners matched by email
//! (`"owner-by-email"`), and ids of another pair's records (`"link:PAIR"`,
//! e.g. a deal's contact) through that pair's links. Field names are
//! translated by the pair's field map; this module translates the values.
//! Pure: owner directories and links are passed in.

use crate::config::{PairConfig, ValueMap};
use crate::model::{Labels, Owner, Side, Sided, join_set, set_members};
use crate::state::State;
use std::borrow::Cow;
use std::collections::HashMap;

/// Both accounts' owners, by id and by email.
#[derive(Debug, Default, Clone)]
pub struct OwnerDirectory {
    email_by_id: Sided<HashMap<String, String>>,
    id_by_email: Sided<HashMap<String, String>>,
}

impl OwnerDirectory {
    pub fn new(left: &[Owner], right: &[Owner]) -> OwnerDirectory {
        let mut dir = OwnerDirectory::default();
        for (side, owners) in Sided::new(left, right).iter() {
            for o in owners.iter() {
                let email = o.email.trim().to_lowercase();
                dir.email_by_id[side].insert(o.id.clone(), email.clone());
                dir.id_by_email[side]
                    .entry(email)
                    .or_insert_with(|| o.id.clone());
            }
        }
        dir
    }
}

/// The links the pairs planned earlier in a run will make or drop when
/// applied, over the links in the state: a record an earlier pair creates
/// (under its forward reference, `plan::forward_ref`) or links is a valid
/// relation target for a later pair, and one it unlinks or deletes is not.
/// Only what the plan changes is held, never a copy of the state.
#[derive(Debug, Default, Clone)]
pub struct PlannedLinks {
    /// pair → for each side, the record's id → its partner's id.
    made: HashMap<String, Sided<HashMap<String, String>>>,
    /// pair → for each side, the ids whose link the plan drops.
    dropped: HashMap<String, Sided<std::collections::HashSet<String>>>,
}

impl PlannedLinks {
    /// `pair` will link `left` and `right` (a match, or a create and its source).
    pub fn link(&mut self, pair: &str, left: &str, right: &str) {
        let made = self.made.entry(pair.to_string()).or_default();
        made.left.insert(left.to_string(), right.to_string());
        made.right.insert(right.to_string(), left.to_string());
    }

    /// `pair` will drop the link of `left` and `right` (an unlink or a delete).
    pub fn drop_link(&mut self, pair: &str, left: &str, right: &str) {
        let dropped = self.dropped.entry(pair.to_string()).or_default();
        dropped.left.insert(left.to_string());
        dropped.right.insert(right.to_string());
    }

    /// The partner of `id` (held on `from`) through `pair` once the plan is
    /// applied: `Some(Some(partner))` for a link the plan makes,
    /// `Some(None)` for one it drops, `None` when the plan leaves it as the
    /// state has it.
    fn partner(&self, pair: &str, from: Side, id: &str) -> Option<Option<&str>> {
        if let Some(partner) = self.made.get(pair).and_then(|m| m[from].get(id)) {
            return Some(Some(partner));
        }
        self.dropped
            .get(pair)
            .is_some_and(|d| d[from].contains(id))
            .then_some(None)
    }
}

/// Translates one pair's values from either side to the other.
pub struct Translator<'a> {
    pair: &'a PairConfig,
    owners: &'a OwnerDirectory,
    links: &'a State,
    planned: Option<&'a PlannedLinks>,
    /// Each side's field options, keyed by that side's field name.
    labels: Sided<&'a Labels>,
}

impl<'a> Translator<'a> {
    pub fn new(
        pair: &'a PairConfig,
        owners: &'a OwnerDirectory,
        links: &'a State,
        labels: Sided<&'a Labels>,
    ) -> Translator<'a> {
        Translator {
            pair,
            owners,
            links,
            planned: None,
            labels,
        }
    }

    /// Translates relations through the links the pairs planned before
    /// this one will make or drop, too.
    pub fn with_planned(mut self, planned: &'a PlannedLinks) -> Translator<'a> {
        self.planned = Some(planned);
        self
    }

    /// `value` → its label on side `from` → the value with that label on
    /// the other side (labels compared case-insensitively).
    fn by_label(&self, from: Side, left_field: &str, value: &str) -> Result<String, String> {
        let map = self
            .pair
            .fields
            .iter()
            .find(|f| f.left == left_field)
            .expect("a mapped field");
        let field_of = |side: Side| {
            if side == Side::Left {
                &map.left
            } else {
                &map.right
            }
        };
        let options = |side: Side| {
            self.labels[side]
                .get(field_of(side))
                .map(Vec::as_slice)
                .unwrap_or(&[])
        };
        let (_, label) = options(from)
            .iter()
            .find(|(v, _)| v == value)
            .ok_or_else(|| {
                format!(
                    "{from} value `{value}` of `{}` has no label in that account",
                    field_of(from)
                )
            })?;
        let to = from.other();
        let matches: Vec<&String> = options(to)
            .iter()
            .filter(|(_, l)| l.eq_ignore_ascii_case(label))
            .map(|(v, _)| v)
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!(
                "`{label}` ({from} value `{value}` of `{}`) has no match by label in the {to} account; add it there or use a value table",
                field_of(from)
            )),
            _ => Err(format!(
                "`{label}` names several values of `{}` in the {to} account; use a value table",
                field_of(to)
            )),
        }
    }

    /// `value` of the relation field whose left name is `left_field`, as
    /// held on side `from`, without the records its link pair has buried
    /// (a link dropped because one of its records was deleted, in an earlier
    /// run or this plan): such a record is never linked again, so a relation
    /// to it reads as gone, as the vendors show a relation to a deleted
    /// record. Any other value is returned as it is.
    pub fn without_buried<'v>(&self, from: Side, left_field: &str, value: &'v str) -> Cow<'v, str> {
        let Some(ValueMap::Link(other)) = self.pair.values.get(left_field) else {
            return Cow::Borrowed(value);
        };
        let buried = |id: &str| match self.planned.and_then(|p| p.partner(other, from, id)) {
            Some(partner) => partner.is_none(),
            None => self
                .links
                .pair(other)
                .is_some_and(|p| p.by(from, id).is_none() && p.is_tombstoned(from, id)),
        };
        if !set_members(value).any(buried) {
            return Cow::Borrowed(value);
        }
        let live: Vec<&str> = set_members(value).filter(|id| !buried(id)).collect();
        Cow::Owned(join_set(&live))
    }

    /// Translates `value` of the field whose left name is `left_field`, as
    /// held on side `from`, into the other side's terms. An empty value stays
    /// empty; a value with no translation is an error saying what to add.
    pub fn translate(&self, from: Side, left_field: &str, value: &str) -> Result<String, String> {
        if value.is_empty() {
            return Ok(String::new());
        }
        match self.pair.values.get(left_field) {
            None => Ok(value.to_string()),
            Some(ValueMap::Table(table)) => {
                let found = match from {
                    Side::Left => table.get(value).cloned(),
                    Side::Right => table
                        .iter()
                        .find(|(_, r)| r.as_str() == value)
                        .map(|(l, _)| l.clone()),
                };
                found.ok_or_else(|| {
                    format!(
                        "{from} value `{value}` of `{left_field}` has no entry in [pairs.values.{left_field}]; add one"
                    )
                })
            }
            Some(ValueMap::ByLabel) => self.by_label(from, left_field, value),
            Some(ValueMap::Link(other)) => {
                // One id, or a set of ids joined by `;` (all of a deal's
                // contacts); each is translated, and the set is kept sorted.
                let links = self.links.pair(other);
                let mut ids = set_members(value)
                    .map(|id| {
                        let planned = self.planned.and_then(|p| p.partner(other, from, id));
                        let partner = match planned {
                            Some(planned) => planned.map(str::to_string),
                            None => links
                                .and_then(|p| p.by(from, id))
                                .map(|l| l.id(from.other()).to_string()),
                        };
                        partner.ok_or_else(|| {
                            format!("{from} record `{id}` of `{left_field}` is not synced by pair `{other}` yet; it will be once `{other}` links it")
                        })
                    })
                    .collect::<Result<Vec<String>, String>>()?;
                ids.sort_by(|a, b| crate::model::id_order(a, b));
                Ok(join_set(&ids))
            }
            Some(ValueMap::OwnerByEmail) => {
                let email = self.owners.email_by_id[from]
                    .get(value)
                    .ok_or_else(|| format!("{from} owner `{value}` of `{left_field}` is not a user with an email in that account"))?;
                self.owners.id_by_email[from.other()]
                    .get(email)
                    .cloned()
                    .ok_or_else(|| format!("owner {email} of `{left_field}` has no user in the {} account; add the user there", from.other()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> PairConfig {
        crate::config::test_pairs(
            r#"
[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
[pairs.fields]
email = "email"
[[pairs]]
name = "deals"
left = "a.deals"
right = "b.deals"
[pairs.fields]
dealstage = "dealstage"
hubspot_owner_id = "hubspot_owner_id"
dealname = "dealname"
contact = "contact"
stage = "stage_id"
[pairs.values]
stage = "by-label"
hubspot_owner_id = "owner-by-email"
contact = "link:contacts"
[pairs.values.dealstage]
closedwon = "won"
"#,
        )
        .remove(1)
    }

    #[test]
    fn tables_and_owners_translate_both_ways() {
        let pair = pair();
        let owners = OwnerDirectory::new(
            &[Owner {
                id: "10".into(),
                email: "Sam@X.io".into(),
            }],
            &[Owner {
                id: "77".into(),
                email: "sam@x.io".into(),
            }],
        );
        let mut links = State::default();
        links.pair_mut("contacts").link("5", "50");
        let left_labels = Labels::from([(
            "stage".to_string(),
            vec![
                ("s1".to_string(), "Won".to_string()),
                ("s2".to_string(), "Lost".to_string()),
            ],
        )]);
        let right_labels = Labels::from([(
            "stage_id".to_string(),
            vec![("5".to_string(), "won".to_string())],
        )]);
        let t = Translator::new(
            &pair,
            &owners,
            &links,
            Sided::new(&left_labels, &right_labels),
        );
        assert_eq!(
            t.translate(Side::Left, "dealstage", "closedwon").unwrap(),
            "won"
        );
        assert_eq!(
            t.translate(Side::Right, "dealstage", "won").unwrap(),
            "closedwon"
        );
        assert_eq!(
            t.translate(Side::Left, "hubspot_owner_id", "10").unwrap(),
            "77"
        );
        assert_eq!(
            t.translate(Side::Right, "hubspot_owner_id", "77").unwrap(),
            "10"
        );
        assert_eq!(t.translate(Side::Left, "dealname", "Big").unwrap(), "Big");
        assert_eq!(t.translate(Side::Left, "dealstage", "").unwrap(), "");
        let e = t
            .translate(Side::Left, "dealstage", "closedlost")
            .unwrap_err();
        assert!(e.contains("[pairs.values.dealstage]"), "{e}");
        assert!(t.translate(Side::Left, "hubspot_owner_id", "11").is_err());
        assert_eq!(t.translate(Side::Left, "contact", "5").unwrap(), "50");
        assert_eq!(t.translate(Side::Right, "contact", "50").unwrap(), "5");
        links.pair_mut("contacts").link("7", "40");
        let t = Translator::new(
            &pair,
            &owners,
            &links,
            Sided::new(&left_labels, &right_labels),
        );
        assert_eq!(
            t.translate(Side::Left, "contact", "5;7").unwrap(),
            "40;50",
            "sets are translated and sorted"
        );
        assert!(
            t.translate(Side::Left, "contact", "6")
                .unwrap_err()
                .contains("not synced by pair `contacts`")
        );
    }
}
