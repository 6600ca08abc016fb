//! Adversarial end-to-end cases: values shaped like the tool's own
//! markers, plans pushed twice or after the run they planned, merges and
//! forward references in one run, and exit codes of the runs cron sees.

use super::companies_and_contacts;
use crate::support::accounts::Fixture;
use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::fake_pipedrive::FakePipedrive;
use crate::support::harness::{Workdir, read};
use crate::support::server::{Fault, Gate};
use serde_json::json;

/// A free-text value shaped like a forward reference (`new:PAIR:SIDE:ID`)
/// is a value like any other: it is copied as it is, on `sync` and on a
/// reviewed plan's `push`, and the next run has nothing to do.
#[test]
fn a_text_value_shaped_like_a_forward_reference_is_copied_as_it_is() {
    let t = super::two_accounts();
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let odd = "new:contacts:left:5";
    let id = us.seed(
        "contacts",
        &[
            ("email", "odd@example.com"),
            ("firstname", "Odd"),
            ("lastname", odd),
        ],
    );
    t.run(&["sync"]).expect(0);
    let copied = super::id_of(eu, "contacts", "email", "odd@example.com");
    assert_eq!(
        eu.record("contacts", &copied).unwrap().properties["lastname"],
        odd
    );
    t.assert_run_writes_nothing(&["sync"]);

    // The same through a reviewed plan.
    us.edit("contacts", &id, &[("firstname", "new:deals:right:7")]);
    t.run(&["diff", "--out", "plan.json"]).expect(3);
    let run = t.run(&["push", "plan.json"]);
    let run = run.expect(0);
    assert!(!run.stdout.is_empty());
    assert_eq!(
        eu.record("contacts", &copied).unwrap().properties["firstname"],
        "new:deals:right:7"
    );
    t.assert_run_writes_nothing(&["sync"]);
}

/// A HubSpot account `hs` and a Pipedrive account `pd` whose contacts and
/// persons are one pair, `people`, matched by email, with `extra` lines in
/// the pair's table: `n` contacts p{i}@example.com synced to Pipedrive, and
/// their HubSpot ids.
fn synced(extra: &str, n: usize) -> (Fixture, Vec<String>) {
    let f = super::hs_and_pd()
        .toml(&format!(
            r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
match = "email"
{extra}
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
"#
        ))
        .build();
    let (hs, pd) = (f.hubspot("hs"), f.pipedrive("pd"));
    let ids = (0..n)
        .map(|i| {
            hs.seed(
                "contacts",
                &[
                    ("email", &format!("p{i}@example.com")),
                    ("firstname", &format!("First{i}")),
                    ("lastname", &format!("Last{i}")),
                ],
            )
        })
        .collect();
    f.run(&["sync"]).expect(0);
    assert_eq!(pd.persons().len(), n);
    (f, ids)
}

