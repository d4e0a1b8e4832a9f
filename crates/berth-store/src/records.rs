//! The typed records layer every crate uses over a [`Store`]: records of a type under
//! keys the caller lays out, encoded by their [`Stored`] implementation and read with the
//! revision that last changed them, so a write can compare-and-swap on it.
//!
//! [`update`] is the one optimistic loop: read, decide, commit only if what was read is
//! unchanged, and on a conflict wait a jittered, growing moment and go again, at most
//! [`MAX_ATTEMPTS`] times. Handlers and controllers say what one attempt does; none
//! writes its own loop.
//!
//! ```text
//!   attempt() ──► Step::Done(answer) ─────────────────────────────► answer
//!       │
//!       └──► Step::Commit(txn, answer) ──► store.txn ──► Committed ─► answer
//!                                              │
//!                                           Conflict ──► backoff ──► attempt() again
//! ```

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::{KeyValue, Op, Revision, Store, StoreError, Txn, TxnOutcome};

/// How a record type is laid out in the store.
pub trait Stored: Sized {
    /// The bytes stored for this record.
    fn encode(&self) -> Vec<u8>;
    /// The record back from its stored bytes; the error says what was wrong.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// Implements [`Stored`] as plain JSON of each record type named (they must be serde
/// `Serialize` and `Deserialize`).
#[macro_export]
macro_rules! stored_as_json {
    ($($record:ty),* $(,)?) => {$(
        impl $crate::records::Stored for $record {
            fn encode(&self) -> Vec<u8> {
                serde_json::to_vec(self).expect("records serialize")
            }
            fn decode(bytes: &[u8]) -> Result<Self, String> {
                serde_json::from_slice(bytes).map_err(|e| e.to_string())
            }
        }
    )*};
}

/// A record read from the store, with the revision that last changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    pub key: String,
    pub value: T,
    pub revision: Revision,
}

/// Why reading or updating records failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The store itself failed; the operation may be retried.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// A stored record does not decode as its type.
    #[error("stored record {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
    /// What an optimistic update read kept changing under it, [`MAX_ATTEMPTS`] times.
    #[error("{what} was changed concurrently too many times; retry the request")]
    Contention { what: String },
}

/// Decodes one stored key-value.
pub fn decode<T: Stored>(kv: KeyValue) -> Result<Record<T>, RecordError> {
    let value = T::decode(&kv.value).map_err(|reason| RecordError::Corrupt {
        key: kv.key.clone(),
        reason,
    })?;
    Ok(Record {
        key: kv.key,
        value,
        revision: kv.mod_revision,
    })
}

/// Reads and decodes one record.
pub async fn get<T: Stored>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<Record<T>>, RecordError> {
    store.get(key).await?.map(decode).transpose()
}

/// Reads and decodes several records at one revision, in the order asked (absent:
/// `None`).
pub async fn get_many<T: Stored>(
    store: &dyn Store,
    keys: &[String],
) -> Result<Vec<Option<Record<T>>>, RecordError> {
    store
        .get_many(keys)
        .await?
        .into_iter()
        .map(|kv| kv.map(decode).transpose())
        .collect()
}

/// Reads and decodes every record under a prefix, in key order.
pub async fn list<T: Stored>(
    store: &dyn Store,
    prefix: &str,
) -> Result<Vec<Record<T>>, RecordError> {
    let page = store.page(prefix, None, 0).await?;
    page.kvs.into_iter().map(decode).collect()
}

/// A put of a record, for a transaction.
pub fn put<T: Stored>(key: impl Into<String>, value: &T) -> Op {
    Op::put(key, value.encode())
}

/// What one attempt of an [`update`] decided.
#[derive(Debug)]
pub enum Step<T> {
    /// Nothing to write: answer with this.
    Done(T),
    /// Commit this transaction; if it holds, answer with this, else attempt again.
    Commit(Txn, T),
}

/// How many times [`update`] attempts before it gives up with
/// [`RecordError::Contention`].
pub const MAX_ATTEMPTS: u32 = 64;

/// The first wait after a conflict; each further conflict doubles the ceiling.
const FIRST_BACKOFF: Duration = Duration::from_micros(500);
/// The longest a wait after a conflict may be.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// The wait before attempt `n + 1` after `n` conflicts: uniformly random up to a ceiling
/// that doubles from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`] ("full jitter"), so writers that
/// collided once spread out instead of colliding again in step.
pub fn backoff(conflicts: u32) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << conflicts.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(rand::thread_rng().gen::<f64>())
}

