//! Applies a plan: writes through the connectors in batches, records every
//! item's outcome, and moves the link table and the base forward after each
//! batch, journaling the change (state.rs) before the next batch goes out;
//! every create and every merge is journaled before it is sent. A run killed
//! at any point therefore resumes with nothing lost and nothing done twice:
//! a create it sent is found through the journal instead of being made
//! again, and a merge is looked up before it is planned again.
//!
//! Only this module writes to a CRM, and only what the plan says. A record
//! the API refuses is a failed outcome; one whose answer leaves open whether
//! it was written is an unknown outcome (never a failed one: its create stays
//! journaled); the rest of the batch and of the run go on. Whole-call failures (auth, outage) stop the run after the state of
//! every finished batch is saved, and so does an interrupt (SIGINT,
//! SIGTERM), which lets the batch in flight finish first. A failure that
//! stops a batch part-way having written nothing of the rest (a daily
//! limit reached: the next request would cross `daily_tokens`) settles the
//! records done before it, then stops the run.

use crate::config::PairConfig;
use crate::connector::http::ApiError;
use crate::connector::{
    Connector, MergeRequest, NewRecord, PropertySpec, RecordRef, RecordUpdate, SchemaOutcome,
    StoppedWrite, WriteOutcome, WriteResult,
};
use crate::model::{ObjectKind, Record, Side, Sided};
use crate::plan::{
    Change, Create, Delete, Item, Merge, MergeStep, PairPlan, Property, PropertyStep, Settle, Write,
};
use crate::report::{RecordOutcome, Report, Result as Res};
use crate::snapshot::Written;
use crate::state::{Link, PairState, PendingCreate, PendingMerge, State};
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where an apply writes: the connectors by system name, and the state.
pub struct Applier<'a> {
    connectors: &'a BTreeMap<String, Box<dyn Connector>>,
    state: &'a mut State,
    state_path: &'a Path,
    /// When the state file was last written, and how long that took.
    saved_at: Instant,
    save_cost: Duration,
    /// The records written, by the side of their pair, for the snapshots the
    /// pairs after this one plan on.
    pub written: Vec<(Side, Written)>,
    /// The ids of the records created, by their item's position in the
    /// pair's plan, for the forward references of the pairs after it.
    pub created: Vec<(usize, String)>,
    /// The properties made (or given options), as the accounts answered,
    /// for the snapshots the pairs after this one plan on.
    pub properties: Vec<(Property, PropertySpec)>,
}

/// The state file is rewritten at most this often while batches go out
/// (the journal records each batch in between) ...
const SAVE_INTERVAL: Duration = Duration::from_secs(3);
/// ... and, for a state so large that writing it is slow, seldom enough
/// that saving takes at most a tenth of the run (a million links are
/// hundreds of MB; writing them after every batch of 100 would be
/// quadratic).
const SAVE_SHARE: u32 = 10;

