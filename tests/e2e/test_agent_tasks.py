"""Tasks on a real Docker Engine through `berth agent --fargate`: the seed's Presto
pattern in awsvpc mode, bridge and host networking, dependsOn and health checks,
stopTimeout, essential and non-essential exits, Fargate limits inside the container, and
the task metadata and credentials endpoints. One control plane (no fake agent) and one
agent offering both a container instance in `default` and Fargate pool capacity.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.request
from typing import Any, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
import pytest

from conftest import ECS_TASKS_TRUST, awsvpc_api, awsvpc_cli, eventually, free_port, unique
from docker_agent import IMAGE, AgentProcess, docker, docker_ps
from workloads import PRESTO

CLUSTER = "default"


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, AgentProcess]]:
    berth = berth_factory(fake_agent=False)
    agent = AgentProcess(berth, CLUSTER, tmp_path_factory.mktemp("agent"), extra_args=["--fargate"])
    agent.start()
    try:
        eventually(
            lambda: agent.proc is not None and agent.proc.poll() is None
            and berth.client().list_container_instances(cluster=CLUSTER)["containerInstanceArns"],
            timeout=30,
            what=f"berth agent to join (log: {agent.root / 'agent.log'})",
        )
        yield berth, agent
    finally:
        agent.stop()


def describe(ecs: Any, arn: str) -> dict:
    return ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]


def wait_status(ecs: Any, arn: str, status: str, timeout: float = 60) -> dict:
    def reached() -> Any:
        t = describe(ecs, arn)
        if status != "STOPPED" and t["lastStatus"] == "STOPPED":
            raise AssertionError(f"{arn} stopped: {t.get('stoppedReason')} {t['containers']}")
        return t if t["lastStatus"] == status else None

    return eventually(reached, timeout=timeout, what=f"{arn} to reach {status}")


def run(ecs: Any, family: str, **kwargs: Any) -> str:
    r = ecs.run_task(cluster=CLUSTER, taskDefinition=family, **kwargs)
    assert not r["failures"], r["failures"]
    return r["tasks"][0]["taskArn"]


def run_sleeper(ecs: Any, prefix: str, **definition: Any) -> tuple[str, str, str]:
    """Registers a task definition whose one container sleeps (plus `definition`), runs it
    and waits for RUNNING; returns the family, the task's ARN and its container's id."""
    family = unique(prefix)
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 32, "command": ["sleep", "300"], "stopTimeout": 2}],
        **definition)
    arn = run(ecs, family)
    return family, arn, container(wait_status(ecs, arn, "RUNNING"), "main")["runtimeId"]


def container(task: dict, name: str) -> dict:
    return next(c for c in task["containers"] if c["name"] == name)


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def stop(ecs: Any, arn: str) -> None:
    ecs.stop_task(cluster=CLUSTER, task=arn, reason="test done")




def test_the_presto_seed_workers_reach_the_coordinator_by_its_private_ip(node: Any) -> None:
    berth, _ = node
    family = unique("presto")
    berth.client().register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{
            "name": "Presto", "image": IMAGE, "essential": True, "stopTimeout": 2, "command": ["sh", "-c", PRESTO],
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "COORDINATOR"}],
        }],
    )
    net = awsvpc_cli()
    coordinator = berth.aws(
        "ecs", "run-task", "--cluster", CLUSTER, "--count", "1", "--reference-id", "coordinator",
        "--task-definition", family, "--launch-type", "FARGATE", "--network-configuration", net,
    )["tasks"][0]["taskArn"]
    ecs = berth.client()
    task = wait_status(ecs, coordinator, "RUNNING")
    ip = task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["privateIPv4Address"] == ip
    workers = []
    for worker_id in ("w1", "w2"):
        overrides = {"containerOverrides": [{"name": "Presto", "environment": [
            {"name": "MODE", "value": "WORKER"},
            {"name": "COORDINATOR_HOST_PORT", "value": f"{ip}:8080"},
            {"name": "WORKER_ID", "value": worker_id},
        ]}]}
        workers.append(berth.aws(
            "ecs", "run-task", "--cluster", CLUSTER, "--count", "1", "--reference-id", "worker",
            "--task-definition", family, "--launch-type", "FARGATE",
            "--overrides", json.dumps(overrides), "--network-configuration", net,
        )["tasks"][0]["taskArn"])
    worker_ips = set()
    for arn in workers:
        t = wait_status(ecs, arn, "RUNNING")
        worker_ips.add(t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"])
    assert len(worker_ips | {ip}) == 3, "every task has its own address"
    coordinator_id = task["containers"][0]["runtimeId"]

    seen: dict[str, Any] = {}

    def recorded_both() -> Any:
        out = docker("exec", coordinator_id, "cat", "/www/workers", check=False)
        seen["workers"] = [
            (describe(ecs, a)["lastStatus"], docker("logs", describe(ecs, a)["containers"][0]["runtimeId"], check=False))
            for a in workers
        ]
        return out if "w1" in out and "w2" in out else None

    try:
        recorded = eventually(recorded_both, timeout=30, what="the coordinator to record both workers")
    except BaseException as e:
        raise AssertionError(f"the workers' status and output: {seen}") from e
    assert "worker=w1&mode=WORKER" in recorded and "worker=w2&mode=WORKER" in recorded
    for arn in [coordinator, *workers]:
        stop(ecs, arn)
    for arn in [coordinator, *workers]:
        assert wait_status(ecs, arn, "STOPPED")["desiredStatus"] == "STOPPED"


WEB = 'mkdir -p /www && echo "hello from $NAME" > /www/index.html && exec httpd -f -p "$PORT" -h /www'


def test_bridge_mode_publishes_a_dynamic_host_port(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    family = unique("bridge")
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "web", "image": IMAGE, "memory": 64, "stopTimeout": 2, "command": ["sh", "-c", WEB],
        "environment": [{"name": "NAME", "value": "bridge"}, {"name": "PORT", "value": "80"}],
        "portMappings": [{"containerPort": 80, "hostPort": 0}],
    }])
    arn = run(ecs, family)
    task = wait_status(ecs, arn, "RUNNING")
    binding = container(task, "web")["networkBindings"][0]
    assert binding["containerPort"] == 80 and binding["protocol"] == "tcp"
    assert binding["hostPort"] >= 1024, binding
    body = eventually(lambda: http_get(f"http://127.0.0.1:{binding['hostPort']}/"), timeout=15, what="the published port")
    assert body.strip() == "hello from bridge"
    stop(ecs, arn)
    wait_status(ecs, arn, "STOPPED")


def test_host_mode_serves_on_the_hosts_port(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    port = free_port()
    family = unique("host")
    ecs.register_task_definition(family=family, networkMode="host", containerDefinitions=[{
        "name": "web", "image": IMAGE, "memory": 64, "stopTimeout": 2, "command": ["sh", "-c", WEB],
        "environment": [{"name": "NAME", "value": "host"}, {"name": "PORT", "value": str(port)}],
        "portMappings": [{"containerPort": port}],
    }])
    arn = run(ecs, family)
    task = wait_status(ecs, arn, "RUNNING")
    assert container(task, "web")["networkBindings"][0]["hostPort"] == port
    body = eventually(lambda: http_get(f"http://127.0.0.1:{port}/"), timeout=15, what="the host port")
    assert body.strip() == "hello from host"
    stop(ecs, arn)
    wait_status(ecs, arn, "STOPPED")


def test_depends_on_waits_for_success_and_health(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    family = unique("order")
    ecs.register_task_definition(
        family=family,
        volumes=[{"name": "shared"}],
        containerDefinitions=[
            {"name": "init", "image": IMAGE, "memory": 32, "essential": False,
             "command": ["sh", "-c", "sleep 1; echo ready > /shared/marker"],
             "mountPoints": [{"sourceVolume": "shared", "containerPath": "/shared"}]},
            {"name": "db", "image": IMAGE, "memory": 32, "stopTimeout": 2,
             "command": ["sh", "-c", "sleep 2; mkdir -p /tmp && touch /tmp/up; exec sleep 300"],
             "healthCheck": {"command": ["CMD-SHELL", "test -f /tmp/up"], "interval": 5, "retries": 3}},
            {"name": "app", "image": IMAGE, "memory": 32, "stopTimeout": 2,
             "command": ["sh", "-c", "cat /shared/marker || exit 4; exec sleep 300"],
             "mountPoints": [{"sourceVolume": "shared", "containerPath": "/shared", "readOnly": True}],
             "dependsOn": [{"containerName": "init", "condition": "SUCCESS"},
                           {"containerName": "db", "condition": "HEALTHY"}]},
        ],
    )
    arn = run(ecs, family)
    task = wait_status(ecs, arn, "RUNNING", timeout=90)
    assert container(task, "init")["exitCode"] == 0
    assert container(task, "db")["healthStatus"] == "HEALTHY"
    assert task["healthStatus"] == "HEALTHY"
    app, db, init = (docker_inspect_state(container(task, n)["runtimeId"]) for n in ("app", "db", "init"))
    assert docker_time(app["StartedAt"]) > docker_time(init["FinishedAt"]), "SUCCESS: app started after init exited"
    first_healthy = min(docker_time(h["End"]) for h in db["Health"]["Log"] if h["ExitCode"] == 0)
    assert docker_time(app["StartedAt"]) > first_healthy, "HEALTHY: app started after db's first passing check"
    assert app["Running"], "app found the marker init wrote to the task volume"
    stop(ecs, arn)
    wait_status(ecs, arn, "STOPPED")


def docker_time(text: str) -> dt.datetime:
    """Docker's RFC 3339 times carry up to nine fraction digits; Python reads six."""
    trimmed = re.sub(r"(\.\d{1,6})\d*", r"\1", text).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(trimmed)


