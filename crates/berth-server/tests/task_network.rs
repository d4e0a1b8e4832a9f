//! Task subnets and routes on the agent channel, in-process: hosts registering through
//! the real agent channel, each given its own /24 of the task range, and the routes
//! each host is told to keep.

use std::time::Duration;

use berth_testkit::TestCluster;
use serde_json::{json, Value};

struct Host {
    arn: String,
    credential: String,
}

async fn host(c: &TestCluster) -> Host {
    let (status, out) = c
        .agent_call(
            &c.agent_token(),
            reqwest::Method::POST,
            "register",
            &[],
            Some(json!({"kind": "FARGATE", "cpu": 1024, "memory": 1024})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    Host {
        arn: out["containerInstanceArn"].as_str().unwrap().into(),
        credential: out["agentCredential"].as_str().unwrap().into(),
    }
}

async fn network(c: &TestCluster, h: &Host, subnet: Option<&str>, address: &str) -> (u16, Value) {
    c.agent_call(
        &h.credential,
        reqwest::Method::POST,
        "network",
        &[],
        Some(json!({"containerInstanceArn": h.arn, "subnet": subnet, "address": address})),
    )
    .await
}

async fn routes(
    c: &TestCluster,
    token: &str,
    arn: Option<&str>,
    after: Option<u64>,
) -> (u16, Value) {
    let after = after.map(|a| a.to_string());
    let mut query = vec![("waitSeconds", "5")];
    if let Some(arn) = arn {
        query.push(("containerInstanceArn", arn));
    }
    if let Some(after) = &after {
        query.push(("afterRevision", after.as_str()));
    }
    c.agent_call(token, reqwest::Method::GET, "routes", &query, None)
        .await
}

fn pairs(routes: &Value) -> Vec<(String, String)> {
    routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["subnet"].as_str().unwrap().into(),
                r["via"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_gets_its_own_subnet_and_routes_to_the_others() {
    let c = TestCluster::start().await;
    let (a, b) = (host(&c).await, host(&c).await);
    let (_, na) = network(&c, &a, None, "192.0.2.10").await;
    let (_, nb) = network(&c, &b, None, "192.0.2.11").await;
    assert_eq!(
        (na["subnet"].as_str(), na["routable"].as_bool()),
        (Some("10.42.0.0/24"), Some(true)),
        "{na}"
    );
    assert_eq!(nb["subnet"], "10.42.1.0/24", "{nb}");
    // Asking again (an agent restart) keeps the subnet.
    let (_, again) = network(&c, &a, Some("10.42.0.0/24"), "192.0.2.10").await;
    assert_eq!(again["subnet"], "10.42.0.0/24");

    let (_, ra) = routes(&c, &a.credential, Some(&a.arn), None).await;
    assert_eq!(
        pairs(&ra),
        vec![("10.42.1.0/24".to_string(), "192.0.2.11".to_string())]
    );
    // The control plane's own host (the operator) routes to every host.
    let (_, all) = routes(&c, &c.agent_token(), None, None).await;
    assert_eq!(pairs(&all).len(), 2);

    // A new host wakes a long poll, and shows up in the others' routes.
    let revision = ra["revision"].as_u64().unwrap();
    let waiting = c.long_poll(&a.credential, "routes", &a.arn, revision);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = host(&c).await;
    network(&c, &d, None, "192.0.2.12").await;
    let (took, woken) = waiting.await.unwrap();
    assert!(
        took < Duration::from_secs(10),
        "woken by the change: {took:?}"
    );
    assert_eq!(pairs(&woken).len(), 2, "{woken}");

    // A host whose existing network overlaps another's keeps it, unrouted, and is told.
    let e = host(&c).await;
    let (_, ne) = network(&c, &e, Some("10.42.1.0/25"), "192.0.2.13").await;
    assert_eq!(ne["routable"], false, "{ne}");
    assert!(
        ne["warning"].as_str().unwrap().contains("10.42.1.0/24"),
        "{ne}"
    );
    let (_, ra) = routes(&c, &a.credential, Some(&a.arn), None).await;
    assert!(!pairs(&ra).iter().any(|(s, _)| s == "10.42.1.0/25"), "{ra}");

    // Nobody records another host's network, or reads routes without saying who it is.
    let (status, out) = c
        .agent_call(
            &a.credential,
            reqwest::Method::POST,
            "network",
            &[],
            Some(json!({"containerInstanceArn": b.arn, "address": "192.0.2.99"})),
        )
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (400, Some("AccessDeniedException")),
        "{out}"
    );
    let (status, _) = routes(&c, &a.credential, None, None).await;
    assert_eq!(status, 400);
    for (subnet, address) in [(Some("10.42.0.0/33"), "192.0.2.10"), (None, "not-an-ip")] {
        let (status, out) = network(&c, &a, subnet, address).await;
        assert_eq!(
            (status, out["__type"].as_str()),
            (400, Some("InvalidParameterException")),
            "{out}"
        );
    }
    c.shutdown().await;
}
