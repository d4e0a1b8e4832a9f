//! Reading one page of a stream in (timestamp, seq) order.
//!
//! A read works on a snapshot of the stream's block index (see `index`) taken when it
//! starts, so appends running meanwhile neither show up half-way nor block it. It reads
//! only the blocks it needs:
//!
//! 1. The query becomes an inclusive range of positions: the time window intersected
//!    with the side of the cursor it walks to.
//! 2. Every run (a stretch of blocks already in read order) that overlaps the range is
//!    a source. Sources are merged lazily: one is opened only when the merge reaches the
//!    position where it could start, so logs that arrived in time order (one run per
//!    segment) are read one segment at a time, and out-of-order arrivals cost a merge
//!    over the runs that overlap in time.
//! 3. Opening a run binary-searches its blocks for the first one that can hold an event
//!    in range; from there blocks are decoded one at a time, filtered to the range and
//!    sorted (a no-op for sorted blocks; unsorted blocks are the reason it is there).
//!
//! A read holds at most one decoded block per open run. A segment removed by `expire`
//! or `delete_stream` while a read is under way is skipped if the read has not opened
//! it yet.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use super::event::{Cursor, Direction, Position, ReadPage, ReadQuery, StoredEvent};
use super::index::{BlockMeta, SegmentView};
use super::record::{self, Decoded};
use super::segment::log_path;
use super::{io_error, LogError};

/// The positions a query may return, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyRange {
    lo: Position,
    hi: Position,
}

impl KeyRange {
    /// The range a query asks for; `None` when it is empty.
    pub fn of(query: &ReadQuery) -> Option<KeyRange> {
        let mut lo = match query.start_time {
            Some(start) => Position {
                timestamp: start,
                seq: 0,
            },
            None => Position::MIN,
        };
        let mut hi = match query.end_time {
            Some(end) => Position {
                timestamp: end.checked_sub(1)?,
                seq: u64::MAX,
            },
            None => Position::MAX,
        };
        match query.from {
            Cursor::Oldest | Cursor::Newest => {}
            Cursor::After(position) => lo = lo.max(position.successor()?),
            Cursor::Before(position) => hi = hi.min(position.predecessor()?),
        }
        (lo <= hi).then_some(KeyRange { lo, hi })
    }

    /// Whether anything between `lower` and `upper` (inclusive) is in the range.
    pub fn overlaps(&self, lower: Position, upper: Position) -> bool {
        lower <= self.hi && upper >= self.lo
    }

    fn contains(&self, position: Position) -> bool {
        self.lo <= position && position <= self.hi
    }
}

/// The page of a query whose range is empty.
pub(crate) fn empty_page(query: &ReadQuery) -> ReadPage {
    ReadPage {
        events: Vec::new(),
        next: query.from,
        more: false,
    }
}

/// Reads one page from the segments of `views`, which live in `dir`; also says how
/// many blocks it decoded.
pub(crate) fn read_page(
    dir: &Path,
    views: &[SegmentView],
    range: KeyRange,
    query: &ReadQuery,
) -> Result<(ReadPage, usize), LogError> {
    let direction = query.from.direction();
    let mut sources = plan(views, range, direction);
    let mut blocks = BlockReader::new(dir, views);
    let mut runs: Vec<RunCursor> = Vec::new();
    let mut heads = BinaryHeap::new();
    let mut events = Vec::with_capacity(query.limit.min(10_000));
    loop {
        // Open every source that could hold the next event.
        while let Some(source) = sources.next_if(|source| {
            heads
                .peek()
                .is_none_or(|head: &Head| !direction.precedes(head.position, source.start))
        }) {
            let mut run = RunCursor::open(views, source, range, direction);
            if let Some(position) = run.fill(&mut blocks, range, direction)? {
                heads.push(Head {
                    position,
                    run: runs.len(),
                    direction,
                });
            }
            runs.push(run);
        }
        if events.len() >= query.limit {
            break;
        }
        let Some(head) = heads.pop() else { break };
        let run = &mut runs[head.run];
        events.extend(run.events.pop());
        if let Some(position) = run.fill(&mut blocks, range, direction)? {
            heads.push(Head { position, ..head });
        }
    }
    let next = match (events.last(), direction) {
        (None, _) => query.from,
        (Some(last), Direction::Forward) => Cursor::After(last.position()),
        (Some(last), Direction::Backward) => Cursor::Before(last.position()),
    };
    let page = ReadPage {
        events,
        next,
        more: !heads.is_empty(),
    };
    Ok((page, blocks.blocks_read))
}

