//! Notes travel with their records: HubSpot notes ↔ Pipedrive notes and ↔
//! HubSpot notes, attached to the partners of their contacts, deals and
//! companies, with their time; a note whose records have no partner yet
//! waits and lands in the run that links them; unlinked notes pair by body,
//! time and records, so a rerun without the state directory doubles none.

use super::{deal_titled, hs_and_pd, primary_email, us_and_eu};
use crate::support::accounts::Fixture;
use serde_json::{Value, json};

const PD_PAIRS: &str = r#"
[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"

[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
match = "dealname"
[pairs.fields]
dealname = "title"
contact = "person_id"
[pairs.values]
contact = "link:contacts"

[[pairs]]
name = "notes"
left = "hs.notes"
right = "pd.notes"
direction = "both"
[pairs.fields]
hs_note_body = "content"
hs_timestamp = "add_time"
hubspot_owner_id = "user_id"
contact = "person_id"
deal = "deal_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
contact = "link:contacts"
deal = "link:deals"
"#;

/// HubSpot (`hs`) and Pipedrive (`pd`), contacts, deals and notes paired
/// as the README shows, `deletes` of the notes pair as given; Pipedrive's
/// default user is a HubSpot owner too (it authors the notes it is sent).
fn hs_pd_notes(deletes: &str) -> Fixture {
    hs_and_pd()
        .owner("hs", "owner@example.com", "Default Owner")
        .toml(&PD_PAIRS.replace(
            "direction = \"both\"\n[pairs.fields]\nhs_note_body",
            &format!("direction = \"both\"\ndeletes = \"{deletes}\"\n[pairs.fields]\nhs_note_body"),
        ))
        .build()
}

/// A HubSpot note on the records given as (object, id).
fn hs_note(m: &Fixture, body: &str, time: &str, on: &[(&str, &str)]) -> String {
    let hs = m.hubspot("hs");
    let id = hs.seed("notes", &[("hs_note_body", body), ("hs_timestamp", time)]);
    for (object, other) in on {
        hs.associate_records("notes", &id, object, other);
    }
    id
}

/// The one live Pipedrive note whose content is `body`.
#[track_caller]
fn pd_note(m: &Fixture, body: &str) -> Value {
    let found: Vec<Value> = m
        .pipedrive("pd")
        .notes()
        .into_iter()
        .filter(|n| n["content"] == body)
        .collect();
    assert_eq!(found.len(), 1, "notes with content {body:?}: {found:?}");
    found[0].clone()
}

/// The live HubSpot notes of account `system` whose body is `body`.
fn hs_notes(m: &Fixture, system: &str, body: &str) -> Vec<String> {
    m.hubspot(system)
        .find("notes", "hs_note_body", body)
        .into_iter()
        .map(|r| r.id)
        .collect()
}

/// The Pipedrive person with this primary email.
#[track_caller]
fn person_id(m: &Fixture, email: &str) -> i64 {
    let persons = m.pipedrive("pd").persons();
    let person = persons
        .iter()
        .find(|p| primary_email(p) == email)
        .unwrap_or_else(|| panic!("no person {email}"));
    person["id"].as_i64().expect("an id")
}

#[test]
fn hubspot_notes_land_once_on_the_partners_of_their_records_with_their_time_and_edits_cross_both_ways()
 {
    let m = hs_pd_notes("ignore");
    let hs = m.hubspot("hs");
    let ann = hs.seed(
        "contacts",
        &[("email", "ann@example.com"), ("firstname", "Ann")],
    );
    let bo = hs.seed(
        "contacts",
        &[("email", "bo@example.com"), ("firstname", "Bo")],
    );
    let deal = hs.seed("deals", &[("dealname", "Big deal")]);
    hs.associate(&deal, &bo);
    hs_note(
        &m,
        "<p>Ann called</p>",
        "2026-11-02T09:30:00Z",
        &[("contacts", &ann)],
    );
    hs_note(
        &m,
        "<p>Bo wants a quote</p>",
        "2026-11-03T10:00:00Z",
        &[("contacts", &bo), ("deals", &deal)],
    );
    hs_note(
        &m,
        "<p>Deal review</p>",
        "2026-11-04T11:15:00Z",
        &[("deals", &deal)],
    );

    let run = m.run(&["sync"]).expect(0);
    run.assert_stdout_has("notes  (hs.notes <-> pd.notes)");
    let pd_deal = deal_titled(m.pipedrive("pd"), "Big deal")["id"].clone();
    let (pd_ann, pd_bo) = (
        person_id(&m, "ann@example.com"),
        person_id(&m, "bo@example.com"),
    );
    assert_eq!(m.pipedrive("pd").notes().len(), 3, "each note lands once");
    let ann_note = pd_note(&m, "<p>Ann called</p>");
    assert_eq!(
        (
            &ann_note["person_id"],
            &ann_note["deal_id"],
            &ann_note["add_time"]
        ),
        (&json!(pd_ann), &Value::Null, &json!("2026-11-02 09:30:00"))
    );
    let quote = pd_note(&m, "<p>Bo wants a quote</p>");
    assert_eq!(
        (&quote["person_id"], &quote["deal_id"], &quote["add_time"]),
        (&json!(pd_bo), &pd_deal, &json!("2026-11-03 10:00:00"))
    );
    let review = pd_note(&m, "<p>Deal review</p>");
    assert_eq!(
        (
            &review["person_id"],
            &review["deal_id"],
            &review["add_time"]
        ),
        (&Value::Null, &pd_deal, &json!("2026-11-04 11:15:00"))
    );

    // A note written in Pipedrive on a person arrives on the contact.
    m.pipedrive("pd").seed_note(json!({
        "content": "<p>Met Ann at the fair</p>",
        "person_id": pd_ann,
        "add_time": "2026-11-05 16:45:00",
    }));
    m.run(&["sync"]).expect(0);
    let arrived = hs_notes(&m, "hs", "<p>Met Ann at the fair</p>");
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    let note = hs.record("notes", &arrived[0]).expect("the note");
    assert_eq!(
        note.properties["hs_timestamp"], "2026-11-05T16:45:00.000Z",
        "the note keeps its time"
    );
    assert_eq!(hs.associated_ids("notes", &arrived[0], "contacts"), [ann]);

    // A HubSpot edit crosses.
    let quote_id = hs_notes(&m, "hs", "<p>Bo wants a quote</p>").remove(0);
    hs.edit(
        "notes",
        &quote_id,
        &[("hs_note_body", "<p>Bo wants a quote by Friday</p>")],
    );
    m.run(&["sync"]).expect(0);
    assert_eq!(
        pd_note(&m, "<p>Bo wants a quote by Friday</p>")["id"],
        quote["id"]
    );

    // And a Pipedrive edit crosses back.
    let ann_note_id = ann_note["id"].as_i64().expect("an id");
    m.pipedrive("pd")
        .edit_note(ann_note_id, json!({"content": "<p>Ann called twice</p>"}));
    m.run(&["sync"]).expect(0);
    assert_eq!(hs_notes(&m, "hs", "<p>Ann called twice</p>").len(), 1);

    // A further full sync writes nothing.
    m.assert_run_writes_nothing(&["sync", "--full"]);
    assert_eq!(m.pipedrive("pd").notes().len(), 4);
    assert_eq!(hs.records("notes").len(), 4);
}

#[test]
fn a_note_waits_for_its_records_partner_and_lands_in_the_run_that_links_it() {
    let m = hs_pd_notes("ignore");
    let hs = m.hubspot("hs");
    let cy = hs.seed(
        "contacts",
        &[("email", "cy@example.com"), ("firstname", "Cy")],
    );
    hs_note(
        &m,
        "<p>Cy asked for a demo</p>",
        "2026-11-06T08:00:00Z",
        &[("contacts", &cy)],
    );

    // The notes pair alone: Cy has no partner yet, so the note waits.
    let run = m.run(&["sync", "--pair", "notes"]).expect(0);
    run.assert_stdout_has("  .        waiting   Cy asked for a demo  hs ");
    run.assert_stdout_has("is not synced by pair `contacts` yet");
    run.assert_stdout_has(". notes Cy asked for a demo waits: ");
    run.assert_stdout_has(", 1 waiting;");
    assert!(
        m.pipedrive("pd").notes().is_empty(),
        "never lands unattached"
    );
    m.run(&["diff", "--pair", "notes"]).expect(0);

    // The run that links Cy carries the note too.
    m.run(&["sync"]).expect(0);
    let note = pd_note(&m, "<p>Cy asked for a demo</p>");
    assert_eq!(note["person_id"], json!(person_id(&m, "cy@example.com")));
    m.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn a_rerun_with_the_state_directory_removed_doubles_no_note() {
    let m = hs_pd_notes("ignore");
    let hs = m.hubspot("hs");
    let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
    let deal = hs.seed("deals", &[("dealname", "Big deal")]);
    hs.associate(&deal, &ann);
    hs_note(
        &m,
        "<p>Kick-off</p>",
        "2026-11-02T09:30:00.250Z",
        &[("contacts", &ann), ("deals", &deal)],
    );
    hs_note(
        &m,
        "<p>Kick-off</p>",
        "2026-11-09T09:30:00Z",
        &[("contacts", &ann)],
    );
    m.pipedrive("pd").seed_person(
        json!({"name": "Bo", "emails": [{"value": "bo@example.com", "primary": true}]}),
    );
    m.run(&["sync"]).expect(0);
    let bo = person_id(&m, "bo@example.com");
    m.pipedrive("pd")
        .seed_note(json!({"content": "<p>Bo's note</p>", "person_id": bo}));
    m.run(&["sync"]).expect(0);
    let counts = |m: &Fixture| {
        (
            m.hubspot("hs").records("notes").len(),
            m.pipedrive("pd").notes().len(),
        )
    };
    assert_eq!(counts(&m), (3, 3));

    std::fs::remove_dir_all(m.work.state_dir()).expect("the state directory is removed");
    let run = m.run(&["sync"]).expect(0);
    run.assert_stdout_has("Plan: 0 to create, ");
    run.assert_stdout_has("link      Kick-off  hs ");
    assert_eq!(counts(&m), (3, 3), "nothing doubled");
    m.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn a_deleted_note_is_deleted_on_the_other_side_under_propagate_and_only_unlinked_under_ignore() {
    for deletes in ["propagate", "ignore"] {
        let m = hs_pd_notes(deletes);
        let hs = m.hubspot("hs");
        let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
        let from_hs = hs_note(
            &m,
            "<p>From HubSpot</p>",
            "2026-11-02T09:30:00Z",
            &[("contacts", &ann)],
        );
        m.run(&["sync"]).expect(0);
        let pd_ann = person_id(&m, "ann@example.com");
        let from_pd = m.pipedrive("pd").seed_note(json!({
            "content": "<p>From Pipedrive</p>", "person_id": pd_ann, "add_time": "2026-11-03 10:00:00",
        }));
        m.run(&["sync"]).expect(0);
        let to_hs = hs_notes(&m, "hs", "<p>From Pipedrive</p>").remove(0);

        hs.archive("notes", &from_hs);
        m.pipedrive("pd").delete_note(from_pd);
        let run = m.run(&["sync", "--full"]).expect(0);
        let live_pd: Vec<Value> = m.pipedrive("pd").notes();
        let live_hs = hs.records("notes");
        if deletes == "propagate" {
            run.assert_stdout_has("- pd     delete    From HubSpot (");
            run.assert_stdout_has("- hs     delete    From Pipedrive (");
            assert!(live_pd.is_empty(), "{live_pd:?}");
            assert!(live_hs.is_empty(), "{live_hs:?}");
        } else {
            run.assert_stdout_has("x        unlink    From HubSpot  hs ");
            assert_eq!(live_pd.len(), 1, "the partner stays");
            assert_eq!(live_hs.len(), 1, "the partner stays");
            assert_eq!(live_hs[0].id, to_hs);
        }
        m.assert_run_writes_nothing(&["sync", "--full"]);
    }
}

#[test]
fn a_body_longer_than_hubspot_takes_is_invalid_with_the_reason_and_nothing_is_sent() {
    let m = hs_pd_notes("ignore");
    let ann = m
        .hubspot("hs")
        .seed("contacts", &[("email", "ann@example.com")]);
    m.run(&["sync"]).expect(0);
    let pd_ann = person_id(&m, "ann@example.com");
    let long = format!("<p>{}</p>", "x".repeat(70_000));
    m.pipedrive("pd")
        .seed_note(json!({"content": long, "person_id": pd_ann}));
    let run = m.run(&["sync"]).expect(4);
    run.assert_stdout_has("`hs_note_body` holds 70007 characters; hs.notes takes at most 65536");
    assert!(m.hubspot("hs").records("notes").is_empty());
    assert!(
        m.hubspot("hs")
            .associated_ids("contacts", &ann, "notes")
            .is_empty()
    );
}

#[test]
fn an_unchanged_cron_run_costs_one_request_per_notes_object_per_side() {
    let m = hs_pd_notes("ignore");
    let hs = m.hubspot("hs");
    let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
    for n in 0..3 {
        hs_note(
            &m,
            &format!("<p>Note {n}</p>"),
            "2026-11-02T09:30:00Z",
            &[("contacts", &ann)],
        );
    }
    m.run(&["sync"]).expect(0);
    // The next cron run, past the vendors' lookback of these writes.
    let later = crmsync_now_ms() + 10 * 60_000;
    for object in ["hs.notes", "pd.notes"] {
        let path = m
            .work
            .state_dir()
            .join("snapshots")
            .join(format!("{object}.json"));
        let mut snapshot: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        snapshot["fetched_at_ms"] = json!(later);
        std::fs::write(&path, snapshot.to_string()).unwrap();
    }
    m.reset_requests();
    m.run(&["sync"]).expect(0);
    let notes = |counts: std::collections::BTreeMap<String, usize>| -> Vec<(String, usize)> {
        counts
            .into_iter()
            .filter(|(k, _)| k.contains("notes"))
            .collect()
    };
    assert_eq!(
        notes(hs.server().counts_by_endpoint()),
        [("POST /crm/objects/2026-09/notes/search".to_string(), 1)]
    );
    assert_eq!(
        notes(m.pipedrive("pd").server().counts_by_endpoint()),
        [("GET /api/v1/notes".to_string(), 1)]
    );
}

fn crmsync_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

const HUB_PAIRS: &str = r#"
[[pairs]]
name = "companies"
left = "us.companies"
right = "eu.companies"
match = "domain"
[pairs.fields]
name = "name"
domain = "domain"

[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
[pairs.fields]
email = "email"

[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
match = "dealname"
[pairs.fields]
dealname = "dealname"

[[pairs]]
name = "notes"
left = "us.notes"
right = "eu.notes"
[pairs.fields]
hs_note_body = "hs_note_body"
hs_timestamp = "hs_timestamp"
contacts = "contacts"
deals = "deals"
companies = "companies"
[pairs.values]
contacts = "link:contacts"
deals = "link:deals"
companies = "link:companies"
"#;

#[test]
fn between_two_hubspot_accounts_a_note_carries_all_its_associations_and_moves_with_them() {
    let m = us_and_eu().toml(HUB_PAIRS).build();
    let us = m.hubspot("us");
    let ann = us.seed("contacts", &[("email", "ann@example.com")]);
    let bo = us.seed("contacts", &[("email", "bo@example.com")]);
    let cy = us.seed("contacts", &[("email", "cy@example.com")]);
    let deal = us.seed("deals", &[("dealname", "Big deal")]);
    let acme = us.seed("companies", &[("name", "Acme"), ("domain", "acme.example")]);
    let note = us.seed(
        "notes",
        &[
            ("hs_note_body", "<p>Steering call</p>"),
            ("hs_timestamp", "2026-11-02T09:30:00Z"),
        ],
    );
    for (object, id) in [
        ("contacts", &ann),
        ("contacts", &bo),
        ("deals", &deal),
        ("companies", &acme),
    ] {
        us.associate_records("notes", &note, object, id);
    }
    m.run(&["sync"]).expect(0);
    let eu = m.hubspot("eu");
    let eu_id =
        |object: &str, property: &str, value: &str| eu.find(object, property, value).remove(0).id;
    let eu_note = hs_notes(&m, "eu", "<p>Steering call</p>");
    assert_eq!(eu_note.len(), 1);
    let mut contacts = vec![
        eu_id("contacts", "email", "ann@example.com"),
        eu_id("contacts", "email", "bo@example.com"),
    ];
    contacts.sort();
    assert_eq!(
        eu.associated_ids("notes", &eu_note[0], "contacts"),
        contacts
    );
    assert_eq!(
        eu.associated_ids("notes", &eu_note[0], "deals"),
        [eu_id("deals", "dealname", "Big deal")]
    );
    assert_eq!(
        eu.associated_ids("notes", &eu_note[0], "companies"),
        [eu_id("companies", "domain", "acme.example")]
    );
    assert_eq!(
        eu.record("notes", &eu_note[0])
            .expect("the note")
            .properties["hs_timestamp"],
        "2026-11-02T09:30:00.000Z"
    );

    // Moved from Bo to Cy in us: it moves in eu (associations show on a
    // full pull).
    us.dissociate_records("notes", &note, "contacts", &bo);
    us.associate_records("notes", &note, "contacts", &cy);
    m.run(&["sync", "--full"]).expect(0);
    let mut moved = vec![
        eu_id("contacts", "email", "ann@example.com"),
        eu_id("contacts", "email", "cy@example.com"),
    ];
    moved.sort();
    assert_eq!(eu.associated_ids("notes", &eu_note[0], "contacts"), moved);
    m.assert_run_writes_nothing(&["sync", "--full"]);

    // Taken off the deal in us: HubSpot drops an association, so eu does
    // too, and nothing is kept or reported.
    us.dissociate_records("notes", &note, "deals", &deal);
    let run = m.run(&["sync", "--full"]).expect(0);
    assert!(kept_lines(&run.stdout).is_empty(), "{}", run.stdout);
    assert!(eu.associated_ids("notes", &eu_note[0], "deals").is_empty());
    assert_eq!(eu.associated_ids("notes", &eu_note[0], "contacts"), moved);
    m.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn init_offers_a_notes_pair_after_the_record_pairs_and_its_mapping_carries_a_note() {
    let m = hs_and_pd()
        .owner("hs", "owner@example.com", "Default Owner")
        .build();
    let run = m.run(&["init"]).expect(0);
    let mapping = run.stdout;
    let notes = mapping
        .split("[[pairs]]")
        .find(|p| p.contains("name = \"notes\""))
        .unwrap_or_else(|| panic!("no notes pair:\n{mapping}"));
    for line in [
        "left = \"hs.notes\"",
        "right = \"pd.notes\"",
        "contact = \"person_id\"",
        "deal = \"deal_id\"",
        "primary_company = \"org_id\"",
        "hs_note_body = \"content\"",
        "hs_timestamp = \"add_time\"",
        "contact = \"link:contacts\"",
        "deal = \"link:deals\"",
        "primary_company = \"link:companies\"",
    ] {
        assert!(notes.contains(line), "{line} missing from:\n{notes}");
    }
    assert!(
        mapping.find("name = \"deals\"") < mapping.find("name = \"notes\""),
        "notes come after the record pairs"
    );
    m.write_mapping(&mapping);
    let ann = m
        .hubspot("hs")
        .seed("contacts", &[("email", "ann@example.com")]);
    hs_note(
        &m,
        "<p>Hello</p>",
        "2026-11-02T09:30:00Z",
        &[("contacts", &ann)],
    );
    m.run(&["sync"]).expect(0);
    assert_eq!(
        pd_note(&m, "<p>Hello</p>")["person_id"],
        json!(person_id(&m, "ann@example.com"))
    );
}

#[test]
fn a_note_moved_to_another_person_in_pipedrive_moves_to_that_contact_in_hubspot() {
    let m = hs_pd_notes("ignore");
    let hs = m.hubspot("hs");
    let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
    let bo = hs.seed("contacts", &[("email", "bo@example.com")]);
    let note = hs_note(
        &m,
        "<p>Pricing call</p>",
        "2026-11-02T09:30:00Z",
        &[("contacts", &ann)],
    );
    m.run(&["sync"]).expect(0);
    let pd_note_id = pd_note(&m, "<p>Pricing call</p>")["id"]
        .as_i64()
        .expect("an id");
    m.pipedrive("pd").edit_note(
        pd_note_id,
        json!({"person_id": person_id(&m, "bo@example.com")}),
    );
    let run = m.run(&["sync"]).expect(0);
    run.assert_stdout_has("~ hs     associate Pricing call (");
    assert_eq!(hs.associated_ids("notes", &note, "contacts"), [bo]);
    m.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn a_notes_associations_read_a_few_at_a_time_are_followed_to_the_end() {
    let m = us_and_eu().toml(HUB_PAIRS).build();
    let us = m.hubspot("us");
    us.set_quirks(crate::support::fake_hubspot::Quirks {
        association_page: Some(1),
        ..Default::default()
    });
    let people: Vec<String> = (0..3)
        .map(|i| us.seed("contacts", &[("email", &format!("p{i}@example.com"))]))
        .collect();
    let note = us.seed(
        "notes",
        &[
            ("hs_note_body", "<p>Team call</p>"),
            ("hs_timestamp", "2026-11-02T09:30:00Z"),
        ],
    );
    for person in &people {
        us.associate_records("notes", &note, "contacts", person);
    }
    m.run(&["sync"]).expect(0);
    let eu = m.hubspot("eu");
    let on_eu = hs_notes(&m, "eu", "<p>Team call</p>");
    assert_eq!(eu.associated_ids("notes", &on_eu[0], "contacts").len(), 3);
    let reads = us
        .server()
        .counts_by_endpoint()
        .get("POST /crm/associations/2026-09/notes/contacts/batch/read")
        .copied();
    assert!(reads.is_some_and(|n| n >= 2), "paging followed: {reads:?}");
    m.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn notes_of_a_person_merged_away_in_pipedrive_follow_the_survivor_and_double_nothing() {
    let m = hs_pd_notes("ignore");
    let hs = m.hubspot("hs");
    let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
    let bo = hs.seed("contacts", &[("email", "bo@example.com")]);
    let note = hs_note(
        &m,
        "<p>Ann's note</p>",
        "2026-11-02T09:30:00Z",
        &[("contacts", &ann)],
    );
    m.run(&["sync"]).expect(0);
    let (pd_ann, pd_bo) = (
        person_id(&m, "ann@example.com"),
        person_id(&m, "bo@example.com"),
    );
    m.pipedrive("pd").merge("persons", pd_ann, pd_bo);
    assert_eq!(pd_note(&m, "<p>Ann's note</p>")["person_id"], json!(pd_bo));
    // The note's move shows on a full pull; the HubSpot note follows it.
    m.run(&["sync", "--full"]).expect(0);
    assert_eq!(hs.associated_ids("notes", &note, "contacts"), [bo]);
    assert_eq!(hs.records("notes").len(), 1);
    assert_eq!(m.pipedrive("pd").notes().len(), 1);
}

/// As `hs_pd_notes`, with `deletes` of the contacts pair as given (the
/// notes pair ignores deletes).
fn hs_pd_notes_contacts_deleted(deletes: &str) -> Fixture {
    hs_and_pd()
        .owner("hs", "owner@example.com", "Default Owner")
        .toml(&PD_PAIRS.replace(
            "match = \"email\"\n",
            &format!("match = \"email\"\ndeletes = \"{deletes}\"\n"),
        ))
        .build()
}

/// The lines of `stdout` that report a kept relation.
fn kept_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.contains(" kept ")).collect()
}

#[test]
fn a_contact_taken_off_a_hubspot_note_stays_on_the_pipedrive_note_reported_once() {
    let m = hs_pd_notes("ignore");
    let hs = m.hubspot("hs");
    let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
    let bo = hs.seed("contacts", &[("email", "bo@example.com")]);
    let deal = hs.seed("deals", &[("dealname", "Big deal")]);
    let note = hs_note(
        &m,
        "<p>Quote sent</p>",
        "2026-11-02T09:30:00Z",
        &[("contacts", &ann), ("deals", &deal)],
    );
    m.run(&["sync"]).expect(0);
    let pd_ann = person_id(&m, "ann@example.com");
    let pd_deal = deal_titled(m.pipedrive("pd"), "Big deal")["id"].clone();
    let pd_id = pd_note(&m, "<p>Quote sent</p>")["id"].clone();

    // Ann is taken off the note, which is edited too: the edit crosses,
    // Pipedrive (whose notes cannot be detached) keeps Ann, and says so.
    hs.dissociate_records("notes", &note, "contacts", &ann);
    hs.edit(
        "notes",
        &note,
        &[("hs_note_body", "<p>Quote sent twice</p>")],
    );
    let run = m.run(&["sync", "--full"]).expect(0);
    assert_eq!(
        kept_lines(&run.stdout),
        [format!(
            "  = pd     kept      Quote sent twice ({pd_id}): pd.notes keeps `person_id` {pd_ann}: \
             Pipedrive documents no way to clear `person_id` (updateNote does not take null for it: \
             a Pipedrive note cannot be detached from a record)"
        )],
        "{}",
        run.stdout
    );
    run.assert_stdout_has(", 1 kept.");
    run.assert_stdout_has(" 0 invalid, 0 duplicates left alone, 1 kept; 0 failed");
    assert!(!run.stdout.contains("invalid   "), "{}", run.stdout);
    let kept = pd_note(&m, "<p>Quote sent twice</p>");
    assert_eq!(
        (&kept["id"], &kept["person_id"], &kept["deal_id"]),
        (&pd_id, &json!(pd_ann), &pd_deal)
    );

    // Settled: the next runs write nothing and report nothing.
    for args in [&["sync"][..], &["sync", "--full"][..]] {
        let quiet = m.assert_run_writes_nothing(args);
        assert!(kept_lines(&quiet.stdout).is_empty(), "{}", quiet.stdout);
        quiet.assert_stdout_has("Plan: nothing to do, both sides are in step.");
    }

    // Put on Bo instead: a set, not a clear, so it moves.
    hs.associate_records("notes", &note, "contacts", &bo);
    let run = m.run(&["sync", "--full"]).expect(0);
    assert!(kept_lines(&run.stdout).is_empty(), "{}", run.stdout);
    let moved = pd_note(&m, "<p>Quote sent twice</p>");
    assert_eq!(moved["person_id"], json!(person_id(&m, "bo@example.com")));
    m.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn a_hubspot_contact_deleted_under_its_notes_never_leaves_a_pipedrive_note_unattached() {
    for deletes in ["ignore", "propagate"] {
        let m = hs_pd_notes_contacts_deleted(deletes);
        let hs = m.hubspot("hs");
        let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
        let deal = hs.seed("deals", &[("dealname", "Big deal")]);
        hs_note(
            &m,
            "<p>Ann only</p>",
            "2026-11-02T09:30:00Z",
            &[("contacts", &ann)],
        );
        hs_note(
            &m,
            "<p>Ann and the deal</p>",
            "2026-11-03T09:30:00Z",
            &[("contacts", &ann), ("deals", &deal)],
        );
        m.run(&["sync"]).expect(0);
        let pd_ann = person_id(&m, "ann@example.com");
        let pd_deal = deal_titled(m.pipedrive("pd"), "Big deal")["id"].clone();

        hs.archive("contacts", &ann);
        let run = m.run(&["sync", "--full"]).expect(0);
        assert!(
            !run.stdout.contains("invalid   "),
            "{deletes}: {}",
            run.stdout
        );
        run.assert_stdout_has(" 0 invalid, ");
        // Both notes are still on a record: under `ignore` on Ann, who
        // stays; under `propagate` Ann is deleted, and Pipedrive keeps the
        // deleted person's id on the note.
        let only = pd_note(&m, "<p>Ann only</p>");
        let both = pd_note(&m, "<p>Ann and the deal</p>");
        assert_eq!(only["person_id"], json!(pd_ann), "{deletes}");
        assert_eq!(
            (&both["person_id"], &both["deal_id"]),
            (&json!(pd_ann), &pd_deal),
            "{deletes}"
        );
        if deletes == "propagate" {
            run.assert_stdout_has("- pd     delete    ann@example.com (");
        }
        for args in [&["sync"][..], &["sync", "--full"][..]] {
            let quiet = m.assert_run_writes_nothing(args);
            assert!(
                kept_lines(&quiet.stdout).is_empty(),
                "{deletes}: {}",
                quiet.stdout
            );
            quiet.assert_stdout_has("Plan: nothing to do, both sides are in step.");
        }
        println!("{deletes}:\n{}", run.stdout);
    }
}

#[test]
fn a_pipedrive_person_deleted_under_its_notes_never_leaves_a_hubspot_note_unattached() {
    for deletes in ["ignore", "propagate"] {
        let m = hs_pd_notes_contacts_deleted(deletes);
        let hs = m.hubspot("hs");
        let ann = hs.seed("contacts", &[("email", "ann@example.com")]);
        m.run(&["sync"]).expect(0);
        let pd_ann = person_id(&m, "ann@example.com");
        m.pipedrive("pd").seed_note(json!({
            "content": "<p>Met Ann</p>",
            "person_id": pd_ann,
            "add_time": "2026-11-05 16:45:00",
        }));
        m.run(&["sync"]).expect(0);
        let note = hs_notes(&m, "hs", "<p>Met Ann</p>").remove(0);

        m.pipedrive("pd").delete_person(pd_ann);
        let run = m.run(&["sync", "--full"]).expect(0);
        assert!(
            !run.stdout.contains("invalid   "),
            "{deletes}: {}",
            run.stdout
        );
        let contacts = hs.associated_ids("notes", &note, "contacts");
        match deletes {
            // Ann stays in HubSpot, and so does the note on her.
            "ignore" => assert_eq!(contacts, std::slice::from_ref(&ann), "{deletes}"),
            // Ann is archived; the note keeps its association (HubSpot
            // no longer shows one to an archived record).
            _ => {
                run.assert_stdout_has("- hs     delete    ann@example.com (");
                assert!(hs.record("contacts", &ann).unwrap().archived);
            }
        }
        assert!(
            hs.record("notes", &note).is_some_and(|n| !n.archived),
            "{deletes}: the note stays"
        );
        for args in [&["sync"][..], &["sync", "--full"][..]] {
            let quiet = m.assert_run_writes_nothing(args);
            assert!(
                kept_lines(&quiet.stdout).is_empty(),
                "{deletes}: {}",
                quiet.stdout
            );
            quiet.assert_stdout_has("Plan: nothing to do, both sides are in step.");
        }
        println!("{deletes}:\n{}", run.stdout);
    }
}
