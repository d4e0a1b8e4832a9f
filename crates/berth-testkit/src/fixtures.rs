//! Task definitions shaped like the ones in the seed guides.

use serde_json::{json, Value};

/// A Fargate task definition (awsvpc, 256 CPU units, 512 MiB) with one web container.
pub fn task_definition(family: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": "busybox",
            "essential": true,
            "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "COORDINATOR"}]
        }]
    })
}

/// A bridge-mode EC2 task definition with a fixed host port and 128 MiB per task.
pub fn ec2_task_definition(family: &str, host_port: u16) -> Value {
    json!({
        "family": family,
        "containerDefinitions": [{
            "name": "web",
            "image": "busybox",
            "memory": 128,
            "cpu": 256,
            "essential": true,
            "portMappings": [{"containerPort": 80, "hostPort": host_port}]
        }]
    })
}

/// An awsvpc network configuration as the seed's run-task passes it.
pub fn awsvpc() -> Value {
    json!({"awsvpcConfiguration": {"subnets": ["subnet-0abc"], "securityGroups": ["sg-0abc"],
                                   "assignPublicIp": "ENABLED"}})
}
