"""The Fargate task definition everyone writes, on a real `berth agent`: the ECS console's
default (awslogs with `awslogs-create-group`, an execution role, a task role, a named port
mapping, the console's empty lists), its image pushed to Berth's registry with `docker
push`, registered with `--cli-input-json` and run with `run-task --launch-type FARGATE`.
The task runs, serves on its private IP, and its output is read back with `aws logs`.
A capacity provider strategy splits tasks between FARGATE and FARGATE_SPOT on the agent.
The image pull and the log stream go through the execution role's permissions."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import ACCOUNT, REGION, Berth, awsvpc_api, awsvpc_cli, ecs_task_role, eventually, unique
from docker_agent import IMAGE, AgentProcess, docker_host, docker_ps


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berth, dict[str, str]]]:
    """A control plane with one real agent offering EC2 and Fargate capacity. The agent
    has no Docker login of its own: it pulls from Berth's registry with the control
    plane's. Yields the server and the environment of a docker CLI that can push."""
    root = tmp_path_factory.mktemp("fargate-default")
    berth = berth_factory(fake_agent=False)
    (root / "agent-docker-config").mkdir()
    (root / "docker-config").mkdir()
    agent = AgentProcess(berth, "default", root, extra_args=["--fargate"],
                         extra_env={"DOCKER_CONFIG": str(root / "agent-docker-config"),
                                    "ECS_IMAGE_PULL_BEHAVIOR": "default"})
    agent.start()
    try:
        eventually(lambda: berth.client().list_container_instances(cluster="default")["containerInstanceArns"],
                   timeout=30, what=f"the agent to join (log: {root / 'agent.log'})")
        yield berth, {**os.environ, "DOCKER_CONFIG": str(root / "docker-config"), "DOCKER_HOST": docker_host()}
    finally:
        agent.stop()


def docker_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(["docker", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"docker {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


def push_image(berth: Berth, env: dict[str, str]) -> tuple[dict, str]:
    """Pushes the test image to a new repository with `docker push`, and removes it
    locally so the agent must pull it; returns the repository and the image URI."""
    repo = berth.aws("ecr", "create-repository", "--repository-name", unique("web"))["repository"]
    uri = repo["repositoryUri"]
    password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", uri.split("/")[0], stdin=password)
    docker_cli(env, "tag", IMAGE, f"{uri}:latest")
    docker_cli(env, "push", f"{uri}:latest")
    docker_cli(env, "rmi", f"{uri}:latest")
    return repo, f"{uri}:latest"


def console_default(family: str, image: str) -> dict[str, Any]:
    """What the ECS console's "Create new task definition" produces for Fargate with its
    defaults kept (exported as JSON), plus a command: the test image has none."""
    return {
        "family": family,
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskRole",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "3072",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [{
            "name": "web",
            "image": image,
            "cpu": 0,
            "portMappings": [{"name": "web-80-tcp", "containerPort": 80, "hostPort": 80,
                              "protocol": "tcp", "appProtocol": "http"}],
            "essential": True,
            "environment": [{"name": "GREETING", "value": "hello from fargate"}],
            "environmentFiles": [],
            "mountPoints": [],
            "volumesFrom": [],
            "ulimits": [],
            "systemControls": [],
            "command": ["sh", "-c", "mkdir -p /www && echo \"$GREETING\" | tee /www/index.html "
                        "&& echo serving >&2 && exec httpd -f -p 80 -h /www"],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": f"/ecs/{family}",
                    "mode": "non-blocking",
                    "awslogs-create-group": "true",
                    "max-buffer-size": "25m",
                    "awslogs-region": REGION,
                    "awslogs-stream-prefix": "ecs",
                },
                "secretOptions": [],
            },
        }],
    }


