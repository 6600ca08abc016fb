//! HubSpot associations: a record's related records of another object
//! (a deal's `contact` and `contacts`; a contact's or a deal's
//! `primary_company` and `companies`), read with the associations batch API
//! where a listing does not carry them whole, and written after the records
//! exist by moving each record's associations from its old related records
//! to its new ones (`relink`). One code path serves every (from, to) pair.
//!
//! The relation fields themselves (names, which object each points at,
//! primary or all) are `fields`'s; this file makes the association requests
//! and must not touch properties.

use super::api::{AssociateInput, AssociationsInput, AssociationsPage, DissociateInput, IdInput};
use super::fields::{Relink, set_relations, type_name, value_text};
use super::{HubSpot, MAX_BATCH};
use crate::connector::http::{ApiError, Repeat};
use crate::connector::seam::{Connector, WriteOutcome, WriteResult};
use crate::model::{ObjectKind, Record, set_field};
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

impl HubSpot {
    /// Where the associations from `from` records to `to` records are read
    /// and written (`…/batch/read`, `…/batch/associate/default`, …).
    fn associations_path(&self, from: ObjectKind, to: ObjectKind) -> Result<String> {
        match (type_name(from), type_name(to)) {
            (Some(from), Some(to)) => Ok(format!(
                "/crm/associations/{}/{from}/{to}/batch",
                self.version
            )),
            _ => anyhow::bail!("HubSpot has no associations from {from} to {to}"),
        }
    }

    /// Reads the records' associated `to` records with the associations
    /// batch API (100 records a call), following each record's own paging
    /// cursor until its set is whole, and sets the relation fields from
    /// them. Search results carry no associations, and a list carries only
    /// the first page of each. A set that cannot be read whole stops the
    /// pull: a partial one would be taken for removed associations and
    /// archived on the other side.
    pub(super) fn read_associations(
        &self,
        from: ObjectKind,
        to: ObjectKind,
        records: &mut [&mut Record],
        fields: &[String],
    ) -> Result<()> {
        let path = format!("{}/read", self.associations_path(from, to)?);
        let singular = from.as_str().trim_end_matches('s');
        let unreadable = |id: &str, why: String| {
            self.malformed(format!(
                "the {to} of {singular} {id} could not be read whole ({why}); nothing was planned"
            ))
        };
        let mut associated: HashMap<String, Vec<String>> = HashMap::new();
        let mut wanted: Vec<AssociationsInput> = records
            .iter()
            .map(|r| AssociationsInput {
                id: r.id.clone(),
                after: None,
            })
            .collect();
        while !wanted.is_empty() {
            let mut next = Vec::new();
            for chunk in wanted.chunks(MAX_BATCH) {
                let reply = self
                    .http
                    .post(&path, &json!({ "inputs": chunk }), Repeat::Safe)
                    .with_context(|| format!("reading the {to} of {from} on {}", self.system()))?;
                let page: AssociationsPage = self.parse(reply.body, "associations")?;
                let mut answered: BTreeSet<String> = BTreeSet::new();
                for r in page.results {
                    let asked = chunk.iter().find(|i| i.id == r.from.id);
                    let Some(asked) = asked else {
                        return Err(unreadable(
                            &r.from.id,
                            format!("an answer for a {singular} not asked for"),
                        )
                        .into());
                    };
                    let ids = r.to.iter().map(|t| value_text(&t.to_object_id));
                    associated.entry(r.from.id.clone()).or_default().extend(ids);
                    if let Some(more) = r.paging.and_then(|p| p.next) {
                        if asked.after.as_deref() == Some(more.after.as_str()) {
                            return Err(unreadable(
                                &r.from.id,
                                "the paging cursor did not advance".into(),
                            )
                            .into());
                        }
                        next.push(AssociationsInput {
                            id: r.from.id.clone(),
                            after: Some(more.after),
                        });
                    }
                    answered.insert(r.from.id);
                }
                // A 207 names the records that have no associations; any
                // other error leaves a record's set unknown.
                for error in &page.errors {
                    let ids = error.context_values("fromObjectId");
                    let none = error
                        .sub_category
                        .as_str()
                        .is_some_and(|s| s.ends_with("NO_ASSOCIATIONS_FOUND"));
                    if !none || ids.is_empty() {
                        let id = ids.first().map_or("?", String::as_str);
                        let why = format!("{}: {}", error.category, error.message);
                        return Err(unreadable(id, why).into());
                    }
                    answered.extend(ids);
                }
                if let Some(missing) = chunk.iter().find(|i| !answered.contains(&i.id)) {
                    return Err(
                        unreadable(&missing.id, "HubSpot's answer left it out".into()).into(),
                    );
                }
            }
            wanted = next;
        }
        for record in records.iter_mut() {
            let ids = associated.remove(&record.id).unwrap_or_default();
            set_relations(from, to, record, ids, fields);
        }
        Ok(())
    }

