//! HubSpot's field model: properties asked for and read (the modified
//! time's name per object, values as text), the conversion of an object to a
//! `Record`, and the relations: a record's associated records of another
//! object, which are associations rather than properties (a deal's `contact`
//! and `contacts`; a contact's or a deal's `primary_company` and
//! `companies`; a note's contacts, deals and companies) and are written as
//! `Relink`s, or, for a new note, as the associations of its create. It
//! makes no request.

use super::HubSpot;
use super::api::ApiObject;
use crate::connector::http::ApiError;
use crate::model::{Fields, Identity, ObjectKind, Record, set_field};
use crate::timestamp;
use crate::vendor::HUBSPOT;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The pseudo-field for a deal's primary associated contact (the lowest id).
pub const CONTACT_FIELD: &str = "contact";
/// The pseudo-field for all of a deal's associated contacts, ids joined by `;`.
pub const CONTACTS_FIELD: &str = "contacts";
/// The pseudo-field for a contact's or a deal's primary associated company
/// (the lowest id). Not `company`: contacts have a text property of that
/// name (the company a person typed), which stays an ordinary property.
pub const PRIMARY_COMPANY_FIELD: &str = "primary_company";
/// The pseudo-field for all of a contact's or a deal's associated
/// companies, ids joined by `;`.
pub const COMPANIES_FIELD: &str = "companies";

/// A relation pseudo-field: the records of `to` associated with a record.
#[derive(Debug)]
pub(super) struct Relation {
    pub(super) field: &'static str,
    pub(super) to: ObjectKind,
    /// All of them (ids joined by `;`), or only the primary (the lowest id).
    pub(super) many: bool,
    pub(super) label: &'static str,
}

const fn relation(
    field: &'static str,
    to: ObjectKind,
    many: bool,
    label: &'static str,
) -> Relation {
    Relation {
        field,
        to,
        many,
        label,
    }
}

const ASSOCIATED_COMPANIES: Relation = relation(
    COMPANIES_FIELD,
    ObjectKind::Companies,
    true,
    "Associated companies",
);
const PRIMARY_COMPANY: Relation = relation(
    PRIMARY_COMPANY_FIELD,
    ObjectKind::Companies,
    false,
    "Primary company",
);
/// The set before the single one, so that `init`, which pairs a record's
/// relation to one kind of record once, carries whole sets between two
/// HubSpot accounts.
const DEAL_RELATIONS: &[Relation] = &[
    relation(
        CONTACTS_FIELD,
        ObjectKind::Contacts,
        true,
        "Associated contacts",
    ),
    relation(
        CONTACT_FIELD,
        ObjectKind::Contacts,
        false,
        "Primary contact",
    ),
    ASSOCIATED_COMPANIES,
    PRIMARY_COMPANY,
];
const CONTACT_RELATIONS: &[Relation] = &[ASSOCIATED_COMPANIES, PRIMARY_COMPANY];
/// The pseudo-field for a note's deal (the lowest id) and for all of them.
pub const DEAL_FIELD: &str = "deal";
pub const DEALS_FIELD: &str = "deals";
/// A note's records: its contacts, deals and companies (sets first, as
/// for deals).
const NOTE_RELATIONS: &[Relation] = &[
    relation(
        CONTACTS_FIELD,
        ObjectKind::Contacts,
        true,
        "Associated contacts",
    ),
    relation(
        CONTACT_FIELD,
        ObjectKind::Contacts,
        false,
        "Primary contact",
    ),
    relation(DEALS_FIELD, ObjectKind::Deals, true, "Associated deals"),
    relation(DEAL_FIELD, ObjectKind::Deals, false, "Primary deal"),
    ASSOCIATED_COMPANIES,
    PRIMARY_COMPANY,
];

/// The relation pseudo-fields `object` offers.
pub(super) fn relations(object: ObjectKind) -> &'static [Relation] {
    match object {
        ObjectKind::Deals => DEAL_RELATIONS,
        ObjectKind::Contacts => CONTACT_RELATIONS,
        ObjectKind::Notes => NOTE_RELATIONS,
        _ => &[],
    }
}

/// The type id of the default association from a note to a record of
/// `to`, as a note's create carries it (HUBSPOT_DEFINED: note→contact 202,
/// note→company 190, note→deal 214).
/// https://developers.hubspot.com/docs/api-reference/crm-associations-v4/guide#association-type-id-values
pub(super) fn note_association_type(to: ObjectKind) -> Option<u32> {
    match to {
        ObjectKind::Contacts => Some(202),
        ObjectKind::Companies => Some(190),
        ObjectKind::Deals => Some(214),
        _ => None,
    }
}

/// The relation `field` of `object` stands for, if it is one.
pub(super) fn relation_of(object: ObjectKind, field: &str) -> Option<&'static Relation> {
    relations(object).iter().find(|r| r.field == field)
}

/// Returns true if and only if `field` of `object` is an association rather
/// than a property.
pub(super) fn is_relation(object: ObjectKind, field: &str) -> bool {
    relation_of(object, field).is_some()
}

/// The objects whose associations the mapped `fields` of `object` hold,
/// each once.
pub(super) fn relation_targets(object: ObjectKind, fields: &[String]) -> Vec<ObjectKind> {
    let targets: BTreeSet<ObjectKind> = fields
        .iter()
        .filter_map(|f| relation_of(object, f))
        .map(|r| r.to)
        .collect();
    targets.into_iter().collect()
}

/// HubSpot's name of an object type, in paths and in a list's
/// `associations` map: the kind's own name, for the kinds HubSpot offers.
pub(super) fn type_name(object: ObjectKind) -> Option<&'static str> {
    HUBSPOT.offers(object).then(|| object.as_str())
}

