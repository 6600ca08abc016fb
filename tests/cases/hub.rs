//! A hub: one HubSpot account (`us`) kept in step with a second HubSpot
//! account (`eu`) and with Pipedrive. Each account object is read once per
//! run, whatever number of pairs name it, and a record one pair brings into
//! the hub travels on through the pairs after it in the same run. Also: the
//! client paces at the limit each server reports, up or down from the
//! configured pace, over the interval the server names, with no 429.

use super::{
    hs_and_pd, requests_matching, seed_us_contacts, seed_us_deals, two_account_pairs, us_and_eu,
};
use crate::support::accounts::{Accounts, Fixture};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The two-account mapping with Pipedrive (`pd`) and a `people` pair
/// (us.contacts ↔ pd.persons) in front of its pairs, so the people it brings
/// into us go on to eu in the run: 120 contacts and 30 deals on us; 5 people
/// only on Pipedrive.
fn hub() -> Fixture {
    let hub = us_and_eu()
        .pipedrive("pd")
        .head("# two HubSpot accounts\n")
        .toml(
            r#"
[[pairs]]
name = "people"
left = "us.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"

"#,
        )
        .toml(&two_account_pairs("newest"))
        .build();
    seed_us_contacts(&hub, 120);
    seed_us_deals(&hub, 30);
    for i in 0..5 {
        hub.pipedrive("pd").seed_person(json!({
            "name": format!("Pia{i} Drive"),
            "emails": [{"value": pipedrive_only(i), "primary": true}],
        }));
    }
    hub
}

fn pipedrive_only(i: usize) -> String {
    format!("pia{i}@drive.example")
}

#[test]
fn a_hub_lists_each_us_object_once_and_brings_pipedrive_people_to_eu_in_one_run() {
    let hub = hub();
    let (eu, pd) = (hub.hubspot("eu"), hub.pipedrive("pd"));
    hub.work.run(&["sync"]).expect(0);

    let us = hub.hubspot("us").server().counts_by_endpoint();
    eprintln!("first sync, us: {us:?}");
    // Three pairs name us.contacts or us.deals; each is listed once:
    // ⌈120/100⌉ contact pages and one deal page.
    assert_eq!(
        requests_matching(&us, "GET /crm/objects/2026-09/contacts"),
        2
    );
    assert_eq!(requests_matching(&us, "GET /crm/objects/2026-09/deals"), 1);
    assert_eq!(pd.server().counts_by_endpoint()["GET /api/v2/persons"], 1);

    for i in 0..5 {
        let email = pipedrive_only(i);
        let on_eu = eu.find("contacts", "email", &email);
        assert_eq!(on_eu.len(), 1, "{email} reached eu in the first run");
        assert_eq!(on_eu[0].properties["firstname"], format!("Pia{i}"));
        assert_eq!(hub.hubspot("us").find("contacts", "email", &email).len(), 1);
    }
    assert_eq!(eu.records("contacts").len(), 125);
    assert_eq!(eu.records("deals").len(), 30);
    assert_eq!(pd.persons().len(), 125);

    // The second sync writes nothing.
    hub.assert_run_writes_nothing(&["sync"]);
    hub.work.run(&["diff"]).expect(0);
}

#[test]
fn a_state_dir_with_snapshots_per_pair_from_before_is_pulled_in_full_once_and_nothing_is_duplicated()
 {
    let hub = hub();
    hub.work.run(&["sync"]).expect(0);
    // Put the state directory back the way the previous version left it:
    // the same state.json, snapshots named after pairs and sides.
    let snapshots = hub.work.state_dir().join("snapshots");
    for (pair, side, object) in [
        ("people", "left", "us.contacts"),
        ("people", "right", "pd.persons"),
        ("contacts", "left", "us.contacts"),
        ("contacts", "right", "eu.contacts"),
        ("deals", "left", "us.deals"),
        ("deals", "right", "eu.deals"),
    ] {
        std::fs::copy(
            snapshots.join(format!("{object}.json")),
            snapshots.join(format!("{pair}.{side}.json")),
        )
        .expect("copy snapshot");
    }
    for object in [
        "us.contacts",
        "pd.persons",
        "eu.contacts",
        "us.deals",
        "eu.deals",
    ] {
        std::fs::remove_file(snapshots.join(format!("{object}.json"))).expect("remove");
    }

    hub.assert_run_writes_nothing(&["sync"]);
    // The one-time full pull: every object listed again.
    let us = hub.hubspot("us").server().counts_by_endpoint();
    assert_eq!(
        requests_matching(&us, "GET /crm/objects/2026-09/contacts"),
        2
    );
    assert_eq!(hub.hubspot("eu").records("contacts").len(), 125);
    assert_eq!(hub.hubspot("us").records("contacts").len(), 125);
    assert_eq!(hub.pipedrive("pd").persons().len(), 125);
    let mut left: Vec<String> = std::fs::read_dir(&snapshots)
        .expect("snapshots")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "eu.contacts.json",
            "eu.deals.json",
            "pd.persons.json",
            "us.contacts.json",
            "us.deals.json"
        ]
    );
}

#[test]
fn against_pipedrive_reporting_20_per_2s_150_creates_run_at_19_per_window_with_no_429() {
    // No requests_per_10s: the default (16 per 2 s) is below what the
    // server reports, so the pace must go up to it.
    let f = hs_and_pd()
        .default_pace("pd")
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
"#,
        )
        .build();
    let (hs, pd) = (f.hubspot("hs"), f.pipedrive("pd"));
    pd.set_rate_limit(20, 2_000);
    let contacts = (0..150)
        .map(|i| {
            BTreeMap::from([
                ("email".to_string(), format!("p{i}@example.com")),
                ("firstname".to_string(), format!("P{i}")),
            ])
        })
        .collect();
    hs.seed_many("contacts", contacts);
    f.run(&["sync"]).expect(0);
    assert_eq!(pd.persons().len(), 150);
    assert_eq!(
        pd.server().counts_by_endpoint()["POST /api/v2/persons"],
        150
    );
    assert_eq!(pd.rate_limited_count(), 0);
    // 20 reported, less the margin of one.
    assert_eq!(pd.server().busiest_window(Duration::from_secs(2)), 19);
}

#[test]
fn against_hubspot_reporting_15_per_1000ms_both_accounts_run_at_14_per_second_with_no_429() {
    let f = Accounts::new()
        .hubspot("us")
        .hubspot("eu")
        .toml(
            r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
[pairs.fields]
email = "email"
"#,
        )
        .build();
    let (us, eu) = (f.hubspot("us"), f.hubspot("eu"));
    for fake in [us, eu] {
        fake.set_rate_limit(15, 1_000);
    }
    let contacts = (0..3_000)
        .map(|i| BTreeMap::from([("email".to_string(), format!("c{i}@example.com"))]))
        .collect();
    us.seed_many("contacts", contacts);
    f.run(&["sync"]).expect(0);
    assert_eq!(eu.records("contacts").len(), 3_000);
    for (name, fake) in [("us", us), ("eu", eu)] {
        let counts = fake.server().counts_by_endpoint();
        assert!(fake.server().request_count() > 30, "{name}: {counts:?}");
        assert_eq!(fake.rate_limited_count(), 0, "{name}: {counts:?}");
        // 15 reported per 1000 ms, less the margin of one.
        assert_eq!(
            fake.server().busiest_window(Duration::from_millis(1_000)),
            14,
            "{name}"
        );
    }
}
