"""From container to log: tasks with the `awslogs` log configuration on a real Docker
Engine through `berth agent`, read back with the AWS CLI and boto3 — stdout and stderr in
stream PREFIX/CONTAINER/TASK-ID, 100,000 lines all there and in order, lines written
while the control plane is down, an agent `kill -9` that neither loses nor repeats a
line, and `berth logs TASK [-f]`."""

from __future__ import annotations

import subprocess
import time
from typing import Any, Iterator

import pytest

from conftest import Berth, berth_bin, eventually, unique
from docker_agent import IMAGE, AgentProcess, agent_node

CLUSTER = "default"


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berth, AgentProcess]]:
    yield from agent_node(berth_factory, tmp_path_factory.mktemp("agent"), CLUSTER)


def logging_task(berth: Berth, script: str, group: str) -> str:
    """Registers a one-container task that runs `script` and logs with awslogs; returns
    its family."""
    family = unique("logs")
    berth.client().register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 64, "command": ["sh", "-c", script],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": group, "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}},
    }])
    return family


def run(berth: Berth, family: str) -> tuple[str, str]:
    """Runs the family's task; returns its ARN and its log stream's name."""
    r = berth.client().run_task(cluster=CLUSTER, taskDefinition=family)
    assert not r["failures"], r["failures"]
    arn = r["tasks"][0]["taskArn"]
    return arn, f"ecs/main/{arn.rsplit('/', 1)[1]}"


def wait_stopped(berth: Berth, arn: str, timeout: float = 120) -> dict:
    ecs = berth.client()
    return eventually(
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]),
        timeout=timeout, what=f"{arn} to stop")


def all_messages(berth: Berth, group: str, stream: str) -> list[str]:
    """Every event of a stream, oldest first, through GetLogEvents' forward tokens."""
    logs = berth.client("logs")
    try:
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    except logs.exceptions.ResourceNotFoundException:
        return []
    messages = []
    while page["events"]:
        messages += [e["message"] for e in page["events"]]
        page = logs.get_log_events(logGroupName=group, logStreamName=stream,
                                   nextToken=page["nextForwardToken"])
    return messages


def wait_messages(berth: Berth, group: str, stream: str, count: int, timeout: float = 60) -> list[str]:
    eventually(lambda: len(all_messages(berth, group, stream)) >= count, timeout=timeout,
               what=f"{count} events in {group} {stream}")
    return all_messages(berth, group, stream)


def test_a_tasks_stdout_and_stderr_reach_get_log_events(node: tuple[Berth, AgentProcess]) -> None:
    berth, _ = node
    group = f"/ecs/{unique('hello')}"
    # Docker stamps stdout and stderr lines as their pipes deliver them; the pauses keep
    # the order of the three lines beyond doubt.
    family = logging_task(berth, "echo hello; sleep 0.2; echo oops >&2; sleep 0.2; echo bye", group)
    arn, stream = run(berth, family)
    task = wait_stopped(berth, arn)
    assert task["containers"][0]["exitCode"] == 0, task
    assert wait_messages(berth, group, stream, 3) == ["hello", "oops", "bye"]
    events = berth.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
                       "--start-from-head")["events"]
    assert [e["message"] for e in events] == ["hello", "oops", "bye"]
    started = task["startedAt"].timestamp()
    assert all(abs(e["timestamp"] / 1000 - started) < 60 for e in events), "the container's own timestamps"
    found = berth.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "oops")["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [(stream, "oops")]


def test_a_hundred_thousand_lines_arrive_all_and_in_order(node: tuple[Berth, AgentProcess]) -> None:
    berth, _ = node
    group = f"/ecs/{unique('many')}"
    family = logging_task(berth, "seq 1 100000", group)
    arn, stream = run(berth, family)
    wait_stopped(berth, arn)
    messages = wait_messages(berth, group, stream, 100_000, timeout=120)
    assert len(messages) == 100_000
    assert messages == [str(i) for i in range(1, 100_001)]


def test_lines_written_while_the_control_plane_is_down_arrive_after_it_is_back(
    node: tuple[Berth, AgentProcess]
) -> None:
    berth, _ = node
    group = f"/ecs/{unique('outage')}"
    # 15 s of output: still writing while the control plane is down, on a slow machine too.
    family = logging_task(berth, "for i in $(seq 1 150); do echo tick $i; sleep 0.1; done", group)
    arn, stream = run(berth, family)
    wait_messages(berth, group, stream, 3)
    berth.restart(kill9=True)  # down, up again: the container keeps writing meanwhile
    wait_stopped(berth, arn)
    assert wait_messages(berth, group, stream, 150) == [f"tick {i}" for i in range(1, 151)]


def test_an_agent_killed_with_9_neither_loses_nor_repeats_a_line(node: tuple[Berth, AgentProcess]) -> None:
    berth, agent = node
    group = f"/ecs/{unique('agent-restart')}"
    family = logging_task(berth, "for i in $(seq 1 100); do echo n $i; sleep 0.1; done; sleep 2", group)
    arn, stream = run(berth, family)
    wait_messages(berth, group, stream, 5)
    agent.kill9()
    time.sleep(1)
    agent.start()
    wait_stopped(berth, arn)
    assert wait_messages(berth, group, stream, 100) == [f"n {i}" for i in range(1, 101)]


def test_berth_logs_prints_and_follows_a_tasks_output(node: tuple[Berth, AgentProcess]) -> None:
    berth, _ = node
    group = f"/ecs/{unique('cli')}"
    family = logging_task(berth, "for i in 1 2 3 4 5; do echo step $i; sleep 0.3; done", group)
    arn, _ = run(berth, family)
    want = [f"step {i}" for i in range(1, 6)]
    followed = subprocess.run([str(berth_bin()), "logs", arn, "--follow"], env=berth.child_env(),
                              capture_output=True, text=True, timeout=90)
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.splitlines() == want
    task_id = arn.rsplit("/", 1)[1]
    again = subprocess.run([str(berth_bin()), "logs", task_id], env=berth.child_env(),
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.splitlines() == want, again.stderr
    missing = subprocess.run([str(berth_bin()), "logs", "0" * 32], env=berth.child_env(),
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "is not in cluster default" in missing.stderr
