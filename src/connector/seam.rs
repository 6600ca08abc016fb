//! The `Connector` trait, the one seam between the engine and a vendor, and
//! the record types that cross it: what to write (`NewRecord`,
//! `RecordUpdate`, `RecordRef`, `MergeRequest`), what became of it
//! (`WriteResult`, `WriteOutcome`), how far a listing has come (`Listed`) and
//! what a connector can do (`Capabilities`).
//!
//! It holds no vendor code and builds no connector (`connect` in `mod.rs`
//! does): the vendors import it, it imports none of them. The metadata types
//! the trait's describing methods return are `catalog`'s.

use super::catalog::{FieldDescription, FieldInfo, OptionSpec, PropertySpec, SchemaOutcome};
use super::http::ApiError;
use crate::model::{ObjectKind, Owner, Record};
use crate::scope::Scope;
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

/// Two records of one account to merge into one: `kept`'s values win.
/// `key` correlates the result with the input.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    pub key: String,
    pub kept: String,
    pub merged: String,
}

/// A record to delete. `key` correlates the result with the input.
#[derive(Debug, Clone)]
pub struct RecordRef {
    pub key: String,
    pub id: String,
}

/// The result of one record's write, matched to its input by `key`.
#[derive(Debug, Clone)]
pub struct WriteResult {
    pub key: String,
    pub outcome: WriteOutcome,
}

/// What became of one record's write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Applied: the record as the server now holds it (restricted to the
    /// fields asked for).
    Written(Record),
    /// The server named this record as refused, with its reason: nothing
    /// was written.
    Refused(String),
    /// The server may have applied it, but its answer does not say (no
    /// result for this input, a result that cannot be matched, an answer
    /// cut off or unreadable). A create in this state is looked for by the
    /// next run instead of being made again.
    Unknown(String),
    /// Never sent: a signal stopped the run before this record's request
    /// went out, so nothing was written and the next run plans it again.
    NotSent,
}

impl WriteOutcome {
    /// The written record, if the write is known to be applied.
    pub fn written(&self) -> Option<&Record> {
        match self {
            WriteOutcome::Written(record) => Some(record),
            _ => None,
        }
    }

    /// The outcome of a write whose request an interrupt stopped, if `error`
    /// is such a stop: not sent, or unknown when an earlier attempt may
    /// have reached the server.
    pub fn of_interrupted(error: &ApiError) -> Option<WriteOutcome> {
        match error {
            ApiError::Interrupted {
                maybe_applied: false,
                ..
            } => Some(WriteOutcome::NotSent),
            ApiError::Interrupted { .. } => Some(WriteOutcome::Unknown(
                "the run was interrupted before retrying it; the next run finds out whether it was written"
                    .into(),
            )),
            _ => None,
        }
    }
}

/// A write call that a whole-call failure stopped part-way, where that
/// failure surely wrote nothing (a daily limit or a rate limit refused the
/// next request, auth failed): the outcomes of the records handled before
/// it, the rest `NotSent`, and the failure. The applier settles what was
/// done, then stops the run with `cause`.
#[derive(Debug)]
pub struct StoppedWrite {
    pub results: Vec<WriteResult>,
    pub cause: anyhow::Error,
}

impl std::fmt::Display for StoppedWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sent = self
            .results
            .iter()
            .filter(|r| r.outcome != WriteOutcome::NotSent)
            .count();
        write!(f, "stopped after {sent} of {} records", self.results.len())
    }
}

impl std::error::Error for StoppedWrite {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.cause.as_ref())
    }
}

impl StoppedWrite {
    /// Returns true if and only if `error` surely applied nothing of the
    /// request it failed (so the records after it can be taken as not
    /// sent): a daily limit, a rate limit, auth.
    pub fn wrote_nothing(error: &anyhow::Error) -> bool {
        error.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<ApiError>(),
                Some(
                    ApiError::DailyLimit { .. }
                        | ApiError::RateLimited { .. }
                        | ApiError::Unauthorized { .. }
                        | ApiError::Forbidden { .. }
                )
            )
        })
    }
}

/// The kinds of write a plan sends, for what they cost at a vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WriteKind {
    Create,
    Update,
    Associate,
    Delete,
    Merge,
    /// A property created, or given options (`schema = "create"`).
    Property,
}

/// What some requests cost: how many, and the tokens of a vendor's daily
/// budget they spend (0 where the vendor has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub requests: u64,
    pub tokens: u64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Cost) {
        self.requests += other.requests;
        self.tokens += other.tokens;
    }
}

/// A system's `daily_tokens` cap and what crmsync spent of it today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyTokens {
    pub cap: u64,
    pub spent_today: u64,
}

/// How far a listing has come: the records read so far, and how many there
/// are where the vendor's answer says so at no extra cost (HubSpot search's
/// `total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub done: u64,
    pub total: Option<u64>,
}

impl Listed {
    /// Records read so far, with no total known.
    pub fn so_far(done: usize) -> Listed {
        Listed {
            done: done as u64,
            total: None,
        }
    }
}

