//! Checks a pair's mapping against both accounts' field metadata before any
//! write: a field the account does not have, a read-only field that would be
//! written, types that cannot convert, a relation without a `link:PAIR` map,
//! and value-table entries that are not options of their field. Each problem
//! is one line; any problem stops the run with exit 2. A field a pair with
//! `schema = "create"` will create is checked as the copy it will be
//! (`as_created`). Pure: the metadata is fetched by the caller.

use crate::config::{FieldMap, PairConfig, SchemaPolicy, ValueMap};
use crate::connector::{FieldInfo, FieldType};
use crate::model::{Side, Sided};

/// The problems of one side's scope: `infos` describe `scope.fields()` in
/// order (`None` for a field the account lacks). A field must exist and
/// hold values (not other records' ids), and every value a condition names
/// of a field with options must be one of them.
pub fn check_scope(
    pair: &PairConfig,
    side: Side,
    scope: &crate::scope::Scope,
    infos: &[Option<FieldInfo>],
) -> Vec<String> {
    use crate::scope::Test;
    let endpoint = pair.endpoint(side);
    let mut problems = Vec::new();
    for (field, info) in scope.fields().iter().zip(infos) {
        let at = format!("pair `{}`: [pairs.scope.{side}] `{field}`", pair.name);
        let Some(info) = info else {
            problems.push(format!(
                "{at}: {endpoint} has no field `{field}`; check its name in that account"
            ));
            continue;
        };
        // HubSpot relations are associations, not properties a search
        // filters on; Pipedrive's (`org_id`, `person_id`) are plain ids.
        if matches!(info.kind, FieldType::Relation(_))
            && endpoint.kind == crate::config::SystemKind::Hubspot
        {
            problems.push(format!(
                "{at} holds other records' ids, which a scope cannot filter on; scope by a field of the record itself"
            ));
            continue;
        }
        let mut options: Vec<&String> = info.options.iter().collect();
        if let Some(dependency) = &info.depends_on {
            options.extend(dependency.options.values().flatten());
        }
        if options.is_empty() {
            continue;
        }
        for condition in scope.conditions.iter().filter(|c| &c.field == field) {
            let values = match &condition.test {
                Test::AnyOf(values) | Test::NoneOf(values) => values,
                Test::Present(_) => continue,
            };
            for value in values {
                // Exactly as the API has it: the vendor filters on it.
                if !options.iter().any(|o| o.as_str() == value.trim()) {
                    let shown: Vec<&str> = options.iter().take(8).map(|o| o.as_str()).collect();
                    let more = if options.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    };
                    problems.push(format!(
                        "{at}: `{value}` is not an option of the field on {endpoint}; use one of: {}{more}",
                        shown.join(", ")
                    ));
                }
            }
        }
    }
    problems
}

