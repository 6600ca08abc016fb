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
use crate::connector::PropertySpec;
use crate::files;
use crate::model::{Labels, ObjectKind, Owner, Record, set_field};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Where the last full listing was narrowed at the vendor to the scopes
    /// of the pairs that read the object, a fingerprint of those scopes
    /// (`scope::fingerprint`): a linked record such a listing does not hold
    /// may have left a scope rather than been deleted, and a listing under
    /// other scopes is pulled in full again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<String>,
    /// Records held that the vendor's narrowed listing does not list (read
    /// back by id, or changed out of a saved filter since): outside a saved
    /// filter, whatever their fields say.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub unselected: std::collections::BTreeSet<String>,
    /// The account's owners, kept when a value map translates owners, so an
    /// offline diff needs no API call.
    #[serde(default)]
    pub owners: Vec<Owner>,
    /// The options of fields translated by label, kept for the same reason.
    #[serde(default)]
    pub labels: Labels,
    /// The definitions of the fields pairs with `schema = "create"` map on
    /// this object (`None`: the account lacks it), for planning the
    /// properties to create, offline too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Option<PropertySpec>>,
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
            selected: None,
            unselected: Default::default(),
            owners: Vec::new(),
            labels: Labels::new(),
            properties: BTreeMap::new(),
        }
    }

    /// This snapshot holding only `records` (its owners, labels and the
    /// rest kept): a part of the listing, to plan some records on.
    pub fn part(&self, records: Vec<Record>) -> Snapshot {
        Snapshot {
            format: self.format.clone(),
            version: self.version,
            system: self.system.clone(),
            object: self.object,
            fields: self.fields.clone(),
            fetched_at_ms: self.fetched_at_ms,
            complete: self.complete,
            incremental_runs: self.incremental_runs,
            last_full_ms: self.last_full_ms,
            records,
            owners: self.owners.clone(),
            labels: self.labels.clone(),
            properties: self.properties.clone(),
            selected: self.selected.clone(),
            unselected: self.unselected.clone(),
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
        if self.complete {
            // Gains are counted from the last full pull on: this is the
            // first incremental pull since.
            for record in self.records.iter_mut().filter(|r| r.identity.is_some()) {
                record.forget_gains();
            }
        }
        let mut index = self.positions();
        for mut record in changed {
            match index.get(&record.id) {
                Some(&i) => {
                    record.note_gains(&self.records[i], true);
                    self.records[i] = record;
                }
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
        let known: std::collections::HashMap<&str, &crate::model::Record> = earlier
            .records
            .iter()
            .filter(|r| !r.merged_from().is_empty())
            .map(|r| (r.id.as_str(), r))
            .collect();
        if known.is_empty() {
            return;
        }
        for record in &mut self.records {
            let Some(was) = known.get(record.id.as_str()) else {
                continue;
            };
            let mut identity = record.identity.take().map(|i| *i).unwrap_or_default();
            for id in was.merged_from() {
                // What the vendor lists now is confirmed; what was inferred
                // stays inferred.
                let listed = identity.merged_from.contains(id);
                identity.add_merged(id, listed || was.merge_confirmed(id));
            }
            record.set_identity(identity);
        }
    }

    /// Notes, on each record this full listing shares with the `earlier`
    /// snapshot, the values it holds now that it did not hold at the full
    /// pull before this one: what a merge into it since then brought (a
    /// merged person's emails). A record new since then gains nothing: no
    /// earlier state, no footprint to tell.
    pub fn note_gains_since(&mut self, earlier: &Snapshot) {
        let before: std::collections::HashMap<&str, &crate::model::Record> =
            earlier.records.iter().map(|r| (r.id.as_str(), r)).collect();
        for record in &mut self.records {
            if let Some(was) = before.get(record.id.as_str()) {
                // An earlier snapshot that incremental pulls updated holds
                // the gains since the full pull before it.
                record.note_gains(was, !earlier.complete);
            }
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
            ..Identity::default()
        });
        r
    }

    /// A person with these emails (the first its own, the rest secondary).
    fn person(id: &str, emails: &[&str]) -> Record {
        let mut fields = Fields::new();
        fields.insert("email", emails[0]);
        let mut r = Record::new(id, fields, 1);
        r.set_identity(Identity {
            also: emails[1..]
                .iter()
                .map(|e| ("email".to_string(), e.to_string()))
                .collect(),
            ..Identity::default()
        });
        r
    }

    fn gained(snapshot: &Snapshot, id: &str) -> Vec<String> {
        let r = snapshot.records.iter().find(|r| r.id == id).unwrap();
        let gains = r.identity.iter().flat_map(|i| i.gained.iter());
        gains.map(|(_, v)| v.clone()).collect()
    }

    fn full(records: Vec<Record>, at: i64) -> Snapshot {
        Snapshot::new("pd", ObjectKind::Persons, vec!["email".into()], records, at)
    }

    #[test]
    fn gains_count_what_a_record_took_since_the_full_pull_before_the_last() {
        let first = full(
            vec![person("1", &["a@x.io", "b@x.io"]), person("2", &["c@x.io"])],
            1,
        );
        // Full after full: 1 held b@x.io before (no gain); 2 took d@x.io.
        let mut second = full(
            vec![
                person("1", &["a@x.io", "b@x.io"]),
                person("2", &["c@x.io", "d@x.io"]),
            ],
            2,
        );
        second.note_gains_since(&first);
        assert!(gained(&second, "1").is_empty());
        assert_eq!(gained(&second, "2"), ["d@x.io"]);
        // Seen first by an incremental pull (the gains since the full pull
        // are counted afresh), then by the next full one: still a gain.
        let mut incremental = second.clone();
        incremental.merge_changes(vec![person("1", &["a@x.io", "b@x.io", "e@x.io"])], 3);
        assert_eq!(gained(&incremental, "1"), ["e@x.io"]);
        assert!(
            gained(&incremental, "2").is_empty(),
            "an older gain is forgotten"
        );
        let mut third = full(
            vec![
                person("1", &["a@x.io", "b@x.io", "e@x.io"]),
                person("2", &["c@x.io", "d@x.io"]),
            ],
            4,
        );
        third.note_gains_since(&incremental);
        assert_eq!(gained(&third, "1"), ["e@x.io"]);
        assert!(gained(&third, "2").is_empty());
        // The full pull after that one: no gain is left.
        let mut fourth = full(third.records.clone(), 5);
        fourth.note_gains_since(&third);
        assert!(gained(&fourth, "1").is_empty());
        // A record new since has nothing to compare with: no gain.
        let mut fifth = full(vec![person("7", &["e@x.io"])], 6);
        fifth.note_gains_since(&fourth);
        assert!(gained(&fifth, "7").is_empty());
    }

    #[test]
    fn an_inferred_merge_stays_unconfirmed_across_full_pulls_and_a_listed_one_is_confirmed() {
        let mut inferred = merged("1", &["2"]);
        let mut identity = inferred.identity.take().map(|i| *i).unwrap();
        identity.unconfirmed = vec!["2".into()];
        inferred.set_identity(identity);
        let earlier = full(vec![inferred.clone()], 1);
        let mut later = full(vec![Record::new("1", Fields::new(), 1)], 2);
        later.keep_merges_of(&earlier);
        assert_eq!(later.records[0].merged_from(), ["2".to_string()]);
        assert!(!later.records[0].merge_confirmed("2"));
        // The vendor listing the merge itself confirms it.
        let mut listed = full(vec![merged("1", &["2"])], 3);
        listed.keep_merges_of(&later);
        assert!(listed.records[0].merge_confirmed("2"));
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
