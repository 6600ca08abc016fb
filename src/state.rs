//! Sync state: per pair, the link table (left id ↔ right id) and, for every
//! link, the base: the last synced value of each mapped field on each side.
//! Plus the run lock that keeps two cron runs from overlapping.
//!
//! The base is kept per side, as each system stored it (HubSpot lowercases
//! emails, Pipedrive may format numbers its own way), so "did this side
//! change since we last synced?" is an exact comparison against that side's
//! own last value and our own writes are never mistaken for edits. The file
//! is versioned and written atomically; a file that cannot be read is an
//! error that names the file, never an empty state.

use crate::files;
use crate::model::{Fields, Side};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

const FORMAT: &str = "crmsync-state";
const VERSION: u32 = 1;

/// The last synced values on each side of one link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub left: Fields,
    pub right: Fields,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub left: String,
    pub right: String,
    pub base: Base,
}

/// A create that was sent but whose answer was never recorded (the
/// connection dropped, or the run was killed). The next run looks for the
/// record it may have made before creating it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCreate {
    /// The side the record was created on.
    pub target: Side,
    /// The id of the record it was created from.
    pub source: String,
    /// The target's fields and the values sent.
    pub fields: Fields,
}

/// The links of one pair, indexed both ways, its pending creates, and its
/// tombstones.
#[derive(Debug, Clone, Default)]
pub struct PairState {
    by_left: BTreeMap<String, Link>,
    left_of_right: HashMap<String, String>,
    pending: Vec<PendingCreate>,
    /// Records whose link ended because its partner was deleted (left ids,
    /// right ids). They are never copied across again: the survivor of an
    /// ignored delete would otherwise resurrect the deleted record, and a
    /// deleted record still in an incremental snapshot would be recreated.
    tombstones: [BTreeSet<String>; 2],
}

impl PairState {
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.by_left.values()
    }

    pub fn len(&self) -> usize {
        self.by_left.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_left.is_empty()
    }

    pub fn by_left(&self, left: &str) -> Option<&Link> {
        self.by_left.get(left)
    }

    pub fn by_right(&self, right: &str) -> Option<&Link> {
        self.by_left.get(self.left_of_right.get(right)?)
    }

    /// Returns true if and only if the record's link ended in a delete.
    pub fn is_tombstoned(&self, side: Side, id: &str) -> bool {
        self.tombstones[side_index(side)].contains(id)
    }

    /// Ends a link because one of its records was deleted: both records are
    /// remembered so neither is copied across again.
    pub fn bury(&mut self, left: &str, right: &str) {
        self.unlink(left);
        self.tombstones[0].insert(left.to_string());
        self.tombstones[1].insert(right.to_string());
    }

    /// Creates sent but not confirmed.
    pub fn pending(&self) -> &[PendingCreate] {
        &self.pending
    }

    /// Journals a create before it is sent.
    pub fn add_pending(&mut self, create: PendingCreate) {
        self.pending
            .retain(|p| !(p.target == create.target && p.source == create.source));
        self.pending.push(create);
    }

    /// Forgets a journaled create once its answer is known.
    pub fn remove_pending(&mut self, target: Side, source: &str) {
        self.pending
            .retain(|p| !(p.target == target && p.source == source));
    }

    /// Links two records (replacing any link either had); a pending create
    /// of either record is settled by the link.
    pub fn link(&mut self, left: &str, right: &str) -> &mut Link {
        self.pending.retain(|p| match p.target {
            Side::Right => p.source != left,
            Side::Left => p.source != right,
        });
        if let Some(old) = self.left_of_right.get(right).cloned()
            && old != left
        {
            self.by_left.remove(&old);
        }
        if let Some(old) = self.by_left.get(left)
            && old.right != right
        {
            self.left_of_right.remove(&old.right);
        }
        self.left_of_right
            .insert(right.to_string(), left.to_string());
        self.by_left
            .entry(left.to_string())
            .or_insert_with(|| Link {
                left: left.to_string(),
                right: right.to_string(),
                base: Base::default(),
            })
    }

    /// Adds a saved link as it is (loading moves each link in once).
    fn insert(&mut self, link: Link) {
        self.left_of_right
            .insert(link.right.clone(), link.left.clone());
        self.by_left.insert(link.left.clone(), link);
    }

    pub fn link_mut(&mut self, left: &str) -> Option<&mut Link> {
        self.by_left.get_mut(left)
    }

    pub fn unlink(&mut self, left: &str) {
        if let Some(link) = self.by_left.remove(left) {
            self.left_of_right.remove(&link.right);
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: String,
    version: u32,
    pairs: BTreeMap<String, PairFile>,
}

#[derive(Serialize, Deserialize)]
struct PairFile {
    links: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<PendingCreate>,
    #[serde(default, skip_serializing_if = "Tombstones::is_empty")]
    tombstones: Tombstones,
}

/// Tombstoned ids, as saved.
#[derive(Default, Serialize, Deserialize)]
struct Tombstones {
    #[serde(default)]
    left: BTreeSet<String>,
    #[serde(default)]
    right: BTreeSet<String>,
}

impl Tombstones {
    fn is_empty(&self) -> bool {
        self.left.is_empty() && self.right.is_empty()
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Left => 0,
        Side::Right => 1,
    }
}

/// All pairs' links and bases.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub pairs: BTreeMap<String, PairState>,
}

