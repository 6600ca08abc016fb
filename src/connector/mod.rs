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
use crate::model::{ObjectKind, Owner, Record, values_equivalent};
use anyhow::Result;
use http::ApiError;
use std::collections::{BTreeMap, HashMap};

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
    /// Ids of other records, of this kind (a deal's contacts or person, a
    /// contact's company).
    Relation(ObjectKind),
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

/// What a field stands for when every CRM has one like it, so `init` can
/// pair fields whose names differ between vendors (HubSpot `dealname`,
/// Pipedrive `title`) and choose their value maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Email,
    FirstName,
    LastName,
    Phone,
    DealName,
    Amount,
    CloseDate,
    /// A company's or an organisation's name.
    CompanyName,
    /// A company's web domain (or website), which pairs companies.
    Domain,
    /// The id of the user who owns the record.
    Owner,
    /// A deal's pipeline.
    Pipeline,
    /// A deal's stage; its options are grouped by pipeline.
    Stage,
    /// Ids of records of another object (a deal's contact or person);
    /// `many` when it holds several, joined by `;`.
    Related {
        object: ObjectKind,
        many: bool,
    },
}

/// A field of an object as the account describes it, for writing a mapping
/// file (`init`): everything `describe` tells, plus labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    /// The name the mapping file uses for it.
    pub name: String,
    /// The name people see in the vendor's web app.
    pub label: String,
    pub kind: FieldType,
    /// A choice that holds several options at once (joined by `;`).
    pub multiple: bool,
    /// The options of a `Choice`; empty when any value goes.
    pub options: Vec<OptionDescription>,
    pub read_only: bool,
    /// Made by the account's users rather than the vendor.
    pub is_custom: bool,
    pub meaning: Option<Meaning>,
}

/// One option of a field, as its value is written and its label is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDescription {
    pub value: String,
    pub label: String,
    /// The value of the field this option belongs under: a stage's pipeline.
    pub group: Option<String>,
}

pub use crate::vendor::{Required, WriteRules};

/// The write rules of an object of a kind of system (the vendor profile's).
pub fn write_rules(kind: SystemKind, object: ObjectKind) -> WriteRules {
    kind.write_rules(object)
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
    /// `progress` is called with the running count after each page.
    fn list(
        &self,
        object: ObjectKind,
        fields: &[String],
        progress: &dyn Fn(Listed),
    ) -> Result<Vec<Record>>;

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

    /// Requests made so far, by endpoint.
    fn request_counts(&self) -> BTreeMap<String, u64>;
}

/// One page of a listing: its items, and the cursor of the next page where
/// the vendor says there is one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The one paging loop both vendors list through: `fetch` asks for the page
/// at a cursor (none: the first) and `on_page` takes each page's items. A
/// cursor that does not advance is a malformed answer: the listing stops
/// rather than loop.
pub fn pages<T>(
    system: &str,
    what: &str,
    mut fetch: impl FnMut(Option<&str>) -> Result<Page<T>>,
    on_page: &mut dyn FnMut(Vec<T>) -> Result<()>,
) -> Result<()> {
    let mut cursor: Option<String> = None;
    loop {
        let page = fetch(cursor.as_deref())?;
        on_page(page.items)?;
        match page.next {
            None => return Ok(()),
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                let detail = format!("{what}: the paging cursor did not advance");
                return Err(malformed(system, detail).into());
            }
            Some(next) => cursor = Some(next),
        }
    }
}

/// An answer of `system` that cannot be read as the vendor documents it.
pub fn malformed(system: &str, detail: String) -> ApiError {
    ApiError::Malformed {
        system: system.to_string(),
        detail,
    }
}

/// One outcome for every input of a call: a batch refused whole wrote
/// nothing, and an answer that cannot be read leaves every input unknown.
pub fn for_each_input<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    outcome: &WriteOutcome,
) -> Vec<WriteResult> {
    keys.into_iter()
        .map(|key| WriteResult {
            key: key.to_string(),
            outcome: outcome.clone(),
        })
        .collect()
}

