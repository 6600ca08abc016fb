//! HubSpot wire types (CRM objects, batch results, owners): serde structs
//! only, no logic. Shapes follow the date-based API (`/crm/objects/2026-09/…`),
//! whose bodies match the v3 ones (shared/api/hubspot.md).

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

#[derive(Debug, Deserialize)]
pub struct BatchError {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub context: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct BatchInput<T> {
    pub inputs: Vec<T>,
}

#[derive(Debug, Serialize)]
pub struct CreateInput {
    pub properties: BTreeMap<String, String>,
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
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    #[serde(rename = "modificationMetadata", default)]
    pub modification: Option<Modification>,
}

#[derive(Debug, Deserialize)]
pub struct Modification {
    #[serde(rename = "readOnlyValue", default)]
    pub read_only_value: bool,
}

#[derive(Debug, Deserialize)]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
}

/// The answer of `POST …/search`.
#[derive(Debug, Deserialize)]
pub struct SearchPage {
    #[serde(default)]
    pub results: Vec<ApiObject>,
    pub paging: Option<Paging>,
}

/// The answer of the associations batch read.
#[derive(Debug, Deserialize)]
pub struct AssociationsPage {
    #[serde(default)]
    pub results: Vec<AssociationResult>,
}

#[derive(Debug, Deserialize)]
pub struct AssociationResult {
    pub from: IdOut,
    #[serde(default)]
    pub to: Vec<AssociatedObject>,
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
