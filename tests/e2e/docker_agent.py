"""Helpers for tests that run real `berth agent` processes on the suite's own dockerd.

scripts/test starts that dockerd and imports an offline busybox image; it passes them as
BERTH_TEST_DOCKER_HOST and BERTH_TEST_IMAGE, and the bridge and subnet the agents' awsvpc
network uses as BERTH_TEST_TASK_BRIDGE and BERTH_TEST_TASK_SUBNET. Tests that need them
fail (never skip) without them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Berth, berth_bin, eventually

IMAGE = os.environ.get("BERTH_TEST_IMAGE", "berth-test/busybox:latest")


def docker_host() -> str:
    host = os.environ.get("BERTH_TEST_DOCKER_HOST")
    if not host:
        pytest.fail("BERTH_TEST_DOCKER_HOST is not set: run the suite through scripts/test, which starts a dockerd")
    return host


def agent_env() -> dict[str, str]:
    """Agent settings for the test engine: its task bridge and subnet, cached images, and
    a free port for the metadata endpoint so agents never collide."""
    env = {"ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached", "BERTH_ENDPOINT_PORT": "0"}
    for ours, theirs in (("BERTH_TASK_BRIDGE", "BERTH_TEST_TASK_BRIDGE"), ("BERTH_TASK_SUBNET", "BERTH_TEST_TASK_SUBNET")):
        if os.environ.get(theirs):
            env[ours] = os.environ[theirs]
    return env


def docker(*args: str, check: bool = True) -> str:
    """Runs the docker CLI against the test engine; returns its stdout."""
    out = subprocess.run(["docker", "-H", docker_host(), *args], capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def docker_ps(label_value: str) -> list[str]:
    """Ids of the test engine's running containers whose task ARN label is `label_value`."""
    return docker("ps", "-q", "--no-trunc", "--filter", f"label=com.amazonaws.ecs.task-arn={label_value}").split()


def docker_inspect(container_id: str) -> Any:
    return json.loads(docker("inspect", container_id))[0]


class AgentProcess:
    """One `berth agent` process on the test dockerd, restartable on the same data dir."""

    def __init__(
        self, berth: Berth, cluster: str, root: Path, extra_args: list[str] | None = None, extra_env: dict[str, str] | None = None,
        server: str | None = None, token: str | None = None,
    ) -> None:
        self.berth, self.cluster, self.root = berth, cluster, root
        # A join token; the operator's token file when none is given.
        self.token = token
        self.extra_args = list(extra_args or [])
        self.extra_env = dict(extra_env or {})
        # The control plane URL(s) it joins: `berth`'s own unless given (replicas: several).
        self.server = server or berth.endpoint
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = self.berth.child_env()
        env.update({"ECS_CLUSTER": self.cluster, **agent_env(), **self.extra_env})
        argv = [
            str(berth_bin()), "agent", "--server", self.server,
            *(["--token", self.token] if self.token else ["--token-file", str(self.berth.data_dir / "agent-token")]),
            "--docker-host", docker_host(), "--data-dir", str(self.root / "agent"), *self.extra_args,
        ]
        with open(self.root / "agent.log", "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        return (self.root / "agent.log").read_text(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def agent_node(
    berth_factory: Any, root: Path, cluster: str = "default", extra_args: list[str] | None = None
) -> Iterator[tuple[Berth, AgentProcess]]:
    """A server of its own with one `berth agent` on the test dockerd, joined to
    `cluster` (and with `--fargate` in `extra_args`, Fargate capacity too); for
    module-scoped fixtures (yields, then stops the agent)."""
    berth = berth_factory(fake_agent=False)
    agent = AgentProcess(berth, cluster, root, extra_args)
    agent.start()
    try:
        eventually(lambda: berth.client().list_container_instances(cluster=cluster)["containerInstanceArns"],
                   timeout=30, what=f"berth agent to join (log: {root / 'agent.log'})")
        yield berth, agent
    finally:
        agent.stop()

