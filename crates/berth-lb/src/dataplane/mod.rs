//! The data plane: listeners that really listen and proxy (HTTP for application load
//! balancers, TCP for network ones), health checks, and draining, all driven from the
//! store by one level-triggered [`supervisor`].
//!
//! [`topology`] computes what should run from the configuration (pure), [`routing`]
//! picks a target for each request, [`http_proxy`] and [`tcp_proxy`] move the bytes,
//! on the [`workers`]' threads, and [`health`] checks targets and reports their health.
//! Listeners serve the sockets of [`crate::listener_sockets`].

pub mod health;
pub mod http_proxy;
pub mod routing;
pub mod supervisor;
pub mod tcp_proxy;
pub mod topology;
pub mod workers;