/// The problems of one pair's mapping; `left` and `right` describe the
/// pair's fields in mapping order (`None` for a field the account lacks);
/// `pairs` are the file's pairs, which `link:PAIR` maps name.
pub fn check_pair(
    pair: &PairConfig,
    left: &[Option<FieldInfo>],
    right: &[Option<FieldInfo>],
    pairs: &[PairConfig],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, map) in pair.fields.iter().enumerate() {
        let infos = [
            (Side::Left, &map.left, &left[i]),
            (Side::Right, &map.right, &right[i]),
        ];
        let mut known = Vec::new();
        for (side, field, info) in infos {
            let endpoint = pair.endpoint(side);
            if endpoint.kind.profile().scope_only.contains(&field.as_str()) {
                problems.push(format!(
                    "pair `{}`: `{field}` on {endpoint} can scope the pair but not be mapped; move it to [pairs.scope.{side}]",
                    pair.name
                ));
                continue;
            }
            let Some(info) = info else {
                problems.push(format!(
                    "pair `{}`: {endpoint} has no field `{field}`; check its name in that account",
                    pair.name
                ));
                continue;
            };
            if info.read_only && pair.direction.writes(side) {
                problems.push(format!(
                    "pair `{}`: `{field}` on {endpoint} is read-only, but the direction writes it; make the pair one-way or drop the field",
                    pair.name
                ));
            }
            known.push((side, field, info));
        }
        let value_map = pair.values.get(&map.left);
        if let [(_, lf, l), (_, rf, r)] = known.as_slice() {
            let strict =
                |t: FieldType| matches!(t, FieldType::Number | FieldType::Date | FieldType::Bool);
            if strict(l.kind) && strict(r.kind) && l.kind != r.kind && value_map.is_none() {
                problems.push(format!(
                    "pair `{}`: `{lf}` ({:?}) and `{rf}` ({:?}) hold different kinds of values that cannot convert; map fields of one kind",
                    pair.name, l.kind, r.kind
                ));
            }
            let refers_to = |t: FieldType| match t {
                FieldType::Relation(kind) => Some(kind),
                _ => None,
            };
            let relation = Sided::new(refers_to(l.kind), refers_to(r.kind));
            match value_map {
                _ if relation.left.is_none() && relation.right.is_none() => {}
                Some(ValueMap::Link(other)) => {
                    // The pair linked through must sync the records the
                    // relation holds, on each side; one line names the
                    // first side that it does not.
                    let linked = pairs.iter().find(|p| &p.name == other);
                    let wrong = relation.iter().find_map(|(side, kind)| {
                        let syncs = linked?.endpoint(side);
                        kind.filter(|k| syncs.object != *k).map(|k| (side, k, syncs))
                    });
                    if let Some((side, kind, syncs)) = wrong {
                        problems.push(format!(
                            "pair `{}`: `{}` holds {kind} ids, but pair `{other}` syncs {syncs}; link it through a pair of {kind}",
                            pair.name, map[side]
                        ));
                    }
                }
                _ => problems.push(format!(
                    "pair `{}`: `{lf}` = `{rf}` links other records; add `{lf} = \"link:PAIR\"` to [pairs.values] naming the pair that syncs them",
                    pair.name
                )),
            }
        }
        if let Some(ValueMap::Table(table)) = value_map {
            for (side, field, info) in &known {
                if info.kind != FieldType::Choice || info.options.is_empty() {
                    continue;
                }
                let (allowed, within) = allowed_options(pair, *side, info);
                let values: Vec<&String> = if *side == Side::Left {
                    table.keys().collect()
                } else {
                    table.values().collect()
                };
                for value in values.into_iter().filter(|v| !allowed.contains(v)) {
                    problems.push(format!(
                        "pair `{}`: [pairs.values.{}] names `{value}`, which {} `{field}` does not have{within}; known values: {}",
                        pair.name,
                        map.left,
                        pair.endpoint(*side),
                        allowed.join(", ")
                    ));
                }
            }
        }
    }
    problems
}

/// Fills in, for a pair with `schema = "create"`, the fields the side it
/// writes to lacks and the other side has: the plan creates them there as
/// copies, so they are checked as such (the plan says which cannot be made).
pub fn as_created(
    pair: &PairConfig,
    left: &mut [Option<FieldInfo>],
    right: &mut [Option<FieldInfo>],
) {
    if pair.schema != SchemaPolicy::Create {
        return;
    }
    for i in 0..pair.fields.len() {
        if left[i].is_none() && pair.direction.writes(Side::Left) {
            left[i] = right[i].clone().map(|info| FieldInfo {
                read_only: false,
                ..info
            });
        } else if right[i].is_none() && pair.direction.writes(Side::Right) {
            right[i] = left[i].clone().map(|info| FieldInfo {
                read_only: false,
                ..info
            });
        }
    }
}

