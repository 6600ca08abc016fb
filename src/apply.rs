//! Applies a plan: writes through the connectors in batches, records every
//! item's outcome, and moves the link table and the base forward after each
//! batch, journaling the change (state.rs) before the next batch goes out;
//! every create is journaled before it is sent. A run killed at any point
//! therefore resumes with nothing lost and nothing done twice: a create it
//! sent is found through the journal instead of being made again.
//!
//! Only this module writes to a CRM, and only what the plan says. A record
//! the API refuses is a failed outcome; the rest of the batch and of the run
//! go on. Whole-call failures (auth, outage) stop the run after the state of
//! every finished batch is saved.

use crate::config::PairConfig;
use crate::connector::{Connector, NewRecord, RecordRef, RecordUpdate, WriteResult};
use crate::model::{Record, Side};
use crate::plan::{Action, Item, PairPlan, Plan};
use crate::report::{RecordOutcome, Report, Result as Res};
use crate::snapshot::Written;
use crate::state::{Link, PendingCreate, State};
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where an apply writes: the connectors by system name, and the state.
pub struct Applier<'a> {
    pairs: Vec<&'a PairConfig>,
    connectors: &'a BTreeMap<String, Box<dyn Connector>>,
    state: &'a mut State,
    state_path: &'a Path,
    /// When the state file was last written, and how long that took.
    saved_at: Instant,
    save_cost: Duration,
    /// The records written, by the side of their pair, for the snapshots the
    /// pairs after this one plan on.
    pub written: Vec<(Side, Written)>,
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
        pairs: Vec<&'a PairConfig>,
        connectors: &'a BTreeMap<String, Box<dyn Connector>>,
        state: &'a mut State,
        state_path: &'a Path,
    ) -> Applier<'a> {
        Applier {
            pairs,
            connectors,
            state,
            state_path,
            saved_at: Instant::now(),
            save_cost: Duration::ZERO,
            written: Vec::new(),
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

    /// Applies every pair of the plan in order; per-record outcomes go into
    /// `report`.
    pub fn apply(&mut self, plan: &Plan, report: &mut Report, bar: &ProgressBar) -> Result<()> {
        let writes = plan
            .pairs
            .iter()
            .flat_map(|p| &p.items)
            .filter(|i| i.writes())
            .count();
        bar.set_length(writes as u64);
        for pair_plan in &plan.pairs {
            let pair = *self
                .pairs
                .iter()
                .find(|p| p.name == pair_plan.name)
                .with_context(|| {
                    format!(
                        "the plan names pair `{}`, which the mapping file no longer has",
                        pair_plan.name
                    )
                })?;
            self.apply_pair(pair, pair_plan, report, bar)?;
        }
        Ok(())
    }

    /// Applies one pair's items: state-only items, then creates, then
    /// updates, target by target, in batches. The state file is written
    /// when the pair is done, whether or not every write succeeded.
    pub fn apply_pair(
        &mut self,
        pair: &PairConfig,
        plan: &PairPlan,
        report: &mut Report,
        bar: &ProgressBar,
    ) -> Result<()> {
        let applied = self.write_pair(pair, plan, report, bar);
        let saved = self.checkpoint(true);
        applied.and(saved)
    }

    fn write_pair(
        &mut self,
        pair: &PairConfig,
        plan: &PairPlan,
        report: &mut Report,
        bar: &ProgressBar,
    ) -> Result<()> {
        let outcome = |item: &Item, result: Res, message: Option<String>| RecordOutcome {
            pair: pair.name.clone(),
            action: item.action,
            target: item.target,
            left_id: item.left_id.clone(),
            right_id: item.right_id.clone(),
            label: item.label.clone(),
            result,
            message,
        };
        report.duplicates.extend(
            plan.duplicates
                .iter()
                .map(|d| crate::report::DuplicateNotice {
                    pair: pair.name.clone(),
                    duplicate: d.clone(),
                }),
        );
        // State-only items first: links must exist before updates settle on them.
        let links = self.state.pair_mut(&pair.name);
        for item in &plan.items {
            let (Some(left), Some(right)) = (item.left_id.as_deref(), item.right_id.as_deref())
            else {
                if item.action == Action::Invalid {
                    report.outcomes.push(outcome(
                        item,
                        Res::Failed,
                        Some(item.problems.join("; ")),
                    ));
                }
                continue;
            };
            match item.action {
                Action::Link | Action::Baseline => {
                    settle_fields(links.link(left, right), item);
                    if item.action == Action::Link {
                        report.outcomes.push(outcome(item, Res::Done, None));
                    }
                }
                Action::Conflict => {
                    let left_for_human = item.conflicts.iter().any(|c| c.winner.is_none());
                    if let Some(link) = links.link_mut(left) {
                        settle_fields(link, item);
                    }
                    let message = item
                        .conflicts
                        .iter()
                        .map(|c| format!("{}: left {:?} vs right {:?}", c.field, c.left, c.right))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let result = if left_for_human {
                        Res::Skipped
                    } else {
                        Res::Done
                    };
                    report.outcomes.push(outcome(item, result, Some(message)));
                }
                Action::Unlink => {
                    links.bury(left, right);
                    report.outcomes.push(outcome(item, Res::Done, None));
                }
                Action::Invalid => {
                    report
                        .outcomes
                        .push(outcome(item, Res::Failed, Some(item.problems.join("; "))))
                }
                Action::Create | Action::Update | Action::Associate | Action::Delete => {}
            }
        }
        self.checkpoint(false)?;

        for target in [Side::Right, Side::Left] {
            let endpoint = pair.endpoint(target);
            let connector = &self.connectors[&endpoint.system];
            let fields = pair.field_names(target);
            let batch = connector.capabilities().max_batch.max(1);
            for action in [
                Action::Create,
                Action::Update,
                Action::Associate,
                Action::Delete,
            ] {
                let items: Vec<(usize, &Item)> = plan
                    .items
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.action == action && i.target == Some(target))
                    .collect();
                for chunk in items.chunks(batch) {
                    if action == Action::Create {
                        // Journal before sending: if the answer is lost, the
                        // next run finds the record instead of making another.
                        let links = self.state.pair_mut(&pair.name);
                        for (_, item) in chunk {
                            let source = item.id(target.other()).unwrap_or_default().to_string();
                            links.add_pending(PendingCreate {
                                target,
                                source,
                                fields: written_fields(item, true).iter().collect(),
                            });
                        }
                        self.state.journal(self.state_path)?;
                    }
                    let results = match action {
                        Action::Create => {
                            let records: Vec<NewRecord> = chunk
                                .iter()
                                .map(|(n, i)| NewRecord {
                                    key: n.to_string(),
                                    fields: written_fields(i, true),
                                })
                                .collect();
                            connector.create(endpoint.object, &records, &fields)
                        }
                        Action::Delete => {
                            let records: Vec<RecordRef> = chunk
                                .iter()
                                .map(|(n, i)| RecordRef {
                                    key: n.to_string(),
                                    id: i.id(target).unwrap_or_default().to_string(),
                                })
                                .collect();
                            connector.delete(endpoint.object, &records)
                        }
                        _ => {
                            let records: Vec<RecordUpdate> = chunk
                                .iter()
                                .map(|(n, i)| RecordUpdate {
                                    key: n.to_string(),
                                    id: i.id(target).unwrap_or_default().to_string(),
                                    fields: written_fields(i, false),
                                    previous: i
                                        .changes
                                        .iter()
                                        .map(|c| (c.field.clone(), c.from.clone()))
                                        .collect(),
                                })
                                .collect();
                            connector.update(endpoint.object, &records, &fields)
                        }
                    }
                    .with_context(|| format!("writing {} to {endpoint}", pair.name))?;
                    let by_key: BTreeMap<String, WriteResult> =
                        results.into_iter().map(|r| (r.key.clone(), r)).collect();
                    let links = self.state.pair_mut(&pair.name);
                    for (n, item) in chunk {
                        let result = by_key.get(&n.to_string()).map(|r| &r.outcome);
                        // A refused create made no record; one with no answer
                        // may have, so it stays journaled. A made one is
                        // settled by its link.
                        if action == Action::Create && matches!(result, Some(Err(_))) {
                            links.remove_pending(
                                target,
                                item.id(target.other()).unwrap_or_default(),
                            );
                        }
                        match result {
                            Some(Ok(_)) if action == Action::Delete => {
                                let id = item.id(target).unwrap_or_default().to_string();
                                self.written.push((target, Written::Deleted { id }));
                                links.bury(
                                    item.left_id.as_deref().unwrap_or_default(),
                                    item.right_id.as_deref().unwrap_or_default(),
                                );
                                report.outcomes.push(outcome(item, Res::Done, None));
                            }
                            Some(Ok(written)) => {
                                record_write(links, item, target, written);
                                self.written.push((target, as_written(item, written)));
                                let mut done = outcome(item, Res::Done, None);
                                // A created record's id is known only now.
                                match target {
                                    Side::Left => done.left_id = Some(written.id.clone()),
                                    Side::Right => done.right_id = Some(written.id.clone()),
                                }
                                report.outcomes.push(done);
                            }
                            Some(Err(message)) => report.outcomes.push(outcome(
                                item,
                                Res::Failed,
                                Some(message.clone()),
                            )),
                            None => report.outcomes.push(outcome(
                                item,
                                Res::Failed,
                                Some("no result for this record".into()),
                            )),
                        }
                    }
                    self.checkpoint(false)?;
                    bar.inc(chunk.len() as u64);
                }
            }
        }
        Ok(())
    }
}

