//! What the store keeps in memory per segment: a few counters and a sparse index of
//! *blocks*, never the events themselves.
//!
//! A block is a run of consecutive records of one segment, closed once it holds at least
//! the configured index interval of bytes (64 KiB by default), so a stream has about one
//! block entry (about 50 bytes) per interval of data: memory follows the volume of logs
//! only through that fixed ratio (under 0.1 % by default).
//!
//! Each block knows its byte range, first seq, count, smallest and largest timestamp and
//! whether its timestamps never decrease (`sorted`). Consecutive blocks that are sorted
//! and do not overlap in time form a *run*: inside a run the append order is the read
//! order, so a read binary-searches the run for its start and walks on from there. Logs
//! that arrive in time order make one run per segment. A batch that arrives late starts
//! a new run (and may leave one block unsorted, which a read sorts after decoding it); a
//! read merges the runs that overlap its window, see the `read` module.
//!
//! A sealed segment's index is also written next to it (`seg-….idx`) so reopening a
//! large stream does not rescan every segment; it is only a cache, checked against the
//! segment's length and its own CRC and rebuilt by a scan when it does not match.

use std::ops::Range;
use std::sync::Arc;

use super::event::Position;
use super::record::{u32_at, u64_at, SEGMENT_HEADER_BYTES};

/// One record's place and keys, as the writer or a scan found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordInfo {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub seq: u64,
    /// Byte offset of the record in its segment file.
    pub offset: u64,
    /// Bytes the record takes, framing included.
    pub len: u32,
}

/// One entry of the sparse index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    /// Byte offset of the block's first record in the segment file.
    pub offset: u64,
    /// Bytes of the block's records.
    pub len: u32,
    /// Records in the block (at least one).
    pub count: u32,
    pub first_seq: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    /// Whether the timestamps never decrease in append order.
    pub sorted: bool,
}

impl BlockMeta {
    fn starting_with(record: &RecordInfo) -> BlockMeta {
        BlockMeta {
            offset: record.offset,
            len: record.len,
            count: 1,
            first_seq: record.seq,
            min_ts: record.timestamp,
            max_ts: record.timestamp,
            sorted: true,
        }
    }

    fn push(&mut self, record: &RecordInfo) {
        debug_assert_eq!(record.offset, self.end());
        debug_assert_eq!(record.seq, self.last_seq() + 1);
        // While sorted, the largest timestamp is the last one.
        self.sorted &= record.timestamp >= self.max_ts;
        self.min_ts = self.min_ts.min(record.timestamp);
        self.max_ts = self.max_ts.max(record.timestamp);
        self.len += record.len;
        self.count += 1;
    }

    pub fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.count) - 1
    }

    /// At or before every event of the block.
    pub fn lower(&self) -> Position {
        Position {
            timestamp: self.min_ts,
            seq: self.first_seq,
        }
    }

    /// At or after every event of the block.
    pub fn upper(&self) -> Position {
        Position {
            timestamp: self.max_ts,
            seq: self.last_seq(),
        }
    }

    /// The byte offset right after the block.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }

    /// Whether this block, following `previous`, continues its run: every event here
    /// comes after every event there in read order, and both are in read order inside.
    fn continues(&self, previous: &BlockMeta) -> bool {
        previous.sorted && self.sorted && self.min_ts >= previous.max_ts
    }
}

/// A segment's closed blocks and where their runs start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Blocks {
    pub list: Vec<BlockMeta>,
    /// Indexes into `list` of the blocks that start a run; the first is always 0.
    pub run_starts: Vec<u32>,
}

impl Blocks {
    fn push(&mut self, block: BlockMeta) {
        if !self
            .list
            .last()
            .is_some_and(|previous| block.continues(previous))
        {
            self.run_starts.push(self.list.len() as u32);
        }
        self.list.push(block);
    }
}

/// The in-memory index of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentIndex {
    /// The seq of the segment's first record; also its file name.
    pub first_seq: u64,
    /// Bytes of the file that hold intact records, header included.
    pub len: u64,
    /// Records in the segment.
    pub count: u64,
    min_ts: i64,
    max_ts: i64,
    max_ingestion: i64,
    /// Closed blocks, shared with reads in progress; the writer copies them only if a
    /// read holds them when a block closes.
    blocks: Arc<Blocks>,
    /// The block being filled (the active segment only).
    open: Option<BlockMeta>,
}

impl SegmentIndex {
    /// The index of a segment without records.
    pub fn new(first_seq: u64) -> SegmentIndex {
        SegmentIndex {
            first_seq,
            len: SEGMENT_HEADER_BYTES,
            count: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            max_ingestion: i64::MIN,
            blocks: Arc::default(),
            open: None,
        }
    }

