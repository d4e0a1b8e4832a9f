//! CreateCluster, DeleteCluster, DescribeClusters, ListClusters, UpdateCluster,
//! UpdateClusterSettings and PutClusterCapacityProviders.

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::capacity::FARGATE_PROVIDERS;
use berth_model::cluster::{ClusterRecord, ClusterStats};
use berth_model::container_instance::InstanceRecord;
use berth_model::names::is_valid_name;
use berth_model::tags::{self, Tags};
use berth_model::task_definition::tag_pairs;
use berth_store::{Compare, Txn};

use super::{active_cluster, cluster_name, DEFAULT_CLUSTER};
use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::pagination::{self, filtered_page};
use crate::records::{self, commit, put, Record, Step};

const ALL_FIELDS: [ClusterField; 4] = [
    ClusterField::Settings,
    ClusterField::Configurations,
    ClusterField::Tags,
    ClusterField::Statistics,
];

/// CreateCluster. Creating a cluster that exists returns it unchanged, as ECS does.
pub async fn create(
    ctx: &Ctx,
    req: CreateClusterRequest,
) -> Result<CreateClusterResponse, ApiError> {
    let name = req
        .cluster_name
        .clone()
        .unwrap_or_else(|| DEFAULT_CLUSTER.into());
    if !is_valid_name(&name) {
        return Err(ApiError::InvalidParameter(
            "Cluster name must be 1-255 characters long and contain only letters (uppercase and \
             lowercase), numbers, hyphens and underscores."
                .into(),
        ));
    }
    let mut record_tags = Tags::new();
    tags::merge(
        &mut record_tags,
        tag_pairs(req.tags.as_deref().unwrap_or_default())?,
    )?;
    let mut settings = validate_settings(req.settings.clone().unwrap_or_default())?;
    // Container Insights follows the caller's containerInsights account setting when
    // the call does not say.
    if settings.is_empty() {
        let insights = super::account_settings::effective(
            ctx,
            &ctx.caller.principal_arn,
            berth_api::ecs::SettingName::ContainerInsights,
        )
        .await?;
        if insights != "disabled" {
            settings.push(ClusterSetting {
                name: Some(berth_api::ecs::ClusterSettingName::ContainerInsights),
                value: Some(insights),
            });
        }
    }
    let providers = req.capacity_providers.clone().unwrap_or_default();
    let strategy = req
        .default_capacity_provider_strategy
        .clone()
        .unwrap_or_default();
    validate_providers(ctx, &providers, &strategy).await?;
    let key = &ctx.scope().cluster(&name);
    let (name, record_tags, settings) = (&name, &record_tags, &settings);
    let (providers, strategy, req) = (&providers, &strategy, &req);
    records::update(&*ctx.core.store, "The cluster", || async move {
        let existing = records::get::<ClusterRecord>(&*ctx.core.store, key).await?;
        if let Some(r) = &existing {
            if r.value.active {
                let stats = stats(ctx, name).await?;
                return Ok(Step::Done(CreateClusterResponse {
                    cluster: Some(r.value.to_wire(&stats, &ALL_FIELDS[..3])),
                }));
            }
        }
        let record = ClusterRecord {
            arn: ctx.arn(format!("cluster/{name}")),
            name: name.clone(),
            active: true,
            tags: record_tags.clone(),
            settings: settings.clone(),
            configuration: req.configuration.clone(),
            capacity_providers: providers.clone(),
            default_capacity_provider_strategy: strategy.clone(),
            service_connect_defaults: req.service_connect_defaults.as_ref().map(|d| {
                ClusterServiceConnectDefaults {
                    namespace: Some(d.namespace.clone()),
                }
            }),
        };
        let txn = Txn::new()
            .when(Compare::unchanged(key, existing.map_or(0, |r| r.revision)))
            .then(put(key, &record));
        Ok(Step::Commit(
            txn,
            CreateClusterResponse {
                cluster: Some(record.to_wire(&ClusterStats::default(), &ALL_FIELDS[..3])),
            },
        ))
    })
    .await
}

