//! One test per RegisterTaskDefinition rule, with inputs as the AWS CLI sends them.

use super::*;
use serde_json::{json, Value};

fn at() -> Registration<'static> {
    Registration {
        arn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into(),
        revision: 1,
        registered_at: Timestamp::from_secs(1_700_000_000),
        registered_by: "arn:aws:iam::000000000000:root",
    }
}

fn req(v: Value) -> RegisterTaskDefinitionRequest {
    serde_json::from_value(v).expect("request parses")
}

fn fargate(cpu: &str, memory: &str) -> Value {
    json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": [{"name": "app", "image": "busybox", "essential": true,
                                  "portMappings": [{"containerPort": 80}]}]
    })
}

fn register_err(v: Value) -> String {
    let e = register(req(v), at()).expect_err("must be rejected");
    assert_eq!(e.code(), "ClientException", "{e:?}");
    e.message().to_string()
}

#[test]
fn fargate_definition_gets_computed_fields() {
    let r = register(req(fargate("256", "512")), at()).unwrap();
    let d = &r.definition;
    assert_eq!(d.status, Some(TaskDefinitionStatus::Active));
    assert_eq!(
        d.compatibilities,
        Some(vec![Compatibility::Ec2, Compatibility::Fargate])
    );
    assert_eq!(d.cpu.as_deref(), Some("256"));
    assert_eq!(d.memory.as_deref(), Some("512"));
    assert_eq!(d.revision, 1);
    let attrs: Vec<_> = d
        .requires_attributes
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert!(attrs.contains(&"ecs.capability.task-eni"), "{attrs:?}");
    assert!(d.registered_at.is_some());
    let c = &d.container_definitions.as_ref().unwrap()[0];
    assert_eq!(c.essential, Some(true), "essential defaults to true");
    let pm = &c.port_mappings.as_ref().unwrap()[0];
    assert_eq!(
        pm.host_port,
        Some(80),
        "awsvpc hostPort is filled in from containerPort"
    );
}

#[test]
fn vcpu_and_gb_spellings_are_normalized() {
    let r = register(req(fargate("1 vCPU", "2 GB")), at()).unwrap();
    assert_eq!(r.definition.cpu.as_deref(), Some("1024"));
    assert_eq!(r.definition.memory.as_deref(), Some("2048"));
}

#[test]
fn invalid_fargate_sizes_are_rejected() {
    for (cpu, mem) in [
        ("256", "4096"),
        ("1024", "1024"),
        ("512", "512"),
        ("3000", "8192"),
    ] {
        let m = register_err(fargate(cpu, mem));
        assert!(
            m.starts_with("No Fargate configuration exists"),
            "{cpu}/{mem}: {m}"
        );
    }
    let m = register_err(fargate("lots", "512"));
    assert!(m.contains("Invalid 'cpu'"), "{m}");
}

#[test]
fn fargate_needs_awsvpc_and_task_sizes() {
    let mut v = fargate("256", "512");
    v["networkMode"] = json!("bridge");
    assert_eq!(
        register_err(v),
        "Fargate only supports network mode 'awsvpc'."
    );
    let mut v = fargate("256", "512");
    v.as_object_mut().unwrap().remove("cpu");
    assert!(register_err(v).contains("'cpu' be defined"));
    let mut v = fargate("256", "512");
    v.as_object_mut().unwrap().remove("memory");
    assert!(register_err(v).contains("'memory' be defined"));
}

#[test]
fn fargate_awslogs_needs_an_execution_role() {
    let mut v = fargate("256", "512");
    v["containerDefinitions"][0]["logConfiguration"] =
        json!({"logDriver": "awslogs", "options": {"awslogs-group": "g"}});
    assert!(register_err(v.clone()).contains("execution role ARN"));
    v["executionRoleArn"] = json!("arn:aws:iam::000000000000:role/ecsTaskExecutionRole");
    assert!(register(req(v), at()).is_ok());
}

#[test]
fn ec2_containers_need_memory_unless_the_task_has_it() {
    let v = json!({"family": "web", "containerDefinitions": [{"name": "a", "image": "x"}]});
    let m = register_err(v);
    assert!(
        m.contains("At least one of 'memory' or 'memoryReservation'"),
        "{m}"
    );
    let ok = json!({"family": "web", "memory": "512",
                    "containerDefinitions": [{"name": "a", "image": "x"}]});
    let r = register(req(ok), at()).unwrap();
    assert_eq!(r.definition.network_mode, Some(NetworkMode::Bridge));
    assert_eq!(
        r.definition.compatibilities,
        Some(vec![Compatibility::External, Compatibility::Ec2])
    );
    let soft = json!({"family": "web",
                      "containerDefinitions": [{"name": "a", "image": "x", "memory": 64,
                                                "memoryReservation": 128}]});
    assert!(register_err(soft).contains("memoryReservation"));
}

#[test]
fn container_names_are_unique_and_one_is_essential() {
    let dup = json!({"family": "web", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "x"}, {"name": "a", "image": "y"}]});
    assert!(register_err(dup).contains("unique"));
    let none = json!({"family": "web", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "x", "essential": false}]});
    assert!(register_err(none).contains("essential"));
    let no_image = json!({"family": "web", "memory": "512", "containerDefinitions": [
        {"name": "a"}]});
    assert_eq!(
        register_err(no_image),
        "Container.image should not be null or empty."
    );
}

