//! The run report: what happened to every record an apply touched, counts by
//! pair, side and result, requests made by endpoint, and the run's duration.
//! Printed as text (failures first, then a summary) or as part of the
//! `--json` document. Decides between exit 0 and 4, nothing else, and
//! holds why an apply stopped early (a signal, a limit that lifts later),
//! which the caller turns into the run's end.

use crate::exit::Outcome;
use crate::interrupt::Signal;
use crate::model::{Duplicate, Side};
use crate::plan::{Action, counted as counted_noun};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Result {
    Done,
    /// The server named the record as refused: nothing was written.
    Failed,
    /// The server may have written it but its answer does not say; the
    /// next run finds out (a create is looked for, never made twice).
    Unknown,
    /// Not applied, on purpose: a conflict left for a human.
    Skipped,
    /// Left for a human without failing the run: two records whose
    /// partners were merged into one (`merges = "report"`), reported on
    /// every run until they are merged too, as duplicates are; and a
    /// record waiting for the records it is attached to.
    Reported,
}

/// What happened to one plan item.
#[derive(Debug, Clone, Serialize)]
pub struct RecordOutcome {
    pub pair: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Side>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_id: Option<String>,
    pub label: String,
    /// True when the item settles a conflict (a write of the winner's
    /// value, or a conflict kept on the side the direction allows).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settles_conflict: bool,
    pub result: Result,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl RecordOutcome {
    pub fn set_id(&mut self, side: Side, id: String) {
        match side {
            Side::Left => self.left_id = Some(id),
            Side::Right => self.right_id = Some(id),
        }
    }

    /// What happened to `item` of pair `pair`.
    pub fn of(
        pair: &str,
        item: &crate::plan::Item,
        result: Result,
        message: Option<String>,
    ) -> RecordOutcome {
        RecordOutcome {
            pair: pair.to_string(),
            action: item.action(),
            target: item.target(),
            left_id: item.id(Side::Left).map(str::to_string),
            right_id: item.id(Side::Right).map(str::to_string),
            label: item.label().to_string(),
            settles_conflict: item.settles_conflict(),
            result,
            message,
        }
    }
}

/// Records sharing a match value inside one account, left alone.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateNotice {
    pub pair: String,
    #[serde(flatten)]
    pub duplicate: Duplicate,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub outcomes: Vec<RecordOutcome>,
    pub duplicates: Vec<DuplicateNotice>,
    /// system → endpoint → requests.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// system → tokens of its vendor's daily budget spent (Pipedrive's),
    /// for the systems that have one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, u64>,
    pub duration_ms: u64,
    /// What stopped the apply before the end of its plan, if anything did
    /// (`"interrupted": true` in the JSON when a signal did): what was
    /// applied is in `outcomes`, the rest waits for the next run.
    #[serde(rename = "interrupted", serialize_with = "as_interrupted")]
    pub stopped: Option<Stop>,
}

/// Why an apply stopped before the end of its plan, with what it applied
/// saved: the same ending whatever the cause, the run shows its plan and
/// what it applied, and the next run goes on from there.
#[derive(Debug)]
pub enum Stop {
    /// A signal asked it to (exit 130 or 143).
    Signal(Signal),
    /// A limit that lifts later (exit 5): a daily limit reached, a rate
    /// limit or an outage that outlasted the wait. The error says which.
    Limit(anyhow::Error),
}

impl Stop {
    /// The error a run that stopped this way before writing anything ends
    /// with: it stopped as it would have while reading.
    pub fn into_error(self) -> anyhow::Error {
        match self {
            Stop::Signal(signal) => crate::interrupt::Interrupted(signal).into(),
            Stop::Limit(error) => error,
        }
    }
}

fn as_interrupted<S: serde::Serializer>(
    stopped: &Option<Stop>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_bool(matches!(stopped, Some(Stop::Signal(_))))
}

/// pair → side written (`left`, `right`, or `none` for state-only items)
/// → action → result → count.
type Counts<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<String, BTreeMap<String, usize>>>>;

/// The `--report` document.
#[derive(Serialize)]
struct ReportFile<'a> {
    format: &'static str,
    version: u32,
    command: &'a str,
    exit_status: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    counts: Counts<'a>,
    #[serde(flatten)]
    report: &'a Report,
}

impl Report {
    /// Writes the `--report` document (0600, atomically).
    pub fn write(
        &self,
        path: &std::path::Path,
        command: &str,
        exit_status: u8,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut counts = Counts::new();
        for o in &self.outcomes {
            let side = o.target.map(|s| s.as_str()).unwrap_or("none");
            let action = serde_json::to_value(o.action)?
                .as_str()
                .unwrap_or_default()
                .to_string();
            let result = serde_json::to_value(o.result)?
                .as_str()
                .unwrap_or_default()
                .to_string();
            *counts
                .entry(&o.pair)
                .or_default()
                .entry(side)
                .or_default()
                .entry(action)
                .or_default()
                .entry(result)
                .or_default() += 1;
        }
        let file = ReportFile {
            format: "crmsync-report",
            version: 1,
            command,
            exit_status,
            error,
            counts,
            report: self,
        };
        let mut bytes = serde_json::to_vec_pretty(&file)?;
        bytes.push(b'\n');
        crate::files::write_atomic(path, &bytes)
    }

