//! A stateful, strict fake of HubSpot's CRM REST API on its date-versioned
//! paths (contacts, deals, companies and notes: objects, search, properties,
//! owners, deal pipelines, and the associations between any two of those
//! objects, with HubSpot's default type ids),
//! built on `server.rs`.
//!
//! It owns HubSpot's wire behaviour as HubSpot's published reference
//! documents it (e.g. <https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/guide>,
//! <https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines>):
//! bearer auth and scopes, the ten-secondly and search rate limits with their headers, cursor and offset paging, batch limits, property validation, 207
//! multi-status answers keyed by `objectWriteTraceId`, 409 duplicate emails,
//! merges that make a new record the old ids resolve to (see `merge_records`)
//! and HubSpot's error bodies. It must not be kinder than the real API: where
//! the documents leave a behaviour open it takes the stricter reading and says
//! so in a comment. On purpose it answers every numbered path (`/crm/v3/…`,
//! `/crm/v4/…`, which HubSpot still serves until 2027) with 404, so tests prove
//! the client uses date-based paths. It knows nothing about Pipedrive or
//! crmsync, and it must not reach into the server core beyond `Server`'s
//! public API.
//!
//! This file holds the public handle (`FakeHubSpot`, its test knobs and
//! `Quirks`) and the account-wide constants; the parts live beside it:
//! `store` (the account's state), `routes` (routing, auth, rate limits),
//! `reads`, `writes`, `search`, `associations`, `merges`, `metadata`
//! (properties, owners, pipelines), `time` (HubSpot's time formats) and
//! `tests` (the fake's self-tests).

#![allow(dead_code)]

mod associations;
mod merges;
mod metadata;
mod reads;
mod routes;
mod search;
mod store;
#[cfg(test)]
mod tests;
mod time;
mod writes;

pub use store::HubSpotState;

use super::server::Server;
use routes::{WriteOp, handle};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::{Kind, Owner, Pipeline};
use time::{format_iso, now_ms};
use writes::is_email;

/// Date versions served; any other version is a 404.
const VERSIONS: &[&str] = &["2026-09", "2026-03"];
/// Every scope crmsync's calls need
/// (<https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/scopes>);
/// a new account's token holds all of them.
const ALL_SCOPES: &[&str] = &[
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.deals.read",
    "crm.schemas.companies.read",
    "crm.schemas.contacts.write",
    "crm.schemas.deals.write",
    "crm.schemas.companies.write",
];
const MAX_BATCH: usize = 100;
const DEFAULT_PAGE: usize = 10;
const MAX_PAGE: usize = 100;
const MAX_OWNER_PAGE: usize = 500;
const MAX_SEARCH_PAGE: usize = 200;
/// A search query never pages past this many results.
const SEARCH_WINDOW: usize = 10_000;
const SEARCH_PER_SECOND: usize = 5;
/// Search filter limits since HubSpot's August 2024 changelog entry.
const MAX_FILTER_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 10;
const MAX_FILTERS: usize = 25;
/// The filter operators crmsync sends (HubSpot has more; the fake refuses
/// them rather than model what no request uses).
const OPERATORS: &[&str] = &[
    "GT",
    "GTE",
    "EQ",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
];
/// The most `values` one `IN` / `NOT_IN` filter takes. No HubSpot document
/// found gives the number: the fake takes 100 (as HubSpot's other lists of
/// ids in one request), the stricter reading, and crmsync refuses a longer
/// scope list in the mapping file.
const MAX_FILTER_VALUES: usize = 100;
const DAY_MS: i64 = 86_400_000;
/// The daily request limit of a private app on a Free or Starter account
/// (<https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details>).
const DEFAULT_DAILY: u64 = 250_000;
/// Read-only properties a merge writes (semicolon-separated lists).
const MERGED_IDS: &str = "hs_merged_object_ids";
const ADDITIONAL_EMAILS: &str = "hs_additional_emails";
const AUTH_MESSAGE: &str = "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview";
const SCOPES_MESSAGE: &str = "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.";

/// Instances started so far; instance n hands out ids from (n+1)*1_000_000+1.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// A running fake HubSpot account with one private-app token.
pub struct FakeHubSpot {
    server: Server<HubSpotState>,
}