impl<'a> Applier<'a> {
    pub fn new(
        connectors: &'a BTreeMap<String, Box<dyn Connector>>,
        state: &'a mut State,
        state_path: &'a Path,
    ) -> Applier<'a> {
        Applier {
            connectors,
            state,
            state_path,
            saved_at: Instant::now(),
            save_cost: Duration::ZERO,
            written: Vec::new(),
            created: Vec::new(),
            properties: Vec::new(),
        }
    }

    /// Journals what changed; rewrites the whole state file (and starts a
    /// new journal) if that is due, or `now`.
    fn checkpoint(&mut self, now: bool) -> Result<()> {
        let due = SAVE_INTERVAL.max(self.save_cost * SAVE_SHARE);
        if !now && self.saved_at.elapsed() < due {
            return self.state.journal(self.state_path);
        }
        let started = Instant::now();
        self.state.save(self.state_path)?;
        self.saved_at = Instant::now();
        self.save_cost = started.elapsed();
        Ok(())
    }

    /// Applies one pair's items (or a streamed pair's items a page at a
    /// time): state-only items, then creates, then updates, target by
    /// target, in batches. Every batch is journaled; the caller rewrites
    /// the state file with `save` when the pair is done, whether or not
    /// every write succeeded.
    pub fn apply_pair(
        &mut self,
        pair: &PairConfig,
        plan: &PairPlan,
        report: &mut Report,
        bar: &ProgressBar,
    ) -> Result<()> {
        let applied = self.write_pair(pair, plan, report, bar);
        let journaled = self.checkpoint(false);
        applied.and(journaled)
    }

    /// Rewrites the whole state file (and starts a new journal).
    pub fn save(&mut self) -> Result<()> {
        self.checkpoint(true)
    }

    fn write_pair(
        &mut self,
        pair: &PairConfig,
        plan: &PairPlan,
        report: &mut Report,
        bar: &ProgressBar,
    ) -> Result<()> {
        report.duplicates.extend(
            plan.duplicates
                .iter()
                .map(|d| crate::report::DuplicateNotice {
                    pair: pair.name.clone(),
                    duplicate: d.clone(),
                }),
        );
        // Properties first: the records written after them hold values of
        // them. A field whose property the vendor refused is left out of
        // the records' writes (the next run plans both again).
        let unmade = self.write_schema(pair, plan, report, bar)?;
        let stripped;
        let plan = if unmade.is_empty() {
            plan
        } else {
            stripped = without_fields(plan, &unmade);
            &stripped
        };
        // State-only items next: links must exist before updates settle on
        // them (and follow merges before the survivors' edits are written).
        let names = Sided::new(pair.left.system.as_str(), pair.right.system.as_str());
        let links = self.state.pair_mut(&pair.name);
        for item in &plan.items {
            if let Some((result, message)) = apply_to_state(item, links, &names) {
                report
                    .outcomes
                    .push(RecordOutcome::of(&pair.name, item, result, message));
            }
        }
        self.checkpoint(false)?;

        for target in [Side::Right, Side::Left] {
            let mut creates = Vec::new();
            let mut updates = Vec::new();
            let mut associations = Vec::new();
            let mut deletes = Vec::new();
            let mut merges = Vec::new();
            for (n, item) in plan.items.iter().enumerate() {
                match item {
                    Item::Merge(m) if m.target() == Some(target) => merges.push((n, m, item)),
                    Item::Create(c) if c.target == target => creates.push((n, c, item)),
                    Item::Update(w) if w.target == target => updates.push((n, w, item)),
                    Item::Associate(w) if w.target == target => associations.push((n, w, item)),
                    Item::Delete(d) if d.target == target => deletes.push((n, d, item)),
                    _ => {}
                }
            }
            self.write(pair, target, &creates, report, bar)?;
            self.write(pair, target, &updates, report, bar)?;
            self.write(pair, target, &associations, report, bar)?;
            self.write(pair, target, &merges, report, bar)?;
            self.write(pair, target, &deletes, report, bar)?;
        }
        Ok(())
    }

    /// Creates the pair's properties and adds their options, one request
    /// each (a retried run finds what an earlier one made: the connector
    /// never makes a property twice). A refusal is the item's failed
    /// outcome; the records go on without the property. A key the vendor
    /// gave a field that its name does not spell is recorded at once, so
    /// the mapping resolves the name from then on. Returns the fields (by
    /// the side they are on) whose property was refused.
    fn write_schema(
        &mut self,
        pair: &PairConfig,
        plan: &PairPlan,
        report: &mut Report,
        bar: &ProgressBar,
    ) -> Result<Vec<(Side, String)>> {
        let mut refused = Vec::new();
        for item in &plan.items {
            let Item::Property(property) = item else {
                continue;
            };
            if !property.writes() {
                continue;
            }
            crate::interrupt::check()?;
            let endpoint = pair.endpoint(property.target);
            let connector = &self.connectors[&endpoint.system];
            let answered = match &property.step {
                PropertyStep::Create(spec) => connector.create_property(endpoint.object, spec),
                PropertyStep::AddOptions { options, .. } => {
                    connector.add_options(endpoint.object, &property.field, options)
                }
            }
            .with_context(|| format!("changing {} on {}", property.label, endpoint.system))?;
            bar.inc(1);
            let outcome = |result, message| RecordOutcome::of(&pair.name, item, result, message);
            match answered {
                SchemaOutcome::Done { key, spec } => {
                    if key != property.field
                        && let Some(state_dir) = self.state_path.parent()
                    {
                        crate::state::record_field_key(
                            state_dir,
                            &endpoint.to_string(),
                            &property.field,
                            &key,
                        )?;
                    }
                    self.properties.push((property.clone(), spec));
                    report.outcomes.push(outcome(Res::Done, None));
                }
                SchemaOutcome::Refused(why) => {
                    refused.push((property.target, property.field.clone()));
                    report.outcomes.push(outcome(Res::Failed, Some(why)));
                }
            }
        }
        Ok(refused)
    }

    /// Sends one kind of write to `target` in batches and records each
    /// item's outcome; the state moves forward (and is journaled) after
    /// every batch. `items` are (key, the write, the plan item).
    fn write<W: WriteStep>(
        &mut self,
        pair: &PairConfig,
        target: Side,
        items: &[(usize, &W, &Item)],
        report: &mut Report,
        bar: &ProgressBar,
    ) -> Result<()> {
        let endpoint = pair.endpoint(target);
        let connector = &self.connectors[&endpoint.system];
        let fields = existing_fields(connector.as_ref(), pair, target)?;
        let batch = connector.capabilities().max_batch.max(1);
        let outcome =
            |item: &Item, result, message| RecordOutcome::of(&pair.name, item, result, message);
        for chunk in items.chunks(batch) {
            // An interrupt stops the run between batches: the one in flight
            // was answered and recorded; this one is not sent.
            crate::interrupt::check()?;
            let links = self.state.pair_mut(&pair.name);
            let mut journaled = false;
            for (_, write, _) in chunk {
                journaled |= write.before_sending(links);
            }
            if journaled {
                // Journaled before sending: if the answer is lost, the next
                // run finds the record instead of making another.
                self.state.journal(self.state_path)?;
            }
            let keyed: Vec<(String, &W)> =
                chunk.iter().map(|(n, w, _)| (n.to_string(), *w)).collect();
            let (results, stopped) =
                match W::send(connector.as_ref(), endpoint.object, &keyed, &fields) {
                    Ok(results) => (results, None),
                    // Stopped part-way by a failure that wrote nothing (a
                    // daily limit): what was done is settled first.
                    Err(e) if e.is::<StoppedWrite>() => {
                        let stop = e.downcast::<StoppedWrite>().expect("checked above");
                        (stop.results, Some(stop.cause))
                    }
                    Err(e) => {
                        // The run stops; a batch the server may have applied is
                        // reported as such (its creates stay journaled for the
                        // next run to find).
                        if may_have_applied(&e) {
                            let why = format!("{e:#}");
                            for (_, _, item) in chunk {
                                report.outcomes.push(outcome(
                                    item,
                                    Res::Unknown,
                                    Some(why.clone()),
                                ));
                            }
                        }
                        return Err(e)
                            .with_context(|| format!("writing {} to {endpoint}", pair.name));
                    }
                };
            let mut by_key: BTreeMap<String, WriteOutcome> =
                results.into_iter().map(|r| (r.key, r.outcome)).collect();
            let links = self.state.pair_mut(&pair.name);
            for (n, write, item) in chunk {
                let result = by_key.remove(&n.to_string()).unwrap_or_else(|| {
                    WriteOutcome::Unknown(format!(
                        "{} gave no outcome for this record",
                        endpoint.system
                    ))
                });
                if result == WriteOutcome::NotSent {
                    // An interrupt kept it from being sent: no record was
                    // made, and the next run plans it again.
                    write.refused(links);
                    continue;
                }
                report.outcomes.push(match result {
                    WriteOutcome::Written(written) => {
                        self.written.extend(
                            write
                                .written(&written)
                                .into_iter()
                                .map(|record| (target, record)),
                        );
                        let mut done = outcome(item, Res::Done, None);
                        // A created record's id is known only now.
                        if let Some(id) = write.settle(links, &written) {
                            self.created.push((*n, id.clone()));
                            done.set_id(target, id);
                        }
                        done
                    }
                    WriteOutcome::Refused(message) => {
                        write.refused(links);
                        outcome(item, Res::Failed, Some(message))
                    }
                    // A write that may have been applied changes nothing
                    // here; a create stays journaled for the next run.
                    WriteOutcome::Unknown(message) => outcome(item, Res::Unknown, Some(message)),
                    WriteOutcome::NotSent => unreachable!("not-sent writes are skipped above"),
                });
            }
            self.checkpoint(false)?;
            bar.inc(chunk.len() as u64);
            if let Some(cause) = stopped {
                return Err(cause).with_context(|| format!("writing {} to {endpoint}", pair.name));
            }
        }
        Ok(())
    }
}