/// A write the server applied without answering with the record (a 204, or
/// an association-only change): the record is known by its id alone, with
/// no fields and no modified time.
pub fn applied_without_body(id: &str) -> WriteOutcome {
    WriteOutcome::Written(Record::new(id, crate::model::Fields::new(), 0))
}

/// Builds the connectors for configured systems, in order. Every token is
/// read first, so all missing ones are named at once, before any request.
pub fn connect(systems: &[&SystemConfig]) -> Result<Vec<Box<dyn Connector>>> {
    let tokens = crate::config::read_tokens(systems)?;
    systems
        .iter()
        .zip(&tokens)
        .map(|(system, token)| -> Result<Box<dyn Connector>> {
            Ok(match system.kind {
                SystemKind::Hubspot => Box::new(hubspot::HubSpot::new(system, token)?),
                SystemKind::Pipedrive => Box::new(pipedrive::Pipedrive::new(system, token)?),
            })
        })
        .collect()
}

/// One input of a batch write, with everything an answer may name it by.
#[derive(Debug, Clone, Copy)]
pub struct SentInput<'a> {
    /// The key the engine knows the write by; sent as the trace id where
    /// the vendor takes one.
    pub key: &'a str,
    /// The id of the record written, for an update.
    pub id: Option<&'a str>,
    /// The unique property and value an upsert finds its record by.
    pub unique: Option<(&'a str, &'a str)>,
    /// The values sent, by the vendor's field name.
    pub values: &'a BTreeMap<String, String>,
}

/// One record in a batch answer.
#[derive(Debug)]
pub struct AnsweredRecord {
    /// The trace id echoed back, where the answer has one.
    pub trace: Option<String>,
    pub id: String,
    /// The values returned, by the vendor's field name (absent or null ones
    /// left out).
    pub values: BTreeMap<String, String>,
    /// The record converted for the engine, or why it could not be.
    pub record: std::result::Result<Record, String>,
}

/// One error in a batch answer and whatever it names its inputs by.
#[derive(Debug)]
pub struct AnsweredError {
    pub reason: String,
    /// Trace ids the error names.
    pub traces: Vec<String>,
    /// Other values of the error's context (ids, emails) that may name an
    /// input.
    pub names: Vec<String>,
}

