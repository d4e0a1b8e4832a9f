//! CreateTaskSet, DescribeTaskSets, UpdateTaskSet, DeleteTaskSet and
//! UpdateServicePrimaryTaskSet: the calls an external deployment controller makes on a
//! service with the EXTERNAL deployment controller. Task sets live in their service's
//! record, so each call is one compare-and-swap of the service; the service controller
//! runs each task set's tasks ([`crate::service_controller`]).
//!
//! Where AWS leaves it open: a new task set is ACTIVE, and becomes PRIMARY only through
//! UpdateServicePrimaryTaskSet (the service reports its primary task set's task
//! definition, launch type and network configuration); DeleteTaskSet refuses a task set
//! not scaled to 0 percent unless `force`; a deleted task set is DRAINING until its tasks
//! have stopped, then gone.

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::service::task_set::{self, TaskSetRecord, TaskSetStatus};
use berth_model::service::{task_group, ServiceRecord};
use berth_model::tags::{self, Tags};
use berth_model::task_definition::tag_pairs;
use berth_store::{Compare, Txn};

use super::active_cluster;
use super::services::{self, load_active, new_deployment_id, validate_load_balancers};
use crate::context::Ctx;
use crate::launch::{self, LaunchSpec};
use crate::records::{self, put, Record, Step};

/// The service `given` names, which must have the EXTERNAL deployment controller.
async fn external_service(
    ctx: &Ctx,
    cluster: &str,
    given: &str,
) -> Result<Record<ServiceRecord>, ApiError> {
    let r = load_active(ctx, cluster, given).await?;
    if !r.value.is_external() {
        return Err(ApiError::InvalidParameter(
            "Amazon ECS only supports task set management on services configured to use \
             external deployment controllers."
                .into(),
        ));
    }
    Ok(r)
}

/// The index of the task set `given` (an id or an ARN) names.
fn find(s: &ServiceRecord, given: &str) -> Result<usize, ApiError> {
    s.task_sets
        .iter()
        .position(|t| t.id == given || t.arn == given)
        .ok_or_else(|| ApiError::TaskSetNotFound("The specified task set does not exist.".into()))
}

/// Applies `change` to the service's record and commits it, retrying lost races;
/// returns what `change` returned with the service as committed.
async fn change_service<T: Send>(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    change: impl Fn(&mut ServiceRecord) -> Result<T, ApiError> + Send + Sync,
) -> Result<(T, ServiceRecord), ApiError> {
    let change = &change;
    records::update(&*ctx.core.store, "The service", || async move {
        let r = external_service(ctx, cluster, service).await?;
        let mut s = r.value.clone();
        let out = change(&mut s)?;
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &s));
        Ok(Step::Commit(txn, (out, s)))
    })
    .await
}

/// CreateTaskSet: the same checks as a service's deployment (an ACTIVE revision that
/// fits the launch type and network configuration, target groups that fit it).
pub async fn create(
    ctx: &Ctx,
    req: CreateTaskSetRequest,
) -> Result<CreateTaskSetResponse, ApiError> {
    let cluster = active_cluster(ctx, Some(&req.cluster)).await?;
    let service = external_service(ctx, &cluster.value.name, &req.service).await?;
    if req
        .service_registries
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        return Err(ApiError::UnsupportedFeature(
            "Service discovery (serviceRegistries) needs AWS Cloud Map, which Berth does not \
             serve."
                .into(),
        ));
    }
    let capacity = launch::choose_capacity(
        &cluster.value,
        req.launch_type,
        req.capacity_provider_strategy.as_deref(),
    )?;
    let (launch_type, capacity_provider) = capacity.first();
    let prepared = launch::prepare(
        ctx,
        LaunchSpec {
            cluster: cluster.clone(),
            task_definition: &req.task_definition,
            launch_type,
            capacity_provider,
            overrides: None,
            network: req.network_configuration.as_ref(),
            group: Some(task_group(&service.value.name)),
            started_by: None,
            tags: None,
            propagate_tags: None,
            enable_execute_command: service.value.enable_execute_command,
        },
    )
    .await?;
    let load_balancers = req.load_balancers.clone().unwrap_or_default();
    validate_load_balancers(ctx, &prepared.def.value, &load_balancers).await?;
    let scale = task_set::scale_percent(req.scale.as_ref())?;
    let mut set_tags = Tags::new();
    tags::merge(
        &mut set_tags,
        tag_pairs(req.tags.as_deref().unwrap_or_default())?,
    )?;
    let task_definition = prepared
        .def
        .value
        .definition
        .task_definition_arn
        .clone()
        .unwrap_or_default();
    let (launch_type, capacity_provider_strategy) = capacity.parts();
    let now = ctx.now();
    let id = new_deployment_id();
    let new = TaskSetRecord {
        arn: ctx.arn(format!(
            "task-set/{}/{}/{id}",
            cluster.value.name, service.value.name
        )),
        id,
        external_id: req.external_id.clone(),
        client_token: req.client_token.clone(),
        status: TaskSetStatus::Active,
        task_definition,
        launch_type,
        capacity_provider_strategy,
        network_configuration: req.network_configuration.clone(),
        load_balancers,
        scale,
        computed_desired_count: 0,
        pending_count: 0,
        running_count: 0,
        stability: StabilityStatus::Stabilizing,
        stability_at: now,
        created_at: now,
        updated_at: now,
        tags: set_tags,
    };
    let (created, s) = change_service(ctx, &cluster.value.name, &req.service, |s| {
        // A retry with the same client token gets the task set the first call made.
        if let Some(token) = &new.client_token {
            if let Some(done) = s
                .task_sets
                .iter()
                .find(|t| t.client_token.as_ref() == Some(token))
            {
                return Ok(done.clone());
            }
        }
        let mut t = new.clone();
        t.computed_desired_count = task_set::computed_desired(s.desired_count, t.scale);
        s.task_sets.push(t.clone());
        Ok(t)
    })
    .await?;
    Ok(CreateTaskSetResponse {
        task_set: Some(created.to_wire(&s.arn, &s.cluster_arn, true)),
    })
}

