//! Daily budgets: Pipedrive's company-wide token budget and crmsync's own
//! `daily_tokens` cap on it, HubSpot's daily request limit and the reserve
//! crmsync leaves of it. A run never sends the request that would cross a
//! cap: it applies what fits, stops with exit 5 and one line saying so, and
//! the next run finishes the work without a duplicate. A run stopped so
//! midway shows what it planned and what it applied, as an interrupted one
//! does (under `-q` only its one line, which says how far it got). `diff`
//! shows what a plan costs in requests and tokens, and warns when it will
//! not fit today.

use super::{assert_each_once, hs_and_pd, us_and_eu};
use crate::support::accounts::Fixture;
use crate::support::harness::{Run, read};
use crate::support::terminal::run_on_terminal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// HubSpot contacts into Pipedrive persons, one way, by email.
fn contacts_to_persons() -> Fixture {
    hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
direction = "left-to-right"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
"#,
        )
        .build()
}

/// Seeds `n` contacts on HubSpot account `system`.
fn seed_contacts(f: &Fixture, system: &str, n: usize) {
    let records = (0..n)
        .map(|i| {
            BTreeMap::from([
                ("email".to_string(), format!("p{i}@example.com")),
                ("firstname".to_string(), format!("First{i}")),
                ("lastname".to_string(), format!("Last{i}")),
            ])
        })
        .collect();
    f.hubspot(system).seed_many("contacts", records);
}

/// Sets (or replaces) `key = value` in the `[systems.NAME]` table.
fn set_system_key(f: &Fixture, system: &str, key: &str, value: &str) {
    f.edit_mapping(|text| {
        let table = format!("[systems.{system}]\n");
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(str::to_string)
            .collect();
        let at = lines
            .iter()
            .position(|l| format!("{l}\n") == table)
            .expect("the system's table");
        lines.insert(at + 1, format!("{key} = {value}"));
        lines.join("\n") + "\n"
    });
}

/// The message of the daily cap, as `daily_tokens = CAP` words it.
fn cap_reached(cap: u64) -> String {
    format!("pd: daily_tokens reached: {cap} of {cap} today; the rest follows after 00:00 UTC")
}

/// The line a run stopped midway by a daily or rate limit ends with on
/// stderr: how far it got, then why it stopped (panics unless there is
/// exactly one such line).
#[track_caller]
fn stop_line(run: &Run) -> String {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("crmsync: error: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line:\n{}", run.stderr);
    lines[0].to_string()
}

/// Asserts that `run` printed the plan of `planned` creates, every one of
/// them, then the `Applied:` line of the `applied` made, last on stdout.
#[track_caller]
fn assert_plan_and_applied(run: &Run, planned: usize, applied: usize) {
    run.assert_stdout_has(&format!("\nPlan: {planned} to create, 0 to update"));
    let items = run
        .stdout
        .lines()
        .filter(|l| l.contains(" create "))
        .count();
    assert_eq!(items, planned, "{}", run.stdout);
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("Applied: {applied} created, 0 updated,")),
        "{}",
        run.stdout
    );
}

/// The primary emails of Pipedrive's persons, each once (panics on a
/// duplicate).
fn person_emails(f: &Fixture) -> BTreeSet<String> {
    let mut emails = BTreeSet::new();
    for person in f.pipedrive("pd").persons() {
        let email = person["emails"][0]["value"]
            .as_str()
            .expect("an email")
            .to_string();
        assert!(emails.insert(email.clone()), "{email} created twice");
    }
    emails
}

