//! Snapshots: what a pull saw of one account object (`system.object`),
//! shared by every pair that names it and saved under `state_dir/snapshots/`
//! so `diff --offline` can plan with no API call.
//!
//! A snapshot is plain data (records with the fields every pair maps on the
//! object, and modified times) plus what it was pulled with (system, object,
//! fields), so a snapshot taken under an older mapping is refused instead of
//! misread. During a `sync` the records a pair writes are folded in from the
//! write answers, so the pairs after it plan on them. It holds customer
//! data: written atomically, 0600. No network here.

use crate::config::Endpoint;
use crate::files;
use crate::model::{Labels, ObjectKind, Owner, Record, set_field};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FORMAT: &str = "crmsync-snapshot";
const VERSION: u32 = 1;

/// One record this run wrote to an account object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Created or updated: the values written (an empty one clears the
    /// field) as the server stored them, and the modified time the answer
    /// gave (0 when it gave none).
    Saved {
        id: String,
        values: Vec<(String, String)>,
        updated_ms: i64,
    },
    Deleted {
        id: String,
    },
    /// Merged into another record: no longer live, and never a delete (the
    /// records related to it now belong to the record it became).
    Merged {
        id: String,
        into: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    pub system: String,
    pub object: ObjectKind,
    /// The fields that were asked for.
    pub fields: Vec<String>,
    pub fetched_at_ms: i64,
    /// True if and only if this lists every live record (a full pull), so a
    /// record missing from it is really gone. A snapshot updated by an
    /// incremental pull is not complete: deletes are never inferred from it.
    pub complete: bool,
    /// Incremental pulls since the last full one.
    #[serde(default)]
    pub incremental_runs: u32,
    /// When the last full pull began (epoch ms), for a `full_pull_every`
    /// given as a duration. Absent in snapshots of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_ms: Option<i64>,
    pub records: Vec<Record>,
    /// The account's owners, kept when a value map translates owners, so an
    /// offline diff needs no API call.
    #[serde(default)]
    pub owners: Vec<Owner>,
    /// The options of fields translated by label, kept for the same reason.
    #[serde(default)]
    pub labels: Labels,
}

