//! Notes, on API v1 (there are no v2 notes): `GET/POST /api/v1/notes`,
//! `GET/PUT/DELETE /api/v1/notes/{id}` (getNotes, addNote, getNote,
//! updateNote, deleteNote in Pipedrive's v1 spec,
//! <https://developers.pipedrive.com/docs/api/v1/Notes>). Lists page with
//! `start`/`limit` and answer `additional_data.pagination`; `updated_since`
//! keeps the notes updated at or after it. A note is attached to at least
//! one record (addNote requires one of `deal_id`, `person_id`, `org_id`,
//! `lead_id`, `project_id`, `task_id`) and every record it names must be
//! live. Where the spec leaves a behaviour open the fake takes the stricter
//! reading: a body field or query parameter it does not model, `null` for a
//! field the spec does not mark nullable and a `limit` above 500 are refused
//! with a 400.

use super::entities::Entity;
use super::errors::ApiError;
use super::paging::Params;
use super::records::request_body;
use super::store::PipedriveState;
use super::time::{parse_rfc3339, v1_time};
use super::{COMPANY_ID, MAX_LIMIT};
use crate::support::server::Request;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One note as stored.
#[derive(Clone, Debug)]
pub(super) struct Note {
    pub(super) id: i64,
    pub(super) content: String,
    pub(super) add_time: i64,
    pub(super) update_time: i64,
    pub(super) user_id: i64,
    /// `person_id`, `deal_id`, `org_id` where set.
    pub(super) attached: BTreeMap<&'static str, i64>,
    pub(super) active: bool,
}

/// Every note of the company, by id.
#[derive(Default)]
pub(super) struct Notes {
    pub(super) next_id: i64,
    pub(super) rows: BTreeMap<i64, Note>,
}

/// One note operation.
#[derive(Clone, Copy, Debug)]
pub(super) enum NoteRoute {
    List,
    Create,
    Get(i64),
    Update(i64),
    Delete(i64),
}

/// The records a note can be attached to that the fake models, with the
/// table each id must be live in.
const ATTACHMENTS: [(&str, Entity); 3] = [
    ("person_id", Entity::Person),
    ("deal_id", Entity::Deal),
    ("org_id", Entity::Organization),
];
/// addNote's other attachments: documented, not modelled (refused).
const UNMODELLED_ATTACHMENTS: [&str; 3] = ["lead_id", "project_id", "task_id"];

impl NoteRoute {
    /// `/api/v1/notes[/{id}]`; `None` for anything else.
    pub(super) fn parse(method: &str, rest: &[&str]) -> Option<NoteRoute> {
        let id = |s: &str| s.parse::<i64>().ok().filter(|id| *id > 0);
        Some(match (method, rest) {
            ("GET", []) => NoteRoute::List,
            ("POST", []) => NoteRoute::Create,
            ("GET", [n]) => NoteRoute::Get(id(n)?),
            ("PUT", [n]) => NoteRoute::Update(id(n)?),
            ("DELETE", [n]) => NoteRoute::Delete(id(n)?),
            _ => return None,
        })
    }

    /// The query parameters modelled (getNotes documents more filters;
    /// the fake refuses them).
    pub(super) fn params(self) -> Vec<&'static str> {
        match self {
            NoteRoute::List => vec!["start", "limit", "updated_since"],
            _ => Vec::new(),
        }
    }
}

impl PipedriveState {
    pub(super) fn notes_route(
        &mut self,
        route: NoteRoute,
        request: &Request,
    ) -> Result<Value, ApiError> {
        let params = Params::new(request, &route.params())?;
        Ok(match route {
            NoteRoute::List => self.list_notes(&params)?,
            NoteRoute::Get(id) => {
                json!({"success": true, "data": self.render_note(self.live_note(id)?)})
            }
            NoteRoute::Create => {
                let id = self.write_note(None, &request_body(request)?)?;
                json!({"success": true, "data": self.render_note(&self.notes.rows[&id])})
            }
            NoteRoute::Update(id) => {
                self.write_note(Some(id), &request_body(request)?)?;
                json!({"success": true, "data": self.render_note(&self.notes.rows[&id])})
            }
            NoteRoute::Delete(id) => {
                self.delete_note(id)?;
                json!({"success": true, "data": true})
            }
        })
    }

    pub(super) fn live_note(&self, id: i64) -> Result<&Note, ApiError> {
        self.notes
            .rows
            .get(&id)
            .filter(|n| n.active)
            .ok_or_else(ApiError::entity_not_found)
    }

