//! Pipedrive connector on API v2 (persons, deals, fields) and v1 (users,
//! which v2 does not offer).
//!
//! Lists with cursor pagination (`limit=500`, `additional_data.next_cursor`);
//! writes one record per call (Pipedrive has no batch writes), in batches
//! of 50 as far as the engine is concerned (it saves its state per batch).
//! The field model (DESIGN §2): `email` and `phone` are the primary entries
//! of `emails`/`phones`, and writing one keeps the other entries; `first_name`
//! and `last_name` are written through `name`; custom fields are named by
//! display name or key and resolved through the fields API, enum options by
//! label. Mirrors `hubspot/` file for file.

mod api;

use super::http::{ApiError, AuthStyle, HttpClient, Pacing, Repeat, RetryPolicy};
use super::{
    Capabilities, Connector, FieldDescription, FieldInfo, FieldType, Listed, Meaning, NewRecord,
    OptionDescription, RecordRef, RecordUpdate, Required, WriteOutcome, WriteResult, WriteRules,
};
use crate::config::{ConfigError, SystemConfig};
use crate::model::{Fields, ObjectKind, Owner, Record, set_field};
use crate::secret::Secret;
use crate::timestamp;
use anyhow::{Context, Result};
use api::*;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Pipedrive caps list pages at 500.
const PAGE_SIZE: usize = 500;
/// The `ids` filter of the list endpoints takes at most 100 ids.
const MAX_IDS: usize = 100;
/// The `custom_fields` list filter takes at most 15 keys.
const MAX_CUSTOM_FIELDS: usize = 15;

/// How a mapped field is read and written.
#[derive(Debug, Clone)]
enum FieldKind {
    Text,
    Number,
    Integer,
    Date,
    /// The primary entry of `emails` or `phones`.
    Primary(&'static str),
    Custom(Field),
}

/// How a built-in field is emptied. The v2 write schemas (addPerson,
/// updatePerson, addDeal, updateDeal in pipedrive-openapi-v2.yaml) mark only
/// deals' `probability`, `lost_reason` and `close_time` nullable; README
/// "Vendor notes" lists what was found for each field.
#[derive(Debug, Clone, Copy)]
enum Clear {
    /// `null`, which the spec allows for this field.
    Null,
    /// The primary entry is left out of the list written back.
    DropEntry,
    /// Written through `name`; the name must keep the other part.
    NamePart,
    /// No documented way: why the field keeps a value.
    Never(&'static str),
}

const PERSON_FIELDS: &[(&str, FieldKind, Clear)] = &[
    (
        "name",
        FieldKind::Text,
        Clear::Never("Pipedrive requires a person's name"),
    ),
    ("first_name", FieldKind::Text, Clear::NamePart),
    ("last_name", FieldKind::Text, Clear::NamePart),
    ("email", FieldKind::Primary("emails"), Clear::DropEntry),
    ("phone", FieldKind::Primary("phones"), Clear::DropEntry),
    (
        "owner_id",
        FieldKind::Integer,
        Clear::Never("a Pipedrive person always has an owner"),
    ),
    (
        "org_id",
        FieldKind::Integer,
        Clear::Never("updatePerson does not take null for it"),
    ),
    (
        "visible_to",
        FieldKind::Integer,
        Clear::Never("a Pipedrive person always has a visibility"),
    ),
];

const DEAL_FIELDS: &[(&str, FieldKind, Clear)] = &[
    (
        "title",
        FieldKind::Text,
        Clear::Never("Pipedrive requires a deal title"),
    ),
    (
        "value",
        FieldKind::Number,
        Clear::Never("updateDeal does not take null for it"),
    ),
    (
        "currency",
        FieldKind::Text,
        Clear::Never("a Pipedrive deal always has a currency"),
    ),
    (
        "status",
        FieldKind::Text,
        Clear::Never("a Pipedrive deal is always open, won or lost"),
    ),
    (
        "stage_id",
        FieldKind::Integer,
        Clear::Never("a Pipedrive deal is always in a stage"),
    ),
    (
        "pipeline_id",
        FieldKind::Integer,
        Clear::Never("a Pipedrive deal is always in a pipeline"),
    ),
    (
        "owner_id",
        FieldKind::Integer,
        Clear::Never("a Pipedrive deal always has an owner"),
    ),
    (
        "person_id",
        FieldKind::Integer,
        Clear::Never("updateDeal does not take null for it"),
    ),
    (
        "org_id",
        FieldKind::Integer,
        Clear::Never("updateDeal does not take null for it"),
    ),
    ("probability", FieldKind::Number, Clear::Null),
    (
        "expected_close_date",
        FieldKind::Date,
        Clear::Never("updateDeal does not take null for it"),
    ),
    ("lost_reason", FieldKind::Text, Clear::Null),
    (
        "visible_to",
        FieldKind::Integer,
        Clear::Never("a Pipedrive deal always has a visibility"),
    ),
];

fn builtins(object: ObjectKind) -> &'static [(&'static str, FieldKind, Clear)] {
    if object == ObjectKind::Persons {
        PERSON_FIELDS
    } else {
        DEAL_FIELDS
    }
}

