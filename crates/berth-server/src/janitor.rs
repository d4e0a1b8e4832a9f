//! Background upkeep: STOPPED tasks stay describable for an hour, as in ECS, then are
//! purged; STS sessions and task role sessions are deleted a day after they expire
//! (until then a request signed with one is told its token expired, not that it is
//! unknown). A [`Sweep`] run by the controller runtime: each pass lists and acts, so a
//! missed pass loses nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::ecs::Timestamp;
use berth_api::error::ApiError;
use berth_model::task::TaskRecord;
use berth_store::{Compare, Op, Txn};

use crate::context::Core;
use crate::controller::Sweep;
use crate::records::{self, Record};

/// How long a STOPPED task stays describable.
pub const STOPPED_TASK_RETENTION_SECS: f64 = 3600.0;
/// How many tasks a pass reads at once.
const PAGE: usize = 1000;
/// How often the janitor looks.
pub const PASS_INTERVAL: Duration = Duration::from_secs(60);
/// How long an expired session is kept before it is deleted.
pub const EXPIRED_SESSION_RETENTION_SECS: f64 = 24.0 * 3600.0;

/// Whether a task is due to be purged.
pub fn is_expired(task: &TaskRecord, now: Timestamp) -> bool {
    task.last_status.is_stopped()
        && task
            .stopped_at
            .is_some_and(|t| now.as_secs_f64() - t.as_secs_f64() >= STOPPED_TASK_RETENTION_SECS)
}

/// The janitor as a [`Sweep`]: a pass every [`PASS_INTERVAL`].
pub struct Janitor(pub Arc<Core>);

#[async_trait]
impl Sweep for Janitor {
    fn name(&self) -> &'static str {
        "janitor"
    }
    fn interval(&self) -> Duration {
        PASS_INTERVAL
    }
    async fn pass(&self) -> Result<(), ApiError> {
        let now = self.0.clock.now();
        pass(&self.0, now).await?;
        purge_sessions(&self.0, now).await.map(|_| ())
    }
}

/// Deletes the sessions (STS's of the server's account, and task role sessions) that
/// expired more than [`EXPIRED_SESSION_RETENTION_SECS`] before `now`. Returns how many.
pub async fn purge_sessions(core: &Core, now: Timestamp) -> Result<usize, ApiError> {
    let cutoff = now.as_secs_f64() - EXPIRED_SESSION_RETENTION_SECS;
    let sts = crate::iam::store_keys::sessions(&core.account);
    let mut purged = 0;
    for (prefix, expires_at) in [
        (
            sts.as_str(),
            (|v: &[u8]| {
                serde_json::from_slice::<berth_model::iam::SessionRecord>(v)
                    .ok()
                    .map(|s| s.expires_at.as_secs_f64())
            }) as fn(&[u8]) -> Option<f64>,
        ),
        (crate::task_credentials::SESSIONS, |v: &[u8]| {
            serde_json::from_slice::<crate::task_credentials::Session>(v)
                .ok()
                .map(|s| s.expires)
        }),
    ] {
        let mut after: Option<String> = None;
        loop {
            let page = core
                .store
                .page(prefix, after.as_deref(), PAGE)
                .await
                .map_err(records::store_error)?;
            after = page.kvs.last().map(|kv| kv.key.clone());
            for kv in page.kvs {
                if expires_at(&kv.value).is_none_or(|at| at > cutoff) {
                    continue;
                }
                let txn = Txn::new()
                    .when(Compare::unchanged(&kv.key, kv.mod_revision))
                    .then(Op::delete(&kv.key));
                if records::commit(&*core.store, txn).await?.is_committed() {
                    purged += 1;
                }
            }
            if !page.more {
                break;
            }
        }
    }
    Ok(purged)
}

/// One pass as of `now`: purges every expired task. Returns how many it purged.
pub async fn pass(core: &Core, now: Timestamp) -> Result<usize, ApiError> {
    let store = &*core.store;
    let mut purged = 0;
    for prefix in records::scope_prefixes(store, "tasks").await? {
        // A page at a time: a scope can hold many thousands of tasks.
        let mut after: Option<String> = None;
        loop {
            let page = store
                .page(&prefix, after.as_deref(), PAGE)
                .await
                .map_err(records::store_error)?;
            after = page.kvs.last().map(|kv| kv.key.clone());
            for kv in page.kvs {
                let t: Record<TaskRecord> = records::decode(kv)?;
                if !is_expired(&t.value, now) {
                    continue;
                }
                let txn = Txn::new()
                    .when(Compare::unchanged(&t.key, t.revision))
                    .then(Op::delete(&t.key));
                if records::commit(store, txn).await?.is_committed() {
                    purged += 1;
                }
            }
            if !page.more {
                break;
            }
        }
    }
    Ok(purged)
}
