//! The agent's control loop: register the capacity this host offers (a container
//! instance of a cluster, a Fargate pool member, or both) with a join token, keeping the
//! agent credential the registration returns for every later call; learn this host's
//! task subnet and make the task network with it (routes to the other hosts' subnets
//! follow, see [`crate::routes`]); then run a pass whenever
//! something may have changed: the control plane's assignments (a long poll per
//! container instance), the runtime's containers (its event stream), or a periodic
//! resync. A pass reads the assignments and the runtime's containers, plans each task
//! ([`crate::plan`]) and applies the actions. Level-triggered: each pass starts from
//! what the control plane and the runtime say now, so a missed event, an unreachable
//! control plane or an agent restart (containers are re-adopted by their labels, the
//! container instance ARNs and the credential are kept in a state file, mode 0600)
//! loses nothing.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_api::agent::{
    Assignment, Assignments, CapacityKind, LogBatch, NetworkAssignment, NetworkRequest,
    RegisterRequest,
};
use berth_api::capability::{self, AgentFeatures};
use berth_api::cidr::Cidr;
use berth_api::ecs::{Attribute, TaskDefinition, Timestamp, VersionInfo};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::channel::{Channel, ChannelError};
use crate::config::AgentConfig;
use crate::endpoint::{Endpoint, View};
use crate::logship::{awslogs_of, stream_name, Shipment, Shippers};
use crate::plan::{plan, Action, Settings};
use crate::registry_login::RegistryLogin;
use crate::registry_trust::RegistryTrust;
use crate::runtime::{ContainerSpec, ContainerState, Phase, Runtime, LABEL_CONTAINER_INSTANCE};

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
    /// The host's GPUs (their UUIDs, as `nvidia-smi` reports them; see [`crate::gpu`]).
    pub gpu_ids: Vec<String>,
    /// The container runtime's version, reported in versionInfo.
    pub docker_version: Option<String>,
    /// Keeps the container instance ARNs across restarts.
    pub state_file: Option<PathBuf>,
    /// How often the agent resyncs when nothing signals a change.
    pub poll_interval: Duration,
    pub heartbeat_interval: Duration,
    /// The control plane's CA (PEM), when it serves HTTPS with a certificate of its own:
    /// trusted for the agent channel, and installed for Docker's pulls from its registry
    /// (in `config.docker_certs_dir`).
    pub ca_pem: Option<Vec<u8>>,
}

/// The ARNs this agent registered as and its own credential, kept so a restarted agent
/// takes them up again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Registrations {
    ec2: Option<String>,
    fargate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential: Option<String>,
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
    #[error("cannot prepare the task network {network}: {reason}")]
    Network { network: String, reason: String },
}

