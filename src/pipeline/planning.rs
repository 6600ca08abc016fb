//! The plan stage: each pair matched and merged on its two snapshots, pair
//! after pair in file order, each planning on the accounts and links as the
//! pairs before it will leave them (forward references stand in for the
//! records they create). Pure: it reads no network and writes nothing.

use super::relations::{forget_in, relations_through};
use super::{Snapshots, by_side};
use crate::config::{Config, PairConfig};
use crate::diff;
use crate::mapping::{OwnerDirectory, PlannedLinks, Translator};
use crate::matcher;
use crate::model::{ObjectKind, Record, Side, Sided, set_members};
use crate::plan::{
    Item, MergeStep, PairPlan, Plan, ScopeChange, ScopeCount, Unlink, Waiting, forward_ref,
};
use crate::snapshot::{Snapshot, Written};
use crate::state::State;

/// Matches and merges one pair, and notes its size (the larger side), which
/// its percentage limits are taken of. Relations translate through the
/// links in `state` and those `planned` (the pairs before this one in the
/// run). Pure.
pub fn plan_pair(
    pair: &PairConfig,
    [left, right]: [&Snapshot; 2],
    state: &State,
    planned: &PlannedLinks,
) -> PairPlan {
    let started = std::time::Instant::now();
    // Schema first: the records are planned on the properties and options
    // the accounts will have, and without the fields no property can be
    // made for.
    let schema = crate::schema::plan_schema(pair, Sided::new(left, right));
    let trimmed;
    let pair = if schema.unmade.is_empty() {
        pair
    } else {
        trimmed = pair.without_fields(&schema.unmade);
        &trimmed
    };
    let labels_after =
        crate::schema::labels_after(pair, &schema.items, Sided::new(&left.labels, &right.labels));
    let labels = labels_after
        .as_ref()
        .map_or(Sided::new(&left.labels, &right.labels), Sided::as_ref);
    let empty = Default::default();
    let links = state.pair(&pair.name).unwrap_or(&empty);
    // A scoped side is seen narrowed to its scope (and the linked records
    // out of it).
    let snapshots = Sided::new(left, right);
    let seen = Sided::from_fn(|side| {
        pair.scope[side].as_ref().map(|scope| {
            let snapshot = snapshots[side];
            let mut seen =
                crate::scope::narrow(scope, &snapshot.records, &snapshot.unselected, |id| {
                    links.by(side, id).is_some()
                });
            keep_blockers_of_their_own_keys(pair, side, &mut seen);
            seen
        })
    });
    let records = Sided::from_fn(|side| {
        seen[side]
            .as_ref()
            .map_or(&snapshots[side].records[..], |s| &s.records[..])
    });
    let mut pairing = matcher::pair_records(pair, records.left, records.right, links);
    let blocking =
        |side: Side, id: &str| seen[side].as_ref().is_some_and(|s| s.blocking.contains(id));
    // A record whose key is held out of scope on the other side is neither
    // created there (a second record) nor linked to it: it waits, with
    // nothing written, until that record enters the scope.
    let mut blocked_items = Vec::new();
    pairing.matched.retain(|(l, r)| {
        let Some(side) = Side::BOTH
            .into_iter()
            .find(|side| blocking(*side, if *side == Side::Left { &l.id } else { &r.id }))
        else {
            return true;
        };
        let id = if side == Side::Left { &l.id } else { &r.id };
        blocked_items.push(Item::Waiting(Waiting {
            ids: Sided::new(Some(l.id.clone()), Some(r.id.clone())),
            label: diff::label(pair, Some(l), Some(r)),
            reason: format!("partner out of scope: {} {id}", pair.endpoint(side)),
        }));
        false
    });
    pairing.left_only.retain(|r| !blocking(Side::Left, &r.id));
    pairing.right_only.retain(|r| !blocking(Side::Right, &r.id));
    pairing
        .ambiguous
        .retain(|r| Side::BOTH.iter().all(|side| !blocking(*side, &r.id)));
    // Records out of scope sharing a key among themselves are not the
    // pair's duplicates.
    pairing
        .duplicates
        .retain(|d| !(blocking(d.side, &d.kept) && d.extra.iter().all(|id| blocking(d.side, id))));
    // A record missing from a snapshot that is not a full listing may just
    // not have changed: deletes are inferred from full pulls only.
    if !(left.complete && right.complete) {
        pairing.gone.clear();
    }
    let outside =
        |side: Side, id: &str| seen[side].as_ref().is_some_and(|s| s.outside.contains(id));
    let mut scope_items = Vec::new();
    // A pair whose scope was removed wakes the links that slept.
    let scoped = seen.left.is_some() || seen.right.is_some();
    if scoped
        || pairing
            .linked
            .iter()
            .any(|(.., link)| link.dormant.is_some())
    {
        // A linked record out of scope: its link sleeps (said once), and
        // nothing is planned for it; one back in scope is merged as usual.
        pairing.linked.retain(|(l, r, link)| {
            let out = Side::BOTH
                .into_iter()
                .find(|side| outside(*side, if *side == Side::Left { &l.id } else { &r.id }));
            let ids = Sided::new(l.id.clone(), r.id.clone());
            match (out, link.dormant) {
                (Some(side), None) => scope_items.push(Item::Scope(ScopeChange {
                    ids,
                    label: diff::label(pair, Some(l), Some(r)),
                    side,
                    entered: false,
                })),
                (None, Some(side)) => scope_items.push(Item::Scope(ScopeChange {
                    ids,
                    label: diff::label(pair, Some(l), Some(r)),
                    side,
                    entered: true,
                })),
                _ => {}
            }
            out.is_none()
        });
    }
    // A link whose record is out of scope, or was when last seen, never
    // deletes its partner: leaving the scope is not a delete, and a pair
    // deletes nothing out of its scope.
    let asleep: std::collections::HashSet<&str> = pairing
        .gone
        .iter()
        .filter(|g| {
            g.link.dormant.is_some()
                || g.left.is_some_and(|r| outside(Side::Left, &r.id))
                || g.right.is_some_and(|r| outside(Side::Right, &r.id))
        })
        .map(|g| g.link.left.as_str())
        .collect();
    let owners = OwnerDirectory::new(&left.owners, &right.owners);
    let translator = Translator::new(pair, &owners, state, labels).with_planned(planned);
    if pair.left.object == ObjectKind::Notes {
        matcher::pair_by_content(&mut pairing, |side, record| {
            note_key(pair, &translator, side, record)
        });
    }
    let rules = Sided::from_fn(|side| {
        let endpoint = pair.endpoint(side);
        endpoint.kind.write_rules(endpoint.object)
    });
    let mut plan = diff::merge_pair(pair, &pairing, &translator, &rules);
    if !asleep.is_empty() {
        for item in &mut plan.items {
            if let Item::Delete(d) = item
                && asleep.contains(d.ids.left.as_str())
            {
                let side = d.target.other();
                *item = Item::Unlink(Unlink {
                    ids: d.ids.clone(),
                    label: d.label.clone(),
                    reason: format!(
                        "{} {} is gone while the link slept (out of the pair's scope): nothing is deleted",
                        pair.endpoint(side).system,
                        d.ids[side]
                    ),
                });
            }
        }
    }
    plan.items.extend(scope_items);
    plan.items.extend(blocked_items);
    for item in &mut plan.items {
        if let Item::Create(create) = item
            && let Some(scope) = &pair.scope[create.target]
        {
            crate::scope::stamp_create(scope, create, &pair.endpoint(create.target).to_string());
        }
    }
    for side in Side::BOTH {
        let Some(seen) = &seen[side] else { continue };
        let snapshot = snapshots[side];
        plan.scope.push(ScopeCount {
            side,
            object: pair.endpoint(side).to_string(),
            in_scope: seen.in_scope,
            of: snapshot
                .selected
                .is_none()
                .then_some(snapshot.records.len()),
        });
    }
    plan.records = left.records.len().max(right.records.len());
    plan.items.splice(0..0, schema.items);
    log::debug!(
        "planned {}: {} + {} records, {} links, {} items in {:.2} s",
        pair.name,
        left.records.len(),
        right.records.len(),
        links.len(),
        plan.items.len(),
        started.elapsed().as_secs_f64()
    );
    plan
}