/// The optimistic update loop: runs `attempt`, commits the transaction it returns, and
/// on a conflict backs off and runs it again (it must read afresh each time). Returns
/// the answer of the attempt that committed (or had nothing to write), with the
/// revision its commit made (`None` for [`Step::Done`], or a transaction without
/// writes). `what` names the contended thing in the [`RecordError::Contention`] error.
///
/// `attempt` is called afresh for each try; its future may borrow what the caller holds
/// (write `|| async move { ... }` over references).
pub async fn update_at<T, E, F, Fut>(
    store: &dyn Store,
    what: &str,
    mut attempt: F,
) -> Result<(T, Option<Revision>), E>
where
    E: From<RecordError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step<T>, E>>,
{
    for conflicts in 0..MAX_ATTEMPTS {
        if conflicts > 0 {
            tokio::time::sleep(backoff(conflicts)).await;
        }
        match attempt().await? {
            Step::Done(answer) => return Ok((answer, None)),
            Step::Commit(txn, answer) => {
                let writes = !txn.ops.is_empty();
                match store.txn(txn).await.map_err(RecordError::from)? {
                    TxnOutcome::Committed { revision } => {
                        return Ok((answer, writes.then_some(revision)))
                    }
                    TxnOutcome::Conflict { .. } => continue,
                }
            }
        }
    }
    Err(RecordError::Contention {
        what: what.to_string(),
    }
    .into())
}

/// [`update_at`] without the revision.
pub async fn update<T, E, F, Fut>(store: &dyn Store, what: &str, attempt: F) -> Result<T, E>
where
    E: From<RecordError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step<T>, E>>,
{
    update_at(store, what, attempt)
        .await
        .map(|(answer, _)| answer)
}