/// The ids of the live persons holding `email` among their emails.
fn persons_with(m: &Fixture, email: &str) -> Vec<i64> {
    m.pipedrive("pd")
        .persons()
        .into_iter()
        .filter(|p| {
            p["emails"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["value"].as_str() == Some(email))
        })
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

fn person_id(m: &Fixture, email: &str) -> i64 {
    let found = persons_with(m, email);
    assert_eq!(found.len(), 1, "one person with {email}");
    found[0]
}

/// A full sync exits 0 and writes nothing; returns its stdout.
#[track_caller]
fn full_sync_writes_nothing(m: &Fixture) -> String {
    m.assert_run_writes_nothing(&["sync", "--full"]).stdout
}

/// A chain of HubSpot merges between two runs (p1 and p2 into m1, then m1
/// and p3 into m2): no person is deleted or created under `deletes =
/// "propagate"`, the survivor's edit reaches its partner, the others are
/// reported, and a full sync then writes nothing.
#[test]
fn a_chain_of_hubspot_merges_between_two_runs_deletes_and_creates_nothing() {
    let (m, ids) = synced("deletes = \"propagate\"", 5);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let m1 = hs.merge("contacts", &ids[1], &ids[2]);
    let m2 = hs.merge("contacts", &m1, &ids[3]);
    hs.edit("contacts", &m2, &[("firstname", "Chained")]);
    let run = m.work.run(&["sync"]).expect(0);
    eprintln!("{}", run.stdout);
    assert_eq!(pd.persons().len(), 5, "nothing deleted or created");
    let pd1 = person_id(&m, "p1@example.com");
    assert_eq!(pd.person(pd1).unwrap()["first_name"], json!("Chained"));
    let stdout = full_sync_writes_nothing(&m);
    eprintln!("{stdout}");
    assert_eq!(pd.persons().len(), 5);
    assert_eq!(hs.records("contacts").len(), 3);
    // With the partners merged by crmsync, all three are one person.
    let (m, ids) = synced("deletes = \"propagate\"\nmerges = \"propagate\"", 5);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let m1 = hs.merge("contacts", &ids[1], &ids[2]);
    hs.merge("contacts", &m1, &ids[3]);
    let run = m.work.run(&["sync"]).expect(0);
    eprintln!("{}", run.stdout);
    assert_eq!(pd.persons().len(), 3, "{:#?}", pd.persons());
    for email in ["p0@example.com", "p1@example.com", "p4@example.com"] {
        person_id(&m, email);
    }
    full_sync_writes_nothing(&m);
    assert_eq!(pd.persons().len(), 3);
    assert_eq!(hs.records("contacts").len(), 3);
}

/// A Pipedrive merge under `direction = "left-to-right"` and `merges =
/// "propagate"`: HubSpot is never written (no merge, no update), and the
/// second partner is only reported.
#[test]
fn a_pipedrive_merge_under_left_to_right_never_writes_hubspot() {
    let (m, ids) = synced(
        "direction = \"left-to-right\"\ndeletes = \"propagate\"\nmerges = \"propagate\"",
        4,
    );
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd1, pd2) = (
        person_id(&m, "p1@example.com"),
        person_id(&m, "p2@example.com"),
    );
    pd.merge("persons", pd2, pd1);
    m.reset_requests();
    let run = m.work.run(&["sync", "--full"]).expect(0);
    eprintln!("{}", run.stdout);
    assert_eq!(
        hs.server().write_request_count(),
        0,
        "{}",
        m.requests_by_account()
    );
    assert_eq!(hs.records("contacts").len(), 4);
    assert!(hs.record("contacts", &ids[2]).is_some());
    // HubSpot's p2 is not copied again as a new person either.
    assert_eq!(persons_with(&m, "p2@example.com"), vec![pd1]);
    assert!(
        run.stdout
            .contains("Plan: nothing to do; 1 merged record left for you (>)."),
        "{}",
        run.stdout
    );
    full_sync_writes_nothing(&m);
    assert_eq!(pd.persons().len(), 3);
}

/// Pipedrive's p0 takes p1's email as a second one (Pipedrive lets two
/// persons share an email); returns the two persons' ids.
fn p0_takes_p1s_email(m: &Fixture) -> (i64, i64) {
    let (pd0, pd1) = (
        person_id(m, "p0@example.com"),
        person_id(m, "p1@example.com"),
    );
    m.pipedrive("pd").edit_person(
        pd0,
        json!({"emails": [
            {"value": "p0@example.com", "primary": true, "label": "work"},
            {"value": "p1@example.com", "primary": false, "label": "home"}
        ]}),
    );
    (pd0, pd1)
}

