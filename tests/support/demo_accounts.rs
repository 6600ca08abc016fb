//! The demo's accounts: two HubSpot accounts (`us`, `eu`) and a Pipedrive
//! account (`pd`) with sample data, and a work directory holding the shipped
//! `sync.toml.example` pointed at them. Shared by `cargo run --example demo`
//! and the tests that look at the demo on a terminal.

use super::fake_hubspot::FakeHubSpot;
use super::fake_pipedrive::FakePipedrive;
use super::harness::Workdir;
use serde_json::json;
use std::collections::BTreeMap;

const US_TOKEN: &str = "demo-us-token";
const EU_TOKEN: &str = "demo-eu-token";
const PD_TOKEN: &str = "demo-pd-token";

/// The token variables `sync.toml.example` names, with the fakes' tokens.
pub const TOKENS: [(&str, &str); 3] = [
    ("HUBSPOT_US_TOKEN", US_TOKEN),
    ("HUBSPOT_EU_TOKEN", EU_TOKEN),
    ("PIPEDRIVE_TOKEN", PD_TOKEN),
];

pub struct DemoAccounts {
    pub us: FakeHubSpot,
    pub eu: FakeHubSpot,
    pub pd: FakePipedrive,
    /// The Pipedrive person seeded in `pd` (Mia Park).
    pub mia: i64,
    /// `sync.toml` and the tokens, for the binary or `crmsync::run`.
    pub work: Workdir,
}

impl DemoAccounts {
    pub fn start() -> DemoAccounts {
        let us = FakeHubSpot::start(US_TOKEN);
        let eu = FakeHubSpot::start(EU_TOKEN);
        let us_owner = us.add_owner("sam@corp.example", "Sam", "Lee");
        eu.add_owner("sam@corp.example", "Sam", "Lee");
        seed(&us, &eu, &us_owner);
        let pd = FakePipedrive::start(PD_TOKEN);
        // Pipedrive's default user owns Mia; that person works in the HubSpot accounts too.
        us.add_owner("owner@example.com", "Pat", "Owner");
        eu.add_owner("owner@example.com", "Pat", "Owner");
        pd.add_user("sam@corp.example", "Sam Lee");
        let initech = pd.seed_organization(
            json!({"name": "Initech", "website": "https://initech.example", "address": {"value": "4120 Freidrich Ln, Austin, TX"}}),
        );
        let mia = pd.seed_person(
            json!({"name": "Mia Park", "org_id": initech, "emails": [{"value": "mia.park@example.com", "primary": true},
            {"value": "mia@home.example", "primary": false, "label": "home"}]}),
        );
        pd.seed_deal(
            json!({"title": "Initech upgrade", "value": 4500, "stage_id": 2, "person_id": mia, "org_id": initech}),
        );
        let work = TOKENS.iter().fold(Workdir::new(), |work, (name, token)| {
            work.with_env(name, token)
        });
        // The shipped example, pointed at the local fakes.
        let mut text = include_str!("../../sync.toml.example").to_string();
        for (marker, url) in [
            ("# base_url = \"https://api.hubapi.com\"   # US", us.url()),
            ("# base_url = \"https://api.hubapi.com\"   # EU", eu.url()),
            (
                "base_url = \"https://yourcompany.pipedrive.com\"   # PD",
                pd.url(),
            ),
        ] {
            assert!(
                text.contains(marker),
                "sync.toml.example lost the line {marker}"
            );
            text = text.replace(marker, &format!("base_url = \"{url}\""));
        }
        work.write_config(&text);
        DemoAccounts {
            us,
            eu,
            pd,
            mia,
            work,
        }
    }
}

fn seed(us: &FakeHubSpot, eu: &FakeHubSpot, owner: &str) {
    let people = [
        ("Ann", "Lee"),
        ("Bo", "Chen"),
        ("Cy", "Diaz"),
        ("Di", "Evans"),
        ("Ed", "Fox"),
        ("Flo", "Gray"),
    ];
    let contacts = people
        .iter()
        .map(|(first, last)| {
            BTreeMap::from([
                (
                    "email".to_string(),
                    format!(
                        "{}.{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                ),
                ("firstname".to_string(), first.to_string()),
                ("lastname".to_string(), last.to_string()),
            ])
        })
        .collect();
    let contacts = us.seed_many("contacts", contacts);
    let companies = us.seed_many(
        "companies",
        [("Acme Corp", "acme.example"), ("Globex", "globex.example")]
            .iter()
            .map(|(name, domain)| {
                BTreeMap::from([
                    ("name".to_string(), name.to_string()),
                    ("domain".to_string(), domain.to_string()),
                    ("website".to_string(), format!("https://{domain}")),
                ])
            })
            .collect(),
    );
    // Ann and Bo work at Acme, Cy at Globex.
    for (contact, company) in [(0, 0), (1, 0), (2, 1)] {
        us.associate_records(
            "contacts",
            &contacts[contact],
            "companies",
            &companies[company],
        );
    }
    // One person already exists on eu, with another phone: linked, not duplicated.
    eu.seed(
        "contacts",
        &[
            ("email", "BO.CHEN@example.com"),
            ("phone", "+44 20 7946 0001"),
        ],
    );
    for (i, (name, stage)) in [
        ("Acme renewal", "appointmentscheduled"),
        ("Globex pilot", "closedwon"),
    ]
    .into_iter()
    .enumerate()
    {
        let deal = us.seed(
            "deals",
            &[
                ("dealname", name),
                ("amount", "12000"),
                ("dealstage", stage),
                ("hubspot_owner_id", owner),
            ],
        );
        us.associate(&deal, &contacts[i * 2]);
        us.associate_records("deals", &deal, "companies", &companies[i]);
        if i == 0 {
            // Notes travel with their records: one on Ann, one on the deal.
            let on_ann = us.seed(
                "notes",
                &[
                    ("hs_note_body", "<p>Ann asked for the renewal terms</p>"),
                    ("hs_timestamp", "2026-11-02T09:30:00Z"),
                ],
            );
            us.associate_records("notes", &on_ann, "contacts", &contacts[0]);
            let on_deal = us.seed(
                "notes",
                &[
                    ("hs_note_body", "<p>Renewal: 3 years, 5% off</p>"),
                    ("hs_timestamp", "2026-11-03T14:00:00Z"),
                ],
            );
            us.associate_records("notes", &on_deal, "deals", &deal);
        }
    }
}
