//! The rollout diff by scenario, and a simulated rolling deployment checked for ECS's
//! bounds at every step over random sizes and percentages.

use super::*;
use proptest::prelude::*;

fn task(arn: &str, deployment: &str, phase: Phase, healthy: bool) -> TaskState {
    TaskState {
        arn: arn.into(),
        deployment: deployment.into(),
        instance: Some("i-1".into()),
        phase,
        healthy,
        unhealthy: false,
        instance_draining: false,
        protected: false,
    }
}

fn protected(arn: &str, deployment: &str) -> TaskState {
    TaskState {
        protected: true,
        ..running(arn, deployment)
    }
}

fn running(arn: &str, deployment: &str) -> TaskState {
    task(arn, deployment, Phase::Running, true)
}

fn limits(desired: u32, min: u32, max: u32) -> Limits {
    Limits {
        desired,
        minimum_healthy_percent: min,
        maximum_percent: max,
    }
}

fn stopped(step: &Step) -> Vec<&str> {
    let mut arns: Vec<&str> = step.stop.iter().map(|(a, _)| a.as_str()).collect();
    arns.sort();
    arns
}

#[test]
fn scale_in_passes_over_protected_tasks() {
    let tasks = [
        protected("a", "d1"),
        running("b", "d1"),
        protected("c", "d1"),
    ];
    let step = replica_step(limits(1, 100, 200), "d1", true, &tasks);
    assert_eq!(stopped(&step), ["b"], "only the unprotected task goes");
    let step = replica_step(limits(0, 100, 200), "d1", true, &tasks);
    assert_eq!(
        stopped(&step),
        ["b"],
        "even scaled to zero, protected tasks stay"
    );
}

#[test]
fn a_deployment_waits_for_protected_old_tasks_but_health_checks_do_not() {
    let tasks = [protected("old", "d1"), running("new", "d2")];
    let step = replica_step(limits(1, 0, 200), "d2", true, &tasks);
    assert!(
        step.stop.is_empty(),
        "the protected old task is kept: {step:?}"
    );
    assert!(
        !is_steady(1, "d2", &tasks),
        "the deployment has not finished"
    );
    let failing = TaskState {
        unhealthy: true,
        healthy: false,
        ..protected("cur", "d2")
    };
    let step = replica_step(limits(1, 100, 200), "d2", true, &[failing]);
    assert_eq!(
        stopped(&step),
        ["cur"],
        "a failing protected task is replaced"
    );
}

#[test]
fn percentages_round_as_ecs_does() {
    assert_eq!(limits(3, 50, 200).minimum_healthy(), 2, "1.5 rounds up");
    assert_eq!(limits(3, 150, 150).maximum(), 4, "4.5 rounds down");
    assert_eq!(limits(0, 100, 200).maximum(), 0);
}

#[test]
fn a_new_service_starts_its_desired_count() {
    let step = replica_step(limits(3, 100, 200), "d1", true, &[]);
    assert_eq!((step.start, step.stop.len()), (3, 0));
}

#[test]
fn a_stopped_task_is_replaced_and_nothing_more_starts() {
    let tasks = [running("a", "d1"), running("b", "d1")];
    let step = replica_step(limits(3, 100, 200), "d1", true, &tasks);
    assert_eq!(
        step,
        Step {
            start: 1,
            ..Step::default()
        }
    );
    assert!(replica_step(limits(2, 100, 200), "d1", true, &tasks).is_empty());
    assert!(is_steady(2, "d1", &tasks));
}

#[test]
fn a_rolling_deployment_surges_then_stops_old_tasks_once_new_ones_are_healthy() {
    let l = limits(2, 100, 200);
    let old = [running("o1", "d1"), running("o2", "d1")];
    // Nothing old may stop (100% must stay healthy); two new start (200% allows 4).
    let step = replica_step(l, "d2", true, &old);
    assert_eq!((step.start, step.stop.len()), (2, 0));
    // New tasks pending: wait.
    let mut tasks = old.to_vec();
    tasks.push(task("n1", "d2", Phase::Pending, false));
    tasks.push(task("n2", "d2", Phase::Pending, false));
    assert!(replica_step(l, "d2", true, &tasks).is_empty());
    // One new task healthy: one old may stop.
    tasks[2] = running("n1", "d2");
    let step = replica_step(l, "d2", true, &tasks);
    assert_eq!(step.stop.len(), 1);
    assert_eq!(step.start, 0);
    // Both healthy: both old stop.
    tasks[3] = running("n2", "d2");
    assert_eq!(stopped(&replica_step(l, "d2", true, &tasks)), ["o1", "o2"]);
    assert!(!is_steady(2, "d2", &tasks));
    assert!(is_steady(2, "d2", &tasks[2..]));
}

#[test]
fn without_surge_room_old_tasks_stop_first_within_minimum_healthy() {
    // min 50%, max 100%: one old task may go before anything new starts.
    let l = limits(2, 50, 100);
    let old = [running("o1", "d1"), running("o2", "d1")];
    let step = replica_step(l, "d2", true, &old);
    assert_eq!(step.stop.len(), 1);
    assert_eq!(step.start, 1, "the stopped task's room is used at once");
}

#[test]
fn unhealthy_tasks_are_replaced_and_old_tasks_that_never_became_healthy_go_at_once() {
    let mut sick = running("c", "d2");
    sick.healthy = false;
    sick.unhealthy = true;
    let tasks = [
        sick,
        running("ok", "d2"),
        task("stuck", "d1", Phase::Pending, false),
    ];
    let step = replica_step(limits(2, 100, 200), "d2", true, &tasks);
    assert_eq!(stopped(&step), ["c", "stuck"]);
    assert_eq!(step.stop[0].1, StopReason::Unhealthy);
    assert_eq!(step.start, 1);
}

