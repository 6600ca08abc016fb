//! A stateful, strict fake of Pipedrive's API v2 (persons, deals,
//! organizations, their field endpoints, pipelines, stages) plus the v1
//! users list and the v1 merges of persons, organizations and deals, built on
//! `server.rs`. It models what crmsync calls; any other path (the search
//! endpoints among them) is an unknown route.
//!
//! It owns Pipedrive's wire behaviour as documented in
//! `../shared/api/pipedrive.md` and the official OpenAPI specs in
//! `../shared/specs/`: auth, the burst rate limit with its headers, cursor paging, request validation and error bodies. It must not
//! be kinder than the real API: where the documents leave a behaviour open it
//! takes the stricter reading (and says so in a comment), and a documented
//! parameter it does not model is refused with a 400 rather than ignored. It
//! knows nothing about HubSpot or about crmsync, and it must not reach into
//! the server core beyond `Server`'s public API.

#![allow(dead_code)]

use super::server::{Request, Response, Server};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
/// (pipedrive.md §6.2), so a client tuned against the fake works on any plan.
const DEFAULT_BURST: u32 = 20;
const BURST_WINDOW: Duration = Duration::from_secs(2);
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
// ---------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------

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

    /// Adds an active user (a possible `owner_id`) and returns its id.
    pub fn add_user(&self, email: &str, name: &str) -> i64 {
        self.server.state().add_user(email, name)
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

    /// Sets the per-token burst limit: `max` requests per rolling `window_ms`.
    pub fn set_rate_limit(&self, max: u32, window_ms: u64) {
        let mut state = self.server.state();
        state.limits.burst = Bucket::new(max, Duration::from_millis(window_ms));
    }

    /// How many requests were answered 429.
    pub fn rate_limited_count(&self) -> usize {
        self.server.state().limits.rejected
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

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/// Everything the fake company holds. Only the handler and `FakePipedrive`
/// touch it.
pub struct PipedriveState {
    token: String,
    clock: Clock,
    users: Vec<User>,
    pipelines: Vec<Pipeline>,
    stages: Vec<Stage>,
    person_fields: Vec<CustomField>,
    deal_fields: Vec<CustomField>,
    organization_fields: Vec<CustomField>,
    persons: Table,
    deals: Table,
    organizations: Table,
    limits: Limits,
    unknown_routes: Vec<String>,
    /// Person and deal lists leave `additional_data` out (the spec does not
    /// require it).
    without_additional_data: bool,
    next_option_id: i64,
    field_code_seed: u64,
}

/// Whole-second wall clock that never goes backwards.
struct Clock {
    last: i64,
}

impl Clock {
    fn now(&mut self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.last = self.last.max(real);
        self.last
    }
}

struct User {
    id: i64,
    name: String,
    email: String,
    created: i64,
}

struct Pipeline {
    id: i64,
    name: String,
    created: i64,
}

struct Stage {
    id: i64,
    pipeline_id: i64,
    order_nr: i64,
    name: String,
    created: i64,
}

struct CustomField {
    code: String,
    name: String,
    field_type: String,
    /// `(id, label)` for enum and set fields.
    options: Vec<(i64, String)>,
}

impl CustomField {
    fn option_label(&self, id: &Value) -> Option<&str> {
        let id = id.as_i64()?;
        self.options
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, l)| l.as_str())
    }
}

/// One person or deal. `fields` holds every plain attribute in its v2 wire
/// form; ids, times, deletion and custom fields are kept apart because the
/// fake computes with them.
#[derive(Clone)]
struct Record {
    id: i64,
    add_time: i64,
    update_time: i64,
    is_deleted: bool,
    fields: Map<String, Value>,
    /// Only fields with a value; unset ones render as `null`.
    custom: BTreeMap<String, Value>,
}

impl Record {
    fn field_i64(&self, name: &str) -> Option<i64> {
        self.fields.get(name).and_then(Value::as_i64)
    }
}

struct Table {
    next_id: i64,
    rows: BTreeMap<i64, Record>,
}

impl Table {
    fn new() -> Table {
        Table {
            next_id: 1,
            rows: BTreeMap::new(),
        }
    }
}

impl PipedriveState {
    fn new(token: &str) -> PipedriveState {
        let mut state = PipedriveState {
            token: token.to_string(),
            clock: Clock { last: 0 },
            users: Vec::new(),
            pipelines: Vec::new(),
            stages: Vec::new(),
            person_fields: Vec::new(),
            deal_fields: Vec::new(),
            organization_fields: Vec::new(),
            persons: Table::new(),
            deals: Table::new(),
            organizations: Table::new(),
            limits: Limits {
                burst: Bucket::new(DEFAULT_BURST, BURST_WINDOW),
                rejected: 0,
            },
            unknown_routes: Vec::new(),
            without_additional_data: false,
            // Option ids start well away from 1 so that sending an option's
            // position instead of its id is caught.
            next_option_id: 101,
            field_code_seed: 0x5eed_c0de,
        };
        state.add_user("owner@example.com", "Owner");
        let pipeline = state.add_pipeline("Pipeline");
        for name in [
            "Qualified",
            "Contact Made",
            "Demo Scheduled",
            "Proposal Made",
            "Negotiations Started",
        ] {
            state.add_stage(pipeline, name);
        }
        state
    }

    fn add_user(&mut self, email: &str, name: &str) -> i64 {
        let created = self.clock.now();
        let id = self.users.len() as i64 + 1;
        self.users.push(User {
            id,
            name: name.to_string(),
            email: email.to_string(),
            created,
        });
        id
    }

    fn add_pipeline(&mut self, name: &str) -> i64 {
        let created = self.clock.now();
        let id = self.pipelines.len() as i64 + 1;
        self.pipelines.push(Pipeline {
            id,
            name: name.to_string(),
            created,
        });
        id
    }

    fn add_stage(&mut self, pipeline_id: i64, name: &str) -> i64 {
        assert!(
            self.pipelines.iter().any(|p| p.id == pipeline_id),
            "no pipeline {pipeline_id}"
        );
        let created = self.clock.now();
        let id = self.stages.len() as i64 + 1;
        let order_nr = self
            .stages
            .iter()
            .filter(|s| s.pipeline_id == pipeline_id)
            .count() as i64
            + 1;
        self.stages.push(Stage {
            id,
            pipeline_id,
            order_nr,
            name: name.to_string(),
            created,
        });
        id
    }

    fn add_custom_field(
        &mut self,
        entity: Entity,
        name: &str,
        field_type: &str,
        options: &[&str],
    ) -> String {
        let code = self.next_field_code();
        let options = options
            .iter()
            .map(|label| {
                self.next_option_id += 1;
                (self.next_option_id - 1, label.to_string())
            })
            .collect();
        let field = CustomField {
            code: code.clone(),
            name: name.to_string(),
            field_type: field_type.to_string(),
            options,
        };
        self.custom_fields_mut(entity).push(field);
        code
    }

    /// A fresh 40-character lowercase hex key, like Pipedrive's field hashes.
    fn next_field_code(&mut self) -> String {
        let mut code = String::new();
        while code.len() < 40 {
            // splitmix64
            self.field_code_seed = self.field_code_seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.field_code_seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            code.push_str(&format!("{:016x}", z ^ (z >> 31)));
        }
        code.truncate(40);
        code
    }

    fn custom_fields(&self, entity: Entity) -> &[CustomField] {
        match entity {
            Entity::Person => &self.person_fields,
            Entity::Deal => &self.deal_fields,
            Entity::Organization => &self.organization_fields,
        }
    }

    fn custom_fields_mut(&mut self, entity: Entity) -> &mut Vec<CustomField> {
        match entity {
            Entity::Person => &mut self.person_fields,
            Entity::Deal => &mut self.deal_fields,
            Entity::Organization => &mut self.organization_fields,
        }
    }

    fn table(&self, entity: Entity) -> &Table {
        match entity {
            Entity::Person => &self.persons,
            Entity::Deal => &self.deals,
            Entity::Organization => &self.organizations,
        }
    }

    fn table_mut(&mut self, entity: Entity) -> &mut Table {
        match entity {
            Entity::Person => &mut self.persons,
            Entity::Deal => &mut self.deals,
            Entity::Organization => &mut self.organizations,
        }
    }

    /// A record that exists and is not deleted, or the API's 404.
    fn live(&self, entity: Entity, id: i64) -> Result<&Record, ApiError> {
        self.table(entity)
            .rows
            .get(&id)
            .filter(|r| !r.is_deleted)
            .ok_or_else(ApiError::entity_not_found)
    }

    fn stage(&self, id: i64) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    fn first_stage(&self, pipeline_id: i64) -> Option<&Stage> {
        self.stages
            .iter()
            .filter(|s| s.pipeline_id == pipeline_id)
            .min_by_key(|s| s.order_nr)
    }

    fn render_one(&self, entity: Entity, id: i64) -> Option<Value> {
        let record = self.table(entity).rows.get(&id)?;
        Some(self.render(entity, record, &View::default()))
    }

