//! Value comparisons of the query language: dates, agent versions, attribute ordering.

use std::cmp::Ordering;

const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &str, n: usize) -> Option<i64> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses the `registeredAt` formats ECS documents — `2018-06-18T22:28:28+00:00`,
/// `2018-06-18T22:28:28Z`, `2018-06-18T22:28:28` (UTC) and `2018-06-18` — into seconds
/// since the Unix epoch and whether only a date was given. Fractional seconds are
/// accepted and dropped.
pub(crate) fn parse_time(s: &str) -> Option<(i64, bool)> {
    let (date, rest) = match s.split_once(['T', 't']) {
        Some((d, r)) => (d, Some(r)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let y = digits(parts.next()?, 4)?;
    let m = digits(parts.next()?, 2)?;
    let d = digits(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day_secs = days_from_civil(y, m, d) * SECS_PER_DAY;
    let Some(rest) = rest else {
        return Some((day_secs, true));
    };
    // Split the clock from the zone designator.
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (c, z) = rest.split_at(pos);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = z[1..].split_once(':')?;
        let (zh, zm) = (digits(zh, 2)?, digits(zm, 2)?);
        if zh > 23 || zm > 59 {
            return None;
        }
        (c, sign * (zh * 3600 + zm * 60))
    } else {
        (rest, 0)
    };
    let clock = clock.split_once('.').map_or(clock, |(c, frac)| {
        if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) {
            c
        } else {
            "invalid"
        }
    });
    let mut hms = clock.split(':');
    let h = digits(hms.next()?, 2)?;
    let mi = digits(hms.next()?, 2)?;
    let sec = digits(hms.next()?, 2)?;
    if hms.next().is_some() || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some((day_secs + h * 3600 + mi * 60 + sec - offset, false))
}

/// Compares an instance's registration time with a literal; a date-only literal compares
/// whole UTC days (`registeredAt == 2018-06-18` is "registered that day").
pub(crate) fn compare_time(instance_secs: i64, literal_secs: i64, date_only: bool) -> Ordering {
    if date_only {
        instance_secs
            .div_euclid(SECS_PER_DAY)
            .cmp(&literal_secs.div_euclid(SECS_PER_DAY))
    } else {
        instance_secs.cmp(&literal_secs)
    }
}

/// Compares dotted versions segment by segment: numeric segments numerically, others as
/// text; a missing segment counts as `0`: `1.9` < `1.14` == `1.14.0` < `1.14.5`.
pub(crate) fn compare_version(a: &str, b: &str) -> Ordering {
    let mut xs = a.split(['.', '-', '+']);
    let mut ys = b.split(['.', '-', '+']);
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => {
                let (x, y) = (x.unwrap_or("0"), y.unwrap_or("0"));
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Orders two attribute values: numerically when both are numbers, else as versions
/// (which orders plain words as text).
pub(crate) fn compare_attribute(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => {
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        _ => compare_version(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_date_formats() {
        let t = 1_529_360_908; // 2018-06-18T22:28:28Z
        assert_eq!(parse_time("2018-06-18T22:28:28+00:00"), Some((t, false)));
        assert_eq!(parse_time("2018-06-18T22:28:28Z"), Some((t, false)));
        assert_eq!(parse_time("2018-06-18T22:28:28"), Some((t, false)));
        assert_eq!(parse_time("2018-06-18T22:28:28.123Z"), Some((t, false)));
        assert_eq!(parse_time("2018-06-19T00:28:28+02:00"), Some((t, false)));
        assert_eq!(parse_time("2018-06-18"), Some((1_529_280_000, true)));
        assert_eq!(parse_time("1970-01-01"), Some((0, true)));
        for bad in [
            "2018-6-18",
            "2018-02-30",
            "2018-06-18T25:00:00",
            "2018-06-18T",
            "x",
            "2018-06-18T22:28:28+0000",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn compares_versions_and_attributes() {
        assert_eq!(compare_version("1.14.5", "1.9.0"), Ordering::Greater);
        assert_eq!(compare_version("1.14", "1.14.0"), Ordering::Equal);
        assert_eq!(compare_version("1.14.4", "1.14.5"), Ordering::Less);
        assert_eq!(compare_attribute("10", "9"), Ordering::Greater);
        assert_eq!(compare_attribute("2.5", "10"), Ordering::Less);
        assert_eq!(compare_attribute("abc", "abd"), Ordering::Less);
    }

    #[test]
    fn date_only_compares_days() {
        let (day, _) = parse_time("2018-02-13").unwrap();
        let (noon, _) = parse_time("2018-02-13T12:00:00Z").unwrap();
        assert_eq!(compare_time(noon, day, true), Ordering::Equal);
        assert_eq!(compare_time(noon, day, false), Ordering::Greater);
        assert_eq!(compare_time(day - 1, day, true), Ordering::Less);
    }
}
