//! In-process integration tests: the real control plane on the embedded store, driven
//! by the testkit's signed client and fake agents through the real agent channel.

use std::time::Duration;

use berth_api::ecs::Timestamp;
use berth_testkit::fixtures::{awsvpc, ec2_task_definition, task_definition};
use berth_testkit::{EcsClient, FakeAgentConfig, TestCluster};
use serde_json::{json, Value};

async fn wait_for_status(
    client: &EcsClient,
    cluster: &str,
    arns: &[String],
    status: &str,
) -> Vec<Value> {
    for _ in 0..200 {
        let d = client
            .ok("DescribeTasks", json!({"cluster": cluster, "tasks": arns}))
            .await;
        let tasks = d["tasks"].as_array().unwrap().clone();
        if tasks.len() == arns.len() && tasks.iter().all(|t| t["lastStatus"] == status) {
            return tasks;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tasks {arns:?} never reached {status}");
}

fn arns(run: &Value) -> Vec<String> {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fargate_task_runs_and_stops_through_the_agent_channel() {
    let c = TestCluster::start().await;
    let agent = c.agent(FakeAgentConfig::fargate()).await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "prod"}))
        .await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("web"))
        .await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "prod", "taskDefinition": "web", "launchType": "FARGATE", "count": 2,
                   "networkConfiguration": awsvpc(), "startedBy": "test",
                   "overrides": {"containerOverrides": [{"name": "web",
                       "environment": [{"name": "MODE", "value": "WORKER"}]}]}}),
        )
        .await;
    let arns = arns(&run);
    assert_eq!(arns.len(), 2, "{run}");
    assert_eq!(run["tasks"][0]["lastStatus"], "PROVISIONING");
    assert!(
        run["tasks"][0]["containerInstanceArn"].is_null(),
        "Fargate tasks show no instance"
    );
    let running = wait_for_status(&c.client, "prod", &arns, "RUNNING").await;
    for t in &running {
        let ip = &t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"];
        assert!(ip.is_string(), "awsvpc task reports its IP: {t}");
        assert_eq!(t["attachments"][0]["status"], "ATTACHED");
        assert!(t["startedAt"].is_number());
        assert_eq!(
            t["overrides"]["containerOverrides"][0]["environment"][0]["value"],
            "WORKER"
        );
    }
    let stop = c
        .client
        .ok(
            "StopTask",
            json!({"cluster": "prod", "task": arns[0], "reason": "done here"}),
        )
        .await;
    assert_eq!(stop["task"]["desiredStatus"], "STOPPED");
    let stopped = wait_for_status(&c.client, "prod", &arns[..1], "STOPPED").await;
    assert_eq!(stopped[0]["stopCode"], "UserInitiated");
    assert_eq!(stopped[0]["stoppedReason"], "done here");
    assert!(stopped[0]["stoppedAt"].is_number());
    let listed = c.client.ok("ListTasks", json!({"cluster": "prod"})).await;
    assert_eq!(listed["taskArns"], json!([arns[1]]));
    let listed = c
        .client
        .ok(
            "ListTasks",
            json!({"cluster": "prod", "desiredStatus": "STOPPED"}),
        )
        .await;
    assert_eq!(listed["taskArns"], json!([arns[0]]));
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn essential_exit_and_failed_start_are_reported_with_codes() {
    let c = TestCluster::start().await;
    let agent = c.agent(FakeAgentConfig::fargate()).await;
    c.client.ok("CreateCluster", json!({})).await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("job"))
        .await;
    let env = |pairs: &[(&str, &str)]| {
        json!({"containerOverrides": [{"name": "web", "environment":
            pairs.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>()}]})
    };
    let exits = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "job", "launchType": "FARGATE",
            "networkConfiguration": awsvpc(),
            "overrides": env(&[("BERTH_FAKE_RUN_FOR_MS", "100"), ("BERTH_FAKE_EXIT_CODE", "3")])}),
        )
        .await;
    let t = wait_for_status(&c.client, "default", &arns(&exits), "STOPPED").await;
    assert_eq!(t[0]["stopCode"], "EssentialContainerExited");
    assert_eq!(t[0]["containers"][0]["exitCode"], 3);
    let fails = c
        .client
        .ok("RunTask", json!({"taskDefinition": "job", "launchType": "FARGATE",
            "networkConfiguration": awsvpc(),
            "overrides": env(&[("BERTH_FAKE_START_ERROR", "CannotPullContainerError: no such image")])}))
