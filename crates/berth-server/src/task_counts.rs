//! Every cluster's running, pending and stopping task counts, and each of its
//! instances', in memory: a watch-fed index of the account's task records
//! ([`berth_store::cache::mirror`]), each read as a tally (launch type, last status,
//! instance) rather than a whole record. DescribeClusters and DescribeContainerInstances
//! answer from it instead of reading every task of the cluster, so their cost no longer
//! grows with the cluster's tasks (10,000 tasks made each call cost tens of
//! milliseconds).
//!
//! The counts are as of the last change the replica's watch delivered: a task change
//! shows in them within the watch's delay (milliseconds), the eventual consistency ECS
//! documents for its API. While the index lists afresh (at start, or after its watch
//! broke) it has no answer and callers count from the store. DeleteCluster, which must
//! not miss a task committed a moment ago, always counts from the store.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use berth_api::ecs::LaunchType;
use berth_model::cluster::ClusterStats;
use berth_model::container_instance::InstanceTaskCounts;
use berth_model::stored::TaskTally;
use berth_store::cache::{keep_mirrored, Mirror};
use berth_store::{KeyValue, Revision, Store};
use tokio::sync::watch;

/// The counts of one cluster's tasks.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ClusterTaskCounts {
    /// Running, pending and stopping tasks (its instance and service counts unset).
    pub cluster: ClusterStats,
    /// Running and pending tasks per container instance ARN.
    pub by_instance: HashMap<String, InstanceTaskCounts>,
}

impl ClusterTaskCounts {
    /// The counts of `tallies` (one cluster's tasks).
    pub fn of<'a>(tallies: impl IntoIterator<Item = &'a TaskTally>) -> ClusterTaskCounts {
        let mut counts = ClusterTaskCounts::default();
        for t in tallies {
            counts.add(t, 1);
        }
        counts
    }

    /// Counts `t` in (`sign` 1) or out (`sign` -1).
    fn add(&mut self, t: &TaskTally, sign: i32) {
        let s = &mut self.cluster;
        let fargate = t.launch_type == LaunchType::Fargate;
        let status = t.last_status;
        let (running, pending) = if fargate {
            (&mut s.running_fargate, &mut s.pending_fargate)
        } else {
            (&mut s.running_ec2, &mut s.pending_ec2)
        };
        if status.counts_as_running() {
            *running += sign;
        } else if status.counts_as_pending() {
            *pending += sign;
        } else if !status.is_stopped() {
            s.stopping += sign;
        }
        if !(status.counts_as_running() || status.counts_as_pending()) {
            return;
        }
        let instance = self
            .by_instance
            .entry(t.placement.instance_arn.clone())
            .or_default();
        if status.counts_as_running() {
            instance.running += sign;
        } else {
            instance.pending += sign;
        }
        if *instance == InstanceTaskCounts::default() {
            self.by_instance.remove(&t.placement.instance_arn);
        }
    }

    fn is_empty(&self) -> bool {
        self.cluster == ClusterStats::default() && self.by_instance.is_empty()
    }
}

#[derive(Default)]
struct Index {
    /// A listing has been applied whole since the last reset.
    complete: bool,
    /// Each task key's revision and tally (`None` when it cannot be read). A deleted
    /// key is dropped: [`berth_store::cache::mirror`] applies its listing whole before
    /// any watch event, and watch events in revision order, so no older value of a
    /// deleted key can come after its deletion.
    tasks: HashMap<String, (Revision, Option<TaskTally>)>,
    /// By cluster: the task prefix (`/ecs/ACCOUNT/REGION/tasks/CLUSTER/`).
    clusters: HashMap<String, ClusterTaskCounts>,
}

/// The task counts of every cluster of one account.
pub struct TaskCounts {
    index: RwLock<Index>,
}

