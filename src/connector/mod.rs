//! The one seam between the engine and a vendor: the `Connector` trait, and
//! `connect`, which builds the right implementation for a configured system.
//!
//! Connectors own every vendor URL and JSON shape. They hand the engine plain
//! `Record`s (mapped fields as canonical strings) and take plain writes back;
//! vendor differences such as batch sizes or upsert keys are `Capabilities`,
//! not branches in the engine. A connector never decides what to write.

pub mod http;
pub mod hubspot;
pub mod pipedrive;

use crate::config::{SystemConfig, SystemKind};
use crate::model::{ObjectKind, Owner, Record};
use anyhow::Result;
use std::collections::BTreeMap;

/// What a connector can do, so the engine can plan without vendor branches.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// The most records one create or update call takes.
    pub max_batch: usize,
    /// How far before the last pull an incremental pull starts, to catch
    /// records that reach the vendor's change index late.
    pub lookback_ms: i64,
}

/// A record to create. `key` correlates the result with the input.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub key: String,
    /// Field → value; empty values are not sent.
    pub fields: BTreeMap<String, String>,
}

/// Fields to change on an existing record; an empty value clears the field.
#[derive(Debug, Clone)]
pub struct RecordUpdate {
    pub key: String,
    pub id: String,
    pub fields: BTreeMap<String, String>,
    /// The values being replaced, as planned (a connector that writes a
    /// field as a relation needs the old one to remove it).
    pub previous: BTreeMap<String, String>,
}

/// What kind of values a field holds, for checking a mapping before any write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Date,
    Bool,
    /// One of a list of options (an enumeration, a stage, a pipeline).
    Choice,
    /// Other records (a deal's contacts or person).
    Relation,
}

/// A field as the account describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub kind: FieldType,
    pub read_only: bool,
    /// The values a `Choice` takes; empty when any value goes.
    pub options: Vec<String>,
    /// When the valid options depend on another field's value (a HubSpot
    /// deal's stages on its pipeline).
    pub depends_on: Option<Dependency>,
}

/// The options of a field, by the value of the field they depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub field: String,
    /// Taken when a record is written without that field.
    pub default: String,
    pub options: BTreeMap<String, Vec<String>>,
}

/// What a vendor requires of a write, known without asking the account, so
/// the planner can show an impossible write as `invalid` instead of sending
/// it. Fields are named as in the mapping file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteRules {
    /// A created record needs a value in at least one field of each group.
    pub required_on_create: Vec<Required>,
    /// An update may not leave every field of a group empty; a group of one
    /// is a field the vendor offers no way to clear.
    pub uncleared: Vec<Required>,
}

/// A group of fields that must keep a value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    pub fields: Vec<String>,
    pub reason: String,
}

/// The write rules of an object of a kind of system. Static (no request), so
/// an offline diff plans with them too.
pub fn write_rules(kind: SystemKind, object: ObjectKind) -> WriteRules {
    match kind {
        // HubSpot clears any property by writing an empty string; what it
        // requires on create is not described here yet, so a HubSpot create
        // missing a required property still fails as a request.
        SystemKind::Hubspot => WriteRules::default(),
        SystemKind::Pipedrive => pipedrive::write_rules(object),
    }
}

/// A record to delete. `key` correlates the result with the input.
#[derive(Debug, Clone)]
pub struct RecordRef {
    pub key: String,
    pub id: String,
}

/// The result of one record's write: the record as the server now holds it
/// (restricted to the fields asked for), or the server's reason for refusing.
#[derive(Debug, Clone)]
pub struct WriteResult {
    pub key: String,
    pub outcome: Result<Record, String>,
}

/// One configured CRM account.
///
/// Errors returned as `Err` are whole-call failures (auth, outage, rate limit);
/// a record the API refuses inside a call is an `Err` in its `WriteResult`.
pub trait Connector: Send + Sync {
    /// The system's name in the mapping file.
    fn system(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    /// Every live record of `object`, with `fields` and the modified time.
    /// `progress` is called with the running count after each page.
    fn list(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(u64),
    ) -> Result<Vec<Record>>;

    /// The live records of `object` modified at or after `since_ms`, for an
    /// incremental pull. Deletions are not reported: only a full `list`
    /// shows that a record is gone.
    fn list_changed(
        &self,
        object: ObjectKind,
        fields: &[String],
        since_ms: i64,
        progress: &dyn Fn(u64),
    ) -> Result<Vec<Record>>;

    /// The records with these ids that still exist (at most `max_batch`).
    fn read(&self, object: ObjectKind, ids: &[String], fields: &[String]) -> Result<Vec<Record>>;

    /// Creates records (at most `max_batch`). Where the vendor offers an
    /// upsert by a unique property, creates use it, so a retried create can
    /// never make a second record.
    fn create(
        &self,
        object: ObjectKind,
        records: &[NewRecord],
        fields: &[String],
    ) -> Result<Vec<WriteResult>>;

    /// Updates records (at most `max_batch`).
    fn update(
        &self,
        object: ObjectKind,
        records: &[RecordUpdate],
        fields: &[String],
    ) -> Result<Vec<WriteResult>>;

    /// Deletes records (at most `max_batch`): HubSpot archives them,
    /// Pipedrive deletes them. A record already gone counts as deleted.
    fn delete(&self, object: ObjectKind, records: &[RecordRef]) -> Result<Vec<WriteResult>>;

    /// The account's users who can own records.
    fn owners(&self) -> Result<Vec<Owner>>;

    /// Describes fields from the account's metadata (fetched once per run);
    /// `None` for a field the account does not have.
    fn describe(&self, object: ObjectKind, fields: &[String]) -> Result<Vec<Option<FieldInfo>>>;

    /// The (value, label) options of a field (stages, pipelines, enumeration
    /// options), for value maps by label. A field without options is a
    /// mapping error.
    fn labels(&self, object: ObjectKind, field: &str) -> Result<Vec<(String, String)>>;

    /// Requests made so far, by endpoint.
    fn request_counts(&self) -> BTreeMap<String, u64>;
}

/// Builds the connector for a configured system; reads its token.
pub fn connect(system: &SystemConfig) -> Result<Box<dyn Connector>> {
    let token = system.token()?;
    match system.kind {
        SystemKind::Hubspot => Ok(Box::new(hubspot::HubSpot::new(system, &token)?)),
        SystemKind::Pipedrive => Ok(Box::new(pipedrive::Pipedrive::new(system, &token)?)),
    }
}

/// Matches write results to the keys that were sent: every key gets exactly
/// one result, and a key the server said nothing about is a failure rather
/// than a silent success.
pub fn complete_results(
    keys: &[String],
    mut results: Vec<WriteResult>,
    unanswered: &str,
) -> Vec<WriteResult> {
    let mut by_key: BTreeMap<String, WriteResult> = BTreeMap::new();
    for r in results.drain(..) {
        by_key.entry(r.key.clone()).or_insert(r);
    }
    keys.iter()
        .map(|k| {
            by_key.remove(k).unwrap_or_else(|| WriteResult {
                key: k.clone(),
                outcome: Err(unanswered.to_string()),
            })
        })
        .collect()
}
