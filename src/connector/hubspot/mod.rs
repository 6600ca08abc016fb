//! HubSpot CRM connector on the date-based API (`/crm/objects/{version}/…`):
//! the `Connector` impl, its reads (lists page by page with `limit=100`
//! and the `after` cursor, only the mapped properties plus the modified
//! time; incremental pulls through search; batch reads) and the client it
//! talks through. It must not build request bodies for writes or read
//! metadata itself: those are its parts'.
//!
//! - `writes`: batch upsert/create/update with trace ids, archive, merge;
//!   a note is created with its associations in the same request.
//! - `associations`: relation fields read and written as associations (a
//!   deal's `contact` and `contacts`, a contact's or a deal's
//!   `primary_company` and `companies`, a note's records).
//! - `metadata`: property definitions and pipelines, `describe`, `labels`,
//!   the catalog `init` reads.
//! - `schema`: properties read as neutral definitions, created and given
//!   options (`schema = "create"`).
//! - `fields`: the field model (properties asked for, a record from an
//!   object, the relation pseudo-fields); `api`: wire types; `limits`: what
//!   answers say of rate limits.

mod api;
mod associations;
mod fields;
mod limits;
mod metadata;
mod schema;
mod writes;

use crate::config::SystemConfig;
use crate::connector::catalog::{
    self, FieldDescription, FieldInfo, MetadataCache, OptionSpec, PropertySpec, SchemaOutcome,
};
use crate::connector::http::{ApiError, AuthStyle, HttpClient, Pacing, Repeat, RetryPolicy};
use crate::connector::paging::{self, Page};
use crate::connector::seam::{
    Capabilities, Connector, Listed, MergeRequest, NewRecord, RecordRef, RecordUpdate, WriteResult,
};
use crate::model::{ObjectKind, Owner, Record};
use crate::scope::{Scope, Test};
use crate::secret::Secret;
use crate::vendor::HUBSPOT;
use anyhow::{Context, Result};
use api::{ApiObject, ApiOwner, BatchResponse, IdInput, ReadInput, SearchPage};
pub use fields::{
    COMPANIES_FIELD, CONTACT_FIELD, CONTACTS_FIELD, DEAL_FIELD, DEALS_FIELD, PRIMARY_COMPANY_FIELD,
};
use fields::{modified_property, relation_targets, type_name};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// HubSpot caps batch inputs at 100 (the profile's batch size) and list
/// pages at 100.
const MAX_BATCH: usize = HUBSPOT.max_batch;
const PAGE_SIZE: usize = 100;
/// Search pages hold at most 200 results, and one query reaches at most
/// 10,000 of them.
const SEARCH_PAGE: usize = 200;
const SEARCH_REACH: usize = 10_000;
/// A search takes at most 5 filter groups (HubSpot's changelog, "Expanded
/// filtering capabilities and error messaging in HubSpot's Search API",
/// August 2024; the 2026-09 spec says "up to 6": the stricter is kept).
const MAX_FILTER_GROUPS: usize = 5;
/// The most values one `IN` filter takes (HubSpot documents none; 100, as
/// its other lists of ids in one request).
const MAX_FILTER_VALUES: usize = 100;
/// A search takes at most 10 filters in a group and 25 in all (the search
/// guide, <https://developers.hubspot.com/docs/api-reference/search/guide>).
const MAX_GROUP_FILTERS: usize = 10;
const MAX_FILTERS: usize = 25;

/// Whether these scopes fit one search as filter groups, counting in each
/// group the filters the search adds of its own: the id a listing past
/// 10,000 results restarts above, and the modified time when incremental.
fn scopes_fit_one_search(scopes: &[&Scope], incremental: bool) -> bool {
    let added = 1 + usize::from(incremental);
    let per_group = scopes.iter().map(|s| s.conditions.len() + added);
    scopes.len() <= MAX_FILTER_GROUPS
        && per_group.clone().all(|n| n <= MAX_GROUP_FILTERS)
        && per_group.sum::<usize>() <= MAX_FILTERS
}