    /// Adds the next record; closes the open block once it holds `block_bytes`.
    pub fn push(&mut self, record: &RecordInfo, block_bytes: u32) {
        debug_assert_eq!(record.seq, self.next_seq());
        match &mut self.open {
            Some(block) => block.push(record),
            None => self.open = Some(BlockMeta::starting_with(record)),
        }
        self.len = record.offset + u64::from(record.len);
        self.count += 1;
        self.min_ts = self.min_ts.min(record.timestamp);
        self.max_ts = self.max_ts.max(record.timestamp);
        self.max_ingestion = self.max_ingestion.max(record.ingestion_time);
        if self.open.is_some_and(|block| block.len >= block_bytes) {
            self.seal();
        }
    }

    /// Closes the open block, if any: done when the block is full and when the segment
    /// is sealed.
    pub fn seal(&mut self) {
        if let Some(block) = self.open.take() {
            Arc::make_mut(&mut self.blocks).push(block);
        }
    }

    /// The seq the record after this segment's last one gets.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.count
    }

    /// The smallest and largest timestamps, when the segment has records.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (self.count > 0).then_some((self.min_ts, self.max_ts))
    }

    /// The latest ingestion time, when the segment has records.
    pub fn last_ingestion_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max_ingestion)
    }

    /// At or before / at or after every event of the segment, when it has any.
    pub fn bounds(&self) -> Option<(Position, Position)> {
        let (min_ts, max_ts) = self.time_range()?;
        Some((
            Position {
                timestamp: min_ts,
                seq: self.first_seq,
            },
            Position {
                timestamp: max_ts,
                seq: self.next_seq() - 1,
            },
        ))
    }

    /// Entries of the sparse index held for this segment.
    #[cfg(test)]
    pub fn block_entries(&self) -> usize {
        self.blocks.list.len() + usize::from(self.open.is_some())
    }

    /// What a read needs of this segment as it is now; later appends do not change it.
    pub fn view(&self) -> SegmentView {
        SegmentView {
            first_seq: self.first_seq,
            blocks: self.blocks.clone(),
            open: self.open,
        }
    }

    /// The sidecar file contents of a sealed segment.
    pub fn to_sidecar(&self) -> Vec<u8> {
        debug_assert!(self.open.is_none(), "only sealed segments have a sidecar");
        let mut out = Vec::with_capacity(64 + self.blocks.list.len() * 41);
        out.extend_from_slice(SIDECAR_MAGIC);
        for word in [self.first_seq, self.len, self.count] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for word in [self.min_ts, self.max_ts, self.max_ingestion] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&(self.blocks.list.len() as u32).to_le_bytes());
        for block in &self.blocks.list {
            out.extend_from_slice(&block.offset.to_le_bytes());
            out.extend_from_slice(&block.len.to_le_bytes());
            out.extend_from_slice(&block.count.to_le_bytes());
            out.extend_from_slice(&block.first_seq.to_le_bytes());
            out.extend_from_slice(&block.min_ts.to_le_bytes());
            out.extend_from_slice(&block.max_ts.to_le_bytes());
            out.push(u8::from(block.sorted));
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a sidecar back; `None` unless it is intact and describes exactly the
    /// segment `first_seq` whose file is `file_len` bytes long.
    pub fn from_sidecar(bytes: &[u8], first_seq: u64, file_len: u64) -> Option<SegmentIndex> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body) != u32_at(crc, 0) {
            return None;
        }
        let mut r = SidecarReader {
            buf: body.strip_prefix(SIDECAR_MAGIC)?,
        };
        let mut index = SegmentIndex::new(r.u64()?);
        index.len = r.u64()?;
        index.count = r.u64()?;
        index.min_ts = r.u64()? as i64;
        index.max_ts = r.u64()? as i64;
        index.max_ingestion = r.u64()? as i64;
        if index.first_seq != first_seq || index.len != file_len {
            return None;
        }
        let mut blocks = Blocks::default();
        let (mut seq, mut offset) = (first_seq, SEGMENT_HEADER_BYTES);
        for _ in 0..r.u32()? {
            let block = BlockMeta {
                offset: r.u64()?,
                len: r.u32()?,
                count: r.u32()?,
                first_seq: r.u64()?,
                min_ts: r.u64()? as i64,
                max_ts: r.u64()? as i64,
                sorted: r.u8()? != 0,
            };
            if block.first_seq != seq || block.offset != offset || block.count == 0 {
                return None;
            }
            seq = block.last_seq() + 1;
            offset = block.end();
            blocks.push(block);
        }
        if !r.buf.is_empty() || seq != index.next_seq() || offset != index.len {
            return None;
        }
        index.blocks = Arc::new(blocks);
        Some(index)
    }
}

/// The first bytes of a sidecar index file; the digit is the format version.
const SIDECAR_MAGIC: &[u8; 8] = b"BRTHIDX1";

