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
mod read;
mod record;
mod segment;
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
use stream::Stream;

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

struct Inner {
    streams_dir: PathBuf,
    options: LogStoreOptions,
    /// Streams used since the store opened, loaded once each.
    streams: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<Stream>>>>>,
}

impl LogStore {
    /// Opens (creating its directory if needed) the store under `root` with default
    /// options. Blocking: call at startup. Streams are loaded on first use.
    pub fn open(root: &Path) -> Result<LogStore, LogError> {
        LogStore::open_with(root, LogStoreOptions::default())
    }

    /// Opens the store with these options.
    pub fn open_with(root: &Path, options: LogStoreOptions) -> Result<LogStore, LogError> {
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
        Ok(LogStore {
            inner: Arc::new(Inner {
                streams_dir,
                options,
                streams: Mutex::new(HashMap::new()),
            }),
        })
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
        match self.stream(stream, false).await? {
            Some(stream) => stream.read(query).await,
            None => Ok(read::empty_page(&query)),
        }
    }

    /// What DescribeLogStreams shows of a stream; `None` when nothing was ever
    /// appended to it (or it was deleted).
    pub async fn summary(&self, stream: &str) -> Result<Option<StreamSummary>, LogError> {
        Ok(self.stream(stream, false).await?.map(|s| s.summary()))
    }

    /// Removes the stream's whole segments whose newest event is older than
    /// `before_timestamp` (milliseconds since the epoch); returns how many.
    pub async fn expire(&self, stream: &str, before_timestamp: i64) -> Result<usize, LogError> {
        match self.stream(stream, false).await? {
            Some(stream) => stream.expire(before_timestamp).await,
            None => Ok(0),
        }
    }

    /// Deletes a stream and all its events; `false` when there was nothing to delete.
    /// A later append starts the stream afresh, from seq 1.
    pub async fn delete_stream(&self, stream: &str) -> Result<bool, LogError> {
        let Some(loaded) = self.stream(stream, false).await? else {
            return Ok(false);
        };
        let result = loaded.delete().await;
        // Forget it even if removing files failed: the next use reloads what is left.
        let mut streams = self.lock_streams();
        if streams
            .get(stream)
            .and_then(|slot| slot.get())
            .is_some_and(|current| Arc::ptr_eq(current, &loaded))
        {
            streams.remove(stream);
        }
        result.map(|()| true)
    }

    /// The loaded stream, loading it first if needed; `None` when `create` is false and
    /// the stream has no directory.
    async fn stream(&self, id: &str, create: bool) -> Result<Option<Arc<Stream>>, LogError> {
        validate_stream_id(id)?;
        let dir = self.inner.streams_dir.join(id);
        let known = self.lock_streams().get(id).cloned();
        let slot = match known {
            Some(slot) => slot,
            // A stat of a local directory: cheaper in place than a blocking-pool hop.
            None if !create && !dir.is_dir() => return Ok(None),
            None => self
                .lock_streams()
                .entry(id.to_owned())
                .or_default()
                .clone(),
        };
        let options = self.inner.options;
        let id = id.to_owned();
        let stream = slot
            .get_or_try_init(|| {
                blocking("loading a log stream", move || {
                    Stream::load(&id, dir, options).map(Arc::new)
                })
            })
            .await?;
        Ok(Some(Arc::clone(stream)))
    }

    fn lock_streams(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::OnceCell<Arc<Stream>>>>> {
        self.inner
            .streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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
