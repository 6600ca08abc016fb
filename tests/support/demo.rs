//! `cargo run --example demo`: the main job against embedded fake accounts
//! (two HubSpot, one Pipedrive) with sample data, no account needed. It
//! starts the fakes (`demo_accounts.rs`, which the terminal tests share),
//! writes `sync.toml.example` pointed at them into a temporary directory,
//! then runs `crmsync diff`, `crmsync sync` (twice)
//! and `crmsync diff` again, printing what each prints, and finally shows
//! how records arrived on the other sides: a contact and a deal with their
//! company, as a Pipedrive person and deal in its organization, and a note
//! on each, on that person and that deal.

#[path = "mod.rs"]
mod support;

use clap::Parser;
use crmsync::cli::Cli;
use crmsync::progress::Progress;
use serde_json::json;
use support::demo_accounts::{self, DemoAccounts};

fn main() -> anyhow::Result<()> {
    // SAFETY: set before any other thread exists (the fakes start below).
    for (name, token) in demo_accounts::TOKENS {
        unsafe { std::env::set_var(name, token) };
    }
    let DemoAccounts {
        us,
        eu,
        pd,
        mia,
        work,
    } = DemoAccounts::start();
    let config = work.config_path();

    let progress = Progress::init(0, false, crmsync::progress::ProgressMode::Auto, None);
    let steps = [
        (
            "diff",
            "What would change (exit 3: changes waiting; nothing is written):",
        ),
        (
            "sync",
            "Apply it. Companies go first, so Ann and the Acme renewal reach Pipedrive in the Acme Corp organization; Mia comes from Pipedrive into us (at Initech) through `people`, and on to eu through `contacts`, in this one run:",
        ),
        (
            "sync",
            "Mia reached eu in the first run. Left for this one: Bo's phone, which came into us from eu after `people` ran, goes on to Pipedrive, and the Initech deal that came through us gets its contact and company on eu:",
        ),
        ("diff", "Everything is in step (exit 0):"),
    ];
    for (n, (step, note)) in steps.into_iter().enumerate() {
        // Cron runs are minutes apart; these follow each other within a
        // second, and a new run cannot know what the last one sent. A pause
        // gives each the fresh per-second search window a cron run has.
        if n > 0 {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        println!("\n# {note}\n$ crmsync {step}");
        let cli = Cli::parse_from(["crmsync", "--config", config.to_str().unwrap(), step]);
        let result = crmsync::run(&cli, &progress);
        if let Err(e) = &result {
            println!("crmsync: error: {e:#}");
        }
        println!("(exit status {})", crmsync::exit::status_of(&result) as u8);
    }
    let ann = &eu.find("contacts", "email", "ann.lee@example.com")[0];
    println!("\nOn eu, ann.lee@example.com is now: {:?}", ann.properties);
    let mia_on_eu = &eu.find("contacts", "email", "mia.park@example.com")[0];
    println!("On eu, Mia (from pd) is: {:?}", mia_on_eu.properties);
    let mia = pd.person(mia).expect("seeded");
    println!("On pd, Mia keeps both her emails: {}", mia["emails"]);
    // Ann and the Acme renewal were seeded in us at Acme Corp; on Pipedrive
    // they arrive in its organization.
    let org_name = |id: &serde_json::Value| {
        id.as_i64()
            .and_then(|id| pd.organization(id))
            .map_or("none".to_string(), |o| o["name"].to_string())
    };
    let ann_on_pd = pd
        .persons()
        .into_iter()
        .find(|p| p["emails"][0]["value"] == json!("ann.lee@example.com"))
        .expect("Ann reached pd");
    println!(
        "On pd, Ann (from us) is in organization {}",
        org_name(&ann_on_pd["org_id"])
    );
    let renewal = pd
        .deals()
        .into_iter()
        .find(|d| d["title"] == json!("Acme renewal"))
        .expect("the renewal reached pd");
    println!(
        "On pd, the Acme renewal (from us) is in organization {} with person {}",
        org_name(&renewal["org_id"]),
        renewal["person_id"]
    );
    for note in pd.notes() {
        println!(
            "On pd, the note {} (from us, {}) is on person {} and deal {}",
            note["content"], note["add_time"], note["person_id"], note["deal_id"]
        );
    }
    let mia_on_us = &us.find("contacts", "email", "mia.park@example.com")[0];
    let companies: Vec<String> = us
        .associated_ids("contacts", &mia_on_us.id, "companies")
        .iter()
        .filter_map(|id| us.record("companies", id))
        .map(|c| c.properties["name"].clone())
        .collect();
    println!("On us, Mia (from pd) is at {companies:?}");
    println!(
        "Requests the fake accounts served: us {}, eu {}, pd {}.",
        us.server().request_count(),
        eu.server().request_count(),
        pd.server().request_count()
    );
    Ok(())
}