def test_the_console_default_fargate_task_definition_runs_and_its_logs_are_readable(
    node: tuple[Berth, dict[str, str]], tmp_path: Path
) -> None:
    berth, env = node
    repo, image = push_image(berth, env)

    family = unique("console-default")
    # The guides create the task role; `ecsTaskExecutionRole` is Berth's own, as the
    # console's, and the image pull and the log group go through it.
    ecs_task_role(berth, "ecsTaskRole")
    spec = tmp_path / "task-definition.json"
    spec.write_text(json.dumps(console_default(family, image)))
    td = berth.aws("ecs", "register-task-definition", "--cli-input-json", f"file://{spec}")["taskDefinition"]
    required = {a["name"] for a in td["requiresAttributes"]}
    assert {"ecs.capability.execution-role-awslogs", "com.amazonaws.ecs.capability.task-iam-role",
            "ecs.capability.task-eni"} <= required, required

    run = berth.aws("ecs", "run-task", "--cluster", "default", "--task-definition", family,
                    "--launch-type", "FARGATE", "--network-configuration", awsvpc_cli())
    assert run["failures"] == [], run["failures"]
    arn = run["tasks"][0]["taskArn"]
    ecs = berth.client()

    def running() -> dict | None:
        t = ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]
        assert t["lastStatus"] != "STOPPED", t
        return t if t["lastStatus"] == "RUNNING" else None
    task = eventually(running, timeout=120, what=f"{arn} to run")
    assert task["launchType"] == "FARGATE" and task["cpu"] == "1024" and task["memory"] == "3072", task
    pushed = berth.aws("ecr", "describe-images", "--repository-name", repo["repositoryName"])["imageDetails"]
    assert task["containers"][0]["imageDigest"] == pushed[0]["imageDigest"], "the digest the agent pulled"
    ip = task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    body = eventually(lambda: urllib.request.urlopen(f"http://{ip}:80/", timeout=5).read(), timeout=30,
                      what=f"the task to serve on {ip}:80")
    assert body.decode().strip() == "hello from fargate"

    group, stream = f"/ecs/{family}", f"ecs/web/{arn.rsplit('/', 1)[1]}"
    groups = berth.aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group], "awslogs-create-group created it"

    logs = berth.client("logs")

    def lines() -> list[str] | None:
        try:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return [e["message"] for e in events] if len(events) >= 2 else None
    eventually(lines, timeout=30, what="the task's output in its log stream")
    events = berth.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
                       "--start-from-head")["events"]
    assert sorted(e["message"] for e in events) == ["hello from fargate", "serving"], events
    found = berth.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "hello")["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [(stream, "hello from fargate")], found

    berth.aws("ecs", "stop-task", "--cluster", "default", "--task", arn, "--reason", "done")
    stopped = eventually(
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]),
        timeout=60, what=f"{arn} to stop")
    assert stopped["stopCode"] == "UserInitiated" and stopped["stoppedReason"] == "done", stopped


def run_with_execution_role(berth: Berth, env: dict[str, str], role_arn: str, family: str) -> dict:
    """Pushes the image, registers the console's default task definition with
    `role_arn` as its execution role (and no task role), runs it on Fargate and returns
    the task once it has stopped."""
    _, image = push_image(berth, env)
    td = {**console_default(family, image), "executionRoleArn": role_arn}
    del td["taskRoleArn"]
    ecs = berth.client()
    ecs.register_task_definition(**td)
    run = ecs.run_task(cluster="default", taskDefinition=family, launchType="FARGATE",
                       networkConfiguration=awsvpc_api())
    assert run["failures"] == [], run["failures"]
    arn = run["tasks"][0]["taskArn"]
    return eventually(
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]),
        timeout=90, what=f"{arn} to stop")


