//! The Docker runtime and the agent loop (with its awslogs shipping) against a real
//! Docker Engine. `scripts/test` starts a dockerd of its own (own data-root, socket, no
//! bridge) and imports a busybox image built offline; it passes them as
//! BERTH_TEST_DOCKER_HOST and BERTH_TEST_IMAGE.
//! Without them these tests fail: they never skip.

use std::sync::Arc;
use std::time::Duration;

use berth_agent::agent::{Agent, AgentOptions};
use berth_agent::config::{AgentConfig, PullBehavior};
use berth_agent::docker::DockerRuntime;
use berth_agent::runtime::{ContainerSpec, Phase, Runtime, LABEL_TASK_ARN};
use berth_testkit::{EcsClient, TestCluster};
use serde_json::{json, Value};
use tokio::time::Instant;

fn docker() -> DockerRuntime {
    let host = std::env::var("BERTH_TEST_DOCKER_HOST").expect(
        "BERTH_TEST_DOCKER_HOST is not set: these tests need a Docker Engine; run them \
         through scripts/test, which starts one",
    );
    DockerRuntime::connect(Some(&host), PullBehavior::PreferCached).expect("connect to dockerd")
}

fn image() -> String {
    std::env::var("BERTH_TEST_IMAGE").unwrap_or_else(|_| "berth-test/busybox:latest".into())
}

fn spec(task: &str, command: &[&str]) -> ContainerSpec {
    ContainerSpec {
        name: "c".into(),
        image: image(),
        entry_point: None,
        command: Some(command.iter().map(|s| s.to_string()).collect()),
        environment: vec![("GREETING".into(), "hi".into())],
        labels: [(LABEL_TASK_ARN.to_string(), task.to_string())].into(),
        stop_timeout: Duration::from_secs(1),
        memory_mib: Some(32),
        ..Default::default()
    }
}

