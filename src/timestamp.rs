//! Conversions between RFC 3339 / ISO 8601 timestamps and epoch milliseconds.
//!
//! Both vendors send modified times as text (HubSpot `2026-11-23T03:47:22.123Z`,
//! Pipedrive v2 `2026-11-23T03:47:22Z`, Pipedrive v1 `2026-11-23 03:47:22`) or
//! as epoch milliseconds; the engine compares plain `i64` milliseconds. This
//! module owns that conversion, and a duration's milliseconds, and nothing
//! else: no time zones beyond UTC offsets, no calendars, no clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration in whole milliseconds (saturating: no run lasts 584 million
/// years).
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|±HH:MM]` (no zone means UTC, as
/// Pipedrive v1 documents), a bare `YYYY-MM-DD` (UTC midnight), or a string of
/// digits (epoch milliseconds, as HubSpot's date properties use).
pub fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if !matches!(b.get(10), Some(b'T') | Some(b't') | Some(b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "" | "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = zone[1..].replace(':', "");
            if zone.len() != 4 || !zone.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            sign * (zone[..2].parse::<i64>().ok()? * 60 + zone[2..].parse::<i64>().ok()?)
        }
    };
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Formats epoch milliseconds as `2026-11-23T03:47:22.123Z`.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1_000 % 60,
        rem % 1_000
    )
}

// Howard Hinnant's days-from-civil algorithm (public domain), proleptic Gregorian.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_forms_of_one_instant_agree() {
        let hubspot = parse_ms("2026-11-23T03:47:22.000Z").unwrap();
        assert_eq!(parse_ms("2026-11-23T03:47:22Z"), Some(hubspot));
        assert_eq!(parse_ms("2026-11-23 03:47:22"), Some(hubspot));
        assert_eq!(parse_ms("2026-11-23T05:47:22+02:00"), Some(hubspot));
        assert_eq!(parse_ms(&hubspot.to_string()), Some(hubspot));
    }

    #[test]
    fn dates_are_utc_midnight_and_round_trip() {
        let ms = parse_ms("2024-02-29").unwrap();
        assert_eq!(ms % 86_400_000, 0);
        assert_eq!(format_ms(ms), "2024-02-29T00:00:00.000Z");
        assert_eq!(
            format_ms(parse_ms("1999-12-31T23:59:59.5Z").unwrap()),
            "1999-12-31T23:59:59.500Z"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-23T25:00:00Z",
            "2026-11-23T03:47:22+2",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }
}
