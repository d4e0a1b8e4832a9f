//! Ready-made records for tests in this and other crates (feature `fixtures`): a
//! Fargate task with an essential and a non-essential container, freshly placed.

use berth_api::ecs::{LaunchType, TaskOverride, Timestamp};

use crate::container_instance::Reservation;
use crate::status::{DesiredStatus, TaskStatus};
use crate::tags::Tags;
use crate::task::{ContainerRecord, Placement, TaskEni, TaskRecord};

/// A container of the fixture task.
pub fn container(name: &str, essential: bool) -> ContainerRecord {
    ContainerRecord {
        name: name.into(),
        arn: format!("arn:aws:ecs:us-east-1:000000000000:container/c/t/{name}"),
        image: "busybox".into(),
        essential,
        last_status: TaskStatus::Pending,
        runtime_id: None,
        image_digest: None,
        exit_code: None,
        reason: None,
        network_bindings: vec![],
        health_status: None,
        cpu: None,
        memory: Some(128),
        memory_reservation: None,
        gpu_ids: vec![],
    }
}

/// A freshly placed Fargate task (PROVISIONING, awsvpc) in cluster `c`.
pub fn task_record() -> TaskRecord {
    TaskRecord {
        id: "t".into(),
        arn: "arn:aws:ecs:us-east-1:000000000000:task/c/t".into(),
        cluster: "c".into(),
        cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/c".into(),
        task_definition_arn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into(),
        family: "web".into(),
        launch_type: LaunchType::Fargate,
        capacity_provider_name: None,
        platform_version: Some("1.4.0".into()),
        placement: Placement {
            instance_cluster: String::new(),
            instance_id: "i".into(),
            instance_arn: "arn:i".into(),
            fargate_pool: true,
        },
        reserved: Reservation::default(),
        last_status: TaskStatus::Provisioning,
        desired_status: DesiredStatus::Running,
        cpu: Some("256".into()),
        memory: Some("512".into()),
        containers: vec![container("app", true), container("side", false)],
        overrides: TaskOverride::default(),
        group: None,
        started_by: None,
        tags: Tags::new(),
        eni: Some(TaskEni {
            attachment_id: "att".into(),
            eni_id: "eni-1".into(),
            subnet_id: "subnet-1".into(),
            mac_address: "02:00:00:00:00:01".into(),
            private_ipv4_address: None,
        }),
        availability_zone: None,
        enable_execute_command: false,
        created_at: Timestamp::from_secs(100),
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        connectivity_at: None,
        stopping_at: None,
        execution_stopped_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        version: 1,
        protected_until: None,
    }
}
