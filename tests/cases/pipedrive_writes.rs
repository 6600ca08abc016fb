//! What crmsync writes to Pipedrive where the v2 spec is loose or strict:
//! `emails`/`phones` entries it cannot read are written back untouched,
//! `null` goes only to fields the spec marks nullable (the fake refuses any
//! other), a clear Pipedrive documents no way to make is an `invalid` item,
//! a create without its required name or title is `invalid` too, and a
//! listing whose answers leave out the paging cursor is never taken as whole.

use super::hubspot_and_pipedrive;
use crate::support::fake_hubspot::{FakeHubSpot, PropertyDef};
use crate::support::fake_pipedrive::FakePipedrive;
use crate::support::harness::{PD_TOKEN, US_TOKEN, Workdir};
use serde_json::{Value, json};

/// 2026-03-01T00:00:00Z, as HubSpot holds a date.
const MARCH_FIRST_MS: &str = "1772323200000";

struct Accounts {
    hs: FakeHubSpot,
    pd: FakePipedrive,
    work: Workdir,
    /// The Pipedrive deal custom field "Deal Notes".
    notes: String,
}

impl Accounts {
    /// Contacts ↔ persons both ways (by email); deals from HubSpot to
    /// Pipedrive with a nullable built-in (`probability`), a custom field and
    /// two built-ins that cannot be cleared (`value`, `expected_close_date`).
    fn new() -> Accounts {
        let hs = FakeHubSpot::start(US_TOKEN);
        let pd = FakePipedrive::start_unthrottled(PD_TOKEN);
        hs.define_property(
            "deals",
            PropertyDef::new("win_chance", "Win chance", "number"),
        );
        hs.define_property(
            "deals",
            PropertyDef::new("deal_notes", "Deal notes", "string"),
        );
        let notes = pd.add_custom_field("deal", "Deal Notes", "varchar", &[]);
        let work = hubspot_and_pipedrive(
            &hs,
            &pd,
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
        );
        Accounts {
            hs,
            pd,
            work,
            notes,
        }
    }

    fn deal_titled(&self, title: &str) -> Value {
        let mut found: Vec<Value> = self
            .pd
            .deals()
            .into_iter()
            .filter(|d| d["title"] == json!(title))
            .collect();
        assert_eq!(found.len(), 1, "one Pipedrive deal titled {title}");
        found.remove(0)
    }

    /// Pipedrive write requests (POST/PATCH/DELETE) to `path`, since the
    /// last reset.
    fn pd_writes_to(&self, method: &str, path: &str) -> usize {
        self.pd
            .server()
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }
}

