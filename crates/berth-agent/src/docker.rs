//! The [`Runtime`] on the Docker Engine API, through bollard (the maintained async Rust
//! client of that API). Containers are found again by their `com.amazonaws.ecs.task-arn`
//! label; phases, exit codes, health, addresses and published ports come from
//! inspecting them, and the engine's event stream tells the agent when to look again.
//!
//! Every field of [`ContainerSpec`] maps onto Docker's create call. The pause image is
//! imported from [`crate::pause`] the first time it is needed; other images are pulled
//! per the pull behaviour, with credentials from the Docker client configuration
//! ([`crate::registry_auth`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::ecs::HealthStatus;
use bollard::auth::DockerCredentials;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, DeviceMapping,
    DeviceRequest, ExecConfig, HealthConfig, HealthStatusEnum, HostConfig, HostConfigLogConfig,
    Ipam, IpamConfig, Mount, MountType, MountVolumeOptions, MountVolumeOptionsDriverConfig,
    NetworkCreateRequest, PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    InspectContainerOptions, InspectNetworkOptions, ListContainersOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions, ResizeExecOptionsBuilder, StartContainerOptions, StatsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::Notify;

use crate::config::PullBehavior;
use crate::runtime::{
    ContainerDetails, ContainerSpec, ContainerState, ContainerUsage, ExecControl, ExecOutput,
    ExecProcess, ExecSpec, MountSource, NetworkSpec, OutputLine, OutputLines, Phase, PublishedPort,
    PullAuth, Runtime, RuntimeError, LABEL_TASK_ARN, PAUSE_IMAGE,
};

/// The Docker Engine.
pub struct DockerRuntime {
    docker: Docker,
    pull_behavior: PullBehavior,
    /// Signalled on each container event once [`Runtime::changed`] has been called.
    events: Arc<Notify>,
    watching: AtomicBool,
    /// The engine's data root (`DockerRootDir`), once asked; `None` when it cannot be
    /// read from here (then container output comes through the logs API).
    root_dir: tokio::sync::OnceCell<Option<PathBuf>>,
    /// The manifest digest each image (by id and the reference a container names it by)
    /// was pulled by, once known.
    repo_digests: std::sync::Mutex<HashMap<String, String>>,
}

fn unavailable(e: bollard::errors::Error) -> RuntimeError {
    RuntimeError::Unavailable(e.to_string())
}

