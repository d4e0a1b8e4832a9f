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
            endpoint_address: Some([127, 0, 0, 1].into()),
            endpoint_port: 0,
            ..Default::default()
        },
        ec2: true,
        fargate: false,
        cpu: 4096,
        memory_mib: 8192,
        gpu_ids: vec![],
        docker_version: None,
        state_file,
        poll_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(10),
        ca_pem: None,
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
async fn a_setting_the_agent_cannot_honour_is_refused_at_placement_by_name() {
    let (c, runtime) = setup().await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "secretive", "containerDefinitions": [{"name": "app",
                "image": "app", "memory": 64, "logConfiguration": {"logDriver": "json-file",
                "secretOptions": [{"name": "PW",
                "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/pw"}]}}]}),
        )
        .await;
    let agent = Agent::start(options(&c, None), runtime.clone())
        .await
        .unwrap();
    let r = c
        .client
        .ok("RunTask", json!({"taskDefinition": "secretive"}))
        .await;
    assert_eq!(r["tasks"], json!([]), "{r}");
    assert_eq!(r["failures"][0]["reason"], "ATTRIBUTE", "{r}");
    assert!(
        r["failures"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("ecs.capability.secrets.ssm.bootstrap.log-driver"),
        "{r}"
    );
    assert!(
        !runtime.calls().iter().any(|c| c.starts_with("create")),
        "nothing ran: {:?}",
        runtime.calls()
    );
    agent.stop().await;
    c.shutdown().await;
}

