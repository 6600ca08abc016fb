//! Companies and Pipedrive organizations, with the persons and deals that
//! hang off them: organizations through the connector conformance suite;
//! two Pipedrive accounts synced by organization name, `org_id` on persons
//! and deals carried through `link:companies`; an unlink Pipedrive cannot
//! make and an organization without a name shown as `invalid`, never sent;
//! and HubSpot ↔ Pipedrive both ways by name, contacts' and deals'
//! companies as persons' and deals' organizations, with the request counts
//! of a first and an unchanged second sync against the floor.

use super::contract::pipedrive_conforms;
use super::{hs_and_pd, id_of, props};
use crate::support::accounts::{Accounts, Fixture};
use crate::support::fake_pipedrive::FakePipedrive;
use crmsync::model::ObjectKind;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[test]
fn pipedrive_organizations_conform() {
    pipedrive_conforms(ObjectKind::Organizations, "website", &|fake, i| {
        fake.seed_organization(
            json!({"name": format!("Seed {i}"), "website": format!("seed{i}.example")}),
        );
    });
}

/// Two Pipedrive accounts: `eu` (left) and `us` (right), organizations
/// matched by name, then persons by email and deals, each carrying its
/// organization through the links of `companies`. Returns the accounts and
/// the key of eu's organization custom field "Legal name", mapped to us's
/// `name`.
fn two_companies(deletes: &str) -> (Fixture, String) {
    let t = Accounts::new()
        .pipedrive("eu")
        .pipedrive("us")
        .toml(&format!(
            r#"
[[pairs]]
name = "companies"
left = "eu.organizations"
right = "us.organizations"
match = "Legal name"
deletes = "{deletes}"
[pairs.fields]
"Legal name" = "name"
address = "address"
website = "website"
employee_count = "employee_count"

[[pairs]]
name = "people"
left = "eu.persons"
right = "us.persons"
match = "email"
[pairs.fields]
email = "email"
name = "name"
org_id = "org_id"
[pairs.values]
org_id = "link:companies"

[[pairs]]
name = "deals"
left = "eu.deals"
right = "us.deals"
[pairs.fields]
title = "title"
org_id = "org_id"
person_id = "person_id"
[pairs.values]
org_id = "link:companies"
person_id = "link:people"
"#
        ))
        .build();
    let legal = t
        .pipedrive("eu")
        .add_custom_field("organization", "Legal name", "varchar", &[]);
    (t, legal)
}

fn org_named(pd: &FakePipedrive, name: &str) -> Value {
    let found: Vec<Value> = pd
        .organizations()
        .into_iter()
        .filter(|o| {
            o["name"]
                .as_str()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        })
        .collect();
    assert_eq!(found.len(), 1, "one organization named {name}: {found:?}");
    found[0].clone()
}

fn named(records: Vec<Value>, field: &str, value: &str) -> Value {
    let found: Vec<Value> = records
        .into_iter()
        .filter(|r| r[field] == json!(value))
        .collect();
    assert_eq!(found.len(), 1, "one record with {field} = {value}");
    found[0].clone()
}

