//! Pipedrive's side of `schema = "create"`: custom fields read as
//! vendor-neutral `PropertySpec`s, created through
//! `POST /api/v2/{personFields|organizationFields|dealFields}` and given
//! options through `POST …/{field_code}/options`
//! (<https://developers.pipedrive.com/docs/api/v2/PersonFields>), each kind
//! mapped to the nearest Pipedrive field type. Options are named by their
//! labels, as records read and write them.
//!
//! Pipedrive lets two fields share a display name, so a create is preceded
//! and (when its answer is lost) followed by a fresh look at the fields:
//! one of that name and type counts as made, never made twice. A field
//! created under a label the mapping file does not spell is found by the
//! key it was given (`learned_key`, recorded by the run in the state
//! directory). It writes no record.

use super::Pipedrive;
use super::api::{Field, FieldCreate, FieldOption, One, OptionLabel};
use super::fields::builtins;
use crate::connector::catalog::{OptionSpec, PropertyKind, PropertySpec, SchemaOutcome};
use crate::connector::http::{ApiError, Repeat};
use crate::connector::seam::Connector;
use crate::model::ObjectKind;
use crate::vendor::PIPEDRIVE;
use anyhow::{Context, Result};
use serde_json::json;
use std::sync::Arc;

impl Pipedrive {
    /// The fields path of an object; `None` for one without a fields API
    /// (notes: v2 has none, and the vendor profile takes no new fields on
    /// them).
    pub(super) fn fields_path(object: ObjectKind) -> Option<&'static str> {
        match object {
            ObjectKind::Persons => Some("/api/v2/personFields"),
            ObjectKind::Organizations => Some("/api/v2/organizationFields"),
            ObjectKind::Deals => Some("/api/v2/dealFields"),
            ObjectKind::Notes | ObjectKind::Contacts | ObjectKind::Companies => None,
        }
    }

    /// The fields path of an object crmsync is to create fields on; an
    /// object without one is refused (mapping validation refuses such a
    /// pair before any plan).
    fn new_fields_path(object: ObjectKind) -> Result<&'static str> {
        Self::fields_path(object)
            .filter(|_| PIPEDRIVE.takes_new_fields(object))
            .ok_or_else(|| anyhow::anyhow!("Pipedrive {object} take no new custom fields"))
    }

    /// The key a field crmsync created goes by, for a mapping-file name
    /// its label does not spell.
    pub(super) fn learned_key(&self, object: ObjectKind, name: &str) -> Option<String> {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(object, name.to_string()))
            .cloned()
    }

    /// `Connector::properties`.
    pub(super) fn property_specs(
        &self,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<Vec<Option<PropertySpec>>> {
        fields
            .iter()
            .map(|name| {
                if builtins(object).iter().any(|(n, _)| n == name) {
                    return Ok(Some(PropertySpec {
                        not_copyable: Some("a field Pipedrive defines".into()),
                        ..spec_of_kind(name, PropertyKind::Text)
                    }));
                }
                let schema = self.metadata(object)?;
                let learned = self.learned_key(object, name);
                let custom = || schema.iter().filter(|f| f.is_custom_field);
                let found = custom()
                    .find(|f| f.field_code == *name || Some(&f.field_code) == learned.as_ref())
                    .or_else(|| custom().find(|f| f.field_name.eq_ignore_ascii_case(name)));
                Ok(found.map(|f| PropertySpec {
                    name: name.clone(),
                    ..spec_of(f)
                }))
            })
            .collect()
    }

    /// A custom field of that label and the type `kind` is written as, in
    /// the fields as this run knows them (`fresh`: read now).
    fn existing(
        &self,
        object: ObjectKind,
        spec: &PropertySpec,
        fresh: bool,
    ) -> Result<Option<Field>> {
        if fresh {
            self.schemas.forget(&object);
        }
        let schema = self.metadata(object)?;
        let field_type = type_of(spec.kind);
        Ok(schema
            .iter()
            .find(|f| {
                f.is_custom_field
                    && f.field_name.eq_ignore_ascii_case(&spec.label)
                    && f.field_type == field_type
            })
            .cloned())
    }

    /// `Connector::create_property`: a custom field named by the label.
    pub(super) fn create_field_like(
        &self,
        object: ObjectKind,
        spec: &PropertySpec,
    ) -> Result<SchemaOutcome> {
        // The fields as read this run (the pull read them; each create
        // since is added to them): a field made since is still found, at no
        // cost of the daily token budget.
        if let Some(found) = self.existing(object, spec, false)? {
            return Ok(self.made(object, spec, &found));
        }
        let body = FieldCreate {
            field_name: spec.label.clone(),
            field_type: type_of(spec.kind),
            options: spec.kind.has_options().then(|| labels(&spec.options)),
        };
        let path = Self::new_fields_path(object)?;
        let sent = self
            .http
            .post(path, &serde_json::to_value(&body)?, Repeat::OnlyIfUnsent);
        match sent {
            Ok(reply) => {
                let made: One<Field> = serde_json::from_value(reply.body)
                    .map_err(|e| self.malformed(format!("created field: {e}")))?;
                self.schemas.update(&object, |fields| {
                    Arc::make_mut(fields).push(made.data.clone())
                });
                Ok(self.made(object, spec, &made.data))
            }
            Err(ApiError::Rejected { message, .. }) => Ok(SchemaOutcome::Refused(message)),
            Err(e @ (ApiError::Unavailable { .. } | ApiError::Malformed { .. })) => {
                match self.existing(object, spec, true)? {
                    Some(found) => Ok(self.made(object, spec, &found)),
                    None => Err(anyhow::Error::new(e).context(format!(
                        "creating field {} on {}",
                        spec.label,
                        self.system()
                    ))),
                }
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "creating field {} on {}",
                spec.label,
                self.system()
            ))),
        }
    }

    /// A field made for `spec`: its key is learned under the mapping's name.
    fn made(&self, object: ObjectKind, spec: &PropertySpec, field: &Field) -> SchemaOutcome {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((object, spec.name.clone()), field.field_code.clone());
        SchemaOutcome::Done {
            key: field.field_code.clone(),
            spec: PropertySpec {
                name: spec.name.clone(),
                ..spec_of(field)
            },
        }
    }

    /// `Connector::add_options`: the labels the field lacks, in one call
    /// (Pipedrive adds all or none and keeps the field's own).
    pub(super) fn add_field_options(
        &self,
        object: ObjectKind,
        field: &str,
        options: &[OptionSpec],
    ) -> Result<SchemaOutcome> {
        // The field as this run read it (the pull did): the options the
        // plan adds were missing then.
        let Some(current) = self
            .property_specs(object, &[field.to_string()])?
            .pop()
            .flatten()
        else {
            return Ok(SchemaOutcome::Refused(format!(
                "{} has no field {field} to add options to",
                self.system()
            )));
        };
        let schema = self.metadata(object)?;
        let learned = self.learned_key(object, field);
        let code = schema
            .iter()
            .filter(|f| f.is_custom_field)
            .find(|f| f.field_code == field || Some(&f.field_code) == learned.as_ref())
            .or_else(|| {
                schema
                    .iter()
                    .find(|f| f.is_custom_field && f.field_name.eq_ignore_ascii_case(field))
            })
            .map(|f| f.field_code.clone())
            .unwrap_or_default();
        let missing: Vec<OptionSpec> = options
            .iter()
            .filter(|o| !current.options.iter().any(|have| have.label == o.label))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let path = format!("{}/{code}/options", Self::new_fields_path(object)?);
            // Adding is not idempotent: never repeated once it may have
            // reached Pipedrive; a lost answer is settled by reading back.
            let sent = self
                .http
                .post(&path, &json!(labels(&missing)), Repeat::OnlyIfUnsent);
            match sent {
                // The answer holds the options added, with their ids: the
                // fields this run read take them in.
                Ok(reply) => {
                    let added: Vec<FieldOption> =
                        serde_json::from_value(reply.body["data"].clone())
                            .map_err(|e| self.malformed(format!("added options: {e}")))?;
                    self.schemas.update(&object, |fields| {
                        let fields = Arc::make_mut(fields);
                        if let Some(f) = fields.iter_mut().find(|f| f.field_code == code) {
                            f.options.get_or_insert_with(Vec::new).extend(added);
                        }
                    });
                }
                Err(ApiError::Rejected { message, .. }) => {
                    return Ok(SchemaOutcome::Refused(message));
                }
                Err(e) => {
                    let lost =
                        matches!(e, ApiError::Unavailable { .. } | ApiError::Malformed { .. });
                    self.schemas.forget(&object);
                    let now = self
                        .property_specs(object, &[field.to_string()])?
                        .pop()
                        .flatten();
                    let added = now.as_ref().is_some_and(|now| {
                        missing
                            .iter()
                            .all(|o| now.options.iter().any(|have| have.label == o.label))
                    });
                    if !(lost && added) {
                        return Err(anyhow::Error::new(e)
                            .context(format!("adding options to {field} on {}", self.system())));
                    }
                }
            }
        }
        let now = self
            .property_specs(object, &[field.to_string()])?
            .pop()
            .flatten()
            .with_context(|| format!("{} lost field {field}", self.system()))?;
        Ok(SchemaOutcome::Done {
            key: code,
            spec: now,
        })
    }
}