#[test]
fn port_mappings_follow_the_network_mode() {
    let mut v = fargate("256", "512");
    v["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 80, "hostPort": 8080}]);
    assert_eq!(
        register_err(v),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match."
    );
    let host = json!({"family": "web", "networkMode": "host", "memory": "512",
        "containerDefinitions": [{"name": "a", "image": "x",
            "portMappings": [{"containerPort": 80, "hostPort": 81}]}]});
    assert!(register_err(host).contains("networkMode=host"));
    let bridge = json!({"family": "web", "memory": "512",
        "containerDefinitions": [{"name": "a", "image": "x",
            "portMappings": [{"containerPort": 80, "hostPort": 0}]}]});
    assert!(
        register(req(bridge), at()).is_ok(),
        "bridge allows dynamic host ports"
    );
    let none = json!({"family": "web", "networkMode": "none", "memory": "512",
        "containerDefinitions": [{"name": "a", "image": "x",
            "portMappings": [{"containerPort": 80}]}]});
    assert!(register_err(none).contains("'none'"));
}

#[test]
fn family_names_follow_the_pattern() {
    for bad in ["has space", "", "a/b", "x:1"] {
        let mut v = fargate("256", "512");
        v["family"] = json!(bad);
        assert!(register_err(v).starts_with("Family name"), "{bad:?}");
    }
}

#[test]
fn depends_on_must_name_real_containers_without_cycles() {
    let missing = json!({"family": "web", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "START"}]}]});
    assert!(register_err(missing).contains("'b'"));
    let cycle = json!({"family": "web", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "START"}]},
        {"name": "b", "image": "x", "dependsOn": [{"containerName": "a", "condition": "START"}]}]});
    assert!(register_err(cycle).contains("cycle"));
    let healthy = json!({"family": "web", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]},
        {"name": "b", "image": "x", "essential": false}]});
    assert!(register_err(healthy).contains("healthCheck"));
}

#[test]
fn mount_points_need_declared_volumes() {
    let v = json!({"family": "web", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "x", "mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}]}]});
    assert!(register_err(v.clone()).contains("sourceVolume 'data'"));
    let mut ok = v;
    ok["volumes"] = json!([{"name": "data", "host": {"sourcePath": "/tmp"}}]);
    assert!(register(req(ok), at()).is_ok());
}

#[test]
fn everything_registered_is_returned() {
    let v = json!({
        "family": "full", "taskRoleArn": "arn:aws:iam::000000000000:role/t",
        "executionRoleArn": "arn:aws:iam::000000000000:role/e", "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"], "cpu": "512", "memory": "1024",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 30},
        "containerDefinitions": [{"name": "a", "image": "x", "ulimits": [
            {"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
            "linuxParameters": {"initProcessEnabled": true},
            "dockerLabels": {"k": "v"}, "stopTimeout": 10,
            "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5}}]
    });
    let r = register(req(v.clone()), at()).unwrap();
    let out = serde_json::to_value(&r.definition).unwrap();
    for key in [
        "taskRoleArn",
        "executionRoleArn",
        "runtimePlatform",
        "ephemeralStorage",
    ] {
        assert_eq!(out[key], v[key], "{key}");
    }
    let mut expected = v["containerDefinitions"].clone();
    expected[0]["essential"] = json!(true);
    // What ECS fills in for members the request left out.
    expected[0]["cpu"] = json!(0);
    for empty in [
        "portMappings",
        "environment",
        "mountPoints",
        "volumesFrom",
        "systemControls",
    ] {
        expected[0][empty] = json!([]);
    }
    assert_eq!(out["containerDefinitions"], expected);
}

#[test]
fn fargate_shares_the_pid_namespace_only_within_the_task() {
    let mut v = fargate("256", "512");
    v["pidMode"] = json!("host");
    assert_eq!(
        register_err(v.clone()),
        "Tasks using the Fargate launch type do not support pidMode 'host'. The supported \
         value for pidMode is 'task'."
    );
    v["pidMode"] = json!("task");
    register(req(v.clone()), at()).expect("pidMode task is Fargate's");
    v["ipcMode"] = json!("task");
    assert_eq!(
        register_err(v),
        "Tasks using the Fargate launch type do not support ipcMode."
    );
    // Without FARGATE required, such a definition registers, for EC2 only.
    let mut ec2 = fargate("256", "512");
    ec2.as_object_mut()
        .unwrap()
        .remove("requiresCompatibilities");
    ec2["pidMode"] = json!("host");
    let r = register(req(ec2), at()).unwrap();
    assert_eq!(r.definition.compatibilities, Some(vec![Compatibility::Ec2]));
}

#[test]
fn omitted_container_members_come_back_as_aws_returns_them() {
    let mut v = fargate("256", "512");
    v["containerDefinitions"] = json!([{"name": "app", "image": "busybox"}]);
    v["volumes"] = json!([{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]);
    let d = register(req(v), at()).unwrap().definition;
    let c = serde_json::to_value(&d.container_definitions.as_ref().unwrap()[0]).unwrap();
    assert_eq!(c["cpu"], json!(0));
    for empty in [
        "portMappings",
        "environment",
        "mountPoints",
        "volumesFrom",
        "systemControls",
    ] {
        assert_eq!(c[empty], json!([]), "{empty}");
    }
    let volumes = serde_json::to_value(d.volumes.as_ref().unwrap()).unwrap();
    assert_eq!(
        volumes[0]["efsVolumeConfiguration"]["rootDirectory"],
        json!("/")
    );
}
