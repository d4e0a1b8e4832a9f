//! `GET /metrics` over HTTP: requests counted by API and status with their latency
//! histogram, tasks by last status and agents by connection, in Prometheus' format.

use berth_testkit::fixtures::{awsvpc, task_definition};
use berth_testkit::{FakeAgent, FakeAgentConfig, TestCluster};
use serde_json::json;

async fn scrape(c: &TestCluster) -> String {
    let resp = reqwest::get(format!("{}/metrics", c.endpoint()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_tasks_and_agents() {
    let c = TestCluster::start().await;
    let agent = FakeAgent::start(&c.endpoint(), &c.agent_token(), FakeAgentConfig::fargate()).await;
    c.client.ok("CreateCluster", json!({})).await;
    c.client
        .ok("RegisterTaskDefinition", task_definition("web"))
        .await;
    c.client
        .ok("RunTask", json!({"taskDefinition": "web", "launchType": "FARGATE", "count": 2, "networkConfiguration": awsvpc()}))
        .await;
    let _ = c
        .client
        .err("DescribeClusters", json!({"clusters": 5}))
        .await;
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&c).await;
        if text.contains("last_status=\"RUNNING\"} 2") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let run = "api=\"AmazonEC2ContainerServiceV20141113.RunTask\"";
    assert!(
        text.contains(&format!("berth_requests_total{{{run},status=\"200\"}} 1")),
        "{text}"
    );
    assert!(
        text.contains("berth_requests_total{api=\"AmazonEC2ContainerServiceV20141113.DescribeClusters\",status=\"400\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!("berth_request_duration_seconds_count{{{run}}} 1")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "berth_request_duration_seconds_bucket{{{run},le=\"+Inf\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "berth_tasks{account=\"000000000000\",region=\"us-east-1\",last_status=\"RUNNING\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("berth_container_instances{account=\"000000000000\",region=\"us-east-1\",agent_connected=\"true\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("api=\"agent\""),
        "the agent channel is counted: {text}"
    );
    agent.stop().await;
}