/// DeleteCluster: refused while instances or unstopped tasks remain.
///
/// Two phases, so a RunTask or registration racing the delete is never lost: first the
/// cluster is marked INACTIVE (every RunTask and instance registration compares the
/// cluster's revision, so none can commit after this), then its contents are checked;
/// if anything committed before the mark, the mark is undone and the delete refused.
pub async fn delete(
    ctx: &Ctx,
    req: DeleteClusterRequest,
) -> Result<DeleteClusterResponse, ApiError> {
    let name = cluster_name(Some(&req.cluster))?;
    let store = &*ctx.core.store;
    let name = &name;
    let (r, inactive, revision) = records::update_at(store, "The cluster", || async move {
        let r = active_cluster(ctx, Some(name)).await?;
        refuse_if_in_use(&stats_from_store(ctx, name).await?)?;
        let mut inactive = r.value.clone();
        inactive.active = false;
        let mark = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &inactive));
        Ok(Step::Commit(mark, (r, inactive)))
    })
    .await
    .map(|((r, inactive), revision)| (r, inactive, revision.unwrap_or_default()))?;
    let s = stats_from_store(ctx, name).await?;
    if let Err(e) = refuse_if_in_use(&s) {
        let undo = Txn::new()
            .when(Compare::unchanged(&r.key, revision))
            .then(put(&r.key, &r.value));
        commit(store, undo).await?;
        return Err(e);
    }
    Ok(DeleteClusterResponse {
        cluster: Some(inactive.to_wire(&s, &[])),
    })
}

fn refuse_if_in_use(s: &ClusterStats) -> Result<(), ApiError> {
    if s.registered_instances > 0 {
        return Err(ApiError::ClusterContainsContainerInstances(
            "The Cluster cannot be deleted while Container Instances are active or draining."
                .into(),
        ));
    }
    if s.running_ec2 + s.running_fargate + s.pending_ec2 + s.pending_fargate + s.stopping > 0 {
        return Err(ApiError::ClusterContainsTasks(
            "The Cluster cannot be deleted while Tasks are active.".into(),
        ));
    }
    Ok(())
}

