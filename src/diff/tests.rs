//! Unit tests of the three-way merge: in-step records, one-sided edits,
//! conflicts by policy, directions, creates and their required values,
//! uncleared fields, merges and records found through the create journal.

use super::*;
use crate::config::{Config, Direction};
use crate::mapping::OwnerDirectory;
use crate::matcher::pair_records;
use crate::model::{Fields, set_field};
use crate::plan::{Action, Plan, Settle};
use crate::state::{Base, PairState};
use std::path::Path;

fn pair(extra: &str) -> PairConfig {
    pair_of(&format!(
        r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
{extra}
[pairs.fields]
email = "email"
firstname = "firstname"
phone = "phone"
"#
    ))
}

/// The one pair of `pairs` between two HubSpot accounts `us` and `eu`.
fn pair_of(pairs: &str) -> PairConfig {
    let text = format!(
        r#"
[systems.us]
kind = "hubspot"
token_env = "A"
[systems.eu]
kind = "hubspot"
token_env = "B"
{pairs}"#
    );
    Config::from_str(&text, Path::new("t.toml"))
        .unwrap()
        .pairs
        .remove(0)
}

fn rec(id: &str, updated_ms: i64, fields: &[(&str, &str)]) -> Record {
    let mut f = Fields::new();
    for (k, v) in fields {
        set_field(&mut f, k, v);
    }
    Record::new(id, f, updated_ms)
}

fn base(left: &Record, right: &Record) -> Base {
    let all = |r: &Record| {
        ["email", "firstname", "phone"]
            .iter()
            .map(|f| (f.to_string(), r.get(f).to_string()))
            .collect()
    };
    Base {
        left: all(left),
        right: all(right),
    }
}

fn plan(pair: &PairConfig, left: &[Record], right: &[Record], state: &PairState) -> PairPlan {
    plan_with_rules(pair, left, right, state, WriteRules::default())
}

fn plan_with_rules(
    pair: &PairConfig,
    left: &[Record],
    right: &[Record],
    state: &PairState,
    right_rules: WriteRules,
) -> PairPlan {
    let owners = OwnerDirectory::default();
    let links = crate::state::State::default();
    let labels = crate::model::Labels::new();
    let translator = Translator::new(pair, &owners, &links, Sided::new(&labels, &labels));
    let pairing = pair_records(pair, left, right, state);
    merge_pair(
        pair,
        &pairing,
        &translator,
        &Sided::new(WriteRules::default(), right_rules),
    )
}

fn group(fields: &[&str], reason: &str) -> crate::vendor::Required {
    crate::vendor::Required {
        fields: fields.iter().map(|f| f.to_string()).collect(),
        reason: reason.into(),
    }
}

fn linked(l: &Record, r: &Record, b: Base) -> PairState {
    let mut state = PairState::default();
    state.link(&l.id, &r.id).base = b;
    state
}

/// Ann, linked and in step: left 1 and right 9 with email, firstname
/// and phone, and the state holding them as the base.
fn linked_ann() -> (Record, Record, PairState) {
    let fields = [("email", "a@x.io"), ("firstname", "Ann"), ("phone", "1")];
    let (l, r) = (rec("1", 5, &fields), rec("9", 6, &fields));
    let state = linked(&l, &r, base(&l, &r));
    (l, r, state)
}

#[test]
fn in_step_records_plan_nothing() {
    let p = pair("");
    let l = rec("1", 5, &[("email", "a@x.io"), ("firstname", "Ann")]);
    let r = rec("9", 6, &[("email", "a@x.io"), ("firstname", "Ann")]);
    let out = plan(
        &p,
        std::slice::from_ref(&l),
        std::slice::from_ref(&r),
        &linked(&l, &r, base(&l, &r)),
    );
    assert!(out.items.is_empty(), "{out:#?}");
}

#[test]
fn one_sided_edits_flow_across_in_both_directions() {
    let p = pair("");
    let (_, _, state) = linked_ann();
    let l = rec(
        "1",
        7,
        &[("email", "a@x.io"), ("firstname", "Anne"), ("phone", "1")],
    );
    let r = rec(
        "9",
        8,
        &[("email", "a@x.io"), ("firstname", "Ann"), ("phone", "2")],
    );
    let out = plan(&p, &[l], &[r], &state);
    let updates: Vec<_> = out
        .items
        .iter()
        .map(|i| {
            (
                i.target(),
                i.changes()[0].field.as_str(),
                i.changes()[0].to.as_str(),
            )
        })
        .collect();
    assert_eq!(
        updates,
        [
            (Some(Side::Right), "firstname", "Anne"),
            (Some(Side::Left), "phone", "2")
        ]
    );
}

