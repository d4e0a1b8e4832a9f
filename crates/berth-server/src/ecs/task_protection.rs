//! GetTaskProtection and UpdateTaskProtection: a service's task protected from scale-in.
//! While protected, the service controller neither stops it to scale in nor to replace
//! it in a deployment (a deployment waits for it); failing health checks, StopTask and a
//! draining instance still stop it. Protection lasts `expiresInMinutes` (1 to 2,880,
//! 120 when not given) and then lapses by itself, as in ECS.

use berth_api::ecs::*;
use berth_api::error::ApiError;
use berth_model::status::TaskStatus;
use berth_model::task::TaskRecord;

use super::{active_cluster, id_from, is_valid_id};
use crate::context::Ctx;
use crate::keys::EcsKeys;
use crate::records;
use berth_store::records::RecordError;

/// Protection when UpdateTaskProtection names no expiry, in minutes.
const DEFAULT_MINUTES: i32 = 120;
/// The longest protection, in minutes (48 hours).
const MAX_MINUTES: i32 = 2_880;
/// Tasks one UpdateTaskProtection may name.
const MAX_UPDATE: usize = 10;
/// Tasks one GetTaskProtection may name.
const MAX_GET: usize = 100;

/// Whether `t` is protected at `now`.
pub fn is_protected(t: &TaskRecord, now: Timestamp) -> bool {
    t.protected_until.is_some_and(|until| now < until)
}

fn protected(t: &TaskRecord, now: Timestamp) -> ProtectedTask {
    let on = is_protected(t, now);
    ProtectedTask {
        task_arn: Some(t.arn.clone()),
        protection_enabled: on,
        expiration_date: if on { t.protected_until } else { None },
    }
}

fn failure(ctx: &Ctx, cluster: &str, given: &str, reason: &str) -> Failure {
    Failure {
        arn: Some(if given.starts_with("arn:") {
            given.to_string()
        } else {
            ctx.arn(format!("task/{cluster}/{given}"))
        }),
        reason: Some(reason.into()),
        detail: None,
    }
}

/// GetTaskProtection: the named tasks' protection (MISSING for unknown ones).
pub async fn get(
    ctx: &Ctx,
    req: GetTaskProtectionRequest,
) -> Result<GetTaskProtectionResponse, ApiError> {
    let cluster = active_cluster(ctx, Some(&req.cluster)).await?;
    let cluster = &cluster.value.name;
    let tasks = req.tasks.unwrap_or_default();
    if tasks.is_empty() || tasks.len() > MAX_GET {
        return Err(ApiError::InvalidParameter(format!(
            "tasks must name between 1 and {MAX_GET} tasks."
        )));
    }
    let now = ctx.now();
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for given in &tasks {
        let id = id_from(given);
        let task = if is_valid_id(id) {
            records::get::<TaskRecord>(&*ctx.core.store, &ctx.scope().task(cluster, id)).await?
        } else {
            None
        };
        match task {
            Some(r) => found.push(protected(&r.value, now)),
            None => failures.push(failure(ctx, cluster, given, "MISSING")),
        }
    }
    Ok(GetTaskProtectionResponse {
        protected_tasks: Some(found),
        failures: Some(failures),
    })
}

/// Why one task cannot be protected, as a failure reason.
enum Refused {
    Missing,
    NotValid,
    /// The store failed: the whole call fails, to be retried.
    Failed(RecordError),
}

impl From<RecordError> for Refused {
    fn from(e: RecordError) -> Refused {
        Refused::Failed(e)
    }
}

/// UpdateTaskProtection: turns protection on (for `expiresInMinutes`) or off for up to
/// ten of a service's tasks. A task no service started is TASK_NOT_VALID, an unknown one
/// MISSING.
pub async fn update(
    ctx: &Ctx,
    req: UpdateTaskProtectionRequest,
) -> Result<UpdateTaskProtectionResponse, ApiError> {
    let cluster = active_cluster(ctx, Some(&req.cluster)).await?;
    let cluster = &cluster.value.name;
    if req.tasks.is_empty() || req.tasks.len() > MAX_UPDATE {
        return Err(ApiError::InvalidParameter(format!(
            "tasks must name between 1 and {MAX_UPDATE} tasks."
        )));
    }
    let minutes = req.expires_in_minutes.unwrap_or(DEFAULT_MINUTES);
    if req.protection_enabled && !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(ApiError::InvalidParameter(format!(
            "expiresInMinutes must be between 1 and {MAX_MINUTES}; got {minutes}."
        )));
    }
    let now = ctx.now();
    let until = req
        .protection_enabled
        .then(|| Timestamp::from_millis(now.as_millis() + i64::from(minutes) * 60_000));
    let (mut done, mut failures) = (Vec::new(), Vec::new());
    for given in &req.tasks {
        let id = id_from(given);
        if !is_valid_id(id) {
            failures.push(failure(ctx, cluster, given, "MISSING"));
            continue;
        }
        let changed = records::modify(
            &*ctx.core.store,
            &ctx.scope().task(cluster, id),
            "The task",
            || Refused::Missing,
            |t: &mut TaskRecord| {
                let of_service = t
                    .group
                    .as_deref()
                    .is_some_and(|g| g.starts_with("service:"));
                if !of_service || t.last_status == TaskStatus::Stopped {
                    return Err(Refused::NotValid);
                }
                t.protected_until = until;
                Ok(())
            },
        )
        .await;
        match changed {
            Ok(t) => done.push(protected(&t, now)),
            Err(Refused::Missing) => failures.push(failure(ctx, cluster, given, "MISSING")),
            Err(Refused::NotValid) => failures.push(failure(ctx, cluster, given, "TASK_NOT_VALID")),
            Err(Refused::Failed(e)) => return Err(e.into()),
        }
    }
    Ok(UpdateTaskProtectionResponse {
        protected_tasks: Some(done),
        failures: Some(failures),
    })
}
