//! The decision for one field of a linked pair against its base (nothing,
//! settle, copy one way, clash), and a clash settled by the pair's conflict
//! policy. It only decides; the per-record merge (`record`) acts on it.

use crate::config::{ConflictPolicy, PairConfig};
use crate::model::{Record, Side, values_equivalent};
use crate::plan::Conflict;

/// The decision for one field.
pub(super) enum Decision {
    Nothing,
    Settle,
    Copy(Side),
    Clash,
}

pub(super) fn decide(lv: &str, rv: &str, translated: &str, base: Option<(&str, &str)>) -> Decision {
    match base {
        None => {
            if values_equivalent(translated, rv) {
                Decision::Settle
            } else if lv.is_empty() {
                Decision::Copy(Side::Right)
            } else if rv.is_empty() {
                Decision::Copy(Side::Left)
            } else {
                Decision::Clash
            }
        }
        Some((bl, br)) => match (lv != bl, rv != br) {
            (false, false) => Decision::Nothing,
            // Changed into what the other side already holds (a relation
            // moved by a merge on both sides, say): nothing to write.
            _ if values_equivalent(translated, rv) => Decision::Settle,
            (true, false) => Decision::Copy(Side::Left),
            (false, true) => Decision::Copy(Side::Right),
            (true, true) => Decision::Clash,
        },
    }
}

/// A field changed on both sides: the pair's policy for it names the side
/// kept (none for `skip`), written across where the direction allows.
pub(super) fn clash(
    pair: &PairConfig,
    field: &str,
    l: &Record,
    r: &Record,
    values: (&str, &str),
) -> Conflict {
    let policy = pair.conflict_for(field);
    let winner = match policy {
        ConflictPolicy::Left => Some(Side::Left),
        ConflictPolicy::Right => Some(Side::Right),
        ConflictPolicy::Skip => None,
        ConflictPolicy::Newest if r.updated_ms > l.updated_ms => Some(Side::Right),
        ConflictPolicy::Newest => Some(Side::Left),
    };
    Conflict {
        field: field.to_string(),
        left: values.0.into(),
        right: values.1.into(),
        policy,
        winner,
        applied: winner.is_some_and(|w| pair.direction.writes(w.other())),
    }
}
