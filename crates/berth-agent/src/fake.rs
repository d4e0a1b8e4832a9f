//! An in-memory [`Runtime`] for fast, deterministic tests, like Nomad's mock driver: each
//! container's behaviour comes from its environment.
//!
//! - `BERTH_FAKE_RUN_FOR_MS=n`: the container exits by itself n ms after it starts ...
//! - `BERTH_FAKE_EXIT_CODE=c`: ... with code c (default 0).
//! - `BERTH_FAKE_START_ERROR=msg`: starting it fails with msg.
//!
//! An exec in a running container acts as `cat`: what it reads comes back on stdout,
//! and once its input ends it exits with 0, or with N for the command `exit N`; a
//! terminal's size and resizes are recorded among the calls.
//!
//! Images named with [`FakeRuntime::missing_image`] fail to pull. A stopped container
//! exits with 143 (SIGTERM). Published ports without a host port get one counting up
//! from 32768; a container on a task network gets an address in 10.0.0.0/24. Time is
//! tokio's, so tests can pause it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::time::Instant;

use crate::runtime::{
    ContainerDetails, ContainerSpec, ContainerState, ContainerUsage, ExecControl, ExecOutput,
    ExecProcess, ExecSpec, NetworkSpec, OutputLine, OutputLines, Phase, PublishedPort, PullAuth,
    Runtime, RuntimeError,
};

struct FakeContainer {
    spec: ContainerSpec,
    phase: Phase,
    started: Option<Instant>,
    details: ContainerDetails,
    /// What the container wrote (see [`FakeRuntime::write`]).
    output: Vec<OutputLine>,
}

impl FakeContainer {
    fn env(&self, key: &str) -> Option<&str> {
        self.spec
            .environment
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The phase now, with self-exits applied.
    fn current(&mut self) -> Phase {
        if let (Phase::Running, Some(started)) = (self.phase, self.started) {
            let run_for = self
                .env("BERTH_FAKE_RUN_FOR_MS")
                .and_then(|v| v.parse().ok());
            if let Some(ms) = run_for {
                if started.elapsed() >= Duration::from_millis(ms) {
                    let code = self
                        .env("BERTH_FAKE_EXIT_CODE")
                        .and_then(|v| v.parse().ok());
                    self.phase = Phase::Exited {
                        code: code.unwrap_or(0),
                    };
                }
            }
        }
        self.phase
    }
}

/// The fake runtime.
#[derive(Default)]
pub struct FakeRuntime {
    containers: Arc<Mutex<HashMap<String, FakeContainer>>>,
    missing_images: Mutex<BTreeSet<String>>,
    calls: Arc<Mutex<Vec<String>>>,
    pull_auths: Mutex<Vec<(String, Option<PullAuth>)>>,
    next_id: Mutex<u64>,
    changes: tokio::sync::Notify,
}

impl FakeRuntime {
    /// An empty runtime.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes pulls of `image` fail.
    pub fn missing_image(&self, image: &str) {
        self.missing_images
            .lock()
            .unwrap()
            .insert(image.to_string());
    }

    /// Every call made, as `verb target` (e.g. `create web`, `start fake-1`), in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Every pull made, with the login it was given, in order.
    pub fn pulls(&self) -> Vec<(String, Option<PullAuth>)> {
        self.pull_auths.lock().unwrap().clone()
    }

    /// Makes a container write `lines`, stamped now (nanoseconds, strictly increasing).
    pub fn write(&self, id: &str, lines: &[&str]) {
        let mut all = self.containers.lock().unwrap();
        if let Some(c) = all.get_mut(id) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            for line in lines {
                let after = c.output.last().map_or(0, |l| l.timestamp_ns + 1);
                c.output.push(OutputLine {
                    timestamp_ns: now.max(after),
                    message: line.to_string(),
                });
            }
        }
    }

    /// Ends a running container behind the agent's back (like `docker kill`).
    pub fn kill(&self, id: &str, code: i32) {
        if let Some(c) = self.containers.lock().unwrap().get_mut(id) {
            c.phase = Phase::Exited { code };
        }
        self.changes.notify_one();
    }

    /// The environment a container was created with.
    pub fn environment(&self, id: &str) -> Vec<(String, String)> {
        let all = self.containers.lock().unwrap();
        all.get(id)
            .map(|c| c.spec.environment.clone())
            .unwrap_or_default()
    }

