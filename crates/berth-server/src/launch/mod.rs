//! The launch engine: from a validated launch request to tasks committed on container
//! instances, and what happens to a task after (stop requests, agents' reports, the
//! release of what it held). RunTask, StartTask, the service controller and the agent
//! channel all come here; none of them places or commits a task itself.
//!
//! ```text
//! LaunchSpec ──prepare──► LaunchRequest ──launch(target)──┐
//!                                                         ▼
//!        ┌──────────── records::update ───────────────────────────────┐
//!        │ snapshot: candidate instances (+ task occupancy) at revs    │
//!        │     │                                                       │
//!        │     ▼  plan (pure): scheduler::place, new TaskRecords,      │
//!        │        instances' remaining resources, failures             │
//!        │     │                                                       │
//!        │     ▼  one txn: cluster + every touched instance unchanged  │
//!        │        → put instances, put tasks; conflict → read again    │
//!        └─────────────────────────────────────────────────────────────┘
//! ```
//!
//! Modelled on Nomad's scheduler (business logic over an immutable snapshot, a plan
//! committed in one step) and TiKV's `process_write` (snapshot in, writes out).

mod lifecycle;
pub mod placement;
mod plan;
mod request;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use berth_api::ecs::{
    AwsVpcConfiguration, Failure, LaunchType, PlacementConstraint, PlacementStrategy, Task,
    TaskOverride,
};
use berth_api::error::ApiError;
use berth_model::cluster::ClusterRecord;
use berth_model::container_instance::InstanceRecord;
use berth_model::tags::{self, Tags};
use berth_model::task::{TaskEni, TaskRecord};
use berth_model::task_definition::TaskDefinitionRecord;
use rand::Rng;

pub use lifecycle::{
    apply_report, parse_task_arn, release, stop_task, task_scope, tasks_of_account,
};
pub use plan::{plan, Minted, Planned, Snapshot};
pub use request::{choose_capacity, prepare, Capacity, LaunchSpec};

use crate::context::Ctx;
use crate::ecs::{active_cluster, new_id};
use crate::keys::EcsKeys;
use crate::records::{self, Record, Step};

/// A validated launch: everything RunTask, StartTask and the service controller share
/// once [`prepare`] has checked it.
pub struct LaunchRequest {
    pub(crate) cluster: Record<ClusterRecord>,
    pub(crate) def: Record<TaskDefinitionRecord>,
    pub(crate) launch_type: LaunchType,
    pub(crate) capacity_provider: Option<String>,
    pub(crate) overrides: TaskOverride,
    pub(crate) network: Option<AwsVpcConfiguration>,
    pub(crate) group: String,
    pub(crate) started_by: Option<String>,
    pub(crate) tags: Tags,
    pub(crate) enable_execute_command: bool,
}

impl LaunchRequest {
    /// ECS's managed tags (`enableECSManagedTags`): `aws:ecs:clusterName` on every task,
    /// and `aws:ecs:serviceName` on a service's. Their keys are reserved to AWS, so they
    /// are set here, never through a request's tags.
    pub fn add_managed_tags(&mut self, service: Option<&str>) {
        let cluster = self.cluster.value.name.clone();
        self.tags.insert(tags::MANAGED_CLUSTER_NAME.into(), cluster);
        if let Some(service) = service {
            self.tags
                .insert(tags::MANAGED_SERVICE_NAME.into(), service.to_string());
        }
    }

    /// The resolved task definition.
    pub fn task_definition(&self) -> &TaskDefinitionRecord {
        &self.def.value
    }
}

/// Where and how many: `count` tasks, on one named instance or wherever the strategies
/// and constraints place them.
#[derive(Clone, Copy, Default)]
pub struct Target<'a> {
    pub count: u32,
    /// A container instance id (StartTask, a daemon service's task).
    pub only_instance: Option<&'a str>,
    pub strategies: &'a [PlacementStrategy],
    pub constraints: &'a [PlacementConstraint],
}

