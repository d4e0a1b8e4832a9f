//! A repository's settings through ECR's API: PutImageTagMutability,
//! Put/Get/DeleteLifecyclePolicy and TagResource/UntagResource/ListTagsForResource
//! (repository policies are [`super::repository_policy`]'s).
//! They live in the registry's repository record, so they go with the repository.
//!
//! A put lifecycle policy is applied by the registry's upkeep ([`super::maintenance`]),
//! which is woken at once, so its effect shows within moments rather than ECR's
//! "within 24 hours"; afterwards it applies at every pass.

use berth_api::arn::Arn;
use berth_api::ecr::{
    DeleteLifecyclePolicyRequest, DeleteLifecyclePolicyResponse, GetLifecyclePolicyRequest,
    GetLifecyclePolicyResponse, ImageTagMutability, ListTagsForResourceRequest,
    ListTagsForResourceResponse, PutImageTagMutabilityRequest, PutImageTagMutabilityResponse,
    PutLifecyclePolicyRequest, PutLifecyclePolicyResponse, Tag, TagResourceRequest,
    TagResourceResponse, Timestamp, UntagResourceRequest, UntagResourceResponse,
};
use berth_api::error::ApiError;
use berth_model::tags;
use berth_registry::metadata::{LifecyclePolicyRecord, RepositoryRecord, TagMutability};
use berth_registry::RepoName;

use super::lifecycle::Policy;
use super::Call;
use super::{check_registry, metadata_error, repo_name, scope};

/// Changes a repository's settings; `change` may refuse with an API error.
pub(super) async fn update(
    ctx: &Call<'_>,
    name: &RepoName,
    change: impl FnMut(&mut berth_registry::metadata::RepositorySettings) -> Result<(), Refusal>,
) -> Result<RepositoryRecord, ApiError> {
    ctx.ecr
        .registry
        .metadata()
        .update_repository(&scope(ctx), name, change)
        .await
        .map_err(|e| match e {
            Refusal::Api(e) => e,
            Refusal::Metadata(e) => metadata_error(e),
        })
}

/// Why a settings change did not happen.
pub(super) enum Refusal {
    Api(ApiError),
    Metadata(berth_registry::MetadataError),
}

impl From<berth_registry::MetadataError> for Refusal {
    fn from(e: berth_registry::MetadataError) -> Self {
        Refusal::Metadata(e)
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

/// The registry's tag mutability for ECR's value; the `*_WITH_EXCLUSION` variants are
/// refused with a reason, not approximated.
pub(super) fn tag_mutability(m: ImageTagMutability) -> Result<TagMutability, ApiError> {
    match m {
        ImageTagMutability::Mutable => Ok(TagMutability::Mutable),
        ImageTagMutability::Immutable => Ok(TagMutability::Immutable),
        other => Err(ApiError::InvalidParameter(format!(
            "imageTagMutability {other} is not supported by Berth yet; use MUTABLE or IMMUTABLE"
        ))),
    }
}

pub async fn put_tag_mutability(
    ctx: &Call<'_>,
    req: PutImageTagMutabilityRequest,
) -> Result<PutImageTagMutabilityResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let mutability = tag_mutability(req.image_tag_mutability)?;
    let record = update(ctx, &name, |s| {
        s.image_tag_mutability = mutability;
        Ok(())
    })
    .await?;
    Ok(PutImageTagMutabilityResponse {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(record.name),
        image_tag_mutability: Some(req.image_tag_mutability),
        image_tag_mutability_exclusion_filters: None,
    })
}

pub async fn put_lifecycle_policy(
    ctx: &Call<'_>,
    req: PutLifecyclePolicyRequest,
) -> Result<PutLifecyclePolicyResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    Policy::parse(&req.lifecycle_policy_text)?;
    let text = req.lifecycle_policy_text;
    let record = update(ctx, &name, |s| {
        s.lifecycle_policy = Some(LifecyclePolicyRecord {
            text: text.clone(),
            last_evaluated_at: None,
        });
        Ok(())
    })
    .await?;
    Ok(PutLifecyclePolicyResponse {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(record.name),
        lifecycle_policy_text: Some(text),
    })
}

fn no_policy(ctx: &Call<'_>, name: &RepoName) -> ApiError {
    ApiError::LifecyclePolicyNotFound(format!(
        "Lifecycle policy does not exist for the repository with name '{name}' in the \
         registry with id '{}'",
        ctx.caller.account
    ))
}

