//! The backend-independent conformance suite: every property a [`Store`] must have, as
//! plain async functions that panic with a clear message when a property fails.
//!
//! A backend implements [`Harness`] (fresh stores, plus compaction) and calls [`run_all`]
//! from a `#[tokio::test(flavor = "multi_thread")]`; see `tests/conformance.rs`. Each
//! property is also public, to run one alone while debugging.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::{Compare, Op, Revision, Store, StoreError, Txn, TxnOutcome, WatchEvent, WatchStream};

/// How the suite gets stores from the backend under test.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The backend under test.
    type Store: Store;
    /// A new, empty store, independent of every other one. Its revision may be above 0:
    /// revisions are store-wide, and a backend may give each fresh store a namespace of
    /// one shared cluster (etcd's revisions also start at 1).
    async fn fresh(&self) -> Self::Store;
    /// Discards history at and below `through`, as etcd's `Compact` does: afterwards a
    /// watch after a revision below `through - 1` fails with `Compacted`, and a watch
    /// after `through` still replays everything since.
    async fn compact(&self, store: &Self::Store, through: Revision);
}

/// A store shared between the tasks of one property.
pub type SharedStore = Arc<dyn Store>;

/// How long a property waits for an expected watch event before failing.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs every property, each on a fresh store. Needs a multi-threaded tokio runtime.
pub async fn run_all<H: Harness>(harness: &H) {
    macro_rules! run {
        ($($property:ident),* $(,)?) => {$(
            eprintln!("conformance: {}", stringify!($property));
            $property(Arc::new(harness.fresh().await)).await;
        )*};
    }
    run!(
        put_get,
        revisions_increase_by_one,
        create_and_mod_revisions,
        delete,
        compare_and_swap,
        absent_compare,
        multi_op_atomicity,
        page,
        snapshot,
        snapshot_is_one_revision,
        get_many_keeps_request_order,
        watch_from_zero_replays_everything,
        watch_from_current_sees_only_live_events,
        watch_filters_by_prefix,
        watch_seam_has_no_gap_or_duplicate,
        concurrent_creates_have_one_winner,
        concurrent_increments_lose_no_update,
    );
    eprintln!("conformance: watch_after_compaction_fails");
    watch_after_compaction_fails(harness).await;
}

/// A put is read back with its value and revisions.
pub async fn put_get(store: SharedStore) {
    assert_eq!(
        store.get("k").await.unwrap(),
        None,
        "a fresh store has no keys"
    );
    let revision = put(&*store, "k", "v1").await;
    let kv = store
        .get("k")
        .await
        .unwrap()
        .expect("a put key is readable");
    assert_eq!((kv.key.as_str(), &kv.value[..]), ("k", &b"v1"[..]));
    assert_eq!((kv.create_revision, kv.mod_revision), (revision, revision));
}

/// Each committed transaction that writes takes exactly the next revision; conflicts and
/// transactions that write nothing take none.
pub async fn revisions_increase_by_one(store: SharedStore) {
    let start = store.revision().await.unwrap();
    for i in 1..=5 {
        assert_eq!(
            put(&*store, "k", "v").await,
            start + i,
            "write {i} takes the next revision"
        );
    }
    let now = start + 5;
    assert_eq!(store.revision().await.unwrap(), now);
    let conflict = store
        .txn(
            Txn::new()
                .when(Compare::absent("k"))
                .then(Op::put("k", "x")),
        )
        .await;
    assert!(
        !conflict.unwrap().is_committed(),
        "create of an existing key conflicts"
    );
    let empty = store
        .txn(Txn::new().when(Compare::unchanged("k", now)))
        .await
        .unwrap();
    assert_eq!(
        empty,
        TxnOutcome::Committed { revision: now },
        "a txn without ops reads"
    );
    assert_eq!(
        commit(&*store, Txn::new()).await,
        now,
        "an empty txn is at the current revision"
    );
    assert_eq!(
        store.revision().await.unwrap(),
        now,
        "conflicts and empty txns take no revision"
    );
}

