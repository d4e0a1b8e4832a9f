//! One test per rule the planner follows, with tasks and definitions in the wire shapes
//! the agent receives.

use super::*;
use crate::runtime::{LABEL_CONTAINER_NAME, LABEL_TASK_ARN, LABEL_VERSION};
use serde_json::{json, Value};

const ARN: &str = "arn:aws:ecs:us-east-1:000000000000:task/c/t1";
const T: Duration = Duration::from_secs(30);

fn settings() -> Settings {
    Settings {
        stop_timeout: T,
        task_network: "berth-awsvpc".into(),
        now: 1_800_000_000.0,
    }
}

fn task(desired: &str, last: &str, containers: Value) -> Task {
    serde_json::from_value(json!({
        "taskArn": ARN, "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c",
        "desiredStatus": desired, "lastStatus": last, "containers": containers,
        "overrides": {"containerOverrides": [{"name": "app",
            "environment": [{"name": "MODE", "value": "WORKER"}], "command": ["run"]}]}
    }))
    .unwrap()
}

fn def(containers: Value) -> TaskDefinition {
    serde_json::from_value(
        json!({"family": "web", "revision": 4, "containerDefinitions": containers}),
    )
    .unwrap()
}

fn two() -> TaskDefinition {
    def(json!([
        {"name": "db", "image": "db", "essential": true, "stopTimeout": 5},
        {"name": "app", "image": "app", "essential": true,
         "environment": [{"name": "MODE", "value": "COORDINATOR"}, {"name": "X", "value": "1"}],
         "dependsOn": [{"containerName": "db", "condition": "START"}]}
    ]))
}

fn obs(id: &str, name: &str, phase: Phase) -> ContainerState {
    ContainerState {
        id: id.into(),
        labels: [(LABEL_CONTAINER_NAME.to_string(), name.to_string())].into(),
        phase,
        health: None,
        details: Default::default(),
    }
}