    fn render_live(&self, entity: Entity) -> Vec<Value> {
        self.table(entity)
            .rows
            .values()
            .filter(|r| !r.is_deleted)
            .map(|r| self.render(entity, r, &View::default()))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Entities: what differs between persons, deals and organizations
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Entity {
    Person,
    Deal,
    Organization,
}

impl Entity {
    fn from_collection(segment: &str) -> Option<Entity> {
        match segment {
            "persons" => Some(Entity::Person),
            "deals" => Some(Entity::Deal),
            "organizations" => Some(Entity::Organization),
            _ => None,
        }
    }

    fn from_fields_collection(segment: &str) -> Option<Entity> {
        match segment {
            "personFields" => Some(Entity::Person),
            "dealFields" => Some(Entity::Deal),
            "organizationFields" => Some(Entity::Organization),
            _ => None,
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Entity::Person => "person",
            Entity::Deal => "deal",
            Entity::Organization => "organization",
        }
    }

    /// The write-body fields of POST/PATCH (spec: addPerson/updatePerson,
    /// addDeal/updateDeal, addOrganization/updateOrganization). Only what
    /// those schemas mark `nullable` takes `null` (deals' `probability`,
    /// `lost_reason`, `close_time`; organizations' `website`, `linkedin`,
    /// `industry`, `annual_revenue`, `employee_count`); any other
    /// `null` is refused with a 400, as the schema validation of v2 would. Contact-sync fields (`im`, `postal_address`,
    /// `notes`, `birthday`, `job_title`) and `marketing_status` are left out:
    /// this company has neither contact sync nor Campaigns, so they are
    /// refused like any other unknown field.
    fn body_fields(self) -> &'static [BodyField] {
        use Kind::*;
        const PERSON: &[BodyField] = &[
            BodyField::new("name", NonEmptyText),
            // Not in the spec body, but the migration guide documents "name or
            // both first_name and last_name".
            BodyField::new("first_name", NonEmptyText),
            BodyField::new("last_name", NonEmptyText),
            BodyField::new("owner_id", Reference(Ref::User)),
            BodyField::new("org_id", Reference(Ref::Org)),
            // The spec lists `add_time` in the POST body only.
            BodyField::new("add_time", AddTime).post_only(),
            BodyField::new("emails", Contacts),
            BodyField::new("phones", Contacts),
            BodyField::new("visible_to", VisibleTo),
            BodyField::new("label_ids", LabelIds),
            BodyField::new("custom_fields", CustomFields),
        ];
        const DEAL: &[BodyField] = &[
            BodyField::new("title", NonEmptyText),
            BodyField::new("owner_id", Reference(Ref::User)),
            BodyField::new("person_id", Reference(Ref::Person)),
            BodyField::new("org_id", Reference(Ref::Org)),
            BodyField::new("pipeline_id", Reference(Ref::Pipeline)),
            BodyField::new("stage_id", Reference(Ref::Stage)),
            BodyField::new("value", Number),
            BodyField::new("currency", Currency),
            BodyField::new("is_deleted", OnlyFalse("use DELETE to delete a deal")),
            BodyField::new(
                "is_archived",
                OnlyFalse("the fake does not model archived deals"),
            ),
            BodyField::new(
                "archive_time",
                Unmodelled("the fake does not model archived deals"),
            ),
            BodyField::new("status", Status),
            BodyField::new("probability", Probability).nullable(),
            BodyField::new("lost_reason", Text).nullable(),
            BodyField::new("visible_to", VisibleTo),
            BodyField::new("close_time", Timestamp).nullable(),
            BodyField::new("won_time", Timestamp),
            BodyField::new("lost_time", Timestamp),
            BodyField::new("expected_close_date", Date),
            BodyField::new("label_ids", LabelIds),
            BodyField::new("custom_fields", CustomFields),
        ];
        const ORGANIZATION: &[BodyField] = &[
            BodyField::new("name", NonEmptyText),
            BodyField::new("owner_id", Reference(Ref::User)),
            BodyField::new("add_time", AddTime).post_only(),
            BodyField::new("visible_to", VisibleTo),
            BodyField::new("label_ids", LabelIds),
            BodyField::new("address", Address),
            BodyField::new("website", Text).nullable(),
            BodyField::new("linkedin", Text).nullable(),
            BodyField::new("industry", Integer).nullable(),
            BodyField::new("annual_revenue", Integer).nullable(),
            BodyField::new("employee_count", Integer).nullable(),
            BodyField::new("custom_fields", CustomFields),
        ];
        match self {
            Entity::Person => PERSON,
            Entity::Deal => DEAL,
            Entity::Organization => ORGANIZATION,
        }
    }

    /// Attributes a new record starts with, before the body is applied.
    fn defaults(self, origin: &str) -> Map<String, Value> {
        let value = match self {
            Entity::Person => json!({
                "name": null, "first_name": null, "last_name": null,
                "owner_id": TOKEN_USER, "org_id": null,
                "emails": [], "phones": [],
                "visible_to": DEFAULT_VISIBLE_TO, "label_ids": [], "picture_id": null,
            }),
            Entity::Deal => json!({
                "title": null, "creator_user_id": TOKEN_USER, "owner_id": TOKEN_USER,
                "value": 0, "currency": DEFAULT_CURRENCY,
                "person_id": null, "org_id": null, "stage_id": null, "pipeline_id": null,
                "status": "open", "probability": null,
                "stage_change_time": null, "close_time": null, "won_time": null, "lost_time": null,
                "lost_reason": null, "expected_close_date": null,
                "is_archived": false, "archive_time": null,
                "visible_to": DEFAULT_VISIBLE_TO, "label_ids": [],
                "origin": origin, "origin_id": null, "channel": null, "channel_id": null,
            }),
            Entity::Organization => json!({
                "name": null, "owner_id": TOKEN_USER, "address": null,
                "visible_to": DEFAULT_VISIBLE_TO, "label_ids": [],
                "website": null, "linkedin": null, "industry": null,
                "annual_revenue": null, "employee_count": null,
            }),
        };
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// List filters that compare a record attribute with an integer parameter.
    fn equality_filters(self) -> &'static [&'static str] {
        match self {
            Entity::Person => &["owner_id", "org_id"],
            Entity::Deal => &["owner_id", "person_id", "org_id", "pipeline_id", "stage_id"],
            Entity::Organization => &["owner_id"],
        }
    }

    /// The list filters each entity has beyond `equality_filters`.
    fn special_list_filters(self) -> &'static [&'static str] {
        match self {
            Entity::Person => &["deal_id"],
            Entity::Deal => &["status"],
            Entity::Organization => &[],
        }
    }

