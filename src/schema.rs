//! What a pair with `schema = "create"` asks of the schema of the side it
//! writes to: each mapped field that side lacks, created there as a copy of
//! the other side's property (or an `invalid` item saying why it cannot
//! be; one mapped through a value table takes the values the table
//! translates to as its options), and the options an option field mapped
//! by label or by the same values lacks, added to it. Also what the accounts will hold once that
//! is done, so the records are planned on it.
//!
//! Pure: it reads the definitions the pull put in the snapshots, and
//! neither the network nor the state. Existing options are never removed,
//! relabelled or reordered.

use crate::config::{PairConfig, SchemaPolicy, ValueMap};
use crate::connector::{OptionSpec, PropertyKind, PropertySpec};
use crate::model::{Labels, Side, Sided};
use crate::plan::{Item, Property, PropertyStep};
use crate::snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};

/// The schema changes of one pair, and what they leave.
#[derive(Debug, Default)]
pub struct SchemaPlan {
    /// Property items, in mapping order.
    pub items: Vec<Item>,
    /// The left names of field maps whose property cannot be made: their
    /// records are planned without them.
    pub unmade: BTreeSet<String>,
}

/// The fields of `side` whose definitions planning needs: every mapped
/// field, on both sides, of a pair that creates schema; none otherwise.
pub fn fields_to_describe(pair: &PairConfig, side: Side) -> Vec<String> {
    if pair.schema == SchemaPolicy::Create {
        pair.field_names(side)
    } else {
        Vec::new()
    }
}

/// The schema changes `pair` needs on the accounts as `snapshots` saw them.
pub fn plan_schema(pair: &PairConfig, snapshots: Sided<&Snapshot>) -> SchemaPlan {
    let mut plan = SchemaPlan::default();
    if pair.schema != SchemaPolicy::Create {
        return plan;
    }
    let of = |side: Side| snapshots[side];
    for map in &pair.fields {
        let (by_label, table) = match pair.values.get(&map.left) {
            None => (false, None),
            Some(ValueMap::ByLabel) => (true, None),
            Some(ValueMap::Table(table)) => (false, Some(table)),
            // Owners and relations hold ids of the account's own users and
            // records: no property of the account's own is made for them.
            Some(_) => continue,
        };
        for target in Side::BOTH {
            if !pair.direction.writes(target) {
                continue;
            }
            let source = target.other();
            let (Some(Some(from)), Some(now)) = (
                of(source).properties.get(&map[source]),
                of(target).properties.get(&map[target]),
            ) else {
                continue;
            };
            let endpoint = pair.endpoint(target);
            let by_label_there = endpoint.kind.profile().options_by_label;
            let options = match table {
                None => target_options(&from.options, by_label, by_label_there),
                Some(table) => translated_options(&from.options, table, target, by_label_there),
            };
            let label = format!("{}.{}", endpoint.object, map[target]);
            match now {
                None => {
                    let made_as = from.kind.made_as(endpoint.kind.profile().nearest_kinds);
                    let problem = from
                        .not_copyable
                        .clone()
                        .map(|why| {
                            format!("cannot be created from {}: {why}", pair.endpoint(source))
                        })
                        .or_else(|| shared_values(from, &map[source], of(source)))
                        .or_else(|| times_written_back(pair, target, from.kind, made_as));
                    if problem.is_some() {
                        plan.unmade.insert(map.left.clone());
                    }
                    plan.items.push(Item::Property(Property {
                        target,
                        field: map[target].clone(),
                        label,
                        step: PropertyStep::Create(PropertySpec {
                            name: map[target].clone(),
                            kind: made_as,
                            options,
                            not_copyable: None,
                            ..from.clone()
                        }),
                        from_kind: (made_as != from.kind).then_some(from.kind),
                        problem,
                    }));
                }
                // A table names the target's values itself: it is the
                // user's to keep in step with the target's options.
                Some(have)
                    if table.is_none() && from.kind.has_options() && have.kind.has_options() =>
                {
                    let lacks = |o: &&OptionSpec| {
                        !have.options.iter().any(|h| {
                            if by_label {
                                h.label.eq_ignore_ascii_case(&o.label)
                            } else {
                                h.value == o.value
                            }
                        })
                    };
                    let missing: Vec<OptionSpec> = options.iter().filter(lacks).cloned().collect();
                    if !missing.is_empty() {
                        plan.items.push(Item::Property(Property {
                            target,
                            field: map[target].clone(),
                            label,
                            step: PropertyStep::AddOptions {
                                options: missing,
                                had: have.options.len(),
                            },
                            from_kind: None,
                            problem: None,
                        }));
                    }
                }
                Some(_) => {}
            }
        }
    }
    plan
}

