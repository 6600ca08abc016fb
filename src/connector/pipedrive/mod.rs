//! Pipedrive connector on API v2 (persons, deals, organizations, their
//! fields) and v1 (users, which v2 does not offer; merges; notes, in
//! `notes`): the `Connector`
//! impl, its reads (cursor pagination with `limit=500` and
//! `additional_data.next_cursor`, read by the pure `read_list_page`) and the
//! client it talks through. It must not build request bodies or read
//! metadata itself: those are its parts'.
//!
//! The field model: `email` and `phone` are the primary entries
//! of `emails`/`phones`, and writing one keeps the other entries; `first_name`
//! and `last_name` are written through `name`; custom fields are named by
//! display name or key and resolved through the fields API, enum options by
//! label; `person_id` and `org_id` are relations (ids of records another
//! pair syncs); an organization's `address` is its full address. Mirrors
//! `hubspot/` file for file: `writes` (one call per record), `metadata`
//! (fields API, stages, pipelines, the catalog), `schema` (custom fields
//! created and given options, `schema = "create"`), `fields` (the field
//! model), `api` (wire types), `limits` (what answers say of rate limits).

mod api;
mod costs;
mod fields;
mod limits;
mod metadata;
mod notes;
mod schema;
mod writes;

use crate::config::SystemConfig;
use crate::connector::catalog::{
    self, FieldDescription, FieldInfo, MetadataCache, OptionSpec, PropertySpec, SchemaOutcome,
};
use crate::connector::http::{ApiError, AuthStyle, HttpClient, Pacing, RetryPolicy};
use crate::connector::paging::{self, Page};
use crate::connector::seam::{
    Capabilities, Connector, DailyTokens, Listed, MergeRequest, NewRecord, RecordRef, RecordUpdate,
    WriteResult,
};
use crate::model::{ObjectKind, Owner, Record};
use crate::scope::{Scope, Test};
use crate::secret::Secret;
use crate::state::DailySpend;
use crate::timestamp;
use crate::vendor::PIPEDRIVE;
use anyhow::{Context, Result};
use api::{Entity, Field, ListPage, One, User};
use fields::{FieldKind, PersonParts, custom_fields_query};
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
    /// The fields API's answer per object, fetched once per run.
    schemas: MetadataCache<ObjectKind, Arc<Vec<Field>>>,
    /// Persons as this run read them, for updates that rewrite their
    /// emails, phones or name whole.
    persons: Mutex<HashMap<String, PersonParts>>,
    /// The keys of fields crmsync created, by object and the mapping
    /// file's name for them, where their label does not spell that name.
    learned: Mutex<BTreeMap<(ObjectKind, String), String>>,
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
        )?
        .with_token_budget(
            costs::token_cost,
            costs::MOST,
            system
                .state_dir
                .as_ref()
                .map(|dir| DailySpend::new(dir, &system.name, system.daily_tokens)),
        );
        Ok(Pipedrive {
            http,
            schemas: MetadataCache::new(),
            persons: Mutex::new(HashMap::new()),
            learned: Mutex::new(BTreeMap::new()),
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

    /// Every record of a listing, following `next_cursor` to the end.
    fn records(
        &self,
        object: ObjectKind,
        path: &str,
        query: &[(&str, String)],
        resolved: &[(String, FieldKind)],
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        self.record_pages(object, path, query, resolved, progress, &mut |page| {
            records.extend(page);
            Ok(())
        })?;
        Ok(records)
    }

    /// The records of a listing, handed to `on_page` page by page.
    fn record_pages(
        &self,
        object: ObjectKind,
        path: &str,
        query: &[(&str, String)],
        resolved: &[(String, FieldKind)],
        progress: &dyn Fn(Listed),
        on_page: &mut dyn FnMut(Vec<Record>) -> Result<()>,
    ) -> Result<()> {
        let mut listed = 0;
        self.pages(path, query, &mut |page: Vec<Entity>| {
            let records = page
                .iter()
                .map(|e| self.to_record(object, e, resolved))
                .collect::<Result<Vec<Record>, ApiError>>()?;
            listed += records.len();
            progress(Listed::so_far(listed));
            on_page(records)
        })
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
            read_list_page(path, reply.body).map_err(|detail| self.malformed(detail).into())
        };
        paging::pages(self.system(), path, fetch, on_page)
    }

    fn malformed(&self, detail: String) -> ApiError {
        paging::malformed(self.system(), detail)
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
}

/// The part of a saved filter crmsync reads (v1 getFilter's `data`).
#[derive(serde::Deserialize)]
struct FilterInfo {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// The list parameters of a scope: `filter_id` for a saved filter (which
/// makes the v2 lists ignore the other filters), else each condition the
/// operation takes as a parameter (getPersons: `owner_id`, `org_id`;
/// getDeals: those, `person_id`, `pipeline_id`, `stage_id`, `status`;
/// getOrganizations: `owner_id`) with one value (`status` with several).
fn scope_query(object: ObjectKind, scope: &Scope) -> Vec<(&'static str, String)> {
    if let Some(id) = &scope.saved_filter {
        return vec![("filter_id", id.clone())];
    }
    let taken: &[&'static str] = match object {
        ObjectKind::Persons => &["owner_id", "org_id"],
        ObjectKind::Deals => &[
            "owner_id",
            "person_id",
            "org_id",
            "pipeline_id",
            "stage_id",
            "status",
        ],
        ObjectKind::Organizations => &["owner_id"],
        _ => &[],
    };
    let mut query = Vec::new();
    for condition in &scope.conditions {
        let Some(name) = taken.iter().find(|n| **n == condition.field) else {
            continue;
        };
        match &condition.test {
            Test::AnyOf(values) if *name == "status" => query.push((*name, values.join(","))),
            Test::AnyOf(values) if values.len() == 1 && values[0].parse::<u64>().is_ok() => {
                query.push((*name, values[0].clone()))
            }
            _ => {}
        }
    }
    query
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

    fn list_pages(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(Listed),
        on_page: &mut dyn FnMut(Vec<Record>) -> Result<()>,
    ) -> Result<()> {
        // Notes are read whole (their records are put together from
        // several listings): one page.
        if object == ObjectKind::Notes {
            return on_page(self.list_notes(fields, None, progress)?);
        }
        let resolved = self.resolve(object, fields)?;
        let path = format!("/api/v2/{}", Self::collection(object)?);
        let query: Vec<_> = custom_fields_query(&resolved).into_iter().collect();
        self.record_pages(object, &path, &query, &resolved, progress, on_page)
            .with_context(|| format!("listing {object} from {}", self.system()))
    }

    fn list_changed(
        &self,
        object: ObjectKind,
        fields: &[String],
        since_ms: i64,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        if object == ObjectKind::Notes {
            return self.list_notes(fields, Some(since_ms), progress);
        }
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

    /// One scope naming a saved filter is listed with `filter_id`; one
    /// scope of field conditions with the list parameters that take them
    /// (a single owner, organization, pipeline, stage or deal status);
    /// anything else is listed whole for the caller to narrow.
    fn list_selected(
        &self,
        object: ObjectKind,
        fields: &[String],
        scopes: &[&Scope],
        since_ms: Option<i64>,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let resolved = self.resolve(object, fields)?;
        let path = format!("/api/v2/{}", Self::collection(object)?);
        let mut query = match scopes {
            [scope] => scope_query(object, scope),
            _ => Vec::new(),
        };
        if let Some(since_ms) = since_ms {
            // Whole seconds: the notes report fractional ones refused.
            let since = &timestamp::format_ms(since_ms.div_euclid(1000) * 1000)[..19];
            query.extend([
                ("updated_since", format!("{since}Z")),
                ("sort_by", "update_time".to_string()),
                ("sort_direction", "asc".to_string()),
            ]);
        }
        query.extend(custom_fields_query(&resolved));
        self.records(object, &path, &query, &resolved, progress)
            .with_context(|| format!("listing {object} in scope from {}", self.system()))
    }

    fn narrows(&self, object: ObjectKind, scopes: &[&Scope]) -> bool {
        matches!(scopes, [scope] if !scope_query(object, scope).is_empty())
    }

    /// v1 getFilter (v2 has no filters API): the filter must exist and be
    /// one of `object`'s (`type`: `people`, `deals`, `org`).
    fn check_saved_filter(&self, object: ObjectKind, id: &str) -> Result<Option<String>> {
        let reply = match self.http.get(&format!("/api/v1/filters/{id}"), &[]) {
            Ok(reply) => reply,
            Err(ApiError::Rejected {
                status: 404 | 400, ..
            }) => {
                return Ok(Some(format!(
                    "{} has no saved filter {id}; check its id in Pipedrive (the filter's URL ends with it)",
                    self.system()
                )));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("reading filter {id} of {}", self.system())));
            }
        };
        let filter: One<FilterInfo> = serde_json::from_value(reply.body)
            .map_err(|e| self.malformed(format!("filter {id}: {e}")))?;
        let wanted = match object {
            ObjectKind::Persons => "people",
            ObjectKind::Deals => "deals",
            _ => "org",
        };
        Ok(match filter.data.kind.as_deref() {
            Some(kind) if kind != wanted => Some(format!(
                "saved filter {id} of {} filters {kind}, not {object}; use a filter of {object}",
                self.system()
            )),
            _ => None,
        })
    }

    fn read(&self, object: ObjectKind, ids: &[String], fields: &[String]) -> Result<Vec<Record>> {
        if object == ObjectKind::Notes {
            return self.read_notes(ids, fields);
        }
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
        self.write_new(object, records, fields)
    }

    fn update(
        &self,
        object: ObjectKind,
        records: &[RecordUpdate],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        self.write_updates(object, records, fields)
    }

    fn delete(&self, object: ObjectKind, records: &[RecordRef]) -> Result<Vec<WriteResult>> {
        self.delete_records(object, records)
    }

    fn merge(
        &self,
        object: ObjectKind,
        merges: &[MergeRequest],
        _fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        self.merge_records(object, merges)
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
            .filter_map(|u| catalog::owner(u.id.to_string(), u.email))
            .collect())
    }

    fn labels(&self, object: ObjectKind, field: &str) -> Result<Vec<(String, String)>> {
        self.labels_of(object, field)
    }

    fn describe(&self, object: ObjectKind, fields: &[String]) -> Result<Vec<Option<FieldInfo>>> {
        self.describe_fields(object, fields)
    }

    fn catalog(&self, object: ObjectKind) -> Result<Vec<FieldDescription>> {
        self.field_catalog(object)
    }

    fn properties(
        &self,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<Vec<Option<PropertySpec>>> {
        self.property_specs(object, fields)
    }

    fn create_property(&self, object: ObjectKind, spec: &PropertySpec) -> Result<SchemaOutcome> {
        self.create_field_like(object, spec)
    }

    fn add_options(
        &self,
        object: ObjectKind,
        field: &str,
        options: &[OptionSpec],
    ) -> Result<SchemaOutcome> {
        self.add_field_options(object, field, options)
    }

    fn learn_keys(&self, object: ObjectKind, keys: &BTreeMap<String, String>) {
        let mut learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        for (name, key) in keys {
            learned.insert((object, name.clone()), key.clone());
        }
    }

    fn request_counts(&self) -> BTreeMap<String, u64> {
        self.http.request_counts()
    }

    fn tokens_spent(&self) -> u64 {
        self.http.tokens_spent()
    }

    fn daily_tokens(&self) -> Result<Option<DailyTokens>> {
        Ok(self
            .http
            .daily_tokens()?
            .map(|(cap, spent_today)| DailyTokens { cap, spent_today }))
    }
}

/// What one write of `object` costs of the daily token budget.
pub fn write_cost(object: ObjectKind, write: crate::connector::seam::WriteKind) -> u64 {
    costs::write_cost(object, write)
}

/// One page of a v2 (or v1) list answer: its items, and the cursor of the
/// next page; `Err` says why the page cannot be read. The spec does not
/// promise `additional_data`: a short page is the last one anyway, but
/// after a full one the listing may go on, and taking it as whole would
/// read every record after it as deleted.
fn read_list_page<T: serde::de::DeserializeOwned>(
    path: &str,
    body: Value,
) -> Result<Page<T>, String> {
    let page: ListPage<T> =
        serde_json::from_value(body).map_err(|e| format!("{path} page: {e}"))?;
    let items = page.data.unwrap_or_default();
    let full = items.len() >= PAGE_SIZE;
    let next = match page.additional_data.and_then(|a| a.next_cursor) {
        Some(Value::String(next)) => Some(next),
        Some(Value::Null) => None,
        None if !full => None,
        other => {
            return Err(format!(
                "{path}: a full page came with {} as `additional_data.next_cursor`, so crmsync cannot tell whether more follow",
                other.map_or("nothing".to_string(), |v| v.to_string())
            ));
        }
    };
    Ok(Page { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_v2_list_page_reads_into_records_with_custom_fields_and_a_cursor() {
        let size: Field = serde_json::from_value(json!({
            "field_code": "a1b2c3",
            "field_name": "Size",
            "field_type": "enum",
            "is_custom_field": true,
            "options": [{"id": 7, "label": "Large"}, {"id": 8, "label": "Small"}],
        }))
        .expect("a field");
        let answer = json!({
            "success": true,
            "data": [{
                "id": 12,
                "name": "Acme",
                "update_time": "2026-11-23T03:47:22Z",
                "custom_fields": {"a1b2c3": 7},
            }],
            "additional_data": {"next_cursor": "eyJpZCI6MTJ9"},
        });
        let page: Page<Entity> = read_list_page("/api/v2/organizations", answer).expect("a page");
        assert_eq!(page.next.as_deref(), Some("eyJpZCI6MTJ9"));
        let fields = vec![
            ("name".to_string(), FieldKind::Text),
            ("Size".to_string(), FieldKind::Custom(size)),
        ];
        let record = fields::record_of(ObjectKind::Organizations, &page.items[0], &fields)
            .expect("a record");
        assert_eq!(record.id, "12");
        assert_eq!((record.get("name"), record.get("Size")), ("Acme", "Large"));
        assert_eq!(
            record.updated_ms,
            timestamp::parse_ms("2026-11-23T03:47:22Z").expect("a time")
        );
    }

    #[test]
    fn a_full_page_without_a_cursor_cannot_be_taken_as_the_last() {
        let items: Vec<Value> = (0..PAGE_SIZE).map(|i| json!(i)).collect();
        let last = read_list_page::<Value>("/api/v2/persons", json!({"data": items}));
        assert!(last.is_err_and(|e| e.contains("cannot tell whether more follow")));
        let short = read_list_page::<Value>("/api/v2/persons", json!({"data": [1, 2]}));
        assert!(short.is_ok_and(|p| p.next.is_none() && p.items.len() == 2));
    }
}
