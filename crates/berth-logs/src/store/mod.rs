//! The storage engine for CloudWatch Logs events: append-only segment files per stream,
//! a sparse time index in memory, crash-safe appends and whole-segment retention.
//!
//! ```text
//! ROOT/streams/<stream-id>/seg-<first seq, 20 digits>.log   records, in append order
//! ROOT/streams/<stream-id>/seg-<first seq, 20 digits>.idx   a sealed segment's index
//! ```
//!
//! Stream ids are opaque to the store (the API layer maps log groups and streams to
//! them) and must match `[A-Za-z0-9_-]{1,64}`, so no id can point outside `ROOT`.
//!
//! - **Events** get a per-stream `seq`, strictly increasing in append order and never
//!   reused (it survives restarts and expiry through the name of the last segment).
//!   Within one append the events are first sorted by timestamp (stably).
//! - **Appends** are all or nothing and durable before they return: the records of
//!   concurrent appends to one stream are written together and `fdatasync`ed once
//!   (group commit, see the `stream` module); appends to different streams run in
//!   parallel. Segments roll at [`LogStoreOptions::segment_bytes`] or once their events
//!   span [`LogStoreOptions::segment_span_ms`], whichever comes first.
//! - **Records** are framed with their length and a CRC-32, and the last record of each
//!   append is flagged (see the `record` module), so a tail torn by `kill -9` or a
//!   crash, down to a whole append of which only some records reached the disk, is
//!   detected when the stream is next loaded and cut off; the following appends
//!   continue from the last intact seq.
//! - **Reads** return events in (timestamp, seq) order, forward or backward from a
//!   [`Cursor`], within an optional time window; paging with [`ReadPage::next`] visits
//!   every event once. Batches that arrive out of time order are merged at read time
//!   (see the `read` module). As with CloudWatch, an event appended later with a
//!   timestamp before a forward cursor is not seen by that cursor's next pages.
//! - **Memory** per stream is a few counters per segment and one sparse-index entry per
//!   [`LogStoreOptions::index_interval_bytes`] of records (see the `index` module),
//!   never the events. A stream is loaded on first use: sealed segments from their
//!   sidecar index, the last one by a scan (at most one segment's bytes).
//! - **Retention**: [`LogStore::expire`] removes whole segments whose newest event is
//!   older than a cutoff; the API layer's retention loop calls it. Because segments
//!   also roll by time span, a stream that logs a trickle for months still loses its
//!   old events: an event outlives the cutoff by at most one segment span.
//!
//! Blocking file I/O runs on tokio's blocking pool; no lock is held across an `.await`
//! except the stream's async writer lock, whose guard moves to the blocking thread.

mod event;
mod index;
mod lanes;
mod read;
mod record;
mod segment;
#[cfg(test)]
mod shared_tests;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use event::{
    Appended, Cursor, Direction, NewEvent, Position, ReadPage, ReadQuery, StoredEvent,
    StreamSummary,
};
pub use record::MAX_MESSAGE_BYTES;
use stream::{Access, Stream};

/// Why a log store call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// A stream id the store does not accept.
    #[error(
        "log stream id {0:?} is not valid: use 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"
    )]
    InvalidStreamId(String),
    /// An append without events.
    #[error("an append needs at least one event")]
    NoEvents,
    /// An event's message is longer than [`MAX_MESSAGE_BYTES`].
    #[error(
        "event {index} has a message of {bytes} bytes, more than the {max} an event may \
         carry; split it into several events"
    )]
    MessageTooLarge {
        index: usize,
        bytes: usize,
        max: usize,
    },
    /// [`LogStoreOptions`] that cannot work.
    #[error("log store options are not valid: {0}")]
    InvalidOptions(&'static str),
    /// The stream was deleted while an append waited for its turn.
    #[error(
        "log stream {0} was deleted while the append waited; nothing was written: create \
         the stream again and retry"
    )]
    StreamDeleted(String),
    /// A file in a stream's directory is not what the store wrote there.
    #[error("{path} is not a Berth log segment ({detail}); move it out of the stream's directory")]
    Corrupt { path: PathBuf, detail: &'static str },
    /// A file system call failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: Arc<io::Error>,
    },
}

