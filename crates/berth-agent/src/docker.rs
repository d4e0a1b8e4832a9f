//! The [`Runtime`] on the Docker Engine API, through bollard (the maintained async Rust
//! client of that API). Containers are found again by their `com.amazonaws.ecs.task-arn`
//! label; exit codes and health come from inspecting them.
//!
//! Covered so far: image, entryPoint, command, environment, labels, stopTimeout, cpu
//! shares, memory and memoryReservation, user, workingDirectory, hostname, privileged,
//! readonlyRootFilesystem, extraHosts, dnsServers, healthCheck, and the image pull
//! behaviour. What
//! is not covered yet is refused with a reason by [`crate::plan::unsupported`].

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::ecs::HealthStatus;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, HealthConfig, HealthStatusEnum, HostConfig,
};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;

use crate::config::PullBehavior;
use crate::runtime::{ContainerSpec, ContainerState, Phase, Runtime, RuntimeError, LABEL_TASK_ARN};

/// The Docker Engine.
pub struct DockerRuntime {
    docker: Docker,
    pull_behavior: PullBehavior,
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
        })
    }

    /// The engine's version (also a check that it answers).
    pub async fn version(&self) -> Result<String, RuntimeError> {
        let v = self.docker.version().await.map_err(unavailable)?;
        Ok(v.version.unwrap_or_default())
    }

    async fn present(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn pull(&self, image: &str) -> Result<(), RuntimeError> {
        let cached = self.present(image).await;
        if cached
            && matches!(
                self.pull_behavior,
                PullBehavior::Once | PullBehavior::PreferCached
            )
        {
            return Ok(());
        }
        let options = CreateImageOptionsBuilder::new().from_image(image).build();
        let mut progress = self.docker.create_image(Some(options), None, None);
        let mut failure = None;
        while let Some(step) = progress.next().await {
            if let Err(e) = step {
                failure = Some(e.to_string());
                break;
            }
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
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: spec.entry_point.clone(),
            cmd: spec.command.clone(),
            env: Some(
                spec.environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            labels: Some(spec.labels.clone().into_iter().collect::<HashMap<_, _>>()),
            stop_timeout: Some(spec.stop_timeout.as_secs() as i64),
            user: spec.user.clone(),
            working_dir: spec.working_directory.clone(),
            hostname: spec.hostname.clone(),
            healthcheck: spec.health_check.as_ref().map(|h| HealthConfig {
                test: Some(h.command.clone()),
                interval: Some(h.interval.as_nanos() as i64),
                timeout: Some(h.timeout.as_nanos() as i64),
                retries: Some(i64::from(h.retries)),
                start_period: Some(h.start_period.as_nanos() as i64),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                cpu_shares: spec.cpu_shares,
                memory: spec.memory_mib.map(|m| m * 1024 * 1024),
                memory_reservation: spec.memory_reservation_mib.map(|m| m * 1024 * 1024),
                privileged: Some(spec.privileged),
                readonly_rootfs: Some(spec.readonly_root_filesystem),
                extra_hosts: Some(spec.extra_hosts.clone()),
                dns: Some(spec.dns_servers.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(None, body)
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
        self.docker
            .stop_container(id, Some(options))
            .await
            .map_err(|e| RuntimeError::Stop(e.to_string()))
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
        let mut out = Vec::with_capacity(summaries.len());
        for s in summaries {
            let Some(id) = s.id else { continue };
            let inspected = match self
                .docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await
            {
                Ok(i) => i,
                // Removed between list and inspect: it is gone.
                Err(_) => continue,
            };
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
            out.push(ContainerState {
                id,
                labels: s.labels.unwrap_or_default().into_iter().collect(),
                phase,
                health,
            });
        }
        Ok(out)
    }
}