/// A container's `secrets` reach its environment only when its execution role may read
/// them: the values are asked for just before the container is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_the_environment_with_the_execution_roles_permission() {
    let (c, runtime) = setup().await;
    c.client
        .ssm(
            "PutParameter",
            json!({"Name": "/app/pw", "Type": "SecureString", "Value": "hunter2"}),
        )
        .await
        .unwrap();
    let role = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole";
    let def = |family: &str| {
        json!({"family": family, "executionRoleArn": role,
            "containerDefinitions": [{"name": "app", "image": "app", "memory": 64,
            "environment": [{"name": "PW", "value": "from-definition"}],
            "secrets": [{"name": "PW", "valueFrom": "/app/pw"}]}]})
    };
    c.client
        .ok("RegisterTaskDefinition", def("secretive"))
        .await;
    let agent = Agent::start(options(&c, None), runtime.clone())
        .await
        .unwrap();
    // AWS's managed execution policy reads no parameters: refused.
    let r = c
        .client
        .ok("RunTask", json!({"taskDefinition": "secretive"}))
        .await;
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let t = wait_for(&c.client, &arn, "STOPPED").await;
    let reason = t["stoppedReason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth:")
            && reason.contains("ssm:GetParameters"),
        "{t}"
    );
    assert!(runtime.ids_of_task(&arn).is_empty(), "nothing was created");

    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "ssm:GetParameters", "Resource": "*"}]})
    .to_string();
    let (status, body) = c
        .client
        .query(
            "iam",
            &[
                ("Action", "PutRolePolicy"),
                ("Version", "2010-05-08"),
                ("RoleName", "ecsTaskExecutionRole"),
                ("PolicyName", "read-parameters"),
                ("PolicyDocument", &policy),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = c
        .client
        .ok("RunTask", json!({"taskDefinition": "secretive"}))
        .await;
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let t = wait_for(&c.client, &arn, "RUNNING").await;
    let ids = runtime.ids_of_task(&arn);
    assert_eq!(ids.len(), 1, "{t}");
    let pw: Vec<String> = runtime
        .environment(&ids[0])
        .into_iter()
        .filter(|(k, _)| k == "PW")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        pw,
        ["hunter2"],
        "the secret replaces the definition's value"
    );
    let described = c.client.ok("DescribeTasks", json!({"tasks": [arn]})).await;
    assert!(!described.to_string().contains("hunter2"), "{described}");
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

/// The value of `key` in a fake container's environment.
fn env_of(runtime: &FakeRuntime, container: &str, key: &str) -> String {
    runtime
        .environment(container)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{container} has no {key}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_reads_its_own_metadata_and_role_credentials_and_nobody_elses() {
    let (c, runtime) = setup().await;
    // The task role: trusted by ECS tasks, allowed to list clusters and nothing else.
    for pairs in [
        vec![
            ("Action", "CreateRole"),
            ("RoleName", "app"),
            (
                "AssumeRolePolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            ),
        ],
        vec![
            ("Action", "PutRolePolicy"),
            ("RoleName", "app"),
            ("PolicyName", "list"),
            (
                "PolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:ListClusters","Resource":"*"}]}"#,
            ),
        ],
    ] {
        let (status, xml) = c.client.query("iam", &pairs).await;
        assert_eq!(status, 200, "{xml}");
    }
    for (family, role) in [("with-role", true), ("without-role", false)] {
        let mut def = json!({"family": family, "containerDefinitions": [
            {"name": "web", "image": "busybox", "memory": 64, "cpu": 128}]});
        if role {
            def["taskRoleArn"] = json!("arn:aws:iam::000000000000:role/app");
        }
        c.client.ok("RegisterTaskDefinition", def).await;
    }
    let agent = Agent::start(options(&c, None), runtime.clone())
        .await
        .unwrap();
    let base = agent.endpoint_url.clone().expect("the endpoint listens");
    let mut arns = vec![];
    for family in ["with-role", "without-role"] {
        let r = c
            .client
            .ok("RunTask", json!({"taskDefinition": family}))
            .await;
        let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        wait_for(&c.client, &arn, "RUNNING").await;
        arns.push(arn);
    }
    let ids = runtime.ids_of_task(&arns[0]);
    let uri = env_of(&runtime, &ids[0], "ECS_CONTAINER_METADATA_URI_V4");
    assert!(uri.starts_with(&format!("{base}/v4/")), "{uri}");
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, me) = get(uri.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(me["Name"], "web");
    assert_eq!(me["DockerId"], ids[0].as_str());
    assert_eq!(me["Limits"]["CPU"], 128);
    assert_eq!(me["Labels"]["com.amazonaws.ecs.task-arn"], arns[0].as_str());
    assert!(
        me["Labels"].get("berth.endpoint-token").is_none(),
        "the token is not shown: {me}"
    );
    let (_, task) = get(format!("{uri}/task")).await;
    assert_eq!(task["TaskARN"], arns[0].as_str());
    assert_eq!(task["Family"], "with-role");
    assert_eq!(task["Revision"], "1");
    assert_eq!(task["Cluster"], "default");
    assert_eq!(task["LaunchType"], "EC2");
    assert!(task["PullStartedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(task["Containers"].as_array().unwrap().len(), 1);
    let (status, stats) = get(format!("{uri}/task/stats")).await;
    assert_eq!(status, 200);
    assert!(stats.get(&ids[0]).is_some(), "{stats}");
    let (status, _) = get(format!("{base}/v4/not-a-token/task")).await;
    assert_eq!(status, 404, "an unknown token reads nothing");

    // Credentials: the token is the key; the keys work against Berth's own API.
    let full = env_of(&runtime, &ids[0], "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    let token = env_of(&runtime, &ids[0], "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    let r = http
        .get(&full)
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let creds: Value = r.json().await.unwrap();
    assert_eq!(creds["RoleArn"], "arn:aws:iam::000000000000:role/app");
    let key = creds["AccessKeyId"].as_str().unwrap();
    assert!(key.starts_with("ASIA"), "{creds}");
    let as_task = c.client.with_session(
        key,
        creds["SecretAccessKey"].as_str().unwrap(),
        creds["Token"].as_str().unwrap(),
    );
    let clusters = as_task.ok("ListClusters", json!({})).await;
    assert!(clusters["clusterArns"].as_array().unwrap().len() == 1);
    // A session of the role: what the role does not allow is refused.
    let refused = as_task
        .call("CreateCluster", json!({"clusterName": "by-the-task"}))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, "AccessDeniedException", "{refused:?}");
    let wrong_token = c.client.with_session(
        key,
        creds["SecretAccessKey"].as_str().unwrap(),
        "not-the-token",
    );
    assert!(wrong_token.call("ListClusters", json!({})).await.is_err());

    // The task without a role gets no credentials variables and no credentials.
    let other = runtime.ids_of_task(&arns[1]);
    assert!(!runtime
        .environment(&other[0])
        .iter()
        .any(|(k, _)| k == "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    let other_uri = env_of(&runtime, &other[0], "ECS_CONTAINER_METADATA_URI_V4");
    let other_token = other_uri.rsplit('/').next().unwrap();
    let r = http
        .get(&full)
        .header("Authorization", other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(&full)
        .header("Authorization", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_of_the_control_planes_registry_are_pulled_with_the_agents_own_login() {
    let (c, runtime) = setup().await;
    let app = c.server.as_ref().unwrap().app().clone();
    let ours = format!("{}/team/app:v1", app.front.ecr.host);
    let def = json!({"family": "ours", "containerDefinitions": [
        {"name": "app", "image": ours, "memory": 64},
        {"name": "side", "image": "busybox", "memory": 64, "essential": false}]});
    c.client.ok("RegisterTaskDefinition", def).await;
    let agent = Agent::start(options(&c, None), runtime.clone())
        .await
        .unwrap();
    let r = c
        .client
        .ok("RunTask", json!({"taskDefinition": "ours"}))
        .await;
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_for(&c.client, &arn, "RUNNING").await;
    let pulls = runtime.pulls();
    let (_, auth) = pulls
        .iter()
        .find(|(image, _)| *image == ours)
        .expect("the app image was pulled");
    let auth = auth.as_ref().expect("pulled with a login");
    assert_eq!(auth.server, app.front.ecr.host);
    assert_eq!(auth.username, "AWS");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let scope = app
        .front
        .ecr
        .key
        .verify(&auth.password, now)
        .expect("the registry accepts the agent's login");
    assert_eq!(scope.account, app.identity.account_id);
    let (_, other) = pulls
        .iter()
        .find(|(image, _)| image == "busybox")
        .expect("the sidecar image was pulled");
    assert_eq!(other, &None, "other registries get no Berth login");
    agent.stop().await;
}

/// Every event of a log stream, oldest first, as the control plane stores them.
async fn stream_messages(c: &TestCluster, group: &str, stream: &str) -> Vec<String> {
    let app = c.server.as_ref().unwrap().app();
    let scope = app.core.home_scope();
    let logs = &app.front.logs;
    let Ok(record) = logs.catalog.stream(&scope, group, stream).await else {
        return Vec::new();
    };
    let query = berth_logs::ReadQuery {
        start_time: None,
        end_time: None,
        from: berth_logs::Cursor::Oldest,
        limit: 100_000,
    };
    let page = logs.events.read(&record.storage_id, query).await.unwrap();
    page.events.into_iter().map(|e| e.message).collect()
}

async fn wait_for_messages(c: &TestCluster, group: &str, stream: &str, want: &[String]) {
    for _ in 0..200 {
        if stream_messages(c, group, stream).await.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = stream_messages(c, group, stream).await;
    let first_difference = got.iter().zip(want).position(|(a, b)| a != b);
    assert_eq!(
        (got.len(), first_difference),
        (want.len(), None),
        "at the difference: {:?}",
        first_difference.map(|i| &got[i.saturating_sub(2)..(i + 3).min(got.len())])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslogs_output_reaches_its_stream_once_across_an_agent_restart() {
    let (c, runtime) = setup().await;
    let def = json!({"family": "chatty", "containerDefinitions": [{"name": "app",
        "image": "app", "memory": 64, "logConfiguration": {"logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/chatty", "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}}}]});
    c.client.ok("RegisterTaskDefinition", def).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent-state.json");
    let first = Agent::start(options(&c, Some(state.clone())), runtime.clone())
        .await
        .unwrap();
    let r = c
        .client
        .ok("RunTask", json!({"taskDefinition": "chatty"}))
        .await;
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_for(&c.client, &arn, "RUNNING").await;
    let id = runtime.ids_of_task(&arn)[0].clone();
    let stream = format!("ecs/app/{}", arn.rsplit('/').next().unwrap());
    let lines = |range: std::ops::Range<usize>| -> Vec<String> {
        range.map(|i| format!("line {i}")).collect()
    };
    let write = |range: std::ops::Range<usize>| {
        let owned = lines(range);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        runtime.write(&id, &refs);
    };
    write(0..50);
    wait_for_messages(&c, "/ecs/chatty", &stream, &lines(0..50)).await;

    // Output written while the agent is away is shipped once it is back, and nothing
    // already shipped is sent again.
    first.stop().await;
    write(50..120);
    let second = Agent::start(options(&c, Some(state)), runtime.clone())
        .await
        .unwrap();
    wait_for_messages(&c, "/ecs/chatty", &stream, &lines(0..120)).await;

    // The last lines of a container that ends are shipped too.
    write(120..130);
    runtime.kill(&id, 0);
    wait_for(&c.client, &arn, "STOPPED").await;
    wait_for_messages(&c, "/ecs/chatty", &stream, &lines(0..130)).await;
    second.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_tasks_cpu_and_memory_reach_their_performance_stream() {
    let (c, runtime) = setup().await;
    let mut opts = options(&c, None);
    opts.config.metrics_interval = Some(Duration::from_millis(300));
    let agent = Agent::start(opts, runtime.clone()).await.unwrap();
    let arn = run_one(
        &c.client,
        json!([{"name": "BERTH_FAKE_CPU_CORES", "value": "0.5"},
               {"name": "BERTH_FAKE_MEMORY_MIB", "value": "24"}]),
    )
    .await;
    wait_for(&c.client, &arn, "RUNNING").await;
    let id = arn.rsplit('/').next().unwrap();
    let (group, stream) = (
        "/aws/ecs/containerinsights/default/performance",
        format!("TaskTelemetry-{id}"),
    );
    let mut events = Vec::new();
    for _ in 0..100 {
        events = stream_messages(&c, group, &stream).await;
        if events.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(events.len() >= 3, "{events:?}");
    let samples: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    for s in &samples {
        assert_eq!(s["Type"], "Task");
        assert_eq!(s["TaskId"], id);
        assert_eq!(s["MemoryUtilized"], 24.0);
        assert_eq!(s["MemoryReserved"], 64.0);
        // Half a core is 512 units; the sampler's clock and the fake's differ by the
        // scheduling of one tick.
        let cpu = s["CpuUtilized"].as_f64().unwrap();
        assert!((400.0..=650.0).contains(&cpu), "{s}");
    }
    let group_retention = c
        .client
        .logs(
            "DescribeLogGroups",
            json!({"logGroupNamePrefix": "/aws/ecs/containerinsights/"}),
        )
        .await
        .unwrap();
    assert_eq!(group_retention["logGroups"][0]["retentionInDays"], 1);
    agent.stop().await;
}
