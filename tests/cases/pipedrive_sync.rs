//! HubSpot ↔ Pipedrive end to end: contacts ↔ persons both ways with the
//! emails/phones model, a custom field and an enum by label, owners by email;
//! deals both ways with stages mapped and the deal's contact carried as the
//! Pipedrive person.

use super::{hs_and_pd, primary_email, requests_matching};
use crate::support::accounts::Fixture;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The HubSpot rep, a Pipedrive user too.
const REP: &str = "rep@corp.example";

/// HubSpot (`hs`) and Pipedrive (`pd`): contacts ↔ persons and deals ↔
/// deals, with the rep as an owner on both sides, a "Job Title" and a
/// "Lifecycle" custom field on Pipedrive.
fn mixed() -> Fixture {
    hs_and_pd()
        .owner("hs", REP, "Rae Rep")
        // Pipedrive gives every person an owner: its default user exists on HubSpot too.
        .owner("hs", "owner@example.com", "Default Owner")
        .owner("pd", REP, "Rae Rep")
        .toml(MIXED_PAIRS)
        .setup(|m| {
            let pd = m.pipedrive("pd");
            pd.add_custom_field("person", "Job Title", "varchar", &[]);
            pd.add_custom_field("person", "Lifecycle", "enum", &["Lead", "Customer"]);
        })
        .build()
}