impl Snapshot {
    /// A full listing that began at `started_ms`.
    pub fn new(
        system: &str,
        object: ObjectKind,
        fields: Vec<String>,
        records: Vec<Record>,
        started_ms: i64,
    ) -> Snapshot {
        Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            system: system.into(),
            object,
            fields,
            fetched_at_ms: started_ms,
            complete: true,
            incremental_runs: 0,
            last_full_ms: Some(started_ms),
            records,
            owners: Vec::new(),
            labels: Labels::new(),
        }
    }

    /// `state_dir/snapshots/SYSTEM.OBJECT.json`
    pub fn path(state_dir: &Path, object: &Endpoint) -> PathBuf {
        state_dir
            .join("snapshots")
            .join(format!("{}.{}.json", object.system, object.object))
    }

    /// Where the next incremental pull starts (less the connector's
    /// lookback): the moment the last pull began. Records changed after it
    /// carry later modified times, as long as the vendor's clock is not
    /// behind ours by more than the lookback.
    pub fn watermark_ms(&self) -> i64 {
        self.fetched_at_ms
    }

    /// When the last full pull of this object began, where known: a
    /// snapshot of an older version that no incremental pull has touched
    /// yet is itself that full pull.
    pub fn last_full_ms(&self) -> Option<i64> {
        self.last_full_ms
            .or((self.complete && self.incremental_runs == 0).then_some(self.fetched_at_ms))
    }

    /// Record id → its position in `records`.
    fn positions(&self) -> std::collections::HashMap<String, usize> {
        self.records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect()
    }

    /// Folds the records changed since the last pull, which began at
    /// `started_ms`, into this snapshot.
    /// A changed record that names records merged into it (HubSpot gives
    /// the result of a merge a new id) replaces them: they are no longer
    /// live, although an incremental pull cannot see them go.
    pub fn merge_changes(&mut self, changed: Vec<crate::model::Record>, started_ms: i64) {
        let merged: std::collections::HashSet<&str> = changed
            .iter()
            .flat_map(|r| r.merged_from())
            .map(String::as_str)
            .collect();
        if !merged.is_empty() {
            self.records.retain(|r| !merged.contains(r.id.as_str()));
        }
        let mut index = self.positions();
        for record in changed {
            match index.get(&record.id) {
                Some(&i) => self.records[i] = record,
                None => {
                    index.insert(record.id.clone(), self.records.len());
                    self.records.push(record);
                }
            }
        }
        self.complete = false;
        self.incremental_runs += 1;
        self.fetched_at_ms = started_ms;
    }

    /// Keeps what an earlier snapshot knew of the ids merged into records
    /// this one still lists: a vendor that does not list them (Pipedrive)
    /// was found to have merged them once (`pipeline::follow_identities`),
    /// and a full pull must not forget it, or the merged record would look
    /// deleted. Only records that name a merge are looked at.
    pub fn keep_merges_of(&mut self, earlier: &Snapshot) {
        let known: std::collections::HashMap<&str, &[String]> = earlier
            .records
            .iter()
            .filter(|r| !r.merged_from().is_empty())
            .map(|r| (r.id.as_str(), r.merged_from()))
            .collect();
        if known.is_empty() {
            return;
        }
        for record in &mut self.records {
            let Some(merged) = known.get(record.id.as_str()) else {
                continue;
            };
            let mut identity = record.identity.take().map(|i| *i).unwrap_or_default();
            for id in *merged {
                if !identity.merged_from.contains(id) {
                    identity.merged_from.push(id.clone());
                }
            }
            record.set_identity(identity);
        }
    }

    /// Folds in what this run wrote to the account, as the write answers
    /// gave it: a saved record's written values replace its old ones (the
    /// fields nobody wrote keep theirs), a new record is added, a deleted
    /// one leaves. The watermark stays where the pull began, so the next
    /// incremental pull still reads these records back.
    pub fn absorb(&mut self, written: Vec<Written>) {
        let mut index = self.positions();
        let mut deleted = std::collections::HashSet::new();
        for write in written {
            match write {
                Written::Deleted { id } | Written::Merged { id, .. } => {
                    deleted.insert(id);
                }
                Written::Saved {
                    id,
                    values,
                    updated_ms,
                } => {
                    let at = *index.entry(id.clone()).or_insert_with(|| {
                        self.records.push(Record::new(
                            id,
                            Default::default(),
                            crate::timestamp::now_ms(),
                        ));
                        self.records.len() - 1
                    });
                    let record = &mut self.records[at];
                    for (field, value) in &values {
                        set_field(&mut record.fields, field, value);
                    }
                    // Some writes are answered without a modified time (an
                    // association alone moves none).
                    if updated_ms > 0 {
                        record.updated_ms = updated_ms;
                    }
                }
            }
        }
        if !deleted.is_empty() {
            self.records.retain(|r| !deleted.contains(&r.id));
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            files::ensure_private_dir(dir)?;
        }
        files::write_atomic_json(path, self)
    }

    /// Loads a snapshot and checks it was pulled for this system, object and
    /// field list.
    pub fn load(
        path: &Path,
        system: &str,
        object: ObjectKind,
        fields: &[String],
    ) -> Result<Snapshot> {
        let started = std::time::Instant::now();
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "no snapshot at {}; run `crmsync pull` first (or diff without --offline)",
                path.display()
            )
        })?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "snapshot {} is unreadable; delete it and run `crmsync pull`",
                path.display()
            )
        })?;
        if snapshot.format != FORMAT || snapshot.version != VERSION {
            bail!(
                "snapshot {} has format {} v{}; run `crmsync pull` to replace it",
                path.display(),
                snapshot.format,
                snapshot.version
            );
        }
        if snapshot.system != system || snapshot.object != object || snapshot.fields != fields {
            bail!(
                "snapshot {} was pulled for {}.{} with other fields than the mapping file now names; run `crmsync pull`",
                path.display(),
                snapshot.system,
                snapshot.object
            );
        }
        log::debug!(
            "read {} records from {} in {:.2} s",
            snapshot.records.len(),
            path.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fields, Identity};

    fn merged(id: &str, from: &[&str]) -> Record {
        let mut r = Record::new(id, Fields::new(), 1);
        r.set_identity(Identity {
            merged_from: from.iter().map(|f| f.to_string()).collect(),
            also: Vec::new(),
        });
        r
    }

    #[test]
    fn merges_are_remembered_across_full_pulls_and_replace_what_they_merged() {
        let fields = vec!["email".to_string()];
        let plain = |id: &str| Record::new(id, Fields::new(), 1);
        let earlier = Snapshot::new(
            "pd",
            ObjectKind::Persons,
            fields.clone(),
            vec![merged("1", &["2"]), plain("3")],
            1,
        );
        // A full pull lists no merges (Pipedrive): what was learnt stays.
        let mut full = Snapshot::new(
            "pd",
            ObjectKind::Persons,
            fields.clone(),
            vec![plain("1"), plain("3")],
            2,
        );
        full.keep_merges_of(&earlier);
        assert_eq!(full.records[0].merged_from(), ["2".to_string()]);
        assert!(full.records[1].identity.is_none());
        // An incremental pull bringing a merge's result drops what it merged.
        let mut incremental = earlier.clone();
        incremental.merge_changes(vec![merged("9", &["1", "3"])], 3);
        let ids: Vec<&str> = incremental.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["9"]);
        // Older snapshots, without identities, load as they are.
        let json = serde_json::to_string(&full).unwrap();
        assert!(json.contains("\"merged_from\":[\"2\"]"), "{json}");
        let old = json.replace(",\"identity\":{\"merged_from\":[\"2\"]}", "");
        let loaded: Snapshot = serde_json::from_str(&old).unwrap();
        assert!(loaded.records.iter().all(|r| r.identity.is_none()));
    }
}
