//! The console's figures (issue 18), through a real `berth server` process with 10,000
//! tasks in one cluster: the time to answer the clusters page, a cluster's page (its
//! first page of tasks, and a later one) and a task's page, as a browser signed in with
//! the root key asks for them over loopback (so HTTP included: the server's own time is
//! at most this); and the time from StopTask to the open task page's live update.
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-console --bench pages`.
//! `BERTH_BIN` overrides the binary (default target/release/berth).
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::time::{Duration, Instant};

use berth_testkit::bench::{keep_heartbeating, register_instances, release_binary, start_server};
use berth_testkit::EcsClient;
use serde_json::json;

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const TASKS: usize = 10_000;
const INSTANCES: usize = 20;
const SAMPLES: usize = 200;
const LIVE_SAMPLES: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Signs in through the form; returns the session's `Cookie` value.
async fn sign_in(http: &reqwest::Client, endpoint: &str) -> String {
    let page = http
        .get(format!("{endpoint}/console/login"))
        .send()
        .await
        .unwrap();
    let nonce = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("berth_console_sign_in="))
        .unwrap();
    let html = page.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &html[at..at + html[at..].find('"').unwrap()];
    let resp = http
        .post(format!("{endpoint}/console/login"))
        .header("cookie", nonce)
        .form(&[
            ("csrf", csrf),
            ("method", "key"),
            ("access_key_id", KEY),
            ("secret_access_key", SECRET),
        ])
        .send()
        .await
        .unwrap();
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("berth_console="))
        .expect("signed in")
}

/// GETs `path` `SAMPLES` times; prints and returns the latencies' p50 / p95 / p99.
async fn measure(
    http: &reqwest::Client,
    endpoint: &str,
    cookie: &str,
    what: &str,
    path: &str,
    shows: &str,
) -> Duration {
    let mut took = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let resp = http
            .get(format!("{endpoint}{path}"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let body = resp.text().await.unwrap();
        took.push(t.elapsed());
        assert!(body.contains(shows), "{path} shows {shows}: {body}");
    }
    took.sort();
    let p95 = percentile(&took, 0.95);
    println!(
        "{what:<40} p50 {:>9}  p95 {:>9}  p99 {:>9}",
        ms(percentile(&took, 0.5)),
        ms(p95),
        ms(percentile(&took, 0.99))
    );
    p95
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, endpoint) = start_server(&release_binary(), dir.path(), KEY, SECRET).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = EcsClient::new(&endpoint, KEY, SECRET, "us-east-1");
    client
        .call("CreateCluster", json!({"clusterName": "bench"}))
        .await
        .unwrap();
    client
        .call(
            "RegisterTaskDefinition",
            json!({"family": "bench", "containerDefinitions": [{"name": "c", "image": "busybox", "cpu": 1, "memory": 6,
                "environment": [{"name": "MODE", "value": "bench"}]}]}),
        )
        .await
        .unwrap();
    let token = std::fs::read_to_string(dir.path().join("agent-token")).unwrap();
    let instances = register_instances(&http, &endpoint, token.trim(), "bench", INSTANCES).await;
    // Keep the instances' agents "connected" for the length of the run.
    let heartbeats = keep_heartbeating(
        http.clone(),
        endpoint.clone(),
        token.trim().to_string(),
        instances.clone(),
    );
    let mut arns = Vec::new();
    while arns.len() < TASKS {
        let r = client
            .call(
                "RunTask",
                json!({"cluster": "bench", "taskDefinition": "bench", "count": 10}),
            )
            .await
            .expect("RunTask");
        arns.extend(
            r["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["taskArn"].as_str().unwrap().to_string()),
        );
    }
    println!(
        "== {} tasks in cluster bench, {INSTANCES} instances; {SAMPLES} requests each",
        arns.len()
    );

    let cookie = sign_in(&http, &endpoint).await;
    let mut worst = Duration::ZERO;
    worst = worst.max(
        measure(
            &http,
            &endpoint,
            &cookie,
            "clusters page",
            "/console/clusters",
            // The cluster's pending tasks, counted.
            &format!(">{TASKS}<"),
        )
        .await,
    );
    worst = worst.max(
        measure(
            &http,
            &endpoint,
            &cookie,
            "cluster page (first 100 tasks)",
            "/console/clusters/bench",
            "Container instances",
        )
        .await,
    );
    let listed = client
        .call("ListTasks", json!({"cluster": "bench", "maxResults": 100}))
        .await
        .unwrap();
    let next = listed["nextToken"].as_str().unwrap().to_string();
    // Tokens are URL-safe base64.
    let later = format!("/console/clusters/bench?tasks=RUNNING&page={next}");
    worst = worst.max(
        measure(
            &http,
            &endpoint,
            &cookie,
            "cluster page (second 100 tasks)",
            &later,
            "Container instances",
        )
        .await,
    );
    let task_id = arns[0].rsplit('/').next().unwrap().to_string();
    worst = worst.max(
        measure(
            &http,
            &endpoint,
            &cookie,
            "task page",
            &format!("/console/clusters/bench/tasks/{task_id}"),
            &format!("Task {task_id}"),
        )
        .await,
    );
    println!("worst p95: {} (figure: at most 50 ms)", ms(worst));

    // Live: StopTask, then the open task page's update.
    let mut took = Vec::new();
    for arn in arns.iter().skip(1).take(LIVE_SAMPLES) {
        let id = arn.rsplit('/').next().unwrap();
        let mut stream = http
            .get(format!(
                "{endpoint}/console/clusters/bench/tasks/{id}/stream"
            ))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let mut buffer = String::new();
        while !buffer.contains("\n\n") {
            buffer.push_str(&String::from_utf8_lossy(
                &stream.chunk().await.unwrap().unwrap(),
            ));
        }
        buffer.clear();
        let t = Instant::now();
        client
            .call(
                "StopTask",
                json!({"cluster": "bench", "task": id, "reason": "bench"}),
            )
            .await
            .unwrap();
        while !buffer.contains("<td>STOPPED</td>") {
            buffer.push_str(&String::from_utf8_lossy(
                &stream.chunk().await.unwrap().unwrap(),
            ));
        }
        took.push(t.elapsed());
    }
    took.sort();
    println!(
        "{:<40} p50 {:>9}  p95 {:>9}  max {:>9}  (figure: within 1 s)",
        "StopTask -> open task page updated",
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.95)),
        ms(*took.last().unwrap())
    );
    heartbeats.abort();
}
