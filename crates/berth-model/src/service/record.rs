//! A service as stored: what it asks for, its deployments (the PRIMARY one the
//! controller rolls toward, ACTIVE ones still draining), its events (newest first), and
//! the wire shapes DescribeServices returns.

use berth_api::ecs::{
    CapacityProviderStrategyItem, Deployment, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentController, DeploymentControllerType, DeploymentRolloutState, LaunchType,
    LoadBalancer, NetworkConfiguration, PlacementConstraint, PlacementStrategy, PropagateTags,
    SchedulingStrategy, Service, ServiceDeploymentStatus, ServiceEvent, Tag, Timestamp,
};
use berth_api::error::ApiError;
use serde::{Deserialize, Serialize};

use crate::service::task_set::{TaskSetRecord, TaskSetStatus};
use crate::tags::Tags;

/// Events a service keeps; older ones fall off, as in ECS.
pub const MAX_EVENTS: usize = 100;

/// ACTIVE, DRAINING (deleted, tasks still stopping) or INACTIVE (deleted and done).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceStatus {
    Active,
    Draining,
    Inactive,
}

impl ServiceStatus {
    /// As ECS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Active => "ACTIVE",
            ServiceStatus::Draining => "DRAINING",
            ServiceStatus::Inactive => "INACTIVE",
        }
    }
}

/// The rolling-update settings with ECS's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rolling {
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub circuit_breaker: bool,
    pub rollback: bool,
}

impl Rolling {
    /// Reads a request's deploymentConfiguration over ECS's defaults for the strategy
    /// (REPLICA: 100% / 200%; DAEMON: 0% / 100%), or over `current` on an update.
    pub fn from_request(
        given: Option<&DeploymentConfiguration>,
        scheduling: SchedulingStrategy,
        current: Option<Rolling>,
    ) -> Result<Rolling, ApiError> {
        let base = current.unwrap_or(match scheduling {
            SchedulingStrategy::Daemon => Rolling {
                minimum_healthy_percent: 0,
                maximum_percent: 100,
                circuit_breaker: false,
                rollback: false,
            },
            _ => Rolling {
                minimum_healthy_percent: 100,
                maximum_percent: 200,
                circuit_breaker: false,
                rollback: false,
            },
        });
        let Some(given) = given else {
            return Ok(base);
        };
        let percent = |v: Option<i32>, default: u32, name: &str, (lo, hi): (u32, u32)| {
            let v = v.map_or(i64::from(default), i64::from);
            if (i64::from(lo)..=i64::from(hi)).contains(&v) {
                Ok(v as u32)
            } else {
                Err(ApiError::InvalidParameter(format!(
                    "{name} must be between {lo} and {hi}; got {v}."
                )))
            }
        };
        let minimum_healthy_percent = percent(
            given.minimum_healthy_percent,
            base.minimum_healthy_percent,
            "deploymentConfiguration.minimumHealthyPercent",
            (0, 100),
        )?;
        let maximum_percent = percent(
            given.maximum_percent,
            base.maximum_percent,
            "deploymentConfiguration.maximumPercent",
            (100, 2000),
        )?;
        let (circuit_breaker, rollback) = match &given.deployment_circuit_breaker {
            Some(DeploymentCircuitBreaker {
                enable, rollback, ..
            }) => (*enable, *rollback),
            None => (base.circuit_breaker, base.rollback),
        };
        Ok(Rolling {
            minimum_healthy_percent,
            maximum_percent,
            circuit_breaker,
            rollback,
        })
    }

    /// The wire form.
    pub fn to_wire(self) -> DeploymentConfiguration {
        DeploymentConfiguration {
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: self.circuit_breaker,
                rollback: self.rollback,
                ..Default::default()
            }),
            maximum_percent: Some(self.maximum_percent as i32),
            minimum_healthy_percent: Some(self.minimum_healthy_percent as i32),
            ..Default::default()
        }
    }
}

/// PRIMARY (the one the service rolls toward) or ACTIVE (older, its tasks going away).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    Primary,
    Active,
}

/// How a deployment's rollout is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rollout {
    InProgress,
    Completed,
    Failed,
}

impl Rollout {
    fn to_wire(self) -> DeploymentRolloutState {
        match self {
            Rollout::InProgress => DeploymentRolloutState::InProgress,
            Rollout::Completed => DeploymentRolloutState::Completed,
            Rollout::Failed => DeploymentRolloutState::Failed,
        }
    }
}

/// One deployment of a service: a task definition and network settings to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// `ecs-svc/` and 19 digits, as ECS names them; tasks carry it as startedBy.
    pub id: String,
    pub status: DeploymentStatus,
    pub task_definition: String,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub desired_count: u32,
    pub pending_count: u32,
    pub running_count: u32,
    pub failed_tasks: u32,
    pub rollout: Rollout,
    pub rollout_reason: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// For a deployment the circuit breaker started: the failed deployment it rolls back.
    #[serde(default)]
    pub rollback_of: Option<String>,
    /// Since when the deployment's tasks have stood at its desired count, all healthy,
    /// uninterrupted; it completes once that has lasted [`STEADY_CONFIRMATION_SECS`].
    #[serde(default)]
    pub steady_since: Option<Timestamp>,
}

