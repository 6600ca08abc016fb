//! Pipedrive's time values: RFC 3339 instants in whole seconds, v1's
//! `YYYY-MM-DD HH:MM:SS` and `YYYY-MM-DD` dates; the calendar maths is the
//! shared `support::calendar`, never crmsync's own.

use crate::support::calendar;

/// `2026-11-23T03:47:22Z`
pub(super) fn format_time(secs: i64) -> String {
    format!("{}Z", calendar::format_date_time(secs))
}

/// v1 times are `YYYY-MM-DD HH:MM:SS` (UTC).
pub(super) fn v1_time(secs: i64) -> String {
    format_time(secs).replace('T', " ").replace('Z', "")
}

/// RFC3339 with whole seconds and `Z` or `±HH:MM`. Fractional seconds are
/// refused, as a connector reports the API does (not confirmed by Pipedrive's
/// documentation).
pub(super) fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let invalid = || format!("'{s}' is not a valid datetime (expected e.g. 2025-01-01T10:20:00Z)");
    if s.len() < 20 || s.as_bytes()[10] != b'T' {
        return Err(invalid());
    }
    let days = calendar::parse_date(&s[..10]).ok_or_else(invalid)?;
    let (clock, zone) = s[11..].split_at(8.min(s.len() - 11));
    let c = clock.as_bytes();
    if c.len() != 8 || c[2] != b':' || c[5] != b':' {
        return Err(invalid());
    }
    let field = |r: std::ops::Range<usize>, max: i64| -> Result<i64, String> {
        let part = &clock[r];
        match part.parse::<i64>() {
            Ok(v) if part.bytes().all(|b| b.is_ascii_digit()) && v <= max => Ok(v),
            _ => Err(invalid()),
        }
    };
    let secs = field(0..2, 23)? * 3600 + field(3..5, 59)? * 60 + field(6..8, 59)?;
    let offset = match zone.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) =>
        {
            let h = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let m = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            let offset = h * 3600 + m * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return Err(invalid()),
    };
    Ok(days * 86_400 + secs - offset)
}
