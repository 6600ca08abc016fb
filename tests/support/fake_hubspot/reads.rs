//! Reads: listing with cursor paging, get by id or unique property, batch
//! read, and the JSON form of a record with its requested properties and
//! associations. Reads never change the account.

use super::store::{Answer, Failure, HubSpotState, Kind};
use super::time::{format_iso, now_ms};
use super::{DEFAULT_PAGE, FakeRecord, MAX_BATCH, MAX_PAGE};
use crate::support::server::{Request, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// Parses `limit`. Values outside 1..=max answer 400: what HubSpot does is
/// undocumented, and refusing is the stricter reading.
pub(super) fn page_limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, String> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "limit must be an integer from 1 to {max}, got {raw:?}"
        )),
    }
}

pub(super) fn cursor(raw: Option<&str>) -> Result<u64, String> {
    raw.map_or(Ok(0), |a| {
        a.parse()
            .map_err(|_| format!("invalid paging cursor {a:?}"))
    })
}

/// Cuts one page of `limit` items; returns the page and the next cursor.
pub(super) fn cut_page<T>(
    mut items: Vec<T>,
    limit: usize,
    id: impl Fn(&T) -> u64,
) -> (Vec<T>, Option<u64>) {
    let next = items.get(limit).map(id);
    items.truncate(limit);
    (items, next)
}

pub(super) fn with_paging(req: &Request, mut body: Value, next: Option<u64>) -> Response {
    if let Some(next) = next {
        let host = req.header("host").unwrap_or("127.0.0.1");
        let link = format!("http://{host}{}?after={next}", req.path);
        body["paging"] = json!({ "next": { "after": next.to_string(), "link": link } });
    }
    Response::json(200, &body)
}

/// Property names asked for with `properties=a,b` (repeatable), or the defaults.
pub(super) fn requested_properties(req: &Request, kind: Kind) -> Vec<String> {
    if req.query_param("properties").is_none() {
        return kind.default_properties();
    }
    let lists = req.query.iter().filter(|(k, _)| k == "properties");
    let names = lists
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    names.map(str::to_string).collect()
}

