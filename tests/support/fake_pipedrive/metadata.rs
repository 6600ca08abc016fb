//! The company's metadata: the field lists of each entity (built-in and
//! custom), pipelines, stages and the v1 users list.

use super::entities::Entity;
use super::errors::ApiError;
use super::paging::{Params, Sort};
use super::records::listing;
use super::store::{PipedriveState, User};
use super::time::format_time;
use super::{DEFAULT_CURRENCY, TOKEN_USER};
use serde_json::{Value, json};

impl PipedriveState {
    pub(super) fn fields(&self, entity: Entity, params: &Params) -> Result<Value, ApiError> {
        let builtin = entity.builtin_fields().iter().map(|(code, name, field_type)| {
            // Built-in option ids are strings (spec: personFields `options[].id`).
            let options = (*field_type == "status").then(|| {
                json!([{"id": "open", "label": "Open"}, {"id": "won", "label": "Won"}, {"id": "lost", "label": "Lost"}])
            });
            field_json(code, name, field_type, options, false)
        });
        let custom = self.custom_fields(entity).iter().map(|f| {
            let options = matches!(f.field_type.as_str(), "enum" | "set").then(|| {
                f.options
                    .iter()
                    .map(|(id, label)| json!({"id": id, "label": label}))
                    .collect()
            });
            field_json(&f.code, &f.name, &f.field_type, options, true)
        });
        let all: Vec<Value> = builtin.chain(custom).collect();
        let (page, next) = params.page(&Sort::rank(), 0..all.len() as i64)?;
        Ok(listing(
            page.iter().map(|i| all[*i as usize].clone()).collect(),
            next,
        ))
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
