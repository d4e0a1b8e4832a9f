//! The service controller: a [`Reconciler`] that makes each service's tasks match what it
//! asks for. Each step of a service (when the service, its tasks or its cluster's
//! instances change, every second while it is not steady, and every few seconds when it
//! is) reads the service and its tasks from the store, observes them (counts per
//! deployment, health, failed tasks), trips the circuit breaker, asks the pure rollout
//! diff ([`berth_model::service::rollout`]) what to start and stop, applies that through
//! the launch engine ([`crate::launch`]), and writes the service back with
//! compare-and-swap. A lost race or a crash only means the next step decides again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_api::ecs::{
    CapacityProviderStrategyItem, ContainerInstanceStatus, HealthStatus, LaunchType,
    NetworkConfiguration, SchedulingStrategy, TaskStopCode, Timestamp,
};
use berth_api::error::ApiError;
use berth_model::cluster::ClusterRecord;
use berth_model::container_instance::InstanceRecord;
use berth_model::service::record::STEADY_CONFIRMATION_SECS;
use berth_model::service::rollout::{self, Limits, Phase, StopReason, TaskState};
use berth_model::service::task_set::{self, TaskSetRecord, TaskSetStatus};
use berth_model::service::{
    task_group, DeploymentRecord, DeploymentStatus, Rollout, ServiceRecord, ServiceStatus,
};
use berth_model::status::{DesiredStatus, TaskStatus};
use berth_model::task::TaskRecord;
use berth_store::WatchEvent;
use berth_store::{Compare, Txn};

use crate::context::{Caller, Core, Ctx};
use crate::controller::{Action, Reconciler};
use crate::ecs::services;
use crate::keys::EcsKeys;
use crate::keys::Scope;
use crate::launch::{self, LaunchSpec, Target};
use crate::records::{self, commit, put, Record};

mod targets;

use targets::{in_grace, Targets, TaskInTargets};

/// How soon a service that is not steady (a rollout, a drain, a grace period, health
/// checks) is looked at again.
pub const BUSY_REQUEUE: Duration = Duration::from_secs(1);
/// How soon a steady service is looked at again when nothing it watches changes (its
/// tasks' agents may go quiet without a write).
pub const STEADY_REQUEUE: Duration = Duration::from_secs(10);

/// One service, as the controller names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceKey {
    pub scope: Scope,
    pub cluster: String,
    pub name: String,
}

/// The service controller as a [`Reconciler`]: woken by changes to a service, to the
/// tasks of its group, and to its cluster's container instances (a status change, a
/// join or a departure: heartbeats alone do not wake it).
pub struct Services {
    core: Arc<Core>,
    /// Each container instance's last seen status, so heartbeats are told apart from
    /// changes that matter to services.
    instances: Mutex<HashMap<String, ContainerInstanceStatus>>,
}

impl Services {
    pub fn new(core: Arc<Core>) -> Services {
        Services {
            core,
            instances: Mutex::new(HashMap::new()),
        }
    }

    async fn services_of(&self, scope: &Scope, cluster: &str) -> Vec<ServiceKey> {
        let services: Vec<Record<ServiceRecord>> =
            match records::list(&*self.core.store, &scope.services(cluster)).await {
                Ok(services) => services,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list a cluster's services");
                    return vec![];
                }
            };
        services
            .into_iter()
            .filter(|s| s.value.status != ServiceStatus::Inactive)
            .map(|s| ServiceKey {
                scope: scope.clone(),
                cluster: cluster.to_string(),
                name: s.value.name,
            })
            .collect()
    }
}

