//! The account's metadata: the default property schema of each object and
//! the default deal pipeline, and the answers of the properties, owners and
//! pipelines endpoints.

use super::reads::{cursor, cut_page, page_limit, with_paging};
use super::store::{Answer, HubSpotState, Kind, Owner, Pipeline};
use super::{ADDITIONAL_EMAILS, MAX_OWNER_PAGE, MERGED_IDS, PropertyDef};
use crate::support::server::Request;
use serde_json::{Value, json};

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
                .map(|(i, (v, l))| json!({ "label": l, "value": v, "displayOrder": i, "hidden": false }))
                .collect();
            let field_type = match d.kind.as_str() {
                "number" => "number",
                "date" | "datetime" => "date",
                "enumeration" => "select",
                "bool" => "booleancheckbox",
                _ => "text",
            };
            let mut property = json!({
                "name": d.name, "label": d.label, "type": d.kind, "fieldType": field_type,
                "options": options, "hasUniqueValue": d.unique,
                "modificationMetadata": { "readOnlyValue": d.read_only, "archivable": !d.read_only },
            });
            if hubspot_defined {
                property["hubspotDefined"] = json!(true);
            }
            property
        };
        json!({ "results": self.schemas[&kind].iter().map(describe).collect::<Vec<_>>() })
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
