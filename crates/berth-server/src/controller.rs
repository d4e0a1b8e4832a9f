//! The controller runtime: every background loop of the control plane is a
//! [`Reconciler`] run here, on kube-rs's contract. A reconciler names the objects it
//! keeps right and brings one of them to what it should be ([`Reconciler::reconcile`]),
//! answering with when to look at it again ([`Action`]). The runtime decides when:
//!
//! ```text
//!   list ──► queue (by key, earliest due first, no duplicates) ──► reconcile ──► Action
//!    ▲          ▲                         ▲                                        │
//!    │          │ store watch: a change    └──── Requeue(after) ◄──────────────────┘
//!  resync       │ to a watched prefix,
//!  (and after   │ mapped to the objects
//!   a broken    │ it affects
//!   watch)      │
//! ```
//!
//! Woken by the store's watch, not by in-process signals, so a change made through any
//! replica wakes the controller wherever it runs; level-triggered, so a missed event, a
//! failed reconcile or a restart only delays the work until the next resync.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::error::ApiError;
use berth_store::{Store, WatchEvent};
use futures::stream::{select_all, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

/// What to do with an object after reconciling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Look again after this long, whether or not anything changes.
    Requeue(Duration),
    /// Nothing to do until a watched change concerns it (or the next resync).
    AwaitChange,
}

/// One kind of background work, over objects named by [`Reconciler::Key`].
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// What names one object (a service, a log group, "the whole registry", ...).
    type Key: Clone + Ord + Debug + Send + Sync + 'static;

    /// The name used in logs.
    fn name(&self) -> &'static str;
    /// Store key prefixes whose changes may concern some object.
    fn watched(&self) -> Vec<String>;
    /// The objects a watched change concerns (none, to ignore it).
    async fn affected(&self, event: &WatchEvent) -> Vec<Self::Key>;
    /// Every object, for the first pass and each resync.
    async fn list(&self) -> Result<Vec<Self::Key>, ApiError>;
    /// Brings one object to what it should be.
    async fn reconcile(&self, key: &Self::Key) -> Result<Action, ApiError>;
    /// What to do after a failed reconcile; by default, try again after a few seconds.
    fn error_policy(&self, key: &Self::Key, error: &ApiError) -> Action {
        tracing::warn!(controller = self.name(), object = ?key, error = %error, "reconcile failed; will retry");
        Action::Requeue(Duration::from_secs(5))
    }
    /// How often every object is listed and reconciled again.
    fn resync(&self) -> Duration {
        Duration::from_secs(60)
    }
}

/// A periodic pass over everything, run as a reconciler of one object: every
/// [`Sweep::interval`], and soon after a watched change that [`Sweep::wakes`] says
/// matters (see [`Swept`]).
#[async_trait]
pub trait Sweep: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Time between passes.
    fn interval(&self) -> Duration;
    /// Prefixes whose changes may call for a pass sooner.
    fn watched(&self) -> Vec<String> {
        vec![]
    }
    /// Whether this change calls for a pass now.
    fn wakes(&self, _event: &WatchEvent) -> bool {
        false
    }
    /// One pass.
    async fn pass(&self) -> Result<(), ApiError>;
}

/// A [`Sweep`] as a [`Reconciler`] of the single object `()`.
pub struct Swept<S>(pub S);

#[async_trait]
impl<S: Sweep> Reconciler for Swept<S> {
    type Key = ();
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn watched(&self) -> Vec<String> {
        self.0.watched()
    }
    async fn affected(&self, event: &WatchEvent) -> Vec<()> {
        if self.0.wakes(event) {
            vec![()]
        } else {
            vec![]
        }
    }
    async fn list(&self) -> Result<Vec<()>, ApiError> {
        Ok(vec![()])
    }
    async fn reconcile(&self, _: &()) -> Result<Action, ApiError> {
        self.0.pass().await?;
        Ok(Action::Requeue(self.0.interval()))
    }
    fn error_policy(&self, _: &(), error: &ApiError) -> Action {
        tracing::warn!(controller = self.name(), error = %error, "pass failed; will retry");
        Action::Requeue(self.0.interval().min(Duration::from_secs(30)))
    }
    fn resync(&self) -> Duration {
        // The pass's own requeue keeps the rhythm; a resync would only add passes.
        Duration::from_secs(24 * 3600)
    }
}

/// Objects waiting for their turn: each at most once, at its earliest due time.
struct Queue<K> {
    due: BTreeMap<K, Instant>,
}

impl<K: Ord + Clone> Queue<K> {
    fn new() -> Self {
        Queue {
            due: BTreeMap::new(),
        }
    }

