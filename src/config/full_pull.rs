//! `full_pull_every`: when an account object is listed in full again
//! instead of only what changed: every so many runs (`24`), or once the
//! last full pull is older than a duration (`"6h"`), which does not depend
//! on how often cron runs. Parsing and the decision only; the time of the
//! last full pull is kept by the snapshot.

/// How often a full pull comes round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPullEvery {
    /// Every this many runs of an object (1: always full).
    Runs(u32),
    /// When the last full pull is at least this old, in milliseconds.
    Age(i64),
}

impl Default for FullPullEvery {
    fn default() -> FullPullEvery {
        FullPullEvery::Runs(24)
    }
}

impl FullPullEvery {
    /// Parses a duration: a whole number and a unit, `s`, `m`, `h` or `d`
    /// (`"90s"`, `"30m"`, `"6h"`, `"1d"`); more than zero.
    pub fn parse_duration(text: &str) -> Option<FullPullEvery> {
        let t = text.trim();
        let unit_at = t.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = t.split_at(unit_at);
        let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
        let unit_ms: i64 = match unit.trim() {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        n.checked_mul(unit_ms).map(FullPullEvery::Age)
    }

    /// Whether this run lists an object in full, given its snapshot's
    /// incremental pulls since its last full one and that full pull's
    /// start (`None`: not known, so a full pull is due).
    pub fn is_due(self, incremental_runs: u32, last_full_ms: Option<i64>, now_ms: i64) -> bool {
        match self {
            FullPullEvery::Runs(n) => incremental_runs.saturating_add(1) >= n,
            FullPullEvery::Age(age) => last_full_ms.is_none_or(|at| now_ms - at >= age),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_a_unit_and_nothing_else_does() {
        let hours = |h: i64| Some(FullPullEvery::Age(h * 3_600_000));
        assert_eq!(FullPullEvery::parse_duration("6h"), hours(6));
        assert_eq!(FullPullEvery::parse_duration(" 1d "), hours(24));
        assert_eq!(
            FullPullEvery::parse_duration("30m"),
            Some(FullPullEvery::Age(1_800_000))
        );
        assert_eq!(
            FullPullEvery::parse_duration("90s"),
            Some(FullPullEvery::Age(90_000))
        );
        for bad in ["6", "h", "0h", "6 hours", "1.5h", "-1h", "6H", "", "6h30m"] {
            assert_eq!(FullPullEvery::parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn runs_count_runs_and_a_duration_counts_time() {
        let now = 100 * 3_600_000;
        assert!(!FullPullEvery::Runs(24).is_due(22, None, now));
        assert!(FullPullEvery::Runs(24).is_due(23, None, now));
        assert!(FullPullEvery::Runs(1).is_due(0, Some(now), now));
        let six_hours = FullPullEvery::Age(6 * 3_600_000);
        // However many runs: only the age of the last full pull counts.
        assert!(!six_hours.is_due(10_000, Some(now - 3_600_000), now));
        assert!(six_hours.is_due(0, Some(now - 6 * 3_600_000), now));
        assert!(six_hours.is_due(0, None, now), "unknown: pull in full");
    }
}