impl DockerRuntime {
    /// Connects to `host` (`unix:///path/to/docker.sock`), or to `DOCKER_HOST` / the
    /// default socket when `None`.
    pub fn connect(host: Option<&str>, pull_behavior: PullBehavior) -> Result<Self, RuntimeError> {
        let docker = match host.and_then(|h| h.strip_prefix("unix://")) {
            Some(path) => Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION),
            None => Docker::connect_with_local_defaults(),
        }
        .map_err(unavailable)?;
        Ok(DockerRuntime {
            docker,
            pull_behavior,
            events: Arc::new(Notify::new()),
            watching: AtomicBool::new(false),
            root_dir: tokio::sync::OnceCell::new(),
            repo_digests: Default::default(),
        })
    }

    /// The manifest digest `image` (as the container names it) was pulled by, from the
    /// image's `RepoDigests`; the image id when no registry gave one (an imported or
    /// locally built image).
    async fn image_digest(&self, image: &str, image_id: &str) -> String {
        let key = format!("{image_id} {image}");
        if let Some(d) = self
            .repo_digests
            .lock()
            .expect("repo digests lock")
            .get(&key)
        {
            return d.clone();
        }
        let Ok(inspected) = self.docker.inspect_image(image_id).await else {
            return image_id.to_string();
        };
        match repo_digest(image, &inspected.repo_digests.unwrap_or_default()) {
            // A repository's digest for an image id never changes: keep it. (Without
            // one, ask again next time: a pull of this image may add it.)
            Some(d) => {
                self.repo_digests
                    .lock()
                    .expect("repo digests lock")
                    .insert(key, d.clone());
                d
            }
            None => image_id.to_string(),
        }
    }

    /// The engine's version (also a check that it answers).
    pub async fn version(&self) -> Result<String, RuntimeError> {
        let v = self.docker.version().await.map_err(unavailable)?;
        Ok(v.version.unwrap_or_default())
    }

    /// The engine host's CPUs and memory (MiB), as the engine reports them: the capacity
    /// its containers share, which is the agent's own host's only when the engine is
    /// local, and not cut down by any CPU quota on the agent's process (ECS's agent
    /// counts CPUs the same way, ignoring quotas).
    pub async fn host_resources(&self) -> Result<(i64, i64), RuntimeError> {
        let info = self.docker.info().await.map_err(unavailable)?;
        match (info.ncpu, info.mem_total) {
            (Some(cpus), Some(bytes)) if cpus > 0 && bytes > 0 => Ok((cpus, bytes / (1024 * 1024))),
            _ => Err(RuntimeError::Unavailable(
                "the engine's /info reports no NCPU or MemTotal".into(),
            )),
        }
    }

    /// Where Docker's `local` driver keeps container `id`'s output, when the agent can
    /// read it there: the container logs through that driver with plain (uncompressed)
    /// rotations, and the engine's data root is visible from this process.
    pub async fn local_log_dir(&self, id: &str) -> Option<PathBuf> {
        let details = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .ok()?;
        let config = details.host_config?.log_config?;
        let plain = config
            .config
            .as_ref()
            .and_then(|options| options.get("compress"))
            .is_some_and(|compress| compress == "false");
        if config.typ.as_deref() != Some("local") || !plain {
            return None;
        }
        let root = self
            .root_dir
            .get_or_init(|| async {
                let info = self.docker.info().await.ok()?;
                let root = PathBuf::from(info.docker_root_dir?);
                root.join("containers").is_dir().then_some(root)
            })
            .await
            .as_ref()?;
        // The driver makes `local-logs` when the container first starts.
        let container = root.join("containers").join(details.id?);
        container.is_dir().then(|| container.join("local-logs"))
    }

    async fn present(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }

    /// Imports the pause image from the bytes Berth carries.
    async fn import_pause(&self) -> Result<(), RuntimeError> {
        let tar = crate::pause::rootfs_tar().ok_or_else(|| {
            RuntimeError::Pull(format!(
                "Berth has no pause program for {}; awsvpc tasks cannot run here",
                std::env::consts::ARCH
            ))
        })?;
        let (repo, tag) = PAUSE_IMAGE
            .rsplit_once(':')
            .unwrap_or((PAUSE_IMAGE, "latest"));
        let options = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .build();
        let body = bollard::body_full(tar.into());
        let mut progress = self.docker.create_image(Some(options), Some(body), None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| RuntimeError::Pull(format!("import the pause image: {e}")))?;
        }
        Ok(())
    }

    /// Creates the volumes a spec mounts that must exist first: shared volumes with
    /// autoprovision off are checked, not created.
    async fn check_volumes(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        for m in &spec.mounts {
            if let MountSource::Volume {
                name,
                must_exist: true,
                ..
            } = &m.source
            {
                self.docker.inspect_volume(name).await.map_err(|_| {
                    RuntimeError::Create(format!(
                        "volume {name} does not exist and its autoprovision is false"
                    ))
                })?;
            }
        }
        Ok(())
    }
}

