//! The JSON plan: its format name and versions, the one shape every item
//! is written in (`WireItem`), the checks that a loaded item has what its
//! action needs, and saving and loading a plan file. It decides nothing
//! about what a plan does.

use super::model::{
    Action, Agreement, Change, Conflict, Create, Delete, Held, Invalid, Item, Kept, Merge,
    MergeStep, Property, PropertyStep, ScopeChange, Settle, Unlink, Waiting, Write,
};
use super::{PairPlan, Plan};
use crate::connector::{OptionSpec, PropertyKind, PropertySpec};
use crate::files;
use crate::model::{Side, Sided};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;

pub const FORMAT: &str = "crmsync-plan";
/// The newest format version this crmsync writes and reads. A plan is
/// written in the oldest version that can hold it, so an older crmsync
/// still applies what it understands and refuses, by the version, what it
/// does not: version 2 adds `merge` items, version 3 `property` items (and
/// `invalid` items naming a property), version 4 `waiting` items, version
/// 5 `kept` items; a plan with none of them is version 1.
pub const VERSION: u32 = 5;
/// The format version of plans with `waiting` items and no `kept` ones.
const VERSION_WITH_WAITING: u32 = 4;
/// The format version of plans with `property` items and no `waiting` ones.
const VERSION_WITH_PROPERTIES: u32 = 3;
/// The format version of plans with `merge` items and no `property` or
/// `waiting` items.
const VERSION_WITH_MERGES: u32 = 2;
/// The format version of plans without `merge`, `property` or `waiting`
/// items.
const VERSION_WITHOUT_MERGES: u32 = 1;

impl Plan {
    /// A plan of `pairs`, written in the oldest format version that holds
    /// them.
    pub fn new(config_fingerprint: &str, pairs: Vec<PairPlan>) -> Plan {
        let items = || pairs.iter().flat_map(|p| &p.items);
        let merges = items().any(|i| matches!(i, Item::Merge(_)));
        let properties = items().any(|i| matches!(i, Item::Property(_)));
        let waiting = items().any(|i| matches!(i, Item::Waiting(_)));
        let kept = items().any(|i| matches!(i, Item::Kept(_)));
        Plan {
            format: FORMAT.into(),
            version: if kept {
                VERSION
            } else if waiting {
                VERSION_WITH_WAITING
            } else if properties {
                VERSION_WITH_PROPERTIES
            } else if merges {
                VERSION_WITH_MERGES
            } else {
                VERSION_WITHOUT_MERGES
            },
            created_at_ms: crate::timestamp::now_ms(),
            config_fingerprint: config_fingerprint.into(),
            pairs,
            cost: Default::default(),
        }
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
        if plan.format != FORMAT || !(VERSION_WITHOUT_MERGES..=VERSION).contains(&plan.version) {
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

/// An item as the JSON plan writes it (format version 1): one shape for
/// every action, with the fields an action does not use left out. Only
/// this type knows that shape; loading checks that each action has what
/// it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireItem {
    action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    right_id: Option<String>,
    label: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conflicts: Vec<Conflict>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    settle: Vec<Settle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
    /// A `merge` item's link as it was and what it does (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merge: Option<WireMerge>,
    /// A `scope` item: `left` (its record on `target`'s side left the
    /// pair's scope) or `entered` (it came back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// A `property` item's change, or the property an `invalid` item
    /// cannot make (version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    property: Option<WireProperty>,
}

/// What a `property` item changes on the side it names.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireProperty {
    side: Side,
    field: String,
    /// `create` or `add-options`.
    step: String,
    /// For `create`: the property as it will be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<PropertySpec>,
    /// For `add-options`: the options added, and how many it held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    options: Vec<OptionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    had: Option<usize>,
    /// For `create`: the source's kind, where the copy is made as another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from_kind: Option<PropertyKind>,
}

/// What a `merge` item holds beyond the ids it names now.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireMerge {
    /// `follow`, `spent` or `partners`.
    step: String,
    was_left_id: String,
    was_right_id: String,
    /// For `partners`: the side whose record another link holds, and that
    /// link's partner on the other side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    side: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    propagate: bool,
    /// False for a merge crmsync inferred but could not confirm (never
    /// written); plans that predate it hold confirmed merges only.
    #[serde(default = "confirmed_by_default")]
    confirmed: bool,
}

fn confirmed_by_default() -> bool {
    true
}

/// The modified times an item was planned on, as the JSON plan writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left_updated_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    right_updated_ms: Option<i64>,
}

