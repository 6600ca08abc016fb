//! Value maps for `init`: what becomes of a pair of fields whose values
//! differ between the systems. Owners are translated by email, options by
//! label (`by-label`) or through an explicit table, pipelines by name and
//! stages by name within pipelines of the same name, relations through the
//! links of an earlier pair (`link:`); what cannot convert is left out with
//! the reason.
//!
//! Pure: field metadata and owners in, a `Verdict` out. It decides no
//! pairing of fields (`pairs.rs`) and writes no TOML line (`render.rs`):
//! the table lines and notes it returns are data the renderer lays out.

use super::Account;
use super::text::{clean, kind_name, quote};
use crate::connector::{FieldDescription, FieldType, Meaning, OptionDescription};
use crate::model::ObjectKind;
use std::collections::BTreeSet;

/// What becomes of a paired field.
pub(super) enum Verdict {
    /// Mapped as it is.
    Plain,
    /// Mapped with a value map.
    Map(ValueMapDraft),
    /// Not mapped, for this reason.
    LeftOut(String),
}

pub(super) enum ValueMapDraft {
    /// `owner-by-email`, `by-label` or `link:PAIR`, with comment lines.
    Named(String, Vec<String>),
    /// An explicit table, line by line.
    Table(Vec<TableLine>),
}

/// One line of an explicit value table.
pub(super) enum TableLine {
    /// `left = "right"  # comment`
    Entry(String, String, String),
    /// An entry commented out for the user to complete: a value with no
    /// match, whose records are `invalid` until it has one.
    Todo(String, String, String),
    /// A comment line.
    Note(String),
}

/// A table of `entries` followed by the comment lines `notes`.
fn table(entries: Vec<(String, String, String)>, notes: Vec<String>) -> ValueMapDraft {
    let entries = entries
        .into_iter()
        .map(|(l, r, c)| TableLine::Entry(l, r, c));
    ValueMapDraft::Table(
        entries
            .chain(notes.into_iter().map(TableLine::Note))
            .collect(),
    )
}

/// Whether `owners()` is worth reading for an account: a field of its
/// holds owner ids.
pub(super) fn needs_owners(objects: &[(ObjectKind, Vec<FieldDescription>)]) -> bool {
    objects
        .iter()
        .flat_map(|(_, fields)| fields)
        .any(|f| f.meaning == Some(Meaning::Owner))
}

/// A relation is translated through the links of `pair`, the earlier pair
/// that syncs the records it points to; with no such pair it is left out.
pub(super) fn link_map(pair: Option<String>) -> Verdict {
    match pair {
        Some(pair) => Verdict::Map(ValueMapDraft::Named(
            format!("link:{pair}"),
            vec![format!("ids translated through the links of pair `{pair}`")],
        )),
        None => Verdict::LeftOut("no earlier pair syncs the records it points to".to_string()),
    }
}

/// Whether two fields' values can be copied as they are, need a value map,
/// or cannot convert.
pub(super) fn convert(l: &FieldDescription, r: &FieldDescription, systems: [&str; 2]) -> Verdict {
    let relation = |f: &FieldDescription| matches!(f.kind, FieldType::Relation(_));
    if relation(l) || relation(r) {
        return Verdict::LeftOut(
            "it holds ids of other records or users, which no pair translates".to_string(),
        );
    }
    if l.kind != r.kind {
        return Verdict::LeftOut(format!(
            "{} and {} values cannot convert",
            kind_name(l.kind),
            kind_name(r.kind)
        ));
    }
    if l.kind != FieldType::Choice || l.options.is_empty() || r.options.is_empty() {
        return Verdict::Plain;
    }
    if l.multiple != r.multiple {
        return Verdict::LeftOut("one holds several options at once, the other one".to_string());
    }
    let values = |f: &FieldDescription| -> BTreeSet<String> {
        f.options.iter().map(|o| o.value.clone()).collect()
    };
    if values(l) == values(r) {
        return Verdict::Plain;
    }
    if l.multiple {
        return Verdict::LeftOut(
            "the options differ and a multi-select cannot be translated; map it by hand"
                .to_string(),
        );
    }
    let matched = match_options(&l.options, &r.options);
    if matched.is_empty() {
        return Verdict::LeftOut("no option labels match".to_string());
    }
    if matched.len() == l.options.len() && matched.len() == r.options.len() {
        return Verdict::Map(ValueMapDraft::Named(
            "by-label".to_string(),
            vec![format!("all {} option labels match", matched.len())],
        ));
    }
    let notes = unmatched_note("options", systems, &l.options, &r.options, &matched);
    let entries = table_entries(&matched, &l.options, &r.options);
    Verdict::Map(table(entries, notes))
}

