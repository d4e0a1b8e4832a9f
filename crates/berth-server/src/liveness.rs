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

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_model::container_instance::InstanceRecord;
use berth_store::cache::{keep_mirrored, Mirror};
use berth_store::{KeyValue, Op, Revision, Store, Txn};
use tokio::sync::watch;

use crate::keys::Scope;
use crate::records;

/// Every instance's last heartbeat, mirrored from the store.
pub struct Liveness {
    store: Arc<dyn Store>,
    prefix: String,
    heard: RwLock<HashMap<String, (Revision, Timestamp)>>,
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
        });
        keep_mirrored(
            store,
            liveness.prefix.clone(),
            Arc::downgrade(&liveness),
            stop,
        );
        liveness
    }

    /// When `instance`'s agent was last heard from (its registration, or a heartbeat).
    pub fn heard(&self, instance: &InstanceRecord) -> Option<Timestamp> {
        let beat = self
            .heard
            .read()
            .expect("liveness lock")
            .get(&instance.id)
            .map(|(_, t)| *t);
        instance.heard(beat)
    }

    /// Records a heartbeat of instance `id` at `now`.
    pub async fn beat(&self, id: &str, now: Timestamp) -> Result<(), ApiError> {
        let value = serde_json::to_vec(&now.as_secs_f64()).expect("a number serializes");
        let txn = Txn::new().then(Op::put(format!("{}{id}", self.prefix), value));
        records::commit(&*self.store, txn).await.map(|_| ())
    }

    /// Forgets instance `id`'s heartbeats (it was deregistered).
    pub fn forget_op(&self, id: &str) -> Op {
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
