//! A stateful, strict fake of Pipedrive's API v2 (persons, deals,
//! organizations, their field endpoints, pipelines, stages) plus the v1
//! users list, the v1 notes (`notes`) and the v1 merges of persons,
//! organizations and deals, built on
//! `server.rs`. It models what crmsync calls; any other path (the search
//! endpoints among them) is an unknown route.
//!
//! It owns Pipedrive's wire behaviour as documented in Pipedrive's API
//! reference and its published OpenAPI specs
//! (<https://developers.pipedrive.com/docs/api/v1>): auth, the burst rate limit and the company's daily token budget with their headers, cursor paging, request validation and error bodies. It must not
//! be kinder than the real API: where the documents leave a behaviour open it
//! takes the stricter reading (and says so in a comment), and a documented
//! parameter it does not model is refused with a 400 rather than ignored. It
//! knows nothing about HubSpot or about crmsync, and it must not reach into
//! the server core beyond `Server`'s public API.
//!
//! This file holds the public handle (`FakePipedrive` and its test knobs)
//! and the company-wide constants; the parts live beside it: `store` (the
//! company's state), `entities` (what differs between persons, deals and
//! organizations), `routes` (routing, auth, rate limits), `records`,
//! `writes` (validation), `merges`, `metadata` (fields, pipelines, stages,
//! users), `paging`, `render`, `errors`, `time` (Pipedrive's time formats)
//! and `tests` (the fake's self-tests).

#![allow(dead_code)]

mod entities;
mod errors;
mod merges;
mod metadata;
mod notes;
mod paging;
mod records;
mod render;
mod routes;
mod store;
#[cfg(test)]
mod tests;
mod time;
mod writes;

pub use store::PipedriveState;

use super::server::Server;
use entities::Entity;
use routes::{Bucket, handle};
use serde_json::Value;
use std::time::Duration;

/// The user every token of this fake belongs to; it owns and creates
/// records unless a body says otherwise.
const TOKEN_USER: i64 = 1;
const DEFAULT_CURRENCY: &str = "USD";
/// `visible_to` for new records when the body does not set it.
const DEFAULT_VISIBLE_TO: i64 = 3;
/// The company of every v1 answer that names one (`company_id`).
const COMPANY_ID: i64 = 1;
const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";
/// Burst limit for an API token on the Lite plan, the lowest documented
/// (<https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting>), so a
/// client tuned against the fake works on any plan.
const DEFAULT_BURST: u32 = 20;
const BURST_WINDOW: Duration = Duration::from_secs(2);
/// The daily token budget of a one-seat company on the Lite plan, the
/// lowest documented: 30,000 base tokens × multiplier 1 × one seat
/// (<https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting>).
const DEFAULT_DAILY_TOKENS: u64 = 30_000;
const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 100;
const MAX_IDS: usize = 100;
const MAX_CUSTOM_FIELD_KEYS: usize = 15;
/// Custom field types the fake can store and validate.
const CUSTOM_FIELD_TYPES: &[&str] = &[
    "varchar",
    "varchar_auto",
    "text",
    "phone",
    "double",
    "monetary",
    "date",
    "enum",
    "set",
    "user",
    "people",
];

/// A running fake Pipedrive company with one API token.
pub struct FakePipedrive {
    server: Server<PipedriveState>,
}

impl FakePipedrive {
    /// Starts an empty company: user 1, pipeline 1 with stages 1..=5, no
    /// records, no custom fields. Requests must send `x-api-token: <token>`.
    pub fn start(token: &str) -> FakePipedrive {
        FakePipedrive {
            server: Server::start(PipedriveState::new(token), handle),
        }
    }

    /// `start`, with a burst limit of 10,000 requests per 2 s, which no test
    /// reaches: for tests that are not about pacing, where the Lite plan's
    /// limit would only make them wait.
    pub fn start_unthrottled(token: &str) -> FakePipedrive {
        let fake = FakePipedrive::start(token);
        fake.set_rate_limit(10_000, 2_000);
        fake
    }

    /// The company base URL; API paths are `/api/v2/...` and `/api/v1/...`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The server core, for fault injection and the request log.
    pub fn server(&self) -> &Server<PipedriveState> {
        &self.server
    }