/// A scope's conditions as search filters: one value `EQ`, several `IN`,
/// `not` `NOT_IN`, `present` `HAS_PROPERTY` / `NOT_HAS_PROPERTY`
/// (<https://developers.hubspot.com/docs/api-reference/search/guide>).
fn scope_filters(scope: &Scope) -> Vec<Value> {
    scope
        .conditions
        .iter()
        .map(|c| {
            let name = &c.field;
            match &c.test {
                Test::AnyOf(values) if values.len() == 1 => {
                    json!({"propertyName": name, "operator": "EQ", "value": values[0]})
                }
                Test::AnyOf(values) => {
                    json!({"propertyName": name, "operator": "IN", "values": values})
                }
                Test::NoneOf(values) => {
                    json!({"propertyName": name, "operator": "NOT_IN", "values": values})
                }
                Test::Present(true) => json!({"propertyName": name, "operator": "HAS_PROPERTY"}),
                Test::Present(false) => {
                    json!({"propertyName": name, "operator": "NOT_HAS_PROPERTY"})
                }
            }
        })
        .collect()
}

/// HubSpot's search index lags recent writes by seconds: an incremental pull
/// starts this long before the previous pull began (the profile's lookback).
pub const SEARCH_LOOKBACK_MS: i64 = HUBSPOT.lookback_ms;

pub struct HubSpot {
    http: HttpClient,
    version: String,
    /// Metadata answers (pipelines, property definitions) by path: fetched
    /// at most once per run.
    metadata: MetadataCache<String, Value>,
}