/// `create_revision` stays put across updates; `mod_revision` follows every write; a key
/// deleted and put again is created anew.
pub async fn create_and_mod_revisions(store: SharedStore) {
    let created = put(&*store, "k", "1").await;
    let updated = put(&*store, "k", "2").await;
    let kv = store.get("k").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision), (created, updated));
    commit(&*store, Txn::new().then(Op::delete("k"))).await;
    let recreated = put(&*store, "k", "3").await;
    let kv = store.get("k").await.unwrap().unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision),
        (recreated, recreated)
    );
}

/// A delete removes the key and records one event; deleting an absent key records
/// nothing and takes no revision.
pub async fn delete(store: SharedStore) {
    let created = put(&*store, "k", "v").await;
    let deleted = commit(&*store, Txn::new().then(Op::delete("k"))).await;
    assert_eq!(deleted, created + 1);
    assert_eq!(store.get("k").await.unwrap(), None, "a deleted key is gone");
    let again = commit(&*store, Txn::new().then(Op::delete("k"))).await;
    assert_eq!(again, deleted, "deleting an absent key takes no revision");
    let next = put(&*store, "other", "v").await;
    assert_eq!(next, deleted + 1);

    let mut watch = store.watch("", created).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(
        event,
        WatchEvent::Delete {
            key: "k".into(),
            mod_revision: deleted
        }
    );
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.key(), event.revision()),
        ("other", next),
        "no event for the absent delete"
    );
}

/// A compare on the read `mod_revision` commits while the key is unchanged and conflicts,
/// naming the key and writing nothing, once it changed.
pub async fn compare_and_swap(store: SharedStore) {
    let read = put(&*store, "k", "v1").await;
    let swap = |value: &'static str| {
        Txn::new()
            .when(Compare::unchanged("k", read))
            .then(Op::put("k", value))
    };
    let swapped = commit(&*store, swap("v2")).await;
    let outcome = store.txn(swap("v3")).await.unwrap();
    assert_eq!(outcome, TxnOutcome::Conflict { key: "k".into() });
    let kv = store.get("k").await.unwrap().unwrap();
    assert_eq!(
        (&kv.value[..], kv.mod_revision),
        (&b"v2"[..], swapped),
        "a conflict writes nothing"
    );
    assert_eq!(store.revision().await.unwrap(), swapped);
}

/// `Compare::absent` (mod revision 0) holds only while the key does not exist.
pub async fn absent_compare(store: SharedStore) {
    let create = |value: &'static str| {
        Txn::new()
            .when(Compare::absent("k"))
            .then(Op::put("k", value))
    };
    commit(&*store, create("first")).await;
    assert_eq!(
        store.txn(create("second")).await.unwrap(),
        TxnOutcome::Conflict { key: "k".into() }
    );
    let unchanged_zero = Txn::new()
        .when(Compare::unchanged("k", 0))
        .then(Op::put("k", "third"));
    assert!(!store.txn(unchanged_zero).await.unwrap().is_committed());
    assert_eq!(&store.get("k").await.unwrap().unwrap().value[..], b"first");
}

/// All ops of a transaction apply at one revision, or none do; the first failing compare
/// is named.
pub async fn multi_op_atomicity(store: SharedStore) {
    let before = put(&*store, "x", "old").await;
    let failing = Txn::new()
        .when(Compare::absent("a"))
        .when(Compare::unchanged("x", before + 7))
        .when(Compare::unchanged("y", 3))
        .then(Op::put("a", "1"))
        .then(Op::delete("x"));
    assert_eq!(
        store.txn(failing).await.unwrap(),
        TxnOutcome::Conflict { key: "x".into() }
    );
    assert_eq!(
        store.get("a").await.unwrap(),
        None,
        "a conflicted txn writes nothing"
    );
    assert!(
        store.get("x").await.unwrap().is_some(),
        "a conflicted txn deletes nothing"
    );
    assert_eq!(store.revision().await.unwrap(), before);

    let passing = Txn::new()
        .when(Compare::absent("a"))
        .when(Compare::unchanged("x", before))
        .then(Op::put("a", "1"))
        .then(Op::put("b", "2"))
        .then(Op::delete("x"));
    let revision = commit(&*store, passing).await;
    assert_eq!(revision, before + 1, "one txn, one revision");
    let mut watch = store.watch("", before).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut watch).await;
        assert_eq!(
            event.revision(),
            revision,
            "every op of a txn has its revision"
        );
        seen.push(event.key().to_owned());
    }
    assert_eq!(seen, ["a", "b", "x"], "events come in op order");
    assert_eq!(store.get("x").await.unwrap(), None);
}

