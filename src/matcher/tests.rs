//! Unit tests of the matcher: links, match keys and duplicates, secondary
//! emails, merges followed, lost creates recovered, fallback keys.

use super::*;

pub(crate) fn contacts_pair() -> PairConfig {
    crate::config::test_pairs(
        r#"
[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"
"#,
    )
    .remove(0)
}

fn rec(id: &str, email: &str) -> Record {
    let mut fields = crate::model::Fields::new();
    crate::model::set_field(&mut fields, "email", email);
    Record::new(id, fields, 1)
}

fn company(id: &str, domain: &str, name: &str) -> Record {
    let mut fields = crate::model::Fields::new();
    crate::model::set_field(&mut fields, "domain", domain);
    crate::model::set_field(&mut fields, "name", name);
    Record::new(id, fields, 1)
}

#[test]
fn companies_pair_on_their_domain_where_both_have_one_else_on_their_name() {
    let pair = crate::config::test_pairs(
        r#"
[[pairs]]
name = "companies"
left = "a.companies"
right = "b.companies"
match = ["domain", "name"]
[pairs.fields]
domain = "domain"
name = "name"
"#,
    )
    .remove(0);
    let left = vec![
        company("1", "acme.io", "Acme"),
        company("2", "", "Globex"),
        company("3", "initech.com", "Initech"),
        company("4", "umbrella.com", "Umbrella"),
        company("5", "", "Hooli"),
        company("6", "", "Hooli"),
    ];
    let right = vec![
        company("10", "https://www.Acme.io/", "Acme Inc."),
        company("20", "globex.com", "globex "),
        company("30", "", "Initech"),
        company("40", "umbrella.de", "Umbrella"),
        company("50", "", "Hooli"),
    ];
    let state = PairState::default();
    let p = pair_records(&pair, &left, &right, &state);
    let mut matched: Vec<(&str, &str)> = p
        .matched
        .iter()
        .map(|(l, r)| (l.id.as_str(), r.id.as_str()))
        .collect();
    matched.sort();
    // By domain whatever the names; by name where one side has no
    // domain; never by name against two different domains.
    assert_eq!(
        matched,
        [("1", "10"), ("2", "20"), ("3", "30"), ("5", "50")]
    );
    let ids = |records: &[&Record]| records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&p.left_only), ["4", "6"]);
    assert_eq!(ids(&p.right_only), ["40"]);
    assert!(p.duplicates.is_empty(), "a shared name is not a duplicate");
}

#[test]
fn links_win_then_keys_pair_case_insensitively() {
    let pair = contacts_pair();
    let left = vec![
        rec("1", "a@x.io"),
        rec("2", " B@X.io "),
        rec("3", "c@x.io"),
        rec("4", ""),
    ];
    let right = vec![
        rec("10", "changed@x.io"),
        rec("20", "b@x.io"),
        rec("40", ""),
    ];
    let mut state = PairState::default();
    state.link("1", "10");
    let p = pair_records(&pair, &left, &right, &state);
    assert_eq!(
        p.linked.len(),
        1,
        "the link holds although the emails differ"
    );
    assert_eq!(
        p.matched
            .iter()
            .map(|(l, r)| (l.id.as_str(), r.id.as_str()))
            .collect::<Vec<_>>(),
        [("2", "20")]
    );
    assert_eq!(
        p.left_only
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["3", "4"]
    );
    assert_eq!(
        p.right_only
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["40"]
    );
    assert!(p.duplicates.is_empty() && p.gone.is_empty());
}

