//! A service's tasks in its load balancers' target groups, through berth-lb's
//! in-process API: each RUNNING task is registered (its ENI address and container port
//! for `ip` target groups, its instance and host port for `instance` ones), its target
//! health decides whether the rollout counts it healthy, and a task leaving the service
//! is deregistered and drains before it is stopped.

use std::collections::{HashMap, HashSet};

use berth_api::ecs::{LoadBalancer, Timestamp};
use berth_lb::health_state::TargetHealthState;
use berth_lb::model::TargetType;
use berth_lb::targets::{self, TargetDescription};
use berth_model::container_instance::InstanceRecord;
use berth_model::task::TaskRecord;
use berth_store::Store;

/// A target in one target group: the group's ARN, the target's id and port.
pub type TargetKey = (String, String, u16);

/// Where one task stands in all of its service's target groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskInTargets {
    /// Healthy in every target group.
    pub healthy: bool,
    /// Unhealthy in some target group.
    pub unhealthy: bool,
    /// Registered (or still draining) somewhere: not yet safe to stop.
    pub attached: bool,
    /// Draining somewhere.
    pub draining: bool,
}

/// One target group's view for a pass.
struct Group {
    arn: String,
    container_name: String,
    container_port: u16,
    target_type: TargetType,
    states: HashMap<(String, u16), TargetHealthState>,
}

/// The target groups of a service and their targets' states, read once per pass.
pub struct Targets {
    groups: Vec<Group>,
}

/// The target a task is in `lb`'s target group as: its ENI address for `ip` groups, its
/// instance (as an EC2-style instance id) and host port for `instance` groups.
fn target_of(
    t: &TaskRecord,
    container_name: &str,
    container_port: u16,
    target_type: TargetType,
    instances: &HashMap<String, InstanceRecord>,
) -> Option<TargetDescription> {
    match target_type {
        TargetType::Ip => {
            let ip = t.eni.as_ref()?.private_ipv4_address.clone()?;
            Some(TargetDescription::new(ip, container_port))
        }
        TargetType::Instance => {
            let container = t.containers.iter().find(|c| c.name == container_name)?;
            let host_port = container
                .network_bindings
                .iter()
                .find(|b| b.container_port == Some(i32::from(container_port)))
                .and_then(|b| b.host_port)
                .and_then(|p| u16::try_from(p).ok())?;
            let instance = instances.get(&t.placement.instance_arn)?;
            Some(TargetDescription::new(
                instance_target_id(instance),
                host_port,
            ))
        }
        _ => None,
    }
}

/// A container instance as an ELB `instance` target: its EC2 instance id when its agent
/// reported one, else `i-` and the first 17 hex digits of its id.
pub fn instance_target_id(instance: &InstanceRecord) -> String {
    instance
        .ec2_instance_id
        .clone()
        .filter(|id| id.starts_with("i-"))
        .unwrap_or_else(|| format!("i-{}", &instance.id[..instance.id.len().min(17)]))
}

impl Targets {
    /// Reads the state of every target group `load_balancers` name.
    pub async fn load(
        store: &dyn Store,
        load_balancers: &[LoadBalancer],
    ) -> Result<Targets, String> {
        let mut groups = Vec::new();
        for lb in load_balancers {
            let (Some(arn), Some(name), Some(port)) =
                (&lb.target_group_arn, &lb.container_name, lb.container_port)
            else {
                continue;
            };
            let info = targets::target_group(store, arn)
                .await
                .map_err(|e| format!("target group {arn}: {e}"))?;
            let states = targets::describe_target_health(store, arn, None)
                .await
                .map_err(|e| format!("target group {arn}: {e}"))?
                .into_iter()
                .map(|d| {
                    let port = d.target.port.unwrap_or(info.port);
                    ((d.target.id, port), d.health.state)
                })
                .collect();
            groups.push(Group {
                arn: arn.clone(),
                container_name: name.clone(),
                container_port: u16::try_from(port).unwrap_or(0),
                target_type: info.target_type,
                states,
            });
        }
        Ok(Targets { groups })
    }

    /// Where `t` stands in every group.
    pub fn of(&self, t: &TaskRecord, instances: &HashMap<String, InstanceRecord>) -> TaskInTargets {
        let mut seen = TaskInTargets {
            healthy: true,
            ..Default::default()
        };
        for g in &self.groups {
            let state = target_of(
                t,
                &g.container_name,
                g.container_port,
                g.target_type,
                instances,
            )
            .and_then(|d| g.states.get(&(d.id, d.port.unwrap_or(0))).copied());
            match state {
                Some(TargetHealthState::Healthy) => seen.attached = true,
                Some(TargetHealthState::Unhealthy) => {
                    seen.attached = true;
                    seen.unhealthy = true;
                    seen.healthy = false;
                }
                Some(TargetHealthState::Draining | TargetHealthState::UnhealthyDraining) => {
                    seen.draining = true;
                    seen.attached = true;
                    seen.healthy = false;
                }
                Some(TargetHealthState::Unused) | None => seen.healthy = false,
                Some(_) => {
                    seen.attached = true;
                    seen.healthy = false;
                }
            }
        }
        seen
    }

