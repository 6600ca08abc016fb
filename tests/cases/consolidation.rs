//! Consolidation end to end: the sync rules that decide what a run may do,
//! each checked against what both accounts hold afterwards. Conflicts under
//! every policy and a per-field override; ten alternating edits that never
//! bounce back; duplicates inside one account, reported and left alone run
//! after run; a record without a match value created once and then linked by
//! id; deal–contact associations both ways (HubSpot ↔ HubSpot as a set of
//! contacts, HubSpot ↔ Pipedrive as the deal's person); mapping validation
//! that stops a run before its first write; deletes ignored, propagated and
//! held back by `max_deletes` / `max_changes`; and a value with no
//! translation reported as invalid, never written as a blank.
//!
//! Incremental runs never infer a delete, so the runs that must see one pull
//! in full (`sync --full`); the runs after them are incremental again, and
//! must not bring back what was deleted. Edits are ordered with a short sleep where `conflict = "newest"` must see
//! which came last; nothing here asserts on time taken.

use super::{
    OWNER_EMAIL, deal_titled, hs_and_pd, id_of, primary_email, primary_phone, requests_matching,
    seed_us_contacts, seed_us_deals, sorted, two_accounts, us_and_eu,
};
use crate::support::accounts::Fixture;
use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::harness::read;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const CONTACTS_UPDATE: &str = "POST /crm/objects/2026-09/contacts/batch/update";
const CONTACTS_ARCHIVE: &str = "POST /crm/objects/2026-09/contacts/batch/archive";
const DEALS_UPDATE: &str = "POST /crm/objects/2026-09/deals/batch/update";
const ASSOCIATE: &str = "POST /crm/associations/2026-09/deals/contacts/batch/associate";
const MAPPED: [&str; 4] = ["email", "firstname", "lastname", "phone"];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A contacts pair us ↔ eu, both ways, matched by email; `keys` go into the
/// `[[pairs]]` table (conflict, deletes, limits), `tables` after its fields.
fn contacts_pair(keys: &str, tables: &str) -> String {
    format!(
        r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
direction = "both"
match = "email"
{keys}
[pairs.fields]
email = "email"
firstname = "firstname"
lastname = "lastname"
phone = "phone"
{tables}
"#
    )
}

/// Two HubSpot accounts whose mapping file holds only the contacts pair.
fn contacts_only(keys: &str, tables: &str) -> Fixture {
    us_and_eu().toml(&contacts_pair(keys, tables)).build()
}

fn prop(fake: &FakeHubSpot, object: &str, id: &str, property: &str) -> String {
    let record = fake
        .record(object, id)
        .unwrap_or_else(|| panic!("{object} {id} exists"));
    record.properties.get(property).cloned().unwrap_or_default()
}

fn writes(fake: &FakeHubSpot) -> usize {
    fake.server().write_request_count()
}

/// Both accounts hold the same contacts (by email) with the same mapped values.
#[track_caller]
fn assert_contacts_mirrored(t: &Fixture) {
    let (us, eu) = (
        t.hubspot("us").records("contacts"),
        t.hubspot("eu").records("contacts"),
    );
    assert_eq!(us.len(), eu.len(), "contacts on us and eu");
    for contact in us {
        let email = &contact.properties["email"];
        let copies = t.hubspot("eu").find("contacts", "email", email);
        assert_eq!(copies.len(), 1, "{email} exists once on eu");
        for f in MAPPED {
            assert_eq!(
                copies[0]
                    .properties
                    .get(f)
                    .map(String::as_str)
                    .unwrap_or(""),
                contact.properties.get(f).map(String::as_str).unwrap_or(""),
                "{email} {f}"
            );
        }
    }
}

/// The first line of `text` containing every one of `parts`.
fn line_with<'a>(text: &'a str, parts: &[&str]) -> Option<&'a str> {
    text.lines().find(|l| parts.iter().all(|p| l.contains(p)))
}

