//! The calendar maths both fakes share: days since 1970-01-01 to and from a
//! proleptic Gregorian date (H. Hinnant's algorithms), strict `YYYY-MM-DD`
//! parsing and `YYYY-MM-DDTHH:MM:SS` formatting, all in UTC. Each fake builds
//! its vendor's time formats on it.
//!
//! It is independent of crmsync's own time parsing on purpose and must stay
//! so: a fake that shared the product's date code could not catch a bug in
//! it. It knows nothing about either vendor.

pub const SECONDS_PER_DAY: i64 = 86_400;

/// The UTC day of an instant (seconds since the epoch), as days since
/// 1970-01-01: what a daily limit that resets at midnight UTC counts by.
pub fn day_of(secs: i64) -> i64 {
    secs.div_euclid(SECONDS_PER_DAY)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD` (digits only) to days since the epoch; `None` for anything
/// else, impossible dates (`2026-02-29`) included.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SS` (UTC, no zone suffix:
/// each vendor writes its own).
pub fn format_date_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(SECONDS_PER_DAY));
    let s = secs.rem_euclid(SECONDS_PER_DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    // Imports sit in each test: the benchmark builds this module without them.

    #[test]
    fn dates_round_trip_across_eras_and_leap_days() {
        use super::*;
        for days in [-719_468, -1, 0, 1, 11_016, 20_513, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(
            format_date_time(19_782 * SECONDS_PER_DAY + 3_723),
            "2024-02-29T01:02:03"
        );
        assert_eq!(format_date_time(-1), "1969-12-31T23:59:59");
    }

    #[test]
    fn only_real_dates_in_digits_parse() {
        use super::parse_date;
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "2026-+1-01",
            "20260101",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_date("1970-01-01"), Some(0));
    }
}