    /// Each group with the target `t` is in it as, and that target's state there.
    fn targets_of<'a>(
        &'a self,
        t: &'a TaskRecord,
        instances: &'a HashMap<String, InstanceRecord>,
    ) -> impl Iterator<Item = (&'a Group, TargetDescription, Option<TargetHealthState>)> + 'a {
        self.groups.iter().filter_map(move |g| {
            let d = target_of(
                t,
                &g.container_name,
                g.container_port,
                g.target_type,
                instances,
            )?;
            let state = g.states.get(&(d.id.clone(), d.port.unwrap_or(0))).copied();
            Some((g, d, state))
        })
    }

    /// Registers `t` in every group it is not in yet; returns the groups it joined.
    pub async fn register(
        &self,
        store: &dyn Store,
        t: &TaskRecord,
        instances: &HashMap<String, InstanceRecord>,
    ) -> Result<Vec<String>, String> {
        let mut joined = Vec::new();
        for (g, d, state) in self.targets_of(t, instances) {
            if matches!(state, None | Some(TargetHealthState::Unused)) {
                targets::register_targets(store, &g.arn, &[d])
                    .await
                    .map_err(|e| format!("registering in {}: {e}", g.arn))?;
                joined.push(g.arn.clone());
            }
        }
        Ok(joined)
    }

    /// The targets `t` is (or would be) in each group.
    pub fn keys_of<'a>(
        &'a self,
        t: &'a TaskRecord,
        instances: &'a HashMap<String, InstanceRecord>,
    ) -> impl Iterator<Item = TargetKey> + 'a {
        self.targets_of(t, instances)
            .map(|(g, d, _)| (g.arn.clone(), d.id.clone(), d.port.unwrap_or(0)))
    }

    /// The registrations of `t` to end: each group it is registered in (and not
    /// draining from already) under a target that no key in `claimed` names. A STOPPED
    /// task has given its address (or host port) up, and a newer task may be
    /// registered under it by now: that registration is not the stopped task's.
    fn to_deregister<'a>(
        &'a self,
        t: &'a TaskRecord,
        instances: &'a HashMap<String, InstanceRecord>,
        claimed: &'a HashSet<TargetKey>,
    ) -> impl Iterator<Item = (&'a Group, TargetDescription)> + 'a {
        self.targets_of(t, instances)
            .filter(move |(g, d, state)| {
                let registered = state.is_some_and(|s| {
                    !matches!(
                        s,
                        TargetHealthState::Unused
                            | TargetHealthState::Draining
                            | TargetHealthState::UnhealthyDraining
                    )
                });
                let key = (g.arn.clone(), d.id.clone(), d.port.unwrap_or(0));
                registered && !claimed.contains(&key)
            })
            .map(|(g, d, _)| (g, d))
    }

    /// Deregisters `t` from every group it is registered in (it drains there), except
    /// under the targets `claimed` names (held by other tasks).
    pub async fn deregister(
        &self,
        store: &dyn Store,
        t: &TaskRecord,
        instances: &HashMap<String, InstanceRecord>,
        claimed: &HashSet<TargetKey>,
    ) -> Result<(), String> {
        for (g, d) in self.to_deregister(t, instances, claimed) {
            targets::deregister_targets(store, &g.arn, &[d])
                .await
                .map_err(|e| format!("deregistering from {}: {e}", g.arn))?;
        }
        Ok(())
    }
}

/// Whether a task started at `started_at` is still in its health check grace period.
pub fn in_grace(started_at: Option<Timestamp>, grace_seconds: u32, now: Timestamp) -> bool {
    started_at.is_none_or(|at| now.as_secs_f64() - at.as_secs_f64() < f64::from(grace_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::status::{DesiredStatus, TaskStatus};
    use berth_model::task::TaskEni;

    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1";

    fn task_at(ip: &str, last: TaskStatus, desired: DesiredStatus) -> TaskRecord {
        let mut t = berth_model::fixtures::task_record();
        t.last_status = last;
        t.desired_status = desired;
        t.eni = Some(TaskEni {
            attachment_id: "a".into(),
            eni_id: "eni-1".into(),
            subnet_id: "subnet-1".into(),
            mac_address: "02:00:00:00:00:01".into(),
            private_ipv4_address: Some(ip.into()),
        });
        t
    }

    fn group_with(ip: &str, state: TargetHealthState) -> Targets {
        Targets {
            groups: vec![Group {
                arn: TG.into(),
                container_name: "web".into(),
                container_port: 80,
                target_type: TargetType::Ip,
                states: HashMap::from([((ip.to_string(), 80), state)]),
            }],
        }
    }

    #[test]
    fn a_stopped_task_leaves_alone_the_registration_of_a_task_that_took_its_address() {
        let instances = HashMap::new();
        // The address 10.0.0.2 was a stopped task's; a new task has it now, registered.
        let targets = group_with("10.0.0.2", TargetHealthState::Healthy);
        let old = task_at("10.0.0.2", TaskStatus::Stopped, DesiredStatus::Stopped);
        let new = task_at("10.0.0.2", TaskStatus::Running, DesiredStatus::Running);
        let claimed: HashSet<TargetKey> = targets.keys_of(&new, &instances).collect();
        assert_eq!(
            claimed,
            HashSet::from([(TG.to_string(), "10.0.0.2".to_string(), 80)])
        );
        assert_eq!(targets.to_deregister(&old, &instances, &claimed).count(), 0);

        // Nobody else holds it: the stopped task's own registration ends.
        let unclaimed = HashSet::new();
        let gone: Vec<_> = targets
            .to_deregister(&old, &instances, &unclaimed)
            .map(|(g, d)| (g.arn.clone(), d.id, d.port))
            .collect();
        assert_eq!(
            gone,
            vec![(TG.to_string(), "10.0.0.2".to_string(), Some(80))]
        );

        // Already draining, or not there: nothing to do.
        let draining = group_with("10.0.0.2", TargetHealthState::Draining);
        assert_eq!(
            draining.to_deregister(&old, &instances, &unclaimed).count(),
            0
        );
        let elsewhere = group_with("10.0.0.3", TargetHealthState::Healthy);
        assert_eq!(
            elsewhere
                .to_deregister(&old, &instances, &unclaimed)
                .count(),
            0
        );
    }
}
