//! Lost hosts: a container instance whose agent has sent no heartbeat for
//! [`AGENT_TIMEOUT_SECS`] (the same moment its `agentConnected` turns false) is lost.
//! Its tasks that still hold resources are marked STOPPED (stop code
//! `TerminationNotice`, a reason naming the host and the silence), their reservations go
//! back to the instance in the same transaction, and the instance is marked lost so later
//! passes pass it by. Nothing else is needed for the rest: the service controller sees
//! its tasks stopped, deregisters them from their target groups and places replacements
//! on connected instances; RunTask tasks are not restarted, as in ECS.
//!
//! A host that comes back heartbeats again, which clears the mark; its agent finds the
//! stopped tasks gone from its assignments and removes their containers as orphans.
//!
//! Run by the leader, as a [`Sweep`] every second. A new leader (or a restarted server)
//! gives every host a full timeout from the start of its term before calling it lost, as
//! Nomad resets its heartbeat timers on a leader election: hosts cannot have heartbeated
//! to a control plane that was not there.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::ecs::{TaskStopCode, Timestamp};
use berth_api::error::ApiError;
use berth_model::container_instance::{InstanceRecord, AGENT_TIMEOUT_SECS};
use berth_model::task::TaskRecord;
use berth_store::{Compare, Txn};

use crate::context::Core;
use crate::controller::Sweep;
use crate::keys::EcsKeys;
use crate::records::{self, put, Record, Step};

/// How often the leader looks for lost hosts.
pub const PASS_INTERVAL: Duration = Duration::from_secs(1);
/// Tasks stopped per transaction, well inside etcd's 128 operations.
const TASKS_PER_TXN: usize = 50;

/// The lost-host sweep of one leadership term.
pub struct LostHosts {
    core: Arc<Core>,
    /// When the term began: no host is lost before a full timeout from here.
    since: Timestamp,
}

impl LostHosts {
    pub fn new(core: Arc<Core>) -> Self {
        let since = core.clock.now();
        LostHosts { core, since }
    }
}

#[async_trait]
impl Sweep for LostHosts {
    fn name(&self) -> &'static str {
        "lost-hosts"
    }
    fn interval(&self) -> Duration {
        PASS_INTERVAL
    }
    async fn pass(&self) -> Result<(), ApiError> {
        pass(&self.core, self.since, self.core.clock.now())
            .await
            .map(|_| ())
    }
}

/// Whether an instance last heard from at `heard` counts as lost at `now` for a term
/// that began at `since`.
pub fn is_lost(
    instance: &InstanceRecord,
    heard: Option<Timestamp>,
    since: Timestamp,
    now: Timestamp,
) -> bool {
    let heard = heard
        .unwrap_or(instance.registered_at)
        .as_secs_f64()
        .max(since.as_secs_f64());
    instance.lost_at.is_none() && now.as_secs_f64() - heard > AGENT_TIMEOUT_SECS
}

/// One pass as of `now`: every newly lost instance's tasks are stopped. Returns how many
/// tasks it stopped.
pub async fn pass(core: &Core, since: Timestamp, now: Timestamp) -> Result<usize, ApiError> {
    // Silence is judged from the heartbeats as stored, never from a mirror that lags.
    let beats = core.liveness.read_all().await?;
    let scope = core.home_scope();
    let store = &*core.store;
    let mut instances: Vec<Record<InstanceRecord>> =
        records::list(store, &format!("{}/instances/", scope.base())).await?;
    instances.extend(records::list(store, &scope.fargate_pool()).await?);
    let mut stopped = 0;
    for inst in instances {
        if is_lost(
            &inst.value,
            inst.value.heard(beats.get(&inst.value.id).copied()),
            since,
            now,
        ) {
            stopped += give_up(core, &inst.key, since, now).await?;
        }
    }
    Ok(stopped)
}