/// A linked person takes a second email that is a linked contact's own
/// (Pipedrive lets two persons share one): nothing is relinked, nothing
/// created or deleted. An unlinked person whose second email is a linked
/// contact's is not paired with it.
#[test]
fn a_second_email_already_linked_elsewhere_relinks_nothing() {
    let (m, ids) = synced("", 3);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd0, pd1) = p0_takes_p1s_email(&m);
    let stdout = full_sync_writes_nothing(&m);
    eprintln!("{stdout}");
    hs.edit("contacts", &ids[1], &[("lastname", "Edited1")]);
    hs.edit("contacts", &ids[0], &[("lastname", "Edited0")]);
    m.work.run(&["sync", "--full"]).expect(0);
    assert_eq!(pd.person(pd1).unwrap()["last_name"], json!("Edited1"));
    assert_eq!(pd.person(pd0).unwrap()["last_name"], json!("Edited0"));
    full_sync_writes_nothing(&m);

    let stranger = pd.seed_person(json!({
        "name": "New Person",
        "first_name": "New",
        "last_name": "Person",
        "emails": [
            {"value": "new@example.com", "primary": true, "label": "work"},
            {"value": "p2@example.com", "primary": false, "label": "home"}
        ]
    }));
    let run = m.work.run(&["sync", "--full"]);
    eprintln!("{}\n{}", run.code, run.stdout);
    let hs_p2 = hs.record("contacts", &ids[2]).unwrap();
    assert_eq!(hs_p2.properties["lastname"], "Last2", "p2 untouched");
    assert_eq!(pd.person(stranger).unwrap()["last_name"], json!("Person"));
    let pd2 = persons_with(&m, "p2@example.com");
    assert_eq!(pd2.len(), 2);
    hs.edit("contacts", &ids[2], &[("lastname", "Edited2")]);
    m.work.run(&["sync"]);
    assert_eq!(
        pd.person(stranger).unwrap()["last_name"],
        json!("Person"),
        "the stranger is not p2's partner"
    );
}

/// Seeds a contact at `company`; returns its id.
fn contact_at(hs: &FakeHubSpot, email: &str, company: &str) -> String {
    let contact = hs.seed(
        "contacts",
        &[("email", email), ("firstname", "F"), ("lastname", "L")],
    );
    hs.associate_records("contacts", &contact, "companies", company);
    contact
}

/// The organization name of the one person holding `email`.
fn org_name_of(pd: &FakePipedrive, email: &str) -> serde_json::Value {
    let persons: Vec<serde_json::Value> = pd
        .persons()
        .into_iter()
        .filter(|p| p["emails"][0]["value"] == json!(email))
        .collect();
    assert_eq!(persons.len(), 1, "one person {email}");
    let org = persons[0]["org_id"].as_i64().expect("an organization");
    pd.organization(org).unwrap()["name"].clone()
}

/// A reviewed plan whose contacts wait on the organizations it creates is
/// applied once: pushed again, or pushed after a `sync` applied it, it is
/// refused as stale with nothing written and nothing duplicated.
#[test]
fn a_plan_with_forward_references_is_applied_once() {
    for applied_by in ["push", "sync"] {
        let f = companies_and_contacts("report");
        let (hs, pd, work) = (f.hubspot("hs"), f.pipedrive("pd"), &f.work);
        let acme = hs.seed("companies", &[("name", "Acme")]);
        let beta = hs.seed("companies", &[("name", "Beta")]);
        contact_at(hs, "a@acme.example", &acme);
        contact_at(hs, "b@beta.example", &beta);
        work.run(&["diff", "--out", "plan.json"]).expect(3);
        let plan = read(&work.path("plan.json"));
        assert!(plan.contains("new:companies:right:"), "{plan}");
        match applied_by {
            "push" => work.run(&["push", "plan.json"]).expect(0),
            _ => work.run(&["sync"]).expect(0),
        };
        assert_eq!(org_name_of(pd, "a@acme.example"), json!("Acme"));
        assert_eq!(org_name_of(pd, "b@beta.example"), json!("Beta"));
        pd.server().reset_requests();
        hs.server().reset_requests();
        let again = work.run(&["push", "plan.json"]).expect(6);
        assert!(
            again.stderr.contains("the plan is stale"),
            "{}",
            again.stderr
        );
        assert_eq!(
            pd.server().write_request_count() + hs.server().write_request_count(),
            0
        );
        assert_eq!(pd.organizations().len(), 2, "{applied_by}");
        assert_eq!(pd.persons().len(), 2, "{applied_by}");
        work.run(&["diff"]).expect(0);
    }
}

