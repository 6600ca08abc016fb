//! The fake's self-tests: the HubSpot behaviour it must show, called over
//! HTTP as a client would.

use super::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const TOKEN: &str = "pat-na1-test";
const V: &str = "2026-09";

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// Calls the fake as a client would; `token` "" sends no Authorization.
fn call(fake: &FakeHubSpot, token: &str, path: &str, body: Option<Value>) -> Reply {
    let url = format!("{}{path}", fake.url());
    let mut request = match body {
        Some(body) => Client::new().post(url).json(&body),
        None => Client::new().get(url),
    };
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let response = request.send().expect("the fake answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let text = response.text().expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn get(fake: &FakeHubSpot, path: &str) -> Reply {
    call(fake, TOKEN, path, None)
}

fn post(fake: &FakeHubSpot, path: &str, body: Value) -> Reply {
    call(fake, TOKEN, path, Some(body))
}

fn ids(reply: &Reply, field: &str) -> Vec<String> {
    let results = reply.body["results"].as_array().unwrap();
    results
        .iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect()
}

fn emails(n: usize) -> Vec<BTreeMap<String, String>> {
    (0..n)
        .map(|i| BTreeMap::from([("email".into(), format!("p{i}@example.com"))]))
        .collect()
}

#[test]
fn lists_250_contacts_in_three_pages_without_paging_on_the_last() {
    let fake = FakeHubSpot::start(TOKEN);
    let seeded = fake.seed_many("contacts", emails(250));
    let (mut seen, mut sizes, mut after) = (vec![], vec![], String::new());
    loop {
        let page = get(
            &fake,
            &format!("/crm/objects/{V}/contacts?limit=100&properties=email,phone{after}"),
        );
        assert_eq!(page.status, 200);
        sizes.push(page.body["results"].as_array().unwrap().len());
        seen.extend(ids(&page, "id"));
        assert_eq!(page.body["results"][0]["properties"]["phone"], Value::Null);
        assert!(page.body["results"][0]["properties"]["lastmodifieddate"].is_string());
        let Some(paging) = page.body.get("paging") else {
            break;
        };
        after = format!("&after={}", paging["next"]["after"].as_str().unwrap());
    }
    assert_eq!((sizes, seen), (vec![100, 100, 50], seeded));
    assert_eq!(
        get(&fake, &format!("/crm/objects/{V}/contacts?limit=101")).status,
        400
    );
    assert_eq!(
        get(&fake, &format!("/crm/objects/{V}/contacts?limit=0")).status,
        400
    );
}

#[test]
fn missing_or_wrong_token_is_401_with_hubspot_body() {
    let fake = FakeHubSpot::start(TOKEN);
    for token in ["", "pat-wrong"] {
        let reply = call(&fake, token, &format!("/crm/objects/{V}/contacts"), None);
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body["category"], "INVALID_AUTHENTICATION");
        assert_eq!(reply.body["message"], AUTH_MESSAGE);
        assert_eq!(reply.body["correlationId"].as_str().unwrap().len(), 36);
    }
}

#[test]
fn upsert_creates_then_updates_by_email_in_any_case() {
    let fake = FakeHubSpot::start(TOKEN);
    let upsert = |email: &str, name: &str| {
        let input =
            json!({ "idProperty": "email", "id": email, "properties": { "firstname": name } });
        post(
            &fake,
            &format!("/crm/objects/{V}/contacts/batch/upsert"),
            json!({ "inputs": [input] }),
        )
    };
    let first = upsert("Ann@Example.com", "Ann");
    assert_eq!(
        (first.status, &first.body["results"][0]["new"]),
        (200, &json!(true))
    );
    let second = upsert("ann@EXAMPLE.com", "Annie");
    assert_eq!(second.body["results"][0]["new"], false);
    assert_eq!(ids(&second, "id"), ids(&first, "id"));
    let all = fake.records("contacts");
    assert_eq!(all.len(), 1);
    assert_eq!(
        (
            &*all[0].properties["email"],
            &*all[0].properties["firstname"]
        ),
        ("ann@example.com", "Annie")
    );
    let by_name = json!({ "inputs": [{ "idProperty": "dealname", "id": "x", "properties": {} }] });
    assert_eq!(
        post(
            &fake,
            &format!("/crm/objects/{V}/deals/batch/upsert"),
            by_name
        )
        .status,
        400
    );
}

#[test]
fn creating_a_duplicate_email_is_409_and_writes_nothing() {
    let fake = FakeHubSpot::start(TOKEN);
    let existing = fake.seed("contacts", &[("email", "bo@example.com")]);
    let inputs = json!([{ "properties": { "email": "new@example.com" }, "associations": [] }, { "properties": { "email": " BO@example.com " }, "associations": [] }]);
    let reply = post(
        &fake,
        &format!("/crm/objects/{V}/contacts/batch/create"),
        json!({ "inputs": inputs }),
    );
    assert_eq!(
        (reply.status, &reply.body["category"]),
        (409, &json!("CONFLICT"))
    );
    assert_eq!(
        reply.body["message"],
        format!("Contact already exists. Existing ID: {existing}")
    );
    assert_eq!(fake.records("contacts").len(), 1);
}