    /// Moves each written record's associations from its old related
    /// records to its new ones, one associated object at a time
    /// (associations do not touch the record's modified time).
    pub(super) fn relink(
        &self,
        object: ObjectKind,
        relinks: &[Relink],
        results: &mut [WriteResult],
    ) -> Result<()> {
        let targets: BTreeSet<ObjectKind> = relinks.iter().map(|r| r.to).collect();
        for to in targets {
            let group: Vec<&Relink> = relinks.iter().filter(|r| r.to == to).collect();
            self.relink_to(object, to, &group, results)?;
        }
        Ok(())
    }

    /// `relink` for the associations to one object.
    fn relink_to(
        &self,
        from: ObjectKind,
        to: ObjectKind,
        relinks: &[&Relink],
        results: &mut [WriteResult],
    ) -> Result<()> {
        let written_id = |key: &str| {
            results
                .iter()
                .find(|r| r.key == key)
                .and_then(|r| r.outcome.written())
                .map(|rec| rec.id.clone())
        };
        // A record's relinks to one object are merged (`primary_company`
        // and `companies` may both name a company), so each association is
        // sent once and one kept by either field is not archived.
        let mut changed: BTreeMap<String, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
        let mut keys = Vec::new();
        for relink in relinks.iter().filter(|r| r.old != r.new) {
            let Some(id) = written_id(&relink.key) else {
                continue;
            };
            keys.push(relink.key.clone());
            let (old, new) = changed.entry(id).or_default();
            old.extend(Relink::ids(&relink.old));
            new.extend(Relink::ids(&relink.new));
        }
        let mut associate = Vec::new();
        let mut dissociate = Vec::new();
        for (id, (old, new)) in &changed {
            let removed: Vec<IdInput> = old
                .difference(new)
                .map(|id| IdInput { id: id.to_string() })
                .collect();
            if !removed.is_empty() {
                dissociate.push(DissociateInput {
                    from: IdInput { id: id.clone() },
                    to: removed,
                });
            }
            for other in new.difference(old) {
                associate.push(AssociateInput {
                    from: IdInput { id: id.clone() },
                    to: IdInput {
                        id: other.to_string(),
                    },
                });
            }
        }
        let base = self.associations_path(from, to)?;
        let singular = to.as_str().trim_end_matches('s');
        let mut failure = None;
        for (action, inputs) in [
            ("archive", serde_json::to_value(dissociate)?),
            ("associate/default", serde_json::to_value(associate)?),
        ] {
            let inputs = inputs.as_array().cloned().unwrap_or_default();
            for chunk in inputs.chunks(MAX_BATCH) {
                match self.http.post(
                    &format!("{base}/{action}"),
                    &json!({ "inputs": chunk }),
                    Repeat::Safe,
                ) {
                    // A 200 or 207 may still list inputs it refused.
                    Ok(reply) => {
                        let refused = serde_json::from_value::<AssociationsPage>(reply.body)
                            .map(|page| page.errors)
                            .unwrap_or_default();
                        if let Some(error) = refused.first() {
                            failure = Some(format!(
                                "{singular} association refused ({}: {})",
                                error.category, error.message
                            ));
                        }
                    }
                    Err(ApiError::Rejected {
                        status, message, ..
                    }) => {
                        failure = Some(format!(
                            "{singular} association refused ({status}: {message})"
                        ))
                    }
                    // The records are written; their associations wait
                    // for the next run, like refused ones.
                    Err(ApiError::Interrupted { .. }) => {
                        failure = Some(format!(
                            "{singular} association not written: the run was interrupted"
                        ))
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("associating {from} with {to} on {}", self.system())
                        });
                    }
                }
            }
        }
        if let Some(reason) = &failure {
            log::warn!(
                "{}: {reason}; the {from} are kept and the association is retried next run",
                self.system()
            );
        }
        for result in results.iter_mut() {
            for relink in relinks.iter().filter(|r| r.key == result.key) {
                let WriteOutcome::Written(record) = &mut result.outcome else {
                    continue;
                };
                // A record that was written stays linked even if its
                // association was refused (dropping it would create it again
                // next run); recording the old value makes the next run retry.
                let stored = if failure.is_some() && keys.contains(&result.key) {
                    &relink.old
                } else {
                    &relink.new
                };
                set_field(&mut record.fields, relink.field, stored);
            }
        }
        Ok(())
    }
}
