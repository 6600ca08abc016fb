//! From a vendor's answer to one `WriteOutcome` per input: `match_answers`
//! pairs a batch answer's results and errors with the inputs sent (never by
//! position), `write_outcome` sorts a call's answer or error into the
//! record's outcome or the run's error, and `for_each_input` and
//! `applied_without_body` cover the calls that answer for all inputs at once
//! or without a record.
//!
//! Pure: no request, no vendor JSON. Each vendor reads its answer into
//! `AnsweredRecord`s and `AnsweredError`s first.

use super::http::ApiError;
use super::seam::{WriteOutcome, WriteResult};
use crate::model::{Record, values_equivalent};
use std::collections::{BTreeMap, HashMap};

/// Sorts what a write call came back with into the record's outcome: the
/// answer read by the caller, a refusal of the record's content (400, 409
/// and the like) as `Refused`, an answer that cannot be read as `Unknown`
/// (the server may have applied it), an interrupt as not sent or unknown.
/// Anything else (auth, outage, rate limit) is the run's error, given back.
pub fn write_outcome(answer: Result<WriteOutcome, ApiError>) -> Result<WriteOutcome, ApiError> {
    match answer {
        Ok(outcome) => Ok(outcome),
        Err(ApiError::Rejected {
            status, message, ..
        }) => Ok(WriteOutcome::Refused(format!("{status}: {message}"))),
        Err(ApiError::Malformed { detail, .. }) => Ok(unreadable(detail)),
        Err(e) => WriteOutcome::of_interrupted(&e).ok_or(e),
    }
}

/// A write answered with something that cannot be read: it may have been
/// applied.
pub fn unreadable(why: impl std::fmt::Display) -> WriteOutcome {
    WriteOutcome::Unknown(format!("its answer could not be read ({why})"))
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
pub(crate) mod tests {
    use super::*;
    use crate::model::Fields;

    /// Field → value, as a write sends them (also used by the connectors'
    /// request-body tests).
    pub(crate) fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// An input with nothing but its key and values (a create).
    pub(crate) fn sent<'a>(key: &'a str, values: &'a BTreeMap<String, String>) -> SentInput<'a> {
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
    fn a_failed_write_is_the_record_s_outcome_unless_it_stops_the_run() {
        let refused = ApiError::Rejected {
            system: "pd".into(),
            status: 400,
            message: "bad email".into(),
        };
        assert_eq!(
            write_outcome(Err(refused)).ok(),
            Some(WriteOutcome::Refused("400: bad email".into()))
        );
        let cut = ApiError::Malformed {
            system: "pd".into(),
            detail: "EOF in a 200 response".into(),
        };
        assert_eq!(
            write_outcome(Err(cut)).ok(),
            Some(WriteOutcome::Unknown(
                "its answer could not be read (EOF in a 200 response)".into()
            ))
        );
        let outage = ApiError::Unavailable {
            system: "pd".into(),
            detail: "503 for 120 s".into(),
        };
        assert!(matches!(
            write_outcome(Err(outage)),
            Err(ApiError::Unavailable { .. })
        ));
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
