//! Tasks: the stored record, how a new one is made ([`new`]), how agent reports move it
//! through ECS's lifecycle, how a stop request changes it, and its DescribeTasks shape.

use berth_api::agent::TaskStateReport;
use berth_api::ecs::{
    Attachment, Connectivity, Container, HealthStatus, KeyValuePair, LaunchType, ManagedAgent,
    ManagedAgentName, NetworkBinding, NetworkInterface, Task, TaskOverride, TaskStopCode,
    Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::cluster::tags_to_wire;
use crate::container_instance::Reservation;
use crate::status::{DesiredStatus, TaskStatus};
use crate::tags::Tags;

pub mod new;
pub use new::NewTask;

/// Where a task was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The instance's cluster (empty for the Fargate pool).
    pub instance_cluster: String,
    pub instance_id: String,
    pub instance_arn: String,
    pub fargate_pool: bool,
}

/// One container of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub name: String,
    pub arn: String,
    pub image: String,
    pub essential: bool,
    pub last_status: TaskStatus,
    pub runtime_id: Option<String>,
    pub image_digest: Option<String>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Vec<NetworkBinding>,
    pub health_status: Option<HealthStatus>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    pub gpu_ids: Vec<String>,
}

/// The awsvpc network interface of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEni {
    pub attachment_id: String,
    pub eni_id: String,
    pub subnet_id: String,
    pub mac_address: String,
    pub private_ipv4_address: Option<String>,
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub arn: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub family: String,
    pub launch_type: LaunchType,
    pub capacity_provider_name: Option<String>,
    pub platform_version: Option<String>,
    pub placement: Placement,
    pub reserved: Reservation,
    pub last_status: TaskStatus,
    pub desired_status: DesiredStatus,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub containers: Vec<ContainerRecord>,
    pub overrides: TaskOverride,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub tags: Tags,
    pub eni: Option<TaskEni>,
    pub availability_zone: Option<String>,
    pub enable_execute_command: bool,
    pub created_at: Timestamp,
    pub pull_started_at: Option<Timestamp>,
    pub pull_stopped_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub connectivity_at: Option<Timestamp>,
    pub stopping_at: Option<Timestamp>,
    pub execution_stopped_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    pub stop_code: Option<TaskStopCode>,
    pub stopped_reason: Option<String>,
    pub version: i64,
    /// Until when the task is protected from a service's scale-in and deployments
    /// (UpdateTaskProtection).
    #[serde(default)]
    pub protected_until: Option<Timestamp>,
}

/// What applying a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportEffect {
    /// The record changed and must be written.
    pub changed: bool,
    /// The task reached STOPPED with this report: its reservation goes back.
    pub stopped_now: bool,
}

impl TaskRecord {
    /// Whether the task still holds its reservation.
    pub fn holds_resources(&self) -> bool {
        !self.last_status.is_stopped()
    }

    /// Asks the task to stop. Returns false when it was already asked to.
    pub fn request_stop(&mut self, code: TaskStopCode, reason: &str, now: Timestamp) -> bool {
        if self.desired_status == DesiredStatus::Stopped {
            return false;
        }
        self.desired_status = DesiredStatus::Stopped;
        self.stop_code = Some(code);
        self.stopped_reason = Some(reason.to_string());
        self.stopping_at = Some(now);
        self.version += 1;
        true
    }

    /// Marks the task STOPPED without an agent (its instance is gone). Returns false
    /// when it was already stopped.
    pub fn force_stopped(&mut self, code: TaskStopCode, reason: &str, now: Timestamp) -> bool {
        if self.last_status.is_stopped() {
            return false;
        }
        self.desired_status = DesiredStatus::Stopped;
        self.stop_code.get_or_insert(code);
        self.stopped_reason
            .get_or_insert_with(|| reason.to_string());
        self.stopping_at.get_or_insert(now);
        self.execution_stopped_at.get_or_insert(now);
        self.stopped_at = Some(now);
        self.last_status = TaskStatus::Stopped;
        for c in &mut self.containers {
            c.last_status = TaskStatus::Stopped;
        }
        self.version += 1;
        true
    }

