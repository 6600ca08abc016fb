//! One connector conformance suite, run against both vendors (rclone's
//! fstests idea): list across pages, create → list round trip, update, read
//! by id, a write the server refuses for one record while it applies the
//! other, delete (twice: a record already gone counts as deleted), field
//! description, a rejected token is fatal, a 429 is waited out and retried.
//! Its value is in forcing the two connectors to behave the same.

use crate::support::fake_hubspot::FakeHubSpot;
use crate::support::fake_pipedrive::FakePipedrive;
use crate::support::server::{Fault, Response};
use crmsync::config::{DEFAULT_HUBSPOT_API_VERSION, SystemConfig, SystemKind};
use crmsync::connector::http::ApiError;
use crmsync::connector::{
    Connector, FieldType, MergeRequest, NewRecord, RecordRef, RecordUpdate, WriteOutcome,
    hubspot::HubSpot, pipedrive::Pipedrive,
};
use crmsync::model::ObjectKind;
use crmsync::secret::Secret;
use serde_json::json;
use std::collections::BTreeMap;

fn system(kind: SystemKind, url: &str) -> SystemConfig {
    SystemConfig {
        name: "fake".into(),
        file: "sync.toml".into(),
        kind,
        token_env: "UNUSED".into(),
        base_url: url.into(),
        api_version: DEFAULT_HUBSPOT_API_VERSION.into(),
        requests_per_10s: 10_000,
        retry: Default::default(),
        daily_tokens: None,
        daily_reserve: None,
        state_dir: None,
    }
}

/// What the suite needs from each vendor and object.
struct Subject<'a> {
    connector: Box<dyn Connector>,
    impostor: Box<dyn Connector>,
    object: ObjectKind,
    /// A text field the records are told apart by (an email; an
    /// organization's website), and a name field, in the vendor's own names.
    email: &'a str,
    name: &'a str,
    /// Records already in the account (more than one page).
    seeded: usize,
    inject_429: &'a dyn Fn(),
    /// Arranges that the second of the next two creates is refused by the
    /// server, and returns the `email` value that record is to be sent with.
    refuse_second_create: &'a dyn Fn() -> String,
}

fn fields(s: &Subject) -> Vec<String> {
    vec![s.email.to_string(), s.name.to_string()]
}