impl State {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("state.json")
    }

    /// Reads the state; a missing file is a first run, anything unreadable
    /// is an error that says how to recover.
    pub fn load(path: &Path) -> Result<State> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read state file {}", path.display()));
            }
        };
        let recover = || {
            format!(
                "state file {} is corrupt or truncated; restore it from a backup, or move it aside to start over (records will be re-paired by the match key)",
                path.display()
            )
        };
        let file: StateFile = serde_json::from_slice(&bytes).with_context(recover)?;
        if file.format != FORMAT {
            bail!(recover());
        }
        if file.version != VERSION {
            bail!(
                "state file {} has format version {}, this crmsync reads version {VERSION}; use a matching crmsync release",
                path.display(),
                file.version
            );
        }
        let mut state = State::default();
        for (name, saved) in file.pairs {
            let pair = state.pairs.entry(name).or_default();
            for link in saved.links {
                pair.insert(link);
            }
            pair.pending = saved.pending;
            pair.tombstones = [saved.tombstones.left, saved.tombstones.right];
        }
        Ok(state)
    }

    /// Writes the state atomically, serialising it in place (no copy of the
    /// links is made: the state is saved after every batch).
    pub fn save(&self, path: &Path) -> Result<()> {
        #[derive(Serialize)]
        struct FileRef<'a> {
            format: &'a str,
            version: u32,
            pairs: BTreeMap<&'a str, PairRef<'a>>,
        }
        #[derive(Serialize)]
        struct PairRef<'a> {
            links: Vec<&'a Link>,
            #[serde(skip_serializing_if = "<[PendingCreate]>::is_empty")]
            pending: &'a [PendingCreate],
            tombstones: TombstonesRef<'a>,
        }
        #[derive(Serialize)]
        struct TombstonesRef<'a> {
            left: &'a BTreeSet<String>,
            right: &'a BTreeSet<String>,
        }
        let pairs = self
            .pairs
            .iter()
            .map(|(name, pair)| {
                let [left, right] = &pair.tombstones;
                let file = PairRef {
                    links: pair.links().collect(),
                    pending: &pair.pending,
                    tombstones: TombstonesRef { left, right },
                };
                (name.as_str(), file)
            })
            .collect();
        files::write_atomic_json(
            path,
            &FileRef {
                format: FORMAT,
                version: VERSION,
                pairs,
            },
        )
    }

    pub fn pair(&self, name: &str) -> Option<&PairState> {
        self.pairs.get(name)
    }

    pub fn pair_mut(&mut self, name: &str) -> &mut PairState {
        self.pairs.entry(name.to_string()).or_default()
    }
}

/// Another crmsync run holds the lock: exit 5.
#[derive(Debug)]
pub struct LockHeld(pub PathBuf);

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another crmsync run is using {} (lock held); this run did nothing, try again when it finishes",
            self.0.display()
        )
    }
}

impl std::error::Error for LockHeld {}

/// The run lock; released when dropped (or when the process dies, since it
/// is an OS file lock, so a killed run never leaves a stale lock behind).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    pub fn acquire(state_dir: &Path) -> Result<RunLock> {
        files::ensure_private_dir(state_dir)?;
        let path = state_dir.join("lock");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LockHeld(state_dir.to_path_buf()).into()),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // For a human wondering who holds it; the lock itself is the OS lock.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(RunLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("crmsync-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        files::ensure_private_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn links_round_trip_and_relinking_moves_the_link() {
        let dir = temp_dir("roundtrip");
        let mut state = State::default();
        let pair = state.pair_mut("contacts");
        pair.link("1", "a")
            .base
            .left
            .insert("email".into(), "x@y.z".into());
        pair.link("2", "b");
        pair.link("3", "b");
        assert!(pair.by_left("2").is_none(), "b moved to 3");
        assert_eq!(pair.by_right("b").unwrap().left, "3");
        state.save(&State::path(&dir)).unwrap();
        let loaded = State::load(&State::path(&dir)).unwrap();
        let pair = loaded.pair("contacts").unwrap();
        assert_eq!(pair.len(), 2);
        assert_eq!(pair.by_right("a").unwrap().base.left["email"], "x@y.z");
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_the_file() {
        let dir = temp_dir("corrupt");
        std::fs::write(State::path(&dir), b"{\"format\":\"crmsync-state\",\"vers").unwrap();
        let e = format!("{:#}", State::load(&State::path(&dir)).unwrap_err());
        assert!(e.contains("state.json is corrupt or truncated"), "{e}");
        assert!(
            State::load(&dir.join("absent.json"))
                .unwrap()
                .pairs
                .is_empty()
        );
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = temp_dir("lock");
        let first = RunLock::acquire(&dir).unwrap();
        let second = RunLock::acquire(&dir).unwrap_err();
        assert!(second.is::<LockHeld>());
        drop(first);
        RunLock::acquire(&dir).unwrap();
    }
}
