//! Embedded-backend behaviour beyond the conformance suite: reopening, history
//! retention, lagging watchers, closing, and the file lock.

use berth_store::embedded::{EmbeddedOptions, EmbeddedStore};
use berth_store::{Op, Revision, Store, StoreError, Txn, TxnOutcome, WatchEvent, WatchStream};
use futures::StreamExt;

async fn put(store: &EmbeddedStore, key: &str, value: &str) -> Revision {
    match store
        .txn(Txn::new().then(Op::put(key, value.to_owned())))
        .await
        .unwrap()
    {
        TxnOutcome::Committed { revision } => revision,
        conflict => panic!("unexpected {conflict:?}"),
    }
}

async fn revisions(watch: &mut WatchStream, count: usize) -> Vec<Revision> {
    let mut seen = Vec::new();
    while seen.len() < count {
        seen.push(
            watch
                .next()
                .await
                .expect("stream ended")
                .expect("watch failed")
                .revision(),
        );
    }
    seen
}

#[test]
fn store_is_cheap_to_share() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<EmbeddedStore>();
}

#[tokio::test]
async fn reopen_keeps_data_revision_and_history() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for i in 0..10 {
            put(&store, &format!("k/{i}"), &i.to_string()).await;
        }
        store.txn(Txn::new().then(Op::delete("k/0"))).await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.revision().await.unwrap(), 11);
    assert_eq!(store.get("k/0").await.unwrap(), None);
    let kv = store.get("k/9").await.unwrap().unwrap();
    assert_eq!(
        (&kv.value[..], kv.create_revision, kv.mod_revision),
        (&b"9"[..], 10, 10)
    );
    let mut watch = store.watch("k/", 3).await.unwrap();
    assert_eq!(revisions(&mut watch, 8).await, (4..=11).collect::<Vec<_>>());
    assert_eq!(
        put(&store, "k/new", "v").await,
        12,
        "the counter continues after reopen"
    );
    assert_eq!(
        revisions(&mut watch, 1).await,
        [12],
        "and the reopened store publishes live"
    );
}

#[tokio::test]
async fn history_is_trimmed_to_the_retention_and_stays_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        history_revisions: 5,
        ..EmbeddedOptions::default()
    };
    {
        let store = EmbeddedStore::open_with(dir.path(), options.clone()).unwrap();
        for i in 0..20 {
            put(&store, "k", &i.to_string()).await;
        }
    }
    let store = EmbeddedStore::open_with(dir.path(), options).unwrap();
    match store.watch("", 14).await {
        Err(StoreError::Compacted {
            requested: 14,
            oldest: 16,
        }) => {}
        other => panic!(
            "expected Compacted with oldest 16, got {:?}",
            other.map(|_| "a stream")
        ),
    }
    let mut watch = store.watch("", 15).await.unwrap();
    assert_eq!(
        revisions(&mut watch, 5).await,
        (16..=20).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn compacting_everything_still_allows_watching_from_now() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    put(&store, "k", "1").await;
    let now = put(&store, "k", "2").await;
    store.compact(u64::MAX).await.unwrap();
    assert!(matches!(
        store.watch("", now - 1).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut watch = store.watch("", now).await.unwrap();
    let live = put(&store, "k", "3").await;
    assert_eq!(revisions(&mut watch, 1).await, [live]);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_gets_lagged_then_the_stream_ends() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        watch_buffer: 2,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open_with(dir.path(), options).unwrap();
    let mut watch = store.watch("", 0).await.unwrap();
    for i in 0..5 {
        put(&store, "k", &i.to_string()).await;
    }
    assert!(matches!(watch.next().await, Some(Err(StoreError::Lagged))));
    assert!(watch.next().await.is_none(), "the stream ends after Lagged");
}

#[tokio::test]
async fn dropping_the_store_ends_watches_and_releases_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let clone = store.clone();
    let mut watch = store.watch("", 0).await.unwrap();
    drop(store);
    put(&clone, "k", "v").await;
    let event = watch.next().await.unwrap().unwrap();
    assert!(
        matches!(event, WatchEvent::Put(ref kv) if kv.key == "k"),
        "a clone keeps it open"
    );
    drop(clone);
    assert!(matches!(watch.next().await, Some(Err(StoreError::Closed))));
    assert!(watch.next().await.is_none());
    drop(watch);
    EmbeddedStore::open(dir.path()).expect("the file is free again once every handle is gone");
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = EmbeddedStore::open(dir.path()).unwrap();
    let error = EmbeddedStore::open(dir.path()).expect_err("second open must fail");
    let message = error.to_string();
    assert!(
        message.contains("berth.redb") && message.contains("already open"),
        "{message}"
    );
}
