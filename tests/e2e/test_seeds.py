"""The five seed guides (/work/shared/seeds/000..004), end to end: each guide's ECR, ECS,
IAM, CloudWatch Logs and load balancer steps run as the guide writes them (the same
shell commands, flags and JSON files, in the region the guide sets) against one Berth
server with a real `berth agent --fargate` on the suite's dockerd, until the guide's
observable result: a task RUNNING, its output read back with `aws logs`, a worker that
found its coordinator by private IP, a service answering on its instance and behind a
load balancer, an image pushed with `docker push` and pulled by the agent.

Substitutions everywhere (nothing here can reach the internet or take the machine's
ports): the guides' images are the suite's busybox (docker_agent.IMAGE), tagged and
pushed to Berth's ECR with the real `docker push` wherever the guide pushes, and their
applications are busybox scripts (httpd for web servers, nc for Fossa's task API);
`<account>.dkr.ecr.<region>.amazonaws.com` is Berth's registry host; the AWS CLI profile
is Berth's `berth` profile (seed 000 exports `AWS_PROFILE=qbiz`); `$SUBNET` and
`$SECURITY_GROUP` are made-up IDs (Berth accepts any); a host port or listener port 80
is a free port; target groups check health every 5 s instead of the console's 30 s, and
drain for 2 s instead of 300 s.

Seed 000 (Presto on Fargate, AWS_DEFAULT_REGION=us-west-2): covered: create-repository,
docker login with `get-login-password --region us-west-2`, docker push; create-cluster
with tags; IAM create-role from file://document.json and two attach-role-policy;
register-task-definition --family with --cli-input-json file://; the coordinator's
run-task as written; the worker's run-task, corrected; workers register with the
coordinator at its private IP; the tasks' logs read with `aws logs` in us-west-2.
Corrected: the guide's "ECR" section runs `aws ecs create-cluster` where it means `aws
ecr create-repository` (it then pushes to soren.presto.testing, which must exist); the
worker's run-task passes `--overrides` as unquoted JSON (the shell strips its quotes), in
the wrong shape (a list of container overrides where RunTask takes
`{"containerOverrides": [...]}`), with COORDINATOR_HOST_PORT empty (the guide says to
fill in the coordinator's IP:8080), and misses the line continuation before
`--network-configuration` (which would then run as a separate command). Substituted:
`docker build` is a `docker tag` of the test image; the task definition file, which the
guide does not show, is the Fargate definition it describes. Left out: the S3 bucket
and Glue database (not served).

Seed 001 (ECS console walk, us-east-1): every console action as the CLI call the console
makes. Covered: ECR repositories and pushes (the ECR tutorial it builds on); the cluster
`mlds-ecs-workshop` with Fargate kept enabled; its EC2 instance (a `berth agent` whose
ecs.config names the cluster, as the console's launch template's user data writes it);
the bridge-mode iris-pipeline task definition (0.25 vCPU, 0.5 GB, no port, BUCKET_NAME,
the console's awslogs defaults) run with launch type EC2, its logs showing it had no
credentials, found among stopped tasks; the `ecs-iris-tasks` role made as the IAM
console makes it, a new revision with it as task role, run again, its logs naming the
role; iris-inference (bridge, host port fixed) as the service iris-app answering on the
instance; pushing a new image with the same tag and restarting the service by stopping
its task, after which the new image answers; scaling down to 0. The Fargate path with
an application load balancer (listener HTTP, target group HTTP with health check path
/, grace period 10): the service answers through the load balancer; a newer image
rolled out with "Force new deployment"; updating it to a new task definition revision;
scaling down to 0 empties the target group. Done on the Fargate service only: the
forced deployment and the new revision (on the EC2 service, with its fixed host port on
one instance, the console's default 100%/200% rolling update has no room to start the
new task beside the old one, as on AWS). Left out: the Auto Scaling group, launch
template, key pair and security group rules (EC2, not served), the RDS security group,
CloudFormation's retry.

Seed 002 (Fossa workers on Fargate, Pulumi, eu-west-2): Pulumi is not run; its cluster
sub-project's resources are made with the calls its AWS provider makes (boto3, region
eu-west-2): repository and `docker push`, cluster, log group, task definition, a
service of two workers with private IPs only (assignPublicIp DISABLED). Covered: the
gateway's listing of running tasks with their private IPs (list_tasks/describe_tasks as
the flask app calls them); the guide's `curl` POST of a task to a worker's private IP,
answered, and seen in that worker's logs; clean-up: deleting the repository's images,
then the repository, and the service (pulumi destroy). Left out: the networks
sub-project (VPC, subnets, NAT instance), the gateway EC2 instance and its Ansible
provisioning (EC2, not served).

Seed 003 (an EC2 cluster from a CloudFormation template): CloudFormation is not served
by Berth, so the stack itself is left out (VPC, subnet, internet gateway, security
group, Auto Scaling group, launch configuration, cfn-signal); its ECS and IAM resources
are made with the CLI: the cluster, the task execution role with the template's
s3/dynamodb/sqs/logs/cloudwatch permissions, and the instance's user data as written
(`echo ECS_CLUSTER=${ECSCluster} >> /etc/ecs/ecs.config`, into a file of the test's) for
a `berth agent --config` to join by. Covered: the instance is in the cluster; a task
logging with awslogs (the guide's point 4) runs on it and its output is read with `aws
logs`.

Seed 004 (bunnies, ca-central-1): covered: `$(aws ecr get-login --no-include-email
--region ca-central-1)` as written (AWS CLI v1 still has it); create-repository | tee
repo-ubuntu.json; docker tag and push; `docker tag localimage:localtag
<repositoryArn>:remotetag` is wrong (an ARN is not an image reference: docker refuses
it, asserted) and corrected to the repositoryUri; the boto3 run_task call exactly as
written (FARGATE, containerOverrides with JOBSPEC, subnets only, assignPublicIp ENABLED)
on a Fargate task definition within the guide's brackets; the task pulls the pushed
image, runs, and its output is read with `aws logs`; describe-repositories; delete-
repository --force. The region is the one `aws configure` sets in the guide
(AWS_DEFAULT_REGION=ca-central-1). Substituted: `docker build -t test .` is a `docker
tag` of the test image.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from botocore.config import Config

from conftest import (ACCOUNT, ECS_TASKS_TRUST, EXECUTION_ROLE, SECURITY_GROUPS, SUBNETS, Berth, aws_cli_path,
                      eventually, free_port)
from docker_agent import IMAGE, AgentProcess, docker_host
from elb_kit import FAST_CHECKS, get, wait_listening
from workloads import PRESTO

# Short stop timeouts keep the module quick: busybox as PID 1 ignores SIGTERM.
STOP_TIMEOUT = 2


@dataclass
class World:
    """One control plane, one Fargate agent, and a docker CLI with its own logins."""

    berth: Berth
    root: Path
    docker_config: Path
    agent_docker_config: Path

    def env(self, region: str | None = None) -> dict[str, str]:
        env = self.berth.child_env()
        env["PATH"] = f"{aws_cli_path().parent}{os.pathsep}{env.get('PATH', '')}"
        env["AWS_PROFILE"] = "berth"
        env["AWS_MAX_ATTEMPTS"] = "1"
        env["DOCKER_CONFIG"] = str(self.docker_config)
        env["DOCKER_HOST"] = docker_host()
        if region:
            env["AWS_DEFAULT_REGION"] = region
        return env

    def sh(self, script: str, cwd: Path, region: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Runs a guide's shell snippet with bash (-e, pipefail), the AWS CLI and docker on PATH."""
        out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", textwrap.dedent(script)], cwd=cwd,
                             env=self.env(region), capture_output=True, text=True, timeout=180)
        if check:
            assert out.returncode == 0, f"{script}\nexit {out.returncode}\nstdout: {out.stdout[-3000:]}\nstderr: {out.stderr[-3000:]}"
        return out

    def sh_json(self, script: str, cwd: Path, region: str | None = None) -> Any:
        return json.loads(self.sh(script, cwd, region).stdout)

    def client(self, service: str, region: str) -> Any:
        cfg = Config(retries={"total_max_attempts": 1}, read_timeout=60)
        return self.berth.session().client(service, region_name=region, config=cfg)

    @property
    def registry(self) -> str:
        """The registry host that stands for `<account>.dkr.ecr.<region>.amazonaws.com`."""
        return f"127.0.0.1:{self.berth.port}"

    def ec2_instance(self, name: str, ecs_config: Path) -> AgentProcess:
        """A `berth agent` that joins by the cluster its ecs.config names, as an EC2
        instance's user data makes it do; it pulls from Berth's registry with no docker
        login of its own, every time (so a new image under the same tag is pulled)."""
        root = self.root / name
        root.mkdir()
        agent = AgentProcess(self.berth, "unused", root, extra_args=["--config", str(ecs_config)],
                             extra_env={"ECS_CLUSTER": "", "ECS_IMAGE_PULL_BEHAVIOR": "default",
                                        "DOCKER_CONFIG": str(self.agent_docker_config)})
        agent.start()
        return agent


