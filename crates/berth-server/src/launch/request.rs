//! A launch request: what RunTask, StartTask or a service asks to launch, validated and
//! with its task definition resolved ([`prepare`]), and where its tasks run: a launch
//! type, or a capacity provider strategy they are spread over ([`choose_capacity`]).

use berth_api::ecs::{
    CapacityProviderStrategyItem, Compatibility, LaunchType, NetworkConfiguration, NetworkMode,
    PropagateTags, Tag, TaskOverride,
};
use std::collections::BTreeMap;

use berth_api::error::ApiError;
use berth_model::capacity;
use berth_model::cluster::ClusterRecord;
use berth_model::fargate;
use berth_model::tags::{self, Tags};
use berth_model::task_definition::{tag_pairs, TaskDefinitionRecord};

use super::LaunchRequest;
use crate::context::Ctx;
use crate::ecs::task_definitions;
use crate::records::Record;

/// What a call asks to launch, before it is validated.
pub struct LaunchSpec<'a> {
    /// The cluster, as read (its revision guards the launch's commit).
    pub cluster: Record<ClusterRecord>,
    /// The task definition as the call names it (family, family:revision or ARN).
    pub task_definition: &'a str,
    pub launch_type: LaunchType,
    /// The capacity provider the launch type came from, if any.
    pub capacity_provider: Option<String>,
    pub overrides: Option<TaskOverride>,
    pub network: Option<&'a NetworkConfiguration>,
    /// The task group; `family:FAMILY` when absent.
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub tags: Option<&'a [Tag]>,
    pub propagate_tags: Option<PropagateTags>,
    pub enable_execute_command: bool,
}

/// Where a call's tasks run: a launch type, or a capacity provider strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Capacity {
    LaunchType(LaunchType),
    Strategy(Vec<CapacityProviderStrategyItem>),
}

/// What a call asks for: its launch type, else its capacity provider strategy, else the
/// cluster's default strategy, else EC2 (as ECS decides). A strategy must follow AWS's
/// rules and name only providers associated with the cluster.
pub fn choose_capacity(
    cluster: &berth_model::cluster::ClusterRecord,
    launch_type: Option<LaunchType>,
    strategy: Option<&[CapacityProviderStrategyItem]>,
) -> Result<Capacity, ApiError> {
    if launch_type.is_some() && strategy.is_some() {
        return Err(ApiError::InvalidParameter(
            "Specifying both a launchType and capacityProviderStrategy is not supported.".into(),
        ));
    }
    if let Some(lt) = launch_type {
        return Ok(Capacity::LaunchType(lt));
    }
    let default = &cluster.default_capacity_provider_strategy;
    let strategy = match strategy {
        Some(s) => s,
        None if !default.is_empty() => default.as_slice(),
        None => return Ok(Capacity::LaunchType(LaunchType::Ec2)),
    };
    capacity::validate(strategy)?;
    // Association with the cluster implies the provider exists (a provider is not
    // deleted while a cluster has it).
    for item in strategy {
        if !cluster.capacity_providers.contains(&item.capacity_provider) {
            return Err(ApiError::InvalidParameter(
                "The specified capacity provider strategy cannot contain a capacity provider \
                 that is not associated with the cluster. Associate the capacity provider with \
                 the cluster or specify a valid capacity provider and try again."
                    .into(),
            ));
        }
    }
    Ok(Capacity::Strategy(strategy.to_vec()))
}

/// The launch type of a provider's tasks: FARGATE for Fargate's, EC2 for one backed by
/// an Auto Scaling group (the container instances of the cluster).
fn launch_type_of(provider: &str) -> LaunchType {
    if capacity::is_fargate(provider) {
        LaunchType::Fargate
    } else {
        LaunchType::Ec2
    }
}

impl Capacity {
    /// The launch type and provider of each group of `count` new tasks, with how many go
    /// there, given the tasks each provider already holds.
    pub fn split(
        &self,
        held: &BTreeMap<String, u32>,
        count: u32,
    ) -> Vec<(LaunchType, Option<String>, u32)> {
        match self {
            Capacity::LaunchType(_) if count == 0 => Vec::new(),
            Capacity::LaunchType(lt) => vec![(*lt, None, count)],
            Capacity::Strategy(strategy) => {
                let placed = capacity::spread(strategy, held, count);
                strategy
                    .iter()
                    .map(|item| {
                        let n = placed
                            .iter()
                            .filter(|p| **p == item.capacity_provider)
                            .count() as u32;
                        (
                            launch_type_of(&item.capacity_provider),
                            Some(item.capacity_provider.clone()),
                            n,
                        )
                    })
                    .filter(|(_, _, n)| *n > 0)
                    .collect()
            }
        }
    }

    /// What a deployment recorded: its strategy, else its launch type (EC2 when none).
    pub fn recorded(
        launch_type: Option<LaunchType>,
        strategy: Option<&[CapacityProviderStrategyItem]>,
    ) -> Capacity {
        match strategy {
            Some(s) => Capacity::Strategy(s.to_vec()),
            None => Capacity::LaunchType(launch_type.unwrap_or(LaunchType::Ec2)),
        }
    }

