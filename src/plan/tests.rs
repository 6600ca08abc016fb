//! Unit tests of the plan: every kind of item through the JSON form and
//! back, forward references, the summary's counts and merge wording.

use super::*;
use crate::config::ConflictPolicy;
use crate::connector::{OptionSpec, PropertyKind, PropertySpec};
use crate::model::{Side, Sided};

fn ids() -> Sided<String> {
    Sided::new("1".to_string(), "9".to_string())
}

fn change() -> Change {
    Change {
        field: "email".into(),
        from: String::new(),
        to: "a@x.io".into(),
        source_field: "email".into(),
        source_value: "a@x.io".into(),
    }
}

fn every_kind() -> Vec<Item> {
    let agreement = Agreement {
        ids: ids(),
        label: "a@x.io".into(),
        settle: vec![Settle {
            left_field: "email".into(),
            left: "a@x.io".into(),
            right_field: "email".into(),
            right: "a@x.io".into(),
        }],
        expect: Sided::new(5, 6),
    };
    let write = Write {
        target: Side::Right,
        ids: ids(),
        label: "a@x.io".into(),
        changes: vec![change()],
        conflicts: Vec::new(),
        expect: Sided::new(5, 6),
    };
    vec![
        Item::Link(agreement.clone()),
        Item::Create(Create {
            target: Side::Left,
            source_id: "9".into(),
            label: "a@x.io".into(),
            changes: vec![change()],
            expect: 6,
            notes: Vec::new(),
        }),
        Item::Update(write.clone()),
        Item::Associate(write),
        Item::Conflict(Held {
            ids: ids(),
            label: "a@x.io".into(),
            conflicts: Vec::new(),
            settle: Vec::new(),
            expect: Sided::new(5, 6),
        }),
        Item::Unlink(Unlink {
            ids: ids(),
            label: "a@x.io".into(),
            reason: "deleted on both sides".into(),
        }),
        Item::Delete(Delete {
            target: Side::Left,
            ids: ids(),
            label: "a@x.io".into(),
            reason: "deleted on the right side".into(),
            expect: 5,
        }),
        Item::Invalid(Invalid {
            ids: Sided::new(Some("1".into()), None),
            label: "a@x.io".into(),
            problems: vec!["no translation".into()],
            conflicts: Vec::new(),
        }),
        Item::Baseline(agreement.clone()),
        Item::Kept(kept()),
        Item::Merge(merge(MergeStep::Follow)),
        Item::Merge(merge(MergeStep::Spent)),
        Item::Merge(Merge {
            expect: Sided::new(5, 0),
            ..merge(MergeStep::Orphaned)
        }),
        Item::Merge(merge(MergeStep::Partners {
            side: Side::Left,
            kept: "8".into(),
            propagate: true,
        })),
        Item::Property(tier(None)),
        Item::Property(tier(Some("a calculated property".into()))),
        Item::Property(Property {
            step: PropertyStep::AddOptions {
                options: vec![OptionSpec {
                    value: "gold".into(),
                    label: "Gold".into(),
                }],
                had: 2,
            },
            ..tier(None)
        }),
        Item::Property(Property {
            from_kind: Some(PropertyKind::Radio),
            ..tier(None)
        }),
    ]
}

/// A person whose organization Pipedrive cannot unlink, kept on the right.
fn kept() -> Kept {
    Kept {
        target: Side::Right,
        ids: ids(),
        label: "a@x.io".into(),
        reasons: vec!["eu.persons keeps `org_id` 4: no null".into()],
        settle: vec![Settle {
            left_field: "company".into(),
            left: String::new(),
            right_field: "org_id".into(),
            right: "4".into(),
        }],
        expect: Sided::new(5, 6),
    }
}

#[test]
fn a_kept_relation_is_state_only_counts_as_kept_and_makes_a_plan_version_5() {
    let item = Item::Kept(kept());
    assert!(item.is_change() && item.is_shown() && !item.writes());
    let plan = Plan::new(
        "x",
        vec![PairPlan {
            name: "people".into(),
            left: "us.contacts".into(),
            right: "eu.persons".into(),
            items: vec![item],
            duplicates: Vec::new(),
            records: 0,
            scope: Vec::new(),
        }],
    );
    assert_eq!(
        plan.version, 5,
        "an older crmsync refuses it by its version"
    );
    assert_eq!(plan.summary().kept, 1);
    let text = plan.to_string();
    assert!(
        text.contains("  = eu     kept      a@x.io (9): eu.persons keeps `org_id` 4: no null"),
        "{text}"
    );
    assert!(text.ends_with(", 1 kept.\n"), "{text}");
}