/// Owners are translated through their email; the ones that cannot be are
/// named, as a record they own will be `invalid` until the user exists on
/// both sides.
pub(super) fn owners_map(left: &Account, right: &Account) -> Verdict {
    let emails = |account: &Account| -> BTreeSet<String> {
        account
            .owners
            .iter()
            .map(|o| o.email.trim().to_lowercase())
            .collect()
    };
    let (l, r) = (emails(left), emails(right));
    let mut notes = vec!["owner ids translated through the owners' email".to_string()];
    for (account, only) in [
        (left, l.difference(&r).cloned().collect::<Vec<_>>()),
        (right, r.difference(&l).cloned().collect()),
    ] {
        if !only.is_empty() {
            notes.push(format!(
                "owners only in {}: {} (records they own cannot be synced until they exist on both sides)",
                account.system,
                only.join(", ")
            ));
        }
    }
    Verdict::Map(ValueMapDraft::Named("owner-by-email".to_string(), notes))
}

/// Pipelines are matched by name: all matched, `by-label` (or nothing
/// when the values are the same too); otherwise a table of the matched ones
/// with every other pipeline of both sides in comments, a left one as an
/// entry to complete. Never left out: a deal in a pipeline with no
/// translation is reported `invalid`, never written to a default pipeline.
pub(super) fn pipelines_map(
    lf: &FieldDescription,
    rf: &FieldDescription,
    matched: &[(usize, usize)],
    systems: [&str; 2],
) -> Verdict {
    let all = matched.len() == lf.options.len() && matched.len() == rf.options.len();
    if all
        && matched
            .iter()
            .all(|(l, r)| lf.options[*l].value == rf.options[*r].value)
    {
        return Verdict::Plain;
    }
    if all {
        return Verdict::Map(ValueMapDraft::Named(
            "by-label".to_string(),
            vec![format!("all {} pipeline names match", matched.len())],
        ));
    }
    let mut lines: Vec<TableLine> = table_entries(matched, &lf.options, &rf.options)
        .into_iter()
        .map(|(l, r, c)| TableLine::Entry(l, r, c))
        .collect();
    lines.extend(todo_lines(
        "pipeline",
        systems,
        &lf.options,
        &rf.options,
        matched,
    ));
    Verdict::Map(ValueMapDraft::Table(lines))
}

