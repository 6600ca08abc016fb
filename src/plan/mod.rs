//! The plan: every change a run would make, as data.
//!
//! `diff` prints it (`Display`, read like `terraform plan`), `--out` and
//! `--json` serialise it (a versioned document), `push` loads it and applies
//! exactly what it says, and `sync` applies it straight away. Each item
//! carries what apply needs: the values to write, the base to record once the
//! write succeeds, and the modified times it was planned on (its
//! precondition). Building or printing a plan never touches the network.
//!
//! This file holds the plan and its pairs, with what is asked of a whole
//! plan (counts, dangling references); `model` holds the items, `refs` the
//! forward references, `text` the printed form and `wire` the JSON form.
//! Nothing here reads a snapshot, the state or the network.

mod model;
mod refs;
mod text;
mod wire;

#[cfg(test)]
mod tests;

pub use model::{
    Action, Agreement, Change, Conflict, Create, Delete, Held, Invalid, Item, Kept, Merge,
    MergeStep, Property, PropertyStep, ScopeChange, Settle, Summary, Unlink, Waiting, Write,
};
pub use refs::{forward_ref, is_forward_ref};
pub use text::{counted, grouped};
pub use wire::{FORMAT, VERSION};

use crate::model::Duplicate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub created_at_ms: i64,
    /// The mapping file's fingerprint when the plan was made.
    pub config_fingerprint: String,
    pub pairs: Vec<PairPlan>,
    /// What the run costs each account, by system: the reads of the pull
    /// it was planned on and, about, the writes it holds (older plans and
    /// plans no one estimated have none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cost: BTreeMap<String, AccountCost>,
}

/// What a run costs one account: requests, and tokens of the vendor's
/// daily budget where it has one (Pipedrive's). Reads are counted as the
/// pull made them (none for an offline plan); writes are estimated from
/// the items, as the connector will send them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCost {
    pub read_requests: u64,
    pub write_requests: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_tokens: Option<u64>,
}

impl AccountCost {
    /// Tokens to read and write, where the vendor has a token budget.
    pub fn tokens(&self) -> Option<u64> {
        match (self.read_tokens, self.write_tokens) {
            (None, None) => None,
            (read, write) => Some(read.unwrap_or(0) + write.unwrap_or(0)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairPlan {
    pub name: String,
    /// `system.object`
    pub left: String,
    pub right: String,
    pub items: Vec<Item>,
    pub duplicates: Vec<Duplicate>,
    /// The records the pair held when planned (the larger side): what the
    /// percentage limits are taken of, by `sync` and by a later `push` alike.
    #[serde(default)]
    pub records: usize,
    /// For each scoped side, how many records are in the pair's scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<ScopeCount>,
}

/// How many of one side's records are in a pair's scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeCount {
    pub side: crate::model::Side,
    /// The account object, `system.object`.
    pub object: String,
    pub in_scope: usize,
    /// Every record read, where the listing was not narrowed at the vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<usize>,
}

impl Plan {
    /// Returns true if and only if applying the plan would change nothing.
    pub fn is_empty(&self) -> bool {
        !self
            .pairs
            .iter()
            .flat_map(|p| &p.items)
            .any(Item::is_change)
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for pair in &self.pairs {
            s.duplicate += pair.duplicates.iter().map(|d| d.extra.len()).sum::<usize>();
            for item in &pair.items {
                match item.action() {
                    Action::Create => s.create += 1,
                    Action::Update => s.update += 1,
                    Action::Associate => s.associate += 1,
                    Action::Link => s.link += 1,
                    Action::Conflict => s.conflict += 1,
                    Action::Unlink => s.unlink += 1,
                    Action::Delete => s.delete += 1,
                    Action::Invalid => s.invalid += 1,
                    Action::Merge => s.merge += 1,
                    Action::Waiting => s.waiting += 1,
                    Action::Scope => match item {
                        Item::Scope(c) if c.entered => s.back_in_scope += 1,
                        _ => s.left_scope += 1,
                    },
                    Action::Property => s.property += 1,
                    Action::Kept => s.kept += 1,
                    Action::Baseline => {}
                }
                // A write that settles a conflict counts once, as a
                // conflict item does: both are one record's conflict.
                if item.settles_conflict() && item.writes() {
                    s.conflict += 1;
                }
            }
        }
        s
    }

    /// Checks that every forward reference names a create of an earlier
    /// pair of this plan, as planning makes them; returns one line per
    /// reference that does not (the create was removed, or the plan was
    /// put together by hand). `is_relation` tells a pair's relation fields
    /// (pair name, field name).
    pub fn dangling_refs(&self, is_relation: &dyn Fn(&str, &str) -> bool) -> Vec<String> {
        let mut creates = std::collections::HashSet::new();
        let mut dangling = Vec::new();
        for pair in &self.pairs {
            let is_relation = |field: &str| is_relation(&pair.name, field);
            for item in pair
                .items
                .iter()
                .filter(|i| i.has_forward_refs(&is_relation))
            {
                for reference in item.forward_refs(&is_relation) {
                    if !creates.contains(&reference) {
                        dangling.push(format!(
                            "{} {} waits for {reference}, which no earlier pair of the plan creates",
                            pair.name,
                            item.label()
                        ));
                    }
                }
            }
            creates.extend(pair.items.iter().filter_map(|i| i.created_ref(&pair.name)));
        }
        dangling
    }
}
