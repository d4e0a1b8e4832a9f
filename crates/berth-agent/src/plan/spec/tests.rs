//! The definition-to-spec mapping, field by field.

use super::*;
use crate::runtime::NetworkSpec;
use serde_json::json;

fn task(extra: serde_json::Value) -> Task {
    let mut t = json!({"taskArn": "arn:aws:ecs:us-east-1:000000000000:task/c/abc123",
        "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c"});
    t.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(t).unwrap()
}

fn def(v: serde_json::Value) -> TaskDefinition {
    serde_json::from_value(v).unwrap()
}

fn only(t: &Task, d: &TaskDefinition) -> ContainerSpec {
    let c = &d.container_definitions.as_ref().unwrap()[0];
    container(t, d, c, Duration::from_secs(30), None)
}

#[test]
fn names_follow_the_ecs_agent() {
    let d = def(json!({"family": "web_app", "revision": 7, "containerDefinitions": []}));
    assert_eq!(
        runtime_name(&task(json!({})), &d, "~internal~ecs~pause"),
        "ecs-web_app-7-internalecspause-abc123"
    );
}

#[test]
fn ports_volumes_and_linux_parameters_reach_the_spec() {
    let d = def(json!({"family": "f", "revision": 1,
        "volumes": [
            {"name": "logs", "host": {"sourcePath": "/var/log/app"}},
            {"name": "scratch"},
            {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": false,
                "driver": "local", "labels": {"team": "a"}}}
        ],
        "containerDefinitions": [{"name": "app", "image": "app",
            "portMappings": [{"containerPort": 80}, {"containerPort": 53, "hostPort": 5353, "protocol": "udp"}],
            "mountPoints": [
                {"sourceVolume": "logs", "containerPath": "/logs", "readOnly": true},
                {"sourceVolume": "scratch", "containerPath": "/tmp/s"},
                {"sourceVolume": "cache", "containerPath": "/cache"}],
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            "linuxParameters": {"initProcessEnabled": true, "sharedMemorySize": 64,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                "tmpfs": [{"containerPath": "/run", "size": 16, "mountOptions": ["noexec"]}]},
            "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
            "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}},
            "environmentFiles": [{"value": "/etc/app.env", "type": "s3"}]}]}));
    let s = only(&task(json!({})), &d);
    assert_eq!(s.network, NetworkSpec::Bridge);
    assert_eq!(
        s.ports,
        vec![
            PortSpec {
                container_port: 80,
                host_port: None,
                protocol: "tcp".into()
            },
            PortSpec {
                container_port: 53,
                host_port: Some(5353),
                protocol: "udp".into()
            }
        ]
    );
    assert_eq!(
        s.mounts[0],
        MountSpec {
            source: MountSource::HostPath("/var/log/app".into()),
            target: "/logs".into(),
            read_only: true
        }
    );
    let MountSource::Volume { name, labels, .. } = &s.mounts[1].source else {
        panic!("{:?}", s.mounts[1])
    };
    assert_eq!(name, "ecs-f-1-scratch-abc123", "task-scoped: one per task");
    assert!(labels.contains_key(LABEL_TASK_ARN));
    let MountSource::Volume {
        name, must_exist, ..
    } = &s.mounts[2].source
    else {
        panic!("{:?}", s.mounts[2])
    };
    assert_eq!((name.as_str(), *must_exist), ("cache", true));
    assert_eq!(
        s.ulimits,
        vec![UlimitSpec {
            name: "nofile".into(),
            soft: 1024,
            hard: 4096
        }]
    );
    assert!(s.init);
    assert_eq!(
        (s.cap_add.clone(), s.cap_drop.clone()),
        (vec!["NET_ADMIN".to_string()], vec!["MKNOD".to_string()])
    );
    assert_eq!(s.shm_size_mib, Some(64));
    assert_eq!(s.tmpfs["/run"], "size=16m,noexec");
    assert_eq!(s.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(s.log_driver.as_ref().unwrap().0, "json-file");
    assert_eq!(s.environment_files, vec!["/etc/app.env"]);
}

#[test]
fn awslogs_runs_on_dockers_local_driver_with_bounded_rotation() {
    let d = def(
        json!({"family": "f", "revision": 1, "containerDefinitions": [
        {"name": "app", "image": "app", "memory": 64, "logConfiguration": {
            "logDriver": "awslogs", "options": {"awslogs-group": "/g", "awslogs-region": "us-east-1"}}}]}),
    );
    let s = only(&task(json!({})), &d);
    let (driver, options) = s.log_driver.expect("a log driver");
    assert_eq!(driver, "local");
    // The awslogs options are the agent's business, not Docker's.
    assert_eq!(
        options.into_iter().collect::<Vec<_>>(),
        [
            ("compress".into(), "false".into()),
            ("max-file".into(), "5".into()),
            ("max-size".into(), "20m".into())
        ]
    );
}

#[test]
fn task_level_cpu_and_memory_become_limits() {
    let d = def(
        json!({"family": "f", "revision": 1, "networkMode": "awsvpc",
        "containerDefinitions": [{"name": "app", "image": "app", "memory": 2048,
            "portMappings": [{"containerPort": 80}]}]}),
    );
    let t = task(json!({"cpu": "512", "memory": "1024", "launchType": "FARGATE"}));
    let c = &d.container_definitions.as_ref().unwrap()[0];
    let s = container(&t, &d, c, Duration::from_secs(30), Some("pause-id"));
    assert_eq!(s.nano_cpus, Some(500_000_000), "512 units = half a core");
    assert_eq!(s.memory_mib, Some(1024), "capped at the task's size");
    assert_eq!(s.network, NetworkSpec::Container("pause-id".into()));
    assert!(s.ports.is_empty(), "awsvpc publishes nothing");
}

#[test]
fn host_and_none_modes() {
    for (mode, want) in [("host", NetworkSpec::Host), ("none", NetworkSpec::None)] {
        let d = def(json!({"family": "f", "revision": 1, "networkMode": mode,
            "containerDefinitions": [{"name": "app", "image": "app"}]}));
        assert_eq!(only(&task(json!({})), &d).network, want);
    }
}
