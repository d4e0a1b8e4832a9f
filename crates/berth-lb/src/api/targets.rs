//! RegisterTargets, DeregisterTargets and DescribeTargetHealth over the Query API; the
//! work is [`crate::targets`]', shared with in-process callers.

use super::context::Ctx;
use super::render;
use crate::config::{mutate, ScopeConfig};
use crate::error::ElbError;
use crate::model::now_ms;
use crate::targets::{self, TargetDescription};
use berth_query::Params;

/// RegisterTargets.
pub async fn register(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("TargetGroupArn")?;
    let list = TargetDescription::parse_list(p, true)?.unwrap_or_default();
    p.finish(&ctx.action)?;
    mutate(ctx.store, &ctx.scope, |c| {
        targets::plan_register(c, &arn, &list, now_ms())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// DeregisterTargets.
pub async fn deregister(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("TargetGroupArn")?;
    let list = TargetDescription::parse_list(p, true)?.unwrap_or_default();
    p.finish(&ctx.action)?;
    mutate(ctx.store, &ctx.scope, |c| {
        targets::plan_deregister(c, &arn, &list, now_ms())
    })
    .await?;
    Ok(ctx.respond(|_| {}))
}

/// DescribeTargetHealth. `Include` (anomaly detection) is accepted; Berth has none to
/// report.
pub async fn describe_health(ctx: &Ctx<'_>, p: &Params) -> Result<String, ElbError> {
    let arn = p.required("TargetGroupArn")?;
    let list = TargetDescription::parse_list(p, false)?;
    for include in p.strings("Include")?.unwrap_or_default() {
        if include != "AnomalyDetection" && include != "All" {
            return Err(ElbError::constraint(
                include,
                "include",
                "Member must satisfy enum value set: [AnomalyDetection, All]",
            ));
        }
    }
    p.finish(&ctx.action)?;
    let config = ScopeConfig::load(ctx.store, &ctx.scope).await?;
    let rows = targets::describe(&config, &arn, list.as_deref())?;
    Ok(ctx.respond(|x| x.list("TargetHealthDescriptions", &rows, render::target_health)))
}