    /// Built-in fields as `GET /api/v2/{personFields|dealFields}` lists them:
    /// `(field_code, field_name, field_type)`. Codes follow the spec examples
    /// (`phone` for persons, `value` as a monetary field with a `currency`
    /// subfield for deals).
    fn builtin_fields(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Entity::Person => &[
                ("name", "Name", "varchar"),
                ("first_name", "First name", "varchar"),
                ("last_name", "Last name", "varchar"),
                ("email", "Email", "varchar"),
                ("phone", "Phone", "phone"),
                ("owner_id", "Owner", "user"),
                ("org_id", "Organization", "org"),
                ("label_ids", "Labels", "set"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Person created", "date"),
                ("update_time", "Update time", "date"),
                ("picture_id", "Profile picture", "picture"),
            ],
            Entity::Deal => &[
                ("title", "Title", "varchar"),
                ("value", "Value", "monetary"),
                ("person_id", "Contact person", "people"),
                ("org_id", "Organization", "org"),
                ("pipeline_id", "Pipeline", "int"),
                ("stage_id", "Stage", "stage"),
                ("status", "Status", "status"),
                ("owner_id", "Owner", "user"),
                ("probability", "Probability", "double"),
                ("expected_close_date", "Expected close date", "date"),
                ("lost_reason", "Lost reason", "varchar"),
                ("label_ids", "Labels", "set"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Deal created", "date"),
                ("update_time", "Update time", "date"),
                ("close_time", "Deal closed on", "date"),
                ("won_time", "Won time", "date"),
                ("lost_time", "Lost time", "date"),
            ],
            Entity::Organization => &[
                ("name", "Name", "varchar"),
                ("owner_id", "Owner", "user"),
                ("address", "Address", "address"),
                ("website", "Website", "varchar"),
                ("linkedin", "LinkedIn profile", "varchar"),
                ("industry", "Industry", "int"),
                ("annual_revenue", "Annual revenue", "int"),
                ("employee_count", "Number of employees", "int"),
                ("label_ids", "Labels", "set"),
                ("visible_to", "Visible to", "visible_to"),
                ("add_time", "Organization created", "date"),
                ("update_time", "Update time", "date"),
            ],
        }
    }
}

// ---------------------------------------------------------------------------
// Routing, auth and rate limits
// ---------------------------------------------------------------------------

/// One operation of the API surface the fake serves.
#[derive(Clone, Copy, Debug)]
enum Route {
    List(Entity),
    Create(Entity),
    Get(Entity, i64),
    Update(Entity, i64),
    Delete(Entity, i64),
    Fields(Entity),
    Pipelines,
    Stages,
    Users,
    /// `PUT /api/v1/{persons|organizations|deals}/{id}/merge` (v1 has no
    /// replacement in v2).
    Merge(Entity, i64),
}

impl Route {
    /// Anything else (including every deprecated `/v1/persons…`,
    /// `/api/v1/deals…` path and a non-numeric id) is an unknown route.
    fn parse(method: &str, path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.split('/').collect();
        let route = match (method, segments.as_slice()) {
            ("GET", ["", "api", "v1", "users"]) => Route::Users,
            ("PUT", ["", "api", "v1", collection, id, "merge"]) => {
                let entity = Entity::from_collection(collection)?;
                Route::Merge(entity, id.parse().ok().filter(|id: &i64| *id > 0)?)
            }
            ("GET", ["", "api", "v2", "pipelines"]) => Route::Pipelines,
            ("GET", ["", "api", "v2", "stages"]) => Route::Stages,
            (method, ["", "api", "v2", collection, rest @ ..]) => {
                if let Some(entity) = Entity::from_fields_collection(collection) {
                    return (method == "GET" && rest.is_empty()).then_some(Route::Fields(entity));
                }
                let entity = Entity::from_collection(collection)?;
                match (method, rest) {
                    ("GET", []) => Route::List(entity),
                    ("POST", []) => Route::Create(entity),
                    (method, [id]) => {
                        let id: i64 = id.parse().ok().filter(|id: &i64| *id > 0)?;
                        match method {
                            "GET" => Route::Get(entity, id),
                            "PATCH" => Route::Update(entity, id),
                            "DELETE" => Route::Delete(entity, id),
                            _ => return None,
                        }
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(route)
    }

    /// The query parameters the operation takes (spec), less the ones in
    /// `UNMODELLED_PARAMS`.
    fn params(self) -> Vec<&'static str> {
        const PAGING: &[&str] = &["limit", "cursor"];
        const SORTING: &[&str] = &["sort_by", "sort_direction"];
        const VIEW: &[&str] = &["custom_fields", "include_option_labels"];
        const LIST: &[&str] = &["ids", "updated_since", "updated_until"];
        match self {
            Route::List(e) => [
                PAGING,
                SORTING,
                VIEW,
                LIST,
                e.equality_filters(),
                e.special_list_filters(),
            ]
            .concat(),
            Route::Get(..) => VIEW.to_vec(),
            Route::Create(_)
            | Route::Update(..)
            | Route::Delete(..)
            | Route::Users
            | Route::Merge(..) => Vec::new(),
            Route::Fields(_) => PAGING.to_vec(),
            Route::Pipelines => [PAGING, SORTING].concat(),
            Route::Stages => [PAGING, SORTING, &["pipeline_id"]].concat(),
        }
    }
}

/// The server's handler: auth, then rate limits, then the operation; every
/// response carries the rate-limit headers.
fn handle(state: &mut PipedriveState, request: &Request) -> Response {
    let now = Instant::now();
    let route = Route::parse(&request.method, &request.path);
    let response = if !state.authorized(request) {
        ApiError::unauthorized().into_response()
    } else if let Err(limited) = state.limits.admit(now) {
        limited
    } else if let Some(route) = route {
        state
            .dispatch(route, request)
            .unwrap_or_else(ApiError::into_response)
    } else {
        state
            .unknown_routes
            .push(format!("{} {}", request.method, request.path));
        ApiError::unknown_route().into_response()
    };
    state.limits.add_headers(response, now)
}

impl PipedriveState {
    /// Only the `x-api-token` header authenticates. The legacy `api_token`
    /// query parameter is refused as unauthorized even when its value is
    /// right: whether v2 still accepts it is unconfirmed (pipedrive.md §1),
    /// so a client relying on it must fail here.
    fn authorized(&self, request: &Request) -> bool {
        request.query_param("api_token").is_none()
            && request.header("x-api-token") == Some(self.token.as_str())
    }

    fn dispatch(&mut self, route: Route, request: &Request) -> Result<Response, ApiError> {
        let params = Params::new(request, &route.params())?;
        let body = match route {
            Route::List(entity) => self.list(entity, &params)?,
            Route::Get(entity, id) => {
                let view = params.view()?;
                json!({"success": true, "data": self.render(entity, self.live(entity, id)?, &view)})
            }
            Route::Create(entity) => {
                let id = self.write(entity, None, &request_body(request)?, "API")?;
                self.write_response(entity, id)
            }
            Route::Update(entity, id) => {
                self.write(entity, Some(id), &request_body(request)?, "API")?;
                self.write_response(entity, id)
            }
            Route::Delete(entity, id) => {
                self.delete(entity, id)?;
                json!({"success": true, "data": {"id": id}})
            }
            Route::Fields(entity) => self.fields(entity, &params)?,
            Route::Pipelines => self.pipelines(&params)?,
            Route::Stages => self.stages(&params)?,
            Route::Users => {
                json!({"success": true, "data": self.users.iter().map(render_user).collect::<Vec<_>>()})
            }
            Route::Merge(entity, id) => {
                let merge_with_id = merge_with_id(&request_body(request)?)?;
                let survivor = self.merge(entity, id, merge_with_id)?;
                self.merge_response(entity, survivor, id)
            }
        };
        // The v2 spec documents 200 for POST too (addPerson, addDeal).
        Ok(Response::json(200, &body))
    }

    fn write_response(&self, entity: Entity, id: i64) -> Value {
        let record = &self.table(entity).rows[&id];
        json!({"success": true, "data": self.render(entity, record, &View::default())})
    }
}

/// A rolling-window request counter.
struct Bucket {
    max: u32,
    window: Duration,
    admitted: VecDeque<Instant>,
}

impl Bucket {
    fn new(max: u32, window: Duration) -> Bucket {
        Bucket {
            max,
            window,
            admitted: VecDeque::new(),
        }
    }

    fn forget_expired(&mut self, now: Instant) {
        while self
            .admitted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.admitted.pop_front();
        }
    }

    fn has_room(&mut self, now: Instant) -> bool {
        self.forget_expired(now);
        self.admitted.len() < self.max as usize
    }

    fn remaining(&self) -> u32 {
        self.max.saturating_sub(self.admitted.len() as u32)
    }

    /// Whole seconds (rounded up) until the oldest request leaves the window.
    fn reset_secs(&self, now: Instant) -> u64 {
        self.admitted.front().map_or(0, |oldest| {
            let left = self.window.saturating_sub(now.duration_since(*oldest));
            left.as_millis().div_ceil(1000) as u64
        })
    }
}

struct Limits {
    burst: Bucket,
    rejected: usize,
}

impl Limits {
    /// Counts an authenticated request against the burst window, or answers
    /// 429. Only admitted requests fill the window; unknown routes count too.
    fn admit(&mut self, now: Instant) -> Result<(), Response> {
        if !self.burst.has_room(now) {
            self.rejected += 1;
            return Err(ApiError::too_many("Request over limit").into_response());
        }
        self.burst.admitted.push_back(now);
        Ok(())
    }

    /// `x-ratelimit-*` describe the token's burst window (pipedrive.md §6.3).
    fn add_headers(&mut self, response: Response, now: Instant) -> Response {
        let bucket = &mut self.burst;
        bucket.forget_expired(now);
        let (limit, remaining, reset) = (bucket.max, bucket.remaining(), bucket.reset_secs(now));
        response
            .with_header("x-ratelimit-limit", limit.to_string())
            .with_header("x-ratelimit-remaining", remaining.to_string())
            .with_header("x-ratelimit-reset", reset.to_string())
    }
}

// ---------------------------------------------------------------------------
// Operations shared by persons and deals
// ---------------------------------------------------------------------------

impl PipedriveState {
    fn list(&self, entity: Entity, params: &Params) -> Result<Value, ApiError> {
        let sort = params.sort(&["id", "update_time", "add_time"])?;
        let view = params.view()?;
        let ids = params.id_list("ids")?;
        let since = params.time("updated_since")?;
        let until = params.time("updated_until")?;
        let mut equal = Vec::new();
        for name in entity.equality_filters() {
            if let Some(v) = params.int(name)? {
                equal.push((*name, v));
            }
        }
        // Persons of a deal: the deal's contact person.
        let deal_person = params.int("deal_id")?.map(|deal| {
            self.deals
                .rows
                .get(&deal)
                .and_then(|d| d.field_i64("person_id"))
        });
        let statuses = params.list_of("status", &["open", "won", "lost", "deleted"])?;
        let keep = |r: &Record| {
            let status_ok = match &statuses {
                // Default: every deal (and person) that is not deleted.
                None => !r.is_deleted,
                Some(wanted) if r.is_deleted => wanted.contains(&"deleted"),
                Some(wanted) => r
                    .fields
                    .get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| wanted.contains(&s)),
            };
            status_ok
                && ids.as_ref().is_none_or(|ids| ids.contains(&r.id))
                && since.is_none_or(|t| r.update_time >= t)
                && until.is_none_or(|t| r.update_time < t)
                && equal.iter().all(|(name, v)| r.field_i64(name) == Some(*v))
                && deal_person.is_none_or(|p| p == Some(r.id))
        };
        let rows = &self.table(entity).rows;
        let (page, next) = params.page(&sort, rows.values().filter(|r| keep(r)))?;
        let data: Vec<Value> = page
            .iter()
            .map(|id| self.render(entity, &rows[id], &view))
            .collect();
        if self.without_additional_data {
            return Ok(json!({"success": true, "data": data}));
        }
        Ok(listing(Value::Array(data), next))
    }

    /// Creates (`id == None`) or updates a record from a write body; returns its id.
    fn write(
        &mut self,
        entity: Entity,
        id: Option<i64>,
        body: &Value,
        origin: &str,
    ) -> Result<i64, ApiError> {
        let now = self.clock.now();
        let existing = match id {
            Some(id) => Some(self.live(entity, id)?),
            None => None,
        };
        let change = self.validate(entity, body, existing, now)?;
        let table = self.table_mut(entity);
        let id = id.unwrap_or_else(|| {
            let id = table.next_id;
            table.next_id += 1;
            let record = Record {
                id,
                add_time: now,
                update_time: now,
                is_deleted: false,
                fields: entity.defaults(origin),
                custom: BTreeMap::new(),
            };
            table.rows.insert(id, record);
            id
        });
        let record = table.rows.get_mut(&id).expect("record exists");
        record.fields.extend(change.fields);
        for (code, value) in change.custom {
            if value.is_null() {
                record.custom.remove(&code);
            } else {
                record.custom.insert(code, value);
            }
        }
        if let Some(add_time) = change.add_time {
            record.add_time = add_time;
        }
        record.update_time = now;
        Ok(id)
    }

    /// Soft delete: `is_deleted` and, per the migration guide, `update_time`
    /// becomes the delete time. An organization's persons and deals stay,
    /// unlinked from it (`org_id` null), as the web app shows them. No
    /// document says whether that moves their `update_time`: the fake takes
    /// the stricter reading and leaves it, so a client cannot learn of the
    /// unlink from an incremental listing.
    fn delete(&mut self, entity: Entity, id: i64) -> Result<(), ApiError> {
        self.live(entity, id)?;
        let now = self.clock.now();
        let record = self
            .table_mut(entity)
            .rows
            .get_mut(&id)
            .expect("live record");
        record.is_deleted = true;
        record.update_time = now;
        if entity == Entity::Organization {
            for linked in [&mut self.persons, &mut self.deals] {
                for row in linked.rows.values_mut() {
                    if row.field_i64("org_id") == Some(id) {
                        row.fields.insert("org_id".into(), Value::Null);
                    }
                }
            }
        }
        Ok(())
    }

    /// Merges record `id` into `merge_with_id`, as Pipedrive's merge
    /// tutorials describe: the record of `merge_with_id` survives with its
    /// id and its values; a field it has empty (`null`, no custom value, an
    /// empty label list) takes the other's value, except those in
    /// `NOT_FILLED_BY_MERGE`; the other's emails and
    /// phones are added after its own (once each: emails compared without
    /// case, phones as written; the survivor's primary stays primary, the
    /// added entries are not primary); related records move to it (deals'
    /// `person_id`/`org_id`, persons' `org_id`) and the other record is
    /// removed. Undocumented, and read strictly here:
    /// - the removed record is deleted exactly as DELETE deletes (404 on
    ///   GET, `is_deleted` with the merge time as `update_time`, listed
    ///   under deals' `status=deleted`); nothing in v2 says it was merged;
    /// - the survivor's `update_time` becomes the merge time;
    /// - the moved records keep their `update_time` (as an organization's
    ///   delete unlinks without touching it), so an incremental listing
    ///   does not show that their `person_id`/`org_id` changed;
    /// - organizations' text fields are not combined (the organization
    ///   tutorial says text is merged "where possible", without a format).
    fn merge(&mut self, entity: Entity, id: i64, merge_with_id: i64) -> Result<i64, ApiError> {
        let other = self.live(entity, id)?.clone();
        if merge_with_id == id {
            let what = entity.singular();
            return Err(ApiError::bad_request(format!(
                "Cannot merge a {what} with itself"
            )));
        }
        self.live(entity, merge_with_id)?;
        let now = self.clock.now();
        let survivor = self
            .table_mut(entity)
            .rows
            .get_mut(&merge_with_id)
            .expect("live record");
        for (name, value) in &other.fields {
            let empty = match survivor.fields.get(name) {
                None | Some(Value::Null) => true,
                Some(Value::Array(items)) => items.is_empty() && name == "label_ids",
                Some(_) => false,
            };
            if empty && !NOT_FILLED_BY_MERGE.contains(&name.as_str()) {
                survivor.fields.insert(name.clone(), value.clone());
            }
        }
        if entity == Entity::Person {
            for list in ["emails", "phones"] {
                let joined = join_contacts(list, &survivor.fields[list], &other.fields[list]);
                survivor.fields.insert(list.into(), joined);
            }
        }
        for (code, value) in &other.custom {
            survivor
                .custom
                .entry(code.clone())
                .or_insert_with(|| value.clone());
        }
        survivor.update_time = now;
        let removed = self
            .table_mut(entity)
            .rows
            .get_mut(&id)
            .expect("live record");
        removed.is_deleted = true;
        removed.update_time = now;
        let moved: &[(Entity, &str)] = match entity {
            Entity::Person => &[(Entity::Deal, "person_id")],
            Entity::Organization => &[(Entity::Person, "org_id"), (Entity::Deal, "org_id")],
            Entity::Deal => &[],
        };
        for (related, field) in moved {
            for row in self.table_mut(*related).rows.values_mut() {
                if row.field_i64(field) == Some(id) {
                    row.fields.insert(field.to_string(), json!(merge_with_id));
                }
            }
        }
        Ok(merge_with_id)
    }

    /// The 200 answer of a merge (v1 spec): persons get `mergePersonItem`
    /// and deals `DealStrict`, each the survivor with `merge_what_id` (read
    /// here as the id of the record merged into it); organizations only
    /// `{"id"}` of the survivor.
    fn merge_response(&self, entity: Entity, survivor: i64, merged: i64) -> Value {
        let record = &self.table(entity).rows[&survivor];
        let name_of = |table: &Table, id: Option<i64>| {
            id.and_then(|id| table.rows.get(&id))
                .and_then(|r| r.fields.get("name").cloned())
                .unwrap_or(Value::Null)
        };
        let owner = record.field_i64("owner_id");
        let owner_name = (self.users.iter())
            .find(|u| Some(u.id) == owner)
            .map_or(Value::Null, |u| json!(u.name));
        let labels = record.fields.get("label_ids").cloned().unwrap_or(json!([]));
        let first_label = labels.get(0).cloned().unwrap_or(Value::Null);
        let visible_to = record
            .fields
            .get("visible_to")
            .map_or(Value::Null, |v| json!(v.to_string()));
        let field = |name: &str| record.fields.get(name).cloned().unwrap_or(Value::Null);
        let data = match entity {
            Entity::Organization => json!({"id": survivor}),
            Entity::Person => {
                let name = field("name");
                let first_char = name
                    .as_str()
                    .and_then(|n| n.chars().next())
                    .map(|c| c.to_lowercase().to_string());
                json!({
                    "id": survivor, "company_id": COMPANY_ID, "owner_id": owner, "org_id": field("org_id"),
                    "name": name, "first_name": field("first_name"), "last_name": field("last_name"),
                    "active_flag": true, "phone": field("phones"), "email": field("emails"),
                    "first_char": first_char, "add_time": v1_time(record.add_time),
                    "update_time": v1_time(record.update_time), "visible_to": visible_to,
                    "picture_id": null, "label": first_label, "label_ids": labels,
                    "org_name": name_of(&self.organizations, record.field_i64("org_id")),
                    "owner_name": owner_name, "cc_email": null, "merge_what_id": merged,
                })
            }
            Entity::Deal => {
                let time = |name: &str| match field(name) {
                    Value::String(t) => json!(t.replace('T', " ").replace('Z', "")),
                    other => other,
                };
                let status = field("status");
                json!({
                    "id": survivor, "creator_user_id": field("creator_user_id"), "user_id": owner,
                    "person_id": field("person_id"), "org_id": field("org_id"),
                    "stage_id": field("stage_id"), "title": field("title"), "value": field("value"),
                    "currency": field("currency"), "add_time": v1_time(record.add_time),
                    "update_time": v1_time(record.update_time),
                    "stage_change_time": time("stage_change_time"),
                    "active": status == json!("open"), "deleted": false,
                    "is_archived": field("is_archived"), "status": status,
                    "probability": field("probability"), "lost_reason": field("lost_reason"),
                    "visible_to": visible_to, "close_time": time("close_time"),
                    "pipeline_id": field("pipeline_id"), "won_time": time("won_time"),
                    "lost_time": time("lost_time"), "expected_close_date": field("expected_close_date"),
                    "label": first_label,
                    "person_name": name_of(&self.persons, record.field_i64("person_id")),
                    "org_name": name_of(&self.organizations, record.field_i64("org_id")),
                    "owner_name": owner_name, "merge_what_id": merged,
                })
            }
        };
        json!({"success": true, "data": data})
    }

    fn fields(&self, entity: Entity, params: &Params) -> Result<Value, ApiError> {
        let builtin = entity.builtin_fields().iter().map(|(code, name, field_type)| {
            // Built-in option ids are strings (spec: personFields `options[].id`).
            let options = (*field_type == "status").then(|| {
                json!([{"id": "open", "label": "Open"}, {"id": "won", "label": "Won"}, {"id": "lost", "label": "Lost"}])
            });
            field_json(code, name, field_type, options, false)
        });
        let custom = self.custom_fields(entity).iter().map(|f| {
            let options = matches!(f.field_type.as_str(), "enum" | "set").then(|| {
                f.options
                    .iter()
                    .map(|(id, label)| json!({"id": id, "label": label}))
                    .collect()
            });
            field_json(&f.code, &f.name, &f.field_type, options, true)
        });
        let all: Vec<Value> = builtin.chain(custom).collect();
        let (page, next) = params.page(&Sort::rank(), 0..all.len() as i64)?;
        Ok(listing(
            page.iter().map(|i| all[*i as usize].clone()).collect(),
            next,
        ))
    }

    fn pipelines(&self, params: &Params) -> Result<Value, ApiError> {
        let sort = params.sort(&["id", "update_time", "add_time"])?;
        let (page, next) = params.page(&sort, self.pipelines.iter())?;
        let data = page.iter().map(|id| {
            let p = &self.pipelines[*id as usize - 1];
            json!({
                "id": p.id, "name": p.name, "order_nr": p.id, "is_deleted": false,
                "is_deal_probability_enabled": false,
                "add_time": format_time(p.created), "update_time": format_time(p.created),
            })
        });
        Ok(listing(data.collect(), next))
    }

    fn stages(&self, params: &Params) -> Result<Value, ApiError> {
        let sort = params.sort(&["id", "update_time", "add_time", "order_nr"])?;
        let pipeline = params.int("pipeline_id")?;
        let stages = self
            .stages
            .iter()
            .filter(|s| pipeline.is_none_or(|p| s.pipeline_id == p));
        let (page, next) = params.page(&sort, stages)?;
        let data = page.iter().map(|id| {
            let s = &self.stages[*id as usize - 1];
            json!({
                "id": s.id, "order_nr": s.order_nr, "name": s.name, "is_deleted": false,
                "deal_probability": 100, "pipeline_id": s.pipeline_id,
                "is_deal_rot_enabled": false, "days_to_rotten": null,
                "add_time": format_time(s.created), "update_time": format_time(s.created),
            })
        });
        Ok(listing(data.collect(), next))
    }
}

/// Fields a merge never copies into an empty field of the survivor: the
/// contact lists (joined instead), a person's name parts (the survivor
/// always has a name, and its parts must match it), and a deal's fields
/// that belong to its status (a lost deal's `lost_reason` on an open deal
/// would be a deal no write could make).
const NOT_FILLED_BY_MERGE: &[&str] = &[
    "emails",
    "phones",
    "name",
    "first_name",
    "last_name",
    "stage_change_time",
    "close_time",
    "won_time",
    "lost_time",
    "lost_reason",
    "archive_time",
];

/// `mergePersonsRequest` and its siblings: exactly one integer
/// `merge_with_id` above zero. v1 answers a bad body with its plain 400
/// envelope (not v2's `ERR_SCHEMA_VALIDATION_FAILED`).
fn merge_with_id(body: &Value) -> Result<i64, ApiError> {
    let fields = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The body must be a JSON object".into()))?;
    if let Some(extra) = fields.keys().find(|k| *k != "merge_with_id") {
        return Err(ApiError::bad_request(format!(
            "Parameter '{extra}' is not allowed for this request"
        )));
    }
    match fields.get("merge_with_id").and_then(Value::as_i64) {
        Some(id) if id > 0 => Ok(id),
        Some(_) => Err(ApiError::bad_request(
            "merge_with_id must be a positive integer".into(),
        )),
        None => Err(ApiError::bad_request(
            "merge_with_id is required (an integer)".into(),
        )),
    }
}

/// The survivor's emails or phones, then the other's not already there
/// (emails compared without case, phones as written; entries without a
/// value are kept as they are). Added entries are not primary, unless the
/// survivor had no primary: then the first entry with a value becomes it.
fn join_contacts(list: &str, kept: &Value, added: &Value) -> Value {
    let key = |entry: &Value| {
        let value = entry
            .get("value")
            .and_then(Value::as_str)?
            .trim()
            .to_string();
        Some(if list == "emails" {
            value.to_lowercase()
        } else {
            value
        })
    };
    let mut out: Vec<Value> = kept.as_array().cloned().unwrap_or_default();
    for entry in added.as_array().into_iter().flatten() {
        if key(entry).is_some_and(|k| out.iter().any(|e| key(e).as_deref() == Some(k.as_str()))) {
            continue;
        }
        let mut entry = entry.clone();
        if entry.get("primary").is_some() {
            entry["primary"] = json!(false);
        }
        out.push(entry);
    }
    let no_primary = !out.iter().any(|e| e["primary"] == json!(true));
    if let Some(first) = out
        .iter_mut()
        .find(|e| no_primary && e.get("value").is_some())
    {
        first["primary"] = json!(true);
    }
    Value::Array(out)
}

/// v1 times are `YYYY-MM-DD HH:MM:SS` (UTC).
fn v1_time(secs: i64) -> String {
    format_time(secs).replace('T', " ").replace('Z', "")
}

/// The envelope of every paged answer.
fn listing(data: Value, next_cursor: Option<String>) -> Value {
    json!({"success": true, "data": data, "additional_data": {"next_cursor": next_cursor}})
}

fn request_body(request: &Request) -> Result<Value, ApiError> {
    let json_type = request
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
    if !json_type {
        return Err(ApiError::validation(
            "body",
            "Content-Type must be application/json",
        ));
    }
    request.json().map_err(|e| ApiError::validation("body", e))
}

// ---------------------------------------------------------------------------
// Write validation (one path for POST, PATCH, seeding and UI edits)
// ---------------------------------------------------------------------------

/// How a write-body field is checked.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    NonEmptyText,
    Number,
    /// A number without a fraction (the spec's `type: integer`).
    Integer,
    Probability,
    Currency,
    Status,
    VisibleTo,
    /// `YYYY-MM-DD`
    Date,
    /// RFC3339 with whole seconds.
    Timestamp,
    /// A `Timestamp` that sets the record's creation time.
    AddTime,
    Contacts,
    LabelIds,
    CustomFields,
    /// An organization's `OrganizationItemAddress`.
    Address,
    Reference(Ref),
    /// Accepted only as `false`; `true` is refused with this reason.
    OnlyFalse(&'static str),
    /// Documented, but the fake refuses any value, for this reason.
    Unmodelled(&'static str),
}

/// What an id in a body must point at.
#[derive(Clone, Copy)]
enum Ref {
    User,
    Person,
    Pipeline,
    Stage,
    /// A live (not deleted) organization.
    Org,
}

struct BodyField {
    name: &'static str,
    kind: Kind,
    nullable: bool,
    post_only: bool,
}

impl BodyField {
    const fn new(name: &'static str, kind: Kind) -> BodyField {
        BodyField {
            name,
            kind,
            nullable: false,
            post_only: false,
        }
    }

    const fn nullable(self) -> BodyField {
        BodyField {
            nullable: true,
            ..self
        }
    }

    const fn post_only(self) -> BodyField {
        BodyField {
            post_only: true,
            ..self
        }
    }
}

/// A validated write, ready to apply.
struct Change {
    fields: Map<String, Value>,
    /// `null` clears a field.
    custom: Map<String, Value>,
    add_time: Option<i64>,
}

impl PipedriveState {
    fn validate(
        &self,
        entity: Entity,
        body: &Value,
        existing: Option<&Record>,
        now: i64,
    ) -> Result<Change, ApiError> {
        let creating = existing.is_none();
        let body = body
            .as_object()
            .ok_or_else(|| ApiError::validation("body", "Expected 'object'"))?;
        let spec = entity.body_fields();
        let known = |name: &str| {
            spec.iter()
                .find(|f| f.name == name && (creating || !f.post_only))
        };
        let refused: Vec<String> = body
            .keys()
            .filter(|k| known(k).is_none())
            .map(|k| format!("{k}: Parameter '{k}' is not allowed for this request"))
            .collect();
        if !refused.is_empty() {
            return Err(ApiError::schema(refused.join("; ")));
        }
        let mut change = Change {
            fields: Map::new(),
            custom: Map::new(),
            add_time: None,
        };
        for (name, value) in body {
            let field = known(name).expect("checked above");
            if value.is_null() {
                if !field.nullable {
                    return Err(ApiError::validation(name, "Value must not be null"));
                }
                change.fields.insert(name.clone(), Value::Null);
                continue;
            }
            match field.kind {
                Kind::CustomFields => change.custom = self.check_custom_fields(entity, value)?,
                Kind::AddTime => change.add_time = Some(parse_timestamp(name, value)?),
                Kind::Contacts => {
                    let held = existing.and_then(|r| r.fields.get(name));
                    change
                        .fields
                        .insert(name.clone(), check_contacts(name, value, held)?);
                }
                kind => {
                    let checked = self.check_value(name, kind, value)?;
                    change.fields.insert(name.clone(), checked);
                }
            }
        }
        match entity {
            Entity::Person => finish_person(&mut change.fields, existing)?,
            Entity::Deal => self.finish_deal(&mut change.fields, existing, now)?,
            // `name` is the one required field of addOrganization.
            Entity::Organization if creating && !change.fields.contains_key("name") => {
                return Err(ApiError::validation("name", "Parameter 'name' is required"));
            }
            Entity::Organization => {}
        }
        Ok(change)
    }

    fn check_value(&self, name: &str, kind: Kind, value: &Value) -> Result<Value, ApiError> {
        let invalid = |msg: &str| ApiError::validation(name, msg);
        match kind {
            Kind::Text => value
                .as_str()
                .map(|_| value.clone())
                .ok_or_else(|| invalid("Expected 'string'")),
            Kind::NonEmptyText => match value.as_str() {
                Some(s) if !s.trim().is_empty() => Ok(value.clone()),
                Some(_) => Err(invalid("Value must not be empty")),
                None => Err(invalid("Expected 'string'")),
            },
            // No string coercion in v2 (migration guide).
            Kind::Number => value
                .is_number()
                .then(|| value.clone())
                .ok_or_else(|| invalid("Expected 'number'")),
            Kind::Integer => value
                .is_i64()
                .then(|| value.clone())
                .ok_or_else(|| invalid("Expected 'integer'")),
            Kind::Address => check_address(name, value),
            Kind::Probability => match value.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Ok(value.clone()),
                Some(_) => Err(invalid("Value must be between 0 and 100")),
                None => Err(invalid("Expected 'number'")),
            },
            Kind::Currency => match value.as_str() {
                Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
                    Ok(value.clone())
                }
                _ => Err(invalid("Expected a 3-letter currency code")),
            },
            Kind::Status => match value.as_str() {
                Some("open" | "won" | "lost") => Ok(value.clone()),
                _ => Err(invalid("Expected one of 'open', 'won', 'lost'")),
            },
            Kind::VisibleTo => match value.as_i64() {
                Some(1 | 3 | 5 | 7) => Ok(value.clone()),
                _ => Err(invalid("Expected one of 1, 3, 5, 7")),
            },
            Kind::Date => value
                .as_str()
                .filter(|s| parse_date(s).is_some())
                .map(|_| value.clone())
                .ok_or_else(|| invalid("Expected a date in the format YYYY-MM-DD")),
            Kind::Timestamp => parse_timestamp(name, value).map(|t| json!(format_time(t))),
            Kind::Contacts => unreachable!("handled by validate"),
            Kind::LabelIds => {
                let ids = value
                    .as_array()
                    .ok_or_else(|| invalid("Expected 'array'"))?;
                match ids.first() {
                    None => Ok(value.clone()),
                    Some(id) if id.is_i64() => Err(ApiError::bad_request(format!(
                        "Label with id {id} not found"
                    ))),
                    Some(_) => Err(invalid("Expected 'integer' items")),
                }
            }
            Kind::Reference(target) => {
                let id = value
                    .as_i64()
                    .ok_or_else(|| invalid("Expected 'integer'"))?;
                self.check_reference(target, id)?;
                Ok(value.clone())
            }
            Kind::OnlyFalse(reason) => match value.as_bool() {
                Some(false) => Ok(value.clone()),
                Some(true) => Err(ApiError::bad_request(format!("{name}: {reason}"))),
                None => Err(invalid("Expected 'boolean'")),
            },
            Kind::Unmodelled(reason) => Err(ApiError::bad_request(format!("{name}: {reason}"))),
            Kind::CustomFields | Kind::AddTime => unreachable!("handled by validate"),
        }
    }