fn reports(actions: &[Action]) -> Vec<&TaskStateReport> {
    actions
        .iter()
        .filter_map(|a| {
            if let Action::Report(r) = a {
                Some(r)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn a_new_task_creates_every_container_with_overrides_and_labels() {
    let actions = plan(
        &task("RUNNING", "PROVISIONING", json!([])),
        &two(),
        &[],
        None,
        &settings(),
    );
    let specs: Vec<&ContainerSpec> = actions
        .iter()
        .filter_map(|a| {
            if let Action::Create(s) = a {
                Some(&**s)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(specs.len(), 2);
    let app = specs.iter().find(|s| s.name == "app").unwrap();
    assert_eq!(
        app.environment,
        vec![("MODE".into(), "WORKER".into()), ("X".into(), "1".into())]
    );
    assert_eq!(app.command, Some(vec!["run".to_string()]));
    assert_eq!(app.labels[LABEL_TASK_ARN], ARN);
    assert_eq!(app.labels[LABEL_VERSION], "4");
    assert_eq!(
        specs.iter().find(|s| s.name == "db").unwrap().stop_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(reports(&actions)[0].status, "PENDING");
}

#[test]
fn depends_on_start_orders_starts() {
    let t = task("RUNNING", "PENDING", json!([]));
    let created = [
        obs("1", "db", Phase::Created),
        obs("2", "app", Phase::Created),
    ];
    let actions = plan(&t, &two(), &created, None, &settings());
    let starts: Vec<&Action> = actions
        .iter()
        .filter(|a| matches!(a, Action::Start { .. }))
        .collect();
    assert_eq!(
        starts,
        vec![&Action::Start {
            container: "db".into(),
            id: "1".into()
        }]
    );
    let db_up = [
        obs("1", "db", Phase::Running),
        obs("2", "app", Phase::Created),
    ];
    assert!(
        plan(&t, &two(), &db_up, None, &settings()).contains(&Action::Start {
            container: "app".into(),
            id: "2".into()
        })
    );
}

#[test]
fn all_running_reports_once_then_nothing() {
    let up = [
        obs("1", "db", Phase::Running),
        obs("2", "app", Phase::Running),
    ];
    let actions = plan(
        &task("RUNNING", "PENDING", json!([])),
        &two(),
        &up,
        None,
        &settings(),
    );
    let r = reports(&actions);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, "RUNNING");
    assert_eq!(r[0].containers[1].runtime_id.as_deref(), Some("2"));
    let known =
        json!([{"name": "db", "lastStatus": "RUNNING"}, {"name": "app", "lastStatus": "RUNNING"}]);
    assert_eq!(
        plan(
            &task("RUNNING", "RUNNING", known),
            &two(),
            &up,
            None,
            &settings()
        ),
        vec![],
        "idempotent"
    );
}

#[test]
fn an_essential_exit_stops_the_rest_then_the_task() {
    let t = task("RUNNING", "RUNNING", json!([]));
    let exited = [
        obs("1", "db", Phase::Exited { code: 3 }),
        obs("2", "app", Phase::Running),
    ];
    let actions = plan(&t, &two(), &exited, None, &settings());
    assert_eq!(
        actions,
        vec![Action::Stop {
            id: "2".into(),
            timeout: T
        }],
        "no report until all are down"
    );
    let down = [
        obs("1", "db", Phase::Exited { code: 3 }),
        obs("2", "app", Phase::Exited { code: 143 }),
    ];
    let actions = plan(&t, &two(), &down, None, &settings());
    let r = reports(&actions)[0];
    assert_eq!(r.status, "STOPPED");
    assert_eq!(r.stop_code, Some(TaskStopCode::EssentialContainerExited));
    assert_eq!(r.containers[0].exit_code, Some(3));
}

#[test]
fn a_non_essential_exit_is_reported_and_nothing_stops() {
    let d = def(json!([
        {"name": "app", "image": "app"},
        {"name": "init", "image": "init", "essential": false}
    ]));
    let known = json!([{"name": "app", "lastStatus": "RUNNING"}, {"name": "init", "lastStatus": "RUNNING"}]);
    let observed = [
        obs("1", "app", Phase::Running),
        obs("2", "init", Phase::Exited { code: 0 }),
    ];
    let actions = plan(
        &task("RUNNING", "RUNNING", known),
        &d,
        &observed,
        None,
        &settings(),
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Stop { .. })));
    let r = reports(&actions)[0];
    assert_eq!(r.status, "RUNNING");
    assert_eq!(
        (r.containers[1].status.as_str(), r.containers[1].exit_code),
        ("STOPPED", Some(0))
    );
}

#[test]
fn a_stop_request_stops_everything_with_its_timeout() {
    let t = task("STOPPED", "RUNNING", json!([]));
    let up = [
        obs("1", "db", Phase::Running),
        obs("2", "app", Phase::Running),
    ];
    assert_eq!(
        plan(&t, &two(), &up, None, &settings()),
        vec![
            Action::Stop {
                id: "1".into(),
                timeout: Duration::from_secs(5)
            },
            Action::Stop {
                id: "2".into(),
                timeout: T
            },
        ]
    );
    let down = [
        obs("1", "db", Phase::Exited { code: 0 }),
        obs("2", "app", Phase::Exited { code: 143 }),
    ];
    let r = plan(&t, &two(), &down, None, &settings());
    let r = reports(&r)[0];
    assert_eq!((r.status.as_str(), r.stop_code), ("STOPPED", None));
    let stopped = task("STOPPED", "STOPPED", json!([]));
    assert_eq!(
        plan(&stopped, &two(), &down, None, &settings()),
        vec![],
        "reported once"
    );
}

#[test]
fn a_failed_success_dependency_fails_the_task() {
    let d = def(json!([
        {"name": "migrate", "image": "m", "essential": false},
        {"name": "app", "image": "app", "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]}
    ]));
    let observed = [
        obs("1", "migrate", Phase::Exited { code: 1 }),
        obs("2", "app", Phase::Created),
    ];
    let actions = plan(
        &task("RUNNING", "PENDING", json!([])),
        &d,
        &observed,
        None,
        &settings(),
    );
    let [Action::Fail { reason }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert!(reason.contains("migrate SUCCESS"), "{reason}");
    let actions = plan(
        &task("RUNNING", "PENDING", json!([])),
        &d,
        &observed,
        Some(reason),
        &settings(),
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Start { .. })));
    let r = reports(&actions)[0];
    assert_eq!(r.stop_code, Some(TaskStopCode::TaskFailedToStart));
    assert_eq!(r.reason.as_deref(), Some(reason.as_str()));
    let ok = [
        obs("1", "migrate", Phase::Exited { code: 0 }),
        obs("2", "app", Phase::Created),
    ];
    assert!(plan(
        &task("RUNNING", "PENDING", json!([])),
        &d,
        &ok,
        None,
        &settings()
    )
    .contains(&Action::Start {
        container: "app".into(),
        id: "2".into()
    }));
}

#[test]
fn a_healthy_dependency_waits_for_health() {
    let d = def(json!([
        {"name": "db", "image": "db", "healthCheck": {"command": ["CMD", "true"]}},
        {"name": "app", "image": "app", "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]}
    ]));
    let t = task("RUNNING", "PENDING", json!([]));
    let mut db = obs("1", "db", Phase::Running);
    let app = obs("2", "app", Phase::Created);
    assert!(!plan(&t, &d, &[db.clone(), app.clone()], None, &settings())
        .iter()
        .any(|a| matches!(a, Action::Start { .. })));
    db.health = Some(HealthStatus::Healthy);
    assert!(
        plan(&t, &d, &[db, app], None, &settings()).contains(&Action::Start {
            container: "app".into(),
            id: "2".into()
        })
    );
}

#[test]
fn a_start_failure_stops_the_task_with_its_reason() {
    let t = task("RUNNING", "PENDING", json!([]));
    let observed = [obs("1", "db", Phase::Running)];
    let why = "CannotPullContainerError: app: not found";
    let actions = plan(&t, &two(), &observed, Some(why), &settings());
    assert_eq!(
        actions,
        vec![Action::Stop {
            id: "1".into(),
            timeout: Duration::from_secs(5)
        }]
    );
    let down = [obs("1", "db", Phase::Exited { code: 143 })];
    let actions = plan(&t, &two(), &down, Some(why), &settings());
    let r = reports(&actions)[0];
    assert_eq!(r.stop_code, Some(TaskStopCode::TaskFailedToStart));
    assert_eq!(r.reason.as_deref(), Some(why));
}

#[test]
fn settings_the_agent_cannot_honour_stop_the_task_with_a_reason() {
    let d = def(json!([{"name": "web", "image": "web",
        "logConfiguration": {"logDriver": "json-file",
            "secretOptions": [{"name": "PW", "valueFrom": "arn:aws:ssm:us-east-1:0:parameter/pw"}]}}]));
    let actions = plan(
        &task("RUNNING", "PENDING", json!([])),
        &d,
        &[],
        None,
        &settings(),
    );
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Create(_))),
        "nothing is created"
    );
    let r = reports(&actions)[0];
    assert_eq!(r.stop_code, Some(TaskStopCode::TaskFailedToStart));
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("logConfiguration secretOptions (container web)"),
        "{r:?}"
    );
    let efs: TaskDefinition = serde_json::from_value(json!({"family": "f", "revision": 1,
        "volumes": [{"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}],
        "containerDefinitions": [{"name": "a", "image": "a"}]}))
    .unwrap();
    assert!(unsupported(&efs).unwrap().contains("volume shared"));
    assert_eq!(unsupported(&two()), None);
}

#[test]
fn containers_with_secrets_are_created_reading_them_first() {
    let d = def(json!([
        {"name": "env", "image": "a",
         "secrets": [{"name": "PW", "valueFrom": "arn:aws:ssm:us-east-1:0:parameter/pw"}]},
        {"name": "login", "image": "b",
         "repositoryCredentials": {"credentialsParameter":
            "arn:aws:secretsmanager:us-east-1:0:secret:login-AbCdEf"}},
        {"name": "plain", "image": "c"}]));
    assert_eq!(unsupported(&d), None);
    let actions = plan(
        &task("RUNNING", "PENDING", json!([])),
        &d,
        &[],
        None,
        &settings(),
    );
    let reads: Vec<(String, bool)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Create(spec) => Some((spec.name.clone(), spec.reads_secrets)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reads,
        vec![
            ("env".to_string(), true),
            ("login".to_string(), true),
            ("plain".to_string(), false)
        ]
    );
    // The values themselves are never in the plan.
    let Some(Action::Create(spec)) = actions.first() else {
        panic!("no create")
    };
    assert!(spec.environment.iter().all(|(k, _)| k != "PW"));
}

#[test]
fn limits_and_process_settings_reach_the_spec() {
    let d = def(
        json!([{"name": "app", "image": "app", "cpu": 256, "memory": 128,
        "memoryReservation": 64, "user": "nobody", "workingDirectory": "/srv",
        "readonlyRootFilesystem": true, "extraHosts": [{"hostname": "db", "ipAddress": "127.0.0.2"}]}]),
    );
    let actions = plan(
        &task("RUNNING", "PENDING", json!([])),
        &d,
        &[],
        None,
        &settings(),
    );
    let Some(Action::Create(s)) = actions.first() else {
        panic!("{actions:?}")
    };
    assert_eq!(
        (s.cpu_shares, s.memory_mib, s.memory_reservation_mib),
        (Some(256), Some(128), Some(64))
    );
    assert_eq!(
        (s.user.as_deref(), s.working_directory.as_deref()),
        (Some("nobody"), Some("/srv"))
    );
    assert!(s.readonly_root_filesystem);
    assert_eq!(s.extra_hosts, vec!["db:127.0.0.2"]);
    assert_eq!(s.health_check, None);
    let d = def(json!([{"name": "app", "image": "app",
        "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5}}]));
    let actions = plan(
        &task("RUNNING", "PENDING", json!([])),
        &d,
        &[],
        None,
        &settings(),
    );
    let Some(Action::Create(s)) = actions.first() else {
        panic!("{actions:?}")
    };
    let h = s.health_check.as_ref().unwrap();
    assert_eq!(h.command, vec!["CMD-SHELL", "true"]);
    assert_eq!(
        (h.interval, h.timeout, h.retries),
        (Duration::from_secs(5), Duration::from_secs(5), 3)
    );
}

fn creates(actions: &[Action]) -> Vec<&ContainerSpec> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Create(s) => Some(&**s),
            _ => None,
        })
        .collect()
}

#[test]
fn an_awsvpc_task_starts_its_pause_first_and_joins_its_namespace() {
    let mut d = two();
    d.network_mode = Some(NetworkMode::Awsvpc);
    let t = task("RUNNING", "PENDING", json!([]));
    let first = plan(&t, &d, &[], None, &settings());
    let specs = creates(&first);
    assert_eq!(specs.len(), 1, "only the pause: {first:?}");
    assert_eq!(specs[0].name, PAUSE_CONTAINER_NAME);
    assert_eq!(
        specs[0].network,
        crate::runtime::NetworkSpec::Task("berth-awsvpc".into())
    );
    let created = [obs("p", PAUSE_CONTAINER_NAME, Phase::Created)];
    assert!(
        plan(&t, &d, &created, None, &settings()).contains(&Action::Start {
            container: PAUSE_CONTAINER_NAME.into(),
            id: "p".into()
        })
    );
    let mut pause = obs("p", PAUSE_CONTAINER_NAME, Phase::Running);
    pause.details.ipv4 = Some("10.0.0.7".into());
    let actions = plan(&t, &d, std::slice::from_ref(&pause), None, &settings());
    let specs = creates(&actions);
    assert_eq!(specs.len(), 2);
    assert!(specs
        .iter()
        .all(|s| s.network == crate::runtime::NetworkSpec::Container("p".into())));
    assert_eq!(
        reports(&actions)[0].private_ipv4_address.as_deref(),
        Some("10.0.0.7"),
        "the task's address is the pause's"
    );
    // Stopping: containers first, then the pause with no grace period, then the report.
    let stopping = task("STOPPED", "RUNNING", json!([]));
    let down = [
        pause.clone(),
        obs("1", "db", Phase::Exited { code: 0 }),
        obs("2", "app", Phase::Exited { code: 0 }),
    ];
    let actions = plan(&stopping, &d, &down, None, &settings());
    assert_eq!(
        actions[0],
        Action::Stop {
            id: "p".into(),
            timeout: Duration::ZERO
        }
    );
    assert_eq!(reports(&actions)[0].status, "STOPPED");
}

#[test]
fn a_dead_pause_stops_the_task() {
    let mut d = two();
    d.network_mode = Some(NetworkMode::Awsvpc);
    let observed = [
        obs("p", PAUSE_CONTAINER_NAME, Phase::Exited { code: 137 }),
        obs("1", "db", Phase::Running),
        obs("2", "app", Phase::Running),
    ];
    let actions = plan(
        &task("RUNNING", "RUNNING", json!([])),
        &d,
        &observed,
        None,
        &settings(),
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::Stop { .. }))
            .count(),
        2
    );
}

#[test]
fn bridge_bindings_come_from_the_runtime_and_host_bindings_from_the_definition() {
    let d = def(json!([{"name": "web", "image": "web",
        "portMappings": [{"containerPort": 80}]}]));
    let mut web = obs("1", "web", Phase::Running);
    web.details.ports = vec![
        crate::runtime::PublishedPort {
            container_port: 80,
            host_port: 32769,
            protocol: "tcp".into(),
            host_ip: "0.0.0.0".into(),
        },
        crate::runtime::PublishedPort {
            container_port: 80,
            host_port: 32769,
            protocol: "tcp".into(),
            host_ip: "::".into(),
        },
    ];
    let t = task("RUNNING", "PENDING", json!([]));
    let actions = plan(&t, &d, std::slice::from_ref(&web), None, &settings());
    let b = reports(&actions)[0].containers[0]
        .network_bindings
        .clone()
        .unwrap();
    assert_eq!(b.len(), 1, "one binding per port, IPv4: {b:?}");
    assert_eq!(
        (b[0].container_port, b[0].host_port),
        (Some(80), Some(32769))
    );
    let mut host = d.clone();
    host.network_mode = Some(NetworkMode::Host);
    let actions = plan(&t, &host, &[web], None, &settings());
    let b = reports(&actions)[0].containers[0]
        .network_bindings
        .clone()
        .unwrap();
    assert_eq!((b[0].container_port, b[0].host_port), (Some(80), Some(80)));
}

#[test]
fn links_and_volumes_from_wait_for_their_sources() {
    let d = def(json!([
        {"name": "app", "image": "app", "links": ["db:database"],
         "volumesFrom": [{"sourceContainer": "data", "readOnly": true}]},
        {"name": "db", "image": "db"},
        {"name": "data", "image": "data", "essential": false}
    ]));
    let t = task("RUNNING", "PENDING", json!([]));
    let names: Vec<String> = creates(&plan(&t, &d, &[], None, &settings()))
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, vec!["db", "data"], "app waits for its sources");
    let created = [
        obs("1", "db", Phase::Created),
        obs("2", "data", Phase::Created),
    ];
    let actions = plan(&t, &d, &created, None, &settings());
    let app = creates(&actions)[0];
    assert_eq!(app.links, vec!["ecs-web-4-db-t1:database"]);
    assert_eq!(app.volumes_from, vec!["ecs-web-4-data-t1:ro"]);
    let created = [
        obs("1", "db", Phase::Created),
        obs("2", "data", Phase::Created),
        obs("3", "app", Phase::Created),
    ];
    assert!(
        !plan(&t, &d, &created, None, &settings()).contains(&Action::Start {
            container: "app".into(),
            id: "3".into()
        }),
        "a link's target starts first"
    );
}

#[test]
fn unmet_dependencies_give_up_after_start_timeout() {
    let d = def(json!([
        {"name": "db", "image": "db", "healthCheck": {"command": ["CMD", "true"]}},
        {"name": "app", "image": "app", "startTimeout": 10,
         "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]}
    ]));
    let t = task("RUNNING", "PENDING", json!([]));
    let db = obs("1", "db", Phase::Running);
    let mut app = obs("2", "app", Phase::Created);
    // 1_800_000_000 s since the epoch is 2027-01-15T08:00:00Z.
    app.details.created_at = "2027-01-15T07:59:55Z".into();
    let waiting = plan(&t, &d, &[db.clone(), app.clone()], None, &settings());
    assert!(
        reports(&waiting).iter().all(|r| r.stop_code.is_none()),
        "5 s in: still waiting"
    );
    app.details.created_at = "2027-01-15T07:59:45Z".into();
    let actions = plan(&t, &d, &[db.clone(), app.clone()], None, &settings());
    let [Action::Fail { reason }] = actions.as_slice() else {
        panic!("the failure is remembered first: {actions:?}")
    };
    assert!(reason.contains("startTimeout of 10 s"), "{reason}");
    // The agent passes the remembered reason back: stop the rest, then report it.
    let actions = plan(&t, &d, &[db, app.clone()], Some(reason), &settings());
    assert!(actions.contains(&Action::Stop {
        id: "1".into(),
        timeout: T
    }));
    let stopped = obs("1", "db", Phase::Exited { code: 143 });
    let r = plan(&t, &d, &[stopped, app], Some(reason), &settings());
    let r = reports(&r)[0];
    assert_eq!(r.stop_code, Some(TaskStopCode::TaskFailedToStart));
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("startTimeout of 10 s"),
        "{r:?}"
    );
}
