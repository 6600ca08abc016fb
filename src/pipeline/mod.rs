//! The stages of the one pipeline the subcommands stop along:
//! connect → pull (snapshots) → follow identities → plan (match + merge) →
//! check (freshness, limits) → write. Each stage is a function of data in,
//! data out; the subcommands in `lib.rs` only choose where to stop and what
//! to print.
//!
//! This file connects and validates, and holds what the stages share: the
//! connectors and snapshots of a run and the account objects the pairs
//! name. `pull` pulls and loads snapshots, `identity` settles merged and
//! vanished records, `blockers` reads the partners out of a scope that
//! would-be creates would duplicate, `planning` plans pair after pair, `checks` holds what
//! stops a run before its first write, `write` applies through the applier,
//! `cost` estimates what a plan costs each account (and whether it fits
//! the day's `daily_tokens`), and `relations` edits the relation values of
//! snapshots. No stage here
//! decides a record's fate (the matcher and the three-way merge do) or
//! sends a write itself (the applier does).

mod blockers;
mod checks;
mod cost;
mod identity;
mod paged;
mod planning;
mod pull;
mod relations;
mod stream;
mod write;

#[cfg(test)]
mod tests;

pub use checks::{Limits, check_fresh, check_limits};
pub use cost::{estimate, warn_if_over_budget};
pub use identity::follow_identities;
pub use planning::{plan, plan_pair};
pub use pull::{load_saved, pull};
pub use write::{Output, apply, plan_and_apply};

/// What a run knows once it has read both accounts, and the plan made of it.
pub struct Fresh {
    pub snapshots: Snapshots,
    pub state: state::State,
    pub plan: crate::plan::Plan,
}

/// The stages `diff` and `sync` share before any write, in one place so the
/// plan `diff` shows is the plan `sync` applies: validate the mapping, load
/// the state, pull, settle merged and vanished records, plan.
pub fn fresh_plan(
    config: &Config,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    progress: &crate::progress::Progress,
    full: bool,
) -> Result<Fresh> {
    validate(config, pairs, connectors)?;
    let state = state::State::load(&state::State::path(&config.state_dir))?;
    plan_on(config, pairs, connectors, progress, full, state)
}

/// `fresh_plan` from the pull on, with the state loaded.
fn plan_on(
    config: &Config,
    pairs: &[&PairConfig],
    connectors: &Connectors,
    progress: &crate::progress::Progress,
    full: bool,
    mut state: state::State,
) -> Result<Fresh> {
    let mut snapshots = pull(config, pairs, connectors, progress, full)?;
    follow_identities(config, pairs, connectors, &mut snapshots, &mut state)?;
    blockers::find_blockers(config, pairs, connectors, &mut snapshots, &state)?;
    let plan = plan(config, pairs, &snapshots, &state);
    Ok(Fresh {
        snapshots,
        state,
        plan,
    })
}

/// `sync` past its dry run: the same stages as `fresh_plan`, then the
/// writes, and the plan applied. A first sync of one pair streams (see
/// `stream`: the source side is planned and written page by page as it is
/// listed, in the same items and the same order); any other run plans
/// whole, checks its limits and applies (`plan_and_apply`).
pub fn sync(
    out: &Output,
    pairs: &[&PairConfig],
    full: bool,
    limits: Limits,
    report: &mut crate::report::Report,
) -> Result<crate::plan::Plan> {
    let Output {
        config,
        connectors,
        progress,
    } = *out;
    validate(config, pairs, connectors)?;
    let mut state = state::State::load(&state::State::path(&config.state_dir))?;
    if let Some(stream) = stream::Stream::of(config, pairs, &state, limits, full) {
        return stream.run(out, &mut state, report);
    }
    let Fresh {
        mut snapshots,
        mut state,
        plan,
    } = plan_on(config, pairs, connectors, progress, full, state)?;
    plan_and_apply(out, pairs, plan, &mut snapshots, &mut state, report, limits)
}

use crate::config::{Config, ConfigError, Endpoint, PairConfig};
use crate::connector::{self, Connector};
use crate::model::{ObjectKind, Side};
use crate::snapshot::{Snapshot, Written};
use crate::state;
use crate::validate;
use anyhow::{Context, Result};
use std::collections::BTreeMap;

pub type Connectors = BTreeMap<String, Box<dyn Connector>>;

/// Builds a connector for every system the pairs use; missing tokens fail
/// here, all named at once, before any request.
pub fn connect(config: &Config, pairs: &[&PairConfig]) -> Result<Connectors> {
    let mut names: Vec<&str> = Vec::new();
    for endpoint in pairs.iter().flat_map(|p| [&p.left, &p.right]) {
        if !names.contains(&endpoint.system.as_str()) {
            names.push(&endpoint.system);
        }
    }
    let systems: Vec<_> = names.iter().map(|name| config.system(name)).collect();
    let connectors: Connectors = names
        .into_iter()
        .map(str::to_string)
        .zip(connector::connect(&systems)?)
        .collect();
    // Fields an earlier run created are found by the keys it recorded.
    for (object, keys) in state::load_field_keys(&config.state_dir)? {
        let Some((system, kind)) = object.split_once('.') else {
            continue;
        };
        if let (Some(connector), Some(kind)) = (connectors.get(system), ObjectKind::parse(kind)) {
            connector.learn_keys(kind, &keys);
        }
    }
    Ok(connectors)
}

