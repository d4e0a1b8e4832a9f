//! From a task and one of its container definitions to the [`ContainerSpec`] the runtime
//! creates: the RunTask overrides applied, ECS's defaults filled in, volumes, links and
//! volumesFrom resolved to runtime names, and task-level cpu and memory turned into
//! limits.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_api::ecs::{ContainerDefinition, NetworkMode, Task, TaskDefinition};

use crate::runtime::{
    ContainerSpec, DeviceSpec, HealthCheckSpec, MountSource, MountSpec, NetworkSpec, PortSpec,
    UlimitSpec, LABEL_CLUSTER, LABEL_CONTAINER_NAME, LABEL_FAMILY, LABEL_TASK_ARN, LABEL_VERSION,
    PAUSE_CONTAINER_NAME, PAUSE_IMAGE,
};

/// The task's id: the last part of its ARN.
pub fn task_id(task: &Task) -> &str {
    let arn = task.task_arn.as_deref().unwrap_or_default();
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The runtime name of container `container` of `task`, as the ECS agent forms it
/// (`ecs-FAMILY-REVISION-NAME-ID`), with characters Docker refuses dropped.
pub fn runtime_name(task: &Task, def: &TaskDefinition, container: &str) -> String {
    let raw = format!(
        "ecs-{}-{}-{}-{}",
        def.family.as_deref().unwrap_or_default(),
        def.revision,
        container,
        task_id(task)
    );
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .collect()
}

fn labels(task: &Task, def: &TaskDefinition, container: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            LABEL_TASK_ARN.into(),
            task.task_arn.clone().unwrap_or_default(),
        ),
        (LABEL_CONTAINER_NAME.into(), container.to_string()),
        (
            LABEL_CLUSTER.into(),
            task.cluster_arn.clone().unwrap_or_default(),
        ),
        (LABEL_FAMILY.into(), def.family.clone().unwrap_or_default()),
        (LABEL_VERSION.into(), def.revision.to_string()),
    ])
}

/// The pause container of an awsvpc task, on the Berth-managed `network`.
pub fn pause(task: &Task, def: &TaskDefinition, network: &str) -> ContainerSpec {
    ContainerSpec {
        name: PAUSE_CONTAINER_NAME.into(),
        runtime_name: runtime_name(task, def, "internalecspause"),
        image: PAUSE_IMAGE.into(),
        entry_point: Some(vec!["/pause".into()]),
        labels: labels(task, def, PAUSE_CONTAINER_NAME),
        network: NetworkSpec::Task(network.to_string()),
        ..Default::default()
    }
}

