//! End-to-end scenarios, by theme.

mod companies;
mod config_and_exit;
mod consolidation;
mod contract;
mod cron;
mod forecast;
mod hub;
mod hubspot_sync;
mod init;
mod interrupts;
mod merges;
mod organizations;
mod pipedrive_sync;
mod pipedrive_writes;
mod plans;
mod quiet_and_terminal;
mod reliability;
mod vendor_variance;

use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::fake_pipedrive::FakePipedrive;
use crate::support::harness::{EU_TOKEN, PD_TOKEN, US_TOKEN, Workdir};
use std::collections::BTreeMap;

/// Two HubSpot accounts, `us` (left) and `eu` (right), and a work directory
/// whose mapping file syncs contacts both ways and deals from us to eu, with
/// stage, pipeline and owner value maps.
pub struct TwoAccounts {
    pub us: FakeHubSpot,
    pub eu: FakeHubSpot,
    pub work: Workdir,
    pub us_owner: String,
    pub eu_owner: String,
}

pub const OWNER_EMAIL: &str = "sam@corp.example";

impl TwoAccounts {
    pub fn new() -> TwoAccounts {
        TwoAccounts::with_conflict("newest")
    }

    pub fn with_conflict(policy: &str) -> TwoAccounts {
        let us = FakeHubSpot::start(US_TOKEN);
        let eu = FakeHubSpot::start(EU_TOKEN);
        let us_owner = us.add_owner(OWNER_EMAIL, "Sam", "Lee");
        eu.add_owner("someone.else@corp.example", "Other", "Person");
        let eu_owner = eu.add_owner(OWNER_EMAIL, "Sam", "Lee");
        eu.add_pipeline(
            "eu-sales",
            "EU Sales",
            &[
                ("eu-appointment", "Appointment"),
                ("eu-qualified", "Qualified"),
                ("eu-won", "Won"),
                ("eu-lost", "Lost"),
            ],
        );
        let work = Workdir::new()
            .with_env("HUBSPOT_US_TOKEN", US_TOKEN)
            .with_env("HUBSPOT_EU_TOKEN", EU_TOKEN);
        work.write_config(&two_account_config(&us.url(), &eu.url(), policy));
        TwoAccounts {
            us,
            eu,
            work,
            us_owner,
            eu_owner,
        }
    }

    /// Forgets both fakes' request logs.
    pub fn reset_requests(&self) {
        self.us.server().reset_requests();
        self.eu.server().reset_requests();
    }

    /// Write requests made to both accounts since the last reset.
    pub fn writes(&self) -> usize {
        self.us.server().write_request_count() + self.eu.server().write_request_count()
    }

    /// With every fault cleared, one more sync exits 0 and writes nothing.
    #[track_caller]
    pub fn assert_next_sync_writes_nothing(&self) {
        self.us.server().clear_faults();
        self.eu.server().clear_faults();
        self.reset_requests();
        self.work.run(&["sync"]).expect(0);
        assert_eq!(
            self.writes(),
            0,
            "writes: us {:?} eu {:?}",
            self.us.server().counts_by_endpoint(),
            self.eu.server().counts_by_endpoint()
        );
    }

    /// Seeds `n` contacts on us: c{i}@example.com, First{i}, Last{i}, phone.
    pub fn seed_us_contacts(&self, n: usize) -> Vec<String> {
        let records = (0..n)
            .map(|i| {
                BTreeMap::from([
                    ("email".to_string(), format!("c{i}@example.com")),
                    ("firstname".to_string(), format!("First{i}")),
                    ("lastname".to_string(), format!("Last{i}")),
                    ("phone".to_string(), format!("+1555{i:06}")),
                ])
            })
            .collect();
        self.us.seed_many("contacts", records)
    }

    /// Seeds `n` deals on us, cycling through the mapped stages.
    pub fn seed_us_deals(&self, n: usize) -> Vec<String> {
        let stages = [
            "appointmentscheduled",
            "qualifiedtobuy",
            "closedwon",
            "closedlost",
        ];
        let records = (0..n)
            .map(|i| {
                BTreeMap::from([
                    ("dealname".to_string(), format!("Deal {i}")),
                    ("amount".to_string(), format!("{}", (i + 1) * 100)),
                    ("pipeline".to_string(), "default".to_string()),
                    (
                        "dealstage".to_string(),
                        stages[i % stages.len()].to_string(),
                    ),
                    ("hubspot_owner_id".to_string(), self.us_owner.clone()),
                ])
            })
            .collect();
        self.us.seed_many("deals", records)
    }
}

