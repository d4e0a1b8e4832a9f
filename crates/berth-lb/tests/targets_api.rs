//! The in-process contract the ECS service controller relies on
//! (`berth_lb::targets`), over an embedded store: registering, health before and after
//! a target group is in use, draining, idempotence, and the errors.

use std::sync::Arc;

use berth_lb::config::{mutate, ScopeConfig};
use berth_lb::health_state::{Reason, TargetHealthState};
use berth_lb::model::{now_ms, Protocol, TargetType};
use berth_lb::targets::{self, TargetDescription};
use berth_lb::{Elb, ElbConfig, Scope};
use berth_store::embedded::EmbeddedStore;
use berth_store::Store;

fn scope() -> Scope {
    Scope {
        account: "000000000000".into(),
        region: "us-east-1".into(),
    }
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find('<').unwrap() + start;
    xml[start..end].to_string()
}

async fn ok(elb: &Elb, body: &str) -> String {
    let r = elb.handle(scope(), body.as_bytes()).await;
    assert_eq!(r.status, 200, "{body}: {}", r.body);
    r.body
}

#[tokio::test]
async fn register_describe_drain_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let elb = Elb::new(store.clone(), ElbConfig::default());
    let tg = tag(
        &ok(
            &elb,
            "Action=CreateTargetGroup&Name=svc&Protocol=HTTP&Port=8080&TargetType=ip",
        )
        .await,
        "TargetGroupArn",
    );
    let info = targets::target_group(&*store, &tg).await.unwrap();
    assert_eq!(
        (info.protocol, info.port, info.target_type),
        (Protocol::Http, 8080, TargetType::Ip)
    );
    assert!(info.load_balancer_arns.is_empty());

    let a = TargetDescription::new("10.0.0.1", 8080);
    let b = TargetDescription {
        id: "10.0.0.2".into(),
        port: None,
        availability_zone: None,
    };
    targets::register_targets(&*store, &tg, &[a.clone(), b.clone()])
        .await
        .unwrap();
    // Registering again changes nothing.
    let before = store.revision().await.unwrap();
    targets::register_targets(&*store, &tg, std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!(store.revision().await.unwrap(), before);

    let health = targets::target_health(&*store, &tg, &a).await.unwrap();
    assert_eq!(
        (health.state, health.reason),
        (TargetHealthState::Unused, Some(Reason::NotInUse))
    );

    // Attached to a load balancer: new targets are initial until checked.
    let lb = tag(
        &ok(&elb, "Action=CreateLoadBalancer&Name=svc").await,
        "LoadBalancerArn",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ok(
        &elb,
        &format!(
            "Action=CreateListener&LoadBalancerArn={lb}&Protocol=HTTP&Port={port}\
             &DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={tg}"
        ),
    )
    .await;
    assert_eq!(
        targets::target_group(&*store, &tg)
            .await
            .unwrap()
            .load_balancer_arns,
        vec![lb]
    );
    let rows = targets::describe_target_health(&*store, &tg, None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].target.port, Some(8080), "the group's port fills in");
    for row in &rows {
        assert_eq!(row.health.state, TargetHealthState::Initial);
        assert_eq!(row.health.reason, Some(Reason::RegistrationInProgress));
        assert_eq!(row.health_check_port, "8080");
    }

    // Deregistering drains for the delay, then the supervisor's reap removes it.
    targets::deregister_targets(&*store, &tg, std::slice::from_ref(&a))
        .await
        .unwrap();
    let health = targets::target_health(&*store, &tg, &a).await.unwrap();
    assert_eq!(
        (health.state, health.reason),
        (
            TargetHealthState::Draining,
            Some(Reason::DeregistrationInProgress)
        )
    );
    let config = ScopeConfig::load(&*store, &scope()).await.unwrap();
    let end = targets::next_drain_end(std::slice::from_ref(&config)).unwrap();
    assert!(
        (end - now_ms() - 300_000).abs() < 10_000,
        "drains for the default 300 s"
    );
    assert_eq!(
        targets::plan_reap(&config, now_ms()).output,
        0,
        "not before its time"
    );
    let reaped = mutate(&*store, &scope(), |c| Ok(targets::plan_reap(c, end)))
        .await
        .unwrap();
    assert_eq!(reaped, 1);
    let health = targets::target_health(&*store, &tg, &a).await.unwrap();
    assert_eq!(
        (health.state, health.reason),
        (TargetHealthState::Unused, Some(Reason::NotRegistered))
    );

    // Re-registering while draining brings it back as a new registration.
    targets::deregister_targets(&*store, &tg, std::slice::from_ref(&b))
        .await
        .unwrap();
    targets::register_targets(&*store, &tg, std::slice::from_ref(&b))
        .await
        .unwrap();
    let health = targets::target_health(&*store, &tg, &b).await.unwrap();
    assert_eq!(health.state, TargetHealthState::Initial);

    // Errors.
    let missing = tg.replace(&tg[tg.len() - 16..], "0123456789abcdef");
    let e = targets::register_targets(&*store, &missing, std::slice::from_ref(&a))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "TargetGroupNotFound");
    let e = targets::register_targets(&*store, "nonsense", std::slice::from_ref(&a))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ValidationError");
    let e = targets::register_targets(
        &*store,
        &tg,
        &[TargetDescription::new("i-0123456789abcdef0", 80)],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "InvalidTarget");
    let e = targets::deregister_targets(&*store, &tg, std::slice::from_ref(&a))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidTarget");
}
