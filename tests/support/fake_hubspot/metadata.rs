//! The account's metadata: the default property schema of each object and
//! the default deal pipeline, and the answers of the properties, owners and
//! pipelines endpoints.

use super::reads::{cursor, cut_page, page_limit, with_paging};
use super::store::{Answer, Failure, HubSpotState, Kind, Owner, Pipeline};
use super::{ADDITIONAL_EMAILS, MAX_OWNER_PAGE, MERGED_IDS, OptionAttributes, PropertyDef};
use crate::support::server::{Request, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn default_schema(kind: Kind) -> Vec<PropertyDef> {
    let def = PropertyDef::new;
    let mut schema = match kind {
        Kind::Contacts => vec![
            PropertyDef {
                unique: true,
                ..def("email", "Email", "string")
            },
            def("firstname", "First Name", "string"),
            def("lastname", "Last Name", "string"),
            def("phone", "Phone Number", "string"),
            def("company", "Company Name", "string"),
            def("jobtitle", "Job Title", "string"),
            PropertyDef {
                options: [
                    ("subscriber", "Subscriber"),
                    ("lead", "Lead"),
                    ("marketingqualifiedlead", "Marketing Qualified Lead"),
                    ("salesqualifiedlead", "Sales Qualified Lead"),
                    ("opportunity", "Opportunity"),
                    ("customer", "Customer"),
                    ("evangelist", "Evangelist"),
                    ("other", "Other"),
                ]
                .map(|(v, l)| (v.to_string(), l.to_string()))
                .to_vec(),
                ..def("lifecyclestage", "Lifecycle Stage", "enumeration")
            },
            def("hubspot_owner_id", "Contact owner", "enumeration"),
        ],
        Kind::Deals => vec![
            def("dealname", "Deal Name", "string"),
            def("amount", "Amount", "number"),
            def("dealstage", "Deal Stage", "enumeration"),
            def("pipeline", "Pipeline", "enumeration"),
            def("closedate", "Close Date", "date"),
            def("hubspot_owner_id", "Deal owner", "enumeration"),
        ],
        // `domain` is not unique by default: HubSpot deduplicates companies
        // by domain only when they are created in its UI or by its own
        // automation, never on the API's batch create.
        Kind::Companies => vec![
            def("name", "Company name", "string"),
            def("domain", "Company Domain Name", "string"),
            def("website", "Website URL", "string"),
            def("phone", "Phone Number", "string"),
            def("city", "City", "string"),
            def("industry", "Industry", "string"),
            def("hubspot_owner_id", "Company owner", "enumeration"),
        ],
        Kind::Notes => vec![
            def("hs_note_body", "Note body", "string"),
            def("hs_timestamp", "Activity date", "datetime"),
            def("hubspot_owner_id", "Activity assigned to", "enumeration"),
        ],
    };
    let mut read_only = vec![
        def("hs_object_id", "Record ID", "number"),
        def("createdate", "Create Date", "datetime"),
        def(kind.info().modified, "Last Modified Date", "datetime"),
    ];
    if kind != Kind::Notes {
        // Set by merges only, semicolon-separated (HubSpot's "Merged record
        // IDs" property). HubSpot types it as a multi-value field; the fake
        // lists it as a string, which is what every read returns.
        read_only.push(def(MERGED_IDS, "Merged record IDs", "string"));
    }
    if kind == Kind::Contacts {
        // The other emails of a contact, semicolon-separated; a merge fills it.
        read_only.push(def(
            ADDITIONAL_EMAILS,
            "Additional email addresses",
            "string",
        ));
    }
    schema.extend(read_only.into_iter().map(|d| PropertyDef {
        read_only: true,
        ..d
    }));
    schema
}

pub(super) fn default_pipeline() -> Pipeline {
    let stages = [
        ("appointmentscheduled", "Appointment Scheduled"),
        ("qualifiedtobuy", "Qualified To Buy"),
        ("presentationscheduled", "Presentation Scheduled"),
        ("decisionmakerboughtin", "Decision Maker Bought-In"),
        ("contractsent", "Contract Sent"),
        ("closedwon", "Closed Won"),
        ("closedlost", "Closed Lost"),
    ];
    let stages = stages.map(|(s, l)| (s.to_string(), l.to_string())).to_vec();
    Pipeline {
        id: "default".into(),
        label: "Sales Pipeline".into(),
        stages,
    }
}

impl HubSpotState {
    pub(super) fn properties_json(&self, kind: Kind) -> Value {
        // HubSpot marks the properties it defines; the account's own have
        // no `hubspotDefined`.
        let defaults = default_schema(kind);
        let describe = |d: &PropertyDef| {
            let hubspot_defined = defaults.iter().any(|p| p.name == d.name);
            let options = self.options(d, None);
            let options: Vec<Value> = (options.iter().enumerate())
                .map(|(i, (v, l))| match d.option_attributes.get(v) {
                    None => json!({ "label": l, "value": v, "displayOrder": i, "hidden": false }),
                    Some(a) => {
                        let mut option = json!({
                            "label": l, "value": v, "displayOrder": a.display_order, "hidden": a.hidden,
                        });
                        if let Some(description) = &a.description {
                            option["description"] = json!(description);
                        }
                        option
                    }
                })
                .collect();
            let group = d.group.as_deref().unwrap_or(kind.info().default_group);
            let mut property = json!({
                "name": d.name, "label": d.label, "type": d.kind, "fieldType": d.field_type(),
                "description": d.description, "groupName": group,
                "options": options, "hasUniqueValue": d.unique,
                "modificationMetadata": {
                    "readOnlyValue": d.read_only, "readOnlyDefinition": hubspot_defined,
                    "archivable": !d.read_only,
                },
            });
            if hubspot_defined {
                property["hubspotDefined"] = json!(true);
            }
            if let Some(formula) = &d.formula {
                property["calculationFormula"] = json!(formula);
            }
            property
        };
        json!({ "results": self.schemas[&kind].iter().map(describe).collect::<Vec<_>>() })
    }

    /// One property as `GET …/{propertyName}` shows it.
    fn property_json(&self, kind: Kind, name: &str) -> Option<Value> {
        let all = self.properties_json(kind);
        let found = all["results"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name);
        found.cloned()
    }

    pub(super) fn property_answer(&self, kind: Kind, name: &str) -> Answer {
        match self.property_json(kind, name) {
            Some(property) => Ok(Response::json(200, &property)),
            None => Err(Failure {
                category: "OBJECT_NOT_FOUND",
                message: format!("Unable to find property with name {name}"),
            }),
        }
    }

    /// The property groups of an object: its information group, and every
    /// group a defined property names.
    fn groups(&self, kind: Kind) -> Vec<String> {
        let mut groups = vec![kind.info().default_group.to_string()];
        for d in &self.schemas[&kind] {
            if let Some(g) = &d.group
                && !groups.contains(g)
            {
                groups.push(g.clone());
            }
        }
        groups
    }

    pub(super) fn groups_json(&self, kind: Kind) -> Value {
        let results: Vec<Value> = (self.groups(kind).iter().enumerate())
            .map(|(i, g)| json!({ "name": g, "label": g, "displayOrder": i, "archived": false }))
            .collect();
        json!({ "results": results })
    }

    /// `POST /crm/properties/{version}/{objectType}` (`PropertyCreate`):
    /// the five required keys, a valid `type`/`fieldType` pair, a name of
    /// lower-case letters, digits and underscores that HubSpot does not
    /// reserve, a known group, options (with all four keys) for an
    /// enumeration, and 409 for a name the object has.
    pub(super) fn create_property(&mut self, kind: Kind, body: &Value) -> Answer {
        let text = |key: &str| -> Result<String, Failure> {
            match body.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => {
                    Err(format!("Property values were not valid: {key} must be a string").into())
                }
                None => Err(format!("Property values were not valid: {key} is required").into()),
            }
        };
        let (name, label, type_, field_type, group) = (
            text("name")?,
            text("label")?,
            text("type")?,
            text("fieldType")?,
            text("groupName")?,
        );
        let valid_name = name.len() <= 100
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.starts_with("hs_");
        if !valid_name {
            return Err(format!(
                "Property name \"{name}\" is invalid: use lower-case letters, digits and underscores, starting with a letter (not hs_)"
            )
            .into());
        }
        let pairs: &[&str] = match type_.as_str() {
            "bool" => &["booleancheckbox", "calculation_equation"],
            "enumeration" => &[
                "booleancheckbox",
                "checkbox",
                "radio",
                "select",
                "calculation_equation",
            ],
            "date" | "datetime" => &["date"],
            "string" => &[
                "file",
                "text",
                "textarea",
                "html",
                "phonenumber",
                "calculation_equation",
            ],
            "number" => &["number", "calculation_equation"],
            "phone_number" => &["phonenumber"],
            other => return Err(format!("Invalid property type: {other}").into()),
        };
        if !pairs.contains(&field_type.as_str()) {
            return Err(
                format!("fieldType {field_type} is not valid for a {type_} property").into(),
            );
        }
        if field_type == "calculation_equation" && body.get("calculationFormula").is_none() {
            return Err("A calculated property needs a calculationFormula".into());
        }
        if !self.groups(kind).contains(&group) {
            return Err(format!("Property group {group} does not exist").into());
        }
        if self.property(kind, &name).is_some() {
            return Err(Failure {
                category: "CONFLICT",
                message: format!("A property named '{name}' already exists."),
            });
        }
        let (options, option_attributes) = match body.get("options") {
            None if type_ == "enumeration" && field_type != "booleancheckbox" => {
                return Err("Options are required for enumeration properties".into());
            }
            None => (Vec::new(), BTreeMap::new()),
            Some(list) => option_list(list)?,
        };
        let description = match body.get("description") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        self.unique_index.replace(None);
        let def = PropertyDef {
            options,
            option_attributes,
            unique: body["hasUniqueValue"] == true,
            field_type: Some(field_type),
            description,
            group: (group != kind.info().default_group).then_some(group),
            formula: body["calculationFormula"].as_str().map(str::to_string),
            ..PropertyDef::new(&name, &label, &type_)
        };
        self.schemas.entry(kind).or_default().push(def);
        let made = self.property_json(kind, &name).expect("just made");
        Ok(Response::json(201, &made))
    }

    /// `PATCH …/{propertyName}` (`PropertyUpdate`): the keys given are
    /// overwritten; `options` replaces the whole option list.
    pub(super) fn update_property(&mut self, kind: Kind, name: &str, body: &Value) -> Answer {
        if self.property(kind, name).is_none() {
            return Err(Failure {
                category: "OBJECT_NOT_FOUND",
                message: format!("Unable to find property with name {name}"),
            });
        }
        let options = body.get("options").map(option_list).transpose()?;
        let schema = self.schemas.get_mut(&kind).expect("a schema");
        let def = schema.iter_mut().find(|d| d.name == name).expect("checked");
        if def.read_only {
            return Err(format!("Property {name} is read-only and cannot be updated").into());
        }
        if let Some((options, attributes)) = options {
            if def.kind != "enumeration" {
                return Err(format!("Property {name} has no options").into());
            }
            def.options = options;
            def.option_attributes = attributes;
        }
        if let Some(label) = body["label"].as_str() {
            def.label = label.to_string();
        }
        if let Some(description) = body["description"].as_str() {
            def.description = description.to_string();
        }
        let updated = self.property_json(kind, name).expect("a property");
        Ok(Response::json(200, &updated))
    }

    pub(super) fn list_owners(&self, req: &Request) -> Answer {
        let limit = page_limit(req.query_param("limit"), 100, MAX_OWNER_PAGE)?;
        let after = cursor(req.query_param("after"))?;
        let owners = self
            .owners
            .iter()
            .filter(|o| o.id >= after)
            .take(limit + 1)
            .collect();
        let (page, next) = cut_page(owners, limit, |o: &&Owner| o.id);
        let results: Vec<Value> = (page.iter())
            .map(|o| json!({
                "id": o.id.to_string(), "email": o.email, "firstName": o.first, "lastName": o.last,
                "userId": o.user_id, "archived": false,
            }))
            .collect();
        Ok(with_paging(req, json!({ "results": results }), next))
    }

    pub(super) fn pipelines_json(&self) -> Value {
        let describe = |(i, p): (usize, &Pipeline)| {
            let stages: Vec<Value> = (p.stages.iter().enumerate())
                .map(|(j, (id, label))| json!({ "id": id, "label": label, "displayOrder": j, "metadata": {}, "archived": false }))
                .collect();
            json!({ "id": p.id, "label": p.label, "displayOrder": i, "stages": stages, "archived": false })
        };
        json!({ "results": self.pipelines.iter().enumerate().map(describe).collect::<Vec<_>>() })
    }
}

