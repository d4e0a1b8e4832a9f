//! A service's tasks in its load balancers' target groups, through berth-lb's
//! in-process API: each RUNNING task is registered (its ENI address and container port
//! for `ip` target groups, its instance and host port for `instance` ones), its target
//! health decides whether the rollout counts it healthy, and a task leaving the service
//! is deregistered and drains before it is stopped.

use std::collections::HashMap;

use berth_api::ecs::{LoadBalancer, Timestamp};
use berth_lb::health_state::TargetHealthState;
use berth_lb::model::TargetType;
use berth_lb::targets::{self, TargetDescription};
use berth_model::container_instance::InstanceRecord;
use berth_model::task::TaskRecord;
use berth_store::Store;

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

    /// Deregisters `t` from every group it is registered in (it drains there).
    pub async fn deregister(
        &self,
        store: &dyn Store,
        t: &TaskRecord,
        instances: &HashMap<String, InstanceRecord>,
    ) -> Result<(), String> {
        for (g, d, state) in self.targets_of(t, instances) {
            let registered = state.is_some_and(|s| {
                !matches!(
                    s,
                    TargetHealthState::Unused
                        | TargetHealthState::Draining
                        | TargetHealthState::UnhealthyDraining
                )
            });
            if registered {
                targets::deregister_targets(store, &g.arn, &[d])
                    .await
                    .map_err(|e| format!("deregistering from {}: {e}", g.arn))?;
            }
        }
        Ok(())
    }
}

/// Whether a task started at `started_at` is still in its health check grace period.
pub fn in_grace(started_at: Option<Timestamp>, grace_seconds: u32, now: Timestamp) -> bool {
    started_at.is_none_or(|at| now.as_secs_f64() - at.as_secs_f64() < f64::from(grace_seconds))
}
