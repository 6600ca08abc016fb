//! HubSpot's side of `schema = "create"`: property definitions read as
//! vendor-neutral `PropertySpec`s, properties created through
//! `POST /crm/properties/{version}/{objectType}` and options added through
//! `PATCH …/{propertyName}` with the whole option list (HubSpot replaces
//! it). See <https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide>.
//!
//! A create whose answer was lost, or that meets a property of the same
//! name (409), is settled by reading the property back: one like it counts
//! as made, so a retried run never makes it twice. It writes no record.

use super::HubSpot;
use super::api::{
    OptionInput, OptionsUpdate, Property, PropertyCreate, PropertyGroup, PropertyOption,
};
use crate::connector::catalog::{OptionSpec, PropertyKind, PropertySpec, SchemaOutcome};
use crate::connector::http::{ApiError, Repeat};
use crate::connector::seam::Connector;
use crate::model::ObjectKind;
use anyhow::Result;

impl HubSpot {
    /// `Connector::properties`, from the property definitions.
    pub(super) fn property_specs(
        &self,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<Vec<Option<PropertySpec>>> {
        let properties: Vec<Property> = self.metadata(&self.properties_path(object)?)?;
        Ok(fields
            .iter()
            .map(|field| {
                if super::fields::relation_of(object, field).is_some() {
                    return Some(PropertySpec {
                        not_copyable: Some("a relation to other records".into()),
                        ..spec_of_kind(field, PropertyKind::Text)
                    });
                }
                properties.iter().find(|p| &p.name == field).map(spec_of)
            })
            .collect())
    }

    /// `Connector::create_property`.
    pub(super) fn create_property_like(
        &self,
        object: ObjectKind,
        spec: &PropertySpec,
    ) -> Result<SchemaOutcome> {
        let path = self.properties_path(object)?;
        let groups: Vec<PropertyGroup> = self.metadata(&format!("{path}/groups"))?;
        // The source's group where this account has it, else the object's
        // default information group, which every account has.
        let group = spec
            .group
            .clone()
            .filter(|g| groups.iter().any(|have| &have.name == g))
            .unwrap_or_else(|| default_group(object).to_string());
        let (kind, field_type) = type_of(spec.kind);
        let body = PropertyCreate {
            name: spec.name.clone(),
            label: spec.label.clone(),
            kind,
            field_type,
            group_name: group,
            description: spec.description.clone(),
            options: option_inputs(&spec.options),
            has_unique_value: spec.unique,
        };
        let body = serde_json::to_value(&body)?;
        let sent = self.http.post(&path, &body, Repeat::OnlyIfUnsent);
        match sent {
            Ok(reply) => {
                // The definitions this run read take in the answer: the
                // writes that follow know the property without reading
                // them all again.
                let answer = reply.body.clone();
                self.metadata.update(&path, |page| {
                    if let Some(results) = page["results"].as_array_mut() {
                        results.push(answer);
                    }
                });
                let made: Property = self.parse(reply.body, "created property")?;
                Ok(SchemaOutcome::Done {
                    key: made.name.clone(),
                    spec: spec_of(&made),
                })
            }
            // A property of that name is there already: made by an
            // earlier attempt whose answer was lost, or by someone else.
            Err(ApiError::Rejected { status: 409, .. }) => {
                self.metadata.forget(&path);
                self.settle_existing(object, spec)
            }
            Err(ApiError::Rejected { message, .. }) => Ok(SchemaOutcome::Refused(message)),
            // The answer was lost: it may have been made.
            Err(e @ (ApiError::Unavailable { .. } | ApiError::Malformed { .. })) => {
                self.metadata.forget(&path);
                match self.read_property(object, &spec.name)? {
                    Some(_) => self.settle_existing(object, spec),
                    None => Err(anyhow::Error::new(e).context(format!(
                        "creating property {} on {}",
                        spec.name,
                        self.system()
                    ))),
                }
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "creating property {} on {}",
                spec.name,
                self.system()
            ))),
        }
    }

    /// A create that met a property of the same name: made, if that one
    /// is of the same kind; refused otherwise.
    fn settle_existing(&self, object: ObjectKind, spec: &PropertySpec) -> Result<SchemaOutcome> {
        let Some(found) = self.read_property(object, &spec.name)? else {
            return Ok(SchemaOutcome::Refused(format!(
                "{} answered that property {} exists, but does not show it",
                self.system(),
                spec.name
            )));
        };
        let found = spec_of(&found);
        if found.kind == spec.kind {
            Ok(SchemaOutcome::Done {
                key: found.name.clone(),
                spec: found,
            })
        } else {
            Ok(SchemaOutcome::Refused(format!(
                "{} already has a property {} of another kind ({}, not {})",
                self.system(),
                spec.name,
                found.kind,
                spec.kind
            )))
        }
    }

    /// One property's definition, read now (not from the run's cache);
    /// `None` when the account has no such property.
    fn read_property(&self, object: ObjectKind, name: &str) -> Result<Option<Property>> {
        let path = format!("{}/{name}", self.properties_path(object)?);
        match self.http.get(&path, &[]) {
            Ok(reply) => Ok(Some(self.parse(reply.body, "property")?)),
            Err(ApiError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("reading property {name} from {}", self.system()))),
        }
    }

    /// `Connector::add_options`: the property's own options exactly as
    /// they are (hidden, described, ordered), then the new ones after the
    /// highest display order, sent as one list because HubSpot replaces it
    /// (https://developers.hubspot.com/docs/api/crm/properties).
    pub(super) fn add_property_options(
        &self,
        object: ObjectKind,
        field: &str,
        options: &[OptionSpec],
    ) -> Result<SchemaOutcome> {
        let Some(current) = self.read_property(object, field)? else {
            return Ok(SchemaOutcome::Refused(format!(
                "{} has no property {field} to add options to",
                self.system()
            )));
        };
        // Every option already there (added since the plan was made): no
        // update is sent, the property is as the plan wants it.
        let Some(list) = options_with(&current.options, options) else {
            return Ok(SchemaOutcome::Done {
                key: current.name.clone(),
                spec: spec_of(&current),
            });
        };
        let body = serde_json::to_value(OptionsUpdate { options: list })?;
        let path = format!("{}/{field}", self.properties_path(object)?);
        let sent = self.http.patch(&path, &body);
        self.metadata.forget(&self.properties_path(object)?);
        match sent {
            Ok(reply) => {
                let made: Property = self.parse(reply.body, "updated property")?;
                Ok(SchemaOutcome::Done {
                    key: made.name.clone(),
                    spec: spec_of(&made),
                })
            }
            Err(ApiError::Rejected { message, .. }) => Ok(SchemaOutcome::Refused(message)),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("adding options to {field} on {}", self.system()))),
        }
    }
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