/// Matches a batch answer to the inputs sent, never by position and without
/// relying on fields the vendor's schema leaves optional: a result goes to
/// the input whose trace id it echoes; else to the update of its record id;
/// else to the upsert of its unique value; else to the input all of whose
/// sent values it holds (compared as the matcher compares values). Inputs
/// that sent the same values may take their results in any order; a result
/// that fits inputs which sent different values, none holding all the
/// others' fields, is ambiguous and goes to none. Every result is used once.
/// Errors fail the inputs they name by trace id or by context value. Every
/// other input is `Unknown`: the server may have applied it.
pub fn match_answers(
    sent: &[SentInput],
    results: Vec<AnsweredRecord>,
    errors: &[AnsweredError],
    unanswered: &str,
) -> Vec<WriteResult> {
    let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; sent.len()];
    let by_key: HashMap<&str, usize> = sent.iter().enumerate().map(|(i, s)| (s.key, i)).collect();
    let settle = |outcomes: &mut Vec<Option<WriteOutcome>>, i: usize, answer: &AnsweredRecord| {
        outcomes[i] = Some(match &answer.record {
            Ok(record) => WriteOutcome::Written(record.clone()),
            Err(why) => WriteOutcome::Unknown(format!("its result could not be read: {why}")),
        });
    };
    let mut rest = Vec::new();
    for answer in results {
        match answer.trace.as_deref().and_then(|t| by_key.get(t)) {
            Some(&i) if outcomes[i].is_none() => settle(&mut outcomes, i, &answer),
            // A trace id we did not send, or sent once and answered twice,
            // names nothing of ours.
            Some(_) => {}
            None if answer.trace.is_some() && !by_key.is_empty() => {}
            None => rest.push(answer),
        }
    }
    let mut unmatched = Vec::new();
    for answer in rest {
        let open = |i: &usize, outcomes: &Vec<Option<WriteOutcome>>| outcomes[*i].is_none();
        let by_id = (0..sent.len()).find(|i| open(i, &outcomes) && sent[*i].id == Some(&answer.id));
        let by_unique = || {
            (0..sent.len()).find(|i| {
                open(i, &outcomes)
                    && sent[*i].unique.is_some_and(|(field, value)| {
                        answer
                            .values
                            .get(field)
                            .is_some_and(|v| values_equivalent(v, value))
                    })
            })
        };
        match by_id.or_else(by_unique) {
            Some(i) => settle(&mut outcomes, i, &answer),
            None => unmatched.push(answer),
        }
    }
    for answer in unmatched {
        let holds = |i: usize| {
            sent[i].values.iter().all(|(field, value)| {
                values_equivalent(answer.values.get(field).map_or("", String::as_str), value)
            })
        };
        let fitting: Vec<usize> = (0..sent.len()).filter(|&i| holds(i)).collect();
        // The input that sent the most, if it sent every field the other
        // fitting inputs sent: a result of a smaller input would lack its
        // values. Interchangeable inputs (the same values) share a slot.
        let widest = fitting
            .iter()
            .copied()
            .max_by_key(|&i| sent[i].values.len());
        let Some(widest) = widest else { continue };
        let covers = |i: usize| {
            sent[i]
                .values
                .keys()
                .all(|f| sent[widest].values.contains_key(f))
        };
        let same = |i: usize| {
            sent[i].values.len() == sent[widest].values.len()
                && sent[i].values.iter().all(|(f, v)| {
                    sent[widest]
                        .values
                        .get(f)
                        .is_some_and(|w| values_equivalent(w, v))
                })
        };
        if !fitting.iter().all(|&i| covers(i)) {
            continue;
        }
        let wider_than_rest = fitting
            .iter()
            .all(|&i| same(i) || sent[i].values.len() < sent[widest].values.len());
        if !wider_than_rest {
            continue;
        }
        if let Some(i) = fitting
            .into_iter()
            .find(|&i| same(i) && outcomes[i].is_none())
        {
            settle(&mut outcomes, i, &answer);
        }
    }
    let mut silent = Vec::new();
    for error in errors {
        let named: Vec<usize> = (0..sent.len())
            .filter(|&i| {
                let s = &sent[i];
                error.traces.iter().any(|t| t == s.key)
                    || error.names.iter().any(|n| {
                        s.id == Some(n.as_str())
                            || s.unique.is_some_and(|(_, v)| v.eq_ignore_ascii_case(n))
                    })
            })
            .collect();
        if named.is_empty() {
            silent.push(error.reason.as_str());
        }
        for i in named {
            if outcomes[i].is_none() {
                outcomes[i] = Some(WriteOutcome::Refused(error.reason.clone()));
            }
        }
    }
    let unanswered = if silent.is_empty() {
        unanswered.to_string()
    } else {
        format!(
            "{unanswered}; the answer has errors that name no record: {}",
            silent.join("; ")
        )
    };
    sent.iter()
        .zip(outcomes)
        .map(|(s, outcome)| WriteResult {
            key: s.key.to_string(),
            outcome: outcome.unwrap_or_else(|| WriteOutcome::Unknown(unanswered.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Fields;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// An input with nothing but its key and values (a create).
    fn sent<'a>(key: &'a str, values: &'a BTreeMap<String, String>) -> SentInput<'a> {
        SentInput {
            key,
            id: None,
            unique: None,
            values,
        }
    }

    fn answer(id: &str, trace: Option<&str>, pairs: &[(&str, &str)]) -> AnsweredRecord {
        AnsweredRecord {
            trace: trace.map(str::to_string),
            id: id.to_string(),
            values: values(pairs),
            record: Ok(Record::new(id, Fields::new(), 1)),
        }
    }

    fn written_ids(results: &[WriteResult]) -> Vec<Option<&str>> {
        results
            .iter()
            .map(|r| r.outcome.written().map(|w| w.id.as_str()))
            .collect()
    }

    #[test]
    fn results_are_matched_by_trace_id_then_id_then_unique_value_then_values() {
        let (a, b, c, d) = (
            values(&[("name", "A")]),
            values(&[("name", "B")]),
            values(&[("email", "c@x.io"), ("name", "C")]),
            values(&[("name", "D")]),
        );
        let sent = [
            sent("0", &a),
            SentInput {
                id: Some("11"),
                ..sent("1", &b)
            },
            SentInput {
                key: "2",
                id: None,
                unique: Some(("email", "c@x.io")),
                values: &c,
            },
            sent("3", &d),
        ];
        let results = vec![
            answer("14", None, &[("name", "D")]),
            answer("13", None, &[("email", "C@X.io"), ("name", "C")]),
            answer("11", None, &[("name", "B")]),
            answer("10", Some("0"), &[("name", "A")]),
        ];
        let matched = match_answers(&sent, results, &[], "none");
        assert_eq!(
            written_ids(&matched),
            [Some("10"), Some("11"), Some("13"), Some("14")]
        );
    }

    #[test]
    fn identical_inputs_share_results_and_the_widest_fitting_input_takes_a_result() {
        let (narrow, wide, same) = (
            values(&[("name", "X")]),
            values(&[("amount", "5"), ("name", "X")]),
            values(&[("name", "X")]),
        );
        let sent = [sent("0", &narrow), sent("1", &wide), sent("2", &same)];
        // The wide result fits all three; it belongs to the input that sent
        // the amount. The two narrow ones take the other two in any order.
        let results = vec![
            answer("20", None, &[("amount", "5.0"), ("name", "X")]),
            answer("21", None, &[("name", "X")]),
            answer("22", None, &[("name", "X")]),
        ];
        let matched = match_answers(&sent, results, &[], "none");
        let ids = written_ids(&matched);
        assert_eq!(ids[1], Some("20"));
        let mut narrow_ids = vec![ids[0], ids[2]];
        narrow_ids.sort();
        assert_eq!(narrow_ids, [Some("21"), Some("22")]);
    }

    #[test]
    fn a_result_fitting_inputs_that_sent_different_fields_goes_to_none() {
        let (first, second) = (values(&[("a", "1")]), values(&[("b", "2")]));
        let sent = [sent("0", &first), sent("1", &second)];
        let results = vec![answer("30", None, &[("a", "1"), ("b", "2")])];
        let matched = match_answers(&sent, results, &[], "no result");
        assert!(
            matched
                .iter()
                .all(|r| matches!(r.outcome, WriteOutcome::Unknown(_)))
        );
    }

    #[test]
    fn errors_fail_only_the_inputs_they_name_and_leave_the_rest_unknown() {
        let (a, b, c) = (
            values(&[("n", "A")]),
            values(&[("n", "B")]),
            values(&[("n", "C")]),
        );
        let sent = [
            sent("0", &a),
            SentInput {
                id: Some("41"),
                ..sent("1", &b)
            },
            sent("2", &c),
        ];
        let errors = [
            AnsweredError {
                reason: "bad A".into(),
                traces: vec!["0".into()],
                names: vec![],
            },
            AnsweredError {
                reason: "bad B".into(),
                traces: vec![],
                names: vec!["41".into()],
            },
            AnsweredError {
                reason: "bad something".into(),
                traces: vec![],
                names: vec![],
            },
        ];
        let matched = match_answers(&sent, Vec::new(), &errors, "no result");
        assert_eq!(matched[0].outcome, WriteOutcome::Refused("bad A".into()));
        assert_eq!(matched[1].outcome, WriteOutcome::Refused("bad B".into()));
        let WriteOutcome::Unknown(why) = &matched[2].outcome else {
            panic!("{:?}", matched[2]);
        };
        assert!(why.contains("bad something"), "{why}");
    }
}