/// `/ecs/ACCOUNT/REGION/KIND/CLUSTER/NAME` split into its scope, kind, cluster and name.
fn ecs_key(key: &str) -> Option<(Scope, &str, &str, &str)> {
    let mut parts = key.strip_prefix("/ecs/")?.splitn(5, '/');
    let (account, region) = (parts.next()?, parts.next()?);
    let (kind, cluster, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some((Scope::new(account, region), kind, cluster, name))
}

#[async_trait]
impl Reconciler for Services {
    type Key = ServiceKey;

    fn name(&self) -> &'static str {
        "services"
    }

    fn watched(&self) -> Vec<String> {
        vec!["/ecs/".into()]
    }

    async fn affected(&self, event: &WatchEvent) -> Vec<ServiceKey> {
        let Some((scope, kind, cluster, name)) = ecs_key(event.key()) else {
            return vec![];
        };
        match (kind, event) {
            ("services", _) => vec![ServiceKey {
                scope,
                cluster: cluster.to_string(),
                name: name.to_string(),
            }],
            ("tasks", WatchEvent::Put(kv)) => {
                let group = <TaskRecord as records::Stored>::decode(&kv.value)
                    .ok()
                    .and_then(|t| t.group);
                match group.as_deref().and_then(|g| g.strip_prefix("service:")) {
                    Some(service) => vec![ServiceKey {
                        scope,
                        cluster: cluster.to_string(),
                        name: service.to_string(),
                    }],
                    None => vec![],
                }
            }
            ("instances", event) => {
                let status = match event {
                    WatchEvent::Put(kv) => <InstanceRecord as records::Stored>::decode(&kv.value)
                        .ok()
                        .map(|i| i.status),
                    WatchEvent::Delete { .. } => None,
                };
                let before = {
                    let mut seen = self.instances.lock().expect("instances lock");
                    match status {
                        Some(status) => seen.insert(event.key().to_string(), status),
                        None => seen.remove(event.key()),
                    }
                };
                if before.is_some() && before == status {
                    return vec![];
                }
                self.services_of(&scope, cluster).await
            }
            _ => vec![],
        }
    }

    async fn list(&self) -> Result<Vec<ServiceKey>, ApiError> {
        let mut keys = Vec::new();
        for prefix in records::scope_prefixes(&*self.core.store, "services").await? {
            let services: Vec<Record<ServiceRecord>> =
                records::list(&*self.core.store, &prefix).await?;
            for s in services {
                let Some((scope, _, cluster, name)) = ecs_key(&s.key) else {
                    continue;
                };
                if s.value.status != ServiceStatus::Inactive {
                    keys.push(ServiceKey {
                        scope,
                        cluster: cluster.to_string(),
                        name: name.to_string(),
                    });
                }
            }
        }
        Ok(keys)
    }

    async fn reconcile(&self, key: &ServiceKey) -> Result<Action, ApiError> {
        let record: Option<Record<ServiceRecord>> = records::get(
            &*self.core.store,
            &key.scope.service(&key.cluster, &key.name),
        )
        .await?;
        let Some(record) = record.filter(|r| r.value.status != ServiceStatus::Inactive) else {
            return Ok(Action::AwaitChange);
        };
        let steady = step_service(&self.core, record).await?;
        Ok(Action::Requeue(if steady {
            STEADY_REQUEUE
        } else {
            BUSY_REQUEUE
        }))
    }

    fn error_policy(&self, key: &ServiceKey, error: &ApiError) -> Action {
        tracing::warn!(service = %key.name, cluster = %key.cluster, error = %error, "service step failed; will retry");
        Action::Requeue(BUSY_REQUEUE)
    }
}

/// The controller acts as the service's creator, in the service's account and region.
fn context(core: &Arc<Core>, service: &ServiceRecord) -> Ctx {
    let mut arn = service.arn.split(':');
    let (region, account) = (
        arn.nth(3).unwrap_or_default(),
        arn.next().unwrap_or_default(),
    );
    Ctx {
        core: core.clone(),
        caller: Caller {
            account: account.to_string(),
            region: region.to_string(),
            access_key_id: String::new(),
            principal_arn: service.created_by.clone(),
            // ECS itself (its service-linked role), which IAM does not restrict.
            principal: crate::context::Principal::Root,
        },
    }
}

/// Target groups by who launched the task: one set for all of a service's deployments
/// (its load balancers), or each task set's own.
enum TargetsBy {
    None,
    Service(Targets),
    TaskSets(HashMap<String, Targets>),
}

impl TargetsBy {
    async fn load(
        store: &dyn berth_store::Store,
        s: &ServiceRecord,
    ) -> Result<TargetsBy, ApiError> {
        if s.is_external() {
            let mut by = HashMap::new();
            for t in s.task_sets.iter().filter(|t| !t.load_balancers.is_empty()) {
                let targets = Targets::load(store, &t.load_balancers)
                    .await
                    .map_err(ApiError::Server)?;
                by.insert(t.id.clone(), targets);
            }
            return Ok(TargetsBy::TaskSets(by));
        }
        if s.load_balancers.is_empty() {
            return Ok(TargetsBy::None);
        }
        Ok(TargetsBy::Service(
            Targets::load(store, &s.load_balancers)
                .await
                .map_err(ApiError::Server)?,
        ))
    }