fn labels(options: &[OptionSpec]) -> Vec<OptionLabel> {
    options
        .iter()
        .map(|o| OptionLabel {
            label: o.label.clone(),
        })
        .collect()
}

fn spec_of_kind(name: &str, kind: PropertyKind) -> PropertySpec {
    PropertySpec {
        name: name.to_string(),
        label: name.to_string(),
        kind,
        options: Vec::new(),
        description: String::new(),
        group: None,
        unique: false,
        not_copyable: None,
    }
}

/// A custom field in neutral terms; options by label, as records hold them.
fn spec_of(f: &Field) -> PropertySpec {
    let (kind, not_copyable) = match f.field_type.as_str() {
        "varchar" | "varchar_auto" => (PropertyKind::Text, None),
        "text" => (PropertyKind::Textarea, None),
        "phone" => (PropertyKind::Phone, None),
        "double" | "int" | "monetary" => (PropertyKind::Number, None),
        "date" => (PropertyKind::Date, None),
        "boolean" => (PropertyKind::Bool, None),
        "enum" => (PropertyKind::Enumeration, None),
        "set" => (PropertyKind::Checkboxes, None),
        "user" | "org" | "people" | "deal" | "deals" | "project" | "lead" => (
            PropertyKind::Text,
            Some("a field holding ids of other records or users"),
        ),
        other => (
            PropertyKind::Text,
            Some(match other {
                "address" => "an address field",
                "time" | "timerange" | "daterange" => "a time or range field",
                _ => "a field of a type crmsync does not copy",
            }),
        ),
    };
    PropertySpec {
        name: f.field_name.clone(),
        label: f.field_name.clone(),
        kind,
        options: f
            .options
            .iter()
            .flatten()
            .map(|o| OptionSpec {
                value: o.label.clone(),
                label: o.label.clone(),
            })
            .collect(),
        description: f.description.clone().unwrap_or_default(),
        group: None,
        unique: false,
        not_copyable: not_copyable.map(str::to_string),
    }
}

