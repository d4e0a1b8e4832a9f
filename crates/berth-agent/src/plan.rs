//! What to do next for one task: a pure function of the task as the control plane sees
//! it, its definition, and the containers the runtime reports (found by label). The
//! agent loop calls it on every change and applies the actions; calling it again with
//! the same inputs asks for the same actions, so a missed event or a restart loses
//! nothing (level-triggered).
//!
//! ECS's rules: every container is created up front and started once its dependsOn
//! conditions hold (START, COMPLETE, SUCCESS, HEALTHY); when an essential container
//! exits, or the task is asked to stop, the others are stopped and the task reports
//! STOPPED; a non-essential container exiting changes nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_api::agent::{ContainerReport, TaskStateReport};
use berth_api::ecs::{
    ContainerCondition, ContainerDefinition, HealthStatus, Task, TaskDefinition, TaskStopCode,
};

use crate::runtime::{
    ContainerSpec, ContainerState, HealthCheckSpec, Phase, LABEL_CLUSTER, LABEL_CONTAINER_NAME,
    LABEL_FAMILY, LABEL_TASK_ARN, LABEL_VERSION,
};

/// One step for the agent loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Pull the image (per the pull behaviour) and create the container.
    Create(Box<ContainerSpec>),
    /// Start a created container.
    Start { container: String, id: String },
    /// Stop a running container.
    Stop { id: String, timeout: Duration },
    /// Tell the control plane where the task is.
    Report(TaskStateReport),
}

/// Why the task as a whole is ending, if it is.
enum Ending {
    Requested,
    EssentialExited,
    FailedToStart(String),
}

/// The actions that move `task` toward its desired status. `failed_to_start` is the
/// runtime's error when creating or starting one of its containers failed (the agent
/// remembers it; the task then stops with TaskFailedToStart and that reason).
pub fn plan(
    task: &Task,
    def: &TaskDefinition,
    observed: &[ContainerState],
    failed_to_start: Option<&str>,
    default_stop_timeout: Duration,
) -> Vec<Action> {
    let arn = task.task_arn.clone().unwrap_or_default();
    let defs = def.container_definitions.as_deref().unwrap_or_default();
    let by_name: BTreeMap<&str, &ContainerState> = observed
        .iter()
        .filter_map(|c| Some((c.container_name()?, c)))
        .collect();
    let stop_timeout = |c: &ContainerDefinition| {
        c.stop_timeout.map_or(default_stop_timeout, |s| {
            Duration::from_secs(s.max(0) as u64)
        })
    };

    let ending = if task.desired_status.as_deref() == Some("STOPPED") {
        Some(Ending::Requested)
    } else if let Some(why) = failed_to_start
        .map(str::to_string)
        .or_else(|| unsupported(def))
    {
        Some(Ending::FailedToStart(why))
    } else if defs.iter().any(|c| {
        c.essential.unwrap_or(true)
            && matches!(
                by_name.get(name(c)).map(|s| s.phase),
                Some(Phase::Exited { .. })
            )
    }) {
        Some(Ending::EssentialExited)
    } else {
        defs.iter()
            .find_map(|c| unmet_forever(c, &by_name))
            .map(Ending::FailedToStart)
    };

    let mut actions = Vec::new();
    if let Some(ending) = ending {
        for c in defs {
            if let Some(s) = by_name.get(name(c)).filter(|s| s.phase == Phase::Running) {
                actions.push(Action::Stop {
                    id: s.id.clone(),
                    timeout: stop_timeout(c),
                });
            }
        }
        let all_down = defs.iter().all(|c| {
            by_name
                .get(name(c))
                .is_none_or(|s| s.phase != Phase::Running)
        });
        if all_down && task.last_status.as_deref() != Some("STOPPED") {
            let (code, reason) = match ending {
                Ending::Requested => (None, None),
                Ending::EssentialExited => (
                    Some(TaskStopCode::EssentialContainerExited),
                    Some("Essential container in task exited".to_string()),
                ),
                Ending::FailedToStart(why) => (Some(TaskStopCode::TaskFailedToStart), Some(why)),
            };
            actions.push(Action::Report(report(
                &arn, "STOPPED", defs, &by_name, code, reason,
            )));
        }
        return actions;
    }

    for c in defs {
        match by_name.get(name(c)) {
            None => actions.push(Action::Create(Box::new(spec(
                task,
                def,
                c,
                stop_timeout(c),
            )))),
            Some(s) if s.phase == Phase::Created && dependencies_met(c, &by_name) => {
                actions.push(Action::Start {
                    container: name(c).to_string(),
                    id: s.id.clone(),
                })
            }
            Some(_) => {}
        }
    }
    let running = defs.iter().all(|c| {
        matches!(
            by_name.get(name(c)).map(|s| s.phase),
            Some(Phase::Running) | Some(Phase::Exited { .. })
        )
    });
    let status = if running { "RUNNING" } else { "PENDING" };
    let current = report(&arn, status, defs, &by_name, None, None);
    if differs(task, &current) {
        actions.push(Action::Report(current));
    }
    actions
}

