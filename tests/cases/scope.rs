//! Scoped pairs: a pair syncs a segment of each side, narrowed at the
//! vendor; a record leaving the segment is not a delete.

use super::hs_and_pd;
use crate::support::accounts::Fixture;
use serde_json::json;
use std::collections::BTreeMap;

const SEARCH: &str = "POST /crm/objects/2026-09/contacts/search";

/// HubSpot contacts (`lifecyclestage = "customer"` only) to Pipedrive
/// persons, deletes propagated, with `scope` lines added to the pair.
fn customers(scope: &str) -> Fixture {
    hs_and_pd()
        .toml(&format!(
            r#"
[[pairs]]
name = "customers"
left = "hs.contacts"
right = "pd.persons"
match = "email"
deletes = "propagate"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
{scope}
"#
        ))
        .build()
}

/// Seeds `n` contacts, every fourth a customer and the rest leads.
fn seed(t: &Fixture, n: usize) -> Vec<String> {
    let records = (0..n)
        .map(|i| {
            let stage = if i % 4 == 0 { "customer" } else { "lead" };
            BTreeMap::from([
                ("email".to_string(), format!("c{i}@example.com")),
                ("firstname".to_string(), format!("First{i}")),
                ("lastname".to_string(), format!("Last{i}")),
                ("lifecyclestage".to_string(), stage.to_string()),
            ])
        })
        .collect();
    t.hubspot("hs").seed_many("contacts", records)
}

fn person_emails(t: &Fixture) -> Vec<String> {
    let mut emails: Vec<String> = t
        .pipedrive("pd")
        .persons()
        .iter()
        .filter_map(|p| p["emails"][0]["value"].as_str().map(str::to_string))
        .collect();
    emails.sort();
    emails
}

fn person_by_email(t: &Fixture, email: &str) -> serde_json::Value {
    t.pipedrive("pd")
        .persons()
        .into_iter()
        .find(|p| p["emails"][0]["value"] == email)
        .unwrap_or_else(|| panic!("no person {email}"))
}

