//! The agent channel: Berth's own protocol between the control plane and its agents
//! (register, heartbeat, list + watch assignments, report task state). JSON over HTTP,
//! authenticated with a join token to register and with the agent credential the
//! registration returns after that; field names follow ECS where ECS has them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often an agent says it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// How many heartbeat intervals may pass without one before an instance's
/// `agentConnected` turns false and the control plane counts its host lost (10 s).
pub const MISSED_HEARTBEATS: u32 = 5;

use crate::ecs::{
    Attribute, HealthStatus, NetworkBinding, Task, TaskDefinition, TaskStopCode, Timestamp,
    VersionInfo,
};

/// Which capacity a registration offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapacityKind {
    /// A container instance of one cluster, for the EC2 launch type.
    Ec2,
    /// A member of the Fargate pool, for the FARGATE launch type of every cluster.
    Fargate,
}

/// `POST /agent/v1/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    pub kind: CapacityKind,
    /// The cluster to join (EC2 capacity); `default` when absent.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The ARN this agent registered as before, to take it up again after a restart.
    #[serde(default)]
    pub container_instance_arn: Option<String>,
    /// The agent credential this agent already holds (from an earlier registration),
    /// when it registers with a join token: the new instance joins that credential, and
    /// `containerInstanceArn` may name one of its instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_credential: Option<String>,
    /// The ARN of this host's other registration (its container instance, when it now
    /// offers Fargate capacity too): the two share the host's CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_host_as: Option<String>,
    #[serde(default)]
    pub ec2_instance_id: Option<String>,
    pub cpu: i64,
    pub memory: i64,
    #[serde(default)]
    pub reserved_ports_tcp: Vec<u16>,
    #[serde(default)]
    pub reserved_ports_udp: Vec<u16>,
    #[serde(default)]
    pub gpu_ids: Vec<String>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default)]
    pub version_info: Option<VersionInfo>,
}

/// The answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub container_instance_arn: String,
    /// A new agent credential, for every later call (shown once); absent when the
    /// registration joined the credential the agent presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_credential: Option<String>,
}

/// `POST /agent/v1/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRequest {
    pub container_instance_arn: String,
}

/// `GET /agent/v1/assignments?containerInstanceArn=..&afterRevision=..&waitSeconds=..`:
/// every task placed on the instance that is not yet stopped, or whose stop the agent
/// has not reported. Answers at once when anything changed after `afterRevision`, else
/// waits up to `waitSeconds` (long poll).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignments {
    /// Pass back as `afterRevision` to wait for the next change.
    pub revision: u64,
    pub tasks: Vec<Assignment>,
    /// A long poll that waited out its time with nothing of the instance's changed:
    /// `tasks` is empty and the agent keeps the assignments it has.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
}

impl Assignments {
    /// The answer to a long poll after `revision` that saw no change.
    pub fn unchanged(revision: u64) -> Assignments {
        Assignments {
            revision,
            tasks: Vec::new(),
            unchanged: true,
        }
    }
}

/// One task an agent is to run or stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The task as DescribeTasks shows it (desiredStatus says what to do).
    pub task: Task,
    /// The revision it runs.
    pub task_definition: TaskDefinition,
}

/// One container's state in a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub runtime_id: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub network_bindings: Option<Vec<NetworkBinding>>,
    #[serde(default)]
    pub health_status: Option<HealthStatus>,
}

/// `POST /agent/v1/task-state`: where a task has got to. Reports are idempotent and
/// only move a task forward.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateReport {
    pub task_arn: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub stop_code: Option<TaskStopCode>,
    #[serde(default)]
    pub pull_started_at: Option<Timestamp>,
    #[serde(default)]
    pub pull_stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub execution_stopped_at: Option<Timestamp>,
    /// The task's own address (awsvpc).
    #[serde(default)]
    pub private_ipv4_address: Option<String>,
    #[serde(default)]
    pub containers: Vec<ContainerReport>,
}

/// `POST /registry-credentials`: an agent asks for a login to the control plane's own
/// registry, to pull the images pushed there with credentials of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCredentialsRequest {
    pub container_instance_arn: String,
    /// The task whose image is to be pulled: a task with an execution role pulls with
    /// a session of it. Without one, the login is the agent's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
}

/// A registry login: what `docker login` would send for `registry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCredentials {
    /// `HOST:PORT`, as repository URIs name the registry.
    pub registry: String,
    pub username: String,
    pub password: String,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