fn name(c: &ContainerDefinition) -> &str {
    c.name.as_deref().unwrap_or_default()
}

/// Whether every dependsOn condition of `c` holds now.
fn dependencies_met(c: &ContainerDefinition, by_name: &BTreeMap<&str, &ContainerState>) -> bool {
    c.depends_on.iter().flatten().all(|d| {
        let Some(dep) = by_name.get(d.container_name.as_str()) else {
            return false;
        };
        match d.condition {
            ContainerCondition::Start => dep.phase != Phase::Created,
            ContainerCondition::Complete => matches!(dep.phase, Phase::Exited { .. }),
            ContainerCondition::Success => dep.phase == Phase::Exited { code: 0 },
            ContainerCondition::Healthy => dep.health == Some(HealthStatus::Healthy),
        }
    })
}

/// Why `c` can never start, if a dependency has ended in a way that will not change.
fn unmet_forever(
    c: &ContainerDefinition,
    by_name: &BTreeMap<&str, &ContainerState>,
) -> Option<String> {
    if by_name
        .get(name(c))
        .is_some_and(|s| s.phase != Phase::Created)
    {
        return None;
    }
    c.depends_on.iter().flatten().find_map(|d| {
        let dep = by_name.get(d.container_name.as_str())?;
        let failed = match (d.condition, dep.phase) {
            (ContainerCondition::Success, Phase::Exited { code }) => code != 0,
            (ContainerCondition::Healthy, Phase::Exited { .. }) => true,
            _ => false,
        };
        failed.then(|| {
            format!(
                "Dependency {} {} of container {} was not met",
                d.container_name,
                d.condition.as_str(),
                name(c)
            )
        })
    })
}

fn container_status(s: Option<&&ContainerState>) -> &'static str {
    match s.map(|s| s.phase) {
        None | Some(Phase::Created) => "PENDING",
        Some(Phase::Running) => "RUNNING",
        Some(Phase::Exited { .. }) => "STOPPED",
    }
}

