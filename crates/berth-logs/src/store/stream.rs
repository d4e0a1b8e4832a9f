//! One stream: its in-memory index, the appends waiting to be written, and the writer.
//!
//! Appends are group-committed. Each append queues its events and then either finds
//! them written by the task that held the writer before it, or takes the writer and
//! writes everything queued (its own events and those of the appends that queued while
//! the previous commit was syncing) with one write and one `fdatasync` on a blocking
//! thread. Each append's events are contiguous and get consecutive seqs; a commit
//! stops at a segment boundary, so one append never spans two files. Only after the
//! sync are the events added to the index, so reads see durable events only, and only
//! then are the appends answered. A failed write answers its appends with the error
//! and cuts the file back before the next write (all or nothing per append).
//!
//! Locks: `index` (std) is held only for short, non-blocking updates and snapshots;
//! `writer` (tokio, owned guards) serialises commits, rolls, expiry and deletion and
//! is handed to the blocking thread that does the I/O, never held across an `.await`
//! by a task that could be cancelled mid-write.

use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, OwnedMutexGuard};

use super::event::{Appended, NewEvent, ReadPage, ReadQuery, StreamSummary};
use super::index::{RecordInfo, SegmentIndex, SegmentView};
use super::read::{self, KeyRange};
use super::record::{self, RecordRef, SEGMENT_HEADER_BYTES};
use super::segment::{self, FileKind};
use super::{blocking, io_error, LogError, LogStoreOptions};

/// Whether this process writes a stream's files or follows what another process
/// writes (a lane of a shared store, see `lanes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Appends, rolls, expires and repairs torn tails.
    Write,
    /// Only reads, and picks up the writer's appends with [`Stream::refresh`]; never
    /// changes a file, and ignores an append still being written.
    Follow,
}

/// One stream of the store (one lane of it, in a shared store).
pub(crate) struct Stream {
    id: String,
    dir: PathBuf,
    options: LogStoreOptions,
    access: Access,
    index: Mutex<StreamIndex>,
    /// Serialises [`Stream::refresh`] calls of a followed stream.
    refreshing: Mutex<()>,
    pending: Mutex<Vec<PendingAppend>>,
    next_ticket: AtomicU64,
    writer: Arc<tokio::sync::Mutex<Writer>>,
}

/// The in-memory index of a stream: its segments, oldest first, the last one taking
/// appends.
#[derive(Debug)]
pub(crate) struct StreamIndex {
    pub segments: Vec<SegmentIndex>,
    /// The seq of the first event ever appended (1, or the lane's first seq).
    pub first_seq: u64,
}

impl StreamIndex {
    fn next_seq(&self) -> u64 {
        self.segments
            .last()
            .map_or(self.first_seq, SegmentIndex::next_seq)
    }

    fn summary(&self) -> StreamSummary {
        let ranges = || self.segments.iter().filter_map(SegmentIndex::time_range);
        StreamSummary {
            first_event_timestamp: ranges().map(|(min, _)| min).min(),
            last_event_timestamp: ranges().map(|(_, max)| max).max(),
            last_ingestion_time: self
                .segments
                .iter()
                .filter_map(SegmentIndex::last_ingestion_time)
                .max(),
            stored_bytes: self.segments.iter().map(|s| s.len).sum(),
            next_seq: self.next_seq() - self.first_seq + 1,
        }
    }

    /// Entries of the sparse index held for the whole stream.
    #[cfg(test)]
    pub fn block_entries(&self) -> usize {
        self.segments.iter().map(SegmentIndex::block_entries).sum()
    }
}

/// An append waiting for a commit.
struct PendingAppend {
    ticket: u64,
    events: Vec<NewEvent>,
    ingestion_time: i64,
    reply: oneshot::Sender<Result<Appended, LogError>>,
}

/// What only the committer touches.
#[derive(Default)]
struct Writer {
    deleted: bool,
    /// A failed write may have left bytes after the last synced record; they are cut
    /// off before anything else is written.
    dirty_tail: bool,
    buf: Vec<u8>,
    staged: Vec<RecordInfo>,
}

