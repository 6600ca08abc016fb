//! What one fake HubSpot account holds: the object kinds and what differs
//! between them, owners, pipelines, the records with their index of unique
//! values and their associations, and `Failure`, the refusal every handler
//! answers with in HubSpot's error body. It must not parse requests.

use super::DEFAULT_DAILY;
use super::merges::split_list;
use super::metadata::{default_pipeline, default_schema};
use super::routes::Limits;
use super::{ADDITIONAL_EMAILS, ALL_SCOPES, FakeRecord, PropertyDef, Quirks};
use crate::support::server::Response;
use serde_json::json;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Kind {
    Contacts,
    Deals,
    Companies,
    /// Notes (object type 0-46): records attached to the others through
    /// associations.
    Notes,
}

pub(super) const KINDS: [Kind; 4] = [Kind::Contacts, Kind::Deals, Kind::Companies, Kind::Notes];

/// What differs between the two object types.
pub(super) struct KindInfo {
    pub(super) name: &'static str,
    pub(super) singular: &'static str,
    /// The modified-time property.
    pub(super) modified: &'static str,
    /// Returned when a read names no properties (HubSpot's documented defaults).
    pub(super) defaults: &'static [&'static str],
    pub(super) read_scope: &'static str,
    pub(super) write_scope: &'static str,
    /// Reads its properties (and, for deals, pipelines).
    pub(super) schema_scope: &'static str,
    /// Creates and changes its properties.
    pub(super) schema_write_scope: &'static str,
    /// The information group every account has for its properties.
    pub(super) default_group: &'static str,
}

pub(super) const CONTACTS: KindInfo = KindInfo {
    name: "contacts",
    singular: "Contact",
    modified: "lastmodifieddate",
    defaults: &["email", "firstname", "lastname"],
    read_scope: "crm.objects.contacts.read",
    write_scope: "crm.objects.contacts.write",
    schema_scope: "crm.schemas.contacts.read",
    schema_write_scope: "crm.schemas.contacts.write",
    default_group: "contactinformation",
};

pub(super) const DEALS: KindInfo = KindInfo {
    name: "deals",
    singular: "Deal",
    modified: "hs_lastmodifieddate",
    defaults: &["dealname", "amount", "closedate", "pipeline", "dealstage"],
    read_scope: "crm.objects.deals.read",
    write_scope: "crm.objects.deals.write",
    schema_scope: "crm.schemas.deals.read",
    schema_write_scope: "crm.schemas.deals.write",
    default_group: "dealinformation",
};

pub(super) const COMPANIES: KindInfo = KindInfo {
    name: "companies",
    singular: "Company",
    modified: "hs_lastmodifieddate",
    defaults: &["name", "domain"],
    read_scope: "crm.objects.companies.read",
    write_scope: "crm.objects.companies.write",
    schema_scope: "crm.schemas.companies.read",
    schema_write_scope: "crm.schemas.companies.write",
    default_group: "companyinformation",
};

/// Notes take the scopes of the records they are attached to; the fake
/// asks for the contacts' (a note API call names no object of its own).
/// https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide
pub(super) const NOTES: KindInfo = KindInfo {
    name: "notes",
    singular: "Note",
    modified: "hs_lastmodifieddate",
    defaults: &["hs_note_body", "hs_timestamp"],
    read_scope: "crm.objects.contacts.read",
    write_scope: "crm.objects.contacts.write",
    schema_scope: "crm.schemas.contacts.read",
    schema_write_scope: "crm.schemas.contacts.write",
    default_group: "engagement",
};

/// The longest `hs_note_body` HubSpot takes ("Note text (max 65,536
/// characters)", notes guide).
pub(super) const NOTE_BODY_MAX: usize = 65_536;

