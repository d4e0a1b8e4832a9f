//! ListServiceDeployments and DescribeServiceDeployments: a service's current and past
//! deployments as ECS's service deployments, named
//! `arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID` (the digits of the
//! deployment's `ecs-svc/` id).

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::service::rollout::circuit_breaker_threshold;
use berth_model::service::{DeploymentRecord, Rollout, ServiceRecord};

use super::services::load;
use super::{active_cluster, cluster_name};
use crate::context::Ctx;
use crate::pagination::{self, decode_token, encode_token};

/// The service deployment ARN of one deployment of `s`.
fn arn_of(ctx: &Ctx, s: &ServiceRecord, d: &DeploymentRecord) -> String {
    let id = d.id.strip_prefix("ecs-svc/").unwrap_or(&d.id);
    ctx.arn(format!("service-deployment/{}/{}/{id}", s.cluster, s.name))
}

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
                    service_deployment_arn: Some(arn_of(ctx, &s, d)),
                    service_arn: Some(s.arn.clone()),
                    cluster_arn: Some(s.cluster_arn.clone()),
                    started_at: Some(d.created_at),
                    created_at: Some(d.created_at),
                    finished_at: finished_at(d),
                    target_service_revision_arn: None,
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

async fn find(ctx: &Ctx, arn: &str) -> Result<Option<ServiceDeployment>, ApiError> {
    let path = arn.split_once(":service-deployment/").map(|(_, p)| p);
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
    let Some(d) = all(&s).find(|d| d.id.strip_prefix("ecs-svc/") == Some(id)) else {
        return Ok(None);
    };
    if arn_of(ctx, &s, d) != arn {
        return Ok(None);
    }
    let (status, reason) = d.service_deployment_status();
    let revision = |d: &DeploymentRecord| ServiceRevisionSummary {
        arn: Some(d.task_definition.clone()),
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
            service_revision_arn: Some(d.task_definition.clone()),
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
