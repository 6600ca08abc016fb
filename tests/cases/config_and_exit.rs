//! Bad input and exit codes: a broken mapping file is 2, a rejected token
//! is 7, each with a one-line message naming the fix, and a token never
//! appears in any output; a system that cannot be reached on its first
//! request is 5 at once, naming its URL and `[systems.NAME]` table; every
//! missing token is named at once; a global flag the command cannot honour
//! is refused (2). (Broken TOML and a missing token are in `reliability`'s
//! bad-input catalogue.)

use super::{seed_us_contacts, two_accounts};
use crate::support::accounts::Fixture;
use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::harness::{US_TOKEN, Workdir};
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn a_broken_mapping_file_exits_2_naming_file_line_and_fix() {
    let t = two_accounts();
    t.edit_mapping(|config| config.replace("direction = \"both\"", "direction = \"sideways\""));
    let run = t.work.run(&["sync"]).expect(2);
    run.assert_stderr_has("sync.toml:");
    run.assert_stderr_has("use both, left-to-right or right-to-left");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let run = Workdir::new().run(&["sync"]).expect(2);
    run.assert_stderr_has("cannot read the mapping file");

    let run = t.work.run(&["frobnicate"]).expect(2);
    run.assert_stderr_has("unrecognized subcommand");
}

#[test]
fn a_rejected_token_exits_7_with_hubspots_message_and_never_prints_the_token() {
    let t = two_accounts();
    let impostor = FakeHubSpot::start("a-different-token");
    with_eu_at(&t, &impostor.url());
    seed_us_contacts(&t, 1);
    let run = t.work.run(&["-v", "sync"]).expect(7);
    run.assert_stderr_has("401");
    run.assert_stderr_has("Authentication credentials not found");
    for secret in [US_TOKEN, crate::support::harness::EU_TOKEN] {
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "token leaked"
        );
    }
    for entry in walk(&t.work.state_dir()) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains(US_TOKEN), "token in {}", entry.display());
    }
}

#[test]
fn state_files_are_private() {
    let t = two_accounts();
    seed_us_contacts(&t, 1);
    t.work.run(&["sync"]).expect(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&t.work.state_dir()), 0o700);
        for file in walk(&t.work.state_dir()) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Errors that name what to fix
// ---------------------------------------------------------------------------

/// A loopback port nothing listens on: bound, then let go.
fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("bound address").port()
}

/// The two-account mapping file of `t` with eu's `base_url` replaced.
fn with_eu_at(t: &Fixture, url: &str) {
    let eu = t.hubspot("eu").url();
    t.edit_mapping(|config| config.replace(&eu, url));
}

#[test]
fn a_refused_connection_on_the_first_request_exits_5_at_once_naming_the_url_and_its_table() {
    let t = two_accounts();
    seed_us_contacts(&t, 1);
    let url = format!("http://127.0.0.1:{}", refused_port());
    with_eu_at(&t, &url);
    for command in ["sync", "diff", "pull"] {
        let run = t.work.run(&["-q", command]).expect(5);
        let line = run.one_stderr_line();
        assert!(
            line.ends_with(&format!(
                "cannot connect to eu at {url} (connection refused): check base_url in [systems.eu] of sync.toml"
            )),
            "{line}"
        );
        // At once: not one retry (the retry budget is two minutes).
        assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    }
    assert!(t.hubspot("eu").records("contacts").is_empty());
}

#[test]
fn an_unknown_host_exits_5_naming_the_url_and_its_table() {
    let t = two_accounts();
    // `.invalid` never resolves (RFC 6761).
    let url = "https://crmsync-test.invalid";
    with_eu_at(&t, url);
    let run = t.work.run(&["-q", "sync"]).expect(5);
    let line = run.one_stderr_line();
    assert!(
        line.contains(&format!("cannot connect to eu at {url} (DNS lookup failed"))
            && line.ends_with("check base_url in [systems.eu] of sync.toml"),
        "{line}"
    );
}

