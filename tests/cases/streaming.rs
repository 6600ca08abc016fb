//! The streamed first sync: a `sync` of one pair that holds no link yet
//! plans and writes its source side page by page while the listing goes
//! on. These tests show that it applies exactly the plan `diff` shows (item
//! for item, in order, duplicates and held-back records included), ends
//! with the same accounts and the same report as a run that plans whole
//! first, converges without a duplicate when killed at any moment, and
//! that `max_changes` still stops it before its first write.

use super::{duplicates, hs_and_pd, values_of};
use crate::support::accounts::Fixture;
use crate::support::fake_pipedrive::FakePipedrive;
use crate::support::harness::read;
use crate::support::server::Fault;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The message a streamed run logs when it starts.
const STREAMING: &str = "streaming people:";

/// Pipedrive persons ↔ HubSpot contacts, both ways, matched by email: one
/// pair, so a first sync streams, listing Pipedrive (the left side, 500 a
/// page) page by page.
fn people(extra: &str) -> Fixture {
    hs_and_pd()
        .toml(&format!(
            r#"
[[pairs]]
name = "people"
left = "pd.persons"
right = "hs.contacts"
direction = "both"
match = "email"
{extra}
[pairs.fields]
email = "email"
first_name = "firstname"
last_name = "lastname"
"#
        ))
        .build()
}

/// `n` persons (more than two pages) and 30 contacts, with what can only be
/// decided on the whole listing spread across pages: an email persons 10
/// and 700 share (pages 1 and 2), a person on page 1 with a second email,
/// which a later person holds as its only one (both held back to the end),
/// ten people on both sides with another last name on HubSpot, and twenty
/// people only HubSpot has. A first sync links 10 pairs, creates `n - 12`
/// contacts and 20 persons, and reports two duplicates.
fn seed(t: &Fixture, n: usize) {
    assert!(n > 1000, "the seed spreads over three pages");
    let pd = t.pipedrive("pd");
    for i in 0..n {
        let email = match i {
            700 => "c10@example.com".to_string(),
            _ => format!("c{i}@example.com"),
        };
        let mut emails = vec![json!({"value": email, "primary": true, "label": "work"})];
        if i == 20 {
            emails
                .push(json!({"value": "second20@example.com", "primary": false, "label": "home"}));
        }
        if i == 1020 {
            emails[0] = json!({"value": "Second20@example.com", "primary": true, "label": "work"});
        }
        pd.seed_person(json!({"name": format!("First{i} Last{i}"), "emails": emails}));
    }
    let contact = |email: String, first: String, last: String| {
        BTreeMap::from([
            ("email".to_string(), email),
            ("firstname".to_string(), first),
            ("lastname".to_string(), last),
        ])
    };
    let mut contacts: Vec<_> = (100..110)
        .map(|i| {
            contact(
                format!("c{i}@example.com"),
                format!("First{i}"),
                format!("Hub{i}"),
            )
        })
        .collect();
    contacts.extend((0..20).map(|j| {
        contact(
            format!("hs{j}@example.com"),
            format!("Hs{j}"),
            "Only".into(),
        )
    }));
    t.hubspot("hs").seed_many("contacts", contacts);
}

