//! Companies and Pipedrive organizations, with the persons and deals that
//! hang off them: organizations through the connector conformance suite;
//! two Pipedrive accounts synced by organization name, `org_id` on persons
//! and deals carried through `link:companies`; an unlink Pipedrive cannot
//! make and an organization without a name shown as `invalid`, never sent.

use super::contract::pipedrive_conforms;
use crate::support::fake_pipedrive::FakePipedrive;
use crate::support::harness::{PD_TOKEN, Workdir};
use crmsync::model::ObjectKind;
use serde_json::{Value, json};

const PD2_TOKEN: &str = "pd2fedcba9876543210fedcba9876543210fedcb";

#[test]
fn pipedrive_organizations_conform() {
    pipedrive_conforms(ObjectKind::Organizations, "website", &|fake, i| {
        fake.seed_organization(
            json!({"name": format!("Seed {i}"), "website": format!("seed{i}.example")}),
        );
    });
}

/// Two Pipedrive accounts: `eu` (left) and `us` (right), organizations
/// matched by name, then persons by email and deals, each carrying its
/// organization through the links of `companies`.
struct TwoCompanies {
    eu: FakePipedrive,
    us: FakePipedrive,
    work: Workdir,
    /// eu's organization custom field "Legal name", mapped to us's `name`.
    legal: String,
}

impl TwoCompanies {
    fn new(deletes: &str) -> TwoCompanies {
        let eu = FakePipedrive::start(PD_TOKEN);
        let us = FakePipedrive::start(PD2_TOKEN);
        for pd in [&eu, &us] {
            pd.set_rate_limit(10_000, 2_000);
        }
        let legal = eu.add_custom_field("organization", "Legal name", "varchar", &[]);
        let work = Workdir::new()
            .with_env("PD_EU_TOKEN", PD_TOKEN)
            .with_env("PD_US_TOKEN", PD2_TOKEN);
        work.write_config(&format!(
            r#"
[systems.eu]
kind = "pipedrive"
token_env = "PD_EU_TOKEN"
base_url = "{}"
requests_per_10s = 10000

[systems.us]
kind = "pipedrive"
token_env = "PD_US_TOKEN"
base_url = "{}"
requests_per_10s = 10000

[[pairs]]
name = "companies"
left = "eu.organizations"
right = "us.organizations"
match = "Legal name"
deletes = "{deletes}"
[pairs.fields]
"Legal name" = "name"
address = "address"
website = "website"
employee_count = "employee_count"

[[pairs]]
name = "people"
left = "eu.persons"
right = "us.persons"
match = "email"
[pairs.fields]
email = "email"
name = "name"
org_id = "org_id"
[pairs.values]
org_id = "link:companies"

[[pairs]]
name = "deals"
left = "eu.deals"
right = "us.deals"
[pairs.fields]
title = "title"
org_id = "org_id"
person_id = "person_id"
[pairs.values]
org_id = "link:companies"
person_id = "link:people"
"#,
            eu.url(),
            us.url()
        ));
        TwoCompanies {
            eu,
            us,
            work,
            legal,
        }
    }

    fn org_named(pd: &FakePipedrive, name: &str) -> Value {
        let found: Vec<Value> = pd
            .organizations()
            .into_iter()
            .filter(|o| o["name"].as_str().is_some_and(|n| n.trim() == name))
            .collect();
        assert_eq!(found.len(), 1, "one organization named {name}: {found:?}");
        found[0].clone()
    }

    fn named(records: Vec<Value>, field: &str, value: &str) -> Value {
        let found: Vec<Value> = records
            .into_iter()
            .filter(|r| r[field] == json!(value))
            .collect();
        assert_eq!(found.len(), 1, "one record with {field} = {value}");
        found[0].clone()
    }

    /// POST, PATCH and DELETE requests to both accounts since the last reset.
    fn writes(&self) -> usize {
        self.eu.server().write_request_count() + self.us.server().write_request_count()
    }

    fn reset_requests(&self) {
        self.eu.server().reset_requests();
        self.us.server().reset_requests();
    }
}

