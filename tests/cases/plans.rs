//! Plans: `diff` never writes, `--offline` makes no request, `push` applies a
//! reviewed plan exactly or refuses a stale one, and the run lock keeps two
//! runs apart.

use super::TwoAccounts;
use super::id_of;
use crate::support::harness::read;
use crate::support::server::{Fault, Gate};

#[test]
fn diff_prints_the_plan_exits_3_and_writes_nothing() {
    let t = TwoAccounts::new();
    t.seed_us_contacts(3);
    t.seed_us_deals(2);
    let run = t.work.run(&["diff"]).expect(3);
    assert!(
        run.stdout.contains("+ eu     create    c0@example.com"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Plan: 5 to create"), "{}", run.stdout);
    assert_eq!(t.writes(), 0);
    assert!(t.eu.records("contacts").is_empty());

    let json = t.work.run(&["--json", "diff"]).expect(3);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(plan["format"], "crmsync-plan");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["pairs"][0]["items"].as_array().unwrap().len(), 3);
}

#[test]
fn offline_diff_makes_no_request() {
    let t = TwoAccounts::new();
    t.seed_us_contacts(3);
    t.work.run(&["pull"]).expect(0);
    t.reset_requests();
    let run = t.work.run(&["diff", "--offline"]).expect(3);
    assert!(run.stdout.contains("3 to create"), "{}", run.stdout);
    assert_eq!(
        t.us.server().request_count() + t.eu.server().request_count(),
        0
    );
}

#[test]
fn push_applies_a_reviewed_plan_and_refuses_a_stale_one() {
    let t = TwoAccounts::new();
    t.seed_us_contacts(2);
    t.work.run(&["sync"]).expect(0);
    let us_id = id_of(&t.us, "contacts", "email", "c0@example.com");
    let eu_id = id_of(&t.eu, "contacts", "email", "c0@example.com");

    // A plan is made, then someone edits the record it would overwrite.
    t.us.edit("contacts", &us_id, &[("firstname", "Planned")]);
    t.work.run(&["diff", "--out", "review.json"]).expect(3);
    t.eu.edit("contacts", &eu_id, &[("lastname", "Edited after the plan")]);
    t.eu.server().reset_requests();
    let run = t.work.run(&["-q", "push", "review.json"]).expect(6);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.contains("the plan is stale"), "{}", run.stderr);
    assert!(run.stderr.contains("diff"), "names the fix: {}", run.stderr);
    assert_eq!(
        t.eu.server().write_request_count() + t.us.server().write_request_count(),
        0,
        "nothing written"
    );
    let eu = t.eu.record("contacts", &eu_id).unwrap();
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
        t.eu.record("contacts", &eu_id).unwrap().properties["firstname"],
        "Planned"
    );
    assert_eq!(
        t.us.record("contacts", &us_id).unwrap().properties["lastname"],
        "Edited after the plan"
    );
    t.work.run(&["diff"]).expect(0);

    // A bare push takes the last plan diff made.
    t.us.edit("contacts", &us_id, &[("phone", "123")]);
    t.work.run(&["diff"]).expect(3);
    t.work.run(&["push"]).expect(0);
    assert_eq!(
        t.eu.record("contacts", &eu_id).unwrap().properties["phone"],
        "123"
    );
}

#[test]
fn a_plan_made_under_another_mapping_is_refused() {
    let t = TwoAccounts::new();
    t.seed_us_contacts(1);
    t.work.run(&["diff", "--out", "plan.json"]).expect(3);
    let config = read(&t.work.config_path()).replace("phone = \"phone\"", "");
    t.work.write_config(&config);
    let run = t.work.run(&["push", "plan.json"]).expect(6);
    assert!(run.stderr.contains("different"), "{}", run.stderr);
    assert!(t.eu.records("contacts").is_empty());
}

#[test]
fn a_second_run_while_one_holds_the_lock_exits_5_at_once() {
    let t = TwoAccounts::new();
    t.seed_us_contacts(1);
    // The first run stops at its first request, holding the lock.
    let gate = Gate::default();
    t.us.server().inject("GET", 1, Fault::Hold(gate.clone()));
    let mut first = t.work.command(&["sync"]).spawn().expect("spawn");
    gate.wait_until_held();
    let second = t.work.run(&["sync"]).expect(5);
    assert!(
        first.try_wait().unwrap().is_none(),
        "refused at once: the first run still waits at its first request"
    );
    assert!(
        second.stderr.contains("another crmsync run"),
        "{}",
        second.stderr
    );
    gate.open();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(
        t.eu.records("contacts").len(),
        1,
        "the first run completed alone"
    );
}
