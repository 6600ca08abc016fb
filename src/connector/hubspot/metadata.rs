//! HubSpot's metadata: property definitions and deal pipelines, each
//! fetched once per run (`MetadataCache`), read into the field types a
//! mapping is checked against (`describe_fields`), the options of a field
//! (`labels_of`) and the catalog `init` writes a mapping file from
//! (`field_catalog`). Reads only; it must not write or read records.

use super::HubSpot;
use super::api::{Page, Pipeline, Property};
use super::fields::{relation_of, relations};
use crate::connector::catalog::{
    Dependency, FieldDescription, FieldInfo, FieldType, Meaning, OptionDescription,
    no_label_options,
};
use crate::connector::seam::Connector;
use crate::model::ObjectKind;
use anyhow::{Context, Result};

impl HubSpot {
    /// A metadata `results` list, fetched once per run.
    pub(super) fn metadata<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let body = self.metadata.get_or_fetch(path.to_string(), || {
            self.http
                .get(path, &[])
                .map(|reply| reply.body)
                .with_context(|| format!("reading {path} from {}", self.system()))
        })?;
        let page: Page<T> = self.parse(body, path)?;
        Ok(page.results)
    }

    /// `Connector::labels`: pipelines and stages from the pipelines API,
    /// anything else from the property definitions.
    pub(super) fn labels_of(
        &self,
        object: ObjectKind,
        field: &str,
    ) -> Result<Vec<(String, String)>> {
        if object == ObjectKind::Deals && (field == "dealstage" || field == "pipeline") {
            let pipelines: Vec<Pipeline> =
                self.metadata(&format!("/crm/pipelines/{}/deals", self.version))?;
            return Ok(if field == "pipeline" {
                pipelines.into_iter().map(|p| (p.id, p.label)).collect()
            } else {
                pipelines
                    .into_iter()
                    .flat_map(|p| p.stages)
                    .map(|s| (s.id, s.label))
                    .collect()
            });
        }
        let properties: Vec<Property> = self.metadata(&self.properties_path(object)?)?;
        match properties.into_iter().find(|p| p.name == field) {
            Some(p) if !p.options.is_empty() => {
                Ok(p.options.into_iter().map(|o| (o.value, o.label)).collect())
            }
            _ => Err(no_label_options(self.system(), object, "property", field)),
        }
    }

    /// `Connector::describe`, from the property definitions.
    pub(super) fn describe_fields(
        &self,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<Vec<Option<FieldInfo>>> {
        let properties: Vec<Property> = self.metadata(&self.properties_path(object)?)?;
        fields
            .iter()
            .map(|field| {
                if let Some(relation) = relation_of(object, field) {
                    return Ok(Some(FieldInfo {
                        kind: FieldType::Relation(relation.to),
                        read_only: false,
                        options: Vec::new(),
                        depends_on: None,
                    }));
                }
                let Some(p) = properties.iter().find(|p| &p.name == field) else {
                    return Ok(None);
                };
                let read_only = p.modification.as_ref().is_some_and(|m| m.read_only_value);
                let (kind, options) = match p.kind.as_str() {
                    "number" => (FieldType::Number, Vec::new()),
                    "date" | "datetime" => (FieldType::Date, Vec::new()),
                    "bool" => (FieldType::Bool, Vec::new()),
                    "enumeration"
                        if object == ObjectKind::Deals
                            && (field == "dealstage" || field == "pipeline") =>
                    {
                        (
                            FieldType::Choice,
                            self.labels_of(object, field)?
                                .into_iter()
                                .map(|(v, _)| v)
                                .collect(),
                        )
                    }
                    // Owner ids change as users come and go: checked per record.
                    "enumeration" if field == "hubspot_owner_id" => (FieldType::Choice, Vec::new()),
                    "enumeration" => (
                        FieldType::Choice,
                        p.options.iter().map(|o| o.value.clone()).collect(),
                    ),
                    _ => (FieldType::Text, Vec::new()),
                };
                // A deal's stage must be one of its pipeline's stages; a deal
                // written without a pipeline lands in the default one.
                let depends_on = if object == ObjectKind::Deals && field == "dealstage" {
                    let pipelines: Vec<Pipeline> =
                        self.metadata(&format!("/crm/pipelines/{}/deals", self.version))?;
                    Some(Dependency {
                        field: "pipeline".into(),
                        default: "default".into(),
                        options: pipelines
                            .into_iter()
                            .map(|p| (p.id, p.stages.into_iter().map(|s| s.id).collect()))
                            .collect(),
                    })
                } else {
                    None
                };
                Ok(Some(FieldInfo {
                    kind,
                    read_only,
                    options,
                    depends_on,
                }))
            })
            .collect()
    }

    /// `Connector::catalog`: the relation pseudo-fields, then every property.
    pub(super) fn field_catalog(&self, object: ObjectKind) -> Result<Vec<FieldDescription>> {
        let properties: Vec<Property> = self.metadata(&self.properties_path(object)?)?;
        let names: Vec<String> = properties.iter().map(|p| p.name.clone()).collect();
        let infos = self.describe_fields(object, &names)?;
        let pipelines: Vec<Pipeline> = if object == ObjectKind::Deals {
            self.metadata(&format!("/crm/pipelines/{}/deals", self.version))?
        } else {
            Vec::new()
        };
        let mut fields: Vec<FieldDescription> = relations(object)
            .iter()
            .map(|relation| FieldDescription {
                name: relation.field.to_string(),
                label: relation.label.to_string(),
                kind: FieldType::Relation(relation.to),
                multiple: relation.many,
                options: Vec::new(),
                read_only: false,
                is_custom: false,
                meaning: Some(Meaning::Related {
                    object: relation.to,
                    many: relation.many,
                }),
            })
            .collect();
        for (property, info) in properties.iter().zip(infos) {
            let Some(info) = info else { continue };
            let option = |value: &str, label: &str, group: Option<&str>| OptionDescription {
                value: value.to_string(),
                label: label.to_string(),
                group: group.map(str::to_string),
            };
            let meaning = meaning_of(object, &property.name);
            let options = match meaning {
                Some(Meaning::Pipeline) => pipelines
                    .iter()
                    .map(|p| option(&p.id, &p.label, None))
                    .collect(),
                Some(Meaning::Stage) => pipelines
                    .iter()
                    .flat_map(|p| {
                        p.stages
                            .iter()
                            .map(|s| option(&s.id, &s.label, Some(&p.id)))
                    })
                    .collect(),
                _ => property
                    .options
                    .iter()
                    .map(|o| option(&o.value, &o.label, None))
                    .collect(),
            };
            fields.push(FieldDescription {
                name: property.name.clone(),
                label: if property.label.is_empty() {
                    property.name.clone()
                } else {
                    property.label.clone()
                },
                kind: info.kind,
                multiple: property.field_type == "checkbox",
                options,
                read_only: info.read_only,
                is_custom: property.hubspot_defined != Some(true),
                meaning,
            });
        }
        Ok(fields)
    }
}