/// In one run: a HubSpot company merge (propagated to the organizations),
/// a new contact at the merge's result, and a new company with a new
/// contact at it (a forward reference). Every person lands in the right
/// organization, nothing is duplicated, and the next full run writes
/// nothing.
#[test]
fn a_merge_and_forward_references_in_one_run_land_every_person_once() {
    let f = companies_and_contacts("propagate");
    let (hs, pd, work) = (f.hubspot("hs"), f.pipedrive("pd"), &f.work);
    let acme = hs.seed("companies", &[("name", "Acme")]);
    let acme_inc = hs.seed("companies", &[("name", "Acme Inc")]);
    contact_at(hs, "a@acme.example", &acme);
    contact_at(hs, "b@acme.example", &acme_inc);
    work.run(&["sync"]).expect(0);
    assert_eq!(pd.organizations().len(), 2);

    let merged = hs.merge("companies", &acme, &acme_inc);
    contact_at(hs, "c@acme.example", &merged);
    let gamma = hs.seed("companies", &[("name", "Gamma")]);
    contact_at(hs, "g@gamma.example", &gamma);
    let diff = work.run(&["--json", "diff"]).expect(3);
    let run = work.run(&["sync"]).expect(0);
    eprintln!("{}\n{}", diff.stdout, run.stdout);
    assert_eq!(pd.organizations().len(), 2, "{:#?}", pd.organizations());
    assert_eq!(pd.persons().len(), 4);
    for email in ["a@acme.example", "b@acme.example", "c@acme.example"] {
        assert_eq!(org_name_of(pd, email), json!("Acme"), "{email}");
    }
    assert_eq!(org_name_of(pd, "g@gamma.example"), json!("Gamma"));
    hs.server().reset_requests();
    pd.server().reset_requests();
    let run = work.run(&["sync", "--full"]).expect(0);
    assert_eq!(
        hs.server().write_request_count() + pd.server().write_request_count(),
        0,
        "{}",
        run.stdout
    );
}

/// A HubSpot merge whose result and its partner are both edited before the
/// next run: one conflict, settled once by the pair's policy, and no
/// write back and forth over the runs after. Under `-q` the run prints the
/// notice of the second partner, and then, once it is merged in Pipedrive
/// too, nothing at all.
#[test]
fn a_merge_result_edited_on_both_sides_settles_once_and_does_not_ping_pong() {
    let (m, ids) = synced("conflict = \"newest\"", 3);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd1, pd2) = (
        person_id(&m, "p1@example.com"),
        person_id(&m, "p2@example.com"),
    );
    let merged = hs.merge("contacts", &ids[1], &ids[2]);
    hs.edit("contacts", &merged, &[("firstname", "FromHubSpot")]);
    pd.edit_person(pd1, json!({"first_name": "FromPipedrive"}));
    let run = m.work.run(&["sync"]).expect(0);
    eprintln!("{}", run.stdout);
    // Either edit may be the newer one (Pipedrive keeps whole seconds);
    // both sides hold the winner.
    let contact = hs.record("contacts", &merged).unwrap();
    let winner = contact.properties["firstname"].clone();
    assert!(["FromHubSpot", "FromPipedrive"].contains(&winner.as_str()));
    assert_eq!(pd.person(pd1).unwrap()["first_name"], json!(winner));
    for _ in 0..2 {
        let quiet = m.assert_run_writes_nothing(&["-q", "sync"]);
        assert!(
            quiet
                .stdout
                .contains(&format!("pd {pd2} faces the same record as pd {pd1}")),
            "{}",
            quiet.stdout
        );
        assert_eq!(quiet.stderr, "");
    }
    full_sync_writes_nothing(&m);
    pd.merge("persons", pd2, pd1);
    m.work.run(&["sync", "--full"]).expect(0);
    let quiet = m.work.run(&["-q", "sync", "--full"]).expect(0);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
    assert_eq!(pd.persons().len(), 2);
    assert_eq!(hs.records("contacts").len(), 2);
}

/// Runs `crmsync --report report.json sync` and interrupts it with SIGINT while the first
/// request to `server` matching `matching` is held; that request is then
/// let through. Returns the exit code, stdout and stderr.
fn sync_interrupted_at<S: Send + 'static>(
    work: &Workdir,
    server: &crate::support::server::Server<S>,
    matching: &str,
) -> (i32, String, String) {
    use std::io::{BufRead, BufReader};
    let gate = Gate::default();
    server.inject(matching, 1, Fault::Hold(gate.clone()));
    let stdout_path = work.path("interrupted.out");
    let mut child = work
        .command(&["--report", "report.json", "sync"])
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn crmsync");
    gate.wait_until_held();
    let sent = std::process::Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let mut stderr = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let seen = line.contains("interrupted by SIGINT");
        stderr.push(line);
        if seen {
            break;
        }
    }
    gate.open();
    stderr.extend(lines.map_while(Result::ok));
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, read(&stdout_path), stderr.join("\n"))
}

