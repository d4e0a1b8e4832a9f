"""`berth agent` running tasks on a real Docker Engine.

scripts/test starts a dockerd of its own and imports an offline busybox image; it passes
them as BERTH_TEST_DOCKER_HOST and BERTH_TEST_IMAGE. This module fails (never skips)
without them. Covers the seed's boto3 pattern: run_task with container overrides, poll
the task until STOPPED, read the container's exit code; and the agent's registration.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Berth, berth_bin, eventually, unique


def _docker_host() -> str:
    host = os.environ.get("BERTH_TEST_DOCKER_HOST")
    if not host:
        pytest.fail("BERTH_TEST_DOCKER_HOST is not set: run the suite through scripts/test, which starts a dockerd")
    return host


IMAGE = os.environ.get("BERTH_TEST_IMAGE", "berth-test/busybox:latest")


@pytest.fixture
def docker_cluster(live_berth: Berth, tmp_path: Path) -> Iterator[str]:
    """A cluster with one `berth agent` on the test dockerd; the agent is stopped afterwards."""
    cluster = unique("docker")
    live_berth.client().create_cluster(clusterName=cluster)
    env = live_berth.child_env()
    env.update({"ECS_CLUSTER": cluster, "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached"})
    argv = [
        str(berth_bin()), "agent", "--server", live_berth.endpoint,
        "--token-file", str(live_berth.data_dir / "agent-token"),
        "--docker-host", _docker_host(), "--data-dir", str(tmp_path / "agent"),
    ]
    log = open(tmp_path / "agent.log", "wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        eventually(
            lambda: proc.poll() is None and live_berth.client().list_container_instances(cluster=cluster)["containerInstanceArns"],
            timeout=30,
            what=f"berth agent to join {cluster} (log: {tmp_path / 'agent.log'})",
        )
        yield cluster
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_the_agent_registers_the_hosts_resources(live_berth: Berth, docker_cluster: str) -> None:
    ecs = live_berth.client()
    arns = ecs.list_container_instances(cluster=docker_cluster)["containerInstanceArns"]
    instance = ecs.describe_container_instances(cluster=docker_cluster, containerInstances=arns)["containerInstances"][0]
    assert instance["agentConnected"] is True
    cpu = next(r for r in instance["registeredResources"] if r["name"] == "CPU")
    assert cpu["integerValue"] == os.cpu_count() * 1024
    ports = next(r for r in instance["registeredResources"] if r["name"] == "PORTS")
    assert {"22", "2375", "2376", "51678", "51679"} <= set(ports["stringSetValue"])
    assert instance["versionInfo"]["agentVersion"].startswith("berth-agent")


def test_boto3_run_task_with_overrides_reports_the_exit_code(live_berth: Berth, docker_cluster: str) -> None:
    ecs = live_berth.client()
    family = unique("exit")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "main", "image": IMAGE, "memory": 64, "command": ["sleep", "300"]}],
    )
    run = ecs.run_task(
        cluster=docker_cluster,
        taskDefinition=family,
        overrides={
            "containerOverrides": [
                {
                    "name": "main",
                    "environment": [{"name": "MODE", "value": "WORKER"}],
                    "command": ["sh", "-c", 'test "$MODE" = WORKER && exit 3'],
                }
            ]
        },
    )
    assert not run["failures"], run["failures"]
    task_arn = run["tasks"][0]["taskArn"]

    def stopped() -> Any:
        task = ecs.describe_tasks(cluster=docker_cluster, tasks=[task_arn])["tasks"][0]
        return task if task["lastStatus"] == "STOPPED" else None

    task = eventually(stopped, timeout=60, what=f"{task_arn} to stop")
    container = task["containers"][0]
    assert container["exitCode"] == 3, task
    assert task["stopCode"] == "EssentialContainerExited"
    assert len(container["runtimeId"]) == 64, "a Docker container id"
    assert task["startedAt"] is not None


def test_berth_up_runs_tasks_on_its_local_docker_agent(berth_factory: Any) -> None:
    """`berth up` with a reachable Docker Engine joins its own `default` cluster, and the
    AWS CLI's run-task → wait tasks-stopped → describe-tasks sees the container's exit."""
    b = berth_factory(
        fake_agent=False,
        local_agent=True,
        extra_env={"DOCKER_HOST": _docker_host(), "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached"},
    )
    assert "local agent on Docker" in b.output(), b.output()
    eventually(
        lambda: b.aws("ecs", "describe-clusters")["clusters"][0]["registeredContainerInstancesCount"] == 1,
        timeout=30,
        what="the local agent's container instance",
    )
    family = unique("up-local")
    b.client().register_task_definition(
        family=family,
        containerDefinitions=[{"name": "main", "image": IMAGE, "memory": 64, "command": ["sh", "-c", "exit 7"]}],
    )
    run = b.aws("ecs", "run-task", "--task-definition", family)
    assert not run["failures"], run
    arn = run["tasks"][0]["taskArn"]
    b.aws("ecs", "wait", "tasks-stopped", "--tasks", arn, check=False)
    task = eventually(
        lambda: next(iter(t for t in b.aws("ecs", "describe-tasks", "--tasks", arn)["tasks"] if t["lastStatus"] == "STOPPED"), None),
        timeout=60,
        what=f"{arn} to stop",
    )
    assert task["containers"][0]["exitCode"] == 7, task
