//! Associations between any two of contacts, deals and companies, read and
//! written from either end. Like object batches they take 1 to 100 inputs:
//! HubSpot documents higher caps here; the fake keeps the stricter one.

use super::reads::{batch_body, batch_inputs, input_id};
use super::routes::AssocOp;
use super::store::{Answer, HubSpotState, Kind};
use super::time::{format_iso, now_ms};
use crate::support::server::{Request, Response};
use serde_json::{Value, json};

impl HubSpotState {
    pub(super) fn read_associations(&mut self, from: Kind, to: Kind, req: &Request) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let started = format_iso(now_ms());
        let (type_id, singular) = (from.association(to).1, from.info().singular.to_lowercase());
        let (mut results, mut errors) = (vec![], vec![]);
        for input in &inputs {
            let key = input_id(input)?;
            let record = self.live_id(from, key);
            let linked = record
                .map(|id| self.associated(from, id, to))
                .unwrap_or_default();
            let offset = match input.get("after") {
                None => 0,
                Some(a) => (a.as_str().and_then(|a| a.parse::<usize>().ok()))
                    .ok_or(format!("invalid paging cursor {a}"))?,
            };
            let page = self.quirks.association_page.unwrap_or(usize::MAX);
            let more = linked.len() > offset.saturating_add(page);
            let linked: Vec<u64> = linked.into_iter().skip(offset).take(page).collect();
            if linked.is_empty() && offset == 0 {
                errors.push(json!({
                    "status": "error", "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": format!("No {} are associated with {singular} {key}.", to.info().name),
                    "context": { "fromObjectId": [key] },
                }));
                continue;
            }
            let kinds =
                json!([{ "category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null }]);
            // `toObjectId` is a string in the schema.
            let to: Vec<Value> = linked
                .iter()
                .map(|c| json!({ "toObjectId": c.to_string(), "associationTypes": kinds }))
                .collect();
            let mut result = json!({ "from": { "id": key }, "to": to });
            if more {
                result["paging"] = json!({ "next": { "after": (offset + page).to_string() } });
            }
            results.push(result);
        }
        results.reverse();
        if self.quirks.shuffled {
            self.shuffle(&mut results);
        }
        let status = if errors.is_empty() { 200 } else { 207 };
        Ok(Response::json(
            status,
            &batch_body(started, results, errors),
        ))
    }

    /// associate/default (`"to":{"id"}`) and archive (`"to":[{"id"}]`). A
    /// missing record at either end fails the batch on create; archive
    /// ignores it. Associations never move a record's modified time.
    pub(super) fn change_associations(
        &mut self,
        from: Kind,
        to: Kind,
        op: AssocOp,
        req: &Request,
    ) -> Answer {
        let (_, inputs) = batch_inputs(req)?;
        let started = format_iso(now_ms());
        let mut pairs = vec![];
        for input in &inputs {
            let from_id = input.pointer("/from/id").and_then(Value::as_str);
            let to_ids: Option<Vec<&str>> = match (op, input.get("to")) {
                (AssocOp::Create, Some(to)) => {
                    to.get("id").and_then(Value::as_str).map(|id| vec![id])
                }
                (_, Some(Value::Array(to))) => to
                    .iter()
                    .map(|t| t.get("id").and_then(Value::as_str))
                    .collect(),
                _ => None,
            };
            let (Some(from_id), Some(to_ids)) = (from_id, to_ids.filter(|t| !t.is_empty())) else {
                return Err("each input needs from.id and to ids".into());
            };
            let record = self.live_id(from, from_id);
            let others: Vec<Option<u64>> = to_ids.iter().map(|c| self.live_id(to, c)).collect();
            match (record, others.iter().all(Option::is_some)) {
                (Some(record), true) => pairs.push((record, others.into_iter().flatten())),
                _ if op == AssocOp::Archive => {}
                _ => {
                    let (a, b) = (
                        from.info().singular.to_lowercase(),
                        to.info().singular.to_lowercase(),
                    );
                    return Err(format!("{a} {from_id} or {b} {to_ids:?} does not exist").into());
                }
            }
        }
        let type_id = from.association(to).1;
        let mut results = vec![];
        for (record, others) in pairs {
            for other in others {
                if op == AssocOp::Archive {
                    self.unlink(from, record, to, other);
                    continue;
                }
                self.link(from, record, to, other);
                results.push(json!({
                    "from": { "id": record.to_string() }, "to": { "id": other.to_string() },
                    "associationSpec": { "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id },
                }));
            }
        }
        Ok(match op {
            AssocOp::Archive => Response::empty(204),
            _ => Response::json(200, &batch_body(started, results, vec![])),
        })
    }
}
