//! The service controller's diff: one pure step from what a service wants and what its
//! tasks are doing to which tasks to start and which to stop, as Nomad's reconciler
//! sorts allocations into place / stop / replace buckets. No I/O and no clock: the
//! controller gathers a [`TaskState`] per task (health included) and applies the
//! [`Step`], then steps again on the next pass (level-triggered; an applied step
//! changes the input of the next).
//!
//! ```text
//!            tasks of the service (not stopping)
//!                 │
//!     ┌───────────┴─────────────┐
//!  current: primary deployment   old: other deployments, and primary tasks
//!  on a usable instance          on DRAINING instances
//!     │                             │
//!  unhealthy → stop (replaced)   protected → keep (until its protection lapses)
//!  more than desired → stop      not healthy → stop (replaced)
//!    (unless protected)          healthy → stop while healthy ≥ minimum healthy
//!     │                             │
//!     └───── start primary tasks up to desired, total ≤ maximum ─────┘
//! ```
//!
//! Minimum healthy is `ceil(desired × minimumHealthyPercent / 100)`, maximum is
//! `floor(desired × maximumPercent / 100)` tasks, as ECS rounds them. A task counts as
//! healthy once it is RUNNING and passes its container health check and its target
//! groups' health checks (the controller decides, grace period included).

use std::collections::{BTreeMap, BTreeSet};

/// How many tasks a replica service wants and how far a deployment may stray from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub desired: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
}

impl Limits {
    /// The fewest healthy tasks a deployment keeps: `ceil(desired × min% / 100)`.
    pub fn minimum_healthy(&self) -> u32 {
        (u64::from(self.desired) * u64::from(self.minimum_healthy_percent)).div_ceil(100) as u32
    }

    /// The most tasks that may run or be starting at once: `floor(desired × max% / 100)`.
    pub fn maximum(&self) -> u32 {
        (u64::from(self.desired) * u64::from(self.maximum_percent) / 100) as u32
    }
}

/// Where a task is in its life, as far as the controller cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Placed, not yet RUNNING.
    Pending,
    /// RUNNING.
    Running,
}

/// One task of the service that is not stopping (desired status RUNNING).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub arn: String,
    /// The deployment that started it.
    pub deployment: String,
    /// The container instance it runs on.
    pub instance: Option<String>,
    pub phase: Phase,
    /// RUNNING and passing every health check that applies to it.
    pub healthy: bool,
    /// Failing a health check after its grace period: to be replaced.
    pub unhealthy: bool,
    /// Its instance is DRAINING (or gone): the task moves elsewhere.
    pub instance_draining: bool,
    /// Protected from scale-in (UpdateTaskProtection): neither scaled down nor replaced
    /// by a deployment while it lasts; health checks and draining still stop it.
    pub protected: bool,
}

/// Why the step stops a task; the controller words the event and stoppedReason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Fewer tasks are wanted.
    ScaleDown,
    /// A newer deployment (or another instance) replaces it.
    Replaced,
    /// It failed its health checks.
    Unhealthy,
    /// Its instance is draining or no longer there.
    InstanceDraining,
}

/// What one step does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// How many tasks of the primary deployment to start (replica services).
    pub start: u32,
    /// For daemon services: the instances to start one primary task on.
    pub start_on: Vec<String>,
    /// The tasks to stop, and why.
    pub stop: Vec<(String, StopReason)>,
}

impl Step {
    /// Whether the step changes nothing.
    pub fn is_empty(&self) -> bool {
        self.start == 0 && self.start_on.is_empty() && self.stop.is_empty()
    }
}

