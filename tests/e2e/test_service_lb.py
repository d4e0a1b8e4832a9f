"""The seed's inference service on a real Docker Engine: a busybox httpd that answers with
its container's hostname, in bridge mode with dynamic host ports, behind an application
load balancer (instance target group, health check path `/`), run as an ECS service by a
real `berth agent`. Requests through the listener reach both tasks; a forced new
deployment under continuous traffic fails no request and leaves only new tasks serving;
a stopped task is replaced and no longer routed to; scaling to zero deregisters every
target. The seed's Fargate path too: awsvpc tasks registered by their own addresses in an
ip target group. And a new task definition whose container exits at once trips the
circuit breaker, which rolls back."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Iterator

import pytest

from conftest import Berth, awsvpc_cli, eventually, free_port, unique
from docker_agent import IMAGE, AgentProcess, agent_node
from elb_kit import FAST_CHECKS, create_lb, forward, get, wait_listening
from workloads import WEB_ADDRESS

CLUSTER = "default"
WEB = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"
# In awsvpc mode the task answers with its own address (its interface's IPv4).


@pytest.fixture(scope="module")
def node(berth_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berth, AgentProcess]]:
    yield from agent_node(berth_factory, tmp_path_factory.mktemp("agent"), CLUSTER, ["--fargate"])


def web_task_definition(berth: Berth) -> str:
    return berth.client().register_task_definition(family=unique("iris"), networkMode="bridge", containerDefinitions=[{
        "name": "web", "image": IMAGE, "memory": 32, "essential": True, "command": ["sh", "-c", WEB],
        "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
    }])["taskDefinition"]["taskDefinitionArn"]


def load_balancer(berth: Berth, target_type: str = "instance", deregistration_delay: int = 2) -> tuple[str, int]:
    """An ALB with a target group of `target_type` (health check `/`) and an HTTP
    listener; returns the target group's ARN and the listener's port."""
    lb = create_lb(berth)
    tg = berth.aws("elbv2", "create-target-group", "--name", unique("iris"), "--protocol", "HTTP", "--port", "8080",
                   "--vpc-id", "vpc-0123456789abcdef0", "--target-type", target_type, "--health-check-path", "/",
                   *FAST_CHECKS)["TargetGroups"][0]["TargetGroupArn"]
    berth.aws("elbv2", "modify-target-group-attributes", "--target-group-arn", tg,
              "--attributes", f"Key=deregistration_delay.timeout_seconds,Value={deregistration_delay}")
    port = free_port()
    berth.aws("elbv2", "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"], "--protocol", "HTTP",
              "--port", str(port), "--default-actions", forward(tg))
    wait_listening(port)
    assert lb["DNSName"] in ("127.0.0.1", "localhost"), lb["DNSName"]
    return tg, port


def create_service(berth: Berth, name: str, td: str, tg: str, desired: int) -> None:
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", name, "--task-definition", td,
              "--desired-count", str(desired), "--launch-type", "EC2", "--health-check-grace-period-seconds", "10",
              "--load-balancers", f"targetGroupArn={tg},containerName=web,containerPort=8080")


def hostnames(berth: Berth, name: str) -> dict[str, str]:
    """Container hostname (its short id) -> task ARN, for the service's RUNNING tasks."""
    ecs = berth.client()
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
    out = {}
    for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []:
        if t["lastStatus"] == "RUNNING":
            out[t["containers"][0]["runtimeId"][:12]] = t["taskArn"]
    return out


def answers(port: int, n: int) -> list[str]:
    out = []
    for _ in range(n):
        status, body = get("127.0.0.1", port)
        assert status == 200, (status, body)
        out.append(str(body).strip())
    return out


def stable(berth: Berth, name: str, count: int) -> dict | None:
    s = berth.client().describe_services(cluster=CLUSTER, services=[name])["services"][0]
    ok = s["runningCount"] == count and len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED"
    return s if ok else None