/// DescribeTaskSets: all of the service's task sets, or the ones named (unknown ones
/// are MISSING failures).
pub async fn describe(
    ctx: &Ctx,
    req: DescribeTaskSetsRequest,
) -> Result<DescribeTaskSetsResponse, ApiError> {
    let cluster = active_cluster(ctx, Some(&req.cluster)).await?;
    let s = match services::load(ctx, &cluster.value.name, &req.service).await? {
        Some(r) => r.value,
        None => return Err(ApiError::ServiceNotFound("Service not found.".into())),
    };
    if !s.is_external() {
        return Err(ApiError::InvalidParameter(
            "Amazon ECS only supports task set management on services configured to use \
             external deployment controllers."
                .into(),
        ));
    }
    let with_tags = req
        .include
        .as_deref()
        .unwrap_or_default()
        .contains(&TaskSetField::Tags);
    let wire = |t: &TaskSetRecord| t.to_wire(&s.arn, &s.cluster_arn, with_tags);
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    match &req.task_sets {
        None => found.extend(s.task_sets.iter().map(wire)),
        Some(named) => {
            for given in named {
                match find(&s, given) {
                    Ok(i) => found.push(wire(&s.task_sets[i])),
                    Err(_) => failures.push(Failure {
                        arn: Some(given.clone()),
                        reason: Some("MISSING".into()),
                        detail: None,
                    }),
                }
            }
        }
    }
    Ok(DescribeTaskSetsResponse {
        task_sets: Some(found),
        failures: Some(failures),
    })
}

/// UpdateTaskSet: a new scale; the task set's computed desired count follows at once
/// and its tasks on the controller's next pass.
pub async fn update(
    ctx: &Ctx,
    req: UpdateTaskSetRequest,
) -> Result<UpdateTaskSetResponse, ApiError> {
    let cluster = active_cluster(ctx, Some(&req.cluster)).await?;
    let scale = task_set::scale_percent(Some(&req.scale))?;
    let now = ctx.now();
    let (i, s) = change_service(ctx, &cluster.value.name, &req.service, |s| {
        let i = find(s, &req.task_set)?;
        let desired = s.desired_count;
        let t = &mut s.task_sets[i];
        if t.status == TaskSetStatus::Draining {
            return Err(ApiError::InvalidParameter(
                "The task set is being deleted and cannot be updated.".into(),
            ));
        }
        t.scale = scale;
        t.computed_desired_count = task_set::computed_desired(desired, scale);
        t.updated_at = now;
        Ok(i)
    })
    .await?;
    Ok(UpdateTaskSetResponse {
        task_set: Some(s.task_sets[i].to_wire(&s.arn, &s.cluster_arn, false)),
    })
}

/// DeleteTaskSet: the task set drains (its tasks stop) and then goes.
pub async fn delete(
    ctx: &Ctx,
    req: DeleteTaskSetRequest,
) -> Result<DeleteTaskSetResponse, ApiError> {
    let cluster = active_cluster(ctx, Some(&req.cluster)).await?;
    let force = req.force == Some(true);
    let now = ctx.now();
    let (i, s) = change_service(ctx, &cluster.value.name, &req.service, |s| {
        let i = find(s, &req.task_set)?;
        let t = &mut s.task_sets[i];
        if t.scale > 0.0 && !force && t.status != TaskSetStatus::Draining {
            return Err(ApiError::InvalidParameter(format!(
                "The task set {} cannot be deleted because it is scaled to {}%; scale it to 0 \
                 with UpdateTaskSet first, or delete it with force.",
                t.id, t.scale
            )));
        }
        t.status = TaskSetStatus::Draining;
        t.computed_desired_count = 0;
        t.updated_at = now;
        Ok(i)
    })
    .await?;
    Ok(DeleteTaskSetResponse {
        task_set: Some(s.task_sets[i].to_wire(&s.arn, &s.cluster_arn, false)),
    })
}

/// UpdateServicePrimaryTaskSet: the named task set becomes PRIMARY, the former primary
/// ACTIVE.
pub async fn update_primary(
    ctx: &Ctx,
    req: UpdateServicePrimaryTaskSetRequest,
) -> Result<UpdateServicePrimaryTaskSetResponse, ApiError> {
    let cluster = active_cluster(ctx, Some(&req.cluster)).await?;
    let now = ctx.now();
    let (i, s) = change_service(ctx, &cluster.value.name, &req.service, |s| {
        let i = find(s, &req.primary_task_set)?;
        if s.task_sets[i].status == TaskSetStatus::Draining {
            return Err(ApiError::InvalidParameter(
                "The task set is being deleted and cannot become the primary task set.".into(),
            ));
        }
        for (j, t) in s.task_sets.iter_mut().enumerate() {
            let status = if j == i {
                TaskSetStatus::Primary
            } else if t.status == TaskSetStatus::Primary {
                TaskSetStatus::Active
            } else {
                continue;
            };
            if t.status != status {
                t.status = status;
                t.updated_at = now;
            }
        }
        Ok(i)
    })
    .await?;
    Ok(UpdateServicePrimaryTaskSetResponse {
        task_set: Some(s.task_sets[i].to_wire(&s.arn, &s.cluster_arn, false)),
    })
}