impl Direction {
    /// Whether `a` comes before `b` in this direction.
    fn precedes(self, a: Position, b: Position) -> bool {
        match self {
            Direction::Forward => a < b,
            Direction::Backward => a > b,
        }
    }
}

/// A run that overlaps the range.
#[derive(Debug, Clone)]
struct Source {
    segment: usize,
    blocks: Range<usize>,
    /// No event of the run comes earlier in the walk than this.
    start: Position,
}

/// The runs of `views` that overlap `range`, in the order the walk may reach them.
fn plan(
    views: &[SegmentView],
    range: KeyRange,
    direction: Direction,
) -> std::iter::Peekable<std::vec::IntoIter<Source>> {
    let mut sources = Vec::new();
    for (segment, view) in views.iter().enumerate() {
        for blocks in view.runs() {
            let lower = view.block(blocks.start).lower();
            let upper = view.block(blocks.end - 1).upper();
            if range.overlaps(lower, upper) {
                let start = match direction {
                    Direction::Forward => lower,
                    Direction::Backward => upper,
                };
                sources.push(Source {
                    segment,
                    blocks,
                    start,
                });
            }
        }
    }
    match direction {
        Direction::Forward => sources.sort_unstable_by_key(|s| s.start),
        Direction::Backward => sources.sort_unstable_by_key(|s| Reverse(s.start)),
    }
    sources.into_iter().peekable()
}

/// The next event of one open run, in a heap that pops the event that comes first in
/// the walk.
#[derive(Debug)]
struct Head {
    position: Position,
    run: usize,
    direction: Direction,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the greatest: the smallest position when walking forward.
        match self.direction {
            Direction::Forward => other.position.cmp(&self.position),
            Direction::Backward => self.position.cmp(&other.position),
        }
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.position == other.position
    }
}

impl Eq for Head {}

/// A run being read.
struct RunCursor {
    segment: usize,
    /// Blocks not read yet; the walk takes them from the front (forward) or the back.
    blocks: Range<usize>,
    /// Events of the block read last that are still to come, the next one last.
    events: Vec<StoredEvent>,
}

impl RunCursor {
    /// Positions a run at the first block that can hold an event in range.
    fn open(
        views: &[SegmentView],
        source: Source,
        range: KeyRange,
        direction: Direction,
    ) -> RunCursor {
        let view = &views[source.segment];
        let Range { start, end } = source.blocks;
        // The blocks of a run are in read order, so their bounds rise with the index.
        let blocks = match direction {
            Direction::Forward => {
                start + partition_point(end - start, |i| view.block(start + i).upper() < range.lo)
                    ..end
            }
            Direction::Backward => {
                start
                    ..start
                        + partition_point(end - start, |i| {
                            view.block(start + i).lower() <= range.hi
                        })
            }
        };
        RunCursor {
            segment: source.segment,
            blocks,
            events: Vec::new(),
        }
    }

    /// Makes sure an event is ready, reading blocks as needed; its position, or `None`
    /// when the run has nothing more in range.
    fn fill(
        &mut self,
        reader: &mut BlockReader,
        range: KeyRange,
        direction: Direction,
    ) -> Result<Option<Position>, LogError> {
        while self.events.is_empty() {
            let next = match direction {
                Direction::Forward => self.blocks.next(),
                Direction::Backward => self.blocks.next_back(),
            };
            let Some(block) = next.map(|i| *reader.views[self.segment].block(i)) else {
                return Ok(None);
            };
            let beyond = match direction {
                Direction::Forward => block.lower() > range.hi,
                Direction::Backward => block.upper() < range.lo,
            };
            if beyond {
                return Ok(None);
            }
            reader.read(self.segment, &block, range, &mut self.events)?;
            match direction {
                Direction::Forward => self.events.sort_by_key(|e| Reverse(e.position())),
                Direction::Backward => self.events.sort_by_key(StoredEvent::position),
            }
        }
        Ok(self.events.last().map(StoredEvent::position))
    }
}

/// The number of leading indexes in `0..len` for which `pred` holds (it must hold for a
/// prefix and fail for the rest).
fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Reads blocks of a read's segments, opening each file once.
struct BlockReader<'a> {
    dir: &'a Path,
    views: &'a [SegmentView],
    files: Vec<FileState>,
    buf: Vec<u8>,
    blocks_read: usize,
}

enum FileState {
    Unopened,
    Open(File),
    /// Removed since the snapshot (expired or deleted): nothing to read.
    Gone,
}

