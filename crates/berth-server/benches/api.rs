//! API throughput through a real `berth server` process: RunTask (durably committed
//! tasks/s) while storing 100,000 tasks, DescribeTasks of 10 tasks a call with 100,000
//! stored, and the server's RSS with 150,000 tasks. Every request is SigV4-signed.
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-server --bench api`.
//! `BERTH_BIN` overrides the binary (default target/release/berth).
//!
//! The same scenario runs on the embedded store and then, in the same run, on a
//! three-member etcd cluster on loopback (`berth server --store etcd://...`, the
//! cluster started by the bench); `BERTH_BENCH_STORES=embedded` (or `etcd`) runs one.
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::bench::{
    keep_heartbeating, register_instances, release_binary, rss_mib, start_server_with,
};
use berth_testkit::EcsClient;
use serde_json::json;

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const INSTANCES: usize = 200;
const WRITERS: usize = 64;
const READERS: usize = 32;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn run_tasks_until(
    client: &EcsClient,
    stored: Arc<AtomicUsize>,
    target: usize,
    arns: Arc<Mutex<Vec<String>>>,
) -> (f64, Vec<Duration>) {
    let start = Instant::now();
    let before = stored.load(Ordering::Relaxed);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..WRITERS {
        let (client, stored, arns, latencies) = (
            client.clone(),
            stored.clone(),
            arns.clone(),
            latencies.clone(),
        );
        workers.push(tokio::spawn(async move {
            while stored.load(Ordering::Relaxed) < target {
                let t = Instant::now();
                let r = client
                    .call(
                        "RunTask",
                        json!({"cluster": "bench", "taskDefinition": "bench", "count": 10}),
                    )
                    .await
                    .expect("RunTask");
                latencies.lock().unwrap().push(t.elapsed());
                let placed: Vec<String> = r["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["taskArn"].as_str().unwrap().to_string())
                    .collect();
                assert!(!placed.is_empty(), "RunTask placed nothing: {r}");
                stored.fetch_add(placed.len(), Ordering::Relaxed);
                let mut a = arns.lock().unwrap();
                if a.len() < 20_000 {
                    a.extend(placed);
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let tasks = stored.load(Ordering::Relaxed) - before;
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    (tasks as f64 / start.elapsed().as_secs_f64(), l)
}

/// A wrk script replaying `n` DescribeTasks requests, each signed once up front (a SigV4
/// signature stays valid for 15 minutes), so the load generator spends no CPU on signing
/// or JSON.
fn presigned_describe_tasks(port: u16, arns: &[String], n: usize) -> String {
    let credentials = berth_sigv4::Credentials {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    };
    let mut lua = String::from("local reqs = {}\ninit = function(args)\n");
    for i in 0..n {
        let batch: Vec<&String> = (0..10)
            .map(|k| &arns[(i * 10 + k * 104_729) % arns.len()])
            .collect();
        let body = json!({"cluster": "bench", "tasks": batch}).to_string();
        let mut req = http::Request::post(format!("http://127.0.0.1:{port}/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.DescribeTasks",
            )
            .body(body.clone())
            .unwrap();
        let params = berth_sigv4::SigningParams {
            credentials: &credentials,
            region: "us-east-1",
            service: "ecs",
            time: time::OffsetDateTime::now_utc(),
            content_sha256_header: false,
        };
        berth_sigv4::sign_request(&mut req, &params).unwrap();
        let headers: Vec<String> = req
            .headers()
            .iter()
            // wrk adds `Host` from the URL itself; a second one would break the signature.
            .filter(|(k, _)| *k != http::header::HOST)
            .map(|(k, v)| format!("[\"{}\"] = \"{}\"", k, v.to_str().unwrap()))
            .collect();
        lua.push_str(&format!(
            "  reqs[{}] = wrk.format(\"POST\", \"/\", {{{}}}, [==[{body}]==])\n",
            i + 1,
            headers.join(", ")
        ));
    }
    lua.push_str(
        "end\nlocal i = 0\nrequest = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n",
    );
    lua
}

/// The value after `label` on wrk's report line that starts with it.
fn wrk_field(report: &str, label: &str) -> String {
    report
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(label))
        .and_then(|l| l[label.len()..].split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stores = std::env::var("BERTH_BENCH_STORES").unwrap_or_else(|_| "embedded,etcd".into());
    for store in stores.split(',') {
        match store {
            "embedded" => scenario("embedded", None).await,
            "etcd" => {
                let etcd = berth_testkit::EtcdCluster::start(3).await;
                scenario("etcd (3 members)", Some(etcd.url())).await;
            }
            other => panic!("unknown store {other}: embedded or etcd"),
        }
    }
}

async fn scenario(label: &str, store: Option<String>) {
    println!("== store: {label}");
    let dir = tempfile::tempdir().unwrap();
    let extra: Vec<String> = match &store {
        Some(url) => vec!["--store".into(), url.clone()],
        None => vec![],
    };
    let (server, endpoint) =
        start_server_with(&release_binary(), dir.path(), KEY, SECRET, &extra).await;
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let http = reqwest::Client::new();
    let client = EcsClient::new(&endpoint, KEY, SECRET, "us-east-1");
    client
        .call("CreateCluster", json!({"clusterName": "bench"}))
        .await
        .unwrap();
    client
        .call(
            "RegisterTaskDefinition",
            json!({"family": "bench", "containerDefinitions": [
            {"name": "c", "image": "busybox", "cpu": 1, "memory": 6}]}),
        )
        .await
        .unwrap();
    let token = std::fs::read_to_string(dir.path().join("agent-token")).unwrap();
    let arns_of_instances =
        register_instances(&http, &endpoint, token.trim(), "bench", INSTANCES).await;
    // Keep the instances' agents "connected" for the length of the run.
    let heartbeats = keep_heartbeating(
        http.clone(),
        endpoint.clone(),
        token.trim().to_string(),
        arns_of_instances.clone(),
    );

    let stored = Arc::new(AtomicUsize::new(0));
    let arns = Arc::new(Mutex::new(Vec::new()));
    let (rate, lat) = run_tasks_until(&client, stored.clone(), 100_000, arns.clone()).await;
    println!(
        "RunTask (count 10, {WRITERS} clients, {INSTANCES} instances): {rate:.0} tasks/s durably committed, \
         call p50 {:?} p99 {:?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    println!(
        "server RSS with {} tasks stored: {:.0} MiB",
        stored.load(Ordering::Relaxed),
        rss_mib(server.id())
    );
    let arns: Vec<String> = arns.lock().unwrap().clone();
    let sample = client
        .call(
            "DescribeTasks",
            json!({"cluster": "bench", "tasks": &arns[..10]}),
        )
        .await
        .expect("DescribeTasks");
    assert_eq!(sample["tasks"].as_array().unwrap().len(), 10, "{sample}");
    let script = dir.path().join("describe.lua");
    std::fs::write(&script, presigned_describe_tasks(port, &arns, 1000)).unwrap();
    let out = std::process::Command::new("wrk")
        .args(["-t1", &format!("-c{READERS}"), "-d10s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("{endpoint}/"))
        .output()
        .expect("wrk (apt-get install wrk)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !report.contains("Non-2xx"),
        "DescribeTasks failed under load:\n{report}"
    );
    println!(
        "DescribeTasks (10 tasks a call, wrk 1 thread, {READERS} connections, {} stored): {} calls/s, \
         p50 {} p99 {}",
        stored.load(Ordering::Relaxed),
        wrk_field(&report, "Requests/sec:"),
        wrk_field(&report, "50%"),
        wrk_field(&report, "99%"),
    );

    if store.is_none() {
        run_tasks_until(
            &client,
            stored.clone(),
            150_000,
            Arc::new(Mutex::new(Vec::new())),
        )
        .await;
        println!(
            "server RSS with {} tasks stored: {:.0} MiB",
            stored.load(Ordering::Relaxed),
            rss_mib(server.id())
        );
    }
    heartbeats.abort();
    drop(server);
}