/// The options of a property's create or update.
type OptionList = (Vec<(String, String)>, BTreeMap<String, OptionAttributes>);

/// An option list of a create or update (`OptionInput`: `label`, `value`,
/// `displayOrder` and `hidden` required, `description` optional; values
/// distinct), as (value, label) and the other attributes by value.
fn option_list(list: &Value) -> Result<OptionList, Failure> {
    let Some(items) = list.as_array() else {
        return Err("options must be a list".into());
    };
    let mut options: Vec<(String, String)> = Vec::new();
    let mut attributes = BTreeMap::new();
    for o in items {
        let (Some(label), Some(value)) = (o["label"].as_str(), o["value"].as_str()) else {
            return Err("Option values were not valid: label and value are required".into());
        };
        let (Some(display_order), Some(hidden)) =
            (o["displayOrder"].as_i64(), o["hidden"].as_bool())
        else {
            return Err(
                "Option values were not valid: displayOrder and hidden are required".into(),
            );
        };
        let description = match o.get("description") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err("Option values were not valid: description must be a string".into());
            }
        };
        if options.iter().any(|(v, _)| v == value) {
            return Err(format!("Duplicate option value {value}").into());
        }
        options.push((value.to_string(), label.to_string()));
        let attribute = OptionAttributes {
            hidden,
            display_order,
            description,
        };
        attributes.insert(value.to_string(), attribute);
    }
    Ok((options, attributes))
}
