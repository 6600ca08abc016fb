//! The operations on records: list with filters and cursor paging, create
//! and update through one validation path, and soft delete.

use super::entities::Entity;
use super::errors::ApiError;
use super::paging::Params;
use super::store::{PipedriveState, Record};
use crate::support::server::Request;
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl PipedriveState {
    pub(super) fn list(&self, entity: Entity, params: &Params) -> Result<Value, ApiError> {
        let sort = params.sort(&["id", "update_time", "add_time"])?;
        let view = params.view()?;
        // "If filter_id is provided, [ids, owner_id, org_id, …] is ignored"
        // (v2 getPersons, getDeals, getOrganizations); a filter that does
        // not exist, or filters another entity, is refused (the spec does
        // not say how: the fake takes the stricter reading).
        if let Some(id) = params.int("filter_id")? {
            let filter = self
                .filters
                .get(&id)
                .filter(|f| f.entity == entity)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("Filter {id} not found for this entity"))
                })?;
            let since = params.time("updated_since")?;
            let until = params.time("updated_until")?;
            let keep = |r: &Record| {
                !r.is_deleted
                    && filter.holds(r)
                    && since.is_none_or(|t| r.update_time >= t)
                    && until.is_none_or(|t| r.update_time < t)
            };
            let rows = &self.table(entity).rows;
            let (page, next) = params.page(&sort, rows.values().filter(|r| keep(r)))?;
            let data: Vec<Value> = page
                .iter()
                .map(|id| self.render(entity, &rows[id], &view))
                .collect();
            return Ok(listing(Value::Array(data), next));
        }
        let ids = params.id_list("ids")?;
        let since = params.time("updated_since")?;
        let until = params.time("updated_until")?;
        let mut equal = Vec::new();
        for name in entity.equality_filters() {
            if let Some(v) = params.int(name)? {
                equal.push((*name, v));
            }
        }
        // Persons of a deal: the deal's contact person.
        let deal_person = params.int("deal_id")?.map(|deal| {
            self.deals
                .rows
                .get(&deal)
                .and_then(|d| d.field_i64("person_id"))
        });
        let statuses = params.list_of("status", &["open", "won", "lost", "deleted"])?;
        let keep = |r: &Record| {
            let status_ok = match &statuses {
                // Default: every deal (and person) that is not deleted.
                None => !r.is_deleted,
                Some(wanted) if r.is_deleted => wanted.contains(&"deleted"),
                Some(wanted) => r
                    .fields
                    .get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| wanted.contains(&s)),
            };
            status_ok
                && ids.as_ref().is_none_or(|ids| ids.contains(&r.id))
                && since.is_none_or(|t| r.update_time >= t)
                && until.is_none_or(|t| r.update_time < t)
                && equal.iter().all(|(name, v)| r.field_i64(name) == Some(*v))
                && deal_person.is_none_or(|p| p == Some(r.id))
        };
        let rows = &self.table(entity).rows;
        let (page, next) = params.page(&sort, rows.values().filter(|r| keep(r)))?;
        let data: Vec<Value> = page
            .iter()
            .map(|id| self.render(entity, &rows[id], &view))
            .collect();
        if self.without_additional_data {
            return Ok(json!({"success": true, "data": data}));
        }
        Ok(listing(Value::Array(data), next))
    }

    /// Creates (`id == None`) or updates a record from a write body; returns its id.
    pub(super) fn write(
        &mut self,
        entity: Entity,
        id: Option<i64>,
        body: &Value,
        origin: &str,
    ) -> Result<i64, ApiError> {
        let now = self.clock.now();
        let existing = match id {
            Some(id) => Some(self.live(entity, id)?),
            None => None,
        };
        let change = self.validate(entity, body, existing, now)?;
        let table = self.table_mut(entity);
        let id = id.unwrap_or_else(|| {
            let id = table.next_id;
            table.next_id += 1;
            let record = Record {
                id,
                add_time: now,
                update_time: now,
                is_deleted: false,
                fields: entity.defaults(origin),
                custom: BTreeMap::new(),
            };
            table.rows.insert(id, record);
            id
        });
        let record = table.rows.get_mut(&id).expect("record exists");
        record.fields.extend(change.fields);
        for (code, value) in change.custom {
            if value.is_null() {
                record.custom.remove(&code);
            } else {
                record.custom.insert(code, value);
            }
        }
        if let Some(add_time) = change.add_time {
            record.add_time = add_time;
        }
        record.update_time = now;
        Ok(id)
    }

    /// Soft delete: `is_deleted` and, per the migration guide, `update_time`
    /// becomes the delete time. An organization's persons and deals stay,
    /// unlinked from it (`org_id` null), as the web app shows them. No
    /// document says whether that moves their `update_time`: the fake takes
    /// the stricter reading and leaves it, so a client cannot learn of the
    /// unlink from an incremental listing.
    pub(super) fn delete(&mut self, entity: Entity, id: i64) -> Result<(), ApiError> {
        self.live(entity, id)?;
        let now = self.clock.now();
        let record = self
            .table_mut(entity)
            .rows
            .get_mut(&id)
            .expect("live record");
        record.is_deleted = true;
        record.update_time = now;
        if entity == Entity::Organization {
            for linked in [&mut self.persons, &mut self.deals] {
                for row in linked.rows.values_mut() {
                    if row.field_i64("org_id") == Some(id) {
                        row.fields.insert("org_id".into(), Value::Null);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The envelope of every paged answer.
pub(super) fn listing(data: Value, next_cursor: Option<String>) -> Value {
    json!({"success": true, "data": data, "additional_data": {"next_cursor": next_cursor}})
}

pub(super) fn request_body(request: &Request) -> Result<Value, ApiError> {
    let json_type = request
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
    if !json_type {
        return Err(ApiError::validation(
            "body",
            "Content-Type must be application/json",
        ));
    }
    request.json().map_err(|e| ApiError::validation("body", e))
}
