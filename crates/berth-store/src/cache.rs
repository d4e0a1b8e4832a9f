//! A watch-fed copy of one prefix of a store in memory, for reads that would otherwise
//! cost a network round trip each (the etcd backend): the prefix is listed once, then
//! every change comes through a watch. Reads wait until the copy has seen a given
//! revision (the reader's own last write, so a client sees what it just did), then come
//! from memory; a key the copy does not hold is read from the store, so a key written
//! through another replica a moment ago is never reported missing. A value may lag a
//! write made through another replica by the watch's delay: the eventual consistency
//! ECS documents for its Describe calls.
//!
//! Listing pages are read at their own revisions while the watch starts from the
//! revision read before the first page; an event is applied only when it is newer than
//! the copy's value of its key, so the two meet without regressing anything.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::{KeyValue, Revision, Store, StoreError, WatchEvent};

/// How many keys one listing page reads.
const PAGE: usize = 1000;
/// How long a read waits for the copy to reach the revision it needs before it reads
/// the store instead.
const CATCH_UP: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Copy {
    /// The value of each key, and for deleted keys the revision they were deleted at
    /// (`None`), so an older event cannot bring them back.
    kvs: BTreeMap<String, (Revision, Option<KeyValue>)>,
}

/// A watch-fed copy of every key under a prefix.
pub struct WatchCache {
    store: Arc<dyn Store>,
    prefix: String,
    copy: RwLock<Copy>,
    /// The revision the copy has seen everything up to (0 until the first listing).
    seen: watch::Sender<Revision>,
}

impl WatchCache {
    /// Starts copying `prefix` of `store`; the copy follows the store until `stop` turns
    /// true (or the cache is dropped).
    pub fn start(
        store: Arc<dyn Store>,
        prefix: &str,
        stop: watch::Receiver<bool>,
    ) -> Arc<WatchCache> {
        let cache = Arc::new(WatchCache {
            store,
            prefix: prefix.to_string(),
            copy: RwLock::new(Copy::default()),
            seen: watch::channel(0).0,
        });
        keep_mirrored(
            cache.store.clone(),
            prefix.to_string(),
            Arc::downgrade(&cache),
            stop,
        );
        cache
    }

    /// The revision the copy has seen everything up to.
    pub fn revision(&self) -> Revision {
        *self.seen.borrow()
    }

    /// Waits until the copy has seen revision `at_least` (and its first listing);
    /// false when it has not within [`CATCH_UP`].
    async fn caught_up(&self, at_least: Revision) -> bool {
        let mut seen = self.seen.subscribe();
        let waited = tokio::time::timeout(CATCH_UP, seen.wait_for(|r| *r >= at_least.max(1))).await;
        matches!(waited, Ok(Ok(_)))
    }

    /// Every key under `prefix` (within the cached prefix), sorted, as of at least
    /// revision `at_least`; from the store when the copy lags.
    pub async fn list(
        &self,
        prefix: &str,
        at_least: Revision,
    ) -> Result<Vec<KeyValue>, StoreError> {
        if !prefix.starts_with(&self.prefix) || !self.caught_up(at_least).await {
            return Ok(self.store.page(prefix, None, 0).await?.kvs);
        }
        let copy = self.copy.read().expect("cache lock");
        Ok(copy
            .kvs
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, (_, kv))| kv.clone())
            .collect())
    }

    /// The values of `keys` (all under the prefix), in order, as of at least revision
    /// `at_least`. Keys the copy lacks are read from the store.
    pub async fn get_many(
        &self,
        keys: &[String],
        at_least: Revision,
    ) -> Result<Vec<Option<KeyValue>>, StoreError> {
        if !self.caught_up(at_least).await {
            return self.store.get_many(keys).await;
        }
        let mut out: Vec<Option<KeyValue>> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        {
            let copy = self.copy.read().expect("cache lock");
            for (i, key) in keys.iter().enumerate() {
                match copy.kvs.get(key) {
                    Some((_, Some(kv))) => out.push(Some(kv.clone())),
                    _ => {
                        out.push(None);
                        missing.push(i);
                    }
                }
            }
        }
        if !missing.is_empty() {
            let wanted: Vec<String> = missing.iter().map(|i| keys[*i].clone()).collect();
            for (i, kv) in missing.into_iter().zip(self.store.get_many(&wanted).await?) {
                out[i] = kv;
            }
        }
        Ok(out)
    }
}

