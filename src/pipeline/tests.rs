//! Unit tests of the plan stage: pairs that refer to what earlier pairs
//! create, link or unlink in the same run.

use super::*;
use crate::config::Config;
use crate::mapping::PlannedLinks;
use crate::model::set_field;
use crate::model::{Fields, ObjectKind, Record};
use crate::plan::is_forward_ref;
use crate::plan::{Action, Item, Plan};
use crate::state::State;
use std::path::Path;

/// The relation fields of `config`'s pairs, by pair name.
fn relation_of(config: &Config) -> impl Fn(&str, &str) -> bool + '_ {
    |pair, field| {
        config
            .pairs
            .iter()
            .any(|p| p.name == pair && p.is_relation(field))
    }
}

/// Companies (matched by name), then contacts whose primary company is
/// translated through the companies pair's links.
fn config() -> Config {
    Config::from_str(
        r#"
[systems.a]
kind = "hubspot"
token_env = "A"
[systems.b]
kind = "hubspot"
token_env = "B"

[[pairs]]
name = "companies"
left = "a.companies"
right = "b.companies"
match = "name"
[pairs.fields]
name = "name"

[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
match = "email"
[pairs.fields]
email = "email"
primary_company = "primary_company"
[pairs.values]
primary_company = "link:companies"
"#,
        Path::new("t.toml"),
    )
    .unwrap()
}

fn rec(id: &str, fields: &[(&str, &str)]) -> Record {
    let mut f = Fields::new();
    for (k, v) in fields {
        set_field(&mut f, k, v);
    }
    Record::new(id, f, 1)
}

fn snapshots(config: &Config, records: [(&str, Vec<Record>); 4]) -> Snapshots {
    records
        .into_iter()
        .map(|(object, records)| {
            let (system, kind) = object.split_once('.').unwrap();
            let kind = match kind {
                "companies" => ObjectKind::Companies,
                _ => ObjectKind::Contacts,
            };
            let endpoint = account_objects(&config.pairs.iter().collect::<Vec<_>>())
                .into_iter()
                .find(|e| e.to_string() == object)
                .unwrap();
            let fields = object_fields(config, &endpoint);
            (
                object.to_string(),
                Snapshot::new(system, kind, fields, records, 0),
            )
        })
        .collect()
}

/// a: Acme (1, new), Globex (2, also on b as 50), Initech (3, linked to
/// b's 60, which is gone); contacts at each, and one at a company no
/// pair knows.
fn accounts(config: &Config) -> (Snapshots, State) {
    let snapshots = snapshots(
        config,
        [
            (
                "a.companies",
                vec![
                    rec("1", &[("name", "Acme")]),
                    rec("2", &[("name", "Globex")]),
                    rec("3", &[("name", "Initech")]),
                ],
            ),
            ("b.companies", vec![rec("50", &[("name", "Globex")])]),
            (
                "a.contacts",
                vec![
                    rec("10", &[("email", "x@a.io"), ("primary_company", "1")]),
                    rec("11", &[("email", "y@a.io"), ("primary_company", "2")]),
                    rec("12", &[("email", "z@a.io"), ("primary_company", "3")]),
                    rec("13", &[("email", "w@a.io"), ("primary_company", "4")]),
                ],
            ),
            ("b.contacts", vec![]),
        ],
    );
    let mut state = State::default();
    state.pair_mut("companies").link("3", "60");
    (snapshots, state)
}

fn item<'a>(plan: &'a Plan, pair: usize, label: &str) -> &'a Item {
    plan.pairs[pair]
        .items
        .iter()
        .find(|i| i.label() == label)
        .unwrap_or_else(|| panic!("no item {label}"))
}

fn written(item: &Item, field: &str) -> String {
    let change = item.changes().iter().find(|c| c.field == field).unwrap();
    change.to.clone()
}