    /// The ids of `task_arn`'s containers, in creation order.
    pub fn ids_of_task(&self, task_arn: &str) -> Vec<String> {
        let all = self.containers.lock().unwrap();
        let mut ids: Vec<(u64, String)> = all
            .iter()
            .filter(|(_, c)| {
                c.spec
                    .labels
                    .get(crate::runtime::LABEL_TASK_ARN)
                    .map(String::as_str)
                    == Some(task_arn)
            })
            .map(|(id, _)| {
                (
                    id.trim_start_matches("fake-").parse().unwrap_or(0),
                    id.clone(),
                )
            })
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
        self.changes.notify_one();
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn pull(&self, image: &str, auth: Option<&PullAuth>) -> Result<(), RuntimeError> {
        self.pull_auths
            .lock()
            .unwrap()
            .push((image.to_string(), auth.cloned()));
        self.record(format!("pull {image}"));
        if self.missing_images.lock().unwrap().contains(image) {
            return Err(RuntimeError::Pull(format!("{image}: not found")));
        }
        Ok(())
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        self.record(format!("create {}", spec.name));
        let n = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            *n
        };
        let id = format!("fake-{n}");
        let ports = spec
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| PublishedPort {
                container_port: p.container_port,
                host_port: p.host_port.unwrap_or(32768 + (n * 16) as u16 + i as u16),
                protocol: p.protocol.clone(),
                host_ip: "0.0.0.0".into(),
            })
            .collect();
        let (network, ipv4) = match &spec.network {
            NetworkSpec::Task(name) => (name.clone(), Some(format!("10.0.0.{}", n % 250 + 2))),
            NetworkSpec::Bridge => ("bridge".into(), Some(format!("172.17.0.{}", n % 250 + 2))),
            other => (format!("{other:?}").to_lowercase(), None),
        };
        let container = FakeContainer {
            spec: spec.clone(),
            phase: Phase::Created,
            started: None,
            details: ContainerDetails {
                runtime_name: spec.runtime_name.clone(),
                image: spec.image.clone(),
                image_id: format!("sha256:{:064x}", n),
                image_digest: format!("sha256:{:064x}", n),
                network,
                ipv4,
                ports,
                ..Default::default()
            },
            output: Vec::new(),
        };
        self.containers
            .lock()
            .unwrap()
            .insert(id.clone(), container);
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.record(format!("start {id}"));
        let mut all = self.containers.lock().unwrap();
        let c = all
            .get_mut(id)
            .ok_or_else(|| RuntimeError::Start(format!("no container {id}")))?;
        if let Some(msg) = c.env("BERTH_FAKE_START_ERROR") {
            let msg = msg.to_string();
            c.phase = Phase::Exited { code: 128 };
            return Err(RuntimeError::Start(msg));
        }
        c.phase = Phase::Running;
        c.started = Some(Instant::now());
        Ok(())
    }

    async fn stop(&self, id: &str, _timeout: Duration) -> Result<(), RuntimeError> {
        self.record(format!("stop {id}"));
        let mut all = self.containers.lock().unwrap();
        let c = all
            .get_mut(id)
            .ok_or_else(|| RuntimeError::Stop(format!("no container {id}")))?;
        if c.current() == Phase::Running {
            c.phase = Phase::Exited { code: 143 };
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.record(format!("remove {id}"));
        self.containers.lock().unwrap().remove(id);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let mut all = self.containers.lock().unwrap();
        let mut out: Vec<ContainerState> = all
            .iter_mut()
            .map(|(id, c)| ContainerState {
                id: id.clone(),
                labels: c.spec.labels.clone(),
                phase: c.current(),
                health: None,
                details: c.details.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn remove_task_volumes(&self, task_arn: &str) -> Result<(), RuntimeError> {
        self.record(format!("remove-volumes {task_arn}"));
        Ok(())
    }

    async fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        if !self.containers.lock().unwrap().contains_key(id) {
            return Err(RuntimeError::Unavailable(format!("no container {id}")));
        }
        Ok(serde_json::json!({"id": id, "memory_stats": {"usage": 1048576}}))
    }

    /// A running container uses `BERTH_FAKE_CPU_CORES` of a core (default none) since it
    /// started, and `BERTH_FAKE_MEMORY_MIB` MiB (default 1).
    async fn usage(&self, id: &str) -> Result<ContainerUsage, RuntimeError> {
        let containers = self.containers.lock().unwrap();
        let c = containers
            .get(id)
            .filter(|c| c.phase == Phase::Running)
            .ok_or_else(|| RuntimeError::Unavailable(format!("no running container {id}")))?;
        let cores: f64 = c
            .env("BERTH_FAKE_CPU_CORES")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let mib: u64 = c
            .env("BERTH_FAKE_MEMORY_MIB")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let ran = c.started.map_or(Duration::ZERO, |s| s.elapsed());
        Ok(ContainerUsage {
            cpu_total_ns: (ran.as_nanos() as f64 * cores) as u64,
            memory_bytes: mib << 20,
        })
    }

    async fn ensure_network(
        &self,
        name: &str,
        _subnet: Option<&str>,
        _bridge_name: Option<&str>,
    ) -> Result<Option<String>, RuntimeError> {
        self.record(format!("network {name}"));
        Ok(Some("10.0.0.1".into()))
    }

    async fn changed(&self) {
        self.changes.notified().await
    }

    async fn logs(
        &self,
        id: &str,
        since_secs: i64,
        follow: bool,
    ) -> Result<OutputLines, RuntimeError> {
        if !self.containers.lock().unwrap().contains_key(id) {
            return Err(RuntimeError::Unavailable(format!("no container {id}")));
        }
        let since_ns = since_secs.saturating_mul(1_000_000_000);
        let (containers, id) = (self.containers.clone(), id.to_string());
        // Polls the container's output until it has stopped and every line was given.
        let lines = futures::stream::unfold(0usize, move |mut next| {
            let (containers, id) = (containers.clone(), id.clone());
            async move {
                loop {
                    let (line, running) = {
                        let all = containers.lock().unwrap();
                        let c = all.get(&id)?;
                        let line = c.output.get(next).cloned();
                        (line, c.phase == Phase::Running)
                    };
                    match line {
                        Some(line) => {
                            next += 1;
                            if line.timestamp_ns >= since_ns {
                                return Some((Ok(line), next));
                            }
                        }
                        None if running && follow => {
                            tokio::time::sleep(Duration::from_millis(10)).await
                        }
                        None => return None,
                    }
                }
            }
        });
        Ok(lines.boxed())
    }

    async fn exec(&self, id: &str, spec: &ExecSpec) -> Result<ExecProcess, RuntimeError> {
        let running = self
            .containers
            .lock()
            .unwrap()
            .get_mut(id)
            .map(|c| c.current() == Phase::Running);
        if running != Some(true) {
            return Err(RuntimeError::Exec(format!("container {id} is not running")));
        }
        self.record(format!(
            "exec {id} {:?} tty={} size={:?}",
            spec.command, spec.tty, spec.size
        ));
        let code = match spec.command.as_slice() {
            [exit, n] if exit == "exit" => n.parse().unwrap_or(0),
            _ => 0,
        };
        let (input, output) = tokio::io::duplex(64 * 1024);
        let echoed = futures::stream::unfold(output, |mut output| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 4096];
            match output.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some((Ok(ExecOutput::Stdout(buf[..n].to_vec())), output)),
            }
        });
        Ok(ExecProcess {
            input: Box::pin(input),
            output: echoed.boxed(),
            control: Box::new(FakeExec {
                code,
                calls: self.calls.clone(),
                id: id.to_string(),
            }),
        })
    }
}

