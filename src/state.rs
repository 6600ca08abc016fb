//! Sync state: per pair, the link table (left id ↔ right id) and, for every
//! link, the base: the last synced value of each mapped field on each side.
//! Plus the run lock that keeps two cron runs from overlapping.
//!
//! The base is kept per side, as each system stored it (HubSpot lowercases
//! emails, Pipedrive may format numbers its own way), so "did this side
//! change since we last synced?" is an exact comparison against that side's
//! own last value and our own writes are never mistaken for edits. The file
//! is versioned and written atomically; between two writes of it, every
//! change is appended to a journal beside it (one synced line per batch),
//! so a batch is durable at the cost of that batch, not of the whole state.
//! A file that cannot be read is an error that names the file, never an
//! empty state. Holds a million links in memory without copying an id.

use crate::files;
use crate::model::{Fields, Side, fnv};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

const FORMAT: &str = "crmsync-state";
const VERSION: u32 = 1;
const JOURNAL_FORMAT: &str = "crmsync-journal";

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

/// Record id → position in a link list, without a second copy of the id: the
/// id's 64-bit hash finds the position, and the link there is checked to
/// hold that id. The rare id whose hash another id already holds goes to
/// `collided`, keyed by the id itself, so a collision costs a lookup, never a
/// wrong answer. (A million links are held at once; copying every id into
/// two maps would cost as much memory as the links themselves.)
#[derive(Debug, Clone)]
struct IdIndex {
    by_hash: HashMap<u64, u32, BuildHasherDefault<Unhashed>>,
    collided: HashMap<String, u32>,
    /// `fnv`; the tests make every id collide.
    hash: fn(&[u8]) -> u64,
}

impl Default for IdIndex {
    fn default() -> IdIndex {
        IdIndex::with_capacity(0)
    }
}

/// The hasher of a map whose keys are already hashes.
#[derive(Default)]
struct Unhashed(u64);

impl Hasher for Unhashed {
    fn write(&mut self, _: &[u8]) {
        unreachable!("IdIndex keys are u64 hashes")
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl IdIndex {
    fn with_capacity(n: usize) -> IdIndex {
        IdIndex {
            by_hash: HashMap::with_capacity_and_hasher(n, Default::default()),
            collided: HashMap::new(),
            hash: fnv,
        }
    }

    /// Where `id` is, given `id_at(position)`, the id held at a position.
    fn find<'a>(&self, id: &str, id_at: impl Fn(usize) -> &'a str) -> Option<usize> {
        match self.by_hash.get(&(self.hash)(id.as_bytes())) {
            Some(&at) if id_at(at as usize) == id => Some(at as usize),
            _ => self.collided.get(id).map(|&at| at as usize),
        }
    }

    /// Indexes `id` (not indexed yet) at `at`.
    fn insert<'a>(&mut self, id: &str, at: usize, id_at: impl Fn(usize) -> &'a str) {
        let at = u32::try_from(at).expect("fewer than 4 billion links in one pair");
        match self.by_hash.entry((self.hash)(id.as_bytes())) {
            Entry::Vacant(slot) => {
                slot.insert(at);
            }
            Entry::Occupied(slot) => {
                debug_assert!(id_at(*slot.get() as usize) != id, "{id} indexed twice");
                self.collided.insert(id.to_string(), at);
            }
        }
    }

    /// Moves `id` from position `from` to `to`, or forgets it (`to` = None).
    fn move_or_forget(&mut self, id: &str, from: usize, to: Option<usize>) {
        let to = to.map(|at| at as u32);
        let hash = (self.hash)(id.as_bytes());
        if self.by_hash.get(&hash) == Some(&(from as u32)) {
            match to {
                Some(at) => self.by_hash.insert(hash, at),
                None => self.by_hash.remove(&hash),
            };
        } else {
            match to {
                Some(at) => self.collided.insert(id.to_string(), at),
                None => self.collided.remove(id),
            };
        }
    }
}

/// The changes of one pair not in the journal yet.
#[derive(Debug, Clone, Default)]
struct Unjournaled {
    /// Left ids whose link was made, changed or ended.
    touched: BTreeSet<String>,
    /// Tombstones added, as in `PairState::tombstones`.
    tombstones: [BTreeSet<String>; 2],
    pending: bool,
}