/// Every person by primary email (lowercased): its name and emails.
fn persons(pd: &FakePipedrive) -> BTreeMap<String, Vec<Value>> {
    let mut all: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in pd.persons() {
        let email = p["emails"][0]["value"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        all.entry(email)
            .or_default()
            .push(json!({"name": p["name"], "emails": p["emails"]}));
    }
    all
}

/// Every contact by email (lowercased): its mapped values.
fn contacts(t: &Fixture) -> BTreeMap<String, Vec<Value>> {
    let mut all: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in t.hubspot("hs").records("contacts") {
        let get = |f: &str| r.properties.get(f).cloned().unwrap_or_default();
        all.entry(get("email").to_lowercase())
            .or_default()
            .push(json!([
                get("firstname"),
                get("lastname"),
                get("hs_additional_emails")
            ]));
    }
    all
}

fn person_emails(t: &Fixture) -> Vec<String> {
    t.pipedrive("pd")
        .persons()
        .iter()
        .filter_map(|p| p["emails"][0]["value"].as_str().map(str::to_string))
        .collect()
}

/// `applied` and `planned` hold the same items in the same order and the
/// same duplicates (they differ only in when they were made); on a
/// difference, names the first item that differs.
#[track_caller]
fn assert_same_plan(applied: &Value, planned: &Value) {
    let (a, p) = (&applied["pairs"][0], &planned["pairs"][0]);
    assert_eq!(a["duplicates"], p["duplicates"]);
    assert_eq!(a["records"], p["records"]);
    let (a, p) = (
        a["items"].as_array().unwrap(),
        p["items"].as_array().unwrap(),
    );
    if let Some(at) = (0..a.len().max(p.len())).find(|&n| a.get(n) != p.get(n)) {
        panic!(
            "item {at} of {} applied differs from item {at} of {} planned:\n{:#}\n{:#}",
            a.len(),
            p.len(),
            a.get(at).unwrap_or(&Value::Null),
            p.get(at).unwrap_or(&Value::Null)
        );
    }
    assert_eq!(applied["config_fingerprint"], planned["config_fingerprint"]);
}

/// A report's outcomes without the ids a create answers with (they depend
/// on the order creates reach the account), sorted.
fn outcomes(run: &Value) -> Vec<Value> {
    let mut all: Vec<Value> = run["report"]["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| {
            json!({"action": o["action"], "target": o["target"], "label": o["label"],
                   "result": o["result"], "message": o["message"]})
        })
        .collect();
    all.sort_by_key(|o| o.to_string());
    all
}

#[test]
fn a_streamed_first_sync_applies_the_plan_diff_shows_item_for_item_in_its_order() {
    const N: usize = 1100;
    let t = people("");
    seed(&t, N);
    let diff = t.run(&["--json", "diff"]).expect(3);
    let planned: Value = serde_json::from_str(&diff.stdout).expect("a JSON plan");
    // diff saved snapshots; --full lists the persons whole again, as a
    // first sync does.
    let sync = t.run(&["--json", "sync", "--full"]).expect(0);
    sync.assert_stderr_has(STREAMING);
    let run: Value = serde_json::from_str(&sync.stdout).expect("a JSON run");
    assert_same_plan(&run["plan"], &planned);
    let items = planned["pairs"][0]["items"].as_array().expect("items");
    let count = |action: &str| items.iter().filter(|i| i["action"] == action).count();
    assert_eq!(
        (count("create"), count("link")),
        (N - 12 + 20, 10),
        "{items:#?}"
    );
    let dups = &planned["pairs"][0]["duplicates"];
    assert_eq!(dups.as_array().map(Vec::len), Some(2), "{dups:#}");

    t.run(&["diff"]).expect(0);
    assert_eq!(t.hubspot("hs").records("contacts").len(), 30 + N - 12);
    assert_eq!(
        duplicates(values_of(t.hubspot("hs"), "contacts", "email")),
        0
    );
    assert_eq!(t.pipedrive("pd").persons().len(), N + 20);
}

#[test]
fn a_streamed_first_sync_ends_with_the_accounts_and_report_of_one_planned_whole() {
    let streamed = people("");
    let whole = people("");
    seed(&streamed, 1100);
    seed(&whole, 1100);
    let a = streamed.run(&["--json", "sync"]).expect(0);
    a.assert_stderr_has(STREAMING);
    // Any max_changes limit makes a run plan whole before it writes.
    let b = whole
        .run(&["--json", "sync", "--max-changes", "100000"])
        .expect(0);
    assert!(!b.stderr.contains(STREAMING), "{}", b.stderr);
    let (a, b): (Value, Value) = (
        serde_json::from_str(&a.stdout).unwrap(),
        serde_json::from_str(&b.stdout).unwrap(),
    );
    assert_eq!(outcomes(&a), outcomes(&b));
    assert_eq!(a["report"]["duplicates"], b["report"]["duplicates"]);
    assert_eq!(a["report"]["duplicates"].as_array().map(Vec::len), Some(2));
    assert_eq!(contacts(&streamed), contacts(&whole));
    assert_eq!(
        persons(streamed.pipedrive("pd")),
        persons(whole.pipedrive("pd"))
    );
    streamed.run(&["diff"]).expect(0);
    whole.run(&["diff"]).expect(0);
}