/// Stops the tasks of the lost instance at `key`, a batch per transaction, then marks it
/// lost. Each transaction compares the instance, so a heartbeat that arrives meanwhile
/// (or a placement, which cannot happen on a disconnected instance anyway) makes it read
/// again, and a host that is back is left alone.
async fn give_up(
    core: &Core,
    key: &str,
    since: Timestamp,
    now: Timestamp,
) -> Result<usize, ApiError> {
    let scope = &core.home_scope();
    let store = &*core.store;
    let mut stopped = 0;
    loop {
        let batch = records::update(store, "The lost container instance", || async move {
            let Some(inst) = records::get::<InstanceRecord>(store, key).await? else {
                return Ok(Step::Done(None));
            };
            // Heard from again since the pass read the heartbeats: left alone.
            let beat = core.liveness.read(&inst.value.id).await?;
            if !is_lost(&inst.value, inst.value.heard(beat), since, now) {
                return Ok(Step::Done(None));
            }
            let tasks: Vec<Record<TaskRecord>> = if inst.value.fargate_pool {
                crate::launch::tasks_of_account(store, &scope.account).await?
            } else {
                records::list(store, &scope.tasks(&inst.value.cluster)).await?
            };
            let held: Vec<&Record<TaskRecord>> = tasks
                .iter()
                .filter(|t| {
                    t.value.placement.instance_arn == inst.value.arn && t.value.holds_resources()
                })
                .collect();
            let mut updated = inst.value.clone();
            let mut txn = Txn::new().when(Compare::unchanged(key, inst.revision));
            // The same host's other registration shares the CPU and memory given back.
            let mut twin = match &inst.value.twin {
                Some(k) => records::get::<InstanceRecord>(store, k).await?,
                None => None,
            };
            let reason = format!(
                "Host lost: the agent of container instance {} sent no heartbeat for {} seconds.",
                inst.value.id, AGENT_TIMEOUT_SECS
            );
            for t in held.iter().take(TASKS_PER_TXN) {
                let mut task = t.value.clone();
                task.force_stopped(TaskStopCode::TerminationNotice, &reason, now);
                updated
                    .remaining
                    .give_back(&task.reserved, &inst.value.registered);
                if let Some(t) = &mut twin {
                    let registered = t.value.registered.clone();
                    t.value
                        .remaining
                        .give_back(&task.reserved.compute(), &registered);
                }
                txn = txn
                    .when(Compare::unchanged(&t.key, t.revision))
                    .then(put(&t.key, &task));
            }
            let count = held.len().min(TASKS_PER_TXN);
            let last = held.len() <= TASKS_PER_TXN;
            if last {
                updated.lost_at = Some(now);
                tracing::warn!(instance = %inst.value.arn, tasks = stopped + count, "host lost: its tasks are stopped");
            }
            updated.version += 1;
            txn = txn.then(put(key, &updated));
            if let Some(mut t) = twin {
                t.value.version += 1;
                txn = txn
                    .when(Compare::unchanged(&t.key, t.revision))
                    .then(put(&t.key, &t.value));
            }
            Ok(Step::Commit(txn, Some((count, last))))
        })
        .await?;
        match batch {
            Some((count, last)) => {
                stopped += count;
                if last {
                    return Ok(stopped);
                }
            }
            None => return Ok(stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::ecs::ContainerInstanceStatus;

    fn at(secs: f64) -> Timestamp {
        Timestamp::try_from_secs_f64(secs).unwrap()
    }

    fn instance(last_heartbeat: Option<f64>) -> InstanceRecord {
        InstanceRecord {
            id: "i".into(),
            arn: "arn:aws:ecs:us-east-1:000000000000:container-instance/c/i".into(),
            cluster: "c".into(),
            ec2_instance_id: None,
            status: ContainerInstanceStatus::Active,
            registered: Default::default(),
            remaining: Default::default(),
            attributes: Default::default(),
            version_info: None,
            registered_at: at(1000.0),
            last_heartbeat: last_heartbeat.map(at),
            tags: Default::default(),
            version: 1,
            fargate_pool: false,
            lost_at: None,
            twin: None,
        }
    }

    #[test]
    fn lost_once_silent_for_longer_than_the_timeout() {
        let since = at(0.0);
        let i = instance(None);
        let heard = Some(at(2000.0));
        assert!(!is_lost(&i, heard, since, at(2000.0 + AGENT_TIMEOUT_SECS)));
        assert!(is_lost(
            &i,
            heard,
            since,
            at(2000.0 + AGENT_TIMEOUT_SECS + 0.5)
        ));
    }

    #[test]
    fn a_new_term_gives_every_host_a_full_timeout() {
        // Silent for an hour, but the leader only started at 5000.
        let i = instance(None);
        let heard = Some(at(1400.0));
        let since = at(5000.0);
        assert!(!is_lost(
            &i,
            heard,
            since,
            at(5000.0 + AGENT_TIMEOUT_SECS - 1.0)
        ));
        assert!(is_lost(
            &i,
            heard,
            since,
            at(5000.0 + AGENT_TIMEOUT_SECS + 1.0)
        ));
    }

    #[test]
    fn a_host_never_heard_from_counts_from_its_registration_and_is_given_up_once() {
        let mut i = instance(None);
        let since = at(0.0);
        assert!(is_lost(
            &i,
            None,
            since,
            at(1000.0 + AGENT_TIMEOUT_SECS + 1.0)
        ));
        i.lost_at = Some(at(1011.0));
        assert!(!is_lost(&i, None, since, at(9000.0)), "already given up on");
    }
}
