//! Runs the backend-independent conformance suite against the embedded store.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use berth_store::conformance::{self, Harness};
use berth_store::embedded::EmbeddedStore;
use berth_store::Revision;

/// Fresh embedded stores in subdirectories of one temporary directory.
struct Embedded {
    root: tempfile::TempDir,
    next: AtomicUsize,
}

#[async_trait]
impl Harness for Embedded {
    type Store = EmbeddedStore;

    async fn fresh(&self) -> EmbeddedStore {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        EmbeddedStore::open(&self.root.path().join(n.to_string())).expect("open store")
    }

    async fn compact(&self, store: &EmbeddedStore, through: Revision) {
        store.compact(through).await.expect("compact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_passes_the_conformance_suite() {
    let harness = Embedded {
        root: tempfile::tempdir().unwrap(),
        next: AtomicUsize::new(0),
    };
    conformance::run_all(&harness).await;
}