/// The most buffer capacity a writer keeps between commits.
const KEPT_BUFFER_BYTES: usize = 4 << 20;

/// The segment a commit writes to.
#[derive(Debug, Clone, Copy)]
struct Active {
    first_seq: u64,
    len: u64,
    next_seq: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; recover the data if something did.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Stream {
    /// Loads a stream from its directory (an absent directory is an empty stream) whose
    /// first event gets `first_seq`. Blocking: scans the last segment, cutting off a torn
    /// tail when this process writes the stream.
    pub fn load(
        id: &str,
        dir: PathBuf,
        options: LogStoreOptions,
        first_seq: u64,
        access: Access,
    ) -> Result<Stream, LogError> {
        let first_seqs = list_segments(&dir, access)?;
        let block_bytes = options.index_interval_bytes;
        let mut segments = Vec::with_capacity(first_seqs.len());
        for (i, &first) in first_seqs.iter().enumerate() {
            let last = i + 1 == first_seqs.len();
            segments.push(match access {
                Access::Write if last => segment::load_active(&dir, first, block_bytes)?,
                Access::Follow if last => {
                    segment::scan(&segment::log_path(&dir, first), first, block_bytes)?.index
                }
                _ => segment::load_sealed(&dir, first, block_bytes, access == Access::Write)?,
            });
        }
        Ok(Stream {
            id: id.to_owned(),
            dir,
            options,
            access,
            index: Mutex::new(StreamIndex {
                segments,
                first_seq,
            }),
            refreshing: Mutex::new(()),
            pending: Mutex::new(Vec::new()),
            next_ticket: AtomicU64::new(0),
            writer: Arc::default(),
        })
    }

    /// Brings a followed stream up to what its writer has appended since it was
    /// loaded or last refreshed: new records of the segment that was taking appends,
    /// segments begun since, and segments removed since (expired, or the stream
    /// deleted). Blocking. Only whole appends are indexed, so a read never sees part
    /// of one.
    pub fn refresh(&self) -> Result<(), LogError> {
        debug_assert_eq!(self.access, Access::Follow);
        let _turn = lock(&self.refreshing);
        let listed = list_segments(&self.dir, Access::Follow)?;
        let known = self.index().segments.clone();
        let was_active = known.last().map(|s| s.first_seq);
        let block_bytes = self.options.index_interval_bytes;
        let mut fresh = Vec::with_capacity(listed.len());
        for (i, &first_seq) in listed.iter().enumerate() {
            let last = i + 1 == listed.len();
            let path = segment::log_path(&self.dir, first_seq);
            let found = match known.iter().find(|s| s.first_seq == first_seq) {
                // Sealed when it was last seen: it cannot have changed.
                Some(sealed) if was_active != Some(first_seq) => Ok(sealed.clone()),
                Some(active) => {
                    let mut grown = active.clone();
                    match segment::index_more(&path, &mut grown, block_bytes) {
                        // The writer cut its tail back (a failed write): index afresh.
                        Ok(file_len) if file_len < grown.len => {
                            segment::scan(&path, first_seq, block_bytes).map(|s| s.index)
                        }
                        Ok(_) => Ok(grown),
                        Err(e) => Err(e),
                    }
                }
                None if last => segment::scan(&path, first_seq, block_bytes).map(|s| s.index),
                None => segment::load_sealed(&self.dir, first_seq, block_bytes, false),
            };
            match found {
                Ok(mut segment) => {
                    if !last {
                        segment.seal();
                    }
                    fresh.push(segment);
                }
                // Removed since it was listed: expired, or the stream deleted.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        self.index().segments = fresh;
        Ok(())
    }

    /// The stream's index, for a look (tests, summaries).
    pub fn index(&self) -> MutexGuard<'_, StreamIndex> {
        lock(&self.index)
    }

    pub fn summary(&self) -> StreamSummary {
        self.index().summary()
    }

    /// Appends events already sorted by timestamp; see the module docs.
    pub async fn append(
        self: &Arc<Self>,
        events: Vec<NewEvent>,
        ingestion_time: i64,
    ) -> Result<Appended, LogError> {
        debug_assert_eq!(
            self.access,
            Access::Write,
            "a followed stream takes no appends"
        );
        let (reply, mut replied) = oneshot::channel();
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        lock(&self.pending).push(PendingAppend {
            ticket,
            events,
            ingestion_time,
            reply,
        });
        let _unqueue_if_cancelled = Queued {
            stream: self,
            ticket,
        };
        let writer = tokio::select! {
            biased;
            result = &mut replied => return answer(result),
            writer = self.writer.clone().lock_owned() => writer,
        };
        match replied.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => {}
            done => return answer(done.map_err(|_| ())),
        }
        // Holding the writer with no answer: our append is still queued (only the
        // writer's holder takes from the queue, and it answers before letting go).
        let batch = std::mem::take(&mut *lock(&self.pending));
        let stream = Arc::clone(self);
        tokio::task::spawn_blocking(move || stream.commit(writer, batch));
        answer(replied.await)
    }

    /// Writes a batch of queued appends; runs on a blocking thread.
    fn commit(&self, mut writer: OwnedMutexGuard<Writer>, batch: Vec<PendingAppend>) {
        self.commit_batch(&mut writer, batch);
        // Keep the buffers for the next commit, unless a burst made them large: idle
        // streams should not each hold their largest batch.
        if writer.buf.capacity() > KEPT_BUFFER_BYTES {
            writer.buf = Vec::new();
            writer.staged = Vec::new();
        }
    }

    fn commit_batch(&self, writer: &mut Writer, batch: Vec<PendingAppend>) {
        let mut calls = batch.into_iter().peekable();
        while calls.peek().is_some() {
            let active = match self.make_room(writer) {
                Ok(active) => active,
                Err(e) => {
                    calls.for_each(|call| drop(call.reply.send(Err(e.clone()))));
                    return;
                }
            };
            writer.buf.clear();
            writer.staged.clear();
            let mut group = Vec::new();
            let mut offset = active.len;
            let mut seq = active.next_seq;
            while let Some(call) =
                calls.next_if(|_| group.is_empty() || offset < self.options.segment_bytes)
            {
                let first_seq = seq;
                let ingestion_time = call.ingestion_time;
                for (i, event) in call.events.iter().enumerate() {
                    let (timestamp, message) = (event.timestamp, event.message.as_bytes());
                    let ends_append = i + 1 == call.events.len();
                    record::encode(
                        &mut writer.buf,
                        RecordRef {
                            timestamp,
                            ingestion_time,
                            seq,
                            ends_append,
                            message,
                        },
                    );
                    let len = record::encoded_len(message) as u32;
                    writer.staged.push(RecordInfo {
                        timestamp,
                        ingestion_time,
                        seq,
                        offset,
                        len,
                    });
                    offset += u64::from(len);
                    seq += 1;
                }
                group.push((
                    call.reply,
                    Appended {
                        first_seq,
                        last_seq: seq - 1,
                    },
                ));
            }
            match self.write_synced(active, &writer.buf) {
                Ok(()) => {
                    let mut index = self.index();
                    let segment = index.segments.last_mut().expect("make_room made a segment");
                    debug_assert_eq!(segment.first_seq, active.first_seq);
                    for record in &writer.staged {
                        segment.push(record, self.options.index_interval_bytes);
                    }
                    drop(index);
                    group
                        .into_iter()
                        .for_each(|(reply, appended)| drop(reply.send(Ok(appended))));
                }
                Err(e) => {
                    writer.dirty_tail = true;
                    group
                        .into_iter()
                        .for_each(|(reply, _)| drop(reply.send(Err(e.clone()))));
                }
            }
        }
    }

    /// The segment the next write goes to: creates the first, rolls one that is full
    /// or spans too long a time, and cuts off what a failed write left.
    fn make_room(&self, writer: &mut Writer) -> Result<Active, LogError> {
        if writer.deleted {
            return Err(LogError::StreamDeleted(self.id.clone()));
        }
        self.repair_tail(writer)?;
        let (last, next_seq) = {
            let index = self.index();
            (
                index
                    .segments
                    .last()
                    .map(|s| (s.first_seq, s.len, s.time_range())),
                index.next_seq(),
            )
        };
        let has_room = |len: u64, range: Option<(i64, i64)>| match range {
            None => true,
            Some((oldest, newest)) => {
                len < self.options.segment_bytes
                    && newest.saturating_sub(oldest) <= self.options.segment_span_ms
            }
        };
        match last {
            Some((first_seq, len, range)) if has_room(len, range) => Ok(Active {
                first_seq,
                len,
                next_seq,
            }),
            Some(_) => {
                self.roll(next_seq)?;
                Ok(Active {
                    first_seq: next_seq,
                    len: SEGMENT_HEADER_BYTES,
                    next_seq,
                })
            }
            None => {
                self.create_dir()?;
                segment::create(&self.dir, next_seq)?;
                self.index().segments.push(SegmentIndex::new(next_seq));
                Ok(Active {
                    first_seq: next_seq,
                    len: SEGMENT_HEADER_BYTES,
                    next_seq,
                })
            }
        }
    }

    fn repair_tail(&self, writer: &mut Writer) -> Result<(), LogError> {
        if writer.dirty_tail {
            let last = self.index().segments.last().map(|s| (s.first_seq, s.len));
            if let Some((first_seq, len)) = last {
                segment::truncate(&self.dir, first_seq, len)?;
            }
            writer.dirty_tail = false;
        }
        Ok(())
    }

    /// Seals the last segment (its sidecar written) and starts the next at `next_seq`.
    fn roll(&self, next_seq: u64) -> Result<(), LogError> {
        let sealed = {
            let mut index = self.index();
            let last = index.segments.last_mut().expect("a segment to roll");
            last.seal();
            last.clone()
        };
        segment::write_sidecar(&self.dir, &sealed);
        segment::create(&self.dir, next_seq)?;
        self.index().segments.push(SegmentIndex::new(next_seq));
        Ok(())
    }

    /// Creates the stream's directory durably: its entry and its parent's synced (in a
    /// shared store the directory is a lane's, inside the stream's own directory).
    fn create_dir(&self) -> Result<(), LogError> {
        fs::create_dir_all(&self.dir)
            .map_err(io_error(format!("creating {}", self.dir.display())))?;
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        segment::sync_dir(parent)?;
        segment::sync_dir(parent.parent().unwrap_or(Path::new(".")))
    }

    /// Writes `bytes` at the end of the active segment and syncs them.
    fn write_synced(&self, active: Active, bytes: &[u8]) -> Result<(), LogError> {
        let path = segment::log_path(&self.dir, active.first_seq);
        let context = || format!("appending to log segment {}", path.display());
        let mut file = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(context()))?;
        file.seek(SeekFrom::Start(active.len))
            .map_err(io_error(context()))?;
        file.write_all(bytes).map_err(io_error(context()))?;
        file.sync_data().map_err(io_error(context()))
    }

