//! HubSpot CRM connector on the date-based API (`/crm/objects/{version}/…`).
//!
//! Lists page by page (`limit=100`, `after` cursor, only the mapped
//! properties plus the modified time), writes through the batch endpoints
//! (at most 100 inputs a call) with an `objectWriteTraceId` on every input,
//! which is what makes HubSpot answer a partly bad batch with a 207 instead of
//! refusing it whole, and is how results are matched to inputs (HubSpot does
//! not promise result order). Contacts with an email are created by
//! `batch/upsert` on `email`, so a create that is retried, or resumed after a
//! crash, finds the contact it made instead of making a second one.
//!
//! A deal's `contact` and `contacts`, and a contact's or a deal's
//! `primary_company` and `companies`, are not properties: they are the
//! record's associated contacts or companies (the primary one, the lowest id;
//! or all of them, ids joined by `;`), read with `associations=…` on a list
//! (the associations batch read for search results and paged sets) and
//! written through the associations batch API, which leaves the record's
//! modified time alone. One code path serves every (from, to) pair.

mod api;
mod fields;
mod limits;

use super::http::{ApiError, AuthStyle, HttpClient, Pacing, Repeat, RetryPolicy};
use super::{
    AnsweredError, AnsweredRecord, Capabilities, Connector, Dependency, FieldDescription,
    FieldInfo, FieldType, Listed, Meaning, MergeRequest, NewRecord, OptionDescription, Page,
    RecordRef, RecordUpdate, SentInput, WriteOutcome, WriteResult, applied_without_body,
    for_each_input, match_answers,
};
use crate::config::{ConfigError, SystemConfig};
use crate::model::{ObjectKind, Owner, Record, set_field};
use crate::secret::Secret;
use crate::vendor::HUBSPOT;
use anyhow::{Context, Result};
use api::{
    ApiObject, ApiOwner, AssociateInput, AssociationsInput, AssociationsPage, BatchInput,
    BatchResponse, CreateInput, DissociateInput, IdInput, Pipeline, Property, ReadInput,
    SearchPage, UpdateInput, UpsertInput,
};
pub use fields::{COMPANIES_FIELD, CONTACT_FIELD, CONTACTS_FIELD, PRIMARY_COMPANY_FIELD};
use fields::{
    Relink, modified_property, relation_of, relation_targets, relations, set_relations, type_name,
    value_text, without_relations,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// HubSpot caps batch inputs at 100 (the profile's batch size) and list
/// pages at 100.
const MAX_BATCH: usize = HUBSPOT.max_batch;
const PAGE_SIZE: usize = 100;
/// Search pages hold at most 200 results, and one query reaches at most
/// 10,000 of them.
const SEARCH_PAGE: usize = 200;
const SEARCH_REACH: usize = 10_000;
/// HubSpot's search index lags recent writes by seconds: an incremental pull
/// starts this long before the previous pull began (the profile's lookback).
pub const SEARCH_LOOKBACK_MS: i64 = HUBSPOT.lookback_ms;

pub struct HubSpot {
    http: HttpClient,
    version: String,
    /// Metadata answers (pipelines, property definitions) by path: fetched
    /// at most once per run.
    metadata: Mutex<HashMap<String, Value>>,
}

impl HubSpot {
    pub fn new(system: &SystemConfig, token: &Secret) -> Result<HubSpot> {
        let http = HttpClient::new(
            system,
            token,
            AuthStyle::Bearer,
            Pacing {
                requests: HUBSPOT.requests_per_window(system.requests_per_10s),
                window: HUBSPOT.pace_window,
            },
            RetryPolicy::from(system.retry),
            &limits::HubSpotLimits,
        )?
        // Search allows 5 requests a second; 4 leaves room for network jitter,
        // which can bunch requests up by the time they arrive.
        .with_search_pacing(Pacing {
            requests: 4,
            window: Duration::from_secs(1),
        });
        Ok(HubSpot {
            http,
            version: system.api_version.clone(),
            metadata: Mutex::new(HashMap::new()),
        })
    }

    fn objects_path(&self, object: ObjectKind) -> Result<String> {
        let Some(kind) = type_name(object) else {
            anyhow::bail!(HUBSPOT.not_offered(object))
        };
        Ok(format!("/crm/objects/{}/{kind}", self.version))
    }

    /// Where the property definitions of `object` are read.
    fn properties_path(&self, object: ObjectKind) -> Result<String> {
        let kind = self
            .objects_path(object)?
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(format!("/crm/properties/{}/{kind}", self.version))
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
            // wrote nothing: each of its records is refused, not the run.
            Err(ApiError::Rejected {
                status, message, ..
            }) => return Ok(every(WriteOutcome::Refused(format!("{status}: {message}")))),
            // A success we cannot read may have applied every input.
            Err(ApiError::Malformed { detail, .. }) => {
                return Ok(every(WriteOutcome::Unknown(format!(
                    "HubSpot's answer could not be read ({detail})"
                ))));
            }
            Err(e) => {
                if let Some(outcome) = WriteOutcome::of_interrupted(&e) {
                    return Ok(every(outcome));
                }
                return Err(e)
                    .with_context(|| format!("{} {action} of {object}", self.http.system()));
            }
        };
        let response: BatchResponse = match serde_json::from_value(reply.body) {
            Ok(response) => response,
            Err(e) => {
                return Ok(every(WriteOutcome::Unknown(format!(
                    "HubSpot's {} answer could not be read ({e})",
                    reply.status
                ))));
            }
        };
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
                record: Self::to_record(object, api, fields).map_err(|e| e.to_string()),
            })
            .collect();
        let errors: Vec<AnsweredError> = response
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
        Ok(match_answers(
            sent,
            results,
            &errors,
            "HubSpot's answer holds no result for this record",
        ))
    }
}