    /// Applies an agent's report. Statuses only move forward; a repeated or stale report
    /// changes nothing.
    pub fn apply_report(&mut self, report: &TaskStateReport, now: Timestamp) -> ReportEffect {
        let before = self.clone();
        if let Some(status) = TaskStatus::parse(&report.status) {
            if self.last_status.can_move_to(status) {
                self.last_status = status;
            }
        }
        set_once(&mut self.pull_started_at, report.pull_started_at);
        set_once(&mut self.pull_stopped_at, report.pull_stopped_at);
        for c in &report.containers {
            let Some(rec) = self.containers.iter_mut().find(|r| r.name == c.name) else {
                continue;
            };
            if let Some(s) = TaskStatus::parse(&c.status) {
                if rec.last_status.can_move_to(s) {
                    rec.last_status = s;
                }
            }
            replace_if_some(&mut rec.runtime_id, &c.runtime_id);
            replace_if_some(&mut rec.image_digest, &c.image_digest);
            replace_if_some(&mut rec.exit_code, &c.exit_code);
            replace_if_some(&mut rec.reason, &c.reason);
            replace_if_some(&mut rec.health_status, &c.health_status);
            if let Some(b) = &c.network_bindings {
                rec.network_bindings = b.clone();
            }
        }
        if let (Some(eni), Some(ip)) = (&mut self.eni, &report.private_ipv4_address) {
            eni.private_ipv4_address = Some(ip.clone());
        }
        if self.last_status >= TaskStatus::Running {
            set_once(&mut self.started_at, report.started_at.or(Some(now)));
            set_once(&mut self.connectivity_at, Some(now));
        }
        if self.last_status >= TaskStatus::Deactivating {
            set_once(&mut self.stopping_at, Some(now));
        }
        let stopped_now = self.last_status.is_stopped() && !before.last_status.is_stopped();
        if stopped_now {
            self.desired_status = DesiredStatus::Stopped;
            set_once(
                &mut self.execution_stopped_at,
                report.execution_stopped_at.or(Some(now)),
            );
            self.stopped_at = Some(now);
            if self.stop_code.is_none() {
                self.stop_code = report.stop_code;
            }
            if self.stopped_reason.is_none() {
                self.stopped_reason = report.reason.clone();
            }
            for c in &mut self.containers {
                c.last_status = TaskStatus::Stopped;
            }
        }
        let changed = *self != before;
        if changed {
            self.version += 1;
        }
        ReportEffect {
            changed,
            stopped_now,
        }
    }

    /// The task's health: UNHEALTHY if an essential container is, HEALTHY when every
    /// essential container with a health check is, else UNKNOWN.
    pub fn health_status(&self) -> HealthStatus {
        let essential: Vec<_> = self.containers.iter().filter(|c| c.essential).collect();
        if essential
            .iter()
            .any(|c| c.health_status == Some(HealthStatus::Unhealthy))
        {
            return HealthStatus::Unhealthy;
        }
        let checked: Vec<_> = essential.iter().filter_map(|c| c.health_status).collect();
        if !checked.is_empty() && checked.iter().all(|h| *h == HealthStatus::Healthy) {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unknown
        }
    }