impl Unjournaled {
    fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.tombstones.iter().all(BTreeSet::is_empty) && !self.pending
    }
}

/// The links of one pair, indexed both ways, its pending creates, and its
/// tombstones.
#[derive(Debug, Clone, Default)]
pub struct PairState {
    /// In the order they were made (a loaded file's order, then new links).
    links: Vec<Link>,
    by_left: IdIndex,
    by_right: IdIndex,
    pending: Vec<PendingCreate>,
    /// What changed since the journal was last written.
    unjournaled: Unjournaled,
    /// Records whose link ended because its partner was deleted (left ids,
    /// right ids). They are never copied across again: the survivor of an
    /// ignored delete would otherwise resurrect the deleted record, and a
    /// deleted record still in an incremental snapshot would be recreated.
    tombstones: [BTreeSet<String>; 2],
}

impl PairState {
    /// A pair's saved links; None if two links share a record, which crmsync
    /// never writes.
    fn from_links(links: Vec<Link>) -> Option<PairState> {
        let mut pair = PairState {
            by_left: IdIndex::with_capacity(links.len()),
            by_right: IdIndex::with_capacity(links.len()),
            ..PairState::default()
        };
        for (at, link) in links.iter().enumerate() {
            if pair.left_position(&link.left, &links).is_some()
                || pair.right_position(&link.right, &links).is_some()
            {
                return None;
            }
            pair.by_left.insert(&link.left, at, |i| &links[i].left);
            pair.by_right.insert(&link.right, at, |i| &links[i].right);
        }
        pair.links = links;
        Some(pair)
    }

    fn left_position(&self, left: &str, links: &[Link]) -> Option<usize> {
        self.by_left.find(left, |i| &links[i].left)
    }

    fn right_position(&self, right: &str, links: &[Link]) -> Option<usize> {
        self.by_right.find(right, |i| &links[i].right)
    }

    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.links.iter()
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn by_left(&self, left: &str) -> Option<&Link> {
        Some(&self.links[self.left_position(left, &self.links)?])
    }

    pub fn by_right(&self, right: &str) -> Option<&Link> {
        Some(&self.links[self.right_position(right, &self.links)?])
    }

    /// Removes the link at `at`; the last link takes its place.
    fn remove_at(&mut self, at: usize) -> Link {
        let last = self.links.len() - 1;
        let (left, right) = (&self.links[at].left, &self.links[at].right);
        self.by_left.move_or_forget(left, at, None);
        self.by_right.move_or_forget(right, at, None);
        if at != last {
            let moved = &self.links[last];
            self.by_left.move_or_forget(&moved.left, last, Some(at));
            self.by_right.move_or_forget(&moved.right, last, Some(at));
        }
        let removed = self.links.swap_remove(at);
        self.unjournaled.touched.insert(removed.left.clone());
        removed
    }

    /// Returns true if and only if the record's link ended in a delete.
    pub fn is_tombstoned(&self, side: Side, id: &str) -> bool {
        self.tombstones[side_index(side)].contains(id)
    }

    /// Ends a link because one of its records was deleted: both records are
    /// remembered so neither is copied across again.
    pub fn bury(&mut self, left: &str, right: &str) {
        self.unlink(left);
        for (side, id) in [left, right].into_iter().enumerate() {
            self.tombstones[side].insert(id.to_string());
            self.unjournaled.tombstones[side].insert(id.to_string());
        }
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
        self.unjournaled.pending = true;
    }

    /// Forgets a journaled create once its answer is known.
    pub fn remove_pending(&mut self, target: Side, source: &str) {
        self.pending
            .retain(|p| !(p.target == target && p.source == source));
        self.unjournaled.pending = true;
    }

