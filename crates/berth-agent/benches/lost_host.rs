//! A lost host's service tasks running again on another host: the time from the cut to
//! the service's desired count RUNNING elsewhere, and the share of it that is the
//! disconnect timeout (10 s).
//!
//! A release `berth server` and two `berth agent`s on the engine, each its own container
//! instance of cluster `bench`. Each round creates a service of 4 bridge-mode `sleep`
//! tasks while the second instance is draining, so all four run on the first; sets the
//! second ACTIVE; then cuts the first host off by stopping its agent with SIGSTOP (it
//! sends nothing while its containers run on, as behind a link that is down). Timed from
//! the SIGSTOP: until the four tasks are STOPPED (the host counted lost), and until the
//! service has four RUNNING tasks on the second host. Then the first agent resumes and
//! removes its stale containers, the service is deleted, and the next round starts with
//! the hosts' roles swapped. Five rounds; medians and maxima.
//!
//! No peer: Docker Swarm reschedules a down node's tasks too, but needs a second engine
//! to do it, and this bench runs on one. Run: `scripts/bench-agent lost_host`.
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::time::{Duration, Instant};

use berth_testkit::bench::{docker, BenchCluster};
use berth_testkit::EcsClient;
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const TASKS: usize = 4;
const ROUNDS: usize = 5;

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

async fn tasks_of(client: &EcsClient, service: &str) -> Vec<Value> {
    let arns = client
        .call(
            "ListTasks",
            json!({"cluster": "bench", "serviceName": service, "desiredStatus": "RUNNING"}),
        )
        .await
        .unwrap()["taskArns"]
        .clone();
    let arns: Vec<String> = arns
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    if arns.is_empty() {
        return vec![];
    }
    described(client, &arns).await
}

async fn described(client: &EcsClient, arns: &[String]) -> Vec<Value> {
    client
        .call("DescribeTasks", json!({"cluster": "bench", "tasks": arns}))
        .await
        .unwrap()["tasks"]
        .as_array()
        .unwrap()
        .clone()
}

async fn set_state(client: &EcsClient, instance: &str, status: &str) {
    client
        .call(
            "UpdateContainerInstancesState",
            json!({"cluster": "bench", "containerInstances": [instance], "status": status}),
        )
        .await
        .unwrap();
}

async fn until<T>(what: &str, secs: u64, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One round: the service on `lost`, the cut, the replacements on `kept`. Returns the
/// seconds from the cut until the host was counted lost and until the service ran again.
async fn round(
    bench: &BenchCluster,
    n: usize,
    (lost, lost_pid): (&str, u32),
    kept: &str,
) -> (f64, f64) {
    let client = &bench.client;
    let service = format!("svc{n}");
    set_state(client, kept, "DRAINING").await;
    client
        .call(
            "CreateService",
            json!({"cluster": "bench", "serviceName": service, "taskDefinition": "sleeper",
                   "desiredCount": TASKS, "launchType": "EC2"}),
        )
        .await
        .unwrap();
    let before: Vec<String> = until("the service on the first host", 120, async || {
        let tasks = tasks_of(client, &service).await;
        let settled = tasks.len() == TASKS
            && tasks
                .iter()
                .all(|t| t["lastStatus"] == "RUNNING" && t["containerInstanceArn"] == lost);
        settled.then(|| {
            tasks
                .iter()
                .map(|t| t["taskArn"].as_str().unwrap().to_string())
                .collect()
        })
    })
    .await;
    set_state(client, kept, "ACTIVE").await;

    let cut = Instant::now();
    signal(lost_pid, "STOP");
    until("the lost host's tasks to stop", 60, async || {
        let tasks = described(client, &before).await;
        tasks
            .iter()
            .all(|t| t["lastStatus"] == "STOPPED")
            .then_some(())
    })
    .await;
    let lost_after = cut.elapsed().as_secs_f64();
    until("the service to run on the other host", 60, async || {
        let tasks = tasks_of(client, &service).await;
        (tasks.len() == TASKS
            && tasks
                .iter()
                .all(|t| t["lastStatus"] == "RUNNING" && t["containerInstanceArn"] == kept))
        .then_some(())
    })
    .await;
    let running_after = cut.elapsed().as_secs_f64();
    signal(lost_pid, "CONT");

    // The returned host removes its stale containers; the service goes.
    until("the stale containers to go", 120, async || {
        before
            .iter()
            .all(|arn| {
                docker(
                    &bench.docker_host,
                    &[
                        "ps",
                        "-q",
                        "--filter",
                        &format!("label=com.amazonaws.ecs.task-arn={arn}"),
                    ],
                )
                .trim()
                .is_empty()
            })
            .then_some(())
    })
    .await;
    client
        .call(
            "DeleteService",
            json!({"cluster": "bench", "service": service, "force": true}),
        )
        .await
        .unwrap();
    until("the service's tasks to stop", 120, async || {
        tasks_of(client, &service).await.is_empty().then_some(())
    })
    .await;
    (lost_after, running_after)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let bench = BenchCluster::start(KEY, SECRET).await;
    let client = &bench.client;
    client
        .call(
            "RegisterTaskDefinition",
            json!({"family": "sleeper", "containerDefinitions": [{
                "name": "main", "image": bench.image, "memory": 16, "cpu": 16,
                "command": ["sleep", "3600"], "stopTimeout": 1}]}),
        )
        .await
        .unwrap();
    let cleanup = [("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s")];
    let a = bench.start_agent_named("agent-a", &cleanup).await;
    let b = bench.start_agent_named("agent-b", &cleanup).await;
    let arn_of = |dir: &str| {
        let state = std::fs::read_to_string(bench.dir.path().join(dir).join("agent-state.json"))
            .expect("agent state");
        serde_json::from_str::<Value>(&state).unwrap()["ec2"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let hosts = [(arn_of("agent-a"), a.id()), (arn_of("agent-b"), b.id())];
    let (mut lost, mut running) = (vec![], vec![]);
    for n in 0..ROUNDS {
        let (cut, other) = (&hosts[n % 2], &hosts[(n + 1) % 2]);
        let (l, r) = round(&bench, n, (&cut.0, cut.1), &other.0).await;
        println!(
            "round {n}: host lost after {l:.2} s; {TASKS} tasks RUNNING elsewhere after {r:.2} s"
        );
        lost.push(l);
        running.push(r);
    }
    let (lost_max, running_max) = (
        lost.iter().copied().fold(0.0, f64::max),
        running.iter().copied().fold(0.0, f64::max),
    );
    let running_median = median(running);
    println!(
        "lost host → service RUNNING elsewhere: median {running_median:.2} s, max {running_max:.2} s \
         (target ≤ 15 s); host counted lost: median {:.2} s, max {lost_max:.2} s; the 10 s \
         timeout is {:.0}% of the median",
        median(lost),
        1000.0 / running_median
    );
}
