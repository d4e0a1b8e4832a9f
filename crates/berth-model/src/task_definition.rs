//! Task definitions: the rules RegisterTaskDefinition enforces (names, essential
//! containers, memory, port mappings per network mode, Fargate sizes) and the fields ECS
//! computes on registration (normalized cpu/memory, compatibilities, requiresAttributes,
//! status, registeredAt).
//!
//! A registered definition is stored as ECS returns it: every member AWS accepts is kept
//! in the wire shape, so DescribeTaskDefinition gives back exactly what was registered.

use std::collections::{BTreeSet, HashSet};

use berth_api::capability as cap;
use berth_api::ecs::{
    Attribute, Compatibility, ContainerCondition, ContainerDefinition, FirelensConfigurationType,
    LogDriver, NetworkMode, RegisterTaskDefinitionRequest, TaskDefinition, TaskDefinitionStatus,
    Timestamp,
};
use berth_api::error::ApiError;
use serde::{Deserialize, Serialize};

use crate::fargate;
use crate::names::is_valid_name;
use crate::tags::{self, Tags};

/// A stored revision: the definition as ECS returns it, plus its tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDefinitionRecord {
    pub definition: TaskDefinition,
    pub tags: Tags,
}

impl TaskDefinitionRecord {
    /// The family name.
    pub fn family(&self) -> &str {
        self.definition.family.as_deref().unwrap_or_default()
    }
    /// Whether the revision is ACTIVE (usable by RunTask and services).
    pub fn is_active(&self) -> bool {
        self.definition.status == Some(TaskDefinitionStatus::Active)
    }
    /// The task-level CPU units, when set.
    pub fn cpu_units(&self) -> Option<u32> {
        self.definition
            .cpu
            .as_deref()
            .and_then(fargate::parse_cpu_units)
    }
    /// The task-level memory in MiB, when set.
    pub fn memory_mib(&self) -> Option<u32> {
        self.definition
            .memory
            .as_deref()
            .and_then(fargate::parse_memory_mib)
    }
    /// The network mode (bridge when none was given, as on EC2).
    pub fn network_mode(&self) -> NetworkMode {
        self.definition.network_mode.unwrap_or(NetworkMode::Bridge)
    }
    /// Whether the definition may run with this compatibility.
    pub fn supports(&self, c: Compatibility) -> bool {
        self.definition
            .compatibilities
            .as_ref()
            .is_some_and(|cs| cs.contains(&c))
    }
}

/// Where a registered revision lives and when it was registered.
pub struct Registration<'a> {
    pub arn: String,
    pub revision: i32,
    pub registered_at: Timestamp,
    pub registered_by: &'a str,
}

fn client(msg: impl Into<String>) -> ApiError {
    ApiError::Client(msg.into())
}

