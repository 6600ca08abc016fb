//! TOML rendering for `init`: the mapping file as text, from the user's
//! systems and the drafted pairs. It owns the layout: the heading comment,
//! one `[[pairs]]` table per pair with its fields, value maps (named ones,
//! then explicit tables, a commented-out line for each entry left to
//! complete), the fields left out with their reason and the fields not
//! mapped, comments wrapped at about 90 columns.
//!
//! Pure: drafts in, text out. It decides nothing about which fields pair
//! or how values map (`pairs.rs`, `values.rs`), and writes no file.

use super::pairs::PairDraft;
use super::text::{clean, kind_name, quote, quote_key};
use super::values::{TableLine, ValueMapDraft};
use crate::config::{Direction, SystemKind};
use crate::connector::FieldDescription;
use std::fmt::Write;

/// The mapping file: `systems_text` (the user's file holding the systems,
/// kept as written) followed by the `drafts` of the accounts named
/// `names`, the hub first.
pub(super) fn mapping_file(
    systems_text: &str,
    names: &[&str],
    drafts: &[PairDraft],
    direction: Direction,
) -> String {
    let mut out = systems_text.trim_end().to_string();
    out.push_str(
        "\n\n# ---------------------------------------------------------------------------\n",
    );
    let _ = writeln!(
        out,
        "# Pairs written by `crmsync init` from the metadata of {}.",
        names.join(", ")
    );
    if names.len() > 2 {
        let _ = writeln!(
            out,
            "# `{}` (the first system in this file) is the hub: each other system is\n# paired with it, so a change reaches the others through it (on the next run).",
            names[0]
        );
    }
    out.push_str(
        "# Fields were paired by meaning, then by internal name, then by label; review\n# them, then run `crmsync diff`. Pairs run in file order: companies, contacts, deals.\n",
    );
    match direction {
        Direction::Both => {}
        Direction::LeftToRight | Direction::RightToLeft => {
            let (from, to) = if direction == Direction::LeftToRight {
                (names[0].to_string(), names[1..].join(", "))
            } else {
                (names[1..].join(", "), names[0].to_string())
            };
            let _ = writeln!(
                out,
                "# Every pair is one-way ({}): records go from {from} to {to}; {from} is never written.",
                direction_word(direction)
            );
        }
    }
    for draft in drafts {
        out.push('\n');
        if draft.fields.is_empty() {
            let _ = writeln!(
                out,
                "# No pair `{}`: no field of {} matches one of {}.",
                draft.name,
                draft.left.endpoint(),
                draft.right.endpoint()
            );
            continue;
        }
        out.push_str(&pair(draft, direction));
    }
    out
}

/// `direction` as the mapping file spells it.
fn direction_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Both => "both",
        Direction::LeftToRight => "left-to-right",
        Direction::RightToLeft => "right-to-left",
    }
}