impl Connector for HubSpot {
    fn system(&self) -> &str {
        self.http.system()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_batch: HUBSPOT.max_batch,
            lookback_ms: HUBSPOT.lookback_ms,
        }
    }

    fn list(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let path = self.objects_path(object)?;
        let mut query = vec![
            ("limit", PAGE_SIZE.to_string()),
            ("properties", Self::properties(object, fields).join(",")),
            ("archived", "false".to_string()),
        ];
        let targets = relation_targets(object, fields);
        if !targets.is_empty() {
            let names: Vec<&str> = targets.iter().filter_map(|t| type_name(*t)).collect();
            query.push(("associations", names.join(",")));
        }
        let mut records = Vec::new();
        // Per associated object, the records whose listed set is only a
        // first page.
        let mut paged: BTreeMap<ObjectKind, Vec<usize>> = BTreeMap::new();
        self.pages(&path, &query, object.as_str(), &mut |page: Vec<
            ApiObject,
        >| {
            for api in &page {
                for to in &targets {
                    let more = type_name(*to)
                        .and_then(|name| api.associations.get(name))
                        .and_then(|a| a.paging.as_ref());
                    if more.is_some_and(|p| p.next.is_some()) {
                        paged.entry(*to).or_default().push(records.len());
                    }
                }
                records.push(Self::to_record(object, api, fields).map_err(|e| self.named(e))?);
            }
            progress(Listed::so_far(records.len()));
            Ok(())
        })?;
        for (to, indexes) in paged {
            let mut cut: Vec<&mut Record> = records
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| indexes.binary_search(i).is_ok())
                .map(|(_, r)| r)
                .collect();
            self.read_associations(object, to, &mut cut, fields)?;
        }
        Ok(records)
    }

    fn list_changed(
        &self,
        object: ObjectKind,
        fields: &[String],
        since_ms: i64,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let path = format!("{}/search", self.objects_path(object)?);
        let modified = modified_property(object);
        let mut records = Vec::new();
        // Sorting by id and restarting above the last id seen every 10,000
        // results reaches any number of changes, and never loops the way
        // paging by a timestamp that many records share can.
        let mut above: Option<String> = None;
        loop {
            let mut after: Option<String> = None;
            let mut reached = 0;
            let mut last_id = None;
            // A query above the last id counts only what is left.
            let before_query = records.len() as u64;
            let more = loop {
                let mut filters = vec![
                    json!({"propertyName": modified, "operator": "GTE", "value": since_ms.to_string()}),
                ];
                if let Some(id) = &above {
                    filters.push(
                        json!({"propertyName": "hs_object_id", "operator": "GT", "value": id}),
                    );
                }
                let mut body = json!({
                    "filterGroups": [{"filters": filters}],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "properties": Self::properties(object, fields),
                    "limit": SEARCH_PAGE,
                });
                // The schema requires `after`; "0" is the first page.
                body["after"] = json!(after.as_deref().unwrap_or("0"));
                let reply = self
                    .http
                    .post(&path, &body, Repeat::Safe)
                    .with_context(|| format!("searching changed {object} on {}", self.system()))?;
                let page: SearchPage = self.parse(reply.body, "search page")?;
                reached += page.results.len();
                for api in &page.results {
                    records.push(Self::to_record(object, api, fields).map_err(|e| self.named(e))?);
                    last_id = Some(api.id.clone());
                }
                progress(Listed {
                    done: records.len() as u64,
                    total: page.total.map(|t| before_query + t),
                });
                match page.paging.and_then(|p| p.next) {
                    Some(next) if reached + SEARCH_PAGE <= SEARCH_REACH => after = Some(next.after),
                    Some(_) => break true,
                    None => break false,
                }
            };
            if !more {
                break;
            }
            above = last_id;
        }
        for to in relation_targets(object, fields) {
            let mut all: Vec<&mut Record> = records.iter_mut().collect();
            self.read_associations(object, to, &mut all, fields)?;
        }
        Ok(records)
    }

    fn read(&self, object: ObjectKind, ids: &[String], fields: &[String]) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        for chunk in ids.chunks(MAX_BATCH) {
            let path = format!("{}/batch/read", self.objects_path(object)?);
            let body = serde_json::to_value(ReadInput {
                properties: Self::properties(object, fields),
                properties_with_history: Vec::new(),
                inputs: chunk.iter().map(|id| IdInput { id: id.clone() }).collect(),
            })?;
            let reply = self
                .http
                .post(&path, &body, Repeat::Safe)
                .with_context(|| format!("reading {object} from {}", self.system()))?;
            let response: BatchResponse = self.parse(reply.body, "batch read answer")?;
            for api in &response.results {
                records.push(Self::to_record(object, api, fields).map_err(|e| self.named(e))?);
            }
        }
        Ok(records)
    }

    fn create(
        &self,
        object: ObjectKind,
        records: &[NewRecord],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        // Contacts with an email are upserted on it: idempotent by design.
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
        let inputs = sent
            .iter()
            .map(|s| UpsertInput {
                id_property: "email",
                id: s
                    .unique
                    .map(|(_, email)| email.to_string())
                    .unwrap_or_default(),
                properties: s.values.clone(),
                trace_id: s.key.to_string(),
            })
            .collect();
        let mut results =
            self.batch_write(object, "upsert", &sent, inputs, fields, Repeat::Safe)?;
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
        let inputs = sent
            .iter()
            .map(|s| CreateInput {
                properties: s.values.clone(),
                // Required by the schema even when empty; associations are
                // written after the records exist (`relink`).
                associations: Vec::new(),
                trace_id: s.key.to_string(),
            })
            .collect();
        results.extend(self.batch_write(
            object,
            "create",
            &sent,
            inputs,
            fields,
            Repeat::OnlyIfUnsent,
        )?);
        let relinks: Vec<Relink> = records
            .iter()
            .flat_map(|r| Relink::of(object, &r.key, &r.fields, &BTreeMap::new()))
            .collect();
        self.relink(object, &relinks, &mut results)?;
        Ok(results)
    }

    fn update(
        &self,
        object: ObjectKind,
        records: &[RecordUpdate],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        // A change of associations alone is an association write, not an update.
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
        let inputs = sent
            .iter()
            .map(|s| UpdateInput {
                id: s.id.unwrap_or_default().to_string(),
                properties: s.values.clone(),
                trace_id: s.key.to_string(),
            })
            .collect();
        let mut results =
            self.batch_write(object, "update", &sent, inputs, fields, Repeat::Safe)?;
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

    fn delete(&self, object: ObjectKind, records: &[RecordRef]) -> Result<Vec<WriteResult>> {
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
            // Archiving answers 204 with no body; archiving a missing id is fine.
            Ok(_) => Ok(records
                .iter()
                .map(|r| WriteResult {
                    key: r.key.clone(),
                    outcome: applied_without_body(&r.id),
                })
                .collect()),
            Err(ApiError::Rejected {
                status, message, ..
            }) => Ok(for_each_input(
                records.iter().map(|r| r.key.as_str()),
                &WriteOutcome::Refused(format!("{status}: {message}")),
            )),
            Err(e) => match WriteOutcome::of_interrupted(&e) {
                Some(outcome) => Ok(for_each_input(
                    records.iter().map(|r| r.key.as_str()),
                    &outcome,
                )),
                None => Err(e).with_context(|| format!("archiving {object} on {}", self.system())),
            },
        }
    }

    fn merge(
        &self,
        object: ObjectKind,
        merges: &[MergeRequest],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let path = format!("{}/merge", self.objects_path(object)?);
        let mut results = Vec::new();
        for m in merges {
            let body = json!({"primaryObjectId": m.kept, "objectIdToMerge": m.merged});
            // Not repeated once sent: a merge that happened cannot be made
            // again; the next run finds it through `hs_merged_object_ids`.
            let outcome = match self.http.post(&path, &body, Repeat::OnlyIfUnsent) {
                Ok(reply) => match self.parse::<ApiObject>(reply.body, "merge answer") {
                    Ok(api) => match Self::to_record(object, &api, fields) {
                        Ok(record) => WriteOutcome::Written(record),
                        Err(e) => {
                            WriteOutcome::Unknown(format!("its answer could not be read ({e})"))
                        }
                    },
                    Err(e) => WriteOutcome::Unknown(format!("its answer could not be read ({e})")),
                },
                Err(ApiError::Malformed { detail, .. }) => {
                    WriteOutcome::Unknown(format!("its answer could not be read ({detail})"))
                }
                Err(ApiError::Rejected {
                    status, message, ..
                }) => WriteOutcome::Refused(format!("{status}: {message}")),
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("merging {object} on {}", self.system()));
                }
            };
            results.push(WriteResult {
                key: m.key.clone(),
                outcome,
            });
        }
        Ok(results)
    }

    /// A merged id still resolves on a batch read, to the record the merge
    /// made, which names it in `hs_merged_object_ids`.
    fn resolve_merged(
        &self,
        object: ObjectKind,
        ids: &[String],
        fields: &[String],
    ) -> Result<Vec<(String, Record)>> {
        let answered = self.read(object, ids, fields)?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let survivor = answered
                    .iter()
                    .find(|r| r.id != *id && r.merged_from().contains(id))?;
                Some((id.clone(), survivor.clone()))
            })
            .collect())
    }

    fn owners(&self) -> Result<Vec<Owner>> {
        let path = format!("/crm/owners/{}", self.version);
        let mut owners = Vec::new();
        self.pages(
            &path,
            &[("limit", "500".to_string())],
            "owners",
            &mut |page: Vec<ApiOwner>| {
                owners.extend(page.into_iter().filter_map(|o| {
                    let email = o.email?.trim().to_lowercase();
                    (!email.is_empty()).then_some(Owner { id: o.id, email })
                }));
                Ok(())
            },
        )?;
        Ok(owners)
    }

    fn labels(&self, object: ObjectKind, field: &str) -> Result<Vec<(String, String)>> {
        if object == ObjectKind::Deals && (field == "dealstage" || field == "pipeline") {
            let pipelines: Vec<Pipeline> =
                self.metadata(&format!("/crm/pipelines/{}/deals", self.version))?;
            return Ok(if field == "pipeline" {
                pipelines.into_iter().map(|p| (p.id, p.label)).collect()
            } else {
                pipelines
                    .into_iter()
                    .flat_map(|p| p.stages)
                    .map(|s| (s.id, s.label))
                    .collect()
            });
        }
        let properties: Vec<Property> = self.metadata(&self.properties_path(object)?)?;
        match properties.into_iter().find(|p| p.name == field) {
            Some(p) if !p.options.is_empty() => Ok(p.options.into_iter().map(|o| (o.value, o.label)).collect()),
            _ => Err(ConfigError(format!(
                "{}.{object} property `{field}` has no options to match by label; use a value table instead of \"by-label\"",
                self.system()
            ))
            .into()),
        }
    }

    fn describe(&self, object: ObjectKind, fields: &[String]) -> Result<Vec<Option<FieldInfo>>> {
        let properties: Vec<Property> = self.metadata(&self.properties_path(object)?)?;
        fields
            .iter()
            .map(|field| {
                if let Some(relation) = relation_of(object, field) {
                    return Ok(Some(FieldInfo {
                        kind: FieldType::Relation(relation.to),
                        read_only: false,
                        options: Vec::new(),
                        depends_on: None,
                    }));
                }
                let Some(p) = properties.iter().find(|p| &p.name == field) else {
                    return Ok(None);
                };
                let read_only = p.modification.as_ref().is_some_and(|m| m.read_only_value);
                let (kind, options) = match p.kind.as_str() {
                    "number" => (FieldType::Number, Vec::new()),
                    "date" | "datetime" => (FieldType::Date, Vec::new()),
                    "bool" => (FieldType::Bool, Vec::new()),
                    "enumeration"
                        if object == ObjectKind::Deals
                            && (field == "dealstage" || field == "pipeline") =>
                    {
                        (
                            FieldType::Choice,
                            self.labels(object, field)?
                                .into_iter()
                                .map(|(v, _)| v)
                                .collect(),
                        )
                    }
                    // Owner ids change as users come and go: checked per record.
                    "enumeration" if field == "hubspot_owner_id" => (FieldType::Choice, Vec::new()),
                    "enumeration" => (
                        FieldType::Choice,
                        p.options.iter().map(|o| o.value.clone()).collect(),
                    ),
                    _ => (FieldType::Text, Vec::new()),
                };
                // A deal's stage must be one of its pipeline's stages; a deal
                // written without a pipeline lands in the default one.
                let depends_on = if object == ObjectKind::Deals && field == "dealstage" {
                    let pipelines: Vec<Pipeline> =
                        self.metadata(&format!("/crm/pipelines/{}/deals", self.version))?;
                    Some(Dependency {
                        field: "pipeline".into(),
                        default: "default".into(),
                        options: pipelines
                            .into_iter()
                            .map(|p| (p.id, p.stages.into_iter().map(|s| s.id).collect()))
                            .collect(),
                    })
                } else {
                    None
                };
                Ok(Some(FieldInfo {
                    kind,
                    read_only,
                    options,
                    depends_on,
                }))
            })
            .collect()
    }

    fn catalog(&self, object: ObjectKind) -> Result<Vec<FieldDescription>> {
        let properties: Vec<Property> = self.metadata(&self.properties_path(object)?)?;
        let names: Vec<String> = properties.iter().map(|p| p.name.clone()).collect();
        let infos = self.describe(object, &names)?;
        let pipelines: Vec<Pipeline> = if object == ObjectKind::Deals {
            self.metadata(&format!("/crm/pipelines/{}/deals", self.version))?
        } else {
            Vec::new()
        };
        let mut fields: Vec<FieldDescription> = relations(object)
            .iter()
            .map(|relation| FieldDescription {
                name: relation.field.to_string(),
                label: relation.label.to_string(),
                kind: FieldType::Relation(relation.to),
                multiple: relation.many,
                options: Vec::new(),
                read_only: false,
                is_custom: false,
                meaning: Some(Meaning::Related {
                    object: relation.to,
                    many: relation.many,
                }),
            })
            .collect();
        for (property, info) in properties.iter().zip(infos) {
            let Some(info) = info else { continue };
            let option = |value: &str, label: &str, group: Option<&str>| OptionDescription {
                value: value.to_string(),
                label: label.to_string(),
                group: group.map(str::to_string),
            };
            let meaning = meaning_of(object, &property.name);
            let options = match meaning {
                Some(Meaning::Pipeline) => pipelines
                    .iter()
                    .map(|p| option(&p.id, &p.label, None))
                    .collect(),
                Some(Meaning::Stage) => pipelines
                    .iter()
                    .flat_map(|p| {
                        p.stages
                            .iter()
                            .map(|s| option(&s.id, &s.label, Some(&p.id)))
                    })
                    .collect(),
                _ => property
                    .options
                    .iter()
                    .map(|o| option(&o.value, &o.label, None))
                    .collect(),
            };
            fields.push(FieldDescription {
                name: property.name.clone(),
                label: if property.label.is_empty() {
                    property.name.clone()
                } else {
                    property.label.clone()
                },
                kind: info.kind,
                multiple: property.field_type == "checkbox",
                options,
                read_only: info.read_only,
                is_custom: property.hubspot_defined != Some(true),
                meaning,
            });
        }
        Ok(fields)
    }

    fn request_counts(&self) -> BTreeMap<String, u64> {
        self.http.request_counts()
    }
}

