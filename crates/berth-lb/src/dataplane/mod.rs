//! The data plane: listeners that really listen and proxy (HTTP for application load
//! balancers, TCP for network ones), health checks, and draining, all driven from the
//! store by one level-triggered [`supervisor`].
//!
//! [`topology`] computes what should run from the configuration (pure), [`routing`]
//! picks a target for each request, [`http_proxy`] and [`tcp_proxy`] move the bytes,
//! on the [`workers`]' threads, and [`health`] checks targets and reports their health.

use std::net::SocketAddr;

pub mod health;
pub mod http_proxy;
pub mod routing;
pub mod supervisor;
pub mod tcp_proxy;
pub mod topology;
pub mod workers;

/// Binds a listening socket on `addr` (with `SO_REUSEADDR`, so a port a closed
/// listener left in TIME_WAIT can be taken again, and a backlog of 1024). Must be
/// called within the tokio runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