def docker_inspect_state(container_id: str) -> dict:
    return json.loads(docker("inspect", container_id))[0]["State"]


def test_a_failing_health_check_marks_the_container_and_task_unhealthy(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    family = unique("sick")
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 32, "command": ["sleep", "300"], "stopTimeout": 2,
        "healthCheck": {"command": ["CMD-SHELL", "exit 1"], "interval": 5, "retries": 1},
    }])
    arn = run(ecs, family)
    wait_status(ecs, arn, "RUNNING")
    task = eventually(
        lambda: (lambda t: t if container(t, "main").get("healthStatus") == "UNHEALTHY" else None)(describe(ecs, arn)),
        timeout=40,
        what="the health check to fail",
    )
    assert task["healthStatus"] == "UNHEALTHY"
    stop(ecs, arn)
    wait_status(ecs, arn, "STOPPED")


def test_stop_sends_sigterm_then_sigkill_after_stop_timeout(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    stubborn, graceful = unique("stubborn"), unique("graceful")
    # PID 1 has no SIGTERM handler, so only the SIGKILL after stopTimeout ends it.
    ecs.register_task_definition(family=stubborn, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 32, "command": ["sleep", "300"], "stopTimeout": 4}])
    ecs.register_task_definition(family=graceful, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 32, "stopTimeout": 60,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}])
    arns = {f: run(ecs, f) for f in (stubborn, graceful)}
    for arn in arns.values():
        wait_status(ecs, arn, "RUNNING")
    took = {}
    for family, arn in arns.items():
        began = time.monotonic()
        stop(ecs, arn)
        task = wait_status(ecs, arn, "STOPPED")
        took[family] = (time.monotonic() - began, container(task, "main")["exitCode"])
    assert took[stubborn][1] == 137 and took[stubborn][0] >= 4, took
    assert took[graceful][1] == 0 and took[graceful][0] < 20, took


