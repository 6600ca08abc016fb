//! Merges: `PUT /v1/{persons|organizations|deals}/{id}/merge`, whose
//! survivor keeps its id and values, takes the other's contact entries and
//! relations, and fills only its empty fields.

use super::COMPANY_ID;
use super::entities::Entity;
use super::errors::ApiError;
use super::store::{PipedriveState, Table};
use super::time::v1_time;
use serde_json::{Value, json};

impl PipedriveState {
    /// Merges record `id` into `merge_with_id`, as Pipedrive's merge
    /// tutorials describe: the record of `merge_with_id` survives with its
    /// id and its values; a field it has empty (`null`, no custom value, an
    /// empty label list) takes the other's value, except those in
    /// `NOT_FILLED_BY_MERGE`; the other's emails and
    /// phones are added after its own (once each: emails compared without
    /// case, phones as written; the survivor's primary stays primary, the
    /// added entries are not primary); related records move to it (deals'
    /// `person_id`/`org_id`, persons' `org_id`, and the notes attached to
    /// the other record) and the other record is removed. Undocumented, and read strictly here:
    /// - the removed record is deleted exactly as DELETE deletes (404 on
    ///   GET, `is_deleted` with the merge time as `update_time`, listed
    ///   under deals' `status=deleted`); nothing in v2 says it was merged;
    /// - the survivor's `update_time` becomes the merge time;
    /// - the moved records keep their `update_time` (as an organization's
    ///   delete unlinks without touching it), so an incremental listing
    ///   does not show that their `person_id`/`org_id` changed;
    /// - organizations' text fields are not combined (the organization
    ///   tutorial says text is merged "where possible", without a format).
    pub(super) fn merge(
        &mut self,
        entity: Entity,
        id: i64,
        merge_with_id: i64,
    ) -> Result<i64, ApiError> {
        let other = self.live(entity, id)?.clone();
        if merge_with_id == id {
            let what = entity.singular();
            return Err(ApiError::bad_request(format!(
                "Cannot merge a {what} with itself"
            )));
        }
        self.live(entity, merge_with_id)?;
        let now = self.clock.now();
        let survivor = self
            .table_mut(entity)
            .rows
            .get_mut(&merge_with_id)
            .expect("live record");
        for (name, value) in &other.fields {
            let empty = match survivor.fields.get(name) {
                None | Some(Value::Null) => true,
                Some(Value::Array(items)) => items.is_empty() && name == "label_ids",
                Some(_) => false,
            };
            if empty && !NOT_FILLED_BY_MERGE.contains(&name.as_str()) {
                survivor.fields.insert(name.clone(), value.clone());
            }
        }
        if entity == Entity::Person {
            for list in ["emails", "phones"] {
                let joined = join_contacts(list, &survivor.fields[list], &other.fields[list]);
                survivor.fields.insert(list.into(), joined);
            }
        }
        for (code, value) in &other.custom {
            survivor
                .custom
                .entry(code.clone())
                .or_insert_with(|| value.clone());
        }
        survivor.update_time = now;
        let removed = self
            .table_mut(entity)
            .rows
            .get_mut(&id)
            .expect("live record");
        removed.is_deleted = true;
        removed.update_time = now;
        let moved: &[(Entity, &str)] = match entity {
            Entity::Person => &[(Entity::Deal, "person_id")],
            Entity::Organization => &[(Entity::Person, "org_id"), (Entity::Deal, "org_id")],
            Entity::Deal => &[],
        };
        for (related, field) in moved {
            for row in self.table_mut(*related).rows.values_mut() {
                if row.field_i64(field) == Some(id) {
                    row.fields.insert(field.to_string(), json!(merge_with_id));
                }
            }
        }
        let attached = match entity {
            Entity::Person => "person_id",
            Entity::Organization => "org_id",
            Entity::Deal => "deal_id",
        };
        for note in self.notes.rows.values_mut() {
            if note.attached.get(attached) == Some(&id) {
                note.attached.insert(attached, merge_with_id);
            }
        }
        Ok(merge_with_id)
    }