/// The options a copy of a property takes on the target: the source's, in
/// order. Where the target's records hold labels (`by_label_there`), each
/// option is named by what records will be written: the source's label
/// when values translate by label, else the source's value itself.
fn target_options(options: &[OptionSpec], by_label: bool, by_label_there: bool) -> Vec<OptionSpec> {
    options
        .iter()
        .map(|o| match (by_label_there, by_label) {
            (false, _) => o.clone(),
            (true, true) => OptionSpec {
                value: o.label.clone(),
                label: o.label.clone(),
            },
            (true, false) => OptionSpec {
                value: o.value.clone(),
                label: o.value.clone(),
            },
        })
        .collect()
}

/// The options a copy of a property takes when a value table translates
/// its values: each source option the table translates, under the value it
/// translates to (and the source's label, unless the target's records hold
/// labels), in the source's order.
fn translated_options(
    options: &[OptionSpec],
    table: &BTreeMap<String, String>,
    target: Side,
    by_label_there: bool,
) -> Vec<OptionSpec> {
    let mut translated: Vec<OptionSpec> = Vec::new();
    for o in options {
        let value = match target {
            Side::Right => table.get(&o.value).cloned(),
            Side::Left => table
                .iter()
                .find(|(_, right)| **right == o.value)
                .map(|(left, _)| left.clone()),
        };
        if let Some(value) = value
            && !translated.iter().any(|t| t.value == value)
        {
            let label = if by_label_there {
                value.clone()
            } else {
                o.label.clone()
            };
            translated.push(OptionSpec { value, label });
        }
    }
    translated
}

/// Why a datetime copied as a date cannot be made for a pair that also
/// writes back to the source: every date written back would set the
/// source's time of day to midnight.
fn times_written_back(
    pair: &PairConfig,
    target: Side,
    from: PropertyKind,
    made_as: PropertyKind,
) -> Option<String> {
    let source = target.other();
    (from == PropertyKind::Datetime && made_as == PropertyKind::Date && pair.direction.writes(source))
        .then(|| {
            format!(
                "a datetime on {} can only be a date on {} (the time of day is dropped), and this pair writes it back, which would set every time to midnight; sync it one way (a pair whose direction writes only to {}) or leave it out of [pairs.fields]",
                pair.endpoint(source),
                pair.endpoint(target),
                pair.endpoint(target),
            )
        })
}