def test_a_non_essential_exit_keeps_the_task_and_an_essential_one_ends_it(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    family = unique("essential")
    ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "main", "image": IMAGE, "memory": 32, "command": ["sh", "-c", "sleep 15; exit 2"]},
        {"name": "side", "image": IMAGE, "memory": 32, "essential": False, "command": ["sh", "-c", "exit 5"]},
    ])
    arn = run(ecs, family)
    task = eventually(
        lambda: (lambda t: t if container(t, "side").get("exitCode") == 5 else None)(describe(ecs, arn)),
        timeout=30,
        what="the side container to exit",
    )
    assert task["lastStatus"] == "RUNNING", "a non-essential exit does not stop the task"
    assert container(task, "main")["lastStatus"] == "RUNNING"
    task = wait_status(ecs, arn, "STOPPED")
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "main")["exitCode"] == 2


CGROUP_LIMITS = r"""
if [ -f /sys/fs/cgroup/memory.max ]; then
  echo "memory $(cat /sys/fs/cgroup/memory.max)"; echo "cpu $(cat /sys/fs/cgroup/cpu.max)"
else
  echo "memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  echo "cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
fi
"""


def instance_remaining(ecs: Any) -> tuple[int, int]:
    """The CPU and memory the agent's container instance has left."""
    [arn] = ecs.list_container_instances(cluster=CLUSTER)["containerInstanceArns"]
    inst = ecs.describe_container_instances(cluster=CLUSTER, containerInstances=[arn])["containerInstances"][0]
    left = {r["name"]: r.get("integerValue") for r in inst["remainingResources"]}
    return left["CPU"], left["MEMORY"]


