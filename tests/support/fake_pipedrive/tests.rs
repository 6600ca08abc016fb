//! The fake's self-tests: the Pipedrive behaviour it must show, called over
//! HTTP as a client would.

use super::*;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const TOKEN: &str = "test-token";

/// One answer: status, headers and JSON body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn call(fake: &FakePipedrive, method: &str, path: &str, body: Option<Value>) -> Answer {
    call_with_token(fake, method, path, body, Some(TOKEN))
}

fn call_with_token(
    fake: &FakePipedrive,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> Answer {
    let client = Client::builder().no_proxy().build().expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, format!("{}{path}", fake.url()));
    if let Some(token) = token {
        request = request.header("x-api-token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn get(fake: &FakePipedrive, path: &str) -> Answer {
    call(fake, "GET", path, None)
}

/// The `field_code`s a fields endpoint lists.
fn field_codes(fake: &FakePipedrive, path: &str) -> Vec<String> {
    get(fake, path).body["data"]
        .as_array()
        .expect("a list of fields")
        .iter()
        .filter_map(|f| f["field_code"].as_str().map(str::to_string))
        .collect()
}

fn assert_schema_error(answer: &Answer, needle: &str) {
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["success"], json!(false));
    assert_eq!(
        answer.body["code"],
        json!("ERR_SCHEMA_VALIDATION_FAILED"),
        "{}",
        answer.body
    );
    let error = answer.body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(needle),
        "{error:?} should mention {needle:?}"
    );
}

#[test]
fn twelve_hundred_persons_come_in_three_pages_of_at_most_500() {
    let fake = FakePipedrive::start(TOKEN);
    for i in 0..1200 {
        fake.seed_person(json!({"name": format!("Person {i}")}));
    }
    let (mut seen, mut pages, mut cursor) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v2/persons?limit=500&cursor={c}"),
            None => "/api/v2/persons?limit=500".to_string(),
        };
        let page = get(&fake, &path);
        assert_eq!(page.status, 200, "{}", page.body);
        let data = page.body["data"].as_array().expect("data array");
        pages.push(data.len());
        seen.extend(data.iter().map(|p| p["id"].as_i64().unwrap()));
        match page.body["additional_data"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => {
                assert!(page.body["additional_data"]["next_cursor"].is_null());
                break;
            }
        }
    }
    assert_eq!(pages, vec![500, 500, 200]);
    assert_eq!(seen, (1..=1200).collect::<Vec<i64>>());
}

#[test]
fn limit_above_500_and_garbage_cursor_are_rejected() {
    let fake = FakePipedrive::start(TOKEN);
    assert_schema_error(&get(&fake, "/api/v2/persons?limit=501"), "limit");
    assert_schema_error(&get(&fake, "/api/v2/deals?cursor=not-a-cursor"), "cursor");
    assert_schema_error(
        &get(
            &fake,
            "/api/v2/persons?updated_since=2026-01-01T00:00:00.000Z",
        ),
        "updated_since",
    );
    assert_schema_error(&get(&fake, "/api/v2/persons?start=0"), "start");
}

#[test]
fn missing_wrong_or_query_token_is_401() {
    let fake = FakePipedrive::start(TOKEN);
    let expected = json!({
        "success": false, "error": "unauthorized access", "errorCode": 401,
        "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
    });
    for token in [None, Some("wrong")] {
        let answer = call_with_token(&fake, "GET", "/api/v2/persons", None, token);
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body, expected);
    }
    let legacy = call_with_token(
        &fake,
        "GET",
        &format!("/api/v2/persons?api_token={TOKEN}"),
        None,
        None,
    );
    assert_eq!(legacy.status, 401);
}

#[test]
fn custom_field_is_refused_at_the_root_and_accepted_inside_custom_fields() {
    let fake = FakePipedrive::start(TOKEN);
    let code = fake.add_custom_field("person", "Tier", "varchar", &[]);
    let root = call(
        &fake,
        "POST",
        "/api/v2/persons",
        Some(json!({"name": "Ann", code.clone(): "gold"})),
    );
    assert_schema_error(
        &root,
        &format!("{code}: Parameter '{code}' is not allowed for this request"),
    );
    assert!(root.body["data"].is_null() && root.body["additional_data"].is_null());

    let nested = call(
        &fake,
        "POST",
        "/api/v2/persons",
        Some(json!({"name": "Ann", "custom_fields": {code.clone(): "gold"}})),
    );
    assert_eq!(nested.status, 200, "{}", nested.body);
    assert_eq!(nested.body["data"]["custom_fields"][&code], json!("gold"));
    assert_eq!(nested.body["data"]["first_name"], json!("Ann"));
}

