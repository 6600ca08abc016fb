//! `Limit`: a safety limit (`max_deletes`, `max_changes`, `--max-deletes`),
//! written as a count or as a percentage of the pair's records.

use std::fmt;

/// A safety limit: a number of records, or a percentage of the pair's records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Count(u64),
    Percent(f64),
}

impl Limit {
    /// The limit as a number of records out of `total`.
    pub fn of(self, total: usize) -> u64 {
        match self {
            Limit::Count(n) => n,
            Limit::Percent(p) => ((total as f64) * p / 100.0).floor() as u64,
        }
    }

    /// Parses `10` or `"5%"`.
    pub fn parse(text: &str) -> Option<Limit> {
        let t = text.trim();
        match t.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .map(Limit::Percent),
            None => t.parse().ok().map(Limit::Count),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}
