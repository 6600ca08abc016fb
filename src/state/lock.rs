//! The run lock: an OS file lock on `state_dir/lock` that keeps two runs
//! (two cron jobs, or a cron job and a person) from overlapping.
//!
//! The lock is `flock` (`File::try_lock`), which the kernel releases when
//! the last descriptor of the open file closes, so at the latest when the
//! holder exits, however it exits (kill -9 included); crmsync starts no
//! child process that could inherit it (Rust opens files close-on-exec). A
//! held lock therefore always means a live run, which the second run leaves
//! alone (`LockHeld`: skipped, not an error); a dead run's lock cannot
//! persist. What a dead run does leave is the file's text: the holder
//! writes its pid and start time into it and empties it when it lets go, so
//! a run that finds text in a lock it could take knows the last run ended
//! without letting go (killed, or the machine stopped) and says so. That
//! run's work is recovered from the journal, not here. This module must not
//! decide exit codes or print; it only reports what it found.

use crate::files;
use crate::timestamp::{format_ms, now_ms};
use anyhow::{Context, Result};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Who holds (or last held) the lock, as its file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// When that run took the lock (epoch ms), if the file says.
    pub started_ms: Option<i64>,
}

impl Holder {
    /// `1234 2026-12-02T14:22:33.000Z`, or a bare pid (older versions).
    fn parse(text: &str) -> Option<Holder> {
        let mut words = text.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        let started_ms = words.next().and_then(crate::timestamp::parse_ms);
        Some(Holder { pid, started_ms })
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.pid)?;
        if let Some(started) = self.started_ms {
            let secs = (now_ms() - started).max(0) / 1000;
            write!(
                f,
                ", started {}, {}m {:02}s ago",
                format_ms(started),
                secs / 60,
                secs % 60
            )?;
        }
        Ok(())
    }
}

/// A live earlier run holds the lock: this run is skipped (exit 8).
#[derive(Debug)]
pub struct LockHeld {
    pub state_dir: PathBuf,
    /// The holder, when its file already names it.
    pub holder: Option<Holder>,
}

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped: the previous run is still going (")?;
        if let Some(holder) = &self.holder {
            write!(f, "{holder}, ")?;
        }
        write!(
            f,
            "holding the lock in {}); this run did nothing, the next one picks up",
            self.state_dir.display()
        )
    }
}

impl std::error::Error for LockHeld {}

/// The run lock; released when dropped, or when the process dies.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    /// The run that held the lock last and ended without letting go of it
    /// (its text was still in the file): killed, or its machine stopped.
    pub taken_over: Option<Holder>,
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
        let mut text = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let _ = file.read_to_string(&mut text);
                return Err(LockHeld {
                    state_dir: state_dir.to_path_buf(),
                    holder: Holder::parse(&text),
                }
                .into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let _ = file.read_to_string(&mut text);
        let taken_over = Holder::parse(&text).filter(|h| h.pid != std::process::id());
        // For the next run and for a human wondering who holds it; the lock
        // itself is the OS lock.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{} {}", std::process::id(), format_ms(now_ms()));
        Ok(RunLock { file, taken_over })
    }
}

impl Drop for RunLock {
    /// An empty file tells the next run this one let go of the lock.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
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
        assert_eq!(first.taken_over, None);
        let second = RunLock::acquire(&dir).unwrap_err();
        let held = second.downcast_ref::<LockHeld>().expect("LockHeld");
        assert_eq!(
            held.holder.as_ref().map(|h| h.pid),
            Some(std::process::id())
        );
        assert!(held.to_string().contains("still going"), "{held}");
        drop(first);
        let again = RunLock::acquire(&dir).unwrap();
        assert_eq!(again.taken_over, None, "a lock let go is not taken over");
    }

    #[test]
    fn the_text_of_a_run_that_never_let_go_is_reported_as_taken_over() {
        let dir = temp_dir("lock-stale");
        std::fs::write(dir.join("lock"), "4000000 2026-12-02T14:00:00.000Z\n").unwrap();
        let lock = RunLock::acquire(&dir).unwrap();
        let holder = lock.taken_over.clone().expect("taken over");
        assert_eq!(holder.pid, 4_000_000);
        assert!(holder.started_ms.is_some());
        let text = std::fs::read_to_string(dir.join("lock")).unwrap();
        assert!(
            text.starts_with(&format!("{} ", std::process::id())),
            "{text}"
        );
        drop(lock);
        assert_eq!(std::fs::read_to_string(dir.join("lock")).unwrap(), "");
        // A bare pid (an older version's file) reads too.
        assert_eq!(
            Holder::parse("77\n"),
            Some(Holder {
                pid: 77,
                started_ms: None
            })
        );
        assert_eq!(Holder::parse(""), None);
    }
}
