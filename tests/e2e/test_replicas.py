"""The control plane as replicas: three etcd members, three `berth server --store
etcd://...` replicas sharing a blob directory, and one `berth agent` on the suite's
Docker Engine that knows all three. Every replica answers every API the same; a burst of
RunTask calls spread over the replicas while the leader is killed with `kill -9` leaves
every acknowledged task existing once, placed once and run once; a service keeps its
desired count across the leader's death; an image pushed through one replica pulls
through another; a task's log lines survive the replica that took them and read the
same through every replica; and a leader paused (SIGSTOP) stops acting before another
leads."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Berth, berth_bin, eventually, unique
from docker_agent import IMAGE, AgentProcess, docker, docker_host
from etcd_kit import EtcdCluster
from registry_kit import skopeo

CLUSTER = "default"
LEADER_KEY = "/berth/leader/controllers"


class Replicas:
    def __init__(self, etcd: EtcdCluster, servers: list[Berth], agent: AgentProcess, shared: Path) -> None:
        self.etcd, self.servers, self.agent, self.shared = etcd, servers, agent, shared

    def leader(self) -> Berth:
        """The replica holding the leader key, as etcd says."""
        def holder() -> Berth | None:
            value = self.etcd.get(LEADER_KEY)
            if not value:
                return None
            port = int(re.search(r":(\d+)\)$", value).group(1))
            return next(s for s in self.servers if s.port == port)
        return eventually(holder, timeout=30, what="a leader")

    def others(self, leader: Berth) -> list[Berth]:
        return [s for s in self.servers if s is not leader]


@pytest.fixture(scope="module")
def replicas(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    etcd = EtcdCluster(tmp_path_factory.mktemp("etcd"))
    etcd.start()
    shared = tmp_path_factory.mktemp("shared")
    servers = []
    agent = None
    try:
        for _ in range(3):
            servers.append(berth_factory(command="server", fake_agent=False, seed_home=False,
                                         extra_args=["--store", etcd.url, "--shared-dir", str(shared)]))
        root = tmp_path_factory.mktemp("replica-agent")
        agent = AgentProcess(servers[0], CLUSTER, root, server=",".join(s.endpoint for s in servers),
                             extra_env={"ECS_CONTAINER_STOP_TIMEOUT": "2s"})
        # The default cluster comes into being when its first agent joins.
        agent.start()
        eventually(lambda: servers[1].client().list_container_instances(cluster=CLUSTER)["containerInstanceArns"],
                   timeout=60, what=f"the agent to join (log: {root / 'agent.log'})")
        yield Replicas(etcd, servers, agent, shared)
    finally:
        if agent is not None:
            agent.stop()
        for s in servers:
            s.stop()
        etcd.stop()


def ensure_running(r: Replicas) -> None:
    for s in r.servers:
        if s.proc is None or s.proc.poll() is not None:
            s.start()


def sleeper(ecs: Any, seconds: int) -> str:
    family = unique("replicated")
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 16, "command": ["sh", "-c", f"sleep {seconds}"]}])
    return family


def test_every_replica_answers_every_api_the_same(replicas: Replicas) -> None:
    ensure_running(replicas)
    a, b, c = replicas.servers
    name = unique("everywhere")
    a.aws("ecs", "create-cluster", "--cluster-name", name)
    for s in (b, c):
        assert f"cluster/{name}" in " ".join(s.aws("ecs", "list-clusters")["clusterArns"]), s.endpoint
    family = sleeper(b.client(), 1)
    revision = c.client().describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"]
    assert revision == 1
    keys = {s.credentials() for s in replicas.servers}
    assert len(keys) == 1, "every replica accepts (and wrote into its profile) the same key pair"


def test_a_secret_sealed_through_one_replica_opens_through_every_other(replicas: Replicas) -> None:
    """No key file given: the first replica's generated secrets key is shared through the
    store, so a value sealed by one replica opens on the others."""
    ensure_running(replicas)
    a, b, c = replicas.servers
    name, parameter = unique("shared-secret"), f"/{unique('shared')}/token"
    a.client("secretsmanager").create_secret(Name=name, SecretString="same-everywhere")
    b.client("ssm").put_parameter(Name=parameter, Type="SecureString", Value="sealed-by-b")
    for s in replicas.servers:
        assert s.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == "same-everywhere"
        got = s.client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
        assert got == "sealed-by-b", s.endpoint
    assert len({(s.data_dir / "secrets.key").read_text() for s in (a, b, c)}) == 1


def test_berth_exec_reaches_the_agent_through_every_replica(replicas: Replicas) -> None:
    """Exec sessions live on the replica that issued them; the agent polls every replica
    it knows and joins each session where it was issued, so any replica serves exec."""
    ensure_running(replicas)
    ecs = replicas.servers[0].client()
    family = sleeper(ecs, 600)
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition=family, enableExecuteCommand=True)["tasks"][0]["taskArn"]
    eventually(lambda: ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING",
               timeout=90, what=f"{arn} to run")
    try:
        for s in replicas.servers:
            session = s.client().execute_command(cluster=CLUSTER, task=arn, command="true", interactive=True)["session"]
            assert session["streamUrl"].startswith(f"ws://127.0.0.1:{s.port}/exec/v1/sessions/"), "names the replica"
            done = subprocess.run([str(berth_bin()), "exec", arn, "--", "sh", "-c", "cat; exit 4"],
                                  env=s.child_env(), input=f"through {s.port}".encode(), capture_output=True, timeout=60)
            assert (done.returncode, done.stdout) == (4, f"through {s.port}".encode()), (s.endpoint, done)
    finally:
        ecs.stop_task(cluster=CLUSTER, task=arn)


def test_a_run_task_burst_across_replicas_survives_a_leader_killed_with_9(replicas: Replicas) -> None:
    ensure_running(replicas)
    leader = replicas.leader()
    family = sleeper(replicas.servers[0].client(), 1)
    clients = [s.client() for s in replicas.servers]
    acknowledged: list[str] = []
    calls = 0

    def run(i: int) -> list[str]:
        # Each call goes to replica i % 3; one that cannot be reached goes to the next,
        # as a client behind a load balancer would.
        for step in range(3):
            ecs = clients[(i + step) % 3]
            try:
                r = ecs.run_task(cluster=CLUSTER, taskDefinition=family)
            except Exception:  # connection refused or reset by the killed replica
                continue
            assert not r["failures"], r["failures"]
            return [t["taskArn"] for t in r["tasks"]]
        raise AssertionError(f"call {i}: no replica answered")

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(run, i) for i in range(30)]
        # Kill the leader while the burst is under way.
        while sum(f.done() for f in futures) < 8:
            time.sleep(0.02)
        leader.kill()
        for f in futures:
            acknowledged += f.result()
            calls += 1
    assert calls == 30 and len(acknowledged) == 30 and len(set(acknowledged)) == 30, acknowledged

    survivor = replicas.others(leader)[0].client()

    def finished() -> list[dict] | None:
        tasks = []
        for i in range(0, len(acknowledged), 100):
            tasks += survivor.describe_tasks(cluster=CLUSTER, tasks=acknowledged[i:i + 100])["tasks"]
        return tasks if all(t["lastStatus"] == "STOPPED" for t in tasks) else None
    tasks = eventually(finished, timeout=180, what="every acknowledged task to run and stop")
    assert sorted(t["taskArn"] for t in tasks) == sorted(acknowledged), "each exists, once"
    for t in tasks:
        assert t["containerInstanceArn"], f"placed: {t}"
        assert t["containers"][0].get("exitCode") == 0, f"ran to completion: {t}"
        ran = docker("ps", "-a", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={t['taskArn']}").split()
        assert len(ran) == 1, f"{t['taskArn']} ran in {len(ran)} containers"
    leader.start()


def test_a_service_keeps_its_desired_count_when_the_leader_dies(replicas: Replicas) -> None:
    ensure_running(replicas)
    leader = replicas.leader()
    api = replicas.others(leader)[0]
    ecs = api.client()
    family = sleeper(ecs, 3600)
    name = unique("kept")
    ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=family, desiredCount=3)

    def running() -> list[str]:
        return ecs.list_tasks(cluster=CLUSTER, serviceName=name, desiredStatus="RUNNING")["taskArns"]

    def three_running() -> bool:
        arns = running()
        return len(arns) == 3 and all(
            t["lastStatus"] == "RUNNING" for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"])
    eventually(three_running, timeout=120, what="three running tasks")
    leader.kill()
    victim = running()[0]
    ecs.stop_task(cluster=CLUSTER, task=victim, reason="chaos")
    eventually(lambda: three_running() and victim not in running(), timeout=60,
               what="the new leader to replace the stopped task")
    for _ in range(10):
        assert len(running()) == 3, "never more than the desired count"
        time.sleep(0.5)
    ecs.update_service(cluster=CLUSTER, service=name, desiredCount=0)
    eventually(lambda: not running(), timeout=120, what="the service to scale to zero")
    ecs.delete_service(cluster=CLUSTER, service=name)
    leader.start()


def test_an_image_pushed_through_one_replica_pulls_through_another(replicas: Replicas, tmp_path: Path) -> None:
    ensure_running(replicas)
    a, b, _ = replicas.servers
    repo = f"team/{unique('shared')}"
    a.aws("ecr", "create-repository", "--repository-name", repo)
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": docker_host()}

    def cli(*args: str, stdin: str | None = None) -> str:
        out = subprocess.run(["docker", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"docker {' '.join(args)}: {out.stderr}"
        return out.stdout.strip()
    for s in (a, b):
        password = s.run_cli(["ecr", "get-login-password"]).stdout.strip()
        cli("login", "--username", "AWS", "--password-stdin", f"127.0.0.1:{s.port}", stdin=password)
    pushed = f"127.0.0.1:{a.port}/{repo}:v1"
    cli("tag", IMAGE, pushed)
    cli("push", pushed)
    cli("rmi", pushed)
    # skopeo fetches every blob from the other replica (the local engine has the layers
    # already, so a `docker pull` would not ask for them).
    password = b.run_cli(["ecr", "get-login-password"]).stdout.strip()
    copied = tmp_path / "copied"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", f"AWS:{password}",
           f"docker://127.0.0.1:{b.port}/{repo}:v1", f"dir:{copied}",
           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)})
    manifest = json.loads((copied / "manifest.json").read_text())
    for layer in [manifest["config"], *manifest["layers"]]:
        blob = copied / layer["digest"].split(":", 1)[1]
        assert blob.stat().st_size == layer["size"], layer


def lane_holder(r: Replicas, lane_dir: Path) -> Berth:
    """The replica that writes a log lane: the process holding the lane's lock file."""
    lock = r.shared / "logs" / "lanes" / f"{lane_dir.name}.lock"

    def holds(s: Berth) -> bool:
        fds = Path(f"/proc/{s.proc.pid}/fd")
        return any(os.path.realpath(fd) == str(lock) for fd in fds.iterdir())
    holders = [s for s in r.servers if s.alive() and holds(s)]
    assert len(holders) == 1, f"{lock} is held by {len(holders)} replicas"
    return holders[0]