/// Stages are matched by name inside each pair of matched pipelines (stage
/// names repeat across pipelines, so a match by label alone would be
/// ambiguous): an explicit table, grouped by pipeline. Every stage that
/// found no match is listed too, of both sides, a left one as an entry
/// commented out for the user to complete, so nothing is dropped without a
/// word: until it is completed, a deal in such a stage is `invalid`.
/// `sides` are all the fields of each side's object, where the pipeline
/// field is found.
pub(super) fn stages_map(
    lf: &FieldDescription,
    rf: &FieldDescription,
    sides: [&[FieldDescription]; 2],
    pipelines: &[(usize, usize)],
    names: [&str; 2],
) -> Verdict {
    let (Some(lp), Some(rp)) = (pipeline_field(sides[0]), pipeline_field(sides[1])) else {
        return Verdict::LeftOut("no pipeline field to group its stages by".to_string());
    };
    let in_pipeline = |stages: &[OptionDescription], pipeline: &OptionDescription| {
        stages
            .iter()
            .filter(|s| s.group.as_deref() == Some(pipeline.value.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut lines = Vec::new();
    let mut identical = true;
    for &(l, r) in pipelines {
        let (lpipe, rpipe) = (&lp.options[l], &rp.options[r]);
        let (ls, rs) = (
            in_pipeline(&lf.options, lpipe),
            in_pipeline(&rf.options, rpipe),
        );
        let matched = match_options(&ls, &rs);
        identical &= matched.len() == ls.len()
            && matched.len() == rs.len()
            && matched.iter().all(|(a, b)| ls[*a].value == rs[*b].value);
        let heading = format!("pipeline {} = {}", quote(&lpipe.label), quote(&rpipe.label));
        lines.push(TableLine::Note(format!("{heading}:")));
        lines.extend(
            table_entries(&matched, &ls, &rs)
                .into_iter()
                .map(|(l, r, c)| TableLine::Entry(l, r, c)),
        );
        lines.extend(todo_lines("stage", names, &ls, &rs, &matched));
    }
    let paired_left: BTreeSet<usize> = pipelines.iter().map(|p| p.0).collect();
    let paired_right: BTreeSet<usize> = pipelines.iter().map(|p| p.1).collect();
    for (i, pipeline) in lp.options.iter().enumerate() {
        if paired_left.contains(&i) {
            continue;
        }
        identical = false;
        lines.push(TableLine::Note(format!(
            "pipeline {} of {} has no match in {}; give its stages a stage of {}:",
            quote(&pipeline.label),
            names[0],
            names[1],
            names[1]
        )));
        for stage in in_pipeline(&lf.options, pipeline) {
            lines.push(TableLine::Todo(
                stage.value.clone(),
                String::new(),
                option_name(&stage),
            ));
        }
    }
    for (i, pipeline) in rp.options.iter().enumerate() {
        if paired_right.contains(&i) {
            continue;
        }
        identical = false;
        let stages: Vec<String> = in_pipeline(&rf.options, pipeline)
            .iter()
            .map(option_name)
            .collect();
        lines.push(TableLine::Note(format!(
            "pipeline {} of {} has no match in {}; its stages: {}",
            quote(&pipeline.label),
            names[1],
            names[0],
            if stages.is_empty() {
                "(none)".to_string()
            } else {
                stages.join(", ")
            }
        )));
    }
    if identical {
        return Verdict::Plain;
    }
    let todo = lines.iter().any(|l| matches!(l, TableLine::Todo(..)))
        || lines
            .iter()
            .any(|l| matches!(l, TableLine::Note(n) if n.contains("no match")));
    if todo {
        lines.insert(
            0,
            TableLine::Note(format!(
                "Stages match by name within pipelines of the same name. Give each stage commented out below the value of a stage of {} (in parentheses where listed), or deals in it are reported `invalid`, never written to another stage.",
                names[1]
            )),
        );
    }
    Verdict::Map(ValueMapDraft::Table(lines))
}

/// `"Label" (value)`, or `"Label"` where they are the same.
fn option_name(o: &OptionDescription) -> String {
    if o.label == o.value {
        quote(&o.label)
    } else {
        format!("{} ({})", quote(&o.label), clean(&o.value))
    }
}

/// The options of both sides that found no match: each left one as an
/// entry commented out for the user to complete, the right ones in a
/// comment with their values to choose from.
fn todo_lines(
    what: &str,
    systems: [&str; 2],
    left: &[OptionDescription],
    right: &[OptionDescription],
    matched: &[(usize, usize)],
) -> Vec<TableLine> {
    let used_left: BTreeSet<usize> = matched.iter().map(|m| m.0).collect();
    let used_right: BTreeSet<usize> = matched.iter().map(|m| m.1).collect();
    let mut lines: Vec<TableLine> = left
        .iter()
        .enumerate()
        .filter(|(i, _)| !used_left.contains(i))
        .map(|(_, o)| {
            TableLine::Todo(
                o.value.clone(),
                String::new(),
                format!(
                    "{}: no {what} of that name in {}",
                    option_name(o),
                    systems[1]
                ),
            )
        })
        .collect();
    let unmatched: Vec<String> = right
        .iter()
        .enumerate()
        .filter(|(i, _)| !used_right.contains(i))
        .map(|(_, o)| option_name(o))
        .collect();
    if !unmatched.is_empty() {
        lines.push(TableLine::Note(format!(
            "{what}s of {} with no match: {}",
            systems[1],
            unmatched.join(", ")
        )));
    }
    lines
}

fn pipeline_field(fields: &[FieldDescription]) -> Option<&FieldDescription> {
    fields.iter().find(|f| f.meaning == Some(Meaning::Pipeline))
}

/// Options matched by label (case-insensitive), where the label names one
/// option on each side: (left index, right index), in left order.
pub(super) fn match_options(
    left: &[OptionDescription],
    right: &[OptionDescription],
) -> Vec<(usize, usize)> {
    let unique = |options: &[OptionDescription], label: &str| {
        let mut found = options
            .iter()
            .enumerate()
            .filter(|(_, o)| o.label.trim().eq_ignore_ascii_case(label.trim()));
        match (found.next(), found.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    };
    left.iter()
        .enumerate()
        .filter_map(|(l, o)| {
            let l_unique = unique(left, &o.label) == Some(l);
            let r = unique(right, &o.label)?;
            l_unique.then_some((l, r))
        })
        .collect()
}

/// Table lines for matched options, each commented with its label.
fn table_entries(
    matched: &[(usize, usize)],
    left: &[OptionDescription],
    right: &[OptionDescription],
) -> Vec<(String, String, String)> {
    matched
        .iter()
        .map(|&(l, r)| {
            (
                left[l].value.clone(),
                right[r].value.clone(),
                clean(&left[l].label),
            )
        })
        .collect()
}

/// Comment lines naming the options of each side that found no match.
fn unmatched_note(
    what: &str,
    systems: [&str; 2],
    left: &[OptionDescription],
    right: &[OptionDescription],
    matched: &[(usize, usize)],
) -> Vec<String> {
    let mut notes = Vec::new();
    for (system, options, used) in [
        (
            systems[0],
            left,
            matched.iter().map(|m| m.0).collect::<BTreeSet<_>>(),
        ),
        (systems[1], right, matched.iter().map(|m| m.1).collect()),
    ] {
        let unmatched: Vec<String> = options
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(_, o)| option_name(o))
            .collect();
        if !unmatched.is_empty() {
            notes.push(format!(
                "{what} of {system} with no match: {}",
                unmatched.join(", ")
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SystemKind;
    use crate::init::fixtures::{account, choice, field, pipeline_account};
    use crate::model::Owner;

    /// A verdict's table, a line of text per entry, to compare whole.
    fn table_of(verdict: Verdict) -> Vec<String> {
        let Verdict::Map(ValueMapDraft::Table(lines)) = verdict else {
            panic!("not a table");
        };
        lines
            .into_iter()
            .map(|line| match line {
                TableLine::Entry(l, r, c) => format!("{l} = {r} # {c}"),
                TableLine::Todo(l, r, c) => format!("todo {l} = {r:?} # {c}"),
                TableLine::Note(n) => format!("# {n}"),
            })
            .collect()
    }

    #[test]
    fn options_map_by_label_by_table_or_not_at_all() {
        let hs = choice("stage", "Stage", &[("lead", "Lead"), ("won", "Won")]);
        let all = choice("Stage", "Stage", &[("Lead", "lead"), ("Won", "WON")]);
        assert!(matches!(
            convert(&hs, &all, ["a", "b"]),
            Verdict::Map(ValueMapDraft::Named(ref n, _)) if n == "by-label"
        ));
        let some = choice("Stage", "Stage", &[("Lead", "Lead"), ("Lost", "Lost")]);
        let Verdict::Map(ValueMapDraft::Table(lines)) = convert(&hs, &some, ["a", "b"]) else {
            panic!("a partial match is a table");
        };
        let entries: Vec<(&String, &String)> = lines
            .iter()
            .filter_map(|l| match l {
                TableLine::Entry(l, r, _) => Some((l, r)),
                _ => None,
            })
            .collect();
        let notes: Vec<&String> = lines
            .iter()
            .filter_map(|l| match l {
                TableLine::Note(n) => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].0.as_str(), entries[0].1.as_str()),
            ("lead", "Lead")
        );
        assert!(
            notes.iter().any(|n| n.contains("\"Won\" (won)")),
            "{notes:?}"
        );
        assert!(notes.iter().any(|n| n.contains("\"Lost\"")), "{notes:?}");
        let none = choice("Stage", "Stage", &[("x", "Other")]);
        assert!(matches!(
            convert(&hs, &none, ["a", "b"]),
            Verdict::LeftOut(_)
        ));
        // The same options on both sides need no map at all.
        assert!(matches!(
            convert(&hs, &hs.clone(), ["a", "b"]),
            Verdict::Plain
        ));
        let text = field("stage", "Stage", FieldType::Text);
        assert!(matches!(
            convert(&hs, &text, ["a", "b"]),
            Verdict::LeftOut(_)
        ));
    }

    #[test]
    fn owners_map_by_email_and_name_those_on_one_side_only() {
        let mut left = account("hs", SystemKind::Hubspot);
        let mut right = account("pd", SystemKind::Pipedrive);
        let owner = |id: &str, email: &str| Owner {
            id: id.into(),
            email: email.into(),
        };
        left.owners = vec![owner("1", " Sam@X.io"), owner("2", "ann@x.io")];
        right.owners = vec![owner("7", "sam@x.io"), owner("8", "bob@y.io")];
        let Verdict::Map(ValueMapDraft::Named(name, notes)) = owners_map(&left, &right) else {
            panic!("owners map by name");
        };
        assert_eq!(name, "owner-by-email");
        assert_eq!(
            notes,
            [
                "owner ids translated through the owners' email",
                "owners only in hs: ann@x.io (records they own cannot be synced until they exist on both sides)",
                "owners only in pd: bob@y.io (records they own cannot be synced until they exist on both sides)",
            ]
        );
        assert!(needs_owners(&left.objects));
        assert!(!needs_owners(
            &pipeline_account("hs", SystemKind::Hubspot).objects
        ));
    }

    #[test]
    fn stages_map_by_name_within_pipelines_of_the_same_name_and_list_the_rest() {
        let hs = pipeline_account("hs", SystemKind::Hubspot);
        let pd = pipeline_account("pd", SystemKind::Pipedrive);
        let (left, right) = (&hs.objects[0].1, &pd.objects[0].1);
        let pipelines = match_options(&left[1].options, &right[1].options);
        assert_eq!(pipelines, [(0, 0), (1, 1)], "by label, case aside");
        assert_eq!(
            table_of(pipelines_map(&left[1], &right[1], &pipelines, ["hs", "pd"])),
            [
                "default = 1 # Sales",
                "renewals = 2 # Renewals",
                "todo lefty = \"\" # \"Left only\" (lefty): no pipeline of that name in pd",
                "# pipelines of pd with no match: \"Right only\" (9)",
            ]
        );
        let sides = [left.as_slice(), right.as_slice()];
        assert_eq!(
            table_of(stages_map(
                &left[2],
                &right[2],
                sides,
                &pipelines,
                ["hs", "pd"]
            )),
            [
                "# Stages match by name within pipelines of the same name. Give each stage commented out below the value of a stage of pd (in parentheses where listed), or deals in it are reported `invalid`, never written to another stage.",
                "# pipeline \"Sales\" = \"Sales\":",
                "won = 6 # Won",
                "todo lost = \"\" # \"Lost\" (lost): no stage of that name in pd",
                "# stages of pd with no match: \"Negotiation\" (7)",
                "# pipeline \"Renewals\" = \"renewals\":",
                "r-open = 10 # Open",
                "# pipeline \"Left only\" of hs has no match in pd; give its stages a stage of pd:",
                "todo l1 = \"\" # \"Start\" (l1)",
                "# pipeline \"Right only\" of pd has no match in hs; its stages: \"Intake\" (20)",
            ]
        );
        // The same pipelines and stages on both sides need no map; with no
        // pipeline field the stages cannot be grouped.
        let same = [left.as_slice(), left.as_slice()];
        let all = match_options(&left[1].options, &left[1].options);
        assert!(matches!(
            stages_map(&left[2], &left[2], same, &all, ["hs", "hs"]),
            Verdict::Plain
        ));
        assert!(matches!(
            pipelines_map(&left[1], &left[1], &all, ["hs", "hs"]),
            Verdict::Plain
        ));
        let no_pipeline = [&left[2..], right.as_slice()];
        assert!(matches!(
            stages_map(&left[2], &right[2], no_pipeline, &pipelines, ["hs", "pd"]),
            Verdict::LeftOut(ref reason) if reason == "no pipeline field to group its stages by"
        ));
        let renamed = choice(
            "pipeline_id",
            "Pipeline",
            &[("1", "Sales"), ("2", "Renewals"), ("3", "Left only")],
        );
        let all = match_options(&left[1].options, &renamed.options);
        assert!(matches!(
            pipelines_map(&left[1], &renamed, &all, ["hs", "pd"]),
            Verdict::Map(ValueMapDraft::Named(ref n, _)) if n == "by-label"
        ));
        assert!(matches!(
            link_map(None),
            Verdict::LeftOut(ref reason) if reason.contains("no earlier pair")
        ));
    }
}
