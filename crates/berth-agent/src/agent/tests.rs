//! What the agent advertises against what task definitions require: every definition
//! the agent can run must place on it, and every one it cannot must be refused at
//! placement with the missing capability named.

use std::collections::BTreeSet;
use std::time::Duration;

use berth_api::agent::CapacityKind;
use berth_api::capability::{self, NOT_OFFERED};
use berth_api::ecs::{RegisterTaskDefinitionRequest, TaskDefinition, Timestamp};
use berth_model::task_definition::{register, Registration};
use serde_json::{json, Value};

use super::{register_request, AgentOptions};
use crate::config::AgentConfig;
use crate::plan::unsupported;

fn options(config: AgentConfig) -> AgentOptions {
    AgentOptions {
        server: "http://127.0.0.1:7430".into(),
        token: "t".into(),
        config,
        ec2: true,
        fargate: true,
        cpu: 2048,
        memory_mib: 4096,
        gpu_ids: vec![],
        docker_version: None,
        state_file: None,
        poll_interval: Duration::from_secs(5),
        heartbeat_interval: Duration::from_secs(10),
        ca_pem: None,
    }
}

/// The names a registration of `kind` with `config` advertises.
fn advertised(config: AgentConfig, kind: CapacityKind) -> BTreeSet<String> {
    register_request(&options(config), kind, None)
        .attributes
        .into_iter()
        .map(|a| a.name)
        .collect()
}

fn registered(body: Value) -> TaskDefinition {
    let req: RegisterTaskDefinitionRequest =
        serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body}"));
    register(
        req,
        Registration {
            arn: "arn:aws:ecs:us-east-1:000000000000:task-definition/f:1".into(),
            revision: 1,
            registered_at: Timestamp::from_secs(0),
            registered_by: "arn:aws:iam::000000000000:root",
        },
    )
    .unwrap_or_else(|e| panic!("{e:?}: {body}"))
    .definition
}

fn required(def: &TaskDefinition) -> BTreeSet<String> {
    def.requires_attributes
        .iter()
        .flatten()
        .map(|a| a.name.clone())
        .collect()
}

/// The task definition the ECS console creates by default for Fargate: awslogs with
/// `awslogs-create-group`, an execution role, a task role, a named port mapping, and
/// the empty lists the console sends.
pub(crate) fn console_fargate_default() -> Value {
    json!({
        "family": "console-default",
        "taskRoleArn": "arn:aws:iam::000000000000:role/ecsTaskRole",
        "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "3072",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [{
            "name": "web", "image": "127.0.0.1:7430/web:latest", "cpu": 0, "essential": true,
            "portMappings": [{"name": "web-80-tcp", "containerPort": 80, "hostPort": 80,
                              "protocol": "tcp", "appProtocol": "http"}],
            "environment": [], "environmentFiles": [], "mountPoints": [], "volumesFrom": [],
            "ulimits": [], "systemControls": [],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/console-default", "mode": "non-blocking",
                "awslogs-create-group": "true", "max-buffer-size": "25m",
                "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"},
                "secretOptions": []}
        }]
    })
}