impl HubSpot {
    pub fn new(system: &SystemConfig, token: &Secret) -> Result<HubSpot> {
        let mut http = HttpClient::new(
            system,
            token,
            AuthStyle::Bearer,
            Pacing {
                requests: HUBSPOT.requests_per_window(system.requests_per_10s),
                window: HUBSPOT.pace_window,
            },
            RetryPolicy::from(system.retry),
            &limits::HubSpotLimits,
        )?;
        if let Some(reserve) = system.daily_reserve {
            http = http.with_daily_reserve(reserve);
        }
        if let Some((requests, window)) = HUBSPOT.search_pace {
            http = http.with_search_pacing(Pacing { requests, window });
        }
        Ok(HubSpot {
            http,
            version: system.api_version.clone(),
            metadata: MetadataCache::new(),
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
        let (path, query) = self.list_query(object, fields)?;
        let targets = relation_targets(object, fields);
        let mut records = Vec::new();
        // Per associated object, the records whose listed set is only a
        // first page.
        let mut paged: BTreeMap<ObjectKind, Vec<usize>> = BTreeMap::new();
        self.pages(&path, &query, object.as_str(), &mut |page: Vec<
            ApiObject,
        >| {
            for api in &page {
                for to in &targets {
                    if associations_cut(api, *to) {
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

    /// Each page is handed over whole: the associations a page's records
    /// list only in part are read before `on_page` gets it (one batch per
    /// page that has any), where `list` reads them once at the end.
    fn list_pages(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(Listed),
        on_page: &mut dyn FnMut(Vec<Record>) -> Result<()>,
    ) -> Result<()> {
        let (path, query) = self.list_query(object, fields)?;
        let targets = relation_targets(object, fields);
        let mut listed = 0;
        self.pages(&path, &query, object.as_str(), &mut |page: Vec<
            ApiObject,
        >| {
            let mut records = Vec::with_capacity(page.len());
            let mut paged: BTreeMap<ObjectKind, Vec<usize>> = BTreeMap::new();
            for api in &page {
                for to in &targets {
                    if associations_cut(api, *to) {
                        paged.entry(*to).or_default().push(records.len());
                    }
                }
                records.push(Self::to_record(object, api, fields).map_err(|e| self.named(e))?);
            }
            for (to, indexes) in paged {
                let mut cut: Vec<&mut Record> = records
                    .iter_mut()
                    .enumerate()
                    .filter(|(i, _)| indexes.binary_search(i).is_ok())
                    .map(|(_, r)| r)
                    .collect();
                self.read_associations(object, to, &mut cut, fields)?;
            }
            listed += records.len();
            progress(Listed::so_far(listed));
            on_page(records)
        })
    }

    fn list_changed(
        &self,
        object: ObjectKind,
        fields: &[String],
        since_ms: i64,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        self.search(object, fields, &[Vec::new()], Some(since_ms), progress)
    }

    /// Each scope is one filter group (its conditions ANDed, the groups
    /// ORed); scopes that do not fit one search (too many groups or
    /// filters) list everything, and the caller's own check narrows it.
    fn list_selected(
        &self,
        object: ObjectKind,
        fields: &[String],
        scopes: &[&Scope],
        since_ms: Option<i64>,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        if !scopes_fit_one_search(scopes, since_ms.is_some()) {
            return match since_ms {
                Some(since) => self.list_changed(object, fields, since, progress),
                None => self.list(object, fields, progress),
            };
        }
        let groups: Vec<Vec<Value>> = scopes.iter().map(|s| scope_filters(s)).collect();
        self.search(object, fields, &groups, since_ms, progress)
    }

    fn narrows(&self, _object: ObjectKind, scopes: &[&Scope]) -> bool {
        scopes_fit_one_search(scopes, false)
    }

    /// A search with `field IN [...]`, at most `MAX_FILTER_VALUES` values
    /// a request, unscoped: ceil(values / 100) searches (more pages only
    /// where several records share the values). A contact's secondary
    /// emails (`hs_additional_emails`) are not searched: the search takes
    /// no per-member test of a `;`-list.
    fn lookup(
        &self,
        object: ObjectKind,
        fields: &[String],
        field: &str,
        values: &[String],
    ) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        for chunk in values.chunks(MAX_FILTER_VALUES) {
            let group = vec![json!({"propertyName": field, "operator": "IN", "values": chunk})];
            records.extend(self.search(object, fields, &[group], None, &|_| {})?);
        }
        Ok(records)
    }

    fn check_saved_filter(&self, _object: ObjectKind, id: &str) -> Result<Option<String>> {
        Ok(Some(format!(
            "HubSpot has no saved filter {id}; scope by fields"
        )))
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
        self.archive(object, records)
    }

    fn merge(
        &self,
        object: ObjectKind,
        merges: &[MergeRequest],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        self.merge_records(object, merges, fields)
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
                owners.extend(
                    page.into_iter()
                        .filter_map(|o| catalog::owner(o.id, o.email)),
                );
                Ok(())
            },
        )?;
        Ok(owners)
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
        self.create_property_like(object, spec)
    }

    fn add_options(
        &self,
        object: ObjectKind,
        field: &str,
        options: &[OptionSpec],
    ) -> Result<SchemaOutcome> {
        self.add_property_options(object, field, options)
    }

    fn request_counts(&self) -> BTreeMap<String, u64> {
        self.http.request_counts()
    }
}

/// Returns true if and only if `api` lists only a first page of its
/// associations with `to`.
fn associations_cut(api: &ApiObject, to: ObjectKind) -> bool {
    type_name(to)
        .and_then(|name| api.associations.get(name))
        .and_then(|a| a.paging.as_ref())
        .is_some_and(|p| p.next.is_some())
}

impl HubSpot {
    /// Where `object` is listed, and the query of its first page: the
    /// mapped properties, and the associations its relation fields need.
    fn list_query(
        &self,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<(String, Vec<(&'static str, String)>)> {
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
        Ok((self.objects_path(object)?, query))
    }

    /// Searches `object` for the records meeting any of `groups` (each a
    /// list of filters ANDed; one empty group: every record), modified at or
    /// after `since_ms` where given. Sorting by id and restarting above the
    /// last id seen every 10,000 results reaches any number of records, and
    /// never loops the way paging by a timestamp that many records share
    /// can.
    fn search(
        &self,
        object: ObjectKind,
        fields: &[String],
        groups: &[Vec<Value>],
        since_ms: Option<i64>,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let path = format!("{}/search", self.objects_path(object)?);
        let modified = modified_property(object);
        let mut records = Vec::new();
        let mut above: Option<String> = None;
        loop {
            let mut after: Option<String> = None;
            let mut reached = 0;
            let mut last_id = None;
            // A query above the last id counts only what is left.
            let before_query = records.len() as u64;
            let more = loop {
                let filter_groups: Vec<Value> = groups
                    .iter()
                    .map(|scope| {
                        let mut filters = scope.clone();
                        if let Some(since) = since_ms {
                            filters.push(json!({"propertyName": modified, "operator": "GTE", "value": since.to_string()}));
                        }
                        if let Some(id) = &above {
                            filters.push(
                                json!({"propertyName": "hs_object_id", "operator": "GT", "value": id}),
                            );
                        }
                        json!({ "filters": filters })
                    })
                    .filter(|g| g["filters"].as_array().is_some_and(|f| !f.is_empty()))
                    .collect();
                let mut body = json!({
                    "filterGroups": filter_groups,
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "properties": Self::properties(object, fields),
                    "limit": SEARCH_PAGE,
                });
                // The schema requires `after`; "0" is the first page.
                body["after"] = json!(after.as_deref().unwrap_or("0"));
                let reply = self
                    .http
                    .post(&path, &body, Repeat::Safe)
                    .with_context(|| format!("searching {object} on {}", self.system()))?;
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
        paging::pages(self.system(), what, fetch, on_page)
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
        paging::malformed(self.system(), detail)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Condition;

    #[test]
    fn a_scope_becomes_one_filter_per_condition() {
        let condition = |field: &str, test: Test| Condition {
            field: field.into(),
            test,
        };
        let scope = Scope {
            conditions: vec![
                condition("lifecyclestage", Test::AnyOf(vec!["customer".into()])),
                condition(
                    "hs_lead_status",
                    Test::AnyOf(vec!["OPEN".into(), "IN_PROGRESS".into()]),
                ),
                condition("firstname", Test::NoneOf(vec!["Test".into()])),
                condition("phone", Test::Present(true)),
                condition("company", Test::Present(false)),
            ],
            saved_filter: None,
        };
        assert_eq!(
            Value::Array(scope_filters(&scope)),
            json!([
                {"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"},
                {"propertyName": "hs_lead_status", "operator": "IN", "values": ["OPEN", "IN_PROGRESS"]},
                {"propertyName": "firstname", "operator": "NOT_IN", "values": ["Test"]},
                {"propertyName": "phone", "operator": "HAS_PROPERTY"},
                {"propertyName": "company", "operator": "NOT_HAS_PROPERTY"},
            ])
        );
    }

    #[test]
    fn scopes_whose_filters_with_the_searchs_own_pass_25_list_everything() {
        let scope = |n: usize| Scope {
            conditions: (0..n)
                .map(|i| Condition {
                    field: format!("field{i}"),
                    test: Test::Present(true),
                })
                .collect(),
            saved_filter: None,
        };
        let (seven, eight) = (scope(7), scope(8));
        // Three groups of 7 + the restart filter: 24.
        assert!(scopes_fit_one_search(&[&seven, &seven, &seven], false));
        // Incremental adds the modified time to each group: 27.
        assert!(!scopes_fit_one_search(&[&seven, &seven, &seven], true));
        // 8 + 1 three times: 27.
        assert!(!scopes_fit_one_search(&[&eight, &eight, &eight], false));
        // 8 + 2 is a full group, and two of them fit.
        assert!(scopes_fit_one_search(&[&eight, &eight], true));
        // A group past 10 never goes out, even alone.
        assert!(!scopes_fit_one_search(&[&scope(9)], true));
        // Six groups are one too many whatever their size.
        let one = scope(1);
        assert!(!scopes_fit_one_search(&[&one; 6], false));
        assert!(scopes_fit_one_search(&[&one; 5], true));
    }
}
