//! Pipedrive's writes: one call per record (Pipedrive has no batch writes):
//! `POST`/`PATCH /api/v2/{collection}` with a body `body` builds from the
//! record's values, `DELETE` (a record already gone counts as deleted) and
//! v1 merges. Every answer or error is sorted by `answers::write_outcome`;
//! a record an interrupt kept from being sent is `NotSent`.
//!
//! `body` is pure and unit-tested below without HTTP; reading answers into
//! records is `fields`'s.

use super::Pipedrive;
use super::api::{Entity, One};
use super::fields::{
    FieldKind, PersonParts, custom_value, date, label_ids, number, time, with_primary,
};
use crate::connector::answers::{applied_without_body, unreadable, write_outcome};
use crate::connector::http::{ApiError, Repeat};
use crate::connector::seam::{
    Connector, MergeRequest, NewRecord, RecordRef, RecordUpdate, StoppedWrite, WriteOutcome,
    WriteResult,
};
use crate::model::ObjectKind;
use crate::vendor::pipedrive_never_cleared;
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

impl Pipedrive {
    /// `Connector::create`.
    pub(super) fn write_new(
        &self,
        object: ObjectKind,
        records: &[NewRecord],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let resolved = self.resolve(object, fields)?;
        let path = Self::collection_path(object)?;
        one_by_one(
            records,
            |r| &r.key,
            |r| {
                let request =
                    body(object, &r.fields, &resolved, None, true).map(|b| (path.clone(), b));
                self.write_one(object, &r.key, request, &resolved, true)
            },
        )
    }