#[test]
fn a_scoped_first_sync_copies_the_segment_in_two_searches_and_leaving_it_is_not_a_delete() {
    let t = customers("[pairs.scope.left]\nlifecyclestage = \"customer\"\n");
    let ids = seed(&t, 1000);
    let run = t.run(&["sync"]).expect(0);
    run.assert_stdout_has("contacts: 250 in scope (left)");
    let customers: Vec<String> = (0..1000)
        .filter(|i| i % 4 == 0)
        .map(|i| format!("c{i}@example.com"))
        .collect();
    let mut expected = customers.clone();
    expected.sort();
    assert_eq!(person_emails(&t), expected, "exactly the 250 customers");
    let counts = t.hubspot("hs").server().counts_by_endpoint();
    assert!(
        counts.get(SEARCH).copied().unwrap_or(0) <= 2,
        "the first pull searches at most twice: {counts:?}"
    );
    assert_eq!(
        counts.get("GET /crm/objects/2026-09/contacts"),
        None,
        "no list pages: {counts:?}"
    );

    // A lead becomes a customer: it arrives on the next run.
    t.hubspot("hs")
        .edit("contacts", &ids[1], &[("lifecyclestage", "customer")]);
    t.run(&["sync"]).expect(0);
    assert!(person_emails(&t).contains(&"c1@example.com".to_string()));
    assert_eq!(person_emails(&t).len(), 251);

    // A customer becomes a lead and is edited: its person stays as it was.
    let before = person_by_email(&t, "c4@example.com");
    t.hubspot("hs").edit(
        "contacts",
        &ids[4],
        &[("lifecyclestage", "lead"), ("firstname", "Changed")],
    );
    let run = t.run(&["sync"]).expect(0);
    run.assert_stdout_has("out scope");
    run.assert_stdout_has("left the pair's scope");
    let after = person_by_email(&t, "c4@example.com");
    assert_eq!(after["first_name"], before["first_name"]);
    assert_eq!(after["update_time"], before["update_time"]);
    // Said once: the next runs, incremental and full, are silent and write
    // nothing, and the person is never deleted.
    let quiet = t.assert_run_writes_nothing(&["sync"]);
    assert!(!quiet.stdout.contains("out scope"), "{}", quiet.stdout);
    let full = t.assert_run_writes_nothing(&["sync", "--full"]);
    assert!(!full.stdout.contains("out scope"), "{}", full.stdout);
    assert_eq!(person_emails(&t).len(), 251);

    // Back in scope: merged against the stored base, so the edit made
    // meanwhile reaches Pipedrive.
    t.hubspot("hs")
        .edit("contacts", &ids[4], &[("lifecyclestage", "customer")]);
    let run = t.run(&["sync"]).expect(0);
    run.assert_stdout_has("in scope");
    assert_eq!(
        person_by_email(&t, "c4@example.com")["first_name"],
        "Changed"
    );
    t.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn a_list_not_and_present_narrow_the_search_and_a_record_made_on_a_scoped_side_is_written_into_it()
{
    let t = hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
[pairs.scope.left]
lifecyclestage = ["customer", "opportunity"]
phone = { present = true }
firstname = { not = ["Skip"] }
"#,
        )
        .build();
    let hs = t.hubspot("hs");
    let seed = |email: &str, stage: &str, phone: &str, first: &str| {
        hs.seed(
            "contacts",
            &[
                ("email", email),
                ("lifecyclestage", stage),
                ("phone", phone),
                ("firstname", first),
            ],
        )
    };
    seed("in1@x.io", "customer", "+1", "Ann");
    seed("in2@x.io", "opportunity", "+2", "Bo");
    seed("lead@x.io", "lead", "+3", "Cy");
    seed("nophone@x.io", "customer", "", "Di");
    seed("skip@x.io", "customer", "+4", "Skip");
    // A Pipedrive person goes to HubSpot, into the scope where it names
    // one value; a list cannot be written, and the plan says so.
    t.pipedrive("pd")
        .seed_person(json!({"name": "Eve", "emails": [{"value": "eve@x.io", "primary": true}]}));
    let run = t.run(&["sync"]).expect(0);
    run.assert_stdout_has("cannot be written into the scope of hs.contacts");
    let emails = person_emails(&t);
    assert_eq!(emails, ["eve@x.io", "in1@x.io", "in2@x.io"]);
    // The scope went to HubSpot as one filter group: IN, HAS_PROPERTY, NOT_IN.
    let searches = t.hubspot("hs").server().counts_by_endpoint();
    assert!(searches.contains_key(SEARCH), "{searches:?}");
    assert_eq!(
        t.hubspot("hs").find("contacts", "email", "eve@x.io").len(),
        1
    );
}

#[test]
fn a_single_value_scope_is_written_into_records_created_on_its_side() {
    let t = hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
[pairs.scope.left]
lifecyclestage = "customer"
"#,
        )
        .build();
    t.pipedrive("pd")
        .seed_person(json!({"name": "Eve", "emails": [{"value": "eve@x.io", "primary": true}]}));
    t.run(&["sync"]).expect(0);
    let made = t.hubspot("hs").find("contacts", "email", "eve@x.io");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].properties["lifecyclestage"], "customer");
    // In scope, so the next full run finds it linked and writes nothing.
    t.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn a_pipedrive_saved_filter_narrows_the_list_and_a_scope_on_both_sides_holds_both() {
    let t = hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "partners"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
[pairs.scope.left]
lifecyclestage = "customer"
[pairs.scope.right]
filter_id = 1001
"#,
        )
        .build();
    let pd = t.pipedrive("pd");
    let owner = pd.add_user("partner.manager@example.com", "Partner Manager");
    let other = pd.add_user("other@example.com", "Other");
    let filter = pd.add_filter("persons", "Partners", json!({ "owner_id": owner }));
    assert_eq!(filter, 1001);
    pd.seed_person(json!({"name": "Ann", "owner_id": owner, "emails": [{"value": "ann@x.io", "primary": true}]}));
    pd.seed_person(
        json!({"name": "Bo", "owner_id": other, "emails": [{"value": "bo@x.io", "primary": true}]}),
    );
    t.hubspot("hs").seed(
        "contacts",
        &[("email", "cy@x.io"), ("lifecyclestage", "customer")],
    );
    t.hubspot("hs").seed(
        "contacts",
        &[("email", "di@x.io"), ("lifecyclestage", "lead")],
    );
    let run = t.run(&["sync"]).expect(0);
    run.assert_stdout_has("persons: 1 in scope (right)");
    // Ann (in the filter) went to HubSpot; Bo did not; Cy (a customer)
    // came to Pipedrive, Di (a lead) did not.
    let hs = t.hubspot("hs");
    assert_eq!(hs.find("contacts", "email", "ann@x.io").len(), 1);
    assert!(hs.find("contacts", "email", "bo@x.io").is_empty());
    let emails = person_emails(&t);
    assert!(emails.contains(&"cy@x.io".to_string()));
    assert!(!emails.contains(&"di@x.io".to_string()));
    let counts = pd.server().counts_by_endpoint();
    assert!(
        counts.contains_key("GET /api/v1/filters/{id}"),
        "{counts:?}"
    );
}

