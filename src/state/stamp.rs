//! The mapping validation stamp (`validated.json` in the state directory):
//! the fingerprint of the mapping file last checked against both accounts'
//! metadata, and when. A stamp under a day old for the same fingerprint
//! spares an unchanged cron run the metadata requests. It records a check;
//! it does not perform one.

use crate::files;
use std::path::{Path, PathBuf};

/// How long a validation holds: a day.
const VALID_FOR_MS: i64 = 86_400_000;

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("validated.json")
}

/// Returns true if and only if the mapping with `fingerprint` was validated
/// less than a day ago; a missing or unreadable stamp is not fresh.
pub fn validated_recently(state_dir: &Path, fingerprint: &str) -> bool {
    std::fs::read(path(state_dir))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| {
            v["fingerprint"] == fingerprint
                && v["at_ms"]
                    .as_i64()
                    .is_some_and(|at| crate::timestamp::now_ms() - at < VALID_FOR_MS)
        })
}

/// Records that the mapping with `fingerprint` was validated now.
pub fn record_validated(state_dir: &Path, fingerprint: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({"fingerprint": fingerprint, "at_ms": crate::timestamp::now_ms()});
    files::ensure_private_dir(state_dir)?;
    files::write_atomic(&path(state_dir), body.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_holds_for_its_own_fingerprint_only() {
        let dir = crate::state::temp_dir("stamp");
        assert!(!validated_recently(&dir, "abc"));
        record_validated(&dir, "abc").unwrap();
        assert!(validated_recently(&dir, "abc"));
        assert!(!validated_recently(&dir, "abd"));
        std::fs::write(path(&dir), b"not json").unwrap();
        assert!(!validated_recently(&dir, "abc"));
    }
}
