//! HubSpot's writes: batch upsert, create and update (at most 100 inputs a
//! call) with an `objectWriteTraceId` on every input, which is what makes
//! HubSpot answer a partly bad batch with a 207 instead of refusing it whole
//! and how results are matched to inputs (HubSpot does not promise result
//! order); batch archive; and merges, one call each.
//!
//! Request bodies are built and answers read by pure functions
//! (`upsert_inputs`, `create_inputs`, `update_inputs`, `read_batch_answer`),
//! unit-tested below without HTTP; matching and sorting are
//! `connector::answers`'s. Associations are written by `associations`
//! after the records exist.

use super::HubSpot;
use super::api::{
    ApiObject, BatchInput, BatchResponse, CreateInput, IdInput, UpdateInput, UpsertInput,
};
use super::fields::{Relink, note_association_type, relation_of, value_text, without_relations};
use crate::connector::answers::{
    AnsweredError, AnsweredRecord, SentInput, applied_without_body, for_each_input, match_answers,
    unreadable, write_outcome,
};
use crate::connector::http::Repeat;
use crate::connector::seam::{
    Connector, MergeRequest, NewRecord, RecordRef, RecordUpdate, WriteOutcome, WriteResult,
};
use crate::model::ObjectKind;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl HubSpot {
    /// `Connector::create`: contacts with an email are upserted on it
    /// (`batch/upsert`), so a create that is retried, or resumed after a
    /// crash, finds the contact it made instead of making a second one;
    /// the rest are created. On a scoped side an upsert could land on a
    /// contact out of the scope (and write it into the scope); it does not,
    /// because no create is planned there for an email such a contact
    /// holds: the pipeline looks every would-be create's email up, scope
    /// or not (`Connector::lookup`), and plans a wait instead. The lookup
    /// misses only a contact made in the seconds the search index lags,
    /// or one holding the email as a secondary one; an upsert there merges
    /// onto it where a plain create would make a duplicate or be refused,
    /// the lesser harm, so upsert stays.
    pub(super) fn write_new(
        &self,
        object: ObjectKind,
        records: &[NewRecord],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let (upserts, creates): (Vec<&NewRecord>, Vec<&NewRecord>) =
            records.iter().partition(|r| {
                object == ObjectKind::Contacts
                    && r.fields.get("email").is_some_and(|e| !e.trim().is_empty())
            });
        let properties = |records: &[&NewRecord]| -> Vec<BTreeMap<String, String>> {
            records
                .iter()
                .map(|r| without_relations(object, &r.fields))
                .collect()
        };
        let (upserted, created) = (properties(&upserts), properties(&creates));
        let emails: Vec<&str> = upserts.iter().map(|r| r.fields["email"].trim()).collect();
        let sent: Vec<SentInput> = upserts
            .iter()
            .zip(&upserted)
            .zip(&emails)
            .map(|((r, values), email)| SentInput {
                key: &r.key,
                id: None,
                unique: Some(("email", email)),
                values,
            })
            .collect();
        let mut results = self.batch_write(
            object,
            "upsert",
            &sent,
            upsert_inputs(&sent),
            fields,
            Repeat::Safe,
        )?;
        let sent: Vec<SentInput> = creates
            .iter()
            .zip(&created)
            .map(|(r, values)| SentInput {
                key: &r.key,
                id: None,
                unique: None,
                values,
            })
            .collect();
        let mut inputs = create_inputs(&sent);
        // A note is created with its associations, so it never exists
        // unattached; other records are associated once they exist.
        let inline = object == ObjectKind::Notes;
        if inline {
            for (input, record) in inputs.iter_mut().zip(&creates) {
                input.associations = note_associations(&record.fields);
            }
        }
        let mut created = self.batch_write(
            object,
            "create",
            &sent,
            inputs,
            fields,
            Repeat::OnlyIfUnsent,
        )?;
        if inline {
            for result in &mut created {
                let Some(record) = creates.iter().find(|r| r.key == result.key) else {
                    continue;
                };
                if let WriteOutcome::Written(written) = &mut result.outcome {
                    for (field, value) in &record.fields {
                        if relation_of(object, field).is_some() {
                            crate::model::set_field(&mut written.fields, field, value);
                        }
                    }
                }
            }
        }
        results.extend(created);
        if !inline {
            let relinks: Vec<Relink> = records
                .iter()
                .flat_map(|r| Relink::of(object, &r.key, &r.fields, &BTreeMap::new()))
                .collect();
            self.relink(object, &relinks, &mut results)?;
        }
        Ok(results)
    }

    /// `Connector::update`: properties by `batch/update`, associations by
    /// `relink`. A change of associations alone is an association write,
    /// not an update.
    pub(super) fn write_updates(
        &self,
        object: ObjectKind,
        records: &[RecordUpdate],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let (with_properties, relations_only): (Vec<&RecordUpdate>, Vec<&RecordUpdate>) = records
            .iter()
            .partition(|r| !without_relations(object, &r.fields).is_empty());
        let properties: Vec<BTreeMap<String, String>> = with_properties
            .iter()
            .map(|r| without_relations(object, &r.fields))
            .collect();
        let sent: Vec<SentInput> = with_properties
            .iter()
            .zip(&properties)
            .map(|(r, values)| SentInput {
                key: &r.key,
                id: Some(&r.id),
                unique: None,
                values,
            })
            .collect();
        let mut results = self.batch_write(
            object,
            "update",
            &sent,
            update_inputs(&sent),
            fields,
            Repeat::Safe,
        )?;
        results.extend(relations_only.iter().map(|r| WriteResult {
            key: r.key.clone(),
            outcome: applied_without_body(&r.id),
        }));
        let relinks: Vec<Relink> = records
            .iter()
            .flat_map(|r| Relink::of(object, &r.key, &r.fields, &r.previous))
            .collect();
        self.relink(object, &relinks, &mut results)?;
        Ok(results)
    }

    /// `Connector::delete`: `batch/archive`, which answers 204 with no body;
    /// archiving a missing id is fine.
    pub(super) fn archive(
        &self,
        object: ObjectKind,
        records: &[RecordRef],
    ) -> Result<Vec<WriteResult>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("{}/batch/archive", self.objects_path(object)?);
        let body = serde_json::to_value(BatchInput {
            inputs: records
                .iter()
                .map(|r| IdInput { id: r.id.clone() })
                .collect(),
        })?;
        match self.http.post(&path, &body, Repeat::Safe) {
            Ok(_) => Ok(records
                .iter()
                .map(|r| WriteResult {
                    key: r.key.clone(),
                    outcome: applied_without_body(&r.id),
                })
                .collect()),
            Err(e) => {
                let outcome = write_outcome(Err(e))
                    .with_context(|| format!("archiving {object} on {}", self.system()))?;
                Ok(for_each_input(
                    records.iter().map(|r| r.key.as_str()),
                    &outcome,
                ))
            }
        }
    }

    /// `Connector::merge`: one `…/merge` call a request. Not repeated once
    /// sent: a merge that happened cannot be made again; the next run finds
    /// it through `hs_merged_object_ids`.
    pub(super) fn merge_records(
        &self,
        object: ObjectKind,
        merges: &[MergeRequest],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let path = format!("{}/merge", self.objects_path(object)?);
        let mut results = Vec::new();
        for m in merges {
            let body = json!({"primaryObjectId": m.kept, "objectIdToMerge": m.merged});
            let answer = self
                .http
                .post(&path, &body, Repeat::OnlyIfUnsent)
                .map(|reply| {
                    let record = self
                        .parse::<ApiObject>(reply.body, "merge answer")
                        .and_then(|api| Self::to_record(object, &api, fields));
                    match record {
                        Ok(record) => WriteOutcome::Written(record),
                        Err(e) => unreadable(e),
                    }
                });
            let outcome = write_outcome(answer)
                .with_context(|| format!("merging {object} on {}", self.system()))?;
            results.push(WriteResult {
                key: m.key.clone(),
                outcome,
            });
        }
        Ok(results)
    }

    /// Sends one batch write and matches every input to its result
    /// (`match_answers`: by trace id where the answer echoes it, else by
    /// what the result holds; HubSpot's schema makes the trace id optional
    /// and promises no order).
    fn batch_write<T: serde::Serialize>(
        &self,
        object: ObjectKind,
        action: &str,
        sent: &[SentInput],
        inputs: Vec<T>,
        fields: &[String],
        repeat: Repeat,
    ) -> Result<Vec<WriteResult>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let every = |outcome: WriteOutcome| for_each_input(sent.iter().map(|s| s.key), &outcome);
        let path = format!("{}/batch/{action}", self.objects_path(object)?);
        let body = serde_json::to_value(BatchInput { inputs })?;
        let reply = match self.http.post(&path, &body, repeat) {
            Ok(reply) => reply,
            // A whole batch refused for its content (400/409 and the like)
            // wrote nothing: each of its records is refused, not the run. A
            // success we cannot read may have applied every input.
            Err(e) => {
                let outcome = write_outcome(Err(e))
                    .with_context(|| format!("{} {action} of {object}", self.http.system()))?;
                return Ok(every(outcome));
            }
        };
        let (results, errors) = match read_batch_answer(object, reply.body, fields) {
            Ok(answer) => answer,
            Err(e) => {
                return Ok(every(WriteOutcome::Unknown(format!(
                    "HubSpot's {} answer could not be read ({e})",
                    reply.status
                ))));
            }
        };
        Ok(match_answers(
            sent,
            results,
            &errors,
            "HubSpot's answer holds no result for this record",
        ))
    }
}

