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
    ContainerCondition, ContainerDefinition, HealthStatus, NetworkBinding, NetworkMode, Task,
    TaskDefinition, TaskStopCode, TransportProtocol,
};

use crate::runtime::{ContainerSpec, ContainerState, Phase, PAUSE_CONTAINER_NAME};

mod spec;
pub use spec::{runtime_name, task_id};

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
    /// Remember that the task failed to start, and why: the containers stopped on the
    /// way down would otherwise read as an essential container's exit next time.
    Fail { reason: String },
}

/// What the planner needs to know about this agent.
#[derive(Debug, Clone)]
pub struct Settings {
    /// ECS_CONTAINER_STOP_TIMEOUT: SIGTERM to SIGKILL when a container sets none.
    pub stop_timeout: Duration,
    /// The Berth-managed network awsvpc tasks join.
    pub task_network: String,
    /// Now, in seconds since the epoch (for `startTimeout`).
    pub now: f64,
}

/// The actions that move `task` toward its desired status. `failed_to_start` is the
/// runtime's error when creating or starting one of its containers failed (the agent
/// remembers it; the task then stops with TaskFailedToStart and that reason).
pub fn plan(
    task: &Task,
    def: &TaskDefinition,
    observed: &[ContainerState],
    failed_to_start: Option<&str>,
    settings: &Settings,
) -> Vec<Action> {
    let defs = def.container_definitions.as_deref().unwrap_or_default();
    let by_name: BTreeMap<&str, &ContainerState> = observed
        .iter()
        .filter_map(|c| Some((c.container_name()?, c)))
        .collect();
    let awsvpc = def.network_mode == Some(NetworkMode::Awsvpc);
    let pause = by_name.get(PAUSE_CONTAINER_NAME).copied();
    let stop_timeout = |c: &ContainerDefinition| {
        c.stop_timeout.map_or(settings.stop_timeout, |s| {
            Duration::from_secs(s.max(0) as u64)
        })
    };
    let phase = |c: &ContainerDefinition| by_name.get(name(c)).map(|s| s.phase);

    let ending: Option<(Option<TaskStopCode>, Option<String>)> =
        if task.desired_status.as_deref() == Some("STOPPED") {
            Some((None, None))
        } else if let Some(why) = failed_to_start
            .map(str::to_string)
            .or_else(|| unsupported(def))
        {
            Some((Some(TaskStopCode::TaskFailedToStart), Some(why)))
        } else if defs
            .iter()
            .any(|c| c.essential.unwrap_or(true) && matches!(phase(c), Some(Phase::Exited { .. })))
        {
            Some((
                Some(TaskStopCode::EssentialContainerExited),
                Some("Essential container in task exited".into()),
            ))
        } else if awsvpc && matches!(pause.map(|p| p.phase), Some(Phase::Exited { .. })) {
            Some((
                Some(TaskStopCode::EssentialContainerExited),
                Some("The task's network namespace (its pause container) exited".into()),
            ))
        } else if let Some(why) = defs.iter().find_map(|c| {
            unmet_forever(c, &by_name).or_else(|| timed_out(c, &by_name, settings.now))
        }) {
            return vec![Action::Fail { reason: why }];
        } else {
            None
        };

    let mut actions = Vec::new();
    if let Some((code, reason)) = ending {
        for c in defs {
            if let Some(s) = by_name.get(name(c)).filter(|s| s.phase == Phase::Running) {
                actions.push(Action::Stop {
                    id: s.id.clone(),
                    timeout: stop_timeout(c),
                });
            }
        }
        let all_down = defs.iter().all(|c| phase(c) != Some(Phase::Running));
        if all_down {
            // The pause holds the namespace until the last container is down; it
            // ignores SIGTERM, so it is killed at once.
            if let Some(p) = pause.filter(|p| p.phase == Phase::Running) {
                actions.push(Action::Stop {
                    id: p.id.clone(),
                    timeout: Duration::ZERO,
                });
            }
            if task.last_status.as_deref() != Some("STOPPED") {
                actions.push(Action::Report(report(
                    task, "STOPPED", def, &by_name, code, reason,
                )));
            }
        }
        return actions;
    }

    // An awsvpc task's containers join its pause container's namespace, so the pause
    // comes first.
    let pause_id = match pause {
        Some(p) if p.phase == Phase::Running => Some(p.id.as_str()),
        Some(p) => {
            actions.push(Action::Start {
                container: PAUSE_CONTAINER_NAME.into(),
                id: p.id.clone(),
            });
            None
        }
        None if awsvpc => {
            actions.push(Action::Create(Box::new(spec::pause(
                task,
                def,
                &settings.task_network,
            ))));
            None
        }
        None => None,
    };
    if !awsvpc || pause_id.is_some() {
        for c in defs {
            match by_name.get(name(c)) {
                None if sources_created(c, &by_name) => actions.push(Action::Create(Box::new(
                    spec::container(task, def, c, stop_timeout(c), pause_id),
                ))),
                Some(s) if s.phase == Phase::Created && dependencies_met(c, &by_name) => actions
                    .push(Action::Start {
                        container: name(c).to_string(),
                        id: s.id.clone(),
                    }),
                _ => {}
            }
        }
    }
    let running = defs
        .iter()
        .all(|c| matches!(phase(c), Some(Phase::Running) | Some(Phase::Exited { .. })));
    let status = if running { "RUNNING" } else { "PENDING" };
    let current = report(task, status, def, &by_name, None, None);
    if differs(task, &current) {
        actions.push(Action::Report(current));
    }
    actions
}

