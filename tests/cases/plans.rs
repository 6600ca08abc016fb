//! Plans: `diff` never writes, `--offline` makes no request, `push` applies a
//! reviewed plan exactly or refuses a stale one, and the run lock keeps two
//! runs apart.

use super::{id_of, seed_us_contacts, seed_us_deals, two_accounts, us_and_eu};
use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::harness::read;
use crate::support::server::{Fault, Gate};

#[test]
fn diff_prints_the_plan_exits_3_and_writes_nothing() {
    let t = two_accounts();
    seed_us_contacts(&t, 3);
    seed_us_deals(&t, 2);
    let run = t.work.run(&["diff"]).expect(3);
    run.assert_stdout_has("+ eu     create    c0@example.com");
    run.assert_stdout_has("Plan: 5 to create");
    assert_eq!(t.writes(), 0);
    assert!(t.hubspot("eu").records("contacts").is_empty());

    let json = t.work.run(&["--json", "diff"]).expect(3);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(plan["format"], "crmsync-plan");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["pairs"][0]["items"].as_array().unwrap().len(), 3);
}

#[test]
fn offline_diff_makes_no_request() {
    let t = two_accounts();
    seed_us_contacts(&t, 3);
    t.work.run(&["pull"]).expect(0);
    t.reset_requests();
    let run = t.work.run(&["diff", "--offline"]).expect(3);
    run.assert_stdout_has("3 to create");
    assert_eq!(
        t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count(),
        0
    );
}

#[test]
fn push_applies_a_reviewed_plan_and_refuses_a_stale_one() {
    let t = two_accounts();
    let us = t.hubspot("us");
    seed_us_contacts(&t, 2);
    t.work.run(&["sync"]).expect(0);
    let us_id = id_of(us, "contacts", "email", "c0@example.com");
    let eu_id = id_of(t.hubspot("eu"), "contacts", "email", "c0@example.com");

    // A plan is made, then someone edits the record it would overwrite.
    us.edit("contacts", &us_id, &[("firstname", "Planned")]);
    t.work.run(&["diff", "--out", "review.json"]).expect(3);
    t.hubspot("eu")
        .edit("contacts", &eu_id, &[("lastname", "Edited after the plan")]);
    t.hubspot("eu").server().reset_requests();
    let run = t.work.run(&["-q", "push", "review.json"]).expect(6);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    run.assert_stderr_has("the plan is stale");
    assert!(run.stderr.contains("diff"), "names the fix: {}", run.stderr);
    assert_eq!(
        t.hubspot("eu").server().write_request_count() + us.server().write_request_count(),
        0,
        "nothing written"
    );
    let eu = t.hubspot("eu").record("contacts", &eu_id).unwrap();
    assert_eq!(eu.properties["firstname"], "First0");
    assert_eq!(eu.properties["lastname"], "Edited after the plan");

    // A fresh plan applies exactly what it shows.
    t.work.run(&["diff", "--out", "review.json"]).expect(3);
    assert!(read(&t.work.path("review.json")).contains("\"Planned\""));
    t.work.run(&["push", "--dry-run", "review.json"]).expect(3);
    let run = t.work.run(&["push", "review.json"]).expect(0);
    assert!(
        run.stdout.contains("2 updated"),
        "the edit made after the first plan flows back too: {}",
        run.stdout
    );
    assert_eq!(
        t.hubspot("eu")
            .record("contacts", &eu_id)
            .unwrap()
            .properties["firstname"],
        "Planned"
    );
    assert_eq!(
        us.record("contacts", &us_id).unwrap().properties["lastname"],
        "Edited after the plan"
    );
    t.work.run(&["diff"]).expect(0);

    // A bare push takes the last plan diff made.
    us.edit("contacts", &us_id, &[("phone", "123")]);
    t.work.run(&["diff"]).expect(3);
    t.work.run(&["push"]).expect(0);
    assert_eq!(
        t.hubspot("eu")
            .record("contacts", &eu_id)
            .unwrap()
            .properties["phone"],
        "123"
    );
}

#[test]
fn a_plan_made_under_another_mapping_is_refused() {
    let t = two_accounts();
    seed_us_contacts(&t, 1);
    t.work.run(&["diff", "--out", "plan.json"]).expect(3);
    t.edit_mapping(|config| config.replace("phone = \"phone\"", ""));
    let run = t.work.run(&["push", "plan.json"]).expect(6);
    run.assert_stderr_has("different");
    assert!(t.hubspot("eu").records("contacts").is_empty());
}

