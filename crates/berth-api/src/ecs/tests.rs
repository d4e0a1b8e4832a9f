//! Wire-format tests: requests as the AWS CLI sends them, responses as it expects them.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::*;

/// A Fargate task definition as `aws ecs register-task-definition --cli-input-json` sends it.
fn fargate_register_task_definition() -> Value {
    json!({
        "family": "web",
        "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "volumes": [{"name": "scratch"}],
        "containerDefinitions": [
            {
                "name": "web",
                "image": "public.ecr.aws/nginx/nginx:1.27",
                "essential": true,
                "portMappings": [
                    {"name": "http", "containerPort": 80, "hostPort": 80, "protocol": "tcp",
                     "appProtocol": "http"}
                ],
                "environment": [
                    {"name": "MODE", "value": "production"},
                    {"name": "PORT", "value": "80"}
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-create-group": "true",
                        "awslogs-group": "/ecs/web",
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "web"
                    }
                },
                "healthCheck": {
                    "command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                    "interval": 30,
                    "timeout": 5,
                    "retries": 3,
                    "startPeriod": 10
                },
                "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
                "mountPoints": [
                    {"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": false}
                ],
                "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
                "linuxParameters": {
                    "initProcessEnabled": true,
                    "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}
                },
                "stopTimeout": 30
            },
            {
                "name": "init",
                "image": "public.ecr.aws/docker/library/busybox:1.36",
                "essential": false,
                "command": ["sh", "-c", "echo ready > /scratch/ready"],
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}]
            }
        ],
        "tags": [{"key": "team", "value": "platform"}]
    })
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[test]
fn register_task_definition_round_trips() {
    let sent = fargate_register_task_definition();
    let request: RegisterTaskDefinitionRequest = parse(sent.clone()).unwrap();

    assert_eq!(request.family, "web");
    assert_eq!(request.network_mode, Some(NetworkMode::Awsvpc));
    assert_eq!(
        request.requires_compatibilities,
        Some(vec![Compatibility::Fargate])
    );
    assert_eq!(request.cpu.as_deref(), Some("256"));
    assert_eq!(request.memory.as_deref(), Some("512"));
    let web = &request.container_definitions[0];
    assert_eq!(web.port_mappings.as_ref().unwrap()[0].host_port, Some(80));
    assert_eq!(
        web.port_mappings.as_ref().unwrap()[0].protocol,
        Some(TransportProtocol::Tcp)
    );
    let logs = web.log_configuration.as_ref().unwrap();
    assert_eq!(logs.log_driver, LogDriver::Awslogs);
    assert_eq!(
        logs.options.as_ref().unwrap()["awslogs-group"],
        "/ecs/web".to_owned()
    );
    assert_eq!(
        web.depends_on.as_ref().unwrap()[0].condition,
        ContainerCondition::Success
    );
    assert_eq!(web.ulimits.as_ref().unwrap()[0].name, UlimitName::Nofile);
    assert_eq!(web.health_check.as_ref().unwrap().retries, Some(3));
    assert_eq!(
        web.linux_parameters.as_ref().unwrap().init_process_enabled,
        Some(true)
    );

    assert_eq!(serde_json::to_value(&request).unwrap(), sent);
}

#[test]
fn unknown_member_is_an_error_naming_it() {
    let mut sent = fargate_register_task_definition();
    sent["famly"] = json!("typo");
    let error = parse::<RegisterTaskDefinitionRequest>(sent).unwrap_err();
    assert!(error.contains("unknown field `famly`"), "{error}");

    let mut sent = fargate_register_task_definition();
    sent["containerDefinitions"][0]["portMappings"][0]["hostPorts"] = json!(80);
    let error = parse::<RegisterTaskDefinitionRequest>(sent).unwrap_err();
    assert!(error.contains("unknown field `hostPorts`"), "{error}");
}

#[test]
fn missing_required_member_is_an_error_naming_it() {
    let mut sent = fargate_register_task_definition();
    sent.as_object_mut().unwrap().remove("containerDefinitions");
    let error = parse::<RegisterTaskDefinitionRequest>(sent).unwrap_err();
    assert!(
        error.contains("missing field `containerDefinitions`"),
        "{error}"
    );

    let mut sent = fargate_register_task_definition();
    sent["containerDefinitions"][0]["healthCheck"]
        .as_object_mut()
        .unwrap()
        .remove("command");
    let error = parse::<RegisterTaskDefinitionRequest>(sent).unwrap_err();
    assert!(error.contains("missing field `command`"), "{error}");
}

