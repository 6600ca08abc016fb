//! The keys of the fields crmsync created where the vendor names a field
//! by a generated key rather than by the name the mapping file uses
//! (Pipedrive): `state_dir/field-keys.json`, by `system.object`, then the
//! mapping file's name. Read when the connectors are built, so the name
//! resolves to its field from then on; written atomically, 0600, as soon
//! as a field is made.

use crate::files;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `system.object` → mapping name → the vendor's key.
pub type FieldKeys = BTreeMap<String, BTreeMap<String, String>>;

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("field-keys.json")
}

/// The keys recorded so far; none on a first run.
pub fn load_field_keys(state_dir: &Path) -> Result<FieldKeys> {
    let Some(bytes) = files::read_if_present(&path(state_dir))? else {
        return Ok(FieldKeys::new());
    };
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is damaged; delete it and map the fields crmsync created by their keys",
            path(state_dir).display()
        )
    })
}

/// Records that the field the mapping names `name` on `object`
/// (`system.object`) has the key `key`.
pub fn record_field_key(state_dir: &Path, object: &str, name: &str, key: &str) -> Result<()> {
    let mut keys = load_field_keys(state_dir)?;
    keys.entry(object.to_string())
        .or_default()
        .insert(name.to_string(), key.to_string());
    files::ensure_private_dir(state_dir)?;
    let mut bytes = serde_json::to_vec_pretty(&keys)?;
    bytes.push(b'\n');
    files::write_atomic(&path(state_dir), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_key_is_read_back_beside_the_others() {
        let dir = crate::state::temp_dir("field-keys");
        assert!(load_field_keys(&dir).unwrap().is_empty());
        record_field_key(&dir, "pd.persons", "tier", "abc").unwrap();
        record_field_key(&dir, "pd.deals", "tier", "def").unwrap();
        let keys = load_field_keys(&dir).unwrap();
        assert_eq!(keys["pd.persons"]["tier"], "abc");
        assert_eq!(keys["pd.deals"]["tier"], "def");
    }
}