/// Validates a RegisterTaskDefinition request and builds the revision ECS would store.
pub fn register(
    req: RegisterTaskDefinitionRequest,
    at: Registration<'_>,
) -> Result<TaskDefinitionRecord, ApiError> {
    if !is_valid_name(&req.family) {
        return Err(invalid_family());
    }
    let mut record_tags = Tags::new();
    tags::merge(
        &mut record_tags,
        tag_pairs(req.tags.as_deref().unwrap_or_default())?,
    )?;

    let requires = req.requires_compatibilities.clone().unwrap_or_default();
    let requires_fargate = requires.contains(&Compatibility::Fargate);
    let network_mode = req.network_mode.unwrap_or(NetworkMode::Bridge);

    let cpu = normalize(req.cpu.as_deref(), fargate::parse_cpu_units, "cpu")?;
    let memory = normalize(req.memory.as_deref(), fargate::parse_memory_mib, "memory")?;

    validate_containers(
        &req.container_definitions,
        network_mode,
        memory.is_some(),
        requires_fargate,
    )?;
    validate_volumes(&req)?;

    if requires_fargate {
        if network_mode != NetworkMode::Awsvpc {
            return Err(client("Fargate only supports network mode 'awsvpc'."));
        }
        let (Some(cpu_units), Some(mem)) = (cpu, memory) else {
            return Err(client(if cpu.is_none() {
                "Fargate requires that 'cpu' be defined at the task level."
            } else {
                "Fargate requires that 'memory' be defined at the task level."
            }));
        };
        if !fargate::is_valid_size(cpu_units, mem) {
            return Err(client(format!(
                "No Fargate configuration exists for given values: {cpu_units} CPU, {mem} \
                 memory. See the Amazon ECS documentation for the valid values."
            )));
        }
        let awslogs = req.container_definitions.iter().any(|c| {
            c.log_configuration
                .as_ref()
                .is_some_and(|l| l.log_driver == LogDriver::Awslogs)
        });
        if awslogs && req.execution_role_arn.is_none() {
            return Err(client(
                "Fargate requires task definition to have execution role ARN to support log \
                 driver awslogs.",
            ));
        }
        if req.pid_mode == Some(berth_api::ecs::PidMode::Host) {
            return Err(client(
                "Tasks using the Fargate launch type do not support pidMode 'host'. The \
                 supported value for pidMode is 'task'.",
            ));
        }
        if req.ipc_mode.is_some() {
            return Err(client(
                "Tasks using the Fargate launch type do not support ipcMode.",
            ));
        }
        for c in &req.container_definitions {
            if c.privileged == Some(true) {
                return Err(client(format!(
                    "Invalid setting for container '{}'. 'privileged' is not supported on \
                     Fargate.",
                    c.name.as_deref().unwrap_or_default()
                )));
            }
        }
    } else if let Some(cpu_units) = cpu {
        if !(128..=196_608).contains(&cpu_units) {
            return Err(client(
                "Invalid 'cpu' setting for task. The task CPU must be between 128 and 196608 \
                 CPU units.",
            ));
        }
    }
    if let Some(mem) = memory {
        let containers_total: i64 = req
            .container_definitions
            .iter()
            .filter_map(|c| c.memory)
            .map(i64::from)
            .sum();
        if containers_total > i64::from(mem) {
            return Err(client(format!(
                "Invalid 'memory' setting for task. The containers' hard memory limits \
                 ({containers_total} MiB) exceed the task memory ({mem} MiB)."
            )));
        }
    }

    let fargate_ok = network_mode == NetworkMode::Awsvpc
        && matches!((cpu, memory), (Some(c), Some(m)) if fargate::is_valid_size(c, m))
        && req.pid_mode != Some(berth_api::ecs::PidMode::Host)
        && req.ipc_mode.is_none()
        && !req
            .container_definitions
            .iter()
            .any(|c| c.privileged == Some(true));
    let compatibilities = if fargate_ok {
        vec![Compatibility::Ec2, Compatibility::Fargate]
    } else if network_mode == NetworkMode::Awsvpc {
        vec![Compatibility::Ec2]
    } else {
        vec![Compatibility::External, Compatibility::Ec2]
    };
    for r in &requires {
        if matches!(
            r,
            Compatibility::Ec2 | Compatibility::Fargate | Compatibility::External
        ) && !compatibilities.contains(r)
        {
            return Err(client(format!(
                "Task definition does not support launch_type {}.",
                r.as_str()
            )));
        }
        if *r == Compatibility::ManagedInstances {
            return Err(ApiError::UnsupportedFeature(
                "MANAGED_INSTANCES is not supported by Berth.".into(),
            ));
        }
    }

    let requires_attributes = required_attributes(&req, network_mode);
    let container_definitions = req
        .container_definitions
        .into_iter()
        .map(|c| with_defaults(c, network_mode))
        .collect();
    let definition = TaskDefinition {
        task_definition_arn: Some(at.arn),
        container_definitions: Some(container_definitions),
        family: Some(req.family),
        task_role_arn: req.task_role_arn,
        execution_role_arn: req.execution_role_arn,
        network_mode: Some(network_mode),
        revision: at.revision,
        volumes: Some(
            req.volumes
                .unwrap_or_default()
                .into_iter()
                .map(|mut v| {
                    // EFS mounts the file system's root when no directory is given.
                    if let Some(efs) = &mut v.efs_volume_configuration {
                        efs.root_directory.get_or_insert_with(|| "/".into());
                    }
                    v
                })
                .collect(),
        ),
        status: Some(TaskDefinitionStatus::Active),
        requires_attributes: Some(requires_attributes),
        placement_constraints: Some(req.placement_constraints.unwrap_or_default()),
        compatibilities: Some(compatibilities),
        runtime_platform: req.runtime_platform,
        requires_compatibilities: (!requires.is_empty()).then_some(requires),
        cpu: cpu.map(|c| c.to_string()),
        memory: memory.map(|m| m.to_string()),
        inference_accelerators: req.inference_accelerators,
        pid_mode: req.pid_mode,
        ipc_mode: req.ipc_mode,
        proxy_configuration: req.proxy_configuration,
        registered_at: Some(at.registered_at),
        deregistered_at: None,
        delete_requested_at: None,
        registered_by: Some(at.registered_by.to_string()),
        ephemeral_storage: req.ephemeral_storage,
        enable_fault_injection: req.enable_fault_injection,
        trusted_execution_configuration: req.trusted_execution_configuration,
    };
    Ok(TaskDefinitionRecord {
        definition,
        tags: record_tags,
    })
}

