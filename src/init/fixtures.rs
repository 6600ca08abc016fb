//! Metadata for the unit tests of `init/`: fields, choices and small
//! HubSpot and Pipedrive accounts. Test-only.

use super::Account;
use crate::config::SystemKind;
use crate::connector::{FieldDescription, FieldType, Meaning, OptionDescription};
use crate::model::{ObjectKind, Owner};

pub(super) fn field(name: &str, label: &str, kind: FieldType) -> FieldDescription {
    FieldDescription {
        name: name.into(),
        label: label.into(),
        kind,
        multiple: false,
        options: Vec::new(),
        read_only: false,
        is_custom: false,
        meaning: None,
    }
}

pub(super) fn meaning(meaning: Meaning, f: FieldDescription) -> FieldDescription {
    FieldDescription {
        meaning: Some(meaning),
        ..f
    }
}

pub(super) fn choice(name: &str, label: &str, options: &[(&str, &str)]) -> FieldDescription {
    FieldDescription {
        options: options
            .iter()
            .map(|(v, l)| OptionDescription {
                value: v.to_string(),
                label: l.to_string(),
                group: None,
            })
            .collect(),
        ..field(name, label, FieldType::Choice)
    }
}

/// A small HubSpot or Pipedrive account: people with an email, a name
/// and an owner; deals with a name and a contact.
pub(super) fn account(system: &str, kind: SystemKind) -> Account {
    let hubspot = kind == SystemKind::Hubspot;
    let (people, person_ref) = if hubspot {
        (ObjectKind::Contacts, ObjectKind::Contacts)
    } else {
        (ObjectKind::Persons, ObjectKind::Persons)
    };
    let people_fields = vec![
        meaning(Meaning::Email, field("email", "Email", FieldType::Text)),
        meaning(
            Meaning::FirstName,
            field(
                if hubspot { "firstname" } else { "first_name" },
                "First name",
                FieldType::Text,
            ),
        ),
        meaning(
            Meaning::Owner,
            field(
                if hubspot {
                    "hubspot_owner_id"
                } else {
                    "owner_id"
                },
                "Owner",
                FieldType::Choice,
            ),
        ),
        FieldDescription {
            read_only: true,
            ..field("createdate", "Created", FieldType::Date)
        },
    ];
    let deal_fields = vec![
        meaning(
            Meaning::DealName,
            field(
                if hubspot { "dealname" } else { "title" },
                "Name",
                FieldType::Text,
            ),
        ),
        meaning(
            Meaning::Related {
                object: person_ref,
                many: false,
            },
            field(
                if hubspot { "contact" } else { "person_id" },
                "Contact",
                FieldType::Relation(person_ref),
            ),
        ),
        field(
            "amount",
            "Amount",
            if hubspot {
                FieldType::Number
            } else {
                FieldType::Text
            },
        ),
    ];
    Account {
        system: system.into(),
        kind,
        objects: vec![(people, people_fields), (ObjectKind::Deals, deal_fields)],
        owners: vec![Owner {
            id: "1".into(),
            email: "sam@x.io".into(),
        }],
    }
}

/// Stage options: (value, label, the value of the pipeline holding it).
pub(super) fn stages(name: &str, label: &str, options: &[(&str, &str, &str)]) -> FieldDescription {
    FieldDescription {
        options: options
            .iter()
            .map(|(v, l, g)| OptionDescription {
                value: v.to_string(),
                label: l.to_string(),
                group: Some(g.to_string()),
            })
            .collect(),
        ..meaning(Meaning::Stage, field(name, label, FieldType::Choice))
    }
}

/// An account holding deals only, in pipelines: on HubSpot "Sales",
/// "Renewals" and "Left only"; on Pipedrive "Sales", "renewals" and "Right
/// only". Of the stages, "Won" and "Open" are on both sides; "Lost",
/// "Negotiation", "Start" and "Intake" on one only.
pub(super) fn pipeline_account(system: &str, kind: SystemKind) -> Account {
    let deal_fields = if kind == SystemKind::Hubspot {
        vec![
            meaning(
                Meaning::DealName,
                field("dealname", "Deal Name", FieldType::Text),
            ),
            meaning(
                Meaning::Pipeline,
                choice(
                    "pipeline",
                    "Pipeline",
                    &[
                        ("default", "Sales"),
                        ("renewals", "Renewals"),
                        ("lefty", "Left only"),
                    ],
                ),
            ),
            stages(
                "dealstage",
                "Deal Stage",
                &[
                    ("won", "Won", "default"),
                    ("lost", "Lost", "default"),
                    ("r-open", "Open", "renewals"),
                    ("l1", "Start", "lefty"),
                ],
            ),
            FieldDescription {
                read_only: true,
                ..field("hs_object_id", "Record ID", FieldType::Text)
            },
        ]
    } else {
        vec![
            meaning(Meaning::DealName, field("title", "Title", FieldType::Text)),
            meaning(
                Meaning::Pipeline,
                choice(
                    "pipeline_id",
                    "Pipeline",
                    &[("1", "Sales"), ("2", "renewals"), ("9", "Right only")],
                ),
            ),
            stages(
                "stage_id",
                "Stage",
                &[
                    ("6", "Won", "1"),
                    ("7", "Negotiation", "1"),
                    ("10", "Open", "2"),
                    ("20", "Intake", "9"),
                ],
            ),
            field("currency", "currency", FieldType::Text),
        ]
    };
    Account {
        system: system.into(),
        kind,
        objects: vec![(ObjectKind::Deals, deal_fields)],
        owners: Vec::new(),
    }
}
