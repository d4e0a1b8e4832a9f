//! The embedded backend: one redb file in a directory, one writer thread with group
//! commit, reads straight from redb read transactions, watches from a history table plus
//! an in-memory broadcast.
//!
//! Why redb: it is pure Rust (no C toolchain in the build), ACID with an fsync on every
//! `Durability::Immediate` commit, and its copy-on-write B-trees are crash-safe — a
//! `kill -9` at any point leaves the last committed transaction intact. Readers use MVCC
//! snapshots and never block the writer. Its one limit, a single writer, suits us: the
//! writer batches many store transactions into one redb commit, so one fsync is shared
//! by every transaction in the batch.
//!
//! Tables: `kv` (key → record: create revision, mod revision, value), `meta` (current
//! revision, oldest kept history revision) and `history` (revision → that revision's
//! events), trimmed to the last [`EmbeddedOptions::history_revisions`] revisions.

mod codec;
mod watch;
mod writer;

use std::fmt::Display;
use std::ops::Bound;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, DatabaseError, ReadTransaction, ReadableTable, TableDefinition};
use tokio::sync::{broadcast, oneshot};

use crate::{
    Compare, KeyValue, Page, Revision, Snapshot, Store, StoreError, Txn, TxnOutcome, WatchEvent,
    WatchStream,
};
use codec::decode_record;
use writer::{Request, Work, Writer, WriterState};

/// Keys are stored as bytes: UTF-8's byte order is its character order, and byte keys
/// compare without re-validating UTF-8 at every step of a B-tree search.
const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");
const REVISION_KEY: &str = "revision";
const OLDEST_KEY: &str = "oldest_history";

/// A redb failure or a corrupt record, boxed so internal `Result`s stay small.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct DbError(Box<redb::Error>);

impl<E: Into<redb::Error>> From<E> for DbError {
    fn from(error: E) -> Self {
        DbError(Box::new(error.into()))
    }
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        StoreError::Backend(error.0.to_string())
    }
}

type DbResult<T> = Result<T, DbError>;

/// The events of one committed batch, in revision order, as published to live watchers.
type LiveBatch = Arc<Vec<WatchEvent>>;

/// Tuning for [`EmbeddedStore::open_with`].
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// How many recent revisions of history to keep for watches (at least 1).
    pub history_revisions: u64,
    /// The most transactions the writer commits together.
    pub max_batch: usize,
    /// How many committed batches a live watcher may fall behind before it gets `Lagged`
    /// (the buffer is shared by all watchers and holds at most this many batches). The
    /// buffer keeps its batches in memory whether or not anyone watches, so it is small:
    /// a watcher that lags relists, as every Berth loop does.
    pub watch_buffer: usize,
    /// redb's page cache in bytes; bounds the server's memory whatever the store's size.
    pub cache_bytes: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            history_revisions: 100_000,
            max_batch: 1_000,
            watch_buffer: 64,
            cache_bytes: 128 * 1024 * 1024,
        }
    }
}

/// The embedded [`Store`]: cheap to clone; the writer stops when the last clone drops
/// (that drop waits for the batch in flight, a few milliseconds at most).
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    requests: Option<mpsc::Sender<Request>>,
    live: broadcast::Sender<LiveBatch>,
    writer: Option<JoinHandle<()>>,
}

impl EmbeddedStore {
    /// The database file's name inside the store directory.
    pub const FILE_NAME: &'static str = "berth.redb";