#[test]
fn a_second_run_while_one_holds_the_lock_is_skipped_with_exit_8_at_once() {
    let t = two_accounts();
    seed_us_contacts(&t, 1);
    // The first run stops at its first request, holding the lock.
    let gate = Gate::default();
    t.hubspot("us")
        .server()
        .inject("GET", 1, Fault::Hold(gate.clone()));
    let mut first = t.work.command(&["sync"]).spawn().expect("spawn");
    gate.wait_until_held();
    let second = t.work.run(&["sync"]).expect(8);
    assert!(
        first.try_wait().unwrap().is_none(),
        "refused at once: the first run still waits at its first request"
    );
    assert!(
        second
            .stderr
            .contains("skipped: the previous run is still going"),
        "{}",
        second.stderr
    );
    gate.open();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(
        t.hubspot("eu").records("contacts").len(),
        1,
        "the first run completed alone"
    );
}

/// The mapping of the golden test: contacts both ways (newest wins, but
/// `lastname` is left for a human, deletes propagate) and deals from us to
/// eu (eu wins a conflict it cannot write back, deletes unlink), with stage
/// and contact translations.
const EVERY_KIND_CONFIG: &str = r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
deletes = "propagate"
[pairs.fields]
email = "email"
firstname = "firstname"
lastname = "lastname"
phone = "phone"
[pairs.conflicts]
lastname = "skip"