def log_messages(logs: Any, group: str, stream: str) -> list[str]:
    """Every message of a stream, oldest first, paging with GetLogEvents' tokens."""
    messages: list[str] = []
    token = None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, limit=25,
                                   **kwargs)
        messages += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            return messages
        token = page["nextForwardToken"]


def test_log_lines_survive_the_replica_that_took_them_and_read_the_same_everywhere(replicas: Replicas) -> None:
    """A task logs with awslogs while the replica its agent ships to is killed with
    `kill -9`: the agent moves to another replica, and every line, those acknowledged by
    the killed replica included, reads exactly once and in order through every replica
    (the killed one too, once restarted)."""
    ensure_running(replicas)
    ecs = replicas.servers[0].client()
    family, group = unique("logger"), f"/berth/{unique('replicated-logs')}"
    lines = 150
    script = f"i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo line $i; sleep 0.1; done"
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 16, "command": ["sh", "-c", script],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "app",
            "awslogs-create-group": "true"}}}])
    streams_dir = replicas.shared / "logs" / "streams"
    before = set(streams_dir.iterdir()) if streams_dir.exists() else set()
    task = ecs.run_task(cluster=CLUSTER, taskDefinition=family)["tasks"][0]["taskArn"]
    stream = f"app/main/{task.rsplit('/', 1)[1]}"
    logs = replicas.servers[1].client("logs")

    def shipped() -> int:
        try:
            return len(log_messages(logs, group, stream))
        except logs.exceptions.ResourceNotFoundException:
            return 0  # the group or stream is made with the first batch
    eventually(lambda: shipped() >= 5, timeout=60, what="the first lines")
    [stream_dir] = [d for d in streams_dir.iterdir() if d not in before]
    [lane] = list(stream_dir.iterdir())
    taker = lane_holder(replicas, lane)
    taker.kill()
    survivor = replicas.others(taker)[0].client()
    eventually(lambda: survivor.describe_tasks(cluster=CLUSTER, tasks=[task])["tasks"][0]["lastStatus"] == "STOPPED",
               timeout=120, what="the task to finish logging")
    expected = [f"line {i}" for i in range(1, lines + 1)]
    for s in replicas.others(taker):
        assert log_messages(s.client("logs"), group, stream) == expected, f"through {s.endpoint}"
    assert len(list(stream_dir.iterdir())) == 2, "the agent moved to another replica, which wrote a lane"
    taker.start()
    assert log_messages(taker.client("logs"), group, stream) == expected, "through the restarted replica"
    events = taker.client("logs").filter_log_events(logGroupName=group, logStreamNames=[stream])["events"]
    assert [e["message"] for e in events] == expected


