//! RegisterContainerInstance, DeregisterContainerInstance, DescribeContainerInstances,
//! ListContainerInstances, UpdateContainerInstancesState and DiscoverPollEndpoint, plus
//! the lookups the agent channel and attributes share.

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::container_instance::{InstanceRecord, InstanceTaskCounts, Resources};
use berth_model::tags::{self, Tags};
use berth_model::task::TaskRecord;
use berth_model::task_definition::tag_pairs;
use berth_scheduler::Expression;
use berth_store::{Compare, Txn};

use super::{active_cluster, id_from, is_valid_id, new_id};
use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::launch::placement::{self, Occupancy};
use crate::launch::release;
use crate::pagination::{self, filtered_page};
use crate::records::{self, commit, put, Record, Step};

/// RegisterContainerInstance, the call the ECS agent makes when it joins a cluster.
pub async fn register(
    ctx: &Ctx,
    req: RegisterContainerInstanceRequest,
) -> Result<RegisterContainerInstanceResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let resources = Resources::from_wire(req.total_resources.as_deref().ok_or_else(|| {
        ApiError::InvalidParameter("totalResources is required to register an instance.".into())
    })?)?;
    let mut record_tags = Tags::new();
    tags::merge(
        &mut record_tags,
        tag_pairs(req.tags.as_deref().unwrap_or_default())?,
    )?;
    let attributes = req
        .attributes
        .iter()
        .flatten()
        .map(|a| {
            berth_model::container_instance::validate_attribute(a)?;
            Ok((a.name.clone(), a.value.clone()))
        })
        .collect::<Result<_, ApiError>>()?;
    let id = match &req.container_instance_arn {
        Some(arn) => {
            let id = id_from(arn);
            if !is_valid_id(id) {
                return Err(ApiError::InvalidParameter(format!(
                    "Invalid containerInstanceArn '{arn}'."
                )));
            }
            id.to_string()
        }
        None => new_id(),
    };
    let now = ctx.now();
    let key = &ctx.scope().instance(&cluster.value.name, &id);
    let (id, req, resources, attributes, record_tags) =
        (&id, &req, &resources, &attributes, &record_tags);
    records::update(&*ctx.core.store, "The container instance", || async move {
        // Read again each attempt: a concurrent DeleteCluster must win or lose cleanly.
        let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
        let existing = records::get::<InstanceRecord>(&*ctx.core.store, key).await?;
        let record = InstanceRecord {
            arn: ctx.arn(format!("container-instance/{}/{id}", cluster.value.name)),
            id: id.clone(),
            cluster: cluster.value.name.clone(),
            ec2_instance_id: existing
                .as_ref()
                .and_then(|e| e.value.ec2_instance_id.clone())
                .or_else(|| instance_id_from(req.instance_identity_document.as_deref()))
                .or_else(|| Some(format!("i-{}", &new_id()[..17]))),
            status: ContainerInstanceStatus::Active,
            remaining: existing
                .as_ref()
                .map_or_else(|| resources.clone(), |e| e.value.remaining.clone()),
            registered: resources.clone(),
            attributes: attributes_with_defaults(attributes, &ctx.caller.region),
            version_info: req.version_info.clone(),
            registered_at: existing.as_ref().map_or(now, |e| e.value.registered_at),
            // Registering through the API is not an agent connection: as in ECS, the
            // instance shows agentConnected false until its agent heartbeats.
            last_heartbeat: existing.as_ref().and_then(|e| e.value.last_heartbeat),
            tags: record_tags.clone(),
            version: existing.as_ref().map_or(1, |e| e.value.version + 1),
            fargate_pool: false,
            lost_at: None,
            twin: None,
        };
        let txn = Txn::new()
            .when(Compare::unchanged(&cluster.key, cluster.revision))
            .when(Compare::unchanged(key, existing.map_or(0, |e| e.revision)))
            .then(put(key, &record));
        Ok(Step::Commit(
            txn,
            RegisterContainerInstanceResponse {
                container_instance: Some(record.to_wire(
                    InstanceTaskCounts::default(),
                    ctx.core.liveness.heard(&record),
                    now,
                    true,
                )),
            },
        ))
    })
    .await
}

/// The `instanceId` of an EC2 instance identity document, if one was given.
fn instance_id_from(document: Option<&str>) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(document?).ok()?;
    doc["instanceId"].as_str().map(str::to_string)
}