/// How long a deployment's tasks must stand at its desired count, healthy, before it
/// completes: tasks that start and soon exit (or crash-loop) must not complete a
/// deployment before the circuit breaker can see them fail, however quickly the
/// controller looks.
pub const STEADY_CONFIRMATION_SECS: f64 = 3.0;

impl DeploymentRecord {
    /// Its status as a service deployment (ListServiceDeployments): in progress,
    /// successful, or stopped (failed, or replaced before it finished); rollbacks say so.
    pub fn service_deployment_status(&self) -> (ServiceDeploymentStatus, String) {
        let rollback = self.rollback_of.is_some();
        let reason = self.rollout_reason.clone();
        match (self.rollout, self.status) {
            (Rollout::InProgress, DeploymentStatus::Primary) if rollback => {
                (ServiceDeploymentStatus::RollbackInProgress, reason)
            }
            (Rollout::InProgress, DeploymentStatus::Primary) => {
                (ServiceDeploymentStatus::InProgress, reason)
            }
            (Rollout::Completed, _) if rollback => {
                (ServiceDeploymentStatus::RollbackSuccessful, reason)
            }
            (Rollout::Completed, _) => (ServiceDeploymentStatus::Successful, reason),
            (Rollout::Failed, _) => (ServiceDeploymentStatus::Stopped, reason),
            (Rollout::InProgress, DeploymentStatus::Active) => (
                ServiceDeploymentStatus::Stopped,
                "Replaced by a newer deployment before it completed.".into(),
            ),
        }
    }

    /// The wire form.
    pub fn to_wire(&self) -> Deployment {
        Deployment {
            id: Some(self.id.clone()),
            status: Some(
                match self.status {
                    DeploymentStatus::Primary => "PRIMARY",
                    DeploymentStatus::Active => "ACTIVE",
                }
                .into(),
            ),
            task_definition: Some(self.task_definition.clone()),
            desired_count: self.desired_count as i32,
            pending_count: self.pending_count as i32,
            running_count: self.running_count as i32,
            failed_tasks: self.failed_tasks as i32,
            created_at: Some(self.created_at),
            updated_at: Some(self.updated_at),
            capacity_provider_strategy: self.capacity_provider_strategy.clone(),
            launch_type: self.launch_type,
            platform_version: (self.launch_type == Some(LaunchType::Fargate))
                .then(|| "1.4.0".to_string()),
            network_configuration: self.network_configuration.clone(),
            rollout_state: Some(self.rollout.to_wire()),
            rollout_state_reason: Some(self.rollout_reason.clone()),
            ..Default::default()
        }
    }
}

/// The launch settings a service reports, borrowed from where they live.
struct LaunchSettings<'a> {
    launch_type: Option<LaunchType>,
    capacity_provider_strategy: Option<&'a Vec<CapacityProviderStrategyItem>>,
    task_definition: Option<&'a str>,
    network_configuration: Option<&'a NetworkConfiguration>,
}

/// One line of a service's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: String,
    pub created_at: Timestamp,
    pub message: String,
}

/// A service as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    pub arn: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub status: ServiceStatus,
    pub desired_count: u32,
    pub scheduling_strategy: SchedulingStrategy,
    pub load_balancers: Vec<LoadBalancer>,
    pub health_check_grace_period_seconds: Option<u32>,
    pub rolling: Rolling,
    pub placement_constraints: Vec<PlacementConstraint>,
    pub placement_strategy: Vec<PlacementStrategy>,
    pub propagate_tags: Option<PropagateTags>,
    pub enable_ecs_managed_tags: bool,
    pub enable_execute_command: bool,
    pub tags: Tags,
    pub created_at: Timestamp,
    pub created_by: String,
    /// The service role CreateService was given (`role`), as an ARN.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The deployment controller CreateService was given (ECS when none was).
    #[serde(default)]
    pub deployment_controller: Option<DeploymentController>,
    /// PRIMARY first. None for a service with the EXTERNAL deployment controller.
    pub deployments: Vec<DeploymentRecord>,
    /// The task sets of a service with the EXTERNAL deployment controller.
    #[serde(default)]
    pub task_sets: Vec<TaskSetRecord>,
    /// Newest first, at most [`MAX_EVENTS`].
    pub events: Vec<EventRecord>,
    /// Deployments that finished or were replaced, newest first (for
    /// ListServiceDeployments), at most [`MAX_EVENTS`].
    pub past_deployments: Vec<DeploymentRecord>,
}

impl ServiceRecord {
    /// The deployment the service rolls toward. Every service with the ECS deployment
    /// controller has one; EXTERNAL ones have task sets instead.
    pub fn primary(&self) -> &DeploymentRecord {
        &self.deployments[0]
    }