#[test]
fn duplicates_pair_the_oldest_and_report_the_rest() {
    let pair = contacts_pair();
    let left = vec![
        rec("9", "d@x.io"),
        rec("5", "D@x.io"),
        rec("7", "solo@x.io"),
        rec("8", "SOLO@x.io"),
    ];
    let right = vec![rec("30", "d@x.io")];
    let state = PairState::default();
    let p = pair_records(&pair, &left, &right, &state);
    assert_eq!(p.matched.len(), 1);
    assert_eq!(p.matched[0].0.id, "5", "lowest id is kept");
    assert_eq!(
        p.left_only
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["7"]
    );
    let extras: Vec<_> = p
        .duplicates
        .iter()
        .map(|d| (d.kept.as_str(), d.extra.clone()))
        .collect();
    assert_eq!(
        extras,
        [("5", vec!["9".to_string()]), ("7", vec!["8".to_string()])]
    );
}

#[test]
fn an_unlinked_record_with_a_linked_key_is_a_duplicate_not_a_create() {
    let pair = contacts_pair();
    let left = vec![rec("1", "a@x.io"), rec("2", "A@x.io")];
    let right = vec![rec("10", "a@x.io")];
    let mut state = PairState::default();
    state.link("1", "10");
    let p = pair_records(&pair, &left, &right, &state);
    assert!(p.left_only.is_empty());
    assert_eq!(p.duplicates.len(), 1);
    assert_eq!(p.duplicates[0].extra, ["2"]);
}

#[test]
fn a_lost_create_is_found_instead_of_made_again() {
    let pair = contacts_pair();
    let mut state = PairState::default();
    let sent = crate::model::Fields::from([("email".to_string(), "X@y.io".to_string())]);
    state.add_pending(crate::state::PendingCreate {
        target: Side::Right,
        source: "1".into(),
        fields: sent,
    });
    let left = vec![rec("1", "x@y.io")];
    let right = vec![rec("10", "other@y.io"), rec("11", "x@y.io")];
    let p = pair_records(&pair, &left, &right, &state);
    assert_eq!(p.recovered.len(), 1);
    assert_eq!(
        (p.recovered[0].0.id.as_str(), p.recovered[0].1.id.as_str()),
        ("1", "11")
    );
    assert!(p.left_only.is_empty());
}

#[test]
fn a_record_sharing_the_key_of_a_lost_create_is_its_duplicate_not_a_new_record() {
    // A run created 1 on the right (the oldest of two sharing an email,
    // 2 left alone) and was killed before the answer was recorded.
    let pair = contacts_pair();
    let mut state = PairState::default();
    let sent = crate::model::Fields::from([("email".to_string(), "x@y.io".to_string())]);
    state.add_pending(crate::state::PendingCreate {
        target: Side::Right,
        source: "1".into(),
        fields: sent,
    });
    let left = vec![rec("1", "x@y.io"), rec("2", "X@y.io ")];
    let right = vec![rec("11", "x@y.io")];
    let p = pair_records(&pair, &left, &right, &state);
    assert_eq!(p.recovered.len(), 1);
    assert!(
        p.left_only.is_empty(),
        "2 is not created: {:?}",
        p.left_only
    );
    assert_eq!(p.duplicates.len(), 1);
    assert_eq!(
        (p.duplicates[0].kept.as_str(), &p.duplicates[0].extra[..]),
        ("1", &["2".to_string()][..])
    );
}

#[test]
fn a_lost_person_is_found_though_pipedrive_split_its_name_its_own_way() {
    let text = r#"
[systems.hs]
kind = "hubspot"
token_env = "A"
[systems.pd]
kind = "pipedrive"
token_env = "B"
base_url = "https://acme.pipedrive.com"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
"#;
    let pair = crate::config::Config::from_str(text, std::path::Path::new("t.toml"))
        .unwrap()
        .pairs
        .remove(0);
    let person = |id: &str, first: &str, last: &str| {
        let mut fields = crate::model::Fields::new();
        crate::model::set_field(&mut fields, "email", "mary@x.io");
        crate::model::set_field(&mut fields, "first_name", first);
        crate::model::set_field(&mut fields, "last_name", last);
        Record::new(id, fields, 1)
    };
    let mut state = PairState::default();
    state.add_pending(crate::state::PendingCreate {
        target: Side::Right,
        source: "1".into(),
        fields: crate::model::Fields::from([
            ("email".to_string(), "mary@x.io".to_string()),
            ("first_name".to_string(), "Mary Ann".to_string()),
            ("last_name".to_string(), "Smith".to_string()),
        ]),
    });
    let left = vec![rec("1", "mary@x.io")];
    // Written as the name "Mary Ann Smith", split at its first space;
    // a Mary Ann Smythe is not the one.
    let right = vec![
        person("8", "Mary", "Ann Smythe"),
        person("9", "Mary", "Ann Smith"),
    ];
    let p = pair_records(&pair, &left, &right, &state);
    let found: Vec<_> = p
        .recovered
        .iter()
        .map(|(l, r, _)| (l.id.as_str(), r.id.as_str()))
        .collect();
    assert_eq!(found, [("1", "9")]);
}