/// Fills in what ECS fills in on registration: `essential` (true), `cpu` (0), empty lists
/// for `portMappings`, `environment`, `mountPoints`, `volumesFrom` and `systemControls`,
/// and in awsvpc and host mode each port mapping's `hostPort` (its containerPort) and
/// `protocol` (tcp).
fn with_defaults(mut c: ContainerDefinition, mode: NetworkMode) -> ContainerDefinition {
    c.essential.get_or_insert(true);
    c.cpu.get_or_insert(0);
    c.port_mappings.get_or_insert_with(Vec::new);
    c.environment.get_or_insert_with(Vec::new);
    c.mount_points.get_or_insert_with(Vec::new);
    c.volumes_from.get_or_insert_with(Vec::new);
    c.system_controls.get_or_insert_with(Vec::new);
    for pm in c.port_mappings.iter_mut().flatten() {
        if matches!(mode, NetworkMode::Awsvpc | NetworkMode::Host) && pm.host_port.is_none() {
            pm.host_port = pm.container_port;
        }
        pm.protocol
            .get_or_insert(berth_api::ecs::TransportProtocol::Tcp);
    }
    c
}

/// The error for a family name outside ECS's pattern.
pub fn invalid_family() -> ApiError {
    client(
        "Family name must be 1-255 characters long and contain only letters (uppercase and \
         lowercase), numbers, hyphens and underscores.",
    )
}

/// Converts wire tags to pairs, rejecting a tag without a key.
pub fn tag_pairs(tags: &[berth_api::ecs::Tag]) -> Result<Vec<(String, String)>, ApiError> {
    tags.iter()
        .map(|t| match &t.key {
            Some(k) => Ok((k.clone(), t.value.clone().unwrap_or_default())),
            None => Err(ApiError::InvalidParameter(
                "Tag keys must not be empty.".into(),
            )),
        })
        .collect()
}

fn normalize(
    value: Option<&str>,
    parse: fn(&str) -> Option<u32>,
    what: &str,
) -> Result<Option<u32>, ApiError> {
    match value {
        None => Ok(None),
        Some(s) => parse(s)
            .map(Some)
            .ok_or_else(|| client(format!("Invalid '{what}' setting for task: '{s}'."))),
    }
}

