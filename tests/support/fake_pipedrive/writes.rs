//! Write validation, one path for POST, PATCH, seeding and edits in the web
//! app: each body field against its kind, references to live records, custom
//! fields, contact lists, addresses, and the person and deal rules.

use super::DEFAULT_CURRENCY;
use super::entities::Entity;
use super::errors::ApiError;
use super::store::{CustomField, PipedriveState, Record};
use super::time::{format_time, parse_rfc3339};
use crate::support::calendar::parse_date;
use serde_json::{Map, Value, json};

/// How a write-body field is checked.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Text,
    NonEmptyText,
    Number,
    /// A number without a fraction (the spec's `type: integer`).
    Integer,
    Probability,
    Currency,
    Status,
    VisibleTo,
    /// `YYYY-MM-DD`
    Date,
    /// RFC3339 with whole seconds.
    Timestamp,
    /// A `Timestamp` that sets the record's creation time.
    AddTime,
    Contacts,
    LabelIds,
    CustomFields,
    /// An organization's `OrganizationItemAddress`.
    Address,
    Reference(Ref),
    /// Accepted only as `false`; `true` is refused with this reason.
    OnlyFalse(&'static str),
    /// Documented, but the fake refuses any value, for this reason.
    Unmodelled(&'static str),
}

/// What an id in a body must point at.
#[derive(Clone, Copy)]
pub(super) enum Ref {
    User,
    Person,
    Pipeline,
    Stage,
    /// A live (not deleted) organization.
    Org,
}

pub(super) struct BodyField {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) nullable: bool,
    pub(super) post_only: bool,
}

impl BodyField {
    pub(super) const fn new(name: &'static str, kind: Kind) -> BodyField {
        BodyField {
            name,
            kind,
            nullable: false,
            post_only: false,
        }
    }

    pub(super) const fn nullable(self) -> BodyField {
        BodyField {
            nullable: true,
            ..self
        }
    }

    pub(super) const fn post_only(self) -> BodyField {
        BodyField {
            post_only: true,
            ..self
        }
    }
}

/// A validated write, ready to apply.
pub(super) struct Change {
    pub(super) fields: Map<String, Value>,
    /// `null` clears a field.
    pub(super) custom: Map<String, Value>,
    pub(super) add_time: Option<i64>,
}

impl PipedriveState {
    pub(super) fn validate(
        &self,
        entity: Entity,
        body: &Value,
        existing: Option<&Record>,
        now: i64,
    ) -> Result<Change, ApiError> {
        let creating = existing.is_none();
        let body = body
            .as_object()
            .ok_or_else(|| ApiError::validation("body", "Expected 'object'"))?;
        let spec = entity.body_fields();
        let known = |name: &str| {
            spec.iter()
                .find(|f| f.name == name && (creating || !f.post_only))
        };
        let refused: Vec<String> = body
            .keys()
            .filter(|k| known(k).is_none())
            .map(|k| format!("{k}: Parameter '{k}' is not allowed for this request"))
            .collect();
        if !refused.is_empty() {
            return Err(ApiError::schema(refused.join("; ")));
        }
        let mut change = Change {
            fields: Map::new(),
            custom: Map::new(),
            add_time: None,
        };
        for (name, value) in body {
            let field = known(name).expect("checked above");
            if value.is_null() {
                if !field.nullable {
                    return Err(ApiError::validation(name, "Value must not be null"));
                }
                change.fields.insert(name.clone(), Value::Null);
                continue;
            }
            match field.kind {
                Kind::CustomFields => change.custom = self.check_custom_fields(entity, value)?,
                Kind::AddTime => change.add_time = Some(parse_timestamp(name, value)?),
                Kind::LabelIds => {
                    let checked = self.check_labels(entity, name, value)?;
                    change.fields.insert(name.clone(), checked);
                }
                Kind::Contacts => {
                    let held = existing.and_then(|r| r.fields.get(name));
                    change
                        .fields
                        .insert(name.clone(), check_contacts(name, value, held)?);
                }
                kind => {
                    let checked = self.check_value(name, kind, value)?;
                    change.fields.insert(name.clone(), checked);
                }
            }
        }
        match entity {
            Entity::Person => finish_person(&mut change.fields, existing)?,
            Entity::Deal => self.finish_deal(&mut change.fields, existing, now)?,
            // `name` is the one required field of addOrganization.
            Entity::Organization if creating && !change.fields.contains_key("name") => {
                return Err(ApiError::validation("name", "Parameter 'name' is required"));
            }
            Entity::Organization => {}
        }
        Ok(change)
    }

