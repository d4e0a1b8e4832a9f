//! The launch plan, a pure function of a snapshot: where the scheduler puts each task,
//! the task records that come of it, what each touched instance has left, and why the
//! rest did not fit. Nothing here reads the store or the clock; [`super::launch`] reads
//! the snapshot and commits the plan's transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::ecs::{Failure, LaunchType, Timestamp};
use berth_api::error::ApiError;
use berth_model::container_instance::{InstanceRecord, Reservation};
use berth_model::task::{NewTask, TaskEni, TaskRecord};
use berth_scheduler::{PlacementRequest, View};
use berth_store::{Compare, Revision, Txn};

use super::placement::{self, Occupancy};
use super::LaunchRequest;
use crate::keys::{EcsKeys, Scope};
use crate::records::{put, Record};

/// What the plan reads: the candidate instances (the cluster's, or the Fargate pool's) at
/// the revisions read, their twins, how their tasks occupy them, and the time.
pub struct Snapshot {
    pub candidates: Vec<Record<Arc<InstanceRecord>>>,
    /// The candidates' twins (the same hosts' other registrations), by key.
    pub twins: BTreeMap<String, Record<InstanceRecord>>,
    /// When each candidate's agent was last heard from, by instance id.
    pub heard: BTreeMap<String, Option<Timestamp>>,
    pub occupancy: Occupancy,
    pub now: Timestamp,
}

/// The ids a new task takes, minted outside the plan (they are random).
pub struct Minted {
    pub id: String,
    pub arn: String,
    /// One per container of the definition, in order.
    pub container_arns: Vec<String>,
    /// The awsvpc interface, for launches with a network configuration.
    pub eni: Option<TaskEni>,
}

/// What to do.
#[derive(Debug)]
pub enum Planned {
    /// No task fits: commit nothing, answer with these failures.
    Nothing(Vec<Failure>),
    /// Commit these tasks (possibly fewer than asked, with failures for the rest).
    Place(LaunchPlan),
}

/// Tasks placed, the instances they change, and the failures of the rest.
#[derive(Debug)]
pub struct LaunchPlan {
    pub tasks: Vec<TaskRecord>,
    /// Every touched instance by key: the revision read, and the record with the new
    /// tasks' resources taken.
    pub instances: BTreeMap<String, (Revision, InstanceRecord)>,
    pub failures: Vec<Failure>,
}

impl LaunchPlan {
    /// The one transaction that commits the plan, valid only if the cluster and every
    /// touched instance are unchanged since they were read.
    pub fn txn(&self, scope: &Scope, cluster_key: &str, cluster_revision: Revision) -> Txn {
        let mut txn = Txn::new().when(Compare::unchanged(cluster_key, cluster_revision));
        for (key, (revision, updated)) in &self.instances {
            txn = txn
                .when(Compare::unchanged(key, *revision))
                .then(put(key, updated));
        }
        for t in &self.tasks {
            txn = txn.then(put(scope.task(&t.cluster, &t.id), t));
        }
        txn
    }
}