/// The fields an item writes; a create leaves out empty values.
fn written_fields(item: &Item, create: bool) -> BTreeMap<String, String> {
    item.changes
        .iter()
        .filter(|c| !(create && c.to.is_empty()))
        .map(|c| (c.field.clone(), c.to.clone()))
        .collect()
}

fn settle_fields(link: &mut Link, item: &Item) {
    for s in &item.settle {
        link.base.left.insert(s.left_field.clone(), s.left.clone());
        link.base
            .right
            .insert(s.right_field.clone(), s.right.clone());
    }
}

/// A record as a write left it: every field the answer gave, and each
/// field written as the answer gave it, else as it was sent.
fn as_written(item: &Item, answer: &Record) -> Written {
    let mut values: Vec<(String, String)> = answer
        .fields
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
    for c in &item.changes {
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

/// Links a created record and records the written fields as the base, with
/// the target's value as the server stored it (it may normalise, e.g. an
/// email to lower case), so our own write is never taken for an edit.
fn record_write(links: &mut crate::state::PairState, item: &Item, target: Side, written: &Record) {
    let (left, right) = match target {
        Side::Right => (item.left_id.clone().unwrap_or_default(), written.id.clone()),
        Side::Left => (
            written.id.clone(),
            item.right_id.clone().unwrap_or_default(),
        ),
    };
    let link = links.link(&left, &right);
    for c in &item.changes {
        let stored = written
            .fields
            .get(&c.field)
            .map_or_else(|| c.to.clone(), str::to_string);
        let (target_base, source_base) = match target {
            Side::Right => (&mut link.base.right, &mut link.base.left),
            Side::Left => (&mut link.base.left, &mut link.base.right),
        };
        target_base.insert(c.field.clone(), stored);
        source_base.insert(c.source_field.clone(), c.source_value.clone());
    }
    settle_fields(link, item);
}
