//! The write stage: a plan applied pair after pair through the one door to
//! the applier, forward references resolved as the creates they wait on
//! answer; for `sync`, a pair replanned on what the pairs before it wrote
//! when it depends on them, and the written records folded into the
//! snapshots. Only the applier sends writes; this stage orders them.

use super::checks::{Limits, check_limits};
use super::planning::plan_pair;
use super::relations::{relations_through, replace_in};
use super::{Connectors, Snapshots, by_side, pair_snapshots};
use crate::apply::Applier;
use crate::config::{Config, Endpoint, PairConfig, ValueMap};
use crate::mapping::PlannedLinks;
use crate::model::Side;
use crate::plan::{Item, PairPlan, Plan};
use crate::progress::Progress;
use crate::report::{RecordOutcome, Report, Stop};
use crate::snapshot::{Snapshot, Written};
use crate::state::State;
use anyhow::{Context, Result};

/// Where an apply writes to and reports through.
#[derive(Clone, Copy)]
pub struct Output<'a> {
    pub config: &'a Config,
    pub connectors: &'a Connectors,
    pub progress: &'a Progress,
}

/// Applies a saved plan (`push`) as it stands, pair by pair through the
/// same door as `sync`; outcomes go into `report` as they happen, so a run
/// that stops midway still reports what it did. The state is saved as it
/// goes. Forward references are resolved as the creates they wait on
/// answer. A signal stops it after the batch in flight, a limit that lifts
/// later after the batch it stopped (`report.stopped`).
pub fn apply(
    out: &Output,
    plan: &Plan,
    pairs: &[&PairConfig],
    state: &mut State,
    report: &mut Report,
) -> Result<()> {
    let bar = out.progress.pending_bar("writing");
    let mut created = Created::new();
    let state_path = State::path(&out.config.state_dir);
    for pair_plan in &plan.pairs {
        let pair = *pairs
            .iter()
            .find(|p| p.name == pair_plan.name)
            .with_context(|| {
                format!(
                    "the plan names pair `{}`, which the mapping file no longer has",
                    pair_plan.name
                )
            })?;
        let applied = crate::interrupt::check()
            .map_err(anyhow::Error::new)
            .and_then(|()| {
                let mut applier = Applier::new(out.connectors, state, &state_path);
                let applied = resolve_and_apply_pair(
                    out,
                    &mut applier,
                    pair,
                    pair_plan,
                    &mut created,
                    report,
                    &bar,
                );
                applied.result.and(applier.save())
            });
        if stopped_early(applied, report)? {
            break;
        }
    }
    out.progress.finish(&bar);
    Ok(())
}

/// The ids of the records this run created, by their forward reference.
pub(super) type Created = std::collections::HashMap<String, String>;

/// Returns true if the apply stopped early: a signal, or a limit that
/// lifts later (exit 5: a daily limit reached, a rate limit or an outage
/// that outlasted the wait). Noted in the report (the state of every batch
/// answered is saved, and the run ends showing its plan and what it
/// applied); passes any other error on.
pub(super) fn stopped_early(applied: Result<()>, report: &mut Report) -> Result<bool> {
    match applied {
        Ok(()) => Ok(false),
        Err(e) => match stop_of(e) {
            Ok(stop) => {
                report.stopped.get_or_insert(stop);
                Ok(true)
            }
            Err(e) => Err(e),
        },
    }
}

/// Returns true if and only if `error` stops an apply early rather than
/// failing the run (see `stopped_early`).
pub(super) fn stops_early(error: &anyhow::Error) -> bool {
    crate::interrupt::signal_of(error).is_some()
        || crate::exit::status_of_error(error) == crate::exit::ExitStatus::TryLater
}

/// The early stop `error` is, or the error itself.
fn stop_of(error: anyhow::Error) -> Result<Stop, anyhow::Error> {
    match crate::interrupt::signal_of(&error) {
        Some(signal) => Ok(Stop::Signal(signal)),
        None if stops_early(&error) => Ok(Stop::Limit(error)),
        None => Err(error),
    }
}

