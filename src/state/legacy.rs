//! Files of older crmsync versions that are no longer read: snapshots kept
//! per pair and side (`snapshots/PAIR.SIDE.json`), from before snapshots per
//! account object. Removing them is all this file does; it never reads one.

use crate::model::Side;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Where versions before snapshots per account object kept one side of
/// one pair: `state_dir/snapshots/PAIR.SIDE.json`.
fn snapshot_path(state_dir: &Path, pair: &str, side: Side) -> PathBuf {
    state_dir
        .join("snapshots")
        .join(format!("{pair}.{side}.json"))
}

/// Removes the per-pair snapshots the pairs named `pairs` left behind; the
/// account objects just pulled replace them.
pub fn remove_pair_snapshots<'a>(
    state_dir: &Path,
    pairs: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    for pair in pairs {
        for side in Side::BOTH {
            let legacy = snapshot_path(state_dir, pair, side);
            if legacy.exists() {
                std::fs::remove_file(&legacy)
                    .with_context(|| format!("removing the old snapshot {}", legacy.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_pairs_old_snapshots_are_removed() {
        let dir = crate::state::temp_dir("legacy");
        std::fs::create_dir_all(dir.join("snapshots")).unwrap();
        for name in [
            "people.left",
            "people.right",
            "deals.left",
            "hubspot.contacts",
        ] {
            std::fs::write(dir.join("snapshots").join(format!("{name}.json")), b"{}").unwrap();
        }
        remove_pair_snapshots(&dir, ["people", "companies"]).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["deals.left.json", "hubspot.contacts.json"]);
    }
}
