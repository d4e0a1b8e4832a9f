//! Container output shipped by agents (the `awslogs` log driver): each batch goes to
//! its log stream, made on first use (and its group, when the task asked for
//! `awslogs-create-group`), appended only when the stream is where the agent expects it
//! (its next seq), so a batch the agent sends again after a retry or a restart is
//! stored once, and never from a shipment older than one the stream has already heard
//! from (a request of an agent that restarted can still be in flight). Appends to one
//! stream take turns, so the check and the append are one step.
//!
//! With replicas sharing the log store (see `berth_logs::LogStore::open_shared`), the
//! stream's position counts what every replica appended, so an agent that moves to
//! another replica after a batch landed is told so, and does not send it twice. Turns
//! are per replica: a replica frozen mid-append that resumes after its agent moved on
//! can store that one batch twice (never lose it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_api::agent::{LogBatch, LogBatchAnswer};
use berth_api::error::ApiError;
use berth_logs::catalog::{now_millis, CatalogError, GroupRecord, Scope, StreamRecord};
use berth_logs::NewEvent;

use super::Logs;
use super::{catalog_error, check_group_name, check_stream_name, storage_error};

/// One lock per stream storage id for conditional appends, guarding the newest
/// producer generation the stream has seen.
#[derive(Debug, Default)]
pub struct AppendLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<u64>>>>,
}

impl AppendLocks {
    fn of(&self, storage_id: &str) -> Arc<tokio::sync::Mutex<u64>> {
        self.locks
            .lock()
            .expect("append locks")
            .entry(storage_id.to_string())
            .or_default()
            .clone()
    }
}

/// A new log group with no tags, as agents' shipments and task metrics make it.
pub fn new_group(name: &str, retention_days: Option<i32>) -> GroupRecord {
    GroupRecord {
        name: name.to_string(),
        created_at: now_millis(),
        retention_days,
        tags: Default::default(),
        kms_key_id: None,
        deleting: false,
    }
}

/// Stream `stream` of group `group`, made if missing; the group too when it is missing
/// and `make_group` gives its record.
pub async fn stream_for(
    logs: &Logs,
    scope: &Scope,
    group: &str,
    stream: &str,
    make_group: Option<GroupRecord>,
) -> Result<StreamRecord, ApiError> {
    let catalog = &logs.catalog;
    match (catalog.stream(scope, group, stream).await, make_group) {
        (Ok(record), _) => return Ok(record),
        (Err(CatalogError::GroupNotFound), Some(record)) => {
            match catalog.create_group(scope, record).await {
                Ok(_) | Err(CatalogError::GroupExists) => {}
                Err(e) => return Err(catalog_error(e)),
            }
        }
        (Err(CatalogError::StreamNotFound), _) => {}
        (Err(e), _) => return Err(catalog_error(e)),
    }
    let record = StreamRecord {
        name: stream.to_string(),
        created_at: now_millis(),
        storage_id: uuid::Uuid::new_v4().simple().to_string(),
    };
    match catalog.create_stream(scope, group, record).await {
        Ok(record) => Ok(record),
        // Made by a concurrent batch.
        Err(CatalogError::StreamExists) => catalog
            .stream(scope, group, stream)
            .await
            .map_err(catalog_error),
        Err(e) => Err(catalog_error(e)),
    }
}

/// Appends one agent batch (see the module doc).
pub async fn agent_batch(
    logs: &Logs,
    scope: &Scope,
    batch: LogBatch,
) -> Result<LogBatchAnswer, ApiError> {
    check_group_name(&batch.log_group_name)?;
    check_stream_name(&batch.log_stream_name)?;
    let (group, stream) = (&batch.log_group_name, &batch.log_stream_name);
    let make_group = batch.create_group.then(|| new_group(group, None));
    let stream = stream_for(logs, scope, group, stream, make_group).await?;
    let lock = logs.appends.of(&stream.storage_id);
    let mut newest_producer = lock.lock().await;
    let superseded = batch.producer < *newest_producer;
    *newest_producer = (*newest_producer).max(batch.producer);
    let store = &logs.events;
    let current = store
        .summary(&stream.storage_id)
        .await
        .map_err(storage_error)?
        .map_or(1, |s| s.next_seq);
    if superseded || batch.events.is_empty() || current != batch.expected_next_seq {
        return Ok(LogBatchAnswer {
            appended: false,
            next_seq: current,
        });
    }
    let count = batch.events.len() as u64;
    let events = batch
        .events
        .into_iter()
        .map(|e| NewEvent {
            timestamp: e.timestamp,
            message: e.message,
        })
        .collect();
    store
        .append(&stream.storage_id, events, now_millis())
        .await
        .map_err(storage_error)?;
    Ok(LogBatchAnswer {
        appended: true,
        next_seq: current + count,
    })
}
