//! Input types: a container instance as the scheduler sees it.

use std::collections::{BTreeMap, BTreeSet};

/// Status of a container instance, as ECS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    /// Registered and accepting tasks.
    Active,
    /// Being drained; takes no new tasks.
    Draining,
    /// Registration in progress.
    Registering,
    /// Deregistration in progress.
    Deregistering,
    /// Registration failed.
    RegistrationFailed,
    /// Deregistered.
    Inactive,
}

impl InstanceStatus {
    /// The ECS wire spelling (`ACTIVE`, `DRAINING`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Active => "ACTIVE",
            InstanceStatus::Draining => "DRAINING",
            InstanceStatus::Registering => "REGISTERING",
            InstanceStatus::Deregistering => "DEREGISTERING",
            InstanceStatus::RegistrationFailed => "REGISTRATION_FAILED",
            InstanceStatus::Inactive => "INACTIVE",
        }
    }
}

/// One candidate container instance: what is left on it and what describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInstance {
    /// Container instance ARN; also the deterministic tie-break order.
    pub arn: String,
    /// EC2 instance id (`ec2InstanceId` in expressions), if any.
    pub ec2_instance_id: Option<String>,
    /// Only `Active` instances take tasks.
    pub status: InstanceStatus,
    /// Only instances whose agent is connected take tasks.
    pub agent_connected: bool,
    /// Agent version (`agentVersion` in expressions), e.g. `1.14.5`.
    pub agent_version: Option<String>,
    /// Registration time in seconds since the Unix epoch, UTC (`registeredAt`).
    pub registered_at: Option<i64>,
    /// Remaining CPU units.
    pub remaining_cpu: u32,
    /// Remaining memory in MiB.
    pub remaining_memory_mib: u32,
    /// TCP host ports in use: reserved at registration plus those of running tasks.
    pub used_tcp_ports: BTreeSet<u16>,
    /// UDP host ports in use: reserved at registration plus those of running tasks.
    pub used_udp_ports: BTreeSet<u16>,
    /// GPU ids not yet assigned to a task.
    pub remaining_gpu_ids: BTreeSet<String>,
    /// Attributes, built-in (`ecs.availability-zone`, …) and custom; a value is optional.
    pub attributes: BTreeMap<String, Option<String>>,
    /// Tasks running on the instance (`runningTasksCount`).
    pub running_tasks_count: u32,
    /// Task group (`family:web`, `service:api`, custom) → tasks of it on this instance
    /// that are not stopped; drives distinctInstance, spread and `task:group`.
    pub task_groups: BTreeMap<String, u32>,
}

impl ContainerInstance {
    /// An ACTIVE instance with a connected agent, the given free CPU and memory, and
    /// nothing else set.
    pub fn new(arn: impl Into<String>, remaining_cpu: u32, remaining_memory_mib: u32) -> Self {
        ContainerInstance {
            arn: arn.into(),
            ec2_instance_id: None,
            status: InstanceStatus::Active,
            agent_connected: true,
            agent_version: None,
            registered_at: None,
            remaining_cpu,
            remaining_memory_mib,
            used_tcp_ports: BTreeSet::new(),
            used_udp_ports: BTreeSet::new(),
            remaining_gpu_ids: BTreeSet::new(),
            attributes: BTreeMap::new(),
            running_tasks_count: 0,
            task_groups: BTreeMap::new(),
        }
    }

    /// Sets an attribute (builder style).
    pub fn with_attribute(mut self, name: impl Into<String>, value: Option<&str>) -> Self {
        self.attributes
            .insert(name.into(), value.map(str::to_owned));
        self
    }

    /// True when the instance may take new tasks: ACTIVE with its agent connected.
    pub fn is_schedulable(&self) -> bool {
        self.status == InstanceStatus::Active && self.agent_connected
    }
}