#[test]
fn organizations_and_the_persons_and_deals_in_them_sync_by_name_between_two_pipedrive_accounts() {
    let t = TwoCompanies::new("ignore");
    let org = |name: &str, legal: &str, extra: Value| {
        let mut body = json!({"name": name, "custom_fields": {t.legal.clone(): legal}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        t.eu.seed_organization(body)
    };
    let acme = org(
        "Acme",
        "Acme Corp",
        json!({"address": {"value": "1 Main St, Springfield"}, "website": "https://acme.example", "employee_count": 40}),
    );
    let globex = org("Globex", "Globex Inc", json!({}));
    // Already in us, its name in another case and padded: linked, not duplicated.
    let us_acme = t.us.seed_organization(json!({"name": "  ACME corp "}));
    let ann = t.eu.seed_person(json!({"name": "Ann Lee", "org_id": acme,
        "emails": [{"value": "ann@acme.example", "primary": true}]}));
    t.eu.seed_person(json!({"name": "Bo Chen", "org_id": globex,
        "emails": [{"value": "bo@globex.example", "primary": true}]}));
    t.eu.seed_person(json!({"name": "Cy Free",
        "emails": [{"value": "cy@free.example", "primary": true}]}));
    t.eu.seed_deal(json!({"title": "Acme renewal", "org_id": acme, "person_id": ann}));

    t.work.run(&["sync"]).expect(0);

    assert_eq!(t.us.organizations().len(), 2, "Acme linked, Globex created");
    let us_acme_now = TwoCompanies::org_named(&t.us, "Acme Corp");
    assert_eq!(us_acme_now["id"], json!(us_acme));
    assert_eq!(
        us_acme_now["address"]["value"],
        json!("1 Main St, Springfield")
    );
    assert_eq!(us_acme_now["website"], json!("https://acme.example"));
    assert_eq!(us_acme_now["employee_count"], json!(40));
    let us_globex = TwoCompanies::org_named(&t.us, "Globex Inc")["id"].clone();
    let person = |email: &str| {
        t.us.persons()
            .into_iter()
            .find(|p| p["emails"][0]["value"] == json!(email))
            .unwrap_or_else(|| panic!("{email} reached us"))
    };
    let us_ann = person("ann@acme.example");
    assert_eq!(us_ann["org_id"], json!(us_acme));
    assert_eq!(person("bo@globex.example")["org_id"], us_globex);
    assert_eq!(person("cy@free.example")["org_id"], Value::Null);
    let deal = TwoCompanies::named(t.us.deals(), "title", "Acme renewal");
    assert_eq!(deal["org_id"], json!(us_acme));
    assert_eq!(deal["person_id"], us_ann["id"]);

    // An organization edited and a person moved on one side follow.
    t.us.edit_organization(
        us_acme,
        json!({"address": {"value": "2 Side Rd, Springfield"}}),
    );
    let us_cy = person("cy@free.example")["id"].as_i64().unwrap();
    t.us.edit_person(us_cy, json!({"org_id": us_globex}));
    t.work.run(&["sync"]).expect(0);
    assert_eq!(
        t.eu.organization(acme).unwrap()["address"]["value"],
        json!("2 Side Rd, Springfield")
    );
    let eu_cy = TwoCompanies::named(t.eu.persons(), "name", "Cy Free");
    assert_eq!(eu_cy["org_id"], json!(globex));

    t.reset_requests();
    t.work.run(&["sync", "--full"]).expect(0);
    assert_eq!(t.writes(), 0, "a sync with nothing changed writes nothing");
}

#[test]
fn unlinking_an_organization_pipedrive_cannot_unlink_is_invalid_and_nothing_is_sent() {
    let t = TwoCompanies::new("ignore");
    let acme = t.eu.seed_organization(
        json!({"name": "Acme", "custom_fields": {t.legal.clone(): "Acme Corp"}}),
    );
    let ann = t.eu.seed_person(json!({"name": "Ann Lee", "org_id": acme,
        "emails": [{"value": "ann@acme.example", "primary": true}]}));
    t.eu.seed_deal(json!({"title": "Acme renewal", "org_id": acme, "person_id": ann}));
    t.work.run(&["sync"]).expect(0);
    let us_acme = TwoCompanies::org_named(&t.us, "Acme Corp")["id"].clone();

    // Deleting Acme in eu unlinks its person and deal there; us cannot
    // follow (updatePerson/updateDeal take no null `org_id`).
    t.eu.delete_organization(acme);
    t.reset_requests();
    let run = t.work.run(&["sync", "--full"]).expect(4);
    for reason in [
        "us.persons `org_id` is not cleared: Pipedrive documents no way to clear `org_id`",
        "us.deals `org_id` is not cleared: Pipedrive documents no way to clear `org_id`",
    ] {
        assert!(run.stdout.contains(reason), "{reason}\n{}", run.stdout);
    }
    assert_eq!(
        t.writes(),
        0,
        "nothing is sent: {:?}",
        t.us.server().counts_by_endpoint()
    );
    let us_ann = TwoCompanies::named(t.us.persons(), "name", "Ann Lee");
    assert_eq!(
        us_ann["org_id"], us_acme,
        "us keeps the link it cannot remove"
    );
    assert_eq!(
        t.us.organizations().len(),
        1,
        "deletes = ignore: us keeps Acme"
    );
}

#[test]
fn an_organization_without_a_name_is_invalid_and_not_created() {
    let t = TwoCompanies::new("ignore");
    t.eu.seed_organization(json!({"name": "Nameless"}));
    t.eu.seed_organization(
        json!({"name": "Acme", "custom_fields": {t.legal.clone(): "Acme Corp"}}),
    );

    let diff = t.work.run(&["diff"]).expect(3);
    let reason = "cannot be created on us.organizations with `name` empty: Pipedrive requires an organization's name";
    assert!(diff.stdout.contains(reason), "{reason}\n{}", diff.stdout);
    t.work.run(&["sync"]).expect(4);
    assert_eq!(
        t.us.server()
            .counts_by_endpoint()
            .get("POST /api/v2/organizations"),
        Some(&1)
    );
    let names: Vec<Value> =
        t.us.organizations()
            .iter()
            .map(|o| o["name"].clone())
            .collect();
    assert_eq!(names, vec![json!("Acme Corp")]);
}
