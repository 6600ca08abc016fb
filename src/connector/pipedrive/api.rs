//! Pipedrive wire types (API v2 persons, deals, fields; v1 users): serde
//! structs only, no logic. Shapes follow Pipedrive's official OpenAPI specs,
//! v2 and v1 for users (<https://developers.pipedrive.com/docs/api/v1>).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `{"success":true,"data":[…],"additional_data":{"next_cursor":…}}`
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct ListPage<T> {
    #[serde(default = "Option::default")]
    pub data: Option<Vec<T>>,
    #[serde(default)]
    pub additional_data: Option<AdditionalData>,
}

#[derive(Debug, Deserialize)]
pub struct AdditionalData {
    /// `Some(Value::Null)` for an explicit `null` (the end, per the paging
    /// docs), `None` when the answer left the key out.
    #[serde(default, deserialize_with = "present")]
    pub next_cursor: Option<Value>,
}

/// Keeps an explicit `null` apart from a missing key.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `{"success":true,"data":{…}}`
#[derive(Debug, Deserialize)]
pub struct One<T> {
    pub data: T,
}

/// A person or a deal, kept as raw JSON fields: which fields matter is the
/// mapping file's choice, so the connector reads them by name.
#[derive(Debug, Deserialize)]
pub struct Entity {
    pub id: i64,
    pub update_time: Option<String>,
    #[serde(default)]
    pub custom_fields: Option<BTreeMap<String, Value>>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// One entry of a person's `emails` or `phones`. The spec requires none of
/// its fields, so an entry that is not a plain `{value, primary?, label?}`
/// is kept whole as `Raw` and written back exactly as it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContactEntry {
    Read(Contact),
    Raw(Value),
}

/// A readable entry: a `value` and nothing crmsync does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// An item of `GET /api/v2/personFields` or `/dealFields`.
#[derive(Debug, Clone, Deserialize)]
pub struct Field {
    pub field_name: String,
    pub field_code: String,
    pub field_type: String,
    #[serde(default)]
    pub options: Option<Vec<FieldOption>>,
    #[serde(default)]
    pub is_custom_field: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// The body of `POST /api/v2/{personFields|organizationFields|dealFields}`
/// (`field_name` and `field_type` required; `options` for enum and set).
#[derive(Debug, Serialize)]
pub struct FieldCreate {
    pub field_name: String,
    pub field_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<OptionLabel>>,
}

/// An option as a field create or `…/{field_code}/options` sends it.
#[derive(Debug, Serialize)]
pub struct OptionLabel {
    pub label: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldOption {
    pub id: Value,
    pub label: String,
}

/// An item of `GET /api/v1/users`.
#[derive(Debug, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub active_flag: Option<bool>,
}

/// An item of `GET /api/v2/stages` or `/api/v2/pipelines`.
#[derive(Debug, Deserialize)]
pub struct Named {
    pub id: i64,
    pub name: String,
    /// A stage's pipeline (absent on pipelines).
    #[serde(default)]
    pub pipeline_id: Option<i64>,
}
