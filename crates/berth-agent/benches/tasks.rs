//! Task start latency through a real `berth server` and `berth agent` on a real Docker
//! Engine, side by side with `docker run -d` of the same image on the same engine, in
//! the same run:
//!
//! 1. one task at a time, RunTask until DescribeTasks says RUNNING, against
//!    `docker run -d` (the CLI, as a person types it) and against a bare create + start
//!    through the Engine API (the floor: what Docker itself needs);
//! 2. 50 tasks at once (five RunTask calls of ten) until all are RUNNING, against 50
//!    concurrent `docker run -d`;
//! 3. the agent's RSS when idle, and after the 50 tasks.
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-agent --bench tasks`,
//! with `DOCKER_HOST` naming the engine (`scripts/bench-agent` starts one of its own)
//! and `BERTH_TEST_IMAGE` an image present there (default berth-test/busybox:latest).
//! `BERTH_BIN` overrides the binary (default target/release/berth).
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::time::{Duration, Instant};

use berth_testkit::bench::{docker, rss_mib, status_mib, BenchCluster};
use berth_testkit::EcsClient;
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const ROUNDS: usize = 21;
const BURST: usize = 50;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `docker run -d IMAGE sleep 3600`: returns how long the CLI took and the container id.
fn docker_run(host: &str, image: &str) -> (Duration, String) {
    let start = Instant::now();
    let id = docker(
        host,
        &[
            "run",
            "-d",
            "--label",
            "berth.bench=1",
            image,
            "sleep",
            "3600",
        ],
    );
    (start.elapsed(), id)
}

fn remove_direct(host: &str) {
    let ids = docker(host, &["ps", "-aq", "--filter", "label=berth.bench=1"]);
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.split_whitespace());
        docker(host, &args);
    }
}

/// Bare create + start through the Engine API: the time Docker itself needs.
async fn api_run(docker: &bollard::Docker, image: &str) -> Duration {
    use bollard::models::ContainerCreateBody;
    use bollard::query_parameters::StartContainerOptions;
    let start = Instant::now();
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some([("berth.bench".to_string(), "1".to_string())].into()),
        ..Default::default()
    };
    let created = docker.create_container(None, body).await.unwrap();
    docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
        .unwrap();
    start.elapsed()
}

async fn wait_running(client: &EcsClient, arns: &[String]) {
    let mut pending: Vec<String> = arns.to_vec();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for chunk in pending.chunks(100) {
            let d = client
                .call("DescribeTasks", json!({"cluster": "bench", "tasks": chunk}))
                .await
                .unwrap();
            for t in d["tasks"].as_array().unwrap() {
                match t["lastStatus"].as_str() {
                    Some("RUNNING") => {}
                    Some("STOPPED") => panic!("a task stopped: {t}"),
                    _ => still.push(t["taskArn"].as_str().unwrap().to_string()),
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn run_tasks(client: &EcsClient, count: usize) -> Vec<String> {
    let r: Value = client
        .call(
            "RunTask",
            json!({"cluster": "bench", "taskDefinition": "bench", "count": count}),
        )
        .await
        .unwrap();
    assert!(r["failures"].as_array().is_none_or(|f| f.is_empty()), "{r}");
    r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect()
}

async fn stop_all(client: &EcsClient, arns: &[String]) {
    for arn in arns {
        client
            .call("StopTask", json!({"cluster": "bench", "task": arn}))
            .await
            .unwrap();
    }
    for chunk in arns.chunks(100) {
        loop {
            let d = client
                .call("DescribeTasks", json!({"cluster": "bench", "tasks": chunk}))
                .await
                .unwrap();
            let stopped = d["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["lastStatus"] == "STOPPED");
            if stopped {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = BenchCluster::start(KEY, SECRET).await;
    let (client, host, image) = (
        bench.client.clone(),
        bench.docker_host.clone(),
        bench.image.clone(),
    );
    docker(&host, &["image", "inspect", &image]);
    remove_direct(&host);

    client
        .call(
            "RegisterTaskDefinition",
            json!({"family": "bench", "containerDefinitions": [{"name": "c", "image": image,
                "memory": 16, "command": ["sleep", "3600"], "stopTimeout": 1}]}),
        )
        .await
        .unwrap();
    let agent = bench
        .start_agent(&[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s")])
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = rss_mib(agent.id());
    let (idle_anon, idle_file) = (
        status_mib(agent.id(), "RssAnon:"),
        status_mib(agent.id(), "RssFile:"),
    );

    // 1. One at a time, alternating so drift in the engine hits all three alike.
    let engine = bollard::Docker::connect_with_unix(
        host.trim_start_matches("unix://"),
        120,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap();
    let (mut berth, mut cli, mut api) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let start = Instant::now();
        let arns = run_tasks(&client, 1).await;
        wait_running(&client, &arns).await;
        let took = start.elapsed();
        let (cli_took, _) = docker_run(&host, &image);
        let api_took = api_run(&engine, &image).await;
        if round > 0 {
            // The first round warms caches on every path.
            berth.push(took);
            cli.push(cli_took);
            api.push(api_took);
        }
        stop_all(&client, &arns).await;
        remove_direct(&host);
    }
    let (b, c, a) = (
        median(berth.clone()),
        median(cli.clone()),
        median(api.clone()),
    );
    println!("single task, median of {} rounds:", ROUNDS - 1);
    println!("  berth RunTask -> RUNNING   {:8.1} ms", ms(b));
    println!("  docker run -d (CLI)        {:8.1} ms", ms(c));
    println!("  engine create + start      {:8.1} ms", ms(a));
    println!("  ratio to docker run -d     {:8.2}", ms(b) / ms(c));
    println!("  added over create + start  {:8.1} ms", ms(b) - ms(a));
    let ratios: Vec<f64> = berth
        .iter()
        .zip(&cli)
        .map(|(b, c)| ms(*b) / ms(*c))
        .collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "  per-round ratio median     {:8.2}",
        sorted[sorted.len() / 2]
    );

    // 2. Fifty at once.
    let start = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..BURST / 10 {
        let client = client.clone();
        calls.push(tokio::spawn(async move { run_tasks(&client, 10).await }));
    }
    let mut arns = Vec::new();
    for c in calls {
        arns.extend(c.await.unwrap());
    }
    wait_running(&client, &arns).await;
    let berth_burst = start.elapsed();
    let busy_rss = rss_mib(agent.id());
    stop_all(&client, &arns).await;
    let start = Instant::now();
    let runs: Vec<_> = (0..BURST)
        .map(|_| {
            let (host, image) = (host.clone(), image.clone());
            std::thread::spawn(move || docker_run(&host, &image))
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
    let docker_burst = start.elapsed();
    remove_direct(&host);
    println!("{BURST} tasks at once:");
    println!("  berth, all RUNNING         {:8.1} ms", ms(berth_burst));
    println!(
        "  {BURST} x docker run -d        {:8.1} ms",
        ms(docker_burst)
    );
    println!(
        "  ratio                      {:8.2}",
        ms(berth_burst) / ms(docker_burst)
    );
    println!("agent RSS:");
    println!(
        "  idle                       {idle_rss:8.1} MiB ({idle_anon:.1} anonymous, {idle_file:.1} file-backed)"
    );
    println!("  with {BURST} tasks running     {busy_rss:8.1} MiB");
}
