//! RunTask, StartTask, StopTask, DescribeTasks, ListTasks, and the state changes agents
//! submit. Placement is the scheduler's pure function; its plan commits with
//! compare-and-swap on every instance it touches, so concurrent RunTasks never
//! over-commit an instance: a conflict means "read again and place again".

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use berth_api::agent::{ContainerReport, TaskStateReport};
use berth_api::arn::Arn;
use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::container_instance::{InstanceRecord, Reservation};
use berth_model::fargate;
use berth_model::status::{DesiredStatus, TaskStatus};
use berth_model::tags::{self, Tags};
use berth_model::task::{ContainerRecord, Placement, TaskEni, TaskRecord};
use berth_model::task_definition::{tag_pairs, TaskDefinitionRecord};
use berth_scheduler::View;
use berth_store::{Compare, Revision, Txn, TxnOutcome};
use rand::Rng;

use super::placement::{self, Occupancy};
use super::{active_cluster, cluster_name, id_from, is_valid_id, new_id, task_definitions};
use crate::keys::Scope;
use crate::pagination::{self, filtered_page};
use crate::protocol::{ApiResult, Ctx};
use crate::records::{self, commit, put, too_much_contention, Record, MAX_ATTEMPTS};
use crate::App;

/// Everything RunTask, StartTask and the service controller share once a launch is
/// validated.
pub(crate) struct Launch {
    cluster: Record<berth_model::cluster::ClusterRecord>,
    pub(crate) def: Record<TaskDefinitionRecord>,
    launch_type: LaunchType,
    capacity_provider: Option<String>,
    overrides: TaskOverride,
    network: Option<AwsVpcConfiguration>,
    group: String,
    started_by: Option<String>,
    tags: Tags,
    enable_execute_command: bool,
}

impl Launch {
    /// ECS's managed tags (`enableECSManagedTags`): `aws:ecs:clusterName` on every task,
    /// and `aws:ecs:serviceName` on a service's. Their keys are reserved to AWS, so they
    /// are set here, never through a request's tags.
    pub(crate) fn add_managed_tags(&mut self, service: Option<&str>) {
        let cluster = self.cluster.value.name.clone();
        self.tags.insert(tags::MANAGED_CLUSTER_NAME.into(), cluster);
        if let Some(service) = service {
            self.tags
                .insert(tags::MANAGED_SERVICE_NAME.into(), service.to_string());
        }
    }
}

