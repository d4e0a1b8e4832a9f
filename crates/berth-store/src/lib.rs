//! The store: a revisioned key-value space with compare-and-swap transactions and
//! watches, shaped like etcd's so an etcd backend can stand beside the embedded one.
//!
//! Every write gets the next store-wide revision. A [`Txn`] commits only when all its
//! [`Compare`]s hold, so callers do optimistic concurrency: read, decide, commit
//! "if revisions unchanged", retry on [`TxnOutcome::Conflict`]. A write is durable when
//! [`Store::txn`] returns. [`Store::watch`] streams every change after a revision, so a
//! loop can list, then watch from the listed revision, and never miss an event.
//!
//! The store knows nothing about clusters or tasks: keys are opaque strings, values
//! opaque bytes.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub mod cache;
pub mod embedded;
pub mod etcd;
pub mod leader;
pub mod records;

/// A store-wide, strictly increasing write counter. Revision 0 means "never written".
pub type Revision = u64;

/// One stored key with its value and the revisions that created and last changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

/// A condition a transaction checks before it applies its operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The key's `mod_revision` equals this revision; 0 means the key must be absent.
    ModRevision { key: String, revision: Revision },
}

impl Compare {
    /// The key must not exist.
    pub fn absent(key: impl Into<String>) -> Self {
        Compare::ModRevision {
            key: key.into(),
            revision: 0,
        }
    }
    /// The key must be unchanged since it was read at `revision` (0: still absent).
    pub fn unchanged(key: impl Into<String>, revision: Revision) -> Self {
        Compare::ModRevision {
            key: key.into(),
            revision,
        }
    }
}

/// A write inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Bytes,
    },
    /// Deleting an absent key is not an error and records no event.
    Delete {
        key: String,
    },
}

impl Op {
    pub fn put(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
        }
    }
    pub fn delete(key: impl Into<String>) -> Self {
        Op::Delete { key: key.into() }
    }
    /// The key it writes.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// Compare-and-swap: if every compare holds, apply every op atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub ops: Vec<Op>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn when(mut self, c: Compare) -> Self {
        self.compares.push(c);
        self
    }
    pub fn then(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }
}

/// What a transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// All compares held; the ops are durable at this revision (the store's revision
    /// after the commit; a transaction with no ops does not advance it).
    Committed { revision: Revision },
    /// A compare failed (the first failing key is named); nothing was written.
    Conflict { key: String },
}

impl TxnOutcome {
    pub fn is_committed(&self) -> bool {
        matches!(self, TxnOutcome::Committed { .. })
    }
}

/// A consistent read of one or more key prefixes at a single revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub revision: Revision,
    /// Sorted by key.
    pub kvs: Vec<KeyValue>,
}

/// A page of one prefix, sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub revision: Revision,
    pub kvs: Vec<KeyValue>,
    /// True when more keys follow the last one returned.
    pub more: bool,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    Put(KeyValue),
    Delete { key: String, mod_revision: Revision },
}

impl WatchEvent {
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put(kv) => &kv.key,
            WatchEvent::Delete { key, .. } => key,
        }
    }
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put(kv) => kv.mod_revision,
            WatchEvent::Delete { mod_revision, .. } => *mod_revision,
        }
    }
}

/// Events in revision order. The stream ends with an error when the watcher cannot be
/// kept whole (history compacted, or it fell too far behind): the caller relists.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, StoreError>> + Send>>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The history needed to watch from this revision is gone; list again and watch
    /// from the listed revision.
    #[error("revision {requested} is compacted (oldest kept: {oldest}); relist and watch again")]
    Compacted {
        requested: Revision,
        oldest: Revision,
    },
    /// The watcher fell behind the live event buffer; relist and watch again.
    #[error("watcher fell behind; relist and watch again")]
    Lagged,
    /// The backend failed (disk, corruption, connection).
    #[error("store backend failed: {0}")]
    Backend(String),
    /// The store was closed.
    #[error("store is closed")]
    Closed,
    /// A write of a leader whose term is over ([`leader::FencedStore`]).
    #[error("this replica is no longer the leader; its write was not made")]
    NotLeader,
}

/// Implements [`Store`] for a wrapper of another store (its field `inner`): reads and
/// watches are forwarded, `txn` is the body given (with `$self` and `$txn` bound).
macro_rules! wrapping_store {
    ($wrapper:ty, |$self:ident, $txn:ident| $body:block) => {
        #[async_trait::async_trait]
        impl $crate::Store for $wrapper {
            async fn revision(&self) -> Result<$crate::Revision, $crate::StoreError> {
                self.inner.revision().await
            }
            async fn get(
                &self,
                key: &str,
            ) -> Result<Option<$crate::KeyValue>, $crate::StoreError> {
                self.inner.get(key).await
            }
            async fn get_many(
                &self,
                keys: &[String],
            ) -> Result<Vec<Option<$crate::KeyValue>>, $crate::StoreError> {
                self.inner.get_many(keys).await
            }
            async fn page(
                &self,
                prefix: &str,
                start_after: Option<&str>,
                limit: usize,
            ) -> Result<$crate::Page, $crate::StoreError> {
                self.inner.page(prefix, start_after, limit).await
            }
            async fn snapshot(
                &self,
                prefixes: &[String],
            ) -> Result<$crate::Snapshot, $crate::StoreError> {
                self.inner.snapshot(prefixes).await
            }
            async fn watch(
                &self,
                prefix: &str,
                after_revision: $crate::Revision,
            ) -> Result<$crate::WatchStream, $crate::StoreError> {
                self.inner.watch(prefix, after_revision).await
            }
            async fn txn(
                &$self,
                $txn: $crate::Txn,
            ) -> Result<$crate::TxnOutcome, $crate::StoreError> $body
        }
    };
}
pub(crate) use wrapping_store;

/// The revisioned key-value store every Berth component shares.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The current revision.
    async fn revision(&self) -> Result<Revision, StoreError>;
    /// One key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;
    /// Several keys read at one revision; absent keys are `None`, in request order.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<KeyValue>>, StoreError>;
    /// Keys with this prefix, sorted, strictly after `start_after` when given, at most
    /// `limit` of them (0: no limit).
    async fn page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError>;
    /// Everything under several prefixes, read at one revision.
    async fn snapshot(&self, prefixes: &[String]) -> Result<Snapshot, StoreError>;
    /// Compare-and-swap. Durable when this returns `Committed`.
    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError>;
    /// Every change to keys with this prefix after `after_revision`, in order, then live.
    async fn watch(
        &self,
        prefix: &str,
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError>;
}

/// Runs the backend-independent conformance suite against a store factory. Each backend's
/// tests call this; see `tests/conformance.rs`.
pub mod conformance;
