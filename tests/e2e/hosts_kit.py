"""Several hosts on one machine, made of network namespaces: a bridge in the root
namespace, and for each host a namespace with a veth on that bridge, its own dockerd
(own data-root, exec-root, socket; no docker0; its own iptables, as Docker keeps them on
a real host) and its own `berth agent`
joined over HTTPS with a join token; the control plane (`berth server --tls
--task-routes`) runs in a namespace of its own, outside the hosts. The root namespace
reaches everything over the bridge, so the tests' AWS CLI and boto3 run as usual.

Everything this starts it stops by process id, and every link, namespace and rule it
adds it removes, so a shared test engine and the host's own networking are untouched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import Berth, berth_bin, eventually

#: The task range the control plane hands /24s out of, clear of scripts/test's bridges.
TASK_CIDR = "198.18.208.0/20"


def in_ns(ns: str) -> list[str]:
    """The prefix that runs a command in network namespace `ns`. nsenter enters only the
    network namespace (`ip netns exec` also remounts /sys, which hides the cgroup mounts
    dockerd needs)."""
    return ["nsenter", f"--net=/var/run/netns/{ns}"]


def sh(*argv: str, check: bool = True, ns: str | None = None, timeout: float = 60) -> str:
    full = [*in_ns(ns), *argv] if ns else list(argv)
    out = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(full)} failed: {out.stderr}")
    return out.stdout


@dataclass
class Host:
    """One namespace on the hosts' bridge with its dockerd and agent."""

    name: str
    ns: str
    veth: str
    address: str
    zone: str
    root: Path
    dockerd: subprocess.Popen | None = None
    agent: subprocess.Popen | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def docker(self, *args: str, check: bool = True) -> str:
        return sh("docker", "-H", self.docker_host, *args, check=check)

    def agent_log(self) -> str:
        return (self.root / "agent.log").read_text(errors="replace")

    def cut(self) -> None:
        """The host's link goes down: it neither reaches nor is reached."""
        sh("ip", "link", "set", self.veth, "down")

    def reconnect(self) -> None:
        sh("ip", "link", "set", self.veth, "up")


