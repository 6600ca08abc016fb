//! Pipedrive's metadata: the fields API per object (fetched once per run,
//! `MetadataCache`), the mapping file's field names resolved through it
//! (built-ins by name, custom fields by key or display name), stage and
//! pipeline lists, and from them `describe`, `labels` and the catalog
//! `init` reads. Reads only; it must not write or read records.

use super::Pipedrive;
use super::api::{Field, Named};
use super::fields::{FieldKind, builtins, scope_fields, text};
use crate::connector::catalog::{
    FieldDescription, FieldInfo, FieldType, MappingMismatch, Meaning, OptionDescription,
    no_label_options,
};
use crate::connector::seam::Connector;
use crate::model::ObjectKind;
use anyhow::{Context, Result};
use std::sync::Arc;

impl Pipedrive {
    /// The fields API's answer for an object, fetched once per run.
    pub(super) fn metadata(&self, object: ObjectKind) -> Result<Arc<Vec<Field>>> {
        // A note has no fields API in v2: crmsync maps its built-in fields
        // only (`NOTE_FIELDS`).
        let Some(path) = Self::fields_path(object) else {
            return Ok(Arc::new(Vec::new()));
        };
        self.schemas.get_or_fetch(object, || {
            let fields: Vec<Field> = self
                .all_pages(path, &[])
                .with_context(|| format!("reading the {object} fields of {}", self.system()))?;
            Ok(Arc::new(fields))
        })
    }

    /// How the mapping file's field `name` is read and written: a built-in
    /// by name, else a custom field by key or (case-insensitive) display
    /// name; `None` when the account has no such field.
    pub(super) fn find(&self, object: ObjectKind, name: &str) -> Result<Option<FieldKind>> {
        if let Some((_, kind)) = builtins(object)
            .iter()
            .chain(scope_fields(object))
            .find(|(n, _)| *n == name)
        {
            return Ok(Some(kind.clone()));
        }
        let schema = self.metadata(object)?;
        let custom = || schema.iter().filter(|f| f.is_custom_field);
        // A field crmsync created under a name its label does not spell is
        // found by the key it recorded.
        let learned = self.learned_key(object, name);
        let found = custom()
            .find(|f| f.field_code == name || Some(&f.field_code) == learned.as_ref())
            .or_else(|| custom().find(|f| f.field_name.eq_ignore_ascii_case(name)));
        Ok(found.map(|field| FieldKind::Custom(field.clone())))
    }

    /// Resolves the mapping file's field names (`find`); a name the account
    /// does not have is a `MappingMismatch` naming the fields it has.
    pub(super) fn resolve(
        &self,
        object: ObjectKind,
        names: &[String],
    ) -> Result<Vec<(String, FieldKind)>> {
        let mut resolved = Vec::new();
        for name in names {
            let Some(kind) = self.find(object, name)? else {
                let schema = self.metadata(object)?;
                let custom: Vec<_> = schema
                    .iter()
                    .filter(|f| f.is_custom_field)
                    .map(|f| f.field_name.as_str())
                    .collect();
                let builtin: Vec<_> = builtins(object).iter().map(|(n, _)| *n).collect();
                return Err(MappingMismatch(format!(
                    "{}.{object} has no field `{name}`; use one of {} or a custom field's name or key ({})",
                    self.system(),
                    builtin.join(", "),
                    if custom.is_empty() { "none defined".to_string() } else { custom.join(", ") }
                ))
                .into());
            };
            resolved.push((name.clone(), kind));
        }
        Ok(resolved)
    }

    /// A stages or pipelines list, read whole.
    pub(super) fn named(&self, path: &str) -> Result<Vec<Named>> {
        self.all_pages(path, &[])
            .with_context(|| format!("reading {path} from {}", self.system()))
    }