/// The built-in attributes every instance carries unless it says otherwise.
pub fn attributes_with_defaults(
    given: &std::collections::BTreeMap<String, Option<String>>,
    region: &str,
) -> std::collections::BTreeMap<String, Option<String>> {
    let mut out = given.clone();
    out.entry("ecs.os-type".into())
        .or_insert(Some("linux".into()));
    out.entry("ecs.availability-zone".into())
        .or_insert(Some(format!("{region}a")));
    out
}

/// DeregisterContainerInstance. With tasks still on it, `force` is required; their
/// records then stop, since nothing will run them any more.
pub async fn deregister(
    ctx: &Ctx,
    req: DeregisterContainerInstanceRequest,
) -> Result<DeregisterContainerInstanceResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let scope = ctx.scope();
    let store = &*ctx.core.store;
    let inst = find(ctx, &cluster.value.name, &req.container_instance).await?;
    let tasks: Vec<Record<TaskRecord>> =
        records::list(store, &scope.tasks(&cluster.value.name)).await?;
    let on_it: Vec<_> = tasks
        .into_iter()
        .filter(|t| t.value.placement.instance_arn == inst.value.arn && t.value.holds_resources())
        .collect();
    if !on_it.is_empty() && req.force != Some(true) {
        return Err(ApiError::InvalidParameter(
            "The container instance has tasks running. Stop them first, or deregister with \
             force."
                .into(),
        ));
    }
    let now = ctx.now();
    let mut txn = Txn::new().when(Compare::unchanged(&inst.key, inst.revision));
    for t in &on_it {
        let mut task = t.value.clone();
        task.force_stopped(
            TaskStopCode::TaskFailedToStart,
            "Container instance deregistration forced by user",
            now,
        );
        txn = txn
            .when(Compare::unchanged(&t.key, t.revision))
            .then(put(&t.key, &task));
    }
    txn = txn
        .then(berth_store::Op::delete(&inst.key))
        .then(ctx.core.liveness.forget_op(&inst.value.id));
    if !commit(store, txn).await?.is_committed() {
        return Err(ApiError::Server(
            "The container instance or its tasks changed during deregistration; retry the \
             request."
                .into(),
        ));
    }
    let _ = release; // reservations vanish with the instance record
    let mut wire = inst
        .value
        .to_wire(InstanceTaskCounts::default(), None, now, false);
    wire.status = Some("INACTIVE".into());
    wire.agent_connected = false;
    Ok(DeregisterContainerInstanceResponse {
        container_instance: Some(wire),
    })
}