/// Docker's create body for `spec`.
fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let joins_other = matches!(spec.network, NetworkSpec::Container(_));
    let network_mode = match &spec.network {
        NetworkSpec::Bridge => "bridge".to_string(),
        NetworkSpec::Host => "host".to_string(),
        NetworkSpec::None => "none".to_string(),
        NetworkSpec::Task(name) => name.clone(),
        NetworkSpec::Container(id) => format!("container:{id}"),
    };
    let port = |p: &crate::runtime::PortSpec| format!("{}/{}", p.container_port, p.protocol);
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .ports
        .iter()
        .map(|p| {
            let binding = PortBinding {
                host_ip: None,
                host_port: Some(p.host_port.map(|h| h.to_string()).unwrap_or_default()),
            };
            (port(p), Some(vec![binding]))
        })
        .collect();
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for m in &spec.mounts {
        match &m.source {
            MountSource::HostPath(path) => binds.push(format!(
                "{path}:{}{}",
                m.target,
                if m.read_only { ":ro" } else { "" }
            )),
            MountSource::Volume {
                name,
                driver,
                driver_opts,
                labels,
                ..
            } => mounts.push(Mount {
                target: Some(m.target.clone()),
                source: Some(name.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(m.read_only),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(labels.clone().into_iter().collect()),
                    driver_config: Some(MountVolumeOptionsDriverConfig {
                        name: Some(driver.clone()),
                        options: Some(driver_opts.clone().into_iter().collect()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }
    let mib = |m: i64| m * 1024 * 1024;
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entry_point.clone(),
        cmd: spec.command.clone(),
        env: Some(
            spec.environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(spec.labels.clone().into_iter().collect()),
        stop_timeout: Some(spec.stop_timeout.as_secs() as i64),
        user: spec.user.clone(),
        working_dir: spec.working_directory.clone(),
        // A container in another's namespace takes that namespace's hostname.
        hostname: spec.hostname.clone().filter(|_| !joins_other),
        open_stdin: Some(spec.interactive),
        tty: Some(spec.tty),
        exposed_ports: Some(spec.ports.iter().map(port).collect()),
        healthcheck: spec.health_check.as_ref().map(|h| HealthConfig {
            test: Some(h.command.clone()),
            interval: Some(h.interval.as_nanos() as i64),
            timeout: Some(h.timeout.as_nanos() as i64),
            retries: Some(i64::from(h.retries)),
            start_period: Some(h.start_period.as_nanos() as i64),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            network_mode: Some(network_mode),
            port_bindings: Some(port_bindings),
            cpu_shares: spec.cpu_shares,
            nano_cpus: spec.nano_cpus,
            memory: spec.memory_mib.map(mib),
            memory_reservation: spec.memory_reservation_mib.map(mib),
            memory_swap: spec
                .max_swap_mib
                .zip(spec.memory_mib)
                .map(|(swap, mem)| mib(swap + mem)),
            memory_swappiness: spec.swappiness,
            privileged: Some(spec.privileged),
            readonly_rootfs: Some(spec.readonly_root_filesystem),
            extra_hosts: (!joins_other).then(|| spec.extra_hosts.clone()),
            dns: (!joins_other).then(|| spec.dns_servers.clone()),
            dns_search: (!joins_other).then(|| spec.dns_search.clone()),
            binds: Some(binds),
            mounts: Some(mounts),
            volumes_from: Some(spec.volumes_from.clone()),
            links: Some(spec.links.clone()),
            ulimits: Some(
                spec.ulimits
                    .iter()
                    .map(|u| ResourcesUlimits {
                        name: Some(u.name.clone()),
                        soft: Some(u.soft),
                        hard: Some(u.hard),
                    })
                    .collect(),
            ),
            init: spec.init.then_some(true),
            cap_add: Some(spec.cap_add.clone()),
            cap_drop: Some(spec.cap_drop.clone()),
            devices: Some(
                spec.devices
                    .iter()
                    .map(|d| DeviceMapping {
                        path_on_host: Some(d.host_path.clone()),
                        path_in_container: Some(d.container_path.clone()),
                        cgroup_permissions: Some(d.permissions.clone()),
                    })
                    .collect(),
            ),
            shm_size: spec.shm_size_mib.map(mib),
            device_requests: (!spec.gpu_ids.is_empty()).then(|| {
                vec![DeviceRequest {
                    driver: Some("nvidia".into()),
                    device_ids: Some(spec.gpu_ids.clone()),
                    capabilities: Some(vec![vec!["gpu".into()]]),
                    ..Default::default()
                }]
            }),
            tmpfs: Some(spec.tmpfs.clone().into_iter().collect()),
            sysctls: Some(spec.sysctls.clone().into_iter().collect()),
            security_opt: Some(spec.security_opts.clone()),
            log_config: spec
                .log_driver
                .as_ref()
                .map(|(driver, options)| HostConfigLogConfig {
                    typ: Some(driver.clone()),
                    config: Some(options.clone().into_iter().collect()),
                }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container's state from Docker's inspect answer.
fn state_of(id: String, inspected: ContainerInspectResponse) -> ContainerState {
    let state = inspected.state.unwrap_or_default();
    let phase = match state.status {
        Some(ContainerStateStatusEnum::CREATED) | None => Phase::Created,
        Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => {
            Phase::Exited {
                code: state.exit_code.unwrap_or(0) as i32,
            }
        }
        Some(_) => Phase::Running,
    };
    let health = state.health.and_then(|h| h.status).and_then(|h| match h {
        HealthStatusEnum::HEALTHY => Some(HealthStatus::Healthy),
        HealthStatusEnum::UNHEALTHY => Some(HealthStatus::Unhealthy),
        HealthStatusEnum::STARTING => Some(HealthStatus::Unknown),
        _ => None,
    });
    let config = inspected.config.unwrap_or_default();
    let settings = inspected.network_settings.unwrap_or_default();
    let (network, ipv4) = settings
        .networks
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|(name, endpoint)| (name, endpoint.ip_address.filter(|ip| !ip.is_empty())))
        .unwrap_or_else(|| {
            let mode = inspected
                .host_config
                .and_then(|h| h.network_mode)
                .unwrap_or_default();
            (mode, None)
        });
    let mut ports = Vec::new();
    for (key, bindings) in settings.ports.unwrap_or_default() {
        let (container_port, protocol) = key.split_once('/').unwrap_or((&key, "tcp"));
        let Ok(container_port) = container_port.parse() else {
            continue;
        };
        for b in bindings.into_iter().flatten() {
            let Some(host_port) = b.host_port.and_then(|p| p.parse().ok()) else {
                continue;
            };
            ports.push(PublishedPort {
                container_port,
                host_port,
                protocol: protocol.to_string(),
                host_ip: b.host_ip.unwrap_or_default(),
            });
        }
    }
    ports.sort_by_key(|p| (p.container_port, p.host_ip.clone()));
    let time = |t: Option<String>| t.filter(|t| !t.starts_with("0001-")).unwrap_or_default();
    ContainerState {
        id,
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        phase,
        health,
        details: ContainerDetails {
            runtime_name: inspected
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: config.image.unwrap_or_default(),
            image_id: inspected.image.unwrap_or_default(),
            image_digest: String::new(),
            created_at: time(inspected.created.map(|c| c.to_string())),
            started_at: time(state.started_at),
            finished_at: time(state.finished_at),
            network,
            ipv4,
            ports,
        },
    }
}

/// Of an image's `RepoDigests` (`REPOSITORY@sha256:...`), the digest of the one whose
/// repository `image` names (`REPOSITORY[:TAG]` or `REPOSITORY@DIGEST`).
fn repo_digest(image: &str, repo_digests: &[String]) -> Option<String> {
    let repository = match image.split_once('@') {
        Some((repo, _)) => repo,
        // A `:` after the last `/` starts the tag (one before it is a registry's port).
        None => match image.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => repo,
            _ => image,
        },
    };
    repo_digests.iter().find_map(|d| {
        let (repo, digest) = d.split_once('@')?;
        (repo == repository).then(|| digest.to_string())
    })
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn pull(&self, image: &str, auth: Option<&PullAuth>) -> Result<(), RuntimeError> {
        let cached = self.present(image).await;
        if image == PAUSE_IMAGE {
            return match cached {
                true => Ok(()),
                false => self.import_pause().await,
            };
        }
        if cached
            && matches!(
                self.pull_behavior,
                PullBehavior::Once | PullBehavior::PreferCached
            )
        {
            return Ok(());
        }
        let options = CreateImageOptionsBuilder::new().from_image(image).build();
        let credentials = match auth {
            Some(auth) => Some(DockerCredentials {
                username: Some(auth.username.clone()),
                password: Some(auth.password.clone()),
                serveraddress: Some(auth.server.clone()),
                ..Default::default()
            }),
            None => crate::registry_auth::credentials_for(image),
        };
        let began = tokio::time::Instant::now();
        tracing::info!(image, "pulling");
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        let mut failure = None;
        let mut layers_done = 0;
        while let Some(step) = progress.next().await {
            match step {
                Ok(info) if info.status.as_deref() == Some("Pull complete") => {
                    layers_done += 1;
                    tracing::info!(
                        image,
                        layer = info.id.as_deref().unwrap_or(""),
                        layers_done,
                        "layer pulled"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if failure.is_none() {
            tracing::info!(image, seconds = began.elapsed().as_secs_f64(), "pulled");
        }
        match failure {
            None => Ok(()),
            Some(_) if cached && self.pull_behavior == PullBehavior::Default => {
                tracing::info!(image, "pull failed; using the cached image");
                Ok(())
            }
            Some(e) => Err(RuntimeError::Pull(format!("pull image {image}: {e}"))),
        }
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        self.check_volumes(spec).await?;
        let options = (!spec.runtime_name.is_empty()).then(|| {
            CreateContainerOptionsBuilder::new()
                .name(&spec.runtime_name)
                .build()
        });
        let created = self
            .docker
            .create_container(options, create_body(spec))
            .await
            .map_err(|e| RuntimeError::Create(e.to_string()))?;
        Ok(created.id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| RuntimeError::Start(e.to_string()))
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let options = StopContainerOptionsBuilder::new()
            .t(timeout.as_secs() as i32)
            .build();
        match self.docker.stop_container(id, Some(options)).await {
            // 304: it had already stopped.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(RuntimeError::Stop(e.to_string())),
        }
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        self.docker
            .remove_container(id, Some(options))
            .await
            .map_err(unavailable)
    }

    async fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let filters: HashMap<&str, Vec<&str>> = [("label", vec![LABEL_TASK_ARN])].into();
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(unavailable)?;
        let inspections = summaries.into_iter().filter_map(|s| s.id).map(|id| async {
            let inspected = self
                .docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await;
            // Removed between list and inspect: it is gone.
            let mut state = state_of(id, inspected.ok()?);
            let details = &mut state.details;
            details.image_digest = self.image_digest(&details.image, &details.image_id).await;
            Some(state)
        });
        Ok(futures::future::join_all(inspections)
            .await
            .into_iter()
            .flatten()
            .collect())
    }

    async fn remove_task_volumes(&self, task_arn: &str) -> Result<(), RuntimeError> {
        let label = format!("{LABEL_TASK_ARN}={task_arn}");
        let filters: HashMap<&str, Vec<&str>> = [("label", vec![label.as_str()])].into();
        let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let volumes = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(unavailable)?;
        for v in volumes.volumes.into_iter().flatten() {
            // A volume still mounted by a container is kept until the next sweep.
            let _ = self
                .docker
                .remove_volume(&v.name, None::<RemoveVolumeOptions>)
                .await;
        }
        Ok(())
    }

    async fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        let options = StatsOptionsBuilder::new().stream(false).build();
        let mut stream = self.docker.stats(id, Some(options));
        match stream.next().await {
            Some(Ok(stats)) => serde_json::to_value(stats)
                .map_err(|e| RuntimeError::Unavailable(format!("stats of {id}: {e}"))),
            Some(Err(e)) => Err(unavailable(e)),
            None => Err(RuntimeError::Unavailable(format!("no stats for {id}"))),
        }
    }

    async fn usage(&self, id: &str) -> Result<ContainerUsage, RuntimeError> {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stream = self.docker.stats(id, Some(options));
        let stats = match stream.next().await {
            Some(Ok(stats)) => serde_json::to_value(stats)
                .map_err(|e| RuntimeError::Unavailable(format!("stats of {id}: {e}")))?,
            Some(Err(e)) => return Err(unavailable(e)),
            None => return Err(RuntimeError::Unavailable(format!("no stats for {id}"))),
        };
        ContainerUsage::from_docker_stats(&stats)
            .ok_or_else(|| RuntimeError::Unavailable(format!("{id} reports no CPU use")))
    }

    async fn ensure_network(
        &self,
        name: &str,
        subnet: Option<&str>,
        bridge_name: Option<&str>,
    ) -> Result<Option<String>, RuntimeError> {
        let gateway = |n: bollard::models::NetworkInspect| {
            n.ipam
                .and_then(|i| i.config)
                .into_iter()
                .flatten()
                .find_map(|c| c.gateway)
        };
        if let Ok(n) = self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
        {
            // An existing network must be the one the settings describe, or tasks would
            // land on a bridge the host was not prepared for.
            let actual_bridge = n
                .options
                .as_ref()
                .and_then(|o| o.get("com.docker.network.bridge.name").cloned());
            if let Some(want) = bridge_name.filter(|b| actual_bridge.as_deref() != Some(*b)) {
                return Err(RuntimeError::Create(format!(
                    "network {name} exists on bridge {} but BERTH_TASK_BRIDGE asks for {want}; \
                     remove the network (docker network rm {name}) or change the setting",
                    actual_bridge.as_deref().unwrap_or("(Docker-named)")
                )));
            }
            let subnets: Vec<String> = n
                .ipam
                .as_ref()
                .and_then(|i| i.config.clone())
                .into_iter()
                .flatten()
                .filter_map(|c| c.subnet)
                .collect();
            if let Some(want) = subnet.filter(|s| !subnets.iter().any(|have| have == s)) {
                return Err(RuntimeError::Create(format!(
                    "network {name} exists with subnet {} but BERTH_TASK_SUBNET asks for {want}; \
                     remove the network (docker network rm {name}) or change the setting",
                    subnets.join(", ")
                )));
            }
            return Ok(gateway(n));
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            ipam: subnet.map(|s| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(s.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            options: bridge_name.map(|b| {
                HashMap::from([("com.docker.network.bridge.name".to_string(), b.to_string())])
            }),
            labels: Some(HashMap::from([(
                "berth.network".to_string(),
                "awsvpc".to_string(),
            )])),
            ..Default::default()
        };
        if let Err(e) = self.docker.create_network(request).await {
            // Another agent on this engine may be creating it at the same moment: the
            // engine reserves the address pool (so ours fails with "Pool overlaps")
            // before the network can be inspected; give it a moment to appear.
            let mut appeared = false;
            for _ in 0..30 {
                if self
                    .docker
                    .inspect_network(name, None::<InspectNetworkOptions>)
                    .await
                    .is_ok()
                {
                    appeared = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            if !appeared {
                return Err(RuntimeError::Create(format!("network {name}: {e}")));
            }
        }
        let n = self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
            .map_err(unavailable)?;
        Ok(gateway(n))
    }

    async fn network_subnet(&self, name: &str) -> Option<String> {
        let n = self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
            .ok()?;
        n.ipam?.config?.into_iter().find_map(|c| c.subnet)
    }

    async fn changed(&self) {
        if !self.watching.swap(true, Ordering::SeqCst) {
            tokio::spawn(watch_events(self.docker.clone(), self.events.clone()));
        }
        self.events.notified().await
    }

    async fn exec(&self, id: &str, spec: &ExecSpec) -> Result<ExecProcess, RuntimeError> {
        self.start_exec(id, spec).await
    }

    async fn logs(
        &self,
        id: &str,
        since_secs: i64,
        follow: bool,
    ) -> Result<OutputLines, RuntimeError> {
        if let Some(dir) = self.local_log_dir(id).await {
            return crate::local_log::read(dir, since_secs.saturating_mul(1_000_000_000), follow);
        }
        let options = LogsOptionsBuilder::new()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(since_secs.clamp(0, i64::from(i32::MAX)) as i32)
            .build();
        let frames = self.docker.logs(id, Some(options));
        let mut last_ns = 0;
        let lines = frames.flat_map(move |frame| {
            let lines: Vec<Result<OutputLine, RuntimeError>> = match frame {
                Ok(output) => {
                    let text = String::from_utf8_lossy(&output.into_bytes()).into_owned();
                    text.split_terminator('\n')
                        .map(|line| {
                            let line = parse_output_line(line, last_ns);
                            last_ns = line.timestamp_ns;
                            Ok(line)
                        })
                        .collect()
                }
                Err(e) => vec![Err(RuntimeError::Unavailable(e.to_string()))],
            };
            futures::stream::iter(lines)
        });
        Ok(lines.boxed())
    }
}

/// A started `docker exec`: resized and asked for its exit code by its id.
struct DockerExec {
    docker: Docker,
    id: String,
}

#[async_trait]
impl ExecControl for DockerExec {
    async fn resize(&self, cols: u16, rows: u16) -> Result<(), RuntimeError> {
        let size = ResizeExecOptionsBuilder::default()
            .w(i32::from(cols))
            .h(i32::from(rows))
            .build();
        self.docker
            .resize_exec(&self.id, size)
            .await
            .map_err(|e| RuntimeError::Exec(e.to_string()))
    }

    async fn exit_code(&self) -> Result<i32, RuntimeError> {
        // The output ends a moment before the engine records the exit.
        for _ in 0..50 {
            let inspected = self
                .docker
                .inspect_exec(&self.id)
                .await
                .map_err(|e| RuntimeError::Exec(e.to_string()))?;
            if inspected.running != Some(true) {
                if let Some(code) = inspected.exit_code {
                    return Ok(code as i32);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(RuntimeError::Exec(
            "the engine did not report the command's exit code".into(),
        ))
    }
}

impl DockerRuntime {
    /// `docker exec -i [-t]`: created and started attached.
    async fn start_exec(&self, id: &str, spec: &ExecSpec) -> Result<ExecProcess, RuntimeError> {
        let failed = |e: bollard::errors::Error| RuntimeError::Exec(e.to_string());
        let created = self
            .docker
            .create_exec(
                id,
                ExecConfig {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(spec.tty),
                    cmd: Some(spec.command.clone()),
                    console_size: spec
                        .size
                        .filter(|_| spec.tty)
                        .map(|(cols, rows)| vec![usize::from(rows), usize::from(cols)]),
                    ..Default::default()
                },
            )
            .await
            .map_err(failed)?;
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: spec.tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(failed)?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(RuntimeError::Exec(
                "the engine started the command detached".into(),
            ));
        };
        let output = output
            .filter_map(|frame| async move {
                match frame {
                    Ok(LogOutput::StdErr { message }) => {
                        Some(Ok(ExecOutput::Stderr(message.to_vec())))
                    }
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok(ExecOutput::Stdout(message.to_vec())))
                    }
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(RuntimeError::Exec(e.to_string()))),
                }
            })
            .boxed();
        Ok(ExecProcess {
            input,
            output,
            control: Box::new(DockerExec {
                docker: self.docker.clone(),
                id: created.id,
            }),
        })
    }
}

/// A line of `docker logs --timestamps`: `2024-05-01T12:00:00.123456789Z message`. A
/// line without a timestamp (a long line's continuation) keeps the previous one's.
fn parse_output_line(line: &str, previous_ns: i64) -> OutputLine {
    let parsed = line.split_once(' ').and_then(|(stamp, rest)| {
        let at = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .ok()?;
        Some((at.unix_timestamp_nanos() as i64, rest))
    });
    match parsed {
        Some((timestamp_ns, message)) => OutputLine {
            timestamp_ns,
            message: message.to_string(),
        },
        None => OutputLine {
            timestamp_ns: previous_ns,
            message: line.to_string(),
        },
    }
}

/// Follows the engine's container events, signalling `notify` on each; reconnects
/// after an error (the agent's periodic resync covers the gap).
async fn watch_events(docker: Docker, notify: Arc<Notify>) {
    loop {
        let filters: HashMap<&str, Vec<&str>> =
            [("type", vec!["container"]), ("label", vec![LABEL_TASK_ARN])].into();
        let options = EventsOptionsBuilder::new().filters(&filters).build();
        let mut events = docker.events(Some(options));
        while let Some(event) = events.next().await {
            notify.notify_one();
            if event.is_err() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_digest_is_the_one_of_the_repository_the_image_names() {
        let digests = vec![
            "127.0.0.1:7430/team/web@sha256:aaa".to_string(),
            "mirror/web@sha256:bbb".to_string(),
        ];
        let d = |image| super::repo_digest(image, &digests);
        assert_eq!(
            d("127.0.0.1:7430/team/web:v1").as_deref(),
            Some("sha256:aaa")
        );
        assert_eq!(d("127.0.0.1:7430/team/web").as_deref(), Some("sha256:aaa"));
        assert_eq!(d("mirror/web@sha256:bbb").as_deref(), Some("sha256:bbb"));
        assert_eq!(
            d("other:latest"),
            None,
            "another repository's digest is not this one's"
        );
        assert_eq!(super::repo_digest("x", &[]), None);
    }
}
