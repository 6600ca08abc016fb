//! What differs between persons, deals and organizations: their paths,
//! the fields a write body may hold and how each is checked, their defaults,
//! list filters and built-in fields.

use super::writes::{BodyField, Kind, Ref};
use super::{DEFAULT_CURRENCY, DEFAULT_VISIBLE_TO, TOKEN_USER};
use serde_json::{Map, Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Entity {
    Person,
    Deal,
    Organization,
}

impl Entity {
    /// The `type` of v1 filters of this entity.
    pub(super) fn filter_type(self) -> &'static str {
        match self {
            Entity::Person => "people",
            Entity::Deal => "deals",
            Entity::Organization => "org",
        }
    }

    pub(super) fn from_collection(segment: &str) -> Option<Entity> {
        match segment {
            "persons" => Some(Entity::Person),
            "deals" => Some(Entity::Deal),
            "organizations" => Some(Entity::Organization),
            _ => None,
        }
    }

    pub(super) fn from_fields_collection(segment: &str) -> Option<Entity> {
        match segment {
            "personFields" => Some(Entity::Person),
            "dealFields" => Some(Entity::Deal),
            "organizationFields" => Some(Entity::Organization),
            _ => None,
        }
    }

    pub(super) fn singular(self) -> &'static str {
        match self {
            Entity::Person => "person",
            Entity::Deal => "deal",
            Entity::Organization => "organization",
        }
    }

    /// The write-body fields of POST/PATCH (spec: addPerson/updatePerson,
    /// addDeal/updateDeal, addOrganization/updateOrganization). Only what
    /// those schemas mark `nullable` takes `null` (deals' `probability`,
    /// `lost_reason`, `close_time`; organizations' `website`, `linkedin`,
    /// `industry`, `annual_revenue`, `employee_count`); any other
    /// `null` is refused with a 400, as the schema validation of v2 would. Contact-sync fields (`im`, `postal_address`,
    /// `notes`, `birthday`, `job_title`) and `marketing_status` are left out:
    /// this company has neither contact sync nor Campaigns, so they are
    /// refused like any other unknown field.
    pub(super) fn body_fields(self) -> &'static [BodyField] {
        use Kind::*;
        const PERSON: &[BodyField] = &[
            BodyField::new("name", NonEmptyText),
            // Not in the spec body, but the migration guide documents "name or
            // both first_name and last_name".
            BodyField::new("first_name", NonEmptyText),
            BodyField::new("last_name", NonEmptyText),
            BodyField::new("owner_id", Reference(Ref::User)),
            BodyField::new("org_id", Reference(Ref::Org)),
            // The spec lists `add_time` in the POST body only.
            BodyField::new("add_time", AddTime).post_only(),
            BodyField::new("emails", Contacts),
            BodyField::new("phones", Contacts),
            BodyField::new("visible_to", VisibleTo),
            BodyField::new("label_ids", LabelIds),
            BodyField::new("custom_fields", CustomFields),
        ];
        const DEAL: &[BodyField] = &[
            BodyField::new("title", NonEmptyText),
            BodyField::new("owner_id", Reference(Ref::User)),
            BodyField::new("person_id", Reference(Ref::Person)),
            BodyField::new("org_id", Reference(Ref::Org)),
            BodyField::new("pipeline_id", Reference(Ref::Pipeline)),
            BodyField::new("stage_id", Reference(Ref::Stage)),
            BodyField::new("value", Number),
            BodyField::new("currency", Currency),
            BodyField::new("is_deleted", OnlyFalse("use DELETE to delete a deal")),
            BodyField::new(
                "is_archived",
                OnlyFalse("the fake does not model archived deals"),
            ),
            BodyField::new(
                "archive_time",
                Unmodelled("the fake does not model archived deals"),
            ),
            BodyField::new("status", Status),
            BodyField::new("probability", Probability).nullable(),
            BodyField::new("lost_reason", Text).nullable(),
            BodyField::new("visible_to", VisibleTo),
            BodyField::new("close_time", Timestamp).nullable(),
            BodyField::new("won_time", Timestamp),
            BodyField::new("lost_time", Timestamp),
            BodyField::new("expected_close_date", Date),
            BodyField::new("label_ids", LabelIds),
            BodyField::new("custom_fields", CustomFields),
        ];
        const ORGANIZATION: &[BodyField] = &[
            BodyField::new("name", NonEmptyText),
            BodyField::new("owner_id", Reference(Ref::User)),
            BodyField::new("add_time", AddTime).post_only(),
            BodyField::new("visible_to", VisibleTo),
            BodyField::new("label_ids", LabelIds),
            BodyField::new("address", Address),
            BodyField::new("website", Text).nullable(),
            BodyField::new("linkedin", Text).nullable(),
            BodyField::new("industry", Integer).nullable(),
            BodyField::new("annual_revenue", Integer).nullable(),
            BodyField::new("employee_count", Integer).nullable(),
            BodyField::new("custom_fields", CustomFields),
        ];
        match self {
            Entity::Person => PERSON,
            Entity::Deal => DEAL,
            Entity::Organization => ORGANIZATION,
        }
    }

    /// Attributes a new record starts with, before the body is applied.
    pub(super) fn defaults(self, origin: &str) -> Map<String, Value> {
        let value = match self {
            Entity::Person => json!({
                "name": null, "first_name": null, "last_name": null,
                "owner_id": TOKEN_USER, "org_id": null,
                "emails": [], "phones": [],
                "visible_to": DEFAULT_VISIBLE_TO, "label_ids": [], "picture_id": null,
            }),
            Entity::Deal => json!({
                "title": null, "creator_user_id": TOKEN_USER, "owner_id": TOKEN_USER,
                "value": 0, "currency": DEFAULT_CURRENCY,
                "person_id": null, "org_id": null, "stage_id": null, "pipeline_id": null,
                "status": "open", "probability": null,
                "stage_change_time": null, "close_time": null, "won_time": null, "lost_time": null,
                "lost_reason": null, "expected_close_date": null,
                "is_archived": false, "archive_time": null,
                "visible_to": DEFAULT_VISIBLE_TO, "label_ids": [],
                "origin": origin, "origin_id": null, "channel": null, "channel_id": null,
            }),
            Entity::Organization => json!({
                "name": null, "owner_id": TOKEN_USER, "address": null,
                "visible_to": DEFAULT_VISIBLE_TO, "label_ids": [],
                "website": null, "linkedin": null, "industry": null,
                "annual_revenue": null, "employee_count": null,
            }),
        };
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// List filters that compare a record attribute with an integer parameter.
    pub(super) fn equality_filters(self) -> &'static [&'static str] {
        match self {
            Entity::Person => &["owner_id", "org_id"],
            Entity::Deal => &["owner_id", "person_id", "org_id", "pipeline_id", "stage_id"],
            Entity::Organization => &["owner_id"],
        }
    }

    /// The list filters each entity has beyond `equality_filters`.
    pub(super) fn special_list_filters(self) -> &'static [&'static str] {
        match self {
            Entity::Person => &["deal_id"],
            Entity::Deal => &["status"],
            Entity::Organization => &[],
        }
    }

    /// Built-in fields as `GET /api/v2/{personFields|dealFields}` lists them:
    /// `(field_code, field_name, field_type)`. Codes follow the spec examples
    /// (`phone` for persons, `value` as a monetary field with a `currency`
    /// subfield for deals).
    pub(super) fn builtin_fields(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Entity::Person => &[
                ("name", "Name", "varchar"),
                ("first_name", "First name", "varchar"),
                ("last_name", "Last name", "varchar"),
                ("email", "Email", "varchar"),
                ("phone", "Phone", "phone"),
                ("owner_id", "Owner", "user"),
                ("org_id", "Organization", "org"),
                ("label_ids", "Labels", "set"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Person created", "date"),
                ("update_time", "Update time", "date"),
                ("picture_id", "Profile picture", "picture"),
            ],
            Entity::Deal => &[
                ("title", "Title", "varchar"),
                ("value", "Value", "monetary"),
                ("person_id", "Contact person", "people"),
                ("org_id", "Organization", "org"),
                ("pipeline_id", "Pipeline", "int"),
                ("stage_id", "Stage", "stage"),
                ("status", "Status", "status"),
                ("owner_id", "Owner", "user"),
                ("probability", "Probability", "double"),
                ("expected_close_date", "Expected close date", "date"),
                ("lost_reason", "Lost reason", "varchar"),
                ("label_ids", "Labels", "set"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Deal created", "date"),
                ("update_time", "Update time", "date"),
                ("close_time", "Deal closed on", "date"),
                ("won_time", "Won time", "date"),
                ("lost_time", "Lost time", "date"),
            ],
            Entity::Organization => &[
                ("name", "Name", "varchar"),
                ("owner_id", "Owner", "user"),
                ("address", "Address", "address"),
                ("website", "Website", "varchar"),
                ("linkedin", "LinkedIn profile", "varchar"),
                ("industry", "Industry", "int"),
                ("annual_revenue", "Annual revenue", "int"),
                ("employee_count", "Number of employees", "int"),
                ("label_ids", "Labels", "set"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Organization created", "date"),
                ("update_time", "Update time", "date"),
            ],
        }
    }
}