#[test]
fn trace_ids_turn_one_bad_input_into_a_207() {
    let fake = FakeHubSpot::start(TOKEN);
    let inputs: Vec<Value> = ["a@example.com", "not-an-email", "c@example.com"]
        .iter()
        .enumerate()
        .map(|(i, email)| json!({ "properties": { "email": email }, "associations": [], "objectWriteTraceId": format!("t{i}") }))
        .collect();
    let reply = post(
        &fake,
        &format!("/crm/objects/{V}/contacts/batch/create"),
        json!({ "inputs": inputs }),
    );
    assert_eq!((reply.status, &reply.body["numErrors"]), (207, &json!(1)));
    let error = &reply.body["errors"][0];
    assert_eq!(error["category"], "VALIDATION_ERROR");
    assert_eq!(error["context"]["objectWriteTraceId"], json!(["t1"]));
    assert!(error["message"].as_str().unwrap().contains("INVALID_EMAIL"));
    assert_eq!(
        ids(&reply, "objectWriteTraceId"),
        ["t2", "t0"],
        "results come back reversed"
    );
    assert_eq!(fake.records("contacts").len(), 2);
}

#[test]
fn bad_batches_are_400_and_write_nothing() {
    let fake = FakeHubSpot::start(TOKEN);
    let path = format!("/crm/objects/{V}/contacts/batch/create");
    let one_bad = json!([{ "properties": { "email": "a@example.com" }, "associations": [] }, { "properties": { "amount": "12" }, "associations": [] }]);
    let reply = post(&fake, &path, json!({ "inputs": one_bad }));
    assert_eq!(
        reply.status, 400,
        "no trace ids: one bad input fails the batch"
    );
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("PROPERTY_DOESNT_EXIST")
    );
    let too_many: Vec<Value> = emails(101)
        .into_iter()
        .map(|p| json!({ "properties": p }))
        .collect();
    assert_eq!(
        post(&fake, &path, json!({ "inputs": too_many })).status,
        400
    );
    assert_eq!(post(&fake, &path, json!({ "inputs": [] })).status, 400);
    let raw = Client::new()
        .post(fake.url() + &path)
        .bearer_auth(TOKEN)
        .body("{\"inputs\": [");
    assert_eq!(raw.send().unwrap().status().as_u16(), 400);
    assert!(fake.records("contacts").is_empty());
}

#[test]
fn invalid_property_values_are_rejected_with_hubspot_codes() {
    let fake = FakeHubSpot::start(TOKEN);
    let cases = [
        (
            json!({ "foo": "x" }),
            r#"{"isValid":false,"message":"Property \"foo\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"foo"}"#,
        ),
        (json!({ "hs_lastmodifieddate": "1" }), "READ_ONLY_VALUE"),
        (json!({ "amount": "12,5" }), "INVALID_FLOAT"),
        (json!({ "dealstage": "nope" }), "INVALID_OPTION"),
        (json!({ "hubspot_owner_id": "1" }), "INVALID_OPTION"),
        (json!({ "closedate": "1767225600001" }), "INVALID_DATE"),
    ];
    for (props, expected) in cases {
        let input = json!({ "inputs": [{ "properties": props, "associations": [] }] });
        let reply = post(
            &fake,
            &format!("/crm/objects/{V}/deals/batch/create"),
            input,
        );
        let message = reply.body["message"].as_str().unwrap();
        assert!(
            reply.status == 400 && message.contains(expected),
            "{props}: {message}"
        );
    }
    let deal = fake.seed(
        "deals",
        &[("dealstage", "closedwon"), ("closedate", "1767225600000")],
    );
    let record = fake.record("deals", &deal).unwrap();
    assert_eq!(
        (
            &*record.properties["pipeline"],
            &*record.properties["closedate"]
        ),
        ("default", "2026-01-01")
    );
}

#[test]
fn every_write_strictly_advances_the_modified_time() {
    // Imported here: the benchmark builds this module without its tests.
    use super::time::parse_instant;
    let fake = FakeHubSpot::start(TOKEN);
    let id = fake.seed("contacts", &[("email", "m@example.com")]);
    let mut stamps = vec![fake.record("contacts", &id).unwrap().updated_ms];
    for _ in 0..3 {
        let input = json!({ "inputs": [{ "id": id, "properties": { "firstname": "Same" } }] });
        let reply = post(
            &fake,
            &format!("/crm/objects/{V}/contacts/batch/update"),
            input,
        );
        let result = &reply.body["results"][0];
        assert_eq!(
            (reply.status, &result["updatedAt"]),
            (200, &result["properties"]["lastmodifieddate"])
        );
        stamps.push(parse_instant(result["updatedAt"].as_str().unwrap()).unwrap());
    }
    fake.edit("contacts", &id, &[("firstname", "Same")]);
    stamps.push(fake.record("contacts", &id).unwrap().updated_ms);
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
}