[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
direction = "left-to-right"
match = "dealname"
conflict = "right"
[pairs.fields]
dealname = "dealname"
pipeline = "pipeline"
dealstage = "dealstage"
contacts = "contacts"
[pairs.values]
contacts = "link:contacts"
[pairs.values.pipeline]
default = "eu-sales"
[pairs.values.dealstage]
appointmentscheduled = "eu-appointment"
closedwon = "eu-won"
"#;

/// The plan text is a contract people read: a plan holding every kind of
/// line (create, update, associate, delete, link, unlink, a conflict with
/// each outcome, invalid, duplicates and the summary) prints exactly this,
/// record ids aside.
#[test]
fn the_plan_text_is_exactly_as_documented() {
    let t = us_and_eu().toml(EVERY_KIND_CONFIG).build();
    let us = t.hubspot("us");
    let contacts = seed_us_contacts(&t, 4);
    let deal = |name: &str, stage: &str| {
        let props = [
            ("dealname", name),
            ("pipeline", "default"),
            ("dealstage", stage),
        ];
        us.seed("deals", &props)
    };
    let deals = [
        deal("Associated", "appointmentscheduled"),
        deal("Contested", "appointmentscheduled"),
        deal("Gone on eu", "closedwon"),
    ];
    t.work.run(&["sync"]).expect(0);
    let eu_id =
        |object: &str, property: &str, value: &str| id_of(t.hubspot("eu"), object, property, value);
    let gone = [
        ("contacts", eu_id("contacts", "email", "c2@example.com")),
        ("deals", eu_id("deals", "dealname", "Gone on eu")),
    ];

    // contacts: an update, a conflict won by the newest and one left for
    // a human, a delete, a create and a link.
    us.edit("contacts", &contacts[0], &[("phone", "+1555999999")]);
    let c1 = eu_id("contacts", "email", "c1@example.com");
    t.hubspot("eu").edit(
        "contacts",
        &c1,
        &[("firstname", "EuFirst"), ("lastname", "EuLast")],
    );
    us.edit(
        "contacts",
        &contacts[1],
        &[("firstname", "UsFirst"), ("lastname", "UsLast")],
    );
    let new_contact = us.seed(
        "contacts",
        &[("email", "new@example.com"), ("firstname", "New")],
    );
    us.seed(
        "contacts",
        &[("email", "both@example.com"), ("firstname", "Both")],
    );
    t.hubspot("eu").seed(
        "contacts",
        &[("email", "both@example.com"), ("firstname", "Both")],
    );
    // deals: an association, a conflict eu wins but cannot write, an
    // unlink, a stage with no translation and a name used twice.
    us.associate(&deals[0], &contacts[3]);
    let contested = eu_id("deals", "dealname", "Contested");
    t.hubspot("eu")
        .edit("deals", &contested, &[("dealname", "Eu name")]);
    us.edit("deals", &deals[1], &[("dealname", "Us name")]);
    deal("Untranslated", "contractsent");
    deal("Twice", "closedwon");
    deal("Twice", "closedwon");
    // A deal whose contact the contacts pair creates in the same run: its
    // relation is a forward reference to that create.
    let forward = deal("Forward", "appointmentscheduled");
    us.associate(&forward, &new_contact);
    for (object, id) in &gone {
        t.hubspot("eu").archive(object, id);
    }

    let run = t.work.run(&["diff", "--full"]).expect(3);
    let archived = gone.map(|(_, id)| id);
    let names = record_names(&[("us", us), ("eu", t.hubspot("eu"))], &archived);
    assert_eq!(
        with_names(&run.stdout, &names),
        r#"contacts  (us.contacts <-> eu.contacts)
  =        link      both@example.com  us us-contact-5 = eu eu-contact-4
  ~ eu     update    c0@example.com (eu-contact-0)
        phone: "+1555000000" -> "+1555999999"
  ~ eu     update    c1@example.com (eu-contact-1)
        firstname: "EuFirst" -> "UsFirst"
        ! firstname: us "UsFirst" | eu "EuFirst" -> us wins (newest)
  !        conflict  c1@example.com  us us-contact-1 = eu eu-contact-1
        ! lastname: us "UsLast" | eu "EuLast" -> left for you (conflict = skip)
  + eu     create    new@example.com  (from us us-contact-4)  email="new@example.com" firstname="New"
  - us     delete    c2@example.com (us-contact-2)  (deleted on the right side)
deals  (us.deals <-> eu.deals)
  ~ eu     associate Associated (eu-deal-0)
        contacts: "" -> "eu-contact-3"
  !        conflict  Us name  us us-deal-1 = eu eu-deal-1
        ! dealname: us "Us name" | eu "Eu name" -> eu kept; direction forbids writing the other side
  !        invalid   Untranslated  us us-deal-3: left value `contractsent` of `dealstage` has no entry in [pairs.values.dealstage]; add one
  + eu     create    Twice  (from us us-deal-4)  dealname="Twice" dealstage="eu-won" pipeline="eu-sales"
  + eu     create    Forward  (from us us-deal-6)  contacts="new:contacts:right:us-contact-4" dealname="Forward" dealstage="eu-appointment" pipeline="eu-sales"
  x        unlink    Gone on eu  us us-deal-2 = eu eu-deal-2  (deleted on the right side; the link is dropped, nothing is deleted)
  ? us     duplicate twice  us us-deal-5 share it with us us-deal-4; left alone (merge them in us)
Plan: 3 to create, 2 to update, 1 to associate, 1 to delete, 1 to link, 3 conflicts, 1 to unlink, 1 invalid, 1 duplicate.
Cost: eu 9 requests (4 read + 5 to write); us 3 requests (2 read + 1 to write).
"#
    );

    // Applied, the plan's counts come back kind for kind: the conflict won
    // by a write and the one kept by the direction are settled, the one
    // left for a human is skipped, and the forward reference is the
    // contact created in the same run.
    let run = t.work.run(&["sync", "--full"]).expect(4);
    let plan_line = run.stdout.lines().find(|l| l.starts_with("Plan:")).unwrap();
    assert_eq!(
        plan_line,
        "Plan: 3 to create, 2 to update, 1 to associate, 1 to delete, 1 to link, 3 conflicts, 1 to unlink, 1 invalid, 1 duplicate."
    );
    let applied = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Applied:"))
        .unwrap();
    let (counts, requests) = applied.rsplit_once("; ").unwrap();
    assert_eq!(
        counts,
        "Applied: 3 created, 2 updated, 1 associated, 1 deleted, 1 linked, 2 conflicts settled, 1 unlinked, 1 invalid, 1 duplicate left alone; 0 failed, 1 skipped"
    );
    assert!(
        requests.ends_with("s.") && requests.contains(" requests in "),
        "{requests}"
    );
    let forward_on_eu = eu_id("deals", "dealname", "Forward");
    assert_eq!(
        t.hubspot("eu")
            .associated_ids("deals", &forward_on_eu, "contacts"),
        vec![eu_id("contacts", "email", "new@example.com")],
        "the forward reference became the id of the contact created"
    );
}

/// Every record id of both accounts (live, or among `archived`), named by
/// account, object and rank (`eu-deal-2`): names that stay the same from
/// run to run, while ids depend on which fake started first.
fn record_names(fakes: &[(&str, &FakeHubSpot)], archived: &[String]) -> Vec<(String, String)> {
    let mut names = Vec::new();
    for (account, fake) in fakes {
        for (object, name) in [("contacts", "contact"), ("deals", "deal")] {
            let mut ids: Vec<String> = fake.records(object).into_iter().map(|r| r.id).collect();
            ids.extend(
                archived
                    .iter()
                    .filter(|id| fake.record(object, id).is_some())
                    .cloned(),
            );
            ids.sort_by_key(|id| id.parse::<u64>().unwrap());
            for (rank, id) in ids.into_iter().enumerate() {
                names.push((id, format!("{account}-{name}-{rank}")));
            }
        }
    }
    names
}

/// `text` with every run of digits that is a record id replaced by its name.
fn with_names(text: &str, names: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let end = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len(), |n| start + n);
        let digits = &rest[start..end];
        out.push_str(&rest[..start]);
        match names.iter().find(|(id, _)| id == digits) {
            Some((_, name)) => out.push_str(name),
            None => out.push_str(digits),
        }
        rest = &rest[end..];
    }
    out + rest
}