    pub(super) fn check_value(
        &self,
        name: &str,
        kind: Kind,
        value: &Value,
    ) -> Result<Value, ApiError> {
        let invalid = |msg: &str| ApiError::validation(name, msg);
        match kind {
            Kind::Text => value
                .as_str()
                .map(|_| value.clone())
                .ok_or_else(|| invalid("Expected 'string'")),
            Kind::NonEmptyText => match value.as_str() {
                Some(s) if !s.trim().is_empty() => Ok(value.clone()),
                Some(_) => Err(invalid("Value must not be empty")),
                None => Err(invalid("Expected 'string'")),
            },
            // No string coercion in v2 (migration guide).
            Kind::Number => value
                .is_number()
                .then(|| value.clone())
                .ok_or_else(|| invalid("Expected 'number'")),
            Kind::Integer => value
                .is_i64()
                .then(|| value.clone())
                .ok_or_else(|| invalid("Expected 'integer'")),
            Kind::Address => check_address(name, value),
            Kind::Probability => match value.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Ok(value.clone()),
                Some(_) => Err(invalid("Value must be between 0 and 100")),
                None => Err(invalid("Expected 'number'")),
            },
            Kind::Currency => match value.as_str() {
                Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
                    Ok(value.clone())
                }
                _ => Err(invalid("Expected a 3-letter currency code")),
            },
            Kind::Status => match value.as_str() {
                Some("open" | "won" | "lost") => Ok(value.clone()),
                _ => Err(invalid("Expected one of 'open', 'won', 'lost'")),
            },
            Kind::VisibleTo => match value.as_i64() {
                Some(1 | 3 | 5 | 7) => Ok(value.clone()),
                _ => Err(invalid("Expected one of 1, 3, 5, 7")),
            },
            Kind::Date => value
                .as_str()
                .filter(|s| parse_date(s).is_some())
                .map(|_| value.clone())
                .ok_or_else(|| invalid("Expected a date in the format YYYY-MM-DD")),
            Kind::Timestamp => parse_timestamp(name, value).map(|t| json!(format_time(t))),
            Kind::Contacts => unreachable!("handled by validate"),
            Kind::Reference(target) => {
                let id = value
                    .as_i64()
                    .ok_or_else(|| invalid("Expected 'integer'"))?;
                self.check_reference(target, id)?;
                Ok(value.clone())
            }
            Kind::OnlyFalse(reason) => match value.as_bool() {
                Some(false) => Ok(value.clone()),
                Some(true) => Err(ApiError::bad_request(format!("{name}: {reason}"))),
                None => Err(invalid("Expected 'boolean'")),
            },
            Kind::Unmodelled(reason) => Err(ApiError::bad_request(format!("{name}: {reason}"))),
            Kind::CustomFields | Kind::AddTime | Kind::LabelIds => {
                unreachable!("handled by validate")
            }
        }
    }

    /// `label_ids`: an array of integers, each the id of one of the
    /// company's labels of `entity` (refused as the API refuses an unknown
    /// one), kept in the order sent without repeats.
    pub(super) fn check_labels(
        &self,
        entity: Entity,
        name: &str,
        value: &Value,
    ) -> Result<Value, ApiError> {
        let invalid = |msg: &str| ApiError::validation(name, msg);
        let ids = value
            .as_array()
            .ok_or_else(|| invalid("Expected 'array'"))?;
        let mut kept: Vec<i64> = Vec::new();
        for id in ids {
            let id = id
                .as_i64()
                .ok_or_else(|| invalid("Expected 'integer' items"))?;
            if !self.labels.iter().any(|(e, l, _)| *e == entity && *l == id) {
                return Err(ApiError::bad_request(format!(
                    "Label with id {id} not found"
                )));
            }
            if !kept.contains(&id) {
                kept.push(id);
            }
        }
        Ok(json!(kept))
    }

    pub(super) fn check_reference(&self, target: Ref, id: i64) -> Result<(), ApiError> {
        let (exists, what) = match target {
            Ref::User => (self.users.iter().any(|u| u.id == id), "User"),
            Ref::Person => (self.live(Entity::Person, id).is_ok(), "Person"),
            Ref::Pipeline => (self.pipelines.iter().any(|p| p.id == id), "Pipeline"),
            Ref::Stage => (self.stage(id).is_some(), "Stage"),
            Ref::Org => (self.live(Entity::Organization, id).is_ok(), "Organization"),
        };
        if exists {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "{what} with id {id} not found"
            )))
        }
    }

    pub(super) fn check_custom_fields(
        &self,
        entity: Entity,
        value: &Value,
    ) -> Result<Map<String, Value>, ApiError> {
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::validation("custom_fields", "Expected 'object'"))?;
        let mut checked = Map::new();
        for (code, value) in object {
            let path = format!("custom_fields.{code}");
            let field = self
                .custom_fields(entity)
                .iter()
                .find(|f| f.code == *code)
                .ok_or_else(|| {
                    ApiError::validation(&path, format!("Custom field '{code}' does not exist"))
                })?;
            checked.insert(code.clone(), self.check_custom_value(field, &path, value)?);
        }
        Ok(checked)
    }

    /// The v2 value format per field type
    /// (<https://pipedrive.readme.io/docs/core-api-concepts-custom-fields>).
    pub(super) fn check_custom_value(
        &self,
        field: &CustomField,
        path: &str,
        value: &Value,
    ) -> Result<Value, ApiError> {
        let invalid = |msg: &str| ApiError::validation(path, msg);
        if value.is_null() {
            return Ok(Value::Null);
        }
        let max_len = |max: usize| match value.as_str() {
            Some(s) if s.chars().count() <= max => Ok(value.clone()),
            Some(_) => Err(invalid(&format!("Value must be at most {max} characters"))),
            None => Err(invalid("Expected 'string'")),
        };
        let option = |id: &Value| {
            if !id.is_i64() {
                Err(invalid(
                    "Expected 'number' as value for single option custom field",
                ))
            } else if field.option_label(id).is_none() {
                Err(invalid(&format!(
                    "Option {id} does not exist for this field"
                )))
            } else {
                Ok(())
            }
        };
        match field.field_type.as_str() {
            "varchar" | "varchar_auto" | "phone" => max_len(255),
            "text" => max_len(65_535),
            "double" => value
                .is_number()
                .then(|| value.clone())
                .ok_or_else(|| invalid("Expected 'number'")),
            "monetary" => {
                let amount = value.get("value").filter(|v| v.is_number());
                let keys_ok = value
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "value" || k == "currency"));
                if amount.is_none() || !keys_ok {
                    return Err(invalid(
                        "Expected an object {\"value\": number, \"currency\": string}",
                    ));
                }
                let currency = match value.get("currency") {
                    Some(c) => self.check_value(&format!("{path}.currency"), Kind::Currency, c)?,
                    None => json!(DEFAULT_CURRENCY),
                };
                Ok(json!({"value": amount, "currency": currency}))
            }
            "date" => self.check_value(path, Kind::Date, value),
            "enum" => option(value).map(|_| value.clone()),
            "set" => match value.as_array() {
                Some(ids) if ids.is_empty() => Err(invalid(
                    "Use null, not an empty array, to clear a set field",
                )),
                Some(ids) => {
                    ids.iter().try_for_each(option)?;
                    Ok(value.clone())
                }
                None => Err(invalid(
                    "Expected 'array' of option ids for multiple options custom field",
                )),
            },
            "user" => self.check_value(path, Kind::Reference(Ref::User), value),
            "people" => self.check_value(path, Kind::Reference(Ref::Person), value),
            other => unreachable!("add_custom_field refuses type {other}"),
        }
    }

    /// Stage and pipeline go together; status drives the close times.
    pub(super) fn finish_deal(
        &self,
        fields: &mut Map<String, Value>,
        existing: Option<&Record>,
        now: i64,
    ) -> Result<(), ApiError> {
        if existing.is_none() && !fields.contains_key("title") {
            return Err(ApiError::validation(
                "title",
                "Parameter 'title' is required",
            ));
        }
        let stage_id = fields.get("stage_id").and_then(Value::as_i64);
        let pipeline_id = fields.get("pipeline_id").and_then(Value::as_i64);
        let old_stage = existing.and_then(|r| r.field_i64("stage_id"));
        let new_stage = match (stage_id, pipeline_id) {
            (Some(stage), pipeline) => {
                let stage = self.stage(stage).expect("reference checked");
                if let Some(pipeline) = pipeline
                    && pipeline != stage.pipeline_id
                {
                    return Err(ApiError::bad_request(format!(
                        "Stage {} does not belong to pipeline {pipeline}",
                        stage.id
                    )));
                }
                Some(stage)
            }
            // Moving to another pipeline without a stage lands in its first stage.
            (None, Some(pipeline))
                if existing.and_then(|r| r.field_i64("pipeline_id")) != Some(pipeline) =>
            {
                Some(self.first_stage(pipeline).ok_or_else(|| {
                    ApiError::bad_request(format!("Pipeline {pipeline} has no stages"))
                })?)
            }
            (None, Some(_)) => None,
            (None, None) if existing.is_none() => {
                let default = self.pipelines.first().expect("default pipeline").id;
                Some(
                    self.first_stage(default)
                        .expect("default pipeline has stages"),
                )
            }
            (None, None) => None,
        };
        if let Some(stage) = new_stage {
            fields.insert("stage_id".into(), json!(stage.id));
            fields.insert("pipeline_id".into(), json!(stage.pipeline_id));
            if existing.is_some() && old_stage != Some(stage.id) {
                fields.insert("stage_change_time".into(), json!(format_time(now)));
            }
        }
        let old_status = existing.and_then(|r| r.fields.get("status").and_then(Value::as_str));
        let status = fields
            .get("status")
            .and_then(Value::as_str)
            .or(old_status)
            .unwrap_or("open")
            .to_string();
        // Fields the spec says "can only be set if" the deal has a status.
        for (name, allowed) in [
            ("lost_reason", &["lost"][..]),
            ("close_time", &["won", "lost"][..]),
            ("won_time", &["won"][..]),
            ("lost_time", &["lost"][..]),
        ] {
            if fields.get(name).is_some_and(|v| !v.is_null()) && !allowed.contains(&status.as_str())
            {
                return Err(ApiError::bad_request(format!(
                    "{name} can only be set if the deal status is {}",
                    allowed.join(" or ")
                )));
            }
        }
        if old_status != Some(status.as_str()) {
            let stamp = json!(format_time(now));
            let (close, won, lost) = match status.as_str() {
                "won" => (stamp.clone(), stamp, Value::Null),
                "lost" => (stamp.clone(), Value::Null, stamp),
                _ => (Value::Null, Value::Null, Value::Null),
            };
            for (name, value) in [
                ("close_time", close),
                ("won_time", won),
                ("lost_time", lost),
            ] {
                fields.entry(name).or_insert(value);
            }
            if status != "lost" {
                fields.insert("lost_reason".into(), Value::Null);
            }
        }
        Ok(())
    }
}