/// What a watch-fed copy of a prefix does with what [`mirror`] reads.
pub trait Mirror: Send + Sync {
    /// Forget everything: a fresh listing follows.
    fn reset(&self);
    /// A key's value as of `revision` (`None`: deleted then). Listings and the watch may
    /// both deliver a key; an older revision than the one held must change nothing.
    fn apply(&self, key: String, revision: Revision, value: Option<KeyValue>);
    /// Everything up to `revision` has been applied.
    fn seen(&self, revision: Revision);
}

/// Keeps `copy` a mirror of `prefix` of `store` on a task of its own: [`mirror`] again
/// after each break, until `stop` turns true or the copy is dropped.
pub fn keep_mirrored<M: Mirror + 'static>(
    store: Arc<dyn Store>,
    prefix: String,
    copy: std::sync::Weak<M>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            let Some(held) = copy.upgrade() else { return };
            tokio::select! {
                result = mirror(&*store, &prefix, &*held) => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %prefix, "mirror relists");
                    }
                }
                _ = stop.wait_for(|s| *s) => return,
            }
            drop(held);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// Lists `prefix` of `store` into `copy` a page at a time (after [`Mirror::reset`]),
/// then applies its watch from the revision read before the listing, until the watch
/// breaks (a compaction, a lost connection): the caller then calls it again.
pub async fn mirror(store: &dyn Store, prefix: &str, copy: &dyn Mirror) -> Result<(), StoreError> {
    // Anything may have changed while the watch was broken: start over.
    copy.reset();
    let from = store.revision().await?;
    let mut events = store.watch(prefix, from).await?;
    let mut after: Option<String> = None;
    loop {
        let page = store.page(prefix, after.as_deref(), PAGE).await?;
        after = page.kvs.last().map(|kv| kv.key.clone());
        for kv in page.kvs {
            copy.apply(kv.key.clone(), kv.mod_revision, Some(kv));
        }
        if !page.more {
            copy.seen(page.revision.max(from));
            break;
        }
    }
    while let Some(event) = events.next().await {
        let event = event?;
        let revision = event.revision();
        match event {
            WatchEvent::Put(kv) => copy.apply(kv.key.clone(), revision, Some(kv)),
            WatchEvent::Delete { key, .. } => copy.apply(key, revision, None),
        }
        copy.seen(revision);
    }
    Err(StoreError::Backend("the watch ended".into()))
}

impl Mirror for WatchCache {
    fn reset(&self) {
        *self.copy.write().expect("cache lock") = Copy::default();
        self.seen.send_replace(0);
    }
    fn apply(&self, key: String, revision: Revision, value: Option<KeyValue>) {
        apply(
            &mut self.copy.write().expect("cache lock"),
            key,
            revision,
            value,
        );
    }
    fn seen(&self, revision: Revision) {
        self.seen.send_if_modified(|seen| {
            let newer = revision > *seen;
            if newer {
                *seen = revision;
            }
            newer
        });
    }
}

/// A store that remembers the newest revision at which its own transactions wrote a
/// key under `prefix`: the revision a reader of a [`WatchCache`] of that prefix waits
/// for to read its own writes. Writes elsewhere (an agent's heartbeat, a log stream)
/// are not counted: the copy never sees their revisions, and a reader waiting for one
/// would wait out [`CATCH_UP`] and read the store instead.
pub struct WriteTracking {
    inner: Arc<dyn Store>,
    prefix: String,
    last: AtomicU64,
}

impl WriteTracking {
    pub fn new(inner: Arc<dyn Store>, prefix: &str) -> WriteTracking {
        WriteTracking {
            inner,
            prefix: prefix.to_string(),
            last: AtomicU64::new(0),
        }
    }

    /// The newest revision a write through this store under its prefix committed at.
    pub fn last_write(&self) -> Revision {
        self.last.load(Ordering::Acquire)
    }
}

crate::wrapping_store!(WriteTracking, |self, txn| {
    let tracked = txn
        .ops
        .iter()
        .any(|op| op.key().starts_with(self.prefix.as_str()));
    let outcome = self.inner.txn(txn).await?;
    if let (true, crate::TxnOutcome::Committed { revision }) = (tracked, &outcome) {
        self.last.fetch_max(*revision, Ordering::AcqRel);
    }
    Ok(outcome)
});

