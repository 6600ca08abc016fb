//! What crmsync writes to Pipedrive where the v2 spec is loose or strict:
//! `emails`/`phones` entries it cannot read are written back untouched,
//! `null` goes only to fields the spec marks nullable (the fake refuses any
//! other), a clear Pipedrive documents no way to make is an `invalid` item,
//! a create without its required name or title is `invalid` too, and a
//! listing whose answers leave out the paging cursor is never taken as whole.

use super::{deal_titled, hs_and_pd};
use crate::support::accounts::Fixture;
use crate::support::fake_hubspot::PropertyDef;
use serde_json::{Value, json};

/// 2026-03-01T00:00:00Z, as HubSpot holds a date.
const MARCH_FIRST_MS: &str = "1772323200000";

/// Contacts ↔ persons both ways (by email); deals from HubSpot to Pipedrive
/// with a nullable built-in (`probability`), a custom field and two
/// built-ins that cannot be cleared (`value`, `expected_close_date`).
/// Returns the accounts and the key of Pipedrive's deal custom field
/// "Deal Notes".
fn contacts_and_deals() -> (Fixture, String) {
    let a = hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
phone = "phone"

[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
direction = "left-to-right"
[pairs.fields]
dealname = "title"
amount = "value"
win_chance = "probability"
deal_notes = "Deal Notes"
closedate = "expected_close_date"
"#,
        )
        .build();
    let hs = a.hubspot("hs");
    hs.define_property(
        "deals",
        PropertyDef::new("win_chance", "Win chance", "number"),
    );
    hs.define_property(
        "deals",
        PropertyDef::new("deal_notes", "Deal notes", "string"),
    );
    let notes = a
        .pipedrive("pd")
        .add_custom_field("deal", "Deal Notes", "varchar", &[]);
    (a, notes)
}