/// "Either `name` or both `first_name` and `last_name` must be provided";
/// `name` is split into first and last name, or built from them.
pub(super) fn finish_person(
    fields: &mut Map<String, Value>,
    existing: Option<&Record>,
) -> Result<(), ApiError> {
    let has = |k: &str| fields.contains_key(k);
    if existing.is_none() && !has("name") && !(has("first_name") && has("last_name")) {
        return Err(ApiError::validation(
            "name",
            "Either name or both first_name and last_name must be provided",
        ));
    }
    if let Some(name) = fields.get("name").and_then(Value::as_str).map(str::trim) {
        let (first, last) = match name.split_once(char::is_whitespace) {
            Some((first, last)) => (json!(first), json!(last.trim())),
            None => (json!(name), Value::Null),
        };
        let name = json!(name);
        fields.insert("name".into(), name);
        fields.entry("first_name").or_insert(first);
        fields.entry("last_name").or_insert(last);
    } else if has("first_name") || has("last_name") {
        let part = |k: &str| {
            fields
                .get(k)
                .or_else(|| existing.and_then(|r| r.fields.get(k)))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name: Vec<String> = [part("first_name"), part("last_name")]
            .into_iter()
            .flatten()
            .collect();
        fields.insert("name".into(), json!(name.join(" ")));
    }
    Ok(())
}

/// `emails`/`phones`: objects only (no plain strings in v2), at most one
/// primary, the first entry with a value becomes primary if none is, `label`
/// defaults to `work`. The spec requires no field of an entry, the migration
/// guide says "only the `value` field is required": the fake takes the
/// stricter reading for new entries, and accepts an entry without `value`
/// only as an unchanged copy of one the record holds (what a client that
/// keeps the entries it cannot read sends back). `held` is the record's list.
pub(super) fn check_contacts(
    name: &str,
    value: &Value,
    held: Option<&Value>,
) -> Result<Value, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::validation(name, "Expected 'array'"))?;
    let held: &[Value] = held.and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{name}[{i}]");
        let object = item
            .as_object()
            .ok_or_else(|| ApiError::validation(&path, "Expected 'object' with a 'value'"))?;
        if !object.contains_key("value") && held.contains(item) {
            out.push(item.clone());
            continue;
        }
        if let Some(k) = object
            .keys()
            .find(|k| !["value", "primary", "label"].contains(&k.as_str()))
        {
            return Err(ApiError::validation(
                &format!("{path}.{k}"),
                format!("Parameter '{k}' is not allowed for this request"),
            ));
        }
        let text = object
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::validation(&format!("{path}.value"), "Expected 'string'"))?;
        let primary = match object.get("primary") {
            None => false,
            Some(p) => p.as_bool().ok_or_else(|| {
                ApiError::validation(&format!("{path}.primary"), "Expected 'boolean'")
            })?,
        };
        let label = match object.get("label") {
            None => "work",
            Some(l) => l.as_str().ok_or_else(|| {
                ApiError::validation(&format!("{path}.label"), "Expected 'string'")
            })?,
        };
        out.push(json!({"value": text, "primary": primary, "label": label}));
    }
    match out.iter().filter(|c| c["primary"] == json!(true)).count() {
        0 => {
            if let Some(first) = out.iter_mut().find(|c| c.get("value").is_some()) {
                first["primary"] = json!(true);
            }
        }
        1 => {}
        _ => {
            return Err(ApiError::validation(
                name,
                "Only one value can be marked as primary",
            ));
        }
    }
    Ok(Value::Array(out))
}

