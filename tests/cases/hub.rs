//! A hub: one HubSpot account (`us`) kept in step with a second HubSpot
//! account (`eu`) and with Pipedrive. Each account object is read once per
//! run, whatever number of pairs name it, and a record one pair brings into
//! the hub travels on through the pairs after it in the same run. Also: the
//! client paces at the limit each server reports, up or down from the
//! configured pace, over the interval the server names, with no 429.

use super::{TwoAccounts, requests_matching, two_account_config};
use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::fake_pipedrive::FakePipedrive;
use crate::support::harness::{EU_TOKEN, PD_TOKEN, US_TOKEN, Workdir};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The two-account mapping with a `people` pair (us.contacts ↔ pd.persons)
/// in front of it, so the people it brings into us go on to eu in the run.
fn hub_config(us: &str, eu: &str, pd: &str) -> String {
    let two = two_account_config(us, eu, "newest");
    let (systems, pairs) = two.split_at(two.find("[[pairs]]").expect("pairs"));
    format!(
        r#"{systems}
[systems.pd]
kind = "pipedrive"
token_env = "PIPEDRIVE_TOKEN"
base_url = "{pd}"
requests_per_10s = 10000

[[pairs]]
name = "people"
left = "us.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"

{pairs}"#
    )
}

struct Hub {
    t: TwoAccounts,
    pd: FakePipedrive,
}

impl Hub {
    /// 120 contacts and 30 deals on us; 5 people only on Pipedrive.
    fn new() -> Hub {
        let mut t = TwoAccounts::new();
        let pd = FakePipedrive::start_unthrottled(PD_TOKEN);
        t.work.env.push(("PIPEDRIVE_TOKEN".into(), PD_TOKEN.into()));
        t.work
            .write_config(&hub_config(&t.us.url(), &t.eu.url(), &pd.url()));
        t.seed_us_contacts(120);
        t.seed_us_deals(30);
        for i in 0..5 {
            pd.seed_person(json!({
                "name": format!("Pia{i} Drive"),
                "emails": [{"value": pipedrive_only(i), "primary": true}],
            }));
        }
        Hub { t, pd }
    }

    fn reset_requests(&self) {
        self.t.reset_requests();
        self.pd.server().reset_requests();
    }
}

fn pipedrive_only(i: usize) -> String {
    format!("pia{i}@drive.example")
}

#[test]
fn a_hub_lists_each_us_object_once_and_brings_pipedrive_people_to_eu_in_one_run() {
    let hub = Hub::new();
    hub.t.work.run(&["sync"]).expect(0);

    let us = hub.t.us.server().counts_by_endpoint();
    eprintln!("first sync, us: {us:?}");
    // Three pairs name us.contacts or us.deals; each is listed once:
    // ⌈120/100⌉ contact pages and one deal page.
    assert_eq!(
        requests_matching(&us, "GET /crm/objects/2026-09/contacts"),
        2
    );
    assert_eq!(requests_matching(&us, "GET /crm/objects/2026-09/deals"), 1);
    assert_eq!(
        hub.pd.server().counts_by_endpoint()["GET /api/v2/persons"],
        1
    );

    for i in 0..5 {
        let email = pipedrive_only(i);
        let on_eu = hub.t.eu.find("contacts", "email", &email);
        assert_eq!(on_eu.len(), 1, "{email} reached eu in the first run");
        assert_eq!(on_eu[0].properties["firstname"], format!("Pia{i}"));
        assert_eq!(hub.t.us.find("contacts", "email", &email).len(), 1);
    }
    assert_eq!(hub.t.eu.records("contacts").len(), 125);
    assert_eq!(hub.t.eu.records("deals").len(), 30);
    assert_eq!(hub.pd.persons().len(), 125);

    hub.reset_requests();
    hub.t.work.run(&["sync"]).expect(0);
    let writes = hub.t.writes() + hub.pd.server().write_request_count();
    assert_eq!(
        writes,
        0,
        "second sync: us {:?} eu {:?} pd {:?}",
        hub.t.us.server().counts_by_endpoint(),
        hub.t.eu.server().counts_by_endpoint(),
        hub.pd.server().counts_by_endpoint()
    );
    hub.t.work.run(&["diff"]).expect(0);
}

#[test]
fn a_state_dir_with_snapshots_per_pair_from_before_is_pulled_in_full_once_and_nothing_is_duplicated()
 {
    let hub = Hub::new();
    hub.t.work.run(&["sync"]).expect(0);
    // Put the state directory back the way the previous version left it:
    // the same state.json, snapshots named after pairs and sides.
    let snapshots = hub.t.work.state_dir().join("snapshots");
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

    hub.reset_requests();
    hub.t.work.run(&["sync"]).expect(0);
    assert_eq!(hub.t.writes() + hub.pd.server().write_request_count(), 0);
    // The one-time full pull: every object listed again.
    let us = hub.t.us.server().counts_by_endpoint();
    assert_eq!(
        requests_matching(&us, "GET /crm/objects/2026-09/contacts"),
        2
    );
    assert_eq!(hub.t.eu.records("contacts").len(), 125);
    assert_eq!(hub.t.us.records("contacts").len(), 125);
    assert_eq!(hub.pd.persons().len(), 125);
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
    let hs = FakeHubSpot::start(US_TOKEN);
    let pd = FakePipedrive::start(PD_TOKEN);
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
    // No requests_per_10s: the default (16 per 2 s) is below what the
    // server reports, so the pace must go up to it.
    let work = super::hubspot_and_pipedrive_paced(
        &hs,
        &pd,
        "",
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
    );
    work.run(&["sync"]).expect(0);
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
    let us = FakeHubSpot::start(US_TOKEN);
    let eu = FakeHubSpot::start(EU_TOKEN);
    for fake in [&us, &eu] {
        fake.set_rate_limit(15, 1_000);
    }
    let contacts = (0..3_000)
        .map(|i| BTreeMap::from([("email".to_string(), format!("c{i}@example.com"))]))
        .collect();
    us.seed_many("contacts", contacts);
    let work = Workdir::new()
        .with_env("HUBSPOT_US_TOKEN", US_TOKEN)
        .with_env("HUBSPOT_EU_TOKEN", EU_TOKEN);
    work.write_config(&format!(
        r#"
[systems.us]
kind = "hubspot"
token_env = "HUBSPOT_US_TOKEN"
base_url = "{}"

[systems.eu]
kind = "hubspot"
token_env = "HUBSPOT_EU_TOKEN"
base_url = "{}"

[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
[pairs.fields]
email = "email"
"#,
        us.url(),
        eu.url()
    ));
    work.run(&["sync"]).expect(0);
    assert_eq!(eu.records("contacts").len(), 3_000);
    for (name, fake) in [("us", &us), ("eu", &eu)] {
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