    /// Links two records, replacing any link either had with another record
    /// (its base went with that partner); a pending create of either record
    /// is settled by the link. Linking an existing pair again keeps its base.
    pub fn link(&mut self, left: &str, right: &str) -> &mut Link {
        let settles = |p: &PendingCreate| match p.target {
            Side::Right => p.source == left,
            Side::Left => p.source == right,
        };
        if self.pending.iter().any(settles) {
            self.pending.retain(|p| !settles(p));
            self.unjournaled.pending = true;
        }
        self.unjournaled.touched.insert(left.to_string());
        let at = match self.left_position(left, &self.links) {
            Some(at) if self.links[at].right == right => at,
            held => {
                if let Some(at) = held {
                    self.remove_at(at);
                }
                if let Some(at) = self.right_position(right, &self.links) {
                    self.remove_at(at);
                }
                let at = self.links.len();
                self.links.push(Link {
                    left: left.to_string(),
                    right: right.to_string(),
                    base: Base::default(),
                });
                let links = &self.links;
                self.by_left.insert(left, at, |i| &links[i].left);
                self.by_right.insert(right, at, |i| &links[i].right);
                at
            }
        };
        &mut self.links[at]
    }

    /// The link of `left`, to change its base.
    pub fn link_mut(&mut self, left: &str) -> Option<&mut Link> {
        let at = self.left_position(left, &self.links)?;
        self.unjournaled.touched.insert(left.to_string());
        Some(&mut self.links[at])
    }

