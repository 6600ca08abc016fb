//! The plan: every change a run would make, as data.
//!
//! `diff` prints it (`Display`, read like `terraform plan`), `--out` and
//! `--json` serialise it (a versioned document), `push` loads it and applies
//! exactly what it says, and `sync` applies it straight away. Each item
//! carries what apply needs: the values to write, the base to record once the
//! write succeeds, and the modified times it was planned on (its
//! precondition). Building or printing a plan never touches the network.

use crate::config::ConflictPolicy;
use crate::files;
use crate::matcher::Duplicate;
use crate::model::Side;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

pub const FORMAT: &str = "crmsync-plan";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub created_at_ms: i64,
    /// The mapping file's fingerprint when the plan was made.
    pub config_fingerprint: String,
    pub pairs: Vec<PairPlan>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairPlan {
    pub name: String,
    /// `system.object`
    pub left: String,
    pub right: String,
    pub items: Vec<Item>,
    pub duplicates: Vec<Duplicate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Pair two records found by the match key (state only).
    Link,
    Create,
    Update,
    /// Change a record's associations (a field mapped through `link:PAIR`):
    /// its own item, since it does not move the record's modified time.
    Associate,
    /// A conflict left for a human (`skip`) or settled without a write.
    Conflict,
    /// A linked record disappeared from one side: forget the link.
    Unlink,
    /// A linked record was deleted on one side (`deletes = "propagate"`):
    /// delete its partner (HubSpot archives, Pipedrive deletes).
    Delete,
    /// A record that cannot be synced as mapped (e.g. a value with no
    /// translation); reported as a failure.
    Invalid,
    /// Record the base only (both sides already agree); not shown.
    Baseline,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub action: Action,
    /// The side written, for create and update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_id: Option<String>,
    /// What a human recognises the record by (email, deal name).
    pub label: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// Base values to record when the item succeeds (fields not written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settle: Vec<Settle>,
    /// The modified times the item was planned on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Item {
    pub fn new(action: Action, label: String) -> Item {
        Item {
            action,
            target: None,
            left_id: None,
            right_id: None,
            label,
            changes: Vec::new(),
            conflicts: Vec::new(),
            settle: Vec::new(),
            expect: None,
            problems: Vec::new(),
        }
    }

    pub fn id(&self, side: Side) -> Option<&str> {
        match side {
            Side::Left => self.left_id.as_deref(),
            Side::Right => self.right_id.as_deref(),
        }
    }

    /// Returns true if and only if applying the item writes to a CRM.
    pub fn writes(&self) -> bool {
        matches!(
            self.action,
            Action::Create | Action::Update | Action::Associate | Action::Delete
        )
    }

    /// Returns true if and only if applying the item changes a record or
    /// the link table (what `diff` calls drift).
    pub fn is_change(&self) -> bool {
        self.action != Action::Baseline
    }
}

/// One field written on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The target's field name.
    pub field: String,
    /// The target's value now (empty for a create).
    pub from: String,
    /// The value to write.
    pub to: String,
    /// Where it comes from: the source's field and value, recorded as the
    /// source's base once the write succeeds.
    pub source_field: String,
    pub source_value: String,
}

/// A field changed on both sides since the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The left field name.
    pub field: String,
    pub left: String,
    pub right: String,
    pub policy: ConflictPolicy,
    /// The side whose value is kept; `None` when the policy is `skip`.
    pub winner: Option<Side>,
    /// True when the winner's value is written to the other side.
    pub applied: bool,
}

/// A base entry recorded without a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settle {
    pub left_field: String,
    pub left: String,
    pub right_field: String,
    pub right: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_updated_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_updated_ms: Option<i64>,
}

impl Expect {
    pub fn get(&self, side: Side) -> Option<i64> {
        match side {
            Side::Left => self.left_updated_ms,
            Side::Right => self.right_updated_ms,
        }
    }
}

/// Counts of what a plan would do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub associate: usize,
    pub link: usize,
    pub conflict: usize,
    pub unlink: usize,
    pub delete: usize,
    pub invalid: usize,
    pub duplicate: usize,
}

impl Plan {
    pub fn new(config_fingerprint: &str, pairs: Vec<PairPlan>) -> Plan {
        Plan {
            format: FORMAT.into(),
            version: VERSION,
            created_at_ms: crate::timestamp::now_ms(),
            config_fingerprint: config_fingerprint.into(),
            pairs,
        }
    }

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
                match item.action {
                    Action::Create => s.create += 1,
                    Action::Update => s.update += 1,
                    Action::Associate => s.associate += 1,
                    Action::Link => s.link += 1,
                    Action::Conflict => s.conflict += 1,
                    Action::Unlink => s.unlink += 1,
                    Action::Delete => s.delete += 1,
                    Action::Invalid => s.invalid += 1,
                    Action::Baseline => {}
                }
                s.conflict += item.conflicts.iter().filter(|c| c.applied).count();
            }
        }
        s
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        files::write_atomic(path, &bytes)
    }

    pub fn load(path: &Path) -> Result<Plan> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read plan {}; make one with `crmsync diff --out {}`",
                path.display(),
                path.display()
            )
        })?;
        let plan: Plan = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a crmsync plan (or is damaged); make a new one with `crmsync diff --out`", path.display()))?;
        if plan.format != FORMAT || plan.version != VERSION {
            bail!(
                "{} is a {} v{} document; this crmsync applies {FORMAT} v{VERSION}",
                path.display(),
                plan.format,
                plan.version
            );
        }
        Ok(plan)
    }
}