#[test]
fn an_unreadable_email_or_phone_entry_is_kept_when_crmsync_writes_the_primary_one() {
    let a = Accounts::new();
    a.hs.seed(
        "contacts",
        &[
            ("email", "ann@example.com"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
            ("phone", "+1 555 0100"),
        ],
    );
    let ann = a.pd.seed_person(json!({
        "name": "Ann Lee",
        "emails": [{"value": "ann@example.com", "primary": true, "label": "work"}],
        "phones": [{"value": "+1 555 0100", "primary": true, "label": "work"}],
    }));
    a.work.run(&["sync"]).expect(0);

    // The spec requires no field of an entry: these have no `value`.
    let odd_email = json!({"label": "other", "primary": false});
    let odd_phone = json!({"label": "mobile", "primary": false});
    a.pd.add_raw_contact(ann, "emails", odd_email.clone());
    a.pd.add_raw_contact(ann, "phones", odd_phone.clone());
    let contact = a.hs.find("contacts", "email", "ann@example.com")[0]
        .id
        .clone();
    a.hs.edit(
        "contacts",
        &contact,
        &[("email", "ann.lee@example.com"), ("phone", "+1 555 0199")],
    );
    a.work.run(&["sync"]).expect(0);

    let person = a.pd.person(ann).unwrap();
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
    let a = Accounts::new();
    let bo = a.pd.seed_person(json!({"name": "Bo Chen"}));
    let unreadable = json!({"label": "work", "primary": true});
    a.pd.add_raw_contact(bo, "emails", unreadable.clone());
    // Bo has no readable email: he is created on HubSpot by name.
    a.work.run(&["sync"]).expect(0);
    let contact = a.hs.find("contacts", "firstname", "Bo")[0].id.clone();

    a.hs.edit("contacts", &contact, &[("email", "bo@example.com")]);
    a.pd.server().reset_requests();
    let run = a.work.run(&["sync"]).expect(4);
    assert!(
        run.stdout
            .contains("primary entry has no value crmsync can read"),
        "{}",
        run.stdout
    );
    assert_eq!(
        a.pd_writes_to("PATCH", &format!("/api/v2/persons/{bo}")),
        0,
        "nothing is sent for Bo"
    );
    assert_eq!(a.pd.person(bo).unwrap()["emails"], json!([unreadable]));
}

#[test]
fn clearing_a_field_pipedrive_documents_as_nullable_sends_null_and_clears_it() {
    let a = Accounts::new();
    let deal = a.hs.seed(
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
    let acme = a.deal_titled("Acme");
    let notes = &a.notes;
    assert_eq!(acme["probability"], json!(40));
    assert_eq!(acme["custom_fields"][notes], json!("call back"));
    assert_eq!(acme["expected_close_date"], json!("2026-03-01"));

    a.hs.edit("deals", &deal, &[("win_chance", ""), ("deal_notes", "")]);
    a.pd.server().reset_requests();
    a.work.run(&["sync"]).expect(0);
    let id = acme["id"].as_i64().unwrap();
    assert_eq!(a.pd_writes_to("PATCH", &format!("/api/v2/deals/{id}")), 1);
    let acme = a.pd.deal(id).unwrap();
    assert_eq!(acme["probability"], Value::Null);
    assert_eq!(acme["custom_fields"][notes], Value::Null);
    assert_eq!(acme["value"], json!(1200), "the rest is as it was");
    a.work.run(&["diff"]).expect(0);
}

#[test]
fn clearing_a_field_pipedrive_cannot_clear_is_invalid_and_nothing_is_sent_for_it() {
    let a = Accounts::new();
    let acme = a.hs.seed(
        "deals",
        &[
            ("dealname", "Acme"),
            ("amount", "1200"),
            ("closedate", MARCH_FIRST_MS),
        ],
    );
    let globex =
        a.hs.seed("deals", &[("dealname", "Globex"), ("amount", "900")]);
    a.work.run(&["sync"]).expect(0);
    let acme_id = a.deal_titled("Acme")["id"].as_i64().unwrap();

    a.hs.edit("deals", &acme, &[("amount", ""), ("closedate", "")]);
    a.hs.edit("deals", &globex, &[("dealname", "Globex Corp")]);
    let diff = a.work.run(&["diff"]).expect(3);
    for reason in [
        "pd.deals `value` is not cleared: Pipedrive documents no way to clear `value`",
        "pd.deals `expected_close_date` is not cleared: Pipedrive documents no way to clear `expected_close_date`",
    ] {
        assert!(diff.stdout.contains(reason), "{reason}\n{}", diff.stdout);
    }

    a.pd.server().reset_requests();
    a.work.run(&["sync"]).expect(4);
    assert_eq!(
        a.pd_writes_to("PATCH", &format!("/api/v2/deals/{acme_id}")),
        0,
        "nothing is sent for Acme"
    );
    let acme = a.pd.deal(acme_id).unwrap();
    assert_eq!(acme["value"], json!(1200));
    assert_eq!(acme["expected_close_date"], json!("2026-03-01"));
    a.deal_titled("Globex Corp");
    // Until HubSpot has a value again, every run reports it.
    a.work.run(&["sync"]).expect(4);
    assert_eq!(
        a.pd_writes_to("PATCH", &format!("/api/v2/deals/{acme_id}")),
        0
    );
}

#[test]
fn a_create_without_its_required_name_or_title_is_invalid_not_sent() {
    let a = Accounts::new();
    a.hs.seed("deals", &[("amount", "500")]);
    a.hs.seed("deals", &[("dealname", "Acme"), ("amount", "1200")]);
    a.hs.seed("contacts", &[("phone", "+1 555 0142")]);
    a.hs.seed("contacts", &[("email", "cy@example.com")]);

    let diff = a.work.run(&["diff"]).expect(3);
    for reason in [
        "cannot be created on pd.deals with `title` empty: Pipedrive requires a deal title",
        "cannot be created on pd.persons with all of `name`, `first_name`, `last_name`, `email` empty",
    ] {
        assert!(diff.stdout.contains(reason), "{reason}\n{}", diff.stdout);
    }
    a.work.run(&["sync"]).expect(4);
    let posts = |path| a.pd_writes_to("POST", path);
    assert_eq!(posts("/api/v2/deals"), 1, "only Acme is sent");
    assert_eq!(posts("/api/v2/persons"), 1, "only Cy is sent");
    a.deal_titled("Acme");
    let persons = a.pd.persons();
    assert_eq!(persons.len(), 1);
    assert_eq!(
        persons[0]["name"],
        json!("cy@example.com"),
        "named by email"
    );
}

#[test]
fn a_full_page_without_a_paging_cursor_stops_the_run_instead_of_ending_the_listing() {
    let a = Accounts::new();
    a.pd.omit_additional_data(true);
    a.pd.seed_person(json!({"name": "Ann Lee"}));
    // One short page: the listing is whole whatever the answer says.
    a.work.run(&["pull"]).expect(0);

    for i in 0..500 {
        a.pd.seed_person(json!({"name": format!("Person {i}")}));
    }
    let run = a.work.run(&["pull", "--full"]).expect(1);
    assert!(
        run.stderr.contains("cannot tell whether more follow"),
        "{}",
        run.stderr
    );
}
