//! The agent's side of the agent channel (`berth_api::agent`): HTTP calls to the
//! control plane with the agent token.

use berth_api::agent::{
    Assignments, HeartbeatRequest, LogBatch, LogBatchAnswer, RegisterRequest, RegisterResponse,
    RegistryCredentials, RegistryCredentialsRequest, TaskCredentials, TaskCredentialsRequest,
    TaskStateReport,
};

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

/// A client of one control plane.
#[derive(Clone)]
pub struct Channel {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Channel {
    /// A client for the control plane at `server` (e.g. `http://127.0.0.1:7430`).
    pub fn new(server: &str, token: &str) -> Channel {
        Channel {
            http: reqwest::Client::new(),
            base: format!("{}/agent/v1", server.trim_end_matches('/')),
            token: token.trim().to_string(),
        }
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ChannelError> {
        let resp = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        if status != 200 {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(ChannelError::Refused { status, message });
        }
        serde_json::from_slice(&body).map_err(|e| ChannelError::Refused {
            status,
            message: format!("unreadable answer: {e}"),
        })
    }

    /// Registers capacity; returns the container instance ARN.
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, ChannelError> {
        self.send(self.http.post(format!("{}/register", self.base)).json(req))
            .await
    }

    /// Says the agent behind `arn` is alive.
    pub async fn heartbeat(&self, arn: &str) -> Result<(), ChannelError> {
        let req = HeartbeatRequest {
            container_instance_arn: arn.to_string(),
        };
        self.send::<serde_json::Value>(
            self.http
                .post(format!("{}/heartbeat", self.base))
                .json(&req),
        )
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
        let url = format!("{}/assignments", self.base);
        let mut query = vec![("containerInstanceArn", arn.to_string())];
        if let Some(after) = after {
            query.push(("afterRevision", after.to_string()));
            query.push(("waitSeconds", wait.as_secs().max(1).to_string()));
        }
        self.send(self.http.get(url).query(&query)).await
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
        self.send(
            self.http
                .post(format!("{}/task-credentials", self.base))
                .json(&req),
        )
        .await
    }

    /// A login to the control plane's registry, for the agent behind `arn`'s own pulls.
    pub async fn registry_credentials(
        &self,
        arn: &str,
    ) -> Result<RegistryCredentials, ChannelError> {
        let req = RegistryCredentialsRequest {
            container_instance_arn: arn.to_string(),
        };
        self.send(
            self.http
                .post(format!("{}/registry-credentials", self.base))
                .json(&req),
        )
        .await
    }

    /// Ships a batch of a container's output to its log stream.
    pub async fn ship_logs(&self, batch: &LogBatch) -> Result<LogBatchAnswer, ChannelError> {
        self.send(self.http.post(format!("{}/logs", self.base)).json(batch))
            .await
    }

    /// Reports a task's state, as the agent behind `arn`.
    pub async fn report(&self, arn: &str, report: &TaskStateReport) -> Result<(), ChannelError> {
        let url = format!("{}/task-state", self.base);
        let req = self
            .http
            .post(url)
            .query(&[("containerInstanceArn", arn)])
            .json(report);
        self.send::<serde_json::Value>(req).await.map(|_| ())
    }
}