/// The inputs of a `batch/upsert` on the unique property each input names.
pub(super) fn upsert_inputs(sent: &[SentInput]) -> Vec<UpsertInput> {
    sent.iter()
        .map(|s| UpsertInput {
            id_property: "email",
            id: s
                .unique
                .map(|(_, email)| email.to_string())
                .unwrap_or_default(),
            properties: s.values.clone(),
            trace_id: s.key.to_string(),
        })
        .collect()
}

/// The inputs of a `batch/create`.
pub(super) fn create_inputs(sent: &[SentInput]) -> Vec<CreateInput> {
    sent.iter()
        .map(|s| CreateInput {
            properties: s.values.clone(),
            // Required by the schema even when empty; associations are
            // written after the records exist (`relink`).
            associations: Vec::new(),
            trace_id: s.key.to_string(),
        })
        .collect()
}

/// A new note's `associations` (`PublicAssociationsForObject`): one per
/// record its relation fields name, each with the default note type.
pub(super) fn note_associations(fields: &BTreeMap<String, String>) -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    let mut associations = Vec::new();
    for (field, value) in fields {
        let Some(relation) = relation_of(ObjectKind::Notes, field) else {
            continue;
        };
        let Some(type_id) = note_association_type(relation.to) else {
            continue;
        };
        for id in crate::model::set_members(value) {
            if seen.insert((relation.to, id.to_string())) {
                associations.push(json!({
                    "to": {"id": id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                }));
            }
        }
    }
    associations
}

