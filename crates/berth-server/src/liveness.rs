//! Agents' heartbeats, kept apart from their container instance records: one small key
//! per instance (`/agents/ACCOUNT/REGION/heartbeats/ID`, the time it was last heard
//! from), written blind. A heartbeat then neither rewrites the instance record (whose
//! revision launches compare: every heartbeat would make a concurrent launch onto that
//! instance read again) nor invalidates its decoded copy.
//!
//! Every replica mirrors the heartbeat keys in memory ([`berth_store::cache::mirror`]),
//! so whoever asks whether an agent is connected (placement, the lost-hosts sweep,
//! DescribeContainerInstances) reads memory, and a heartbeat taken by any replica counts
//! everywhere.
//!
//! A heartbeat is answered at once and written with the others taken in the same
//! [`FLUSH_EVERY`] (one transaction per [`FLUSH_CHUNK`] instances): thousands of agents
//! cost a few commits a second instead of one each. What a crash loses is under a
//! second of heartbeats, a small part of the disconnect timeout
//! ([`berth_api::agent::HEARTBEAT_INTERVAL`] × [`berth_api::agent::MISSED_HEARTBEATS`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_model::container_instance::InstanceRecord;
use berth_store::cache::{keep_mirrored, Mirror};
use berth_store::{KeyValue, Op, Revision, Store, Txn};
use tokio::sync::watch;

use crate::keys::Scope;
use crate::records;

/// How often the heartbeats taken since the last write are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The most heartbeats one transaction writes (etcd's default `--max-txn-ops`).
pub const FLUSH_CHUNK: usize = berth_store::etcd::MAX_TXN_OPS;

/// Every instance's last heartbeat, mirrored from the store, and the heartbeats this
/// replica took that are not written yet.
pub struct Liveness {
    store: Arc<dyn Store>,
    prefix: String,
    heard: RwLock<HashMap<String, (Revision, Timestamp)>>,
    unwritten: Mutex<HashMap<String, Timestamp>>,
}

/// Where the heartbeats of `scope` live.
pub fn prefix(scope: &Scope) -> String {
    format!("/agents/{}/{}/heartbeats/", scope.account, scope.region)
}

impl Liveness {
    /// Starts mirroring the heartbeats of `scope` until `stop` turns true.
    pub fn start(
        store: Arc<dyn Store>,
        scope: &Scope,
        stop: watch::Receiver<bool>,
    ) -> Arc<Liveness> {
        let liveness = Arc::new(Liveness {
            store: store.clone(),
            prefix: prefix(scope),
            heard: RwLock::new(HashMap::new()),
            unwritten: Mutex::new(HashMap::new()),
        });
        keep_mirrored(
            store,
            liveness.prefix.clone(),
            Arc::downgrade(&liveness),
            stop.clone(),
        );
        tokio::spawn(keep_flushing(Arc::downgrade(&liveness), stop));
        liveness
    }

    /// When `instance`'s agent was last heard from (its registration, or a heartbeat).
    pub fn heard(&self, instance: &InstanceRecord) -> Option<Timestamp> {
        let mirrored = self
            .heard
            .read()
            .expect("liveness lock")
            .get(&instance.id)
            .map(|(_, t)| *t);
        let unwritten = self
            .unwritten
            .lock()
            .expect("liveness lock")
            .get(&instance.id)
            .copied();
        instance.heard(match (mirrored, unwritten) {
            (Some(m), Some(u)) => Some(later(m, u)),
            (m, u) => m.or(u),
        })
    }

    /// Takes a heartbeat of instance `id` at `now`; it is written within [`FLUSH_EVERY`].
    pub fn beat(&self, id: &str, now: Timestamp) {
        let mut unwritten = self.unwritten.lock().expect("liveness lock");
        let at = unwritten.entry(id.to_string()).or_insert(now);
        *at = later(*at, now);
    }