impl TaskCounts {
    /// Starts mirroring the tasks under `prefix` of `store` (the account's ECS prefix)
    /// until `stop` turns true.
    pub fn start(store: Arc<dyn Store>, prefix: &str, stop: watch::Receiver<bool>) -> Arc<Self> {
        let counts = Arc::new(TaskCounts::empty());
        keep_mirrored(store, prefix.to_string(), Arc::downgrade(&counts), stop);
        counts
    }

    fn empty() -> TaskCounts {
        TaskCounts {
            index: RwLock::new(Index::default()),
        }
    }

    /// The counts of the cluster whose tasks live under `tasks_prefix`; `None` while a
    /// listing is in progress.
    pub fn of_cluster(&self, tasks_prefix: &str) -> Option<ClusterTaskCounts> {
        let index = self.index.read().expect("task counts lock");
        if !index.complete {
            return None;
        }
        Some(
            index
                .clusters
                .get(tasks_prefix)
                .cloned()
                .unwrap_or_default(),
        )
    }
}

/// The cluster part of a task key (`/ecs/ACCOUNT/REGION/tasks/CLUSTER/`).
fn cluster_prefix(task_key: &str) -> &str {
    task_key
        .rfind('/')
        .map_or(task_key, |end| &task_key[..=end])
}

impl Mirror for TaskCounts {
    fn reset(&self) {
        *self.index.write().expect("task counts lock") = Index::default();
    }

    fn apply(&self, key: String, revision: Revision, value: Option<KeyValue>) {
        if !crate::keys::is_task_key(&key) {
            return;
        }
        let deleted = value.is_none();
        // A record that cannot be tallied is not counted (DescribeTasks reports it).
        let tally = value.and_then(|kv| berth_model::stored::tally(&kv.value).ok());
        let mut index = self.index.write().expect("task counts lock");
        let Index {
            tasks, clusters, ..
        } = &mut *index;
        let previous = match tasks.get(&key) {
            Some((held, _)) if *held >= revision => return,
            Some((_, previous)) => previous.clone(),
            None => None,
        };
        let cluster = cluster_prefix(&key);
        let counts = clusters.entry(cluster.to_string()).or_default();
        if let Some(old) = &previous {
            counts.add(old, -1);
        }
        if let Some(new) = &tally {
            counts.add(new, 1);
        }
        if counts.is_empty() {
            clusters.remove(cluster);
        }
        if deleted {
            tasks.remove(&key);
        } else {
            tasks.insert(key, (revision, tally));
        }
    }