def test_fargate_cpu_and_memory_are_limits_inside_the_container(node: Any) -> None:
    """Also: the host offers both kinds of capacity, so a Fargate task's CPU and memory
    are gone from its container instance's remaining resources while it runs."""
    berth, _ = node
    ecs = berth.client()
    family = unique("limits")
    ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512", memory="1024",
        containerDefinitions=[{"name": "main", "image": IMAGE, "command": ["sleep", "300"], "stopTimeout": 2}],
    )
    cpu_before, memory_before = instance_remaining(ecs)
    arn = run(ecs, family, launchType="FARGATE", networkConfiguration=awsvpc_api())
    task = wait_status(ecs, arn, "RUNNING")
    assert instance_remaining(ecs) == (cpu_before - 512, memory_before - 1024)
    out = docker("exec", container(task, "main")["runtimeId"], "sh", "-c", CGROUP_LIMITS)
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["memory"] == str(1024 * 1024 * 1024), out
    quota, period = (int(x) for x in lines["cpu"].split())
    assert quota / period == 0.5, f"512 CPU units are half a core: {out}"
    stop(ecs, arn)
    wait_status(ecs, arn, "STOPPED")
    assert instance_remaining(ecs) == (cpu_before, memory_before)


def test_the_metadata_endpoint_and_task_role_credentials(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    family = unique("meta")
    # The task's role: trusted by ECS tasks, allowed logs:PutLogEvents on one log group
    # and nothing else.
    role = unique("meta-writer")
    group = f"/meta/{unique('app')}"
    iam = berth.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))
    iam.put_role_policy(RoleName=role, PolicyName="one-group", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents",
                       "Resource": f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"}],
    }))
    root_logs = berth.client("logs")
    for name in (group, f"{group}-other"):
        root_logs.create_log_group(logGroupName=name)
        root_logs.create_log_stream(logGroupName=name, logStreamName="app")
    role_arn = f"arn:aws:iam::000000000000:role/{role}"
    ecs.register_task_definition(
        family=family,
        taskRoleArn=role_arn,
        containerDefinitions=[{"name": "main", "image": IMAGE, "memory": 48, "cpu": 64, "command": ["sleep", "300"], "stopTimeout": 2,
                               "portMappings": [{"containerPort": 80}]}],
    )
    arn = run(ecs, family)
    task = wait_status(ecs, arn, "RUNNING")
    cid = container(task, "main")["runtimeId"]

    def inside(path: str, header: str = "") -> Any:
        auth = f'--header "Authorization: {header}"' if header else ""
        out = docker("exec", cid, "sh", "-c", f'wget -qO- {auth} "{path}"')
        return json.loads(out)

    me = inside("$ECS_CONTAINER_METADATA_URI_V4")
    assert me["DockerId"] == cid and me["Name"] == "main"
    assert me["DockerName"].startswith(f"ecs-{family}-1-main-")
    assert me["Image"] == IMAGE and me["ImageID"].startswith("sha256:")
    assert me["KnownStatus"] == "RUNNING" and me["Limits"] == {"CPU": 64, "Memory": 48}
    assert me["Labels"]["com.amazonaws.ecs.task-arn"] == arn
    assert me["Ports"][0]["ContainerPort"] == 80 and me["Ports"][0]["HostPort"] >= 1024
    assert me["Networks"][0]["NetworkMode"] == "bridge" and me["Networks"][0]["IPv4Addresses"]
    meta = inside("$ECS_CONTAINER_METADATA_URI_V4/task")
    assert meta["TaskARN"] == arn and meta["Family"] == family and meta["Revision"] == "1"
    assert meta["Cluster"] == CLUSTER and meta["LaunchType"] == "EC2"
    assert meta["KnownStatus"] == "RUNNING" and meta["PullStartedAt"] <= meta["PullStoppedAt"]
    assert [c["DockerId"] for c in meta["Containers"]] == [cid]
    stats = inside("$ECS_CONTAINER_METADATA_URI_V4/stats")
    assert "memory_stats" in stats and "cpu_stats" in stats, list(stats)
    assert list(inside("$ECS_CONTAINER_METADATA_URI_V4/task/stats")) == [cid]

    creds = inside("$AWS_CONTAINER_CREDENTIALS_FULL_URI", header="$AWS_CONTAINER_AUTHORIZATION_TOKEN")
    assert creds["RoleArn"] == role_arn
    assert creds["AccessKeyId"].startswith("ASIA") and creds["Expiration"].endswith("Z")
    as_task = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["Token"], region_name="us-east-1",
    )
    once = Config(retries={"total_max_attempts": 1})
    task_logs = as_task.client("logs", endpoint_url=berth.endpoint, config=once)
    event = [{"timestamp": int(time.time() * 1000), "message": "from the task"}]
    task_logs.put_log_events(logGroupName=group, logStreamName="app", logEvents=event)
    written = root_logs.get_log_events(logGroupName=group, logStreamName="app")["events"]
    assert [e["message"] for e in written] == ["from the task"], "the task's keys work against Berth's API"
    # They are a session of the role, with its permissions and nothing more.
    who = as_task.client("sts", endpoint_url=berth.endpoint).get_caller_identity()
    task_id = arn.rsplit("/", 1)[1]
    assert who["Arn"] == f"arn:aws:sts::000000000000:assumed-role/{role}/{task_id}"
    with pytest.raises(ClientError) as refused:
        task_logs.put_log_events(logGroupName=f"{group}-other", logStreamName="app", logEvents=event)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as refused:
        as_task.client("ecs", endpoint_url=berth.endpoint, config=once).stop_task(cluster=CLUSTER, task=arn)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: ecs:StopTask" in refused.value.response["Error"]["Message"]
    assert describe(ecs, arn)["desiredStatus"] == "RUNNING", "the refused stop changed nothing"
    stop(ecs, arn)
    wait_status(ecs, arn, "STOPPED")