#[test]
fn scaling_down_stops_the_least_ready_tasks_and_zero_stops_all() {
    let tasks = [
        running("a", "d1"),
        task("p", "d1", Phase::Pending, false),
        running("b", "d1"),
    ];
    let step = replica_step(limits(2, 100, 200), "d1", true, &tasks);
    assert_eq!(step.stop, [("p".to_string(), StopReason::ScaleDown)]);
    let step = replica_step(limits(0, 100, 200), "d1", true, &tasks);
    assert_eq!(stopped(&step), ["a", "b", "p"]);
    assert_eq!(step.start, 0);
    // Also when the deployment has failed and launches nothing.
    assert_eq!(
        replica_step(limits(0, 100, 200), "d1", false, &tasks)
            .stop
            .len(),
        3
    );
}

#[test]
fn tasks_on_a_draining_instance_move_before_they_stop() {
    let mut leaving = running("x", "d1");
    leaving.instance_draining = true;
    let tasks = [leaving.clone(), running("y", "d1")];
    let step = replica_step(limits(2, 100, 200), "d1", true, &tasks);
    assert_eq!((step.start, step.stop.len()), (1, 0), "replacement first");
    let tasks = [leaving, running("y", "d1"), running("z", "d1")];
    let step = replica_step(limits(2, 100, 200), "d1", true, &tasks);
    assert_eq!(step.stop, [("x".to_string(), StopReason::InstanceDraining)]);
}

#[test]
fn a_failed_deployment_without_rollback_starts_and_replaces_nothing() {
    let tasks = [running("o1", "d1")];
    assert!(replica_step(limits(2, 100, 200), "d2", false, &tasks).is_empty());
}

#[test]
fn the_circuit_breaker_threshold_is_half_the_desired_count_within_3_and_200() {
    assert_eq!(circuit_breaker_threshold(1), 3);
    assert_eq!(circuit_breaker_threshold(10), 5);
    assert_eq!(circuit_breaker_threshold(11), 6);
    assert_eq!(circuit_breaker_threshold(1000), 200);
}

#[test]
fn a_daemon_runs_one_task_per_usable_instance_and_replaces_stop_first() {
    let instances: BTreeSet<String> = ["i-1", "i-2", "i-3"].map(String::from).into();
    let on = |arn: &str, deployment: &str, instance: &str| TaskState {
        instance: Some(instance.into()),
        ..running(arn, deployment)
    };
    let tasks = [
        on("a", "d2", "i-1"),
        on("dup", "d2", "i-1"),
        on("old", "d1", "i-2"),
        on("gone", "d2", "i-9"),
    ];
    let step = daemon_step(&instances, "d2", true, &tasks);
    assert_eq!(step.start_on, ["i-3"]);
    assert_eq!(stopped(&step), ["dup", "gone", "old"]);
    let reasons: BTreeMap<&str, StopReason> =
        step.stop.iter().map(|(a, r)| (a.as_str(), *r)).collect();
    assert_eq!(reasons["gone"], StopReason::InstanceDraining);
    assert_eq!(reasons["old"], StopReason::Replaced);
}

/// A cluster that runs what a step says: started tasks are pending for a step, then
/// healthy; stopped tasks are gone by the next step.
fn simulate(l: Limits, old_count: u32) -> Result<usize, TestCaseError> {
    let mut tasks: Vec<TaskState> = (0..old_count)
        .map(|i| running(&format!("old-{i}"), "d1"))
        .collect();
    let mut minted = 0;
    for steps in 0..200 {
        if is_steady(l.desired, "d2", &tasks) {
            return Ok(steps);
        }
        let healthy_before = tasks.iter().filter(|t| t.healthy).count() as u32;
        let step = replica_step(l, "d2", true, &tasks);
        let stopping: BTreeSet<&str> = step.stop.iter().map(|(a, _)| a.as_str()).collect();
        let mut next: Vec<TaskState> = tasks
            .iter()
            .filter(|t| !stopping.contains(t.arn.as_str()))
            .cloned()
            .collect();
        let healthy_after = next.iter().filter(|t| t.healthy).count() as u32;
        prop_assert!(
            healthy_after >= l.minimum_healthy().min(healthy_before),
            "healthy went from {healthy_before} to {healthy_after} below {}",
            l.minimum_healthy()
        );
        prop_assert!(
            step.start == 0 || next.len() as u32 + step.start <= l.maximum(),
            "{} tasks and {} starting exceed {}",
            next.len(),
            step.start,
            l.maximum()
        );
        for t in &mut next {
            t.phase = Phase::Running;
            t.healthy = true;
        }
        for _ in 0..step.start {
            minted += 1;
            next.push(task(&format!("new-{minted}"), "d2", Phase::Pending, false));
        }
        tasks = next;
    }
    Err(TestCaseError::fail(format!(
        "{l:?} never reached a steady state"
    )))
}

proptest! {
    #[test]
    fn rolling_deployments_stay_within_their_bounds_and_finish(
        desired in 0u32..30,
        min in 0u32..=100,
        max in 100u32..=200,
        old in 0u32..30,
    ) {
        let l = limits(desired, min, max);
        // With no room to surge and none to shrink, ECS cannot deploy either.
        prop_assume!(desired == 0 || l.maximum() > l.minimum_healthy());
        simulate(l, old)?;
    }
}