impl Kind {
    pub(super) fn info(self) -> &'static KindInfo {
        match self {
            Kind::Contacts => &CONTACTS,
            Kind::Deals => &DEALS,
            Kind::Companies => &COMPANIES,
            Kind::Notes => &NOTES,
        }
    }

    pub(super) fn parse(name: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.info().name == name)
    }

    pub(super) fn expect(name: &str) -> Kind {
        Kind::parse(name).unwrap_or_else(|| {
            panic!("FakeHubSpot has contacts, deals, companies and notes, not {name}")
        })
    }

    /// The label and type id of the default (unlabeled) association from
    /// this kind to `to`, HubSpot's published ids. For contact→company and
    /// deal→company HubSpot also has a "primary" type (1 and 5); the
    /// default association API makes the unlabeled one.
    pub(super) fn association(self, to: Kind) -> (&'static str, u64) {
        match (self, to) {
            (Kind::Contacts, Kind::Deals) => ("contact_to_deal", 4),
            (Kind::Deals, Kind::Contacts) => ("deal_to_contact", 3),
            (Kind::Contacts, Kind::Companies) => ("contact_to_company_unlabeled", 279),
            (Kind::Companies, Kind::Contacts) => ("company_to_contact_unlabeled", 280),
            (Kind::Deals, Kind::Companies) => ("deal_to_company_unlabeled", 341),
            (Kind::Companies, Kind::Deals) => ("company_to_deal_unlabeled", 342),
            // HubSpot's published default types for notes
            // (https://developers.hubspot.com/docs/api-reference/crm-associations-v4/guide).
            (Kind::Notes, Kind::Contacts) => ("note_to_contact", 202),
            (Kind::Contacts, Kind::Notes) => ("contact_to_note", 201),
            (Kind::Notes, Kind::Companies) => ("note_to_company", 190),
            (Kind::Companies, Kind::Notes) => ("company_to_note", 189),
            (Kind::Notes, Kind::Deals) => ("note_to_deal", 214),
            (Kind::Deals, Kind::Notes) => ("deal_to_note", 213),
            _ => panic!("no association from {self:?} to itself"),
        }
    }

    pub(super) fn builtins(self) -> [&'static str; 3] {
        ["hs_object_id", "createdate", self.info().modified]
    }

    pub(super) fn default_properties(self) -> Vec<String> {
        self.info().defaults.iter().map(|s| s.to_string()).collect()
    }
}

pub(super) struct Owner {
    pub(super) id: u64,
    pub(super) user_id: u64,
    pub(super) email: String,
    pub(super) first: String,
    pub(super) last: String,
}

pub(super) struct Pipeline {
    pub(super) id: String,
    pub(super) label: String,
    pub(super) stages: Vec<(String, String)>,
}

/// (kind, unique property, lowercased value) → live ids holding it.
pub(super) type UniqueIndex = HashMap<(Kind, String, String), Vec<u64>>;

/// Everything one fake account holds; lives behind the server's mutex.
pub struct HubSpotState {
    pub(super) token: String,
    pub(super) instance: u64,
    pub(super) scopes: Vec<String>,
    pub(super) next_id: u64,
    pub(super) correlation_seq: u64,
    pub(super) schemas: BTreeMap<Kind, Vec<PropertyDef>>,
    pub(super) records: BTreeMap<Kind, BTreeMap<u64, FakeRecord>>,
    pub(super) owners: Vec<Owner>,
    pub(super) pipelines: Vec<Pipeline>,
    /// Associations, kept in both directions: (kind, id) → other kind → ids.
    pub(super) links: BTreeMap<(Kind, u64), BTreeMap<Kind, BTreeSet<u64>>>,
    pub(super) limits: Limits,
    pub(super) unknown_routes: Vec<String>,
    /// Answers the published schema allows that crmsync must survive.
    pub(super) quirks: Quirks,
    /// Seeds the order of shuffled answers (advances per answer).
    pub(super) shuffles: u64,
    /// (kind, unique property, lowercased value) → live ids holding it, in
    /// id order: a batch of upserts checks uniqueness by lookup instead of
    /// scanning the account once per input (the benchmark writes 10,000
    /// contacts). Built on first use, kept in step by `change_or_create`,
    /// dropped when a property is defined.
    pub(super) unique_index: RefCell<Option<UniqueIndex>>,
    /// (kind, merged-away id) → the id of the record it was merged into,
    /// always the newest one (a chain of merges is kept one hop long).
    pub(super) merged_into: BTreeMap<(Kind, u64), u64>,
}

