//! crmsync's own spend of a vendor's daily token budget (Pipedrive's), per
//! system and UTC day, in `daily-spend.json` in the state directory (0600),
//! and the `daily_tokens` cap it is checked against.
//!
//! Crash safety: tokens are counted before the request that spends them is
//! sent, and the file always holds at least what was spent: it is written
//! ahead of the spend, a few requests' worth at a time (a lease), and
//! settled to the exact figure when the run ends. A run killed midway
//! leaves the file counting at most one lease more than was spent, never
//! less, so a cap is never crossed across runs. It decides nothing about
//! which request to send; the HTTP client asks it before each one.

use crate::files;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const FILE: &str = "daily-spend.json";
const FORMAT: &str = "crmsync-daily-spend";
const DAY_MS: i64 = 86_400_000;
/// The most a lease runs ahead of the spend, in tokens: a killed run
/// over-counts at most this much (and at most a fiftieth of the cap).
const MOST_AHEAD: u64 = 1_000;

/// Every system's spend of the day, as the file holds it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SpendFile {
    format: String,
    version: u32,
    systems: BTreeMap<String, DaySpend>,
}

/// What one system spent on one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct DaySpend {
    /// Days since 1970-01-01 (UTC).
    day: i64,
    tokens: u64,
}

/// One system's daily spend, as the HTTP client charges it.
#[derive(Debug)]
pub struct DailySpend {
    path: PathBuf,
    system: String,
    /// `daily_tokens`: the most crmsync may spend on the system per UTC day.
    cap: Option<u64>,
    /// What the system's requests should be charged by the day; a test
    /// gives its own clock.
    today: fn() -> i64,
    inner: Mutex<Spent>,
}

#[derive(Debug, Default)]
struct Spent {
    loaded: bool,
    day: i64,
    /// Spent today, this run's requests included.
    tokens: u64,
    /// What the file says was spent today: never less than `tokens`.
    recorded: u64,
}

/// The spend that a request would take past the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapReached {
    pub spent: u64,
    pub cap: u64,
}

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "daily_tokens reached: {} of {} today; the rest follows after 00:00 UTC",
            self.spent, self.cap
        )
    }
}

/// Serialises the file's read-modify-write between the systems of one run.
static FILE_LOCK: Mutex<()> = Mutex::new(());

/// Today, as days since 1970-01-01 in UTC.
pub fn utc_day() -> i64 {
    crate::timestamp::now_ms().div_euclid(DAY_MS)
}

impl DailySpend {
    /// The spend of `system`, kept in `state_dir`, under `cap` where set.
    pub fn new(state_dir: &Path, system: &str, cap: Option<u64>) -> DailySpend {
        DailySpend::with_clock(state_dir, system, cap, utc_day)
    }

    fn with_clock(state_dir: &Path, system: &str, cap: Option<u64>, today: fn() -> i64) -> Self {
        DailySpend {
            path: state_dir.join(FILE),
            system: system.to_string(),
            cap,
            today,
            inner: Mutex::new(Spent::default()),
        }
    }

    pub fn cap(&self) -> Option<u64> {
        self.cap
    }

    /// What was spent today so far (as the file counts it, at least).
    pub fn spent_today(&self) -> Result<u64> {
        let mut spent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.roll(&mut spent)?;
        Ok(spent.tokens)
    }

    /// Counts `tokens` about to be spent by a request, writing the file
    /// first where the lease is used up; `Err(CapReached)` (nothing
    /// counted) when they would take today's spend past the cap.
    pub fn spend(&self, tokens: u64) -> Result<std::result::Result<(), CapReached>> {
        let mut spent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.roll(&mut spent)?;
        let after = spent.tokens + tokens;
        if let Some(cap) = self.cap
            && after > cap
        {
            return Ok(Err(CapReached {
                spent: spent.tokens,
                cap,
            }));
        }
        if after > spent.recorded {
            let ahead = self
                .cap
                .map_or(MOST_AHEAD, |cap| (cap / 50).clamp(1, MOST_AHEAD));
            let lease = after + ahead;
            let lease = self.cap.map_or(lease, |cap| lease.min(cap));
            self.write(spent.day, lease)?;
            spent.recorded = lease;
        }
        spent.tokens = after;
        Ok(Ok(()))
    }

