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

/// The name the ECS agent gives a task's pause container, whose network namespace the
/// task's containers share in awsvpc mode.
pub const PAUSE_CONTAINER_NAME: &str = "~internal~ecs~pause";

/// Berth's pause image: a tiny static program that sleeps until killed
/// ([`crate::pause`]); runtimes provide it locally instead of pulling it.
pub const PAUSE_IMAGE: &str = concat!("berth/pause:", env!("CARGO_PKG_VERSION"));

/// Label carrying the secret that identifies a container to the metadata and
/// credentials endpoints (never shown in the metadata itself).
pub const LABEL_ENDPOINT_TOKEN: &str = "berth.endpoint-token";

/// Which network a container joins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkSpec {
    /// Docker's default bridge network (ECS `bridge`), with published ports.
    #[default]
    Bridge,
    /// The host's network namespace (ECS `host`).
    Host,
    /// A loopback-only namespace (ECS `none`).
    None,
    /// The named Berth-managed network: the awsvpc pause container joins it.
    Task(String),
    /// Another container's namespace (awsvpc task containers share the pause's).
    Container(String),
}

/// A port to publish: `host_port` `None` means a dynamic one from the ephemeral range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub container_port: u16,
    pub host_port: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// Where a mount's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host path, bind-mounted.
    HostPath(String),
    /// A Docker volume, created with this driver, options and labels when missing.
    Volume {
        name: String,
        driver: String,
        driver_opts: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
        /// The volume must already exist (a shared volume with autoprovision off).
        must_exist: bool,
    },
}

/// One mount point of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub source: MountSource,
    pub target: String,
    pub read_only: bool,
}

/// A device exposed to the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub host_path: String,
    pub container_path: String,
    /// Docker's cgroup permissions string, e.g. `rwm`.
    pub permissions: String,
}

/// A soft and hard resource limit (`nofile`, `nproc`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UlimitSpec {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// What to create for one container of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container's name in the task definition.
    pub name: String,
    /// The runtime's name for it: `ecs-FAMILY-REVISION-NAME-TASKID`, unique per task.
    pub runtime_name: String,
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
    pub dns_search: Vec<String>,
    /// Keep stdin open (`interactive`) and allocate a TTY (`pseudoTerminal`).
    pub interactive: bool,
    pub tty: bool,
    /// The container's health check, with ECS's defaults filled in.
    pub health_check: Option<HealthCheckSpec>,
    pub network: NetworkSpec,
    pub ports: Vec<PortSpec>,
    pub mounts: Vec<MountSpec>,
    /// Other containers' runtime names whose volumes this one mounts, with `:ro` when
    /// read-only.
    pub volumes_from: Vec<String>,
    /// `RUNTIME-NAME:ALIAS` links (bridge mode).
    pub links: Vec<String>,
    pub ulimits: Vec<UlimitSpec>,
    /// Run an init process as PID 1.
    pub init: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub devices: Vec<DeviceSpec>,
    pub shm_size_mib: Option<i64>,
    /// tmpfs mounts: path to Docker's option string (`size=64m,noexec`).
    pub tmpfs: BTreeMap<String, String>,
    pub max_swap_mib: Option<i64>,
    pub swappiness: Option<i64>,
    pub sysctls: BTreeMap<String, String>,
    pub security_opts: Vec<String>,
    /// A Docker log driver and its options (`json-file`, `syslog`, ...).
    pub log_driver: Option<(String, BTreeMap<String, String>)>,
    /// A CPU limit in billionths of a core: a task-level `cpu` enforced as a limit.
    pub nano_cpus: Option<i64>,
    /// GPUs the control plane assigned to the container (UUIDs), exposed through the
    /// `nvidia` device driver.
    pub gpu_ids: Vec<String>,
    /// The task has a role: the container gets the credentials endpoint's variables.
    pub task_role: bool,
    /// The task's execution role: its image is pulled from the control plane's
    /// registry, and its `awslogs` output written, with a session of it.
    pub execution_role: Option<String>,
    /// The container's `awslogs` options, when it logs to CloudWatch: its log stream is
    /// made ready (and the execution role's permission for it checked) before it starts.
    pub awslogs: Option<crate::logship::AwsLogs>,
    /// Local files of `KEY=VALUE` lines, read by the agent into the environment before
    /// the container is created; `environment` wins over them, as in ECS.
    pub environment_files: Vec<String>,
    /// The container has `secrets` or `repositoryCredentials`: their values are asked
    /// of the control plane just before it is created (they are never in the plan).
    pub reads_secrets: bool,
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
    /// Details for status reports and the metadata endpoint.
    pub details: ContainerDetails,
}

/// What the runtime knows of a container beyond its phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerDetails {
    /// The runtime's name (Docker's, without the leading `/`).
    pub runtime_name: String,
    pub image: String,
    /// The image's id (`sha256:...`).
    pub image_id: String,
    /// The digest of the manifest the image was pulled by (what ECS reports as a
    /// container's `imageDigest`), or the image's id for an image no registry gave.
    pub image_digest: String,
    /// RFC 3339 times; empty when it has not happened.
    pub created_at: String,
    pub started_at: String,
    pub finished_at: String,
    /// The network the container is attached to (`bridge`, `host`, a task network...)
    /// and its IPv4 address there, when it has one.
    pub network: String,
    pub ipv4: Option<String>,
    /// Published ports: container port, host port, protocol, host IP.
    pub ports: Vec<PublishedPort>,
}

