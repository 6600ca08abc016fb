//! HubSpot's field model: properties asked for and read (the modified
//! time's name per object, values as text), the conversion of an object to a
//! `Record`, and a deal's contacts, which are associations rather than
//! properties (`contact`, `contacts`) and are written as `Relink`s. It makes
//! no request.

use super::HubSpot;
use super::api::*;
use crate::connector::http::ApiError;
use crate::model::{Fields, ObjectKind, Record, set_field};
use crate::timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The pseudo-field for a deal's primary associated contact (the lowest id).
pub const CONTACT_FIELD: &str = "contact";
/// The pseudo-field for all of a deal's associated contacts, ids joined by `;`.
pub const CONTACTS_FIELD: &str = "contacts";

/// Returns true if and only if `field` is a deal↔contact association rather
/// than a property.
pub(super) fn is_relation(field: &str) -> bool {
    field == CONTACT_FIELD || field == CONTACTS_FIELD
}

/// A deal whose primary contact changes from `old` to `new` (either may be
/// empty; `contacts` values are `;`-joined id sets), identified by its write
/// key.
pub(super) struct Relink {
    pub(super) key: String,
    pub(super) field: &'static str,
    pub(super) old: String,
    pub(super) new: String,
}

impl Relink {
    /// The association changes among a write's fields.
    pub(super) fn of(
        key: &str,
        fields: &BTreeMap<String, String>,
        previous: &BTreeMap<String, String>,
    ) -> Vec<Relink> {
        [CONTACT_FIELD, CONTACTS_FIELD]
            .into_iter()
            .filter_map(|field| {
                let new = fields.get(field)?.clone();
                let old = previous.get(field).cloned().unwrap_or_default();
                Some(Relink {
                    key: key.to_string(),
                    field,
                    old,
                    new,
                })
            })
            .collect()
    }

    pub(super) fn ids(text: &str) -> BTreeSet<&str> {
        text.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// The properties to send: everything but the association pseudo-fields.
pub(super) fn without_relations(fields: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter(|(k, _)| !is_relation(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(super) fn modified_property(object: ObjectKind) -> &'static str {
    match object {
        ObjectKind::Contacts => "lastmodifieddate",
        _ => "hs_lastmodifieddate",
    }
}

/// HubSpot property values are strings or null; anything else is rendered
/// as JSON text rather than dropped.
pub(super) fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl HubSpot {
    /// Properties to ask for: the mapped ones plus the modified time.
    pub(super) fn properties(object: ObjectKind, fields: &[String]) -> Vec<String> {
        let mut props: Vec<String> = fields.iter().filter(|f| !is_relation(f)).cloned().collect();
        props.push(modified_property(object).to_string());
        props.sort();
        props.dedup();
        props
    }

    pub(super) fn to_record(
        object: ObjectKind,
        api: &ApiObject,
        fields: &[String],
    ) -> Result<Record, ApiError> {
        let mut record = Record {
            id: api.id.clone(),
            fields: Fields::new(),
            updated_ms: 0,
        };
        for field in fields {
            if let Some(value) = api.properties.get(field) {
                set_field(&mut record.fields, field, &value_text(value));
            }
        }
        if fields.iter().any(|f| is_relation(f)) {
            let mut ids: Vec<&str> = api
                .associations
                .get("contacts")
                .map(|c| c.results.iter().map(|a| a.id.as_str()).collect())
                .unwrap_or_default();
            ids.sort_by(|a, b| crate::model::id_order(a, b));
            ids.dedup();
            if fields.iter().any(|f| f == CONTACT_FIELD) {
                set_field(
                    &mut record.fields,
                    CONTACT_FIELD,
                    ids.first().copied().unwrap_or(""),
                );
            }
            if fields.iter().any(|f| f == CONTACTS_FIELD) {
                set_field(&mut record.fields, CONTACTS_FIELD, &ids.join(";"));
            }
        }
        let modified = api.updated_at.clone().or_else(|| {
            api.properties
                .get(modified_property(object))
                .map(value_text)
        });
        record.updated_ms = modified
            .as_deref()
            .and_then(timestamp::parse_ms)
            .ok_or_else(|| ApiError::Malformed {
                system: String::new(),
                detail: format!("record {} has no readable modified time", api.id),
            })?;
        Ok(record)
    }
}