.await;
    let t = wait_for_status(&c.client, "default", &arns(&fails), "STOPPED").await;
    assert_eq!(t[0]["stopCode"], "TaskFailedToStart");
    assert!(t[0]["stoppedReason"]
        .as_str()
        .unwrap()
        .starts_with("CannotPullContainerError"));
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_run_tasks_never_overcommit_an_instance() {
    let c = TestCluster::start().await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "tight"}))
        .await;
    // 2048 CPU units and 2048 MiB: room for exactly 8 tasks of 256 units / 128 MiB by CPU.
    let agent = c.agent(FakeAgentConfig::ec2("tight")).await;
    let mut def = ec2_task_definition("svc", 0);
    def["containerDefinitions"][0]["portMappings"] = json!([]);
    c.client.ok("RegisterTaskDefinition", def).await;
    let mut calls = Vec::new();
    for _ in 0..6 {
        let client = c.client.clone();
        calls.push(tokio::spawn(async move {
            client
                .ok(
                    "RunTask",
                    json!({"cluster": "tight", "taskDefinition": "svc", "count": 3}),
                )
                .await
        }));
    }
    let mut placed = 0;
    let mut cpu_failures = 0;
    for call in calls {
        let r = call.await.unwrap();
        placed += r["tasks"].as_array().unwrap().len();
        cpu_failures += r["failures"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["reason"] == "RESOURCE:CPU")
            .count();
    }
    assert_eq!(placed, 8, "18 tasks asked for, room for 8");
    assert!(cpu_failures > 0, "the rest fail with RESOURCE:CPU");
    let d = c
        .client
        .ok(
            "DescribeContainerInstances",
            json!({"cluster": "tight",
            "containerInstances": [agent.container_instance_arn]}),
        )
        .await;
    let remaining = &d["containerInstances"][0]["remainingResources"];
    let cpu = remaining
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "CPU")
        .unwrap();
    assert_eq!(cpu["integerValue"], 0);
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_tasks_gives_their_resources_and_ports_back() {
    let c = TestCluster::start().await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "ports"}))
        .await;
    let agent = c.agent(FakeAgentConfig::ec2("ports")).await;
    c.client
        .ok("RegisterTaskDefinition", ec2_task_definition("web", 8080))
        .await;
    let first = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "ports", "taskDefinition": "web"}),
        )
        .await;
    let first = arns(&first);
    assert_eq!(first.len(), 1);
    let second = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "ports", "taskDefinition": "web"}),
        )
        .await;
    assert_eq!(
        second["failures"][0]["reason"], "RESOURCE:PORTS",
        "{second}"
    );
    wait_for_status(&c.client, "ports", &first, "RUNNING").await;
    c.client
        .ok("StopTask", json!({"cluster": "ports", "task": first[0]}))
        .await;
    wait_for_status(&c.client, "ports", &first, "STOPPED").await;
    let third = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "ports", "taskDefinition": "web"}),
        )
        .await;
    assert_eq!(arns(&third).len(), 1, "port 8080 is free again: {third}");
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_restart() {
    let mut c = TestCluster::start().await;
    let agent = c.agent(FakeAgentConfig::fargate()).await;
    c.client
        .ok(
            "CreateCluster",
            json!({"clusterName": "keep", "tags": [{"key": "k", "value": "v"}]}),
        )
        .await;
    for _ in 0..3 {
        c.client
            .ok("RegisterTaskDefinition", task_definition("keep"))
            .await;
    }
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "keep", "taskDefinition": "keep:2", "launchType": "FARGATE",
                                "networkConfiguration": awsvpc()}),
        )
        .await;
    let arns = arns(&run);
    agent.stop().await;
    c.restart().await;
    let d = c
        .client
        .ok(
            "DescribeClusters",
            json!({"clusters": ["keep"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(
        d["clusters"][0]["tags"],
        json!([{"key": "k", "value": "v"}])
    );
    let td = c
        .client
        .ok("DescribeTaskDefinition", json!({"taskDefinition": "keep"}))
        .await;
    assert_eq!(td["taskDefinition"]["revision"], 3);
    let t = c
        .client
        .ok("DescribeTasks", json!({"cluster": "keep", "tasks": arns}))
        .await;
    assert_eq!(t["tasks"].as_array().unwrap().len(), 1);
    assert!(t["tasks"][0]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .ends_with("keep:2"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_channel_refuses_a_wrong_token_and_foreign_reports() {
    let c = TestCluster::start().await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/agent/v1/heartbeat", c.endpoint()))
        .bearer_auth("wrong")
        .json(&json!({"containerInstanceArn": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let a = c.agent(FakeAgentConfig::fargate()).await;
    let b = c.agent(FakeAgentConfig::ec2("default")).await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("own"))
        .await;
    let run = c
        .client
        .ok("RunTask", json!({"taskDefinition": "own", "launchType": "FARGATE", "networkConfiguration": awsvpc()}))
.await;
    let task = arns(&run).remove(0);
    let r = http
        .post(format!(
            "{}/agent/v1/task-state?containerInstanceArn={}",
            c.endpoint(),
            b.container_instance_arn
                .replace(':', "%3A")
                .replace('/', "%2F")
        ))
        .bearer_auth(c.agent_token())
        .json(&json!({"taskArn": task, "status": "STOPPED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        400,
        "an agent may not report another agent's task"
    );
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_tasks_stay_describable_for_an_hour_then_are_purged() {
    let c = TestCluster::start().await;
    let agent = c.agent(FakeAgentConfig::fargate()).await;
    c.client.ok("CreateCluster", json!({})).await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("brief"))
        .await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "brief", "launchType": "FARGATE",
                              "networkConfiguration": awsvpc()}),
        )
        .await;
    let arns = arns(&run);
    wait_for_status(&c.client, "default", &arns, "RUNNING").await;
    c.client.ok("StopTask", json!({"task": arns[0]})).await;
    wait_for_status(&c.client, "default", &arns, "STOPPED").await;
    let app = c.server.as_ref().unwrap().app().clone();
    let later = |secs: f64| {
        Timestamp::try_from_secs_f64(app.core.clock.now().as_secs_f64() + secs).unwrap()
    };
    let purged = berth_server::janitor::pass(&app.core, later(3500.0))
        .await
        .unwrap();
    assert_eq!(purged, 0, "kept within the hour");
    wait_for_status(&c.client, "default", &arns, "STOPPED").await;
    let purged = berth_server::janitor::pass(&app.core, later(3700.0))
        .await
        .unwrap();
    assert_eq!(purged, 1, "purged after the hour");
    let d = c.client.ok("DescribeTasks", json!({"tasks": arns})).await;
    assert_eq!(d["failures"][0]["reason"], "MISSING", "{d}");
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cluster_racing_run_task_never_strands_a_task() {
    let c = TestCluster::start().await;
    let agent = c.agent(FakeAgentConfig::fargate()).await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("race"))
        .await;
    let (mut deletes_won, mut runs_won) = (0, 0);
    for round in 0..12 {
        let name = format!("race-{round}");
        c.client
            .ok("CreateCluster", json!({"clusterName": name}))
            .await;
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let (client, name) = (c.client.clone(), name.clone());
                tokio::spawn(async move {
                    client
                        .call(
                            "RunTask",
                            json!({"cluster": name, "taskDefinition": "race",
                            "launchType": "FARGATE", "networkConfiguration": awsvpc()}),
                        )
                        .await
                })
            })
            .collect();
        let deleted = c
            .client
            .call("DeleteCluster", json!({"cluster": name}))
            .await;
        let mut placed = 0;
        for run in runs {
            match run.await.unwrap() {
                Ok(r) => placed += r["tasks"].as_array().unwrap().len(),
                Err(e) => assert_eq!(e.kind, "ClusterNotFoundException", "{e:?}"),
            }
        }
        match deleted {
            Ok(_) => {
                assert_eq!(
                    placed, 0,
                    "round {round}: a deleted cluster holds placed tasks"
                );
                deletes_won += 1;
            }
            Err(e) => {
                assert_eq!(e.kind, "ClusterContainsTasksException", "{e:?}");
                assert!(
                    placed > 0,
                    "round {round}: delete refused with no task placed"
                );
                runs_won += 1;
            }
        }
    }
    assert_eq!(deletes_won + runs_won, 12);
    agent.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_honours_placement_constraints_and_strategies() {
    let c = TestCluster::start().await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "placed"}))
        .await;
    let with_stack = |stack: &str| {
        let mut config = FakeAgentConfig::ec2("placed");
        config.attributes.push(("stack".into(), Some(stack.into())));
        config
    };
    let prod = c.agent(with_stack("prod")).await;
    let test = c.agent(with_stack("test")).await;
    let mut def = ec2_task_definition("placed", 0);
    def["containerDefinitions"][0]["portMappings"] = json!([]);
    c.client.ok("RegisterTaskDefinition", def).await;

    let r = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "placed", "taskDefinition": "placed", "count": 3,
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack == prod"}],
            "placementStrategy": [{"type": "binpack", "field": "memory"}]}),
        )
        .await;
    let on: Vec<&str> = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["containerInstanceArn"].as_str().unwrap())
        .collect();
    assert_eq!(on, vec![prod.container_instance_arn.as_str(); 3], "{r}");

    let r = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "placed", "taskDefinition": "placed", "count": 3,
            "group": "spread-out",
            "placementConstraints": [{"type": "distinctInstance"}],
            "placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
        )
        .await;
    assert_eq!(
        r["tasks"].as_array().unwrap().len(),
        2,
        "two instances, distinct: {r}"
    );
    let reasons: Vec<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"DistinctInstance placement constraint unsatisfied."),
        "{reasons:?}"
    );

    let e = c
        .client
        .err("RunTask", json!({"cluster": "placed", "taskDefinition": "placed",
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack = prod"}]}))
        .await;
    assert_eq!(e.kind, "InvalidParameterException");
    assert!(e.message.contains("column"), "{}", e.message);
    prod.stop().await;
    test.stop().await;
    c.shutdown().await;
}

/// A definition needing what no Berth agent offers (secrets, today) is refused at
/// placement with the capability named, in RunTask's failure and in the service's event;
/// the same definition without it places on the same agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_capability_is_named_in_run_task_and_service_events() {
    let c = TestCluster::start().await;
    let agent = c.agent(FakeAgentConfig::fargate()).await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "default"}))
        .await;
    let mut needs_secrets = task_definition("secretive");
    // Log driver secrets (`secretOptions`) are a capability no Berth agent offers.
    needs_secrets["containerDefinitions"][0]["logConfiguration"] = json!({
        "logDriver": "json-file",
        "secretOptions": [{"name": "TOKEN",
            "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"}]});
    c.client.ok("RegisterTaskDefinition", needs_secrets).await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "secretive", "launchType": "FARGATE",
                   "networkConfiguration": awsvpc()}),
        )
        .await;
    assert_eq!(run["tasks"], json!([]), "{run}");
    assert_eq!(run["failures"][0]["reason"], "ATTRIBUTE", "{run}");
    let detail = run["failures"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("ecs.capability.secrets.asm.bootstrap.log-driver")
            && detail.contains("Secrets Manager"),
        "{run}"
    );

    c.client
        .ok(
            "CreateService",
            json!({"serviceName": "secretive", "taskDefinition": "secretive",
                   "desiredCount": 1, "launchType": "FARGATE",
                   "networkConfiguration": awsvpc()}),
        )
        .await;
    let mut event = String::new();
    for _ in 0..200 {
        let d = c
            .client
            .ok("DescribeServices", json!({"services": ["secretive"]}))
            .await;
        if let Some(m) = d["services"][0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["message"].as_str())
            .find(|m| m.contains("unable to place"))
        {
            event = m.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        event.contains("ATTRIBUTE")
            && event.contains("ecs.capability.secrets.asm.bootstrap.log-driver"),
        "service event: {event:?}"
    );

    c.client
        .ok("RegisterTaskDefinition", task_definition("plain"))
        .await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"taskDefinition": "plain", "launchType": "FARGATE",
                   "networkConfiguration": awsvpc()}),
        )
        .await;
    assert_eq!(run["failures"], json!([]), "{run}");
    agent.stop().await;
    c.shutdown().await;
}

