//! The company's metadata: the field lists of each entity (built-in and
//! custom), pipelines, stages and the v1 users list.

use super::entities::Entity;
use super::errors::ApiError;
use super::paging::{Params, Sort};
use super::records::listing;
use super::store::{CustomField, PipedriveState, User};
use super::time::format_time;
use super::{CUSTOM_FIELD_TYPES, DEFAULT_CURRENCY, TOKEN_USER};
use serde_json::{Value, json};

impl PipedriveState {
    pub(super) fn fields(&self, entity: Entity, params: &Params) -> Result<Value, ApiError> {
        let builtin = entity.builtin_fields().iter().map(|(code, name, field_type)| {
            // Built-in option ids are strings (spec: personFields `options[].id`).
            let options = match *code {
                "status" => Some(
                    json!([{"id": "open", "label": "Open"}, {"id": "won", "label": "Won"}, {"id": "lost", "label": "Lost"}]),
                ),
                // The company's labels; their ids are the integers records
                // hold in `label_ids`, shown as strings as every built-in
                // option id is.
                "label_ids" => Some(Value::Array(
                    self.labels
                        .iter()
                        .filter(|(e, _, _)| *e == entity)
                        .map(|(_, id, name)| json!({"id": id.to_string(), "label": name}))
                        .collect(),
                )),
                _ => None,
            };
            field_json(code, name, field_type, options, false)
        });
        let custom = self.custom_fields(entity).iter().map(custom_field_json);
        let all: Vec<Value> = builtin.chain(custom).collect();
        let (page, next) = params.page(&Sort::rank(), 0..all.len() as i64)?;
        Ok(listing(
            page.iter().map(|i| all[*i as usize].clone()).collect(),
            next,
        ))
    }

    /// `addPersonField` (and the deal and organization ones): `field_name`
    /// (1 to 255 characters) and `field_type` required, no key the spec
    /// does not list, `options` (each with a `label`) for enum and set
    /// fields only. Pipedrive lets fields share a name.
    pub(super) fn create_field(&mut self, entity: Entity, body: &Value) -> Result<Value, ApiError> {
        let Some(object) = body.as_object() else {
            return Err(ApiError::validation("body", "must be an object"));
        };
        const KEYS: &[&str] = &[
            "field_name",
            "field_type",
            "options",
            "ui_visibility",
            "important_fields",
            "required_fields",
        ];
        if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(ApiError::validation(key, "is not allowed"));
        }
        let name = match body.get("field_name") {
            Some(Value::String(n)) if !n.is_empty() && n.chars().count() <= 255 => n.clone(),
            Some(_) => {
                return Err(ApiError::validation(
                    "field_name",
                    "must be 1 to 255 characters",
                ));
            }
            None => return Err(ApiError::validation("field_name", "is required")),
        };
        let field_type = match body.get("field_type") {
            Some(Value::String(t)) if SPEC_FIELD_TYPES.contains(&t.as_str()) => t.clone(),
            Some(other) => {
                return Err(ApiError::validation(
                    "field_type",
                    format!("{other} is not one of {SPEC_FIELD_TYPES:?}"),
                ));
            }
            None => return Err(ApiError::validation("field_type", "is required")),
        };
        if !CUSTOM_FIELD_TYPES.contains(&field_type.as_str()) {
            return Err(ApiError::bad_request(format!(
                "the fake does not model {field_type} fields"
            )));
        }
        let with_options = matches!(field_type.as_str(), "enum" | "set");
        let labels = match body.get("options") {
            Some(list) if with_options => option_labels(list)?,
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "Options are only allowed for enum and set fields, not {field_type}"
                )));
            }
            None if with_options => {
                return Err(ApiError::validation(
                    "options",
                    "are required for enum and set fields",
                ));
            }
            None => Vec::new(),
        };
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let code = self.add_custom_field(entity, &name, &field_type, &labels);
        let field = self
            .custom_fields(entity)
            .iter()
            .find(|f| f.code == code)
            .expect("just made");
        Ok(json!({"success": true, "data": custom_field_json(field)}))
    }

    /// `addPersonFieldOptions` (and the others): atomic, enum and set
    /// fields only; answers the options added.
    pub(super) fn add_field_options(
        &mut self,
        entity: Entity,
        code: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let labels = option_labels(body)?;
        if labels.is_empty() {
            return Err(ApiError::validation(
                "body",
                "at least one option is required",
            ));
        }
        let mut next = self.next_option_id;
        let Some(field) = self
            .custom_fields_mut(entity)
            .iter_mut()
            .find(|f| f.code == code)
        else {
            return Err(ApiError::entity_not_found());
        };
        if !matches!(field.field_type.as_str(), "enum" | "set") {
            return Err(ApiError::bad_request(format!(
                "Field {code} is a {} field, which has no options",
                field.field_type
            )));
        }
        let mut added = Vec::new();
        for label in labels {
            if field.options.iter().any(|(_, l)| *l == label) {
                return Err(ApiError::bad_request(format!(
                    "Option {label} already exists"
                )));
            }
            added.push((next, label));
            next += 1;
        }
        field.options.extend(added.iter().cloned());
        self.next_option_id = next;
        let data: Vec<Value> = added
            .iter()
            .map(|(id, label)| json!({"id": id, "label": label}))
            .collect();
        Ok(json!({"success": true, "data": data, "additional_data": null}))
    }

    pub(super) fn pipelines(&self, params: &Params) -> Result<Value, ApiError> {
        let sort = params.sort(&["id", "update_time", "add_time"])?;
        let (page, next) = params.page(&sort, self.pipelines.iter())?;
        let data = page.iter().map(|id| {
            let p = &self.pipelines[*id as usize - 1];
            json!({
                "id": p.id, "name": p.name, "order_nr": p.id, "is_deleted": false,
                "is_deal_probability_enabled": false,
                "add_time": format_time(p.created), "update_time": format_time(p.created),
            })
        });
        Ok(listing(data.collect(), next))
    }

    pub(super) fn stages(&self, params: &Params) -> Result<Value, ApiError> {
        let sort = params.sort(&["id", "update_time", "add_time", "order_nr"])?;
        let pipeline = params.int("pipeline_id")?;
        let stages = self
            .stages
            .iter()
            .filter(|s| pipeline.is_none_or(|p| s.pipeline_id == p));
        let (page, next) = params.page(&sort, stages)?;
        let data = page.iter().map(|id| {
            let s = &self.stages[*id as usize - 1];
            json!({
                "id": s.id, "order_nr": s.order_nr, "name": s.name, "is_deleted": false,
                "deal_probability": 100, "pipeline_id": s.pipeline_id,
                "is_deal_rot_enabled": false, "days_to_rotten": null,
                "add_time": format_time(s.created), "update_time": format_time(s.created),
            })
        });
        Ok(listing(data.collect(), next))
    }
}