/// Keeps, of the unlinked records out of scope on `side`, those that can
/// stop a duplicate: with a match key that no record the pair sees there
/// holds (where one does, that record is the one matched, as without the
/// scope).
fn keep_blockers_of_their_own_keys(pair: &PairConfig, side: Side, seen: &mut crate::scope::Seen) {
    if seen.blocking.is_empty() {
        return;
    }
    let held: std::collections::HashSet<String> = seen
        .records
        .iter()
        .filter(|r| !seen.blocking.contains(&r.id))
        .flat_map(|r| matcher::match_values(pair, r, side))
        .collect();
    let mut kept = std::collections::HashSet::new();
    seen.records.retain(|r| {
        if !seen.blocking.contains(&r.id) {
            return true;
        }
        let keys = matcher::match_values(pair, r, side);
        let keep = !keys.is_empty() && keys.iter().all(|k| !held.contains(k));
        if keep {
            kept.insert(r.id.clone());
        }
        keep
    });
    seen.blocking = kept;
}

/// What an unlinked note is paired by: its body (trimmed), its time (to
/// the second: Pipedrive keeps no milliseconds) and its records, in the
/// left side's terms (the right side's translated through the links). No
/// key without a body, or for a note whose records have no partner yet.
fn note_key(
    pair: &PairConfig,
    translator: &Translator,
    side: Side,
    note: &Record,
) -> Option<String> {
    let profiles = Sided::new(pair.left.kind.profile(), pair.right.kind.profile());
    let mut key = Vec::new();
    let mut has_body = false;
    for f in &pair.fields {
        let value = note.get(&f[side]);
        if f.left == profiles.left.notes.body && f.right == profiles.right.notes.body {
            has_body = true;
            key.push(value.trim().to_string());
        } else if f.left == profiles.left.notes.time && f.right == profiles.right.notes.time {
            let seconds = crate::timestamp::parse_ms(value).map(|ms| ms.div_euclid(1000));
            key.push(seconds.map_or(String::new(), |s| s.to_string()));
        } else if pair.is_relation(&f.left) {
            let left_terms = match side {
                Side::Left => value.to_string(),
                Side::Right => translator.translate(Side::Right, &f.left, value).ok()?,
            };
            let mut ids: Vec<&str> = set_members(&left_terms).collect();
            ids.sort_by(|a, b| crate::model::id_order(a, b));
            key.push(ids.join(";"));
        }
    }
    has_body.then(|| key.join("\u{1f}"))
}