fn conformance(s: Subject) {
    let listed = s
        .connector
        .list(s.object, &fields(&s), &|_| {})
        .expect("list");
    assert_eq!(listed.len(), s.seeded, "every page is read");
    assert!(listed.iter().all(|r| r.updated_ms > 0));

    let new = |i: usize| NewRecord {
        key: format!("k{i}"),
        fields: BTreeMap::from([
            (s.email.to_string(), format!("new{i}@example.com")),
            (s.name.to_string(), format!("New{i}")),
        ]),
    };
    let records: Vec<NewRecord> = (0..3).map(new).collect();
    let mut created = Vec::new();
    for chunk in records.chunks(s.connector.capabilities().max_batch) {
        created.extend(
            s.connector
                .create(s.object, chunk, &fields(&s))
                .expect("create"),
        );
    }
    assert_eq!(created.len(), 3);
    let ids: Vec<String> = created
        .iter()
        .map(|r| r.outcome.written().expect("created").id.clone())
        .collect();
    let listed = s
        .connector
        .list(s.object, &fields(&s), &|_| {})
        .expect("list");
    assert_eq!(listed.len(), s.seeded + 3);
    let first = listed
        .iter()
        .find(|r| r.id == ids[0])
        .expect("created record listed");
    assert_eq!(first.get(s.email), "new0@example.com");
    assert_eq!(first.get(s.name), "New0");

    let update = RecordUpdate {
        key: "u".into(),
        id: ids[1].clone(),
        fields: BTreeMap::from([(s.name.to_string(), "Renamed".to_string())]),
        previous: BTreeMap::new(),
    };
    let updated = s
        .connector
        .update(s.object, &[update], &fields(&s))
        .expect("update");
    assert_eq!(
        updated[0].outcome.written().expect("updated").get(s.name),
        "Renamed"
    );
    let read = s.connector.read(s.object, &ids, &fields(&s)).expect("read");
    assert_eq!(read.len(), 3);
    assert_eq!(
        read.iter().find(|r| r.id == ids[1]).unwrap().get(s.name),
        "Renamed"
    );

    // One record refused, the other applied: each gets its own outcome.
    let bad_email = (s.refuse_second_create)();
    let pair = [
        NewRecord {
            key: "good".into(),
            fields: BTreeMap::from([
                (s.email.to_string(), "good@example.com".to_string()),
                (s.name.to_string(), "Good".to_string()),
            ]),
        },
        NewRecord {
            key: "bad".into(),
            fields: BTreeMap::from([
                (s.email.to_string(), bad_email),
                (s.name.to_string(), "Bad".to_string()),
            ]),
        },
    ];
    let mut outcomes = s
        .connector
        .create(s.object, &pair, &fields(&s))
        .expect("a refused record is an outcome, not an error");
    outcomes.sort_by(|a, b| a.key.cmp(&b.key));
    assert!(
        matches!(outcomes[0].outcome, WriteOutcome::Refused(_)),
        "{outcomes:?}"
    );
    let good = outcomes[1]
        .outcome
        .written()
        .expect("the good one is written");
    let listed = s.connector.list(s.object, &fields(&s), &|_| {}).unwrap();
    assert_eq!(listed.len(), s.seeded + 4, "only the good one was made");

    // Delete, then delete again: gone is gone.
    for attempt in ["delete", "delete again"] {
        let gone = s
            .connector
            .delete(
                s.object,
                &[RecordRef {
                    key: "d".into(),
                    id: good.id.clone(),
                }],
            )
            .expect(attempt);
        assert!(gone[0].outcome.written().is_some(), "{attempt}: {gone:?}");
    }
    let listed = s.connector.list(s.object, &fields(&s), &|_| {}).unwrap();
    assert_eq!(listed.len(), s.seeded + 3);
    assert!(listed.iter().all(|r| r.id != good.id));

    // The account describes the fields it has, and only those.
    let names = [
        s.email.to_string(),
        s.name.to_string(),
        "no_such_field".to_string(),
    ];
    let described = s.connector.describe(s.object, &names).expect("describe");
    assert_eq!(described.len(), 3);
    let email = described[0].as_ref().expect("the email field is described");
    assert_eq!(email.kind, FieldType::Text);
    assert!(!email.read_only);
    assert!(described[1].is_some());
    assert!(described[2].is_none(), "a field the account lacks");

    let refused = s
        .impostor
        .list(s.object, &fields(&s), &|_| {})
        .expect_err("a bad token fails");
    assert!(
        matches!(
            refused.downcast_ref::<ApiError>(),
            Some(ApiError::Unauthorized { .. })
        ),
        "{refused:#}"
    );

    (s.inject_429)();
    let listed = s
        .connector
        .list(s.object, &fields(&s), &|_| {})
        .expect("a 429 is retried");
    assert_eq!(listed.len(), s.seeded + 3);
}

#[test]
fn hubspot_connector_conforms() {
    let fake = FakeHubSpot::start("hs-token");
    let seeded = 205;
    fake.seed_many(
        "contacts",
        (0..seeded)
            .map(|i| BTreeMap::from([("email".to_string(), format!("seed{i}@example.com"))]))
            .collect(),
    );
    let connector = HubSpot::new(
        &system(SystemKind::Hubspot, &fake.url()),
        &Secret::new("hs-token".into()),
    )
    .unwrap();
    let impostor = HubSpot::new(
        &system(SystemKind::Hubspot, &fake.url()),
        &Secret::new("wrong".into()),
    )
    .unwrap();
    let inject = || {
        let body = json!({"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"});
        fake.server().inject(
            "GET",
            1,
            Fault::Respond(Response::json(429, &body).with_header("Retry-After", "1")),
        );
    };
    // HubSpot refuses an address that is not an email with a 207, applying
    // the rest of the batch.
    let refuse = || "not-an-email".to_string();
    conformance(Subject {
        connector: Box::new(connector),
        impostor: Box::new(impostor),
        object: ObjectKind::Contacts,
        email: "email",
        name: "firstname",
        seeded,
        inject_429: &inject,
        refuse_second_create: &refuse,
    });
    assert!(fake.unknown_routes().is_empty());
}

