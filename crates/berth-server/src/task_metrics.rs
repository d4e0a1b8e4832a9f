//! Tasks' CPU and memory as their agents sample them (the agent's `task_usage`), kept
//! as Container Insights performance log events: one JSON event per sample, with
//! Container Insights' `Type: Task` fields (`CpuUtilized` and `CpuReserved` in CPU
//! units, `MemoryUtilized` and `MemoryReserved` in MiB, `TaskId`, `ServiceName`,
//! `TaskDefinitionFamily`, ...), in log group `/aws/ecs/containerinsights/CLUSTER/performance`,
//! made with one day's retention as AWS makes it. Each task has a stream of its own,
//! `TaskTelemetry-TASK_ID` (Berth's naming), so a task's chart reads one stream and a
//! service's the streams of its tasks. Any replica takes a report and the events go to
//! the log store every replica reads, so every replica's console draws the same charts,
//! and `aws logs get-log-events` reads them too.
//!
//! Berth samples every task, whether or not the cluster turned Container Insights on:
//! the console's charts need them (AWS too publishes a service's CPU and memory without
//! it). An agent stops it with `BERTH_METRICS_INTERVAL=off`.

use berth_api::agent::TaskMetricsSample;
use berth_api::error::ApiError;
use berth_logs::catalog::{now_millis, Scope};
use berth_logs::NewEvent;
use berth_model::task::TaskRecord;
use serde::{Deserialize, Serialize};

use crate::logs::ingest::{new_group, stream_for};
use crate::logs::{storage_error, Logs};

/// How long the performance log group keeps its events, as AWS creates it.
const RETENTION_DAYS: i32 = 1;

/// The log group of `cluster`'s performance events.
pub fn group_name(cluster: &str) -> String {
    format!("/aws/ecs/containerinsights/{cluster}/performance")
}

/// The log stream of the task `task_id`'s samples.
pub fn stream_name(task_id: &str) -> String {
    format!("TaskTelemetry-{task_id}")
}

/// One performance log event of `Type: Task`, as it is stored and read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskEvent {
    pub version: String,
    pub r#type: String,
    pub timestamp: i64,
    pub cluster_name: String,
    pub task_id: String,
    pub task_definition_family: String,
    pub task_definition_revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    pub launch_type: String,
    /// CPU units used over the sample's interval, and held by the task.
    pub cpu_utilized: f64,
    pub cpu_reserved: f64,
    /// MiB in use, and held by the task.
    pub memory_utilized: f64,
    pub memory_reserved: f64,
}

impl TaskEvent {
    /// The event of `sample`, taken of `task`.
    pub fn of(task: &TaskRecord, sample: &TaskMetricsSample) -> TaskEvent {
        let revision = task
            .task_definition_arn
            .rsplit(':')
            .next()
            .unwrap_or_default();
        TaskEvent {
            version: "0".into(),
            r#type: "Task".into(),
            timestamp: sample.timestamp,
            cluster_name: task.cluster.clone(),
            task_id: task.id.clone(),
            task_definition_family: task.family.clone(),
            task_definition_revision: revision.to_string(),
            service_name: task
                .group
                .as_deref()
                .and_then(|g| g.strip_prefix("service:"))
                .map(str::to_string),
            launch_type: task.launch_type.as_str().to_string(),
            cpu_utilized: sample.cpu_utilized.max(0.0),
            cpu_reserved: task.reserved.cpu as f64,
            memory_utilized: sample.memory_utilized.max(0.0),
            memory_reserved: task.reserved.memory as f64,
        }
    }
}

/// Appends one sample of `task` (checked by the caller to be placed on the reporting
/// agent's instance) to its stream in `scope` (the task's account and region).
pub async fn record(
    logs: &Logs,
    scope: &Scope,
    task: &TaskRecord,
    sample: &TaskMetricsSample,
) -> Result<(), ApiError> {
    let group = group_name(&task.cluster);
    let stream = stream_for(
        logs,
        scope,
        &group,
        &stream_name(&task.id),
        Some(new_group(&group, Some(RETENTION_DAYS))),
    )
    .await?;
    let message = serde_json::to_string(&TaskEvent::of(task, sample))
        .map_err(|e| ApiError::Server(format!("a task metrics event: {e}")))?;
    logs.events
        .append(
            &stream.storage_id,
            vec![NewEvent {
                timestamp: sample.timestamp,
                message,
            }],
            now_millis(),
        )
        .await
        .map_err(storage_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_carries_container_insights_task_fields() {
        let mut task = berth_model::fixtures::task_record();
        task.group = Some("service:web".into());
        task.reserved.cpu = 256;
        task.reserved.memory = 512;
        let sample = TaskMetricsSample {
            task_arn: task.arn.clone(),
            timestamp: 1_700_000_000_000,
            cpu_utilized: 12.5,
            memory_utilized: 3.25,
        };
        let event = serde_json::to_value(TaskEvent::of(&task, &sample)).unwrap();
        assert_eq!(event["Type"], "Task");
        assert_eq!(event["ServiceName"], "web");
        assert_eq!(event["TaskId"], task.id.as_str());
        assert_eq!(event["CpuUtilized"], 12.5);
        assert_eq!(event["CpuReserved"], 256.0);
        assert_eq!(event["MemoryUtilized"], 3.25);
        assert_eq!(event["MemoryReserved"], 512.0);
        assert_eq!(event["Timestamp"], 1_700_000_000_000i64);
        let back: TaskEvent = serde_json::from_value(event).unwrap();
        assert_eq!(back, TaskEvent::of(&task, &sample));
    }
}