/// One configured CRM account.
///
/// Errors returned as `Err` are whole-call failures (auth, outage, rate limit);
/// a record the API refuses inside a call is `Refused` in its `WriteResult`,
/// and one whose fate the answer leaves open is `Unknown`.
pub trait Connector: Send + Sync {
    /// The system's name in the mapping file.
    fn system(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    /// Every live record of `object`, with `fields` and the modified time.
    /// `progress` is called with the running count after each page. The
    /// records are `list_pages`' pages end to end; a vendor overrides this
    /// where reading the listing whole saves requests.
    fn list(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        self.list_pages(object, fields, progress, &mut |page| {
            records.extend(page);
            Ok(())
        })?;
        Ok(records)
    }

    /// Every live record of `object`, as `list` gives them, handed to
    /// `on_page` one page at a time as the listing goes (in the vendor's
    /// order), so the caller can work on a page while the next is read.
    /// Each page's records are whole (relations included); an error from
    /// `on_page` stops the listing.
    fn list_pages(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(Listed),
        on_page: &mut dyn FnMut(Vec<Record>) -> Result<()>,
    ) -> Result<()>;

    /// The live records of `object` modified at or after `since_ms`, for an
    /// incremental pull. Deletions are not reported: only a full `list`
    /// shows that a record is gone.
    fn list_changed(
        &self,
        object: ObjectKind,
        fields: &[String],
        since_ms: i64,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>>;

    /// The records of `object` the vendor narrows to those meeting any of
    /// `scopes` (every one, or those modified at or after `since_ms`), for
    /// a scoped pull. The answer may hold records outside them where the
    /// vendor cannot take a condition (the caller checks every field
    /// condition itself), but a saved filter's members are exactly the
    /// records listed under it.
    fn list_selected(
        &self,
        object: ObjectKind,
        fields: &[String],
        scopes: &[&Scope],
        since_ms: Option<i64>,
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>>;

    /// Returns true if and only if `list_selected`'s full listing of
    /// `object` under `scopes` is narrowed at the vendor (a search, a saved
    /// filter, a list parameter); false where the vendor lists the object
    /// whole and every condition is checked after the read.
    fn narrows(&self, object: ObjectKind, scopes: &[&Scope]) -> bool;

    /// The records of `object`, in scope or not, whose `field` holds one
    /// of `values` (match keys: trimmed, lowercased), for the partners out
    /// of a pair's scope that would-be creates must not duplicate. The
    /// answer may hold other records (the caller keeps those whose match
    /// values are asked for). By default the whole listing, unnarrowed:
    /// one read of every record, however many values are asked; a vendor
    /// overrides it where a search by value costs less.
    fn lookup(
        &self,
        object: ObjectKind,
        fields: &[String],
        field: &str,
        values: &[String],
    ) -> Result<Vec<Record>> {
        let _ = (field, values);
        self.list(object, fields, &|_| {})
    }

    /// Checks a saved filter named by a scope against the account: `None`
    /// when it exists for `object`, else what is wrong, in words.
    fn check_saved_filter(&self, object: ObjectKind, id: &str) -> Result<Option<String>>;

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

    /// Merges records of one account (at most `max_batch` merges): each
    /// request's `merged` record goes into its `kept` one, whose values win.
    /// A written outcome holds the resulting record, which may have a new
    /// id (HubSpot gives a merge's result one; Pipedrive keeps `kept`'s).
    fn merge(
        &self,
        object: ObjectKind,
        merges: &[MergeRequest],
        fields: &[String],
    ) -> Result<Vec<WriteResult>>;

    /// What became of records a full listing no longer holds: for each id
    /// of `ids` that was merged into a live record, (that id, the record it
    /// is now part of). Ids the vendor answers nothing for are left out:
    /// as far as it tells, they were deleted.
    fn resolve_merged(
        &self,
        object: ObjectKind,
        ids: &[String],
        fields: &[String],
    ) -> Result<Vec<(String, Record)>>;

    /// The account's users who can own records.
    fn owners(&self) -> Result<Vec<Owner>>;

    /// Describes fields from the account's metadata (fetched once per run);
    /// `None` for a field the account does not have.
    fn describe(&self, object: ObjectKind, fields: &[String]) -> Result<Vec<Option<FieldInfo>>>;

    /// The (value, label) options of a field (stages, pipelines, enumeration
    /// options), for value maps by label. A field without options is a
    /// mapping error.
    fn labels(&self, object: ObjectKind, field: &str) -> Result<Vec<(String, String)>>;

    /// Every field of `object` a mapping file can name, with labels, kinds
    /// and options (stages grouped by pipeline), for `init`. Reads metadata
    /// only.
    fn catalog(&self, object: ObjectKind) -> Result<Vec<FieldDescription>>;

    /// The definitions of `fields` as `schema = "create"` copies them to
    /// another account (from the metadata, fetched once per run); `None`
    /// for a field the account does not have.
    fn properties(
        &self,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<Vec<Option<PropertySpec>>>;

    /// Creates a property like `spec`, named `spec.name` (with its label,
    /// kind, options in order, description and group). A create whose
    /// answer was lost, or that finds a property of that name and kind
    /// already there, is `Done`: a property is never made twice. A
    /// refusal of the vendor is `Refused`; `Err` is a whole-call failure.
    fn create_property(&self, object: ObjectKind, spec: &PropertySpec) -> Result<SchemaOutcome>;

    /// Adds `options` to the field's own (which are kept, in their order,
    /// and never relabelled).
    fn add_options(
        &self,
        object: ObjectKind,
        field: &str,
        options: &[OptionSpec],
    ) -> Result<SchemaOutcome>;

    /// Keys of fields an earlier run created, by the mapping file's name
    /// for them (where the vendor names fields by a generated key): the
    /// name resolves to its field from then on. Vendors whose keys are the
    /// names take nothing from it.
    fn learn_keys(&self, _object: ObjectKind, _keys: &BTreeMap<String, String>) {}

    /// Requests made so far, by endpoint.
    fn request_counts(&self) -> BTreeMap<String, u64>;

    /// Tokens of the vendor's daily budget the requests so far spent (0
    /// where the vendor has no such budget).
    fn tokens_spent(&self) -> u64 {
        0
    }

    /// The system's `daily_tokens` cap and what crmsync spent of it today,
    /// where a cap is set.
    fn daily_tokens(&self) -> Result<Option<DailyTokens>> {
        Ok(None)
    }
}
