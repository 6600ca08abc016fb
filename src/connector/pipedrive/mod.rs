//! Pipedrive connector on API v2 (persons, deals, organizations, their
//! fields) and v1 (users, which v2 does not offer).
//!
//! Lists with cursor pagination (`limit=500`, `additional_data.next_cursor`);
//! writes one record per call (Pipedrive has no batch writes), in batches
//! of 50 as far as the engine is concerned (it saves its state per batch).
//! The field model (DESIGN §2): `email` and `phone` are the primary entries
//! of `emails`/`phones`, and writing one keeps the other entries; `first_name`
//! and `last_name` are written through `name`; custom fields are named by
//! display name or key and resolved through the fields API, enum options by
//! label; `person_id` and `org_id` are relations (ids of records another
//! pair syncs); an organization's `address` is its full address. Mirrors
//! `hubspot/` file for file.

mod api;
mod fields;
mod limits;

use super::http::{ApiError, AuthStyle, HttpClient, Pacing, Repeat, RetryPolicy};
use super::{
    Capabilities, Connector, FieldDescription, FieldInfo, FieldType, Listed, Meaning, MergeRequest,
    NewRecord, OptionDescription, Page, RecordRef, RecordUpdate, WriteOutcome, WriteResult,
    applied_without_body,
};
use crate::config::{ConfigError, SystemConfig};
use crate::model::{ObjectKind, Owner, Record};
use crate::secret::Secret;
use crate::timestamp;
use crate::vendor::PIPEDRIVE;
use anyhow::{Context, Result};
use api::{Entity, Field, ListPage, Named, One, User};
use fields::{FieldKind, PersonParts, builtins, custom_fields_query, text};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Pipedrive caps list pages at 500.
const PAGE_SIZE: usize = 500;
/// The `ids` filter of the list endpoints takes at most 100 ids.
const MAX_IDS: usize = 100;
/// The `custom_fields` list filter takes at most 15 keys.
const MAX_CUSTOM_FIELDS: usize = 15;

pub struct Pipedrive {
    http: HttpClient,
    schemas: Mutex<HashMap<ObjectKind, Arc<Vec<Field>>>>,
    persons: Mutex<HashMap<String, PersonParts>>,
}

impl Pipedrive {
    pub fn new(system: &SystemConfig, token: &Secret) -> Result<Pipedrive> {
        let http = HttpClient::new(
            system,
            token,
            AuthStyle::Header("x-api-token"),
            Pacing {
                requests: PIPEDRIVE.requests_per_window(system.requests_per_10s),
                window: PIPEDRIVE.pace_window,
            },
            RetryPolicy::from(system.retry),
            &limits::PipedriveLimits,
        )?;
        Ok(Pipedrive {
            http,
            schemas: Mutex::new(HashMap::new()),
            persons: Mutex::new(HashMap::new()),
        })
    }

