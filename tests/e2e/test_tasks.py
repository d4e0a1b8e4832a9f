"""Tasks on the Fargate pool: run, describe, wait, list, stop, and RunTask's errors.

Covers: run-task --launch-type FARGATE with the seed guides' awsvpc shorthand,
--count 3, --overrides (container command/environment), --tags,
--propagate-tags TASK_DEFINITION, --enable-ecs-managed-tags, --started-by, --group; the fields
describe-tasks returns (ARN shapes, statuses, cpu/memory, containers,
overrides, ENI attachment, tags, timestamps); `aws ecs wait tasks-running` and
`tasks-stopped`; list-tasks filters and pagination; stop-task with a reason
(stopCode UserInitiated); count limits, unknown cluster and task definition,
awsvpc without a network configuration, INACTIVE task definitions.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from conftest import (
    SECURITY_GROUPS,
    SUBNETS,
    Berth,
    arn,
    awsvpc_cli,
    client_error,
    create_cluster,
    ecs_task_role,
    describe_tasks,
    error_code,
    error_message,
    fargate_task_definition,
    paginate_raw,
    register,
    run_fargate,
    tag_map,
    task_arn_re,
    unique,
    wait_last_status,
)

OVERRIDES = {
    "containerOverrides": [
        {
            "name": "presto",
            "command": ["/opt/presto/bin/launcher", "run", "--worker"],
            "environment": [
                {"name": "MODE", "value": "WORKER"},
                {"name": "COORDINATOR_HOST_PORT", "value": "10.0.0.5:8080"},
            ],
        }
    ]
}

LIFECYCLE = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]


@pytest.fixture(scope="module")
def batch(berth: Berth) -> dict:
    """Three tasks started the way the seed guide starts Presto workers, through the CLI."""
    cluster = create_cluster(berth, "tasks")
    family = unique("presto-worker")
    td = register(berth, fargate_task_definition(family))
    out = berth.aws(
        "ecs", "run-task",
        "--cluster", cluster,
        "--task-definition", family,
        "--count", "3",
        "--launch-type", "FARGATE",
        "--network-configuration", awsvpc_cli(),
        "--overrides", json.dumps(OVERRIDES),
        "--tags", "key=run,value=nightly", "key=owner,value=e2e",
        "--propagate-tags", "TASK_DEFINITION",
        "--enable-ecs-managed-tags",
        "--started-by", "me",
        "--group", "g1",
    )
    assert out["failures"] == [], f"run-task placed no tasks: {out['failures']}"
    return {"cluster": cluster, "family": family, "td": td, "run": out, "arns": [t["taskArn"] for t in out["tasks"]]}


# --------------------------------------------------------------------------- run + describe


def test_run_task_places_all(batch: dict) -> None:
    assert len(batch["arns"]) == 3
    assert len(set(batch["arns"])) == 3
    for task_arn in batch["arns"]:
        assert task_arn_re(batch["cluster"]).match(task_arn), task_arn


def test_run_task_response_fields(batch: dict) -> None:
    for task in batch["run"]["tasks"]:
        assert task["clusterArn"] == arn("cluster", batch["cluster"])
        assert task["taskDefinitionArn"] == batch["td"]["taskDefinitionArn"]
        assert task["desiredStatus"] == "RUNNING"
        assert task["lastStatus"] in LIFECYCLE[:4], task["lastStatus"]
        assert task["launchType"] == "FARGATE"


def test_describe_tasks_fields(live_berth: Berth, batch: dict) -> None:
    tasks = describe_tasks(live_berth, batch["cluster"], batch["arns"], include_tags=True)
    now = dt.datetime.now(dt.timezone.utc)
    for task in tasks:
        assert task["clusterArn"] == arn("cluster", batch["cluster"])
        assert task["taskDefinitionArn"] == batch["td"]["taskDefinitionArn"]
        assert task["desiredStatus"] == "RUNNING"
        assert task["lastStatus"] in LIFECYCLE[:4]
        assert task["launchType"] == "FARGATE"
        assert (task["cpu"], task["memory"]) == ("256", "512")
        assert task["startedBy"] == "me"
        assert task["group"] == "g1"
        assert abs(now - task["createdAt"]) < dt.timedelta(minutes=10)
        assert task.get("version", 0) >= 1
        assert "containerInstanceArn" not in task, "Fargate tasks have no container instance"

        containers = {c["name"]: c for c in task["containers"]}
        assert set(containers) == {"presto", "sidecar"}
        for c in containers.values():
            assert c["taskArn"] == task["taskArn"]
            assert c.get("containerArn", "").startswith(f"arn:aws:ecs:us-east-1:000000000000:container/{batch['cluster']}/"), c
        assert containers["presto"]["image"] == "prestodb/presto:0.287"

        assert task["overrides"]["containerOverrides"] == OVERRIDES["containerOverrides"]

        enis = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
        assert len(enis) == 1, task["attachments"]
        details = {d["name"]: d["value"] for d in enis[0]["details"]}
        assert details.get("subnetId") in SUBNETS, details

        tags = tag_map(task["tags"])
        assert tags["run"] == "nightly" and tags["owner"] == "e2e"
        assert tags["team"] == "data" and tags["app"] == "presto", "task definition tags were not propagated"
        assert tags["aws:ecs:clusterName"] == batch["cluster"], "--enable-ecs-managed-tags adds the cluster's name"


def test_describe_tasks_by_id(live_berth: Berth, batch: dict) -> None:
    task_id = batch["arns"][0].rsplit("/", 1)[1]
    out = live_berth.aws("ecs", "describe-tasks", "--cluster", batch["cluster"], "--tasks", task_id)
    assert [t["taskArn"] for t in out["tasks"]] == [batch["arns"][0]]


def test_describe_missing_task(live_berth: Berth, batch: dict) -> None:
    ghost = arn("task", f"{batch['cluster']}/{'0' * 32}")
    out = live_berth.aws("ecs", "describe-tasks", "--cluster", batch["cluster"], "--tasks", batch["arns"][0], ghost)
    assert [t["taskArn"] for t in out["tasks"]] == [batch["arns"][0]]
    assert out["failures"] == [{"arn": ghost, "reason": "MISSING"}]


def test_wait_tasks_running(live_berth: Berth, batch: dict) -> None:
    live_berth.aws("ecs", "wait", "tasks-running", "--cluster", batch["cluster"], "--tasks", *batch["arns"], timeout=300)
    for task in describe_tasks(live_berth, batch["cluster"], batch["arns"]):
        assert task["lastStatus"] == "RUNNING"
        assert task.get("startedAt"), "a RUNNING task has startedAt"
        assert task.get("pullStartedAt") and task.get("pullStoppedAt")
        assert task["createdAt"] <= task["startedAt"]
        for c in task["containers"]:
            assert c["lastStatus"] == "RUNNING", c
        eni = next(a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface")
        assert eni["status"] == "ATTACHED", eni
        details = {d["name"]: d["value"] for d in eni["details"]}
        assert {"subnetId", "networkInterfaceId", "privateIPv4Address"} <= set(details), details


# --------------------------------------------------------------------------- list


def test_list_tasks_filters(live_berth: Berth, batch: dict) -> None:
    b, cluster, mine = live_berth, batch["cluster"], sorted(batch["arns"])

    def listed(*args: str) -> list[str]:
        return sorted(b.aws("ecs", "list-tasks", "--cluster", cluster, *args)["taskArns"])

    assert listed() == mine
    assert listed("--family", batch["family"]) == mine
    assert listed("--family", unique("other-family")) == []
    assert listed("--started-by", "me") == mine
    assert listed("--started-by", "someone-else") == []
    assert listed("--desired-status", "RUNNING") == mine
    assert listed("--launch-type", "FARGATE") == mine
    assert listed("--launch-type", "EC2") == []


def test_list_tasks_paginates(live_berth: Berth, batch: dict) -> None:
    ecs = live_berth.client()
    items, pages = paginate_raw(ecs.list_tasks, "taskArns", page_size=1, cluster=batch["cluster"])
    assert sorted(items) == sorted(batch["arns"])
    assert pages >= 3
    first = live_berth.aws("ecs", "list-tasks", "--cluster", batch["cluster"], "--max-items", "2", "--page-size", "1")
    assert len(first["taskArns"]) == 2 and first.get("NextToken")
    rest = live_berth.aws("ecs", "list-tasks", "--cluster", batch["cluster"], "--starting-token", first["NextToken"])
    assert sorted(first["taskArns"] + rest["taskArns"]) == sorted(batch["arns"])


def test_list_tasks_unknown_cluster(live_berth: Berth) -> None:
    live_berth.aws_error("ecs", "list-tasks", "--cluster", unique("nocluster"), code="ClusterNotFoundException")


# --------------------------------------------------------------------------- stop


def test_stop_task(live_berth: Berth) -> None:
    b = live_berth
    cluster = create_cluster(b, "stop")
    td = register(b, fargate_task_definition(unique("stopper")))
    keep, stop = [t["taskArn"] for t in run_fargate(b, cluster, td["taskDefinitionArn"], count=2)]
    wait_last_status(b, cluster, [keep, stop], "RUNNING")

    out = b.aws("ecs", "stop-task", "--cluster", cluster, "--task", stop, "--reason", "rolled back by e2e")["task"]
    assert out["taskArn"] == stop
    assert out["desiredStatus"] == "STOPPED"

    b.aws("ecs", "wait", "tasks-stopped", "--cluster", cluster, "--tasks", stop, timeout=300)
    stopped, kept = describe_tasks(b, cluster, [stop, keep])
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "rolled back by e2e"
    assert stopped["stopCode"] == "UserInitiated"
    for stamp in ("stoppingAt", "executionStoppedAt", "stoppedAt"):
        assert isinstance(stopped.get(stamp), dt.datetime), (stamp, stopped.keys())
    assert stopped["startedAt"] <= stopped["stoppingAt"] <= stopped["stoppedAt"]
    for c in stopped["containers"]:
        assert c["lastStatus"] == "STOPPED", c
    assert kept["lastStatus"] == "RUNNING", "stopping one task must not touch another"

    def listed(*args: str) -> list[str]:
        return b.aws("ecs", "list-tasks", "--cluster", cluster, *args)["taskArns"]

    assert listed() == [keep]
    assert listed("--desired-status", "STOPPED") == [stop]

    again = b.aws("ecs", "stop-task", "--cluster", cluster, "--task", stop)["task"]
    assert again["lastStatus"] == "STOPPED" and again["stoppedReason"] == "rolled back by e2e"
    b.aws("ecs", "stop-task", "--cluster", cluster, "--task", keep)


def test_stop_unknown_task(live_berth: Berth) -> None:
    cluster = create_cluster(live_berth, "stopghost")
    live_berth.aws_error(
        "ecs", "stop-task", "--cluster", cluster, "--task", "f" * 32,
        code=("InvalidParameterException", "ClientException"),
    )


# --------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def runnable(berth: Berth) -> dict:
    cluster = create_cluster(berth, "errs")
    family = unique("errs")
    register(berth, fargate_task_definition(family))
    return {"cluster": cluster, "family": family}


def run_args(runnable: dict, *extra: str) -> list[str]:
    return [
        "ecs", "run-task", "--cluster", runnable["cluster"], "--task-definition", runnable["family"],
        "--launch-type", "FARGATE", "--network-configuration", awsvpc_cli(), *extra,
    ]


@pytest.mark.parametrize("count", ["11", "0"])
def test_run_task_count_limits(live_berth: Berth, runnable: dict, count: str) -> None:
    live_berth.aws_error(*run_args(runnable, "--count", count), code="InvalidParameterException")
    assert live_berth.aws("ecs", "list-tasks", "--cluster", runnable["cluster"])["taskArns"] == []


def test_run_task_count_ten_is_allowed(live_berth: Berth, runnable: dict) -> None:
    cluster = create_cluster(live_berth, "ten")
    tasks = run_fargate(live_berth, cluster, runnable["family"], count=10)
    assert len({t["taskArn"] for t in tasks}) == 10
    for t in tasks:
        live_berth.client().stop_task(cluster=cluster, task=t["taskArn"])


def test_run_task_unknown_cluster(live_berth: Berth, runnable: dict) -> None:
    args = run_args(runnable)
    args[args.index("--cluster") + 1] = unique("nocluster")
    live_berth.aws_error(*args, code="ClusterNotFoundException")


def test_run_task_unknown_task_definition(live_berth: Berth, runnable: dict) -> None:
    """AWS answers RunTask for a missing task definition with ClientException "TaskDefinition not found."."""
    args = run_args(runnable)
    args[args.index("--task-definition") + 1] = unique("no-such-td")
    err = live_berth.aws_error(*args, code="ClientException")
    assert "not found" in err.error_message.lower(), err.error_message


def test_run_task_unknown_revision(ecs: Any, runnable: dict) -> None:
    err = client_error(
        ecs.run_task, cluster=runnable["cluster"], taskDefinition=f"{runnable['family']}:42",
        launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {"subnets": SUBNETS}},
    )
    assert error_code(err) == "ClientException", err.response


def test_run_awsvpc_task_without_network_configuration(ecs: Any, runnable: dict) -> None:
    err = client_error(ecs.run_task, cluster=runnable["cluster"], taskDefinition=runnable["family"], launchType="FARGATE")
    assert error_code(err) == "InvalidParameterException", err.response
    assert "network" in error_message(err).lower(), error_message(err)


def test_run_inactive_task_definition(live_berth: Berth, runnable: dict) -> None:
    family = unique("retired")
    register(live_berth, fargate_task_definition(family))
    live_berth.aws("ecs", "deregister-task-definition", "--task-definition", f"{family}:1")
    args = run_args(runnable)
    args[args.index("--task-definition") + 1] = f"{family}:1"
    live_berth.aws_error(*args, code=("ClientException", "InvalidParameterException"))


def test_run_task_overrides_unknown_container(ecs: Any, runnable: dict) -> None:
    err = client_error(
        ecs.run_task, cluster=runnable["cluster"], taskDefinition=runnable["family"], launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": SUBNETS, "securityGroups": SECURITY_GROUPS}},
        overrides={"containerOverrides": [{"name": "not-in-the-definition", "command": ["true"]}]},
    )
    assert error_code(err) in ("InvalidParameterException", "ClientException"), err.response


def test_run_task_task_level_overrides(live_berth: Berth, runnable: dict) -> None:
    cluster = create_cluster(live_berth, "bigger")
    role = ecs_task_role(live_berth, "override")
    task = run_fargate(
        live_berth, cluster, runnable["family"],
        overrides={"cpu": "512", "memory": "1024", "taskRoleArn": role},
    )[0]
    described = describe_tasks(live_berth, cluster, [task["taskArn"]])[0]
    assert (described["cpu"], described["memory"]) == ("512", "1024")
    assert described["overrides"]["taskRoleArn"] == role
    live_berth.client().stop_task(cluster=cluster, task=task["taskArn"])


def test_run_task_spreads_a_capacity_provider_strategy_by_base_and_weight(live_berth: Berth, runnable: dict) -> None:
    """RunTask with FARGATE (base 1, weight 1) and FARGATE_SPOT (weight 3) for nine tasks:
    the base first, then one to three. A provider the cluster does not have, and a
    strategy AWS refuses, are refused."""
    ecs = live_berth.client()
    cluster = ecs.create_cluster(clusterName=unique("cp"), capacityProviders=["FARGATE", "FARGATE_SPOT"])["cluster"]
    network = {"awsvpcConfiguration": {"subnets": SUBNETS, "securityGroups": SECURITY_GROUPS}}
    strategy = [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 3}]
    run = ecs.run_task(cluster=cluster["clusterName"], taskDefinition=runnable["family"], count=9,
                       capacityProviderStrategy=strategy, networkConfiguration=network)
    assert run["failures"] == [], run["failures"]
    providers = [t["capacityProviderName"] for t in run["tasks"]]
    assert (providers.count("FARGATE"), providers.count("FARGATE_SPOT")) == (3, 6), providers
    assert all(t["launchType"] == "FARGATE" for t in run["tasks"])
    plain = ecs.create_cluster(clusterName=unique("nocp"))["cluster"]["clusterName"]
    err = client_error(ecs.run_task, cluster=plain, taskDefinition=runnable["family"],
                       capacityProviderStrategy=strategy, networkConfiguration=network)
    assert "not associated with the cluster" in error_message(err), err.response
    two_bases = [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                 {"capacityProvider": "FARGATE_SPOT", "base": 1, "weight": 1}]
    err = client_error(ecs.run_task, cluster=cluster["clusterName"], taskDefinition=runnable["family"],
                       capacityProviderStrategy=two_bases, networkConfiguration=network)
    assert error_code(err) == "InvalidParameterException" and "Only one" in error_message(err)
    for t in run["tasks"]:
        ecs.stop_task(cluster=cluster["clusterName"], task=t["taskArn"])
