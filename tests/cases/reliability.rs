//! Reliability end to end: the real binary against fake accounts that fail
//! the way real ones do — 429 storms, 5xx, dropped connections, a write that
//! commits and then loses its answer, slow and truncated responses, a 207
//! with per-record rejections, a token revoked midway, and a run killed with
//! SIGKILL at arbitrary points. Every test asserts what both accounts hold
//! afterwards (counts, values, no duplicates), not only the exit code; the
//! bad-input catalogue asserts the exit code and a one-line message naming
//! the fix; and the run's side channels (`--report`, `--log-file`, the
//! `[alerts]` webhook) are checked against their documented shape. Retries
//! are configured small (`[retry]`) so the whole file runs in seconds.

use super::{
    duplicates, hs_and_pd, requests_matching, seed_us_contacts, seed_us_deals, two_account_mapping,
    two_accounts_under, values_of,
};
use crate::support::accounts::Fixture;
use crate::support::fake_hubspot::PropertyDef;
use crate::support::harness::{EU_TOKEN, Run, US_TOKEN, Workdir, read};
use crate::support::server::{Fault, Request, Response, Server};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const CONTACTS_LIST: &str = "GET /crm/objects/2026-09/contacts";
const CONTACTS_UPSERT: &str = "POST /crm/objects/2026-09/contacts/batch/upsert";
const DEALS_CREATE: &str = "POST /crm/objects/2026-09/deals/batch/create";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The `[retry]` table every test here uses: short waits so faults resolve
/// (or give up) in seconds.
fn retry_table(max_wait_secs: u64) -> String {
    format!(
        "\n[retry]\nmax_wait_secs = {max_wait_secs}\ntimeout_secs = 1\nconnect_timeout_secs = 1\nfirst_delay_ms = 50\n"
    )
}

/// `Fixture` whose mapping file also carries `[retry]` and `extra`.
fn accounts_with(max_wait_secs: u64, extra: &str) -> Fixture {
    two_account_mapping("newest")
        .toml(&retry_table(max_wait_secs))
        .toml(extra)
        .build()
}

fn accounts() -> Fixture {
    accounts_with(3, "")
}

/// Both accounts hold exactly `n` contacts, every us contact exists once on
/// eu with the same values, and neither side has a duplicate email.
#[track_caller]
fn assert_contacts_mirrored(t: &Fixture, n: usize) {
    let (us, eu) = (
        t.hubspot("us").records("contacts"),
        t.hubspot("eu").records("contacts"),
    );
    assert_eq!((us.len(), eu.len()), (n, n), "contacts on us and eu");
    assert_eq!(
        duplicates(values_of(t.hubspot("us"), "contacts", "email")),
        0
    );
    assert_eq!(
        duplicates(values_of(t.hubspot("eu"), "contacts", "email")),
        0
    );
    for contact in us {
        let email = &contact.properties["email"];
        let copies = t.hubspot("eu").find("contacts", "email", email);
        assert_eq!(copies.len(), 1, "{email} exists once on eu");
        for f in ["firstname", "lastname", "phone"] {
            assert_eq!(
                copies[0].properties.get(f),
                contact.properties.get(f),
                "{email} {f}"
            );
        }
    }
}

/// us holds `n` deals, eu holds exactly one copy of each (by name), with the
/// stage translated.
#[track_caller]
fn assert_deals_mirrored(t: &Fixture, n: usize) {
    let (us, eu) = (
        t.hubspot("us").records("deals"),
        t.hubspot("eu").records("deals"),
    );
    assert_eq!((us.len(), eu.len()), (n, n), "deals on us and eu");
    assert_eq!(
        duplicates(values_of(t.hubspot("eu"), "deals", "dealname")),
        0
    );
    let stage = |s: &str| match s {
        "appointmentscheduled" => "eu-appointment",
        "qualifiedtobuy" => "eu-qualified",
        "closedwon" => "eu-won",
        _ => "eu-lost",
    };
    for deal in us {
        let name = &deal.properties["dealname"];
        let copies = t.hubspot("eu").find("deals", "dealname", name);
        assert_eq!(copies.len(), 1, "{name} exists once on eu");
        assert_eq!(copies[0].properties["amount"], deal.properties["amount"]);
        assert_eq!(
            copies[0].properties["dealstage"],
            stage(&deal.properties["dealstage"])
        );
    }
}

/// A HubSpot 429 as the ten-secondly limit answers it, told to wait `secs`.
fn too_many_requests(secs: u64) -> Response {
    Response::json(
        429,
        &json!({
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
        }),
    )
    .with_header("Retry-After", secs.to_string())
}