/// Checks every pair's mapping against both accounts' metadata and stops
/// with exit 2 (one line per problem) before any write. The check is
/// remembered for the mapping file's fingerprint for a day, so an unchanged
/// cron run does not pay for the metadata every few minutes.
pub fn validate(config: &Config, pairs: &[&PairConfig], connectors: &Connectors) -> Result<()> {
    let fresh = state::validated_recently(&config.state_dir, &config.fingerprint);
    if fresh {
        return Ok(());
    }
    let mut problems = Vec::new();
    for pair in pairs {
        let describe = |side: Side| {
            let endpoint = pair.endpoint(side);
            connectors[&endpoint.system]
                .describe(endpoint.object, &pair.field_names(side))
                .with_context(|| format!("reading the fields of {endpoint}"))
        };
        let (mut left, mut right) = (describe(Side::Left)?, describe(Side::Right)?);
        validate::as_created(pair, &mut left, &mut right);
        problems.extend(validate::check_pair(pair, &left, &right, &config.pairs));
        for side in Side::BOTH {
            let Some(scope) = &pair.scope[side] else {
                continue;
            };
            let endpoint = pair.endpoint(side);
            let connector = &connectors[&endpoint.system];
            let infos = connector
                .describe(endpoint.object, &scope.fields())
                .with_context(|| format!("reading the fields of {endpoint}"))?;
            problems.extend(validate::check_scope(pair, side, scope, &infos));
            if let Some(id) = &scope.saved_filter {
                let problem = connector
                    .check_saved_filter(endpoint.object, id)
                    .with_context(|| format!("reading saved filter {id} of {endpoint}"))?;
                problems.extend(
                    problem.map(|p| {
                        format!("pair `{}`: [pairs.scope.{side}] filter_id: {p}", pair.name)
                    }),
                );
            }
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError(format!(
            "{} does not fit the accounts; nothing written:\n  {}",
            config.path.display(),
            problems.join("\n  ")
        ))
        .into());
    }
    state::record_validated(&config.state_dir, &config.fingerprint)
}
/// The snapshots of a run, one per account object, by `system.object`.
pub type Snapshots = BTreeMap<String, Snapshot>;

/// The account objects the pairs name, each once, in file order.
pub fn account_objects(pairs: &[&PairConfig]) -> Vec<Endpoint> {
    let mut objects: Vec<Endpoint> = Vec::new();
    for pair in pairs {
        for side in [Side::Left, Side::Right] {
            let endpoint = pair.endpoint(side);
            if !objects.contains(endpoint) {
                objects.push(endpoint.clone());
            }
        }
    }
    objects
}

/// Every side of every pair in the file that names `object`: a snapshot
/// holds what all of them map, whichever pairs a run selects, so one pair's
/// `--pair` run does not cost the others a full pull.
pub(super) fn sides_on<'a>(
    config: &'a Config,
    object: &'a Endpoint,
) -> impl Iterator<Item = (&'a PairConfig, Side)> {
    config.pairs.iter().flat_map(move |pair| {
        [Side::Left, Side::Right]
            .into_iter()
            .filter(move |side| pair.endpoint(*side) == object)
            .map(move |side| (pair, side))
    })
}

/// The fields a snapshot of `object` holds: the union of what every pair
/// maps on it, sorted; a note's time always (a HubSpot note is created
/// with one, the source's own where the pair does not map it).
pub(super) fn object_fields(config: &Config, object: &Endpoint) -> Vec<String> {
    let mut fields: std::collections::BTreeSet<String> = sides_on(config, object)
        .flat_map(|(pair, side)| pair.pulled_fields(side))
        .collect();
    if object.object == crate::model::ObjectKind::Notes {
        fields.insert(object.kind.profile().notes.time.to_string());
    }
    fields.into_iter().collect()
}

/// The two snapshots a pair plans on.
pub fn pair_snapshots<'a>(snapshots: &'a Snapshots, pair: &PairConfig) -> [&'a Snapshot; 2] {
    [Side::Left, Side::Right].map(|side| &snapshots[&pair.endpoint(side).to_string()])
}

pub(super) fn by_side(written: Vec<(Side, Written)>) -> BTreeMap<Side, Vec<Written>> {
    let mut sides: BTreeMap<Side, Vec<Written>> = BTreeMap::new();
    for (side, record) in written {
        sides.entry(side).or_default().push(record);
    }
    sides
}

/// Tokens of a daily budget spent so far, by the systems that have one.
pub fn tokens_spent(connectors: &Connectors) -> BTreeMap<String, u64> {
    connectors
        .iter()
        .map(|(name, c)| (name.clone(), c.tokens_spent()))
        .filter(|(_, tokens)| *tokens > 0)
        .collect()
}

/// Requests made so far by every connector.
pub fn request_counts(connectors: &Connectors) -> BTreeMap<String, BTreeMap<String, u64>> {
    connectors
        .iter()
        .map(|(name, c)| (name.clone(), c.request_counts()))
        .collect()
}