impl LogError {
    /// Whether the error is a file or directory that is not there (removed meanwhile).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, LogError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> LogError {
    let context = context.into();
    move |source| LogError::Io {
        context,
        source: Arc::new(source),
    }
}

/// Runs blocking file work on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io_error(what)(io::Error::other(e)))?
}

/// Sizes the store works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStoreOptions {
    /// A segment takes no further appends once it holds this many bytes (one append
    /// may take it past); whole segments are what retention removes. Default 64 MiB.
    pub segment_bytes: u64,
    /// Bytes of records per sparse-index entry. Default 64 KiB: about 50 bytes of
    /// memory per 64 KiB of logs, and a read decodes at most this much it does not
    /// need at each end.
    pub index_interval_bytes: u32,
    /// A segment takes no further appends once its events' timestamps span more than
    /// this many milliseconds, so retention (which removes whole segments) reaches
    /// slow streams too. Default one hour.
    pub segment_span_ms: i64,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        LogStoreOptions {
            segment_bytes: 64 << 20,
            index_interval_bytes: 64 << 10,
            segment_span_ms: 60 * 60 * 1000,
        }
    }
}

/// The log store rooted at one directory. Cheap to clone; clones share the streams.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

/// Streams loaded once each: the ones this store writes, or followed lanes.
type Loaded<K> = Mutex<HashMap<K, Arc<tokio::sync::OnceCell<Arc<Stream>>>>>;

struct Inner {
    root: PathBuf,
    streams_dir: PathBuf,
    options: LogStoreOptions,
    /// The lane this store writes, when it shares its directory (see `lanes`).
    lane: Option<lanes::Lane>,
    /// The streams (lanes of streams, when shared) this store writes.
    streams: Loaded<String>,
    /// Other writers' lanes of streams, as read.
    followed: Loaded<(String, u16)>,
}

impl LogStore {
    /// Opens (creating its directory if needed) the store under `root` with default
    /// options, as the directory's only writer. Blocking: call at startup. Streams are
    /// loaded on first use.
    pub fn open(root: &Path) -> Result<LogStore, LogError> {
        LogStore::open_with(root, LogStoreOptions::default())
    }

    /// Opens the store with these options, as the directory's only writer.
    pub fn open_with(root: &Path, options: LogStoreOptions) -> Result<LogStore, LogError> {
        LogStore::open_as(root, options, false)
    }

    /// Opens a store that shares `root` with other processes (on a filesystem they all
    /// reach): it claims a lane of its own to write, and reads every lane (see the
    /// `lanes` module). Blocking: call at startup.
    pub fn open_shared(root: &Path, options: LogStoreOptions) -> Result<LogStore, LogError> {
        LogStore::open_as(root, options, true)
    }