/// Polls DescribeTasks every 100 ms for up to `secs` until `done` holds for them all.
async fn wait_for_tasks(
    client: &EcsClient,
    cluster: &str,
    arns: &[String],
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let d = client
            .ok("DescribeTasks", json!({"cluster": cluster, "tasks": arns}))
            .await;
        let tasks = d["tasks"].as_array().unwrap().clone();
        if tasks.len() == arns.len() && tasks.iter().all(&done) {
            return tasks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tasks never got there: {tasks:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ARNs of a cluster's tasks that are meant to run.
async fn running_tasks(client: &EcsClient, cluster: &str) -> Vec<Value> {
    let list = client
        .ok(
            "ListTasks",
            json!({"cluster": cluster, "desiredStatus": "RUNNING"}),
        )
        .await;
    let arns: Vec<String> = list["taskArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    if arns.is_empty() {
        return vec![];
    }
    client
        .ok("DescribeTasks", json!({"cluster": cluster, "tasks": arns}))
        .await["tasks"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_hosts_tasks_stop_and_its_service_runs_again_on_a_connected_host() {
    let c = TestCluster::start().await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "prod"}))
        .await;
    let lost = c.agent(FakeAgentConfig::ec2("prod")).await;
    c.client
        .ok("RegisterTaskDefinition", ec2_task_definition("web", 0))
        .await;
    c.client
        .ok(
            "CreateService",
            json!({"cluster": "prod", "serviceName": "web", "taskDefinition": "web",
                   "desiredCount": 2, "launchType": "EC2"}),
        )
        .await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "prod", "taskDefinition": "web", "launchType": "EC2"}),
        )
        .await;
    let one_off = arns(&run);
    wait_for_tasks(&c.client, "prod", &one_off, 10, |t| {
        t["lastStatus"] == "RUNNING"
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let before = loop {
        let tasks = running_tasks(&c.client, "prod").await;
        if tasks.len() == 3 && tasks.iter().all(|t| t["lastStatus"] == "RUNNING") {
            break tasks;
        }
        assert!(tokio::time::Instant::now() < deadline, "{tasks:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let on_lost: Vec<String> = before
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect();
    assert!(before
        .iter()
        .all(|t| t["containerInstanceArn"] == lost.container_instance_arn.as_str()));

    // A second host joins; the first goes silent (its containers, if any, would run on).
    let kept = c.agent(FakeAgentConfig::ec2("prod")).await;
    let lost_arn = lost.container_instance_arn.clone();
    let cut = tokio::time::Instant::now();
    lost.stop().await;

    let stopped = wait_for_tasks(&c.client, "prod", &on_lost, 20, |t| {
        t["lastStatus"] == "STOPPED"
    })
    .await;
    let took = cut.elapsed();
    // 10 s after the last heartbeat, which came up to 2 s before the cut.
    assert!(
        took >= Duration::from_millis(7500),
        "not lost before the timeout: {took:?}"
    );
    for t in &stopped {
        assert_eq!(t["stopCode"], "TerminationNotice", "{t}");
        let reason = t["stoppedReason"].as_str().unwrap();
        assert!(reason.starts_with("Host lost"), "{reason}");
        assert!(
            reason.contains(lost_arn.rsplit('/').next().unwrap()),
            "{reason}"
        );
    }

    // The service runs its two tasks again, on the host that is still there; the
    // RunTask task is not restarted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let tasks = running_tasks(&c.client, "prod").await;
        if tasks.len() == 2 && tasks.iter().all(|t| t["lastStatus"] == "RUNNING") {
            break tasks;
        }
        assert!(tokio::time::Instant::now() < deadline, "{tasks:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for t in &after {
        assert_eq!(
            t["containerInstanceArn"],
            kept.container_instance_arn.as_str()
        );
        assert_eq!(
            t["group"], "service:web",
            "only the service's tasks come back"
        );
    }

    // The lost instance shows disconnected with its reservations given back.
    let d = c
        .client
        .ok(
            "DescribeContainerInstances",
            json!({"cluster": "prod", "containerInstances": [lost_arn]}),
        )
        .await;
    let inst = &d["containerInstances"][0];
    assert_eq!(inst["agentConnected"], false, "{inst}");
    let cpu = |which: &str| {
        inst[which]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "CPU")
            .unwrap()["integerValue"]
            .clone()
    };
    assert_eq!(
        cpu("remainingResources"),
        cpu("registeredResources"),
        "{inst}"
    );
    assert_eq!(inst["runningTasksCount"], 0, "{inst}");

    kept.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_only_host_going_silent_is_lost_too() {
    // No other agent heartbeats meanwhile: silence is judged from what is stored, not
    // from anything that waits for a next heartbeat.
    let c = TestCluster::start().await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "solo"}))
        .await;
    let only = c.agent(FakeAgentConfig::ec2("solo")).await;
    c.client
        .ok("RegisterTaskDefinition", ec2_task_definition("web", 0))
        .await;
    let run = c
        .client
        .ok(
            "RunTask",
            json!({"cluster": "solo", "taskDefinition": "web", "launchType": "EC2"}),
        )
        .await;
    let arns = arns(&run);
    wait_for_tasks(&c.client, "solo", &arns, 10, |t| {
        t["lastStatus"] == "RUNNING"
    })
    .await;
    only.stop().await;
    let stopped = wait_for_tasks(&c.client, "solo", &arns, 20, |t| {
        t["lastStatus"] == "STOPPED"
    })
    .await;
    assert_eq!(
        stopped[0]["stopCode"], "TerminationNotice",
        "{}",
        stopped[0]
    );
    c.shutdown().await;
}