/// Pages are sorted, resume strictly after `start_after`, honour `limit` and `more`, and
/// never leak keys from a sibling prefix (`a/` vs `ab/`).
pub async fn page(store: SharedStore) {
    for key in [
        "a/3", "a/1", "ab/1", "a/5", "b/1", "a/2", "a", "a/4", "ab/2",
    ] {
        put(&*store, key, key).await;
    }
    let revision = store.revision().await.unwrap();
    let page = |start_after: Option<&'static str>, limit| {
        let store = store.clone();
        async move {
            let page = store.page("a/", start_after, limit).await.unwrap();
            assert_eq!(
                page.revision, revision,
                "a page carries the revision it was read at"
            );
            let keys: Vec<String> = page.kvs.iter().map(|kv| kv.key.clone()).collect();
            (keys, page.more)
        }
    };
    assert_eq!(
        page(None, 0).await,
        (keys(["a/1", "a/2", "a/3", "a/4", "a/5"]), false)
    );
    assert_eq!(page(None, 2).await, (keys(["a/1", "a/2"]), true));
    assert_eq!(page(Some("a/2"), 2).await, (keys(["a/3", "a/4"]), true));
    assert_eq!(
        page(Some("a/3"), 2).await,
        (keys(["a/4", "a/5"]), false),
        "no more after a/5"
    );
    assert_eq!(page(Some("a/5"), 2).await, (keys([]), false));
    assert_eq!(
        page(Some("a"), 1).await,
        (keys(["a/1"]), true),
        "start_after before the prefix"
    );
    assert!(
        !page(None, 5).await.1,
        "limit equal to the count has no more"
    );
    let ab = store.page("ab/", None, 0).await.unwrap();
    assert_eq!(
        ab.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
        ["ab/1", "ab/2"]
    );
    assert_eq!(&ab.kvs[0].value[..], b"ab/1");
    assert!(store.page("c/", None, 0).await.unwrap().kvs.is_empty());
}

/// A snapshot covers exactly its prefixes, sorted, without duplicates for nested prefixes.
pub async fn snapshot(store: SharedStore) {
    for key in ["t/2", "s/1", "x/1", "t/1", "s/2", "ta"] {
        put(&*store, key, "v").await;
    }
    let snapshot = store.snapshot(&keys(["t/", "s/", "t/1"])).await.unwrap();
    let found: Vec<&str> = snapshot.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        found,
        ["s/1", "s/2", "t/1", "t/2"],
        "sorted, only the prefixes, no duplicates"
    );
    assert_eq!(snapshot.revision, store.revision().await.unwrap());
    assert!(store.snapshot(&[]).await.unwrap().kvs.is_empty());
}

/// A snapshot reads all its prefixes at one revision even while writes land.
pub async fn snapshot_is_one_revision(store: SharedStore) {
    const WRITES: u64 = 300;
    let base = store.revision().await.unwrap();
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            for i in 0..WRITES {
                let value = Bytes::from(i.to_string());
                let both = Txn::new()
                    .then(Op::put("s/x", value.clone()))
                    .then(Op::put("t/x", value));
                commit(&*store, both).await;
            }
        }
    });
    loop {
        let snapshot = store.snapshot(&keys(["s/", "t/"])).await.unwrap();
        if let [s, t] = &snapshot.kvs[..] {
            assert_eq!(s.value, t.value, "both prefixes read at one revision");
            assert_eq!(
                s.mod_revision, snapshot.revision,
                "the snapshot's revision is its data's"
            );
            if snapshot.revision == base + WRITES {
                break;
            }
        } else {
            assert!(snapshot.kvs.is_empty(), "both keys are written together");
        }
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
}

