//! The agent's control loop: register the capacity this host offers (a container
//! instance of a cluster, a Fargate pool member, or both), then, every poll interval,
//! read the assignments and the runtime's containers, plan each task
//! ([`crate::plan`]) and apply the actions. Level-triggered: each pass starts from what
//! the control plane and the runtime say now, so a missed event, an unreachable control
//! plane or an agent restart (containers are re-adopted by their labels, the container
//! instance ARNs are kept in a state file) loses nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_api::agent::{Assignment, CapacityKind, RegisterRequest};
use berth_api::ecs::{Attribute, VersionInfo};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::channel::{Channel, ChannelError};
use crate::config::AgentConfig;
use crate::plan::{plan, Action};
use crate::runtime::{ContainerState, Phase, Runtime, LABEL_CONTAINER_INSTANCE};

/// Capabilities this agent advertises, as the ECS agent names them.
pub const CAPABILITIES: &[&str] = &[
    "com.amazonaws.ecs.capability.docker-remote-api.1.18",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19",
    "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "ecs.capability.container-ordering",
    "ecs.capability.container-health-check",
];

/// How to run an agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub server: String,
    pub token: String,
    pub config: AgentConfig,
    /// Offer a container instance of `config.cluster` (EC2 launch type).
    pub ec2: bool,
    /// Offer Fargate pool capacity.
    pub fargate: bool,
    /// CPU units (cores × 1024) and MiB this host offers, before reservations.
    pub cpu: i64,
    pub memory_mib: i64,
    /// Keeps the container instance ARNs across restarts.
    pub state_file: Option<PathBuf>,
    pub poll_interval: Duration,
    pub heartbeat_interval: Duration,
}

/// The ARNs this agent registered as, kept so a restarted agent takes them up again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Registrations {
    ec2: Option<String>,
    fargate: Option<String>,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot register with the control plane: {0}")]
    Register(#[from] ChannelError),
    #[error("cannot keep the agent state in {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("the agent offers no capacity: enable EC2 and/or Fargate capacity")]
    NothingOffered,
}