/// `plan` without the values its records would write to `fields` (by the
/// side they are on), item for item (positions are kept).
fn without_fields(plan: &PairPlan, fields: &[(Side, String)]) -> PairPlan {
    let mut plan = plan.clone();
    let unmade = |side: Side, field: &str| fields.iter().any(|(s, f)| *s == side && f == field);
    for item in &mut plan.items {
        match item {
            Item::Create(c) => c.changes.retain(|ch| !unmade(c.target, &ch.field)),
            Item::Update(w) | Item::Associate(w) => {
                w.changes.retain(|ch| !unmade(w.target, &ch.field))
            }
            _ => {}
        }
    }
    plan
}

/// The fields of `side` a pair reads back and writes: all it maps, less
/// (for a pair that creates schema) those the account still lacks, whose
/// property could not be made.
pub fn existing_fields(
    connector: &dyn Connector,
    pair: &PairConfig,
    side: Side,
) -> Result<Vec<String>> {
    // The scope's fields too: a create on a scoped side writes its values.
    let fields = pair.pulled_fields(side);
    if pair.schema != crate::config::SchemaPolicy::Create {
        return Ok(fields);
    }
    let endpoint = pair.endpoint(side);
    let infos = connector
        .describe(endpoint.object, &fields)
        .with_context(|| format!("reading the fields of {endpoint}"))?;
    Ok(fields
        .into_iter()
        .zip(infos)
        .filter_map(|(field, info)| info.map(|_| field))
        .collect())
}