#[test]
fn pipedrive_connector_conforms() {
    pipedrive_conforms(ObjectKind::Persons, "email", &|fake, i| {
        fake.seed_person(json!({"name": format!("Seed {i}"), "emails": [{"value": format!("seed{i}@example.com"), "primary": true}]}));
    });
}

/// The suite against the fake Pipedrive for one object: `email` is the
/// object's text field that tells records apart, `seed` makes its i-th
/// record in the account (501 of them: more than one page).
pub(super) fn pipedrive_conforms(
    object: ObjectKind,
    email: &str,
    seed: &dyn Fn(&FakePipedrive, usize),
) {
    let fake = FakePipedrive::start_unthrottled("pd-token");
    let seeded = 501;
    for i in 0..seeded {
        seed(&fake, i);
    }
    let connector = Pipedrive::new(
        &system(SystemKind::Pipedrive, &fake.url()),
        &Secret::new("pd-token".into()),
    )
    .unwrap();
    let impostor = Pipedrive::new(
        &system(SystemKind::Pipedrive, &fake.url()),
        &Secret::new("wrong".into()),
    )
    .unwrap();
    let inject = || {
        let body = json!({"success": false, "error": "Request over limit", "errorCode": 429});
        fake.server().inject(
            "GET",
            1,
            Fault::Respond(Response::json(429, &body).with_header("x-ratelimit-reset", "1")),
        );
    };
    // Pipedrive writes one record a call: its second POST is answered
    // with a validation error.
    let create = format!("POST /api/v2/{object}");
    let refuse = || {
        let body = json!({"success": false, "error": "Validation failed: name: Value must not be empty", "errorCode": 400});
        fake.server()
            .inject(&create, 1, Fault::Delay(std::time::Duration::ZERO));
        fake.server()
            .inject(&create, 1, Fault::Respond(Response::json(400, &body)));
        "bad@example.com".to_string()
    };
    conformance(Subject {
        connector: Box::new(connector),
        impostor: Box::new(impostor),
        object,
        email,
        name: "name",
        seeded,
        inject_429: &inject,
        refuse_second_create: &refuse,
    });
    assert!(fake.unknown_routes().is_empty());
}

#[test]
fn hubspot_incremental_listing_reaches_past_the_ten_thousand_search_cap() {
    let fake = FakeHubSpot::start("hs-token");
    let n = 10_250;
    fake.seed_many(
        "contacts",
        (0..n)
            .map(|i| BTreeMap::from([("email".to_string(), format!("many{i}@example.com"))]))
            .collect(),
    );
    let connector = HubSpot::new(
        &system(SystemKind::Hubspot, &fake.url()),
        &Secret::new("hs-token".into()),
    )
    .unwrap();
    let fields = vec!["email".to_string()];
    let changed = connector
        .list_changed(ObjectKind::Contacts, &fields, 0, &|_| {})
        .expect("search");
    let mut ids: Vec<&str> = changed.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "every changed record once");
    // 200 a page; a new id window after 10,000 results.
    let searches = fake.server().counts_by_endpoint()["POST /crm/objects/2026-09/contacts/search"];
    assert_eq!(
        searches,
        n.div_ceil(200),
        "50 pages reach 10,000, then 2 pages from above the last id"
    );
}