    /// The target groups of the tasks `deployment` (a deployment or task set id) started.
    fn of(&self, deployment: &str) -> Option<&Targets> {
        match self {
            TargetsBy::None => None,
            TargetsBy::Service(t) => Some(t),
            TargetsBy::TaskSets(by) => by.get(deployment),
        }
    }
}

/// What new tasks of one deployment or task set launch with.
struct LaunchOf {
    /// The deployment or task set id: its tasks' startedBy.
    id: String,
    task_definition: String,
    launch_type: Option<LaunchType>,
    capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    network_configuration: Option<NetworkConfiguration>,
}

impl LaunchOf {
    fn deployment(d: &DeploymentRecord) -> LaunchOf {
        LaunchOf {
            id: d.id.clone(),
            task_definition: d.task_definition.clone(),
            launch_type: d.launch_type,
            capacity_provider_strategy: d.capacity_provider_strategy.clone(),
            network_configuration: d.network_configuration.clone(),
        }
    }

    fn task_set(t: &TaskSetRecord) -> LaunchOf {
        LaunchOf {
            id: t.id.clone(),
            task_definition: t.task_definition.clone(),
            launch_type: t.launch_type,
            capacity_provider_strategy: t.capacity_provider_strategy.clone(),
            network_configuration: t.network_configuration.clone(),
        }
    }
}

/// What a pass saw of one service's tasks.
struct Observed {
    /// Tasks not stopping, as the rollout diff sees them.
    live: Vec<TaskState>,
    /// Per deployment: (pending, running, failed so far).
    counts: HashMap<String, (u32, u32, u32)>,
    /// Usable container instances of the cluster (daemon services).
    usable: BTreeSet<String>,
    /// The live tasks' records, by ARN.
    records: HashMap<String, TaskRecord>,
    /// The cluster's container instances, by ARN.
    instances: HashMap<String, InstanceRecord>,
    /// The target groups of the service's deployments (or of each task set).
    targets: TargetsBy,
    /// Where each live task stands in them.
    in_targets: HashMap<String, TaskInTargets>,
    /// Tasks not yet STOPPED, stopping ones included: a deleted service stays DRAINING
    /// until there are none.
    unstopped: usize,
}

