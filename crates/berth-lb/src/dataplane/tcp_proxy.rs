//! The TCP listener of a network load balancer: each accepted connection goes to the
//! next target of the listener's default action and bytes are copied both ways, on one
//! of the [`super::workers`], until either side closes. A target that refuses is tried
//! no further: the client's connection is closed, as an NLB resets it.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::routing::{Route, Routes};
use super::workers::Workers;

/// How long connecting to a target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `stop` changes; open connections then close.
pub async fn serve(
    socket: TcpListener,
    routes: watch::Receiver<Arc<Routes>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = socket.accept() => match accepted {
                Ok((client, _)) => {
                    let (routes, stop) = (routes.borrow().clone(), stop.clone());
                    Workers::get().serve(client, move |client| relay(client, routes, stop));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "load balancer listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn relay(mut client: TcpStream, routes: Arc<Routes>, mut stop: watch::Receiver<bool>) {
    let target = match &routes.default {
        Route::Forward(weighted) => weighted.pick().and_then(|g| g.pick()).cloned(),
        Route::Fixed { .. } => None,
    };
    let Some(target) = target else {
        return;
    };
    let mut upstream =
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(target = %target.addr, error = %e, "target refused");
                return;
            }
            Err(_) => {
                tracing::debug!(target = %target.addr, "target did not accept in time");
                return;
            }
        };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = stop.changed() => {}
    }
}