#[test]
fn pipedrive_incremental_listing_asks_for_updates_since_in_whole_seconds() {
    let fake = FakePipedrive::start_unthrottled("pd-token");
    let old = fake.seed_person(
        json!({"name": "Old", "emails": [{"value": "old@example.com", "primary": true}]}),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = crmsync::timestamp::now_ms();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let new = fake.seed_person(
        json!({"name": "New", "emails": [{"value": "new@example.com", "primary": true}]}),
    );
    let connector = Pipedrive::new(
        &system(SystemKind::Pipedrive, &fake.url()),
        &Secret::new("pd-token".into()),
    )
    .unwrap();
    let changed = connector
        .list_changed(ObjectKind::Persons, &["email".to_string()], since, &|_| {})
        .expect("list");
    let ids: Vec<String> = changed.iter().map(|r| r.id.clone()).collect();
    assert_eq!(
        ids,
        vec![new.to_string()],
        "only the person updated since (not {old})"
    );
    let query = &fake.server().requests()[0].query;
    assert!(
        query
            .iter()
            .any(|(k, v)| k == "updated_since" && v.ends_with('Z') && !v.contains('.')),
        "{query:?}"
    );
    assert!(
        query
            .iter()
            .any(|(k, v)| k == "sort_by" && v == "update_time")
    );
}

#[test]
fn both_connectors_merge_and_say_what_a_merged_record_became() {
    let fields = vec!["email".to_string(), "firstname".to_string()];
    let hs = FakeHubSpot::start("hs-token");
    let primary = hs.seed(
        "contacts",
        &[("email", "a@example.com"), ("firstname", "A")],
    );
    let other = hs.seed(
        "contacts",
        &[("email", "b@example.com"), ("firstname", "B")],
    );
    let connector = HubSpot::new(
        &system(SystemKind::Hubspot, &hs.url()),
        &Secret::new("hs-token".into()),
    )
    .unwrap();
    let merged = connector
        .merge(
            ObjectKind::Contacts,
            &[MergeRequest {
                key: "0".into(),
                kept: primary.clone(),
                merged: other.clone(),
            }],
            &fields,
        )
        .expect("merge");
    let result = merged[0].outcome.written().expect("merged").clone();
    assert!(result.id != primary && result.id != other, "a new id");
    assert_eq!(result.get("firstname"), "A", "the primary's values");
    // Listed, the result names what it is made of and every email.
    let listed = connector
        .list(ObjectKind::Contacts, &fields, &|_| {})
        .expect("list");
    assert_eq!(listed.len(), 1);
    let mut from = listed[0].merged_from().to_vec();
    from.sort();
    assert_eq!(from, [primary.clone(), other.clone()]);
    let emails: Vec<&str> = listed[0].values_of("email").collect();
    assert_eq!(emails, ["a@example.com", "b@example.com"]);
    // An old id resolves to the result; an id never merged to nothing.
    let resolved = connector
        .resolve_merged(
            ObjectKind::Contacts,
            &[other.clone(), "999".into()],
            &fields,
        )
        .expect("resolve");
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        (resolved[0].0.as_str(), resolved[0].1.id.as_str()),
        (other.as_str(), result.id.as_str())
    );

    let pd = FakePipedrive::start("pd-token");
    let person = |email: &str| json!({"name": "P", "emails": [{"value": email, "primary": true}]});
    let (kept, gone) = (
        pd.seed_person(person("a@example.com")),
        pd.seed_person(person("b@example.com")),
    );
    let connector = Pipedrive::new(
        &system(SystemKind::Pipedrive, &pd.url()),
        &Secret::new("pd-token".into()),
    )
    .unwrap();
    // The answer of a merge that happened is lost: it is unknown, never
    // failed, and the merged person no longer answers under its id.
    pd.server().inject("/merge", 1, Fault::CommitThenDrop);
    let request = MergeRequest {
        key: "0".into(),
        kept: kept.to_string(),
        merged: gone.to_string(),
    };
    let lost = connector.merge(
        ObjectKind::Persons,
        std::slice::from_ref(&request),
        &["email".to_string()],
    );
    assert!(lost.is_err(), "a dropped answer stops the run: {lost:?}");
    let read = connector
        .read(
            ObjectKind::Persons,
            &[gone.to_string(), kept.to_string()],
            &["email".to_string()],
        )
        .expect("read");
    let ids: Vec<&str> = read.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [kept.to_string()]);
    let emails: Vec<&str> = read[0].values_of("email").collect();
    assert_eq!(
        emails,
        ["a@example.com", "b@example.com"],
        "the survivor took the email"
    );
    // Sent again, the merge is refused for that record alone.
    let again = connector
        .merge(ObjectKind::Persons, &[request], &["email".to_string()])
        .expect("a refusal is an outcome");
    assert!(
        matches!(again[0].outcome, WriteOutcome::Refused(_)),
        "{again:?}"
    );
}