/// The objects named by `associations=a,b` (repeatable). An unknown
/// object, or the record's own, is refused: HubSpot's answer to either is
/// undocumented, and refusing is the stricter reading.
pub(super) fn wants_associations(req: &Request, kind: Kind) -> Result<Vec<Kind>, Failure> {
    let lists = req.query.iter().filter(|(k, _)| k == "associations");
    let names = lists
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut kinds = vec![];
    for name in names {
        match Kind::parse(name) {
            Some(other) if other != kind => kinds.push(other),
            _ => {
                return Err(format!(
                    "associations: {name} is not an object associated with {}",
                    kind.info().name
                )
                .into());
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// `properties` from a JSON body: an array of names, or the defaults if absent.
pub(super) fn body_properties(
    body: &Value,
    kind: Kind,
    required: bool,
) -> Result<Vec<String>, String> {
    let bad = || "properties must be an array of property names".to_string();
    match body.get("properties") {
        None if !required => Ok(kind.default_properties()),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// Parses a batch body and checks its `inputs`: 1 to 100 of them.
pub(super) fn batch_inputs(req: &Request) -> Result<(Value, Vec<Value>), Failure> {
    let body = req.json()?;
    let Some(Value::Array(inputs)) = body.get("inputs") else {
        return Err("inputs must be an array".into());
    };
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        let count = inputs.len();
        return Err(format!("inputs must hold 1 to {MAX_BATCH} items, not {count}").into());
    }
    let inputs = inputs.clone();
    Ok((body, inputs))
}

pub(super) fn input_id(input: &Value) -> Result<&str, Failure> {
    input
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| "each input needs a string id".into())
}

pub(super) fn batch_body(started: String, results: Vec<Value>, errors: Vec<Value>) -> Value {
    let completed = format_iso(now_ms());
    let mut body = json!({
        "status": "COMPLETE", "results": results, "startedAt": started, "completedAt": completed,
    });
    if !errors.is_empty() {
        body["numErrors"] = json!(errors.len());
        body["errors"] = json!(errors);
    }
    body
}

impl HubSpotState {
    /// A record as the API shows it: the requested properties that exist
    /// (unset ones as null, unknown names silently dropped), plus the built-ins.
    pub(super) fn record_json(
        &self,
        kind: Kind,
        record: &FakeRecord,
        names: &[String],
        links: &[Kind],
    ) -> Value {
        let mut props = Map::new();
        for name in names.iter().map(String::as_str).chain(kind.builtins()) {
            if self.property(kind, name).is_some() {
                let value = record
                    .properties
                    .get(name)
                    .map_or(Value::Null, |v| json!(v));
                props.insert(name.to_string(), value);
            }
        }
        let mut out = json!({
            "id": record.id, "properties": props, "createdAt": format_iso(record.created_ms),
            "updatedAt": format_iso(record.updated_ms), "archived": record.archived,
        });
        // An object with no associations is left out of the map, and the
        // map itself when it would be empty, as HubSpot answers.
        let mut associations = Map::new();
        for other in links {
            let linked = self.associated(kind, record.id.parse().unwrap_or(0), *other);
            if linked.is_empty() {
                continue;
            }
            let label = kind.association(*other).0;
            let page = self.quirks.association_page.unwrap_or(usize::MAX);
            let results: Vec<Value> = linked
                .iter()
                .take(page)
                .map(|id| json!({ "id": id.to_string(), "type": label }))
                .collect();
            let mut list = json!({ "results": results });
            if linked.len() > page {
                list["paging"] = json!({ "next": { "after": page.to_string() } });
            }
            associations.insert(other.info().name.to_string(), list);
        }
        if !associations.is_empty() {
            out["associations"] = Value::Object(associations);
        }
        out
    }

    pub(super) fn list(&self, kind: Kind, req: &Request) -> Answer {
        let limit = page_limit(req.query_param("limit"), DEFAULT_PAGE, MAX_PAGE)?;
        let after = cursor(req.query_param("after"))?;
        let archived = match req.query_param("archived") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(format!("archived must be true or false, not {other}").into());
            }
        };
        let (names, links) = (
            requested_properties(req, kind),
            wants_associations(req, kind)?,
        );
        let matching = self
            .table(kind)
            .range(after..)
            .map(|(_, r)| r)
            .filter(|r| r.archived == archived);
        let (page, next) = cut_page(matching.take(limit + 1).collect(), limit, |r| {
            r.id.parse().unwrap_or(0)
        });
        let results: Vec<Value> = page
            .iter()
            .map(|r| self.record_json(kind, r, &names, &links))
            .collect();
        Ok(with_paging(req, json!({ "results": results }), next))
    }

    /// Finds a live record by id, or by a unique property with `idProperty`.
    /// Writes take live ids only: an update by a merged-away id is refused
    /// as not found (HubSpot documents that reads by an old id return the
    /// merged record, not that writes follow it: the stricter reading).
    pub(super) fn resolve(
        &self,
        kind: Kind,
        key: &str,
        id_property: Option<&str>,
    ) -> Result<Option<u64>, Failure> {
        let Some(prop) = id_property.filter(|p| *p != "hs_object_id") else {
            return Ok(self.live_id(kind, key));
        };
        if !self.property(kind, prop).is_some_and(|d| d.unique) {
            return Err(format!("idProperty {prop} is not a property with hasUniqueValue").into());
        }
        Ok(self.holders(kind, prop, key).first().copied())
    }

    /// `resolve` for reads (GET and batch read): an id merged away answers
    /// the record it was merged into, with that record's (new) id.
    pub(super) fn resolve_read(
        &self,
        kind: Kind,
        key: &str,
        id_property: Option<&str>,
    ) -> Result<Option<u64>, Failure> {
        let by_id = id_property.is_none_or(|p| p == "hs_object_id");
        let merged = key
            .parse()
            .ok()
            .and_then(|id| self.merged_into.get(&(kind, id)));
        match merged {
            Some(into) if by_id => Ok(self.live_id(kind, &into.to_string())),
            _ => self.resolve(kind, key, id_property),
        }
    }

    pub(super) fn get_one(&self, kind: Kind, id: &str, req: &Request) -> Answer {
        let Some(id) = self.resolve_read(kind, id, req.query_param("idProperty"))? else {
            return Err(Failure {
                category: "OBJECT_NOT_FOUND",
                message: "Object not found.".into(),
            });
        };
        let names = requested_properties(req, kind);
        let body = self.record_json(
            kind,
            &self.table(kind)[&id],
            &names,
            &wants_associations(req, kind)?,
        );
        Ok(Response::json(200, &body))
    }

    pub(super) fn batch_read(&self, kind: Kind, req: &Request) -> Answer {
        let (body, inputs) = batch_inputs(req)?;
        // The published schema marks `properties` and `propertiesWithHistory`
        // required; the fake insists.
        let names = body_properties(&body, kind, true)?;
        if !body
            .get("propertiesWithHistory")
            .is_some_and(Value::is_array)
        {
            return Err("propertiesWithHistory is required (an array of property names)".into());
        }
        let id_property = body.get("idProperty").and_then(Value::as_str);
        let started = format_iso(now_ms());
        let (mut found, mut missing) = (BTreeSet::new(), vec![]);
        for input in &inputs {
            let key = input_id(input)?;
            match self.resolve_read(kind, key, id_property)? {
                Some(id) => _ = found.insert(id),
                None => missing.push(key),
            }
        }
        // Reversed on purpose: clients must match results by id, not position.
        let table = self.table(kind);
        let results = found
            .iter()
            .rev()
            .map(|id| self.record_json(kind, &table[id], &names, &[]));
        let mut errors = vec![];
        if !missing.is_empty() {
            let object = kind.info().singular.to_uppercase();
            errors.push(json!({
                "status": "error", "category": "OBJECT_NOT_FOUND", "context": { "ids": missing },
                "message": format!("Could not get some {object} objects, they may be deleted or not exist. Check that ids are valid."),
            }));
        }
        let status = if errors.is_empty() { 200 } else { 207 };
        Ok(Response::json(
            status,
            &batch_body(started, results.collect(), errors),
        ))
    }
}