/// DescribeContainerInstances.
pub async fn describe(
    ctx: &Ctx,
    req: DescribeContainerInstancesRequest,
) -> Result<DescribeContainerInstancesResponse, ApiError> {
    if req.container_instances.is_empty() || req.container_instances.len() > 100 {
        return Err(ApiError::InvalidParameter(
            "containerInstances must name between 1 and 100 container instances.".into(),
        ));
    }
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let with_tags = req
        .include
        .unwrap_or_default()
        .contains(&ContainerInstanceField::Tags);
    let counts = task_counts(ctx, &cluster.value.name).await?;
    let now = ctx.now();
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for given in &req.container_instances {
        match find(ctx, &cluster.value.name, given).await {
            Ok(r) => {
                let c = counts.get(&r.value.arn).copied().unwrap_or_default();
                let heard = ctx.core.liveness.heard(&r.value);
                out.push(r.value.to_wire(c, heard, now, with_tags));
            }
            Err(ApiError::InvalidParameter(_)) => failures.push(Failure {
                arn: Some(given.clone()),
                reason: Some("MISSING".into()),
                detail: None,
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(DescribeContainerInstancesResponse {
        container_instances: Some(out),
        failures: Some(failures),
    })
}

/// ListContainerInstances, with `status` and a cluster query language `filter`.
pub async fn list(
    ctx: &Ctx,
    req: ListContainerInstancesRequest,
) -> Result<ListContainerInstancesResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let max = pagination::max_results(req.max_results, pagination::DEFAULT_MAX_RESULTS)?;
    let filter = req
        .filter
        .as_deref()
        .map(Expression::parse)
        .transpose()
        .map_err(|e| ApiError::InvalidParameter(format!("Invalid filter: {e}")))?;
    let occupancy = if filter.as_ref().is_some_and(Expression::depends_on_tasks) {
        let tasks: Vec<Record<TaskRecord>> =
            records::list(&*ctx.core.store, &ctx.scope().tasks(&cluster.value.name)).await?;
        Occupancy::of(&tasks)
    } else {
        Occupancy::default()
    };
    let now = ctx.now();
    let (page, next) = filtered_page::<InstanceRecord, _>(
        &*ctx.core.store,
        &ctx.scope().instances(&cluster.value.name),
        req.next_token.as_deref(),
        max,
        |r| {
            req.status.is_none_or(|s| r.value.status == s)
                && filter.as_ref().is_none_or(|f| {
                    f.matches(&placement::to_scheduler(
                        &r.value,
                        ctx.core.liveness.heard(&r.value),
                        now,
                        &occupancy,
                    ))
                })
        },
    )
    .await?;
    Ok(ListContainerInstancesResponse {
        container_instance_arns: Some(page.into_iter().map(|r| r.value.arn).collect()),
        next_token: next,
    })
}

/// UpdateContainerInstancesState: ACTIVE or DRAINING.
pub async fn update_state(
    ctx: &Ctx,
    req: UpdateContainerInstancesStateRequest,
) -> Result<UpdateContainerInstancesStateResponse, ApiError> {
    if !matches!(
        req.status,
        ContainerInstanceStatus::Active | ContainerInstanceStatus::Draining
    ) {
        return Err(ApiError::InvalidParameter(
            "Container instances can only be set to ACTIVE or DRAINING.".into(),
        ));
    }
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    let counts = task_counts(ctx, &cluster.value.name).await?;
    let now = ctx.now();
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for given in &req.container_instances {
        let updated = change(ctx, &cluster.value.name, given, |i| {
            if i.status != req.status {
                i.status = req.status;
                i.version += 1;
            }
            Ok(())
        })
        .await;
        match updated {
            Ok(i) => {
                let c = counts.get(&i.arn).copied().unwrap_or_default();
                let heard = ctx.core.liveness.heard(&i);
                out.push(i.to_wire(c, heard, now, false));
            }
            Err(ApiError::InvalidParameter(_)) => failures.push(Failure {
                arn: Some(given.clone()),
                reason: Some("MISSING".into()),
                detail: None,
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(UpdateContainerInstancesStateResponse {
        container_instances: Some(out),
        failures: Some(failures),
    })
}

/// Finds an instance of a cluster by id or ARN; `InvalidParameterException` if absent.
pub async fn find(
    ctx: &Ctx,
    cluster: &str,
    given: &str,
) -> Result<Record<InstanceRecord>, ApiError> {
    let id = id_from(given);
    let missing = || {
        ApiError::InvalidParameter(format!(
            "The referenced container instance {given} was not found."
        ))
    };
    if !is_valid_id(id) {
        return Err(missing());
    }
    records::get(&*ctx.core.store, &ctx.scope().instance(cluster, id))
        .await?
        .ok_or_else(missing)
}

/// Read-modify-write of one instance with compare-and-swap.
pub async fn change(
    ctx: &Ctx,
    cluster: &str,
    given: &str,
    f: impl Fn(&mut InstanceRecord) -> Result<(), ApiError>,
) -> Result<InstanceRecord, ApiError> {
    let f = &f;
    records::update(&*ctx.core.store, "The container instance", || async move {
        let r = find(ctx, cluster, given).await?;
        let mut updated = r.value.clone();
        f(&mut updated)?;
        if updated == r.value {
            return Ok(Step::Done(updated));
        }
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &updated));
        Ok(Step::Commit(txn, updated))
    })
    .await
}

/// Running and pending task counts per instance ARN of a cluster, from the replica's
/// [`TaskCounts`](crate::task_counts::TaskCounts) (or the store while it lists afresh).
async fn task_counts(
    ctx: &Ctx,
    cluster: &str,
) -> Result<std::collections::HashMap<String, InstanceTaskCounts>, ApiError> {
    let prefix = ctx.scope().tasks(cluster);
    Ok(match ctx.core.task_counts.of_cluster(&prefix) {
        Some(counts) => counts.by_instance,
        None => {
            super::clusters::counted_from_store(ctx, &prefix)
                .await?
                .by_instance
        }
    })
}

/// DiscoverPollEndpoint: where an agent polls for work. Berth's agents use the agent
/// channel on the API endpoint itself, so every endpoint is the one the call reached.
pub fn discover_poll_endpoint(
    req: DiscoverPollEndpointRequest,
    endpoint: &str,
) -> Result<DiscoverPollEndpointResponse, ApiError> {
    if let Some(cluster) = &req.cluster {
        super::cluster_name(Some(cluster))?;
    }
    Ok(DiscoverPollEndpointResponse {
        endpoint: Some(endpoint.to_string()),
        telemetry_endpoint: Some(endpoint.to_string()),
        service_connect_endpoint: Some(endpoint.to_string()),
    })
}