    fn push(&mut self, key: K, at: Instant) {
        self.due
            .entry(key)
            .and_modify(|d| *d = (*d).min(at))
            .or_insert(at);
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// Every key due by `now`, removed from the queue.
    fn take_due(&mut self, now: Instant) -> BTreeSet<K> {
        let ready: BTreeSet<K> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &ready {
            self.due.remove(k);
        }
        ready
    }
}

/// Runs `reconciler` over `store` until `shutdown` turns true.
pub async fn run<R: Reconciler>(
    reconciler: Arc<R>,
    store: Arc<dyn Store>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut queue = Queue::new();
    let mut backoff = Duration::from_millis(100);
    'relist: loop {
        if *shutdown.borrow() {
            return;
        }
        // Watch from the revision read before listing: whatever changes after the list
        // is seen by the watch (perhaps twice, which a level-triggered reconcile
        // tolerates).
        let opened = async {
            let revision = store
                .revision()
                .await
                .map_err(crate::records::store_error)?;
            let keys = reconciler.list().await?;
            let mut streams = Vec::new();
            for prefix in reconciler.watched() {
                streams.push(
                    store
                        .watch(&prefix, revision)
                        .await
                        .map_err(crate::records::store_error)?,
                );
            }
            // A reconciler that watches nothing still waits on the (never-ending) stream.
            streams.push(Box::pin(futures::stream::pending()) as berth_store::WatchStream);
            Ok::<_, ApiError>((keys, select_all(streams)))
        }
        .await;
        let (keys, mut events) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(controller = reconciler.name(), error = %e, "cannot list and watch; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue 'relist;
            }
        };
        backoff = Duration::from_millis(100);
        let now = Instant::now();
        for key in keys {
            queue.push(key, now);
        }
        let resync_at = now + reconciler.resync();
        loop {
            let wake_at = queue.next_due().unwrap_or(resync_at).min(resync_at);
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        let now = Instant::now();
                        for key in reconciler.affected(&event).await {
                            queue.push(key, now);
                        }
                        continue;
                    }
                    // History compacted, the watcher lagged, or the store closed:
                    // list again and watch afresh.
                    Some(Err(e)) => {
                        tracing::debug!(controller = reconciler.name(), error = %e, "watch broken; relisting");
                        continue 'relist;
                    }
                    None => continue 'relist,
                },
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                    continue;
                }
            }
            let now = Instant::now();
            if now >= resync_at {
                continue 'relist;
            }
            for key in queue.take_due(now) {
                if *shutdown.borrow() {
                    return;
                }
                let action = match reconciler.reconcile(&key).await {
                    Ok(action) => action,
                    Err(e) => reconciler.error_policy(&key, &e),
                };
                if let Action::Requeue(after) = action {
                    queue.push(key, Instant::now() + after);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use berth_store::embedded::EmbeddedStore;
    use berth_store::{Op, Txn};

    use super::*;

    const REQUEUE: Duration = Duration::from_millis(200);
    const RETRY: Duration = Duration::from_millis(300);

    /// Counts reconciles per key of `/obj/KEY`; requeues keys that start with `again`.
    struct Counting {
        seen: Mutex<Vec<String>>,
        store: Arc<dyn Store>,
    }

    #[async_trait]
    impl Reconciler for Counting {
        type Key = String;
        fn name(&self) -> &'static str {
            "counting"
        }
        fn watched(&self) -> Vec<String> {
            vec!["/obj/".into()]
        }
        async fn affected(&self, event: &WatchEvent) -> Vec<String> {
            vec![event.key().trim_start_matches("/obj/").to_string()]
        }
        async fn list(&self) -> Result<Vec<String>, ApiError> {
            let page = self.store.page("/obj/", None, 0).await.unwrap();
            Ok(page
                .kvs
                .iter()
                .map(|kv| kv.key.trim_start_matches("/obj/").to_string())
                .collect())
        }
        async fn reconcile(&self, key: &String) -> Result<Action, ApiError> {
            self.seen.lock().unwrap().push(key.clone());
            if key == "fails" {
                return Err(ApiError::Server("no".into()));
            }
            Ok(if key.starts_with("again") {
                Action::Requeue(REQUEUE)
            } else {
                Action::AwaitChange
            })
        }
        fn error_policy(&self, _: &String, _: &ApiError) -> Action {
            Action::Requeue(RETRY)
        }
        fn resync(&self) -> Duration {
            Duration::from_secs(3600)
        }
    }

    fn count(c: &Counting, key: &str) -> usize {
        c.seen.lock().unwrap().iter().filter(|k| *k == key).count()
    }

    async fn put(store: &dyn Store, key: &str) {
        store
            .txn(Txn::new().then(Op::put(format!("/obj/{key}"), "v")))
            .await
            .unwrap();
    }

    /// Waits (in real time: the store's writer is a thread of its own, which paused
    /// time cannot follow) until `key` has been reconciled `n` times.
    async fn reconciled(c: &Counting, key: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while count(c, key) < n {
            assert!(
                Instant::now() < deadline,
                "{key} reconciled {} times, not {n}",
                count(c, key)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn lists_then_wakes_on_changes_requeues_and_applies_the_error_policy() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("s")).unwrap());
        put(&*store, "existing").await;
        let c = Arc::new(Counting {
            seen: Mutex::new(vec![]),
            store: store.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(c.clone(), store.clone(), stopped));
        reconciled(&c, "existing", 1).await;

        put(&*store, "new").await;
        reconciled(&c, "new", 1).await;

        let started = Instant::now();
        put(&*store, "again").await;
        put(&*store, "fails").await;
        reconciled(&c, "again", 2).await;
        assert!(started.elapsed() >= REQUEUE, "requeued, not rerun at once");
        reconciled(&c, "fails", 2).await;
        assert!(started.elapsed() >= RETRY, "the error policy's wait");
        reconciled(&c, "again", 3).await;
        assert_eq!(
            count(&c, "existing"),
            1,
            "awaiting a change means no polling"
        );
        assert_eq!(count(&c, "new"), 1);

        stop.send(true).unwrap();
        task.await.unwrap();
    }

    #[test]
    fn the_queue_keeps_one_entry_per_key_at_its_earliest_time() {
        let now = Instant::now();
        let mut q = Queue::new();
        q.push("a", now + Duration::from_secs(5));
        q.push("a", now + Duration::from_secs(1));
        q.push("a", now + Duration::from_secs(9));
        q.push("b", now + Duration::from_secs(3));
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(1)));
        assert_eq!(
            q.take_due(now + Duration::from_secs(2)),
            BTreeSet::from(["a"])
        );
        assert_eq!(q.take_due(now + Duration::from_secs(2)), BTreeSet::new());
        assert_eq!(
            q.take_due(now + Duration::from_secs(3)),
            BTreeSet::from(["b"])
        );
        assert_eq!(q.next_due(), None);
    }
}
