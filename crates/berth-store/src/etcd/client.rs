//! The transport to an etcd cluster: JSON over HTTP to its v3 gateway, on every member
//! given, with TLS when the endpoints are `https`. A call goes to the member that
//! answered last; when that member cannot be reached it moves on to the next, so a
//! cluster that lost a member keeps serving. etcd's own errors (a compacted revision,
//! a transaction over its limits) are returned as they are, never retried elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::GatewayError;
use super::EtcdOptions;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No member could be reached (each one's error, last first).
    #[error("no etcd member could be reached ({0})")]
    Unreachable(String),
    /// A write was sent but its answer never came: it may or may not have been applied.
    #[error("etcd did not answer a write, which may or may not have been applied ({0})")]
    Unknown(String),
    /// etcd refused the request; `code` is the gRPC status code.
    #[error("etcd refused the request: {message}")]
    Refused { code: i32, message: String },
    /// An answer that is not etcd's JSON.
    #[error("etcd's answer could not be read: {0}")]
    Garbled(String),
}

/// An error with its causes, for messages that say what actually failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The gRPC status code etcd gives a request for a compacted revision.
pub const OUT_OF_RANGE: i32 = 11;

/// HTTP clients for a set of members.
pub struct Client {
    http: reqwest::Client,
    /// For watches and keepalives: no overall timeout.
    streaming: reqwest::Client,
    endpoints: Vec<String>,
    current: AtomicUsize,
}

impl Client {
    pub fn new(options: &EtcdOptions) -> Result<Client, String> {
        let build = |timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .pool_idle_timeout(Duration::from_secs(60))
                .tcp_nodelay(true);
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            if let Some(ca) = &options.ca_pem {
                let cert = reqwest::Certificate::from_pem(ca)
                    .map_err(|e| format!("the etcd CA certificate cannot be read: {e}"))?;
                b = b.add_root_certificate(cert).tls_built_in_root_certs(false);
            }
            if let Some(identity) = &options.client_identity_pem {
                let id = reqwest::Identity::from_pem(identity).map_err(|e| {
                    format!("the etcd client certificate and key cannot be read: {e}")
                })?;
                b = b.identity(id);
            }
            b.build()
                .map_err(|e| format!("cannot set up the etcd client: {e}"))
        };
        if options.endpoints.is_empty() {
            return Err("no etcd endpoint given".into());
        }
        Ok(Client {
            http: build(Some(options.request_timeout))?,
            streaming: build(None)?,
            endpoints: options.endpoints.clone(),
            current: AtomicUsize::new(0),
        })
    }

    /// The members, as given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Sends `request` to `path` on the first member that answers. A request that may
    /// change the store (`writes`) moves to another member only when it was never
    /// delivered (the connection failed, or the member refused it unapplied): after a
    /// timeout its outcome is unknown, and a retry elsewhere could apply it twice.
    pub async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
        writes: bool,
    ) -> Result<A, CallError> {
        let response = self.send(&self.http, path, request, writes).await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| CallError::Garbled(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| CallError::Garbled(e.to_string()))
    }

    /// Opens a streaming call (a watch, a keepalive) on the first member that answers.
    pub async fn open_stream<Q: Serialize>(
        &self,
        path: &str,
        request: &Q,
    ) -> Result<reqwest::Response, CallError> {
        self.send(&self.streaming, path, request, false).await
    }

    async fn send<Q: Serialize>(
        &self,
        http: &reqwest::Client,
        path: &str,
        request: &Q,
        writes: bool,
    ) -> Result<reqwest::Response, CallError> {
        let body = serde_json::to_vec(request).map_err(|e| CallError::Garbled(e.to_string()))?;
        let first = self.current.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for step in 0..self.endpoints.len() {
            let at = (first + step) % self.endpoints.len();
            let url = format!("{}{path}", self.endpoints[at]);
            let sent = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(response);
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    let error: GatewayError = serde_json::from_str(&text).unwrap_or_default();
                    // 503: the member has no leader or is stopping; another may serve.
                    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                        failures.push(format!("{url}: {}", error.text()));
                        continue;
                    }
                    return Err(CallError::Refused {
                        code: error.code,
                        message: if error.text().is_empty() {
                            format!("HTTP {status}: {text}")
                        } else {
                            error.text().to_string()
                        },
                    });
                }
                Err(e) if writes && !e.is_connect() => {
                    return Err(CallError::Unknown(format!("{url}: {}", chain(&e))));
                }
                Err(e) => failures.push(format!("{url}: {}", chain(&e))),
            }
        }
        failures.reverse();
        Err(CallError::Unreachable(failures.join("; ")))
    }
}