    fn check_reference(&self, target: Ref, id: i64) -> Result<(), ApiError> {
        let (exists, what) = match target {
            Ref::User => (self.users.iter().any(|u| u.id == id), "User"),
            Ref::Person => (self.live(Entity::Person, id).is_ok(), "Person"),
            Ref::Pipeline => (self.pipelines.iter().any(|p| p.id == id), "Pipeline"),
            Ref::Stage => (self.stage(id).is_some(), "Stage"),
            Ref::Org => (self.live(Entity::Organization, id).is_ok(), "Organization"),
        };
        if exists {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "{what} with id {id} not found"
            )))
        }
    }

    fn check_custom_fields(
        &self,
        entity: Entity,
        value: &Value,
    ) -> Result<Map<String, Value>, ApiError> {
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::validation("custom_fields", "Expected 'object'"))?;
        let mut checked = Map::new();
        for (code, value) in object {
            let path = format!("custom_fields.{code}");
            let field = self
                .custom_fields(entity)
                .iter()
                .find(|f| f.code == *code)
                .ok_or_else(|| {
                    ApiError::validation(&path, format!("Custom field '{code}' does not exist"))
                })?;
            checked.insert(code.clone(), self.check_custom_value(field, &path, value)?);
        }
        Ok(checked)
    }

    /// The v2 value format per field type (pipedrive.md §4 table).
    fn check_custom_value(
        &self,
        field: &CustomField,
        path: &str,
        value: &Value,
    ) -> Result<Value, ApiError> {
        let invalid = |msg: &str| ApiError::validation(path, msg);
        if value.is_null() {
            return Ok(Value::Null);
        }
        let max_len = |max: usize| match value.as_str() {
            Some(s) if s.chars().count() <= max => Ok(value.clone()),
            Some(_) => Err(invalid(&format!("Value must be at most {max} characters"))),
            None => Err(invalid("Expected 'string'")),
        };
        let option = |id: &Value| {
            if !id.is_i64() {
                Err(invalid(
                    "Expected 'number' as value for single option custom field",
                ))
            } else if field.option_label(id).is_none() {
                Err(invalid(&format!(
                    "Option {id} does not exist for this field"
                )))
            } else {
                Ok(())
            }
        };
        match field.field_type.as_str() {
            "varchar" | "varchar_auto" | "phone" => max_len(255),
            "text" => max_len(65_535),
            "double" => value
                .is_number()
                .then(|| value.clone())
                .ok_or_else(|| invalid("Expected 'number'")),
            "monetary" => {
                let amount = value.get("value").filter(|v| v.is_number());
                let keys_ok = value
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "value" || k == "currency"));
                if amount.is_none() || !keys_ok {
                    return Err(invalid(
                        "Expected an object {\"value\": number, \"currency\": string}",
                    ));
                }
                let currency = match value.get("currency") {
                    Some(c) => self.check_value(&format!("{path}.currency"), Kind::Currency, c)?,
                    None => json!(DEFAULT_CURRENCY),
                };
                Ok(json!({"value": amount, "currency": currency}))
            }
            "date" => self.check_value(path, Kind::Date, value),
            "enum" => option(value).map(|_| value.clone()),
            "set" => match value.as_array() {
                Some(ids) if ids.is_empty() => Err(invalid(
                    "Use null, not an empty array, to clear a set field",
                )),
                Some(ids) => {
                    ids.iter().try_for_each(option)?;
                    Ok(value.clone())
                }
                None => Err(invalid(
                    "Expected 'array' of option ids for multiple options custom field",
                )),
            },
            "user" => self.check_value(path, Kind::Reference(Ref::User), value),
            "people" => self.check_value(path, Kind::Reference(Ref::Person), value),
            other => unreachable!("add_custom_field refuses type {other}"),
        }
    }

    /// Stage and pipeline go together; status drives the close times.
    fn finish_deal(
        &self,
        fields: &mut Map<String, Value>,
        existing: Option<&Record>,
        now: i64,
    ) -> Result<(), ApiError> {
        if existing.is_none() && !fields.contains_key("title") {
            return Err(ApiError::validation(
                "title",
                "Parameter 'title' is required",
            ));
        }
        let stage_id = fields.get("stage_id").and_then(Value::as_i64);
        let pipeline_id = fields.get("pipeline_id").and_then(Value::as_i64);
        let old_stage = existing.and_then(|r| r.field_i64("stage_id"));
        let new_stage = match (stage_id, pipeline_id) {
            (Some(stage), pipeline) => {
                let stage = self.stage(stage).expect("reference checked");
                if let Some(pipeline) = pipeline
                    && pipeline != stage.pipeline_id
                {
                    return Err(ApiError::bad_request(format!(
                        "Stage {} does not belong to pipeline {pipeline}",
                        stage.id
                    )));
                }
                Some(stage)
            }
            // Moving to another pipeline without a stage lands in its first stage.
            (None, Some(pipeline))
                if existing.and_then(|r| r.field_i64("pipeline_id")) != Some(pipeline) =>
            {
                Some(self.first_stage(pipeline).ok_or_else(|| {
                    ApiError::bad_request(format!("Pipeline {pipeline} has no stages"))
                })?)
            }
            (None, Some(_)) => None,
            (None, None) if existing.is_none() => {
                let default = self.pipelines.first().expect("default pipeline").id;
                Some(
                    self.first_stage(default)
                        .expect("default pipeline has stages"),
                )
            }
            (None, None) => None,
        };
        if let Some(stage) = new_stage {
            fields.insert("stage_id".into(), json!(stage.id));
            fields.insert("pipeline_id".into(), json!(stage.pipeline_id));
            if existing.is_some() && old_stage != Some(stage.id) {
                fields.insert("stage_change_time".into(), json!(format_time(now)));
            }
        }
        let old_status = existing.and_then(|r| r.fields.get("status").and_then(Value::as_str));
        let status = fields
            .get("status")
            .and_then(Value::as_str)
            .or(old_status)
            .unwrap_or("open")
            .to_string();
        // Fields the spec says "can only be set if" the deal has a status.
        for (name, allowed) in [
            ("lost_reason", &["lost"][..]),
            ("close_time", &["won", "lost"][..]),
            ("won_time", &["won"][..]),
            ("lost_time", &["lost"][..]),
        ] {
            if fields.get(name).is_some_and(|v| !v.is_null()) && !allowed.contains(&status.as_str())
            {
                return Err(ApiError::bad_request(format!(
                    "{name} can only be set if the deal status is {}",
                    allowed.join(" or ")
                )));
            }
        }
        if old_status != Some(status.as_str()) {
            let stamp = json!(format_time(now));
            let (close, won, lost) = match status.as_str() {
                "won" => (stamp.clone(), stamp, Value::Null),
                "lost" => (stamp.clone(), Value::Null, stamp),
                _ => (Value::Null, Value::Null, Value::Null),
            };
            for (name, value) in [
                ("close_time", close),
                ("won_time", won),
                ("lost_time", lost),
            ] {
                fields.entry(name).or_insert(value);
            }
            if status != "lost" {
                fields.insert("lost_reason".into(), Value::Null);
            }
        }
        Ok(())
    }
}

