//! Pipedrive's field model: which fields crmsync maps and how each is read,
//! written (`PERSON_FIELDS`, `DEAL_FIELDS`, `ORGANIZATION_FIELDS`; which
//! cannot be cleared is the vendor profile's), custom fields resolved through the
//! fields API, and the conversion of a person, deal or organization to a
//! `Record` and of values into request values (numbers, dates, custom field
//! options, the primary entry of a person's emails or phones). It makes no
//! request; the request body is `writes`'s, the fields API `metadata`'s.

use super::api::{Contact, ContactEntry, Entity, Field};
use super::{MAX_CUSTOM_FIELDS, Pipedrive};
use crate::connector::http::ApiError;
use crate::model::{Fields, Identity, ObjectKind, Record, set_field};
use crate::timestamp;
use serde_json::{Value, json};

/// How a mapped field is read and written.
#[derive(Debug, Clone)]
pub(super) enum FieldKind {
    Text,
    Number,
    Integer,
    Date,
    /// A v1 date and time in UTC, `YYYY-MM-DD HH:MM:SS` (a note's
    /// `add_time`): read as ISO 8601, so it compares as an instant.
    Time,
    /// The primary entry of `emails` or `phones`.
    Primary(&'static str),
    /// An organization's `address`: an object whose `value` is the full
    /// address (addOrganization/updateOrganization, `OrganizationItemAddress`).
    Address,
    Custom(Field),
    /// A record's labels (`label_ids`): integer ids of the company's
    /// labels, read as a set (`;`-joined ids) and written as the whole list.
    Labels,
}

pub(super) const PERSON_FIELDS: &[(&str, FieldKind)] = &[
    ("name", FieldKind::Text),
    ("first_name", FieldKind::Text),
    ("last_name", FieldKind::Text),
    ("email", FieldKind::Primary("emails")),
    ("phone", FieldKind::Primary("phones")),
    ("owner_id", FieldKind::Integer),
    ("org_id", FieldKind::Integer),
    ("visible_to", FieldKind::Integer),
];

pub(super) const DEAL_FIELDS: &[(&str, FieldKind)] = &[
    ("title", FieldKind::Text),
    ("value", FieldKind::Number),
    ("currency", FieldKind::Text),
    ("status", FieldKind::Text),
    ("stage_id", FieldKind::Integer),
    ("pipeline_id", FieldKind::Integer),
    ("owner_id", FieldKind::Integer),
    ("person_id", FieldKind::Integer),
    ("org_id", FieldKind::Integer),
    ("probability", FieldKind::Number),
    ("expected_close_date", FieldKind::Date),
    ("lost_reason", FieldKind::Text),
    ("visible_to", FieldKind::Integer),
];

/// The body fields of addOrganization/updateOrganization crmsync maps
/// (`label_ids` and `add_time` are left out, as for persons and deals).
pub(super) const ORGANIZATION_FIELDS: &[(&str, FieldKind)] = &[
    ("name", FieldKind::Text),
    ("owner_id", FieldKind::Integer),
    ("visible_to", FieldKind::Integer),
    ("address", FieldKind::Address),
    ("website", FieldKind::Text),
    ("linkedin", FieldKind::Text),
    ("industry", FieldKind::Integer),
    ("annual_revenue", FieldKind::Integer),
    ("employee_count", FieldKind::Integer),
];

/// The body fields of the v1 addNote/updateNote crmsync maps: the content,
/// its time, author and the records it is attached to (`lead_id`,
/// `project_id` and `task_id` are left out: crmsync syncs none of those).
pub(super) const NOTE_FIELDS: &[(&str, FieldKind)] = &[
    ("content", FieldKind::Text),
    ("add_time", FieldKind::Time),
    ("user_id", FieldKind::Integer),
    ("person_id", FieldKind::Integer),
    ("deal_id", FieldKind::Integer),
    ("org_id", FieldKind::Integer),
];

/// The built-in fields of a Pipedrive object (none for the objects
/// Pipedrive does not have; `collection` refuses those). Which of them
/// cannot be emptied, and why, is the vendor profile's
/// (`vendor::pipedrive_never_cleared`): a primary email or phone is cleared
/// by leaving its entry out, a name part through `name`, anything else,
/// custom fields included, with `null`.
pub(super) fn builtins(object: ObjectKind) -> &'static [(&'static str, FieldKind)] {
    match object {
        ObjectKind::Persons => PERSON_FIELDS,
        ObjectKind::Deals => DEAL_FIELDS,
        ObjectKind::Organizations => ORGANIZATION_FIELDS,
        ObjectKind::Notes => NOTE_FIELDS,
        ObjectKind::Contacts | ObjectKind::Companies => &[],
    }
}