fn validate_containers(
    containers: &[ContainerDefinition],
    mode: NetworkMode,
    task_memory: bool,
    fargate: bool,
) -> Result<(), ApiError> {
    if containers.is_empty() {
        return Err(client(
            "Task definition must contain at least one container definition.",
        ));
    }
    if containers.len() > 10 {
        return Err(client(
            "Too many containers: a task definition may hold at most 10.",
        ));
    }
    let mut names = HashSet::new();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(client("Container.name should not be null or empty."));
        }
        if !is_valid_name(name) {
            return Err(client(format!(
                "Container name '{name}' is invalid: up to 255 letters (uppercase and \
                 lowercase), numbers, hyphens and underscores are allowed."
            )));
        }
        if !names.insert(name) {
            return Err(client(format!(
                "Container names must be unique within a task definition: '{name}' appears \
                 more than once."
            )));
        }
        if c.image.as_deref().unwrap_or_default().trim().is_empty() {
            return Err(client("Container.image should not be null or empty."));
        }
        validate_memory(c, name, task_memory, fargate)?;
        validate_ports(c, name, mode)?;
        if c.links.as_ref().is_some_and(|l| !l.is_empty()) && mode != NetworkMode::Bridge {
            return Err(client(format!(
                "Invalid setting for container '{name}'. Links are only supported in network \
                 mode 'bridge'."
            )));
        }
        if let Some(t) = c.stop_timeout {
            if !(0..=120).contains(&t) && fargate {
                return Err(client(format!(
                    "Invalid setting for container '{name}'. 'stopTimeout' on Fargate must be \
                     between 0 and 120 seconds."
                )));
            }
        }
    }
    if !containers.iter().any(|c| c.essential.unwrap_or(true)) {
        return Err(client(
            "Task definition must contain at least one essential container.",
        ));
    }
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        for dep in c.depends_on.as_deref().unwrap_or_default() {
            let Some(target) = containers
                .iter()
                .find(|o| o.name.as_deref() == Some(dep.container_name.as_str()))
            else {
                return Err(client(format!(
                    "Invalid setting for container '{name}'. dependsOn names container '{}', \
                     which is not in the task definition.",
                    dep.container_name
                )));
            };
            if dep.container_name == name {
                return Err(client(format!(
                    "Invalid setting for container '{name}'. A container cannot depend on \
                     itself."
                )));
            }
            if dep.condition == ContainerCondition::Healthy && target.health_check.is_none() {
                return Err(client(format!(
                    "Invalid setting for container '{name}'. dependsOn condition HEALTHY needs \
                     a healthCheck on container '{}'.",
                    dep.container_name
                )));
            }
        }
    }
    if let Some(cycle_at) = dependency_cycle(containers) {
        return Err(client(format!(
            "Invalid dependsOn: container '{cycle_at}' is part of a dependency cycle."
        )));
    }
    Ok(())
}

fn validate_memory(
    c: &ContainerDefinition,
    name: &str,
    task_memory: bool,
    fargate: bool,
) -> Result<(), ApiError> {
    if !task_memory && !fargate && c.memory.is_none() && c.memory_reservation.is_none() {
        return Err(client(format!(
            "Invalid setting for container '{name}'. At least one of 'memory' or \
             'memoryReservation' must be specified."
        )));
    }
    for (field, v) in [
        ("memory", c.memory),
        ("memoryReservation", c.memory_reservation),
    ] {
        if let Some(v) = v {
            if v < 6 {
                return Err(client(format!(
                    "Invalid setting for container '{name}'. '{field}' must be at least 6 MiB."
                )));
            }
        }
    }
    if let (Some(hard), Some(soft)) = (c.memory, c.memory_reservation) {
        if soft > hard {
            return Err(client(format!(
                "Invalid setting for container '{name}'. 'memoryReservation' must be less than \
                 or equal to 'memory'."
            )));
        }
    }
    if c.cpu.is_some_and(|cpu| cpu < 0) {
        return Err(client(format!(
            "Invalid setting for container '{name}'. 'cpu' must not be negative."
        )));
    }
    Ok(())
}

