//! A stateful, strict fake of HubSpot's CRM REST API on its date-versioned
//! paths (contacts, deals and companies: objects, search, properties, owners,
//! deal pipelines, and the associations between any two of those objects),
//! built on `server.rs`.
//!
//! It owns HubSpot's wire behaviour as documented in
//! `../shared/api/hubspot.md` and HubSpot's published reference: bearer auth
//! and scopes, the ten-secondly and search rate limits with their headers, cursor and offset paging, batch limits, property validation, 207
//! multi-status answers keyed by `objectWriteTraceId`, 409 duplicate emails,
//! merges that make a new record the old ids resolve to (see `merge_records`)
//! and HubSpot's error bodies. It must not be kinder than the real API: where
//! the documents leave a behaviour open it takes the stricter reading and says
//! so in a comment. On purpose it answers every numbered path (`/crm/v3/…`,
//! `/crm/v4/…`, which HubSpot still serves until 2027) with 404, so tests prove
//! the client uses date-based paths. It knows nothing about Pipedrive or
//! crmsync, and it must not reach into the server core beyond `Server`'s
//! public API.

#![allow(dead_code)]

use super::server::{Request, Response, Server};
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Date versions served; any other version is a 404.
const VERSIONS: &[&str] = &["2026-09", "2026-03"];
/// Every scope hubspot.md lists; a new account's token holds all of them.
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
const OPERATORS: &[&str] = &["GT", "GTE"];
const DAY_MS: i64 = 86_400_000;
/// Read-only properties a merge writes (semicolon-separated lists).
const MERGED_IDS: &str = "hs_merged_object_ids";
const ADDITIONAL_EMAILS: &str = "hs_additional_emails";
const AUTH_MESSAGE: &str = "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview";
const SCOPES_MESSAGE: &str = "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.";

/// Instances started so far; instance n hands out ids from (n+1)*1_000_000+1.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

// ---------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------

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

/// A property definition; `kind` is string|number|date|datetime|enumeration|bool.
#[derive(Debug, Clone)]
pub struct PropertyDef {
    pub name: String,
    pub label: String,
    pub kind: String,
    /// (value, label)
    pub options: Vec<(String, String)>,
    pub read_only: bool,
    pub unique: bool,
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
            read_only: false,
            unique: false,
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

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Contacts,
    Deals,
    Companies,
}

const KINDS: [Kind; 3] = [Kind::Contacts, Kind::Deals, Kind::Companies];

/// What differs between the two object types.
struct KindInfo {
    name: &'static str,
    singular: &'static str,
    /// The modified-time property.
    modified: &'static str,
    /// Returned when a read names no properties (HubSpot's documented defaults).
    defaults: &'static [&'static str],
    read_scope: &'static str,
    write_scope: &'static str,
    /// Reads its properties (and, for deals, pipelines).
    schema_scope: &'static str,
}

const CONTACTS: KindInfo = KindInfo {
    name: "contacts",
    singular: "Contact",
    modified: "lastmodifieddate",
    defaults: &["email", "firstname", "lastname"],
    read_scope: "crm.objects.contacts.read",
    write_scope: "crm.objects.contacts.write",
    schema_scope: "crm.schemas.contacts.read",
};

const DEALS: KindInfo = KindInfo {
    name: "deals",
    singular: "Deal",
    modified: "hs_lastmodifieddate",
    defaults: &["dealname", "amount", "closedate", "pipeline", "dealstage"],
    read_scope: "crm.objects.deals.read",
    write_scope: "crm.objects.deals.write",
    schema_scope: "crm.schemas.deals.read",
};

const COMPANIES: KindInfo = KindInfo {
    name: "companies",
    singular: "Company",
    modified: "hs_lastmodifieddate",
    defaults: &["name", "domain"],
    read_scope: "crm.objects.companies.read",
    write_scope: "crm.objects.companies.write",
    schema_scope: "crm.schemas.companies.read",
};

impl Kind {
    fn info(self) -> &'static KindInfo {
        match self {
            Kind::Contacts => &CONTACTS,
            Kind::Deals => &DEALS,
            Kind::Companies => &COMPANIES,
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.info().name == name)
    }

    fn expect(name: &str) -> Kind {
        Kind::parse(name)
            .unwrap_or_else(|| panic!("FakeHubSpot has contacts, deals and companies, not {name}"))
    }

    /// The label and type id of the default (unlabeled) association from
    /// this kind to `to`, HubSpot's published ids. For contact→company and
    /// deal→company HubSpot also has a "primary" type (1 and 5); the
    /// default association API makes the unlabeled one.
    fn association(self, to: Kind) -> (&'static str, u64) {
        match (self, to) {
            (Kind::Contacts, Kind::Deals) => ("contact_to_deal", 4),
            (Kind::Deals, Kind::Contacts) => ("deal_to_contact", 3),
            (Kind::Contacts, Kind::Companies) => ("contact_to_company_unlabeled", 279),
            (Kind::Companies, Kind::Contacts) => ("company_to_contact_unlabeled", 280),
            (Kind::Deals, Kind::Companies) => ("deal_to_company_unlabeled", 341),
            (Kind::Companies, Kind::Deals) => ("company_to_deal_unlabeled", 342),
            _ => panic!("no association from {self:?} to itself"),
        }
    }

    fn builtins(self) -> [&'static str; 3] {
        ["hs_object_id", "createdate", self.info().modified]
    }

    fn default_properties(self) -> Vec<String> {
        self.info().defaults.iter().map(|s| s.to_string()).collect()
    }
}

struct Owner {
    id: u64,
    user_id: u64,
    email: String,
    first: String,
    last: String,
}

struct Pipeline {
    id: String,
    label: String,
    stages: Vec<(String, String)>,
}

/// The ten-secondly and secondly (search) limits.
struct Limits {
    max: u32,
    interval: Duration,
    window: VecDeque<Instant>,
    search_window: VecDeque<Instant>,
    retry_after: Option<u64>,
    rejected: usize,
}

impl Limits {
    /// Counts the request, or returns the (policy, message) that refuses it.
    /// Refused requests are not counted: HubSpot does not say whether they are.
    fn admit(&mut self, search: bool) -> Option<(&'static str, &'static str)> {
        let now = Instant::now();
        prune(&mut self.window, now, self.interval);
        prune(&mut self.search_window, now, Duration::from_secs(1));
        let refused = if self.window.len() >= self.max as usize {
            Some((
                "TEN_SECONDLY_ROLLING",
                "You have reached your ten_secondly_rolling limit.",
            ))
        } else if search && self.search_window.len() >= SEARCH_PER_SECOND {
            Some(("SECONDLY", "You have reached your secondly limit."))
        } else {
            None
        };
        if refused.is_some() {
            self.rejected += 1;
            return refused;
        }
        // Searches also count against the ten-secondly limit (the stricter reading).
        self.window.push_back(now);
        if search {
            self.search_window.push_back(now);
        }
        None
    }

