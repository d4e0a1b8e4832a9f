//! Every container instance's assigned tasks, in memory: a watch-fed index of the
//! server's task records ([`berth_store::cache::mirror`]) by the instance they are placed
//! on, so an agent's assignments read the few tasks of its own instance (by key, from the
//! store) instead of scanning every task of its cluster (or, for a Fargate pool member,
//! of the account), and a long poll wakes only for a change to its own instance's tasks.
//! The index holds keys, not records: 150,000 tasks cost megabytes, not a copy of each.
//!
//! Each replica keeps its own, from the store's watch: a task placed through any replica
//! wakes its agent's long poll wherever that poll waits. A read is answered only from a
//! complete index: while the mirror lists afresh (at start, or after its watch broke) an
//! agent would otherwise be told that tasks it runs are not its own, and stop them. A
//! task committed just before a read and not yet mirrored wakes the agent's next long
//! poll, whose revision is the index's.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use berth_model::task::TaskRecord;
use berth_store::cache::{keep_mirrored, Mirror};
use berth_store::{KeyValue, Revision, Store};
use tokio::sync::{watch, Notify};

use crate::records::Stored;

/// How long a read waits for a listing in progress to complete before it gives up.
const COMPLETE_WITHIN: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Instance {
    /// The store keys of its tasks that are not stopped.
    tasks: BTreeSet<String>,
    /// The revision of the last change to its tasks (placed, changed, stopped, gone).
    changed: Revision,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct Index {
    /// A listing has been applied whole since the last reset.
    complete: bool,
    /// The revision of the last whole listing after a reset: a listing may have missed
    /// deletions, so it counts as a change to every instance.
    relisted_at: Revision,
    /// Each task key's revision, and the instance it is indexed under (if unstopped).
    keys: HashMap<String, (Revision, Option<String>)>,
    by_instance: HashMap<String, Instance>,
}

/// The assigned tasks of every container instance of one account.
pub struct AssignmentIndex {
    index: RwLock<Index>,
    seen: watch::Sender<Revision>,
}

impl AssignmentIndex {
    /// Starts mirroring the tasks under `prefix` of `store` until `stop` turns true: the
    /// account's ECS prefix, whose task keys of every region it indexes (a Fargate pool
    /// member runs tasks of clusters in any region); other records are passed over.
    pub fn start(
        store: Arc<dyn Store>,
        prefix: &str,
        stop: watch::Receiver<bool>,
    ) -> Arc<AssignmentIndex> {
        let index = Arc::new(AssignmentIndex {
            index: RwLock::new(Index::default()),
            seen: watch::channel(0).0,
        });
        keep_mirrored(store, prefix.to_string(), Arc::downgrade(&index), stop);
        index
    }

    /// Waits until a task of `instance_arn` changes after revision `after`, or `wait`
    /// passes.
    pub async fn wait_for_change(&self, instance_arn: &str, after: Revision, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notify = {
                let mut index = self.index.write().expect("index lock");
                let relisted_at = index.relisted_at;
                let entry = index
                    .by_instance
                    .entry(instance_arn.to_string())
                    .or_default();
                if entry.changed.max(relisted_at) > after {
                    return;
                }
                entry.notify.clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // A change applied between the check and enabling the waiter is seen here.
            if self.changed(instance_arn) > after {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// The revision of the last change to `instance_arn`'s tasks (a relisting counts).
    pub fn changed(&self, instance_arn: &str) -> Revision {
        let index = self.index.read().expect("index lock");
        index
            .by_instance
            .get(instance_arn)
            .map_or(0, |i| i.changed)
            .max(index.relisted_at)
    }

    /// The store keys of the tasks assigned to `instance_arn`, and the revision they are
    /// as of; `None` while a listing is in progress.
    pub fn assigned(&self, instance_arn: &str) -> Option<(Revision, Vec<String>)> {
        let index = self.index.read().expect("index lock");
        if !index.complete {
            return None;
        }
        let revision = *self.seen.borrow();
        let tasks = index
            .by_instance
            .get(instance_arn)
            .map(|i| i.tasks.iter().cloned().collect())
            .unwrap_or_default();
        Some((revision, tasks))
    }

    /// [`Self::assigned`], waiting up to [`COMPLETE_WITHIN`] for a listing in progress.
    pub async fn assigned_when_complete(
        &self,
        instance_arn: &str,
    ) -> Option<(Revision, Vec<String>)> {
        let mut seen = self.seen.subscribe();
        let deadline = tokio::time::Instant::now() + COMPLETE_WITHIN;
        loop {
            if let Some(answer) = self.assigned(instance_arn) {
                return Some(answer);
            }
            if tokio::time::timeout_at(deadline, seen.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

impl Mirror for AssignmentIndex {
    fn reset(&self) {
        let mut index = self.index.write().expect("index lock");
        // Waiters keep their instance's notify: a relist wakes them all, as anything
        // may have changed.
        index.keys.clear();
        index.complete = false;
        for instance in index.by_instance.values_mut() {
            instance.tasks.clear();
            instance.notify.notify_waiters();
        }
        self.seen.send_replace(0);
    }

    fn apply(&self, key: String, revision: Revision, value: Option<KeyValue>) {
        if !crate::keys::is_task_key(&key) {
            return;
        }
        let task = value.and_then(|kv| TaskRecord::decode(&kv.value).ok());
        let mut index = self.index.write().expect("index lock");
        let previous = match index.keys.get(&key) {
            Some((held, _)) if *held >= revision => return,
            Some((_, instance)) => instance.clone(),
            None => None,
        };
        let placed_on = task
            .as_ref()
            .filter(|t| !t.last_status.is_stopped())
            .map(|t| t.placement.instance_arn.clone());
        index
            .keys
            .insert(key.clone(), (revision, placed_on.clone()));
        if let Some(old) = previous.filter(|old| Some(old) != placed_on.as_ref()) {
            if let Some(i) = index.by_instance.get_mut(&old) {
                i.tasks.remove(&key);
                i.changed = revision;
                i.notify.notify_waiters();
            }
        }
        let stopped_on = task
            .as_ref()
            .filter(|t| t.last_status.is_stopped())
            .map(|t| t.placement.instance_arn.clone());
        if let Some(arn) = &placed_on {
            let i = index.by_instance.entry(arn.clone()).or_default();
            i.tasks.insert(key);
            i.changed = revision;
            i.notify.notify_waiters();
        } else if let Some(arn) = stopped_on {
            // Stopped: its instance's agent learns it left the assignments.
            let i = index.by_instance.entry(arn).or_default();
            i.changed = revision;
            i.notify.notify_waiters();
        }
    }

    fn seen(&self, revision: Revision) {
        // Called once a listing is applied whole, and after each event since.
        let mut index = self.index.write().expect("index lock");
        if !index.complete {
            index.complete = true;
            index.relisted_at = revision;
        }
        drop(index);
        self.seen.send_if_modified(|seen| {
            let newer = revision > *seen;
            if newer {
                *seen = revision;
            }
            newer
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::EcsKeys;
    use berth_model::fixtures::task_record;
    use berth_model::status::TaskStatus;

    fn index() -> AssignmentIndex {
        AssignmentIndex {
            index: RwLock::new(Index::default()),
            seen: watch::channel(0).0,
        }
    }

    fn kv(key: &str, t: &TaskRecord, revision: Revision) -> Option<KeyValue> {
        Some(KeyValue {
            key: key.into(),
            value: t.encode().into(),
            create_revision: revision,
            mod_revision: revision,
        })
    }

    /// A task's key: `k1` in us-east-1, the others in other regions, as a Fargate pool
    /// member's tasks may be.
    fn key(name: &str) -> String {
        let region = if name == "k1" {
            "us-east-1"
        } else {
            "ca-central-1"
        };
        crate::keys::Scope::new("000000000000", region).task("c", name)
    }

    fn on(instance: &str) -> TaskRecord {
        let mut t = task_record();
        t.placement.instance_arn = instance.into();
        t
    }

    #[tokio::test]
    async fn tasks_are_found_under_their_instance_until_they_stop_or_move() {
        let index = index();
        index.apply(key("k1"), 5, kv(&key("k1"), &on("a"), 5));
        index.apply(key("k2"), 6, kv(&key("k2"), &on("b"), 6));
        assert!(
            index.assigned("a").is_none(),
            "no answer before a whole listing"
        );
        index.seen(6);
        assert_eq!(index.assigned("a").unwrap().1.len(), 1);
        assert_eq!(index.assigned("b").unwrap().1.len(), 1);
        assert_eq!(index.assigned("a").unwrap().0, 6);

        // An older event (a listing page that raced the watch) changes nothing.
        index.apply(key("k1"), 4, kv(&key("k1"), &on("b"), 4));
        assert_eq!(index.assigned("a").unwrap().1.len(), 1);

        // Stopped: gone from the instance, which is marked changed.
        let mut stopped = on("a");
        stopped.last_status = TaskStatus::Stopped;
        index.apply(key("k1"), 7, kv(&key("k1"), &stopped, 7));
        assert!(index.assigned("a").unwrap().1.is_empty());
        assert_eq!(index.changed("a"), 7);
        // Deleted (purged): gone too.
        index.apply(key("k2"), 8, None);
        assert!(index.assigned("b").unwrap().1.is_empty());
        assert_eq!(index.changed("b"), 8);

        // A relist (the watch broke): no answer until the new listing is whole, so an
        // agent is never told that a task it runs is not its own.
        index.reset();
        index.apply(key("k3"), 9, kv(&key("k3"), &on("a"), 9));
        assert!(index.assigned("a").is_none());
        index.seen(9);
        assert_eq!(index.assigned("a").unwrap().1.len(), 1);

        // Other records under the account's prefix are passed over.
        let instance = crate::keys::Scope::new("000000000000", "us-east-1").instance("c", "a");
        index.apply(instance.clone(), 10, kv(&instance, &on("a"), 10));
        assert_eq!(index.assigned("a").unwrap().1.len(), 1);
        assert_eq!(index.changed("a"), 9);
    }

    #[tokio::test]
    async fn a_long_poll_wakes_for_its_own_instance_only() {
        let index = index();
        let index = Arc::new(index);
        let waiter = {
            let index = index.clone();
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                index.wait_for_change("a", 0, Duration::from_secs(10)).await;
                started.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        index.apply(key("k9"), 3, kv(&key("k9"), &on("b"), 3));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !waiter.is_finished(),
            "another instance's task does not wake it"
        );
        index.apply(key("k1"), 4, kv(&key("k1"), &on("a"), 4));
        let took = waiter.await.unwrap();
        assert!(took < Duration::from_secs(5), "{took:?}");
        // Already past: answers at once.
        let started = tokio::time::Instant::now();
        index.wait_for_change("a", 3, Duration::from_secs(10)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
