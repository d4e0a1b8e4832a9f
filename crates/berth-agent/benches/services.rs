//! A 100-task service from CreateService to a steady state, side by side with Docker
//! Swarm's `docker service create --replicas 100` of the same image on the same engine.
//!
//! Berth: a release `berth server` and `berth agent` on the engine; CreateService with
//! desiredCount 100 (bridge mode, `sleep`), timed until DescribeServices reports 100
//! running tasks and the deployment COMPLETED; then the service is scaled to zero and
//! deleted and the bench waits for its containers to go. Swarm: the same engine in swarm
//! mode (`docker swarm init`), `docker service create --detach=false --replicas 100`
//! timed until it returns (converged), then `docker service rm` and the containers go.
//! The two alternate for three rounds; the engine leaves swarm mode at the end.
//!
//! Run: `scripts/bench-agent services`.
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::time::{Duration, Instant};

use berth_testkit::bench::{docker, BenchCluster};
use berth_testkit::EcsClient;
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const TASKS: u64 = 100;
const ROUNDS: usize = 3;

fn containers(host: &str) -> usize {
    docker(host, &["ps", "-q"]).lines().count()
}

fn wait_for_no_containers(host: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while containers(host) > 0 {
        assert!(Instant::now() < deadline, "containers never went away");
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn service(client: &EcsClient, name: &str) -> Value {
    client
        .call(
            "DescribeServices",
            json!({"cluster": "bench", "services": [name]}),
        )
        .await
        .unwrap()["services"][0]
        .clone()
}

async fn berth_round(client: &EcsClient, host: &str, round: usize) -> f64 {
    let name = format!("svc{round}");
    let start = Instant::now();
    client
        .call(
            "CreateService",
            json!({"cluster": "bench", "serviceName": name, "taskDefinition": "sleeper",
                   "desiredCount": TASKS, "launchType": "EC2"}),
        )
        .await
        .unwrap();
    let deadline = start + Duration::from_secs(600);
    loop {
        let s = service(client, &name).await;
        if s["runningCount"] == json!(TASKS)
            && s["deployments"][0]["rolloutState"] == json!("COMPLETED")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached a steady state: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = start.elapsed().as_secs_f64();
    client
        .call(
            "DeleteService",
            json!({"cluster": "bench", "service": name, "force": true}),
        )
        .await
        .unwrap();
    wait_for_no_containers(host);
    took
}

fn swarm_round(host: &str, image: &str, round: usize) -> f64 {
    let name = format!("swarm{round}");
    let replicas = TASKS.to_string();
    let start = Instant::now();
    docker(
        host,
        &[
            "service",
            "create",
            "--detach=false",
            "--quiet",
            "--name",
            &name,
            "--replicas",
            &replicas,
            "--endpoint-mode",
            "dnsrr",
            "--stop-grace-period",
            "1s",
            image,
            "sleep",
            "3600",
        ],
    );
    let took = start.elapsed().as_secs_f64();
    docker(host, &["service", "rm", &name]);
    wait_for_no_containers(host);
    took
}

#[tokio::main]
async fn main() {
    let bench = BenchCluster::start(KEY, SECRET).await;
    let _agent = bench.start_agent(&[]).await;
    let (client, host, image) = (
        bench.client.clone(),
        bench.docker_host.clone(),
        bench.image.clone(),
    );
    client
        .call(
            "RegisterTaskDefinition",
            json!({"family": "sleeper", "networkMode": "bridge", "containerDefinitions": [
                {"name": "c", "image": image, "memory": 8, "command": ["sleep", "3600"],
                 "stopTimeout": 1}]}),
        )
        .await
        .unwrap();
    docker(&host, &["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    let (mut berth, mut swarm) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        berth.push(berth_round(&client, &host, round).await);
        swarm.push(swarm_round(&host, &image, round));
    }
    docker(&host, &["swarm", "leave", "--force"]);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (b, s) = (median(&mut berth.clone()), median(&mut swarm.clone()));
    println!(
        "{TASKS}-task service to steady state: Berth {b:.2} s (rounds {berth:.2?}), \
         Swarm {s:.2} s (rounds {swarm:.2?}); Berth/Swarm {:.2}x",
        b / s
    );
}
