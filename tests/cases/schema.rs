//! `schema = "create"`: custom properties the side a pair writes to lacks
//! are created there (HubSpot → HubSpot, HubSpot → Pipedrive), shown first
//! in the plan, options added before the records that use them, a
//! property the API cannot make reported as one invalid item, and a create
//! whose answer was lost never made twice.

use super::us_and_eu;
use crate::support::accounts::{Accounts, Fixture};
use crate::support::fake_hubspot::{OptionAttributes, PropertyDef};
use crate::support::server::Fault;
use std::collections::BTreeMap;

/// us contacts to eu, mapping four custom properties eu lacks.
const MIGRATION: &str = r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
direction = "left-to-right"
match = "email"
schema = "create"
[pairs.fields]
email = "email"
tier = "tier"
seats = "seats"
nickname = "nickname"
renewal = "renewal"
"#;

const TIERS: [(&str, &str); 3] = [("bronze", "Bronze"), ("silver", "Silver"), ("gold", "Gold")];

fn options(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect()
}

/// Defines the four custom properties on us (in a group of its own) and
/// seeds `n` contacts holding values of each.
fn seed_us(f: &Fixture, n: usize) {
    let us = f.hubspot("us");
    us.define_property(
        "contacts",
        PropertyDef {
            options: options(&TIERS),
            description: "Support tier".into(),
            group: Some("account_details".into()),
            ..PropertyDef::new("tier", "Tier", "enumeration")
        },
    );
    us.define_property("contacts", PropertyDef::new("seats", "Seats", "number"));
    us.define_property(
        "contacts",
        PropertyDef::new("nickname", "Nickname", "string"),
    );
    us.define_property(
        "contacts",
        PropertyDef::new("renewal", "Renewal date", "date"),
    );
    for i in 0..n {
        us.seed(
            "contacts",
            &[
                ("email", &format!("c{i}@example.com")),
                ("tier", TIERS[i % 3].0),
                ("seats", &(i * 5).to_string()),
                ("nickname", &format!("Nick {i}")),
                ("renewal", &format!("2027-01-{:02}", i % 28 + 1)),
            ],
        );
    }
}

fn migration(toml: &str) -> Fixture {
    us_and_eu().toml(toml).build()
}