/// The apply step of an item that writes nothing to a CRM: the link table
/// and the base change, and the report gets its outcome (`None`: a baseline,
/// which is not reported).
fn apply_to_state(
    item: &Item,
    links: &mut PairState,
    names: &Sided<&str>,
) -> Option<(Res, Option<String>)> {
    match item {
        Item::Merge(merge) => {
            let said = Some(merge.describe(names));
            let holds_was = |links: &PairState| {
                links
                    .by_left(&merge.was.left)
                    .is_some_and(|l| l.right == merge.was.right)
            };
            match merge.step {
                MergeStep::Follow if links.move_link(&merge.was, &merge.now) => {
                    Some((Res::Done, said))
                }
                MergeStep::Follow => Some((
                    Res::Failed,
                    Some("the link it was planned on changed since; run again".into()),
                )),
                MergeStep::Spent => {
                    if holds_was(links) {
                        links.unlink(&merge.was.left);
                    }
                    Some((Res::Done, said))
                }
                MergeStep::Orphaned => {
                    if holds_was(links) {
                        links.bury(&merge.was.left, &merge.was.right);
                    }
                    // The merge's result takes the place of the merged
                    // record, which would have been left alone.
                    for side in Side::BOTH {
                        let now = &merge.now[side];
                        if *now != merge.was[side] && links.by(side, now).is_none() {
                            links.tombstone(side, now);
                        }
                    }
                    Some((Res::Done, said))
                }
                MergeStep::Partners {
                    propagate: false, ..
                } => Some((Res::Reported, said)),
                MergeStep::Partners {
                    propagate: true, ..
                } => None,
            }
        }
        Item::Link(agreed) => {
            settle_fields(
                links.link(&agreed.ids.left, &agreed.ids.right),
                &agreed.settle,
            );
            Some((Res::Done, None))
        }
        Item::Baseline(agreed) => {
            settle_fields(
                links.link(&agreed.ids.left, &agreed.ids.right),
                &agreed.settle,
            );
            None
        }
        // Nothing to write: the target keeps what it cannot clear, and the
        // base takes both sides as they are, so the next run plans nothing.
        Item::Kept(kept) => {
            settle_fields(links.link(&kept.ids.left, &kept.ids.right), &kept.settle);
            Some((Res::Done, Some(kept.reasons.join("; "))))
        }
        Item::Conflict(held) => {
            if let Some(link) = links.link_mut(&held.ids.left) {
                settle_fields(link, &held.settle);
            }
            let message = held
                .conflicts
                .iter()
                .map(|c| format!("{}: left {:?} vs right {:?}", c.field, c.left, c.right))
                .collect::<Vec<_>>()
                .join("; ");
            let left_for_human = held.conflicts.iter().any(|c| c.winner.is_none());
            let result = if left_for_human {
                Res::Skipped
            } else {
                Res::Done
            };
            Some((result, Some(message)))
        }
        Item::Unlink(unlink) => {
            links.bury(&unlink.ids.left, &unlink.ids.right);
            Some((Res::Done, None))
        }
        Item::Scope(change) => {
            if let Some(link) = links
                .link_mut(&change.ids.left)
                .filter(|l| l.right == change.ids.right)
            {
                link.dormant = (!change.entered).then_some(change.side);
            }
            Some((Res::Done, None))
        }
        Item::Invalid(invalid) => Some((Res::Failed, Some(invalid.problems.join("; ")))),
        Item::Waiting(waiting) => Some((Res::Reported, Some(waiting.reason.clone()))),
        // A property that cannot be made; one that can is written first.
        Item::Property(p) => p
            .problem
            .clone()
            .map(|problem| (Res::Failed, Some(problem))),
        Item::Create(_) | Item::Update(_) | Item::Associate(_) | Item::Delete(_) => None,
    }
}

