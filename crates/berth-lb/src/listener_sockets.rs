//! The sockets listeners listen on, all on the load balancers' host: binding a
//! listener's port, and the hand-over of a socket CreateListener bound (so a port
//! something else holds fails the call) to the data plane that serves it once it sees
//! the listener.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::error::ElbError;

/// Binds a listening socket on `addr` (with `SO_REUSEADDR`, so a port a closed
/// listener left in TIME_WAIT can be taken again, and a backlog of 1024). Must be
/// called within the tokio runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The load balancers' host and the sockets bound on it for listeners the data plane
/// has not taken yet; shared by the API and the data plane.
pub struct ListenerSockets {
    /// The address every listener binds.
    host: IpAddr,
    /// Sockets CreateListener bound, waiting for the data plane to serve them.
    prebound: Mutex<HashMap<String, TcpListener>>,
}

impl ListenerSockets {
    /// No sockets yet; listeners bind on `host`.
    pub fn new(host: IpAddr) -> ListenerSockets {
        ListenerSockets {
            host,
            prebound: Mutex::new(HashMap::new()),
        }
    }

    /// The address every listener binds.
    pub fn host(&self) -> IpAddr {
        self.host
    }

    /// Binds a listener's port on the load balancers' host. A port just freed by a
    /// listener being closed is waited for briefly.
    pub(crate) async fn bind_listener_port(&self, port: u16) -> Result<TcpListener, ElbError> {
        let addr = SocketAddr::new(self.host, port);
        let mut waited = Duration::ZERO;
        loop {
            match bind(addr) {
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
    pub(crate) fn hand_over(&self, arn: &str, socket: TcpListener) {
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
    pub(crate) fn take_prebound(&self, arn: &str) -> Option<TcpListener> {
        self.prebound.lock().expect("prebound lock").remove(arn)
    }
}