/// How a mapped field is emptied: built-ins by the table, custom fields by
/// `null` ("To clear a custom field value, set it to `null`", the spec's
/// `custom_fields` description, for every field type).
fn clearing(object: ObjectKind, name: &str) -> Clear {
    builtins(object)
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(Clear::Null, |(_, _, clear)| *clear)
}

/// What the planner must know of Pipedrive's writes (see `WriteRules`).
pub fn write_rules(object: ObjectKind) -> WriteRules {
    let required = |fields: &[&str], reason: &str| Required {
        fields: fields.iter().map(|f| f.to_string()).collect(),
        reason: reason.to_string(),
    };
    let mut uncleared: Vec<Required> = builtins(object)
        .iter()
        .filter_map(|(name, _, clear)| match clear {
            Clear::Never(why) => Some(required(
                &[name],
                &format!("Pipedrive documents no way to clear `{name}` ({why})"),
            )),
            _ => None,
        })
        .collect();
    let required_on_create = if object == ObjectKind::Persons {
        uncleared.push(required(
            &["first_name", "last_name"],
            "Pipedrive requires a person's name, which crmsync writes from `first_name` and `last_name`",
        ));
        // A person created without a name is named by its email (`body`).
        vec![required(
            &["name", "first_name", "last_name", "email"],
            "Pipedrive requires a person's name; map `name`, `first_name`, `last_name` or `email` and give the record a value in one of them",
        )]
    } else {
        vec![required(
            &["title"],
            "Pipedrive requires a deal title (`title` is the one required field of addDeal)",
        )]
    };
    WriteRules {
        required_on_create,
        uncleared,
    }
}

/// What a person update needs to know of the record as it is: the whole
/// `emails`/`phones` lists (to keep the other entries) and the name parts.
/// `None` where the answer did not carry the field: the spec guarantees none
/// of them, and a list or a name part crmsync has not read is never rewritten.
#[derive(Debug, Clone, Default)]
struct PersonParts {
    emails: Option<Vec<ContactEntry>>,
    phones: Option<Vec<ContactEntry>>,
    first_name: Option<String>,
    last_name: Option<String>,
}

impl PersonParts {
    fn of(entity: &Entity) -> PersonParts {
        let part = |name: &str| entity.rest.get(name).map(|v| text(Some(v)));
        PersonParts {
            emails: contact_entries(entity.rest.get("emails")),
            phones: contact_entries(entity.rest.get("phones")),
            first_name: part("first_name"),
            last_name: part("last_name"),
        }
    }

    fn complete(&self) -> bool {
        self.emails.is_some()
            && self.phones.is_some()
            && self.first_name.is_some()
            && self.last_name.is_some()
    }
}

pub struct Pipedrive {
    http: HttpClient,
    schemas: Mutex<HashMap<ObjectKind, Arc<Vec<Field>>>>,
    persons: Mutex<HashMap<String, PersonParts>>,
}

impl Pipedrive {
    pub fn new(system: &SystemConfig, token: &Secret) -> Result<Pipedrive> {
        let http = HttpClient::new(
            &system.name,
            &system.base_url,
            token,
            AuthStyle::Header("x-api-token"),
            Pacing {
                requests: (system.requests_per_10s / 5).max(1),
                window: Duration::from_secs(2),
            },
            RetryPolicy::from(system.retry),
        )?;
        Ok(Pipedrive {
            http,
            schemas: Mutex::new(HashMap::new()),
            persons: Mutex::new(HashMap::new()),
        })
    }