    /// Creates a person from a v2 POST body, validated like the API (panics
    /// if the API would refuse it). Not logged, not rate limited.
    pub fn seed_person(&self, person: Value) -> i64 {
        self.write_as_user(Entity::Person, None, person)
    }

    /// Creates a deal from a v2 POST body; see `seed_person`.
    pub fn seed_deal(&self, deal: Value) -> i64 {
        self.write_as_user(Entity::Deal, None, deal)
    }

    /// Creates an organization from a v2 POST body; see `seed_person`.
    pub fn seed_organization(&self, organization: Value) -> i64 {
        self.write_as_user(Entity::Organization, None, organization)
    }

    /// A human edit in the web app: validated like PATCH, advances `update_time`.
    pub fn edit_person(&self, id: i64, patch: Value) {
        self.write_as_user(Entity::Person, Some(id), patch);
    }

    /// A human edit of a deal; see `edit_person`.
    pub fn edit_deal(&self, id: i64, patch: Value) {
        self.write_as_user(Entity::Deal, Some(id), patch);
    }

    /// A human edit of an organization; see `edit_person`.
    pub fn edit_organization(&self, id: i64, patch: Value) {
        self.write_as_user(Entity::Organization, Some(id), patch);
    }

    /// Appends an entry to a person's `emails` or `phones` as stored, past
    /// validation: how the fake returns an entry the spec allows but a
    /// client may not read (one without `value`, say). Does not move
    /// `update_time`.
    pub fn add_raw_contact(&self, id: i64, list: &str, entry: Value) {
        let mut state = self.server.state();
        let record = state
            .persons
            .rows
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no person {id}"));
        match record.fields.get_mut(list).and_then(Value::as_array_mut) {
            Some(entries) => entries.push(entry),
            None => panic!("person {id} has no `{list}` list"),
        }
    }

    /// Soft-deletes a person as the web app would (panics if it is not live).
    pub fn delete_person(&self, id: i64) {
        self.remove(Entity::Person, id)
    }

    /// Soft-deletes a deal as the web app would (panics if it is not live).
    pub fn delete_deal(&self, id: i64) {
        self.remove(Entity::Deal, id)
    }

    /// Soft-deletes an organization as the web app would (panics if it is
    /// not live); its persons and deals are unlinked (see `delete`).
    pub fn delete_organization(&self, id: i64) {
        self.remove(Entity::Organization, id)
    }

    /// Merges record `id` into `merge_with_id` as `PUT /v1/{kind}/{id}/merge`
    /// does (see `PipedriveState::merge`); `kind` is "persons",
    /// "organizations" or "deals". Returns the survivor's id
    /// (`merge_with_id`); panics where the API would refuse. Not a request:
    /// nothing is logged or rate limited.
    pub fn merge(&self, kind: &str, id: i64, merge_with_id: i64) -> i64 {
        let entity = Entity::from_collection(kind).unwrap_or_else(|| {
            panic!("merge takes \"persons\", \"organizations\" or \"deals\", not {kind:?}")
        });
        let merged = self.server.state().merge(entity, id, merge_with_id);
        merged.unwrap_or_else(|e| panic!("merge {kind} {id} into {merge_with_id}: {}", e.body))
    }

    /// A person in the v2 GET shape; deleted persons are returned too (with
    /// `is_deleted: true`) so tests can check deletions. `None` if never created.
    pub fn person(&self, id: i64) -> Option<Value> {
        self.server.state().render_one(Entity::Person, id)
    }

    /// Every person that is not deleted, by id.
    pub fn persons(&self) -> Vec<Value> {
        self.server.state().render_live(Entity::Person)
    }

    /// A deal in the v2 GET shape; see `person`.
    pub fn deal(&self, id: i64) -> Option<Value> {
        self.server.state().render_one(Entity::Deal, id)
    }

    /// Every deal that is not deleted, by id.
    pub fn deals(&self) -> Vec<Value> {
        self.server.state().render_live(Entity::Deal)
    }