/// The inputs of a `batch/update`.
pub(super) fn update_inputs(sent: &[SentInput]) -> Vec<UpdateInput> {
    sent.iter()
        .map(|s| UpdateInput {
            id: s.id.unwrap_or_default().to_string(),
            properties: s.values.clone(),
            trace_id: s.key.to_string(),
        })
        .collect()
}

/// A batch write's answer (200 or 207) read into its results, each with
/// the trace id it echoes and the values it holds, and its errors, each
/// with the trace ids and other context values it names; `Err` when the
/// body is not a batch answer.
pub(super) fn read_batch_answer(
    object: ObjectKind,
    body: Value,
    fields: &[String],
) -> Result<(Vec<AnsweredRecord>, Vec<AnsweredError>), serde_json::Error> {
    let response: BatchResponse = serde_json::from_value(body)?;
    let results = response
        .results
        .iter()
        .map(|api| AnsweredRecord {
            trace: api.object_write_trace_id.clone(),
            id: api.id.clone(),
            values: api
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            record: HubSpot::to_record(object, api, fields).map_err(|e| e.to_string()),
        })
        .collect();
    let errors = response
        .errors
        .iter()
        .map(|error| AnsweredError {
            reason: format!("{}: {}", error.category, error.message),
            traces: error.context_values("objectWriteTraceId"),
            names: error
                .context
                .keys()
                .filter(|k| *k != "objectWriteTraceId")
                .flat_map(|k| error.context_values(k))
                .collect(),
        })
        .collect();
    Ok((results, errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::answers::tests::{sent, values};

    #[test]
    fn a_batch_create_body_carries_trace_ids_and_an_empty_associations_list() {
        let (a, b) = (values(&[("dealname", "Big")]), values(&[]));
        let inputs = [sent("k0", &a), sent("k1", &b)];
        let body = serde_json::to_value(BatchInput {
            inputs: create_inputs(&inputs),
        })
        .expect("serialises");
        assert_eq!(
            body,
            json!({"inputs": [
                {"properties": {"dealname": "Big"}, "associations": [], "objectWriteTraceId": "k0"},
                {"properties": {}, "associations": [], "objectWriteTraceId": "k1"},
            ]})
        );
    }

    #[test]
    fn a_new_note_carries_its_records_as_default_typed_associations() {
        let fields = values(&[
            ("hs_note_body", "Called"),
            ("contact", "11"),
            ("contacts", "11;12"),
            ("deal", "30"),
        ]);
        assert_eq!(
            serde_json::to_value(note_associations(&fields)).expect("serialises"),
            json!([
                {"to": {"id": "11"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]},
                {"to": {"id": "12"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]},
                {"to": {"id": "30"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}]},
            ])
        );
    }

    #[test]
    fn upserts_go_by_email_and_updates_by_id() {
        let v = values(&[("email", "ann@x.io"), ("firstname", "Ann")]);
        let upsert = SentInput {
            key: "k0",
            id: None,
            unique: Some(("email", "ann@x.io")),
            values: &v,
        };
        let update = SentInput {
            key: "k1",
            id: Some("41"),
            unique: None,
            values: &v,
        };
        assert_eq!(
            serde_json::to_value(upsert_inputs(&[upsert])).expect("serialises"),
            json!([{"idProperty": "email", "id": "ann@x.io", "properties": {"email": "ann@x.io", "firstname": "Ann"}, "objectWriteTraceId": "k0"}])
        );
        assert_eq!(
            serde_json::to_value(update_inputs(&[update])).expect("serialises"),
            json!([{"id": "41", "properties": {"email": "ann@x.io", "firstname": "Ann"}, "objectWriteTraceId": "k1"}])
        );
    }

    #[test]
    fn a_207_answer_matches_results_and_errors_by_trace_id() {
        let (a, b, c) = (
            values(&[("email", "a@x.io")]),
            values(&[("email", "not-an-email")]),
            values(&[("email", "c@x.io")]),
        );
        let inputs = [sent("k0", &a), sent("k1", &b), sent("k2", &c)];
        // Results in no particular order; k2 has neither result nor error.
        let answer = json!({
            "status": "COMPLETE",
            "results": [{
                "id": "101",
                "objectWriteTraceId": "k0",
                "properties": {"email": "a@x.io", "lastmodifieddate": "2026-11-23T03:47:22.000Z"},
            }],
            "errors": [{
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Email address not-an-email is invalid",
                "context": {"objectWriteTraceId": ["k1"]},
            }],
        });
        let fields = vec!["email".to_string()];
        let (results, errors) =
            read_batch_answer(ObjectKind::Contacts, answer, &fields).expect("a batch answer");
        let matched = match_answers(&inputs, results, &errors, "no result");
        let written = matched[0].outcome.written().expect("k0 written");
        assert_eq!(
            (written.id.as_str(), written.get("email")),
            ("101", "a@x.io")
        );
        assert_eq!(
            matched[1].outcome,
            WriteOutcome::Refused("VALIDATION_ERROR: Email address not-an-email is invalid".into())
        );
        assert_eq!(
            matched[2].outcome,
            WriteOutcome::Unknown("no result".into())
        );
    }

    #[test]
    fn an_answer_that_is_not_a_batch_answer_is_unreadable() {
        assert!(read_batch_answer(ObjectKind::Contacts, json!([1, 2]), &[]).is_err());
    }
}
