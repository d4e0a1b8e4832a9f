"""Clusters through the AWS CLI and boto3.

Covers: create-cluster with tags and settings, describe-clusters with
--include STATISTICS TAGS SETTINGS (task, instance and service counts),
describe of a missing cluster (failures/MISSING), list-clusters pagination
(CLI --max-items/--page-size, boto3 paginator, raw maxResults/nextToken),
update-cluster-settings, delete-cluster (and ClusterNotFoundException), and the
`default` cluster used when a call names none.
"""

from __future__ import annotations

from typing import Any

from conftest import (
    ACCOUNT,
    REGION,
    Berth,
    arn,
    awsvpc_cli,
    client_error,
    create_cluster,
    error_code,
    eventually,
    fargate_task_definition,
    paginate_raw,
    register,
    run_fargate,
    stop_all_tasks,
    tag_map,
    unique,
    wait_last_status,
)


def describe_one(b: Berth, name: str, *include: str) -> dict:
    args = ["ecs", "describe-clusters", "--clusters", name]
    if include:
        args += ["--include", *include]
    out = b.aws(*args)
    assert out["failures"] == [], out
    assert len(out["clusters"]) == 1, out
    return out["clusters"][0]


def stat(cluster: dict, name: str) -> Any:
    return {s["name"]: s["value"] for s in cluster.get("statistics", [])}.get(name)


def test_create_cluster_with_tags(live_berth: Berth) -> None:
    name = unique("presto")
    out = live_berth.aws(
        "ecs", "create-cluster", "--cluster-name", name,
        "--tags", "key=Owner,value=soren", "key=Project,value=Presto",
    )["cluster"]
    assert out["clusterName"] == name
    assert out["clusterArn"] == arn("cluster", name)
    assert out["status"] == "ACTIVE"
    for counter in ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount", "activeServicesCount"):
        assert out[counter] == 0, (counter, out)
    assert tag_map(out.get("tags")) == {"Owner": "soren", "Project": "Presto"}


def test_create_cluster_is_idempotent(live_berth: Berth) -> None:
    name = unique("idem")
    first = live_berth.aws("ecs", "create-cluster", "--cluster-name", name)["cluster"]
    second = live_berth.aws("ecs", "create-cluster", "--cluster-name", name)["cluster"]
    assert first["clusterArn"] == second["clusterArn"]
    arns = [a for a in live_berth.aws("ecs", "list-clusters")["clusterArns"] if a == first["clusterArn"]]
    assert len(arns) == 1


def test_describe_clusters_include_everything(live_berth: Berth) -> None:
    name = unique("incl")
    live_berth.aws(
        "ecs", "create-cluster", "--cluster-name", name,
        "--tags", "key=env,value=test",
        "--settings", "name=containerInsights,value=enabled",
    )
    plain = describe_one(live_berth, name)
    assert plain["clusterArn"] == arn("cluster", name)
    assert not plain.get("tags"), "tags are only returned with --include TAGS"

    full = describe_one(live_berth, name, "STATISTICS", "TAGS", "SETTINGS")
    assert tag_map(full["tags"]) == {"env": "test"}
    assert {"name": "containerInsights", "value": "enabled"} in full["settings"]
    assert isinstance(full.get("statistics"), list), full
    for counter in ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount", "activeServicesCount"):
        assert full[counter] == 0, (counter, full)


def test_describe_counts_follow_tasks_and_instances(live_berth: Berth) -> None:
    b = live_berth
    name = create_cluster(b, "counts")
    td = register(b, fargate_task_definition(unique("counts")))
    tasks = run_fargate(b, name, td["taskDefinitionArn"], count=2)
    arns = [t["taskArn"] for t in tasks]

    wait_last_status(b, name, arns, "RUNNING")
    running = eventually(
        lambda: (c := describe_one(b, name, "STATISTICS"))["runningTasksCount"] == 2 and c,
        what="runningTasksCount == 2",
    )
    assert running["pendingTasksCount"] == 0
    assert str(stat(running, "runningFargateTasksCount")) == "2", running.get("statistics")
    assert running["registeredContainerInstancesCount"] == 0, "the Fargate pool is not a registered instance"

    b.client().register_container_instance(
        cluster=name,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
        ],
        versionInfo={"agentVersion": "1.80.0", "agentHash": "e2e", "dockerVersion": "DockerVersion: 24.0.7"},
    )
    assert describe_one(b, name)["registeredContainerInstancesCount"] == 1

    for task in arns:
        b.aws("ecs", "stop-task", "--cluster", name, "--task", task)
    eventually(lambda: describe_one(b, name)["runningTasksCount"] == 0, what="runningTasksCount back to 0")


def test_describe_missing_cluster_reports_failure(live_berth: Berth) -> None:
    missing = unique("missing")
    present = create_cluster(live_berth, "present")
    out = live_berth.aws("ecs", "describe-clusters", "--clusters", missing, present)
    assert [c["clusterName"] for c in out["clusters"]] == [present]
    assert out["failures"] == [{"arn": arn("cluster", missing), "reason": "MISSING"}]