#[test]
fn requests_past_the_rolling_limit_are_429() {
    let fake = FakeHubSpot::start(TOKEN);
    fake.set_rate_limit(3, 10_000);
    let path = format!("/crm/objects/{V}/contacts");
    for remaining in ["2", "1", "0"] {
        let reply = get(&fake, &path);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers["x-hubspot-ratelimit-remaining"], remaining);
    }
    let limited = get(&fake, &path);
    assert_eq!(
        (limited.status, &limited.body["policyName"]),
        (429, &json!("TEN_SECONDLY_ROLLING"))
    );
    assert_eq!(
        limited.body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert!(!limited.headers.contains_key("retry-after"));
    fake.set_retry_after(Some(2));
    assert_eq!(get(&fake, &path).headers["retry-after"], "2");
    assert_eq!(fake.rate_limited_count(), 2);
}

#[test]
fn legacy_and_unknown_version_paths_are_404() {
    let fake = FakeHubSpot::start(TOKEN);
    assert_eq!(get(&fake, "/crm/v3/objects/contacts").status, 404);
    let read = json!({ "inputs": [{ "id": "1" }] });
    assert_eq!(
        post(
            &fake,
            "/crm/v4/associations/deals/contacts/batch/read",
            read
        )
        .status,
        404
    );
    assert_eq!(get(&fake, "/crm/objects/2025-09/contacts").status, 404);
    assert_eq!(get(&fake, &format!("/crm/owners/{V}")).status, 200);
    // The schema's path has no trailing slash.
    assert_eq!(get(&fake, &format!("/crm/owners/{V}/")).status, 404);
    assert_eq!(fake.unknown_routes().len(), 4);
}

#[test]
fn search_gte_on_lastmodifieddate_sees_later_edits() {
    let fake = FakeHubSpot::start(TOKEN);
    let seeded = fake.seed_many("contacts", emails(3));
    let since = fake.record("contacts", &seeded[1]).unwrap().updated_ms;
    fake.edit("contacts", &seeded[0], &[("firstname", "Edited")]);
    let path = format!("/crm/objects/{V}/contacts/search");
    for value in [json!(since.to_string()), json!(format_iso(since))] {
        let filter =
            json!({ "propertyName": "lastmodifieddate", "operator": "GTE", "value": value });
        let body = json!({
            "filterGroups": [{ "filters": [filter] }], "properties": ["firstname"], "limit": 2,
            "sorts": [{ "propertyName": "lastmodifieddate", "direction": "ASCENDING" }],
            "after": "0",
        });
        let reply = post(&fake, &path, body);
        assert_eq!(
            (reply.status, &reply.body["total"]),
            (200, &json!(3)),
            "{}",
            reply.body
        );
        // Oldest first; records stamped in the same millisecond in id order.
        let mut by_time: Vec<(i64, u64, String)> = (seeded.iter())
            .map(|id| {
                (
                    fake.record("contacts", id).unwrap().updated_ms,
                    id.parse().unwrap(),
                    id.clone(),
                )
            })
            .collect();
        by_time.sort();
        let oldest: Vec<String> = by_time.into_iter().take(2).map(|(_, _, id)| id).collect();
        assert_eq!(ids(&reply, "id"), oldest);
        assert_eq!(reply.body["paging"]["next"]["after"], "2");
    }
    let page = |limit: u64, after: &str| json!({ "filterGroups": [], "properties": [], "sorts": [], "limit": limit, "after": after });
    assert_eq!(post(&fake, &path, page(201, "0")).status, 400);
    assert_eq!(post(&fake, &path, page(10, "10000")).status, 400);
    assert_eq!(
        post(&fake, &path, json!({ "limit": 10 })).status,
        400,
        "after, sorts, … are required"
    );
}

#[test]
fn missing_scope_is_403_and_accounts_never_share_ids() {
    let fake = FakeHubSpot::start(TOKEN);
    fake.set_scopes(&["crm.objects.contacts.read"]);
    let reply = get(&fake, &format!("/crm/objects/{V}/deals"));
    assert_eq!(
        (reply.status, &reply.body["category"]),
        (403, &json!("MISSING_SCOPES"))
    );
    let scopes = &reply.body["errors"][0]["context"]["requiredGranularScopes"];
    assert_eq!(scopes, &json!(["crm.objects.deals.read"]));
    let other = FakeHubSpot::start(TOKEN);
    assert_ne!(fake.seed("contacts", &[]), other.seed("contacts", &[]));
}

#[test]
fn associations_do_not_touch_the_deal_modified_time() {
    let fake = FakeHubSpot::start(TOKEN);
    let contact = fake.seed("contacts", &[("email", "c@example.com")]);
    let deal = fake.seed("deals", &[("dealname", "Big")]);
    let before = fake.record("deals", &deal).unwrap().updated_ms;
    let base = format!("/crm/associations/{V}/deals/contacts/batch");
    let link = json!({ "inputs": [{ "from": { "id": deal }, "to": { "id": contact } }] });
    assert_eq!(
        post(&fake, &format!("{base}/associate/default"), link).status,
        200
    );
    let read = post(
        &fake,
        &format!("{base}/read"),
        json!({ "inputs": [{ "id": deal }] }),
    );
    assert_eq!(
        read.body["results"][0]["to"][0]["toObjectId"],
        json!(contact)
    );
    let listed = get(
        &fake,
        &format!("/crm/objects/{V}/deals?associations=contacts"),
    );
    let linked = &listed.body["results"][0]["associations"]["contacts"]["results"][0];
    assert_eq!(
        (&linked["id"], &linked["type"]),
        (&json!(contact), &json!("deal_to_contact"))
    );
    assert_eq!(fake.record("deals", &deal).unwrap().updated_ms, before);
    let unlink = json!({ "inputs": [{ "from": { "id": deal }, "to": [{ "id": contact }] }] });
    assert_eq!(post(&fake, &format!("{base}/archive"), unlink).status, 204);
    assert!(fake.associations(&deal).is_empty());
}

