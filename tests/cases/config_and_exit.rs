//! Bad input and exit codes: a broken mapping file is 2, a rejected token
//! is 7, each with a one-line message naming the fix, and a token never
//! appears in any output. (Broken TOML and a missing token are in
//! `reliability`'s bad-input catalogue.)

use super::TwoAccounts;
use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::harness::{US_TOKEN, Workdir};

#[test]
fn a_broken_mapping_file_exits_2_naming_file_line_and_fix() {
    let t = TwoAccounts::new();
    let config = std::fs::read_to_string(t.work.config_path()).unwrap();
    t.work
        .write_config(&config.replace("direction = \"both\"", "direction = \"sideways\""));
    let run = t.work.run(&["sync"]).expect(2);
    assert!(run.stderr.contains("sync.toml:"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("use both, left-to-right or right-to-left"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let run = Workdir::new().run(&["sync"]).expect(2);
    assert!(
        run.stderr.contains("cannot read the mapping file"),
        "{}",
        run.stderr
    );

    let run = t.work.run(&["frobnicate"]).expect(2);
    assert!(
        run.stderr.contains("unrecognized subcommand"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_rejected_token_exits_7_with_hubspots_message_and_never_prints_the_token() {
    let t = TwoAccounts::new();
    let impostor = FakeHubSpot::start("a-different-token");
    t.work.write_config(&super::two_account_config(
        &t.us.url(),
        &impostor.url(),
        "newest",
    ));
    t.seed_us_contacts(1);
    let run = t.work.run(&["-v", "sync"]).expect(7);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Authentication credentials not found"),
        "{}",
        run.stderr
    );
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
    let t = TwoAccounts::new();
    t.seed_us_contacts(1);
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