impl<'a> BlockReader<'a> {
    fn new(dir: &'a Path, views: &'a [SegmentView]) -> BlockReader<'a> {
        let files = views.iter().map(|_| FileState::Unopened).collect();
        BlockReader {
            dir,
            views,
            files,
            buf: Vec::new(),
            blocks_read: 0,
        }
    }

    /// Appends the block's events that are in range to `out`.
    fn read(
        &mut self,
        segment: usize,
        block: &BlockMeta,
        range: KeyRange,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), LogError> {
        let path = log_path(self.dir, self.views[segment].first_seq);
        let context = || format!("reading log segment {}", path.display());
        if let FileState::Unopened = self.files[segment] {
            self.files[segment] = match File::open(&path) {
                Ok(file) => FileState::Open(file),
                Err(e) if e.kind() == io::ErrorKind::NotFound => FileState::Gone,
                Err(e) => return Err(io_error(context())(e)),
            };
        }
        let FileState::Open(file) = &mut self.files[segment] else {
            return Ok(());
        };
        self.blocks_read += 1;
        self.buf.resize(block.len as usize, 0);
        let damaged = |offset: u64, why: &str| {
            // Synced data that no longer reads back as written: the disk or someone
            // else changed the file. Serve what is intact rather than fail every read.
            tracing::warn!(path = %path.display(), offset, "a log segment is damaged ({why}); skipping the rest of a block");
        };
        match file
            .seek(SeekFrom::Start(block.offset))
            .and_then(|_| file.read_exact(&mut self.buf))
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                damaged(block.offset, "the file ends before the block");
                return Ok(());
            }
            Err(e) => return Err(io_error(context())(e)),
        }
        let mut at = 0;
        let mut seq = block.first_seq;
        while at < self.buf.len() {
            let offset = block.offset + at as u64;
            let (record, len) = match record::decode(&self.buf[at..]) {
                Decoded::Record(record, len) if record.seq == seq => (record, len),
                other => {
                    let why = match other {
                        Decoded::Corrupt(why) => why,
                        Decoded::Incomplete => "a record cut short",
                        Decoded::Record(..) => "a record with another seq",
                    };
                    damaged(offset, why);
                    break;
                }
            };
            let position = Position {
                timestamp: record.timestamp,
                seq,
            };
            if range.contains(position) {
                out.push(StoredEvent {
                    timestamp: record.timestamp,
                    ingestion_time: record.ingestion_time,
                    seq,
                    message: String::from_utf8_lossy(record.message).into_owned(),
                });
            }
            at += len;
            seq += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(start_time: Option<i64>, end_time: Option<i64>, from: Cursor) -> ReadQuery {
        ReadQuery {
            start_time,
            end_time,
            from,
            limit: 10,
        }
    }

    #[test]
    fn a_query_becomes_an_inclusive_range() {
        let range = KeyRange::of(&query(Some(10), Some(20), Cursor::Oldest)).unwrap();
        assert_eq!(
            range.lo,
            Position {
                timestamp: 10,
                seq: 0
            }
        );
        assert_eq!(
            range.hi,
            Position {
                timestamp: 19,
                seq: u64::MAX
            }
        );
        let p = Position {
            timestamp: 15,
            seq: 7,
        };
        let after = KeyRange::of(&query(Some(10), Some(20), Cursor::After(p))).unwrap();
        assert_eq!(
            after.lo,
            Position {
                timestamp: 15,
                seq: 8
            }
        );
        let before = KeyRange::of(&query(Some(10), Some(20), Cursor::Before(p))).unwrap();
        assert_eq!(
            before.hi,
            Position {
                timestamp: 15,
                seq: 6
            }
        );
        // A cursor outside the window keeps the window's own bound.
        let early = Position {
            timestamp: 1,
            seq: 1,
        };
        assert_eq!(
            KeyRange::of(&query(Some(10), None, Cursor::After(early)))
                .unwrap()
                .lo
                .timestamp,
            10
        );
    }

    #[test]
    fn empty_ranges_are_recognised() {
        assert_eq!(
            KeyRange::of(&query(Some(20), Some(20), Cursor::Oldest)),
            None
        );
        assert_eq!(
            KeyRange::of(&query(None, Some(i64::MIN), Cursor::Newest)),
            None
        );
        let p = Position {
            timestamp: 30,
            seq: 1,
        };
        assert_eq!(KeyRange::of(&query(None, Some(20), Cursor::After(p))), None);
        assert_eq!(
            KeyRange::of(&query(None, None, Cursor::After(Position::MAX))),
            None
        );
    }

    #[test]
    fn partition_point_finds_the_first_failure() {
        assert_eq!(partition_point(10, |i| i < 4), 4);
        assert_eq!(partition_point(10, |_| true), 10);
        assert_eq!(partition_point(0, |_| true), 0);
    }
}
