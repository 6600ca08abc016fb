//! A pair's scope (`[pairs.scope.left]`, `[pairs.scope.right]`): the
//! segment of an account object a pair syncs, as conditions on the side's
//! own fields (one value, a list of values, `{ not = [...] }`,
//! `{ present = true | false }`, all of them holding) and, on Pipedrive,
//! a saved filter (`filter_id`).
//!
//! It owns what being in scope means, as pure functions of a record: which
//! records a pair sees, which values a record crmsync creates on a scoped
//! side is given so it stays in scope, and which scopes an account
//! object's listing can be narrowed to at the vendor (`selection`). The
//! connectors turn a selection into their own requests (HubSpot search
//! filter groups, a Pipedrive `filter_id`); this module knows no vendor
//! JSON, makes no request and writes nothing.

use crate::config::{Config, Endpoint};
use crate::model::{Record, Side, set_members};
use std::collections::BTreeSet;

/// What one condition asks of a field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// One of these values (a multi-value field: one of its members).
    AnyOf(Vec<String>),
    /// A value, and none of these (as HubSpot's `NOT_IN`, a record
    /// without a value does not hold).
    NoneOf(Vec<String>),
    /// A value (`true`) or none (`false`).
    Present(bool),
}

/// One field's condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub test: Test,
}

/// The scope of one side of a pair: every condition holds, and the record
/// is in the saved filter where one is named.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    pub conditions: Vec<Condition>,
    /// A saved filter of the account (Pipedrive `filter_id`), whose
    /// members only the vendor can tell.
    pub saved_filter: Option<String>,
}

impl Test {
    /// Returns true if and only if `value` (a record's value, empty for
    /// none) passes. Values compare trimmed and without case, as HubSpot's
    /// search compares text.
    pub fn holds(&self, value: &str) -> bool {
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let is_any = |values: &[String]| {
            set_members(value).any(|member| values.iter().any(|v| same(member, v)))
        };
        match self {
            Test::AnyOf(values) => is_any(values),
            Test::NoneOf(values) => !value.trim().is_empty() && !is_any(values),
            Test::Present(wanted) => value.trim().is_empty() != *wanted,
        }
    }
}

impl Scope {
    /// The fields the conditions read, each once.
    pub fn fields(&self) -> Vec<String> {
        let fields: BTreeSet<&str> = self.conditions.iter().map(|c| c.field.as_str()).collect();
        fields.into_iter().map(str::to_string).collect()
    }

    /// Returns true if and only if every field condition holds for
    /// `record` (the saved filter aside).
    pub fn fields_hold(&self, record: &Record) -> bool {
        self.conditions
            .iter()
            .all(|c| c.test.holds(record.get(&c.field)))
    }

    /// Returns true if and only if `record` is in scope: its fields hold,
    /// and, where the scope names a saved filter, the vendor listed it in
    /// that filter (`unselected` holds the ids the last selected listing
    /// of its object did not list).
    pub fn holds(&self, record: &Record, unselected: &BTreeSet<String>) -> bool {
        self.fields_hold(record)
            && (self.saved_filter.is_none() || !unselected.contains(&record.id))
    }

