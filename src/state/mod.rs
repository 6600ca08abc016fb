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
//!
//! `links` holds one pair's links and their index, `file` the state file
//! and its journal, `lock` the run lock, `stamp` the mapping validation
//! stamp, `field_keys` the keys of fields crmsync created, `spend` the
//! day's spend of a daily token budget, and `legacy` the clean-up of files
//! older versions left.

mod field_keys;
mod file;
pub mod legacy;
mod links;
mod lock;
mod spend;
mod stamp;

pub use field_keys::{FieldKeys, load_field_keys, record_field_key};
pub use file::State;
pub use links::{Base, Link, PairState, PendingCreate, PendingMerge};
pub use lock::{LockHeld, RunLock};
pub use spend::{CapReached, DailySpend, utc_day};
pub use stamp::{record_validated, validated_recently};

/// A fresh private directory for one test.
#[cfg(test)]
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("crmsync-state-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    crate::files::ensure_private_dir(&dir).unwrap();
    dir
}