@pytest.fixture(scope="module")
def world(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("seeds")
    berth = berth_factory(fake_agent=False)
    w = World(berth, root, root / "docker-config", root / "agent-docker-config")
    w.docker_config.mkdir()
    w.agent_docker_config.mkdir()
    # The Fargate pool: an agent with no docker login of its own, pulling every image
    # from Berth's registry with the control plane's login for the task's region.
    agent = AgentProcess(berth, "default", root, extra_args=["--fargate"],
                         extra_env={"DOCKER_CONFIG": str(w.agent_docker_config), "ECS_IMAGE_PULL_BEHAVIOR": "default"})
    agent.start()
    try:
        eventually(lambda: berth.client().list_container_instances(cluster="default")["containerInstanceArns"],
                   timeout=30, what=f"the Fargate agent to join (log: {root / 'agent.log'})")
        yield w
    finally:
        agent.stop()


# --------------------------------------------------------------------------- helpers


def task_status(ecs: Any, cluster: str, arn: str, status: str, timeout: float = 90) -> dict:
    """Polls DescribeTasks until the task's lastStatus is `status` (failing early on an
    unexpected STOPPED)."""

    def check() -> dict | None:
        t = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        if status != "STOPPED" and t["lastStatus"] == "STOPPED":
            raise AssertionError(f"{arn} stopped: {t.get('stoppedReason')} {t['containers']}")
        return t if t["lastStatus"] == status else None

    return eventually(check, timeout=timeout, what=f"{arn} to reach {status}")


def private_ip(task: dict) -> str:
    return task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]


def read_logs(w: World, cwd: Path, region: str, group: str, stream: str, expect: int) -> list[str]:
    """Waits for `expect` events in the stream (boto3, quick), then reads them with `aws
    logs get-log-events` as a user would; returns their messages."""
    logs = w.client("logs", region)

    def enough() -> bool:
        try:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return False
        return len(events) >= expect
    eventually(enough, timeout=30, what=f"{expect} events in {group} {stream} ({region})")
    events = w.sh_json(f"aws logs get-log-events --log-group-name '{group}' --log-stream-name '{stream}' "
                       f"--start-from-head", cwd, region)["events"]
    return [e["message"] for e in events]