impl HubSpotState {
    pub(super) fn new(token: &str, instance: u64) -> HubSpotState {
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
                daily: DEFAULT_DAILY,
                daily_used: 0,
                day: 0,
            },
            unknown_routes: vec![],
            quirks: Quirks::default(),
            shuffles: 0,
        }
    }

    pub(super) fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    pub(super) fn table(&self, kind: Kind) -> &BTreeMap<u64, FakeRecord> {
        &self.records[&kind]
    }

    /// Changes (or, given `fresh`, creates) one record: the only way
    /// records change, so the unique-value index stays in step.
    pub(super) fn change_or_create<R>(
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

    pub(super) fn change_record<R>(
        &mut self,
        kind: Kind,
        id: u64,
        change: impl FnOnce(&mut FakeRecord) -> R,
    ) -> R {
        self.change_or_create(kind, id, || panic!("no {kind:?} {id}"), change)
    }

    /// Adds a live record's unique values to the index (if it is built), or
    /// takes them out.
    pub(super) fn reindex(&self, kind: Kind, id: u64, add: bool) {
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
    pub(super) fn unique_keys(
        &self,
        kind: Kind,
        record: &FakeRecord,
    ) -> Vec<(Kind, String, String)> {
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
    pub(super) fn holders(&self, kind: Kind, name: &str, value: &str) -> Vec<u64> {
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

    pub(super) fn live(&self, kind: Kind) -> impl Iterator<Item = &FakeRecord> {
        self.table(kind).values().filter(|r| !r.archived)
    }

    pub(super) fn live_id(&self, kind: Kind, id: &str) -> Option<u64> {
        let id = id.parse().ok()?;
        self.table(kind)
            .get(&id)
            .filter(|r| !r.archived)
            .map(|_| id)
    }

    pub(super) fn property(&self, kind: Kind, name: &str) -> Option<&PropertyDef> {
        self.schemas[&kind].iter().find(|d| d.name == name)
    }

    /// Live records of `other` associated with this one, in id order.
    pub(super) fn associated(&self, kind: Kind, id: u64, other: Kind) -> Vec<u64> {
        let ids = self.links.get(&(kind, id)).and_then(|l| l.get(&other));
        ids.into_iter()
            .flatten()
            .copied()
            .filter(|i| self.live_id(other, &i.to_string()).is_some())
            .collect()
    }

    /// Associates two records, both ways.
    pub(super) fn link(&mut self, kind: Kind, id: u64, other: Kind, other_id: u64) {
        let mut add = |(k, i), (o, oi)| {
            let linked = self.links.entry((k, i)).or_default();
            linked.entry(o).or_default().insert(oi);
        };
        add((kind, id), (other, other_id));
        add((other, other_id), (kind, id));
    }

    /// Removes an association, both ways.
    pub(super) fn unlink(&mut self, kind: Kind, id: u64, other: Kind, other_id: u64) {
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
    pub(super) fn options(
        &self,
        def: &PropertyDef,
        pipeline: Option<&str>,
    ) -> Vec<(String, String)> {
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
    pub(super) fn correlation_id(&mut self) -> String {
        self.correlation_seq += 1;
        let a = splitmix(self.instance << 32 ^ self.correlation_seq);
        let b = splitmix(a);
        let variant = (b >> 48) & 0x3fff | 0x8000;
        let (a1, a2, a3, b1) = (a >> 32, (a >> 16) & 0xffff, a & 0xfff, b & 0xffff_ffff_ffff);
        format!("{a1:08x}-{a2:04x}-4{a3:03x}-{variant:04x}-{b1:012x}")
    }

    pub(super) fn error(&mut self, status: u16, category: &str, message: &str) -> Response {
        let correlation_id = self.correlation_id();
        let body = json!({
            "status": "error", "message": message, "correlationId": correlation_id, "category": category,
        });
        Response::json(status, &body)
    }
}

pub(super) fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Why a request (or one input of a batch) is refused.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) category: &'static str,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            category: "VALIDATION_ERROR",
            message: message.into(),
        }
    }

    pub(super) fn status(&self) -> u16 {
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

pub(super) type Answer = Result<Response, Failure>;