fn validate_ports(c: &ContainerDefinition, name: &str, mode: NetworkMode) -> Result<(), ApiError> {
    let mappings = c.port_mappings.as_deref().unwrap_or_default();
    if mode == NetworkMode::None && !mappings.is_empty() {
        return Err(client(format!(
            "Invalid setting for container '{name}'. Port mappings are not supported in \
             network mode 'none'."
        )));
    }
    for pm in mappings {
        let Some(container_port) = pm.container_port else {
            if pm.container_port_range.is_some() {
                continue;
            }
            return Err(client(format!(
                "Invalid setting for container '{name}'. A port mapping needs 'containerPort'."
            )));
        };
        if !(1..=65535).contains(&container_port) {
            return Err(client(format!(
                "Invalid setting for container '{name}'. containerPort {container_port} is \
                 outside 1-65535."
            )));
        }
        if let Some(host_port) = pm.host_port {
            if !(0..=65535).contains(&host_port) {
                return Err(client(format!(
                    "Invalid setting for container '{name}'. hostPort {host_port} is outside \
                     0-65535."
                )));
            }
            if matches!(mode, NetworkMode::Awsvpc | NetworkMode::Host)
                && host_port != container_port
            {
                return Err(client(format!(
                    "When networkMode={}, the host ports and container ports in port mappings \
                     must match.",
                    mode.as_str()
                )));
            }
        }
    }
    Ok(())
}