/// A property definition in neutral terms, with the reason another account
/// could not be given one like it.
fn spec_of(p: &Property) -> PropertySpec {
    let kind = match (p.kind.as_str(), p.field_type.as_str()) {
        ("number", _) => PropertyKind::Number,
        ("date", _) => PropertyKind::Date,
        ("datetime", _) => PropertyKind::Datetime,
        ("bool", _) | ("enumeration", "booleancheckbox") => PropertyKind::Bool,
        ("enumeration", "radio") => PropertyKind::Radio,
        ("enumeration", "checkbox") => PropertyKind::Checkboxes,
        ("enumeration", _) => PropertyKind::Enumeration,
        ("phone_number", _) | (_, "phonenumber") => PropertyKind::Phone,
        (_, "textarea") => PropertyKind::Textarea,
        (_, "html") => PropertyKind::Html,
        _ => PropertyKind::Text,
    };
    let read_only = p.modification.as_ref().is_some_and(|m| m.read_only_value);
    let not_copyable = if p.field_type.starts_with("calculation_")
        || p.calculation_formula.is_some()
    {
        Some("a calculated property: its values come from a formula, which the API does not copy")
    } else if p.hubspot_defined == Some(true) {
        Some("a property HubSpot defines")
    } else if read_only {
        Some("a read-only property")
    } else if p.field_type == "file" {
        Some("a file property: its values are files of the account")
    } else if p.external_options {
        Some("its options are the account's users")
    } else {
        None
    };
    PropertySpec {
        name: p.name.clone(),
        label: if p.label.is_empty() {
            p.name.clone()
        } else {
            p.label.clone()
        },
        kind,
        options: p
            .options
            .iter()
            .map(|o| OptionSpec {
                value: o.value.clone(),
                label: o.label.clone(),
            })
            .collect(),
        description: p.description.clone(),
        group: p.group_name.clone(),
        unique: p.has_unique_value,
        not_copyable: not_copyable.map(str::to_string),
    }
}

/// HubSpot's `type` and `fieldType` for a neutral kind (valid pairs only).
fn type_of(kind: PropertyKind) -> (&'static str, &'static str) {
    match kind {
        PropertyKind::Text => ("string", "text"),
        PropertyKind::Textarea => ("string", "textarea"),
        PropertyKind::Html => ("string", "html"),
        PropertyKind::Phone => ("string", "phonenumber"),
        PropertyKind::Number => ("number", "number"),
        PropertyKind::Date => ("date", "date"),
        PropertyKind::Datetime => ("datetime", "date"),
        PropertyKind::Bool => ("bool", "booleancheckbox"),
        PropertyKind::Enumeration => ("enumeration", "select"),
        PropertyKind::Radio => ("enumeration", "radio"),
        PropertyKind::Checkboxes => ("enumeration", "checkbox"),
    }
}

/// The information group every account has for an object's properties.
fn default_group(object: ObjectKind) -> &'static str {
    match object {
        ObjectKind::Deals => "dealinformation",
        ObjectKind::Companies => "companyinformation",
        _ => "contactinformation",
    }
}

fn option_inputs(options: &[OptionSpec]) -> Vec<OptionInput> {
    options
        .iter()
        .enumerate()
        .map(|(i, o)| new_option(o, i as i32))
        .collect()
}

