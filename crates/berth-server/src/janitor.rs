//! Background upkeep: STOPPED tasks stay describable for an hour, as in ECS, then are
//! purged. A [`Sweep`] run by the controller runtime: each pass lists and acts, so a
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
        pass(&self.0, self.0.clock.now()).await.map(|_| ())
    }
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