/// Places the target's tasks and commits them with the instances' updated resources in
/// one transaction, retrying from a fresh snapshot when anything read changed. Returns
/// the tasks as RunTask shows them and, when fewer than asked were placed, why.
pub async fn launch(
    ctx: &Ctx,
    launch: &LaunchRequest,
    target: Target<'_>,
) -> Result<(Vec<Task>, Vec<Failure>), ApiError> {
    let scope = &ctx.scope();
    let store = &*ctx.core.store;
    let fargate = launch.launch_type == LaunchType::Fargate;
    let reservation = &placement::reservation(&launch.def.value, &launch.overrides);
    let request = &placement::request(
        &launch.def.value,
        reservation,
        &launch.group,
        target.count,
        target.strategies,
        target.constraints,
    )?;
    let needs_occupancy = !request.constraints.is_empty() || !request.strategies.is_empty();
    // Fargate capacity is Berth's to manage: the pool (its members registered in the
    // server's home region) serves a cluster of any region. Container instances belong
    // to the region they registered in.
    let pool = &ctx.core.home_scope().fargate_pool();
    let capacity = if fargate {
        pool.clone()
    } else {
        scope.instances(&launch.cluster.value.name)
    };
    let _turn = match &ctx.core.launch_turns {
        Some(turns) => Some(turns.take(&capacity).await),
        None => None,
    };
    let attempts = &AtomicU32::new(0);
    records::update(store, "The cluster's container instances", || async move {
        // Reading and planning take a permit; the commit that follows does not.
        let _planning = ctx
            .core
            .planning
            .acquire()
            .await
            .map_err(|_| ApiError::Server("the server is shutting down".into()))?;
        // The first attempt compares the cluster as prepared; a later one reads it again
        // (its tags or settings may have changed, or it may have been deleted).
        let cluster_revision = match attempts.fetch_add(1, Ordering::Relaxed) {
            0 => launch.cluster.revision,
            _ => {
                active_cluster(ctx, Some(&launch.cluster.value.name))
                    .await?
                    .revision
            }
        };
        let cluster = &launch.cluster.value.name;
        let decoded = &ctx.core.instance_cache;
        let listed = |prefix: String| async move {
            let kvs = ctx
                .list_prefix(&prefix)
                .await
                .map_err(records::store_error)?;
            decoded.decode_all(kvs)
        };
        let candidates: Vec<Record<Arc<InstanceRecord>>> = match (fargate, target.only_instance) {
            (true, _) => listed(pool.clone()).await?,
            (false, Some(id)) => match records::get(store, &scope.instance(cluster, id)).await? {
                Some(r) => vec![Record {
                    key: r.key,
                    value: Arc::new(r.value),
                    revision: r.revision,
                }],
                None => return Ok(Step::Done((vec![], vec![missing(id)]))),
            },
            (false, None) => listed(scope.instances(cluster)).await?,
        };
        let occupancy = if needs_occupancy {
            let tasks: Vec<Record<TaskRecord>> =
                records::list(store, &scope.tasks(cluster)).await?;
            placement::Occupancy::of(&tasks)
        } else {
            placement::Occupancy::default()
        };
        // Hosts that offer both kinds of capacity: their other registration loses the
        // CPU and memory a task takes here, in the same transaction.
        let twin_keys: Vec<String> = candidates
            .iter()
            .filter_map(|c| c.value.twin.clone())
            .collect();
        let twins = if twin_keys.is_empty() {
            Default::default()
        } else {
            records::get_many::<InstanceRecord>(store, &twin_keys)
                .await?
                .into_iter()
                .flatten()
                .map(|r| (r.key.clone(), r))
                .collect()
        };
        let heard = candidates
            .iter()
            .map(|c| (c.value.id.clone(), ctx.core.liveness.heard(&c.value)))
            .collect();
        let snapshot = Snapshot {
            heard,
            candidates,
            twins,
            occupancy,
            now: ctx.now(),
        };
        let mut mint = || mint(ctx, launch);
        match plan(
            &snapshot,
            launch,
            request,
            reservation,
            &mut mint,
            &ctx.caller.region,
        )? {
            Planned::Nothing(failures) => Ok(Step::Done((vec![], failures))),
            Planned::Place(p) => {
                let txn = p.txn(scope, &launch.cluster.key, cluster_revision);
                let tasks = p.tasks.iter().map(|t| t.to_wire(true)).collect();
                Ok(Step::Commit(txn, (tasks, p.failures)))
            }
        }
    })
    .await
}

/// The failure for a container instance that is not there, as ECS reports it.
pub(crate) fn missing(given: &str) -> Failure {
    Failure {
        arn: Some(given.to_string()),
        reason: Some("MISSING".into()),
        detail: None,
    }
}

/// Fresh ids and ARNs for one task of `launch`, and its network interface's.
fn mint(ctx: &Ctx, launch: &LaunchRequest) -> Minted {
    let id = new_id();
    let cluster = &launch.cluster.value.name;
    let containers = launch
        .def
        .value
        .definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    let eni = launch.network.as_ref().map(|n| {
        let mut rng = rand::thread_rng();
        let mac: Vec<String> = (0..5).map(|_| format!("{:02x}", rng.gen::<u8>())).collect();
        TaskEni {
            attachment_id: uuid::Uuid::new_v4().to_string(),
            eni_id: format!("eni-{:017x}", rng.gen::<u64>()),
            subnet_id: n.subnets[0].clone(),
            mac_address: format!("02:{}", mac.join(":")),
            private_ipv4_address: None,
        }
    });
    Minted {
        arn: ctx.arn(format!("task/{cluster}/{id}")),
        container_arns: containers
            .iter()
            .map(|_| ctx.arn(format!("container/{cluster}/{id}/{}", new_id())))
            .collect(),
        id,
        eni,
    }
}