/// The options a field may take on one side, given what the pair writes to
/// the field they depend on (a deal's pipeline decides its stages): the
/// values of that field's value table, or its default when it is not mapped.
/// Also says which groups were used, for the message.
fn allowed_options(pair: &PairConfig, side: Side, info: &FieldInfo) -> (Vec<String>, String) {
    let Some(dep) = &info.depends_on else {
        return (info.options.clone(), String::new());
    };
    let maps_dependency = |f: &&FieldMap| f[side] == dep.field;
    let groups: Vec<String> = match pair.fields.iter().find(maps_dependency) {
        None => vec![dep.default.clone()],
        Some(f) => match pair.values.get(&f.left) {
            Some(ValueMap::Table(t)) if side == Side::Left => t.keys().cloned().collect(),
            Some(ValueMap::Table(t)) => t.values().cloned().collect(),
            // Any value may arrive: every group's options are possible.
            _ => return (info.options.clone(), String::new()),
        },
    };
    let allowed = groups
        .iter()
        .filter_map(|g| dep.options.get(g))
        .flatten()
        .cloned()
        .collect();
    (allowed, format!(" in {} {}", dep.field, groups.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> PairConfig {
        crate::config::test_pairs(
            r#"
[[pairs]]
name = "deals"
left = "a.deals"
right = "b.deals"
[pairs.fields]
amount = "amount"
dealstage = "dealstage"
hs_object_id = "hs_object_id"
nonesuch = "dealname"
[pairs.values.dealstage]
won = "closedwon"
"#,
        )
        .remove(0)
    }

    fn info(kind: FieldType, read_only: bool, options: &[&str]) -> Option<FieldInfo> {
        Some(FieldInfo {
            kind,
            read_only,
            options: options.iter().map(|s| s.to_string()).collect(),
            depends_on: None,
        })
    }

    #[test]
    fn every_kind_of_mapping_mistake_is_named() {
        let pair = pair();
        // Fields in mapping order: amount, dealstage, hs_object_id, nonesuch.
        let left = [
            info(FieldType::Number, false, &[]),
            info(FieldType::Choice, false, &["won", "lost"]),
            info(FieldType::Text, true, &[]),
            None,
        ];
        let right = [
            info(FieldType::Date, false, &[]),
            info(FieldType::Choice, false, &["appointmentscheduled"]),
            info(FieldType::Text, true, &[]),
            info(FieldType::Text, false, &[]),
        ];
        let problems = check_pair(&pair, &left, &right, &[]).join("\n");
        assert!(
            problems.contains("a.deals has no field `nonesuch`"),
            "{problems}"
        );
        assert!(
            problems.contains("`hs_object_id` on a.deals is read-only"),
            "{problems}"
        );
        assert!(
            problems.contains("`hs_object_id` on b.deals is read-only"),
            "{problems}"
        );
        assert!(problems.contains("cannot convert"), "{problems}");
        assert!(
            problems.contains("names `closedwon`, which b.deals `dealstage` does not have"),
            "{problems}"
        );
        assert_eq!(problems.lines().count(), 5, "{problems}");
    }

    #[test]
    fn a_relation_linked_through_a_pair_of_other_objects_is_named() {
        let pairs = crate::config::test_pairs(
            r#"
[[pairs]]
name = "companies"
left = "a.companies"
right = "b.companies"
[pairs.fields]
name = "name"

[[pairs]]
name = "deals"
left = "a.deals"
right = "b.deals"
[pairs.fields]
contact = "contact"
[pairs.values]
contact = "link:companies"
"#,
        );
        let relation = info(
            FieldType::Relation(crate::model::ObjectKind::Contacts),
            false,
            &[],
        );
        let problems = check_pair(
            &pairs[1],
            std::slice::from_ref(&relation),
            std::slice::from_ref(&relation),
            &pairs,
        );
        // One line for the field, though both sides link through the pair.
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .contains("`contact` holds contacts ids, but pair `companies` syncs a.companies"),
            "{problems:?}"
        );
    }
}