/// A running agent.
pub struct Agent {
    /// The container instance ARNs it registered as (EC2 first, when offered).
    pub container_instance_arns: Vec<String>,
    /// Where the task metadata and credentials endpoints listen, when they do.
    pub endpoint_url: Option<String>,
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
        let joining = match &options.ca_pem {
            Some(ca) => Channel::trusting(&options.server, &options.token, ca)?,
            None => Channel::new(&options.server, &options.token),
        };
        let mut saved = load_state(options.state_file.as_ref())?;
        let mut arns = Vec::new();
        for (kind, offered) in [
            (CapacityKind::Ec2, options.ec2),
            (CapacityKind::Fargate, options.fargate),
        ] {
            if !offered {
                continue;
            }
            let previous = match kind {
                CapacityKind::Ec2 => saved.ec2.clone(),
                CapacityKind::Fargate => saved.fargate.clone(),
            };
            let mut request = register_request(&options, kind, previous);
            request.agent_credential = saved.credential.clone();
            // Fargate capacity on a host that is also a container instance shares the
            // host's CPU and memory with it rather than counting them twice.
            if kind == CapacityKind::Fargate {
                request.same_host_as = arns.first().cloned();
            }
            let registered = match joining.register(&request).await {
                Ok(r) => r,
                // The join token may be revoked or expired by now: a restarted agent takes
                // up its own instances with its own credential.
                Err(ChannelError::Refused { status: 403, .. })
                    if saved.credential.is_some() && request.container_instance_arn.is_some() =>
                {
                    let own = joining.with_token(saved.credential.as_deref().unwrap_or_default());
                    own.register(&request).await?
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(credential) = registered.agent_credential {
                saved.credential = Some(credential);
            }
            match kind {
                CapacityKind::Ec2 => saved.ec2 = Some(registered.container_instance_arn.clone()),
                CapacityKind::Fargate => {
                    saved.fargate = Some(registered.container_instance_arn.clone())
                }
            }
            arns.push(registered.container_instance_arn);
        }
        // Every later call acts with the agent's own credential (the operator's token
        // and old servers give none: the agent then goes on with the token it has).
        let channel = match &saved.credential {
            Some(credential) => joining.with_token(credential),
            None => joining,
        };
        save_state(options.state_file.as_ref(), &saved)?;
        let config = &options.config;
        let assigned = task_subnet(&channel, &*runtime, &options, &arns).await?;
        let task_subnet = assigned
            .as_ref()
            .map(|a| a.subnet.clone())
            .or_else(|| config.task_subnet.clone());
        runtime
            .ensure_network(
                &config.task_network,
                task_subnet.as_deref(),
                config.task_bridge.as_deref(),
            )
            .await
            .map_err(|e| AgentError::Network {
                network: config.task_network.clone(),
                reason: e.to_string(),
            })?;
        let view = Arc::new(std::sync::RwLock::new(View::new(config)));
        let endpoint = match config.endpoint_address {
            Some(address) => match Endpoint::start(
                address,
                config.endpoint_port,
                view.clone(),
                runtime.clone(),
                channel.clone(),
                config.task_iam_role,
            )
            .await
            {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(
                        "task metadata and credentials endpoints are off: {e}; tasks get no \
                         ECS_CONTAINER_METADATA_URI_V4 (run the agent as root, or set \
                         BERTH_ENDPOINT_ADDRESS to an address this host has and \
                         BERTH_ENDPOINT_PORT to a free port)"
                    );
                    None
                }
            },
            None => None,
        };
        let endpoint_url = endpoint.as_ref().map(|e| e.url().to_string());
        let (stop, stopped) = watch::channel(false);
        let checkpoints = options
            .state_file
            .as_ref()
            .and_then(|f| f.parent())
            .map(|d| d.join("log-checkpoints"));
        let looper = Loop {
            worker: Arc::new(Worker {
                registry_login: RegistryLogin::new(
                    &options.server,
                    options.ca_pem.as_ref().map(|ca| RegistryTrust {
                        ca_pem: ca.clone(),
                        certs_dir: options.config.docker_certs_dir.clone(),
                    }),
                ),
                channel,
                runtime,
                memory: Default::default(),
                endpoint_url: endpoint_url.clone(),
                task_roles: options.config.task_iam_role,
                done: tokio::sync::Notify::new(),
            }),
            options,
            arns: arns.clone(),
            view,
            busy: HashMap::new(),
            orphaned_since: HashMap::new(),
            task_subnet: task_subnet.as_deref().and_then(|s| Cidr::parse(s).ok()),
            task_range: assigned
                .as_ref()
                .and_then(|a| a.range.as_deref())
                .and_then(|r| Cidr::parse(r).ok()),
            shippers: Shippers::new(checkpoints),
        };
        let handle = tokio::spawn(async move {
            looper.run(stopped).await;
            drop(endpoint);
        });
        Ok(Agent {
            container_instance_arns: arns,
            endpoint_url,
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

/// This host's task subnet, as the control plane records it: the one its task network
/// already has (or BERTH_TASK_SUBNET asks for), else a free one of the cluster's task
/// range; with the address other hosts route it via (BERTH_HOST_ADDRESS, else this
/// host's address towards the control plane). An older control plane without task
/// subnets leaves the settings as they are.
async fn task_subnet(
    channel: &Channel,
    runtime: &dyn Runtime,
    options: &AgentOptions,
    arns: &[String],
) -> Result<Option<NetworkAssignment>, AgentError> {
    let config = &options.config;
    let wanted = match runtime.network_subnet(&config.task_network).await {
        Some(existing) => Some(existing),
        None => config.task_subnet.clone(),
    };
    let Some(primary) = arns.first() else {
        return Ok(None);
    };
    let request = NetworkRequest {
        container_instance_arn: primary.clone(),
        subnet: wanted.clone(),
        address: config
            .host_address
            .clone()
            .or_else(|| crate::routes::address_towards(&options.server)),
    };
    match channel.network(&request).await {
        Ok(assigned) => {
            if let Some(warning) = &assigned.warning {
                tracing::warn!("{warning}");
            }
            tracing::info!(subnet = %assigned.subnet, address = ?request.address, "task subnet");
            Ok(Some(assigned))
        }
        Err(ChannelError::Refused { status: 404, .. }) => {
            Ok(wanted.map(|subnet| NetworkAssignment {
                subnet,
                range: None,
                routable: false,
                warning: None,
            }))
        }
        Err(e) => Err(AgentError::Network {
            network: config.task_network.clone(),
            reason: e.to_string(),
        }),
    }
}

fn register_request(
    options: &AgentOptions,
    kind: CapacityKind,
    previous: Option<String>,
) -> RegisterRequest {
    let config = &options.config;
    let features = AgentFeatures {
        task_iam_role: config.task_iam_role,
        logging_drivers: config.logging_drivers.clone(),
    };
    let mut attributes: Vec<Attribute> = capability::advertised(&features)
        .into_iter()
        .map(|name| Attribute {
            name,
            value: None,
            target_type: None,
            target_id: None,
        })
        .collect();
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
        agent_credential: None,
        same_host_as: None,
        ec2_instance_id: None,
        cpu: options.cpu,
        memory: (options.memory_mib - config.reserved_memory_mib as i64).max(0),
        reserved_ports_tcp: config.reserved_ports_tcp.clone(),
        reserved_ports_udp: config.reserved_ports_udp.clone(),
        gpu_ids: options.gpu_ids.clone(),
        attributes,
        version_info: Some(VersionInfo {
            agent_version: Some(format!("berth-agent {}", env!("CARGO_PKG_VERSION"))),
            agent_hash: None,
            docker_version: options
                .docker_version
                .as_ref()
                .map(|v| format!("DockerVersion: {v}")),
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
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    // It holds the agent's credential: readable by its owner only.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&serde_json::to_vec(state).expect("state serializes"))?;
            f.sync_all()
        })
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| AgentError::State {
            path: path.clone(),
            reason: e.to_string(),
        })
}

/// Starts the output shipment of every started container of a task that logs to
/// CloudWatch.
fn ship_logs(
    shippers: &mut Shippers,
    worker: &Worker,
    reporter: &str,
    task_arn: &str,
    def: &TaskDefinition,
    containers: &[ContainerState],
) {
    for c in containers.iter().filter(|c| c.phase != Phase::Created) {
        let Some(name) = c.container_name() else {
            continue;
        };
        let Some(logs) = awslogs_of(def, name) else {
            continue;
        };
        let checkpoint = shippers.checkpoint_of(&c.id);
        shippers.ensure(&c.id, || Shipment {
            channel: worker.channel.clone(),
            runtime: worker.runtime.clone(),
            instance: reporter.to_string(),
            task_arn: task_arn.to_string(),
            container_name: name.to_string(),
            container_id: c.id.clone(),
            stream: stream_name(&logs, name, task_arn, &c.id),
            group: logs.group,
            create_group: logs.create_group,
            checkpoint,
            producer: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        });
    }
}

/// How long a task waits before trying again after its report could not be delivered.
const REPORT_RETRY: Duration = Duration::from_secs(1);

/// What the loop remembers between passes; everything else is read anew each pass.
#[derive(Default)]
struct Memory {
    /// Runtime errors that failed a task's start, by task ARN.
    failed_to_start: HashMap<String, String>,
    /// When the task's image pulls began and ended, by task ARN.
    pulls: HashMap<String, (Timestamp, Timestamp)>,
}

/// What a task's actions are applied with; shared by the loop and the workers it
/// spawns, one per task with work in flight.
struct Worker {
    channel: Channel,
    /// The agent's own login to the control plane's registry.
    registry_login: RegistryLogin,
    runtime: Arc<dyn Runtime>,
    memory: std::sync::Mutex<Memory>,
    endpoint_url: Option<String>,
    /// ECS_ENABLE_TASK_IAM_ROLE: containers get the credentials endpoint.
    task_roles: bool,
    /// Signalled when a worker finishes, so the loop plans again at once.
    done: tokio::sync::Notify,
}

/// The control loop's parts.
struct Loop {
    worker: Arc<Worker>,
    options: AgentOptions,
    arns: Vec<String>,
    /// What the metadata endpoint serves from: the last pass's tasks and containers.
    view: Arc<std::sync::RwLock<View>>,
    /// Work in flight, by task ARN (or `container:ID` for an orphan being stopped):
    /// a task is planned again only once its previous actions are done, and one slow
    /// stop or pull never holds up other tasks.
    busy: HashMap<String, JoinHandle<()>>,
    /// When a container was first seen without an assigned task, by container id.
    orphaned_since: HashMap<String, Instant>,
    /// This host's task subnet: other hosts route it here, and no route leads into it.
    task_subnet: Option<Cidr>,
    /// The cluster's task range, for the firewall rules (see [`crate::firewall`]).
    task_range: Option<Cidr>,
    /// Output shipments of the containers that log to CloudWatch (`awslogs`).
    shippers: Shippers,
}

fn now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::try_from_secs_f64(since.as_secs_f64()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Follows the assignments of one container instance with long polls, publishing each
/// new set; retries with backoff while the control plane is unreachable.
async fn follow_assignments(
    channel: Channel,
    arn: String,
    out: watch::Sender<Option<Assignments>>,
) {
    let mut after = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        match channel
            .assignments(&arn, after, Duration::from_secs(20))
            .await
        {
            Ok(a) => {
                backoff = Duration::from_millis(100);
                let changed = !a.unchanged && after != Some(a.revision);
                after = Some(a.revision);
                if changed && out.send(Some(a)).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(%arn, error = %e, "cannot read assignments; retrying");
                // A resync by listing once the control plane is back.
                after = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        if out.is_closed() {
            return;
        }
    }
}

/// Tells the control plane every `interval` that the agent behind each ARN is alive,
/// whatever the loop is busy with.
async fn heartbeat(channel: Channel, arns: Vec<String>, interval: Duration) {
    loop {
        for arn in &arns {
            if let Err(e) = channel.heartbeat(arn).await {
                tracing::warn!(%arn, error = %e, "heartbeat failed; will retry");
            }
        }
        tokio::time::sleep(interval).await;
    }
}

impl Loop {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let mut background = vec![tokio::spawn(heartbeat(
            self.worker.channel.clone(),
            self.arns.clone(),
            self.options.heartbeat_interval,
        ))];
        if let Some(interval) = self.options.config.metrics_interval {
            background.push(tokio::spawn(crate::task_usage::run(
                self.worker.channel.clone(),
                self.worker.runtime.clone(),
                self.arns.clone(),
                interval,
            )));
        }
        if self.options.config.task_routes {
            background.push(tokio::spawn(crate::routes::follow(
                self.worker.channel.clone(),
                self.arns.first().cloned(),
                self.task_subnet.zip(self.task_range),
                stopped.clone(),
            )));
        }
        let mut latest = Vec::new();
        for arn in &self.arns {
            background.push(tokio::spawn(crate::exec::take_sessions(
                self.worker.channel.clone(),
                arn.clone(),
                self.worker.runtime.clone(),
            )));
            let (tx, rx) = watch::channel(None);
            background.push(tokio::spawn(follow_assignments(
                self.worker.channel.clone(),
                arn.clone(),
                tx,
            )));
            latest.push(rx);
        }
        loop {
            let current: Option<Vec<(String, Assignments)>> = self
                .arns
                .iter()
                .zip(latest.iter_mut())
                .map(|(arn, rx)| rx.borrow_and_update().clone().map(|a| (arn.clone(), a)))
                .collect();
            if let Some(current) = current {
                if let Err(e) = self.pass(current).await {
                    tracing::warn!(error = %e, "agent pass failed; will retry");
                }
            }
            let assignments_changed =
                futures::future::select_all(latest.iter_mut().map(|rx| Box::pin(rx.changed())));
            tokio::select! {
                _ = tokio::time::sleep(self.options.poll_interval) => {}
                _ = assignments_changed => {}
                _ = self.worker.runtime.changed() => {}
                _ = self.worker.done.notified() => {}
                _ = stopped.changed() => break,
            }
        }
        for task in background {
            task.abort();
        }
        self.shippers.stop_all();
        for (_, work) in self.busy.drain() {
            let _ = work.await;
        }
    }

    /// One pass over every assigned task and every container this agent manages.
    async fn pass(&mut self, current: Vec<(String, Assignments)>) -> Result<(), ChannelError> {
        self.busy.retain(|_, work| !work.is_finished());
        let assigned: Vec<(String, Assignment)> = current
            .into_iter()
            .flat_map(|(arn, a)| a.tasks.into_iter().map(move |t| (arn.clone(), t)))
            .collect();
        let observed = self
            .worker
            .runtime
            .list()
            .await
            .map_err(|e| ChannelError::Unreachable(format!("container runtime: {e}")))?;
        let arns = &self.arns;
        let ours: Vec<ContainerState> = observed
            .into_iter()
            .filter(|c| {
                c.container_instance()
                    .is_some_and(|i| arns.iter().any(|a| a == i))
            })
            .collect();
        let orphans = self.plan_all(assigned, ours);
        self.clean_up(orphans).await;
        Ok(())
    }

    /// Plans every assigned task that has no work in flight and spawns a worker for its
    /// actions; returns the containers no assigned task owns.
    fn plan_all(
        &mut self,
        assigned: Vec<(String, Assignment)>,
        ours: Vec<ContainerState>,
    ) -> Vec<ContainerState> {
        let mut memory = self.worker.memory.lock().expect("memory lock");
        self.view
            .write()
            .expect("view lock")
            .update(&assigned, &ours, &memory.pulls);
        let mut by_task: HashMap<String, Vec<ContainerState>> = HashMap::new();
        for c in ours {
            by_task
                .entry(c.task_arn().unwrap_or_default().to_string())
                .or_default()
                .push(c);
        }
        let settings = Settings {
            stop_timeout: self.options.config.stop_timeout,
            task_network: self.options.config.task_network.clone(),
            now: now().as_secs_f64(),
        };
        let live: HashSet<String> = by_task.values().flatten().map(|c| c.id.clone()).collect();
        self.shippers.retain(&live);
        for (reporter, a) in &assigned {
            let task_arn = a.task.task_arn.clone().unwrap_or_default();
            let containers = by_task.remove(&task_arn).unwrap_or_default();
            ship_logs(
                &mut self.shippers,
                &self.worker,
                reporter,
                &task_arn,
                &a.task_definition,
                &containers,
            );
            if self.busy.contains_key(&task_arn) {
                continue;
            }
            let actions = plan(
                &a.task,
                &a.task_definition,
                &containers,
                memory.failed_to_start.get(&task_arn).map(String::as_str),
                &settings,
            );
            if actions.is_empty() {
                continue;
            }
            let worker = self.worker.clone();
            let (reporter, arn) = (reporter.clone(), task_arn.clone());
            let work = tokio::spawn(async move {
                worker.apply_all(&reporter, &arn, actions).await;
                worker.done.notify_one();
            });
            self.busy.insert(task_arn, work);
        }
        let live: HashSet<String> = assigned
            .iter()
            .filter_map(|(_, a)| a.task.task_arn.clone())
            .collect();
        memory.failed_to_start.retain(|arn, _| live.contains(arn));
        memory.pulls.retain(|arn, _| live.contains(arn));
        by_task.into_values().flatten().collect()
    }

    /// Stops containers no assigned task owns, and removes them (and their task's
    /// volumes) once they have been stopped for the cleanup wait.
    async fn clean_up(&mut self, orphans: Vec<ContainerState>) {
        self.orphaned_since
            .retain(|id, _| orphans.iter().any(|c| c.id == *id));
        for c in orphans {
            let since = *self
                .orphaned_since
                .entry(c.id.clone())
                .or_insert_with(Instant::now);
            let key = format!("container:{}", c.id);
            if self.busy.contains_key(&key) {
                continue;
            }
            let runtime = self.worker.runtime.clone();
            let work = match c.phase {
                Phase::Running => {
                    let timeout = self.options.config.stop_timeout;
                    tokio::spawn(async move {
                        let _ = runtime.stop(&c.id, timeout).await;
                    })
                }
                _ if since.elapsed() >= self.options.config.cleanup_wait => {
                    tokio::spawn(async move {
                        let _ = runtime.remove(&c.id).await;
                        if let Some(task) = c.task_arn() {
                            let _ = runtime.remove_task_volumes(task).await;
                        }
                    })
                }
                _ => continue,
            };
            self.busy.insert(key, work);
        }
    }
}

impl Worker {
    /// Makes a created container's log stream ready before it starts, as the `awslogs`
    /// driver does: the control plane creates the stream (and the group, when the
    /// options say so) with the task's execution role, or refuses, and the task then
    /// fails to start with the reason. An unreachable control plane fails nothing: the
    /// container's output waits in Docker for its shipment.
    async fn prepare_log_stream(
        &self,
        reporter: &str,
        task_arn: &str,
        spec: &ContainerSpec,
        id: &str,
    ) -> Result<(), crate::runtime::RuntimeError> {
        let Some(logs) = &spec.awslogs else {
            return Ok(());
        };
        let batch = LogBatch {
            container_instance_arn: reporter.to_string(),
            task_arn: task_arn.to_string(),
            container_name: spec.name.clone(),
            log_group_name: logs.group.clone(),
            log_stream_name: stream_name(logs, &spec.name, task_arn, id),
            create_group: logs.create_group,
            expected_next_seq: 0,
            // The oldest generation: it fences off no shipment.
            producer: 0,
            events: Vec::new(),
        };
        match self.channel.ship_logs(&batch).await {
            Err(ChannelError::Refused { message, .. }) => Err(
                crate::runtime::RuntimeError::ResourceInitialization(format!(
                    "failed to validate logger args: log group {} stream {}: {message}",
                    batch.log_group_name, batch.log_stream_name
                )),
            ),
            Ok(_) | Err(ChannelError::Unreachable(_)) => Ok(()),
        }
    }

    /// Applies one task's actions: its stops all at once (each waits out its own
    /// stopTimeout), then the rest in order.
    async fn apply_all(&self, reporter: &str, task_arn: &str, actions: Vec<Action>) {
        let (stops, rest): (Vec<Action>, Vec<Action>) = actions
            .into_iter()
            .partition(|a| matches!(a, Action::Stop { .. }));
        futures::future::join_all(
            stops
                .into_iter()
                .map(|stop| self.apply(reporter, task_arn, stop)),
        )
        .await;
        for action in rest {
            if let Err(e) = self.apply(reporter, task_arn, action).await {
                tracing::warn!(task = task_arn, error = %e, "cannot report; will retry");
                // Hold the task's slot a moment: re-planning at once would only fail
                // again, in a loop as fast as the CPU, while the control plane is away.
                tokio::time::sleep(REPORT_RETRY).await;
                return;
            }
        }
    }

    async fn apply(
        &self,
        reporter: &str,
        task_arn: &str,
        action: Action,
    ) -> Result<(), ChannelError> {
        let runtime = &self.runtime;
        let result = match action {
            Action::Create(mut spec) => {
                spec.labels
                    .insert(LABEL_CONTAINER_INSTANCE.into(), reporter.to_string());
                spec.task_role &= self.task_roles;
                if let Some(url) = &self.endpoint_url {
                    crate::endpoint::inject(&mut spec, url);
                }
                let started = now();
                let login = match self.read_secrets(reporter, task_arn, &mut spec).await {
                    Ok(login) => login,
                    Err(Ok(e)) => {
                        self.failed_to_start(task_arn, e);
                        return Ok(());
                    }
                    Err(Err(unreachable)) => return Err(unreachable),
                };
                let auth = match login {
                    Some(login) => Ok(Some(login)),
                    None => {
                        self.registry_login
                            .auth_for(
                                &self.channel,
                                reporter,
                                &spec.image,
                                task_arn,
                                spec.execution_role.as_deref(),
                            )
                            .await
                    }
                };
                let pulled = match auth {
                    Ok(auth) => runtime.pull(&spec.image, auth.as_ref()).await,
                    Err(why) => Err(crate::runtime::RuntimeError::Pull(why)),
                };
                {
                    let mut memory = self.memory.lock().expect("memory lock");
                    let (first, _) = *memory
                        .pulls
                        .entry(task_arn.to_string())
                        .or_insert((started, started));
                    memory.pulls.insert(task_arn.to_string(), (first, now()));
                }
                match pulled {
                    Ok(()) => match crate::envfile::apply(&mut spec) {
                        Ok(()) => match runtime.create(&spec).await {
                            Ok(id) => {
                                self.prepare_log_stream(reporter, task_arn, &spec, &id)
                                    .await
                            }
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
            Action::Start { id, .. } => runtime.start(&id).await,
            Action::Fail { reason } => Err(crate::runtime::RuntimeError::Dependency(reason)),
            Action::Stop { id, timeout } => {
                if let Err(e) = runtime.stop(&id, timeout).await {
                    tracing::warn!(container = %id, error = %e, "stop failed; will retry");
                }
                Ok(())
            }
            Action::Report(mut report) => {
                let pulls = self
                    .memory
                    .lock()
                    .expect("memory lock")
                    .pulls
                    .get(task_arn)
                    .copied();
                if let Some((started, stopped)) = pulls {
                    report.pull_started_at = Some(started);
                    report.pull_stopped_at = Some(stopped);
                }
                return self.channel.report(reporter, &report).await;
            }
        };
        if let Err(e) = result {
            self.failed_to_start(task_arn, e);
        }
        Ok(())
    }

    /// Notes that a task failed to start, and why (its stop reason).
    fn failed_to_start(&self, task_arn: &str, e: crate::runtime::RuntimeError) {
        tracing::warn!(task = task_arn, error = %e, "task failed to start");
        self.memory
            .lock()
            .expect("memory lock")
            .failed_to_start
            .insert(task_arn.to_string(), e.to_string());
    }

    /// Reads a container's `secrets` into its environment (replacing a variable of the
    /// same name) and returns its `repositoryCredentials` login for its image's
    /// registry, as the control plane answers them for the task's execution role. A
    /// refusal is the task's `ResourceInitializationError` (`Err(Ok)`); an unreachable
    /// control plane is retried later (`Err(Err)`).
    async fn read_secrets(
        &self,
        reporter: &str,
        task_arn: &str,
        spec: &mut ContainerSpec,
    ) -> Result<Option<crate::runtime::PullAuth>, Result<crate::runtime::RuntimeError, ChannelError>>
    {
        if !spec.reads_secrets {
            return Ok(None);
        }
        let answer = match self
            .channel
            .task_secrets(reporter, task_arn, &spec.name)
            .await
        {
            Ok(answer) => answer,
            Err(ChannelError::Refused { message, .. }) => {
                return Err(Ok(crate::runtime::RuntimeError::ResourceInitialization(
                    format!("unable to pull secrets or registry auth: {message}"),
                )))
            }
            Err(e) => return Err(Err(e)),
        };
        for (name, value) in answer.environment {
            spec.environment.retain(|(have, _)| *have != name);
            spec.environment.push((name, value));
        }
        Ok(answer
            .repository_credentials
            .map(|(username, password)| crate::runtime::PullAuth {
                server: crate::registry_auth::registry_of(&spec.image).to_string(),
                username,
                password,
            }))
    }
}

#[cfg(test)]
mod tests;
