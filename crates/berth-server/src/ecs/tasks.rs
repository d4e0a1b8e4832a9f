//! RunTask, StartTask, StopTask, DescribeTasks, ListTasks, and the state changes agents
//! submit: each parses its request and hands the work to the launch engine
//! ([`crate::launch`]).

use berth_api::agent::{ContainerReport, TaskStateReport};
use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::status::DesiredStatus;
use berth_model::task::TaskRecord;

use super::{active_cluster, active_cluster_to_read, cluster_name, id_from, is_valid_id};
use crate::context::Ctx;
use crate::json::ApiResult;
use crate::keys::EcsKeys;
use crate::launch::{self, LaunchSpec, Target};
use crate::pagination::{self, filtered_page};
use crate::records;

/// RunTask.
pub async fn run(ctx: &Ctx, req: RunTaskRequest) -> Result<RunTaskResponse, ApiError> {
    let count = req.count.unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(ApiError::InvalidParameter(
            "Count must be between 1 and 10.".into(),
        ));
    }
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let capacity = launch::choose_capacity(
        &cluster.value,
        req.launch_type,
        req.capacity_provider_strategy.as_deref(),
    )?;
    // A strategy spreads the tasks over its providers: one launch per provider.
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for (launch_type, capacity_provider, n) in capacity.split(&Default::default(), count as u32) {
        let mut request = launch::prepare(
            ctx,
            LaunchSpec {
                cluster: cluster.clone(),
                task_definition: &req.task_definition,
                launch_type,
                capacity_provider,
                overrides: req.overrides.clone(),
                network: req.network_configuration.as_ref(),
                group: req.group.clone(),
                started_by: req.started_by.clone(),
                tags: req.tags.as_deref(),
                propagate_tags: req.propagate_tags,
                enable_execute_command: req.enable_execute_command.unwrap_or(false),
            },
        )
        .await?;
        crate::task_roles::check_launch(&ctx.core.iam, &request)?;
        if req.enable_ecs_managed_tags == Some(true) {
            request.add_managed_tags(None);
        }
        if launch_type == LaunchType::Fargate
            && (req.placement_constraints.is_some() || req.placement_strategy.is_some())
        {
            return Err(ApiError::InvalidParameter(
                "Task placement constraints and strategies are not supported for the FARGATE \
                 launch type."
                    .into(),
            ));
        }
        let (placed, failed) = launch::launch(
            ctx,
            &request,
            Target {
                count: n,
                only_instance: None,
                strategies: req.placement_strategy.as_deref().unwrap_or_default(),
                constraints: req.placement_constraints.as_deref().unwrap_or_default(),
            },
        )
        .await?;
        tasks.extend(placed);
        failures.extend(failed);
    }
    Ok(RunTaskResponse {
        tasks: Some(tasks),
        failures: Some(failures),
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
    let mut request = launch::prepare(
        ctx,
        LaunchSpec {
            cluster,
            task_definition: &req.task_definition,
            launch_type: LaunchType::Ec2,
            capacity_provider: None,
            overrides: req.overrides.clone(),
            network: req.network_configuration.as_ref(),
            group: req.group.clone(),
            started_by: req.started_by.clone(),
            tags: req.tags.as_deref(),
            propagate_tags: req.propagate_tags,
            enable_execute_command: req.enable_execute_command.unwrap_or(false),
        },
    )
    .await?;
    crate::task_roles::check_launch(&ctx.core.iam, &request)?;
    if req.enable_ecs_managed_tags == Some(true) {
        request.add_managed_tags(None);
    }
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for given in &req.container_instances {
        let id = id_from(given);
        if !is_valid_id(id) {
            failures.push(launch::missing(given));
            continue;
        }
        let one = Target {
            count: 1,
            only_instance: Some(id),
            ..Target::default()
        };
        let (t, f) = launch::launch(ctx, &request, one).await?;
        tasks.extend(t);
        failures.extend(f);
    }
    Ok(StartTaskResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

/// StopTask: asks the task's agent to stop it. A task whose instance is gone is marked
/// STOPPED at once.
pub async fn stop(ctx: &Ctx, req: StopTaskRequest) -> Result<StopTaskResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let reason = req
        .reason
        .clone()
        .unwrap_or_else(|| "Task stopped by user".into());
    let task = launch::stop_task(
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

/// DescribeTasks: up to 100 tasks by id or ARN; unknown ones are `failures` (MISSING).
/// Renders its own JSON: each task's stored wire form is copied in as it is (see
/// [`berth_model::stored`]).
pub async fn describe(ctx: &Ctx, req: DescribeTasksRequest) -> ApiResult {
    if req.tasks.is_empty() || req.tasks.len() > 100 {
        return Err(ApiError::InvalidParameter(
            "tasks must name between 1 and 100 tasks.".into(),
        ));
    }
    let cluster = active_cluster_to_read(ctx, req.cluster.as_deref()).await?;
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
        .read_many(&wanted)
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
                berth_model::stored::write_wire(&kv.value, with_tags, &mut out).map_err(|e| {
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
        &*ctx.core.store,
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
    launch::apply_report(&ctx.core, &ctx.scope(), &report, None).await?;
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
    launch::apply_report(&ctx.core, &ctx.scope(), &report, None).await?;
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