    pub fn unlink(&mut self, left: &str) {
        if let Some(at) = self.left_position(left, &self.links) {
            self.remove_at(at);
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

/// One line of the journal: what changed in each pair since the line
/// before. A link listed replaces whatever its records were linked to; an
/// id under `unlinked` lost its link; `pending`, when present, is the
/// pair's whole list of pending creates.
#[derive(Serialize, Deserialize)]
struct JournalLine<'a> {
    format: Cow<'a, str>,
    version: u32,
    pairs: BTreeMap<Cow<'a, str>, PairChanges<'a>>,
}

#[derive(Serialize, Deserialize)]
struct PairChanges<'a> {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    links: Vec<Cow<'a, Link>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unlinked: Vec<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Tombstones::is_empty")]
    tombstones: Tombstones,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<Cow<'a, [PendingCreate]>>,
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

    /// The journal beside the state file `state_path`: one line per
    /// applied batch (and per batch of creates about to be sent) with what
    /// changed, appended and synced. The state file, which grows with every
    /// link, is rewritten only every few seconds; the journal makes every
    /// batch durable in the meantime, at the cost of that batch alone.
    fn journal_path(state_path: &Path) -> PathBuf {
        state_path.with_file_name("journal.jsonl")
    }

    /// Reads the state file and replays its journal; a missing state file
    /// is a first run, anything unreadable is an error that says how to
    /// recover.
    pub fn load(path: &Path) -> Result<State> {
        let mut state = State::load_links(path)?;
        state.replay_journal(&State::journal_path(path))?;
        Ok(state)
    }

    fn load_links(path: &Path) -> Result<State> {
        let started = std::time::Instant::now();
        let Some(bytes) = files::read_if_present(path)? else {
            return Ok(State::default());
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
            let pair = state.pairs.entry(name).or_insert(
                PairState::from_links(saved.links)
                    .with_context(|| format!("two links share one record; {}", recover()))?,
            );
            pair.pending = saved.pending;
            pair.tombstones = [saved.tombstones.left, saved.tombstones.right];
        }
        log::debug!(
            "read {} links from {} in {:.2} s",
            state.pairs.values().map(PairState::len).sum::<usize>(),
            path.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(state)
    }

    /// Applies the journal's lines in order. Only the last line can be torn
    /// (a run killed while appending): it is left out, which loses nothing
    /// the next run cannot see again, as its creates were journaled before
    /// they were sent.
    fn replay_journal(&mut self, path: &Path) -> Result<()> {
        let Some(bytes) = files::read_if_present(path)? else {
            return Ok(());
        };
        let recover = |n: usize| {
            format!(
                "journal {} line {n} is corrupt; restore the state directory from a backup, or move the journal aside to go on (changes of the last run may then be made again, and an interrupted create repeated)",
                path.display()
            )
        };
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // A complete journal ends with a newline, so its last piece is empty.
        let (torn, complete) = lines.split_last().expect("split yields one piece");
        if !torn.is_empty() {
            log::warn!(
                "{}: the last line is incomplete (a run was killed while writing it); it is left out",
                path.display()
            );
        }
        for (n, line) in complete.iter().enumerate() {
            let line: JournalLine = serde_json::from_slice(line).with_context(|| recover(n + 1))?;
            if line.format != JOURNAL_FORMAT || line.version != VERSION {
                bail!(recover(n + 1));
            }
            for (name, changes) in line.pairs {
                let pair = self.pair_mut(&name);
                for left in &changes.unlinked {
                    pair.unlink(left);
                }
                for link in changes.links {
                    let link = link.into_owned();
                    pair.link(&link.left, &link.right).base = link.base;
                }
                let [left, right] = &mut pair.tombstones;
                left.extend(changes.tombstones.left);
                right.extend(changes.tombstones.right);
                if let Some(pending) = changes.pending {
                    pair.pending = pending.into_owned();
                }
            }
        }
        for pair in self.pairs.values_mut() {
            pair.unjournaled = Unjournaled::default();
        }
        Ok(())
    }

    /// Appends what changed since the last line to the journal; nothing if
    /// nothing did. Called after every applied batch and before a batch of
    /// creates is sent.
    pub fn journal(&mut self, state_path: &Path) -> Result<()> {
        let pairs: BTreeMap<Cow<str>, PairChanges> = self
            .pairs
            .iter()
            .filter(|(_, pair)| !pair.unjournaled.is_empty())
            .map(|(name, pair)| {
                let changes = &pair.unjournaled;
                let (links, unlinked) = changes.touched.iter().fold(
                    (Vec::new(), Vec::new()),
                    |(mut links, mut unlinked), left| {
                        match pair.by_left(left) {
                            Some(link) => links.push(Cow::Borrowed(link)),
                            None => unlinked.push(Cow::Borrowed(left.as_str())),
                        }
                        (links, unlinked)
                    },
                );
                let [left, right] = changes.tombstones.clone();
                let changes = PairChanges {
                    links,
                    unlinked,
                    tombstones: Tombstones { left, right },
                    pending: changes.pending.then_some(Cow::Borrowed(&pair.pending[..])),
                };
                (Cow::Borrowed(name.as_str()), changes)
            })
            .collect();
        if pairs.is_empty() {
            return Ok(());
        }
        let line = serde_json::to_vec(&JournalLine {
            format: JOURNAL_FORMAT.into(),
            version: VERSION,
            pairs,
        })?;
        files::append_line(&State::journal_path(state_path), &line)?;
        for pair in self.pairs.values_mut() {
            pair.unjournaled = Unjournaled::default();
        }
        Ok(())
    }

    /// Writes the whole state file atomically (serialising it in place: no
    /// copy of the links is made) and starts a new journal. The journal is
    /// brought up to date first, so a kill between the two steps replays a
    /// journal that ends exactly where the new state file stands.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.journal(path)?;
        self.save_links(path)?;
        files::remove_if_present(&State::journal_path(path))
    }

    fn save_links(&self, path: &Path) -> Result<()> {
        #[derive(Serialize)]
        struct FileRef<'a> {
            format: &'a str,
            version: u32,
            pairs: BTreeMap<&'a str, PairRef<'a>>,
        }
        #[derive(Serialize)]
        struct PairRef<'a> {
            links: &'a [Link],
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
                    links: &pair.links,
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
        pair.link("1", "a").base.left.insert("email", "x@y.z");
        pair.link("2", "b");
        pair.link("3", "b");
        assert!(pair.by_left("2").is_none(), "b moved to 3");
        assert_eq!(pair.by_right("b").unwrap().left, "3");
        state.save(&State::path(&dir)).unwrap();
        let loaded = State::load(&State::path(&dir)).unwrap();
        let pair = loaded.pair("contacts").unwrap();
        assert_eq!(pair.len(), 2);
        assert_eq!(pair.by_right("a").unwrap().base.left["email"], *"x@y.z");
    }