#[test]
fn lost_creates_are_found_by_their_values_whatever_the_relations_say() {
    let pair = crate::config::test_pairs(
        r#"
[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
[pairs.fields]
email = "email"

[[pairs]]
name = "deals"
left = "a.deals"
right = "b.deals"
[pairs.fields]
dealname = "dealname"
amount = "amount"
contact = "contact"
[pairs.values]
contact = "link:contacts"
"#,
    )
    .remove(1);
    let deal = |id: &str, name: &str, amount: &str| {
        let mut fields = crate::model::Fields::new();
        crate::model::set_field(&mut fields, "dealname", name);
        crate::model::set_field(&mut fields, "amount", amount);
        Record::new(id, fields, 1)
    };
    let mut state = PairState::default();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for i in 0..500 {
        left.push(deal(&i.to_string(), &format!("Deal {i}"), &format!("{i}")));
        // Every other create was made (its amount normalised by the
        // server); its association was not, as a lost answer leaves it.
        if i % 2 == 0 {
            right.push(deal(
                &(10_000 + i).to_string(),
                &format!("Deal {i}"),
                &format!("{i}.0"),
            ));
        }
        let sent = crate::model::Fields::from([
            ("dealname".to_string(), format!("Deal {i}")),
            ("amount".to_string(), format!("{i}")),
            ("contact".to_string(), "77".to_string()),
        ]);
        state.add_pending(crate::state::PendingCreate {
            target: Side::Right,
            source: i.to_string(),
            fields: sent,
        });
    }
    let p = pair_records(&pair, &left, &right, &state);
    assert_eq!(p.recovered.len(), 250);
    assert!(
        p.recovered
            .iter()
            .all(|(l, r, _)| r.id == format!("{}", 10_000 + l.id.parse::<u32>().unwrap()))
    );
    assert_eq!(p.left_only.len(), 250, "the creates never made are made");
    assert!(p.right_only.is_empty());
}

#[test]
fn a_vanished_record_is_reported_gone() {
    let pair = contacts_pair();
    let mut state = PairState::default();
    state.link("1", "10");
    let left = vec![rec("1", "a@x.io")];
    let p = pair_records(&pair, &left, &[], &state);
    assert_eq!(p.gone.len(), 1);
    assert!(p.left_only.is_empty(), "a linked record is not re-created");
}
/// A record with an email, a first name, and what else it is known by.
fn known(id: &str, email: &str, first: &str, merged: &[&str], also: &[&str]) -> Record {
    let mut r = rec(id, email);
    crate::model::set_field(&mut r.fields, "firstname", first);
    r.set_identity(crate::model::Identity {
        merged_from: merged.iter().map(|m| m.to_string()).collect(),
        also: also
            .iter()
            .map(|a| ("email".to_string(), a.to_string()))
            .collect(),
        ..Default::default()
    });
    r
}

/// `record` as having gained `email` since the full pull before the last.
fn gaining(mut record: Record, email: &str) -> Record {
    let mut identity = record.identity.take().map(|i| *i).unwrap_or_default();
    identity.gained.push(("email".into(), email.into()));
    record.set_identity(identity);
    record
}

#[test]
fn a_vanished_records_email_is_a_confirmed_merge_only_where_the_survivor_took_it_since() {
    let TwoLinked {
        pair,
        p1,
        p2,
        state,
        ..
    } = two_linked();
    let left = vec![p1.clone(), p2.clone()];
    let link = state.links().find(|l| l.right == "20").unwrap().clone();
    // 10 held b@x.io already when 20 went: a delete leaves this too.
    let held_before = known("10", "a@x.io", "Ann", &[], &["b@x.io"]);
    // 10 took b@x.io since: the footprint of Pipedrive's merge.
    let took = gaining(held_before.clone(), "B@x.io");
    for (survivor, confirmed) in [(held_before, false), (took, true)] {
        let right = std::slice::from_ref(&survivor);
        let p = pair_records(&pair, &left, right, &state);
        assert_eq!(
            outcomes(&p),
            [row("2=20", "2=10", "second partner of 1 on right")]
        );
        assert_eq!(p.merges[0].confirmed, confirmed, "{survivor:?}");
        let found = merged_by_gained_value(&pair, Side::Right, right, &[(&link, "20")]);
        let expected: Vec<(String, String)> = if confirmed {
            vec![("20".into(), "10".into())]
        } else {
            Vec::new()
        };
        assert_eq!(found, expected);
    }
    // A gain of another value, or one two records hold, confirms nothing.
    let other = gaining(known("10", "a@x.io", "Ann", &[], &["b@x.io"]), "c@x.io");
    let p = pair_records(&pair, &left, std::slice::from_ref(&other), &state);
    assert!(!p.merges[0].confirmed);
    let two = [
        gaining(known("10", "a@x.io", "Ann", &[], &["b@x.io"]), "b@x.io"),
        known("30", "b@x.io", "Cy", &[], &[]),
    ];
    assert!(merged_by_gained_value(&pair, Side::Right, &two, &[(&link, "20")]).is_empty());
}

#[test]
fn a_merge_named_by_inference_only_is_unconfirmed_and_a_vendors_word_confirms_it() {
    let TwoLinked {
        pair,
        p1,
        p2,
        state,
        ..
    } = two_linked();
    let left = vec![p1, p2];
    // 20's related records moved to 10: inferred, not confirmed.
    let mut survivor = known("10", "a@x.io", "Ann", &[], &[]);
    let mut identity = crate::model::Identity::default();
    identity.add_merged("20", false);
    survivor.set_identity(identity.clone());
    let p = pair_records(&pair, &left, std::slice::from_ref(&survivor), &state);
    assert_eq!(
        outcomes(&p),
        [row("2=20", "2=10", "second partner of 1 on right")]
    );
    assert!(!p.merges[0].confirmed);
    assert!(
        p.gone.is_empty(),
        "an unconfirmed merge is no delete either"
    );
    // Inferring it again keeps it unconfirmed; the vendor's word confirms
    // it, and no inference takes that back.
    identity.add_merged("20", false);
    assert_eq!(identity.unconfirmed, ["20"]);
    identity.add_merged("20", true);
    identity.add_merged("20", false);
    assert!(identity.unconfirmed.is_empty());
    assert_eq!(identity.merged_from, ["20"]);
    survivor.set_identity(identity);
    let p = pair_records(&pair, &left, std::slice::from_ref(&survivor), &state);
    assert!(p.merges[0].confirmed);
}

/// Links left ↔ right with a base holding both records' email and name.
fn linked_as(state: &mut PairState, l: &Record, r: &Record) {
    let link = state.link(&l.id, &r.id);
    for (side, record) in [(Side::Left, l), (Side::Right, r)] {
        for f in ["email", "firstname"] {
            link.base[side].insert(f, record.get(f));
        }
    }
}

/// Ann (left 1 ↔ right 10) and Bo (2 ↔ 20), each linked with a base holding
/// its email and name: the accounts most merge cases start from.
struct TwoLinked {
    pair: PairConfig,
    p1: Record,
    p2: Record,
    pd1: Record,
    pd2: Record,
    state: PairState,
}

fn two_linked() -> TwoLinked {
    let pair = contacts_pair();
    let (p1, p2) = (
        known("1", "a@x.io", "Ann", &[], &[]),
        known("2", "b@x.io", "Bo", &[], &[]),
    );
    let (pd1, pd2) = (
        known("10", "a@x.io", "Ann", &[], &[]),
        known("20", "b@x.io", "Bo", &[], &[]),
    );
    let mut state = PairState::default();
    linked_as(&mut state, &p1, &pd1);
    linked_as(&mut state, &p2, &pd2);
    TwoLinked {
        pair,
        p1,
        p2,
        pd1,
        pd2,
        state,
    }
}

fn outcomes(p: &Pairing) -> Vec<(String, String, String)> {
    p.merges
        .iter()
        .map(|m| {
            let what = match m.outcome {
                MergeOutcome::Follows => "follows".to_string(),
                MergeOutcome::Spent => "spent".to_string(),
                MergeOutcome::SecondPartner { side, kept } => {
                    format!("second partner of {} on {side}", kept.id)
                }
            };
            (
                format!("{}={}", m.link.left, m.link.right),
                format!("{}={}", m.now.left.id, m.now.right.id),
                what,
            )
        })
        .collect()
}

fn row(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.to_string(), b.to_string(), c.to_string())
}