fn server_error() -> Response {
    Response::json(
        500,
        &json!({"status": "error", "message": "internal error", "category": "INTERNAL_ERROR"}),
    )
}

/// A fault that lets one matching request through untouched, so the next
/// fault hits the request after it.
fn pass() -> Fault {
    Fault::Delay(Duration::ZERO)
}

/// The `crmsync: error:` lines of stderr; a failed run must print exactly one.
fn error_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("crmsync: error"))
        .collect()
}

/// stderr is one line, and it contains every hint (case-insensitively).
#[track_caller]
fn assert_one_line_naming(run: &Run, hints: &[&str]) {
    let line = run.one_stderr_line();
    for hint in hints {
        assert!(
            line.to_lowercase().contains(&hint.to_lowercase()),
            "`{hint}` in: {line}"
        );
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// eu's account stores `phone` as a number, so a us phone that is not one
/// is refused per record (a 207 entry with HubSpot's INVALID_FLOAT message).
fn eu_phone_is_a_number(t: &Fixture) {
    t.hubspot("eu").define_property(
        "contacts",
        PropertyDef::new("phone", "Phone number", "number"),
    );
}

/// HubSpot deals → Pipedrive deals: no match key, so only the create
/// journal can tell a deal this tool made from a new one.
fn deals_to_pipedrive(deals: usize) -> Fixture {
    let records = (0..deals)
        .map(|i| {
            BTreeMap::from([
                ("dealname".to_string(), format!("Deal {i}")),
                ("amount".to_string(), format!("{}", (i + 1) * 100)),
                ("pipeline".to_string(), "default".to_string()),
                (
                    "dealstage".to_string(),
                    ["appointmentscheduled", "qualifiedtobuy"][i % 2].to_string(),
                ),
            ])
        })
        .collect();
    let pairs = format!(
        r#"
[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
direction = "left-to-right"
[pairs.fields]
dealname = "title"
amount = "value"
dealstage = "stage_id"
[pairs.values.dealstage]
appointmentscheduled = "1"
qualifiedtobuy = "2"
{}"#,
        retry_table(3)
    );
    let m = hs_and_pd().toml(&pairs).build();
    m.hubspot("hs").seed_many("deals", records);
    m
}

fn pipedrive_titles(m: &Fixture) -> Vec<String> {
    m.pipedrive("pd")
        .deals()
        .iter()
        .map(|d| d["title"].as_str().unwrap_or("").to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// 1–2. Rate limits
// ---------------------------------------------------------------------------

#[test]
fn a_429_storm_with_retry_after_is_waited_out_and_the_sync_completes() {
    let t = accounts_with(10, "");
    seed_us_contacts(&t, 150);
    seed_us_deals(&t, 3);
    t.hubspot("us")
        .server()
        .inject(CONTACTS_LIST, 3, Fault::Respond(too_many_requests(1)));

    t.work.run(&["sync"]).expect(0);

    let statuses: Vec<u16> = t
        .hubspot("us")
        .server()
        .requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "the storm was served"
    );
    assert_contacts_mirrored(&t, 150);
    assert_deals_mirrored(&t, 3);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_429_storm_outlasting_max_wait_exits_5_with_one_clear_line_and_duplicates_nothing() {
    let t = accounts();
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 5);
    seed_us_deals(&t, 3);
    // Every deal create is refused for far longer than max_wait_secs = 3.
    eu.server()
        .inject(DEALS_CREATE, 1000, Fault::Respond(too_many_requests(1)));

    let run = t.work.run(&["-q", "sync"]).expect(5);
    let errors = error_lines(&run);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("rate limit"), "{}", errors[0]);
    assert!(errors[0].contains("try again later"), "{}", errors[0]);
    assert!(eu.records("deals").is_empty(), "a 429 writes nothing");
    assert_eq!(t.hubspot("us").records("deals").len(), 3);
    assert_eq!(eu.records("contacts").len(), 5, "the contacts pair ran");

    eu.server().clear_faults();
    t.work.run(&["sync"]).expect(0);
    assert_contacts_mirrored(&t, 5);
    assert_deals_mirrored(&t, 3);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

// ---------------------------------------------------------------------------
// 3–4, 6–7. Transient faults on requests that are safe to repeat
// ---------------------------------------------------------------------------

#[test]
fn a_500_and_a_lost_answer_on_a_batch_upsert_are_retried_and_each_contact_exists_once() {
    let t = accounts();
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 150);
    // First attempt: 500 (nothing written). Second: written, answer lost.
    eu.server()
        .inject(CONTACTS_UPSERT, 1, Fault::Respond(server_error()));
    eu.server()
        .inject(CONTACTS_UPSERT, 1, Fault::CommitThenDrop);

    t.work.run(&["sync"]).expect(0);

    let upserts = requests_matching(&eu.server().counts_by_endpoint(), CONTACTS_UPSERT);
    assert_eq!(upserts, 4, "two batches, the first sent three times");
    assert_contacts_mirrored(&t, 150);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_connection_dropped_before_the_answer_on_a_read_is_retried() {
    let t = accounts();
    seed_us_contacts(&t, 150);
    seed_us_deals(&t, 2);
    t.hubspot("us")
        .server()
        .inject(CONTACTS_LIST, 2, Fault::Drop);

    t.work.run(&["sync"]).expect(0);

    let dropped = t
        .hubspot("us")
        .server()
        .requests()
        .iter()
        .filter(|r| r.status == 0)
        .count();
    assert_eq!(dropped, 2, "both drops were served");
    assert_contacts_mirrored(&t, 150);
    assert_deals_mirrored(&t, 2);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_read_slower_than_the_timeout_is_abandoned_and_retried() {
    let t = accounts();
    seed_us_contacts(&t, 20);
    t.hubspot("eu").seed(
        "contacts",
        &[("email", "eu.only@example.com"), ("firstname", "Eva")],
    );
    // timeout_secs = 1; the first eu listing answers after 2.5 s.
    t.hubspot("eu")
        .server()
        .inject(CONTACTS_LIST, 1, Fault::Delay(Duration::from_millis(2500)));

    t.work.run(&["sync"]).expect(0);

    // The server logs the slow request only once it has slept, after the run.
    let listings = || {
        requests_matching(
            &t.hubspot("eu").server().counts_by_endpoint(),
            CONTACTS_LIST,
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while listings() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        listings(),
        2,
        "the slow listing was abandoned and asked again"
    );
    assert_contacts_mirrored(&t, 21);
    assert_eq!(
        t.hubspot("us")
            .find("contacts", "email", "eu.only@example.com")[0]
            .properties["firstname"],
        "Eva"
    );
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_list_page_cut_off_mid_body_is_read_again() {
    let t = accounts();
    let us = t.hubspot("us");
    seed_us_contacts(&t, 250);
    // Page 1 whole, page 2 cut in half.
    us.server().inject(CONTACTS_LIST, 1, pass());
    us.server().inject(CONTACTS_LIST, 1, Fault::Truncate);

    t.work.run(&["sync"]).expect(0);

    assert_eq!(
        requests_matching(&us.server().counts_by_endpoint(), CONTACTS_LIST),
        4,
        "three pages, the second read twice"
    );
    assert_contacts_mirrored(&t, 250);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

// ---------------------------------------------------------------------------
// 5. A create whose answer is lost: not resent, found again by the next run
// ---------------------------------------------------------------------------

#[test]
fn a_hubspot_deal_batch_committed_without_an_answer_stops_the_run_and_the_rerun_makes_no_duplicate()
{
    let t = accounts();
    seed_us_contacts(&t, 3);
    seed_us_deals(&t, 150);
    // The second batch (50 deals) is written, then its answer is lost.
    t.hubspot("eu").server().inject(DEALS_CREATE, 1, pass());
    t.hubspot("eu")
        .server()
        .inject(DEALS_CREATE, 1, Fault::CommitThenDrop);

    let run = t.work.run(&["-q", "sync"]).expect(5);
    assert_eq!(error_lines(&run).len(), 1, "{}", run.stderr);
    assert_eq!(
        requests_matching(&t.hubspot("eu").server().counts_by_endpoint(), DEALS_CREATE),
        2,
        "the create whose fate is unknown was not resent"
    );
    assert_eq!(
        t.hubspot("eu").records("deals").len(),
        150,
        "both batches reached eu"
    );

    t.hubspot("eu").server().reset_requests();
    t.work.run(&["sync"]).expect(0);
    eprintln!(
        "rerun after a lost create answer: eu {:?}",
        t.hubspot("eu").server().counts_by_endpoint()
    );
    assert_eq!(
        requests_matching(&t.hubspot("eu").server().counts_by_endpoint(), DEALS_CREATE),
        0,
        "the journaled deals were found, not created again"
    );
    assert_contacts_mirrored(&t, 3);
    assert_deals_mirrored(&t, 150);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_pipedrive_deal_post_committed_without_an_answer_stops_the_run_and_the_rerun_makes_no_duplicate()
 {
    let m = deals_to_pipedrive(5);
    m.pipedrive("pd")
        .server()
        .inject("POST /api/v2/deals", 2, pass());
    m.pipedrive("pd")
        .server()
        .inject("POST /api/v2/deals", 1, Fault::CommitThenDrop);

    let run = m.work.run(&["-q", "sync"]).expect(5);
    assert_eq!(error_lines(&run).len(), 1, "{}", run.stderr);
    assert_eq!(
        requests_matching(
            &m.pipedrive("pd").server().counts_by_endpoint(),
            "POST /api/v2/deals"
        ),
        3,
        "the POST whose fate is unknown was not resent"
    );
    assert_eq!(m.pipedrive("pd").deals().len(), 3);

    m.pipedrive("pd").server().reset_requests();
    m.work.run(&["sync"]).expect(0);
    let titles = pipedrive_titles(&m);
    eprintln!("pipedrive deals after the rerun: {titles:?}");
    assert_eq!(titles.len(), 5, "{titles:?}");
    assert_eq!(duplicates(titles.clone()), 0, "{titles:?}");
    assert_eq!(
        requests_matching(
            &m.pipedrive("pd").server().counts_by_endpoint(),
            "POST /api/v2/deals"
        ),
        2,
        "only the two deals never sent were created"
    );
    for deal in m.hubspot("hs").records("deals") {
        let title = &deal.properties["dealname"];
        let copy = m
            .pipedrive("pd")
            .deals()
            .into_iter()
            .find(|d| d["title"] == json!(title));
        let copy = copy.unwrap_or_else(|| panic!("{title} on Pipedrive"));
        assert_eq!(
            copy["value"].as_f64(),
            deal.properties["amount"].parse().ok()
        );
    }

    // A third run writes nothing.
    m.assert_run_writes_nothing(&["sync"]);
    assert_eq!(m.pipedrive("pd").deals().len(), 5);
}

// ---------------------------------------------------------------------------
// 8. Per-record rejections (207)
// ---------------------------------------------------------------------------

#[test]
fn two_contacts_refused_in_a_207_exit_4_the_rest_apply_and_a_rerun_retries_only_those_two() {
    let t = accounts();
    let us = t.hubspot("us");
    eu_phone_is_a_number(&t);
    let ids = seed_us_contacts(&t, 100);
    let bad = [(&ids[17], "c17@example.com"), (&ids[64], "c64@example.com")];
    for (id, _) in bad {
        us.edit("contacts", id, &[("phone", "call after 5pm")]);
    }

    t.work.run(&["--report", "report.json", "sync"]).expect(4);

    let eu = t.hubspot("eu").records("contacts");
    assert_eq!(eu.len(), 98, "98 applied");
    assert_eq!(
        duplicates(values_of(t.hubspot("eu"), "contacts", "email")),
        0
    );
    for (_, email) in bad {
        assert!(
            t.hubspot("eu").find("contacts", "email", email).is_empty(),
            "{email} refused"
        );
    }
    assert_eq!(us.records("contacts").len(), 100);
    let report = json_file(&t.work.path("report.json"));
    let failed: Vec<&Value> = report["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["result"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2, "{report:#}");
    for (id, email) in bad {
        let named = failed
            .iter()
            .find(|o| o["label"] == json!(email) || o["left_id"] == json!(id))
            .unwrap_or_else(|| panic!("{email} is named in {failed:#?}"));
        let message = named["message"].as_str().unwrap_or("");
        assert!(
            message.contains("not a valid number"),
            "the API's message: {message}"
        );
    }

    let stamps: BTreeMap<String, i64> = eu.iter().map(|r| (r.id.clone(), r.updated_ms)).collect();
    t.reset_requests();
    t.work.run(&["--report", "report.json", "sync"]).expect(4);
    assert_eq!(
        (
            t.hubspot("eu").server().write_request_count(),
            us.server().write_request_count()
        ),
        (1, 0),
        "one batch, for the two refused contacts: {:?}",
        t.hubspot("eu").server().counts_by_endpoint()
    );
    for r in t.hubspot("eu").records("contacts") {
        assert_eq!(
            Some(&r.updated_ms),
            stamps.get(&r.id),
            "{} not rewritten",
            r.id
        );
    }
    let report = json_file(&t.work.path("report.json"));
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    assert_eq!(
        outcomes.len(),
        2,
        "only the two are tried again: {report:#}"
    );
    assert!(outcomes.iter().all(|o| o["result"] == "failed"));
}

// ---------------------------------------------------------------------------
// 9. A token revoked midway
// ---------------------------------------------------------------------------

#[test]
fn a_401_after_the_first_batch_exits_7_and_keeps_what_was_applied() {
    let t = accounts();
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 20);
    seed_us_deals(&t, 250);
    let unauthorized = Response::json(
        401,
        &json!({
            "status": "error",
            "message": "Authentication credentials not found.",
            "category": "INVALID_AUTHENTICATION",
        }),
    );
    eu.server().inject(DEALS_CREATE, 1, pass());
    eu.server()
        .inject(DEALS_CREATE, 1, Fault::Respond(unauthorized));

    let run = t.work.run(&["-q", "sync"]).expect(7);
    assert_eq!(error_lines(&run).len(), 1, "{}", run.stderr);
    run.assert_stderr_has("401");
    assert_eq!(eu.records("deals").len(), 100, "the first batch stays");
    assert_eq!(eu.records("contacts").len(), 20);

    eu.server().reset_requests();
    t.work.run(&["sync"]).expect(0);
    let counts = eu.server().counts_by_endpoint();
    assert_eq!(
        requests_matching(&counts, DEALS_CREATE),
        2,
        "only the 150 deals not yet made are created: {counts:?}"
    );
    assert_eq!(requests_matching(&counts, CONTACTS_UPSERT), 0);
    assert_contacts_mirrored(&t, 20);
    assert_deals_mirrored(&t, 250);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

// ---------------------------------------------------------------------------
// 10. kill -9
// ---------------------------------------------------------------------------

/// When a kill -9 is sent.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the start.
    After(Duration),
    /// The moment eu holds more deals than when the run started: a deals
    /// batch has just committed and its answer is on its way back, the
    /// window where only the create journal can prevent a duplicate.
    DealsCommitted,
}

/// Deal links and journaled (pending) creates in state.json, if readable.
fn deal_state(t: &Fixture) -> Option<(usize, usize)> {
    let path = t.work.state_dir().join("state.json");
    if !path.exists() {
        return Some((0, 0));
    }
    let state: Value = serde_json::from_str(&read(&path)).ok()?;
    let len = |key: &str| state["pairs"]["deals"][key].as_array().map_or(0, Vec::len);
    Some((len("links"), len("pending")))
}

#[test]
fn a_run_killed_at_any_point_is_resumed_with_every_record_exactly_once() {
    const N: usize = 500;
    let t = accounts();
    for fake in [t.hubspot("us"), t.hubspot("eu")] {
        fake.set_rate_limit(100_000, 10_000);
    }
    seed_us_contacts(&t, N);
    seed_us_deals(&t, N);
    // Every write to eu takes a while, so kills land mid-write.
    let write_delay = Duration::from_millis(100);
    t.hubspot("eu").server().inject(
        "POST /crm/objects/2026-09/",
        100_000,
        Fault::Delay(write_delay),
    );

    let ms = |n| KillAt::After(Duration::from_millis(n));
    let plan = [
        ms(150),
        ms(600),
        KillAt::DealsCommitted,
        KillAt::DealsCommitted,
        ms(900),
        KillAt::DealsCommitted,
    ];
    let mut interrupted = 0;
    for kill in plan {
        let deals_before = t.hubspot("eu").records("deals").len();
        let mut child = t
            .work
            .command(&["-q", "sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn crmsync");
        let started = std::time::Instant::now();
        let deadline = started + Duration::from_secs(20);
        let due = |child: &mut std::process::Child| {
            let exited = child.try_wait().expect("poll").is_some();
            let reached = match kill {
                KillAt::After(d) => started.elapsed() >= d,
                KillAt::DealsCommitted => t.hubspot("eu").records("deals").len() > deals_before,
            };
            exited || reached || std::time::Instant::now() >= deadline
        };
        while !due(&mut child) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let finished = child.try_wait().expect("poll").is_some();
        if !finished {
            child.kill().expect("SIGKILL");
            interrupted += 1;
        }
        child.wait().expect("reap");
        let at_kill = started.elapsed();
        // Let a write the server was still working on land before the next run.
        std::thread::sleep(write_delay + Duration::from_millis(150));
        let state = deal_state(&t);
        eprintln!(
            "kill -9 {kill:?} at {at_kill:?} ({}): eu contacts {}, eu deals {}, state.json deal links/pending {state:?}",
            if finished {
                "had already finished"
            } else {
                "killed"
            },
            t.hubspot("eu").records("contacts").len(),
            t.hubspot("eu").records("deals").len(),
        );
        assert!(state.is_some(), "state.json is readable after a kill");
    }

    let run = t.work.run(&["sync"]);
    let contacts = values_of(t.hubspot("eu"), "contacts", "email");
    let deals = values_of(t.hubspot("eu"), "deals", "dealname");
    eprintln!(
        "after {interrupted} kills and a final run (exit {}): contacts expected {N} found {} duplicates {}; deals expected {N} found {} duplicates {}",
        run.code,
        contacts.len(),
        duplicates(contacts.clone()),
        deals.len(),
        duplicates(deals.clone()),
    );
    assert!(interrupted >= 4, "most runs were really interrupted");
    run.expect(0);
    assert_contacts_mirrored(&t, N);
    assert_deals_mirrored(&t, N);
    let state = json_file(&t.work.state_dir().join("state.json"));
    assert_eq!(state["format"], "crmsync-state");
    assert_eq!(
        deal_state(&t),
        Some((N, 0)),
        "every deal linked, none pending"
    );
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn an_edit_made_after_a_killed_run_wrote_that_record_is_kept_not_overwritten() {
    // `left` wins conflicts: had the killed run not recorded the batch it
    // applied, the eu edit below would look like a conflict with the us
    // value, and the us value would overwrite it.
    let t = two_accounts_under("left");
    let ids = seed_us_contacts(&t, 150);
    t.work.run(&["-q", "sync"]).expect(0);
    for (i, id) in ids.iter().enumerate() {
        t.hubspot("us")
            .edit("contacts", id, &[("firstname", &format!("Us{i}"))]);
    }
    let update = "POST /crm/objects/2026-09/contacts/batch/update";
    let hold = Duration::from_secs(2);
    t.hubspot("eu").server().inject(update, 1, pass());
    t.hubspot("eu")
        .server()
        .inject(update, 1, Fault::Delay(hold));
    let updated = || {
        t.hubspot("eu")
            .records("contacts")
            .into_iter()
            .filter(|c| c.properties["firstname"].starts_with("Us"))
            .collect::<Vec<_>>()
    };
    let mut child = t
        .work
        .command(&["-q", "sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn crmsync");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while updated().len() < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    // The first batch is applied; its answer is handled within milliseconds,
    // while the second batch is held at the server.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(updated().len() >= 100, "the first batch was applied");
    std::thread::sleep(hold);

    let edited = updated().remove(0);
    let email = edited.properties["email"].clone();
    t.hubspot("eu")
        .edit("contacts", &edited.id, &[("firstname", "EuEdit")]);
    t.hubspot("eu").server().clear_faults();
    t.work.run(&["-q", "sync"]).expect(0);
    for fake in [t.hubspot("us"), t.hubspot("eu")] {
        let found = fake.find("contacts", "email", &email);
        assert_eq!(found[0].properties["firstname"], "EuEdit", "{email}");
    }
    let us_values = values_of(t.hubspot("us"), "contacts", "firstname");
    assert_eq!(
        us_values.iter().filter(|v| v.starts_with("Us")).count(),
        149,
        "every other us edit reached eu and stayed"
    );
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

// ---------------------------------------------------------------------------
// 11. Bad input: the exit code and one line naming the fix
// ---------------------------------------------------------------------------

#[test]
fn broken_toml_exits_2_naming_the_file_and_line() {
    let t = accounts();
    t.edit_mapping(|c| c.replacen("[systems.eu]", "[systems.eu", 1));
    let config = t.mapping_text();
    let line = 1 + config[..config.find("[systems.eu").unwrap()]
        .matches('\n')
        .count();
    for command in ["sync", "diff"] {
        let run = t.work.run(&["-q", command]).expect(2);
        assert_one_line_naming(&run, &[&format!("sync.toml:{line}:")]);
    }
    assert_eq!(
        t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count(),
        0
    );
}

#[test]
fn an_unknown_key_exits_2_naming_the_key() {
    let t = accounts();
    t.edit_mapping(|c| {
        c.replacen(
            "kind = \"hubspot\"",
            "kind = \"hubspot\"\ncolour = \"blue\"",
            1,
        )
    });
    let run = t.work.run(&["-q", "sync"]).expect(2);
    assert_one_line_naming(&run, &["sync.toml:", "colour"]);
}

#[test]
fn an_unknown_system_exits_2_naming_it() {
    let t = accounts();
    t.edit_mapping(|c| c.replace("left = \"us.contacts\"", "left = \"usa.contacts\""));
    let run = t.work.run(&["-q", "sync"]).expect(2);
    assert_one_line_naming(&run, &["sync.toml:", "usa"]);
    assert!(t.hubspot("eu").records("contacts").is_empty());
}

#[test]
fn a_missing_token_variable_exits_7_naming_it_before_any_request() {
    let t = accounts();
    let eu = t.hubspot("eu");
    let work = Workdir::new().with_env("HUBSPOT_US_TOKEN", US_TOKEN);
    work.write_config(&t.mapping_text());
    seed_us_contacts(&t, 1);
    let run = work.run(&["-q", "sync"]).expect(7);
    assert_one_line_naming(&run, &["HUBSPOT_EU_TOKEN is not set"]);
    assert!(eu.records("contacts").is_empty());
    assert_eq!(
        t.hubspot("us").server().request_count() + eu.server().request_count(),
        0,
        "refused before any request"
    );
}

#[test]
fn a_literal_token_in_the_file_exits_2_pointing_at_token_env_without_echoing_it() {
    let t = accounts();
    let literal = "pat-na1-literal-in-file-0000";
    t.edit_mapping(|c| {
        c.replacen(
            "token_env = \"HUBSPOT_US_TOKEN\"",
            &format!("token = \"{literal}\""),
            1,
        )
    });
    let run = t.work.run(&["-q", "sync"]).expect(2);
    assert_one_line_naming(&run, &["sync.toml:", "token_env"]);
    assert!(!run.stderr.contains(literal) && !run.stdout.contains(literal));
}

#[test]
fn plain_http_to_a_remote_host_exits_2_asking_for_https() {
    let t = accounts();
    let eu = t.hubspot("eu").url();
    t.edit_mapping(|c| c.replace(&eu, "http://api.hubapi.com"));
    let run = t.work.run(&["-q", "sync"]).expect(2);
    assert_one_line_naming(&run, &["sync.toml:", "https"]);
}

#[test]
fn a_token_missing_a_scope_exits_7_naming_the_scope_fix() {
    let t = accounts();
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 2);
    eu.set_scopes(&[
        "crm.objects.contacts.read",
        "crm.objects.deals.read",
        "crm.objects.deals.write",
        "crm.objects.owners.read",
        "crm.schemas.contacts.read",
        "crm.schemas.deals.read",
    ]);
    let run = t.work.run(&["-q", "sync"]).expect(7);
    assert_one_line_naming(&run, &["403", "scope"]);
    assert!(eu.records("contacts").is_empty());
    assert_eq!(t.hubspot("us").records("contacts").len(), 2);
}

#[test]
fn a_corrupt_state_file_exits_1_naming_the_file_and_writes_nothing() {
    let t = accounts();
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 3);
    t.work.run(&["sync"]).expect(0);
    t.hubspot("us")
        .seed("contacts", &[("email", "late@example.com")]);
    let state = t.work.state_dir().join("state.json");
    std::fs::write(&state, "{\"format\": \"crmsync-state\", \"pai").unwrap();
    eu.server().reset_requests();

    let run = t.work.run(&["-q", "sync"]).expect(1);
    assert_one_line_naming(&run, &[".crmsync/state.json", "corrupt"]);
    assert_eq!(eu.server().write_request_count(), 0);
    assert_eq!(eu.records("contacts").len(), 3);
}

#[test]
fn a_held_lock_skips_the_run_at_once_without_a_request_or_a_word_under_q() {
    let t = accounts();
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 2);
    std::fs::create_dir_all(t.work.state_dir()).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(t.work.state_dir().join("lock"))
        .unwrap();
    lock.try_lock().expect("the test holds the lock");

    let run = t.work.run(&["-q", "sync"]).expect(8);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    assert_eq!(
        t.hubspot("us").server().request_count() + eu.server().request_count(),
        0
    );
    assert!(eu.records("contacts").is_empty());

    drop(lock);
    t.work.run(&["sync"]).expect(0);
    assert_contacts_mirrored(&t, 2);
}

// ---------------------------------------------------------------------------
// 12. Report, log file, alerts
// ---------------------------------------------------------------------------

#[test]
fn the_report_file_is_the_documented_private_json() {
    let t = accounts();
    seed_us_contacts(&t, 3);
    seed_us_deals(&t, 2);

    t.work.run(&["--report", "report.json", "sync"]).expect(0);
    assert_contacts_mirrored(&t, 3);
    assert_deals_mirrored(&t, 2);

    let path = t.work.path("report.json");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let report = json_file(&path);
    assert_eq!(report["format"], "crmsync-report");
    assert_eq!(report["version"], 1);
    assert!(report["duration_ms"].is_u64(), "{report:#}");
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 5, "{report:#}");
    for o in outcomes {
        // `message` is for failures and skips; a done item may leave it out.
        for key in ["pair", "action", "target", "left_id", "label", "result"] {
            assert!(o.get(key).is_some(), "{key} in {o}");
        }
        assert_eq!(
            (&o["action"], &o["result"]),
            (&json!("create"), &json!("done")),
            "{o}"
        );
        assert_eq!(o["target"], "right", "{o}");
    }
    for us in t.hubspot("us").records("contacts") {
        let email = &us.properties["email"];
        let eu = &t.hubspot("eu").find("contacts", "email", email)[0];
        let o = outcomes
            .iter()
            .find(|o| o["left_id"] == json!(us.id))
            .unwrap_or_else(|| panic!("{email} in the report"));
        assert_eq!(o["pair"], "contacts", "{o}");
        assert_eq!(o["label"], json!(email), "{o}");
        assert_eq!(o["right_id"], json!(eu.id), "the created record's id: {o}");
    }
    assert_eq!(
        report["counts"]["contacts"]["right"]["create"]["done"], 3,
        "{report:#}"
    );
    assert_eq!(
        report["counts"]["deals"]["right"]["create"]["done"], 2,
        "{report:#}"
    );
    let eu_requests = report["requests"]["eu"]
        .as_object()
        .expect("requests by system");
    let upserts: u64 = eu_requests
        .iter()
        .filter(|(k, _)| k.contains("contacts/batch/upsert"))
        .map(|(_, v)| v.as_u64().unwrap_or(0))
        .sum();
    assert_eq!(upserts, 1, "{report:#}");
    assert!(report["requests"]["us"].is_object(), "{report:#}");
    assert!(!read(&path).contains(US_TOKEN) && !read(&path).contains(EU_TOKEN));
}

/// `2026-05-01T10:00:00…` or `2026-05-01 10:00:00…`, optionally after `[`.
fn starts_with_timestamp(line: &str) -> bool {
    let b = line.trim_start_matches('[').as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    b.len() >= 16
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
}

#[test]
fn the_log_file_gathers_timestamped_lines_across_runs() {
    let t = accounts();
    seed_us_contacts(&t, 3);
    let log = t.work.path("crmsync.log");

    t.work.run(&["--log-file", "crmsync.log", "sync"]).expect(0);
    let first = read(&log);
    assert!(!first.trim().is_empty(), "the first run logged");
    t.hubspot("us")
        .seed("contacts", &[("email", "second@example.com")]);
    t.work.run(&["--log-file", "crmsync.log", "sync"]).expect(0);
    let both = read(&log);

    assert!(both.starts_with(&first), "appended, not overwritten");
    assert!(both.lines().count() > first.lines().count());
    for line in both.lines().filter(|l| !l.trim().is_empty()) {
        assert!(starts_with_timestamp(line), "timestamped: {line}");
    }
    assert!(!both.contains(US_TOKEN) && !both.contains(EU_TOKEN));
    assert_contacts_mirrored(&t, 4);
}

/// A webhook receiver that keeps every body it is sent.
fn record_alert(bodies: &mut Vec<Value>, req: &Request) -> Response {
    bodies.push(req.json().unwrap_or_else(|e| json!({ "unreadable": e })));
    Response::text(200, "text/plain", "ok")
}

#[test]
fn an_alert_is_posted_on_exit_4_not_on_exit_0_and_an_undeliverable_one_keeps_the_exit_code() {
    let receiver = Server::start(Vec::new(), record_alert);
    let t = accounts_with(3, "\n[alerts]\nwebhook_env = \"CRMSYNC_ALERT_URL\"\n");
    let (us, eu) = (t.hubspot("us"), t.hubspot("eu"));
    let hook = format!("{}/hook", receiver.url());
    seed_us_contacts(&t, 3);

    let alerting = |url: &str| {
        let mut cmd = t.work.command(&["-q", "sync"]);
        cmd.env("CRMSYNC_ALERT_URL", url);
        let out = cmd.output().expect("run crmsync");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };

    alerting(&hook).expect(0);
    assert_contacts_mirrored(&t, 3);
    assert!(receiver.state().is_empty(), "no alert for a clean run");

    eu_phone_is_a_number(&t);
    let bad = us.seed(
        "contacts",
        &[("email", "bad@example.com"), ("phone", "ask reception")],
    );
    alerting(&hook).expect(4);
    assert!(eu.find("contacts", "email", "bad@example.com").is_empty());
    assert_eq!(eu.records("contacts").len(), 3);
    assert_eq!(
        us.record("contacts", &bad).unwrap().properties["phone"],
        "ask reception"
    );
    let bodies = receiver.state().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let text = bodies[0]["text"]
        .as_str()
        .expect("a Slack-style {\"text\"} body");
    assert!(!text.trim().is_empty());
    assert!(!text.contains(US_TOKEN) && !text.contains(EU_TOKEN));
    let requests = receiver.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/hook")
    );

    // Nothing listens on port 1: the alert fails, the exit code stays 4.
    let run = alerting("http://127.0.0.1:1/hook").expect(4);
    assert!(
        run.stderr.to_lowercase().contains("alert"),
        "{}",
        run.stderr
    );
    assert_eq!(receiver.state().len(), 1);
    assert_eq!(eu.records("contacts").len(), 3);
}
