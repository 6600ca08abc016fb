//! Runs from cron at short intervals: a run that finds the previous one
//! still going is skipped (exit 8, no alert, nothing printed under `-q`,
//! the report left to the run still going); a lock left behind by a killed
//! run is taken over and said so; `full_pull_every` as a duration pulls an
//! object in full when its last full pull is older than that, however many
//! runs came between.

use super::{seed_us_contacts, two_accounts};
use crate::support::accounts::Fixture;
use crate::support::harness::{Run, read};
use crate::support::server::{Fault, Gate, Request, Response, Server};
use serde_json::Value;
use std::process::{Command, Stdio};

const CONTACTS_LIST: &str = "GET /crm/objects/2026-09/contacts";
const CONTACTS_SEARCH: &str = "POST /crm/objects/2026-09/contacts/search";

fn output(mut command: Command) -> Run {
    let out = command.output().expect("run crmsync");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A webhook receiver that keeps every body it is sent.
fn record_alert(bodies: &mut Vec<Value>, req: &Request) -> Response {
    bodies.push(req.json().unwrap_or(Value::Null));
    Response::text(200, "text/plain", "ok")
}

/// `Fixture` whose mapping file starts with `top` (top-level keys) and
/// ends with `tail` (tables).
fn accounts_with(top: &str, tail: &str) -> Fixture {
    let t = two_accounts();
    t.edit_mapping(|config| format!("{top}{config}{tail}"));
    t
}

#[test]
fn a_run_finding_the_previous_one_still_going_is_skipped_with_exit_8_and_no_alert() {
    let receiver = Server::start(Vec::new(), record_alert);
    let hook = format!("{}/hook", receiver.url());
    let t = accounts_with("", "\n[alerts]\nwebhook_env = \"CRMSYNC_ALERT_URL\"\n");
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 2);
    let with_alerts = |args: &[&str]| {
        let mut command = t.work.command(args);
        command.env("CRMSYNC_ALERT_URL", &hook);
        command
    };
    // The first run stops at its first request, holding the lock.
    let gate = Gate::default();
    t.hubspot("us")
        .server()
        .inject("GET", 1, Fault::Hold(gate.clone()));
    let mut first = with_alerts(&["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    gate.wait_until_held();

    // Under -q, as from cron: nothing at all, and no report over the one
    // the run still going will write.
    let quiet = output(with_alerts(&["-q", "--report", "skipped.json", "sync"])).expect(8);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
    assert!(!t.work.path("skipped.json").exists());
    // Otherwise one line, naming the run still going.
    let plain = output(with_alerts(&["sync"])).expect(8);
    assert_eq!(plain.stdout, "");
    assert_eq!(plain.stderr.lines().count(), 1, "{}", plain.stderr);
    plain.assert_stderr_has(&format!(
        "skipped: the previous run is still going (pid {}, started ",
        first.id()
    ));
    // `diff` and `pull` take the lock too; `diff --offline` reads only.
    output(with_alerts(&["diff"])).expect(8);
    output(with_alerts(&["pull"])).expect(8);
    assert!(first.try_wait().unwrap().is_none(), "still at the gate");
    assert!(receiver.state().is_empty(), "a skipped run alerts nobody");
    assert!(
        eu.records("contacts").is_empty(),
        "the skipped runs wrote nothing"
    );

    gate.open();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(
        eu.records("contacts").len(),
        2,
        "the first run completed alone"
    );
    assert!(receiver.state().is_empty());
    assert!(
        receiver.requests().is_empty(),
        "no request reached the webhook"
    );
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over_and_its_work_finished() {
    let t = two_accounts();
    seed_us_contacts(&t, 3);
    let gate = Gate::default();
    t.hubspot("us")
        .server()
        .inject("GET", 1, Fault::Hold(gate.clone()));
    let mut killed = t
        .work
        .command(&["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    gate.wait_until_held();
    let lock = t.work.state_dir().join("lock");
    let pid = killed.id();
    assert!(
        read(&lock).starts_with(&format!("{pid} ")),
        "the holder names itself: {}",
        read(&lock)
    );
    killed.kill().expect("SIGKILL");
    killed.wait().unwrap();
    gate.open();
    // The file is still there, naming the dead run; the OS lock died with it.
    assert!(read(&lock).starts_with(&format!("{pid} ")));

    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stderr_has(&format!("the previous run (pid {pid}, started "));
    run.assert_stderr_has("taking it over");
    assert_eq!(t.hubspot("eu").records("contacts").len(), 3);
    assert_eq!(read(&lock), "", "a run that ends lets go of the lock");
    // The next run finds a lock let go: nothing to take over, nothing to say.
    let next = t.work.run(&["sync"]).expect(0);
    assert!(!next.stderr.contains("taking it over"), "{}", next.stderr);
}

/// Sets top-level keys of a saved snapshot.
fn edit_snapshot(t: &Fixture, object: &str, edits: &[(&str, Value)]) {
    let path = t
        .work
        .state_dir()
        .join("snapshots")
        .join(format!("{object}.json"));
    let mut snapshot: Value = serde_json::from_str(&read(&path)).expect("a snapshot");
    for (key, value) in edits {
        snapshot[key] = value.clone();
    }
    std::fs::write(&path, snapshot.to_string()).unwrap();
}

fn snapshot(t: &Fixture, object: &str) -> Value {
    let path = t
        .work
        .state_dir()
        .join("snapshots")
        .join(format!("{object}.json"));
    serde_json::from_str(&read(&path)).expect("a snapshot")
}

#[test]
fn full_pull_every_as_a_duration_pulls_in_full_once_the_last_full_pull_is_older() {
    let t = accounts_with("full_pull_every = \"6h\"\n", "");
    let us = t.hubspot("us");
    let ids = seed_us_contacts(&t, 3);
    let us_listings = |t: &Fixture| {
        let counts = t.hubspot("us").server().counts_by_endpoint();
        (
            counts.get(CONTACTS_LIST).copied().unwrap_or(0),
            counts.get(CONTACTS_SEARCH).copied().unwrap_or(0),
        )
    };
    t.work.run(&["sync"]).expect(0);
    let first_full = snapshot(&t, "us.contacts")["last_full_ms"]
        .as_i64()
        .expect("the time of the full pull is kept");

    // However many runs came since: the last full pull is recent.
    edit_snapshot(&t, "us.contacts", &[("incremental_runs", 1000.into())]);
    us.archive("contacts", &ids[0]);
    t.reset_requests();
    t.work.run(&["sync"]).expect(0);
    let (lists, searches) = us_listings(&t);
    assert_eq!(lists, 0, "no full pull within 6 hours");
    assert!(searches > 0);
    assert_eq!(
        snapshot(&t, "us.contacts")["records"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "an incremental pull cannot see the archived contact go"
    );

    // Seven hours ago: due.
    let seven_hours_ago = first_full - 7 * 3_600_000;
    edit_snapshot(
        &t,
        "us.contacts",
        &[("last_full_ms", seven_hours_ago.into())],
    );
    t.reset_requests();
    t.work.run(&["sync"]).expect(0);
    let (lists, searches) = us_listings(&t);
    assert!(lists > 0, "a full listing of us.contacts");
    assert_eq!(searches, 0);
    let eu_counts = t.hubspot("eu").server().counts_by_endpoint();
    assert!(
        !eu_counts.contains_key(CONTACTS_LIST),
        "eu.contacts had its full pull recently: {eu_counts:?}"
    );
    let after = snapshot(&t, "us.contacts");
    assert_eq!(
        after["records"].as_array().unwrap().len(),
        2,
        "the full pull sees the archived contact gone"
    );
    assert!(after["last_full_ms"].as_i64().unwrap() >= first_full);
    assert_eq!(after["incremental_runs"], 0);
}

/// Runs `script` with `/bin/sh` in an empty environment, as cron does
/// (cron sets little more than HOME, SHELL and a PATH without
/// `~/.cargo/bin`; `env -i` sets nothing at all).
fn under_env_i(script: &str) -> Run {
    let mut command = Command::new("/usr/bin/env");
    command.args(["-i", "/bin/sh", "-c", script]);
    output(command)
}

#[test]
fn the_documented_cron_line_works_under_an_empty_environment() {
    let t = two_accounts();
    let eu = t.hubspot("eu");
    seed_us_contacts(&t, 2);
    let dir = t.work.dir.path().display().to_string();
    let bin = assert_cmd::cargo::cargo_bin("crmsync")
        .display()
        .to_string();
    // The tokens file as README "Running from cron" gives it: plain lines.
    let tokens: String = t
        .work
        .env
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    std::fs::write(t.work.path("tokens.env"), tokens).unwrap();

    // Sourced without `set -a` the lines set shell variables that crmsync
    // never sees: exit 7, naming the variable.
    let unexported = under_env_i(&format!("cd '{dir}' && . ./tokens.env && '{bin}' -q sync"));
    eprintln!(
        "without set -a: exit {}\n{}{}",
        unexported.code, unexported.stdout, unexported.stderr
    );
    let unexported = unexported.expect(7);
    unexported.assert_stderr_has("HUBSPOT_");
    assert!(eu.records("contacts").is_empty());

    // Without the full path, the shell finds no crmsync on that PATH.
    let no_path = under_env_i(&format!(
        "cd '{dir}' && set -a && . ./tokens.env && set +a && crmsync -q sync"
    ));
    eprintln!(
        "bare name: exit {}\n{}{}",
        no_path.code, no_path.stdout, no_path.stderr
    );
    assert_eq!(no_path.code, 127, "{}", no_path.stderr);

    let line = format!("cd '{dir}' && set -a && . ./tokens.env && set +a && '{bin}' -q sync");
    let first = under_env_i(&line);
    eprintln!(
        "cron line, first run: exit {}\n{}{}",
        first.code, first.stdout, first.stderr
    );
    first.expect(0);
    assert_eq!(eu.records("contacts").len(), 2);
    let second = under_env_i(&line);
    eprintln!(
        "cron line, second run: exit {}\n{}{}",
        second.code, second.stdout, second.stderr
    );
    let second = second.expect(0);
    assert_eq!(
        (second.stdout.as_str(), second.stderr.as_str()),
        ("", ""),
        "nothing to do under -q: nothing for cron to mail"
    );
    assert_eq!(eu.records("contacts").len(), 2);
}