/// eu contacts' `tier`, created with three options (or refused).
fn tier(problem: Option<String>) -> Property {
    let option = |v: &str, l: &str| OptionSpec {
        value: v.into(),
        label: l.into(),
    };
    Property {
        target: Side::Right,
        field: "tier".into(),
        label: "contacts.tier".into(),
        step: PropertyStep::Create(PropertySpec {
            name: "tier".into(),
            label: "Tier".into(),
            kind: PropertyKind::Enumeration,
            options: vec![
                option("bronze", "Bronze"),
                option("silver", "Silver"),
                option("gold", "Gold"),
            ],
            description: "Support tier".into(),
            group: Some("account".into()),
            unique: false,
            not_copyable: None,
        }),
        from_kind: None,
        problem,
    }
}

#[test]
fn property_items_read_first_count_as_changes_and_make_a_plan_version_3() {
    let pair = PairPlan {
        name: "contacts".into(),
        left: "us.contacts".into(),
        right: "eu.contacts".into(),
        items: vec![
            Item::Property(tier(None)),
            Item::Property(Property {
                field: "score".into(),
                label: "contacts.score".into(),
                ..tier(Some("a calculated property".into()))
            }),
        ],
        duplicates: Vec::new(),
        records: 0,
        scope: Vec::new(),
    };
    let plan = Plan::new("x", vec![pair]);
    assert_eq!(
        plan.version, 3,
        "an older crmsync refuses it by its version"
    );
    assert!(!plan.is_empty());
    assert_eq!(plan.summary().property, 1);
    assert_eq!(plan.summary().invalid, 1);
    assert_eq!(
        plan.to_string(),
        "contacts  (us.contacts <-> eu.contacts)\n  + eu     property  contacts.tier  enumeration (3 options)\n  ! eu     invalid   property contacts.score: a calculated property\nPlan: 1 property change, 0 to create, 0 to update, 0 to associate, 0 to delete, 0 to link, 0 conflicts, 0 to unlink, 1 invalid, 0 duplicates.\n"
    );
    assert_eq!(plan.pairs[0].items[0].target(), Some(Side::Right));
    assert_eq!(
        plan.pairs[0].items[1].target(),
        None,
        "an invalid one writes nothing"
    );
}

/// us 2 (linked to eu 9) was merged into us 1.
fn merge(step: MergeStep) -> Merge {
    Merge {
        was: Sided::new("2".into(), "9".into()),
        now: ids(),
        label: "a@x.io".into(),
        step,
        confirmed: true,
        expect: Sided::new(5, 6),
    }
}

#[test]
fn an_unconfirmed_merge_is_data_says_what_to_do_and_never_writes() {
    let unconfirmed = Merge {
        confirmed: false,
        ..merge(MergeStep::Partners {
            side: Side::Left,
            kept: "8".into(),
            propagate: false,
        })
    };
    let json = serde_json::to_value(Item::Merge(unconfirmed.clone())).unwrap();
    assert_eq!(
        json["merge"]["confirmed"],
        serde_json::json!(false),
        "{json}"
    );
    let back: Item = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, Item::Merge(unconfirmed.clone()));
    let plan = Plan::new(
        "x",
        vec![PairPlan {
            name: "people".into(),
            left: "us.contacts".into(),
            right: "eu.contacts".into(),
            items: vec![Item::Merge(unconfirmed)],
            duplicates: Vec::new(),
            records: 2,
            scope: Vec::new(),
        }],
    );
    assert!(plan.is_empty(), "a notice, no drift");
    assert_eq!(
        plan.to_string(),
        "people  (us.contacts <-> eu.contacts)\n  >        merge     a@x.io  us 2 was merged into us 1; eu 9 faces the same record as eu 8, unless us 2 was deleted: crmsync could not confirm the merge and merges or deletes nothing (if it was a merge, merge them in eu; if a delete, delete eu 9 yourself)\nPlan: nothing to do; 1 merged record left for you (>).\n"
    );
    // A saved plan that would write an unconfirmed merge is refused; one
    // from before the distinction holds confirmed merges only.
    let mut writes = serde_json::to_value(Item::Merge(merge(MergeStep::Partners {
        side: Side::Left,
        kept: "8".into(),
        propagate: true,
    })))
    .unwrap();
    assert_eq!(writes["merge"]["confirmed"], serde_json::json!(true));
    writes["merge"].as_object_mut().unwrap().remove("confirmed");
    let older: Item = serde_json::from_value(writes.clone()).unwrap();
    assert!(matches!(older, Item::Merge(m) if m.confirmed));
    writes["merge"]["confirmed"] = serde_json::json!(false);
    let refused = serde_json::from_value::<Item>(writes)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("could not confirm"), "{refused}");
}