/// The keys of `OrganizationItemAddress` (addOrganization/updateOrganization).
pub(super) const ADDRESS_PARTS: &[&str] = &[
    "value",
    "country",
    "admin_area_level_1",
    "admin_area_level_2",
    "locality",
    "sublocality",
    "route",
    "street_number",
    "subpremise",
    "postal_code",
];

/// An organization's address: an object of the spec's string parts. The
/// spec requires none of them; the fake takes the stricter reading of the
/// migration guide's custom address ("only `value` is required") and wants
/// a non-empty `value`, the full address. It stores what was sent (the real
/// API geocodes `value` into the parts; nothing documents how), and the
/// object replaces the old one whole.
pub(super) fn check_address(name: &str, value: &Value) -> Result<Value, ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::validation(name, "Expected 'object'"))?;
    for (key, part) in object {
        let path = format!("{name}.{key}");
        if !ADDRESS_PARTS.contains(&key.as_str()) {
            return Err(ApiError::validation(
                &path,
                format!("Parameter '{key}' is not allowed for this request"),
            ));
        }
        if !part.is_string() {
            return Err(ApiError::validation(&path, "Expected 'string'"));
        }
    }
    match object.get("value").and_then(Value::as_str) {
        Some(full) if !full.trim().is_empty() => Ok(value.clone()),
        _ => Err(ApiError::validation(
            &format!("{name}.value"),
            "The full address is required",
        )),
    }
}

pub(super) fn parse_timestamp(name: &str, value: &Value) -> Result<i64, ApiError> {
    value
        .as_str()
        .ok_or_else(|| ApiError::validation(name, "Expected 'string'"))
        .and_then(|s| parse_rfc3339(s).map_err(|e| ApiError::validation(name, e)))
}