/// "Either `name` or both `first_name` and `last_name` must be provided";
/// `name` is split into first and last name, or built from them.
fn finish_person(
    fields: &mut Map<String, Value>,
    existing: Option<&Record>,
) -> Result<(), ApiError> {
    let has = |k: &str| fields.contains_key(k);
    if existing.is_none() && !has("name") && !(has("first_name") && has("last_name")) {
        return Err(ApiError::validation(
            "name",
            "Either name or both first_name and last_name must be provided",
        ));
    }
    if let Some(name) = fields.get("name").and_then(Value::as_str).map(str::trim) {
        let (first, last) = match name.split_once(char::is_whitespace) {
            Some((first, last)) => (json!(first), json!(last.trim())),
            None => (json!(name), Value::Null),
        };
        let name = json!(name);
        fields.insert("name".into(), name);
        fields.entry("first_name").or_insert(first);
        fields.entry("last_name").or_insert(last);
    } else if has("first_name") || has("last_name") {
        let part = |k: &str| {
            fields
                .get(k)
                .or_else(|| existing.and_then(|r| r.fields.get(k)))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name: Vec<String> = [part("first_name"), part("last_name")]
            .into_iter()
            .flatten()
            .collect();
        fields.insert("name".into(), json!(name.join(" ")));
    }
    Ok(())
}

/// `emails`/`phones`: objects only (no plain strings in v2), at most one
/// primary, the first entry with a value becomes primary if none is, `label`
/// defaults to `work`. The spec requires no field of an entry, the migration
/// guide says "only the `value` field is required": the fake takes the
/// stricter reading for new entries, and accepts an entry without `value`
/// only as an unchanged copy of one the record holds (what a client that
/// keeps the entries it cannot read sends back). `held` is the record's list.
fn check_contacts(name: &str, value: &Value, held: Option<&Value>) -> Result<Value, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::validation(name, "Expected 'array'"))?;
    let held: &[Value] = held.and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{name}[{i}]");
        let object = item
            .as_object()
            .ok_or_else(|| ApiError::validation(&path, "Expected 'object' with a 'value'"))?;
        if !object.contains_key("value") && held.contains(item) {
            out.push(item.clone());
            continue;
        }
        if let Some(k) = object
            .keys()
            .find(|k| !["value", "primary", "label"].contains(&k.as_str()))
        {
            return Err(ApiError::validation(
                &format!("{path}.{k}"),
                format!("Parameter '{k}' is not allowed for this request"),
            ));
        }
        let text = object
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::validation(&format!("{path}.value"), "Expected 'string'"))?;
        let primary = match object.get("primary") {
            None => false,
            Some(p) => p.as_bool().ok_or_else(|| {
                ApiError::validation(&format!("{path}.primary"), "Expected 'boolean'")
            })?,
        };
        let label = match object.get("label") {
            None => "work",
            Some(l) => l.as_str().ok_or_else(|| {
                ApiError::validation(&format!("{path}.label"), "Expected 'string'")
            })?,
        };
        out.push(json!({"value": text, "primary": primary, "label": label}));
    }
    match out.iter().filter(|c| c["primary"] == json!(true)).count() {
        0 => {
            if let Some(first) = out.iter_mut().find(|c| c.get("value").is_some()) {
                first["primary"] = json!(true);
            }
        }
        1 => {}
        _ => {
            return Err(ApiError::validation(
                name,
                "Only one value can be marked as primary",
            ));
        }
    }
    Ok(Value::Array(out))
}