/// `get_many` answers in request order, `None` for absent keys.
pub async fn get_many_keeps_request_order(store: SharedStore) {
    put(&*store, "a", "1").await;
    put(&*store, "c", "3").await;
    let got = store.get_many(&keys(["c", "b", "a", "c"])).await.unwrap();
    let values: Vec<Option<&[u8]>> = got
        .iter()
        .map(|kv| kv.as_ref().map(|kv| &kv.value[..]))
        .collect();
    assert_eq!(
        values,
        [Some(&b"3"[..]), None, Some(&b"1"[..]), Some(&b"3"[..])]
    );
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

/// A watch from 0 replays every event in order with full key-values, then goes live.
pub async fn watch_from_zero_replays_everything(store: SharedStore) {
    let first = put(&*store, "a", "1").await;
    put(&*store, "a", "2").await;
    commit(&*store, Txn::new().then(Op::delete("a"))).await;
    let last = put(&*store, "b", "3").await;
    let mut watch = store.watch("", 0).await.unwrap();
    let first_event = next_event(&mut watch).await;
    let WatchEvent::Put(kv) = first_event else {
        panic!("expected a put, got {first_event:?}")
    };
    assert_eq!(
        (kv.key.as_str(), &kv.value[..], kv.create_revision),
        ("a", &b"1"[..], first)
    );
    let mut revisions = vec![kv.mod_revision];
    for _ in 1..4 {
        revisions.push(next_event(&mut watch).await.revision());
    }
    assert_eq!(
        revisions,
        (first..=last).collect::<Vec<_>>(),
        "every revision, in order"
    );
    let live = put(&*store, "c", "4").await;
    assert_eq!(
        next_event(&mut watch).await.revision(),
        live,
        "then live events"
    );
}

/// A watch from the current revision sees only what is written afterwards.
pub async fn watch_from_current_sees_only_live_events(store: SharedStore) {
    put(&*store, "a", "old").await;
    let now = store.revision().await.unwrap();
    let mut watch = store.watch("", now).await.unwrap();
    let live = put(&*store, "a", "new").await;
    let event = next_event(&mut watch).await;
    assert_eq!(
        event.revision(),
        live,
        "the first event is the first write after subscribing"
    );
}

/// A watch sees only keys under its prefix, both replayed and live.
pub async fn watch_filters_by_prefix(store: SharedStore) {
    for key in ["a/1", "ab/1", "b/1"] {
        put(&*store, key, "v").await;
    }
    let mut watch = store.watch("a/", 0).await.unwrap();
    for key in ["ab/2", "a/2", "b/2", "a/3"] {
        put(&*store, key, "v").await;
    }
    for expected in ["a/1", "a/2", "a/3"] {
        assert_eq!(
            next_event(&mut watch).await.key(),
            expected,
            "only keys under a/"
        );
    }
}

/// Watches opened while a writer is busy replay and then go live with every revision
/// exactly once: no gap and no duplicate where history meets the live feed.
pub async fn watch_seam_has_no_gap_or_duplicate(store: SharedStore) {
    const WRITERS: u64 = 8;
    const WRITES: u64 = 2_000;
    const WATCHERS: u64 = 16;
    let base = store.revision().await.unwrap();
    let last = base + WRITES;
    // Several writers, so commits carry several revisions at once across the seam.
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..WRITES / WRITERS {
                    put(&*store, &format!("seam/{writer}/{i}"), "v").await;
                }
            })
        })
        .collect();
    let mut watchers = Vec::new();
    for w in 0..WATCHERS {
        // Subscribe at staggered points while the writer runs, some from a little back.
        while store.revision().await.unwrap() < base + w * WRITES / WATCHERS {
            tokio::task::yield_now().await;
        }
        let from = store
            .revision()
            .await
            .unwrap()
            .saturating_sub(w % 4 * 10)
            .max(base);
        let mut watch = store.watch("seam/", from).await.unwrap();
        watchers.push(tokio::spawn(async move {
            let mut expected = from + 1;
            while expected <= last {
                let revision = next_event(&mut watch).await.revision();
                assert_eq!(
                    revision, expected,
                    "watcher from {from}: gap or duplicate at the seam"
                );
                expected += 1;
            }
        }));
    }
    for task in writers.into_iter().chain(watchers) {
        task.await.unwrap();
    }
}