/// The one planning path: what `diff` shows, `diff --out` saves, `sync
/// --dry-run` prints, `push` applies and `sync` applies. Plans pair after
/// pair, in file order, as a run applies them: each pair plans on the
/// accounts and links as the pairs before it will leave them. A record an
/// earlier pair creates is in the later pairs' snapshots under its forward
/// reference (`plan::forward_ref`), which stands in for its id wherever a
/// later item needs it (a relation, a link, a copy) until the apply step
/// knows it; a record an earlier pair links is a relation target at once;
/// one it unlinks or deletes no longer is. Snapshots are copied only where
/// a later pair reads what an earlier one writes, and the state never.
/// Pure.
pub fn plan(config: &Config, pairs: &[&PairConfig], snapshots: &Snapshots, state: &State) -> Plan {
    let mut foreseen = Snapshots::new();
    let mut planned = PlannedLinks::default();
    let mut pair_plans = Vec::new();
    for (n, pair) in pairs.iter().enumerate() {
        let view = [Side::Left, Side::Right].map(|side| {
            let object = pair.endpoint(side).to_string();
            foreseen.get(&object).unwrap_or(&snapshots[&object])
        });
        let plan = plan_pair(pair, view, state, &planned);
        let read_later = |object: &str| {
            pairs[n + 1..]
                .iter()
                .any(|later| later.left.to_string() == object || later.right.to_string() == object)
        };
        for item in &plan.items {
            match item {
                Item::Link(a) => planned.link(&pair.name, &a.ids.left, &a.ids.right),
                Item::Create(c) => {
                    let mut ids = Sided::new(c.source_id.clone(), c.source_id.clone());
                    ids[c.target] = forward_ref(&pair.name, c.target, &c.source_id);
                    planned.link(&pair.name, &ids.left, &ids.right);
                }
                Item::Unlink(u) => planned.drop_link(&pair.name, &u.ids.left, &u.ids.right),
                // A link that follows a merge is one to the merge's result.
                Item::Merge(m) => match m.step {
                    MergeStep::Follow => {
                        planned.drop_link(&pair.name, &m.was.left, &m.was.right);
                        planned.link(&pair.name, &m.now.left, &m.now.right);
                    }
                    MergeStep::Spent | MergeStep::Orphaned => {
                        planned.drop_link(&pair.name, &m.was.left, &m.was.right)
                    }
                    MergeStep::Partners { .. } => {}
                },
                // A later pair finds the property made.
                Item::Property(p) if p.writes() => {
                    let object = pair.endpoint(p.target).to_string();
                    if read_later(&object) {
                        foreseen_mut(&mut foreseen, snapshots, &object).absorb_property(p, None);
                    }
                }
                Item::Delete(d) => {
                    planned.drop_link(&pair.name, &d.ids.left, &d.ids.right);
                    for (object, field) in relations_through(config, pair, d.target) {
                        if read_later(&object) {
                            forget_in(
                                foreseen_mut(&mut foreseen, snapshots, &object),
                                &field,
                                &d.ids[d.target],
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        let written = by_side(
            plan.items
                .iter()
                .filter_map(|item| Some((item.target()?, planned_write(&pair.name, item)?)))
                .collect(),
        );
        for (side, records) in written {
            let object = pair.endpoint(side).to_string();
            if read_later(&object) {
                foreseen_mut(&mut foreseen, snapshots, &object).absorb(records);
            }
        }
        pair_plans.push(plan);
    }
    Plan::new(&config.fingerprint, pair_plans)
}

/// The snapshot of `object` as the pairs planned so far leave it: copied
/// from the pulled one the first time a pair writes to it.
fn foreseen_mut<'s>(
    foreseen: &'s mut Snapshots,
    snapshots: &Snapshots,
    object: &str,
) -> &'s mut Snapshot {
    foreseen
        .entry(object.to_string())
        .or_insert_with(|| snapshots[object].clone())
}

/// What an item will leave in its target account if it is applied as
/// planned; a create's record goes under its forward reference.
fn planned_write(pair: &str, item: &Item) -> Option<Written> {
    let values = |changes: &[crate::plan::Change]| {
        changes
            .iter()
            .map(|c| (c.field.clone(), c.to.clone()))
            .collect()
    };
    match item {
        Item::Create(c) => Some(Written::Saved {
            id: forward_ref(pair, c.target, &c.source_id),
            values: values(&c.changes),
            updated_ms: crate::timestamp::now_ms(),
        }),
        Item::Update(w) | Item::Associate(w) => Some(Written::Saved {
            id: w.ids[w.target].clone(),
            values: values(&w.changes),
            updated_ms: crate::timestamp::now_ms(),
        }),
        Item::Delete(d) => Some(Written::Deleted {
            id: d.ids[d.target].clone(),
        }),
        Item::Merge(m) => {
            let target = m.target()?;
            match &m.step {
                crate::plan::MergeStep::Partners { kept, .. } => Some(Written::Merged {
                    id: m.now[target].clone(),
                    into: kept.clone(),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}