    /// `Connector::update`: a person's emails, phones and name are written
    /// whole, from the person as it is now (`person_parts`).
    pub(super) fn write_updates(
        &self,
        object: ObjectKind,
        records: &[RecordUpdate],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let resolved = self.resolve(object, fields)?;
        let collection = Self::collection_path(object)?;
        one_by_one(
            records,
            |r| &r.key,
            |r| {
                let needs_parts = ["email", "phone", "first_name", "last_name"]
                    .iter()
                    .any(|f| r.fields.contains_key(*f));
                let current = if object == ObjectKind::Persons && needs_parts {
                    match self.person_parts(&r.id) {
                        Ok(parts) => Some(parts),
                        Err(e) if crate::interrupt::signal_of(&e).is_some() => {
                            return Ok(not_sent(&r.key));
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    None
                };
                let request = body(object, &r.fields, &resolved, current.as_ref(), false)
                    .map(|b| (format!("{collection}/{}", r.id), b));
                self.write_one(object, &r.key, request, &resolved, false)
            },
        )
    }

    /// `Connector::delete`: a record already gone (404) counts as deleted.
    pub(super) fn delete_records(
        &self,
        object: ObjectKind,
        records: &[RecordRef],
    ) -> Result<Vec<WriteResult>> {
        let collection = Self::collection_path(object)?;
        one_by_one(
            records,
            |r| &r.key,
            |r| {
                let answer = match self.http.delete(&format!("{collection}/{}", r.id)) {
                    Ok(_) | Err(ApiError::Rejected { status: 404, .. }) => {
                        Ok(applied_without_body(&r.id))
                    }
                    Err(e) => Err(e),
                };
                let outcome = write_outcome(answer)
                    .with_context(|| format!("deleting {object} on {}", self.system()))?;
                Ok(WriteResult {
                    key: r.key.clone(),
                    outcome,
                })
            },
        )
    }

    /// `Connector::merge`: `PUT /v1/{persons|organizations|deals}/{id}/merge`
    /// with `merge_with_id`: the record `merge_with_id` names keeps its id
    /// and wins conflicts; the other is gone. v2 has no merge.
    pub(super) fn merge_records(
        &self,
        object: ObjectKind,
        merges: &[MergeRequest],
    ) -> Result<Vec<WriteResult>> {
        let collection = Self::collection(object)?;
        one_by_one(
            merges,
            |m| &m.key,
            |m| {
                let Ok(kept) = m.kept.parse::<i64>() else {
                    return Ok(WriteResult {
                        key: m.key.clone(),
                        outcome: WriteOutcome::Refused(format!(
                            "`{}` is not a Pipedrive id",
                            m.kept
                        )),
                    });
                };
                let path = format!("/api/v1/{collection}/{}/merge", m.merged);
                let body = json!({ "merge_with_id": kept });
                // Not repeated once sent: the merged record is gone after it.
                // The answer is a v1 record; the survivor is `kept`, whose
                // fields the next pull reads.
                let answer = self
                    .http
                    .send("PUT", &path, &[], Some(&body), Repeat::OnlyIfUnsent)
                    .map(|_| applied_without_body(&m.kept));
                let outcome = write_outcome(answer)
                    .with_context(|| format!("merging {object} on {}", self.system()))?;
                Ok(WriteResult {
                    key: m.key.clone(),
                    outcome,
                })
            },
        )
    }

    /// Sends one create or update and turns the answer into a write result:
    /// a refusal of the record is its outcome; auth and outages stop the run.
    fn write_one(
        &self,
        object: ObjectKind,
        key: &str,
        request: Result<(String, Value), String>,
        fields: &[(String, FieldKind)],
        create: bool,
    ) -> Result<WriteResult> {
        let (path, body) = match request {
            Ok(r) => r,
            Err(reason) => {
                return Ok(WriteResult {
                    key: key.to_string(),
                    outcome: WriteOutcome::Refused(reason),
                });
            }
        };
        let reply = if create {
            self.http.post(&path, &body, Repeat::OnlyIfUnsent)
        } else if object == ObjectKind::Notes {
            // v1 updates are PUT (updateNote); v2 ones PATCH.
            self.http.send("PUT", &path, &[], Some(&body), Repeat::Safe)
        } else {
            self.http.patch(&path, &body)
        };
        // A success whose body cannot be read may still have written.
        let answer = reply.map(|reply| {
            let record = serde_json::from_value::<One<Entity>>(reply.body)
                .map_err(|e| e.to_string())
                .and_then(|one| {
                    self.to_record(object, &one.data, fields)
                        .map_err(|e| e.to_string())
                });
            match record {
                Ok(record) => WriteOutcome::Written(record),
                Err(e) => unreadable(e),
            }
        });
        let outcome = write_outcome(answer)
            .with_context(|| format!("writing {object} to {}", self.system()))?;
        Ok(WriteResult {
            key: key.to_string(),
            outcome,
        })
    }
}

/// Writes `records` one request each, in order; after an interrupt the
/// rest come back `NotSent`, merges included. A whole-call failure that
/// surely wrote nothing (a daily limit reached, a rate limit, auth) stops
/// the rest: they come back `NotSent` beside the outcomes of the records
/// before, in a `StoppedWrite`, so the applier settles what was done. Any
/// other failure is the call's, as it was.
fn one_by_one<T>(
    records: &[T],
    key: impl Fn(&T) -> &String,
    mut write: impl FnMut(&T) -> Result<WriteResult>,
) -> Result<Vec<WriteResult>> {
    let mut results = Vec::with_capacity(records.len());
    for (n, record) in records.iter().enumerate() {
        // After a signal the records left are not sent: the one in flight
        // was answered and recorded, and nothing more goes out.
        if crate::interrupt::requested().is_some() {
            results.push(not_sent(key(record)));
            continue;
        }
        match write(record) {
            Ok(result) => results.push(result),
            Err(cause) if StoppedWrite::wrote_nothing(&cause) => {
                results.extend(records[n..].iter().map(|r| not_sent(key(r))));
                return Err(StoppedWrite { results, cause }.into());
            }
            Err(cause) => return Err(cause),
        }
    }
    Ok(results)
}

/// A record whose request an interrupt kept from being sent: one call per
/// record, so the records after the one in flight are never sent.
fn not_sent(key: &str) -> WriteResult {
    WriteResult {
        key: key.to_string(),
        outcome: WriteOutcome::NotSent,
    }
}

/// The JSON body for writing `values`. For a person update `current` is
/// the person as it is, so `emails`/`phones` keep their other entries and
/// a changed first or last name keeps the other part; `None` is a create.
pub(super) fn body(
    object: ObjectKind,
    values: &BTreeMap<String, String>,
    fields: &[(String, FieldKind)],
    current: Option<&PersonParts>,
    create: bool,
) -> Result<Value, String> {
    let mut body = Map::new();
    let mut custom = Map::new();
    let kinds: HashMap<&str, &FieldKind> = fields.iter().map(|(n, k)| (n.as_str(), k)).collect();
    for (name, value) in values {
        let Some(kind) = kinds.get(name.as_str()) else {
            continue;
        };
        if value.trim().is_empty() {
            // A create leaves out what it has no value for.
            if create {
                continue;
            }
            // The planner shows these as invalid; a saved plan from
            // before it knew is refused here rather than sent.
            if let Some(why) = pipedrive_never_cleared(object, name) {
                return Err(format!("`{name}` cannot be cleared on Pipedrive ({why})"));
            }
        }
        match kind {
            FieldKind::Primary(list) => {
                let existing = match current {
                    None => Vec::new(),
                    Some(c) => if *list == "emails" { &c.emails } else { &c.phones }
                        .clone()
                        .ok_or_else(|| {
                            format!("Pipedrive's answer did not carry the person's `{list}`, so crmsync does not rewrite them")
                        })?,
                };
                let entries =
                    with_primary(existing, value).map_err(|e| format!("`{name}`: {e}"))?;
                body.insert(
                    list.to_string(),
                    serde_json::to_value(entries).expect("entries serialise"),
                );
            }
            FieldKind::Text => {
                if object == ObjectKind::Persons && (name == "first_name" || name == "last_name") {
                    continue; // written through `name` below
                }
                body.insert(
                    name.clone(),
                    if value.trim().is_empty() {
                        Value::Null
                    } else {
                        json!(value)
                    },
                );
            }
            FieldKind::Number | FieldKind::Integer => {
                body.insert(
                    name.clone(),
                    number(value, matches!(kind, FieldKind::Integer))
                        .map_err(|e| format!("`{name}`: {e}"))?,
                );
            }
            FieldKind::Date => {
                body.insert(
                    name.clone(),
                    date(value).map_err(|e| format!("`{name}`: {e}"))?,
                );
            }
            FieldKind::Time => {
                body.insert(
                    name.clone(),
                    time(value).map_err(|e| format!("`{name}`: {e}"))?,
                );
            }
            // The spec's `OrganizationItemAddress` takes the full address
            // as `value`; Pipedrive derives the parts from it.
            FieldKind::Address => {
                body.insert(name.clone(), json!({"value": value.trim()}));
            }
            FieldKind::Labels => {
                body.insert(
                    name.clone(),
                    label_ids(value).map_err(|e| format!("`{name}`: {e}"))?,
                );
            }
            FieldKind::Custom(field) => {
                custom.insert(
                    field.field_code.clone(),
                    custom_value(field, value).map_err(|e| format!("`{name}`: {e}"))?,
                );
            }
        }
    }
    if object == ObjectKind::Persons {
        if values.contains_key("first_name") || values.contains_key("last_name") {
            // The part not written is kept as the person has it.
            let part = |n: &str, held: Option<&Option<String>>| match (values.get(n), held) {
                (Some(v), _) => Ok(v.trim().to_string()),
                (None, None) => Ok(String::new()),
                (None, Some(Some(v))) => Ok(v.trim().to_string()),
                (None, Some(None)) => Err(format!(
                    "Pipedrive's answer did not carry the person's `{n}`, so crmsync does not rewrite the name"
                )),
            };
            let first = part("first_name", current.map(|c| &c.first_name))?;
            let last = part("last_name", current.map(|c| &c.last_name))?;
            let name = format!("{first} {last}").trim().to_string();
            if !name.is_empty() {
                body.insert("name".into(), json!(name));
            } else if !create {
                return Err("clearing `first_name` and `last_name` would leave the person without the name Pipedrive requires".into());
            }
        }
        // Pipedrive requires a name; a person known only by email is named by it.
        let named = body
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if create && !named {
            let email = values
                .get("email")
                .filter(|e| !e.trim().is_empty())
                .ok_or("a person needs a name or an email")?;
            body.insert("name".into(), json!(email));
        }
    }
    if !custom.is_empty() {
        body.insert("custom_fields".into(), Value::Object(custom));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::answers::tests::values;
    use crate::connector::pipedrive::api::ContactEntry;

    fn person_fields() -> Vec<(String, FieldKind)> {
        ["first_name", "last_name", "email", "phone"]
            .iter()
            .map(|n| {
                let kind = super::super::fields::builtins(ObjectKind::Persons)
                    .iter()
                    .find(|(b, _)| b == n)
                    .map(|(_, k)| k.clone())
                    .expect("a built-in");
                (n.to_string(), kind)
            })
            .collect()
    }

    fn entries(value: Value) -> Vec<ContactEntry> {
        serde_json::from_value(value).expect("entries")
    }

    #[test]
    fn a_person_create_is_named_from_its_parts_and_sends_a_primary_email() {
        let sent = values(&[
            ("first_name", "Ann"),
            ("last_name", "Lee"),
            ("email", "ann@x.io"),
        ]);
        let made = body(ObjectKind::Persons, &sent, &person_fields(), None, true).expect("a body");
        assert_eq!(
            made,
            json!({
                "name": "Ann Lee",
                "emails": [{"value": "ann@x.io", "primary": true, "label": "work"}],
            })
        );
    }

    #[test]
    fn a_person_update_keeps_the_other_emails_and_entries_it_cannot_read() {
        let current = PersonParts {
            emails: Some(entries(json!([
                {"value": "old@x.io", "primary": true, "label": "work"},
                {"value": "home@x.io", "primary": false, "label": "home"},
                {"label": "other", "primary": false, "extra": 1},
            ]))),
            phones: Some(Vec::new()),
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
        };
        let sent = values(&[("email", "new@x.io"), ("last_name", "Park")]);
        let made = body(
            ObjectKind::Persons,
            &sent,
            &person_fields(),
            Some(&current),
            false,
        )
        .expect("a body");
        assert_eq!(
            made,
            json!({
                "name": "Ann Park",
                "emails": [
                    {"value": "new@x.io", "primary": true, "label": "work"},
                    {"value": "home@x.io", "primary": false, "label": "home"},
                    {"label": "other", "primary": false, "extra": 1},
                ],
            })
        );
    }

    #[test]
    fn clearing_a_field_pipedrive_cannot_clear_is_refused_before_sending() {
        let fields = vec![("value".to_string(), FieldKind::Number)];
        let refused = body(
            ObjectKind::Deals,
            &values(&[("value", "")]),
            &fields,
            None,
            false,
        );
        assert_eq!(
            refused,
            Err(
                "`value` cannot be cleared on Pipedrive (updateDeal does not take null for it)"
                    .into()
            )
        );
        // A create leaves an empty value out instead.
        let made = body(
            ObjectKind::Deals,
            &values(&[("value", "")]),
            &fields,
            None,
            true,
        );
        assert_eq!(made, Ok(json!({})));
    }
}