/// One CRM record as stored. `properties` includes the built-ins
/// (`hs_object_id`, `createdate`, the modified-time property) and, for
/// deals, `pipeline`.
#[derive(Debug, Clone)]
pub struct FakeRecord {
    pub id: String,
    pub properties: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub archived: bool,
}

/// A property definition; `kind` is string|number|date|datetime|enumeration|bool|phone_number.
#[derive(Debug, Clone)]
pub struct PropertyDef {
    pub name: String,
    pub label: String,
    pub kind: String,
    /// (value, label), in the stored order.
    pub options: Vec<(String, String)>,
    /// The other attributes of options, by value; an option not here is
    /// shown, undescribed, and ordered by its position.
    pub option_attributes: BTreeMap<String, OptionAttributes>,
    pub read_only: bool,
    pub unique: bool,
    /// HubSpot's `fieldType`; `None`: the usual one for `kind`.
    pub field_type: Option<String>,
    pub description: String,
    /// The property group; `None`: the object's information group.
    pub group: Option<String>,
    /// A formula computes its values (`calculationFormula`).
    pub formula: Option<String>,
}

/// An option's attributes besides value and label (`Option`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionAttributes {
    pub hidden: bool,
    pub display_order: i64,
    pub description: Option<String>,
}

impl PropertyDef {
    /// A writable, non-unique property without options.
    pub fn new(name: &str, label: &str, kind: &str) -> PropertyDef {
        let (name, label, kind) = (name.into(), label.into(), kind.into());
        PropertyDef {
            name,
            label,
            kind,
            options: vec![],
            option_attributes: BTreeMap::new(),
            read_only: false,
            unique: false,
            field_type: None,
            description: String::new(),
            group: None,
            formula: None,
        }
    }

    /// The property's `fieldType`.
    pub fn field_type(&self) -> &str {
        if let Some(t) = &self.field_type {
            return t;
        }
        match self.kind.as_str() {
            "number" => "number",
            "date" | "datetime" => "date",
            "enumeration" => "select",
            "bool" => "booleancheckbox",
            "phone_number" => "phonenumber",
            _ => "text",
        }
    }
}

impl FakeHubSpot {
    /// Starts an account with the default schema, the default deal pipeline,
    /// no owners and no records. Requests must send `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> FakeHubSpot {
        let instance = INSTANCES.fetch_add(1, Ordering::SeqCst);
        FakeHubSpot {
            server: Server::start(HubSpotState::new(token, instance), handle),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The server core: faults, the request log, `counts_by_endpoint()`.
    pub fn server(&self) -> &Server<HubSpotState> {
        &self.server
    }

    fn state(&self) -> MutexGuard<'_, HubSpotState> {
        self.server.state()
    }

    /// Creates a record directly (no HTTP, not logged) and returns its id.
    /// Validates like the API and panics on invalid input.
    pub fn seed(&self, object: &str, props: &[(&str, &str)]) -> String {
        let props = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.seed_many(object, vec![props]).remove(0)
    }

    /// `seed` for many records, in order.
    pub fn seed_many(&self, object: &str, records: Vec<BTreeMap<String, String>>) -> Vec<String> {
        let kind = Kind::expect(object);
        let mut state = self.state();
        let mut seed = |props| {
            let input = json!({ "properties": props });
            let written = state.write_one(kind, WriteOp::Create, &input);
            written.unwrap_or_else(|e| panic!("seed {object}: {}", e.message))
        };
        records.into_iter().map(&mut seed).collect()
    }

    /// A human edit in the UI: validates, updates and advances the modified time.
    pub fn edit(&self, object: &str, id: &str, props: &[(&str, &str)]) {
        let props: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let input = json!({ "id": id, "properties": props });
        let written = self
            .state()
            .write_one(Kind::expect(object), WriteOp::Update, &input);
        written.unwrap_or_else(|e| panic!("edit {object} {id}: {}", e.message));
    }

    /// Archives a live record, as a delete in the UI does; panics if there is none.
    pub fn archive(&self, object: &str, id: &str) {
        let kind = Kind::expect(object);
        let mut state = self.state();
        let live = state
            .live_id(kind, id)
            .unwrap_or_else(|| panic!("no live {object} {id}"));
        state.change_record(kind, live, |r| r.archived = true);
    }

