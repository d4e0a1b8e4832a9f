//! The data plane in-process: the Query API over an embedded store, the supervisor
//! serving real listeners on loopback, and small hyper servers as targets.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_lb::{Elb, ElbConfig, Scope};
use berth_store::embedded::EmbeddedStore;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

struct Harness {
    elb: Arc<Elb>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn scope() -> Scope {
    Scope {
        account: "000000000000".into(),
        region: "us-east-1".into(),
    }
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let elb = Arc::new(Elb::new(store, ElbConfig::default()));
        let (stop, on_stop) = watch::channel(false);
        let task = tokio::spawn(elb.clone().serve(on_stop));
        Harness {
            elb,
            stop,
            task,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the data plane stops")
            .unwrap();
    }

    /// Calls an action; returns the status and the XML.
    async fn call(&self, action: &str, params: &[(&str, &str)]) -> (u16, String) {
        let mut body = format!("Action={action}&Version=2015-12-01");
        for (k, v) in params {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            body.push_str(&format!("&{k}={v}"));
        }
        let r = self.elb.handle(scope(), body.as_bytes()).await;
        (r.status, r.body)
    }

    async fn ok(&self, action: &str, params: &[(&str, &str)]) -> String {
        let (status, body) = self.call(action, params).await;
        assert_eq!(status, 200, "{action} failed: {body}");
        body
    }

    /// A load balancer of `lb_type` with one target group and a listener on a free
    /// port; returns (target group ARN, listener ARN, port).
    async fn stack(&self, name: &str, lb_type: &str, protocol: &str) -> (String, String, u16) {
        let lb = self
            .ok("CreateLoadBalancer", &[("Name", name), ("Type", lb_type)])
            .await;
        let lb_arn = tag(&lb, "LoadBalancerArn");
        assert_eq!(tag(&lb, "DNSName"), "127.0.0.1");
        let tg = self.target_group(name, protocol).await;
        let port = free_port();
        let listener = self
            .ok(
                "CreateListener",
                &[
                    ("LoadBalancerArn", &lb_arn),
                    ("Protocol", protocol),
                    ("Port", &port.to_string()),
                    ("DefaultActions.member.1.Type", "forward"),
                    ("DefaultActions.member.1.TargetGroupArn", &tg),
                ],
            )
            .await;
        (tg, tag(&listener, "ListenerArn"), port)
    }

    async fn target_group(&self, name: &str, protocol: &str) -> String {
        let tg = self
            .ok(
                "CreateTargetGroup",
                &[
                    ("Name", name),
                    ("Protocol", protocol),
                    ("Port", "80"),
                    ("TargetType", "ip"),
                    ("HealthCheckIntervalSeconds", "5"),
                    ("HealthCheckTimeoutSeconds", "2"),
                ],
            )
            .await;
        tag(&tg, "TargetGroupArn")
    }

    async fn register(&self, tg: &str, ports: &[u16]) {
        let mut params = vec![("TargetGroupArn".to_string(), tg.to_string())];
        for (i, port) in ports.iter().enumerate() {
            params.push((format!("Targets.member.{}.Id", i + 1), "127.0.0.1".into()));
            params.push((format!("Targets.member.{}.Port", i + 1), port.to_string()));
        }
        let borrowed: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.ok("RegisterTargets", &borrowed).await;
    }
}

/// The text of the first `<name>` element.
fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    xml[start..end].to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP target answering `NAME PATH` and the forwarded headers it got, counting
/// the connections it accepted.
struct Backend {
    port: u16,
    connections: Arc<AtomicUsize>,
}

async fn backend(name: &'static str) -> Backend {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default()
                    };
                    let text = format!(
                        "{name} {} xff={} proto={} port={} host={}",
                        req.uri().path(),
                        h("x-forwarded-for"),
                        h("x-forwarded-proto"),
                        h("x-forwarded-port"),
                        h("host"),
                    );
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(text))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Backend { port, connections }
}

type TestClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(client: &TestClient, port: u16, host: &str, path: &str) -> (u16, String) {
    let req = http::Request::get(format!("http://127.0.0.1:{port}{path}"))
        .header("host", host)
        .body(Empty::new())
        .unwrap();
    let resp = client.request(req).await.expect("the listener answers");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Polls until the listener answers something other than a refused connection.
async fn wait_listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on port {port}");
}

