//! Writes: one validation path for create, update and upsert (API, seeding
//! and edits), unique emails and domains, 207 multi-status batches keyed by
//! `objectWriteTraceId`, and batch archive.

use super::reads::{batch_body, batch_inputs, input_id};
use super::routes::WriteOp;
use super::store::{Answer, Failure, HubSpotState, KINDS, Kind, splitmix};
use super::time::{format_iso, now_ms, parse_date_value, parse_instant};
use super::{ADDITIONAL_EMAILS, FakeRecord};
use crate::support::server::{Request, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// One invalid property value, as listed inside a VALIDATION_ERROR message.
pub(super) struct Problem {
    pub(super) code: &'static str,
    pub(super) name: String,
    pub(super) message: String,
}

impl Problem {
    pub(super) fn new(code: &'static str, name: &str, message: String) -> Problem {
        Problem {
            code,
            name: name.into(),
            message,
        }
    }

    pub(super) fn json(&self) -> String {
        let (message, code, name) = (json!(self.message), self.code, json!(self.name));
        format!(r#"{{"isValid":false,"message":{message},"error":"{code}","name":{name}}}"#)
    }
}

/// A validated write, ready to apply.
pub(super) struct PlannedWrite {
    /// None creates a record.
    pub(super) target: Option<u64>,
    /// Normalised values; "" clears.
    pub(super) values: BTreeMap<String, String>,
    /// Records of other kinds to associate with.
    pub(super) links: Vec<(Kind, u64)>,
}

impl HubSpotState {
    /// Validates one input of a create, update or upsert. `claims` holds
    /// ids and unique values taken by earlier inputs of the same batch.
    pub(super) fn plan_write(
        &self,
        kind: Kind,
        op: WriteOp,
        input: &Value,
        claims: &mut BTreeSet<String>,
    ) -> Result<PlannedWrite, Failure> {
        let props = input.get("properties").and_then(Value::as_object);
        let mut props = props
            .cloned()
            .ok_or("each input needs a properties object")?;
        let id_property = input.get("idProperty").and_then(Value::as_str);
        let target = match op {
            WriteOp::Create => None,
            WriteOp::Update => {
                let key = input_id(input)?;
                let Some(id) = self.resolve(kind, key, id_property)? else {
                    let message = format!("Object not found. objectId: {key}");
                    return Err(Failure {
                        category: "OBJECT_NOT_FOUND",
                        message,
                    });
                };
                claim(claims, format!("id:{id}"), key)?;
                Some(id)
            }
            WriteOp::Upsert => {
                let key = input_id(input)?;
                let prop = id_property.filter(|p| *p != "hs_object_id");
                let prop = prop.ok_or("upsert needs an idProperty with hasUniqueValue")?;
                let found = self.resolve(kind, key, Some(prop))?;
                claim(
                    claims,
                    format!("id:{prop}:{}", key.trim().to_lowercase()),
                    key,
                )?;
                if let Some(id) = found {
                    claim(claims, format!("id:{id}"), key)?;
                }
                props.entry(prop).or_insert_with(|| json!(key));
                found
            }
        };
        let values = self.validate(kind, &props, target)?;
        self.check_unique(kind, &values, target, claims)?;
        let links = if op == WriteOp::Create {
            self.plan_links(kind, input)?
        } else {
            vec![]
        };
        Ok(PlannedWrite {
            target,
            values,
            links,
        })
    }

    /// Checks every property of one input; all problems go in one message.
    pub(super) fn validate(
        &self,
        kind: Kind,
        props: &Map<String, Value>,
        target: Option<u64>,
    ) -> Result<BTreeMap<String, String>, Failure> {
        let existing = target.map(|id| &self.table(kind)[&id]);
        let kept = |name: &str| existing.and_then(|r| r.properties.get(name).cloned());
        let asked = props
            .get("pipeline")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty());
        let pipeline = asked
            .map(str::to_string)
            .or_else(|| kept("pipeline"))
            .unwrap_or("default".into());
        let mut values = BTreeMap::new();
        let mut problems = vec![];
        for (name, raw) in props {
            match self.check_value(kind, name, raw, &pipeline) {
                Ok(value) => _ = values.insert(name.clone(), value),
                Err(problem) => problems.push(problem),
            }
        }
        if kind == Kind::Notes {
            // `hs_timestamp` is required on a new note, and may not be
            // emptied; the body has a length limit (notes guide).
            let stamp = values.get("hs_timestamp").map(String::as_str);
            let cleared = props.contains_key("hs_timestamp") && stamp == Some("");
            if (target.is_none() && stamp.is_none_or(str::is_empty)) || cleared {
                problems.push(Problem::new(
                    "REQUIRED_PROPERTY",
                    "hs_timestamp",
                    "hs_timestamp is required on a note".into(),
                ));
            }
            let body = values.get("hs_note_body").map_or(0, |b| b.chars().count());
            if body > super::store::NOTE_BODY_MAX {
                problems.push(Problem::new(
                    "INVALID_STRING_LENGTH",
                    "hs_note_body",
                    format!(
                        "hs_note_body is {body} characters; at most {} are allowed",
                        super::store::NOTE_BODY_MAX
                    ),
                ));
            }
        }
        if kind == Kind::Deals {
            // A new deal without a pipeline goes to the default one; an
            // update that names none leaves the deal's pipeline alone.
            if target.is_none() {
                let chosen = values.entry("pipeline".into()).or_default();
                if chosen.is_empty() {
                    *chosen = pipeline.clone();
                }
            }
            // Moving a deal to another pipeline must not strand its stage.
            if let Some(stage) = kept("dealstage").filter(|_| !props.contains_key("dealstage")) {
                let def = self
                    .property(kind, "dealstage")
                    .expect("dealstage is built in");
                if !self
                    .options(def, Some(&pipeline))
                    .iter()
                    .any(|(v, _)| *v == stage)
                {
                    problems.push(option_problem("dealstage", &stage));
                }
            }
        }
        if problems.is_empty() {
            return Ok(values);
        }
        let listed: Vec<String> = problems.iter().map(Problem::json).collect();
        Err(format!("Property values were not valid: [{}]", listed.join(",")).into())
    }

    /// Validates and normalises one value by its property's type.
    pub(super) fn check_value(
        &self,
        kind: Kind,
        name: &str,
        raw: &Value,
        pipeline: &str,
    ) -> Result<String, Problem> {
        let problem = |code, message: String| Err(Problem::new(code, name, message));
        let Some(def) = self.property(kind, name) else {
            return problem(
                "PROPERTY_DOESNT_EXIST",
                format!("Property \"{name}\" does not exist"),
            );
        };
        if def.read_only {
            return problem(
                "READ_ONLY_VALUE",
                format!("\"{name}\" is a read only property; its value cannot be set."),
            );
        }
        // The published schema types every value as a string; HubSpot may
        // coerce JSON numbers, the fake refuses them (the stricter reading).
        let Some(raw) = raw.as_str() else {
            return problem("INVALID_TYPE", format!("{raw} is not a string"));
        };
        let value = raw.trim();
        let allowed = || {
            self.options(def, Some(pipeline))
                .iter()
                .any(|(v, _)| v == raw)
        };
        match def.kind.as_str() {
            _ if raw.is_empty() => Ok(String::new()),
            "string" if name == "email" => match value.to_lowercase() {
                email if is_email(&email) => Ok(email),
                _ => problem("INVALID_EMAIL", format!("Email address {raw} is invalid")),
            },
            "number" if is_number(value) => Ok(value.to_string()),
            "number" => problem("INVALID_FLOAT", format!("{raw} was not a valid number.")),
            "bool" if value == "true" || value == "false" => Ok(value.to_string()),
            "bool" => problem("INVALID_BOOLEAN", format!("{raw} is not true or false.")),
            "date" => match parse_date_value(value) {
                Some(day) => Ok(day),
                None => problem(
                    "INVALID_DATE",
                    format!("{raw} is not YYYY-MM-DD or midnight UTC ms"),
                ),
            },
            "datetime" => match parse_instant(value) {
                Some(ms) => Ok(format_iso(ms)),
                None => problem(
                    "INVALID_DATETIME",
                    format!("{raw} is not epoch ms or ISO 8601"),
                ),
            },
            "enumeration" if allowed() => Ok(raw.to_string()),
            "enumeration" => Err(option_problem(name, raw)),
            _ => Ok(raw.to_string()),
        }
    }

    /// A unique value may be held by one live record only (case-insensitive).
    pub(super) fn check_unique(
        &self,
        kind: Kind,
        values: &BTreeMap<String, String>,
        target: Option<u64>,
        claims: &mut BTreeSet<String>,
    ) -> Result<(), Failure> {
        let unique = |name: &str| self.property(kind, name).is_some_and(|d| d.unique);
        for (name, value) in values.iter().filter(|(n, v)| !v.is_empty() && unique(n)) {
            let lower = value.to_lowercase();
            let mut holders = self.holders(kind, name, value);
            // HubSpot keeps an address on one contact, as its email or as
            // one of its additional emails; taking another contact's
            // additional email is refused like taking its email (the
            // stricter reading: what HubSpot answers is not documented).
            if kind == Kind::Contacts && name == "email" {
                holders.extend(self.holders(kind, ADDITIONAL_EMAILS, value));
            }
            if let Some(holder) = holders.iter().find(|id| Some(**id) != target) {
                let message = format!(
                    "{} already exists. Existing ID: {}",
                    kind.info().singular,
                    holder
                );
                return Err(Failure {
                    category: "CONFLICT",
                    message,
                });
            }
            // Two inputs of one batch claiming the same value: what HubSpot
            // answers is undocumented; the fake refuses the later one.
            if !claims.insert(format!("unique:{name}:{lower}")) {
                let message = format!("Duplicate value in batch input: {name} = {value}");
                return Err(Failure {
                    category: "CONFLICT",
                    message,
                });
            }
        }
        Ok(())
    }

    /// `associations` on a create: `[{"to":{"id"},"types":[{"associationCategory","associationTypeId"}]}]`.
    /// The type id names the object `to.id` belongs to; only the default
    /// (unlabeled) types are modelled.
    pub(super) fn plan_links(
        &self,
        kind: Kind,
        input: &Value,
    ) -> Result<Vec<(Kind, u64)>, Failure> {
        let Some(list) = input.get("associations") else {
            return Ok(vec![]);
        };
        let list = list.as_array().ok_or("associations must be an array")?;
        let link = |a: &Value| {
            let to = a
                .pointer("/to/id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let types = a
                .get("types")
                .and_then(Value::as_array)
                .filter(|t| t.len() == 1);
            let spec = |other: Kind| json!({ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": kind.association(other).1 });
            let other = KINDS
                .into_iter()
                .filter(|o| *o != kind)
                .find(|o| types.is_some_and(|t| t[0] == spec(*o)));
            let Some(other) = other else {
                return Err(format!(
                    "association types must be one default type of {}",
                    kind.info().name
                )
                .into());
            };
            let missing = || {
                format!(
                    "association target {to:?} is not a live {}",
                    other.info().singular
                )
            };
            let id = self
                .live_id(other, to)
                .ok_or_else(|| Failure::from(missing()))?;
            Ok((other, id))
        };
        list.iter().map(link).collect()
    }

    /// Writes a planned input; every write advances the modified time.
    /// Returns the id and whether the record was created.
    pub(super) fn apply_write(&mut self, kind: Kind, plan: PlannedWrite) -> (u64, bool) {
        // Wall time, as HubSpot stamps: the records of one batch share a
        // modified time (which is why incremental paging must not rely on
        // it being unique); a record's own time still moves on every write.
        let now = now_ms();
        let (id, created) = match plan.target {
            Some(id) => (id, false),
            None => (self.alloc_id(), true),
        };
        let fresh = || FakeRecord {
            id: id.to_string(),
            properties: BTreeMap::new(),
            created_ms: now,
            updated_ms: now,
            archived: false,
        };
        self.change_or_create(kind, id, fresh, |record| {
            for (name, value) in plan.values {
                if value.is_empty() {
                    record.properties.remove(&name);
                } else {
                    record.properties.insert(name, value);
                }
            }
            record.updated_ms = now.max(record.updated_ms + i64::from(!created));
            let stamps = [
                (kind.builtins()[1], record.created_ms),
                (kind.builtins()[2], record.updated_ms),
            ];
            record
                .properties
                .insert("hs_object_id".into(), id.to_string());
            record
                .properties
                .extend(stamps.map(|(name, ms)| (name.to_string(), format_iso(ms))));
        });
        for (other, other_id) in plan.links {
            self.link(kind, id, other, other_id);
        }
        (id, created)
    }

    /// Reorders an answer's results (Fisher–Yates on `splitmix`), differently
    /// for every answer.
    pub(super) fn shuffle(&mut self, results: &mut [Value]) {
        self.shuffles += 1;
        let mut seed = self.shuffles;
        for i in (1..results.len()).rev() {
            seed = splitmix(seed);
            results.swap(i, (seed % (i as u64 + 1)) as usize);
        }
    }

    /// One write outside HTTP (seed, edit).
    pub(super) fn write_one(
        &mut self,
        kind: Kind,
        op: WriteOp,
        input: &Value,
    ) -> Result<String, Failure> {
        let plan = self.plan_write(kind, op, input, &mut BTreeSet::new())?;
        Ok(self.apply_write(kind, plan).0.to_string())
    }

    /// batch/create, batch/update, batch/upsert. Partial success (207) only
    /// when every input carries a distinct objectWriteTraceId; otherwise one
    /// bad input fails the batch and nothing is written.
    pub(super) fn batch_write(&mut self, kind: Kind, op: WriteOp, req: &Request) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let trace = |i: &Value| match i.get("objectWriteTraceId") {
            None => Ok(None),
            Some(Value::String(t)) => Ok(Some(t.clone())),
            Some(_) => Err("objectWriteTraceId must be a string"),
        };
        let traces = inputs.iter().map(trace).collect::<Result<Vec<_>, _>>()?;
        // `SimplePublicObjectBatchInputForCreate` requires the list.
        if op == WriteOp::Create
            && !inputs
                .iter()
                .all(|i| i.get("associations").is_some_and(Value::is_array))
        {
            return Err("each create input needs an associations array (empty for none)".into());
        }
        let quirks = self.quirks;
        let partial = traces.iter().flatten().collect::<BTreeSet<_>>().len() == inputs.len();
        let started = format_iso(now_ms());
        let (mut claims, mut plans, mut errors) = (BTreeSet::new(), vec![], vec![]);
        for (input, trace) in inputs.iter().zip(traces) {
            match self.plan_write(kind, op, input, &mut claims) {
                Ok(plan) => plans.push((trace, plan)),
                Err(e) if partial => {
                    let context = match (quirks.no_trace_ids, input.get("id")) {
                        (false, _) => json!({ "objectWriteTraceId": [trace] }),
                        (true, Some(id)) => json!({ "ids": [id] }),
                        (true, None) => json!({}),
                    };
                    errors.push(json!({
                        "status": "error", "category": e.category, "message": e.message,
                        "context": context,
                    }))
                }
                Err(e) => return Err(e),
            }
        }
        let mut results = vec![];
        for (trace, plan) in plans {
            let names: Vec<String> = plan.values.keys().cloned().collect();
            let (id, created) = self.apply_write(kind, plan);
            let mut result = self.record_json(kind, &self.table(kind)[&id], &names, &[]);
            if let Some(trace) = trace.filter(|_| !quirks.no_trace_ids) {
                result["objectWriteTraceId"] = json!(trace);
            }
            if op == WriteOp::Upsert {
                result["new"] = json!(created);
            }
            results.push(result);
        }
        // Reversed (or shuffled) on purpose: clients must not match by position.
        results.reverse();
        if quirks.shuffled {
            self.shuffle(&mut results);
        }
        let status = match (errors.is_empty(), op) {
            (false, _) => 207,
            (true, WriteOp::Create) => 201,
            (true, _) => 200,
        };
        Ok(Response::json(
            status,
            &batch_body(started, results, errors),
        ))
    }

    /// batch/archive: 204 whether or not the ids exist.
    pub(super) fn batch_archive(&mut self, kind: Kind, req: &Request) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let keys = inputs.iter().map(input_id).collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<u64> = keys
            .iter()
            .filter_map(|key| self.live_id(kind, key))
            .collect();
        for id in ids {
            self.change_record(kind, id, |r| r.archived = true);
        }
        Ok(Response::empty(204))
    }
}

pub(super) fn claim(
    claims: &mut BTreeSet<String>,
    claim: String,
    key: &str,
) -> Result<(), Failure> {
    match claims.insert(claim) {
        true => Ok(()),
        false => Err(format!("Duplicate IDs found in batch input: [{key}]").into()),
    }
}

pub(super) fn option_problem(name: &str, value: &str) -> Problem {
    Problem::new(
        "INVALID_OPTION",
        name,
        format!("{value} was not one of the allowed options"),
    )
}

pub(super) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && !host.is_empty()
        && !host.starts_with('.')
        && !domain.contains(['@', ' '])
        && !domain.contains("..")
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(super) fn is_number(s: &str) -> bool {
    let numeric = |c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E');
    s.chars().all(numeric) && s.parse::<f64>().is_ok_and(f64::is_finite)
}
