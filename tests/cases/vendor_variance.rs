//! Answers HubSpot's published 2026-09 schemas allow but its usual answers do
//! not show: batch results without `objectWriteTraceId`, in any order, errors
//! that name no input, answers cut off or empty, and associations paged a few
//! at a time. For each, crmsync must neither duplicate nor drop a record: a
//! write whose outcome is not known is `unknown` (never `failed`), and the
//! next run finds what it made instead of making it again.

use super::{
    assert_each_once, id_of, requests_matching, seed_us_contacts, seed_us_deals, sorted,
    two_account_mapping, us_and_eu,
};
use crate::support::accounts::Fixture;
use crate::support::fake_hubspot::{PropertyDef, Quirks};
use crate::support::harness::read;
use crate::support::server::{Fault, Response};
use serde_json::{Value, json};
use std::time::Duration;

const DEALS_CREATE: &str = "POST /crm/objects/2026-09/deals/batch/create";
const ASSOCIATIONS_READ: &str = "POST /crm/associations/2026-09/deals/contacts/batch/read";
const ASSOCIATIONS_ARCHIVE: &str = "POST /crm/associations/2026-09/deals/contacts/batch/archive";

/// HubSpot answering as its schema allows at the loosest: no trace ids,
/// results in a shuffled order.
const LOOSE: Quirks = Quirks {
    no_trace_ids: true,
    shuffled: true,
    association_page: None,
};

/// Two accounts answering with `quirks`; the mapping file waits briefly on
/// faults so the tests that inject them run in seconds.
fn accounts(quirks: Quirks) -> Fixture {
    let t = two_account_mapping("newest").toml(RETRY).build();
    t.hubspot("us").set_quirks(quirks);
    t.hubspot("eu").set_quirks(quirks);
    t
}

const RETRY: &str = "\n[retry]\nmax_wait_secs = 2\ntimeout_secs = 2\nconnect_timeout_secs = 1\nfirst_delay_ms = 50\n";

fn report(t: &Fixture) -> Value {
    serde_json::from_str(&read(&t.work.path("report.json"))).expect("report JSON")
}

/// The report's outcomes whose result is `result`.
fn outcomes<'a>(report: &'a Value, result: &str) -> Vec<&'a Value> {
    report["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["result"] == result)
        .collect()
}

#[test]
fn answers_without_trace_ids_in_any_order_link_everything_once() {
    let t = accounts(LOOSE);
    seed_us_contacts(&t, 250);
    seed_us_deals(&t, 120);

    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("Applied: 370 created");
    assert_each_once(t.hubspot("eu"), "contacts", "email", 250);
    assert_each_once(t.hubspot("eu"), "deals", "dealname", 120);
    for i in [0, 7, 119] {
        let eu = id_of(t.hubspot("eu"), "deals", "dealname", &format!("Deal {i}"));
        let amount = t.hubspot("eu").record("deals", &eu).unwrap().properties["amount"].clone();
        assert_eq!(amount, format!("{}", (i + 1) * 100), "Deal {i} is itself");
    }
    // Every created record was linked to its source (nothing is left to do).
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
    let diff = t.work.run(&["diff", "--full"]).expect(0);
    diff.assert_stdout_has("nothing to do");
    assert_each_once(t.hubspot("eu"), "deals", "dealname", 120);
}

