//! TagResource, UntagResource and ListTagsForResource for clusters, task definitions,
//! tasks, container instances, services, task sets and capacity providers, addressed by
//! ARN.

use berth_api::arn::Arn;
use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::capacity::CapacityProviderRecord;
use berth_model::cluster::{tags_to_wire, ClusterRecord};
use berth_model::container_instance::InstanceRecord;
use berth_model::service::{ServiceRecord, ServiceStatus};
use berth_model::tags::{self, Tags};
use berth_model::task::TaskRecord;
use berth_model::task_definition::{tag_pairs, TaskDefinitionRecord};

use super::{cluster_name, is_valid_id, task_definitions};
use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::records::{self, Stored};

/// TagResource: adds or replaces tags.
pub async fn tag(ctx: &Ctx, req: TagResourceRequest) -> Result<TagResourceResponse, ApiError> {
    let new = tag_pairs(&req.tags)?;
    change(ctx, &req.resource_arn, |t| tags::merge(t, new.clone())).await?;
    Ok(TagResourceResponse {})
}

/// UntagResource: removes tags by key.
pub async fn untag(
    ctx: &Ctx,
    req: UntagResourceRequest,
) -> Result<UntagResourceResponse, ApiError> {
    change(ctx, &req.resource_arn, |t| {
        for k in &req.tag_keys {
            t.remove(k);
        }
        Ok(())
    })
    .await?;
    Ok(UntagResourceResponse {})
}

/// ListTagsForResource.
pub async fn list(
    ctx: &Ctx,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let mut found = Tags::new();
    change(ctx, &req.resource_arn, |t| {
        found = t.clone();
        Ok(())
    })
    .await?;
    Ok(ListTagsForResourceResponse {
        tags: Some(tags_to_wire(&found)),
    })
}

/// The resource an ARN names, located in the store.
enum Target {
    Cluster(String),
    TaskDefinition,
    Task(String),
    Instance(String),
    Service(String),
    /// A service's key and the task set's id.
    TaskSet(String, String),
    CapacityProvider(String),
}

fn locate(ctx: &Ctx, arn: &str) -> Result<Target, ApiError> {
    let invalid =
        || ApiError::InvalidParameter(format!("The ARN '{arn}' is not a valid ECS resource ARN."));
    let parsed = Arn::parse(arn).map_err(|_| invalid())?;
    if parsed.service != "ecs"
        || parsed.account != ctx.caller.account
        || parsed.region != ctx.caller.region
    {
        return Err(not_found(arn));
    }
    let scope = ctx.scope();
    let path = parsed.resource_path();
    let in_cluster = |key: fn(&crate::keys::Scope, &str, &str) -> String| {
        let (cluster, id) = path.split_once('/').ok_or_else(invalid)?;
        let cluster = cluster_name(Some(cluster)).map_err(|_| invalid())?;
        if !is_valid_id(id) {
            return Err(invalid());
        }
        Ok(key(&scope, &cluster, id))
    };
    Ok(match parsed.resource_type() {
        "cluster" => {
            Target::Cluster(scope.cluster(&cluster_name(Some(path)).map_err(|_| invalid())?))
        }
        "task-definition" => Target::TaskDefinition,
        "task" => Target::Task(in_cluster(crate::keys::Scope::task)?),
        "container-instance" => Target::Instance(in_cluster(crate::keys::Scope::instance)?),
        "service" => {
            // `service/CLUSTER/NAME` (the long form every service ARN has today).
            let (cluster, name) = path.split_once('/').ok_or_else(invalid)?;
            let cluster = cluster_name(Some(cluster)).map_err(|_| invalid())?;
            if !berth_model::names::is_valid_name(name) {
                return Err(invalid());
            }
            Target::Service(scope.service(&cluster, name))
        }
        "task-set" => {
            // `task-set/CLUSTER/SERVICE/ecs-svc/DIGITS`.
            let mut parts = path.splitn(3, '/');
            let (Some(cluster), Some(service), Some(id)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(invalid());
            };
            let cluster = cluster_name(Some(cluster)).map_err(|_| invalid())?;
            if !berth_model::names::is_valid_name(service) {
                return Err(invalid());
            }
            Target::TaskSet(scope.service(&cluster, service), id.to_string())
        }
        "capacity-provider" if berth_model::names::is_valid_name(path) => {
            Target::CapacityProvider(scope.capacity_provider(path))
        }
        _ => return Err(invalid()),
    })
}

fn not_found(arn: &str) -> ApiError {
    ApiError::InvalidParameter(format!("The specified resource {arn} was not found."))
}

/// Applies `f` to the tags of the resource `arn` names, writing back when they changed.
async fn change(
    ctx: &Ctx,
    arn: &str,
    mut f: impl FnMut(&mut Tags) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    match locate(ctx, arn)? {
        Target::Cluster(key) => {
            change_record::<ClusterRecord>(ctx, arn, &key, |c| {
                if !c.active {
                    return Err(ApiError::ClusterNotFound("Cluster not found.".into()));
                }
                f(&mut c.tags)
            })
            .await
        }
        Target::Task(key) => change_record::<TaskRecord>(ctx, arn, &key, |t| f(&mut t.tags)).await,
        Target::Instance(key) => {
            change_record::<InstanceRecord>(ctx, arn, &key, |i| f(&mut i.tags)).await
        }
        Target::CapacityProvider(key) => {
            change_record::<CapacityProviderRecord>(ctx, arn, &key, |p| f(&mut p.tags)).await
        }
        Target::Service(key) => {
            change_record::<ServiceRecord>(ctx, arn, &key, |s| {
                if s.status == ServiceStatus::Inactive {
                    return Err(not_found(arn));
                }
                f(&mut s.tags)
            })
            .await
        }
        Target::TaskSet(key, id) => {
            change_record::<ServiceRecord>(ctx, arn, &key, |s| {
                let task_set = s
                    .task_sets
                    .iter_mut()
                    .find(|t| t.id == id)
                    .ok_or_else(|| not_found(arn))?;
                f(&mut task_set.tags)
            })
            .await
        }
        Target::TaskDefinition => {
            task_definitions::change_tags(ctx, arn, |d: &mut TaskDefinitionRecord| f(&mut d.tags))
                .await
                .map_err(|e| match e {
                    ApiError::Client(_) => not_found(arn),
                    other => other,
                })
        }
    }
}

async fn change_record<T: Stored + Clone + PartialEq>(
    ctx: &Ctx,
    arn: &str,
    key: &str,
    f: impl FnMut(&mut T) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    records::modify(&*ctx.core.store, key, "The resource", || not_found(arn), f)
        .await
        .map(|_: T| ())
}
