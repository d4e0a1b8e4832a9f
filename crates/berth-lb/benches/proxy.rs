//! Through a listener vs straight to the target, with wrk, in the same run: a release
//! `berth server` serves an application load balancer whose listener forwards to one
//! target, a small HTTP/1.1 server in this process (hyper, keep-alive, a fixed body)
//! standing in for a task. wrk (one thread) measures requests/s and latency
//! percentiles against the target's own port and against the listener, alternating,
//! three rounds each by default, at 32 connections (throughput) and at 1 connection
//! (the latency one request adds).
//!
//! nginx, configured as a reverse proxy to the same target (keep-alive to the target,
//! X-Forwarded-* set, one worker per core as berth runs one proxy thread per core),
//! runs in the same rounds as the peer: it shows what the best-known proxy achieves on
//! the same machine, so the listener's figures can be told apart from the machine's
//! limits.
//!
//! It also reads the berth process's CPU time around each run through the listener, and
//! nginx's (its master and workers) around each run through nginx (`/proc/PID/stat`),
//! so each proxy's own CPU cost per request is reported side by side, a figure that
//! other load on the machine disturbs far less than requests/s.
//!
//! The target spends a set CPU time on each request (0 µs: a constant answer, the worst
//! case for a proxy, whose own cost per request is then most of the total), so the
//! figures show where the listener's cost stops mattering.
//!
//! With `BERTH_LB_BENCH_TASK_IMAGE` (a busybox image) and a Docker Engine
//! (`DOCKER_HOST`), it also measures against a real task: a container of that image
//! running busybox httpd on Docker's bridge, reached at its bridge address, with a
//! listener and an nginx of its own, at 8 and 1 connections. httpd closes every
//! connection after its answer, so each request costs a connect, straight or through a
//! proxy, and leaves a TIME_WAIT socket behind on the client's side: `scripts/bench-agent
//! proxy` runs it on a Docker Engine of its own with `net.ipv4.tcp_tw_reuse=1` for the
//! run, so those sockets do not exhaust the local ports.
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-lb --bench proxy`.
//! `BERTH_BIN` overrides the binary (default target/release/berth); `BERTH_LB_BENCH_SECS`
//! the seconds per wrk run (default 10); `BERTH_LB_BENCH_ROUNDS` the rounds (default 3);
//! `BERTH_LB_BENCH_BODY` the response size in
//! bytes (default 100); `BERTH_LB_BENCH_WORK_US` the target's CPU microseconds per
//! request, a comma-separated list (default 0,100,500; empty: the task only). Needs `wrk` and `nginx`
//! (Debian: apt-get install wrk nginx-light).
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_testkit::bench::{docker, release_binary, start_server};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

const KEY: &str = "AKIABENCHLB000000000";
const SECRET: &str = "benchlbsecretbenchlbsecretbenchlbsecret0";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Spins for `micros` of CPU time, as a handler computing its answer would.
fn work(micros: u64) {
    if micros == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_micros(micros);
    let mut x = 0u64;
    while Instant::now() < until {
        for _ in 0..64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// The in-process target: answers every request with `body` after `work_us` of CPU.
async fn start_target(body: Bytes, work_us: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let (body, work_us) = (body.clone(), work_us.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let body = body.clone();
                    work(work_us.load(Ordering::Relaxed));
                    async move { Ok::<_, Infallible>(http::Response::new(Full::new(body))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The port busybox httpd listens on in the task container.
const TASK_PORT: u16 = 8080;

/// A task: a container of `image` on Docker's default bridge serving `body` with
/// busybox httpd (a process per connection, no keep-alive, as that server is). Removed
/// when dropped.
struct TaskContainer {
    docker_host: String,
    id: String,
    addr: SocketAddr,
}

impl TaskContainer {
    fn start(docker_host: String, image: &str, body_bytes: usize) -> TaskContainer {
        let script = format!(
            "mkdir -p /www && echo -n \"$BODY\" > /www/index.html && exec httpd -f -p {TASK_PORT} -h /www"
        );
        let body = format!("BODY={}", "x".repeat(body_bytes));
        let run = ["run", "-d", "-e", &body, image, "sh", "-c", &script];
        let id = docker(&docker_host, &run).trim().to_string();
        let ip = docker(
            &docker_host,
            &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &id],
        );
        let ip: Ipv4Addr = ip
            .trim()
            .parse()
            .expect("the task container's bridge address");
        let addr = SocketAddr::from((ip, TASK_PORT));
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return TaskContainer {
                    docker_host,
                    id,
                    addr,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the task container's httpd did not listen at {addr} within 5 s");
    }
}

impl Drop for TaskContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &self.docker_host, "rm", "-f", &self.id])
            .output();
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// One signed ELBv2 call; returns the XML answer.
async fn call(http: &HttpClient, port: u16, params: &[(&str, String)]) -> String {
    let body: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut req = http::Request::post(format!("http://127.0.0.1:{port}/"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body.clone().into_bytes())
        .unwrap();
    let credentials = berth_sigv4::Credentials {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    };
    let signing = berth_sigv4::SigningParams {
        credentials: &credentials,
        region: "us-east-1",
        service: "elasticloadbalancing",
        time: time::OffsetDateTime::now_utc(),
        content_sha256_header: false,
    };
    berth_sigv4::sign_request(&mut req, &signing).unwrap();
    let (parts, body) = req.into_parts();
    let resp = http
        .request(http::Request::from_parts(
            parts,
            Full::new(Bytes::from(body)),
        ))
        .await
        .expect("berth answers");
    let status = resp.status();
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(status.is_success(), "{params:?}: {status} {text}");
    text
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).expect(name) + open.len();
    let end = xml[start..].find('<').unwrap() + start;
    xml[start..end].to_string()
}

/// Creates a load balancer named `name` forwarding to `target`; returns the listener's
/// port.
async fn configure(api_port: u16, name: &str, target: SocketAddr) -> u16 {
    let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let action = |a: &str| {
        vec![
            ("Action", a.to_string()),
            ("Version", "2015-12-01".to_string()),
        ]
    };
    let mut p = action("CreateLoadBalancer");
    p.push(("Name", name.into()));
    let lb = tag(&call(&http, api_port, &p).await, "LoadBalancerArn");
    let mut p = action("CreateTargetGroup");
    p.extend([
        ("Name", name.to_string()),
        ("Protocol", "HTTP".into()),
        ("Port", target.port().to_string()),
        ("TargetType", "ip".into()),
    ]);
    let tg = tag(&call(&http, api_port, &p).await, "TargetGroupArn");
    let mut p = action("RegisterTargets");
    p.extend([
        ("TargetGroupArn", tg.clone()),
        ("Targets.member.1.Id", target.ip().to_string()),
    ]);
    call(&http, api_port, &p).await;
    let listener_port = free_port();
    let mut p = action("CreateListener");
    p.extend([
        ("LoadBalancerArn", lb),
        ("Protocol", "HTTP".into()),
        ("Port", listener_port.to_string()),
        ("DefaultActions.member.1.Type", "forward".into()),
        ("DefaultActions.member.1.TargetGroupArn", tg),
    ]);
    call(&http, api_port, &p).await;
    let probe: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for _ in 0..100 {
        let uri: http::Uri = format!("http://127.0.0.1:{listener_port}/")
            .parse()
            .unwrap();
        if let Ok(r) = probe.get(uri).await {
            if r.status() == 200 {
                return listener_port;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the listener did not serve within 10 s");
}

/// nginx as a reverse proxy to `target`, run from `dir`: the peer. Returns the process
/// (stopped when dropped) and its port.
fn start_nginx(dir: &std::path::Path, target: SocketAddr) -> (NginxProcess, u16) {
    let port = free_port();
    let conf = format!(
        "worker_processes auto;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {dir}/body;\n\
           proxy_temp_path {dir}/proxy;\n\
           upstream target {{ server {target}; keepalive 64; }}\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             location / {{\n\
               proxy_pass http://target;\n\
               proxy_http_version 1.1;\n\
               proxy_set_header Connection \"\";\n\
               proxy_set_header Host $host;\n\
               proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
               proxy_set_header X-Forwarded-Proto http;\n\
               proxy_set_header X-Forwarded-Port {port};\n\
             }}\n\
           }}\n\
         }}\n",
        dir = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("nginx")
        .args(["-e", "stderr", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .spawn()
        .expect("nginx runs (apt-get install nginx-light)");
    let process = NginxProcess(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (process, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nginx did not listen within 5 s");
}

/// The nginx this bench started; stopped (with its workers) when dropped.
struct NginxProcess(std::process::Child);

impl Drop for NginxProcess {
    fn drop(&mut self) {
        // SIGTERM to the master stops its workers too.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// What one wrk run measured.
#[derive(Clone, Copy, Debug)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The proxy's CPU time per request, in microseconds (NaN for direct runs).
    cpu_us: f64,
}

/// The fields of `/proc/PID/stat` after the command name (state first), if it runs.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// The CPU seconds (user and system) `pid` and its children (nginx's workers) have
/// used: `/proc/PID/stat`'s utime and stime, in clock ticks of 1/100 s (Linux's USER_HZ).
fn cpu_seconds(pid: u32) -> f64 {
    let children = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| stat_fields(child).is_some_and(|f| f[1].parse::<u32>().ok() == Some(pid)));
    std::iter::once(pid)
        .chain(children)
        .filter_map(stat_fields)
        .map(|f| (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0)
        .sum()
}

/// wrk's latency figure (`812.00us`, `1.20ms`, `2.01s`) in milliseconds.
fn millis(text: &str) -> f64 {
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => f64::NAN,
    }
}

/// One wrk run against `addr`; `proxy` is the process (with its children) whose CPU
/// time it charges to the requests.
fn wrk(addr: SocketAddr, connections: u32, secs: u64, proxy: Option<u32>) -> Run {
    let cpu_before = proxy.map(cpu_seconds);
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {report}");
    assert!(!report.contains("Non-2xx"), "wrk saw errors: {report}");
    let field = |label: &str| -> String {
        report
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(label))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no {label} in {report}"))
    };
    let rps: f64 = field("Requests/sec:").parse().unwrap();
    let cpu_us = match (proxy, cpu_before) {
        (Some(pid), Some(before)) => (cpu_seconds(pid) - before) * 1e6 / (rps * secs as f64),
        _ => f64::NAN,
    };
    Run {
        rps,
        p50_ms: millis(&field("50%")),
        p99_ms: millis(&field("99%")),
        cpu_us,
    }
}

/// The 1-minute load average, which says how much else ran on the machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().next().unwrap_or("?").to_string())
        .unwrap_or_else(|_| "?".into())
}

fn median(runs: &[Run], key: fn(&Run) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(key).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One target measured three ways: straight, through its listener and through nginx.
struct Case {
    direct: SocketAddr,
    listener: SocketAddr,
    nginx: SocketAddr,
    nginx_pid: u32,
}

/// Runs a case at each number of connections and prints a row for each.
fn measure(
    label: &str,
    case: &Case,
    connection_counts: &[u32],
    (secs, rounds): (u64, usize),
    berth_pid: u32,
) {
    for &connections in connection_counts {
        let (mut direct, mut listener, mut nginx) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            direct.push(wrk(case.direct, connections, secs, None));
            listener.push(wrk(case.listener, connections, secs, Some(berth_pid)));
            nginx.push(wrk(case.nginx, connections, secs, Some(case.nginx_pid)));
        }
        let rps = (median(&direct, |r| r.rps), median(&listener, |r| r.rps));
        let nginx_rps = median(&nginx, |r| r.rps);
        let p50 = (
            median(&direct, |r| r.p50_ms),
            median(&listener, |r| r.p50_ms),
        );
        let p99 = (
            median(&direct, |r| r.p99_ms),
            median(&listener, |r| r.p99_ms),
        );
        println!(
            "{label:>10} {connections:>5} {:>12.0} {:>12.0} {:>5.2}x {:>12.0} {:>5.2}x {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9.3} {:>9.1} {:>9.1}",
            rps.0,
            rps.1,
            rps.1 / rps.0,
            nginx_rps,
            nginx_rps / rps.0,
            p50.0,
            p50.1,
            p99.0,
            p99.1,
            p99.1 - p99.0,
            median(&nginx, |r| r.p99_ms) - p99.0,
            median(&listener, |r| r.cpu_us),
            median(&nginx, |r| r.cpu_us),
        );
    }
}

fn main() {
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is not installed: apt-get install wrk"
    );
    let secs = env_number("BERTH_LB_BENCH_SECS", 10);
    let rounds = env_number("BERTH_LB_BENCH_ROUNDS", 3) as usize;
    let body_bytes = env_number("BERTH_LB_BENCH_BODY", 100) as usize;
    let work_levels: Vec<u64> = std::env::var("BERTH_LB_BENCH_WORK_US")
        .unwrap_or_else(|_| "0,100,500".into())
        .split(',')
        .filter(|w| !w.trim().is_empty())
        .map(|w| {
            w.trim()
                .parse()
                .expect("BERTH_LB_BENCH_WORK_US: microseconds, comma-separated")
        })
        .collect();
    let task_image = std::env::var("BERTH_LB_BENCH_TASK_IMAGE").ok();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let work_us = Arc::new(AtomicU64::new(0));
    let local = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let target = runtime.block_on(start_target(
        Bytes::from(vec![b'x'; body_bytes]),
        work_us.clone(),
    ));
    let (berth, endpoint) =
        runtime.block_on(start_server(&release_binary(), dir.path(), KEY, SECRET));
    let api_port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the endpoint's port");
    // Each case gets its own listener and its own nginx; the processes stop when their
    // guards drop at the end of main.
    let mut guards = Vec::new();
    let mut case = |name: &str, target: SocketAddr| {
        let listener = runtime.block_on(configure(api_port, name, target));
        let nginx_dir = tempfile::tempdir().unwrap();
        let (nginx, nginx_port) = start_nginx(nginx_dir.path(), target);
        let nginx_pid = nginx.0.id();
        guards.push((nginx, nginx_dir));
        Case {
            direct: target,
            listener: local(listener),
            nginx: local(nginx_port),
            nginx_pid,
        }
    };
    let in_process = case("bench", target);
    let task = task_image.map(|image| {
        let docker_host = std::env::var("DOCKER_HOST").expect("DOCKER_HOST names the engine");
        let container = TaskContainer::start(docker_host, &image, body_bytes);
        let measured = case("bench-task", container.addr);
        (container, measured)
    });
    println!(
        "load balancer bench: {body_bytes}-byte responses, wrk -t1, {secs} s per run, median of {rounds}; load average {}",
        load_average()
    );
    println!(
        "{:>10} {:>5} {:>12} {:>12} {:>6} {:>12} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "target",
        "conns",
        "direct req/s",
        "via LB",
        "ratio",
        "via nginx",
        "ratio",
        "p50 dir",
        "p50 LB",
        "p99 dir",
        "p99 LB",
        "p99 add",
        "nginx add",
        "LB cpu us",
        "nginx cpu"
    );
    let berth_pid = berth.0.id();
    for level in work_levels {
        work_us.store(level, Ordering::Relaxed);
        let label = format!("{level} us");
        measure(&label, &in_process, &[32, 1], (secs, rounds), berth_pid);
    }
    if let Some((_container, measured)) = &task {
        // busybox httpd listens with a backlog of 9: more connections than that, each
        // reconnecting after every answer, would measure its dropped SYNs (1 s
        // retransmits), not the proxy.
        measure("httpd task", measured, &[8, 1], (secs, rounds), berth_pid);
    }
    println!("load average at the end: {}", load_average());
}
