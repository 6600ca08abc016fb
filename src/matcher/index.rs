//! One side's records as the matcher looks a linked id up: by id, or as
//! merged into a live record that names it (chains of merges followed). It
//! pairs nothing itself.

use super::positions;
use crate::model::{IdMap, Record};

/// Where a linked id stands in its side's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Listed under its own id.
    Live(usize),
    /// Merged into the record at this position.
    Merged(usize),
    /// Neither: gone, as far as the records tell.
    Missing,
}

impl Found {
    pub(super) fn position(self) -> Option<usize> {
        match self {
            Found::Live(i) | Found::Merged(i) => Some(i),
            Found::Missing => None,
        }
    }
}

/// One side's records as the matcher looks them up: by id, and (for the
/// few records that name ids merged into them) by those merged ids.
pub(super) struct SideIndex<'a> {
    pub(super) records: &'a [Record],
    pub(super) by_id: IdMap<&'a str, usize>,
    /// Merged id → the position of the live record it went into (chains of
    /// merges followed).
    merged_into: IdMap<&'a str, usize>,
}

impl<'a> SideIndex<'a> {
    pub(super) fn new(records: &'a [Record]) -> SideIndex<'a> {
        let mut merged_into = IdMap::default();
        for (i, r) in records.iter().enumerate() {
            if r.identity.is_some() {
                merged_into.extend(r.merged_from().iter().map(|id| (id.as_str(), i)));
            }
        }
        SideIndex {
            records,
            by_id: positions(records.iter()),
            merged_into,
        }
    }

    /// The live record `id` now is part of, if it was merged into one.
    pub(super) fn survivor(&self, id: &str) -> Option<usize> {
        // Nearly always no record names a merge: a million links are
        // looked up without hashing anything twice.
        if self.merged_into.is_empty() {
            return None;
        }
        let mut at = *self.merged_into.get(id)?;
        // A record merged again lists its merged ids on the next result;
        // a few steps reach the live one whatever the vendor lists.
        for _ in 0..8 {
            match self.merged_into.get(self.records[at].id.as_str()) {
                Some(&next) if next != at => at = next,
                _ => break,
            }
        }
        (self.records[at].id != id).then_some(at)
    }

    pub(super) fn find(&self, id: &str) -> Found {
        match (self.survivor(id), self.by_id.get(id)) {
            (Some(at), _) => Found::Merged(at),
            (None, Some(&at)) => Found::Live(at),
            (None, None) => Found::Missing,
        }
    }

    /// Returns true if and only if the record at `at` was merged into
    /// another (an incremental snapshot may still list it).
    pub(super) fn merged_away(&self, at: usize) -> bool {
        self.survivor(&self.records[at].id).is_some()
    }
}