/// Many tasks racing to create one key: exactly one wins, the rest conflict on that key.
pub async fn concurrent_creates_have_one_winner(store: SharedStore) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let create = Txn::new()
                    .when(Compare::absent("lock"))
                    .then(Op::put("lock", i.to_string()));
                (i, store.txn(create).await.unwrap())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (i, TxnOutcome::Committed { .. }) => winners.push(i),
            (_, TxnOutcome::Conflict { key }) => assert_eq!(key, "lock"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins, got {winners:?}");
    let value = store.get("lock").await.unwrap().unwrap().value;
    assert_eq!(
        value,
        Bytes::from(winners[0].to_string()),
        "the winner's value is stored"
    );
}

/// 50 tasks each incrementing one counter 20 times with read-compare-retry end at exactly
/// 1,000: compare-and-swap loses no update.
pub async fn concurrent_increments_lose_no_update(store: SharedStore) {
    const TASKS: u64 = 50;
    const INCREMENTS: u64 = 20;
    let start = put(&*store, "counter", "0").await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    while !increment(&*store, "counter").await {}
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let kv = store.get("counter").await.unwrap().unwrap();
    assert_eq!(
        parse_counter(&kv.value),
        TASKS * INCREMENTS,
        "an increment was lost"
    );
    assert_eq!(
        kv.mod_revision,
        start + TASKS * INCREMENTS,
        "one revision per increment"
    );
}

/// A watch from before the compacted revision fails with `Compacted`; one after it works.
pub async fn watch_after_compaction_fails<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let base = store.revision().await.unwrap();
    for i in 0..10 {
        put(&store, &format!("k/{i}"), "v").await;
    }
    let last = store.revision().await.unwrap();
    harness.compact(&store, base + 5).await;
    for after in [0, base + 3] {
        match store.watch("", after).await {
            Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, after),
            Err(other) => {
                panic!("watch after {after} past compaction: expected Compacted, got {other}")
            }
            Ok(_) => panic!("watch after {after} past compaction succeeded; expected Compacted"),
        }
    }
    let mut watch = store.watch("", base + 5).await.unwrap();
    for expected in base + 6..=last {
        assert_eq!(next_event(&mut watch).await.revision(), expected);
    }
}

/// Commits `txn`, failing the property if it conflicts; returns its revision.
async fn commit(store: &dyn Store, txn: Txn) -> Revision {
    match store.txn(txn).await.expect("txn failed") {
        TxnOutcome::Committed { revision } => revision,
        TxnOutcome::Conflict { key } => panic!("unexpected conflict on {key}"),
    }
}

async fn put(store: &dyn Store, key: &str, value: &str) -> Revision {
    commit(store, Txn::new().then(Op::put(key, value.to_owned()))).await
}

/// One read-compare-write attempt; false on conflict.
async fn increment(store: &dyn Store, key: &str) -> bool {
    let kv = store.get(key).await.unwrap().expect("the counter exists");
    let next = (parse_counter(&kv.value) + 1).to_string();
    let txn = Txn::new()
        .when(Compare::unchanged(key, kv.mod_revision))
        .then(Op::put(key, next));
    store.txn(txn).await.unwrap().is_committed()
}

fn parse_counter(value: &[u8]) -> u64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("counter is a number")
}

/// The next event, failing the property on an error, end of stream or timeout.
async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(EVENT_TIMEOUT, watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(error))) => panic!("watch failed: {error}"),
        Ok(None) => panic!("watch ended early"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

fn keys<const N: usize>(keys: [&str; N]) -> Vec<String> {
    keys.iter().map(|key| key.to_string()).collect()
}
