//! The agent's side of the agent channel (`berth_api::agent`): HTTP calls to the
//! control plane with a bearer token (the join token to register, then the agent's own
//! credential). With several control plane replicas given, a call
//! goes to the one that answered last, and to the next one when it cannot be reached, so
//! the loss of a replica costs the agent one failed connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_api::agent::{
    Assignments, HeartbeatRequest, LogBatch, LogBatchAnswer, NetworkAssignment, NetworkRequest,
    RegisterRequest, RegisterResponse, RegistryCredentials, RegistryCredentialsRequest,
    TaskCredentials, TaskCredentialsRequest, TaskMetricsAnswer, TaskMetricsReport, TaskRoutes,
    TaskSecrets, TaskSecretsRequest, TaskStateReport,
};
use berth_api::exec::ExecSessions;

/// Why a call to the control plane failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The control plane could not be reached; the agent retries.
    #[error("cannot reach the control plane: {0}")]
    Unreachable(String),
    /// The control plane answered with an error.
    #[error("the control plane refused the call ({status}): {message}")]
    Refused { status: u16, message: String },
}

/// A client of a control plane (one or more replicas).
#[derive(Clone)]
pub struct Channel {
    http: reqwest::Client,
    /// `SERVER/agent/v1` of each replica.
    bases: Arc<Vec<String>>,
    /// The replica that answered last.
    current: Arc<AtomicUsize>,
    token: String,
}

impl Channel {
    /// A client for the control plane at `server` (e.g. `http://127.0.0.1:7430`), or at
    /// any of several replicas (`http://a:7430,http://b:7430`).
    pub fn new(server: &str, token: &str) -> Channel {
        Channel::with_http(server, token, reqwest::Client::new())
    }

    /// The same over HTTPS with a server certificate issued by the CA in `ca_pem` (PEM)
    /// trusted besides the system's.
    pub fn trusting(server: &str, token: &str, ca_pem: &[u8]) -> Result<Channel, ChannelError> {
        let bad = |e: reqwest::Error| ChannelError::Refused {
            status: 0,
            message: format!("cannot use the CA file: {e}"),
        };
        let mut http = reqwest::Client::builder();
        for cert in reqwest::Certificate::from_pem_bundle(ca_pem).map_err(bad)? {
            http = http.add_root_certificate(cert);
        }
        Ok(Channel::with_http(
            server,
            token,
            http.build().map_err(bad)?,
        ))
    }

