"""Durability: every acknowledged write survives `kill -9`, and SIGTERM stops Berth cleanly.

Covers: a cluster (with tags and settings), three task-definition revisions (one
deregistered) and running tasks (one stopped) written through the CLI and boto3;
each time the server is killed with SIGKILL immediately after the last
acknowledged write and restarted on the same data dir, and everything is
described again and must be identical. Also a burst of concurrent writes killed
mid-stream, and a SIGTERM stop that exits 0.

Uses its own `berth up` so killing it never disturbs the shared server.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from conftest import (
    Berth,
    BerthFactory,
    arn,
    describe_tasks,
    fargate_task_definition,
    run_fargate,
    tag_map,
    unique,
)


@pytest.fixture(scope="module")
def crashing(berth_factory: BerthFactory) -> Berth:
    return berth_factory()


def snapshot_task_definition(td: dict) -> dict:
    keys = ("taskDefinitionArn", "family", "revision", "status", "cpu", "memory", "networkMode", "requiresCompatibilities", "containerDefinitions", "executionRoleArn")
    return {k: td.get(k) for k in keys}


def test_clusters_and_revisions_survive_kill9(crashing: Berth) -> None:
    b = crashing
    cluster = unique("durable")
    b.aws(
        "ecs", "create-cluster", "--cluster-name", cluster,
        "--tags", "key=Owner,value=soren", "--settings", "name=containerInsights,value=enabled",
    )
    family = unique("durable-td")
    revisions = []
    for i in range(3):
        td = fargate_task_definition(family)
        td["containerDefinitions"][0]["environment"].append({"name": "REVISION_INPUT", "value": str(i)})
        revisions.append(b.client().register_task_definition(**td)["taskDefinition"])
    assert [r["revision"] for r in revisions] == [1, 2, 3]
    b.aws("ecs", "deregister-task-definition", "--task-definition", f"{family}:1")
    last = b.client().create_cluster(clusterName=unique("last-write"))["cluster"]["clusterName"]

    b.restart(kill9=True)

    ecs = b.client()
    described = ecs.describe_clusters(clusters=[cluster, last], include=["TAGS", "SETTINGS"])
    assert described["failures"] == [], described["failures"]
    assert {x["clusterName"] for x in described["clusters"]} == {cluster, last}
    c = next(x for x in described["clusters"] if x["clusterName"] == cluster)
    assert c["status"] == "ACTIVE"
    assert tag_map(c["tags"]) == {"Owner": "soren"}
    assert {"name": "containerInsights", "value": "enabled"} in c["settings"]

    for before in revisions:
        after = ecs.describe_task_definition(taskDefinition=before["taskDefinitionArn"])["taskDefinition"]
        want = snapshot_task_definition(before)
        if before["revision"] == 1:
            want["status"] = "INACTIVE"
        assert snapshot_task_definition(after) == want
    assert ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"] == 3
    assert ecs.register_task_definition(**fargate_task_definition(family))["taskDefinition"]["revision"] == 4


def test_tasks_survive_kill9(crashing: Berth) -> None:
    b = crashing
    cluster = b.client().create_cluster(clusterName=unique("durable-tasks"))["cluster"]["clusterName"]
    family = unique("durable-run")
    b.client().register_task_definition(**fargate_task_definition(family))
    tasks = run_fargate(b, cluster, f"{family}:1", count=3, startedBy="durability", tags=[{"key": "t", "value": "1"}])
    arns = [t["taskArn"] for t in tasks]
    stopped = b.client().stop_task(cluster=cluster, task=arns[0], reason="stopped before the crash")["task"]
    assert stopped["desiredStatus"] == "STOPPED"

    b.restart(kill9=True)

    after = describe_tasks(b, cluster, arns, include_tags=True)
    for t in after:
        assert t["taskDefinitionArn"] == arn("task-definition", f"{family}:1")
        assert t["startedBy"] == "durability"
        assert tag_map(t["tags"])["t"] == "1"
    assert [t["desiredStatus"] for t in after] == ["STOPPED", "RUNNING", "RUNNING"]
    assert after[0]["stoppedReason"] == "stopped before the crash"
    assert sorted(b.client().list_tasks(cluster=cluster)["taskArns"]) == sorted(arns[1:])


def test_burst_of_writes_then_kill9(crashing: Berth) -> None:
    """Writes acknowledged while a second client keeps writing are all there after the crash."""
    b = crashing
    prefix = unique("burst")
    acknowledged: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(idx: int) -> None:
        ecs = b.session().client("ecs")
        n = 0
        while not stop.is_set() and n < 200:
            name = f"{prefix}-{idx}-{n}"
            try:
                ecs.create_cluster(clusterName=name)
            except Exception as exc:  # the kill lands mid-request: that write was never acknowledged
                errors.append(exc)
                return
            acknowledged.append(name)
            n += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    # Let the writers get going, then crash the server under them.
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.02)
    b.kill()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acknowledged) >= 20, f"too few writes before the kill ({len(acknowledged)}); errors: {errors[:3]}"

    b.start()
    ecs = b.client()
    present: set[str] = set()
    for i in range(0, len(acknowledged), 100):
        chunk = acknowledged[i : i + 100]
        resp: dict[str, Any] = ecs.describe_clusters(clusters=chunk)
        present |= {c["clusterName"] for c in resp["clusters"] if c["status"] == "ACTIVE"}
    lost = [n for n in acknowledged if n not in present]
    assert lost == [], f"{len(lost)} acknowledged clusters lost after kill -9: {lost[:10]}"


def test_sigterm_stops_cleanly_and_keeps_data(crashing: Berth) -> None:
    b = crashing
    name = b.client().create_cluster(clusterName=unique("graceful"))["cluster"]["clusterName"]
    code = b.stop()
    assert code == 0, f"berth exited with {code} on SIGTERM:\n{b.output()[-4000:]}"
    b.start()
    assert [c["clusterName"] for c in b.client().describe_clusters(clusters=[name])["clusters"]] == [name]
