//! A task after its launch: a stop request ([`stop_task`]), an agent's report moving it
//! through ECS's lifecycle ([`apply_report`]), and the return of what it held to its
//! instance (and the CPU and memory to the instance's twin on the same host) when it
//! stops ([`release`]), in the same transaction as the report.

use berth_api::agent::TaskStateReport;
use berth_api::arn::Arn;
use berth_api::ecs::TaskStopCode;
use berth_api::error::ApiError;
use berth_model::container_instance::InstanceRecord;
use berth_model::task::TaskRecord;
use berth_store::{Compare, Txn};

use crate::context::{Core, Ctx};
use crate::ecs::is_valid_id;
use crate::keys::{EcsKeys, Scope};
use crate::records::{self, put, Step};

/// Asks a task of `cluster` to stop with `code` and `reason`; returns the task as it now
/// is (unchanged when it was already stopping).
pub async fn stop_task(
    ctx: &Ctx,
    cluster: &str,
    id: &str,
    code: TaskStopCode,
    reason: &str,
) -> Result<TaskRecord, ApiError> {
    let not_found = || ApiError::InvalidParameter("The referenced task was not found.".into());
    if !is_valid_id(id) {
        return Err(not_found());
    }
    let key = &ctx.scope().task(cluster, id);
    let not_found = &not_found;
    records::update(&*ctx.core.store, "The task", || async move {
        let t = records::get::<TaskRecord>(&*ctx.core.store, key)
            .await?
            .ok_or_else(not_found)?;
        let mut task = t.value;
        if !task.request_stop(code, reason, ctx.now()) {
            return Ok(Step::Done(task));
        }
        let txn = Txn::new()
            .when(Compare::unchanged(key, t.revision))
            .then(put(key, &task));
        Ok(Step::Commit(txn, task))
    })
    .await
}

/// Every task of `account`, in every region: a Fargate pool member (registered in the
/// home region) runs tasks of clusters in any.
pub async fn tasks_of_account(
    store: &dyn berth_store::Store,
    account: &str,
) -> Result<Vec<records::Record<TaskRecord>>, ApiError> {
    let ours = crate::keys::account_ecs(account);
    let mut tasks = Vec::new();
    for prefix in records::scope_prefixes(store, "tasks").await? {
        if prefix.starts_with(&ours) {
            tasks.extend(records::list::<TaskRecord>(store, &prefix).await?);
        }
    }
    Ok(tasks)
}

/// The scope of a task ARN of `account` (the one agents act in): its region's.
pub fn task_scope(account: &str, arn: &str) -> Result<Scope, ApiError> {
    Scope::of_arn(arn)
        .filter(|s| s.account == account)
        .ok_or_else(|| {
            ApiError::InvalidParameter(format!("'{arn}' is not a task ARN of account {account}."))
        })
}

/// The cluster and id a task ARN names (`task/CLUSTER/ID`).
pub fn parse_task_arn(arn: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::InvalidParameter(format!("'{arn}' is not a task ARN."));
    let parsed = Arn::parse(arn).map_err(|_| bad())?;
    if parsed.resource_type() != "task" {
        return Err(bad());
    }
    let (cluster, id) = parsed.resource_path().split_once('/').ok_or_else(bad)?;
    if !berth_model::names::is_valid_name(cluster) || !is_valid_id(id) {
        return Err(bad());
    }
    Ok((cluster.to_string(), id.to_string()))
}

/// Applies a state report to a task; when it reaches STOPPED, its reservation goes back
/// to its instance in the same transaction. `from_instance`, when given, must be the
/// instance the task was placed on (an agent may only report its own tasks).
pub async fn apply_report(
    core: &Core,
    scope: &Scope,
    report: &TaskStateReport,
    from_instance: Option<&str>,
) -> Result<TaskRecord, ApiError> {
    let (cluster, id) = parse_task_arn(&report.task_arn)?;
    let key = &scope.task(&cluster, &id);
    let store = &*core.store;
    records::update(store, "The task", || async move {
        let t = records::get::<TaskRecord>(store, key)
            .await?
            .ok_or_else(|| {
                ApiError::InvalidParameter("The referenced task was not found.".into())
            })?;
        if from_instance.is_some_and(|arn| arn != t.value.placement.instance_arn) {
            return Err(ApiError::AccessDenied(
                "This agent may only report tasks placed on its own container instance.".into(),
            ));
        }
        let mut task = t.value.clone();
        let effect = task.apply_report(report, core.clock.now());
        if !effect.changed {
            return Ok(Step::Done(task));
        }
        let mut txn = Txn::new()
            .when(Compare::unchanged(key, t.revision))
            .then(put(key, &task));
        if effect.stopped_now {
            txn = release(store, scope, &task, txn).await?;
        }
        Ok(Step::Commit(txn, task))
    })
    .await
}

/// Adds to `txn` the return of a stopped task's reservation to its instance.
pub async fn release(
    store: &dyn berth_store::Store,
    scope: &Scope,
    task: &TaskRecord,
    txn: Txn,
) -> Result<Txn, ApiError> {
    let p = &task.placement;
    // The instance's region may not be the task's (a Fargate pool member serves every
    // region): its own ARN says where it is.
    let own = Scope::of_arn(&p.instance_arn);
    let scope = own.as_ref().unwrap_or(scope);
    let key = if p.fargate_pool {
        scope.fargate_pool_member(&p.instance_id)
    } else {
        scope.instance(&p.instance_cluster, &p.instance_id)
    };
    let Some(inst) = records::get::<InstanceRecord>(store, &key).await? else {
        return Ok(txn);
    };
    let mut updated = inst.value.clone();
    updated
        .remaining
        .give_back(&task.reserved, &inst.value.registered);
    updated.version += 1;
    let mut txn = txn
        .when(Compare::unchanged(&key, inst.revision))
        .then(put(&key, &updated));
    // The same host's other registration gets the CPU and memory back too.
    if let Some(twin_key) = &inst.value.twin {
        if let Some(twin) = records::get::<InstanceRecord>(store, twin_key).await? {
            let mut other = twin.value.clone();
            other
                .remaining
                .give_back(&task.reserved.compute(), &twin.value.registered);
            other.version += 1;
            txn = txn
                .when(Compare::unchanged(twin_key, twin.revision))
                .then(put(twin_key, &other));
        }
    }
    Ok(txn)
}