#[test]
fn organizations_and_the_persons_and_deals_in_them_sync_by_name_between_two_pipedrive_accounts() {
    let (t, legal_key) = two_companies("ignore");
    let eu = t.pipedrive("eu");
    let org = |name: &str, legal: &str, extra: Value| {
        let mut body = json!({"name": name, "custom_fields": {legal_key.clone(): legal}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        eu.seed_organization(body)
    };
    let acme = org(
        "Acme",
        "Acme Corp",
        json!({"address": {"value": "1 Main St, Springfield"}, "website": "https://acme.example", "employee_count": 40}),
    );
    let globex = org("Globex", "Globex Inc", json!({}));
    // Already in us, its name in another case and padded: linked, not duplicated.
    let us_acme = t
        .pipedrive("us")
        .seed_organization(json!({"name": "  ACME corp "}));
    let ann = t
        .pipedrive("eu")
        .seed_person(json!({"name": "Ann Lee", "org_id": acme,
        "emails": [{"value": "ann@acme.example", "primary": true}]}));
    eu.seed_person(json!({"name": "Bo Chen", "org_id": globex,
        "emails": [{"value": "bo@globex.example", "primary": true}]}));
    eu.seed_person(json!({"name": "Cy Free",
        "emails": [{"value": "cy@free.example", "primary": true}]}));
    eu.seed_deal(json!({"title": "Acme renewal", "org_id": acme, "person_id": ann}));

    t.work.run(&["sync"]).expect(0);

    assert_eq!(
        t.pipedrive("us").organizations().len(),
        2,
        "Acme linked, Globex created"
    );
    let us_acme_now = org_named(t.pipedrive("us"), "Acme Corp");
    assert_eq!(us_acme_now["id"], json!(us_acme));
    assert_eq!(
        us_acme_now["name"],
        json!("  ACME corp "),
        "each side keeps its own spelling"
    );
    assert_eq!(
        us_acme_now["address"]["value"],
        json!("1 Main St, Springfield")
    );
    assert_eq!(us_acme_now["website"], json!("https://acme.example"));
    assert_eq!(us_acme_now["employee_count"], json!(40));
    let us_globex = org_named(t.pipedrive("us"), "Globex Inc")["id"].clone();
    let person = |email: &str| {
        t.pipedrive("us")
            .persons()
            .into_iter()
            .find(|p| p["emails"][0]["value"] == json!(email))
            .unwrap_or_else(|| panic!("{email} reached us"))
    };
    let us_ann = person("ann@acme.example");
    assert_eq!(us_ann["org_id"], json!(us_acme));
    assert_eq!(person("bo@globex.example")["org_id"], us_globex);
    assert_eq!(person("cy@free.example")["org_id"], Value::Null);
    let deal = named(t.pipedrive("us").deals(), "title", "Acme renewal");
    assert_eq!(deal["org_id"], json!(us_acme));
    assert_eq!(deal["person_id"], us_ann["id"]);

    // An organization edited and a person moved on one side follow.
    t.pipedrive("us").edit_organization(
        us_acme,
        json!({"address": {"value": "2 Side Rd, Springfield"}}),
    );
    let us_cy = person("cy@free.example")["id"].as_i64().unwrap();
    t.pipedrive("us")
        .edit_person(us_cy, json!({"org_id": us_globex}));
    t.work.run(&["sync"]).expect(0);
    assert_eq!(
        eu.organization(acme).unwrap()["address"]["value"],
        json!("2 Side Rd, Springfield")
    );
    let eu_cy = named(eu.persons(), "name", "Cy Free");
    assert_eq!(eu_cy["org_id"], json!(globex));

    // A sync with nothing changed writes nothing.
    t.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn an_organization_pipedrive_cannot_unlink_is_kept_reported_once_and_nothing_is_sent() {
    let (t, legal_key) = two_companies("ignore");
    let acme = t.pipedrive("eu").seed_organization(
        json!({"name": "Acme", "custom_fields": {legal_key.clone(): "Acme Corp"}}),
    );
    let ann = t
        .pipedrive("eu")
        .seed_person(json!({"name": "Ann Lee", "org_id": acme,
        "emails": [{"value": "ann@acme.example", "primary": true}]}));
    t.pipedrive("eu")
        .seed_deal(json!({"title": "Acme renewal", "org_id": acme, "person_id": ann}));
    t.work.run(&["sync"]).expect(0);
    let us_acme = org_named(t.pipedrive("us"), "Acme Corp")["id"].clone();

    // Deleting Acme in eu unlinks its person and deal there; us cannot
    // follow (updatePerson/updateDeal take no null `org_id`): it keeps the
    // link, says so once, and no run fails over it.
    t.pipedrive("eu").delete_organization(acme);
    t.reset_requests();
    let run = t.work.run(&["sync", "--full"]).expect(0);
    for reason in [
        "  = us     kept      ann@acme.example (1): us.persons keeps `org_id` 1: Pipedrive documents no way to clear `org_id`",
        "  = us     kept      Acme renewal (1): us.deals keeps `org_id` 1: Pipedrive documents no way to clear `org_id`",
    ] {
        assert!(run.stdout.contains(reason), "{reason}\n{}", run.stdout);
    }
    assert_eq!(
        t.writes(),
        0,
        "nothing is sent: {:?}",
        t.pipedrive("us").server().counts_by_endpoint()
    );
    let us_ann = named(t.pipedrive("us").persons(), "name", "Ann Lee");
    assert_eq!(
        us_ann["org_id"], us_acme,
        "us keeps the link it cannot remove"
    );
    assert_eq!(
        t.pipedrive("us").organizations().len(),
        1,
        "deletes = ignore: us keeps Acme"
    );
    for args in [&["sync"][..], &["sync", "--full"][..]] {
        let again = t.assert_run_writes_nothing(args);
        assert!(!again.stdout.contains(" kept "), "{}", again.stdout);
    }
}

#[test]
fn an_organization_without_a_name_is_invalid_and_not_created() {
    let (t, legal_key) = two_companies("ignore");
    let eu = t.pipedrive("eu");
    eu.seed_organization(json!({"name": "Nameless"}));
    eu.seed_organization(
        json!({"name": "Acme", "custom_fields": {legal_key.clone(): "Acme Corp"}}),
    );

    let diff = t.work.run(&["diff"]).expect(3);
    let reason = "cannot be created on us.organizations with `name` empty: Pipedrive requires an organization's name";
    assert!(diff.stdout.contains(reason), "{reason}\n{}", diff.stdout);
    t.work.run(&["sync"]).expect(4);
    assert_eq!(
        t.pipedrive("us")
            .server()
            .counts_by_endpoint()
            .get("POST /api/v2/organizations"),
        Some(&1)
    );
    let names: Vec<Value> = t
        .pipedrive("us")
        .organizations()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Acme Corp")]);
}

const HS_COMPANIES: usize = 30;
const HS_CONTACTS: usize = 60;
const HS_DEALS: usize = 20;
/// Organizations already in Pipedrive: the first five share a name with a
/// HubSpot company (in another case, padded), the rest are Pipedrive's own.
const PD_ORGS: usize = 8;
const PD_PERSONS: usize = 8;
const PD_DEALS: usize = 4;

/// HubSpot ↔ Pipedrive, every pair both ways: companies ↔ organizations by
/// name (deletes propagated), contacts ↔ persons by email and deals ↔ deals,
/// each carrying its company as the person's or deal's `org_id`.
fn mixed() -> Fixture {
    hs_and_pd().toml(MIXED_PAIRS).build()
}

const MIXED_PAIRS: &str = r#"
[[pairs]]
name = "companies"
left = "hs.companies"
right = "pd.organizations"
match = "name"
deletes = "propagate"
[pairs.fields]
name = "name"
website = "website"

[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
primary_company = "org_id"
[pairs.values]
primary_company = "link:companies"

[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
[pairs.fields]
dealname = "title"
contact = "person_id"
primary_company = "org_id"
[pairs.values]
contact = "link:contacts"
primary_company = "link:companies"
"#;

/// HubSpot: companies `Company {i}`, contacts `c{i}@example.com` at
/// company `i % 30` (every third also at the next one: the lowest id is
/// the primary), deals `Deal {i}` with contact `i` and company `i % 30`.
/// Pipedrive: organizations `COMPANY {i}` (the first five) and
/// `Pd Org {i}`, persons `p{i}@example.com` and deals `Pd deal {i}` in
/// organization `i`. Returns the HubSpot company ids.
fn seed(m: &Fixture) -> Vec<String> {
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let companies = hs.seed_many(
        "companies",
        (0..HS_COMPANIES)
            .map(|i| {
                props(&[
                    ("name", format!("Company {i}")),
                    ("website", format!("https://co{i}.example")),
                ])
            })
            .collect(),
    );
    let contacts = hs.seed_many(
        "contacts",
        (0..HS_CONTACTS)
            .map(|i| {
                props(&[
                    ("email", format!("c{i}@example.com")),
                    ("firstname", format!("First{i}")),
                    ("lastname", format!("Last{i}")),
                ])
            })
            .collect(),
    );
    for (i, contact) in contacts.iter().enumerate() {
        let company = &companies[i % HS_COMPANIES];
        hs.associate_records("contacts", contact, "companies", company);
        if i % 3 == 0 {
            let next = &companies[(i + 1) % HS_COMPANIES];
            hs.associate_records("contacts", contact, "companies", next);
        }
    }
    let deals = hs.seed_many(
        "deals",
        (0..HS_DEALS)
            .map(|i| props(&[("dealname", format!("Deal {i}"))]))
            .collect(),
    );
    for (i, deal) in deals.iter().enumerate() {
        hs.associate(deal, &contacts[i]);
        hs.associate_records("deals", deal, "companies", &companies[i % HS_COMPANIES]);
    }
    let orgs: Vec<i64> = (0..PD_ORGS)
        .map(|i| {
            let name = if i < 5 {
                format!(" COMPANY {i} ")
            } else {
                format!("Pd Org {i}")
            };
            pd.seed_organization(json!({"name": name, "website": format!("https://co{i}.example")}))
        })
        .collect();
    for (i, org) in orgs.iter().enumerate().take(PD_PERSONS) {
        let person = m
            .pipedrive("pd")
            .seed_person(json!({"name": format!("Pd Person{i}"),
            "org_id": org, "emails": [{"value": format!("p{i}@example.com"), "primary": true}]}));
        if i < PD_DEALS {
            pd.seed_deal(json!({"title": format!("Pd deal {i}"),
                "person_id": person, "org_id": org}));
        }
    }
    companies
}

/// The organization partnering HubSpot company `name` (by name, case
/// and spaces aside), and that company's id.
fn partners(m: &Fixture, name: &str) -> (String, i64) {
    let hs = id_of(m.hubspot("hs"), "companies", "name", name);
    let orgs: Vec<i64> = m
        .pipedrive("pd")
        .organizations()
        .iter()
        .filter(|o| {
            o["name"]
                .as_str()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        })
        .filter_map(|o| o["id"].as_i64())
        .collect();
    assert_eq!(orgs.len(), 1, "one organization named {name}");
    (hs, orgs[0])
}

fn person(m: &Fixture, email: &str) -> Value {
    let found: Vec<Value> = m
        .pipedrive("pd")
        .persons()
        .into_iter()
        .filter(|p| p["emails"][0]["value"] == json!(email))
        .collect();
    assert_eq!(found.len(), 1, "one person {email}");
    found[0].clone()
}

fn requests(m: &Fixture) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    (
        m.hubspot("hs").server().counts_by_endpoint(),
        m.pipedrive("pd").server().counts_by_endpoint(),
    )
}

/// Prints one run's requests by endpoint against the floor: the list
/// pages of each object (⌈N/100⌉ on HubSpot, ⌈N/500⌉ on Pipedrive) plus
/// one request per write the run made. Returns (requests, floor).
fn report_requests(
    run: &str,
    m: &Fixture,
    hs_objects: &[usize],
    pd_objects: &[usize],
) -> (usize, usize) {
    let (hs, pd) = requests(m);
    let total: usize = hs.values().sum::<usize>() + pd.values().sum::<usize>();
    let pages: usize = hs_objects
        .iter()
        .map(|n| n.div_ceil(100).max(1))
        .sum::<usize>()
        + pd_objects
            .iter()
            .map(|n| n.div_ceil(500).max(1))
            .sum::<usize>();
    let floor = pages + m.writes();
    eprintln!(
        "{run}: {total} requests, floor {floor} ({pages} list pages + {} writes)",
        m.writes()
    );
    eprintln!("  HubSpot: {hs:?}");
    eprintln!("  Pipedrive: {pd:?}");
    (total, floor)
}

#[test]
fn hubspot_and_pipedrive_sync_companies_by_name_with_their_contacts_and_deals_both_ways() {
    let m = mixed();
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let companies = seed(&m);

    m.work.run(&["sync"]).expect(0);
    let (first, first_floor) = report_requests(
        "first sync",
        &m,
        &[HS_COMPANIES, HS_CONTACTS, HS_DEALS],
        &[PD_ORGS, PD_PERSONS, PD_DEALS],
    );

    // Companies: the five shared names linked, not duplicated; each side's
    // own companies created on the other.
    let all_companies = HS_COMPANIES + PD_ORGS - 5;
    assert_eq!(hs.records("companies").len(), all_companies);
    assert_eq!(pd.organizations().len(), all_companies);
    for i in 0..5 {
        let (_, org) = partners(&m, &format!("Company {i}"));
        assert_eq!(
            pd.organization(org).unwrap()["name"],
            json!(format!(" COMPANY {i} ")),
            "linked, its own spelling kept"
        );
    }
    // Contacts ↔ persons with their company as the person's organization.
    assert_eq!(pd.persons().len(), HS_CONTACTS + PD_PERSONS);
    for i in 0..HS_CONTACTS {
        let (_, org) = partners(&m, &format!("Company {}", i % HS_COMPANIES));
        let person = person(&m, &format!("c{i}@example.com"));
        // A contact at two companies: the primary is the lowest id, which
        // is the company seeded first.
        assert_eq!(person["org_id"], json!(org), "c{i}'s organization");
    }
    for i in 0..PD_PERSONS {
        let org = person(&m, &format!("p{i}@example.com"))["org_id"].clone();
        let name = m
            .pipedrive("pd")
            .organization(org.as_i64().unwrap())
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .trim()
            .to_string();
        let contact = id_of(hs, "contacts", "email", &format!("p{i}@example.com"));
        let hs_company = id_of(hs, "companies", "name", &name);
        assert_eq!(
            hs.associated_ids("contacts", &contact, "companies"),
            vec![hs_company]
        );
    }
    // Deals both ways, with their organization and person.
    assert_eq!(pd.deals().len(), HS_DEALS + PD_DEALS);
    assert_eq!(hs.records("deals").len(), HS_DEALS + PD_DEALS);
    for i in 0..HS_DEALS {
        let deal = named(pd.deals(), "title", &format!("Deal {i}"));
        let (_, org) = partners(&m, &format!("Company {}", i % HS_COMPANIES));
        assert_eq!(deal["org_id"], json!(org));
        assert_eq!(
            deal["person_id"],
            person(&m, &format!("c{i}@example.com"))["id"]
        );
    }
    for i in 0..PD_DEALS {
        let deal = id_of(hs, "deals", "dealname", &format!("Pd deal {i}"));
        let name = if i < 5 {
            format!("Company {i}")
        } else {
            format!("Pd Org {i}")
        };
        let (hs_company, _) = partners(&m, &name);
        assert_eq!(
            hs.associated_ids("deals", &deal, "companies"),
            vec![hs_company]
        );
        let contact = id_of(hs, "contacts", "email", &format!("p{i}@example.com"));
        assert_eq!(hs.associations(&deal), vec![contact]);
    }
    assert!(hs.unknown_routes().is_empty() && pd.unknown_routes().is_empty());

    // Unchanged: a second sync writes nothing.
    m.assert_run_writes_nothing(&["sync"]);
    let (second, second_floor) = report_requests(
        "unchanged second sync",
        &m,
        &[HS_COMPANIES, HS_CONTACTS, HS_DEALS],
        &[PD_ORGS, PD_PERSONS, PD_DEALS],
    );
    eprintln!(
        "request counts: first sync {first} (floor {first_floor}), unchanged second sync {second} (floor {second_floor})"
    );
    // Above the floor: the first sync reads HubSpot's properties of each
    // object once (Pipedrive's fields API is not needed for built-in
    // fields); an incremental sync's search results carry no associations,
    // so each relation costs one associations batch read.
    assert_eq!(first, first_floor + 3, "first sync");
    assert_eq!(second, second_floor + 3, "unchanged second sync");

    // A Pipedrive organization deleted in the web app: its HubSpot company
    // is archived, and the persons and contacts at it stay.
    let (hs_two, org_two) = partners(&m, "Company 2");
    let contacts_at_two: Vec<String> = (0..HS_CONTACTS)
        .filter(|i| i % HS_COMPANIES == 2)
        .map(|i| id_of(hs, "contacts", "email", &format!("c{i}@example.com")))
        .collect();
    pd.delete_organization(org_two);
    m.work.run(&["sync", "--full"]).expect(0);
    assert!(
        hs.record("companies", &hs_two).unwrap().archived,
        "archived on HubSpot"
    );
    assert_eq!(pd.persons().len(), HS_CONTACTS + PD_PERSONS, "persons stay");
    for contact in &contacts_at_two {
        assert!(hs.record("contacts", contact).is_some_and(|c| !c.archived));
        assert!(
            hs.associated_ids("contacts", contact, "companies")
                .is_empty()
        );
    }

    // A HubSpot company archived: its organization is deleted, the persons
    // stay. Pipedrive unlinks them itself, and this run, which deleted the
    // organization, takes their `org_id` as gone too: nothing is invalid,
    // nothing is left to do.
    let (hs_five, org_five) = partners(&m, "Company 5");
    let persons_at_five: Vec<i64> = (0..HS_CONTACTS)
        .filter(|i| i % HS_COMPANIES == 5)
        .map(|i| {
            person(&m, &format!("c{i}@example.com"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    hs.archive("companies", &companies[5]);
    assert_eq!(hs_five, companies[5]);
    let run = m.work.run(&["sync", "--full"]).expect(0);
    assert!(!run.stdout.contains("not cleared"), "{}", run.stdout);
    assert!(
        pd.organization(org_five).unwrap()["is_deleted"] == json!(true),
        "deleted on Pipedrive"
    );
    assert_eq!(persons_at_five.len(), 2, "c5 and c35, at company 5 alone");
    for person in &persons_at_five {
        let person = pd.person(*person).unwrap();
        assert_eq!(person["is_deleted"], json!(false), "persons stay");
        assert_eq!(person["org_id"], Value::Null);
    }
    assert_eq!(hs.records("contacts").len(), HS_CONTACTS + PD_PERSONS);
    // Neither an incremental nor a full run finds anything left to do.
    for args in [&["sync"][..], &["sync", "--full"][..]] {
        m.assert_run_writes_nothing(args);
    }
}