    /// Merges `merged` into `primary` as `POST …/{object}/merge` does (see
    /// `merge_records`) and returns the NEW record's id; panics where the
    /// API would refuse. Not a request: nothing is logged or rate limited.
    pub fn merge(&self, object: &str, primary: &str, merged: &str) -> String {
        let kind = Kind::expect(object);
        let id = self.state().merge_records(kind, primary, merged);
        let id =
            id.unwrap_or_else(|e| panic!("merge {object} {merged} into {primary}: {}", e.message));
        id.to_string()
    }

    /// A user adding a secondary email to a contact in the UI: it joins
    /// `hs_additional_emails` (lowercased) and the modified time advances.
    /// Panics if the contact is not live, the address is invalid, or any
    /// contact (this one included) already holds it.
    pub fn add_additional_email(&self, contact_id: &str, email: &str) {
        let kind = Kind::Contacts;
        let email = email.trim().to_lowercase();
        assert!(is_email(&email), "{email:?} is not an email address");
        let mut state = self.state();
        let Some(id) = state.live_id(kind, contact_id) else {
            panic!("no live contact {contact_id}");
        };
        let mut holders = state.holders(kind, "email", &email);
        holders.extend(state.holders(kind, ADDITIONAL_EMAILS, &email));
        assert!(
            holders.is_empty(),
            "{email} is already held by contact {holders:?}"
        );
        state.change_record(kind, id, |record| {
            let list = record
                .properties
                .entry(ADDITIONAL_EMAILS.into())
                .or_default();
            if !list.is_empty() {
                list.push(';');
            }
            list.push_str(&email);
            record.updated_ms = now_ms().max(record.updated_ms + 1);
            let modified = format_iso(record.updated_ms);
            record
                .properties
                .insert(kind.info().modified.into(), modified);
        });
    }

    /// The id of the live record an id was merged into (the newest one after
    /// a chain of merges), or None if it was never merged away.
    pub fn merged_into(&self, object: &str, id: &str) -> Option<String> {
        let id: u64 = id.parse().ok()?;
        let state = self.state();
        let into = state.merged_into.get(&(Kind::expect(object), id))?;
        Some(into.to_string())
    }

    /// The record with this id, live or archived (None for an id merged away).
    pub fn record(&self, object: &str, id: &str) -> Option<FakeRecord> {
        let id: u64 = id.parse().ok()?;
        self.state().table(Kind::expect(object)).get(&id).cloned()
    }

    /// Live records, ordered by id.
    pub fn records(&self, object: &str) -> Vec<FakeRecord> {
        self.state().live(Kind::expect(object)).cloned().collect()
    }

    /// Live records whose `property` equals `value`, ignoring case.
    pub fn find(&self, object: &str, property: &str, value: &str) -> Vec<FakeRecord> {
        let value = value.to_lowercase();
        let mut found = self.records(object);
        found.retain(|r| {
            r.properties
                .get(property)
                .is_some_and(|v| v.to_lowercase() == value)
        });
        found
    }

    /// Adds an owner and returns its owner id (valid for `hubspot_owner_id`).
    pub fn add_owner(&self, email: &str, first: &str, last: &str) -> String {
        let mut state = self.state();
        let (id, user_id) = (state.alloc_id(), state.alloc_id());
        let (email, first, last) = (email.into(), first.into(), last.into());
        state.owners.push(Owner {
            id,
            user_id,
            email,
            first,
            last,
        });
        id.to_string()
    }

    /// Adds (or replaces) a deal pipeline; `stages` are (stage id, label).
    pub fn add_pipeline(&self, id: &str, label: &str, stages: &[(&str, &str)]) {
        let stages = stages
            .iter()
            .map(|(s, l)| (s.to_string(), l.to_string()))
            .collect();
        let mut state = self.state();
        state.pipelines.retain(|p| p.id != id);
        state.pipelines.push(Pipeline {
            id: id.into(),
            label: label.into(),
            stages,
        });
    }

    /// The definition of a property of `object`, if there is one.
    pub fn property(&self, object: &str, name: &str) -> Option<PropertyDef> {
        self.state().property(Kind::expect(object), name).cloned()
    }

    /// Adds (or replaces) a property of `object`.
    pub fn define_property(&self, object: &str, def: PropertyDef) {
        let mut state = self.state();
        state.unique_index.replace(None);
        let schema = state.schemas.entry(Kind::expect(object)).or_default();
        schema.retain(|d| d.name != def.name);
        schema.push(def);
    }

