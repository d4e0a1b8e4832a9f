//! PutAttributes, DeleteAttributes and ListAttributes on container instances.

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::container_instance::InstanceRecord;

use super::active_cluster;
use super::container_instances::{change, find};
use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::pagination::{self, filtered_page};
use berth_model::container_instance::validate_attribute;

/// The most attributes one call may name.
const MAX_PER_CALL: usize = 10;
/// The most custom attributes one instance may carry.
const MAX_PER_INSTANCE: usize = 10;

fn target(a: &Attribute) -> Result<&str, ApiError> {
    if a.target_type
        .is_some_and(|t| t != TargetType::ContainerInstance)
    {
        return Err(ApiError::InvalidParameter(
            "targetType must be container-instance.".into(),
        ));
    }
    a.target_id.as_deref().ok_or_else(|| {
        ApiError::InvalidParameter(format!("Attribute '{}' needs a targetId.", a.name))
    })
}

fn check_count(attributes: &[Attribute]) -> Result<(), ApiError> {
    if attributes.is_empty() || attributes.len() > MAX_PER_CALL {
        return Err(ApiError::InvalidParameter(format!(
            "attributes must hold between 1 and {MAX_PER_CALL} attributes."
        )));
    }
    Ok(())
}

/// PutAttributes.
pub async fn put(ctx: &Ctx, req: PutAttributesRequest) -> Result<PutAttributesResponse, ApiError> {
    check_count(&req.attributes)?;
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    for a in &req.attributes {
        validate_attribute(a)?;
        target(a)?;
    }
    for a in &req.attributes {
        let id = target(a)?;
        change(ctx, &cluster.value.name, id, |i| {
            i.attributes.insert(a.name.clone(), a.value.clone());
            let custom = i.attributes.keys().filter(|k| !is_builtin(k)).count();
            if custom > MAX_PER_INSTANCE {
                return Err(ApiError::AttributeLimitExceeded(format!(
                    "A container instance can have at most {MAX_PER_INSTANCE} custom attributes."
                )));
            }
            Ok(())
        })
        .await
        .map_err(|e| match e {
            ApiError::InvalidParameter(_) => {
                ApiError::TargetNotFound(format!("Could not find {id}."))
            }
            other => other,
        })?;
    }
    Ok(PutAttributesResponse {
        attributes: Some(req.attributes),
    })
}

/// DeleteAttributes.
pub async fn delete(
    ctx: &Ctx,
    req: DeleteAttributesRequest,
) -> Result<DeleteAttributesResponse, ApiError> {
    check_count(&req.attributes)?;
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    for a in &req.attributes {
        let id = target(a)?;
        find(ctx, &cluster.value.name, id)
            .await
            .map_err(|_| ApiError::TargetNotFound(format!("Could not find {id}.")))?;
        change(ctx, &cluster.value.name, id, |i| {
            i.attributes.remove(&a.name);
            Ok(())
        })
        .await?;
    }
    Ok(DeleteAttributesResponse {
        attributes: Some(req.attributes),
    })
}

/// ListAttributes of a cluster's container instances, filtered by name and value.
pub async fn list(
    ctx: &Ctx,
    req: ListAttributesRequest,
) -> Result<ListAttributesResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    if req.attribute_value.is_some() && req.attribute_name.is_none() {
        return Err(ApiError::InvalidParameter(
            "attributeValue can only be given with attributeName.".into(),
        ));
    }
    let max = pagination::max_results(req.max_results, pagination::DEFAULT_MAX_RESULTS)?;
    let matches = |(k, v): (&String, &Option<String>)| {
        req.attribute_name.as_ref().is_none_or(|n| n == k)
            && req
                .attribute_value
                .as_ref()
                .is_none_or(|want| v.as_ref() == Some(want))
    };
    let (page, next) = filtered_page::<InstanceRecord, _>(
        &*ctx.core.store,
        &ctx.scope().instances(&cluster.value.name),
        req.next_token.as_deref(),
        max,
        |r| r.value.attributes.iter().any(matches),
    )
    .await?;
    let attributes = page
        .iter()
        .flat_map(|r| r.value.attributes_to_wire())
        .filter(|a| matches((&a.name, &a.value)))
        .collect();
    Ok(ListAttributesResponse {
        attributes: Some(attributes),
        next_token: next,
    })
}

fn is_builtin(name: &str) -> bool {
    name.starts_with("ecs.") || name.starts_with("com.amazonaws.ecs.")
}