/// What one pair's apply did: the records and properties it wrote (also
/// when it stopped midway), and how it ended.
pub(super) struct PairApplied {
    pub(super) written: Vec<(Side, Written)>,
    pub(super) properties: Vec<(crate::plan::Property, crate::connector::PropertySpec)>,
    pub(super) result: Result<()>,
}

/// The one door to the applier, for `push` and `sync` (streamed or not):
/// applies one pair's plan (or a page of a streamed pair's) through
/// `applier` and returns what it wrote (also when it stopped midway), for
/// the snapshots the later pairs plan on, and how it ended; the caller
/// saves the state when the pair is done. Each item's forward
/// references are first replaced by the ids `created` holds; an item
/// waiting on a create that did not answer with an id (refused, unknown) is
/// a failed outcome, never a write with a wrong or empty relation. The ids
/// this pair's creates answer with go into `created`.
pub(super) fn resolve_and_apply_pair(
    out: &Output,
    applier: &mut Applier,
    pair: &PairConfig,
    plan: &PairPlan,
    created: &mut Created,
    report: &mut Report,
    bar: &indicatif::ProgressBar,
) -> PairApplied {
    let resolved;
    // The plan's own item behind each item applied, by position.
    let mut planned_items: Vec<&Item> = plan.items.iter().collect();
    let is_relation = |field: &str| pair.is_relation(field);
    let plan = if plan.items.iter().any(|i| i.has_forward_refs(&is_relation)) {
        let mut items = Vec::with_capacity(plan.items.len());
        planned_items.clear();
        for item in &plan.items {
            match item.resolve(&|reference| created.get(reference).cloned(), &is_relation) {
                Ok(ready) => {
                    items.push(ready);
                    planned_items.push(item);
                }
                Err(_) if !item.is_change() => {}
                Err(reference) => report.outcomes.push(RecordOutcome::of(
                    &pair.name,
                    item,
                    crate::report::Result::Failed,
                    Some(format!(
                        "waits for {reference}, which this run did not create; the next run plans it again"
                    )),
                )),
            }
        }
        resolved = PairPlan {
            name: plan.name.clone(),
            left: plan.left.clone(),
            right: plan.right.clone(),
            items,
            duplicates: plan.duplicates.clone(),
            records: plan.records,
            scope: plan.scope.clone(),
        };
        &resolved
    } else {
        plan
    };
    let writes = plan.items.iter().filter(|i| i.writes()).count();
    bar.inc_length(writes as u64);
    out.progress.reveal(bar);
    let applied = applier.apply_pair(pair, plan, report, bar);
    for (at, id) in std::mem::take(&mut applier.created) {
        if let Some(reference) = planned_items[at].created_ref(&pair.name) {
            created.insert(reference, id);
        }
    }
    PairApplied {
        written: std::mem::take(&mut applier.written),
        properties: std::mem::take(&mut applier.properties),
        result: applied,
    }
}