#[test]
fn daily_tokens_stops_a_first_sync_at_the_cap_and_a_raised_cap_finishes_it_without_duplicates() {
    let f = contacts_to_persons();
    seed_contacts(&f, "hs", 300);
    set_system_key(&f, "pd", "daily_tokens", "600");
    let report = f.work.path("report.json");
    let report_arg = report.to_str().unwrap();

    let capped = f.run(&["--report", report_arg, "sync"]).expect(5);
    // A first sync of one pair streams.
    capped.assert_stderr_has("streaming people:");
    let pd = f.pipedrive("pd");
    assert!(pd.tokens_spent() <= 600, "spent {}", pd.tokens_spent());
    assert_eq!(pd.rate_limited_count(), 0, "no request was refused");
    let created = person_emails(&f).len();
    // The pull's one list of persons (10 tokens), then a create (5 tokens)
    // each, up to the cap.
    assert_eq!(created, (600 - 10) / 5);
    // What the run set out to do and what it did, as an interrupted run
    // shows them; then how far it got and why it stopped.
    assert_plan_and_applied(&capped, 300, created);
    let line = stop_line(&capped);
    assert!(
        line.starts_with(&format!(
            "crmsync: error: stopped after {created} of 300 items applied: "
        )) && line.ends_with(&cap_reached(600)),
        "{line}"
    );
    let report: Value = serde_json::from_str(&read(&report)).expect("a report");
    assert_eq!(
        report["tokens"]["pd"],
        pd.tokens_spent(),
        "crmsync counts what the fake charged"
    );
    assert_eq!(
        report["counts"]["people"]["right"]["create"]["done"], created,
        "every person made is reported done: {}",
        capped.stderr
    );

    // The same day, the cap reached: a run sends nothing to Pipedrive.
    f.reset_requests();
    f.run(&["sync"])
        .expect(5)
        .assert_stderr_has("daily_tokens reached: 600 of 600 today");
    assert_eq!(
        pd.server().request_count(),
        0,
        "{}",
        f.requests_by_account()
    );

    set_system_key(&f, "pd", "daily_tokens", "100000");
    let raised = f.run(&["sync"]).expect(0);
    assert_eq!(person_emails(&f).len(), 300, "{}", raised.stdout);
    raised.assert_stdout_has(&format!("Applied: {} created", 300 - created));
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_spent_company_budget_stops_the_run_at_once_and_the_next_day_finishes_it() {
    let f = contacts_to_persons();
    seed_contacts(&f, "hs", 300);
    let pd = f.pipedrive("pd");
    // The company's other tools spent most of the day's budget.
    pd.set_daily_budget(30_000);
    pd.spend_elsewhere(29_600);

    let stopped = f.run(&["sync"]).expect(5);
    stopped.assert_stderr_has("Pipedrive's daily API token budget of the company is spent");
    assert!(
        !stopped.stderr.contains("waiting"),
        "no wait for a budget that is back tomorrow:\n{}",
        stopped.stderr
    );
    assert_eq!(pd.rate_limited_count(), 1, "one refused request, no retry");
    assert_eq!(pd.tokens_spent(), 30_000);
    let before = person_emails(&f).len();
    assert_eq!(before, (400 - 10) / 5);

    pd.next_day();
    f.run(&["sync"]).expect(0);
    assert_eq!(person_emails(&f).len(), 300);
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_429_asking_to_wait_past_the_wait_limit_stops_the_run_at_once() {
    let f = contacts_to_persons();
    seed_contacts(&f, "hs", 120);
    let pd = f.pipedrive("pd");
    // Without the daily headers, the budget's 429 says only how long to
    // wait: until the fake's next midnight, past `max_wait_secs`.
    pd.omit_daily_headers(true);
    f.edit_mapping(|text| text + "\n[retry]\nmax_wait_secs = 5\n");
    pd.set_daily_budget(30_000);
    pd.spend_elsewhere(29_800);

    let stopped = f.run(&["sync"]).expect(5);
    assert_eq!(pd.rate_limited_count(), 1, "one refused request, no retry");
    // Stopped midway, it shows what it planned and what it applied.
    let created = person_emails(&f).len();
    assert_eq!(created, (200 - 10) / 5);
    assert_plan_and_applied(&stopped, 120, created);
    let line = stop_line(&stopped);
    assert!(
        line.starts_with(&format!(
            "crmsync: error: stopped after {created} of 120 items applied: "
        )) && line.contains("pd: rate limit still exceeded after retrying"),
        "{line}"
    );
    pd.next_day();
    f.run(&["sync"]).expect(0);
    assert_eq!(person_emails(&f).len(), 120);
}

#[test]
fn diff_shows_what_a_plan_costs_and_warns_when_it_will_not_fit_today() {
    let f = contacts_to_persons();
    seed_contacts(&f, "hs", 300);
    set_system_key(&f, "pd", "daily_tokens", "600");

    let diff = f.run(&["diff"]).expect(3);
    diff.assert_stdout_has(
        "pd 301 requests (1 read + 300 to write), 1510 Pipedrive tokens (10 read + 1500 to write).",
    );
    diff.assert_stdout_has("Cost: hs ");
    diff.assert_stderr_has(
        "pd: this plan needs about 1510 Pipedrive tokens (10 to read, 1500 to write) and daily_tokens leaves 590 of 600 today",
    );
    assert_eq!(f.pipedrive("pd").persons().len(), 0, "diff writes nothing");

    let json: Value =
        serde_json::from_str(&f.run(&["--json", "diff"]).expect(3).stdout).expect("a JSON plan");
    let pd = &json["cost"]["pd"];
    assert_eq!(
        (pd["read_tokens"].as_u64(), pd["write_tokens"].as_u64()),
        (Some(10), Some(1500))
    );
    assert_eq!(pd["write_requests"], 300);
    assert!(json["cost"]["hs"].get("write_tokens").is_none(), "{json}");

    // Under the cap, no warning.
    set_system_key(&f, "pd", "daily_tokens", "100000");
    let fits = f.run(&["diff"]).expect(3);
    assert!(
        !fits.stderr.contains("daily_tokens leaves"),
        "{}",
        fits.stderr
    );
}

#[test]
fn the_hubspot_daily_reserve_stops_a_run_before_the_daily_limit_is_spent() {
    let f = us_and_eu()
        .toml(
            r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
direction = "left-to-right"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"
"#,
        )
        .build();
    seed_contacts(&f, "us", 1_000);
    let us = f.hubspot("us");
    us.set_daily_limit(20);
    set_system_key(&f, "us", "daily_reserve", "10");

    f.run(&["sync"]).expect(5).assert_stderr_has(
        "us: daily_reserve reached: 10 of 20 requests left today, kept for the account's other apps",
    );
    assert_eq!(us.daily_used(), 10, "the reserve is left whole");
    assert_eq!(us.rate_limited_count(), 0);
    // A first sync of one pair streams: the pages listed before the stop
    // are written (each contact once), the rest follows the next run.
    let written = f.hubspot("eu").records("contacts").len();
    assert!(written < 1_000, "the run stopped midway: {written} written");

    us.set_daily_limit(1_000);
    f.run(&["sync"]).expect(0);
    assert_each_once(f.hubspot("eu"), "contacts", "email", 1_000);
}

#[test]
fn daily_limits_belong_to_their_vendor_in_the_mapping_file() {
    let f = contacts_to_persons();
    set_system_key(&f, "hs", "daily_tokens", "600");
    f.run(&["diff"])
        .expect(2)
        .assert_stderr_has("daily_tokens applies to Pipedrive systems only");
    let f = contacts_to_persons();
    set_system_key(&f, "pd", "daily_reserve", "\"5%\"");
    f.run(&["diff"])
        .expect(2)
        .assert_stderr_has("daily_reserve applies to HubSpot systems only");
}

/// Companies, contacts and deals between HubSpot and Pipedrive, with an
/// owner map (users), a stage map by label (stages), notes on the
/// contacts and a deletion propagated: every kind of Pipedrive request
/// crmsync sends but merges and saved filters.
fn every_request_kind() -> Fixture {
    let f = hs_and_pd()
        .owner("hs", "sam@corp.example", "Sam Lee")
        .owner("pd", "sam@corp.example", "Sam Lee")
        // The fake Pipedrive's own user, who owns what is made there.
        .owner("hs", "owner@example.com", "Pat Owner")
        .toml(
            r#"
[[pairs]]
name = "companies"
left = "hs.companies"
right = "pd.organizations"
match = "name"
deletes = "propagate"
[pairs.fields]
name = "name"

[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
hubspot_owner_id = "owner_id"
primary_company = "org_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
primary_company = "link:companies"

[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
direction = "left-to-right"
[pairs.fields]
dealname = "title"
dealstage = "stage_id"
[pairs.values]
dealstage = "by-label"

[[pairs]]
name = "notes"
left = "hs.notes"
right = "pd.notes"
[pairs.fields]
hs_note_body = "content"
hs_timestamp = "add_time"
hubspot_owner_id = "user_id"
contact = "person_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
contact = "link:contacts"
"#,
        )
        .build();
    f.pipedrive("pd").add_stage(1, "Appointment Scheduled");
    f
}

#[test]
fn crmsync_counts_every_pipedrive_request_at_the_tokens_pipedrive_charges() {
    let f = every_request_kind();
    let (hs, pd) = (f.hubspot("hs"), f.pipedrive("pd"));
    let owner = f.owner("hs", "sam@corp.example");
    let company = hs.seed("companies", &[("name", "Acme")]);
    let contact = hs.seed(
        "contacts",
        &[
            ("email", "ann@example.com"),
            ("firstname", "Ann"),
            ("hubspot_owner_id", owner.as_str()),
        ],
    );
    hs.associate_records("contacts", &contact, "companies", &company);
    hs.seed(
        "deals",
        &[
            ("dealname", "Renewal"),
            ("dealstage", "appointmentscheduled"),
        ],
    );
    pd.seed_person(serde_json::json!({"name": "Bo Chen", "emails": [{"value": "bo@example.com", "primary": true}]}));
    let note = hs.seed(
        "notes",
        &[
            ("hs_note_body", "Called Ann"),
            ("hs_timestamp", "2026-11-02T10:00:00Z"),
            ("hubspot_owner_id", owner.as_str()),
        ],
    );
    hs.associate_records("notes", &note, "contacts", &contact);
    let report = f.work.path("report.json");
    let report_arg = report.to_str().unwrap();
    let mut charged = 0;
    let mut run = |args: &[&str], edit: &dyn Fn()| {
        edit();
        let before = pd.tokens_spent();
        let mut all = vec!["--report", report_arg];
        all.extend_from_slice(args);
        f.run(&all).expect(0);
        let report: Value = serde_json::from_str(&read(&report)).expect("a report");
        let spent = pd.tokens_spent() - before;
        assert_eq!(
            report["tokens"]["pd"].as_u64().unwrap_or(0),
            spent,
            "{args:?}: crmsync's count against the fake's; requests {}",
            report["requests"]["pd"]
        );
        charged += spent;
    };
    // Creates on both sides, with fields, users and stages read.
    run(&["sync"], &|| {});
    // Updates both ways.
    run(&["sync"], &|| {
        hs.edit("contacts", &contact, &[("lastname", "Lee")]);
        hs.edit("notes", &note, &[("hs_note_body", "Called Ann twice")]);
        let bo = pd
            .persons()
            .iter()
            .find(|p| p["name"] == "Bo Chen")
            .map(|p| p["id"].as_i64().unwrap())
            .unwrap();
        pd.edit_person(bo, serde_json::json!({"name": "Bo Chan"}));
    });
    // A company deleted on HubSpot: its organization is deleted too.
    run(&["sync", "--full"], &|| hs.archive("companies", &company));
    assert!(pd.organizations().is_empty());
    let sent = pd.server().counts_by_endpoint();
    for endpoint in [
        "GET /api/v1/users",
        "GET /api/v2/stages",
        "POST /api/v2/persons",
        "PATCH /api/v2/persons/{id}",
        "DELETE /api/v2/organizations/{id}",
        "GET /api/v1/notes",
        "POST /api/v1/notes",
        "PUT /api/v1/notes/{id}",
    ] {
        assert!(sent.contains_key(endpoint), "{endpoint} not sent: {sent:?}");
    }
    assert!(charged > 0);
}

#[test]
fn a_cron_migration_stopped_by_the_cap_each_day_says_how_far_it_got_in_one_line_under_q() {
    let f = contacts_to_persons();
    seed_contacts(&f, "hs", 300);
    set_system_key(&f, "pd", "daily_tokens", "600");

    // Day one, from cron: the first sync streams, and under -q says only
    // how far it got and why it stopped.
    let day_one = f.run(&["-q", "sync"]).expect(5);
    let created = person_emails(&f).len();
    assert_eq!(created, (600 - 10) / 5);
    assert_eq!(day_one.stdout, "", "-q prints no plan");
    assert_eq!(
        day_one.one_stderr_line(),
        format!(
            "crmsync: error: stopped after {created} of 300 items applied: writing people to pd.persons: writing persons to pd: {}",
            cap_reached(600)
        )
    );

    // Day two (the cap raised by as much): the pair holds links now, so
    // the run plans whole before it writes; without -q it shows its plan
    // and the Applied line, then the same kind of line.
    set_system_key(&f, "pd", "daily_tokens", "1200");
    let day_two = f.run(&["sync"]).expect(5);
    assert!(
        !day_two.stderr.contains("streaming"),
        "planned whole: {}",
        day_two.stderr
    );
    let made = person_emails(&f).len() - created;
    assert!(made > 0 && made < 300 - created, "{made} made");
    assert_plan_and_applied(&day_two, 300 - created, made);
    let line = stop_line(&day_two);
    assert!(
        line.starts_with(&format!(
            "crmsync: error: stopped after {made} of {} items applied: ",
            300 - created
        )) && line.ends_with(&cap_reached(1200)),
        "{line}"
    );

    set_system_key(&f, "pd", "daily_tokens", "100000");
    f.run(&["-q", "sync"])
        .expect(0)
        .assert_stdout_has(&format!("Applied: {} created", 300 - created - made));
    assert_eq!(person_emails(&f).len(), 300);
}

#[test]
fn a_push_the_cap_stops_prints_the_plan_and_what_it_applied() {
    let f = contacts_to_persons();
    seed_contacts(&f, "hs", 300);
    set_system_key(&f, "pd", "daily_tokens", "600");
    f.run(&["diff", "--out", "plan.json"]).expect(3);

    let pushed = f.run(&["push", "plan.json"]).expect(5);
    let created = person_emails(&f).len();
    assert!(created > 0 && created < 300, "{created} made");
    assert_plan_and_applied(&pushed, 300, created);
    let line = stop_line(&pushed);
    assert!(
        line.starts_with(&format!(
            "crmsync: error: stopped after {created} of 300 items applied: "
        )) && line.ends_with(&cap_reached(600)),
        "{line}"
    );
}

#[test]
fn a_run_the_cap_stops_on_a_terminal_keeps_its_plan_applied_and_error_lines() {
    let piped = contacts_to_persons();
    let terminal = contacts_to_persons();
    for f in [&piped, &terminal] {
        seed_contacts(f, "hs", 300);
        set_system_key(f, "pd", "daily_tokens", "600");
    }
    let expected = piped.run(&["sync"]).expect(5);
    let run = run_on_terminal(&terminal.work, &["sync"], 80);
    assert_eq!(run.code, 5, "{}", run.screen);
    assert!(
        run.drew_bars(),
        "bars were drawn, so the test shows they ate nothing"
    );
    // Every line stdout printed, then the error line, is on the final
    // screen in order, and nothing else but log lines.
    let mut lines: Vec<String> = expected.stdout.lines().map(str::to_string).collect();
    lines.push(stop_line(&expected));
    // Record ids and durations differ between the two sets of fakes.
    let comparable = |line: &str| {
        line.trim_end()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect::<String>()
    };
    assert_eq!(
        run.output_lines()
            .iter()
            .map(|l| comparable(l))
            .collect::<Vec<_>>(),
        lines.iter().map(|l| comparable(l)).collect::<Vec<_>>(),
        "raw: {:?}",
        run.raw
    );
}