    /// The DescribeTasks shape.
    pub fn to_wire(&self, with_tags: bool) -> Task {
        let interfaces = self.eni.as_ref().map(|eni| {
            vec![NetworkInterface {
                attachment_id: Some(eni.attachment_id.clone()),
                private_ipv4_address: eni.private_ipv4_address.clone(),
                ipv6_address: None,
            }]
        });
        let containers = self
            .containers
            .iter()
            .map(|c| Container {
                container_arn: Some(c.arn.clone()),
                task_arn: Some(self.arn.clone()),
                name: Some(c.name.clone()),
                image: Some(c.image.clone()),
                image_digest: c.image_digest.clone(),
                runtime_id: c.runtime_id.clone(),
                last_status: Some(container_status(c.last_status).into()),
                exit_code: c.exit_code,
                reason: c.reason.clone(),
                network_bindings: Some(c.network_bindings.clone()),
                network_interfaces: Some(interfaces.clone().unwrap_or_default()),
                health_status: Some(c.health_status.unwrap_or(HealthStatus::Unknown)),
                managed_agents: self.enable_execute_command.then(|| {
                    vec![ManagedAgent {
                        name: Some(ManagedAgentName::ExecuteCommandAgent),
                        last_status: Some(container_status(c.last_status).into()),
                        last_started_at: self
                            .started_at
                            .filter(|_| c.last_status >= TaskStatus::Running),
                        reason: None,
                    }]
                }),
                cpu: Some(c.cpu.unwrap_or(0).to_string()),
                memory: c.memory.map(|m| m.to_string()),
                memory_reservation: c.memory_reservation.map(|m| m.to_string()),
                gpu_ids: (!c.gpu_ids.is_empty()).then(|| c.gpu_ids.clone()),
                neuron_device_ids: None,
                gpu_sharing_strategy: None,
            })
            .collect();
        Task {
            attachments: Some(self.attachments()),
            attributes: None,
            availability_zone: self.availability_zone.clone(),
            capacity_provider_name: self.capacity_provider_name.clone(),
            cluster_arn: Some(self.cluster_arn.clone()),
            connectivity: self.connectivity_at.map(|_| Connectivity::Connected),
            connectivity_at: self.connectivity_at,
            container_instance_arn: (!self.placement.fargate_pool)
                .then(|| self.placement.instance_arn.clone()),
            containers: Some(containers),
            cpu: self.cpu.clone(),
            created_at: Some(self.created_at),
            desired_status: Some(self.desired_status.as_str().into()),
            enable_execute_command: self.enable_execute_command,
            execution_stopped_at: self.execution_stopped_at,
            group: self.group.clone(),
            health_status: Some(self.health_status()),
            inference_accelerators: None,
            last_status: Some(self.last_status.as_str().into()),
            launch_type: Some(self.launch_type),
            memory: self.memory.clone(),
            overrides: Some(self.overrides.clone()),
            platform_version: self.platform_version.clone(),
            platform_family: self.platform_version.as_ref().map(|_| "Linux".into()),
            pull_started_at: self.pull_started_at,
            pull_stopped_at: self.pull_stopped_at,
            started_at: self.started_at,
            started_by: self.started_by.clone(),
            stop_code: self.stop_code,
            stopped_at: self.stopped_at,
            stopped_reason: self.stopped_reason.clone(),
            stopping_at: self.stopping_at,
            tags: with_tags.then(|| tags_to_wire(&self.tags)),
            task_arn: Some(self.arn.clone()),
            task_definition_arn: Some(self.task_definition_arn.clone()),
            version: self.version,
            ephemeral_storage: None,
            fargate_ephemeral_storage: None,
            trusted_execution_summary: None,
        }
    }

    fn attachments(&self) -> Vec<Attachment> {
        let Some(eni) = &self.eni else { return vec![] };
        let status = match self.last_status {
            TaskStatus::Provisioning | TaskStatus::Pending => "PRECREATED",
            TaskStatus::Stopped => "DELETED",
            TaskStatus::Deprovisioning => "DELETING",
            _ => "ATTACHED",
        };
        let kv = |k: &str, v: &str| KeyValuePair {
            name: Some(k.into()),
            value: Some(v.into()),
        };
        let mut details = vec![
            kv("subnetId", &eni.subnet_id),
            kv("networkInterfaceId", &eni.eni_id),
            kv("macAddress", &eni.mac_address),
        ];
        if let Some(ip) = &eni.private_ipv4_address {
            details.push(kv("privateIPv4Address", ip));
        }
        vec![Attachment {
            id: Some(eni.attachment_id.clone()),
            r#type: Some("ElasticNetworkInterface".into()),
            status: Some(status.into()),
            details: Some(details),
        }]
    }
}

/// Containers report PENDING, RUNNING or STOPPED in ECS.
fn container_status(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating => "PENDING",
        TaskStatus::Running | TaskStatus::Deactivating | TaskStatus::Stopping => "RUNNING",
        TaskStatus::Deprovisioning | TaskStatus::Stopped => "STOPPED",
    }
}

fn set_once<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn replace_if_some<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

#[cfg(test)]
mod tests;
