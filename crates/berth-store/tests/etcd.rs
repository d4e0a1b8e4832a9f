//! The etcd backend against a real three-member etcd cluster (three `etcd` processes on
//! loopback, started and stopped by the test): the same conformance suite as the
//! embedded backend, each property in a namespace of its own, and what a replica sees
//! when a member dies.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use berth_store::conformance::{self, Harness};
use berth_store::etcd::{EtcdOptions, EtcdStore, MAX_TXN_OPS};
use berth_store::{Op, Revision, Store, StoreError, Txn, TxnOutcome};
use berth_testkit::EtcdCluster;
use futures::StreamExt;

/// Fresh stores: namespaces of one cluster.
struct Etcd {
    store: EtcdStore,
    next: AtomicUsize,
}

#[async_trait]
impl Harness for Etcd {
    type Store = EtcdStore;

    async fn fresh(&self) -> EtcdStore {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.store.with_namespace(&format!("/conformance-{n}/"))
    }

    async fn compact(&self, store: &EtcdStore, through: Revision) {
        store.compact(through).await.expect("compact");
    }
}

async fn connect(cluster: &EtcdCluster) -> EtcdStore {
    let mut options = EtcdOptions::parse(&cluster.url()).unwrap();
    // These tests check what the backend does, not how fast a three-member cluster on a
    // busy 2-core CI machine fsyncs: the suite runs them beside every other test, and a
    // write there once took longer than the 5 s default.
    options.request_timeout = std::time::Duration::from_secs(20);
    EtcdStore::connect(options).await.expect("connect to etcd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_conformance_suite_passes_on_a_three_member_cluster() {
    let cluster = EtcdCluster::start(3).await;
    let harness = Etcd {
        store: connect(&cluster).await,
        next: AtomicUsize::new(0),
    };
    conformance::run_all(&harness).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_refused_whole_and_a_lost_member_is_survived() {
    let mut cluster = EtcdCluster::start(3).await;
    let store = connect(&cluster).await.with_namespace("/limits/");

    let too_many = (0..=MAX_TXN_OPS).fold(Txn::new(), |t, i| t.then(Op::put(format!("k{i}"), "v")));
    let e = store.txn(too_many).await.unwrap_err();
    assert!(e.to_string().contains("etcd's limit of 128"), "{e}");
    let too_big = Txn::new().then(Op::put("big", vec![b'x'; 2 * 1024 * 1024]));
    let e = store.txn(too_big).await.unwrap_err();
    assert!(e.to_string().contains("request limit"), "{e}");
    assert!(
        store.page("", None, 0).await.unwrap().kvs.is_empty(),
        "nothing was written"
    );

    // A watch survives the loss of the member it is connected to (the first one: calls
    // start there), and the store keeps answering from the others.
    let before = store.revision().await.unwrap();
    let mut watch = store.watch("w/", before).await.unwrap();
    let put = |key: &'static str| {
        let store = store.clone();
        async move {
            match store.txn(Txn::new().then(Op::put(key, "v"))).await.unwrap() {
                TxnOutcome::Committed { revision } => revision,
                other => panic!("{other:?}"),
            }
        }
    };
    let first = put("w/1").await;
    cluster.kill(0);
    let second = put("w/2").await;
    async fn next(watch: &mut berth_store::WatchStream) -> berth_store::WatchEvent {
        tokio::time::timeout(std::time::Duration::from_secs(30), watch.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("no error")
    }
    assert_eq!(next(&mut watch).await.revision(), first);
    assert_eq!(
        next(&mut watch).await.revision(),
        second,
        "no gap across the member's loss"
    );
    cluster.restart(0).await;
    assert_eq!(
        store.get("w/2").await.unwrap().unwrap().mod_revision,
        second
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_a_clear_error() {
    let options = EtcdOptions::parse("etcd://127.0.0.1:1").unwrap();
    match EtcdStore::connect(options).await {
        Err(StoreError::Backend(message)) => {
            assert!(
                message.contains("no etcd member could be reached"),
                "{message}"
            )
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_a_deposed_one_cannot_write() {
    use berth_store::etcd::election::{ElectionOptions, EtcdElector};
    use berth_store::leader::{Elector, FencedStore};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    let cluster = EtcdCluster::start(3).await;
    let store = connect(&cluster).await.with_namespace("/election/");
    let elector = |name: &str| {
        EtcdElector::new(
            store.clone(),
            ElectionOptions {
                key: "/leader".into(),
                candidate: name.into(),
                ttl: Duration::from_secs(2),
            },
        )
    };
    let (a, b) = (elector("a"), elector("b"));
    let first = a.campaign().await.unwrap();
    assert_eq!(
        &store.get("/leader").await.unwrap().unwrap().value[..],
        b"a"
    );
    let fenced_a = FencedStore::new(Arc::new(store.clone()), first.term.clone());
    assert!(fenced_a
        .txn(Txn::new().then(Op::put("/work", "by a")))
        .await
        .unwrap()
        .is_committed());

    let second = tokio::spawn(async move { b.campaign().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "b waits while a leads");
    let resigned = Instant::now();
    first.resign();
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("b leads once a resigns")
        .unwrap();
    assert!(
        resigned.elapsed() < Duration::from_secs(3),
        "took {:?}",
        resigned.elapsed()
    );
    assert_eq!(
        &store.get("/leader").await.unwrap().unwrap().value[..],
        b"b"
    );
    let e = fenced_a
        .txn(Txn::new().then(Op::put("/work", "by a, late")))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotLeader), "{e}");
    assert_eq!(
        &store.get("/work").await.unwrap().unwrap().value[..],
        b"by a"
    );
    assert!(!*second.lost.borrow(), "b's term goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_and_nothing_without_one() {
    let cluster = EtcdCluster::start_tls(1).await;
    let tls = cluster.tls().unwrap();
    let options = EtcdOptions::parse(&cluster.url()).unwrap();
    let store = EtcdStore::connect(
        options
            .clone()
            .with_tls(tls.ca_pem.clone(), Some(tls.client_identity_pem.clone())),
    )
    .await
    .expect("connect over TLS with a client certificate");
    assert!(store
        .txn(Txn::new().then(Op::put("/tls", "v")))
        .await
        .unwrap()
        .is_committed());
    assert_eq!(&store.get("/tls").await.unwrap().unwrap().value[..], b"v");
    // The member requires a client certificate; plain HTTP is not spoken at all.
    let no_identity = EtcdStore::connect(options.clone().with_tls(tls.ca_pem.clone(), None)).await;
    assert!(
        no_identity.is_err(),
        "a client without a certificate is refused"
    );
    assert!(
        EtcdStore::connect(options).await.is_err(),
        "plain HTTP is refused"
    );
}