    fn list_notes(&self, params: &Params) -> Result<Value, ApiError> {
        let start = params.int("start")?.unwrap_or(0);
        if start < 0 {
            return Err(ApiError::validation("start", "must be 0 or more"));
        }
        let limit = params.int("limit")?.unwrap_or(100);
        if !(1..=MAX_LIMIT as i64).contains(&limit) {
            return Err(ApiError::validation(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let since = params
            .str("updated_since")
            .map(|v| parse_rfc3339(v).map_err(|e| ApiError::validation("updated_since", e)))
            .transpose()?;
        let matching: Vec<&Note> = self
            .notes
            .rows
            .values()
            .filter(|n| n.active && since.is_none_or(|s| n.update_time >= s))
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start as usize)
            .take(limit as usize)
            .map(|n| self.render_note(n))
            .collect();
        let more = matching.len() > (start + limit) as usize;
        let mut pagination =
            json!({"start": start, "limit": limit, "more_items_in_collection": more});
        if more {
            pagination["next_start"] = json!(start + limit);
        }
        Ok(json!({"success": true, "data": page, "additional_data": {"pagination": pagination}}))
    }

    /// Validates and applies an addNote (`id` None) or updateNote body;
    /// returns the note's id.
    pub(super) fn write_note(&mut self, id: Option<i64>, body: &Value) -> Result<i64, ApiError> {
        let Some(body) = body.as_object() else {
            return Err(ApiError::validation("body", "must be an object"));
        };
        let existing = match id {
            Some(id) => Some(self.live_note(id)?.clone()),
            None => None,
        };
        let mut note = existing.clone().unwrap_or(Note {
            id: 0,
            content: String::new(),
            add_time: 0,
            update_time: 0,
            user_id: super::TOKEN_USER,
            attached: BTreeMap::new(),
            active: true,
        });
        let mut add_time = None;
        for (name, value) in body {
            match name.as_str() {
                "content" => match value.as_str() {
                    Some(text) if !text.trim().is_empty() => note.content = text.to_string(),
                    _ => {
                        return Err(ApiError::validation(
                            "content",
                            "must be a non-empty string",
                        ));
                    }
                },
                "add_time" => {
                    let text = value.as_str().ok_or_else(|| {
                        ApiError::validation("add_time", "must be a string YYYY-MM-DD HH:MM:SS")
                    })?;
                    add_time = Some(parse_v1_time(text).ok_or_else(|| {
                        ApiError::validation(
                            "add_time",
                            format!("'{text}' is not YYYY-MM-DD HH:MM:SS"),
                        )
                    })?);
                }
                "user_id" => {
                    let user = integer(name, value)?;
                    if !self.users.iter().any(|u| u.id == user) {
                        return Err(ApiError::bad_request(format!("User {user} not found")));
                    }
                    note.user_id = user;
                }
                field if UNMODELLED_ATTACHMENTS.contains(&field) => {
                    return Err(ApiError::bad_request(format!(
                        "{field}: documented parameter not modelled by the crmsync fake"
                    )));
                }
                field => {
                    let Some((key, entity)) = ATTACHMENTS.iter().find(|(k, _)| *k == field) else {
                        return Err(ApiError::validation(
                            field,
                            "is not a field of addNote/updateNote modelled by the fake",
                        ));
                    };
                    let target = integer(field, value)?;
                    if self.live(*entity, target).is_err() {
                        return Err(ApiError::bad_request(format!(
                            "{} {target} not found",
                            entity.singular()
                        )));
                    }
                    note.attached.insert(key, target);
                }
            }
        }
        if note.content.trim().is_empty() {
            return Err(ApiError::validation("content", "is required"));
        }
        if note.attached.is_empty() {
            return Err(ApiError::bad_request(
                "A note must be attached to a deal, person, organization, lead, project or task: one of deal_id, person_id, org_id, lead_id, project_id or task_id is required".into(),
            ));
        }
        let now = self.clock.now();
        note.update_time = now;
        match id {
            Some(id) => {
                if let Some(t) = add_time {
                    note.add_time = t;
                }
                self.notes.rows.insert(id, note);
                Ok(id)
            }
            None => {
                self.notes.next_id = self.notes.next_id.max(1);
                note.id = self.notes.next_id;
                self.notes.next_id += 1;
                note.add_time = add_time.unwrap_or(now);
                let id = note.id;
                self.notes.rows.insert(id, note);
                Ok(id)
            }
        }
    }

    pub(super) fn delete_note(&mut self, id: i64) -> Result<(), ApiError> {
        self.live_note(id)?;
        let now = self.clock.now();
        let note = self.notes.rows.get_mut(&id).expect("live");
        note.active = false;
        note.update_time = now;
        Ok(())
    }

    /// A note in getNote's shape.
    pub(super) fn render_note(&self, note: &Note) -> Value {
        let mut data = Map::new();
        data.insert("id".into(), json!(note.id));
        data.insert("active_flag".into(), json!(note.active));
        data.insert("add_time".into(), json!(v1_time(note.add_time)));
        data.insert("update_time".into(), json!(v1_time(note.update_time)));
        data.insert("content".into(), json!(note.content));
        data.insert("user_id".into(), json!(note.user_id));
        data.insert("last_update_user_id".into(), json!(note.user_id));
        for (key, _) in ATTACHMENTS {
            data.insert(key.into(), json!(note.attached.get(key)));
        }
        for key in UNMODELLED_ATTACHMENTS {
            data.insert(key.into(), Value::Null);
        }
        data.insert("company_id".into(), json!(COMPANY_ID));
        Value::Object(data)
    }
}

/// An id: a JSON integer (the spec types them `integer`; `null` is not
/// allowed, none being marked nullable).
fn integer(field: &str, value: &Value) -> Result<i64, ApiError> {
    value
        .as_i64()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::validation(field, "Expected 'integer'"))
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) in seconds.
fn parse_v1_time(text: &str) -> Option<i64> {
    if text.len() != 19 || text.as_bytes()[10] != b' ' {
        return None;
    }
    parse_rfc3339(&format!("{}T{}Z", &text[..10], &text[11..])).ok()
}