/// One `[[pairs]]` table and the comments that follow it.
fn pair(draft: &PairDraft, direction: Direction) -> String {
    let (left, right) = (&draft.left, &draft.right);
    let mut out = String::new();
    let _ = writeln!(out, "[[pairs]]");
    let _ = writeln!(out, "name = {}", quote(&draft.name));
    let _ = writeln!(out, "left = {}", quote(&left.endpoint()));
    let _ = writeln!(out, "right = {}", quote(&right.endpoint()));
    let _ = writeln!(out, "direction = \"{}\"", direction_word(direction));
    let how = |domain: bool| {
        if domain {
            "by web domain (case, scheme and www. aside)"
        } else {
            "(trimmed, case-insensitive)"
        }
    };
    match draft.match_fields.as_slice() {
        [] => {}
        [(_, field, domain)] => {
            let _ = writeln!(
                out,
                "match = {}            # pairs records not linked yet {}",
                quote(field),
                how(*domain)
            );
        }
        [(_, first, domain), rest @ ..] => {
            let names: Vec<String> = std::iter::once(first)
                .chain(rest.iter().map(|(_, f, _)| f))
                .map(|f| quote(f))
                .collect();
            let _ = writeln!(out, "match = [{}]", names.join(", "));
            comment(
                &mut out,
                &format!(
                    "pairs records not linked yet: by {} where both have one, else by {}",
                    if *domain {
                        "web domain"
                    } else {
                        first.as_str()
                    },
                    rest.iter()
                        .map(|(_, f, _)| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", then ")
                ),
            );
        }
    }
    let _ = writeln!(out, "conflict = \"newest\"");
    if !draft.creates.is_empty() {
        let line = "schema = \"create\"";
        let _ = writeln!(
            out,
            "{line:<40} # the properties listed below are created where they are missing"
        );
    }
    let _ = writeln!(out, "[pairs.fields]");
    for (l, r, comment) in &draft.fields {
        let line = format!("{} = {}", quote_key(l), quote(r));
        let _ = writeln!(out, "{line:<40} # {comment}");
    }
    let named: Vec<_> = draft
        .values
        .iter()
        .filter(|(_, m)| matches!(m, ValueMapDraft::Named(..)))
        .collect();
    if !named.is_empty() {
        let _ = writeln!(out, "[pairs.values]");
        for (field, map) in named {
            if let ValueMapDraft::Named(name, notes) = map {
                for note in notes {
                    comment(&mut out, &format!("{field}: {note}"));
                }
                let _ = writeln!(out, "{} = {}", quote_key(field), quote(name));
            }
        }
    }
    for (field, map) in &draft.values {
        if let ValueMapDraft::Table(lines) = map {
            let _ = writeln!(out, "[pairs.values.{}]", quote_key(field));
            for line in lines {
                match line {
                    TableLine::Entry(l, r, note) => {
                        let line = format!("{} = {}", quote_key(l), quote(r));
                        let _ = writeln!(out, "{line:<40} # {note}");
                    }
                    TableLine::Todo(l, r, note) => {
                        let line = format!("# {} = {}", quote_key(l), quote(r));
                        let _ = writeln!(out, "{line:<40} # {}", clean(note));
                    }
                    TableLine::Note(note) => comment(&mut out, note),
                }
            }
        }
    }
    if !draft.creates.is_empty() {
        let _ = writeln!(
            out,
            "# Created by the first sync (schema = \"create\"), copied from the other side:"
        );
        for end in [left, right] {
            let made: Vec<String> = (draft.creates.iter())
                .filter(|(object, _)| *object == end.endpoint())
                .map(|(_, what)| what.clone())
                .collect();
            if !made.is_empty() {
                wrap_list(&mut out, &format!("on {}:", end.endpoint()), made);
            }
        }
    }
    scope_example(&mut out, draft);
    if !draft.left_out.is_empty() {
        let _ = writeln!(out, "# Paired by name or label but left out:");
        for line in &draft.left_out {
            comment(&mut out, &format!("  {line}"));
        }
    }
    let _ = writeln!(
        out,
        "# Not mapped (add a `left = \"right\"` line to [pairs.fields] to sync one):"
    );
    for (i, end) in [left, right].into_iter().enumerate() {
        let (writable, read_only): (Vec<_>, Vec<_>) = end
            .fields
            .iter()
            .enumerate()
            .filter(|(n, _)| !draft.used[i].contains(n))
            .map(|(_, f)| f)
            .partition(|f| !f.read_only);
        let listed: Vec<String> = writable.iter().map(|f| describe(f)).collect();
        wrap_list(
            &mut out,
            &format!("{}:", end.endpoint()),
            if listed.is_empty() {
                vec!["(none)".to_string()]
            } else {
                listed
            },
        );
        let other = if i == 0 { right } else { left };
        let writes_other = direction.writes(if i == 0 {
            crate::model::Side::Right
        } else {
            crate::model::Side::Left
        });
        let custom = writable
            .iter()
            .any(|f| f.is_custom && !matches!(f.kind, crate::connector::FieldType::Relation(_)));
        if custom && writes_other && draft.creates.is_empty() {
            let _ = writeln!(
                out,
                "#   (to create the custom ones on {}: `crmsync init --schema create`)",
                other.endpoint()
            );
        }
        if !read_only.is_empty() {
            wrap_list(
                &mut out,
                &format!(
                    "{} read-only (a one-way pair can read them):",
                    end.endpoint()
                ),
                read_only.iter().map(|f| quote_key(&f.name)).collect(),
            );
        }
    }
    out
}