/// The nearest Pipedrive field type of a neutral kind. Pipedrive has no
/// true-or-false field: a bool is kept as text (`true`, `false`); a time
/// of day is dropped from a datetime.
fn type_of(kind: PropertyKind) -> &'static str {
    match kind {
        PropertyKind::Text | PropertyKind::Bool => "varchar",
        PropertyKind::Textarea | PropertyKind::Html => "text",
        PropertyKind::Phone => "phone",
        PropertyKind::Number => "double",
        PropertyKind::Date | PropertyKind::Datetime => "date",
        PropertyKind::Enumeration | PropertyKind::Radio => "enum",
        PropertyKind::Checkboxes => "set",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_kinds_map_to_the_nearest_field_type_and_back() {
        let field = |t: &str| Field {
            field_name: "Tier".into(),
            field_code: "abc".into(),
            field_type: t.into(),
            options: None,
            is_custom_field: true,
            description: None,
        };
        for (kind, back) in [
            (PropertyKind::Text, PropertyKind::Text),
            (PropertyKind::Number, PropertyKind::Number),
            (PropertyKind::Enumeration, PropertyKind::Enumeration),
            (PropertyKind::Radio, PropertyKind::Enumeration),
            (PropertyKind::Checkboxes, PropertyKind::Checkboxes),
            (PropertyKind::Datetime, PropertyKind::Date),
            (PropertyKind::Html, PropertyKind::Textarea),
        ] {
            assert_eq!(spec_of(&field(type_of(kind))).kind, back, "{kind}");
        }
        assert!(spec_of(&field("address")).not_copyable.is_some());
    }
}