/// A port that answers every connection in plain text and hangs up, as a
/// server that speaks no TLS does to an `https` client.
struct PlainTextPort {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PlainTextPort {
    fn start() -> PlainTextPort {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = listener.local_addr().expect("bound address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut stream) = stream {
                    let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nplain text\r\n");
                }
            }
        });
        PlainTextPort {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PlainTextPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_failed_tls_handshake_exits_5_naming_the_url_and_its_table() {
    let t = two_accounts();
    let plain = PlainTextPort::start();
    let url = format!("https://127.0.0.1:{}", plain.port);
    with_eu_at(&t, &url);
    let run = t.work.run(&["-q", "sync"]).expect(5);
    let line = run.one_stderr_line();
    assert!(
        line.contains(&format!(
            "cannot connect to eu at {url} (TLS handshake failed"
        )) && line.ends_with("check base_url in [systems.eu] of sync.toml"),
        "{line}"
    );
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
}

#[test]
fn every_missing_token_is_named_at_once_and_an_empty_one_is_called_empty() {
    let t = two_accounts();
    let config = t.mapping_text();
    let none = Workdir::new();
    none.write_config(&config);
    let line = none.run(&["sync"]).expect(7).one_stderr_line();
    for named in [
        "HUBSPOT_US_TOKEN is not set (token_env of [systems.us])",
        "HUBSPOT_EU_TOKEN is not set (token_env of [systems.eu])",
    ] {
        assert!(line.contains(named), "{named} in: {line}");
    }
    let empty = Workdir::new()
        .with_env("HUBSPOT_US_TOKEN", "")
        .with_env("HUBSPOT_EU_TOKEN", "  ");
    empty.write_config(&config);
    let line = empty.run(&["diff"]).expect(7).one_stderr_line();
    assert!(
        line.contains("HUBSPOT_US_TOKEN is empty") && line.contains("HUBSPOT_EU_TOKEN is empty"),
        "{line}"
    );
    // init reads its tokens the same way.
    let systems = Workdir::new().with_env("HUBSPOT_US_TOKEN", "");
    systems.write_config(&t.systems_toml());
    let line = systems.run(&["init"]).expect(7).one_stderr_line();
    assert!(
        line.contains("HUBSPOT_US_TOKEN is empty") && line.contains("HUBSPOT_EU_TOKEN is not set"),
        "{line}"
    );
    assert_eq!(
        t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count(),
        0,
        "refused before any request"
    );
}

#[test]
fn a_rejected_token_names_its_variable() {
    let t = two_accounts();
    let impostor = FakeHubSpot::start("a-different-token");
    with_eu_at(&t, &impostor.url());
    let line = t.work.run(&["-q", "sync"]).expect(7).one_stderr_line();
    assert!(
        line.contains("the token in HUBSPOT_EU_TOKEN was rejected (401")
            && line.contains("check that HUBSPOT_EU_TOKEN (token_env of [systems.eu])"),
        "{line}"
    );
}

#[test]
fn a_global_flag_the_command_cannot_honour_is_refused_with_exit_2() {
    let t = two_accounts();
    t.write_mapping(&t.systems_toml());
    for (args, named) in [
        (&["init", "--json"][..], "--json does not apply to `init`"),
        (
            &["--json", "completions", "bash"],
            "--json does not apply to `completions`",
        ),
        (
            &["init", "--report", "r.json"],
            "--report does not apply to `init`",
        ),
        (
            &["completions", "bash", "--report", "r.json"],
            "--report does not apply to `completions`",
        ),
        (
            &["-q", "--progress", "always", "sync"],
            "-q draws no progress bars",
        ),
        (&["-q", "-v", "sync"], "cannot be used with"),
    ] {
        let run = t.work.run(args).expect(2);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    assert!(!t.work.path("r.json").exists());
    assert_eq!(
        t.hubspot("us").server().request_count() + t.hubspot("eu").server().request_count(),
        0
    );
}
