//! What a run costs each account, and whether it fits the day: the requests
//! (and Pipedrive tokens) the pull made, the writes a plan holds as the
//! connectors will send them (`connector::write_cost`), and the warning
//! `diff` gives when a plan will not fit what `daily_tokens` leaves today.
//! It sends nothing and decides nothing about the plan.

use super::Connectors;
use crate::config::{Config, PairConfig};
use crate::connector::{self, WriteKind};
use crate::model::ObjectKind;
use crate::plan::{AccountCost, Item, Plan};
use crate::state::DailySpend;
use crate::vendor::SystemKind;
use anyhow::Result;
use std::collections::BTreeMap;

/// Each account's cost of `plan`: the reads made so far (none when
/// `connectors` is `None`, an offline plan) and the writes it holds.
pub fn estimate(
    config: &Config,
    pairs: &[&PairConfig],
    plan: &Plan,
    connectors: Option<&Connectors>,
) -> BTreeMap<String, AccountCost> {
    let mut costs: BTreeMap<String, AccountCost> = BTreeMap::new();
    for pair in pairs {
        for side in [crate::model::Side::Left, crate::model::Side::Right] {
            let system = &pair.endpoint(side).system;
            let has_tokens = config.system(system).kind == SystemKind::Pipedrive;
            costs.entry(system.clone()).or_insert_with(|| AccountCost {
                read_tokens: has_tokens.then_some(0),
                write_tokens: has_tokens.then_some(0),
                ..AccountCost::default()
            });
        }
    }
    if let Some(connectors) = connectors {
        for (system, cost) in &mut costs {
            if let Some(connector) = connectors.get(system) {
                cost.read_requests = connector.request_counts().values().sum();
                if cost.read_tokens.is_some() {
                    cost.read_tokens = Some(connector.tokens_spent());
                }
            }
        }
    }
    let mut writes: BTreeMap<(String, ObjectKind, WriteKind), u64> = BTreeMap::new();
    for pair_plan in &plan.pairs {
        let Some(pair) = pairs.iter().find(|p| p.name == pair_plan.name) else {
            continue;
        };
        for item in &pair_plan.items {
            let (Some(target), Some(write)) = (item.target(), write_kind(item)) else {
                continue;
            };
            let endpoint = pair.endpoint(target);
            *writes
                .entry((endpoint.system.clone(), endpoint.object, write))
                .or_default() += 1;
        }
    }
    for ((system, object, write), count) in writes {
        let cost = connector::write_cost(config.system(&system).kind, object, write, count);
        let account = costs.entry(system).or_default();
        account.write_requests += cost.requests;
        if let Some(tokens) = &mut account.write_tokens {
            *tokens += cost.tokens;
        }
    }
    costs
}

/// Warns, for each system with a `daily_tokens` cap, when the run `plan`
/// stands for (a pull like this one, then its writes) needs more tokens
/// than the cap leaves today: `sync` would apply what fits and stop.
pub fn warn_if_over_budget(
    config: &Config,
    plan: &Plan,
    connectors: Option<&Connectors>,
) -> Result<()> {
    for (system, cost) in &plan.cost {
        let Some(needed) = cost.tokens() else {
            continue;
        };
        let daily = match connectors.and_then(|c| c.get(system)) {
            Some(connector) => connector.daily_tokens()?.map(|d| (d.cap, d.spent_today)),
            None => {
                let config = config.system(system);
                match config.daily_tokens {
                    Some(cap) => {
                        let dir = config.state_dir.clone().unwrap_or_default();
                        let spend = DailySpend::new(&dir, system, Some(cap));
                        Some((cap, spend.spent_today()?))
                    }
                    None => None,
                }
            }
        };
        let Some((cap, spent)) = daily else {
            continue;
        };
        let left = cap.saturating_sub(spent);
        if needed > left {
            log::warn!(
                "{system}: this plan needs about {needed} Pipedrive tokens ({} to read, {} to write) and daily_tokens leaves {left} of {cap} today: a sync applies what fits, stops with exit 5, and the rest follows after 00:00 UTC",
                cost.read_tokens.unwrap_or(0),
                cost.write_tokens.unwrap_or(0)
            );
        }
    }
    Ok(())
}

/// The kind of write an item sends, if it writes.
fn write_kind(item: &Item) -> Option<WriteKind> {
    match item {
        Item::Create(_) => Some(WriteKind::Create),
        Item::Update(_) => Some(WriteKind::Update),
        Item::Associate(_) => Some(WriteKind::Associate),
        Item::Delete(_) => Some(WriteKind::Delete),
        Item::Merge(m) if m.target().is_some() => Some(WriteKind::Merge),
        Item::Property(p) if p.writes() => Some(WriteKind::Property),
        _ => None,
    }
}