#[test]
fn conflicts_follow_the_policy() {
    let l0 = rec("1", 5, &[("email", "a@x.io"), ("phone", "1")]);
    let r0 = rec("9", 5, &[("email", "a@x.io"), ("phone", "1")]);
    let l = rec("1", 10, &[("email", "a@x.io"), ("phone", "L")]);
    let r = rec("9", 20, &[("email", "a@x.io"), ("phone", "R")]);
    for (policy, target, to) in [
        ("newest", Some(Side::Left), Some("R")),
        ("left", Some(Side::Right), Some("L")),
        ("right", Some(Side::Left), Some("R")),
        ("skip", None, None),
    ] {
        let p = pair(&format!("conflict = \"{policy}\""));
        let out = plan(
            &p,
            std::slice::from_ref(&l),
            std::slice::from_ref(&r),
            &linked(&l0, &r0, base(&l0, &r0)),
        );
        assert_eq!(out.items.len(), 1, "{policy}: {out:#?}");
        let item = &out.items[0];
        assert_eq!(item.target(), target, "{policy}");
        assert_eq!(
            item.changes().first().map(|c| c.to.as_str()),
            to,
            "{policy}"
        );
        assert_eq!(
            item.conflicts().len(),
            1,
            "{policy}: the plan shows the conflict"
        );
        if policy == "skip" {
            assert_eq!(item.action(), Action::Conflict);
            assert!(
                item.settle().is_empty(),
                "skip leaves the base alone so it is reported again"
            );
        }
    }
}

#[test]
fn a_one_way_pair_never_writes_the_source() {
    let mut p = pair("direction = \"left-to-right\"\nconflict = \"right\"");
    assert_eq!(p.direction, Direction::LeftToRight);
    let l0 = rec(
        "1",
        5,
        &[("email", "a@x.io"), ("phone", "1"), ("firstname", "A")],
    );
    let r0 = l0.clone();
    let l = rec(
        "1",
        10,
        &[("email", "a@x.io"), ("phone", "L"), ("firstname", "A")],
    );
    let r = rec(
        "9",
        20,
        &[("email", "a@x.io"), ("phone", "R"), ("firstname", "B")],
    );
    let mut r0 = r0;
    r0.id = "9".into();
    let out = plan(
        &p,
        std::slice::from_ref(&l),
        std::slice::from_ref(&r),
        &linked(&l0, &r0, base(&l0, &r0)),
    );
    assert!(
        out.items.iter().all(|i| i.target() != Some(Side::Left)),
        "{out:#?}"
    );
    let conflict = out
        .items
        .iter()
        .find(|i| i.action() == Action::Conflict)
        .unwrap();
    assert!(!conflict.conflicts()[0].applied);
    p.direction = Direction::RightToLeft;
    let out = plan(&p, &[l], &[r], &PairState::default());
    assert!(out.items.iter().all(|i| i.target() != Some(Side::Right)));
}

#[test]
fn companies_paired_by_domain_keep_each_spelling_of_it() {
    let p = pair_of(
        r#"
[[pairs]]
name = "companies"
left = "us.companies"
right = "eu.companies"
match = "domain"
[pairs.fields]
name = "name"
domain = "domain"
"#,
    );
    let l = rec("1", 5, &[("name", "Acme"), ("domain", "acme.io")]);
    let r = rec(
        "9",
        6,
        &[("name", "Acme"), ("domain", "https://www.Acme.io/")],
    );
    let out = plan(&p, &[l], &[r], &PairState::default());
    let actions: Vec<_> = out.items.iter().map(|i| i.action()).collect();
    assert_eq!(actions, [Action::Link], "no update, no conflict");
    assert_eq!(out.items[0].settle().len(), 2, "name and domain settled");
}