/// A commented-out scope: how to sync only a segment of a side, on a
/// field the pair maps, and a saved filter where the right side is
/// Pipedrive.
fn scope_example(out: &mut String, draft: &PairDraft) {
    let Some((field, ..)) = draft.fields.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "# To sync only a segment, uncomment and adjust (README, \"Scope\"):"
    );
    let _ = writeln!(out, "# [pairs.scope.left]");
    let line = format!("# {} = {{ present = true }}", quote_key(field));
    let _ = writeln!(
        out,
        "{line:<40} # a value, a list of values, {{ not = [...] }} or {{ present = false }}"
    );
    if draft.right.account.kind == SystemKind::Pipedrive {
        let _ = writeln!(out, "# [pairs.scope.right]");
        let _ = writeln!(
            out,
            "{:<40} # a saved Pipedrive filter of {}",
            "# filter_id = 42",
            draft.right.endpoint()
        );
    }
}

/// A field for the "not mapped" list: its name, its label where that
/// differs, its kind.
fn describe(f: &FieldDescription) -> String {
    let mut traits = vec![kind_name(f.kind)];
    if f.multiple {
        traits.push("several");
    }
    if f.is_custom {
        traits.push("custom");
    }
    if f.label == f.name {
        format!("{} ({})", quote_key(&f.name), traits.join(", "))
    } else {
        format!(
            "{} {} ({})",
            quote_key(&f.name),
            quote(&f.label),
            traits.join(", ")
        )
    }
}