fn system_of(endpoint: &str) -> &str {
    endpoint.split('.').next().unwrap_or(endpoint)
}

fn quoted(v: &str) -> String {
    format!("{v:?}")
}

impl fmt::Display for PairPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_of = |side: Side| {
            system_of(if side == Side::Left {
                &self.left
            } else {
                &self.right
            })
        };
        let ids = |item: &Item| {
            [Side::Left, Side::Right]
                .iter()
                .filter_map(|s| item.id(*s).map(|id| format!("{} {id}", name_of(*s))))
                .collect::<Vec<_>>()
                .join(" = ")
        };
        writeln!(f, "{}  ({} <-> {})", self.name, self.left, self.right)?;
        for item in self.items.iter().filter(|i| i.is_change()) {
            let target = item.target.map(name_of).unwrap_or("");
            match item.action {
                Action::Create => {
                    let source = item.target.map(|t| t.other());
                    let from = source
                        .and_then(|s| item.id(s).map(|id| format!("from {} {id}", name_of(s))))
                        .unwrap_or_default();
                    let values: Vec<_> = item
                        .changes
                        .iter()
                        .filter(|c| !c.to.is_empty())
                        .map(|c| format!("{}={}", c.field, quoted(&c.to)))
                        .collect();
                    writeln!(
                        f,
                        "  + {target:<6} create    {}  ({from})  {}",
                        item.label,
                        values.join(" ")
                    )?;
                }
                Action::Update | Action::Associate => {
                    let id = item.target.and_then(|t| item.id(t)).unwrap_or("");
                    let verb = if item.action == Action::Update {
                        "update   "
                    } else {
                        "associate"
                    };
                    writeln!(f, "  ~ {target:<6} {verb} {} ({id})", item.label)?;
                    for c in &item.changes {
                        writeln!(
                            f,
                            "        {}: {} -> {}",
                            c.field,
                            quoted(&c.from),
                            quoted(&c.to)
                        )?;
                    }
                }
                Action::Link => {
                    writeln!(f, "  = {:<6} link      {}  {}", "", item.label, ids(item))?
                }
                Action::Conflict => {
                    writeln!(f, "  ! {:<6} conflict  {}  {}", "", item.label, ids(item))?
                }
                Action::Unlink => writeln!(
                    f,
                    "  x {:<6} unlink    {}  {}  ({})",
                    "",
                    item.label,
                    ids(item),
                    item.problems.join("; ")
                )?,
                Action::Delete => {
                    let id = item.target.and_then(|t| item.id(t)).unwrap_or("");
                    writeln!(
                        f,
                        "  - {target:<6} delete    {} ({id})  ({})",
                        item.label,
                        item.problems.join("; ")
                    )?;
                }
                Action::Invalid => writeln!(
                    f,
                    "  ! {:<6} invalid   {}  {}: {}",
                    "",
                    item.label,
                    ids(item),
                    item.problems.join("; ")
                )?,
                Action::Baseline => {}
            }
            for c in &item.conflicts {
                let outcome = match (c.winner, c.applied) {
                    (None, _) => "left for you (conflict = skip)".to_string(),
                    (Some(w), true) => {
                        format!("{} wins ({:?})", name_of(w), c.policy).to_lowercase()
                    }
                    (Some(w), false) => format!(
                        "{} kept; direction forbids writing the other side",
                        name_of(w)
                    ),
                };
                writeln!(
                    f,
                    "        ! {}: {} {} | {} {} -> {outcome}",
                    c.field,
                    name_of(Side::Left),
                    quoted(&c.left),
                    name_of(Side::Right),
                    quoted(&c.right)
                )?;
            }
        }
        for d in &self.duplicates {
            let system = name_of(d.side);
            writeln!(
                f,
                "  ? {system:<6} duplicate {}  {system} {} share it with {system} {}; left alone (merge them in {system})",
                d.key,
                d.extra.join(", "),
                d.kept
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to create, {} to update, {} to associate, {} to delete, {} to link, {} conflicts, {} to unlink, {} invalid, {} duplicates",
            self.create,
            self.update,
            self.associate,
            self.delete,
            self.link,
            self.conflict,
            self.unlink,
            self.invalid,
            self.duplicate
        )
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A pair with nothing to show is left out, so cron mail stays short.
        for pair in self
            .pairs
            .iter()
            .filter(|p| p.items.iter().any(Item::is_change) || !p.duplicates.is_empty())
        {
            write!(f, "{pair}")?;
        }
        if self.is_empty() {
            writeln!(f, "Plan: nothing to do, both sides are in step.")
        } else {
            writeln!(f, "Plan: {}.", self.summary())
        }
    }
}