#[test]
fn a_merge_with_a_new_id_moves_the_winners_link_and_makes_the_other_partner_a_second_one() {
    let TwoLinked {
        pair,
        p1,
        p2,
        pd1,
        pd2,
        state,
        ..
    } = two_linked();
    // p2 merged into p1 (the primary): a new record 9 with p1's values
    // and p2's email as a secondary one, listed after both (whatever
    // order the vendor lists the merged ids in).
    let merged = known("9", "a@x.io", "Ann", &["2", "1"], &["b@x.io"]);
    for left in [
        vec![merged.clone()],
        vec![p1.clone(), p2.clone(), merged.clone()],
    ] {
        let right = vec![pd1.clone(), pd2.clone()];
        let p = pair_records(&pair, &left, &right, &state);
        assert_eq!(
            outcomes(&p),
            [
                row("1=10", "9=10", "follows"),
                row("2=20", "9=20", "second partner of 10 on left")
            ]
        );
        let linked: Vec<_> = p
            .linked
            .iter()
            .map(|(l, r, _)| (l.id.as_str(), r.id.as_str()))
            .collect();
        assert_eq!(
            linked,
            [("9", "10")],
            "the survivor's edits flow to its partner"
        );
        assert!(p.left_only.is_empty() && p.right_only.is_empty(), "{p:#?}");
        assert!(p.gone.is_empty() && p.duplicates.is_empty() && p.matched.is_empty());
    }
}