fn first_words(bodies: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for b in bodies {
        *counts
            .entry(b.split(' ').next().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_listener_round_robins_with_forwarded_headers_and_keep_alive() {
    let h = Harness::start().await;
    let (tg, _, port) = h.stack("web", "application", "HTTP").await;
    wait_listening(port).await;
    let c = client();
    let (status, body) = get(&c, port, "app.example", "/").await;
    assert_eq!(status, 503, "no targets registered yet: {body}");

    let (a, b) = (backend("a").await, backend("b").await);
    h.register(&tg, &[a.port, b.port]).await;
    // Twenty requests over one kept-alive client connection.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut bodies = Vec::new();
    while bodies.len() < 20 {
        sender.ready().await.unwrap();
        let req = http::Request::get("/hello")
            .header("host", format!("app.example:{port}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes())
            .into_owned();
        if status == 503 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert_eq!(status, 200, "{body}");
        bodies.push(body);
    }
    let counts = first_words(&bodies[bodies.len() - 10..]);
    assert_eq!(
        counts,
        BTreeMap::from([("a".into(), 5), ("b".into(), 5)]),
        "{bodies:?}"
    );
    let sample = bodies.last().unwrap();
    assert!(
        sample.contains(" /hello xff=127.0.0.1 proto=http "),
        "{sample}"
    );
    assert!(
        sample.contains(&format!("port={port} host=app.example:{port}")),
        "{sample}"
    );
    // Keep-alive to the targets: one connection each served the requests (the health
    // checks' first probes add one each).
    let accepted = a.connections.load(Ordering::SeqCst) + b.connections.load(Ordering::SeqCst);
    assert!(
        accepted <= 4,
        "{accepted} connections to targets for 20 requests"
    );

    // A target that stops answering (and no health check has noticed yet): 502.
    h.register(&tg, &[free_port()]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let statuses: Vec<u16> = futures_statuses(&c, port, 6).await;
    assert!(statuses.contains(&502), "{statuses:?}");
    h.stop().await;
}

async fn futures_statuses(c: &TestClient, port: u16, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(c, port, "x", "/").await.0);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_route_by_path_and_host_and_forward_by_weight() {
    let h = Harness::start().await;
    let (default_tg, listener, port) = h.stack("rules", "application", "HTTP").await;
    let api_tg = h.target_group("rules-api", "HTTP").await;
    let blue = h.target_group("rules-blue", "HTTP").await;
    let green = h.target_group("rules-green", "HTTP").await;
    let (d, api, b, g) = (
        backend("default").await,
        backend("api").await,
        backend("blue").await,
        backend("green").await,
    );
    h.register(&default_tg, &[d.port]).await;
    h.register(&api_tg, &[api.port]).await;
    h.register(&blue, &[b.port]).await;
    h.register(&green, &[g.port]).await;
    h.ok(
        "CreateRule",
        &[
            ("ListenerArn", &listener),
            ("Priority", "10"),
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/api/*"),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.TargetGroupArn", &api_tg),
        ],
    )
    .await;
    h.ok(
        "CreateRule",
        &[
            ("ListenerArn", &listener),
            ("Priority", "20"),
            ("Conditions.member.1.Field", "host-header"),
            (
                "Conditions.member.1.HostHeaderConfig.Values.member.1",
                "*.canary.example",
            ),
            ("Actions.member.1.Type", "forward"),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                &blue,
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                "3",
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn",
                &green,
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight",
                "1",
            ),
        ],
    )
    .await;
    h.ok(
        "CreateRule",
        &[
            ("ListenerArn", &listener),
            ("Priority", "30"),
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/gone"),
            ("Actions.member.1.Type", "fixed-response"),
            ("Actions.member.1.FixedResponseConfig.StatusCode", "410"),
            (
                "Actions.member.1.FixedResponseConfig.ContentType",
                "text/plain",
            ),
            (
                "Actions.member.1.FixedResponseConfig.MessageBody",
                "long gone",
            ),
        ],
    )
    .await;
    wait_listening(port).await;
    let c = client();
    // The supervisor applies rules as it sees them; wait for the last one.
    for _ in 0..100 {
        if get(&c, port, "x", "/gone").await.0 == 410 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        get(&c, port, "x", "/gone").await,
        (410, "long gone".to_string())
    );
    assert!(get(&c, port, "x", "/api/users")
        .await
        .1
        .starts_with("api /api/users"));
    assert!(get(&c, port, "x", "/apix").await.1.starts_with("default "));
    assert!(
        get(&c, port, "WWW.Canary.Example", "/api/x")
            .await
            .1
            .starts_with("api "),
        "priority 10 first"
    );
    let mut bodies = Vec::new();
    for _ in 0..8 {
        bodies.push(get(&c, port, "www.canary.example:80", "/").await.1);
    }
    assert_eq!(
        first_words(&bodies),
        BTreeMap::from([("blue".into(), 6), ("green".into(), 2)]),
        "{bodies:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_relays_bytes() {
    let h = Harness::start().await;
    let (tg, _, port) = h.stack("tcp", "network", "TCP").await;
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&[b"echo:", &buf[..n]].concat()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    h.register(&tg, &[echo_port]).await;
    wait_listening(port).await;
    let mut reply = Vec::new();
    for _ in 0..100 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .unwrap_or(Ok(0))
            .unwrap_or(0);
        reply = buf[..n].to_vec();
        if !reply.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reply, b"echo:ping");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistered_targets_drain_then_leave_and_listeners_close_with_their_load_balancer() {
    let h = Harness::start().await;
    let (tg, listener, port) = h.stack("drain", "application", "HTTP").await;
    h.ok(
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "1"),
        ],
    )
    .await;
    let (a, b) = (backend("a").await, backend("b").await);
    h.register(&tg, &[a.port, b.port]).await;
    h.ok(
        "DeregisterTargets",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "127.0.0.1"),
            ("Targets.member.1.Port", &b.port.to_string()),
        ],
    )
    .await;
    let health = h
        .ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)])
        .await;
    assert!(
        health.contains("<State>draining</State><Reason>Target.DeregistrationInProgress</Reason>"),
        "{health}"
    );
    wait_listening(port).await;
    let c = client();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..6 {
        let (status, body) = get(&c, port, "x", "/").await;
        assert_eq!(status, 200);
        assert!(
            body.starts_with("a "),
            "a draining target gets no new requests: {body}"
        );
    }
    let mut gone = false;
    for _ in 0..60 {
        let health = h
            .ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)])
            .await;
        if !health.contains(&format!("<Port>{}</Port>", b.port)) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the drained target left the group after its delay");

    let lb_arn = tag(
        &h.ok("DescribeListeners", &[("ListenerArns.member.1", &listener)])
            .await,
        "LoadBalancerArn",
    );
    h.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &lb_arn)])
        .await;
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed, "the listener closed with its load balancer");
    // Its port can be used again at once.
    let lb2 = tag(
        &h.ok("CreateLoadBalancer", &[("Name", "drain2")]).await,
        "LoadBalancerArn",
    );
    let tg2 = h.target_group("drain2", "HTTP").await;
    h.ok(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb2),
            ("Protocol", "HTTP"),
            ("Port", &port.to_string()),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg2),
        ],
    )
    .await;
    wait_listening(port).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_fails_create_listener_with_the_reason() {
    let h = Harness::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let lb = tag(
        &h.ok("CreateLoadBalancer", &[("Name", "busy")]).await,
        "LoadBalancerArn",
    );
    let tg = h.target_group("busy", "HTTP").await;
    let (status, body) = h
        .call(
            "CreateListener",
            &[
                ("LoadBalancerArn", &lb),
                ("Protocol", "HTTP"),
                ("Port", &port),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", &tg),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(tag(&body, "Code"), "InvalidConfigurationRequest");
    assert!(tag(&body, "Message").contains("in use"), "{body}");
    let listeners = h.ok("DescribeListeners", &[("LoadBalancerArn", &lb)]).await;
    assert!(!listeners.contains("<member>"), "{listeners}");
    drop(taken);
    h.stop().await;
}
