//! A new task, as the launch engine creates it: its containers from the definition with
//! the RunTask overrides applied, its place on an instance and the resources it holds
//! there, and its first status (PROVISIONING while an awsvpc task's interface is set up,
//! else PENDING).

use berth_api::ecs::{HealthStatus, LaunchType, TaskOverride, Timestamp};

use super::{ContainerRecord, Placement, TaskEni, TaskRecord};
use crate::cluster::ClusterRecord;
use crate::container_instance::{InstanceRecord, Reservation};
use crate::fargate;
use crate::status::{DesiredStatus, TaskStatus};
use crate::tags::Tags;
use crate::task_definition::TaskDefinitionRecord;

/// The Fargate platform version Berth reports for Fargate tasks.
pub const PLATFORM_VERSION: &str = "1.4.0";

/// Everything a new task is made of; the launch engine decides each part.
pub struct NewTask<'a> {
    /// The task's id and ARN.
    pub id: String,
    pub arn: String,
    /// One ARN per container, in the definition's order.
    pub container_arns: Vec<String>,
    pub cluster: &'a ClusterRecord,
    pub def: &'a TaskDefinitionRecord,
    pub launch_type: LaunchType,
    pub capacity_provider: Option<String>,
    pub overrides: &'a TaskOverride,
    pub group: &'a str,
    pub started_by: Option<String>,
    pub tags: Tags,
    pub enable_execute_command: bool,
    /// The instance (or Fargate pool member) it was placed on, and what it holds there.
    pub instance: &'a InstanceRecord,
    pub reserved: Reservation,
    /// The awsvpc interface, for tasks that have one.
    pub eni: Option<TaskEni>,
    /// The zone to report when the instance names none: `REGIONa`.
    pub region: &'a str,
    pub now: Timestamp,
}

impl TaskRecord {
    /// A task as placed, before any agent has seen it.
    pub fn new(n: NewTask<'_>) -> TaskRecord {
        let def = &n.def.definition;
        let containers = def
            .container_definitions
            .iter()
            .flatten()
            .zip(n.container_arns)
            .map(|(c, arn)| {
                let name = c.name.clone().unwrap_or_default();
                let o = n
                    .overrides
                    .container_overrides
                    .iter()
                    .flatten()
                    .find(|o| o.name.as_deref() == Some(name.as_str()));
                ContainerRecord {
                    arn,
                    image: c.image.clone().unwrap_or_default(),
                    essential: c.essential.unwrap_or(true),
                    last_status: TaskStatus::Pending,
                    runtime_id: None,
                    image_digest: None,
                    exit_code: None,
                    reason: None,
                    network_bindings: vec![],
                    health_status: c.health_check.as_ref().map(|_| HealthStatus::Unknown),
                    cpu: o.and_then(|o| o.cpu).or(c.cpu),
                    memory: o.and_then(|o| o.memory).or(c.memory),
                    memory_reservation: o
                        .and_then(|o| o.memory_reservation)
                        .or(c.memory_reservation),
                    gpu_ids: vec![],
                    name,
                }
            })
            .collect();
        let fargate = n.launch_type == LaunchType::Fargate;
        TaskRecord {
            arn: n.arn,
            cluster: n.cluster.name.clone(),
            cluster_arn: n.cluster.arn.clone(),
            task_definition_arn: def.task_definition_arn.clone().unwrap_or_default(),
            family: n.def.family().to_string(),
            launch_type: n.launch_type,
            capacity_provider_name: n.capacity_provider,
            platform_version: fargate.then(|| PLATFORM_VERSION.to_string()),
            placement: Placement {
                instance_cluster: n.instance.cluster.clone(),
                instance_id: n.instance.id.clone(),
                instance_arn: n.instance.arn.clone(),
                fargate_pool: n.instance.fargate_pool,
            },
            reserved: n.reserved,
            last_status: if n.eni.is_some() {
                TaskStatus::Provisioning
            } else {
                TaskStatus::Pending
            },
            desired_status: DesiredStatus::Running,
            cpu: n
                .overrides
                .cpu
                .as_deref()
                .and_then(fargate::parse_cpu_units)
                .or(n.def.cpu_units())
                .map(|c| c.to_string()),
            memory: n
                .overrides
                .memory
                .as_deref()
                .and_then(fargate::parse_memory_mib)
                .or(n.def.memory_mib())
                .map(|m| m.to_string()),
            containers,
            overrides: n.overrides.clone(),
            group: Some(n.group.to_string()),
            started_by: n.started_by,
            tags: n.tags,
            eni: n.eni,
            availability_zone: Some(
                n.instance
                    .attributes
                    .get("ecs.availability-zone")
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| format!("{}a", n.region)),
            ),
            enable_execute_command: n.enable_execute_command,
            created_at: n.now,
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            connectivity_at: None,
            stopping_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            version: 1,
            protected_until: None,
            id: n.id,
        }
    }
}