    /// The collection of `object` in paths: the kind's own name, for the
    /// kinds Pipedrive offers.
    fn collection(object: ObjectKind) -> Result<&'static str> {
        if !PIPEDRIVE.offers(object) {
            anyhow::bail!(PIPEDRIVE.not_offered(object))
        }
        Ok(object.as_str())
    }

    /// Follows `next_cursor` to the end.
    /// The records of a listing, page by page.
    fn records(
        &self,
        object: ObjectKind,
        path: &str,
        query: &[(&str, String)],
        resolved: &[(String, FieldKind)],
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        self.pages(path, query, &mut |page: Vec<Entity>| {
            for e in &page {
                records.push(self.to_record(object, e, resolved)?);
            }
            progress(Listed::so_far(records.len()));
            Ok(())
        })?;
        Ok(records)
    }

    /// Every item of a listing.
    fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        self.pages(path, query, &mut |page| {
            items.extend(page);
            Ok(())
        })?;
        Ok(items)
    }

    /// GETs `path` and follows `additional_data.next_cursor` to the end;
    /// `on_page` takes each page's items.
    fn pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        on_page: &mut dyn FnMut(Vec<T>) -> Result<()>,
    ) -> Result<()> {
        let fetch = |cursor: Option<&str>| {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("limit", PAGE_SIZE.to_string()));
            q.extend(cursor.map(|c| ("cursor", c.to_string())));
            let reply = self.http.get(path, &q)?;
            let page: ListPage<T> = serde_json::from_value(reply.body)
                .map_err(|e| self.malformed(format!("{path} page: {e}")))?;
            let items = page.data.unwrap_or_default();
            let full = items.len() >= PAGE_SIZE;
            let next = match page.additional_data.and_then(|a| a.next_cursor) {
                Some(Value::String(next)) => Some(next),
                Some(Value::Null) => None,
                // The spec does not promise `additional_data`: a short page
                // is the last one anyway, but after a full one the listing
                // may go on, and taking it as whole would read every record
                // after it as deleted.
                None if !full => None,
                other => {
                    return Err(self
                        .malformed(format!(
                            "{path}: a full page came with {} as `additional_data.next_cursor`, so crmsync cannot tell whether more follow",
                            other.map_or("nothing".to_string(), |v| v.to_string())
                        ))
                        .into());
                }
            };
            Ok(Page { items, next })
        };
        super::pages(self.system(), path, fetch, on_page)
    }

    /// A stages or pipelines list, read whole.
    fn named(&self, path: &str) -> Result<Vec<Named>> {
        self.all_pages(path, &[])
            .with_context(|| format!("reading {path} from {}", self.system()))
    }

    fn malformed(&self, detail: String) -> ApiError {
        super::malformed(self.system(), detail)
    }

    /// The person as it is now, from this run's list or, where that is
    /// missing or did not carry every part, a GET.
    fn person_parts(&self, id: &str) -> Result<PersonParts> {
        if let Some(p) = self
            .persons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .filter(|p| p.complete())
        {
            return Ok(p.clone());
        }
        let reply = self.http.get(&format!("/api/v2/persons/{id}"), &[])?;
        let one: One<Entity> = serde_json::from_value(reply.body)
            .map_err(|e| self.malformed(format!("person {id}: {e}")))?;
        self.to_record(ObjectKind::Persons, &one.data, &[])?;
        Ok(self
            .persons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .unwrap_or_default())
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
        } else {
            self.http.patch(&path, &body)
        };
        let outcome = match reply {
            // A success whose body cannot be read may still have written.
            Ok(reply) => match serde_json::from_value::<One<Entity>>(reply.body) {
                Ok(one) => match self.to_record(object, &one.data, fields) {
                    Ok(record) => WriteOutcome::Written(record),
                    Err(e) => WriteOutcome::Unknown(format!("its answer could not be read ({e})")),
                },
                Err(e) => WriteOutcome::Unknown(format!("its answer could not be read ({e})")),
            },
            Err(ApiError::Malformed { detail, .. }) => {
                WriteOutcome::Unknown(format!("its answer could not be read ({detail})"))
            }
            Err(ApiError::Rejected {
                status, message, ..
            }) => WriteOutcome::Refused(format!("{status}: {message}")),
            Err(e) => match WriteOutcome::of_interrupted(&e) {
                Some(outcome) => outcome,
                None => {
                    return Err(e)
                        .with_context(|| format!("writing {object} to {}", self.system()));
                }
            },
        };
        Ok(WriteResult {
            key: key.to_string(),
            outcome,
        })
    }
}

/// A record whose request an interrupt kept from being sent: one call per
/// record, so the records after the one in flight are never sent.
fn not_sent(key: &str) -> WriteResult {
    WriteResult {
        key: key.to_string(),
        outcome: WriteOutcome::NotSent,
    }
}

