//! Leadership among replicas: controllers act on one replica at a time. An [`Elector`]
//! campaigns until this replica leads and hands back a [`Leadership`]: its term (the
//! leader key and the revision that created it) and a signal that turns true when the
//! term is over. Everything a leader writes goes through a [`FencedStore`], which adds
//! "the leader key is still the one of my term" to every transaction, so a deposed
//! leader (paused, cut off, slow to notice) cannot write after its successor starts.
//!
//! [`Solo`] is the elector of a store only one process can open (the embedded one): it
//! always leads and needs no fence.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::{Compare, Revision, Store, StoreError, TxnOutcome};

/// One term of leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The leader key and the revision that wrote it; `None` for a leader that needs no
    /// fence ([`Solo`]).
    pub fence: Option<(String, Revision)>,
}

/// Leadership held now.
pub struct Leadership {
    pub term: Term,
    /// Turns true when the term is over (the lease could not be kept, or it was given
    /// up).
    pub lost: watch::Receiver<bool>,
    /// Gives the term up (at shutdown), so a successor need not wait for it to expire.
    resign: Option<Box<dyn FnOnce() + Send>>,
}

impl Leadership {
    pub fn new(
        term: Term,
        lost: watch::Receiver<bool>,
        resign: Option<Box<dyn FnOnce() + Send>>,
    ) -> Leadership {
        Leadership { term, lost, resign }
    }

    /// Ends the term now.
    pub fn resign(mut self) {
        if let Some(resign) = self.resign.take() {
            resign();
        }
    }
}

/// Campaigns for leadership.
#[async_trait]
pub trait Elector: Send + Sync + 'static {
    /// Waits until this replica leads.
    async fn campaign(&self) -> Result<Leadership, StoreError>;
}

/// The elector of a store only this process uses: it always leads, for good.
pub struct Solo;

#[async_trait]
impl Elector for Solo {
    async fn campaign(&self) -> Result<Leadership, StoreError> {
        let (keep, lost) = watch::channel(false);
        // The sender lives as long as the leadership: dropping it would not end the term,
        // but nothing ever sends `true`.
        let resign: Box<dyn FnOnce() + Send> = Box::new(move || drop(keep));
        Ok(Leadership::new(Term { fence: None }, lost, Some(resign)))
    }
}

/// A store whose every writing transaction holds only while `term` is the current one.
pub struct FencedStore {
    inner: Arc<dyn Store>,
    term: Term,
}

impl FencedStore {
    pub fn new(inner: Arc<dyn Store>, term: Term) -> FencedStore {
        FencedStore { inner, term }
    }
}

crate::wrapping_store!(FencedStore, |self, txn| {
    let mut txn = txn;
    let Some((key, revision)) = &self.term.fence else {
        return self.inner.txn(txn).await;
    };
    if txn.ops.is_empty() {
        return self.inner.txn(txn).await;
    }
    txn.compares.insert(0, Compare::unchanged(key, *revision));
    match self.inner.txn(txn).await? {
        TxnOutcome::Conflict { key: failed } if failed == *key => Err(StoreError::NotLeader),
        outcome => Ok(outcome),
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use crate::{Op, Txn};

    #[tokio::test]
    async fn a_fenced_write_holds_only_while_the_term_is_current() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let TxnOutcome::Committed { revision } = store
            .txn(Txn::new().then(Op::put("/leader", "a")))
            .await
            .unwrap()
        else {
            panic!()
        };
        let fenced = FencedStore::new(
            store.clone(),
            Term {
                fence: Some(("/leader".into(), revision)),
            },
        );
        assert!(fenced
            .txn(Txn::new().then(Op::put("/x", "1")))
            .await
            .unwrap()
            .is_committed());
        // Another replica takes over.
        store
            .txn(Txn::new().then(Op::put("/leader", "b")))
            .await
            .unwrap();
        let e = fenced
            .txn(Txn::new().then(Op::put("/x", "2")))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotLeader), "{e}");
        assert_eq!(&store.get("/x").await.unwrap().unwrap().value[..], b"1");
        // Reads and writeless transactions are not fenced.
        assert!(fenced.get("/x").await.unwrap().is_some());
        assert!(fenced.txn(Txn::new()).await.unwrap().is_committed());
    }

    #[tokio::test]
    async fn solo_leads_at_once_and_for_good() {
        let leadership = Solo.campaign().await.unwrap();
        assert_eq!(leadership.term, Term { fence: None });
        assert!(!*leadership.lost.borrow());
    }
}