    /// Reads one page; see the `read` module.
    pub async fn read(self: &Arc<Self>, query: ReadQuery) -> Result<ReadPage, LogError> {
        Ok(self.read_counting(query).await?.0)
    }

    /// Reads one page, and says how many blocks it decoded.
    pub async fn read_counting(
        self: &Arc<Self>,
        query: ReadQuery,
    ) -> Result<(ReadPage, usize), LogError> {
        let Some(range) = KeyRange::of(&query) else {
            return Ok((read::empty_page(&query), 0));
        };
        let views: Vec<SegmentView> = self
            .index()
            .segments
            .iter()
            .filter(|s| {
                s.bounds()
                    .is_some_and(|(lower, upper)| range.overlaps(lower, upper))
            })
            .map(SegmentIndex::view)
            .collect();
        let dir = self.dir.clone();
        blocking("reading a log stream", move || {
            read::read_page(&dir, &views, range, &query)
        })
        .await
    }

    /// Removes the segments whose newest event is older than `before`; how many.
    pub async fn expire(self: &Arc<Self>, before: i64) -> Result<usize, LogError> {
        let mut writer = self.writer.clone().lock_owned().await;
        let stream = Arc::clone(self);
        blocking("expiring log events", move || {
            stream.expire_locked(&mut writer, before)
        })
        .await
    }