    /// The 200 answer of a merge (v1 spec): persons get `mergePersonItem`
    /// and deals `DealStrict`, each the survivor with `merge_what_id` (read
    /// here as the id of the record merged into it); organizations only
    /// `{"id"}` of the survivor.
    pub(super) fn merge_response(&self, entity: Entity, survivor: i64, merged: i64) -> Value {
        let record = &self.table(entity).rows[&survivor];
        let name_of = |table: &Table, id: Option<i64>| {
            id.and_then(|id| table.rows.get(&id))
                .and_then(|r| r.fields.get("name").cloned())
                .unwrap_or(Value::Null)
        };
        let owner = record.field_i64("owner_id");
        let owner_name = (self.users.iter())
            .find(|u| Some(u.id) == owner)
            .map_or(Value::Null, |u| json!(u.name));
        let labels = record.fields.get("label_ids").cloned().unwrap_or(json!([]));
        let first_label = labels.get(0).cloned().unwrap_or(Value::Null);
        let visible_to = record
            .fields
            .get("visible_to")
            .map_or(Value::Null, |v| json!(v.to_string()));
        let field = |name: &str| record.fields.get(name).cloned().unwrap_or(Value::Null);
        let data = match entity {
            Entity::Organization => json!({"id": survivor}),
            Entity::Person => {
                let name = field("name");
                let first_char = name
                    .as_str()
                    .and_then(|n| n.chars().next())
                    .map(|c| c.to_lowercase().to_string());
                json!({
                    "id": survivor, "company_id": COMPANY_ID, "owner_id": owner, "org_id": field("org_id"),
                    "name": name, "first_name": field("first_name"), "last_name": field("last_name"),
                    "active_flag": true, "phone": field("phones"), "email": field("emails"),
                    "first_char": first_char, "add_time": v1_time(record.add_time),
                    "update_time": v1_time(record.update_time), "visible_to": visible_to,
                    "picture_id": null, "label": first_label, "label_ids": labels,
                    "org_name": name_of(&self.organizations, record.field_i64("org_id")),
                    "owner_name": owner_name, "cc_email": null, "merge_what_id": merged,
                })
            }
            Entity::Deal => {
                let time = |name: &str| match field(name) {
                    Value::String(t) => json!(t.replace('T', " ").replace('Z', "")),
                    other => other,
                };
                let status = field("status");
                json!({
                    "id": survivor, "creator_user_id": field("creator_user_id"), "user_id": owner,
                    "person_id": field("person_id"), "org_id": field("org_id"),
                    "stage_id": field("stage_id"), "title": field("title"), "value": field("value"),
                    "currency": field("currency"), "add_time": v1_time(record.add_time),
                    "update_time": v1_time(record.update_time),
                    "stage_change_time": time("stage_change_time"),
                    "active": status == json!("open"), "deleted": false,
                    "is_archived": field("is_archived"), "status": status,
                    "probability": field("probability"), "lost_reason": field("lost_reason"),
                    "visible_to": visible_to, "close_time": time("close_time"),
                    "pipeline_id": field("pipeline_id"), "won_time": time("won_time"),
                    "lost_time": time("lost_time"), "expected_close_date": field("expected_close_date"),
                    "label": first_label,
                    "person_name": name_of(&self.persons, record.field_i64("person_id")),
                    "org_name": name_of(&self.organizations, record.field_i64("org_id")),
                    "owner_name": owner_name, "merge_what_id": merged,
                })
            }
        };
        json!({"success": true, "data": data})
    }
}

/// Fields a merge never copies into an empty field of the survivor: the
/// contact lists (joined instead), a person's name parts (the survivor
/// always has a name, and its parts must match it), and a deal's fields
/// that belong to its status (a lost deal's `lost_reason` on an open deal
/// would be a deal no write could make).
pub(super) const NOT_FILLED_BY_MERGE: &[&str] = &[
    "emails",
    "phones",
    "name",
    "first_name",
    "last_name",
    "stage_change_time",
    "close_time",
    "won_time",
    "lost_time",
    "lost_reason",
    "archive_time",
];

/// `mergePersonsRequest` and its siblings: exactly one integer
/// `merge_with_id` above zero. v1 answers a bad body with its plain 400
/// envelope (not v2's `ERR_SCHEMA_VALIDATION_FAILED`).
pub(super) fn merge_with_id(body: &Value) -> Result<i64, ApiError> {
    let fields = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The body must be a JSON object".into()))?;
    if let Some(extra) = fields.keys().find(|k| *k != "merge_with_id") {
        return Err(ApiError::bad_request(format!(
            "Parameter '{extra}' is not allowed for this request"
        )));
    }
    match fields.get("merge_with_id").and_then(Value::as_i64) {
        Some(id) if id > 0 => Ok(id),
        Some(_) => Err(ApiError::bad_request(
            "merge_with_id must be a positive integer".into(),
        )),
        None => Err(ApiError::bad_request(
            "merge_with_id is required (an integer)".into(),
        )),
    }
}

/// The survivor's emails or phones, then the other's not already there
/// (emails compared without case, phones as written; entries without a
/// value are kept as they are). Added entries are not primary, unless the
/// survivor had no primary: then the first entry with a value becomes it.
pub(super) fn join_contacts(list: &str, kept: &Value, added: &Value) -> Value {
    let key = |entry: &Value| {
        let value = entry
            .get("value")
            .and_then(Value::as_str)?
            .trim()
            .to_string();
        Some(if list == "emails" {
            value.to_lowercase()
        } else {
            value
        })
    };
    let mut out: Vec<Value> = kept.as_array().cloned().unwrap_or_default();
    for entry in added.as_array().into_iter().flatten() {
        if key(entry).is_some_and(|k| out.iter().any(|e| key(e).as_deref() == Some(k.as_str()))) {
            continue;
        }
        let mut entry = entry.clone();
        if entry.get("primary").is_some() {
            entry["primary"] = json!(false);
        }
        out.push(entry);
    }
    let no_primary = !out.iter().any(|e| e["primary"] == json!(true));
    if let Some(first) = out
        .iter_mut()
        .find(|e| no_primary && e.get("value").is_some())
    {
        first["primary"] = json!(true);
    }
    Value::Array(out)
}