async fn observe(ctx: &Ctx, scope: &Scope, s: &ServiceRecord) -> Result<Observed, ApiError> {
    let store = &*ctx.core.store;
    let now = ctx.now();
    let group = task_group(&s.name);
    // The controller's view: from the read cache on replicas over a remote store.
    let tasks: Vec<Record<TaskRecord>> = ctx.core.list_records(&scope.tasks(&s.cluster)).await?;
    let instances: Vec<Record<InstanceRecord>> =
        ctx.core.list_records(&scope.instances(&s.cluster)).await?;
    let draining: BTreeSet<&str> = instances
        .iter()
        .filter(|i| i.value.status != ContainerInstanceStatus::Active)
        .map(|i| i.value.arn.as_str())
        .collect();
    let usable = instances
        .iter()
        .filter(|i| {
            i.value
                .accepts_tasks(ctx.core.liveness.heard(&i.value), now)
        })
        .map(|i| i.value.arn.clone())
        .collect();
    let grace = s.health_check_grace_period_seconds.unwrap_or(0);
    let instance_map: HashMap<String, InstanceRecord> = instances
        .iter()
        .map(|i| (i.value.arn.clone(), i.value.clone()))
        .collect();
    let targets = TargetsBy::load(store, s).await?;
    let mut records = HashMap::new();
    let mut in_targets = HashMap::new();
    let mut counts: HashMap<String, (u32, u32, u32)> = HashMap::new();
    let mut live = Vec::new();
    let mut unstopped = 0;
    // The targets the service's tasks not yet STOPPED hold: an address (or host port) a
    // STOPPED task gave up may be a newer task's, registered under the same target.
    let mut claimed = HashSet::new();
    for t in tasks.iter().map(|r| &r.value) {
        if t.group.as_deref() == Some(group.as_str()) && t.last_status != TaskStatus::Stopped {
            let deployment = t.started_by.as_deref().unwrap_or_default();
            if let Some(targets) = targets.of(deployment) {
                claimed.extend(targets.keys_of(t, &instance_map));
            }
        }
    }
    let unclaimed = HashSet::new();
    for t in tasks.iter().map(|r| &r.value) {
        if t.group.as_deref() != Some(group.as_str()) {
            continue;
        }
        if t.last_status != TaskStatus::Stopped {
            unstopped += 1;
        }
        let deployment = t.started_by.clone().unwrap_or_default();
        let entry = counts.entry(deployment.clone()).or_default();
        if t.desired_status == DesiredStatus::Stopped {
            if matches!(
                t.stop_code,
                Some(TaskStopCode::TaskFailedToStart | TaskStopCode::EssentialContainerExited)
            ) {
                entry.2 += 1;
            }
            // Stopped from outside the controller (StopTask, an exit): it leaves its
            // target groups at once rather than after failing health checks.
            if let Some(targets) = targets.of(&deployment) {
                let lb = targets.of(t, &instance_map);
                if lb.attached && !lb.draining {
                    let others = if t.last_status == TaskStatus::Stopped {
                        &claimed
                    } else {
                        &unclaimed
                    };
                    targets
                        .deregister(store, t, &instance_map, others)
                        .await
                        .map_err(ApiError::Server)?;
                }
            }
            continue;
        }
        let running = t.last_status == TaskStatus::Running;
        if running {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
        let health = t.health_status();
        let checked = t
            .containers
            .iter()
            .any(|c| c.essential && c.health_status.is_some());
        let lb = targets
            .of(&deployment)
            .map(|g| g.of(t, &instance_map))
            .unwrap_or(TaskInTargets {
                healthy: true,
                ..Default::default()
            });
        let past_grace = !in_grace(t.started_at, grace, now);
        in_targets.insert(t.arn.clone(), lb);
        records.insert(t.arn.clone(), t.clone());
        live.push(TaskState {
            arn: t.arn.clone(),
            deployment,
            instance: (!t.placement.fargate_pool).then(|| t.placement.instance_arn.clone()),
            phase: if running {
                Phase::Running
            } else {
                Phase::Pending
            },
            healthy: running && (!checked || health == HealthStatus::Healthy) && lb.healthy,
            unhealthy: running && past_grace && (health == HealthStatus::Unhealthy || lb.unhealthy),
            instance_draining: !t.placement.fargate_pool
                && draining.contains(t.placement.instance_arn.as_str()),
            protected: crate::ecs::task_protection::is_protected(t, now),
        });
    }
    Ok(Observed {
        live,
        counts,
        usable,
        records,
        instances: instance_map,
        targets,
        in_targets,
        unstopped,
    })
}

/// One step of one service; true when it has reached a steady state.
async fn step_service(core: &Arc<Core>, r: Record<ServiceRecord>) -> Result<bool, ApiError> {
    let ctx = context(core, &r.value);
    let scope = ctx.scope();
    let Some(cluster) =
        records::get::<ClusterRecord>(&*core.store, &scope.cluster(&r.value.cluster)).await?
    else {
        return Ok(true);
    };
    let mut s = r.value.clone();
    let now = ctx.now();
    let seen = observe(&ctx, &scope, &s).await?;
    if s.is_external() {
        let steady = step_task_sets(core, &ctx, &cluster, &mut s, &seen, now).await?;
        return write_back(core, &r, &s, steady).await;
    }
    for d in &mut s.deployments {
        let (pending, running, failed) = seen.counts.get(&d.id).copied().unwrap_or_default();
        d.pending_count = pending;
        d.running_count = running;
        d.failed_tasks = d.failed_tasks.max(failed);
    }
    trip_circuit_breaker(&mut s, now);

    if s.scheduling_strategy == SchedulingStrategy::Daemon && s.status == ServiceStatus::Active {
        // A daemon wants one task on each usable instance.
        s.desired_count = seen.usable.len() as u32;
        s.deployments[0].desired_count = s.desired_count;
    }
    let primary = s.primary().clone();
    let launching = primary.rollout != Rollout::Failed;
    let step = match s.scheduling_strategy {
        SchedulingStrategy::Daemon => {
            let usable = if s.status == ServiceStatus::Active {
                seen.usable.clone()
            } else {
                BTreeSet::new()
            };
            rollout::daemon_step(&usable, &primary.id, launching, &seen.live)
        }
        _ => rollout::replica_step(
            Limits {
                desired: s.desired_count,
                minimum_healthy_percent: s.rolling.minimum_healthy_percent,
                maximum_percent: s.rolling.maximum_percent,
            },
            &primary.id,
            launching,
            &seen.live,
        ),
    };

    stop_tasks(core, &ctx, &mut s, &seen, &step.stop, now).await?;
    register_targets(core, &mut s, &seen, &step.stop, now).await?;
    let launch_of = LaunchOf::deployment(s.primary());
    let started = start_tasks(&ctx, &cluster, &mut s, &seen, &launch_of, &step, now).await?;
    started_event(&mut s, &started, now);

    let steady = settle(&mut s, &seen, step.is_empty(), now);
    write_back(core, &r, &s, steady).await
}

/// Writes the service back if the pass changed it; passes `steady` through.
async fn write_back(
    core: &Arc<Core>,
    r: &Record<ServiceRecord>,
    s: &ServiceRecord,
    steady: bool,
) -> Result<bool, ApiError> {
    if *s != r.value {
        let txn = Txn::new()
            .when(Compare::unchanged(&r.key, r.revision))
            .then(put(&r.key, s));
        // A lost race is decided again on the next pass.
        commit(&*core.store, txn).await?;
    }
    Ok(steady)
}

/// One step of a service with the EXTERNAL deployment controller: each task set to its
/// computed desired count (the service's desired count times its scale; none once it is
/// draining or the service deleted), on its own, with no rollout between them; tasks of
/// task sets that are gone stop. Drained task sets leave the record. True when steady.
async fn step_task_sets(
    core: &Arc<Core>,
    ctx: &Ctx,
    cluster: &Record<ClusterRecord>,
    s: &mut ServiceRecord,
    seen: &Observed,
    now: Timestamp,
) -> Result<bool, ApiError> {
    let active = s.status == ServiceStatus::Active;
    let mut steps = Vec::new();
    for t in &mut s.task_sets {
        t.computed_desired_count = if active && t.status != TaskSetStatus::Draining {
            task_set::computed_desired(s.desired_count, t.scale)
        } else {
            0
        };
        let tasks: Vec<TaskState> = seen
            .live
            .iter()
            .filter(|x| x.deployment == t.id)
            .cloned()
            .collect();
        let limits = Limits {
            desired: t.computed_desired_count,
            minimum_healthy_percent: 0,
            maximum_percent: 100,
        };
        steps.push((
            LaunchOf::task_set(t),
            rollout::replica_step(limits, &t.id, true, &tasks),
        ));
    }
    let orphans: Vec<TaskState> = seen
        .live
        .iter()
        .filter(|x| !s.task_sets.iter().any(|t| t.id == x.deployment))
        .cloned()
        .collect();
    let mut stops = rollout::replica_step(
        Limits {
            desired: 0,
            minimum_healthy_percent: 0,
            maximum_percent: 100,
        },
        "",
        true,
        &orphans,
    )
    .stop;
    stops.extend(steps.iter().flat_map(|(_, step)| step.stop.iter().cloned()));
    stop_tasks(core, ctx, s, seen, &stops, now).await?;
    register_targets(core, s, seen, &stops, now).await?;
    let mut started = Vec::new();
    for (launch_of, step) in &steps {
        started.extend(start_tasks(ctx, cluster, s, seen, launch_of, step, now).await?);
    }
    started_event(s, &started, now);

    // Counts and stability; a drained task set goes.
    let mut steady = stops.is_empty() && started.is_empty();
    for t in &mut s.task_sets {
        let (pending, running, _) = seen.counts.get(&t.id).copied().unwrap_or_default();
        let healthy = seen
            .live
            .iter()
            .filter(|x| x.deployment == t.id)
            .all(|x| x.healthy);
        t.observe(pending, running, healthy, now);
        steady &= t.stability == berth_api::ecs::StabilityStatus::SteadyState;
    }
    s.task_sets.retain(|t| {
        t.status != TaskSetStatus::Draining || seen.live.iter().any(|x| x.deployment == t.id)
    });
    if steady {
        let steady_message = format!("(service {}) has reached a steady state.", s.name);
        if s.events.first().map(|e| &e.message) != Some(&steady_message) {
            s.push_event(event_id(), now, steady_message);
        }
    }
    if s.status == ServiceStatus::Draining {
        if seen.unstopped > 0 {
            return Ok(false);
        }
        s.status = ServiceStatus::Inactive;
    }
    Ok(steady)
}

/// Stops the tasks a step names: one in a target group is deregistered first and stopped
/// once it has drained. Says so in the service's events.
async fn stop_tasks(
    core: &Arc<Core>,
    ctx: &Ctx,
    s: &mut ServiceRecord,
    seen: &Observed,
    stops: &[(String, StopReason)],
    now: Timestamp,
) -> Result<(), ApiError> {
    let mut stopped = Vec::new();
    let mut draining = 0;
    for (arn, why) in stops {
        let Some(task) = seen.live.iter().find(|t| &t.arn == arn) else {
            continue;
        };
        // A task in a target group leaves it first and is stopped once it has drained.
        let lb = seen.in_targets.get(arn).copied().unwrap_or_default();
        if lb.attached {
            if let (Some(targets), Some(record), false) = (
                seen.targets.of(&task.deployment),
                seen.records.get(arn),
                lb.draining,
            ) {
                // A task not yet stopped still holds its own target.
                targets
                    .deregister(&*core.store, record, &seen.instances, &HashSet::new())
                    .await
                    .map_err(ApiError::Server)?;
                draining += 1;
            }
            continue;
        }
        // Which checks it failed: its container's, else its target groups' (an
        // unhealthy target is deregistered first, so is no longer seen as one here).
        let checks = match seen.records.get(arn).map(TaskRecord::health_status) {
            Some(HealthStatus::Unhealthy) => "container",
            _ => "ELB",
        };
        let reason = match why {
            StopReason::Unhealthy => format!(
                "Task failed {} health checks (deployment {}).",
                checks, task.deployment
            ),
            StopReason::InstanceDraining => format!(
                "Service {} task moved off a draining container instance (deployment {}).",
                s.name, task.deployment
            ),
            _ => format!(
                "Scaling activity initiated by (deployment {})",
                task.deployment
            ),
        };
        let id = crate::ecs::id_from(arn).to_string();
        launch::stop_task(
            ctx,
            &s.cluster,
            &id,
            TaskStopCode::ServiceSchedulerInitiated,
            &reason,
        )
        .await?;
        if *why == StopReason::Unhealthy {
            s.push_event(
                event_id(),
                now,
                format!(
                    "(service {}) (task {id}) failed {checks} health checks.",
                    s.name
                ),
            );
        }
        stopped.push(id);
    }
    if draining > 0 {
        s.push_event(
            event_id(),
            now,
            format!(
                "(service {}) has begun draining connections on {draining} tasks.",
                s.name
            ),
        );
    }
    if !stopped.is_empty() {
        s.push_event(
            event_id(),
            now,
            format!(
                "(service {}) has stopped {} running tasks: {}.",
                s.name,
                stopped.len(),
                listed(&stopped)
            ),
        );
    }

    Ok(())
}

/// Says which tasks a pass started.
fn started_event(s: &mut ServiceRecord, started: &[String], now: Timestamp) {
    if !started.is_empty() {
        s.push_event(
            event_id(),
            now,
            format!(
                "(service {}) has started {} tasks: {}.",
                s.name,
                started.len(),
                listed(started)
            ),
        );
    }
}

/// Registers the service's RUNNING tasks that are staying in its target groups.
async fn register_targets(
    core: &Arc<Core>,
    s: &mut ServiceRecord,
    seen: &Observed,
    stops: &[(String, StopReason)],
    now: Timestamp,
) -> Result<(), ApiError> {
    let leaving: BTreeSet<&str> = stops.iter().map(|(a, _)| a.as_str()).collect();
    let mut joined: HashMap<String, usize> = HashMap::new();
    for t in seen.live.iter().filter(|t| t.phase == Phase::Running) {
        let (Some(record), Some(targets)) =
            (seen.records.get(&t.arn), seen.targets.of(&t.deployment))
        else {
            continue;
        };
        if leaving.contains(t.arn.as_str()) {
            continue;
        }
        for group in targets
            .register(&*core.store, record, &seen.instances)
            .await
            .map_err(ApiError::Server)?
        {
            *joined.entry(group).or_default() += 1;
        }
    }
    for (group, n) in joined {
        s.push_event(
            event_id(),
            now,
            format!("(service {}) registered {n} targets in ({group})", s.name),
        );
    }
    Ok(())
}

/// Starts what the step asks for, as `primary` (the primary deployment, or a task set)
/// launches; returns the new tasks' ids. A capacity provider strategy spreads new tasks
/// over its providers, counting `primary`'s live tasks on each. Placement failures become one event (not repeated while they persist).
async fn start_tasks(
    ctx: &Ctx,
    cluster: &Record<ClusterRecord>,
    s: &mut ServiceRecord,
    seen: &Observed,
    primary: &LaunchOf,
    step: &rollout::Step,
    now: Timestamp,
) -> Result<Vec<String>, ApiError> {
    if step.start == 0 && step.start_on.is_empty() {
        return Ok(Vec::new());
    }
    let capacity = launch::choose_capacity(
        &cluster.value,
        primary.launch_type,
        primary.capacity_provider_strategy.as_deref(),
    )?;
    let mut held: std::collections::BTreeMap<String, u32> = Default::default();
    for t in seen.records.values() {
        if t.started_by.as_deref() == Some(primary.id.as_str()) {
            if let Some(p) = &t.capacity_provider_name {
                *held.entry(p.clone()).or_default() += 1;
            }
        }
    }
    // Each group: its launch type and provider, and how many to start (none: one on
    // each instance the step names, a daemon's).
    let mut groups: Vec<(LaunchType, Option<String>, Option<u32>)> = capacity
        .split(&held, step.start)
        .into_iter()
        .map(|(lt, p, n)| (lt, p, Some(n)))
        .collect();
    if !step.start_on.is_empty() {
        let (lt, p) = capacity.first();
        groups.push((lt, p, None));
    }
    let mut started = Vec::new();
    let mut failures = Vec::new();
    for (launch_type, capacity_provider, count) in groups {
        let Some(request) = launch_request(
            ctx,
            cluster,
            s,
            primary,
            launch_type,
            capacity_provider,
            now,
        )
        .await?
        else {
            return Ok(Vec::new());
        };
        let place = |count: u32, on: Option<String>| {
            let request = &request;
            let s = &*s;
            async move {
                let target = Target {
                    count,
                    only_instance: on.as_deref().map(crate::ecs::id_from),
                    strategies: &s.placement_strategy,
                    constraints: &s.placement_constraints,
                };
                launch::launch(ctx, request, target).await
            }
        };
        let batches: Vec<(u32, Option<String>)> = match count {
            Some(n) => vec![(n, None)],
            None => step.start_on.iter().map(|i| (1, Some(i.clone()))).collect(),
        };
        for (n, on) in batches {
            let (placed, failed) = place(n, on).await?;
            started.extend(placed.into_iter().filter_map(|t| t.task_arn));
            failures.extend(failed);
        }
    }
    if started.is_empty() && !failures.is_empty() {
        let mut reasons: Vec<String> = Vec::new();
        for f in &failures {
            let reason = match (&f.reason, &f.detail) {
                (Some(r), Some(d)) => format!("{r} ({d})"),
                (Some(r), None) => r.clone(),
                (None, _) => continue,
            };
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        let message = format!(
            "(service {}) was unable to place a task because no container instance met all of \
             its requirements. Reason: {}.",
            s.name,
            reasons.join(", ")
        );
        if s.events.first().map(|e| &e.message) != Some(&message) {
            s.push_event(event_id(), now, message);
        }
    }
    Ok(started
        .iter()
        .map(|arn| crate::ecs::id_from(arn).to_string())
        .collect())
}

/// The launch request of `primary` (a deployment or task set) on `launch_type` (through
/// `capacity_provider`). `None` when it cannot launch as things stand (a role ECS cannot
/// assume): said once in its events, as ECS does, and tried again each pass.
async fn launch_request(
    ctx: &Ctx,
    cluster: &Record<ClusterRecord>,
    s: &mut ServiceRecord,
    primary: &LaunchOf,
    launch_type: LaunchType,
    capacity_provider: Option<String>,
    now: Timestamp,
) -> Result<Option<launch::LaunchRequest>, ApiError> {
    let service_tags: Vec<berth_api::ecs::Tag> =
        if s.propagate_tags == Some(berth_api::ecs::PropagateTags::Service) {
            s.tags
                .iter()
                .map(|(k, v)| berth_api::ecs::Tag {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect()
        } else {
            Vec::new()
        };
    let prepared = launch::prepare(
        ctx,
        LaunchSpec {
            cluster: cluster.clone(),
            task_definition: &primary.task_definition,
            launch_type,
            capacity_provider,
            overrides: None,
            network: primary.network_configuration.as_ref(),
            group: Some(task_group(&s.name)),
            started_by: Some(primary.id.clone()),
            tags: Some(&service_tags),
            propagate_tags: s.propagate_tags,
            enable_execute_command: s.enable_execute_command,
        },
    )
    .await
    .and_then(|request| {
        crate::task_roles::check_launch(&ctx.core.iam, &request)?;
        Ok(request)
    });
    match prepared {
        Ok(mut request) => {
            if s.enable_ecs_managed_tags {
                request.add_managed_tags(Some(&s.name));
            }
            Ok(Some(request))
        }
        Err(ApiError::Client(reason)) => {
            let message = format!(
                "(service {}) failed to launch a task with (error {reason}).",
                s.name
            );
            if s.events.first().map(|e| &e.message) != Some(&message) {
                s.push_event(event_id(), now, message);
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Trips the primary deployment's circuit breaker once enough of its tasks failed, and
/// rolls back to the last deployment that completed when asked to.
fn trip_circuit_breaker(s: &mut ServiceRecord, now: Timestamp) {
    let primary = s.primary();
    if !s.rolling.circuit_breaker
        || primary.rollout != Rollout::InProgress
        || primary.failed_tasks < rollout::circuit_breaker_threshold(s.desired_count)
    {
        return;
    }
    let failed_id = primary.id.clone();
    s.deployments[0].rollout = Rollout::Failed;
    s.deployments[0].rollout_reason =
        "ECS deployment circuit breaker: tasks failed to start.".into();
    s.deployments[0].updated_at = now;
    s.push_event(
        event_id(),
        now,
        format!(
            "(service {}) (deployment {failed_id}) deployment failed: tasks failed to start.",
            s.name
        ),
    );
    if !s.rolling.rollback {
        return;
    }
    let previous = s
        .deployments
        .iter()
        .skip(1)
        .chain(&s.past_deployments)
        .find(|d| d.rollout == Rollout::Completed)
        .cloned();
    let Some(previous) = previous else {
        return;
    };
    let mut back = services::new_deployment(
        previous.task_definition.clone(),
        &launch::Capacity::recorded(
            previous.launch_type,
            previous.capacity_provider_strategy.as_deref(),
        ),
        previous.network_configuration.clone(),
        s.desired_count,
        now,
    );
    back.rollback_of = Some(failed_id.clone());
    back.rollout_reason = format!(
        "ECS deployment circuit breaker: rolling back to deploymentId {}.",
        previous.id
    );
    for d in &mut s.deployments {
        d.status = DeploymentStatus::Active;
    }
    s.deployments.insert(0, back);
    s.push_event(
        event_id(),
        now,
        format!(
            "(service {}) rolling back to deployment {}.",
            s.name, previous.id
        ),
    );
}

/// Bookkeeping once the step is applied: retires deployments with no tasks left,
/// completes the primary one at a steady state, and retires a deleted service.
fn settle(s: &mut ServiceRecord, seen: &Observed, step_was_empty: bool, now: Timestamp) -> bool {
    let live = &seen.live;
    let has_tasks = |id: &str| live.iter().any(|t| t.deployment == id);
    let mut retired = Vec::new();
    let mut i = 1;
    while i < s.deployments.len() {
        if has_tasks(&s.deployments[i].id) {
            i += 1;
        } else {
            retired.push(s.deployments.remove(i));
        }
    }
    for d in retired {
        s.past_deployments.insert(0, d);
    }
    s.past_deployments
        .truncate(berth_model::service::record::MAX_EVENTS);

    let primary_id = s.primary().id.clone();
    let steady = step_was_empty
        && s.deployments.len() == 1
        && match s.scheduling_strategy {
            SchedulingStrategy::Daemon => live.iter().all(|t| t.healthy),
            _ => rollout::is_steady(s.desired_count, &primary_id, live),
        };
    if !steady {
        s.deployments[0].steady_since = None;
        return false;
    }
    if s.deployments[0].rollout == Rollout::InProgress {
        // A rollout completes only once its steady state has lasted.
        let since = *s.deployments[0].steady_since.get_or_insert(now);
        if now.as_secs_f64() - since.as_secs_f64() < STEADY_CONFIRMATION_SECS {
            return false;
        }
        s.deployments[0].rollout = Rollout::Completed;
        s.deployments[0].rollout_reason = format!("ECS deployment {primary_id} completed.");
        s.deployments[0].updated_at = now;
        s.push_event(
            event_id(),
            now,
            format!(
                "(service {}) (deployment {primary_id}) deployment completed.",
                s.name
            ),
        );
    }
    let steady_message = format!("(service {}) has reached a steady state.", s.name);
    if s.events.first().map(|e| &e.message) != Some(&steady_message) {
        s.push_event(event_id(), now, steady_message);
    }
    if s.status == ServiceStatus::Draining {
        if seen.unstopped > 0 {
            return false;
        }
        s.status = ServiceStatus::Inactive;
    }
    true
}

fn listed(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("(task {id})"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
