"""Task sets and the EXTERNAL deployment controller, task protection, service revisions
and DiscoverPollEndpoint, on a real `berth agent` with the AWS CLI and boto3.

An EXTERNAL service is created without a task definition; two task sets (two revisions
of one family) are scaled 100/0, then 0/100 with the primary moved to the second, and
the engine's containers follow. A protected task survives scale-in until its protection
is turned off. Deployments name the service revisions DescribeServiceRevisions
describes."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from conftest import Berth, client_error, error_code, error_message, eventually, unique
from docker_agent import IMAGE, AgentProcess, docker_ps


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berth, str]]:
    """A server of its own and one real agent joined to a new cluster."""
    berth = berth_factory(fake_agent=False)
    cluster = unique("sets")
    berth.aws("ecs", "create-cluster", "--cluster-name", cluster)
    agent = AgentProcess(berth, cluster, tmp_path_factory.mktemp("agent"))
    agent.start()
    try:
        eventually(lambda: berth.client().list_container_instances(cluster=cluster)["containerInstanceArns"],
                   timeout=30, what=f"the agent to join (log: {agent.root / 'agent.log'})")
        yield berth, cluster
    finally:
        agent.stop()


def register(berth: Berth, family: str, color: str) -> str:
    return berth.aws("ecs", "register-task-definition", "--family", family, "--network-mode", "bridge",
                     "--requires-compatibilities", "EC2", "--container-definitions", json.dumps([{
                         "name": "main", "image": IMAGE, "memory": 16, "essential": True,
                         "command": ["sleep", "3600"], "environment": [{"name": "COLOR", "value": color}],
                         # sleep as PID 1 ignores SIGTERM: without this each stop waits 30 s.
                         "stopTimeout": 2,
                     }]))["taskDefinition"]["taskDefinitionArn"]


def running_by_set(berth: Berth, cluster: str, service: str) -> dict[str, int]:
    """Running tasks per startedBy, each checked against the engine (one container)."""
    ecs = berth.client()
    arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    counts: dict[str, int] = {}
    for t in tasks:
        if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING":
            assert len(docker_ps(t["taskArn"])) == 1, t["taskArn"]
            counts[t["startedBy"]] = counts.get(t["startedBy"], 0) + 1
    return counts


def sets(berth: Berth, cluster: str, service: str) -> dict[str, dict]:
    out = berth.client().describe_task_sets(cluster=cluster, service=service)["taskSets"]
    return {t["id"]: t for t in out}


def test_an_external_service_runs_its_task_sets_at_their_scale(node: tuple[Berth, str]) -> None:
    berth, cluster = node
    family = unique("blue-green")
    blue, green = register(berth, family, "blue"), register(berth, family, "green")
    name = unique("ext")
    created = berth.aws("ecs", "create-service", "--cluster", cluster, "--service-name", name, "--desired-count", "2",
                        "--deployment-controller", "type=EXTERNAL")["service"]
    assert created["deploymentController"] == {"type": "EXTERNAL"}
    assert created["deployments"] == [] and created["taskSets"] == []
    assert "taskDefinition" not in created

    # Task sets carry the task definition: the service refuses it, and ECS services
    # refuse task sets.
    err = client_error(berth.client().create_service, cluster=cluster, serviceName=unique("bad"),
                       taskDefinition=blue, deploymentController={"type": "EXTERNAL"})
    assert error_code(err) == "InvalidParameterException" and "taskDefinition" in error_message(err)
    plain = unique("plain")
    berth.client().create_service(cluster=cluster, serviceName=plain, taskDefinition=blue, desiredCount=0)
    err = client_error(berth.client().create_task_set, cluster=cluster, service=plain, taskDefinition=blue)
    assert error_message(err) == ("Amazon ECS only supports task set management on services configured to use "
                                  "external deployment controllers.")

    a = berth.aws("ecs", "create-task-set", "--cluster", cluster, "--service", name, "--task-definition", blue,
                  "--launch-type", "EC2", "--external-id", "blue", "--scale", "value=100,unit=PERCENT",
                  "--tags", "key=color,value=blue")["taskSet"]
    b = berth.aws("ecs", "create-task-set", "--cluster", cluster, "--service", name, "--task-definition", green,
                  "--launch-type", "EC2", "--external-id", "green", "--scale", "value=0,unit=PERCENT")["taskSet"]
    assert a["id"].startswith("ecs-svc/") and a["status"] == "ACTIVE" and a["computedDesiredCount"] == 2
    assert a["taskSetArn"].endswith(f":task-set/{cluster}/{name}/{a['id']}")
    assert b["computedDesiredCount"] == 0 and b["scale"] == {"value": 0.0, "unit": "PERCENT"}
    berth.aws("ecs", "update-service-primary-task-set", "--cluster", cluster, "--service", name,
              "--primary-task-set", a["taskSetArn"])

    def at(counts: dict[str, int]) -> dict[str, dict] | None:
        now = sets(berth, cluster, name)
        ok = running_by_set(berth, cluster, name) == counts and all(
            t["stabilityStatus"] == "STEADY_STATE" and t["runningCount"] == counts.get(i, 0) for i, t in now.items())
        return now if ok else None

    now = eventually(lambda: at({a["id"]: 2}), timeout=90, what="the blue task set to run 2 tasks")
    assert now[a["id"]]["status"] == "PRIMARY" and now[b["id"]]["status"] == "ACTIVE"
    service = berth.client().describe_services(cluster=cluster, services=[name])["services"][0]
    assert service["taskDefinition"] == blue and service["runningCount"] == 2
    assert {t["id"] for t in service["taskSets"]} == {a["id"], b["id"]}

    # Shift: green to 100, primary to green, blue to 0.
    berth.aws("ecs", "update-task-set", "--cluster", cluster, "--service", name, "--task-set", b["id"],
              "--scale", "value=100,unit=PERCENT")
    berth.aws("ecs", "update-service-primary-task-set", "--cluster", cluster, "--service", name,
              "--primary-task-set", b["id"])
    berth.aws("ecs", "update-task-set", "--cluster", cluster, "--service", name, "--task-set", a["id"],
              "--scale", "value=0,unit=PERCENT")
    now = eventually(lambda: at({b["id"]: 2}), timeout=90, what="the green task set to take over")
    assert now[b["id"]]["status"] == "PRIMARY" and now[a["id"]]["status"] == "ACTIVE"
    service = berth.client().describe_services(cluster=cluster, services=[name])["services"][0]
    assert service["taskDefinition"] == green
    tags = berth.client().list_tags_for_resource(resourceArn=a["taskSetArn"])["tags"]
    assert tags == [{"key": "color", "value": "blue"}]

    # A task set still scaled up is not deleted without force; blue (at 0) is.
    err = client_error(berth.client().delete_task_set, cluster=cluster, service=name, taskSet=b["id"])
    assert error_code(err) == "InvalidParameterException" and "scale it to 0" in error_message(err)
    gone = berth.client().delete_task_set(cluster=cluster, service=name, taskSet=a["id"])["taskSet"]
    assert gone["status"] == "DRAINING"
    eventually(lambda: set(sets(berth, cluster, name)) == {b["id"]}, timeout=30, what="the blue task set to go")
    missing = berth.client().describe_task_sets(cluster=cluster, service=name, taskSets=[a["id"]])
    assert missing["taskSets"] == [] and missing["failures"][0]["reason"] == "MISSING"

    # Half the desired count, rounded up, then the service goes.
    berth.client().update_task_set(cluster=cluster, service=name, taskSet=b["id"], scale={"value": 50.0, "unit": "PERCENT"})
    berth.client().update_service(cluster=cluster, service=name, desiredCount=3)
    eventually(lambda: at({b["id"]: 2}), timeout=90, what="50% of 3 to run 2 tasks")
    err = client_error(berth.client().update_service, cluster=cluster, service=name, taskDefinition=blue)
    assert error_code(err) == "InvalidParameterException"
    berth.client().delete_service(cluster=cluster, service=name, force=True)
    eventually(lambda: not running_by_set(berth, cluster, name), timeout=60, what="the service's tasks to stop")
    eventually(lambda: berth.client().describe_services(cluster=cluster, services=[name])["services"][0]["status"]
               == "INACTIVE", timeout=30, what="the service to turn INACTIVE")


def test_a_protected_task_survives_scale_in_until_its_protection_ends(node: tuple[Berth, str]) -> None:
    berth, cluster = node
    ecs = berth.client()
    td = register(berth, unique("protect"), "red")
    name = unique("guarded")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=2, launchType="EC2")
    ids = eventually(lambda: (lambda c: list(c) if sum(c.values()) == 2 else None)(running_by_set(berth, cluster, name)),
                     timeout=90, what="two tasks")
    assert len(ids) == 1
    arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    keep = arns[0]
    out = berth.aws("ecs", "update-task-protection", "--cluster", cluster, "--tasks", keep,
                    "--protection-enabled", "--expires-in-minutes", "60")
    assert out["protectedTasks"][0]["taskArn"] == keep and out["protectedTasks"][0]["protectionEnabled"] is True
    assert out["failures"] == []
    got = ecs.get_task_protection(cluster=cluster, tasks=arns)["protectedTasks"]
    assert {t["taskArn"]: t["protectionEnabled"] for t in got} == {keep: True, arns[1]: False}

    # Scaled to zero: only the unprotected task stops.
    ecs.update_service(cluster=cluster, service=name, desiredCount=0)
    def one_left() -> list[str] | None:
        live = [t["taskArn"] for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
                if t["desiredStatus"] == "RUNNING"]
        return live if live == [keep] else None
    eventually(one_left, timeout=60, what="the unprotected task to stop")
    assert len(docker_ps(keep)) == 1, "the protected task's container still runs"

    # Standalone tasks cannot be protected; unknown ones are MISSING.
    standalone = ecs.run_task(cluster=cluster, taskDefinition=td, launchType="EC2")["tasks"][0]["taskArn"]
    out = ecs.update_task_protection(cluster=cluster, tasks=[standalone, "0" * 32], protectionEnabled=True)
    assert sorted(f["reason"] for f in out["failures"]) == ["MISSING", "TASK_NOT_VALID"]
    ecs.stop_task(cluster=cluster, task=standalone)
    err = client_error(ecs.update_task_protection, cluster=cluster, tasks=[keep], protectionEnabled=True,
                       expiresInMinutes=2881)
    assert error_code(err) == "InvalidParameterException"

    # Protection off: scale-in reaches it.
    ecs.update_task_protection(cluster=cluster, tasks=[keep], protectionEnabled=False)
    eventually(lambda: ecs.describe_tasks(cluster=cluster, tasks=[keep])["tasks"][0]["desiredStatus"] == "STOPPED",
               timeout=60, what="the task to stop once unprotected")
    ecs.delete_service(cluster=cluster, service=name)


def test_deployments_name_their_revisions_and_agents_find_their_endpoint(node: tuple[Berth, str]) -> None:
    berth, cluster = node
    ecs = berth.client()
    family = unique("rev")
    first, second = register(berth, family, "one"), register(berth, family, "two")
    name = unique("revised")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=first, desiredCount=0, launchType="EC2")
    ecs.update_service(cluster=cluster, service=name, taskDefinition=second)
    briefs = ecs.list_service_deployments(cluster=cluster, service=name)["serviceDeployments"]
    revisions = [b["targetServiceRevisionArn"] for b in briefs]
    assert len(revisions) == 2 and all(f":service-revision/{cluster}/{name}/" in r for r in revisions)
    described = berth.aws("ecs", "describe-service-revisions", "--service-revision-arns", *revisions)
    by_arn = {r["serviceRevisionArn"]: r for r in described["serviceRevisions"]}
    assert [by_arn[r]["taskDefinition"] for r in revisions] == [second, first], "newest first"
    assert by_arn[revisions[0]]["containerImages"] == [{"containerName": "main", "image": IMAGE}]
    assert by_arn[revisions[0]]["launchType"] == "EC2"
    bogus = revisions[0].rsplit("/", 1)[0] + "/1234567890123456789"
    assert ecs.describe_service_revisions(serviceRevisionArns=[bogus])["failures"][0]["reason"] == "MISSING"
    ecs.delete_service(cluster=cluster, service=name)

    endpoint = berth.aws("ecs", "discover-poll-endpoint", "--cluster", cluster)
    assert endpoint["endpoint"] == f"{berth.endpoint}/"
    assert endpoint["telemetryEndpoint"] == endpoint["endpoint"]