fn new_option(option: &OptionSpec, display_order: i32) -> OptionInput {
    OptionInput {
        label: option.label.clone(),
        value: option.value.clone(),
        display_order,
        hidden: false,
        description: None,
    }
}

/// The option list of an update: every existing option unchanged, then
/// the wanted ones it lacks, numbered on from the highest display order;
/// `None` when none is new (nothing to send). An existing option without a
/// display order keeps HubSpot's "after the numbered ones" (-1).
fn options_with(existing: &[PropertyOption], wanted: &[OptionSpec]) -> Option<Vec<OptionInput>> {
    let mut list: Vec<OptionInput> = existing
        .iter()
        .map(|o| OptionInput {
            label: o.label.clone(),
            value: o.value.clone(),
            display_order: o.display_order.unwrap_or(-1),
            hidden: o.hidden,
            description: o.description.clone(),
        })
        .collect();
    let mut next = list.iter().map(|o| o.display_order).max().unwrap_or(-1) + 1;
    for option in wanted {
        if !list.iter().any(|o| o.value == option.value) {
            list.push(new_option(option, next));
            next += 1;
        }
    }
    (list.len() > existing.len()).then_some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_already_there_leave_nothing_to_send_and_new_ones_follow_the_propertys_own() {
        let option = |v: &str| OptionSpec {
            value: v.into(),
            label: v.to_uppercase(),
        };
        let held: Vec<PropertyOption> = serde_json::from_value(serde_json::json!([
            {"label": "B", "value": "b", "displayOrder": 0, "hidden": false},
            {"label": "A", "value": "a", "displayOrder": 1, "hidden": false},
        ]))
        .expect("options");
        let values =
            |list: &[OptionInput]| list.iter().map(|o| o.value.clone()).collect::<Vec<_>>();
        assert!(options_with(&held, &[option("a"), option("b")]).is_none());
        assert!(options_with(&held, &[]).is_none());
        let list = options_with(&held, &[option("c"), option("a"), option("c")]).expect("c is new");
        assert_eq!(values(&list), ["b", "a", "c"]);
    }

    #[test]
    fn every_kind_round_trips_through_a_valid_type_pair() {
        for kind in [
            PropertyKind::Text,
            PropertyKind::Textarea,
            PropertyKind::Html,
            PropertyKind::Phone,
            PropertyKind::Number,
            PropertyKind::Date,
            PropertyKind::Datetime,
            PropertyKind::Bool,
            PropertyKind::Enumeration,
            PropertyKind::Radio,
            PropertyKind::Checkboxes,
        ] {
            let (t, f) = type_of(kind);
            let p: Property = serde_json::from_value(serde_json::json!({
                "name": "x", "label": "X", "type": t, "fieldType": f, "options": []
            }))
            .expect("a property");
            assert_eq!(spec_of(&p).kind, kind, "{t}/{f}");
        }
    }

    #[test]
    fn calculated_and_read_only_properties_say_why_they_cannot_be_copied() {
        let p: Property = serde_json::from_value(serde_json::json!({
            "name": "score", "label": "Score", "type": "number",
            "fieldType": "calculation_equation", "calculationFormula": "a + b"
        }))
        .expect("a property");
        assert!(
            spec_of(&p)
                .not_copyable
                .expect("refused")
                .contains("calculated")
        );
        let p: Property = serde_json::from_value(serde_json::json!({
            "name": "x", "label": "X", "type": "string", "fieldType": "text",
            "modificationMetadata": {"readOnlyValue": true, "readOnlyDefinition": true, "archivable": false}
        }))
        .expect("a property");
        assert_eq!(
            spec_of(&p).not_copyable.as_deref(),
            Some("a read-only property")
        );
    }

    #[test]
    fn an_option_update_keeps_existing_options_as_they_are_and_appends_after_the_last() {
        let existing: Vec<PropertyOption> = serde_json::from_value(serde_json::json!([
            {"label": "Gold", "value": "gold", "displayOrder": 4, "hidden": false,
             "description": "Top tier"},
            {"label": "Old", "value": "old", "displayOrder": 7, "hidden": true},
            {"label": "Silver", "value": "silver", "hidden": false},
        ]))
        .expect("options");
        let wanted = [
            OptionSpec {
                value: "gold".into(),
                label: "Gold".into(),
            },
            OptionSpec {
                value: "platinum".into(),
                label: "Platinum".into(),
            },
        ];
        let sent =
            serde_json::to_value(options_with(&existing, &wanted).expect("one new")).expect("json");
        assert_eq!(
            sent,
            serde_json::json!([
                {"label": "Gold", "value": "gold", "displayOrder": 4, "hidden": false,
                 "description": "Top tier"},
                {"label": "Old", "value": "old", "displayOrder": 7, "hidden": true},
                {"label": "Silver", "value": "silver", "displayOrder": -1, "hidden": false},
                {"label": "Platinum", "value": "platinum", "displayOrder": 8, "hidden": false},
            ])
        );
    }
}
