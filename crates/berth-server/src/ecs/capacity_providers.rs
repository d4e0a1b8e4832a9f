//! CreateCapacityProvider, DescribeCapacityProviders, UpdateCapacityProvider and
//! DeleteCapacityProvider.
//!
//! FARGATE and FARGATE_SPOT are built in (both place on the Fargate pool). A provider
//! backed by an Auto Scaling group has no group to scale on Berth: it stands for the
//! container instances that joined the clusters it is associated with
//! (PutClusterCapacityProviders), and its tasks launch on them as EC2 tasks. Its managed
//! scaling, termination protection and draining settings are kept and reported as AWS
//! shapes them (with AWS's defaults), and change nothing.

use berth_api::ecs::{
    CapacityProvider, CapacityProviderField, CapacityProviderStatus, CapacityProviderType,
    CapacityProviderUpdateStatus, CreateCapacityProviderRequest, CreateCapacityProviderResponse,
    DeleteCapacityProviderRequest, DeleteCapacityProviderResponse,
    DescribeCapacityProvidersRequest, DescribeCapacityProvidersResponse, Failure,
    UpdateCapacityProviderRequest, UpdateCapacityProviderResponse,
};
use berth_api::error::ApiError;
use berth_model::capacity::{is_fargate, with_defaults, CapacityProviderRecord, FARGATE_PROVIDERS};
use berth_model::cluster::ClusterRecord;
use berth_model::tags::{self, Tags};
use berth_model::task_definition::tag_pairs;
use berth_store::{Compare, Op, Txn};

use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::records::{self, put, Step};

/// A built-in Fargate provider, as DescribeCapacityProviders shows it.
fn built_in(ctx: &Ctx, name: &str) -> CapacityProvider {
    CapacityProvider {
        capacity_provider_arn: Some(ctx.arn(format!("capacity-provider/{name}"))),
        name: Some(name.to_string()),
        status: Some(CapacityProviderStatus::Active),
        tags: Some(Vec::new()),
        r#type: Some(if name == "FARGATE" {
            CapacityProviderType::Fargate
        } else {
            CapacityProviderType::FargateSpot
        }),
        ..Default::default()
    }
}

/// A provider's name, from a name or an ARN.
fn name_of(given: &str) -> &str {
    given
        .strip_prefix("arn:")
        .and_then(|_| given.rsplit_once("capacity-provider/"))
        .map_or(given, |(_, name)| name)
}