const MIXED_PAIRS: &str = r#"
[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
phone = "phone"
jobtitle = "Job Title"
lifecyclestage = "Lifecycle"
hubspot_owner_id = "owner_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
lifecyclestage = "by-label"

[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
[pairs.fields]
dealname = "title"
amount = "value"
dealstage = "stage_id"
hubspot_owner_id = "owner_id"
contact = "person_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
contact = "link:contacts"
[pairs.values.dealstage]
appointmentscheduled = "1"
qualifiedtobuy = "2"
presentationscheduled = "3"
contractsent = "4"
closedwon = "5"
"#;

fn person_by_email(m: &Fixture, email: &str) -> Vec<Value> {
    m.pipedrive("pd")
        .persons()
        .into_iter()
        .filter(|p| {
            p["emails"].as_array().into_iter().flatten().any(|e| {
                e["value"]
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(email))
            })
        })
        .collect()
}

#[test]
fn six_hundred_contacts_and_three_hundred_persons_become_eight_hundred_people_on_both_sides() {
    let m = mixed();
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let contacts = (0..600)
        .map(|i| {
            BTreeMap::from([
                ("email".to_string(), format!("c{i}@example.com")),
                ("firstname".to_string(), format!("First{i}")),
                ("lastname".to_string(), format!("Last{i}")),
                ("jobtitle".to_string(), "Engineer".to_string()),
                (
                    "lifecyclestage".to_string(),
                    if i % 2 == 0 { "lead" } else { "customer" }.to_string(),
                ),
                ("hubspot_owner_id".to_string(), m.owner("hs", REP)),
            ])
        })
        .collect();
    hs.seed_many("contacts", contacts);
    for i in 0..300 {
        // The first 100 are the same people, some with another letter case.
        let email = if i < 100 {
            if i % 3 == 0 {
                format!("C{i}@Example.COM")
            } else {
                format!("c{i}@example.com")
            }
        } else {
            format!("p{i}@example.com")
        };
        let mut emails = vec![json!({"value": email, "primary": true, "label": "work"})];
        if i == 150 {
            emails.push(
                json!({"value": "second.address@example.com", "primary": false, "label": "home"}),
            );
        }
        pd.seed_person(json!({
            "name": format!("First{i} Last{i}"),
            "emails": emails,
            "phones": [{"value": format!("+49 30 {i:06}"), "primary": true, "label": "work"}],
            "owner_id": m.user("pd", REP),
        }));
    }

    let run = m.work.run(&["sync"]).expect(0);
    eprintln!(
        "first HubSpot<->Pipedrive sync:\n hs {:?}\n pd {:?}",
        hs.server().counts_by_endpoint(),
        pd.server().counts_by_endpoint()
    );
    run.assert_stdout_has("100 linked");
    assert_eq!(hs.records("contacts").len(), 800);
    assert_eq!(pd.persons().len(), 800);
    for i in [0, 3, 99] {
        let email = format!("c{i}@example.com");
        assert_eq!(
            hs.find("contacts", "email", &email).len(),
            1,
            "{email} once on HubSpot"
        );
        let persons = person_by_email(&m, &email);
        assert_eq!(persons.len(), 1, "{email} once on Pipedrive");
        let contact = &hs.find("contacts", "email", &email)[0];
        assert_eq!(
            contact.properties["phone"],
            persons[0]["phones"][0]["value"].as_str().unwrap(),
            "phone filled on HubSpot"
        );
        assert_eq!(persons[0]["first_name"], json!(format!("First{i}")));
    }
    // HubSpot-only people arrive with the custom field, the enum by label and the owner.
    let p = &person_by_email(&m, "c500@example.com")[0];
    assert_eq!(p["owner_id"], json!(m.user("pd", REP)));
    let fields = p["custom_fields"].as_object().unwrap();
    assert!(fields.values().any(|v| v == &json!("Engineer")), "{p}");
    // `lead` is labelled "Lead" on HubSpot; Pipedrive's "Lead" option is stored by its id.
    assert!(
        fields.values().any(|v| v.is_number()),
        "the enum option id was written: {p}"
    );
    // Pipedrive-only people arrive on HubSpot.
    let c = &m
        .hubspot("hs")
        .find("contacts", "email", "p250@example.com")[0];
    assert_eq!(c.properties["firstname"], "First250");
    assert_eq!(
        hs.find("contacts", "email", "c0@example.com")[0].properties["lifecyclestage"],
        "lead"
    );
    assert_eq!(c.properties["hubspot_owner_id"], m.owner("hs", REP));

    // Floor: ⌈600/100⌉ HubSpot pages, ⌈300/500⌉ Pipedrive page, one call per Pipedrive write.
    let hs_counts = hs.server().counts_by_endpoint();
    let pd_counts = pd.server().counts_by_endpoint();
    assert_eq!(
        requests_matching(&hs_counts, "GET /crm/objects/2026-09/contacts"),
        6
    );
    assert_eq!(requests_matching(&pd_counts, "GET /api/v2/persons"), 1);
    assert_eq!(requests_matching(&pd_counts, "POST /api/v2/persons"), 500);
    assert_eq!(
        requests_matching(
            &hs_counts,
            "POST /crm/objects/2026-09/contacts/batch/upsert"
        ),
        2
    );

    hs.server().reset_requests();
    pd.server().reset_requests();
    let run = m.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("nothing to do");
    eprintln!(
        "unchanged HubSpot<->Pipedrive sync:\n hs {:?}\n pd {:?}",
        hs.server().counts_by_endpoint(),
        pd.server().counts_by_endpoint()
    );
    assert_eq!(
        hs.server().write_request_count() + pd.server().write_request_count(),
        0
    );

    // A person with two emails keeps both when HubSpot changes the primary one.
    let contact = m
        .hubspot("hs")
        .find("contacts", "email", "p150@example.com")[0]
        .id
        .clone();
    hs.edit("contacts", &contact, &[("email", "p150.new@example.com")]);
    m.work.run(&["sync"]).expect(0);
    let person = &person_by_email(&m, "p150.new@example.com")[0];
    assert_eq!(primary_email(person), "p150.new@example.com");
    assert!(
        person["emails"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"] == json!("second.address@example.com")),
        "{person}"
    );
    m.work.run(&["diff"]).expect(0);
}

#[test]
fn edits_flow_both_ways_and_deals_carry_their_person() {
    let m = mixed();
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let ann = hs.seed(
        "contacts",
        &[
            ("email", "ann@example.com"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
        ],
    );
    let bo = pd.seed_person(
        json!({"name": "Bo Chen", "emails": [{"value": "bo@example.com", "primary": true}]}),
    );
    let hs_deal = hs.seed(
        "deals",
        &[
            ("dealname", "Acme"),
            ("amount", "1200"),
            ("dealstage", "qualifiedtobuy"),
            ("hubspot_owner_id", &m.owner("hs", REP)),
        ],
    );
    hs.associate(&hs_deal, &ann);
    pd.seed_deal(json!({"title": "Globex", "value": 900, "stage_id": 5, "person_id": bo, "owner_id": m.user("pd", REP)}));

    m.work.run(&["sync"]).expect(0);
    let ann_person = person_by_email(&m, "ann@example.com")[0]["id"]
        .as_i64()
        .unwrap();
    let acme = m
        .pipedrive("pd")
        .deals()
        .into_iter()
        .find(|d| d["title"] == json!("Acme"))
        .expect("Acme on Pipedrive");
    assert_eq!(
        acme["person_id"],
        json!(ann_person),
        "the deal's contact is its person"
    );
    assert_eq!(acme["stage_id"], json!(2));
    assert_eq!(acme["value"], json!(1200));
    assert_eq!(acme["owner_id"], json!(m.user("pd", REP)));
    let globex = &hs.find("deals", "dealname", "Globex")[0];
    assert_eq!(globex.properties["dealstage"], "closedwon");
    let bo_contact = hs.find("contacts", "email", "bo@example.com")[0].id.clone();
    assert_eq!(
        hs.associations(&globex.id),
        vec![bo_contact],
        "the person is the deal's contact"
    );

    // Edits on either side flow across.
    hs.edit("contacts", &ann, &[("firstname", "Annabel")]);
    pd.edit_person(
        bo,
        json!({"phones": [{"value": "+1 555 0100", "primary": true}]}),
    );
    m.work.run(&["sync"]).expect(0);
    assert_eq!(
        person_by_email(&m, "ann@example.com")[0]["first_name"],
        json!("Annabel")
    );
    assert_eq!(
        hs.find("contacts", "email", "bo@example.com")[0].properties["phone"],
        "+1 555 0100"
    );
    m.work.run(&["diff"]).expect(0);
}