def test_the_inference_service_behind_a_load_balancer(node: tuple[Berth, AgentProcess]) -> None:
    berth, _ = node
    tg, port = load_balancer(berth)
    name = unique("iris")
    create_service(berth, name, web_task_definition(berth), tg, 2)
    eventually(lambda: stable(berth, name, 2), timeout=120, what="two healthy tasks")
    tasks = hostnames(berth, name)
    assert len(tasks) == 2
    health = berth.aws("elbv2", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]
    assert sorted(h["TargetHealth"]["State"] for h in health) == ["healthy", "healthy"], health
    assert set(answers(port, 20)) == set(tasks), "requests reach both tasks"
    events = [e["message"] for e in berth.client().describe_services(cluster=CLUSTER, services=[name])["services"][0]["events"]]
    assert any(m.startswith(f"(service {name}) registered") and tg in m for m in events), events

    # force-new-deployment while a client sends requests continuously: none fails.
    failures: list[str] = []
    served: list[str] = []
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            try:
                status, body = get("127.0.0.1", port, timeout=5)
                if status != 200:
                    failures.append(f"{status} {body!r}")
                else:
                    served.append(str(body).strip())
            except OSError as e:
                failures.append(repr(e))
            time.sleep(0.02)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", name, "--force-new-deployment")
        eventually(lambda: stable(berth, name, 2) if set(hostnames(berth, name)).isdisjoint(tasks) else None,
                   timeout=180, what="the new deployment to replace both tasks")
        time.sleep(1)
    finally:
        done.set()
        thread.join(timeout=10)
    assert not failures, f"{len(failures)} of {len(failures) + len(served)} requests failed: {failures[:5]}"
    new_tasks = hostnames(berth, name)
    assert set(answers(port, 20)) == set(new_tasks), "afterwards only new tasks serve"

    # The seed's "restart": stop a task; it is replaced and no longer routed to.
    victim_host, victim = next(iter(new_tasks.items()))
    berth.client().stop_task(cluster=CLUSTER, task=victim, reason="restart")
    eventually(lambda: victim_host not in answers(port, 10), timeout=15, what="the stopped task to leave the rotation")
    eventually(lambda: stable(berth, name, 2) if victim not in hostnames(berth, name).values() else None,
               timeout=120, what="a replacement task")

    # Scale to zero: every task stops and every target leaves.
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", name, "--desired-count", "0")
    eventually(lambda: stable(berth, name, 0), timeout=120, what="no tasks")
    eventually(lambda: not berth.aws("elbv2", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"],
               timeout=30, what="every target to leave the target group")
    berth.aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", name)


def test_the_fargate_inference_service_behind_an_ip_target_group(node: tuple[Berth, AgentProcess]) -> None:
    berth, _ = node
    td = berth.aws("ecs", "register-task-definition", "--family", unique("iris-fargate"), "--network-mode", "awsvpc",
                   "--requires-compatibilities", "FARGATE", "--cpu", "256", "--memory", "512",
                   "--container-definitions", json.dumps([{
                       "name": "web", "image": IMAGE, "essential": True, "command": ["sh", "-c", WEB_ADDRESS],
                       "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                   }]))["taskDefinition"]["taskDefinitionArn"]
    # Long enough a drain that the test sees the targets draining.
    tg, port = load_balancer(berth, "ip", deregistration_delay=10)
    name = unique("iris-fargate")
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", name, "--task-definition", td,
              "--desired-count", "2", "--launch-type", "FARGATE", "--network-configuration", awsvpc_cli(),
              "--health-check-grace-period-seconds", "10",
              "--load-balancers", f"targetGroupArn={tg},containerName=web,containerPort=8080")
    berth.aws("ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", name, timeout=180)
    # The waiter looks at running counts only; the rollout completes once the load
    # balancer finds the tasks healthy too.
    eventually(lambda: stable(berth, name, 2), timeout=60, what="the rollout to complete with healthy targets")
    ecs = berth.client()
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"])["tasks"]
    addresses = {t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] for t in tasks}
    assert len(tasks) == 2 and len(addresses) == 2, tasks
    health = berth.aws("elbv2", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]
    assert {(h["Target"]["Id"], h["Target"]["Port"]) for h in health} == {(a, 8080) for a in addresses}, health
    assert {h["TargetHealth"]["State"] for h in health} == {"healthy"}, health
    assert set(answers(port, 20)) == addresses, "requests reach both tasks at their own addresses"

    # Scale to zero: the targets drain for the deregistration delay, then leave.
    berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", name, "--desired-count", "0")

    elbv2 = berth.client("elbv2")  # boto3: quick enough to catch the drain's seconds on a loaded machine

    def states() -> set[tuple[str, str]]:
        rows = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        return {(r["Target"]["Id"], r["TargetHealth"]["State"]) for r in rows}
    eventually(lambda: states() == {(a, "draining") for a in addresses}, timeout=10, what="both targets to drain")
    eventually(lambda: not states(), timeout=60, what="every target to leave the target group")
    eventually(lambda: stable(berth, name, 0), timeout=60, what="no tasks")
    berth.aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", name)


def test_the_circuit_breaker_rolls_back_a_task_definition_whose_container_exits(node: tuple[Berth, AgentProcess]) -> None:
    berth, _ = node
    ecs = berth.client()
    name = unique("breaker")
    good = web_task_definition(berth)
    berth.aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", name, "--task-definition", good,
              "--desired-count", "2", "--launch-type", "EC2", "--deployment-configuration",
              "deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100")
    eventually(lambda: stable(berth, name, 2), timeout=120, what="the good deployment")
    bad = ecs.register_task_definition(family=unique("exits"), networkMode="bridge", containerDefinitions=[{
        "name": "web", "image": IMAGE, "memory": 32, "essential": True, "command": ["sh", "-c", "exit 3"],
    }])["taskDefinition"]["taskDefinitionArn"]
    failing = berth.aws("ecs", "update-service", "--cluster", CLUSTER, "--service", name,
                        "--task-definition", bad)["service"]["deployments"][0]["id"]

    def rolled_back() -> dict | None:
        s = stable(berth, name, 2)
        return s if s and s["deployments"][0]["id"] != failing else None
    s = eventually(rolled_back, timeout=180, what="the circuit breaker to roll back")
    assert s["taskDefinition"] == good
    messages = [e["message"] for e in s["events"]]
    assert f"(service {name}) (deployment {failing}) deployment failed: tasks failed to start." in messages, messages
    assert any(m.startswith(f"(service {name}) rolling back to deployment ") for m in messages), messages
    stopped = ecs.list_tasks(cluster=CLUSTER, serviceName=name, desiredStatus="STOPPED")["taskArns"]
    exits = [t["containers"][0].get("exitCode") for t in ecs.describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]
             if t["taskDefinitionArn"] == bad]
    assert len(exits) >= 3 and set(exits) == {3}, exits
    berth.aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", name, "--force")