#[test]
fn companies_share_domains_and_associate_with_contacts_from_either_end() {
    let fake = FakeHubSpot::start(TOKEN);
    let create = json!({ "inputs": [
        { "properties": { "name": "Acme", "domain": "acme.io" }, "associations": [] },
        { "properties": { "name": "Acme EU", "domain": "ACME.io" }, "associations": [] },
    ] });
    let path = format!("/crm/objects/{V}/companies/batch/create");
    assert_eq!(
        post(&fake, &path, create).status,
        201,
        "domain is not unique"
    );
    let [acme, _] = [0, 1].map(|i| fake.records("companies")[i].id.clone());
    let contact = fake.seed("contacts", &[("email", "c@example.com")]);
    let lone = fake.seed("contacts", &[("email", "lone@example.com")]);
    let base = format!("/crm/associations/{V}/contacts/companies/batch");
    let link = json!({ "inputs": [{ "from": { "id": contact }, "to": { "id": acme } }] });
    let made = post(&fake, &format!("{base}/associate/default"), link);
    assert_eq!(
        made.body["results"][0]["associationSpec"]["associationTypeId"],
        json!(279)
    );
    // Seen from the company's end too, and embedded in a contacts list.
    assert_eq!(
        fake.associated_ids("companies", &acme, "contacts"),
        vec![contact.clone()]
    );
    let listed = get(
        &fake,
        &format!("/crm/objects/{V}/contacts?associations=companies,deals"),
    );
    let embedded = &listed.body["results"][0]["associations"];
    assert_eq!(embedded["companies"]["results"][0]["id"], json!(acme));
    assert!(embedded.get("deals").is_none(), "no deals: left out");
    assert!(listed.body["results"][1].get("associations").is_none());
    let read = post(
        &fake,
        &format!("{base}/read"),
        json!({ "inputs": [{ "id": contact }, { "id": lone }] }),
    );
    assert_eq!(read.status, 207);
    assert_eq!(read.body["results"][0]["to"][0]["toObjectId"], json!(acme));
    assert_eq!(
        read.body["errors"][0]["context"]["fromObjectId"],
        json!([lone])
    );
    // Archiving the company hides the association; the contact stays.
    fake.archive("companies", &acme);
    assert!(
        fake.associated_ids("contacts", &contact, "companies")
            .is_empty()
    );
    assert!(
        fake.record("contacts", &contact)
            .is_some_and(|c| !c.archived)
    );
    let same = format!("/crm/associations/{V}/companies/companies/batch/read");
    assert_eq!(
        post(&fake, &same, json!({ "inputs": [{ "id": acme }] })).status,
        404
    );
}

#[test]
fn reads_and_updates_refuse_missing_records_and_taken_emails() {
    let fake = FakeHubSpot::start(TOKEN);
    let a = fake.seed("contacts", &[("email", "a@example.com")]);
    let b = fake.seed("contacts", &[("email", "b@example.com")]);
    fake.archive("contacts", &b);
    let read = json!({ "properties": ["email"], "propertiesWithHistory": [], "inputs": [{ "id": a }, { "id": b }] });
    let reply = post(
        &fake,
        &format!("/crm/objects/{V}/contacts/batch/read"),
        read,
    );
    assert_eq!(
        (reply.status, &reply.body["errors"][0]["context"]["ids"]),
        (207, &json!([b]))
    );
    assert_eq!(
        get(&fake, &format!("/crm/objects/{V}/contacts/{b}")).status,
        404
    );
    let path = format!("/crm/objects/{V}/contacts/batch/update");
    let gone = json!({ "inputs": [{ "id": b, "properties": { "firstname": "X" } }] });
    assert_eq!(
        post(&fake, &path, gone).body["category"],
        "OBJECT_NOT_FOUND"
    );
    let c = fake.seed("contacts", &[("email", "c@example.com")]);
    let taken = json!({ "inputs": [{ "id": c, "properties": { "email": "A@example.com" } }] });
    assert_eq!(post(&fake, &path, taken).status, 409);
    let deal = fake.seed(
        "deals",
        &[("pipeline", ""), ("dealname", "No pipeline given")],
    );
    assert_eq!(
        fake.record("deals", &deal).unwrap().properties["pipeline"],
        "default"
    );
}

fn merge_body(primary: &str, merged: &str) -> Value {
    json!({ "primaryObjectId": primary, "objectIdToMerge": merged })
}

fn search_ids(fake: &FakeHubSpot, object: &str) -> Vec<String> {
    let body = json!({ "filterGroups": [], "sorts": [], "properties": ["email"], "limit": 100, "after": null });
    ids(
        &post(fake, &format!("/crm/objects/{V}/{object}/search"), body),
        "id",
    )
}

