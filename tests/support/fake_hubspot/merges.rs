//! Merges: `POST /crm/objects/{version}/{objectType}/merge`, which makes a
//! new record that both old ids resolve to and writes the read-only merge
//! properties.

use super::store::{Answer, Failure, HubSpotState, Kind};
use super::time::{format_iso, now_ms};
use super::{ADDITIONAL_EMAILS, FakeRecord, MERGED_IDS};
use crate::support::server::{Request, Response};
use serde_json::Value;

/// The items of a semicolon-separated list property, trimmed, blanks dropped.
pub(super) fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(';').map(str::trim).filter(|s| !s.is_empty())
}

impl HubSpotState {
    /// The endpoint: `PublicMergeInput` in, `SimplePublicObject` (the new
    /// record) out with 200. Both fields are required strings and nothing
    /// else is taken (the stricter reading of the schema).
    pub(super) fn merge_endpoint(&mut self, kind: Kind, req: &Request) -> Answer {
        let body = req.json()?;
        let Some(fields) = body.as_object() else {
            return Err("the body must be a PublicMergeInput object".into());
        };
        let required = ["primaryObjectId", "objectIdToMerge"];
        if let Some(extra) = fields.keys().find(|k| !required.contains(&k.as_str())) {
            return Err(format!("Unrecognized field \"{extra}\" in PublicMergeInput").into());
        }
        let missing: Vec<&str> = (required.iter().copied())
            .filter(|f| !fields.get(*f).is_some_and(Value::is_string))
            .collect();
        if !missing.is_empty() {
            let missing = missing.join(", ");
            return Err(format!(
                "Invalid input JSON: Some required fields were not set or are not strings: [{missing}]"
            )
            .into());
        }
        let text = |f: &str| fields[f].as_str().unwrap_or_default().to_string();
        let id = self.merge_records(kind, &text(required[0]), &text(required[1]))?;
        let mut names = kind.default_properties();
        names.push(MERGED_IDS.into());
        if kind == Kind::Contacts {
            names.push(ADDITIONAL_EMAILS.into());
        }
        let record = &self.table(kind)[&id];
        Ok(Response::json(
            200,
            &self.record_json(kind, record, &names, &[]),
        ))
    }

    /// Merges two live records of `kind` into a NEW record and returns its
    /// id, as HubSpot does for contacts and companies since its 2025 change
    /// (and, by that change's own account, already did for other objects):
    /// - values: the primary's win; a property only the other has is kept;
    /// - `email` (contacts): the primary's, else the other's; every other
    ///   address of both records goes to `hs_additional_emails`;
    /// - `hs_merged_object_ids`: both old ids and the ids they had merged in;
    /// - associations of both move to the new record (once each);
    /// - both old ids resolve to the new record on GET and batch read, and
    ///   leave every list and search; writes by an old id are not found;
    /// - `createdate` is the older of the two (undocumented; the fake's
    ///   reading); the modified time is later than either record's.
    pub(super) fn merge_records(
        &mut self,
        kind: Kind,
        primary: &str,
        other: &str,
    ) -> Result<u64, Failure> {
        let not_found = |key: &str| Failure {
            category: "OBJECT_NOT_FOUND",
            message: format!("Object not found. objectId: {key}"),
        };
        // An id merged away earlier is not live: merging by it is refused
        // (whether HubSpot follows the old id here is undocumented).
        let a = self
            .live_id(kind, primary)
            .ok_or_else(|| not_found(primary))?;
        let b = self.live_id(kind, other).ok_or_else(|| not_found(other))?;
        if a == b {
            let message = format!("Cannot merge {} {a} with itself", kind.info().singular);
            return Err(message.into());
        }
        let (primary_record, other_record) =
            (self.table(kind)[&a].clone(), self.table(kind)[&b].clone());
        let mut properties = other_record.properties.clone();
        properties.extend(primary_record.properties.clone());
        if kind == Kind::Deals && primary_record.properties.contains_key("pipeline") {
            // A stage belongs to its pipeline: the pair comes from the primary.
            properties.remove("dealstage");
            properties.extend(
                primary_record
                    .properties
                    .get("dealstage")
                    .map(|s| ("dealstage".into(), s.clone())),
            );
        }
        let mut merged_ids: Vec<u64> = [&primary_record, &other_record]
            .iter()
            .filter_map(|r| r.properties.get(MERGED_IDS))
            .flat_map(|raw| {
                split_list(raw)
                    .filter_map(|id| id.parse().ok())
                    .collect::<Vec<u64>>()
            })
            .chain([a, b])
            .collect();
        merged_ids.sort();
        merged_ids.dedup();
        let merged_ids: Vec<String> = merged_ids.iter().map(u64::to_string).collect();
        properties.insert(MERGED_IDS.into(), merged_ids.join(";"));
        if kind == Kind::Contacts {
            let email = properties.get("email").cloned().unwrap_or_default();
            let addresses = [&primary_record, &other_record].into_iter().flat_map(|r| {
                let own = r.properties.get("email").map(String::as_str);
                let extra = r
                    .properties
                    .get(ADDITIONAL_EMAILS)
                    .map_or("", String::as_str);
                own.into_iter()
                    .chain(split_list(extra))
                    .map(str::to_lowercase)
                    .collect::<Vec<_>>()
            });
            let mut additional: Vec<String> = vec![];
            for address in addresses {
                if address != email.to_lowercase() && !additional.contains(&address) {
                    additional.push(address);
                }
            }
            properties.remove(ADDITIONAL_EMAILS);
            if !additional.is_empty() {
                properties.insert(ADDITIONAL_EMAILS.into(), additional.join(";"));
            }
        }
        let now = now_ms()
            .max(primary_record.updated_ms + 1)
            .max(other_record.updated_ms + 1);
        let created_ms = primary_record.created_ms.min(other_record.created_ms);
        for old in [a, b] {
            self.reindex(kind, old, false);
            self.records.entry(kind).or_default().remove(&old);
        }
        let id = self.alloc_id();
        properties.insert("hs_object_id".into(), id.to_string());
        properties.insert(kind.builtins()[1].into(), format_iso(created_ms));
        properties.insert(kind.builtins()[2].into(), format_iso(now));
        let fresh = || FakeRecord {
            id: id.to_string(),
            properties,
            created_ms,
            updated_ms: now,
            archived: false,
        };
        self.change_or_create(kind, id, fresh, |_| ());
        for into in self.merged_into.values_mut() {
            if *into == a || *into == b {
                *into = id;
            }
        }
        self.merged_into.insert((kind, a), id);
        self.merged_into.insert((kind, b), id);
        for old in [a, b] {
            let Some(linked) = self.links.remove(&(kind, old)) else {
                continue;
            };
            for (other_kind, ids) in linked {
                for other_id in ids {
                    self.unlink(kind, old, other_kind, other_id);
                    self.link(kind, id, other_kind, other_id);
                }
            }
        }
        Ok(id)
    }
}