/// SIGINT while Pipedrive merges the second partner of a HubSpot merge,
/// the last request of a run that also creates and updates: the signal
/// stops nothing, but the run still exits 130 and reports itself
/// interrupted (a shell loop around it must stop); the rerun finishes
/// without merging twice, duplicating or losing an edit.
#[test]
fn sigint_during_the_last_request_a_propagated_merge_makes_exits_130_and_the_rerun_converges() {
    let (m, ids) = synced("merges = \"propagate\"", 4);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd1, pd2) = (
        person_id(&m, "p1@example.com"),
        person_id(&m, "p2@example.com"),
    );
    let merged = hs.merge("contacts", &ids[1], &ids[2]);
    hs.edit("contacts", &ids[0], &[("lastname", "Edited0")]);
    hs.edit("contacts", &ids[3], &[("lastname", "Edited3")]);
    hs.seed(
        "contacts",
        &[
            ("email", "p9@example.com"),
            ("firstname", "New"),
            ("lastname", "Nine"),
        ],
    );
    let (code, stdout, stderr) = sync_interrupted_at(&m.work, pd.server(), "/merge");
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(stderr.contains("run again to finish"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&read(&m.work.path("report.json"))).unwrap();
    assert_eq!(report["interrupted"], json!(true), "{report:#}");
    assert_eq!(report["exit_status"], json!(130), "{report:#}");
    m.reset_requests();
    let rerun = m.work.run(&["sync"]).expect(0);
    let merges = super::requests_matching(&pd.server().counts_by_endpoint(), "/merge");
    assert_eq!(merges, 0, "merged once: {}", rerun.stdout);
    assert!(
        pd.persons().iter().all(|p| p["id"] != json!(pd2)),
        "pd2 merged away"
    );
    assert_eq!(pd.persons().len(), 4, "{:#?}", pd.persons());
    let last = |email: &str| pd.person(person_id(&m, email)).unwrap()["last_name"].clone();
    assert_eq!(last("p0@example.com"), json!("Edited0"));
    assert_eq!(last("p3@example.com"), json!("Edited3"));
    assert_eq!(last("p9@example.com"), json!("Nine"));
    assert_eq!(person_id(&m, "p2@example.com"), pd1);
    assert_eq!(hs.records("contacts").len(), 4);
    assert!(hs.record("contacts", &merged).is_some());
    full_sync_writes_nothing(&m);
}

/// SIGINT while the first of two organizations a run creates is on the
/// wire, before the persons that wait on them: exit 130, and the rerun
/// makes the rest, each person in its organization, nothing twice.
#[test]
fn sigint_before_the_records_waiting_on_a_create_converges_on_the_rerun() {
    let f = companies_and_contacts("report");
    let (hs, pd, work) = (f.hubspot("hs"), f.pipedrive("pd"), &f.work);
    for name in ["Acme", "Beta", "Gamma"] {
        let company = hs.seed("companies", &[("name", name)]);
        contact_at(hs, &format!("x@{}.example", name.to_lowercase()), &company);
    }
    let (code, stdout, stderr) =
        sync_interrupted_at(work, pd.server(), "POST /api/v2/organizations");
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(pd.persons().len() < 3, "{stdout}");
    work.run(&["sync"]).expect(0);
    assert_eq!(pd.organizations().len(), 3, "{:#?}", pd.organizations());
    assert_eq!(pd.persons().len(), 3);
    for name in ["Acme", "Beta", "Gamma"] {
        let email = format!("x@{}.example", name.to_lowercase());
        assert_eq!(org_name_of(pd, &email), json!(name));
    }
    pd.server().reset_requests();
    hs.server().reset_requests();
    work.run(&["sync", "--full"]).expect(0);
    assert_eq!(
        pd.server().write_request_count() + hs.server().write_request_count(),
        0
    );
}

