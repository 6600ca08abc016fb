//! Snapshots: what a pull saw of one side of one pair, saved under
//! `state_dir/snapshots/` so `diff --offline` can plan with no API call.
//!
//! A snapshot is plain data (records with mapped fields and modified times)
//! plus what it was pulled with (system, object, fields), so a snapshot taken
//! under an older mapping is refused instead of misread. It holds customer
//! data: written atomically, 0600. No network here.

use crate::files;
use crate::model::{Labels, ObjectKind, Owner, Record, Side};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FORMAT: &str = "crmsync-snapshot";
const VERSION: u32 = 1;

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
            records,
            owners: Vec::new(),
            labels: Labels::new(),
        }
    }

    /// `state_dir/snapshots/PAIR.SIDE.json`
    pub fn path(state_dir: &Path, pair: &str, side: Side) -> PathBuf {
        state_dir
            .join("snapshots")
            .join(format!("{pair}.{side}.json"))
    }

    /// Where the next incremental pull starts (less the connector's
    /// lookback): the moment the last pull began. Records changed after it
    /// carry later modified times, as long as the vendor's clock is not
    /// behind ours by more than the lookback.
    pub fn watermark_ms(&self) -> i64 {
        self.fetched_at_ms
    }

    /// Folds the records changed since the last pull, which began at
    /// `started_ms`, into this snapshot.
    pub fn merge_changes(&mut self, changed: Vec<crate::model::Record>, started_ms: i64) {
        let mut index: std::collections::HashMap<String, usize> = self
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
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
