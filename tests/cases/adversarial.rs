//! Adversarial end-to-end cases: values shaped like the tool's own
//! markers, plans pushed twice or after the run they planned, merges and
//! forward references in one run, and exit codes of the runs cron sees.

use super::TwoAccounts;
use crate::support::harness::read;

/// A free-text value shaped like a forward reference (`new:PAIR:SIDE:ID`)
/// is a value like any other: it is copied as it is, on `sync` and on a
/// reviewed plan's `push`, and the next run has nothing to do.
#[test]
fn a_text_value_shaped_like_a_forward_reference_is_copied_as_it_is() {
    let t = TwoAccounts::new();
    let odd = "new:contacts:left:5";
    let id = t.us.seed(
        "contacts",
        &[
            ("email", "odd@example.com"),
            ("firstname", "Odd"),
            ("lastname", odd),
        ],
    );
    t.work.run(&["sync"]).expect(0);
    let copied = super::id_of(&t.eu, "contacts", "email", "odd@example.com");
    assert_eq!(
        t.eu.record("contacts", &copied).unwrap().properties["lastname"],
        odd
    );
    t.assert_next_sync_writes_nothing();

    // The same through a reviewed plan.
    t.us.edit("contacts", &id, &[("firstname", "new:deals:right:7")]);
    t.work.run(&["diff", "--out", "plan.json"]).expect(3);
    let run = t.work.run(&["push", "plan.json"]);
    let run = run.expect(0);
    assert!(!run.stdout.is_empty());
    assert_eq!(
        t.eu.record("contacts", &copied).unwrap().properties["firstname"],
        "new:deals:right:7"
    );
    t.assert_next_sync_writes_nothing();
    let _ = read;
}
