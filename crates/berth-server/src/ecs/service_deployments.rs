//! ListServiceDeployments, DescribeServiceDeployments and DescribeServiceRevisions: a
//! service's current and past deployments as ECS's service deployments, named
//! `arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID` (the digits of the
//! deployment's `ecs-svc/` id), each deploying one service revision,
//! `…:service-revision/CLUSTER/SERVICE/ID` with the same digits: what the deployment
//! runs (task definition and its images, launch type or strategy, network
//! configuration, the service's load balancers).

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::service::rollout::circuit_breaker_threshold;
use berth_model::service::{DeploymentRecord, Rollout, ServiceRecord};

use super::services::load;
use super::{active_cluster, cluster_name, task_definitions};
use crate::context::Ctx;
use crate::pagination::{self, decode_token, encode_token};

/// The ARN of one deployment of `s` (`kind` `service-deployment`) or of the revision it
/// deploys (`service-revision`).
fn arn_of(ctx: &Ctx, kind: &str, s: &ServiceRecord, d: &DeploymentRecord) -> String {
    let id = d.id.strip_prefix("ecs-svc/").unwrap_or(&d.id);
    ctx.arn(format!("{kind}/{}/{}/{id}", s.cluster, s.name))
}

const DEPLOYMENT: &str = "service-deployment";
const REVISION: &str = "service-revision";

/// Every deployment of `s`, newest first.
fn all(s: &ServiceRecord) -> impl Iterator<Item = &DeploymentRecord> {
    let mut all: Vec<&DeploymentRecord> = s.deployments.iter().chain(&s.past_deployments).collect();
    all.sort_by(|a, b| {
        b.created_at
            .as_secs_f64()
            .total_cmp(&a.created_at.as_secs_f64())
    });
    all.into_iter()
}

fn finished_at(d: &DeploymentRecord) -> Option<Timestamp> {
    (d.rollout != Rollout::InProgress).then_some(d.updated_at)
}

/// ListServiceDeployments.
pub async fn list(
    ctx: &Ctx,
    req: ListServiceDeploymentsRequest,
) -> Result<ListServiceDeploymentsResponse, ApiError> {
    let cluster = active_cluster(ctx, req.cluster.as_deref()).await?;
    // 20 by default, at most 100.
    let max = match req.max_results {
        None => 20,
        given => pagination::max_results(given, 100)?,
    };
    let s = load(ctx, &cluster.value.name, &req.service)
        .await?
        .ok_or_else(|| ApiError::ServiceNotFound("Service not found.".into()))?
        .value;
    let statuses = req.status.unwrap_or_default();
    let window = req.created_at.unwrap_or_default();
    let skip = match decode_token(req.next_token.as_deref(), "")? {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| ApiError::InvalidParameter("Invalid nextToken specified.".into()))?,
        None => 0,
    };
    let matching: Vec<ServiceDeploymentBrief> = all(&s)
        .filter_map(|d| {
            let (status, reason) = d.service_deployment_status();
            let in_window = window.after.is_none_or(|a| d.created_at >= a)
                && window.before.is_none_or(|b| d.created_at <= b);
            ((statuses.is_empty() || statuses.contains(&status)) && in_window).then(|| {
                ServiceDeploymentBrief {
                    service_deployment_arn: Some(arn_of(ctx, DEPLOYMENT, &s, d)),
                    service_arn: Some(s.arn.clone()),
                    cluster_arn: Some(s.cluster_arn.clone()),
                    started_at: Some(d.created_at),
                    created_at: Some(d.created_at),
                    finished_at: finished_at(d),
                    target_service_revision_arn: Some(arn_of(ctx, REVISION, &s, d)),
                    status: Some(status),
                    status_reason: Some(reason),
                }
            })
        })
        .collect();
    let next = (matching.len() > skip + max).then(|| encode_token(&(skip + max).to_string()));
    Ok(ListServiceDeploymentsResponse {
        service_deployments: Some(matching.into_iter().skip(skip).take(max).collect()),
        next_token: next,
    })
}