#[test]
fn new_matches_link_fill_blanks_and_creates_carry_every_field() {
    let p = pair("");
    let l = rec("1", 5, &[("email", "A@x.io"), ("firstname", "Ann")]);
    let r = rec("9", 6, &[("email", "a@x.io"), ("phone", "7")]);
    let new = rec("2", 5, &[("email", "new@x.io"), ("firstname", "Neo")]);
    let out = plan(&p, &[l, new], &[r], &PairState::default());
    let actions: Vec<_> = out.items.iter().map(|i| (i.action(), i.target())).collect();
    assert_eq!(
        actions,
        [
            (Action::Link, None),
            (Action::Update, Some(Side::Right)),
            (Action::Update, Some(Side::Left)),
            (Action::Create, Some(Side::Right))
        ]
    );
    assert_eq!(
        out.items[0].settle().len(),
        1,
        "emails equal but for case are settled"
    );
    let create = &out.items[3];
    assert_eq!(
        create
            .changes()
            .iter()
            .map(|c| (c.field.as_str(), c.to.as_str()))
            .collect::<Vec<_>>(),
        [("email", "new@x.io"), ("firstname", "Neo"), ("phone", "")]
    );
    let text = Plan::new("x", vec![out]).to_string();
    assert!(text.contains("+ eu     create    new@x.io"), "{text}");
    assert!(text.contains("firstname: \"\" -> \"Ann\""), "{text}");
    assert!(
        text.contains("Plan: 1 to create, 2 to update, 0 to associate, 0 to delete, 1 to link"),
        "{text}"
    );
}

#[test]
fn a_create_without_a_required_value_is_invalid_and_names_the_reason() {
    let p = pair("");
    let rules = WriteRules {
        required_on_create: vec![group(&["firstname"], "names are required")],
        uncleared: Vec::new(),
        ..WriteRules::default()
    };
    let nameless = rec("1", 5, &[("email", "a@x.io")]);
    let named = rec("2", 5, &[("email", "b@x.io"), ("firstname", "Bo")]);
    let out = plan_with_rules(&p, &[nameless, named], &[], &PairState::default(), rules);
    let actions: Vec<_> = out.items.iter().map(|i| (i.action(), i.target())).collect();
    assert_eq!(
        actions,
        [(Action::Invalid, None), (Action::Create, Some(Side::Right))]
    );
    assert!(out.items[0].changes().is_empty(), "nothing is sent");
    assert_eq!(
        out.items[0].problems(),
        ["cannot be created on eu.contacts with `firstname` empty: names are required"]
    );
}

