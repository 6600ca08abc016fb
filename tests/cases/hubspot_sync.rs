//! HubSpot ↔ HubSpot sync end to end: first sync across page and batch
//! boundaries, idempotent second sync, edits both ways, conflicts, and
//! identity that survives an email change.

use super::{
    OWNER_EMAIL, id_of, requests_matching, seed_us_contacts, seed_us_deals, two_accounts,
    two_accounts_under,
};

#[test]
fn first_sync_creates_everything_at_the_request_floor_and_the_second_writes_nothing() {
    let t = two_accounts();
    seed_us_contacts(&t, 250);
    seed_us_deals(&t, 120);

    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("Applied: 370 created");

    let eu_contacts = t.hubspot("eu").records("contacts");
    assert_eq!(eu_contacts.len(), 250);
    for us in t.hubspot("us").records("contacts") {
        let email = &us.properties["email"];
        let eu = t.hubspot("eu").find("contacts", "email", email);
        assert_eq!(eu.len(), 1, "{email} exists once on eu");
        for f in ["firstname", "lastname", "phone"] {
            assert_eq!(eu[0].properties.get(f), us.properties.get(f), "{email} {f}");
        }
    }
    let eu_deals = t.hubspot("eu").records("deals");
    assert_eq!(eu_deals.len(), 120);
    let deal7 = t.hubspot("eu").find("deals", "dealname", "Deal 7");
    assert_eq!(
        deal7[0].properties["dealstage"], "eu-lost",
        "stage value map applied"
    );
    assert_eq!(
        deal7[0].properties["pipeline"], "eu-sales",
        "pipeline value map applied"
    );
    assert_eq!(
        deal7[0].properties["hubspot_owner_id"],
        t.owner("eu", OWNER_EMAIL),
        "owner {OWNER_EMAIL} mapped by email"
    );
    assert_eq!(deal7[0].properties["amount"], "800");

    let us_counts = t.hubspot("us").server().counts_by_endpoint();
    let eu_counts = t.hubspot("eu").server().counts_by_endpoint();
    eprintln!("first sync requests: us {us_counts:?}\n eu {eu_counts:?}");
    // The floor: ⌈N/100⌉ list pages per side, ⌈W/100⌉ batch writes, owners once.
    assert_eq!(
        requests_matching(&us_counts, "GET /crm/objects/2026-09/contacts"),
        3
    );
    assert_eq!(
        requests_matching(&us_counts, "GET /crm/objects/2026-09/deals"),
        2
    );
    assert_eq!(
        requests_matching(
            &eu_counts,
            "POST /crm/objects/2026-09/contacts/batch/upsert"
        ),
        3
    );
    assert_eq!(
        requests_matching(&eu_counts, "POST /crm/objects/2026-09/deals/batch/create"),
        2
    );
    assert_eq!(
        requests_matching(&us_counts, "/owners/") + requests_matching(&eu_counts, "/owners/"),
        2
    );
    assert_eq!(
        t.hubspot("us").server().write_request_count(),
        0,
        "the source is not written"
    );
    assert!(
        t.hubspot("us").unknown_routes().is_empty() && t.hubspot("eu").unknown_routes().is_empty()
    );

    t.reset_requests();
    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("nothing to do");
    assert_eq!(t.writes(), 0);
    let second: usize =
        t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count();
    eprintln!(
        "second sync requests: us {:?}\n eu {:?}",
        t.hubspot("us").server().counts_by_endpoint(),
        t.hubspot("eu").server().counts_by_endpoint()
    );
    // An incremental pull: one search per 200 records modified since the
    // last pull (less two minutes of lookback, which here covers all 250
    // contacts and 120 deals): 2 + 1 per side; owners come from the snapshot.
    assert_eq!(second, 2 + 1 + 2 + 1);

    // A full pull reads every page again (and the owners): the full floor.
    t.reset_requests();
    let run = t.work.run(&["sync", "--full"]).expect(0);
    run.assert_stdout_has("nothing to do");
    assert_eq!(t.writes(), 0);
    let full = t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count();
    eprintln!(
        "full sync requests: us {:?}\n eu {:?}",
        t.hubspot("us").server().counts_by_endpoint(),
        t.hubspot("eu").server().counts_by_endpoint()
    );
    assert_eq!(full, 3 + 2 + 3 + 2 + 2);
}