def test_a_task_without_a_role_gets_no_credentials(node: Any) -> None:
    """No role, no credentials: the container is not told where they would be, and the
    credentials endpoint refuses its token."""
    berth, _ = node
    ecs = berth.client()
    _, arn, cid = run_sleeper(ecs, "roleless")
    env = docker("exec", cid, "env")
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in env and "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in env, env
    # Its own endpoint token (the metadata URI's last segment) gets no credentials either.
    asked = docker("exec", cid, "sh", "-c", 'base="${ECS_CONTAINER_METADATA_URI_V4%/v4/*}"; '
                   'wget -qO- --header "Authorization: ${ECS_CONTAINER_METADATA_URI_V4##*/}" '
                   '"$base/v2/credentials" 2>&1; echo "exit $?"')
    assert asked.strip().endswith("exit 1") and "AccessKeyId" not in asked, asked
    stop(ecs, arn)
    wait_status(ecs, arn, "STOPPED")


def test_the_seeds_roles_give_their_tasks_credentials_of_the_role(node: Any, tmp_path: Any) -> None:
    """Seed 000's role made with the AWS CLI exactly as the seed writes it (create-role
    from file://document.json, attach-role-policy twice), and seed 001's `ecs-iris-tasks`
    made with the calls the IAM console makes for its "Elastic Container Service Task" use
    case (the console's trust policy, AmazonS3FullAccess attached). A task definition
    names each as its task role; the task reads that role's credentials from the
    credentials endpoint, and they sign as a session of the role."""
    berth, _ = node
    ecs, iam = berth.client(), berth.client("iam")
    document = tmp_path / "document.json"
    document.write_text(json.dumps(ECS_TASKS_TRUST, indent=2))
    seed_000 = unique("sorenServiceRoleECS")
    berth.aws("iam", "create-role", "--role-name", seed_000, "--description", "Service role for an ECS task.",
              "--assume-role-policy-document", f"file://{document}")
    for policy in ("service-role/AWSGlueServiceRole", "AmazonS3FullAccess"):
        berth.aws("iam", "attach-role-policy", "--role-name", seed_000, "--policy-arn", f"arn:aws:iam::aws:policy/{policy}")
    seed_001 = unique("ecs-iris-tasks")
    iam.create_role(
        RoleName=seed_001, Description="Allows ECS tasks to call AWS services on your behalf.",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "", "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}),
    )
    iam.attach_role_policy(RoleName=seed_001, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    for role in (seed_000, seed_001):
        role_arn = f"arn:aws:iam::000000000000:role/{role}"
        _, arn, cid = run_sleeper(ecs, "seed-role", taskRoleArn=role_arn)
        creds = json.loads(docker("exec", cid, "sh", "-c", 'wget -qO- --header '
                                  '"Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" '
                                  '"$AWS_CONTAINER_CREDENTIALS_FULL_URI"'))
        assert creds["RoleArn"] == role_arn, creds
        who = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["Token"], region_name="us-east-1",
        ).client("sts", endpoint_url=berth.endpoint).get_caller_identity()
        assert who["Arn"] == f"arn:aws:sts::000000000000:assumed-role/{role}/{arn.rsplit('/', 1)[1]}"
        stop(ecs, arn)
        wait_status(ecs, arn, "STOPPED")