    pub fn count(&self, action: Action, result: Result) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.action == action && o.result == result)
            .count()
    }

    pub fn failures(&self) -> impl Iterator<Item = &RecordOutcome> {
        self.outcomes
            .iter()
            .filter(|o| !matches!(o.result, Result::Done | Result::Reported))
    }

    /// The signal that stopped the apply, if one did.
    pub fn interrupted(&self) -> Option<Signal> {
        match self.stopped {
            Some(Stop::Signal(signal)) => Some(signal),
            _ => None,
        }
    }

    /// Interrupted when a signal stopped the run; else partial when any
    /// record failed or is unknown, or a conflict was left for a human.
    pub fn outcome(&self) -> Outcome {
        if let Some(signal) = self.interrupted() {
            Outcome::Interrupted(signal)
        } else if self.failures().next().is_some() {
            Outcome::Partial
        } else {
            Outcome::Done
        }
    }

    /// Records written (created, updated, associated, deleted) as planned.
    pub fn writes_done(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.target.is_some() && o.result == Result::Done)
            .count()
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().flat_map(|m| m.values()).sum()
    }

    /// The requests made, and the tokens spent where a system has a token
    /// budget: `38 requests` or `38 requests, 1520 Pipedrive tokens`.
    pub fn requests_and_tokens(&self) -> String {
        let requests = counted_noun(self.total_requests(), "request", "requests");
        let tokens: u64 = self.tokens.values().sum();
        if self.tokens.is_empty() {
            requests
        } else {
            format!("{requests}, {tokens} Pipedrive tokens")
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in self.failures() {
            let what = match o.result {
                Result::Failed => "failed",
                Result::Unknown => "unknown",
                _ => "skipped",
            };
            let ids: Vec<_> = [("left", &o.left_id), ("right", &o.right_id)]
                .iter()
                .filter_map(|(s, id)| id.as_ref().map(|id| format!("{s} {id}")))
                .collect();
            writeln!(
                f,
                "! {} {:?} {} {} ({}): {}",
                o.pair,
                o.action,
                what,
                o.label,
                ids.join(", "),
                o.message.as_deref().unwrap_or("")
            )?;
        }
        for o in self
            .outcomes
            .iter()
            .filter(|o| o.result == Result::Reported && o.action == Action::Waiting)
        {
            writeln!(
                f,
                ". {} {} waits: {}",
                o.pair,
                o.label,
                o.message.as_deref().unwrap_or("")
            )?;
        }
        for o in self
            .outcomes
            .iter()
            .filter(|o| o.result == Result::Reported && o.action != Action::Waiting)
        {
            writeln!(
                f,
                "> {} {}: {}",
                o.pair,
                o.label,
                o.message.as_deref().unwrap_or("")
            )?;
        }
        for d in &self.duplicates {
            let dup = &d.duplicate;
            writeln!(
                f,
                "? {} {} duplicates of {:?}: {} left alone beside {}",
                d.pair,
                dup.side,
                dup.key,
                dup.extra.join(", "),
                dup.kept
            )?;
        }
        let done = |a| self.count(a, Result::Done) as u64;
        let counted = |result| {
            self.outcomes
                .iter()
                .filter(|o| o.result == result && o.action != Action::Invalid)
                .count() as u64
        };
        let (failed, unknown, skipped) = (
            counted(Result::Failed),
            counted(Result::Unknown),
            counted(Result::Skipped),
        );
        let settled = self
            .outcomes
            .iter()
            .filter(|o| o.settles_conflict && o.result == Result::Done)
            .count() as u64;
        let invalid = self.count(Action::Invalid, Result::Failed);
        let duplicates: usize = self
            .duplicates
            .iter()
            .map(|d| d.duplicate.extra.len())
            .sum();
        // Outcomes left open are named only when there are some.
        let unknown = if unknown > 0 {
            format!(", {unknown} unknown")
        } else {
            String::new()
        };
        // As the plan's summary line, merges only when there are some.
        let merges = self
            .outcomes
            .iter()
            .filter(|o| {
                o.action == Action::Merge && matches!(o.result, Result::Done | Result::Reported)
            })
            .count() as u64;
        let mut merges = if merges > 0 {
            format!(", {}", counted_noun(merges, "merge", "merges"))
        } else {
            String::new()
        };
        let waiting = self.count(Action::Waiting, Result::Reported);
        if waiting > 0 {
            merges.push_str(&format!(", {waiting} waiting"));
        }
        let kept = self.count(Action::Kept, Result::Done);
        if kept > 0 {
            merges.push_str(&format!(", {kept} kept"));
        }
        // As the plan's summary line, property changes first where there are some.
        let properties = done(Action::Property);
        let properties = if properties > 0 {
            format!(
                "{}, ",
                counted_noun(properties, "property change", "property changes")
            )
        } else {
            String::new()
        };
        // The counts follow the plan's summary line, kind for kind.
        writeln!(
            f,
            "Applied: {properties}{} created, {} updated, {} associated, {} deleted, {} linked, {} settled, {} unlinked, {invalid} invalid, {} left alone{merges}; {failed} failed{unknown}, {skipped} skipped; {} in {:.2}s.",
            done(Action::Create),
            done(Action::Update),
            done(Action::Associate),
            done(Action::Delete),
            done(Action::Link),
            counted_noun(settled, "conflict", "conflicts"),
            done(Action::Unlink),
            counted_noun(duplicates as u64, "duplicate", "duplicates"),
            self.requests_and_tokens(),
            self.duration_ms as f64 / 1000.0
        )
    }
}
