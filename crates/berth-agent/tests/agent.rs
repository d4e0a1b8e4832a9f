//! The agent loop against a real in-process control plane, with the fake runtime:
//! lifecycle, exit codes, failed pulls, a container killed behind the agent's back, and
//! re-adoption after an agent restart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_agent::agent::{Agent, AgentOptions};
use berth_agent::config::AgentConfig;
use berth_agent::fake::FakeRuntime;
use berth_agent::runtime::Runtime;
use berth_testkit::fixtures::{awsvpc, task_definition};

use berth_testkit::{EcsClient, TestCluster};
use serde_json::{json, Value};

fn options(c: &TestCluster, state_file: Option<PathBuf>) -> AgentOptions {
    AgentOptions {
        server: c.endpoint(),
        token: c.agent_token(),
        config: AgentConfig {
            endpoint_port: 0,
            ..Default::default()
        },
        ec2: true,
        fargate: false,
        cpu: 4096,
        memory_mib: 8192,
        state_file,
        poll_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(10),
    }
}

async fn run_one(client: &EcsClient, env: Value) -> String {
    let r = client
        .ok(
            "RunTask",
            json!({"taskDefinition": "web",
            "overrides": {"containerOverrides": [{"name": "web", "environment": env}]}}),
        )
        .await;
    match r["tasks"][0]["taskArn"].as_str() {
        Some(arn) => arn.to_string(),
        None => panic!("nothing placed: {r}"),
    }
}