def test_a_container_killed_behind_berths_back_is_reported_with_its_exit_code(node: Any) -> None:
    berth, _ = node
    ecs = berth.client()
    family = unique("killed")
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": IMAGE, "memory": 32, "command": ["sleep", "300"]}])
    arn = run(ecs, family)
    task = wait_status(ecs, arn, "RUNNING")
    docker("kill", container(task, "main")["runtimeId"])
    task = wait_status(ecs, arn, "STOPPED")
    assert container(task, "main")["exitCode"] == 137
    assert task["stopCode"] == "EssentialContainerExited"


def test_with_the_control_plane_down_containers_keep_running_and_the_agent_resyncs(node: Any) -> None:
    """Runs last in this module: it restarts the module's control plane."""
    berth, agent = node
    ecs = berth.client()
    family, arn, cid = run_sleeper(ecs, "outage")
    berth.kill()
    time.sleep(5)  # the agent's long polls and heartbeats fail and back off meanwhile
    assert docker_ps(arn) == [cid], "the container keeps running without a control plane"
    assert agent.proc is not None and agent.proc.poll() is None, "the agent keeps running too"
    berth.start()
    ecs = berth.client()
    assert describe(ecs, arn)["lastStatus"] == "RUNNING"
    after = run(ecs, family)
    wait_status(ecs, after, "RUNNING")
    for task_arn in (arn, after):
        stop(ecs, task_arn)
    assert container(wait_status(ecs, arn, "STOPPED"), "main")["runtimeId"] == cid
    wait_status(ecs, after, "STOPPED")
    assert docker_ps(arn) == [], "the agent acted on the StopTask it learned after the outage"