/// A fake exec's controls.
struct FakeExec {
    code: i32,
    calls: Arc<Mutex<Vec<String>>>,
    id: String,
}

#[async_trait]
impl ExecControl for FakeExec {
    async fn resize(&self, cols: u16, rows: u16) -> Result<(), RuntimeError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("resize {} {cols}x{rows}", self.id));
        Ok(())
    }

    async fn exit_code(&self) -> Result<i32, RuntimeError> {
        Ok(self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(env: &[(&str, &str)]) -> ContainerSpec {
        ContainerSpec {
            name: "app".into(),
            image: "busybox".into(),
            entry_point: None,
            command: None,
            environment: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            labels: Default::default(),
            stop_timeout: Duration::from_secs(30),
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn containers_exit_on_their_own_schedule() {
        let rt = FakeRuntime::new();
        let id = rt
            .create(&spec(&[
                ("BERTH_FAKE_RUN_FOR_MS", "500"),
                ("BERTH_FAKE_EXIT_CODE", "3"),
            ]))
            .await
            .unwrap();
        rt.start(&id).await.unwrap();
        assert_eq!(rt.list().await.unwrap()[0].phase, Phase::Running);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(rt.list().await.unwrap()[0].phase, Phase::Exited { code: 3 });
    }

    #[tokio::test]
    async fn failures_come_back_as_ecs_reasons() {
        let rt = FakeRuntime::new();
        rt.missing_image("nope");
        let e = rt.pull("nope", None).await.unwrap_err();
        assert_eq!(e.to_string(), "CannotPullContainerError: nope: not found");
        let id = rt
            .create(&spec(&[("BERTH_FAKE_START_ERROR", "bad entrypoint")]))
            .await
            .unwrap();
        let e = rt.start(&id).await.unwrap_err();
        assert!(e.to_string().starts_with("CannotStartContainerError"));
        let id = rt.create(&spec(&[])).await.unwrap();
        rt.start(&id).await.unwrap();
        rt.stop(&id, Duration::from_secs(1)).await.unwrap();
        let state = rt
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap();
        assert_eq!(state.phase, Phase::Exited { code: 143 });
    }
}