async fn wait_for(client: &EcsClient, arn: &str, status: &str) -> Value {
    for _ in 0..200 {
        let d = client.ok("DescribeTasks", json!({"tasks": [arn]})).await;
        if d["tasks"][0]["lastStatus"] == status {
            return d["tasks"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{arn} never reached {status}");
}

async fn setup() -> (TestCluster, Arc<FakeRuntime>) {
    let c = TestCluster::start().await;
    c.client.ok("CreateCluster", json!({})).await;
    let web = json!({"family": "web", "containerDefinitions": [
        {"name": "web", "image": "busybox", "memory": 64}]});
    c.client.ok("RegisterTaskDefinition", web).await;
    (c, Arc::new(FakeRuntime::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_a_task_and_stops_it_on_request() {
    let (c, runtime) = setup().await;
    let agent = Agent::start(options(&c, None), runtime.clone())
        .await
        .unwrap();
    let arn = run_one(&c.client, json!([])).await;
    let t = wait_for(&c.client, &arn, "RUNNING").await;
    assert!(t["containers"][0]["runtimeId"]
        .as_str()
        .unwrap()
        .starts_with("fake-"));
    let containers = runtime.list().await.unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].task_arn(), Some(arn.as_str()));
    c.client
        .ok("StopTask", json!({"task": arn, "reason": "enough"}))
        .await;
    let t = wait_for(&c.client, &arn, "STOPPED").await;
    assert_eq!(
        t["containers"][0]["exitCode"], 143,
        "stopped with SIGTERM: {t}"
    );
    assert_eq!(t["stopCode"], "UserInitiated");
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exiting_essential_container_stops_the_task_with_its_code() {
    let (c, runtime) = setup().await;
    let agent = Agent::start(options(&c, None), runtime).await.unwrap();
    let env = json!([{"name": "BERTH_FAKE_RUN_FOR_MS", "value": "100"},
                     {"name": "BERTH_FAKE_EXIT_CODE", "value": "3"}]);
    let arn = run_one(&c.client, env).await;
    let t = wait_for(&c.client, &arn, "STOPPED").await;
    assert_eq!(t["containers"][0]["exitCode"], 3);
    assert_eq!(t["stopCode"], "EssentialContainerExited");
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pull_fails_the_task_with_a_reason_a_person_can_act_on() {
    let (c, runtime) = setup().await;
    runtime.missing_image("busybox");
    let agent = Agent::start(options(&c, None), runtime).await.unwrap();
    let arn = run_one(&c.client, json!([])).await;
    let t = wait_for(&c.client, &arn, "STOPPED").await;
    assert_eq!(t["stopCode"], "TaskFailedToStart");
    assert_eq!(
        t["stoppedReason"],
        "CannotPullContainerError: busybox: not found"
    );
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_behind_its_back_is_reported() {
    let (c, runtime) = setup().await;
    let agent = Agent::start(options(&c, None), runtime.clone())
        .await
        .unwrap();
    let arn = run_one(&c.client, json!([])).await;
    wait_for(&c.client, &arn, "RUNNING").await;
    let id = runtime.list().await.unwrap()[0].id.clone();
    runtime.kill(&id, 137);
    let t = wait_for(&c.client, &arn, "STOPPED").await;
    assert_eq!(t["containers"][0]["exitCode"], 137);
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_re_adopts_its_containers() {
    let (c, runtime) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent-state.json");
    let first = Agent::start(options(&c, Some(state.clone())), runtime.clone())
        .await
        .unwrap();
    let arn = run_one(&c.client, json!([])).await;
    wait_for(&c.client, &arn, "RUNNING").await;
    let arns = first.container_instance_arns.clone();
    first.stop().await;
    let creates = |rt: &FakeRuntime| {
        rt.calls()
            .iter()
            .filter(|c| c.starts_with("create"))
            .count()
    };
    assert_eq!(creates(&runtime), 1);

    let second = Agent::start(options(&c, Some(state)), runtime.clone())
        .await
        .unwrap();
    assert_eq!(
        second.container_instance_arns, arns,
        "registers as the same instance"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        creates(&runtime),
        1,
        "no duplicate container: {:?}",
        runtime.calls()
    );
    assert!(
        !runtime.calls().iter().any(|c| c.starts_with("stop")),
        "no restart"
    );
    c.client.ok("StopTask", json!({"task": arn})).await;
    wait_for(&c.client, &arn, "STOPPED").await;
    second.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_the_agent_cannot_honour_is_reported_not_ignored() {
    let (c, runtime) = setup().await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "secretive", "containerDefinitions": [{"name": "app",
                "image": "app", "memory": 64, "secrets": [{"name": "PW",
                "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/pw"}]}]}),
        )
        .await;
    let agent = Agent::start(options(&c, None), runtime.clone())
        .await
        .unwrap();
    let r = c
        .client
        .ok("RunTask", json!({"taskDefinition": "secretive"}))
        .await;
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let t = wait_for(&c.client, &arn, "STOPPED").await;
    assert_eq!(t["stopCode"], "TaskFailedToStart");
    assert!(
        t["stoppedReason"].as_str().unwrap().contains("secrets"),
        "{t}"
    );
    assert!(
        !runtime.calls().iter().any(|c| c.starts_with("create")),
        "nothing ran: {:?}",
        runtime.calls()
    );
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fargate_task_gets_its_own_namespace_and_address() {
    let (c, runtime) = setup().await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("fargate-web"))
        .await;
    let mut opts = options(&c, None);
    (opts.ec2, opts.fargate) = (false, true);
    let agent = Agent::start(opts, runtime.clone()).await.unwrap();
    let r = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "fargate-web", "launchType": "FARGATE",
            "networkConfiguration": awsvpc()}),
        )
        .await;
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let t = wait_for(&c.client, &arn, "RUNNING").await;
    let ip = t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
        .as_str()
        .unwrap_or_default();
    assert!(ip.starts_with("10.0.0."), "the pause's address: {t}");
    let calls = runtime.calls();
    let creates: Vec<&String> = calls.iter().filter(|c| c.starts_with("create")).collect();
    assert_eq!(creates[0], "create ~internal~ecs~pause", "{calls:?}");
    assert!(calls.contains(&"network berth-awsvpc".to_string()));
    agent.stop().await;
    c.shutdown().await;
}