    /// Opens (creating if needed) the store in `dir` with default options.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, EmbeddedOptions::default())
    }

    /// Opens (creating if needed) the store in `dir`. Blocking: after a crash redb checks
    /// the file before it opens, so call this at startup or from `spawn_blocking`.
    pub fn open_with(dir: &Path, options: EmbeddedOptions) -> Result<Self, StoreError> {
        let path = dir.join(Self::FILE_NAME);
        let opening =
            |e: &dyn Display| StoreError::Backend(format!("opening store {}: {e}", path.display()));
        std::fs::create_dir_all(dir).map_err(|e| opening(&e))?;
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(&path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => {
                    opening(&"already open; is another Berth process using this directory?")
                }
                e => opening(&e),
            })?;
        let db = Arc::new(db);
        let state = create_tables(&db).map_err(|e| opening(&e))?;
        let (requests, receiver) = mpsc::channel();
        let (live, _) = broadcast::channel(options.watch_buffer.max(1));
        let writer = Writer {
            db: db.clone(),
            requests: receiver,
            live: live.clone(),
            state,
            max_batch: options.max_batch.max(1),
            history_revisions: options.history_revisions.max(1),
        };
        let writer = std::thread::Builder::new()
            .name("berth-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| opening(&e))?;
        let inner = Inner {
            db,
            requests: Some(requests),
            live,
            writer: Some(writer),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Drops history at and below `through` (clamped to the current revision), so watches
    /// from before it get [`StoreError::Compacted`]. Retention does this on its own;
    /// this is for tests and operators.
    pub async fn compact(&self, through: Revision) -> Result<(), StoreError> {
        self.submit(Work::Compact(through)).await.map(drop)
    }

    async fn submit(&self, work: Work) -> Result<TxnOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let requests = self.inner.requests.as_ref().ok_or(StoreError::Closed)?;
        requests
            .send(Request { work, reply })
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a fresh read transaction on the calling task: redb reads are a few
    /// microseconds from its page cache, cheaper than a hop to the blocking pool (see
    /// `benches/txn_throughput.rs`).
    fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> DbResult<T>) -> Result<T, StoreError> {
        let rtx = self.inner.db.begin_read().map_err(DbError::from)?;
        Ok(f(&rtx)?)
    }
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish its batch and exit; joining it means
        // the file is closed once the last store handle is gone.
        drop(self.requests.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn revision(&self) -> Result<Revision, StoreError> {
        self.read(|rtx| Ok(meta_state(&rtx.open_table(META)?)?.revision))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.read(|rtx| get(&rtx.open_table(KV)?, key))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KeyValue>>, StoreError> {
        self.read(|rtx| {
            let kv = rtx.open_table(KV)?;
            keys.iter().map(|key| get(&kv, key)).collect()
        })
    }

    async fn page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let from = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        self.read(|rtx| {
            let revision = meta_state(&rtx.open_table(META)?)?.revision;
            let mut kvs = Vec::new();
            let more = scan(&rtx.open_table(KV)?, prefix, from, limit, &mut kvs)?;
            Ok(Page {
                revision,
                kvs,
                more,
            })
        })
    }

    async fn snapshot(&self, prefixes: &[String]) -> Result<Snapshot, StoreError> {
        // Sorted, with prefixes covered by a shorter one dropped: the remaining ranges are
        // disjoint and in key order, so scanning them in turn yields sorted, unique keys.
        let mut prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        prefixes.sort_unstable();
        prefixes.dedup_by(|later, earlier| later.starts_with(*earlier));
        self.read(|rtx| {
            let revision = meta_state(&rtx.open_table(META)?)?.revision;
            let kv = rtx.open_table(KV)?;
            let mut kvs = Vec::new();
            for prefix in prefixes {
                scan(&kv, prefix, Bound::Included(prefix), 0, &mut kvs)?;
            }
            Ok(Snapshot { revision, kvs })
        })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        if !txn.ops.is_empty() {
            return self.submit(Work::Txn(txn)).await;
        }
        // Nothing to write: check the compares on a read transaction, no commit needed.
        self.read(|rtx| {
            Ok(match first_conflict(&rtx.open_table(KV)?, &txn.compares)? {
                Some(key) => TxnOutcome::Conflict { key },
                None => TxnOutcome::Committed {
                    revision: meta_state(&rtx.open_table(META)?)?.revision,
                },
            })
        })
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        watch::watch(&self.inner.db, &self.inner.live, prefix, after_revision)
    }
}

/// Creates the tables if this is a new file and reads the writer's starting state.
fn create_tables(db: &Database) -> DbResult<WriterState> {
    let wtx = db.begin_write()?;
    let state = {
        wtx.open_table(KV)?;
        wtx.open_table(HISTORY)?;
        meta_state(&wtx.open_table(META)?)?
    };
    wtx.commit()?;
    Ok(state)
}

/// The current revision and oldest kept history revision recorded in `meta`.
fn meta_state(meta: &impl ReadableTable<&'static str, u64>) -> DbResult<WriterState> {
    let revision = meta.get(REVISION_KEY)?.map_or(0, |v| v.value());
    let oldest = meta.get(OLDEST_KEY)?.map_or(revision + 1, |v| v.value());
    Ok(WriterState { revision, oldest })
}

fn get(
    kv: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &str,
) -> DbResult<Option<KeyValue>> {
    match kv.get(key.as_bytes())? {
        Some(record) => Ok(Some(decode_record(record.value())?.to_key_value(key))),
        None => Ok(None),
    }
}

/// Appends keys under `prefix` from `from` on, at most `limit` (0: all); true if more follow.
fn scan(
    kv: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &str,
    from: Bound<&str>,
    limit: usize,
    out: &mut Vec<KeyValue>,
) -> DbResult<bool> {
    for (taken, entry) in kv
        .range::<&[u8]>((from.map(str::as_bytes), Bound::Unbounded))?
        .enumerate()
    {
        let (key, record) = entry?;
        let key = key.value();
        if !key.starts_with(prefix.as_bytes()) {
            break;
        }
        if limit != 0 && taken == limit {
            return Ok(true);
        }
        let key = std::str::from_utf8(key).map_err(|e| {
            DbError::from(redb::StorageError::Corrupted(format!(
                "key is not UTF-8: {e}"
            )))
        })?;
        out.push(decode_record(record.value())?.to_key_value(key));
    }
    Ok(false)
}

/// The key of the first compare that does not hold, if any.
fn first_conflict(
    kv: &impl ReadableTable<&'static [u8], &'static [u8]>,
    compares: &[Compare],
) -> DbResult<Option<String>> {
    for Compare::ModRevision { key, revision } in compares {
        let current = match kv.get(key.as_bytes())? {
            Some(record) => decode_record(record.value())?.mod_revision,
            None => 0,
        };
        if current != *revision {
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}