/// Plans `request` (for `launch`, each task holding `reservation`) over `snapshot`.
/// `mint` gives each placed task its ids; `region` names the zone of instances that
/// report none.
pub fn plan(
    snapshot: &Snapshot,
    launch: &LaunchRequest,
    request: &PlacementRequest,
    reservation: &Reservation,
    mint: &mut dyn FnMut() -> Minted,
    region: &str,
) -> Result<Planned, ApiError> {
    if snapshot.candidates.is_empty() {
        if launch.launch_type == LaunchType::Fargate {
            return Ok(Planned::Nothing(vec![Failure {
                arn: Some(launch.cluster.value.arn.clone()),
                reason: Some("RESOURCE:FARGATE".into()),
                detail: Some(
                    "No agent offers Fargate capacity (the Fargate pool serves clusters of \
                     every region). `berth up` runs one; more join with `berth agent`."
                        .into(),
                ),
            }]));
        }
        return Err(ApiError::InvalidParameter(
            "No Container Instances were found in your cluster.".into(),
        ));
    }
    let view = View::new(snapshot.candidates.iter().map(|c| {
        let heard = snapshot.heard.get(&c.value.id).copied().flatten();
        placement::to_scheduler(&c.value, heard, snapshot.now, &snapshot.occupancy)
    }))
    .map_err(|e| ApiError::Server(format!("cannot build the placement view: {e}")))?;
    let placed = view
        .place(request)
        .map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
    let failures: Vec<Failure> = placed
        .failures
        .iter()
        .map(|f| Failure {
            arn: Some(f.arn.clone()),
            reason: Some(f.reason.as_str().into()),
            detail: f
                .missing_attribute
                .as_ref()
                .map(|a| berth_api::capability::missing(&a.name)),
        })
        .collect();
    if placed.placements.is_empty() {
        return Ok(Planned::Nothing(failures));
    }
    let by_arn: BTreeMap<&str, &Record<Arc<InstanceRecord>>> = snapshot
        .candidates
        .iter()
        .map(|c| (c.value.arn.as_str(), c))
        .collect();
    let mut instances: BTreeMap<String, (Revision, InstanceRecord)> = BTreeMap::new();
    let mut tasks = Vec::with_capacity(placed.placements.len());
    for p in &placed.placements {
        let original = by_arn[p.container_instance_arn.as_str()];
        let (_, instance) = instances
            .entry(original.key.clone())
            .or_insert_with(|| (original.revision, (*original.value).clone()));
        let mut held = reservation.clone();
        held.gpus = p.gpu_ids.clone();
        instance.remaining.take(&held);
        instance.version += 1;
        let twin_key = instance.twin.clone();
        if let Some(twin) = twin_key.and_then(|k| snapshot.twins.get(&k)) {
            let (_, other) = instances
                .entry(twin.key.clone())
                .or_insert_with(|| (twin.revision, twin.value.clone()));
            other.remaining.take(&held.compute());
            other.version += 1;
        }
        let instance = &instances[&original.key].1;
        let ids = mint();
        tasks.push(TaskRecord::new(NewTask {
            id: ids.id,
            arn: ids.arn,
            container_arns: ids.container_arns,
            cluster: &launch.cluster.value,
            def: &launch.def.value,
            launch_type: launch.launch_type,
            capacity_provider: launch.capacity_provider.clone(),
            overrides: &launch.overrides,
            group: &launch.group,
            started_by: launch.started_by.clone(),
            tags: launch.tags.clone(),
            enable_execute_command: launch.enable_execute_command,
            instance,
            reserved: held,
            eni: ids.eni,
            region,
            now: snapshot.now,
        }));
    }
    Ok(Planned::Place(LaunchPlan {
        tasks,
        instances,
        failures,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_api::ecs::{ContainerInstanceStatus, LaunchType, TaskOverride};
    use berth_model::cluster::ClusterRecord;
    use berth_model::container_instance::Resources;
    use berth_model::status::TaskStatus;
    use berth_model::task_definition::{register, Registration};
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        Scope::new("000000000000", "us-east-1")
    }

    fn launch(body: serde_json::Value, launch_type: LaunchType) -> LaunchRequest {
        let def = register(
            serde_json::from_value(body).unwrap(),
            Registration {
                arn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into(),
                revision: 1,
                registered_at: Timestamp::from_secs(0),
                registered_by: "root",
            },
        )
        .unwrap();
        let cluster = ClusterRecord {
            name: "prod".into(),
            arn: scope().arn("ecs", "cluster/prod"),
            active: true,
            tags: Default::default(),
            settings: vec![],
            configuration: None,
            capacity_providers: vec![],
            default_capacity_provider_strategy: vec![],
            service_connect_defaults: None,
        };
        LaunchRequest {
            cluster: Record {
                key: scope().cluster("prod"),
                value: cluster,
                revision: 7,
            },
            def: Record {
                key: scope().task_definition("web", 1),
                value: def,
                revision: 3,
            },
            launch_type,
            capacity_provider: None,
            overrides: TaskOverride::default(),
            network: None,
            group: "family:web".into(),
            started_by: Some("test".into()),
            tags: Default::default(),
            enable_execute_command: false,
        }
    }

    fn instance(
        id: &str,
        cpu: i64,
        memory: i64,
        revision: Revision,
    ) -> Record<Arc<InstanceRecord>> {
        let resources = Resources {
            cpu,
            memory,
            ..Default::default()
        };
        Record {
            key: scope().instance("prod", id),
            revision,
            value: Arc::new(InstanceRecord {
                id: id.into(),
                arn: scope().arn("ecs", format!("container-instance/prod/{id}")),
                cluster: "prod".into(),
                ec2_instance_id: None,
                status: ContainerInstanceStatus::Active,
                registered: resources.clone(),
                remaining: resources,
                attributes: BTreeMap::from([(
                    "com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(),
                    None,
                )]),
                version_info: None,
                registered_at: Timestamp::from_secs(0),
                last_heartbeat: Some(Timestamp::from_secs(100)),
                tags: Default::default(),
                version: 1,
                fargate_pool: false,
                lost_at: None,
                twin: None,
            }),
        }
    }

    fn web() -> serde_json::Value {
        json!({"family": "web", "containerDefinitions": [
            {"name": "a", "image": "busybox", "memory": 256, "cpu": 512},
            {"name": "b", "image": "busybox", "memory": 128, "essential": false}]})
    }

    fn minter() -> impl FnMut() -> Minted {
        let mut n = 0;
        move || {
            n += 1;
            Minted {
                id: format!("t{n}"),
                arn: scope().arn("ecs", format!("task/prod/t{n}")),
                container_arns: vec![format!("c{n}a"), format!("c{n}b")],
                eni: None,
            }
        }
    }

    fn plan_of(
        l: &LaunchRequest,
        candidates: Vec<Record<Arc<InstanceRecord>>>,
        count: u32,
    ) -> Result<Planned, ApiError> {
        let reservation = placement::reservation(&l.def.value, &l.overrides);
        let request =
            placement::request(&l.def.value, &reservation, &l.group, count, &[], &[]).unwrap();
        let snapshot = Snapshot {
            heard: candidates
                .iter()
                .map(|c| (c.value.id.clone(), c.value.last_heartbeat))
                .collect(),
            twins: Default::default(),
            candidates,
            occupancy: Occupancy::default(),
            now: Timestamp::from_secs(110),
        };
        plan(
            &snapshot,
            l,
            &request,
            &reservation,
            &mut minter(),
            "us-east-1",
        )
    }

    #[test]
    fn a_task_on_a_host_that_also_offers_fargate_takes_cpu_and_memory_from_both() {
        let l = launch(web(), LaunchType::Ec2);
        let twin_key = scope().fargate_pool_member("f1");
        let mut ec2 = instance("i1", 1024, 800, 11);
        Arc::make_mut(&mut ec2.value).twin = Some(twin_key.clone());
        let mut member = (*instance("f1", 1024, 800, 12).value).clone();
        member.fargate_pool = true;
        member.twin = Some(ec2.key.clone());
        let reservation = placement::reservation(&l.def.value, &l.overrides);
        let request =
            placement::request(&l.def.value, &reservation, &l.group, 1, &[], &[]).unwrap();
        let snapshot = Snapshot {
            heard: BTreeMap::from([("i1".to_string(), Some(Timestamp::from_secs(100)))]),
            twins: BTreeMap::from([(
                twin_key.clone(),
                Record {
                    key: twin_key.clone(),
                    value: member,
                    revision: 12,
                },
            )]),
            candidates: vec![ec2],
            occupancy: Occupancy::default(),
            now: Timestamp::from_secs(110),
        };
        let Planned::Place(p) = plan(
            &snapshot,
            &l,
            &request,
            &reservation,
            &mut minter(),
            "us-east-1",
        )
        .unwrap() else {
            panic!("nothing placed")
        };
        let (revision, twin) = &p.instances[&twin_key];
        assert_eq!(*revision, 12);
        assert_eq!((twin.remaining.cpu, twin.remaining.memory), (512, 416));
        let ec2 = &p.instances[&scope().instance("prod", "i1")].1;
        assert_eq!((ec2.remaining.cpu, ec2.remaining.memory), (512, 416));
        let txn = p.txn(&scope(), &l.cluster.key, 7);
        assert!(
            txn.compares
                .contains(&Compare::unchanged(twin_key.clone(), 12)),
            "the twin's revision guards the commit"
        );
    }

    #[test]
    fn placed_tasks_take_their_resources_and_commit_guarded_by_every_revision_read() {
        let l = launch(web(), LaunchType::Ec2);
        // Room for two tasks (512 CPU, 384 MiB each) on one instance only.
        let Planned::Place(p) = plan_of(&l, vec![instance("i1", 1024, 800, 11)], 3).unwrap() else {
            panic!("nothing placed")
        };
        assert_eq!(p.tasks.len(), 2);
        assert_eq!(
            p.failures.len(),
            1,
            "the third did not fit: {:?}",
            p.failures
        );
        assert_eq!(p.failures[0].reason.as_deref(), Some("RESOURCE:CPU"));
        let (revision, i1) = &p.instances[&scope().instance("prod", "i1")];
        assert_eq!(
            (*revision, i1.remaining.cpu, i1.remaining.memory),
            (11, 0, 32)
        );
        assert_eq!(i1.version, 3, "one version per task taken");
        let t = &p.tasks[0];
        assert_eq!((t.id.as_str(), t.last_status), ("t1", TaskStatus::Pending));
        assert_eq!(
            t.containers
                .iter()
                .map(|c| c.arn.as_str())
                .collect::<Vec<_>>(),
            ["c1a", "c1b"]
        );
        assert_eq!(t.placement.instance_id, "i1");
        assert_eq!(t.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(t.reserved.cpu, 512);

        let txn = p.txn(&scope(), &l.cluster.key, l.cluster.revision);
        assert_eq!(
            txn.compares,
            vec![
                Compare::unchanged(scope().cluster("prod"), 7),
                Compare::unchanged(scope().instance("prod", "i1"), 11)
            ]
        );
        assert_eq!(txn.ops.len(), 3, "the instance and two tasks");
    }

    #[test]
    fn nothing_fits_means_nothing_to_commit_and_every_instance_says_why() {
        let l = launch(web(), LaunchType::Ec2);
        let planned = plan_of(
            &l,
            vec![instance("i1", 100, 100, 1), instance("i2", 4096, 100, 1)],
            1,
        )
        .unwrap();
        let Planned::Nothing(failures) = planned else {
            panic!("placed: {planned:?}")
        };
        let reasons: Vec<_> = failures
            .iter()
            .filter_map(|f| f.reason.as_deref())
            .collect();
        assert_eq!(reasons, ["RESOURCE:CPU", "RESOURCE:MEMORY"]);
    }

    #[test]
    fn an_empty_fargate_pool_is_a_failure_and_an_empty_cluster_an_error() {
        let fargate = launch(
            json!({"family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                   "cpu": "256", "memory": "512",
                   "containerDefinitions": [{"name": "a", "image": "busybox"}]}),
            LaunchType::Fargate,
        );
        let Planned::Nothing(f) = plan_of(&fargate, vec![], 1).unwrap() else {
            panic!("placed on nothing")
        };
        assert_eq!(f[0].reason.as_deref(), Some("RESOURCE:FARGATE"));
        let e = plan_of(&launch(web(), LaunchType::Ec2), vec![], 1).unwrap_err();
        assert_eq!(
            e.message(),
            "No Container Instances were found in your cluster."
        );
    }

    #[test]
    fn a_missing_capability_is_named_in_the_failure() {
        let mut body = web();
        body["containerDefinitions"][0]["secrets"] = json!([{"name": "S", "valueFrom": "/param"}]);
        let l = launch(body, LaunchType::Ec2);
        let Planned::Nothing(f) = plan_of(&l, vec![instance("i1", 4096, 4096, 1)], 1).unwrap()
        else {
            panic!("placed without the capability")
        };
        assert_eq!(f[0].reason.as_deref(), Some("ATTRIBUTE"));
        assert!(f[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("ecs.capability.secrets.ssm.environment-variables"));
    }
}
