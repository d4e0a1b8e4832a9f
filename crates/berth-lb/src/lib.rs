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

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use berth_store::Store;
use tokio::sync::watch;

use listener_sockets::ListenerSockets;

pub mod actions;
pub mod api;
pub mod arn;
pub mod config;
pub mod dataplane;
pub mod error;
pub mod health_check;
pub mod health_state;
pub mod keys;
pub mod listener_sockets;
pub mod model;
pub mod names;
pub mod pattern;
pub mod resources;
pub mod targets;

pub use error::ElbError;
pub use keys::Scope;

/// The content type of every Query API response.
pub const CONTENT_TYPE: &str = "text/xml";

/// ELBv2's XML namespace.
pub const NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

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
    /// The sockets CreateListener bound, waiting for the data plane to serve them.
    sockets: Arc<ListenerSockets>,
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
            sockets: Arc::new(ListenerSockets::new(config.host)),
            store,
            config,
            dns_name,
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
        let dispatched = api::dispatch(
            &*self.store,
            &self.dns_name,
            &self.sockets,
            scope,
            request_id.clone(),
            body,
        )
        .await;
        match dispatched {
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
            body: berth_query::xml::error_response(
                NAMESPACE,
                e.status(),
                e.code(),
                e.message(),
                &request_id,
            ),
            request_id,
        }
    }

    /// Runs the data plane until `shutdown` turns true.
    pub async fn serve(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        dataplane::supervisor::run(
            self.store.clone(),
            self.sockets.clone(),
            self.config.instance_host,
            Arc::new(dataplane::health::NetProber),
            shutdown,
        )
        .await
    }
}