/// Pipedrive write requests (POST/PATCH/DELETE) to `path`, since the
/// last reset.
fn pd_writes_to(a: &Fixture, method: &str, path: &str) -> usize {
    a.pipedrive("pd")
        .server()
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

#[test]
fn an_unreadable_email_or_phone_entry_is_kept_when_crmsync_writes_the_primary_one() {
    let (a, _) = contacts_and_deals();
    let (hs, pd) = (a.hubspot("hs"), a.pipedrive("pd"));
    hs.seed(
        "contacts",
        &[
            ("email", "ann@example.com"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
            ("phone", "+1 555 0100"),
        ],
    );
    let ann = pd.seed_person(json!({
        "name": "Ann Lee",
        "emails": [{"value": "ann@example.com", "primary": true, "label": "work"}],
        "phones": [{"value": "+1 555 0100", "primary": true, "label": "work"}],
    }));
    a.work.run(&["sync"]).expect(0);

    // The spec requires no field of an entry: these have no `value`.
    let odd_email = json!({"label": "other", "primary": false});
    let odd_phone = json!({"label": "mobile", "primary": false});
    pd.add_raw_contact(ann, "emails", odd_email.clone());
    pd.add_raw_contact(ann, "phones", odd_phone.clone());
    let contact = hs.find("contacts", "email", "ann@example.com")[0]
        .id
        .clone();
    hs.edit(
        "contacts",
        &contact,
        &[("email", "ann.lee@example.com"), ("phone", "+1 555 0199")],
    );
    a.work.run(&["sync"]).expect(0);

    let person = pd.person(ann).unwrap();
    assert_eq!(
        person["emails"],
        json!([{"value": "ann.lee@example.com", "primary": true, "label": "work"}, odd_email]),
        "the primary email changed; the entry crmsync cannot read is as it was"
    );
    assert_eq!(
        person["phones"],
        json!([{"value": "+1 555 0199", "primary": true, "label": "work"}, odd_phone])
    );
    a.work.run(&["diff"]).expect(0);
}

#[test]
fn a_primary_entry_without_a_value_is_never_rewritten() {
    let (a, _) = contacts_and_deals();
    let (hs, pd) = (a.hubspot("hs"), a.pipedrive("pd"));
    let bo = pd.seed_person(json!({"name": "Bo Chen"}));
    let unreadable = json!({"label": "work", "primary": true});
    pd.add_raw_contact(bo, "emails", unreadable.clone());
    // Bo has no readable email: he is created on HubSpot by name.
    a.work.run(&["sync"]).expect(0);
    let contact = hs.find("contacts", "firstname", "Bo")[0].id.clone();

    hs.edit("contacts", &contact, &[("email", "bo@example.com")]);
    pd.server().reset_requests();
    let run = a.work.run(&["sync"]).expect(4);
    run.assert_stdout_has("primary entry has no value crmsync can read");
    assert_eq!(
        pd_writes_to(&a, "PATCH", &format!("/api/v2/persons/{bo}")),
        0,
        "nothing is sent for Bo"
    );
    assert_eq!(pd.person(bo).unwrap()["emails"], json!([unreadable]));
}

#[test]
fn clearing_a_field_pipedrive_documents_as_nullable_sends_null_and_clears_it() {
    let (a, notes) = contacts_and_deals();
    let (hs, pd) = (a.hubspot("hs"), a.pipedrive("pd"));
    let deal = hs.seed(
        "deals",
        &[
            ("dealname", "Acme"),
            ("amount", "1200"),
            ("win_chance", "40"),
            ("deal_notes", "call back"),
            ("closedate", MARCH_FIRST_MS),
        ],
    );
    a.work.run(&["sync"]).expect(0);
    let acme = deal_titled(pd, "Acme");
    let notes = &notes;
    assert_eq!(acme["probability"], json!(40));
    assert_eq!(acme["custom_fields"][notes], json!("call back"));
    assert_eq!(acme["expected_close_date"], json!("2026-03-01"));

    hs.edit("deals", &deal, &[("win_chance", ""), ("deal_notes", "")]);
    pd.server().reset_requests();
    a.work.run(&["sync"]).expect(0);
    let id = acme["id"].as_i64().unwrap();
    assert_eq!(pd_writes_to(&a, "PATCH", &format!("/api/v2/deals/{id}")), 1);
    let acme = pd.deal(id).unwrap();
    assert_eq!(acme["probability"], Value::Null);
    assert_eq!(acme["custom_fields"][notes], Value::Null);
    assert_eq!(acme["value"], json!(1200), "the rest is as it was");
    a.work.run(&["diff"]).expect(0);
}

#[test]
fn clearing_a_field_pipedrive_cannot_clear_is_invalid_and_nothing_is_sent_for_it() {
    let (a, _) = contacts_and_deals();
    let (hs, pd) = (a.hubspot("hs"), a.pipedrive("pd"));
    let acme = hs.seed(
        "deals",
        &[
            ("dealname", "Acme"),
            ("amount", "1200"),
            ("closedate", MARCH_FIRST_MS),
        ],
    );
    let globex = a
        .hubspot("hs")
        .seed("deals", &[("dealname", "Globex"), ("amount", "900")]);
    a.work.run(&["sync"]).expect(0);
    let acme_id = deal_titled(pd, "Acme")["id"].as_i64().unwrap();

    hs.edit("deals", &acme, &[("amount", ""), ("closedate", "")]);
    hs.edit("deals", &globex, &[("dealname", "Globex Corp")]);
    let diff = a.work.run(&["diff"]).expect(3);
    for reason in [
        "pd.deals `value` is not cleared: Pipedrive documents no way to clear `value`",
        "pd.deals `expected_close_date` is not cleared: Pipedrive documents no way to clear `expected_close_date`",
    ] {
        assert!(diff.stdout.contains(reason), "{reason}\n{}", diff.stdout);
    }

    pd.server().reset_requests();
    a.work.run(&["sync"]).expect(4);
    assert_eq!(
        pd_writes_to(&a, "PATCH", &format!("/api/v2/deals/{acme_id}")),
        0,
        "nothing is sent for Acme"
    );
    let acme = pd.deal(acme_id).unwrap();
    assert_eq!(acme["value"], json!(1200));
    assert_eq!(acme["expected_close_date"], json!("2026-03-01"));
    deal_titled(pd, "Globex Corp");
    // Until HubSpot has a value again, every run reports it.
    a.work.run(&["sync"]).expect(4);
    assert_eq!(
        pd_writes_to(&a, "PATCH", &format!("/api/v2/deals/{acme_id}")),
        0
    );
}

#[test]
fn a_create_without_its_required_name_or_title_is_invalid_not_sent() {
    let (a, _) = contacts_and_deals();
    let (hs, pd) = (a.hubspot("hs"), a.pipedrive("pd"));
    hs.seed("deals", &[("amount", "500")]);
    hs.seed("deals", &[("dealname", "Acme"), ("amount", "1200")]);
    hs.seed("contacts", &[("phone", "+1 555 0142")]);
    hs.seed("contacts", &[("email", "cy@example.com")]);

    let diff = a.work.run(&["diff"]).expect(3);
    for reason in [
        "cannot be created on pd.deals with `title` empty: Pipedrive requires a deal title",
        "cannot be created on pd.persons with all of `name`, `first_name`, `last_name`, `email` empty",
    ] {
        assert!(diff.stdout.contains(reason), "{reason}\n{}", diff.stdout);
    }
    a.work.run(&["sync"]).expect(4);
    let posts = |path| pd_writes_to(&a, "POST", path);
    assert_eq!(posts("/api/v2/deals"), 1, "only Acme is sent");
    assert_eq!(posts("/api/v2/persons"), 1, "only Cy is sent");
    deal_titled(pd, "Acme");
    let persons = pd.persons();
    assert_eq!(persons.len(), 1);
    assert_eq!(
        persons[0]["name"],
        json!("cy@example.com"),
        "named by email"
    );
}

#[test]
fn a_full_page_without_a_paging_cursor_stops_the_run_instead_of_ending_the_listing() {
    let (a, _) = contacts_and_deals();
    let pd = a.pipedrive("pd");
    pd.omit_additional_data(true);
    pd.seed_person(json!({"name": "Ann Lee"}));
    // One short page: the listing is whole whatever the answer says.
    a.work.run(&["pull"]).expect(0);

    for i in 0..500 {
        pd.seed_person(json!({"name": format!("Person {i}")}));
    }
    let run = a.work.run(&["pull", "--full"]).expect(1);
    run.assert_stderr_has("cannot tell whether more follow");
}