    fn collection(object: ObjectKind) -> Result<&'static str> {
        match object {
            ObjectKind::Persons => Ok("persons"),
            ObjectKind::Deals => Ok("deals"),
            ObjectKind::Contacts => anyhow::bail!("Pipedrive has no contacts; use persons"),
        }
    }

    /// The fields API's answer for an object, fetched once per run.
    fn schema(&self, object: ObjectKind) -> Result<Arc<Vec<Field>>> {
        if let Some(s) = self
            .schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&object)
        {
            return Ok(s.clone());
        }
        let path = match object {
            ObjectKind::Persons => "/api/v2/personFields",
            _ => "/api/v2/dealFields",
        };
        let fields: Vec<Field> = self
            .list_all(path, &[])
            .with_context(|| format!("reading the {object} fields of {}", self.system()))?;
        let fields = Arc::new(fields);
        self.schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(object, fields.clone());
        Ok(fields)
    }

    /// Resolves the mapping file's field names: built-ins by name, anything
    /// else through the fields API by key or (case-insensitive) display name.
    fn resolve(&self, object: ObjectKind, names: &[String]) -> Result<Vec<(String, FieldKind)>> {
        let builtins = builtins(object);
        let mut resolved = Vec::new();
        for name in names {
            if let Some((_, kind, _)) = builtins.iter().find(|(n, _, _)| n == name) {
                resolved.push((name.clone(), kind.clone()));
                continue;
            }
            let schema = self.schema(object)?;
            let found = schema
                .iter()
                .filter(|f| f.is_custom_field)
                .find(|f| f.field_code == *name)
                .or_else(|| {
                    schema
                        .iter()
                        .filter(|f| f.is_custom_field)
                        .find(|f| f.field_name.eq_ignore_ascii_case(name))
                });
            match found {
                Some(field) => resolved.push((name.clone(), FieldKind::Custom(field.clone()))),
                None => {
                    let custom: Vec<_> = schema
                        .iter()
                        .filter(|f| f.is_custom_field)
                        .map(|f| f.field_name.as_str())
                        .collect();
                    let builtin: Vec<_> = builtins.iter().map(|(n, _, _)| *n).collect();
                    return Err(ConfigError(format!(
                        "{}.{object} has no field `{name}`; use one of {} or a custom field's name or key ({})",
                        self.system(),
                        builtin.join(", "),
                        if custom.is_empty() { "none defined".to_string() } else { custom.join(", ") }
                    ))
                    .into());
                }
            }
        }
        Ok(resolved)
    }

    /// Follows `next_cursor` to the end.
    fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        self.list_pages(path, query, &mut |_| {})
    }

    fn list_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        on_page: &mut dyn FnMut(usize),
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("limit", PAGE_SIZE.to_string()));
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let reply = self.http.get(path, &q)?;
            let page: ListPage<T> = serde_json::from_value(reply.body)
                .map_err(|e| self.malformed(format!("{path} page: {e}")))?;
            let data = page.data.unwrap_or_default();
            let full = data.len() >= PAGE_SIZE;
            items.extend(data);
            on_page(items.len());
            match page.additional_data.and_then(|a| a.next_cursor) {
                Some(Value::String(next)) if cursor.as_deref() != Some(next.as_str()) => {
                    cursor = Some(next)
                }
                Some(Value::String(_)) => {
                    return Err(self
                        .malformed("the paging cursor did not advance".into())
                        .into());
                }
                Some(Value::Null) => return Ok(items),
                // The spec does not promise `additional_data`: a short page
                // is the last one anyway, but after a full one the listing
                // may go on, and taking it as whole would read every record
                // after it as deleted.
                None if !full => return Ok(items),
                other => {
                    return Err(self
                        .malformed(format!(
                            "{path}: a full page came with {} as `additional_data.next_cursor`, so crmsync cannot tell whether more follow",
                            other.map_or("nothing".to_string(), |v| v.to_string())
                        ))
                        .into());
                }
            }
        }
    }

    /// A stages or pipelines list, read whole.
    fn named(&self, path: &str) -> Result<Vec<Named>> {
        self.list_all(path, &[])
            .with_context(|| format!("reading {path} from {}", self.system()))
    }

    fn malformed(&self, detail: String) -> ApiError {
        ApiError::Malformed {
            system: self.system().to_string(),
            detail,
        }
    }

    /// Turns a person or deal into a record of the mapped fields.
    fn to_record(
        &self,
        object: ObjectKind,
        entity: &Entity,
        fields: &[(String, FieldKind)],
    ) -> Result<Record, ApiError> {
        let mut record = Record {
            id: entity.id.to_string(),
            fields: Fields::new(),
            updated_ms: 0,
        };
        for (name, kind) in fields {
            set_field(&mut record.fields, name, &read_value(entity, name, kind));
        }
        record.updated_ms = entity
            .update_time
            .as_deref()
            .and_then(timestamp::parse_ms)
            .ok_or_else(|| {
                self.malformed(format!(
                    "{object} {} has no readable update_time",
                    entity.id
                ))
            })?;
        if object == ObjectKind::Persons {
            self.persons
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(record.id.clone(), PersonParts::of(entity));
        }
        Ok(record)
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
            Err(e) => {
                return Err(e).with_context(|| format!("writing {object} to {}", self.system()));
            }
        };
        Ok(WriteResult {
            key: key.to_string(),
            outcome,
        })
    }

    /// The JSON body for writing `values`. For a person update `current` is
    /// the person as it is, so `emails`/`phones` keep their other entries and
    /// a changed first or last name keeps the other part; `None` is a create.
    fn body(
        &self,
        object: ObjectKind,
        values: &BTreeMap<String, String>,
        fields: &[(String, FieldKind)],
        current: Option<&PersonParts>,
        create: bool,
    ) -> Result<Value, String> {
        let mut body = Map::new();
        let mut custom = Map::new();
        let kinds: HashMap<&str, &FieldKind> =
            fields.iter().map(|(n, k)| (n.as_str(), k)).collect();
        for (name, value) in values {
            let Some(kind) = kinds.get(name.as_str()) else {
                continue;
            };
            if value.trim().is_empty() {
                match (create, clearing(object, name)) {
                    // A create leaves out what it has no value for.
                    (true, _) => continue,
                    // The planner shows these as invalid; a saved plan from
                    // before it knew is refused here rather than sent.
                    (false, Clear::Never(why)) => {
                        return Err(format!("`{name}` cannot be cleared on Pipedrive ({why})"));
                    }
                    _ => {}
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
                    if object == ObjectKind::Persons
                        && (name == "first_name" || name == "last_name")
                    {
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
}

fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => number_text(n),
        Some(other) => other.to_string(),
    }
}

/// `1500` rather than `1500.0`, so numbers compare as text across systems.
fn number_text(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

/// A person's `emails` or `phones` as the answer gave them: `None` when the
/// answer left the field out or it is not a list (nothing is known of it),
/// empty for `null`. Every entry is kept, readable or not.
fn contact_entries(value: Option<&Value>) -> Option<Vec<ContactEntry>> {
    match value? {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| serde_json::from_value(i.clone()).ok())
            .collect(),
        _ => None,
    }
}

fn is_primary(entry: &ContactEntry) -> bool {
    match entry {
        ContactEntry::Read(c) => c.primary == Some(true),
        ContactEntry::Raw(v) => v.get("primary") == Some(&Value::Bool(true)),
    }
}

/// The entry's `value`, where it has one crmsync can read.
fn entry_value(entry: &ContactEntry) -> Option<&str> {
    match entry {
        ContactEntry::Read(c) => Some(&c.value),
        ContactEntry::Raw(v) => v.get("value").and_then(Value::as_str),
    }
}

/// The entry marked primary, else the first ("if none are marked as
/// primary, the first value is marked as primary", migration guide).
fn primary_index(entries: &[ContactEntry]) -> Option<usize> {
    entries
        .iter()
        .position(is_primary)
        .or((!entries.is_empty()).then_some(0))
}

/// The primary entry's value; empty when there is none or it has no
/// readable value.
fn primary(entries: &[ContactEntry]) -> String {
    primary_index(entries)
        .and_then(|i| entry_value(&entries[i]))
        .unwrap_or_default()
        .to_string()
}

/// Replaces the primary entry's value (or adds one), keeping every other
/// entry exactly as it came; an empty value removes the primary entry. A
/// primary entry without a readable value is not guessed at: the list is
/// left alone and the write refused.
fn with_primary(mut entries: Vec<ContactEntry>, value: &str) -> Result<Vec<ContactEntry>, String> {
    let value = value.trim();
    match primary_index(&entries) {
        Some(i) if entry_value(&entries[i]).is_none() => {
            return Err(
                "the person's primary entry has no value crmsync can read, so the list is left as it is"
                    .into(),
            );
        }
        Some(i) if value.is_empty() => {
            entries.remove(i);
        }
        Some(i) => match &mut entries[i] {
            ContactEntry::Read(c) => {
                c.value = value.to_string();
                c.primary = Some(true);
            }
            ContactEntry::Raw(v) => {
                v["value"] = json!(value);
                v["primary"] = json!(true);
            }
        },
        None if value.is_empty() => {}
        None => entries.insert(
            0,
            ContactEntry::Read(Contact {
                value: value.to_string(),
                primary: Some(true),
                label: Some("work".into()),
            }),
        ),
    }
    Ok(entries)
}

fn read_value(entity: &Entity, name: &str, kind: &FieldKind) -> String {
    match kind {
        FieldKind::Primary(list) => {
            primary(&contact_entries(entity.rest.get(*list)).unwrap_or_default())
        }
        FieldKind::Custom(field) => {
            let value = entity
                .custom_fields
                .as_ref()
                .and_then(|c| c.get(&field.field_code));
            custom_text(field, value)
        }
        _ => text(entity.rest.get(name)),
    }
}

/// The canonical text of a custom field value: option labels for enum and
/// set (set labels joined by `;`, as HubSpot joins multi-checkbox values),
/// the amount of a monetary value, the main `value` of compound types.
fn custom_text(field: &Field, value: Option<&Value>) -> String {
    let label = |id: &Value| {
        field
            .options
            .iter()
            .flatten()
            .find(|o| o.id == *id || text(Some(&o.id)) == text(Some(id)))
            .map(|o| o.label.clone())
            .unwrap_or_else(|| text(Some(id)))
    };
    match value {
        None | Some(Value::Null) => String::new(),
        Some(v) if field.field_type == "enum" => match v {
            Value::Object(o) => o
                .get("label")
                .map(|l| text(Some(l)))
                .unwrap_or_else(|| label(o.get("id").unwrap_or(&Value::Null))),
            other => label(other),
        },
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Object(o) => o
                    .get("label")
                    .map(|l| text(Some(l)))
                    .unwrap_or_else(|| label(o.get("id").unwrap_or(&Value::Null))),
                other => label(other),
            })
            .collect::<Vec<_>>()
            .join(";"),
        Some(Value::Object(o)) => text(o.get("value")),
        Some(other) => text(Some(other)),
    }
}