fn validate_volumes(req: &RegisterTaskDefinitionRequest) -> Result<(), ApiError> {
    let mut names = HashSet::new();
    for v in req.volumes.as_deref().unwrap_or_default() {
        let name = v.name.as_deref().unwrap_or_default();
        if !is_valid_name(name) {
            return Err(client(format!("Volume name '{name}' is invalid.")));
        }
        if !names.insert(name) {
            return Err(client(format!(
                "Volume name '{name}' appears more than once."
            )));
        }
    }
    for c in &req.container_definitions {
        for mp in c.mount_points.as_deref().unwrap_or_default() {
            let source = mp.source_volume.as_deref().unwrap_or_default();
            if !names.contains(source) {
                return Err(client(format!(
                    "Invalid 'mountPoints' setting for container '{}'. sourceVolume '{source}' \
                     is not a volume of the task definition.",
                    c.name.as_deref().unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// The first container found on a dependsOn cycle, if any.
fn dependency_cycle(containers: &[ContainerDefinition]) -> Option<String> {
    fn visit<'a>(
        name: &'a str,
        containers: &'a [ContainerDefinition],
        visiting: &mut Vec<&'a str>,
        done: &mut HashSet<&'a str>,
    ) -> Option<String> {
        if done.contains(name) {
            return None;
        }
        if visiting.contains(&name) {
            return Some(name.to_string());
        }
        visiting.push(name);
        let c = containers
            .iter()
            .find(|c| c.name.as_deref() == Some(name))?;
        for dep in c.depends_on.as_deref().unwrap_or_default() {
            if let Some(found) = visit(&dep.container_name, containers, visiting, done) {
                return Some(found);
            }
        }
        visiting.pop();
        done.insert(name);
        None
    }
    let mut done = HashSet::new();
    containers.iter().find_map(|c| {
        visit(
            c.name.as_deref().unwrap_or_default(),
            containers,
            &mut Vec::new(),
            &mut done,
        )
    })
}

/// The agent capabilities a container instance needs to run this definition, named as
/// ECS names them (see [`berth_api::capability`], which also says what Berth's agents
/// advertise).
fn required_attributes(req: &RegisterTaskDefinitionRequest, mode: NetworkMode) -> Vec<Attribute> {
    let mut names = BTreeSet::new();
    let mut logging_drivers = BTreeSet::new();
    names.insert(cap::DOCKER_REMOTE_API_1_18);
    if mode == NetworkMode::Awsvpc {
        names.insert(cap::TASK_ENI);
    }
    if req.task_role_arn.is_some() {
        names.insert(cap::TASK_IAM_ROLE);
    }
    if req.pid_mode.is_some() || req.ipc_mode.is_some() {
        names.insert(cap::PID_IPC_NAMESPACE_SHARING);
    }
    if req.proxy_configuration.is_some() {
        names.insert(cap::APPMESH);
    }
    if req
        .inference_accelerators
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        names.insert(cap::TASK_EIA);
    }
    for v in req.volumes.iter().flatten() {
        if let Some(efs) = &v.efs_volume_configuration {
            names.insert(cap::EFS);
            if efs.authorization_config.is_some() {
                names.insert(cap::EFS_AUTH);
            }
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() {
            names.insert(cap::FSX_WINDOWS_FILE_SERVER);
        }
    }
    for c in &req.container_definitions {
        if c.memory_reservation.is_some() {
            names.insert(cap::DOCKER_REMOTE_API_1_21);
        }
        if c.health_check.is_some() {
            names.insert(cap::CONTAINER_HEALTH_CHECK);
        }
        if c.depends_on.as_ref().is_some_and(|d| !d.is_empty()) {
            names.insert(cap::CONTAINER_ORDERING);
        }
        if c.linux_parameters.as_ref().is_some_and(|l| {
            l.init_process_enabled.is_some() || l.tmpfs.is_some() || l.shared_memory_size.is_some()
        }) {
            names.insert(cap::DOCKER_REMOTE_API_1_25);
        }
        if let Some(log) = &c.log_configuration {
            names.insert(cap::DOCKER_REMOTE_API_1_19);
            if log.log_driver == LogDriver::Awsfirelens {
                names.insert(cap::LOGGING_DRIVER_AWSFIRELENS);
            } else {
                logging_drivers.insert(log.log_driver.as_str());
            }
            if log.log_driver == LogDriver::Awslogs && req.execution_role_arn.is_some() {
                names.insert(cap::EXECUTION_ROLE_AWSLOGS);
            }
            for s in log.secret_options.iter().flatten() {
                names.insert(secret_source(
                    &s.value_from,
                    cap::SECRETS_ASM_LOG_DRIVER,
                    cap::SECRETS_SSM_LOG_DRIVER,
                ));
            }
        }
        if c.environment_files.as_ref().is_some_and(|f| !f.is_empty()) {
            names.insert(cap::ENV_FILES_S3);
        }
        for s in c.secrets.iter().flatten() {
            names.insert(secret_source(
                &s.value_from,
                cap::SECRETS_ASM_ENV,
                cap::SECRETS_SSM_ENV,
            ));
        }
        if c.repository_credentials.is_some() {
            names.insert(cap::PRIVATE_REGISTRY_AUTH_ASM);
        }
        if let Some(f) = &c.firelens_configuration {
            names.insert(match f.r#type {
                FirelensConfigurationType::Fluentd => cap::FIRELENS_FLUENTD,
                FirelensConfigurationType::Fluentbit => cap::FIRELENS_FLUENTBIT,
            });
        }
        if c.restart_policy.as_ref().is_some_and(|r| r.enabled) {
            names.insert(cap::CONTAINER_RESTART_POLICY);
        }
    }
    names
        .into_iter()
        .map(str::to_string)
        .chain(logging_drivers.into_iter().map(cap::logging_driver))
        .collect::<BTreeSet<String>>()
        .into_iter()
        .map(|name| Attribute {
            name,
            value: None,
            target_type: None,
            target_id: None,
        })
        .collect()
}

/// Which capability a secret's `valueFrom` needs: Secrets Manager's for a
/// `secretsmanager` ARN, Parameter Store's for anything else (a parameter name or ARN),
/// as ECS tells them apart.
fn secret_source(value_from: &str, asm: &'static str, ssm: &'static str) -> &'static str {
    if value_from.starts_with("arn:") && value_from.split(':').nth(2) == Some("secretsmanager") {
        asm
    } else {
        ssm
    }
}

#[cfg(test)]
mod tests;