    fn headers(&self) -> [(&'static str, String); 3] {
        let remaining = (self.max as usize).saturating_sub(self.window.len());
        [
            ("X-HubSpot-RateLimit-Max", self.max.to_string()),
            ("X-HubSpot-RateLimit-Remaining", remaining.to_string()),
            (
                "X-HubSpot-RateLimit-Interval-Milliseconds",
                self.interval.as_millis().to_string(),
            ),
        ]
    }
}

fn prune(window: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= span)
    {
        window.pop_front();
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

/// (kind, unique property, lowercased value) → live ids holding it.
type UniqueIndex = HashMap<(Kind, String, String), Vec<u64>>;

/// Everything one fake account holds; lives behind the server's mutex.
pub struct HubSpotState {
    token: String,
    instance: u64,
    scopes: Vec<String>,
    next_id: u64,
    correlation_seq: u64,
    schemas: BTreeMap<Kind, Vec<PropertyDef>>,
    records: BTreeMap<Kind, BTreeMap<u64, FakeRecord>>,
    owners: Vec<Owner>,
    pipelines: Vec<Pipeline>,
    /// Associations, kept in both directions: (kind, id) → other kind → ids.
    links: BTreeMap<(Kind, u64), BTreeMap<Kind, BTreeSet<u64>>>,
    limits: Limits,
    unknown_routes: Vec<String>,
    /// Answers the published schema allows that crmsync must survive.
    quirks: Quirks,
    /// Seeds the order of shuffled answers (advances per answer).
    shuffles: u64,
    /// (kind, unique property, lowercased value) → live ids holding it, in
    /// id order: a batch of upserts checks uniqueness by lookup instead of
    /// scanning the account once per input (the benchmark writes 10,000
    /// contacts). Built on first use, kept in step by `change_or_create`,
    /// dropped when a property is defined.
    unique_index: RefCell<Option<UniqueIndex>>,
    /// (kind, merged-away id) → the id of the record it was merged into,
    /// always the newest one (a chain of merges is kept one hop long).
    merged_into: BTreeMap<(Kind, u64), u64>,
}

fn default_schema(kind: Kind) -> Vec<PropertyDef> {
    let def = PropertyDef::new;
    let mut schema = match kind {
        Kind::Contacts => vec![
            PropertyDef {
                unique: true,
                ..def("email", "Email", "string")
            },
            def("firstname", "First Name", "string"),
            def("lastname", "Last Name", "string"),
            def("phone", "Phone Number", "string"),
            def("company", "Company Name", "string"),
            def("jobtitle", "Job Title", "string"),
            PropertyDef {
                options: [
                    ("subscriber", "Subscriber"),
                    ("lead", "Lead"),
                    ("marketingqualifiedlead", "Marketing Qualified Lead"),
                    ("salesqualifiedlead", "Sales Qualified Lead"),
                    ("opportunity", "Opportunity"),
                    ("customer", "Customer"),
                    ("evangelist", "Evangelist"),
                    ("other", "Other"),
                ]
                .map(|(v, l)| (v.to_string(), l.to_string()))
                .to_vec(),
                ..def("lifecyclestage", "Lifecycle Stage", "enumeration")
            },
            def("hubspot_owner_id", "Contact owner", "enumeration"),
        ],
        Kind::Deals => vec![
            def("dealname", "Deal Name", "string"),
            def("amount", "Amount", "number"),
            def("dealstage", "Deal Stage", "enumeration"),
            def("pipeline", "Pipeline", "enumeration"),
            def("closedate", "Close Date", "date"),
            def("hubspot_owner_id", "Deal owner", "enumeration"),
        ],
        // `domain` is not unique by default: HubSpot deduplicates companies
        // by domain only when they are created in its UI or by its own
        // automation, never on the API's batch create.
        Kind::Companies => vec![
            def("name", "Company name", "string"),
            def("domain", "Company Domain Name", "string"),
            def("website", "Website URL", "string"),
            def("phone", "Phone Number", "string"),
            def("city", "City", "string"),
            def("industry", "Industry", "string"),
            def("hubspot_owner_id", "Company owner", "enumeration"),
        ],
    };
    let mut read_only = vec![
        def("hs_object_id", "Record ID", "number"),
        def("createdate", "Create Date", "datetime"),
        def(kind.info().modified, "Last Modified Date", "datetime"),
        // Set by merges only, semicolon-separated (HubSpot's "Merged record
        // IDs" property). HubSpot types it as a multi-value field; the fake
        // lists it as a string, which is what every read returns.
        def(MERGED_IDS, "Merged record IDs", "string"),
    ];
    if kind == Kind::Contacts {
        // The other emails of a contact, semicolon-separated; a merge fills it.
        read_only.push(def(
            ADDITIONAL_EMAILS,
            "Additional email addresses",
            "string",
        ));
    }
    schema.extend(read_only.into_iter().map(|d| PropertyDef {
        read_only: true,
        ..d
    }));
    schema
}

fn default_pipeline() -> Pipeline {
    let stages = [
        ("appointmentscheduled", "Appointment Scheduled"),
        ("qualifiedtobuy", "Qualified To Buy"),
        ("presentationscheduled", "Presentation Scheduled"),
        ("decisionmakerboughtin", "Decision Maker Bought-In"),
        ("contractsent", "Contract Sent"),
        ("closedwon", "Closed Won"),
        ("closedlost", "Closed Lost"),
    ];
    let stages = stages.map(|(s, l)| (s.to_string(), l.to_string())).to_vec();
    Pipeline {
        id: "default".into(),
        label: "Sales Pipeline".into(),
        stages,
    }
}

impl HubSpotState {
    fn new(token: &str, instance: u64) -> HubSpotState {
        let kinds = KINDS;
        HubSpotState {
            token: token.into(),
            instance,
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            next_id: (instance + 1) * 1_000_000 + 1,
            correlation_seq: 0,
            schemas: kinds.map(|k| (k, default_schema(k))).into(),
            records: kinds.map(|k| (k, BTreeMap::new())).into(),
            owners: vec![],
            pipelines: vec![default_pipeline()],
            links: BTreeMap::new(),
            unique_index: RefCell::new(None),
            merged_into: BTreeMap::new(),
            limits: Limits {
                max: 190,
                interval: Duration::from_secs(10),
                window: VecDeque::new(),
                search_window: VecDeque::new(),
                retry_after: None,
                rejected: 0,
            },
            unknown_routes: vec![],
            quirks: Quirks::default(),
            shuffles: 0,
        }
    }

    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn table(&self, kind: Kind) -> &BTreeMap<u64, FakeRecord> {
        &self.records[&kind]
    }

    /// Changes (or, given `fresh`, creates) one record: the only way
    /// records change, so the unique-value index stays in step.
    fn change_or_create<R>(
        &mut self,
        kind: Kind,
        id: u64,
        fresh: impl FnOnce() -> FakeRecord,
        change: impl FnOnce(&mut FakeRecord) -> R,
    ) -> R {
        self.reindex(kind, id, false);
        let table = self.records.entry(kind).or_default();
        let out = change(table.entry(id).or_insert_with(fresh));
        self.reindex(kind, id, true);
        out
    }

    fn change_record<R>(
        &mut self,
        kind: Kind,
        id: u64,
        change: impl FnOnce(&mut FakeRecord) -> R,
    ) -> R {
        self.change_or_create(kind, id, || panic!("no {kind:?} {id}"), change)
    }

    /// Adds a live record's unique values to the index (if it is built), or
    /// takes them out.
    fn reindex(&self, kind: Kind, id: u64, add: bool) {
        let mut index = self.unique_index.borrow_mut();
        let Some(index) = index.as_mut() else {
            return;
        };
        let Some(record) = self.table(kind).get(&id).filter(|r| !r.archived) else {
            return;
        };
        for key in self.unique_keys(kind, record) {
            let ids = index.entry(key).or_default();
            match (add, ids.binary_search(&id)) {
                (true, Err(at)) => ids.insert(at, id),
                (false, Ok(at)) => _ = ids.remove(at),
                _ => {}
            }
        }
    }

    /// A record's index keys: one per unique property it holds a value of.
    /// A contact's additional emails are keys too (under their own
    /// property name), so no other contact may take one as its email.
    fn unique_keys(&self, kind: Kind, record: &FakeRecord) -> Vec<(Kind, String, String)> {
        let mut keys: Vec<(Kind, String, String)> = self.schemas[&kind]
            .iter()
            .filter(|d| d.unique)
            .filter_map(|d| {
                let value = record.properties.get(&d.name)?;
                Some((kind, d.name.clone(), value.to_lowercase()))
            })
            .collect();
        if let Some(extra) = record.properties.get(ADDITIONAL_EMAILS) {
            let extra =
                split_list(extra).map(|e| (kind, ADDITIONAL_EMAILS.into(), e.to_lowercase()));
            keys.extend(extra);
        }
        keys
    }

    /// The live records whose unique property `name` holds `value` (any
    /// case), in id order.
    fn holders(&self, kind: Kind, name: &str, value: &str) -> Vec<u64> {
        let mut index = self.unique_index.borrow_mut();
        let index = index.get_or_insert_with(|| {
            // Records are visited in id order, so each list comes out sorted.
            let mut index = UniqueIndex::new();
            for kind in self.schemas.keys() {
                for r in self.live(*kind) {
                    for key in self.unique_keys(*kind, r) {
                        let id = r.id.parse().expect("numeric id");
                        index.entry(key).or_default().push(id);
                    }
                }
            }
            index
        });
        let key = (kind, name.to_string(), value.trim().to_lowercase());
        index.get(&key).cloned().unwrap_or_default()
    }

    fn live(&self, kind: Kind) -> impl Iterator<Item = &FakeRecord> {
        self.table(kind).values().filter(|r| !r.archived)
    }

    fn live_id(&self, kind: Kind, id: &str) -> Option<u64> {
        let id = id.parse().ok()?;
        self.table(kind)
            .get(&id)
            .filter(|r| !r.archived)
            .map(|_| id)
    }

    fn property(&self, kind: Kind, name: &str) -> Option<&PropertyDef> {
        self.schemas[&kind].iter().find(|d| d.name == name)
    }

    /// Live records of `other` associated with this one, in id order.
    fn associated(&self, kind: Kind, id: u64, other: Kind) -> Vec<u64> {
        let ids = self.links.get(&(kind, id)).and_then(|l| l.get(&other));
        ids.into_iter()
            .flatten()
            .copied()
            .filter(|i| self.live_id(other, &i.to_string()).is_some())
            .collect()
    }

    /// Associates two records, both ways.
    fn link(&mut self, kind: Kind, id: u64, other: Kind, other_id: u64) {
        let mut add = |(k, i), (o, oi)| {
            let linked = self.links.entry((k, i)).or_default();
            linked.entry(o).or_default().insert(oi);
        };
        add((kind, id), (other, other_id));
        add((other, other_id), (kind, id));
    }

    /// Removes an association, both ways.
    fn unlink(&mut self, kind: Kind, id: u64, other: Kind, other_id: u64) {
        for ((k, i), (o, oi)) in [
            ((kind, id), (other, other_id)),
            ((other, other_id), (kind, id)),
        ] {
            if let Some(ids) = self.links.get_mut(&(k, i)).and_then(|l| l.get_mut(&o)) {
                ids.remove(&oi);
            }
        }
    }

    /// Valid values of an enumeration; dynamic ones come from owners and
    /// pipelines. `pipeline` narrows `dealstage` (None: every pipeline's stages).
    fn options(&self, def: &PropertyDef, pipeline: Option<&str>) -> Vec<(String, String)> {
        let pipelines = self.pipelines.iter();
        match def.name.as_str() {
            "hubspot_owner_id" => {
                let name = |o: &Owner| format!("{} {}", o.first, o.last);
                self.owners
                    .iter()
                    .map(|o| (o.id.to_string(), name(o)))
                    .collect()
            }
            "pipeline" => pipelines.map(|p| (p.id.clone(), p.label.clone())).collect(),
            "dealstage" => pipelines
                .filter(|p| pipeline.is_none_or(|id| p.id == id))
                .flat_map(|p| p.stages.iter().cloned())
                .collect(),
            _ => def.options.clone(),
        }
    }

    /// A uuid-shaped correlation id, distinct per request and instance.
    fn correlation_id(&mut self) -> String {
        self.correlation_seq += 1;
        let a = splitmix(self.instance << 32 ^ self.correlation_seq);
        let b = splitmix(a);
        let variant = (b >> 48) & 0x3fff | 0x8000;
        let (a1, a2, a3, b1) = (a >> 32, (a >> 16) & 0xffff, a & 0xfff, b & 0xffff_ffff_ffff);
        format!("{a1:08x}-{a2:04x}-4{a3:03x}-{variant:04x}-{b1:012x}")
    }

    fn error(&mut self, status: u16, category: &str, message: &str) -> Response {
        let correlation_id = self.correlation_id();
        let body = json!({
            "status": "error", "message": message, "correlationId": correlation_id, "category": category,
        });
        Response::json(status, &body)
    }
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Why a request (or one input of a batch) is refused.
#[derive(Debug)]
struct Failure {
    category: &'static str,
    message: String,
}

impl Failure {
    fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            category: "VALIDATION_ERROR",
            message: message.into(),
        }
    }

    fn status(&self) -> u16 {
        match self.category {
            "CONFLICT" => 409,
            "OBJECT_NOT_FOUND" => 404,
            _ => 400,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::invalid(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::invalid(message)
    }
}

type Answer = Result<Response, Failure>;

// ---------------------------------------------------------------------------
// Routing, auth, rate limits, scopes
// ---------------------------------------------------------------------------

enum Route {
    List(Kind),
    Get(Kind, String),
    Read(Kind),
    Write(Kind, WriteOp),
    Archive(Kind),
    Search(Kind),
    Merge(Kind),
    Properties(Kind),
    Owners,
    Pipelines,
    /// Associations from the first kind's records to the second's.
    Associations(Kind, Kind, AssocOp),
}

#[derive(Clone, Copy, PartialEq)]
enum WriteOp {
    Create,
    Update,
    Upsert,
}

#[derive(Clone, Copy, PartialEq)]
enum AssocOp {
    Read,
    Create,
    Archive,
}

fn parse_route(req: &Request) -> Option<Route> {
    // `/crm/owners/2026-09/` is not the schema's `/crm/owners/2026-09`.
    if req.path.len() > 1 && req.path.ends_with('/') {
        return None;
    }
    let segments = req.segments();
    let ["crm", api, version, rest @ ..] = segments.as_slice() else {
        return None;
    };
    if !VERSIONS.contains(version) {
        return None;
    }
    let route = match (req.method.as_str(), *api, rest) {
        ("GET", "objects", [t]) => Route::List(Kind::parse(t)?),
        ("POST", "objects", [t, "search"]) => Route::Search(Kind::parse(t)?),
        ("POST", "objects", [t, "merge"]) => Route::Merge(Kind::parse(t)?),
        ("POST", "objects", [t, "batch", op]) => {
            let kind = Kind::parse(t)?;
            match *op {
                "read" => Route::Read(kind),
                "create" => Route::Write(kind, WriteOp::Create),
                "update" => Route::Write(kind, WriteOp::Update),
                "upsert" => Route::Write(kind, WriteOp::Upsert),
                "archive" => Route::Archive(kind),
                _ => return None,
            }
        }
        ("GET", "objects", [t, id]) => Route::Get(Kind::parse(t)?, id.to_string()),
        ("GET", "properties", [t]) => Route::Properties(Kind::parse(t)?),
        ("GET", "owners", []) => Route::Owners,
        ("GET", "pipelines", ["deals"]) => Route::Pipelines,
        ("POST", "associations", [from, to, "batch", op @ ..]) => {
            let (from, to) = (Kind::parse(from)?, Kind::parse(to)?);
            if from == to {
                return None;
            }
            let op = match op {
                ["read"] => AssocOp::Read,
                ["associate", "default"] => AssocOp::Create,
                ["archive"] => AssocOp::Archive,
                _ => return None,
            };
            Route::Associations(from, to, op)
        }
        _ => return None,
    };
    Some(route)
}

impl Route {
    /// Scopes the token must hold, all of them.
    fn scopes(&self) -> Vec<&'static str> {
        match self {
            Route::List(k) | Route::Get(k, _) | Route::Search(k) | Route::Read(k) => {
                vec![k.info().read_scope]
            }
            Route::Write(k, _) | Route::Archive(k) | Route::Merge(k) => {
                vec![k.info().write_scope]
            }
            Route::Properties(k) => vec![k.info().schema_scope],
            Route::Owners => vec!["crm.objects.owners.read"],
            Route::Pipelines => vec![DEALS.schema_scope],
            Route::Associations(from, to, AssocOp::Read) => {
                vec![from.info().read_scope, to.info().read_scope]
            }
            Route::Associations(from, to, _) => {
                vec![from.info().write_scope, to.info().write_scope]
            }
        }
    }
}

fn handle(state: &mut HubSpotState, req: &Request) -> Response {
    let Some(route) = parse_route(req) else {
        state
            .unknown_routes
            .push(format!("{} {}", req.method, req.path));
        let message = format!("No API matches {} {}", req.method, req.path);
        return state.error(404, "OBJECT_NOT_FOUND", &message);
    };
    let expected = format!("Bearer {}", state.token);
    if req.header("authorization") != Some(expected.as_str()) {
        return state.error(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE);
    }
    let response = match state.serve(route, req) {
        Ok(response) => response,
        Err(f) => state.error(f.status(), f.category, &f.message),
    };
    let headers = state.limits.headers();
    headers
        .into_iter()
        .fold(response, |r, (name, value)| r.with_header(name, value))
}

impl HubSpotState {
    fn serve(&mut self, route: Route, req: &Request) -> Answer {
        if let Some((policy, message)) = self.limits.admit(matches!(route, Route::Search(_))) {
            let body = json!({
                "status": "error", "message": message, "errorType": "RATE_LIMIT",
                "correlationId": self.correlation_id(), "policyName": policy,
            });
            let response = Response::json(429, &body);
            return Ok(match self.limits.retry_after {
                Some(seconds) => response.with_header("Retry-After", seconds.to_string()),
                None => response,
            });
        }
        let required = route.scopes();
        if required
            .iter()
            .any(|s| !self.scopes.iter().any(|held| held == s))
        {
            let body = json!({
                "status": "error", "message": SCOPES_MESSAGE, "correlationId": self.correlation_id(),
                "errors": [{
                    "message": "One or more of the following scopes are required.",
                    "context": { "requiredGranularScopes": required },
                }],
                "links": { "scopes": "https://developers.hubspot.com/scopes" },
                "category": "MISSING_SCOPES",
            });
            return Ok(Response::json(403, &body));
        }
        match route {
            Route::List(kind) => self.list(kind, req),
            Route::Get(kind, id) => self.get_one(kind, &id, req),
            Route::Read(kind) => self.batch_read(kind, req),
            Route::Write(kind, op) => self.batch_write(kind, op, req),
            Route::Archive(kind) => self.batch_archive(kind, req),
            Route::Search(kind) => Ok(Response::json(200, &self.search(kind, &req.json()?)?)),
            Route::Merge(kind) => self.merge_endpoint(kind, req),
            Route::Properties(kind) => Ok(Response::json(200, &self.properties_json(kind))),
            Route::Owners => self.list_owners(req),
            Route::Pipelines => Ok(Response::json(200, &self.pipelines_json())),
            Route::Associations(from, to, AssocOp::Read) => self.read_associations(from, to, req),
            Route::Associations(from, to, op) => self.change_associations(from, to, op, req),
        }
    }
}

// ---------------------------------------------------------------------------
// Reads: list, get, batch read, properties, owners, pipelines
// ---------------------------------------------------------------------------

/// Parses `limit`. Values outside 1..=max answer 400: what HubSpot does is
/// undocumented, and refusing is the stricter reading.
fn page_limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, String> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "limit must be an integer from 1 to {max}, got {raw:?}"
        )),
    }
}

