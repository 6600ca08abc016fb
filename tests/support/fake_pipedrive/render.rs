//! A record's JSON form in v2: its fields, times and custom fields (option
//! labels where asked for).

use super::entities::Entity;
use super::store::{CustomField, PipedriveState, Record};
use super::time::format_time;
use serde_json::{Map, Value, json};

/// Response options of GET and list.
#[derive(Default)]
pub(super) struct View {
    pub(super) custom_keys: Option<Vec<String>>,
    pub(super) option_labels: bool,
}

impl PipedriveState {
    /// A record in the v2 shape. `custom_fields` holds every custom field
    /// of the entity (`null` when unset), or only those `?custom_fields=` names.
    pub(super) fn render(&self, entity: Entity, record: &Record, view: &View) -> Value {
        let mut object = record.fields.clone();
        object.insert("id".into(), json!(record.id));
        object.insert("add_time".into(), json!(format_time(record.add_time)));
        object.insert("update_time".into(), json!(format_time(record.update_time)));
        object.insert("is_deleted".into(), json!(record.is_deleted));
        let custom: Map<String, Value> = self
            .custom_fields(entity)
            .iter()
            .filter(|f| {
                view.custom_keys
                    .as_ref()
                    .is_none_or(|keys| keys.contains(&f.code))
            })
            .map(|f| {
                let value = record.custom.get(&f.code).cloned().unwrap_or(Value::Null);
                let value = if view.option_labels {
                    with_option_labels(f, value)
                } else {
                    value
                };
                (f.code.clone(), value)
            })
            .collect();
        object.insert("custom_fields".into(), Value::Object(custom));
        Value::Object(object)
    }
}

pub(super) fn with_option_labels(field: &CustomField, value: Value) -> Value {
    let labelled = |id: &Value| json!({"id": id, "label": field.option_label(id)});
    match (field.field_type.as_str(), &value) {
        ("enum", id) if !id.is_null() => labelled(id),
        ("set", Value::Array(ids)) => Value::Array(ids.iter().map(labelled).collect()),
        _ => value,
    }
}
