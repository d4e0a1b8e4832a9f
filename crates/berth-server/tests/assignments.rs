//! An agent's assignments on the real agent channel, in-process: the first read answers
//! the instance's tasks in full, a long poll that waits out its time with nothing of the
//! instance's changed answers `unchanged` (no tasks, the same revision), and a task placed
//! on the instance wakes a waiting long poll with the full set again.

use std::time::Duration;

use berth_testkit::TestCluster;
use serde_json::{json, Value};

async fn assignments(
    c: &TestCluster,
    credential: &str,
    arn: &str,
    after: Option<u64>,
    wait: &str,
) -> Value {
    let after = after.map(|a| a.to_string());
    let mut query = vec![("containerInstanceArn", arn), ("waitSeconds", wait)];
    if let Some(after) = &after {
        query.push(("afterRevision", after));
    }
    let (status, out) = c
        .agent_call(
            credential,
            reqwest::Method::GET,
            "assignments",
            &query,
            None,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_that_sees_no_change_answers_unchanged_and_a_placement_wakes_it_in_full() {
    let c = TestCluster::start().await;
    c.client.ok("CreateCluster", json!({})).await;
    c.client
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [
                {"name": "c", "image": "busybox", "memory": 32}]}),
        )
        .await;
    let (status, joined) = c
        .agent_call(
            &c.agent_token(),
            reqwest::Method::POST,
            "register",
            &[],
            Some(json!({"kind": "EC2", "cluster": "default", "cpu": 1024, "memory": 1024,
                        "attributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]})),
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    let arn = joined["containerInstanceArn"].as_str().unwrap().to_string();
    let credential = joined["agentCredential"].as_str().unwrap().to_string();
    c.client
        .ok("RunTask", json!({"taskDefinition": "web"}))
        .await;

    let first = assignments(&c, &credential, &arn, None, "1").await;
    assert_eq!(first["tasks"].as_array().unwrap().len(), 1, "{first}");
    assert!(first.get("unchanged").is_none(), "{first}");
    let revision = first["revision"].as_u64().unwrap();

    let started = tokio::time::Instant::now();
    let idle = assignments(&c, &credential, &arn, Some(revision), "1").await;
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited");
    assert_eq!(idle["unchanged"], true, "{idle}");
    assert_eq!(idle["tasks"], json!([]), "{idle}");
    assert_eq!(idle["revision"].as_u64(), Some(revision), "{idle}");

    // Another task placed on the instance while a poll waits wakes it with both.
    let waiting = c.long_poll(&credential, "assignments", &arn, revision);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.client
        .ok("RunTask", json!({"taskDefinition": "web"}))
        .await;
    let (took, woken) = waiting.await.unwrap();
    assert!(
        took < Duration::from_secs(10),
        "woken by the change: {took:?}"
    );
    assert!(woken.get("unchanged").is_none(), "{woken}");
    assert_eq!(woken["tasks"].as_array().unwrap().len(), 2, "{woken}");
    assert!(woken["revision"].as_u64().unwrap() > revision, "{woken}");
}
