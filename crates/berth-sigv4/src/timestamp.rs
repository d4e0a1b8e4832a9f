//! Request timestamps: the ISO 8601 basic format of `X-Amz-Date` (`20150830T123600Z`) and the
//! RFC 1123 / RFC 2822 form of the `Date` header, parsed and formatted by hand (hot path).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// `t` in UTC as `YYYYMMDDTHHMMSSZ`.
pub(crate) fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let year = u32::try_from(t.year()).unwrap_or(0).min(9999);
    let mut out = String::with_capacity(16);
    for (value, width) in [
        (year, 4),
        (u32::from(u8::from(t.month())), 2),
        (u32::from(t.day()), 2),
    ] {
        push_digits(&mut out, value, width);
    }
    out.push('T');
    for value in [t.hour(), t.minute(), t.second()] {
        push_digits(&mut out, u32::from(value), 2);
    }
    out.push('Z');
    out
}

/// Appends `value` as exactly `width` decimal digits (zero-padded).
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        out.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn datetime(year: u32, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<PrimitiveDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?);
    let time = Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(s).ok()?,
    );
    Some(PrimitiveDateTime::new(date.ok()?, time.ok()?))
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub(crate) fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let dt = datetime(
        digits(&b[0..4])?,
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[9..11])?,
        digits(&b[11..13])?,
        digits(&b[13..15])?,
    )?;
    Some(dt.assume_utc())
}

/// Parses an HTTP `Date`: `Sun, 30 Aug 2015 12:36:00 GMT` (RFC 1123) or with a numeric zone
/// such as `-0000` (RFC 2822, what botocore's `formatdate` writes). The weekday is optional
/// and not checked.
pub(crate) fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let s = match s.split_once(',') {
        Some((_weekday, rest)) => rest.trim_start(),
        None => s,
    };
    let mut fields = s.split_ascii_whitespace();
    let day = digits(fields.next()?.as_bytes())?;
    let month = match fields.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = digits(fields.next()?.as_bytes())?;
    let mut clock = fields.next()?.split(':');
    let h = digits(clock.next()?.as_bytes())?;
    let m = digits(clock.next()?.as_bytes())?;
    let sec = digits(clock.next()?.as_bytes())?;
    if clock.next().is_some() {
        return None;
    }
    let offset = match fields.next()? {
        "GMT" | "UT" | "UTC" | "Z" => UtcOffset::UTC,
        zone => {
            let b = zone.as_bytes();
            if b.len() != 5 || !matches!(b[0], b'+' | b'-') {
                return None;
            }
            let minutes = i32::try_from(digits(&b[1..3])? * 60 + digits(&b[3..5])?).ok()?;
            let minutes = if b[0] == b'-' { -minutes } else { minutes };
            UtcOffset::from_whole_seconds(minutes * 60).ok()?
        }
    };
    if fields.next().is_some() {
        return None;
    }
    Some(datetime(year, month, day, h, m, sec)?.assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn amz_dates_round_trip() {
        let t = datetime!(2015-08-30 12:36:00 UTC);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(t));
        let offset = datetime!(2015-08-30 14:36:00 +02:00);
        assert_eq!(format_amz_date(offset), "20150830T123600Z");
    }

    #[test]
    fn bad_amz_dates_are_refused() {
        for bad in [
            "",
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20150830 123600Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "2015083aT123600Z",
            "+0150830T123600Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_parse_in_both_zone_styles() {
        let t = datetime!(2015-08-30 12:36:00 UTC);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 -0000"), Some(t));
        assert_eq!(parse_http_date("30 Aug 2015 14:36:00 +0200"), Some(t));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36 GMT"), None);
        assert_eq!(parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 PST"), None);
        assert_eq!(parse_http_date("20150830T123600Z"), None);
    }
}
