//! Join tokens and agent credentials, in-process: the real control plane on the embedded
//! store, fake agents registering through the real agent channel with join tokens, and
//! raw agent-channel calls for what a stolen or forged credential tries.

use berth_testkit::fixtures::{awsvpc, task_definition};
use berth_testkit::{FakeAgent, FakeAgentConfig, TestCluster};
use serde_json::{json, Value};

/// A raw agent-channel POST with `token`; the HTTP status and the answer.
async fn channel(c: &TestCluster, token: &str, path: &str, body: Value) -> (u16, Value) {
    c.agent_call(token, reqwest::Method::POST, path, &[], Some(body))
        .await
}

/// A raw agent-channel call that names its instance in the query string.
async fn query_call(
    c: &TestCluster,
    token: &str,
    method: reqwest::Method,
    path: &str,
    instance: &str,
    body: Option<Value>,
) -> (u16, Value) {
    c.agent_call(
        token,
        method,
        path,
        &[("containerInstanceArn", instance)],
        body,
    )
    .await
}

fn register_body(kind: &str, cluster: Option<&str>) -> Value {
    json!({"kind": kind, "cluster": cluster, "cpu": 1024, "memory": 1024})
}

async fn join_token(c: &TestCluster, body: Value) -> (String, String) {
    let out = c.client.berth("CreateJoinToken", body).await.unwrap();
    (
        out["token"].as_str().unwrap().to_string(),
        out["joinToken"]["tokenId"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_token_joins_its_cluster_only_and_a_revoked_one_nothing() {
    let c = TestCluster::start().await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "gpu"}))
        .await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "web"}))
        .await;
    let (token, id) = join_token(&c, json!({"cluster": "gpu", "description": "GPU hosts"})).await;
    assert!(token.starts_with(&format!("bjt_{id}_")), "{token}");

    let listed = c.client.berth("ListJoinTokens", json!({})).await.unwrap();
    assert_eq!(listed["joinTokens"][0]["tokenId"], id.as_str(), "{listed}");
    assert_eq!(listed["joinTokens"][0]["cluster"], "gpu");
    assert_eq!(listed["joinTokens"][0]["description"], "GPU hosts");
    assert!(
        !listed.to_string().contains(&token[21..]),
        "no secret is ever listed: {listed}"
    );

    let (status, out) = channel(&c, &token, "register", register_body("EC2", Some("gpu"))).await;
    assert_eq!(status, 200, "{out}");
    let credential = out["agentCredential"].as_str().unwrap().to_string();
    assert!(credential.starts_with("bac_"), "{credential}");
    let arn = out["containerInstanceArn"].as_str().unwrap().to_string();
    assert!(arn.contains("container-instance/gpu/"), "{arn}");

    for (kind, cluster) in [("EC2", Some("web")), ("FARGATE", None)] {
        let (status, out) = channel(&c, &token, "register", register_body(kind, cluster)).await;
        assert_eq!(status, 400, "{kind} {cluster:?}: {out}");
        assert_eq!(out["__type"], "AccessDeniedException", "{out}");
    }
    // A join token registers; it does not act for anyone.
    let (status, out) = channel(
        &c,
        &token,
        "heartbeat",
        json!({"containerInstanceArn": arn}),
    )
    .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (400, Some("AccessDeniedException")),
        "{out}"
    );

    c.client
        .berth("RevokeJoinToken", json!({"tokenId": id}))
        .await
        .unwrap();
    let (status, out) = channel(&c, &token, "register", register_body("EC2", Some("gpu"))).await;
    assert_eq!(status, 403, "{out}");
    assert_eq!(out["__type"], "UnrecognizedClientException", "{out}");
    let listed = c.client.berth("ListJoinTokens", json!({})).await.unwrap();
    assert_eq!(listed["joinTokens"], json!([]));
    let gone = c
        .client
        .berth("RevokeJoinToken", json!({"tokenId": id}))
        .await
        .unwrap_err();
    assert_eq!(gone.kind, "ResourceNotFoundException");

    // The agent that joined keeps working with its own credential.
    let (status, out) = channel(
        &c,
        &credential,
        "heartbeat",
        json!({"containerInstanceArn": arn}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    // And may take its own instance up again after a restart, not a new one.
    let mut again = register_body("EC2", Some("gpu"));
    again["containerInstanceArn"] = json!(arn);
    let (status, out) = channel(&c, &credential, "register", again).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["containerInstanceArn"], arn.as_str());
    assert!(
        out["agentCredential"].is_null(),
        "it keeps its credential: {out}"
    );
    let (status, out) = channel(
        &c,
        &credential,
        "register",
        register_body("EC2", Some("gpu")),
    )
    .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (400, Some("AccessDeniedException")),
        "{out}"
    );

    let bad = c
        .client
        .berth("CreateJoinToken", json!({"cluster": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(bad.kind, "ClusterNotFoundException", "{bad:?}");
    let bad = c
        .client
        .berth("CreateJoinToken", json!({"ttlSeconds": 5}))
        .await
        .unwrap_err();
    assert_eq!(bad.kind, "InvalidParameterException", "{bad:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_credential_acts_for_its_own_instance_only_and_a_forged_one_for_none() {
    let c = TestCluster::start().await;
    let (token, _) = join_token(&c, json!({})).await;
    let ours = FakeAgent::start(&c.endpoint(), &token, FakeAgentConfig::fargate()).await;
    let theirs = FakeAgent::start(&c.endpoint(), &token, FakeAgentConfig::fargate()).await;
    let ours_credential = ours.agent_credential.clone().unwrap();
    assert_ne!(Some(&ours_credential), theirs.agent_credential.as_ref());

    c.client.ok("CreateCluster", json!({})).await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("web"))
        .await;
    let mut on_theirs = None;
    for _ in 0..20 {
        let run = c
            .client
            .ok(
                "RunTask",
                json!({"taskDefinition": "web", "launchType": "FARGATE",
                       "networkConfiguration": awsvpc()}),
            )
            .await;
        let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        // Fargate tasks show no instance: the other agent's assignments tell.
        let resp = reqwest::Client::new()
            .get(format!("{}/agent/v1/assignments", c.endpoint()))
            .query(&[(
                "containerInstanceArn",
                theirs.container_instance_arn.as_str(),
            )])
            .bearer_auth(theirs.agent_credential.as_ref().unwrap())
            .send()
            .await
            .unwrap();
        let theirs_now: Value = resp.json().await.unwrap();
        if theirs_now["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task"]["taskArn"] == arn.as_str())
        {
            on_theirs = Some(arn);
            break;
        }
    }
    let task_arn = on_theirs.expect("a task placed on the other agent");

    // With our credential, nothing of theirs: their heartbeat, assignments, task
    // reports, task role credentials, registry login, log batches.
    let theirs_arn = theirs.container_instance_arn.as_str();
    let refused = [
        ("heartbeat", json!({"containerInstanceArn": theirs_arn})),
        (
            "task-credentials",
            json!({"containerInstanceArn": theirs_arn, "taskArn": task_arn}),
        ),
        (
            "registry-credentials",
            json!({"containerInstanceArn": theirs_arn}),
        ),
        (
            "logs",
            json!({"containerInstanceArn": theirs_arn, "logGroupName": "g",
                   "logStreamName": "s", "expectedNextSeq": 0, "events": []}),
        ),
    ];
    // Nor, as our own instance, their task's logs (or any group but our tasks' own).
    let ours_arn = ours.container_instance_arn.as_str();
    let as_ours = [
        (
            "logs",
            json!({"containerInstanceArn": ours_arn, "taskArn": task_arn, "containerName": "web",
               "logGroupName": "g", "logStreamName": "s", "expectedNextSeq": 0, "events": []}),
        ),
        (
            "logs",
            json!({"containerInstanceArn": ours_arn, "logGroupName": "g",
               "logStreamName": "s", "expectedNextSeq": 0, "events": []}),
        ),
    ];
    for (path, body) in refused.into_iter().chain(as_ours) {
        let (status, out) = channel(&c, &ours_credential, path, body).await;
        assert_eq!(
            (status, out["__type"].as_str()),
            (400, Some("AccessDeniedException")),
            "{path}: {out}"
        );
    }
    // Reporting their task stopped, as them or (the task is not ours) as ourselves.
    for as_instance in [theirs_arn, ours.container_instance_arn.as_str()] {
        let (status, out) = query_call(
            &c,
            &ours_credential,
            reqwest::Method::POST,
            "task-state",
            as_instance,
            Some(json!({"taskArn": task_arn, "status": "STOPPED", "containers": []})),
        )
        .await;
        assert_eq!(status, 400, "as {as_instance}: {out}");
    }
    let (status, out) = query_call(
        &c,
        &ours_credential,
        reqwest::Method::GET,
        "assignments",
        theirs_arn,
        None,
    )
    .await;
    assert_eq!(status, 400, "{out}");
    let d = c
        .client
        .ok("DescribeTasks", json!({"tasks": [task_arn]}))
        .await;
    assert_ne!(d["tasks"][0]["lastStatus"], "STOPPED", "{d}");

    // Nor can it claim their host as its own, to share (and so eat into) its capacity.
    let mut claim = register_body("EC2", Some("default"));
    claim["agentCredential"] = json!(ours_credential);
    claim["sameHostAs"] = json!(theirs_arn);
    let (status, out) = channel(&c, &token, "register", claim).await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (400, Some("AccessDeniedException")),
        "{out}"
    );

    // A forged credential (our id, another secret) and a made-up one are unknown.
    let id = ours_credential.split('_').nth(1).unwrap();
    for forged in [
        format!("bac_{id}_{}", "A".repeat(43)),
        format!("bac_{}_{}", "0".repeat(16), "B".repeat(43)),
        "not-a-token".to_string(),
    ] {
        let (status, out) = channel(
            &c,
            &forged,
            "heartbeat",
            json!({"containerInstanceArn": ours.container_instance_arn}),
        )
        .await;
        assert_eq!(
            (status, out["__type"].as_str()),
            (403, Some("UnrecognizedClientException")),
            "{forged}: {out}"
        );
    }
    // Our own credential does act for us.
    let (status, out) = channel(
        &c,
        &ours_credential,
        "heartbeat",
        json!({"containerInstanceArn": ours.container_instance_arn}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    ours.stop().await;
    theirs.stop().await;
    c.shutdown().await;
}