/// The spec of container `c`; `pause_id` is the running pause container of an awsvpc
/// task.
pub fn container(
    task: &Task,
    def: &TaskDefinition,
    c: &ContainerDefinition,
    stop_timeout: Duration,
    pause_id: Option<&str>,
) -> ContainerSpec {
    let name = c.name.as_deref().unwrap_or_default();
    let task_overrides = task.overrides.as_ref();
    let o = task
        .overrides
        .as_ref()
        .and_then(|o| o.container_overrides.as_ref())
        .into_iter()
        .flatten()
        .find(|o| o.name.as_deref() == Some(name));
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
    let mut labels_ = c.docker_labels.clone().unwrap_or_default();
    labels_.extend(labels(task, def, name));
    let mode = def.network_mode.unwrap_or(NetworkMode::Bridge);
    let network = if c.disable_networking == Some(true) {
        NetworkSpec::None
    } else {
        match (mode, pause_id) {
            (NetworkMode::Awsvpc, Some(id)) => NetworkSpec::Container(id.to_string()),
            (NetworkMode::Host, _) => NetworkSpec::Host,
            (NetworkMode::None, _) => NetworkSpec::None,
            _ => NetworkSpec::Bridge,
        }
    };
    let ports = if network == NetworkSpec::Bridge {
        c.port_mappings
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(PortSpec {
                    container_port: u16::try_from(p.container_port?).ok()?,
                    host_port: p
                        .host_port
                        .and_then(|h| u16::try_from(h).ok())
                        .filter(|h| *h != 0),
                    protocol: p.protocol.map_or("tcp", |p| p.as_str()).to_string(),
                })
            })
            .collect()
    } else {
        vec![]
    };
    let task_mib = task.memory.as_deref().and_then(|m| m.parse::<i64>().ok());
    let task_cpu = task.cpu.as_deref().and_then(|m| m.parse::<i64>().ok());
    let memory_mib = o.and_then(|o| o.memory).or(c.memory).map(i64::from);
    let lp = c.linux_parameters.as_ref();
    let caps = lp.and_then(|l| l.capabilities.as_ref());
    ContainerSpec {
        name: name.to_string(),
        runtime_name: runtime_name(task, def, name),
        image: c.image.clone().unwrap_or_default(),
        entry_point: c.entry_point.clone(),
        command: o
            .and_then(|o| o.command.clone())
            .or_else(|| c.command.clone()),
        environment,
        labels: labels_,
        stop_timeout,
        cpu_shares: o
            .and_then(|o| o.cpu)
            .or(c.cpu)
            .filter(|c| *c > 0)
            .map(i64::from),
        // A task-level memory size caps every container of the task.
        memory_mib: match (memory_mib, task_mib) {
            (Some(m), Some(t)) => Some(m.min(t)),
            (m, t) => m.or(t),
        },
        memory_reservation_mib: o
            .and_then(|o| o.memory_reservation)
            .or(c.memory_reservation)
            .map(i64::from),
        nano_cpus: task_cpu.map(|units| units * 1_000_000_000 / 1024),
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
        dns_search: c.dns_search_domains.clone().unwrap_or_default(),
        interactive: c.interactive.unwrap_or(false),
        tty: c.pseudo_terminal.unwrap_or(false),
        health_check: c.health_check.as_ref().map(|h| {
            // ECS's defaults: every 30 s, 5 s timeout, 3 retries, no start period.
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
        network,
        ports,
        mounts: mounts(task, def, c),
        volumes_from: c
            .volumes_from
            .iter()
            .flatten()
            .filter_map(|v| {
                let source = runtime_name(task, def, v.source_container.as_deref()?);
                Some(match v.read_only {
                    Some(true) => format!("{source}:ro"),
                    _ => source,
                })
            })
            .collect(),
        links: c
            .links
            .iter()
            .flatten()
            .map(|l| {
                let (target, alias) = l.split_once(':').unwrap_or((l, l));
                format!("{}:{alias}", runtime_name(task, def, target))
            })
            .collect(),
        ulimits: c
            .ulimits
            .iter()
            .flatten()
            .map(|u| UlimitSpec {
                name: u.name.as_str().to_string(),
                soft: i64::from(u.soft_limit),
                hard: i64::from(u.hard_limit),
            })
            .collect(),
        init: lp.and_then(|l| l.init_process_enabled).unwrap_or(false),
        cap_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        cap_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        devices: lp
            .and_then(|l| l.devices.as_ref())
            .into_iter()
            .flatten()
            .map(|d| DeviceSpec {
                host_path: d.host_path.clone(),
                container_path: d.container_path.clone().unwrap_or(d.host_path.clone()),
                permissions: d.permissions.as_ref().map_or("rwm".into(), |p| {
                    p.iter().map(|p| &p.as_str()[..1]).collect::<String>()
                }),
            })
            .collect(),
        shm_size_mib: lp.and_then(|l| l.shared_memory_size).map(i64::from),
        tmpfs: lp
            .and_then(|l| l.tmpfs.as_ref())
            .into_iter()
            .flatten()
            .map(|t| {
                let mut options = vec![format!("size={}m", t.size)];
                options.extend(t.mount_options.iter().flatten().cloned());
                (t.container_path.clone(), options.join(","))
            })
            .collect(),
        max_swap_mib: lp.and_then(|l| l.max_swap).map(i64::from),
        swappiness: lp.and_then(|l| l.swappiness).map(i64::from),
        sysctls: c
            .system_controls
            .iter()
            .flatten()
            .filter_map(|s| Some((s.namespace.clone()?, s.value.clone().unwrap_or_default())))
            .collect(),
        security_opts: c.docker_security_options.clone().unwrap_or_default(),
        log_driver: c
            .log_configuration
            .as_ref()
            .map(|l| match l.log_driver.as_str() {
                // The agent ships the output itself (crate::logship), reading it back from
                // Docker's `local` driver: cheaper for dockerd to write than json-file,
                // bounded on disk (five rotated files of 20 MB each), and uncompressed so
                // the agent can read the files itself (crate::local_log).
                "awslogs" => (
                    "local".to_string(),
                    [
                        ("max-size", "20m"),
                        ("max-file", "5"),
                        ("compress", "false"),
                    ]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
                ),
                driver => (driver.to_string(), l.options.clone().unwrap_or_default()),
            }),
        gpu_ids: task
            .containers
            .iter()
            .flatten()
            .find(|k| k.name.as_deref() == Some(name))
            .and_then(|k| k.gpu_ids.clone())
            .unwrap_or_default(),
        task_role: task_overrides
            .and_then(|o| o.task_role_arn.as_ref())
            .or(def.task_role_arn.as_ref())
            .is_some(),
        execution_role: task_overrides
            .and_then(|o| o.execution_role_arn.clone())
            .or_else(|| def.execution_role_arn.clone()),
        awslogs: crate::logship::awslogs_of(def, name),
        environment_files: o
            .and_then(|o| o.environment_files.as_ref())
            .or(c.environment_files.as_ref())
            .into_iter()
            .flatten()
            .map(|f| f.value.clone())
            .collect(),
        reads_secrets: c.secrets.as_ref().is_some_and(|s| !s.is_empty())
            || c.repository_credentials.is_some(),
    }
}

/// The container's mount points, each resolved against the task's volumes.
fn mounts(task: &Task, def: &TaskDefinition, c: &ContainerDefinition) -> Vec<MountSpec> {
    let volumes = def.volumes.as_deref().unwrap_or_default();
    c.mount_points
        .iter()
        .flatten()
        .filter_map(|m| {
            let wanted = m.source_volume.as_deref()?;
            let v = volumes.iter().find(|v| v.name.as_deref() == Some(wanted))?;
            let source = match (&v.host, &v.docker_volume_configuration) {
                (Some(h), _) if h.source_path.is_some() => {
                    MountSource::HostPath(h.source_path.clone().unwrap_or_default())
                }
                (_, Some(d)) if d.scope.map(|s| s.as_str()) == Some("shared") => {
                    MountSource::Volume {
                        name: wanted.to_string(),
                        driver: d.driver.clone().unwrap_or("local".into()),
                        driver_opts: d.driver_opts.clone().unwrap_or_default(),
                        labels: d.labels.clone().unwrap_or_default(),
                        must_exist: d.autoprovision == Some(false),
                    }
                }
                (_, d) => {
                    // A task-scoped volume: one per task, labelled with the task so the
                    // agent removes it with the task's containers.
                    let d = d.as_ref();
                    let mut labels = d.and_then(|d| d.labels.clone()).unwrap_or_default();
                    labels.insert(
                        LABEL_TASK_ARN.into(),
                        task.task_arn.clone().unwrap_or_default(),
                    );
                    MountSource::Volume {
                        name: runtime_name(task, def, wanted),
                        driver: d.and_then(|d| d.driver.clone()).unwrap_or("local".into()),
                        driver_opts: d.and_then(|d| d.driver_opts.clone()).unwrap_or_default(),
                        labels,
                        must_exist: false,
                    }
                }
            };
            Some(MountSpec {
                source,
                target: m.container_path.clone().unwrap_or_default(),
                read_only: m.read_only.unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