/// The apply step of an item that writes to a CRM: how a batch of it is
/// sent, and what a known outcome records in the pair's state.
trait WriteStep {
    /// Sends one batch; `batch` pairs each write with its key.
    fn send(
        connector: &dyn Connector,
        object: ObjectKind,
        batch: &[(String, &Self)],
        fields: &[String],
    ) -> Result<Vec<WriteResult>>;

    /// Records in the state what must be there before the write is sent;
    /// returns true if that needs journaling.
    fn before_sending(&self, _links: &mut PairState) -> bool {
        false
    }

    /// Records a write the server applied; returns the id of a record it
    /// made.
    fn settle(&self, links: &mut PairState, written: &Record) -> Option<String>;

    /// The records as the write left them, for the snapshots later pairs
    /// plan on.
    fn written(&self, answer: &Record) -> Vec<Written>;

    /// Records a write the server refused.
    fn refused(&self, _links: &mut PairState) {}
}

impl WriteStep for Create {
    fn send(
        connector: &dyn Connector,
        object: ObjectKind,
        batch: &[(String, &Create)],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let records: Vec<NewRecord> = batch
            .iter()
            .map(|(key, c)| NewRecord {
                key: key.clone(),
                fields: written_fields(&c.changes, true),
            })
            .collect();
        connector.create(object, &records, fields)
    }

