//! The run lock: an OS file lock in the state directory that keeps two
//! runs (two cron jobs, or a cron job and a person) from overlapping.

use crate::files;
use anyhow::{Context, Result};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    use crate::state::temp_dir;

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