/// One step of a replica service. `launching` is false once the primary deployment has
/// failed without a rollback: nothing new starts, nothing old is replaced.
pub fn replica_step(limits: Limits, primary: &str, launching: bool, tasks: &[TaskState]) -> Step {
    let mut step = Step::default();
    let (mut current, old): (Vec<&TaskState>, Vec<&TaskState>) = tasks
        .iter()
        .partition(|t| t.deployment == primary && !t.instance_draining);

    // Failing current tasks go; their replacements start below.
    current.retain(|t| {
        if t.unhealthy && launching {
            step.stop.push((t.arn.clone(), StopReason::Unhealthy));
        }
        !(t.unhealthy && launching)
    });
    // Too many current tasks: the least ready go first, newest among equals; protected
    // ones stay, so fewer may go.
    let desired = limits.desired as usize;
    if current.len() > desired {
        current.sort_by_key(|t| (t.protected, t.healthy, t.phase));
        let excess = current.len() - desired;
        let unprotected = current.iter().take_while(|t| !t.protected).count();
        for t in current.drain(..excess.min(unprotected)) {
            step.stop.push((t.arn.clone(), StopReason::ScaleDown));
        }
    }

    let mut old_kept: Vec<&TaskState> = Vec::new();
    if launching || limits.desired == 0 {
        // Old tasks that serve nobody go at once; healthy ones while enough stay healthy.
        let healthy_now = current.iter().chain(&old).filter(|t| t.healthy).count() as u32;
        let mut may_stop = healthy_now.saturating_sub(limits.minimum_healthy());
        let mut by_readiness = old.clone();
        by_readiness.sort_by_key(|t| (t.healthy, t.phase));
        for t in by_readiness {
            let reason = if t.instance_draining {
                StopReason::InstanceDraining
            } else {
                StopReason::Replaced
            };
            if t.protected && reason == StopReason::Replaced {
                old_kept.push(t);
            } else if !t.healthy {
                step.stop.push((t.arn.clone(), reason));
            } else if may_stop > 0 {
                may_stop -= 1;
                step.stop.push((t.arn.clone(), reason));
            } else {
                old_kept.push(t);
            }
        }
    } else {
        old_kept = old;
    }

    if launching {
        let room = (limits.maximum() as usize).saturating_sub(current.len() + old_kept.len());
        step.start = desired.saturating_sub(current.len()).min(room) as u32;
    }
    step
}

/// Whether a replica service is where it wants to be: exactly `desired` healthy tasks,
/// all of the primary deployment on usable instances, and nothing else running.
pub fn is_steady(desired: u32, primary: &str, tasks: &[TaskState]) -> bool {
    tasks.len() == desired as usize
        && tasks
            .iter()
            .all(|t| t.deployment == primary && t.healthy && !t.instance_draining)
}

/// One step of a daemon service: one primary task on each usable instance. An old task
/// on an instance is stopped before its replacement starts (a daemon has no spare
/// instance to surge onto); tasks on instances no longer usable stop.
pub fn daemon_step(
    usable_instances: &BTreeSet<String>,
    primary: &str,
    launching: bool,
    tasks: &[TaskState],
) -> Step {
    let mut step = Step::default();
    let mut by_instance: BTreeMap<&str, Vec<&TaskState>> = BTreeMap::new();
    for t in tasks {
        match t.instance.as_deref() {
            Some(i) if usable_instances.contains(i) && !t.instance_draining => {
                by_instance.entry(i).or_default().push(t)
            }
            _ => step
                .stop
                .push((t.arn.clone(), StopReason::InstanceDraining)),
        }
    }
    for instance in usable_instances {
        let here = by_instance.remove(instance.as_str()).unwrap_or_default();
        let (mut current, old): (Vec<&TaskState>, Vec<&TaskState>) =
            here.into_iter().partition(|t| t.deployment == primary);
        if launching {
            for t in &old {
                step.stop.push((t.arn.clone(), StopReason::Replaced));
            }
        }
        current.retain(|t| {
            if t.unhealthy && launching {
                step.stop.push((t.arn.clone(), StopReason::Unhealthy));
            }
            !(t.unhealthy && launching)
        });
        if current.len() > 1 {
            current.sort_by_key(|t| std::cmp::Reverse((t.healthy, t.phase)));
            for t in current.drain(1..) {
                step.stop.push((t.arn.clone(), StopReason::ScaleDown));
            }
        }
        if launching && current.is_empty() && old.is_empty() {
            step.start_on.push(instance.clone());
        }
    }
    step
}

/// The number of failed tasks that trips a deployment's circuit breaker: half the
/// desired count, at least 3 and at most 200, as ECS computes it.
pub fn circuit_breaker_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

#[cfg(test)]
mod tests;