    fn before_sending(&self, links: &mut PairState) -> bool {
        links.add_pending(PendingCreate {
            target: self.target,
            source: self.source_id.clone(),
            fields: written_fields(&self.changes, true).iter().collect(),
        });
        true
    }

    fn settle(&self, links: &mut PairState, written: &Record) -> Option<String> {
        let mut ids = Sided::new(self.source_id.clone(), self.source_id.clone());
        ids[self.target] = written.id.clone();
        record_write(links, &ids, self.target, &self.changes, written);
        Some(written.id.clone())
    }

    fn written(&self, answer: &Record) -> Vec<Written> {
        vec![as_written(&self.changes, answer)]
    }

    /// A refused create made no record: it is no longer pending.
    fn refused(&self, links: &mut PairState) {
        links.remove_pending(self.target, &self.source_id);
    }
}

impl WriteStep for Write {
    fn send(
        connector: &dyn Connector,
        object: ObjectKind,
        batch: &[(String, &Write)],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let records: Vec<RecordUpdate> = batch
            .iter()
            .map(|(key, w)| RecordUpdate {
                key: key.clone(),
                id: w.ids[w.target].clone(),
                fields: written_fields(&w.changes, false),
                previous: w
                    .changes
                    .iter()
                    .map(|c| (c.field.clone(), c.from.clone()))
                    .collect(),
            })
            .collect();
        connector.update(object, &records, fields)
    }

    fn settle(&self, links: &mut PairState, written: &Record) -> Option<String> {
        let mut ids = self.ids.clone();
        ids[self.target] = written.id.clone();
        record_write(links, &ids, self.target, &self.changes, written);
        None
    }

    fn written(&self, answer: &Record) -> Vec<Written> {
        vec![as_written(&self.changes, answer)]
    }
}

impl WriteStep for Delete {
    fn send(
        connector: &dyn Connector,
        object: ObjectKind,
        batch: &[(String, &Delete)],
        _fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let records: Vec<RecordRef> = batch
            .iter()
            .map(|(key, d)| RecordRef {
                key: key.clone(),
                id: d.ids[d.target].clone(),
            })
            .collect();
        connector.delete(object, &records)
    }

    fn settle(&self, links: &mut PairState, _written: &Record) -> Option<String> {
        links.bury(&self.ids.left, &self.ids.right);
        None
    }

    fn written(&self, _answer: &Record) -> Vec<Written> {
        vec![Written::Deleted {
            id: self.ids[self.target].clone(),
        }]
    }
}

/// A merge propagated to the other side (`merges = "propagate"`): the
/// second partner goes into the partner the survivor kept.
impl Merge {
    /// (target side, the record merged away, the record kept).
    fn propagated(&self) -> Option<(Side, &str, &str)> {
        match &self.step {
            MergeStep::Partners {
                side,
                kept,
                propagate: true,
            } => Some((side.other(), self.now[side.other()].as_str(), kept.as_str())),
            _ => None,
        }
    }
}

impl WriteStep for Merge {
    fn send(
        connector: &dyn Connector,
        object: ObjectKind,
        batch: &[(String, &Merge)],
        fields: &[String],
    ) -> Result<Vec<WriteResult>> {
        let merges: Vec<MergeRequest> = batch
            .iter()
            .filter_map(|(key, m)| {
                let (_, merged, kept) = m.propagated()?;
                Some(MergeRequest {
                    key: key.clone(),
                    kept: kept.to_string(),
                    merged: merged.to_string(),
                })
            })
            .collect();
        connector.merge(object, &merges, fields)
    }

    /// Journaled before sending: a merge whose answer is lost is looked
    /// for by the next run, never sent again blindly.
    fn before_sending(&self, links: &mut PairState) -> bool {
        let Some((target, merged, kept)) = self.propagated() else {
            return false;
        };
        links.add_pending_merge(PendingMerge {
            target,
            merged: merged.to_string(),
            kept: kept.to_string(),
        });
        true
    }