    #[test]
    fn the_journal_carries_every_batch_until_the_state_file_is_rewritten() {
        let dir = temp_dir("journal");
        let path = State::path(&dir);
        let journal = State::journal_path(&path);
        let create = |source: &str| PendingCreate {
            target: Side::Right,
            source: source.into(),
            fields: [("email", format!("{source}@x.io"))].into(),
        };
        let mut state = State::default();
        state
            .pair_mut("p")
            .link("0", "z")
            .base
            .left
            .insert("email", "0@x.io");
        state.pair_mut("p").link("9", "y");
        state.save(&path).unwrap();
        assert!(!journal.exists(), "a saved state starts a new journal");
        // A batch of two creates is journaled before it is sent ...
        let pair = state.pair_mut("p");
        pair.add_pending(create("1"));
        pair.add_pending(create("2"));
        state.journal(&path).unwrap();
        // ... one is made; an update moves a base; a delete buries a link.
        let pair = state.pair_mut("p");
        pair.link("1", "a").base.left.insert("email", "1@x.io");
        pair.link_mut("0")
            .unwrap()
            .base
            .left
            .insert("email", "new@x.io");
        pair.bury("9", "y");
        state.journal(&path).unwrap();
        // The run is killed while appending the next line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap()
            .write_all(b"{\"format\":\"crmsync-jour")
            .unwrap();
        let check = |resumed: &State| {
            let pair = resumed.pair("p").unwrap();
            let pending: Vec<&str> = pair.pending().iter().map(|p| p.source.as_str()).collect();
            assert_eq!(pending, ["2"], "1 was settled by its link");
            assert_eq!(pair.by_left("1").unwrap().base.left["email"], *"1@x.io");
            assert_eq!(pair.by_right("z").unwrap().base.left["email"], *"new@x.io");
            assert!(pair.by_left("9").is_none() && pair.is_tombstoned(Side::Right, "y"));
            assert_eq!(pair.len(), 2);
        };
        check(&State::load(&path).unwrap());
        // Rewriting the state file folds the journal in.
        let mut resumed = State::load(&path).unwrap();
        resumed.save(&path).unwrap();
        assert!(!journal.exists());
        check(&State::load(&path).unwrap());
        // A corrupt line that is not the last is an error naming the file.
        std::fs::write(&journal, b"{}\n{}\n").unwrap();
        let e = format!("{:#}", State::load(&path).unwrap_err());
        assert!(e.contains("journal.jsonl line 1 is corrupt"), "{e}");
    }

    #[test]
    fn links_stay_found_through_hash_collisions_and_removals() {
        for hash in [fnv as fn(&[u8]) -> u64, |_: &[u8]| 7] {
            let mut pair = PairState::default();
            pair.by_left.hash = hash;
            pair.by_right.hash = hash;
            for i in 0..50 {
                pair.link(&format!("l{i}"), &format!("r{i}"));
            }
            for i in (0..50).step_by(3) {
                pair.unlink(&format!("l{i}"));
            }
            pair.link("l1", "r2");
            pair.link("new", "r4");
            let mut expected: Vec<(String, String)> = (0..50)
                .filter(|i| i % 3 != 0 && ![1, 2, 4].contains(i))
                .map(|i| (format!("l{i}"), format!("r{i}")))
                .chain([("l1".into(), "r2".into()), ("new".into(), "r4".into())])
                .collect();
            expected.sort();
            let mut found: Vec<(String, String)> = pair
                .links()
                .map(|l| (l.left.clone(), l.right.clone()))
                .collect();
            found.sort();
            assert_eq!(found, expected);
            for (left, right) in &expected {
                assert_eq!(&pair.by_left(left).unwrap().right, right);
                assert_eq!(&pair.by_right(right).unwrap().left, left);
            }
            for gone in ["l0", "l2", "l4", "l3"] {
                assert!(pair.by_left(gone).is_none(), "{gone}");
            }
            assert!(pair.by_right("r1").is_none() && pair.by_right("r0").is_none());
        }
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_the_file() {
        let dir = temp_dir("corrupt");
        std::fs::write(State::path(&dir), b"{\"format\":\"crmsync-state\",\"vers").unwrap();
        let e = format!("{:#}", State::load(&State::path(&dir)).unwrap_err());
        assert!(e.contains("state.json is corrupt or truncated"), "{e}");
        let link = r#"{"left":"1","right":"a","base":{"left":{},"right":{}}}"#;
        let twice = format!(
            r#"{{"format":"crmsync-state","version":1,"pairs":{{"p":{{"links":[{link},{link}]}}}}}}"#
        );
        std::fs::write(State::path(&dir), twice).unwrap();
        let e = format!("{:#}", State::load(&State::path(&dir)).unwrap_err());
        assert!(e.contains("two links share one record"), "{e}");
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
