//! The HTTP listener of an application load balancer: hyper's HTTP/1.1 server (keep
//! alive, 60 s idle limit as ALB's default) in front of hyper's HTTP/1.1 client.
//!
//! Why hyper: it is already the HTTP stack under axum and reqwest in this workspace, its
//! server and client stream bodies both ways without buffering, and a reverse proxy is
//! little more than wiring one to the other. A proxy framework (pingora) would bring a
//! second HTTP stack and its own runtime for what is a few hundred lines here.
//!
//! Each client connection is served on one of the [`super::workers`]' threads, and the
//! connections to targets belong to it: it keeps one kept-alive connection per target
//! it has used and its task drives them itself, so a request and its forwarded copy are
//! served by one task with no hand-offs between tasks or threads. A shared pool
//! (hyper-util's client) drives each target connection in a task of its own, two
//! cross-task wake-ups per request: over one client connection it managed 6,400
//! requests/s at 63 us of CPU each, this 15,000 at 44 us (BENCHMARKS.md). The price:
//! target connections close with their client connection, so a client that opens a
//! connection per request costs a connect to the target per request too.
//!
//! Each request is routed ([`super::routing`]), gets `X-Forwarded-For` (appended),
//! `X-Forwarded-Proto` and `X-Forwarded-Port`, loses its hop-by-hop headers, and goes to
//! the picked target over a kept-alive connection. As ALB does: 503 when the target
//! group has no registered targets, 502 when the target cannot be reached or answers
//! with something that is not HTTP.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, HOST};
use http::uri::PathAndQuery;
use http::{HeaderMap, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::routing::{Route, Routes, Target};
use super::workers::Workers;

/// A response body: the target's, streamed, or one the load balancer wrote.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// How long an idle client connection is kept, as ALB's default idle timeout.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting to a target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Headers that describe one hop, not the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What every connection of one listener shares.
pub struct Listener {
    pub routes: watch::Receiver<Arc<Routes>>,
    /// `X-Forwarded-Port`: the listener's port.
    pub port: HeaderValue,
}

/// A future driving one connection to a target.
type Driver = BoxFuture<'static, ()>;

/// One client connection's connections to targets: kept-alive senders by target, and
/// the way to hand a new connection's driver to the client connection's task.
struct Upstreams {
    idle: Mutex<HashMap<SocketAddr, SendRequest<Incoming>>>,
    drivers: mpsc::UnboundedSender<Driver>,
}

impl Upstreams {
    /// A kept-alive connection to `addr`, if one is open.
    fn take(&self, addr: SocketAddr) -> Option<SendRequest<Incoming>> {
        let sender = self.idle.lock().expect("upstreams lock").remove(&addr)?;
        (!sender.is_closed()).then_some(sender)
    }

    fn put_back(&self, addr: SocketAddr, sender: SendRequest<Incoming>) {
        self.idle
            .lock()
            .expect("upstreams lock")
            .insert(addr, sender);
    }

    /// Opens a connection to `addr`; its driver runs in the client connection's task.
    async fn connect(&self, addr: SocketAddr) -> Result<SendRequest<Incoming>, String> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("connect timed out".into()),
        };
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let _ = self.drivers.send(Box::pin(async move {
            let _ = conn.await;
        }));
        Ok(sender)
    }
}

