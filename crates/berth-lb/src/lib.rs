//! Elastic Load Balancing v2 for Berth: the Query API subset the AWS CLI's `aws elbv2`
//! and boto3 speak (load balancers, target groups, listeners, rules, targets and their
//! health), kept in the [`berth_store::Store`], and a real data plane that serves it:
//! listeners that listen on this host, an HTTP reverse proxy and a TCP relay, health
//! checks and draining.
//!
//! ```text
//!  aws elbv2 ... ──► berth-server (SigV4) ──► Elb::handle ──► api::* ──► store
//!                                                                         │ watch
//!  clients ──► listener (http_proxy / tcp_proxy) ◄── supervisor ◄─────────┘
//!                  │ round robin over healthy targets  ▲ health reports
//!                  ▼                                    │
//!               targets ◄──────── health checkers ──────┘
//! ```
//!
//! The ECS service controller registers its tasks in-process through [`targets`]
//! (see its module documentation for the contract).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_store::Store;
use tokio::sync::watch;

pub mod actions;
pub mod api;
pub mod arn;
pub mod config;
pub mod dataplane;
pub mod error;
pub mod health_check;
pub mod health_state;
pub mod keys;
pub mod model;
pub mod names;
pub mod pattern;
pub mod query;
pub mod targets;
pub mod xml;

pub use error::ElbError;
pub use keys::Scope;

/// The content type of every Query API response.
pub const CONTENT_TYPE: &str = "text/xml";

/// Where load balancers listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElbConfig {
    /// The address every listener binds (loopback unless told otherwise).
    pub host: IpAddr,
    /// The name DescribeLoadBalancers reports as `DNSName`; the host's address when
    /// `None` (`localhost` when the host is the unspecified address).
    pub dns_name: Option<String>,
    /// Where `instance` targets are reached: Berth's instances are the machines its
    /// agents run on, and with one machine that is this one.
    pub instance_host: IpAddr,
}

impl Default for ElbConfig {
    fn default() -> Self {
        ElbConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            dns_name: None,
            instance_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// A Query API response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResponse {
    pub status: u16,
    /// XML.
    pub body: String,
    pub request_id: String,
}

/// ELBv2 in one process: the API and the data plane it feeds.
pub struct Elb {
    store: Arc<dyn Store>,
    config: ElbConfig,
    dns_name: String,
    /// Sockets CreateListener bound, waiting for the data plane to serve them.
    prebound: Mutex<HashMap<String, tokio::net::TcpListener>>,
}

impl Elb {
    /// ELBv2 over `store`.
    pub fn new(store: Arc<dyn Store>, config: ElbConfig) -> Elb {
        let dns_name = config.dns_name.clone().unwrap_or_else(|| {
            if config.host.is_unspecified() {
                "localhost".to_string()
            } else {
                config.host.to_string()
            }
        });
        Elb {
            store,
            config,
            dns_name,
            prebound: Mutex::new(HashMap::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The store, shared.
    pub fn store_handle(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Where load balancers listen.
    pub fn config(&self) -> &ElbConfig {
        &self.config
    }

    /// Every load balancer's `DNSName`.
    pub fn dns_name(&self) -> &str {
        &self.dns_name
    }

    /// Serves one Query API request (a form-encoded body) of a caller authenticated
    /// for `scope`.
    pub async fn handle(&self, scope: Scope, body: &[u8]) -> QueryResponse {
        let request_id = uuid::Uuid::new_v4().to_string();
        match api::dispatch(self, scope, request_id.clone(), body).await {
            Ok(body) => QueryResponse {
                status: 200,
                body,
                request_id,
            },
            Err(e) => Elb::error_response(&e, request_id),
        }
    }

    /// The response for an error (the front door's, too).
    pub fn error_response(e: &ElbError, request_id: String) -> QueryResponse {
        if e.status() >= 500 {
            tracing::error!(code = e.code(), message = e.message(), "ELB request failed");
        }
        QueryResponse {
            status: e.status(),
            body: xml::error_response(e, &request_id),
            request_id,
        }
    }

    /// Runs the data plane until `shutdown` turns true.
    pub async fn serve(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        dataplane::supervisor::run(self, Arc::new(dataplane::health::NetProber), shutdown).await
    }

    /// Binds a listener's port on the load balancers' host. A port just freed by a
    /// listener being closed is waited for briefly.
    pub(crate) async fn bind_listener_port(
        &self,
        port: u16,
    ) -> Result<tokio::net::TcpListener, ElbError> {
        let addr = SocketAddr::new(self.config.host, port);
        let mut waited = Duration::ZERO;
        loop {
            match dataplane::bind(addr) {
                Ok(socket) => return Ok(socket),
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && waited < Duration::from_secs(1) =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    waited += Duration::from_millis(50);
                }
                Err(e) => {
                    return Err(ElbError::InvalidConfigurationRequest(format!(
                        "Cannot listen on {addr}: {e}. Choose another port for the listener."
                    )))
                }
            }
        }
    }

    /// Leaves a bound socket for the data plane to serve as listener `arn`.
    pub(crate) fn hand_over(&self, arn: &str, socket: tokio::net::TcpListener) {
        self.prebound
            .lock()
            .expect("prebound lock")
            .insert(arn.to_string(), socket);
    }

    /// Takes back (and so closes) a socket whose listener was not created.
    pub(crate) fn take_back(&self, arn: &str) {
        self.take_prebound(arn);
    }

    /// The socket CreateListener bound for listener `arn`, if any.
    pub(crate) fn take_prebound(&self, arn: &str) -> Option<tokio::net::TcpListener> {
        self.prebound.lock().expect("prebound lock").remove(arn)
    }
}