#[test]
fn merges_read_as_what_happened_and_only_plans_with_them_are_version_2() {
    let plain = Plan::new("x", Vec::new());
    assert_eq!(plain.version, 1, "older crmsync still applies it");
    let pair = |step| PairPlan {
        name: "people".into(),
        left: "us.contacts".into(),
        right: "eu.contacts".into(),
        items: vec![Item::Merge(merge(step))],
        duplicates: Vec::new(),
        records: 2,
        scope: Vec::new(),
    };
    let partners = |propagate| MergeStep::Partners {
        side: Side::Left,
        kept: "8".into(),
        propagate,
    };
    let reported = Plan::new("x", vec![pair(partners(false))]);
    assert_eq!(reported.version, 2);
    assert!(
        reported.is_empty(),
        "partners left for a human are no drift"
    );
    assert_eq!(
        reported.to_string(),
        "people  (us.contacts <-> eu.contacts)\n  >        merge     a@x.io  us 2 was merged into us 1; eu 9 faces the same record as eu 8: left alone (merge them in eu, or set merges = \"propagate\")\nPlan: nothing to do; 1 merged record left for you (>).\n"
    );
    let propagated = Plan::new("x", vec![pair(partners(true))]);
    let text = propagated.to_string();
    assert!(!propagated.is_empty() && propagated.pairs[0].items[0].target() == Some(Side::Right));
    assert!(text.contains("  > eu     merge     a@x.io  us 2 was merged into us 1; eu 9 faces the same record as eu 8: merging it into eu 8"), "{text}");
    let follow = Plan::new("x", vec![pair(MergeStep::Follow)]).to_string();
    assert!(
        follow.contains("us 2 was merged into us 1; the link follows: us 1 = eu 9"),
        "{follow}"
    );
}

#[test]
fn every_kind_of_item_survives_the_json_plan_unchanged() {
    for item in every_kind() {
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(json["action"], serde_json::to_value(item.action()).unwrap());
        let back: Item = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, item, "{json}");
    }
    let create = serde_json::to_value(&every_kind()[1]).unwrap();
    assert_eq!(
        create,
        serde_json::json!({
            "action": "create", "target": "left", "right_id": "9", "label": "a@x.io",
            "changes": [{"field": "email", "from": "", "to": "a@x.io", "source_field": "email", "source_value": "a@x.io"}],
            "expect": {"right_updated_ms": 6},
        })
    );
}

