//! HubSpot wire types (CRM objects, batch results, owners): serde structs
//! only, no logic. Shapes follow the date-based API (`/crm/objects/2026-09/…`),
//! whose bodies match the v3 ones
//! (<https://developers.hubspot.com/docs/api-reference/overview>).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A CRM object in a list page or batch result.
#[derive(Debug, Deserialize)]
pub struct ApiObject {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    #[serde(rename = "updatedAt")]
    pub updated_at: Option<String>,
    #[serde(rename = "objectWriteTraceId")]
    pub object_write_trace_id: Option<String>,
    /// With `associations=contacts` on a list: the associated records.
    #[serde(default)]
    pub associations: BTreeMap<String, AssociationList>,
}

#[derive(Debug, Deserialize)]
pub struct AssociationList {
    #[serde(default)]
    pub results: Vec<AssociatedId>,
    /// Present when the record has more associations than the list shows.
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub struct AssociatedId {
    pub id: String,
}

/// An input of the associations batch endpoints.
#[derive(Debug, Serialize)]
pub struct AssociateInput {
    pub from: IdInput,
    pub to: IdInput,
}

#[derive(Debug, Serialize)]
pub struct DissociateInput {
    pub from: IdInput,
    pub to: Vec<IdInput>,
}

#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub struct Paging {
    pub next: Option<NextPage>,
}

#[derive(Debug, Deserialize)]
pub struct NextPage {
    pub after: String,
}

/// The body of a 200/201/207 batch answer.
#[derive(Debug, Deserialize)]
pub struct BatchResponse {
    #[serde(default)]
    pub results: Vec<ApiObject>,
    #[serde(default)]
    pub errors: Vec<BatchError>,
}

/// An error of a batch answer. HubSpot documents every field of it as one
/// to treat as optional, so none is required and `context` values of any
/// shape are read.
#[derive(Debug, Deserialize)]
pub struct BatchError {
    #[serde(default)]
    pub category: String,
    #[serde(rename = "subCategory", default)]
    pub sub_category: Value,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub context: BTreeMap<String, Value>,
}

impl BatchError {
    /// The strings the context holds under `name` (a list, or one value).
    pub fn context_values(&self, name: &str) -> Vec<String> {
        match self.context.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(text_of).collect(),
            Some(value) => text_of(value).into_iter().collect(),
            None => Vec::new(),
        }
    }
}

/// A string or a number as text.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Debug, Serialize)]
pub struct BatchInput<T> {
    pub inputs: Vec<T>,
}

#[derive(Debug, Serialize)]
pub struct CreateInput {
    pub properties: BTreeMap<String, String>,
    /// `SimplePublicObjectBatchInputForCreate` requires the list.
    pub associations: Vec<Value>,
    #[serde(rename = "objectWriteTraceId")]
    pub trace_id: String,
}

#[derive(Debug, Serialize)]
pub struct UpsertInput {
    #[serde(rename = "idProperty")]
    pub id_property: &'static str,
    pub id: String,
    pub properties: BTreeMap<String, String>,
    #[serde(rename = "objectWriteTraceId")]
    pub trace_id: String,
}

#[derive(Debug, Serialize)]
pub struct UpdateInput {
    pub id: String,
    pub properties: BTreeMap<String, String>,
    #[serde(rename = "objectWriteTraceId")]
    pub trace_id: String,
}

#[derive(Debug, Serialize)]
pub struct ReadInput {
    pub properties: Vec<String>,
    /// Required by `BatchReadInputSimplePublicObjectId`; no history is read.
    #[serde(rename = "propertiesWithHistory")]
    pub properties_with_history: Vec<String>,
    pub inputs: Vec<IdInput>,
}

#[derive(Debug, Serialize)]
pub struct IdInput {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct ApiOwner {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// A deal pipeline with its stages.
#[derive(Debug, Deserialize)]
pub struct Pipeline {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub stages: Vec<Stage>,
}

#[derive(Debug, Deserialize)]
pub struct Stage {
    pub id: String,
    pub label: String,
}

/// A property definition.
#[derive(Debug, Deserialize)]
pub struct Property {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The input shown in the web app; `checkbox` holds several options.
    #[serde(rename = "fieldType", default)]
    pub field_type: String,
    /// Defined by HubSpot rather than the account (absent on custom ones).
    #[serde(rename = "hubspotDefined", default)]
    pub hubspot_defined: Option<bool>,
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    #[serde(rename = "modificationMetadata", default)]
    pub modification: Option<Modification>,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "groupName", default)]
    pub group_name: Option<String>,
    #[serde(rename = "hasUniqueValue", default)]
    pub has_unique_value: bool,
    /// Set on properties whose value a formula computes.
    #[serde(rename = "calculationFormula", default)]
    pub calculation_formula: Option<String>,
    /// Options taken from elsewhere (the account's users).
    #[serde(rename = "externalOptions", default)]
    pub external_options: bool,
}

/// The body of `POST /crm/properties/{version}/{objectType}`
/// (`PropertyCreate`: `name`, `label`, `type`, `fieldType` and `groupName`
/// are required).
#[derive(Debug, Serialize)]
pub struct PropertyCreate {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "fieldType")]
    pub field_type: &'static str,
    #[serde(rename = "groupName")]
    pub group_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionInput>,
    #[serde(rename = "hasUniqueValue", skip_serializing_if = "std::ops::Not::not")]
    pub has_unique_value: bool,
}

/// An option as a property create or update sends it (`OptionInput`: all
/// four keys required).
#[derive(Debug, Serialize)]
pub struct OptionInput {
    pub label: String,
    pub value: String,
    #[serde(rename = "displayOrder")]
    pub display_order: i32,
    pub hidden: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The body of `PATCH …/{propertyName}` that replaces the option list.
#[derive(Debug, Serialize)]
pub struct OptionsUpdate {
    pub options: Vec<OptionInput>,
}

/// A property group (`GET …/{objectType}/groups`).
#[derive(Debug, Deserialize)]
pub struct PropertyGroup {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Modification {
    #[serde(rename = "readOnlyValue", default)]
    pub read_only_value: bool,
}

/// An option as HubSpot returns it (`Option`: `hidden` required,
/// `displayOrder` and `description` optional). Every attribute is kept
/// because an option update replaces the whole list.
#[derive(Debug, Deserialize)]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
    pub hidden: bool,
    #[serde(rename = "displayOrder", default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The answer of `POST …/search`.
#[derive(Debug, Deserialize)]
pub struct SearchPage {
    /// How many records match the query (optional in the schema).
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub results: Vec<ApiObject>,
    pub paging: Option<Paging>,
}

/// An input of the associations batch read: a record, and the cursor of
/// the page of its associations wanted (none for the first).
#[derive(Debug, Serialize)]
pub struct AssociationsInput {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// The answer of the associations batch read, and of the association
/// writes (whose `results` are not read).
#[derive(Debug, Deserialize)]
pub struct AssociationsPage {
    #[serde(default)]
    pub results: Vec<AssociationResult>,
    #[serde(default)]
    pub errors: Vec<BatchError>,
}

#[derive(Debug, Deserialize)]
pub struct AssociationResult {
    pub from: IdOut,
    #[serde(default)]
    pub to: Vec<AssociatedObject>,
    /// Present when the record has more associations than this result holds.
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub struct IdOut {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct AssociatedObject {
    #[serde(rename = "toObjectId")]
    pub to_object_id: serde_json::Value,
}