/// RunTask.
pub async fn run(ctx: &Ctx, req: RunTaskRequest) -> Result<RunTaskResponse, ApiError> {
    let count = req.count.unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(ApiError::InvalidParameter(
            "Count must be between 1 and 10.".into(),
        ));
    }
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let (launch_type, capacity_provider) = choose_launch(
        &cluster.value,
        req.launch_type,
        req.capacity_provider_strategy.as_deref(),
    )?;
    let mut launch = prepare(
        ctx,
        cluster,
        &req.task_definition,
        launch_type,
        capacity_provider,
        req.overrides.clone(),
        req.network_configuration.as_ref(),
        req.group.clone(),
        req.started_by.clone(),
        req.tags.as_deref(),
        req.propagate_tags,
        req.enable_execute_command.unwrap_or(false),
    )
    .await?;
    if req.enable_ecs_managed_tags == Some(true) {
        launch.add_managed_tags(None);
    }
    if launch_type == LaunchType::Fargate
        && (req.placement_constraints.is_some() || req.placement_strategy.is_some())
    {
        return Err(ApiError::InvalidParameter(
            "Task placement constraints and strategies are not supported for the FARGATE launch \
             type."
                .into(),
        ));
    }
    let (tasks, failures) = place_and_commit(
        ctx,
        &launch,
        count as u32,
        None,
        req.placement_strategy.as_deref().unwrap_or_default(),
        req.placement_constraints.as_deref().unwrap_or_default(),
    )
    .await?;
    Ok(RunTaskResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

/// The launch type a call asks for, directly or through a capacity provider strategy
/// (its own, else the cluster's default), with the capacity provider it names.
pub(crate) fn choose_launch(
    cluster: &berth_model::cluster::ClusterRecord,
    launch_type: Option<LaunchType>,
    strategy: Option<&[CapacityProviderStrategyItem]>,
) -> Result<(LaunchType, Option<String>), ApiError> {
    if launch_type.is_some() && strategy.is_some() {
        return Err(ApiError::InvalidParameter(
            "Specifying both a launchType and capacityProviderStrategy is not supported.".into(),
        ));
    }
    let default = &cluster.default_capacity_provider_strategy;
    let strategy = strategy
        .or_else(|| (launch_type.is_none() && !default.is_empty()).then_some(default.as_slice()))
        .unwrap_or_default();
    Ok(match (launch_type, strategy.first()) {
        (Some(lt), _) => (lt, None),
        (None, Some(item)) => {
            if !berth_model::cluster::FARGATE_PROVIDERS.contains(&item.capacity_provider.as_str()) {
                return Err(ApiError::InvalidParameter(format!(
                    "The specified capacity provider '{}' does not exist.",
                    item.capacity_provider
                )));
            }
            (LaunchType::Fargate, Some(item.capacity_provider.clone()))
        }
        (None, None) => (LaunchType::Ec2, None),
    })
}

/// StartTask: one task on each named container instance.
pub async fn start(ctx: &Ctx, req: StartTaskRequest) -> Result<StartTaskResponse, ApiError> {
    if req.container_instances.is_empty() || req.container_instances.len() > 10 {
        return Err(ApiError::InvalidParameter(
            "containerInstances must name between 1 and 10 container instances.".into(),
        ));
    }
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let mut launch = prepare(
        ctx,
        cluster,
        &req.task_definition,
        LaunchType::Ec2,
        None,
        req.overrides.clone(),
        req.network_configuration.as_ref(),
        req.group.clone(),
        req.started_by.clone(),
        req.tags.as_deref(),
        req.propagate_tags,
        req.enable_execute_command.unwrap_or(false),
    )
    .await?;
    if req.enable_ecs_managed_tags == Some(true) {
        launch.add_managed_tags(None);
    }
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for given in &req.container_instances {
        let id = id_from(given);
        if !is_valid_id(id) {
            failures.push(missing(given));
            continue;
        }
        let (t, f) = place_and_commit(ctx, &launch, 1, Some(id), &[], &[]).await?;
        tasks.extend(t);
        failures.extend(f);
    }
    Ok(StartTaskResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn prepare(
    ctx: &Ctx,
    cluster: Record<berth_model::cluster::ClusterRecord>,
    task_definition: &str,
    launch_type: LaunchType,
    capacity_provider: Option<String>,
    overrides: Option<TaskOverride>,
    network: Option<&NetworkConfiguration>,
    group: Option<String>,
    started_by: Option<String>,
    request_tags: Option<&[Tag]>,
    propagate: Option<PropagateTags>,
    enable_execute_command: bool,
) -> Result<Launch, ApiError> {
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
    Ok(Launch {
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

/// Places `count` tasks (on `only_instance` when given), then commits tasks and instance
/// updates in one transaction, retrying from a fresh read when an instance changed.
pub(crate) async fn place_and_commit(
    ctx: &Ctx,
    launch: &Launch,
    count: u32,
    only_instance: Option<&str>,
    strategies: &[PlacementStrategy],
    constraints: &[PlacementConstraint],
) -> Result<(Vec<Task>, Vec<Failure>), ApiError> {
    let scope = ctx.scope();
    let store = &*ctx.app.store;
    let fargate = launch.launch_type == LaunchType::Fargate;
    let reservation = placement::reservation(&launch.def.value, &launch.overrides);
    let request = placement::request(
        &launch.def.value,
        &reservation,
        &launch.group,
        count,
        strategies,
        constraints,
    )?;
    let needs_occupancy = !request.constraints.is_empty() || !request.strategies.is_empty();
    let mut cluster_revision = launch.cluster.revision;
    for _ in 0..MAX_ATTEMPTS {
        let now = ctx.now();
        let instances = &ctx.app.instance_cache;
        let candidates: Vec<Record<Arc<InstanceRecord>>> = match (fargate, only_instance) {
            (true, _) => instances.list(store, &scope.fargate_pool()).await?,
            (false, Some(id)) => {
                match records::get(store, &scope.instance(&launch.cluster.value.name, id)).await? {
                    Some(r) => vec![Record {
                        key: r.key,
                        value: Arc::new(r.value),
                        revision: r.revision,
                    }],
                    None => return Ok((vec![], vec![missing(id)])),
                }
            }
            (false, None) => {
                instances
                    .list(store, &scope.instances(&launch.cluster.value.name))
                    .await?
            }
        };
        if candidates.is_empty() {
            if fargate {
                return Ok((
                    vec![],
                    vec![Failure {
                    arn: Some(launch.cluster.value.arn.clone()),
                    reason: Some("RESOURCE:FARGATE".into()),
                    detail: Some(
                        "No agent offers Fargate capacity in this region. `berth up` runs one; \
                         more join with `berth agent`."
                            .into(),
                    ),
                }],
                ));
            }
            return Err(ApiError::InvalidParameter(
                "No Container Instances were found in your cluster.".into(),
            ));
        }
        let occupancy = if needs_occupancy {
            let tasks: Vec<Record<TaskRecord>> =
                records::list(store, &scope.tasks(&launch.cluster.value.name)).await?;
            Occupancy::of(&tasks)
        } else {
            Occupancy::default()
        };
        let view = View::new(
            candidates
                .iter()
                .map(|c| placement::to_scheduler(&c.value, now, &occupancy)),
        )
        .map_err(|e| ApiError::Server(format!("cannot build the placement view: {e}")))?;
        let plan = view
            .place(&request)
            .map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
        let failures: Vec<Failure> = plan
            .failures
            .iter()
            .map(|f| Failure {
                arn: Some(f.arn.clone()),
                reason: Some(f.reason.as_str().into()),
                detail: f
                    .missing_attribute
                    .as_ref()
                    .map(|a| berth_api::capability::missing(&a.name)),
            })
            .collect();
        if plan.placements.is_empty() {
            return Ok((vec![], failures));
        }

        let by_arn: HashMap<&str, &Record<Arc<InstanceRecord>>> = candidates
            .iter()
            .map(|c| (c.value.arn.as_str(), c))
            .collect();
        let mut touched: BTreeMap<String, (Revision, InstanceRecord)> = BTreeMap::new();
        let mut tasks = Vec::new();
        for p in &plan.placements {
            let original = by_arn[p.container_instance_arn.as_str()];
            let entry = touched
                .entry(original.key.clone())
                .or_insert_with(|| (original.revision, (*original.value).clone()));
            let mut held = reservation.clone();
            held.gpus = p.gpu_ids.clone();
            entry.1.remaining.take(&held);
            entry.1.version += 1;
            tasks.push(new_task(ctx, launch, &entry.1, held, now));
        }
        let mut txn = Txn::new().when(Compare::unchanged(&launch.cluster.key, cluster_revision));
        for (key, (revision, updated)) in &touched {
            txn = txn
                .when(Compare::unchanged(key, *revision))
                .then(put(key, updated));
        }
        for t in &tasks {
            txn = txn.then(put(scope.task(&t.cluster, &t.id), t));
        }
        match commit(store, txn).await? {
            TxnOutcome::Committed { .. } => {
                let wire = tasks.iter().map(|t| t.to_wire(true)).collect();
                return Ok((wire, failures));
            }
            // The cluster itself changed (tags, settings, or deleted): read it again.
            TxnOutcome::Conflict { key } if key == launch.cluster.key => {
                cluster_revision = active_cluster(ctx, Some(&launch.cluster.value.name))
                    .await?
                    .revision;
            }
            TxnOutcome::Conflict { .. } => {}
        }
    }
    Err(too_much_contention("The cluster's container instances"))
}

fn new_task(
    ctx: &Ctx,
    launch: &Launch,
    instance: &InstanceRecord,
    reserved: Reservation,
    now: Timestamp,
) -> TaskRecord {
    let id = new_id();
    let cluster = &launch.cluster.value;
    let def = &launch.def.value.definition;
    let containers = def
        .container_definitions
        .iter()
        .flatten()
        .map(|c| {
            let name = c.name.clone().unwrap_or_default();
            let o = launch
                .overrides
                .container_overrides
                .iter()
                .flatten()
                .find(|o| o.name.as_deref() == Some(name.as_str()));
            ContainerRecord {
                arn: ctx.arn(format!("container/{}/{id}/{}", cluster.name, new_id())),
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
    let eni = launch.network.as_ref().map(|n| {
        let mut rng = rand::thread_rng();
        TaskEni {
            attachment_id: uuid::Uuid::new_v4().to_string(),
            eni_id: format!("eni-{:017x}", rng.gen::<u64>()),
            subnet_id: n.subnets[0].clone(),
            mac_address: format!(
                "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                rng.gen::<u8>(),
                rng.gen::<u8>(),
                rng.gen::<u8>(),
                rng.gen::<u8>(),
                rng.gen::<u8>()
            ),
            private_ipv4_address: None,
        }
    });
    let fargate = launch.launch_type == LaunchType::Fargate;
    TaskRecord {
        arn: ctx.arn(format!("task/{}/{id}", cluster.name)),
        cluster: cluster.name.clone(),
        cluster_arn: cluster.arn.clone(),
        task_definition_arn: def.task_definition_arn.clone().unwrap_or_default(),
        family: launch.def.value.family().to_string(),
        launch_type: launch.launch_type,
        capacity_provider_name: launch.capacity_provider.clone(),
        platform_version: fargate.then(|| "1.4.0".to_string()),
        placement: Placement {
            instance_cluster: instance.cluster.clone(),
            instance_id: instance.id.clone(),
            instance_arn: instance.arn.clone(),
            fargate_pool: instance.fargate_pool,
        },
        reserved,
        last_status: if eni.is_some() {
            TaskStatus::Provisioning
        } else {
            TaskStatus::Pending
        },
        desired_status: DesiredStatus::Running,
        cpu: launch
            .overrides
            .cpu
            .as_deref()
            .and_then(fargate::parse_cpu_units)
            .or(launch.def.value.cpu_units())
            .map(|c| c.to_string()),
        memory: launch
            .overrides
            .memory
            .as_deref()
            .and_then(fargate::parse_memory_mib)
            .or(launch.def.value.memory_mib())
            .map(|m| m.to_string()),
        containers,
        overrides: launch.overrides.clone(),
        group: Some(launch.group.clone()),
        started_by: launch.started_by.clone(),
        tags: launch.tags.clone(),
        eni,
        availability_zone: Some(
            instance
                .attributes
                .get("ecs.availability-zone")
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("{}a", ctx.caller.region)),
        ),
        enable_execute_command: launch.enable_execute_command,
        created_at: now,
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
        id,
    }
}

/// StopTask: asks the task's agent to stop it. A task whose instance is gone is marked
/// STOPPED at once.
pub async fn stop(ctx: &Ctx, req: StopTaskRequest) -> Result<StopTaskResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let reason = req
        .reason
        .clone()
        .unwrap_or_else(|| "Task stopped by user".into());
    let task = stop_task(
        ctx,
        &cluster.value.name,
        id_from(&req.task),
        TaskStopCode::UserInitiated,
        &reason,
    )
    .await?;
    Ok(StopTaskResponse {
        task: Some(task.to_wire(false)),
    })
}

/// Asks a task of `cluster` to stop with `code` and `reason`; returns the task as it now
/// is (unchanged when it was already stopping).
pub(crate) async fn stop_task(
    ctx: &Ctx,
    cluster: &str,
    id: &str,
    code: TaskStopCode,
    reason: &str,
) -> Result<TaskRecord, ApiError> {
    let not_found = || ApiError::InvalidParameter("The referenced task was not found.".into());
    if !is_valid_id(id) {
        return Err(not_found());
    }
    let key = ctx.scope().task(cluster, id);
    for _ in 0..MAX_ATTEMPTS {
        let t = records::get::<TaskRecord>(&*ctx.app.store, &key)
            .await?
            .ok_or_else(not_found)?;
        let mut task = t.value;
        if !task.request_stop(code, reason, ctx.now()) {
            return Ok(task);
        }
        let txn = Txn::new()
            .when(Compare::unchanged(&key, t.revision))
            .then(put(&key, &task));
        if commit(&*ctx.app.store, txn).await?.is_committed() {
            return Ok(task);
        }
    }
    Err(too_much_contention("The task"))
}

/// DescribeTasks: up to 100 tasks by id or ARN; unknown ones are `failures` (MISSING).
/// Renders its own JSON: each task's stored wire form is copied in as it is (see
/// [`crate::task_store`]).
pub async fn describe(ctx: &Ctx, req: DescribeTasksRequest) -> ApiResult {
    if req.tasks.is_empty() || req.tasks.len() > 100 {
        return Err(ApiError::InvalidParameter(
            "tasks must name between 1 and 100 tasks.".into(),
        ));
    }
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let with_tags = req.include.unwrap_or_default().contains(&TaskField::Tags);
    let scope = ctx.scope();
    let keys: Vec<Option<String>> = req
        .tasks
        .iter()
        .map(|given| {
            let id = id_from(given);
            is_valid_id(id).then(|| scope.task(&cluster.value.name, id))
        })
        .collect();
    let wanted: Vec<String> = keys.iter().flatten().cloned().collect();
    let mut found = ctx
        .app
        .store
        .get_many(&wanted)
        .await
        .map_err(records::store_error)?
        .into_iter();
    let mut out = Vec::with_capacity(4096 * wanted.len().max(1));
    out.extend_from_slice(b"{\"tasks\":[");
    let mut failures = Vec::new();
    let mut first = true;
    for (given, key) in req.tasks.iter().zip(keys) {
        let kv = if key.is_some() {
            found.next().flatten()
        } else {
            None
        };
        match kv {
            Some(kv) => {
                if !first {
                    out.push(b',');
                }
                first = false;
                crate::task_store::write_wire(&kv.value, with_tags, &mut out).map_err(|e| {
                    ApiError::Server(format!("stored task {} cannot be read: {e}", kv.key))
                })?;
            }
            None => failures.push(Failure {
                arn: Some(if given.starts_with("arn:") {
                    given.clone()
                } else {
                    ctx.arn(format!("task/{}/{given}", cluster.value.name))
                }),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    out.extend_from_slice(b"],\"failures\":");
    serde_json::to_writer(&mut out, &failures).expect("failures serialize");
    out.push(b'}');
    Ok(out)
}

/// ListTasks with ECS's filters; desiredStatus defaults to RUNNING, as in ECS.
pub async fn list(ctx: &Ctx, req: ListTasksRequest) -> Result<ListTasksResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let max = pagination::max_results(req.max_results, pagination::DEFAULT_MAX_RESULTS)?;
    let instance = req
        .container_instance
        .as_deref()
        .map(|c| id_from(c).to_string());
    let desired = req
        .desired_status
        .unwrap_or(berth_api::ecs::DesiredStatus::Running);
    let service_group = req
        .service_name
        .as_ref()
        .map(|s| format!("service:{}", id_from(s)));
    let (page, next) = filtered_page::<TaskRecord, _>(
        &*ctx.app.store,
        &ctx.scope().tasks(&cluster.value.name),
        req.next_token.as_deref(),
        max,
        |r| {
            let t = &r.value;
            let desired_ok = match desired {
                berth_api::ecs::DesiredStatus::Running => {
                    t.desired_status == DesiredStatus::Running
                }
                berth_api::ecs::DesiredStatus::Stopped => {
                    t.desired_status == DesiredStatus::Stopped
                }
                berth_api::ecs::DesiredStatus::Pending => false,
            };
            desired_ok
                && instance
                    .as_ref()
                    .is_none_or(|i| !t.placement.fargate_pool && t.placement.instance_id == *i)
                && req.family.as_ref().is_none_or(|f| t.family == *f)
                && req
                    .started_by
                    .as_ref()
                    .is_none_or(|s| t.started_by.as_ref() == Some(s))
                && req.launch_type.is_none_or(|l| t.launch_type == l)
                && service_group
                    .as_ref()
                    .is_none_or(|g| t.group.as_ref() == Some(g))
        },
    )
    .await?;
    Ok(ListTasksResponse {
        task_arns: Some(page.into_iter().map(|r| r.value.arn).collect()),
        next_token: next,
    })
}

/// SubmitTaskStateChange, as the ECS agent sends it.
pub async fn submit_state_change(
    ctx: &Ctx,
    req: SubmitTaskStateChangeRequest,
) -> Result<SubmitTaskStateChangeResponse, ApiError> {
    let cluster = cluster_name(req.cluster.as_deref())?;
    let task = req
        .task
        .clone()
        .ok_or_else(|| ApiError::InvalidParameter("task is required.".into()))?;
    let report = TaskStateReport {
        task_arn: task_arn_in(ctx, &cluster, &task),
        status: req.status.clone().unwrap_or_default(),
        reason: req.reason.clone(),
        pull_started_at: req.pull_started_at,
        pull_stopped_at: req.pull_stopped_at,
        execution_stopped_at: req.execution_stopped_at,
        containers: req
            .containers
            .iter()
            .flatten()
            .map(|c| ContainerReport {
                name: c.container_name.clone().unwrap_or_default(),
                status: c.status.clone().unwrap_or_default(),
                runtime_id: c.runtime_id.clone(),
                image_digest: c.image_digest.clone(),
                exit_code: c.exit_code,
                reason: c.reason.clone(),
                network_bindings: c.network_bindings.clone(),
                health_status: None,
            })
            .collect(),
        ..Default::default()
    };
    apply_report(&ctx.app, &ctx.scope(), &report, None).await?;
    Ok(SubmitTaskStateChangeResponse {
        acknowledgment: Some("ACK".into()),
    })
}

/// SubmitContainerStateChange, as the ECS agent sends it.
pub async fn submit_container_state_change(
    ctx: &Ctx,
    req: SubmitContainerStateChangeRequest,
) -> Result<SubmitContainerStateChangeResponse, ApiError> {
    let cluster = cluster_name(req.cluster.as_deref())?;
    let task = req
        .task
        .clone()
        .ok_or_else(|| ApiError::InvalidParameter("task is required.".into()))?;
    let report = TaskStateReport {
        task_arn: task_arn_in(ctx, &cluster, &task),
        status: String::new(),
        containers: vec![ContainerReport {
            name: req.container_name.clone().unwrap_or_default(),
            status: req.status.clone().unwrap_or_default(),
            runtime_id: req.runtime_id.clone(),
            exit_code: req.exit_code,
            reason: req.reason.clone(),
            network_bindings: req.network_bindings.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    apply_report(&ctx.app, &ctx.scope(), &report, None).await?;
    Ok(SubmitContainerStateChangeResponse {
        acknowledgment: Some("ACK".into()),
    })
}

fn task_arn_in(ctx: &Ctx, cluster: &str, task: &str) -> String {
    if task.starts_with("arn:") {
        task.to_string()
    } else {
        ctx.arn(format!("task/{cluster}/{task}"))
    }
}

/// The cluster and id a task ARN names (`task/CLUSTER/ID`).
pub fn parse_task_arn(arn: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::InvalidParameter(format!("'{arn}' is not a task ARN."));
    let parsed = Arn::parse(arn).map_err(|_| bad())?;
    if parsed.resource_type() != "task" {
        return Err(bad());
    }
    let (cluster, id) = parsed.resource_path().split_once('/').ok_or_else(bad)?;
    if !berth_model::names::is_valid_name(cluster) || !is_valid_id(id) {
        return Err(bad());
    }
    Ok((cluster.to_string(), id.to_string()))
}

/// Applies a state report to a task; when it reaches STOPPED, its reservation goes back
/// to its instance in the same transaction. `from_instance`, when given, must be the
/// instance the task was placed on (an agent may only report its own tasks).
pub async fn apply_report(
    app: &App,
    scope: &Scope,
    report: &TaskStateReport,
    from_instance: Option<&str>,
) -> Result<TaskRecord, ApiError> {
    let (cluster, id) = parse_task_arn(&report.task_arn)?;
    let key = scope.task(&cluster, &id);
    let store = &*app.store;
    for _ in 0..MAX_ATTEMPTS {
        let t = records::get::<TaskRecord>(store, &key)
            .await?
            .ok_or_else(|| {
                ApiError::InvalidParameter("The referenced task was not found.".into())
            })?;
        if from_instance.is_some_and(|arn| arn != t.value.placement.instance_arn) {
            return Err(ApiError::AccessDenied(
                "This agent may only report tasks placed on its own container instance.".into(),
            ));
        }
        let mut task = t.value.clone();
        let effect = task.apply_report(report, app.clock.now());
        if !effect.changed {
            return Ok(task);
        }
        let mut txn = Txn::new()
            .when(Compare::unchanged(&key, t.revision))
            .then(put(&key, &task));
        if effect.stopped_now {
            txn = release(store, scope, &task, txn).await?;
        }
        if commit(store, txn).await?.is_committed() {
            return Ok(task);
        }
    }
    Err(too_much_contention("The task"))
}

/// Adds to `txn` the return of a stopped task's reservation to its instance.
pub async fn release(
    store: &dyn berth_store::Store,
    scope: &Scope,
    task: &TaskRecord,
    txn: Txn,
) -> Result<Txn, ApiError> {
    let p = &task.placement;
    let key = if p.fargate_pool {
        scope.fargate_pool_member(&p.instance_id)
    } else {
        scope.instance(&p.instance_cluster, &p.instance_id)
    };
    let Some(inst) = records::get::<InstanceRecord>(store, &key).await? else {
        return Ok(txn);
    };
    let mut updated = inst.value.clone();
    updated
        .remaining
        .give_back(&task.reserved, &inst.value.registered);
    updated.version += 1;
    Ok(txn
        .when(Compare::unchanged(&key, inst.revision))
        .then(put(&key, &updated)))
}

fn missing(given: &str) -> Failure {
    Failure {
        arn: Some(given.to_string()),
        reason: Some("MISSING".into()),
        detail: None,
    }
}