def test_a_paused_leader_stops_acting_before_another_leads(replicas: Replicas) -> None:
    ensure_running(replicas)
    leader = replicas.leader()
    api = replicas.others(leader)[0]
    ecs = api.client()
    family = sleeper(ecs, 3600)
    name = unique("paused")
    ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=family, desiredCount=2)

    def running() -> list[str]:
        return ecs.list_tasks(cluster=CLUSTER, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    eventually(lambda: len(running()) == 2, timeout=120, what="two tasks")
    assert leader.proc is not None
    leader.proc.send_signal(signal.SIGSTOP)
    try:
        successor = eventually(lambda: (lambda l: l if l is not leader else None)(replicas.leader()),
                               timeout=30, what="another replica to lead")
        assert successor is not leader
        ecs.update_service(cluster=CLUSTER, service=name, desiredCount=3)
        eventually(lambda: len(running()) == 3, timeout=120, what="the new leader to scale to three")
    finally:
        leader.proc.send_signal(signal.SIGCONT)
    # The resumed replica finds its term over and acts no more: the count stays three and
    # no task is started twice.
    eventually(lambda: "lost the leader lease" in leader.output(), timeout=30,
               what="the resumed replica to notice its term is over")
    for _ in range(10):
        assert len(running()) == 3, running()
        time.sleep(0.5)
    every = ecs.list_tasks(cluster=CLUSTER, serviceName=name, desiredStatus="STOPPED")["taskArns"]
    assert every == [], f"no task was stopped as surplus: {every}"
    ecs.update_service(cluster=CLUSTER, service=name, desiredCount=0)
    eventually(lambda: not running(), timeout=120, what="the service to scale to zero")
    ecs.delete_service(cluster=CLUSTER, service=name)
