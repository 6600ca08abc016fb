//! Search: `POST /crm/objects/{version}/{objectType}/search` with filter
//! groups, sorts and the 10,000-result window, under the secondly search
//! limit.

use super::reads::body_properties;
use super::store::{Failure, HubSpotState, Kind};
use super::time::parse_instant;
use super::{
    DEFAULT_PAGE, FakeRecord, MAX_FILTER_GROUPS, MAX_FILTER_VALUES, MAX_FILTERS,
    MAX_FILTERS_PER_GROUP, MAX_SEARCH_PAGE, OPERATORS, SEARCH_WINDOW,
};
use serde_json::{Value, json};

/// A property value made comparable: numbers and instants as numbers,
/// everything else as lowercase text.
#[derive(Debug, PartialEq, PartialOrd)]
pub(super) enum Typed {
    Number(f64),
    Text(String),
}

pub(super) fn typed(kind: &str, raw: &str) -> Option<Typed> {
    match kind {
        "number" => raw.trim().parse().ok().map(Typed::Number),
        "date" | "datetime" => parse_instant(raw.trim()).map(|ms| Typed::Number(ms as f64)),
        _ => Some(Typed::Text(raw.to_lowercase())),
    }
}

pub(super) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

pub(super) struct Filter {
    pub(super) property: String,
    pub(super) kind: String,
    pub(super) operator: String,
    /// `value`, or each of `values` (`IN`, `NOT_IN`); none for
    /// `HAS_PROPERTY` / `NOT_HAS_PROPERTY`.
    pub(super) targets: Vec<Typed>,
}

impl Filter {
    /// As HubSpot documents the operators; a record without a value holds
    /// only `NOT_HAS_PROPERTY` (the stricter reading for `NOT_IN`, which
    /// the documents leave open). A multi-checkbox value (`a;b`) is in a
    /// list when one of its options is.
    pub(super) fn matches(&self, record: &FakeRecord) -> bool {
        let raw = record
            .properties
            .get(&self.property)
            .filter(|v| !v.is_empty());
        match self.operator.as_str() {
            "HAS_PROPERTY" => return raw.is_some(),
            "NOT_HAS_PROPERTY" => return raw.is_none(),
            _ => {}
        }
        let Some(raw) = raw else {
            return false;
        };
        let members: Vec<Typed> = if self.kind == "enumeration" {
            raw.split(';')
                .filter_map(|m| typed(&self.kind, m))
                .collect()
        } else {
            typed(&self.kind, raw).into_iter().collect()
        };
        let is_any = || members.iter().any(|m| self.targets.contains(m));
        match self.operator.as_str() {
            "GT" => members.iter().any(|m| *m > self.targets[0]),
            "GTE" => members.iter().any(|m| *m >= self.targets[0]),
            "EQ" | "IN" => is_any(),
            "NOT_IN" => !is_any(),
            other => unreachable!("operator {other} passed parsing"),
        }
    }
}