    /// Writes the exact spend, ending the lease (at the end of a run).
    pub fn settle(&self) -> Result<()> {
        let mut spent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !spent.loaded || spent.recorded == spent.tokens {
            return Ok(());
        }
        self.write(spent.day, spent.tokens)?;
        spent.recorded = spent.tokens;
        Ok(())
    }

    /// Loads today's spend on first use, and starts from nothing when the
    /// UTC day has changed since.
    fn roll(&self, spent: &mut Spent) -> Result<()> {
        let today = (self.today)();
        if !spent.loaded {
            let recorded = self
                .read()?
                .systems
                .get(&self.system)
                .filter(|s| s.day == today)
                .map_or(0, |s| s.tokens);
            *spent = Spent {
                loaded: true,
                day: today,
                tokens: recorded,
                recorded,
            };
        } else if spent.day != today {
            *spent = Spent {
                loaded: true,
                day: today,
                tokens: 0,
                recorded: 0,
            };
        }
        Ok(())
    }

    fn read(&self) -> Result<SpendFile> {
        let Some(bytes) = files::read_if_present(&self.path)? else {
            return Ok(SpendFile::default());
        };
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged; move it aside (crmsync then counts today's spend from zero)",
                self.path.display()
            )
        })
    }

    fn write(&self, day: i64, tokens: u64) -> Result<()> {
        let _file = FILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = self.read()?;
        file.format = FORMAT.to_string();
        file.version = 1;
        file.systems
            .insert(self.system.clone(), DaySpend { day, tokens });
        if let Some(dir) = self.path.parent() {
            files::ensure_private_dir(dir)?;
        }
        files::write_atomic(&self.path, &serde_json::to_vec_pretty(&file)?)
    }
}

impl Drop for DailySpend {
    fn drop(&mut self) {
        if let Err(e) = self.settle() {
            log::warn!("cannot record the day's token spend: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day_one() -> i64 {
        20_000
    }

    fn day_two() -> i64 {
        20_001
    }

    #[test]
    fn the_cap_is_never_crossed_and_the_file_runs_ahead_of_the_spend() {
        let dir = crate::state::temp_dir("spend-cap");
        let spend = DailySpend::with_clock(&dir, "pd", Some(600), day_one);
        for _ in 0..119 {
            spend.spend(5).unwrap().unwrap();
        }
        assert_eq!(
            spend.spend(10).unwrap(),
            Err(CapReached {
                spent: 595,
                cap: 600
            })
        );
        spend.spend(5).unwrap().unwrap();
        assert_eq!(spend.spend(1).unwrap().unwrap_err().spent, 600);
        // Killed here: the file holds at least what was spent.
        let on_disk = DailySpend::with_clock(&dir, "pd", Some(600), day_one);
        assert!(on_disk.spent_today().unwrap() >= 600);
        std::mem::forget(spend);
    }

    #[test]
    fn a_killed_run_over_counts_by_at_most_a_lease_and_a_new_day_starts_from_nothing() {
        let dir = crate::state::temp_dir("spend-lease");
        let spend = DailySpend::with_clock(&dir, "pd", Some(10_000), day_one);
        spend.spend(5).unwrap().unwrap();
        std::mem::forget(spend);
        let after_kill = DailySpend::with_clock(&dir, "pd", Some(10_000), day_one);
        let counted = after_kill.spent_today().unwrap();
        assert!((5..=5 + 200).contains(&counted), "{counted}");
        drop(after_kill);
        let settled = DailySpend::with_clock(&dir, "pd", None, day_one);
        settled.spend(3).unwrap().unwrap();
        drop(settled);
        let next_day = DailySpend::with_clock(&dir, "pd", Some(10_000), day_two);
        assert_eq!(next_day.spent_today().unwrap(), 0);
        let same_day = DailySpend::with_clock(&dir, "pd", None, day_one);
        assert_eq!(same_day.spent_today().unwrap(), counted + 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