/// The `[systems]` of two HubSpot accounts, `us` and `eu`.
pub fn hubspot_systems(us_url: &str, eu_url: &str) -> String {
    format!(
        r#"[systems.us]
kind = "hubspot"
token_env = "HUBSPOT_US_TOKEN"
base_url = "{us_url}"

[systems.eu]
kind = "hubspot"
token_env = "HUBSPOT_EU_TOKEN"
base_url = "{eu_url}"
"#
    )
}

/// The `[systems]` of a HubSpot account `hs` and a Pipedrive account `pd`
/// (tokens in `HUBSPOT_TOKEN` and `PIPEDRIVE_TOKEN`); `pace` is a line of
/// Pipedrive's table (a `requests_per_10s`, or nothing for the default).
pub fn hubspot_and_pipedrive_systems(hs_url: &str, pd_url: &str, pace: &str) -> String {
    format!(
        r#"[systems.hs]
kind = "hubspot"
token_env = "HUBSPOT_TOKEN"
base_url = "{hs_url}"

[systems.pd]
kind = "pipedrive"
token_env = "PIPEDRIVE_TOKEN"
base_url = "{pd_url}"
{pace}
"#
    )
}

/// A work directory holding the tokens of a HubSpot account `hs` and a
/// Pipedrive account `pd`, and a mapping file naming them (Pipedrive paced
/// at 10,000 requests per 10 s, for fakes set to take that) followed by
/// `pairs`.
pub fn hubspot_and_pipedrive(hs: &FakeHubSpot, pd: &FakePipedrive, pairs: &str) -> Workdir {
    hubspot_and_pipedrive_paced(hs, pd, "requests_per_10s = 10000", pairs)
}

/// `hubspot_and_pipedrive` with `pace` (a `requests_per_10s` line, or
/// nothing for the default) in Pipedrive's table.
pub fn hubspot_and_pipedrive_paced(
    hs: &FakeHubSpot,
    pd: &FakePipedrive,
    pace: &str,
    pairs: &str,
) -> Workdir {
    let work = Workdir::new()
        .with_env("HUBSPOT_TOKEN", US_TOKEN)
        .with_env("PIPEDRIVE_TOKEN", PD_TOKEN);
    let systems = hubspot_and_pipedrive_systems(&hs.url(), &pd.url(), pace);
    work.write_config(&format!("{systems}{pairs}"));
    work
}

pub fn two_account_config(us_url: &str, eu_url: &str, policy: &str) -> String {
    let systems = hubspot_systems(us_url, eu_url);
    format!(
        r#"# two HubSpot accounts
{systems}
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
direction = "both"
match = "email"
conflict = "{policy}"
[pairs.fields]
email = "email"
firstname = "firstname"
lastname = "lastname"
phone = "phone"

[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
direction = "left-to-right"
[pairs.fields]
dealname = "dealname"
amount = "amount"
pipeline = "pipeline"
dealstage = "dealstage"
hubspot_owner_id = "hubspot_owner_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
[pairs.values.pipeline]
default = "eu-sales"
[pairs.values.dealstage]
appointmentscheduled = "eu-appointment"
qualifiedtobuy = "eu-qualified"
closedwon = "eu-won"
closedlost = "eu-lost"
"#
    )
}

/// The id of the one record of `object` whose `property` equals `value`
/// (case-insensitively).
#[track_caller]
pub fn id_of(fake: &FakeHubSpot, object: &str, property: &str, value: &str) -> String {
    let found = fake.find(object, property, value);
    assert_eq!(found.len(), 1, "one {object} with {property} = {value}");
    found[0].id.clone()
}

/// Requests whose `"METHOD /path"` contains `needle`.
pub fn requests_matching(counts: &BTreeMap<String, usize>, needle: &str) -> usize {
    counts
        .iter()
        .filter(|(k, _)| k.contains(needle))
        .map(|(_, n)| n)
        .sum()
}