#[test]
fn every_third_write_answer_dropped_after_commit_converges_without_duplicates() {
    let t = accounts(LOOSE);
    seed_us_contacts(&t, 250);
    seed_us_deals(&t, 120);
    // eu's batch writes in turn: two answered, the third applied but its
    // answer lost (a safe upsert is resent; a create is not, and the run
    // stops with exit 5, its creates journaled as unknown).
    for _ in 0..20 {
        t.hubspot("eu")
            .server()
            .inject("/batch/", 2, Fault::Delay(Duration::ZERO));
        t.hubspot("eu")
            .server()
            .inject("/batch/", 1, Fault::CommitThenDrop);
    }
    let mut codes = Vec::new();
    for _ in 0..6 {
        let run = t.work.run(&["sync"]);
        codes.push(run.code);
        assert!(
            [0, 4, 5].contains(&run.code),
            "exit {}\n{}\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
        if run.code == 0 {
            break;
        }
    }
    assert_eq!(codes.last(), Some(&0), "runs converge: {codes:?}");
    assert!(
        codes.contains(&5),
        "a lost create answer stopped a run: {codes:?}"
    );
    assert_each_once(t.hubspot("eu"), "contacts", "email", 250);
    assert_each_once(t.hubspot("eu"), "deals", "dealname", 120);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_success_with_no_result_is_unknown_and_the_next_run_looks_before_creating() {
    let t = accounts(Quirks::default());
    let eu = t.hubspot("eu");
    seed_us_deals(&t, 3);
    // A 201 that says nothing of the inputs: they may or may not exist.
    let empty = json!({
        "status": "COMPLETE", "results": [],
        "startedAt": "2026-11-27T00:00:00Z", "completedAt": "2026-11-27T00:00:00Z",
    });
    eu.server()
        .inject(DEALS_CREATE, 1, Fault::Respond(Response::json(201, &empty)));
    let run = t.work.run(&["--report", "report.json", "sync"]).expect(4);
    run.assert_stdout_has("0 failed, 3 unknown");
    let report = report(&t);
    let unknown = outcomes(&report, "unknown");
    assert_eq!(unknown.len(), 3, "{report:#}");
    assert!(
        unknown[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no result for this record")),
        "{report:#}"
    );
    assert!(outcomes(&report, "failed").is_empty(), "{report:#}");
    assert_eq!(report["counts"]["deals"]["right"]["create"]["unknown"], 3);

    // Nothing was made (the fault answered instead of the server): the
    // next run finds no such deals and creates them, once.
    t.work.run(&["sync"]).expect(0);
    assert_each_once(eu, "deals", "dealname", 3);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_cut_off_create_answer_is_unknown_and_its_records_are_found_not_made_again() {
    let t = accounts(LOOSE);
    let eu = t.hubspot("eu");
    seed_us_deals(&t, 150);
    eu.server().inject(DEALS_CREATE, 1, Fault::Truncate);
    let run = t.work.run(&["--report", "report.json", "sync"]).expect(5);
    run.assert_stderr_has("try again later");
    let report = report(&t);
    assert_eq!(outcomes(&report, "unknown").len(), 100, "{report:#}");
    assert_eq!(eu.records("deals").len(), 100, "the batch was applied");

    t.reset_requests();
    t.work.run(&["sync"]).expect(0);
    let creates = requests_matching(&eu.server().counts_by_endpoint(), DEALS_CREATE);
    assert_eq!(creates, 1, "only the 50 never sent are created");
    assert_each_once(eu, "deals", "dealname", 150);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn an_error_that_names_no_input_leaves_it_unknown_and_one_naming_its_id_fails_it() {
    let t = accounts(LOOSE);
    // `budget` is text on us and a number on eu, so eu refuses some values.
    t.hubspot("us")
        .define_property("deals", PropertyDef::new("budget", "Budget", "string"));
    t.hubspot("eu")
        .define_property("deals", PropertyDef::new("budget", "Budget", "number"));
    t.edit_mapping(|config| {
        config.replace(
            "amount = \"amount\"\n",
            "amount = \"amount\"\nbudget = \"budget\"\n",
        )
    });
    seed_us_deals(&t, 2);
    t.work.run(&["sync"]).expect(0);
    // With no trace ids, the 207's error names no input of a create, and
    // the record's id for an update.
    let us_odd = t.hubspot("us").seed(
        "deals",
        &[
            ("dealname", "Odd"),
            ("budget", "12,5x"),
            ("pipeline", "default"),
            ("dealstage", "qualifiedtobuy"),
        ],
    );
    let us_first = id_of(t.hubspot("us"), "deals", "dealname", "Deal 0");
    t.hubspot("us")
        .edit("deals", &us_first, &[("budget", "7,7x")]);
    let us_second = id_of(t.hubspot("us"), "deals", "dealname", "Deal 1");
    t.hubspot("us")
        .edit("deals", &us_second, &[("budget", "555")]);
    let run = t.work.run(&["--report", "report.json", "sync"]).expect(4);
    let report = report(&t);
    let unknown = outcomes(&report, "unknown");
    let failed = outcomes(&report, "failed");
    assert_eq!(
        (unknown.len(), failed.len()),
        (1, 1),
        "{report:#}\n{}",
        run.stdout
    );
    assert_eq!(unknown[0]["action"], "create");
    assert_eq!(unknown[0]["left_id"], us_odd.as_str());
    assert!(
        unknown[0]["message"]
            .as_str()
            .unwrap()
            .contains("name no record"),
        "{report:#}"
    );
    assert_eq!(failed[0]["action"], "update");
    assert_eq!(failed[0]["left_id"], us_first.as_str());
    let eu_second = id_of(t.hubspot("eu"), "deals", "dealname", "Deal 1");
    assert_eq!(
        t.hubspot("eu")
            .record("deals", &eu_second)
            .unwrap()
            .properties["budget"],
        "555"
    );
    assert!(t.hubspot("eu").find("deals", "dealname", "Odd").is_empty());
}

/// us ↔ eu contacts and deals with every contact of a deal carried across.
fn deal_contacts(quirks: Quirks) -> Fixture {
    let t = us_and_eu()
        .toml(&format!(
            r#"
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
[pairs.fields]
dealname = "dealname"
contacts = "contacts"
[pairs.values]
contacts = "link:contacts"
{RETRY}"#
        ))
        .build();
    t.hubspot("us").set_quirks(quirks);
    t.hubspot("eu").set_quirks(quirks);
    t
}

#[test]
fn a_deal_with_six_hundred_contacts_is_carried_whole_through_paged_associations() {
    let paged = Quirks {
        association_page: Some(100),
        ..LOOSE
    };
    let t = deal_contacts(paged);
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let contacts = seed_us_contacts(&t, 600);
    let deal = us.seed("deals", &[("dealname", "Big")]);
    for c in &contacts {
        us.associate(&deal, c);
    }

    t.work.run(&["sync"]).expect(0);
    let eu_deal = id_of(eu, "deals", "dealname", "Big");
    let eu_contacts: Vec<String> = (0..600)
        .map(|i| id_of(eu, "contacts", "email", &format!("c{i}@example.com")))
        .collect();
    assert_eq!(sorted(eu.associations(&eu_deal)), sorted(eu_contacts));
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
    // A full pull reads the list's first page of each deal's contacts and
    // the rest through the associations API: still all 600, nothing to do.
    let diff = t.work.run(&["diff", "--full"]).expect(0);
    diff.assert_stdout_has("nothing to do");
}

#[test]
fn association_paging_that_breaks_midway_archives_nothing() {
    let paged = Quirks {
        association_page: Some(5),
        ..Quirks::default()
    };
    let t = deal_contacts(paged);
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let contacts = seed_us_contacts(&t, 12);
    let deal = us.seed("deals", &[("dealname", "Twelve")]);
    for c in &contacts {
        us.associate(&deal, c);
    }
    t.work.run(&["sync"]).expect(0);
    let eu_deal = id_of(eu, "deals", "dealname", "Twelve");
    assert_eq!(eu.associations(&eu_deal).len(), 12, "carried whole");

    // The first page of the deal's contacts comes; every later one fails.
    us.server()
        .inject(ASSOCIATIONS_READ, 1, Fault::Delay(Duration::ZERO));
    let failing = Response::json(
        500,
        &json!({"status": "error", "message": "internal error"}),
    );
    us.server()
        .inject(ASSOCIATIONS_READ, 100, Fault::Respond(failing));
    eu.server().reset_requests();
    let run = t.work.run(&["sync", "--full"]).expect(5);
    run.assert_stderr_has("try again later");
    let archived = requests_matching(&eu.server().counts_by_endpoint(), ASSOCIATIONS_ARCHIVE);
    assert_eq!(archived, 0, "no association archived from a partial set");
    assert_eq!(eu.associations(&eu_deal).len(), 12);
    assert_eq!(us.associations(&deal).len(), 12);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}