/// DescribeClusters: unknown clusters come back as `failures` with reason MISSING.
pub async fn describe(
    ctx: &Ctx,
    req: DescribeClustersRequest,
) -> Result<DescribeClustersResponse, ApiError> {
    let include = req.include.unwrap_or_default();
    let wanted = req.clusters.unwrap_or_else(|| vec![DEFAULT_CLUSTER.into()]);
    if wanted.len() > 100 {
        return Err(ApiError::InvalidParameter(
            "At most 100 clusters can be described.".into(),
        ));
    }
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for given in wanted {
        let found = match cluster_name(Some(&given)) {
            Ok(name) => {
                records::get::<ClusterRecord>(&*ctx.core.store, &ctx.scope().cluster(&name))
                    .await?
                    .map(|r| (name, r))
            }
            Err(_) => None,
        };
        match found {
            Some((name, r)) => {
                let s = stats(ctx, &name).await?;
                clusters.push(r.value.to_wire(&s, &include));
            }
            None => failures.push(Failure {
                arn: Some(if given.starts_with("arn:") {
                    given
                } else {
                    ctx.arn(format!("cluster/{given}"))
                }),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    Ok(DescribeClustersResponse {
        clusters: Some(clusters),
        failures: Some(failures),
    })
}

/// ListClusters: ACTIVE clusters, paginated.
pub async fn list(ctx: &Ctx, req: ListClustersRequest) -> Result<ListClustersResponse, ApiError> {
    let max = pagination::max_results(req.max_results, pagination::DEFAULT_MAX_RESULTS)?;
    let (page, next) = filtered_page::<ClusterRecord, _>(
        &*ctx.core.store,
        &ctx.scope().clusters(),
        req.next_token.as_deref(),
        max,
        |r| r.value.active,
    )
    .await?;
    Ok(ListClustersResponse {
        cluster_arns: Some(page.into_iter().map(|r| r.value.arn).collect()),
        next_token: next,
    })
}

/// UpdateCluster: settings, configuration and Service Connect defaults.
pub async fn update(
    ctx: &Ctx,
    req: UpdateClusterRequest,
) -> Result<UpdateClusterResponse, ApiError> {
    let settings = req.settings.map(validate_settings).transpose()?;
    let cluster = modify(ctx, &req.cluster, |c| {
        if let Some(s) = &settings {
            merge_settings(&mut c.settings, s);
        }
        if let Some(conf) = &req.configuration {
            c.configuration = Some(conf.clone());
        }
        if let Some(d) = &req.service_connect_defaults {
            c.service_connect_defaults = Some(ClusterServiceConnectDefaults {
                namespace: Some(d.namespace.clone()),
            });
        }
        Ok(())
    })
    .await?;
    Ok(UpdateClusterResponse {
        cluster: Some(cluster),
    })
}

/// UpdateClusterSettings (containerInsights).
pub async fn update_settings(
    ctx: &Ctx,
    req: UpdateClusterSettingsRequest,
) -> Result<UpdateClusterSettingsResponse, ApiError> {
    let settings = validate_settings(req.settings)?;
    let cluster = modify(ctx, &req.cluster, |c| {
        merge_settings(&mut c.settings, &settings);
        Ok(())
    })
    .await?;
    Ok(UpdateClusterSettingsResponse {
        cluster: Some(cluster),
    })
}

/// PutClusterCapacityProviders: FARGATE and FARGATE_SPOT (both served by the Fargate
/// pool) and the providers made with CreateCapacityProvider (the cluster's instances).
pub async fn put_capacity_providers(
    ctx: &Ctx,
    req: PutClusterCapacityProvidersRequest,
) -> Result<PutClusterCapacityProvidersResponse, ApiError> {
    validate_providers(
        ctx,
        &req.capacity_providers,
        &req.default_capacity_provider_strategy,
    )
    .await?;
    let cluster = modify(ctx, &req.cluster, |c| {
        c.capacity_providers = req.capacity_providers.clone();
        c.default_capacity_provider_strategy = req.default_capacity_provider_strategy.clone();
        Ok(())
    })
    .await?;
    Ok(PutClusterCapacityProvidersResponse {
        cluster: Some(cluster),
    })
}

/// Read-modify-write of an active cluster with compare-and-swap.
async fn modify(
    ctx: &Ctx,
    given: &str,
    change: impl Fn(&mut ClusterRecord) -> Result<(), ApiError>,
) -> Result<Cluster, ApiError> {
    let change = &change;
    let record = records::update(&*ctx.core.store, "The cluster", || async move {
        let r = active_cluster(ctx, Some(given)).await?;
        let mut record = r.value.clone();
        change(&mut record)?;
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, &record));
        Ok(Step::Commit(txn, record))
    })
    .await?;
    let s = stats(ctx, &record.name).await?;
    Ok(record.to_wire(&s, &ALL_FIELDS[..3]))
}

fn validate_settings(settings: Vec<ClusterSetting>) -> Result<Vec<ClusterSetting>, ApiError> {
    for s in &settings {
        let value = s.value.as_deref().unwrap_or_default();
        if s.name.is_none() || !["enabled", "disabled", "enhanced"].contains(&value) {
            return Err(ApiError::InvalidParameter(format!(
                "Invalid value '{value}' for cluster setting containerInsights; use enabled, \
                 enhanced or disabled."
            )));
        }
    }
    Ok(settings)
}

fn merge_settings(into: &mut Vec<ClusterSetting>, new: &[ClusterSetting]) {
    for s in new {
        into.retain(|old| old.name != s.name);
        into.push(s.clone());
    }
}

/// Refuses providers that do not exist (FARGATE, FARGATE_SPOT, or one made with
/// CreateCapacityProvider) and a default strategy AWS would refuse or that names a
/// provider the cluster does not have.
async fn validate_providers(
    ctx: &Ctx,
    providers: &[String],
    strategy: &[CapacityProviderStrategyItem],
) -> Result<(), ApiError> {
    for p in providers {
        if !FARGATE_PROVIDERS.contains(&p.as_str())
            && !super::capacity_providers::exists(ctx, p).await?
        {
            return Err(ApiError::InvalidParameter(format!(
                "The specified capacity provider '{p}' does not exist."
            )));
        }
    }
    if strategy.is_empty() {
        return Ok(());
    }
    berth_model::capacity::validate(strategy)?;
    for s in strategy {
        if !providers.contains(&s.capacity_provider) {
            return Err(ApiError::InvalidParameter(format!(
                "The capacity provider '{}' in the default strategy is not associated with the \
                 cluster.",
                s.capacity_provider
            )));
        }
    }
    Ok(())
}

/// The tallies of the tasks under `prefix` (each read for its launch type, status and
/// instance only: counting a cluster's tasks must not build every record).
async fn tallies(ctx: &Ctx, prefix: &str) -> Result<Vec<berth_model::stored::TaskTally>, ApiError> {
    // From the store itself, not a read cache: DeleteCluster decides on these counts.
    ctx.core
        .store
        .page(prefix, None, 0)
        .await
        .map_err(records::store_error)?
        .kvs
        .iter()
        .map(|kv| {
            berth_model::stored::tally(&kv.value).map_err(|reason| {
                ApiError::Server(format!("stored task {} cannot be read: {reason}", kv.key))
            })
        })
        .collect()
}

/// Task and instance counts of one cluster, its task counts from the replica's
/// [`TaskCounts`](crate::task_counts::TaskCounts) (eventually consistent, as DescribeClusters
/// is on AWS), or from the store while that index lists afresh.
pub async fn stats(ctx: &Ctx, name: &str) -> Result<ClusterStats, ApiError> {
    let prefix = ctx.scope().tasks(name);
    let tasks = match ctx.core.task_counts.of_cluster(&prefix) {
        Some(counts) => counts,
        None => counted_from_store(ctx, &prefix).await?,
    };
    with_instances(ctx, name, tasks.cluster).await
}

/// [`stats`] counted from the store itself: what DeleteCluster decides on, which must
/// not miss a task committed a moment ago.
async fn stats_from_store(ctx: &Ctx, name: &str) -> Result<ClusterStats, ApiError> {
    let tasks = counted_from_store(ctx, &ctx.scope().tasks(name)).await?;
    with_instances(ctx, name, tasks.cluster).await
}

/// The task counts of the tasks under `prefix`, each read for its launch type, status
/// and instance only.
pub async fn counted_from_store(
    ctx: &Ctx,
    prefix: &str,
) -> Result<crate::task_counts::ClusterTaskCounts, ApiError> {
    Ok(crate::task_counts::ClusterTaskCounts::of(
        &tallies(ctx, prefix).await?,
    ))
}

/// `s` with the cluster's registered instances counted.
async fn with_instances(
    ctx: &Ctx,
    name: &str,
    mut s: ClusterStats,
) -> Result<ClusterStats, ApiError> {
    let scope = ctx.scope();
    let store = &*ctx.core.store;
    let instances: Vec<Record<InstanceRecord>> =
        records::list(store, &scope.instances(name)).await?;
    s.registered_instances = instances
        .iter()
        .filter(|i| {
            matches!(
                i.value.status,
                ContainerInstanceStatus::Active | ContainerInstanceStatus::Draining
            )
        })
        .count() as i32;
    Ok(s)
}