/// Read-modify-write of the one record at `key`: `change` edits a copy, which is
/// committed (if it differs) only if the record is unchanged since it was read; else it
/// is read and changed again. Returns the record as committed. `missing` is the error
/// when there is no record at `key`; an error from `change` is returned as is.
pub async fn modify<T, E>(
    store: &dyn Store,
    key: &str,
    what: &str,
    missing: impl Fn() -> E,
    change: impl FnMut(&mut T) -> Result<(), E>,
) -> Result<T, E>
where
    T: Stored + Clone + PartialEq,
    E: From<RecordError>,
{
    // The attempt's future borrows `change`; a lock (never held across an await)
    // lets each attempt call it mutably.
    let (change, missing) = (&std::sync::Mutex::new(change), &missing);
    update(store, what, || async move {
        let r = get::<T>(store, key).await?.ok_or_else(missing)?;
        let mut value = r.value.clone();
        (change.lock().expect("change lock"))(&mut value)?;
        if value == r.value {
            return Ok(Step::Done(value));
        }
        let txn = Txn::new()
            .when(crate::Compare::unchanged(key, r.revision))
            .then(put(key, &value));
        Ok(Step::Commit(txn, value))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::embedded::EmbeddedStore;
    use crate::Compare;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Counter {
        n: u32,
    }
    stored_as_json!(Counter);

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("s")).unwrap();
        (dir, Arc::new(store))
    }

    async fn increment(store: &dyn Store, attempts: &AtomicU32) -> Result<u32, RecordError> {
        update(store, "the counter", || async move {
            attempts.fetch_add(1, Ordering::Relaxed);
            let current = get::<Counter>(store, "/c").await?;
            let next = Counter {
                n: current.as_ref().map_or(0, |c| c.value.n) + 1,
            };
            let txn = Txn::new()
                .when(Compare::unchanged("/c", current.map_or(0, |c| c.revision)))
                .then(put("/c", &next));
            Ok(Step::Commit(txn, next.n))
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_updates_all_land_once_each() {
        let (_dir, store) = store();
        let attempts = Arc::new(AtomicU32::new(0));
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let (store, attempts) = (store.clone(), attempts.clone());
                tokio::spawn(async move {
                    for _ in 0..10 {
                        increment(&*store, &attempts).await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let c = get::<Counter>(&*store, "/c").await.unwrap().unwrap();
        assert_eq!(c.value.n, 160, "every increment landed exactly once");
        assert!(attempts.load(Ordering::Relaxed) >= 160);
    }

    #[tokio::test]
    async fn a_record_that_always_changes_gives_up_with_contention_after_max_attempts() {
        let (_dir, store) = store();
        let tries = AtomicU32::new(0);
        let tries = &tries;
        let r: Result<(), RecordError> = update(&*store, "the thing", || async move {
            tries.fetch_add(1, Ordering::Relaxed);
            // Always compare against a revision the key never has.
            let txn = Txn::new()
                .when(Compare::unchanged("/x", 999))
                .then(Op::put("/x", "v"));
            Ok(Step::Commit(txn, ()))
        })
        .await;
        assert_eq!(tries.load(Ordering::Relaxed), MAX_ATTEMPTS);
        let e = r.unwrap_err();
        assert!(matches!(e, RecordError::Contention { .. }));
        assert_eq!(
            e.to_string(),
            "the thing was changed concurrently too many times; retry the request"
        );
    }

    #[tokio::test]
    async fn done_writes_nothing_and_commit_reports_its_revision() {
        let (_dir, store) = store();
        let (answer, revision) =
            update_at::<_, RecordError, _, _>(&*store, "x", || async { Ok(Step::Done(7)) })
                .await
                .unwrap();
        assert_eq!((answer, revision), (7, None));
        assert_eq!(store.revision().await.unwrap(), 0);
        let (_, revision) = update_at::<_, RecordError, _, _>(&*store, "x", || async {
            Ok(Step::Commit(
                Txn::new().then(put("/k", &Counter { n: 1 })),
                (),
            ))
        })
        .await
        .unwrap();
        assert_eq!(revision, Some(store.revision().await.unwrap()));
    }

    #[tokio::test]
    async fn an_attempts_own_error_stops_the_loop_at_once() {
        let (_dir, store) = store();
        let tries = AtomicU32::new(0);
        let tries = &tries;
        let r: Result<(), RecordError> = update(&*store, "x", || async move {
            tries.fetch_add(1, Ordering::Relaxed);
            Err(RecordError::Corrupt {
                key: "/k".into(),
                reason: "bad".into(),
            })
        })
        .await;
        assert!(matches!(r, Err(RecordError::Corrupt { .. })));
        assert_eq!(tries.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn corrupt_records_name_their_key() {
        let (_dir, store) = store();
        store
            .txn(Txn::new().then(Op::put("/bad", "not json")))
            .await
            .unwrap();
        let e = get::<Counter>(&*store, "/bad").await.unwrap_err();
        assert!(
            e.to_string()
                .starts_with("stored record /bad cannot be read"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn modify_edits_one_record_and_writes_only_a_change() {
        let (_dir, store) = store();
        let missing = || RecordError::Contention {
            what: "none".into(),
        };
        let e = modify::<Counter, _>(&*store, "/m", "m", missing, |_| Ok(()))
            .await
            .unwrap_err();
        assert!(matches!(e, RecordError::Contention { ref what } if what == "none"));
        store
            .txn(Txn::new().then(put("/m", &Counter { n: 1 })))
            .await
            .unwrap();
        let before = store.revision().await.unwrap();
        let same = modify::<Counter, RecordError>(&*store, "/m", "m", missing, |_| Ok(()))
            .await
            .unwrap();
        assert_eq!(same.n, 1);
        assert_eq!(
            store.revision().await.unwrap(),
            before,
            "no change, no write"
        );
        let mut calls = 0;
        let changed = modify::<Counter, RecordError>(&*store, "/m", "m", missing, |c| {
            calls += 1;
            c.n += 41;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!((changed.n, calls), (42, 1));
        assert_eq!(
            get::<Counter>(&*store, "/m")
                .await
                .unwrap()
                .unwrap()
                .value
                .n,
            42
        );
    }

    #[test]
    fn backoff_grows_to_a_ceiling_and_stays_under_it() {
        for conflicts in 1..40 {
            let ceiling = FIRST_BACKOFF
                .saturating_mul(1 << (conflicts - 1).min(16))
                .min(MAX_BACKOFF);
            for _ in 0..50 {
                assert!(backoff(conflicts) <= ceiling);
            }
        }
        assert!((0..200).map(|_| backoff(30)).any(|d| d > MAX_BACKOFF / 2));
    }
}