/// Why a unique-value property cannot be copied: records of the source
/// share a value, which the copy would refuse.
fn shared_values(spec: &PropertySpec, field: &str, source: &Snapshot) -> Option<String> {
    if !spec.unique {
        return None;
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &source.records {
        let value = record.get(field);
        if !value.is_empty() {
            *seen.entry(value).or_default() += 1;
        }
    }
    let shared: Vec<&str> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(v, _)| *v)
        .collect();
    (!shared.is_empty()).then(|| {
        format!(
            "its values must be unique, but {} records of {} share {}: make them unique there first",
            seen.values().filter(|n| **n > 1).sum::<usize>(),
            source.system,
            shared
                .iter()
                .take(3)
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

impl Snapshot {
    /// Takes in what a property item leaves on this (its target) object:
    /// the property with its options, and their labels for value maps by
    /// label. `made` is the property as the account answered, where known.
    pub fn absorb_property(&mut self, item: &Property, made: Option<&PropertySpec>) {
        let spec = match (made, &item.step) {
            (Some(made), _) => made.clone(),
            (None, PropertyStep::Create(spec)) => spec.clone(),
            (None, PropertyStep::AddOptions { options, .. }) => {
                let Some(Some(have)) = self.properties.get(&item.field) else {
                    return;
                };
                let mut spec = have.clone();
                spec.options.extend(options.iter().cloned());
                spec
            }
        };
        if spec.kind.has_options() {
            let labels = self.labels.entry(item.field.clone()).or_default();
            for o in &spec.options {
                if !labels.iter().any(|(v, _)| *v == o.value) {
                    labels.push((o.value.clone(), o.label.clone()));
                }
            }
        }
        self.properties.insert(item.field.clone(), Some(spec));
    }
}

/// The labels the records of a pair are planned with: the snapshots' own,
/// with the options its property items add to fields mapped by label.
pub fn labels_after(
    pair: &PairConfig,
    items: &[Item],
    labels: Sided<&Labels>,
) -> Option<Sided<Labels>> {
    let mut after: Option<Sided<Labels>> = None;
    for item in items {
        let Item::Property(p) = item else { continue };
        if p.problem.is_some() {
            continue;
        }
        let by_label = pair.label_fields().iter().any(|m| m[p.target] == p.field);
        if !by_label {
            continue;
        }
        let after = after.get_or_insert_with(|| labels.map(Labels::clone));
        let options = match &p.step {
            PropertyStep::Create(spec) => &spec.options,
            PropertyStep::AddOptions { options, .. } => options,
        };
        let list = after[p.target].entry(p.field.clone()).or_default();
        for o in options {
            if !list.iter().any(|(v, _)| *v == o.value) {
                list.push((o.value.clone(), o.label.clone()));
            }
        }
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::PropertyKind;
    use crate::model::{ObjectKind, Record};

    fn pair() -> PairConfig {
        crate::config::test_pairs(
            r#"
[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
direction = "left-to-right"
schema = "create"
[pairs.fields]
code = "code"
tier = "tier"
"#,
        )
        .remove(0)
    }

    fn spec(name: &str, kind: PropertyKind, options: &[&str]) -> PropertySpec {
        PropertySpec {
            name: name.into(),
            label: name.to_uppercase(),
            kind,
            options: options
                .iter()
                .map(|v| OptionSpec {
                    value: v.to_string(),
                    label: v.to_uppercase(),
                })
                .collect(),
            description: String::new(),
            group: None,
            unique: false,
            not_copyable: None,
        }
    }

    fn snapshot(system: &str, records: Vec<Record>) -> Snapshot {
        Snapshot::new(
            system,
            ObjectKind::Contacts,
            vec!["code".into(), "tier".into()],
            records,
            0,
        )
    }

    #[test]
    fn a_unique_property_whose_source_shares_values_is_not_made_and_options_are_only_added() {
        let records = vec![
            Record::new("1", [("code", "X1")].into(), 1),
            Record::new("2", [("code", "X1")].into(), 1),
        ];
        let mut left = snapshot("a", records);
        left.properties.insert(
            "code".into(),
            Some(PropertySpec {
                unique: true,
                ..spec("code", PropertyKind::Text, &[])
            }),
        );
        left.properties.insert(
            "tier".into(),
            Some(spec("tier", PropertyKind::Enumeration, &["a", "b", "c"])),
        );
        let mut right = snapshot("b", Vec::new());
        right.properties.insert("code".into(), None);
        right.properties.insert(
            "tier".into(),
            Some(spec("tier", PropertyKind::Enumeration, &["b", "z"])),
        );
        let plan = plan_schema(&pair(), Sided::new(&left, &right));
        assert_eq!(plan.unmade, BTreeSet::from(["code".to_string()]));
        let [Item::Property(code), Item::Property(tier)] = plan.items.as_slice() else {
            panic!("{:?}", plan.items)
        };
        assert!(
            code.problem
                .as_deref()
                .is_some_and(|p| p.contains("2 records of a share \"X1\"")),
            "{code:?}"
        );
        let PropertyStep::AddOptions { options, had } = &tier.step else {
            panic!("{tier:?}")
        };
        let values: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
        assert_eq!((values, *had), (vec!["a", "c"], 2), "b is there, z is kept");
        // Once applied, the target holds all five, its own first.
        right.absorb_property(tier, None);
        let now = right.properties["tier"].as_ref().unwrap();
        let values: Vec<&str> = now.options.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(values, ["b", "z", "a", "c"]);
        let again = plan_schema(&pair(), Sided::new(&left, &right));
        assert_eq!(again.items.len(), 1, "only the unmade `code` is left");
    }

    #[test]
    fn a_copy_of_a_field_mapped_through_a_table_takes_the_translated_values_as_options() {
        let pair = crate::config::test_pairs(
            r#"
[[pairs]]
name = "contacts"
left = "a.contacts"
right = "b.contacts"
direction = "left-to-right"
schema = "create"
[pairs.fields]
tier = "level"
[pairs.values.tier]
a = "one"
c = "three"
"#,
        )
        .remove(0);
        let mut left = snapshot("a", Vec::new());
        left.properties.insert(
            "tier".into(),
            Some(spec("tier", PropertyKind::Enumeration, &["a", "b", "c"])),
        );
        let mut right = snapshot("b", Vec::new());
        right.properties.insert("level".into(), None);
        let plan = plan_schema(&pair, Sided::new(&left, &right));
        let [Item::Property(level)] = plan.items.as_slice() else {
            panic!("{:?}", plan.items)
        };
        let PropertyStep::Create(made) = &level.step else {
            panic!("{level:?}")
        };
        let options: Vec<(&str, &str)> = made
            .options
            .iter()
            .map(|o| (o.value.as_str(), o.label.as_str()))
            .collect();
        assert_eq!(made.name, "level");
        assert_eq!(
            options,
            [("one", "A"), ("three", "C")],
            "b has no translation"
        );
    }
}