    /// Whether an external controller deploys it through task sets.
    pub fn is_external(&self) -> bool {
        self.deployment_controller
            .as_ref()
            .is_some_and(|c| c.r#type == DeploymentControllerType::External)
    }

    /// Its PRIMARY task set (EXTERNAL services).
    pub fn primary_task_set(&self) -> Option<&TaskSetRecord> {
        self.task_sets
            .iter()
            .find(|t| t.status == TaskSetStatus::Primary)
    }

    /// What the service launches with, as DescribeServices reports it: its primary
    /// deployment's, or its primary task set's.
    fn launch_settings(&self) -> LaunchSettings<'_> {
        if let Some(d) = self.deployments.first() {
            return LaunchSettings {
                launch_type: d.launch_type,
                capacity_provider_strategy: d.capacity_provider_strategy.as_ref(),
                task_definition: Some(&d.task_definition),
                network_configuration: d.network_configuration.as_ref(),
            };
        }
        let primary = self.primary_task_set();
        LaunchSettings {
            launch_type: primary.and_then(|t| t.launch_type),
            capacity_provider_strategy: primary.and_then(|t| t.capacity_provider_strategy.as_ref()),
            task_definition: primary.map(|t| t.task_definition.as_str()),
            network_configuration: primary.and_then(|t| t.network_configuration.as_ref()),
        }
    }

    /// Its launch type, as ListServices filters by it.
    pub fn launch_type(&self) -> Option<LaunchType> {
        self.launch_settings().launch_type
    }

    /// Adds an event at the front, dropping the oldest past [`MAX_EVENTS`].
    pub fn push_event(&mut self, id: String, created_at: Timestamp, message: String) {
        self.events.insert(
            0,
            EventRecord {
                id,
                created_at,
                message,
            },
        );
        self.events.truncate(MAX_EVENTS);
    }

    /// The wire form, with the running and pending counts of all its deployments (or task
    /// sets).
    pub fn to_wire(&self, with_tags: bool) -> Service {
        let launch = self.launch_settings();
        let sum = |f: fn(&DeploymentRecord) -> u32, g: fn(&TaskSetRecord) -> u32| {
            (self.deployments.iter().map(f).sum::<u32>()
                + self.task_sets.iter().map(g).sum::<u32>()) as i32
        };
        Service {
            service_arn: Some(self.arn.clone()),
            service_name: Some(self.name.clone()),
            cluster_arn: Some(self.cluster_arn.clone()),
            load_balancers: Some(self.load_balancers.clone()),
            service_registries: Some(Vec::new()),
            status: Some(self.status.as_str().into()),
            desired_count: self.desired_count as i32,
            running_count: sum(|d| d.running_count, |t| t.running_count),
            pending_count: sum(|d| d.pending_count, |t| t.pending_count),
            launch_type: launch.launch_type,
            capacity_provider_strategy: launch.capacity_provider_strategy.cloned(),
            platform_version: (launch.launch_type == Some(LaunchType::Fargate))
                .then(|| "LATEST".to_string()),
            task_definition: launch.task_definition.map(str::to_string),
            task_sets: self.is_external().then(|| {
                self.task_sets
                    .iter()
                    .map(|t| t.to_wire(&self.arn, &self.cluster_arn, false))
                    .collect()
            }),
            deployment_configuration: Some(self.rolling.to_wire()),
            deployments: Some(
                self.deployments
                    .iter()
                    .map(DeploymentRecord::to_wire)
                    .collect(),
            ),
            events: Some(
                self.events
                    .iter()
                    .map(|e| ServiceEvent {
                        id: Some(e.id.clone()),
                        created_at: Some(e.created_at),
                        message: Some(e.message.clone()),
                    })
                    .collect(),
            ),
            created_at: Some(self.created_at),
            placement_constraints: Some(self.placement_constraints.clone()),
            placement_strategy: Some(self.placement_strategy.clone()),
            network_configuration: launch.network_configuration.cloned(),
            health_check_grace_period_seconds: self
                .health_check_grace_period_seconds
                .map(|s| s as i32),
            scheduling_strategy: Some(self.scheduling_strategy),
            tags: with_tags.then(|| {
                self.tags
                    .iter()
                    .map(|(k, v)| Tag {
                        key: Some(k.clone()),
                        value: Some(v.clone()),
                    })
                    .collect()
            }),
            created_by: Some(self.created_by.clone()),
            enable_ecs_managed_tags: self.enable_ecs_managed_tags,
            propagate_tags: self.propagate_tags,
            enable_execute_command: self.enable_execute_command,
            role_arn: self.role_arn.clone(),
            deployment_controller: Some(self.deployment_controller.clone().unwrap_or(
                DeploymentController {
                    r#type: DeploymentControllerType::Ecs,
                },
            )),
            ..Default::default()
        }
    }
}

/// The group a service's tasks carry, as ECS sets it.
pub fn task_group(service_name: &str) -> String {
    format!("service:{service_name}")
}