/// A comment, wrapped at spaces to about 90 columns; continuation lines
/// are indented. A quoted label, and an option's value in parentheses
/// after it, are never split.
fn comment(out: &mut String, text: &str) {
    let mut words: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut word = String::new();
    for c in text.chars() {
        if c == ' ' && !quoted {
            words.push(std::mem::take(&mut word));
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        word.push(c);
    }
    words.push(word);
    let mut line = String::from("#");
    for word in words {
        let breakable = !word.starts_with('(');
        if breakable
            && line.len() + 1 + word.len() > 90
            && !line.trim_start_matches('#').trim().is_empty()
        {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#    ");
        }
        line.push(' ');
        line.push_str(&word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// `# heading item, item, …` wrapped to about 90 columns.
fn wrap_list(out: &mut String, heading: &str, items: Vec<String>) {
    let mut line = format!("#   {heading}");
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!(" {item},")
        } else {
            format!(" {item}")
        };
        if line.len() + piece.len() > 90 && line.len() > 6 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = "#     ".to_string();
        }
        line.push_str(&piece);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SystemKind;
    use crate::init::fixtures::pipeline_account;
    use crate::init::pairs;

    #[test]
    fn a_stage_table_is_grouped_by_pipeline_with_what_is_left_to_complete_commented() {
        let accounts = [
            pipeline_account("hs", SystemKind::Hubspot),
            pipeline_account("pd", SystemKind::Pipedrive),
        ];
        let drafts = pairs::draft(
            &accounts,
            Direction::Both,
            crate::config::SchemaPolicy::Existing,
        );
        let deals = drafts
            .iter()
            .find(|d| d.name == "deals")
            .expect("a deals pair");
        let expected = r#"[[pairs]]
name = "deals"
left = "hs.deals"
right = "pd.deals"
direction = "both"
conflict = "newest"
[pairs.fields]
dealname = "title"                       # Deal Name = Title (same meaning)
pipeline = "pipeline_id"                 # Pipeline (same meaning)
dealstage = "stage_id"                   # Deal Stage = Stage (same meaning)
[pairs.values.pipeline]
default = "1"                            # Sales
renewals = "2"                           # Renewals
# lefty = ""                             # "Left only" (lefty): no pipeline of that name in pd
# pipelines of pd with no match: "Right only" (9)
[pairs.values.dealstage]
# Stages match by name within pipelines of the same name. Give each stage commented out
#     below the value of a stage of pd (in parentheses where listed), or deals in it are
#     reported `invalid`, never written to another stage.
# pipeline "Sales" = "Sales":
won = "6"                                # Won
# lost = ""                              # "Lost" (lost): no stage of that name in pd
# stages of pd with no match: "Negotiation" (7)
# pipeline "Renewals" = "renewals":
r-open = "10"                            # Open
# pipeline "Left only" of hs has no match in pd; give its stages a stage of pd:
# l1 = ""                                # "Start" (l1)
# pipeline "Right only" of pd has no match in hs; its stages: "Intake" (20)
# To sync only a segment, uncomment and adjust (README, "Scope"):
# [pairs.scope.left]
# dealname = { present = true }          # a value, a list of values, { not = [...] } or { present = false }
# [pairs.scope.right]
# filter_id = 42                         # a saved Pipedrive filter of pd.deals
# Not mapped (add a `left = "right"` line to [pairs.fields] to sync one):
#   hs.deals: (none)
#   hs.deals read-only (a one-way pair can read them): hs_object_id
#   pd.deals: currency (text)
"#;
        assert_eq!(pair(deals, Direction::Both), expected);
    }

    #[test]
    fn a_file_says_why_a_pair_is_missing_and_which_way_one_way_pairs_go() {
        let accounts = [
            pipeline_account("hs", SystemKind::Hubspot),
            pipeline_account("pd", SystemKind::Pipedrive),
        ];
        let drafts = pairs::draft(
            &accounts,
            Direction::Both,
            crate::config::SchemaPolicy::Existing,
        );
        let text = mapping_file(
            "[systems.hs]\n\n",
            &["hs", "pd"],
            &drafts,
            Direction::RightToLeft,
        );
        let head = "[systems.hs]

# ---------------------------------------------------------------------------
# Pairs written by `crmsync init` from the metadata of hs, pd.
# Fields were paired by meaning, then by internal name, then by label; review
# them, then run `crmsync diff`. Pairs run in file order: companies, contacts, deals.
# Every pair is one-way (right-to-left): records go from pd to hs; pd is never written.

# No pair `companies`: no field of hs.companies matches one of pd.organizations.

# No pair `contacts`: no field of hs.contacts matches one of pd.persons.

[[pairs]]
name = \"deals\"
";
        assert!(text.starts_with(head), "{text}");
        assert!(text.contains("direction = \"right-to-left\"\n"), "{text}");
    }

    #[test]
    fn comments_wrap_at_spaces_keeping_a_label_and_its_value_whole() {
        let mut out = String::new();
        comment(
            &mut out,
            "options of hs with no match: \"Subscriber\" (subscriber), \"Marketing Qualified Lead\" (marketingqualifiedlead), \"Sales Qualified Lead\" (salesqualifiedlead), \"Opportunity\" (opportunity), \"Evangelist\" (evangelist), \"Other\" (other)",
        );
        assert_eq!(
            out,
            "# options of hs with no match: \"Subscriber\" (subscriber), \"Marketing Qualified Lead\" (marketingqualifiedlead),
#     \"Sales Qualified Lead\" (salesqualifiedlead), \"Opportunity\" (opportunity),
#     \"Evangelist\" (evangelist), \"Other\" (other)
"
        );
        let mut out = String::new();
        let items = [
            "visible_to \"Visible to\" (number)",
            "address \"Address\" (text)",
            "linkedin \"LinkedIn profile\" (text)",
            "industry \"Industry\" (number)",
            "annual_revenue \"Annual revenue\" (number)",
            "employee_count \"Number of employees\" (number)",
        ];
        wrap_list(
            &mut out,
            "pd.organizations:",
            items.iter().map(|s| s.to_string()).collect(),
        );
        assert_eq!(
            out,
            "#   pd.organizations: visible_to \"Visible to\" (number), address \"Address\" (text),
#      linkedin \"LinkedIn profile\" (text), industry \"Industry\" (number),
#      annual_revenue \"Annual revenue\" (number),
#      employee_count \"Number of employees\" (number)
"
        );
    }
}