/// Accepts connections until `stop` changes; each connection then finishes its
/// request in flight and closes.
pub async fn serve(socket: TcpListener, listener: Arc<Listener>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = socket.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (listener, stop) = (listener.clone(), stop.clone());
                    Workers::get().serve(stream, move |stream| {
                        connection(stream, peer, listener, stop)
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "load balancer listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<Listener>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let peer_ip: Arc<str> = peer.ip().to_string().into();
    let (drivers_tx, mut new_drivers) = mpsc::unbounded_channel();
    let upstreams = Arc::new(Upstreams {
        idle: Mutex::new(HashMap::new()),
        drivers: drivers_tx,
    });
    let service = service_fn(move |req| {
        let (listener, peer_ip, upstreams) = (listener.clone(), peer_ip.clone(), upstreams.clone());
        async move { Ok::<_, Infallible>(handle(&listener, &peer_ip, &upstreams, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // The client connection and its connections to targets, driven together. The stop
    // signal's future is made once: a fresh `changed()` per wake-up would register and
    // unregister a waiter on the watch channel several times per request. Branches are
    // polled in order (`biased`): no random draw per wake-up either.
    let mut drivers: FuturesUnordered<Driver> = FuturesUnordered::new();
    let stopped = stop.changed();
    tokio::pin!(stopped);
    let mut stopping = false;
    loop {
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            Some(driver) = new_drivers.recv() => drivers.push(driver),
            Some(()) = drivers.next(), if !drivers.is_empty() => {}
            _ = &mut stopped, if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

enum Decision {
    Forward(Arc<Target>),
    Fixed(Response<ProxyBody>),
}

fn decide(routes: &Routes, req: &Request<Incoming>) -> Decision {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host());
    match routes.route(host, req.uri().path()) {
        Route::Fixed {
            status,
            content_type,
            body,
        } => {
            let mut response = Response::new(Either::Right(Full::new(body.clone())));
            *response.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            if let Some(v) = content_type
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok())
            {
                response.headers_mut().insert(CONTENT_TYPE, v);
            }
            Decision::Fixed(response)
        }
        Route::Forward(weighted) => match weighted.pick().map(|g| g.pick()) {
            Some(Some(target)) => Decision::Forward(target.clone()),
            // No registered targets (or every weight 0).
            _ => Decision::Fixed(error_page(StatusCode::SERVICE_UNAVAILABLE)),
        },
    }
}

async fn handle(
    listener: &Listener,
    peer_ip: &str,
    upstreams: &Upstreams,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let routes = listener.routes.borrow().clone();
    let target = match decide(&routes, &req) {
        Decision::Fixed(response) => return response,
        Decision::Forward(target) => target,
    };
    let (mut parts, body) = req.into_parts();
    // Origin form on the way to the target; the client's Host goes along (or the
    // target's address, for a client that sent none).
    if !parts.headers.contains_key(HOST) {
        let host = parts
            .uri
            .authority()
            .map_or(target.authority.as_str(), |a| a.as_str());
        if let Ok(v) = HeaderValue::from_str(host) {
            parts.headers.insert(HOST, v);
        }
    }
    parts.uri = Uri::from(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    forwarded_headers(&mut parts.headers, peer_ip, &listener.port);
    match forward(upstreams, target.addr, Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Either::Left(body))
        }
        Err(e) => {
            tracing::debug!(target = %target.addr, error = %e, "target did not answer");
            error_page(StatusCode::BAD_GATEWAY)
        }
    }
}

/// Sends `req` to `addr` over this client connection's kept-alive connection to it, or
/// a new one. A request a reused connection turned away unsent (the target had closed
/// it) goes again on a new connection.
async fn forward(
    upstreams: &Upstreams,
    addr: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Incoming>, String> {
    let mut reused = upstreams.take(addr);
    loop {
        let fresh = reused.is_none();
        let mut sender = match reused.take() {
            Some(sender) => sender,
            None => upstreams.connect(addr).await?,
        };
        if sender.ready().await.is_err() {
            if fresh {
                return Err("the connection closed before the request".into());
            }
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(response) => {
                upstreams.put_back(addr, sender);
                return Ok(response);
            }
            Err(mut e) => match e.take_message() {
                Some(unsent) if !fresh => req = unsent,
                _ => return Err(e.into_error().to_string()),
            },
        }
    }
}

/// Adds the client's address to `X-Forwarded-For`, and sets `X-Forwarded-Proto` and
/// `X-Forwarded-Port`.
fn forwarded_headers(headers: &mut HeaderMap, peer_ip: &str, port: &HeaderValue) {
    let forwarded_for = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(earlier) if !earlier.is_empty() => format!("{earlier}, {peer_ip}"),
        _ => peer_ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    headers.insert(X_FORWARDED_PORT.clone(), port.clone());
}

/// Removes hop-by-hop headers, including those `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// A response the load balancer writes itself.
fn error_page(status: StatusCode) -> Response<ProxyBody> {
    let text = format!(
        "<html><head><title>{status}</title></head><body><h1>{status}</h1><p>berth load balancer</p></body></html>\n"
    );
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
        .headers_mut()
        .insert(http::header::SERVER, HeaderValue::from_static("berth"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_append_and_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        forwarded_headers(&mut h, "127.0.0.1", &HeaderValue::from_static("8080"));
        assert_eq!(h["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-port"], "8080");
        assert_eq!(h["x-app"], "kept");
        for gone in ["connection", "x-secret", "keep-alive"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        let mut fresh = HeaderMap::new();
        forwarded_headers(&mut fresh, "10.0.0.9", &HeaderValue::from_static("80"));
        assert_eq!(fresh["x-forwarded-for"], "10.0.0.9");
    }
}
