//! Links whose records are no longer where they were: vanished from one or
//! both sides (an unlink, or a delete with `deletes = "propagate"`), or
//! merged into other records (a merge item that follows, is spent, is
//! orphaned or names a second partner). It never deletes a merge's result.

use super::label;
use crate::config::{DeletePolicy, MergePolicy, PairConfig};
use crate::matcher::{Gone, MergeOutcome};
use crate::model::{Record, Side, Sided};
use crate::plan::{Delete, Item, Merge, MergeStep, Unlink};

/// The item of a link a merge touched: the link follows the merge, is
/// spent, or its partner is a second partner of the merged record: reported,
/// or with `merges = "propagate"` (where the direction allows writing that
/// side) merged into the partner the survivor kept, whose values win.
pub(super) fn merge_item(pair: &PairConfig, merge: &crate::matcher::Merge) -> Item {
    let step = match merge.outcome {
        MergeOutcome::Follows => MergeStep::Follow,
        MergeOutcome::Spent => MergeStep::Spent,
        MergeOutcome::SecondPartner { side, kept } => MergeStep::Partners {
            side,
            kept: kept.id.clone(),
            propagate: pair.merges == MergePolicy::Propagate && pair.direction.writes(side.other()),
        },
    };
    // A second partner is named by what it holds itself.
    let shown = match merge.outcome {
        MergeOutcome::SecondPartner { side, .. } => {
            let mut shown = merge.now.map(Some);
            shown[side] = None;
            shown
        }
        _ => merge.now.map(Some),
    };
    Item::Merge(Merge {
        was: Sided::new(merge.link.left.clone(), merge.link.right.clone()),
        now: merge.now.map(|r| r.id.clone()),
        label: label(pair, shown.left, shown.right),
        step,
        expect: merge.now.map(|r| r.updated_ms),
    })
}

/// A linked record is gone from one side: with `deletes = "propagate"` (and a
/// direction that allows writing there) its partner is deleted too; else the
/// link is dropped and nothing is deleted. A record that is the result of a
/// merge is never deleted.
pub(super) fn vanished(pair: &PairConfig, gone: &Gone) -> Item {
    let ids = Sided::new(gone.link.left.clone(), gone.link.right.clone());
    let label = label(pair, gone.left, gone.right);
    if gone.merged {
        let now = |side: Side, record: Option<&Record>| {
            record.map_or((ids[side].clone(), 0), |r| (r.id.clone(), r.updated_ms))
        };
        let (left, right) = (now(Side::Left, gone.left), now(Side::Right, gone.right));
        return Item::Merge(Merge {
            was: ids,
            now: Sided::new(left.0, right.0),
            label,
            step: MergeStep::Orphaned,
            expect: Sided::new(left.1, right.1),
        });
    }
    let survivor = match (gone.left, gone.right) {
        (Some(l), None) => Some((Side::Left, l)),
        (None, Some(r)) => Some((Side::Right, r)),
        _ => None,
    };
    let reason = match survivor {
        Some((side, record))
            if pair.deletes == DeletePolicy::Propagate && pair.direction.writes(side) =>
        {
            return Item::Delete(Delete {
                target: side,
                ids,
                label,
                reason: format!("deleted on the {} side", side.other()),
                expect: record.updated_ms,
            });
        }
        Some((side, _)) => format!(
            "deleted on the {} side; the link is dropped, nothing is deleted",
            side.other()
        ),
        None => "deleted on both sides; the link is dropped".into(),
    };
    Item::Unlink(Unlink { ids, label, reason })
}
