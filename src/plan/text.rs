//! The printed plan: one line per item (read like `terraform plan`), the
//! conflicts under it, the duplicates of each pair and the closing summary.
//! It only formats what the plan holds; it decides nothing.

use super::model::{Item, Merge, MergeStep, PropertyStep, Summary};
use super::{AccountCost, PairPlan, Plan};
use crate::connector::PropertyKind;
use crate::model::{Side, Sided};
use std::fmt;

impl Merge {
    /// "us 1 was merged into us 9" for each side whose record was merged.
    pub fn describe(&self, names: &Sided<&str>) -> String {
        let moved: Vec<String> = Side::BOTH
            .into_iter()
            .filter(|side| self.was[*side] != self.now[*side])
            .map(|side| {
                let system = names[side];
                format!(
                    "{system} {} was merged into {system} {}",
                    self.was[side], self.now[side]
                )
            })
            .collect();
        let mut text = moved.join(" and ");
        match &self.step {
            MergeStep::Follow => text.push_str(&format!(
                "; the link follows: {} {} = {} {}",
                names.left, self.now.left, names.right, self.now.right
            )),
            MergeStep::Spent => text.push_str("; they are linked already, the old link is dropped"),
            MergeStep::Orphaned => {
                let gone: Vec<String> = Side::BOTH
                    .into_iter()
                    .filter(|side| self.expect[*side] == 0)
                    .map(|side| format!("{} {}", names[side], self.was[side]))
                    .collect();
                text.push_str(&format!(
                    "; {} is gone: the link is dropped, nothing is deleted or copied across",
                    gone.join(" and ")
                ));
            }
            MergeStep::Partners {
                side,
                kept,
                propagate,
            } => {
                let other = side.other();
                let system = names[other];
                text.push_str(&format!(
                    "; {system} {} faces the same record as {system} {kept}",
                    self.now[other]
                ));
                if *propagate {
                    text.push_str(&format!(": merging it into {system} {kept}"));
                    return text;
                } else if !self.confirmed {
                    let gone = Side::BOTH
                        .into_iter()
                        .find(|s| self.was[*s] != self.now[*s])
                        .map(|s| format!("{} {}", names[s], self.was[s]))
                        .unwrap_or_default();
                    text.push_str(&format!(
                        ", unless {gone} was deleted: crmsync could not confirm the merge and merges or deletes nothing (if it was a merge, merge them in {system}; if a delete, delete {system} {} yourself)",
                        self.now[other]
                    ));
                } else {
                    text.push_str(&format!(
                        ": left alone (merge them in {system}, or set merges = \"propagate\")"
                    ));
                }
                return text;
            }
        }
        if !self.confirmed {
            text.push_str(
                " (crmsync could not confirm the merge: a delete leaves the same traces)",
            );
        }
        text
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
        let names = Sided::new(system_of(&self.left), system_of(&self.right));
        writeln!(f, "{}  ({} <-> {})", self.name, self.left, self.right)?;
        for count in &self.scope {
            writeln!(f, "  {count}")?;
        }
        for item in self.items.iter().filter(|i| i.is_shown()) {
            item.write_line(f, &names)?;
            for c in item.conflicts() {
                let outcome = match (c.winner, c.applied) {
                    (None, _) => "left for you (conflict = skip)".to_string(),
                    (Some(w), true) => format!("{} wins ({:?})", names[w], c.policy).to_lowercase(),
                    (Some(w), false) => format!(
                        "{} kept; direction forbids writing the other side",
                        names[w]
                    ),
                };
                writeln!(
                    f,
                    "        ! {}: {} {} | {} {} -> {outcome}",
                    c.field,
                    names.left,
                    quoted(&c.left),
                    names.right,
                    quoted(&c.right)
                )?;
            }
        }
        for d in &self.duplicates {
            let system = names[d.side];
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

impl Item {
    /// The item's line in the printed plan; `names` are the two systems.
    fn write_line(&self, f: &mut fmt::Formatter<'_>, names: &Sided<&str>) -> fmt::Result {
        let ids = |ids: Sided<Option<&str>>| {
            ids.iter()
                .filter_map(|(side, id)| id.map(|id| format!("{} {id}", names[side])))
                .collect::<Vec<_>>()
                .join(" = ")
        };
        let both = |pair: &Sided<String>| ids(pair.as_ref().map(|id| Some(id.as_str())));
        match self {
            Item::Create(c) => {
                let values: Vec<_> = c
                    .changes
                    .iter()
                    .filter(|ch| !ch.to.is_empty())
                    .map(|ch| format!("{}={}", ch.field, quoted(&ch.to)))
                    .collect();
                writeln!(
                    f,
                    "  + {:<6} create    {}  (from {} {})  {}",
                    names[c.target],
                    c.label,
                    names[c.target.other()],
                    c.source_id,
                    values.join(" ")
                )?;
                for note in &c.notes {
                    writeln!(f, "        note: {note}")?;
                }
                Ok(())
            }
            Item::Update(w) | Item::Associate(w) => {
                let verb = if matches!(self, Item::Update(_)) {
                    "update   "
                } else {
                    "associate"
                };
                writeln!(
                    f,
                    "  ~ {:<6} {verb} {} ({})",
                    names[w.target], w.label, w.ids[w.target]
                )?;
                for c in &w.changes {
                    writeln!(
                        f,
                        "        {}: {} -> {}",
                        c.field,
                        quoted(&c.from),
                        quoted(&c.to)
                    )?;
                }
                Ok(())
            }
            Item::Link(a) => writeln!(f, "  = {:<6} link      {}  {}", "", a.label, both(&a.ids)),
            Item::Conflict(h) => {
                writeln!(f, "  ! {:<6} conflict  {}  {}", "", h.label, both(&h.ids))
            }
            Item::Unlink(u) => writeln!(
                f,
                "  x {:<6} unlink    {}  {}  ({})",
                "",
                u.label,
                both(&u.ids),
                u.reason
            ),
            Item::Delete(d) => writeln!(
                f,
                "  - {:<6} delete    {} ({})  ({})",
                names[d.target], d.label, d.ids[d.target], d.reason
            ),
            Item::Invalid(i) => writeln!(
                f,
                "  ! {:<6} invalid   {}  {}: {}",
                "",
                i.label,
                ids(i.ids.as_ref().map(|id| id.as_deref())),
                i.problems.join("; ")
            ),
            Item::Merge(m) => {
                let shown = match m.target() {
                    Some(target) => names[target],
                    None => "",
                };
                writeln!(
                    f,
                    "  > {shown:<6} merge     {}  {}",
                    m.label,
                    m.describe(names)
                )
            }
            Item::Waiting(w) => writeln!(
                f,
                "  . {:<6} waiting   {}  {}: {}",
                "",
                w.label,
                ids(w.ids.as_ref().map(|id| id.as_deref())),
                w.reason
            ),
            Item::Scope(s) => {
                let (verb, why) = if s.entered {
                    (
                        "in scope ",
                        "back in the pair's scope: synced again from the last common values",
                    )
                } else {
                    (
                        "out scope",
                        "left the pair's scope: the link is kept, nothing is written or deleted either way while it is out",
                    )
                };
                writeln!(
                    f,
                    "  o {:<6} {verb} {}  {}  ({} {} {why})",
                    "",
                    s.label,
                    both(&s.ids),
                    names[s.side],
                    s.ids[s.side]
                )
            }
            Item::Property(p) => match (&p.problem, &p.step) {
                (Some(problem), _) => writeln!(
                    f,
                    "  ! {:<6} invalid   property {}: {problem}",
                    names[p.target], p.label
                ),
                (None, PropertyStep::Create(spec)) => {
                    let options = if spec.kind.has_options() {
                        format!(
                            " ({})",
                            counted(spec.options.len() as u64, "option", "options")
                        )
                    } else {
                        String::new()
                    };
                    // The kind made, and the source's where it differs.
                    let kind = match p.from_kind {
                        Some(from) => {
                            let lost = match (from, spec.kind) {
                                (PropertyKind::Datetime, PropertyKind::Date) => {
                                    ": the time of day is dropped"
                                }
                                _ => "",
                            };
                            format!("{} (from {from}{lost})", spec.kind)
                        }
                        None => spec.kind.to_string(),
                    };
                    writeln!(
                        f,
                        "  + {:<6} property  {}  {kind}{options}",
                        names[p.target], p.label
                    )
                }
                (None, PropertyStep::AddOptions { options, .. }) => {
                    let labels: Vec<String> = options.iter().map(|o| quoted(&o.label)).collect();
                    writeln!(
                        f,
                        "  ~ {:<6} property  {}  + {}: {}",
                        names[p.target],
                        p.label,
                        counted(options.len() as u64, "option", "options"),
                        labels.join(", ")
                    )
                }
            },
            Item::Kept(k) => writeln!(
                f,
                "  = {:<6} kept      {} ({}): {}",
                names[k.target],
                k.label,
                k.ids[k.target],
                k.reasons.join("; ")
            ),
            Item::Baseline(_) => Ok(()),
        }
    }
}

/// `n` with a comma between thousands ("1,000", "12,345,678").
pub fn grouped(n: impl Into<u64>) -> String {
    let digits = n.into().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for super::ScopeCount {
    /// "contacts: 250 of 1,000 in scope (left)"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = self
            .object
            .split_once('.')
            .map_or(&*self.object, |(_, o)| o);
        let of = self
            .of
            .map(|n| format!(" of {}", grouped(n as u64)))
            .unwrap_or_default();
        write!(
            f,
            "{object}: {}{of} in scope ({})",
            grouped(self.in_scope as u64),
            self.side
        )
    }
}

/// `n` and the noun, in the singular for one ("1 conflict", "2 conflicts").
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |n: usize| n as u64;
        if self.property > 0 {
            write!(
                f,
                "{}, ",
                counted(n(self.property), "property change", "property changes")
            )?;
        }
        write!(
            f,
            "{} to create, {} to update, {} to associate, {} to delete, {} to link, {}, {} to unlink, {} invalid, {}",
            self.create,
            self.update,
            self.associate,
            self.delete,
            self.link,
            counted(n(self.conflict), "conflict", "conflicts"),
            self.unlink,
            self.invalid,
            counted(n(self.duplicate), "duplicate", "duplicates"),
        )?;
        if self.merge > 0 {
            write!(f, ", {}", counted(n(self.merge), "merge", "merges"))?;
        }
        if self.waiting > 0 {
            write!(f, ", {} waiting", self.waiting)?;
        }
        if self.kept > 0 {
            write!(f, ", {} kept", self.kept)?;
        }
        if self.left_scope > 0 {
            write!(f, ", {} left scope", self.left_scope)?;
        }
        if self.back_in_scope > 0 {
            write!(f, ", {} back in scope", self.back_in_scope)?;
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A pair with nothing to show is left out, so cron mail stays short.
        for pair in self.pairs.iter().filter(|p| {
            p.items.iter().any(Item::is_shown) || !p.duplicates.is_empty() || !p.scope.is_empty()
        }) {
            write!(f, "{pair}")?;
        }
        let summary = self.summary();
        let waiting = counted(
            summary.waiting as u64,
            "record waits (for the records it is attached to, or its partner out of scope)",
            "records wait (for the records they are attached to, or their partners out of scope)",
        );
        if self.is_empty() && summary.waiting > 0 && summary.merge == 0 {
            writeln!(f, "Plan: nothing to do; {waiting} (.).")
        } else if self.is_empty() && summary.merge > 0 {
            writeln!(
                f,
                "Plan: nothing to do; {} left for you (>).",
                counted(summary.merge as u64, "merged record", "merged records")
            )
        } else if self.is_empty() {
            writeln!(f, "Plan: nothing to do, both sides are in step.")
        } else {
            writeln!(f, "Plan: {summary}.")?;
            if self.cost.is_empty() {
                return Ok(());
            }
            let accounts: Vec<String> = self
                .cost
                .iter()
                .map(|(system, cost)| format!("{system} {cost}"))
                .collect();
            writeln!(f, "Cost: {}.", accounts.join("; "))
        }
    }
}

impl fmt::Display for AccountCost {
    /// `7 requests (4 read + 3 to write)`, and for an account with a token
    /// budget `, 1520 Pipedrive tokens (20 read + 1500 to write)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} read + {} to write)",
            counted(
                self.read_requests + self.write_requests,
                "request",
                "requests"
            ),
            self.read_requests,
            self.write_requests
        )?;
        if let Some(tokens) = self.tokens() {
            write!(
                f,
                ", {tokens} Pipedrive tokens ({} read + {} to write)",
                self.read_tokens.unwrap_or(0),
                self.write_tokens.unwrap_or(0)
            )?;
        }
        Ok(())
    }
}