fn name(c: &ContainerDefinition) -> &str {
    c.name.as_deref().unwrap_or_default()
}

/// The containers `c` mounts volumes from or links to, by name in the task.
fn sources(c: &ContainerDefinition) -> impl Iterator<Item = &str> {
    let volumes_from = c
        .volumes_from
        .iter()
        .flatten()
        .filter_map(|v| v.source_container.as_deref());
    let links = c
        .links
        .iter()
        .flatten()
        .map(|l| l.split_once(':').map_or(l.as_str(), |(t, _)| t));
    volumes_from.chain(links)
}

/// Whether the containers `c` needs at creation (volumesFrom, links) exist.
fn sources_created(c: &ContainerDefinition, by_name: &BTreeMap<&str, &ContainerState>) -> bool {
    sources(c).all(|s| by_name.contains_key(s))
}

/// Whether every dependsOn condition of `c` holds now; a linked container must have
/// started too.
fn dependencies_met(c: &ContainerDefinition, by_name: &BTreeMap<&str, &ContainerState>) -> bool {
    let links_started = c
        .links
        .iter()
        .flatten()
        .map(|l| l.split_once(':').map_or(l.as_str(), |(t, _)| t))
        .all(|t| by_name.get(t).is_some_and(|s| s.phase != Phase::Created));
    links_started
        && c.depends_on.iter().flatten().all(|d| {
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

/// Why `c` gives up, if its dependencies are still unmet `startTimeout` seconds after it
/// was created.
fn timed_out(
    c: &ContainerDefinition,
    by_name: &BTreeMap<&str, &ContainerState>,
    now: f64,
) -> Option<String> {
    let limit = c.start_timeout?;
    let s = by_name.get(name(c))?;
    if s.phase != Phase::Created || dependencies_met(c, by_name) {
        return None;
    }
    let created = time::OffsetDateTime::parse(
        &s.details.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    let waited = now - created.unix_timestamp_nanos() as f64 / 1e9;
    (waited > f64::from(limit)).then(|| {
        format!(
            "Container {}: its dependencies were not met within its startTimeout of {limit} s",
            name(c)
        )
    })
}

fn container_status(s: Option<&&ContainerState>) -> &'static str {
    match s.map(|s| s.phase) {
        None | Some(Phase::Created) => "PENDING",
        Some(Phase::Running) => "RUNNING",
        Some(Phase::Exited { .. }) => "STOPPED",
    }
}

/// The host ports a running container is reachable on: Docker's published ports in
/// bridge mode (one binding per port, IPv4), the container ports themselves in host
/// mode.
fn network_bindings(
    def: &TaskDefinition,
    c: &ContainerDefinition,
    s: &ContainerState,
) -> Option<Vec<NetworkBinding>> {
    let protocol = |p: &str| match p {
        "udp" => TransportProtocol::Udp,
        _ => TransportProtocol::Tcp,
    };
    let bindings: Vec<NetworkBinding> = match def.network_mode.unwrap_or(NetworkMode::Bridge) {
        NetworkMode::Bridge => s
            .details
            .ports
            .iter()
            .filter(|p| !p.host_ip.contains(':'))
            .map(|p| NetworkBinding {
                bind_ip: Some(p.host_ip.clone()),
                container_port: Some(i32::from(p.container_port)),
                host_port: Some(i32::from(p.host_port)),
                protocol: Some(protocol(&p.protocol)),
                ..Default::default()
            })
            .collect(),
        NetworkMode::Host => c
            .port_mappings
            .iter()
            .flatten()
            .map(|p| NetworkBinding {
                bind_ip: Some("0.0.0.0".into()),
                container_port: p.container_port,
                host_port: p.container_port,
                protocol: Some(p.protocol.unwrap_or(TransportProtocol::Tcp)),
                ..Default::default()
            })
            .collect(),
        _ => vec![],
    };
    (!bindings.is_empty()).then_some(bindings)
}

fn report(
    task: &Task,
    status: &str,
    def: &TaskDefinition,
    by_name: &BTreeMap<&str, &ContainerState>,
    stop_code: Option<TaskStopCode>,
    reason: Option<String>,
) -> TaskStateReport {
    let defs = def.container_definitions.as_deref().unwrap_or_default();
    TaskStateReport {
        task_arn: task.task_arn.clone().unwrap_or_default(),
        status: status.to_string(),
        reason,
        stop_code,
        private_ipv4_address: by_name
            .get(PAUSE_CONTAINER_NAME)
            .and_then(|p| p.details.ipv4.clone()),
        containers: defs
            .iter()
            .map(|c| {
                let s = by_name.get(name(c));
                ContainerReport {
                    name: name(c).to_string(),
                    status: container_status(s).to_string(),
                    runtime_id: s.map(|s| s.id.clone()),
                    image_digest: s
                        .map(|s| s.details.image_digest.clone())
                        .filter(|d| !d.is_empty()),
                    exit_code: s.and_then(|s| match s.phase {
                        Phase::Exited { code } => Some(code),
                        _ => None,
                    }),
                    health_status: s.and_then(|s| s.health),
                    network_bindings: s
                        .filter(|s| s.phase == Phase::Running)
                        .and_then(|s| network_bindings(def, c, s)),
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
    let known_ip = task
        .containers
        .iter()
        .flatten()
        .flat_map(|c| c.network_interfaces.iter().flatten())
        .find_map(|n| n.private_ipv4_address.as_deref());
    if current.private_ipv4_address.is_some() && current.private_ipv4_address.as_deref() != known_ip
    {
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
                    || (c.network_bindings.is_some() && k.network_bindings != c.network_bindings)
            })
    })
}

/// The first setting of the task this agent cannot honour, named so a person knows what
/// to change; such a task stops with TaskFailedToStart instead of running without it
/// (nothing is silently ignored). Placement refuses most of these first (their
/// capabilities are not advertised, see [`berth_api::capability::NOT_OFFERED`]); this is
/// the agent's own guard for definitions registered before a requirement was computed.
pub fn unsupported(def: &TaskDefinition) -> Option<String> {
    let refuse = |what: &str, why: &str| {
        Some(format!(
            "Berth's agent does not support {what}: {why}; remove it from the task definition"
        ))
    };
    let task_level = [
        (
            "pidMode",
            def.pid_mode.is_some(),
            "shared process namespaces are not implemented",
        ),
        (
            "ipcMode",
            def.ipc_mode.is_some(),
            "shared IPC namespaces are not implemented",
        ),
        (
            "proxyConfiguration",
            def.proxy_configuration.is_some(),
            "App Mesh proxies exist only on AWS",
        ),
        (
            "inferenceAccelerators",
            def.inference_accelerators
                .as_ref()
                .is_some_and(|a| !a.is_empty()),
            "Elastic Inference accelerators exist only on AWS",
        ),
    ];
    if let Some((field, _, why)) = task_level.iter().find(|(_, set, _)| *set) {
        return refuse(field, why);
    }
    for v in def.volumes.iter().flatten() {
        if v.efs_volume_configuration.is_some()
            || v.fsx_windows_file_server_volume_configuration.is_some()
            || v.s3files_volume_configuration.is_some()
        {
            return refuse(
                &format!("volume {}", v.name.as_deref().unwrap_or_default()),
                "EFS, FSx and S3 Files volumes need AWS; use a host path or a Docker volume",
            );
        }
    }
    let some = |v: Option<usize>| v.is_some_and(|n| n > 0);
    for c in def.container_definitions.iter().flatten() {
        let log = c.log_configuration.as_ref();
        let present = [
            (
                "logConfiguration secretOptions",
                some(log.and_then(|l| l.secret_options.as_ref()).map(Vec::len)),
                "log drivers do not read secrets on Berth; put the values in options, or read \
                 them into the container's environment with secrets",
            ),
            (
                "firelensConfiguration",
                c.firelens_configuration.is_some(),
                "FireLens log routing is not implemented; use awslogs or a Docker log driver",
            ),
            (
                "logConfiguration awsfirelens",
                log.is_some_and(|l| l.log_driver.as_str() == "awsfirelens"),
                "FireLens log routing is not implemented; use awslogs or a Docker log driver",
            ),
            (
                "resourceRequirements InferenceAccelerator",
                c.resource_requirements
                    .iter()
                    .flatten()
                    .any(|r| r.r#type.as_str() == "InferenceAccelerator"),
                "Elastic Inference accelerators exist only on AWS",
            ),
            (
                "restartPolicy",
                c.restart_policy.as_ref().is_some_and(|r| r.enabled),
                "container restart policies are not implemented",
            ),
            (
                "logConfiguration awslogs without awslogs-group",
                log.is_some_and(|l| {
                    l.log_driver.as_str() == "awslogs"
                        && l.options
                            .as_ref()
                            .is_none_or(|o| o.get("awslogs-group").is_none_or(String::is_empty))
                }),
                "the awslogs log driver needs the awslogs-group option",
            ),
        ];
        if let Some((field, _, why)) = present.iter().find(|(_, set, _)| *set) {
            return refuse(&format!("{field} (container {})", name(c)), why);
        }
    }
    None
}

#[cfg(test)]
mod tests;
