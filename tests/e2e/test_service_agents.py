"""Services on two real `berth agent`s, driven with the AWS CLI and watched with
boto3: both agents run on the suite's dockerd, each its own container instance of one
cluster (an agent manages only the containers labelled with its instance). A DAEMON
service runs one container on each instance and a REPLICA service spreads over both;
draining one instance stops the daemon task there and moves the replica tasks to the
other instance, replacements RUNNING before the tasks they replace stop; the engine's
containers follow. An instance set back to ACTIVE gets its daemon task again, and
scaling to zero and deleting both services leaves no container behind."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from conftest import Berth, eventually, unique
from docker_agent import IMAGE, AgentProcess, docker, docker_inspect, docker_ps

INSTANCE_LABEL = "berth.container-instance-arn"


@pytest.fixture(scope="module")
def fleet(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berth, str]]:
    """A server of its own and two agents joined to a new cluster."""
    berth = berth_factory(fake_agent=False)
    cluster = unique("fleet")
    berth.aws("ecs", "create-cluster", "--cluster-name", cluster)
    agents = [AgentProcess(berth, cluster, tmp_path_factory.mktemp(f"agent{i}")) for i in range(2)]
    try:
        for agent in agents:
            agent.start()
        eventually(lambda: len(instances(berth, cluster)) == 2, timeout=30,
                   what=f"two agents to join (logs: {[str(a.root / 'agent.log') for a in agents]})")
        yield berth, cluster
    finally:
        for agent in agents:
            agent.stop()


def instances(berth: Berth, cluster: str) -> list[str]:
    return berth.aws("ecs", "list-container-instances", "--cluster", cluster)["containerInstanceArns"]


def running(berth: Berth, cluster: str, service: str) -> list[dict]:
    """The service's tasks that run and are meant to go on running, each checked
    against the engine: one running container, labelled with the instance the task is
    placed on. (A task being stopped stays RUNNING until its agent reports it
    stopped, while its container may already be gone, so it is left out.) Polled
    with boto3, so each pass takes milliseconds, not an AWS CLI start-up."""
    ecs = berth.client()
    arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    out = [t for t in tasks if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"]
    for t in out:
        containers = docker_ps(t["taskArn"])
        assert len(containers) == 1, (t["taskArn"], containers)
        assert docker_inspect(containers[0])["Config"]["Labels"][INSTANCE_LABEL] == t["containerInstanceArn"]
    return out


def placed(berth: Berth, cluster: str, service: str, count: int) -> list[str] | None:
    """The instances of the service's tasks once it is steady with `count` of them."""
    s = berth.client().describe_services(cluster=cluster, services=[service])["services"][0]
    tasks = running(berth, cluster, service)
    steady = s["runningCount"] == count and len(s["deployments"]) == 1 and len(tasks) == count
    return sorted(t["containerInstanceArn"] for t in tasks) if steady else None


def containers_of(instance: str) -> list[str]:
    """The engine's running containers that `instance`'s agent started."""
    return docker("ps", "-q", "--filter", f"label={INSTANCE_LABEL}={instance}").split()


def test_daemon_and_replica_services_follow_their_instances(fleet: tuple[Berth, str]) -> None:
    berth, cluster = fleet
    a, b = sorted(instances(berth, cluster))
    td = berth.aws("ecs", "register-task-definition", "--family", unique("fleet"), "--network-mode", "bridge",
                   "--container-definitions", json.dumps([{
                       "name": "main", "image": IMAGE, "memory": 16, "essential": True, "command": ["sleep", "3600"],
                       # sleep as PID 1 ignores SIGTERM: without this each drain waits the agent's 30 s.
                       "stopTimeout": 2,
                   }]))["taskDefinition"]["taskDefinitionArn"]
    daemon, replica = unique("daemon"), unique("replica")
    created = berth.aws("ecs", "create-service", "--cluster", cluster, "--service-name", daemon, "--task-definition", td,
                        "--scheduling-strategy", "DAEMON", "--launch-type", "EC2")["service"]
    assert created["schedulingStrategy"] == "DAEMON"
    berth.aws("ecs", "create-service", "--cluster", cluster, "--service-name", replica, "--task-definition", td,
              "--desired-count", "2", "--launch-type", "EC2", "--placement-strategy", "type=spread,field=instanceId")
    berth.aws("ecs", "wait", "services-stable", "--cluster", cluster, "--services", daemon, replica, timeout=120)
    assert placed(berth, cluster, daemon, 2) == [a, b], "one daemon task on each instance"
    assert placed(berth, cluster, replica, 2) == [a, b], "the replicas spread over both instances"
    before = {t["taskArn"]: t["containerInstanceArn"] for t in running(berth, cluster, replica)}
    moved = [arn for arn, instance in before.items() if instance == a]

    drained = berth.aws("ecs", "update-container-instances-state", "--cluster", cluster,
                        "--container-instances", a, "--status", "DRAINING")["containerInstances"]
    assert [i["status"] for i in drained] == ["DRAINING"]
    eventually(lambda: placed(berth, cluster, daemon, 1) == [b], timeout=120, what="the daemon task to leave the drained instance")
    eventually(lambda: placed(berth, cluster, replica, 2) == [b, b], timeout=120, what="the replicas to move off the drained instance")
    eventually(lambda: not containers_of(a) or None, timeout=120, what="the drained instance's containers to stop")

    ecs = berth.client()
    old = eventually(lambda: (lambda ts: ts if [t["lastStatus"] for t in ts] == ["STOPPED"] else None)(
        ecs.describe_tasks(cluster=cluster, tasks=moved)["tasks"]), timeout=60, what="the moved task to be reported stopped")
    [replacement] = [t for t in running(berth, cluster, replica) if t["taskArn"] not in before]
    assert replacement["startedAt"] <= old[0]["stoppingAt"], "the replacement runs before the old task stops"

    berth.aws("ecs", "update-container-instances-state", "--cluster", cluster, "--container-instances", a, "--status", "ACTIVE")
    eventually(lambda: placed(berth, cluster, daemon, 2) == [a, b], timeout=120, what="a daemon task on the reactivated instance")

    berth.aws("ecs", "update-service", "--cluster", cluster, "--service", replica, "--desired-count", "0")
    for service in (daemon, replica):
        berth.aws("ecs", "delete-service", "--cluster", cluster, "--service", service, "--force")
    eventually(lambda: not containers_of(a) and not containers_of(b) or None, timeout=60,
               what="every container of both services to stop")
    left = berth.aws("ecs", "list-tasks", "--cluster", cluster, "--desired-status", "RUNNING")["taskArns"]
    assert left == []