#[test]
fn a_contact_merge_makes_a_new_record_that_both_old_ids_resolve_to() {
    let fake = FakeHubSpot::start(TOKEN);
    let primary = fake.seed(
        "contacts",
        &[("email", "p1@example.com"), ("firstname", "Pat")],
    );
    let older = fake.seed("contacts", &[("email", "old0@example.com")]);
    let first = fake.seed(
        "contacts",
        &[
            ("email", "p2@example.com"),
            ("firstname", "Other"),
            ("lastname", "Two"),
        ],
    );
    // `other` already holds an additional email from an earlier merge.
    let other = fake.merge("contacts", &first, &older);
    let deal = fake.seed("deals", &[("dealname", "Shared")]);
    let company = fake.seed("companies", &[("name", "Acme")]);
    fake.associate(&deal, &primary);
    fake.associate(&deal, &other);
    fake.associate_records("contacts", &other, "companies", &company);
    let before = [&primary, &other].map(|id| fake.record("contacts", id).unwrap().updated_ms);

    let reply = post(
        &fake,
        &format!("/crm/objects/{V}/contacts/merge"),
        merge_body(&primary, &other),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let new = reply.body["id"].as_str().unwrap().to_string();
    assert!(new != primary && new != other, "a merge makes a new id");
    let props = &reply.body["properties"];
    assert_eq!(props["email"], "p1@example.com");
    assert_eq!(props["firstname"], "Pat", "the primary's value wins");
    assert_eq!(
        props["lastname"], "Two",
        "a value only the other has is kept"
    );
    assert_eq!(
        props["hs_additional_emails"],
        "p2@example.com;old0@example.com"
    );
    let mut merged_ids = [primary.clone(), first.clone(), other.clone(), older.clone()];
    merged_ids.sort_by_key(|id| id.parse::<u64>().unwrap());
    assert_eq!(props["hs_merged_object_ids"], json!(merged_ids.join(";")));
    let record = fake.record("contacts", &new).unwrap();
    assert!(before.iter().all(|b| record.updated_ms > *b));
    assert_eq!(
        record.properties["lastmodifieddate"],
        reply.body["updatedAt"]
    );

    // Every old id reads as the new record, with the new id.
    for old in [&primary, &first, &other, &older] {
        let read = get(
            &fake,
            &format!("/crm/objects/{V}/contacts/{old}?properties=email,hs_merged_object_ids"),
        );
        assert_eq!((read.status, &read.body["id"]), (200, &json!(new)));
        assert_eq!(fake.merged_into("contacts", old), Some(new.clone()));
    }
    let batch = json!({ "properties": ["hs_additional_emails"], "propertiesWithHistory": [],
        "inputs": [{ "id": primary }, { "id": other }] });
    let read = post(
        &fake,
        &format!("/crm/objects/{V}/contacts/batch/read"),
        batch,
    );
    assert_eq!((read.status, ids(&read, "id")), (200, vec![new.clone()]));
    assert_eq!(
        read.body["results"][0]["properties"]["hs_additional_emails"],
        "p2@example.com;old0@example.com"
    );

    // Old ids leave lists and searches; the new record is in both.
    let listed = get(
        &fake,
        &format!("/crm/objects/{V}/contacts?properties=hs_merged_object_ids"),
    );
    assert_eq!(ids(&listed, "id"), vec![new.clone()]);
    assert_eq!(
        listed.body["results"][0]["properties"]["hs_merged_object_ids"],
        json!(merged_ids.join(";"))
    );
    let archived = get(&fake, &format!("/crm/objects/{V}/contacts?archived=true"));
    assert_eq!(archived.body["results"], json!([]));
    assert_eq!(search_ids(&fake, "contacts"), vec![new.clone()]);

    // Associations moved, once each, and read from either end.
    assert_eq!(
        fake.associated_ids("contacts", &new, "deals"),
        vec![deal.clone()]
    );
    assert_eq!(fake.associations(&deal), vec![new.clone()]);
    assert_eq!(
        fake.associated_ids("companies", &company, "contacts"),
        vec![new.clone()]
    );

    // Writes by an old id are not found; old and additional emails stay taken.
    let update = json!({ "inputs": [{ "id": other, "properties": { "firstname": "X" } }] });
    let refused = post(
        &fake,
        &format!("/crm/objects/{V}/contacts/batch/update"),
        update,
    );
    assert_eq!(
        (refused.status, &refused.body["category"]),
        (404, &json!("OBJECT_NOT_FOUND"))
    );
    for taken in ["P1@example.com", "p2@example.com", "old0@example.com"] {
        let create =
            json!({ "inputs": [{ "properties": { "email": taken }, "associations": [] }] });
        let reply = post(
            &fake,
            &format!("/crm/objects/{V}/contacts/batch/create"),
            create,
        );
        assert_eq!(reply.status, 409, "{taken}: {}", reply.body);
        assert!(reply.body["message"].as_str().unwrap().ends_with(&new));
    }
    let free =
        json!({ "inputs": [{ "properties": { "email": "p3@example.com" }, "associations": [] }] });
    assert_eq!(
        post(
            &fake,
            &format!("/crm/objects/{V}/contacts/batch/create"),
            free
        )
        .status,
        201
    );
}

#[test]
fn merge_properties_are_read_only_and_listed_for_every_object() {
    let fake = FakeHubSpot::start(TOKEN);
    for (object, has_additional) in [("contacts", true), ("companies", false), ("deals", false)] {
        let reply = get(&fake, &format!("/crm/properties/{V}/{object}"));
        let find = |name: &str| {
            let results = reply.body["results"].as_array().unwrap();
            results.iter().find(|p| p["name"] == name).cloned()
        };
        let merged = find("hs_merged_object_ids").expect("listed");
        assert_eq!(merged["modificationMetadata"]["readOnlyValue"], json!(true));
        assert_eq!(merged["hubspotDefined"], json!(true));
        let additional = find("hs_additional_emails");
        assert_eq!(additional.is_some(), has_additional, "{object}");
        if let Some(additional) = additional {
            assert_eq!(
                additional["modificationMetadata"]["readOnlyValue"],
                json!(true)
            );
        }
    }
    let id = fake.seed("contacts", &[("email", "a@example.com")]);
    let path = format!("/crm/objects/{V}/contacts/batch/update");
    let write = json!({ "inputs": [{ "id": id, "properties": { "hs_additional_emails": "b@example.com" } }] });
    let reply = post(&fake, &path, write);
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("READ_ONLY_VALUE")
    );
}