/// `POST /task-secrets`: an agent asks, just before creating a container, for the
/// values of its `secrets` and the login its `repositoryCredentials` name. The control
/// plane reads them with the task's execution role, or refuses with the reason the task
/// then stops with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSecretsRequest {
    pub container_instance_arn: String,
    pub task_arn: String,
    pub container_name: String,
}

/// The answer to a [`TaskSecretsRequest`]. Its `Debug` shows names only.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSecrets {
    /// `(name, value)` of each of the container's `secrets`, in definition order.
    #[serde(default)]
    pub environment: Vec<(String, String)>,
    /// The username and password of `repositoryCredentials`' secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<(String, String)>,
}

impl std::fmt::Debug for TaskSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.environment.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("TaskSecrets")
            .field("environment", &names)
            .field(
                "repository_credentials",
                &self.repository_credentials.as_ref().map(|(user, _)| user),
            )
            .finish()
    }
}

/// `POST /task-metrics`: an agent's samples of its running tasks' CPU and memory use,
/// each over the interval since its previous sample. The control plane keeps them as
/// Container Insights performance log events (see the server's `task_metrics`). A
/// sample that does not arrive is not sent again: a chart then has a gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetricsReport {
    pub container_instance_arn: String,
    pub samples: Vec<TaskMetricsSample>,
}

/// One task's use at one time: the sum over its containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetricsSample {
    pub task_arn: String,
    /// When it was taken, in milliseconds since the epoch.
    pub timestamp: i64,
    /// CPU used over the interval, in CPU units (1024 to a core).
    pub cpu_utilized: f64,
    /// Memory in use, in MiB (without the page cache the kernel can reclaim).
    pub memory_utilized: f64,
}

/// The answer to a [`TaskMetricsReport`]: how many samples were kept (samples of tasks
/// that are not placed on the instance are not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetricsAnswer {
    pub recorded: usize,
}

/// `POST /logs`: an agent ships a container's output (the `awslogs` log driver) to a
/// log stream, creating the stream (and the group, when `createGroup`) if missing. The
/// append happens only when the stream's next seq is `expectedNextSeq`, so a batch sent
/// twice (a retry, or a resend after an agent restart) is stored once; an empty batch
/// only asks for the stream's next seq.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatch {
    pub container_instance_arn: String,
    /// The task whose container wrote the lines, and the container's name: the control
    /// plane appends only to the log group (and stream) that container's `awslogs`
    /// options name, for a task placed on the instance.
    #[serde(default)]
    pub task_arn: String,
    #[serde(default)]
    pub container_name: String,
    pub log_group_name: String,
    pub log_stream_name: String,
    #[serde(default)]
    pub create_group: bool,
    pub expected_next_seq: u64,
    /// The shipment's generation (when it started, in milliseconds): once a stream has
    /// seen a batch of a newer shipment, batches of older ones (still in flight from an
    /// agent that has since restarted) are not appended.
    #[serde(default)]
    pub producer: u64,
    pub events: Vec<LogLine>,
}

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub message: String,
}

/// The answer to a [`LogBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatchAnswer {
    /// Whether this batch's events were appended by this call.
    pub appended: bool,
    /// The stream's next seq after the call.
    pub next_seq: u64,
}

/// `POST /task-credentials`: an agent asks for a task's role credentials on behalf of
/// one of the task's containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsRequest {
    pub container_instance_arn: String,
    pub task_arn: String,
}

/// Short-lived credentials for a task's role, in the shape the ECS credentials endpoint
/// serves them to SDKs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCredentials {
    #[serde(rename = "RoleArn")]
    pub role_arn: String,
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
    #[serde(rename = "Token")]
    pub token: String,
    /// RFC 3339, UTC, whole seconds.
    #[serde(rename = "Expiration")]
    pub expiration: String,
}

/// `POST /agent/v1/network`: the host's task subnet. The agent says which subnet its
/// task network has (or is configured with), if any, and the address other hosts reach
/// it by; the control plane records it, or hands out a free one of the cluster's range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRequest {
    pub container_instance_arn: String,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// The host's task subnet, as the control plane records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAssignment {
    pub subnet: String,
    /// The cluster's task range every host's subnet is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// Whether other hosts route to it (false when it overlaps another host's).
    pub routable: bool,
    /// Why it is not routable, for the agent to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `GET /agent/v1/routes?containerInstanceArn=..&afterRevision=..&waitSeconds=..`: the
/// other hosts' task subnets and the addresses to route them via (a long poll, as
/// assignments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRoutes {
    pub revision: u64,
    pub routes: Vec<TaskRoute>,
}

/// One host's task subnet and its address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRoute {
    pub subnet: String,
    pub via: String,
}
