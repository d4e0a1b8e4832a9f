//! Dates as `Date…` condition operators read them: ISO 8601 (`2026-01-31`,
//! `2026-01-31T12:00:00Z`, `2026-01-31T12:00:00.250+02:00`) or seconds since the Unix epoch
//! (`1767225600`). Both become milliseconds since the epoch. Parsing does not allocate.

/// Milliseconds since the Unix epoch, or `None` if `text` is not a date AWS would accept.
pub(crate) fn parse_epoch_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let looks_iso = text.contains('-') || text.contains(['T', 't']);
    if looks_iso {
        parse_iso8601(text)
    } else {
        parse_epoch_seconds(text)
    }
}

fn parse_epoch_seconds(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let millis = fraction_millis(fraction);
    seconds.checked_mul(1000)?.checked_add(millis)
}

fn all_digits(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_digit())
}

/// The first three digits of a decimal fraction, as milliseconds.
fn fraction_millis(fraction: &str) -> i64 {
    let mut millis = 0i64;
    for (index, byte) in fraction.bytes().take(3).enumerate() {
        millis += i64::from(byte - b'0') * [100, 10, 1][index];
    }
    millis
}

/// Reads exactly `width` digits from the front of `text`.
fn digits(text: &str, width: usize) -> Option<(i64, &str)> {
    if text.len() < width || !text.is_char_boundary(width) {
        return None;
    }
    let (number, rest) = text.split_at(width);
    if !all_digits(number) {
        return None;
    }
    Some((number.parse().ok()?, rest))
}

fn parse_iso8601(text: &str) -> Option<i64> {
    let (year, rest) = digits(text, 4)?;
    let rest = rest.strip_prefix('-')?;
    let (month, rest) = digits(rest, 2)?;
    let rest = rest.strip_prefix('-')?;
    let (day, rest) = digits(rest, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let mut seconds_of_day = 0i64;
    let mut millis = 0i64;
    let mut offset_seconds = 0i64;
    let mut rest = rest;
    if let Some(time) = rest.strip_prefix(['T', 't']) {
        let (hour, after) = digits(time, 2)?;
        rest = after;
        let mut minute = 0;
        let mut second = 0;
        if let Some(after) = rest.strip_prefix(':') {
            let (value, after) = digits(after, 2)?;
            minute = value;
            rest = after;
            if let Some(after) = rest.strip_prefix(':') {
                let (value, after) = digits(after, 2)?;
                second = value;
                rest = after;
                if let Some(after) = rest.strip_prefix('.') {
                    let end = after
                        .find(|character: char| !character.is_ascii_digit())
                        .unwrap_or(after.len());
                    if end == 0 {
                        return None;
                    }
                    millis = fraction_millis(&after[..end]);
                    rest = &after[end..];
                }
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        seconds_of_day = hour * 3600 + minute * 60 + second;
        if let Some(after) = rest.strip_prefix(['Z', 'z']) {
            rest = after;
        } else if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
            let after = &rest[1..];
            let (offset_hours, after) = digits(after, 2)?;
            let after = after.strip_prefix(':').unwrap_or(after);
            let (offset_minutes, after) = if after.is_empty() {
                (0, after)
            } else {
                digits(after, 2)?
            };
            if offset_hours > 23 || offset_minutes > 59 {
                return None;
            }
            let offset = offset_hours * 3600 + offset_minutes * 60;
            offset_seconds = if sign == '+' { offset } else { -offset };
            rest = after;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let seconds = days * 86_400 + seconds_of_day - offset_seconds;
    Some(seconds * 1000 + millis)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = (if year >= 0 { year } else { year - 399 }) / 400;
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds() {
        assert_eq!(parse_epoch_millis("0"), Some(0));
        assert_eq!(parse_epoch_millis("1767225600"), Some(1_767_225_600_000));
        assert_eq!(parse_epoch_millis("1.5"), Some(1500));
        assert_eq!(parse_epoch_millis("12a"), None);
        assert_eq!(parse_epoch_millis(""), None);
    }

    #[test]
    fn iso_dates_and_times() {
        assert_eq!(parse_epoch_millis("1970-01-01"), Some(0));
        assert_eq!(parse_epoch_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_epoch_millis("2026-01-01T00:00:00Z"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_epoch_millis("2026-01-01T02:00:00+02:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_epoch_millis("2025-12-31T19:00:00-0500"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_epoch_millis("2024-02-29T12:30"),
            Some(1_709_209_800_000)
        );
        assert_eq!(
            parse_epoch_millis("2026-01-01T00:00:00.250Z"),
            Some(1_767_225_600_250)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        for text in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-32",
            "2026-01-01T24:00:00Z",
            "2026-01-01T10:61Z",
            "2026-01-01X",
            "2026/01/01",
            "20260101T",
            "2026-01-01T10:00:00.Z",
        ] {
            assert_eq!(parse_epoch_millis(text), None, "{text}");
        }
    }
}