    /// `Connector::labels`: stages and pipelines by their lists, custom
    /// fields by their options (read and written as labels).
    pub(super) fn labels_of(
        &self,
        object: ObjectKind,
        field: &str,
    ) -> Result<Vec<(String, String)>> {
        let named = |path: &str| -> Result<Vec<(String, String)>> {
            Ok(self
                .named(path)?
                .into_iter()
                .map(|n| (n.id.to_string(), n.name))
                .collect())
        };
        match (object, field) {
            (ObjectKind::Deals, "stage_id") => named("/api/v2/stages"),
            (ObjectKind::Deals, "pipeline_id") => named("/api/v2/pipelines"),
            _ => match self.resolve(object, &[field.to_string()])?.pop() {
                // Enum and set values are already read as their labels.
                Some((_, FieldKind::Custom(f)))
                    if f.options.as_ref().is_some_and(|o| !o.is_empty()) =>
                {
                    Ok(f.options
                        .iter()
                        .flatten()
                        .map(|o| (o.label.clone(), o.label.clone()))
                        .collect())
                }
                _ => Err(no_label_options(self.system(), object, "field", field)),
            },
        }
    }

    /// `Connector::describe`: built-ins by the connector's table, custom
    /// fields by the fields API.
    pub(super) fn describe_fields(
        &self,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<Vec<Option<FieldInfo>>> {
        fields
            .iter()
            .map(|field| {
                let Some(kind) = self.find(object, field)? else {
                    return Ok(None);
                };
                let choice = |options: Vec<String>| (FieldType::Choice, options);
                let (kind, options) = match (object, field.as_str(), kind) {
                    (ObjectKind::Deals, "stage_id" | "pipeline_id", _) => choice(
                        self.labels_of(object, field)?
                            .into_iter()
                            .map(|(v, _)| v)
                            .collect(),
                    ),
                    (ObjectKind::Deals, "status", _) => {
                        choice(vec!["open".into(), "won".into(), "lost".into()])
                    }
                    (ObjectKind::Deals | ObjectKind::Notes, "person_id", _) => {
                        (FieldType::Relation(ObjectKind::Persons), Vec::new())
                    }
                    (ObjectKind::Notes, "deal_id", _) => {
                        (FieldType::Relation(ObjectKind::Deals), Vec::new())
                    }
                    (ObjectKind::Persons | ObjectKind::Deals | ObjectKind::Notes, "org_id", _) => {
                        (FieldType::Relation(ObjectKind::Organizations), Vec::new())
                    }
                    (_, _, FieldKind::Number | FieldKind::Integer) => {
                        (FieldType::Number, Vec::new())
                    }
                    (_, _, FieldKind::Date | FieldKind::Time) => (FieldType::Date, Vec::new()),
                    // The company's labels, by the ids records hold.
                    (_, _, FieldKind::Labels) => choice(
                        self.metadata(object)?
                            .iter()
                            .filter(|f| !f.is_custom_field && f.field_code == *field)
                            .flat_map(|f| f.options.iter().flatten())
                            .map(|o| text(Some(&o.id)))
                            .collect(),
                    ),
                    (_, _, FieldKind::Custom(f)) => match f.field_type.as_str() {
                        "enum" | "set" => choice(
                            f.options
                                .iter()
                                .flatten()
                                .map(|o| o.label.clone())
                                .collect(),
                        ),
                        "double" | "int" | "monetary" => (FieldType::Number, Vec::new()),
                        "date" => (FieldType::Date, Vec::new()),
                        _ => (FieldType::Text, Vec::new()),
                    },
                    _ => (FieldType::Text, Vec::new()),
                };
                Ok(Some(FieldInfo {
                    kind,
                    read_only: false,
                    options,
                    depends_on: None,
                }))
            })
            .collect()
    }

    /// `Connector::catalog`: every built-in, then every custom field.
    pub(super) fn field_catalog(&self, object: ObjectKind) -> Result<Vec<FieldDescription>> {
        let schema = self.metadata(object)?;
        let custom: Vec<&Field> = schema.iter().filter(|f| f.is_custom_field).collect();
        // A custom field is named by its display name where that names it
        // alone (the mapping file reads better), else by its key.
        let custom_name = |field: &Field| {
            let shared = builtins(object)
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(&field.field_name))
                || custom
                    .iter()
                    .filter(|f| f.field_name.eq_ignore_ascii_case(&field.field_name))
                    .count()
                    > 1;
            if shared {
                field.field_code.clone()
            } else {
                field.field_name.clone()
            }
        };
        let mut names: Vec<String> = builtins(object)
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        names.extend(custom.iter().map(|f| custom_name(f)));
        let infos = self.describe_fields(object, &names)?;
        let (pipelines, stages) = if object == ObjectKind::Deals {
            (
                self.named("/api/v2/pipelines")?,
                self.named("/api/v2/stages")?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let option = |value: String, label: &str, group: Option<i64>| OptionDescription {
            value,
            label: label.to_string(),
            group: group.map(|g| g.to_string()),
        };
        let mut fields = Vec::new();
        for (name, info) in names.iter().zip(infos) {
            let Some(info) = info else { continue };
            let field = schema
                .iter()
                .find(|f| f.field_code == *name || (f.is_custom_field && custom_name(f) == *name));
            let meaning = meaning_of(object, name);
            let options = match meaning {
                Some(Meaning::Pipeline) => pipelines
                    .iter()
                    .map(|p| option(p.id.to_string(), &p.name, None))
                    .collect(),
                Some(Meaning::Stage) => stages
                    .iter()
                    .map(|s| option(s.id.to_string(), &s.name, s.pipeline_id))
                    .collect(),
                _ => match field.and_then(|f| f.options.as_ref()) {
                    // Custom options are read and written by their labels.
                    Some(options) if field.is_some_and(|f| f.is_custom_field) => options
                        .iter()
                        .map(|o| option(o.label.clone(), &o.label, None))
                        .collect(),
                    Some(options) => options
                        .iter()
                        .map(|o| option(text(Some(&o.id)), &o.label, None))
                        .collect(),
                    None => Vec::new(),
                },
            };
            let field_type = field.map_or("", |f| f.field_type.as_str());
            // Ids of other records or users: only a `link:` or owner map
            // could carry them to another account.
            // (A user field holds ids of the account's users, the people
            // who own records: persons of the account, to crmsync.)
            let refers_to = match field_type {
                "org" => Some(ObjectKind::Organizations),
                "people" | "user" => Some(ObjectKind::Persons),
                _ => None,
            };
            let kind = match refers_to {
                Some(object) if meaning.is_none() => FieldType::Relation(object),
                _ => info.kind,
            };
            fields.push(FieldDescription {
                name: name.clone(),
                label: field.map_or_else(|| name.clone(), |f| f.field_name.clone()),
                kind,
                multiple: field_type == "set",
                options,
                read_only: info.read_only,
                is_custom: field.is_some_and(|f| f.is_custom_field),
                meaning,
            });
        }
        Ok(fields)
    }
}

/// The built-in fields that stand for a field every CRM has (see `Meaning`).
fn meaning_of(object: ObjectKind, field: &str) -> Option<Meaning> {
    Some(match (object, field) {
        (ObjectKind::Persons, "email") => Meaning::Email,
        (ObjectKind::Persons, "first_name") => Meaning::FirstName,
        (ObjectKind::Persons, "last_name") => Meaning::LastName,
        (ObjectKind::Persons, "phone") => Meaning::Phone,
        (ObjectKind::Deals, "title") => Meaning::DealName,
        (ObjectKind::Deals, "value") => Meaning::Amount,
        (ObjectKind::Deals, "expected_close_date") => Meaning::CloseDate,
        (ObjectKind::Deals, "pipeline_id") => Meaning::Pipeline,
        (ObjectKind::Deals, "stage_id") => Meaning::Stage,
        (ObjectKind::Deals, "person_id") => Meaning::Related {
            object: ObjectKind::Persons,
            many: false,
        },
        (ObjectKind::Organizations, "name") => Meaning::CompanyName,
        // A URL, compared as a web domain: HubSpot's `domain` pairs with it.
        (ObjectKind::Organizations, "website") => Meaning::Domain,
        (ObjectKind::Persons | ObjectKind::Deals | ObjectKind::Notes, "org_id") => {
            Meaning::Related {
                object: ObjectKind::Organizations,
                many: false,
            }
        }
        (ObjectKind::Notes, "person_id") => Meaning::Related {
            object: ObjectKind::Persons,
            many: false,
        },
        (ObjectKind::Notes, "deal_id") => Meaning::Related {
            object: ObjectKind::Deals,
            many: false,
        },
        (ObjectKind::Notes, "content") => Meaning::NoteBody,
        (ObjectKind::Notes, "add_time") => Meaning::NoteTime,
        (ObjectKind::Notes, "user_id") => Meaning::Owner,
        (_, "owner_id") => Meaning::Owner,
        _ => return None,
    })
}