async fn wait_exited(rt: &DockerRuntime, id: &str) -> i32 {
    for _ in 0..200 {
        let all = rt.list().await.unwrap();
        if let Some(Phase::Exited { code }) = all.iter().find(|c| c.id == id).map(|c| c.phase) {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("container {id} never exited");
}

#[tokio::test]
async fn exit_codes_labels_and_stop_timeout_come_from_docker() {
    let rt = docker();
    assert!(!rt.version().await.unwrap().is_empty());
    rt.pull(&image(), None).await.unwrap();
    let task = format!(
        "arn:aws:ecs:us-east-1:000000000000:task/t/{}",
        std::process::id()
    );
    let id = rt
        .create(&spec(
            &task,
            &["sh", "-c", "test \"$GREETING\" = hi && exit 3"],
        ))
        .await
        .unwrap();
    rt.start(&id).await.unwrap();
    assert_eq!(
        wait_exited(&rt, &id).await,
        3,
        "environment reached the container"
    );
    let listed = rt.list().await.unwrap();
    assert_eq!(
        listed.iter().find(|c| c.id == id).unwrap().task_arn(),
        Some(task.as_str())
    );

    // PID 1 ignores SIGTERM, so the stop must wait its timeout, then kill.
    let id2 = rt.create(&spec(&task, &["sleep", "300"])).await.unwrap();
    rt.start(&id2).await.unwrap();
    let started = Instant::now();
    rt.stop(&id2, Duration::from_secs(1)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(wait_exited(&rt, &id2).await, 137);
    for id in [id, id2] {
        rt.remove(&id).await.unwrap();
    }
    assert!(!rt
        .list()
        .await
        .unwrap()
        .iter()
        .any(|c| c.task_arn() == Some(task.as_str())));
}

#[tokio::test]
async fn usage_reads_a_running_containers_cpu_time_and_memory_at_once() {
    let rt = docker();
    rt.pull(&image(), None).await.unwrap();
    let task = format!(
        "arn:aws:ecs:us-east-1:000000000000:task/t/usage{}",
        std::process::id()
    );
    let id = rt
        .create(&spec(&task, &["sh", "-c", "while :; do :; done"]))
        .await
        .unwrap();
    rt.start(&id).await.unwrap();
    let read_at = Instant::now();
    let first = rt.usage(&id).await.unwrap();
    assert!(
        read_at.elapsed() < Duration::from_millis(900),
        "one-shot stats do not wait for a second sample: {:?}",
        read_at.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = rt.usage(&id).await.unwrap();
    let spun = second.cpu_total_ns.saturating_sub(first.cpu_total_ns);
    // A busy loop over a second: well over a tenth of a core even on a loaded machine.
    assert!(spun > 100_000_000, "{first:?} then {second:?}");
    assert!(
        second.memory_bytes > 0 && second.memory_bytes < 32 << 20,
        "{second:?}"
    );
    rt.stop(&id, Duration::from_secs(1)).await.unwrap();
    rt.remove(&id).await.unwrap();
}

#[tokio::test]
async fn a_missing_image_is_a_pull_error_a_person_can_act_on() {
    let rt = DockerRuntime::connect(
        Some(&std::env::var("BERTH_TEST_DOCKER_HOST").expect("BERTH_TEST_DOCKER_HOST")),
        PullBehavior::Always,
    )
    .unwrap();
    let e = rt
        .pull("berth-test/no-such-image:1", None)
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("CannotPullContainerError"), "{e}");
}

async fn wait_for(client: &EcsClient, arn: &str, status: &str) -> Value {
    for _ in 0..400 {
        let d = client.ok("DescribeTasks", json!({"tasks": [arn]})).await;
        if d["tasks"][0]["lastStatus"] == status {
            return d["tasks"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{arn} never reached {status}");
}

/// An agent of `c` on the suite's engine, offering EC2 capacity.
fn agent_options(c: &TestCluster, state_file: Option<std::path::PathBuf>) -> AgentOptions {
    AgentOptions {
        server: c.endpoint(),
        token: c.agent_token(),
        config: AgentConfig {
            pull_behavior: PullBehavior::PreferCached,
            endpoint_port: 0,
            // The suite's own bridge and subnet for awsvpc tasks (see scripts/test).
            task_bridge: std::env::var("BERTH_TEST_TASK_BRIDGE").ok(),
            task_subnet: std::env::var("BERTH_TEST_TASK_SUBNET").ok(),
            ..Default::default()
        },
        ec2: true,
        fargate: false,
        cpu: 2048,
        memory_mib: 2048,
        gpu_ids: vec![],
        docker_version: None,
        state_file,
        poll_interval: Duration::from_millis(100),
        heartbeat_interval: Duration::from_secs(10),
        ca_pem: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_runs_a_real_container_and_reports_its_exit_code() {
    let c = TestCluster::start().await;
    c.client.ok("CreateCluster", json!({})).await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "real", "containerDefinitions": [
            {"name": "main", "image": image(), "memory": 64, "command": ["sleep", "300"],
             "stopTimeout": 1}]}),
        )
        .await;
    let agent = Agent::start(agent_options(&c, None), Arc::new(docker()))
        .await
        .unwrap();

    let run = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "real", "overrides": {"containerOverrides": [
            {"name": "main", "command": ["sh", "-c", "exit 3"]}]}}),
        )
        .await;
    let exits = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let t = wait_for(&c.client, &exits, "STOPPED").await;
    assert_eq!(t["containers"][0]["exitCode"], 3, "{t}");
    assert_eq!(t["stopCode"], "EssentialContainerExited");

    let run = c
        .client
        .ok("RunTask", json!({"taskDefinition": "real"}))
        .await;
    let long = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let t = wait_for(&c.client, &long, "RUNNING").await;
    assert_eq!(
        t["containers"][0]["runtimeId"].as_str().unwrap().len(),
        64,
        "a Docker id"
    );
    c.client.ok("StopTask", json!({"task": long})).await;
    let t = wait_for(&c.client, &long, "STOPPED").await;
    assert_eq!(
        t["containers"][0]["exitCode"], 137,
        "SIGTERM ignored by PID 1, killed after stopTimeout"
    );
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test]
async fn an_existing_task_network_must_match_the_settings() {
    let rt = docker();
    let name = format!("berth-test-net-{}", std::process::id());
    let gateway = rt.ensure_network(&name, None, None).await.unwrap();
    assert!(gateway.is_some(), "a bridge network has a gateway");
    assert_eq!(
        rt.ensure_network(&name, None, None).await.unwrap(),
        gateway,
        "found again, not created twice"
    );
    let e = rt
        .ensure_network(&name, None, Some("elsewhere0"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("BERTH_TASK_BRIDGE asks for elsewhere0"), "{e}");
    let e = rt
        .ensure_network(&name, Some("10.254.254.0/24"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("BERTH_TASK_SUBNET"), "{e}");
    let host = std::env::var("BERTH_TEST_DOCKER_HOST").unwrap();
    let engine = bollard::Docker::connect_with_unix(
        host.trim_start_matches("unix://"),
        120,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap();
    engine.remove_network(&name).await.unwrap();
}

#[tokio::test]
async fn a_containers_output_reads_back_whole_once_it_has_exited() {
    use futures::StreamExt;
    let rt = docker();
    rt.pull(&image(), None).await.unwrap();
    let task = format!(
        "arn:aws:ecs:us-east-1:000000000000:task/t/{}",
        uuid::Uuid::new_v4().simple()
    );
    // One pipe only: Docker stamps stdout and stderr lines as each pipe delivers them,
    // so lines of the two are not ordered against each other.
    let mut s = spec(&task, &["sh", "-c", "seq 1 20000; echo done"]);
    s.log_driver = Some(("json-file".into(), Default::default()));
    let id = rt.create(&s).await.unwrap();
    rt.start(&id).await.unwrap();
    // Follow while it writes: the stream ends when the container does.
    let followed: Vec<String> = rt
        .logs(&id, 0, true)
        .await
        .unwrap()
        .map(|l| l.unwrap().message)
        .collect()
        .await;
    assert_eq!(wait_exited(&rt, &id).await, 0);
    let mut want: Vec<String> = (1..=20_000).map(|i| i.to_string()).collect();
    want.push("done".into());
    let first_difference = |got: &[String]| {
        let at = got.iter().zip(&want).position(|(a, b)| a != b);
        if let Some(i) = at {
            eprintln!("line {i}: got {:?}, want {:?}", got[i], want[i]);
        }
        at
    };
    // Docker 20.10 may end a follow stream early when a fast writer exits: what it gives
    // is a prefix, in order; the read without following (after the exit) is whole.
    assert!(!followed.is_empty() && want.starts_with(&followed));
    let read: Vec<_> = rt
        .logs(&id, 0, false)
        .await
        .unwrap()
        .map(|l| l.unwrap())
        .collect()
        .await;
    let messages: Vec<String> = read.iter().map(|l| l.message.clone()).collect();
    assert_eq!(
        (messages.len(), first_difference(&messages)),
        (want.len(), None)
    );
    assert!(read
        .windows(2)
        .all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
    rt.remove(&id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_ships_an_awslogs_tasks_whole_output() {
    let c = TestCluster::start().await;
    c.client.ok("CreateCluster", json!({})).await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "chatty", "containerDefinitions": [
            {"name": "main", "image": image(), "memory": 64, "command": ["seq", "1", "100000"],
             "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/test/chatty", "awslogs-stream-prefix": "ecs",
                "awslogs-create-group": "true"}}}]}),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent-state.json");
    let agent = Agent::start(agent_options(&c, Some(state)), Arc::new(docker()))
        .await
        .unwrap();
    let run = c
        .client
        .ok("RunTask", json!({"taskDefinition": "chatty"}))
        .await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_for(&c.client, &arn, "STOPPED").await;
    let app = c.server.as_ref().unwrap().app();
    let scope = app.core.home_scope();
    let stream_name = format!("ecs/main/{}", arn.rsplit('/').next().unwrap());
    let mut next = 0;
    for _ in 0..100 {
        if let Ok(stream) = app
            .front
            .logs
            .catalog
            .stream(&scope, "/test/chatty", &stream_name)
            .await
        {
            next = app
                .front
                .logs
                .events
                .summary(&stream.storage_id)
                .await
                .unwrap()
                .map_or(0, |s| s.next_seq);
            if next == 100_001 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(next, 100_001);
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test]
async fn output_of_the_local_driver_is_read_from_its_files_across_rotations() {
    use futures::StreamExt;
    let rt = docker();
    rt.pull(&image(), None).await.unwrap();
    let task = format!(
        "arn:aws:ecs:us-east-1:000000000000:task/t/{}",
        uuid::Uuid::new_v4().simple()
    );
    // About 1.5 MB of entries in files of 100 kB: a dozen rotations, all kept.
    let mut s = spec(&task, &["sh", "-c", "seq 1 40000; echo done"]);
    s.log_driver = Some((
        "local".into(),
        [
            ("max-size", "100k"),
            ("max-file", "40"),
            ("compress", "false"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into(),
    ));
    let id = rt.create(&s).await.unwrap();
    let dir = rt
        .local_log_dir(&id)
        .await
        .expect("the agent reads the driver's files of its own engine");
    rt.start(&id).await.unwrap();
    let mut want: Vec<String> = (1..=40_000).map(|i| i.to_string()).collect();
    want.push("done".into());
    // Following while it writes and rotates: every line once, in order.
    let mut followed = rt.logs(&id, 0, true).await.unwrap();
    let mut got = Vec::new();
    while got.len() < want.len() {
        let line = tokio::time::timeout(Duration::from_secs(20), followed.next())
            .await
            .expect("the followed output keeps coming")
            .expect("a following stream does not end while read")
            .unwrap();
        got.push(line.message);
    }
    assert_eq!(got.iter().position(|l| l == "done"), Some(40_000));
    assert!(got == want);
    assert_eq!(wait_exited(&rt, &id).await, 0);
    assert!(
        dir.join("container.log.1").exists(),
        "the output was rotated"
    );
    // Read again without following: the same lines, then the end.
    let read: Vec<_> = rt
        .logs(&id, 0, false)
        .await
        .unwrap()
        .map(|l| l.unwrap())
        .collect()
        .await;
    assert!(read.iter().map(|l| &l.message).eq(want.iter()));
    assert!(read
        .windows(2)
        .all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
    rt.remove(&id).await.unwrap();
}