#[test]
fn enum_custom_field_takes_numeric_option_ids_only() {
    let fake = FakePipedrive::start(TOKEN);
    let code = fake.add_custom_field("deal", "Priority", "enum", &["Low", "High"]);
    let fields = get(&fake, "/api/v2/dealFields");
    let field = fields.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field_code"] == json!(code))
        .cloned()
        .unwrap();
    let high = field["options"][1]["id"].clone();
    assert_eq!(field["options"][1]["label"], json!("High"));

    let as_label = call(
        &fake,
        "POST",
        "/api/v2/deals",
        Some(json!({"title": "D", "custom_fields": {code.clone(): "High"}})),
    );
    assert_schema_error(&as_label, "custom_fields");
    let as_string_id = call(
        &fake,
        "POST",
        "/api/v2/deals",
        Some(json!({"title": "D", "custom_fields": {code.clone(): high.to_string()}})),
    );
    assert_schema_error(&as_string_id, "custom_fields");
    let ok = call(
        &fake,
        "POST",
        "/api/v2/deals",
        Some(json!({"title": "D", "custom_fields": {code.clone(): high}})),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let labelled = get(&fake, "/api/v2/deals/1?include_option_labels=true");
    assert_eq!(
        labelled.body["data"]["custom_fields"][&code]["label"],
        json!("High")
    );
}

#[test]
fn string_email_is_rejected() {
    let fake = FakePipedrive::start(TOKEN);
    let answer = call(
        &fake,
        "POST",
        "/api/v2/persons",
        Some(json!({"name": "Ann", "emails": ["ann@example.com"]})),
    );
    assert_schema_error(&answer, "emails[0]");
    assert!(fake.persons().is_empty());
}

#[test]
fn patch_replaces_emails_with_exactly_what_is_sent() {
    let fake = FakePipedrive::start(TOKEN);
    let id = fake.seed_person(json!({"name": "Ann Lee", "emails": [
        {"value": "a@example.com", "primary": true}, {"value": "b@example.com", "label": "home"}]}));
    let answer = call(
        &fake,
        "PATCH",
        &format!("/api/v2/persons/{id}"),
        Some(json!({"emails": [{"value": "c@example.com"}]})),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let expected = json!([{"value": "c@example.com", "primary": true, "label": "work"}]);
    assert_eq!(answer.body["data"]["emails"], expected);
    assert_eq!(fake.person(id).unwrap()["emails"], expected);
    assert_eq!(fake.person(id).unwrap()["last_name"], json!("Lee"));
}

#[test]
fn null_is_taken_only_where_the_spec_marks_the_field_nullable() {
    let fake = FakePipedrive::start(TOKEN);
    let notes = fake.add_custom_field("deal", "Notes", "varchar", &[]);
    let person = fake.seed_person(json!({"name": "Bo"}));
    let deal = fake.seed_deal(json!({"title": "D", "value": 5, "probability": 40,
        "person_id": person, "expected_close_date": "2026-03-01",
        "custom_fields": {notes.clone(): "x"}}));
    let path = format!("/api/v2/deals/{deal}");
    for field in [
        "title",
        "value",
        "currency",
        "stage_id",
        "owner_id",
        "person_id",
        "org_id",
        "expected_close_date",
        "visible_to",
        "status",
    ] {
        let answer = call(&fake, "PATCH", &path, Some(json!({field: null})));
        assert_schema_error(&answer, field);
    }
    assert_schema_error(
        &call(
            &fake,
            "PATCH",
            &format!("/api/v2/persons/{person}"),
            Some(json!({"org_id": null})),
        ),
        "org_id",
    );
    let cleared = call(
        &fake,
        "PATCH",
        &path,
        Some(
            json!({"probability": null, "lost_reason": null, "custom_fields": {notes.clone(): null}}),
        ),
    );
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    let deal = fake.deal(deal).unwrap();
    assert_eq!(deal["probability"], Value::Null);
    assert_eq!(deal["custom_fields"][&notes], Value::Null);
    assert_eq!(deal["person_id"], json!(person));
}

#[test]
fn organizations_are_validated_like_persons_and_linked_only_while_live() {
    let fake = FakePipedrive::start(TOKEN);
    let industry = fake.add_custom_field("organization", "Segment", "enum", &["SMB", "Enterprise"]);
    assert_schema_error(
        &call(
            &fake,
            "POST",
            "/api/v2/organizations",
            Some(json!({"website": "x.io"})),
        ),
        "name",
    );
    assert_schema_error(
        &call(
            &fake,
            "POST",
            "/api/v2/organizations",
            Some(json!({"name": "A", "domain": "a.io"})),
        ),
        "domain",
    );
    assert_schema_error(
        &call(
            &fake,
            "POST",
            "/api/v2/organizations",
            Some(json!({"name": "A", "address": "1 Main St"})),
        ),
        "address",
    );
    assert_schema_error(
        &call(
            &fake,
            "POST",
            "/api/v2/organizations",
            Some(json!({"name": "A", "address": {"value": "1 Main St", "city": "X"}})),
        ),
        "address.city",
    );
    assert_schema_error(
        &call(
            &fake,
            "POST",
            "/api/v2/organizations",
            Some(json!({"name": "A", "employee_count": 1.5})),
        ),
        "employee_count",
    );
    let created = call(
        &fake,
        "POST",
        "/api/v2/organizations",
        Some(
            json!({"name": "Acme", "website": "https://acme.example", "address": {"value": "1 Main St, Springfield"},
            "employee_count": 40, "custom_fields": {industry.clone(): 102}}),
        ),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let org = created.body["data"]["id"].as_i64().unwrap();
    assert_eq!(
        created.body["data"]["address"]["value"],
        json!("1 Main St, Springfield")
    );
    assert_eq!(created.body["data"]["custom_fields"][&industry], json!(102));
    let path = format!("/api/v2/organizations/{org}");
    for field in ["name", "owner_id", "visible_to", "address"] {
        assert_schema_error(
            &call(&fake, "PATCH", &path, Some(json!({field: null}))),
            field,
        );
    }
    let cleared = call(
        &fake,
        "PATCH",
        &path,
        Some(json!({"website": null, "employee_count": null})),
    );
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(fake.organization(org).unwrap()["website"], Value::Null);
    let codes = field_codes(&fake, "/api/v2/organizationFields");
    assert!(
        codes.contains(&"address".to_string()) && codes.contains(&industry),
        "{codes:?}"
    );

    // A person or deal may name only a live organization.
    assert_eq!(
        call(
            &fake,
            "POST",
            "/api/v2/persons",
            Some(json!({"name": "Bo", "org_id": 999}))
        )
        .status,
        400
    );
    let person = fake.seed_person(json!({"name": "Bo", "org_id": org}));
    let deal = fake.seed_deal(json!({"title": "D", "org_id": org}));
    let listed = get(&fake, &format!("/api/v2/persons?org_id={org}"));
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    let before = fake.person(person).unwrap()["update_time"].clone();
    assert_eq!(call(&fake, "DELETE", &path, None).status, 200);
    assert_eq!(get(&fake, &path).status, 404);
    assert!(fake.organizations().is_empty());
    // Its persons and deals stay, unlinked, their update_time as it was.
    let person = fake.person(person).unwrap();
    assert_eq!(
        (person["org_id"].clone(), person["is_deleted"].clone()),
        (Value::Null, json!(false))
    );
    assert_eq!(person["update_time"], before);
    assert_eq!(fake.deal(deal).unwrap()["org_id"], Value::Null);
    assert_eq!(
        call(
            &fake,
            "PATCH",
            &format!("/api/v2/deals/{deal}"),
            Some(json!({"org_id": org}))
        )
        .status,
        400,
        "a deleted organization cannot be linked"
    );
}

#[test]
fn an_entry_without_value_is_returned_and_taken_back_only_unchanged() {
    let fake = FakePipedrive::start(TOKEN);
    let id = fake.seed_person(
        json!({"name": "Ann", "emails": [{"value": "a@example.com", "primary": true}]}),
    );
    let odd = json!({"label": "other", "primary": false});
    fake.add_raw_contact(id, "emails", odd.clone());
    let path = format!("/api/v2/persons/{id}");
    assert_eq!(get(&fake, &path).body["data"]["emails"][1], odd);
    let kept = call(
        &fake,
        "PATCH",
        &path,
        Some(json!({"emails": [{"value": "b@example.com", "primary": true}, odd]})),
    );
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(kept.body["data"]["emails"][1], odd);
    assert_schema_error(
        &call(
            &fake,
            "PATCH",
            &path,
            Some(json!({"emails": [{"label": "home", "primary": false}]})),
        ),
        "emails[0].value",
    );
}

#[test]
fn updated_since_is_inclusive_and_pages_by_update_time() {
    let fake = FakePipedrive::start(TOKEN);
    let old = fake.seed_person(json!({"name": "Old"}));
    std::thread::sleep(Duration::from_millis(1100));
    let new: Vec<i64> = (0..3)
        .map(|i| fake.seed_person(json!({"name": format!("New {i}")})))
        .collect();
    fake.edit_person(old, json!({"name": "Old Edited"}));
    let since = fake.person(new[0]).unwrap()["update_time"]
        .as_str()
        .unwrap()
        .to_string();

    let mut ids = Vec::new();
    let mut path = format!(
        "/api/v2/persons?updated_since={since}&sort_by=update_time&sort_direction=asc&limit=2"
    );
    loop {
        let page = get(&fake, &path);
        assert_eq!(page.status, 200, "{}", page.body);
        ids.extend(
            page.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_i64().unwrap()),
        );
        let Some(next) = page.body["additional_data"]["next_cursor"].as_str() else {
            break;
        };
        path = format!(
            "/api/v2/persons?updated_since={since}&sort_by=update_time&sort_direction=asc&limit=2&cursor={next}"
        );
    }
    // Everything since `since` comes back once, by (update_time, id):
    // the edited old person sorts by its new update_time.
    let mut expected: Vec<(String, i64)> = fake
        .persons()
        .iter()
        .map(|p| {
            (
                p["update_time"].as_str().unwrap().to_string(),
                p["id"].as_i64().unwrap(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(ids, expected.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    assert_eq!(ids.len(), 4);
    assert!(ids.contains(&old));
    let until = get(&fake, &format!("/api/v2/persons?updated_until={since}"));
    assert_eq!(until.body["data"].as_array().unwrap().len(), 0);
}

#[test]
fn burst_limit_answers_429_with_headers() {
    let fake = FakePipedrive::start(TOKEN);
    fake.set_rate_limit(3, 2000);
    for remaining in ["2", "1", "0"] {
        let ok = get(&fake, "/api/v2/persons");
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-ratelimit-remaining"), Some(remaining));
        assert_eq!(ok.header("x-ratelimit-limit"), Some("3"));
    }
    let limited = get(&fake, "/api/v2/persons");
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["success"], json!(false));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let reset: u64 = limited
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&reset), "reset {reset}");
    assert_eq!(fake.rate_limited_count(), 1);
}

#[test]
fn deals_validate_stage_person_and_status_rules() {
    let fake = FakePipedrive::start(TOKEN);
    let unknown_stage = call(
        &fake,
        "POST",
        "/api/v2/deals",
        Some(json!({"title": "D", "stage_id": 99})),
    );
    assert_eq!(unknown_stage.status, 400, "{}", unknown_stage.body);
    assert!(fake.deals().is_empty());
    assert_schema_error(
        &call(&fake, "POST", "/api/v2/deals", Some(json!({"value": 5}))),
        "title",
    );
    assert_schema_error(
        &call(
            &fake,
            "POST",
            "/api/v2/deals",
            Some(json!({"title": "D", "value": "5"})),
        ),
        "value",
    );
    assert_eq!(
        call(
            &fake,
            "POST",
            "/api/v2/deals",
            Some(json!({"title": "D", "person_id": 7}))
        )
        .status,
        400
    );
    assert_eq!(
        call(
            &fake,
            "POST",
            "/api/v2/deals",
            Some(json!({"title": "D", "lost_reason": "x"}))
        )
        .status,
        400
    );
    assert_schema_error(
        &call(
            &fake,
            "POST",
            "/api/v2/deals",
            Some(json!({"title": "D", "update_time": "2026-01-01T00:00:00Z"})),
        ),
        "update_time",
    );

    let pipeline = fake.add_pipeline("Second");
    let stage = fake.add_stage(pipeline, "Intro");
    let deal = call(
        &fake,
        "POST",
        "/api/v2/deals",
        Some(json!({"title": "D", "stage_id": stage, "expected_close_date": "2026-02-28"})),
    );
    assert_eq!(deal.status, 200, "{}", deal.body);
    assert_eq!(deal.body["data"]["pipeline_id"], json!(pipeline));
    let id = deal.body["data"]["id"].as_i64().unwrap();
    let won = call(
        &fake,
        "PATCH",
        &format!("/api/v2/deals/{id}"),
        Some(json!({"status": "won"})),
    );
    assert_eq!(won.body["data"]["won_time"], won.body["data"]["close_time"]);
    assert!(won.body["data"]["won_time"].is_string());
    let default = fake
        .deal(fake.seed_deal(json!({"title": "Default"})))
        .unwrap();
    assert_eq!(
        (default["pipeline_id"].clone(), default["stage_id"].clone()),
        (json!(1), json!(1))
    );
}

#[test]
fn delete_is_soft_and_hides_the_record() {
    let fake = FakePipedrive::start(TOKEN);
    let id = fake.seed_deal(json!({"title": "Gone"}));
    let answer = call(&fake, "DELETE", &format!("/api/v2/deals/{id}"), None);
    assert_eq!(answer.body, json!({"success": true, "data": {"id": id}}));
    let missing = get(&fake, &format!("/api/v2/deals/{id}"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["success"], json!(false));
    assert_eq!(get(&fake, "/api/v2/deals").body["data"], json!([]));
    let deleted = get(&fake, "/api/v2/deals?status=deleted");
    assert_eq!(deleted.body["data"][0]["is_deleted"], json!(true));
    assert_eq!(fake.deal(id).unwrap()["is_deleted"], json!(true));
}

#[test]
fn deprecated_v1_paths_are_unknown_routes() {
    let fake = FakePipedrive::start(TOKEN);
    for path in ["/api/v1/persons", "/v1/deals", "/api/v1/persons/search"] {
        let answer = get(&fake, path);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.body["success"], json!(false));
    }
    assert_eq!(
        fake.unknown_routes(),
        vec![
            "GET /api/v1/persons",
            "GET /v1/deals",
            "GET /api/v1/persons/search"
        ]
    );
}

#[test]
fn users_pipelines_stages_and_fields_are_listed() {
    let fake = FakePipedrive::start(TOKEN);
    fake.add_user("sales@example.com", "Sales");
    let users = get(&fake, "/api/v1/users");
    assert_eq!(users.body["data"][0]["email"], json!("owner@example.com"));
    assert_eq!(users.body["data"][1]["active_flag"], json!(true));
    let stages = get(&fake, "/api/v2/stages?pipeline_id=1&limit=2");
    assert_eq!(stages.body["data"][1]["name"], json!("Contact Made"));
    assert!(stages.body["additional_data"]["next_cursor"].is_string());
    assert_eq!(
        get(&fake, "/api/v2/pipelines").body["data"][0]["name"],
        json!("Pipeline")
    );
    let code = fake.add_custom_field("person", "Source", "set", &["Web", "Event"]);
    assert_eq!(code.len(), 40);
    let codes = field_codes(&fake, "/api/v2/personFields?limit=500");
    assert!(codes.contains(&"name".to_string()) && codes.contains(&code));
}

#[test]
fn time_and_cursor_helpers_round_trip() {
    // Imported here: the benchmark builds this module without its tests.
    use super::paging::{base64url_decode, base64url_encode};
    use super::time::{format_time, parse_rfc3339};
    use crate::support::calendar::parse_date;
    assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    let t = parse_rfc3339("2026-11-23T03:47:22Z").unwrap();
    assert_eq!(format_time(t), "2026-11-23T03:47:22Z");
    assert_eq!(parse_rfc3339("2026-11-23T05:47:22+02:00"), Ok(t));
    assert!(parse_rfc3339("2026-11-23T03:47:22.000Z").is_err());
    assert!(parse_date("2026-02-29").is_none());
    for text in ["", "a", "ab", "abc", "{\"id\":7}"] {
        assert_eq!(
            base64url_decode(&base64url_encode(text.as_bytes())).unwrap(),
            text.as_bytes()
        );
    }
}

fn merge(fake: &FakePipedrive, kind: &str, id: i64, body: Value) -> Answer {
    call(
        fake,
        "PUT",
        &format!("/api/v1/{kind}/{id}/merge"),
        Some(body),
    )
}

#[test]
fn a_person_merge_keeps_the_survivor_and_takes_the_others_entries_and_deals() {
    let fake = FakePipedrive::start(TOKEN);
    let org = fake.seed_organization(json!({"name": "Acme"}));
    let keep = fake.seed_person(json!({
        "name": "Pat",
        "emails": [{"value": "p1@example.com", "primary": true, "label": "work"}],
        "phones": [{"value": "111", "primary": true}],
    }));
    let gone = fake.seed_person(json!({
        "name": "Pat Two", "org_id": org,
        "emails": [{"value": "work@example.com", "primary": true}, {"value": "P1@example.com"}],
        "phones": [{"value": "222", "primary": true, "label": "mobile"}, {"value": "111"}],
    }));
    let deal = fake.seed_deal(json!({"title": "Theirs", "person_id": gone}));
    let deal_time = fake.deal(deal).unwrap()["update_time"].clone();

    let answer = merge(&fake, "persons", gone, json!({"merge_with_id": keep}));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let data = &answer.body["data"];
    assert_eq!(
        (data["id"].as_i64(), data["merge_what_id"].as_i64()),
        (Some(keep), Some(gone))
    );
    assert_eq!(answer.body["success"], json!(true));
    let expected_emails = json!([
        {"value": "p1@example.com", "primary": true, "label": "work"},
        {"value": "work@example.com", "primary": false, "label": "work"},
    ]);
    let expected_phones = json!([
        {"value": "111", "primary": true, "label": "work"},
        {"value": "222", "primary": false, "label": "mobile"},
    ]);
    assert_eq!(
        (&data["email"], &data["phone"]),
        (&expected_emails, &expected_phones)
    );
    let name = [&data["name"], &data["first_name"], &data["last_name"]];
    assert_eq!(
        name,
        [&json!("Pat"), &json!("Pat"), &Value::Null],
        "no name part filled"
    );
    assert_eq!(data["org_id"], json!(org));
    assert_eq!(data["org_name"], json!("Acme"));
    assert!(
        !data["update_time"].as_str().unwrap().contains('T'),
        "v1 time format"
    );

    let survivor = get(&fake, &format!("/api/v2/persons/{keep}")).body["data"].clone();
    assert_eq!(
        (&survivor["emails"], &survivor["phones"]),
        (&expected_emails, &expected_phones)
    );
    assert_eq!(
        survivor["org_id"],
        json!(org),
        "an empty field takes the other's value"
    );
    // The merged-away person is gone as a deleted one is.
    assert_eq!(get(&fake, &format!("/api/v2/persons/{gone}")).status, 404);
    let listed: Vec<Value> = get(&fake, "/api/v2/persons").body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(listed, vec![json!(keep)]);
    let removed = fake.person(gone).unwrap();
    assert_eq!(removed["is_deleted"], json!(true));
    assert_eq!(
        removed["update_time"], survivor["update_time"],
        "both stamped with the merge time"
    );
    let since = survivor["update_time"].as_str().unwrap();
    let changed = get(&fake, &format!("/api/v2/persons?updated_since={since}"));
    assert_eq!(changed.body["data"][0]["id"], json!(keep));
    // Deals move to the survivor without a new update_time.
    let moved = fake.deal(deal).unwrap();
    assert_eq!(
        (&moved["person_id"], &moved["update_time"]),
        (&json!(keep), &deal_time)
    );
    let by_person = get(&fake, &format!("/api/v2/deals?person_id={keep}"));
    assert_eq!(by_person.body["data"][0]["id"], json!(deal));
    let third = fake.seed_person(json!({"name": "Third"}));
    assert_eq!(
        fake.merge("persons", keep, third),
        third,
        "the helper returns the survivor"
    );
    assert_eq!(fake.person(keep).unwrap()["is_deleted"], json!(true));
    assert_eq!(fake.person(third).unwrap()["emails"], expected_emails);
}

#[test]
fn organization_and_deal_merges_move_relations_and_fill_only_empty_fields() {
    let fake = FakePipedrive::start(TOKEN);
    let keep = fake.seed_organization(json!({"name": "Acme", "website": null}));
    let gone =
        fake.seed_organization(json!({"name": "ACME Inc", "website": "https://acme.example"}));
    let person = fake.seed_person(json!({"name": "Pat", "org_id": gone}));
    let deal = fake.seed_deal(json!({"title": "Big", "org_id": gone, "person_id": person}));
    let answer = merge(&fake, "organizations", gone, json!({"merge_with_id": keep}));
    assert_eq!(answer.body, json!({"success": true, "data": {"id": keep}}));
    let survivor = fake.organization(keep).unwrap();
    assert_eq!(
        (&survivor["name"], &survivor["website"]),
        (&json!("Acme"), &json!("https://acme.example"))
    );
    assert_eq!(fake.organization(gone).unwrap()["is_deleted"], json!(true));
    assert_eq!(fake.person(person).unwrap()["org_id"], json!(keep));
    assert_eq!(fake.deal(deal).unwrap()["org_id"], json!(keep));
    assert_eq!(
        get(&fake, &format!("/api/v2/organizations/{gone}")).status,
        404
    );

    let main = fake.seed_deal(json!({"title": "Main", "value": 100}));
    let dup = fake.seed_deal(
        json!({"title": "Dup", "value": 5, "expected_close_date": "2026-12-01",
        "person_id": person, "status": "lost", "lost_reason": "Price"}),
    );
    let answer = merge(&fake, "deals", dup, json!({"merge_with_id": main}));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let data = &answer.body["data"];
    assert_eq!(
        (data["id"].as_i64(), data["merge_what_id"].as_i64()),
        (Some(main), Some(dup))
    );
    assert_eq!(
        (&data["title"], &data["value"], &data["person_id"]),
        (&json!("Main"), &json!(100), &json!(person))
    );
    assert_eq!(data["person_name"], json!("Pat"));
    let survivor = fake.deal(main).unwrap();
    assert_eq!(survivor["expected_close_date"], json!("2026-12-01"));
    let status = [
        &survivor["status"],
        &survivor["lost_reason"],
        &survivor["lost_time"],
    ];
    assert_eq!(
        status,
        [&json!("open"), &Value::Null, &Value::Null],
        "status fields stay the survivor's"
    );
    let deleted = get(&fake, "/api/v2/deals?status=deleted");
    assert_eq!(deleted.body["data"][0]["id"], json!(dup));
    assert_eq!(fake.merge("deals", deal, main), main);
    assert_eq!(fake.deals().len(), 1);
}

#[test]
fn merge_refuses_bad_bodies_unknown_records_and_itself_and_changes_nothing() {
    let fake = FakePipedrive::start(TOKEN);
    let a = fake.seed_person(json!({"name": "A"}));
    let b = fake.seed_person(json!({"name": "B"}));
    let before = fake.persons();
    let cases = [
        (a, json!({}), 400),
        (a, json!({"merge_with_id": b.to_string()}), 400),
        (a, json!({"merge_with_id": 0}), 400),
        (a, json!({"merge_with_id": b, "extra": 1}), 400),
        (a, json!({"merge_with_id": a}), 400),
        (99, json!({"merge_with_id": b}), 404),
        (a, json!({"merge_with_id": 99}), 404),
    ];
    for (id, body, status) in cases {
        let answer = merge(&fake, "persons", id, body.clone());
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert_eq!(answer.body["success"], json!(false));
        assert!(answer.body["error"].is_string(), "{}", answer.body);
    }
    assert_eq!(fake.persons(), before);
    let url = format!("{}/api/v1/persons/{a}/merge", fake.url());
    let plain = Client::new()
        .put(url)
        .header("x-api-token", TOKEN)
        .body("merge_with_id=2")
        .send()
        .unwrap();
    assert_eq!(plain.status().as_u16(), 400, "a JSON body is required");
    let unauthorized = call_with_token(
        &fake,
        "PUT",
        &format!("/api/v1/persons/{a}/merge"),
        Some(json!({"merge_with_id": b})),
        None,
    );
    assert_eq!(unauthorized.status, 401);
    assert_eq!(
        merge(&fake, "persons", a, json!({"merge_with_id": b})).status,
        200
    );
    // The merged-away person cannot be merged again, from either end.
    assert_eq!(
        merge(&fake, "persons", a, json!({"merge_with_id": b})).status,
        404
    );
    assert_eq!(
        merge(&fake, "persons", b, json!({"merge_with_id": a})).status,
        404
    );
    let v2 = call(
        &fake,
        "PUT",
        &format!("/api/v2/persons/{b}/merge"),
        Some(json!({"merge_with_id": a})),
    );
    assert_eq!(v2.status, 404);
    assert_eq!(
        fake.unknown_routes(),
        vec![format!("PUT /api/v2/persons/{b}/merge")]
    );
}

#[test]
fn a_merge_whose_answer_is_lost_shows_on_the_survivor_and_is_not_repeated() {
    let fake = FakePipedrive::start(TOKEN);
    let keep = fake.seed_person(json!({"name": "Keep", "emails": [{"value": "k@example.com"}]}));
    let gone = fake.seed_person(json!({"name": "Gone", "emails": [{"value": "g@example.com"}]}));
    fake.server()
        .inject("/merge", 1, super::super::server::Fault::CommitThenDrop);
    let url = format!("{}/api/v1/persons/{gone}/merge", fake.url());
    let body = json!({"merge_with_id": keep});
    let lost = Client::new()
        .put(url)
        .header("x-api-token", TOKEN)
        .json(&body)
        .send();
    assert!(lost.is_err(), "the answer is dropped");
    let survivor = get(&fake, &format!("/api/v2/persons/{keep}")).body["data"].clone();
    let emails: Vec<&Value> = survivor["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["value"])
        .collect();
    assert_eq!(emails, [&json!("k@example.com"), &json!("g@example.com")]);
    assert_eq!(get(&fake, &format!("/api/v2/persons/{gone}")).status, 404);
    assert_eq!(merge(&fake, "persons", gone, body).status, 404);
    assert_eq!(fake.persons().len(), 1);
}

#[test]
fn notes_need_content_and_a_live_record_and_page_by_start_with_updated_since() {
    let fake = FakePipedrive::start_unthrottled(TOKEN);
    let person = fake.seed_person(json!({"name": "Ann"}));
    let refused = [
        json!({"content": "<p>x</p>"}),
        json!({"person_id": person}),
        json!({"content": "<p>x</p>", "person_id": 999}),
        json!({"content": "<p>x</p>", "person_id": null}),
        json!({"content": "<p>x</p>", "person_id": person, "add_time": "2026-11-02T09:30:00Z"}),
        json!({"content": "<p>x</p>", "person_id": person, "pinned_to_person_flag": 1}),
    ];
    for body in refused {
        let answer = call(&fake, "POST", "/api/v1/notes", Some(body.clone()));
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
    }
    assert!(fake.notes().is_empty(), "a refused note is not stored");
    for n in 0..3 {
        let body = json!({"content": format!("<p>{n}</p>"), "person_id": person, "add_time": "2026-11-02 09:30:00"});
        let answer = call(&fake, "POST", "/api/v1/notes", Some(body));
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.body["data"]["add_time"],
            json!("2026-11-02 09:30:00")
        );
        assert_eq!(answer.body["data"]["person_id"], json!(person));
        assert_eq!(answer.body["data"]["deal_id"], Value::Null);
    }
    let first = get(&fake, "/api/v1/notes?start=0&limit=2");
    assert_eq!(first.body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        first.body["additional_data"]["pagination"],
        json!({"start": 0, "limit": 2, "more_items_in_collection": true, "next_start": 2})
    );
    let last = get(&fake, "/api/v1/notes?start=2&limit=2");
    assert_eq!(last.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        last.body["additional_data"]["pagination"]["more_items_in_collection"],
        json!(false)
    );
    assert_eq!(get(&fake, "/api/v1/notes?limit=501").status, 400);
    assert_eq!(get(&fake, "/api/v1/notes?person_id=1").status, 400);
    let future = get(&fake, "/api/v1/notes?updated_since=2999-01-01T00:00:00Z");
    assert_eq!(future.body["data"], json!([]));
    let moved = call(
        &fake,
        "PUT",
        "/api/v1/notes/1",
        Some(json!({"person_id": null})),
    );
    assert_eq!(moved.status, 400, "no null: {}", moved.body);
    assert_eq!(call(&fake, "DELETE", "/api/v1/notes/1", None).status, 200);
    assert_eq!(get(&fake, "/api/v1/notes/1").status, 404);
    assert_eq!(call(&fake, "DELETE", "/api/v1/notes/1", None).status, 404);
    assert_eq!(fake.notes().len(), 2);
}

#[test]
fn custom_fields_are_created_as_the_spec_says_and_options_only_added() {
    let fake = FakePipedrive::start(TOKEN);
    let path = "/api/v2/personFields";
    let refused = |body: Value, why: &str| {
        let answer = call(&fake, "POST", path, Some(body));
        assert_eq!(answer.status, 400, "{why}: {}", answer.body);
    };
    refused(json!({"field_type": "varchar"}), "no field_name");
    refused(json!({"field_name": "Tier"}), "no field_type");
    refused(
        json!({"field_name": "", "field_type": "varchar"}),
        "an empty name",
    );
    refused(
        json!({"field_name": "Tier", "field_type": "bool"}),
        "no such type",
    );
    refused(
        json!({"field_name": "Tier", "field_type": "enum"}),
        "an enum without options",
    );
    refused(
        json!({"field_name": "Tier", "field_type": "varchar", "options": [{"label": "A"}]}),
        "options on a text field",
    );
    refused(
        json!({"field_name": "Tier", "field_type": "varchar", "description": "x"}),
        "a key the spec does not list",
    );
    let made = call(
        &fake,
        "POST",
        path,
        Some(
            json!({"field_name": "Tier", "field_type": "enum", "options": [{"label": "A"}, {"label": "B"}]}),
        ),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let code = made.body["data"]["field_code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 40);
    assert!(field_codes(&fake, path).contains(&code));
    let options = format!("{path}/{code}/options");
    let added = call(&fake, "POST", &options, Some(json!([{"label": "C"}])));
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["data"][0]["label"], "C");
    let again = call(&fake, "POST", &options, Some(json!([{"label": "A"}])));
    assert_eq!(again.status, 400, "an option it has: {}", again.body);
    let labels: Vec<String> = fake.custom_fields("person")[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels, ["A", "B", "C"]);
    let unknown = format!("{path}/{}/options", "0".repeat(40));
    assert_eq!(
        call(&fake, "POST", &unknown, Some(json!([{"label": "D"}]))).status,
        404
    );
}

#[test]
fn labels_are_listed_as_label_ids_options_and_only_a_companys_own_are_taken() {
    let fake = FakePipedrive::start(TOKEN);
    fake.add_label("person", 7, "Partner");
    fake.add_label("deal", 9, "Hot");
    let fields = get(&fake, "/api/v2/personFields");
    let labels = fields.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field_code"] == json!("label_ids"))
        .cloned()
        .unwrap();
    assert_eq!(labels["options"], json!([{"id": "7", "label": "Partner"}]));

    let person = |labels: Value| {
        call(
            &fake,
            "POST",
            "/api/v2/persons",
            Some(json!({"name": "P", "label_ids": labels})),
        )
    };
    let made = person(json!([7, 7]));
    assert_eq!(made.status, 200);
    assert_eq!(made.body["data"]["label_ids"], json!([7]));
    // A deal's label is not a person's; ids are integers.
    assert_eq!(person(json!([9])).status, 400);
    assert_eq!(person(json!(["7"])).status, 400);
    assert_eq!(person(json!(7)).status, 400);
    assert_eq!(fake.persons().len(), 1);
}