    fn seen(&self, _revision: Revision) {
        // Called once a listing is applied whole, and after each event since.
        if !self.index.read().expect("task counts lock").complete {
            self.index.write().expect("task counts lock").complete = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{EcsKeys, Scope};
    use berth_model::fixtures::task_record;
    use berth_model::status::TaskStatus;
    use berth_model::task::TaskRecord;

    fn kv(key: &str, t: &TaskRecord, revision: Revision) -> Option<KeyValue> {
        Some(KeyValue {
            key: key.into(),
            value: crate::records::Stored::encode(t).into(),
            create_revision: revision,
            mod_revision: revision,
        })
    }

    fn task(instance: &str, status: TaskStatus, launch: LaunchType) -> TaskRecord {
        let mut t = task_record();
        t.placement.instance_arn = instance.into();
        t.last_status = status;
        t.launch_type = launch;
        t
    }

    #[test]
    fn counts_follow_each_task_through_its_changes() {
        let scope = Scope::new("000000000000", "us-east-1");
        let (k1, k2, k3) = (
            scope.task("web", "1"),
            scope.task("web", "2"),
            scope.task("other", "3"),
        );
        let counts = TaskCounts::empty();
        counts.apply(
            k1.clone(),
            2,
            kv(&k1, &task("a", TaskStatus::Pending, LaunchType::Ec2), 2),
        );
        counts.apply(
            k2.clone(),
            3,
            kv(&k2, &task("b", TaskStatus::Running, LaunchType::Fargate), 3),
        );
        counts.apply(
            k3.clone(),
            4,
            kv(&k3, &task("a", TaskStatus::Running, LaunchType::Ec2), 4),
        );
        assert!(
            counts.of_cluster(&scope.tasks("web")).is_none(),
            "no answer before a whole listing"
        );
        counts.seen(4);
        let web = counts.of_cluster(&scope.tasks("web")).unwrap();
        assert_eq!(
            (
                web.cluster.pending_ec2,
                web.cluster.running_fargate,
                web.cluster.running_ec2
            ),
            (1, 1, 0)
        );
        assert_eq!(
            web.by_instance["a"],
            InstanceTaskCounts {
                running: 0,
                pending: 1
            }
        );
        assert_eq!(
            web.by_instance["b"],
            InstanceTaskCounts {
                running: 1,
                pending: 0
            }
        );
        assert_eq!(
            counts
                .of_cluster(&scope.tasks("other"))
                .unwrap()
                .cluster
                .running_ec2,
            1
        );

        // Pending to running, running to stopping, then stopped, then purged.
        for (revision, status) in [
            (5, TaskStatus::Running),
            (6, TaskStatus::Deprovisioning),
            (7, TaskStatus::Stopped),
        ] {
            counts.apply(
                k1.clone(),
                revision,
                kv(&k1, &task("a", status, LaunchType::Ec2), revision),
            );
        }
        let web = counts.of_cluster(&scope.tasks("web")).unwrap();
        assert_eq!(
            (
                web.cluster.pending_ec2,
                web.cluster.running_ec2,
                web.cluster.stopping
            ),
            (0, 0, 0)
        );
        assert!(!web.by_instance.contains_key("a"));
        // An older event (a listing page that raced the watch) changes nothing.
        counts.apply(
            k1.clone(),
            5,
            kv(&k1, &task("a", TaskStatus::Running, LaunchType::Ec2), 5),
        );
        assert_eq!(
            counts
                .of_cluster(&scope.tasks("web"))
                .unwrap()
                .cluster
                .running_ec2,
            0
        );
        counts.apply(k2.clone(), 8, None);
        assert_eq!(
            counts.of_cluster(&scope.tasks("web")).unwrap(),
            ClusterTaskCounts::default()
        );

        // Other records under the prefix are passed over.
        let instance = scope.instance("web", "a");
        counts.apply(
            instance.clone(),
            9,
            kv(
                &instance,
                &task("a", TaskStatus::Running, LaunchType::Ec2),
                9,
            ),
        );
        assert_eq!(
            counts.of_cluster(&scope.tasks("web")).unwrap(),
            ClusterTaskCounts::default()
        );

        // A relist starts over and answers nothing until it is whole.
        counts.reset();
        assert!(counts.of_cluster(&scope.tasks("other")).is_none());
    }

    #[test]
    fn the_index_counts_what_a_full_count_counts() {
        // Every status, both launch types, two instances: the incremental counts equal
        // a count of the final tallies from scratch.
        let scope = Scope::new("000000000000", "us-east-1");
        let counts = TaskCounts::empty();
        let mut last = HashMap::new();
        let mut revision = 1;
        for round in 0..3 {
            for i in 0..TaskStatus::ALL.len() {
                let key = scope.task("c", &i.to_string());
                let launch = if (i + round) % 2 == 0 {
                    LaunchType::Ec2
                } else {
                    LaunchType::Fargate
                };
                let status = TaskStatus::ALL[(i + round * 3) % TaskStatus::ALL.len()];
                let t = task(if i % 3 == 0 { "a" } else { "b" }, status, launch);
                revision += 1;
                counts.apply(key.clone(), revision, kv(&key, &t, revision));
                let stored = crate::records::Stored::encode(&t);
                last.insert(key, berth_model::stored::tally(&stored).unwrap());
            }
        }
        counts.seen(revision);
        assert_eq!(
            counts.of_cluster(&scope.tasks("c")).unwrap(),
            ClusterTaskCounts::of(last.values())
        );
    }
}