/// Sets the relation fields of `record` that point at `to` from its
/// associated ids (in any order, repeats allowed): the primary one is the
/// lowest id, the set all of them joined by `;`.
pub(super) fn set_relations(
    object: ObjectKind,
    to: ObjectKind,
    record: &mut Record,
    mut ids: Vec<String>,
    fields: &[String],
) {
    ids.sort_by(|a, b| crate::model::id_order(a, b));
    ids.dedup();
    for relation in relations(object).iter().filter(|r| r.to == to) {
        if !fields.iter().any(|f| f == relation.field) {
            continue;
        }
        let value = if relation.many {
            crate::model::join_set(&ids)
        } else {
            ids.first().cloned().unwrap_or_default()
        };
        set_field(&mut record.fields, relation.field, &value);
    }
}

/// A record whose associated records of `to` change from `old` to `new`
/// (either may be empty; a set's values are `;`-joined ids), identified by
/// its write key.
pub(super) struct Relink {
    pub(super) key: String,
    pub(super) field: &'static str,
    pub(super) to: ObjectKind,
    pub(super) old: String,
    pub(super) new: String,
}

impl Relink {
    /// The association changes among a write's fields.
    pub(super) fn of(
        object: ObjectKind,
        key: &str,
        fields: &BTreeMap<String, String>,
        previous: &BTreeMap<String, String>,
    ) -> Vec<Relink> {
        relations(object)
            .iter()
            .filter_map(|relation| {
                let new = fields.get(relation.field)?.clone();
                let old = previous.get(relation.field).cloned().unwrap_or_default();
                Some(Relink {
                    key: key.to_string(),
                    field: relation.field,
                    to: relation.to,
                    old,
                    new,
                })
            })
            .collect()
    }

    pub(super) fn ids(text: &str) -> BTreeSet<&str> {
        crate::model::set_members(text).collect()
    }
}

/// The properties to send: everything but the association pseudo-fields.
pub(super) fn without_relations(
    object: ObjectKind,
    fields: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter(|(k, _)| !is_relation(object, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The ids merged into a record, `;`-separated: set on the record a merge
/// makes (which has a new id; the merged ids still resolve to it).
/// https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/guide#merge-contacts
pub(super) const MERGED_IDS: &str = "hs_merged_object_ids";
/// A contact's other emails, `;`-separated and read-only: where a merge
/// puts the merged contact's email, and where users add secondary ones.
pub(super) const ADDITIONAL_EMAILS: &str = "hs_additional_emails";

/// What a record is known by besides its id and mapped values: the ids
/// merged into it, and a contact's additional emails (as more values of
/// `email`).
fn identity_of(api: &ApiObject) -> Identity {
    let listed = |name: &str| -> Vec<String> {
        let text = api.properties.get(name).map(value_text).unwrap_or_default();
        crate::model::set_members(&text)
            .map(str::to_string)
            .collect()
    };
    Identity {
        merged_from: listed(MERGED_IDS)
            .into_iter()
            .filter(|id| *id != api.id)
            .collect(),
        also: listed(ADDITIONAL_EMAILS)
            .into_iter()
            .map(|email| ("email".to_string(), email))
            .collect(),
        ..Identity::default()
    }
}

/// The modified-time property: contacts keep the older name; deals and
/// companies have `hs_lastmodifieddate`.
pub(super) fn modified_property(object: ObjectKind) -> &'static str {
    match object {
        ObjectKind::Contacts => "lastmodifieddate",
        _ => "hs_lastmodifieddate",
    }
}

/// HubSpot property values are strings or null; anything else is rendered
/// as JSON text rather than dropped.
pub(super) fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl HubSpot {
    /// Properties to ask for: the mapped ones plus the modified time.
    pub(super) fn properties(object: ObjectKind, fields: &[String]) -> Vec<String> {
        let mut props: Vec<String> = fields
            .iter()
            .filter(|f| !is_relation(object, f))
            .cloned()
            .collect();
        props.push(modified_property(object).to_string());
        // What the record is known by besides its values (`identity_of`);
        // notes are not merged.
        if object != ObjectKind::Notes {
            props.push(MERGED_IDS.to_string());
        }
        if object == ObjectKind::Contacts && fields.iter().any(|f| f == "email") {
            props.push(ADDITIONAL_EMAILS.to_string());
        }
        props.sort();
        props.dedup();
        props
    }

    pub(super) fn to_record(
        object: ObjectKind,
        api: &ApiObject,
        fields: &[String],
    ) -> Result<Record, ApiError> {
        let mut record = Record::new(api.id.clone(), Fields::new(), 0);
        record.set_identity(identity_of(api));
        for field in fields {
            if let Some(value) = api.properties.get(field) {
                set_field(&mut record.fields, field, &value_text(value));
            }
        }
        for to in relation_targets(object, fields) {
            let ids = type_name(to)
                .and_then(|name| api.associations.get(name))
                .map(|list| list.results.iter().map(|a| a.id.clone()).collect())
                .unwrap_or_default();
            set_relations(object, to, &mut record, ids, fields);
        }
        let modified = api.updated_at.clone().or_else(|| {
            api.properties
                .get(modified_property(object))
                .map(value_text)
        });
        record.updated_ms = modified
            .as_deref()
            .and_then(timestamp::parse_ms)
            .ok_or_else(|| ApiError::Malformed {
                system: String::new(),
                detail: format!("record {} has no readable modified time", api.id),
            })?;
        Ok(record)
    }
}
