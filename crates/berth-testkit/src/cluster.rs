//! An in-process control plane on a temporary data directory, with a signed client.

use std::path::PathBuf;

use berth_server::identity::Identity;
use berth_server::{Mount, Server, ServerConfig};

use crate::client::EcsClient;
use crate::fake_agent::{FakeAgent, FakeAgentConfig};

/// A control plane for one test. Dropping it stops nothing in flight; call
/// [`TestCluster::shutdown`] to stop it cleanly, or [`TestCluster::restart`].
pub struct TestCluster {
    pub server: Option<Server>,
    pub client: EcsClient,
    pub identity: Identity,
    pub data_dir: PathBuf,
    /// Routes mounted beside the control plane's own (the console's), kept for restarts.
    mounts: Vec<Mount>,
    _dir: Option<tempfile::TempDir>,
}

impl TestCluster {
    /// Starts a control plane on a fresh data directory and a free loopback port.
    pub async fn start() -> TestCluster {
        Self::start_mounted(Vec::new()).await
    }

    /// [`TestCluster::start`] with `mounts` served beside the control plane's routes.
    pub async fn start_mounted(mounts: Vec<Mount>) -> TestCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_path_buf();
        let mut c = Self::start_in(data_dir, mounts).await;
        c._dir = Some(dir);
        c
    }

    async fn start_in(data_dir: PathBuf, mounts: Vec<Mount>) -> TestCluster {
        let identity = Identity::load_or_create(&data_dir, "000000000000", None).expect("identity");
        let server = Server::start(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            region: "us-east-1".into(),
            identity: identity.clone(),
            keys_given: false,
            shared_dir: None,
            watch_cache: false,
            registry_upkeep: Default::default(),
            load_balancers: Default::default(),
            tls: None,
            advertise_host: None,
            secrets_key_file: None,
            task_cidr: None,
            mounts: mounts.clone(),
        })
        .await
        .expect("server starts");
        let client = EcsClient::new(
            &format!("http://{}", server.local_addr()),
            &identity.access_key_id,
            &identity.secret_access_key,
            "us-east-1",
        );
        TestCluster {
            server: Some(server),
            client,
            identity,
            data_dir,
            mounts,
            _dir: None,
        }
    }

    /// The control plane's base URL.
    pub fn endpoint(&self) -> String {
        format!(
            "http://{}",
            self.server.as_ref().expect("running").local_addr()
        )
    }

    /// The token agents join with.
    pub fn agent_token(&self) -> String {
        self.server
            .as_ref()
            .expect("running")
            .app()
            .agent_token
            .clone()
    }

    /// One raw agent-channel call (`/agent/v1/PATH`) with bearer `token`: the HTTP status
    /// and the JSON answer (null when there is none).
    pub async fn agent_call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}/agent/v1/{path}", self.endpoint()))
            .query(query)
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the agent channel answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Starts a long poll of `/agent/v1/PATH` (`assignments`, `routes`) for container
    /// instance `arn` after `revision`, waiting 20 s at most, on a task of its own: the
    /// handle answers how long it waited and what it got.
    pub fn long_poll(
        &self,
        token: &str,
        path: &str,
        arn: &str,
        revision: u64,
    ) -> tokio::task::JoinHandle<(std::time::Duration, serde_json::Value)> {
        let url = format!("{}/agent/v1/{path}", self.endpoint());
        let (token, arn) = (token.to_string(), arn.to_string());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let out = reqwest::Client::new()
                .get(url)
                .query(&[
                    ("containerInstanceArn", arn.as_str()),
                    ("afterRevision", &revision.to_string()),
                    ("waitSeconds", "20"),
                ])
                .bearer_auth(token)
                .send()
                .await
                .expect("the agent channel answers")
                .json()
                .await
                .unwrap_or(serde_json::Value::Null);
            (started.elapsed(), out)
        })
    }

    /// Starts a fake agent against this control plane.
    pub async fn agent(&self, config: FakeAgentConfig) -> FakeAgent {
        FakeAgent::start(&self.endpoint(), &self.agent_token(), config).await
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let dir = self._dir.take();
        let mut fresh = Self::start_in(self.data_dir.clone(), self.mounts.clone()).await;
        fresh._dir = dir;
        *self = fresh;
    }

    /// Stops the server.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}
