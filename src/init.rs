//! `crmsync init`: a complete, commented mapping file written from the
//! accounts' metadata, so a new user starts from a file that works on the
//! first `diff` instead of looking names up in two web UIs.
//!
//! One pair per kind of record both systems hold (`FAMILIES`); fields
//! paired by what they stand for (`Meaning`), then by internal name, then by
//! label (case-insensitive); kinds that cannot convert left out; value maps
//! chosen from the options (owners by email, labels, explicit tables, stages
//! per pipeline, `link:` for relations). Everything left out is named in a
//! comment so the user can add it. With more than two systems the first one
//! in the file is the hub: each other system gets its pairs with it.
//!
//! Pure: the metadata is read by the caller and this module only turns it
//! into TOML text. It makes no request and writes no file.

use crate::config::{Direction, SystemKind};
use crate::connector::{FieldDescription, FieldType, Meaning, OptionDescription};
use crate::model::{ObjectKind, Owner};
use std::collections::BTreeSet;
use std::fmt::Write;

/// A kind of record every CRM holds under its own object name.
struct Family {
    /// The pair's name (suffixed with the other system's name when the hub
    /// has several partners).
    name: &'static str,
    /// The objects that hold it, whichever vendor offers each.
    objects: &'static [ObjectKind],
    /// The fields that pair records not linked yet, the best first: the
    /// first one both sides hold is used.
    match_on: &'static [Meaning],
}

/// The families in the order their pairs are written: companies, then
/// people, then deals, so a `link:` map names an earlier pair, as the
/// mapping file requires. Companies pair on their web domain where both
/// sides have such a field (HubSpot `domain`, Pipedrive `website`, compared
/// as domains), else on their name.
const FAMILIES: &[Family] = &[
    Family {
        name: "companies",
        objects: &[ObjectKind::Companies, ObjectKind::Organizations],
        match_on: &[Meaning::Domain, Meaning::CompanyName],
    },
    Family {
        name: "contacts",
        objects: &[ObjectKind::Contacts, ObjectKind::Persons],
        match_on: &[Meaning::Email],
    },
    Family {
        name: "deals",
        objects: &[ObjectKind::Deals],
        match_on: &[],
    },
];

/// One account's metadata as `init` read it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The system's name in the mapping file.
    pub system: String,
    pub kind: SystemKind,
    /// Every field of each object read (see `objects_to_read`).
    pub objects: Vec<(ObjectKind, Vec<FieldDescription>)>,
    pub owners: Vec<Owner>,
}

impl Account {
    fn fields(&self, object: ObjectKind) -> &[FieldDescription] {
        self.objects
            .iter()
            .find(|(o, _)| *o == object)
            .map_or(&[], |(_, fields)| fields.as_slice())
    }
}

/// The objects of a system whose metadata `init` needs: those some family
/// holds.
pub fn objects_to_read(kind: SystemKind) -> Vec<ObjectKind> {
    kind.objects()
        .iter()
        .copied()
        .filter(|o| family_of(*o).is_some())
        .collect()
}

/// Whether `owners()` is worth reading for an account: a field of its
/// holds owner ids.
pub fn needs_owners(objects: &[(ObjectKind, Vec<FieldDescription>)]) -> bool {
    objects
        .iter()
        .flat_map(|(_, fields)| fields)
        .any(|f| f.meaning == Some(Meaning::Owner))
}

fn family_of(object: ObjectKind) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.objects.contains(&object))
}

/// The systems of a mapping file in the order their tables appear, so "the
/// first system" means what the user sees; names not found (a dotted-key
/// definition) follow in name order.
pub fn systems_in_file_order(text: &str, names: &[String]) -> Vec<String> {
    let position = |name: &str| {
        let headers = [format!("[systems.{name}]"), format!("[systems.\"{name}\"]")];
        text.lines()
            .position(|line| headers.iter().any(|h| line.trim_start().starts_with(h)))
            .unwrap_or(usize::MAX)
    };
    let mut ordered = names.to_vec();
    ordered.sort_by_key(|name| (position(name), name.clone()));
    ordered
}