    fn open_as(root: &Path, options: LogStoreOptions, shared: bool) -> Result<LogStore, LogError> {
        if options.segment_bytes == 0 {
            return Err(LogError::InvalidOptions("segment_bytes must be at least 1"));
        }
        if !(1..=1 << 30).contains(&options.index_interval_bytes) {
            return Err(LogError::InvalidOptions(
                "index_interval_bytes must be from 1 to 1 GiB",
            ));
        }
        let streams_dir = root.join("streams");
        std::fs::create_dir_all(&streams_dir)
            .map_err(io_error(format!("creating {}", streams_dir.display())))?;
        let lane = if shared {
            Some(lanes::claim(root)?)
        } else {
            None
        };
        Ok(LogStore {
            inner: Arc::new(Inner {
                root: root.to_owned(),
                streams_dir,
                options,
                lane,
                streams: Mutex::new(HashMap::new()),
                followed: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The lane this store writes when it shares its directory.
    pub fn lane(&self) -> Option<u16> {
        self.inner.lane.as_ref().map(|l| l.number)
    }

    /// Appends events to a stream (created on first append): sorted by timestamp,
    /// given consecutive seqs, and synced to disk before this returns. All or nothing.
    pub async fn append(
        &self,
        stream: &str,
        mut events: Vec<NewEvent>,
        ingestion_time: i64,
    ) -> Result<Appended, LogError> {
        if events.is_empty() {
            return Err(LogError::NoEvents);
        }
        if let Some((index, event)) = events
            .iter()
            .enumerate()
            .find(|(_, e)| e.message.len() > MAX_MESSAGE_BYTES)
        {
            let (bytes, max) = (event.message.len(), MAX_MESSAGE_BYTES);
            return Err(LogError::MessageTooLarge { index, bytes, max });
        }
        events.sort_by_key(|e| e.timestamp);
        let stream = self.stream(stream, true).await?.expect("created on demand");
        stream.append(events, ingestion_time).await
    }

    /// Reads one page of a stream; a stream without events reads as empty.
    pub async fn read(&self, stream: &str, query: ReadQuery) -> Result<ReadPage, LogError> {
        let own = self.stream(stream, false).await?;
        if self.inner.lane.is_none() {
            return match own {
                Some(own) => own.read(query).await,
                None => Ok(read::empty_page(&query)),
            };
        }
        let mut pages = Vec::new();
        for lane in own.into_iter().chain(self.others(stream).await?) {
            pages.push(lane.read(query).await?);
        }
        Ok(lanes::merge_pages(pages, &query))
    }

    /// What DescribeLogStreams shows of a stream; `None` when nothing was ever
    /// appended to it (or it was deleted).
    pub async fn summary(&self, stream: &str) -> Result<Option<StreamSummary>, LogError> {
        let own = self.stream(stream, false).await?;
        if self.inner.lane.is_none() {
            return Ok(own.map(|s| s.summary()));
        }
        let others = self.others(stream).await?;
        Ok(lanes::merge_summaries(
            own.iter().chain(&others).map(|s| s.summary()),
        ))
    }

    /// Removes the stream's whole segments whose newest event is older than
    /// `before_timestamp` (milliseconds since the epoch); returns how many. A shared
    /// store does this for its own lane and for lanes whose writer is gone.
    pub async fn expire(&self, stream: &str, before_timestamp: i64) -> Result<usize, LogError> {
        let mut removed = match self.stream(stream, false).await? {
            Some(stream) => stream.expire(before_timestamp).await?,
            None => 0,
        };
        let Some(own) = &self.inner.lane else {
            return Ok(removed);
        };
        let stream_dir = self.inner.streams_dir.join(stream);
        let root = self.inner.root.clone();
        let listed = blocking("listing a log stream's lanes", {
            let stream_dir = stream_dir.clone();
            move || lanes::of_stream(&stream_dir)
        })
        .await?;
        for lane in listed.into_iter().filter(|&l| l != own.number) {
            let root = root.clone();
            let Some(held) =
                blocking("locking a log lane", move || lanes::try_lock(&root, lane)).await?
            else {
                continue;
            };
            let (id, dir, options) = (
                stream.to_owned(),
                lanes::dir(&stream_dir, lane),
                self.inner.options,
            );
            let orphan = blocking("loading a log stream", move || {
                Stream::load(&id, dir, options, lanes::first_seq(lane), Access::Write)
            })
            .await?;
            removed += Arc::new(orphan).expire(before_timestamp).await?;
            drop(held);
        }
        Ok(removed)
    }

    /// Deletes a stream and all its events (every lane's, in a shared store); `false`
    /// when there was nothing to delete. A later append starts the stream afresh.
    pub async fn delete_stream(&self, stream: &str) -> Result<bool, LogError> {
        let loaded = self.stream(stream, false).await?;
        let mut existed = loaded.is_some();
        if let Some(loaded) = loaded {
            let result = loaded.delete().await;
            // Forget it even if removing files failed: the next use reloads what is left.
            let mut streams = lock(&self.inner.streams);
            if streams
                .get(stream)
                .and_then(|slot| slot.get())
                .is_some_and(|current| Arc::ptr_eq(current, &loaded))
            {
                streams.remove(stream);
            }
            result?;
        }
        if self.inner.lane.is_some() {
            lock(&self.inner.followed).retain(|(id, _), _| id != stream);
            let stream_dir = self.inner.streams_dir.join(stream);
            existed |= blocking("deleting a log stream", move || {
                match std::fs::remove_dir_all(&stream_dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => {
                        return Err(io_error(format!("removing {}", stream_dir.display()))(e))
                    }
                }
                segment::sync_dir(stream_dir.parent().unwrap_or(Path::new(".")))?;
                Ok(true)
            })
            .await?;
        }
        Ok(existed)
    }

    /// The loaded stream (this store's lane of it, when shared), loading it first if
    /// needed; `None` when `create` is false and the stream has no directory.
    async fn stream(&self, id: &str, create: bool) -> Result<Option<Arc<Stream>>, LogError> {
        validate_stream_id(id)?;
        let stream_dir = self.inner.streams_dir.join(id);
        let (dir, first_seq) = match &self.inner.lane {
            Some(lane) => (
                lanes::dir(&stream_dir, lane.number),
                lanes::first_seq(lane.number),
            ),
            None => (stream_dir, 1),
        };
        let known = lock(&self.inner.streams).get(id).cloned();
        let slot = match known {
            Some(slot) => slot,
            // A stat of a local directory: cheaper in place than a blocking-pool hop.
            None if !create && !dir.is_dir() => return Ok(None),
            None => lock(&self.inner.streams)
                .entry(id.to_owned())
                .or_default()
                .clone(),
        };
        let options = self.inner.options;
        let id = id.to_owned();
        let stream = slot
            .get_or_try_init(|| {
                blocking("loading a log stream", move || {
                    Stream::load(&id, dir, options, first_seq, Access::Write).map(Arc::new)
                })
            })
            .await?;
        Ok(Some(Arc::clone(stream)))
    }

    /// The stream's lanes other writers append to, each brought up to date with its
    /// files (a shared store only).
    async fn others(&self, id: &str) -> Result<Vec<Arc<Stream>>, LogError> {
        let Some(own) = &self.inner.lane else {
            return Ok(Vec::new());
        };
        let stream_dir = self.inner.streams_dir.join(id);
        let listed = blocking("listing a log stream's lanes", {
            let stream_dir = stream_dir.clone();
            move || lanes::of_stream(&stream_dir)
        })
        .await?;
        let mut followed = Vec::new();
        for lane in listed.into_iter().filter(|&l| l != own.number) {
            let slot = lock(&self.inner.followed)
                .entry((id.to_owned(), lane))
                .or_default()
                .clone();
            let mut loaded_now = false;
            let (name, dir, options) = (
                id.to_owned(),
                lanes::dir(&stream_dir, lane),
                self.inner.options,
            );
            let stream = slot
                .get_or_try_init(|| {
                    loaded_now = true;
                    blocking("loading a log stream", move || {
                        Stream::load(&name, dir, options, lanes::first_seq(lane), Access::Follow)
                            .map(Arc::new)
                    })
                })
                .await?
                .clone();
            if !loaded_now {
                let refreshing = Arc::clone(&stream);
                blocking("reading a log stream", move || refreshing.refresh()).await?;
            }
            followed.push(stream);
        }
        Ok(followed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks a stream id: 1 to 64 of `A-Z a-z 0-9 _ -`.
fn validate_stream_id(id: &str) -> Result<(), LogError> {
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(LogError::InvalidStreamId(id.to_owned()))
    }
}