/// Applies the plan `plan` made (`predicted`), pair after pair in file
/// order, and returns the plan applied. Every pair's limits are checked on
/// the predicted plan before the first write of the run. A signal stops the
/// run after the batch in flight, a limit that lifts later (a daily limit,
/// a rate limit) after the batch it stopped (`report.stopped`, the
/// snapshots still saved); the plan returned then holds the pairs not
/// reached too, as predicted, so the run shows what it set out to do.
///
/// A pair is applied as predicted unless a pair before it that it depends
/// on wrote to a CRM: then it is planned again on the state and the
/// snapshots as those writes left them, and checked against its limits
/// again. That is where a prediction can be wrong: the server answered with
/// the created records' ids and its own spelling of the values written
/// (normalised, defaults filled in), or refused some. Replanning on the
/// answers keeps the base exactly what the accounts hold, so the next run
/// finds nothing to do; on accounts that answer as predicted it plans the
/// same items. Links, unlinks and conflicts settled without a write are
/// predicted exactly and never cause a second planning. The written
/// records are folded into the snapshots, which are saved when all pairs
/// are done.
pub fn plan_and_apply(
    out: &Output,
    pairs: &[&PairConfig],
    predicted: Plan,
    snapshots: &mut Snapshots,
    state: &mut State,
    report: &mut Report,
    limits: Limits,
) -> Result<Plan> {
    let Output {
        config, progress, ..
    } = *out;
    for (pair, plan) in pairs.iter().zip(&predicted.pairs) {
        check_limits(pair, plan, limits)?;
    }
    let mut predicted: Vec<Option<PairPlan>> = predicted.pairs.into_iter().map(Some).collect();
    let mut pair_plans: Vec<PairPlan> = Vec::new();
    let mut created = Created::new();
    let mut touched = std::collections::BTreeSet::new();
    let bar = progress.pending_bar("writing");
    let state_path = State::path(&config.state_dir);
    for (n, pair) in pairs.iter().enumerate() {
        if stopped_early(crate::interrupt::check().map_err(Into::into), report)? {
            break;
        }
        let upstream_wrote = pairs[..n].iter().zip(&pair_plans).any(|(earlier, plan)| {
            depends_on(pair, earlier) && plan.items.iter().any(Item::writes)
        });
        let pair_plan = match predicted[n].take() {
            Some(plan) if !upstream_wrote => plan,
            _ => {
                let plan = plan_pair(
                    pair,
                    pair_snapshots(snapshots, pair),
                    state,
                    &PlannedLinks::default(),
                );
                check_limits(pair, &plan, limits)?;
                plan
            }
        };
        let mut applier = Applier::new(out.connectors, state, &state_path);
        let PairApplied {
            written,
            properties,
            result,
        } = resolve_and_apply_pair(
            out,
            &mut applier,
            pair,
            &pair_plan,
            &mut created,
            report,
            &bar,
        );
        let result = result.and(applier.save());
        for (property, made) in &properties {
            let object = pair.endpoint(property.target).to_string();
            if let Some(snapshot) = snapshots.get_mut(&object) {
                snapshot.absorb_property(property, Some(made));
                touched.insert(object);
            }
        }
        for (side, write) in &written {
            let into = match write {
                Written::Deleted { id } => Some((id, None)),
                Written::Merged { id, into } => Some((id, Some(into.as_str()))),
                Written::Saved { .. } => None,
            };
            if let Some((id, into)) = into {
                for (object, field) in relations_through(config, pair, *side) {
                    if let Some(snapshot) = snapshots.get_mut(&object)
                        && replace_in(snapshot, &field, id, into)
                    {
                        touched.insert(object);
                    }
                }
            }
        }
        for (side, records) in by_side(written) {
            let object = pair.endpoint(side).to_string();
            if let Some(snapshot) = snapshots.get_mut(&object) {
                snapshot.absorb(records);
                touched.insert(object);
            }
        }
        pair_plans.push(pair_plan);
        if stopped_early(result, report)? {
            break;
        }
    }
    progress.finish(&bar);
    if report.stopped.is_some() {
        // The plan shows the whole run: the pairs not reached as predicted.
        pair_plans.extend(
            predicted[pair_plans.len()..]
                .iter_mut()
                .filter_map(Option::take),
        );
    }
    for object in touched {
        let snapshot = &snapshots[&object];
        let endpoint = Endpoint {
            system: snapshot.system.clone(),
            kind: config.system(&snapshot.system).kind,
            object: snapshot.object,
        };
        snapshot.save(&Snapshot::path(&config.state_dir, &endpoint))?;
    }
    Ok(Plan::new(&config.fingerprint, pair_plans))
}

/// Returns true if and only if what `earlier` applies can change the plan
/// of `pair`: they share an account object, or `pair` translates ids
/// through `earlier`'s links.
fn depends_on(pair: &PairConfig, earlier: &PairConfig) -> bool {
    let shares = |e: &Endpoint| *e == earlier.left || *e == earlier.right;
    shares(&pair.left)
        || shares(&pair.right)
        || pair
            .values
            .values()
            .any(|v| *v == ValueMap::Link(earlier.name.clone()))
}
