"""`berth agent` running tasks on a real Docker Engine.

scripts/test starts a dockerd of its own and imports an offline busybox image; it passes
them as BERTH_TEST_DOCKER_HOST and BERTH_TEST_IMAGE. This module fails (never skips)
without them. Covers the seed's boto3 pattern: run_task with container overrides, poll
the task until STOPPED, read the container's exit code; and the agent's registration.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Berth, eventually, unique
from docker_agent import IMAGE, AgentProcess, agent_env, docker_host, docker_ps


@pytest.fixture
def agent(live_berth: Berth, tmp_path: Path) -> Iterator[AgentProcess]:
    """A fresh cluster with one `berth agent` joined to it; stopped afterwards."""
    cluster = unique("docker")
    live_berth.client().create_cluster(clusterName=cluster)
    a = AgentProcess(live_berth, cluster, tmp_path)
    a.start()
    try:
        eventually(
            lambda: a.proc is not None and a.proc.poll() is None
            and live_berth.client().list_container_instances(cluster=cluster)["containerInstanceArns"],
            timeout=30,
            what=f"berth agent to join {cluster} (log: {tmp_path / 'agent.log'})",
        )
        yield a
    finally:
        a.stop()


@pytest.fixture
def docker_cluster(agent: AgentProcess) -> str:
    return agent.cluster


def test_the_agent_registers_the_hosts_resources(live_berth: Berth, docker_cluster: str) -> None:
    ecs = live_berth.client()
    arns = ecs.list_container_instances(cluster=docker_cluster)["containerInstanceArns"]
    instance = ecs.describe_container_instances(cluster=docker_cluster, containerInstances=arns)["containerInstances"][0]
    assert instance["agentConnected"] is True
    # The engine host's capacity, whatever CPU quota the agent process runs under.
    cpu = next(r for r in instance["registeredResources"] if r["name"] == "CPU")
    assert cpu["integerValue"] == os.cpu_count() * 1024
    memory = next(r for r in instance["registeredResources"] if r["name"] == "MEMORY")
    with open("/proc/meminfo") as f:
        mem_total_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    assert memory["integerValue"] == mem_total_kib // 1024
    ports = next(r for r in instance["registeredResources"] if r["name"] == "PORTS")
    assert {"22", "2375", "2376", "51678", "51679"} <= set(ports["stringSetValue"])
    assert instance["versionInfo"]["agentVersion"].startswith("berth-agent")


def test_agent_connected_turns_false_soon_after_the_agent_is_killed_and_true_when_it_is_back(
    live_berth: Berth, agent: AgentProcess
) -> None:
    ecs = live_berth.client()
    cluster = agent.cluster

    def connected() -> bool:
        arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        return ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
            "containerInstances"][0]["agentConnected"]
    assert connected()
    agent.kill9()
    killed = time.monotonic()
    # Heartbeats every 5 s; four missed and the agent counts as gone (README).
    eventually(lambda: not connected(), timeout=40, interval=0.5, what="agentConnected to turn false")
    assert time.monotonic() - killed <= 30, "within a few heartbeat intervals"
    agent.start()
    eventually(connected, timeout=30, what="agentConnected to turn true again")


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
        extra_env={"DOCKER_HOST": docker_host(), **agent_env()},
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


def test_berth_up_without_a_running_engine_says_what_to_run(berth_factory: Any) -> None:
    """`berth up` where no engine answers at the default socket: with `--docker-setup
    tell` it prints the exact commands for this machine (dockerd is installed here, so
    only a start) and serves the control plane anyway."""
    default_socket_answers = subprocess.run(
        ["docker", "-H", "unix:///var/run/docker.sock", "version"], capture_output=True
    ).returncode == 0
    b = berth_factory(fake_agent=False, local_agent=True, extra_args=["--docker-setup", "tell"])
    out = b.output()
    if default_socket_answers:
        # A machine with a system engine running: berth up simply joins it.
        assert "local agent on Docker" in out, out
        return
    assert "no Docker Engine answers at /var/run/docker.sock" in out, out
    assert "berth: to run tasks on this machine, run:" in out, out
    starts = ("systemctl start docker", "dockerd > /var/log/dockerd.log 2>&1 &")
    assert any(s in out for s in starts), out
    assert "apt-get install" not in out, "dockerd is installed here: nothing to install"
    assert b.aws("ecs", "list-clusters")["clusterArns"], "the control plane serves regardless"


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_an_agent_killed_with_9_or_stopped_with_sigterm_leaves_its_containers_and_re_adopts_them(
    live_berth: Berth, agent: AgentProcess, how: str
) -> None:
    """As the ECS agent: stopping the agent (SIGTERM, as `systemctl stop` does) or
    losing it (kill -9) leaves its tasks' containers running; started again, it takes
    them up without a restart or a duplicate."""
    ecs = live_berth.client()
    family = unique("adopt")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "main", "image": IMAGE, "memory": 64, "command": ["sleep", "300"], "stopTimeout": 2}],
    )
    arn = ecs.run_task(cluster=agent.cluster, taskDefinition=family)["tasks"][0]["taskArn"]

    def running() -> Any:
        task = ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]
        return task if task["lastStatus"] == "RUNNING" else None

    before = eventually(running, timeout=60, what=f"{arn} to run")
    container_id = before["containers"][0]["runtimeId"]
    assert docker_ps(arn) == [container_id]

    if how == "SIGTERM":
        agent.stop()
        assert agent.proc is not None and agent.proc.returncode == 0, agent.log()[-2000:]
    else:
        agent.kill9()
    assert docker_ps(arn) == [container_id], "the container outlives its agent"
    agent.start()
    # A second task running proves the restarted agent has made passes, and each pass
    # plans every task it is assigned, the first one included.
    probe = ecs.run_task(cluster=agent.cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    eventually(lambda: (lambda t: t if t["lastStatus"] == "RUNNING" else None)(
        ecs.describe_tasks(cluster=agent.cluster, tasks=[probe])["tasks"][0]), timeout=60, what="the restarted agent to run a task")
    assert docker_ps(arn) == [container_id], "re-adopted: no duplicate, no restart"
    after = ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]
    assert after["lastStatus"] == "RUNNING"
    assert after["containers"][0]["runtimeId"] == container_id

    ecs.stop_task(cluster=agent.cluster, task=probe, reason="done")
    ecs.stop_task(cluster=agent.cluster, task=arn, reason="done")

    def stopped() -> Any:
        task = ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]
        return task if task["lastStatus"] == "STOPPED" else None

    task = eventually(stopped, timeout=60, what=f"{arn} to stop")
    assert task["containers"][0]["exitCode"] == 137, "PID 1 ignores SIGTERM; killed after stopTimeout"
    assert docker_ps(arn) == []


def test_a_task_that_ends_while_its_agent_is_down_is_reported_after_the_restart(
    live_berth: Berth, agent: AgentProcess
) -> None:
    """Down for less than the lost-host timeout (10 s): the task is not given up on, and
    the exit the agent finds on its return is reported."""
    ecs = live_berth.client()
    family = unique("ended")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "main", "image": IMAGE, "memory": 32, "command": ["sh", "-c", "sleep 3; exit 4"]}],
    )
    arn = ecs.run_task(cluster=agent.cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    eventually(
        lambda: ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING",
        timeout=60,
        what=f"{arn} to run",
    )
    agent.kill9()
    eventually(lambda: docker_ps(arn) == [], timeout=8, interval=0.1, what="the container to exit while its agent is down")
    assert ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING", "nobody told"
    agent.start()
    task = eventually(
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]),
        timeout=60,
        what=f"{arn} to be reported STOPPED",
    )
    assert task["containers"][0]["exitCode"] == 4
    assert task["stopCode"] == "EssentialContainerExited"


def test_the_hosts_gpus_and_docker_version_are_registered(live_berth: Berth, tmp_path: Path) -> None:
    """A host where `nvidia-smi` lists GPUs registers them (here a stand-in script on PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho GPU-11111111-aaaa\necho GPU-22222222-bbbb\n")
    smi.chmod(0o755)
    cluster = unique("gpu")
    ecs = live_berth.client()
    ecs.create_cluster(clusterName=cluster)
    a = AgentProcess(live_berth, cluster, tmp_path, extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    a.start()
    try:
        arns = eventually(
            lambda: ecs.list_container_instances(cluster=cluster)["containerInstanceArns"], timeout=30, what="the agent to join"
        )
        instance = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"][0]
        gpus = next(r for r in instance["registeredResources"] if r["name"] == "GPU")
        assert sorted(gpus["stringSetValue"]) == ["GPU-11111111-aaaa", "GPU-22222222-bbbb"]
        assert instance["versionInfo"]["dockerVersion"].startswith("DockerVersion: ")
    finally:
        a.stop()