impl HubSpotState {
    pub(super) fn search(&self, kind: Kind, body: &Value) -> Result<Value, Failure> {
        if body.get("query").is_some() {
            return Err("the fake does not model free-text query; use filterGroups".into());
        }
        // `PublicObjectSearchRequest` requires all five.
        let required = ["after", "filterGroups", "limit", "properties", "sorts"];
        if let Some(missing) = required.iter().find(|f| body.get(**f).is_none()) {
            return Err(format!("{missing} is required in a search request").into());
        }
        let limit = match body.get("limit") {
            None => DEFAULT_PAGE,
            Some(l) => (l.as_u64().map(|l| l as usize))
                .filter(|l| (1..=MAX_SEARCH_PAGE).contains(l))
                .ok_or(format!("limit must be from 1 to {MAX_SEARCH_PAGE}"))?,
        };
        let offset = match body.get("after") {
            None | Some(Value::Null) => 0,
            Some(a) => (scalar_string(a).and_then(|a| a.parse::<usize>().ok()))
                .ok_or(format!("invalid paging cursor {a}"))?,
        };
        if offset >= SEARCH_WINDOW {
            return Err(format!("search cannot page past {SEARCH_WINDOW} results").into());
        }
        let groups = self.parse_filter_groups(kind, body)?;
        let sort = self.parse_sort(kind, body)?;
        let names = body_properties(body, kind, false)?;
        let wanted = |r: &&FakeRecord| groups.iter().any(|g| g.iter().all(|f| f.matches(r)));
        let mut hits: Vec<&FakeRecord> = self
            .live(kind)
            .filter(|r| groups.is_empty() || wanted(r))
            .collect();
        if let Some((property, kind_name, descending)) = sort {
            let key = |r: &FakeRecord| {
                r.properties
                    .get(&property)
                    .and_then(|v| typed(&kind_name, v))
            };
            hits.sort_by(|a, b| {
                let order = key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal);
                if descending { order.reverse() } else { order }
            });
        }
        let (total, end) = (hits.len(), (offset + limit).min(hits.len()));
        let page = hits.get(offset..end).unwrap_or_default();
        let results: Vec<Value> = page
            .iter()
            .map(|r| self.record_json(kind, r, &names, &[]))
            .collect();
        let mut out = json!({ "total": total, "results": results });
        if end < total {
            out["paging"] = json!({ "next": { "after": end.to_string() } });
        }
        Ok(out)
    }

    pub(super) fn parse_filter_groups(
        &self,
        kind: Kind,
        body: &Value,
    ) -> Result<Vec<Vec<Filter>>, Failure> {
        let groups = match body.get("filterGroups") {
            None => return Ok(vec![]),
            Some(Value::Array(groups)) => groups,
            Some(_) => return Err("filterGroups must be an array".into()),
        };
        let mut parsed = vec![];
        for group in groups {
            let filters = group
                .get("filters")
                .and_then(Value::as_array)
                .filter(|f| !f.is_empty());
            let filters = filters.ok_or("each filter group needs a non-empty filters array")?;
            if filters.len() > MAX_FILTERS_PER_GROUP {
                return Err(format!(
                    "a filter group holds at most {MAX_FILTERS_PER_GROUP} filters"
                )
                .into());
            }
            parsed.push(
                filters
                    .iter()
                    .map(|f| self.parse_filter(kind, f))
                    .collect::<Result<_, _>>()?,
            );
        }
        let total: usize = parsed.iter().map(Vec::len).sum();
        if groups.len() > MAX_FILTER_GROUPS || total > MAX_FILTERS {
            return Err(format!(
                "at most {MAX_FILTER_GROUPS} filter groups, {MAX_FILTERS} filters"
            )
            .into());
        }
        Ok(parsed)
    }

    pub(super) fn parse_filter(&self, kind: Kind, filter: &Value) -> Result<Filter, Failure> {
        let property = filter
            .get("propertyName")
            .and_then(Value::as_str)
            .ok_or("filters need a propertyName")?;
        let def = self
            .property(kind, property)
            .ok_or(format!("Property \"{property}\" does not exist"))?;
        let operator = filter
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !OPERATORS.contains(&operator) {
            return Err(format!("operator {operator:?} is not one of {OPERATORS:?}").into());
        }
        let typed_value = |value: &Value| {
            let target = scalar_string(value).and_then(|s| typed(&def.kind, &s));
            target.ok_or(format!("invalid value for {property} ({})", def.kind))
        };
        let targets = match operator {
            "HAS_PROPERTY" | "NOT_HAS_PROPERTY" => {
                if filter.get("value").is_some() || filter.get("values").is_some() {
                    return Err(format!("{operator} takes no value").into());
                }
                Vec::new()
            }
            "IN" | "NOT_IN" => {
                if filter.get("value").is_some() {
                    return Err(format!("{operator} takes `values`, not `value`").into());
                }
                let values = filter
                    .get("values")
                    .and_then(Value::as_array)
                    .filter(|v| !v.is_empty())
                    .ok_or(format!("{operator} needs a non-empty values array"))?;
                if values.len() > MAX_FILTER_VALUES {
                    return Err(
                        format!("{operator} takes at most {MAX_FILTER_VALUES} values").into(),
                    );
                }
                values
                    .iter()
                    .map(typed_value)
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => {
                if filter.get("values").is_some() {
                    return Err(format!("{operator} takes `value`, not `values`").into());
                }
                let value = filter
                    .get("value")
                    .ok_or(format!("{operator} needs a value"))?;
                vec![typed_value(value)?]
            }
        };
        let (property, kind, operator) = (property.into(), def.kind.clone(), operator.into());
        Ok(Filter {
            property,
            kind,
            operator,
            targets,
        })
    }

    /// At most one sort rule (HubSpot's documented limit, as we read it).
    /// Returns (property, its type, descending).
    pub(super) fn parse_sort(
        &self,
        kind: Kind,
        body: &Value,
    ) -> Result<Option<(String, String, bool)>, Failure> {
        let sorts = match body.get("sorts") {
            None => return Ok(None),
            Some(Value::Array(sorts)) if sorts.len() <= 1 => sorts,
            Some(_) => return Err("sorts must be an array of at most one rule".into()),
        };
        let Some(sort) = sorts.first() else {
            return Ok(None);
        };
        let property = sort
            .get("propertyName")
            .and_then(Value::as_str)
            .ok_or("sorts need a propertyName")?;
        let def = self
            .property(kind, property)
            .ok_or(format!("Property \"{property}\" does not exist"))?;
        let descending = match sort.get("direction").and_then(Value::as_str) {
            None | Some("ASCENDING") => false,
            Some("DESCENDING") => true,
            Some(other) => {
                return Err(
                    format!("direction must be ASCENDING or DESCENDING, not {other}").into(),
                );
            }
        };
        Ok(Some((property.into(), def.kind.clone(), descending)))
    }
}