#[test]
fn a_scope_naming_an_unknown_field_option_or_filter_stops_before_any_write() {
    for (scope, problem) in [
        (
            "[pairs.scope.left]\nlifecyclestag = \"customer\"\n",
            "has no field `lifecyclestag`",
        ),
        (
            "[pairs.scope.left]\nlifecyclestage = \"custmer\"\n",
            "`custmer` is not an option",
        ),
        (
            "[pairs.scope.right]\nfilter_id = 77\n",
            "has no saved filter 77",
        ),
    ] {
        let t = customers(scope);
        seed(&t, 8);
        let run = t.run(&["sync"]).expect(2);
        run.assert_stderr_has(problem);
        assert_eq!(t.writes(), 0, "{scope}");
        assert!(t.pipedrive("pd").persons().is_empty());
    }
    // What the file itself gets wrong is refused at its line.
    let t = customers("[pairs.scope.left]\nfilter_id = 4\n");
    t.run(&["sync"])
        .expect(2)
        .assert_stderr_has("filter_id is a saved Pipedrive filter");
}

#[test]
fn a_hubspot_scope_too_long_for_one_search_group_is_refused_in_one_line() {
    let conditions: String = (0..9)
        .map(|i| format!("field{i} = {{ present = true }}\n"))
        .collect();
    let t = customers(&format!("[pairs.scope.left]\n{conditions}"));
    seed(&t, 2);
    let line = t.run(&["sync"]).expect(2).one_stderr_line();
    assert!(
        line.contains("[pairs.scope.left] has 9 conditions; a HubSpot search group takes 10 filters and crmsync adds 2 of its own, so keep at most 8"),
        "{line}"
    );
    assert_eq!(t.writes(), 0);
    // Eight conditions with crmsync's two fill a group exactly.
    let eight: String = (0..8)
        .map(|i| format!("field{i} = {{ present = true }}\n"))
        .collect();
    let t = customers(&format!("[pairs.scope.left]\n{eight}"));
    t.run(&["sync"])
        .expect(2)
        .assert_stderr_has("has no field `field0`");
}