#[test]
fn a_vanished_record_whose_email_another_record_took_was_merged_into_it() {
    let TwoLinked {
        pair,
        p1,
        p2,
        pd1,
        state,
        ..
    } = two_linked();
    // Pipedrive: 20 merged into 10, which keeps its id and takes its emails.
    let survivor = known("10", "a@x.io", "Ann", &[], &["b@x.io"]);
    let left = vec![p1.clone(), p2.clone()];
    let p = pair_records(&pair, &left, std::slice::from_ref(&survivor), &state);
    assert_eq!(
        outcomes(&p),
        [row("2=20", "2=10", "second partner of 1 on right")]
    );
    assert!(
        p.gone.is_empty() && p.left_only.is_empty(),
        "p2 is neither deleted nor created"
    );
    // Once p2 is merged into p1 too (a new id 9), the old link is spent.
    let merged = known("9", "a@x.io", "Ann", &["1", "2"], &["b@x.io"]);
    let p = pair_records(
        &pair,
        std::slice::from_ref(&merged),
        std::slice::from_ref(&survivor),
        &state,
    );
    assert_eq!(
        outcomes(&p),
        [row("1=10", "9=10", "follows"), row("2=20", "9=10", "spent")]
    );
    // A vanished record whose email nobody holds is gone, as before;
    // one whose email two records hold is not guessed at.
    let only = [pd1.clone()];
    let p = pair_records(&pair, &left, &only, &state);
    assert_eq!(p.gone.len(), 1);
    assert!(!p.gone[0].merged && p.merges.is_empty());
    let twice = [
        pd1.clone(),
        known("30", "c@x.io", "C", &[], &["b@x.io"]),
        known("40", "b@x.io", "D", &[], &[]),
    ];
    let p = pair_records(&pair, &left, &twice, &state);
    assert_eq!(p.gone.len(), 1, "{p:#?}");
}