/// The properties every HubSpot account has that stand for a field every
/// CRM has (see `Meaning`).
fn meaning_of(object: ObjectKind, property: &str) -> Option<Meaning> {
    Some(match (object, property) {
        (ObjectKind::Contacts, "email") => Meaning::Email,
        (ObjectKind::Contacts, "firstname") => Meaning::FirstName,
        (ObjectKind::Contacts, "lastname") => Meaning::LastName,
        (ObjectKind::Contacts, "phone") => Meaning::Phone,
        (ObjectKind::Deals, "dealname") => Meaning::DealName,
        (ObjectKind::Deals, "amount") => Meaning::Amount,
        (ObjectKind::Deals, "closedate") => Meaning::CloseDate,
        (ObjectKind::Deals, "pipeline") => Meaning::Pipeline,
        (ObjectKind::Deals, "dealstage") => Meaning::Stage,
        (ObjectKind::Companies, "name") => Meaning::CompanyName,
        (ObjectKind::Companies, "domain") => Meaning::Domain,
        (ObjectKind::Notes, "hs_note_body") => Meaning::NoteBody,
        (ObjectKind::Notes, "hs_timestamp") => Meaning::NoteTime,
        (_, "hubspot_owner_id") => Meaning::Owner,
        _ => return None,
    })
}