    /// The ten-secondly rolling limit: `max` requests per `interval_ms`.
    pub fn set_rate_limit(&self, max: u32, interval_ms: u64) {
        let mut state = self.state();
        state.limits.max = max;
        state.limits.interval = Duration::from_millis(interval_ms);
    }

    /// Turns on answers the schema allows but HubSpot usually does not give.
    pub fn set_quirks(&self, quirks: Quirks) {
        self.state().quirks = quirks;
    }

    /// The account's daily request limit (`X-HubSpot-RateLimit-Daily`);
    /// what was used today still counts.
    pub fn set_daily_limit(&self, requests: u64) {
        self.state().limits.daily = requests;
    }

    /// Requests counted against today's daily limit (the UTC day: HubSpot
    /// resets it at midnight in the account's time zone, which is UTC
    /// here).
    pub fn daily_used(&self) -> u64 {
        let mut state = self.state();
        state.limits.roll_day();
        state.limits.daily_used
    }

    /// Whether 429 answers carry `Retry-After` (HubSpot's usually do not).
    pub fn set_retry_after(&self, seconds: Option<u64>) {
        self.state().limits.retry_after = seconds;
    }

    /// Replaces the scopes the token holds.
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.state().scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Associates a deal with a contact (default type); both must be live.
    pub fn associate(&self, deal_id: &str, contact_id: &str) {
        self.associate_records("deals", deal_id, "contacts", contact_id);
    }

    /// Associates two live records of different objects (default type), as
    /// a user does in the UI.
    pub fn associate_records(&self, object: &str, id: &str, other: &str, other_id: &str) {
        let (kind, other_kind) = (Kind::expect(object), Kind::expect(other));
        let mut state = self.state();
        let pair = (state.live_id(kind, id), state.live_id(other_kind, other_id));
        let (Some(a), Some(b)) = pair else {
            panic!("associate: {object} {id} or {other} {other_id} is not live");
        };
        state.link(kind, a, other_kind, b);
    }

    /// Removes the association of two records, as a user does in the UI
    /// (no modified time moves).
    pub fn dissociate_records(&self, object: &str, id: &str, other: &str, other_id: &str) {
        let (kind, other_kind) = (Kind::expect(object), Kind::expect(other));
        let mut state = self.state();
        let pair = (state.live_id(kind, id), state.live_id(other_kind, other_id));
        let (Some(a), Some(b)) = pair else {
            panic!("dissociate: {object} {id} or {other} {other_id} is not live");
        };
        state.unlink(kind, a, other_kind, b);
    }

    /// Ids of the live contacts associated with a deal.
    pub fn associations(&self, deal_id: &str) -> Vec<String> {
        self.associated_ids("deals", deal_id, "contacts")
    }

    /// Ids of the live records of `other` associated with a record, lowest first.
    pub fn associated_ids(&self, object: &str, id: &str, other: &str) -> Vec<String> {
        let Ok(id) = id.parse() else {
            return vec![];
        };
        self.state()
            .associated(Kind::expect(object), id, Kind::expect(other))
            .iter()
            .map(u64::to_string)
            .collect()
    }

    /// How many requests were answered 429 so far.
    pub fn rate_limited_count(&self) -> usize {
        self.state().limits.rejected
    }

    /// `"METHOD /path"` of every request that matched no route.
    pub fn unknown_routes(&self) -> Vec<String> {
        self.state().unknown_routes.clone()
    }
}

/// Ways of answering that HubSpot's 2026-09 schemas allow and its own
/// answers usually do not show. Off by default; each test turns on the ones
/// it proves crmsync survives.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quirks {
    /// Batch results and errors carry no `objectWriteTraceId` (optional in
    /// `SimplePublicObject`, `SimplePublicUpsertObject` and in errors, whose
    /// `context` is a free map). Errors then name an input only by its `id`.
    pub no_trace_ids: bool,
    /// Batch results come in a shuffled order (no order is promised).
    pub shuffled: bool,
    /// Associations come this many at a time: a list's embedded
    /// `associations.contacts` carries `paging.next.after`, and each batch
    /// read result its own `paging`, to be followed with the input's `after`.
    pub association_page: Option<usize>,
}