    /// An organization in the v2 GET shape; see `person`.
    pub fn organization(&self, id: i64) -> Option<Value> {
        self.server.state().render_one(Entity::Organization, id)
    }

    /// Every organization that is not deleted, by id.
    pub fn organizations(&self) -> Vec<Value> {
        self.server.state().render_live(Entity::Organization)
    }

    /// Creates a note from a v1 addNote body, validated like the API
    /// (panics if the API would refuse it). Not logged, not rate limited.
    pub fn seed_note(&self, note: Value) -> i64 {
        let written = self.server.state().write_note(None, &note);
        written.unwrap_or_else(|e| panic!("the API would refuse note {note}: {}", e.body))
    }

    /// A human edit of a note in the web app: validated like updateNote,
    /// advances `update_time`.
    pub fn edit_note(&self, id: i64, patch: Value) {
        let written = self.server.state().write_note(Some(id), &patch);
        written
            .unwrap_or_else(|e| panic!("the API would refuse {patch} for note {id}: {}", e.body));
    }

    /// Deletes a note as the web app would (panics if it is not live).
    pub fn delete_note(&self, id: i64) {
        if let Err(e) = self.server.state().delete_note(id) {
            panic!("delete_note {id}: {}", e.body);
        }
    }

    /// Every live note in getNote's shape, by id.
    pub fn notes(&self) -> Vec<Value> {
        let state = self.server.state();
        let live: Vec<Value> = state
            .notes
            .rows
            .values()
            .filter(|n| n.active)
            .map(|n| state.render_note(n))
            .collect();
        live
    }

    /// Saves a filter of `"persons"`, `"deals"` or `"organizations"`
    /// holding the records whose fields equal each of `conditions` (an
    /// object: built-in fields by name, custom ones by field code, values
    /// as stored, e.g. `{"owner_id": 7}`), and returns its id.
    pub fn add_filter(&self, collection: &str, name: &str, conditions: Value) -> i64 {
        let entity = Entity::from_collection(collection).expect("persons, deals or organizations");
        let conditions = conditions
            .as_object()
            .expect("conditions are an object")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut state = self.server.state();
        let id = 1000 + state.filters.len() as i64 + 1;
        state.filters.insert(
            id,
            store::SavedFilter {
                entity,
                name: name.into(),
                conditions,
            },
        );
        id
    }

    /// Adds an active user (a possible `owner_id`) and returns its id.
    pub fn add_user(&self, email: &str, name: &str) -> i64 {
        self.server.state().add_user(email, name)
    }

    /// Adds a label of `"person"`, `"deal"` or `"organization"` with the id
    /// `id` (a company's labels are its `label_ids` options, listed by the
    /// fields endpoint).
    pub fn add_label(&self, entity: &str, id: i64, name: &str) {
        let entity = match entity {
            "person" => Entity::Person,
            "deal" => Entity::Deal,
            "organization" => Entity::Organization,
            other => {
                panic!("labels exist for \"person\", \"deal\" or \"organization\", not {other:?}")
            }
        };
        let mut state = self.server.state();
        assert!(
            !state
                .labels
                .iter()
                .any(|(e, l, _)| *e == entity && *l == id),
            "label {id} already exists"
        );
        state.labels.push((entity, id, name.to_string()));
    }

    /// Adds a pipeline without stages and returns its id.
    pub fn add_pipeline(&self, name: &str) -> i64 {
        self.server.state().add_pipeline(name)
    }

    /// Adds a stage at the end of a pipeline and returns its id.
    pub fn add_stage(&self, pipeline_id: i64, name: &str) -> i64 {
        self.server.state().add_stage(pipeline_id, name)
    }

