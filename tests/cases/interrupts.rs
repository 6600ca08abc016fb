//! Interrupts end to end: SIGINT and SIGTERM during a first HubSpot →
//! Pipedrive sync stop it after the request in flight, with the state
//! settled, the report written, what was applied printed and exit 130 or
//! 143; a second Ctrl-C stops it at once; and the records a killed run
//! left behind (found again through the create journal) are settled so
//! that no later run sees them as changes or as invalid.
//!
//! Nothing here waits on the clock: the signal is sent while a Pipedrive
//! write is held at the fake (`Fault::Hold`), and the request is let go
//! only once the run has said, on stderr, that it saw the signal.

use super::{hs_and_pd, primary_email};
use crate::support::accounts::Fixture;
use crate::support::harness::{Workdir, read};
use crate::support::server::{Fault, Gate, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const PERSONS_POST: &str = "POST /api/v2/persons";
/// The HubSpot owner (and Pipedrive user) some contacts have.
const REP: &str = "rep@corp.example";

/// HubSpot contacts → Pipedrive persons, both ways, owners by email. The
/// Pipedrive token's user (`owner@example.com`), who owns every person
/// created without an owner, has no HubSpot owner. `n` HubSpot contacts,
/// every third owned by the rep, every fourth with a first name of two
/// words, no person yet.
fn people(n: usize) -> Fixture {
    let m = hs_and_pd()
        .owner("hs", REP, "Rae Rep")
        .owner("pd", REP, "Rae Rep")
        .toml(PEOPLE_PAIRS)
        .build();
    let rep = m.owner("hs", REP);
    let contacts = (0..n)
        .map(|i| {
            let mut c = BTreeMap::from([
                ("email".to_string(), format!("p{i}@example.com")),
                // Pipedrive splits "Mary Ann" / "Last4" as "Mary" / "Ann Last4".
                (
                    "firstname".to_string(),
                    if i % 4 == 0 {
                        format!("Mary Ann{i}")
                    } else {
                        format!("First{i}")
                    },
                ),
                ("lastname".to_string(), format!("Last{i}")),
            ]);
            if i % 3 == 0 {
                c.insert("hubspot_owner_id".to_string(), rep.clone());
            }
            c
        })
        .collect();
    m.hubspot("hs").seed_many("contacts", contacts);
    m
}

const PEOPLE_PAIRS: &str = r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
direction = "both"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
hubspot_owner_id = "owner_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"

[retry]
max_wait_secs = 3
timeout_secs = 5
connect_timeout_secs = 1
first_delay_ms = 50
"#;

/// Holds the `nth` person create (1-based, counted from now) at a gate.
fn hold_create(m: &Fixture, nth: usize) -> Gate {
    let pd = m.pipedrive("pd");
    let gate = Gate::default();
    pd.server().clear_faults();
    if nth > 1 {
        pd.server()
            .inject(PERSONS_POST, nth - 1, Fault::Delay(Duration::ZERO));
    }
    pd.server()
        .inject(PERSONS_POST, 1, Fault::Hold(gate.clone()));
    gate
}

fn person_creates(m: &Fixture) -> usize {
    super::requests_matching(
        &m.pipedrive("pd").server().counts_by_endpoint(),
        PERSONS_POST,
    )
}

/// Every contact is a person exactly once, no email twice.
#[track_caller]
fn assert_everyone_once(m: &Fixture, n: usize) {
    let emails: Vec<String> = m
        .pipedrive("pd")
        .persons()
        .iter()
        .map(|p| primary_email(p).to_lowercase())
        .collect();
    let distinct: BTreeSet<&String> = emails.iter().collect();
    assert_eq!(
        (emails.len(), distinct.len()),
        (n, n),
        "persons and distinct emails"
    );
    assert_eq!(
        m.hubspot("hs").records("contacts").len(),
        n,
        "no contact added"
    );
}

/// A run of the binary in the background, its stderr read line by line as
/// it comes and its stdout gathered.
struct Running {
    child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Running {
    fn start(work: &Workdir, args: &[&str]) -> Running {
        let mut child = work
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crmsync");
        let (send, stderr) = channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        Running {
            child,
            stderr,
            seen: Vec::new(),
            stdout,
        }
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`) to the run.
    fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {signal}");
    }

    /// Returns once a stderr line contains `needle` (panics after 20 s, or
    /// when stderr ends first).
    fn wait_for_line(&mut self, needle: &str) {
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(e) => panic!(
                    "no stderr line with {needle:?} ({e}); stderr so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the exit; returns its code, stdout and the whole stderr.
    fn finish(mut self) -> (i32, String, String) {
        let status = self.child.wait().expect("wait for crmsync");
        self.seen.extend(self.stderr.iter());
        let stdout = self.stdout.join().expect("stdout reader");
        (status.code().unwrap_or(-1), stdout, self.seen.join("\n"))
    }
}

/// Interrupts a first sync of 120 contacts with `signal` while the 60th
/// person create is on the wire (the 10th of the second batch of 50); the
/// run finishes that request, sends none after it, and exits `code`.
fn interrupt_mid_apply(signal: &str, name: &str, code: i32) {
    let m = people(120);
    let pd = m.pipedrive("pd");
    let gate = hold_create(&m, 60);
    let mut run = Running::start(&m.work, &["--report", "report.json", "sync"]);
    gate.wait_until_held();
    run.signal(signal);
    run.wait_for_line(&format!("interrupted by {name}"));
    gate.open();
    let (exit, stdout, stderr) = run.finish();
    eprintln!("--- stdout\n{stdout}--- stderr\n{stderr}");
    assert_eq!(exit, code, "exit status");
    assert!(
        stderr.contains("interrupted: 60 of 120 items applied; run again to finish"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Applied: 60 created"),
        "what was applied is printed: {stdout}"
    );
    assert_eq!(person_creates(&m), 60, "no create after the one in flight");
    assert_eq!(pd.persons().len(), 60);

    let report: Value = serde_json::from_str(&read(&m.work.path("report.json"))).unwrap();
    assert_eq!(report["interrupted"], json!(true), "{report:#}");
    assert_eq!(report["exit_status"], json!(code));
    assert_eq!(
        report["counts"]["people"]["right"]["create"]["done"],
        json!(60),
        "{report:#}"
    );
    assert!(
        report["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["result"] == "done"),
        "the batch in flight ended known: {report:#}"
    );
    // The state was settled: the rerun creates exactly the other 60.
    pd.server().reset_requests();
    m.work.run(&["sync"]).expect(0);
    assert_eq!(person_creates(&m), 60, "only the persons not made yet");
    assert_everyone_once(&m, 120);
    m.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn sigint_mid_apply_finishes_the_request_in_flight_reports_and_exits_130() {
    interrupt_mid_apply("INT", "SIGINT", 130);
}

#[test]
fn sigterm_mid_apply_stops_the_same_way_and_exits_143() {
    interrupt_mid_apply("TERM", "SIGTERM", 143);
}

#[test]
fn sigint_during_a_hubspot_batch_lets_that_batch_finish_and_sends_no_other() {
    let t = super::two_accounts();
    let eu = t.hubspot("eu");
    super::seed_us_contacts(&t, 250);
    let upsert = "POST /crm/objects/2026-09/contacts/batch/upsert";
    let gate = Gate::default();
    eu.server().inject(upsert, 1, Fault::Delay(Duration::ZERO));
    eu.server().inject(upsert, 1, Fault::Hold(gate.clone()));
    let mut run = Running::start(&t.work, &["sync"]);
    gate.wait_until_held();
    run.signal("INT");
    run.wait_for_line("interrupted by SIGINT");
    gate.open();
    let (exit, stdout, stderr) = run.finish();
    assert_eq!(exit, 130, "{stderr}");
    assert!(
        stderr.contains("interrupted: 200 of 250 items applied; run again to finish"),
        "{stderr}"
    );
    assert!(stdout.contains("Applied: 200 created"), "{stdout}");
    assert_eq!(eu.records("contacts").len(), 200, "two batches of 100");
    assert_eq!(
        super::requests_matching(&eu.server().counts_by_endpoint(), upsert),
        2
    );
    t.work.run(&["sync"]).expect(0);
    assert_eq!(eu.records("contacts").len(), 250);
    t.clear_faults();
    t.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_second_sigint_exits_at_once_and_the_next_run_recovers() {
    let m = people(120);
    let pd = m.pipedrive("pd");
    let gate = hold_create(&m, 60);
    let mut run = Running::start(&m.work, &["sync"]);
    gate.wait_until_held();
    run.signal("INT");
    run.wait_for_line("interrupted by SIGINT");
    run.signal("INT");
    // The run is still waiting for the held request's answer: it can only
    // exit now if the second signal ends it on the spot.
    let (exit, _, stderr) = run.finish();
    assert_eq!(exit, 130, "{stderr}");
    assert!(stderr.contains("stopping at once"), "{stderr}");
    // The held create now reaches the fake with nobody to answer: made, but
    // its answer lost, as after kill -9.
    gate.open();
    while person_creates(&m) < 60 {
        std::thread::yield_now();
    }
    assert_eq!(pd.persons().len(), 60);

    pd.server().reset_requests();
    // Exit 0: nothing invalid, nothing failed.
    m.work.run(&["sync"]).expect(0);
    assert_eq!(
        person_creates(&m),
        60,
        "the 10 whose answers were never journaled were found, not made again"
    );
    assert_everyone_once(&m, 120);
    m.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn sigint_while_a_pull_waits_out_a_429_stops_at_once_with_nothing_written() {
    let m = people(30);
    let config = read(&m.work.config_path()).replace("max_wait_secs = 3", "max_wait_secs = 7200");
    m.work.write_config(&config);
    // HubSpot asks for an hour's pause on the first contacts page.
    let busy = Response::json(
        429,
        &json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}),
    )
    .with_header("Retry-After", "3600");
    m.hubspot("hs")
        .server()
        .inject("GET /crm/objects/2026-09/contacts", 1, Fault::Respond(busy));
    let mut run = Running::start(&m.work, &["--report", "report.json", "sync"]);
    run.wait_for_line("rate limited; waiting 3600");
    run.signal("INT");
    let (exit, stdout, stderr) = run.finish();
    assert_eq!(exit, 130, "{stderr}");
    assert!(
        stderr.contains("crmsync: interrupted by SIGINT before any write; nothing was written"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("error"),
        "a clean stop, not an error: {stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(m.writes(), 0);
    let report: Value = serde_json::from_str(&read(&m.work.path("report.json"))).unwrap();
    assert_eq!(report["interrupted"], json!(true), "{report:#}");
    assert_eq!(report["exit_status"], json!(130), "{report:#}");

    m.work.run(&["sync"]).expect(0);
    assert_everyone_once(&m, 30);
}

/// A small seeded generator, so the moments are arbitrary but the same on
/// every run of the test.
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

#[test]
fn runs_killed_or_interrupted_at_seeded_moments_leave_no_record_invalid() {
    const N: usize = 300;
    for seed in [0x5eed_u64, 0xc0ffee, 0xdecaf] {
        let m = people(N);
        let pd = m.pipedrive("pd");
        let mut moments = Moments(seed);
        for (round, signal) in ["KILL", "INT", "KILL", "INT"].into_iter().enumerate() {
            // Somewhere in the next two batches of 50.
            let nth = 1 + moments.next(100);
            let made = pd.persons().len();
            if made + nth > N {
                break;
            }
            let gate = hold_create(&m, nth);
            let before = person_creates(&m);
            let mut run = Running::start(&m.work, &["-q", "sync"]);
            gate.wait_until_held();
            run.signal(signal);
            if signal == "INT" {
                run.wait_for_line("interrupted by SIGINT");
            }
            let exit = if signal == "KILL" {
                // Killed while the create is held: it reaches the fake after
                // the run is gone, made with its answer lost.
                let (exit, _, _) = run.finish();
                gate.open();
                while person_creates(&m) < before + nth {
                    std::thread::yield_now();
                }
                exit
            } else {
                gate.open();
                run.finish().0
            };
            eprintln!(
                "seed {seed:#x} round {round}: {signal} at create {nth} of the run (exit {exit}); persons {made} -> {}",
                pd.persons().len()
            );
            assert_eq!(exit, if signal == "KILL" { -1 } else { 130 });
        }
        pd.server().clear_faults();
        let report = m.work.path("report.json");
        m.work.run(&["--report", "report.json", "sync"]).expect(0);
        let report: Value = serde_json::from_str(&read(&report)).unwrap();
        let invalid = report["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["action"] == "invalid")
            .count();
        assert_eq!(invalid, 0, "seed {seed:#x}: {report:#}");
        assert_everyone_once(&m, N);
        m.assert_run_writes_nothing(&["sync", "--full"]);
        m.assert_run_writes_nothing(&["sync"]);
    }
}
