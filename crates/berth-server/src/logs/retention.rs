//! Retention in the background: every [`PASS_INTERVAL`], and soon after a retention
//! policy is put, each group with a retention period has its streams' events older than
//! that removed, a whole segment at a time (so an event may outlive its period by up to
//! one segment's span, as CloudWatch also deletes lazily). Level-triggered: a pass reads
//! the catalog afresh, so a missed pass loses nothing.

use std::sync::Arc;
use std::time::Duration;

use berth_logs::catalog::now_millis;
use tokio::sync::{watch, Notify};

use crate::App;

/// Time between passes.
pub const PASS_INTERVAL: Duration = Duration::from_secs(600);
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The retention loop's doorbell.
#[derive(Debug, Default)]
pub struct Retention {
    wake: Notify,
}

impl Retention {
    /// Asks for a pass soon (a retention policy changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Runs passes until shutdown.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PASS_INTERVAL) => {}
            _ = app.log_retention.wake.notified() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        match pass(&app).await {
            Ok(0) => {}
            Ok(segments) => tracing::info!(segments, "log retention removed expired events"),
            Err(e) => tracing::warn!(error = %e, "log retention pass failed; will retry"),
        }
    }
}

/// One pass; returns how many segments it removed.
pub async fn pass(app: &App) -> Result<usize, String> {
    let catalog = &app.log_catalog;
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
            removed += app
                .log_store
                .expire(&stream.storage_id, before)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(removed)
}
