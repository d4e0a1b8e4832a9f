//! Retention in the background ([`RetentionSweep`]): every [`PASS_INTERVAL`], and soon
//! after a retention policy is put, each group with a retention period has its streams' events older than
//! that removed, a whole segment at a time (so an event may outlive its period by up to
//! one segment's span, as CloudWatch also deletes lazily). Level-triggered: a pass reads
//! the catalog afresh, so a missed pass loses nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_api::error::ApiError;
use berth_logs::catalog::{self, now_millis, GroupRecord};
use berth_store::WatchEvent;

use super::Logs;
use crate::controller::Sweep;

/// Time between passes.
pub const PASS_INTERVAL: Duration = Duration::from_secs(600);
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Retention as a [`Sweep`]: a pass every [`PASS_INTERVAL`], and soon after a log group's
/// retention period changes (seen in the store, so through any replica).
pub struct RetentionSweep {
    logs: Arc<Logs>,
    /// Each group record's retention as last seen.
    periods: Mutex<HashMap<String, Option<i32>>>,
}

impl RetentionSweep {
    pub fn new(logs: Arc<Logs>) -> RetentionSweep {
        RetentionSweep {
            logs,
            periods: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Sweep for RetentionSweep {
    fn name(&self) -> &'static str {
        "log retention"
    }
    fn interval(&self) -> Duration {
        PASS_INTERVAL
    }
    fn watched(&self) -> Vec<String> {
        vec![catalog::ROOT.into()]
    }
    fn wakes(&self, event: &WatchEvent) -> bool {
        let WatchEvent::Put(kv) = event else {
            return false;
        };
        if !catalog::is_group_key(&kv.key) {
            return false;
        }
        let period = serde_json::from_slice::<GroupRecord>(&kv.value)
            .ok()
            .and_then(|g| g.retention_days);
        let mut seen = self.periods.lock().expect("periods lock");
        seen.insert(kv.key.clone(), period) != Some(period) && period.is_some()
    }
    async fn pass(&self) -> Result<(), ApiError> {
        match pass(&self.logs).await {
            Ok(0) => Ok(()),
            Ok(segments) => {
                tracing::info!(segments, "log retention removed expired events");
                Ok(())
            }
            Err(e) => Err(ApiError::Server(format!("log retention failed: {e}"))),
        }
    }
}

/// One pass; returns how many segments it removed.
pub async fn pass(logs: &Logs) -> Result<usize, String> {
    let catalog = &logs.catalog;
    let mut removed = 0;
    for (scope, group) in catalog.all_groups().await.map_err(|e| e.to_string())? {
        let Some(days) = group.retention_days else {
            continue;
        };
        let before = now_millis() - i64::from(days) * DAY_MS;
        let streams = match catalog.list_streams(&scope, &group.name, "", None, 0).await {
            Ok(page) => page.items,
            // Deleted meanwhile.
            Err(berth_logs::catalog::CatalogError::GroupNotFound) => continue,
            Err(e) => return Err(e.to_string()),
        };
        for stream in streams {
            removed += logs
                .events
                .expire(&stream.storage_id, before)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(removed)
}
