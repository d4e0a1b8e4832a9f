//! Leader election on etcd with a lease, as etcd's own election recipe does it: a
//! replica grants itself a lease of [`ElectionOptions::ttl`], and leads when it creates
//! the leader key bound to that lease (compare: the key is absent). It keeps the lease
//! alive every third of the TTL. The key disappears with the lease when the leader
//! dies, is cut off or resigns; the others watch the key and campaign again when it is
//! gone.
//!
//! A leader that cannot renew stops on its own before its lease can have expired at
//! etcd: it counts its term over once `ttl / 2` has passed since its last successful
//! renewal was sent, while etcd keeps the lease for at least `ttl` after receiving it.
//! Its writes are fenced besides ([`crate::leader::FencedStore`]), so even a leader
//! paused past that moment cannot write once a successor holds the key.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::wire::{self, B64, I64};
use super::EtcdStore;
use crate::leader::{Elector, Leadership, Term};
use crate::{Revision, Store, StoreError, WatchEvent};

/// How an election runs.
#[derive(Debug, Clone)]
pub struct ElectionOptions {
    /// The leader key (under the store's namespace).
    pub key: String,
    /// This replica's name, written as the key's value.
    pub candidate: String,
    /// The lease's time to live.
    pub ttl: Duration,
}

/// Campaigns for the leader key of an etcd store.
pub struct EtcdElector {
    store: EtcdStore,
    options: ElectionOptions,
}

impl EtcdElector {
    pub fn new(store: EtcdStore, options: ElectionOptions) -> EtcdElector {
        EtcdElector { store, options }
    }

    async fn grant(&self) -> Result<i64, StoreError> {
        let seconds = self.options.ttl.as_secs().max(1) as i64;
        let answer: wire::LeaseGrantResponse = self
            .store
            .client
            .call(
                "/v3/lease/grant",
                &wire::LeaseGrantRequest { ttl: I64(seconds) },
                true,
            )
            .await
            .map_err(super::backend)?;
        Ok(answer.id.0)
    }

    /// Tries to create the leader key on `lease`; the revision that did, if it did.
    async fn try_lead(&self, lease: i64) -> Result<Option<Revision>, StoreError> {
        let key = self.store.full(&self.options.key);
        let request = wire::TxnRequest {
            compare: vec![wire::Compare {
                key: B64(key.clone()),
                target: "MOD",
                result: "EQUAL",
                mod_revision: I64(0),
            }],
            success: vec![wire::RequestOp::RequestPut(wire::PutRequest {
                key: B64(key),
                value: B64(self.options.candidate.as_bytes().to_vec()),
                lease: Some(I64(lease)),
            })],
            failure: vec![],
        };
        let answer: wire::TxnResponse = self
            .store
            .client
            .call("/v3/kv/txn", &request, true)
            .await
            .map_err(super::backend)?;
        Ok(answer
            .succeeded
            .then_some(answer.header.revision.0 as Revision))
    }

    /// Waits until the leader key is gone (or was never there after `seen`).
    async fn await_vacancy(&self) -> Result<(), StoreError> {
        let now = self.store.revision().await?;
        if self.store.get(&self.options.key).await?.is_none() {
            return Ok(());
        }
        let mut watch = self.store.watch(&self.options.key, now).await?;
        while let Some(event) = watch.next().await {
            if let WatchEvent::Delete { key, .. } = event? {
                if key == self.options.key {
                    return Ok(());
                }
            }
        }
        Err(StoreError::Backend("the leader key's watch ended".into()))
    }
}

/// One renewal; whether the lease is still alive.
async fn keep_alive(store: &EtcdStore, lease: i64) -> Result<bool, StoreError> {
    let answer: wire::LeaseKeepAliveMessage = store
        .client
        .call(
            "/v3/lease/keepalive",
            &wire::LeaseIdRequest { id: I64(lease) },
            false,
        )
        .await
        .map_err(super::backend)?;
    Ok(answer.result.is_some_and(|r| r.ttl.0 > 0))
}

async fn revoke(store: &EtcdStore, lease: i64) {
    let _: Result<serde_json::Value, _> = store
        .client
        .call(
            "/v3/lease/revoke",
            &wire::LeaseIdRequest { id: I64(lease) },
            true,
        )
        .await;
}

#[async_trait]
impl Elector for EtcdElector {
    async fn campaign(&self) -> Result<Leadership, StoreError> {
        loop {
            let lease = self.grant().await?;
            let won = match self.try_lead(lease).await {
                Ok(won) => won,
                Err(e) => {
                    revoke(&self.store, lease).await;
                    return Err(e);
                }
            };
            let Some(revision) = won else {
                revoke(&self.store, lease).await;
                self.await_vacancy().await?;
                continue;
            };
            let (lost_tx, lost) = watch::channel(false);
            let (stop_tx, mut stop) = watch::channel(false);
            let store = self.store.clone();
            let ttl = self.options.ttl;
            tokio::spawn(async move {
                let mut last_sent = Instant::now();
                loop {
                    let deadline = last_sent + ttl / 2;
                    tokio::select! {
                        _ = tokio::time::sleep(ttl / 3) => {}
                        _ = stop.changed() => {
                            revoke(&store, lease).await;
                            let _ = lost_tx.send(true);
                            return;
                        }
                    }
                    let sent = Instant::now();
                    let renewed = tokio::time::timeout(
                        deadline.saturating_duration_since(sent),
                        keep_alive(&store, lease),
                    )
                    .await;
                    match renewed {
                        Ok(Ok(true)) => last_sent = sent,
                        // The lease is gone at etcd: the term is over.
                        Ok(Ok(false)) => break,
                        // Unreachable for now: keep trying until the deadline.
                        Ok(Err(_)) if Instant::now() < deadline => {}
                        _ => break,
                    }
                }
                tracing::warn!("lost the leader lease; controllers stop on this replica");
                let _ = lost_tx.send(true);
            });
            let resign: Box<dyn FnOnce() + Send> = Box::new(move || {
                let _ = stop_tx.send(true);
            });
            return Ok(Leadership::new(
                Term {
                    fence: Some((self.options.key.clone(), revision)),
                },
                lost,
                Some(resign),
            ));
        }
    }
}