#[test]
fn a_later_pair_refers_to_what_an_earlier_pair_creates_or_links_and_not_to_what_it_unlinks() {
    let config = config();
    let pairs: Vec<&PairConfig> = config.pairs.iter().collect();
    let (snapshots, state) = accounts(&config);
    let plan = plan(&config, &pairs, &snapshots, &state);
    assert_eq!(item(&plan, 0, "Acme").action(), Action::Create);
    assert_eq!(item(&plan, 0, "Globex").action(), Action::Link);
    assert_eq!(item(&plan, 0, "Initech").action(), Action::Unlink);

    // Acme is created in the run: x's company is a forward reference to
    // that create; Globex is linked in the run: y's is its id at once.
    let x = item(&plan, 1, "x@a.io");
    assert_eq!(x.action(), Action::Create);
    let acme = written(x, "primary_company");
    assert_eq!(acme, "new:companies:right:1");
    assert!(is_forward_ref(&acme));
    assert_eq!(
        item(&plan, 0, "Acme").created_ref("companies").as_deref(),
        Some(acme.as_str())
    );
    assert_eq!(written(item(&plan, 1, "y@a.io"), "primary_company"), "50");
    // Initech's link is dropped in the run, and company 4 is in no pair.
    for label in ["z@a.io", "w@a.io"] {
        let invalid = item(&plan, 1, label);
        assert_eq!(invalid.action(), Action::Invalid, "{label}");
        assert!(
            invalid.problems()[0].contains("not synced by pair `companies`"),
            "{label}: {:?}",
            invalid.problems()
        );
    }
    assert!(plan.dangling_refs(&relation_of(&config)).is_empty());

    // Applied: the reference becomes the id Acme's create answered with;
    // with no answer the item cannot be resolved, and says what it waits on.
    let known = |r: &str| (r == "new:companies:right:1").then(|| "77".to_string());
    assert_eq!(
        written(
            &x.resolve(&known, &|f| pairs[1].is_relation(f)).unwrap(),
            "primary_company"
        ),
        "77"
    );
    assert_eq!(
        x.resolve(&|_| None, &|f| pairs[1].is_relation(f))
            .unwrap_err(),
        "new:companies:right:1"
    );
    // Planned alone, as `diff` did before, x would have been invalid.
    let alone = plan_pair(
        pairs[1],
        pair_snapshots(&snapshots, pairs[1]),
        &state,
        &PlannedLinks::default(),
    );
    let x_alone = alone.items.iter().find(|i| i.label() == "x@a.io").unwrap();
    assert_eq!(x_alone.action(), Action::Invalid);
}

#[test]
fn a_plan_missing_the_create_a_reference_names_has_a_dangling_reference() {
    let config = config();
    let pairs: Vec<&PairConfig> = config.pairs.iter().collect();
    let (snapshots, state) = accounts(&config);
    let mut plan = plan(&config, &pairs, &snapshots, &state);
    plan.pairs[0].items.retain(|i| i.label() != "Acme");
    let dangling = plan.dangling_refs(&relation_of(&config));
    assert_eq!(dangling.len(), 1, "{dangling:?}");
    assert!(dangling[0].contains("x@a.io"), "{dangling:?}");
    assert!(
        dangling[0].contains("new:companies:right:1"),
        "{dangling:?}"
    );
    // The order counts too: a reference to a later pair's create dangles.
    let mut plan = super::plan(&config, &pairs, &snapshots, &state);
    plan.pairs.reverse();
    assert_eq!(plan.dangling_refs(&relation_of(&config)).len(), 1);
}

#[test]
fn a_record_an_earlier_pair_creates_is_copied_on_by_a_later_pair_under_its_reference() {
    // A hub: a.contacts ↔ b.contacts, then a.contacts ↔ c.contacts.
    let config = Config::from_str(
        r#"
[systems.a]
kind = "hubspot"
token_env = "A"
[systems.b]
kind = "hubspot"
token_env = "B"
[systems.c]
kind = "hubspot"
token_env = "C"
[[pairs]]
name = "ab"
left = "a.contacts"
right = "b.contacts"
match = "email"
[pairs.fields]
email = "email"
[[pairs]]
name = "ac"
left = "a.contacts"
right = "c.contacts"
match = "email"
[pairs.fields]
email = "email"
"#,
        Path::new("t.toml"),
    )
    .unwrap();
    let pairs: Vec<&PairConfig> = config.pairs.iter().collect();
    let snapshot = |system: &str, records| {
        Snapshot::new(
            system,
            ObjectKind::Contacts,
            vec!["email".into()],
            records,
            0,
        )
    };
    let snapshots = Snapshots::from([
        ("a.contacts".to_string(), snapshot("a", vec![])),
        (
            "b.contacts".to_string(),
            snapshot("b", vec![rec("7", &[("email", "new@b.io")])]),
        ),
        (
            "c.contacts".to_string(),
            snapshot("c", vec![rec("9", &[("email", "new@b.io")])]),
        ),
    ]);
    let plan = plan(&config, &pairs, &snapshots, &State::default());
    assert_eq!(item(&plan, 0, "new@b.io").action(), Action::Create);
    // ac links c's record to the one ab creates in a.
    let link = item(&plan, 1, "new@b.io");
    assert_eq!(link.action(), Action::Link);
    assert_eq!(link.id(Side::Left), Some("new:ab:left:7"));
    assert_eq!(link.id(Side::Right), Some("9"));
    let known = |r: &str| (r == "new:ab:left:7").then(|| "1001".to_string());
    assert_eq!(
        link.resolve(&known, &|f| pairs[1].is_relation(f))
            .unwrap()
            .id(Side::Left),
        Some("1001")
    );
}