#[test]
fn a_streamed_first_sync_killed_at_random_moments_converges_without_duplicates() {
    const N: usize = 1100;
    // After the stream began: the listing, the first writes, the middle,
    // the rest at the end.
    // u64::MAX: once the rest is being written (the first person made
    // for a contact only HubSpot has), where a held-back duplicate waits.
    let moments_ms = [0, 60, 150, 300, 500, 800, 1100, u64::MAX];
    for kill_after in moments_ms {
        let t = people("");
        seed(&t, N);
        // Every write to HubSpot takes a while, so kills land mid-write.
        let write_delay = Duration::from_millis(60);
        t.hubspot("hs").server().inject(
            "POST /crm/objects/2026-09/",
            100_000,
            Fault::Delay(write_delay),
        );
        let log = t.work.path("killed.log");
        let mut child = t
            .crmsync(&["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .expect("spawn crmsync");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("poll").is_none()
            && !read(&log).contains(STREAMING)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        while child.try_wait().expect("poll").is_none()
            && started.elapsed() < Duration::from_millis(kill_after)
            && t.pipedrive("pd").persons().len() == N
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let killed = child.try_wait().expect("poll").is_none();
        if killed {
            child.kill().expect("SIGKILL");
        }
        child.wait().expect("reap");
        // Let a write the server was still working on land.
        std::thread::sleep(write_delay + Duration::from_millis(100));
        let logged = read(&log);
        assert!(
            logged.contains(STREAMING),
            "the killed run streamed: {logged}"
        );
        let on_hs = t.hubspot("hs").records("contacts").len();

        t.run(&["sync"]).expect(0);
        t.run(&["diff"]).expect(0);
        let hs = values_of(t.hubspot("hs"), "contacts", "email");
        let pd = person_emails(&t);
        eprintln!(
            "kill -9 {} ({}; {on_hs} contacts then): contacts {}, persons {}",
            if kill_after == u64::MAX {
                "once the rest began".to_string()
            } else {
                format!("{kill_after} ms after the stream began, at the latest")
            },
            if killed { "killed" } else { "had finished" },
            hs.len(),
            pd.len()
        );
        assert_eq!(
            duplicates(hs.clone()),
            0,
            "contacts after a kill at {kill_after} ms"
        );
        // Persons 10 and 700 share an email from the start.
        assert_eq!(
            duplicates(pd.clone()),
            1,
            "persons after a kill at {kill_after} ms"
        );
        assert_eq!((hs.len(), pd.len()), (30 + N - 12, N + 20));
    }
}

#[test]
fn max_changes_stops_a_first_sync_that_would_stream_before_its_first_write() {
    for (extra, args) in [
        ("max_changes = 10", vec!["sync"]),
        ("", vec!["sync", "--max-changes", "5%"]),
    ] {
        let t = people(extra);
        seed(&t, 1100);
        t.reset_requests();
        let run = t.run(&args).expect(6);
        run.assert_stderr_has("max_changes");
        assert!(!run.stderr.contains(STREAMING), "{}", run.stderr);
        assert_eq!(t.writes(), 0, "{}", t.requests_by_account());
        assert_eq!(t.hubspot("hs").records("contacts").len(), 30);
        assert_eq!(t.pipedrive("pd").persons().len(), 1100);
    }
}
