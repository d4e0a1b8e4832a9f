//! A real etcd cluster for tests: `n` `etcd` processes (Debian's `etcd-server`) on free
//! loopback ports, each with its own data directory under one temporary directory,
//! started together and stopped when the fixture is dropped. Members can be killed,
//! paused (SIGSTOP) and brought back, to test what replicas do when etcd falters.
//!
//! A missing `etcd` binary fails the test with the command that installs it; it never
//! skips.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

/// One member.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// A running etcd cluster.
pub struct EtcdCluster {
    members: Vec<Member>,
    token: String,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The `etcd` binary: `BERTH_TEST_ETCD`, else `etcd` on the PATH.
fn etcd_binary() -> PathBuf {
    if let Ok(path) = std::env::var("BERTH_TEST_ETCD") {
        return path.into();
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("etcd"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "etcd is not installed: run `apt-get install etcd-server` (scripts/test installs it), \
             or set BERTH_TEST_ETCD to an etcd binary"
        )
    })
}

impl EtcdCluster {
    /// Starts `n` members and waits until every one is healthy.
    pub async fn start(n: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let mut cluster = EtcdCluster {
            members,
            token: format!("berth-test-{}", std::process::id()),
            dir,
        };
        for i in 0..n {
            cluster.spawn(i, "new");
        }
        cluster.wait_healthy().await;
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        let root = self.dir.path().to_path_buf();
        let m = &mut self.members[i];
        let log = std::fs::File::create(root.join(format!("{}.log", m.name))).expect("etcd log");
        let child = Command::new(etcd_binary())
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(root.join(&m.name))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{}", m.client_port),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{}", m.client_port),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{}", m.peer_port),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{}", m.peer_port),
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                state,
                "--initial-cluster-token",
                &self.token,
                "--heartbeat-interval",
                "50",
                "--election-timeout",
                "500",
                // Benchmarks store 100,000 tasks and keep their history: more than etcd's
                // default 2 GiB quota allows before compaction.
                "--quota-backend-bytes",
                "8589934592",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
        m.child = Some(child);
    }

    /// Waits until every running member answers `/health` with `true`.
    pub async fn wait_healthy(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let url = format!("http://127.0.0.1:{}/health", m.client_port);
            loop {
                let healthy = match http.get(&url).send().await {
                    Ok(r) => r.text().await.unwrap_or_default().contains("\"true\""),
                    Err(_) => false,
                };
                if healthy {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "etcd member {} did not become healthy (log: {})",
                    m.name,
                    self.log_path(&m.name).display()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The directory holding the members' data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// The cluster as `berth server --store` names it: `etcd://H:P,H:P,...`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect();
        format!("etcd://{}", hosts.join(","))
    }

    /// Kills member `i` (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i, "existing");
        self.wait_healthy().await;
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        // BERTH_KEEP_ETCD keeps the members' data and logs for a look afterwards.
        if std::env::var_os("BERTH_KEEP_ETCD").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            eprintln!("etcd data and logs kept in {}", kept.keep().display());
        }
    }
}