#[test]
fn a_sleeping_link_never_deletes_and_a_pair_no_longer_scoped_wakes_it() {
    let t = customers("[pairs.scope.left]\nlifecyclestage = \"customer\"\n");
    let ids = seed(&t, 12);
    t.run(&["sync"]).expect(0);
    assert_eq!(person_emails(&t).len(), 3);
    // c0 and c4 leave the scope; then c0 is archived in HubSpot and c4's
    // person is deleted in Pipedrive.
    for i in [0, 4] {
        t.hubspot("hs")
            .edit("contacts", &ids[i], &[("lifecyclestage", "lead")]);
    }
    t.run(&["sync"]).expect(0).assert_stdout_has("2 left scope");
    t.hubspot("hs").archive("contacts", &ids[0]);
    let c4 = person_by_email(&t, "c4@example.com")["id"]
        .as_i64()
        .unwrap();
    t.pipedrive("pd").delete_person(c4);
    let run = t.run(&["sync", "--full"]).expect(0);
    run.assert_stdout_has("is gone while the link slept");
    // deletes = "propagate", yet neither partner is deleted.
    assert!(person_emails(&t).contains(&"c0@example.com".to_string()));
    assert!(
        t.hubspot("hs")
            .record("contacts", &ids[4])
            .is_some_and(|r| !r.archived)
    );
    // c8 leaves the scope, then the scope is removed: its link wakes and
    // it syncs again.
    t.hubspot("hs").edit(
        "contacts",
        &ids[8],
        &[("lifecyclestage", "lead"), ("firstname", "Woken")],
    );
    t.run(&["sync"]).expect(0).assert_stdout_has("1 left scope");
    t.edit_mapping(|text| text.replace("[pairs.scope.left]\nlifecyclestage = \"customer\"\n", ""));
    let run = t.run(&["sync"]).expect(0);
    run.assert_stdout_has("1 back in scope");
    assert_eq!(person_by_email(&t, "c8@example.com")["first_name"], "Woken");
}

#[test]
fn a_pipedrive_scope_on_an_organization_goes_to_the_list_as_its_parameter() {
    let t = hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "acme-people"
left = "hs.contacts"
right = "pd.persons"
match = "email"
direction = "right-to-left"
[pairs.fields]
email = "email"
firstname = "first_name"
[pairs.scope.right]
org_id = ORG
"#,
        )
        .build();
    let pd = t.pipedrive("pd");
    let acme = pd.seed_organization(json!({"name": "Acme"}));
    let other = pd.seed_organization(json!({"name": "Other"}));
    t.edit_mapping(|text| text.replace("ORG", &acme.to_string()));
    for (name, org) in [("ann", acme), ("bo", other)] {
        pd.seed_person(json!({"name": name, "org_id": org,
            "emails": [{"value": format!("{name}@x.io"), "primary": true}]}));
    }
    t.run(&["sync"]).expect(0);
    let hs = t.hubspot("hs");
    assert_eq!(hs.find("contacts", "email", "ann@x.io").len(), 1);
    assert!(hs.find("contacts", "email", "bo@x.io").is_empty());
    let asked = pd.server().requests().into_iter().any(|r| {
        r.path == "/api/v2/persons"
            && r.query
                .iter()
                .any(|(k, v)| k == "org_id" && *v == acme.to_string())
    });
    assert!(asked, "the persons list was asked for org_id {acme}");
}

/// HubSpot contacts and Pipedrive persons two-way by email, in a pair
/// named `name`, the persons scoped by `right` (that side's scope table).
fn persons_scoped(name: &str, right: &str) -> Fixture {
    hs_and_pd()
        .toml(&format!(
            r#"
[[pairs]]
name = "{name}"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
[pairs.scope.right]
{right}
"#
        ))
        .build()
}

/// `persons_scoped` by `label_ids` (`right` is that side's scope table).
fn partners(right: &str) -> Fixture {
    let t = persons_scoped("partners", right);
    let pd = t.pipedrive("pd");
    pd.add_label("person", 7, "Partner");
    pd.add_label("person", 8, "Cold");
    for (name, labels) in [
        ("ann", vec![7]),
        ("bo", vec![8]),
        ("cat", vec![8, 7]),
        ("dan", vec![]),
    ] {
        pd.seed_person(json!({
            "name": name, "label_ids": labels,
            "emails": [{"value": format!("{name}@x.io"), "primary": true}]
        }));
    }
    t.hubspot("hs")
        .seed("contacts", &[("email", "eve@x.io"), ("firstname", "Eve")]);
    t
}