/// The fields a Pipedrive object can be scoped by but not mapped (the
/// vendor profile's `scope_only`): `label_ids`, which the v2 lists carry
/// but take no parameter for (getPersons, getDeals, getOrganizations), so a
/// scope on it is applied after the read.
pub(super) fn scope_fields(object: ObjectKind) -> &'static [(&'static str, FieldKind)] {
    match object {
        ObjectKind::Persons | ObjectKind::Deals | ObjectKind::Organizations => {
            &[("label_ids", FieldKind::Labels)]
        }
        _ => &[],
    }
}

/// What a person update needs to know of the record as it is: the whole
/// `emails`/`phones` lists (to keep the other entries) and the name parts.
/// `None` where the answer did not carry the field: the spec guarantees none
/// of them, and a list or a name part crmsync has not read is never rewritten.
#[derive(Debug, Clone, Default)]
pub(super) struct PersonParts {
    pub(super) emails: Option<Vec<ContactEntry>>,
    pub(super) phones: Option<Vec<ContactEntry>>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
}

impl PersonParts {
    pub(super) fn of(entity: &Entity) -> PersonParts {
        let part = |name: &str| entity.rest.get(name).map(|v| text(Some(v)));
        PersonParts {
            emails: contact_entries(entity.rest.get("emails")),
            phones: contact_entries(entity.rest.get("phones")),
            first_name: part("first_name"),
            last_name: part("last_name"),
        }
    }

    pub(super) fn complete(&self) -> bool {
        self.emails.is_some()
            && self.phones.is_some()
            && self.first_name.is_some()
            && self.last_name.is_some()
    }
}

impl Pipedrive {
    /// Turns a person, deal or organization into a record of the mapped
    /// fields (`record_of`), and keeps a person's parts for its updates.
    pub(super) fn to_record(
        &self,
        object: ObjectKind,
        entity: &Entity,
        fields: &[(String, FieldKind)],
    ) -> Result<Record, ApiError> {
        let record = record_of(object, entity, fields).map_err(|detail| self.malformed(detail))?;
        if object == ObjectKind::Persons {
            self.persons
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(record.id.clone(), PersonParts::of(entity));
        }
        Ok(record)
    }
}

/// A person, deal or organization as a record of the mapped fields; `Err`
/// says why it cannot be one.
pub(super) fn record_of(
    object: ObjectKind,
    entity: &Entity,
    fields: &[(String, FieldKind)],
) -> Result<Record, String> {
    let mut record = Record::new(entity.id.to_string(), Fields::new(), 0);
    for (name, kind) in fields {
        set_field(&mut record.fields, name, &read_value(entity, name, kind));
        if let FieldKind::Primary("emails") = kind {
            record.set_identity(Identity {
                also: secondary_emails(entity)
                    .into_iter()
                    .map(|email| (name.clone(), email))
                    .collect(),
                ..Identity::default()
            });
        }
    }
    record.updated_ms = entity
        .update_time
        .as_deref()
        .and_then(timestamp::parse_ms)
        .ok_or_else(|| format!("{object} {} has no readable update_time", entity.id))?;
    Ok(record)
}

pub(super) fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => number_text(n),
        Some(other) => other.to_string(),
    }
}

/// `1500` rather than `1500.0`, so numbers compare as text across systems.
pub(super) fn number_text(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

/// A person's `emails` or `phones` as the answer gave them: `None` when the
/// answer left the field out or it is not a list (nothing is known of it),
/// empty for `null`. Every entry is kept, readable or not.
pub(super) fn contact_entries(value: Option<&Value>) -> Option<Vec<ContactEntry>> {
    match value? {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| serde_json::from_value(i.clone()).ok())
            .collect(),
        _ => None,
    }
}

pub(super) fn is_primary(entry: &ContactEntry) -> bool {
    match entry {
        ContactEntry::Read(c) => c.primary == Some(true),
        ContactEntry::Raw(v) => v.get("primary") == Some(&Value::Bool(true)),
    }
}

/// The entry's `value`, where it has one crmsync can read.
pub(super) fn entry_value(entry: &ContactEntry) -> Option<&str> {
    match entry {
        ContactEntry::Read(c) => Some(&c.value),
        ContactEntry::Raw(v) => v.get("value").and_then(Value::as_str),
    }
}