def http_text(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def digest_of(w: World, cwd: Path, region: str, repo: str, tag: str = "latest") -> str:
    images = w.sh_json(f"aws ecr describe-images --repository-name {repo} --image-ids imageTag={tag}", cwd, region)
    return images["imageDetails"][0]["imageDigest"]


def awslogs(group: str, region: str, create: bool = True) -> dict:
    options = {"awslogs-group": group, "awslogs-region": region, "awslogs-stream-prefix": "ecs"}
    if create:
        options["awslogs-create-group"] = "true"
    return {"logDriver": "awslogs", "options": options}


# --------------------------------------------------------------------------- seed 000


def test_seed_000_presto_on_fargate_in_us_west_2(world: World, tmp_path: Path) -> None:
    w, region = world, "us-west-2"
    ecr_host = w.registry  # stands for 907770664110.dkr.ecr.us-west-2.amazonaws.com
    # Corrected: the guide's "ECR" section runs `aws ecs create-cluster`; the repository
    # it pushes to next must be created with `aws ecr create-repository`.
    repo = w.sh_json("aws ecr create-repository --repository-name soren.presto.testing --region us-west-2",
                     tmp_path)["repository"]
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-west-2:{ACCOUNT}:repository/soren.presto.testing", repo
    assert repo["repositoryUri"] == f"{ecr_host}/soren.presto.testing", repo
    # Substituted: `docker build -t ... .` (no Dockerfile, no internet) is a tag of the test image.
    w.sh(f"docker tag {IMAGE} {ecr_host}/soren.presto.testing", tmp_path)
    w.sh(f"""
      aws ecr get-login-password --region us-west-2 | docker login --username AWS --password-stdin {ecr_host}
      docker push {ecr_host}/soren.presto.testing:latest
      """, tmp_path)
    # The agent must pull what was pushed.
    w.sh(f"docker rmi {ecr_host}/soren.presto.testing:latest", tmp_path)
    pushed = digest_of(w, tmp_path, region, "soren.presto.testing")

    # As written, with Berth's profile for the guide's `qbiz`.
    cluster = w.sh_json("""
      MYNAME=soren
      export AWS_PROFILE=berth
      export AWS_DEFAULT_REGION=us-west-2
      aws ecs create-cluster \\
        --cluster-name "$MYNAME-Presto-Cluster" \\
        --tags key=Owner,value=$MYNAME key=Project,value=Presto
      """, tmp_path)["cluster"]
    assert cluster["clusterArn"] == f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/soren-Presto-Cluster", cluster
    described = w.client("ecs", region).describe_clusters(clusters=["soren-Presto-Cluster"], include=["TAGS"])
    assert {t["key"]: t["value"] for t in described["clusters"][0]["tags"]} == {"Owner": "soren", "Project": "Presto"}

    (tmp_path / "document.json").write_text(json.dumps(ECS_TASKS_TRUST, indent=2))
    w.sh("""
      export AWS_DEFAULT_REGION=us-west-2
      export SERVICE_NAME=sorenServiceRoleECS
      aws iam create-role \\
        --role-name $SERVICE_NAME \\
        --description "Service role for an ECS task." \\
        --assume-role-policy-document file://$PWD/document.json

      aws iam attach-role-policy \\
        --role-name $SERVICE_NAME \\
        --policy-arn arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole

      aws iam attach-role-policy \\
        --role-name $SERVICE_NAME \\
        --policy-arn arn:aws:iam::aws:policy/AmazonS3FullAccess
      """, tmp_path)
    attached = w.client("iam", region).list_attached_role_policies(RoleName="sorenServiceRoleECS")["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in attached) == ["AWSGlueServiceRole", "AmazonS3FullAccess"]

    # The guide does not show coordinator-task-definition.json; this is the Fargate
    # definition it describes: the pushed image, MODE, cpu and memory, the service role,
    # and an execution role (Fargate needs one to pull from ECR and to log with awslogs).
    (tmp_path / "coordinator-task-definition.json").write_text(json.dumps({
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/sorenServiceRoleECS",
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [{
            "name": "Presto",
            "image": f"{ecr_host}/soren.presto.testing:latest",
            "essential": True,
            # Substituted: the Presto launcher is a busybox stand-in (workloads.PRESTO).
            "command": ["sh", "-c", PRESTO],
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "COORDINATOR"}],
            "stopTimeout": STOP_TIMEOUT,
            "logConfiguration": awslogs("/ecs/soren-presto-testing", region),
        }],
    }, indent=2))
    td = w.sh_json("""
      MYNAME=soren
      export AWS_DEFAULT_REGION=us-west-2
      aws ecs register-task-definition \\
        --family $MYNAME-presto-testing \\
        --cli-input-json file://$PWD/coordinator-task-definition.json
      """, tmp_path)["taskDefinition"]
    assert td["taskDefinitionArn"] == f"arn:aws:ecs:us-west-2:{ACCOUNT}:task-definition/soren-presto-testing:1", td

    net = f"SUBNET={SUBNETS[0]}\nSECURITY_GROUP={SECURITY_GROUPS[0]}\n"
    run = w.sh_json(net + """
      MYNAME=soren
      export AWS_DEFAULT_REGION=us-west-2
      aws ecs run-task \\
        --cluster "$MYNAME-Presto-Cluster" \\
        --count 1 \\
        --reference-id coordinator \\
        --task-definition soren-presto-testing \\
        --launch-type FARGATE \\
        --network-configuration "awsvpcConfiguration={subnets=[$SUBNET],securityGroups=[$SECURITY_GROUP],assignPublicIp=ENABLED}"
      """, tmp_path)
    assert run["failures"] == [], run["failures"]
    coordinator = run["tasks"][0]["taskArn"]
    assert coordinator.startswith(f"arn:aws:ecs:us-west-2:{ACCOUNT}:task/soren-Presto-Cluster/"), coordinator
    ecs = w.client("ecs", region)
    task = task_status(ecs, "soren-Presto-Cluster", coordinator, "RUNNING")
    assert task["launchType"] == "FARGATE" and task["containers"][0]["imageDigest"] == pushed, task
    # "The above task will return the IP address of the coordinator": DescribeTasks does.
    ip = w.sh_json(f"aws ecs describe-tasks --cluster soren-Presto-Cluster --tasks {coordinator} --query "
                   f"'tasks[0].containers[0].networkInterfaces[0]'", tmp_path, region)["privateIpv4Address"]
    assert ip == private_ip(task)

    # Corrected: the guide's --overrides is unquoted JSON (the shell eats its quotes), a
    # bare list where RunTask takes {"containerOverrides": [...]}, with an empty
    # COORDINATOR_HOST_PORT the text says to fill in, and the line lacks its trailing
    # backslash, so --network-configuration would run as a command of its own.
    run = w.sh_json(net + f"""
      MYNAME=soren
      COORDINATOR_HOST_PORT={ip}:8080
      export AWS_DEFAULT_REGION=us-west-2
      aws ecs run-task \\
        --cluster "$MYNAME-Presto-Cluster" \\
        --count 1 \\
        --reference-id worker \\
        --task-definition soren-presto-testing \\
        --launch-type FARGATE \\
        --overrides '{{"containerOverrides":[{{"name":"Presto","environment":[{{"name":"MODE","value":"WORKER"}},{{"name":"COORDINATOR_HOST_PORT","value":"'"$COORDINATOR_HOST_PORT"'"}}]}}]}}' \\
        --network-configuration "awsvpcConfiguration={{subnets=[$SUBNET],securityGroups=[$SECURITY_GROUP],assignPublicIp=ENABLED}}"
      """, tmp_path)
    assert run["failures"] == [], run["failures"]
    worker = run["tasks"][0]["taskArn"]
    worker_ip = private_ip(task_status(ecs, "soren-Presto-Cluster", worker, "RUNNING"))
    assert worker_ip != ip
    # The coordinator recorded the worker's registration, made from the worker's own address.
    registered = eventually(lambda: http_text(f"http://{ip}:8080/workers").strip() or None, timeout=30,
                            what="the worker to register with the coordinator")
    # (busybox httpd names an IPv4 peer in its IPv4-mapped IPv6 form)
    assert registered in (f"worker=&mode=WORKER from={worker_ip}",
                          f"worker=&mode=WORKER from=[::ffff:{worker_ip}]"), registered
    worker_id = worker.rsplit("/", 1)[1]
    lines = read_logs(w, tmp_path, region, "/ecs/soren-presto-testing", f"ecs/Presto/{worker_id}", 1)
    assert lines == ["registered"], lines

    for arn in (worker, coordinator):
        w.sh(f"aws ecs stop-task --cluster soren-Presto-Cluster --task {arn}", tmp_path, region)
    for arn in (worker, coordinator):
        task_status(ecs, "soren-Presto-Cluster", arn, "STOPPED", timeout=60)


