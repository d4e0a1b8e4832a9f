//! What authorization costs a real request: DescribeTasks calls/s as an IAM user whose
//! permissions are 10 attached managed policies of 10 statements each, against the same
//! calls as the account root (which skips evaluation), in the same run on the same
//! server.
//!
//! Method: a release `berth server` (embedded store) with 20 container instances
//! registered through the agent channel and 100 tasks placed. The user gets 10 customer
//! managed policies of 10 statements (wildcard actions, ARNs with wildcards, conditions,
//! one Deny for another cluster; one of them allows `ecs:DescribeTasks` on the bench
//! cluster's tasks) and an access key. Then rounds alternate root / user / root / user
//! …: in each round 16 callers send DescribeTasks of 10 tasks for 8 s; calls/s per round
//! and the medians of each side are printed, with their ratio (target ≥ 0.95).
//!
//! Run: `cargo build --release -p berth && cargo bench -p berth-server --bench authz`.
#![allow(clippy::disallowed_types)] // wall-clock timing of a benchmark, not library code

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_testkit::bench::{release_binary, start_server};
use berth_testkit::EcsClient;
use serde_json::{json, Value};

const KEY: &str = "AKIABENCH00000000000";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbenchse";
const INSTANCES: usize = 20;
const TASKS: usize = 100;
const CALLERS: usize = 16;
const ROUND: Duration = Duration::from_secs(8);
const ROUNDS: usize = 3;

/// Policy `index` of 10 statements; policy 0 is the one that allows DescribeTasks.
fn policy(index: usize) -> String {
    let services = ["ecs", "ecr", "logs", "elasticloadbalancing", "iam"];
    let mut statements = Vec::new();
    for s in 0..10 {
        let service = services[(index + s) % services.len()];
        let statement = match s {
            0 if index == 0 => json!({"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"],
                "Resource": "arn:aws:ecs:*:*:task/bench/*"}),
            0 => json!({"Effect": "Deny", "Action": "ecs:*",
                "Resource": format!("arn:aws:ecs:*:*:cluster/other-{index}")}),
            1 => json!({"Effect": "Allow", "Action": format!("{service}:Get*"), "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}}),
            2 => json!({"Effect": "Allow", "NotAction": ["iam:*", "sts:*"],
                "Resource": format!("arn:aws:{service}:*:*:thing-{index}-*")}),
            3 => json!({"Effect": "Allow", "Action": format!("{service}:Put*"),
                "Resource": "arn:aws:logs:*:*:log-group:/ecs/${aws:username}/*"}),
            4 => json!({"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*",
                "Condition": {"ArnLike": {"ecs:cluster": format!("arn:aws:ecs:*:*:cluster/team-{index}")}}}),
            5 => json!({"Effect": "Allow", "Action": format!("{service}:Create*"), "Resource": "*",
                "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner", "Team"]}}}),
            6 => json!({"Effect": "Allow", "Action": "ecr:BatchGetImage",
                "Resource": format!("arn:aws:ecr:*:*:repository/team-{index}/*")}),
            7 => json!({"Effect": "Allow", "Action": format!("{service}:Delete*"), "Resource": "*",
                "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
                              "Bool": {"aws:SecureTransport": "true"}}}),
            8 => json!({"Effect": "Allow", "Action": "ecs:UpdateService",
                "Resource": format!("arn:aws:ecs:us-east-1:000000000000:service/team-{index}/*")}),
            _ => json!({"Effect": "Allow", "Action": format!("{service}:Tag*"), "Resource": "*",
                "Condition": {"StringLike": {"aws:RequestTag/Team": "team-*"}}}),
        };
        statements.push(statement);
    }
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn tag<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).expect("tag") + open.len();
    &xml[start..start + xml[start..].find('<').expect("close")]
}

async fn iam(root: &EcsClient, pairs: &[(&str, &str)]) -> String {
    let (status, xml) = root.query("iam", pairs).await;
    assert_eq!(status, 200, "{xml}");
    xml
}

/// DescribeTasks calls/s over one round with `client`.
async fn round(client: &EcsClient, tasks: &[String]) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let (client, done, stop) = (client.clone(), done.clone(), stop.clone());
            let batch: Vec<String> = tasks
                .iter()
                .cycle()
                .skip(i * 10)
                .take(10)
                .cloned()
                .collect();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .call("DescribeTasks", json!({"cluster": "bench", "tasks": batch}))
                        .await
                        .expect("DescribeTasks");
                    assert_eq!(r["tasks"].as_array().map_or(0, Vec::len), 10);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, endpoint) = start_server(&release_binary(), dir.path(), KEY, SECRET).await;
    let root = EcsClient::new(&endpoint, KEY, SECRET, "us-east-1");
    root.call("CreateCluster", json!({"clusterName": "bench"}))
        .await
        .unwrap();
    root.call(
        "RegisterTaskDefinition",
        json!({"family": "bench", "containerDefinitions": [
            {"name": "c", "image": "busybox", "cpu": 1, "memory": 6}]}),
    )
    .await
    .unwrap();
    let token = std::fs::read_to_string(dir.path().join("agent-token")).unwrap();
    let http = reqwest::Client::new();
    for _ in 0..INSTANCES {
        http.post(format!("{endpoint}/agent/v1/register"))
            .bearer_auth(token.trim())
            .json(
                &json!({"kind": "EC2", "cluster": "bench", "cpu": 100_000, "memory": 100_000,
                "attributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]}),
            )
            .send()
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    while tasks.len() < TASKS {
        let r: Value = root
            .call(
                "RunTask",
                json!({"cluster": "bench", "taskDefinition": "bench", "count": 10}),
            )
            .await
            .unwrap();
        for t in r["tasks"].as_array().unwrap() {
            tasks.push(t["taskArn"].as_str().unwrap().to_string());
        }
    }

    iam(&root, &[("Action", "CreateUser"), ("UserName", "bench")]).await;
    for i in 0..10 {
        let name = format!("bench-{i}");
        let document = policy(i);
        let xml = iam(
            &root,
            &[
                ("Action", "CreatePolicy"),
                ("PolicyName", &name),
                ("PolicyDocument", &document),
            ],
        )
        .await;
        let arn = tag(&xml, "Arn").to_string();
        iam(
            &root,
            &[
                ("Action", "AttachUserPolicy"),
                ("UserName", "bench"),
                ("PolicyArn", &arn),
            ],
        )
        .await;
    }
    let xml = iam(
        &root,
        &[("Action", "CreateAccessKey"), ("UserName", "bench")],
    )
    .await;
    let user = EcsClient::new(
        &endpoint,
        tag(&xml, "AccessKeyId"),
        tag(&xml, "SecretAccessKey"),
        "us-east-1",
    );

    // Warm both up (connections, caches), then alternate.
    round(&root, &tasks).await;
    round(&user, &tasks).await;
    let (mut as_root, mut as_user) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        let a = round(&root, &tasks).await;
        let b = round(&user, &tasks).await;
        println!("round {r}: root {a:.0} calls/s, IAM user {b:.0} calls/s");
        as_root.push(a);
        as_user.push(b);
    }
    let (a, b) = (median(as_root), median(as_user));
    println!(
        "DescribeTasks (10 tasks a call, {CALLERS} callers): root {a:.0} calls/s, IAM user with \
         10 policies x 10 statements {b:.0} calls/s: {:.3}x (target >= 0.95)",
        b / a
    );
}