@dataclass
class Hosts:
    """The whole world: the bridge, the control plane's namespace and the hosts."""

    bridge: str
    net: str  # the first three octets of the bridge's /24
    root: Path
    cp_ns: str
    cp_veth: str
    hosts: list[Host] = field(default_factory=list)
    berth: Berth | None = None
    cluster: str = ""
    forward_rule: bool = False

    @property
    def cp_address(self) -> str:
        return f"{self.net}.2"

    def plug(self, ns: str, veth: str, address: str) -> None:
        """A namespace with a veth on the bridge at `address`, routing via the bridge."""
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", self.bridge, "up")
        sh("ip", "addr", "add", f"{address}/24", "dev", "eth0", ns=ns)
        sh("ip", "link", "set", "eth0", "up", ns=ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "route", "add", "default", "via", f"{self.net}.1", ns=ns)

    def start_host(self, host: Host, image_tar: Path) -> None:
        host.root.mkdir(parents=True, exist_ok=True)
        self.plug(host.ns, host.veth, host.address)
        with open(host.root / "dockerd.log", "wb") as log:
            host.dockerd = subprocess.Popen(
                [*in_ns(host.ns), "dockerd", "--data-root", str(host.root / "data"),
                 "--exec-root", str(host.root / "exec"), "-H", host.docker_host,
                 "--pidfile", str(host.root / "docker.pid"), "--bridge=none"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )
        def answers() -> bool:
            return subprocess.run(["docker", "-H", host.docker_host, "version"], capture_output=True).returncode == 0
        eventually(answers, timeout=60, what=f"the dockerd of {host.name} (log: {host.root / 'dockerd.log'})")
        host.docker("load", "-i", str(image_tar))

    def start_agent(self, host: Host, token: str) -> None:
        assert self.berth is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_", "ECS_")) or k == "BERTH_LOG"}
        env.update({"ECS_CLUSTER": self.cluster, "ECS_AVAILABILITY_ZONE": host.zone,
                    "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "5s",
                    # The CA goes where this test reads it, not into the machine's /etc/docker.
                    "BERTH_DOCKER_CERTS_DIR": str(host.root / "certs.d")})
        with open(host.root / "agent.log", "ab") as log:
            host.agent = subprocess.Popen(
                [*in_ns(host.ns), str(berth_bin()), "agent", "--server", self.berth.endpoint,
                 "--token", token, "--ca-file", str(self.berth.ca_file), "--docker-host", host.docker_host, "--data-dir", str(host.root / "agent")],
                env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )

    def instance_of(self, host: Host) -> dict:
        assert self.berth is not None
        ecs = self.berth.client()
        arns = ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
        described = ecs.describe_container_instances(cluster=self.cluster, containerInstances=arns)["containerInstances"]
        return next(i for i in described
                    if any(a["name"] == "ecs.availability-zone" and a.get("value") == host.zone for a in i["attributes"]))

    def stop(self) -> None:
        for host in self.hosts:
            for proc in (host.agent, host.dockerd):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        if self.berth is not None:
            self.berth.stop()
        for ns in [h.ns for h in self.hosts] + [self.cp_ns]:
            sh("ip", "netns", "del", ns, check=False)
        for veth in [h.veth for h in self.hosts] + [self.cp_veth]:
            sh("ip", "link", "del", veth, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        if self.forward_rule:
            sh("iptables", "-D", "FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT", check=False)
        for host in self.hosts:
            shutil.rmtree(host.root / "exec", ignore_errors=True)


def start(berth_factory: Any, root: Path, cluster: str, count: int = 3) -> Hosts:
    """The bridge, the control plane (`berth server --task-routes`) in its namespace, and
    `count` hosts joined to `cluster` with a join token; returns once all have joined."""
    for tool in ("ip", "dockerd", "docker"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run the suite through scripts/test, which installs it")
    sfx = os.getpid() % 10000
    world = Hosts(bridge=f"bhb{sfx}", net=f"198.19.{200 + sfx % 50}", root=root,
                  cp_ns=f"bcp{sfx}", cp_veth=f"vcp{sfx}", cluster=cluster)
    try:
        sh("ip", "link", "add", world.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{world.net}.1/24", "dev", world.bridge)
        sh("ip", "link", "set", world.bridge, "up")
        world.forward_rule = subprocess.run(
            ["iptables", "-I", "FORWARD", "-i", world.bridge, "-o", world.bridge, "-j", "ACCEPT"],
            capture_output=True).returncode == 0
        world.plug(world.cp_ns, world.cp_veth, world.cp_address)
        world.berth = berth_factory(fake_agent=False, command="server", netns=world.cp_ns,
                                    listen_host=world.cp_address, tls=True,
                                    extra_args=["--task-cidr", TASK_CIDR, "--task-routes",
                                                "--lb-host", world.cp_address])
        world.berth.aws("ecs", "create-cluster", "--cluster-name", cluster)
        token = subprocess.run([str(berth_bin()), "token", "create", "--cluster", cluster], env=world.berth.child_env(),
                               capture_output=True, text=True, timeout=60, check=True).stdout.strip()
        image_tar = root / "image.tar"
        subprocess.run(["docker", "-H", os.environ["BERTH_TEST_DOCKER_HOST"], "save", "-o", str(image_tar),
                        os.environ.get("BERTH_TEST_IMAGE", "berth-test/busybox:latest")], check=True, timeout=120)
        for n in range(count):
            host = Host(name=f"host{n}", ns=f"bh{sfx}n{n}", veth=f"vh{sfx}n{n}", address=f"{world.net}.{10 + n}",
                        zone=f"zone-{n}", root=root / f"host{n}")
            world.hosts.append(host)
            world.start_host(host, image_tar)
            world.start_agent(host, token)
        ecs = world.berth.client()
        eventually(lambda: len(ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]) == count,
                   timeout=60, what=f"{count} hosts to join (logs under {root})")
        time.sleep(0.5)
        return world
    except BaseException:
        world.stop()
        raise