// An item is written and read in its wire form only.
impl Serialize for Item {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireItem::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        Item::try_from(WireItem::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl From<Item> for WireItem {
    fn from(item: Item) -> WireItem {
        let action = item.action();
        let expect = Sided::from_fn(|side| item.expect(side));
        let expect = (expect.left.is_some() || expect.right.is_some()).then_some(Expect {
            left_updated_ms: expect.left,
            right_updated_ms: expect.right,
        });
        let mut wire = WireItem {
            action,
            target: item.target(),
            left_id: item.id(Side::Left).map(str::to_string),
            right_id: item.id(Side::Right).map(str::to_string),
            label: item.label().to_string(),
            changes: Vec::new(),
            conflicts: item.conflicts().to_vec(),
            settle: Vec::new(),
            expect,
            problems: Vec::new(),
            merge: None,
            scope: None,
            property: None,
        };
        match item {
            Item::Link(a) | Item::Baseline(a) => wire.settle = a.settle,
            Item::Create(c) => {
                wire.changes = c.changes;
                wire.problems = c.notes;
            }
            Item::Update(w) | Item::Associate(w) => wire.changes = w.changes,
            Item::Conflict(h) => wire.settle = h.settle,
            Item::Unlink(u) => wire.problems = vec![u.reason],
            Item::Scope(s) => {
                wire.target = Some(s.side);
                wire.scope = Some(if s.entered { "entered" } else { "left" }.into());
            }
            Item::Delete(d) => wire.problems = vec![d.reason],
            Item::Invalid(i) => wire.problems = i.problems,
            Item::Waiting(w) => wire.problems = vec![w.reason],
            Item::Kept(k) => {
                wire.target = Some(k.target);
                wire.settle = k.settle;
                wire.problems = k.reasons;
            }
            Item::Property(p) => {
                wire.problems = p.problem.into_iter().collect();
                let (step, spec, options, had) = match p.step {
                    PropertyStep::Create(spec) => ("create", Some(spec), Vec::new(), None),
                    PropertyStep::AddOptions { options, had } => {
                        ("add-options", None, options, Some(had))
                    }
                };
                wire.property = Some(WireProperty {
                    side: p.target,
                    field: p.field,
                    step: step.to_string(),
                    spec,
                    options,
                    had,
                    from_kind: p.from_kind,
                });
            }
            Item::Merge(m) => {
                let (step, side, kept_id, propagate) = match m.step {
                    MergeStep::Follow => ("follow", None, None, false),
                    MergeStep::Spent => ("spent", None, None, false),
                    MergeStep::Orphaned => ("orphaned", None, None, false),
                    MergeStep::Partners {
                        side,
                        kept,
                        propagate,
                    } => ("partners", Some(side), Some(kept), propagate),
                };
                wire.merge = Some(WireMerge {
                    step: step.to_string(),
                    was_left_id: m.was.left,
                    was_right_id: m.was.right,
                    side,
                    kept_id,
                    propagate,
                    confirmed: m.confirmed,
                });
            }
        }
        wire
    }
}

impl TryFrom<WireItem> for Item {
    type Error = String;

    fn try_from(w: WireItem) -> Result<Item, String> {
        let action = format!("{:?}", w.action).to_lowercase();
        let missing = |what: &str| format!("a `{action}` item without {what}");
        let ids = || match (&w.left_id, &w.right_id) {
            (Some(l), Some(r)) => Ok(Sided::new(l.clone(), r.clone())),
            _ => Err(missing("both record ids")),
        };
        let stamp = |side: Side| {
            w.expect
                .and_then(|e| match side {
                    Side::Left => e.left_updated_ms,
                    Side::Right => e.right_updated_ms,
                })
                .ok_or_else(|| missing("the modified times it was planned on"))
        };
        let stamps = || Ok::<_, String>(Sided::new(stamp(Side::Left)?, stamp(Side::Right)?));
        let target = || w.target.ok_or_else(|| missing("a target side"));
        let reason = || w.problems.join("; ");
        let agreement = || {
            Ok::<_, String>(Agreement {
                ids: ids()?,
                label: w.label.clone(),
                settle: w.settle.clone(),
                expect: stamps()?,
            })
        };
        let write = || {
            Ok::<_, String>(Write {
                target: target()?,
                ids: ids()?,
                label: w.label.clone(),
                changes: w.changes.clone(),
                conflicts: w.conflicts.clone(),
                expect: stamps()?,
            })
        };
        Ok(match w.action {
            Action::Link => Item::Link(agreement()?),
            Action::Baseline => Item::Baseline(agreement()?),
            Action::Create => {
                let target = target()?;
                let source = match target {
                    Side::Left => &w.right_id,
                    Side::Right => &w.left_id,
                };
                Item::Create(Create {
                    target,
                    source_id: source.clone().ok_or_else(|| missing("its source id"))?,
                    label: w.label.clone(),
                    changes: w.changes.clone(),
                    expect: stamp(target.other())?,
                    notes: w.problems.clone(),
                })
            }
            Action::Update => Item::Update(write()?),
            Action::Associate => Item::Associate(write()?),
            Action::Conflict => Item::Conflict(Held {
                ids: ids()?,
                label: w.label.clone(),
                conflicts: w.conflicts.clone(),
                settle: w.settle.clone(),
                expect: stamps()?,
            }),
            Action::Scope => Item::Scope(ScopeChange {
                ids: ids()?,
                label: w.label.clone(),
                side: target()?,
                entered: match w.scope.as_deref() {
                    Some("left") => false,
                    Some("entered") => true,
                    _ => return Err(missing("whether it left the scope or came back")),
                },
            }),
            Action::Unlink => Item::Unlink(Unlink {
                ids: ids()?,
                label: w.label.clone(),
                reason: reason(),
            }),
            Action::Delete => {
                let target = target()?;
                Item::Delete(Delete {
                    target,
                    ids: ids()?,
                    label: w.label.clone(),
                    reason: reason(),
                    expect: stamp(target)?,
                })
            }
            Action::Property | Action::Invalid if w.property.is_some() => {
                let p = w.property.as_ref().expect("checked");
                let step = match p.step.as_str() {
                    "create" => PropertyStep::Create(
                        p.spec
                            .clone()
                            .ok_or_else(|| missing("the property it creates"))?,
                    ),
                    "add-options" => PropertyStep::AddOptions {
                        options: p.options.clone(),
                        had: p
                            .had
                            .ok_or_else(|| missing("the options it was planned on"))?,
                    },
                    other => {
                        return Err(format!("a `{action}` item with an unknown step `{other}`"));
                    }
                };
                let problem = (w.action == Action::Invalid).then(reason);
                let item = Property {
                    target: p.side,
                    field: p.field.clone(),
                    label: w.label.clone(),
                    step,
                    from_kind: p.from_kind,
                    problem,
                };
                if item.writes() && w.target != Some(p.side) {
                    return Err(missing("the side it writes to"));
                }
                Item::Property(item)
            }
            Action::Property => return Err(missing("the property it changes")),
            Action::Invalid => Item::Invalid(Invalid {
                ids: Sided::new(w.left_id.clone(), w.right_id.clone()),
                label: w.label.clone(),
                problems: w.problems.clone(),
                conflicts: w.conflicts.clone(),
            }),
            Action::Kept => Item::Kept(Kept {
                target: target()?,
                ids: ids()?,
                label: w.label.clone(),
                reasons: w.problems.clone(),
                settle: w.settle.clone(),
                expect: stamps()?,
            }),
            Action::Waiting => Item::Waiting(Waiting {
                ids: Sided::new(w.left_id.clone(), w.right_id.clone()),
                label: w.label.clone(),
                reason: reason(),
            }),
            Action::Merge => {
                let merge = w
                    .merge
                    .as_ref()
                    .ok_or_else(|| missing("the link it found merged"))?;
                let step = match merge.step.as_str() {
                    "follow" => MergeStep::Follow,
                    "spent" => MergeStep::Spent,
                    "orphaned" => MergeStep::Orphaned,
                    "partners" => MergeStep::Partners {
                        side: merge
                            .side
                            .ok_or_else(|| missing("the side of the kept partner"))?,
                        kept: merge
                            .kept_id
                            .clone()
                            .ok_or_else(|| missing("the kept partner"))?,
                        propagate: merge.propagate,
                    },
                    other => return Err(format!("a `merge` item with an unknown step `{other}`")),
                };
                let stamp_or_gone = |side| match step {
                    MergeStep::Orphaned => Ok(stamp(side).unwrap_or(0)),
                    _ => stamp(side),
                };
                let item = Merge {
                    was: Sided::new(merge.was_left_id.clone(), merge.was_right_id.clone()),
                    now: ids()?,
                    label: w.label.clone(),
                    expect: Sided::new(stamp_or_gone(Side::Left)?, stamp_or_gone(Side::Right)?),
                    step,
                    confirmed: merge.confirmed,
                };
                if item.target().is_some() && !item.confirmed {
                    return Err(
                        "a `merge` item that writes a merge crmsync could not confirm".to_string(),
                    );
                }
                if item.target() != w.target {
                    return Err(missing("the side it writes to"));
                }
                Item::Merge(item)
            }
        })
    }
}