#[test]
fn a_pipedrive_label_scope_brings_back_labelled_persons_and_labels_those_it_creates() {
    let t = partners("label_ids = 7");
    t.run(&["sync"])
        .expect(0)
        // Labels are checked after the read, so the listing is the whole
        // object and counts it.
        .assert_stdout_has("persons: 2 of 4 in scope (right)");
    // Ann and Cat hold label 7 (Cat among others); Bo and Dan do not.
    let hs = t.hubspot("hs");
    for (email, copied) in [("ann", true), ("cat", true), ("bo", false), ("dan", false)] {
        let found = hs.find("contacts", "email", &format!("{email}@x.io"));
        assert_eq!(found.len(), usize::from(copied), "{email}");
    }
    // Eve, made across, lands with the label, so she stays in scope.
    assert_eq!(person_by_email(&t, "eve@x.io")["label_ids"], json!([7]));
    t.assert_run_writes_nothing(&["sync", "--full"]);
}

#[test]
fn a_label_scope_takes_a_list_not_and_present_and_refuses_an_unknown_label() {
    for (right, copied) in [
        ("label_ids = [7, 8]", &["ann", "bo", "cat"][..]),
        ("label_ids = { not = [7] }", &["bo"][..]),
        ("label_ids = { present = false }", &["dan"][..]),
    ] {
        let t = partners(right);
        t.run(&["sync"]).expect(0);
        let hs = t.hubspot("hs");
        for name in ["ann", "bo", "cat", "dan"] {
            let found = hs.find("contacts", "email", &format!("{name}@x.io"));
            assert_eq!(
                found.len(),
                usize::from(copied.contains(&name)),
                "{right}: {name}"
            );
        }
        // Eve cannot be written into a list, `not` or `present` scope: she
        // is created unlabelled and the item says why.
        assert_eq!(
            person_by_email(&t, "eve@x.io")["label_ids"],
            json!([]),
            "{right}"
        );
    }
    let t = partners("label_ids = 9");
    t.run(&["sync"])
        .expect(2)
        .assert_stderr_has("`9` is not an option of the field on pd.persons; use one of: 7, 8");
    assert_eq!(t.writes(), 0);
    assert!(
        t.hubspot("hs")
            .find("contacts", "email", "ann@x.io")
            .is_empty()
    );
}

#[test]
fn labels_can_scope_a_pair_but_not_be_mapped() {
    let t = hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "partners"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
hs_lead_status = "label_ids"
"#,
        )
        .build();
    t.run(&["sync"])
        .expect(2)
        .assert_stderr_has("`label_ids` on pd.persons can scope the pair but not be mapped; move it to [pairs.scope.right]");
    assert_eq!(t.writes(), 0);
}

/// HubSpot contacts and Pipedrive persons two-way, the persons scoped to
/// `right` (`OWNER` stands for the in-scope owner's id), with one person
/// of each owner and one HubSpot contact for each: Eve's person belongs to
/// the other owner, so it is out of scope.
fn owned(right: &str) -> (Fixture, i64) {
    let t = persons_scoped("owned", right);
    let pd = t.pipedrive("pd");
    let mine = pd.add_user("mine@example.com", "Mine");
    let theirs = pd.add_user("theirs@example.com", "Theirs");
    pd.add_filter("persons", "Mine", json!({ "owner_id": mine }));
    t.edit_mapping(|text| text.replace("OWNER", &mine.to_string()));
    pd.seed_person(json!({"name": "Ann", "owner_id": mine, "first_name": "Ann",
        "emails": [{"value": "ann@x.io", "primary": true}]}));
    let eve = pd.seed_person(
        json!({"name": "Eve", "owner_id": theirs, "first_name": "Pd",
        "emails": [{"value": "eve@x.io", "primary": true}]}),
    );
    let hs = t.hubspot("hs");
    hs.seed("contacts", &[("email", "eve@x.io"), ("firstname", "Hs")]);
    hs.seed("contacts", &[("email", "new@x.io"), ("firstname", "New")]);
    (t, eve)
}