/// Records `value` (a put, or `None` for a delete) at `revision` unless the copy holds
/// something newer for the key.
fn apply(copy: &mut Copy, key: String, revision: Revision, value: Option<KeyValue>) {
    match copy.kvs.get(&key) {
        Some((held, _)) if *held >= revision => {}
        _ => {
            copy.kvs.insert(key, (revision, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use crate::{Op, Txn, TxnOutcome};

    async fn put(store: &dyn Store, key: &str, value: &str) -> Revision {
        match store
            .txn(Txn::new().then(Op::put(key, value.to_string())))
            .await
            .unwrap()
        {
            TxnOutcome::Committed { revision } => revision,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_follow_writes_and_never_miss_a_key_the_store_has() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        for i in 0..2500 {
            put(&*store, &format!("/t/{i:05}"), "old").await;
        }
        let (_stop, stopped) = watch::channel(false);
        let cache = WatchCache::start(store.clone(), "/t/", stopped);
        let keys: Vec<String> = ["/t/00001", "/t/02499", "/t/none"]
            .map(String::from)
            .to_vec();
        let got = cache.get_many(&keys, 1).await.unwrap();
        assert_eq!(
            got.iter().map(Option::is_some).collect::<Vec<_>>(),
            [true, true, false]
        );

        // What this reader just wrote is what it reads.
        let written = put(&*store, "/t/00001", "new").await;
        let got = cache.get_many(&keys[..1], written).await.unwrap();
        assert_eq!(&got[0].as_ref().unwrap().value[..], b"new");
        assert!(cache.revision() >= written);
        let listed = cache.list("/t/0000", written).await.unwrap();
        assert_eq!(
            listed.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
            (0..10).map(|i| format!("/t/{i:05}")).collect::<Vec<_>>(),
            "a prefix's keys, sorted"
        );
        assert_eq!(&listed[1].value[..], b"new");

        // A key the copy has not seen yet is read from the store.
        let fresh = ["/t/fresh".to_string()];
        put(&*store, "/t/fresh", "v").await;
        assert!(cache.get_many(&fresh, 1).await.unwrap()[0].is_some());

        // Deletes come through, and an older put cannot undo them.
        let deleted = match store
            .txn(Txn::new().then(Op::delete("/t/02499")))
            .await
            .unwrap()
        {
            TxnOutcome::Committed { revision } => revision,
            other => panic!("{other:?}"),
        };
        let got = cache.get_many(&keys[1..2], deleted).await.unwrap();
        assert!(got[0].is_none());
        let mut copy = Copy::default();
        apply(&mut copy, "k".into(), 5, None);
        apply(
            &mut copy,
            "k".into(),
            4,
            Some(got.first().cloned().flatten().unwrap_or_else(|| KeyValue {
                key: "k".into(),
                value: Default::default(),
                create_revision: 4,
                mod_revision: 4,
            })),
        );
        assert!(matches!(copy.kvs.get("k"), Some((5, None))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_waits_only_for_its_own_writes_under_the_copied_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let writes = Arc::new(WriteTracking::new(inner, "/t/"));
        let (_stop, stopped) = watch::channel(false);
        let cache = WatchCache::start(writes.clone(), "/t/", stopped);
        let own = put(&*writes, "/t/a", "v").await;
        assert_eq!(writes.last_write(), own);
        // A write elsewhere (a heartbeat) is not one a reader of the copy waits for:
        // the copy never sees its revision.
        let elsewhere = put(&*writes, "/agents/h", "beat").await;
        assert!(elsewhere > own);
        assert_eq!(writes.last_write(), own);
        let started = tokio::time::Instant::now();
        let got = cache
            .get_many(&["/t/a".to_string()], writes.last_write())
            .await
            .unwrap();
        assert!(got[0].is_some());
        assert!(
            started.elapsed() < CATCH_UP / 2,
            "the read waited {:?}",
            started.elapsed()
        );
        // A transaction that writes under the prefix counts, whatever else it writes.
        let both = match writes
            .txn(
                Txn::new()
                    .then(Op::put("/agents/h", "beat".to_string()))
                    .then(Op::put("/t/b", "v".to_string())),
            )
            .await
            .unwrap()
        {
            TxnOutcome::Committed { revision } => revision,
            other => panic!("{other:?}"),
        };
        assert_eq!(writes.last_write(), both);
    }
}
