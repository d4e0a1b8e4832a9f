"""Services and container instances, with fake EC2 agents: a DAEMON service runs one task
on each ACTIVE instance, leaves an instance that is set to DRAINING and follows a new one;
a REPLICA service moves its tasks off a DRAINING instance, replacements first."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from conftest import Berth, FakeInstances, client_error, ec2_task_definition, error_code, eventually, unique


@pytest.fixture(scope="module")
def live_berth(berth_factory: Any) -> Berth:
    """A server of this module's own, so its services and instances touch no other test."""
    return berth_factory()


@pytest.fixture
def instances(live_berth: Berth) -> Iterator[FakeInstances]:
    cluster = unique("hosts")
    live_berth.client().create_cluster(clusterName=cluster)
    fleet = FakeInstances(live_berth, cluster)
    try:
        yield fleet
    finally:
        fleet.stop_all()


def placement(ecs: Any, cluster: str, service: str) -> dict[str, str] | None:
    """Task ARN -> container instance ARN of the service's RUNNING tasks."""
    arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return {t["taskArn"]: t["containerInstanceArn"] for t in tasks if t["lastStatus"] == "RUNNING"}


def settled(ecs: Any, cluster: str, service: str, count: int) -> dict[str, str] | None:
    s = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    where = placement(ecs, cluster, service)
    ok = (s["runningCount"] == count and s["desiredCount"] == count and len(s["deployments"]) == 1
          and where is not None and len(where) == count)
    return where if ok else None


def drain(ecs: Any, cluster: str, instance: str) -> None:
    ecs.update_container_instances_state(cluster=cluster, containerInstances=[instance], status="DRAINING")


def test_a_daemon_service_runs_one_task_per_active_instance(live_berth: Berth, instances: FakeInstances) -> None:
    ecs = live_berth.client()
    cluster = instances.cluster
    a, b = instances.add(), instances.add()
    td = ecs.register_task_definition(**ec2_task_definition(unique("daemon")))["taskDefinition"]["taskDefinitionArn"]
    name = unique("agent")
    created = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, schedulingStrategy="DAEMON",
                                 launchType="EC2")["service"]
    assert created["schedulingStrategy"] == "DAEMON"
    assert created["deploymentConfiguration"]["maximumPercent"] == 100
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    where = eventually(lambda: settled(ecs, cluster, name, 2), timeout=60, what="a task on each instance")
    assert sorted(where.values()) == sorted([a, b])

    drain(ecs, cluster, a)
    where = eventually(lambda: settled(ecs, cluster, name, 1), timeout=60, what="the draining instance's task to stop")
    assert list(where.values()) == [b]

    c = instances.add()
    where = eventually(lambda: settled(ecs, cluster, name, 2), timeout=60, what="a task on the new instance")
    assert sorted(where.values()) == sorted([b, c])
    assert error_code(client_error(ecs.update_service, cluster=cluster, service=name, desiredCount=3)) == "InvalidParameterException"


def test_a_replica_service_moves_its_tasks_off_a_draining_instance(live_berth: Berth, instances: FakeInstances) -> None:
    ecs = live_berth.client()
    cluster = instances.cluster
    a, b = instances.add(), instances.add()
    td = ecs.register_task_definition(**ec2_task_definition(unique("replica")))["taskDefinition"]["taskDefinitionArn"]
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=2, launchType="EC2",
                       placementStrategy=[{"type": "spread", "field": "instanceId"}])
    where = eventually(lambda: settled(ecs, cluster, name, 2), timeout=60, what="two tasks")
    assert sorted(where.values()) == sorted([a, b]), "spread over both instances"
    drain(ecs, cluster, a)
    where = eventually(lambda: (w := settled(ecs, cluster, name, 2)) and set(w.values()) == {b} and w,
                       timeout=60, what="both tasks on the instance that stays")
    assert len(where) == 2