def test_list_clusters_paginates(live_berth: Berth) -> None:
    b = live_berth
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for n in names:
        b.client().create_cluster(clusterName=n)
    mine = {arn("cluster", n) for n in names}

    # Raw API: maxResults=1 and nextToken, one item per page.
    items, pages = paginate_raw(b.client().list_clusters, "clusterArns", page_size=1)
    assert len(items) == len(set(items)), "a cluster appeared on two pages"
    assert mine <= set(items)
    assert pages >= len(items)

    # boto3 paginator.
    paged = [a for page in b.client().get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2}) for a in page["clusterArns"]]
    assert sorted(paged) == sorted(items)

    # CLI: --max-items gives a NextToken, --starting-token resumes; --page-size 1 drives nextToken underneath.
    first = b.aws("ecs", "list-clusters", "--max-items", "2", "--page-size", "1")
    assert len(first["clusterArns"]) == 2
    assert first.get("NextToken"), first
    rest = b.aws("ecs", "list-clusters", "--starting-token", first["NextToken"], "--page-size", "1")
    assert "NextToken" not in rest
    assert sorted(first["clusterArns"] + rest["clusterArns"]) == sorted(items)


def test_list_clusters_rejects_bad_next_token(ecs: Any) -> None:
    err = client_error(ecs.list_clusters, nextToken="not-a-token-berth-ever-issued")
    assert error_code(err) in ("InvalidParameterException", "ClientException"), err.response


def test_update_cluster_settings(live_berth: Berth) -> None:
    name = create_cluster(live_berth, "insights")
    out = live_berth.aws("ecs", "update-cluster-settings", "--cluster", name, "--settings", "name=containerInsights,value=enabled")
    assert out["cluster"]["clusterName"] == name
    assert {"name": "containerInsights", "value": "enabled"} in out["cluster"]["settings"]
    assert {"name": "containerInsights", "value": "enabled"} in describe_one(live_berth, name, "SETTINGS")["settings"]

    live_berth.aws("ecs", "update-cluster-settings", "--cluster", name, "--settings", "name=containerInsights,value=disabled")
    assert {"name": "containerInsights", "value": "disabled"} in describe_one(live_berth, name, "SETTINGS")["settings"]


def test_update_settings_of_missing_cluster(live_berth: Berth) -> None:
    live_berth.aws_error(
        "ecs", "update-cluster-settings", "--cluster", unique("nope"), "--settings", "name=containerInsights,value=enabled",
        code="ClusterNotFoundException",
    )


def test_delete_cluster(live_berth: Berth) -> None:
    name = create_cluster(live_berth, "delete")
    out = live_berth.aws("ecs", "delete-cluster", "--cluster", name)["cluster"]
    assert out["clusterArn"] == arn("cluster", name)
    assert out["status"] == "INACTIVE"
    assert arn("cluster", name) not in live_berth.aws("ecs", "list-clusters")["clusterArns"]
    after = live_berth.aws("ecs", "describe-clusters", "--clusters", name)
    # AWS keeps deleted clusters describable as INACTIVE for a while, or reports them MISSING.
    assert all(c["status"] == "INACTIVE" for c in after["clusters"]), after
    assert after["clusters"] or after["failures"] == [{"arn": arn("cluster", name), "reason": "MISSING"}]


def test_delete_missing_cluster(live_berth: Berth) -> None:
    err = live_berth.aws_error("ecs", "delete-cluster", "--cluster", unique("ghost"), code="ClusterNotFoundException")
    assert err.error_message


def test_delete_cluster_with_running_tasks_is_refused(live_berth: Berth) -> None:
    b = live_berth
    name = create_cluster(b, "busy")
    td = register(b, fargate_task_definition(unique("busy")))
    run_fargate(b, name, td["taskDefinitionArn"])
    b.aws_error("ecs", "delete-cluster", "--cluster", name, code="ClusterContainsTasksException")
    assert describe_one(b, name)["status"] == "ACTIVE"

    stop_all_tasks(b, name)
    eventually(
        lambda: b.aws("ecs", "delete-cluster", "--cluster", name, check=False).ok,
        timeout=60,
        what="delete-cluster to succeed once its tasks have stopped",
    )


def test_default_cluster(live_berth: Berth) -> None:
    b = live_berth
    created = b.aws("ecs", "create-cluster")["cluster"]
    assert created["clusterName"] == "default"
    assert created["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"

    family = unique("dflt")
    register(b, fargate_task_definition(family))
    out = b.aws(
        "ecs", "run-task", "--task-definition", family, "--launch-type", "FARGATE",
        "--network-configuration", awsvpc_cli(),
    )
    assert out["failures"] == [] and len(out["tasks"]) == 1, out
    task = out["tasks"][0]
    assert task["clusterArn"] == arn("cluster", "default")
    assert ":task/default/" in task["taskArn"]

    # Calls that name no cluster find it in `default`.
    listed = b.aws("ecs", "list-tasks", "--family", family)["taskArns"]
    assert listed == [task["taskArn"]]
    described = b.aws("ecs", "describe-tasks", "--tasks", task["taskArn"])["tasks"]
    assert [t["taskArn"] for t in described] == [task["taskArn"]]
    b.aws("ecs", "stop-task", "--task", task["taskArn"])