fn cursor(raw: Option<&str>) -> Result<u64, String> {
    raw.map_or(Ok(0), |a| {
        a.parse()
            .map_err(|_| format!("invalid paging cursor {a:?}"))
    })
}

/// Cuts one page of `limit` items; returns the page and the next cursor.
fn cut_page<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> u64) -> (Vec<T>, Option<u64>) {
    let next = items.get(limit).map(id);
    items.truncate(limit);
    (items, next)
}

fn with_paging(req: &Request, mut body: Value, next: Option<u64>) -> Response {
    if let Some(next) = next {
        let host = req.header("host").unwrap_or("127.0.0.1");
        let link = format!("http://{host}{}?after={next}", req.path);
        body["paging"] = json!({ "next": { "after": next.to_string(), "link": link } });
    }
    Response::json(200, &body)
}

/// Property names asked for with `properties=a,b` (repeatable), or the defaults.
fn requested_properties(req: &Request, kind: Kind) -> Vec<String> {
    if req.query_param("properties").is_none() {
        return kind.default_properties();
    }
    let lists = req.query.iter().filter(|(k, _)| k == "properties");
    let names = lists
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    names.map(str::to_string).collect()
}

/// The objects named by `associations=a,b` (repeatable). An unknown
/// object, or the record's own, is refused: HubSpot's answer to either is
/// undocumented, and refusing is the stricter reading.
fn wants_associations(req: &Request, kind: Kind) -> Result<Vec<Kind>, Failure> {
    let lists = req.query.iter().filter(|(k, _)| k == "associations");
    let names = lists
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut kinds = vec![];
    for name in names {
        match Kind::parse(name) {
            Some(other) if other != kind => kinds.push(other),
            _ => {
                return Err(format!(
                    "associations: {name} is not an object associated with {}",
                    kind.info().name
                )
                .into());
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// `properties` from a JSON body: an array of names, or the defaults if absent.
fn body_properties(body: &Value, kind: Kind, required: bool) -> Result<Vec<String>, String> {
    let bad = || "properties must be an array of property names".to_string();
    match body.get("properties") {
        None if !required => Ok(kind.default_properties()),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// Parses a batch body and checks its `inputs`: 1 to 100 of them.
fn batch_inputs(req: &Request) -> Result<(Value, Vec<Value>), Failure> {
    let body = req.json()?;
    let Some(Value::Array(inputs)) = body.get("inputs") else {
        return Err("inputs must be an array".into());
    };
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        let count = inputs.len();
        return Err(format!("inputs must hold 1 to {MAX_BATCH} items, not {count}").into());
    }
    let inputs = inputs.clone();
    Ok((body, inputs))
}

fn input_id(input: &Value) -> Result<&str, Failure> {
    input
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| "each input needs a string id".into())
}

fn batch_body(started: String, results: Vec<Value>, errors: Vec<Value>) -> Value {
    let completed = format_iso(now_ms());
    let mut body = json!({
        "status": "COMPLETE", "results": results, "startedAt": started, "completedAt": completed,
    });
    if !errors.is_empty() {
        body["numErrors"] = json!(errors.len());
        body["errors"] = json!(errors);
    }
    body
}

impl HubSpotState {
    /// A record as the API shows it: the requested properties that exist
    /// (unset ones as null, unknown names silently dropped), plus the built-ins.
    fn record_json(
        &self,
        kind: Kind,
        record: &FakeRecord,
        names: &[String],
        links: &[Kind],
    ) -> Value {
        let mut props = Map::new();
        for name in names.iter().map(String::as_str).chain(kind.builtins()) {
            if self.property(kind, name).is_some() {
                let value = record
                    .properties
                    .get(name)
                    .map_or(Value::Null, |v| json!(v));
                props.insert(name.to_string(), value);
            }
        }
        let mut out = json!({
            "id": record.id, "properties": props, "createdAt": format_iso(record.created_ms),
            "updatedAt": format_iso(record.updated_ms), "archived": record.archived,
        });
        // An object with no associations is left out of the map, and the
        // map itself when it would be empty, as HubSpot answers.
        let mut associations = Map::new();
        for other in links {
            let linked = self.associated(kind, record.id.parse().unwrap_or(0), *other);
            if linked.is_empty() {
                continue;
            }
            let label = kind.association(*other).0;
            let page = self.quirks.association_page.unwrap_or(usize::MAX);
            let results: Vec<Value> = linked
                .iter()
                .take(page)
                .map(|id| json!({ "id": id.to_string(), "type": label }))
                .collect();
            let mut list = json!({ "results": results });
            if linked.len() > page {
                list["paging"] = json!({ "next": { "after": page.to_string() } });
            }
            associations.insert(other.info().name.to_string(), list);
        }
        if !associations.is_empty() {
            out["associations"] = Value::Object(associations);
        }
        out
    }

    fn list(&self, kind: Kind, req: &Request) -> Answer {
        let limit = page_limit(req.query_param("limit"), DEFAULT_PAGE, MAX_PAGE)?;
        let after = cursor(req.query_param("after"))?;
        let archived = match req.query_param("archived") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(format!("archived must be true or false, not {other}").into());
            }
        };
        let (names, links) = (
            requested_properties(req, kind),
            wants_associations(req, kind)?,
        );
        let matching = self
            .table(kind)
            .range(after..)
            .map(|(_, r)| r)
            .filter(|r| r.archived == archived);
        let (page, next) = cut_page(matching.take(limit + 1).collect(), limit, |r| {
            r.id.parse().unwrap_or(0)
        });
        let results: Vec<Value> = page
            .iter()
            .map(|r| self.record_json(kind, r, &names, &links))
            .collect();
        Ok(with_paging(req, json!({ "results": results }), next))
    }

    /// Finds a live record by id, or by a unique property with `idProperty`.
    /// Writes take live ids only: an update by a merged-away id is refused
    /// as not found (HubSpot documents that reads by an old id return the
    /// merged record, not that writes follow it: the stricter reading).
    fn resolve(
        &self,
        kind: Kind,
        key: &str,
        id_property: Option<&str>,
    ) -> Result<Option<u64>, Failure> {
        let Some(prop) = id_property.filter(|p| *p != "hs_object_id") else {
            return Ok(self.live_id(kind, key));
        };
        if !self.property(kind, prop).is_some_and(|d| d.unique) {
            return Err(format!("idProperty {prop} is not a property with hasUniqueValue").into());
        }
        Ok(self.holders(kind, prop, key).first().copied())
    }

    /// `resolve` for reads (GET and batch read): an id merged away answers
    /// the record it was merged into, with that record's (new) id.
    fn resolve_read(
        &self,
        kind: Kind,
        key: &str,
        id_property: Option<&str>,
    ) -> Result<Option<u64>, Failure> {
        let by_id = id_property.is_none_or(|p| p == "hs_object_id");
        let merged = key
            .parse()
            .ok()
            .and_then(|id| self.merged_into.get(&(kind, id)));
        match merged {
            Some(into) if by_id => Ok(self.live_id(kind, &into.to_string())),
            _ => self.resolve(kind, key, id_property),
        }
    }

    fn get_one(&self, kind: Kind, id: &str, req: &Request) -> Answer {
        let Some(id) = self.resolve_read(kind, id, req.query_param("idProperty"))? else {
            return Err(Failure {
                category: "OBJECT_NOT_FOUND",
                message: "Object not found.".into(),
            });
        };
        let names = requested_properties(req, kind);
        let body = self.record_json(
            kind,
            &self.table(kind)[&id],
            &names,
            &wants_associations(req, kind)?,
        );
        Ok(Response::json(200, &body))
    }

    fn batch_read(&self, kind: Kind, req: &Request) -> Answer {
        let (body, inputs) = batch_inputs(req)?;
        // The published schema marks `properties` and `propertiesWithHistory`
        // required; the fake insists.
        let names = body_properties(&body, kind, true)?;
        if !body
            .get("propertiesWithHistory")
            .is_some_and(Value::is_array)
        {
            return Err("propertiesWithHistory is required (an array of property names)".into());
        }
        let id_property = body.get("idProperty").and_then(Value::as_str);
        let started = format_iso(now_ms());
        let (mut found, mut missing) = (BTreeSet::new(), vec![]);
        for input in &inputs {
            let key = input_id(input)?;
            match self.resolve_read(kind, key, id_property)? {
                Some(id) => _ = found.insert(id),
                None => missing.push(key),
            }
        }
        // Reversed on purpose: clients must match results by id, not position.
        let table = self.table(kind);
        let results = found
            .iter()
            .rev()
            .map(|id| self.record_json(kind, &table[id], &names, &[]));
        let mut errors = vec![];
        if !missing.is_empty() {
            let object = kind.info().singular.to_uppercase();
            errors.push(json!({
                "status": "error", "category": "OBJECT_NOT_FOUND", "context": { "ids": missing },
                "message": format!("Could not get some {object} objects, they may be deleted or not exist. Check that ids are valid."),
            }));
        }
        let status = if errors.is_empty() { 200 } else { 207 };
        Ok(Response::json(
            status,
            &batch_body(started, results.collect(), errors),
        ))
    }

    fn properties_json(&self, kind: Kind) -> Value {
        // HubSpot marks the properties it defines; the account's own have
        // no `hubspotDefined`.
        let defaults = default_schema(kind);
        let describe = |d: &PropertyDef| {
            let hubspot_defined = defaults.iter().any(|p| p.name == d.name);
            let options = self.options(d, None);
            let options: Vec<Value> = (options.iter().enumerate())
                .map(|(i, (v, l))| json!({ "label": l, "value": v, "displayOrder": i, "hidden": false }))
                .collect();
            let field_type = match d.kind.as_str() {
                "number" => "number",
                "date" | "datetime" => "date",
                "enumeration" => "select",
                "bool" => "booleancheckbox",
                _ => "text",
            };
            let mut property = json!({
                "name": d.name, "label": d.label, "type": d.kind, "fieldType": field_type,
                "options": options, "hasUniqueValue": d.unique,
                "modificationMetadata": { "readOnlyValue": d.read_only, "archivable": !d.read_only },
            });
            if hubspot_defined {
                property["hubspotDefined"] = json!(true);
            }
            property
        };
        json!({ "results": self.schemas[&kind].iter().map(describe).collect::<Vec<_>>() })
    }

    fn list_owners(&self, req: &Request) -> Answer {
        let limit = page_limit(req.query_param("limit"), 100, MAX_OWNER_PAGE)?;
        let after = cursor(req.query_param("after"))?;
        let owners = self
            .owners
            .iter()
            .filter(|o| o.id >= after)
            .take(limit + 1)
            .collect();
        let (page, next) = cut_page(owners, limit, |o: &&Owner| o.id);
        let results: Vec<Value> = (page.iter())
            .map(|o| json!({
                "id": o.id.to_string(), "email": o.email, "firstName": o.first, "lastName": o.last,
                "userId": o.user_id, "archived": false,
            }))
            .collect();
        Ok(with_paging(req, json!({ "results": results }), next))
    }

    fn pipelines_json(&self) -> Value {
        let describe = |(i, p): (usize, &Pipeline)| {
            let stages: Vec<Value> = (p.stages.iter().enumerate())
                .map(|(j, (id, label))| json!({ "id": id, "label": label, "displayOrder": j, "metadata": {}, "archived": false }))
                .collect();
            json!({ "id": p.id, "label": p.label, "displayOrder": i, "stages": stages, "archived": false })
        };
        json!({ "results": self.pipelines.iter().enumerate().map(describe).collect::<Vec<_>>() })
    }
}

// ---------------------------------------------------------------------------
// Writes: one validation path for create, update, upsert (API, seed, edit)
// ---------------------------------------------------------------------------

/// One invalid property value, as listed inside a VALIDATION_ERROR message.
struct Problem {
    code: &'static str,
    name: String,
    message: String,
}

impl Problem {
    fn new(code: &'static str, name: &str, message: String) -> Problem {
        Problem {
            code,
            name: name.into(),
            message,
        }
    }

    fn json(&self) -> String {
        let (message, code, name) = (json!(self.message), self.code, json!(self.name));
        format!(r#"{{"isValid":false,"message":{message},"error":"{code}","name":{name}}}"#)
    }
}

/// A validated write, ready to apply.
struct PlannedWrite {
    /// None creates a record.
    target: Option<u64>,
    /// Normalised values; "" clears.
    values: BTreeMap<String, String>,
    /// Records of other kinds to associate with.
    links: Vec<(Kind, u64)>,
}

impl HubSpotState {
    /// Validates one input of a create, update or upsert. `claims` holds
    /// ids and unique values taken by earlier inputs of the same batch.
    fn plan_write(
        &self,
        kind: Kind,
        op: WriteOp,
        input: &Value,
        claims: &mut BTreeSet<String>,
    ) -> Result<PlannedWrite, Failure> {
        let props = input.get("properties").and_then(Value::as_object);
        let mut props = props
            .cloned()
            .ok_or("each input needs a properties object")?;
        let id_property = input.get("idProperty").and_then(Value::as_str);
        let target = match op {
            WriteOp::Create => None,
            WriteOp::Update => {
                let key = input_id(input)?;
                let Some(id) = self.resolve(kind, key, id_property)? else {
                    let message = format!("Object not found. objectId: {key}");
                    return Err(Failure {
                        category: "OBJECT_NOT_FOUND",
                        message,
                    });
                };
                claim(claims, format!("id:{id}"), key)?;
                Some(id)
            }
            WriteOp::Upsert => {
                let key = input_id(input)?;
                let prop = id_property.filter(|p| *p != "hs_object_id");
                let prop = prop.ok_or("upsert needs an idProperty with hasUniqueValue")?;
                let found = self.resolve(kind, key, Some(prop))?;
                claim(
                    claims,
                    format!("id:{prop}:{}", key.trim().to_lowercase()),
                    key,
                )?;
                if let Some(id) = found {
                    claim(claims, format!("id:{id}"), key)?;
                }
                props.entry(prop).or_insert_with(|| json!(key));
                found
            }
        };
        let values = self.validate(kind, &props, target)?;
        self.check_unique(kind, &values, target, claims)?;
        let links = if op == WriteOp::Create {
            self.plan_links(kind, input)?
        } else {
            vec![]
        };
        Ok(PlannedWrite {
            target,
            values,
            links,
        })
    }

    /// Checks every property of one input; all problems go in one message.
    fn validate(
        &self,
        kind: Kind,
        props: &Map<String, Value>,
        target: Option<u64>,
    ) -> Result<BTreeMap<String, String>, Failure> {
        let existing = target.map(|id| &self.table(kind)[&id]);
        let kept = |name: &str| existing.and_then(|r| r.properties.get(name).cloned());
        let asked = props
            .get("pipeline")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty());
        let pipeline = asked
            .map(str::to_string)
            .or_else(|| kept("pipeline"))
            .unwrap_or("default".into());
        let mut values = BTreeMap::new();
        let mut problems = vec![];
        for (name, raw) in props {
            match self.check_value(kind, name, raw, &pipeline) {
                Ok(value) => _ = values.insert(name.clone(), value),
                Err(problem) => problems.push(problem),
            }
        }
        if kind == Kind::Deals {
            // A new deal without a pipeline goes to the default one; an
            // update that names none leaves the deal's pipeline alone.
            if target.is_none() {
                let chosen = values.entry("pipeline".into()).or_default();
                if chosen.is_empty() {
                    *chosen = pipeline.clone();
                }
            }
            // Moving a deal to another pipeline must not strand its stage.
            if let Some(stage) = kept("dealstage").filter(|_| !props.contains_key("dealstage")) {
                let def = self
                    .property(kind, "dealstage")
                    .expect("dealstage is built in");
                if !self
                    .options(def, Some(&pipeline))
                    .iter()
                    .any(|(v, _)| *v == stage)
                {
                    problems.push(option_problem("dealstage", &stage));
                }
            }
        }
        if problems.is_empty() {
            return Ok(values);
        }
        let listed: Vec<String> = problems.iter().map(Problem::json).collect();
        Err(format!("Property values were not valid: [{}]", listed.join(",")).into())
    }

    /// Validates and normalises one value by its property's type.
    fn check_value(
        &self,
        kind: Kind,
        name: &str,
        raw: &Value,
        pipeline: &str,
    ) -> Result<String, Problem> {
        let problem = |code, message: String| Err(Problem::new(code, name, message));
        let Some(def) = self.property(kind, name) else {
            return problem(
                "PROPERTY_DOESNT_EXIST",
                format!("Property \"{name}\" does not exist"),
            );
        };
        if def.read_only {
            return problem(
                "READ_ONLY_VALUE",
                format!("\"{name}\" is a read only property; its value cannot be set."),
            );
        }
        // The published schema types every value as a string; HubSpot may
        // coerce JSON numbers, the fake refuses them (the stricter reading).
        let Some(raw) = raw.as_str() else {
            return problem("INVALID_TYPE", format!("{raw} is not a string"));
        };
        let value = raw.trim();
        let allowed = || {
            self.options(def, Some(pipeline))
                .iter()
                .any(|(v, _)| v == raw)
        };
        match def.kind.as_str() {
            _ if raw.is_empty() => Ok(String::new()),
            "string" if name == "email" => match value.to_lowercase() {
                email if is_email(&email) => Ok(email),
                _ => problem("INVALID_EMAIL", format!("Email address {raw} is invalid")),
            },
            "number" if is_number(value) => Ok(value.to_string()),
            "number" => problem("INVALID_FLOAT", format!("{raw} was not a valid number.")),
            "bool" if value == "true" || value == "false" => Ok(value.to_string()),
            "bool" => problem("INVALID_BOOLEAN", format!("{raw} is not true or false.")),
            "date" => match parse_date_value(value) {
                Some(day) => Ok(day),
                None => problem(
                    "INVALID_DATE",
                    format!("{raw} is not YYYY-MM-DD or midnight UTC ms"),
                ),
            },
            "datetime" => match parse_instant(value) {
                Some(ms) => Ok(format_iso(ms)),
                None => problem(
                    "INVALID_DATETIME",
                    format!("{raw} is not epoch ms or ISO 8601"),
                ),
            },
            "enumeration" if allowed() => Ok(raw.to_string()),
            "enumeration" => Err(option_problem(name, raw)),
            _ => Ok(raw.to_string()),
        }
    }

    /// A unique value may be held by one live record only (case-insensitive).
    fn check_unique(
        &self,
        kind: Kind,
        values: &BTreeMap<String, String>,
        target: Option<u64>,
        claims: &mut BTreeSet<String>,
    ) -> Result<(), Failure> {
        let unique = |name: &str| self.property(kind, name).is_some_and(|d| d.unique);
        for (name, value) in values.iter().filter(|(n, v)| !v.is_empty() && unique(n)) {
            let lower = value.to_lowercase();
            let mut holders = self.holders(kind, name, value);
            // HubSpot keeps an address on one contact, as its email or as
            // one of its additional emails; taking another contact's
            // additional email is refused like taking its email (the
            // stricter reading: what HubSpot answers is not documented).
            if kind == Kind::Contacts && name == "email" {
                holders.extend(self.holders(kind, ADDITIONAL_EMAILS, value));
            }
            if let Some(holder) = holders.iter().find(|id| Some(**id) != target) {
                let message = format!(
                    "{} already exists. Existing ID: {}",
                    kind.info().singular,
                    holder
                );
                return Err(Failure {
                    category: "CONFLICT",
                    message,
                });
            }
            // Two inputs of one batch claiming the same value: what HubSpot
            // answers is undocumented; the fake refuses the later one.
            if !claims.insert(format!("unique:{name}:{lower}")) {
                let message = format!("Duplicate value in batch input: {name} = {value}");
                return Err(Failure {
                    category: "CONFLICT",
                    message,
                });
            }
        }
        Ok(())
    }

    /// `associations` on a create: `[{"to":{"id"},"types":[{"associationCategory","associationTypeId"}]}]`.
    /// The type id names the object `to.id` belongs to; only the default
    /// (unlabeled) types are modelled.
    fn plan_links(&self, kind: Kind, input: &Value) -> Result<Vec<(Kind, u64)>, Failure> {
        let Some(list) = input.get("associations") else {
            return Ok(vec![]);
        };
        let list = list.as_array().ok_or("associations must be an array")?;
        let link = |a: &Value| {
            let to = a
                .pointer("/to/id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let types = a
                .get("types")
                .and_then(Value::as_array)
                .filter(|t| t.len() == 1);
            let spec = |other: Kind| json!({ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": kind.association(other).1 });
            let other = KINDS
                .into_iter()
                .filter(|o| *o != kind)
                .find(|o| types.is_some_and(|t| t[0] == spec(*o)));
            let Some(other) = other else {
                return Err(format!(
                    "association types must be one default type of {}",
                    kind.info().name
                )
                .into());
            };
            let missing = || {
                format!(
                    "association target {to:?} is not a live {}",
                    other.info().singular
                )
            };
            let id = self
                .live_id(other, to)
                .ok_or_else(|| Failure::from(missing()))?;
            Ok((other, id))
        };
        list.iter().map(link).collect()
    }

    /// Writes a planned input; every write advances the modified time.
    /// Returns the id and whether the record was created.
    fn apply_write(&mut self, kind: Kind, plan: PlannedWrite) -> (u64, bool) {
        // Wall time, as HubSpot stamps: the records of one batch share a
        // modified time (which is why incremental paging must not rely on
        // it being unique); a record's own time still moves on every write.
        let now = now_ms();
        let (id, created) = match plan.target {
            Some(id) => (id, false),
            None => (self.alloc_id(), true),
        };
        let fresh = || FakeRecord {
            id: id.to_string(),
            properties: BTreeMap::new(),
            created_ms: now,
            updated_ms: now,
            archived: false,
        };
        self.change_or_create(kind, id, fresh, |record| {
            for (name, value) in plan.values {
                if value.is_empty() {
                    record.properties.remove(&name);
                } else {
                    record.properties.insert(name, value);
                }
            }
            record.updated_ms = now.max(record.updated_ms + i64::from(!created));
            let stamps = [
                (kind.builtins()[1], record.created_ms),
                (kind.builtins()[2], record.updated_ms),
            ];
            record
                .properties
                .insert("hs_object_id".into(), id.to_string());
            record
                .properties
                .extend(stamps.map(|(name, ms)| (name.to_string(), format_iso(ms))));
        });
        for (other, other_id) in plan.links {
            self.link(kind, id, other, other_id);
        }
        (id, created)
    }

    /// Reorders an answer's results (Fisher–Yates on `splitmix`), differently
    /// for every answer.
    fn shuffle(&mut self, results: &mut [Value]) {
        self.shuffles += 1;
        let mut seed = self.shuffles;
        for i in (1..results.len()).rev() {
            seed = splitmix(seed);
            results.swap(i, (seed % (i as u64 + 1)) as usize);
        }
    }

    /// One write outside HTTP (seed, edit).
    fn write_one(&mut self, kind: Kind, op: WriteOp, input: &Value) -> Result<String, Failure> {
        let plan = self.plan_write(kind, op, input, &mut BTreeSet::new())?;
        Ok(self.apply_write(kind, plan).0.to_string())
    }

    /// batch/create, batch/update, batch/upsert. Partial success (207) only
    /// when every input carries a distinct objectWriteTraceId; otherwise one
    /// bad input fails the batch and nothing is written.
    fn batch_write(&mut self, kind: Kind, op: WriteOp, req: &Request) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let trace = |i: &Value| match i.get("objectWriteTraceId") {
            None => Ok(None),
            Some(Value::String(t)) => Ok(Some(t.clone())),
            Some(_) => Err("objectWriteTraceId must be a string"),
        };
        let traces = inputs.iter().map(trace).collect::<Result<Vec<_>, _>>()?;
        // `SimplePublicObjectBatchInputForCreate` requires the list.
        if op == WriteOp::Create
            && !inputs
                .iter()
                .all(|i| i.get("associations").is_some_and(Value::is_array))
        {
            return Err("each create input needs an associations array (empty for none)".into());
        }
        let quirks = self.quirks;
        let partial = traces.iter().flatten().collect::<BTreeSet<_>>().len() == inputs.len();
        let started = format_iso(now_ms());
        let (mut claims, mut plans, mut errors) = (BTreeSet::new(), vec![], vec![]);
        for (input, trace) in inputs.iter().zip(traces) {
            match self.plan_write(kind, op, input, &mut claims) {
                Ok(plan) => plans.push((trace, plan)),
                Err(e) if partial => {
                    let context = match (quirks.no_trace_ids, input.get("id")) {
                        (false, _) => json!({ "objectWriteTraceId": [trace] }),
                        (true, Some(id)) => json!({ "ids": [id] }),
                        (true, None) => json!({}),
                    };
                    errors.push(json!({
                        "status": "error", "category": e.category, "message": e.message,
                        "context": context,
                    }))
                }
                Err(e) => return Err(e),
            }
        }
        let mut results = vec![];
        for (trace, plan) in plans {
            let names: Vec<String> = plan.values.keys().cloned().collect();
            let (id, created) = self.apply_write(kind, plan);
            let mut result = self.record_json(kind, &self.table(kind)[&id], &names, &[]);
            if let Some(trace) = trace.filter(|_| !quirks.no_trace_ids) {
                result["objectWriteTraceId"] = json!(trace);
            }
            if op == WriteOp::Upsert {
                result["new"] = json!(created);
            }
            results.push(result);
        }
        // Reversed (or shuffled) on purpose: clients must not match by position.
        results.reverse();
        if quirks.shuffled {
            self.shuffle(&mut results);
        }
        let status = match (errors.is_empty(), op) {
            (false, _) => 207,
            (true, WriteOp::Create) => 201,
            (true, _) => 200,
        };
        Ok(Response::json(
            status,
            &batch_body(started, results, errors),
        ))
    }

    /// batch/archive: 204 whether or not the ids exist.
    fn batch_archive(&mut self, kind: Kind, req: &Request) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let keys = inputs.iter().map(input_id).collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<u64> = keys
            .iter()
            .filter_map(|key| self.live_id(kind, key))
            .collect();
        for id in ids {
            self.change_record(kind, id, |r| r.archived = true);
        }
        Ok(Response::empty(204))
    }
}

fn claim(claims: &mut BTreeSet<String>, claim: String, key: &str) -> Result<(), Failure> {
    match claims.insert(claim) {
        true => Ok(()),
        false => Err(format!("Duplicate IDs found in batch input: [{key}]").into()),
    }
}

fn option_problem(name: &str, value: &str) -> Problem {
    Problem::new(
        "INVALID_OPTION",
        name,
        format!("{value} was not one of the allowed options"),
    )
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && !host.is_empty()
        && !host.starts_with('.')
        && !domain.contains(['@', ' '])
        && !domain.contains("..")
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_number(s: &str) -> bool {
    let numeric = |c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E');
    s.chars().all(numeric) && s.parse::<f64>().is_ok_and(f64::is_finite)
}

// ---------------------------------------------------------------------------
// Merges: `POST /crm/objects/{version}/{objectType}/merge`
// ---------------------------------------------------------------------------

/// The items of a semicolon-separated list property, trimmed, blanks dropped.
fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(';').map(str::trim).filter(|s| !s.is_empty())
}

impl HubSpotState {
    /// The endpoint: `PublicMergeInput` in, `SimplePublicObject` (the new
    /// record) out with 200. Both fields are required strings and nothing
    /// else is taken (the stricter reading of the schema).
    fn merge_endpoint(&mut self, kind: Kind, req: &Request) -> Answer {
        let body = req.json()?;
        let Some(fields) = body.as_object() else {
            return Err("the body must be a PublicMergeInput object".into());
        };
        let required = ["primaryObjectId", "objectIdToMerge"];
        if let Some(extra) = fields.keys().find(|k| !required.contains(&k.as_str())) {
            return Err(format!("Unrecognized field \"{extra}\" in PublicMergeInput").into());
        }
        let missing: Vec<&str> = (required.iter().copied())
            .filter(|f| !fields.get(*f).is_some_and(Value::is_string))
            .collect();
        if !missing.is_empty() {
            let missing = missing.join(", ");
            return Err(format!(
                "Invalid input JSON: Some required fields were not set or are not strings: [{missing}]"
            )
            .into());
        }
        let text = |f: &str| fields[f].as_str().unwrap_or_default().to_string();
        let id = self.merge_records(kind, &text(required[0]), &text(required[1]))?;
        let mut names = kind.default_properties();
        names.push(MERGED_IDS.into());
        if kind == Kind::Contacts {
            names.push(ADDITIONAL_EMAILS.into());
        }
        let record = &self.table(kind)[&id];
        Ok(Response::json(
            200,
            &self.record_json(kind, record, &names, &[]),
        ))
    }

    /// Merges two live records of `kind` into a NEW record and returns its
    /// id, as HubSpot does for contacts and companies since its 2025 change
    /// (and, by that change's own account, already did for other objects):
    /// - values: the primary's win; a property only the other has is kept;
    /// - `email` (contacts): the primary's, else the other's; every other
    ///   address of both records goes to `hs_additional_emails`;
    /// - `hs_merged_object_ids`: both old ids and the ids they had merged in;
    /// - associations of both move to the new record (once each);
    /// - both old ids resolve to the new record on GET and batch read, and
    ///   leave every list and search; writes by an old id are not found;
    /// - `createdate` is the older of the two (undocumented; the fake's
    ///   reading); the modified time is later than either record's.
    fn merge_records(&mut self, kind: Kind, primary: &str, other: &str) -> Result<u64, Failure> {
        let not_found = |key: &str| Failure {
            category: "OBJECT_NOT_FOUND",
            message: format!("Object not found. objectId: {key}"),
        };
        // An id merged away earlier is not live: merging by it is refused
        // (whether HubSpot follows the old id here is undocumented).
        let a = self
            .live_id(kind, primary)
            .ok_or_else(|| not_found(primary))?;
        let b = self.live_id(kind, other).ok_or_else(|| not_found(other))?;
        if a == b {
            let message = format!("Cannot merge {} {a} with itself", kind.info().singular);
            return Err(message.into());
        }
        let (primary_record, other_record) =
            (self.table(kind)[&a].clone(), self.table(kind)[&b].clone());
        let mut properties = other_record.properties.clone();
        properties.extend(primary_record.properties.clone());
        if kind == Kind::Deals && primary_record.properties.contains_key("pipeline") {
            // A stage belongs to its pipeline: the pair comes from the primary.
            properties.remove("dealstage");
            properties.extend(
                primary_record
                    .properties
                    .get("dealstage")
                    .map(|s| ("dealstage".into(), s.clone())),
            );
        }
        let mut merged_ids: Vec<u64> = [&primary_record, &other_record]
            .iter()
            .filter_map(|r| r.properties.get(MERGED_IDS))
            .flat_map(|raw| {
                split_list(raw)
                    .filter_map(|id| id.parse().ok())
                    .collect::<Vec<u64>>()
            })
            .chain([a, b])
            .collect();
        merged_ids.sort();
        merged_ids.dedup();
        let merged_ids: Vec<String> = merged_ids.iter().map(u64::to_string).collect();
        properties.insert(MERGED_IDS.into(), merged_ids.join(";"));
        if kind == Kind::Contacts {
            let email = properties.get("email").cloned().unwrap_or_default();
            let addresses = [&primary_record, &other_record].into_iter().flat_map(|r| {
                let own = r.properties.get("email").map(String::as_str);
                let extra = r
                    .properties
                    .get(ADDITIONAL_EMAILS)
                    .map_or("", String::as_str);
                own.into_iter()
                    .chain(split_list(extra))
                    .map(str::to_lowercase)
                    .collect::<Vec<_>>()
            });
            let mut additional: Vec<String> = vec![];
            for address in addresses {
                if address != email.to_lowercase() && !additional.contains(&address) {
                    additional.push(address);
                }
            }
            properties.remove(ADDITIONAL_EMAILS);
            if !additional.is_empty() {
                properties.insert(ADDITIONAL_EMAILS.into(), additional.join(";"));
            }
        }
        let now = now_ms()
            .max(primary_record.updated_ms + 1)
            .max(other_record.updated_ms + 1);
        let created_ms = primary_record.created_ms.min(other_record.created_ms);
        for old in [a, b] {
            self.reindex(kind, old, false);
            self.records.entry(kind).or_default().remove(&old);
        }
        let id = self.alloc_id();
        properties.insert("hs_object_id".into(), id.to_string());
        properties.insert(kind.builtins()[1].into(), format_iso(created_ms));
        properties.insert(kind.builtins()[2].into(), format_iso(now));
        let fresh = || FakeRecord {
            id: id.to_string(),
            properties,
            created_ms,
            updated_ms: now,
            archived: false,
        };
        self.change_or_create(kind, id, fresh, |_| ());
        for into in self.merged_into.values_mut() {
            if *into == a || *into == b {
                *into = id;
            }
        }
        self.merged_into.insert((kind, a), id);
        self.merged_into.insert((kind, b), id);
        for old in [a, b] {
            let Some(linked) = self.links.remove(&(kind, old)) else {
                continue;
            };
            for (other_kind, ids) in linked {
                for other_id in ids {
                    self.unlink(kind, old, other_kind, other_id);
                    self.link(kind, id, other_kind, other_id);
                }
            }
        }
        Ok(id)
    }
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

/// A property value made comparable: numbers and instants as numbers,
/// everything else as lowercase text.
#[derive(Debug, PartialEq, PartialOrd)]
enum Typed {
    Number(f64),
    Text(String),
}

fn typed(kind: &str, raw: &str) -> Option<Typed> {
    match kind {
        "number" => raw.trim().parse().ok().map(Typed::Number),
        "date" | "datetime" => parse_instant(raw.trim()).map(|ms| Typed::Number(ms as f64)),
        _ => Some(Typed::Text(raw.to_lowercase())),
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

struct Filter {
    property: String,
    kind: String,
    operator: String,
    target: Typed,
}

impl Filter {
    fn matches(&self, record: &FakeRecord) -> bool {
        let value = record
            .properties
            .get(&self.property)
            .filter(|v| !v.is_empty());
        let Some(value) = value.and_then(|v| typed(&self.kind, v)) else {
            return false;
        };
        match self.operator.as_str() {
            "GT" => value > self.target,
            _ => value >= self.target,
        }
    }
}

impl HubSpotState {
    fn search(&self, kind: Kind, body: &Value) -> Result<Value, Failure> {
        if body.get("query").is_some() {
            return Err("the fake does not model free-text query; use filterGroups".into());
        }
        // `PublicObjectSearchRequest` requires all five.
        let required = ["after", "filterGroups", "limit", "properties", "sorts"];
        if let Some(missing) = required.iter().find(|f| body.get(**f).is_none()) {
            return Err(format!("{missing} is required in a search request").into());
        }
        let limit = match body.get("limit") {
            None => DEFAULT_PAGE,
            Some(l) => (l.as_u64().map(|l| l as usize))
                .filter(|l| (1..=MAX_SEARCH_PAGE).contains(l))
                .ok_or(format!("limit must be from 1 to {MAX_SEARCH_PAGE}"))?,
        };
        let offset = match body.get("after") {
            None | Some(Value::Null) => 0,
            Some(a) => (scalar_string(a).and_then(|a| a.parse::<usize>().ok()))
                .ok_or(format!("invalid paging cursor {a}"))?,
        };
        if offset >= SEARCH_WINDOW {
            return Err(format!("search cannot page past {SEARCH_WINDOW} results").into());
        }
        let groups = self.parse_filter_groups(kind, body)?;
        let sort = self.parse_sort(kind, body)?;
        let names = body_properties(body, kind, false)?;
        let wanted = |r: &&FakeRecord| groups.iter().any(|g| g.iter().all(|f| f.matches(r)));
        let mut hits: Vec<&FakeRecord> = self
            .live(kind)
            .filter(|r| groups.is_empty() || wanted(r))
            .collect();
        if let Some((property, kind_name, descending)) = sort {
            let key = |r: &FakeRecord| {
                r.properties
                    .get(&property)
                    .and_then(|v| typed(&kind_name, v))
            };
            hits.sort_by(|a, b| {
                let order = key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal);
                if descending { order.reverse() } else { order }
            });
        }
        let (total, end) = (hits.len(), (offset + limit).min(hits.len()));
        let page = hits.get(offset..end).unwrap_or_default();
        let results: Vec<Value> = page
            .iter()
            .map(|r| self.record_json(kind, r, &names, &[]))
            .collect();
        let mut out = json!({ "total": total, "results": results });
        if end < total {
            out["paging"] = json!({ "next": { "after": end.to_string() } });
        }
        Ok(out)
    }

    fn parse_filter_groups(&self, kind: Kind, body: &Value) -> Result<Vec<Vec<Filter>>, Failure> {
        let groups = match body.get("filterGroups") {
            None => return Ok(vec![]),
            Some(Value::Array(groups)) => groups,
            Some(_) => return Err("filterGroups must be an array".into()),
        };
        let mut parsed = vec![];
        for group in groups {
            let filters = group
                .get("filters")
                .and_then(Value::as_array)
                .filter(|f| !f.is_empty());
            let filters = filters.ok_or("each filter group needs a non-empty filters array")?;
            if filters.len() > MAX_FILTERS_PER_GROUP {
                return Err(format!(
                    "a filter group holds at most {MAX_FILTERS_PER_GROUP} filters"
                )
                .into());
            }
            parsed.push(
                filters
                    .iter()
                    .map(|f| self.parse_filter(kind, f))
                    .collect::<Result<_, _>>()?,
            );
        }
        let total: usize = parsed.iter().map(Vec::len).sum();
        if groups.len() > MAX_FILTER_GROUPS || total > MAX_FILTERS {
            return Err(format!(
                "at most {MAX_FILTER_GROUPS} filter groups, {MAX_FILTERS} filters"
            )
            .into());
        }
        Ok(parsed)
    }

    fn parse_filter(&self, kind: Kind, filter: &Value) -> Result<Filter, Failure> {
        let property = filter
            .get("propertyName")
            .and_then(Value::as_str)
            .ok_or("filters need a propertyName")?;
        let def = self
            .property(kind, property)
            .ok_or(format!("Property \"{property}\" does not exist"))?;
        let operator = filter
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !OPERATORS.contains(&operator) {
            return Err(format!("operator {operator:?} is not one of {OPERATORS:?}").into());
        }
        let value = filter
            .get("value")
            .ok_or(format!("{operator} needs a value"))?;
        let target = scalar_string(value).and_then(|s| typed(&def.kind, &s));
        let target = target.ok_or(format!("invalid value for {property} ({})", def.kind))?;
        let (property, kind, operator) = (property.into(), def.kind.clone(), operator.into());
        Ok(Filter {
            property,
            kind,
            operator,
            target,
        })
    }

    /// At most one sort rule (HubSpot's documented limit, as we read it).
    /// Returns (property, its type, descending).
    fn parse_sort(
        &self,
        kind: Kind,
        body: &Value,
    ) -> Result<Option<(String, String, bool)>, Failure> {
        let sorts = match body.get("sorts") {
            None => return Ok(None),
            Some(Value::Array(sorts)) if sorts.len() <= 1 => sorts,
            Some(_) => return Err("sorts must be an array of at most one rule".into()),
        };
        let Some(sort) = sorts.first() else {
            return Ok(None);
        };
        let property = sort
            .get("propertyName")
            .and_then(Value::as_str)
            .ok_or("sorts need a propertyName")?;
        let def = self
            .property(kind, property)
            .ok_or(format!("Property \"{property}\" does not exist"))?;
        let descending = match sort.get("direction").and_then(Value::as_str) {
            None | Some("ASCENDING") => false,
            Some("DESCENDING") => true,
            Some(other) => {
                return Err(
                    format!("direction must be ASCENDING or DESCENDING, not {other}").into(),
                );
            }
        };
        Ok(Some((property.into(), def.kind.clone(), descending)))
    }
}

// ---------------------------------------------------------------------------
// Associations between any two of contacts, deals and companies, read and
// written from either end. Like object batches they take 1 to 100 inputs:
// HubSpot documents higher caps here; the fake keeps the stricter one.
// ---------------------------------------------------------------------------

impl HubSpotState {
    fn read_associations(&mut self, from: Kind, to: Kind, req: &Request) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let started = format_iso(now_ms());
        let (type_id, singular) = (from.association(to).1, from.info().singular.to_lowercase());
        let (mut results, mut errors) = (vec![], vec![]);
        for input in &inputs {
            let key = input_id(input)?;
            let record = self.live_id(from, key);
            let linked = record
                .map(|id| self.associated(from, id, to))
                .unwrap_or_default();
            let offset = match input.get("after") {
                None => 0,
                Some(a) => (a.as_str().and_then(|a| a.parse::<usize>().ok()))
                    .ok_or(format!("invalid paging cursor {a}"))?,
            };
            let page = self.quirks.association_page.unwrap_or(usize::MAX);
            let more = linked.len() > offset.saturating_add(page);
            let linked: Vec<u64> = linked.into_iter().skip(offset).take(page).collect();
            if linked.is_empty() && offset == 0 {
                errors.push(json!({
                    "status": "error", "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": format!("No {} are associated with {singular} {key}.", to.info().name),
                    "context": { "fromObjectId": [key] },
                }));
                continue;
            }
            let kinds =
                json!([{ "category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null }]);
            // `toObjectId` is a string in the schema.
            let to: Vec<Value> = linked
                .iter()
                .map(|c| json!({ "toObjectId": c.to_string(), "associationTypes": kinds }))
                .collect();
            let mut result = json!({ "from": { "id": key }, "to": to });
            if more {
                result["paging"] = json!({ "next": { "after": (offset + page).to_string() } });
            }
            results.push(result);
        }
        results.reverse();
        if self.quirks.shuffled {
            self.shuffle(&mut results);
        }
        let status = if errors.is_empty() { 200 } else { 207 };
        Ok(Response::json(
            status,
            &batch_body(started, results, errors),
        ))
    }

    /// associate/default (`"to":{"id"}`) and archive (`"to":[{"id"}]`). A
    /// missing record at either end fails the batch on create; archive
    /// ignores it. Associations never move a record's modified time.
    fn change_associations(&mut self, from: Kind, to: Kind, op: AssocOp, req: &Request) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let started = format_iso(now_ms());
        let mut pairs = vec![];
        for input in &inputs {
            let from_id = input.pointer("/from/id").and_then(Value::as_str);
            let to_ids: Option<Vec<&str>> = match (op, input.get("to")) {
                (AssocOp::Create, Some(to)) => {
                    to.get("id").and_then(Value::as_str).map(|id| vec![id])
                }
                (_, Some(Value::Array(to))) => to
                    .iter()
                    .map(|t| t.get("id").and_then(Value::as_str))
                    .collect(),
                _ => None,
            };
            let (Some(from_id), Some(to_ids)) = (from_id, to_ids.filter(|t| !t.is_empty())) else {
                return Err("each input needs from.id and to ids".into());
            };
            let record = self.live_id(from, from_id);
            let others: Vec<Option<u64>> = to_ids.iter().map(|c| self.live_id(to, c)).collect();
            match (record, others.iter().all(Option::is_some)) {
                (Some(record), true) => pairs.push((record, others.into_iter().flatten())),
                _ if op == AssocOp::Archive => {}
                _ => {
                    let (a, b) = (
                        from.info().singular.to_lowercase(),
                        to.info().singular.to_lowercase(),
                    );
                    return Err(format!("{a} {from_id} or {b} {to_ids:?} does not exist").into());
                }
            }
        }
        let type_id = from.association(to).1;
        let mut results = vec![];
        for (record, others) in pairs {
            for other in others {
                if op == AssocOp::Archive {
                    self.unlink(from, record, to, other);
                    continue;
                }
                self.link(from, record, to, other);
                results.push(json!({
                    "from": { "id": record.to_string() }, "to": { "id": other.to_string() },
                    "associationSpec": { "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id },
                }));
            }
        }
        Ok(match op {
            AssocOp::Archive => Response::empty(204),
            _ => Response::json(200, &batch_body(started, results, vec![])),
        })
    }
}

// ---------------------------------------------------------------------------
// Time: epoch ms <-> ISO 8601 (UTC), no chrono
// ---------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-23T03:47:22.123Z`
fn format_iso(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let t = ms.rem_euclid(DAY_MS);
    let (h, mi, s, milli) = (t / 3_600_000, t / 60_000 % 60, t / 1000 % 60, t % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `YYYY-MM-DD` → epoch ms at midnight UTC; rejects impossible dates.
fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days * DAY_MS)
}

/// Epoch ms, `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn parse_instant(s: &str) -> Option<i64> {
    if !s.is_empty()
        && s.trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        return s.parse().ok();
    }
    let (day, time) = s.split_once('T').unwrap_or((s, ""));
    let midnight = parse_day(day)?;
    if time.is_empty() {
        return Some(midnight);
    }
    let time = time.strip_suffix('Z')?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let parts: Vec<i64> = hms
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, sec] = parts[..] else { return None };
    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&sec) || frac.len() > 3
    {
        return None;
    }
    let millis: i64 = format!("{frac:0<3}").parse().ok()?;
    Some(midnight + ((h * 60 + mi) * 60 + sec) * 1000 + millis)
}

/// A `date` value: `YYYY-MM-DD` or epoch ms at UTC midnight, stored as `YYYY-MM-DD`.
fn parse_date_value(s: &str) -> Option<String> {
    let ms = if s.contains('-') {
        parse_day(s)?
    } else {
        s.parse::<i64>().ok()?
    };
    (ms.rem_euclid(DAY_MS) == 0).then(|| format_iso(ms)[..10].to_string())
}

// ---------------------------------------------------------------------------
// Self-tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::blocking::Client;

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
        let by_name =
            json!({ "inputs": [{ "idProperty": "dealname", "id": "x", "properties": {} }] });
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
        let free = json!({ "inputs": [{ "properties": { "email": "p3@example.com" }, "associations": [] }] });
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
        for (object, has_additional) in [("contacts", true), ("companies", false), ("deals", false)]
        {
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
}
