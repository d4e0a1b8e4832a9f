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
    tls: Option<Tls>,
}

/// PEM files of a cluster that speaks TLS to its clients and requires their
/// certificates: a CA, the members' certificate (for 127.0.0.1), and a client's.
pub struct Tls {
    pub ca_pem: Vec<u8>,
    /// The client's certificate followed by its key.
    pub client_identity_pem: Vec<u8>,
}

fn generate_tls(dir: &Path) -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(vec![]).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let signed = |san: Vec<SanType>| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![]).expect("params");
        params.subject_alt_names = san;
        let cert = params.signed_by(&key, &ca, &ca_key).expect("certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = signed(vec![SanType::IpAddress(std::net::IpAddr::V4(
        std::net::Ipv4Addr::LOCALHOST,
    ))]);
    let (client_cert, client_key) = signed(vec![SanType::DnsName(
        "berth-client".try_into().expect("a DNS name"),
    )]);
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.pem", server_cert),
        ("server-key.pem", server_key),
    ] {
        std::fs::write(dir.join(name), pem).expect("write a PEM file");
    }
    Tls {
        ca_pem: ca.pem().into_bytes(),
        client_identity_pem: format!("{client_cert}{client_key}").into_bytes(),
    }
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
        Self::start_with(n, false).await
    }

    /// Starts `n` members that speak TLS to clients and require a client certificate
    /// ([`EtcdCluster::tls`] has the PEM files to connect with).
    pub async fn start_tls(n: usize) -> EtcdCluster {
        Self::start_with(n, true).await
    }

    async fn start_with(n: usize, tls: bool) -> EtcdCluster {
        // A fresh cluster holds nothing yet, so one that does not come up (a port taken
        // between choosing it and etcd binding it, by another test running alongside)
        // is started again on other ports; each failure is told on stderr.
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let cluster = Self::spawn_all(n, tls);
            match cluster.healthy_within(Duration::from_secs(60)).await {
                Ok(()) => return cluster,
                Err(why) if attempt < ATTEMPTS => {
                    eprintln!("etcd cluster start {attempt} of {ATTEMPTS} failed, again: {why}");
                }
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn_all(n: usize, tls: bool) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = tls.then(|| generate_tls(dir.path()));
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
            tls,
        };
        for i in 0..n {
            cluster.spawn(i, "new");
        }
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The PEM files of a TLS cluster.
    pub fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        let root = self.dir.path().to_path_buf();
        let scheme = self.scheme();
        let tls_args: Vec<String> = if self.tls.is_some() {
            [
                ("--cert-file", "server.pem"),
                ("--key-file", "server-key.pem"),
                ("--trusted-ca-file", "ca.pem"),
            ]
            .iter()
            .flat_map(|(flag, file)| [flag.to_string(), root.join(file).display().to_string()])
            .chain(["--client-cert-auth".to_string()])
            .collect()
        } else {
            vec![]
        };
        let m = &mut self.members[i];
        let log = std::fs::File::create(root.join(format!("{}.log", m.name))).expect("etcd log");
        let child = Command::new(etcd_binary())
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(root.join(&m.name))
            .args([
                "--listen-client-urls",
                &format!("{scheme}://127.0.0.1:{}", m.client_port),
                "--advertise-client-urls",
                &format!("{scheme}://127.0.0.1:{}", m.client_port),
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
            .args(&tls_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
        m.child = Some(child);
    }

    /// Waits until every running member answers `/health` with `true`.
    pub async fn wait_healthy(&self) {
        if let Err(why) = self.healthy_within(Duration::from_secs(60)).await {
            panic!("{why}");
        }
    }

    /// Waits up to `wait` until every running member answers `/health` with `true`;
    /// otherwise says which did not, with the end of its log.
    async fn healthy_within(&self, wait: Duration) -> Result<(), String> {
        let mut http = reqwest::Client::builder();
        if let Some(tls) = &self.tls {
            http = http
                .add_root_certificate(reqwest::Certificate::from_pem(&tls.ca_pem).expect("CA"))
                .identity(reqwest::Identity::from_pem(&tls.client_identity_pem).expect("client"));
        }
        let http = http.build().expect("an HTTP client");
        let scheme = self.scheme();
        let deadline = Instant::now() + wait;
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let url = format!("{scheme}://127.0.0.1:{}/health", m.client_port);
            loop {
                let healthy = match http.get(&url).send().await {
                    Ok(r) => r.text().await.unwrap_or_default().contains("\"true\""),
                    Err(_) => false,
                };
                if healthy {
                    break;
                }
                if Instant::now() >= deadline {
                    let log = std::fs::read_to_string(self.log_path(&m.name)).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(format!(
                        "etcd member {} did not become healthy within {wait:?}; its log ends:\n{}",
                        m.name,
                        tail.join("\n")
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
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
            .map(|m| format!("{}://127.0.0.1:{}", self.scheme(), m.client_port))
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