    /// Writes the heartbeats taken since the last write. On failure they are kept (a
    /// newer heartbeat of the same instance replaces its older one) for the next try.
    pub async fn flush(&self) -> Result<(), ApiError> {
        let taken: Vec<(String, Timestamp)> =
            std::mem::take(&mut *self.unwritten.lock().expect("liveness lock"))
                .into_iter()
                .collect();
        // Every chunk at once: they share the store's next commits instead of each
        // waiting its turn behind whatever else is being written.
        let commits = taken.chunks(FLUSH_CHUNK).map(|chunk| {
            let txn = chunk.iter().fold(Txn::new(), |txn, (id, at)| {
                let value = serde_json::to_vec(&at.as_secs_f64()).expect("a number serializes");
                txn.then(Op::put(format!("{}{id}", self.prefix), value))
            });
            records::commit(&*self.store, txn)
        });
        let results = futures::future::join_all(commits).await;
        let mut failure = None;
        for (chunk, result) in taken.chunks(FLUSH_CHUNK).zip(results) {
            if let Err(e) = result {
                let mut unwritten = self.unwritten.lock().expect("liveness lock");
                for (id, at) in chunk {
                    let held = unwritten.entry(id.clone()).or_insert(*at);
                    *held = later(*held, *at);
                }
                failure = Some(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Forgets instance `id`'s heartbeats (it was deregistered): drops the unwritten one
    /// and returns the operation that deletes the stored one.
    pub fn forget_op(&self, id: &str) -> Op {
        self.unwritten.lock().expect("liveness lock").remove(id);
        Op::delete(format!("{}{id}", self.prefix))
    }

    /// Instance `id`'s last heartbeat, read from the store itself.
    pub async fn read(&self, id: &str) -> Result<Option<Timestamp>, ApiError> {
        let kv = self
            .store
            .get(&format!("{}{id}", self.prefix))
            .await
            .map_err(records::store_error)?;
        Ok(kv
            .and_then(|kv| serde_json::from_slice::<f64>(&kv.value).ok())
            .and_then(Timestamp::try_from_secs_f64))
    }

    /// Every instance's last heartbeat read from the store itself, by instance id: for
    /// judging silence, which must never be judged from a mirror that is behind.
    pub async fn read_all(&self) -> Result<HashMap<String, Timestamp>, ApiError> {
        let snap = self
            .store
            .snapshot(std::slice::from_ref(&self.prefix))
            .await
            .map_err(records::store_error)?;
        Ok(snap
            .kvs
            .into_iter()
            .filter_map(|kv| {
                let id = kv.key.strip_prefix(&self.prefix)?.to_string();
                let at = serde_json::from_slice::<f64>(&kv.value).ok()?;
                Some((id, Timestamp::try_from_secs_f64(at)?))
            })
            .collect())
    }
}

/// The later of two times.
fn later(a: Timestamp, b: Timestamp) -> Timestamp {
    if b > a {
        b
    } else {
        a
    }
}

/// Writes the heartbeats taken every [`FLUSH_EVERY`] until `stop`, then once more.
async fn keep_flushing(liveness: std::sync::Weak<Liveness>, mut stop: watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let Some(liveness) = liveness.upgrade() else {
            return;
        };
        if let Err(e) = liveness.flush().await {
            tracing::warn!(error = %e, "cannot write heartbeats; will retry");
        }
        if stopping {
            return;
        }
    }
}

impl Mirror for Liveness {
    fn reset(&self) {
        // Heartbeats only move forward: what is held stays right until the listing
        // brings newer ones.
    }

    fn apply(&self, key: String, revision: Revision, value: Option<KeyValue>) {
        let Some(id) = key.strip_prefix(&self.prefix) else {
            return;
        };
        let mut heard = self.heard.write().expect("liveness lock");
        if heard.get(id).is_some_and(|(held, _)| *held >= revision) {
            return;
        }
        let at = value
            .and_then(|kv| serde_json::from_slice::<f64>(&kv.value).ok())
            .and_then(Timestamp::try_from_secs_f64);
        match at {
            Some(at) => {
                heard.insert(id.to_string(), (revision, at));
            }
            None => {
                heard.remove(id);
            }
        }
    }

    fn seen(&self, _revision: Revision) {
        // Nobody waits on this mirror: silence is judged from the store (`read_all`).
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::embedded::EmbeddedStore;

    fn at(secs: u64) -> Timestamp {
        Timestamp::try_from_secs_f64(secs as f64).unwrap()
    }

    #[tokio::test]
    async fn heartbeats_are_written_together_in_chunks_and_the_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let (_stop, stopped) = watch::channel(false);
        let liveness = Liveness::start(store.clone(), &Scope::new("1", "r"), stopped);
        let ids: Vec<String> = (0..FLUSH_CHUNK * 2 + 5).map(|i| format!("i{i}")).collect();
        for id in &ids {
            liveness.beat(id, at(100));
        }
        liveness.beat("i0", at(105));
        liveness.beat("i0", at(103));
        liveness.beat("gone", at(100));
        let _ = liveness.forget_op("gone");
        assert!(
            liveness.read_all().await.unwrap().is_empty(),
            "taken, not yet written"
        );
        liveness.flush().await.unwrap();
        let stored = liveness.read_all().await.unwrap();
        assert_eq!(
            stored.len(),
            ids.len(),
            "every one, over several transactions"
        );
        assert_eq!(stored["i0"], at(105), "the newest heartbeat");
        assert_eq!(stored["i1"], at(100));
        assert!(
            !stored.contains_key("gone"),
            "a forgotten instance stays gone"
        );
    }

    #[tokio::test]
    async fn heartbeats_are_written_within_the_flush_interval_on_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let (_stop, stopped) = watch::channel(false);
        let liveness = Liveness::start(store, &Scope::new("1", "r"), stopped);
        liveness.beat("a", at(7));
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY * 10;
        while liveness.read("a").await.unwrap().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "never written");
            tokio::time::sleep(FLUSH_EVERY / 5).await;
        }
        assert_eq!(liveness.read("a").await.unwrap(), Some(at(7)));
    }
}