def test_an_execution_role_without_ecr_permissions_cannot_pull_the_image(node: tuple[Berth, dict[str, str]]) -> None:
    """The image is pulled with a session of the execution role, as on AWS: a role that
    may write logs but not read the repository fails the task with
    CannotPullContainerError, naming the session and the action it lacked."""
    berth, env = node
    role = unique("logs-only")
    role_arn = ecs_task_role(berth, role, policy={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*"}]})
    task = run_with_execution_role(berth, env, role_arn, unique("no-pull"))
    reason = task["stoppedReason"]
    assert task["stopCode"] == "TaskFailedToStart", task
    assert reason.startswith("CannotPullContainerError"), reason
    assert f"assumed-role/{role}/" in reason and "ecr:BatchGetImage" in reason, reason


def test_an_execution_role_without_log_permissions_fails_the_task_at_start(node: tuple[Berth, dict[str, str]]) -> None:
    """The log stream is made ready with the execution role before the container starts,
    as Fargate's log driver does: a role that may pull but not write logs fails the task
    with ResourceInitializationError, and no log group is created."""
    berth, env = node
    role = unique("pull-only")
    role_arn = ecs_task_role(berth, role)
    berth.client("iam").attach_role_policy(
        RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")
    family = unique("no-logs")
    task = run_with_execution_role(berth, env, role_arn, family)
    reason = task["stoppedReason"]
    assert task["stopCode"] == "TaskFailedToStart", task
    assert reason.startswith("ResourceInitializationError"), reason
    assert f"assumed-role/{role}/" in reason and "logs:CreateLogStream" in reason, reason
    groups = berth.client("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/{family}")["logGroups"]
    assert groups == [], "nothing was created for the refused role"


def test_a_guide_in_another_region_runs_on_the_fargate_pool(node: tuple[Berth, dict[str, str]], tmp_path: Path) -> None:
    """Seed 000 exports AWS_DEFAULT_REGION=us-west-2 and seed 004 logs in to ECR with
    `--region ca-central-1`: the Fargate pool serves every region, a repository and a
    login belong to one, and a task's logs land in its awslogs-region. A push with a
    login for another region than the repository's says which region it looked in."""
    berth, env = node
    west = {"AWS_DEFAULT_REGION": "us-west-2"}

    def aws(*args: str) -> Any:
        result = berth.run_cli(list(args), env_extra=west)
        assert result.ok, result.describe()
        return result.json

    repo = aws("ecr", "create-repository", "--repository-name", unique("west"))["repository"]
    uri = repo["repositoryUri"]
    host = uri.split("/")[0]
    # A login for us-east-1 does not find the us-west-2 repository, and says where it looked.
    east_password = berth.run_cli(["ecr", "get-login-password"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", host, stdin=east_password)
    docker_cli(env, "tag", IMAGE, f"{uri}:latest")
    pushed = subprocess.run(["docker", "push", f"{uri}:latest"], env=env, capture_output=True, text=True, timeout=120)
    assert pushed.returncode != 0 and "region us-east-1" in pushed.stderr + pushed.stdout, pushed
    password = berth.run_cli(["ecr", "get-login-password", "--region", "us-west-2"]).stdout.strip()
    docker_cli(env, "login", "--username", "AWS", "--password-stdin", host, stdin=password)
    docker_cli(env, "push", f"{uri}:latest")
    docker_cli(env, "rmi", f"{uri}:latest")

    cluster = unique("presto-west")
    aws("ecs", "create-cluster", "--cluster-name", cluster)
    family = unique("west")
    td = console_default(family, f"{uri}:latest")
    td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-region"] = "us-west-2"
    spec = tmp_path / "task-definition.json"
    spec.write_text(json.dumps(td))
    ecs_task_role(berth, "ecsTaskRole")
    aws("ecs", "register-task-definition", "--cli-input-json", f"file://{spec}")
    run = aws("ecs", "run-task", "--cluster", cluster, "--task-definition", family, "--launch-type", "FARGATE",
              "--network-configuration", awsvpc_cli())
    assert run["failures"] == [], run["failures"]
    arn = run["tasks"][0]["taskArn"]
    assert arn.startswith(f"arn:aws:ecs:us-west-2:{ACCOUNT}:task/{cluster}/"), arn

    def running() -> dict | None:
        t = aws("ecs", "describe-tasks", "--cluster", cluster, "--tasks", arn)["tasks"][0]
        assert t["lastStatus"] != "STOPPED", t
        return t if t["lastStatus"] == "RUNNING" else None
    eventually(running, timeout=120, what=f"{arn} to run in us-west-2")
    stream = f"ecs/web/{arn.rsplit('/', 1)[1]}"

    def lines() -> list[str] | None:
        got = berth.run_cli(["logs", "get-log-events", "--log-group-name", f"/ecs/{family}",
                             "--log-stream-name", stream, "--start-from-head"], env_extra=west)
        return [e["message"] for e in got.json["events"]] if got.ok and len(got.json["events"]) >= 2 else None
    assert sorted(eventually(lines, timeout=30, what="the task's output in us-west-2")) == ["hello from fargate", "serving"]
    east_groups = berth.aws("logs", "describe-log-groups", "--log-group-name-prefix", f"/ecs/{family}")["logGroups"]
    assert east_groups == [], "the group is in the task's awslogs-region only"
    aws("ecs", "stop-task", "--cluster", cluster, "--task", arn)
    eventually(lambda: aws("ecs", "describe-tasks", "--cluster", cluster, "--tasks", arn)["tasks"][0]["lastStatus"]
               == "STOPPED", timeout=60, what=f"{arn} to stop")


def test_a_capacity_provider_strategy_splits_fargate_and_fargate_spot_tasks_on_a_real_agent(
        node: tuple[Berth, dict[str, str]]) -> None:
    """RunTask with FARGATE (base 1, weight 1) and FARGATE_SPOT (weight 3) for five tasks:
    the base first, then the rest by weight (FARGATE 2, FARGATE_SPOT 3), each task a
    running container set on the agent's engine and reporting its provider."""
    berth, _ = node
    ecs = berth.client()
    cluster = ecs.create_cluster(clusterName=unique("spot"), capacityProviders=["FARGATE", "FARGATE_SPOT"])["cluster"]
    family = unique("spot")
    ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "main", "image": IMAGE, "essential": True, "command": ["sleep", "3600"],
                               # sleep as PID 1 ignores SIGTERM: without this each stop waits 30 s.
                               "stopTimeout": 2}])
    run = ecs.run_task(cluster=cluster["clusterName"], taskDefinition=family, count=5, networkConfiguration=awsvpc_api(),
                       capacityProviderStrategy=[{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                                                 {"capacityProvider": "FARGATE_SPOT", "weight": 3}])
    assert run["failures"] == [], run["failures"]
    arns = [t["taskArn"] for t in run["tasks"]]
    by_provider: dict[str, int] = {}
    for t in run["tasks"]:
        by_provider[t["capacityProviderName"]] = by_provider.get(t["capacityProviderName"], 0) + 1
    assert by_provider == {"FARGATE": 2, "FARGATE_SPOT": 3}

    def all_running() -> list[dict] | None:
        tasks = ecs.describe_tasks(cluster=cluster["clusterName"], tasks=arns)["tasks"]
        assert all(t["lastStatus"] != "STOPPED" for t in tasks), [t.get("stoppedReason") for t in tasks]
        return tasks if all(t["lastStatus"] == "RUNNING" for t in tasks) else None
    tasks = eventually(all_running, timeout=120, what="five tasks to run on the agent")
    assert all(t["launchType"] == "FARGATE" for t in tasks)
    for t in tasks:
        assert docker_ps(t["taskArn"]), f"no container on the engine for {t['taskArn']}"
    for arn in arns:
        ecs.stop_task(cluster=cluster["clusterName"], task=arn)
    eventually(lambda: all(t["lastStatus"] == "STOPPED"
                           for t in ecs.describe_tasks(cluster=cluster["clusterName"], tasks=arns)["tasks"]),
               timeout=60, what="the tasks to stop")