# --------------------------------------------------------------------------- seed 001


def pipeline_definition(image: str, task_role: str | None = None) -> dict:
    """iris-pipeline as the console's "Create new task definition" exports it with the
    guide's choices: bridge, 0.25 vCPU, 0.5 GB, no port mappings, BUCKET_NAME, and the
    console's default log collection."""
    td: dict[str, Any] = {
        "family": "iris-pipeline",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "cpu": "256",
        "memory": "512",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [{
            "name": "iris-pipeline",
            "image": image,
            "cpu": 0,
            "essential": True,
            "portMappings": [],
            "environment": [{"name": "BUCKET_NAME", "value": "mlds-iris-bucket"}],
            # Substituted: the pipeline reads its bucket with the task's credentials, or
            # fails as the guide's first run does.
            "command": ["sh", "-c",
                        'echo "bucket: $BUCKET_NAME"; sleep 1; '
                        'if [ -z "$AWS_CONTAINER_CREDENTIALS_FULL_URI$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" ]; then '
                        'echo "Unable to locate credentials"; exit 1; fi; '
                        'wget -qO- --header "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" '
                        '"$AWS_CONTAINER_CREDENTIALS_FULL_URI" | grep -o \'"RoleArn": *"[^"]*"\''],
            "stopTimeout": STOP_TIMEOUT,
            "logConfiguration": awslogs("/ecs/iris-pipeline", "us-east-1"),
        }],
    }
    if task_role:
        td["taskRoleArn"] = task_role
    return td


def inference_definition(image: str, host_port: int, bucket: str, fargate: bool = False) -> dict:
    """iris-inference as the console makes it: bridge with host port = container port 80
    (a free host port here), or, on the Fargate path, awsvpc with the minimum task size."""
    td: dict[str, Any] = {
        "family": "iris-inference",
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecs-iris-tasks",
        "executionRoleArn": EXECUTION_ROLE,
        "networkMode": "awsvpc" if fargate else "bridge",
        "requiresCompatibilities": ["FARGATE"] if fargate else ["EC2"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "inference",
            "image": image,
            "essential": True,
            "portMappings": [{"containerPort": 80, "hostPort": 80 if fargate else host_port, "protocol": "tcp"}],
            "environment": [{"name": "BUCKET_NAME", "value": bucket}],
            # Substituted: the FastAPI app is an httpd that answers / (the health check
            # path) and whose /docs names the image's version (IRIS_VERSION, set in a
            # pushed image) and the bucket.
            "command": ["sh", "-c", 'mkdir -p /www && echo ok > /www/index.html && '
                        'echo "iris-inference v${IRIS_VERSION:-1} bucket=$BUCKET_NAME" '
                        "> /www/docs && exec httpd -f -p 80 -h /www"],
            "stopTimeout": STOP_TIMEOUT,
            "logConfiguration": awslogs("/ecs/iris-inference", "us-east-1"),
        }],
    }
    return td


def service_tasks(ecs: Any, cluster: str, service: str) -> list[dict]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"] if arns else []


def steady(ecs: Any, cluster: str, service: str, count: int) -> dict | None:
    s = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    done = (s["runningCount"] == count and s["pendingCount"] == 0 and len(s["deployments"]) == 1
            and s["deployments"][0]["rolloutState"] == "COMPLETED")
    return s if done else None


