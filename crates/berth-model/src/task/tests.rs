//! Lifecycle tests: reports move a task forward only, stop requests and forced stops
//! keep ECS's timestamps and codes, and the wire shape carries what DescribeTasks shows.

use super::*;
use berth_api::agent::ContainerReport;

use crate::fixtures::task_record as task;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn report(status: &str) -> TaskStateReport {
    TaskStateReport {
        task_arn: "arn:aws:ecs:us-east-1:000000000000:task/c/t".into(),
        status: status.into(),
        ..Default::default()
    }
}

#[test]
fn reports_move_forward_and_stamp_times() {
    let mut t = task();
    let mut r = report("RUNNING");
    r.private_ipv4_address = Some("10.0.0.5".into());
    r.containers = vec![ContainerReport {
        name: "app".into(),
        status: "RUNNING".into(),
        runtime_id: Some("abc".into()),
        ..Default::default()
    }];
    let e = t.apply_report(&r, ts(110));
    assert!(e.changed && !e.stopped_now);
    assert_eq!(t.last_status, TaskStatus::Running);
    assert_eq!(t.started_at, Some(ts(110)));
    assert_eq!(t.version, 2);
    assert_eq!(t.containers[0].last_status, TaskStatus::Running);
    let wire = t.to_wire(false);
    assert_eq!(
        wire.attachments.unwrap()[0].status.as_deref(),
        Some("ATTACHED")
    );
    let c = &wire.containers.unwrap()[0];
    assert_eq!(
        c.network_interfaces.as_ref().unwrap()[0]
            .private_ipv4_address
            .as_deref(),
        Some("10.0.0.5")
    );

    let stale = t.apply_report(&report("PENDING"), ts(120));
    assert!(!stale.changed, "a stale report changes nothing");
    assert_eq!(t.last_status, TaskStatus::Running);
    assert_eq!(t.version, 2);
}

#[test]
fn stop_request_then_stopped_report_keeps_the_user_reason() {
    let mut t = task();
    t.apply_report(&report("RUNNING"), ts(110));
    assert!(t.request_stop(TaskStopCode::UserInitiated, "done", ts(120)));
    assert!(!t.request_stop(TaskStopCode::UserInitiated, "again", ts(121)));
    assert_eq!(t.desired_status, DesiredStatus::Stopped);
    let mut r = report("STOPPED");
    r.stop_code = Some(TaskStopCode::EssentialContainerExited);
    r.reason = Some("Essential container in task exited".into());
    r.containers = vec![ContainerReport {
        name: "app".into(),
        status: "STOPPED".into(),
        exit_code: Some(143),
        ..Default::default()
    }];
    let e = t.apply_report(&r, ts(130));
    assert!(e.stopped_now);
    assert_eq!(t.stop_code, Some(TaskStopCode::UserInitiated));
    assert_eq!(t.stopped_reason.as_deref(), Some("done"));
    assert_eq!(t.stopping_at, Some(ts(120)));
    assert_eq!(t.stopped_at, Some(ts(130)));
    assert_eq!(t.containers[0].exit_code, Some(143));
    assert!(t
        .containers
        .iter()
        .all(|c| c.last_status == TaskStatus::Stopped));
    assert!(!t.holds_resources());
    assert!(
        !t.apply_report(&r, ts(140)).stopped_now,
        "stopping twice gives back once"
    );
}

#[test]
fn an_exit_reported_by_the_agent_sets_its_code() {
    let mut t = task();
    let mut r = report("STOPPED");
    r.stop_code = Some(TaskStopCode::EssentialContainerExited);
    r.reason = Some("Essential container in task exited".into());
    t.apply_report(&r, ts(105));
    assert_eq!(t.stop_code, Some(TaskStopCode::EssentialContainerExited));
    assert_eq!(t.desired_status, DesiredStatus::Stopped);
}

#[test]
fn forced_stop_without_an_agent() {
    let mut t = task();
    assert!(t.force_stopped(
        TaskStopCode::TaskFailedToStart,
        "instance deregistered",
        ts(200)
    ));
    assert_eq!(t.last_status, TaskStatus::Stopped);
    assert_eq!(t.stopped_reason.as_deref(), Some("instance deregistered"));
    assert!(!t.force_stopped(TaskStopCode::TaskFailedToStart, "x", ts(201)));
}

#[test]
fn health_follows_essential_containers() {
    let mut t = task();
    assert_eq!(t.health_status(), HealthStatus::Unknown);
    t.containers[0].health_status = Some(HealthStatus::Healthy);
    t.containers[1].health_status = Some(HealthStatus::Unhealthy);
    assert_eq!(
        t.health_status(),
        HealthStatus::Healthy,
        "non-essential health is ignored"
    );
    t.containers[0].health_status = Some(HealthStatus::Unhealthy);
    assert_eq!(t.health_status(), HealthStatus::Unhealthy);
}

#[test]
fn fargate_tasks_show_no_container_instance() {
    let wire = task().to_wire(true);
    assert!(wire.container_instance_arn.is_none());
    assert_eq!(wire.last_status.as_deref(), Some("PROVISIONING"));
    assert_eq!(
        wire.attachments.unwrap()[0].status.as_deref(),
        Some("PRECREATED")
    );
    assert_eq!(wire.tags, Some(vec![]));
}

#[test]
fn exec_enabled_tasks_report_the_execute_command_agent_of_each_container() {
    let mut t = task();
    assert!(t.to_wire(false).containers.unwrap()[0]
        .managed_agents
        .is_none());
    t.enable_execute_command = true;
    let agent = |t: &TaskRecord| {
        t.to_wire(false).containers.unwrap()[0]
            .managed_agents
            .clone()
    };
    let pending = agent(&t).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].name, Some(ManagedAgentName::ExecuteCommandAgent));
    assert_eq!(pending[0].last_status.as_deref(), Some("PENDING"));
    assert_eq!(pending[0].last_started_at, None);
    t.started_at = Some(ts(150));
    t.containers[0].last_status = TaskStatus::Running;
    let running = agent(&t).unwrap();
    assert_eq!(running[0].last_status.as_deref(), Some("RUNNING"));
    assert_eq!(running[0].last_started_at, Some(ts(150)));
}