#[test]
fn clearing_a_field_the_target_cannot_clear_is_held_as_invalid_and_the_rest_is_written() {
    let p = pair("");
    let rules = WriteRules {
        required_on_create: Vec::new(),
        uncleared: vec![
            group(&["phone"], "phones stay"),
            // A group clears only when every field of it ends up empty.
            group(&["firstname", "email"], "one of them stays"),
        ],
        ..WriteRules::default()
    };
    let (_, r0, state) = linked_ann();
    let l = rec("1", 7, &[("email", "a@x.io")]);
    let out = plan_with_rules(&p, &[l], std::slice::from_ref(&r0), &state, rules);
    let update = out
        .items
        .iter()
        .find(|i| i.action() == Action::Update)
        .expect("the firstname is cleared");
    assert_eq!(
        update
            .changes()
            .iter()
            .map(|c| (c.field.as_str(), c.to.as_str()))
            .collect::<Vec<_>>(),
        [("firstname", "")]
    );
    let invalid = out
        .items
        .iter()
        .find(|i| i.action() == Action::Invalid)
        .expect("the phone is held");
    assert_eq!(
        invalid.problems(),
        ["eu.contacts `phone` is not cleared: phones stay"]
    );
    assert!(invalid.changes().is_empty() && invalid.target().is_none());
}
#[test]
fn merges_follow_report_or_propagate_and_are_never_deletes() {
    for (extra, propagate) in [
        ("deletes = \"propagate\"", false),
        ("deletes = \"propagate\"\nmerges = \"propagate\"", true),
        (
            "direction = \"right-to-left\"\nmerges = \"propagate\"",
            false,
        ),
    ] {
        let p = pair(extra);
        let ann = [("email", "a@x.io"), ("firstname", "Ann")];
        let bo = [("email", "b@x.io"), ("firstname", "Bo")];
        let (p1, p2) = (rec("1", 5, &ann), rec("2", 5, &bo));
        let (e1, e2) = (rec("10", 5, &ann), rec("20", 5, &bo));
        let mut state = linked(&p1, &e1, base(&p1, &e1));
        state.link("2", "20").base = base(&p2, &e2);
        // 2 merged into 1 on the left: a new record 9, renamed since.
        let mut merged = rec("9", 7, &[("email", "a@x.io"), ("firstname", "Anne")]);
        merged.set_identity(crate::model::Identity {
            merged_from: vec!["1".into(), "2".into()],
            also: vec![("email".into(), "b@x.io".into())],
            ..Default::default()
        });
        let out = plan(&p, &[merged], &[e1, e2], &state);
        let actions: Vec<_> = out.items.iter().map(|i| (i.action(), i.target())).collect();
        let merge_target = propagate.then_some(Side::Right);
        if extra.contains("right-to-left") {
            assert_eq!(
                actions,
                [(Action::Merge, None), (Action::Merge, None)],
                "{extra}"
            );
            continue;
        }
        assert_eq!(
            actions,
            [
                (Action::Update, Some(Side::Right)),
                (Action::Merge, None),
                (Action::Merge, merge_target)
            ],
            "{extra}: {out:#?}"
        );
        assert_eq!(out.items[0].id(Side::Left), Some("9"));
        assert_eq!(
            out.items[0].changes()[0].to,
            "Anne",
            "the survivor's edit flows"
        );
    }
}
#[test]
fn an_unconfirmed_merge_is_followed_but_never_propagated_nor_a_delete() {
    let p = pair("deletes = \"propagate\"\nmerges = \"propagate\"");
    let ann = [("email", "a@x.io"), ("firstname", "Ann")];
    let bo = [("email", "b@x.io"), ("firstname", "Bo")];
    let (p1, p2) = (rec("1", 5, &ann), rec("2", 5, &bo));
    let (e1, e2) = (rec("10", 5, &ann), rec("20", 5, &bo));
    let mut state = linked(&p1, &e1, base(&p1, &e1));
    state.link("2", "20").base = base(&p2, &e2);
    // 2 is gone and 1 is taken for its survivor on inference alone.
    let mut survivor = p1.clone();
    let mut identity = crate::model::Identity::default();
    identity.add_merged("2", false);
    survivor.set_identity(identity);
    let out = plan(&p, &[survivor], &[e1, e2], &state);
    let actions: Vec<_> = out.items.iter().map(|i| (i.action(), i.target())).collect();
    assert_eq!(actions, [(Action::Merge, None)], "{out:#?}");
    let Item::Merge(merge) = &out.items[0] else {
        unreachable!()
    };
    assert!(!merge.confirmed && merge.is_notice(), "{merge:?}");
}

#[test]
fn records_paired_by_a_secondary_email_keep_each_sides_primary() {
    let p = pair("");
    let l = rec("1", 5, &[("email", "p1@x.io"), ("firstname", "Ann")]);
    let mut r = rec("9", 6, &[("email", "work@corp.io"), ("firstname", "Ann")]);
    r.set_identity(crate::model::Identity {
        merged_from: Vec::new(),
        also: vec![("email".into(), "P1@x.io".into())],
        ..Default::default()
    });
    let out = plan(&p, &[l], &[r], &PairState::default());
    let actions: Vec<_> = out.items.iter().map(|i| i.action()).collect();
    assert_eq!(actions, [Action::Link], "no email is overwritten: {out:#?}");
    assert_eq!(out.items[0].settle().len(), 3, "email, firstname and phone");
}

/// Contacts with owners by email, both ways: us owner 10 is sam, eu
/// users 77 (sam) and 1 (the admin, who owns what is created without
/// an owner, and has no us owner).
fn owned_contacts() -> (PairConfig, OwnerDirectory) {
    let pair = pair_of(
        r#"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"
hubspot_owner_id = "hubspot_owner_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
"#,
    );
    let owner = |id: &str, email: &str| crate::model::Owner {
        id: id.into(),
        email: email.into(),
    };
    let owners = OwnerDirectory::new(
        &[owner("10", "sam@x.io")],
        &[owner("77", "sam@x.io"), owner("1", "admin@x.io")],
    );
    (pair, owners)
}

