//! Bad input gets AWS's errors, and the server and store stay as they were.

use berth_testkit::fixtures::{awsvpc, task_definition};
use berth_testkit::{EcsClient, TestCluster};
use serde_json::json;

#[tokio::test]
async fn malformed_and_invalid_requests_get_aws_errors() {
    let c = TestCluster::start().await;
    let e = c
        .client
        .call_raw("ListClusters", b"{nope".to_vec())
        .await
        .unwrap_err();
    assert_eq!((e.status, e.kind.as_str()), (400, "SerializationException"));
    let e = c
        .client
        .err("RunTask", json!({"taskDefinition": "x", "count": "two"}))
        .await;
    assert_eq!(e.kind, "SerializationException");
    let e = c
        .client
        .err("RegisterTaskDefinition", json!({"family": "x"}))
        .await;
    assert_eq!(e.kind, "InvalidParameterException");
    assert!(e.message.contains("containerDefinitions"), "{}", e.message);
    let e = c.client.err("ListClusters", json!({"bogus": 1})).await;
    assert!(e.message.contains("bogus"));
    let e = c.client.err("NoSuchThing", json!({})).await;
    assert_eq!(e.kind, "UnknownOperationException");
    let e = c
        .client
        .err("DeleteCluster", json!({"cluster": "ghost"}))
        .await;
    assert_eq!(e.kind, "ClusterNotFoundException");
    let mut bad = task_definition("f");
    bad["memory"] = json!("4096");
    let e = c.client.err("RegisterTaskDefinition", bad).await;
    assert_eq!(e.kind, "ClientException");
    c.client
        .ok("RegisterTaskDefinition", task_definition("f"))
        .await;
    let e = c
        .client
        .err(
            "RunTask",
            json!({"taskDefinition": "f", "launchType": "FARGATE"}),
        )
        .await;
    assert_eq!(e.kind, "ClusterNotFoundException", "no default cluster yet");
    c.client.ok("CreateCluster", json!({})).await;
    let e = c
        .client
        .err(
            "RunTask",
            json!({"taskDefinition": "f", "launchType": "FARGATE", "count": 11,
                                "networkConfiguration": awsvpc()}),
        )
        .await;
    assert_eq!(e.kind, "InvalidParameterException");
    let e = c
        .client
        .err(
            "RunTask",
            json!({"taskDefinition": "f", "launchType": "FARGATE"}),
        )
        .await;
    assert!(e.message.contains("Network Configuration"), "{}", e.message);
    let e = c
        .client
        .err(
            "RunTask",
            json!({"taskDefinition": "nope", "launchType": "FARGATE"}),
        )
        .await;
    assert_eq!(e.kind, "ClientException");
    let big = vec![b' '; 10 * 1024 * 1024];
    let e = c.client.call_raw("ListClusters", big).await.unwrap_err();
    assert_eq!(e.status, 413);
    // Still serving, nothing lost.
    let d = c
        .client
        .ok("DescribeTaskDefinition", json!({"taskDefinition": "f"}))
        .await;
    assert_eq!(d["taskDefinition"]["revision"], 1);
    c.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let c = TestCluster::start().await;
    let wrong_secret = EcsClient::new(
        &c.endpoint(),
        &c.identity.access_key_id,
        "not-the-secret",
        "us-east-1",
    );
    let e = wrong_secret.err("ListClusters", json!({})).await;
    assert_eq!(
        (e.status, e.kind.as_str()),
        (403, "InvalidSignatureException")
    );
    let unknown = EcsClient::new(&c.endpoint(), "AKIAUNKNOWN000000000", "x", "us-east-1");
    let e = unknown.err("ListClusters", json!({})).await;
    assert_eq!(
        (e.status, e.kind.as_str()),
        (403, "UnrecognizedClientException")
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/", c.endpoint()))
        .header(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");
    c.shutdown().await;
}

#[tokio::test]
async fn regions_are_separate() {
    let c = TestCluster::start().await;
    c.client
        .ok("CreateCluster", json!({"clusterName": "east"}))
        .await;
    let west = EcsClient::new(
        &c.endpoint(),
        &c.identity.access_key_id,
        &c.identity.secret_access_key,
        "eu-west-1",
    );
    let l = west.ok("ListClusters", json!({})).await;
    assert_eq!(l["clusterArns"], json!([]));
    west.ok("CreateCluster", json!({"clusterName": "west"}))
        .await;
    let l = west.ok("ListClusters", json!({})).await;
    assert_eq!(
        l["clusterArns"],
        json!(["arn:aws:ecs:eu-west-1:000000000000:cluster/west"])
    );
    c.shutdown().await;
}