/// The properties every HubSpot account has that stand for a field every
/// CRM has (see `Meaning`).
fn meaning_of(object: ObjectKind, property: &str) -> Option<Meaning> {
    Some(match (object, property) {
        (ObjectKind::Contacts, "email") => Meaning::Email,
        (ObjectKind::Contacts, "firstname") => Meaning::FirstName,
        (ObjectKind::Contacts, "lastname") => Meaning::LastName,
        (ObjectKind::Contacts, "phone") => Meaning::Phone,
        (ObjectKind::Deals, "dealname") => Meaning::DealName,
        (ObjectKind::Deals, "amount") => Meaning::Amount,
        (ObjectKind::Deals, "closedate") => Meaning::CloseDate,
        (ObjectKind::Deals, "pipeline") => Meaning::Pipeline,
        (ObjectKind::Deals, "dealstage") => Meaning::Stage,
        (ObjectKind::Companies, "name") => Meaning::CompanyName,
        (ObjectKind::Companies, "domain") => Meaning::Domain,
        (_, "hubspot_owner_id") => Meaning::Owner,
        _ => return None,
    })
}

impl HubSpot {
    /// A metadata `results` list, fetched once per run.
    fn metadata<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let cached = self
            .metadata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned();
        let body = match cached {
            Some(body) => body,
            None => {
                let reply = self
                    .http
                    .get(path, &[])
                    .with_context(|| format!("reading {path} from {}", self.system()))?;
                self.metadata
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(path.to_string(), reply.body.clone());
                reply.body
            }
        };
        let page: api::Page<T> = self.parse(body, path)?;
        Ok(page.results)
    }

    /// Where the associations from `from` records to `to` records are read
    /// and written (`…/batch/read`, `…/batch/associate/default`, …).
    fn associations_path(&self, from: ObjectKind, to: ObjectKind) -> Result<String> {
        match (type_name(from), type_name(to)) {
            (Some(from), Some(to)) => Ok(format!(
                "/crm/associations/{}/{from}/{to}/batch",
                self.version
            )),
            _ => anyhow::bail!("HubSpot has no associations from {from} to {to}"),
        }
    }

    /// Reads the records' associated `to` records with the associations
    /// batch API (100 records a call), following each record's own paging
    /// cursor until its set is whole, and sets the relation fields from
    /// them. Search results carry no associations, and a list carries only
    /// the first page of each. A set that cannot be read whole stops the
    /// pull: a partial one would be taken for removed associations and
    /// archived on the other side.
    fn read_associations(
        &self,
        from: ObjectKind,
        to: ObjectKind,
        records: &mut [&mut Record],
        fields: &[String],
    ) -> Result<()> {
        let path = format!("{}/read", self.associations_path(from, to)?);
        let singular = from.as_str().trim_end_matches('s');
        let unreadable = |id: &str, why: String| {
            self.malformed(format!(
                "the {to} of {singular} {id} could not be read whole ({why}); nothing was planned"
            ))
        };
        let mut associated: HashMap<String, Vec<String>> = HashMap::new();
        let mut wanted: Vec<AssociationsInput> = records
            .iter()
            .map(|r| AssociationsInput {
                id: r.id.clone(),
                after: None,
            })
            .collect();
        while !wanted.is_empty() {
            let mut next = Vec::new();
            for chunk in wanted.chunks(MAX_BATCH) {
                let reply = self
                    .http
                    .post(&path, &json!({ "inputs": chunk }), Repeat::Safe)
                    .with_context(|| format!("reading the {to} of {from} on {}", self.system()))?;
                let page: AssociationsPage = self.parse(reply.body, "associations")?;
                let mut answered: BTreeSet<String> = BTreeSet::new();
                for r in page.results {
                    let asked = chunk.iter().find(|i| i.id == r.from.id);
                    let Some(asked) = asked else {
                        return Err(unreadable(
                            &r.from.id,
                            format!("an answer for a {singular} not asked for"),
                        )
                        .into());
                    };
                    let ids = r.to.iter().map(|t| value_text(&t.to_object_id));
                    associated.entry(r.from.id.clone()).or_default().extend(ids);
                    if let Some(more) = r.paging.and_then(|p| p.next) {
                        if asked.after.as_deref() == Some(more.after.as_str()) {
                            return Err(unreadable(
                                &r.from.id,
                                "the paging cursor did not advance".into(),
                            )
                            .into());
                        }
                        next.push(AssociationsInput {
                            id: r.from.id.clone(),
                            after: Some(more.after),
                        });
                    }
                    answered.insert(r.from.id);
                }
                // A 207 names the records that have no associations; any
                // other error leaves a record's set unknown.
                for error in &page.errors {
                    let ids = error.context_values("fromObjectId");
                    let none = error
                        .sub_category
                        .as_str()
                        .is_some_and(|s| s.ends_with("NO_ASSOCIATIONS_FOUND"));
                    if !none || ids.is_empty() {
                        let id = ids.first().map_or("?", String::as_str);
                        let why = format!("{}: {}", error.category, error.message);
                        return Err(unreadable(id, why).into());
                    }
                    answered.extend(ids);
                }
                if let Some(missing) = chunk.iter().find(|i| !answered.contains(&i.id)) {
                    return Err(
                        unreadable(&missing.id, "HubSpot's answer left it out".into()).into(),
                    );
                }
            }
            wanted = next;
        }
        for record in records.iter_mut() {
            let ids = associated.remove(&record.id).unwrap_or_default();
            set_relations(from, to, record, ids, fields);
        }
        Ok(())
    }

    /// GETs `path` and follows `paging.next.after` to the end; `on_page`
    /// takes each page's results.
    fn pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
        on_page: &mut dyn FnMut(Vec<T>) -> Result<()>,
    ) -> Result<()> {
        let fetch = |after: Option<&str>| {
            let mut q = query.to_vec();
            q.extend(after.map(|a| ("after", a.to_string())));
            let reply = self
                .http
                .get(path, &q)
                .with_context(|| format!("listing {what} from {}", self.system()))?;
            let page: api::Page<T> = self.parse(reply.body, what)?;
            Ok(Page {
                items: page.results,
                next: page.paging.and_then(|p| p.next).map(|n| n.after),
            })
        };
        super::pages(self.system(), what, fetch, on_page)
    }

    /// Reads an answer's body as `T`; anything else is a malformed answer.
    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        body: Value,
        what: &str,
    ) -> Result<T, ApiError> {
        serde_json::from_value(body).map_err(|e| self.malformed(format!("{what}: {e}")))
    }

    fn malformed(&self, detail: String) -> ApiError {
        super::malformed(self.system(), detail)
    }

    /// Moves each written record's associations from its old related
    /// records to its new ones, one associated object at a time
    /// (associations do not touch the record's modified time).
    fn relink(
        &self,
        object: ObjectKind,
        relinks: &[Relink],
        results: &mut [WriteResult],
    ) -> Result<()> {
        let targets: BTreeSet<ObjectKind> = relinks.iter().map(|r| r.to).collect();
        for to in targets {
            let group: Vec<&Relink> = relinks.iter().filter(|r| r.to == to).collect();
            self.relink_to(object, to, &group, results)?;
        }
        Ok(())
    }

    /// `relink` for the associations to one object.
    fn relink_to(
        &self,
        from: ObjectKind,
        to: ObjectKind,
        relinks: &[&Relink],
        results: &mut [WriteResult],
    ) -> Result<()> {
        let written_id = |key: &str| {
            results
                .iter()
                .find(|r| r.key == key)
                .and_then(|r| r.outcome.written())
                .map(|rec| rec.id.clone())
        };
        // A record's relinks to one object are merged (`primary_company`
        // and `companies` may both name a company), so each association is
        // sent once and one kept by either field is not archived.
        let mut changed: BTreeMap<String, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
        let mut keys = Vec::new();
        for relink in relinks.iter().filter(|r| r.old != r.new) {
            let Some(id) = written_id(&relink.key) else {
                continue;
            };
            keys.push(relink.key.clone());
            let (old, new) = changed.entry(id).or_default();
            old.extend(Relink::ids(&relink.old));
            new.extend(Relink::ids(&relink.new));
        }
        let mut associate = Vec::new();
        let mut dissociate = Vec::new();
        for (id, (old, new)) in &changed {
            let removed: Vec<IdInput> = old
                .difference(new)
                .map(|id| IdInput { id: id.to_string() })
                .collect();
            if !removed.is_empty() {
                dissociate.push(DissociateInput {
                    from: IdInput { id: id.clone() },
                    to: removed,
                });
            }
            for other in new.difference(old) {
                associate.push(AssociateInput {
                    from: IdInput { id: id.clone() },
                    to: IdInput {
                        id: other.to_string(),
                    },
                });
            }
        }
        let base = self.associations_path(from, to)?;
        let singular = to.as_str().trim_end_matches('s');
        let mut failure = None;
        for (action, inputs) in [
            ("archive", serde_json::to_value(dissociate)?),
            ("associate/default", serde_json::to_value(associate)?),
        ] {
            let inputs = inputs.as_array().cloned().unwrap_or_default();
            for chunk in inputs.chunks(MAX_BATCH) {
                match self.http.post(
                    &format!("{base}/{action}"),
                    &json!({ "inputs": chunk }),
                    Repeat::Safe,
                ) {
                    // A 200 or 207 may still list inputs it refused.
                    Ok(reply) => {
                        let refused = serde_json::from_value::<AssociationsPage>(reply.body)
                            .map(|page| page.errors)
                            .unwrap_or_default();
                        if let Some(error) = refused.first() {
                            failure = Some(format!(
                                "{singular} association refused ({}: {})",
                                error.category, error.message
                            ));
                        }
                    }
                    Err(ApiError::Rejected {
                        status, message, ..
                    }) => {
                        failure = Some(format!(
                            "{singular} association refused ({status}: {message})"
                        ))
                    }
                    // The records are written; their associations wait
                    // for the next run, like refused ones.
                    Err(ApiError::Interrupted { .. }) => {
                        failure = Some(format!(
                            "{singular} association not written: the run was interrupted"
                        ))
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("associating {from} with {to} on {}", self.system())
                        });
                    }
                }
            }
        }
        if let Some(reason) = &failure {
            log::warn!(
                "{}: {reason}; the {from} are kept and the association is retried next run",
                self.system()
            );
        }
        for result in results.iter_mut() {
            for relink in relinks.iter().filter(|r| r.key == result.key) {
                let WriteOutcome::Written(record) = &mut result.outcome else {
                    continue;
                };
                // A record that was written stays linked even if its
                // association was refused (dropping it would create it again
                // next run); recording the old value makes the next run retry.
                let stored = if failure.is_some() && keys.contains(&result.key) {
                    &relink.old
                } else {
                    &relink.new
                };
                set_field(&mut record.fields, relink.field, stored);
            }
        }
        Ok(())
    }

    fn named(&self, e: ApiError) -> ApiError {
        match e {
            ApiError::Malformed { detail, .. } => ApiError::Malformed {
                system: self.system().to_string(),
                detail,
            },
            other => other,
        }
    }
}