fn plan_owned(left: &[Record], right: &[Record], state: &PairState) -> PairPlan {
    let (pair, owners) = owned_contacts();
    let links = crate::state::State::default();
    let labels = crate::model::Labels::new();
    let translator = Translator::new(&pair, &owners, &links, Sided::new(&labels, &labels));
    let pairing = pair_records(&pair, left, right, state);
    let rules = Sided::new(WriteRules::default(), WriteRules::default());
    merge_pair(&pair, &pairing, &translator, &rules)
}

#[test]
fn a_create_found_through_the_journal_is_settled_like_an_answered_one() {
    // Ann was created on eu without an owner, and the server gave her
    // its default one (the admin, unknown to us); the answer was lost.
    // Bo was created with sam, and his answer was lost too.
    let ann = rec("5", 1, &[("email", "ann@x.io"), ("firstname", "Ann")]);
    let bo = rec(
        "6",
        1,
        &[
            ("email", "bo@x.io"),
            ("firstname", "Bo"),
            ("hubspot_owner_id", "10"),
        ],
    );
    let made_ann = rec(
        "900",
        2,
        &[
            ("email", "ann@x.io"),
            ("firstname", "Ann"),
            ("hubspot_owner_id", "1"),
        ],
    );
    let made_bo = rec(
        "901",
        2,
        &[
            ("email", "BO@x.io"),
            ("firstname", "Bo"),
            ("hubspot_owner_id", "77"),
        ],
    );
    let mut state = PairState::default();
    for (source, sent) in [
        ("5", vec![("email", "ann@x.io"), ("firstname", "Ann")]),
        (
            "6",
            vec![
                ("email", "bo@x.io"),
                ("firstname", "Bo"),
                ("hubspot_owner_id", "77"),
            ],
        ),
    ] {
        state.add_pending(crate::state::PendingCreate {
            target: Side::Right,
            source: source.into(),
            fields: sent
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
        });
    }
    let (left, right) = ([ann, bo], [made_ann, made_bo]);
    let out = plan_owned(&left, &right, &state);
    let actions: Vec<_> = out.items.iter().map(|i| i.action()).collect();
    assert_eq!(actions, [Action::Link, Action::Link], "{out:#?}");
    for item in &out.items {
        assert_eq!(item.settle().len(), 3, "every field settled: {item:#?}");
    }
    // Applied, the links hold every value as it is: nothing to do again.
    for item in &out.items {
        if let Item::Link(agreed) = item {
            let link = state.link(&agreed.ids.left, &agreed.ids.right);
            for s in &agreed.settle {
                link.base.left.insert(s.left_field.clone(), s.left.clone());
                link.base
                    .right
                    .insert(s.right_field.clone(), s.right.clone());
            }
        }
    }
    assert!(state.pending().is_empty());
    let again = plan_owned(&left, &right, &state);
    assert!(again.items.is_empty(), "{again:#?}");
}

/// A notes pair between the two HubSpot accounts, attached through a
/// contacts pair; `hs_timestamp` left unmapped.
fn notes_pair() -> PairConfig {
    let text = r#"
[systems.us]
kind = "hubspot"
token_env = "A"
[systems.eu]
kind = "hubspot"
token_env = "B"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
[pairs.fields]
email = "email"
[[pairs]]
name = "notes"
left = "us.notes"
right = "eu.notes"
[pairs.fields]
hs_note_body = "hs_note_body"
contact = "contact"
[pairs.values]
contact = "link:contacts"
"#;
    Config::from_str(text, Path::new("t.toml"))
        .unwrap()
        .pairs
        .remove(1)
}

fn plan_notes(notes: &[Record], links: &crate::state::State) -> PairPlan {
    let pair = notes_pair();
    let owners = OwnerDirectory::default();
    let labels = crate::model::Labels::new();
    let translator = Translator::new(&pair, &owners, links, Sided::new(&labels, &labels));
    let state = PairState::default();
    let pairing = pair_records(&pair, notes, &[], &state);
    let rules = Sided::from_fn(|_| {
        crate::vendor::SystemKind::Hubspot.write_rules(crate::model::ObjectKind::Notes)
    });
    merge_pair(&pair, &pairing, &translator, &rules)
}

