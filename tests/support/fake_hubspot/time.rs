//! HubSpot's time values: epoch milliseconds, ISO 8601 instants with
//! milliseconds in UTC, and `date` values; the calendar maths is the shared
//! `support::calendar`, never crmsync's own.

use super::DAY_MS;
use crate::support::calendar;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-11-23T03:47:22.123Z`
pub(super) fn format_iso(ms: i64) -> String {
    let date_time = calendar::format_date_time(ms.div_euclid(1000));
    format!("{date_time}.{:03}Z", ms.rem_euclid(1000))
}

/// `YYYY-MM-DD` → epoch ms at midnight UTC; rejects impossible dates.
fn parse_day(s: &str) -> Option<i64> {
    calendar::parse_date(s).map(|days| days * DAY_MS)
}

/// Epoch ms, `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub(super) fn parse_instant(s: &str) -> Option<i64> {
    if !s.is_empty()
        && s.trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        return s.parse().ok();
    }
    let (day, time) = s.split_once('T').unwrap_or((s, ""));
    let midnight = parse_day(day)?;
    if time.is_empty() {
        return Some(midnight);
    }
    let time = time.strip_suffix('Z')?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let parts: Vec<i64> = hms
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, sec] = parts[..] else { return None };
    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&sec) || frac.len() > 3
    {
        return None;
    }
    let millis: i64 = format!("{frac:0<3}").parse().ok()?;
    Some(midnight + ((h * 60 + mi) * 60 + sec) * 1000 + millis)
}

/// A `date` value: `YYYY-MM-DD` or epoch ms at UTC midnight, stored as `YYYY-MM-DD`.
pub(super) fn parse_date_value(s: &str) -> Option<String> {
    let ms = if s.contains('-') {
        parse_day(s)?
    } else {
        s.parse::<i64>().ok()?
    };
    (ms.rem_euclid(DAY_MS) == 0).then(|| format_iso(ms)[..10].to_string())
}