#[test]
fn a_merged_record_whose_partner_is_gone_is_never_deleted() {
    let pair = contacts_pair();
    let (p1, pd1) = (
        known("1", "a@x.io", "Ann", &[], &[]),
        known("10", "a@x.io", "Ann", &[], &[]),
    );
    let mut state = PairState::default();
    linked_as(&mut state, &p1, &pd1);
    let merged = known("9", "z@x.io", "Zed", &["1"], &[]);
    let left = [merged];
    let p = pair_records(&pair, &left, &[], &state);
    assert_eq!(p.gone.len(), 1);
    assert!(p.gone[0].merged && p.gone[0].left.is_some_and(|r| r.id == "9"));
    assert!(p.left_only.is_empty(), "the survivor is not copied across");
}

#[test]
fn every_email_of_a_record_pairs_it_and_one_known_by_two_records_is_never_guessed() {
    let pair = contacts_pair();
    let left = vec![
        known("1", "p1@x.io", "", &[], &[]),
        known("2", "c@x.io", "", &[], &["old0@x.io"]),
        known("3", "a@x.io", "", &[], &[]),
        known("4", "b@x.io", "", &[], &[]),
    ];
    let right = vec![
        // A work email first, the HubSpot email second.
        known("10", "work@corp.io", "", &[], &["P1@x.io"]),
        // Only the other record's secondary email.
        known("20", "old0@x.io", "", &[], &[]),
        // Known by the emails of two different records.
        known("30", "a@x.io", "", &[], &["b@x.io"]),
    ];
    let state = PairState::default();
    let p = pair_records(&pair, &left, &right, &state);
    let matched: Vec<_> = p
        .matched
        .iter()
        .map(|(l, r)| (l.id.as_str(), r.id.as_str()))
        .collect();
    assert_eq!(matched, [("2", "20"), ("1", "10")]);
    assert!(p.left_only.is_empty() && p.right_only.is_empty(), "{p:#?}");
    let ambiguous: Vec<_> = p.ambiguous.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ambiguous, ["3", "4", "30"]);
    assert_eq!(p.duplicates.len(), 1);
    let d = &p.duplicates[0];
    assert_eq!(
        (d.side, d.key.as_str(), d.kept.as_str(), d.extra.clone()),
        (Side::Left, "a@x.io, b@x.io", "3", vec!["4".to_string()])
    );
}

#[test]
fn an_unlinked_record_with_any_email_of_a_linked_record_is_its_duplicate() {
    let pair = contacts_pair();
    let mut state = PairState::default();
    state.link("1", "10");
    let left = vec![
        known("1", "a@x.io", "", &[], &[]),
        known("2", "y@x.io", "", &[], &[]),
    ];
    let right = vec![known("10", "a@x.io", "", &[], &["Y@x.io"])];
    let p = pair_records(&pair, &left, &right, &state);
    assert!(p.left_only.is_empty(), "{p:#?}");
    assert_eq!(p.duplicates.len(), 1);
    assert_eq!(
        (p.duplicates[0].kept.as_str(), p.duplicates[0].extra.clone()),
        ("1", vec!["2".to_string()])
    );
}