#[test]
fn a_partner_out_of_a_pipedrive_owner_or_filter_scope_is_neither_duplicated_nor_written() {
    for right in ["owner_id = OWNER", "filter_id = 1001"] {
        let (t, eve) = owned(right);
        let before = person_by_email(&t, "eve@x.io");
        let run = t.run(&["sync"]).expect(0);
        let note = format!("partner out of scope: pd.persons {eve}");
        run.assert_stdout_has(&note);
        // One Eve, as she was; New (no partner anywhere) is created and
        // Ann comes to HubSpot.
        assert_eq!(
            person_emails(&t),
            ["ann@x.io", "eve@x.io", "new@x.io"],
            "{right}"
        );
        let after = person_by_email(&t, "eve@x.io");
        assert_eq!(after["first_name"], before["first_name"], "{right}");
        assert_eq!(after["update_time"], before["update_time"], "{right}");
        let hs = t.hubspot("hs");
        let contact = hs.find("contacts", "email", "eve@x.io");
        assert_eq!(contact.len(), 1, "{right}");
        assert_eq!(contact[0].properties["firstname"], "Hs", "{right}");
        assert_eq!(hs.find("contacts", "email", "ann@x.io").len(), 1);
        // Later runs, incremental and full, write nothing and say it as
        // the first did (in the plan and the report), never more.
        let said = run.stdout.matches(&note).count();
        for args in [&["sync"][..], &["sync", "--full"][..]] {
            let again = t.assert_run_writes_nothing(args);
            let again_said = again.stdout.matches(&note).count();
            assert_eq!(again_said, said, "{right}: {}", again.stdout);
            assert_eq!(person_emails(&t).len(), 3, "{right}");
        }
    }
}

#[test]
fn a_pipedrive_person_whose_contact_is_out_of_a_hubspot_scope_is_not_upserted_onto_it() {
    let t = customers("[pairs.scope.left]\nlifecyclestage = \"customer\"\n");
    let hs = t.hubspot("hs");
    let lead = hs.seed(
        "contacts",
        &[
            ("email", "eve@x.io"),
            ("firstname", "Lead"),
            ("lifecyclestage", "lead"),
        ],
    );
    hs.seed(
        "contacts",
        &[
            ("email", "cy@x.io"),
            ("firstname", "Cy"),
            ("lifecyclestage", "customer"),
        ],
    );
    let pd = t.pipedrive("pd");
    pd.seed_person(json!({"name": "Eve", "first_name": "Piper",
        "emails": [{"value": "eve@x.io", "primary": true}]}));
    pd.seed_person(json!({"name": "Bo", "first_name": "Bo",
        "emails": [{"value": "bo@x.io", "primary": true}]}));
    let before = hs.record("contacts", &lead).expect("the lead");
    let run = t.run(&["sync"]).expect(0);
    let note = format!("partner out of scope: hs.contacts {lead}");
    run.assert_stdout_has(&note);
    // The lead is untouched and alone; Bo (no contact) is created as a
    // customer, Cy goes to Pipedrive.
    let after = hs.record("contacts", &lead).expect("the lead");
    assert_eq!(after.properties, before.properties);
    assert_eq!(hs.find("contacts", "email", "eve@x.io").len(), 1);
    let bo = hs.find("contacts", "email", "bo@x.io");
    assert_eq!(bo.len(), 1);
    assert_eq!(bo[0].properties["lifecyclestage"], "customer");
    assert_eq!(person_emails(&t), ["bo@x.io", "cy@x.io", "eve@x.io"]);
    assert_eq!(person_by_email(&t, "eve@x.io")["first_name"], "Piper");
    // Not linked: the next runs still find the partner out of scope, and
    // write nothing.
    let again = t.assert_run_writes_nothing(&["sync"]);
    let said = run.stdout.matches(&note).count();
    assert_eq!(
        again.stdout.matches(&note).count(),
        said,
        "{}",
        again.stdout
    );
    t.assert_run_writes_nothing(&["sync", "--full"]);
    assert_eq!(
        hs.record("contacts", &lead).unwrap().properties,
        before.properties
    );
}
