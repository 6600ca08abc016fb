//! End-to-end scenarios, by theme.

mod adversarial;
mod budgets;
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
mod notes;
mod organizations;
mod pipedrive_sync;
mod pipedrive_writes;
mod plans;
mod quiet_and_terminal;
mod reliability;
mod schema;
mod scope;
mod streaming;
mod vendor_variance;

use crate::support::accounts::{Accounts, Fixture};
use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::fake_pipedrive::FakePipedrive;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub const OWNER_EMAIL: &str = "sam@corp.example";

/// Two HubSpot accounts, `us` and `eu`, with the owner `OWNER_EMAIL` on
/// both (on eu after another one, so the ids differ) and, on eu, an
/// "EU Sales" pipeline; no pairs yet.
pub fn us_and_eu() -> Accounts {
    Accounts::new()
        .hubspot("us")
        .hubspot("eu")
        .owner("us", OWNER_EMAIL, "Sam Lee")
        .owner("eu", "someone.else@corp.example", "Other Person")
        .owner("eu", OWNER_EMAIL, "Sam Lee")
        .setup(|f| {
            f.hubspot("eu").add_pipeline(
                "eu-sales",
                "EU Sales",
                &[
                    ("eu-appointment", "Appointment"),
                    ("eu-qualified", "Qualified"),
                    ("eu-won", "Won"),
                    ("eu-lost", "Lost"),
                ],
            );
        })
}

/// `us_and_eu` with a mapping file that syncs contacts both ways under
/// `conflict = "newest"` and deals from us to eu, with stage, pipeline and
/// owner value maps.
pub fn two_accounts() -> Fixture {
    two_accounts_under("newest")
}

/// `two_accounts` under the conflict policy `policy`.
pub fn two_accounts_under(policy: &str) -> Fixture {
    two_account_mapping(policy).build()
}

/// The builder of `two_accounts_under(policy)`, for more TOML after it.
pub fn two_account_mapping(policy: &str) -> Accounts {
    us_and_eu()
        .head("# two HubSpot accounts\n")
        .toml(&format!("\n{}", two_account_pairs(policy)))
}

/// HubSpot (`hs`) and Pipedrive (`pd`), with no pairs yet.
pub fn hs_and_pd() -> Accounts {
    Accounts::new().hubspot("hs").pipedrive("pd")
}

/// HubSpot companies and contacts to Pipedrive organizations and persons,
/// the contacts' company through the companies pair.
pub fn companies_and_contacts(merges: &str) -> Fixture {
    hs_and_pd()
        .toml(&format!(
            r#"
[[pairs]]
name = "companies"
left = "hs.companies"
right = "pd.organizations"
match = "name"
deletes = "propagate"
merges = "{merges}"
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
primary_company = "org_id"
[pairs.values]
primary_company = "link:companies"
"#
        ))
        .build()
}

/// Seeds `n` contacts on us: c{i}@example.com, First{i}, Last{i}, phone.
pub fn seed_us_contacts(t: &Fixture, n: usize) -> Vec<String> {
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
    t.hubspot("us").seed_many("contacts", records)
}

/// Seeds `n` deals on us, cycling through the mapped stages, owned by
/// `OWNER_EMAIL`.
pub fn seed_us_deals(t: &Fixture, n: usize) -> Vec<String> {
    let stages = [
        "appointmentscheduled",
        "qualifiedtobuy",
        "closedwon",
        "closedlost",
    ];
    let owner = t.owner("us", OWNER_EMAIL);
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
                ("hubspot_owner_id".to_string(), owner.clone()),
            ])
        })
        .collect();
    t.hubspot("us").seed_many("deals", records)
}

/// The pairs of `two_accounts`: contacts both ways under `policy`, deals
/// from us to eu.
pub fn two_account_pairs(policy: &str) -> String {
    format!(
        r#"[[pairs]]
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

/// A record's properties from (name, value) pairs.
pub fn props(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// `ids` in order, to compare sets of ids.
pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The value of a Pipedrive person's primary entry in `list` (`emails` or
/// `phones`), else of its first; empty when it has none.
fn primary(person: &Value, list: &str) -> String {
    let entries = person[list].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .find(|e| e["primary"] == json!(true))
        .or(entries.first())
        .and_then(|e| e["value"].as_str())
        .unwrap_or("")
        .to_string()
}

/// A Pipedrive person's primary email (see `primary`).
pub fn primary_email(person: &Value) -> String {
    primary(person, "emails")
}

/// A Pipedrive person's primary phone (see `primary`).
pub fn primary_phone(person: &Value) -> String {
    primary(person, "phones")
}

/// The one Pipedrive deal titled `title`.
#[track_caller]
pub fn deal_titled(pd: &FakePipedrive, title: &str) -> Value {
    let mut found: Vec<Value> = pd
        .deals()
        .into_iter()
        .filter(|d| d["title"] == json!(title))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one Pipedrive deal titled {title}: {found:?}"
    );
    found.remove(0)
}

/// Every live record's `property` on `fake` (empty where unset).
pub fn values_of(fake: &FakeHubSpot, object: &str, property: &str) -> Vec<String> {
    fake.records(object)
        .iter()
        .map(|r| r.properties.get(property).cloned().unwrap_or_default())
        .collect()
}

/// How many values occur more than once, case aside (each extra copy
/// counts).
pub fn duplicates(values: impl IntoIterator<Item = String>) -> usize {
    let values: Vec<String> = values.into_iter().map(|v| v.to_lowercase()).collect();
    values.len() - values.iter().collect::<BTreeSet<_>>().len()
}

/// `fake` holds `count` records of `object`, each `property` value once
/// (case aside).
#[track_caller]
pub fn assert_each_once(fake: &FakeHubSpot, object: &str, property: &str, count: usize) {
    let all: Vec<String> = values_of(fake, object, property)
        .iter()
        .map(|v| v.to_lowercase())
        .collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (count, count),
        "{object}: {count} records, no {property} twice"
    );
}