#[test]
fn edits_on_either_side_flow_across_and_settle() {
    let t = two_accounts();
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    seed_us_contacts(&t, 5);
    t.work.run(&["sync"]).expect(0);
    let us_ann = id_of(us, "contacts", "email", "c1@example.com");
    let eu_ann = id_of(eu, "contacts", "email", "c1@example.com");
    let eu_bob = id_of(eu, "contacts", "email", "c2@example.com");

    us.edit("contacts", &us_ann, &[("firstname", "Annabel")]);
    eu.edit("contacts", &eu_bob, &[("phone", "+44 20 7946 0000")]);
    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("firstname: \"First1\" -> \"Annabel\"");

    assert_eq!(
        eu.record("contacts", &eu_ann).unwrap().properties["firstname"],
        "Annabel"
    );
    let us_bob = &us.find("contacts", "email", "c2@example.com")[0];
    assert_eq!(us_bob.properties["phone"], "+44 20 7946 0000");

    // Our own writes moved both modified times, yet nothing echoes back.
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_field_edited_on_both_sides_is_settled_by_the_policy_and_shown() {
    // newest: the later edit (eu) wins and is copied to us.
    let t = two_accounts();
    seed_us_contacts(&t, 2);
    t.work.run(&["sync"]).expect(0);
    let us_id = id_of(t.hubspot("us"), "contacts", "email", "c0@example.com");
    let eu_id = id_of(t.hubspot("eu"), "contacts", "email", "c0@example.com");
    t.hubspot("us")
        .edit("contacts", &us_id, &[("lastname", "FromUS")]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    t.hubspot("eu")
        .edit("contacts", &eu_id, &[("lastname", "FromEU")]);
    let run = t.work.run(&["diff"]).expect(3);
    run.assert_stdout_has("! lastname: us \"FromUS\" | eu \"FromEU\" -> eu wins (newest)");
    t.work.run(&["sync"]).expect(0);
    assert_eq!(
        t.hubspot("us")
            .record("contacts", &us_id)
            .unwrap()
            .properties["lastname"],
        "FromEU"
    );
    assert_eq!(
        t.hubspot("eu")
            .record("contacts", &eu_id)
            .unwrap()
            .properties["lastname"],
        "FromEU"
    );
    t.work.run(&["diff"]).expect(0);

    // skip: both values stay, the run says so and exits 4, every time.
    let t = two_accounts_under("skip");
    seed_us_contacts(&t, 1);
    t.work.run(&["sync"]).expect(0);
    let us_id = t.hubspot("us").records("contacts")[0].id.clone();
    let eu_id = t.hubspot("eu").records("contacts")[0].id.clone();
    t.hubspot("us")
        .edit("contacts", &us_id, &[("phone", "111")]);
    t.hubspot("eu")
        .edit("contacts", &eu_id, &[("phone", "222")]);
    for _ in 0..2 {
        let run = t.work.run(&["sync"]).expect(4);
        run.assert_stdout_has("left for you (conflict = skip)");
    }
    assert_eq!(
        t.hubspot("us")
            .record("contacts", &us_id)
            .unwrap()
            .properties["phone"],
        "111"
    );
    assert_eq!(
        t.hubspot("eu")
            .record("contacts", &eu_id)
            .unwrap()
            .properties["phone"],
        "222"
    );
}

#[test]
fn a_contact_whose_email_changed_stays_one_contact() {
    let t = two_accounts();
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    seed_us_contacts(&t, 3);
    t.work.run(&["sync"]).expect(0);
    let us_id = id_of(us, "contacts", "email", "c0@example.com");
    let eu_id = id_of(eu, "contacts", "email", "c0@example.com");
    us.edit("contacts", &us_id, &[("email", "renamed@example.com")]);
    t.work.run(&["sync"]).expect(0);
    assert_eq!(eu.records("contacts").len(), 3, "no duplicate was created");
    assert_eq!(
        eu.record("contacts", &eu_id).unwrap().properties["email"],
        "renamed@example.com"
    );
    assert_eq!(us.records("contacts").len(), 3);
    t.work.run(&["diff"]).expect(0);
}

#[test]
fn existing_contacts_on_both_sides_are_linked_by_email_not_duplicated() {
    let t = two_accounts();
    t.hubspot("us").seed(
        "contacts",
        &[("email", "Shared@Example.com"), ("firstname", "Ann")],
    );
    t.hubspot("eu").seed(
        "contacts",
        &[("email", "shared@example.com"), ("lastname", "Smith")],
    );
    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("= ");
    assert_eq!(t.hubspot("eu").records("contacts").len(), 1);
    assert_eq!(t.hubspot("us").records("contacts").len(), 1);
    let eu = &t.hubspot("eu").records("contacts")[0];
    let us = &t.hubspot("us").records("contacts")[0];
    assert_eq!(eu.properties["firstname"], "Ann", "blank filled from us");
    assert_eq!(us.properties["lastname"], "Smith", "blank filled from eu");
    t.work.run(&["diff"]).expect(0);
}

#[test]
fn incremental_runs_see_edits_but_never_infer_deletes_which_a_full_pull_finds() {
    let t = two_accounts();
    let us = t.hubspot("us");
    seed_us_contacts(&t, 5);
    t.work.run(&["sync"]).expect(0);
    let us_ids: Vec<String> = t
        .hubspot("us")
        .records("contacts")
        .iter()
        .map(|r| r.id.clone())
        .collect();

    // An edit is picked up by the incremental pull.
    us.edit("contacts", &us_ids[0], &[("firstname", "Edited")]);
    us.archive("contacts", &us_ids[1]);
    us.server().reset_requests();
    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("\"Edited\"");
    let counts = us.server().counts_by_endpoint();
    assert!(
        !counts.contains_key("GET /crm/objects/2026-09/contacts"),
        "incremental: no full listing {counts:?}"
    );
    // The archived contact is not in a search, so nothing is inferred from its absence.
    assert!(!run.stdout.contains("  x "), "{}", run.stdout);
    assert_eq!(t.hubspot("eu").records("contacts").len(), 5);

    // A full pull lists everything, sees the contact gone, and unlinks it
    // (deletes = ignore by default: nothing is deleted on eu).
    let run = t.work.run(&["sync", "--full"]).expect(0);
    run.assert_stdout_has("  x ");
    run.assert_stdout_has("1 unlinked");
    assert_eq!(t.hubspot("eu").records("contacts").len(), 5);
}

#[test]
fn a_full_pull_comes_round_every_n_runs_by_itself() {
    let t = two_accounts();
    let us = t.hubspot("us");
    t.edit_mapping(|config| format!("full_pull_every = 3\n{config}"));
    seed_us_contacts(&t, 3);
    let mut full_listings = Vec::new();
    for _ in 0..6 {
        us.server().reset_requests();
        t.work.run(&["sync"]).expect(0);
        let counts = us.server().counts_by_endpoint();
        full_listings.push(counts.contains_key("GET /crm/objects/2026-09/contacts"));
    }
    assert_eq!(full_listings, [true, false, false, true, false, false]);
}
