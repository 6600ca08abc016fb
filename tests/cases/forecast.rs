//! `diff` is `sync`'s plan: on accounts nobody touches in between, what
//! `diff --json` plans is exactly what `sync` then applies, pair by pair and
//! kind by kind, same-run propagation included (a company an earlier pair
//! creates is the organization of the persons a later pair creates; a
//! person Pipedrive brings into one HubSpot account goes on to the other),
//! with nothing `invalid`. A plan saved by `diff --out` holds those records
//! as forward references, which `push` resolves as the creates answer, and
//! refuses whole when one names a create the plan no longer holds.

use super::{hs_and_pd, props, seed_us_contacts};
use crate::support::accounts::{Accounts, Fixture};
use crate::support::harness::{Workdir, read};
use crate::support::server::{Fault, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// (pair, action) → number of items.
type Counts = BTreeMap<(String, String), usize>;

/// The items of a `--json diff` plan (or a saved one), counted by pair and
/// action; baselines (no change) are left out, as the printed plan does.
fn planned(plan: &Value) -> Counts {
    let mut counts = Counts::new();
    for pair in plan["pairs"].as_array().expect("pairs") {
        for item in pair["items"].as_array().expect("items") {
            let action = item["action"].as_str().unwrap().to_string();
            if action != "baseline" {
                *counts
                    .entry((pair["name"].as_str().unwrap().to_string(), action))
                    .or_default() += 1;
            }
        }
    }
    counts
}

/// The outcomes of a `--report` file done, counted by pair and action
/// (the caller checks the run's exit status: 0 when nothing failed).
fn applied(report: &Value) -> Counts {
    let mut counts = Counts::new();
    for (pair, sides) in report["counts"].as_object().expect("counts") {
        for actions in sides.as_object().unwrap().values() {
            for (action, results) in actions.as_object().unwrap() {
                for (result, n) in results.as_object().unwrap() {
                    if result != "done" {
                        continue;
                    }
                    *counts.entry((pair.clone(), action.clone())).or_default() +=
                        n.as_u64().unwrap() as usize;
                }
            }
        }
    }
    counts
}

/// A plan's pairs, without the modified times planned for records the run
/// creates (the time of planning; such a record has no modified time yet).
fn comparable(plan: &Value) -> Value {
    let mut pairs = plan["pairs"].clone();
    for pair in pairs.as_array_mut().unwrap() {
        for item in pair["items"].as_array_mut().unwrap() {
            let planned = ["left_id", "right_id"]
                .iter()
                .any(|id| item[id].as_str().is_some_and(|id| id.starts_with("new:")));
            if planned {
                item.as_object_mut().unwrap().remove("expect");
            }
        }
    }
    pairs
}

fn total(counts: &Counts, action: &str) -> usize {
    counts
        .iter()
        .filter(|((_, a), _)| a == action)
        .map(|(_, n)| n)
        .sum()
}

/// `diff --json` (exit 3), `sync --dry-run` (the same plan), then `sync
/// --report`: the plan's counts and the applied counts are equal, and
/// nothing is invalid. Returns the counts.
#[track_caller]
fn assert_sync_applies_the_diff(work: &Workdir) -> Counts {
    let diff = work.run(&["--json", "diff"]).expect(3);
    let plan: Value = serde_json::from_str(&diff.stdout).expect("one JSON plan");
    let planned = planned(&plan);
    let dry_run = work.run(&["--json", "sync", "--dry-run"]).expect(3);
    let dry_plan: Value = serde_json::from_str(&dry_run.stdout).expect("one JSON plan");
    assert_eq!(
        comparable(&dry_plan),
        comparable(&plan),
        "sync --dry-run shows the plan diff shows"
    );
    let sync = work.run(&["sync", "--report", "report.json"]);
    let report: Value = serde_json::from_str(&read(&work.path("report.json"))).unwrap();
    let summary = |counts: &Counts| {
        ["create", "update", "associate", "link", "invalid"]
            .map(|action| format!("{} {action}", total(counts, action)))
            .join(", ")
    };
    eprintln!("diff planned: {}", summary(&planned));
    eprintln!("sync applied: {}", summary(&applied(&report)));
    assert_eq!(total(&planned, "invalid"), 0, "{planned:?}");
    sync.expect(0);
    assert_eq!(
        applied(&report),
        planned,
        "applied (left) vs planned (right)"
    );
    planned
}

const COMPANIES: usize = 8;
const CONTACTS: usize = 24;
const DEALS: usize = 12;

/// A HubSpot account with companies, contacts at them and deals with a
/// contact and a company, and a Pipedrive company holding some of the same
/// and some of its own, with the mapping `init --write` made for them: the
/// first sync of a fresh mapping.
fn fresh() -> Fixture {
    let f = hs_and_pd()
        .owner("hs", "sam@corp.example", "Sam Lee")
        // Pipedrive's default user, who owns what is made there without
        // an owner, works in HubSpot too.
        .owner("hs", "owner@example.com", "Pat Owner")
        .owner("pd", "sam@corp.example", "Sam Lee")
        .build();
    let (hs, pd) = (f.hubspot("hs"), f.pipedrive("pd"));
    let owner = f.owner("hs", "sam@corp.example");
    let pd_sam = f.user("pd", "sam@corp.example");
    let sales = pd.add_pipeline("Sales Pipeline");
    let mut stages = BTreeMap::new();
    for (hubspot, label) in [
        ("appointmentscheduled", "Appointment scheduled"),
        ("qualifiedtobuy", "Qualified to buy"),
        ("closedwon", "Closed won"),
    ] {
        stages.insert(hubspot, pd.add_stage(sales, label));
    }
    let companies = hs.seed_many(
        "companies",
        (0..COMPANIES)
            .map(|i| {
                props(&[
                    ("name", format!("Company {i}")),
                    ("domain", format!("co{i}.example")),
                ])
            })
            .collect(),
    );
    let contacts = hs.seed_many(
        "contacts",
        (0..CONTACTS)
            .map(|i| {
                props(&[
                    ("email", format!("c{i}@example.com")),
                    ("firstname", format!("First{i}")),
                    ("lastname", format!("Last{i}")),
                    ("hubspot_owner_id", owner.clone()),
                ])
            })
            .collect(),
    );
    for (i, contact) in contacts.iter().enumerate() {
        hs.associate_records("contacts", contact, "companies", &companies[i % COMPANIES]);
    }
    let stage_names: Vec<&str> = stages.keys().copied().collect();
    let deals = hs.seed_many(
        "deals",
        (0..DEALS)
            .map(|i| {
                props(&[
                    ("dealname", format!("Deal {i}")),
                    ("amount", format!("{}", (i + 1) * 100)),
                    ("pipeline", "default".to_string()),
                    ("dealstage", stage_names[i % stage_names.len()].to_string()),
                    ("hubspot_owner_id", owner.clone()),
                ])
            })
            .collect(),
    );
    for (i, deal) in deals.iter().enumerate() {
        hs.associate(deal, &contacts[i]);
        hs.associate_records("deals", deal, "companies", &companies[i % COMPANIES]);
    }
    // On Pipedrive: two of the companies already (linked, not made
    // again), one of its own with its people and a deal, and two of the
    // HubSpot contacts (linked) in an organization.
    let orgs: Vec<i64> = (0..2)
        .map(|i| {
            pd.seed_organization(json!({
                "name": format!("Company {i}"),
                "website": format!("https://co{i}.example"),
            }))
        })
        .collect();
    let own_org =
        pd.seed_organization(json!({"name": "Pd Only", "website": "https://pd-only.example"}));
    for (i, org) in orgs.iter().enumerate() {
        pd.seed_person(json!({
            "name": format!("First{i} Last{i}"),
            "emails": [{"value": format!("c{i}@example.com"), "primary": true}],
            "org_id": org,
            "owner_id": pd_sam,
        }));
    }
    for i in 0..4 {
        let person = pd.seed_person(json!({
            "name": format!("Pia{i} Drive"),
            "emails": [{"value": format!("pia{i}@drive.example"), "primary": true}],
            "org_id": own_org,
            "owner_id": pd_sam,
        }));
        if i < 2 {
            pd.seed_deal(json!({
                "title": format!("Pd deal {i}"),
                "value": 700,
                "stage_id": stages["closedwon"],
                "owner_id": pd_sam,
                "person_id": person,
                "org_id": own_org,
            }));
        }
    }
    f.run(&["init", "--write"]).expect(0);
    f
}

#[test]
fn a_fresh_hubspot_and_pipedrive_mapping_with_companies_syncs_exactly_what_diff_planned() {
    let f = fresh();
    let hs = f.hubspot("hs");
    let counts = assert_sync_applies_the_diff(&f.work);
    eprintln!("planned = applied: {counts:?}");
    // Every HubSpot company, contact and deal not on Pipedrive is created
    // there, in its organization, and Pipedrive's own come the other way.
    assert_eq!(
        total(&counts, "create"),
        (COMPANIES - 2) + (CONTACTS - 2) + DEALS + 1 + 4 + 2,
        "{counts:?}"
    );
    assert_eq!(total(&counts, "link"), 2 + 2, "{counts:?}");
    let org_of = |email: &str| {
        let person = f
            .pipedrive("pd")
            .persons()
            .into_iter()
            .find(|p| p["emails"][0]["value"] == json!(email))
            .unwrap_or_else(|| panic!("{email} reached Pipedrive"));
        let org = f
            .pipedrive("pd")
            .organization(person["org_id"].as_i64().unwrap())
            .unwrap();
        org["name"].as_str().unwrap().to_string()
    };
    // A contact created in the run that created its company is in it.
    assert_eq!(org_of("c5@example.com"), "Company 5");
    let deal = f
        .pipedrive("pd")
        .deals()
        .into_iter()
        .find(|d| d["title"] == json!("Deal 7"))
        .expect("Deal 7 reached Pipedrive");
    let person = f
        .pipedrive("pd")
        .person(deal["person_id"].as_i64().unwrap())
        .unwrap();
    assert_eq!(person["emails"][0]["value"], json!("c7@example.com"));
    let hs_deal = &hs.find("deals", "dealname", "Pd deal 1")[0];
    let hs_contact = &f
        .hubspot("hs")
        .find("contacts", "email", "pia1@drive.example")[0];
    assert_eq!(hs.associations(&hs_deal.id), vec![hs_contact.id.clone()]);
    f.work.run(&["diff"]).expect(0);
}

#[test]
fn a_pushed_plan_resolves_its_forward_references_and_applies_the_counts_it_showed() {
    let f = fresh();
    f.work.run(&["diff", "--out", "review.json"]).expect(3);
    let saved: Value = serde_json::from_str(&read(&f.work.path("review.json"))).unwrap();
    let planned = planned(&saved);
    assert_eq!(total(&planned, "invalid"), 0, "{planned:?}");
    let text = read(&f.work.path("review.json"));
    assert!(
        text.contains("\"new:companies:right:"),
        "persons wait on the organizations created before them: {text}"
    );
    f.work
        .run(&["push", "review.json", "--report", "report.json"])
        .expect(0);
    let report: Value = serde_json::from_str(&read(&f.work.path("report.json"))).unwrap();
    assert_eq!(applied(&report), planned);
    let c5 = f
        .pipedrive("pd")
        .persons()
        .into_iter()
        .find(|p| p["emails"][0]["value"] == json!("c5@example.com"))
        .expect("c5 reached Pipedrive");
    let org = f
        .pipedrive("pd")
        .organization(c5["org_id"].as_i64().unwrap())
        .unwrap();
    assert_eq!(
        org["name"],
        json!("Company 5"),
        "the reference became the id"
    );
    f.work.run(&["diff"]).expect(0);
}

#[test]
fn a_pushed_plan_whose_forward_reference_names_no_create_is_refused_whole() {
    let f = fresh();
    f.work.run(&["diff", "--out", "review.json"]).expect(3);
    let mut plan: Value = serde_json::from_str(&read(&f.work.path("review.json"))).unwrap();
    // Someone takes the create of Company 5's organization out of the
    // plan; the persons and deals still waiting on it cannot be applied.
    let companies = plan["pairs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == json!("companies"))
        .expect("the companies pair");
    let items = companies["items"].as_array_mut().unwrap();
    let before = items.len();
    // (Companies pair on their domain, which labels their items.)
    items.retain(|i| !(i["action"] == json!("create") && i["label"] == json!("co5.example")));
    assert_eq!(items.len(), before - 1);
    std::fs::write(f.work.path("edited.json"), plan.to_string()).unwrap();
    f.reset_requests();
    let run = f.work.run(&["push", "edited.json"]).expect(6);
    run.assert_stderr_has("the plan is stale");
    run.assert_stderr_has("new:companies:right:");
    assert!(
        run.stderr.contains("diff --out"),
        "names the fix: {}",
        run.stderr
    );
    assert_eq!(f.writes(), 0, "nothing written");
    // The plan as made still applies.
    f.work.run(&["push", "review.json"]).expect(0);
}

/// The shipped example mapping (companies, contacts and deals between two
/// HubSpot accounts, and each with Pipedrive through `us`), seeded so that
/// every pair has records of its own, records to link, and records the
/// pairs before it bring in during the run.
#[test]
fn a_three_account_hub_syncs_exactly_what_diff_planned() {
    let f = Accounts::new()
        .hubspot("us")
        .hubspot("eu")
        .pipedrive("pd")
        .owner("us", "sam@corp.example", "Sam Lee")
        .owner("eu", "sam@corp.example", "Sam Lee")
        .owner("us", "owner@example.com", "Pat Owner")
        .owner("eu", "owner@example.com", "Pat Owner")
        .owner("pd", "sam@corp.example", "Sam Lee")
        .build();
    let (us, eu, pd) = (f.hubspot("us"), f.hubspot("eu"), f.pipedrive("pd"));
    let owner = f.owner("us", "sam@corp.example");
    let companies: Vec<String> = (0..6)
        .map(|i| {
            us.seed(
                "companies",
                &[
                    ("name", format!("Company {i}").as_str()),
                    ("domain", format!("co{i}.example").as_str()),
                    ("website", format!("https://co{i}.example").as_str()),
                ],
            )
        })
        .collect();
    let contacts: Vec<String> = (0..20)
        .map(|i| {
            us.seed(
                "contacts",
                &[
                    ("email", format!("c{i}@example.com").as_str()),
                    ("firstname", format!("First{i}").as_str()),
                    ("lastname", format!("Last{i}").as_str()),
                ],
            )
        })
        .collect();
    for (i, contact) in contacts.iter().enumerate() {
        us.associate_records("contacts", contact, "companies", &companies[i % 6]);
    }
    for i in 0..8 {
        let stage = ["appointmentscheduled", "qualifiedtobuy", "closedwon"][i % 3];
        let deal = us.seed(
            "deals",
            &[
                ("dealname", format!("Deal {i}").as_str()),
                ("amount", "1000"),
                ("dealstage", stage),
                ("hubspot_owner_id", &owner),
            ],
        );
        us.associate(&deal, &contacts[i]);
        us.associate_records("deals", &deal, "companies", &companies[i % 6]);
    }
    // eu already holds one company and two of the contacts (linked).
    eu.seed(
        "companies",
        &[("name", "Company 0"), ("domain", "co0.example")],
    );
    for i in 0..2 {
        eu.seed(
            "contacts",
            &[("email", format!("c{i}@example.com").as_str())],
        );
    }
    // Pipedrive has an organization of its own with three people and a deal.
    let org =
        pd.seed_organization(json!({"name": "Initech", "website": "https://initech.example"}));
    let mut people = Vec::new();
    for i in 0..3 {
        people.push(pd.seed_person(json!({
            "name": format!("Pia{i} Drive"),
            "org_id": org,
            "emails": [{"value": format!("pia{i}@drive.example"), "primary": true}],
        })));
    }
    pd.seed_deal(json!({"title": "Initech upgrade", "value": 4500, "stage_id": 2, "person_id": people[0], "org_id": org}));

    let mut text =
        read(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sync.toml.example"));
    for (marker, url) in [
        ("# base_url = \"https://api.hubapi.com\"   # US", us.url()),
        ("# base_url = \"https://api.hubapi.com\"   # EU", eu.url()),
        (
            "base_url = \"https://yourcompany.pipedrive.com\"   # PD",
            pd.url(),
        ),
    ] {
        assert!(text.contains(marker), "sync.toml.example lost {marker}");
        text = text.replace(marker, &format!("base_url = \"{url}\""));
    }
    text = text.replace("[systems.pd]", "[systems.pd]\nrequests_per_10s = 10000");
    f.write_mapping(&text);

    let counts = assert_sync_applies_the_diff(&f.work);
    eprintln!("planned = applied: {counts:?}");
    // Pipedrive's people reached us and went on to eu in the same run, in
    // their organization's company there.
    for i in 0..3 {
        let email = format!("pia{i}@drive.example");
        let on_eu = eu.find("contacts", "email", &email);
        assert_eq!(on_eu.len(), 1, "{email} reached eu in the first run");
        let names: Vec<String> = eu
            .associated_ids("contacts", &on_eu[0].id, "companies")
            .iter()
            .filter_map(|id| eu.record("companies", id))
            .map(|c| c.properties["name"].clone())
            .collect();
        assert_eq!(names, vec!["Initech".to_string()], "{email} on eu");
    }
    assert_eq!(eu.records("contacts").len(), 23);
    assert_eq!(pd.persons().len(), 23);
    assert_eq!(total(&counts, "invalid"), 0);
}

#[test]
fn a_pushed_item_waiting_on_a_create_the_server_refused_fails_alone_and_the_next_run_finishes_it() {
    let f = fresh();
    let pd = f.pipedrive("pd");
    f.work.run(&["diff", "--out", "review.json"]).expect(3);
    // The first organization Pipedrive is asked to create (Company 2's)
    // is refused; its persons and deals wait on it.
    let body = json!({"success": false, "error": "Validation failed", "errorCode": 400});
    pd.server().inject(
        "POST /api/v2/organizations",
        1,
        Fault::Respond(Response::json(400, &body)),
    );
    let push = f
        .work
        .run(&["push", "review.json", "--report", "report.json"])
        .expect(4);
    let waiting = push
        .stdout
        .lines()
        .find(|l| l.starts_with("! contacts Create failed c2@example.com"))
        .unwrap_or_else(|| panic!("{}", push.stdout));
    assert!(
        waiting.contains("waits for new:companies:right:") && waiting.contains("next run"),
        "{waiting}"
    );
    assert!(
        push.stdout.contains("; 6 failed, 0 skipped;"),
        "{}",
        push.stdout
    );
    let report: Value = serde_json::from_str(&read(&f.work.path("report.json"))).unwrap();
    let failed: Vec<&Value> = report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["result"] != json!("done"))
        .collect();
    let labels: Vec<&str> = failed
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "co2.example",
            "c2@example.com",
            "c10@example.com",
            "c18@example.com",
            "Deal 2",
            "Deal 10",
        ],
        "{failed:#?}"
    );
    for waiting in &failed[1..] {
        let message = waiting["message"].as_str().unwrap();
        assert!(
            message.starts_with("waits for new:companies:right:")
                || message.starts_with("waits for new:contacts:right:"),
            "{message}"
        );
    }
    // Nothing was written with a wrong or empty organization.
    for person in pd.persons() {
        let email = person["emails"][0]["value"].as_str().unwrap().to_string();
        assert!(
            !["c2@example.com", "c10@example.com", "c18@example.com"].contains(&email.as_str())
        );
        if let Some(i) = email
            .strip_prefix('c')
            .and_then(|e| e.strip_suffix("@example.com"))
        {
            let i: usize = i.parse().unwrap();
            let org = f
                .pipedrive("pd")
                .organization(person["org_id"].as_i64().expect("an organization"))
                .unwrap();
            assert_eq!(org["name"], json!(format!("Company {}", i % COMPANIES)));
        }
    }
    // The next run makes what waited, in its organization.
    f.work.run(&["sync"]).expect(0);
    f.work.run(&["diff"]).expect(0);
    let c10 = f
        .pipedrive("pd")
        .persons()
        .into_iter()
        .find(|p| p["emails"][0]["value"] == json!("c10@example.com"))
        .expect("c10 made by the next run");
    let org = f
        .pipedrive("pd")
        .organization(c10["org_id"].as_i64().unwrap())
        .unwrap();
    assert_eq!(org["name"], json!("Company 2"));
}

#[test]
fn one_pair_syncs_exactly_what_diff_planned() {
    let t = super::two_accounts();
    let eu = t.hubspot("eu");
    t.edit_mapping(|config| {
        let deals = config
            .find("[[pairs]]\nname = \"deals\"")
            .expect("deals pair");
        config[..deals].to_string()
    });
    seed_us_contacts(&t, 30);
    for i in 0..3 {
        eu.seed(
            "contacts",
            &[
                ("email", format!("c{i}@example.com").as_str()),
                ("phone", "+44 1"),
            ],
        );
    }
    eu.seed("contacts", &[("email", "eu.only@example.com")]);
    let counts = assert_sync_applies_the_diff(&t.work);
    assert_eq!(total(&counts, "create"), 27 + 1, "{counts:?}");
    assert_eq!(total(&counts, "link"), 3, "{counts:?}");
    t.work.run(&["diff"]).expect(0);
}