/// DescribeServiceDeployments: up to 20 by ARN; unknown ones are MISSING.
pub async fn describe(
    ctx: &Ctx,
    req: DescribeServiceDeploymentsRequest,
) -> Result<DescribeServiceDeploymentsResponse, ApiError> {
    if req.service_deployment_arns.is_empty() || req.service_deployment_arns.len() > 20 {
        return Err(ApiError::InvalidParameter(
            "serviceDeploymentArns must name between 1 and 20 service deployments.".into(),
        ));
    }
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for arn in &req.service_deployment_arns {
        match find(ctx, arn).await? {
            Some(d) => found.push(d),
            None => failures.push(Failure {
                arn: Some(arn.clone()),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    Ok(DescribeServiceDeploymentsResponse {
        service_deployments: Some(found),
        failures: Some(failures),
    })
}

/// The service and deployment a service deployment or revision ARN (`kind`) names.
async fn locate(
    ctx: &Ctx,
    kind: &str,
    arn: &str,
) -> Result<Option<(ServiceRecord, DeploymentRecord)>, ApiError> {
    let path = arn.split_once(&format!(":{kind}/")).map(|(_, p)| p);
    let Some([cluster, service, id]) = path
        .map(|p| p.split('/').collect::<Vec<_>>())
        .and_then(|parts| <[&str; 3]>::try_from(parts).ok())
    else {
        return Ok(None);
    };
    let Ok(cluster) = cluster_name(Some(cluster)) else {
        return Ok(None);
    };
    let Some(s) = load(ctx, &cluster, service).await? else {
        return Ok(None);
    };
    let s = s.value;
    let Some(d) = all(&s)
        .find(|d| d.id.strip_prefix("ecs-svc/") == Some(id))
        .cloned()
    else {
        return Ok(None);
    };
    if arn_of(ctx, kind, &s, &d) != arn {
        return Ok(None);
    }
    Ok(Some((s, d)))
}

async fn find(ctx: &Ctx, arn: &str) -> Result<Option<ServiceDeployment>, ApiError> {
    let Some((s, d)) = locate(ctx, DEPLOYMENT, arn).await? else {
        return Ok(None);
    };
    let d = &d;
    let (status, reason) = d.service_deployment_status();
    let revision = |d: &DeploymentRecord| ServiceRevisionSummary {
        arn: Some(arn_of(ctx, REVISION, &s, d)),
        requested_task_count: d.desired_count as i32,
        running_task_count: d.running_count as i32,
        pending_task_count: d.pending_count as i32,
        ..Default::default()
    };
    let sources = all(&s)
        .filter(|o| o.id != d.id && o.created_at < d.created_at)
        .take(1)
        .map(revision)
        .collect();
    Ok(Some(ServiceDeployment {
        service_deployment_arn: Some(arn.to_string()),
        service_arn: Some(s.arn.clone()),
        cluster_arn: Some(s.cluster_arn.clone()),
        created_at: Some(d.created_at),
        started_at: Some(d.created_at),
        finished_at: finished_at(d),
        updated_at: Some(d.updated_at),
        source_service_revisions: Some(sources),
        target_service_revision: Some(revision(d)),
        status: Some(status),
        status_reason: Some(reason),
        deployment_configuration: Some(s.rolling.to_wire()),
        rollback: d.rollback_of.as_ref().map(|of| Rollback {
            reason: Some(format!(
                "ECS deployment circuit breaker: rolling back from deployment {of}."
            )),
            started_at: Some(d.created_at),
            service_revision_arn: Some(arn_of(ctx, REVISION, &s, d)),
        }),
        deployment_circuit_breaker: s.rolling.circuit_breaker.then(|| {
            ServiceDeploymentCircuitBreaker {
                status: Some(if d.rollout == Rollout::Failed {
                    ServiceDeploymentRollbackMonitorsStatus::Triggered
                } else {
                    ServiceDeploymentRollbackMonitorsStatus::Monitoring
                }),
                failure_count: d.failed_tasks as i32,
                threshold: circuit_breaker_threshold(d.desired_count) as i32,
            }
        }),
        ..Default::default()
    }))
}

/// DescribeServiceRevisions: up to 20 by ARN; unknown ones are MISSING.
pub async fn describe_revisions(
    ctx: &Ctx,
    req: DescribeServiceRevisionsRequest,
) -> Result<DescribeServiceRevisionsResponse, ApiError> {
    if req.service_revision_arns.is_empty() || req.service_revision_arns.len() > 20 {
        return Err(ApiError::InvalidParameter(
            "serviceRevisionArns must name between 1 and 20 service revisions.".into(),
        ));
    }
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for arn in &req.service_revision_arns {
        let Some((s, d)) = locate(ctx, REVISION, arn).await? else {
            failures.push(Failure {
                arn: Some(arn.clone()),
                reason: Some("MISSING".into()),
                detail: None,
            });
            continue;
        };
        let images = task_definitions::resolve(ctx, &d.task_definition)
            .await?
            .map(|def| {
                def.value
                    .definition
                    .container_definitions
                    .iter()
                    .flatten()
                    .map(|c| ContainerImage {
                        container_name: c.name.clone(),
                        image: c.image.clone(),
                        image_digest: None,
                    })
                    .collect()
            });
        found.push(ServiceRevision {
            service_revision_arn: Some(arn.clone()),
            service_arn: Some(s.arn.clone()),
            cluster_arn: Some(s.cluster_arn.clone()),
            task_definition: Some(d.task_definition.clone()),
            capacity_provider_strategy: d.capacity_provider_strategy.clone(),
            launch_type: d.launch_type,
            platform_version: (d.launch_type == Some(LaunchType::Fargate))
                .then(|| "1.4.0".to_string()),
            load_balancers: Some(s.load_balancers.clone()),
            service_registries: Some(Vec::new()),
            network_configuration: d.network_configuration.clone(),
            container_images: images,
            created_at: Some(d.created_at),
            ..Default::default()
        });
    }
    Ok(DescribeServiceRevisionsResponse {
        service_revisions: Some(found),
        failures: Some(failures),
    })
}