/// The field types `addPersonField` takes (spec).
const SPEC_FIELD_TYPES: &[&str] = &[
    "varchar",
    "text",
    "double",
    "phone",
    "date",
    "daterange",
    "time",
    "timerange",
    "set",
    "enum",
    "varchar_auto",
    "address",
    "monetary",
    "org",
    "people",
    "user",
];

/// The labels of an option list (`[{"label": …}]`, each 1 to 255 characters).
fn option_labels(list: &Value) -> Result<Vec<String>, ApiError> {
    let Some(items) = list.as_array() else {
        return Err(ApiError::validation("options", "must be an array"));
    };
    items
        .iter()
        .map(|o| match o.get("label") {
            Some(Value::String(l)) if !l.is_empty() && l.chars().count() <= 255 => Ok(l.clone()),
            _ => Err(ApiError::validation(
                "options",
                "each option needs a label of 1 to 255 characters",
            )),
        })
        .collect()
}

pub(super) fn custom_field_json(f: &CustomField) -> Value {
    let options = matches!(f.field_type.as_str(), "enum" | "set").then(|| {
        f.options
            .iter()
            .map(|(id, label)| json!({"id": id, "label": label}))
            .collect()
    });
    field_json(&f.code, &f.name, &f.field_type, options, true)
}

/// One item of `GET /api/v2/{personFields|dealFields}`.
pub(super) fn field_json(
    code: &str,
    name: &str,
    field_type: &str,
    options: Option<Value>,
    is_custom: bool,
) -> Value {
    let subfields = (field_type == "monetary").then(|| {
        json!([
            {"field_code": "value", "field_name": format!("Amount of {name}"), "field_type": "double"},
            {"field_code": "currency", "field_name": format!("Currency of {name}"), "field_type": "varchar"},
        ])
    });
    json!({
        "field_name": name, "field_code": code, "description": null, "field_type": field_type,
        "options": options, "subfields": subfields,
        "is_custom_field": is_custom, "is_optional_response_field": false,
    })
}

/// The v1 `BaseUser` shape (v1 times are `YYYY-MM-DD HH:MM:SS` UTC).
pub(super) fn render_user(user: &User) -> Value {
    let created = format_time(user.created).replace('T', " ").replace('Z', "");
    json!({
        "id": user.id, "name": user.name, "default_currency": DEFAULT_CURRENCY,
        "locale": "en_US", "lang": 1, "email": user.email, "phone": null,
        "activated": true, "last_login": created, "created": created, "modified": created,
        "has_created_company": user.id == TOKEN_USER,
        "access": [{"app": "sales", "admin": user.id == TOKEN_USER, "permission_set_id": "00000000-0000-4000-8000-000000000001"}],
        "active_flag": true, "timezone_name": "UTC", "timezone_offset": "+00:00",
        "role_id": 1, "icon_url": null, "is_you": user.id == TOKEN_USER, "is_deleted": false,
    })
}
