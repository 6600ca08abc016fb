//! The links of one pair (left id ↔ right id, each with its base), found
//! by either id through a hash index that holds no second copy of an id,
//! plus the pair's pending creates, its tombstones and what changed since
//! the journal was last written.

use crate::model::{Fields, Side, Sided, fnv};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// The last synced values on each side of one link.
pub type Base = Sided<Fields>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub left: String,
    pub right: String,
    pub base: Base,
    /// The side whose record left the pair's scope, while it is out: the
    /// link sleeps (nothing is written either way), and the plan said so
    /// once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dormant: Option<Side>,
}

impl Link {
    /// The linked record's id on `side`.
    pub fn id(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
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

/// A merge that was sent but whose answer was never recorded. The next run
/// asks whether `merged` still exists before planning it again, so a merge
/// that happened is found, never repeated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMerge {
    /// The side the records were merged on.
    pub target: Side,
    /// The record merged away.
    pub merged: String,
    /// The record it was merged into.
    pub kept: String,
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
pub(super) struct Unjournaled {
    /// Left ids whose link was made, changed or ended.
    pub(super) touched: BTreeSet<String>,
    /// Tombstones added, as in `PairState::tombstones`.
    pub(super) tombstones: Sided<BTreeSet<String>>,
    pub(super) pending: bool,
    pub(super) merges: bool,
}

impl Unjournaled {
    pub(super) fn is_empty(&self) -> bool {
        self.touched.is_empty()
            && self.tombstones.iter().all(|(_, ids)| ids.is_empty())
            && !self.pending
            && !self.merges
    }
}

/// The links of one pair, indexed both ways, its pending creates, and its
/// tombstones.
#[derive(Debug, Clone, Default)]
pub struct PairState {
    /// In the order they were made (a loaded file's order, then new links).
    pub(super) links: Vec<Link>,
    by_left: IdIndex,
    by_right: IdIndex,
    pub(super) pending: Vec<PendingCreate>,
    pub(super) pending_merges: Vec<PendingMerge>,
    /// What changed since the journal was last written.
    pub(super) unjournaled: Unjournaled,
    /// Records whose link ended because its partner was deleted (left ids,
    /// right ids). They are never copied across again: the survivor of an
    /// ignored delete would otherwise resurrect the deleted record, and a
    /// deleted record still in an incremental snapshot would be recreated.
    pub(super) tombstones: Sided<BTreeSet<String>>,
}

impl PairState {
    /// A pair's saved links; None if two links share a record, which crmsync
    /// never writes.
    pub(super) fn from_links(links: Vec<Link>) -> Option<PairState> {
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

    /// The link holding the record `id` of `side`.
    pub fn by(&self, side: Side, id: &str) -> Option<&Link> {
        match side {
            Side::Left => self.by_left(id),
            Side::Right => self.by_right(id),
        }
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
        self.tombstones[side].contains(id)
    }

    /// Ends a link because one of its records was deleted: both records are
    /// remembered so neither is copied across again.
    pub fn bury(&mut self, left: &str, right: &str) {
        self.unlink(left);
        for (side, id) in Sided::new(left, right).iter() {
            self.tombstone(side, id);
        }
    }

    /// Remembers a record that must never be copied across (see `bury`).
    pub fn tombstone(&mut self, side: Side, id: &str) {
        self.tombstones[side].insert(id.to_string());
        self.unjournaled.tombstones[side].insert(id.to_string());
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
                    dormant: None,
                });
                let links = &self.links;
                self.by_left.insert(left, at, |i| &links[i].left);
                self.by_right.insert(right, at, |i| &links[i].right);
                at
            }
        };
        &mut self.links[at]
    }

    /// Merges sent but not confirmed.
    pub fn pending_merges(&self) -> &[PendingMerge] {
        &self.pending_merges
    }

    /// Journals a merge before it is sent.
    pub fn add_pending_merge(&mut self, merge: PendingMerge) {
        self.pending_merges
            .retain(|m| !(m.target == merge.target && m.merged == merge.merged));
        self.pending_merges.push(merge);
        self.unjournaled.merges = true;
    }

    /// Forgets a journaled merge once its outcome is known.
    pub fn remove_pending_merge(&mut self, target: Side, merged: &str) {
        let before = self.pending_merges.len();
        self.pending_merges
            .retain(|m| !(m.target == target && m.merged == merged));
        self.unjournaled.merges |= self.pending_merges.len() != before;
    }

    /// Moves the link holding `was` to the records `now`, keeping its base:
    /// the records it linked were merged into those. Returns false if no
    /// link holds exactly `was`.
    pub fn move_link(&mut self, was: &Sided<String>, now: &Sided<String>) -> bool {
        let Some(at) = self
            .left_position(&was.left, &self.links)
            .filter(|&at| self.links[at].right == was.right)
        else {
            return false;
        };
        let base = std::mem::take(&mut self.links[at].base);
        self.remove_at(at);
        self.link(&now.left, &now.right).base = base;
        true
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