/// A running agent.
pub struct Agent {
    /// The container instance ARNs it registered as (EC2 first, when offered).
    pub container_instance_arns: Vec<String>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Agent {
    /// Registers and starts the control loop.
    pub async fn start(
        options: AgentOptions,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Agent, AgentError> {
        if !options.ec2 && !options.fargate {
            return Err(AgentError::NothingOffered);
        }
        let channel = Channel::new(&options.server, &options.token);
        let mut saved = load_state(options.state_file.as_ref())?;
        let mut arns = Vec::new();
        for (kind, offered) in [
            (CapacityKind::Ec2, options.ec2),
            (CapacityKind::Fargate, options.fargate),
        ] {
            if !offered {
                continue;
            }
            let slot = match kind {
                CapacityKind::Ec2 => &mut saved.ec2,
                CapacityKind::Fargate => &mut saved.fargate,
            };
            let registered = channel
                .register(&register_request(&options, kind, slot.clone()))
                .await?;
            *slot = Some(registered.container_instance_arn.clone());
            arns.push(registered.container_instance_arn);
        }
        save_state(options.state_file.as_ref(), &saved)?;
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(run(channel, runtime, options, arns.clone(), stopped));
        Ok(Agent {
            container_instance_arns: arns,
            stop,
            handle,
        })
    }

    /// Stops the loop; containers keep running (a restarted agent re-adopts them).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

fn register_request(
    options: &AgentOptions,
    kind: CapacityKind,
    previous: Option<String>,
) -> RegisterRequest {
    let config = &options.config;
    let mut attributes: Vec<Attribute> = CAPABILITIES
        .iter()
        .map(|c| Attribute {
            name: c.to_string(),
            value: None,
            target_type: None,
            target_id: None,
        })
        .collect();
    if kind == CapacityKind::Fargate {
        attributes.push(Attribute {
            name: "ecs.capability.task-eni".into(),
            value: None,
            target_type: None,
            target_id: None,
        });
    }
    for driver in &config.logging_drivers {
        attributes.push(Attribute {
            name: format!("com.amazonaws.ecs.capability.logging-driver.{driver}"),
            value: None,
            target_type: None,
            target_id: None,
        });
    }
    let mut custom: Vec<(String, Option<String>)> = config
        .instance_attributes
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    if let Some(az) = &config.availability_zone {
        custom.push(("ecs.availability-zone".into(), Some(az.clone())));
    }
    custom.push(("ecs.os-type".into(), Some("linux".into())));
    custom.push((
        "ecs.cpu-architecture".into(),
        Some(std::env::consts::ARCH.replace("aarch64", "arm64")),
    ));
    attributes.extend(custom.into_iter().map(|(name, value)| Attribute {
        name,
        value,
        target_type: None,
        target_id: None,
    }));
    RegisterRequest {
        kind,
        cluster: (kind == CapacityKind::Ec2).then(|| config.cluster.clone()),
        container_instance_arn: previous,
        ec2_instance_id: None,
        cpu: options.cpu,
        memory: (options.memory_mib - config.reserved_memory_mib as i64).max(0),
        reserved_ports_tcp: config.reserved_ports_tcp.clone(),
        reserved_ports_udp: config.reserved_ports_udp.clone(),
        gpu_ids: vec![],
        attributes,
        version_info: Some(VersionInfo {
            agent_version: Some(format!("berth-agent {}", env!("CARGO_PKG_VERSION"))),
            agent_hash: None,
            docker_version: None,
        }),
    }
}

fn load_state(path: Option<&PathBuf>) -> Result<Registrations, AgentError> {
    let Some(path) = path else {
        return Ok(Registrations::default());
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AgentError::State {
            path: path.clone(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registrations::default()),
        Err(e) => Err(AgentError::State {
            path: path.clone(),
            reason: e.to_string(),
        }),
    }
}

fn save_state(path: Option<&PathBuf>, state: &Registrations) -> Result<(), AgentError> {
    let Some(path) = path else { return Ok(()) };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(state).expect("state serializes"))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| AgentError::State {
            path: path.clone(),
            reason: e.to_string(),
        })
}

/// What the loop remembers between passes; everything else is read anew each pass.
#[derive(Default)]
struct Memory {
    /// Runtime errors that failed a task's start, by task ARN.
    failed_to_start: HashMap<String, String>,
    /// When a container was first seen without an assigned task, by container id.
    orphaned_since: HashMap<String, Instant>,
}

async fn run(
    channel: Channel,
    runtime: Arc<dyn Runtime>,
    options: AgentOptions,
    arns: Vec<String>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut memory = Memory::default();
    let mut last_heartbeat: Option<Instant> = None;
    loop {
        if last_heartbeat.is_none_or(|t| t.elapsed() >= options.heartbeat_interval) {
            for arn in &arns {
                if let Err(e) = channel.heartbeat(arn).await {
                    tracing::warn!(%arn, error = %e, "heartbeat failed; will retry");
                }
            }
            last_heartbeat = Some(Instant::now());
        }
        if let Err(e) = pass(&channel, &*runtime, &options, &arns, &mut memory).await {
            tracing::warn!(error = %e, "agent pass failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(options.poll_interval) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// One pass over every assigned task and every container this agent manages.
async fn pass(
    channel: &Channel,
    runtime: &dyn Runtime,
    options: &AgentOptions,
    arns: &[String],
    memory: &mut Memory,
) -> Result<(), ChannelError> {
    let mut assigned: Vec<(&str, Assignment)> = Vec::new();
    for arn in arns {
        for a in channel.assignments(arn).await?.tasks {
            assigned.push((arn, a));
        }
    }
    let observed = runtime
        .list()
        .await
        .map_err(|e| ChannelError::Unreachable(format!("container runtime: {e}")))?;
    let mut by_task: HashMap<String, Vec<ContainerState>> = HashMap::new();
    let ours = |c: &ContainerState| {
        c.container_instance()
            .is_some_and(|i| arns.iter().any(|a| a == i))
    };
    for c in observed.into_iter().filter(ours) {
        by_task
            .entry(c.task_arn().unwrap_or_default().to_string())
            .or_default()
            .push(c);
    }
    for (reporter, a) in &assigned {
        let task_arn = a.task.task_arn.clone().unwrap_or_default();
        let containers = by_task.remove(&task_arn).unwrap_or_default();
        let failure = memory.failed_to_start.get(&task_arn).cloned();
        let actions = plan(
            &a.task,
            &a.task_definition,
            &containers,
            failure.as_deref(),
            options.config.stop_timeout,
        );
        for action in actions {
            apply(channel, runtime, reporter, &task_arn, action, memory).await?;
        }
    }
    let live: std::collections::HashSet<String> = assigned
        .iter()
        .filter_map(|(_, a)| a.task.task_arn.clone())
        .collect();
    memory.failed_to_start.retain(|arn, _| live.contains(arn));
    let orphans: Vec<ContainerState> = by_task.into_values().flatten().collect();
    memory
        .orphaned_since
        .retain(|id, _| orphans.iter().any(|c| c.id == *id));
    for c in orphans {
        let since = *memory
            .orphaned_since
            .entry(c.id.clone())
            .or_insert_with(Instant::now);
        match c.phase {
            Phase::Running => {
                let _ = runtime.stop(&c.id, options.config.stop_timeout).await;
            }
            _ if since.elapsed() >= options.config.cleanup_wait => {
                let _ = runtime.remove(&c.id).await;
            }
            _ => {}
        }
    }
    Ok(())
}

async fn apply(
    channel: &Channel,
    runtime: &dyn Runtime,
    reporter: &str,
    task_arn: &str,
    action: Action,
    memory: &mut Memory,
) -> Result<(), ChannelError> {
    let failed = |memory: &mut Memory, e: crate::runtime::RuntimeError| {
        tracing::warn!(task = task_arn, error = %e, "task failed to start");
        memory
            .failed_to_start
            .insert(task_arn.to_string(), e.to_string());
    };
    match action {
        Action::Create(mut spec) => {
            spec.labels
                .insert(LABEL_CONTAINER_INSTANCE.into(), reporter.to_string());
            let created = match runtime.pull(&spec.image).await {
                Ok(()) => runtime.create(&spec).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = created {
                failed(memory, e);
            }
        }
        Action::Start { id, .. } => {
            if let Err(e) = runtime.start(&id).await {
                failed(memory, e);
            }
        }
        Action::Stop { id, timeout } => {
            if let Err(e) = runtime.stop(&id, timeout).await {
                tracing::warn!(container = %id, error = %e, "stop failed; will retry");
            }
        }
        Action::Report(report) => channel.report(reporter, &report).await?,
    }
    Ok(())
}
