//! The store's vocabulary: events in and out, positions and cursors, queries and pages.

/// An event to append: what PutLogEvents carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// When the event happened, in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The log line.
    pub message: String,
}

/// An event as stored and read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// When the event happened, in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// When the store received it, in milliseconds since the Unix epoch.
    pub ingestion_time: i64,
    /// The stream's ingestion number: strictly increasing in the order events were
    /// appended (within one append, in timestamp order), starting at 1.
    pub seq: u64,
    /// The log line.
    pub message: String,
}

impl StoredEvent {
    /// Where the event sits in the stream's read order.
    pub fn position(&self) -> Position {
        Position {
            timestamp: self.timestamp,
            seq: self.seq,
        }
    }
}

/// A place in a stream's read order: events are read by timestamp, then by seq. Every
/// event has a position of its own (seqs are unique), so a position between two reads
/// is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The event's seq.
    pub seq: u64,
}

impl Position {
    /// Before every event.
    pub const MIN: Position = Position {
        timestamp: i64::MIN,
        seq: 0,
    };
    /// After every event.
    pub const MAX: Position = Position {
        timestamp: i64::MAX,
        seq: u64::MAX,
    };

    /// The position right after this one, if any.
    pub(crate) fn successor(self) -> Option<Position> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(Position {
                timestamp: self.timestamp,
                seq,
            }),
            None => Some(Position {
                timestamp: self.timestamp.checked_add(1)?,
                seq: 0,
            }),
        }
    }

    /// The position right before this one, if any.
    pub(crate) fn predecessor(self) -> Option<Position> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(Position {
                timestamp: self.timestamp,
                seq,
            }),
            None => Some(Position {
                timestamp: self.timestamp.checked_sub(1)?,
                seq: u64::MAX,
            }),
        }
    }
}

/// Which way a read walks the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first.
    Backward,
}

/// Where a read starts; the direction follows from it, so a query cannot ask for two
/// contradicting things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cursor {
    /// Forward from the oldest event in the time window (GetLogEvents startFromHead).
    Oldest,
    /// Backward from the newest event in the time window (GetLogEvents' default).
    Newest,
    /// Forward, from the first event after this position.
    After(Position),
    /// Backward, from the first event before this position.
    Before(Position),
}

impl Cursor {
    /// Which way a read from this cursor walks.
    pub fn direction(&self) -> Direction {
        match self {
            Cursor::Oldest | Cursor::After(_) => Direction::Forward,
            Cursor::Newest | Cursor::Before(_) => Direction::Backward,
        }
    }
}

/// What to read from one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadQuery {
    /// Only events at or after this timestamp (milliseconds since the epoch).
    pub start_time: Option<i64>,
    /// Only events before this timestamp (exclusive, like CloudWatch's endTime).
    pub end_time: Option<i64>,
    /// Where to start, and so which way to walk.
    pub from: Cursor,
    /// At most this many events.
    pub limit: usize,
}

/// One page of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPage {
    /// The events, in the order walked: oldest first for a forward read, newest first
    /// for a backward one.
    pub events: Vec<StoredEvent>,
    /// Continues the walk: `After` the last event (forward) or `Before` it (backward);
    /// the query's own cursor when the page is empty, so polling at the end of a stream
    /// keeps the same cursor. (The cursor for the other direction is `Before` /
    /// `After` the page's first event.)
    pub next: Cursor,
    /// Whether events in the query's window lay beyond `next` when the page was read.
    pub more: bool,
}

/// The seqs one append was given (in a shared store, seqs of the writer's lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The seq of the first event (the earliest timestamp of the batch).
    pub first_seq: u64,
    /// The seq of the last event; `last_seq - first_seq + 1` events were appended.
    pub last_seq: u64,
}

/// What DescribeLogStreams shows of a stream, recomputed from the segments on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSummary {
    /// The oldest timestamp stored, if any event is stored.
    pub first_event_timestamp: Option<i64>,
    /// The newest timestamp stored.
    pub last_event_timestamp: Option<i64>,
    /// The latest ingestion time among the stored events.
    pub last_ingestion_time: Option<i64>,
    /// Bytes of segment files on disk.
    pub stored_bytes: u64,
    /// One more than the number of events ever appended to the stream, by every writer
    /// of a shared store; in a store with one writer, the seq the next event gets.
    /// Appending `n` events moves it on by `n`, so a producer can tell whether its
    /// batch landed (the agent's conditional appends compare it).
    pub next_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_timestamp_then_seq_and_step_exactly() {
        let p = Position {
            timestamp: 5,
            seq: 2,
        };
        assert!(
            Position {
                timestamp: 4,
                seq: 9
            } < p
        );
        assert!(
            p < Position {
                timestamp: 5,
                seq: 3
            }
        );
        assert_eq!(
            p.successor(),
            Some(Position {
                timestamp: 5,
                seq: 3
            })
        );
        assert_eq!(
            p.predecessor(),
            Some(Position {
                timestamp: 5,
                seq: 1
            })
        );
        let edge = Position {
            timestamp: 5,
            seq: u64::MAX,
        };
        assert_eq!(
            edge.successor(),
            Some(Position {
                timestamp: 6,
                seq: 0
            })
        );
        assert_eq!(
            Position {
                timestamp: 6,
                seq: 0
            }
            .predecessor(),
            Some(edge)
        );
        assert_eq!(Position::MAX.successor(), None);
        assert_eq!(Position::MIN.predecessor(), None);
    }
}