/// Refuses a name AWS refuses.
fn check_name(name: &str) -> Result<(), ApiError> {
    if !berth_model::names::is_valid_name(name) {
        return Err(ApiError::InvalidParameter(
            "The capacity provider name must be 1-255 characters long and contain only letters, \
             numbers, underscores and hyphens."
                .into(),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if ["aws", "ecs", "fargate"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Err(ApiError::InvalidParameter(
            "The capacity provider name cannot begin with 'aws', 'ecs', or 'fargate'.".into(),
        ));
    }
    Ok(())
}

/// A custom provider by name, or AWS's error.
async fn load(ctx: &Ctx, name: &str) -> Result<records::Record<CapacityProviderRecord>, ApiError> {
    records::get(ctx.store(), &ctx.scope().capacity_provider(name))
        .await?
        .ok_or_else(|| {
            ApiError::InvalidParameter(format!(
                "The specified capacity provider '{name}' does not exist."
            ))
        })
}

/// Whether a custom provider of this name exists in the caller's region.
pub async fn exists(ctx: &Ctx, name: &str) -> Result<bool, ApiError> {
    Ok(
        records::get::<CapacityProviderRecord>(ctx.store(), &ctx.scope().capacity_provider(name))
            .await?
            .is_some(),
    )
}

/// CreateCapacityProvider: an Auto Scaling group provider.
pub async fn create(
    ctx: &Ctx,
    req: CreateCapacityProviderRequest,
) -> Result<CreateCapacityProviderResponse, ApiError> {
    check_name(&req.name)?;
    if req.managed_instances_provider.is_some() {
        return Err(ApiError::UnsupportedFeature(
            "Amazon ECS Managed Instances capacity providers are not supported by Berth; use an \
             autoScalingGroupProvider, which stands for the container instances of the \
             clusters it is associated with."
                .into(),
        ));
    }
    let Some(asg) = req.auto_scaling_group_provider else {
        return Err(ApiError::InvalidParameter(
            "autoScalingGroupProvider is required.".into(),
        ));
    };
    let mut record_tags = Tags::new();
    tags::merge(
        &mut record_tags,
        tag_pairs(req.tags.as_deref().unwrap_or_default())?,
    )?;
    let record = CapacityProviderRecord {
        arn: ctx.arn(format!("capacity-provider/{}", req.name)),
        name: req.name.clone(),
        auto_scaling_group_provider: with_defaults(asg),
        update_status: None,
        tags: record_tags,
    };
    let key = ctx.scope().capacity_provider(&req.name);
    let txn = Txn::new()
        .when(Compare::absent(&key))
        .then(put(&key, &record));
    if !records::commit(ctx.store(), txn).await?.is_committed() {
        return Err(ApiError::Client(
            "The specified capacity provider already exists. To change the configuration of an \
             existing capacity provider, update the capacity provider."
                .into(),
        ));
    }
    Ok(CreateCapacityProviderResponse {
        capacity_provider: Some(record.to_wire(true)),
    })
}

/// UpdateCapacityProvider: its managed scaling, termination protection and draining.
pub async fn update(
    ctx: &Ctx,
    req: UpdateCapacityProviderRequest,
) -> Result<UpdateCapacityProviderResponse, ApiError> {
    let name = name_of(&req.name);
    if is_fargate(name) {
        return Err(ApiError::InvalidParameter(format!(
            "The {name} capacity provider is reserved and cannot be updated."
        )));
    }
    let change = req.auto_scaling_group_provider.unwrap_or_default();
    let updated = records::update(ctx.store(), "The capacity provider", || async {
        let r = load(ctx, name).await?;
        let mut record = r.value;
        let asg = &mut record.auto_scaling_group_provider;
        if let Some(s) = &change.managed_scaling {
            asg.managed_scaling = Some(s.clone());
        }
        if let Some(t) = change.managed_termination_protection {
            asg.managed_termination_protection = Some(t);
        }
        if let Some(d) = change.managed_draining {
            asg.managed_draining = Some(d);
        }
        record.auto_scaling_group_provider = with_defaults(record.auto_scaling_group_provider);
        record.update_status = Some(CapacityProviderUpdateStatus::UpdateComplete);
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &record));
        Ok(Step::Commit(txn, record))
    })
    .await?;
    Ok(UpdateCapacityProviderResponse {
        capacity_provider: Some(updated.to_wire(false)),
    })
}

/// DeleteCapacityProvider: refused for the built-in ones and while a cluster of the
/// region has it associated.
pub async fn delete(
    ctx: &Ctx,
    req: DeleteCapacityProviderRequest,
) -> Result<DeleteCapacityProviderResponse, ApiError> {
    let name = name_of(&req.capacity_provider);
    if is_fargate(name) {
        return Err(ApiError::InvalidParameter(format!(
            "The {name} capacity provider is reserved and cannot be deleted."
        )));
    }
    let r = load(ctx, name).await?;
    let clusters: Vec<records::Record<ClusterRecord>> =
        records::list(ctx.store(), &ctx.scope().clusters()).await?;
    if let Some(c) = clusters
        .iter()
        .find(|c| c.value.active && c.value.capacity_providers.iter().any(|p| p == name))
    {
        return Err(ApiError::Client(format!(
            "The capacity provider '{name}' cannot be deleted because it is associated with \
             cluster '{}'. Remove it from the cluster with PutClusterCapacityProviders first.",
            c.value.name
        )));
    }
    let txn = Txn::new()
        .when(Compare::unchanged(&r.key, r.revision))
        .then(Op::delete(&r.key));
    if !records::commit(ctx.store(), txn).await?.is_committed() {
        return Err(ApiError::Client(
            "The capacity provider changed while it was being deleted; try again.".into(),
        ));
    }
    let mut gone = r.value.to_wire(false);
    gone.status = Some(CapacityProviderStatus::Inactive);
    gone.update_status = Some(CapacityProviderUpdateStatus::DeleteComplete);
    Ok(DeleteCapacityProviderResponse {
        capacity_provider: Some(gone),
    })
}

/// Most providers a page holds, and its default.
const MAX_RESULTS: usize = 10;

/// DescribeCapacityProviders: the named ones (names or ARNs; unknown ones are MISSING
/// failures), or every one, built-in first.
pub async fn describe(
    ctx: &Ctx,
    req: DescribeCapacityProvidersRequest,
) -> Result<DescribeCapacityProvidersResponse, ApiError> {
    let with_tags = req
        .include
        .as_deref()
        .unwrap_or_default()
        .contains(&CapacityProviderField::Tags);
    let custom: Vec<records::Record<CapacityProviderRecord>> =
        records::list(ctx.store(), &ctx.scope().capacity_providers()).await?;
    let wire = |name: &str| -> Option<CapacityProvider> {
        if is_fargate(name) {
            return Some(built_in(ctx, name));
        }
        custom
            .iter()
            .find(|r| r.value.name == name)
            .map(|r| r.value.to_wire(with_tags))
    };
    let mut failures = Vec::new();
    let all: Vec<CapacityProvider> = match &req.capacity_providers {
        Some(given) => given
            .iter()
            .filter_map(|g| {
                let found = wire(name_of(g));
                if found.is_none() {
                    failures.push(Failure {
                        arn: Some(g.clone()),
                        reason: Some("MISSING".into()),
                        detail: None,
                    });
                }
                found
            })
            .collect(),
        None => FARGATE_PROVIDERS
            .iter()
            .map(|p| built_in(ctx, p))
            .chain(custom.iter().map(|r| r.value.to_wire(with_tags)))
            .collect(),
    };
    let max = match req.max_results {
        None => MAX_RESULTS,
        Some(n) if (1..=MAX_RESULTS as i32).contains(&n) => n as usize,
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "maxResults must be between 1 and 10.".into(),
            ))
        }
    };
    let start: usize = match &req.next_token {
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::InvalidParameter("Invalid nextToken.".into()))?,
        None => 0,
    };
    let end = (start + max).min(all.len());
    Ok(DescribeCapacityProvidersResponse {
        capacity_providers: Some(all.get(start..end).unwrap_or_default().to_vec()),
        failures: Some(failures),
        next_token: (end < all.len()).then(|| end.to_string()),
    })
}
