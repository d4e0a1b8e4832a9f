//! Leader failover: how long after the leader replica is killed (`SIGKILL`) the
//! controllers act on another replica. Three `berth server` replicas (release binary)
//! share a three-member etcd cluster on loopback; a fake agent (the testkit's, through
//! the real agent channel of a replica that is not the leader) offers Fargate capacity;
//! a service keeps one task. Each round kills the leader and, at the same moment, stops
//! the service's task through a surviving replica; the figure is the time until the
//! replacement task exists: election plus the new leader's first step of the service.
//! The killed replica is started again (on its port) before the next round.
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-server --bench failover`.
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::time::{Duration, Instant};

use berth_testkit::bench::{release_binary, start_server_on, start_server_with, ChildGuard};
use berth_testkit::fixtures::{awsvpc, task_definition};
use berth_testkit::{EcsClient, EtcdCluster, FakeAgent, FakeAgentConfig};
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const ROUNDS: usize = 5;

struct Replica {
    dir: tempfile::TempDir,
    process: Option<ChildGuard>,
    endpoint: String,
}

async fn start(etcd: &EtcdCluster, dir: tempfile::TempDir, port: Option<u16>) -> Replica {
    let extra = vec!["--store".to_string(), etcd.url()];
    let (process, endpoint) = match port {
        Some(port) => {
            start_server_on(&release_binary(), dir.path(), KEY, SECRET, &extra, port).await
        }
        None => start_server_with(&release_binary(), dir.path(), KEY, SECRET, &extra).await,
    };
    Replica {
        dir,
        process: Some(process),
        endpoint,
    }
}

/// The endpoint of the replica holding the leader key.
async fn leader(etcd: &EtcdCluster, replicas: &[Replica]) -> usize {
    let http = reqwest::Client::new();
    let key = base64_key("/berth/leader/controllers");
    loop {
        for url in etcd.endpoints() {
            let answer = http
                .post(format!("{url}/v3/kv/range"))
                .json(&json!({"key": key}))
                .send()
                .await;
            let Ok(answer) = answer else { continue };
            let Ok(body) = answer.json::<Value>().await else {
                continue;
            };
            if let Some(value) = body["kvs"][0]["value"].as_str() {
                let holder = String::from_utf8(base64_decode(value)).unwrap_or_default();
                if let Some(i) = replicas
                    .iter()
                    .position(|r| holder.contains(r.endpoint.trim_start_matches("http://")))
                {
                    return i;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn base64_key(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn base64_decode(value: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap_or_default()
}

async fn service_tasks(client: &EcsClient) -> Vec<String> {
    let listed = client
        .call(
            "ListTasks",
            json!({"serviceName": "kept", "desiredStatus": "RUNNING"}),
        )
        .await;
    listed
        .ok()
        .and_then(|l| {
            l["taskArns"].as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let etcd = EtcdCluster::start(3).await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(start(&etcd, tempfile::tempdir().unwrap(), None).await);
    }
    let token = std::fs::read_to_string(replicas[0].dir.path().join("agent-token")).unwrap();
    // The agent knows every replica and moves on when one is gone.
    let all: Vec<String> = replicas.iter().map(|r| r.endpoint.clone()).collect();
    let agent = FakeAgent::start(&all.join(","), token.trim(), FakeAgentConfig::fargate()).await;
    let mut client = EcsClient::new(&replicas[0].endpoint, KEY, SECRET, "us-east-1");
    let setup = client.clone();
    setup
        .call("CreateCluster", json!({"clusterName": "default"}))
        .await
        .unwrap();
    client
        .call("RegisterTaskDefinition", task_definition("kept"))
        .await
        .unwrap();
    client
        .call(
            "CreateService",
            json!({"serviceName": "kept", "taskDefinition": "kept", "desiredCount": 1,
                   "launchType": "FARGATE", "networkConfiguration": awsvpc()}),
        )
        .await
        .unwrap();
    let mut times = Vec::new();
    for round in 1..=ROUNDS {
        let old = loop {
            let tasks = service_tasks(&client).await;
            if tasks.len() == 1 {
                break tasks[0].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let victim = leader(&etcd, &replicas).await;
        let survivor = (victim + 1) % 3;
        client = EcsClient::new(&replicas[survivor].endpoint, KEY, SECRET, "us-east-1");
        let killed = Instant::now();
        drop(replicas[victim].process.take()); // SIGKILL
        client
            .call("StopTask", json!({"task": old, "reason": "failover bench"}))
            .await
            .unwrap();
        let elected = loop {
            let now = leader(&etcd, &replicas).await;
            if now != victim {
                break killed.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let replaced = loop {
            let tasks = service_tasks(&client).await;
            if tasks.iter().any(|t| *t != old) {
                break killed.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!(
            "round {round}: leader killed -> new leader elected {elected:.2?}, \
             replacement task started {replaced:.2?}"
        );
        times.push(replaced);
        let port: u16 = replicas[victim]
            .endpoint
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let dir = std::mem::replace(&mut replicas[victim].dir, tempfile::tempdir().unwrap());
        replicas[victim] = start(&etcd, dir, Some(port)).await;
    }
    times.sort();
    println!(
        "leader killed -> controllers acting on another replica: median {:.2?}, worst {:.2?} \
         ({ROUNDS} rounds; leader lease 3 s)",
        times[ROUNDS / 2],
        times[ROUNDS - 1]
    );
    agent.stop().await;
}