/// The keys of `OrganizationItemAddress` (addOrganization/updateOrganization).
const ADDRESS_PARTS: &[&str] = &[
    "value",
    "country",
    "admin_area_level_1",
    "admin_area_level_2",
    "locality",
    "sublocality",
    "route",
    "street_number",
    "subpremise",
    "postal_code",
];

/// An organization's address: an object of the spec's string parts. The
/// spec requires none of them; the fake takes the stricter reading of the
/// migration guide's custom address ("only `value` is required") and wants
/// a non-empty `value`, the full address. It stores what was sent (the real
/// API geocodes `value` into the parts; nothing documents how), and the
/// object replaces the old one whole.
fn check_address(name: &str, value: &Value) -> Result<Value, ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::validation(name, "Expected 'object'"))?;
    for (key, part) in object {
        let path = format!("{name}.{key}");
        if !ADDRESS_PARTS.contains(&key.as_str()) {
            return Err(ApiError::validation(
                &path,
                format!("Parameter '{key}' is not allowed for this request"),
            ));
        }
        if !part.is_string() {
            return Err(ApiError::validation(&path, "Expected 'string'"));
        }
    }
    match object.get("value").and_then(Value::as_str) {
        Some(full) if !full.trim().is_empty() => Ok(value.clone()),
        _ => Err(ApiError::validation(
            &format!("{name}.value"),
            "The full address is required",
        )),
    }
}