impl Connector for Pipedrive {
    fn system(&self) -> &str {
        self.http.system()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_batch: PIPEDRIVE.max_batch,
            lookback_ms: PIPEDRIVE.lookback_ms,
        }
    }

    fn list(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let resolved = self.resolve(object, fields)?;
        let path = format!("/api/v2/{}", Self::collection(object)?);
        let query: Vec<_> = custom_fields_query(&resolved).into_iter().collect();
        self.records(object, &path, &query, &resolved, progress)
            .with_context(|| format!("listing {object} from {}", self.system()))
    }

    fn list_changed(
        &self,
        object: ObjectKind,
        fields: &[String],
        since_ms: i64,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let resolved = self.resolve(object, fields)?;
        let path = format!("/api/v2/{}", Self::collection(object)?);
        // Whole seconds: the notes report fractional ones refused.
        let since = &timestamp::format_ms(since_ms.div_euclid(1000) * 1000)[..19];
        let mut query = vec![
            ("updated_since", format!("{since}Z")),
            ("sort_by", "update_time".to_string()),
            ("sort_direction", "asc".to_string()),
        ];
        query.extend(custom_fields_query(&resolved));
        self.records(object, &path, &query, &resolved, progress)
            .with_context(|| format!("listing changed {object} from {}", self.system()))
    }

    fn read(&self, object: ObjectKind, ids: &[String], fields: &[String]) -> Result<Vec<Record>> {
        let resolved = self.resolve(object, fields)?;
        let path = format!("/api/v2/{}", Self::collection(object)?);
        let mut records = Vec::new();
        for chunk in ids.chunks(MAX_IDS) {
            let entities: Vec<Entity> = self
                .all_pages(&path, &[("ids", chunk.join(","))])
                .with_context(|| format!("reading {object} from {}", self.system()))?;
            for e in &entities {
                records.push(self.to_record(object, e, &resolved)?);
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
        let resolved = self.resolve(object, fields)?;
        let path = format!("/api/v2/{}", Self::collection(object)?);
        records
            .iter()
            .map(|r| {
                if crate::interrupt::requested().is_some() {
                    return Ok(not_sent(&r.key));
                }
                let request = self
                    .body(object, &r.fields, &resolved, None, true)
                    .map(|b| (path.clone(), b));
                self.write_one(object, &r.key, request, &resolved, true)
            })
            .collect()
    }

    fn update(
        &self,
        object: ObjectKind,
        records: &[RecordUpdate],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let resolved = self.resolve(object, fields)?;
        let collection = Self::collection(object)?;
        records
            .iter()
            .map(|r| {
                if crate::interrupt::requested().is_some() {
                    return Ok(not_sent(&r.key));
                }
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
                let request = self
                    .body(object, &r.fields, &resolved, current.as_ref(), false)
                    .map(|b| (format!("/api/v2/{collection}/{}", r.id), b));
                self.write_one(object, &r.key, request, &resolved, false)
            })
            .collect()
    }

    fn delete(&self, object: ObjectKind, records: &[RecordRef]) -> Result<Vec<WriteResult>> {
        let collection = Self::collection(object)?;
        records
            .iter()
            .map(|r| {
                if crate::interrupt::requested().is_some() {
                    return Ok(not_sent(&r.key));
                }
                let outcome = match self.http.delete(&format!("/api/v2/{collection}/{}", r.id)) {
                    Ok(_) | Err(ApiError::Rejected { status: 404, .. }) => {
                        applied_without_body(&r.id)
                    }
                    Err(ApiError::Rejected {
                        status, message, ..
                    }) => WriteOutcome::Refused(format!("{status}: {message}")),
                    Err(e) => match WriteOutcome::of_interrupted(&e) {
                        Some(outcome) => outcome,
                        None => {
                            return Err(e).with_context(|| {
                                format!("deleting {object} on {}", self.system())
                            });
                        }
                    },
                };
                Ok(WriteResult {
                    key: r.key.clone(),
                    outcome,
                })
            })
            .collect()
    }

    /// `PUT /v1/{persons|organizations|deals}/{id}/merge` with
    /// `merge_with_id`: the record `merge_with_id` names keeps its id and
    /// wins conflicts; the other is gone. v2 has no merge.
    fn merge(
        &self,
        object: ObjectKind,
        merges: &[MergeRequest],
        _fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let collection = Self::collection(object)?;
        let mut results = Vec::new();
        for m in merges {
            let Ok(kept) = m.kept.parse::<i64>() else {
                results.push(WriteResult {
                    key: m.key.clone(),
                    outcome: WriteOutcome::Refused(format!("`{}` is not a Pipedrive id", m.kept)),
                });
                continue;
            };
            let path = format!("/api/v1/{collection}/{}/merge", m.merged);
            let body = serde_json::json!({ "merge_with_id": kept });
            // Not repeated once sent: the merged record is gone after it.
            let outcome = match self
                .http
                .send("PUT", &path, &[], Some(&body), Repeat::OnlyIfUnsent)
            {
                // The answer is a v1 record; the survivor is `kept`, whose
                // fields the next pull reads.
                Ok(_) => applied_without_body(&m.kept),
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

    /// Pipedrive answers a merged-away id as it answers a deleted one: the
    /// engine tells a merge by the record's match values (emails) now held
    /// by another record.
    fn resolve_merged(
        &self,
        _object: ObjectKind,
        _ids: &[String],
        _fields: &[String],
    ) -> Result<Vec<(String, Record)>> {
        Ok(Vec::new())
    }

    fn owners(&self) -> Result<Vec<Owner>> {
        let reply = self
            .http
            .get("/api/v1/users", &[])
            .with_context(|| format!("listing users of {}", self.system()))?;
        let page: ListPage<User> = serde_json::from_value(reply.body)
            .map_err(|e| self.malformed(format!("users: {e}")))?;
        Ok(page
            .data
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.active_flag != Some(false))
            .filter_map(|u| {
                let email = u.email?.trim().to_lowercase();
                (!email.is_empty()).then_some(Owner {
                    id: u.id.to_string(),
                    email,
                })
            })
            .collect())
    }

    fn labels(&self, object: ObjectKind, field: &str) -> Result<Vec<(String, String)>> {
        let named = |path: &str| -> Result<Vec<(String, String)>> {
            Ok(self
                .named(path)?
                .into_iter()
                .map(|n| (n.id.to_string(), n.name))
                .collect())
        };
        match (object, field) {
            (ObjectKind::Deals, "stage_id") => named("/api/v2/stages"),
            (ObjectKind::Deals, "pipeline_id") => named("/api/v2/pipelines"),
            _ => match self.resolve(object, &[field.to_string()])?.pop() {
                // Enum and set values are already read as their labels.
                Some((_, FieldKind::Custom(f))) if f.options.as_ref().is_some_and(|o| !o.is_empty()) => {
                    Ok(f.options.iter().flatten().map(|o| (o.label.clone(), o.label.clone())).collect())
                }
                _ => Err(ConfigError(format!(
                    "{}.{object} field `{field}` has no options to match by label; use a value table instead of \"by-label\"",
                    self.system()
                ))
                .into()),
            },
        }
    }

    fn describe(&self, object: ObjectKind, fields: &[String]) -> Result<Vec<Option<FieldInfo>>> {
        fields
            .iter()
            .map(|field| {
                let resolved = match self.resolve(object, std::slice::from_ref(field)) {
                    Ok(mut r) => r.pop().map(|(_, kind)| kind),
                    Err(e) if e.is::<ConfigError>() => None,
                    Err(e) => return Err(e),
                };
                let Some(kind) = resolved else {
                    return Ok(None);
                };
                let choice = |options: Vec<String>| (FieldType::Choice, options);
                let (kind, options) = match (object, field.as_str(), kind) {
                    (ObjectKind::Deals, "stage_id" | "pipeline_id", _) => choice(
                        self.labels(object, field)?
                            .into_iter()
                            .map(|(v, _)| v)
                            .collect(),
                    ),
                    (ObjectKind::Deals, "status", _) => {
                        choice(vec!["open".into(), "won".into(), "lost".into()])
                    }
                    (ObjectKind::Deals, "person_id", _) => {
                        (FieldType::Relation(ObjectKind::Persons), Vec::new())
                    }
                    (ObjectKind::Persons | ObjectKind::Deals, "org_id", _) => {
                        (FieldType::Relation(ObjectKind::Organizations), Vec::new())
                    }
                    (_, _, FieldKind::Number | FieldKind::Integer) => {
                        (FieldType::Number, Vec::new())
                    }
                    (_, _, FieldKind::Date) => (FieldType::Date, Vec::new()),
                    (_, _, FieldKind::Custom(f)) => match f.field_type.as_str() {
                        "enum" | "set" => choice(
                            f.options
                                .iter()
                                .flatten()
                                .map(|o| o.label.clone())
                                .collect(),
                        ),
                        "double" | "int" | "monetary" => (FieldType::Number, Vec::new()),
                        "date" => (FieldType::Date, Vec::new()),
                        _ => (FieldType::Text, Vec::new()),
                    },
                    _ => (FieldType::Text, Vec::new()),
                };
                Ok(Some(FieldInfo {
                    kind,
                    read_only: false,
                    options,
                    depends_on: None,
                }))
            })
            .collect()
    }

    fn catalog(&self, object: ObjectKind) -> Result<Vec<FieldDescription>> {
        let schema = self.metadata(object)?;
        let custom: Vec<&Field> = schema.iter().filter(|f| f.is_custom_field).collect();
        // A custom field is named by its display name where that names it
        // alone (the mapping file reads better), else by its key.
        let custom_name = |field: &Field| {
            let shared = builtins(object)
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(&field.field_name))
                || custom
                    .iter()
                    .filter(|f| f.field_name.eq_ignore_ascii_case(&field.field_name))
                    .count()
                    > 1;
            if shared {
                field.field_code.clone()
            } else {
                field.field_name.clone()
            }
        };
        let mut names: Vec<String> = builtins(object)
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        names.extend(custom.iter().map(|f| custom_name(f)));
        let infos = self.describe(object, &names)?;
        let (pipelines, stages) = if object == ObjectKind::Deals {
            (
                self.named("/api/v2/pipelines")?,
                self.named("/api/v2/stages")?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let option = |value: String, label: &str, group: Option<i64>| OptionDescription {
            value,
            label: label.to_string(),
            group: group.map(|g| g.to_string()),
        };
        let mut fields = Vec::new();
        for (name, info) in names.iter().zip(infos) {
            let Some(info) = info else { continue };
            let field = schema
                .iter()
                .find(|f| f.field_code == *name || (f.is_custom_field && custom_name(f) == *name));
            let meaning = meaning_of(object, name);
            let options = match meaning {
                Some(Meaning::Pipeline) => pipelines
                    .iter()
                    .map(|p| option(p.id.to_string(), &p.name, None))
                    .collect(),
                Some(Meaning::Stage) => stages
                    .iter()
                    .map(|s| option(s.id.to_string(), &s.name, s.pipeline_id))
                    .collect(),
                _ => match field.and_then(|f| f.options.as_ref()) {
                    // Custom options are read and written by their labels.
                    Some(options) if field.is_some_and(|f| f.is_custom_field) => options
                        .iter()
                        .map(|o| option(o.label.clone(), &o.label, None))
                        .collect(),
                    Some(options) => options
                        .iter()
                        .map(|o| option(text(Some(&o.id)), &o.label, None))
                        .collect(),
                    None => Vec::new(),
                },
            };
            let field_type = field.map_or("", |f| f.field_type.as_str());
            // Ids of other records or users: only a `link:` or owner map
            // could carry them to another account.
            // (A user field holds ids of the account's users, the people
            // who own records: persons of the account, to crmsync.)
            let refers_to = match field_type {
                "org" => Some(ObjectKind::Organizations),
                "people" | "user" => Some(ObjectKind::Persons),
                _ => None,
            };
            let kind = match refers_to {
                Some(object) if meaning.is_none() => FieldType::Relation(object),
                _ => info.kind,
            };
            fields.push(FieldDescription {
                name: name.clone(),
                label: field.map_or_else(|| name.clone(), |f| f.field_name.clone()),
                kind,
                multiple: field_type == "set",
                options,
                read_only: info.read_only,
                is_custom: field.is_some_and(|f| f.is_custom_field),
                meaning,
            });
        }
        Ok(fields)
    }

    fn request_counts(&self) -> BTreeMap<String, u64> {
        self.http.request_counts()
    }
}

/// The built-in fields that stand for a field every CRM has (see `Meaning`).
fn meaning_of(object: ObjectKind, field: &str) -> Option<Meaning> {
    Some(match (object, field) {
        (ObjectKind::Persons, "email") => Meaning::Email,
        (ObjectKind::Persons, "first_name") => Meaning::FirstName,
        (ObjectKind::Persons, "last_name") => Meaning::LastName,
        (ObjectKind::Persons, "phone") => Meaning::Phone,
        (ObjectKind::Deals, "title") => Meaning::DealName,
        (ObjectKind::Deals, "value") => Meaning::Amount,
        (ObjectKind::Deals, "expected_close_date") => Meaning::CloseDate,
        (ObjectKind::Deals, "pipeline_id") => Meaning::Pipeline,
        (ObjectKind::Deals, "stage_id") => Meaning::Stage,
        (ObjectKind::Deals, "person_id") => Meaning::Related {
            object: ObjectKind::Persons,
            many: false,
        },
        (ObjectKind::Organizations, "name") => Meaning::CompanyName,
        // A URL, compared as a web domain: HubSpot's `domain` pairs with it.
        (ObjectKind::Organizations, "website") => Meaning::Domain,
        (ObjectKind::Persons | ObjectKind::Deals, "org_id") => Meaning::Related {
            object: ObjectKind::Organizations,
            many: false,
        },
        (_, "owner_id") => Meaning::Owner,
        _ => return None,
    })
}