#[test]
fn undefined_enum_value_is_an_error_listing_the_valid_ones() {
    let mut sent = fargate_register_task_definition();
    sent["networkMode"] = json!("bogus");
    let error = parse::<RegisterTaskDefinitionRequest>(sent).unwrap_err();
    assert!(error.contains("unknown variant `bogus`"), "{error}");
    assert!(error.contains("`awsvpc`"), "{error}");

    // Enum values are case-sensitive, as in AWS.
    let mut sent = fargate_register_task_definition();
    sent["requiresCompatibilities"] = json!(["fargate"]);
    let error = parse::<RegisterTaskDefinitionRequest>(sent).unwrap_err();
    assert!(error.contains("unknown variant `fargate`"), "{error}");
}

#[test]
fn run_task_with_overrides_and_awsvpc_parses() {
    let sent = json!({
        "cluster": "default",
        "taskDefinition": "web:3",
        "count": 2,
        "launchType": "FARGATE",
        "startedBy": "ci",
        "propagateTags": "TASK_DEFINITION",
        "enableExecuteCommand": false,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-0123456789abcdef0"],
                "securityGroups": ["sg-0123456789abcdef0"],
                "assignPublicIp": "ENABLED"
            }
        },
        "overrides": {
            "containerOverrides": [{
                "name": "web",
                "command": ["nginx", "-g", "daemon off;"],
                "environment": [{"name": "MODE", "value": "debug"}],
                "cpu": 128,
                "memory": 256
            }],
            "cpu": "512",
            "memory": "1024",
            "taskRoleArn": "arn:aws:iam::123456789012:role/web-debug"
        },
        "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    });
    let request: RunTaskRequest = parse(sent.clone()).unwrap();

    assert_eq!(request.task_definition, "web:3");
    assert_eq!(request.count, Some(2));
    assert_eq!(request.launch_type, Some(LaunchType::Fargate));
    let awsvpc = request
        .network_configuration
        .as_ref()
        .and_then(|n| n.awsvpc_configuration.as_ref())
        .unwrap();
    assert_eq!(awsvpc.subnets, ["subnet-0123456789abcdef0"]);
    assert_eq!(awsvpc.assign_public_ip, Some(AssignPublicIp::Enabled));
    let overrides = request.overrides.as_ref().unwrap();
    let web = &overrides.container_overrides.as_ref().unwrap()[0];
    assert_eq!(web.name.as_deref(), Some("web"));
    assert_eq!(web.cpu, Some(128));
    assert_eq!(overrides.cpu.as_deref(), Some("512"));
    let strategy = &request.placement_strategy.as_ref().unwrap()[0];
    assert_eq!(strategy.r#type, Some(PlacementStrategyType::Spread));

    assert_eq!(serde_json::to_value(&request).unwrap(), sent);
}

#[test]
fn describe_tasks_response_has_numeric_timestamps_and_no_absent_members() {
    let response = DescribeTasksResponse {
        tasks: Some(vec![Task {
            task_arn: Some("arn:aws:ecs:us-east-1:123456789012:task/default/abc".into()),
            cluster_arn: Some("arn:aws:ecs:us-east-1:123456789012:cluster/default".into()),
            task_definition_arn: Some(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3".into(),
            ),
            last_status: Some("RUNNING".into()),
            desired_status: Some("RUNNING".into()),
            launch_type: Some(LaunchType::Fargate),
            cpu: Some("256".into()),
            memory: Some("512".into()),
            created_at: Some(Timestamp::from_millis(1_700_000_000_123)),
            started_at: Some(Timestamp::from_secs(1_700_000_005)),
            version: 2,
            containers: Some(vec![Container {
                name: Some("web".into()),
                last_status: Some("RUNNING".into()),
                network_bindings: Some(vec![NetworkBinding {
                    bind_ip: Some("0.0.0.0".into()),
                    container_port: Some(80),
                    host_port: Some(32768),
                    protocol: Some(TransportProtocol::Tcp),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
        failures: None,
    };

    let sent = serde_json::to_value(&response).unwrap();
    assert_eq!(
        sent,
        json!({
            "tasks": [{
                "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/default/abc",
                "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/default",
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
                "lastStatus": "RUNNING",
                "desiredStatus": "RUNNING",
                "launchType": "FARGATE",
                "cpu": "256",
                "memory": "512",
                "createdAt": 1_700_000_000.123,
                "startedAt": 1_700_000_005,
                "enableExecuteCommand": false,
                "version": 2,
                "containers": [{
                    "name": "web",
                    "lastStatus": "RUNNING",
                    "networkBindings": [
                        {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 32768,
                         "protocol": "tcp"}
                    ]
                }]
            }]
        })
    );
    assert!(sent["tasks"][0]["createdAt"].is_number());

    // Clients read responses leniently: members this model does not know are ignored.
    let mut newer = sent.clone();
    newer["tasks"][0]["someFutureMember"] = json!(true);
    let parsed: DescribeTasksResponse = parse(newer).unwrap();
    assert_eq!(parsed, response);
}

#[test]
fn output_counts_are_always_sent() {
    let sent = serde_json::to_value(Cluster {
        cluster_name: Some("default".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        sent,
        json!({
            "clusterName": "default",
            "registeredContainerInstancesCount": 0,
            "runningTasksCount": 0,
            "pendingTasksCount": 0,
            "activeServicesCount": 0
        })
    );
}

#[test]
fn empty_requests_and_responses() {
    let request: ListClustersRequest = parse(json!({})).unwrap();
    assert_eq!(request, ListClustersRequest::default());
    assert_eq!(
        serde_json::to_string(&TagResourceResponse {}).unwrap(),
        "{}"
    );
}

#[test]
fn timestamp_accepts_integers_and_floats_and_serializes_a_number() {
    let t: Timestamp = serde_json::from_str("1700000000").unwrap();
    assert_eq!(t, Timestamp::from_secs(1_700_000_000));
    let t: Timestamp = serde_json::from_str("1700000000.25").unwrap();
    assert_eq!(t.as_millis(), 1_700_000_000_250);
    assert_eq!(serde_json::to_string(&t).unwrap(), "1700000000.25");
    let whole = Timestamp::from_secs(1_700_000_000);
    assert_eq!(serde_json::to_string(&whole).unwrap(), "1700000000");

    let error = serde_json::from_str::<Timestamp>("\"2023-11-14T22:13:20Z\"").unwrap_err();
    assert!(
        error.to_string().contains("seconds since the Unix epoch"),
        "{error}"
    );

    assert_eq!(Timestamp::try_from_secs_f64(f64::NAN), None);
    let system = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    assert_eq!(Timestamp::from(system).as_millis(), 1_700_000_000_123);
    assert_eq!(
        Timestamp::from_secs(-5).to_system_time(),
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(5))
    );
}

#[test]
fn enums_print_and_parse_their_wire_spelling() {
    assert_eq!(LaunchType::Fargate.as_str(), "FARGATE");
    assert_eq!(NetworkMode::Awsvpc.to_string(), "awsvpc");
    assert_eq!(CPUArchitecture::X86_64.as_str(), "X86_64");
    assert_eq!(LogDriver::JsonFile.as_str(), "json-file");
    assert_eq!("EC2".parse::<Compatibility>(), Ok(Compatibility::Ec2));
    assert_eq!(NetworkMode::ALL.len(), 4);

    let error = "ec2".parse::<LaunchType>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "`ec2` is not a valid LaunchType; valid values are: EC2, FARGATE, EXTERNAL, \
         MANAGED_INSTANCES"
    );
}

#[test]
fn operation_from_target_header() {
    assert_eq!(
        Operation::from_target("AmazonEC2ContainerServiceV20141113.RunTask"),
        Some(Operation::RunTask)
    );
    assert_eq!(
        Operation::from_target("AmazonEC2ContainerServiceV20141113.StopServiceDeployment"),
        None
    );
    assert_eq!(Operation::from_target("Logs_20140328.PutLogEvents"), None);
    assert_eq!(Operation::ALL.len(), 56);
}