pub async fn get_lifecycle_policy(
    ctx: &Call<'_>,
    req: GetLifecyclePolicyRequest,
) -> Result<GetLifecyclePolicyResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let record = super::repository(ctx, &name).await?;
    let policy = record
        .settings
        .lifecycle_policy
        .ok_or_else(|| no_policy(ctx, &name))?;
    Ok(GetLifecyclePolicyResponse {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(record.name),
        lifecycle_policy_text: Some(policy.text),
        last_evaluated_at: policy
            .last_evaluated_at
            .map(|ms| Timestamp::from_millis(ms as i64)),
    })
}

pub async fn delete_lifecycle_policy(
    ctx: &Call<'_>,
    req: DeleteLifecyclePolicyRequest,
) -> Result<DeleteLifecyclePolicyResponse, ApiError> {
    check_registry(ctx, req.registry_id.as_deref())?;
    let name = repo_name(&req.repository_name)?;
    let mut removed = None;
    let record = update(ctx, &name, |s| {
        removed = Some(
            s.lifecycle_policy
                .take()
                .ok_or_else(|| no_policy(ctx, &name))?,
        );
        Ok(())
    })
    .await?;
    let policy = removed.expect("the update ran and found a policy");
    Ok(DeleteLifecyclePolicyResponse {
        registry_id: Some(ctx.caller.account.clone()),
        repository_name: Some(record.name),
        lifecycle_policy_text: Some(policy.text),
        last_evaluated_at: policy
            .last_evaluated_at
            .map(|ms| Timestamp::from_millis(ms as i64)),
    })
}

/// Checks ECR tags against AWS's rules, with ECR's error types.
pub(super) fn checked_tags(given: Vec<Tag>, existing: &tags::Tags) -> Result<tags::Tags, ApiError> {
    let pairs: Vec<(String, String)> = given.into_iter().map(|t| (t.key, t.value)).collect();
    for (k, v) in &pairs {
        tags::validate_tag(k, v).map_err(|e| ApiError::InvalidTagParameter(e.message().into()))?;
    }
    let mut merged = existing.clone();
    // Every pair is valid, so only the count can fail.
    tags::merge(&mut merged, pairs).map_err(|e| ApiError::TooManyTags(e.message().into()))?;
    Ok(merged)
}

pub(super) fn wire_tags(tags: &tags::Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// The repository a resource ARN names; it must be one of the caller's.
fn repository_of(ctx: &Call<'_>, arn: &str) -> Result<RepoName, ApiError> {
    let invalid = || {
        ApiError::InvalidParameter(format!(
            "Invalid parameter at 'resourceArn' failed to satisfy constraint: '{arn}' is not \
             the ARN of an ECR repository of account {} in {}",
            ctx.caller.account, ctx.caller.region
        ))
    };
    let parsed = Arn::parse(arn).map_err(|_| invalid())?;
    if parsed.service != "ecr"
        || parsed.resource_type() != "repository"
        || parsed.account != ctx.caller.account
        || parsed.region != ctx.caller.region
    {
        return Err(invalid());
    }
    repo_name(parsed.resource_path())
}

pub async fn tag_resource(
    ctx: &Call<'_>,
    req: TagResourceRequest,
) -> Result<TagResourceResponse, ApiError> {
    let name = repository_of(ctx, &req.resource_arn)?;
    update(ctx, &name, |s| {
        s.tags = checked_tags(req.tags.clone(), &s.tags)?;
        Ok(())
    })
    .await?;
    Ok(TagResourceResponse {})
}

pub async fn untag_resource(
    ctx: &Call<'_>,
    req: UntagResourceRequest,
) -> Result<UntagResourceResponse, ApiError> {
    let name = repository_of(ctx, &req.resource_arn)?;
    if let Some(bad) = req
        .tag_keys
        .iter()
        .find(|k| k.is_empty() || k.chars().count() > 128)
    {
        return Err(ApiError::InvalidTagParameter(format!(
            "Tag key '{bad}' must be between 1 and 128 characters."
        )));
    }
    update(ctx, &name, |s| {
        for key in &req.tag_keys {
            s.tags.remove(key);
        }
        Ok(())
    })
    .await?;
    Ok(UntagResourceResponse {})
}

pub async fn list_tags(
    ctx: &Call<'_>,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let name = repository_of(ctx, &req.resource_arn)?;
    let record = super::repository(ctx, &name).await?;
    Ok(ListTagsForResourceResponse {
        tags: Some(wire_tags(&record.settings.tags)),
    })
}