/// `custom_fields=key,…` so list answers carry only the mapped custom fields
/// (the API takes at most 15; with more, it returns them all).
fn custom_fields_query(resolved: &[(String, FieldKind)]) -> Option<(&'static str, String)> {
    let custom: Vec<&str> = resolved
        .iter()
        .filter_map(|(_, k)| {
            if let FieldKind::Custom(f) = k {
                Some(f.field_code.as_str())
            } else {
                None
            }
        })
        .collect();
    (!custom.is_empty() && custom.len() <= MAX_CUSTOM_FIELDS)
        .then(|| ("custom_fields", custom.join(",")))
}

fn number(value: &str, integer: bool) -> Result<Value, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(Value::Null);
    }
    if let Ok(i) = v.parse::<i64>() {
        return Ok(json!(i));
    }
    match v.parse::<f64>() {
        Ok(f) if integer && f.fract() == 0.0 => Ok(json!(f as i64)),
        Ok(f) if !integer && f.is_finite() => Ok(json!(f)),
        _ => Err(format!(
            "`{value}` is not {}",
            if integer {
                "a whole number"
            } else {
                "a number"
            }
        )),
    }
}

/// `YYYY-MM-DD` from any date or date-time form (HubSpot sends UTC midnight).
fn date(value: &str) -> Result<Value, String> {
    if value.trim().is_empty() {
        return Ok(Value::Null);
    }
    let ms = timestamp::parse_ms(value).ok_or_else(|| format!("`{value}` is not a date"))?;
    Ok(json!(&timestamp::format_ms(ms)[..10]))
}