#[test]
fn hubspot_properties_are_created_with_their_options_and_every_value_is_carried() {
    let f = migration(MIGRATION);
    seed_us(&f, 20);

    let diff = f.run(&["diff"]).expect(3);
    for line in [
        "property  contacts.tier  enumeration (3 options)",
        "property  contacts.seats  number",
        "property  contacts.nickname  text",
        "property  contacts.renewal  date",
    ] {
        diff.assert_stdout_has(line);
    }
    let first = diff
        .stdout
        .find("property  contacts.")
        .expect("a property line");
    let records = diff.stdout.find("create    c0@").expect("a create line");
    assert!(
        first < records,
        "properties are shown first:\n{}",
        diff.stdout
    );
    diff.assert_stdout_has("Plan: 4 property changes, 20 to create");
    assert_eq!(f.writes(), 0, "diff writes nothing");
    assert!(f.hubspot("eu").property("contacts", "tier").is_none());

    let sync = f.run(&["sync"]).expect(0);
    sync.assert_stdout_has("Applied: 4 property changes, 20 created");
    let eu = f.hubspot("eu");
    let tier = eu.property("contacts", "tier").expect("tier made on eu");
    assert_eq!(tier.kind, "enumeration");
    assert_eq!(tier.field_type(), "select");
    assert_eq!(tier.options, options(&TIERS), "options in order");
    assert_eq!(tier.label, "Tier");
    assert_eq!(tier.description, "Support tier");
    assert_eq!(
        tier.group, None,
        "eu has no account_details group: the contact information group"
    );
    for (name, kind) in [
        ("seats", "number"),
        ("nickname", "string"),
        ("renewal", "date"),
    ] {
        let made = eu.property("contacts", name).expect("made on eu");
        assert_eq!(made.kind, kind, "{name}");
    }
    for source in f.hubspot("us").records("contacts") {
        let email = &source.properties["email"];
        let copy = eu.find("contacts", "email", email);
        assert_eq!(copy.len(), 1, "{email}");
        for field in ["tier", "seats", "nickname", "renewal"] {
            assert_eq!(
                copy[0].properties.get(field),
                source.properties.get(field),
                "{email} {field}"
            );
        }
    }

    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn without_schema_create_a_property_the_target_lacks_is_refused_as_before() {
    let f = migration(&MIGRATION.replace("schema = \"create\"\n", ""));
    seed_us(&f, 2);
    let run = f.run(&["diff"]).expect(2);
    run.assert_stderr_has("eu.contacts has no field `tier`");
    assert_eq!(f.writes(), 0);
}

#[test]
fn adding_an_option_keeps_the_targets_hidden_options_descriptions_and_order() {
    let f = migration(MIGRATION);
    seed_us(&f, 3);
    let attributes =
        |hidden: bool, display_order: i64, description: Option<&str>| OptionAttributes {
            hidden,
            display_order,
            description: description.map(str::to_string),
        };
    let kept = BTreeMap::from([
        ("bronze".to_string(), attributes(false, 3, None)),
        ("silver".to_string(), attributes(true, 1, None)),
        (
            "gold".to_string(),
            attributes(false, 7, Some("Our best customers")),
        ),
    ]);
    f.hubspot("eu").define_property(
        "contacts",
        PropertyDef {
            options: options(&TIERS),
            option_attributes: kept.clone(),
            ..PropertyDef::new("tier", "Tier", "enumeration")
        },
    );
    let mut tiers = TIERS.to_vec();
    tiers.push(("platinum", "Platinum"));
    let us = f.hubspot("us");
    us.define_property(
        "contacts",
        PropertyDef {
            options: options(&tiers),
            ..PropertyDef::new("tier", "Tier", "enumeration")
        },
    );
    let id = us.find("contacts", "email", "c1@example.com")[0].id.clone();
    us.edit("contacts", &id, &[("tier", "platinum")]);

    f.run(&["sync"]).expect(0);
    let tier = f.hubspot("eu").property("contacts", "tier").expect("tier");
    assert_eq!(tier.options, options(&tiers), "the new option last");
    let mut expected = kept;
    expected.insert("platinum".to_string(), attributes(false, 8, None));
    assert_eq!(
        tier.option_attributes, expected,
        "the existing options unchanged, the new one after the highest display order"
    );
    let copy = f.hubspot("eu").find("contacts", "email", "c1@example.com");
    assert_eq!(copy[0].properties["tier"], "platinum");
}

#[test]
fn an_option_added_on_the_source_reaches_the_target_before_the_records_using_it() {
    let f = migration(MIGRATION);
    seed_us(&f, 3);
    f.run(&["sync"]).expect(0);

    let tiers = platinum_on(&f, "us", "c1@example.com");

    let diff = f.run(&["diff"]).expect(3);
    diff.assert_stdout_has("property  contacts.tier  + 1 option: \"Platinum\"");
    f.reset_requests();
    f.run(&["sync"]).expect(0);
    let tier = f.hubspot("eu").property("contacts", "tier").expect("tier");
    assert_eq!(
        tier.options,
        options(&tiers),
        "added at the end, the rest kept"
    );
    let copy = f.hubspot("eu").find("contacts", "email", "c1@example.com");
    assert_eq!(copy[0].properties["tier"], "platinum");
    // The option went out before the record that uses it.
    let sent: Vec<String> = f
        .hubspot("eu")
        .server()
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .filter(|r| !r.starts_with("GET") && !r.ends_with("/search"))
        .collect();
    let patch = sent
        .iter()
        .position(|r| r.starts_with("PATCH /crm/properties/"));
    let write = sent.iter().position(|r| r.contains("/crm/objects/"));
    assert!(
        patch.is_some() && patch < write,
        "the option first: {sent:?}"
    );
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_property_the_api_cannot_create_is_one_invalid_item_and_the_rest_is_synced() {
    let f = migration(&MIGRATION.replace(
        "renewal = \"renewal\"",
        "renewal = \"renewal\"\nscore = \"score\"",
    ));
    seed_us(&f, 4);
    f.hubspot("us").define_property(
        "contacts",
        PropertyDef {
            field_type: Some("calculation_equation".into()),
            formula: Some("seats * 2".into()),
            ..PropertyDef::new("score", "Score", "number")
        },
    );
    let diff = f.run(&["diff"]).expect(3);
    diff.assert_stdout_has("invalid   property contacts.score: cannot be created from us.contacts: a calculated property");
    diff.assert_stdout_has("4 property changes");
    diff.assert_stdout_has("1 invalid");

    let sync = f.run(&["sync"]).expect(4);
    sync.assert_stdout_has("Applied: 4 property changes, 4 created");
    sync.assert_stdout_has("1 invalid");
    assert!(f.hubspot("eu").property("contacts", "score").is_none());
    assert_eq!(f.hubspot("eu").records("contacts").len(), 4);
}

#[test]
fn a_property_create_whose_answer_is_lost_is_not_made_twice() {
    let f = migration(MIGRATION);
    seed_us(&f, 2);
    f.hubspot("eu").server().inject(
        "POST /crm/properties/2026-09/contacts",
        1,
        Fault::CommitThenDrop,
    );
    // The lost answer is settled by reading the property back.
    f.run(&["sync"]).expect(0);
    let eu = f.hubspot("eu");
    for name in ["tier", "seats", "nickname", "renewal"] {
        assert!(eu.property("contacts", name).is_some(), "{name}");
    }
    assert_eq!(eu.records("contacts").len(), 2);
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_saved_plan_is_refused_when_a_property_it_creates_was_made_since() {
    let f = migration(MIGRATION);
    seed_us(&f, 2);
    let plan = f.work.path("plan.json");
    f.run(&["diff", "--out", plan.to_str().unwrap()]).expect(3);
    // Made since the plan: the plan is stale, refused whole.
    f.hubspot("eu").define_property(
        "contacts",
        PropertyDef::new("nickname", "Nickname", "string"),
    );
    let push = f.run(&["push", plan.to_str().unwrap()]).expect(6);
    push.assert_stderr_has("eu.contacts property nickname was created since");
    assert!(f.hubspot("eu").property("contacts", "tier").is_none());
    // A fresh run takes it as it is and makes the rest.
    f.run(&["sync"]).expect(0);
    assert!(f.hubspot("eu").property("contacts", "tier").is_some());
}

/// HubSpot `hs` and Pipedrive `pd`, contacts with a datetime `renewal`
/// mapped to a Pipedrive field the pair creates, in `direction`.
fn renewal_to_pipedrive(direction: &str) -> Fixture {
    let f = Accounts::new()
        .hubspot("hs")
        .pipedrive("pd")
        .toml(&format!(
            r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
direction = "{direction}"
match = "email"
schema = "create"
[pairs.fields]
email = "email"
renewal = "Renewal"
"#
        ))
        .build();
    let hs = f.hubspot("hs");
    hs.define_property(
        "contacts",
        PropertyDef::new("renewal", "Renewal", "datetime"),
    );
    for i in 0..2 {
        hs.seed(
            "contacts",
            &[
                ("email", &format!("r{i}@example.com")),
                ("renewal", &format!("2027-03-0{}T14:30:00.000Z", i + 1)),
            ],
        );
    }
    f
}

#[test]
fn a_hubspot_datetime_made_as_a_pipedrive_date_says_so_and_is_refused_where_it_would_be_written_back()
 {
    // One way: the plan shows the date made and what it drops.
    let f = renewal_to_pipedrive("left-to-right");
    f.run(&["diff"]).expect(3).assert_stdout_has(
        "property  persons.Renewal  date (from datetime: the time of day is dropped)",
    );
    f.run(&["sync"]).expect(0);
    let custom = f.pipedrive("pd").custom_fields("person");
    let renewal = custom.iter().find(|c| c["field_name"] == "Renewal");
    assert_eq!(renewal.expect("made")["field_type"], "date", "{custom:?}");

    // Both ways: a Pipedrive edit would write midnight back, so the field
    // is one invalid item and the persons go without it.
    let f = renewal_to_pipedrive("both");
    let diff = f.run(&["diff"]).expect(3);
    diff.assert_stdout_has("invalid   property persons.Renewal: a datetime on hs.contacts can only be a date on pd.persons (the time of day is dropped), and this pair writes it back");
    diff.assert_stdout_has("1 invalid");
    let sync = f.run(&["sync"]).expect(4);
    sync.assert_stdout_has("1 invalid");
    let custom = f.pipedrive("pd").custom_fields("person");
    assert!(
        !custom.iter().any(|c| c["field_name"] == "Renewal"),
        "{custom:?}"
    );
    assert_eq!(f.pipedrive("pd").persons().len(), 2);
}

/// HubSpot contacts to Pipedrive persons, three custom fields created.
const TO_PIPEDRIVE: &str = r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
direction = "left-to-right"
match = "email"
schema = "create"
[pairs.fields]
email = "email"
tier = "Tier"
seats = "Seats"
nickname = "nickname"
[pairs.values]
tier = "by-label"
"#;

/// HubSpot `hs` and Pipedrive `pd` under `TO_PIPEDRIVE`, with the three
/// properties on hs and `n` contacts holding values of each.
fn hubspot_to_pipedrive(n: usize) -> Fixture {
    let f = Accounts::new()
        .hubspot("hs")
        .pipedrive("pd")
        .toml(TO_PIPEDRIVE)
        .build();
    let hs = f.hubspot("hs");
    hs.define_property(
        "contacts",
        PropertyDef {
            options: options(&TIERS),
            ..PropertyDef::new("tier", "Tier", "enumeration")
        },
    );
    hs.define_property("contacts", PropertyDef::new("seats", "Seats", "number"));
    hs.define_property(
        "contacts",
        PropertyDef::new("nickname", "Nick name", "string"),
    );
    for i in 0..n {
        hs.seed(
            "contacts",
            &[
                ("email", &format!("p{i}@example.com")),
                ("tier", TIERS[i % 3].0),
                ("seats", &(i + 1).to_string()),
                ("nickname", &format!("N{i}")),
            ],
        );
    }
    f
}

#[test]
fn hubspot_properties_become_pipedrive_custom_fields_and_are_filled() {
    let f = hubspot_to_pipedrive(5);
    let diff = f.run(&["diff"]).expect(3);
    diff.assert_stdout_has("property  persons.Tier  enumeration (3 options)");
    diff.assert_stdout_has("property  persons.nickname  text");
    // 3 fields created and 5 persons: 8 writes of 5 tokens each.
    diff.assert_stdout_has("+ 40 to write)");
    assert_eq!(f.writes(), 0);

    f.reset_requests();
    f.run(&["sync"]).expect(0);
    let sent = |method: &str| {
        let requests = f.pipedrive("pd").server().requests();
        requests
            .iter()
            .filter(|r| r.method == method && r.path == "/api/v2/personFields")
            .count()
    };
    assert_eq!(
        (sent("GET"), sent("POST")),
        (1, 3),
        "the fields read once, each made once"
    );
    let custom = f.pipedrive("pd").custom_fields("person");
    let field = |name: &str| {
        custom
            .iter()
            .find(|f| f["field_name"] == name)
            .unwrap_or_else(|| panic!("no field {name}: {custom:?}"))
            .clone()
    };
    let (tier, seats, nick) = (field("Tier"), field("Seats"), field("Nick name"));
    assert_eq!(tier["field_type"], "enum");
    let option_labels: Vec<&str> = tier["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(option_labels, ["Bronze", "Silver", "Gold"]);
    assert_eq!(seats["field_type"], "double");
    assert_eq!(nick["field_type"], "varchar");
    let persons = f.pipedrive("pd").persons();
    assert_eq!(persons.len(), 5);
    for person in &persons {
        let email = person["emails"][0]["value"].as_str().unwrap().to_string();
        let i: usize = email[1..2].parse().unwrap();
        let value = |field: &serde_json::Value| {
            person["custom_fields"][field["field_code"].as_str().unwrap()].clone()
        };
        let option = value(&tier);
        let label = tier["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == option)
            .map(|o| o["label"].clone());
        assert_eq!(label, Some(serde_json::json!(TIERS[i % 3].1)), "{email}");
        assert_eq!(value(&seats).as_f64(), Some((i + 1) as f64), "{email}");
        assert_eq!(value(&nick), serde_json::json!(format!("N{i}")), "{email}");
    }
    // `nickname` names a field labelled "Nick name": found by its recorded key.
    let keys = std::fs::read_to_string(f.work.state_dir().join("field-keys.json")).unwrap();
    let keys: serde_json::Value = serde_json::from_str(&keys).unwrap();
    assert_eq!(keys["pd.persons"]["nickname"], nick["field_code"], "{keys}");
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn init_with_schema_create_maps_the_custom_properties_the_target_lacks_and_they_sync() {
    let f = us_and_eu().build();
    seed_us(&f, 3);

    let plain = f
        .run(&["init", "--direction", "left-to-right"])
        .expect(0)
        .stdout
        .clone();
    assert!(!plain.contains("schema = \"create\""), "{plain}");
    assert!(!plain.contains("\ntier = "), "{plain}");
    assert!(
        plain.contains(
            "#   (to create the custom ones on eu.contacts: `crmsync init --schema create`)"
        ),
        "{plain}"
    );

    let run = f
        .run(&["init", "--direction", "left-to-right", "--schema", "create"])
        .expect(0);
    let mapping = run.stdout.clone();
    assert_eq!(f.writes(), 0, "init reads metadata only");
    assert!(mapping.contains("schema = \"create\""), "{mapping}");
    for line in [
        "tier = \"tier\"",
        "seats = \"seats\"",
        "nickname = \"nickname\"",
        "renewal = \"renewal\"",
    ] {
        assert!(mapping.contains(line), "{line}:\n{mapping}");
    }
    assert!(
        mapping.contains("# Created by the first sync (schema = \"create\")")
            && mapping.contains("#   on eu.contacts: \"tier\" (choice, 3 options)"),
        "{mapping}"
    );

    f.write_mapping(&mapping);
    f.run(&["sync"]).expect(0);
    let copy = f.hubspot("eu").find("contacts", "email", "c2@example.com");
    assert_eq!(copy[0].properties["tier"], "gold");
    assert_eq!(copy[0].properties["nickname"], "Nick 2");
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_pipedrive_field_create_whose_answer_is_lost_is_not_made_twice() {
    let f = hubspot_to_pipedrive(2);
    f.pipedrive("pd")
        .server()
        .inject("POST /api/v2/personFields", 1, Fault::CommitThenDrop);
    f.run(&["sync"]).expect(0);
    let names: Vec<String> = f
        .pipedrive("pd")
        .custom_fields("person")
        .iter()
        .map(|f| f["field_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Nick name", "Seats", "Tier"], "each made once");
    assert_eq!(f.pipedrive("pd").persons().len(), 2);
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn property_changes_count_against_max_changes_and_are_in_the_json_plan() {
    let f = migration(MIGRATION);
    seed_us(&f, 2);
    let json = f.run(&["--json", "diff"]).expect(3);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["version"], 3);
    let items = plan["pairs"][0]["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "property");
    assert_eq!(items[0]["property"]["step"], "create");
    let kinds: Vec<&str> = items
        .iter()
        .filter_map(|i| i["property"]["spec"]["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["text", "date", "number", "enumeration"]);
    // The snapshots keep the definitions: an offline diff plans the same.
    f.reset_requests();
    let offline = f.run(&["diff", "--offline"]).expect(3);
    offline.assert_stdout_has("property  contacts.tier  enumeration (3 options)");
    assert_eq!(f.requests(), 0, "offline");

    // 4 properties and 2 records are 6 changes.
    let stopped = f.run(&["sync", "--max-changes", "5"]).expect(6);
    stopped.assert_stderr_has("would change 6 of");
    assert_eq!(f.writes(), 0);
    f.run(&["sync", "--max-changes", "6"]).expect(0);
}

#[test]
fn a_property_someone_makes_while_the_run_creates_it_is_taken_as_made_on_409() {
    use crate::support::server::Gate;
    let f = migration(MIGRATION);
    seed_us(&f, 2);
    let gate = Gate::default();
    f.hubspot("eu").server().inject(
        "POST /crm/properties/2026-09/contacts",
        1,
        Fault::Hold(gate.clone()),
    );
    let mut child = f
        .work
        .command(&["sync"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn crmsync");
    gate.wait_until_held();
    // The first create (`nickname`, in mapping order) is made by someone
    // else before the request reaches HubSpot, which answers 409.
    f.hubspot("eu").define_property(
        "contacts",
        PropertyDef::new("nickname", "Nickname", "string"),
    );
    gate.open();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let eu = f.hubspot("eu");
    let read_back =
        eu.server().requests().iter().any(|r| {
            r.method == "GET" && r.path.ends_with("/properties/2026-09/contacts/nickname")
        });
    assert!(read_back, "the 409 was settled by reading the property");
    assert!(eu.property("contacts", "tier").is_some());
    let copy = eu.find("contacts", "email", "c1@example.com");
    assert_eq!(copy[0].properties["nickname"], "Nick 1");
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn a_property_the_api_refuses_on_the_run_fails_alone_and_the_records_go_without_it() {
    let f = migration(&MIGRATION.replace("tier = \"tier\"", "tier = \"Tier Level\""));
    seed_us(&f, 3);
    let run = f.run(&["sync"]).expect(4);
    run.assert_stdout_has("Applied: 3 property changes, 3 created");
    run.assert_stdout_has("contacts.Tier Level");
    run.assert_stdout_has("is invalid");
    let eu = f.hubspot("eu");
    assert!(eu.property("contacts", "Tier Level").is_none());
    let copy = eu.find("contacts", "email", "c1@example.com");
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0].properties["nickname"], "Nick 1");
}

/// A Platinum option added to `account`'s `tier`, which the contact
/// `email` takes; the options it then has.
fn platinum_on(f: &Fixture, account: &str, email: &str) -> Vec<(&'static str, &'static str)> {
    let hs = f.hubspot(account);
    let mut tiers = TIERS.to_vec();
    tiers.push(("platinum", "Platinum"));
    hs.define_property(
        "contacts",
        PropertyDef {
            options: options(&tiers),
            ..PropertyDef::new("tier", "Tier", "enumeration")
        },
    );
    let id = hs.find("contacts", "email", email)[0].id.clone();
    hs.edit("contacts", &id, &[("tier", "platinum")]);
    tiers
}

/// The labels of pd's Tier options.
fn pipedrive_tiers(f: &Fixture) -> Vec<String> {
    let tier = f
        .pipedrive("pd")
        .custom_fields("person")
        .into_iter()
        .find(|f| f["field_name"] == "Tier")
        .expect("Tier");
    tier["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_option_added_on_hubspot_reaches_the_pipedrive_field_in_one_request() {
    let f = hubspot_to_pipedrive(2);
    f.run(&["sync"]).expect(0);
    platinum_on(&f, "hs", "p1@example.com");
    f.reset_requests();
    f.run(&["sync"]).expect(0);
    assert_eq!(
        pipedrive_tiers(&f),
        ["Bronze", "Silver", "Gold", "Platinum"]
    );
    let requests = f.pipedrive("pd").server().requests();
    let fields: Vec<String> = requests
        .iter()
        .filter(|r| r.path.contains("personFields"))
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(fields, ["GET", "POST"], "read once, the option added once");
    let person = f
        .pipedrive("pd")
        .persons()
        .into_iter()
        .find(|p| p["emails"][0]["value"] == "p1@example.com")
        .expect("p1");
    let tier = f
        .pipedrive("pd")
        .custom_fields("person")
        .into_iter()
        .find(|f| f["field_name"] == "Tier")
        .expect("Tier");
    let platinum = tier["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["label"] == "Platinum")
        .map(|o| o["id"].clone());
    let code = tier["field_code"].as_str().unwrap();
    assert_eq!(Some(person["custom_fields"][code].clone()), platinum);
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn an_option_added_to_a_pipedrive_field_whose_answer_is_lost_is_not_added_twice() {
    let f = hubspot_to_pipedrive(2);
    f.run(&["sync"]).expect(0);
    platinum_on(&f, "hs", "p1@example.com");
    f.pipedrive("pd")
        .server()
        .inject("/options", 1, Fault::CommitThenDrop);
    f.run(&["sync"]).expect(0);
    assert_eq!(
        pipedrive_tiers(&f),
        ["Bronze", "Silver", "Gold", "Platinum"]
    );
    f.assert_run_writes_nothing(&["sync"]);
}

#[test]
fn schema_create_on_a_side_whose_object_takes_no_new_fields_is_refused_before_any_request() {
    // Pipedrive notes have no fields API to create one with (v2 has none,
    // v1's /noteFields only reads).
    for direction in ["both", "left-to-right"] {
        let f = super::hs_and_pd()
            .toml(&format!(
                r#"
[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"

[[pairs]]
name = "notes"
left = "hs.notes"
right = "pd.notes"
direction = "{direction}"
schema = "create"
[pairs.fields]
hs_note_body = "content"
hs_timestamp = "add_time"
contact = "person_id"
[pairs.values]
contact = "link:contacts"
"#
            ))
            .build();
        f.run(&["diff"]).expect(2).assert_stderr_has(
            "pair `notes` has schema = \"create\", but Pipedrive notes take no new custom fields; remove schema = \"create\" from the pair and map only fields pd.notes has",
        );
        assert_eq!(f.requests(), 0, "{direction}");
    }
}
