//! The seam between the agent and whatever runs containers: Docker in production, an
//! in-memory fake in tests ([`crate::fake`]). Containers Berth creates carry the ECS
//! agent's labels, so an agent that restarts finds and re-adopts them with
//! [`Runtime::list`] instead of starting duplicates.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::ecs::HealthStatus;

/// Label naming the task a container belongs to.
pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
/// Label naming the container (its name in the task definition).
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
/// Label naming the cluster.
pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";
/// Label naming the task definition family.
pub const LABEL_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
/// Label naming the task definition revision.
pub const LABEL_VERSION: &str = "com.amazonaws.ecs.task-definition-version";

/// Berth's own label: the container instance whose agent created the container, so
/// several agents sharing one engine each manage only their own containers.
pub const LABEL_CONTAINER_INSTANCE: &str = "berth.container-instance-arn";

/// What to create for one container of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container's name in the task definition.
    pub name: String,
    pub image: String,
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// Environment after overrides, in definition order.
    pub environment: Vec<(String, String)>,
    /// The ECS labels plus the definition's dockerLabels.
    pub labels: BTreeMap<String, String>,
    /// SIGTERM to SIGKILL.
    pub stop_timeout: Duration,
    /// CPU shares (`cpu`), hard memory limit and soft reservation in MiB.
    pub cpu_shares: Option<i64>,
    pub memory_mib: Option<i64>,
    pub memory_reservation_mib: Option<i64>,
    pub user: Option<String>,
    pub working_directory: Option<String>,
    pub hostname: Option<String>,
    pub privileged: bool,
    pub readonly_root_filesystem: bool,
    /// `HOST:IP` entries for /etc/hosts.
    pub extra_hosts: Vec<String>,
    pub dns_servers: Vec<String>,
    /// The container's health check, with ECS's defaults filled in.
    pub health_check: Option<HealthCheckSpec>,
}

/// A health check: ECS's `healthCheck`, whose command form (`["CMD-SHELL", "..."]` or
/// `["CMD", ...]`) is Docker's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSpec {
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Created,
    Running,
    Exited { code: i32 },
}

/// A container as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// The runtime's id (Docker's container id).
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub phase: Phase,
    /// Health from the runtime's health check, when the container has one.
    pub health: Option<HealthStatus>,
}

impl ContainerState {
    /// The task this container belongs to, from its labels.
    pub fn task_arn(&self) -> Option<&str> {
        self.labels.get(LABEL_TASK_ARN).map(String::as_str)
    }
    /// The container instance whose agent created it, from its labels.
    pub fn container_instance(&self) -> Option<&str> {
        self.labels
            .get(LABEL_CONTAINER_INSTANCE)
            .map(String::as_str)
    }
    /// The container's name in its task definition, from its labels.
    pub fn container_name(&self) -> Option<&str> {
        self.labels.get(LABEL_CONTAINER_NAME).map(String::as_str)
    }
}

/// Why a runtime call failed; the message is what ECS reports as the container's reason
/// (e.g. `CannotPullContainerError: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("CannotPullContainerError: {0}")]
    Pull(String),
    #[error("CannotCreateContainerError: {0}")]
    Create(String),
    #[error("CannotStartContainerError: {0}")]
    Start(String),
    #[error("CannotStopContainerError: {0}")]
    Stop(String),
    #[error("container runtime unavailable: {0}")]
    Unavailable(String),
}

/// Runs containers.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// Makes `image` available locally.
    async fn pull(&self, image: &str) -> Result<(), RuntimeError>;
    /// Creates (does not start) a container; returns its id.
    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError>;
    /// Starts a created container.
    async fn start(&self, id: &str) -> Result<(), RuntimeError>;
    /// Sends the stop signal, waits up to `timeout`, then kills.
    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError>;
    /// Removes a stopped container.
    async fn remove(&self, id: &str) -> Result<(), RuntimeError>;
    /// Every container Berth manages here (those with a task ARN label).
    async fn list(&self) -> Result<Vec<ContainerState>, RuntimeError>;
}