    fn expire_locked(&self, writer: &mut Writer, before: i64) -> Result<usize, LogError> {
        if writer.deleted {
            return Ok(0);
        }
        let expired = |s: &SegmentIndex| s.time_range().is_some_and(|(_, newest)| newest < before);
        let (last_expired, next_seq) = {
            let index = self.index();
            (index.segments.last().is_some_and(expired), index.next_seq())
        };
        if last_expired {
            // Start an empty segment first: the last segment's name is what keeps
            // the stream's next seq across a restart.
            self.repair_tail(writer)?;
            self.roll(next_seq)?;
        }
        let removed: Vec<u64> = {
            let mut index = self.index();
            let removed = index
                .segments
                .iter()
                .filter(|s| expired(s))
                .map(|s| s.first_seq)
                .collect();
            index.segments.retain(|s| !expired(s));
            removed
        };
        for &first_seq in &removed {
            segment::remove(&self.dir, first_seq)?;
        }
        if !removed.is_empty() {
            segment::sync_dir(&self.dir)?;
        }
        Ok(removed.len())
    }

    /// Removes the stream's files; appends still queued fail with `StreamDeleted`.
    pub async fn delete(self: &Arc<Self>) -> Result<(), LogError> {
        let mut writer = self.writer.clone().lock_owned().await;
        let stream = Arc::clone(self);
        blocking("deleting a log stream", move || {
            writer.deleted = true;
            stream.index().segments.clear();
            match fs::remove_dir_all(&stream.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(format!("removing {}", stream.dir.display()))(e)),
            }
            segment::sync_dir(stream.dir.parent().unwrap_or(Path::new(".")))
        })
        .await
    }
}

