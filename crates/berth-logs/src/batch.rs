//! PutLogEvents' batch rules, as CloudWatch Logs states them: a batch holds 1 to 10,000
//! events in chronological order, at most 1,048,576 bytes counting 26 bytes per event
//! beside its UTF-8 message, spanning at most 24 hours. Events more than 2 hours in the
//! future, more than 14 days in the past or older than the group's retention are not
//! stored but reported back in `rejectedLogEventsInfo` (their index ranges); the rest of
//! the batch is stored. Pure.

use std::ops::Range;

/// Most events in one batch.
pub const MAX_EVENTS: usize = 10_000;
/// Most bytes in one batch, counting [`EVENT_OVERHEAD`] per event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// What each event adds to a batch's size beside its message.
pub const EVENT_OVERHEAD: usize = 26;
const HOUR_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Widest span of timestamps in one batch.
pub const MAX_SPAN_MS: i64 = DAY_MS;
/// How far in the future an event may be.
pub const TOO_NEW_MS: i64 = 2 * HOUR_MS;
/// How far in the past an event may be.
pub const TOO_OLD_MS: i64 = 14 * DAY_MS;

/// What to do with a valid batch: store `accepted`, report the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The indexes of the events to store.
    pub accepted: Range<usize>,
    /// Index of the first event too far in the future (inclusive).
    pub too_new_start: Option<usize>,
    /// End of the events more than 14 days old (exclusive).
    pub too_old_end: Option<usize>,
    /// End of the events older than the group's retention (exclusive).
    pub expired_end: Option<usize>,
}

/// Why a whole batch is refused; the message is InvalidParameterException's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error(
        "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: \
         Member must have length greater than or equal to 1"
    )]
    Empty,
    #[error(
        "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: \
         Member must have length less than or equal to {MAX_EVENTS} (the batch has {0})"
    )]
    TooManyEvents(usize),
    #[error("Upload too large: {0} bytes exceeds limit of {MAX_BATCH_BYTES}")]
    TooLarge(usize),
    #[error("Log events in a single PutLogEvents request must be in chronological order.")]
    NotChronological,
    #[error(
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
    )]
    SpansTooLong,
}

/// Checks a batch of `(timestamp, message)` events at `now` (milliseconds since the
/// Unix epoch) for a group keeping events `retention_days` (`None`: forever).
pub fn check<'a>(
    events: impl ExactSizeIterator<Item = (i64, &'a str)> + Clone,
    now: i64,
    retention_days: Option<i32>,
) -> Result<Verdict, BatchError> {
    let count = events.len();
    if count == 0 {
        return Err(BatchError::Empty);
    }
    if count > MAX_EVENTS {
        return Err(BatchError::TooManyEvents(count));
    }
    let bytes: usize = events
        .clone()
        .map(|(_, message)| message.len() + EVENT_OVERHEAD)
        .sum();
    if bytes > MAX_BATCH_BYTES {
        return Err(BatchError::TooLarge(bytes));
    }
    let stamps: Vec<i64> = events.map(|(t, _)| t).collect();
    if stamps.windows(2).any(|w| w[1] < w[0]) {
        return Err(BatchError::NotChronological);
    }
    // Timestamps are the client's: the span of two extreme ones does not fit an i64.
    if stamps[count - 1].saturating_sub(stamps[0]) > MAX_SPAN_MS {
        return Err(BatchError::SpansTooLong);
    }
    // Sorted, so each rule cuts off one end.
    let end_of = |limit: i64| stamps.partition_point(|&t| t < limit);
    let too_old = end_of(now - TOO_OLD_MS);
    let expired = retention_days.map_or(0, |days| end_of(now - i64::from(days) * DAY_MS));
    let too_new = stamps.partition_point(|&t| t <= now + TOO_NEW_MS);
    let start = too_old.max(expired).min(too_new);
    Ok(Verdict {
        accepted: start..too_new,
        too_new_start: (too_new < count).then_some(too_new),
        too_old_end: (too_old > 0).then_some(too_old),
        expired_end: (expired > 0).then_some(expired),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn batch(stamps: &[i64]) -> Vec<(i64, String)> {
        stamps.iter().map(|&t| (t, "line".to_string())).collect()
    }

    fn run(events: &[(i64, String)], retention: Option<i32>) -> Result<Verdict, BatchError> {
        check(events.iter().map(|(t, m)| (*t, m.as_str())), NOW, retention)
    }

    #[test]
    fn a_good_batch_is_stored_whole() {
        let v = run(&batch(&[NOW - 5, NOW - 1, NOW]), None).unwrap();
        assert_eq!(v.accepted, 0..3);
        assert_eq!(
            (v.too_new_start, v.too_old_end, v.expired_end),
            (None, None, None)
        );
    }

    #[test]
    fn too_old_expired_and_too_new_events_are_cut_off_and_reported() {
        let events = batch(&[
            NOW - 15 * DAY_MS + 10,
            NOW - 15 * DAY_MS + 20,
            NOW - 10 * DAY_MS,
            NOW,
            NOW + 3 * HOUR_MS,
        ]);
        // The span rule would refuse this batch; check the cut-offs on a narrower one.
        assert_eq!(run(&events, None), Err(BatchError::SpansTooLong));
        let old = batch(&[
            NOW - 14 * DAY_MS - 2,
            NOW - 14 * DAY_MS - 1,
            NOW - 14 * DAY_MS + 5,
        ]);
        let v = run(&old, None).unwrap();
        assert_eq!((v.accepted, v.too_old_end), (2..3, Some(2)));
        let v = run(&old, Some(1)).unwrap();
        assert_eq!(
            (v.accepted.clone(), v.expired_end),
            (3..3, Some(3)),
            "{v:?}"
        );
        let new = batch(&[NOW, NOW + 2 * HOUR_MS, NOW + 2 * HOUR_MS + 1]);
        let v = run(&new, None).unwrap();
        assert_eq!((v.accepted, v.too_new_start), (0..2, Some(2)));
    }

    #[test]
    fn whole_batches_are_refused_for_their_shape() {
        assert_eq!(run(&[], None), Err(BatchError::Empty));
        let many = batch(&vec![NOW; MAX_EVENTS + 1]);
        assert_eq!(
            run(&many, None),
            Err(BatchError::TooManyEvents(MAX_EVENTS + 1))
        );
        let big = vec![(NOW, "x".repeat(MAX_BATCH_BYTES - EVENT_OVERHEAD + 1))];
        assert_eq!(
            run(&big, None),
            Err(BatchError::TooLarge(MAX_BATCH_BYTES + 1))
        );
        let fits = vec![(NOW, "x".repeat(MAX_BATCH_BYTES - EVENT_OVERHEAD))];
        assert!(run(&fits, None).is_ok());
        assert_eq!(
            run(&batch(&[NOW, NOW - 1]), None),
            Err(BatchError::NotChronological)
        );
        assert_eq!(
            run(&batch(&[NOW - DAY_MS - 1, NOW]), None),
            Err(BatchError::SpansTooLong)
        );
        assert!(run(&batch(&[NOW - DAY_MS, NOW]), None).is_ok());
    }
}
