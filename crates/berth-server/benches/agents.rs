//! 5,000 simulated agents holding 150,000 tasks against one release `berth server`:
//! the server's CPU and memory, and each agent's heartbeat round trip.
//!
//! Method: the bench raises its open-file limit (so 5,000 agents' connections fit),
//! starts `target/release/berth server` on a temp data dir, registers 5,000 container
//! instances in cluster `bench` through the real agent channel (each gets its own agent
//! credential), and places 150,000 tasks with RunTask (count 10, 64 callers). Then every
//! simulated agent does what a real one does on the channel, with its own credential:
//! a heartbeat every 2 s (phases spread over the interval) and an assignments long poll
//! (a first read of its 30 tasks, then long polls of 20 s). After 10 s of warm-up, 60 s
//! are measured: the server's CPU time from /proc (user + system over wall time), its
//! RSS, and every heartbeat's round trip (p50, p99, max). No peer: the figure is the
//! issue's own (≤ 1 core, ≤ 1 GB, p99 < 100 ms).
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-server --bench agents`.
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::bench::{release_binary, rss_mib, start_server};
use berth_testkit::EcsClient;
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const AGENTS: usize = 5_000;
const TASKS: usize = 150_000;
const WARM_UP: Duration = Duration::from_secs(10);
const MEASURE: Duration = Duration::from_secs(60);

/// The process's CPU time (user + system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis: state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

/// Raises the open-file limit to its hard limit (the server, started after, inherits
/// it): each agent holds two connections (heartbeats, the long poll).
fn raise_open_files() {
    let pid = std::process::id();
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "h=$(ulimit -Hn); [ \"$h\" = unlimited ] && h=1048576; [ \"$h\" -ge {} ] && prlimit --pid {pid} --nofile=$h:$h",
            AGENTS * 2 + 1000
        ))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the open-file limit cannot reach {} (ulimit -Hn): raise it to run this bench",
        AGENTS * 2 + 1000
    );
}

struct Agent {
    arn: String,
    credential: String,
}

async fn register(http: &reqwest::Client, endpoint: &str, token: &str) -> Agent {
    let r: Value = http
        .post(format!("{endpoint}/agent/v1/register"))
        .bearer_auth(token)
        .json(&json!({"kind": "EC2", "cluster": "bench", "cpu": 4096, "memory": 8192,
                      "attributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Agent {
        arn: r["containerInstanceArn"].as_str().unwrap().into(),
        credential: r["agentCredential"].as_str().unwrap().into(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    raise_open_files();
    let dir = tempfile::tempdir().unwrap();
    let (server, endpoint) = start_server(&release_binary(), dir.path(), KEY, SECRET).await;
    let pid = server.id();
    let client = EcsClient::new(&endpoint, KEY, SECRET, "us-east-1");
    client
        .call("CreateCluster", json!({"clusterName": "bench"}))
        .await
        .unwrap();
    client
        .call(
            "RegisterTaskDefinition",
            json!({"family": "bench", "containerDefinitions": [
                {"name": "c", "image": "busybox", "cpu": 16, "memory": 32}]}),
        )
        .await
        .unwrap();
    let token = std::fs::read_to_string(dir.path().join("agent-token")).unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(AGENTS * 2)
        .build()
        .unwrap();

    let started = Instant::now();
    let mut agents = Vec::with_capacity(AGENTS);
    for chunk in (0..AGENTS).collect::<Vec<_>>().chunks(64) {
        let joined = futures::future::join_all(
            chunk
                .iter()
                .map(|_| register(&http, &endpoint, token.trim())),
        )
        .await;
        agents.extend(joined);
    }
    println!(
        "{AGENTS} agents registered in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Heartbeats from the start: placement needs connected instances.
    let agents = Arc::new(agents);
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let recording = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    for (i, agent) in agents.iter().enumerate() {
        let (http, endpoint) = (http.clone(), endpoint.clone());
        let (arn, credential) = (agent.arn.clone(), agent.credential.clone());
        let (latencies, recording, failures) =
            (latencies.clone(), recording.clone(), failures.clone());
        tokio::spawn(async move {
            let interval = berth_api::agent::HEARTBEAT_INTERVAL;
            tokio::time::sleep(interval.mul_f64(i as f64 / AGENTS as f64)).await;
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let sent = Instant::now();
                let ok = http
                    .post(format!("{endpoint}/agent/v1/heartbeat"))
                    .bearer_auth(&credential)
                    .json(&json!({"containerInstanceArn": arn}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if recording.load(Ordering::Relaxed) {
                    if ok {
                        latencies.lock().unwrap().push(sent.elapsed());
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }

    let started = Instant::now();
    let placed = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let (client, placed) = (client.clone(), placed.clone());
            tokio::spawn(async move {
                while placed.load(Ordering::Relaxed) < TASKS {
                    let r = client
                        .call(
                            "RunTask",
                            json!({"cluster": "bench", "taskDefinition": "bench", "count": 10}),
                        )
                        .await;
                    if let Ok(r) = r {
                        placed.fetch_add(
                            r["tasks"].as_array().map_or(0, Vec::len),
                            Ordering::Relaxed,
                        );
                    }
                }
            })
        })
        .collect();
    for c in callers {
        c.await.unwrap();
    }
    println!(
        "{} tasks placed in {:.1} s",
        placed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );

    // Every agent follows its assignments as a real one does.
    let polled = Arc::new(AtomicUsize::new(0));
    for agent in agents.iter() {
        let (http, endpoint, polled) = (http.clone(), endpoint.clone(), polled.clone());
        let (arn, credential) = (agent.arn.clone(), agent.credential.clone());
        tokio::spawn(async move {
            let mut after: Option<u64> = None;
            loop {
                let mut query = vec![
                    ("containerInstanceArn", arn.clone()),
                    ("waitSeconds", "20".into()),
                ];
                if let Some(a) = after {
                    query.push(("afterRevision", a.to_string()));
                }
                let answer = http
                    .get(format!("{endpoint}/agent/v1/assignments"))
                    .query(&query)
                    .bearer_auth(&credential)
                    .send()
                    .await;
                match answer {
                    Ok(r) => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        after = v["revision"].as_u64();
                        polled.fetch_add(
                            v["tasks"].as_array().map_or(0, Vec::len),
                            Ordering::Relaxed,
                        );
                    }
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        });
    }

    tokio::time::sleep(WARM_UP).await;
    let cpu_before = cpu_seconds(pid);
    recording.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(MEASURE).await;
    recording.store(false, Ordering::Relaxed);
    let wall = window.elapsed().as_secs_f64();
    let cores = (cpu_seconds(pid) - cpu_before) / wall;
    let rss = rss_mib(pid);
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    assert!(!lat.is_empty(), "no heartbeat answered");
    println!(
        "assigned tasks read by the agents' first polls: {}",
        polled.load(Ordering::Relaxed)
    );
    println!(
        "{AGENTS} agents, {TASKS} tasks: server CPU {cores:.2} cores (target ≤ 1), RSS {rss:.0} MiB \
         (target ≤ 1024); heartbeats {} ({:.0}/s, {} failed): p50 {:.1} ms, p99 {:.1} ms \
         (target < 100 ms), max {:.1} ms",
        lat.len(),
        lat.len() as f64 / wall,
        failures.load(Ordering::Relaxed),
        percentile(&lat, 0.50).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0,
        lat.last().unwrap().as_secs_f64() * 1000.0,
    );
    drop(server);
}