/// A person deleted in Pipedrive while another person already held its
/// email as a second one (Pipedrive lets two persons share an email) was
/// not merged: under `merges = "propagate"` crmsync must not merge the two
/// HubSpot contacts (a HubSpot merge cannot be undone).
#[test]
fn a_delete_of_a_person_whose_email_another_already_held_merges_nothing() {
    let (m, ids) = synced("deletes = \"ignore\"\nmerges = \"propagate\"", 3);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd0, pd1) = p0_takes_p1s_email(&m);
    m.run(&["sync", "--full"]).expect(0);
    pd.delete_person(pd1);
    m.reset_requests();
    let run = m.run(&["sync", "--full"]).expect(0);
    let merges = super::requests_matching(&hs.server().counts_by_endpoint(), "/merge");
    assert_eq!(merges, 0, "{}", run.stdout);
    assert!(hs.record("contacts", &ids[0]).is_some());
    assert!(hs.record("contacts", &ids[1]).is_some());
    assert_eq!(hs.records("contacts").len(), 3);
    // Reported as a merge crmsync could not confirm, with what to do.
    let unconfirmed = format!(
        "pd {pd1} was merged into pd {pd0}; hs {} faces the same record as hs {}, unless pd {pd1} was deleted: crmsync could not confirm the merge and merges or deletes nothing",
        ids[1], ids[0]
    );
    assert!(run.stdout.contains(&unconfirmed), "{}", run.stdout);
    assert_eq!(pd.persons().len(), 2, "nothing created, nothing deleted");
    // A later run neither confirms nor writes it: the same notice.
    let stdout = full_sync_writes_nothing(&m);
    assert!(stdout.contains(&unconfirmed), "{stdout}");
    assert_eq!(hs.records("contacts").len(), 3);
}

/// An organization deleted in Pipedrive after its one person moved to
/// another organization was not merged: under `deletes = "ignore"` and
/// `merges = "propagate"` the HubSpot company stays, unmerged.
#[test]
fn an_organization_deleted_after_its_persons_moved_merges_nothing() {
    let f = companies_and_contacts("propagate");
    let (hs, pd, work) = (f.hubspot("hs"), f.pipedrive("pd"), &f.work);
    let config =
        read(&work.config_path()).replace("deletes = \"propagate\"", "deletes = \"ignore\"");
    work.write_config(&config);
    let acme = hs.seed("companies", &[("name", "Acme")]);
    let beta = hs.seed("companies", &[("name", "Beta")]);
    contact_at(hs, "a@acme.example", &acme);
    contact_at(hs, "b@beta.example", &beta);
    work.run(&["sync"]).expect(0);
    let org = |name: &str| {
        pd.organizations()
            .into_iter()
            .find(|o| o["name"] == json!(name))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (pd_acme, pd_beta) = (org("Acme"), org("Beta"));
    let b = pd
        .persons()
        .into_iter()
        .find(|p| p["emails"][0]["value"] == json!("b@beta.example"))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    pd.edit_person(b, json!({"org_id": pd_acme}));
    pd.delete_organization(pd_beta);
    hs.server().reset_requests();
    let run = work.run(&["sync", "--full"]).expect(0);
    let merges = super::requests_matching(&hs.server().counts_by_endpoint(), "/merge");
    assert_eq!(merges, 0, "{}", run.stdout);
    assert!(hs.record("companies", &beta).is_some());
    assert_eq!(hs.records("companies").len(), 2);
    assert_eq!(hs.records("contacts").len(), 2, "no contact deleted");
    assert_eq!(pd.persons().len(), 2, "no person deleted or created");
    let unconfirmed = format!(
        "pd {pd_beta} was merged into pd {pd_acme}; hs {beta} faces the same record as hs {acme}, unless pd {pd_beta} was deleted: crmsync could not confirm the merge"
    );
    run.assert_stdout_has(&unconfirmed);
    // The person's move reaches its contact; a later run writes nothing.
    let b = &hs.find("contacts", "email", "b@beta.example")[0];
    assert_eq!(
        hs.associated_ids("contacts", &b.id, "companies"),
        std::slice::from_ref(&acme)
    );
    let stdout = f.assert_run_writes_nothing(&["sync", "--full"]).stdout;
    assert!(stdout.contains(&unconfirmed), "{stdout}");
    assert_eq!(hs.records("companies").len(), 2);
}
