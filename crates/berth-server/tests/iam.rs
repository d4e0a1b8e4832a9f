//! IAM and STS in-process: a role assumed through STS acts with its own policies only,
//! an expired session is refused with `ExpiredTokenException`, an IAM change is seen by
//! the very next request, and the account root is allowed everything.

use berth_model::iam::{SessionOf, SessionRecord};
use berth_testkit::{EcsClient, TestCluster};
use serde_json::json;

/// The text of the first `<tag>` in `xml`.
fn tag<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    &xml[start..end]
}

async fn iam(c: &TestCluster, pairs: &[(&str, &str)]) -> String {
    let (status, xml) = c.client.query("iam", pairs).await;
    assert_eq!(status, 200, "{xml}");
    xml
}

const ACCOUNT_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
const LIST_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:ListClusters","Resource":"*"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assumed_role_acts_with_its_policies_and_an_expired_session_is_refused() {
    let c = TestCluster::start().await;
    iam(
        &c,
        &[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", "lister"),
            ("AssumeRolePolicyDocument", ACCOUNT_TRUST),
        ],
    )
    .await;
    iam(
        &c,
        &[
            ("Action", "PutRolePolicy"),
            ("Version", "2010-05-08"),
            ("RoleName", "lister"),
            ("PolicyName", "list"),
            ("PolicyDocument", LIST_ONLY),
        ],
    )
    .await;
    let (status, xml) = c
        .client
        .query(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("Version", "2011-06-15"),
                ("RoleArn", "arn:aws:iam::000000000000:role/lister"),
                ("RoleSessionName", "s1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    let role = c.client.with_session(
        tag(&xml, "AccessKeyId"),
        tag(&xml, "SecretAccessKey"),
        tag(&xml, "SessionToken"),
    );
    role.call("ListClusters", json!({})).await.unwrap();
    let refused = role
        .call("CreateCluster", json!({"clusterName": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, "AccessDeniedException", "{refused:?}");
    assert_eq!(
        refused.message,
        "User: arn:aws:sts::000000000000:assumed-role/lister/s1 is not authorized to perform: \
         ecs:CreateCluster on resource: arn:aws:ecs:us-east-1:000000000000:cluster/nope \
         because no identity-based policy allows the ecs:CreateCluster action"
    );
    let clusters = c.client.ok("ListClusters", json!({})).await;
    assert!(
        !clusters.to_string().contains("cluster/nope"),
        "nothing was created"
    );

    // A session past its expiry, stored as STS stores them.
    let app = c.server.as_ref().unwrap().app().clone();
    let expired = SessionRecord {
        access_key_id: "ASIAEXPIREDEXPIRED00".into(),
        secret_access_key: "expired-secret-expired-secret-expired-se".into(),
        session_token: "expired-token".into(),
        of: SessionOf::Role {
            role_name: "lister".into(),
            role_id: "AROAEXAMPLEEXAMPLEEX".into(),
            role_arn: "arn:aws:iam::000000000000:role/lister".into(),
            session_name: "old".into(),
        },
        expires_at: berth_api::ecs::Timestamp::try_from_secs_f64(
            app.core.clock.now().as_secs_f64() - 1.0,
        )
        .unwrap(),
    };
    let key = "/iam/000000000000/sessions/ASIAEXPIREDEXPIRED00";
    let txn = berth_store::Txn::new().then(berth_store::records::put(key, &expired));
    app.core.store.txn(txn).await.unwrap();
    let old = c.client.with_session(
        &expired.access_key_id,
        &expired.secret_access_key,
        &expired.session_token,
    );
    let refused = old.call("ListClusters", json!({})).await.unwrap_err();
    assert_eq!(refused.kind, "ExpiredTokenException", "{refused:?}");

    // The janitor deletes sessions a day after they expire, not before.
    let later = |secs: f64| {
        berth_api::ecs::Timestamp::try_from_secs_f64(app.core.clock.now().as_secs_f64() + secs)
            .unwrap()
    };
    let purged = berth_server::janitor::purge_sessions(&app.core, later(0.0))
        .await
        .unwrap();
    assert_eq!(purged, 0, "the expired one is kept for a day");
    let purged = berth_server::janitor::purge_sessions(&app.core, later(25.1 * 3600.0))
        .await
        .unwrap();
    assert_eq!(
        purged, 2,
        "the expired session and the assumed one, a day after each expired"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match role.call("ListClusters", json!({})).await {
            Err(e) if e.kind == "UnrecognizedClientException" => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "a deleted session still signs: {other:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_users_key_signs_at_once_and_its_policy_applies_on_the_next_call() {
    let c = TestCluster::start().await;
    iam(&c, &[("Action", "CreateUser"), ("UserName", "ana")]).await;
    let xml = iam(&c, &[("Action", "CreateAccessKey"), ("UserName", "ana")]).await;
    let ana = EcsClient::new(
        &c.endpoint(),
        tag(&xml, "AccessKeyId"),
        tag(&xml, "SecretAccessKey"),
        "us-east-1",
    );
    let refused = ana.call("ListClusters", json!({})).await.unwrap_err();
    assert_eq!(refused.kind, "AccessDeniedException", "{refused:?}");
    iam(
        &c,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "ana"),
            ("PolicyName", "list"),
            ("PolicyDocument", LIST_ONLY),
        ],
    )
    .await;
    ana.call("ListClusters", json!({})).await.unwrap();
    let (status, xml) = ana.query("sts", &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(status, 200, "{xml}");
    assert_eq!(tag(&xml, "Arn"), "arn:aws:iam::000000000000:user/ana");
    // IAM itself is authorized too: ana may not make users.
    let (status, xml) = ana
        .query("iam", &[("Action", "CreateUser"), ("UserName", "eve")])
        .await;
    assert_eq!(status, 403, "{xml}");
    assert_eq!(tag(&xml, "Code"), "AccessDenied");
    let (status, _) = c
        .client
        .query("iam", &[("Action", "GetUser"), ("UserName", "eve")])
        .await;
    assert_eq!(status, 404, "eve was not made");
}