#[test]
fn a_note_waits_for_its_records_partner_and_is_created_with_the_source_time_when_unmapped() {
    let note = rec(
        "7",
        5,
        &[
            ("hs_note_body", "<p>Called <b>Ann</b></p>"),
            ("contact", "5"),
            ("hs_timestamp", "2026-11-02T09:30:00Z"),
        ],
    );
    let unattached = rec("8", 5, &[("hs_note_body", "<p>On a ticket</p>")]);
    let waiting = plan_notes(&[note.clone(), unattached], &crate::state::State::default());
    let shown: Vec<(Action, &str)> = waiting
        .items
        .iter()
        .map(|i| (i.action(), i.label()))
        .collect();
    assert_eq!(
        shown,
        [
            (Action::Waiting, "Called Ann"),
            (Action::Waiting, "On a ticket")
        ]
    );
    assert!(
        waiting.items[0].problems()[0].contains("is not synced by pair `contacts` yet"),
        "{:?}",
        waiting.items[0].problems()
    );
    assert!(!waiting.items[0].is_change(), "waiting is no drift");

    let mut links = crate::state::State::default();
    links.pair_mut("contacts").link("5", "50");
    let created = plan_notes(&[note], &links);
    let Item::Create(create) = &created.items[0] else {
        panic!("a create: {:?}", created.items);
    };
    let written: Vec<(&str, &str)> = create
        .changes
        .iter()
        .map(|c| (c.field.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(
        written,
        [
            ("contact", "50"),
            ("hs_note_body", "<p>Called <b>Ann</b></p>"),
            ("hs_timestamp", "2026-11-02T09:30:00Z"),
        ]
    );
}

/// A notes pair between two HubSpot accounts whose notes hang on contacts
/// and deals, both through `link:` pairs.
fn attached_notes_pair() -> PairConfig {
    let text = r#"
[systems.us]
kind = "hubspot"
token_env = "A"
[systems.eu]
kind = "hubspot"
token_env = "B"
[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
[pairs.fields]
email = "email"
[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
[pairs.fields]
dealname = "dealname"
[[pairs]]
name = "notes"
left = "us.notes"
right = "eu.notes"
[pairs.fields]
hs_note_body = "hs_note_body"
contact = "contact"
deal = "deal"
[pairs.values]
contact = "link:contacts"
deal = "link:deals"
"#;
    Config::from_str(text, Path::new("t.toml"))
        .unwrap()
        .pairs
        .remove(2)
}

/// The plan of note `l` against its linked partner `r`, in step at `was`
/// (the left note as it was synced), the right side written under `rules`;
/// contacts 5 ↔ 50 and 8 ↔ 80 and deal 6 ↔ 60 are linked.
fn plan_linked_note(l: &Record, r: &Record, was: &Base, rules: WriteRules) -> PairPlan {
    let pair = attached_notes_pair();
    let mut links = crate::state::State::default();
    links.pair_mut("contacts").link("5", "50");
    links.pair_mut("contacts").link("8", "80");
    links.pair_mut("deals").link("6", "60");
    let owners = OwnerDirectory::default();
    let labels = crate::model::Labels::new();
    let translator = Translator::new(&pair, &owners, &links, Sided::new(&labels, &labels));
    let mut state = PairState::default();
    state.link(&l.id, &r.id).base = was.clone();
    let pairing = pair_records(
        &pair,
        std::slice::from_ref(l),
        std::slice::from_ref(r),
        &state,
    );
    let hubspot = crate::vendor::SystemKind::Hubspot.write_rules(crate::model::ObjectKind::Notes);
    merge_pair(&pair, &pairing, &translator, &Sided::new(hubspot, rules))
}

/// The base of note 7 on contact 5 and deal 6, synced to note 70 on their
/// partners 50 and 60.
fn synced_note() -> Base {
    let values = |ids: [&str; 2]| {
        [
            ("hs_note_body", "<p>Call</p>"),
            ("contact", ids[0]),
            ("deal", ids[1]),
        ]
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect()
    };
    Base {
        left: values(["5", "6"]),
        right: values(["50", "60"]),
    }
}

#[test]
fn a_relation_the_target_cannot_clear_is_kept_once_and_a_replacement_still_moves() {
    // Like Pipedrive's notes: no relation of the right side can be cleared.
    let no_detach = || WriteRules {
        uncleared: vec![
            group(&["contact"], "notes stay on their records"),
            group(&["deal"], "notes stay on their records"),
        ],
        ..WriteRules::default()
    };
    let was = synced_note();
    let right = rec(
        "70",
        6,
        &[
            ("hs_note_body", "<p>Call</p>"),
            ("contact", "50"),
            ("deal", "60"),
        ],
    );
    // The contact is taken off the left note, and its body edited.
    let left = rec(
        "7",
        9,
        &[("hs_note_body", "<p>Call back</p>"), ("deal", "6")],
    );
    let out = plan_linked_note(&left, &right, &was, no_detach());
    let actions: Vec<(Action, Option<Side>)> =
        out.items.iter().map(|i| (i.action(), i.target())).collect();
    assert_eq!(
        actions,
        [(Action::Update, Some(Side::Right)), (Action::Kept, None)],
        "the body is written, the contact kept, nothing invalid: {out:#?}"
    );
    assert_eq!(out.items[0].changes()[0].field, "hs_note_body");
    let kept = &out.items[1];
    assert_eq!(
        kept.problems(),
        ["eu.notes keeps `contact` 50: notes stay on their records"]
    );
    assert_eq!(
        kept.settle(),
        [Settle {
            left_field: "contact".into(),
            left: String::new(),
            right_field: "contact".into(),
            right: "50".into(),
        }]
    );
    assert!(kept.is_change() && !kept.writes(), "state only");
    let text = Plan::new("x", vec![out.clone()]).to_string();
    assert!(
        text.contains("  = eu     kept      Call back (70): eu.notes keeps `contact` 50: notes stay on their records"),
        "{text}"
    );
    assert!(text.contains(", 1 kept."), "{text}");

    // Once applied, the base holds both sides as they are: nothing again.
    let mut settled = was.clone();
    for s in kept.settle().iter().chain(
        out.items[0]
            .changes()
            .iter()
            .map(|c| Settle {
                left_field: c.source_field.clone(),
                left: c.source_value.clone(),
                right_field: c.field.clone(),
                right: c.to.clone(),
            })
            .collect::<Vec<_>>()
            .iter(),
    ) {
        settled.left.insert(s.left_field.clone(), s.left.clone());
        settled.right.insert(s.right_field.clone(), s.right.clone());
    }
    let written = rec(
        "70",
        10,
        &[
            ("hs_note_body", "<p>Call back</p>"),
            ("contact", "50"),
            ("deal", "60"),
        ],
    );
    let again = plan_linked_note(&left, &written, &settled, no_detach());
    assert!(again.items.is_empty(), "{again:#?}");

    // A note moved to another contact is a set, not a clear: it moves.
    let moved = rec(
        "7",
        9,
        &[
            ("hs_note_body", "<p>Call</p>"),
            ("contact", "8"),
            ("deal", "6"),
        ],
    );
    let out = plan_linked_note(&moved, &right, &was, no_detach());
    assert_eq!(out.items.len(), 1, "{out:#?}");
    assert_eq!(out.items[0].action(), Action::Associate);
    assert_eq!(
        (
            out.items[0].changes()[0].field.as_str(),
            out.items[0].changes()[0].to.as_str()
        ),
        ("contact", "80")
    );
}

#[test]
fn a_hubspot_note_loses_an_association_but_never_its_last() {
    let hubspot =
        || crate::vendor::SystemKind::Hubspot.write_rules(crate::model::ObjectKind::Notes);
    let was = synced_note();
    let right = rec(
        "70",
        6,
        &[
            ("hs_note_body", "<p>Call</p>"),
            ("contact", "50"),
            ("deal", "60"),
        ],
    );
    // The contact goes, the deal stays: the association is removed.
    let on_deal = rec("7", 9, &[("hs_note_body", "<p>Call</p>"), ("deal", "6")]);
    let out = plan_linked_note(&on_deal, &right, &was, hubspot());
    let actions: Vec<Action> = out.items.iter().map(Item::action).collect();
    assert_eq!(actions, [Action::Associate], "{out:#?}");
    assert_eq!(out.items[0].changes()[0].to, "");

    // Both go: the note keeps them rather than hang on nothing.
    let bare = rec("7", 9, &[("hs_note_body", "<p>Call</p>")]);
    let out = plan_linked_note(&bare, &right, &was, hubspot());
    let actions: Vec<Action> = out.items.iter().map(Item::action).collect();
    assert_eq!(actions, [Action::Kept], "{out:#?}");
    assert_eq!(
        out.items[0].problems(),
        [
            "eu.notes keeps `contact` 50: a synced note is never left without a record",
            "eu.notes keeps `deal` 60: a synced note is never left without a record",
        ]
    );
}
