//! Container logs through a real `berth server` and `berth agent` on a real Docker
//! Engine (the `awslogs` path end to end):
//!
//! 1. ingest: a container writes 200,000 lines as fast as it can (`seq`); the rate is
//!    lines over the time from its first line's timestamp to the last line's ingestion
//!    by the control plane (five rounds, median);
//! 2. GetLogEvents of 10,000 events, paged through one of those streams from both
//!    ends: latency p50 and p99 over 200 calls;
//! 3. write to visible: a container writes a line every 50 ms for 15 s while the bench
//!    follows its stream with GetLogEvents' forward token; each line's delay is when
//!    it was first returned less its container timestamp (same host clock): p50, p99.
//!
//! Run: `scripts/bench-agent logs` (starts a Docker Engine of its own), or
//! `cargo build --release -p berth && cargo bench -p berth-agent --bench logs` with
//! `DOCKER_HOST` and `BERTH_TEST_IMAGE` as for the tasks bench.
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_testkit::bench::BenchCluster;
use berth_testkit::EcsClient;
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const LINES: u64 = 200_000;
const ROUNDS: usize = 5;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn register(client: &EcsClient, family: &str, image: &str, script: &str) {
    client
        .call(
            "RegisterTaskDefinition",
            json!({"family": family, "containerDefinitions": [{"name": "c", "image": image,
                "memory": 64, "command": ["sh", "-c", script],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": format!("/bench/{family}"), "awslogs-stream-prefix": "b",
                    "awslogs-create-group": "true"}}}]}),
        )
        .await
        .unwrap();
}

/// Runs one task of `family`; returns its log stream's name.
async fn run(client: &EcsClient, family: &str) -> String {
    let r = client
        .call(
            "RunTask",
            json!({"cluster": "bench", "taskDefinition": family}),
        )
        .await
        .unwrap();
    let arn = r["tasks"][0]["taskArn"]
        .as_str()
        .expect("placed")
        .to_string();
    format!("b/c/{}", arn.rsplit('/').next().unwrap())
}

async fn stream_info(client: &EcsClient, group: &str, stream: &str) -> Option<Value> {
    let r = client
        .logs(
            "DescribeLogStreams",
            json!({"logGroupName": group, "logStreamNamePrefix": stream}),
        )
        .await
        .ok()?;
    r["logStreams"].get(0).cloned()
}

#[tokio::main]
async fn main() {
    let bench = BenchCluster::start(KEY, SECRET).await;
    let _agent = bench.start_agent(&[]).await;
    let (client, image) = (bench.client.clone(), bench.image.clone());

    // 1. Ingest.
    register(&client, "burst", &image, &format!("seq 1 {LINES}")).await;
    let (group, mut rates, mut written, mut last_stream) =
        ("/bench/burst", vec![], vec![], String::new());
    for _ in 0..ROUNDS {
        let stream = run(&client, "burst").await;
        let deadline = Instant::now() + Duration::from_secs(300);
        let info = loop {
            if let Some(info) = stream_info(&client, group, &stream).await {
                let next = info["uploadSequenceToken"]
                    .as_str()
                    .and_then(|s| s.parse().ok());
                if next == Some(LINES + 1) {
                    break info;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{stream} never got all {LINES} lines"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let first = info["firstEventTimestamp"].as_i64().unwrap();
        let last = info["lastEventTimestamp"].as_i64().unwrap();
        let ingested = info["lastIngestionTime"].as_i64().unwrap();
        rates.push(LINES as f64 / ((ingested - first).max(1) as f64 / 1000.0));
        written.push(LINES as f64 / ((last - first).max(1) as f64 / 1000.0));
        last_stream = stream;
    }
    rates.sort_by(f64::total_cmp);
    written.sort_by(f64::total_cmp);
    println!(
        "ingest, {LINES} lines from one container: {:.0} lines/s stored (median of {ROUNDS}: {:?}); \
         the container wrote at {:.0} lines/s",
        percentile(&rates, 0.5),
        rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
        percentile(&written, 0.5)
    );

    // 2. GetLogEvents of 10,000 events.
    let mut took = Vec::new();
    for from_head in [true, false] {
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let mut body = json!({"logGroupName": group, "logStreamName": last_stream,
                                  "limit": 10_000});
            match &token {
                Some(t) => body["nextToken"] = json!(t),
                None => body["startFromHead"] = json!(from_head),
            }
            let start = Instant::now();
            let page = client.logs("GetLogEvents", body).await.unwrap();
            took.push(start.elapsed().as_secs_f64() * 1000.0);
            let n = page["events"].as_array().map_or(0, Vec::len);
            let key = if from_head {
                "nextForwardToken"
            } else {
                "nextBackwardToken"
            };
            token = if n == 0 {
                None
            } else {
                page[key].as_str().map(str::to_string)
            };
        }
    }
    took.sort_by(f64::total_cmp);
    println!(
        "GetLogEvents of up to 10,000 events, {} calls: p50 {:.1} ms, p99 {:.1} ms",
        took.len(),
        percentile(&took, 0.5),
        percentile(&took, 0.99)
    );

    // 3. Write to visible.
    register(
        &client,
        "steady",
        &image,
        "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); sleep 0.05; done",
    )
    .await;
    let stream = run(&client, "steady").await;
    let (group, mut token, mut delays) = ("/bench/steady", None::<String>, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    while delays.len() < 300 && Instant::now() < deadline {
        let mut body = json!({"logGroupName": group, "logStreamName": stream});
        match &token {
            Some(t) => body["nextToken"] = json!(t),
            None => body["startFromHead"] = json!(true),
        }
        if let Ok(page) = client.logs("GetLogEvents", body).await {
            let seen = now_ms();
            for e in page["events"].as_array().into_iter().flatten() {
                delays.push((seen - e["timestamp"].as_i64().unwrap()) as f64);
            }
            token = page["nextForwardToken"].as_str().map(str::to_string);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(delays.len(), 300, "every line became visible");
    delays.sort_by(f64::total_cmp);
    println!(
        "write to visible, 300 lines at 20/s, polled every 20 ms: p50 {:.0} ms, p99 {:.0} ms",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99)
    );
}