    /// The values a record created on this side is given so that it is in
    /// scope: those of the conditions that name exactly one value.
    pub fn stamp(&self) -> Vec<(String, String)> {
        self.conditions
            .iter()
            .filter_map(|c| match &c.test {
                Test::AnyOf(values) if values.len() == 1 => {
                    Some((c.field.clone(), values[0].clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// What of the scope a created record cannot be given, in words (a
    /// list of values, `not`, `present`, a saved filter); empty when
    /// `stamp` covers it all.
    pub fn unstampable(&self) -> Vec<String> {
        let mut parts: Vec<String> = self
            .conditions
            .iter()
            .filter_map(|c| match &c.test {
                Test::AnyOf(values) if values.len() == 1 => None,
                Test::AnyOf(values) => Some(format!("{} (one of {})", c.field, values.join(", "))),
                Test::NoneOf(values) => Some(format!("{} (not {})", c.field, values.join(", "))),
                Test::Present(true) => Some(format!("{} (present)", c.field)),
                Test::Present(false) => Some(format!("{} (absent)", c.field)),
            })
            .collect();
        if let Some(id) = &self.saved_filter {
            parts.push(format!("filter_id {id}"));
        }
        parts
    }
}

/// The scopes a listing of `object` can be narrowed to at the vendor: the
/// distinct scopes of every side of every pair in the file that names it,
/// or `None` when one of them is unscoped (that pair needs every record).
/// A listing narrowed to them holds every record any of those pairs sees.
pub fn selection<'a>(config: &'a Config, object: &Endpoint) -> Option<Vec<&'a Scope>> {
    let mut scopes: Vec<&Scope> = Vec::new();
    for pair in &config.pairs {
        for side in Side::BOTH {
            if pair.endpoint(side) != object {
                continue;
            }
            let scope = pair.scope[side].as_ref()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
    }
    (!scopes.is_empty()).then_some(scopes)
}

/// A fingerprint of a selection, kept with the snapshot it narrowed, so a
/// snapshot taken under other scopes is pulled in full again.
pub fn fingerprint(scopes: &[&Scope]) -> String {
    crate::model::content_hash(format!("{scopes:?}").as_bytes())
}

/// Gives a record about to be created on a scoped side the values that
/// keep it in scope (the conditions naming one value, where the mapping
/// does not write that field), and notes what of the scope it cannot be
/// given, or where the mapped value puts it out of scope.
pub fn stamp_create(scope: &Scope, create: &mut crate::plan::Create, object: &str) {
    let mut missed = scope.unstampable();
    for (field, value) in scope.stamp() {
        match create.changes.iter().find(|c| c.field == field) {
            Some(mapped) if !Test::AnyOf(vec![value.clone()]).holds(&mapped.to) => {
                missed.push(format!("{field} (the mapping writes {:?})", mapped.to));
            }
            Some(_) => {}
            None => create.changes.push(crate::plan::Change {
                field,
                from: String::new(),
                to: value,
                source_field: String::new(),
                source_value: String::new(),
            }),
        }
    }
    if !missed.is_empty() {
        create.notes.push(format!(
            "cannot be written into the scope of {object}: {}; it is created, and its link sleeps while it is out of scope",
            missed.join(", ")
        ));
    }
}

/// One side's records as a scoped pair sees them.
#[derive(Debug, Default)]
pub struct Seen {
    /// The records in scope, those out of it that a link holds (so the
    /// link is found, and sleeps, rather than taken for deleted), and the
    /// unlinked ones out of it (`blocking`).
    pub records: Vec<Record>,
    /// The ids of the linked records out of scope.
    pub outside: std::collections::HashSet<String>,
    /// The ids of the unlinked records out of scope: matched only to stop
    /// the other side's record that shares their key from being created
    /// as a second record here (or written onto them by an upsert); never
    /// linked, written, created across or deleted.
    pub blocking: std::collections::HashSet<String>,
    pub in_scope: usize,
}

/// Narrows one side's `records` to `scope`: records out of it are never
/// created, updated, deleted, linked or matched by the pair; those a link
/// holds (`is_linked`) are kept as `outside`, the others as `blocking`.
pub fn narrow(
    scope: &Scope,
    records: &[Record],
    unselected: &BTreeSet<String>,
    is_linked: impl Fn(&str) -> bool,
) -> Seen {
    let mut seen = Seen::default();
    for record in records {
        if scope.holds(record, unselected) {
            seen.in_scope += 1;
            seen.records.push(record.clone());
        } else if is_linked(&record.id) {
            seen.outside.insert(record.id.clone());
            seen.records.push(record.clone());
        } else {
            seen.blocking.insert(record.id.clone());
            seen.records.push(record.clone());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Fields;

    fn record(id: &str, fields: &[(&str, &str)]) -> Record {
        let mut f = Fields::new();
        for (k, v) in fields {
            f.insert(k, v);
        }
        Record::new(id, f, 1)
    }

    fn scope(conditions: Vec<(&str, Test)>) -> Scope {
        Scope {
            conditions: conditions
                .into_iter()
                .map(|(field, test)| Condition {
                    field: field.into(),
                    test,
                })
                .collect(),
            saved_filter: None,
        }
    }

    fn texts(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn every_condition_holds_a_list_is_any_of_its_values_and_not_needs_a_value() {
        let s = scope(vec![
            ("lifecyclestage", Test::AnyOf(texts(&["customer"]))),
            (
                "hs_lead_status",
                Test::AnyOf(texts(&["OPEN", "IN_PROGRESS"])),
            ),
        ]);
        let none = BTreeSet::new();
        assert!(s.holds(
            &record(
                "1",
                &[("lifecyclestage", "Customer"), ("hs_lead_status", "OPEN")]
            ),
            &none
        ));
        assert!(!s.holds(
            &record(
                "2",
                &[("lifecyclestage", "lead"), ("hs_lead_status", "OPEN")]
            ),
            &none
        ));
        assert!(!s.holds(&record("3", &[("lifecyclestage", "customer")]), &none));
        let not = Test::NoneOf(texts(&["lead"]));
        assert!(not.holds("customer") && !not.holds("lead") && !not.holds(""));
        assert!(Test::Present(true).holds("x") && !Test::Present(true).holds(" "));
        assert!(Test::Present(false).holds("") && !Test::Present(false).holds("x"));
        // A multi-value field is in when one of its members is.
        assert!(Test::AnyOf(texts(&["b"])).holds("a;b"));
    }

    #[test]
    fn narrowing_keeps_records_in_scope_and_marks_linked_and_unlinked_ones_out_of_it() {
        let s = scope(vec![("lifecyclestage", Test::AnyOf(texts(&["customer"])))]);
        let records = vec![
            record("1", &[("lifecyclestage", "customer")]),
            record("2", &[("lifecyclestage", "lead")]),
            record("3", &[("lifecyclestage", "lead")]),
        ];
        let seen = narrow(&s, &records, &BTreeSet::new(), |id| id == "3");
        let ids: Vec<&str> = seen.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(seen.in_scope, 1);
        assert!(seen.outside.contains("3") && seen.outside.len() == 1);
        assert!(seen.blocking.contains("2") && seen.blocking.len() == 1);
    }

    #[test]
    fn a_saved_filter_holds_what_the_vendor_listed_and_only_single_values_are_stamped() {
        let mut s = scope(vec![
            ("owner_id", Test::AnyOf(texts(&["7"]))),
            ("label", Test::AnyOf(texts(&["a", "b"]))),
            ("phone", Test::Present(true)),
        ]);
        s.saved_filter = Some("42".into());
        let outside: BTreeSet<String> = ["2".to_string()].into();
        let r = |id| record(id, &[("owner_id", "7"), ("label", "a"), ("phone", "1")]);
        assert!(s.holds(&r("1"), &outside));
        assert!(!s.holds(&r("2"), &outside));
        assert_eq!(s.stamp(), vec![("owner_id".to_string(), "7".to_string())]);
        assert_eq!(
            s.unstampable(),
            vec!["label (one of a, b)", "phone (present)", "filter_id 42"]
        );
    }
}
