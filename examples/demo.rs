//! `cargo run --example demo`: the main job against two embedded fake
//! HubSpot accounts with sample data, no account needed. It starts the fakes,
//! writes a mapping file in a temporary directory, then runs
//! `crmsync diff`, `crmsync sync` and `crmsync diff` again, printing what
//! each prints, and finally shows a record as it arrived in the second
//! account.

#[path = "../tests/support/mod.rs"]
mod support;

use clap::Parser;
use crmsync::cli::Cli;
use crmsync::progress::Progress;
use std::collections::BTreeMap;
use support::fake_hubspot::FakeHubSpot;

const US_TOKEN: &str = "demo-us-token";
const EU_TOKEN: &str = "demo-eu-token";

fn main() -> anyhow::Result<()> {
    // SAFETY: set before any other thread exists (the fakes start below).
    unsafe {
        std::env::set_var("HUBSPOT_US_TOKEN", US_TOKEN);
        std::env::set_var("HUBSPOT_EU_TOKEN", EU_TOKEN);
    }
    let us = FakeHubSpot::start(US_TOKEN);
    let eu = FakeHubSpot::start(EU_TOKEN);
    let us_owner = us.add_owner("sam@corp.example", "Sam", "Lee");
    eu.add_owner("sam@corp.example", "Sam", "Lee");
    seed(&us, &eu, &us_owner);

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("sync.toml");
    let example = include_str!("../sync.toml.example");
    // The shipped example, pointed at the local fakes.
    let text = example
        .replace(
            "# base_url = \"https://api.hubapi.com\"   # US",
            &format!("base_url = \"{}\"", us.url()),
        )
        .replace(
            "# base_url = \"https://api.hubapi.com\"   # EU",
            &format!("base_url = \"{}\"", eu.url()),
        );
    std::fs::write(&config, text)?;

    let progress = Progress::init(0, false, crmsync::progress::ProgressMode::Auto);
    for step in ["diff", "sync", "diff"] {
        println!("\n$ crmsync {step}");
        let cli = Cli::parse_from(["crmsync", "--config", config.to_str().unwrap(), step]);
        let result = crmsync::run(&cli, &progress);
        if let Err(e) = &result {
            println!("crmsync: error: {e:#}");
        }
        println!("(exit status {})", crmsync::exit::status_of(&result) as u8);
    }
    let ann = &eu.find("contacts", "email", "ann.lee@example.com")[0];
    println!(
        "\nOn the eu account, ann.lee@example.com is now: {:?}",
        ann.properties
    );
    println!(
        "Requests the fake accounts served: us {}, eu {}.",
        us.server().request_count(),
        eu.server().request_count()
    );
    Ok(())
}

fn seed(us: &FakeHubSpot, eu: &FakeHubSpot, owner: &str) {
    let people = [
        ("Ann", "Lee"),
        ("Bo", "Chen"),
        ("Cy", "Diaz"),
        ("Di", "Evans"),
        ("Ed", "Fox"),
        ("Flo", "Gray"),
    ];
    let contacts = people
        .iter()
        .map(|(first, last)| {
            BTreeMap::from([
                (
                    "email".to_string(),
                    format!(
                        "{}.{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                ),
                ("firstname".to_string(), first.to_string()),
                ("lastname".to_string(), last.to_string()),
            ])
        })
        .collect();
    us.seed_many("contacts", contacts);
    // One person already exists on eu, with another phone: linked, not duplicated.
    eu.seed(
        "contacts",
        &[
            ("email", "BO.CHEN@example.com"),
            ("phone", "+44 20 7946 0001"),
        ],
    );
    for (name, stage) in [
        ("Acme renewal", "appointmentscheduled"),
        ("Globex pilot", "closedwon"),
    ] {
        us.seed(
            "deals",
            &[
                ("dealname", name),
                ("amount", "12000"),
                ("dealstage", stage),
                ("hubspot_owner_id", owner),
            ],
        );
    }
}