    /// Adds a custom field to `"person"`, `"deal"` or `"organization"` and
    /// returns its 40-hex
    /// `field_code`. `options` are the labels of an enum/set field; their ids
    /// are assigned by the fake (read them from the fields endpoint).
    pub fn add_custom_field(
        &self,
        entity: &str,
        name: &str,
        field_type: &str,
        options: &[&str],
    ) -> String {
        let entity = match entity {
            "person" => Entity::Person,
            "deal" => Entity::Deal,
            "organization" => Entity::Organization,
            other => panic!(
                "custom fields exist for \"person\", \"deal\" or \"organization\", not {other:?}"
            ),
        };
        assert!(
            CUSTOM_FIELD_TYPES.contains(&field_type),
            "field type {field_type:?} is not modelled; use one of {CUSTOM_FIELD_TYPES:?}"
        );
        let has_options = matches!(field_type, "enum" | "set");
        assert_eq!(
            has_options,
            !options.is_empty(),
            "enum and set fields need options, other types take none"
        );
        self.server
            .state()
            .add_custom_field(entity, name, field_type, options)
    }

    /// The custom fields of `"person"`, `"deal"` or `"organization"` as the
    /// fields endpoint shows them (`field_name`, `field_code`, `field_type`,
    /// `options`).
    pub fn custom_fields(&self, entity: &str) -> Vec<Value> {
        let entity = match entity {
            "person" => Entity::Person,
            "deal" => Entity::Deal,
            _ => Entity::Organization,
        };
        let state = self.server.state();
        state
            .custom_fields(entity)
            .iter()
            .map(metadata::custom_field_json)
            .collect()
    }

    /// Sets the per-token burst limit: `max` requests per rolling `window_ms`.
    pub fn set_rate_limit(&self, max: u32, window_ms: u64) {
        let mut state = self.server.state();
        state.limits.burst = Bucket::new(max, Duration::from_millis(window_ms));
    }

    /// How many requests were answered 429 (burst window or daily budget).
    pub fn rate_limited_count(&self) -> usize {
        self.server.state().limits.rejected
    }

    /// Sets the company's daily token budget; what was spent today still
    /// counts.
    pub fn set_daily_budget(&self, tokens: u64) {
        self.server.state().limits.budget.tokens = tokens;
    }

    /// Tokens the company's requests spent today (the fake's day), each
    /// at its operation's `x-token-cost`.
    pub fn tokens_spent(&self) -> u64 {
        let mut state = self.server.state();
        let today = state.today();
        let budget = &mut state.limits.budget;
        if budget.day == today { budget.spent } else { 0 }
    }

    /// Spends `tokens` of today's budget as the company's other tools (a
    /// dialer, a mail sync) would, without a request.
    pub fn spend_elsewhere(&self, tokens: u64) {
        let mut state = self.server.state();
        let today = state.today();
        let budget = &mut state.limits.budget;
        if budget.day != today {
            budget.day = today;
            budget.spent = 0;
        }
        budget.spent += tokens;
    }

    /// Moves the company's calendar to the next UTC day: the daily budget
    /// starts again from nothing (record times keep the wall clock).
    pub fn next_day(&self) {
        self.server.state().days_ahead += 1;
    }

    /// Answers leave out the `x-daily-ratelimit-token-*` headers, which
    /// Pipedrive does not document and some of its answers lack.
    pub fn omit_daily_headers(&self, omit: bool) {
        self.server.state().limits.budget.without_headers = omit;
    }

    /// Person and deal list answers leave out `additional_data` (and so
    /// `next_cursor`), which no v2 response schema requires.
    pub fn omit_additional_data(&self, omit: bool) {
        self.server.state().without_additional_data = omit;
    }

    /// `"METHOD /path"` of every request that matched no endpoint of the fake
    /// (including the deprecated v1 persons/deals endpoints).
    pub fn unknown_routes(&self) -> Vec<String> {
        self.server.state().unknown_routes.clone()
    }

    /// A write made in the web app: the API's rules apply (a refusal
    /// panics), but it is not a request, so nothing is logged or rate limited.
    fn write_as_user(&self, entity: Entity, id: Option<i64>, body: Value) -> i64 {
        let result = self
            .server
            .state()
            .write(entity, id, &body, "ManuallyCreated");
        result.unwrap_or_else(|e| {
            let what = entity.singular();
            panic!("{what} {id:?}: the API would refuse {body}: {}", e.body)
        })
    }

    fn remove(&self, entity: Entity, id: i64) {
        if let Err(e) = self.server.state().delete(entity, id) {
            panic!("delete_{} {id}: {}", entity.singular(), e.body);
        }
    }
}