    /// The link of the record merged away is spent; the link of the kept
    /// record moves to the merge's result where that has a new id.
    fn settle(&self, links: &mut PairState, written: &Record) -> Option<String> {
        let (target, merged, kept) = self.propagated()?;
        links.remove_pending_merge(target, merged);
        if links
            .by_left(&self.was.left)
            .is_some_and(|l| l.right == self.was.right)
        {
            links.unlink(&self.was.left);
        }
        if written.id != kept
            && let Some(held) = links.by(target, kept)
        {
            let was = Sided::new(held.left.clone(), held.right.clone());
            let mut now = was.clone();
            now[target] = written.id.clone();
            links.move_link(&was, &now);
        }
        None
    }

    fn written(&self, answer: &Record) -> Vec<Written> {
        let Some((_, merged, kept)) = self.propagated() else {
            return Vec::new();
        };
        let mut written = vec![Written::Merged {
            id: merged.to_string(),
            into: answer.id.clone(),
        }];
        if answer.id != kept {
            written.push(Written::Merged {
                id: kept.to_string(),
                into: answer.id.clone(),
            });
        }
        written.push(as_written(&[], answer));
        written
    }

    /// A refused merge merged nothing: it is no longer pending.
    fn refused(&self, links: &mut PairState) {
        if let Some((target, merged, _)) = self.propagated() {
            links.remove_pending_merge(target, merged);
        }
    }
}

/// Returns true if and only if a call failed in a way that leaves open
/// whether the server applied it (an outage after sending, an answer cut
/// off or unreadable), as opposed to one that surely wrote nothing.
fn may_have_applied(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<ApiError>(),
            Some(
                ApiError::Unavailable { .. }
                    | ApiError::Malformed { .. }
                    | ApiError::Interrupted {
                        maybe_applied: true,
                        ..
                    }
            )
        )
    })
}

/// The fields a write sends; a create leaves out empty values.
fn written_fields(changes: &[Change], create: bool) -> BTreeMap<String, String> {
    changes
        .iter()
        .filter(|c| !(create && c.to.is_empty()))
        .map(|c| (c.field.clone(), c.to.clone()))
        .collect()
}

fn settle_fields(link: &mut Link, settle: &[Settle]) {
    for s in settle {
        link.base.left.insert(s.left_field.clone(), s.left.clone());
        link.base
            .right
            .insert(s.right_field.clone(), s.right.clone());
    }
}

/// A record as a write left it: every field the answer gave, and each
/// field written as the answer gave it, else as it was sent.
fn as_written(changes: &[Change], answer: &Record) -> Written {
    let mut values: Vec<(String, String)> = answer
        .fields
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
    for c in changes {
        if !answer.fields.contains_key(&c.field) {
            values.push((c.field.clone(), c.to.clone()));
        }
    }
    Written::Saved {
        id: answer.id.clone(),
        values,
        updated_ms: answer.updated_ms,
    }
}

/// Links the two records and records the written fields as the base, with
/// the target's value as the server stored it (it may normalise, e.g. an
/// email to lower case), so our own write is never taken for an edit.
fn record_write(
    links: &mut PairState,
    ids: &Sided<String>,
    target: Side,
    changes: &[Change],
    written: &Record,
) {
    let link = links.link(&ids.left, &ids.right);
    for c in changes {
        let stored = written
            .fields
            .get(&c.field)
            .map_or_else(|| c.to.clone(), str::to_string);
        let (target_base, source_base) = link.base.split_mut(target);
        target_base.insert(c.field.clone(), stored);
        // A value written only to keep a created record in its scope has
        // no source.
        if !c.source_field.is_empty() {
            source_base.insert(c.source_field.clone(), c.source_value.clone());
        }
    }
}