/// The mapping file: `systems_text` (the user's file holding the systems,
/// kept as written) followed by the generated pairs. `accounts[0]` is the
/// hub; every other account is paired with it.
pub fn mapping_file(systems_text: &str, accounts: &[Account], direction: Direction) -> String {
    let mut out = systems_text.trim_end().to_string();
    let names: Vec<&str> = accounts.iter().map(|a| a.system.as_str()).collect();
    out.push_str(
        "\n\n# ---------------------------------------------------------------------------\n",
    );
    let _ = writeln!(
        out,
        "# Pairs written by `crmsync init` from the metadata of {}.",
        names.join(", ")
    );
    if accounts.len() > 2 {
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
    let Some((hub, spokes)) = accounts.split_first() else {
        return out;
    };
    for spoke in spokes {
        // The pairs of this spoke written so far, for the links of later ones.
        let mut written: Vec<(&'static Family, String)> = Vec::new();
        for family in FAMILIES {
            let object_of = |account: &Account| {
                family
                    .objects
                    .iter()
                    .copied()
                    .find(|o| account.kind.objects().contains(o))
            };
            let (Some(left_object), Some(right_object)) = (object_of(hub), object_of(spoke)) else {
                continue;
            };
            let name = if spokes.len() > 1 {
                format!("{}-{}", family.name, spoke.system)
            } else {
                family.name.to_string()
            };
            let left = End {
                account: hub,
                object: left_object,
                fields: hub.fields(left_object),
            };
            let right = End {
                account: spoke,
                object: right_object,
                fields: spoke.fields(right_object),
            };
            let link_pair = |object: ObjectKind| {
                let target = family_of(object)?;
                written
                    .iter()
                    .find(|(f, _)| std::ptr::eq(*f, target))
                    .map(|(_, n)| n.clone())
            };
            let draft = draft_pair(&name, family, &left, &right, &link_pair);
            out.push('\n');
            if draft.fields.is_empty() {
                let _ = writeln!(
                    out,
                    "# No pair `{name}`: no field of {} matches one of {}.",
                    left.endpoint(),
                    right.endpoint()
                );
                continue;
            }
            out.push_str(&render(&draft, &left, &right, direction));
            written.push((family, name));
        }
    }
    out
}

/// One side of a pair being drafted.
struct End<'a> {
    account: &'a Account,
    object: ObjectKind,
    fields: &'a [FieldDescription],
}

impl End<'_> {
    fn endpoint(&self) -> String {
        format!("{}.{}", self.account.system, self.object)
    }
}

/// A pair as it will be written.
struct PairDraft {
    name: String,
    /// The match fields (left names), with their rank in the family's
    /// `match_on` and whether they compare as web domains.
    match_fields: Vec<(usize, String, bool)>,
    /// `left = right`, with a comment saying how they were paired.
    fields: Vec<(String, String, String)>,
    values: Vec<(String, ValueMapDraft)>,
    /// Paired fields that were left out, with the reason.
    left_out: Vec<String>,
    /// Indexes of each side's fields that made it into `fields`.
    used: [BTreeSet<usize>; 2],
}

enum ValueMapDraft {
    /// `owner-by-email`, `by-label` or `link:PAIR`, with comment lines.
    Named(String, Vec<String>),
    /// An explicit table, line by line.
    Table(Vec<TableLine>),
}