def wait_steady(ecs: Any, cluster: str, service: str, count: int, timeout: float = 90,
                task_definition: str | None = None) -> dict:
    """Waits for `steady` (on `task_definition` if given); on timeout fails with the
    service's deployments and events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = steady(ecs, cluster, service, count)
        if s and (task_definition is None or s["taskDefinition"] == task_definition):
            return s
        time.sleep(0.3)
    s = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    pytest.fail(f"{service} not steady at {count} tasks after {timeout}s: running {s['runningCount']}, "
                f"pending {s['pendingCount']}, deployments {s['deployments']}, "
                f"events {[e['message'] for e in s['events'][:8]]}")


def test_seed_001_the_ecs_console_walk(world: World, tmp_path: Path) -> None:
    w, region, cluster = world, "us-east-1", "mlds-ecs-workshop"
    ecs = w.client("ecs", region)
    # The ECR tutorial it builds on: a repository per application, an image pushed to each.
    uris = {}
    for name in ("iris-pipeline", "iris-inference"):
        uris[name] = w.sh_json(f"aws ecr create-repository --repository-name {name}", tmp_path)["repository"]["repositoryUri"]
        w.sh(f"""
          aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin {w.registry}
          docker tag {IMAGE} {uris[name]}:latest
          docker push {uris[name]}:latest
          docker rmi {uris[name]}:latest
          """, tmp_path)

    # Create cluster: EC2 instances, with Fargate left enabled.
    created = w.sh_json(f"aws ecs create-cluster --cluster-name {cluster} --capacity-providers FARGATE FARGATE_SPOT",
                        tmp_path)["cluster"]
    assert created["status"] == "ACTIVE" and created["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"], created
    # The instance the console's Auto Scaling group launches joins by its user data.
    (tmp_path / "ecs.config").write_text("")
    w.sh(f"echo ECS_CLUSTER={cluster} >> ecs.config", tmp_path)
    instance = w.ec2_instance("iris-instance", tmp_path / "ecs.config")
    try:
        eventually(lambda: ecs.list_container_instances(cluster=cluster)["containerInstanceArns"], timeout=30,
                   what=f"the instance to join {cluster} (log: {instance.root / 'agent.log'})")
        seed_001_on_the_instance(w, tmp_path, ecs, cluster, uris)
    finally:
        instance.stop()
    seed_001_fargate_behind_a_load_balancer(w, tmp_path, ecs, cluster, uris)


def seed_001_on_the_instance(w: World, tmp_path: Path, ecs: Any, cluster: str, uris: dict[str, str]) -> None:
    region = "us-east-1"
    # Iris pipeline task definition, then "Deploy > Run task" with launch type EC2.
    (tmp_path / "iris-pipeline.json").write_text(json.dumps(pipeline_definition(f"{uris['iris-pipeline']}:latest")))
    td = w.sh_json("aws ecs register-task-definition --cli-input-json file://iris-pipeline.json", tmp_path)
    assert td["taskDefinition"]["revision"] == 1
    run = w.sh_json(f"aws ecs run-task --cluster {cluster} --task-definition iris-pipeline --launch-type EC2 --count 1",
                    tmp_path)
    assert run["failures"] == [], run["failures"]
    first = run["tasks"][0]["taskArn"]
    task = task_status(ecs, cluster, first, "STOPPED")
    assert task["containers"][0]["exitCode"] == 1, task
    # "Show stopped tasks": the task that ran and stopped is listed there.
    stopped = w.sh_json(f"aws ecs list-tasks --cluster {cluster} --desired-status STOPPED", tmp_path)["taskArns"]
    assert first in stopped, stopped
    first_id = first.rsplit("/", 1)[1]
    lines = read_logs(w, tmp_path, region, "/ecs/iris-pipeline", f"ecs/iris-pipeline/{first_id}", 2)
    assert lines == ["bucket: mlds-iris-bucket", "Unable to locate credentials"], lines

    # The IAM console's "Elastic Container Service Task" use case, with AmazonS3FullAccess.
    (tmp_path / "trust.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "", "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    role = w.sh_json("""
      aws iam create-role --role-name ecs-iris-tasks --assume-role-policy-document file://trust.json \\
        --description "Allows ECS tasks to call AWS services on your behalf."
      aws iam attach-role-policy --role-name ecs-iris-tasks --policy-arn arn:aws:iam::aws:policy/AmazonS3FullAccess
      """, tmp_path)["Role"]
    # "Create new revision" with the role as the task role; run it again.
    (tmp_path / "iris-pipeline.json").write_text(json.dumps(pipeline_definition(f"{uris['iris-pipeline']}:latest",
                                                                                role["Arn"])))
    td = w.sh_json("aws ecs register-task-definition --cli-input-json file://iris-pipeline.json", tmp_path)
    assert td["taskDefinition"]["revision"] == 2 and td["taskDefinition"]["taskRoleArn"] == role["Arn"]
    run = w.sh_json(f"aws ecs run-task --cluster {cluster} --task-definition iris-pipeline --launch-type EC2", tmp_path)
    assert run["failures"] == [], run["failures"]
    second = run["tasks"][0]["taskArn"]
    assert run["tasks"][0]["taskDefinitionArn"].endswith("iris-pipeline:2")
    task = task_status(ecs, cluster, second, "STOPPED")
    assert task["containers"][0]["exitCode"] == 0, task
    lines = read_logs(w, tmp_path, region, "/ecs/iris-pipeline", f"ecs/iris-pipeline/{second.rsplit('/', 1)[1]}", 2)
    assert lines[0] == "bucket: mlds-iris-bucket" and role["Arn"] in lines[1], lines

    # Iris inference: bridge, host port = container port (a free port for 80), the
    # service iris-app with launch type EC2, answering on the instance's address.
    port = free_port()
    (tmp_path / "iris-inference.json").write_text(json.dumps(
        inference_definition(f"{uris['iris-inference']}:latest", port, "mlds-iris-bucket")))
    w.sh("aws ecs register-task-definition --cli-input-json file://iris-inference.json", tmp_path)
    w.sh(f"aws ecs create-service --cluster {cluster} --service-name iris-app --task-definition iris-inference "
         f"--desired-count 1 --launch-type EC2", tmp_path)
    wait_steady(ecs, cluster, "iris-app", 1, timeout=90)
    docs = eventually(lambda: _try_text(f"http://127.0.0.1:{port}/docs"), timeout=30, what="/docs on the instance")
    assert docs.strip() == "iris-inference v1 bucket=mlds-iris-bucket", docs
    old = service_tasks(ecs, cluster, "iris-app")[0]["taskArn"]

    # Pushing a new image under the same tag, and "restarting" the service by stopping
    # its task: the replacement pulls the new image.
    push_version(w, tmp_path, uris["iris-inference"], 2)
    new_digest = digest_of(w, tmp_path, region, "iris-inference")
    w.sh(f"aws ecs stop-task --cluster {cluster} --task {old}", tmp_path)

    def replaced() -> dict | None:
        tasks = [t for t in service_tasks(ecs, cluster, "iris-app") if t["taskArn"] != old]
        return tasks[0] if tasks and steady(ecs, cluster, "iris-app", 1) else None
    new = eventually(replaced, timeout=90, what="a replacement task")
    assert new["containers"][0]["imageDigest"] == new_digest, new
    docs = eventually(lambda: _try_text(f"http://127.0.0.1:{port}/docs"), timeout=30, what="/docs from the new image")
    assert docs.strip() == "iris-inference v2 bucket=mlds-iris-bucket", docs

    # Scaling down: desired tasks 0.
    w.sh(f"aws ecs update-service --cluster {cluster} --service iris-app --desired-count 0", tmp_path)
    wait_steady(ecs, cluster, "iris-app", 0, timeout=60)
    task_status(ecs, cluster, new["taskArn"], "STOPPED", timeout=30)
    assert _try_text(f"http://127.0.0.1:{port}/docs") is None, "nothing answers once scaled down"


def push_version(w: World, cwd: Path, uri: str, version: int) -> None:
    """Pushes a new image under `uri:latest` whose IRIS_VERSION is `version` (built
    offline with docker commit), and removes it locally so the agent must pull it."""
    w.sh(f"""
      cid=$(docker create {IMAGE} true)
      docker commit --change 'ENV IRIS_VERSION={version}' "$cid" {uri}:latest
      docker rm "$cid"
      docker push {uri}:latest
      docker rmi {uri}:latest
      """, cwd)


def _try_text(url: str) -> str | None:
    try:
        return http_text(url)
    except OSError:
        return None


def seed_001_fargate_behind_a_load_balancer(w: World, tmp_path: Path, ecs: Any, cluster: str, uris: dict[str, str]) -> None:
    """The guide's "IFF Fargate" path: awsvpc, the minimum task size, and a new ALB
    `iris-inference` (listener HTTP, target group HTTP, health check path /, grace 10)."""
    (tmp_path / "iris-inference-fargate.json").write_text(json.dumps(
        inference_definition(f"{uris['iris-inference']}:latest", 80, "mlds-iris-bucket", fargate=True)))
    td = w.sh_json("aws ecs register-task-definition --cli-input-json file://iris-inference-fargate.json",
                   tmp_path)["taskDefinition"]
    lb = w.sh_json(f"aws elbv2 create-load-balancer --name iris-inference --type application "
                   f"--subnets {' '.join(SUBNETS)}", tmp_path)["LoadBalancers"][0]
    # FAST_CHECKS: 5 s health checks where the console keeps 30 s, for the test's runtime.
    tg = w.sh_json("aws elbv2 create-target-group --name iris-inference --protocol HTTP --port 80 --target-type ip "
                   "--vpc-id vpc-0123456789abcdef0 --health-check-path / " + " ".join(FAST_CHECKS),
                   tmp_path)["TargetGroups"][0]["TargetGroupArn"]
    # And a 2 s deregistration delay where the console keeps 300 s: as on AWS, a replaced
    # task drains for the whole delay before it stops.
    w.sh(f"aws elbv2 modify-target-group-attributes --target-group-arn {tg} "
         f"--attributes Key=deregistration_delay.timeout_seconds,Value=2", tmp_path)
    port = free_port()  # for the listener's port 80
    w.sh(f"aws elbv2 create-listener --load-balancer-arn {lb['LoadBalancerArn']} --protocol HTTP --port {port} "
         f"--default-actions Type=forward,TargetGroupArn={tg}", tmp_path)
    wait_listening(port)
    # Named iris-app-fargate: the EC2 path's iris-app is still in the cluster.
    w.sh(f"""
      aws ecs create-service --cluster {cluster} --service-name iris-app-fargate \\
        --task-definition {td['taskDefinitionArn']} --desired-count 1 --launch-type FARGATE \\
        --network-configuration "awsvpcConfiguration={{subnets=[{SUBNETS[0]}],securityGroups=[{SECURITY_GROUPS[0]}],assignPublicIp=ENABLED}}" \\
        --load-balancers targetGroupArn={tg},containerName=inference,containerPort=80 \\
        --health-check-grace-period-seconds 10
      """, tmp_path)
    wait_steady(ecs, cluster, "iris-app-fargate", 1, timeout=90)
    host = lb["DNSName"]

    def through_lb() -> str:
        status, body = get(host, port, "/docs")
        assert status == 200, (status, body)
        return str(body).strip()
    assert through_lb() == "iris-inference v2 bucket=mlds-iris-bucket"
    health = w.sh_json(f"aws elbv2 describe-target-health --target-group-arn {tg}", tmp_path)["TargetHealthDescriptions"]
    ip = private_ip(service_tasks(ecs, cluster, "iris-app-fargate")[0])
    assert [(h["Target"]["Id"], h["TargetHealth"]["State"]) for h in health] == [(ip, "healthy")], health

    # Pushing a new image under the same tag, the "more proper way": Update service with
    # "Force new deployment"; the new task pulls it and the load balancer serves it.
    push_version(w, tmp_path, uris["iris-inference"], 3)
    forced = w.sh_json(f"aws ecs update-service --cluster {cluster} --service iris-app-fargate "
                       f"--force-new-deployment", tmp_path)["service"]
    assert len(forced["deployments"]) == 2, forced["deployments"]
    wait_steady(ecs, cluster, "iris-app-fargate", 1, timeout=120)
    eventually(lambda: through_lb() == "iris-inference v3 bucket=mlds-iris-bucket", timeout=15,
               what="the load balancer to serve the new image only")

    # Updating task definitions: a new revision (another bucket), then "Edit service".
    (tmp_path / "iris-inference-fargate.json").write_text(json.dumps(
        inference_definition(f"{uris['iris-inference']}:latest", 80, "mlds-iris-bucket-2", fargate=True)))
    revision = w.sh_json("aws ecs register-task-definition --cli-input-json file://iris-inference-fargate.json",
                         tmp_path)["taskDefinition"]
    w.sh(f"aws ecs update-service --cluster {cluster} --service iris-app-fargate "
         f"--task-definition iris-inference:{revision['revision']}", tmp_path)

    wait_steady(ecs, cluster, "iris-app-fargate", 1, timeout=120, task_definition=revision["taskDefinitionArn"])
    eventually(lambda: through_lb() == "iris-inference v3 bucket=mlds-iris-bucket-2", timeout=15,
               what="the load balancer to serve the new revision only")

    # Scaling down to 0 empties the target group.
    w.sh(f"aws ecs update-service --cluster {cluster} --service iris-app-fargate --desired-count 0", tmp_path)
    wait_steady(ecs, cluster, "iris-app-fargate", 0, timeout=90)
    eventually(lambda: not w.client("elbv2", "us-east-1").describe_target_health(TargetGroupArn=tg)
               ["TargetHealthDescriptions"], timeout=60, what="the target group to empty")


# --------------------------------------------------------------------------- seed 002

# Substituted: a Fossa node's task API (POST /api/0.01/task on port 2345) as a busybox
# nc server; each request line and body goes to the container's stderr, so its logs.
FOSSA = r"""
cat > /handler <<'EOF'
#!/bin/sh
read -r method path proto
len=0
while read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in [Cc]ontent-[Ll]ength:*) len=${line#*: } ;; esac
done
body=$(head -c "$len")
echo "fossa task: $method $path $body" >&2
printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"accepted": true}\n'
EOF
chmod +x /handler
echo "fossa node listening on 2345"
exec nc -ll -p 2345 -e /handler
"""


def test_seed_002_fossa_workers_with_private_ips_in_eu_west_2(world: World, tmp_path: Path) -> None:
    w, region, cluster = world, "eu-west-2", "fossa"
    # What the cluster sub-project's Pulumi program creates, with the calls its AWS
    # provider makes (Pulumi itself is not run): repository, image, cluster, log group,
    # task definition and a service of workers with private IPs only.
    ecr, ecs, logs = w.client("ecr", region), w.client("ecs", region), w.client("logs", region)
    uri = ecr.create_repository(repositoryName="fossa")["repository"]["repositoryUri"]
    # The gateway's build host builds and pushes the image (Ansible); here, docker push.
    w.sh(f"""
      aws ecr get-login-password --region eu-west-2 | docker login --username AWS --password-stdin {w.registry}
      docker tag {IMAGE} {uri}:latest
      docker push {uri}:latest
      docker rmi {uri}:latest
      """, tmp_path)
    ecs.create_cluster(clusterName=cluster)
    logs.create_log_group(logGroupName="/ecs/fossa")
    td = ecs.register_task_definition(
        family="fossa-worker", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=EXECUTION_ROLE,
        containerDefinitions=[{
            "name": "fossa", "image": f"{uri}:latest", "essential": True, "command": ["sh", "-c", FOSSA],
            "portMappings": [{"containerPort": 2345, "protocol": "tcp"}], "stopTimeout": STOP_TIMEOUT,
            "logConfiguration": awslogs("/ecs/fossa", region, create=False),
        }])["taskDefinition"]
    ecs.create_service(cluster=cluster, serviceName="fossa-workers", taskDefinition=td["taskDefinitionArn"],
                       desiredCount=2, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {
                           "subnets": SUBNETS, "securityGroups": SECURITY_GROUPS, "assignPublicIp": "DISABLED"}})
    wait_steady(ecs, cluster, "fossa-workers", 2, timeout=90)

    # The gateway's page: running tasks and their private IPs, as its flask app asks.
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    listing = {t["taskArn"]: private_ip(t) for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]}
    assert len(listing) == 2 and len(set(listing.values())) == 2, listing
    assert all(a.startswith(f"arn:aws:ecs:eu-west-2:{ACCOUNT}:task/fossa/") for a in listing), listing

    # "Replace the IP address in this curl command with that of any running task."
    arn, ip = next(iter(listing.items()))
    answer = eventually(lambda: w.sh(f"""
      curl --header "Content-Type: application/json" \\
           --data '{{"model_class":"PartitionedExampleEtl"}}'  \\
           --request POST http://{ip}:2345/api/0.01/task
      """, tmp_path, check=False).stdout or None, timeout=20, what=f"the worker at {ip}:2345 to answer")
    assert json.loads(answer) == {"accepted": True}, answer
    lines = read_logs(w, tmp_path, region, "/ecs/fossa", f"ecs/fossa/{arn.rsplit('/', 1)[1]}", 2)
    assert lines == ["fossa node listening on 2345",
                     'fossa task: POST /api/0.01/task {"model_class":"PartitionedExampleEtl"}'], lines

    # Clean-up: delete all the images in the repository, then (pulumi destroy) the rest.
    w.sh("""
      aws ecr batch-delete-image --repository-name fossa --image-ids imageTag=latest
      aws ecr delete-repository --repository-name fossa
      aws ecs delete-service --cluster fossa --service fossa-workers --force
      """, tmp_path, region)
    assert ecr.describe_repositories()["repositories"] == []
    eventually(lambda: not ecs.list_tasks(cluster=cluster)["taskArns"], timeout=60, what="the workers to stop")


# --------------------------------------------------------------------------- seed 003


def test_seed_003_an_ec2_cluster_whose_instances_join_by_user_data(world: World, tmp_path: Path) -> None:
    w, region = world, "us-east-1"
    ecs = w.client("ecs", region)
    # The template's ECSCluster resource, and its role for task execution (s3, dynamodb,
    # sqs, and the "cloudwatch:*" and "logs:*" sections the guide explains; ecr:* to
    # pull). Its own name: IAM role names are case-insensitive, and Berth already has
    # the console's ecsTaskExecutionRole.
    w.sh_json("aws ecs create-cluster --cluster-name ecs-gpu-cluster", tmp_path)
    (tmp_path / "trust.json").write_text(json.dumps(ECS_TASKS_TRUST))
    (tmp_path / "policy.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Resource": "*",
        "Action": ["s3:*", "dynamodb:*", "sqs:*", "cloudwatch:*", "logs:*", "ecr:*"]}]}))
    role = w.sh_json("""
      aws iam create-role --role-name ecsGpuTaskExecutionRole --assume-role-policy-document file://trust.json
      aws iam put-role-policy --role-name ecsGpuTaskExecutionRole --policy-name ecs-task-execution \\
        --policy-document file://policy.json
      """, tmp_path)["Role"]

    # The launch configuration's UserData, as written, with the file under the test's
    # directory (and ${ECSCluster} resolved as CloudFormation would).
    etc = tmp_path / "etc"
    etc.mkdir()
    w.sh(f"""
      ECSCluster=ecs-gpu-cluster
      sudo() {{ "$@"; }}  # the instance's root; the test's user here
      sudo mkdir {etc}/ecs/
      sudo chmod 777 {etc}/ecs/
      echo ECS_CLUSTER=${{ECSCluster}} >> {etc}/ecs/ecs.config
      """, tmp_path)
    instance = w.ec2_instance("gpu-instance", etc / "ecs" / "ecs.config")
    try:
        arns = eventually(lambda: ecs.list_container_instances(cluster="ecs-gpu-cluster")["containerInstanceArns"],
                          timeout=30, what=f"the instance to join (log: {instance.root / 'agent.log'})")
        described = w.sh_json(f"aws ecs describe-container-instances --cluster ecs-gpu-cluster "
                              f"--container-instances {arns[0]}", tmp_path)["containerInstances"][0]
        assert described["status"] == "ACTIVE" and described["agentConnected"], described

        # A task logging to CloudWatch through the awslogs driver (point 4), on the instance.
        (tmp_path / "task.json").write_text(json.dumps({
            "family": "gpu-job", "networkMode": "bridge", "requiresCompatibilities": ["EC2"],
            "executionRoleArn": role["Arn"],
            "containerDefinitions": [{
                "name": "job", "image": IMAGE, "memory": 64, "essential": True,
                "command": ["sh", "-c", "echo training on $(hostname); sleep 2; echo done"],
                "logConfiguration": awslogs("/ecs/gpu-job", region),
            }],
        }))
        w.sh("aws ecs register-task-definition --cli-input-json file://task.json", tmp_path)
        run = w.sh_json("aws ecs run-task --cluster ecs-gpu-cluster --task-definition gpu-job", tmp_path)
        assert run["failures"] == [], run["failures"]
        task = run["tasks"][0]
        assert task["containerInstanceArn"] == arns[0] and task["launchType"] == "EC2", task
        stopped = task_status(ecs, "ecs-gpu-cluster", task["taskArn"], "STOPPED")
        assert stopped["containers"][0]["exitCode"] == 0, stopped
        lines = read_logs(w, tmp_path, region, "/ecs/gpu-job", f"ecs/job/{task['taskArn'].rsplit('/', 1)[1]}", 2)
        hostname = stopped["containers"][0]["runtimeId"][:12]
        assert lines == [f"training on {hostname}", "done"], lines
    finally:
        instance.stop()


# --------------------------------------------------------------------------- seed 004


def test_seed_004_bunnies_pushes_to_ecr_and_runs_on_fargate_in_ca_central_1(world: World, tmp_path: Path) -> None:
    w, region = world, "ca-central-1"  # what `aws configure` set for the guide's user
    host = w.registry  # stands for 458136422280.dkr.ecr.ca-central-1.amazonaws.com
    # As written: AWS CLI v1 (the suite's) still has get-login.
    w.sh("$(aws ecr get-login --no-include-email --region ca-central-1)", tmp_path, region)
    repo = w.sh_json("aws ecr create-repository --repository-name test | tee repo-ubuntu.json", tmp_path, region)
    assert json.loads((tmp_path / "repo-ubuntu.json").read_text()) == repo
    repo = repo["repository"]
    assert repo["repositoryArn"] == f"arn:aws:ecr:ca-central-1:{ACCOUNT}:repository/test", repo
    # Substituted: `docker build -t test .` is a tag of the test image.
    w.sh(f"""
      docker tag {IMAGE} test:latest

      # make the new local image an alias for a remote name
      docker tag test:latest {host}/test:latest

      # push the local image to its repository
      docker push {host}/test:latest
      """, tmp_path, region)
    # Corrected: "docker tag localimage:localtag <repositoryArn>:remotetag" names the
    # repository by its ARN, which is no image reference; docker refuses it. The URI is.
    wrong = w.sh(f"docker tag test:latest {repo['repositoryArn']}:remotetag", tmp_path, region, check=False)
    assert wrong.returncode != 0 and "invalid reference format" in wrong.stderr, wrong
    w.sh(f"""
      docker tag test:latest {repo['repositoryUri']}:remotetag
      docker push {repo['repositoryUri']}:remotetag
      docker rmi test:latest {host}/test:latest {repo['repositoryUri']}:remotetag
      """, tmp_path, region)
    images = w.sh_json("aws ecr describe-images --repository-name test", tmp_path, region)["imageDetails"]
    assert len(images) == 1 and sorted(images[0]["imageTags"]) == ["latest", "remotetag"], images

    # "Creating tasks": the guide's setup-tasks.sh is not shown; align-task within its
    # Fargate brackets (256 cpu, 512 memory), its container `aligner`.
    ecs = w.client("ecs", region)
    ecs.create_cluster(clusterName="reprod")
    ecs.register_task_definition(
        family="align-task", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=EXECUTION_ROLE,
        containerDefinitions=[{
            "name": "aligner", "image": f"{host}/test:latest", "essential": True,
            "command": ["sh", "-c", 'echo "job spec: $JOBSPEC"; sleep 2'],
            "logConfiguration": awslogs("/ecs/align-task", region),
        }])
    bunnies = {"config": {"subnet_id": SUBNETS[0]}}
    # The boto3 call exactly as written in the guide.
    resp = ecs.run_task(**{
        'taskDefinition': "align-task",  # name of task definition
        'cluster': "reprod",             # name of cluster
        'launchType': "FARGATE",         # how it should be launched. "EC2" or "FARGATE"
        'overrides': {
            "containerOverrides": [
                {
                    'name': 'aligner',                 # Name of container config to override (the name as listed in task definition).
                    # 'command': ["my-cmd", "my-arg"],  # You can also override the command specified in the container.
                    'environment': [
                        {
                            'name': "JOBSPEC",              # An S3 Blob containing the parameters of the JOB.
                            'value': "s3://reprod-bucket/job-123412341234/jobspec.json"
                        }
                    ],
                }
            ]
        },
        'networkConfiguration': {
            'awsvpcConfiguration': {
                'subnets': [bunnies['config']['subnet_id']],
                'assignPublicIp': 'ENABLED'
            }
        }
    })
    assert resp["failures"] == [], resp["failures"]
    arn = resp["tasks"][0]["taskArn"]
    assert arn.startswith(f"arn:aws:ecs:ca-central-1:{ACCOUNT}:task/reprod/"), arn
    # "polled for state changes"
    running = task_status(ecs, "reprod", arn, "RUNNING")
    assert running["containers"][0]["imageDigest"] == images[0]["imageDigest"], "the agent pulled the pushed image"
    stopped = task_status(ecs, "reprod", arn, "STOPPED")
    assert stopped["containers"][0]["exitCode"] == 0 and stopped["stopCode"] == "EssentialContainerExited", stopped
    lines = read_logs(w, tmp_path, region, "/ecs/align-task", f"ecs/aligner/{arn.rsplit('/', 1)[1]}", 1)
    assert lines == ["job spec: s3://reprod-bucket/job-123412341234/jobspec.json"], lines

    # Other commands: list the repositories; delete a repo and all its images.
    listed = w.sh_json("aws ecr describe-repositories", tmp_path, region)["repositories"]
    assert [r["repositoryName"] for r in listed] == ["test"], listed
    w.sh("aws ecr delete-repository --repository-name test --force", tmp_path, region)
    assert w.sh_json("aws ecr describe-repositories", tmp_path, region)["repositories"] == []