/// One task definition per feature that computes a requirement, each with the smallest
/// body that uses it.
fn catalogue() -> Vec<(&'static str, Value)> {
    let one = |container: Value, extra: Value| {
        let mut body = json!({"family": "f", "containerDefinitions": [container]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let base = || json!({"name": "c", "image": "busybox", "memory": 64});
    let with = |extra: Value| {
        let mut c = base();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let fargate = json!({"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                         "cpu": "256", "memory": "512",
                         "executionRoleArn": "arn:aws:iam::000000000000:role/exec"});
    let awslogs = json!({"logDriver": "awslogs", "options": {"awslogs-group": "g"}});
    vec![
        (
            "console's default Fargate definition",
            console_fargate_default(),
        ),
        ("plain", one(base(), json!({}))),
        ("awsvpc", one(base(), json!({"networkMode": "awsvpc"}))),
        (
            "task role",
            one(
                base(),
                json!({"taskRoleArn": "arn:aws:iam::000000000000:role/r"}),
            ),
        ),
        (
            "awslogs",
            one(with(json!({"logConfiguration": awslogs})), json!({})),
        ),
        (
            "awslogs with an execution role on Fargate",
            one(with(json!({"logConfiguration": awslogs})), fargate.clone()),
        ),
        (
            "json-file",
            one(
                with(json!({"logConfiguration": {"logDriver": "json-file"}})),
                json!({}),
            ),
        ),
        (
            "memoryReservation",
            one(with(json!({"memoryReservation": 32})), json!({})),
        ),
        (
            "healthCheck",
            one(
                with(json!({"healthCheck": {"command": ["CMD", "true"]}})),
                json!({}),
            ),
        ),
        (
            "dependsOn",
            json!({"family": "f", "containerDefinitions": [
            with(json!({"dependsOn": [{"containerName": "d", "condition": "START"}]})),
            {"name": "d", "image": "busybox", "memory": 64, "essential": false}]}),
        ),
        (
            "linuxParameters init",
            one(
                with(json!({"linuxParameters": {"initProcessEnabled": true}})),
                json!({}),
            ),
        ),
        (
            "environmentFiles",
            one(
                with(json!({"environmentFiles": [{"type": "s3", "value": "/etc/env"}]})),
                json!({}),
            ),
        ),
        (
            "Docker volume",
            json!({"family": "f",
            "volumes": [{"name": "v", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}],
            "containerDefinitions": [with(json!({"mountPoints": [{"sourceVolume": "v", "containerPath": "/v"}]}))]}),
        ),
        (
            "secrets from Secrets Manager",
            one(
                with(json!({"secrets": [{"name": "S",
            "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:s-AbCdEf"}]})),
                json!({}),
            ),
        ),
        (
            "secrets from SSM",
            one(
                with(json!({"secrets": [{"name": "S", "valueFrom": "/app/db"}]})),
                json!({}),
            ),
        ),
        (
            "log driver secrets",
            one(
                with(json!({"logConfiguration": {"logDriver": "awslogs",
            "options": {"awslogs-group": "g"}, "secretOptions": [{"name": "k", "valueFrom": "/p"}]}})),
                json!({}),
            ),
        ),
        (
            "repositoryCredentials",
            one(
                with(json!({"repositoryCredentials": {"credentialsParameter":
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:r-AbCdEf"}})),
                json!({}),
            ),
        ),
        (
            "EFS volume",
            json!({"family": "f",
            "volumes": [{"name": "e", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}],
            "containerDefinitions": [base()]}),
        ),
        (
            "EFS access point",
            json!({"family": "f",
            "volumes": [{"name": "e", "efsVolumeConfiguration": {"fileSystemId": "fs-1",
                "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": "fsap-1", "iam": "ENABLED"}}}],
            "containerDefinitions": [base()]}),
        ),
        (
            "FireLens",
            json!({"family": "f", "containerDefinitions": [
            with(json!({"name": "router", "firelensConfiguration": {"type": "fluentbit"}})),
            with(json!({"name": "app", "logConfiguration": {"logDriver": "awsfirelens"}}))]}),
        ),
        (
            "restartPolicy",
            one(with(json!({"restartPolicy": {"enabled": true}})), json!({})),
        ),
        ("pidMode", one(base(), json!({"pidMode": "host"}))),
        ("ipcMode", one(base(), json!({"ipcMode": "host"}))),
    ]
}

#[test]
fn every_definition_the_agent_can_run_places_and_every_other_is_refused_by_name() {
    for kind in [CapacityKind::Ec2, CapacityKind::Fargate] {
        let offered = advertised(AgentConfig::default(), kind);
        for (label, body) in catalogue() {
            let def = registered(body);
            let missing: Vec<_> = required(&def).difference(&offered).cloned().collect();
            let refusal = unsupported(&def);
            assert_eq!(
                missing.is_empty(),
                refusal.is_none(),
                "{label} ({kind:?}): placement would miss {missing:?}, the agent says {refusal:?}"
            );
            for name in &missing {
                assert!(
                    NOT_OFFERED.iter().any(|(n, _)| n == name),
                    "{label}: {name} is required, not advertised, and not listed as not offered"
                );
            }
        }
    }
}

#[test]
fn the_console_default_fargate_definition_requires_what_the_agent_offers() {
    let def = registered(console_fargate_default());
    let needs = required(&def);
    for name in [
        capability::EXECUTION_ROLE_AWSLOGS,
        capability::TASK_IAM_ROLE,
        capability::TASK_ENI,
    ] {
        assert!(needs.contains(name), "{name} not required: {needs:?}");
    }
    let offered = advertised(AgentConfig::default(), CapacityKind::Fargate);
    let missing: Vec<_> = needs.difference(&offered).collect();
    assert!(missing.is_empty(), "not offered: {missing:?}");
}

#[test]
fn a_driver_left_out_of_ecs_available_logging_drivers_is_not_offered() {
    let config = AgentConfig {
        logging_drivers: vec!["json-file".into()],
        task_iam_role: false,
        ..AgentConfig::default()
    };
    let offered = advertised(config, CapacityKind::Ec2);
    let def = registered(console_fargate_default());
    let missing: BTreeSet<_> = required(&def).difference(&offered).cloned().collect();
    assert_eq!(
        missing,
        BTreeSet::from([
            capability::logging_driver("awslogs"),
            capability::EXECUTION_ROLE_AWSLOGS.to_string(),
            capability::TASK_IAM_ROLE.to_string(),
        ])
    );
}