/// One line of an explicit value table.
enum TableLine {
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

/// How a pair of fields was found.
#[derive(Clone, Copy)]
enum Pairing {
    Meaning,
    Name,
    Label,
}

fn draft_pair(
    name: &str,
    family: &Family,
    left: &End,
    right: &End,
    link_pair: &dyn Fn(ObjectKind) -> Option<String>,
) -> PairDraft {
    let candidates = pair_candidates(left.fields, right.fields);
    let mut draft = PairDraft {
        name: name.to_string(),
        match_fields: Vec::new(),
        fields: Vec::new(),
        values: Vec::new(),
        left_out: Vec::new(),
        used: [BTreeSet::new(), BTreeSet::new()],
    };
    // The pipeline decides which stages map, so it is judged first.
    let pipeline_pair = candidates.iter().find(|(l, r, _)| {
        left.fields[*l].meaning == Some(Meaning::Pipeline)
            && right.fields[*r].meaning == Some(Meaning::Pipeline)
    });
    let matched_pipelines = pipeline_pair
        .map(|(l, r, _)| match_options(&left.fields[*l].options, &right.fields[*r].options))
        .unwrap_or_default();
    for &(l, r, how) in &candidates {
        let (lf, rf) = (&left.fields[l], &right.fields[r]);
        let verdict = match (lf.meaning, rf.meaning) {
            (Some(Meaning::Owner), Some(Meaning::Owner)) => owners_map(left, right),
            (Some(Meaning::Related { object, .. }), Some(Meaning::Related { .. })) => {
                match link_pair(object) {
                    Some(pair) => Verdict::Map(ValueMapDraft::Named(
                        format!("link:{pair}"),
                        vec![format!("ids translated through the links of pair `{pair}`")],
                    )),
                    None => Verdict::LeftOut(
                        "no earlier pair syncs the records it points to".to_string(),
                    ),
                }
            }
            (Some(Meaning::Pipeline), Some(Meaning::Pipeline)) => {
                pipelines_map(lf, rf, &matched_pipelines, systems(left, right))
            }
            (Some(Meaning::Stage), Some(Meaning::Stage)) => {
                stages_map(left, right, lf, rf, &matched_pipelines)
            }
            _ => convert(lf, rf, systems(left, right)),
        };
        let how = match how {
            Pairing::Meaning => "same meaning",
            Pairing::Name => "same name",
            Pairing::Label => "same label",
        };
        let comment = if lf.label == rf.label {
            format!("{} ({how})", clean(&lf.label))
        } else {
            format!("{} = {} ({how})", clean(&lf.label), clean(&rf.label))
        };
        match verdict {
            Verdict::LeftOut(reason) => draft.left_out.push(format!(
                "{} ({}) = {} ({}): {reason}",
                quote_key(&lf.name),
                left.account.system,
                quote(&rf.name),
                right.account.system
            )),
            verdict => {
                if let Verdict::Map(map) = verdict {
                    draft.values.push((lf.name.clone(), map));
                }
                let rank = family.match_on.iter().position(|o| Some(*o) == lf.meaning);
                if let Some(rank) = rank
                    && !draft.match_fields.iter().any(|(r, _, _)| *r == rank)
                {
                    let domain = lf.meaning == Some(Meaning::Domain);
                    draft.match_fields.push((rank, lf.name.clone(), domain));
                    draft.match_fields.sort();
                }
                draft
                    .fields
                    .push((lf.name.clone(), rf.name.clone(), comment));
                draft.used[0].insert(l);
                draft.used[1].insert(r);
            }
        }
    }
    draft
}

/// What becomes of a paired field.
enum Verdict {
    /// Mapped as it is.
    Plain,
    /// Mapped with a value map.
    Map(ValueMapDraft),
    /// Not mapped, for this reason.
    LeftOut(String),
}

/// Candidate pairs of fields (left index, right index): by meaning, then by
/// internal name, then by label (case-insensitive), each field once. Only
/// writable fields: the pairs written sync both ways. A record's relation
/// to one kind of record is paired once (HubSpot offers a deal's contacts
/// both as `contacts` and as its primary `contact`).
fn pair_candidates(
    left: &[FieldDescription],
    right: &[FieldDescription],
) -> Vec<(usize, usize, Pairing)> {
    let mut pairs: Vec<(usize, usize, Pairing)> = Vec::new();
    let mut related: Vec<&'static str> = Vec::new();
    for how in [Pairing::Meaning, Pairing::Name, Pairing::Label] {
        // Relations pair only by meaning: their names say nothing of which
        // records they point to.
        let eligible = |f: &FieldDescription| {
            !f.read_only && (matches!(how, Pairing::Meaning) || !is_related(f))
        };
        for (l, lf) in left.iter().enumerate() {
            if !eligible(lf) || pairs.iter().any(|p| p.0 == l) {
                continue;
            }
            let found = right.iter().enumerate().find(|(r, rf)| {
                eligible(rf) && !pairs.iter().any(|p| p.1 == *r) && alike(how, lf, rf)
            });
            let Some((r, _)) = found else { continue };
            if let Some(Meaning::Related { object, .. }) = lf.meaning {
                let target = family_of(object).map_or("", |f| f.name);
                if related.contains(&target) {
                    continue;
                }
                related.push(target);
            }
            pairs.push((l, r, how));
        }
    }
    pairs.sort_by_key(|p| p.0);
    pairs
}

fn is_related(f: &FieldDescription) -> bool {
    matches!(f.meaning, Some(Meaning::Related { .. }))
}

/// Whether two fields are the same one, the way `how` tells. Relations are
/// the same when they point at the same kind of record and hold as many.
fn alike(how: Pairing, l: &FieldDescription, r: &FieldDescription) -> bool {
    match how {
        Pairing::Name => l.name == r.name,
        Pairing::Label => l.label.trim().eq_ignore_ascii_case(r.label.trim()),
        Pairing::Meaning => match (l.meaning, r.meaning) {
            (
                Some(Meaning::Related { object: a, many: m }),
                Some(Meaning::Related { object: b, many: n }),
            ) => m == n && family_of(a).map(|f| f.name) == family_of(b).map(|f| f.name),
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    }
}

/// Whether two fields' values can be copied as they are, need a value map,
/// or cannot convert.
fn convert(l: &FieldDescription, r: &FieldDescription, systems: [&str; 2]) -> Verdict {
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
    let entries = table_entries(&matched, &l.options, &r.options, None);
    Verdict::Map(table(entries, notes))
}

/// Owners are translated through their email; the ones that cannot be are
/// named, as a record they own will be `invalid` until the user exists on
/// both sides.
fn owners_map(left: &End, right: &End) -> Verdict {
    let emails = |account: &Account| -> BTreeSet<String> {
        account
            .owners
            .iter()
            .map(|o| o.email.trim().to_lowercase())
            .collect()
    };
    let (l, r) = (emails(left.account), emails(right.account));
    let mut notes = vec!["owner ids translated through the owners' email".to_string()];
    for (account, only) in [
        (left.account, l.difference(&r).cloned().collect::<Vec<_>>()),
        (right.account, r.difference(&l).cloned().collect()),
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
fn pipelines_map(
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
    let mut lines: Vec<TableLine> = table_entries(matched, &lf.options, &rf.options, None)
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
fn stages_map(
    left: &End,
    right: &End,
    lf: &FieldDescription,
    rf: &FieldDescription,
    pipelines: &[(usize, usize)],
) -> Verdict {
    let (Some(lp), Some(rp)) = (pipeline_field(left.fields), pipeline_field(right.fields)) else {
        return Verdict::LeftOut("no pipeline field to group its stages by".to_string());
    };
    let in_pipeline = |stages: &[OptionDescription], pipeline: &OptionDescription| {
        stages
            .iter()
            .filter(|s| s.group.as_deref() == Some(pipeline.value.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };
    let names = systems(left, right);
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
            table_entries(&matched, &ls, &rs, None)
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

/// The two systems' names, as comments name the sides.
fn systems<'a>(left: &End<'a>, right: &End<'a>) -> [&'a str; 2] {
    [left.account.system.as_str(), right.account.system.as_str()]
}

fn pipeline_field(fields: &[FieldDescription]) -> Option<&FieldDescription> {
    fields.iter().find(|f| f.meaning == Some(Meaning::Pipeline))
}

/// Options matched by label (case-insensitive), where the label names one
/// option on each side: (left index, right index), in left order.
fn match_options(left: &[OptionDescription], right: &[OptionDescription]) -> Vec<(usize, usize)> {
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

/// Table lines for matched options, each commented with its label (after
/// `heading`, if any).
fn table_entries(
    matched: &[(usize, usize)],
    left: &[OptionDescription],
    right: &[OptionDescription],
    heading: Option<&str>,
) -> Vec<(String, String, String)> {
    matched
        .iter()
        .map(|&(l, r)| {
            let label = clean(&left[l].label);
            let comment = match heading {
                Some(h) => format!("{h}: {label}"),
                None => label,
            };
            (left[l].value.clone(), right[r].value.clone(), comment)
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
    let name = |o: &OptionDescription| {
        if o.label == o.value {
            quote(&o.label)
        } else {
            format!("{} ({})", quote(&o.label), clean(&o.value))
        }
    };
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
            .map(|(_, o)| name(o))
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

/// `direction` as the mapping file spells it.
fn direction_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Both => "both",
        Direction::LeftToRight => "left-to-right",
        Direction::RightToLeft => "right-to-left",
    }
}

fn render(draft: &PairDraft, left: &End, right: &End, direction: Direction) -> String {
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

fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Text => "text",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Bool => "bool",
        FieldType::Choice => "choice",
        FieldType::Relation(_) => "relation",
    }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML key: bare where TOML allows it, else quoted.
fn quote_key(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { text.to_string() } else { quote(text) }
}

/// A label made safe for a one-line comment.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn field(name: &str, label: &str, kind: FieldType) -> FieldDescription {
        FieldDescription {
            name: name.into(),
            label: label.into(),
            kind,
            multiple: false,
            options: Vec::new(),
            read_only: false,
            is_custom: false,
            meaning: None,
        }
    }

    fn meaning(meaning: Meaning, f: FieldDescription) -> FieldDescription {
        FieldDescription {
            meaning: Some(meaning),
            ..f
        }
    }

    fn choice(name: &str, label: &str, options: &[(&str, &str)]) -> FieldDescription {
        FieldDescription {
            options: options
                .iter()
                .map(|(v, l)| OptionDescription {
                    value: v.to_string(),
                    label: l.to_string(),
                    group: None,
                })
                .collect(),
            ..field(name, label, FieldType::Choice)
        }
    }

    /// A small HubSpot or Pipedrive account: people with an email, a name
    /// and an owner; deals with a name and a contact.
    fn account(system: &str, kind: SystemKind) -> Account {
        let hubspot = kind == SystemKind::Hubspot;
        let (people, person_ref) = if hubspot {
            (ObjectKind::Contacts, ObjectKind::Contacts)
        } else {
            (ObjectKind::Persons, ObjectKind::Persons)
        };
        let people_fields = vec![
            meaning(Meaning::Email, field("email", "Email", FieldType::Text)),
            meaning(
                Meaning::FirstName,
                field(
                    if hubspot { "firstname" } else { "first_name" },
                    "First name",
                    FieldType::Text,
                ),
            ),
            meaning(
                Meaning::Owner,
                field(
                    if hubspot {
                        "hubspot_owner_id"
                    } else {
                        "owner_id"
                    },
                    "Owner",
                    FieldType::Choice,
                ),
            ),
            FieldDescription {
                read_only: true,
                ..field("createdate", "Created", FieldType::Date)
            },
        ];
        let deal_fields = vec![
            meaning(
                Meaning::DealName,
                field(
                    if hubspot { "dealname" } else { "title" },
                    "Name",
                    FieldType::Text,
                ),
            ),
            meaning(
                Meaning::Related {
                    object: person_ref,
                    many: false,
                },
                field(
                    if hubspot { "contact" } else { "person_id" },
                    "Contact",
                    FieldType::Relation(person_ref),
                ),
            ),
            field(
                "amount",
                "Amount",
                if hubspot {
                    FieldType::Number
                } else {
                    FieldType::Text
                },
            ),
        ];
        Account {
            system: system.into(),
            kind,
            objects: vec![(people, people_fields), (ObjectKind::Deals, deal_fields)],
            owners: vec![Owner {
                id: "1".into(),
                email: "sam@x.io".into(),
            }],
        }
    }

    #[test]
    fn three_systems_pair_each_with_the_first_and_the_file_loads() {
        let systems = "[systems.hub]\nkind = \"hubspot\"\ntoken_env = \"H\"\n\
            [systems.pd]\nkind = \"pipedrive\"\ntoken_env = \"P\"\nbase_url = \"https://x.pipedrive.com\"\n\
            [systems.eu]\nkind = \"hubspot\"\ntoken_env = \"E\"\n";
        let accounts = [
            account("hub", SystemKind::Hubspot),
            account("pd", SystemKind::Pipedrive),
            account("eu", SystemKind::Hubspot),
        ];
        let text = mapping_file(systems, &accounts, Direction::Both);
        let config = Config::from_str(&text, Path::new("sync.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<(&str, String, String)> = config
            .pairs
            .iter()
            .map(|p| (p.name.as_str(), p.left.to_string(), p.right.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("contacts-pd", "hub.contacts".into(), "pd.persons".into()),
                ("deals-pd", "hub.deals".into(), "pd.deals".into()),
                ("contacts-eu", "hub.contacts".into(), "eu.contacts".into()),
                ("deals-eu", "hub.deals".into(), "eu.deals".into()),
            ]
        );
        let deals_pd = &config.pairs[1];
        assert_eq!(
            deals_pd.values["contact"],
            crate::config::ValueMap::Link("contacts-pd".into())
        );
        assert_eq!(config.pairs[0].match_field.as_deref(), Some("email"));
        assert!(text.contains("`hub` (the first system in this file) is the hub"));
        // A number and free text do not convert: left out, and said so.
        assert!(
            !deals_pd.fields.iter().any(|f| f.left == "amount"),
            "{text}"
        );
        assert!(
            text.contains("number and text values cannot convert"),
            "{text}"
        );
        // Read-only fields are listed, not mapped.
        assert!(text.contains("read-only (a one-way pair can read them): createdate"));
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
    fn fields_pair_by_meaning_then_name_then_label() {
        let left = [
            meaning(
                Meaning::DealName,
                field("dealname", "Deal", FieldType::Text),
            ),
            field("region", "Region", FieldType::Text),
            field("notes", "Remarks", FieldType::Text),
        ];
        let right = [
            field("Remarks", "Remarks", FieldType::Text),
            field("region", "Area", FieldType::Text),
            meaning(Meaning::DealName, field("title", "Title", FieldType::Text)),
        ];
        let pairs: Vec<(usize, usize)> = pair_candidates(&left, &right)
            .into_iter()
            .map(|(l, r, _)| (l, r))
            .collect();
        assert_eq!(pairs, [(0, 2), (1, 1), (2, 0)]);
    }

    #[test]
    fn systems_keep_the_order_of_the_file_and_keys_are_quoted_where_needed() {
        let text = "[systems.zeta]\nkind = \"hubspot\"\n[systems.alpha]\n";
        assert_eq!(
            systems_in_file_order(text, &["alpha".into(), "zeta".into()]),
            ["zeta", "alpha"]
        );
        assert_eq!(quote_key("jobtitle"), "jobtitle");
        assert_eq!(quote_key("Job Title"), "\"Job Title\"");
        assert_eq!(quote("say \"hi\""), "'say \"hi\"'");
    }
}
