//! HubSpot companies between two HubSpot accounts: companies paired by
//! domain (case, scheme and `www.` aside), contacts and deals arriving with
//! their companies (`primary_company` and `companies` through
//! `link:companies`) in one run, a quiet second run, a deleted company
//! archived on the other side while its contacts stay, duplicates by domain
//! left alone, and the mapping checks of the company relations.

use super::{id_of, props, requests_matching, sorted, us_and_eu};
use crate::support::accounts::Fixture;
use crate::support::fake_hubspot::{FakeHubSpot, Quirks};
use std::collections::BTreeMap;

const COMPANIES: usize = 30;
const CONTACTS: usize = 60;
const DEALS: usize = 20;

/// Companies both ways by domain with deletes propagated, then contacts
/// (both ways) and deals (us → eu) carrying their companies.
fn companies() -> Fixture {
    us_and_eu().toml(COMPANIES_PAIRS).build()
}

const COMPANIES_PAIRS: &str = r#"
[[pairs]]
name = "companies"
left = "us.companies"
right = "eu.companies"
direction = "both"
match = "domain"
deletes = "propagate"
[pairs.fields]
name = "name"
domain = "domain"
city = "city"

[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
direction = "both"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"
primary_company = "primary_company"
companies = "companies"
[pairs.values]
primary_company = "link:companies"
companies = "link:companies"

[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
direction = "left-to-right"
[pairs.fields]
dealname = "dealname"
primary_company = "primary_company"
companies = "companies"
[pairs.values]
primary_company = "link:companies"
companies = "link:companies"
"#;

/// The us side of the scenario: 30 companies (`co{i}.example`), 60
/// contacts each at company `i % 30` and, every third, also at the next
/// one, and 20 deals each with company `i % 30` and `(i + 7) % 30`.
/// Returns the company ids in index order.
fn seed_us(t: &Fixture) -> Vec<String> {
    let us = t.hubspot("us");
    let companies = us.seed_many(
        "companies",
        (0..COMPANIES)
            .map(|i| {
                props(&[
                    ("name", format!("Company {i}")),
                    ("domain", format!("co{i}.example")),
                    ("city", format!("City {i}")),
                ])
            })
            .collect(),
    );
    let contacts = us.seed_many(
        "contacts",
        (0..CONTACTS)
            .map(|i| {
                props(&[
                    ("email", format!("c{i}@example.com")),
                    ("firstname", format!("First{i}")),
                ])
            })
            .collect(),
    );
    for (i, contact) in contacts.iter().enumerate() {
        let first = &companies[i % COMPANIES];
        us.associate_records("contacts", contact, "companies", first);
        if i % 3 == 0 {
            let next = &companies[(i + 1) % COMPANIES];
            us.associate_records("contacts", contact, "companies", next);
        }
    }
    let deals = us.seed_many(
        "deals",
        (0..DEALS)
            .map(|i| props(&[("dealname", format!("Deal {i}"))]))
            .collect(),
    );
    for (i, deal) in deals.iter().enumerate() {
        for c in [i % COMPANIES, (i + 7) % COMPANIES] {
            us.associate_records("deals", deal, "companies", &companies[c]);
        }
    }
    companies
}

/// The eu companies already there: the first five, their domain in
/// another case, one with a scheme and `www.`.
fn seed_eu_existing(t: &Fixture) -> Vec<String> {
    (0..5)
        .map(|i| {
            let domain = if i == 4 {
                format!("https://www.CO{i}.Example/")
            } else {
                format!("CO{i}.EXAMPLE")
            };
            t.hubspot("eu").seed(
                "companies",
                &[
                    ("name", &format!("Company {i}")),
                    ("domain", &domain),
                    ("city", &format!("City {i}")),
                ],
            )
        })
        .collect()
}

/// The eu company partnering us company `i` (found by its name).
fn eu_company(t: &Fixture, i: usize) -> String {
    id_of(
        t.hubspot("eu"),
        "companies",
        "name",
        &format!("Company {i}"),
    )
}

/// Asserts that each us record of `object` found by `property` = `value(i)`
/// has, on eu, the partners of its us companies.
#[track_caller]
fn assert_companies_carried(
    t: &Fixture,
    object: &str,
    property: &str,
    count: usize,
    value: &dyn Fn(usize) -> String,
) {
    let us_to_eu: BTreeMap<String, String> = (0..COMPANIES)
        .map(|i| {
            let us = id_of(
                t.hubspot("us"),
                "companies",
                "name",
                &format!("Company {i}"),
            );
            (us, eu_company(t, i))
        })
        .collect();
    for i in 0..count {
        let us = id_of(t.hubspot("us"), object, property, &value(i));
        let eu = id_of(t.hubspot("eu"), object, property, &value(i));
        let expected: Vec<String> = t
            .hubspot("us")
            .associated_ids(object, &us, "companies")
            .iter()
            .map(|c| us_to_eu[c].clone())
            .collect();
        assert!(!expected.is_empty(), "{object} {i} has companies on us");
        assert_eq!(
            sorted(t.hubspot("eu").associated_ids(object, &eu, "companies")),
            sorted(expected),
            "{object} {} arrives with its companies",
            value(i)
        );
    }
}

/// A full pull (which reads every set again through the lists) finds
/// nothing to do and writes nothing.
#[track_caller]
fn assert_full_sync_writes_nothing(t: &Fixture) {
    t.reset_requests();
    let run = t.work.run(&["sync", "--full"]).expect(0);
    run.assert_stdout_has("nothing to do");
    assert_eq!(t.writes(), 0);
}

fn writes(fake: &FakeHubSpot) -> usize {
    fake.server().write_request_count()
}

#[test]
fn companies_matched_by_domain_bring_their_contacts_and_deals_in_one_run_and_the_next_writes_nothing()
 {
    let t = companies();
    seed_us(&t);
    let existing = seed_eu_existing(&t);
    let existing_domains: Vec<String> = existing
        .iter()
        .map(|id| t.hubspot("eu").record("companies", id).unwrap().properties["domain"].clone())
        .collect();

    let run = t.work.run(&["sync"]).expect(0);
    let (us_first, eu_first) = (
        t.hubspot("us").server().counts_by_endpoint(),
        t.hubspot("eu").server().counts_by_endpoint(),
    );
    eprintln!("first sync requests: us {us_first:?}\n eu {eu_first:?}");
    assert!(
        run.stdout.contains("5 linked"),
        "the five companies on eu are linked: {}",
        run.stdout
    );

    // Linked, not duplicated: one eu company per domain, the five that were
    // there kept with their own spelling of it.
    assert_eq!(t.hubspot("eu").records("companies").len(), COMPANIES);
    for (i, id) in existing.iter().enumerate() {
        assert_eq!(eu_company(&t, i), *id, "company {i} linked, not created");
        assert_eq!(
            t.hubspot("eu").record("companies", id).unwrap().properties["domain"],
            existing_domains[i]
        );
    }
    assert_eq!(t.hubspot("us").records("companies").len(), COMPANIES);
    assert_eq!(t.hubspot("eu").records("contacts").len(), CONTACTS);
    assert_eq!(t.hubspot("eu").records("deals").len(), DEALS);
    assert_companies_carried(&t, "contacts", "email", CONTACTS, &|i| {
        format!("c{i}@example.com")
    });
    assert_companies_carried(&t, "deals", "dealname", DEALS, &|i| format!("Deal {i}"));
    assert_eq!(
        writes(t.hubspot("us")),
        0,
        "nothing new on eu to bring back"
    );

    // The floor of writes: one batch per object and association kind.
    for (endpoint, calls) in [
        ("POST /crm/objects/2026-09/companies/batch/create", 1),
        ("POST /crm/objects/2026-09/contacts/batch/upsert", 1),
        ("POST /crm/objects/2026-09/deals/batch/create", 1),
        (
            "POST /crm/associations/2026-09/contacts/companies/batch/associate/default",
            1,
        ),
        (
            "POST /crm/associations/2026-09/deals/companies/batch/associate/default",
            1,
        ),
    ] {
        assert_eq!(requests_matching(&eu_first, endpoint), calls, "{endpoint}");
    }
    assert_eq!(writes(t.hubspot("eu")), 5, "eu writes: {eu_first:?}");
    // Reads: one list page and the properties of each object, per side.
    let first = t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count();
    assert_eq!(first, 6 + 6 + 5);
    assert!(
        t.hubspot("us").unknown_routes().is_empty() && t.hubspot("eu").unknown_routes().is_empty()
    );

    t.reset_requests();
    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("nothing to do");
    eprintln!(
        "second sync requests: us {:?}\n eu {:?}",
        t.hubspot("us").server().counts_by_endpoint(),
        t.hubspot("eu").server().counts_by_endpoint()
    );
    assert_eq!(t.writes(), 0);
    // Per side, a search per object and one associations batch read per
    // relation (search results carry no associations).
    let second =
        t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count();
    assert_eq!(second, 2 * (3 + 2));

    assert_full_sync_writes_nothing(&t);
}

#[test]
fn a_company_deleted_on_one_side_is_archived_on_the_other_and_its_contacts_stay() {
    let t = companies();
    let eu = t.hubspot("eu");
    let us_companies = seed_us(&t);
    t.work.run(&["sync"]).expect(0);
    let gone = eu_company(&t, 7);
    let eu_contacts_before = eu.records("contacts").len();
    // Contacts 6, 7, 37 are at company 7 (6 also at 6, as it is every third).
    let at_seven: Vec<String> = [6, 7, 37]
        .iter()
        .map(|i| id_of(eu, "contacts", "email", &format!("c{i}@example.com")))
        .collect();
    for contact in &at_seven {
        let companies = t
            .hubspot("eu")
            .associated_ids("contacts", contact, "companies");
        assert!(companies.contains(&gone), "{contact} is at company 7");
    }

    t.hubspot("us").archive("companies", &us_companies[7]);
    // Deletes are seen only by a full pull.
    let run = t.work.run(&["sync", "--full"]).expect(0);
    run.assert_stdout_has("co7.example");
    assert!(
        eu.record("companies", &gone).unwrap().archived,
        "archived on eu"
    );
    assert_eq!(eu.records("companies").len(), COMPANIES - 1);
    assert_eq!(
        eu.records("contacts").len(),
        eu_contacts_before,
        "its contacts keep existing"
    );
    for contact in &at_seven {
        assert!(eu.record("contacts", contact).is_some_and(|c| !c.archived));
        let companies = t
            .hubspot("eu")
            .associated_ids("contacts", contact, "companies");
        assert!(!companies.contains(&gone));
    }
    // Contact 6 keeps its other company.
    assert_eq!(
        eu.associated_ids("contacts", &at_seven[0], "companies"),
        vec![eu_company(&t, 6)]
    );

    assert_full_sync_writes_nothing(&t);
}

#[test]
fn two_companies_with_one_domain_in_one_account_are_reported_and_left_alone() {
    let t = companies();
    let us = t.hubspot("us");
    let kept = us.seed(
        "companies",
        &[("name", "Dup One"), ("domain", "dup.example")],
    );
    let extra = us.seed(
        "companies",
        &[("name", "Dup Two"), ("domain", "www.DUP.example")],
    );
    us.seed(
        "companies",
        &[("name", "Single"), ("domain", "single.example")],
    );

    for _ in 0..2 {
        let run = t.work.run(&["sync"]).expect(0);
        let duplicate = run
            .stdout
            .lines()
            .find(|l| l.contains('?') && l.contains("duplicate") && l.contains(&extra));
        assert!(
            duplicate.is_some(),
            "the duplicate is named: {}",
            run.stdout
        );
    }
    let on_eu = t.hubspot("eu").records("companies");
    let names: Vec<&str> = on_eu
        .iter()
        .map(|c| c.properties["name"].as_str())
        .collect();
    assert_eq!(
        sorted(names.iter().map(|s| s.to_string()).collect()),
        ["Dup One", "Single"]
    );
    assert!(us.record("companies", &kept).is_some_and(|c| !c.archived));
    assert!(us.record("companies", &extra).is_some_and(|c| !c.archived));
    assert_eq!(
        us.records("companies").len(),
        3,
        "nothing merged or deleted"
    );
}

/// The run exits 2 and names one problem, on one line holding every hint;
/// nothing is written.
#[track_caller]
fn assert_refused_in_one_line(t: &Fixture, hints: &[&str]) {
    t.reset_requests();
    let run = t.work.run(&["-q", "sync"]).expect(2);
    let problems: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("pair `"))
        .collect();
    assert_eq!(problems.len(), 1, "one problem:\n{}", run.stderr);
    for hint in hints {
        assert!(problems[0].contains(hint), "`{hint}` in: {}", problems[0]);
    }
    assert_eq!(t.writes(), 0);
}

#[test]
fn a_primary_company_without_its_link_map_or_linked_through_contacts_is_refused_with_exit_2() {
    let t = companies();
    seed_us(&t);
    let config = t.mapping_text();

    let unlinked = config.replacen("primary_company = \"link:companies\"\n", "", 1);
    t.work.write_config(&unlinked);
    assert_refused_in_one_line(&t, &["pair `contacts`", "primary_company", "link:PAIR"]);

    // The deals' (the last) one, through the contacts pair.
    let (head, tail) = config
        .rsplit_once("primary_company = \"link:companies\"")
        .expect("the deals pair maps primary_company");
    let through_contacts = format!("{head}primary_company = \"link:contacts\"{tail}");
    t.work.write_config(&through_contacts);
    assert_refused_in_one_line(
        &t,
        &["pair `deals`", "primary_company", "companies", "contacts"],
    );
}

#[test]
fn company_sets_paged_two_at_a_time_in_shuffled_answers_are_carried_whole() {
    let t = companies();
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let loose = Quirks {
        no_trace_ids: true,
        shuffled: true,
        association_page: Some(2),
    };
    us.set_quirks(loose);
    eu.set_quirks(loose);
    let companies = seed_us(&t);
    // Three more companies on one contact (four in all) and one deal
    // (five): several pages each.
    let contact = id_of(us, "contacts", "email", "c1@example.com");
    let deal = id_of(us, "deals", "dealname", "Deal 1");
    for company in &companies[10..13] {
        us.associate_records("contacts", &contact, "companies", company);
        us.associate_records("deals", &deal, "companies", company);
    }

    t.work.run(&["sync"]).expect(0);
    assert_companies_carried(&t, "contacts", "email", CONTACTS, &|i| {
        format!("c{i}@example.com")
    });
    assert_companies_carried(&t, "deals", "dealname", DEALS, &|i| format!("Deal {i}"));
    let eu_contact = id_of(eu, "contacts", "email", "c1@example.com");
    assert_eq!(
        eu.associated_ids("contacts", &eu_contact, "companies")
            .len(),
        4
    );
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
    let diff = t.work.run(&["diff", "--full"]).expect(0);
    diff.assert_stdout_has("nothing to do");
}