    fn with_http(server: &str, token: &str, http: reqwest::Client) -> Channel {
        let bases = server
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("{}/agent/v1", s.trim_end_matches('/')))
            .collect();
        Channel {
            http,
            bases: Arc::new(bases),
            current: Arc::new(AtomicUsize::new(0)),
            token: token.trim().to_string(),
        }
    }

    /// The same control plane, called with another token (the agent credential a
    /// registration returned).
    pub fn with_token(&self, token: &str) -> Channel {
        Channel {
            token: token.trim().to_string(),
            ..self.clone()
        }
    }

    /// Sends the request `build` makes for a replica's base URL, to the replica that
    /// answered last or, when it cannot be reached, the next ones in turn.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<T, ChannelError> {
        let first = self.current.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        let mut resp = None;
        for step in 0..self.bases.len().max(1) {
            let at = (first + step) % self.bases.len().max(1);
            let Some(base) = self.bases.get(at) else {
                break;
            };
            match build(&self.http, base)
                .bearer_auth(&self.token)
                .send()
                .await
            {
                Ok(r) => {
                    self.current.store(at, Ordering::Relaxed);
                    resp = Some(r);
                    break;
                }
                // A request that may have reached its replica is not sent again
                // elsewhere: the caller's retry decides.
                Err(e) if !e.is_connect() => return Err(ChannelError::Unreachable(e.to_string())),
                Err(e) => failures.push(e.to_string()),
            }
        }
        let resp = resp.ok_or_else(|| ChannelError::Unreachable(failures.join("; ")))?;
        answer(resp).await
    }

    /// The base URL (`SERVER/agent/v1`) of every replica this channel calls.
    pub fn replicas(&self) -> &[String] {
        &self.bases
    }

    /// Exec sessions opened at replica `base` (one of [`Channel::replicas`]) for `arn`'s
    /// tasks: a long poll of up to `wait`. Sessions live on the replica that issued
    /// them, so the agent polls every replica and joins each session where it came from.
    pub async fn exec_sessions(
        &self,
        base: &str,
        arn: &str,
        wait: std::time::Duration,
    ) -> Result<ExecSessions, ChannelError> {
        let query = [
            ("containerInstanceArn", arn.to_string()),
            ("waitSeconds", wait.as_secs().max(1).to_string()),
        ];
        let resp = self
            .http
            .get(format!("{base}/exec-sessions"))
            .query(&query)
            .timeout(wait + std::time::Duration::from_secs(10))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        answer(resp).await
    }

    /// Joins exec session `id` at the replica `base` as the agent behind `arn`: the
    /// upgraded connection carries the session's stream.
    pub async fn exec_connect(
        &self,
        base: &str,
        arn: &str,
        id: &str,
    ) -> Result<reqwest::Upgraded, ChannelError> {
        let resp = self
            .http
            .get(format!("{base}/exec/{id}"))
            .query(&[("containerInstanceArn", arn)])
            .header(reqwest::header::CONNECTION, "upgrade")
            .header(reqwest::header::UPGRADE, berth_api::exec::UPGRADE_PROTOCOL)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 101 {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(refused(status, &body));
        }
        resp.upgrade()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))
    }

    /// Registers capacity; returns the container instance ARN.
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, ChannelError> {
        self.send(|http, base| http.post(format!("{base}/register")).json(req))
            .await
    }

    /// Records this host's task subnet and address; answers the subnet to use.
    pub async fn network(&self, req: &NetworkRequest) -> Result<NetworkAssignment, ChannelError> {
        self.send(|http, base| http.post(format!("{base}/network")).json(req))
            .await
    }

    /// The other hosts' task subnets and addresses: at once when `after` is `None`, else
    /// once they change after `after` or `wait` has gone by (a long poll).
    pub async fn routes(
        &self,
        arn: Option<&str>,
        after: Option<u64>,
        wait: std::time::Duration,
    ) -> Result<TaskRoutes, ChannelError> {
        let mut query: Vec<(&str, String)> = vec![("waitSeconds", wait.as_secs().to_string())];
        if let Some(arn) = arn {
            query.push(("containerInstanceArn", arn.to_string()));
        }
        if let Some(after) = after {
            query.push(("afterRevision", after.to_string()));
        }
        self.send(|http, base| {
            http.get(format!("{base}/routes"))
                .query(&query)
                .timeout(wait + std::time::Duration::from_secs(10))
        })
        .await
    }

    /// Says the agent behind `arn` is alive.
    pub async fn heartbeat(&self, arn: &str) -> Result<(), ChannelError> {
        let req = HeartbeatRequest {
            container_instance_arn: arn.to_string(),
        };
        self.send::<serde_json::Value>(|http, base| {
            http.post(format!("{base}/heartbeat")).json(&req)
        })
        .await
        .map(|_| ())
    }

    /// The tasks placed on `arn`: at once when `after` is `None`, else once the
    /// assignments' revision passes `after` or `wait` has gone by (a long poll).
    pub async fn assignments(
        &self,
        arn: &str,
        after: Option<u64>,
        wait: std::time::Duration,
    ) -> Result<Assignments, ChannelError> {
        let mut query = vec![("containerInstanceArn", arn.to_string())];
        if let Some(after) = after {
            query.push(("afterRevision", after.to_string()));
            query.push(("waitSeconds", wait.as_secs().max(1).to_string()));
        }
        self.send(|http, base| http.get(format!("{base}/assignments")).query(&query))
            .await
    }

    /// Short-lived credentials for the role of task `task_arn`, which runs on `arn`.
    pub async fn task_credentials(
        &self,
        arn: &str,
        task_arn: &str,
    ) -> Result<TaskCredentials, ChannelError> {
        let req = TaskCredentialsRequest {
            container_instance_arn: arn.to_string(),
            task_arn: task_arn.to_string(),
        };
        self.send(|http, base| http.post(format!("{base}/task-credentials")).json(&req))
            .await
    }

    /// A login to the control plane's registry, for the agent behind `arn`'s own pulls,
    /// or for the pulls of `task` (with its execution role).
    pub async fn registry_credentials(
        &self,
        arn: &str,
        task: Option<&str>,
    ) -> Result<RegistryCredentials, ChannelError> {
        let req = RegistryCredentialsRequest {
            container_instance_arn: arn.to_string(),
            task_arn: task.map(str::to_string),
        };
        self.send(|http, base| http.post(format!("{base}/registry-credentials")).json(&req))
            .await
    }

    /// The values of container `container`'s `secrets` and its `repositoryCredentials`
    /// login, read by the control plane with the execution role of task `task_arn`.
    pub async fn task_secrets(
        &self,
        arn: &str,
        task_arn: &str,
        container: &str,
    ) -> Result<TaskSecrets, ChannelError> {
        let req = TaskSecretsRequest {
            container_instance_arn: arn.to_string(),
            task_arn: task_arn.to_string(),
            container_name: container.to_string(),
        };
        self.send(|http, base| http.post(format!("{base}/task-secrets")).json(&req))
            .await
    }

    /// Ships a batch of a container's output to its log stream.
    pub async fn ship_logs(&self, batch: &LogBatch) -> Result<LogBatchAnswer, ChannelError> {
        self.send(|http, base| http.post(format!("{base}/logs")).json(batch))
            .await
    }

    /// Reports the CPU and memory its running tasks used.
    pub async fn report_metrics(
        &self,
        report: &TaskMetricsReport,
    ) -> Result<TaskMetricsAnswer, ChannelError> {
        self.send(|http, base| http.post(format!("{base}/task-metrics")).json(report))
            .await
    }

    /// Reports a task's state, as the agent behind `arn`.
    pub async fn report(&self, arn: &str, report: &TaskStateReport) -> Result<(), ChannelError> {
        self.send::<serde_json::Value>(|http, base| {
            http.post(format!("{base}/task-state"))
                .query(&[("containerInstanceArn", arn)])
                .json(report)
        })
        .await
        .map(|_| ())
    }
}

/// A replica's answer: its JSON when it says 200, else the error it gives.
async fn answer<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, ChannelError> {
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
    if status != 200 {
        return Err(refused(status, &body));
    }
    serde_json::from_slice(&body).map_err(|e| ChannelError::Refused {
        status,
        message: format!("unreadable answer: {e}"),
    })
}

/// The refusal a replica's error answer says: its `message`, else the body.
fn refused(status: u16, body: &[u8]) -> ChannelError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    ChannelError::Refused { status, message }
}
