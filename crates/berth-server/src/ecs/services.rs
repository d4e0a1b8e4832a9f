//! CreateService, UpdateService, DeleteService, DescribeServices, ListServices,
//! ListServiceDeployments and DescribeServiceDeployments. Handlers validate and record
//! what the service asks for; the service controller ([`crate::services`]) makes the
//! cluster match it.

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::names::is_valid_name;
use berth_model::service::task_set::{self, TaskSetStatus};
use berth_model::service::{
    task_group, DeploymentRecord, DeploymentStatus, Rolling, Rollout, ServiceRecord, ServiceStatus,
};
use berth_model::tags::{self, Tags};
use berth_model::task_definition::tag_pairs;
use berth_store::{Compare, Txn};
use rand::Rng;

use super::{active_cluster, id_from};
use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::launch::{self, LaunchSpec};
use crate::pagination::{self, filtered_page};
use crate::records::{self, commit, put, Record, Step};

/// A fresh deployment id: `ecs-svc/` and 19 digits, as ECS mints them.
pub fn new_deployment_id() -> String {
    let n: u64 =
        rand::thread_rng().gen_range(1_000_000_000_000_000_000..10_000_000_000_000_000_000);
    format!("ecs-svc/{n}")
}

/// A new PRIMARY deployment of `task_definition` for `desired` tasks.
pub fn new_deployment(
    task_definition: String,
    capacity: &launch::Capacity,
    network: Option<NetworkConfiguration>,
    desired: u32,
    now: Timestamp,
) -> DeploymentRecord {
    let id = new_deployment_id();
    let (launch_type, capacity_provider_strategy) = capacity.parts();
    DeploymentRecord {
        rollout_reason: format!("ECS deployment {id} in progress."),
        id,
        status: DeploymentStatus::Primary,
        task_definition,
        launch_type,
        capacity_provider_strategy,
        network_configuration: network,
        desired_count: desired,
        pending_count: 0,
        running_count: 0,
        failed_tasks: 0,
        rollout: Rollout::InProgress,
        created_at: now,
        updated_at: now,
        rollback_of: None,
        steady_since: None,
    }
}

