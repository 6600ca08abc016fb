//! The state file (`state.json`: every pair's links, pending creates and
//! tombstones, versioned and written atomically) and the journal beside it
//! (`journal.jsonl`: one synced line per applied batch), replayed on load.

use super::links::{Link, PairState, PendingCreate, PendingMerge, Unjournaled};
use crate::files;
use crate::model::Sided;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const FORMAT: &str = "crmsync-state";
const VERSION: u32 = 1;
const JOURNAL_FORMAT: &str = "crmsync-journal";

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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    merges: Vec<PendingMerge>,
    #[serde(default, skip_serializing_if = "Tombstones::is_empty")]
    tombstones: Tombstones,
}

/// One line of the journal: what changed in each pair since the line
/// before. A link listed replaces whatever its records were linked to; an
/// id under `unlinked` lost its link; `pending` and `merges`, when present,
/// are the pair's whole lists of pending creates and merges.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merges: Option<Cow<'a, [PendingMerge]>>,
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
            pair.pending_merges = saved.merges;
            pair.tombstones = Sided::new(saved.tombstones.left, saved.tombstones.right);
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
                replay(self.pair_mut(&name), changes);
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
                let Sided { left, right } = changes.tombstones.clone();
                let changes = PairChanges {
                    links,
                    unlinked,
                    tombstones: Tombstones { left, right },
                    pending: changes.pending.then_some(Cow::Borrowed(&pair.pending[..])),
                    merges: changes
                        .merges
                        .then_some(Cow::Borrowed(&pair.pending_merges[..])),
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
            #[serde(skip_serializing_if = "<[PendingMerge]>::is_empty")]
            merges: &'a [PendingMerge],
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
                let Sided { left, right } = &pair.tombstones;
                let file = PairRef {
                    links: &pair.links,
                    pending: &pair.pending,
                    merges: &pair.pending_merges,
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

/// One journal line's changes to one pair.
fn replay(pair: &mut PairState, changes: PairChanges) {
    for left in &changes.unlinked {
        pair.unlink(left);
    }
    for link in changes.links {
        let link = link.into_owned();
        pair.link(&link.left, &link.right).base = link.base;
    }
    let Sided { left, right } = &mut pair.tombstones;
    left.extend(changes.tombstones.left);
    right.extend(changes.tombstones.right);
    if let Some(pending) = changes.pending {
        pair.pending = pending.into_owned();
    }
    if let Some(merges) = changes.merges {
        pair.pending_merges = merges.into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Side;
    use crate::state::temp_dir;
    use std::io::Write;

    #[test]
    fn links_round_trip_and_relinking_moves_the_link() {
        let dir = temp_dir("roundtrip");
        let mut state = State::default();
        let pair = state.pair_mut("contacts");
        pair.link("1", "a").base.left.insert("email", "x@y.z");
        pair.link("2", "b");
        pair.link("3", "b");
        assert!(pair.by_left("2").is_none(), "b moved to 3");
        // A link follows a merge with its base.
        pair.link("4", "d").base.left.insert("email", "d@y.z");
        let moved = pair.move_link(
            &Sided::new("4".into(), "d".into()),
            &Sided::new("5".into(), "d".into()),
        );
        assert!(moved && pair.by_left("4").is_none());
        assert_eq!(pair.by_right("d").unwrap().base.left["email"], *"d@y.z");
        pair.unlink("5");
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
        // A merge is journaled before it is sent.
        pair.add_pending_merge(crate::state::PendingMerge {
            target: Side::Right,
            merged: "m2".into(),
            kept: "m1".into(),
        });
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
            assert_eq!(pair.pending_merges()[0].merged, "m2");
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
}