    /// The launch type and the strategy, as a deployment records them (one or the
    /// other).
    pub fn parts(
        &self,
    ) -> (
        Option<LaunchType>,
        Option<Vec<CapacityProviderStrategyItem>>,
    ) {
        match self {
            Capacity::LaunchType(lt) => (Some(*lt), None),
            Capacity::Strategy(s) => (None, Some(s.clone())),
        }
    }

    /// The launch type and provider a single group of tasks uses (a service's
    /// instance-bound launches): the strategy's first provider.
    pub fn first(&self) -> (LaunchType, Option<String>) {
        match self {
            Capacity::LaunchType(lt) => (*lt, None),
            Capacity::Strategy(s) => match s.first() {
                Some(i) => (
                    launch_type_of(&i.capacity_provider),
                    Some(i.capacity_provider.clone()),
                ),
                None => (LaunchType::Ec2, None),
            },
        }
    }
}

/// Validates what a call asks to launch and resolves its task definition: the launch
/// type against the definition's compatibilities, the network configuration against its
/// network mode, the overrides against its containers and Fargate's sizes, and the tags.
pub async fn prepare(ctx: &Ctx, spec: LaunchSpec<'_>) -> Result<LaunchRequest, ApiError> {
    let LaunchSpec {
        cluster,
        task_definition,
        launch_type,
        capacity_provider,
        overrides,
        network,
        group,
        started_by,
        tags: request_tags,
        propagate_tags: propagate,
        enable_execute_command,
    } = spec;
    let def = task_definitions::resolve(ctx, task_definition)
        .await?
        .ok_or_else(|| ApiError::Client("TaskDefinition not found.".into()))?;
    if !def.value.is_active() {
        return Err(ApiError::Client(format!(
            "TaskDefinition is inactive: {} can no longer start tasks; register a new revision.",
            def.value
                .definition
                .task_definition_arn
                .as_deref()
                .unwrap_or(task_definition)
        )));
    }
    let compat = match launch_type {
        LaunchType::Fargate => Compatibility::Fargate,
        LaunchType::Ec2 => Compatibility::Ec2,
        other => {
            return Err(ApiError::UnsupportedFeature(format!(
                "Launch type {} is not supported by Berth; use EC2 or FARGATE.",
                other.as_str()
            )))
        }
    };
    if !def.value.supports(compat) {
        return Err(ApiError::InvalidParameter(format!(
            "Task definition does not support launch_type {}.",
            launch_type.as_str()
        )));
    }
    let network =
        match (def.value.network_mode(), network) {
            (
                NetworkMode::Awsvpc,
                Some(NetworkConfiguration {
                    awsvpc_configuration: Some(c),
                }),
            ) => {
                if c.subnets.is_empty() {
                    return Err(ApiError::InvalidParameter(
                        "subnets can not be empty.".into(),
                    ));
                }
                Some(c.clone())
            }
            (NetworkMode::Awsvpc, _) => return Err(ApiError::InvalidParameter(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
                    .into(),
            )),
            (_, Some(_)) => {
                return Err(ApiError::InvalidParameter(
                    "Network Configuration is not valid for the given networkMode of this task \
                 definition."
                        .into(),
                ))
            }
            (_, None) => None,
        };
    let overrides = overrides.unwrap_or_default();
    validate_overrides(&def.value, &overrides, launch_type)?;
    if let Some(s) = &started_by {
        if s.len() > 128 {
            return Err(ApiError::InvalidParameter(
                "startedBy may be at most 128 characters.".into(),
            ));
        }
    }
    let mut tags = Tags::new();
    if propagate == Some(PropagateTags::TaskDefinition) {
        tags::merge(&mut tags, def.value.tags.clone())?;
    }
    tags::merge(&mut tags, tag_pairs(request_tags.unwrap_or_default())?)?;
    let group = group.unwrap_or_else(|| format!("family:{}", def.value.family()));
    Ok(LaunchRequest {
        cluster,
        def,
        launch_type,
        capacity_provider,
        overrides,
        network,
        group,
        started_by,
        tags,
        enable_execute_command,
    })
}

fn validate_overrides(
    def: &TaskDefinitionRecord,
    overrides: &TaskOverride,
    launch_type: LaunchType,
) -> Result<(), ApiError> {
    let containers = def
        .definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    for o in overrides.container_overrides.iter().flatten() {
        let name = o.name.as_deref().unwrap_or_default();
        if !containers.iter().any(|c| c.name.as_deref() == Some(name)) {
            return Err(ApiError::InvalidParameter(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
    }
    let cpu = match &overrides.cpu {
        Some(s) => Some(fargate::parse_cpu_units(s).ok_or_else(|| {
            ApiError::InvalidParameter(format!("Invalid 'cpu' override: '{s}'."))
        })?),
        None => def.cpu_units(),
    };
    let memory = match &overrides.memory {
        Some(s) => Some(fargate::parse_memory_mib(s).ok_or_else(|| {
            ApiError::InvalidParameter(format!("Invalid 'memory' override: '{s}'."))
        })?),
        None => def.memory_mib(),
    };
    if launch_type == LaunchType::Fargate && (overrides.cpu.is_some() || overrides.memory.is_some())
    {
        if let (Some(c), Some(m)) = (cpu, memory) {
            if !fargate::is_valid_size(c, m) {
                return Err(ApiError::InvalidParameter(format!(
                    "No Fargate configuration exists for given values: {c} CPU, {m} memory."
                )));
            }
        }
    }
    Ok(())
}