fn report(
    arn: &str,
    status: &str,
    defs: &[ContainerDefinition],
    by_name: &BTreeMap<&str, &ContainerState>,
    stop_code: Option<TaskStopCode>,
    reason: Option<String>,
) -> TaskStateReport {
    TaskStateReport {
        task_arn: arn.to_string(),
        status: status.to_string(),
        reason,
        stop_code,
        containers: defs
            .iter()
            .map(|c| {
                let s = by_name.get(name(c));
                ContainerReport {
                    name: name(c).to_string(),
                    status: container_status(s).to_string(),
                    runtime_id: s.map(|s| s.id.clone()),
                    exit_code: s.and_then(|s| match s.phase {
                        Phase::Exited { code } => Some(code),
                        _ => None,
                    }),
                    health_status: s.and_then(|s| s.health),
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}

/// Whether `current` says something the control plane does not know yet.
fn differs(task: &Task, current: &TaskStateReport) -> bool {
    if task.last_status.as_deref() != Some(current.status.as_str()) {
        return true;
    }
    let known = task.containers.as_deref().unwrap_or_default();
    current.containers.iter().any(|c| {
        known
            .iter()
            .find(|k| k.name.as_deref() == Some(c.name.as_str()))
            .is_none_or(|k| {
                k.last_status.as_deref() != Some(c.status.as_str())
                    || k.exit_code != c.exit_code
                    || (c.health_status.is_some() && k.health_status != c.health_status)
            })
    })
}

/// The container to create: image, command and environment after the task's overrides,
/// and the ECS labels that let a restarted agent find it again.
fn spec(
    task: &Task,
    def: &TaskDefinition,
    c: &ContainerDefinition,
    stop_timeout: Duration,
) -> ContainerSpec {
    let o = task
        .overrides
        .as_ref()
        .and_then(|o| o.container_overrides.as_ref())
        .into_iter()
        .flatten()
        .find(|o| o.name.as_deref() == c.name.as_deref());
    let mut environment: Vec<(String, String)> = c
        .environment
        .iter()
        .flatten()
        .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone().unwrap_or_default())))
        .collect();
    for kv in o.and_then(|o| o.environment.as_ref()).into_iter().flatten() {
        let Some(key) = kv.name.clone() else { continue };
        let value = kv.value.clone().unwrap_or_default();
        match environment.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => environment.push((key, value)),
        }
    }
    let mut labels: BTreeMap<String, String> = c.docker_labels.clone().unwrap_or_default();
    labels.insert(
        LABEL_TASK_ARN.into(),
        task.task_arn.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_CONTAINER_NAME.into(), name(c).to_string());
    labels.insert(
        LABEL_CLUSTER.into(),
        task.cluster_arn.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_FAMILY.into(), def.family.clone().unwrap_or_default());
    labels.insert(LABEL_VERSION.into(), def.revision.to_string());
    ContainerSpec {
        name: name(c).to_string(),
        image: c.image.clone().unwrap_or_default(),
        entry_point: c.entry_point.clone(),
        command: o
            .and_then(|o| o.command.clone())
            .or_else(|| c.command.clone()),
        environment,
        labels,
        stop_timeout,
        cpu_shares: o
            .and_then(|o| o.cpu)
            .or(c.cpu)
            .filter(|c| *c > 0)
            .map(i64::from),
        memory_mib: o.and_then(|o| o.memory).or(c.memory).map(i64::from),
        memory_reservation_mib: o
            .and_then(|o| o.memory_reservation)
            .or(c.memory_reservation)
            .map(i64::from),
        user: c.user.clone(),
        working_directory: c.working_directory.clone(),
        hostname: c.hostname.clone(),
        privileged: c.privileged.unwrap_or(false),
        readonly_root_filesystem: c.readonly_root_filesystem.unwrap_or(false),
        extra_hosts: c
            .extra_hosts
            .iter()
            .flatten()
            .map(|h| format!("{}:{}", h.hostname, h.ip_address))
            .collect(),
        dns_servers: c.dns_servers.clone().unwrap_or_default(),
        // ECS's defaults: every 30 s, 5 s timeout, 3 retries, no start period.
        health_check: c.health_check.as_ref().map(|h| {
            let secs = |v: Option<i32>, default: u64| {
                Duration::from_secs(v.map_or(default, |v| v.max(0) as u64))
            };
            HealthCheckSpec {
                command: h.command.clone(),
                interval: secs(h.interval, 30),
                timeout: secs(h.timeout, 5),
                retries: h.retries.map_or(3, |r| r.max(0) as u32),
                start_period: secs(h.start_period, 0),
            }
        }),
    }
}

/// The first setting of the task this agent cannot honour yet, named so a person knows
/// what to change; such a task stops with TaskFailedToStart instead of running without
/// it (nothing is silently ignored).
pub fn unsupported(def: &TaskDefinition) -> Option<String> {
    use berth_api::ecs::NetworkMode;
    let refuse = |what: &str| {
        Some(format!(
            "Berth's agent does not support {what} yet; remove it from the task definition \
             or run the task where it is supported"
        ))
    };
    if let Some(mode @ (NetworkMode::Awsvpc | NetworkMode::Host)) = def.network_mode {
        return refuse(&format!("networkMode {}", mode.as_str()));
    }
    if def.volumes.as_ref().is_some_and(|v| !v.is_empty()) {
        return refuse("volumes");
    }
    let some = |v: Option<usize>| v.is_some_and(|n| n > 0);
    for c in def.container_definitions.iter().flatten() {
        let present = [
            ("portMappings", some(c.port_mappings.as_ref().map(Vec::len))),
            ("mountPoints", some(c.mount_points.as_ref().map(Vec::len))),
            ("volumesFrom", some(c.volumes_from.as_ref().map(Vec::len))),
            ("links", some(c.links.as_ref().map(Vec::len))),
            ("linuxParameters", c.linux_parameters.is_some()),
            ("ulimits", some(c.ulimits.as_ref().map(Vec::len))),
            ("logConfiguration", c.log_configuration.is_some()),
            ("secrets", some(c.secrets.as_ref().map(Vec::len))),
            (
                "environmentFiles",
                some(c.environment_files.as_ref().map(Vec::len)),
            ),
            (
                "resourceRequirements",
                some(c.resource_requirements.as_ref().map(Vec::len)),
            ),
            (
                "systemControls",
                some(c.system_controls.as_ref().map(Vec::len)),
            ),
            (
                "dockerSecurityOptions",
                some(c.docker_security_options.as_ref().map(Vec::len)),
            ),
            ("repositoryCredentials", c.repository_credentials.is_some()),
        ];
        if let Some((field, _)) = present.iter().find(|(_, set)| *set) {
            return refuse(&format!("{field} (container {})", name(c)));
        }
    }
    None
}

#[cfg(test)]
mod tests;