#[track_caller]
fn assert_line(text: &str, parts: &[&str]) {
    assert!(
        line_with(text, parts).is_some(),
        "a line containing {parts:?} in:\n{text}"
    );
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Every item of every pair of a plan document.
fn plan_items(plan: &Value) -> Vec<Value> {
    plan["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .flat_map(|p| p["items"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Lets the fakes' clocks move on, so the next edit is strictly later.
fn later() {
    std::thread::sleep(Duration::from_millis(5));
}

/// HubSpot (`hs`) and Pipedrive (`pd`) with the pairs given.
fn hub_and_drive(pairs: &str) -> Fixture {
    hs_and_pd().toml(pairs).build()
}

/// A persons pair hs.contacts ↔ pd.persons matched by email; `keys` go
/// into its `[[pairs]]` table.
fn persons_pair(keys: &str) -> String {
    format!(
        r#"
[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
{keys}
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
phone = "phone"
"#
    )
}

fn person_named(m: &Fixture, name: &str) -> Vec<Value> {
    m.pipedrive("pd")
        .persons()
        .into_iter()
        .filter(|p| p["name"] == json!(name))
        .collect()
}

fn person_id(person: &Value) -> i64 {
    person["id"].as_i64().expect("person id")
}

// ---------------------------------------------------------------------------
// 1. Conflicts
// ---------------------------------------------------------------------------

/// One synced contact per account; returns (us id, eu id).
fn one_synced_contact(t: &Fixture, email: &str) -> (String, String) {
    let us = t.hubspot("us");
    us.seed(
        "contacts",
        &[
            ("email", email),
            ("firstname", "Cleo"),
            ("lastname", "Base"),
            ("phone", "+1 000"),
        ],
    );
    t.work.run(&["sync"]).expect(0);
    (
        id_of(us, "contacts", "email", email),
        id_of(t.hubspot("eu"), "contacts", "email", email),
    )
}

#[test]
fn under_newest_the_phone_edited_last_wins_whichever_side_that_is() {
    let t = contacts_only("conflict = \"newest\"", "");
    let (us_a, eu_a) = one_synced_contact(&t, "a@example.com");
    t.hubspot("us").seed(
        "contacts",
        &[("email", "b@example.com"), ("phone", "+1 000")],
    );
    t.work.run(&["sync"]).expect(0);
    let (us_b, eu_b) = (
        id_of(t.hubspot("us"), "contacts", "email", "b@example.com"),
        id_of(t.hubspot("eu"), "contacts", "email", "b@example.com"),
    );

    // a: us first, eu last → eu wins. b: eu first, us last → us wins.
    t.hubspot("us")
        .edit("contacts", &us_a, &[("phone", "+1 111")]);
    t.hubspot("eu")
        .edit("contacts", &eu_b, &[("phone", "+44 b-eu")]);
    later();
    t.hubspot("eu")
        .edit("contacts", &eu_a, &[("phone", "+44 222")]);
    t.hubspot("us")
        .edit("contacts", &us_b, &[("phone", "+1 b-us")]);

    let diff = t.work.run(&["--json", "diff"]).expect(3);
    let conflicts: Vec<Value> = plan_items(&json_of(&diff.stdout))
        .iter()
        .flat_map(|i| i["conflicts"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    let a = conflicts.iter().find(|c| c["left"] == "+1 111").expect("a");
    assert_eq!(
        (&a["field"], &a["right"], &a["winner"]),
        (&json!("phone"), &json!("+44 222"), &json!("right")),
        "{a}"
    );
    let b = conflicts
        .iter()
        .find(|c| c["left"] == "+1 b-us")
        .expect("b");
    assert_eq!(b["winner"], "left", "{b}");

    let run = t.work.run(&["sync"]).expect(0);
    assert_line(
        &run.stdout,
        &[
            "! phone:",
            "us \"+1 111\"",
            "eu \"+44 222\"",
            "eu wins (newest)",
        ],
    );
    assert_line(
        &run.stdout,
        &[
            "! phone:",
            "us \"+1 b-us\"",
            "eu \"+44 b-eu\"",
            "us wins (newest)",
        ],
    );
    assert_eq!(prop(t.hubspot("us"), "contacts", &us_a, "phone"), "+44 222");
    assert_eq!(prop(t.hubspot("eu"), "contacts", &eu_a, "phone"), "+44 222");
    assert_eq!(prop(t.hubspot("us"), "contacts", &us_b, "phone"), "+1 b-us");
    assert_eq!(prop(t.hubspot("eu"), "contacts", &eu_b, "phone"), "+1 b-us");
    assert_contacts_mirrored(&t);
    t.work.run(&["diff"]).expect(0);
}

#[test]
fn under_left_and_right_the_named_side_wins_even_when_the_other_edited_last() {
    for (policy, us_value_last) in [("left", false), ("right", true)] {
        let t = contacts_only(&format!("conflict = \"{policy}\""), "");
        let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
        let (us_id, eu_id) = one_synced_contact(&t, "c@example.com");
        // The policy's side edits first, so `newest` would pick the other.
        if us_value_last {
            eu.edit("contacts", &eu_id, &[("phone", "+44 222")]);
            later();
            us.edit("contacts", &us_id, &[("phone", "+1 111")]);
        } else {
            us.edit("contacts", &us_id, &[("phone", "+1 111")]);
            later();
            eu.edit("contacts", &eu_id, &[("phone", "+44 222")]);
        }
        let (winner, value) = if policy == "left" {
            ("us", "+1 111")
        } else {
            ("eu", "+44 222")
        };

        let run = t.work.run(&["sync"]).expect(0);
        assert_line(
            &run.stdout,
            &[
                "! phone:",
                "us \"+1 111\"",
                "eu \"+44 222\"",
                &format!("{winner} wins ({policy})"),
            ],
        );
        assert_eq!(prop(us, "contacts", &us_id, "phone"), value, "{policy}");
        assert_eq!(prop(eu, "contacts", &eu_id, "phone"), value, "{policy}");
        assert_eq!(us.records("contacts").len(), 1);
        assert_eq!(eu.records("contacts").len(), 1);
        t.work.run(&["diff"]).expect(0);
    }
}

#[test]
fn under_skip_both_phones_stay_and_every_run_exits_4_naming_the_conflict() {
    let t = contacts_only("conflict = \"skip\"", "");
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let (us_id, eu_id) = one_synced_contact(&t, "s@example.com");
    us.edit("contacts", &us_id, &[("phone", "+1 111")]);
    eu.edit("contacts", &eu_id, &[("phone", "+44 222")]);

    for _ in 0..2 {
        t.reset_requests();
        let run = t.work.run(&["sync"]).expect(4);
        assert_line(
            &run.stdout,
            &[
                "! phone:",
                "us \"+1 111\"",
                "eu \"+44 222\"",
                "left for you",
            ],
        );
        assert_eq!(t.writes(), 0, "skip writes nothing");
        assert_eq!(prop(us, "contacts", &us_id, "phone"), "+1 111");
        assert_eq!(prop(eu, "contacts", &eu_id, "phone"), "+44 222");
    }
    // A human settles it on one side: the next run copies it and is clean.
    eu.edit("contacts", &eu_id, &[("phone", "+1 111")]);
    t.work.run(&["sync"]).expect(0);
    assert_eq!(prop(eu, "contacts", &eu_id, "phone"), "+1 111");
    t.work.run(&["diff"]).expect(0);
}

#[test]
fn a_per_field_override_sends_phone_to_the_right_while_lastname_follows_the_pair_left() {
    let t = contacts_only(
        "conflict = \"left\"",
        "[pairs.conflicts]\nphone = \"right\"\n",
    );
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let (us_id, eu_id) = one_synced_contact(&t, "o@example.com");
    us.edit(
        "contacts",
        &us_id,
        &[("phone", "+1 111"), ("lastname", "FromUS")],
    );
    eu.edit(
        "contacts",
        &eu_id,
        &[("phone", "+44 222"), ("lastname", "FromEU")],
    );

    let run = t.work.run(&["sync"]).expect(0);
    assert_line(&run.stdout, &["! phone:", "eu wins (right)"]);
    assert_line(&run.stdout, &["! lastname:", "us wins (left)"]);
    for (fake, id) in [(us, &us_id), (eu, &eu_id)] {
        assert_eq!(prop(fake, "contacts", id, "phone"), "+44 222");
        assert_eq!(prop(fake, "contacts", id, "lastname"), "FromUS");
    }
    t.assert_run_writes_nothing(&["sync"]);
}

// ---------------------------------------------------------------------------
// 2. No ping-pong
// ---------------------------------------------------------------------------

#[test]
fn ten_alternating_edits_each_cross_once_in_one_batch_and_never_bounce_back() {
    let t = contacts_only("", "");
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    seed_us_contacts(&t, 3);
    t.work.run(&["sync"]).expect(0);
    let ids = |fake: &FakeHubSpot| -> Vec<String> {
        (0..3)
            .map(|i| id_of(fake, "contacts", "email", &format!("c{i}@example.com")))
            .collect()
    };
    let (us_ids, eu_ids) = (ids(us), ids(eu));
    // Consecutive runs sometimes edit the field the other side edited last.
    let fields = [
        "phone",
        "phone",
        "firstname",
        "lastname",
        "lastname",
        "firstname",
        "phone",
        "lastname",
        "firstname",
        "firstname",
    ];

    for (n, field) in (1..=10).zip(fields) {
        let (source, target, source_ids) = if n % 2 == 1 {
            (us, eu, &us_ids)
        } else {
            (eu, us, &eu_ids)
        };
        // Every third run edits two contacts: still one batch.
        let edited: Vec<usize> = if n % 3 == 0 {
            vec![n % 3, (n + 1) % 3]
        } else {
            vec![n % 3]
        };
        for &i in &edited {
            let value = format!("{field}-{n}");
            source.edit("contacts", &source_ids[i], &[(field, value.as_str())]);
        }
        t.reset_requests();
        let run = t.work.run(&["sync"]).expect(0);
        assert!(
            run.stdout
                .contains(&format!("Applied: 0 created, {} updated", edited.len())),
            "run {n}: {}",
            run.stdout
        );
        assert_contacts_mirrored(&t);
        for &i in &edited {
            let email = format!("c{i}@example.com");
            let copy = &target.find("contacts", "email", &email)[0];
            assert_eq!(copy.properties[field], format!("{field}-{n}"), "run {n}");
        }
        let target_counts = target.server().counts_by_endpoint();
        assert_eq!(
            (writes(source), writes(target)),
            (0, 1),
            "run {n}: one write, to the other side: source {:?} target {target_counts:?}",
            source.server().counts_by_endpoint()
        );
        assert_eq!(
            requests_matching(&target_counts, CONTACTS_UPDATE),
            1,
            "run {n}"
        );

        t.reset_requests();
        t.work.run(&["diff"]).expect(0);
        assert_eq!(t.writes(), 0, "run {n}: diff");
    }
}

// ---------------------------------------------------------------------------
// 3. Duplicates and records without a match value
// ---------------------------------------------------------------------------

#[test]
fn duplicate_persons_are_reported_every_run_and_only_the_lowest_id_is_synced() {
    let m = hub_and_drive(&persons_pair("direction = \"both\""));
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let kept = pd.seed_person(json!({
        "name": "Dana Dup",
        "emails": [{"value": "dup@example.com", "primary": true}],
    }));
    let extra = pd.seed_person(json!({
        "name": "Eve Copy",
        "emails": [{"value": "DUP@example.com ", "primary": true}],
    }));
    assert!(kept < extra);
    pd.seed_person(json!({
        "name": "Sol Single",
        "emails": [{"value": "single@example.com", "primary": true}],
    }));
    // Sol is on both sides already: linked by email, not created.
    hs.seed(
        "contacts",
        &[("email", "Single@Example.com"), ("firstname", "Sol")],
    );

    let run = m.work.run(&["--report", "first.json", "sync"]).expect(0);
    let dup_line = ["?", "duplicate", "dup@example.com", &format!("pd {extra}")];
    assert_line(&run.stdout, &dup_line);
    assert_line(&run.stdout, &["=", "link", "single@example.com"]);
    let contacts = hs.find("contacts", "email", "dup@example.com");
    assert_eq!(contacts.len(), 1, "one HubSpot contact for both persons");
    assert_eq!(
        contacts[0].properties["firstname"], "Dana",
        "from the lower id"
    );
    assert_eq!(contacts[0].properties["lastname"], "Dup");
    assert_eq!(hs.records("contacts").len(), 2, "dup and single");

    let report = json_of(&read(&m.work.path("first.json")));
    let created = report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["left_id"] == json!(contacts[0].id))
        .cloned()
        .unwrap_or_else(|| panic!("the contact's create in {report:#}"));
    assert_eq!(created["right_id"], json!(kept.to_string()), "{created}");
    let named_in = |report: &Value| {
        report["duplicates"].as_array().is_some_and(|ds| {
            ds.iter().any(|d| {
                d["extra"]
                    .as_array()
                    .is_some_and(|e| e.contains(&json!(extra.to_string())))
            })
        })
    };
    assert!(named_in(&report), "{report:#}");
    assert_eq!(
        report["duplicates"][0]["kept"],
        json!(kept.to_string()),
        "{report:#}"
    );

    m.reset_requests();
    let run = m.work.run(&["--report", "second.json", "sync"]).expect(0);
    assert_line(&run.stdout, &dup_line);
    let second = json_of(&read(&m.work.path("second.json")));
    assert!(named_in(&second), "{second:#}");
    assert_eq!(m.writes(), 0, "the second run writes nothing");
    assert_eq!(pd.persons().len(), 3, "both duplicates are kept");
    assert_eq!(person_named(&m, "Eve Copy").len(), 1);
    assert_eq!(hs.records("contacts").len(), 2);

    // The contact follows the lower id, not the other one.
    pd.edit_person(
        kept,
        json!({"phones": [{"value": "+1 555 0101", "primary": true}]}),
    );
    pd.edit_person(
        extra,
        json!({"phones": [{"value": "+1 555 0202", "primary": true}]}),
    );
    m.work.run(&["sync"]).expect(0);
    let contact = &hs.find("contacts", "email", "dup@example.com")[0];
    assert_eq!(contact.properties["phone"], "+1 555 0101");
    assert_eq!(primary_phone(&pd.person(extra).unwrap()), "+1 555 0202");
    assert_eq!(pd.persons().len(), 3);

    // Stable: the second run named the same duplicate, kept beside the same
    // (lowest) id.
    assert_eq!(second["duplicates"], report["duplicates"]);
}

#[test]
fn records_without_an_email_are_created_once_named_and_then_linked_by_id() {
    let m = hub_and_drive(&persons_pair("direction = \"both\""));
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let nora = hs.seed(
        "contacts",
        &[("firstname", "Nora"), ("lastname", "Noemail")],
    );
    let omar = m
        .pipedrive("pd")
        .seed_person(json!({"name": "Omar Nomail"}));

    m.work.run(&["sync"]).expect(0);
    let persons = person_named(&m, "Nora Noemail");
    assert_eq!(persons.len(), 1, "{:?}", pd.persons());
    assert_eq!(primary_email(&persons[0]), "");
    let nora_person = person_id(&persons[0]);
    let omars = hs.find("contacts", "firstname", "Omar");
    assert_eq!(omars.len(), 1);
    assert_eq!(omars[0].properties["lastname"], "Nomail");
    assert_eq!((hs.records("contacts").len(), pd.persons().len()), (2, 2));

    m.reset_requests();
    let run = m.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("nothing to do");
    assert_eq!(m.writes(), 0, "no second creation");
    assert_eq!((hs.records("contacts").len(), pd.persons().len()), (2, 2));

    // Linked by id: edits flow to the same records.
    hs.edit("contacts", &nora, &[("phone", "+1 555 0303")]);
    pd.edit_person(
        omar,
        json!({"phones": [{"value": "+1 555 0404", "primary": true}]}),
    );
    m.work.run(&["sync"]).expect(0);
    assert_eq!(
        primary_phone(&pd.person(nora_person).unwrap()),
        "+1 555 0303"
    );
    assert_eq!(prop(hs, "contacts", &omars[0].id, "phone"), "+1 555 0404");
    assert_eq!((hs.records("contacts").len(), pd.persons().len()), (2, 2));
}

// ---------------------------------------------------------------------------
// 4. Associations
// ---------------------------------------------------------------------------

#[test]
fn a_deal_carries_all_its_contacts_across_and_an_added_one_comes_back_without_touching_the_deal() {
    let t = us_and_eu()
        .toml(&contacts_pair("", ""))
        .toml(
            r#"
[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
direction = "both"
[pairs.fields]
dealname = "dealname"
contacts = "contacts"
[pairs.values]
contacts = "link:contacts"
"#,
        )
        .build();
    let us = t.hubspot("us");
    seed_us_contacts(&t, 3);
    let us_c: Vec<String> = (0..3)
        .map(|i| id_of(us, "contacts", "email", &format!("c{i}@example.com")))
        .collect();
    let us_deal = us.seed("deals", &[("dealname", "Big deal")]);
    us.associate(&us_deal, &us_c[0]);
    us.associate(&us_deal, &us_c[1]);

    // The contacts are new on eu in this very run.
    t.work.run(&["sync"]).expect(0);
    let eu_c: Vec<String> = (0..3)
        .map(|i| {
            id_of(
                t.hubspot("eu"),
                "contacts",
                "email",
                &format!("c{i}@example.com"),
            )
        })
        .collect();
    let eu_deal = id_of(t.hubspot("eu"), "deals", "dealname", "Big deal");
    assert_eq!(
        sorted(t.hubspot("eu").associations(&eu_deal)),
        sorted(vec![eu_c[0].clone(), eu_c[1].clone()])
    );
    assert_eq!(t.hubspot("eu").records("deals").len(), 1);

    t.hubspot("eu").associate(&eu_deal, &eu_c[2]);
    let us_modified = prop(us, "deals", &us_deal, "hs_lastmodifieddate");
    let diff = t.work.run(&["diff"]).expect(3);
    assert_line(&diff.stdout, &["~ us", "associate", "Big deal", &us_deal]);
    assert_line(&diff.stdout, &["contacts:", &us_c[2]]);

    t.reset_requests();
    t.work.run(&["sync"]).expect(0);
    assert_eq!(sorted(us.associations(&us_deal)), sorted(us_c.clone()));
    assert_eq!(
        sorted(t.hubspot("eu").associations(&eu_deal)),
        sorted(eu_c.clone())
    );
    let us_counts = us.server().counts_by_endpoint();
    assert_eq!(requests_matching(&us_counts, ASSOCIATE), 1, "{us_counts:?}");
    assert_eq!(
        requests_matching(&us_counts, DEALS_UPDATE),
        0,
        "{us_counts:?}"
    );
    assert_eq!(writes(t.hubspot("eu")), 0);
    assert_eq!(
        prop(us, "deals", &us_deal, "hs_lastmodifieddate"),
        us_modified,
        "an association write alone does not move the deal's modified time"
    );

    // Nothing echoes back.
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_deals_contact_and_its_pipedrive_person_follow_each_other_both_ways() {
    let m = hub_and_drive(&format!(
        "{}{}",
        persons_pair("direction = \"both\""),
        r#"
[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
direction = "both"
[pairs.fields]
dealname = "title"
contact = "person_id"
[pairs.values]
contact = "link:contacts"
"#
    ));
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let ann = hs.seed(
        "contacts",
        &[
            ("email", "ann@example.com"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
        ],
    );
    let bo_person = pd.seed_person(
        json!({"name": "Bo Chen", "emails": [{"value": "bo@example.com", "primary": true}]}),
    );
    let acme = hs.seed("deals", &[("dealname", "Acme")]);
    hs.associate(&acme, &ann);
    let globex_deal = m
        .pipedrive("pd")
        .seed_deal(json!({"title": "Globex", "person_id": bo_person}));

    m.work.run(&["sync"]).expect(0);
    let ann_person = person_id(&person_named(&m, "Ann Lee")[0]);
    let bo = id_of(hs, "contacts", "email", "bo@example.com");
    let globex = id_of(hs, "deals", "dealname", "Globex");
    assert_eq!(deal_titled(pd, "Acme")["person_id"], json!(ann_person));
    assert_eq!(hs.associations(&globex), vec![bo.clone()]);

    // Pipedrive moves Acme to Bo; HubSpot adds Ann (the lower id) to Globex.
    pd.edit_deal(
        deal_titled(pd, "Acme")["id"].as_i64().unwrap(),
        json!({"person_id": bo_person}),
    );
    hs.associate(&globex, &ann);
    let acme_modified = prop(hs, "deals", &acme, "hs_lastmodifieddate");
    let diff = m.work.run(&["diff"]).expect(3);
    assert_line(&diff.stdout, &["~ hs", "associate", "Acme"]);
    assert_line(&diff.stdout, &["~ pd", "associate", "Globex"]);

    m.work.run(&["sync"]).expect(0);
    assert_eq!(
        hs.associations(&acme),
        vec![bo.clone()],
        "Acme's contact is Bo"
    );
    assert_eq!(
        pd.deal(globex_deal).unwrap()["person_id"],
        json!(ann_person),
        "Globex's person is Ann, its primary contact"
    );
    assert_eq!(
        prop(hs, "deals", &acme, "hs_lastmodifieddate"),
        acme_modified
    );
    assert_eq!((hs.records("deals").len(), pd.deals().len()), (2, 2));

    // No ping-pong.
    m.assert_run_writes_nothing(&["sync"]);
}

// ---------------------------------------------------------------------------
// 5. Mapping validation
// ---------------------------------------------------------------------------

/// The run exits 2, stderr names every problem (each on a line of its own),
/// and neither account received a write.
#[track_caller]
fn assert_refused_before_any_write(t: &Fixture, command: &str, problems: &[&[&str]]) {
    t.reset_requests();
    let run = t.work.run(&["-q", command]).expect(2);
    for parts in problems {
        assert_line(&run.stderr, parts);
    }
    assert_eq!(
        t.writes(),
        0,
        "{command}: us {:?} eu {:?}",
        t.hubspot("us").server().counts_by_endpoint(),
        t.hubspot("eu").server().counts_by_endpoint()
    );
}

#[test]
fn an_unknown_property_stops_diff_and_sync_with_exit_2_before_any_write() {
    let t = contacts_only("", "");
    let config = t.mapping_text().replace(
        "phone = \"phone\"",
        "phone = \"phone\"\nfavourite_colour = \"favourite_colour\"",
    );
    t.write_mapping(&config);
    seed_us_contacts(&t, 2);
    let problems: &[&[&str]] = &[
        &["us.contacts", "favourite_colour"],
        &["eu.contacts", "favourite_colour"],
    ];
    assert_refused_before_any_write(&t, "diff", problems);
    assert_refused_before_any_write(&t, "sync", problems);
    assert!(t.hubspot("eu").records("contacts").is_empty());
}

#[test]
fn a_stage_id_no_target_pipeline_has_stops_the_run_with_exit_2_before_any_write() {
    let t = two_accounts();
    let eu = t.hubspot("eu");
    let config = t
        .mapping_text()
        .replace("closedlost = \"eu-lost\"", "closedlost = \"eu-nonesuch\"");
    t.write_mapping(&config);
    seed_us_contacts(&t, 2);
    seed_us_deals(&t, 4);
    assert_refused_before_any_write(&t, "sync", &[&["eu-nonesuch", "dealstage"]]);
    assert!(eu.records("contacts").is_empty(), "not even the valid pair");
    assert!(eu.records("deals").is_empty());
}

#[test]
fn a_stage_id_of_another_pipeline_than_the_deals_go_to_stops_the_run_with_exit_2() {
    // eu's default pipeline has `closedlost`; the deals go to `eu-sales`.
    let t = two_accounts();
    let config = t
        .mapping_text()
        .replace("closedlost = \"eu-lost\"", "closedlost = \"closedlost\"");
    t.write_mapping(&config);
    seed_us_deals(&t, 4);
    assert_refused_before_any_write(&t, "sync", &[&["closedlost", "dealstage"]]);
    assert!(t.hubspot("eu").records("deals").is_empty());
}

#[test]
fn a_read_only_target_on_a_both_ways_pair_stops_the_run_with_exit_2_before_any_write() {
    let t = contacts_only("", "");
    let eu = t.hubspot("eu");
    let config = t.mapping_text().replace(
        "phone = \"phone\"",
        "phone = \"phone\"\ncreatedate = \"createdate\"",
    );
    t.write_mapping(&config);
    seed_us_contacts(&t, 2);
    assert_refused_before_any_write(
        &t,
        "sync",
        &[
            &["createdate", "us.contacts", "read-only"],
            &["createdate", "eu.contacts", "read-only"],
        ],
    );
    assert!(eu.records("contacts").is_empty());

    // Read on the source side only, it is fine: a one-way pair copies it.
    let config = config
        .replace("direction = \"both\"", "direction = \"left-to-right\"")
        .replace("createdate = \"createdate\"", "createdate = \"jobtitle\"");
    t.write_mapping(&config);
    t.work.run(&["sync"]).expect(0);
    assert_eq!(eu.records("contacts").len(), 2);
    for c in eu.records("contacts") {
        assert!(
            !c.properties.get("jobtitle").is_none_or(String::is_empty),
            "{c:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 6. Deletes and safety limits
//
// Incremental runs never infer a delete; a full pull (`--full`, or every
// `full_pull_every` runs) is what sees a record gone.
// ---------------------------------------------------------------------------

#[test]
fn by_default_an_archived_contact_is_unlinked_and_reported_and_its_partner_kept() {
    let t = contacts_only("", "");
    let us = t.hubspot("us");
    seed_us_contacts(&t, 3);
    t.work.run(&["sync"]).expect(0);
    let us_id = id_of(us, "contacts", "email", "c0@example.com");
    let eu_id = id_of(t.hubspot("eu"), "contacts", "email", "c0@example.com");
    us.archive("contacts", &us_id);

    t.reset_requests();
    let run = t
        .work
        .run(&["--report", "report.json", "sync", "--full"])
        .expect(0);
    assert_line(&run.stdout, &["x", "unlink", "c0@example.com"]);
    run.assert_stdout_has("1 unlinked");
    assert_eq!(t.writes(), 0, "nothing deleted");
    let eu = t.hubspot("eu").record("contacts", &eu_id).unwrap();
    assert!(!eu.archived, "the eu contact still exists");
    assert_eq!(t.hubspot("eu").records("contacts").len(), 3);
    assert_eq!(us.records("contacts").len(), 2);
    let report = json_of(&read(&t.work.path("report.json")));
    assert!(
        report["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["action"] == "unlink" && o["right_id"] == json!(eu_id)),
        "{report:#}"
    );
}

/// Contacts us ↔ eu with `deletes = "propagate"`, `n` synced; returns the
/// (us, eu) ids of c0 and c1.
fn propagating(n: usize, keys: &str) -> (Fixture, [(String, String); 2]) {
    let t = contacts_only(&format!("deletes = \"propagate\"\n{keys}"), "");
    seed_us_contacts(&t, n);
    t.work.run(&["sync"]).expect(0);
    let ids = [0, 1].map(|i| {
        let email = format!("c{i}@example.com");
        (
            id_of(t.hubspot("us"), "contacts", "email", &email),
            id_of(t.hubspot("eu"), "contacts", "email", &email),
        )
    });
    (t, ids)
}

#[test]
fn with_deletes_propagated_an_archived_contact_archives_its_partner_on_either_side() {
    let (t, [(us0, eu0), (us1, eu1)]) = propagating(3, "");
    t.hubspot("us").archive("contacts", &us0);
    t.hubspot("eu").archive("contacts", &eu1);

    t.reset_requests();
    let run = t.work.run(&["sync", "--full"]).expect(0);
    assert_line(&run.stdout, &["- eu", "delete", "c0@example.com", &eu0]);
    assert_line(&run.stdout, &["- us", "delete", "c1@example.com", &us1]);
    assert!(t.hubspot("eu").record("contacts", &eu0).unwrap().archived);
    assert!(t.hubspot("us").record("contacts", &us1).unwrap().archived);
    assert_eq!(t.hubspot("us").records("contacts").len(), 1);
    assert_eq!(t.hubspot("eu").records("contacts").len(), 1);
    for fake in [t.hubspot("us"), t.hubspot("eu")] {
        let counts = fake.server().counts_by_endpoint();
        assert_eq!(
            requests_matching(&counts, CONTACTS_ARCHIVE),
            1,
            "{counts:?}"
        );
    }
    assert_contacts_mirrored(&t);

    // Nothing comes back.
    t.assert_run_writes_nothing(&["sync", "--full"]);
    assert_eq!(
        (
            t.hubspot("us").records("contacts").len(),
            t.hubspot("eu").records("contacts").len()
        ),
        (1, 1)
    );
}

#[test]
fn propagated_deletes_are_not_undone_by_the_incremental_runs_that_follow() {
    let (t, [(us0, _), (_, eu1)]) = propagating(3, "");
    t.hubspot("us").archive("contacts", &us0);
    t.hubspot("eu").archive("contacts", &eu1);
    t.work.run(&["sync", "--full"]).expect(0);
    assert_eq!(
        (
            t.hubspot("us").records("contacts").len(),
            t.hubspot("eu").records("contacts").len()
        ),
        (1, 1)
    );

    for n in 1..=2 {
        t.reset_requests();
        let run = t.work.run(&["sync"]).expect(0);
        assert_eq!(
            t.writes(),
            0,
            "incremental run {n} recreated what was deleted:\n{}",
            run.stdout
        );
    }
    assert!(
        t.hubspot("us")
            .find("contacts", "email", "c0@example.com")
            .is_empty()
    );
    assert!(
        t.hubspot("eu")
            .find("contacts", "email", "c1@example.com")
            .is_empty()
    );
    t.assert_run_writes_nothing(&["sync", "--full"]);
    assert_eq!(
        (
            t.hubspot("us").records("contacts").len(),
            t.hubspot("eu").records("contacts").len()
        ),
        (1, 1)
    );
}

#[test]
fn with_deletes_propagated_a_deleted_person_archives_its_contact_and_the_reverse() {
    let m = hub_and_drive(&persons_pair(
        "direction = \"both\"\ndeletes = \"propagate\"",
    ));
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let gone_person = pd.seed_person(
        json!({"name": "Pia Gone", "emails": [{"value": "pia@example.com", "primary": true}]}),
    );
    let archived = hs.seed(
        "contacts",
        &[
            ("email", "hal@example.com"),
            ("firstname", "Hal"),
            ("lastname", "Gone"),
        ],
    );
    hs.seed(
        "contacts",
        &[("email", "kim@example.com"), ("firstname", "Kim")],
    );
    m.work.run(&["sync"]).expect(0);
    let pia = id_of(hs, "contacts", "email", "pia@example.com");
    let hal_person = person_id(&person_named(&m, "Hal Gone")[0]);

    pd.delete_person(gone_person);
    hs.archive("contacts", &archived);
    m.work.run(&["sync", "--full"]).expect(0);
    assert!(
        hs.record("contacts", &pia).unwrap().archived,
        "Pia archived on HubSpot"
    );
    assert_eq!(pd.person(hal_person).unwrap()["is_deleted"], json!(true));
    assert_eq!((hs.records("contacts").len(), pd.persons().len()), (1, 1));

    m.assert_run_writes_nothing(&["sync", "--full"]);
    assert_eq!((hs.records("contacts").len(), pd.persons().len()), (1, 1));
}

#[test]
fn a_deleted_person_leaves_its_contact_alone_when_the_pair_only_writes_pipedrive() {
    let m = hub_and_drive(&persons_pair(
        "direction = \"left-to-right\"\ndeletes = \"propagate\"",
    ));
    let hs = m.hubspot("hs");
    let contact = hs.seed(
        "contacts",
        &[
            ("email", "lu@example.com"),
            ("firstname", "Lu"),
            ("lastname", "Kept"),
        ],
    );
    m.work.run(&["sync"]).expect(0);
    let person = person_id(&person_named(&m, "Lu Kept")[0]);

    m.pipedrive("pd").delete_person(person);
    m.reset_requests();
    let run = m.work.run(&["sync", "--full"]).expect(0);
    assert_line(&run.stdout, &["x", "unlink", "lu@example.com"]);
    assert_eq!(hs.server().write_request_count(), 0);
    assert!(!hs.record("contacts", &contact).unwrap().archived);
    assert_eq!(hs.records("contacts").len(), 1);
}

#[test]
fn more_deletes_than_max_deletes_stop_before_any_write_until_the_flag_allows_them() {
    let (t, _) = propagating(5, "max_deletes = 1");
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let doomed: Vec<(String, String)> = (0..3)
        .map(|i| {
            let email = format!("c{i}@example.com");
            (
                id_of(us, "contacts", "email", &email),
                id_of(eu, "contacts", "email", &email),
            )
        })
        .collect();
    for (us_id, _) in &doomed {
        us.archive("contacts", us_id);
    }

    t.reset_requests();
    let run = t.work.run(&["-q", "sync", "--full"]).expect(6);
    run.assert_stderr_has("max_deletes");
    assert_eq!(t.writes(), 0);
    assert_eq!(eu.records("contacts").len(), 5, "nothing archived on eu");

    let run = t
        .work
        .run(&["sync", "--full", "--max-deletes", "3"])
        .expect(0);
    for (_, eu_id) in &doomed {
        assert!(
            eu.record("contacts", eu_id).unwrap().archived,
            "{}",
            run.stdout
        );
    }
    assert_eq!(eu.records("contacts").len(), 2);
    assert_contacts_mirrored(&t);
}

#[test]
fn more_edits_than_max_changes_percent_stop_sync_and_push_before_any_write() {
    let t = contacts_only("max_changes = \"10%\"", "");
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    seed_us_contacts(&t, 50);
    // Fifty creates are fifty changes too: the first sync needs the flag.
    t.work.run(&["-q", "sync"]).expect(6);
    assert!(eu.records("contacts").is_empty());
    t.work.run(&["sync", "--max-changes", "50"]).expect(0);
    let edited: Vec<String> = (0..10)
        .map(|i| id_of(us, "contacts", "email", &format!("c{i}@example.com")))
        .collect();
    for id in &edited {
        us.edit("contacts", id, &[("lastname", "Edited")]);
    }
    let edited_on_eu = || eu.find("contacts", "lastname", "Edited").len();

    t.reset_requests();
    let run = t.work.run(&["-q", "sync"]).expect(6);
    run.assert_stderr_has("max_changes");
    assert_eq!(t.writes(), 0);
    assert_eq!(edited_on_eu(), 0);

    t.work.run(&["diff", "--out", "plan.json"]).expect(3);
    t.work.run(&["-q", "push", "plan.json"]).expect(6);
    assert_eq!(t.writes(), 0);
    assert_eq!(edited_on_eu(), 0);

    t.work
        .run(&["push", "--max-changes", "10", "plan.json"])
        .expect(0);
    assert_eq!(edited_on_eu(), 10);
    assert_contacts_mirrored(&t);
}

// ---------------------------------------------------------------------------
// 7. A value with no translation
// ---------------------------------------------------------------------------

#[test]
fn a_deal_whose_stage_has_no_table_entry_is_invalid_while_the_others_sync_without_a_blank_stage() {
    let t = two_accounts();
    let us = t.hubspot("us");
    let deal = |name: &str, stage: &str| {
        BTreeMap::from([
            ("dealname".to_string(), name.to_string()),
            ("amount".to_string(), "100".to_string()),
            ("pipeline".to_string(), "default".to_string()),
            ("dealstage".to_string(), stage.to_string()),
            ("hubspot_owner_id".to_string(), t.owner("us", OWNER_EMAIL)),
        ])
    };
    let ids = us.seed_many(
        "deals",
        vec![
            deal("Alpha", "appointmentscheduled"),
            deal("Bravo", "closedwon"),
            // `contractsent` is a real stage with no entry in the table.
            deal("Charlie", "contractsent"),
        ],
    );

    let diff = t.work.run(&["--json", "diff"]).expect(3);
    let items = plan_items(&json_of(&diff.stdout));
    assert!(
        items
            .iter()
            .any(|i| i["action"] == "invalid" && i["label"] == "Charlie"),
        "{items:#?}"
    );
    let run = t.work.run(&["--report", "report.json", "sync"]).expect(4);
    assert_line(&run.stdout, &["invalid", "Charlie", "contractsent"]);
    let eu_deals = t.hubspot("eu").records("deals");
    assert_eq!(eu_deals.len(), 2, "Alpha and Bravo");
    assert!(
        t.hubspot("eu")
            .find("deals", "dealname", "Charlie")
            .is_empty()
    );
    for d in &eu_deals {
        assert!(!d.properties["dealstage"].is_empty(), "{d:?}");
    }
    let report = json_of(&read(&t.work.path("report.json")));
    assert!(
        report["outcomes"].as_array().unwrap().iter().any(|o| {
            o["action"] == "invalid" && o["result"] == "failed" && o["label"] == "Charlie"
        }),
        "{report:#}"
    );

    // A linked deal moved to the unmapped stage keeps its stage on eu; its
    // other edits and the other deals still go across.
    let eu_alpha = id_of(t.hubspot("eu"), "deals", "dealname", "Alpha");
    let eu_bravo = id_of(t.hubspot("eu"), "deals", "dealname", "Bravo");
    // Edits name the pipeline: the fake drops a deal's pipeline on an
    // update that leaves it out.
    us.edit(
        "deals",
        &ids[0],
        &[("pipeline", "default"), ("dealstage", "contractsent")],
    );
    us.edit(
        "deals",
        &ids[1],
        &[("pipeline", "default"), ("amount", "250")],
    );
    t.work.run(&["sync"]).expect(4);
    assert_eq!(
        prop(t.hubspot("eu"), "deals", &eu_alpha, "dealstage"),
        "eu-appointment"
    );
    assert_eq!(prop(t.hubspot("eu"), "deals", &eu_bravo, "amount"), "250");
    assert_eq!(t.hubspot("eu").records("deals").len(), 2);

    // Once the stage is one the table knows, everything syncs and runs clean.
    us.edit(
        "deals",
        &ids[0],
        &[("pipeline", "default"), ("dealstage", "closedwon")],
    );
    us.edit(
        "deals",
        &ids[2],
        &[("pipeline", "default"), ("dealstage", "closedlost")],
    );
    t.work.run(&["sync"]).expect(0);
    assert_eq!(
        prop(t.hubspot("eu"), "deals", &eu_alpha, "dealstage"),
        "eu-won"
    );
    let charlie = id_of(t.hubspot("eu"), "deals", "dealname", "Charlie");
    assert_eq!(
        prop(t.hubspot("eu"), "deals", &charlie, "dealstage"),
        "eu-lost"
    );
    t.assert_run_writes_nothing(&["sync"]);
}
