//! The draft of pairs for `init`: which objects pair and which of their
//! fields go together.
//!
//! One pair per kind of record both systems hold (`FAMILIES`), the hub
//! (the first account) with each other account; fields paired by what they
//! stand for (`Meaning`), then by internal name, then by label
//! (case-insensitive), each field once and only writable ones; the match
//! fields chosen from the family's list. What becomes of each pair of
//! fields' values is asked of `values.rs`.
//!
//! Pure: metadata in, `PairDraft`s out. It writes no TOML (`render.rs`
//! lays the drafts out), makes no request and reads no file.

use super::Account;
use super::text::{clean, kind_name, quote, quote_key};
use super::values::{self, ValueMapDraft, Verdict};
use crate::config::{Direction, SchemaPolicy, SystemKind};
use crate::connector::{FieldDescription, FieldType, Meaning};
use crate::model::{ObjectKind, Side};
use std::collections::BTreeSet;

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
/// people, then deals, then the notes on them, so a `link:` map names an
/// earlier pair, as the
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
    // Notes have no match field: unlinked ones pair by body, time and
    // records.
    Family {
        name: "notes",
        objects: &[ObjectKind::Notes],
        match_on: &[],
    },
];

/// The objects of a system whose metadata `init` needs: those some family
/// holds.
pub(super) fn objects_to_read(kind: SystemKind) -> Vec<ObjectKind> {
    kind.objects()
        .iter()
        .copied()
        .filter(|o| family_of(*o).is_some())
        .collect()
}

fn family_of(object: ObjectKind) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.objects.contains(&object))
}

/// One side of a pair being drafted.
#[derive(Clone, Copy)]
pub(super) struct End<'a> {
    pub(super) account: &'a Account,
    pub(super) object: ObjectKind,
    pub(super) fields: &'a [FieldDescription],
}

impl End<'_> {
    /// `system.object`, as the mapping file names the side.
    pub(super) fn endpoint(&self) -> String {
        format!("{}.{}", self.account.system, self.object)
    }
}

/// A pair as it will be written. One with no `fields` is not written: the
/// file says in a comment why it is missing.
pub(super) struct PairDraft<'a> {
    pub(super) name: String,
    pub(super) left: End<'a>,
    pub(super) right: End<'a>,
    /// The match fields (left names), with their rank in the family's
    /// `match_on` and whether they compare as web domains.
    pub(super) match_fields: Vec<(usize, String, bool)>,
    /// `left = right`, with a comment saying how they were paired.
    pub(super) fields: Vec<(String, String, String)>,
    pub(super) values: Vec<(String, ValueMapDraft)>,
    /// Paired fields that were left out, with the reason.
    pub(super) left_out: Vec<String>,
    /// Indexes of each side's fields that made it into `fields`.
    pub(super) used: [BTreeSet<usize>; 2],
    /// With `--schema create`: the properties the first sync creates, as
    /// (the account object, the comment's words for it); the pair then has
    /// `schema = "create"`.
    pub(super) creates: Vec<(String, String)>,
}

/// The pairs of `accounts` in the order they are written: `accounts[0]`
/// is the hub, and each other account gets one pair with it per family
/// both hold. A relation links only to an earlier pair of the same account
/// that has fields.
pub(super) fn draft(
    accounts: &[Account],
    direction: Direction,
    schema: SchemaPolicy,
) -> Vec<PairDraft<'_>> {
    let mut drafts = Vec::new();
    let Some((hub, spokes)) = accounts.split_first() else {
        return drafts;
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
            let mut draft = draft_pair(name, family, left, right, &link_pair);
            if schema == SchemaPolicy::Create {
                map_to_create(&mut draft, direction);
            }
            if !draft.fields.is_empty() {
                written.push((family, draft.name.clone()));
            }
            drafts.push(draft);
        }
    }
    drafts
}

/// How a pair of fields was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pairing {
    Meaning,
    Name,
    Label,
}