/// CreateService.
pub async fn create(
    ctx: &Ctx,
    req: CreateServiceRequest,
) -> Result<CreateServiceResponse, ApiError> {
    if !is_valid_name(&req.service_name) {
        return Err(ApiError::InvalidParameter(
            "Service name must be 1-255 letters, numbers, hyphens and underscores.".into(),
        ));
    }
    let external = match req.deployment_controller.as_ref().map(|c| c.r#type) {
        None | Some(DeploymentControllerType::Ecs) => false,
        Some(DeploymentControllerType::External) => true,
        Some(other) => {
            return Err(ApiError::UnsupportedFeature(format!(
                "Deployment controller {} needs AWS CodeDeploy, which Berth does not serve; \
                 use EXTERNAL and manage the service's task sets with CreateTaskSet, or ECS.",
                other.as_str()
            )))
        }
    };
    // `role` may be a role's name (at the root path) or its ARN; ECS reports the ARN.
    let role_arn = req.role.as_ref().map(|r| {
        if r.starts_with("arn:") {
            r.clone()
        } else {
            format!("arn:aws:iam::{}:role/{r}", ctx.caller.account)
        }
    });
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let scheduling = req
        .scheduling_strategy
        .unwrap_or(SchedulingStrategy::Replica);
    let desired = match (scheduling, req.desired_count) {
        (SchedulingStrategy::Daemon, Some(_)) => {
            return Err(ApiError::InvalidParameter(
                "The daemon scheduling strategy does not support a desired count for services."
                    .into(),
            ))
        }
        (_, Some(n)) => u32::try_from(n)
            .map_err(|_| ApiError::InvalidParameter("desiredCount must be 0 or more.".into()))?,
        (_, None) => 0,
    };
    let rolling = Rolling::from_request(req.deployment_configuration.as_ref(), scheduling, None)?;
    let grace = grace_period(req.health_check_grace_period_seconds)?;
    let mut service_tags = Tags::new();
    tags::merge(
        &mut service_tags,
        tag_pairs(req.tags.as_deref().unwrap_or_default())?,
    )?;
    let now = ctx.now();
    let (deployments, load_balancers) = if external {
        refuse_task_set_settings(&[
            ("taskDefinition", req.task_definition.is_some()),
            ("launchType", req.launch_type.is_some()),
            (
                "capacityProviderStrategy",
                req.capacity_provider_strategy.is_some(),
            ),
            ("platformVersion", req.platform_version.is_some()),
            ("networkConfiguration", req.network_configuration.is_some()),
            ("loadBalancers", req.load_balancers.is_some()),
        ])?;
        if scheduling == SchedulingStrategy::Daemon {
            return Err(ApiError::InvalidParameter(
                "The daemon scheduling strategy does not support the EXTERNAL deployment \
                 controller."
                    .into(),
            ));
        }
        (Vec::new(), Vec::new())
    } else {
        let task_definition = req.task_definition.as_deref().ok_or_else(|| {
            ApiError::InvalidParameter(
                "A task definition is required for services with the ECS deployment controller."
                    .into(),
            )
        })?;
        let capacity = launch::choose_capacity(
            &cluster.value,
            req.launch_type,
            req.capacity_provider_strategy.as_deref(),
        )?;
        let (launch_type, capacity_provider) = capacity.first();
        if scheduling == SchedulingStrategy::Daemon && launch_type == LaunchType::Fargate {
            return Err(ApiError::InvalidParameter(
                "The daemon scheduling strategy does not support the FARGATE launch type.".into(),
            ));
        }
        // The same checks RunTask makes: an ACTIVE revision that supports the launch type,
        // and a network configuration that fits its network mode.
        let launch = launch::prepare(
            ctx,
            LaunchSpec {
                cluster: cluster.clone(),
                task_definition,
                launch_type,
                capacity_provider: capacity_provider.clone(),
                overrides: None,
                network: req.network_configuration.as_ref(),
                group: Some(task_group(&req.service_name)),
                started_by: None,
                tags: None,
                propagate_tags: None,
                enable_execute_command: req.enable_execute_command.unwrap_or(false),
            },
        )
        .await?;
        let load_balancers = req.load_balancers.clone().unwrap_or_default();
        validate_load_balancers(ctx, &launch.def.value, &load_balancers).await?;
        let deployment = new_deployment(
            launch
                .def
                .value
                .definition
                .task_definition_arn
                .clone()
                .unwrap_or_default(),
            &capacity,
            req.network_configuration.clone(),
            desired,
            now,
        );
        (vec![deployment], load_balancers)
    };
    let record = ServiceRecord {
        arn: ctx.arn(format!(
            "service/{}/{}",
            cluster.value.name, req.service_name
        )),
        name: req.service_name.clone(),
        cluster: cluster.value.name.clone(),
        cluster_arn: cluster.value.arn.clone(),
        status: ServiceStatus::Active,
        desired_count: desired,
        scheduling_strategy: scheduling,
        load_balancers,
        health_check_grace_period_seconds: grace,
        rolling,
        placement_constraints: req.placement_constraints.clone().unwrap_or_default(),
        placement_strategy: req.placement_strategy.clone().unwrap_or_default(),
        propagate_tags: req.propagate_tags,
        enable_ecs_managed_tags: req.enable_ecs_managed_tags.unwrap_or(false),
        enable_execute_command: req.enable_execute_command.unwrap_or(false),
        tags: service_tags,
        created_at: now,
        created_by: ctx.caller.principal_arn.clone(),
        role_arn,
        deployment_controller: req.deployment_controller.clone(),
        deployments,
        task_sets: Vec::new(),
        events: Vec::new(),
        past_deployments: Vec::new(),
    };
    let key = ctx.scope().service(&cluster.value.name, &req.service_name);
    let existing: Option<Record<ServiceRecord>> = records::get(&*ctx.core.store, &key).await?;
    let guard = match &existing {
        Some(r) if r.value.status != ServiceStatus::Inactive => {
            return Err(ApiError::InvalidParameter(
                "Creation of service was not idempotent.".into(),
            ))
        }
        Some(r) => Compare::unchanged(&key, r.revision),
        None => Compare::absent(&key),
    };
    if !commit(
        &*ctx.core.store,
        Txn::new().when(guard).then(put(&key, &record)),
    )
    .await?
    .is_committed()
    {
        return Err(ApiError::InvalidParameter(
            "Creation of service was not idempotent.".into(),
        ));
    }
    Ok(CreateServiceResponse {
        service: Some(record.to_wire(true)),
    })
}