/// A published port as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: String,
    pub host_ip: String,
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
    /// What the task needs besides its containers could not be set up (its log
    /// stream), as Fargate's `ResourceInitializationError`.
    #[error("ResourceInitializationError: {0}")]
    ResourceInitialization(String),
    #[error("container runtime unavailable: {0}")]
    Unavailable(String),
    /// A container's dependencies can never be met (a planner decision, not Docker's).
    #[error("{0}")]
    Dependency(String),
    /// A command could not be run in a container (`berth exec`).
    #[error("cannot run the command: {0}")]
    Exec(String),
}

/// Runs containers.
/// A registry login to pull with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullAuth {
    /// The registry, `HOST[:PORT]`.
    pub server: String,
    pub username: String,
    pub password: String,
}

/// A container's resource use at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerUsage {
    /// CPU time used since it started, in nanoseconds.
    pub cpu_total_ns: u64,
    /// Memory in use, in bytes, without the page cache the kernel can reclaim (as
    /// `docker stats` shows it).
    pub memory_bytes: u64,
}

impl ContainerUsage {
    /// Reads Docker's stats format: `cpu_stats.cpu_usage.total_usage`, and
    /// `memory_stats.usage` less the inactive page cache (cgroup v2's `inactive_file`,
    /// v1's `total_inactive_file`). `None` when the stats hold no CPU figure.
    pub fn from_docker_stats(stats: &serde_json::Value) -> Option<ContainerUsage> {
        let cpu_total_ns = stats
            .pointer("/cpu_stats/cpu_usage/total_usage")
            .and_then(serde_json::Value::as_u64)?;
        let memory = &stats["memory_stats"];
        let usage = memory["usage"].as_u64().unwrap_or(0);
        let cache = ["inactive_file", "total_inactive_file"]
            .iter()
            .find_map(|k| memory["stats"][k].as_u64())
            .unwrap_or(0);
        Some(ContainerUsage {
            cpu_total_ns,
            memory_bytes: usage.saturating_sub(cache),
        })
    }
}

#[async_trait]
pub trait Runtime: Send + Sync {
    /// Makes `image` available locally, pulling with `auth` when given (else with
    /// whatever login the runtime itself knows for the image's registry).
    async fn pull(&self, image: &str, auth: Option<&PullAuth>) -> Result<(), RuntimeError>;
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
    /// Removes the task-scoped volumes of `task_arn` that no container uses any more.
    async fn remove_task_volumes(&self, task_arn: &str) -> Result<(), RuntimeError>;
    /// One sample of a container's resource usage, in Docker's stats format.
    async fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError>;
    /// A container's CPU time and memory in use now, read at once (no second sample
    /// for a CPU rate, as [`Runtime::stats`] takes).
    async fn usage(&self, id: &str) -> Result<ContainerUsage, RuntimeError>;
    /// Ensures the named network exists (a bridge; `subnet` and `bridge_name` apply
    /// only when creating it) and returns its gateway address, if it has one.
    async fn ensure_network(
        &self,
        name: &str,
        subnet: Option<&str>,
        bridge_name: Option<&str>,
    ) -> Result<Option<String>, RuntimeError>;
    /// The subnet of the named network, when it exists and has one (the task network a
    /// host already has keeps its subnet).
    async fn network_subnet(&self, _name: &str) -> Option<String> {
        None
    }
    /// Resolves when something about containers may have changed (an event stream),
    /// or at once when the runtime cannot tell; the agent then plans again.
    async fn changed(&self);
    /// A container's output (stdout and stderr, in the order written) from the second
    /// `since_secs` on; with `follow`, also what it writes next, until it stops.
    async fn logs(
        &self,
        id: &str,
        since_secs: i64,
        follow: bool,
    ) -> Result<OutputLines, RuntimeError>;
    /// Starts `spec`'s command in running container `id`, attached (`berth exec`).
    async fn exec(&self, _id: &str, _spec: &ExecSpec) -> Result<ExecProcess, RuntimeError> {
        Err(RuntimeError::Exec(
            "this container runtime does not run commands in containers".into(),
        ))
    }
}

/// A command to run in a running container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub command: Vec<String>,
    /// Allocate a terminal (its output then comes as stdout only).
    pub tty: bool,
    /// The terminal's columns and rows.
    pub size: Option<(u16, u16)>,
}

/// A command started in a container: where its standard input goes, what it writes,
/// and its controls.
pub struct ExecProcess {
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    pub output: futures::stream::BoxStream<'static, Result<ExecOutput, RuntimeError>>,
    pub control: Box<dyn ExecControl>,
}

/// Bytes a command wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutput {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// What can be done with a started command besides feeding it input.
#[async_trait]
pub trait ExecControl: Send + Sync {
    /// Sets its terminal's size.
    async fn resize(&self, cols: u16, rows: u16) -> Result<(), RuntimeError>;
    /// Its exit code, once its output has ended.
    async fn exit_code(&self) -> Result<i32, RuntimeError>;
}

/// One line a container wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// When the runtime received it: nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// The line, without its newline.
    pub message: String,
}

/// A container's output as it is written.
pub type OutputLines = futures::stream::BoxStream<'static, Result<OutputLine, RuntimeError>>;