fn parse_timestamp(name: &str, value: &Value) -> Result<i64, ApiError> {
    value
        .as_str()
        .ok_or_else(|| ApiError::validation(name, "Expected 'string'"))
        .and_then(|s| parse_rfc3339(s).map_err(|e| ApiError::validation(name, e)))
}

// ---------------------------------------------------------------------------
// Query parameters, sorting and cursor paging
// ---------------------------------------------------------------------------

/// Documented parameters the fake does not model; refused with a 400 that
/// says so, rather than silently ignored.
const UNMODELLED_PARAMS: &[&str] = &["filter_id", "include_fields", "include_labels"];

/// The query string of one request, checked against the operation's parameters.
struct Params<'a> {
    request: &'a Request,
}

impl<'a> Params<'a> {
    /// Refuses unknown and repeated parameters.
    fn new(request: &'a Request, allowed: &[&str]) -> Result<Params<'a>, ApiError> {
        for (i, (name, _)) in request.query.iter().enumerate() {
            if UNMODELLED_PARAMS.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "{name}: documented parameter not modelled by the crmsync fake"
                )));
            }
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::validation(
                    name,
                    format!("Parameter '{name}' is not allowed for this request"),
                ));
            }
            if request.query[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::validation(name, "Parameter must be given once"));
            }
        }
        Ok(Params { request })
    }

    fn str(&self, name: &str) -> Option<&'a str> {
        self.request.query_param(name)
    }

    fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::validation(name, "Expected 'integer'"))
            })
            .transpose()
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.str(name)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::validation(name, "Expected 'boolean'")),
            })
            .transpose()
    }

    fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| parse_rfc3339(v).map_err(|e| ApiError::validation(name, e)))
            .transpose()
    }

    /// A comma list whose items must all be in `allowed`.
    fn list_of(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<Vec<&'static str>>, ApiError> {
        self.str(name)
            .map(|v| {
                v.split(',')
                    .map(|item| {
                        allowed
                            .iter()
                            .find(|a| **a == item)
                            .copied()
                            .ok_or_else(|| {
                                ApiError::validation(
                                    name,
                                    format!("Expected one of '{}'", allowed.join("', '")),
                                )
                            })
                    })
                    .collect()
            })
            .transpose()
    }

    fn id_list(&self, name: &str) -> Result<Option<Vec<i64>>, ApiError> {
        let Some(v) = self.str(name) else {
            return Ok(None);
        };
        let ids = v
            .split(',')
            .map(|id| {
                id.parse()
                    .map_err(|_| ApiError::validation(name, "Expected comma separated integers"))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        if ids.len() > MAX_IDS {
            return Err(ApiError::validation(
                name,
                format!("At most {MAX_IDS} ids are allowed"),
            ));
        }
        Ok(Some(ids))
    }

    fn limit(&self) -> Result<usize, ApiError> {
        match self.str("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                Ok(_) => Err(ApiError::validation(
                    "limit",
                    format!("Parameter 'limit' must be between 1 and {MAX_LIMIT}"),
                )),
                Err(_) => Err(ApiError::validation("limit", "Expected 'integer'")),
            },
        }
    }

    /// A single value out of `allowed`.
    fn one_of(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        match self.list_of(name, allowed)?.as_deref() {
            None => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some(_) => Err(ApiError::validation(name, "Expected a single value")),
        }
    }

    fn sort(&self, fields: &[&'static str]) -> Result<Sort, ApiError> {
        Ok(Sort {
            field: self.one_of("sort_by", fields)?.unwrap_or("id"),
            descending: self.one_of("sort_direction", &["asc", "desc"])? == Some("desc"),
        })
    }

    /// A cursor must have come from a page of the same sort.
    fn cursor(&self, sort: &Sort) -> Result<Option<Cursor>, ApiError> {
        let Some(raw) = self.str("cursor") else {
            return Ok(None);
        };
        let invalid = || ApiError::validation("cursor", "Invalid cursor");
        let decoded: Value = base64url_decode(raw)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(invalid)?;
        let field_ok = decoded["field"] == json!(sort.field);
        let direction_ok = decoded["sortDirection"] == json!(sort.direction());
        match (decoded["fieldValue"].as_i64(), decoded["id"].as_i64()) {
            (Some(key), Some(id)) if field_ok && direction_ok => Ok(Some(Cursor { key, id })),
            _ => Err(invalid()),
        }
    }

    /// One page of `items` in `sort` order, from `cursor`, at most `limit`:
    /// the ids on the page and the next page's cursor (`None` at the end).
    /// The cursor is base64url JSON shaped like the spec's example cursor.
    fn page<T: Sortable>(
        &self,
        sort: &Sort,
        items: impl IntoIterator<Item = T>,
    ) -> Result<(Vec<i64>, Option<String>), ApiError> {
        let limit = self.limit()?;
        let cursor = self.cursor(sort)?;
        let mut keys: Vec<(i64, i64)> = items
            .into_iter()
            .map(|i| (i.sort_key(sort.field), i.id()))
            .collect();
        keys.sort_unstable();
        if sort.descending {
            keys.reverse();
        }
        let start = cursor.map_or(0, |c| {
            let at = (c.key, c.id);
            keys.iter()
                .position(|k| if sort.descending { *k <= at } else { *k >= at })
                .unwrap_or(keys.len())
        });
        let end = (start + limit).min(keys.len());
        let page = keys[start..end].iter().map(|(_, id)| *id).collect();
        let next = keys.get(end).map(|(key, id)| {
            let cursor = json!({"field": sort.field, "fieldValue": key, "sortDirection": sort.direction(), "id": id});
            base64url_encode(cursor.to_string().as_bytes())
        });
        Ok((page, next))
    }

    /// `custom_fields` (at most 15 keys) and `include_option_labels`.
    fn view(&self) -> Result<View, ApiError> {
        let custom_keys = match self.str("custom_fields") {
            None => None,
            Some(v) => {
                let keys: Vec<String> = v.split(',').map(str::to_string).collect();
                if keys.len() > MAX_CUSTOM_FIELD_KEYS {
                    return Err(ApiError::validation(
                        "custom_fields",
                        format!("A maximum of {MAX_CUSTOM_FIELD_KEYS} keys is allowed"),
                    ));
                }
                Some(keys)
            }
        };
        Ok(View {
            custom_keys,
            option_labels: self.bool("include_option_labels")?.unwrap_or(false),
        })
    }
}

