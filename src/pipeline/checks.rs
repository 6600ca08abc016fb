//! What stops a run before its first write: a saved plan whose records or
//! properties changed since it was made (or made under another mapping), and a pair's
//! plan over its `max_deletes`/`max_changes` limits. Both raise a
//! `SafetyStop`; neither writes anything.

use super::Connectors;
use crate::config::{Config, Limit, PairConfig};
use crate::exit::SafetyStop;
use crate::model::Side;
use crate::plan::{Action, Item, PairPlan, Plan, PropertyStep};
use crate::state::State;
use anyhow::{Context, Result};
use std::collections::BTreeMap;

/// Refuses a saved plan whose records changed since it was made, before any
/// write: a reviewed plan is applied exactly, or not at all.
pub fn check_fresh(
    config: &Config,
    plan: &Plan,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    state: &State,
) -> Result<()> {
    if plan.config_fingerprint != config.fingerprint {
        return Err(SafetyStop(format!(
            "the plan was made with a different {}; nothing written: run `crmsync diff --out PLAN` again and review it",
            config.path.display()
        ))
        .into());
    }
    // A forward reference must name a create of an earlier pair of the
    // plan, or the item waiting on it could never be applied.
    let mut stale = plan
        .dangling_refs(&|pair, field| pairs.iter().any(|p| p.name == pair && p.is_relation(field)));
    let empty = Default::default();
    for pair_plan in &plan.pairs {
        let Some(pair) = pairs.iter().find(|p| p.name == pair_plan.name) else {
            continue;
        };
        let links = state.pair(&pair.name).unwrap_or(&empty);
        for side in [Side::Left, Side::Right] {
            let endpoint = pair.endpoint(side);
            let expected: BTreeMap<&str, i64> = pair_plan
                .items
                .iter()
                .filter(|i| i.is_change())
                .filter_map(|i| Some((i.id(side)?, i.expect(side)?)))
                // A record this run creates cannot have changed.
                .filter(|(id, _)| !crate::plan::is_forward_ref(id))
                .collect();
            let ids: Vec<String> = expected.keys().map(|s| s.to_string()).collect();
            let connector = connectors[&endpoint.system].as_ref();
            let fields = crate::apply::existing_fields(connector, pair, side)?;
            let current: BTreeMap<String, i64> = connector
                .read(endpoint.object, &ids, &fields)
                .with_context(|| format!("checking the plan against {endpoint}"))?
                .into_iter()
                .map(|r| (r.id, r.updated_ms))
                .collect();
            for (id, when) in &expected {
                match current.get(*id) {
                    Some(now) if now == when => {}
                    Some(_) => stale.push(format!("{endpoint} {id} changed")),
                    None => stale.push(format!("{endpoint} {id} is gone")),
                }
            }
        }
        // A property this plan would make was made, or given other
        // options, since.
        for item in &pair_plan.items {
            let Item::Property(p) = item else { continue };
            if !p.writes() {
                continue;
            }
            let endpoint = pair.endpoint(p.target);
            let now = connectors[&endpoint.system]
                .properties(endpoint.object, std::slice::from_ref(&p.field))
                .with_context(|| format!("checking the plan against {endpoint}"))?
                .pop()
                .flatten();
            let changed = match (&p.step, now) {
                (PropertyStep::Create(_), Some(_)) => Some("was created since"),
                (PropertyStep::AddOptions { .. }, None) => Some("is gone"),
                (PropertyStep::AddOptions { had, .. }, Some(now)) if now.options.len() != *had => {
                    Some("has other options since")
                }
                _ => None,
            };
            if let Some(changed) = changed {
                stale.push(format!("{endpoint} property {} {changed}", p.field));
            }
        }
        for item in &pair_plan.items {
            // A record this plan would link or create was linked since.
            let relinked = match item {
                Item::Create(_) | Item::Link(_) => Side::BOTH
                    .into_iter()
                    .any(|side| item.id(side).is_some_and(|id| links.by(side, id).is_some())),
                _ => false,
            };
            if relinked {
                stale.push(format!("{} {} was synced since", pair.name, item.label()));
            }
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let shown: Vec<_> = stale.iter().take(5).cloned().collect();
    Err(SafetyStop(format!(
        "the plan is stale ({} changed since it was made: {}{}); nothing written: run `crmsync diff --out PLAN` again and review it",
        crate::plan::counted(stale.len() as u64, "record", "records"),
        shown.join(", "),
        if stale.len() > 5 { ", …" } else { "" }
    ))
    .into())
}

/// Command-line overrides of the pairs' safety limits.
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits {
    pub max_deletes: Option<Limit>,
    pub max_changes: Option<Limit>,
}

/// The one place a plan is counted against its pair's limits: stops before
/// any write (exit 6) when it deletes or changes more records than
/// `max_deletes`/`max_changes` (or their command-line overrides) allow,
/// percentages taken of the records the pair held when it was planned.
pub fn check_limits(pair: &PairConfig, plan: &PairPlan, overrides: Limits) -> Result<()> {
    // A merge counts when it writes (`merges = "propagate"`).
    let count = |actions: &[Action]| {
        plan.items
            .iter()
            .filter(|i| {
                actions.contains(&i.action()) && (i.action() != Action::Merge || i.writes())
            })
            .count() as u64
    };
    let total = plan.records;
    let checks = [
        (
            "max_deletes",
            "--max-deletes",
            overrides.max_deletes.or(pair.max_deletes),
            count(&[Action::Delete]),
            "delete",
        ),
        (
            "max_changes",
            "--max-changes",
            overrides.max_changes.or(pair.max_changes),
            count(&[
                Action::Create,
                Action::Update,
                Action::Associate,
                Action::Delete,
                Action::Merge,
                Action::Property,
            ]),
            "change",
        ),
    ];
    for (key, flag, limit, planned, verb) in checks {
        if let Some(limit) = limit
            && planned > limit.of(total)
        {
            return Err(SafetyStop(format!(
                "pair `{}` would {verb} {planned} of {}, over {key} = {limit}; nothing written: check both accounts, and if it is meant, rerun with {flag} {planned}",
                pair.name,
                crate::plan::counted(total as u64, "record", "records")
            ))
            .into());
        }
    }
    Ok(())
}