/// UpdateService.
pub async fn update(
    ctx: &Ctx,
    req: UpdateServiceRequest,
) -> Result<UpdateServiceResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let grace = req
        .health_check_grace_period_seconds
        .map(|g| grace_period(Some(g)))
        .transpose()?;
    let (req, cluster, grace) = (&req, &cluster, &grace);
    let service = records::update(&*ctx.core.store, "The service", || async move {
        let r = load_active(ctx, &cluster.value.name, &req.service).await?;
        let mut s = r.value.clone();
        if let Some(n) = req.desired_count {
            if s.scheduling_strategy == SchedulingStrategy::Daemon {
                return Err(ApiError::InvalidParameter(
                    "The daemon scheduling strategy does not support a desired count for services."
                        .into(),
                ));
            }
            s.desired_count = u32::try_from(n).map_err(|_| {
                ApiError::InvalidParameter("desiredCount must be 0 or more.".into())
            })?;
        }
        s.rolling = Rolling::from_request(
            req.deployment_configuration.as_ref(),
            s.scheduling_strategy,
            Some(s.rolling),
        )?;
        if let Some(g) = *grace {
            s.health_check_grace_period_seconds = g;
        }
        if let Some(p) = req.propagate_tags {
            s.propagate_tags = Some(p);
        }
        if let Some(e) = req.enable_execute_command {
            s.enable_execute_command = e;
        }
        if s.is_external() {
            // Only what task sets do not carry; their counts follow the desired count.
            refuse_task_set_settings(&[
                ("taskDefinition", req.task_definition.is_some()),
                (
                    "capacityProviderStrategy",
                    req.capacity_provider_strategy.is_some(),
                ),
                ("platformVersion", req.platform_version.is_some()),
                ("networkConfiguration", req.network_configuration.is_some()),
                ("loadBalancers", req.load_balancers.is_some()),
                ("forceNewDeployment", req.force_new_deployment == Some(true)),
            ])?;
            let now = ctx.now();
            for t in &mut s.task_sets {
                t.computed_desired_count = task_set::computed_desired(s.desired_count, t.scale);
                t.updated_at = now;
            }
            let txn = Txn::new()
                .when(Compare::unchanged(&r.key, r.revision))
                .then(put(&r.key, &s));
            return Ok(Step::Commit(txn, s));
        }
        let primary = s.primary().clone();
        let task_definition = req
            .task_definition
            .clone()
            .unwrap_or_else(|| primary.task_definition.clone());
        let network = req
            .network_configuration
            .clone()
            .or_else(|| primary.network_configuration.clone());
        let capacity = match (
            req.capacity_provider_strategy.as_deref(),
            &primary.capacity_provider_strategy,
        ) {
            (Some(given), _) => launch::choose_capacity(&cluster.value, None, Some(given))?,
            (None, Some(current)) => launch::choose_capacity(&cluster.value, None, Some(current))?,
            (None, None) => launch::Capacity::recorded(primary.launch_type, None),
        };
        let (launch_type, capacity_provider) = capacity.first();
        let launch = launch::prepare(
            ctx,
            LaunchSpec {
                cluster: (*cluster).clone(),
                task_definition: &task_definition,
                launch_type,
                capacity_provider: capacity_provider.clone(),
                overrides: None,
                network: network.as_ref(),
                group: Some(task_group(&s.name)),
                started_by: None,
                tags: None,
                propagate_tags: None,
                enable_execute_command: s.enable_execute_command,
            },
        )
        .await?;
        if let Some(lbs) = &req.load_balancers {
            s.load_balancers = lbs.clone();
        }
        validate_load_balancers(ctx, &launch.def.value, &s.load_balancers).await?;
        let task_definition = launch
            .def
            .value
            .definition
            .task_definition_arn
            .clone()
            .unwrap_or_default();
        let redeploy = req.force_new_deployment == Some(true)
            || task_definition != primary.task_definition
            || network != primary.network_configuration
            || capacity.parts().1 != primary.capacity_provider_strategy
            || req.load_balancers.is_some();
        let now = ctx.now();
        if redeploy {
            for d in &mut s.deployments {
                d.status = DeploymentStatus::Active;
                d.updated_at = now;
            }
            let d = new_deployment(task_definition, &capacity, network, s.desired_count, now);
            s.deployments.insert(0, d);
        } else {
            s.deployments[0].desired_count = s.desired_count;
            s.deployments[0].updated_at = now;
        }
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &s));
        Ok(Step::Commit(txn, s))
    })
    .await?;
    Ok(UpdateServiceResponse {
        service: Some(service.to_wire(false)),
    })
}