/// The order of a listing. Ties on the sort field are broken by id, so
/// paging stays exact when many records share an `update_time`.
struct Sort {
    field: &'static str,
    descending: bool,
}

impl Sort {
    /// Search results and field lists: in the fake's own order.
    fn rank() -> Sort {
        Sort {
            field: "rank",
            descending: false,
        }
    }

    fn direction(&self) -> &'static str {
        if self.descending { "desc" } else { "asc" }
    }
}

/// Something a listing can be ordered by.
trait Sortable {
    fn id(&self) -> i64;
    /// The value of the sort field (`id` for any field the item lacks).
    fn sort_key(&self, field: &str) -> i64;
}

impl<T: Sortable> Sortable for &T {
    fn id(&self) -> i64 {
        (*self).id()
    }

    fn sort_key(&self, field: &str) -> i64 {
        (*self).sort_key(field)
    }
}

impl Sortable for Record {
    fn id(&self) -> i64 {
        self.id
    }

    fn sort_key(&self, field: &str) -> i64 {
        match field {
            "update_time" => self.update_time,
            "add_time" => self.add_time,
            _ => self.id,
        }
    }
}

impl Sortable for Pipeline {
    fn id(&self) -> i64 {
        self.id
    }

    fn sort_key(&self, field: &str) -> i64 {
        match field {
            "update_time" | "add_time" => self.created,
            _ => self.id,
        }
    }
}

impl Sortable for Stage {
    fn id(&self) -> i64 {
        self.id
    }

    fn sort_key(&self, field: &str) -> i64 {
        match field {
            "update_time" | "add_time" => self.created,
            "order_nr" => self.order_nr,
            _ => self.id,
        }
    }
}

/// A position in a `Sort::rank()` listing.
impl Sortable for i64 {
    fn id(&self) -> i64 {
        *self
    }

    fn sort_key(&self, _: &str) -> i64 {
        *self
    }
}

/// The first item of the next page, as `(sort key, id)`.
struct Cursor {
    key: i64,
    id: i64,
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// Response options of GET and list.
#[derive(Default)]
struct View {
    custom_keys: Option<Vec<String>>,
    option_labels: bool,
}

impl PipedriveState {
    /// A record in the v2 shape. `custom_fields` holds every custom field
    /// of the entity (`null` when unset), or only those `?custom_fields=` names.
    fn render(&self, entity: Entity, record: &Record, view: &View) -> Value {
        let mut object = record.fields.clone();
        object.insert("id".into(), json!(record.id));
        object.insert("add_time".into(), json!(format_time(record.add_time)));
        object.insert("update_time".into(), json!(format_time(record.update_time)));
        object.insert("is_deleted".into(), json!(record.is_deleted));
        let custom: Map<String, Value> = self
            .custom_fields(entity)
            .iter()
            .filter(|f| {
                view.custom_keys
                    .as_ref()
                    .is_none_or(|keys| keys.contains(&f.code))
            })
            .map(|f| {
                let value = record.custom.get(&f.code).cloned().unwrap_or(Value::Null);
                let value = if view.option_labels {
                    with_option_labels(f, value)
                } else {
                    value
                };
                (f.code.clone(), value)
            })
            .collect();
        object.insert("custom_fields".into(), Value::Object(custom));
        Value::Object(object)
    }
}

fn with_option_labels(field: &CustomField, value: Value) -> Value {
    let labelled = |id: &Value| json!({"id": id, "label": field.option_label(id)});
    match (field.field_type.as_str(), &value) {
        ("enum", id) if !id.is_null() => labelled(id),
        ("set", Value::Array(ids)) => Value::Array(ids.iter().map(labelled).collect()),
        _ => value,
    }
}

/// One item of `GET /api/v2/{personFields|dealFields}`.
fn field_json(
    code: &str,
    name: &str,
    field_type: &str,
    options: Option<Value>,
    is_custom: bool,
) -> Value {
    let subfields = (field_type == "monetary").then(|| {
        json!([
            {"field_code": "value", "field_name": format!("Amount of {name}"), "field_type": "double"},
            {"field_code": "currency", "field_name": format!("Currency of {name}"), "field_type": "varchar"},
        ])
    });
    json!({
        "field_name": name, "field_code": code, "description": null, "field_type": field_type,
        "options": options, "subfields": subfields,
        "is_custom_field": is_custom, "is_optional_response_field": false,
    })
}

/// The v1 `BaseUser` shape (v1 times are `YYYY-MM-DD HH:MM:SS` UTC).
fn render_user(user: &User) -> Value {
    let created = format_time(user.created).replace('T', " ").replace('Z', "");
    json!({
        "id": user.id, "name": user.name, "default_currency": DEFAULT_CURRENCY,
        "locale": "en_US", "lang": 1, "email": user.email, "phone": null,
        "activated": true, "last_login": created, "created": created, "modified": created,
        "has_created_company": user.id == TOKEN_USER,
        "access": [{"app": "sales", "admin": user.id == TOKEN_USER, "permission_set_id": "00000000-0000-4000-8000-000000000001"}],
        "active_flag": true, "timezone_name": "UTC", "timezone_offset": "+00:00",
        "role_id": 1, "icon_url": null, "is_you": user.id == TOKEN_USER, "is_deleted": false,
    })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// An error answer in Pipedrive's envelope.
#[derive(Debug)]
struct ApiError {
    status: u16,
    body: Value,
}

impl ApiError {
    fn envelope(status: u16, error: &str, error_info: &str) -> ApiError {
        ApiError {
            status,
            body: json!({"success": false, "error": error, "error_info": error_info, "data": null, "additional_data": null}),
        }
    }

    /// The v2 schema-validation answer (pipedrive/client-nodejs#651).
    fn schema(detail: String) -> ApiError {
        let mut e = ApiError::envelope(400, &format!("Validation failed: {detail}"), ERROR_INFO);
        e.body["code"] = json!("ERR_SCHEMA_VALIDATION_FAILED");
        e
    }

    fn validation(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::schema(format!("{field}: {message}"))
    }

    /// A request that passes the schema but not the business rules (a
    /// missing referenced record, a field not allowed in this status).
    fn bad_request(message: String) -> ApiError {
        ApiError::envelope(400, &message, ERROR_INFO)
    }

    /// The spec's 404 example.
    fn entity_not_found() -> ApiError {
        ApiError::envelope(404, "Entity was not found", "Object was not found.")
    }

    /// Pipedrive's answer to a path it does not serve (UNCONFIRMED wording).
    fn unknown_route() -> ApiError {
        ApiError::envelope(404, "Unknown method .", ERROR_INFO)
    }

    fn unauthorized() -> ApiError {
        ApiError {
            status: 401,
            body: json!({"success": false, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO}),
        }
    }

    /// The 429 body is not documented (pipedrive.md §6.3); the usual
    /// envelope with `errorCode` is assumed. No `Retry-After`: current docs
    /// do not promise one, so clients must use `x-ratelimit-reset`.
    fn too_many(error: &str) -> ApiError {
        let mut e = ApiError::envelope(429, error, ERROR_INFO);
        e.body["errorCode"] = json!(429);
        e
    }

    fn into_response(self) -> Response {
        Response::json(self.status, &self.body)
    }
}

// ---------------------------------------------------------------------------
// Time and base64url, without extra crates
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `2026-11-23T03:47:22Z`
fn format_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `YYYY-MM-DD` to days since the epoch, rejecting impossible dates.
fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// RFC3339 with whole seconds and `Z` or `±HH:MM`. Fractional seconds are
/// refused, as a connector reports the API does (pipedrive.md §8, UNCONFIRMED).
fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let invalid = || format!("'{s}' is not a valid datetime (expected e.g. 2025-01-01T10:20:00Z)");
    if s.len() < 20 || s.as_bytes()[10] != b'T' {
        return Err(invalid());
    }
    let days = parse_date(&s[..10]).ok_or_else(invalid)?;
    let (clock, zone) = s[11..].split_at(8.min(s.len() - 11));
    let c = clock.as_bytes();
    if c.len() != 8 || c[2] != b':' || c[5] != b':' {
        return Err(invalid());
    }
    let field = |r: std::ops::Range<usize>, max: i64| -> Result<i64, String> {
        let part = &clock[r];
        match part.parse::<i64>() {
            Ok(v) if part.bytes().all(|b| b.is_ascii_digit()) && v <= max => Ok(v),
            _ => Err(invalid()),
        }
    };
    let secs = field(0..2, 23)? * 3600 + field(3..5, 59)? * 60 + field(6..8, 59)?;
    let offset = match zone.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) =>
        {
            let h = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let m = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            let offset = h * 3600 + m * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return Err(invalid()),
    };
    Ok(days * 86_400 + secs - offset)
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(BASE64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = BASE64URL.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Self-tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::blocking::Client;
    use reqwest::header::HeaderMap;

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
        let industry =
            fake.add_custom_field("organization", "Segment", "enum", &["SMB", "Enterprise"]);
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
        let keep =
            fake.seed_person(json!({"name": "Keep", "emails": [{"value": "k@example.com"}]}));
        let gone =
            fake.seed_person(json!({"name": "Gone", "emails": [{"value": "g@example.com"}]}));
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
}
