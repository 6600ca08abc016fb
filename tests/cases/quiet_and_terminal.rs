//! What a user sees: `-q` prints nothing for a run with nothing to report
//! (cron mails only what changed), and on a terminal the progress bars never
//! eat a line of the plan or the report, leave no stale spinner, and are
//! not drawn at all under `-q`. Terminal runs go through a pseudo-terminal
//! and a terminal emulator, at 80 columns, so long plan lines wrap as they
//! do for a user.

use super::{seed_us_contacts, seed_us_deals, two_accounts};
use crate::support::demo_accounts::DemoAccounts;
use crate::support::terminal::run_on_terminal;

/// A stdout line with what changes from one set of fake accounts to another
/// taken out: numbers (record ids are numbered per process, durations vary)
/// become `#`.
fn comparable(line: &str) -> String {
    let mut out = String::new();
    for c in line.trim_end().chars() {
        match (c.is_ascii_digit(), out.ends_with('#')) {
            (true, true) => {}
            (true, false) => out.push('#'),
            (false, _) => out.push(c),
        }
    }
    out
}

fn comparable_lines(text: &str) -> Vec<String> {
    text.lines().map(comparable).collect()
}

#[test]
fn the_demo_on_an_80_column_terminal_keeps_every_plan_and_applied_line() {
    // The same accounts twice: one piped (what the run prints), one on a
    // terminal (what is left on screen). The fakes number records alike,
    // so both print the same plan.
    let piped = DemoAccounts::start();
    let terminal = DemoAccounts::start();
    for (step, code) in [("diff", 3u8), ("sync", 0)] {
        let expected = piped.work.run(&[step]).expect(code.into()).stdout;
        let run = run_on_terminal(&terminal.work, &[step], 80);
        assert_eq!(run.code, u32::from(code), "{}", run.screen);
        assert!(
            run.drew_bars(),
            "bars were drawn, so the test shows they ate nothing"
        );
        assert!(expected.contains("Plan: "), "{expected}");
        // Every line stdout printed is on the final screen, in order, and
        // nothing else is but log lines: no stale spinner, no torn line.
        assert_eq!(
            run.output_lines()
                .iter()
                .map(|l| comparable(l))
                .collect::<Vec<_>>(),
            comparable_lines(&expected),
            "{step} on the terminal, raw: {:?}",
            run.raw
        );
        if step == "sync" {
            assert!(expected.lines().last().unwrap().starts_with("Applied: "));
        }
    }
}

#[test]
fn quiet_draws_no_bars_on_a_terminal_and_prints_what_changed() {
    let piped = DemoAccounts::start();
    let terminal = DemoAccounts::start();
    let expected = piped.work.run(&["-q", "sync"]).expect(0);
    assert_eq!(expected.stderr, "");
    let run = run_on_terminal(&terminal.work, &["-q", "sync"], 80);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(!run.drew_bars(), "raw: {:?}", run.raw);
    // Nothing but the run's items, its Plan and Applied lines.
    assert_eq!(
        run.output_lines()
            .iter()
            .map(|l| comparable(l))
            .collect::<Vec<_>>(),
        comparable_lines(&expected.stdout)
    );
    assert!(!run.screen.contains("[INFO"), "{}", run.screen);
    assert!(run.screen.contains("\nApplied: "), "{}", run.screen);
}

#[test]
fn quiet_runs_on_accounts_in_step_print_nothing_at_all() {
    let t = two_accounts();
    seed_us_contacts(&t, 3);
    seed_us_deals(&t, 2);
    t.work.run(&["sync"]).expect(0);
    for args in [
        &["-q", "sync"][..],
        &["-q", "diff"],
        &["-q", "pull"],
        &["-q", "sync", "--dry-run"],
    ] {
        let run = t.work.run(args).expect(0);
        assert_eq!(
            (run.stdout.as_str(), run.stderr.as_str()),
            ("", ""),
            "{args:?}"
        );
    }
    // Without -q the same run still says so.
    let run = t.work.run(&["sync"]).expect(0);
    run.assert_stdout_has("Plan: nothing to do");
}

#[test]
fn a_quiet_run_that_changes_something_prints_its_items_and_the_applied_line() {
    let t = two_accounts();
    seed_us_contacts(&t, 2);
    let run = t.work.run(&["-q", "sync"]).expect(0);
    assert_eq!(run.stderr, "");
    let creates = run
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("+ eu"))
        .count();
    assert_eq!(creates, 2, "{}", run.stdout);
    run.assert_stdout_has("\nPlan: ");
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("Applied: 2 created"),
        "{}",
        run.stdout
    );
    // A quiet diff with drift shows it (exit 3).
    t.hubspot("us")
        .seed("contacts", &[("email", "late@example.com")]);
    let run = t.work.run(&["-q", "diff"]).expect(3);
    run.assert_stdout_has("late@example.com");
    assert_eq!(run.stderr, "");
}