fn custom_value(field: &Field, value: &str) -> Result<Value, String> {
    if value.trim().is_empty() {
        return Ok(Value::Null);
    }
    let option_id = |label: &str| {
        field
            .options
            .iter()
            .flatten()
            .find(|o| o.label.eq_ignore_ascii_case(label.trim()))
            .map(|o| o.id.clone())
            .ok_or_else(|| {
                format!(
                    "`{label}` is not an option of Pipedrive field `{}`",
                    field.field_name
                )
            })
    };
    match field.field_type.as_str() {
        "enum" => option_id(value),
        "set" => value
            .split(';')
            .filter(|s| !s.trim().is_empty())
            .map(option_id)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        "double" | "int" => number(value, field.field_type == "int"),
        "monetary" => Ok(json!({"value": number(value, false)?})),
        "user" | "people" | "org" => number(value, true),
        "date" => date(value),
        // v2 takes an address as an object whose `value` is the one
        // required key (migration guide, custom field formats).
        "address" => Ok(json!({"value": value})),
        _ => Ok(json!(value)),
    }
}

impl Connector for Pipedrive {
    fn system(&self) -> &str {
        self.http.system()
    }

    fn capabilities(&self) -> Capabilities {
        // One call per record, but the engine saves its state every 50
        // records rather than after each (the create journal covers a crash
        // in between). `updated_since` is exact and inclusive; a minute of
        // lookback covers clock skew.
        Capabilities {
            max_batch: 50,
            lookback_ms: 60_000,
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
        let entities: Vec<Entity> = self
            .list_pages(&path, &query, &mut |n| progress(Listed::so_far(n)))
            .with_context(|| format!("listing {object} from {}", self.system()))?;
        entities
            .iter()
            .map(|e| Ok(self.to_record(object, e, &resolved)?))
            .collect()
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
        let entities: Vec<Entity> = self
            .list_pages(&path, &query, &mut |n| progress(Listed::so_far(n)))
            .with_context(|| format!("listing changed {object} from {}", self.system()))?;
        entities
            .iter()
            .map(|e| Ok(self.to_record(object, e, &resolved)?))
            .collect()
    }

    fn read(&self, object: ObjectKind, ids: &[String], fields: &[String]) -> Result<Vec<Record>> {
        let resolved = self.resolve(object, fields)?;
        let path = format!("/api/v2/{}", Self::collection(object)?);
        let mut records = Vec::new();
        for chunk in ids.chunks(MAX_IDS) {
            let entities: Vec<Entity> = self
                .list_all(&path, &[("ids", chunk.join(","))])
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
                let needs_parts = ["email", "phone", "first_name", "last_name"]
                    .iter()
                    .any(|f| r.fields.contains_key(*f));
                let current = if object == ObjectKind::Persons && needs_parts {
                    Some(self.person_parts(&r.id)?)
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
                let outcome = match self.http.delete(&format!("/api/v2/{collection}/{}", r.id)) {
                    Ok(_) | Err(ApiError::Rejected { status: 404, .. }) => {
                        WriteOutcome::Written(Record {
                            id: r.id.clone(),
                            fields: Fields::new(),
                            updated_ms: 0,
                        })
                    }
                    Err(ApiError::Rejected {
                        status, message, ..
                    }) => WriteOutcome::Refused(format!("{status}: {message}")),
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("deleting {object} on {}", self.system()));
                    }
                };
                Ok(WriteResult {
                    key: r.key.clone(),
                    outcome,
                })
            })
            .collect()
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
                    (ObjectKind::Deals, "person_id", _) => (FieldType::Relation, Vec::new()),
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
        let schema = self.schema(object)?;
        let custom: Vec<&Field> = schema.iter().filter(|f| f.is_custom_field).collect();
        // A custom field is named by its display name where that names it
        // alone (the mapping file reads better), else by its key.
        let custom_name = |field: &Field| {
            let shared = builtins(object)
                .iter()
                .any(|(n, _, _)| n.eq_ignore_ascii_case(&field.field_name))
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
            .map(|(n, _, _)| n.to_string())
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
            let refers = matches!(field_type, "org" | "people" | "user") || name == "org_id";
            let kind = if refers && meaning.is_none() {
                FieldType::Relation
            } else {
                info.kind
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
        (_, "owner_id") => Meaning::Owner,
        _ => return None,
    })
}