/// DeleteService: a service with tasks must be scaled to zero first, unless `force`;
/// it is DRAINING until its tasks have stopped, then INACTIVE.
pub async fn delete(
    ctx: &Ctx,
    req: DeleteServiceRequest,
) -> Result<DeleteServiceResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let (req, cluster) = (&req, &cluster);
    let service = records::update(&*ctx.core.store, "The service", || async move {
        let r = load_active(ctx, &cluster.value.name, &req.service).await?;
        let mut s = r.value.clone();
        if s.scheduling_strategy == SchedulingStrategy::Replica
            && s.desired_count > 0
            && req.force != Some(true)
        {
            return Err(ApiError::InvalidParameter(
                "The service cannot be stopped while it is scaled above 0.".into(),
            ));
        }
        s.status = ServiceStatus::Draining;
        s.desired_count = 0;
        if let Some(primary) = s.deployments.first_mut() {
            primary.desired_count = 0;
        }
        for t in &mut s.task_sets {
            t.status = TaskSetStatus::Draining;
            t.computed_desired_count = 0;
        }
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &s));
        Ok(Step::Commit(txn, s))
    })
    .await?;
    Ok(DeleteServiceResponse {
        service: Some(service.to_wire(false)),
    })
}

/// DescribeServices: up to 10 services by name or ARN; unknown ones are MISSING.
pub async fn describe(
    ctx: &Ctx,
    req: DescribeServicesRequest,
) -> Result<DescribeServicesResponse, ApiError> {
    if req.services.is_empty() || req.services.len() > 10 {
        return Err(ApiError::InvalidParameter(
            "services must name between 1 and 10 services.".into(),
        ));
    }
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let with_tags = req
        .include
        .as_deref()
        .unwrap_or_default()
        .contains(&ServiceField::Tags);
    let (mut services, mut failures) = (Vec::new(), Vec::new());
    for given in &req.services {
        match load(ctx, &cluster.value.name, given).await? {
            Some(r) => services.push(r.value.to_wire(with_tags)),
            None => failures.push(Failure {
                arn: Some(given_arn(ctx, &cluster.value.name, given)),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    Ok(DescribeServicesResponse {
        services: Some(services),
        failures: Some(failures),
    })
}

/// ListServices: ACTIVE and DRAINING services' ARNs, filtered by launch type and
/// scheduling strategy.
pub async fn list(ctx: &Ctx, req: ListServicesRequest) -> Result<ListServicesResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let max = pagination::max_results(req.max_results, 100)?;
    let (page, next) = filtered_page::<ServiceRecord, _>(
        &*ctx.core.store,
        &ctx.scope().services(&cluster.value.name),
        req.next_token.as_deref(),
        max,
        |r| {
            let s = &r.value;
            s.status != ServiceStatus::Inactive
                && req.launch_type.is_none_or(|l| s.launch_type() == Some(l))
                && req
                    .scheduling_strategy
                    .is_none_or(|x| s.scheduling_strategy == x)
        },
    )
    .await?;
    Ok(ListServicesResponse {
        service_arns: Some(page.into_iter().map(|r| r.value.arn).collect()),
        next_token: next,
    })
}

/// The stored service `given` (a name or an ARN) names, in any status.
pub async fn load(
    ctx: &Ctx,
    cluster: &str,
    given: &str,
) -> Result<Option<Record<ServiceRecord>>, ApiError> {
    let name = id_from(given);
    if !is_valid_name(name) {
        return Ok(None);
    }
    Ok(records::get(&*ctx.core.store, &ctx.scope().service(cluster, name)).await?)
}

/// The service `given` names, which must be ACTIVE.
pub(crate) async fn load_active(
    ctx: &Ctx,
    cluster: &str,
    given: &str,
) -> Result<Record<ServiceRecord>, ApiError> {
    match load(ctx, cluster, given).await? {
        Some(r) if r.value.status == ServiceStatus::Active => Ok(r),
        Some(_) => Err(ApiError::ServiceNotActive("Service was not ACTIVE.".into())),
        None => Err(ApiError::ServiceNotFound("Service not found.".into())),
    }
}

fn given_arn(ctx: &Ctx, cluster: &str, given: &str) -> String {
    if given.starts_with("arn:") {
        given.to_string()
    } else {
        ctx.arn(format!("service/{cluster}/{given}"))
    }
}

/// Refuses, for a service with the EXTERNAL deployment controller, each named member a
/// request gave that task sets carry instead.
pub(crate) fn refuse_task_set_settings(given: &[(&str, bool)]) -> Result<(), ApiError> {
    match given.iter().find(|(_, present)| *present) {
        Some((member, _)) => Err(ApiError::InvalidParameter(format!(
            "{member} cannot be set on a service with the EXTERNAL deployment controller: its \
             task sets carry it (CreateTaskSet)."
        ))),
        None => Ok(()),
    }
}

fn grace_period(given: Option<i32>) -> Result<Option<u32>, ApiError> {
    given
        .map(|g| {
            u32::try_from(g).map_err(|_| {
                ApiError::InvalidParameter(
                    "healthCheckGracePeriodSeconds must be 0 or more.".into(),
                )
            })
        })
        .transpose()
}

/// Each load balancer names a container and port of the task definition and a target
/// group that exists, is attached to a load balancer, and has a target type the
/// network mode can fill (`ip` for awsvpc, `instance` otherwise), as ECS requires.
pub(crate) async fn validate_load_balancers(
    ctx: &Ctx,
    def: &berth_model::task_definition::TaskDefinitionRecord,
    load_balancers: &[LoadBalancer],
) -> Result<(), ApiError> {
    for lb in load_balancers {
        let Some(tg_arn) = &lb.target_group_arn else {
            return Err(ApiError::InvalidParameter(
                "Target group ARN must be specified for each load balancer.".into(),
            ));
        };
        let tg = berth_lb::targets::target_group(&*ctx.core.store, tg_arn)
            .await
            .map_err(|e| {
                ApiError::InvalidParameter(format!("The target group {tg_arn} cannot be used: {e}"))
            })?;
        if tg.load_balancer_arns.is_empty() {
            return Err(ApiError::InvalidParameter(format!(
                "The target group with targetGroupArn {tg_arn} does not have an associated \
                 load balancer."
            )));
        }
        let awsvpc = def.network_mode() == NetworkMode::Awsvpc;
        let fits = match tg.target_type {
            berth_lb::model::TargetType::Ip => awsvpc,
            berth_lb::model::TargetType::Instance => !awsvpc,
            _ => false,
        };
        if !fits {
            return Err(ApiError::InvalidParameter(format!(
                "The provided target group {tg_arn} has target type {}, which is incompatible \
                 with the {} network mode specified in the task definition.",
                tg.target_type,
                def.network_mode().as_str()
            )));
        }
        let (Some(name), Some(port)) = (&lb.container_name, lb.container_port) else {
            return Err(ApiError::InvalidParameter(
                "containerName and containerPort must be specified for each load balancer.".into(),
            ));
        };
        let container = def
            .definition
            .container_definitions
            .iter()
            .flatten()
            .find(|c| c.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "The container {name} does not exist in the task definition."
                ))
            })?;
        let has_port = container
            .port_mappings
            .iter()
            .flatten()
            .any(|m| m.container_port == Some(port));
        if !has_port {
            return Err(ApiError::InvalidParameter(format!(
                "The container {name} did not have a container port {port} defined."
            )));
        }
    }
    Ok(())
}