fn draft_pair<'a>(
    name: String,
    family: &Family,
    left: End<'a>,
    right: End<'a>,
    link_pair: &dyn Fn(ObjectKind) -> Option<String>,
) -> PairDraft<'a> {
    let candidates = pair_candidates(left.fields, right.fields);
    let mut draft = PairDraft {
        name,
        left,
        right,
        match_fields: Vec::new(),
        fields: Vec::new(),
        values: Vec::new(),
        left_out: Vec::new(),
        used: [BTreeSet::new(), BTreeSet::new()],
        creates: Vec::new(),
    };
    let systems = [left.account.system.as_str(), right.account.system.as_str()];
    // The pipeline decides which stages map, so it is judged first.
    let pipeline_pair = candidates.iter().find(|(l, r, _)| {
        left.fields[*l].meaning == Some(Meaning::Pipeline)
            && right.fields[*r].meaning == Some(Meaning::Pipeline)
    });
    let matched_pipelines = pipeline_pair
        .map(|(l, r, _)| values::match_options(&left.fields[*l].options, &right.fields[*r].options))
        .unwrap_or_default();
    for &(l, r, how) in &candidates {
        let (lf, rf) = (&left.fields[l], &right.fields[r]);
        let verdict = match (lf.meaning, rf.meaning) {
            (Some(Meaning::Owner), Some(Meaning::Owner)) => {
                values::owners_map(left.account, right.account)
            }
            (Some(Meaning::Related { object, .. }), Some(Meaning::Related { .. })) => {
                values::link_map(link_pair(object))
            }
            (Some(Meaning::Pipeline), Some(Meaning::Pipeline)) => {
                values::pipelines_map(lf, rf, &matched_pipelines, systems)
            }
            (Some(Meaning::Stage), Some(Meaning::Stage)) => values::stages_map(
                lf,
                rf,
                [left.fields, right.fields],
                &matched_pipelines,
                systems,
            ),
            _ => values::convert(lf, rf, systems),
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

/// Maps every custom field of a side the pair reads from that the side it
/// writes to lacks, under the name it will be created with there
/// (`schema = "create"`); option fields translate by label where either
/// side's records hold labels.
fn map_to_create(draft: &mut PairDraft, direction: Direction) {
    for (target, side) in [(1, Side::Right), (0, Side::Left)] {
        if !direction.writes(side) {
            continue;
        }
        let source = 1 - target;
        let ends = [draft.left, draft.right];
        let (from, to) = (ends[source], ends[target]);
        // Where no field can be created (Pipedrive notes), the source's
        // custom fields stay listed as not mapped.
        if !to.account.kind.profile().takes_new_fields(to.object) {
            continue;
        }
        for (n, field) in from.fields.iter().enumerate() {
            let copyable = field.is_custom
                && !field.read_only
                && !matches!(field.kind, FieldType::Relation(_));
            if !copyable || draft.used[source].contains(&n) {
                continue;
            }
            let name = created_name(from.account.kind, to.account.kind, field);
            let taken = to
                .fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(&name) || f.label.eq_ignore_ascii_case(&name));
            let (left, right) = if source == 0 {
                (field.name.clone(), name.clone())
            } else {
                (name.clone(), field.name.clone())
            };
            let mapped = draft
                .fields
                .iter()
                .any(|(l, r, _)| *l == left || *r == right);
            if taken || mapped {
                continue;
            }
            let options = if field.options.is_empty() {
                String::new()
            } else {
                let n = field.options.len();
                format!(", {n} option{}", if n == 1 { "" } else { "s" })
            };
            draft.creates.push((
                to.endpoint(),
                format!("{} ({}{options})", quote(&name), kind_name(field.kind)),
            ));
            let by_label = [from.account.kind, to.account.kind]
                .iter()
                .any(|k| k.profile().options_by_label);
            if !field.options.is_empty() && by_label {
                draft.values.push((
                    left.clone(),
                    ValueMapDraft::Named("by-label".into(), Vec::new()),
                ));
            }
            draft.fields.push((
                left,
                right,
                format!("{} (created on {})", clean(&field.label), to.account.system),
            ));
            draft.used[source].insert(n);
        }
    }
}

/// The name a copy of `field` gets on a `to` account: a HubSpot property
/// name (lower-case letters, digits and underscores, starting with a
/// letter, not `hs_`) from the source's name, or from its label where the
/// source names fields by label; a Pipedrive field goes by its label.
fn created_name(from: SystemKind, to: SystemKind, field: &FieldDescription) -> String {
    if to.profile().options_by_label {
        return field.label.clone();
    }
    let basis = if from.profile().options_by_label {
        &field.label
    } else {
        &field.name
    };
    let mut name: String = basis
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.starts_with("hs_") {
        name = format!("crm_{name}");
    }
    name
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::FieldType;
    use crate::init::fixtures::{account, choice, field, meaning};

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
    fn read_only_fields_never_pair_labels_pair_trimmed_and_relations_once_by_meaning() {
        let related = |name: &str, object: ObjectKind, many: bool| {
            meaning(
                Meaning::Related { object, many },
                field(name, name, FieldType::Relation(object)),
            )
        };
        let left = [
            related("contacts", ObjectKind::Contacts, true),
            related("contact", ObjectKind::Contacts, false),
            related("ref", ObjectKind::Deals, false),
            FieldDescription {
                read_only: true,
                ..field("createdate", "Created", FieldType::Date)
            },
            field("jobtitle", " Job Title ", FieldType::Text),
        ];
        let right = [
            related("person_id", ObjectKind::Persons, false),
            related("participants", ObjectKind::Persons, true),
            related("ref", ObjectKind::Persons, false),
            field("createdate", "Created", FieldType::Date),
            field("Job title", "job title", FieldType::Text),
        ];
        let pairs: Vec<(usize, usize, Pairing)> = pair_candidates(&left, &right);
        // `contacts` pairs with `participants` (both hold several people);
        // `contact` would pair with `person_id` but the relation to people
        // is paired already; `ref` points at deals on one side and people
        // on the other, and relations never pair by name; `createdate` is
        // read-only on the left.
        assert_eq!(pairs, [(0, 1, Pairing::Meaning), (4, 4, Pairing::Label)]);
    }

    #[test]
    fn a_pair_with_no_field_in_common_is_drafted_empty_and_no_later_pair_links_to_it() {
        let hs = account("hs", SystemKind::Hubspot);
        let mut pd = account("pd", SystemKind::Pipedrive);
        pd.objects[0].1 = vec![field("shoe_size", "Shoe size", FieldType::Number)];
        let accounts = [hs, pd];
        let drafts = draft(&accounts, Direction::Both, SchemaPolicy::Existing);
        let summary: Vec<(&str, String, String, usize)> = drafts
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.left.endpoint(),
                    d.right.endpoint(),
                    d.fields.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "companies",
                    "hs.companies".into(),
                    "pd.organizations".into(),
                    0
                ),
                ("contacts", "hs.contacts".into(), "pd.persons".into(), 0),
                ("deals", "hs.deals".into(), "pd.deals".into(), 1),
                ("notes", "hs.notes".into(), "pd.notes".into(), 0),
            ]
        );
        let deals = &drafts[2];
        assert_eq!(
            deals.fields,
            [(
                "dealname".to_string(),
                "title".to_string(),
                "Name (same meaning)".to_string()
            )]
        );
        assert_eq!(
            deals.left_out,
            [
                "contact (hs) = \"person_id\" (pd): no earlier pair syncs the records it points to",
                "amount (hs) = \"amount\" (pd): number and text values cannot convert",
            ]
        );
        assert_eq!(deals.used, [BTreeSet::from([0]), BTreeSet::from([0])]);
        assert!(deals.match_fields.is_empty() && deals.values.is_empty());
    }

    #[test]
    fn the_objects_read_are_those_a_family_holds() {
        for kind in [SystemKind::Hubspot, SystemKind::Pipedrive] {
            let objects = objects_to_read(kind);
            assert!(!objects.is_empty());
            assert!(
                objects.iter().all(|o| family_of(*o).is_some()),
                "{objects:?}"
            );
        }
        assert!(objects_to_read(SystemKind::Hubspot).contains(&ObjectKind::Companies));
        assert!(objects_to_read(SystemKind::Pipedrive).contains(&ObjectKind::Organizations));
    }

    #[test]
    fn schema_create_maps_custom_fields_under_names_the_target_takes_and_by_label_into_pipedrive() {
        let mut hs = account("hs", SystemKind::Hubspot);
        let custom = |f: FieldDescription| FieldDescription {
            is_custom: true,
            ..f
        };
        let contacts = &mut hs.objects[0].1;
        contacts.push(custom(choice("tier", "Tier", &[("gold", "Gold")])));
        contacts.push(custom(field("seats", "Seats", FieldType::Number)));
        contacts.push(field("hs_score", "Score", FieldType::Number));
        let mut pd = account("pd", SystemKind::Pipedrive);
        // A field of another kind under one of the names: not mapped again.
        pd.objects[0]
            .1
            .push(custom(field("Seats", "Seats", FieldType::Text)));
        pd.objects[0].1.push(custom(field(
            "Sales Region",
            "Sales Region",
            FieldType::Text,
        )));
        let accounts = [hs, pd];
        let drafts = draft(&accounts, Direction::LeftToRight, SchemaPolicy::Create);
        let names: Vec<&str> = drafts.iter().map(|d| d.name.as_str()).collect();
        let people = drafts
            .iter()
            .find(|d| d.left.object == ObjectKind::Contacts)
            .unwrap_or_else(|| panic!("no contacts pair: {names:?}"));
        let fields: Vec<(&str, &str)> = people
            .fields
            .iter()
            .map(|(l, r, _)| (l.as_str(), r.as_str()))
            .collect();
        assert!(fields.contains(&("tier", "Tier")), "{fields:?}");
        assert!(!fields.iter().any(|(l, _)| *l == "hs_score"), "not custom");
        assert_eq!(
            people.creates,
            [(
                "pd.persons".to_string(),
                "\"Tier\" (choice, 1 option)".to_string()
            )]
        );
        assert!(people.values.iter().any(
            |(f, m)| f == "tier" && matches!(m, ValueMapDraft::Named(n, _) if n == "by-label")
        ));
        // Nothing is created on the side a one-way pair only reads.
        let back = draft(&accounts, Direction::RightToLeft, SchemaPolicy::Create);
        let creates: Vec<&(String, String)> = back.iter().flat_map(|d| &d.creates).collect();
        assert_eq!(
            creates,
            [&(
                "hs.contacts".to_string(),
                "\"sales_region\" (text)".to_string()
            )],
            "seats is taken on hs"
        );
        assert_eq!(
            created_name(
                SystemKind::Pipedrive,
                SystemKind::Hubspot,
                &field("x", "Renewal Date", FieldType::Date)
            ),
            "renewal_date"
        );
        assert_eq!(
            created_name(
                SystemKind::Hubspot,
                SystemKind::Hubspot,
                &field("hs_x", "X", FieldType::Date)
            ),
            "crm_hs_x"
        );
    }
}
