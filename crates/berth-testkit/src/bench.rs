//! For benchmarks that drive release `berth` processes: find the binary, start a
//! `berth server` and wait until it answers, set up the `bench` cluster the agent
//! benchmarks share, run the docker CLI, stop what was started even when a run fails,
//! and read a process's memory.
#![allow(clippy::disallowed_types)] // benchmarks measure wall-clock time, not tokio's

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process, killed when dropped, so a failed run leaves nothing behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The release binary: `BERTH_BIN`, else `target/release/berth` of this workspace.
pub fn release_binary() -> PathBuf {
    let bin = std::env::var_os("BERTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/berth")
        });
    assert!(
        bin.is_file(),
        "{} not found: cargo build --release -p berth",
        bin.display()
    );
    bin
}

/// Starts `berth server` on a free loopback port with `data_dir` and the given key,
/// waits until it answers `/health`, and returns it with its endpoint URL.
pub async fn start_server(
    bin: &Path,
    data_dir: &Path,
    key: &str,
    secret: &str,
) -> (ChildGuard, String) {
    start_server_with(bin, data_dir, key, secret, &[]).await
}

/// [`start_server`] with more `berth server` flags (`--store etcd://...`).
pub async fn start_server_with(
    bin: &Path,
    data_dir: &Path,
    key: &str,
    secret: &str,
    extra: &[String],
) -> (ChildGuard, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    start_server_on(bin, data_dir, key, secret, extra, port).await
}

/// [`start_server_with`] on a given port (a replica restarted where it was).
pub async fn start_server_on(
    bin: &Path,
    data_dir: &Path,
    key: &str,
    secret: &str,
    extra: &[String],
    port: u16,
) -> (ChildGuard, String) {
    let child = Command::new(bin)
        .args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--no-profile")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--access-key-id", key, "--secret-access-key", secret])
        .args(extra)
        .env("BERTH_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start berth server");
    let guard = ChildGuard(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{endpoint}/health")).send().await.is_ok() {
            return (guard, endpoint);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("berth server at {endpoint} did not answer within 10 s");
}

/// Starts `berth agent` for cluster `cluster` of the server at `endpoint` (whose data
/// directory `data_dir` holds the agent token; the agent keeps its own state in
/// `data_dir/agent_dir`), on the Docker Engine `docker_host`, with `env` added, and
/// waits until it has joined.
#[allow(clippy::too_many_arguments)]
pub async fn start_agent(
    bin: &Path,
    client: &crate::EcsClient,
    endpoint: &str,
    data_dir: &Path,
    agent_dir: &str,
    docker_host: &str,
    cluster: &str,
    env: &[(&str, &str)],
) -> ChildGuard {
    let child = Command::new(bin)
        .args(["agent", "--server", endpoint, "--docker-host", docker_host])
        .arg("--token-file")
        .arg(data_dir.join("agent-token"))
        .arg("--data-dir")
        .arg(data_dir.join(agent_dir))
        .env("ECS_CLUSTER", cluster)
        .env("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")
        .env("BERTH_ENDPOINT_PORT", "0")
        .env("BERTH_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .expect("start berth agent");
    let guard = ChildGuard(child);
    let before = instances(client, cluster).await;
    for _ in 0..300 {
        if instances(client, cluster).await > before {
            return guard;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("berth agent did not join {cluster} within 30 s");
}

async fn instances(client: &crate::EcsClient, cluster: &str) -> usize {
    client
        .call(
            "ListContainerInstances",
            serde_json::json!({"cluster": cluster}),
        )
        .await
        .ok()
        .and_then(|l| l["containerInstanceArns"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// A `/proc/PID/status` memory field (`VmRSS:`, `RssAnon:`, ...), in MiB.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A process's resident set, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

/// Runs the docker CLI against `host`; panics with its stderr when it fails. Returns
/// its stdout.
pub fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .output()
        .expect("run the docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What an agent benchmark runs against: the engine (`DOCKER_HOST`), the test image
/// (`BERTH_TEST_IMAGE`), and a release `berth server` with cluster `bench`.
pub struct BenchCluster {
    pub bin: PathBuf,
    pub docker_host: String,
    pub image: String,
    pub endpoint: String,
    pub client: crate::EcsClient,
    /// Holds the server's data (the agent token among it); removed on drop.
    pub dir: tempfile::TempDir,
    pub server: ChildGuard,
}

impl BenchCluster {
    /// Starts the server with key `key` / `secret` and creates cluster `bench`.
    pub async fn start(key: &str, secret: &str) -> BenchCluster {
        let bin = release_binary();
        let docker_host =
            std::env::var("DOCKER_HOST").expect("set DOCKER_HOST to the engine to use");
        let image = std::env::var("BERTH_TEST_IMAGE")
            .unwrap_or_else(|_| "berth-test/busybox:latest".into());
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (server, endpoint) = start_server(&bin, dir.path(), key, secret).await;
        let client = crate::EcsClient::new(&endpoint, key, secret, "us-east-1");
        client
            .call("CreateCluster", serde_json::json!({"clusterName": "bench"}))
            .await
            .expect("CreateCluster");
        BenchCluster {
            bin,
            docker_host,
            image,
            endpoint,
            client,
            dir,
            server,
        }
    }

    /// Starts a `berth agent` on the engine in cluster `bench`, with `env` added.
    pub async fn start_agent(&self, env: &[(&str, &str)]) -> ChildGuard {
        self.start_agent_named("agent", env).await
    }

    /// Starts one of several `berth agent`s on the engine in cluster `bench`, each its
    /// own container instance: `name` is its data directory's, under the server's.
    pub async fn start_agent_named(&self, name: &str, env: &[(&str, &str)]) -> ChildGuard {
        start_agent(
            &self.bin,
            &self.client,
            &self.endpoint,
            self.dir.path(),
            name,
            &self.docker_host,
            "bench",
            env,
        )
        .await
    }
}

/// Registers `count` EC2 container instances with ample CPU and memory in `cluster`
/// over the agent channel (with the agent `token` of the server at `endpoint`), as
/// benches do to have capacity without agents; returns their ARNs.
pub async fn register_instances(
    http: &reqwest::Client,
    endpoint: &str,
    token: &str,
    cluster: &str,
    count: usize,
) -> Vec<String> {
    let mut arns = Vec::with_capacity(count);
    for _ in 0..count {
        let r: serde_json::Value = http
            .post(format!("{endpoint}/agent/v1/register"))
            .bearer_auth(token)
            .json(
                &serde_json::json!({"kind": "EC2", "cluster": cluster, "cpu": 10_000_000,
                "memory": 10_000_000,
                "attributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]}),
            )
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("register answer");
        arns.push(
            r["containerInstanceArn"]
                .as_str()
                .expect("an instance ARN")
                .to_string(),
        );
    }
    arns
}

/// Heartbeats for the instances `arns` every heartbeat interval, so they stay
/// "connected" while a bench runs; abort the handle to stop.
pub fn keep_heartbeating(
    http: reqwest::Client,
    endpoint: String,
    token: String,
    arns: Vec<String>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            for arn in &arns {
                let _ = http
                    .post(format!("{endpoint}/agent/v1/heartbeat"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"containerInstanceArn": arn}))
                    .send()
                    .await;
            }
            tokio::time::sleep(berth_api::agent::HEARTBEAT_INTERVAL).await;
        }
    })
}
