//! Byte ranges in headers: `Range` on blob downloads (RFC 9110 §14, one range) and
//! `Content-Range` on upload chunks (`START-END`, inclusive, as the distribution spec
//! writes it; the RFC form `bytes START-END/TOTAL` is accepted too).

use crate::blobs::ChunkRange;

/// What a `Range` header asks of a blob of a known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range (absent, several ranges, or not in bytes): send everything.
    Whole,
    /// Send bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// The range lies outside the blob: answer 416.
    Unsatisfiable,
}

/// Resolves a `Range` header against a blob of `size` bytes.
pub fn resolve_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            None => return RangeRequest::Whole,
        },
        // bytes=N-: from N to the end.
        (false, true) => match number(first) {
            Some(start) => (start, size.saturating_sub(1)),
            None => return RangeRequest::Whole,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => (start, end.min(size.saturating_sub(1))),
            _ => return RangeRequest::Whole,
        },
        (true, true) => return RangeRequest::Whole,
    };
    if size == 0 || start >= size {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Part { start, end }
    }
}

/// Parses an upload chunk's `Content-Range`; `None` when it is malformed.
pub fn parse_content_range(header: &str) -> Option<ChunkRange> {
    let header = header.trim();
    let header = header
        .strip_prefix("bytes=")
        .or_else(|| header.strip_prefix("bytes "))
        .unwrap_or(header);
    let range = header
        .split_once('/')
        .map_or(header, |(range, _total)| range);
    let (start, end) = range.split_once('-')?;
    let digits = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (start, end) = (digits(start)?, digits(end)?);
    (start <= end).then_some(ChunkRange { start, end })
}

/// The `Range` header of an upload holding `offset` bytes: `0-LAST`, where an empty
/// upload reports `0-0` as Docker's registry does.
pub fn upload_range(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers_resolve_against_the_size() {
        let part = |start, end| RangeRequest::Part { start, end };
        assert_eq!(resolve_range(None, 10), RangeRequest::Whole);
        assert_eq!(resolve_range(Some("bytes=0-4"), 10), part(0, 4));
        assert_eq!(resolve_range(Some("bytes=5-"), 10), part(5, 9));
        assert_eq!(resolve_range(Some("bytes=-3"), 10), part(7, 9));
        assert_eq!(resolve_range(Some("bytes=-30"), 10), part(0, 9));
        assert_eq!(resolve_range(Some("bytes=8-100"), 10), part(8, 9));
        assert_eq!(
            resolve_range(Some("bytes=10-"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            resolve_range(Some("bytes=-0"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            resolve_range(Some("bytes=0-"), 0),
            RangeRequest::Unsatisfiable
        );
        for ignored in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=5-2",
            "bytes=x-1",
            "bytes=-",
        ] {
            assert_eq!(
                resolve_range(Some(ignored), 10),
                RangeRequest::Whole,
                "{ignored}"
            );
        }
    }

    #[test]
    fn content_ranges_parse_in_both_spellings() {
        let r = |start, end| Some(ChunkRange { start, end });
        assert_eq!(parse_content_range("0-99"), r(0, 99));
        assert_eq!(parse_content_range("bytes 100-199/*"), r(100, 199));
        assert_eq!(parse_content_range("bytes=5-5"), r(5, 5));
        for bad in ["", "5", "-5", "5-", "9-3", "a-b", "+1-2", "1 - 2"] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn upload_ranges_follow_docker() {
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(1), "0-0");
        assert_eq!(upload_range(100), "0-99");
    }
}