/// A person's emails other than the primary one: each is an identity of
/// the person as much as the primary is (a merge moves the merged person's
/// emails here).
pub(super) fn secondary_emails(entity: &Entity) -> Vec<String> {
    let entries = contact_entries(entity.rest.get("emails")).unwrap_or_default();
    let primary = primary_index(&entries);
    entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != primary)
        .filter_map(|(_, e)| entry_value(e))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// The entry marked primary, else the first ("if none are marked as
/// primary, the first value is marked as primary", migration guide).
pub(super) fn primary_index(entries: &[ContactEntry]) -> Option<usize> {
    entries
        .iter()
        .position(is_primary)
        .or((!entries.is_empty()).then_some(0))
}

/// The primary entry's value; empty when there is none or it has no
/// readable value.
pub(super) fn primary(entries: &[ContactEntry]) -> String {
    primary_index(entries)
        .and_then(|i| entry_value(&entries[i]))
        .unwrap_or_default()
        .to_string()
}

/// Replaces the primary entry's value (or adds one), keeping every other
/// entry exactly as it came; an empty value removes the primary entry. A
/// primary entry without a readable value is not guessed at: the list is
/// left alone and the write refused.
pub(super) fn with_primary(
    mut entries: Vec<ContactEntry>,
    value: &str,
) -> Result<Vec<ContactEntry>, String> {
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

pub(super) fn read_value(entity: &Entity, name: &str, kind: &FieldKind) -> String {
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
        // The formatted full address; its parts are Pipedrive's own reading
        // of it.
        FieldKind::Address => text(entity.rest.get(name).and_then(|a| a.get("value"))),
        FieldKind::Labels => match entity.rest.get(name) {
            Some(Value::Array(ids)) => {
                crate::model::join_set(&ids.iter().map(|id| text(Some(id))).collect::<Vec<_>>())
            }
            other => text(other),
        },
        FieldKind::Time => {
            let held = text(entity.rest.get(name));
            match timestamp::parse_ms(&held) {
                Some(ms) => format!("{}Z", &timestamp::format_ms(ms)[..19]),
                None => held,
            }
        }
        _ => text(entity.rest.get(name)),
    }
}

/// The canonical text of a custom field value: option labels for enum and
/// set (set labels joined by `;`, as HubSpot joins multi-checkbox values),
/// the amount of a monetary value, the main `value` of compound types.
pub(super) fn custom_text(field: &Field, value: Option<&Value>) -> String {
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
        Some(Value::Array(items)) => crate::model::join_set(
            &items
                .iter()
                .map(|i| match i {
                    Value::Object(o) => o
                        .get("label")
                        .map(|l| text(Some(l)))
                        .unwrap_or_else(|| label(o.get("id").unwrap_or(&Value::Null))),
                    other => label(other),
                })
                .collect::<Vec<_>>(),
        ),
        Some(Value::Object(o)) => text(o.get("value")),
        Some(other) => text(Some(other)),
    }
}

/// `custom_fields=key,…` so list answers carry only the mapped custom fields
/// (the API takes at most 15; with more, it returns them all).
pub(super) fn custom_fields_query(
    resolved: &[(String, FieldKind)],
) -> Option<(&'static str, String)> {
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

pub(super) fn number(value: &str, integer: bool) -> Result<Value, String> {
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

/// `label_ids` from a set of label ids (`7;9`); none is an empty list.
pub(super) fn label_ids(value: &str) -> Result<Value, String> {
    crate::model::set_members(value)
        .map(|id| {
            id.parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("`{id}` is not a label id (a whole number)"))
        })
        .collect::<Result<Vec<Value>, String>>()
        .map(Value::Array)
}

/// `YYYY-MM-DD` from any date or date-time form (HubSpot sends UTC midnight).
pub(super) fn date(value: &str) -> Result<Value, String> {
    if value.trim().is_empty() {
        return Ok(Value::Null);
    }
    let ms = timestamp::parse_ms(value).ok_or_else(|| format!("`{value}` is not a date"))?;
    Ok(json!(&timestamp::format_ms(ms)[..10]))
}

/// A v1 time: `YYYY-MM-DD HH:MM:SS` in UTC (addNote's `add_time`), whole
/// seconds.
pub(super) fn time(value: &str) -> Result<Value, String> {
    let ms = timestamp::parse_ms(value).ok_or_else(|| format!("`{value}` is not a time"))?;
    Ok(json!(timestamp::format_ms(ms)[..19].replace('T', " ")))
}

pub(super) fn custom_value(field: &Field, value: &str) -> Result<Value, String> {
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
        "set" => crate::model::set_members(value)
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