/// The first seqs of a stream directory's segment files, oldest first (none when the
/// directory is absent). A writer also removes sidecars left half-written.
fn list_segments(dir: &Path, access: Access) -> Result<Vec<u64>, LogError> {
    let mut first_seqs = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(first_seqs),
        Err(e) => return Err(io_error(format!("listing {}", dir.display()))(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(format!("listing {}", dir.display())))?;
        match entry.file_name().to_str().and_then(segment::parse_name) {
            Some((first_seq, FileKind::Log)) => first_seqs.push(first_seq),
            Some((_, FileKind::Temporary)) if access == Access::Write => {
                let _ = fs::remove_file(entry.path());
            }
            _ => {}
        }
    }
    first_seqs.sort_unstable();
    Ok(first_seqs)
}

/// The reply to an append; a dropped sender means the commit thread died.
fn answer<E>(reply: Result<Result<Appended, LogError>, E>) -> Result<Appended, LogError> {
    reply.unwrap_or_else(|_| {
        Err(LogError::Io {
            context: "appending log events".into(),
            source: Arc::new(io::Error::other(
                "the log writer stopped unexpectedly (see the server log); retry the append",
            )),
        })
    })
}

/// Takes an append out of the queue if its caller stops waiting before a commit took
/// it, so a cancelled append is not written later by someone else's commit.
struct Queued<'a> {
    stream: &'a Stream,
    ticket: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        lock(&self.stream.pending).retain(|p| p.ticket != self.ticket);
    }
}

#[cfg(test)]
impl Stream {
    /// Appends waiting for a commit.
    pub fn queued(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Holds the writer as a commit would, until the guard is dropped.
    pub async fn hold_writer(&self) -> impl Sized {
        self.writer.clone().lock_owned().await
    }
}