#[test]
fn companies_and_deals_merge_into_a_new_id_and_chains_resolve_to_the_newest() {
    let fake = FakeHubSpot::start(TOKEN);
    let a = fake.seed("companies", &[("name", "Acme"), ("domain", "acme.example")]);
    let b = fake.seed("companies", &[("name", "ACME Inc"), ("city", "Tartu")]);
    let contact = fake.seed("contacts", &[("email", "c@example.com")]);
    fake.associate_records("companies", &b, "contacts", &contact);
    let ab = fake.merge("companies", &a, &b);
    let record = fake.record("companies", &ab).unwrap();
    assert_eq!(
        (
            record.properties["name"].as_str(),
            record.properties["city"].as_str()
        ),
        ("Acme", "Tartu")
    );
    assert!(!record.properties.contains_key("hs_additional_emails"));
    assert_eq!(
        fake.associated_ids("contacts", &contact, "companies"),
        vec![ab.clone()]
    );
    let c = fake.seed("companies", &[("name", "Acme Holding")]);
    let abc = fake.merge("companies", &c, &ab);
    for old in [&a, &b, &ab, &c] {
        let read = get(&fake, &format!("/crm/objects/{V}/companies/{old}"));
        assert_eq!(read.body["id"], json!(abc), "{old}");
    }
    let mut all = [&a, &b, &ab, &c].map(|id| id.parse::<u64>().unwrap());
    all.sort();
    let listed = all.map(|id| id.to_string()).join(";");
    assert_eq!(
        fake.record("companies", &abc).unwrap().properties["hs_merged_object_ids"],
        listed
    );

    fake.add_pipeline("p2", "Partners", &[("intro", "Intro")]);
    let deal_a = fake.seed("deals", &[("dealname", "Main"), ("amount", "100")]);
    let deal_b = fake.seed(
        "deals",
        &[
            ("dealname", "Dup"),
            ("pipeline", "p2"),
            ("dealstage", "intro"),
            ("closedate", "2026-12-01"),
        ],
    );
    let reply = post(
        &fake,
        &format!("/crm/objects/{V}/deals/merge"),
        merge_body(&deal_a, &deal_b),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let merged = reply.body["id"].as_str().unwrap();
    assert!(merged != deal_a && merged != deal_b);
    let props = &fake.record("deals", merged).unwrap().properties;
    assert_eq!(props.get("pipeline").map(String::as_str), Some("default"));
    assert_eq!(props.get("dealstage"), None, "no stage of another pipeline");
    assert_eq!(
        props.get("closedate").map(String::as_str),
        Some("2026-12-01")
    );
    assert_eq!(
        get(&fake, &format!("/crm/objects/{V}/deals/{deal_b}")).body["id"],
        json!(merged)
    );
}

#[test]
fn merge_refuses_bad_input_with_hubspot_errors_and_writes_nothing() {
    let fake = FakeHubSpot::start(TOKEN);
    let a = fake.seed("contacts", &[("email", "a@example.com")]);
    let b = fake.seed("contacts", &[("email", "b@example.com")]);
    let deal = fake.seed("deals", &[("dealname", "D")]);
    let path = format!("/crm/objects/{V}/contacts/merge");
    let cases = [
        (merge_body(&a, &a), 400, "VALIDATION_ERROR"),
        (merge_body(&a, "999"), 404, "OBJECT_NOT_FOUND"),
        (merge_body("999", &b), 404, "OBJECT_NOT_FOUND"),
        (merge_body(&a, &deal), 404, "OBJECT_NOT_FOUND"),
        (json!({ "primaryObjectId": a }), 400, "VALIDATION_ERROR"),
        (
            json!({ "primaryObjectId": a, "objectIdToMerge": 5 }),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({ "primaryObjectId": a, "objectIdToMerge": b, "x": 1 }),
            400,
            "VALIDATION_ERROR",
        ),
    ];
    for (body, status, category) in cases {
        let reply = post(&fake, &path, body.clone());
        assert_eq!(
            (reply.status, &reply.body["category"]),
            (status, &json!(category)),
            "{body}"
        );
        assert_eq!(reply.body["status"], "error");
        assert!(reply.body["correlationId"].is_string() && reply.body["message"].is_string());
    }
    assert_eq!(
        ids(&get(&fake, &format!("/crm/objects/{V}/contacts")), "id"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(call(&fake, "", &path, Some(merge_body(&a, &b))).status, 401);
    fake.set_scopes(&["crm.objects.contacts.read"]);
    assert_eq!(post(&fake, &path, merge_body(&a, &b)).status, 403);
    fake.set_scopes(ALL_SCOPES);
    let merged = fake.merge("contacts", &a, &b);
    // A merged-away id is no longer a record to merge.
    let again = post(&fake, &path, merge_body(&merged, &b));
    assert_eq!(
        (again.status, &again.body["category"]),
        (404, &json!("OBJECT_NOT_FOUND"))
    );
    assert_eq!(
        post(&fake, "/crm/objects/v3/contacts/merge", merge_body(&a, &b)).status,
        404
    );
}

#[test]
fn an_additional_email_added_by_hand_is_read_and_kept_unique() {
    let fake = FakeHubSpot::start(TOKEN);
    let id = fake.seed("contacts", &[("email", "p1@example.com")]);
    let before = fake.record("contacts", &id).unwrap().updated_ms;
    fake.add_additional_email(&id, "Old0@example.com");
    fake.add_additional_email(&id, "old1@example.com");
    let record = fake.record("contacts", &id).unwrap();
    assert!(record.updated_ms > before);
    let read = get(
        &fake,
        &format!("/crm/objects/{V}/contacts/{id}?properties=hs_additional_emails"),
    );
    assert_eq!(
        read.body["properties"]["hs_additional_emails"],
        "old0@example.com;old1@example.com"
    );
    let create = json!({ "inputs": [{ "properties": { "email": "old1@example.com" }, "associations": [] }] });
    let path = format!("/crm/objects/{V}/contacts/batch/create");
    assert_eq!(post(&fake, &path, create).status, 409);
}

#[test]
fn a_merge_whose_answer_is_lost_is_found_by_the_old_ids_and_not_repeated() {
    let fake = FakeHubSpot::start(TOKEN);
    let a = fake.seed("contacts", &[("email", "a@example.com")]);
    let b = fake.seed("contacts", &[("email", "b@example.com")]);
    let path = format!("/crm/objects/{V}/contacts/merge");
    fake.server()
        .inject("/merge", 1, super::super::server::Fault::CommitThenDrop);
    let url = format!("{}{path}", fake.url());
    let lost = Client::new()
        .post(url)
        .bearer_auth(TOKEN)
        .json(&merge_body(&a, &b))
        .send();
    assert!(lost.is_err(), "the answer is dropped");
    let found = get(
        &fake,
        &format!("/crm/objects/{V}/contacts/{b}?properties=hs_merged_object_ids"),
    );
    let new = found.body["id"].as_str().unwrap().to_string();
    assert_ne!(new, b);
    assert_eq!(
        found.body["properties"]["hs_merged_object_ids"],
        json!(format!("{a};{b}"))
    );
    let again = post(&fake, &path, merge_body(&a, &b));
    assert_eq!(
        (again.status, &again.body["category"]),
        (404, &json!("OBJECT_NOT_FOUND"))
    );
    assert_eq!(fake.records("contacts").len(), 1);
}

#[test]
fn a_note_needs_its_time_and_is_associated_on_create_with_the_note_types_only() {
    let fake = FakeHubSpot::start(TOKEN);
    let contact = fake.seed("contacts", &[("email", "ann@example.com")]);
    let path = format!("/crm/objects/{V}/notes/batch/create");
    let with = |properties: Value, type_id: u64| {
        json!({"inputs": [{
            "properties": properties,
            "associations": [{"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}],
        }]})
    };
    let timeless = post(&fake, &path, with(json!({"hs_note_body": "<p>x</p>"}), 202));
    assert_eq!(timeless.status, 400, "{}", timeless.body);
    assert!(timeless.body.to_string().contains("hs_timestamp"));
    let long = "x".repeat(65_537);
    let too_long = post(
        &fake,
        &path,
        with(
            json!({"hs_note_body": long, "hs_timestamp": "2026-11-02T09:30:00Z"}),
            202,
        ),
    );
    assert_eq!(too_long.status, 400, "{}", too_long.body);
    let deal_type = post(
        &fake,
        &path,
        with(
            json!({"hs_note_body": "<p>x</p>", "hs_timestamp": "2026-11-02T09:30:00Z"}),
            3,
        ),
    );
    assert_eq!(deal_type.status, 400, "a deal's type: {}", deal_type.body);
    assert!(fake.records("notes").is_empty());
    let made = post(
        &fake,
        &path,
        with(
            json!({"hs_note_body": "<p>x</p>", "hs_timestamp": "2026-11-02T09:30:00Z"}),
            202,
        ),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.body["results"][0]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    assert_eq!(
        fake.associated_ids("notes", &id, "contacts"),
        std::slice::from_ref(&contact)
    );
    assert_eq!(
        fake.associated_ids("contacts", &contact, "notes"),
        std::slice::from_ref(&id)
    );
    let read = post(
        &fake,
        &format!("/crm/associations/{V}/notes/contacts/batch/read"),
        json!({"inputs": [{"id": id}]}),
    );
    assert_eq!(
        read.body["results"][0]["to"][0]["associationTypes"][0]["typeId"],
        json!(202)
    );
}

/// A PATCH, as a client would send it.
fn patch(fake: &FakeHubSpot, path: &str, body: Value) -> Reply {
    let response = Client::new()
        .patch(format!("{}{path}", fake.url()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .expect("the fake answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let body = response.json().unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

#[test]
fn properties_are_created_as_strictly_as_the_spec_says_and_options_replaced_on_update() {
    let fake = FakeHubSpot::start(TOKEN);
    let path = format!("/crm/properties/{V}/contacts");
    let option = |v: &str, l: &str, i: i64| json!({"value": v, "label": l, "displayOrder": i, "hidden": false});
    let tier = json!({
        "name": "tier", "label": "Tier", "type": "enumeration", "fieldType": "select",
        "groupName": "contactinformation", "options": [option("a", "A", 0), option("b", "B", 1)],
    });
    let refused = |body: Value, why: &str| {
        let reply = post(&fake, &path, body);
        assert_eq!(reply.status, 400, "{why}: {}", reply.body);
    };
    let without = |key: &str| {
        let mut body = tier.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    for key in ["name", "label", "type", "fieldType", "groupName", "options"] {
        refused(without(key), key);
    }
    let with = |key: &str, value: Value| {
        let mut b = tier.clone();
        b[key] = value;
        b
    };
    refused(
        with("fieldType", json!("date")),
        "enumeration/date is no valid pair",
    );
    refused(with("type", json!("text")), "no such type");
    refused(with("name", json!("Tier Level")), "upper case and a space");
    refused(with("name", json!("hs_tier")), "hs_ is HubSpot's");
    refused(with("groupName", json!("nosuchgroup")), "an unknown group");
    refused(
        with("options", json!([{"value": "a", "label": "A"}])),
        "an option without displayOrder and hidden",
    );

    let made = post(&fake, &path, tier.clone());
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["options"][1]["value"], "b");
    let again = post(&fake, &path, tier.clone());
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["category"], "CONFLICT");

    let updated = patch(
        &fake,
        &format!("{path}/tier"),
        json!({"options": [option("b", "B", 0), option("c", "C", 1)]}),
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    let read = get(&fake, &format!("{path}/tier"));
    let values: Vec<&str> = read.body["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["b", "c"], "the option list is replaced");
    assert_eq!(get(&fake, &format!("{path}/nosuch")).status, 404);
}

#[test]
fn search_takes_scope_operators_strictly() {
    let fake = FakeHubSpot::start(TOKEN);
    let a = fake.seed(
        "contacts",
        &[
            ("email", "a@x.io"),
            ("lifecyclestage", "customer"),
            ("phone", "1"),
        ],
    );
    let b = fake.seed(
        "contacts",
        &[("email", "b@x.io"), ("lifecyclestage", "lead")],
    );
    let c = fake.seed("contacts", &[("email", "c@x.io")]);
    let path = format!("/crm/objects/{V}/contacts/search");
    let search = |filters: Value| {
        post(
            &fake,
            &path,
            json!({ "filterGroups": [{ "filters": filters }], "properties": ["email"],
                    "sorts": [], "limit": 10, "after": "0" }),
        )
    };
    let found = |filters: Value| {
        let reply = search(filters);
        assert_eq!(reply.status, 200, "{}", reply.body);
        ids(&reply, "id")
    };
    let f = |op: &str, extra: Value| {
        let mut filter = json!({ "propertyName": "lifecyclestage", "operator": op });
        if let Value::Object(extra) = extra {
            filter.as_object_mut().unwrap().extend(extra);
        }
        json!([filter])
    };
    assert_eq!(found(f("EQ", json!({"value": "Customer"}))), [a.as_str()]);
    assert_eq!(
        found(f("IN", json!({"values": ["customer", "lead"]}))),
        [a.as_str(), b.as_str()]
    );
    // A record without a value is not in NOT_IN (the stricter reading).
    assert_eq!(
        found(f("NOT_IN", json!({"values": ["customer"]}))),
        [b.as_str()]
    );
    assert_eq!(
        found(f("HAS_PROPERTY", json!({}))),
        [a.as_str(), b.as_str()]
    );
    assert_eq!(found(f("NOT_HAS_PROPERTY", json!({}))), [c.as_str()]);
    // Value and values where the operator takes the other, an empty or too
    // long list, a value on HAS_PROPERTY and an unknown operator are
    // refused (checked without a request: search allows 5 a second).
    let state = fake.server().state();
    for bad in [
        f("IN", json!({"value": "customer"})),
        f("EQ", json!({"values": ["customer"]})),
        f("IN", json!({"values": []})),
        f("IN", json!({"values": vec!["lead"; 101]})),
        f("HAS_PROPERTY", json!({"value": "x"})),
        f("NEQ", json!({"value": "lead"})),
    ] {
        assert!(
            state.parse_filter(Kind::Contacts, &bad[0]).is_err(),
            "{bad}"
        );
    }
}