/// Takes little-endian integers off the front of a sidecar.
struct SidecarReader<'a> {
    buf: &'a [u8],
}

impl SidecarReader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64_at(b, 0))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32_at(b, 0))
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
}

/// A read's snapshot of one segment's blocks.
#[derive(Debug, Clone)]
pub(crate) struct SegmentView {
    pub first_seq: u64,
    blocks: Arc<Blocks>,
    open: Option<BlockMeta>,
}

impl SegmentView {
    #[cfg(test)]
    pub fn block_count(&self) -> usize {
        self.blocks.list.len() + usize::from(self.open.is_some())
    }

    /// Block `i`, the open block coming last.
    pub fn block(&self, i: usize) -> &BlockMeta {
        match self.blocks.list.get(i) {
            Some(block) => block,
            None => self.open.as_ref().expect("block index in range"),
        }
    }

    /// The segment's runs, as ranges of block indexes.
    pub fn runs(&self) -> Vec<Range<usize>> {
        let closed = self.blocks.list.len();
        let starts = &self.blocks.run_starts;
        let mut runs: Vec<Range<usize>> = starts
            .iter()
            .zip(starts.iter().skip(1).map(|&s| s as usize).chain([closed]))
            .map(|(&start, end)| start as usize..end)
            .collect();
        if let Some(open) = &self.open {
            match (runs.last_mut(), self.blocks.list.last()) {
                (Some(last), Some(previous)) if open.continues(previous) => last.end += 1,
                _ => runs.push(closed..closed + 1),
            }
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of 100 bytes each with these timestamps, seqs from 1.
    fn index_of(timestamps: &[i64], block_bytes: u32) -> SegmentIndex {
        let mut index = SegmentIndex::new(1);
        for (i, &timestamp) in timestamps.iter().enumerate() {
            let record = RecordInfo {
                timestamp,
                ingestion_time: 1000 + i as i64,
                seq: 1 + i as u64,
                offset: index.len,
                len: 100,
            };
            index.push(&record, block_bytes);
        }
        index
    }

    #[test]
    fn blocks_close_at_the_interval_and_count_every_record() {
        let index = index_of(&[1, 2, 3, 4, 5, 6, 7], 300);
        let view = index.view();
        assert_eq!(view.block_count(), 3);
        assert_eq!(index.block_entries(), 3);
        let counts: Vec<u32> = (0..3).map(|i| view.block(i).count).collect();
        assert_eq!(counts, [3, 3, 1]);
        assert_eq!(view.block(1).offset, SEGMENT_HEADER_BYTES + 300);
        assert_eq!(view.block(2).first_seq, 7);
        assert_eq!(index.next_seq(), 8);
        assert_eq!(index.time_range(), Some((1, 7)));
        assert_eq!(index.last_ingestion_time(), Some(1006));
    }

    #[test]
    fn data_in_time_order_is_one_run() {
        let index = index_of(&[1, 2, 2, 3, 5, 8, 13, 21], 200);
        assert_eq!(index.view().runs(), vec![0..4]);
    }

    #[test]
    fn a_late_batch_starts_a_new_run_and_an_unsorted_block_stands_alone() {
        // Blocks of two: [10 11] [12 5] [6 7] [20 21] [3]
        let index = index_of(&[10, 11, 12, 5, 6, 7, 20, 21, 3], 200);
        let view = index.view();
        assert!(!view.block(1).sorted);
        assert_eq!(view.runs(), [0..1, 1..2, 2..4, 4..5]);
    }

    #[test]
    fn a_view_does_not_change_when_the_segment_grows() {
        // One closed block of three records, one open block of one.
        let mut index = index_of(&[1, 2, 3, 4], 250);
        let view = index.view();
        let record = RecordInfo {
            timestamp: 5,
            ingestion_time: 0,
            seq: 5,
            offset: index.len,
            len: 100,
        };
        index.push(&record, 250);
        assert_eq!(view.block_count(), 2);
        assert_eq!(view.block(1).count, 1);
        assert_eq!(index.view().block(1).count, 2);
    }

    #[test]
    fn a_sidecar_round_trips_and_refuses_any_mismatch() {
        let mut index = index_of(&[10, 11, 12, 5, 6, 7, 20, 21, 3], 200);
        index.seal();
        let bytes = index.to_sidecar();
        assert_eq!(
            SegmentIndex::from_sidecar(&bytes, 1, index.len),
            Some(index.clone())
        );
        assert_eq!(SegmentIndex::from_sidecar(&bytes, 2, index.len), None);
        assert_eq!(SegmentIndex::from_sidecar(&bytes, 1, index.len + 1), None);
        assert_eq!(
            SegmentIndex::from_sidecar(&bytes[..bytes.len() - 1], 1, index.len),
            None
        );
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert_eq!(SegmentIndex::from_sidecar(&flipped, 1, index.len), None);
    }
}