#[test]
fn forward_references_in_ids_and_sets_resolve_and_survive_the_json_plan() {
    let reference = forward_ref("companies", Side::Right, "12");
    assert_eq!(reference, "new:companies:right:12");
    assert!(is_forward_ref(&reference));
    for not_one in [
        "12",
        "new:",
        "new:a b:left:1",
        "new:x:up:1",
        "renew:x:left:1",
    ] {
        assert!(!is_forward_ref(not_one), "{not_one}");
    }
    let nested = forward_ref(
        "contacts",
        Side::Left,
        &forward_ref("people", Side::Left, "3"),
    );
    assert!(is_forward_ref(&nested));
    let mut associate = every_kind()[3].clone();
    let Item::Associate(w) = &mut associate else {
        unreachable!()
    };
    w.changes[0].to = format!("900;{reference};15");
    w.ids.left = nested.clone();
    let any_field = |_: &str| true;
    // In a text field the same value is text, left as it is.
    let text = |_: &str| false;
    assert_eq!(associate.forward_refs(&text), vec![nested.clone()]);
    let as_text = associate
        .resolve(&|r| (r == nested).then(|| "5".to_string()), &text)
        .unwrap();
    assert_eq!(as_text.changes()[0].to, format!("900;{reference};15"));
    assert!(associate.has_forward_refs(&any_field));
    assert_eq!(
        associate.forward_refs(&any_field),
        vec![reference.clone(), nested.clone()]
    );
    let json = serde_json::to_value(&associate).unwrap();
    let back: Item = serde_json::from_value(json).unwrap();
    assert_eq!(back, associate, "a reference is kept as written");
    let known = |r: &str| match r {
        "new:companies:right:12" => Some("20".to_string()),
        "new:contacts:left:new:people:left:3" => Some("5".to_string()),
        _ => None,
    };
    let ready = back.resolve(&known, &any_field).unwrap();
    assert!(!ready.has_forward_refs(&any_field));
    assert_eq!(ready.id(Side::Left), Some("5"));
    // A set stays sorted as the planner keeps it.
    assert_eq!(ready.changes()[0].to, "15;20;900");
    let only_one = |r: &str| (r == reference).then(|| "20".to_string());
    assert_eq!(back.resolve(&only_one, &any_field).unwrap_err(), nested);
    // Items with no reference are returned as they are.
    for item in every_kind() {
        assert!(!item.has_forward_refs(&any_field));
        assert_eq!(item.resolve(&|_| None, &any_field).unwrap(), item);
    }
}

#[test]
fn summary_counts_a_record_conflict_once_and_speaks_in_the_singular_for_one() {
    let conflict = |winner: Option<Side>, applied: bool| Conflict {
        field: "firstname".into(),
        left: "A".into(),
        right: "B".into(),
        policy: ConflictPolicy::Newest,
        winner,
        applied,
    };
    let mut settled = every_kind()[2].clone();
    if let Item::Update(w) = &mut settled {
        w.conflicts = vec![
            conflict(Some(Side::Left), true),
            conflict(Some(Side::Left), true),
        ];
    }
    assert!(settled.settles_conflict());
    let held = |winner| {
        Item::Conflict(Held {
            ids: ids(),
            label: "a@x.io".into(),
            conflicts: vec![conflict(winner, false)],
            settle: Vec::new(),
            expect: Sided::new(5, 6),
        })
    };
    assert!(held(Some(Side::Right)).settles_conflict());
    assert!(!held(None).settles_conflict());
    let plan = |items: Vec<Item>| {
        Plan::new(
            "f",
            vec![PairPlan {
                name: "p".into(),
                left: "a.contacts".into(),
                right: "b.contacts".into(),
                items,
                duplicates: Vec::new(),
                records: 1,
                scope: Vec::new(),
            }],
        )
    };
    assert_eq!(
        plan(vec![settled.clone()]).summary().to_string(),
        "0 to create, 1 to update, 0 to associate, 0 to delete, 0 to link, 1 conflict, 0 to unlink, 0 invalid, 0 duplicates"
    );
    assert_eq!(plan(vec![settled, held(None)]).summary().conflict, 2);
    assert_eq!(counted(1u64, "record", "records"), "1 record");
    assert_eq!(counted(0u64, "record", "records"), "0 records");
}

#[test]
fn a_saved_item_missing_what_its_action_needs_is_refused() {
    for broken in [
        serde_json::json!({"action": "update", "target": "right", "left_id": "1", "label": "x", "expect": {"left_updated_ms": 1, "right_updated_ms": 2}}),
        serde_json::json!({"action": "create", "left_id": "1", "label": "x", "expect": {"left_updated_ms": 1}}),
        serde_json::json!({"action": "delete", "target": "left", "left_id": "1", "right_id": "9", "label": "x"}),
    ] {
        let error = serde_json::from_value::<Item>(broken.clone()).unwrap_err();
        assert!(
            error.to_string().contains("item without"),
            "{broken}: {error}"
        );
    }
}
