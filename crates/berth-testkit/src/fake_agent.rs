//! A fake agent: registers through the real agent channel, heartbeats, long-polls its
//! assignments and reports lifecycles without running anything. Like Nomad's mock
//! driver, each container's behaviour comes from its environment (task definition or
//! RunTask override):
//!
//! - `BERTH_FAKE_START_ERROR=msg`: the task fails to start (TaskFailedToStart).
//! - `BERTH_FAKE_RUN_FOR_MS=n`: the container exits after n ms ...
//! - `BERTH_FAKE_EXIT_CODE=c`: ... with exit code c (default 0).
//!
//! As the real agent does, it asks the control plane for the values of a container's
//! `secrets` and `repositoryCredentials` before "starting" it, and a refusal stops the
//! task with ECS's `ResourceInitializationError` (the values themselves are dropped).

use std::collections::HashMap;
use std::time::Duration;

use berth_api::agent::*;
use berth_api::capability::{self, AgentFeatures};
use berth_api::ecs::{Task, TaskDefinition, TaskStopCode, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What a fake agent offers.
#[derive(Debug, Clone)]
pub struct FakeAgentConfig {
    pub kind: CapacityKind,
    pub cluster: Option<String>,
    pub cpu: i64,
    pub memory: i64,
    pub attributes: Vec<(String, Option<String>)>,
    pub heartbeat_every: Duration,
}

impl FakeAgentConfig {
    /// Fargate pool capacity: 4 vCPU, 8 GiB.
    pub fn fargate() -> Self {
        FakeAgentConfig {
            kind: CapacityKind::Fargate,
            cluster: None,
            cpu: 4096,
            memory: 8192,
            attributes: vec![],
            heartbeat_every: berth_api::agent::HEARTBEAT_INTERVAL,
        }
    }

    /// A container instance of `cluster`: 2 vCPU, 2 GiB, every capability a real agent
    /// would advertise.
    pub fn ec2(cluster: &str) -> Self {
        FakeAgentConfig {
            kind: CapacityKind::Ec2,
            cluster: Some(cluster.into()),
            cpu: 2048,
            memory: 2048,
            attributes: vec![],
            heartbeat_every: berth_api::agent::HEARTBEAT_INTERVAL,
        }
    }
}

/// A running fake agent.
pub struct FakeAgent {
    pub container_instance_arn: String,
    /// The agent credential its registration returned (none with an old server).
    pub agent_credential: Option<String>,
    channel: std::sync::Arc<Channel>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

struct Channel {
    http: reqwest::Client,
    /// Every replica given (`endpoint` may list several, comma-separated); calls go to
    /// the current one and move on when it cannot be reached.
    bases: Vec<String>,
    current: std::sync::atomic::AtomicUsize,
    token: String,
    arn: String,
}

impl Channel {
    fn base(&self) -> &str {
        &self.bases[self.current.load(std::sync::atomic::Ordering::Relaxed) % self.bases.len()]
    }

    fn next_replica(&self) {
        self.current
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    async fn post<T: serde::Serialize>(
        &self,
        path: &str,
        body: &T,
    ) -> reqwest::Result<reqwest::Response> {
        for _ in 0..self.bases.len() {
            let sent = self
                .http
                .post(format!("{}/agent/v1/{path}", self.base()))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await;
            match sent {
                Err(e) if e.is_connect() => self.next_replica(),
                other => return other,
            }
        }
        self.http
            .post(format!("{}/agent/v1/{path}", self.base()))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
    }
}

impl FakeAgent {
    /// Registers and starts driving assignments.
    pub async fn start(endpoint: &str, token: &str, config: FakeAgentConfig) -> FakeAgent {
        // Exactly what a real agent with its default settings advertises, never more: a
        // capability only the fake claimed would hide a task definition real agents
        // cannot place.
        let mut attributes: Vec<_> = capability::advertised(&AgentFeatures::default())
            .into_iter()
            .map(|c| (c, None))
            .collect();
        attributes.extend(config.attributes.clone());
        let req = RegisterRequest {
            kind: config.kind,
            cluster: config.cluster.clone(),
            container_instance_arn: None,
            agent_credential: None,
            same_host_as: None,
            ec2_instance_id: None,
            cpu: config.cpu,
            memory: config.memory,
            reserved_ports_tcp: vec![22, 2375, 2376, 51678, 51679],
            reserved_ports_udp: vec![],
            gpu_ids: vec![],
            attributes: attributes
                .into_iter()
                .map(|(name, value)| berth_api::ecs::Attribute {
                    name,
                    value,
                    target_type: None,
                    target_id: None,
                })
                .collect(),
            version_info: Some(berth_api::ecs::VersionInfo {
                agent_version: Some("berth-fake-agent".into()),
                agent_hash: None,
                docker_version: None,
            }),
        };
        let mut channel = Channel {
            http: reqwest::Client::new(),
            bases: endpoint
                .split(',')
                .map(|e| e.trim().trim_end_matches('/').to_string())
                .collect(),
            current: Default::default(),
            token: token.to_string(),
            arn: String::new(),
        };
        let resp = channel
            .post("register", &req)
            .await
            .expect("register request");
        assert!(
            resp.status().is_success(),
            "register failed: {}",
            resp.text().await.unwrap_or_default()
        );
        let registered: RegisterResponse = resp.json().await.expect("register response");
        channel.arn = registered.container_instance_arn.clone();
        // As a real agent does: every later call with its own credential.
        if let Some(credential) = &registered.agent_credential {
            channel.token = credential.clone();
        }
        let (stop, stopped) = watch::channel(false);
        let channel = std::sync::Arc::new(channel);
        let handle = tokio::spawn(drive(channel.clone(), config.heartbeat_every, stopped));
        FakeAgent {
            container_instance_arn: registered.container_instance_arn,
            agent_credential: registered.agent_credential,
            channel,
            stop,
            handle,
        }
    }

    /// Reports CPU and memory samples of tasks, as a real agent's sampler does; returns
    /// how many the control plane kept.
    pub async fn report_metrics(&self, samples: Vec<TaskMetricsSample>) -> TaskMetricsAnswer {
        let report = TaskMetricsReport {
            container_instance_arn: self.channel.arn.clone(),
            samples,
        };
        let resp = self
            .channel
            .post("task-metrics", &report)
            .await
            .expect("task-metrics request");
        assert!(
            resp.status().is_success(),
            "task-metrics failed: {}",
            resp.text().await.unwrap_or_default()
        );
        resp.json().await.expect("task-metrics answer")
    }

    /// Stops the agent (its tasks stay as last reported).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

struct Tracked {
    started: Instant,
    run_for: Option<Duration>,
    exit_code: i32,
}

async fn drive(
    channel: std::sync::Arc<Channel>,
    heartbeat_every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut after: Option<u64> = None;
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    // The assignments as last answered in full (a long poll that saw no change answers
    // `unchanged`, and the tasks timed here still need stepping).
    let mut current: Vec<Assignment> = Vec::new();
    let mut last_heartbeat = Instant::now();
    loop {
        if *stopped.borrow() {
            return;
        }
        if last_heartbeat.elapsed() >= heartbeat_every {
            let _ = channel
                .post(
                    "heartbeat",
                    &HeartbeatRequest {
                        container_instance_arn: channel.arn.clone(),
                    },
                )
                .await;
            last_heartbeat = Instant::now();
        }
        let wait = if tracked.values().any(|t| t.run_for.is_some()) {
            0
        } else {
            1
        };
        let mut url = format!(
            "{}/agent/v1/assignments?containerInstanceArn={}&waitSeconds={wait}",
            channel.base(),
            crate::client::form_encode(&channel.arn)
        );
        if let Some(a) = after {
            url.push_str(&format!("&afterRevision={a}"));
        }
        let poll = channel.http.get(&url).bearer_auth(&channel.token).send();
        let resp = tokio::select! {
            r = poll => r,
            _ = stopped.changed() => return,
        };
        let Ok(resp) = resp else {
            channel.next_replica();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Ok(assignments) = resp.json::<Assignments>().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        after = Some(assignments.revision);
        if !assignments.unchanged {
            current = assignments.tasks;
        }
        for a in &current {
            let refused = match a.task.task_arn.as_deref() {
                Some(arn) if starting(&a.task) && !tracked.contains_key(arn) => {
                    secrets_refused(&channel, arn, &a.task_definition).await
                }
                _ => None,
            };
            if let Some(report) = step(&a.task, &a.task_definition, &mut tracked, refused) {
                let path = format!(
                    "task-state?containerInstanceArn={}",
                    crate::client::form_encode(&channel.arn)
                );
                let _ = channel.post(&path, &report).await;
            }
        }
        if wait == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The env value a container sees for `name` (override first).
fn env(task: &Task, def: &TaskDefinition, container: &str, name: &str) -> Option<String> {
    let from_override = task
        .overrides
        .as_ref()
        .and_then(|o| o.container_overrides.as_ref())
        .into_iter()
        .flatten()
        .filter(|o| o.name.as_deref() == Some(container))
        .flat_map(|o| o.environment.iter().flatten())
        .find(|kv| kv.name.as_deref() == Some(name))
        .and_then(|kv| kv.value.clone());
    from_override.or_else(|| {
        def.container_definitions
            .iter()
            .flatten()
            .filter(|c| c.name.as_deref() == Some(container))
            .flat_map(|c| c.environment.iter().flatten())
            .find(|kv| kv.name.as_deref() == Some(name))
            .and_then(|kv| kv.value.clone())
    })
}

fn now() -> Timestamp {
    Timestamp::from(std::time::SystemTime::now())
}

/// Whether a task is about to be started (not yet running, not asked to stop).
fn starting(task: &Task) -> bool {
    task.last_status.as_deref() != Some("RUNNING")
        && task.desired_status.as_deref() != Some("STOPPED")
}

/// Why the control plane refuses the secrets (or registry login) of a container of the
/// task, as the reason the task stops with; `None` when it answers (or has nothing to
/// read).
async fn secrets_refused(
    channel: &Channel,
    task_arn: &str,
    def: &TaskDefinition,
) -> Option<String> {
    for c in def.container_definitions.iter().flatten() {
        let reads =
            c.secrets.as_ref().is_some_and(|s| !s.is_empty()) || c.repository_credentials.is_some();
        if !reads {
            continue;
        }
        let req = TaskSecretsRequest {
            container_instance_arn: channel.arn.clone(),
            task_arn: task_arn.to_string(),
            container_name: c.name.clone().unwrap_or_default(),
        };
        let Ok(resp) = channel.post("task-secrets", &req).await else {
            continue;
        };
        if !resp.status().is_success() {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            let message = body["message"].as_str().unwrap_or_default();
            return Some(format!(
                "ResourceInitializationError: unable to pull secrets or registry auth: {message}"
            ));
        }
    }
    None
}

/// The report one assignment calls for now, if any; `refused` is why its start is
/// refused (its secrets), if it is.
fn step(
    task: &Task,
    def: &TaskDefinition,
    tracked: &mut HashMap<String, Tracked>,
    refused: Option<String>,
) -> Option<TaskStateReport> {
    let arn = task.task_arn.clone()?;
    let last = task.last_status.as_deref().unwrap_or_default();
    let desired = task.desired_status.as_deref().unwrap_or_default();
    let names: Vec<String> = task
        .containers
        .iter()
        .flatten()
        .filter_map(|c| c.name.clone())
        .collect();
    let stopped =
        |code: Option<TaskStopCode>, reason: Option<String>, exit: Option<i32>| TaskStateReport {
            task_arn: arn.clone(),
            status: "STOPPED".into(),
            reason: reason.clone(),
            stop_code: code,
            execution_stopped_at: Some(now()),
            containers: names
                .iter()
                .map(|n| ContainerReport {
                    name: n.clone(),
                    status: "STOPPED".into(),
                    exit_code: exit,
                    reason: reason
                        .clone()
                        .filter(|_| code == Some(TaskStopCode::TaskFailedToStart)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
    if desired == "STOPPED" {
        tracked.remove(&arn);
        return Some(stopped(None, None, Some(0)));
    }
    if last != "RUNNING" {
        let first = names.first().cloned().unwrap_or_default();
        if let Some(msg) = refused.or_else(|| env(task, def, &first, "BERTH_FAKE_START_ERROR")) {
            return Some(stopped(
                Some(TaskStopCode::TaskFailedToStart),
                Some(msg),
                None,
            ));
        }
        let run_for = env(task, def, &first, "BERTH_FAKE_RUN_FOR_MS")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis);
        let exit_code = env(task, def, &first, "BERTH_FAKE_EXIT_CODE")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        tracked.insert(
            arn.clone(),
            Tracked {
                started: Instant::now(),
                run_for,
                exit_code,
            },
        );
        let t = now();
        let octet = |i: usize| arn.bytes().rev().nth(i).unwrap_or(1) % 200 + 2;
        let ip = task
            .attachments
            .as_ref()
            .is_some_and(|a| !a.is_empty())
            .then(|| format!("172.31.{}.{}", octet(0), octet(1)));
        return Some(TaskStateReport {
            task_arn: arn.clone(),
            status: "RUNNING".into(),
            pull_started_at: Some(t),
            pull_stopped_at: Some(t),
            started_at: Some(t),
            private_ipv4_address: ip,
            containers: names
                .iter()
                .map(|n| ContainerReport {
                    name: n.clone(),
                    status: "RUNNING".into(),
                    runtime_id: Some(format!("fake-{n}-{}", &arn[arn.len().saturating_sub(8)..])),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
    }
    let t = tracked.get(&arn)?;
    if t.run_for.is_some_and(|d| t.started.elapsed() >= d) {
        let code = t.exit_code;
        tracked.remove(&arn);
        return Some(stopped(
            Some(TaskStopCode::EssentialContainerExited),
            Some("Essential container in task exited".into()),
            Some(code),
        ));
    }
    None
}
